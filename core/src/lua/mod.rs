//! The Lua host: one sandboxed Lua 5.1 state on the executor, with Redis's scripting API,
//! running EVAL scripts, functions (FCALL) and any other Lua handler through one entry point,
//! [`run`], so that every way in gets the same `redis.call`, conversions, errors, time limit
//! and kill switch.
//!
//! Sandbox: the standard libraries Redis offers (no `io`, `os`, `require`, `loadfile`,
//! `dofile`, `debug`, `print`); scripts see the globals through a read-only proxy, so that
//! they can neither create globals nor replace a library for the scripts that follow; reading
//! an undefined global is an error, as in Redis. Memory is capped with mlua's allocator limit
//! and a count hook measures run time (busy threshold, kill requests).

mod api;
mod call_flags;
pub mod cmd_function;
pub mod cmd_script;
mod commands;
pub mod convert;
pub mod files;
pub mod functions;
mod hooks;
pub mod libs;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mlua::{Function, HookTriggers, Lua, LuaOptions, StdLib, Table, Value, VmState};

use crate::engine::busy as gate;
use crate::engine::table::CommandSpec;
use crate::engine::{Ctx, Engine, SharedState};
use crate::protocol::{Protocol, Reply};

/// The Lua host's commands: EVAL and SCRIPT ([`cmd_script`]), FUNCTION and FCALL
/// ([`cmd_function`]).
pub static COMMANDS: &[&[CommandSpec]] = &[cmd_script::COMMANDS, cmd_function::COMMANDS];

/// Installs the Lua host in `engine`: its state, its INFO fields, the function libraries saved
/// in the store. The server calls it once at start-up.
pub fn install(engine: &mut Engine) {
    host(engine);
    call_flags::install(engine);
    engine.info.add_fields(
        "memory",
        Box::new(|engine, out| {
            use std::fmt::Write as _;
            let (memory, scripts) = engine
                .extensions
                .get::<Scripting>()
                .map(|s| (s.used_memory(), s.script_count()))
                .unwrap_or_default();
            let _ = write!(
                out,
                "used_memory_lua:{memory}\r\nused_memory_lua_human:{}\r\nnumber_of_cached_scripts:{scripts}\r\n",
                crate::commands::server::human_bytes(memory as u64)
            );
        }),
    );
    engine.info.add_fields(
        "stats",
        Box::new(|engine, out| {
            use std::fmt::Write as _;
            let Some(files) = engine.extensions.get::<files::ScriptFiles>() else {
                return;
            };
            let _ = write!(
                out,
                "respite_lua_commands:{}\r\nrespite_lua_hooks:{}\r\nrespite_lua_hook_calls:{}\r\nrespite_lua_hook_errors:{}\r\n",
                files.command_count(),
                files.hook_count(),
                files.hook_calls,
                files.hook_errors
            );
        }),
    );
    cmd_function::load_saved_libraries(engine);
}

/// Shows an EVAL or FCALL to the monitors before its script runs, so that the commands the
/// script calls follow it (the command itself is flagged `skip_monitor`, as in Redis).
pub fn show_to_monitors(ctx: &mut Ctx<'_>, argv: &[Bytes]) {
    if ctx.engine.monitors.is_empty() {
        return;
    }
    let source = crate::engine::monitor::Source::Client(ctx.client.addr);
    let name = String::from_utf8_lossy(&argv[0]).to_ascii_lowercase();
    ctx.engine
        .feed_monitors_always(&name, ctx.client.db, source, argv);
}

/// The Lua host's state in `engine`, made on first use.
pub fn host(engine: &mut Engine) -> &mut Scripting {
    let shared = Arc::clone(&engine.shared);
    let limit = usize::try_from(engine.config.scripting.memory_limit.0).unwrap_or(usize::MAX);
    engine
        .extensions
        .get_or_insert_with(|| match Scripting::new(shared, limit) {
            Ok(s) => s,
            // Only a failed allocation or a bug in the host's own Lua code gets here, before
            // any script is involved.
            Err(e) => panic!("{e}"),
        })
}

/// The custom commands and hooks of the Lua files (`[scripting] commands` and `hooks`).
pub fn script_files(engine: &mut Engine) -> &mut files::ScriptFiles {
    engine
        .extensions
        .get_or_insert_with(files::ScriptFiles::default)
}

