//! Redis's `long double` arithmetic, for INCRBYFLOAT (and HINCRBYFLOAT later).
//!
//! On x86-64 Redis parses both operands with `strtold`, adds them in 80-bit x87 extended
//! precision and prints the sum with `%.17Lf`, trailing zeros removed (`LD_STR_HUMAN`). Doing
//! the same in `f64` gives other answers for everyday input (`0.1 + 0.2` would be
//! `0.30000000000000004` where Redis says `0.3`), so this module emulates the x87 format in
//! software, rounding exactly as the hardware and glibc do.

use rustc_apfloat::ieee::X87DoubleExtended as F80;
use rustc_apfloat::{Float, Round, Status};

/// Redis refuses texts of `MAX_LONG_DOUBLE_CHARS` (5 KiB) bytes or more.
const MAX_CHARS: usize = 5 * 1024;

/// Digits after the point in `%.17Lf`.
const FRACTION_DIGITS: usize = 17;
const FRACTION_SCALE: u128 = 100_000_000_000_000_000;

/// A finite x87 extended-precision value.
#[derive(Clone, Copy, Debug)]
pub struct LongDouble(F80);

impl LongDouble {
    /// Zero, the value of a missing key.
    pub const ZERO: LongDouble = LongDouble(F80::ZERO);

    /// Parses a value as Redis's `string2ld` does: all of `strtold`'s syntax (decimal, hex
    /// with an optional binary exponent, `inf`/`infinity`) with no leading space, nothing
    /// left over (a NUL included), no NaN, and no overflow or underflow to zero. `None` when Redis says
    /// "not a valid float". Infinity parses (the sum is refused later, as in Redis).
    pub fn parse(text: &[u8]) -> Option<LongDouble> {
        if text.is_empty() || text.len() >= MAX_CHARS {
            return None;
        }
        let (negative, body) = match text[0] {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
            let inf = F80::INFINITY;
            return Some(LongDouble(if negative { -inf } else { inf }));
        }
        let canonical = canonical_number(body)?;
        let parsed = F80::from_str_r(&canonical, Round::NearestTiesToEven).ok()?;
        let value = parsed.value;
        // strtold's ERANGE cases Redis refuses: overflow to HUGE_VAL and underflow to zero.
        if value.is_infinite() || (value.is_zero() && parsed.status.contains(Status::UNDERFLOW)) {
            return None;
        }
        Some(LongDouble(if negative { -value } else { value }))
    }

    /// Whether the value is infinite (a parsed `inf`).
    pub fn is_infinite(self) -> bool {
        self.0.is_infinite()
    }

    /// The sum, or `None` when it is infinite or NaN (Redis: "increment would produce NaN
    /// or Infinity").
    pub fn checked_add(self, other: LongDouble) -> Option<LongDouble> {
        let sum = self.0.add_r(other.0, Round::NearestTiesToEven).value;
        (!sum.is_nan() && !sum.is_infinite()).then_some(LongDouble(sum))
    }

    /// Seconds to milliseconds as Redis 7.0 turns a blocking command's timeout into a
    /// `long long`: `(long long) ceill(self * 1000.0)` on x86-64, where a value out of range
    /// (infinity included) becomes `LLONG_MIN`, the x87 "integer indefinite".
    pub fn seconds_to_ms_ceil(self) -> i64 {
        let thousand = F80::from_u128(1000).value;
        let ms = self
            .0
            .mul_r(thousand, Round::NearestTiesToEven)
            .value
            .round_to_integral(Round::TowardPositive)
            .value;
        if ms.is_nan() || ms.is_infinite() {
            return i64::MIN;
        }
        let mut exact = false;
        let converted = ms.to_i128_r(64, Round::TowardZero, &mut exact);
        if converted.status.contains(Status::INVALID_OP) {
            return i64::MIN;
        }
        i64::try_from(converted.value).unwrap_or(i64::MIN)
    }

