//! The libraries Redis gives every script: `cjson` (lua-cjson 2.1.0), `cmsgpack`
//! (lua-cmsgpack 0.4.0) and `bit` (LuaBitOp 1.0.2), written in Rust with the replies,
//! encodings and error messages of the C originals bundled in Redis 7.
//!
//! Scripts match error messages (`pcall(cjson.decode, s)`), so every failure must reach Lua
//! as a plain string raised from a C function, positioned like `luaL_error` does it
//! (`user_script:1: Expected value ...`). An mlua callback cannot do that: its errors are
//! userdata. So each library function is a Rust body that reports its outcome as a status
//! value, called through a small C closure (`trampoline`) that returns the results or
//! raises the error with the Lua C API, exactly where the C library would. `bit` needs no
//! such help: its functions are plain C functions.
//!
//! The bodies walk and build Lua values with the Lua C API inside `Lua::exec_raw`, as the
//! C libraries do, rather than through mlua handles: that is several times faster, keeps
//! the number of live mlua references (a few thousand at most) out of reach of the input,
//! and lets `lua_checkstack` stop deep nesting where it stops the C code. That code
//! raises no Lua errors, except a memory error while the stack grows or a table is built,
//! and it owns nothing that would need dropping if one did.

mod bit;
mod cjson;
mod cmsgpack;

use std::ffi::c_int;

use mlua::{ffi, Function, Lua, MultiValue, Table, Value};

/// Installs the globals `cjson`, `cmsgpack` and `bit` into `lua.globals()`.
pub fn load(lua: &Lua) -> mlua::Result<()> {
    let globals = lua.globals();
    globals.raw_set("cjson", cjson::module(lua)?)?;
    globals.raw_set("cmsgpack", cmsgpack::module(lua)?)?;
    globals.raw_set("bit", bit::module(lua)?)?;
    Ok(())
}

/// `LUAI_MAXCSTACK` of Lua 5.1: the C libraries stop nesting when `lua_checkstack` refuses
/// to go past it, and their error messages depend on where that happens. Where the Rust
/// code keeps less on the stack than the C code did, it counts the C code's slots against
/// this limit to fail at the same depth.
pub(crate) const LUA_MAX_C_STACK: usize = 8000;

/// Why a library function failed, in the shape the C library raised it.
pub(crate) enum Fail {
    /// `luaL_error`: the message, prefixed with the position of the calling Lua code.
    Error(String),
    /// An error the Lua core raises inside a C function (`table index is nil`): no position.
    Raw(String),
    /// `luaL_argerror(narg, extramsg)`: `bad argument #n to 'name' (extramsg)`.
    Arg(i32, String),
}

/// What a library function returns.
pub(crate) enum Ret {
    /// A few values, returned as they are.
    Values(Vec<Value>),
    /// `n` values stored at `1..=n` of a table (holes are nils): used when a function may
    /// return thousands of values, which must not all be live mlua references at once.
    Packed(Table, usize),
}

/// The outcome of a library function's Rust body.
pub(crate) type Outcome = Result<Ret, Fail>;

/// Returns a single value.
pub(crate) fn one(v: Value) -> mlua::Result<Outcome> {
    Ok(Ok(Ret::Values(vec![v])))
}

/// Makes a Lua function whose body is `body`, raising its `Fail`s as the C libraries do.
pub(crate) fn function<F>(lua: &Lua, body: F) -> mlua::Result<Function>
where
    F: Fn(&Lua, Vec<Value>) -> mlua::Result<Outcome> + mlua::MaybeSend + 'static,
{
    let inner = lua.create_function(move |lua, args: MultiValue| {
        let mut out = MultiValue::new();
        match body(lua, args.into_vec())? {
            Ok(Ret::Values(values)) => {
                out.push_back(Value::Nil);
                out.extend(values);
            }
            Ok(Ret::Packed(table, n)) => {
                out.push_back(Value::Boolean(true));
                out.push_back(Value::Table(table));
                out.push_back(Value::Integer(n as i64));
            }
            Err(Fail::Error(msg)) => out.push_back(Value::String(lua.create_string(msg)?)),
            Err(Fail::Raw(msg)) => {
                out.push_back(Value::Boolean(false));
                out.push_back(Value::String(lua.create_string(msg)?));
            }
            Err(Fail::Arg(narg, msg)) => {
                out.push_back(Value::Integer(i64::from(narg)));
                out.push_back(Value::String(lua.create_string(msg)?));
            }
        }
        Ok(out)
    })?;
    // SAFETY: the closure only pushes a C closure over the function already on the stack.
    unsafe {
        lua.exec_raw::<Function>(inner, |state| {
            ffi::lua_pushcclosure(state, trampoline, 1);
        })
    }
}

