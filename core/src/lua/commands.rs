//! Custom commands written in Lua: `respite.register_command{...}` in a script file adds a row
//! to the command table like any built-in's, so COMMAND, arity checks, flags, MULTI, scripts
//! (`redis.call`) and plugins (`Ctx::call`) treat it as one. Its handler runs through
//! [`super::run`] with `(keys, args)`, under the time limit and the kill switch, read-only
//! unless the command is declared `write`.
//!
//! ```lua
//! respite.register_command{
//!   name = "ratelimit",                     -- lower-cased; letters, digits, . _ - :
//!   arity = 4,                              -- Redis's: N exactly, -N at least (name included)
//!   flags = {"write", "denyoom"},           -- see FLAGS; without "write" it may not write
//!   keys = {first = 1, last = 1, step = 1}, -- or {numkeys = 1}; absent: no keys
//!   summary = "Sliding-window rate limit",  -- COMMAND DOCS
//!   handler = function(keys, args) ... end,
//! }
//! ```

use std::sync::Arc;

use bytes::Bytes;
use mlua::{Function, Lua, Table, Value};

use super::files::file_load;
use super::{ArgStyle, Caller, Invocation};
use crate::commands::table::{flags, Command, Handler};
use crate::engine::Ctx;
use crate::protocol::Reply;

/// Flags a script command may declare, by the names COMMAND INFO prints (`-` may replace
/// `_`). Blocking, `no_auth`, `allow_busy`, `pubsub` and `movablekeys` are not offered: a Lua
/// handler cannot block, must not run unauthenticated, cannot answer while a script is busy,
/// and its key positions come from `keys`.
const FLAGS: &[(&str, u32)] = &[
    ("write", flags::WRITE),
    ("readonly", flags::READONLY),
    ("denyoom", flags::DENYOOM),
    ("admin", flags::ADMIN),
    ("noscript", flags::NOSCRIPT),
    ("fast", flags::FAST),
    ("no_multi", flags::NO_MULTI),
    ("stale", flags::STALE),
    ("loading", flags::LOADING),
    ("skip_monitor", flags::SKIP_MONITOR),
    ("skip_slowlog", flags::SKIP_SLOWLOG),
];

/// Which arguments are keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum KeySpec {
    /// No keys: every argument is in `args`.
    None,
    /// Positions `first`, `first + step`, ... up to `last` (negative: from the end).
    Range {
        /// First key position (1 = the first argument after the name).
        first: i32,
        /// Last key position.
        last: i32,
        /// Step.
        step: i32,
    },
    /// The argument at this position counts the keys that follow it (as EVAL's numkeys).
    NumKeys(i32),
}

/// A command a script file registered.
pub(super) struct ScriptCommand {
    pub(super) name: String,
    pub(super) arity: i32,
    pub(super) flags: u32,
    pub(super) keys: KeySpec,
    pub(super) summary: String,
    pub(super) func: Function,
}

fn bad(msg: impl Into<String>) -> mlua::Error {
    mlua::Error::RuntimeError(msg.into())
}

/// `respite.register_command{...}`.
pub(super) fn register_command(lua: &Lua, spec: Value) -> mlua::Result<()> {
    let Value::Table(spec) = spec else {
        return Err(bad(
            "respite.register_command takes one table: {name=..., arity=..., handler=...}",
        ));
    };
    let def = parse(&spec)?;
    let mut load = file_load(lua, "register_command")?;
    if let Some(owner) = load.reserved.get(&def.name) {
        return Err(bad(format!(
            "command '{}' already exists: it is {owner}",
            def.name
        )));
    }
    if let Some(at) = load.seen.get(&def.name) {
        return Err(bad(format!(
            "command '{}' is already registered by {at}",
            def.name
        )));
    }
    let at = format!("{}:{}", load.path, caller_line(lua));
    load.seen.insert(def.name.clone(), at);
    load.staged.commands.push(def);
    load.registered_here += 1;
    Ok(())
}

/// The line of the file that called a `respite.*` function.
pub(super) fn caller_line(lua: &Lua) -> i64 {
    // Level 0 is the Rust callback itself, 1 its Lua caller.
    lua.inspect_stack(1, |d| d.current_line())
        .flatten()
        .map_or(0, |l| l as i64)
}