/// Instructions between two runs of the count hook (Redis uses the same period).
const HOOK_PERIOD: u32 = 100_000;

/// How long a library's top-level code may run in FUNCTION LOAD (Redis's 500 ms).
pub const LOAD_TIMEOUT: Duration = Duration::from_millis(500);

/// The chunk name of the host's own Lua code; frames from it are skipped when an error's
/// position is reported.
const INTERNAL: &str = "=respite";

/// Script flags (`#!lua flags=...`, `redis.register_function{flags=...}`).
pub mod script_flags {
    /// `no-writes`: the script may not call write commands.
    pub const NO_WRITES: u32 = 1 << 0;
    /// `allow-oom`.
    pub const ALLOW_OOM: u32 = 1 << 1;
    /// `allow-stale`.
    pub const ALLOW_STALE: u32 = 1 << 2;
    /// `no-cluster`.
    pub const NO_CLUSTER: u32 = 1 << 3;
    /// `allow-cross-slot-keys`.
    pub const ALLOW_CROSS_SLOT: u32 = 1 << 4;
    /// An EVAL script without a shebang line (Redis's compatibility mode).
    pub const EVAL_COMPAT: u32 = 1 << 5;

    /// Names as Redis spells them, for parsing and FUNCTION LIST.
    pub const NAMES: &[(u32, &str)] = &[
        (NO_WRITES, "no-writes"),
        (ALLOW_OOM, "allow-oom"),
        (ALLOW_STALE, "allow-stale"),
        (NO_CLUSTER, "no-cluster"),
        (ALLOW_CROSS_SLOT, "allow-cross-slot-keys"),
    ];

    /// The flag called `name`.
    pub fn parse(name: &[u8]) -> Option<u32> {
        NAMES
            .iter()
            .find(|(_, n)| n.as_bytes() == name)
            .map(|(f, _)| *f)
    }
}

/// Errors building the Lua state.
#[derive(Debug, thiserror::Error)]
pub enum LuaHostError {
    /// mlua refused a setup step.
    #[error("cannot set up the Lua state: {0}")]
    Setup(#[from] mlua::Error),
}

/// A script in the EVAL cache: its source and compiled function.
pub struct Script {
    /// Lower-case hex SHA-1 of the body.
    pub sha: String,
    /// The compiled chunk.
    pub func: Function,
    /// [`script_flags`] from its shebang line.
    pub flags: u32,
}

/// Who is running, for error messages and the busy machinery.
#[derive(Clone, Copy, Debug)]
pub enum Caller<'a> {
    /// An EVAL-family script, named by its SHA-1.
    Eval(&'a str),
    /// A function or a script-defined command, named by its name.
    Function(&'a str),
}

impl Caller<'_> {
    fn name(&self) -> &str {
        match self {
            Caller::Eval(n) | Caller::Function(n) => n,
        }
    }
}

/// How keys and arguments reach the Lua code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgStyle {
    /// As the `KEYS` and `ARGV` globals (EVAL).
    Globals,
    /// As the function's two parameters `(keys, args)` (FCALL, script commands).
    Params,
}

/// One invocation of Lua code for [`run`].
pub struct Invocation<'a> {
    /// What to call.
    pub func: &'a Function,
    /// Key names.
    pub keys: &'a [Bytes],
    /// Other arguments.
    pub args: &'a [Bytes],
    /// Who runs (error messages, SCRIPT KILL vs FUNCTION KILL).
    pub caller: Caller<'a>,
    /// Refuse write commands (EVAL_RO, FCALL_RO, `no-writes`).
    pub read_only: bool,
    /// `allow-oom`: `denyoom` commands run even over `maxmemory`.
    pub allow_oom: bool,
    /// How `keys` and `args` are passed.
    pub style: ArgStyle,
}

/// One running invocation, innermost last (a script may call a command written in Lua).
struct Frame {
    /// The command context of the invocation; valid while the frame is on the stack, which
    /// [`run`] guarantees by popping it before returning.
    ctx: *mut Ctx<'static>,
    read_only: bool,
    /// `allow-oom` (see [`Invocation::allow_oom`]).
    allow_oom: bool,
    resp: Protocol,
}