/// The C function scripts call: runs the Rust body (upvalue 1), then returns its results or
/// raises its error from this C frame, so that `luaL_where(L, 1)` names the calling line and
/// `luaL_argerror` names the function the way the script called it (`'band'`, or `'?'`
/// through `pcall`). Nothing here owns Rust resources, so Lua's longjmp out of it is sound.
unsafe extern "C-unwind" fn trampoline(state: *mut ffi::lua_State) -> c_int {
    let nargs = ffi::lua_gettop(state);
    ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
    ffi::lua_insert(state, 1);
    ffi::lua_call(state, nargs, ffi::LUA_MULTRET);
    let nresults = ffi::lua_gettop(state);
    match ffi::lua_type(state, 1) {
        ffi::LUA_TNIL => nresults - 1,
        ffi::LUA_TSTRING => {
            ffi::luaL_where(state, 1);
            ffi::lua_pushvalue(state, 1);
            ffi::lua_concat(state, 2);
            ffi::lua_error(state)
        }
        ffi::LUA_TBOOLEAN if ffi::lua_toboolean(state, 1) == 0 => {
            ffi::lua_pushvalue(state, 2);
            ffi::lua_error(state)
        }
        ffi::LUA_TBOOLEAN => {
            let n = ffi::lua_tointeger(state, 3) as c_int;
            ffi::lua_settop(state, 2);
            ffi::lua_remove(state, 1);
            // The C libraries push their results next to their one argument: same budget.
            if ffi::lua_checkstack(state, n) == 0 {
                return ffi::luaL_error(state, c"stack overflow (too many results)".as_ptr());
            }
            for i in 1..=n {
                ffi::lua_rawgeti(state, 1, i.into());
            }
            n
        }
        ffi::LUA_TNUMBER => {
            let narg = ffi::lua_tointeger(state, 1) as c_int;
            ffi::luaL_argerror(state, narg, ffi::lua_tostring(state, 2))
        }
        _ => 0,
    }
}

/// `luaL_typename` of argument `v` (`None` is an absent argument).
pub(crate) fn typename(v: Option<&Value>) -> &'static str {
    match v {
        None => "no value",
        Some(Value::Nil) => "nil",
        Some(Value::Boolean(_)) => "boolean",
        Some(Value::Integer(_) | Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Table(_)) => "table",
        Some(Value::Function(_)) => "function",
        Some(Value::Thread(_)) => "thread",
        Some(_) => "userdata",
    }
}

/// `luaL_typerror`: `<expected> expected, got <type>`.
pub(crate) fn type_error(narg: usize, expected: &str, got: Option<&Value>) -> Fail {
    Fail::Arg(
        narg as i32,
        format!("{expected} expected, got {}", typename(got)),
    )
}

/// `lua_tonumber`: numbers, and strings Lua reads as numbers.
pub(crate) fn to_number(lua: &Lua, v: Option<&Value>) -> mlua::Result<Option<f64>> {
    match v {
        None => Ok(None),
        Some(Value::Number(n)) => Ok(Some(*n)),
        Some(Value::Integer(i)) => Ok(Some(*i as f64)),
        Some(v @ Value::String(_)) => lua.coerce_number(v.clone()),
        Some(_) => Ok(None),
    }
}

/// C's `(int64_t)d` as x86-64 computes it: out of range and NaN give `INT64_MIN`.
pub(crate) fn c_i64(d: f64) -> i64 {
    // Doubles in [-2^63, 2^63) convert exactly after truncation.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if !(-LIMIT..LIMIT).contains(&d) {
        i64::MIN
    } else {
        d as i64
    }
}

/// C's `(int)d` as x86-64 computes it: out of range and NaN give `INT_MIN`.
pub(crate) fn c_i32(d: f64) -> i32 {
    if !(-2_147_483_649.0 < d && d < 2_147_483_648.0) {
        i32::MIN
    } else {
        d as i32
    }
}

/// `luaL_checkinteger`: the argument truncated to an integer, or a type error.
pub(crate) fn check_integer(
    lua: &Lua,
    args: &[Value],
    narg: usize,
) -> mlua::Result<Result<i64, Fail>> {
    let v = args.get(narg - 1);
    Ok(match to_number(lua, v)? {
        Some(n) => Ok(c_i64(n)),
        None => Err(type_error(narg, "number", v)),
    })
}

/// `luaL_optint`: absent or nil gives `default`, anything else must be a number.
pub(crate) fn opt_int(
    lua: &Lua,
    args: &[Value],
    narg: usize,
    default: i32,
) -> mlua::Result<Result<i32, Fail>> {
    match args.get(narg - 1) {
        None | Some(Value::Nil) => Ok(Ok(default)),
        Some(_) => Ok(check_integer(lua, args, narg)?.map(|i| i as i32)),
    }
}

/// `luaL_checklstring`: strings, and numbers converted the way Lua prints them.
pub(crate) fn check_string(
    lua: &Lua,
    args: &[Value],
    narg: usize,
) -> mlua::Result<Result<mlua::String, Fail>> {
    let v = args.get(narg - 1);
    match v {
        Some(Value::String(s)) => Ok(Ok(s.clone())),
        Some(n @ (Value::Integer(_) | Value::Number(_))) => match lua.coerce_string(n.clone())? {
            Some(s) => Ok(Ok(s)),
            None => Ok(Err(type_error(narg, "string", v))),
        },
        _ => Ok(Err(type_error(narg, "string", v))),
    }
}

#[cfg(test)]
mod tests;
