//! Incremental request parser: RESP multibulk frames and inline commands, with Redis 7's
//! limits and error texts (networking.c `processMultibulkBuffer` / `processInlineBuffer`).

use bytes::{Buf, Bytes, BytesMut};

/// Longest inline request, and longest multibulk/bulk count line, accepted while waiting for
/// its line terminator (Redis `PROTO_INLINE_MAX_SIZE`).
pub const INLINE_MAX_SIZE: usize = 64 * 1024;

/// Bulks at least this long get buffer room reserved ahead of time (Redis `PROTO_MBULK_BIG_ARG`).
const BIG_BULK: usize = 32 * 1024;

/// Most extra buffer room reserved in one step for a big bulk. The length header is client
/// controlled, so reserving all of it up front would let a 20-byte header claim 512 MiB.
const BIG_BULK_RESERVE_STEP: usize = 1024 * 1024;

/// Most argument slots preallocated from a multibulk header; more grow as arguments arrive,
/// so a header alone cannot make the server allocate for millions of arguments.
const MAX_PREALLOC_ARGS: usize = 1024;

/// Bulk length above which an unauthenticated client is refused (as Redis does).
const UNAUTH_MAX_BULK: u64 = 16 * 1024;

/// Argument count above which an unauthenticated client is refused (as Redis does).
const UNAUTH_MAX_ARGS: i64 = 10;

/// Per-connection limits applied while parsing.
#[derive(Clone, Copy, Debug)]
pub struct ParseLimits {
    /// Largest bulk argument accepted (`proto-max-bulk-len`).
    pub max_bulk_len: u64,
    /// Whether the client has authenticated (or needs no authentication); unauthenticated
    /// clients get much tighter limits so they cannot make the server buffer much.
    pub authenticated: bool,
}

/// A request that breaks the protocol. The connection is expected to reply with
/// `-ERR <Display text>` and then close, as Redis does.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// A multibulk count line longer than [`INLINE_MAX_SIZE`] without its terminator.
    #[error("Protocol error: too big mbulk count string")]
    MultibulkCountTooBig,
    /// A multibulk count that is not an integer or exceeds `i32::MAX`.
    #[error("Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    /// More than 10 arguments before authentication.
    #[error("Protocol error: unauthenticated multibulk length")]
    UnauthenticatedMultibulkLength,
    /// A multibulk element that is not a bulk string; holds its first byte.
    #[error("Protocol error: expected '$', got '{0}'")]
    ExpectedBulk(char),
    /// A bulk length line longer than [`INLINE_MAX_SIZE`] without its terminator.
    #[error("Protocol error: too big bulk count string")]
    BulkCountTooBig,
    /// A bulk length that is not an integer, is negative, or exceeds `proto-max-bulk-len`.
    #[error("Protocol error: invalid bulk length")]
    InvalidBulkLength,
    /// A bulk longer than 16 KiB before authentication.
    #[error("Protocol error: unauthenticated bulk length")]
    UnauthenticatedBulkLength,
    /// An inline request longer than [`INLINE_MAX_SIZE`] without a newline.
    #[error("Protocol error: too big inline request")]
    InlineTooBig,
    /// An inline request whose quoting does not parse.
    #[error("Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
}

/// Incremental request parser for one connection.
///
/// The multibulk in progress lives here rather than in the read buffer, so each byte is
/// examined once however many reads a large request takes.
#[derive(Default, Debug)]
pub struct Parser {
    /// Arguments the current multibulk still expects; 0 between frames.
    pending: usize,
    /// Length of the bulk whose header has been consumed but whose data has not fully arrived.
    bulk_len: Option<usize>,
    /// Arguments of the current multibulk received so far.
    args: Vec<Bytes>,
}

