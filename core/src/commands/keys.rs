//! Generic key commands (Redis's db.c / expire.c / object.c): DEL, UNLINK, EXISTS, TYPE,
//! RENAME, RENAMENX, COPY, MOVE, SWAPDB, the EXPIRE and TTL families, PERSIST, KEYS, SCAN,
//! RANDOMKEY, TOUCH, OBJECT.

use bytes::Bytes;

use super::read_typed;
use super::table::{flags::*, CommandSpec};
use super::{eq_ci, err_not_integer, err_store, err_syntax, help_reply, lossy, parse_i64};
use crate::engine::Ctx;
use crate::events::class;
use crate::glob::glob_match;
use crate::keyspace::{Renamed, Typed, Value};
use crate::protocol::Reply;
use crate::storage::{DbIndex, Store, StoreError};

const EXPIRE_COMPLEXITY: &str = "O(1)";

/// Key commands.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("del", -2, del)
        .flags(WRITE)
        .keys(1, -1, 1)
        .categories(&["keyspace", "write", "slow"])
        .doc(
            "generic",
            "Deletes one or more keys.",
            "1.0.0",
            "O(N) where N is the number of keys that will be removed.",
        ),
    CommandSpec::new("unlink", -2, del)
        .flags(WRITE | FAST)
        .keys(1, -1, 1)
        .categories(&["keyspace", "write", "fast"])
        .doc(
            "generic",
            "Asynchronously deletes one or more keys.",
            "4.0.0",
            "O(1) for each key removed regardless of its size.",
        ),
    CommandSpec::new("exists", -2, exists)
        .flags(READONLY | FAST)
        .keys(1, -1, 1)
        .categories(&["keyspace", "read", "fast"])
        .doc(
            "generic",
            "Determines whether one or more keys exist.",
            "1.0.0",
            "O(N) where N is the number of keys to check.",
        ),
    CommandSpec::new("touch", -2, touch)
        .flags(READONLY | FAST)
        .keys(1, -1, 1)
        .categories(&["keyspace", "read", "fast"])
        .doc(
            "generic",
            "Returns the number of existing keys out of those specified after updating the time they were last accessed.",
            "3.2.1",
            "O(N) where N is the number of keys that will be touched.",
        ),
    CommandSpec::new("type", 2, type_)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .categories(&["keyspace", "read", "fast"])
        .doc("generic", "Determines the type of value stored at a key.", "1.0.0", "O(1)"),
    CommandSpec::new("rename", 3, rename)
        .flags(WRITE)
        .keys(1, 2, 1)
        .categories(&["keyspace", "write", "slow"])
        .doc("generic", "Renames a key and overwrites the destination.", "1.0.0", "O(1)"),
    CommandSpec::new("renamenx", 3, renamenx)
        .flags(WRITE | FAST)
        .keys(1, 2, 1)
        .categories(&["keyspace", "write", "fast"])
        .doc(
            "generic",
            "Renames a key only when the target key name doesn't exist.",
            "1.0.0",
            "O(1)",
        ),
    CommandSpec::new("copy", -3, copy)
        .flags(WRITE | DENYOOM)
        .keys(1, 2, 1)
        .categories(&["keyspace", "write", "slow"])
        .doc(
            "generic",
            "Copies the value of a key to a new key.",
            "6.2.0",
            "O(N) worst case for collections, where N is the number of nested items. O(1) for string values.",
        ),
    CommandSpec::new("move", 3, move_)
        .flags(WRITE | FAST)
        .keys(1, 1, 1)
        .categories(&["keyspace", "write", "fast"])
        .doc("generic", "Moves a key to another database.", "1.0.0", "O(1)"),
    CommandSpec::new("swapdb", 3, swapdb)
        .flags(WRITE | FAST)
        .categories(&["keyspace", "write", "fast", "dangerous"])
        .doc(
            "generic",
            "Swaps two Redis databases.",
            "4.0.0",
            "O(N) where N is the count of clients watching or blocking on keys from both databases.",
        ),
    CommandSpec::new("expire", -3, expire)
        .flags(WRITE | FAST)
        .keys(1, 1, 1)
        .categories(&["keyspace", "write", "fast"])
        .doc("generic", "Sets the expiration time of a key in seconds.", "1.0.0", EXPIRE_COMPLEXITY),
    CommandSpec::new("pexpire", -3, pexpire)
        .flags(WRITE | FAST)
        .keys(1, 1, 1)
        .categories(&["keyspace", "write", "fast"])
        .doc(
            "generic",
            "Sets the expiration time of a key in milliseconds.",
            "2.6.0",
            EXPIRE_COMPLEXITY,
        ),
    CommandSpec::new("expireat", -3, expireat)
        .flags(WRITE | FAST)
        .keys(1, 1, 1)
        .categories(&["keyspace", "write", "fast"])
        .doc(
            "generic",
            "Sets the expiration time of a key to a Unix timestamp.",
            "1.2.0",
            EXPIRE_COMPLEXITY,
        ),
    CommandSpec::new("pexpireat", -3, pexpireat)
        .flags(WRITE | FAST)
        .keys(1, 1, 1)
        .categories(&["keyspace", "write", "fast"])
        .doc(
            "generic",
            "Sets the expiration time of a key to a Unix milliseconds timestamp.",
            "2.6.0",
            EXPIRE_COMPLEXITY,
        ),
    CommandSpec::new("ttl", 2, ttl)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .categories(&["keyspace", "read", "fast"])
        .doc("generic", "Returns the expiration time in seconds of a key.", "1.0.0", "O(1)"),
    CommandSpec::new("pttl", 2, pttl)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .categories(&["keyspace", "read", "fast"])
        .doc("generic", "Returns the expiration time in milliseconds of a key.", "2.6.0", "O(1)"),
    CommandSpec::new("expiretime", 2, expiretime)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .categories(&["keyspace", "read", "fast"])
        .doc(
            "generic",
            "Returns the expiration time of a key as a Unix timestamp.",
            "7.0.0",
            "O(1)",
        ),
    CommandSpec::new("pexpiretime", 2, pexpiretime)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .categories(&["keyspace", "read", "fast"])
        .doc(
            "generic",
            "Returns the expiration time of a key as a Unix milliseconds timestamp.",
            "7.0.0",
            "O(1)",
        ),
    CommandSpec::new("persist", 2, persist)
        .flags(WRITE | FAST)
        .keys(1, 1, 1)
        .categories(&["keyspace", "write", "fast"])
        .doc("generic", "Removes the expiration time of a key.", "2.2.0", "O(1)"),
    CommandSpec::new("keys", 2, keys)
        .flags(READONLY)
        .categories(&["keyspace", "read", "slow", "dangerous"])
        .doc(
            "generic",
            "Returns all key names that match a pattern.",
            "1.0.0",
            "O(N) with N being the number of keys in the database, under the assumption that the key names in the database and the given pattern have limited length.",
        ),
    CommandSpec::new("scan", -2, scan)
        .flags(READONLY)
        .categories(&["keyspace", "read", "slow"])
        .doc(
            "generic",
            "Iterates over the key names in the database.",
            "2.8.0",
            "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.",
        ),
    CommandSpec::new("randomkey", 1, randomkey)
        .flags(READONLY)
        .categories(&["keyspace", "read", "slow"])
        .doc("generic", "Returns a random key name from the database.", "1.0.0", "O(1)"),
    CommandSpec::container("object", -2)
        .categories(&["slow"])
        .doc(
            "generic",
            "A container for object introspection commands.",
            "2.2.3",
            "Depends on subcommand.",
        )
        .subcommands(&[
            CommandSpec::new("encoding", 3, object_encoding)
                .flags(READONLY)
                .keys(1, 1, 1)
                .categories(&["keyspace", "read", "slow"])
                .doc("generic", "Returns the internal encoding of a Redis object.", "2.2.3", "O(1)"),
            CommandSpec::new("freq", 3, object_freq)
                .flags(READONLY)
                .keys(1, 1, 1)
                .categories(&["keyspace", "read", "slow"])
                .doc(
                    "generic",
                    "Returns the logarithmic access frequency counter of a Redis object.",
                    "4.0.0",
                    "O(1)",
                ),
            CommandSpec::new("idletime", 3, object_idletime)
                .flags(READONLY)
                .keys(1, 1, 1)
                .categories(&["keyspace", "read", "slow"])
                .doc(
                    "generic",
                    "Returns the time since the last access to a Redis object.",
                    "2.2.3",
                    "O(1)",
                ),
            CommandSpec::new("refcount", 3, object_refcount)
                .flags(READONLY)
                .keys(1, 1, 1)
                .categories(&["keyspace", "read", "slow"])
                .doc("generic", "Returns the reference count of a value of a key.", "2.2.3", "O(1)"),
            CommandSpec::new("help", 2, object_help)
                .flags(LOADING | STALE)
                .categories(&["keyspace", "slow"])
                .doc(
                    "generic",
                    "Returns helpful text about the different subcommands.",
                    "6.2.0",
                    "O(1)",
                ),
        ]),
];

