//! WAIT and WAITAOF: Respite has no replicas, so WAIT counts none (at once when none is asked
//! for, or inside MULTI; otherwise after its timeout, as Redis does with no replica
//! answering), and WAITAOF's local count is 1 once the client's writes are durable: at once
//! with `durability = "commit"` (a reply already meant that), after a flush with write-behind.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::parse_i64;
use super::table::{flags::*, CommandSpec};
use crate::engine::blocked::{BlockSpec, Unblock};
use crate::engine::client::ClientId;
use crate::engine::{Ctx, Engine};
use crate::protocol::Reply;

/// WAIT and WAITAOF.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("wait", 3, wait)
        .flags(NOSCRIPT)
        .categories(&["slow", "connection"])
        .doc(
            "generic",
            "Blocks until the asynchronous replication of all preceding write commands sent \
             by the connection is completed.",
            "3.0.0",
            "O(1)",
        ),
    CommandSpec::new("waitaof", 4, waitaof)
        .flags(NOSCRIPT)
        .categories(&["slow", "connection"])
        .doc(
            "generic",
            "Blocks until all of the preceding write commands sent by the connection are \
             written to the append-only file of the master and/or replicas.",
            "7.2.0",
            "O(1)",
        ),
];

/// A timeout in milliseconds, as Redis parses WAIT's (`None`: wait forever).
fn timeout(arg: &[u8]) -> Result<Option<Instant>, Reply> {
    let ms = parse_i64(arg)
        .ok_or_else(|| Reply::error("ERR timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(Reply::error("ERR timeout is negative"));
    }
    Ok((ms > 0).then(|| Instant::now() + Duration::from_millis(ms as u64)))
}

/// Nothing to forget: no replica will ever serve the waiter.
fn on_unblock(_engine: &mut Engine, _id: ClientId, _why: Unblock) {}

/// Parks the client until `deadline` with `reply`; answers at once where it may not block.
fn wait_for_nothing(ctx: &mut Ctx<'_>, deadline: Option<Instant>, reply: Reply) -> Reply {
    let spec = BlockSpec {
        deadline,
        timeout_reply: reply.clone(),
        on_unblock,
    };
    if ctx.block(spec) {
        Reply::Null // dropped: the reply comes when the client is released
    } else {
        reply
    }
}

fn wait(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let Some(wanted) = parse_i64(&argv[1]) else {
        return Reply::error("ERR value is not an integer or out of range");
    };
    let deadline = match timeout(&argv[2]) {
        Ok(d) => d,
        Err(e) => return e,
    };
    if wanted <= 0 {
        return Reply::Integer(0);
    }
    wait_for_nothing(ctx, deadline, Reply::Integer(0))
}

fn waitaof(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let Some(local) = parse_i64(&argv[1]) else {
        return Reply::error("ERR value is not an integer or out of range");
    };
    let Some(replicas) = parse_i64(&argv[2]) else {
        return Reply::error("ERR value is not an integer or out of range");
    };
    let deadline = match timeout(&argv[3]) {
        Ok(d) => d,
        Err(e) => return e,
    };
    // The client's writes are durable once committed; with write-behind that takes a flush,
    // run for a WAITAOF that asks for the local count.
    if local >= 1 {
        if let Err(e) = ctx.engine.flush_keyspace() {
            return Reply::Error(format!("ERR {e}").into());
        }
    }
    let durable = !ctx.engine.keyspace.is_write_behind() || !ctx.engine.keyspace.has_pending();
    let local_acked = i64::from(durable);
    let counts = Reply::Array(vec![Reply::Integer(local_acked), Reply::Integer(0)]);
    // The server counts once and no replica ever acknowledges: more waits for the timeout.
    if local <= local_acked && replicas <= 0 {
        return counts;
    }
    wait_for_nothing(ctx, deadline, counts)
}