fn parse(spec: &Table) -> mlua::Result<ScriptCommand> {
    let mut name = None;
    let mut arity = None;
    let mut fl = 0u32;
    let mut keys = KeySpec::None;
    let mut summary = String::new();
    let mut func = None;
    for pair in spec.pairs::<Value, Value>() {
        let (k, v) = pair?;
        let Value::String(k) = k else {
            return Err(bad("respite.register_command: field names must be strings"));
        };
        match &*k.to_string_lossy() {
            "name" => match v {
                Value::String(s) => name = Some(s.to_string_lossy().to_ascii_lowercase()),
                _ => return Err(bad("respite.register_command: 'name' must be a string")),
            },
            "arity" => arity = Some(int_field(&v, "arity")?),
            "flags" => fl = parse_flags(&v)?,
            "keys" => keys = parse_keys(&v)?,
            "summary" => match v {
                Value::String(s) => summary = s.to_string_lossy(),
                _ => return Err(bad("respite.register_command: 'summary' must be a string")),
            },
            "handler" => match v {
                Value::Function(f) => func = Some(f),
                _ => {
                    return Err(bad(
                        "respite.register_command: 'handler' must be a function",
                    ))
                }
            },
            other => {
                return Err(bad(format!(
                    "respite.register_command: unknown field '{other}' (expected name, arity, \
                     flags, keys, summary, handler)"
                )))
            }
        }
    }
    let Some(name) = name else {
        return Err(bad("respite.register_command: 'name' is missing"));
    };
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'));
    if !valid {
        return Err(bad(format!(
            "respite.register_command: invalid command name '{name}' (1 to 64 letters, digits, \
             '.', '_', '-' or ':')"
        )));
    }
    let Some(arity) = arity else {
        return Err(bad(format!(
            "respite.register_command: 'arity' is missing for '{name}'"
        )));
    };
    if arity == 0 {
        return Err(bad(format!(
            "respite.register_command: arity of '{name}' must not be 0 (N = exactly N \
             arguments with the name, -N = at least N)"
        )));
    }
    let Some(func) = func else {
        return Err(bad(format!(
            "respite.register_command: 'handler' is missing for '{name}'"
        )));
    };
    if fl & flags::WRITE != 0 && fl & flags::READONLY != 0 {
        return Err(bad(format!(
            "respite.register_command: '{name}' cannot be both write and readonly"
        )));
    }
    check_keys_fit(&name, arity, keys)?;
    Ok(ScriptCommand {
        name,
        arity,
        flags: fl,
        keys,
        summary,
        func,
    })
}

fn int_field(v: &Value, what: &str) -> mlua::Result<i32> {
    let n = match v {
        Value::Integer(n) => Some(*n),
        Value::Number(n) if n.fract() == 0.0 => Some(*n as i64),
        _ => None,
    };
    n.and_then(|n| i32::try_from(n).ok()).ok_or_else(|| {
        bad(format!(
            "respite.register_command: '{what}' must be an integer"
        ))
    })
}

fn parse_flags(v: &Value) -> mlua::Result<u32> {
    let Value::Table(list) = v else {
        return Err(bad(
            "respite.register_command: 'flags' must be a list of strings, e.g. {\"write\"}",
        ));
    };
    let mut out = 0;
    for item in list.sequence_values::<Value>() {
        let Value::String(s) = item? else {
            return Err(bad("respite.register_command: 'flags' must hold strings"));
        };
        let flag = s.to_string_lossy().to_ascii_lowercase().replace('-', "_");
        match FLAGS.iter().find(|(n, _)| *n == flag) {
            Some((_, bit)) => out |= bit,
            None => {
                let known: Vec<&str> = FLAGS.iter().map(|(n, _)| *n).collect();
                return Err(bad(format!(
                    "respite.register_command: unknown or unsupported flag '{flag}' (one of {})",
                    known.join(", ")
                )));
            }
        }
    }
    Ok(out)
}

