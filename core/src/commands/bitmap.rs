//! Bitmap commands (Redis's bitops.c): SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD and
//! BITFIELD_RO, on string values. Bit 0 is the most significant bit of the first byte, as in
//! Redis. The pure bit logic is in [`bits`], apart from the commands' syntax.
//!
//! SETBIT, GETBIT, BITCOUNT, BITPOS and BITFIELD read and write only the bytes (and so, for a
//! long string, the chunks; see `keyspace/string.rs`) they need; BITOP reads its sources whole.

use bytes::Bytes;

use super::string::{
    read_string_as as read, with_string, with_string_mut, write_changed_string as write,
};
use super::table::{flags::*, CommandSpec};
use super::{eq_ci, err_not_integer, err_store, err_syntax, parse_i64};
use crate::engine::Ctx;
use crate::events::class;
use crate::protocol::Reply;

/// Bitmap commands.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("setbit", 4, setbit)
        .flags(WRITE | DENYOOM)
        .keys(1, 1, 1)
        .categories(&["write", "bitmap", "slow"])
        .doc(
            "bitmap",
            "Sets or clears the bit at offset in the string value stored at key",
            "2.2.0",
            "O(1)",
        ),
    CommandSpec::new("getbit", 3, getbit)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .categories(&["read", "bitmap", "fast"])
        .doc(
            "bitmap",
            "Returns the bit value at offset in the string value stored at key",
            "2.2.0",
            "O(1)",
        ),
    CommandSpec::new("bitcount", -2, bitcount)
        .flags(READONLY)
        .keys(1, 1, 1)
        .categories(&["read", "bitmap", "slow"])
        .doc("bitmap", "Count set bits in a string", "2.6.0", "O(N)"),
    CommandSpec::new("bitpos", -3, bitpos)
        .flags(READONLY)
        .keys(1, 1, 1)
        .categories(&["read", "bitmap", "slow"])
        .doc("bitmap", "Find first bit set or clear in a string", "2.8.7", "O(N)"),
    CommandSpec::new("bitop", -4, bitop)
        .flags(WRITE | DENYOOM)
        .keys(2, -1, 1)
        .categories(&["write", "bitmap", "slow"])
        .doc(
            "bitmap",
            "Perform bitwise operations between strings",
            "2.6.0",
            "O(N)",
        ),
    CommandSpec::new("bitfield", -2, bitfield)
        .flags(WRITE | DENYOOM)
        .keys(1, 1, 1)
        .categories(&["write", "bitmap", "slow"])
        .doc(
            "bitmap",
            "Perform arbitrary bitfield integer operations on strings",
            "3.2.0",
            "O(1) for each subcommand specified",
        ),
    CommandSpec::new("bitfield_ro", -2, bitfield_ro)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .categories(&["read", "bitmap", "fast"])
        .doc(
            "bitmap",
            "Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD",
            "6.0.0",
            "O(1) for each subcommand specified",
        ),
];

const ERR_OFFSET: &str = "ERR bit offset is not an integer or out of range";
const ERR_BIT: &str = "ERR bit is not an integer or out of range";
const ERR_BF_TYPE: &str = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

/// Pure bit logic on byte strings, MSB-first as Redis numbers bits.
pub mod bits {
    /// The bit at `offset` (0 past the end).
    pub fn get(v: &[u8], offset: u64) -> u8 {
        let byte = (offset >> 3) as usize;
        match v.get(byte) {
            Some(b) => (b >> (7 - (offset & 7))) & 1,
            None => 0,
        }
    }

    /// Sets the bit at `offset` (which must be within `v`); returns the old bit.
    pub fn set(v: &mut [u8], offset: u64, on: bool) -> u8 {
        let byte = (offset >> 3) as usize;
        let mask = 1u8 << (7 - (offset & 7));
        let old = u8::from(v[byte] & mask != 0);
        if on {
            v[byte] |= mask;
        } else {
            v[byte] &= !mask;
        }
        old
    }

    /// Set bits in `v`.
    pub fn popcount(v: &[u8]) -> u64 {
        let mut chunks = v.chunks_exact(8);
        let mut n: u64 = 0;
        for c in &mut chunks {
            n += u64::from_ne_bytes(c.try_into().unwrap_or([0; 8])).count_ones() as u64;
        }
        n + chunks
            .remainder()
            .iter()
            .map(|b| b.count_ones() as u64)
            .sum::<u64>()
    }

