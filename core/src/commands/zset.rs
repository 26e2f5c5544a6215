//! Sorted-set commands (Redis's t_zset.c): ZADD and friends, the ZRANGE family with its
//! score, lexicographic and rank ranges, pops (ZPOPMIN, ZPOPMAX, ZMPOP), the set operations
//! (ZUNION, ZINTER, ZDIFF, their STORE forms, ZINTERCARD), ZRANDMEMBER and ZSCAN.
//!
//! Scores are IEEE doubles, replied with Redis 7.0's `%.17g` (`inf`, `-inf`); RESP3 replies
//! them as doubles and pairs members with their scores.

use std::collections::HashMap;

use bytes::Bytes;

use super::keys::scan_collection;
use super::long_double::{parse_f64, parse_f64_lenient};
use super::sample::{self, Sampled};
use super::table::{flags::*, CommandSpec};
use super::{eq_ci, err_not_integer, err_store, err_syntax, err_wrongtype, parse_i64};
use super::{owned, read_typed, store_err, write_key};
use crate::engine::Ctx;
use crate::events::class;
use crate::keyspace::{rand_u64, Value, ZSet};
use crate::protocol::{format_double, Protocol, Reply};
use crate::storage::{LexBound, ScoreBound, Store, StoreError, ZRange};

const GROUP: &str = "sorted-set";
const READ: &[&str] = &["read", "sortedset", "slow"];
const READ_FAST: &[&str] = &["read", "sortedset", "fast"];
const WRITE_SLOW: &[&str] = &["write", "sortedset", "slow"];
const WRITE_FAST: &[&str] = &["write", "sortedset", "fast"];

const O_LOG_M: &str = "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned.";
const O_RANK: &str = "O(N) here: ranks are counted (Redis: O(log(N)))";
const O_SETOP: &str = "O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set.";

/// Sorted-set commands.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("zadd", -4, zadd)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .elements(3, -1, 2)
        .categories(WRITE_FAST)
        .doc(
            GROUP,
            "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.",
            "1.2.0",
            "O(log(N)) for each item added, where N is the number of elements in the sorted set.",
        ),
    CommandSpec::new("zincrby", 4, zincrby)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .elements(3, 3, 1)
        .categories(WRITE_FAST)
        .doc(
            GROUP,
            "Increments the score of a member in a sorted set.",
            "1.2.0",
            "O(log(N)) where N is the number of elements in the sorted set.",
        ),
    CommandSpec::new("zrem", -3, zrem)
        .flags(WRITE | FAST)
        .keys(1, 1, 1)
        .elements(2, -1, 1)
        .categories(WRITE_FAST)
        .doc(
            GROUP,
            "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.",
            "1.2.0",
            "O(M*log(N)) with N being the number of elements in the sorted set and M the number of elements to be removed.",
        ),
    CommandSpec::new("zcard", 2, zcard)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .categories(READ_FAST)
        .doc(GROUP, "Returns the number of members in a sorted set.", "1.2.0", "O(1)"),
    CommandSpec::new("zscore", 3, zscore)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .elements(2, 2, 1)
        .categories(READ_FAST)
        .doc(GROUP, "Returns the score of a member in a sorted set.", "1.2.0", "O(1)"),
    CommandSpec::new("zmscore", -3, zmscore)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .elements(2, -1, 1)
        .categories(READ_FAST)
        .doc(
            GROUP,
            "Returns the score of one or more members in a sorted set.",
            "6.2.0",
            "O(N) where N is the number of members being requested.",
        ),
    CommandSpec::new("zrank", -3, zrank)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .elements(2, 2, 1)
        .categories(READ_FAST)
        .doc(
            GROUP,
            "Returns the index of a member in a sorted set ordered by ascending scores.",
            "2.0.0",
            O_RANK,
        ),
    CommandSpec::new("zrevrank", -3, zrevrank)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .elements(2, 2, 1)
        .categories(READ_FAST)
        .doc(
            GROUP,
            "Returns the index of a member in a sorted set ordered by descending scores.",
            "2.0.0",
            O_RANK,
        ),
    CommandSpec::new("zrange", -4, zrange)
        .flags(READONLY)
        .keys(1, 1, 1)
        .categories(READ)
        .doc(GROUP, "Returns members in a sorted set within a range of indexes.", "1.2.0", O_LOG_M),
    CommandSpec::new("zrevrange", -4, zrevrange)
        .flags(READONLY)
        .keys(1, 1, 1)
        .categories(READ)
        .doc(
            GROUP,
            "Returns members in a sorted set within a range of indexes in reverse order.",
            "1.2.0",
            O_LOG_M,
        ),
    CommandSpec::new("zrangebyscore", -4, zrangebyscore)
        .flags(READONLY)
        .keys(1, 1, 1)
        .categories(READ)
        .doc(GROUP, "Returns members in a sorted set within a range of scores.", "1.0.5", O_LOG_M),
    CommandSpec::new("zrevrangebyscore", -4, zrevrangebyscore)
        .flags(READONLY)
        .keys(1, 1, 1)
        .categories(READ)
        .doc(
            GROUP,
            "Returns members in a sorted set within a range of scores in reverse order.",
            "2.2.0",
            O_LOG_M,
        ),
    CommandSpec::new("zrangebylex", -4, zrangebylex)
        .flags(READONLY)
        .keys(1, 1, 1)
        .categories(READ)
        .doc(
            GROUP,
            "Returns members in a sorted set within a lexicographical range.",
            "2.8.9",
            O_LOG_M,
        ),
    CommandSpec::new("zrevrangebylex", -4, zrevrangebylex)
        .flags(READONLY)
        .keys(1, 1, 1)
        .categories(READ)
        .doc(
            GROUP,
            "Returns members in a sorted set within a lexicographical range in reverse order.",
            "2.8.9",
            O_LOG_M,
        ),
    CommandSpec::new("zrangestore", -5, zrangestore)
        .flags(WRITE | DENYOOM)
        .keys(1, 2, 1)
        .categories(WRITE_SLOW)
        .doc(GROUP, "Stores a range of members from sorted set in a key.", "6.2.0", O_LOG_M),
    CommandSpec::new("zcount", 4, zcount)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .categories(READ_FAST)
        .doc(
            GROUP,
            "Returns the count of members in a sorted set that have scores within a range.",
            "2.0.0",
            "O(M) here, M being the members counted (Redis: O(log(N)))",
        ),
    CommandSpec::new("zlexcount", 4, zlexcount)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .categories(READ_FAST)
        .doc(
            GROUP,
            "Returns the number of members in a sorted set within a lexicographical range.",
            "2.8.9",
            "O(M) here, M being the members counted (Redis: O(log(N)))",
        ),
    CommandSpec::new("zpopmin", -2, zpopmin)
        .flags(WRITE | FAST)
        .keys(1, 1, 1)
        .categories(WRITE_FAST)
        .doc(
            GROUP,
            "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.",
            "5.0.0",
            "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped.",
        ),
    CommandSpec::new("zpopmax", -2, zpopmax)
        .flags(WRITE | FAST)
        .keys(1, 1, 1)
        .categories(WRITE_FAST)
        .doc(
            GROUP,
            "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.",
            "5.0.0",
            "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped.",
        ),
    CommandSpec::new("zmpop", -4, zmpop)
        .flags(WRITE | MOVABLE_KEYS)
        .numkeys(1)
        .categories(WRITE_SLOW)
        .doc(
            GROUP,
            "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.",
            "7.0.0",
            "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped.",
        ),
    CommandSpec::new("zremrangebyrank", 4, zremrangebyrank)
        .flags(WRITE)
        .keys(1, 1, 1)
        .categories(WRITE_SLOW)
        .doc(
            GROUP,
            "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.",
            "2.0.0",
            O_LOG_M,
        ),
    CommandSpec::new("zremrangebyscore", 4, zremrangebyscore)
        .flags(WRITE)
        .keys(1, 1, 1)
        .categories(WRITE_SLOW)
        .doc(
            GROUP,
            "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.",
            "1.2.0",
            O_LOG_M,
        ),
    CommandSpec::new("zremrangebylex", 4, zremrangebylex)
        .flags(WRITE)
        .keys(1, 1, 1)
        .categories(WRITE_SLOW)
        .doc(
            GROUP,
            "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.",
            "2.8.9",
            O_LOG_M,
        ),
    CommandSpec::new("zunion", -3, zunion)
        .flags(READONLY | MOVABLE_KEYS)
        .numkeys(1)
        .categories(READ)
        .doc(GROUP, "Returns the union of multiple sorted sets.", "6.2.0", O_SETOP),
    CommandSpec::new("zinter", -3, zinter)
        .flags(READONLY | MOVABLE_KEYS)
        .numkeys(1)
        .categories(READ)
        .doc(GROUP, "Returns the intersect of multiple sorted sets.", "6.2.0", O_SETOP),
    CommandSpec::new("zdiff", -3, zdiff)
        .flags(READONLY | MOVABLE_KEYS)
        .numkeys(1)
        .categories(READ)
        .doc(GROUP, "Returns the difference between multiple sorted sets.", "6.2.0", O_SETOP),
    CommandSpec::new("zunionstore", -4, zunionstore)
        .flags(WRITE | DENYOOM | MOVABLE_KEYS)
        .keys(1, 1, 1)
        .numkeys(2)
        .categories(WRITE_SLOW)
        .doc(GROUP, "Stores the union of multiple sorted sets in a key.", "2.0.0", O_SETOP),
    CommandSpec::new("zinterstore", -4, zinterstore)
        .flags(WRITE | DENYOOM | MOVABLE_KEYS)
        .keys(1, 1, 1)
        .numkeys(2)
        .categories(WRITE_SLOW)
        .doc(GROUP, "Stores the intersect of multiple sorted sets in a key.", "2.0.0", O_SETOP),
    CommandSpec::new("zdiffstore", -4, zdiffstore)
        .flags(WRITE | DENYOOM | MOVABLE_KEYS)
        .keys(1, 1, 1)
        .numkeys(2)
        .categories(WRITE_SLOW)
        .doc(GROUP, "Stores the difference of multiple sorted sets in a key.", "6.2.0", O_SETOP),
    CommandSpec::new("zintercard", -3, zintercard)
        .flags(READONLY | MOVABLE_KEYS)
        .numkeys(1)
        .categories(READ)
        .doc(
            GROUP,
            "Returns the number of members of the intersect of multiple sorted sets.",
            "7.0.0",
            "O(N*K) worst case with N being the smallest input sorted set, K being the number of input sorted sets.",
        ),
    CommandSpec::new("zrandmember", -2, zrandmember)
        .flags(READONLY)
        .keys(1, 1, 1)
        .categories(READ)
        .doc(
            GROUP,
            "Returns one or more random members from a sorted set.",
            "6.2.0",
            "O(N) where N is the number of members returned",
        ),
    CommandSpec::new("zscan", -3, zscan)
        .flags(READONLY)
        .keys(1, 1, 1)
        .categories(READ)
        .doc(
            GROUP,
            "Iterates over members and scores of a sorted set.",
            "2.8.0",
            "O(1) for every call. O(N) for a complete iteration.",
        ),
];

