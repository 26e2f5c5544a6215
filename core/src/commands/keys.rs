//! Generic key commands (Redis's db.c / expire.c): DEL, EXISTS.

use bytes::Bytes;

use super::err_store;
use super::table::{flags::*, CommandSpec};
use crate::engine::Ctx;
use crate::events::class;
use crate::protocol::Reply;

/// Key commands.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "del",
        arity: -2,
        flags: WRITE,
        first_key: 1,
        last_key: -1,
        step: 1,
        categories: &["keyspace", "write", "slow"],
        summary: "Deletes one or more keys.",
        complexity: "O(N) where N is the number of keys that will be removed.",
        handler: Some(del),
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "exists",
        arity: -2,
        flags: READONLY | FAST,
        first_key: 1,
        last_key: -1,
        step: 1,
        categories: &["keyspace", "read", "fast"],
        summary: "Determines whether one or more keys exist.",
        since: "1.0.0",
        complexity: "O(N) where N is the number of keys to check.",
        handler: Some(exists),
        ..CommandSpec::BASE
    },
];

fn del(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let db = ctx.db();
    let mut removed = 0;
    for key in &argv[1..] {
        match ctx.engine.keyspace.delete(db, key, ctx.now) {
            Ok(true) => {
                removed += 1;
                ctx.notify(class::GENERIC, "del", key);
            }
            Ok(false) => {}
            Err(e) => return err_store(&e),
        }
    }
    Reply::Integer(removed)
}

fn exists(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let db = ctx.db();
    let mut found = 0;
    // Redis counts a key repeated in the arguments once per mention.
    for key in &argv[1..] {
        match ctx.engine.keyspace.exists(db, key, ctx.now) {
            Ok(true) => found += 1,
            Ok(false) => {}
            Err(e) => return err_store(&e),
        }
    }
    Reply::Integer(found)
}
