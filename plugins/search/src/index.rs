//! The indexes the plugin knows: loading their definitions at start, creating and dropping
//! them, and re-indexing one key from its current value ([`sync_key`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use respite_core::plugin::api::{Engine, Reply, SqlValue, StoreError};

use crate::schema::IndexDef;
use crate::tables;
use crate::State;

/// Progress of the scan that indexes the keys an index found when it was created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scan {
    /// SCAN's cursor to continue from.
    pub cursor: u64,
    /// Keys looked at so far.
    pub scanned: u64,
    /// Keys in the database when the scan started (for `percent_indexed`).
    pub total: u64,
}

/// One index.
pub struct Index {
    /// Its number: the suffix of its FTS5 table.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Its definition.
    pub def: Arc<IndexDef>,
    /// The initial scan, while it runs.
    pub scan: Option<Scan>,
    /// Hashes that could not be indexed (a NUMERIC field that is no number).
    pub failures: u64,
}

/// Encodes FT.CREATE's arguments for `search_indexes.definition`: each as a 4-byte
/// big-endian length and its bytes.
pub fn encode_args(args: &[Bytes]) -> Vec<u8> {
    let mut out = Vec::new();
    for a in args {
        out.extend_from_slice(&(a.len() as u32).to_be_bytes());
        out.extend_from_slice(a);
    }
    out
}

fn decode_args(mut b: &[u8]) -> Option<Vec<Bytes>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let len = u32::from_be_bytes(b.get(..4)?.try_into().ok()?) as usize;
        out.push(Bytes::copy_from_slice(b.get(4..4 + len)?));
        b = &b[4 + len..];
    }
    Some(out)
}

/// Creates the shared tables and reads every index's definition.
pub fn load(engine: &mut Engine) -> Result<BTreeMap<String, Index>, StoreError> {
    let exists = !engine
        .sql_query(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'search_aliases'",
            &[],
        )?
        .is_empty();
    if !exists {
        engine.sql_batch(tables::SHARED)?;
    }
    let rows = engine.sql_query(
        "SELECT id, name, definition, scan_cursor, scanned, scan_total, failures FROM search_indexes",
        &[],
    )?;
    let mut out = BTreeMap::new();
    for row in rows {
        let name = String::from_utf8_lossy(&tables::bytes(row.get(1))).into_owned();
        let def = decode_args(&tables::bytes(row.get(2)))
            .ok_or_else(|| format!("index {name}: unreadable definition"))
            .and_then(|args| IndexDef::parse(&args).map_err(|e| format!("index {name}: {e}")))
            .map_err(StoreError::Corrupt)?;
        let scan = match row.get(3) {
            Some(SqlValue::Integer(c)) => Some(Scan {
                cursor: *c as u64,
                scanned: tables::int(row.get(4)) as u64,
                total: tables::int(row.get(5)) as u64,
            }),
            _ => None,
        };
        out.insert(
            name.clone(),
            Index {
                id: tables::int(row.first()),
                name,
                def: Arc::new(def),
                scan,
                failures: tables::int(row.get(6)) as u64,
            },
        );
    }
    Ok(out)
}

/// Keys in database 0.
fn dbsize(engine: &mut Engine) -> u64 {
    match engine.call(0, &[Bytes::from_static(b"DBSIZE")]) {
        Reply::Integer(n) => n.max(0) as u64,
        _ => 0,
    }
}

/// Creates index `name` and starts the scan of existing keys (unless SKIPINITIALSCAN).
pub fn create(engine: &mut Engine, name: &str, def: IndexDef) -> Result<(), StoreError> {
    let rows = engine.sql_query("SELECT coalesce(max(id), 0) + 1 FROM search_indexes", &[])?;
    let id = tables::int(rows.first().and_then(|r| r.first()));
    let scan = (!def.skip_initial_scan).then(|| Scan {
        cursor: 0,
        scanned: 0,
        total: dbsize(engine),
    });
    engine.sql_execute(
        "INSERT INTO search_indexes (id, name, definition, scan_cursor, scan_total) VALUES (?, ?, ?, ?, ?)",
        &[
            SqlValue::Integer(id),
            SqlValue::Text(name.into()),
            SqlValue::Blob(encode_args(&def.args)),
            scan.map_or(SqlValue::Null, |_| SqlValue::Integer(0)),
            SqlValue::Integer(scan.map_or(0, |s| s.total as i64)),
        ],
    )?;
    tables::create_index_tables(engine, id, &def)?;
    if let Some(st) = engine.state_mut::<State>() {
        st.indexes.insert(
            name.to_string(),
            Index {
                id,
                name: name.to_string(),
                def: Arc::new(def),
                scan,
                failures: 0,
            },
        );
    }
    crate::sync_subscription(engine);
    Ok(())
}