// ---------------------------------------------------------------------------------------
// Shared pieces.

/// `-0` becomes `0`, as Redis's listpack stores it.
fn normal(score: f64) -> f64 {
    score + 0.0
}

fn err_not_float() -> Reply {
    Reply::error("ERR value is not a valid float")
}

fn err_range_float() -> Reply {
    Reply::error("ERR min or max is not a float")
}

fn err_range_lex() -> Reply {
    Reply::error("ERR min or max not valid string range item")
}

fn is_resp3(ctx: &Ctx<'_>) -> bool {
    ctx.client.protocol == Protocol::Resp3
}

/// Members, with their scores if asked: flat in RESP2, `[member, score]` pairs in RESP3.
fn entries_reply(entries: Vec<(Bytes, f64)>, withscores: bool, resp3: bool) -> Reply {
    let mut out = Vec::with_capacity(entries.len() * if withscores && !resp3 { 2 } else { 1 });
    for (member, score) in entries {
        match (withscores, resp3) {
            (false, _) => out.push(Reply::Bulk(member)),
            (true, true) => out.push(Reply::Array(vec![
                Reply::Bulk(member),
                Reply::Double(score),
            ])),
            (true, false) => {
                out.push(Reply::Bulk(member));
                out.push(Reply::Double(score));
            }
        }
    }
    Reply::Array(out)
}

/// One end of a score range: `1.5`, `(1.5`, `-inf`, `+inf` (read with Redis's bare strtod).
fn parse_score_bound(arg: &[u8]) -> Option<ScoreBound> {
    match arg.split_first() {
        Some((b'(', rest)) => parse_f64_lenient(rest).map(|value| ScoreBound {
            value,
            exclusive: true,
        }),
        _ => parse_f64_lenient(arg).map(ScoreBound::inclusive),
    }
}

fn parse_score_range(min: &[u8], max: &[u8]) -> Result<ZRange, Reply> {
    match (parse_score_bound(min), parse_score_bound(max)) {
        (Some(min), Some(max)) => Ok(ZRange::scores(min, max)),
        _ => Err(err_range_float()),
    }
}

/// One end of a lexicographic range: `-`, `+`, `[member`, `(member`.
fn parse_lex_bound(arg: &[u8]) -> Option<LexBound> {
    match arg {
        b"-" => Some(LexBound::Min),
        b"+" => Some(LexBound::Max),
        [b'[', rest @ ..] => Some(LexBound::Inclusive(owned(rest))),
        [b'(', rest @ ..] => Some(LexBound::Exclusive(owned(rest))),
        _ => None,
    }
}

