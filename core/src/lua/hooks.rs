//! Key-event hooks written in Lua: `respite.on_key_event{...}` in a script file runs a handler
//! for every event of the given names on keys matching a glob, after the command that caused
//! it and inside the same atomic step (delivered by the key-event bus, [`crate::events`]).
//!
//! ```lua
//! respite.on_key_event{
//!   events = {"set", "del"},   -- Redis's keyspace event names; absent: every write event
//!   pattern = "user:*",        -- glob on the key (KEYS syntax); absent: every key
//!   name = "audit",            -- for logs and errors; absent: file:line
//!   handler = function(event, key, db) ... end,
//! }
//! ```
//!
//! All hooks share one bus subscription, so the writes a hook makes never reach any hook
//! (its own or another's), which rules out loops between hooks; they do reach keyspace
//! notifications, plugins and blocked clients. A hook's error is logged and counted (INFO
//! `respite_lua_hook_errors`) and never changes the reply of the client's command; a hook that
//! runs past `busy-reply-threshold` makes the server busy like a script, and FUNCTION KILL
//! stops it.

use std::sync::Arc;

use bytes::Bytes;
use mlua::{Function, Lua, Table, Value};

use super::commands::caller_line;
use super::files::file_load;
use super::{ArgStyle, Caller, Invocation, INTERNAL};
use crate::engine::client::{ClientShared, ClientState};
use crate::engine::{Ctx, Engine};
use crate::events::{class, KeyEvent};
use crate::glob::glob_match;
use crate::keyspace::now_ms;
use crate::lua::script_files;
use crate::protocol::Reply;

/// Classes of the events a hook gets when it names no event, or names one that is not a read
/// miss or a key creation: every class of write (the bus matches by class; the names are
/// matched here).
const WRITE_CLASSES: u16 = class::ALL & !(class::KEY_MISS | class::NEW);

/// One hook.
pub(super) struct Hook {
    /// For logs and error messages.
    pub(super) name: String,
    /// Event names to run for; empty = every event of [`Self::classes`].
    events: Vec<String>,
    /// Glob on the key; `None` = every key.
    pattern: Option<Bytes>,
    /// Bus classes the hook needs.
    pub(super) classes: u16,
    /// `function(keys, args)` calling the file's `handler(event, key, db)`.
    func: Function,
}

impl Hook {
    fn wants(&self, e: &KeyEvent) -> bool {
        self.classes & e.class != 0
            && (self.events.is_empty() || self.events.iter().any(|n| n == e.event))
            && self
                .pattern
                .as_ref()
                .is_none_or(|p| glob_match(p, &e.key, false))
    }
}

fn bad(msg: impl Into<String>) -> mlua::Error {
    mlua::Error::RuntimeError(msg.into())
}

/// Adapts `handler(event, key, db)` to the host's `(keys, args)` calling style; compiled as
/// the host's own code, so that errors point at the handler's line, not here.
const ADAPTER: &str = r#"
local handler, tonumber = ...
return function(keys, args) return handler(args[1], keys[1], tonumber(args[2])) end
"#;

/// `respite.on_key_event{...}`.
pub(super) fn on_key_event(lua: &Lua, spec: Value) -> mlua::Result<()> {
    let Value::Table(spec) = spec else {
        return Err(bad(
            "respite.on_key_event takes one table: {events=..., pattern=..., handler=...}",
        ));
    };
    let (name, events, pattern, handler) = parse(&spec)?;
    let func: Function = lua
        .load(ADAPTER)
        .set_name(INTERNAL)
        .call((handler, lua.globals().raw_get::<Function>("tonumber")?))?;
    let classes = if events.is_empty() {
        WRITE_CLASSES
    } else {
        events.iter().fold(0, |m, e| {
            m | match e.as_str() {
                "keymiss" => class::KEY_MISS,
                "new" => class::NEW,
                _ => WRITE_CLASSES,
            }
        })
    };
    let line = caller_line(lua);
    let mut load = file_load(lua, "on_key_event")?;
    let name = name.unwrap_or_else(|| format!("{}:{line}", load.path));
    load.staged.hooks.push(Hook {
        name,
        events,
        pattern,
        classes,
        func,
    });
    load.registered_here += 1;
    Ok(())
}

