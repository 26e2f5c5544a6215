//! List commands (Redis's t_list.c): pushes and pops at both ends, indexes and ranges,
//! LINSERT, LREM, LTRIM, LPOS, LMOVE and LMPOP.
//!
//! The non-blocking cores of the pops and moves ([`pop`], [`lmove_core`], [`parse_mpop`],
//! [`mpop_first`]) are public so that the blocking commands (BLPOP, BLMOVE, BLMPOP, ...) serve
//! a waiter with exactly what the plain command would do.

use bytes::Bytes;

use super::table::{flags::*, CommandSpec};
use super::{eq_ci, err_not_integer, err_syntax, err_wrongtype, parse_i64};
use super::{owned, read_typed, store_err, write_key};
use crate::engine::Ctx;
use crate::events::class;
use crate::keyspace::list::PAGE;
use crate::keyspace::List;
use crate::protocol::Reply;
use crate::storage::{Store, StoreError, ValueType};

const SINCE_6_2: &str = "6.2.0";
const SINCE_7: &str = "7.0.0";

const W_FAST: &[&str] = &["write", "list", "fast"];
const W_SLOW: &[&str] = &["write", "list", "slow"];
const R_FAST: &[&str] = &["read", "list", "fast"];
const R_SLOW: &[&str] = &["read", "list", "slow"];
const O1_EACH: &str = "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.";
const O_POPPED: &str = "O(N) where N is the number of elements returned";

/// List commands.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("lpush", -3, lpush)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .categories(W_FAST)
        .doc(
            "list",
            "Prepends one or more elements to a list. Creates the key if it doesn't exist.",
            "1.0.0",
            O1_EACH,
        ),
    CommandSpec::new("rpush", -3, rpush)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .categories(W_FAST)
        .doc(
            "list",
            "Appends one or more elements to a list. Creates the key if it doesn't exist.",
            "1.0.0",
            O1_EACH,
        ),
    CommandSpec::new("lpushx", -3, lpushx)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .categories(W_FAST)
        .doc(
            "list",
            "Prepends one or more elements to a list only when the list exists.",
            "2.2.0",
            O1_EACH,
        ),
    CommandSpec::new("rpushx", -3, rpushx)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .categories(W_FAST)
        .doc("list", "Appends an element to a list only when the list exists.", "2.2.0", O1_EACH),
    CommandSpec::new("lpop", -2, lpop)
        .flags(WRITE | FAST)
        .keys(1, 1, 1)
        .categories(W_FAST)
        .doc(
            "list",
            "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.",
            "1.0.0",
            O_POPPED,
        ),
    CommandSpec::new("rpop", -2, rpop)
        .flags(WRITE | FAST)
        .keys(1, 1, 1)
        .categories(W_FAST)
        .doc(
            "list",
            "Returns and removes the last elements of a list. Deletes the list if the last element was popped.",
            "1.0.0",
            O_POPPED,
        ),
    CommandSpec::new("llen", 2, llen)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .categories(R_FAST)
        .doc("list", "Returns the length of a list.", "1.0.0", "O(1)"),
    CommandSpec::new("lrange", 4, lrange)
        .flags(READONLY)
        .keys(1, 1, 1)
        .categories(R_SLOW)
        .doc(
            "list",
            "Returns a range of elements from a list.",
            "1.0.0",
            "O(S+N) where S is the distance of start offset from HEAD for small lists, from nearest end (HEAD or TAIL) for large lists; and N is the number of elements in the specified range.",
        ),
    CommandSpec::new("lindex", 3, lindex)
        .flags(READONLY)
        .keys(1, 1, 1)
        .categories(R_SLOW)
        .doc(
            "list",
            "Returns an element from a list by its index.",
            "1.0.0",
            "O(N) where N is the number of elements to traverse to get to the element at index. This makes asking for the first or the last element of the list O(1).",
        ),
    CommandSpec::new("lset", 4, lset)
        .flags(WRITE | DENYOOM)
        .keys(1, 1, 1)
        .categories(W_SLOW)
        .doc(
            "list",
            "Sets the value of an element in a list by its index.",
            "1.0.0",
            "O(N) where N is the length of the list. Setting either the first or the last element of the list is O(1).",
        ),
    CommandSpec::new("linsert", 5, linsert)
        .flags(WRITE | DENYOOM)
        .keys(1, 1, 1)
        .categories(W_SLOW)
        .doc(
            "list",
            "Inserts an element before or after another element in a list.",
            "2.2.0",
            "O(N) where N is the number of elements to traverse before seeing the value pivot. This means that inserting somewhere on the left end on the list (head) can be considered O(1) and inserting somewhere on the right end (tail) is O(N).",
        ),
    CommandSpec::new("lrem", 4, lrem)
        .flags(WRITE)
        .keys(1, 1, 1)
        .categories(W_SLOW)
        .doc(
            "list",
            "Removes elements from a list. Deletes the list if the last element was removed.",
            "1.0.0",
            "O(N+M) where N is the length of the list and M is the number of elements removed.",
        ),
    CommandSpec::new("ltrim", 4, ltrim)
        .flags(WRITE)
        .keys(1, 1, 1)
        .categories(W_SLOW)
        .doc(
            "list",
            "Removes elements from both ends a list. Deletes the list if all elements were trimmed.",
            "1.0.0",
            "O(N) where N is the number of elements to be removed by the operation.",
        ),
    CommandSpec::new("lpos", -3, lpos)
        .flags(READONLY)
        .keys(1, 1, 1)
        .categories(R_SLOW)
        .doc(
            "list",
            "Returns the index of matching elements in a list.",
            "6.0.6",
            "O(N) where N is the number of elements in the list, for the average case. When searching for elements near the head or the tail of the list, or when the MAXLEN option is provided, the command may run in constant time.",
        ),
    CommandSpec::new("lmove", 5, lmove)
        .flags(WRITE | DENYOOM)
        .keys(1, 2, 1)
        .categories(W_SLOW)
        .doc(
            "list",
            "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.",
            SINCE_6_2,
            "O(1)",
        ),
    CommandSpec::new("rpoplpush", 3, rpoplpush)
        .flags(WRITE | DENYOOM)
        .keys(1, 2, 1)
        .categories(W_SLOW)
        .doc(
            "list",
            "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.",
            "1.2.0",
            "O(1)",
        ),
    CommandSpec::new("lmpop", -4, lmpop)
        .flags(WRITE | MOVABLE_KEYS)
        .numkeys(1)
        .categories(W_SLOW)
        .doc(
            "list",
            "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.",
            SINCE_7,
            "O(N+M) where N is the number of provided keys and M is the number of elements returned.",
        ),
];

