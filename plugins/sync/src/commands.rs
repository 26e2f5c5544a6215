//! SYNC.SET, SYNC.GET, SYNC.DEL, SYNC.INFO, SYNC.SUBSCRIBE and SYNC.UNSUBSCRIBE.

use bytes::Bytes;
use respite_core::plugin::api::flags::*;
use respite_core::plugin::api::{eq_ci, err_syntax, CommandSpec, Ctx, Reply, ValueType};

use crate::envelope::{Envelope, SyncKey};
use crate::meta::{self, Meta};
use crate::subscribers::confirm;
use crate::{queue, state};

const WRITE_CATS: &[&str] = &["write", "string", "slow"];
const READ_CATS: &[&str] = &["read", "string", "fast"];
const PUBSUB_CATS: &[&str] = &["pubsub", "slow"];

/// The plugin's commands.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("sync.set", -3, sync_set)
        .flags(WRITE | DENYOOM)
        .keys(1, 1, 1)
        .categories(WRITE_CATS)
        .doc(
            "string",
            "Set a synced key's value, bump its sequence and publish the envelope to its subscribers",
            "1.0.0",
            "O(1)",
        ),
    CommandSpec::new("sync.get", 2, sync_get)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .categories(READ_CATS)
        .doc(
            "string",
            "Get a synced key's value, schema version and sequence",
            "1.0.0",
            "O(1)",
        ),
    CommandSpec::new("sync.del", -2, sync_del)
        .flags(WRITE)
        .keys(1, -1, 1)
        .categories(&["write", "keyspace", "slow"])
        .doc(
            "generic",
            "Delete synced keys, bumping their sequences and publishing the deletions",
            "1.0.0",
            "O(N) where N is the number of keys",
        ),
    CommandSpec::new("sync.info", 2, sync_info)
        .flags(READONLY)
        .keys(1, 1, 1)
        .categories(&["read", "keyspace", "slow"])
        .doc(
            "generic",
            "Show a synced key's sequence, schema version, type and local subscribers",
            "1.0.0",
            "O(1)",
        ),
    CommandSpec::new("sync.subscribe", -2, sync_subscribe)
        .flags(PUBSUB | NOSCRIPT | LOADING | STALE)
        .keys(1, -1, 1)
        .categories(PUBSUB_CATS)
        .doc(
            "pubsub",
            "Receive the envelopes of later changes of synced keys",
            "1.0.0",
            "O(N) where N is the number of keys",
        ),
    CommandSpec::new("sync.unsubscribe", -1, sync_unsubscribe)
        .flags(PUBSUB | NOSCRIPT | LOADING | STALE)
        .keys(1, -1, 1)
        .categories(PUBSUB_CATS)
        .doc(
            "pubsub",
            "Stop receiving the envelopes of synced keys (all of them without arguments)",
            "1.0.0",
            "O(N) where N is the number of keys",
        ),
];

fn not_running() -> Reply {
    Reply::error("ERR the sync plugin is not running")
}

fn instance(ctx: &mut Ctx<'_>) -> Option<String> {
    state(ctx.engine()).map(|st| st.instance.clone())
}

fn sync_key(ctx: &Ctx<'_>, key: &Bytes) -> SyncKey {
    SyncKey {
        db: ctx.db(),
        key: key.clone(),
    }
}

/// `SYNC.SET key value [VERSION v]` -> the new sequence. Without VERSION the key keeps its
/// last schema version.
fn sync_set(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let (key, value) = (&argv[1], &argv[2]);
    let mut version = None;
    let mut i = 3;
    while i < argv.len() {
        if eq_ci(&argv[i], "version") && i + 1 < argv.len() {
            match std::str::from_utf8(&argv[i + 1]) {
                Ok(v) => version = Some(v.to_string()),
                Err(_) => return Reply::error("ERR VERSION must be UTF-8 text"),
            }
            i += 2;
        } else {
            return err_syntax();
        }
    }
    let Some(origin) = instance(ctx) else {
        return not_running();
    };
    let meta = match meta::next(ctx, key, version) {
        Ok(m) => m,
        Err(e) => return e,
    };
    let set = ctx.call(&[Bytes::from_static(b"SET"), key.clone(), value.clone()]);
    if set.is_error() {
        return set;
    }
    if let Err(e) = meta::store(ctx, key, &meta) {
        return e;
    }
    let env = Envelope::new(
        &sync_key(ctx, key),
        Some(value.to_vec()),
        "string",
        meta.schema_version,
        meta.sequence,
        origin,
    );
    queue(ctx.engine(), env, true);
    Reply::Integer(meta.sequence as i64)
}

/// The current value of `key` as an envelope carries it: a string's bytes, `None` for a
/// missing key or another type; and the type's name.
pub(crate) fn current_value(
    ctx: &mut Ctx<'_>,
    key: &Bytes,
) -> Result<(Option<Vec<u8>>, &'static str), Reply> {
    let db = ctx.db();
    let kind = ctx
        .engine()
        .key_type(db, key)
        .map_err(|e| Reply::Error(format!("ERR {e}").into()))?;
    match kind {
        None => Ok((None, "none")),
        Some(ValueType::String) => match ctx.call(&[Bytes::from_static(b"GET"), key.clone()]) {
            Reply::Bulk(b) => Ok((Some(b.to_vec()), "string")),
            Reply::Null => Ok((None, "none")),
            e @ Reply::Error(_) => Err(e),
            _ => Ok((None, "string")),
        },
        Some(other) => Ok((None, type_name(other))),
    }
}

