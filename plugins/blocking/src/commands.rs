//! The blocking commands (Redis's t_list.c and t_zset.c blocking forms): each tries its
//! non-blocking core first, then waits ([`crate::wait`]) or, where commands may not block
//! (MULTI, scripts), answers as the non-blocking form.

use std::time::{Duration, Instant};

use bytes::Bytes;
use respite_core::plugin::api::flags::*;
use respite_core::plugin::api::list::{lmove as lmove_core, mpop_first, parse_mpop, pop};
use respite_core::plugin::api::stream::{
    xread_serve, xread_start, xreadgroup_serve, xreadgroup_start, ReadStart,
};
use respite_core::plugin::api::zset::{parse_zmpop, pop_first as zpop_first, zmpop_reply};
use respite_core::plugin::api::{
    eq_ci, err_syntax, parse_block_timeout, tri, CommandSpec, Ctx, Reply,
};

use crate::waiters::Op;
use crate::{state, wait, Outcome};

const LIST_CATS: &[&str] = &["write", "list", "slow", "blocking"];
const ZSET_FAST_CATS: &[&str] = &["write", "sortedset", "fast", "blocking"];
const ZSET_SLOW_CATS: &[&str] = &["write", "sortedset", "slow", "blocking"];

/// The plugin's commands.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("blpop", -3, blpop)
        .flags(WRITE | NOSCRIPT | BLOCKING)
        .keys(1, -2, 1)
        .categories(LIST_CATS)
        .doc(
            "list",
            "Remove and get the first element in a list, or block until one is available",
            "2.0.0",
            "O(N) where N is the number of provided keys.",
        ),
    CommandSpec::new("brpop", -3, brpop)
        .flags(WRITE | NOSCRIPT | BLOCKING)
        .keys(1, -2, 1)
        .categories(LIST_CATS)
        .doc(
            "list",
            "Remove and get the last element in a list, or block until one is available",
            "2.0.0",
            "O(N) where N is the number of provided keys.",
        ),
    CommandSpec::new("blmove", 6, blmove)
        .flags(WRITE | DENYOOM | NOSCRIPT | BLOCKING)
        .keys(1, 2, 1)
        .categories(LIST_CATS)
        .doc(
            "list",
            "Pop an element from a list, push it to another list and return it; or block until one is available",
            "6.2.0",
            "O(1)",
        ),
    CommandSpec::new("brpoplpush", 4, brpoplpush)
        .flags(WRITE | DENYOOM | NOSCRIPT | BLOCKING)
        .keys(1, 2, 1)
        .categories(LIST_CATS)
        .doc(
            "list",
            "Pop an element from a list, push it to another list and return it; or block until one is available",
            "2.2.0",
            "O(1)",
        ),
    CommandSpec::new("blmpop", -5, blmpop)
        .flags(WRITE | BLOCKING | MOVABLE_KEYS)
        .numkeys(2)
        .categories(LIST_CATS)
        .doc(
            "list",
            "Pop elements from a list, or block until one is available",
            "7.0.0",
            "O(N+M) where N is the number of provided keys and M is the number of elements returned.",
        ),
    CommandSpec::new("bzpopmin", -3, bzpopmin)
        .flags(WRITE | NOSCRIPT | BLOCKING | FAST)
        .keys(1, -2, 1)
        .categories(ZSET_FAST_CATS)
        .doc(
            "sorted-set",
            "Remove and return the member with the lowest score from one or more sorted sets, or block until one is available",
            "5.0.0",
            "O(log(N)) with N being the number of elements in the sorted set.",
        ),
    CommandSpec::new("bzpopmax", -3, bzpopmax)
        .flags(WRITE | NOSCRIPT | BLOCKING | FAST)
        .keys(1, -2, 1)
        .categories(ZSET_FAST_CATS)
        .doc(
            "sorted-set",
            "Remove and return the member with the highest score from one or more sorted sets, or block until one is available",
            "5.0.0",
            "O(log(N)) with N being the number of elements in the sorted set.",
        ),
    CommandSpec::new("bzmpop", -5, bzmpop)
        .flags(WRITE | BLOCKING | MOVABLE_KEYS)
        .numkeys(2)
        .categories(ZSET_SLOW_CATS)
        .doc(
            "sorted-set",
            "Remove and return members with scores in a sorted set or block until one is available",
            "7.0.0",
            "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.",
        ),
    CommandSpec::new("xread", -4, xread)
        .flags(READONLY | BLOCKING | MOVABLE_KEYS)
        .categories(&["read", "stream", "slow", "blocking"])
        .doc(
            "stream",
            "Returns messages from multiple streams with IDs greater than the ones requested. Blocks until a message is available otherwise.",
            "5.0.0",
            "",
        ),
    CommandSpec::new("xreadgroup", -7, xreadgroup)
        .flags(WRITE | BLOCKING | MOVABLE_KEYS)
        .categories(&["write", "stream", "slow", "blocking"])
        .doc(
            "stream",
            "Returns new or historical messages from a stream for a consumer in a group. Blocks until a message is available otherwise.",
            "5.0.0",
            "For each stream mentioned: O(M) with M being the number of elements returned. If M is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1). On the other side when XREADGROUP blocks, XADD will pay the O(N) time in order to serve the N clients blocked on the stream getting new data.",
        ),
];