/// Redis's normalisation of an index argument: negative counts from the tail. `None` when it
/// falls outside the list.
fn index_of(index: i64, len: u64) -> Option<u64> {
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    let i = if index < 0 {
        index.checked_add(len)?
    } else {
        index
    };
    (0..len).contains(&i).then_some(i as u64)
}

/// Redis's normalisation of a `start stop` range (LRANGE, LTRIM): `None` when it is empty.
fn range_of(start: i64, stop: i64, len: u64) -> Option<(u64, u64)> {
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    let start = if start < 0 {
        (start.saturating_add(len)).max(0)
    } else {
        start
    };
    let stop = if stop < 0 {
        stop.saturating_add(len)
    } else {
        stop
    };
    if start > stop || start >= len {
        return None;
    }
    Some((start as u64, stop.min(len - 1) as u64))
}

fn where_arg(arg: &[u8]) -> Option<bool> {
    if eq_ci(arg, "left") {
        Some(true)
    } else if eq_ci(arg, "right") {
        Some(false)
    } else {
        None
    }
}

fn push_event(front: bool) -> &'static str {
    if front {
        "lpush"
    } else {
        "rpush"
    }
}

fn pop_event(front: bool) -> &'static str {
    if front {
        "lpop"
    } else {
        "rpop"
    }
}

// ---------------------------------------------------------------------------------------
// Pushes.

fn lpush(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    push_generic(ctx, argv, true, false)
}

fn rpush(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    push_generic(ctx, argv, false, false)
}

fn lpushx(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    push_generic(ctx, argv, true, true)
}

