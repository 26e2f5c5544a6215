//! `bit`: LuaBitOp 1.0.2 as Redis bundles it. Every operand is reduced to 32 bits the way
//! LuaBitOp does it on doubles (add 2^52+2^51, keep the low word), so results for fractions,
//! huge numbers, NaN and infinities are the C library's; results are signed 32-bit numbers.

use mlua::{Lua, Table, Value};

use super::{function, one, to_number, type_error, Fail, Outcome};

/// Builds the `bit` table.
pub(crate) fn module(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("tobit", function(lua, |lua, a| unary(lua, &a, |b| b))?)?;
    t.raw_set("bnot", function(lua, |lua, a| unary(lua, &a, |b| !b))?)?;
    t.raw_set("band", function(lua, |lua, a| fold(lua, &a, |x, y| x & y))?)?;
    t.raw_set("bor", function(lua, |lua, a| fold(lua, &a, |x, y| x | y))?)?;
    t.raw_set("bxor", function(lua, |lua, a| fold(lua, &a, |x, y| x ^ y))?)?;
    t.raw_set(
        "lshift",
        function(lua, |lua, a| shift(lua, &a, |b, n| b << n))?,
    )?;
    t.raw_set(
        "rshift",
        function(lua, |lua, a| shift(lua, &a, |b, n| b >> n))?,
    )?;
    t.raw_set(
        "arshift",
        function(lua, |lua, a| {
            shift(lua, &a, |b, n| ((b as i32) >> n) as u32)
        })?,
    )?;
    t.raw_set(
        "rol",
        function(lua, |lua, a| shift(lua, &a, u32::rotate_left))?,
    )?;
    t.raw_set(
        "ror",
        function(lua, |lua, a| shift(lua, &a, u32::rotate_right))?,
    )?;
    t.raw_set(
        "bswap",
        function(lua, |lua, a| unary(lua, &a, u32::swap_bytes))?,
    )?;
    t.raw_set("tohex", function(lua, tohex)?)?;
    Ok(t)
}

/// LuaBitOp's `barg`: the argument's low 32 bits after rounding, or a type error when the
/// argument is not a number (nor a string Lua reads as one).
fn barg(lua: &Lua, args: &[Value], narg: usize) -> mlua::Result<Result<u32, Fail>> {
    let v = args.get(narg - 1);
    let n = to_number(lua, v)?;
    // Adding 2^52+2^51 moves the integer part into the low mantissa bits, rounding to
    // nearest even on the way: this is how LuaBitOp normalises doubles.
    let b = (n.unwrap_or(0.0) + 6_755_399_441_055_744.0).to_bits() as u32;
    if b == 0 && n.is_none() {
        return Ok(Err(type_error(narg, "number", v)));
    }
    Ok(Ok(b))
}

fn ret(b: u32) -> mlua::Result<Outcome> {
    one(Value::Number(f64::from(b as i32)))
}

fn unary(lua: &Lua, args: &[Value], op: impl Fn(u32) -> u32) -> mlua::Result<Outcome> {
    match barg(lua, args, 1)? {
        Ok(b) => ret(op(b)),
        Err(e) => Ok(Err(e)),
    }
}

/// `band`, `bor`, `bxor`: argument 1, then the others from the last down, as the C loop
/// reads them (which decides which bad argument is reported).
fn fold(lua: &Lua, args: &[Value], op: impl Fn(u32, u32) -> u32) -> mlua::Result<Outcome> {
    let mut b = match barg(lua, args, 1)? {
        Ok(b) => b,
        Err(e) => return Ok(Err(e)),
    };
    for narg in (2..=args.len()).rev() {
        match barg(lua, args, narg)? {
            Ok(x) => b = op(b, x),
            Err(e) => return Ok(Err(e)),
        }
    }
    ret(b)
}

fn shift(lua: &Lua, args: &[Value], op: impl Fn(u32, u32) -> u32) -> mlua::Result<Outcome> {
    let b = match barg(lua, args, 1)? {
        Ok(b) => b,
        Err(e) => return Ok(Err(e)),
    };
    match barg(lua, args, 2)? {
        Ok(n) => ret(op(b, n & 31)),
        Err(e) => Ok(Err(e)),
    }
}

/// `bit.tohex(x [, n])`: `n` hex digits (default 8, at most 8), upper case when negative.
fn tohex(lua: &Lua, args: Vec<Value>) -> mlua::Result<Outcome> {
    let mut b = match barg(lua, &args, 1)? {
        Ok(b) => b,
        Err(e) => return Ok(Err(e)),
    };
    // In 64 bits, so that -(-2^31) is 2^31 (8 digits, upper case), as Redis's build gives.
    let mut n: i64 = if args.len() < 2 {
        8
    } else {
        match barg(lua, &args, 2)? {
            Ok(n) => i64::from(n as i32),
            Err(e) => return Ok(Err(e)),
        }
    };
    let digits: &[u8; 16] = if n < 0 {
        n = -n;
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let n = n.min(8) as usize;
    let mut buf = [0u8; 8];
    for slot in buf[..n].iter_mut().rev() {
        *slot = digits[(b & 15) as usize];
        b >>= 4;
    }
    one(Value::String(lua.create_string(&buf[..n])?))
}