/// Per-state data the Rust callbacks and the hook read (mlua app data).
pub(crate) struct HostState {
    frames: Vec<Frame>,
    /// When the outermost invocation started.
    started: Option<Instant>,
    threshold: Duration,
    shared: Arc<SharedState>,
    /// Deadline of a library's load (FUNCTION LOAD), when one runs.
    load_deadline: Option<Instant>,
    /// Functions registered by the library being loaded.
    pub(crate) registering: Option<Vec<Registered>>,
    /// The hook runs on every instruction (a kill is under way).
    every_instruction: bool,
}

// SAFETY: the raw context pointers are only dereferenced on the executor thread, while the
// invocation that pushed them is running; the state never leaves the Lua state that owns it.
unsafe impl Send for HostState {}

/// A function a library registered while loading.
pub struct Registered {
    /// Its name.
    pub name: String,
    /// The callback.
    pub func: Function,
    /// [`script_flags`].
    pub flags: u32,
    /// Its description, if given.
    pub description: Option<String>,
}

/// The scripting state the engine owns.
pub struct Scripting {
    lua: Lua,
    runner: Function,
    /// The read-only view of the globals that scripts run in.
    env: Table,
    /// Makes another read-only view over `env` (one per function library).
    new_env: Function,
    scripts: HashMap<String, Arc<Script>, ahash::RandomState>,
    /// The function libraries (FUNCTION LOAD).
    pub functions: functions::Libraries,
}

/// Host-side Lua: the error handler, the runner, the `redis.call` wrapper and the sandbox.
const BOOTSTRAP: &str = r#"
local rust = ...
local getinfo, type, tostring, error, xpcall = debug.getinfo, type, tostring, error, xpcall
local setmetatable, setfenv, rawset, rawequal = setmetatable, setfenv, rawset, rawequal
local loadstring, sub, concat = loadstring, string.sub, table.concat
local normalize = rust.normalize
local G = _G

local function handler(err)
  local level, info = 2, nil
  while true do
    info = getinfo(level, 'Sl')
    if info == nil or (info.what ~= 'C' and info.source ~= '=respite') then break end
    level = level + 1
  end
  if type(err) == 'userdata' then
    err = {err = normalize(err)}
  elseif type(err) ~= 'table' then
    err = {err = 'ERR ' .. tostring(err)}
  end
  if info then
    err['source'] = info.source
    err['line'] = info.currentline
  end
  return err
end

local function run(f, keys, args, params)
  if params then
    return xpcall(function() return f(keys, args) end, handler)
  end
  return xpcall(f, handler)
end

-- Read-only views: a write to one fails as in Redis; a read of a missing global too.
local protected = setmetatable({}, {__mode = 'k'})
local function readonly_error() error('Attempt to modify a readonly table', 2) end
local function readonly(t)
  local view = setmetatable({}, {__index = t, __newindex = readonly_error, __metatable = false})
  protected[view] = true
  return view
end

G.rawset = function(t, k, v)
  if protected[t] then error('Attempt to modify a readonly table', 2) end
  return rawset(t, k, v)
end

for _, name in ipairs({'io', 'os', 'require', 'loadfile', 'dofile', 'debug', 'print',
                       'module', 'package', 'getfenv', 'setfenv', 'newproxy'}) do
  G[name] = nil
end
for name, value in pairs(G) do
  if type(value) == 'table' and not rawequal(value, G) then
    G[name] = readonly(value)
  end
end

local env = readonly(G)
G._G = env
local function missing_global(_, k)
  error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
end
setmetatable(G, {__index = missing_global, __newindex = readonly_error, __metatable = false})
-- Code compiled by a script runs in the same read-only view, and never from bytecode.
local function safe_loadstring(s, name)
  if type(s) == 'string' and sub(s, 1, 1) == '\27' then return nil, 'bytecode is not allowed' end
  local f, e = loadstring(s, name)
  if f then setfenv(f, env) end
  return f, e