fn rpushx(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    push_generic(ctx, argv, false, true)
}

/// Pushes `values` in order at one end of the list at `key` (created unless `only_existing`)
/// and reports the event; returns the new length, or `None` if the key did not exist and
/// `only_existing` was asked.
pub fn push(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    values: &[Bytes],
    front: bool,
    only_existing: bool,
) -> Result<Option<u64>, Reply> {
    let (db, now) = (ctx.db(), ctx.now);
    let len = {
        let mut km = write_key(&mut ctx.engine.keyspace, db, key, now)?;
        if only_existing && !km.exists() {
            return Ok(None);
        }
        let (list, mut backing) = km.list_or_create().map_err(|_| err_wrongtype())?;
        for v in values {
            list.push(&mut backing, owned(v), front)
                .map_err(store_err)?;
        }
        list.len()
    };
    ctx.notify(class::LIST, push_event(front), key);
    Ok(Some(len))
}

fn push_generic(ctx: &mut Ctx<'_>, argv: &[Bytes], front: bool, only_existing: bool) -> Reply {
    match push(ctx, &argv[1], &argv[2..], front, only_existing) {
        Ok(len) => Reply::Integer(len.unwrap_or(0) as i64),
        Err(reply) => reply,
    }
}

// ---------------------------------------------------------------------------------------
// Pops.

/// Pops up to `count` items from one end of the list at `key` and reports the events (the
/// pop, and `del` when the list is emptied). `Ok(None)` if the key does not exist.
pub fn pop(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    front: bool,
    count: u64,
) -> Result<Option<Vec<Bytes>>, Reply> {
    let (db, now) = (ctx.db(), ctx.now);
    let (items, emptied) = {
        let mut km = write_key(&mut ctx.engine.keyspace, db, key, now)?;
        let Some((list, backing)) = km.list().map_err(|_| err_wrongtype())? else {
            return Ok(None);
        };
        let items = list.pop(backing.store, front, count).map_err(store_err)?;
        (items, list.is_empty())
    };
    if !items.is_empty() {
        ctx.notify_removal(class::LIST, pop_event(front), key, emptied);
    }
    Ok(Some(items))
}

/// Redis's count argument of LPOP, RPOP and SPOP.
pub fn parse_positive_count(arg: &[u8]) -> Result<u64, Reply> {
    parse_i64(arg)
        .filter(|&n| n >= 0)
        .map(|n| n as u64)
        .ok_or_else(|| Reply::error("ERR value is out of range, must be positive"))
}

fn lpop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    pop_generic(ctx, argv, true)
}

fn rpop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    pop_generic(ctx, argv, false)
}

fn pop_generic(ctx: &mut Ctx<'_>, argv: &[Bytes], front: bool) -> Reply {
    if argv.len() > 3 {
        return super::err_arity(if front { "lpop" } else { "rpop" });
    }
    let count = match argv.get(2).map(|a| parse_positive_count(a)) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(reply)) => return reply,
    };
    match pop(ctx, &argv[1], front, count.unwrap_or(1)) {
        Err(reply) => reply,
        Ok(None) if count.is_some() => Reply::NullArray,
        Ok(None) => Reply::Null,
        Ok(Some(items)) => match count {
            Some(_) => Reply::Array(items.into_iter().map(Reply::Bulk).collect()),
            None => items.into_iter().next().map_or(Reply::Null, Reply::Bulk),
        },
    }
}

/// What LMPOP (and BLMPOP) asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MPop {
    /// The keys, in the order to try them.
    pub keys: Vec<Bytes>,
    /// LEFT (true) or RIGHT.
    pub front: bool,
    /// Most items to pop.
    pub count: u64,
}

