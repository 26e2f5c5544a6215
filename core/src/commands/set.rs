//! Set commands (Redis's t_set.c): SADD and friends, SPOP and SRANDMEMBER, SMOVE, the
//! algebra (SINTER, SUNION, SDIFF, their STORE forms, SINTERCARD) and SSCAN.

use std::collections::HashSet;

use bytes::Bytes;

use super::keys::scan_collection;
use super::list::parse_positive_count;
use super::sample::{self, Sampled};
use super::table::{flags::*, CommandSpec};
use super::{err_not_integer, err_store, err_syntax, err_wrongtype, parse_i64};
use super::{owned, read_typed, store_err, write_key};
use crate::engine::Ctx;
use crate::events::class;
use crate::keyspace::{rand_u64, Set, Value};
use crate::protocol::Reply;
use crate::storage::{Store, StoreError};

const W_FAST: &[&str] = &["write", "set", "fast"];
const W_SLOW: &[&str] = &["write", "set", "slow"];
const R_FAST: &[&str] = &["read", "set", "fast"];
const R_SLOW: &[&str] = &["read", "set", "slow"];
const O_INTER: &str =
    "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.";
const O_UNION: &str = "O(N) where N is the total number of elements in all given sets.";

/// Set commands.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("sadd", -3, sadd)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .elements(2, -1, 1)
        .categories(W_FAST)
        .doc(
            "set",
            "Adds one or more members to a set. Creates the key if it doesn't exist.",
            "1.0.0",
            "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.",
        ),
    CommandSpec::new("srem", -3, srem)
        .flags(WRITE | FAST)
        .keys(1, 1, 1)
        .elements(2, -1, 1)
        .categories(W_FAST)
        .doc(
            "set",
            "Removes one or more members from a set. Deletes the set if the last member was removed.",
            "1.0.0",
            "O(N) where N is the number of members to be removed.",
        ),
    CommandSpec::new("smembers", 2, smembers)
        .flags(READONLY)
        .keys(1, 1, 1)
        .categories(R_SLOW)
        .doc(
            "set",
            "Returns all members of a set.",
            "1.0.0",
            "O(N) where N is the set cardinality.",
        ),
    CommandSpec::new("sismember", 3, sismember)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .elements(2, 2, 1)
        .categories(R_FAST)
        .doc("set", "Determines whether a member belongs to a set.", "1.0.0", "O(1)"),
    CommandSpec::new("smismember", -3, smismember)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .elements(2, -1, 1)
        .categories(R_FAST)
        .doc(
            "set",
            "Determines whether multiple members belong to a set.",
            "6.2.0",
            "O(N) where N is the number of elements being checked for membership",
        ),
    CommandSpec::new("scard", 2, scard)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .categories(R_FAST)
        .doc("set", "Returns the number of members in a set.", "1.0.0", "O(1)"),
    CommandSpec::new("spop", -2, spop)
        .flags(WRITE | FAST)
        .keys(1, 1, 1)
        .categories(W_FAST)
        .doc(
            "set",
            "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.",
            "1.0.0",
            "Without the count argument O(1), otherwise O(N) where N is the value of the passed count.",
        ),
    CommandSpec::new("srandmember", -2, srandmember)
        .flags(READONLY)
        .keys(1, 1, 1)
        .categories(R_SLOW)
        .doc(
            "set",
            "Get one or multiple random members from a set",
            "1.0.0",
            "Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed count.",
        ),
    CommandSpec::new("smove", 4, smove)
        .flags(WRITE | FAST)
        .keys(1, 2, 1)
        .elements(3, 3, 1)
        .categories(W_FAST)
        .doc("set", "Moves a member from one set to another.", "1.0.0", "O(1)"),
    CommandSpec::new("sinter", -2, sinter)
        .flags(READONLY)
        .keys(1, -1, 1)
        .categories(R_SLOW)
        .doc("set", "Returns the intersect of multiple sets.", "1.0.0", O_INTER),
    CommandSpec::new("sinterstore", -3, sinterstore)
        .flags(WRITE | DENYOOM)
        .keys(1, -1, 1)
        .categories(W_SLOW)
        .doc("set", "Stores the intersect of multiple sets in a key.", "1.0.0", O_INTER),
    CommandSpec::new("sunion", -2, sunion)
        .flags(READONLY)
        .keys(1, -1, 1)
        .categories(R_SLOW)
        .doc("set", "Returns the union of multiple sets.", "1.0.0", O_UNION),
    CommandSpec::new("sunionstore", -3, sunionstore)
        .flags(WRITE | DENYOOM)
        .keys(1, -1, 1)
        .categories(W_SLOW)
        .doc("set", "Stores the union of multiple sets in a key.", "1.0.0", O_UNION),
    CommandSpec::new("sdiff", -2, sdiff)
        .flags(READONLY)
        .keys(1, -1, 1)
        .categories(R_SLOW)
        .doc("set", "Returns the difference of multiple sets.", "1.0.0", O_UNION),
    CommandSpec::new("sdiffstore", -3, sdiffstore)
        .flags(WRITE | DENYOOM)
        .keys(1, -1, 1)
        .categories(W_SLOW)
        .doc("set", "Stores the difference of multiple sets in a key.", "1.0.0", O_UNION),
    CommandSpec::new("sintercard", -3, sintercard)
        .flags(READONLY | MOVABLE_KEYS)
        .numkeys(1)
        .categories(R_SLOW)
        .doc(
            "set",
            "Returns the number of members of the intersect of multiple sets.",
            "7.0.0",
            O_INTER,
        ),
    CommandSpec::new("sscan", -3, sscan)
        .flags(READONLY)
        .keys(1, 1, 1)
        .categories(R_SLOW)
        .doc(
            "set",
            "Iterates over members of a set.",
            "2.8.0",
            "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.",
        ),
];

