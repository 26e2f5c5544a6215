//! Hash commands (Redis's t_hash.c): HSET and friends, HINCRBY(FLOAT), HRANDFIELD, HSCAN, and
//! the per-field expiry of Redis 7.4 (HEXPIRE, HTTL, HPERSIST and their variants).

use bytes::Bytes;

use super::keys::scan_collection;
use super::long_double::LongDouble;
use super::sample::{self, Sampled};
use super::table::{flags::*, CommandSpec};
use super::{eq_ci, err_arity, err_not_integer, err_store, err_syntax, err_wrongtype, parse_i64};
use super::{owned, read_typed, store_err, write_key};
use crate::engine::Ctx;
use crate::events::class;
use crate::keyspace::{rand_u64, Field, Hash, KeyRef};
use crate::protocol::{Protocol, Reply};
use crate::storage::{Store, StoreError};

const SINCE_2: &str = "2.0.0";
const SINCE_7_4: &str = "7.4.0";
const O_FIELDS: &str = "O(N) where N is the number of specified fields";
const O_SIZE: &str = "O(N) where N is the size of the hash.";

/// Hash commands.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("hset", -4, hset)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .elements(2, -2, 2)
        .categories(&["write", "hash", "fast"])
        .doc(
            "hash",
            "Creates or modifies the value of a field in a hash.",
            SINCE_2,
            "O(1) for each field/value pair added, so O(N) to add N field/value pairs when the command is called with multiple field/value pairs.",
        ),
    CommandSpec::new("hsetnx", 4, hsetnx)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .elements(2, 2, 1)
        .categories(&["write", "hash", "fast"])
        .doc(
            "hash",
            "Sets the value of a field in a hash only when the field doesn't exist.",
            SINCE_2,
            "O(1)",
        ),
    CommandSpec::new("hmset", -4, hmset)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .elements(2, -2, 2)
        .categories(&["write", "hash", "fast"])
        .doc(
            "hash",
            "Sets the values of multiple fields.",
            SINCE_2,
            "O(N) where N is the number of fields being set.",
        ),
    CommandSpec::new("hget", 3, hget)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .elements(2, 2, 1)
        .categories(&["read", "hash", "fast"])
        .doc("hash", "Returns the value of a field in a hash.", SINCE_2, "O(1)"),
    CommandSpec::new("hmget", -3, hmget)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .elements(2, -1, 1)
        .categories(&["read", "hash", "fast"])
        .doc(
            "hash",
            "Returns the values of all fields in a hash.",
            SINCE_2,
            "O(N) where N is the number of fields being requested.",
        ),
    CommandSpec::new("hgetall", 2, hgetall)
        .flags(READONLY)
        .keys(1, 1, 1)
        .categories(&["read", "hash", "slow"])
        .doc("hash", "Returns all fields and values in a hash.", SINCE_2, O_SIZE),
    CommandSpec::new("hdel", -3, hdel)
        .flags(WRITE | FAST)
        .keys(1, 1, 1)
        .elements(2, -1, 1)
        .categories(&["write", "hash", "fast"])
        .doc(
            "hash",
            "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.",
            SINCE_2,
            "O(N) where N is the number of fields to be removed.",
        ),
    CommandSpec::new("hexists", 3, hexists)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .elements(2, 2, 1)
        .categories(&["read", "hash", "fast"])
        .doc("hash", "Determines whether a field exists in a hash.", SINCE_2, "O(1)"),
    CommandSpec::new("hlen", 2, hlen)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .categories(&["read", "hash", "fast"])
        .doc("hash", "Returns the number of fields in a hash.", SINCE_2, "O(1)"),
    CommandSpec::new("hkeys", 2, hkeys)
        .flags(READONLY)
        .keys(1, 1, 1)
        .categories(&["read", "hash", "slow"])
        .doc("hash", "Returns all fields in a hash.", SINCE_2, O_SIZE),
    CommandSpec::new("hvals", 2, hvals)
        .flags(READONLY)
        .keys(1, 1, 1)
        .categories(&["read", "hash", "slow"])
        .doc("hash", "Returns all values in a hash.", SINCE_2, O_SIZE),
    CommandSpec::new("hstrlen", 3, hstrlen)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .elements(2, 2, 1)
        .categories(&["read", "hash", "fast"])
        .doc("hash", "Returns the length of the value of a field.", "3.2.0", "O(1)"),
    CommandSpec::new("hincrby", 4, hincrby)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .elements(2, 2, 1)
        .categories(&["write", "hash", "fast"])
        .doc(
            "hash",
            "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.",
            SINCE_2,
            "O(1)",
        ),
    CommandSpec::new("hincrbyfloat", 4, hincrbyfloat)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .elements(2, 2, 1)
        .categories(&["write", "hash", "fast"])
        .doc(
            "hash",
            "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.",
            "2.6.0",
            "O(1)",
        ),
    CommandSpec::new("hrandfield", -2, hrandfield)
        .flags(READONLY)
        .keys(1, 1, 1)
        .categories(&["read", "hash", "slow"])
        .doc(
            "hash",
            "Returns one or more random fields from a hash.",
            "6.2.0",
            "O(N) where N is the number of fields returned",
        ),
    CommandSpec::new("hscan", -3, hscan)
        .flags(READONLY)
        .keys(1, 1, 1)
        .categories(&["read", "hash", "slow"])
        .doc(
            "hash",
            "Iterates over fields and values of a hash.",
            "2.8.0",
            "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.",
        ),
    CommandSpec::new("hexpire", -6, hexpire)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .categories(&["write", "hash", "fast"])
        .doc(
            "hash",
            "Set expiry for hash field using relative time to expire (seconds)",
            SINCE_7_4,
            O_FIELDS,
        ),
    CommandSpec::new("hpexpire", -6, hpexpire)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .categories(&["write", "hash", "fast"])
        .doc(
            "hash",
            "Set expiry for hash field using relative time to expire (milliseconds)",
            SINCE_7_4,
            O_FIELDS,
        ),
    CommandSpec::new("hexpireat", -6, hexpireat)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .categories(&["write", "hash", "fast"])
        .doc(
            "hash",
            "Set expiry for hash field using an absolute Unix timestamp (seconds)",
            SINCE_7_4,
            O_FIELDS,
        ),
    CommandSpec::new("hpexpireat", -6, hpexpireat)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .categories(&["write", "hash", "fast"])
        .doc(
            "hash",
            "Set expiry for hash field using an absolute Unix timestamp (milliseconds)",
            SINCE_7_4,
            O_FIELDS,
        ),
    CommandSpec::new("httl", -5, httl)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .categories(&["read", "hash", "fast"])
        .doc("hash", "Returns the TTL in seconds of a hash field.", SINCE_7_4, O_FIELDS),
    CommandSpec::new("hpttl", -5, hpttl)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .categories(&["read", "hash", "fast"])
        .doc("hash", "Returns the TTL in milliseconds of a hash field.", SINCE_7_4, O_FIELDS),
    CommandSpec::new("hexpiretime", -5, hexpiretime)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .categories(&["read", "hash", "fast"])
        .doc(
            "hash",
            "Returns the expiration time of a hash field as a Unix timestamp, in seconds.",
            SINCE_7_4,
            O_FIELDS,
        ),
    CommandSpec::new("hpexpiretime", -5, hpexpiretime)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .categories(&["read", "hash", "fast"])
        .doc(
            "hash",
            "Returns the expiration time of a hash field as a Unix timestamp, in msec.",
            SINCE_7_4,
            O_FIELDS,
        ),
    CommandSpec::new("hpersist", -5, hpersist)
        .flags(WRITE | FAST)
        .keys(1, 1, 1)
        .categories(&["write", "hash", "fast"])
        .doc("hash", "Removes the expiration time for each specified field", SINCE_7_4, O_FIELDS),
];

