//! String commands (Redis's t_string.c): GET, SET and its variants, MGET/MSET, APPEND,
//! STRLEN, GETRANGE/SETRANGE, INCR and friends, INCRBYFLOAT, LCS.

use bytes::Bytes;

use super::long_double::LongDouble;
use super::owned;
use super::table::{flags::*, CommandSpec};
use super::{eq_ci, err_arity, err_not_integer, err_store, err_syntax, err_wrongtype, parse_i64};
use crate::engine::Ctx;
use crate::events::class;
use crate::keyspace::{KeyMut, KeyRef, Value};
use crate::protocol::Reply;
use crate::storage::StoreError;

const RANGE_COMPLEXITY: &str = "O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings.";

/// String commands.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("get", 2, get)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .categories(&["read", "string", "fast"])
        .doc("string", "Get the value of a key", "1.0.0", "O(1)"),
    CommandSpec::new("set", -3, set)
        .flags(WRITE | DENYOOM)
        .keys(1, 1, 1)
        .categories(&["write", "string", "slow"])
        .doc("string", "Set the string value of a key", "1.0.0", "O(1)"),
    CommandSpec::new("setnx", 3, setnx)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .categories(&["write", "string", "fast"])
        .doc("string", "Set the value of a key, only if the key does not exist", "1.0.0", "O(1)"),
    CommandSpec::new("setex", 4, setex)
        .flags(WRITE | DENYOOM)
        .keys(1, 1, 1)
        .categories(&["write", "string", "slow"])
        .doc("string", "Set the value and expiration of a key", "2.0.0", "O(1)"),
    CommandSpec::new("psetex", 4, psetex)
        .flags(WRITE | DENYOOM)
        .keys(1, 1, 1)
        .categories(&["write", "string", "slow"])
        .doc("string", "Set the value and expiration in milliseconds of a key", "2.6.0", "O(1)"),
    CommandSpec::new("getex", -2, getex)
        .flags(WRITE | FAST)
        .keys(1, 1, 1)
        .categories(&["write", "string", "fast"])
        .doc("string", "Get the value of a key and optionally set its expiration", "6.2.0", "O(1)"),
    CommandSpec::new("getdel", 2, getdel)
        .flags(WRITE | FAST)
        .keys(1, 1, 1)
        .categories(&["write", "string", "fast"])
        .doc("string", "Get the value of a key and delete the key", "6.2.0", "O(1)"),
    CommandSpec::new("getset", 3, getset)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .categories(&["write", "string", "fast"])
        .doc("string", "Set the string value of a key and return its old value", "1.0.0", "O(1)"),
    CommandSpec::new("mget", -2, mget)
        .flags(READONLY | FAST)
        .keys(1, -1, 1)
        .categories(&["read", "string", "fast"])
        .doc(
            "string",
            "Get the values of all the given keys",
            "1.0.0",
            "O(N) where N is the number of keys to retrieve.",
        ),
    CommandSpec::new("mset", -3, mset)
        .flags(WRITE | DENYOOM)
        .keys(1, -1, 2)
        .categories(&["write", "string", "slow"])
        .doc(
            "string",
            "Set multiple keys to multiple values",
            "1.0.1",
            "O(N) where N is the number of keys to set.",
        ),
    CommandSpec::new("msetnx", -3, msetnx)
        .flags(WRITE | DENYOOM)
        .keys(1, -1, 2)
        .categories(&["write", "string", "slow"])
        .doc(
            "string",
            "Set multiple keys to multiple values, only if none of the keys exist",
            "1.0.1",
            "O(N) where N is the number of keys to set.",
        ),
    CommandSpec::new("append", 3, append)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .categories(&["write", "string", "fast"])
        .doc(
            "string",
            "Append a value to a key",
            "2.0.0",
            "O(1). The amortized time complexity is O(1) assuming the appended value is small and the already present value is of any size, since the dynamic string library used by Redis will double the free space available on every reallocation.",
        ),
    CommandSpec::new("strlen", 2, strlen)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .categories(&["read", "string", "fast"])
        .doc("string", "Get the length of the value stored in a key", "2.2.0", "O(1)"),
    CommandSpec::new("getrange", 4, getrange)
        .flags(READONLY)
        .keys(1, 1, 1)
        .categories(&["read", "string", "slow"])
        .doc("string", "Get a substring of the string stored at a key", "2.4.0", RANGE_COMPLEXITY),
    CommandSpec::new("substr", 4, getrange)
        .flags(READONLY)
        .keys(1, 1, 1)
        .categories(&["read", "string", "slow"])
        .doc("string", "Get a substring of the string stored at a key", "1.0.0", RANGE_COMPLEXITY),
    CommandSpec::new("setrange", 4, setrange)
        .flags(WRITE | DENYOOM)
        .keys(1, 1, 1)
        .categories(&["write", "string", "slow"])
        .doc(
            "string",
            "Overwrite part of a string at key starting at the specified offset",
            "2.2.0",
            "O(1), not counting the time taken to copy the new string in place. Usually, this string is very small so the amortized complexity is O(1). Otherwise, complexity is O(M) with M being the length of the value argument.",
        ),
    CommandSpec::new("incr", 2, incr)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .categories(&["write", "string", "fast"])
        .doc("string", "Increment the integer value of a key by one", "1.0.0", "O(1)"),
    CommandSpec::new("decr", 2, decr)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .categories(&["write", "string", "fast"])
        .doc("string", "Decrement the integer value of a key by one", "1.0.0", "O(1)"),
    CommandSpec::new("incrby", 3, incrby)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .categories(&["write", "string", "fast"])
        .doc("string", "Increment the integer value of a key by the given amount", "1.0.0", "O(1)"),
    CommandSpec::new("decrby", 3, decrby)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .categories(&["write", "string", "fast"])
        .doc("string", "Decrement the integer value of a key by the given number", "1.0.0", "O(1)"),
    CommandSpec::new("incrbyfloat", 3, incrbyfloat)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .categories(&["write", "string", "fast"])
        .doc("string", "Increment the float value of a key by the given amount", "2.6.0", "O(1)"),
    CommandSpec::new("lcs", -3, lcs)
        .flags(READONLY)
        .keys(1, 2, 1)
        .categories(&["read", "string", "slow"])
        .doc(
            "string",
            "Find longest common substring",
            "7.0.0",
            "O(N*M) where N and M are the lengths of s1 and s2, respectively",
        ),
];