fn del(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let db = ctx.db();
    let mut removed = 0;
    for key in &argv[1..] {
        if tri!(ctx.engine.keyspace.delete(db, key, ctx.now)) {
            removed += 1;
            ctx.notify(class::GENERIC, "del", key);
        }
    }
    Reply::Integer(removed)
}

fn exists(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let db = ctx.db();
    let mut found = 0;
    // Redis counts a key repeated in the arguments once per mention.
    for key in &argv[1..] {
        if tri!(ctx.engine.keyspace.inspect(db, key, ctx.now, true)).is_some() {
            found += 1;
        }
    }
    Reply::Integer(found)
}

fn touch(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let db = ctx.db();
    let mut found = 0;
    for key in &argv[1..] {
        if tri!(ctx.engine.keyspace.read(db, key, ctx.now)).is_some() {
            found += 1;
        }
    }
    Reply::Integer(found)
}

fn type_(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let db = ctx.db();
    let name = tri!(ctx.engine.keyspace.inspect(db, &argv[1], ctx.now, true))
        .map_or("none", |k| k.entry.value.type_name());
    Reply::Simple(name.into())
}

fn rename_generic(ctx: &mut Ctx<'_>, argv: &[Bytes], replace: bool) -> Result<Renamed, Reply> {
    let db = ctx.db();
    let (from, to) = (&argv[1], &argv[2]);
    let done = ctx
        .engine
        .keyspace
        .rename(db, from, db, to, replace, ctx.now)
        .map_err(|e| err_store(&e))?;
    if done == Renamed::Done && from != to {
        ctx.notify(class::GENERIC, "rename_from", from);
        ctx.notify(class::GENERIC, "rename_to", to);
    }
    Ok(done)
}

