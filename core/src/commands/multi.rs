//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! Queueing happens in [`crate::engine::Engine::execute`]; EXEC runs the queued commands back to
//! back inside its own executor step, so nothing else runs between them. WATCH relies on the
//! keyspace's [`crate::keyspace::WatchRegistry`], which every change to a key reports to.

use bytes::Bytes;

use super::table::{flags::*, CommandSpec};
use crate::engine::Ctx;
use crate::protocol::Reply;

const CATS: &[&str] = &["fast", "transaction"];

/// Transaction commands.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("multi", 1, multi)
        .flags(NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY)
        .categories(CATS)
        .doc("transactions", "Starts a transaction.", "1.2.0", "O(1)"),
    CommandSpec::new("exec", 1, exec)
        .flags(NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG)
        .categories(&["slow", "transaction"])
        .doc(
            "transactions",
            "Executes all commands in a transaction.",
            "1.2.0",
            "Depends on commands in the transaction",
        ),
    CommandSpec::new("discard", 1, discard)
        .flags(NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY)
        .categories(CATS)
        .doc(
            "transactions",
            "Discards a transaction.",
            "2.0.0",
            "O(N), when N is the number of queued commands",
        ),
    CommandSpec::new("watch", -2, watch)
        .flags(NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY)
        .keys(1, -1, 1)
        .categories(CATS)
        .doc(
            "transactions",
            "Monitors changes to keys to determine the execution of a transaction.",
            "2.2.0",
            "O(1) for every key.",
        ),
    CommandSpec::new("unwatch", 1, unwatch)
        .flags(NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY)
        .categories(CATS)
        .doc(
            "transactions",
            "Forgets about watched keys of a transaction.",
            "2.2.0",
            "O(1)",
        ),
];

fn multi(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    if ctx.client.multi.is_some() {
        return Reply::error("ERR MULTI calls can not be nested");
    }
    ctx.client.begin_multi();
    Reply::ok()
}

fn exec(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    let Some(multi) = ctx.client.end_multi() else {
        return Reply::error("ERR EXEC without MULTI");
    };
    let id = ctx.client.id;
    if multi.aborted {
        ctx.engine.keyspace.watches_mut().unwatch_all(id);
        return Reply::error("EXECABORT Transaction discarded because of previous errors.");
    }
    // A watched key whose TTL has passed counts as changed (Redis 7): looking it up expires
    // it, which marks its watchers.
    for (db, key) in ctx.engine.keyspace.watches().keys_of(id) {
        if let Err(e) = ctx.engine.keyspace.exists(db, &key, ctx.now) {
            ctx.engine.keyspace.watches_mut().unwatch_all(id);
            return e.into();
        }
    }
    let dirty = ctx.engine.keyspace.watches().is_dirty(id);
    ctx.engine.keyspace.watches_mut().unwatch_all(id);
    if dirty {
        return Reply::NullArray;
    }
    let was_in_exec = std::mem::replace(&mut ctx.engine.in_exec, true);
    let replies = multi
        .commands
        .iter()
        .map(|argv| ctx.engine.run_queued(ctx.client, argv))
        .collect();
    ctx.engine.in_exec = was_in_exec;
    Reply::Array(replies)
}

fn discard(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    if ctx.client.end_multi().is_none() {
        return Reply::error("ERR DISCARD without MULTI");
    }
    ctx.engine.keyspace.watches_mut().unwatch_all(ctx.client.id);
    Reply::ok()
}

fn watch(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    if ctx.client.multi.is_some() {
        return Reply::error("ERR WATCH inside MULTI is not allowed");
    }
    let db = ctx.db();
    for key in &argv[1..] {
        // A key whose TTL passed before WATCH is expired first, so that its expiry does not
        // count against this transaction (Redis 7 ignores keys already expired at WATCH).
        tri!(ctx.engine.keyspace.exists(db, key, ctx.now));
        ctx.engine
            .keyspace
            .watches_mut()
            .watch(ctx.client.id, db, key.clone());
    }
    Reply::ok()
}

fn unwatch(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    ctx.engine.keyspace.watches_mut().unwatch_all(ctx.client.id);
    Reply::ok()
}