/// A string key's value and expiry, `None` when the key does not exist, WRONGTYPE when it
/// holds another type.
fn read_string(ctx: &mut Ctx<'_>, key: &[u8]) -> Result<Option<(Bytes, Option<i64>)>, Reply> {
    read_string_as(ctx, key, false)
}

/// [`read_string`] for a command that writes the key next (INCR, APPEND, SETRANGE, ...):
/// not counted as a keyspace hit or miss, as Redis's lookupKeyWrite.
fn read_string_for_write(
    ctx: &mut Ctx<'_>,
    key: &[u8],
) -> Result<Option<(Bytes, Option<i64>)>, Reply> {
    read_string_as(ctx, key, true)
}

/// A string key's value and expiry (see [`read_string`]); `for_write` reads as
/// [`read_string_for_write`] does. Shared with the commands that keep other data in strings
/// (bitmaps, HyperLogLogs).
pub(super) fn read_string_as(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    for_write: bool,
) -> Result<Option<(Bytes, Option<i64>)>, Reply> {
    let db = ctx.db();
    let ks = &mut ctx.engine.keyspace;
    let found = if for_write {
        ks.read_for_write(db, key, ctx.now)
    } else {
        ks.read(db, key, ctx.now)
    };
    match found {
        Ok(Some(mut k)) => match k.string_bytes() {
            Ok(Some(s)) => Ok(Some((s, k.entry.expire_at))),
            Ok(None) => Err(err_wrongtype()),
            Err(e) => Err(err_store(&e)),
        },
        Ok(None) => Ok(None),
        Err(e) => Err(err_store(&e)),
    }
}

/// What [`lookup`] found: the value when it is a string (and was asked for), and the expiry.
type Found = (Option<Bytes>, Option<i64>);

/// A live key of any type: its value if it is a string and `value` asks for it (a long
/// string is assembled from its chunks only then), and its expiry. SET and its kin overwrite
/// keys of every type, so only some of their options care about the type.
fn lookup(ctx: &mut Ctx<'_>, key: &[u8], value: bool) -> Result<Option<Found>, Reply> {
    let db = ctx.db();
    match ctx.engine.keyspace.read(db, key, ctx.now) {
        Ok(Some(mut k)) => {
            let bytes = if value {
                k.string_bytes().map_err(|e| err_store(&e))?
            } else {
                None
            };
            Ok(Some((bytes, k.entry.expire_at)))
        }
        Ok(None) => Ok(None),
        Err(e) => Err(err_store(&e)),
    }
}

/// Whether a live key of any type exists.
fn key_exists(ctx: &mut Ctx<'_>, key: &[u8]) -> Result<bool, Reply> {
    let db = ctx.db();
    ctx.engine
        .keyspace
        .exists(db, key, ctx.now)
        .map_err(|e| err_store(&e))
}

