//! Reply values and their RESP2/RESP3 wire encoding.

use std::borrow::Cow;
use std::fmt::Write as _;

use bytes::Bytes;

/// The protocol version a connection speaks (chosen with `HELLO`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Protocol {
    /// RESP2, the default for new connections.
    #[default]
    Resp2,
    /// RESP3, after `HELLO 3`.
    Resp3,
}

/// A reply to a client, encoded per connection for RESP2 or RESP3.
///
/// RESP3-only types degrade to their RESP2 equivalents the way Redis does it.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// Status reply: `+OK`.
    Simple(Cow<'static, str>),
    /// Error reply with its code, e.g. `ERR syntax error` or `WRONGTYPE ...`; the encoder adds `-`.
    Error(Cow<'static, str>),
    /// Integer reply.
    Integer(i64),
    /// Binary-safe bulk string.
    Bulk(Bytes),
    /// Missing value: RESP2 `$-1`, RESP3 `_`.
    Null,
    /// Missing aggregate: RESP2 `*-1`, RESP3 `_`.
    NullArray,
    /// Array of replies.
    Array(Vec<Reply>),
    /// Map; a flat array of 2n elements in RESP2.
    Map(Vec<(Reply, Reply)>),
    /// Set; an array in RESP2.
    Set(Vec<Reply>),
    /// Double; a bulk string of [`format_double`] in RESP2.
    Double(f64),
    /// A double in Redis's human form (`%.17Lf`, trailing zeros removed: GEO coordinates,
    /// `addReplyHumanLongDouble`), as a bulk string in RESP2 and a double in RESP3; anything
    /// else that reads replies (scripts, plugins) sees it as [`Reply::Double`].
    HumanDouble(f64),
    /// Boolean; integer 1 or 0 in RESP2.
    Boolean(bool),
    /// Big number given as its decimal digits; a bulk string in RESP2.
    BigNumber(Bytes),
    /// Verbatim string with a three-byte format such as `txt`; a plain bulk string in RESP2.
    Verbatim {
        /// Format tag, e.g. `*b"txt"` or `*b"mkd"`.
        format: [u8; 3],
        /// The text itself, without the format prefix.
        text: Bytes,
    },
    /// Out-of-band push (pub/sub messages, invalidations); an array in RESP2.
    Push(Vec<Reply>),
}

impl Reply {
    /// The `+OK` status reply.
    pub fn ok() -> Reply {
        Reply::Simple(Cow::Borrowed("OK"))
    }

    /// An error reply; `msg` includes the code, e.g. `"ERR syntax error"`.
    pub fn error(msg: impl Into<Cow<'static, str>>) -> Reply {
        Reply::Error(msg.into())
    }

    /// A bulk string reply.
    pub fn bulk(b: impl Into<Bytes>) -> Reply {
        Reply::Bulk(b.into())
    }

    /// Whether this is an error reply.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// Appends the wire encoding to `out`.
    pub fn encode(&self, proto: Protocol, out: &mut Vec<u8>) {
        let resp3 = proto == Protocol::Resp3;
        match self {
            Reply::Simple(text) => put_line(out, b'+', text.as_bytes()),
            Reply::Error(text) => {
                // A text that already carries the dash (e.g. relayed verbatim from a script)
                // must not get a second one.
                let text = text.as_bytes();
                let text = text.strip_prefix(b"-").unwrap_or(text);
                put_line(out, b'-', text);
            }
            Reply::Integer(n) => {
                out.push(b':');
                out.extend_from_slice(itoa::Buffer::new().format(*n).as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Reply::Bulk(data) => put_bulk(out, data),
            Reply::Null if resp3 => out.extend_from_slice(b"_\r\n"),
            Reply::Null => out.extend_from_slice(b"$-1\r\n"),
            Reply::NullArray if resp3 => out.extend_from_slice(b"_\r\n"),
            Reply::NullArray => out.extend_from_slice(b"*-1\r\n"),
            Reply::Array(items) => put_aggregate(out, proto, b'*', items),
            Reply::Map(pairs) => {
                if resp3 {
                    put_header(out, b'%', pairs.len());
                } else {
                    put_header(out, b'*', pairs.len().saturating_mul(2));
                }
                for (key, value) in pairs {
                    key.encode(proto, out);
                    value.encode(proto, out);
                }
            }
            Reply::Set(items) => put_aggregate(out, proto, if resp3 { b'~' } else { b'*' }, items),
            Reply::Double(v) => {
                let text = DoubleText::new(*v);
                if resp3 {
                    put_line(out, b',', text.as_bytes());
                } else {
                    put_bulk(out, text.as_bytes());
                }
            }
            Reply::HumanDouble(v) => {
                let text = human_double(*v);
                if resp3 {
                    put_line(out, b',', text.as_bytes());
                } else {
                    put_bulk(out, text.as_bytes());
                }
            }
            Reply::Boolean(b) => out.extend_from_slice(match (resp3, b) {
                (true, true) => b"#t\r\n",
                (true, false) => b"#f\r\n",
                (false, true) => b":1\r\n",
                (false, false) => b":0\r\n",
            }),
            Reply::BigNumber(digits) if resp3 => put_line(out, b'(', digits),
            Reply::BigNumber(digits) => put_bulk(out, digits),
            Reply::Verbatim { format, text } if resp3 => {
                put_header(out, b'=', text.len() + format.len() + 1);
                out.extend_from_slice(format);
                out.push(b':');
                out.extend_from_slice(text);
                out.extend_from_slice(b"\r\n");
            }
            Reply::Verbatim { text, .. } => put_bulk(out, text),
            Reply::Push(items) => put_aggregate(out, proto, if resp3 { b'>' } else { b'*' }, items),
        }
    }
}

/// Writes `<prefix><n>\r\n`.
fn put_header(out: &mut Vec<u8>, prefix: u8, n: usize) {
    out.push(prefix);
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn put_bulk(out: &mut Vec<u8>, data: &[u8]) {
    put_header(out, b'$', data.len());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

fn put_aggregate(out: &mut Vec<u8>, proto: Protocol, prefix: u8, items: &[Reply]) {
    put_header(out, prefix, items.len());
    for item in items {
        item.encode(proto, out);
    }
}

/// Writes a line-framed text; CR and LF become spaces, since either would end the line early
/// and desynchronise the client (Redis does the same).
fn put_line(out: &mut Vec<u8>, prefix: u8, text: &[u8]) {
    out.push(prefix);
    if memchr::memchr2(b'\r', b'\n', text).is_none() {
        out.extend_from_slice(text);
    } else {
        out.extend(text.iter().map(|&b| match b {
            b'\r' | b'\n' => b' ',
            other => other,
        }));
    }
    out.extend_from_slice(b"\r\n");
}

/// Redis's human form of a long double (`%.17Lf`, trailing zeros and a bare point removed,
/// `-0` as `0`): how GEOPOS and WITHCOORD print coordinates.
pub fn human_double(v: f64) -> String {
    let s = format!("{v:.17}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// Redis's text for a double: `inf`, `-inf`, `nan`, otherwise C `%.17g`, which is what
/// Redis 7.0's `addReplyDouble` sends (e.g. `0.1` is `0.10000000000000001`, `1e300` is
/// `1.0000000000000001e+300`).
pub fn format_double(v: f64) -> String {
    String::from_utf8_lossy(DoubleText::new(v).as_bytes()).into_owned()
}

/// Significant digits Redis prints for a double (`%.17g`), enough to round-trip any value.
const DOUBLE_DIGITS: usize = 17;

/// A double formatted on the stack, so replies need no heap allocation for it.
struct DoubleText {
    buf: [u8; 40],
    len: usize,
}

impl DoubleText {
    fn new(v: f64) -> Self {
        let mut text = DoubleText {
            buf: [0; 40],
            len: 0,
        };
        if v.is_nan() {
            text.push_str(b"nan");
        } else if v.is_infinite() {
            text.push_str(if v > 0.0 { b"inf" } else { b"-inf" });
        } else {
            text.push_g17(v);
        }
        text
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    fn push(&mut self, b: u8) {
        // Capacity exceeds the longest %.17g output (24 bytes), so nothing is ever dropped.
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }

    fn push_str(&mut self, s: &[u8]) {
        for &b in s {
            self.push(b);
        }
    }

    /// Emulates C `%.17g` for a finite value.
    fn push_g17(&mut self, v: f64) {
        // An integer below 10^17 prints as itself: every digit of it is significant, and %g
        // keeps the exponent off below the precision. (The general path's exact formatting
        // falls back to bignum arithmetic for such values: 5% of the executor under
        // ZPOPMIN, whose scores are integers.)
        if v.fract() == 0.0 && v.abs() < 1e17 {
            if v == 0.0 && v.is_sign_negative() {
                self.push_str(b"-0");
            } else {
                self.push_str(itoa::Buffer::new().format(v as i64).as_bytes());
            }
            return;
        }
        // Rust's exponent formatting with a precision is correctly rounded (ties to even, as
        // glibc), so it yields exactly the 17 significant digits printf would choose.
        let mut sci = SciBuf {
            buf: [0; 40],
            len: 0,
        };
        // Cannot fail: the buffer holds the longest possible output ("d.{16}e-324").
        let _ = write!(sci, "{:.*e}", DOUBLE_DIGITS - 1, v.abs());
        let sci = &sci.buf[..sci.len];
        let Some(e_pos) = sci.iter().position(|&b| b == b'e') else {
            return;
        };
        let mut digits = [b'0'; DOUBLE_DIGITS];
        for (slot, &d) in digits
            .iter_mut()
            .zip(sci[..e_pos].iter().filter(|b| b.is_ascii_digit()))
        {
            *slot = d;
        }
        let exp: i32 = std::str::from_utf8(&sci[e_pos + 1..])
            .ok()
            .and_then(|e| e.parse().ok())
            .unwrap_or(0);
        // %g drops trailing zeros of the fraction, and the point with them.
        let significant = digits
            .iter()
            .rposition(|&d| d != b'0')
            .map_or(1, |last| last + 1);

        if v.is_sign_negative() {
            self.push(b'-');
        }
        if exp < -4 || exp >= DOUBLE_DIGITS as i32 {
            self.push(digits[0]);
            if significant > 1 {
                self.push(b'.');
                self.push_str(&digits[1..significant]);
            }
            self.push(b'e');
            self.push(if exp < 0 { b'-' } else { b'+' });
            let magnitude = exp.unsigned_abs();
            if magnitude < 10 {
                self.push(b'0');
            }
            self.push_str(itoa::Buffer::new().format(magnitude).as_bytes());
        } else if exp >= 0 {
            // `exp` is in 0..17 here, so the split point lies inside `digits`.
            let int_len = exp as usize + 1;
            self.push_str(&digits[..int_len]);
            if significant > int_len {
                self.push(b'.');
                self.push_str(&digits[int_len..significant]);
            }
        } else {
            self.push_str(b"0.");
            for _ in 0..(-exp - 1) {
                self.push(b'0');
            }
            self.push_str(&digits[..significant]);
        }
    }
}

/// Fixed-size `fmt::Write` target for the intermediate scientific notation.
struct SciBuf {
    buf: [u8; 40],
    len: usize,
}

impl std::fmt::Write for SciBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dest = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dest.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(reply: &Reply, proto: Protocol) -> Vec<u8> {
        let mut out = Vec::new();
        reply.encode(proto, &mut out);
        out
    }

    fn check(reply: Reply, resp2: &[u8], resp3: &[u8]) {
        assert_eq!(
            String::from_utf8_lossy(&enc(&reply, Protocol::Resp2)),
            String::from_utf8_lossy(resp2),
            "RESP2 {reply:?}"
        );
        assert_eq!(
            String::from_utf8_lossy(&enc(&reply, Protocol::Resp3)),
            String::from_utf8_lossy(resp3),
            "RESP3 {reply:?}"
        );
    }

    #[test]
    fn scalars() {
        check(Reply::ok(), b"+OK\r\n", b"+OK\r\n");
        check(
            Reply::Simple("QUEUED".into()),
            b"+QUEUED\r\n",
            b"+QUEUED\r\n",
        );
        check(
            Reply::error("ERR syntax error"),
            b"-ERR syntax error\r\n",
            b"-ERR syntax error\r\n",
        );
        check(
            Reply::error("-WRONGTYPE x"),
            b"-WRONGTYPE x\r\n",
            b"-WRONGTYPE x\r\n",
        );
        check(Reply::Integer(0), b":0\r\n", b":0\r\n");
        check(
            Reply::Integer(i64::MIN),
            b":-9223372036854775808\r\n",
            b":-9223372036854775808\r\n",
        );
        check(Reply::bulk("hello"), b"$5\r\nhello\r\n", b"$5\r\nhello\r\n");
        check(Reply::bulk(""), b"$0\r\n\r\n", b"$0\r\n\r\n");
        check(
            Reply::bulk(&b"a\r\nb\x00"[..]),
            b"$5\r\na\r\nb\x00\r\n",
            b"$5\r\na\r\nb\x00\r\n",
        );
        check(Reply::Null, b"$-1\r\n", b"_\r\n");
        check(Reply::NullArray, b"*-1\r\n", b"_\r\n");
        check(Reply::Double(1.5), b"$3\r\n1.5\r\n", b",1.5\r\n");
        check(Reply::Double(f64::INFINITY), b"$3\r\ninf\r\n", b",inf\r\n");
        check(
            Reply::Double(f64::NEG_INFINITY),
            b"$4\r\n-inf\r\n",
            b",-inf\r\n",
        );
        check(Reply::Double(f64::NAN), b"$3\r\nnan\r\n", b",nan\r\n");
        check(Reply::Boolean(true), b":1\r\n", b"#t\r\n");
        check(Reply::Boolean(false), b":0\r\n", b"#f\r\n");
        check(
            Reply::BigNumber(Bytes::from_static(
                b"3492890328409238509324850943850943825024385",
            )),
            b"$43\r\n3492890328409238509324850943850943825024385\r\n",
            b"(3492890328409238509324850943850943825024385\r\n",
        );
        check(
            Reply::Verbatim {
                format: *b"txt",
                text: Bytes::from_static(b"Some string"),
            },
            b"$11\r\nSome string\r\n",
            b"=15\r\ntxt:Some string\r\n",
        );
    }

    #[test]
    fn line_texts_never_contain_crlf() {
        check(
            Reply::error("ERR bad\r\nthing\n"),
            b"-ERR bad  thing \r\n",
            b"-ERR bad  thing \r\n",
        );
        check(Reply::Simple("a\rb".into()), b"+a b\r\n", b"+a b\r\n");
    }

    #[test]
    fn aggregates() {
        check(Reply::Array(vec![]), b"*0\r\n", b"*0\r\n");
        check(
            Reply::Array(vec![Reply::Integer(1), Reply::Null, Reply::bulk("x")]),
            b"*3\r\n:1\r\n$-1\r\n$1\r\nx\r\n",
            b"*3\r\n:1\r\n_\r\n$1\r\nx\r\n",
        );
        check(
            Reply::Map(vec![
                (Reply::bulk("a"), Reply::Integer(1)),
                (Reply::bulk("b"), Reply::Double(0.5)),
            ]),
            b"*4\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n$3\r\n0.5\r\n",
            b"%2\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n,0.5\r\n",
        );
        check(
            Reply::Set(vec![Reply::bulk("m")]),
            b"*1\r\n$1\r\nm\r\n",
            b"~1\r\n$1\r\nm\r\n",
        );
        check(
            Reply::Push(vec![
                Reply::bulk("message"),
                Reply::bulk("ch"),
                Reply::Array(vec![Reply::Boolean(true)]),
            ]),
            b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n*1\r\n:1\r\n",
            b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n*1\r\n#t\r\n",
        );
    }

    #[test]
    fn encode_appends() {
        let mut out = b"+OK\r\n".to_vec();
        Reply::Integer(7).encode(Protocol::Resp2, &mut out);
        assert_eq!(out, b"+OK\r\n:7\r\n");
    }

    #[test]
    fn helpers() {
        assert!(Reply::error("ERR x").is_error());
        assert!(!Reply::ok().is_error());
        assert_eq!(Protocol::default(), Protocol::Resp2);
    }

    #[test]
    fn doubles_match_redis_7_0() {
        // Expected texts are what redis-server 7.0.15 sends for ZSCORE (RESP2 and RESP3).
        let cases: &[(f64, &str)] = &[
            (1.0, "1"),
            (1.5, "1.5"),
            (0.1, "0.10000000000000001"),
            (0.3, "0.29999999999999999"),
            (1e300, "1.0000000000000001e+300"),
            (3.0e-5, "3.0000000000000001e-05"),
            (1e-5, "1.0000000000000001e-05"),
            (1e-4, "0.0001"),
            (1e15, "1000000000000000"),
            (1e16, "10000000000000000"),
            (1e17, "1e+17"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (2.5e-300, "2.5e-300"),
            (100.0, "100"),
            (-2.75, "-2.75"),
            (12345678.9, "12345678.9"),
            (0.0, "0"),
            (-0.0, "-0"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
            // Ties at the 17th digit round to even, as glibc printf does.
            (9007199254740991.0 / 4.0, "2251799813685247.8"),
            (9007199254740985.0 / 4.0, "2251799813685246.2"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (5e-324, "4.9406564584124654e-324"),
            (-1.2345678901234567e-5, "-1.2345678901234568e-05"),
            (0.00012345, "0.00012344999999999999"),
            // Integers, up to the seventeen digits %.17g keeps without an exponent.
            (-42.0, "-42"),
            (9007199254740993.0, "9007199254740992"),
            (99999999999999984.0, "99999999999999984"),
            (-99999999999999984.0, "-99999999999999984"),
            (100000000000000000.0, "1e+17"),
            (4503599627370495.5, "4503599627370495.5"),
        ];
        for &(v, expected) in cases {
            assert_eq!(format_double(v), expected, "{v:e}");
        }
    }
}