fn hset(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    hset_generic(ctx, argv, "hset")
}

fn hmset(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    hset_generic(ctx, argv, "hmset")
}

fn hset_generic(ctx: &mut Ctx<'_>, argv: &[Bytes], name: &str) -> Reply {
    if argv.len() % 2 == 1 {
        return err_arity(name);
    }
    let (db, key, now) = (ctx.db(), &argv[1], ctx.now);
    let created = (|| {
        let mut km = write_key(&mut ctx.engine.keyspace, db, key, now)?;
        let (hash, mut backing) = km.hash_or_create().map_err(|_| err_wrongtype())?;
        let mut created = 0;
        for pair in argv[2..].chunks_exact(2) {
            if hash
                .set(&mut backing, owned(&pair[0]), owned(&pair[1]), false)
                .map_err(store_err)?
            {
                created += 1;
            }
        }
        Ok::<_, Reply>(created)
    })();
    match created {
        Ok(created) => {
            ctx.notify(class::HASH, "hset", key);
            if name == "hset" {
                Reply::Integer(created)
            } else {
                Reply::ok()
            }
        }
        Err(reply) => reply,
    }
}

fn hsetnx(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let (db, key, now) = (ctx.db(), &argv[1], ctx.now);
    let set = (|| {
        let mut km = write_key(&mut ctx.engine.keyspace, db, key, now)?;
        let (hash, mut backing) = km.hash_or_create().map_err(|_| err_wrongtype())?;
        if hash
            .get(backing.store, &argv[2])
            .map_err(store_err)?
            .is_some()
        {
            return Ok(false);
        }
        hash.set(&mut backing, owned(&argv[2]), owned(&argv[3]), false)
            .map_err(store_err)?;
        Ok::<_, Reply>(true)
    })();
    match set {
        Ok(true) => {
            ctx.notify(class::HASH, "hset", key);
            Reply::Integer(1)
        }
        Ok(false) => Reply::Integer(0),
        Err(reply) => reply,
    }
}