end
G.loadstring = safe_loadstring
G.load = function(reader, name)
  if type(reader) ~= 'function' then
    error("bad argument #1 to 'load' (function expected, got " .. type(reader) .. ")", 2)
  end
  local parts = {}
  while true do
    local piece = reader()
    if piece == nil or piece == '' then break end
    if type(piece) ~= 'string' then return nil, 'reader function must return a string' end
    parts[#parts + 1] = piece
  end
  return safe_loadstring(concat(parts), name)
end
local string_meta = getmetatable('')
if string_meta then string_meta.__metatable = false end

-- A library's environment; `redis` is the load-time table (registration only) until the
-- library has loaded, then falls through to the full one.
local function new_env(load_redis)
  setmetatable(load_redis, {__index = missing_global, __newindex = readonly_error, __metatable = false})
  protected[load_redis] = true
  local view = setmetatable({}, {__index = env, __newindex = readonly_error, __metatable = false})
  rawset(view, 'redis', load_redis)
  protected[view] = true
  return view
end

return run, env, new_env
"#;

impl Scripting {
    /// A new Lua state with Redis's libraries, the sandbox and the hook.
    pub fn new(shared: Arc<SharedState>, memory_limit: usize) -> Result<Self, LuaHostError> {
        let libs = StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG;
        // SAFETY: the debug library is needed by the error handler only; the bootstrap keeps
        // `debug.getinfo` in a local and removes the global before any script runs.
        let lua = unsafe { Lua::unsafe_new_with(libs, LuaOptions::default()) };
        lua.set_app_data(HostState {
            frames: Vec::new(),
            started: None,
            threshold: Duration::from_secs(5),
            shared,
            load_deadline: None,
            registering: None,
            every_instruction: false,
        });
        api::install(&lua)?;
        libs::load(&lua)?;
        let rust = lua.create_table()?;
        rust.raw_set("normalize", lua.create_function(api::normalize_error)?)?;
        let (runner, env, new_env): (Function, Table, Function) =
            lua.load(BOOTSTRAP).set_name(INTERNAL).call(rust)?;
        lua.set_global_hook(HookTriggers::new().every_nth_instruction(HOOK_PERIOD), hook)?;
        if memory_limit > 0 {
            lua.set_memory_limit(lua.used_memory().saturating_add(memory_limit))?;
        }
        Ok(Scripting {
            lua,
            runner,
            env,
            new_env,
            scripts: HashMap::default(),
            functions: functions::Libraries::default(),
        })
    }

    /// Compiles `code` as chunk `name` (`@user_script`, `@user_function`) in the scripts'
    /// read-only environment, as text only.
    pub fn compile(&self, code: &[u8], name: &str) -> mlua::Result<Function> {
        self.compile_in(code, name, self.env.clone())
    }

    /// [`Self::compile`] in another environment (a library's, from [`Self::child_env`]).
    pub fn compile_in(&self, code: &[u8], name: &str, env: Table) -> mlua::Result<Function> {
        self.lua
            .load(code)
            .set_name(name)
            .set_mode(mlua::ChunkMode::Text)
            .set_environment(env)
            .into_function()
    }

    /// A new read-only environment whose reads fall through to the scripts' one (each
    /// function library gets its own), with `load_redis` as its `redis` until that field is
    /// cleared.
    pub fn child_env(&self, load_redis: Table) -> mlua::Result<Table> {
        self.new_env.call(load_redis)
    }

    /// The cached script with this SHA-1 (lower-case hex).
    pub fn script(&self, sha: &str) -> Option<Arc<Script>> {
        self.scripts.get(sha).cloned()
    }

    /// Adds `body` to the cache (compiling it once), or returns the cached script; the error
    /// is Redis's reply.
    pub fn load_script(&mut self, body: &[u8]) -> Result<Arc<Script>, Reply> {
        let sha = sha1_hex(body);
        if let Some(s) = self.scripts.get(&sha) {
            return Ok(Arc::clone(s));
        }
        let (flags, code) = eval_shebang(body)?;
        let func = self.compile(code, "@user_script").or_else(|e| match e {
            mlua::Error::MemoryError(_) => {
                let _ = self.lua.gc_collect();
                self.compile(code, "@user_script")
            }
            e => Err(e),
        });
        let func = func.map_err(|e| {
            Reply::Error(
                format!(
                    "ERR Error compiling script (new function): {}",
                    syntax_text(&e)
                )
                .into(),
            )
        })?;
        let script = Arc::new(Script {
            sha: sha.clone(),
            func,
            flags,
        });
        self.scripts.insert(sha, Arc::clone(&script));
        Ok(script)
    }

    /// SCRIPT FLUSH: forgets every cached script.
    pub fn flush_scripts(&mut self) {
        self.scripts.clear();
        // The compiled functions are garbage now; give the memory back.
        let _ = self.lua.gc_collect();
    }

    /// Number of cached scripts (INFO).
    pub fn script_count(&self) -> usize {
        self.scripts.len()
    }

    /// Bytes the Lua state uses (INFO `used_memory_lua`).
    pub fn used_memory(&self) -> usize {
        self.lua.used_memory()
    }

    /// Runs a library's top-level code (FUNCTION LOAD) with its load timeout, collecting the
    /// functions it registers with `redis.register_function`.
    pub fn load_library(&self, func: &Function) -> Result<Vec<Registered>, String> {
        {
            let mut state = host_state(&self.lua);
            state.load_deadline = Some(Instant::now() + LOAD_TIMEOUT);
            state.registering = Some(Vec::new());
        }
        let result =
            self.runner
                .call::<(bool, Value)>((func.clone(), Value::Nil, Value::Nil, false));
        let registered = {
            let mut state = host_state(&self.lua);
            state.load_deadline = None;
            state.registering.take().unwrap_or_default()
        };
        match result {
            Ok((true, _)) => Ok(registered),
            Ok((false, err)) => Err(error_message(&err)),
            Err(e) => Err(api::error_text(&e)),
        }
    }
}

/// The host state; present from [`Scripting::new`] on.
fn host_state(lua: &Lua) -> mlua::AppDataRefMut<'_, HostState> {
    match lua.app_data_mut::<HostState>() {
        Some(s) => s,
        // Installed before any Lua code can run; its absence is a bug in this module.
        None => unreachable!("Lua host state missing"),
    }
}

