//! MONITOR: the client sees every command the server runs from now on (see
//! [`crate::engine::monitor`] for the lines and what is shown).

use std::sync::Arc;

use bytes::Bytes;

use super::table::{flags::*, CommandSpec};
use crate::engine::client::ReplyMode;
use crate::engine::Ctx;
use crate::protocol::Reply;

/// MONITOR.
pub static COMMANDS: &[CommandSpec] = &[CommandSpec::new("monitor", 1, monitor)
    .flags(ADMIN | NOSCRIPT | LOADING | STALE)
    .categories(&["admin", "slow", "dangerous"])
    .doc(
        "server",
        "Listens for all requests received by the server in real-time.",
        "1.0.0",
        "",
    )];

fn monitor(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    if ctx.engine.in_exec || ctx.engine.in_script {
        // Redis's CLIENT_DENY_BLOCKING: a transaction expects one reply per command.
        return Reply::error("ERR MONITOR isn't allowed for DENY BLOCKING client");
    }
    let client = &mut *ctx.client;
    if client.monitor {
        // Redis ignores a second MONITOR, without a reply.
        if client.reply_mode == ReplyMode::On {
            client.reply_mode = ReplyMode::SkipNext;
        }
        return Reply::Null;
    }
    client.monitor = true;
    ctx.engine
        .monitors
        .add(client.id, Arc::clone(&client.shared));
    Reply::ok()
}