    /// The text Redis stores and replies: `%.17Lf` with trailing zeros (and a bare point)
    /// removed, and `-0` written as `0`. Never in exponent notation.
    pub fn to_human(self) -> String {
        let bits = self.0.to_bits();
        let negative = bits >> 79 & 1 == 1;
        let biased = (bits >> 64) as u32 & 0x7fff;
        let mantissa = bits as u64;
        // Denormals share the smallest normal exponent; the explicit integer bit is in
        // the mantissa either way.
        let exp2 = biased.max(1) as i64 - 16383 - 63;
        let mut out = String::new();
        if exp2 >= 0 {
            // An integer: no fraction digits survive the trimming.
            let digits = shifted_decimal(mantissa, exp2 as u32);
            if negative && digits != "0" {
                out.push('-');
            }
            out.push_str(&digits);
            return out;
        }
        let scaled = u128::from(mantissa) * FRACTION_SCALE; // < 2^121
        let shift = exp2.unsigned_abs();
        let rounded = if shift >= 122 {
            0 // below half a unit of the last printed digit
        } else {
            let q = scaled >> shift;
            let rem = scaled - (q << shift);
            let half = 1u128 << (shift - 1);
            // glibc's printf rounds to nearest, ties to even.
            if rem > half || (rem == half && q & 1 == 1) {
                q + 1
            } else {
                q
            }
        };
        if rounded == 0 {
            return "0".to_string();
        }
        if negative {
            out.push('-');
        }
        let int_part = rounded / FRACTION_SCALE;
        let frac_part = rounded % FRACTION_SCALE;
        out.push_str(itoa::Buffer::new().format(int_part));
        if frac_part != 0 {
            let frac = format!("{frac_part:0width$}", width = FRACTION_DIGITS);
            out.push('.');
            out.push_str(frac.trim_end_matches('0'));
        }
        out
    }
}

/// Parses a blocking command's timeout in seconds as Redis 7.0 does (BLPOP, BZPOPMIN, ...):
/// `None` for 0 (wait forever), else the deadline. A deadline too far to represent waits
/// forever too, as it does in Redis.
pub fn parse_block_timeout(
    arg: &[u8],
) -> Result<Option<std::time::Instant>, crate::protocol::Reply> {
    use crate::protocol::Reply;
    let Some(secs) = LongDouble::parse(arg) else {
        return Err(Reply::error("ERR timeout is not a float or out of range"));
    };
    let ms = secs.seconds_to_ms_ceil();
    if ms < 0 {
        return Err(Reply::error("ERR timeout is negative"));
    }
    if ms == 0 {
        return Ok(None);
    }
    Ok(std::time::Instant::now().checked_add(std::time::Duration::from_millis(ms as u64)))
}

/// Parses a double as Redis's `getDoubleFromObject` does (`strtod`: decimal, hex, `inf`,
/// `infinity`; no leading space, nothing left over, no NaN, no overflow and no underflow to
/// zero). `None` when Redis says "not a valid float" (or "not a float" for ranges).
pub fn parse_f64(text: &[u8]) -> Option<f64> {
    parse_double(text, false)
}

/// Parses a range bound as Redis's `zslParseRange` does, with a bare `strtod`: leading
/// space is skipped, an empty text is 0, overflow is infinite and underflow is zero.
pub fn parse_f64_lenient(text: &[u8]) -> Option<f64> {
    let text = text.trim_ascii_start();
    if text.is_empty() {
        return Some(0.0);
    }
    parse_double(text, true)
}

fn parse_double(text: &[u8], lenient: bool) -> Option<f64> {
    if text.is_empty() || text.len() >= MAX_CHARS {
        return None;
    }
    let (negative, body) = match text[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let value = if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
        f64::INFINITY
    } else {
        match decimal_double(body, lenient) {
            Some(decimal) => decimal?,
            None => software_double(body, lenient)?,
        }
    };
    Some(if negative { -value } else { value })
}