/// Stores a string value, replacing whatever the key held (shared with the commands that
/// keep other data in strings: bitmaps, HyperLogLogs).
pub(super) fn write_string(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    value: Bytes,
    expire_at: Option<i64>,
) -> Result<(), Reply> {
    let db = ctx.db();
    ctx.engine
        .keyspace
        .set(db, key, Value::String(value), expire_at, ctx.now)
        .map_err(|e| err_store(&e))
}

/// [`write_string`] for a string changed in place (APPEND, SETRANGE, the bit commands): its
/// OBJECT ENCODING is `raw`, as Redis's unshared strings are.
pub(super) fn write_changed_string(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    value: Bytes,
    expire_at: Option<i64>,
) -> Result<(), Reply> {
    let db = ctx.db();
    ctx.engine
        .keyspace
        .set_changed_string(db, key, value, expire_at, ctx.now)
        .map_err(|e| err_store(&e))
}

/// Runs `f` on a string key with its length, for reads of a range that must not load a long
/// string whole (GETRANGE, GETBIT, BITCOUNT, ...): `None` when the key does not exist,
/// WRONGTYPE when it holds another type. Counted as a keyspace hit or miss.
pub(super) fn with_string<T>(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    f: impl FnOnce(&mut KeyRef<'_>, u64) -> Result<T, StoreError>,
) -> Result<Option<T>, Reply> {
    let db = ctx.db();
    match ctx.engine.keyspace.read(db, key, ctx.now) {
        Ok(Some(mut k)) => {
            let len = k.string_len().ok_or_else(err_wrongtype)?;
            f(&mut k, len).map(Some).map_err(|e| err_store(&e))
        }
        Ok(None) => Ok(None),
        Err(e) => Err(err_store(&e)),
    }
}

/// Runs `f` with write access to a string key and its length (`None` when the key does not
/// exist), for the commands that change a string in place (APPEND, SETRANGE, SETBIT,
/// BITFIELD); WRONGTYPE when the key holds another type.
pub(super) fn with_string_mut<T>(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    f: impl FnOnce(&mut KeyMut<'_>, Option<u64>) -> Result<T, Reply>,
) -> Result<T, Reply> {
    let db = ctx.db();
    let mut k = ctx
        .engine
        .keyspace
        .write(db, key, ctx.now)
        .map_err(|e| err_store(&e))?;
    let len = k.string_len().map_err(|_| err_wrongtype())?;
    f(&mut k, len)
}

/// Deletes a key; returns whether it existed.
fn delete_key(ctx: &mut Ctx<'_>, key: &[u8]) -> Result<bool, Reply> {
    let db = ctx.db();
    ctx.engine
        .keyspace
        .delete(db, key, ctx.now)
        .map_err(|e| err_store(&e))
}

/// Redis's `checkStringLength`: a string may not grow past proto-max-bulk-len (`max`).
fn check_string_length(max: u64, size: u64, append: u64) -> Result<(), Reply> {
    match size.checked_add(append) {
        Some(total) if total <= max => Ok(()),
        _ => Err(Reply::error(
            "ERR string exceeds maximum allowed size (proto-max-bulk-len)",
        )),
    }
}

// ---------------------------------------------------------------------------------------
// GET, SET and the options SET and GETEX share.

fn get(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    match tri!(read_string(ctx, &argv[1])) {
        Some((value, _)) => Reply::Bulk(value),
        None => Reply::Null,
    }
}

/// How an expiry argument is to be read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ExpireUnit {
    /// EX: seconds from now.
    Ex,
    /// PX: milliseconds from now.
    Px,
    /// EXAT: Unix seconds.
    ExAt,
    /// PXAT: Unix milliseconds.
    PxAt,
}

impl ExpireUnit {
    fn from_keyword(arg: &[u8]) -> Option<ExpireUnit> {
        [
            ("ex", ExpireUnit::Ex),
            ("px", ExpireUnit::Px),
            ("exat", ExpireUnit::ExAt),
            ("pxat", ExpireUnit::PxAt),
        ]
        .into_iter()
        .find(|(name, _)| eq_ci(arg, name))
        .map(|(_, unit)| unit)
    }

    fn is_relative(self) -> bool {
        matches!(self, ExpireUnit::Ex | ExpireUnit::Px)
    }

    fn is_seconds(self) -> bool {
        matches!(self, ExpireUnit::Ex | ExpireUnit::ExAt)
    }
}

/// Which command's options are being parsed (they accept different words).
#[derive(Clone, Copy, PartialEq, Eq)]
enum OptionsOf {
    Set,
    Getex,
}

/// Options of SET and GETEX, as Redis's parseExtendedStringArgumentsOrReply reads them.
#[derive(Default)]
struct StringOptions<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    expire: Option<(ExpireUnit, &'a [u8])>,
}

/// Parses the options from `argv[start..]`. As in Redis, a word may repeat (`EX 1 EX 2`
/// keeps the last) but conflicting words are a syntax error; expiry values are only
/// checked later, after every word has been read.
fn parse_string_options(
    argv: &[Bytes],
    start: usize,
    of: OptionsOf,
) -> Result<StringOptions<'_>, Reply> {
    let set = of == OptionsOf::Set;
    let mut o = StringOptions::default();
    let mut i = start;
    while i < argv.len() {
        let arg = &argv[i][..];
        let next = argv.get(i + 1);
        let unit = ExpireUnit::from_keyword(arg);
        if set && eq_ci(arg, "nx") && !o.xx {
            o.nx = true;
        } else if set && eq_ci(arg, "xx") && !o.nx {
            o.xx = true;
        } else if set && eq_ci(arg, "get") {
            o.get = true;
        } else if set && eq_ci(arg, "keepttl") && o.expire.is_none() {
            o.keepttl = true;
        } else if !set && eq_ci(arg, "persist") && o.expire.is_none() {
            o.persist = true;
        } else if let (Some(unit), Some(value)) = (unit, next) {
            let conflict =
                o.keepttl || o.persist || o.expire.is_some_and(|(other, _)| other != unit);
            if conflict {
                return Err(err_syntax());
            }
            o.expire = Some((unit, &value[..]));
            i += 1;
        } else {
            return Err(err_syntax());
        }
        i += 1;
    }
    Ok(o)
}

