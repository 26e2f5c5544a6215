//! Redis 7 functions: FUNCTION (LOAD, LIST, DELETE, FLUSH, DUMP, RESTORE, STATS, KILL, HELP),
//! FCALL and FCALL_RO. Libraries live in [`crate::lua::functions`]; every change is written to
//! the store in the batch's transaction, and the libraries are loaded again at start-up.

use bytes::Bytes;

use super::cmd_script::split_keys;
use crate::commands::table::{flags::*, CommandSpec};
use crate::commands::{eq_ci, help_reply, lossy};
use crate::engine::{Ctx, Engine};
use crate::glob::glob_match;
use crate::lua::functions::{flag_names, RestorePolicy, STORE_KEY};
use crate::lua::{self, host, script_flags, ArgStyle, Caller, Invocation};
use crate::protocol::Reply;

const CATS: &[&str] = &["slow", "scripting"];

/// Function commands.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("fcall", -3, fcall)
        .flags(NOSCRIPT | SKIP_MONITOR | MAY_REPLICATE | STALE | MOVABLE_KEYS)
        .numkeys(2)
        .categories(CATS)
        .doc(
            "scripting",
            "Invokes a function.",
            "7.0.0",
            "Depends on the function that is executed.",
        ),
    CommandSpec::new("fcall_ro", -3, fcall_ro)
        .flags(NOSCRIPT | SKIP_MONITOR | READONLY | STALE | MOVABLE_KEYS)
        .numkeys(2)
        .categories(CATS)
        .doc(
            "scripting",
            "Invokes a read-only function.",
            "7.0.0",
            "Depends on the function that is executed.",
        ),
    CommandSpec::container("function", -2)
        .categories(CATS)
        .doc(
            "scripting",
            "A container for function commands.",
            "7.0.0",
            "Depends on subcommand.",
        )
        .subcommands(&[
            CommandSpec::new("load", -3, function_load)
                .flags(NOSCRIPT | WRITE | DENYOOM)
                .categories(CATS)
                .doc(
                    "scripting",
                    "Creates a library.",
                    "7.0.0",
                    "O(1) (considering compilation time is redundant)",
                ),
            CommandSpec::new("delete", 3, function_delete)
                .flags(NOSCRIPT | WRITE)
                .categories(CATS)
                .doc(
                    "scripting",
                    "Deletes a library and its functions.",
                    "7.0.0",
                    "O(1)",
                ),
            CommandSpec::new("flush", -2, function_flush)
                .flags(NOSCRIPT | WRITE)
                .categories(CATS)
                .doc(
                    "scripting",
                    "Deletes all libraries and functions.",
                    "7.0.0",
                    "O(N) where N is the number of functions deleted",
                ),
            CommandSpec::new("dump", 2, function_dump)
                .flags(NOSCRIPT)
                .categories(CATS)
                .doc(
                    "scripting",
                    "Dumps all libraries into a serialized binary payload.",
                    "7.0.0",
                    "O(N) where N is the number of functions",
                ),
            CommandSpec::new("restore", -3, function_restore)
                .flags(NOSCRIPT | WRITE | DENYOOM)
                .categories(CATS)
                .doc(
                    "scripting",
                    "Restores all libraries from a payload.",
                    "7.0.0",
                    "O(N) where N is the number of functions on the payload",
                ),
            CommandSpec::new("list", -2, function_list)
                .flags(NOSCRIPT)
                .categories(CATS)
                .doc(
                    "scripting",
                    "Returns information about all libraries.",
                    "7.0.0",
                    "O(N) where N is the number of functions",
                ),
            CommandSpec::new("stats", 2, function_stats)
                .flags(NOSCRIPT | ALLOW_BUSY)
                .categories(CATS)
                .doc(
                    "scripting",
                    "Returns information about a function during execution.",
                    "7.0.0",
                    "O(1)",
                ),
            CommandSpec::new("kill", 2, function_kill)
                .flags(NOSCRIPT | ALLOW_BUSY)
                .categories(CATS)
                .doc(
                    "scripting",
                    "Terminates a function during execution.",
                    "7.0.0",
                    "O(1)",
                ),
            CommandSpec::new("help", 2, function_help)
                .flags(LOADING | STALE)
                .categories(CATS)
                .doc(
                    "scripting",
                    "Returns helpful text about the different subcommands.",
                    "7.0.0",
                    "O(1)",
                ),
        ]),
];

fn fcall(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    call_function(ctx, argv, false)
}

fn fcall_ro(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    call_function(ctx, argv, true)
}

fn call_function(ctx: &mut Ctx<'_>, argv: &[Bytes], read_only: bool) -> Reply {
    let Some(function) = host(ctx.engine).functions.function(&lossy(&argv[1])) else {
        return Reply::error("ERR Function not found");
    };
    let (keys, args) = match split_keys(argv) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let no_writes = function.flags & script_flags::NO_WRITES != 0;
    if read_only && !no_writes {
        return Reply::error("ERR Can not execute a script with write flag using *_ro command.");
    }
    lua::show_to_monitors(ctx, argv);
    lua::run(
        ctx,
        Invocation {
            func: &function.func,
            keys,
            args,
            caller: Caller::Function(&function.name),
            read_only: read_only || no_writes,
            allow_oom: function.flags & script_flags::ALLOW_OOM != 0,
            style: ArgStyle::Params,
        },
    )
}

/// Writes the libraries to the store (in the batch's transaction).
fn save(engine: &mut Engine) -> Result<(), Reply> {
    let functions = &host(engine).functions;
    let blob = (functions.library_count() > 0).then(|| functions.dump());
    engine
        .keyspace
        .store_mut()
        .meta_set_blob(STORE_KEY, blob.as_deref())
        .map_err(Reply::from)?;
    engine.keyspace.note_store_write();
    Ok(())
}