fn hget(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    read_typed::<Hash>(
        ctx,
        &argv[1],
        || Reply::Null,
        |h, store| {
            Ok(h.get(store, &argv[2])?
                .map_or(Reply::Null, |f| Reply::Bulk(f.value)))
        },
    )
}

fn hmget(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let fields = &argv[2..];
    read_typed::<Hash>(
        ctx,
        &argv[1],
        || Reply::Array(vec![Reply::Null; fields.len()]),
        |h, store| {
            let mut out = Vec::with_capacity(fields.len());
            for f in fields {
                out.push(
                    h.get(store, f)?
                        .map_or(Reply::Null, |f| Reply::Bulk(f.value)),
                );
            }
            Ok(Reply::Array(out))
        },
    )
}

fn hgetall(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    read_typed::<Hash>(
        ctx,
        &argv[1],
        || Reply::Map(Vec::new()),
        |h, store| {
            Ok(Reply::Map(
                h.fields(store)?
                    .into_iter()
                    .map(|f| (Reply::Bulk(f.name), Reply::Bulk(f.value)))
                    .collect(),
            ))
        },
    )
}

fn hkeys(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    read_typed::<Hash>(
        ctx,
        &argv[1],
        || Reply::Array(Vec::new()),
        |h, store| {
            Ok(Reply::Array(
                h.fields(store)?
                    .into_iter()
                    .map(|f| Reply::Bulk(f.name))
                    .collect(),
            ))
        },
    )
}

fn hvals(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    read_typed::<Hash>(
        ctx,
        &argv[1],
        || Reply::Array(Vec::new()),
        |h, store| {
            Ok(Reply::Array(
                h.fields(store)?
                    .into_iter()
                    .map(|f| Reply::Bulk(f.value))
                    .collect(),
            ))
        },
    )
}

fn hlen(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    read_typed::<Hash>(
        ctx,
        &argv[1],
        || Reply::Integer(0),
        |h, _| Ok(Reply::Integer(i64::try_from(h.len()).unwrap_or(i64::MAX))),
    )
}