fn bulks(members: Vec<Bytes>) -> Vec<Reply> {
    members.into_iter().map(Reply::Bulk).collect()
}

fn sadd(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let (db, key, now) = (ctx.db(), &argv[1], ctx.now);
    let added = (|| {
        let mut km = write_key(&mut ctx.engine.keyspace, db, key, now)?;
        let (set, mut backing) = km.rset_or_create().map_err(|_| err_wrongtype())?;
        let mut added = 0;
        for m in &argv[2..] {
            if set.add(&mut backing, owned(m)).map_err(store_err)? {
                added += 1;
            }
        }
        Ok::<_, Reply>(added)
    })();
    match added {
        Ok(added) => {
            if added > 0 {
                ctx.notify(class::SET, "sadd", key);
            }
            Reply::Integer(added)
        }
        Err(reply) => reply,
    }
}

fn srem(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let (db, key, now) = (ctx.db(), &argv[1], ctx.now);
    let done = (|| {
        let mut km = write_key(&mut ctx.engine.keyspace, db, key, now)?;
        let Some((set, backing)) = km.rset().map_err(|_| err_wrongtype())? else {
            return Ok((0, false));
        };
        let mut removed = 0;
        for m in &argv[2..] {
            if set.remove(backing.store, m).map_err(store_err)? {
                removed += 1;
                if set.is_empty() {
                    break;
                }
            }
        }
        Ok::<_, Reply>((removed, set.is_empty()))
    })();
    match done {
        Ok((removed, emptied)) => {
            if removed > 0 {
                ctx.notify_removal(class::SET, "srem", key, emptied);
            }
            Reply::Integer(removed)
        }
        Err(reply) => reply,
    }
}

fn smembers(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    read_typed::<Set>(
        ctx,
        &argv[1],
        || Reply::Set(Vec::new()),
        |s, store| Ok(Reply::Set(bulks(s.members(store)?))),
    )
}

