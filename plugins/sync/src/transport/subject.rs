//! Key to NATS subject: `<subject_prefix><db>.<key>`.
//!
//! A key made only of ASCII letters, digits and `_ - : = @ / + , .`, whose `.`-separated parts
//! are all non-empty, keeps its name (`user:1` in database 0 is `respite.sync.0.user:1`, and
//! `a.b` becomes two subject tokens, as NATS users expect). Any other key (spaces, `*`, `>`,
//! non-ASCII or binary bytes, a leading, trailing or doubled `.`, or a leading `~`) is written
//! as `~` followed by the lowercase hex of its bytes, one token: `a b` is `...0.~612062`. The
//! mapping is one-to-one, since an unescaped key never starts with `~`.

/// The subject of `key` in database `db`.
pub fn subject(prefix: &str, db: u32, key: &[u8]) -> String {
    let mut s = String::with_capacity(prefix.len() + 4 + key.len() * 2);
    s.push_str(prefix);
    s.push_str(&db.to_string());
    s.push('.');
    if is_plain(key) {
        // is_plain admits ASCII only.
        s.push_str(std::str::from_utf8(key).unwrap_or_default());
    } else {
        s.push('~');
        for b in key {
            s.push_str(&format!("{b:02x}"));
        }
    }
    s
}

fn is_plain(key: &[u8]) -> bool {
    let safe = |b: u8| b.is_ascii_alphanumeric() || b"_-:=@/+,".contains(&b);
    !key.is_empty()
        && key
            .split(|&b| b == b'.')
            .all(|t| !t.is_empty() && t.iter().all(|&b| safe(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_keys_keep_their_names() {
        assert_eq!(subject("p.", 0, b"user:1"), "p.0.user:1");
        assert_eq!(subject("p.", 3, b"a.b"), "p.3.a.b");
        assert_eq!(subject("p.", 0, b"x_y-z=@/+,9"), "p.0.x_y-z=@/+,9");
    }

    #[test]
    fn other_keys_are_hex_escaped() {
        assert_eq!(subject("p.", 0, b"a b"), "p.0.~612062");
        assert_eq!(subject("p.", 0, b"a*"), "p.0.~612a");
        assert_eq!(subject("p.", 0, b">"), "p.0.~3e");
        assert_eq!(subject("p.", 0, b".a"), "p.0.~2e61");
        assert_eq!(subject("p.", 0, b"a..b"), "p.0.~612e2e62");
        assert_eq!(subject("p.", 0, b"a."), "p.0.~612e");
        assert_eq!(subject("p.", 0, b"~61"), "p.0.~7e3631");
        assert_eq!(subject("p.", 0, b""), "p.0.~");
        assert_eq!(subject("p.", 0, "é".as_bytes()), "p.0.~c3a9");
    }
}