fn parse_lex_range(min: &[u8], max: &[u8]) -> Result<ZRange, Reply> {
    match (parse_lex_bound(min), parse_lex_bound(max)) {
        (Some(lex_min), Some(lex_max)) => Ok(ZRange {
            lex_min,
            lex_max,
            ..ZRange::all()
        }),
        _ => Err(err_range_lex()),
    }
}

/// A rank range (negative ranks count from the end) clamped to a set of `len` members, or
/// `None` when it selects nothing.
fn clamp_ranks(start: i64, stop: i64, len: u64) -> Option<(u64, u64)> {
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    let start = if start < 0 {
        len.saturating_add(start)
    } else {
        start
    }
    .max(0);
    let stop = if stop < 0 {
        len.saturating_add(stop)
    } else {
        stop
    };
    if start > stop || start >= len {
        return None;
    }
    Some((start as u64, stop.min(len - 1) as u64))
}

/// Replaces `dst` with a sorted set of `entries` (deleting it when there are none), as the
/// STORE commands do; replies the number of members.
pub(crate) fn store_result(
    ctx: &mut Ctx<'_>,
    dst: &[u8],
    entries: Vec<(Bytes, f64)>,
    event: &'static str,
) -> Reply {
    let (db, now) = (ctx.db(), ctx.now);
    let n = entries.len();
    let result = (|| {
        let mut km = write_key(&mut ctx.engine.keyspace, db, dst, now)?;
        let existed = km.delete().map_err(store_err)?;
        if entries.is_empty() {
            return Ok(existed);
        }
        let (z, mut backing) = km.zset_or_create().map_err(|_| err_wrongtype())?;
        for (member, score) in entries {
            z.set_score(&mut backing, member, score, None)
                .map_err(store_err)?;
        }
        Ok::<_, Reply>(existed)
    })();
    match result {
        Ok(existed) => {
            if n > 0 {
                ctx.notify(class::ZSET, event, dst);
            } else if existed {
                ctx.notify(class::GENERIC, "del", dst);
            }
            Reply::Integer(n as i64)
        }
        Err(reply) => reply,
    }
}

// ---------------------------------------------------------------------------------------
// ZADD, ZINCRBY, ZREM.

/// ZADD's flags (GEOADD sets NX, XX and CH).
#[derive(Default)]
pub(crate) struct AddFlags {
    pub(crate) nx: bool,
    pub(crate) xx: bool,
    pub(crate) gt: bool,
    pub(crate) lt: bool,
    pub(crate) ch: bool,
    pub(crate) incr: bool,
}

fn zadd(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let mut f = AddFlags::default();
    let mut i = 2;
    while let Some(arg) = argv.get(i) {
        let flag = match arg.to_ascii_lowercase().as_slice() {
            b"nx" => &mut f.nx,
            b"xx" => &mut f.xx,
            b"gt" => &mut f.gt,
            b"lt" => &mut f.lt,
            b"ch" => &mut f.ch,
            b"incr" => &mut f.incr,
            _ => break,
        };
        *flag = true;
        i += 1;
    }
    let rest = &argv[i..];
    if rest.is_empty() || rest.len() % 2 == 1 {
        return err_syntax();
    }
    if f.nx && f.xx {
        return Reply::error("ERR XX and NX options at the same time are not compatible");
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return Reply::error("ERR GT, LT, and/or NX options at the same time are not compatible");
    }
    if f.incr && rest.len() > 2 {
        return Reply::error("ERR INCR option supports a single increment-element pair");
    }
    let mut pairs = Vec::with_capacity(rest.len() / 2);
    for pair in rest.chunks_exact(2) {
        let Some(score) = parse_f64(&pair[0]) else {
            return err_not_float();
        };
        pairs.push((normal(score), &pair[1]));
    }
    zadd_apply(ctx, &argv[1], &f, &pairs)
}

fn zincrby(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let Some(incr) = parse_f64(&argv[2]) else {
        return err_not_float();
    };
    let f = AddFlags {
        incr: true,
        ..AddFlags::default()
    };
    zadd_apply(ctx, &argv[1], &f, &[(normal(incr), &argv[3])])
}

/// Redis's zsetAdd over every pair, then the reply and the event.
pub(crate) fn zadd_apply(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    f: &AddFlags,
    pairs: &[(f64, &Bytes)],
) -> Reply {
    let (db, now) = (ctx.db(), ctx.now);
    let outcome = (|| {
        let mut km = write_key(&mut ctx.engine.keyspace, db, key, now)?;
        if f.xx && !km.exists() {
            return Ok((0, 0, 0, 0.0));
        }
        let (z, mut backing) = km.zset_or_create().map_err(|_| err_wrongtype())?;
        let (mut added, mut updated, mut processed, mut last) = (0, 0, 0, 0.0);
        for &(score, member) in pairs {
            match z.score(backing.store, member).map_err(store_err)? {
                Some(current) => {
                    if f.nx {
                        continue;
                    }
                    let new = if f.incr {
                        normal(current + score)
                    } else {
                        score
                    };
                    if new.is_nan() {
                        return Err(Reply::error("ERR resulting score is not a number (NaN)"));
                    }
                    if (f.lt && new >= current) || (f.gt && new <= current) {
                        continue;
                    }
                    processed += 1;
                    last = new;
                    if new != current {
                        z.set_score(&mut backing, owned(member), new, Some(current))
                            .map_err(store_err)?;
                        updated += 1;
                    }
                }
                None => {
                    if f.xx {
                        continue;
                    }
                    processed += 1;
                    added += 1;
                    last = score;
                    z.set_score(&mut backing, owned(member), score, None)
                        .map_err(store_err)?;
                }
            }
        }
        Ok::<_, Reply>((added, updated, processed, last))
    })();
    let (added, updated, processed, last) = match outcome {
        Ok(o) => o,
        Err(reply) => return reply,
    };
    if added + updated > 0 {
        ctx.notify(class::ZSET, if f.incr { "zincr" } else { "zadd" }, key);
    }
    if f.incr {
        if processed > 0 {
            Reply::Double(last)
        } else {
            Reply::Null
        }
    } else if f.ch {
        Reply::Integer(added + updated)
    } else {
        Reply::Integer(added)
    }
}