/// The count hook: marks the server busy past the threshold (waking the clients queued
/// behind the script so they answer `-BUSY`), stops a killed script, and bounds library
/// loading.
fn hook(lua: &Lua, debug: &mlua::Debug<'_>) -> mlua::Result<VmState> {
    let mut state = host_state(lua);
    if let Some(deadline) = state.load_deadline {
        if Instant::now() > deadline {
            return Err(mlua::Error::RuntimeError("FUNCTION LOAD timeout".into()));
        }
        return Ok(VmState::Continue);
    }
    let Some(started) = state.started else {
        return Ok(VmState::Continue);
    };
    let shared = Arc::clone(&state.shared);
    let gate = &shared.scripts;
    if !gate.is_busy() && started.elapsed() >= state.threshold && gate.set_busy() {
        tracing::warn!(
            "a script has been running for more than {} ms; other clients get -BUSY",
            state.threshold.as_millis()
        );
        gate.wake_waiting();
        if let Some(ctx) = state.frames.last().map(|f| f.ctx) {
            drop(state);
            // SAFETY: see `Frame::ctx`; the invocation is suspended in Lua, and only the
            // held replies are touched.
            let engine: &mut Engine = unsafe { &mut *(*ctx).engine };
            engine.release_unwritten();
            state = host_state(lua);
        }
        drop(state);
        if let Some(hand_off) = shared.on_busy.get() {
            hand_off(&shared);
        }
        state = host_state(lua);
    }
    if gate.kill_requested() {
        if debug.source().source.as_deref() == Some(INTERNAL) {
            // The host's own code (the error handler reporting the kill) must finish.
            return Ok(VmState::Continue);
        }
        if !state.every_instruction {
            // From now on every instruction fails, so that a script that catches the error
            // with pcall cannot go on (Redis does the same).
            state.every_instruction = true;
            drop(state);
            lua.set_global_hook(HookTriggers::new().every_nth_instruction(1), hook)?;
        }
        return Err(mlua::Error::RuntimeError(gate::KILLED.into()));
    }
    Ok(VmState::Continue)
}