/// Parses `numkeys key [key ...] LEFT|RIGHT [COUNT count]` starting at `argv[at]` (the
/// numkeys argument), with Redis's errors.
pub fn parse_mpop(argv: &[Bytes], at: usize) -> Result<MPop, Reply> {
    let numkeys = parse_i64(&argv[at])
        .filter(|&n| n > 0)
        .ok_or_else(|| Reply::error("ERR numkeys should be greater than 0"))?;
    let rest = &argv[at + 1..];
    let numkeys = usize::try_from(numkeys).unwrap_or(usize::MAX);
    if numkeys >= rest.len() {
        return Err(err_syntax());
    }
    let keys = rest[..numkeys].to_vec();
    let front = where_arg(&rest[numkeys]).ok_or_else(err_syntax)?;
    let mut count = None;
    let mut i = numkeys + 1;
    while i < rest.len() {
        if eq_ci(&rest[i], "count") && i + 1 < rest.len() && count.is_none() {
            let n = parse_i64(&rest[i + 1])
                .filter(|&n| n > 0)
                .ok_or_else(|| Reply::error("ERR count should be greater than 0"))?;
            count = Some(n as u64);
            i += 2;
        } else {
            return Err(err_syntax());
        }
    }
    Ok(MPop {
        keys,
        front,
        count: count.unwrap_or(1),
    })
}

/// Pops from the first non-empty list of `m.keys`: `[key, [items]]`, or a null array when
/// every list is empty. A key of another type answers WRONGTYPE when it is reached.
pub fn mpop_first(ctx: &mut Ctx<'_>, m: &MPop) -> Reply {
    for key in &m.keys {
        match pop(ctx, key, m.front, m.count) {
            Err(reply) => return reply,
            Ok(Some(items)) if !items.is_empty() => {
                return Reply::Array(vec![
                    Reply::Bulk(key.clone()),
                    Reply::Array(items.into_iter().map(Reply::Bulk).collect()),
                ])
            }
            Ok(_) => {}
        }
    }
    Reply::NullArray
}

fn lmpop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    match parse_mpop(argv, 1) {
        Ok(m) => mpop_first(ctx, &m),
        Err(reply) => reply,
    }
}

/// Moves one item from an end of `src` to an end of `dst` (LMOVE, RPOPLPUSH, and their
/// blocking forms), with Redis's events: the push on `dst`, then the pop on `src`, then
/// `del` if `src` was emptied. `Ok(None)` if `src` does not exist. The destination's type
/// is checked before anything is popped.
pub fn lmove_core(
    ctx: &mut Ctx<'_>,
    src: &[u8],
    dst: &[u8],
    from_front: bool,
    to_front: bool,
) -> Result<Option<Bytes>, Reply> {
    let (db, now) = (ctx.db(), ctx.now);
    let ks = &mut ctx.engine.keyspace;
    match ks.peek(db, src, now).map_err(store_err)? {
        None => return Ok(None),
        Some(k) if k.entry.value.value_type() != ValueType::List => return Err(err_wrongtype()),
        Some(_) => {}
    }
    if let Some(k) = ks.peek(db, dst, now).map_err(store_err)? {
        if k.entry.value.value_type() != ValueType::List {
            return Err(err_wrongtype());
        }
    }
    let (item, emptied) = {
        let mut km = write_key(ks, db, src, now)?;
        let Some((list, backing)) = km.list().map_err(|_| err_wrongtype())? else {
            return Ok(None);
        };
        let item = list
            .pop(backing.store, from_front, 1)
            .map_err(store_err)?
            .into_iter()
            .next();
        (item, list.is_empty())
    };
    let Some(item) = item else {
        return Ok(None);
    };
    {
        let mut km = write_key(ks, db, dst, now)?;
        let (list, mut backing) = km.list_or_create().map_err(|_| err_wrongtype())?;
        list.push(&mut backing, item.clone(), to_front)
            .map_err(store_err)?;
    }
    ctx.notify(class::LIST, push_event(to_front), dst);
    ctx.notify(class::LIST, pop_event(from_front), src);
    // Rotating a list onto itself never empties it.
    if emptied && src != dst {
        ctx.notify(class::GENERIC, "del", src);
    }
    Ok(Some(item))
}

fn lmove(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let (Some(from), Some(to)) = (where_arg(&argv[3]), where_arg(&argv[4])) else {
        return err_syntax();
    };
    match lmove_core(ctx, &argv[1], &argv[2], from, to) {
        Ok(item) => item.map_or(Reply::Null, Reply::Bulk),
        Err(reply) => reply,
    }
}