fn zrem(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let (db, key, now) = (ctx.db(), &argv[1], ctx.now);
    let done = (|| {
        let mut km = write_key(&mut ctx.engine.keyspace, db, key, now)?;
        let Some((z, backing)) = km.zset().map_err(|_| err_wrongtype())? else {
            return Ok((0, false));
        };
        let mut removed = 0;
        for member in &argv[2..] {
            if z.remove(backing.store, member)
                .map_err(store_err)?
                .is_some()
            {
                removed += 1;
                if z.is_empty() {
                    break;
                }
            }
        }
        Ok::<_, Reply>((removed, z.is_empty()))
    })();
    match done {
        Ok((removed, emptied)) => {
            if removed > 0 {
                ctx.notify_removal(class::ZSET, "zrem", key, emptied);
            }
            Reply::Integer(removed)
        }
        Err(reply) => reply,
    }
}

// ---------------------------------------------------------------------------------------
// Point reads.

fn zcard(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    read_typed::<ZSet>(
        ctx,
        &argv[1],
        || Reply::Integer(0),
        |z, _| Ok(Reply::Integer(z.len() as i64)),
    )
}

fn zscore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    read_typed::<ZSet>(
        ctx,
        &argv[1],
        || Reply::Null,
        |z, store| Ok(z.score(store, &argv[2])?.map_or(Reply::Null, Reply::Double)),
    )
}

fn zmscore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let members = &argv[2..];
    read_typed::<ZSet>(
        ctx,
        &argv[1],
        || Reply::Array(vec![Reply::Null; members.len()]),
        |z, store| {
            let mut out = Vec::with_capacity(members.len());
            for m in members {
                out.push(z.score(store, m)?.map_or(Reply::Null, Reply::Double));
            }
            Ok(Reply::Array(out))
        },
    )
}

fn zrank(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    zrank_generic(ctx, argv, false, "zrank")
}

fn zrevrank(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    zrank_generic(ctx, argv, true, "zrevrank")
}

/// ZRANK and ZREVRANK, with Redis 7.2's WITHSCORE.
fn zrank_generic(ctx: &mut Ctx<'_>, argv: &[Bytes], rev: bool, name: &str) -> Reply {
    if argv.len() > 4 {
        return super::err_arity(name);
    }
    let withscore = match argv.get(3) {
        None => false,
        Some(a) if eq_ci(a, "withscore") => true,
        Some(_) => return err_syntax(),
    };
    let none = if withscore {
        Reply::NullArray
    } else {
        Reply::Null
    };
    let missing = none.clone();
    read_typed::<ZSet>(
        ctx,
        &argv[1],
        || missing,
        |z, store| {
            Ok(match z.rank(store, &argv[2], rev)? {
                None => none,
                Some((rank, score)) if withscore => {
                    Reply::Array(vec![Reply::Integer(rank as i64), Reply::Double(score)])
                }
                Some((rank, _)) => Reply::Integer(rank as i64),
            })
        },
    )
}

// ---------------------------------------------------------------------------------------
// The ZRANGE family.

#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeKind {
    Auto,
    Rank,
    Score,
    Lex,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Auto,
    Forward,
    Reverse,
}

fn zrange(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    zrange_generic(ctx, argv, None, RangeKind::Auto, Direction::Auto)
}

fn zrevrange(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    zrange_generic(ctx, argv, None, RangeKind::Rank, Direction::Reverse)
}

fn zrangebyscore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    zrange_generic(ctx, argv, None, RangeKind::Score, Direction::Forward)
}

fn zrevrangebyscore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    zrange_generic(ctx, argv, None, RangeKind::Score, Direction::Reverse)
}

fn zrangebylex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    zrange_generic(ctx, argv, None, RangeKind::Lex, Direction::Forward)
}

fn zrevrangebylex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    zrange_generic(ctx, argv, None, RangeKind::Lex, Direction::Reverse)
}

fn zrangestore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let dst = argv[1].clone();
    zrange_generic(ctx, &argv[1..], Some(dst), RangeKind::Auto, Direction::Auto)
}

/// Redis's zrangeGenericCommand. `argv[1]` is the source key (the destination, for
/// ZRANGESTORE, was taken off the front and comes in `store`).
fn zrange_generic(
    ctx: &mut Ctx<'_>,
    argv: &[Bytes],
    store: Option<Bytes>,
    mut kind: RangeKind,
    mut direction: Direction,
) -> Reply {
    let (mut min_at, mut max_at) = (2, 3);
    let (mut withscores, mut offset, mut limit) = (false, 0i64, -1i64);
    let mut j = 4;
    while j < argv.len() {
        let left = argv.len() - j - 1;
        let arg = &argv[j];
        if store.is_none() && eq_ci(arg, "withscores") {
            withscores = true;
        } else if eq_ci(arg, "limit") && left >= 2 {
            match (parse_i64(&argv[j + 1]), parse_i64(&argv[j + 2])) {
                (Some(o), Some(l)) => (offset, limit) = (o, l),
                _ => return err_not_integer(),
            }
            j += 2;
        } else if direction == Direction::Auto && eq_ci(arg, "rev") {
            direction = Direction::Reverse;
        } else if kind == RangeKind::Auto && eq_ci(arg, "bylex") {
            kind = RangeKind::Lex;
        } else if kind == RangeKind::Auto && eq_ci(arg, "byscore") {
            kind = RangeKind::Score;
        } else {
            return err_syntax();
        }
        j += 1;
    }
    let rev = direction == Direction::Reverse;
    if kind == RangeKind::Auto {
        kind = RangeKind::Rank;
    }
    if limit != -1 && kind == RangeKind::Rank {
        return Reply::error(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        );
    }
    if withscores && kind == RangeKind::Lex {
        return Reply::error(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        );
    }
    if rev && kind != RangeKind::Rank {
        // Given as max, min.
        std::mem::swap(&mut min_at, &mut max_at);
    }
    let (min, max) = (&argv[min_at], &argv[max_at]);
    enum Query {
        Ranks(i64, i64),
        Range(ZRange),
    }
    let query = match kind {
        RangeKind::Score => match parse_score_range(min, max) {
            Ok(r) => Query::Range(r),
            Err(reply) => return reply,
        },
        RangeKind::Lex => match parse_lex_range(min, max) {
            Ok(r) => Query::Range(r),
            Err(reply) => return reply,
        },
        _ => match (parse_i64(min), parse_i64(max)) {
            (Some(a), Some(b)) => Query::Ranks(a, b),
            _ => return err_not_integer(),
        },
    };
    let db = ctx.db();
    let found = match ctx.engine.keyspace.read(db, &argv[1], ctx.now) {
        Err(e) => return err_store(&e),
        Ok(None) => Ok(Vec::new()),
        Ok(Some(r)) => match r.entry.value.as_zset() {
            None => return err_wrongtype(),
            Some(z) => match &query {
                Query::Ranks(start, stop) => match clamp_ranks(*start, *stop, z.len()) {
                    None => Ok(Vec::new()),
                    Some((a, b)) => z.range_by_rank(r.store, a, b, rev),
                },
                Query::Range(_) if offset < 0 => Ok(Vec::new()),
                Query::Range(range) => z.range(
                    r.store,
                    range,
                    rev,
                    offset as u64,
                    u64::try_from(limit).ok(),
                ),
            },
        },
    };
    let entries = match found {
        Ok(e) => e,
        Err(e) => return err_store(&e),
    };
    match store {
        Some(dst) => store_result(ctx, &dst, entries, "zrangestore"),
        None => entries_reply(entries, withscores, is_resp3(ctx)),
    }
}