/// Runs Lua code as a command: binds `redis.call` to `ctx`, passes keys and arguments, applies
/// the read-only rule, the busy threshold and the kill switch, and converts the result or the
/// error as Redis does. EVAL, FCALL and script-defined commands all come through here.
pub fn run(ctx: &mut Ctx<'_>, inv: Invocation<'_>) -> Reply {
    let lua = host(ctx.engine).lua.clone();
    let runner = host(ctx.engine).runner.clone();
    let saved_protocol = ctx.client.protocol;
    let saved_db = ctx.client.db;
    let saved_in_script = ctx.engine.in_script;
    ctx.client.protocol = Protocol::Resp2;
    ctx.engine.in_script = true;
    let threshold = Duration::from_millis(ctx.engine.config.scripting.busy_reply_threshold);
    let shared = Arc::clone(&ctx.engine.shared);
    let top = {
        let mut state = host_state(&lua);
        let top = state.frames.is_empty();
        if top {
            state.started = Some(Instant::now());
            state.threshold = threshold;
            shared
                .scripts
                .enter(matches!(inv.caller, Caller::Function(_)));
        }
        let read_only = inv.read_only || state.frames.last().is_some_and(|f| f.read_only);
        let allow_oom = inv.allow_oom || state.frames.last().is_some_and(|f| f.allow_oom);
        state.frames.push(Frame {
            ctx: std::ptr::from_mut(ctx).cast::<Ctx<'static>>(),
            read_only,
            allow_oom,
            resp: Protocol::Resp2,
        });
        top
    };
    let result = call_runner(&lua, &runner, &inv);
    let (resp, killed) = {
        let mut state = host_state(&lua);
        let frame = state.frames.pop();
        let killed = top && shared.scripts.kill_requested();
        let reset_hook = top && std::mem::take(&mut state.every_instruction);
        if top {
            state.started = None;
            shared.scripts.leave();
        }
        drop(state);
        if reset_hook {
            let _ =
                lua.set_global_hook(HookTriggers::new().every_nth_instruction(HOOK_PERIOD), hook);
        }
        (frame.map_or(Protocol::Resp2, |f| f.resp), killed)
    };
    ctx.client.protocol = saved_protocol;
    ctx.client.db = saved_db;
    ctx.engine.in_script = saved_in_script;
    if !matches!(result, Ok((true, _))) && top {
        // Lua 5.1 has no emergency collection: the garbage of a script that ran out of
        // memory would keep the next ones from allocating.
        let _ = lua.gc_collect();
    }
    match result {
        Ok((true, value)) => convert::lua_to_reply(&value, resp),
        Ok((false, err)) => {
            let mut msg = error_message(&err);
            if killed && !msg.starts_with(gate::KILLED) {
                // The script caught the kill error with pcall; it still ends as killed.
                msg = gate::KILLED.to_string();
            }
            if let Value::Table(t) = &err {
                if let (Ok(Value::String(source)), Ok(line)) =
                    (t.raw_get::<Value>("source"), t.raw_get::<i64>("line"))
                {
                    if line >= 0 {
                        msg.push_str(&format!(
                            " script: {}, on {}:{}.",
                            inv.caller.name(),
                            source.to_string_lossy(),
                            line
                        ));
                    }
                }
            }
            Reply::Error(msg.into())
        }
        Err(e) => Reply::Error(format!("ERR Error running script: {}", api::error_text(&e)).into()),
    }
}

/// Calls the runner with the function, keys and arguments in one protected call: mlua
/// protects each API call of its own on Lua 5.1, and building the tables value by value cost
/// more than the rest of a small script.
fn call_runner(lua: &Lua, runner: &Function, inv: &Invocation<'_>) -> mlua::Result<(bool, Value)> {
    use mlua::ffi;
    unsafe fn push_list(state: *mut ffi::lua_State, items: &[Bytes]) {
        ffi::lua_createtable(state, items.len().min(i32::MAX as usize) as i32, 0);
        for (i, item) in items.iter().enumerate() {
            ffi::lua_pushlstring(state, item.as_ptr().cast(), item.len());
            // Argument counts stay far below i32::MAX (the protocol limits them).
            ffi::lua_rawseti_(state, -2, (i + 1) as std::os::raw::c_int);
        }
    }
    let params = inv.style == ArgStyle::Params;
    // SAFETY: plain Lua C API use on the stack exec_raw hands over (runner and function
    // pushed), inside its protected call; no value with a destructor lives in the closure, so
    // a Lua error unwinding through it skips nothing.
    unsafe {
        lua.exec_raw((runner, inv.func), |state| {
            ffi::luaL_checkstack(state, 8, std::ptr::null());
            if params {
                push_list(state, inv.keys);
                push_list(state, inv.args);
            } else {
                ffi::lua_pushstring(state, c"KEYS".as_ptr());
                push_list(state, inv.keys);
                ffi::lua_rawset(state, ffi::LUA_GLOBALSINDEX);
                ffi::lua_pushstring(state, c"ARGV".as_ptr());
                push_list(state, inv.args);
                ffi::lua_rawset(state, ffi::LUA_GLOBALSINDEX);
                ffi::lua_pushnil(state);
                ffi::lua_pushnil(state);
            }
            ffi::lua_pushboolean(state, params as i32);
            ffi::lua_call(state, 4, 2);
        })
    }
}