    /// Resolves a start..=end range (negative from the end) over `total` units, as BITCOUNT
    /// and BITPOS clamp them; `None` when empty.
    pub fn range(total: i64, start: i64, end: i64) -> Option<(u64, u64)> {
        let mut s = if start < 0 { total + start } else { start };
        let mut e = if end < 0 { total + end } else { end };
        s = s.max(0);
        e = e.max(0);
        if e >= total {
            e = total - 1;
        }
        if s > e {
            None
        } else {
            Some((s as u64, e as u64))
        }
    }

    /// Set bits from bit `from` to bit `to` inclusive (both within `v`).
    pub fn count_bits(v: &[u8], from: u64, to: u64) -> u64 {
        let (fb, tb) = ((from >> 3) as usize, (to >> 3) as usize);
        let mut n = popcount(&v[fb..=tb]);
        let head = (from & 7) as u32; // bits of the first byte before the range
        let tail = 7 - (to & 7) as u32; // bits of the last byte after it
        if head > 0 {
            n -= (v[fb] >> (8 - head)).count_ones() as u64;
        }
        if tail > 0 {
            n -= (v[tb] & ((1u8 << tail) - 1)).count_ones() as u64;
        }
        n
    }

    /// The first bit equal to `bit` from bit `from` to bit `to` inclusive, if any.
    pub fn find(v: &[u8], from: u64, to: u64, bit: u8) -> Option<u64> {
        let skip = if bit == 1 { 0x00 } else { 0xff };
        let mut pos = from;
        while pos <= to {
            let byte = v[(pos >> 3) as usize];
            if pos & 7 == 0 && pos + 7 <= to {
                // A whole byte: skip it (and whole words) when it cannot hold the bit.
                let i = (pos >> 3) as usize;
                if byte == skip {
                    let mut j = i + 1;
                    let last = (to >> 3) as usize; // may be partial: checked bit by bit
                    while j + 8 <= last && v[j..j + 8].iter().all(|&b| b == skip) {
                        j += 8;
                    }
                    while j < last && v[j] == skip {
                        j += 1;
                    }
                    pos = (j as u64) << 3;
                    continue;
                }
                let x = if bit == 1 { byte } else { !byte };
                return Some(pos + x.leading_zeros() as u64);
            }
            if (byte >> (7 - (pos & 7))) & 1 == bit {
                return Some(pos);
            }
            pos += 1;
        }
        None
    }

    /// Reads an unsigned field of `width` bits (1..=64) at bit `offset`, zeros past the end.
    pub fn get_field(v: &[u8], offset: u64, width: u32) -> u64 {
        let mut out: u64 = 0;
        for i in 0..width as u64 {
            out = (out << 1) | u64::from(get(v, offset + i));
        }
        out
    }

    /// Writes the low `width` bits of `value` at bit `offset` (within `v`).
    pub fn set_field(v: &mut [u8], offset: u64, width: u32, value: u64) {
        for i in 0..width as u64 {
            let bit = (value >> (width as u64 - 1 - i)) & 1;
            set(v, offset + i, bit == 1);
        }
    }

    /// Sign-extends the low `width` bits.
    pub fn sign_extend(value: u64, width: u32) -> i64 {
        if width == 64 {
            value as i64
        } else {
            let shift = 64 - width;
            ((value << shift) as i64) >> shift
        }
    }