fn rpoplpush(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    match lmove_core(ctx, &argv[1], &argv[2], false, true) {
        Ok(item) => item.map_or(Reply::Null, Reply::Bulk),
        Err(reply) => reply,
    }
}

// ---------------------------------------------------------------------------------------
// Reads.

fn llen(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    read_typed::<List>(
        ctx,
        &argv[1],
        || Reply::Integer(0),
        |l, _| Ok(Reply::Integer(l.len() as i64)),
    )
}

fn lindex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let Some(index) = parse_i64(&argv[2]) else {
        return err_not_integer();
    };
    read_typed::<List>(
        ctx,
        &argv[1],
        || Reply::Null,
        |l, store| {
            Ok(match index_of(index, l.len()) {
                Some(i) => l.get(store, i)?.map_or(Reply::Null, Reply::Bulk),
                None => Reply::Null,
            })
        },
    )
}

fn lrange(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let (Some(start), Some(stop)) = (parse_i64(&argv[2]), parse_i64(&argv[3])) else {
        return err_not_integer();
    };
    read_typed::<List>(
        ctx,
        &argv[1],
        || Reply::Array(Vec::new()),
        |l, store| {
            Ok(Reply::Array(match range_of(start, stop, l.len()) {
                Some((a, b)) => l.range_each(store, a, b, false, Reply::Bulk)?,
                None => Vec::new(),
            }))
        },
    )
}

/// Calls `visit(index, item)` for items from the head (or from the tail if `reverse`), a page
/// at a time, until it returns false or `limit` items were seen.
fn walk(
    list: &List,
    store: &mut dyn Store,
    reverse: bool,
    limit: u64,
    mut visit: impl FnMut(u64, &Bytes) -> bool,
) -> Result<(), StoreError> {
    let len = list.len();
    let limit = limit.min(len);
    let mut seen = 0;
    while seen < limit {
        let n = PAGE.min(limit - seen);
        let page = if reverse {
            list.range(store, len - seen - n, len - seen - 1, true)?
        } else {
            list.range(store, seen, seen + n - 1, false)?
        };
        for (k, item) in page.iter().enumerate() {
            let i = if reverse {
                len - 1 - seen - k as u64
            } else {
                seen + k as u64
            };
            if !visit(i, item) {
                return Ok(());
            }
        }
        seen += n;
    }
    Ok(())
}

fn lpos(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let (mut rank, mut count, mut maxlen) = (1i64, None, 0i64);
    let mut i = 3;
    while i < argv.len() {
        let Some(value) = argv.get(i + 1) else {
            return err_syntax();
        };
        if eq_ci(&argv[i], "rank") {
            let Some(r) = parse_i64(value) else {
                return err_not_integer();
            };
            if r == 0 {
                return Reply::error("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list");
            }
            if r == i64::MIN {
                return Reply::error("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807");
            }
            rank = r;
        } else if eq_ci(&argv[i], "count") {
            let Some(c) = parse_i64(value) else {
                return err_not_integer();
            };
            if c < 0 {
                return Reply::error("ERR COUNT can't be negative");
            }
            count = Some(c as u64);
        } else if eq_ci(&argv[i], "maxlen") {
            let Some(m) = parse_i64(value) else {
                return err_not_integer();
            };
            if m < 0 {
                return Reply::error("ERR MAXLEN can't be negative");
            }
            maxlen = m;
        } else {
            return err_syntax();
        }
        i += 2;
    }
    let missing = || match count {
        Some(_) => Reply::Array(Vec::new()),
        None => Reply::Null,
    };
    let element = &argv[2];
    read_typed::<List>(ctx, &argv[1], missing, |l, store| {
        let reverse = rank < 0;
        let mut skip = rank.unsigned_abs() - 1;
        // COUNT 0 means every match.
        let wanted = match count {
            Some(0) => u64::MAX,
            Some(c) => c,
            None => 1,
        };
        let limit = if maxlen == 0 { u64::MAX } else { maxlen as u64 };
        let mut found = Vec::new();
        walk(l, store, reverse, limit, |i, item| {
            if item == element {
                if skip > 0 {
                    skip -= 1;
                } else {
                    found.push(Reply::Integer(i as i64));
                }
            }
            (found.len() as u64) < wanted
        })?;
        Ok(match count {
            Some(_) => Reply::Array(found),
            None => found.into_iter().next().unwrap_or(Reply::Null),
        })
    })
}