fn rename(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    match rename_generic(ctx, argv, true) {
        Ok(Renamed::NoSource) => Reply::error("ERR no such key"),
        Ok(_) => Reply::ok(),
        Err(reply) => reply,
    }
}

fn renamenx(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    if argv[1] == argv[2] {
        // Redis answers 0 for a key renamed onto itself, after checking it exists.
        let db = ctx.db();
        return match tri!(ctx.engine.keyspace.exists(db, &argv[1], ctx.now)) {
            true => Reply::Integer(0),
            false => Reply::error("ERR no such key"),
        };
    }
    match rename_generic(ctx, argv, false) {
        Ok(Renamed::NoSource) => Reply::error("ERR no such key"),
        Ok(Renamed::DestinationExists) => Reply::Integer(0),
        Ok(Renamed::Done) => Reply::Integer(1),
        Err(reply) => reply,
    }
}

/// Parses a database index argument the way SELECT, MOVE and COPY do.
fn parse_db(ctx: &Ctx<'_>, arg: &[u8]) -> Result<DbIndex, Reply> {
    let n = parse_i64(arg).ok_or_else(err_not_integer)?;
    match u32::try_from(n) {
        Ok(db) if db < ctx.engine.keyspace.databases() => Ok(db),
        _ => Err(Reply::error("ERR DB index is out of range")),
    }
}