    /// What to do when a BITFIELD write does not fit its type.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Overflow {
        /// Keep the low bits (modular arithmetic).
        Wrap,
        /// Clamp to the type's minimum or maximum.
        Sat,
        /// Write nothing; the reply is nil.
        Fail,
    }

    /// The value to store for `value + incr` in a field of `width` bits, or `None` when it
    /// overflows under FAIL. `value` is the field's value (for an unsigned SET, the argument
    /// read as a u64, as Redis casts it).
    pub fn fit(value: i128, incr: i128, signed: bool, width: u32, ow: Overflow) -> Option<i128> {
        let up = if signed {
            signed_overflow(value as i64, incr as i64, width)
        } else {
            let max = (1i128 << width) - 1;
            let sum = value + incr;
            (sum > max).then_some(true).or((sum < 0).then_some(false))
        };
        let Some(up) = up else {
            return Some(value + incr);
        };
        let low = ((value + incr) as u128 as u64)
            & if width == 64 {
                u64::MAX
            } else {
                (1u64 << width) - 1
            };
        match ow {
            Overflow::Fail => None,
            Overflow::Sat if signed => Some(if up {
                (1i128 << (width - 1)) - 1
            } else {
                -(1i128 << (width - 1))
            }),
            Overflow::Sat => Some(if up { (1i128 << width) - 1 } else { 0 }),
            Overflow::Wrap if signed => Some(sign_extend(low, width) as i128),
            Overflow::Wrap => Some(low as i128),
        }
    }

    /// Whether a signed `value + incr` overflows a field of `width` bits, upwards (`true`)
    /// or downwards, decided as Redis's checkSignedBitfieldOverflow decides it with 64-bit
    /// wrapping arithmetic: a SET of a value far below the minimum can count as an overflow
    /// upwards, and then SAT stores the maximum, as redis-server does.
    fn signed_overflow(value: i64, incr: i64, width: u32) -> Option<bool> {
        let max = if width == 64 {
            i64::MAX
        } else {
            (1i64 << (width - 1)) - 1
        };
        let min = -max - 1;
        let maxincr = max.wrapping_sub(value);
        let minincr = min.wrapping_sub(value);
        if value > max
            || (width != 64 && incr > maxincr)
            || (value >= 0 && incr > 0 && incr > maxincr)
        {
            Some(true)
        } else if value < min
            || (width != 64 && incr < minincr)
            || (value < 0 && incr < 0 && incr < minincr)
        {
            Some(false)
        } else {
            None
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn bits_are_msb_first() {
            let mut v = vec![0u8; 2];
            assert_eq!(set(&mut v, 1, true), 0);
            assert_eq!(v, [0x40, 0]);
            assert_eq!(get(&v, 1), 1);
            assert_eq!(get(&v, 100), 0);
            set(&mut v, 15, true);
            assert_eq!(v, [0x40, 0x01]);
        }

        #[test]
        fn counts_and_finds_in_bit_ranges() {
            let v = b"foobar";
            assert_eq!(popcount(v), 26);
            assert_eq!(count_bits(v, 5, 30), 17);
            assert_eq!(count_bits(v, 0, 47), 26);
            let v = [0xff, 0xf0, 0x00];
            assert_eq!(find(&v, 0, 23, 0), Some(12));
            assert_eq!(find(&v, 0, 23, 1), Some(0));
            assert_eq!(find(&v, 12, 23, 1), None);
            let long = [vec![0u8; 100], vec![1u8]].concat();
            assert_eq!(find(&long, 3, 807, 1), Some(807));
            assert_eq!(find(&long, 3, 806, 1), None);
        }

        #[test]
        fn ranges_clamp_as_redis() {
            assert_eq!(range(6, 0, -1), Some((0, 5)));
            assert_eq!(range(6, -100, 100), Some((0, 5)));
            assert_eq!(range(6, 4, 2), None);
            assert_eq!(range(0, 0, -1), None);
        }

        #[test]
        fn fields_and_overflow() {
            let mut v = vec![0u8; 9];
            set_field(&mut v, 3, 64, u64::MAX);
            assert_eq!(get_field(&v, 3, 64), u64::MAX);
            assert_eq!(sign_extend(get_field(&v, 3, 5), 5), -1);
            assert_eq!(fit(127, 1, true, 8, Overflow::Wrap), Some(-128));
            assert_eq!(fit(127, 1, true, 8, Overflow::Sat), Some(127));
            assert_eq!(fit(127, 1, true, 8, Overflow::Fail), None);
            assert_eq!(fit(0, -1, false, 8, Overflow::Wrap), Some(255));
            assert_eq!(fit(0, -1, false, 8, Overflow::Sat), Some(0));
            assert_eq!(
                fit(i64::MAX as i128, 1, true, 64, Overflow::Wrap),
                Some(i64::MIN as i128)
            );
            assert_eq!(
                fit(u64::MAX as i128, 0, false, 8, Overflow::Wrap),
                Some(255)
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Reading and writing string values.

/// Redis's getBitOffsetFromArgument: a bit offset, `#N` (times `width`) for BITFIELD,
/// within proto-max-bulk-len bytes.
fn parse_offset(ctx: &Ctx<'_>, arg: &[u8], width: Option<u32>) -> Result<u64, Reply> {
    let err = || Reply::error(ERR_OFFSET);
    let (digits, hash) = match (arg.first(), width) {
        (Some(b'#'), Some(w)) => (&arg[1..], Some(w)),
        _ => (arg, None),
    };
    let mut n = parse_i64(digits).ok_or_else(err)?;
    if let Some(w) = hash {
        n = n.checked_mul(w as i64).ok_or_else(err)?;
    }
    if n < 0 || (n as u64 >> 3) >= ctx.engine.config.server.proto_max_bulk_len.0 {
        return Err(err());
    }
    Ok(n as u64)
}

// ---------------------------------------------------------------------------------------
// SETBIT, GETBIT, BITCOUNT, BITPOS.

fn setbit(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let key = &argv[1];
    let offset = tri!(parse_offset(ctx, &argv[2], None));
    let on = match parse_i64(&argv[3]) {
        Some(0) => false,
        Some(1) => true,
        _ => return Reply::error(ERR_BIT),
    };
    let byte = offset >> 3;
    let (was, changed) = tri!(with_string_mut(ctx, key, |k, len| {
        let grown = len.is_none_or(|len| len <= byte);
        let mut was = 0;
        let changed = k
            .string_update(byte, 1, |b| {
                was = bits::set(b, offset & 7, on);
                // Nothing changes: no write and no event, as Redis 7.0.
                grown || was != u8::from(on)
            })
            .map_err(|e| err_store(&e))?;
        Ok((was, changed))
    }));
    if changed {
        ctx.notify(class::STRING, "setbit", key);
    }
    Reply::Integer(was as i64)
}

fn getbit(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let offset = tri!(parse_offset(ctx, &argv[2], None));
    let byte = offset >> 3;
    let b = tri!(with_string(ctx, &argv[1], |k, _| k.string_range(byte, byte + 1)));
    Reply::Integer(b.map_or(0, |b| bits::get(&b, offset & 7)) as i64)
}

/// BYTE or BIT, or a syntax error.
fn parse_unit(arg: &[u8]) -> Result<bool, Reply> {
    if eq_ci(arg, "bit") {
        Ok(true)
    } else if eq_ci(arg, "byte") {
        Ok(false)
    } else {
        Err(err_syntax())
    }
}

fn bitcount(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let mut bounds = None;
    let mut is_bit = false;
    match argv.len() {
        2 => {}
        4 | 5 => {
            let start = tri!(parse_i64(&argv[2]).ok_or_else(err_not_integer));
            let end = tri!(parse_i64(&argv[3]).ok_or_else(err_not_integer));
            if argv.len() == 5 {
                is_bit = tri!(parse_unit(&argv[4]));
            }
            bounds = Some((start, end));
        }
        _ => return err_syntax(),
    }
    let (start, end) = bounds.unwrap_or((0, -1));
    let n = tri!(with_string(ctx, &argv[1], |k, len| {
        let total = len as i64 * if is_bit { 8 } else { 1 };
        if start < 0 && end < 0 && start > end {
            // Redis 7.0 answers 0 before clamping (BITPOS clamps first).
            return Ok(0);
        }
        let Some((s, e)) = bits::range(total, start, end) else {
            return Ok(0);
        };
        let (s, e) = if is_bit { (s, e) } else { (s * 8, e * 8 + 7) };
        // Only the bytes of the range are read, a chunk at a time.
        let mut n = 0;
        k.string_visit(s >> 3, (e >> 3) + 1, |at, piece| {
            let base = at * 8;
            let last = base + piece.len() as u64 * 8 - 1;
            n += bits::count_bits(piece, s.max(base) - base, e.min(last) - base);
            true
        })?;
        Ok(n)
    }));
    Reply::Integer(n.unwrap_or(0) as i64)
}

fn bitpos(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let bit = match parse_i64(&argv[2]) {
        Some(b @ (0 | 1)) => b as u8,
        Some(_) => return Reply::error("ERR The bit argument must be 1 or 0."),
        None => return err_not_integer(),
    };
    // A missing key answers before the range is parsed, as in Redis.
    if tri!(with_string(ctx, &argv[1], |_, len| Ok(len))).is_none() {
        return Reply::Integer(if bit == 1 { -1 } else { 0 });
    }
    let mut is_bit = false;
    let mut end_given = false;
    let (start, end) = match argv.len() {
        3 => (0, -1),
        4..=6 => {
            let start = tri!(parse_i64(&argv[3]).ok_or_else(err_not_integer));
            if argv.len() == 6 {
                is_bit = tri!(parse_unit(&argv[5]));
            }
            let end = if argv.len() >= 5 {
                end_given = true;
                tri!(parse_i64(&argv[4]).ok_or_else(err_not_integer))
            } else {
                -1
            };
            (start, end)
        }
        _ => return err_syntax(),
    };
    let found = tri!(with_string(ctx, &argv[1], |k, len| {
        let total = len as i64 * if is_bit { 8 } else { 1 };
        let Some((s, e)) = bits::range(total, start, end) else {
            return Ok(-1);
        };
        let (s, e) = if is_bit { (s, e) } else { (s * 8, e * 8 + 7) };
        // The range is read a chunk at a time, up to the first match.
        let mut found = None;
        k.string_visit(s >> 3, (e >> 3) + 1, |at, piece| {
            let base = at * 8;
            let last = base + piece.len() as u64 * 8 - 1;
            found = bits::find(piece, s.max(base) - base, e.min(last) - base, bit)
                .map(|pos| base + pos);
            found.is_none()
        })?;
        Ok(match found {
            Some(pos) => pos as i64,
            // Looking for a 0 with no end given: the string is taken as padded with zeros.
            None if bit == 0 && !end_given => len as i64 * 8,
            None => -1,
        })
    }));
    Reply::Integer(found.unwrap_or(if bit == 1 { -1 } else { 0 }))
}

// ---------------------------------------------------------------------------------------
// BITOP.

fn bitop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    #[derive(PartialEq)]
    enum Op {
        And,
        Or,
        Xor,
        Not,
    }
    let op = &argv[1];
    let op = if eq_ci(op, "and") {
        Op::And
    } else if eq_ci(op, "or") {
        Op::Or
    } else if eq_ci(op, "xor") {
        Op::Xor
    } else if eq_ci(op, "not") {
        Op::Not
    } else {
        return err_syntax();
    };
    let dest = &argv[2];
    let sources = &argv[3..];
    if op == Op::Not && sources.len() != 1 {
        return Reply::error("ERR BITOP NOT must be called with a single source key.");
    }
    let mut values = Vec::with_capacity(sources.len());
    for key in sources {
        values.push(
            tri!(read(ctx, key, false))
                .map(|(v, _)| v)
                .unwrap_or_default(),
        );
    }
    let maxlen = values.iter().map(Bytes::len).max().unwrap_or(0);
    let mut out = vec![0u8; maxlen];
    match op {
        Op::Not => {
            for (o, b) in out.iter_mut().zip(values[0].iter()) {
                *o = !b;
            }
        }
        Op::And => {
            let minlen = values.iter().map(Bytes::len).min().unwrap_or(0);
            out[..minlen].fill(0xff);
            for v in &values {
                for (o, b) in out[..minlen].iter_mut().zip(v.iter()) {
                    *o &= b;
                }
            }
        }
        Op::Or | Op::Xor => {
            for v in &values {
                for (o, b) in out.iter_mut().zip(v.iter()) {
                    if op == Op::Or {
                        *o |= b;
                    } else {
                        *o ^= b;
                    }
                }
            }
        }
    }
    let db = ctx.db();
    if maxlen > 0 {
        tri!(write(ctx, dest, Bytes::from(out), None));
        ctx.notify(class::STRING, "set", dest);
    } else if tri!(ctx
        .engine
        .keyspace
        .delete(db, dest, ctx.now)
        .map_err(|e| err_store(&e)))
    {
        ctx.notify(class::GENERIC, "del", dest);
    }
    Reply::Integer(maxlen as i64)
}

// ---------------------------------------------------------------------------------------
// BITFIELD.

/// One BITFIELD operation.
struct FieldOp {
    kind: FieldKind,
    signed: bool,
    width: u32,
    offset: u64,
    overflow: bits::Overflow,
}

enum FieldKind {
    Get,
    Set(i64),
    IncrBy(i64),
}

/// `i8`, `u16`, ...: (signed, width).
fn parse_type(arg: &[u8]) -> Result<(bool, u32), Reply> {
    let err = || Reply::error(ERR_BF_TYPE);
    let signed = match arg.first() {
        Some(b'i' | b'I') => true,
        Some(b'u' | b'U') => false,
        _ => return Err(err()),
    };
    let width = parse_i64(&arg[1..]).ok_or_else(err)?;
    let max = if signed { 64 } else { 63 };
    if !(1..=max).contains(&width) {
        return Err(err());
    }
    Ok((signed, width as u32))
}

fn parse_field_ops(ctx: &Ctx<'_>, argv: &[Bytes]) -> Result<Vec<FieldOp>, Reply> {
    let mut ops = Vec::new();
    let mut overflow = bits::Overflow::Wrap;
    let mut j = 2;
    while j < argv.len() {
        let rem = argv.len() - j - 1;
        let sub = &argv[j];
        let is_get = eq_ci(sub, "get") && rem >= 2;
        let is_set = eq_ci(sub, "set") && rem >= 3;
        let is_incr = eq_ci(sub, "incrby") && rem >= 3;
        if eq_ci(sub, "overflow") && rem >= 1 {
            let w = &argv[j + 1];
            overflow = if eq_ci(w, "wrap") {
                bits::Overflow::Wrap
            } else if eq_ci(w, "sat") {
                bits::Overflow::Sat
            } else if eq_ci(w, "fail") {
                bits::Overflow::Fail
            } else {
                return Err(Reply::error("ERR Invalid OVERFLOW type specified"));
            };
            j += 2;
            continue;
        }
        if !(is_get || is_set || is_incr) {
            return Err(err_syntax());
        }
        let (signed, width) = parse_type(&argv[j + 1])?;
        let offset = parse_offset(ctx, &argv[j + 2], Some(width))?;
        let kind = if is_get {
            FieldKind::Get
        } else {
            let n = parse_i64(&argv[j + 3]).ok_or_else(err_not_integer)?;
            if is_set {
                FieldKind::Set(n)
            } else {
                FieldKind::IncrBy(n)
            }
        };
        ops.push(FieldOp {
            kind,
            signed,
            width,
            offset,
            overflow,
        });
        j += if is_get { 3 } else { 4 };
    }
    Ok(ops)
}

fn bitfield(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    bitfield_generic(ctx, argv, false)
}

fn bitfield_ro(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    bitfield_generic(ctx, argv, true)
}

fn bitfield_generic(ctx: &mut Ctx<'_>, argv: &[Bytes], read_only: bool) -> Reply {
    let key = &argv[1];
    let ops = tri!(parse_field_ops(ctx, argv));
    let highest = ops
        .iter()
        .filter(|op| !matches!(op.kind, FieldKind::Get))
        .map(|op| op.offset + op.width as u64 - 1)
        .max();
    let Some(highest) = highest else {
        // Only GETs: a read, and a missing key reads as zeros.
        let replies = tri!(with_string(ctx, key, |k, _| {
            ops.iter()
                .map(|op| {
                    let (lo, hi) = field_bytes(op);
                    let window = k.string_range(lo, hi)?;
                    Ok(field_reply(op, &window, lo))
                })
                .collect::<Result<Vec<_>, _>>()
        }));
        return Reply::Array(
            replies.unwrap_or_else(|| ops.iter().map(|_| Reply::Integer(0)).collect()),
        );
    };
    if read_only {
        return Reply::error("ERR BITFIELD_RO only supports the GET subcommand");
    }
    let store_err = |e: crate::storage::StoreError| err_store(&e);
    let (replies, changes) = tri!(with_string_mut(ctx, key, |k, len| {
        let byte = highest >> 3;
        let grown = len.is_none_or(|len| len <= byte);
        if grown {
            // Grown to the highest field first, and kept so even when every write fails
            // (OVERFLOW FAIL), as Redis does.
            k.string_write(byte, &[0]).map_err(store_err)?;
        }
        let mut changes = 0;
        let mut replies = Vec::with_capacity(ops.len());
        // Each field reads and writes only its own bytes (and chunks).
        for op in &ops {
            let (lo, hi) = field_bytes(op);
            let at = op.offset - lo * 8;
            let mut reply = Reply::Null;
            k.string_update(lo, hi - lo, |window| {
                let raw = bits::get_field(window, at, op.width);
                let current = if op.signed {
                    bits::sign_extend(raw, op.width) as i128
                } else {
                    raw as i128
                };
                let (base, incr) = match op.kind {
                    FieldKind::Get => {
                        reply = Reply::Integer(current as i64);
                        return false;
                    }
                    // Redis reads an unsigned SET's argument as a u64: -1 is 2^64-1.
                    FieldKind::Set(n) if !op.signed => (n as u64 as i128, 0),
                    FieldKind::Set(n) => (n as i128, 0),
                    FieldKind::IncrBy(n) => (current, n as i128),
                };
                let Some(new) = bits::fit(base, incr, op.signed, op.width, op.overflow) else {
                    return false; // OVERFLOW FAIL: nil
                };
                if grown || new != current {
                    changes += 1;
                }
                bits::set_field(window, at, op.width, new as u64);
                let shown = if matches!(op.kind, FieldKind::Set(_)) {
                    current
                } else {
                    new
                };
                reply = Reply::Integer(shown as i64);
                new != current
            })
            .map_err(store_err)?;
            replies.push(reply);
        }
        Ok((replies, changes))
    }));
    // Only a change is announced, as Redis 7.0 does.
    if changes > 0 {
        ctx.notify(class::STRING, "setbit", key);
    }
    Reply::Array(replies)
}

/// The bytes `lo..hi` a field lies in.
fn field_bytes(op: &FieldOp) -> (u64, u64) {
    (op.offset >> 3, ((op.offset + op.width as u64 - 1) >> 3) + 1)
}

/// A GET's reply: the field read from `window`, the string's bytes from `lo` on.
fn field_reply(op: &FieldOp, window: &[u8], lo: u64) -> Reply {
    let raw = bits::get_field(window, op.offset - lo * 8, op.width);
    Reply::Integer(if op.signed {
        bits::sign_extend(raw, op.width)
    } else {
        raw as i64
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::testing::Rig;

    /// Runs each command and checks the events it emitted, as `class:event:key`.
    pub(crate) fn check_events(cases: &[(&[&str], &[&str])]) {
        let mut rig = Rig::new();
        for (words, expected) in cases {
            let reply = rig.exec(words);
            assert!(!reply.is_error(), "{words:?}: {reply:?}");
            let events: Vec<String> = rig
                .take_events()
                .into_iter()
                .map(|e| {
                    let c = match e.class {
                        class::GENERIC => "g",
                        class::STRING => "$",
                        _ => "?",
                    };
                    format!("{c}:{}:{}", e.event, String::from_utf8_lossy(&e.key))
                })
                .collect();
            assert_eq!(events, *expected, "{words:?}");
        }
    }

    #[test]
    fn bit_writes_emit_redis_event_names() {
        check_events(&[
            (&["setbit", "b", "7", "1"], &["$:setbit:b"]),
            (&["setbit", "b", "7", "1"], &[]),
            (&["setbit", "b", "6", "0"], &[]),
            (&["setbit", "b", "6", "1"], &["$:setbit:b"]),
            (&["setbit", "b", "100", "0"], &["$:setbit:b"]),
            (&["getbit", "b", "7"], &[]),
            (&["bitcount", "b"], &[]),
            (&["bitpos", "b", "1"], &[]),
            (&["bitfield", "f", "set", "u8", "0", "5"], &["$:setbit:f"]),
            (&["bitfield", "f", "set", "u8", "0", "5"], &[]),
            (
                &["bitfield", "f", "incrby", "u8", "0", "1"],
                &["$:setbit:f"],
            ),
            (&["bitfield", "f", "get", "u8", "0"], &[]),
            (
                &[
                    "bitfield", "g", "overflow", "fail", "incrby", "u2", "0", "9",
                ],
                &[],
            ),
            (&["exists", "g"], &[]),
            (&["bitop", "or", "d", "b", "f"], &["$:set:d"]),
            (&["bitop", "or", "d", "nokey"], &["g:del:d"]),
            (&["bitop", "or", "d", "nokey"], &[]),
        ]);
    }
}