fn hexists(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    read_typed::<Hash>(
        ctx,
        &argv[1],
        || Reply::Integer(0),
        |h, store| Ok(Reply::Integer(i64::from(h.get(store, &argv[2])?.is_some()))),
    )
}

fn hstrlen(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    read_typed::<Hash>(
        ctx,
        &argv[1],
        || Reply::Integer(0),
        |h, store| {
            Ok(Reply::Integer(
                h.get(store, &argv[2])?.map_or(0, |f| f.value.len() as i64),
            ))
        },
    )
}

fn hdel(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let (db, key, now) = (ctx.db(), &argv[1], ctx.now);
    let done = (|| {
        let mut km = write_key(&mut ctx.engine.keyspace, db, key, now)?;
        let Some((hash, backing)) = km.hash().map_err(|_| err_wrongtype())? else {
            return Ok((0, false));
        };
        let mut deleted = 0;
        for f in &argv[2..] {
            if hash.delete(&mut *backing.store, f).map_err(store_err)? {
                deleted += 1;
                if hash.is_empty() {
                    break;
                }
            }
        }
        // Dropping the KeyMut removes the key once its last field is gone.
        Ok::<_, Reply>((deleted, hash.is_empty()))
    })();
    match done {
        Ok((deleted, emptied)) => {
            if deleted > 0 {
                ctx.notify_removal(class::HASH, "hdel", key, emptied);
            }
            Reply::Integer(deleted)
        }
        Err(reply) => reply,
    }
}

fn hincrby(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let Some(incr) = parse_i64(&argv[3]) else {
        return err_not_integer();
    };
    let (db, key, now) = (ctx.db(), &argv[1], ctx.now);
    let result = (|| {
        let mut km = write_key(&mut ctx.engine.keyspace, db, key, now)?;
        let (hash, mut backing) = km.hash_or_create().map_err(|_| err_wrongtype())?;
        let old = match hash.get(backing.store, &argv[2]).map_err(store_err)? {
            Some(f) => parse_i64(&f.value)
                .ok_or_else(|| Reply::error("ERR hash value is not an integer"))?,
            None => 0,
        };
        let new = old
            .checked_add(incr)
            .ok_or_else(|| Reply::error("ERR increment or decrement would overflow"))?;
        let text = crate::keyspace::integer_text(new);
        hash.set(&mut backing, owned(&argv[2]), text, true)
            .map_err(store_err)?;
        Ok::<_, Reply>(new)
    })();
    match result {
        Ok(new) => {
            ctx.notify(class::HASH, "hincrby", key);
            Reply::Integer(new)
        }
        Err(reply) => reply,
    }
}

fn hincrbyfloat(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    // Redis's order: the increment, then the type, then the stored value; all in x87
    // precision, as INCRBYFLOAT.
    let Some(incr) = LongDouble::parse(&argv[3]) else {
        return Reply::error("ERR value is not a valid float");
    };
    if incr.is_infinite() {
        return Reply::error("ERR value is NaN or Infinity");
    }
    let (db, key, now) = (ctx.db(), &argv[1], ctx.now);
    let result = (|| {
        let mut km = write_key(&mut ctx.engine.keyspace, db, key, now)?;
        let (hash, mut backing) = km.hash_or_create().map_err(|_| err_wrongtype())?;
        let old = match hash.get(backing.store, &argv[2]).map_err(store_err)? {
            Some(f) => LongDouble::parse(&f.value)
                .ok_or_else(|| Reply::error("ERR hash value is not a float"))?,
            None => LongDouble::ZERO,
        };
        let new = old
            .checked_add(incr)
            .ok_or_else(|| Reply::error("ERR increment would produce NaN or Infinity"))?;
        let text = Bytes::from(new.to_human());
        hash.set(&mut backing, owned(&argv[2]), text.clone(), true)
            .map_err(store_err)?;
        Ok::<_, Reply>(text)
    })();
    match result {
        Ok(text) => {
            ctx.notify(class::HASH, "hincrbyfloat", key);
            Reply::Bulk(text)
        }
        Err(reply) => reply,
    }
}