fn sismember(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    read_typed::<Set>(
        ctx,
        &argv[1],
        || Reply::Integer(0),
        |s, store| Ok(Reply::Integer(i64::from(s.contains(store, &argv[2])?))),
    )
}

fn smismember(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let members = &argv[2..];
    read_typed::<Set>(
        ctx,
        &argv[1],
        || Reply::Array(vec![Reply::Integer(0); members.len()]),
        |s, store| {
            let mut out = Vec::with_capacity(members.len());
            for m in members {
                out.push(Reply::Integer(i64::from(s.contains(store, m)?)));
            }
            Ok(Reply::Array(out))
        },
    )
}

fn scard(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    read_typed::<Set>(
        ctx,
        &argv[1],
        || Reply::Integer(0),
        |s, _| Ok(Reply::Integer(s.len() as i64)),
    )
}

// ---------------------------------------------------------------------------------------
// Random members.

impl Sampled for Set {
    type Item = Bytes;
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
        self.members_to_pick(store)
    }
}

/// Largest |count| of a negative SRANDMEMBER count: the reply is built in memory, so a tiny
/// request must not be able to ask for billions of members (Redis streams them instead).
const RANDMEMBER_MAX_REPEATED: u64 = 1 << 24;

fn spop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    if argv.len() > 3 {
        return err_syntax();
    }
    let count = match argv.get(2).map(|a| parse_positive_count(a)) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(reply)) => return reply,
    };
    let (db, key, now) = (ctx.db(), &argv[1], ctx.now);
    let done = (|| {
        let mut km = write_key(&mut ctx.engine.keyspace, db, key, now)?;
        let Some((set, mut backing)) = km.rset().map_err(|_| err_wrongtype())? else {
            return Ok(None);
        };
        // SPOP builds the set's member index as it goes, a chunk of rows a call.
        set.prepare_picks(&mut backing).map_err(store_err)?;
        let store = &mut *backing.store;
        let picked = match count {
            None => set
                .random(store, rand_u64())
                .map_err(store_err)?
                .into_iter()
                .collect(),
            Some(n) => sample::distinct(set, store, n, Bytes::clone).map_err(store_err)?,
        };
        for m in &picked {
            set.remove(store, m).map_err(store_err)?;
        }
        Ok::<_, Reply>(Some((picked, set.is_empty())))
    })();
    let (picked, emptied) = match done {
        Err(reply) => return reply,
        Ok(None) => {
            return match count {
                Some(_) => Reply::Set(Vec::new()),
                None => Reply::Null,
            }
        }
        Ok(Some(found)) => found,
    };
    if !picked.is_empty() {
        ctx.notify_removal(class::SET, "spop", key, emptied);
    }
    match count {
        Some(_) => Reply::Set(bulks(picked)),
        None => picked.into_iter().next().map_or(Reply::Null, Reply::Bulk),
    }
}

/// Lets a read of random members grow the set's member index, as SPOP does (see
/// `keyspace/set_index.rs`).
fn prepare_picks(ctx: &mut Ctx<'_>, key: &[u8]) -> Result<(), Reply> {
    let db = ctx.db();
    ctx.engine
        .keyspace
        .prepare_set_picks(db, key, ctx.now)
        .map_err(|e| err_store(&e))
}