fn type_name(t: ValueType) -> &'static str {
    match t {
        ValueType::String => "string",
        ValueType::List => "list",
        ValueType::Set => "set",
        ValueType::ZSet => "zset",
        ValueType::Hash => "hash",
        ValueType::Stream => "stream",
    }
}

/// `SYNC.GET key` -> `[value, schema_version, sequence]`: the seed and refetch of a replica.
/// Nil for a key that neither exists nor was ever synced; a deleted synced key gives a nil
/// value with its last sequence, a key that exists but was never synced sequence 0.
fn sync_get(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let key = &argv[1];
    let meta = match meta::load(ctx, key) {
        Ok(m) => m,
        Err(e) => return e,
    };
    let (value, kind) = match current_value(ctx, key) {
        Ok(v) => v,
        Err(e) => return e,
    };
    if meta.is_none() && kind == "none" {
        return Reply::NullArray;
    }
    let meta = meta.unwrap_or_default();
    Reply::Array(vec![
        value.map_or(Reply::Null, |v| Reply::Bulk(Bytes::from(v))),
        Reply::Bulk(Bytes::from(meta.schema_version)),
        Reply::Integer(meta.sequence as i64),
    ])
}

/// `SYNC.DEL key [key ...]` -> how many existed. Each deleted key's sequence goes up and its
/// subscribers receive an envelope with a nil value.
fn sync_del(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let Some(origin) = instance(ctx) else {
        return not_running();
    };
    let mut deleted = 0;
    for key in &argv[1..] {
        let removed = match ctx.call(&[Bytes::from_static(b"DEL"), key.clone()]) {
            Reply::Integer(n) => n,
            e @ Reply::Error(_) => return e,
            _ => 0,
        };
        if removed == 0 {
            continue;
        }
        deleted += 1;
        let meta = match meta::next(ctx, key, None) {
            Ok(m) => m,
            Err(e) => return e,
        };
        if let Err(e) = meta::store(ctx, key, &meta) {
            return e;
        }
        let env = Envelope::new(
            &sync_key(ctx, key),
            None,
            "none",
            meta.schema_version,
            meta.sequence,
            origin.clone(),
        );
        queue(ctx.engine(), env, true);
    }
    Reply::Integer(deleted)
}

/// `SYNC.INFO key` -> a map: sequence, schema_version, type, subscribers (on this server).
fn sync_info(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let key = &argv[1];
    let meta = match meta::load(ctx, key) {
        Ok(m) => m.unwrap_or_default(),
        Err(e) => return e,
    };
    let kind = match current_value(ctx, key) {
        Ok((_, kind)) => kind,
        Err(e) => return e,
    };
    let sk = sync_key(ctx, key);
    let Some(st) = state(ctx.engine()) else {
        return not_running();
    };
    let subscribers = st.transport.subscribers(&sk);
    let field = |s: &'static str| Reply::bulk(Bytes::from_static(s.as_bytes()));
    let Meta {
        sequence,
        schema_version,
    } = meta;
    Reply::Map(vec![
        (field("sequence"), Reply::Integer(sequence as i64)),
        (
            field("schema_version"),
            Reply::Bulk(Bytes::from(schema_version)),
        ),
        (field("type"), field(kind)),
        (field("subscribers"), Reply::Integer(subscribers as i64)),
    ])
}

fn confirmation(what: &'static str, key: Reply, count: usize) -> Reply {
    Reply::Push(vec![
        Reply::bulk(Bytes::from_static(what.as_bytes())),
        key,
        Reply::Integer(count as i64),
    ])
}

/// `SYNC.SUBSCRIBE key [key ...]`: one `sync.subscribe <key> <count>` confirmation per key;
/// later envelopes arrive as `sync <key> <value> <schema_version> <sequence>` pushes.
fn sync_subscribe(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let target = ctx.push_target();
    let (id, db) = (ctx.client_id(), ctx.db());
    let Some(st) = state(ctx.engine()) else {
        return not_running();
    };
    let mut confirmations = Vec::with_capacity(argv.len() - 1);
    for key in &argv[1..] {
        let sk = SyncKey {
            db,
            key: key.clone(),
        };
        let count = st.subscribers.add(st.transport.as_ref(), id, &target, sk);
        confirmations.push(confirmation(
            "sync.subscribe",
            Reply::Bulk(key.clone()),
            count,
        ));
    }
    confirm(&target, confirmations)
}

/// `SYNC.UNSUBSCRIBE [key ...]`: from the keys given, or from every key of the selected
/// database; one `sync.unsubscribe <key> <count>` confirmation per key.
fn sync_unsubscribe(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let target = ctx.push_target();
    let (id, db) = (ctx.client_id(), ctx.db());
    let Some(st) = state(ctx.engine()) else {
        return not_running();
    };
    let keys: Vec<Bytes> = if argv.len() > 1 {
        argv[1..].to_vec()
    } else {
        st.subscribers.keys(id, db)
    };
    if keys.is_empty() {
        let count = st.subscribers.count(id);
        return confirmation("sync.unsubscribe", Reply::Null, count);
    }
    let mut confirmations = Vec::with_capacity(keys.len());
    for key in keys {
        let left = st.subscribers.remove(
            id,
            &SyncKey {
                db,
                key: key.clone(),
            },
        );
        confirmations.push(confirmation("sync.unsubscribe", Reply::Bulk(key), left));
    }
    confirm(&target, confirmations)
}