fn zcount(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let range = match parse_score_range(&argv[2], &argv[3]) {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    read_typed::<ZSet>(
        ctx,
        &argv[1],
        || Reply::Integer(0),
        |z, store| Ok(Reply::Integer(z.count(store, &range)? as i64)),
    )
}

fn zlexcount(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let range = match parse_lex_range(&argv[2], &argv[3]) {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    read_typed::<ZSet>(
        ctx,
        &argv[1],
        || Reply::Integer(0),
        |z, store| Ok(Reply::Integer(z.count(store, &range)? as i64)),
    )
}

// ---------------------------------------------------------------------------------------
// Removal by range.

fn zremrangebyrank(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let (Some(start), Some(stop)) = (parse_i64(&argv[2]), parse_i64(&argv[3])) else {
        return err_not_integer();
    };
    zremrange_generic(
        ctx,
        &argv[1],
        "zremrangebyrank",
        |z, store| match clamp_ranks(start, stop, z.len()) {
            None => Ok(Vec::new()),
            Some((a, b)) => z.range_by_rank(store, a, b, false),
        },
    )
}

fn zremrangebyscore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let range = match parse_score_range(&argv[2], &argv[3]) {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    zremrange_generic(ctx, &argv[1], "zremrangebyscore", |z, store| {
        z.range(store, &range, false, 0, None)
    })
}

fn zremrangebylex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let range = match parse_lex_range(&argv[2], &argv[3]) {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    zremrange_generic(ctx, &argv[1], "zremrangebylex", |z, store| {
        z.range(store, &range, false, 0, None)
    })
}

/// Removes the entries `select` picks; replies how many.
fn zremrange_generic(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    event: &'static str,
    select: impl FnOnce(&ZSet, &mut dyn Store) -> Result<Vec<(Bytes, f64)>, StoreError>,
) -> Reply {
    let (db, now) = (ctx.db(), ctx.now);
    let done = (|| {
        let mut km = write_key(&mut ctx.engine.keyspace, db, key, now)?;
        let Some((z, backing)) = km.zset().map_err(|_| err_wrongtype())? else {
            return Ok((0, false));
        };
        let gone = select(z, &mut *backing.store).map_err(store_err)?;
        z.remove_all(backing.store, &gone).map_err(store_err)?;
        Ok::<_, Reply>((gone.len(), z.is_empty()))
    })();
    match done {
        Ok((removed, emptied)) => {
            if removed > 0 {
                ctx.notify_removal(class::ZSET, event, key, emptied);
            }
            Reply::Integer(removed as i64)
        }
        Err(reply) => reply,
    }
}

// ---------------------------------------------------------------------------------------
// Pops.

/// What a pop took: the key and its (member, score) entries.
pub type Popped = (Bytes, Vec<(Bytes, f64)>);

/// Pops up to `count` of the lowest (or, with `max`, highest) entries of the first sorted
/// set among `keys` that exists, emitting `zpopmin`/`zpopmax` (and `del` when it empties).
/// `None` when no key exists; a key of another type is WRONGTYPE. The non-blocking core of
/// ZPOPMIN, ZPOPMAX and ZMPOP, for BZPOPMIN, BZPOPMAX and BZMPOP to share.
pub fn zpop_first(
    ctx: &mut Ctx<'_>,
    keys: &[Bytes],
    max: bool,
    count: u64,
) -> Result<Option<Popped>, Reply> {
    let (db, now) = (ctx.db(), ctx.now);
    for key in keys {
        let (popped, emptied) = {
            let mut km = write_key(&mut ctx.engine.keyspace, db, key, now)?;
            let Some((z, backing)) = km.zset().map_err(|_| err_wrongtype())? else {
                continue;
            };
            if count == 0 {
                return Ok(Some((key.clone(), Vec::new())));
            }
            let popped = z
                .range_by_rank(backing.store, 0, count - 1, max)
                .map_err(store_err)?;
            z.remove_all(backing.store, &popped).map_err(store_err)?;
            (popped, z.is_empty())
        };
        ctx.notify_removal(
            class::ZSET,
            if max { "zpopmax" } else { "zpopmin" },
            key,
            emptied,
        );
        return Ok(Some((key.clone(), popped)));
    }
    Ok(None)
}

fn zpopmin(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    zpop_command(ctx, argv, false)
}

fn zpopmax(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    zpop_command(ctx, argv, true)
}

fn zpop_command(ctx: &mut Ctx<'_>, argv: &[Bytes], max: bool) -> Reply {
    if argv.len() > 3 {
        return err_syntax();
    }
    let count = match argv.get(2) {
        None => None,
        Some(a) => match parse_i64(a) {
            Some(n) if n >= 0 => Some(n as u64),
            _ => return Reply::error("ERR value is out of range, must be positive"),
        },
    };
    // RESP3 nests [member, score] pairs when a count was given.
    let nested = is_resp3(ctx) && count.is_some();
    match zpop_first(ctx, &argv[1..2], max, count.unwrap_or(1)) {
        Err(reply) => reply,
        Ok(None) => Reply::Array(Vec::new()),
        Ok(Some((_, popped))) => entries_reply(popped, true, nested),
    }
}

/// Parses `numkeys` with the message Redis gives for values below one.
fn parse_numkeys(arg: &[u8], below_one: impl FnOnce() -> Reply) -> Result<usize, Reply> {
    match parse_i64(arg) {
        None => Err(err_not_integer()),
        Some(n) if n < 1 => Err(below_one()),
        Some(n) => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
    }
}

/// What ZMPOP (and BZMPOP) asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZMPop {
    /// The keys, in the order to try them.
    pub keys: Vec<Bytes>,
    /// MAX (true) or MIN.
    pub max: bool,
    /// Most entries to pop.
    pub count: u64,
}

/// Parses `numkeys key [key ...] MIN|MAX [COUNT count]` starting at `argv[at]` (the numkeys
/// argument), with Redis's errors.
pub fn parse_zmpop(argv: &[Bytes], at: usize) -> Result<ZMPop, Reply> {
    let numkeys = match parse_i64(&argv[at]) {
        Some(n) if n >= 1 => usize::try_from(n).unwrap_or(usize::MAX),
        _ => return Err(Reply::error("ERR numkeys should be greater than 0")),
    };
    let where_at = numkeys.saturating_add(at + 1);
    let Some(which) = argv.get(where_at) else {
        return Err(err_syntax());
    };
    let max = if eq_ci(which, "min") {
        false
    } else if eq_ci(which, "max") {
        true
    } else {
        return Err(err_syntax());
    };
    let mut count = None;
    let mut j = where_at + 1;
    while j < argv.len() {
        if count.is_none() && eq_ci(&argv[j], "count") && j + 1 < argv.len() {
            match parse_i64(&argv[j + 1]) {
                Some(n) if n >= 1 => count = Some(n as u64),
                _ => return Err(Reply::error("ERR count should be greater than 0")),
            }
            j += 2;
        } else {
            return Err(err_syntax());
        }
    }
    Ok(ZMPop {
        keys: argv[at + 1..where_at].to_vec(),
        max,
        count: count.unwrap_or(1),
    })
}

/// ZMPOP's reply: `[key, [[member, score], ...]]`.
pub fn zmpop_reply(key: Bytes, popped: Vec<(Bytes, f64)>) -> Reply {
    let pairs = popped
        .into_iter()
        .map(|(m, s)| Reply::Array(vec![Reply::Bulk(m), Reply::Double(s)]))
        .collect();
    Reply::Array(vec![Reply::Bulk(key), Reply::Array(pairs)])
}

fn zmpop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let m = match parse_zmpop(argv, 1) {
        Ok(m) => m,
        Err(reply) => return reply,
    };
    match zpop_first(ctx, &m.keys, m.max, m.count) {
        Err(reply) => reply,
        Ok(None) => Reply::NullArray,
        Ok(Some((key, popped))) => zmpop_reply(key, popped),
    }
}