impl Parser {
    /// Creates a parser positioned at the start of a frame.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses the next complete command from the front of `buf`, consuming its bytes.
    ///
    /// `Ok(None)` means more data is needed; whatever was consumed so far is kept in the
    /// parser. Empty inline lines and `*0`/`*-1` multibulks are skipped, as Redis does.
    /// Multibulk arguments are zero-copy slices of `buf`.
    pub fn next_command(
        &mut self,
        buf: &mut BytesMut,
        limits: &ParseLimits,
    ) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        let result = self.parse(buf, limits);
        if result.is_err() {
            // The connection is closed after a protocol error; drop partial state anyway so
            // the parser never resumes in the middle of a frame it rejected.
            *self = Self::default();
        }
        result
    }

    fn parse(
        &mut self,
        buf: &mut BytesMut,
        limits: &ParseLimits,
    ) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        while self.pending == 0 {
            let Some(&first) = buf.first() else {
                return Ok(None);
            };
            if first == b'*' {
                let Some(count) = read_multibulk_count(buf, limits)? else {
                    return Ok(None);
                };
                // Non-positive counts are empty requests; Redis ignores them.
                if count > 0 {
                    self.pending = count;
                    self.args = Vec::with_capacity(count.min(MAX_PREALLOC_ARGS));
                }
            } else {
                let Some(args) = read_inline(buf)? else {
                    return Ok(None);
                };
                if !args.is_empty() {
                    return Ok(Some(args));
                }
            }
        }

        while self.pending > 0 {
            let len = match self.bulk_len {
                Some(len) => len,
                None => {
                    let Some(len) = read_bulk_len(buf, limits)? else {
                        return Ok(None);
                    };
                    self.bulk_len = Some(len);
                    len
                }
            };
            // Data plus its CRLF; saturating so a limit near usize::MAX cannot wrap.
            let frame_len = len.saturating_add(2);
            if buf.len() < frame_len {
                if len >= BIG_BULK {
                    // Let the next read land the rest of a big bulk in one go instead of
                    // growing the buffer a little at a time.
                    buf.reserve((frame_len - buf.len()).min(BIG_BULK_RESERVE_STEP));
                }
                return Ok(None);
            }
            self.args.push(buf.split_to(len).freeze());
            // Redis skips the two terminator bytes without checking them; so do we.
            buf.advance(2);
            self.bulk_len = None;
            self.pending -= 1;
        }
        Ok(Some(std::mem::take(&mut self.args)))
    }
}

/// Finds a `\r`-terminated line at the front of `buf`, Redis style: the line ends at the
/// first `\r`, and the byte after it (assumed `\n`) must have arrived too. Returns the index
/// of the `\r`, `Ok(None)` if incomplete, or `too_big` if no `\r` arrived within the limit.
fn find_crlf_line(buf: &[u8], too_big: ProtocolError) -> Result<Option<usize>, ProtocolError> {
    match memchr::memchr(b'\r', buf) {
        Some(cr) if cr + 2 <= buf.len() => Ok(Some(cr)),
        Some(_) => Ok(None),
        None if buf.len() > INLINE_MAX_SIZE => Err(too_big),
        None => Ok(None),
    }
}

/// Consumes a `*<count>\r\n` line; returns the count, 0 for any non-positive count.
fn read_multibulk_count(
    buf: &mut BytesMut,
    limits: &ParseLimits,
) -> Result<Option<usize>, ProtocolError> {
    let Some(cr) = find_crlf_line(buf, ProtocolError::MultibulkCountTooBig)? else {
        return Ok(None);
    };
    let count = match parse_i64(&buf[1..cr]) {
        Some(n) if n <= i64::from(i32::MAX) => n,
        _ => return Err(ProtocolError::InvalidMultibulkLength),
    };
    if count > UNAUTH_MAX_ARGS && !limits.authenticated {
        return Err(ProtocolError::UnauthenticatedMultibulkLength);
    }
    buf.advance(cr + 2);
    // `count` is at most i32::MAX here, so it fits usize on every supported target.
    Ok(Some(usize::try_from(count).unwrap_or(0)))
}

/// Consumes a `$<len>\r\n` line and returns the bulk length.
fn read_bulk_len(buf: &mut BytesMut, limits: &ParseLimits) -> Result<Option<usize>, ProtocolError> {
    let Some(cr) = find_crlf_line(buf, ProtocolError::BulkCountTooBig)? else {
        return Ok(None);
    };
    // Redis looks at the type byte only once the whole line is in.
    if buf[0] != b'$' {
        return Err(ProtocolError::ExpectedBulk(char::from(buf[0])));
    }
    let len = parse_i64(&buf[1..cr])
        .and_then(|n| u64::try_from(n).ok())
        .filter(|&n| n <= limits.max_bulk_len)
        .ok_or(ProtocolError::InvalidBulkLength)?;
    if len > UNAUTH_MAX_BULK && !limits.authenticated {
        return Err(ProtocolError::UnauthenticatedBulkLength);
    }
    let len = usize::try_from(len).map_err(|_| ProtocolError::InvalidBulkLength)?;
    buf.advance(cr + 2);
    Ok(Some(len))
}

