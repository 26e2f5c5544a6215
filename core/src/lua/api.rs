//! The `redis` library scripts call: `call`/`pcall` (through the executor's dispatcher),
//! `error_reply`, `status_reply`, `sha1hex`, `log`, `setresp`, `set_repl`,
//! `replicate_commands`, `breakpoint`, `debug`, `acl_check_cmd`, `register_function` and the
//! constants.

use std::sync::Arc;

use bytes::Bytes;
use mlua::{Lua, MultiValue, Table, Value, Variadic};

use super::convert::{error_table, error_table_text, reply_to_lua};
use super::{host_state, script_flags, Registered};
use crate::commands::table::flags;
use crate::engine::Ctx;
use crate::protocol::{Protocol, Reply};

use crate::commands::connection::{REDIS_VERSION, REDIS_VERSION_NUM};

fn raise<T>(msg: &str) -> mlua::Result<T> {
    Err(mlua::Error::RuntimeError(format!("ERR {msg}")))
}

/// Installs the `redis` global.
pub(super) fn install(lua: &Lua) -> mlua::Result<()> {
    let redis = lua.create_table()?;
    lua.set_named_registry_value(CALL_KEY, lua.create_function(call)?)?;
    // SAFETY: `redis_call` follows the Lua C API protocol (see there).
    redis.raw_set("call", unsafe { lua.create_c_function(redis_call) }?)?;
    redis.raw_set("pcall", lua.create_function(pcall)?)?;
    redis.raw_set(
        "error_reply",
        lua.create_function(|lua, args: MultiValue| match single_string(&args) {
            Some(s) => {
                let s = if s.starts_with(b"-") {
                    s
                } else {
                    [&b"-"[..], &s].concat()
                };
                error_table(lua, &error_table_text(&s))
            }
            None => error_table(lua, "ERR wrong number or type of arguments"),
        })?,
    )?;
    redis.raw_set(
        "status_reply",
        lua.create_function(|lua, args: MultiValue| match single_string(&args) {
            Some(s) => {
                let t = lua.create_table_with_capacity(0, 1)?;
                t.raw_set("ok", lua.create_string(&s)?)?;
                Ok(t)
            }
            None => error_table(lua, "ERR wrong number or type of arguments"),
        })?,
    )?;
    redis.raw_set(
        "sha1hex",
        lua.create_function(|_, args: MultiValue| {
            if args.len() != 1 {
                return raise("wrong number of arguments");
            }
            let data = match &args[0] {
                Value::String(s) => s.as_bytes().to_vec(),
                Value::Integer(n) => n.to_string().into_bytes(),
                Value::Number(n) => format_number(*n).into_bytes(),
                _ => Vec::new(),
            };
            Ok(super::sha1_hex(&data))
        })?,
    )?;
    redis.raw_set("log", lua.create_function(log)?)?;
    redis.raw_set(
        "setresp",
        lua.create_function(|lua, args: MultiValue| {
            if args.len() != 1 {
                return raise("redis.setresp() requires one argument.");
            }
            let resp = match number(&args[0]) {
                Some(2.0) => Protocol::Resp2,
                Some(3.0) => Protocol::Resp3,
                _ => return raise("RESP version must be 2 or 3."),
            };
            let mut state = host_state(lua);
            if let Some(frame) = state.frames.last_mut() {
                frame.resp = resp;
                // SAFETY: see `Frame::ctx`; the borrow ends before this callback returns.
                unsafe { (*frame.ctx).client.protocol = resp };
            }
            Ok(())
        })?,
    )?;
    redis.raw_set(
        "set_repl",
        lua.create_function(|_, args: MultiValue| {
            if args.len() != 1 {
                return raise("redis.set_repl() requires one argument.");
            }
            match number(&args[0]) {
                Some(n) if (0.0..=3.0).contains(&n) && n.fract() == 0.0 => Ok(()),
                _ => raise(
                    "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
                ),
            }
        })?,
    )?;
    // Effects replication is the only mode since Redis 7; the call is accepted.
    redis.raw_set("replicate_commands", lua.create_function(|_, ()| Ok(true))?)?;
    // The script debugger is not provided: outside it, Redis's breakpoint returns false and
    // debug does nothing.
    redis.raw_set("breakpoint", lua.create_function(|_, ()| Ok(false))?)?;
    redis.raw_set("debug", lua.create_function(|_, _: MultiValue| Ok(()))?)?;
    redis.raw_set(
        "acl_check_cmd",
        lua.create_function(|lua, args: Variadic<Value>| {
            if args.is_empty() {
                return raise("Please specify at least one argument for this redis lib call");
            }
            let argv = lua_args(&args)?;
            let state = host_state(lua);
            let Some(frame) = state.frames.last() else {
                return raise("Invalid command passed to redis.acl_check_cmd()");
            };
            // SAFETY: see `Frame::ctx`; only the command table and the client are read.
            let ctx = unsafe { &*frame.ctx };
            // As the user running the script, without logging (Redis's ACLCheckAllUserCommandPerm).
            match ctx.engine.resolve(&argv) {
                Ok(cmd) => {
                    Ok(crate::engine::acl::check::check(&ctx.client.user, &cmd, &argv).is_ok())
                }
                Err((None, _)) => raise("Invalid command passed to redis.acl_check_cmd()"),
                Err((Some(_), _)) => Ok(false),
            }
        })?,
    )?;
    redis.raw_set("register_function", lua.create_function(register_function)?)?;
    redis.raw_set("REDIS_VERSION", REDIS_VERSION)?;
    redis.raw_set("REDIS_VERSION_NUM", REDIS_VERSION_NUM)?;
    for (name, value) in [
        ("LOG_DEBUG", 0),
        ("LOG_VERBOSE", 1),
        ("LOG_NOTICE", 2),
        ("LOG_WARNING", 3),
        ("REPL_NONE", 0),
        ("REPL_AOF", 1),
        ("REPL_SLAVE", 2),
        ("REPL_REPLICA", 2),
        ("REPL_ALL", 3),
    ] {
        redis.raw_set(name, value)?;
    }
    lua.globals().raw_set("redis", redis)?;
    Ok(())
}