/// Replaces index `name`'s definition (FT.ALTER) and indexes every key again.
pub fn redefine(engine: &mut Engine, name: &str, def: IndexDef) -> Result<(), StoreError> {
    let Some(id) = engine
        .state::<State>()
        .and_then(|s| s.indexes.get(name))
        .map(|i| i.id)
    else {
        return Ok(());
    };
    tables::drop_index_tables(engine, id)?;
    tables::create_index_tables(engine, id, &def)?;
    let total = dbsize(engine);
    engine.sql_execute(
        "UPDATE search_indexes SET definition = ?, scan_cursor = 0, scanned = 0, scan_total = ?, failures = 0 WHERE id = ?",
        &[SqlValue::Blob(encode_args(&def.args)), SqlValue::Integer(total as i64), SqlValue::Integer(id)],
    )?;
    if let Some(index) = engine
        .state_mut::<State>()
        .and_then(|s| s.indexes.get_mut(name))
    {
        index.def = Arc::new(def);
        index.scan = Some(Scan {
            cursor: 0,
            scanned: 0,
            total,
        });
        index.failures = 0;
    }
    Ok(())
}

/// Drops index `name`: its definition and entries (not the hashes).
pub fn drop(engine: &mut Engine, name: &str) -> Result<(), StoreError> {
    let Some(index) = engine
        .state_mut::<State>()
        .and_then(|s| s.indexes.remove(name))
    else {
        return Ok(());
    };
    tables::drop_index_tables(engine, index.id)?;
    engine.sql_execute(
        "DELETE FROM search_indexes WHERE id = ?",
        &[SqlValue::Integer(index.id)],
    )?;
    crate::sync_subscription(engine);
    Ok(())
}

/// FLUSHDB emptied database 0: every index loses its documents; with `rescan` (SWAPDB put
/// another database's keys in place) the scan of existing keys starts again.
pub fn clear_all(engine: &mut Engine, rescan: bool) {
    let ids: Vec<(String, i64)> = engine
        .state::<State>()
        .map(|s| s.indexes.values().map(|i| (i.name.clone(), i.id)).collect())
        .unwrap_or_default();
    let total = if rescan { dbsize(engine) } else { 0 };
    for (name, id) in ids {
        let result = tables::clear_docs(engine, id).and_then(|_| {
            engine.sql_execute(
                "UPDATE search_indexes SET scan_cursor = ?, scanned = 0, scan_total = ?, failures = 0 WHERE id = ?",
                &[
                    if rescan { SqlValue::Integer(0) } else { SqlValue::Null },
                    SqlValue::Integer(total as i64),
                    SqlValue::Integer(id),
                ],
            )
        });
        if let Err(e) = result {
            tracing::error!(index = %name, error = %e, "search: clearing an index failed");
        }
        if let Some(index) = engine
            .state_mut::<State>()
            .and_then(|s| s.indexes.get_mut(&name))
        {
            index.failures = 0;
            index.scan = rescan.then_some(Scan {
                cursor: 0,
                scanned: 0,
                total,
            });
        }
    }
}

/// The fields of the hash `key` in database 0; `None` when it is missing or not a hash.
pub fn fetch_hash(engine: &mut Engine, key: &[u8]) -> Option<Vec<(Bytes, Bytes)>> {
    let reply = engine.call(
        0,
        &[Bytes::from_static(b"HGETALL"), Bytes::copy_from_slice(key)],
    );
    let pairs = match reply {
        Reply::Array(items) => {
            let mut out = Vec::with_capacity(items.len() / 2);
            let mut it = items.into_iter();
            while let (Some(Reply::Bulk(f)), Some(Reply::Bulk(v))) = (it.next(), it.next()) {
                out.push((f, v));
            }
            out
        }
        Reply::Map(items) => items
            .into_iter()
            .filter_map(|(f, v)| match (f, v) {
                (Reply::Bulk(f), Reply::Bulk(v)) => Some((f, v)),
                _ => None,
            })
            .collect(),
        _ => return None,
    };
    (!pairs.is_empty()).then_some(pairs)
}

/// Re-indexes `key` from its current value in every index that covers it (or only in index
/// `only`): indexed while it is a hash, removed otherwise.
pub fn sync_key(engine: &mut Engine, key: &[u8], only: Option<i64>) {
    let targets: Vec<(String, i64, Arc<IndexDef>)> = engine
        .state::<State>()
        .map(|s| {
            s.indexes
                .values()
                .filter(|i| only.is_none_or(|o| o == i.id) && i.def.matches(key))
                .map(|i| (i.name.clone(), i.id, Arc::clone(&i.def)))
                .collect()
        })
        .unwrap_or_default();
    if targets.is_empty() {
        return;
    }
    let fields = fetch_hash(engine, key);
    for (name, id, def) in targets {
        let result = match &fields {
            Some(fields) => tables::put_doc(engine, id, &def, key, fields).map(|r| r.is_err()),
            None => tables::remove_doc(engine, id, &def, key).map(|_| false),
        };
        match result {
            Ok(false) => {}
            Ok(true) => {
                if let Some(index) = engine
                    .state_mut::<State>()
                    .and_then(|s| s.indexes.get_mut(&name))
                {
                    index.failures += 1;
                }
                let _ = engine.sql_execute(
                    "UPDATE search_indexes SET failures = failures + 1 WHERE id = ?",
                    &[SqlValue::Integer(id)],
                );
            }
            Err(e) => {
                tracing::error!(index = %name, error = %e, "search: indexing a key failed");
            }
        }
    }
}