/// `body` (sign removed) as [`parse_double`] reads it, when it is wholly one decimal number
/// in strtod's syntax (`Some(None)`: refused); `None` for anything else (hex, infinity, not a
/// number). The standard library's parser rounds to nearest as strtod does, in a tenth of
/// the software float's time (ZADD's score was a tenth of the executor's).
fn decimal_double(body: &[u8], lenient: bool) -> Option<Option<f64>> {
    if number_syntax(body)?.0 {
        return None; // hex
    }
    let value: f64 = std::str::from_utf8(body).ok()?.parse().ok()?;
    let underflow = value == 0.0
        && body
            .iter()
            .take_while(|&&b| b | 0x20 != b'e')
            .any(|b| matches!(b, b'1'..=b'9'));
    Some((lenient || !(value.is_infinite() || underflow)).then_some(value))
}

/// `body` (sign removed) as [`parse_double`] reads it, through the software float: any of
/// strtod's syntax but infinity.
fn software_double(body: &[u8], lenient: bool) -> Option<f64> {
    use rustc_apfloat::ieee::Double;
    let canonical = canonical_number(body)?;
    let parsed = Double::from_str_r(&canonical, Round::NearestTiesToEven).ok()?;
    let value = parsed.value;
    if !lenient
        && (value.is_infinite() || (value.is_zero() && parsed.status.contains(Status::UNDERFLOW)))
    {
        return None;
    }
    Some(f64::from_bits(value.to_bits() as u64))
}

/// Checks that `body` (sign removed) is wholly one number in strtold's syntax and returns it
/// in the syntax the software float parser reads (hex gets an explicit `p0` exponent).
fn canonical_number(body: &[u8]) -> Option<String> {
    let (is_hex, has_exp) = number_syntax(body)?;
    let text = std::str::from_utf8(body).ok()?;
    Some(if is_hex && !has_exp {
        format!("{text}p0")
    } else {
        text.to_string()
    })
}

/// Whether `body` (sign removed) is wholly one number in strtold's syntax: then whether it
/// is hex, and whether it has an exponent.
fn number_syntax(body: &[u8]) -> Option<(bool, bool)> {
    let is_hex = body.len() > 1 && body[0] == b'0' && (body[1] | 0x20) == b'x';
    let (digits_of, exp_marker, rest) = if is_hex {
        (u8::is_ascii_hexdigit as fn(&u8) -> bool, b'p', &body[2..])
    } else {
        (u8::is_ascii_digit as fn(&u8) -> bool, b'e', body)
    };
    let int_len = rest.iter().take_while(|b| digits_of(b)).count();
    let mut pos = int_len;
    let mut frac_len = 0;
    if rest.get(pos) == Some(&b'.') {
        pos += 1;
        frac_len = rest[pos..].iter().take_while(|b| digits_of(b)).count();
        pos += frac_len;
    }
    if int_len + frac_len == 0 {
        return None;
    }
    let mut has_exp = false;
    if let Some(&m) = rest.get(pos) {
        if m | 0x20 != exp_marker {
            return None;
        }
        let mut p = pos + 1;
        if matches!(rest.get(p), Some(b'+' | b'-')) {
            p += 1;
        }
        let exp_digits = rest[p..].iter().take_while(|b| b.is_ascii_digit()).count();
        // A dangling exponent marker would be left unparsed by strtold: not a float.
        if exp_digits == 0 || p + exp_digits != rest.len() {
            return None;
        }
        has_exp = true;
    }
    Some((is_hex, has_exp))
}