// ---------------------------------------------------------------------------------------
// Changes in the middle.

fn lset(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let Some(index) = parse_i64(&argv[2]) else {
        return err_not_integer();
    };
    let (db, key, now) = (ctx.db(), &argv[1], ctx.now);
    let done = (|| {
        let mut km = write_key(&mut ctx.engine.keyspace, db, key, now)?;
        let Some((list, mut backing)) = km.list().map_err(|_| err_wrongtype())? else {
            return Err(Reply::error("ERR no such key"));
        };
        let i =
            index_of(index, list.len()).ok_or_else(|| Reply::error("ERR index out of range"))?;
        list.set(&mut backing, i, owned(&argv[3]))
            .map_err(store_err)?;
        Ok(())
    })();
    match done {
        Ok(()) => {
            ctx.notify(class::LIST, "lset", key);
            Reply::ok()
        }
        Err(reply) => reply,
    }
}

fn linsert(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let after = if eq_ci(&argv[2], "after") {
        true
    } else if eq_ci(&argv[2], "before") {
        false
    } else {
        return err_syntax();
    };
    let (db, key, now) = (ctx.db(), &argv[1], ctx.now);
    let done = (|| {
        let mut km = write_key(&mut ctx.engine.keyspace, db, key, now)?;
        let Some((list, mut backing)) = km.list().map_err(|_| err_wrongtype())? else {
            return Ok(None);
        };
        let mut at = None;
        walk(list, backing.store, false, u64::MAX, |i, item| {
            if item == &argv[3] {
                at = Some(i);
            }
            at.is_none()
        })
        .map_err(store_err)?;
        let Some(at) = at else {
            return Ok(Some(-1));
        };
        let index = if after { at + 1 } else { at };
        list.insert(&mut backing, index, owned(&argv[4]))
            .map_err(store_err)?;
        Ok::<_, Reply>(Some(list.len() as i64))
    })();
    match done {
        Ok(None) => Reply::Integer(0),
        Ok(Some(len)) => {
            if len > 0 {
                ctx.notify(class::LIST, "linsert", key);
            }
            Reply::Integer(len)
        }
        Err(reply) => reply,
    }
}

fn lrem(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let Some(count) = parse_i64(&argv[2]) else {
        return err_not_integer();
    };
    let (db, key, now) = (ctx.db(), &argv[1], ctx.now);
    let done = (|| {
        let mut km = write_key(&mut ctx.engine.keyspace, db, key, now)?;
        let Some((list, backing)) = km.list().map_err(|_| err_wrongtype())? else {
            return Ok((0, false));
        };
        let wanted = if count == 0 {
            u64::MAX
        } else {
            count.unsigned_abs()
        };
        let mut indexes = Vec::new();
        walk(list, backing.store, count < 0, u64::MAX, |i, item| {
            if item == &argv[3] {
                indexes.push(i);
            }
            (indexes.len() as u64) < wanted
        })
        .map_err(store_err)?;
        if count < 0 {
            indexes.reverse();
        }
        list.remove_indexes(backing.store, &indexes)
            .map_err(store_err)?;
        Ok::<_, Reply>((indexes.len(), list.is_empty()))
    })();
    match done {
        Ok((removed, emptied)) => {
            if removed > 0 {
                ctx.notify_removal(class::LIST, "lrem", key, emptied);
            }
            Reply::Integer(removed as i64)
        }
        Err(reply) => reply,
    }
}

