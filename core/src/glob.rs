//! Redis-style glob matching (`KEYS`, `SCAN MATCH`, `PSUBSCRIBE`, `CONFIG GET`, ...).
//!
//! The syntax and its corner cases follow Redis's `stringmatchlen` (util.c): `*`, `?`,
//! `[abc]`, `[^abc]`, `[a-z]` (a reversed range such as `[z-a]` works too), `\x` escapes, an
//! unterminated `[` class that runs to the end of the pattern, and binary-safe bytes. Redis
//! recurses on every `*` and needs a nesting guard against patterns such as `a*a*a*a*b`; this
//! matcher instead remembers only the last `*` and backtracks to it, which is enough because
//! every other token consumes exactly one byte, so the cost is bounded by
//! `pattern.len() * text.len()` whatever the pattern.
//!
//! One deliberate difference: `*` matches the empty string. Redis's function does not, but
//! `KEYS *` and `SCAN` special-case the lone `*` to mean "everything", so an empty key is
//! listed there; matching it here gives callers that behaviour without a special case.

/// Whether `text` matches the glob `pattern` (Redis semantics); `nocase` folds ASCII case.
pub fn glob_match(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
    let mut p = 0;
    let mut t = 0;
    // Where to resume after the most recent `*`: the pattern index just past it, and the
    // text index the star's match currently ends at.
    let mut star: Option<(usize, usize)> = None;

    loop {
        if p < pattern.len() && pattern[p] == b'*' {
            while p < pattern.len() && pattern[p] == b'*' {
                p += 1;
            }
            if p == pattern.len() {
                return true;
            }
            star = Some((p, t));
            continue;
        }
        if t == text.len() {
            break;
        }
        if p < pattern.len() {
            if let Some(next) = match_one(pattern, p, text[t], nocase) {
                p = next;
                t += 1;
                continue;
            }
        }
        // Mismatch, or pattern used up with text left: let the last star swallow one more
        // byte. Earlier stars never need to grow, since the last one can absorb any text they
        // would have taken.
        match star {
            Some((star_p, star_t)) if star_t < text.len() => {
                star = Some((star_p, star_t + 1));
                p = star_p;
                t = star_t + 1;
            }
            _ => return false,
        }
    }

    // Text exhausted: only trailing stars may remain.
    while p < pattern.len() && pattern[p] == b'*' {
        p += 1;
    }
    p == pattern.len()
}

/// Matches the single non-`*` token at `pattern[p]` against `c`; returns the index just past
/// the token when it matches.
fn match_one(pattern: &[u8], p: usize, c: u8, nocase: bool) -> Option<usize> {
    match pattern[p] {
        b'?' => Some(p + 1),
        b'[' => match_class(pattern, p + 1, c, nocase),
        b'\\' if p + 1 < pattern.len() => eq(pattern[p + 1], c, nocase).then_some(p + 2),
        // A trailing backslash is a literal backslash, as in Redis.
        lit => eq(lit, c, nocase).then_some(p + 1),
    }
}

/// Matches a `[...]` class whose body starts at `pattern[i]`; returns the index past `]`
/// (or the pattern's end when the class is unterminated, as Redis does).
fn match_class(pattern: &[u8], mut i: usize, c: u8, nocase: bool) -> Option<usize> {
    let len = pattern.len();
    let negate = i < len && pattern[i] == b'^';
    if negate {
        i += 1;
    }
    let mut matched = false;
    let end = loop {
        if i >= len {
            break len;
        }
        let b = pattern[i];
        if b == b'\\' && len - i >= 2 {
            // Redis compares escaped class members case-sensitively even with nocase.
            i += 1;
            if pattern[i] == c {
                matched = true;
            }
        } else if b == b']' {
            break i + 1;
        } else if len - i >= 3 && pattern[i + 1] == b'-' {
            let (mut lo, mut hi) = (b, pattern[i + 2]);
            if lo > hi {
                std::mem::swap(&mut lo, &mut hi);
            }
            let mut x = c;
            if nocase {
                lo = lo.to_ascii_lowercase();
                hi = hi.to_ascii_lowercase();
                x = x.to_ascii_lowercase();
            }
            if lo <= x && x <= hi {
                matched = true;
            }
            i += 2;
        } else if eq(b, c, nocase) {
            matched = true;
        }
        i += 1;
    };
    (matched != negate).then_some(end)
}