/// Parses an integer the way Redis `string2ll` does: optional `-`, then digits with no
/// leading zero (except "0" itself), nothing else, no overflow.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut magnitude: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        magnitude = magnitude
            .checked_mul(10)?
            .checked_add(u64::from(d - b'0'))?;
    }
    if negative {
        // i64::MIN's magnitude is one more than i64::MAX.
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Consumes one inline line (ending at `\n`, with an optional `\r` before it) and splits it
/// into arguments. An empty vector means a blank line.
fn read_inline(buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    let Some(nl) = memchr::memchr(b'\n', buf) else {
        if buf.len() > INLINE_MAX_SIZE {
            return Err(ProtocolError::InlineTooBig);
        }
        return Ok(None);
    };
    let mut line = buf.split_to(nl + 1).freeze();
    let mut end = nl;
    if end > 0 && line[end - 1] == b'\r' {
        end -= 1;
    }
    line.truncate(end);
    split_args(&line).map(Some)
}

/// C `isspace` in the "C" locale, which `sdssplitargs` uses to skip blanks between arguments.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// Splits an inline request like Redis `sdssplitargs`. Unquoted arguments are zero-copy
/// slices of `line`; quoted ones are unescaped into fresh buffers.
///
/// Redis stops at a NUL byte because it works on C strings; here NUL is ordinary data, since
/// Redis itself never gets to split a line holding one (its newline search stops at NUL).
fn split_args(line: &Bytes) -> Result<Vec<Bytes>, ProtocolError> {
    let s = &line[..];
    let mut args = Vec::new();
    let mut p = 0;
    loop {
        while p < s.len() && is_c_space(s[p]) {
            p += 1;
        }
        if p == s.len() {
            return Ok(args);
        }
        let start = p;
        // Note: unquoted arguments end only at these four blanks, not at \v or \f.
        while p < s.len() && !matches!(s[p], b' ' | b'\n' | b'\r' | b'\t' | b'"' | b'\'') {
            p += 1;
        }
        if p < s.len() && matches!(s[p], b'"' | b'\'') {
            let mut arg = s[start..p].to_vec();
            p = split_quoted(s, p, &mut arg)?;
            args.push(Bytes::from(arg));
        } else {
            args.push(line.slice(start..p));
        }
    }
}

/// Continues an argument at `p` (a quote) with `sdssplitargs` quoting rules; returns the
/// position after the argument.
fn split_quoted(s: &[u8], mut p: usize, arg: &mut Vec<u8>) -> Result<usize, ProtocolError> {
    let mut in_double = false;
    let mut in_single = false;
    // A closing quote must end the argument: followed by a blank or the end of the line.
    let closes_cleanly = |after: usize| match s.get(after) {
        Some(&b) => is_c_space(b),
        None => true,
    };
    loop {
        let c = s.get(p).copied();
        if in_double {
            match c {
                None => return Err(ProtocolError::UnbalancedQuotes),
                Some(b'\\') => {
                    let hex = match (
                        s.get(p + 1),
                        s.get(p + 2).and_then(|&h| hex_value(h)),
                        s.get(p + 3).and_then(|&h| hex_value(h)),
                    ) {
                        (Some(b'x'), Some(hi), Some(lo)) => Some(hi << 4 | lo),
                        _ => None,
                    };
                    if let Some(byte) = hex {
                        arg.push(byte);
                        p += 4;
                    } else if let Some(&e) = s.get(p + 1) {
                        arg.push(match e {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => b'\x08',
                            b'a' => b'\x07',
                            other => other,
                        });
                        p += 2;
                    } else {
                        // A trailing backslash is literal; the missing quote errors next turn.
                        arg.push(b'\\');
                        p += 1;
                    }
                }
                Some(b'"') => {
                    if !closes_cleanly(p + 1) {
                        return Err(ProtocolError::UnbalancedQuotes);
                    }
                    return Ok(p + 1);
                }
                Some(other) => {
                    arg.push(other);
                    p += 1;
                }
            }
        } else if in_single {
            match c {
                None => return Err(ProtocolError::UnbalancedQuotes),
                Some(b'\\') if s.get(p + 1) == Some(&b'\'') => {
                    arg.push(b'\'');
                    p += 2;
                }
                Some(b'\'') => {
                    if !closes_cleanly(p + 1) {
                        return Err(ProtocolError::UnbalancedQuotes);
                    }
                    return Ok(p + 1);
                }
                Some(other) => {
                    arg.push(other);
                    p += 1;
                }
            }
        } else {
            match c {
                None | Some(b' ' | b'\n' | b'\r' | b'\t') => return Ok(p),
                Some(b'"') => {
                    in_double = true;
                    p += 1;
                }
                Some(b'\'') => {
                    in_single = true;
                    p += 1;
                }
                Some(other) => {
                    arg.push(other);
                    p += 1;
                }
            }
        }
    }
}

fn hex_value(h: u8) -> Option<u8> {
    match h {
        b'0'..=b'9' => Some(h - b'0'),
        b'a'..=b'f' => Some(h - b'a' + 10),
        b'A'..=b'F' => Some(h - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN: ParseLimits = ParseLimits {
        max_bulk_len: 512 * 1024 * 1024,
        authenticated: true,
    };
    const UNAUTH: ParseLimits = ParseLimits {
        max_bulk_len: 512 * 1024 * 1024,
        authenticated: false,
    };

    fn args(list: &[&[u8]]) -> Vec<Bytes> {
        list.iter().map(|a| Bytes::copy_from_slice(a)).collect()
    }

    /// Parses everything in `input` at once; returns the commands and the final error, if any.
    fn parse_all(input: &[u8], limits: &ParseLimits) -> (Vec<Vec<Bytes>>, Option<ProtocolError>) {
        let mut parser = Parser::new();
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        loop {
            match parser.next_command(&mut buf, limits) {
                Ok(Some(cmd)) => out.push(cmd),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    /// Feeds `input` one byte at a time, draining commands after each byte.
    fn parse_bytewise(
        input: &[u8],
        limits: &ParseLimits,
    ) -> (Vec<Vec<Bytes>>, Option<ProtocolError>) {
        let mut parser = Parser::new();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for &b in input {
            buf.extend_from_slice(&[b]);
            loop {
                match parser.next_command(&mut buf, limits) {
                    Ok(Some(cmd)) => out.push(cmd),
                    Ok(None) => break,
                    Err(e) => return (out, Some(e)),
                }
            }
        }
        (out, None)
    }

    /// Feeds `input` split at every offset into two reads.
    fn check_all_splits(input: &[u8], limits: &ParseLimits) {
        let whole = parse_all(input, limits);
        assert_eq!(parse_bytewise(input, limits), whole, "bytewise");
        for cut in 0..=input.len() {
            let mut parser = Parser::new();
            let mut buf = BytesMut::from(&input[..cut]);
            let mut out = Vec::new();
            let mut err = None;
            'feed: for chunk in [&input[cut..], &[][..]] {
                loop {
                    match parser.next_command(&mut buf, limits) {
                        Ok(Some(cmd)) => out.push(cmd),
                        Ok(None) => break,
                        Err(e) => {
                            err = Some(e);
                            break 'feed;
                        }
                    }
                }
                buf.extend_from_slice(chunk);
            }
            assert_eq!((out, err), whole, "split at {cut}");
        }
    }

    fn one(input: &[u8]) -> Vec<Bytes> {
        let (cmds, err) = parse_all(input, &OPEN);
        assert_eq!(err, None);
        assert_eq!(cmds.len(), 1, "{cmds:?}");
        cmds.into_iter().next().unwrap_or_default()
    }

    fn err(input: &[u8], limits: &ParseLimits) -> String {
        match parse_all(input, limits).1 {
            Some(e) => e.to_string(),
            None => panic!("no error for {input:?}"),
        }
    }

    /// A small deterministic generator, so failures reproduce from the seed alone.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// Input mixing well-formed frames with bytes that are likely to confuse a parser: protocol
    /// markers, digits, quotes, CR/LF, and arbitrary bytes.
    fn noisy_input(rng: &mut XorShift) -> Vec<u8> {
        const ALPHABET: &[u8] = b"*$+-:\r\n0123456789\"' \\xabcSETGET";
        let mut out = Vec::new();
        for _ in 0..rng.below(8) {
            match rng.below(4) {
                0 => {
                    let n = rng.below(4);
                    out.extend_from_slice(format!("*{n}\r\n").as_bytes());
                    for _ in 0..n {
                        let len = rng.below(6) as usize;
                        out.extend_from_slice(format!("${len}\r\n").as_bytes());
                        out.extend((0..len).map(|_| rng.next() as u8));
                        out.extend_from_slice(b"\r\n");
                    }
                }
                1 => out.extend_from_slice(b"SET k \"v w\"\r\n"),
                2 => out.extend(
                    (0..rng.below(12)).map(|_| ALPHABET[rng.below(ALPHABET.len() as u64) as usize]),
                ),
                _ => out.extend((0..rng.below(6)).map(|_| rng.next() as u8)),
            }
        }
        out
    }

    #[test]
    fn noisy_input_never_panics_and_chunking_does_not_matter() {
        for seed in 1..=3000u64 {
            let mut rng = XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            let input = noisy_input(&mut rng);
            for limits in [
                OPEN,
                ParseLimits {
                    max_bulk_len: 3,
                    authenticated: false,
                },
            ] {
                let whole = parse_all(&input, &limits);
                assert_eq!(
                    parse_bytewise(&input, &limits),
                    whole,
                    "seed {seed}, input {:?}",
                    String::from_utf8_lossy(&input)
                );
            }
        }
    }

    #[test]
    fn multibulk_basic_and_consumes_buffer() {
        let mut parser = Parser::new();
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPI"[..]);
        let cmd = parser.next_command(&mut buf, &OPEN).unwrap();
        assert_eq!(cmd, Some(args(&[b"GET", b"k"])));
        assert_eq!(parser.next_command(&mut buf, &OPEN).unwrap(), None);
        // The header and bulk length are consumed; only the partial data is left.
        assert_eq!(&buf[..], b"PI");
        buf.extend_from_slice(b"NG\r\n");
        assert_eq!(
            parser.next_command(&mut buf, &OPEN).unwrap(),
            Some(args(&[b"PING"]))
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn pipelined_frames() {
        let input =
            b"*1\r\n$4\r\nPING\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$0\r\n\r\necho 'x y'\n";
        let (cmds, e) = parse_all(input, &OPEN);
        assert_eq!(e, None);
        assert_eq!(
            cmds,
            vec![
                args(&[b"PING"]),
                args(&[b"PING"]),
                args(&[b"SET", b"a", b""]),
                args(&[b"echo", b"x y"]),
            ]
        );
    }

    #[test]
    fn every_split_gives_same_result() {
        let inputs: &[&[u8]] = &[
            b"*1\r\n$4\r\nPING\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$0\r\n\r\necho 'x y'\n",
            b"*2\r\n$4\r\nECHO\r\n$6\r\na\r\nb\r\n\r\n*0\r\n*-1\r\n\r\n\r\nGET \"k\\x41\"\r\n",
            b"*1\r\n$3\r\nabc\r\n*1\r\n+foo\r\n",
            b"SET a 'b\n",
            b"*2\r\n$3\r\nGET\r\n$-3\r\n",
        ];
        for input in inputs {
            check_all_splits(input, &OPEN);
        }
        check_all_splits(b"*1\r\n$4\r\nPING\r\n*11\r\n", &UNAUTH);
    }

    #[test]
    fn binary_safe_bulks() {
        assert_eq!(
            one(b"*3\r\n$3\r\nSET\r\n$4\r\n\r\n\r\n\r\n$3\r\n\x00\xff*\r\n"),
            args(&[b"SET", b"\r\n\r\n", b"\x00\xff*"])
        );
        assert_eq!(one(b"*2\r\n$0\r\n\r\n$0\r\n\r\n"), args(&[b"", b""]));
    }

    #[test]
    fn bulk_terminator_is_not_checked() {
        // Redis skips the two bytes after the data without looking at them.
        assert_eq!(one(b"*1\r\n$4\r\nPINGab"), args(&[b"PING"]));
    }

    #[test]
    fn empty_requests_are_skipped() {
        let (cmds, e) = parse_all(b"*0\r\n*-1\r\n*-7\r\n\r\n\n   \t\r\nPING\r\n", &OPEN);
        assert_eq!(e, None);
        assert_eq!(cmds, vec![args(&[b"PING"])]);
    }

    #[test]
    fn multibulk_errors() {
        let dollar = "Protocol error: expected '$', got '+'";
        assert_eq!(err(b"*1\r\n+foo\r\n", &OPEN), dollar);
        assert_eq!(
            err(b"*1\r\n\r\n\r\n", &OPEN),
            "Protocol error: expected '$', got '\r'"
        );
        for bad in [
            &b"*abc\r\n"[..],
            b"*01\r\n",
            b"*+1\r\n",
            b"* 1\r\n",
            b"*1 \r\n",
            b"*\r\n",
            b"*-\r\n",
            b"*2147483648\r\n",
            b"*99999999999999999999\r\n",
        ] {
            assert_eq!(
                err(bad, &OPEN),
                "Protocol error: invalid multibulk length",
                "{bad:?}"
            );
        }
        for bad in [
            &b"*1\r\n$-1\r\n"[..],
            b"*1\r\n$03\r\nfoo\r\n",
            b"*1\r\n$-0\r\n",
            b"*1\r\n$ 4\r\n",
            b"*1\r\n$+4\r\n",
            b"*1\r\n$\r\n",
            b"*1\r\n$4x\r\n",
        ] {
            assert_eq!(
                err(bad, &OPEN),
                "Protocol error: invalid bulk length",
                "{bad:?}"
            );
        }
        let small = ParseLimits {
            max_bulk_len: 5,
            authenticated: true,
        };
        assert_eq!(
            err(b"*1\r\n$6\r\n", &small),
            "Protocol error: invalid bulk length"
        );
        assert_eq!(parse_all(b"*1\r\n$5\r\nabcde\r\n", &small).1, None);
    }

    #[test]
    fn unauthenticated_limits() {
        assert_eq!(
            err(b"*11\r\n", &UNAUTH),
            "Protocol error: unauthenticated multibulk length"
        );
        assert_eq!(parse_all(b"*10\r\n", &UNAUTH), (vec![], None));
        assert_eq!(
            err(b"*1\r\n$16385\r\n", &UNAUTH),
            "Protocol error: unauthenticated bulk length"
        );
        assert_eq!(parse_all(b"*1\r\n$16384\r\n", &UNAUTH), (vec![], None));
        // An invalid length is reported as such even before authentication.
        assert_eq!(
            err(b"*11x\r\n", &UNAUTH),
            "Protocol error: invalid multibulk length"
        );
        assert_eq!(
            err(b"*1\r\n$-5\r\n", &UNAUTH),
            "Protocol error: invalid bulk length"
        );
        assert_eq!(parse_all(b"*11\r\n", &OPEN), (vec![], None));
    }

    #[test]
    fn too_big_count_lines() {
        let mut long = vec![b'*'];
        long.resize(INLINE_MAX_SIZE, b'1');
        // Exactly at the limit is still waiting for data.
        assert_eq!(parse_all(&long, &OPEN), (vec![], None));
        long.push(b'1');
        assert_eq!(
            err(&long, &OPEN),
            "Protocol error: too big mbulk count string"
        );

        let mut long = b"*1\r\n$".to_vec();
        long.resize(4 + INLINE_MAX_SIZE + 1, b'1');
        assert_eq!(
            err(&long, &OPEN),
            "Protocol error: too big bulk count string"
        );

        let mut long = vec![b'a'; INLINE_MAX_SIZE];
        assert_eq!(parse_all(&long, &OPEN), (vec![], None));
        long.push(b'a');
        assert_eq!(err(&long, &OPEN), "Protocol error: too big inline request");
    }

    #[test]
    fn huge_multibulk_header_allocates_little() {
        let mut parser = Parser::new();
        let mut buf = BytesMut::from(&b"*2000000\r\n$1\r\na\r\n"[..]);
        assert_eq!(parser.next_command(&mut buf, &OPEN).unwrap(), None);
        assert_eq!(parser.pending, 2_000_000 - 1);
        assert!(parser.args.capacity() <= MAX_PREALLOC_ARGS);
        assert!(buf.is_empty());
    }

    #[test]
    fn big_bulk_reserves_bounded_room() {
        let mut parser = Parser::new();
        let mut buf = BytesMut::from(&b"*1\r\n$536870912\r\n"[..]);
        assert_eq!(parser.next_command(&mut buf, &OPEN).unwrap(), None);
        assert!(buf.capacity() >= BIG_BULK_RESERVE_STEP);
        assert!(buf.capacity() < 8 * BIG_BULK_RESERVE_STEP);

        let mut parser = Parser::new();
        let mut buf = BytesMut::from(&b"*1\r\n$40000\r\n"[..]);
        assert_eq!(parser.next_command(&mut buf, &OPEN).unwrap(), None);
        assert!(buf.capacity() >= 40002);
        buf.extend_from_slice(&[b'x'; 40000]);
        buf.extend_from_slice(b"\r\n");
        let cmd = parser
            .next_command(&mut buf, &OPEN)
            .unwrap()
            .unwrap_or_default();
        assert_eq!(cmd.len(), 1);
        assert_eq!(cmd[0].len(), 40000);
    }

    #[test]
    fn arguments_are_zero_copy() {
        let mut parser = Parser::new();
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\nGET plain\r\n"[..]);
        let base = buf.as_ptr() as usize;
        let end = base + buf.len();
        let mut cmds = Vec::new();
        while let Some(cmd) = parser.next_command(&mut buf, &OPEN).unwrap() {
            cmds.push(cmd);
        }
        for arg in cmds.iter().flatten() {
            let p = arg.as_ptr() as usize;
            assert!(p >= base && p < end, "{arg:?} was copied");
        }
    }

    #[test]
    fn inline_splitting() {
        let cases: &[(&[u8], &[&[u8]])] = &[
            (b"PING\r\n", &[b"PING"]),
            (b"PING\n", &[b"PING"]),
            (b"  SET   a\t b  \r\n", &[b"SET", b"a", b"b"]),
            (b"ECHO \"\"\r\n", &[b"ECHO", b""]),
            (b"ECHO ''\r\n", &[b"ECHO", b""]),
            (
                b"ECHO \"\\x41\\x4a\\n\\r\\t\\b\\a\\\\\\\"\\q\\xZZ\"\r\n",
                &[b"ECHO", b"AJ\n\r\t\x08\x07\\\"qxZZ"],
            ),
            (b"ECHO 'it\\'s \\n'\r\n", &[b"ECHO", b"it's \\n"]),
            (b"ECHO a\"b c\"\r\n", &[b"ECHO", b"ab c"]),
            (b"ECHO a'b c'\r\n", &[b"ECHO", b"ab c"]),
            (b"ECHO \"a\"\t\"b\"\r\n", &[b"ECHO", b"a", b"b"]),
            (b"ECHO \"a\"\x0b'b'\n", &[b"ECHO", b"a", b"b"]),
            (b"ECHO a\x0bb\r\n", &[b"ECHO", b"a\x0bb"]),
            (b"ECHO a\rb\n", &[b"ECHO", b"a", b"b"]),
            (b"ECHO \"a\\\"b\"\n", &[b"ECHO", b"a\"b"]),
            (b"ECHO \xff\x00\n", &[b"ECHO", b"\xff\x00"]),
        ];
        for (input, expected) in cases {
            assert_eq!(
                one(input),
                args(expected),
                "{:?}",
                String::from_utf8_lossy(input)
            );
            check_all_splits(input, &OPEN);
        }
    }

    #[test]
    fn inline_quote_errors() {
        for bad in [
            &b"ECHO \"a\"b\r\n"[..],
            b"ECHO 'a'b\r\n",
            b"ECHO 'a\r\n",
            b"ECHO \"a\r\n",
            b"ECHO \"a\\\"\r\n",
            b"ECHO \"a\\\r\n",
            b"ECHO a\"b c\"d\r\n",
            b"ECHO a'b c'd\r\n",
        ] {
            assert_eq!(
                err(bad, &OPEN),
                "Protocol error: unbalanced quotes in request",
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn strict_integers() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-1"), Some(-1));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"00",
            b"+1",
            b" 1",
            b"1 ",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"1a",
        ] {
            assert_eq!(parse_i64(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn error_resets_state() {
        let mut parser = Parser::new();
        let mut buf = BytesMut::from(&b"*3\r\n$1\r\na\r\n!x\r\n"[..]);
        assert_eq!(
            parser.next_command(&mut buf, &OPEN),
            Err(ProtocolError::ExpectedBulk('!'))
        );
        assert_eq!(parser.pending, 0);
        assert!(parser.args.is_empty());
    }
}