/// Refuses more keys than `[plugins.blocking] max_keys_per_command`.
fn check_keys(ctx: &mut Ctx<'_>, n: usize) -> Result<(), Reply> {
    let Some(max) = state(ctx.engine()).map(|st| st.config.max_keys_per_command) else {
        return Ok(());
    };
    if n > max.get() {
        return Err(Reply::Error(
            format!(
                "ERR too many keys for a blocking command: {n} (plugins.blocking.max_keys_per_command is {max})"
            )
            .into(),
        ));
    }
    Ok(())
}

/// Waits on `keys` when the command may block; otherwise (MULTI, scripts) answers `nil`, the
/// non-blocking form's empty reply.
fn wait_or(
    ctx: &mut Ctx<'_>,
    keys: Vec<Bytes>,
    op: Op,
    deadline: Option<Instant>,
    nil: Reply,
) -> Reply {
    if !ctx.engine().may_block() {
        return nil;
    }
    match wait(ctx, keys, op, deadline) {
        // A placeholder: the client's reply comes when it is released.
        Ok(()) => Reply::NullArray,
        Err(reply) => reply,
    }
}

fn blpop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    bpop(ctx, argv, true)
}

fn brpop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    bpop(ctx, argv, false)
}

fn bpop(ctx: &mut Ctx<'_>, argv: &[Bytes], front: bool) -> Reply {
    let deadline = tri!(parse_block_timeout(&argv[argv.len() - 1]));
    let keys = &argv[1..argv.len() - 1];
    tri!(check_keys(ctx, keys.len()));
    let op = Op::Pop { front, count: None };
    for key in keys {
        if let Outcome::Reply(reply) = serve(ctx, key, &op) {
            return reply;
        }
    }
    wait_or(ctx, keys.to_vec(), op, deadline, Reply::NullArray)
}

fn blmpop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let deadline = tri!(parse_block_timeout(&argv[1]));
    let m = tri!(parse_mpop(argv, 2));
    tri!(check_keys(ctx, m.keys.len()));
    let reply = mpop_first(ctx, &m);
    if reply != Reply::NullArray {
        return reply;
    }
    let op = Op::Pop {
        front: m.front,
        count: Some(m.count),
    };
    wait_or(ctx, m.keys, op, deadline, Reply::NullArray)
}

fn blmove(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let side = |arg: &[u8]| {
        if eq_ci(arg, "left") {
            Some(true)
        } else if eq_ci(arg, "right") {
            Some(false)
        } else {
            None
        }
    };
    let (Some(from_front), Some(to_front)) = (side(&argv[3]), side(&argv[4])) else {
        return err_syntax();
    };
    bmove(ctx, &argv[1], &argv[2], from_front, to_front, &argv[5])
}

fn brpoplpush(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    bmove(ctx, &argv[1], &argv[2], false, true, &argv[3])
}

fn bmove(
    ctx: &mut Ctx<'_>,
    src: &Bytes,
    dst: &Bytes,
    from_front: bool,
    to_front: bool,
    timeout: &[u8],
) -> Reply {
    let deadline = tri!(parse_block_timeout(timeout));
    let op = Op::Move {
        dst: dst.clone(),
        from_front,
        to_front,
    };
    if let Outcome::Reply(reply) = serve(ctx, src, &op) {
        return reply;
    }
    // The non-blocking LMOVE answers a missing source with a nil bulk string.
    wait_or(ctx, vec![src.clone()], op, deadline, Reply::Null)
}

fn bzpopmin(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    bzpop(ctx, argv, false)
}

fn bzpopmax(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    bzpop(ctx, argv, true)
}

fn bzpop(ctx: &mut Ctx<'_>, argv: &[Bytes], max: bool) -> Reply {
    let deadline = tri!(parse_block_timeout(&argv[argv.len() - 1]));
    let keys = &argv[1..argv.len() - 1];
    tri!(check_keys(ctx, keys.len()));
    let op = Op::ZPop { max, count: None };
    if let Some(reply) = zpop_reply(ctx, keys, max, None) {
        return reply;
    }
    wait_or(ctx, keys.to_vec(), op, deadline, Reply::NullArray)
}