/// The message of an error value the handler produced (`{err = ...}`), or of a raw one.
fn error_message(err: &Value) -> String {
    match err {
        Value::Table(t) => match t.raw_get::<Value>("err") {
            Ok(Value::String(s)) => {
                let text = s.to_string_lossy();
                text.strip_prefix('-').unwrap_or(&text).to_string()
            }
            _ => "ERR unknown error".into(),
        },
        Value::String(s) if &*s.as_bytes() == b"not enough memory" => {
            "ERR Lua script exceeded its memory limit (scripting.memory_limit)".into()
        }
        Value::String(s) => format!("ERR {}", s.to_string_lossy()),
        Value::Error(e) => api::error_text(e),
        _ => "ERR unknown error".into(),
    }
}

/// The text of a compile error, as Lua prints it (`user_script:1: '=' expected near '1'`).
pub fn syntax_text(e: &mlua::Error) -> String {
    match e {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        other => api::error_text(other),
    }
}

/// Lower-case hex SHA-1, as SCRIPT LOAD returns and `redis.sha1hex` computes.
pub fn sha1_hex(data: &[u8]) -> String {
    sha1_smol::Sha1::from(data).digest().to_string()
}

/// Splits an EVAL body into its `#!lua` flags and the code to compile (the shebang line is
/// left out but its line break kept, so line numbers match the source).
pub fn eval_shebang(body: &[u8]) -> Result<(u32, &[u8]), Reply> {
    if !body.starts_with(b"#!") {
        return Ok((script_flags::EVAL_COMPAT, body));
    }
    let end = memchr::memchr(b'\n', body).unwrap_or(body.len());
    let line = &body[..end];
    let mut parts = line.split(|&b| b == b' ').filter(|p| !p.is_empty());
    let engine = parts.next().unwrap_or_default();
    if engine != b"#!lua" {
        return Err(Reply::Error(
            format!(
                "ERR Unexpected engine in script shebang: {}",
                String::from_utf8_lossy(&engine[2..])
            )
            .into(),
        ));
    }
    let mut flags = 0;
    for part in parts {
        let Some(list) = part.strip_prefix(b"flags=") else {
            return Err(Reply::Error(
                format!(
                    "ERR Unknown lua shebang option: {}",
                    String::from_utf8_lossy(part)
                )
                .into(),
            ));
        };
        for flag in list.split(|&b| b == b',').filter(|f| !f.is_empty()) {
            match script_flags::parse(flag) {
                Some(f) => flags |= f,
                None => {
                    return Err(Reply::Error(
                        format!(
                            "ERR Unexpected flag in script shebang: {}",
                            String::from_utf8_lossy(flag)
                        )
                        .into(),
                    ))
                }
            }
        }
    }
    Ok((flags, &body[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebang_lines() {
        assert_eq!(
            eval_shebang(b"return 1").map(|(f, c)| (f, c.to_vec())),
            Ok((script_flags::EVAL_COMPAT, b"return 1".to_vec()))
        );
        assert_eq!(
            eval_shebang(b"#!lua flags=no-writes,allow-oom\nreturn 1")
                .map(|(f, c)| (f, c.to_vec())),
            Ok((
                script_flags::NO_WRITES | script_flags::ALLOW_OOM,
                b"\nreturn 1".to_vec()
            ))
        );
        assert_eq!(
            eval_shebang(b"#!lua name=x\nreturn 1").map(|(f, _)| f),
            Err(Reply::error("ERR Unknown lua shebang option: name=x"))
        );
        assert_eq!(
            eval_shebang(b"#!lua flags=bogus\n").map(|(f, _)| f),
            Err(Reply::error("ERR Unexpected flag in script shebang: bogus"))
        );
        assert_eq!(sha1_hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    }
}