/// Largest |count| of a negative HRANDFIELD count: the reply is built in memory, so a tiny
/// request must not be able to ask for billions of elements (Redis streams them instead).
const RANDFIELD_MAX_REPEATED: u64 = 1 << 24;

fn hrandfield(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    if argv.len() == 2 {
        return read_typed::<Hash>(
            ctx,
            &argv[1],
            || Reply::Null,
            |h, store| {
                Ok(h.random(store, rand_u64())?
                    .map_or(Reply::Null, |f| Reply::Bulk(f.name)))
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
    let with_values = match argv.get(3) {
        None => false,
        Some(a) if argv.len() == 4 && eq_ci(a, "withvalues") => true,
        Some(_) => return err_syntax(),
    };
    let magnitude = count.unsigned_abs();
    if (with_values && magnitude > (i64::MAX / 2) as u64)
        || (count < 0 && magnitude > RANDFIELD_MAX_REPEATED)
    {
        return Reply::error("ERR value is out of range");
    }
    let resp3 = ctx.client.protocol == Protocol::Resp3;
    read_typed::<Hash>(
        ctx,
        &argv[1],
        || Reply::Array(Vec::new()),
        |h, store| {
            let picked = if count == 0 {
                Vec::new()
            } else if count < 0 || count == 1 {
                sample::repeated(h, store, magnitude)?
            } else {
                sample::distinct(h, store, magnitude, |f| f.name.clone())?
            };
            let mut out = Vec::with_capacity(picked.len() * if with_values { 2 } else { 1 });
            for f in picked {
                match (with_values, resp3) {
                    (false, _) => out.push(Reply::Bulk(f.name)),
                    (true, true) => out.push(Reply::Array(vec![
                        Reply::Bulk(f.name),
                        Reply::Bulk(f.value),
                    ])),
                    (true, false) => {
                        out.push(Reply::Bulk(f.name));
                        out.push(Reply::Bulk(f.value));
                    }
                }
            }
            Ok(Reply::Array(out))
        },
    )
}

impl Sampled for Hash {
    type Item = Field;
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
        self.fields(store)
    }
}

fn hscan(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    scan_collection(ctx, argv, true, |h: &Hash, store, cursor, opts| {
        let (fields, next) = h.scan(store, cursor, opts.count)?;
        let pairs = fields
            .into_iter()
            .map(|f| (f.name, (!opts.novalues).then_some(f.value)))
            .collect();
        Ok((pairs, next))
    })
}

// ---------------------------------------------------------------------------------------
// Field expiry (Redis 7.4).

/// Latest field expiry Redis accepts, in Unix milliseconds (`HFE_MAX_ABS_TIME_MSEC`: 48-bit
/// times with two bits reserved).
const MAX_FIELD_EXPIRE_MS: i64 = ((1 << 48) - 1) >> 2;

/// Per-field answers of HEXPIRE and friends.
const NO_FIELD: i64 = -2;
const NO_TTL: i64 = -1;
const CONDITION_NOT_MET: i64 = 0;
const SET: i64 = 1;
const DELETED: i64 = 2;

/// Reads `FIELDS numfields field...` starting at `fields_at` (the FIELDS keyword) and returns
/// the fields, with Redis's errors (`numfields_error` differs between command families).
fn parse_fields<'a>(
    argv: &'a [Bytes],
    fields_at: usize,
    numfields_error: &'static str,
) -> Result<&'a [Bytes], Reply> {
    if !argv.get(fields_at).is_some_and(|a| eq_ci(a, "fields")) {
        return Err(Reply::error(
            "ERR Mandatory argument FIELDS is missing or not at the right position",
        ));
    }
    let n = argv
        .get(fields_at + 1)
        .and_then(|a| parse_i64(a))
        .filter(|&n| n >= 1)
        .ok_or_else(|| Reply::error(numfields_error))?;
    let fields = &argv[(fields_at + 2).min(argv.len())..];
    if u64::try_from(n).ok() != Some(fields.len() as u64) {
        return Err(Reply::error(
            "ERR The `numfields` parameter must match the number of arguments",
        ));
    }
    Ok(fields)
}