fn srandmember(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    if argv.len() > 3 {
        return err_syntax();
    }
    if argv.len() == 2 {
        if let Err(e) = prepare_picks(ctx, &argv[1]) {
            return e;
        }
        return read_typed::<Set>(
            ctx,
            &argv[1],
            || Reply::Null,
            |s, store| {
                Ok(s.random(store, rand_u64())?
                    .map_or(Reply::Null, Reply::Bulk))
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
    let magnitude = count.unsigned_abs();
    if count < 0 && magnitude > RANDMEMBER_MAX_REPEATED {
        return Reply::error("ERR value is out of range");
    }
    if let Err(e) = prepare_picks(ctx, &argv[1]) {
        return e;
    }
    read_typed::<Set>(
        ctx,
        &argv[1],
        || Reply::Array(Vec::new()),
        |s, store| {
            let picked = if count == 0 || s.is_empty() {
                Vec::new()
            } else if count > 0 {
                sample::distinct(s, store, magnitude, Bytes::clone)?
            } else {
                sample::repeated(s, store, magnitude)?
            };
            Ok(Reply::Array(bulks(picked)))
        },
    )
}

// ---------------------------------------------------------------------------------------
// SMOVE.

fn smove(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let (db, now) = (ctx.db(), ctx.now);
    let (src, dst, member) = (&argv[1], &argv[2], &argv[3]);
    let ks = &mut ctx.engine.keyspace;
    // Both types are checked before anything moves, as in Redis.
    let src_has = match ks.read(db, src, now) {
        Err(e) => return err_store(&e),
        Ok(None) => None,
        Ok(Some(r)) => match r.entry.value.as_set() {
            Some(s) => Some(tri!(s.contains(r.store, member))),
            None => return err_wrongtype(),
        },
    };
    match tri!(ks.peek(db, dst, now)) {
        Some(k) if k.entry.value.as_set().is_none() => return err_wrongtype(),
        _ => {}
    }
    let Some(src_has) = src_has else {
        return Reply::Integer(0);
    };
    if src == dst || !src_has {
        return Reply::Integer(i64::from(src_has && src == dst));
    }
    let emptied = {
        let mut km = tri!(write_key(ks, db, src, now));
        let Some((set, backing)) = tri!(km.rset().map_err(|_| err_wrongtype())) else {
            return Reply::Integer(0);
        };
        tri!(set.remove(backing.store, member));
        set.is_empty()
    };
    let added = {
        let mut km = tri!(write_key(ks, db, dst, now));
        let (set, mut backing) = tri!(km.rset_or_create().map_err(|_| err_wrongtype()));
        tri!(set.add(&mut backing, owned(member)))
    };
    ctx.notify_removal(class::SET, "srem", src, emptied);
    if added {
        ctx.notify(class::SET, "sadd", dst);
    }
    Reply::Integer(1)
}

// ---------------------------------------------------------------------------------------
// Algebra.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Inter,
    Union,
    Diff,
}

/// Size of each key's set (`None` for a missing key), or WRONGTYPE if any key holds another
/// type: Redis checks every key before answering.
fn cardinalities(ctx: &mut Ctx<'_>, keys: &[Bytes]) -> Result<Vec<Option<u64>>, Reply> {
    let (db, now) = (ctx.db(), ctx.now);
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        match ctx.engine.keyspace.read(db, key, now).map_err(store_err)? {
            None => out.push(None),
            Some(r) => match r.entry.value.as_set() {
                Some(s) => out.push(Some(s.len())),
                None => return Err(err_wrongtype()),
            },
        }
    }
    Ok(out)
}

/// Runs `f` on the set at `key`, which [`cardinalities`] found.
fn with_set<T>(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    f: impl FnOnce(&Set, &mut dyn Store) -> Result<T, StoreError>,
) -> Result<Option<T>, Reply> {
    let (db, now) = (ctx.db(), ctx.now);
    match ctx.engine.keyspace.read(db, key, now).map_err(store_err)? {
        Some(r) => match r.entry.value.as_set() {
            Some(s) => f(s, r.store).map(Some).map_err(store_err),
            None => Err(err_wrongtype()),
        },
        None => Ok(None),
    }
}

/// Keeps the candidates that are (`keep_members`) or are not in the set at `key`.
fn filter_by(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    candidates: &mut Vec<Bytes>,
    keep_members: bool,
) -> Result<(), Reply> {
    let kept = with_set(ctx, key, |s, store| {
        let mut kept = Vec::with_capacity(candidates.len());
        for m in candidates.drain(..) {
            if s.contains(store, &m)? == keep_members {
                kept.push(m);
            }
        }
        Ok(kept)
    })?;
    if let Some(kept) = kept {
        *candidates = kept;
    } else if keep_members {
        candidates.clear();
    }
    Ok(())
}

/// The members of SINTER, SUNION or SDIFF over `keys`, stopping an intersection at `limit`.
fn combine(ctx: &mut Ctx<'_>, keys: &[Bytes], op: Op, limit: u64) -> Result<Vec<Bytes>, Reply> {
    let sizes = cardinalities(ctx, keys)?;
    match op {
        Op::Inter => {
            if sizes.iter().any(|s| s.is_none_or(|n| n == 0)) {
                return Ok(Vec::new());
            }
            // Smallest first: its members are the candidates, the others only answer lookups.
            let mut order: Vec<usize> = (0..keys.len()).collect();
            order.sort_by_key(|&i| sizes[i]);
            let mut candidates =
                with_set(ctx, &keys[order[0]], |s, store| s.members(store))?.unwrap_or_default();
            for &i in &order[1..] {
                if candidates.is_empty() {
                    break;
                }
                filter_by(ctx, &keys[i], &mut candidates, true)?;
            }
            if limit > 0 {
                candidates.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            }
            Ok(candidates)
        }
        Op::Union => {
            let mut seen = HashSet::new();
            let mut out = Vec::new();
            for (i, key) in keys.iter().enumerate() {
                if sizes[i].is_none() {
                    continue;
                }
                let members = with_set(ctx, key, |s, store| s.members(store))?.unwrap_or_default();
                for m in members {
                    if seen.insert(m.clone()) {
                        out.push(m);
                    }
                }
            }
            Ok(out)
        }
        Op::Diff => {
            if sizes[0].is_none() {
                return Ok(Vec::new());
            }
            let mut candidates =
                with_set(ctx, &keys[0], |s, store| s.members(store))?.unwrap_or_default();
            for (i, key) in keys.iter().enumerate().skip(1) {
                if candidates.is_empty() {
                    break;
                }
                if sizes[i].is_some_and(|n| n > 0) {
                    filter_by(ctx, key, &mut candidates, false)?;
                }
            }
            Ok(candidates)
        }
    }
}

fn sinter(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    match combine(ctx, &argv[1..], Op::Inter, 0) {
        Ok(m) => Reply::Set(bulks(m)),
        Err(reply) => reply,
    }
}

fn sunion(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    match combine(ctx, &argv[1..], Op::Union, 0) {
        Ok(m) => Reply::Set(bulks(m)),
        Err(reply) => reply,
    }
}

fn sdiff(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    match combine(ctx, &argv[1..], Op::Diff, 0) {
        Ok(m) => Reply::Set(bulks(m)),
        Err(reply) => reply,
    }
}

/// Replaces `dst` with a set of `members` (or deletes it when there are none) and reports
/// `event` (or `del`); returns the new size. Shared with SORT ... STORE's sibling commands.
pub fn store_set(
    ctx: &mut Ctx<'_>,
    dst: &[u8],
    members: Vec<Bytes>,
    event: &'static str,
) -> Result<u64, Reply> {
    let (db, now) = (ctx.db(), ctx.now);
    let mut km = write_key(&mut ctx.engine.keyspace, db, dst, now)?;
    if members.is_empty() {
        let existed = km.delete().map_err(store_err)?;
        drop(km);
        if existed {
            ctx.notify(class::GENERIC, "del", dst);
        }
        return Ok(0);
    }
    km.set(Value::Set(Set::new()), None).map_err(store_err)?;
    let (set, mut backing) = km.rset_or_create().map_err(|_| err_wrongtype())?;
    for m in members {
        set.add(&mut backing, m).map_err(store_err)?;
    }
    let len = set.len();
    drop(km);
    ctx.notify(class::SET, event, dst);
    Ok(len)
}

fn store_generic(ctx: &mut Ctx<'_>, argv: &[Bytes], op: Op, event: &'static str) -> Reply {
    let members = match combine(ctx, &argv[2..], op, 0) {
        Ok(m) => m,
        Err(reply) => return reply,
    };
    match store_set(ctx, &argv[1], members, event) {
        Ok(len) => Reply::Integer(len as i64),
        Err(reply) => reply,
    }
}

fn sinterstore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    store_generic(ctx, argv, Op::Inter, "sinterstore")
}