fn bzmpop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let deadline = tri!(parse_block_timeout(&argv[1]));
    let m = tri!(parse_zmpop(argv, 2));
    tri!(check_keys(ctx, m.keys.len()));
    if let Some(reply) = zpop_reply(ctx, &m.keys, m.max, Some(m.count)) {
        return reply;
    }
    let op = Op::ZPop {
        max: m.max,
        count: Some(m.count),
    };
    wait_or(ctx, m.keys, op, deadline, Reply::NullArray)
}

/// Pops from the first existing sorted set of `keys`: BZPOPMIN/BZPOPMAX's
/// `[key, member, score]` (`count: None`) or BZMPOP's reply; `None` when every key is
/// missing. A key of another type answers WRONGTYPE when it is reached.
fn zpop_reply(ctx: &mut Ctx<'_>, keys: &[Bytes], max: bool, count: Option<u64>) -> Option<Reply> {
    match zpop_first(ctx, keys, max, count.unwrap_or(1)) {
        Err(reply) => Some(reply),
        Ok(None) => None,
        Ok(Some((_, popped))) if popped.is_empty() => None,
        Ok(Some((key, popped))) => Some(match count {
            Some(_) => zmpop_reply(key, popped),
            None => {
                let mut reply = vec![Reply::Bulk(key)];
                for (member, score) in popped {
                    reply.push(Reply::Bulk(member));
                    reply.push(Reply::Double(score));
                }
                Reply::Array(reply)
            }
        }),
    }
}

fn xread(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let start = xread_start(ctx, argv);
    stream_wait(ctx, start)
}

fn xreadgroup(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let start = xreadgroup_start(ctx, argv);
    stream_wait(ctx, start)
}

/// Replies, or waits on the stream keys under BLOCK (milliseconds, 0 = forever).
fn stream_wait(ctx: &mut Ctx<'_>, start: ReadStart) -> Reply {
    let ReadStart::Wait {
        keys,
        ids,
        count,
        block_ms,
        group,
        noack,
    } = start
    else {
        let ReadStart::Reply(reply) = start else {
            return Reply::NullArray;
        };
        return reply;
    };
    tri!(check_keys(ctx, keys.len()));
    let deadline = (block_ms > 0).then(|| Instant::now() + Duration::from_millis(block_ms as u64));
    let op = match group {
        None => Op::XRead {
            keys: keys.clone(),
            ids,
            count,
        },
        Some((group, consumer)) => Op::XReadGroup {
            group,
            consumer,
            count,
            noack,
        },
    };
    wait_or(ctx, keys, op, deadline, Reply::NullArray)
}

/// Runs `op`'s non-blocking core on `key` for the client of `ctx`: what the command does when
/// it finds data, and what serving a waiter does.
pub(crate) fn serve(ctx: &mut Ctx<'_>, key: &Bytes, op: &Op) -> Outcome {
    let reply = match op {
        Op::Pop { front, count } => match pop(ctx, key, *front, count.unwrap_or(1)) {
            Err(reply) => reply,
            Ok(None) => return Outcome::Empty,
            Ok(Some(items)) if items.is_empty() => return Outcome::Empty,
            Ok(Some(items)) => match count {
                None => Reply::Array(
                    std::iter::once(Reply::Bulk(key.clone()))
                        .chain(items.into_iter().take(1).map(Reply::Bulk))
                        .collect(),
                ),
                Some(_) => Reply::Array(vec![
                    Reply::Bulk(key.clone()),
                    Reply::Array(items.into_iter().map(Reply::Bulk).collect()),
                ]),
            },
        },
        Op::Move {
            dst,
            from_front,
            to_front,
        } => match lmove_core(ctx, key, dst, *from_front, *to_front) {
            Err(reply) => reply,
            Ok(None) => return Outcome::Empty,
            Ok(Some(item)) => Reply::Bulk(item),
        },
        Op::ZPop { max, count } => match zpop_reply(ctx, std::slice::from_ref(key), *max, *count) {
            Some(reply) => reply,
            None => return Outcome::Empty,
        },
        Op::XRead { keys, ids, count } => {
            let Some(at) = keys.iter().position(|k| k == key) else {
                return Outcome::Empty;
            };
            match xread_serve(ctx, std::slice::from_ref(key), &ids[at..=at], *count) {
                Err(reply) => reply,
                Ok(None) => return Outcome::Empty,
                Ok(Some(reply)) => reply,
            }
        }
        Op::XReadGroup {
            group,
            consumer,
            count,
            noack,
        } => match xreadgroup_serve(ctx, key, group, consumer, *count, *noack) {
            Err(reply) => reply,
            Ok(None) => return Outcome::Empty,
            Ok(Some(reply)) => reply,
        },
    };
    Outcome::Reply(reply)
}