fn copy(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let db = ctx.db();
    let mut to_db = db;
    let mut replace = false;
    let mut i = 3;
    while i < argv.len() {
        if eq_ci(&argv[i], "replace") {
            replace = true;
        } else if eq_ci(&argv[i], "db") && i + 1 < argv.len() {
            to_db = match parse_db(ctx, &argv[i + 1]) {
                Ok(db) => db,
                Err(reply) => return reply,
            };
            i += 1;
        } else {
            return err_syntax();
        }
        i += 1;
    }
    if db == to_db && argv[1] == argv[2] {
        return Reply::error("ERR source and destination objects are the same");
    }
    let copied = tri!(ctx
        .engine
        .keyspace
        .copy(db, &argv[1], to_db, &argv[2], replace, ctx.now));
    if copied {
        ctx.engine
            .events
            .emit(to_db, class::GENERIC, "copy_to", &argv[2]);
    }
    Reply::Integer(copied as i64)
}

fn move_(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let db = ctx.db();
    let to_db = match parse_db(ctx, &argv[2]) {
        Ok(db) => db,
        Err(reply) => return reply,
    };
    if db == to_db {
        return Reply::error("ERR source and destination objects are the same");
    }
    let key = &argv[1];
    match tri!(ctx
        .engine
        .keyspace
        .rename(db, key, to_db, key, false, ctx.now))
    {
        Renamed::Done => {
            ctx.notify(class::GENERIC, "move_from", key);
            ctx.engine
                .events
                .emit(to_db, class::GENERIC, "move_to", key);
            Reply::Integer(1)
        }
        _ => Reply::Integer(0),
    }
}

fn swapdb(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let Some(a) = parse_i64(&argv[1]) else {
        return Reply::error("ERR invalid first DB index");
    };
    let Some(b) = parse_i64(&argv[2]) else {
        return Reply::error("ERR invalid second DB index");
    };
    let databases = i64::from(ctx.engine.keyspace.databases());
    if !(0..databases).contains(&a) || !(0..databases).contains(&b) {
        return Reply::error("ERR DB index is out of range");
    }
    tri!(ctx.engine.keyspace.swap_db(a as DbIndex, b as DbIndex));
    for db in [a, b] {
        ctx.engine
            .events
            .emit(db as DbIndex, class::DB_SWAPPED, "swapdb", b"");
    }
    Reply::ok()
}

/// The EXPIRE family's NX/XX/GT/LT condition.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Condition {
    Always,
    Nx,
    Xx,
    Gt,
    Lt,
}