// ---------------------------------------------------------------------------------------
// Set operations.

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

fn aggregate(acc: f64, value: f64, how: Aggregate) -> f64 {
    match how {
        Aggregate::Sum => {
            let sum = acc + value;
            // inf + -inf: Redis takes 0.
            if sum.is_nan() {
                0.0
            } else {
                sum
            }
        }
        Aggregate::Min => acc.min(value),
        Aggregate::Max => acc.max(value),
    }
}

/// A weighted score; `0 * inf` is 0, as in Redis.
fn weighted(weight: f64, score: f64) -> f64 {
    let v = weight * score;
    if v.is_nan() {
        0.0
    } else {
        v
    }
}

fn zunion(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    setop_command(ctx, argv, SetOp::Union, None, "zunion")
}

fn zinter(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    setop_command(ctx, argv, SetOp::Inter, None, "zinter")
}

fn zdiff(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    setop_command(ctx, argv, SetOp::Diff, None, "zdiff")
}

fn zunionstore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    setop_command(ctx, argv, SetOp::Union, Some("zunionstore"), "zunionstore")
}

fn zinterstore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    setop_command(ctx, argv, SetOp::Inter, Some("zinterstore"), "zinterstore")
}

fn zdiffstore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    setop_command(ctx, argv, SetOp::Diff, Some("zdiffstore"), "zdiffstore")
}

fn zintercard(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let keys = match setop_keys(ctx, argv, 1, "zintercard") {
        Ok(k) => k,
        Err(reply) => return reply,
    };
    let mut limit = 0u64;
    let mut j = 2 + keys.len();
    while j < argv.len() {
        if eq_ci(&argv[j], "limit") && j + 1 < argv.len() {
            match parse_i64(&argv[j + 1]) {
                Some(n) if n >= 0 => limit = n as u64,
                _ => return Reply::error("ERR LIMIT can't be negative"),
            }
            j += 2;
        } else {
            return err_syntax();
        }
    }
    let weights = vec![1.0; keys.len()];
    match combine(ctx, &keys, &weights, Aggregate::Sum, SetOp::Inter) {
        Ok(found) => {
            let n = found.len() as u64;
            Reply::Integer(if limit > 0 { n.min(limit) } else { n } as i64)
        }
        Err(reply) => reply,
    }
}

/// Reads `numkeys key...` at `numkeys_at` and checks every existing key is a sorted set
/// (before any option is parsed, as Redis does).
fn setop_keys(
    ctx: &mut Ctx<'_>,
    argv: &[Bytes],
    numkeys_at: usize,
    name: &str,
) -> Result<Vec<Bytes>, Reply> {
    let numkeys = parse_numkeys(&argv[numkeys_at], || {
        Reply::Error(format!("ERR at least 1 input key is needed for '{name}' command").into())
    })?;
    if numkeys > argv.len() - numkeys_at - 1 {
        return Err(err_syntax());
    }
    let keys = argv[numkeys_at + 1..numkeys_at + 1 + numkeys].to_vec();
    let db = ctx.db();
    for key in &keys {
        match ctx.engine.keyspace.peek(db, key, ctx.now) {
            Err(e) => return Err(err_store(&e)),
            Ok(Some(r)) if !is_set_operand(&r.entry.value) => return Err(err_wrongtype()),
            Ok(_) => {}
        }
    }
    Ok(keys)
}

