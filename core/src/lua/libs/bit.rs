//! `bit`: LuaBitOp 1.0.2 as Redis bundles it. Every operand is reduced to 32 bits the way
//! LuaBitOp does it on doubles (add 2^52+2^51, keep the low word), so results for fractions,
//! huge numbers, NaN and infinities are the C library's; results are signed 32-bit numbers.
//!
//! Scripts call these in tight loops, so they are plain Lua C functions over the stack, as
//! LuaBitOp is, without the mlua callback machinery the other libraries go through. They
//! hold no Rust resources, so a Lua error (longjmp) out of them is sound.

use std::ffi::c_int;

use mlua::{ffi, Lua, Table};

/// Builds the `bit` table.
pub(crate) fn module(lua: &Lua) -> mlua::Result<Table> {
    let functions: [(&str, ffi::lua_CFunction); 12] = [
        ("tobit", tobit),
        ("bnot", bnot),
        ("band", band),
        ("bor", bor),
        ("bxor", bxor),
        ("lshift", lshift),
        ("rshift", rshift),
        ("arshift", arshift),
        ("rol", rol),
        ("ror", ror),
        ("bswap", bswap),
        ("tohex", tohex),
    ];
    let t = lua.create_table()?;
    for (name, f) in functions {
        // SAFETY: each function only reads its arguments and pushes its result.
        t.raw_set(name, unsafe { lua.create_c_function(f)? })?;
    }
    Ok(t)
}

/// LuaBitOp's `barg`: the argument's low 32 bits after rounding; raises a type error when
/// the argument is not a number (nor a string Lua reads as one).
unsafe fn barg(state: *mut ffi::lua_State, narg: c_int) -> u32 {
    let n = ffi::lua_tonumber(state, narg);
    // Adding 2^52+2^51 moves the integer part into the low mantissa bits, rounding to
    // nearest even on the way: this is how LuaBitOp normalises doubles.
    let b = (n + 6_755_399_441_055_744.0).to_bits() as u32;
    if b == 0 && ffi::lua_isnumber(state, narg) == 0 {
        ffi::luaL_typerror(state, narg, c"number".as_ptr());
    }
    b
}

unsafe fn ret(state: *mut ffi::lua_State, b: u32) -> c_int {
    ffi::lua_pushnumber(state, f64::from(b as i32));
    1
}

unsafe extern "C-unwind" fn tobit(state: *mut ffi::lua_State) -> c_int {
    ret(state, barg(state, 1))
}

unsafe extern "C-unwind" fn bnot(state: *mut ffi::lua_State) -> c_int {
    ret(state, !barg(state, 1))
}

unsafe extern "C-unwind" fn bswap(state: *mut ffi::lua_State) -> c_int {
    ret(state, barg(state, 1).swap_bytes())
}

/// `band`, `bor`, `bxor`: argument 1, then the others from the last down, as the C loop
/// reads them (which decides which bad argument is reported).
unsafe fn fold(state: *mut ffi::lua_State, op: fn(u32, u32) -> u32) -> c_int {
    let mut b = barg(state, 1);
    let mut narg = ffi::lua_gettop(state);
    while narg > 1 {
        b = op(b, barg(state, narg));
        narg -= 1;
    }
    ret(state, b)
}

unsafe extern "C-unwind" fn band(state: *mut ffi::lua_State) -> c_int {
    fold(state, |x, y| x & y)
}

unsafe extern "C-unwind" fn bor(state: *mut ffi::lua_State) -> c_int {
    fold(state, |x, y| x | y)
}

unsafe extern "C-unwind" fn bxor(state: *mut ffi::lua_State) -> c_int {
    fold(state, |x, y| x ^ y)
}

unsafe fn shift(state: *mut ffi::lua_State, op: fn(u32, u32) -> u32) -> c_int {
    let b = barg(state, 1);
    let n = barg(state, 2) & 31;
    ret(state, op(b, n))
}

unsafe extern "C-unwind" fn lshift(state: *mut ffi::lua_State) -> c_int {
    shift(state, |b, n| b << n)
}

unsafe extern "C-unwind" fn rshift(state: *mut ffi::lua_State) -> c_int {
    shift(state, |b, n| b >> n)
}

unsafe extern "C-unwind" fn arshift(state: *mut ffi::lua_State) -> c_int {
    shift(state, |b, n| ((b as i32) >> n) as u32)
}

unsafe extern "C-unwind" fn rol(state: *mut ffi::lua_State) -> c_int {
    shift(state, u32::rotate_left)
}

unsafe extern "C-unwind" fn ror(state: *mut ffi::lua_State) -> c_int {
    shift(state, u32::rotate_right)
}

/// `bit.tohex(x [, n])`: `n` hex digits (default 8, at most 8), upper case when negative.
unsafe extern "C-unwind" fn tohex(state: *mut ffi::lua_State) -> c_int {
    let mut b = barg(state, 1);
    // In 64 bits, so that -(-2^31) is 2^31 (8 digits, upper case), as Redis's build gives.
    let mut n: i64 = if ffi::lua_isnone(state, 2) != 0 {
        8
    } else {
        i64::from(barg(state, 2) as i32)
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
    ffi::lua_pushlstring(state, buf.as_ptr().cast(), n);
    1
}