fn sunionstore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    store_generic(ctx, argv, Op::Union, "sunionstore")
}

fn sdiffstore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    store_generic(ctx, argv, Op::Diff, "sdiffstore")
}

fn sintercard(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let Some(numkeys) = parse_i64(&argv[1]).filter(|&n| n > 0) else {
        return Reply::error("ERR numkeys should be greater than 0");
    };
    let rest = &argv[2..];
    let numkeys = usize::try_from(numkeys).unwrap_or(usize::MAX);
    if numkeys > rest.len() {
        return Reply::error("ERR Number of keys can't be greater than number of args");
    }
    let mut limit = 0u64;
    let mut i = numkeys;
    while i < rest.len() {
        if super::eq_ci(&rest[i], "limit") && i + 1 < rest.len() {
            match parse_i64(&rest[i + 1]).filter(|&n| n >= 0) {
                Some(n) => limit = n as u64,
                None => return Reply::error("ERR LIMIT can't be negative"),
            }
            i += 2;
        } else {
            return err_syntax();
        }
    }
    match combine(ctx, &rest[..numkeys], Op::Inter, limit) {
        Ok(m) => Reply::Integer(m.len() as i64),
        Err(reply) => reply,
    }
}

fn sscan(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    scan_collection(ctx, argv, false, |s: &Set, store, cursor, opts| {
        let (members, next) = s.scan(store, cursor, opts.count)?;
        Ok((members.into_iter().map(|m| (m, None)).collect(), next))
    })
}