/// NX / XX / GT / LT of HEXPIRE.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Condition {
    Always,
    Nx,
    Xx,
    Gt,
    Lt,
}

impl Condition {
    /// Whether a field whose expiry is `old` may get `new` (a field without one counts as
    /// never expiring: LT passes, GT and XX fail).
    fn allows(self, old: Option<i64>, new: i64) -> bool {
        match (self, old) {
            (Condition::Always, _) => true,
            (Condition::Nx, old) => old.is_none(),
            (Condition::Xx, old) => old.is_some(),
            (Condition::Gt, None) => false,
            (Condition::Gt, Some(old)) => new > old,
            (Condition::Lt, None) => true,
            (Condition::Lt, Some(old)) => new < old,
        }
    }
}

fn hexpire(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    hexpire_generic(ctx, argv, 1000, true, "hexpire")
}

fn hpexpire(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    hexpire_generic(ctx, argv, 1, true, "hpexpire")
}

fn hexpireat(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    hexpire_generic(ctx, argv, 1000, false, "hexpireat")
}

fn hpexpireat(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    hexpire_generic(ctx, argv, 1, false, "hpexpireat")
}

/// The expiry argument of HEXPIRE and friends as absolute Unix milliseconds.
fn parse_field_expiry(arg: &[u8], unit_ms: i64, base: i64, command: &str) -> Result<i64, Reply> {
    let invalid = || Reply::Error(format!("ERR invalid expire time in '{command}' command").into());
    let n = parse_i64(arg).ok_or_else(err_not_integer)?;
    if n < 0 {
        return Err(Reply::error("ERR invalid expire time, must be >= 0"));
    }
    if n > MAX_FIELD_EXPIRE_MS / unit_ms {
        return Err(invalid());
    }
    let ms = n * unit_ms;
    if ms > MAX_FIELD_EXPIRE_MS - base {
        return Err(invalid());
    }
    Ok(ms + base)
}

fn hexpire_generic(
    ctx: &mut Ctx<'_>,
    argv: &[Bytes],
    unit_ms: i64,
    relative: bool,
    command: &str,
) -> Reply {
    let (db, key, now) = (ctx.db(), &argv[1], ctx.now);
    let outcome = (|| {
        let mut km = write_key(&mut ctx.engine.keyspace, db, key, now)?;
        let found = km.hash().map_err(|_| err_wrongtype())?;
        let at = parse_field_expiry(&argv[2], unit_ms, if relative { now } else { 0 }, command)?;
        let condition = match argv[3].to_ascii_lowercase().as_slice() {
            b"nx" => Condition::Nx,
            b"xx" => Condition::Xx,
            b"gt" => Condition::Gt,
            b"lt" => Condition::Lt,
            _ => Condition::Always,
        };
        let fields_at = if condition == Condition::Always { 3 } else { 4 };
        let fields = parse_fields(
            argv,
            fields_at,
            "ERR Parameter `numFields` should be greater than 0",
        )?;
        let Some((hash, backing)) = found else {
            return Ok((vec![Reply::Integer(NO_FIELD); fields.len()], 0, 0, false));
        };
        let store = &mut *backing.store;
        let (mut updated, mut deleted) = (0, 0);
        let mut codes = Vec::with_capacity(fields.len());
        for name in fields {
            let code = match hash.get(store, name).map_err(store_err)? {
                None => NO_FIELD,
                Some(f) if !condition.allows(f.expire_at, at) => CONDITION_NOT_MET,
                Some(_) if at <= now => {
                    hash.delete(store, name).map_err(store_err)?;
                    deleted += 1;
                    DELETED
                }
                Some(_) => {
                    hash.set_expiry(store, name, Some(at)).map_err(store_err)?;
                    updated += 1;
                    SET
                }
            };
            codes.push(Reply::Integer(code));
        }
        Ok::<_, Reply>((codes, updated, deleted, hash.is_empty()))
    })();
    match outcome {
        Ok((codes, updated, deleted, emptied)) => {
            // One event per command, as Redis sends: a deletion outweighs TTL updates.
            if deleted > 0 {
                ctx.notify_removal(class::HASH, "hdel", key, emptied);
            } else if updated > 0 {
                ctx.notify(class::HASH, "hexpire", key);
            }
            Reply::Array(codes)
        }
        Err(reply) => reply,
    }
}