fn single_string(args: &MultiValue) -> Option<Vec<u8>> {
    match args.iter().collect::<Vec<_>>().as_slice() {
        [Value::String(s)] => Some(s.as_bytes().to_vec()),
        _ => None,
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(n) => Some(*n as f64),
        Value::Number(n) => Some(*n),
        Value::String(s) => s.to_str().ok()?.trim().parse().ok(),
        _ => None,
    }
}

/// A Lua number as an argument: integers without a fraction, others in the shortest form
/// that reads back the same (Redis uses fpconv_dtoa, not Lua's lossy `%.14g`).
fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e17 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// Arguments of `redis.call` and friends as command arguments: strings and numbers only.
fn lua_args(args: &[Value]) -> mlua::Result<Vec<Bytes>> {
    args.iter()
        .map(|v| match v {
            Value::String(s) => Ok(Bytes::copy_from_slice(&s.as_bytes())),
            Value::Integer(n) => Ok(Bytes::from(n.to_string())),
            Value::Number(n) => Ok(Bytes::from(format_number(*n))),
            _ => raise("Lua redis lib command arguments must be strings or integers"),
        })
        .collect()
}

/// Runs a command from a script: `Ok(reply)` or `Err(error text)` for the error table.
fn dispatch(lua: &Lua, args: &[Value]) -> Result<(Reply, Protocol), String> {
    if args.is_empty() {
        return Err("ERR Please specify at least one argument for this redis lib call".into());
    }
    let argv = lua_args(args).map_err(|e| error_text(&e))?;
    let (ctx_ptr, read_only, allow_oom, resp, gate) = {
        let state = host_state(lua);
        let Some(frame) = state.frames.last() else {
            return Err("ERR redis.call can only be called inside a script invocation".into());
        };
        (
            frame.ctx,
            frame.read_only,
            frame.allow_oom,
            frame.resp,
            Arc::clone(&state.shared),
        )
    };
    // SAFETY: see `Frame::ctx`: the invocation that pushed the frame is suspended in Lua,
    // waiting for this callback, and does not touch the context meanwhile.
    let ctx: &mut Ctx<'static> = unsafe { &mut *ctx_ptr };
    let cmd = match ctx.engine.resolve(&argv) {
        Ok(cmd) => cmd,
        Err((None, _)) => return Err("ERR Unknown Redis command called from script".into()),
        Err((Some(_), _)) => {
            return Err("ERR Wrong number of args calling Redis command from script".into())
        }
    };
    if cmd.has(flags::NOSCRIPT) {
        return Err("ERR This Redis command is not allowed from script".into());
    }
    // Checked as the user running the script.
    let context = crate::engine::acl::Context::Lua;
    if let Err(denied) = ctx.engine.acl_check(ctx.client, &cmd, &argv, context) {
        return Err(denied.script_error().into());
    }
    // Redis counts commands that may replicate (PUBLISH, ...) as writes here, so that a
    // read-only script may run during CLIENT PAUSE WRITE.
    if read_only && cmd.has(flags::WRITE | flags::MAY_REPLICATE) {
        return Err("ERR Write commands are not allowed from read-only scripts.".into());
    }
    // Redis's scriptVerifyOOM: over `maxmemory` when the script started, its first write
    // that may add data is refused (once it wrote, it runs to the end).
    if !allow_oom
        && cmd.has(flags::DENYOOM)
        && ctx.engine.oom_before_command()
        && !gate.scripts.has_written()
    {
        return Err(crate::engine::OOM_ERROR.into());
    }
    if cmd.has(flags::WRITE) {
        gate.scripts.set_wrote();
    }
    Ok((ctx.call_command(&cmd, &argv), resp))
}