fn parse_keys(v: &Value) -> mlua::Result<KeySpec> {
    let Value::Table(t) = v else {
        return Err(bad(
            "respite.register_command: 'keys' must be a table: {first=1, last=1, step=1} or \
             {numkeys=1}",
        ));
    };
    let mut first = None;
    let mut last = None;
    let mut step = None;
    let mut numkeys = None;
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair?;
        let key = match &k {
            Value::String(s) => s.to_string_lossy(),
            _ => return Err(bad("respite.register_command: 'keys' fields must be named")),
        };
        let n = int_field(&v, &format!("keys.{key}"))?;
        match key.as_str() {
            "first" => first = Some(n),
            "last" => last = Some(n),
            "step" => step = Some(n),
            "numkeys" => numkeys = Some(n),
            other => {
                return Err(bad(format!(
                    "respite.register_command: unknown field 'keys.{other}' (expected first, \
                     last, step or numkeys)"
                )))
            }
        }
    }
    match (numkeys, first) {
        (Some(_), Some(_)) => Err(bad(
            "respite.register_command: 'keys' takes either first/last/step or numkeys",
        )),
        (Some(at), None) if last.is_none() && step.is_none() => {
            if at < 1 {
                return Err(bad(
                    "respite.register_command: keys.numkeys is the position of the key count \
                     (1 = the first argument)",
                ));
            }
            Ok(KeySpec::NumKeys(at))
        }
        (Some(_), None) => Err(bad(
            "respite.register_command: 'keys' takes either first/last/step or numkeys",
        )),
        (None, Some(first)) => {
            let last = last.unwrap_or(first);
            let step = step.unwrap_or(1);
            if first < 1 || step < 1 || (last >= 0 && last < first) {
                return Err(bad(
                    "respite.register_command: keys needs first >= 1, step >= 1 and last >= \
                     first (or negative, counting from the end)",
                ));
            }
            Ok(KeySpec::Range { first, last, step })
        }
        (None, None) => Err(bad(
            "respite.register_command: 'keys' needs 'first' (and optionally last and step) or \
             'numkeys'",
        )),
    }
}

/// Refuses key positions the arity can never reach.
fn check_keys_fit(name: &str, arity: i32, keys: KeySpec) -> mlua::Result<()> {
    let least = arity.unsigned_abs() as i64;
    let needed = match keys {
        KeySpec::None => return Ok(()),
        KeySpec::Range { first, last, .. } => first.max(last) as i64 + 1,
        KeySpec::NumKeys(at) => at as i64 + 1,
    };
    if arity > 0 && needed > least {
        return Err(bad(format!(
            "respite.register_command: the keys of '{name}' lie beyond its arity {arity}"
        )));
    }
    Ok(())
}