/// Loads the libraries saved in the store (at start-up). A library that no longer loads is
/// logged and skipped with the whole set, rather than stopping the server.
pub fn load_saved_libraries(engine: &mut Engine) {
    match engine.keyspace.store_mut().meta_get_blob(STORE_KEY) {
        Ok(None) => {}
        Ok(Some(blob)) => {
            if let Err(e) = host(engine).function_restore(&blob, RestorePolicy::Flush) {
                tracing::error!(error = %e, "cannot load the saved function libraries");
            } else {
                tracing::info!(
                    libraries = host(engine).functions.library_count(),
                    "function libraries loaded"
                );
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot read the saved function libraries"),
    }
}

fn err(msg: String) -> Reply {
    Reply::Error(format!("ERR {msg}").into())
}

fn function_load(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let mut replace = false;
    for arg in &argv[2..argv.len() - 1] {
        if eq_ci(arg, "replace") {
            replace = true;
        } else {
            return err(format!("Unknown option given: {}", lossy(arg)));
        }
    }
    let code = &argv[argv.len() - 1];
    match host(ctx.engine).function_load(code, replace) {
        Ok(name) => match save(ctx.engine) {
            Ok(()) => Reply::bulk(name),
            Err(e) => e,
        },
        Err(e) => err(e),
    }
}

fn function_delete(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    if !host(ctx.engine).functions.delete(&lossy(&argv[2])) {
        return Reply::error("ERR Library not found");
    }
    match save(ctx.engine) {
        Ok(()) => Reply::ok(),
        Err(e) => e,
    }
}

fn function_flush(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    if argv.len() > 3 || (argv.len() == 3 && !eq_ci(&argv[2], "sync") && !eq_ci(&argv[2], "async"))
    {
        return Reply::error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
    }
    host(ctx.engine).functions.flush();
    match save(ctx.engine) {
        Ok(()) => Reply::ok(),
        Err(e) => e,
    }
}

fn function_dump(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    Reply::bulk(host(ctx.engine).functions.dump())
}

fn function_restore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let policy =
        match argv.get(3) {
            None => RestorePolicy::Append,
            Some(p) if argv.len() == 4 && eq_ci(p, "flush") => RestorePolicy::Flush,
            Some(p) if argv.len() == 4 && eq_ci(p, "append") => RestorePolicy::Append,
            Some(p) if argv.len() == 4 && eq_ci(p, "replace") => RestorePolicy::Replace,
            Some(_) => return Reply::error(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            ),
        };
    match host(ctx.engine).function_restore(&argv[2], policy) {
        Ok(()) => match save(ctx.engine) {
            Ok(()) => Reply::ok(),
            Err(e) => e,
        },
        Err(e) => err(e),
    }
}

fn function_list(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let mut with_code = false;
    let mut pattern: Option<&[u8]> = None;
    let mut i = 2;
    while i < argv.len() {
        let arg = &argv[i];
        if !with_code && eq_ci(arg, "withcode") {
            with_code = true;
        } else if pattern.is_none() && eq_ci(arg, "libraryname") {
            if i + 1 >= argv.len() {
                return Reply::error("ERR library name argument was not given");
            }
            i += 1;
            pattern = Some(&argv[i]);
        } else {
            return err(format!("Unknown argument {}", lossy(arg)));
        }
        i += 1;
    }
    let key = |s: &str| Reply::bulk(s.to_string());
    let libs = host(ctx.engine)
        .functions
        .iter()
        .filter(|lib| pattern.is_none_or(|p| glob_match(p, lib.name.as_bytes(), true)))
        .map(|lib| {
            let functions = lib
                .functions
                .iter()
                .map(|f| {
                    Reply::Map(vec![
                        (key("name"), Reply::bulk(f.name.clone())),
                        (
                            key("description"),
                            f.description
                                .as_ref()
                                .map_or(Reply::Null, |d| Reply::bulk(d.clone())),
                        ),
                        (
                            key("flags"),
                            Reply::Set(
                                flag_names(f.flags)
                                    .into_iter()
                                    .map(|n| Reply::Simple(n.into()))
                                    .collect(),
                            ),
                        ),
                    ])
                })
                .collect();
            let mut fields = vec![
                (key("library_name"), Reply::bulk(lib.name.clone())),
                (key("engine"), key("LUA")),
                (key("functions"), Reply::Array(functions)),
            ];
            if with_code {
                fields.push((key("library_code"), Reply::Bulk(lib.code.clone())));
            }
            Reply::Map(fields)
        })
        .collect();
    Reply::Array(libs)
}

/// Reached only while no function runs (the connections answer while one is busy), so
/// `running_script` is always null here.
fn function_stats(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    let functions = &host(ctx.engine).functions;
    let key = |s: &str| Reply::bulk(s.to_string());
    Reply::Map(vec![
        (key("running_script"), Reply::Null),
        (
            key("engines"),
            Reply::Map(vec![(
                key("LUA"),
                Reply::Map(vec![
                    (
                        key("libraries_count"),
                        Reply::Integer(functions.library_count() as i64),
                    ),
                    (
                        key("functions_count"),
                        Reply::Integer(functions.function_count() as i64),
                    ),
                ]),
            )]),
        ),
    ])
}

/// Reached only when no script is busy (the connections answer it otherwise).
fn function_kill(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    ctx.engine.shared.scripts.kill(false)
}

fn function_help(_ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    help_reply(
        "FUNCTION",
        &[
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Library description",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
            "      libraries with the new libraries (notice that even on this option there is a chance of failure",
            "      in case of functions name collision with another library).",
        ],
    )
}