fn invalid_expire(command: &str) -> Reply {
    Reply::Error(format!("ERR invalid expire time in '{command}' command").into())
}

/// Resolves an expiry argument to absolute Unix milliseconds, with Redis's errors
/// (getExpireMillisecondsOrReply).
fn resolve_expiry(arg: &[u8], unit: ExpireUnit, now: i64, command: &str) -> Result<i64, Reply> {
    let n = parse_i64(arg).ok_or_else(err_not_integer)?;
    if n <= 0 {
        return Err(invalid_expire(command));
    }
    let ms = if unit.is_seconds() {
        n.checked_mul(1000).ok_or_else(|| invalid_expire(command))?
    } else {
        n
    };
    if unit.is_relative() {
        ms.checked_add(now).ok_or_else(|| invalid_expire(command))
    } else {
        Ok(ms)
    }
}

fn set(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let opts = tri!(parse_string_options(argv, 3, OptionsOf::Set));
    let expire_at = match opts.expire {
        Some((unit, arg)) => Some(tri!(resolve_expiry(arg, unit, ctx.now, "set"))),
        None => None,
    };
    let key = &argv[1];
    // A plain SET replaces whatever is there, so it need not read the old value.
    let (found, old, old_expiry) = if opts.get || opts.keepttl || opts.nx || opts.xx {
        match tri!(lookup(ctx, key, opts.get)) {
            Some((value, expiry)) => (true, value, expiry),
            None => (false, None, None),
        }
    } else {
        (false, None, None)
    };
    if opts.get && found && old.is_none() {
        return err_wrongtype();
    }
    let old_reply = || old.clone().map_or(Reply::Null, Reply::Bulk);
    if (opts.nx && found) || (opts.xx && !found) {
        return if opts.get { old_reply() } else { Reply::Null };
    }
    let expire_at = if opts.keepttl { old_expiry } else { expire_at };
    if expire_at.is_some_and(|at| at <= ctx.now) {
        // An absolute time in the past: the key would be born expired.
        tri!(delete_key(ctx, key));
    } else {
        tri!(write_string(ctx, key, owned(&argv[2]), expire_at));
    }
    ctx.notify(class::STRING, "set", key);
    if opts.expire.is_some() {
        ctx.notify(class::GENERIC, "expire", key);
    }
    if opts.get {
        old_reply()
    } else {
        Reply::ok()
    }
}

fn setnx(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let key = &argv[1];
    if tri!(key_exists(ctx, key)) {
        return Reply::Integer(0);
    }
    tri!(write_string(ctx, key, owned(&argv[2]), None));
    ctx.notify(class::STRING, "set", key);
    Reply::Integer(1)
}

fn setex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    set_with_ttl(ctx, argv, ExpireUnit::Ex, "setex")
}

fn psetex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    set_with_ttl(ctx, argv, ExpireUnit::Px, "psetex")
}

/// SETEX and PSETEX: `key ttl value`, the TTL replacing any the key had.
fn set_with_ttl(ctx: &mut Ctx<'_>, argv: &[Bytes], unit: ExpireUnit, command: &str) -> Reply {
    let key = &argv[1];
    let expire_at = tri!(resolve_expiry(&argv[2], unit, ctx.now, command));
    tri!(write_string(ctx, key, owned(&argv[3]), Some(expire_at)));
    ctx.notify(class::STRING, "set", key);
    ctx.notify(class::GENERIC, "expire", key);
    Reply::ok()
}

