//! Script files: the Lua files listed in `[scripting] commands` and `hooks`, which register
//! custom commands ([`super::commands`]) and key-event hooks ([`super::hooks`]) through the
//! `respite` table their top-level code sees.
//!
//! Loading is all-or-nothing: every file is compiled and run into a staging set, names are
//! checked against the built-in and plugin commands and each other, and only then does the
//! set replace the previous one (at start-up the previous one is empty). A failure at start-up
//! stops the server; a failure in SCRIPT RELOAD leaves the loaded set as it was and answers
//! the error. Relative paths start from the working directory, as `storage.path` and
//! `[[plugins.load]] path` do.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use mlua::{Function, Lua, Table, Value};

use super::commands::{self, ScriptCommand};
use super::hooks::{self, Hook};
use super::{host_state, Scripting, LOAD_TIMEOUT};
use crate::engine::client::ClientState;
use crate::engine::Engine;
use crate::engine::SubscriptionId;
use crate::lua::{host, script_files};

/// Why the script files could not be loaded: the file, and where in it, with Lua's message.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ScriptFileError(pub String);

/// The loaded script files' commands and hooks, and the hooks' counters (INFO).
#[derive(Default)]
pub struct ScriptFiles {
    /// Names of the commands the files registered (they live in the command table).
    commands: Vec<String>,
    /// The hooks, in load order; shared so the bus handler can run them while the engine is
    /// borrowed.
    pub(super) hooks: Arc<[Hook]>,
    /// The bus subscription that runs the hooks (one for all of them, so that the writes of
    /// one hook are never delivered to another).
    subscription: Option<SubscriptionId>,
    /// The client hooks run their `redis.call`s as (created on first use).
    pub(super) hook_client: Option<Box<ClientState>>,
    /// Hook invocations since start.
    pub hook_calls: u64,
    /// Hook invocations that ended with an error (logged, never failing the client's command).
    pub hook_errors: u64,
}

impl ScriptFiles {
    /// Number of custom commands loaded.
    pub fn command_count(&self) -> usize {
        self.commands.len()
    }

    /// Number of hooks loaded.
    pub fn hook_count(&self) -> usize {
        self.hooks.len()
    }
}

/// What the files registered, before it replaces the loaded set.
#[derive(Default)]
pub(super) struct Staged {
    pub(super) commands: Vec<ScriptCommand>,
    pub(super) hooks: Vec<Hook>,
}

/// Present as Lua app data while one file's top-level code runs: what `respite.*` calls
/// register into, and what they check names against.
pub(super) struct FileLoad {
    /// The file, as configured (for messages).
    pub(super) path: String,
    /// Commands that script files may not take: name -> who owns it.
    pub(super) reserved: Arc<HashMap<String, String>>,
    /// Where each command registered so far in this load came from (`file:line`).
    pub(super) seen: HashMap<String, String>,
    /// Registrations of every file loaded so far.
    pub(super) staged: Staged,
    /// Registrations of this file alone (a file that registers nothing is an error).
    pub(super) registered_here: usize,
}

/// Loads the files of `[scripting] commands` and `hooks` at start-up (after the plugins, so
/// that a clash with a plugin command is found).
pub fn load_configured(engine: &mut Engine) -> Result<(), ScriptFileError> {
    if engine.config.scripting.commands.is_empty() && engine.config.scripting.hooks.is_empty() {
        return Ok(());
    }
    let staged = stage(engine).map_err(ScriptFileError)?;
    let (c, h) = install(engine, staged);
    tracing::info!(commands = c, hooks = h, "Lua script files loaded");
    Ok(())
}

/// SCRIPT RELOAD: loads every configured file again and swaps the new commands and hooks in
/// atomically; on error nothing changes. Returns the counts of commands and hooks.
pub fn reload(engine: &mut Engine) -> Result<(usize, usize), ScriptFileError> {
    let staged = stage(engine).map_err(ScriptFileError)?;
    let counts = install(engine, staged);
    tracing::info!(
        commands = counts.0,
        hooks = counts.1,
        "Lua script files reloaded"
    );
    Ok(counts)
}

/// Every command name script files may not use, with its owner for the message: built-ins
/// and plugin commands (the files' own current commands are about to be replaced).
fn reserved_names(engine: &Engine) -> HashMap<String, String> {
    let no_files = Vec::new();
    let own = engine
        .extensions
        .get::<ScriptFiles>()
        .map_or(&no_files, |f| &f.commands);
    engine
        .commands
        .iter_sorted()
        .into_iter()
        .filter(|c| !own.contains(&c.name))
        .map(|c| {
            let owner = match &c.provider {
                Some(p) => format!("a command of plugin '{p}'"),
                None => "a built-in command".to_string(),
            };
            (c.name.clone(), owner)
        })
        .collect()
}

fn stage(engine: &mut Engine) -> Result<Staged, String> {
    let paths: Vec<String> = engine
        .config
        .scripting
        .commands
        .iter()
        .chain(engine.config.scripting.hooks.iter())
        .cloned()
        .collect();
    let reserved = Arc::new(reserved_names(engine));
    let scripting = host(engine);
    let mut load = FileLoad {
        path: String::new(),
        reserved,
        seen: HashMap::new(),
        staged: Staged::default(),
        registered_here: 0,
    };
    for path in paths {
        load.path = path;
        load.registered_here = 0;
        load = load_file(scripting, load)?;
    }
    Ok(load.staged)
}

