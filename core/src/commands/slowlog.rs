//! SLOWLOG: the commands that ran longer than `slowlog-log-slower-than` microseconds (the log
//! itself is the engine's, `engine/slowlog.rs`).

use bytes::Bytes;

use super::help_reply;
use super::table::{flags::*, CommandSpec};
use crate::engine::Ctx;
use crate::protocol::Reply;

/// The SLOWLOG command.
pub static COMMANDS: &[CommandSpec] = &[CommandSpec::container("slowlog", -2)
    .categories(&["slow"])
    .doc(
        "server",
        "A container for slow log commands.",
        "2.2.12",
        "Depends on subcommand.",
    )
    .subcommands(&[
        CommandSpec::new("get", -2, slowlog_get)
            .flags(ADMIN | LOADING | STALE)
            .categories(&["admin", "slow", "dangerous"])
            .doc(
                "server",
                "Returns the slow log's entries.",
                "2.2.12",
                "O(N) where N is the number of entries returned",
            ),
        CommandSpec::new("len", 2, slowlog_len)
            .flags(ADMIN | LOADING | STALE)
            .categories(&["admin", "slow", "dangerous"])
            .doc(
                "server",
                "Returns the number of entries in the slow log.",
                "2.2.12",
                "O(1)",
            ),
        CommandSpec::new("reset", 2, slowlog_reset)
            .flags(ADMIN | LOADING | STALE)
            .categories(&["admin", "slow", "dangerous"])
            .doc(
                "server",
                "Clears all entries from the slow log.",
                "2.2.12",
                "O(N) where N is the number of entries in the slowlog",
            ),
        CommandSpec::new("help", 2, slowlog_help)
            .flags(LOADING | STALE)
            .categories(&["slow"])
            .doc(
                "server",
                "Show helpful text about the different subcommands",
                "6.2.0",
                "O(1)",
            ),
    ])];

/// Entries SLOWLOG GET returns without a count (Redis's default).
const DEFAULT_COUNT: usize = 10;

fn slowlog_get(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    if argv.len() > 3 {
        // Redis's addReplySubcommandSyntaxError, with the subcommand as the client sent it.
        return Reply::Error(
            format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try SLOWLOG HELP.",
                String::from_utf8_lossy(&argv[1])
            )
            .into(),
        );
    }
    let count = match argv.get(2) {
        None => Some(DEFAULT_COUNT),
        Some(arg) => match crate::protocol::parse_i64(arg) {
            Some(-1) => None,
            Some(n) if n >= 0 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            _ => return Reply::error("ERR count should be greater than or equal to -1"),
        },
    };
    let entries = ctx
        .engine
        .slowlog
        .newest(count)
        .map(|e| {
            Reply::Array(vec![
                Reply::Integer(i64::try_from(e.id).unwrap_or(i64::MAX)),
                Reply::Integer(i64::try_from(e.time).unwrap_or(i64::MAX)),
                Reply::Integer(i64::try_from(e.duration_us).unwrap_or(i64::MAX)),
                Reply::Array(e.argv.iter().cloned().map(Reply::Bulk).collect()),
                Reply::Bulk(Bytes::from(e.addr.clone())),
                Reply::Bulk(e.name.clone()),
            ])
        })
        .collect();
    Reply::Array(entries)
}

fn slowlog_len(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    Reply::Integer(ctx.engine.slowlog.len() as i64)
}

fn slowlog_reset(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    ctx.engine.slowlog.reset();
    Reply::ok()
}

fn slowlog_help(_ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    help_reply(
        "SLOWLOG",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    )
}
