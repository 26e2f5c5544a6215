//! MODULE: list, load and unload plugins at run time, with Redis 7's replies and errors.

use bytes::Bytes;

use crate::commands::table::{flags::*, CommandSpec};
use crate::commands::{eq_ci, help_reply, lossy};
use crate::engine::Ctx;
use crate::plugin::{self, LoadedPlugin};
use crate::protocol::Reply;

const CATS: &[&str] = &["admin", "slow", "dangerous"];

/// MODULE and its subcommands.
pub static COMMANDS: &[CommandSpec] = &[CommandSpec::container("module", -2)
    .categories(&["slow"])
    .doc(
        "server",
        "A container for module commands.",
        "4.0.0",
        "Depends on subcommand.",
    )
    .subcommands(&[
        CommandSpec::new("list", 2, module_list)
            .flags(ADMIN | NOSCRIPT)
            .categories(CATS)
            .doc(
                "server",
                "Returns all loaded modules.",
                "4.0.0",
                "O(N) where N is the number of loaded modules.",
            ),
        CommandSpec::new("load", -3, module_load)
            .flags(ADMIN | NOSCRIPT)
            .categories(CATS)
            .doc("server", "Loads a module.", "4.0.0", "O(1)"),
        CommandSpec::new("loadex", -3, module_loadex)
            .flags(ADMIN | NOSCRIPT)
            .categories(CATS)
            .doc(
                "server",
                "Loads a module using extended parameters.",
                "7.0.0",
                "O(1)",
            ),
        CommandSpec::new("unload", 3, module_unload)
            .flags(ADMIN | NOSCRIPT)
            .categories(CATS)
            .doc("server", "Unloads a module.", "4.0.0", "O(1)"),
        CommandSpec::new("help", 2, module_help)
            .flags(LOADING | STALE)
            .categories(&["slow"])
            .doc(
                "server",
                "Returns helpful text about the different subcommands.",
                "5.0.0",
                "O(1)",
            ),
    ])];

/// A plugin as MODULE LIST shows it: Redis's fields (`ver` as MAJOR*10000+MINOR*100+PATCH)
/// plus `version` as written.
fn entry(p: &LoadedPlugin) -> Reply {
    let text = |s: &str| Reply::Bulk(Bytes::from(s.to_string()));
    Reply::Map(vec![
        (Reply::bulk("name"), text(&p.name)),
        (Reply::bulk("ver"), Reply::Integer(p.version_number())),
        (Reply::bulk("path"), text(p.path.as_deref().unwrap_or(""))),
        (
            Reply::bulk("args"),
            Reply::Array(p.args.iter().map(|a| text(a)).collect()),
        ),
        (Reply::bulk("version"), text(&p.version)),
    ])
}

fn module_list(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    Reply::Array(
        crate::plugin::loaded(ctx.engine)
            .iter()
            .map(entry)
            .collect(),
    )
}

fn load(ctx: &mut Ctx<'_>, path: &[u8], args: &[Bytes]) -> Reply {
    let Ok(path) = std::str::from_utf8(path) else {
        return Reply::error("ERR Error loading the extension. The path is not valid UTF-8.");
    };
    let args = args.iter().map(|a| lossy(a).into_owned()).collect();
    match plugin::dylib::load(ctx.engine, path, args) {
        Ok(_) => Reply::ok(),
        Err(e) => {
            tracing::warn!(path, error = %e, "MODULE LOAD failed");
            // Redis says "Please check the server logs."; the reason itself is more useful.
            Reply::Error(format!("ERR Error loading the extension. {e}").into())
        }
    }
}

fn module_load(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    load(ctx, &argv[2], &argv[3..])
}

/// `MODULE LOADEX path [CONFIG name value ...] [ARGS args...]`.
fn module_loadex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    match argv.get(3) {
        None => load(ctx, &argv[2], &[]),
        Some(word) if eq_ci(word, "args") => load(ctx, &argv[2], &argv[4..]),
        // Plugin settings live in [plugins.NAME] of the configuration file.
        Some(word) if eq_ci(word, "config") => Reply::error(
            "ERR Error loading the extension. CONFIG is not supported: built-in plugins read \
             [plugins.NAME] in the configuration file; pass settings to a library with ARGS",
        ),
        Some(_) => Reply::error("ERR Error loading the extension. Please check the server logs."),
    }
}

fn module_unload(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let name = lossy(&argv[2]);
    match plugin::unload(ctx.engine, &name) {
        Ok(()) => Reply::ok(),
        Err(e) => Reply::Error(format!("ERR Error unloading module: {e}").into()),
    }
}

fn module_help(_ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    help_reply(
        "MODULE",
        &[
            "LIST",
            "    Return a list of loaded modules.",
            "LOAD <path> [<arg> ...]",
            "    Load a module library from <path>, passing to it any optional arguments.",
            "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
            "    Load a module library from <path>, while passing it module configurations and optional arguments.",
            "UNLOAD <name>",
            "    Unload a module.",
        ],
    )
}