fn setop_command(
    ctx: &mut Ctx<'_>,
    argv: &[Bytes],
    op: SetOp,
    store: Option<&'static str>,
    name: &str,
) -> Reply {
    let numkeys_at = if store.is_some() { 2 } else { 1 };
    let keys = match setop_keys(ctx, argv, numkeys_at, name) {
        Ok(k) => k,
        Err(reply) => return reply,
    };
    let mut weights = vec![1.0; keys.len()];
    let mut how = Aggregate::Sum;
    let mut withscores = false;
    let mut j = numkeys_at + 1 + keys.len();
    while j < argv.len() {
        let remaining = argv.len() - j;
        let arg = &argv[j];
        if op != SetOp::Diff && remaining > keys.len() && eq_ci(arg, "weights") {
            for (i, w) in weights.iter_mut().enumerate() {
                match parse_f64(&argv[j + 1 + i]) {
                    Some(v) => *w = v,
                    None => return Reply::error("ERR weight value is not a float"),
                }
            }
            j += 1 + keys.len();
        } else if op != SetOp::Diff && remaining >= 2 && eq_ci(arg, "aggregate") {
            let v = &argv[j + 1];
            how = if eq_ci(v, "sum") {
                Aggregate::Sum
            } else if eq_ci(v, "min") {
                Aggregate::Min
            } else if eq_ci(v, "max") {
                Aggregate::Max
            } else {
                return err_syntax();
            };
            j += 2;
        } else if store.is_none() && eq_ci(arg, "withscores") {
            withscores = true;
            j += 1;
        } else {
            return err_syntax();
        }
    }
    let result = match combine(ctx, &keys, &weights, how, op) {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    match store {
        Some(event) => store_result(ctx, &argv[1], result, event),
        None => entries_reply(result, withscores, is_resp3(ctx)),
    }
}

/// Every entry of the sorted set at `key` (none when it does not exist).
/// Whether a value can be an input of ZUNION, ZINTER and ZDIFF: a sorted set, or a set
/// (whose members all score 1, as in Redis).
fn is_set_operand(value: &Value) -> bool {
    matches!(value, Value::ZSet(_) | Value::Set(_))
}

/// Members of an input set or sorted set (score 1 for a set's).
fn all_entries(ctx: &mut Ctx<'_>, key: &[u8]) -> Result<Vec<(Bytes, f64)>, Reply> {
    let db = ctx.db();
    match ctx.engine.keyspace.read(db, key, ctx.now) {
        Err(e) => Err(err_store(&e)),
        Ok(None) => Ok(Vec::new()),
        Ok(Some(r)) => match &r.entry.value {
            Value::ZSet(z) => z.entries(r.store).map_err(store_err),
            Value::Set(s) => Ok(s
                .members(r.store)
                .map_err(store_err)?
                .into_iter()
                .map(|m| (m, 1.0))
                .collect()),
            _ => Err(err_wrongtype()),
        },
    }
}

/// Keeps the candidates that are (or, with `keep_present` false, are not) members of the set
/// at `key`, calling `found` with each present member's score.
fn filter_by(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    candidates: &mut Vec<(Bytes, f64)>,
    keep_present: bool,
    mut found: impl FnMut(&mut f64, f64),
) -> Result<(), Reply> {
    let db = ctx.db();
    let r = match ctx.engine.keyspace.read(db, key, ctx.now) {
        Err(e) => return Err(err_store(&e)),
        Ok(None) => {
            if keep_present {
                candidates.clear();
            }
            return Ok(());
        }
        Ok(Some(r)) => r,
    };
    let value = &r.entry.value;
    if !is_set_operand(value) {
        return Err(err_wrongtype());
    }
    let mut kept = Vec::with_capacity(candidates.len());
    for (member, mut acc) in candidates.drain(..) {
        let score = match value {
            Value::ZSet(z) => z.score(r.store, &member),
            Value::Set(s) => s.contains(r.store, &member).map(|c| c.then_some(1.0)),
            _ => Ok(None),
        };
        match score.map_err(store_err)? {
            Some(s) if keep_present => {
                found(&mut acc, s);
                kept.push((member, acc));
            }
            None if !keep_present => kept.push((member, acc)),
            _ => {}
        }
    }
    *candidates = kept;
    Ok(())
}

fn sort_entries(entries: &mut [(Bytes, f64)]) {
    entries.sort_by(|a, b| {
        a.1.partial_cmp(&b.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.0.cmp(&b.0))
    });
}

/// Computes a union, intersection or difference, sorted as a sorted set.
fn combine(
    ctx: &mut Ctx<'_>,
    keys: &[Bytes],
    weights: &[f64],
    how: Aggregate,
    op: SetOp,
) -> Result<Vec<(Bytes, f64)>, Reply> {
    let mut result = match op {
        SetOp::Union => {
            let mut acc: HashMap<Bytes, f64> = HashMap::new();
            for (key, &w) in keys.iter().zip(weights) {
                for (member, score) in all_entries(ctx, key)? {
                    let v = weighted(w, score);
                    acc.entry(member)
                        .and_modify(|a| *a = aggregate(*a, v, how))
                        .or_insert(v);
                }
            }
            acc.into_iter().collect()
        }
        SetOp::Inter => {
            // Smallest set first: the candidates are its members, checked in the others.
            let db = ctx.db();
            let mut order: Vec<(u64, usize)> = Vec::with_capacity(keys.len());
            for (i, key) in keys.iter().enumerate() {
                let len = match ctx.engine.keyspace.peek(db, key, ctx.now) {
                    Err(e) => return Err(err_store(&e)),
                    Ok(None) => return Ok(Vec::new()),
                    Ok(Some(r)) => match &r.entry.value {
                        Value::ZSet(z) => z.len(),
                        Value::Set(s) => s.len(),
                        _ => 0,
                    },
                };
                order.push((len, i));
            }
            order.sort_by_key(|&(len, _)| len);
            let first = order[0].1;
            let mut candidates: Vec<(Bytes, f64)> = all_entries(ctx, &keys[first])?
                .into_iter()
                .map(|(m, s)| (m, weighted(weights[first], s)))
                .collect();
            for &(_, i) in &order[1..] {
                if candidates.is_empty() {
                    break;
                }
                let w = weights[i];
                filter_by(ctx, &keys[i], &mut candidates, true, |acc, s| {
                    *acc = aggregate(*acc, w * s, how);
                })?;
            }
            candidates
        }
        SetOp::Diff => {
            let mut candidates = all_entries(ctx, &keys[0])?;
            for key in &keys[1..] {
                if candidates.is_empty() {
                    break;
                }
                filter_by(ctx, key, &mut candidates, false, |_, _| {})?;
            }
            candidates
        }
    };
    for (_, s) in result.iter_mut() {
        *s = normal(*s);
    }
    sort_entries(&mut result);
    Ok(result)
}

// ---------------------------------------------------------------------------------------
// ZRANDMEMBER, ZSCAN.

/// Largest |count| of a negative ZRANDMEMBER count: the reply is built in memory, so a tiny
/// request must not be able to ask for billions of elements (Redis streams them instead).
const RANDMEMBER_MAX_REPEATED: u64 = 1 << 24;

fn zrandmember(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    if argv.len() == 2 {
        return read_typed::<ZSet>(
            ctx,
            &argv[1],
            || Reply::Null,
            |z, store| {
                Ok(z.random(store, rand_u64())?
                    .map_or(Reply::Null, |(m, _)| Reply::Bulk(m)))
            },
        );
    }
    let Some(count) = parse_i64(&argv[2]) else {
        return err_not_integer();
    };
    if count == i64::MIN {
        return Reply::error(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        );
    }
    let withscores = match argv.get(3) {
        None => false,
        Some(a) if argv.len() == 4 && eq_ci(a, "withscores") => true,
        Some(_) => return err_syntax(),
    };
    let magnitude = count.unsigned_abs();
    if (withscores && magnitude > (i64::MAX / 2) as u64)
        || (count < 0 && magnitude > RANDMEMBER_MAX_REPEATED)
    {
        return Reply::error("ERR value is out of range");
    }
    let resp3 = is_resp3(ctx);
    read_typed::<ZSet>(
        ctx,
        &argv[1],
        || Reply::Array(Vec::new()),
        |z, store| {
            let picked = if count == 0 {
                Vec::new()
            } else if count < 0 || count == 1 {
                sample::repeated(z, store, magnitude)?
            } else {
                sample::distinct(z, store, magnitude, |e| e.0.clone())?
            };
            Ok(entries_reply(picked, withscores, resp3))
        },
    )
}

impl Sampled for ZSet {
    type Item = (Bytes, f64);
    fn count(&self) -> u64 {
        self.len()
    }
    fn in_rows(&self) -> bool {
        self.cid().is_some()
    }
    fn probe(&self, store: &mut dyn Store, seed: u64) -> Result<Option<Self::Item>, StoreError> {
        self.random(store, seed)
    }
    fn everything(&self, store: &mut dyn Store) -> Result<Vec<Self::Item>, StoreError> {
        self.entries(store)
    }
}

fn zscan(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    scan_collection(ctx, argv, false, |z: &ZSet, store, cursor, opts| {
        let (entries, next) = z.scan(store, cursor, opts.count)?;
        // Scores are strings here in both protocols, as Redis sends them.
        let pairs = entries
            .into_iter()
            .map(|(member, score)| (member, Some(Bytes::from(format_double(score)))))
            .collect();
        Ok((pairs, next))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shared rig, asserting that each command succeeds.
    struct Rig(crate::testing::Rig);

    impl Rig {
        fn new() -> Rig {
            Rig(crate::testing::Rig::new())
        }

        /// Runs a command; returns the events it caused (class, name).
        fn run(&mut self, words: &str) -> Vec<(u16, &'static str)> {
            self.run_keys(words)
                .into_iter()
                .map(|(c, e, _)| (c, e))
                .collect()
        }

        fn run_keys(&mut self, words: &str) -> Vec<(u16, &'static str, Bytes)> {
            let words: Vec<&str> = words.split(' ').collect();
            let reply = self.0.exec(&words);
            assert!(!reply.is_error(), "{words:?}: {reply:?}");
            self.0
                .take_events()
                .into_iter()
                .map(|e| (e.class, e.event, e.key))
                .collect()
        }
    }

    #[test]
    fn commands_emit_redis_events() {
        use class::{GENERIC, ZSET};
        let none: Vec<(u16, &str)> = Vec::new();
        for limit in ["128", "0"] {
            let mut rig = Rig::new();
            rig.run(&format!("CONFIG SET zset-max-listpack-entries {limit}"));
            assert_eq!(rig.run("ZADD z 1 a 2 b 3 c 4 d"), [(ZSET, "zadd")]);
            assert_eq!(rig.run("ZADD z 1 a"), none, "no change, no event");
            assert_eq!(rig.run("ZADD z NX 5 a"), none);
            assert_eq!(rig.run("ZADD z XX 5 a"), [(ZSET, "zadd")]);
            assert_eq!(rig.run("ZADD z INCR 1 a"), [(ZSET, "zincr")]);
            assert_eq!(rig.run("ZINCRBY z 1 a"), [(ZSET, "zincr")]);
            assert_eq!(rig.run("ZREM z nope"), none);
            assert_eq!(rig.run("ZREM z a"), [(ZSET, "zrem")]);
            assert_eq!(rig.run("ZPOPMIN z"), [(ZSET, "zpopmin")]);
            assert_eq!(rig.run("ZPOPMAX z"), [(ZSET, "zpopmax")]);
            assert_eq!(
                rig.run("ZMPOP 1 z MIN"),
                [(ZSET, "zpopmin"), (GENERIC, "del")]
            );
            rig.run("ZADD z 1 a 2 b 3 c 4 d");
            assert_eq!(
                rig.run("ZREMRANGEBYRANK z 0 0"),
                [(ZSET, "zremrangebyrank")]
            );
            assert_eq!(
                rig.run("ZREMRANGEBYSCORE z 2 2"),
                [(ZSET, "zremrangebyscore")]
            );
            assert_eq!(rig.run("ZREMRANGEBYSCORE z 100 200"), none);
            assert_eq!(
                rig.run("ZREMRANGEBYLEX z [c [c"),
                [(ZSET, "zremrangebylex")]
            );
            assert_eq!(rig.run("ZREM z d"), [(ZSET, "zrem"), (GENERIC, "del")]);
            rig.run("ZADD a 1 x 2 y");
            rig.run("ZADD b 1 y");
            assert_eq!(
                rig.run_keys("ZUNIONSTORE d 2 a b"),
                [(ZSET, "zunionstore", Bytes::from_static(b"d"))]
            );
            assert_eq!(rig.run("ZINTERSTORE d 2 a b"), [(ZSET, "zinterstore")]);
            assert_eq!(rig.run("ZDIFFSTORE d 2 a b"), [(ZSET, "zdiffstore")]);
            assert_eq!(rig.run("ZRANGESTORE d a 0 -1"), [(ZSET, "zrangestore")]);
            // An empty result deletes the destination: del, once.
            assert_eq!(rig.run("ZDIFFSTORE d 2 b a"), [(GENERIC, "del")]);
            assert_eq!(rig.run("ZDIFFSTORE d 2 b a"), none);
            assert_eq!(rig.run("ZRANGESTORE d a 5 9"), none);
            // Reads emit nothing.
            for read in [
                "ZRANGE a 0 -1",
                "ZSCORE a x",
                "ZCARD a",
                "ZRANK a x",
                "ZUNION 2 a b",
                "ZSCAN a 0",
                "ZRANDMEMBER a 2",
            ] {
                assert_eq!(rig.run(read), none, "{read}");
            }
        }
    }

    #[test]
    fn bounds_parse_as_redis() {
        let b = |s: &str| parse_score_bound(s.as_bytes());
        assert_eq!(
            b("(1.5"),
            Some(ScoreBound {
                value: 1.5,
                exclusive: true
            })
        );
        assert_eq!(b("-inf"), Some(ScoreBound::inclusive(f64::NEG_INFINITY)));
        assert_eq!(b("+inf"), Some(ScoreBound::inclusive(f64::INFINITY)));
        assert_eq!(
            b("("),
            Some(ScoreBound {
                value: 0.0,
                exclusive: true
            })
        );
        assert_eq!(b("1e400"), Some(ScoreBound::inclusive(f64::INFINITY)));
        assert_eq!(b("nan"), None);
        assert_eq!(b("1x"), None);
        assert_eq!(parse_lex_bound(b"-"), Some(LexBound::Min));
        assert_eq!(parse_lex_bound(b"+"), Some(LexBound::Max));
        assert_eq!(
            parse_lex_bound(b"["),
            Some(LexBound::Inclusive(Bytes::new()))
        );
        assert_eq!(parse_lex_bound(b"a"), None);
        assert_eq!(parse_lex_bound(b"--"), None);
        assert_eq!(clamp_ranks(0, -1, 5), Some((0, 4)));
        assert_eq!(clamp_ranks(-100, 100, 5), Some((0, 4)));
        assert_eq!(clamp_ranks(3, 2, 5), None);
        assert_eq!(clamp_ranks(5, 9, 5), None);
        assert_eq!(clamp_ranks(i64::MIN, i64::MAX, 5), Some((0, 4)));
    }
}
