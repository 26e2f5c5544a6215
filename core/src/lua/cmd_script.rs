//! Redis scripting: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT (LOAD, EXISTS, FLUSH, KILL).
//! The Lua host itself is [`crate::lua`]; these handlers parse arguments, find the script and
//! hand it to [`crate::lua::run`].

use bytes::Bytes;

use crate::commands::table::{flags::*, CommandSpec};
use crate::commands::{eq_ci, help_reply, lossy};
use crate::engine::Ctx;
use crate::lua::{self, host, script_flags, ArgStyle, Caller, Invocation};
use crate::protocol::Reply;

const CATS: &[&str] = &["slow", "scripting"];

/// Scripting commands.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("eval", -3, eval)
        .flags(NOSCRIPT | SKIP_MONITOR | MAY_REPLICATE | STALE | MOVABLE_KEYS)
        .numkeys(2)
        .categories(CATS)
        .doc(
            "scripting",
            "Executes a server-side Lua script.",
            "2.6.0",
            "Depends on the script that is executed.",
        ),
    CommandSpec::new("evalsha", -3, evalsha)
        .flags(NOSCRIPT | SKIP_MONITOR | MAY_REPLICATE | STALE | MOVABLE_KEYS)
        .numkeys(2)
        .categories(CATS)
        .doc(
            "scripting",
            "Executes a server-side Lua script by SHA1 digest.",
            "2.6.0",
            "Depends on the script that is executed.",
        ),
    CommandSpec::new("eval_ro", -3, eval_ro)
        .flags(NOSCRIPT | SKIP_MONITOR | READONLY | STALE | MOVABLE_KEYS)
        .numkeys(2)
        .categories(CATS)
        .doc(
            "scripting",
            "Executes a read-only server-side Lua script.",
            "7.0.0",
            "Depends on the script that is executed.",
        ),
    CommandSpec::new("evalsha_ro", -3, evalsha_ro)
        .flags(NOSCRIPT | SKIP_MONITOR | READONLY | STALE | MOVABLE_KEYS)
        .numkeys(2)
        .categories(CATS)
        .doc(
            "scripting",
            "Executes a read-only server-side Lua script by SHA1 digest.",
            "7.0.0",
            "Depends on the script that is executed.",
        ),
    CommandSpec::container("script", -2)
        .categories(CATS)
        .doc(
            "scripting",
            "A container for Lua scripts management commands.",
            "2.6.0",
            "Depends on subcommand.",
        )
        .subcommands(&[
            CommandSpec::new("load", 3, script_load)
                .flags(NOSCRIPT | STALE)
                .categories(CATS)
                .doc(
                    "scripting",
                    "Loads a server-side Lua script to the script cache.",
                    "2.6.0",
                    "O(N) with N being the length in bytes of the script body.",
                ),
            CommandSpec::new("exists", -3, script_exists)
                .flags(NOSCRIPT)
                .categories(CATS)
                .doc(
                    "scripting",
                    "Determines whether server-side Lua scripts exist in the script cache.",
                    "2.6.0",
                    "O(N) with N being the number of scripts to check.",
                ),
            CommandSpec::new("flush", -2, script_flush)
                .flags(NOSCRIPT | MAY_REPLICATE)
                .categories(CATS)
                .doc(
                    "scripting",
                    "Removes all server-side Lua scripts from the script cache.",
                    "2.6.0",
                    "O(N) with N being the number of scripts in cache",
                ),
            CommandSpec::new("kill", 2, script_kill)
                .flags(NOSCRIPT | ALLOW_BUSY)
                .categories(CATS)
                .doc(
                    "scripting",
                    "Terminates a server-side Lua script during execution.",
                    "2.6.0",
                    "O(1)",
                ),
            CommandSpec::new("reload", 2, script_reload)
                .flags(NOSCRIPT | ADMIN)
                .categories(&["admin", "slow", "dangerous", "scripting"])
                .doc(
                    "scripting",
                    "Loads the Lua files of the scripting.commands and scripting.hooks \
                          options again, replacing their custom commands and hooks.",
                    "7.0.0",
                    "Depends on the script files.",
                ),
            CommandSpec::new("help", 2, script_help)
                .flags(LOADING | STALE)
                .categories(CATS)
                .doc(
                    "scripting",
                    "Returns helpful text about the different subcommands.",
                    "5.0.0",
                    "O(1)",
                ),
        ]),
];