fn parse_condition(args: &[Bytes]) -> Result<Condition, Reply> {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for arg in args {
        if eq_ci(arg, "nx") {
            nx = true;
        } else if eq_ci(arg, "xx") {
            xx = true;
        } else if eq_ci(arg, "gt") {
            gt = true;
        } else if eq_ci(arg, "lt") {
            lt = true;
        } else {
            return Err(Reply::Error(
                format!("ERR Unsupported option {}", lossy(arg)).into(),
            ));
        }
    }
    if nx && (xx || gt || lt) {
        return Err(Reply::error(
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if gt && lt {
        return Err(Reply::error(
            "ERR GT and LT options at the same time are not compatible",
        ));
    }
    Ok(match (nx, xx, gt, lt) {
        (true, ..) => Condition::Nx,
        (_, _, true, _) => Condition::Gt,
        (_, _, _, true) => Condition::Lt,
        (_, true, ..) => Condition::Xx,
        _ => Condition::Always,
    })
}

/// Whether a new expiry `at` may replace `current` under `cond` (no TTL counts as infinite,
/// as in Redis). XX combined with GT/LT also requires a current TTL.
fn condition_allows(cond: Condition, xx: bool, current: Option<i64>, at: i64) -> bool {
    if xx && current.is_none() {
        return false;
    }
    match cond {
        Condition::Always | Condition::Xx => true,
        Condition::Nx => current.is_none(),
        Condition::Gt => current.is_some_and(|c| at > c),
        Condition::Lt => current.is_none_or(|c| at < c),
    }
}

/// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT: `unit_ms` scales the argument, `relative` adds now.
fn expire_generic(ctx: &mut Ctx<'_>, argv: &[Bytes], unit_ms: i64, relative: bool) -> Reply {
    let name = argv[0].to_ascii_lowercase();
    let invalid =
        || Reply::Error(format!("ERR invalid expire time in '{}' command", lossy(&name)).into());
    let cond = match parse_condition(&argv[3..]) {
        Ok(c) => c,
        Err(reply) => return reply,
    };
    let Some(n) = parse_i64(&argv[2]) else {
        return err_not_integer();
    };
    let xx = argv[3..].iter().any(|a| eq_ci(a, "xx"));
    let Some(mut at) = n.checked_mul(unit_ms) else {
        return invalid();
    };
    if relative {
        match at.checked_add(ctx.now) {
            Some(v) => at = v,
            None => return invalid(),
        }
    }
    let db = ctx.db();
    let key = &argv[1];
    let mut entry = tri!(ctx.engine.keyspace.write(db, key, ctx.now));
    if !entry.exists() || !condition_allows(cond, xx, entry.expire_at(), at) {
        return Reply::Integer(0);
    }
    if at <= ctx.now {
        // A time already passed deletes the key, as Redis does.
        tri!(entry.delete());
        drop(entry);
        ctx.notify(class::GENERIC, "del", key);
    } else {
        entry.set_expire(Some(at));
        drop(entry);
        ctx.notify(class::GENERIC, "expire", key);
    }
    Reply::Integer(1)
}

fn expire(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    expire_generic(ctx, argv, 1000, true)
}

fn pexpire(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    expire_generic(ctx, argv, 1, true)
}

fn expireat(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    expire_generic(ctx, argv, 1000, false)
}

fn pexpireat(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    expire_generic(ctx, argv, 1, false)
}

/// TTL, PTTL, EXPIRETIME, PEXPIRETIME: -2 without a key, -1 without an expiry; seconds are
/// rounded as Redis rounds them.
fn ttl_generic(ctx: &mut Ctx<'_>, argv: &[Bytes], ms: bool, absolute: bool) -> Reply {
    let db = ctx.db();
    let Some(k) = tri!(ctx.engine.keyspace.inspect(db, &argv[1], ctx.now, true)) else {
        return Reply::Integer(-2);
    };
    let Some(at) = k.entry.expire_at else {
        return Reply::Integer(-1);
    };
    let t = if absolute { at } else { (at - ctx.now).max(0) };
    Reply::Integer(if ms { t } else { (t + 500) / 1000 })
}

fn ttl(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    ttl_generic(ctx, argv, false, false)
}

fn pttl(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    ttl_generic(ctx, argv, true, false)
}

fn expiretime(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    ttl_generic(ctx, argv, false, true)
}

fn pexpiretime(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    ttl_generic(ctx, argv, true, true)
}

fn persist(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let db = ctx.db();
    let mut entry = tri!(ctx.engine.keyspace.write(db, &argv[1], ctx.now));
    if entry.expire_at().is_none() {
        return Reply::Integer(0);
    }
    entry.set_expire(None);
    drop(entry);
    ctx.notify(class::GENERIC, "persist", &argv[1]);
    Reply::Integer(1)
}

/// Keys per store query while KEYS walks the database.
const KEYS_PAGE: usize = 1000;

fn keys(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let db = ctx.db();
    let pattern = &argv[1];
    let all = &pattern[..] == b"*";
    let mut out = Vec::new();
    let mut cursor = 0;
    loop {
        let (page, next) = tri!(ctx.engine.keyspace.scan(db, cursor, KEYS_PAGE, ctx.now));
        out.extend(
            page.into_iter()
                .filter(|k| all || glob_match(pattern, &k.key, false))
                .map(|k| Reply::Bulk(k.key)),
        );
        if next == 0 {
            return Reply::Array(out);
        }
        cursor = next;
    }
}

/// Parsed SCAN-family options.
pub struct ScanOptions {
    /// MATCH pattern.
    pub pattern: Option<Bytes>,
    /// COUNT hint.
    pub count: usize,
    /// TYPE filter (SCAN only).
    pub kind: Option<Bytes>,
    /// NOVALUES (HSCAN only).
    pub novalues: bool,
}

/// Parses a SCAN cursor as Redis 7.0 does (`strtoul`: an optional sign, digits, nothing
/// else; `-1` wraps around), with `ERR invalid cursor` otherwise.
pub fn parse_cursor(b: &[u8]) -> Result<u64, Reply> {
    let invalid = || Reply::error("ERR invalid cursor");
    let (negative, digits) = match b.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, b),
    };
    if digits.is_empty() {
        // strtoul of an empty string is 0; of a lone sign, an error.
        return if b.is_empty() { Ok(0) } else { Err(invalid()) };
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return Err(invalid());
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .ok_or_else(invalid)?;
    }
    Ok(if negative { v.wrapping_neg() } else { v })
}

/// Parses `[MATCH pattern] [COUNT count]` plus TYPE (`with_type`) or NOVALUES
/// (`with_novalues`), as SCAN, HSCAN, SSCAN and ZSCAN take them.
pub fn parse_scan_options(
    args: &[Bytes],
    with_type: bool,
    with_novalues: bool,
) -> Result<ScanOptions, Reply> {
    let mut opts = ScanOptions {
        pattern: None,
        count: 10,
        kind: None,
        novalues: false,
    };
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1);
        if eq_ci(&args[i], "count") && value.is_some() {
            let n = parse_i64(value.map_or(&[][..], |v| &v[..])).ok_or_else(err_not_integer)?;
            if n < 1 {
                return Err(err_syntax());
            }
            opts.count = usize::try_from(n).unwrap_or(usize::MAX);
            i += 2;
        } else if eq_ci(&args[i], "match") && value.is_some() {
            opts.pattern = value.cloned().filter(|p| &p[..] != b"*");
            i += 2;
        } else if with_type && eq_ci(&args[i], "type") && value.is_some() {
            opts.kind = value.cloned();
            i += 2;
        } else if with_novalues && eq_ci(&args[i], "novalues") {
            opts.novalues = true;
            i += 1;
        } else {
            return Err(err_syntax());
        }
    }
    Ok(opts)
}