fn httl(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    httl_generic(ctx, argv, 1000, true)
}

fn hpttl(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    httl_generic(ctx, argv, 1, true)
}

fn hexpiretime(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    httl_generic(ctx, argv, 1000, false)
}

fn hpexpiretime(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    httl_generic(ctx, argv, 1, false)
}

const NUMFIELDS_POSITIVE: &str = "ERR Number of fields must be a positive integer";

fn httl_generic(ctx: &mut Ctx<'_>, argv: &[Bytes], unit_ms: i64, relative: bool) -> Reply {
    let (db, now) = (ctx.db(), ctx.now);
    let base = if relative { now } else { 0 };
    let found = match ctx.engine.keyspace.read(db, &argv[1], now) {
        Ok(None) => None,
        Ok(Some(KeyRef { entry, store })) => match entry.value.as_hash() {
            Some(h) => Some((h, store)),
            None => return err_wrongtype(),
        },
        Err(e) => return err_store(&e),
    };
    let fields = match parse_fields(argv, 2, NUMFIELDS_POSITIVE) {
        Ok(f) => f,
        Err(reply) => return reply,
    };
    let Some((hash, store)) = found else {
        return Reply::Array(vec![Reply::Integer(NO_FIELD); fields.len()]);
    };
    let mut out = Vec::with_capacity(fields.len());
    for name in fields {
        let code = match hash.get(store, name) {
            Err(e) => return err_store(&e),
            Ok(None) => NO_FIELD,
            Ok(Some(Field {
                expire_at: None, ..
            })) => NO_TTL,
            Ok(Some(Field {
                expire_at: Some(at),
                ..
            })) => {
                if at < now {
                    NO_FIELD
                } else if unit_ms == 1000 {
                    (at + 999 - base) / 1000
                } else {
                    at - base
                }
            }
        };
        out.push(Reply::Integer(code));
    }
    Reply::Array(out)
}