/// Registry key of [`call`], for [`redis_call`].
const CALL_KEY: &str = "respite.call";

/// `redis.call`: [`call`], raising the error table as the Lua error. A C function rather than
/// a Rust callback, because a Rust callback's error reaches Lua as an opaque userdata, and
/// Redis scripts expect a table with `err` (`pcall(redis.call, ...)`); and rather than a Lua
/// wrapper, whose frame would replace the caller's in `return redis.call(...)` (a tail call),
/// losing the line the error is reported at.
unsafe extern "C-unwind" fn redis_call(state: *mut mlua::ffi::lua_State) -> std::os::raw::c_int {
    use mlua::ffi;
    // No Rust value with a destructor lives in this frame, so lua_error's longjmp is sound.
    let nargs = ffi::lua_gettop(state);
    ffi::lua_getfield(state, ffi::LUA_REGISTRYINDEX, c"respite.call".as_ptr());
    ffi::lua_insert(state, 1);
    ffi::lua_call(state, nargs, 2);
    if ffi::lua_toboolean(state, 1) != 0 {
        return 1;
    }
    ffi::lua_error(state)
}

/// `redis.call` without the raise: `(true, value)` or `(false, error table)`.
pub(super) fn call(lua: &Lua, args: Variadic<Value>) -> mlua::Result<(bool, Value)> {
    match dispatch(lua, &args) {
        Ok((Reply::Error(e), _)) => Ok((false, Value::Table(error_table(lua, &e)?))),
        Ok((reply, resp)) => Ok((true, reply_to_lua(lua, &reply, resp)?)),
        Err(e) => Ok((false, Value::Table(error_table(lua, &e)?))),
    }
}

/// `redis.pcall`: errors come back as `{err = ...}` tables.
fn pcall(lua: &Lua, args: Variadic<Value>) -> mlua::Result<Value> {
    match dispatch(lua, &args) {
        Ok((reply, resp)) => reply_to_lua(lua, &reply, resp),
        Err(e) => Ok(Value::Table(error_table(lua, &e)?)),
    }
}

fn log(lua: &Lua, args: Variadic<Value>) -> mlua::Result<()> {
    let _ = lua;
    if args.len() < 2 {
        return raise("redis.log() requires two arguments or more.");
    }
    let Some(level) = number(&args[0]).filter(|_| !matches!(args[0], Value::String(_))) else {
        return raise("First argument must be a number");
    };
    let mut text = String::new();
    for (i, v) in args[1..].iter().enumerate() {
        if i > 0 {
            text.push(' ');
        }
        match v {
            Value::String(s) => text.push_str(&s.to_string_lossy()),
            Value::Integer(n) => text.push_str(&n.to_string()),
            Value::Number(n) => text.push_str(&format_number(*n)),
            _ => {}
        }
    }
    match level as i64 {
        0 => tracing::debug!(target: "script", "{text}"),
        1 => tracing::debug!(target: "script", "{text}"),
        2 => tracing::info!(target: "script", "{text}"),
        3 => tracing::warn!(target: "script", "{text}"),
        _ => return raise("Invalid debug level."),
    }
    Ok(())
}