fn getex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let opts = tri!(parse_string_options(argv, 2, OptionsOf::Getex));
    let key = &argv[1];
    // As in Redis, a missing key answers nil before the expiry value is looked at.
    let Some((value, old_expiry)) = tri!(read_string(ctx, key)) else {
        return Reply::Null;
    };
    let expire_at = match opts.expire {
        Some((unit, arg)) => Some(tri!(resolve_expiry(arg, unit, ctx.now, "getex"))),
        None => None,
    };
    match expire_at {
        Some(at) if at <= ctx.now => {
            // EXAT/PXAT in the past: Redis deletes the key rather than let it linger.
            tri!(delete_key(ctx, key));
            ctx.notify(class::GENERIC, "del", key);
        }
        Some(at) => {
            tri!(write_string(ctx, key, value.clone(), Some(at)));
            ctx.notify(class::GENERIC, "expire", key);
        }
        None if opts.persist && old_expiry.is_some() => {
            tri!(write_string(ctx, key, value.clone(), None));
            ctx.notify(class::GENERIC, "persist", key);
        }
        None => {}
    }
    Reply::Bulk(value)
}

fn getdel(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let key = &argv[1];
    let Some((value, _)) = tri!(read_string(ctx, key)) else {
        return Reply::Null;
    };
    tri!(delete_key(ctx, key));
    ctx.notify(class::GENERIC, "del", key);
    Reply::Bulk(value)
}

fn getset(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let key = &argv[1];
    let old = tri!(read_string(ctx, key));
    tri!(write_string(ctx, key, owned(&argv[2]), None));
    ctx.notify(class::STRING, "set", key);
    old.map_or(Reply::Null, |(value, _)| Reply::Bulk(value))
}

// ---------------------------------------------------------------------------------------
// Several keys at once.

fn mget(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let db = ctx.db();
    let mut out = Vec::with_capacity(argv.len() - 1);
    for key in &argv[1..] {
        // A key of another type reads as nil, not as an error.
        let reply = match ctx.engine.keyspace.read(db, key, ctx.now) {
            Ok(Some(mut k)) => match k.string_bytes() {
                Ok(value) => value.map_or(Reply::Null, Reply::Bulk),
                Err(e) => return err_store(&e),
            },
            Ok(None) => Reply::Null,
            Err(e) => return err_store(&e),
        };
        out.push(reply);
    }
    Reply::Array(out)
}

fn mset(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    if argv.len() % 2 == 0 {
        return err_arity("mset");
    }
    tri!(set_pairs(ctx, argv));
    Reply::ok()
}

fn msetnx(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    if argv.len() % 2 == 0 {
        return err_arity("msetnx");
    }
    for key in argv[1..].iter().step_by(2) {
        if tri!(key_exists(ctx, key)) {
            return Reply::Integer(0);
        }
    }
    tri!(set_pairs(ctx, argv));
    Reply::Integer(1)
}