#[allow(clippy::type_complexity)]
fn parse(spec: &Table) -> mlua::Result<(Option<String>, Vec<String>, Option<Bytes>, Function)> {
    let mut name = None;
    let mut events = Vec::new();
    let mut pattern = None;
    let mut handler = None;
    for pair in spec.pairs::<Value, Value>() {
        let (k, v) = pair?;
        let Value::String(k) = k else {
            return Err(bad("respite.on_key_event: field names must be strings"));
        };
        match &*k.to_string_lossy() {
            "name" => match v {
                Value::String(s) => name = Some(s.to_string_lossy()),
                _ => return Err(bad("respite.on_key_event: 'name' must be a string")),
            },
            "events" => {
                let list = match v {
                    Value::Table(t) => t,
                    _ => {
                        return Err(bad(
                            "respite.on_key_event: 'events' must be a list of event names, \
                             e.g. {\"set\", \"del\"}",
                        ))
                    }
                };
                for item in list.sequence_values::<Value>() {
                    let Value::String(s) = item? else {
                        return Err(bad("respite.on_key_event: 'events' must hold strings"));
                    };
                    let event = s.to_string_lossy();
                    let valid = !event.is_empty()
                        && event
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'-');
                    if !valid {
                        return Err(bad(format!(
                            "respite.on_key_event: '{event}' is not an event name (Redis's \
                             keyspace event names: set, del, expired, lpush, hset, ...)"
                        )));
                    }
                    events.push(event);
                }
            }
            "pattern" => match v {
                Value::String(s) => pattern = Some(Bytes::copy_from_slice(&s.as_bytes())),
                _ => return Err(bad("respite.on_key_event: 'pattern' must be a string")),
            },
            "handler" => match v {
                Value::Function(f) => handler = Some(f),
                _ => return Err(bad("respite.on_key_event: 'handler' must be a function")),
            },
            other => {
                return Err(bad(format!(
                    "respite.on_key_event: unknown field '{other}' (expected events, pattern, \
                     name, handler)"
                )))
            }
        }
    }
    let Some(handler) = handler else {
        return Err(bad("respite.on_key_event: 'handler' is missing"));
    };
    Ok((name, events, pattern, handler))
}

/// The bus handler: runs every matching hook for each event, in order.
pub(super) fn deliver(engine: &mut Engine, events: &[KeyEvent]) {
    let hooks = Arc::clone(&script_files(engine).hooks);
    let mut client = script_files(engine)
        .hook_client
        .take()
        .unwrap_or_else(hook_client);
    for event in events {
        for hook in hooks.iter().filter(|h| h.wants(event)) {
            client.db = event.db;
            let keys = [event.key.clone()];
            let args = [
                Bytes::from_static(event.event.as_bytes()),
                Bytes::from(event.db.to_string()),
            ];
            let reply = {
                let mut ctx = Ctx {
                    engine: &mut *engine,
                    client: &mut client,
                    now: now_ms(),
                };
                super::run(
                    &mut ctx,
                    Invocation {
                        func: &hook.func,
                        keys: &keys,
                        args: &args,
                        caller: Caller::Function(&hook.name),
                        read_only: false,
                        // A hook follows a command that was already let through.
                        allow_oom: true,
                        style: ArgStyle::Params,
                    },
                )
            };
            let stats = script_files(engine);
            stats.hook_calls += 1;
            if let Reply::Error(msg) = reply {
                stats.hook_errors += 1;
                tracing::warn!(
                    hook = %hook.name,
                    event = event.event,
                    key = %String::from_utf8_lossy(&event.key),
                    error = %msg,
                    "Lua key-event hook failed; the command that caused the event is unaffected"
                );
            }
        }
    }
    script_files(engine).hook_client = Some(client);
}

/// The client hooks run as: authenticated, in no transaction, not listed by CLIENT LIST.
fn hook_client() -> Box<ClientState> {
    let nowhere = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
    Box::new(ClientState::new(
        0,
        nowhere,
        nowhere,
        true,
        Arc::new(ClientShared::new(true)),
    ))
}