/// `redis.register_function(name, callback)` or `redis.register_function{function_name=...,
/// callback=..., flags={...}, description=...}`, while a library loads.
fn register_function(lua: &Lua, args: Variadic<Value>) -> mlua::Result<()> {
    let mut state = host_state(lua);
    let Some(registering) = state.registering.as_mut() else {
        return raise("redis.register_function can only be called on FUNCTION LOAD command");
    };
    let (name, func, flags, description) = match args.as_slice() {
        [Value::Table(t)] => named_registration(t)?,
        [name, callback] => {
            let Value::String(name) = name else {
                return raise("wrong number of arguments to redis.register_function");
            };
            let Value::Function(func) = callback else {
                return raise("wrong number of arguments to redis.register_function");
            };
            (name.to_string_lossy(), func.clone(), 0, None)
        }
        _ => return raise("wrong number of arguments to redis.register_function"),
    };
    if !valid_name(&name) {
        return raise(
            // Redis's text, which says "Library" for function names too.
            "Library names can only contain letters, numbers, or underscores(_) and must be \
             at least one character long",
        );
    }
    if registering
        .iter()
        .any(|r| r.name.eq_ignore_ascii_case(&name))
    {
        return raise("Function already exists in the library");
    }
    registering.push(Registered {
        name,
        func,
        flags,
        description,
    });
    Ok(())
}

#[allow(clippy::type_complexity)]
fn named_registration(t: &Table) -> mlua::Result<(String, mlua::Function, u32, Option<String>)> {
    let mut name = None;
    let mut func = None;
    let mut fl = 0;
    let mut description = None;
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair?;
        let key = match &k {
            Value::String(s) => s.to_string_lossy(),
            _ => {
                return raise("named argument key given to redis.register_function is not a string")
            }
        };
        match key.as_str() {
            "function_name" => {
                match v {
                    Value::String(s) => name = Some(s.to_string_lossy()),
                    _ => return raise(
                        "function_name argument given to redis.register_function must be a string",
                    ),
                }
            }
            "callback" => match v {
                Value::Function(f) => func = Some(f),
                _ => {
                    return raise(
                        "callback argument given to redis.register_function must be a function",
                    )
                }
            },
            "description" => {
                match v {
                    Value::String(s) => description = Some(s.to_string_lossy()),
                    _ => return raise(
                        "description argument given to redis.register_function must be a string",
                    ),
                }
            }
            "flags" => {
                let Value::Table(list) = v else {
                    return raise(
                        "flags argument to redis.register_function must be a table representing \
                         function flags",
                    );
                };
                for item in list.sequence_values::<Value>() {
                    let Value::String(flag) = item? else {
                        return raise("unknown flag given");
                    };
                    match script_flags::parse(&flag.as_bytes()) {
                        Some(f) => fl |= f,
                        None => return raise("unknown flag given"),
                    }
                }
            }
            _ => return raise("unknown argument given to redis.register_function"),
        }
    }
    let Some(name) = name else {
        return raise("redis.register_function must get a function name argument");
    };
    let Some(func) = func else {
        return raise("redis.register_function must get a callback argument");
    };
    Ok((name, func, fl, description))
}

/// Library and function names: letters, digits and underscores, at least one.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The Redis-style text (`ERR ...`) of an mlua error raised by the host's callbacks, the hook
/// or Lua itself.
pub fn error_text(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, .. } => error_text(cause),
        mlua::Error::RuntimeError(msg) if has_code(msg) => msg.clone(),
        mlua::Error::RuntimeError(msg) => format!("ERR {msg}"),
        mlua::Error::MemoryError(_) => {
            "ERR Lua script exceeded its memory limit (scripting.memory_limit)".into()
        }
        mlua::Error::SyntaxError { message, .. } => format!("ERR {message}"),
        other => format!("ERR {other}"),
    }
}

/// Whether `msg` starts with an upper-case error code (`ERR x`, `BUSY x`).
fn has_code(msg: &str) -> bool {
    msg.split_once(' ').is_some_and(|(code, _)| {
        !code.is_empty() && code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
    })
}

/// The error handler's helper: the text of an error raised from Rust (a wrapped mlua error).
pub(super) fn normalize_error(_: &Lua, err: Value) -> mlua::Result<String> {
    Ok(match err {
        Value::Error(e) => error_text(&e),
        other => format!("ERR {}", other.to_string().unwrap_or_default()),
    })
}