fn hpersist(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let (db, key, now) = (ctx.db(), &argv[1], ctx.now);
    let outcome = (|| {
        let mut km = write_key(&mut ctx.engine.keyspace, db, key, now)?;
        let found = km.hash().map_err(|_| err_wrongtype())?;
        let fields = parse_fields(argv, 2, NUMFIELDS_POSITIVE)?;
        let Some((hash, backing)) = found else {
            return Ok((vec![Reply::Integer(NO_FIELD); fields.len()], false));
        };
        let store = &mut *backing.store;
        let mut changed = false;
        let mut codes = Vec::with_capacity(fields.len());
        for name in fields {
            let code = match hash.get(store, name).map_err(store_err)? {
                None => NO_FIELD,
                Some(Field {
                    expire_at: None, ..
                }) => NO_TTL,
                Some(_) => {
                    hash.set_expiry(store, name, None).map_err(store_err)?;
                    changed = true;
                    SET
                }
            };
            codes.push(Reply::Integer(code));
        }
        Ok::<_, Reply>((codes, changed))
    })();
    match outcome {
        Ok((codes, changed)) => {
            if changed {
                ctx.notify(class::HASH, "hpersist", key);
            }
            Reply::Array(codes)
        }
        Err(reply) => reply,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Synchronous;
    use crate::storage::SqliteStore;
    use crate::testing::Rig;

    #[test]
    fn commands_emit_redis_events() {
        use class::{GENERIC, HASH};
        let mut rig = Rig::new();
        let none: Vec<(u16, &str)> = Vec::new();
        assert_eq!(rig.run("HSET h a 1 b 2 c 3").1, [(HASH, "hset")]);
        assert_eq!(rig.run("HMSET h a 1").1, [(HASH, "hset")]);
        assert_eq!(rig.run("HSETNX h d 4").1, [(HASH, "hset")]);
        assert_eq!(rig.run("HSETNX h d 5").1, none);
        assert_eq!(rig.run("HINCRBY h n 1").1, [(HASH, "hincrby")]);
        assert_eq!(rig.run("HINCRBYFLOAT h n 1.5").1, [(HASH, "hincrbyfloat")]);
        assert_eq!(rig.run("HINCRBY h a x").1, none);
        assert_eq!(rig.run("HDEL h zz").1, none);
        assert_eq!(rig.run("HDEL h d n").1, [(HASH, "hdel")]);
        assert_eq!(
            rig.run("HEXPIRE h 100 FIELDS 2 a zz").1,
            [(HASH, "hexpire")]
        );
        assert_eq!(rig.run("HEXPIRE h 100 NX FIELDS 1 a").1, none);
        assert_eq!(rig.run("HPERSIST h FIELDS 1 a").1, [(HASH, "hpersist")]);
        assert_eq!(rig.run("HPERSIST h FIELDS 1 a").1, none);
        // A past time deletes: hdel, whatever else the command did.
        assert_eq!(rig.run("HEXPIRE h 0 FIELDS 1 a").1, [(HASH, "hdel")]);
        assert_eq!(rig.run("HEXPIRE h 0 FIELDS 1 b").1, [(HASH, "hdel")]);
        assert_eq!(
            rig.run("HEXPIRE h 0 FIELDS 1 c").1,
            [(HASH, "hdel"), (GENERIC, "del")]
        );
        assert_eq!(rig.run("EXISTS h").0, Reply::Integer(0));
        rig.run("HSET h a 1");
        assert_eq!(rig.run("HDEL h a b").1, [(HASH, "hdel"), (GENERIC, "del")]);
        assert_eq!(rig.run("HGET h a").1, none);
    }

    #[test]
    fn stored_values_do_not_share_the_request_buffer() {
        let mut rig = Rig::new();
        let buffer = Bytes::from_static(b"HSET h field value");
        let argv: Vec<Bytes> = [(0, 4), (5, 6), (7, 12), (13, 18)]
            .iter()
            .map(|&(a, b)| buffer.slice(a..b))
            .collect();
        rig.engine.execute(&mut rig.client, &argv, None);
        let db = rig.client.db;
        let entry = rig.engine.keyspace.get(db, b"h", 0).unwrap().unwrap();
        let h = entry.value.as_hash().unwrap();
        // A small hash holds its fields inline: the store passed to `get` is not read.
        let Some(f) = h
            .get(
                &mut SqliteStore::open(":memory:", Synchronous::Normal).unwrap(),
                b"field",
            )
            .unwrap()
        else {
            panic!("no field");
        };
        let range = buffer.as_ptr_range();
        assert!(!range.contains(&f.name.as_ptr()));
        assert!(!range.contains(&f.value.as_ptr()));
    }

    #[test]
    fn expire_conditions() {
        use Condition::*;
        assert!(Nx.allows(None, 5) && !Nx.allows(Some(1), 5));
        assert!(!Xx.allows(None, 5) && Xx.allows(Some(1), 5));
        assert!(!Gt.allows(None, 5) && Gt.allows(Some(4), 5) && !Gt.allows(Some(5), 5));
        assert!(Lt.allows(None, 5) && Lt.allows(Some(6), 5) && !Lt.allows(Some(5), 5));
    }
}
