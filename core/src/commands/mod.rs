//! Built-in commands, one file per group as Redis keeps them (`t_string.c` → `string.rs`), and
//! the command table that lists them.

pub mod client;
pub mod command;
pub mod config;
pub mod connection;
pub mod hash;
pub mod keys;
pub mod server;
pub mod string;
pub mod table;

use std::borrow::Cow;

use crate::protocol::Reply;
use crate::storage::StoreError;
use table::CommandSpec;

/// Every built-in command group; the table is built from this list.
pub static BUILTIN: &[&[CommandSpec]] = &[
    connection::COMMANDS,
    client::COMMANDS,
    command::COMMANDS,
    config::COMMANDS,
    server::COMMANDS,
    keys::COMMANDS,
    string::COMMANDS,
    hash::COMMANDS,
];

/// `ERR syntax error`.
pub fn err_syntax() -> Reply {
    Reply::error("ERR syntax error")
}

/// `ERR value is not an integer or out of range`.
pub fn err_not_integer() -> Reply {
    Reply::error("ERR value is not an integer or out of range")
}

/// Redis's arity error for a command's full name (`client|kill`).
pub fn err_arity(name: &str) -> Reply {
    Reply::Error(format!("ERR wrong number of arguments for '{name}' command").into())
}

/// `WRONGTYPE ...`.
pub fn err_wrongtype() -> Reply {
    Reply::error("WRONGTYPE Operation against a key holding the wrong kind of value")
}

/// A storage failure, reported to the client that hit it.
pub fn err_store(e: &StoreError) -> Reply {
    Reply::Error(format!("ERR {e}").into())
}

pub use crate::protocol::parse_i64;

/// Parses a 32-bit integer argument with Redis's two errors (getIntFromObjectOrReply).
pub fn parse_i32(b: &[u8]) -> Result<i32, Reply> {
    let v = parse_i64(b).ok_or_else(err_not_integer)?;
    i32::try_from(v).map_err(|_| {
        Reply::error("ERR value is out of range, value must between -2147483648 and 2147483647")
    })
}

/// A float as Redis prints the results of INCRBYFLOAT and HINCRBYFLOAT (`ld2string` with
/// `LD_STR_HUMAN`): positional notation, never an exponent, at most 17 digits after the point,
/// no trailing zeros, `0` for negative zero.
///
/// Redis computes in `long double` and prints 17 decimals, which hides the binary rounding of
/// decimal inputs (`0.1 + 0.2` is `0.3`). With `f64` the same effect comes from preferring
/// the 15 significant digits (`DBL_DIG`) that every double round-trips through, when they lie
/// within one unit in the last place of the result; otherwise the shortest digits that read
/// back as the exact value are used.
pub fn format_human_float(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.into();
    }
    if v == 0.0 {
        return "0".into();
    }
    let ulp = f64::from_bits(v.abs().to_bits() + 1) - v.abs();
    let fifteen = format!("{v:.14e}");
    let sci = match fifteen.parse::<f64>() {
        Ok(r) if (r - v).abs() <= ulp => fifteen,
        _ => format!("{v:e}"),
    };
    let Some((mantissa, exp)) = sci.split_once('e') else {
        return sci;
    };
    let exp: i64 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    // The value is 0.<digits> times 10^point.
    let point = exp + 1;
    let mut out = String::with_capacity(digits.len() + 24);
    if v < 0.0 {
        out.push('-');
    }
    let fraction_digits = if point <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', point.unsigned_abs() as usize));
        out.push_str(digits);
        digits.len() as i64 - point
    } else if point as usize >= digits.len() {
        out.push_str(digits);
        out.extend(std::iter::repeat_n('0', point as usize - digits.len()));
        0
    } else {
        out.push_str(&digits[..point as usize]);
        out.push('.');
        out.push_str(&digits[point as usize..]);
        digits.len() as i64 - point
    };
    if fraction_digits > 17 {
        // Beyond Redis's 17 decimals: round there, as `%.17Lf` does.
        let fixed = format!("{v:.17}");
        let trimmed = fixed.trim_end_matches('0').trim_end_matches('.');
        return match trimmed {
            "-0" | "" => "0".into(),
            t => t.into(),
        };
    }
    out
}

/// Text of an argument for messages (lossy UTF-8).
pub fn lossy(b: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(b)
}

/// Case-insensitive comparison of an argument with an ASCII keyword.
pub fn eq_ci(arg: &[u8], keyword: &str) -> bool {
    arg.eq_ignore_ascii_case(keyword.as_bytes())
}

/// A `HELP` reply: the lines as status replies, like Redis's addReplyHelp.
pub fn help_reply(command: &str, lines: &[&str]) -> Reply {
    let mut out = Vec::with_capacity(lines.len() + 3);
    out.push(Reply::Simple(
        format!("{command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:").into(),
    ));
    out.extend(
        lines
            .iter()
            .map(|l| Reply::Simple(Cow::Owned(l.to_string()))),
    );
    out.push(Reply::Simple("HELP".into()));
    out.push(Reply::Simple("    Print this help.".into()));
    Reply::Array(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_floats_match_redis() {
        // Expected texts are redis-server 7.0.15's for HINCRBYFLOAT.
        let cases: &[(f64, &str)] = &[
            (10.5 + 0.1, "10.6"),
            (10.6 - 5.0, "5.6"),
            (5000.0 + 200.0, "5200"),
            (0.1 + 0.2, "0.3"),
            (0.7 + 0.1, "0.8"),
            (1e-20, "0"),
            (-1e-20, "0"),
            (1e20, "100000000000000000000"),
            (3.0e-5, "0.00003"),
            (100001.0, "100001"),
            (-2.5, "-2.5"),
            (1.0 / 3.0, "0.3333333333333333"),
            (0.1234567890123456, "0.1234567890123456"),
            // Redis's long double shows 123456789.12299999999959255 here; f64 cannot.
            (123456789.123, "123456789.123"),
            (1.5e-17, "0.00000000000000002"),
        ];
        for &(v, expected) in cases {
            assert_eq!(format_human_float(v), expected, "{v:e}");
        }
    }

    #[test]
    fn builtin_table_has_no_clashes() {
        let mut names = std::collections::HashSet::new();
        for spec in BUILTIN.iter().flat_map(|g| g.iter()) {
            assert!(names.insert(spec.name), "duplicate command {}", spec.name);
        }
        let table = table::CommandTable::builtin();
        assert_eq!(table.len(), names.len());
    }
}
