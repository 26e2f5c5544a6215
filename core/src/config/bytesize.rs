//! Sizes in bytes, written as Redis writes them in redis.conf (`512mb`, `1gb`, `64k`).

use std::fmt;

use serde::de::{self, Unexpected, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A size in bytes. Reads an integer or a string with a Redis unit (case-insensitive):
/// `b`, `k` = 1000, `kb` = 1024, `m` = 10^6, `mb` = 1024^2, `g` = 10^9, `gb` = 1024^3.
/// Serializes as a plain integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

/// What a size must look like, for error messages.
pub(crate) const BYTESIZE_EXPECTED: &str =
    "a size in bytes: an integer, or a string such as \"512mb\" (units b, k, kb, m, mb, g, gb)";

const KB: u64 = 1024;
const MB: u64 = 1024 * KB;
const GB: u64 = 1024 * MB;

impl ByteSize {
    /// `n` kibibytes.
    pub const fn kb(n: u64) -> Self {
        ByteSize(n * KB)
    }

    /// `n` mebibytes.
    pub const fn mb(n: u64) -> Self {
        ByteSize(n * MB)
    }

    /// `n` gibibytes.
    pub const fn gb(n: u64) -> Self {
        ByteSize(n * GB)
    }

    /// The size in bytes.
    pub const fn bytes(self) -> u64 {
        self.0
    }

    /// Parses Redis's memory syntax exactly as `memtoull` does: digits, then an optional unit,
    /// no sign, no spaces, no fractions. `None` when malformed or beyond `u64`.
    pub fn parse(s: &[u8]) -> Option<Self> {
        let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        let unit = &s[digits..];
        let mul: u64 = match unit.to_ascii_lowercase().as_slice() {
            b"" | b"b" => 1,
            b"k" => 1000,
            b"kb" => KB,
            b"m" => 1000 * 1000,
            b"mb" => MB,
            b"g" => 1000 * 1000 * 1000,
            b"gb" => GB,
            _ => return None,
        };
        let n: u64 = std::str::from_utf8(&s[..digits]).ok()?.parse().ok()?;
        n.checked_mul(mul).map(ByteSize)
    }

    /// The most compact exact form with a binary unit (`"1gb"`, `"512mb"`), else the plain
    /// number; what CONFIG REWRITE writes so that files stay readable.
    pub fn to_human(self) -> String {
        let n = self.0;
        for (unit, size) in [("gb", GB), ("mb", MB), ("kb", KB)] {
            if n != 0 && n % size == 0 {
                return format!("{}{unit}", n / size);
            }
        }
        n.to_string()
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // TOML integers are i64; validation keeps sizes below that, but `--check-config` must
        // never fail to print, so an out-of-range size falls back to a string.
        match i64::try_from(self.0) {
            Ok(_) => serializer.serialize_u64(self.0),
            Err(_) => serializer.serialize_str(&format!("{}b", self.0)),
        }
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SizeVisitor;

        impl Visitor<'_> for SizeVisitor {
            type Value = ByteSize;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(BYTESIZE_EXPECTED)
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                ByteSize::parse(v.as_bytes())
                    .ok_or_else(|| E::invalid_value(Unexpected::Str(v), &self))
            }
        }

        deserializer.deserialize_any(SizeVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::ByteSize;

    #[test]
    fn parses_redis_units() {
        let p = |s: &str| ByteSize::parse(s.as_bytes()).map(|b| b.0);
        assert_eq!(p("0"), Some(0));
        assert_eq!(p("123"), Some(123));
        assert_eq!(p("10b"), Some(10));
        assert_eq!(p("64k"), Some(64_000));
        assert_eq!(p("64kb"), Some(65_536));
        assert_eq!(p("2m"), Some(2_000_000));
        assert_eq!(p("512mb"), Some(512 << 20));
        assert_eq!(p("512MB"), Some(512 << 20));
        assert_eq!(p("3g"), Some(3_000_000_000));
        assert_eq!(p("1Gb"), Some(1 << 30));
        for bad in [
            "",
            "mb",
            "-1",
            "1.5gb",
            " 1mb",
            "1 mb",
            "1tb",
            "+5",
            "18446744073709551616",
        ] {
            assert_eq!(p(bad), None, "{bad:?}");
        }
        assert_eq!(p("17179869184gb"), None, "overflow is refused");
    }

    #[test]
    fn serde_round_trip() {
        #[derive(serde::Deserialize, serde::Serialize)]
        struct T {
            a: ByteSize,
            b: ByteSize,
        }
        let t: T = toml::from_str("a = 1048576\nb = \"1gb\"").expect("parses");
        assert_eq!((t.a, t.b), (ByteSize::mb(1), ByteSize::gb(1)));
        let out = toml::to_string(&t).expect("serializes");
        assert_eq!(out, "a = 1048576\nb = 1073741824\n");
        assert!(toml::from_str::<T>("a = -1\nb = 1").is_err());
        assert!(toml::from_str::<T>("a = \"lots\"\nb = 1").is_err());
    }

    #[test]
    fn human_form() {
        assert_eq!(ByteSize::gb(2).to_human(), "2gb");
        assert_eq!(ByteSize::mb(512).to_human(), "512mb");
        assert_eq!(ByteSize::kb(3).to_human(), "3kb");
        assert_eq!(ByteSize(1000).to_human(), "1000");
        assert_eq!(ByteSize(0).to_human(), "0");
    }
}
