//! DUMP and RESTORE (Redis's cluster.c), with Redis's own serialization ([`super::rdb`]):
//! a payload from redis-server 7.0 or 7.2 restores here, and one from here restores on
//! redis-server.
//!
//! RESTORE decodes and checks the whole payload before it touches the key, so a damaged
//! payload is an error and never a half-written key.

use bytes::Bytes;

use super::rdb::{self, LoadError, Object};
use super::table::{flags::*, CommandSpec};
use super::{eq_ci, err_not_integer, err_store, err_syntax, parse_i64, store_err, write_key};
use crate::engine::Ctx;
use crate::events::class;
use crate::keyspace::Value;
use crate::protocol::Reply;
use crate::storage::{Store, StoreError};

const GROUP: &str = "generic";

/// DUMP and RESTORE.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("dump", 2, dump)
        .flags(READONLY)
        .keys(1, 1, 1)
        .categories(&["keyspace", "read", "slow"])
        .doc(
            GROUP,
            "Returns a serialized representation of the value stored at a key.",
            "2.6.0",
            "O(1) to access the key and additional O(N*M) to serialize it, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1).",
        ),
    CommandSpec::new("restore", -4, restore)
        .flags(WRITE | DENYOOM)
        .keys(1, 1, 1)
        .categories(&["keyspace", "write", "slow", "dangerous"])
        .doc(
            GROUP,
            "Creates a key from the serialized representation of a value.",
            "2.6.0",
            "O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1). However for sorted set values the complexity is O(N*M*log(N)) because inserting values into sorted sets is O(log(N)).",
        ),
];

/// The value at a key as the payload carries it; `None` for a stream, whose RDB form
/// (listpacks in a radix tree, consumer groups, pending lists) is not written yet.
pub(super) fn object_of(
    value: &Value,
    store: &mut dyn Store,
    now: i64,
) -> Result<Option<Object>, StoreError> {
    Ok(Some(match value {
        Value::String(s) => Object::String(s.clone()),
        Value::Chunked(c) => Object::String(c.read(store, 0, c.len())?.into()),
        Value::List(l) => Object::List(l.items(store)?),
        Value::Set(s) => Object::Set(s.members(store)?),
        Value::ZSet(z) => Object::ZSet(z.entries(store)?),
        Value::Hash(h) => Object::Hash(
            h.fields(store)?
                .into_iter()
                .filter(|f| f.expire_at.is_none_or(|at| at > now))
                .map(|f| (f.name, f.value))
                .collect(),
        ),
        Value::Stream(_) => return Ok(None),
    }))
}

/// Whether payloads LZF-compress their strings (`rdbcompression`, yes by default).
pub(super) fn rdb_compression(ctx: &Ctx<'_>) -> bool {
    ctx.engine.config.redis_param("rdbcompression").as_deref() != Some("no")
}

fn dump(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let (db, now) = (ctx.db(), ctx.now);
    let compress = rdb_compression(ctx);
    match ctx.engine.keyspace.read(db, &argv[1], now) {
        Ok(None) => Reply::Null,
        Ok(Some(r)) => match object_of(&r.entry.value, r.store, now) {
            Ok(Some(obj)) => Reply::Bulk(Bytes::from(rdb::dump(&obj, compress))),
            Ok(None) => Reply::error("ERR DUMP of a stream is not supported by Respite yet"),
            Err(e) => err_store(&e),
        },
        Err(e) => err_store(&e),
    }
}

fn restore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq) = (-1i64, -1i64);
    let mut j = 4;
    while j < argv.len() {
        let more = argv.len() - j - 1;
        if eq_ci(&argv[j], "replace") {
            replace = true;
        } else if eq_ci(&argv[j], "absttl") {
            absttl = true;
        } else if eq_ci(&argv[j], "idletime") && more >= 1 && freq == -1 {
            let Some(v) = parse_i64(&argv[j + 1]) else {
                return err_not_integer();
            };
            if v < 0 {
                return Reply::error("ERR Invalid IDLETIME value, must be >= 0");
            }
            idle = v;
            j += 1;
        } else if eq_ci(&argv[j], "freq") && more >= 1 && idle == -1 {
            let Some(v) = parse_i64(&argv[j + 1]) else {
                return err_not_integer();
            };
            if !(0..=255).contains(&v) {
                return Reply::error("ERR Invalid FREQ value, must be >= 0 and <= 255");
            }
            freq = v;
            j += 1;
        } else {
            return err_syntax();
        }
        j += 1;
    }
    let key = &argv[1];
    let (db, now) = (ctx.db(), ctx.now);
    if !replace {
        match ctx.engine.keyspace.peek(db, key, now) {
            Ok(Some(_)) => return Reply::error("BUSYKEY Target key name already exists."),
            Ok(None) => {}
            Err(e) => return err_store(&e),
        }
    }
    let Some(ttl) = parse_i64(&argv[2]) else {
        return err_not_integer();
    };
    if ttl < 0 {
        return Reply::error("ERR Invalid TTL value, must be >= 0");
    }
    let obj = match rdb::restore(&argv[3]) {
        Ok(obj) => obj,
        Err(LoadError::VersionOrChecksum) => {
            return Reply::error("ERR DUMP payload version or checksum are wrong")
        }
        Err(LoadError::BadFormat) => return Reply::error("ERR Bad data format"),
    };
    let expire_at = match ttl {
        0 => None,
        t if absttl => Some(t),
        t => Some(now.saturating_add(t)),
    };
    let outcome = (|| {
        let mut km = write_key(&mut ctx.engine.keyspace, db, key, now)?;
        let deleted = replace && km.delete().map_err(store_err)?;
        if expire_at.is_some_and(|at| at <= now) {
            return Ok::<_, Reply>((deleted, false));
        }
        fill(&mut km, obj).map_err(store_err)?;
        km.set_expire(expire_at);
        if idle >= 0 {
            km.set_accessed(now.saturating_sub(idle.saturating_mul(1000)));
        }
        if freq >= 0 {
            km.set_freq(freq as u8, now);
        }
        Ok((deleted, true))
    })();
    match outcome {
        Ok((_, true)) => {
            ctx.notify(class::GENERIC, "restore", key);
            Reply::ok()
        }
        Ok((deleted, false)) => {
            if deleted {
                ctx.notify(class::GENERIC, "del", key);
            }
            Reply::ok()
        }
        Err(reply) => reply,
    }
}

/// Puts a decoded value at an empty key.
fn fill(km: &mut crate::keyspace::KeyMut<'_>, obj: Object) -> Result<(), StoreError> {
    let wrong = |_| StoreError::Corrupt("restore: the key was not empty".into());
    match obj {
        Object::String(s) => km.set(Value::String(s), None)?,
        Object::List(items) => {
            let (l, mut backing) = km.list_or_create().map_err(wrong)?;
            for item in items {
                l.push(&mut backing, item, false)?;
            }
        }
        Object::Set(members) => {
            let (s, mut backing) = km.rset_or_create().map_err(wrong)?;
            for m in members {
                s.add(&mut backing, m)?;
            }
        }
        Object::ZSet(entries) => {
            let (z, mut backing) = km.zset_or_create().map_err(wrong)?;
            for (m, score) in entries {
                z.set_score(&mut backing, m, score, None)?;
            }
        }
        Object::Hash(fields) => {
            let (h, mut backing) = km.hash_or_create().map_err(wrong)?;
            for (f, v) in fields {
                h.set(&mut backing, f, v, false)?;
            }
        }
    }
    Ok(())
}