/// Decimal digits of `mantissa * 2^shift`.
fn shifted_decimal(mantissa: u64, shift: u32) -> String {
    if shift < 64 {
        return itoa::Buffer::new()
            .format(u128::from(mantissa) << shift)
            .to_string();
    }
    // Little-endian 32-bit limbs of the shifted value, then repeated division by 10^9.
    let mut limbs = vec![0u32; (shift / 32) as usize];
    let bit = shift % 32;
    let wide = u128::from(mantissa) << bit;
    limbs.extend([wide as u32, (wide >> 32) as u32, (wide >> 64) as u32]);
    while limbs.last() == Some(&0) {
        limbs.pop();
    }
    let mut chunks = Vec::new();
    while !limbs.is_empty() {
        let mut rem = 0u64;
        for limb in limbs.iter_mut().rev() {
            let cur = (rem << 32) | u64::from(*limb);
            *limb = (cur / 1_000_000_000) as u32;
            rem = cur % 1_000_000_000;
        }
        chunks.push(rem as u32);
        while limbs.last() == Some(&0) {
            limbs.pop();
        }
    }
    let mut out = String::new();
    for (i, chunk) in chunks.iter().rev().enumerate() {
        if i == 0 {
            out.push_str(itoa::Buffer::new().format(*chunk));
        } else {
            out.push_str(&format!("{chunk:09}"));
        }
    }
    if out.is_empty() {
        out.push('0');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_parse_to_the_double_the_software_float_gives() {
        /// xorshift64: draws below `n`.
        struct Draws(u64);
        impl Draws {
            fn below(&mut self, n: u64) -> u64 {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                self.0 % n
            }
            /// Up to `most` decimal digits.
            fn digits(&mut self, most: u64) -> String {
                let n = self.below(most + 1);
                (0..n)
                    .map(|_| char::from(b'0' + self.below(10) as u8))
                    .collect()
            }
        }
        let mut draws = Draws(0x2545_f491_4f6c_dd1d);
        let mut bodies: Vec<String> = [
            "0",
            "1",
            "0.1",
            ".5",
            "5.",
            "1e5",
            "1E-5",
            "1e+5",
            "2.5e-324",
            "2.4e-324",
            "4.9e-324",
            "1e-400",
            "0e-400",
            "0.000e999",
            "1.7976931348623157e308",
            "1.7976931348623159e308",
            "1e309",
            "9007199254740993",
            "123456789012345678901234567890",
            "0.30000000000000004",
            "1e",
            "1e+",
            "e5",
            ".",
            "1..2",
            "1.2.3",
            "12a",
            " 1",
            "1 ",
            "0x10",
            "0x1p-1",
            "",
        ]
        .iter()
        .map(|t| t.to_string())
        .collect();
        for _ in 0..20_000 {
            let mut t = draws.digits(24);
            if draws.below(2) == 0 {
                t.push('.');
                t.push_str(&draws.digits(24));
            }
            if draws.below(2) == 0 {
                let exponent = draws.below(700) as i64 - 350;
                t.push_str(&format!("e{exponent}"));
            }
            bodies.push(t);
        }
        let mut decimals = 0;
        for t in &bodies {
            for lenient in [false, true] {
                let Some(fast) = decimal_double(t.as_bytes(), lenient) else {
                    continue;
                };
                decimals += 1;
                let slow = software_double(t.as_bytes(), lenient);
                assert_eq!(
                    fast.map(f64::to_bits),
                    slow.map(f64::to_bits),
                    "{t:?} (lenient: {lenient})"
                );
            }
        }
        // Most texts are decimals: the comparison is not an empty one.
        assert!(decimals > 30_000, "{decimals}");
        assert!(decimal_double(b"0x10", false).is_none());
    }

    #[test]
    fn timeouts_become_milliseconds_as_redis_7_0_computes_them() {
        let ms = |t: &str| LongDouble::parse(t.as_bytes()).map(LongDouble::seconds_to_ms_ceil);
        assert_eq!(ms("0"), Some(0));
        assert_eq!(ms("1.5"), Some(1500));
        assert_eq!(ms("0.0001"), Some(1));
        assert_eq!(ms("-0.0001"), Some(0));
        assert_eq!(ms("-1"), Some(-1000));
        assert_eq!(ms("0x10"), Some(16000));
        assert_eq!(ms("9223372036854775"), Some(9_223_372_036_854_775_000));
        assert_eq!(ms("9223372036854775807"), Some(i64::MIN));
        assert_eq!(ms("1e300"), Some(i64::MIN));
        assert_eq!(ms("inf"), Some(i64::MIN));
        assert_eq!(ms("-inf"), Some(i64::MIN));
        assert_eq!(ms("nan"), None);
        assert_eq!(ms(" 1"), None);
    }

    fn incr(value: &str, by: &str) -> Option<String> {
        let a = LongDouble::parse(value.as_bytes())?;
        let b = LongDouble::parse(by.as_bytes())?;
        a.checked_add(b).map(LongDouble::to_human)
    }

    fn human(text: &str) -> String {
        LongDouble::parse(text.as_bytes()).unwrap().to_human()
    }

    #[test]
    fn sums_match_redis_on_x86_64() {
        // Expected texts are what redis-server 7.0 (x86-64, glibc) stores for INCRBYFLOAT.
        let cases = [
            ("10.50", "0.1", "10.6"),
            ("0.1", "0.2", "0.3"),
            ("3.0e3", "200", "3200"),
            ("5.0e3", "0", "5000"),
            ("0", "1e20", "100000000000000000000"),
            ("1", "-1", "0"),
            ("-0", "0", "0"),
            ("0", "-0.5", "-0.5"),
            ("0", "1e-18", "0"),
            ("0", "-1e-18", "0"),
            ("0", "5e-18", "0"),
            ("0", "1.1e-4950", "0"),
            ("0", "0X1P3", "8"),
            ("0", "0x.8", "0.5"),
            ("0", "0x1.p1", "2"),
            ("0", "0x10", "16"),
            ("0", "0x1p-2", "0.25"),
            ("0", "1.", "1"),
            ("0", ".5", "0.5"),
            ("0", "+7", "7"),
            ("9223372036854775807", "1", "9223372036854775808"),
            ("1.2345678901234567", "0", "1.2345678901234567"),
        ];
        for (value, by, expected) in cases {
            assert_eq!(incr(value, by).as_deref(), Some(expected), "{value} + {by}");
        }
    }

    #[test]
    fn invalid_texts() {
        for text in [
            "", " 1", "1 ", "abc", "1e", "1e+", "e5", ".", "-", "nan", "NaN", "1,5", "0x", "0xg",
            "1e5000", "1e-5000", "--1", "+-1", "1.2.3", "inf1",
        ] {
            assert!(LongDouble::parse(text.as_bytes()).is_none(), "{text:?}");
        }
        let long_one = |len: usize| format!("1.{}", "0".repeat(len - 2));
        assert!(LongDouble::parse(long_one(MAX_CHARS).as_bytes()).is_none());
        assert!(LongDouble::parse(long_one(MAX_CHARS - 1).as_bytes()).is_some());
    }

    #[test]
    fn infinity_parses_but_sums_are_refused() {
        assert!(LongDouble::parse(b"inf").is_some());
        assert!(LongDouble::parse(b"-Infinity").is_some());
        assert_eq!(incr("inf", "1"), None);
        assert_eq!(incr("1e4932", "1e4932"), None);
    }

    #[test]
    fn a_nul_is_not_part_of_a_float() {
        // Redis checks that strtold consumed the whole length, NULs included.
        assert_eq!(incr("1\0abc", "1"), None);
        assert_eq!(incr("\0", "1"), None);
    }

    #[test]
    fn huge_and_tiny_values_print_without_exponent() {
        assert_eq!(human("1e30"), "1000000000000000000024696061952");
        assert_eq!(human("-2e19"), "-20000000000000000000");
        assert_eq!(human("123.456"), "123.456");
        assert_eq!(human("1e-17"), "0.00000000000000001");
        let big = human("1e4000");
        assert_eq!(big.len(), 4000);
        assert!(
            big.starts_with("99999999999999999999654638730996237849324925835"),
            "{big}"
        );
        assert_eq!(human("1e-4940"), "0");
    }
}