/// One page of a collection for HSCAN, SSCAN and ZSCAN: (name, value) pairs, the value
/// `None` where the reply has names only, and the next cursor.
pub type ScanPage = (Vec<(Bytes, Option<Bytes>)>, u64);

/// HSCAN, SSCAN and ZSCAN: the cursor, then (a missing key answers an empty scan before the
/// options are looked at, as in Redis) the options, one page of the `T` at `argv[1]` from
/// `page`, and MATCH applied to the names.
pub fn scan_collection<T: Typed>(
    ctx: &mut Ctx<'_>,
    argv: &[Bytes],
    with_novalues: bool,
    page: impl FnOnce(&T, &mut dyn Store, u64, &ScanOptions) -> Result<ScanPage, StoreError>,
) -> Reply {
    let cursor = match parse_cursor(&argv[2]) {
        Ok(c) => c,
        Err(reply) => return reply,
    };
    read_typed::<T>(
        ctx,
        &argv[1],
        || scan_reply(0, Vec::new()),
        |t, store| {
            let opts = match parse_scan_options(&argv[3..], false, with_novalues) {
                Ok(o) => o,
                Err(reply) => return Ok(reply),
            };
            let (elements, next) = page(t, store, cursor, &opts)?;
            let mut out = Vec::with_capacity(elements.len() * 2);
            for (name, value) in elements {
                if opts
                    .pattern
                    .as_ref()
                    .is_some_and(|p| !glob_match(p, &name, false))
                {
                    continue;
                }
                out.push(Reply::Bulk(name));
                out.extend(value.map(Reply::Bulk));
            }
            Ok(scan_reply(next, out))
        },
    )
}

/// A SCAN-family reply: the next cursor as a string, then the items.
pub fn scan_reply(next: u64, items: Vec<Reply>) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(next.to_string())),
        Reply::Array(items),
    ])
}