/// Splits `numkeys key... arg...` (from `argv[2]`) into keys and arguments, with Redis's
/// errors.
pub fn split_keys(argv: &[Bytes]) -> Result<(&[Bytes], &[Bytes]), Reply> {
    let n = crate::commands::parse_i64(&argv[2]).ok_or_else(crate::commands::err_not_integer)?;
    if n < 0 {
        return Err(Reply::error("ERR Number of keys can't be negative"));
    }
    let rest = &argv[3..];
    if n as u64 > rest.len() as u64 {
        return Err(Reply::error(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    Ok(rest.split_at(n as usize))
}

fn eval(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    eval_body(ctx, argv, false)
}

fn eval_ro(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    eval_body(ctx, argv, true)
}

fn evalsha(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    eval_sha(ctx, argv, false)
}

fn evalsha_ro(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    eval_sha(ctx, argv, true)
}

fn eval_body(ctx: &mut Ctx<'_>, argv: &[Bytes], read_only: bool) -> Reply {
    let (keys, args) = match split_keys(argv) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let script = match host(ctx.engine).load_script(&argv[1]) {
        Ok(s) => s,
        Err(e) => return e,
    };
    lua::show_to_monitors(ctx, argv);
    run_script(ctx, &script, keys, args, read_only)
}

fn eval_sha(ctx: &mut Ctx<'_>, argv: &[Bytes], read_only: bool) -> Reply {
    let (keys, args) = match split_keys(argv) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let script = if argv[1].len() == 40 {
        let mut sha = [0u8; 40];
        sha.copy_from_slice(&argv[1]);
        sha.make_ascii_lowercase();
        std::str::from_utf8(&sha)
            .ok()
            .and_then(|sha| host(ctx.engine).script(sha))
    } else {
        None
    };
    match script {
        Some(script) => {
            lua::show_to_monitors(ctx, argv);
            run_script(ctx, &script, keys, args, read_only)
        }
        None => Reply::error("NOSCRIPT No matching script. Please use EVAL."),
    }
}

fn run_script(
    ctx: &mut Ctx<'_>,
    script: &lua::Script,
    keys: &[Bytes],
    args: &[Bytes],
    read_only: bool,
) -> Reply {
    lua::run(
        ctx,
        Invocation {
            func: &script.func,
            keys,
            args,
            caller: Caller::Eval(&script.sha),
            read_only: read_only || script.flags & script_flags::NO_WRITES != 0,
            allow_oom: script.flags & script_flags::ALLOW_OOM != 0,
            style: ArgStyle::Globals,
        },
    )
}

fn script_load(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    match host(ctx.engine).load_script(&argv[2]) {
        Ok(script) => Reply::bulk(script.sha.clone()),
        Err(e) => e,
    }
}

fn script_exists(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let scripting = host(ctx.engine);
    Reply::Array(
        argv[2..]
            .iter()
            .map(|sha| {
                let sha = lossy(sha).to_ascii_lowercase();
                Reply::Integer(scripting.script(&sha).is_some() as i64)
            })
            .collect(),
    )
}

fn script_flush(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    if argv.len() > 3 || (argv.len() == 3 && !eq_ci(&argv[2], "sync") && !eq_ci(&argv[2], "async"))
    {
        return Reply::error("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
    }
    host(ctx.engine).flush_scripts();
    Reply::ok()
}

/// Respite's own: all or nothing, so a broken file leaves the running commands and hooks in
/// place (the error names the file and line); clients stay connected and see the new
/// definitions from their next command on.
fn script_reload(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    match lua::files::reload(ctx.engine) {
        Ok(_) => Reply::ok(),
        Err(e) => Reply::Error(format!("ERR SCRIPT RELOAD failed, nothing changed: {e}").into()),
    }
}

/// Reached only when no script is busy (the connections answer it otherwise).
fn script_kill(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    ctx.engine.shared.scripts.kill(true)
}

fn script_help(_ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    help_reply(
        "SCRIPT",
        &[
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
            "RELOAD",
            "    Load the Lua files of scripting.commands and scripting.hooks again (all or",
            "    nothing), replacing their custom commands and key-event hooks.",
        ],
    )
}