/// Runs one file's top-level code with the `respite` table in its environment.
fn load_file(scripting: &Scripting, load: FileLoad) -> Result<FileLoad, String> {
    let path = load.path.clone();
    let code = std::fs::read(&path).map_err(|e| format!("{path}: cannot read the file: {e}"))?;
    let lua = &scripting.lua;
    let setup = || -> mlua::Result<Function> {
        let env = file_env(scripting)?;
        lua.load(&code[..])
            .set_name(format!("@{path}"))
            .set_mode(mlua::ChunkMode::Text)
            .set_environment(env)
            .into_function()
    };
    let func = setup().map_err(|e| match e {
        mlua::Error::SyntaxError { message, .. } => message,
        other => format!("{path}: {}", strip_code(&super::api::error_text(&other))),
    })?;
    lua.set_app_data(load);
    host_state(lua).load_deadline = Some(Instant::now() + LOAD_TIMEOUT);
    let result = scripting
        .runner
        .call::<(bool, Value)>((func, Value::Nil, Value::Nil, false));
    host_state(lua).load_deadline = None;
    let Some(load) = lua.remove_app_data::<FileLoad>() else {
        return Err(format!("{path}: the file's loading state was lost"));
    };
    let failed = |detail: String| {
        // The half-loaded file's garbage must not count against the next scripts' memory.
        let _ = lua.gc_collect();
        Err(detail)
    };
    match result {
        Ok((true, _)) if load.registered_here == 0 => failed(format!(
            "{path}: registers nothing (call respite.register_command or respite.on_key_event)"
        )),
        Ok((true, _)) => Ok(load),
        Ok((false, err)) => failed(load_error(&path, &err)),
        Err(e) => failed(format!(
            "{path}: {}",
            strip_code(&super::api::error_text(&e))
        )),
    }
}

/// `file:line: message` for an error raised while a file loads.
fn load_error(path: &str, err: &Value) -> String {
    let mut msg = strip_code(&super::error_message(err)).to_string();
    if msg.contains("FUNCTION LOAD timeout") {
        msg = format!(
            "its top-level code ran longer than {} ms (an endless loop?)",
            LOAD_TIMEOUT.as_millis()
        );
    }
    if msg.starts_with(&format!("{path}:")) {
        return msg;
    }
    let line = match err {
        Value::Table(t) => t.raw_get::<i64>("line").ok().filter(|l| *l > 0),
        _ => None,
    };
    match line {
        Some(line) => format!("{path}:{line}: {msg}"),
        None => format!("{path}: {msg}"),
    }
}

/// The message without Redis's `ERR ` code, for file errors.
fn strip_code(msg: &str) -> &str {
    msg.strip_prefix("ERR ").unwrap_or(msg)
}

/// A file's environment: the scripts' read-only globals plus `respite`; a file cannot create
/// globals (helpers are `local`), so files cannot step on each other or on EVAL scripts.
fn file_env(scripting: &Scripting) -> mlua::Result<Table> {
    let lua = &scripting.lua;
    let view = lua.create_table()?;
    view.raw_set("respite", respite_table(lua)?)?;
    let meta = lua.create_table()?;
    meta.raw_set("__index", scripting.env.clone())?;
    meta.raw_set(
        "__newindex",
        lua.create_function(|_, _: mlua::MultiValue| -> mlua::Result<()> {
            Err(mlua::Error::RuntimeError(
                "Attempt to modify a readonly table".into(),
            ))
        })?,
    )?;
    meta.raw_set("__metatable", false)?;
    view.set_metatable(Some(meta))?;
    Ok(view)
}

/// The `respite` table a file sees.
fn respite_table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "register_command",
        lua.create_function(commands::register_command)?,
    )?;
    t.raw_set("on_key_event", lua.create_function(hooks::on_key_event)?)?;
    Ok(t)
}

/// The file being loaded, for the `respite.*` callbacks; an error outside loading.
pub(super) fn file_load<'a>(
    lua: &'a Lua,
    what: &str,
) -> mlua::Result<mlua::AppDataRefMut<'a, FileLoad>> {
    lua.app_data_mut::<FileLoad>().ok_or_else(|| {
        mlua::Error::RuntimeError(format!(
            "respite.{what} can only be called while a script file loads"
        ))
    })
}

/// Replaces the loaded commands and hooks with `staged` (already checked: nothing here can
/// fail but an invariant, which is logged).
fn install(engine: &mut Engine, staged: Staged) -> (usize, usize) {
    for name in std::mem::take(&mut script_files(engine).commands) {
        engine.commands.unregister(&name);
    }
    let mut names = Vec::with_capacity(staged.commands.len());
    for def in staged.commands {
        let name = def.name.clone();
        match engine.commands.register(commands::build(def)) {
            Ok(_) => names.push(name),
            Err(e) => tracing::error!(command = %name, error = %e, "script command not registered"),
        }
    }
    script_files(engine).commands = names;
    if let Some(id) = script_files(engine).subscription.take() {
        engine.events.unsubscribe(id);
    }
    let classes = staged.hooks.iter().fold(0, |m, h| m | h.classes);
    script_files(engine).hooks = staged.hooks.into();
    if !script_files(engine).hooks.is_empty() {
        let id = engine
            .events
            .subscribe(classes, None, Box::new(hooks::deliver));
        script_files(engine).subscription = Some(id);
    }
    (
        script_files(engine).commands.len(),
        script_files(engine).hooks.len(),
    )
}