/// The command-table row for `def`.
pub(super) fn build(def: ScriptCommand) -> Command {
    let def = Arc::new(def);
    let run = Arc::clone(&def);
    let handler: Handler = Arc::new(move |ctx: &mut Ctx<'_>, argv: &[Bytes]| call(ctx, &run, argv));
    let cmd = Command::new(def.name.clone(), def.arity, handler);
    let cmd = match def.keys {
        KeySpec::None => cmd.flags(def.flags),
        KeySpec::Range { first, last, step } => cmd.flags(def.flags).keys(first, last, step),
        KeySpec::NumKeys(at) => cmd.flags(def.flags | flags::MOVABLE_KEYS).numkeys(at),
    };
    let mut categories = vec![if def.flags & flags::WRITE != 0 {
        "write"
    } else {
        "read"
    }];
    if def.flags & flags::ADMIN != 0 {
        categories.extend(["admin", "dangerous"]);
    }
    categories.push(if def.flags & flags::FAST != 0 {
        "fast"
    } else {
        "slow"
    });
    categories.push("scripting");
    cmd.categories(categories).doc(
        "scripting",
        def.summary.clone(),
        "7.0.0",
        "Depends on the script.",
    )
}

/// Runs a script command: splits keys from arguments and calls the handler.
fn call(ctx: &mut Ctx<'_>, def: &ScriptCommand, argv: &[Bytes]) -> Reply {
    let (keys, args) = match split(def.keys, argv) {
        Ok(v) => v,
        Err(e) => return e,
    };
    super::run(
        ctx,
        Invocation {
            func: &def.func,
            keys: &keys,
            args: &args,
            caller: Caller::Function(&def.name),
            read_only: def.flags & flags::WRITE == 0,
            // Checked against the command's own `denyoom` flag before it ran.
            allow_oom: true,
            style: ArgStyle::Params,
        },
    )
}

/// The keys and the other arguments of a call (a numkeys count itself is neither).
fn split(spec: KeySpec, argv: &[Bytes]) -> Result<(Vec<Bytes>, Vec<Bytes>), Reply> {
    let argc = argv.len();
    let mut is_key = vec![false; argc];
    let mut skip = None;
    match spec {
        KeySpec::None => {}
        KeySpec::Range { first, last, step } => {
            let last = if last < 0 {
                argc as i64 + last as i64
            } else {
                last as i64
            };
            let mut i = first as i64;
            while i <= last && i < argc as i64 {
                is_key[i as usize] = true;
                i += step as i64;
            }
        }
        KeySpec::NumKeys(at) => {
            let at = at as usize;
            let Some(count) = argv.get(at) else {
                return Ok((Vec::new(), argv[1..].to_vec()));
            };
            let n =
                crate::commands::parse_i64(count).ok_or_else(crate::commands::err_not_integer)?;
            if n < 0 {
                return Err(Reply::error("ERR Number of keys can't be negative"));
            }
            if n as u64 > (argc - at - 1) as u64 {
                return Err(Reply::error(
                    "ERR Number of keys can't be greater than number of args",
                ));
            }
            for flag in &mut is_key[at + 1..at + 1 + n as usize] {
                *flag = true;
            }
            skip = Some(at);
        }
    }
    let mut keys = Vec::new();
    let mut args = Vec::new();
    for (i, arg) in argv.iter().enumerate().skip(1) {
        if is_key[i] {
            keys.push(arg.clone());
        } else if skip != Some(i) {
            args.push(arg.clone());
        }
    }
    Ok((keys, args))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(items: &[&str]) -> Vec<Bytes> {
        items
            .iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    fn texts(v: &[Bytes]) -> Vec<&str> {
        v.iter()
            .map(|b| std::str::from_utf8(b).unwrap_or("?"))
            .collect()
    }

    #[test]
    fn keys_split_from_arguments() {
        let a = argv(&["cmd", "k1", "a", "k2", "b"]);
        let (k, r) = split(
            KeySpec::Range {
                first: 1,
                last: -1,
                step: 2,
            },
            &a,
        )
        .unwrap_or_default();
        assert_eq!(texts(&k), ["k1", "k2"]);
        assert_eq!(texts(&r), ["a", "b"]);
        let (k, r) = split(
            KeySpec::Range {
                first: 1,
                last: 1,
                step: 1,
            },
            &a,
        )
        .unwrap_or_default();
        assert_eq!(texts(&k), ["k1"]);
        assert_eq!(texts(&r), ["a", "k2", "b"]);
        let (k, r) = split(KeySpec::None, &a).unwrap_or_default();
        assert!(k.is_empty());
        assert_eq!(r.len(), 4);
    }

    #[test]
    fn numkeys_counts_the_keys_after_it() {
        let (k, r) =
            split(KeySpec::NumKeys(1), &argv(&["cmd", "2", "a", "b", "x"])).unwrap_or_default();
        assert_eq!(texts(&k), ["a", "b"]);
        assert_eq!(texts(&r), ["x"]);
        let (k, r) =
            split(KeySpec::NumKeys(2), &argv(&["cmd", "pre", "0", "x"])).unwrap_or_default();
        assert!(k.is_empty());
        assert_eq!(texts(&r), ["pre", "x"]);
        assert_eq!(
            split(KeySpec::NumKeys(1), &argv(&["cmd", "3", "a"])),
            Err(Reply::error(
                "ERR Number of keys can't be greater than number of args"
            ))
        );
        assert_eq!(
            split(KeySpec::NumKeys(1), &argv(&["cmd", "-1"])),
            Err(Reply::error("ERR Number of keys can't be negative"))
        );
        assert_eq!(
            split(KeySpec::NumKeys(1), &argv(&["cmd", "x"])),
            Err(crate::commands::err_not_integer())
        );
    }

    #[test]
    fn keys_must_fit_the_arity() {
        let range = |first, last| KeySpec::Range {
            first,
            last,
            step: 1,
        };
        assert!(check_keys_fit("c", 2, range(1, 1)).is_ok());
        assert!(check_keys_fit("c", 2, range(2, 2)).is_err());
        assert!(check_keys_fit("c", -2, range(1, -1)).is_ok());
        assert!(check_keys_fit("c", 3, KeySpec::NumKeys(1)).is_ok());
        assert!(check_keys_fit("c", 1, KeySpec::NumKeys(1)).is_err());
    }
}