#[cfg(test)]
mod tests {
    use crate::testing::Rig;

    /// Event names and order as Redis 7 sends them (checked against redis-server).
    #[test]
    fn commands_emit_redis_events() {
        let mut rig = Rig::new();
        let none: Vec<String> = Vec::new();
        assert_eq!(rig.events("SADD s 1 2"), ["sadd(s)"]);
        assert_eq!(rig.events("SADD s 1"), none);
        assert_eq!(rig.events("SREM s 9"), none);
        assert_eq!(rig.events("SMOVE s t 1"), ["srem(s)", "sadd(t)"]);
        assert_eq!(rig.events("SMOVE s t 2"), ["srem(s)", "del(s)", "sadd(t)"]);
        assert_eq!(rig.events("SMOVE t t 1"), none);
        assert_eq!(rig.events("SADD s 1"), ["sadd(s)"]);
        assert_eq!(rig.events("SPOP s 0"), none);
        assert_eq!(rig.events("SPOP s 5"), ["spop(s)", "del(s)"]);
        assert_eq!(rig.events("SADD u 1"), ["sadd(u)"]);
        assert_eq!(rig.events("SINTERSTORE d u"), ["sinterstore(d)"]);
        assert_eq!(rig.events("SUNIONSTORE d u"), ["sunionstore(d)"]);
        assert_eq!(rig.events("SDIFFSTORE d u"), ["sdiffstore(d)"]);
        assert_eq!(rig.events("SDIFFSTORE d u u"), ["del(d)"]);
        assert_eq!(rig.events("SINTERSTORE d nokey"), none);
        assert_eq!(rig.events("SORT u STORE d2"), ["sortstore(d2)"]);
        assert_eq!(rig.events("SORT nokey STORE d2"), ["del(d2)"]);
        assert_eq!(rig.events("SPOP t"), ["spop(t)"]);
        assert_eq!(rig.events("SPOP t"), ["spop(t)", "del(t)"]);
        assert_eq!(rig.events("SREM u 1"), ["srem(u)", "del(u)"]);
    }
}