fn scan(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let cursor = match parse_cursor(&argv[1]) {
        Ok(c) => c,
        Err(reply) => return reply,
    };
    let opts = match parse_scan_options(&argv[2..], true, false) {
        Ok(o) => o,
        Err(reply) => return reply,
    };
    let db = ctx.db();
    let (page, next) = tri!(ctx.engine.keyspace.scan(db, cursor, opts.count, ctx.now));
    let items = page
        .into_iter()
        .filter(|k| {
            opts.pattern
                .as_ref()
                .is_none_or(|p| glob_match(p, &k.key, false))
                && opts
                    .kind
                    .as_ref()
                    .is_none_or(|t| t.eq_ignore_ascii_case(k.kind.name().as_bytes()))
        })
        .map(|k| Reply::Bulk(k.key))
        .collect();
    scan_reply(next, items)
}

fn randomkey(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    let db = ctx.db();
    match tri!(ctx.engine.keyspace.random_key(db, ctx.now)) {
        Some(key) => Reply::Bulk(key),
        None => Reply::Null,
    }
}

fn object_encoding(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let db = ctx.db();
    match tri!(ctx.engine.keyspace.inspect(db, &argv[2], ctx.now, false)) {
        Some(k) => Reply::Bulk(Bytes::from_static(k.entry.encoding().as_bytes())),
        None => Reply::Null,
    }
}

fn object_freq(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let db = ctx.db();
    // Counted as a hit or miss, as every OBJECT lookup is in Redis.
    tri!(ctx.engine.keyspace.inspect(db, &argv[2], ctx.now, false));
    if !ctx.engine.keyspace.eviction().policy.is_lfu() {
        if !tri!(ctx.engine.keyspace.exists(db, &argv[2], ctx.now)) {
            return Reply::Null;
        }
        return Reply::error(
            "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
        );
    }
    match tri!(ctx.engine.keyspace.freq(db, &argv[2], ctx.now)) {
        Some(freq) => Reply::Integer(i64::from(freq)),
        None => Reply::Null,
    }
}

fn object_idletime(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let db = ctx.db();
    // Counted as a hit or miss, as every OBJECT lookup is in Redis.
    tri!(ctx.engine.keyspace.inspect(db, &argv[2], ctx.now, false));
    let idle = tri!(ctx.engine.keyspace.idle_ms(db, &argv[2], ctx.now));
    if idle.is_some() && ctx.engine.keyspace.eviction().policy.is_lfu() {
        return Reply::error(
            "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
        );
    }
    match idle {
        Some(ms) => Reply::Integer(ms / 1000),
        None => Reply::Null,
    }
}

fn object_refcount(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let db = ctx.db();
    match tri!(ctx.engine.keyspace.inspect(db, &argv[2], ctx.now, false)) {
        // Redis shares the integers 0..9999 and reports them as immortal.
        Some(k) => Reply::Integer(match &k.entry.value {
            Value::String(s)
                if s.len() <= 4 && parse_i64(s).is_some_and(|n| (0..10000).contains(&n)) =>
            {
                i64::from(i32::MAX)
            }
            _ => 1,
        }),
        None => Reply::Null,
    }
}

fn object_help(_ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    help_reply(
        "OBJECT",
        &[
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expire_conditions_treat_no_ttl_as_infinite() {
        assert!(condition_allows(Condition::Lt, false, None, 10));
        assert!(!condition_allows(Condition::Gt, false, None, 10));
        assert!(condition_allows(Condition::Gt, false, Some(5), 10));
        assert!(!condition_allows(Condition::Lt, false, Some(5), 10));
        assert!(condition_allows(Condition::Nx, false, None, 10));
        assert!(!condition_allows(Condition::Nx, false, Some(1), 10));
        assert!(!condition_allows(Condition::Xx, true, None, 10));
        assert!(!condition_allows(Condition::Lt, true, None, 10));
    }

    #[test]
    fn cursors_parse_like_strtoul() {
        assert_eq!(parse_cursor(b"0").ok(), Some(0));
        assert_eq!(parse_cursor(b"").ok(), Some(0));
        assert_eq!(parse_cursor(b"+5").ok(), Some(5));
        assert_eq!(parse_cursor(b"-1").ok(), Some(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551615").ok(), Some(u64::MAX));
        for bad in [&b"18446744073709551616"[..], b" 1", b"1x", b"-", b"abc"] {
            assert!(
                parse_cursor(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