fn eq(a: u8, b: u8, nocase: bool) -> bool {
    if nocase {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    fn m(p: &str, t: &str) -> bool {
        glob_match(p.as_bytes(), t.as_bytes(), false)
    }

    #[test]
    fn literals_and_wildcards() {
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(m("hello", "hello"));
        assert!(!m("hello", "hell"));
        assert!(!m("hell", "hello"));
        assert!(m("h?llo", "hello"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("*", "anything"));
        assert!(m("*", ""));
        assert!(m("**", ""));
        assert!(m("h*o", "hello"));
        assert!(m("h*o", "ho"));
        assert!(!m("h*o", "hola"));
        assert!(m("*llo", "hello"));
        assert!(m("he*", "he"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(!m("a*b*c", "aXXbYY"));
        assert!(m("*a*", "banana"));
        assert!(m("user:*:name", "user:42:name"));
        assert!(!m("user:*:name", "user:42:names"));
        assert!(m("a*?", "ab"));
        assert!(!m("a*?", "a"));
        assert!(!m("?", ""));
    }

    #[test]
    fn classes() {
        assert!(m("h[ae]llo", "hello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(!m("h[a-b]llo", "hcllo"));
        assert!(m("h[z-a]llo", "hmllo"), "reversed ranges work");
        assert!(m("[0-9][0-9]", "42"));
        assert!(!m("[^0-9]", "4"));
        assert!(m("[\\]]", "]"));
        assert!(m("[\\-]", "-"));
        // Redis reads `a-]` as the range `]`..`a`, so the class runs on to the pattern's end.
        assert!(m("[a-]", "^"));
        assert!(m("[a-]x", "]"));
        assert!(!m("[a-]x", "]x"));
        // Redis lets an unterminated class run to the end of the pattern.
        assert!(m("[abc", "b"));
        assert!(!m("[abc", "d"));
        assert!(!m("[", "a"));
        assert!(m("[^", "a"), "an empty negated class matches any byte");
        assert!(!m("[]", "a"));
    }

    #[test]
    fn escapes() {
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "a"));
        assert!(m("\\?x", "?x"));
        assert!(m("a\\", "a\\"), "a trailing backslash is literal");
        assert!(m("\\[a]", "[a]"));
        assert!(m("*\\*", "abc*"));
        assert!(!m("*\\*", "abc"));
    }

    #[test]
    fn nocase() {
        assert!(glob_match(b"HeLLo", b"hello", true));
        assert!(!glob_match(b"HeLLo", b"hello", false));
        assert!(glob_match(b"max*", b"MAXCLIENTS", true));
        assert!(glob_match(b"[A-C]x", b"bX", true));
        assert!(glob_match(b"[^A]", b"b", true));
        assert!(!glob_match(b"[^A]", b"a", true));
        assert!(
            glob_match(b"\\A", b"a", true),
            "escape outside a class honours nocase"
        );
        assert!(
            !glob_match(b"[\\A]", b"a", true),
            "Redis: escape inside a class is exact"
        );
    }

    #[test]
    fn binary_safe() {
        assert!(glob_match(b"a\x00*\xff", b"a\x00zz\xff", false));
        assert!(glob_match(b"[\x00-\x10]", b"\x05", false));
        assert!(!glob_match(b"a\x00b", b"a\x01b", false));
        assert!(glob_match(b"?", b"\x80", false));
    }

    #[test]
    fn pathological_patterns_stay_fast() {
        let text = vec![b'a'; 100_000];
        let pattern = b"a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b";
        // Exponential backtracking would never finish; quadratic-at-worst finishes at once.
        assert!(!glob_match(pattern, &text, false));
        let mut hit = text.clone();
        hit.push(b'b');
        assert!(glob_match(pattern, &hit, false));
        let stars = "*".repeat(10_000) + "b";
        assert!(!glob_match(stars.as_bytes(), &text, false));
    }

    /// A direct port of Redis's recursive algorithm (minus the `*`-vs-empty quirk), used to
    /// cross-check the iterative matcher on many small patterns.
    fn reference(p: &[u8], t: &[u8], nocase: bool) -> bool {
        if p.is_empty() {
            return t.is_empty();
        }
        if p[0] == b'*' {
            return (0..=t.len()).any(|k| reference(&p[1..], &t[k..], nocase));
        }
        if t.is_empty() {
            return false;
        }
        match super::match_one(p, 0, t[0], nocase) {
            Some(next) => reference(&p[next..], &t[1..], nocase),
            None => false,
        }
    }

    #[test]
    fn agrees_with_recursive_reference() {
        let alphabet = [b'a', b'b', b'*', b'?', b'[', b']', b'^', b'-', b'\\', b'A'];
        let texts: [&[u8]; 9] = [
            b"", b"a", b"b", b"ab", b"ba", b"aab", b"abab", b"A]", b"-\\",
        ];
        // Every pattern of up to four symbols over the alphabet.
        let mut patterns: Vec<Vec<u8>> = vec![vec![]];
        let mut frontier = patterns.clone();
        for _ in 0..4 {
            let mut next = Vec::new();
            for p in &frontier {
                for &c in &alphabet {
                    let mut q = p.clone();
                    q.push(c);
                    next.push(q);
                }
            }
            patterns.extend(next.iter().cloned());
            frontier = next;
        }
        for p in &patterns {
            for t in texts {
                for nocase in [false, true] {
                    assert_eq!(
                        glob_match(p, t, nocase),
                        reference(p, t, nocase),
                        "pattern {:?} text {:?} nocase {nocase}",
                        String::from_utf8_lossy(p),
                        String::from_utf8_lossy(t),
                    );
                }
            }
        }
    }
}