/// Stores every `key value` pair of `argv[1..]` in order (a repeated key keeps the last).
fn set_pairs(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<(), Reply> {
    for pair in argv[1..].chunks_exact(2) {
        write_string(ctx, &pair[0], owned(&pair[1]), None)?;
        ctx.notify(class::STRING, "set", &pair[0]);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Lengths and ranges.

fn append(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let key = &argv[1];
    let suffix = &argv[2];
    let max = ctx.engine.config.server.proto_max_bulk_len.0;
    // Only the chunks at the end of a long string are read and written.
    let total = tri!(with_string_mut(ctx, key, |k, len| match len {
        None => Ok(None),
        Some(len) => {
            check_string_length(max, len, suffix.len() as u64)?;
            k.string_write(len, suffix).map_err(|e| err_store(&e))?;
            Ok(Some(len + suffix.len() as u64))
        }
    }));
    let total = match total {
        Some(total) => total,
        None => {
            // A new key is stored as SET stores it (its encoding is not `raw`).
            tri!(write_string(ctx, key, owned(suffix), None));
            suffix.len() as u64
        }
    };
    ctx.notify(class::STRING, "append", key);
    Reply::Integer(total as i64)
}

fn strlen(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    // O(1): a long string's row holds its length.
    let len = tri!(with_string(ctx, &argv[1], |_, len| Ok(len)));
    Reply::Integer(len.unwrap_or(0) as i64)
}

/// GETRANGE and SUBSTR.
fn getrange(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let Some(start) = parse_i64(&argv[2]) else {
        return err_not_integer();
    };
    let Some(end) = parse_i64(&argv[3]) else {
        return err_not_integer();
    };
    let value = tri!(with_string(ctx, &argv[1], |k, len| {
        match byte_range(len as usize, start, end) {
            Some((from, to)) => k.string_range(from as u64, to as u64 + 1),
            None => Ok(Vec::new()),
        }
    }));
    Reply::Bulk(Bytes::from(value.unwrap_or_default()))
}

/// The inclusive byte range GETRANGE returns for `start..=end` of a `len`-byte string
/// (negative indexes count from the end), or `None` when it is empty.
fn byte_range(len: usize, start: i64, end: i64) -> Option<(usize, usize)> {
    if start < 0 && end < 0 && start > end {
        return None;
    }
    let len = len as i64; // at most proto-max-bulk-len, so the sums below cannot overflow
    let start = if start < 0 { len + start } else { start }.max(0);
    let end = if end < 0 { len + end } else { end }.max(0).min(len - 1);
    if len == 0 || start > end {
        return None;
    }
    Some((start as usize, end as usize))
}

fn setrange(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let key = &argv[1];
    let patch = &argv[3];
    let Some(offset) = parse_i64(&argv[2]) else {
        return err_not_integer();
    };
    if offset < 0 {
        return Reply::error("ERR offset is out of range");
    }
    let offset = offset as u64;
    let max = ctx.engine.config.server.proto_max_bulk_len.0;
    let total = tri!(with_string_mut(ctx, key, |k, len| {
        if patch.is_empty() {
            // Nothing to write: the length as it is, and no key created.
            return Ok(len.unwrap_or(0));
        }
        check_string_length(max, offset, patch.len() as u64)?;
        k.string_write(offset, patch).map_err(|e| err_store(&e))?;
        Ok(len.unwrap_or(0).max(offset + patch.len() as u64))
    }));
    if !patch.is_empty() {
        ctx.notify(class::STRING, "setrange", key);
    }
    Reply::Integer(total as i64)
}

// ---------------------------------------------------------------------------------------
// Counters.

fn incr(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    incr_decr(ctx, &argv[1], 1)
}

fn decr(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    incr_decr(ctx, &argv[1], -1)
}

fn incrby(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let Some(by) = parse_i64(&argv[2]) else {
        return err_not_integer();
    };
    incr_decr(ctx, &argv[1], by)
}

fn decrby(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let Some(by) = parse_i64(&argv[2]) else {
        return err_not_integer();
    };
    // i64::MIN has no positive counterpart.
    let Some(by) = by.checked_neg() else {
        return Reply::error("ERR decrement would overflow");
    };
    incr_decr(ctx, &argv[1], by)
}

/// Adds `by` to the integer in `key` (0 when missing), keeping the key's TTL. One lookup of
/// the key serves the read and the write.
fn incr_decr(ctx: &mut Ctx<'_>, key: &[u8], by: i64) -> Reply {
    let db = ctx.db();
    let mut k = match ctx.engine.keyspace.write(db, key, ctx.now) {
        Ok(k) => k,
        Err(e) => return err_store(&e),
    };
    let (current, expire_at) = match k.entry() {
        None => (0, None),
        Some(e) => match &e.value {
            Value::String(b) => match parse_i64(b) {
                Some(n) => (n, e.expire_at),
                None => return err_not_integer(),
            },
            // Longer than any integer.
            Value::Chunked(_) => return err_not_integer(),
            _ => return err_wrongtype(),
        },
    };
    let Some(result) = current.checked_add(by) else {
        return Reply::error("ERR increment or decrement would overflow");
    };
    let text = crate::keyspace::integer_text(result);
    if let Err(e) = k.set(Value::String(text), expire_at) {
        return err_store(&e);
    }
    drop(k);
    ctx.notify(class::STRING, "incrby", key);
    Reply::Integer(result)
}

fn incrbyfloat(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let key = &argv[1];
    let invalid = || Reply::error("ERR value is not a valid float");
    // Redis's order: the type, then the stored value, then the increment.
    let (current, expire_at) = match tri!(read_string_for_write(ctx, key)) {
        Some((value, expire_at)) => match LongDouble::parse(&value) {
            Some(n) => (n, expire_at),
            None => return invalid(),
        },
        None => (LongDouble::ZERO, None),
    };
    let Some(by) = LongDouble::parse(&argv[2]) else {
        return invalid();
    };
    let Some(result) = current.checked_add(by) else {
        return Reply::error("ERR increment would produce NaN or Infinity");
    };
    let text = Bytes::from(result.to_human());
    tri!(write_string(ctx, key, text.clone(), expire_at));
    ctx.notify(class::STRING, "incrbyfloat", key);
    Reply::Bulk(text)
}

// ---------------------------------------------------------------------------------------
// LCS.

fn lcs(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let not_strings = || Reply::error("ERR The specified keys must contain string values");
    let mut values = [Bytes::new(), Bytes::new()];
    for (slot, key) in values.iter_mut().zip(&argv[1..3]) {
        match read_string(ctx, key) {
            Ok(Some((value, _))) => *slot = value,
            Ok(None) => {}
            Err(Reply::Error(e)) if e.starts_with("WRONGTYPE") => return not_strings(),
            Err(reply) => return reply,
        }
    }
    let [a, b] = values;

    let (mut get_idx, mut get_len, mut with_match_len) = (false, false, false);
    let mut min_match_len: i64 = 0;
    let mut i = 3;
    while i < argv.len() {
        let opt = &argv[i];
        if eq_ci(opt, "idx") {
            get_idx = true;
        } else if eq_ci(opt, "len") {
            get_len = true;
        } else if eq_ci(opt, "withmatchlen") {
            with_match_len = true;
        } else if eq_ci(opt, "minmatchlen") && i + 1 < argv.len() {
            min_match_len = tri!(parse_i64(&argv[i + 1]).ok_or_else(err_not_integer)).max(0);
            i += 1;
        } else {
            return err_syntax();
        }
        i += 1;
    }
    if get_idx && get_len {
        return Reply::error("ERR If you want both the length and indexes, please just use IDX.");
    }
    if a.len() >= u32::MAX as usize - 1 || b.len() >= u32::MAX as usize - 1 {
        return Reply::error("ERR String too long for LCS");
    }
    let table = tri!(lcs_table(ctx, &a, &b));
    let (alen, blen) = (a.len(), b.len());
    let width = blen + 1;
    let at = |i: usize, j: usize| table[j + i * width];
    let total = at(alen, blen);

    if get_len {
        return Reply::Integer(i64::from(total));
    }
    // Walk back from the end of both strings, collecting the LCS and, for IDX, the
    // matching ranges (last ones first, as Redis emits them).
    let mut common = vec![0u8; total as usize];
    let mut fill = total as usize;
    let mut matches = Vec::new();
    // The range being extended: (a_start, a_end, b_start, b_end).
    let mut range: Option<(usize, usize, usize, usize)> = None;
    let (mut i, mut j) = (alen, blen);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            fill -= 1;
            common[fill] = a[i - 1];
            range = Some(match range {
                None => (i - 1, i - 1, j - 1, j - 1),
                // Contiguous with the range so far: extend it backwards. A match always
                // follows the previous one diagonally here, since any other step emits.
                Some((_, a_end, _, b_end)) => (i - 1, a_end, j - 1, b_end),
            });
            if i == 1 || j == 1 {
                emit = true; // matched a first byte: the walk ends here
            }
            i -= 1;
            j -= 1;
        } else {
            if at(i - 1, j) > at(i, j - 1) {
                i -= 1;
            } else {
                j -= 1;
            }
            emit = range.is_some();
        }
        if emit {
            if let Some((a_start, a_end, b_start, b_end)) = range.take() {
                let len = a_end - a_start + 1;
                if get_idx && (min_match_len == 0 || len as i64 >= min_match_len) {
                    let pair = |s: usize, e: usize| Reply::Array(vec![int(s), int(e)]);
                    let mut item = vec![pair(a_start, a_end), pair(b_start, b_end)];
                    if with_match_len {
                        item.push(int(len));
                    }
                    matches.push(Reply::Array(item));
                }
            }
        }
    }
    if get_idx {
        Reply::Map(vec![
            (Reply::bulk("matches"), Reply::Array(matches)),
            (Reply::bulk("len"), Reply::Integer(i64::from(total))),
        ])
    } else {
        Reply::Bulk(Bytes::from(common))
    }
}

fn int(n: usize) -> Reply {
    Reply::Integer(n as i64)
}

/// The dynamic-programming table of LCS lengths: entry `j + i * (b.len() + 1)` is the LCS
/// length of `a[..i]` and `b[..j]`. Bounded, as in Redis, by proto-max-bulk-len bytes.
fn lcs_table(ctx: &Ctx<'_>, a: &[u8], b: &[u8]) -> Result<Vec<u32>, Reply> {
    let width = b.len() + 1;
    let cells = (a.len() as u64 + 1) * width as u64;
    let bytes = cells.checked_mul(4);
    if bytes.is_none_or(|n| n > ctx.engine.config.server.proto_max_bulk_len.0) {
        return Err(Reply::error(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    }
    let mut table: Vec<u32> = Vec::new();
    if table.try_reserve_exact(cells as usize).is_err() {
        return Err(Reply::error(
            "ERR Insufficient memory, failed allocating transient memory for LCS",
        ));
    }
    table.resize(cells as usize, 0);
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cell = if a[i - 1] == b[j - 1] {
                table[(j - 1) + (i - 1) * width] + 1
            } else {
                table[j + (i - 1) * width].max(table[(j - 1) + i * width])
            };
            table[j + i * width] = cell;
        }
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Rig;

    /// The rig, plus the events of a command as `class:event:key`.
    struct Harness(Rig);

    impl Harness {
        fn new() -> Self {
            Harness(Rig::new())
        }

        fn run(&mut self, words: &[&str]) -> Reply {
            self.0.exec(words)
        }

        /// Runs a command and returns the events it emitted as `class:event:key`.
        fn events_of(&mut self, words: &[&str]) -> Vec<String> {
            let reply = self.run(words);
            assert!(!reply.is_error(), "{words:?}: {reply:?}");
            let name = |c: u16| match c {
                class::GENERIC => "g",
                class::STRING => "$",
                _ => "?",
            };
            self.0
                .take_events()
                .into_iter()
                .map(|e| {
                    let key = String::from_utf8_lossy(&e.key);
                    format!("{}:{}:{key}", name(e.class), e.event)
                })
                .collect()
        }
    }

    #[test]
    fn writes_emit_redis_event_names() {
        let mut h = Harness::new();
        let cases: &[(&[&str], &[&str])] = &[
            (&["set", "k", "1"], &["$:set:k"]),
            (&["set", "k", "1", "EX", "100"], &["$:set:k", "g:expire:k"]),
            (&["setnx", "n", "1"], &["$:set:n"]),
            (&["setnx", "n", "1"], &[]),
            (&["setex", "k", "100", "v"], &["$:set:k", "g:expire:k"]),
            (&["psetex", "k", "100000", "v"], &["$:set:k", "g:expire:k"]),
            (&["getex", "k"], &[]),
            (&["getex", "k", "EX", "100"], &["g:expire:k"]),
            (&["getex", "k", "PERSIST"], &["g:persist:k"]),
            (&["getex", "k", "PERSIST"], &[]),
            (&["getex", "k", "PXAT", "1"], &["g:del:k"]),
            (&["getset", "k", "v"], &["$:set:k"]),
            (&["getdel", "k"], &["g:del:k"]),
            (&["getdel", "k"], &[]),
            (&["mset", "a", "1", "b", "2"], &["$:set:a", "$:set:b"]),
            (&["msetnx", "a", "1", "c", "2"], &[]),
            (&["msetnx", "c", "1", "d", "2"], &["$:set:c", "$:set:d"]),
            (&["append", "a", "x"], &["$:append:a"]),
            (&["setrange", "a", "5", "x"], &["$:setrange:a"]),
            (&["setrange", "a", "5", ""], &[]),
            (&["incr", "i"], &["$:incrby:i"]),
            (&["decr", "i"], &["$:incrby:i"]),
            (&["incrby", "i", "5"], &["$:incrby:i"]),
            (&["decrby", "i", "5"], &["$:incrby:i"]),
            (&["incrbyfloat", "i", "1.5"], &["$:incrbyfloat:i"]),
            (&["get", "i"], &[]),
            (&["mget", "i", "a"], &[]),
            (&["strlen", "i"], &[]),
            (&["getrange", "i", "0", "-1"], &[]),
            (&["lcs", "a", "b"], &[]),
        ];
        for (words, expected) in cases {
            assert_eq!(h.events_of(words), *expected, "{words:?}");
        }
    }

    #[test]
    fn failed_writes_emit_nothing() {
        let mut h = Harness::new();
        h.events_of(&["set", "s", "abc"]);
        for words in [
            &["incr", "s"][..],
            &["incrbyfloat", "s", "1"],
            &["setex", "s", "0", "v"],
            &["setrange", "s", "-1", "v"],
            &["getex", "s", "EX", "0"],
        ] {
            assert!(h.run(words).is_error(), "{words:?}");
            assert!(h.0.take_events().is_empty(), "{words:?}");
        }
    }

    #[test]
    fn byte_ranges_follow_getrange() {
        assert_eq!(byte_range(11, 0, 4), Some((0, 4)));
        assert_eq!(byte_range(11, -5, -1), Some((6, 10)));
        assert_eq!(byte_range(11, -1, -5), None);
        assert_eq!(byte_range(11, -100, 100), Some((0, 10)));
        assert_eq!(byte_range(11, 100, 200), None);
        assert_eq!(byte_range(0, 0, -1), None);
        assert_eq!(byte_range(11, i64::MIN, i64::MAX), Some((0, 10)));
    }
}