fn ltrim(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let (Some(start), Some(stop)) = (parse_i64(&argv[2]), parse_i64(&argv[3])) else {
        return err_not_integer();
    };
    let (db, key, now) = (ctx.db(), &argv[1], ctx.now);
    let done = (|| {
        let mut km = write_key(&mut ctx.engine.keyspace, db, key, now)?;
        let Some((list, backing)) = km.list().map_err(|_| err_wrongtype())? else {
            return Ok(None);
        };
        let (a, b) = range_of(start, stop, list.len()).unwrap_or((1, 0));
        list.trim(backing.store, a, b).map_err(store_err)?;
        Ok::<_, Reply>(Some(list.is_empty()))
    })();
    match done {
        Ok(None) => Reply::ok(),
        Ok(Some(emptied)) => {
            // Redis signals the key as changed even when the range kept every item: WATCH
            // fires and tracking clients are told, as after any other LTRIM.
            ctx.engine.keyspace.watches_mut().changed(db, key, false);
            ctx.notify_removal(class::LIST, "ltrim", key, emptied);
            Reply::ok()
        }
        Err(reply) => reply,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_and_ranges_normalise_as_redis() {
        assert_eq!(index_of(0, 3), Some(0));
        assert_eq!(index_of(-1, 3), Some(2));
        assert_eq!(index_of(-4, 3), None);
        assert_eq!(index_of(3, 3), None);
        assert_eq!(index_of(i64::MIN, 3), None);
        assert_eq!(range_of(0, -1, 3), Some((0, 2)));
        assert_eq!(range_of(-100, 100, 3), Some((0, 2)));
        assert_eq!(range_of(2, 1, 3), None);
        assert_eq!(range_of(5, 10, 3), None);
        assert_eq!(range_of(-1, -1, 3), Some((2, 2)));
        assert_eq!(range_of(0, -4, 3), None);
        assert_eq!(range_of(i64::MIN, i64::MAX, 3), Some((0, 2)));
    }

    /// Event names and order as Redis 7 sends them (checked against redis-server).
    #[test]
    fn commands_emit_redis_events() {
        let mut rig = crate::testing::Rig::new();
        let none: Vec<String> = Vec::new();
        assert_eq!(rig.events("RPUSH a 1 2"), ["rpush(a)"]);
        assert_eq!(rig.events("LPUSH a 0"), ["lpush(a)"]);
        assert_eq!(rig.events("LPUSHX nokey 0"), none);
        assert_eq!(rig.events("RPUSHX a 3"), ["rpush(a)"]);
        assert_eq!(rig.events("LMOVE a b LEFT RIGHT"), ["rpush(b)", "lpop(a)"]);
        assert_eq!(rig.events("LMOVE a a LEFT LEFT"), ["lpush(a)", "lpop(a)"]);
        assert_eq!(rig.events("RPOPLPUSH b b"), ["lpush(b)", "rpop(b)"]);
        assert_eq!(
            rig.events("LMOVE b c LEFT LEFT"),
            ["lpush(c)", "lpop(b)", "del(b)"]
        );
        assert_eq!(rig.events("LPOP a 0"), none);
        assert_eq!(rig.events("LINSERT a BEFORE nope x"), none);
        assert_eq!(rig.events("LINSERT a BEFORE 2 x"), ["linsert(a)"]);
        assert_eq!(rig.events("LSET a 0 z"), ["lset(a)"]);
        assert_eq!(rig.events("LREM a 0 nope"), none);
        assert_eq!(rig.events("LREM a 1 z"), ["lrem(a)"]);
        assert_eq!(rig.events("LTRIM a 0 -1"), ["ltrim(a)"]);
        assert_eq!(rig.events("LTRIM nokey 0 -1"), none);
        assert_eq!(rig.events("RPOP a"), ["rpop(a)"]);
        assert_eq!(rig.events("LTRIM a 1 0"), ["ltrim(a)", "del(a)"]);
        assert_eq!(rig.events("RPUSH q a b"), ["rpush(q)"]);
        assert_eq!(
            rig.events("LMPOP 2 nokey q LEFT COUNT 5"),
            ["lpop(q)", "del(q)"]
        );
        assert_eq!(rig.events("LMPOP 1 nokey LEFT"), none);
        assert_eq!(rig.events("RPUSH q a"), ["rpush(q)"]);
        assert_eq!(rig.events("LREM q 0 a"), ["lrem(q)", "del(q)"]);
        assert_eq!(rig.run("EXISTS q").0, Reply::Integer(0));
    }
}
