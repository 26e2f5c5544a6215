//! The plugin's tables in the keyspace's SQLite file, all named `search_...`, and the writes
//! that keep one document's entries current. Every statement goes through the plugin API's
//! SQL ([`Engine::sql_execute`]), inside the transaction of the write that caused it.
//!
//! - `search_indexes`: one row per index: its name, FT.CREATE's arguments, and the progress
//!   of the scan that indexes existing keys.
//! - `search_docs`: one row per indexed key and index; `docid` is the FTS5 rowid, and
//!   `text_hash` a hash of the TEXT fields' values, so a write that leaves them alone does
//!   not rewrite the FTS5 row.
//! - `search_fts_<id>`: the TEXT fields of index `<id>`, columns `c0`, `c1`, ... in schema
//!   order, tokenized by unicode61 (with the Porter stemmer for English).
//! - `search_numeric`, `search_tags`: NUMERIC values and TAG values, keyed by (index,
//!   document, field) and indexed by (index, field, value). A write compares a document's
//!   values with those stored and rewrites only what changed: an index costs a write the
//!   pages it really changes.
//! - `search_aliases`: FT.ALIASADD's names.
//! - `search_suggestions`: FT.SUGADD's dictionaries.

use bytes::Bytes;
use respite_core::plugin::api::{Engine, SqlValue, StoreError};

use crate::schema::{FieldType, IndexDef};

/// Tables shared by every index.
pub const SHARED: &str = "
CREATE TABLE IF NOT EXISTS search_indexes (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    definition  BLOB NOT NULL,
    scan_cursor INTEGER,
    scanned     INTEGER NOT NULL DEFAULT 0,
    scan_total  INTEGER NOT NULL DEFAULT 0,
    failures    INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS search_docs (
    docid     INTEGER PRIMARY KEY,
    idx       INTEGER NOT NULL,
    key       BLOB NOT NULL,
    text_hash INTEGER,
    UNIQUE (idx, key)
);
CREATE TABLE IF NOT EXISTS search_numeric (
    idx   INTEGER NOT NULL,
    docid INTEGER NOT NULL,
    field TEXT NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (idx, docid, field)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS search_numeric_value ON search_numeric (idx, field, value);
CREATE TABLE IF NOT EXISTS search_tags (
    idx   INTEGER NOT NULL,
    docid INTEGER NOT NULL,
    field TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (idx, docid, field, value)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS search_tags_value ON search_tags (idx, field, value);
CREATE TABLE IF NOT EXISTS search_aliases (
    alias TEXT PRIMARY KEY,
    name  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS search_suggestions (
    key     BLOB NOT NULL,
    norm    TEXT NOT NULL,
    string  TEXT NOT NULL,
    score   REAL NOT NULL,
    payload BLOB,
    PRIMARY KEY (key, norm)
);
";

/// The FTS5 table of index `id`.
pub fn fts(id: i64) -> String {
    format!("search_fts_{id}")
}

/// Creates index `id`'s FTS5 table (when it has TEXT fields).
pub fn create_index_tables(engine: &mut Engine, id: i64, def: &IndexDef) -> Result<(), StoreError> {
    let cols: Vec<String> = (0..def.text_fields().count())
        .map(|i| format!("c{i}"))
        .collect();
    if cols.is_empty() {
        return Ok(());
    }
    let tokenizer = if def.stemmed() {
        "porter unicode61 remove_diacritics 2"
    } else {
        "unicode61 remove_diacritics 2"
    };
    engine.sql_batch(&format!(
        "CREATE VIRTUAL TABLE IF NOT EXISTS {} USING fts5({}, tokenize = '{tokenizer}')",
        fts(id),
        cols.join(", ")
    ))
}

/// Drops every entry of index `id` (its FTS5 table too).
pub fn drop_index_tables(engine: &mut Engine, id: i64) -> Result<(), StoreError> {
    clear_docs(engine, id)?;
    engine.sql_batch(&format!("DROP TABLE IF EXISTS {}", fts(id)))
}

/// Removes every document of index `id`, keeping its definition.
pub fn clear_docs(engine: &mut Engine, id: i64) -> Result<(), StoreError> {
    let p = [SqlValue::Integer(id)];
    engine.sql_execute("DELETE FROM search_numeric WHERE idx = ?", &p)?;
    engine.sql_execute("DELETE FROM search_tags WHERE idx = ?", &p)?;
    engine.sql_execute("DELETE FROM search_docs WHERE idx = ?", &p)?;
    let exists = !engine
        .sql_query(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
            &[SqlValue::Text(fts(id))],
        )?
        .is_empty();
    if exists {
        engine.sql_execute(&format!("DELETE FROM {}", fts(id)), &[])?;
    }
    Ok(())
}

/// The document's id and its TEXT fields' hash.
fn docid(
    engine: &mut Engine,
    id: i64,
    key: &[u8],
) -> Result<Option<(i64, Option<i64>)>, StoreError> {
    let rows = engine.sql_query(
        "SELECT docid, text_hash FROM search_docs WHERE idx = ? AND key = ?",
        &[SqlValue::Integer(id), SqlValue::Blob(key.to_vec())],
    )?;
    Ok(rows.first().and_then(|r| match (r.first(), r.get(1)) {
        (Some(SqlValue::Integer(d)), Some(SqlValue::Integer(h))) => Some((*d, Some(*h))),
        (Some(SqlValue::Integer(d)), _) => Some((*d, None)),
        _ => None,
    }))
}

/// FNV-1a over the TEXT values (with their lengths, and a mark for missing ones): equal
/// hashes mean the FTS5 row need not change.
fn text_hash(texts: &[SqlValue]) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for t in texts {
        match t {
            SqlValue::Text(s) => {
                eat(&(s.len() as u64).to_le_bytes());
                eat(s.as_bytes());
            }
            _ => eat(b"\xff\xff\xff\xff\xff\xff\xff\xff\x00"),
        }
    }
    h as i64
}

/// The (field, value) rows of a document in `table`, sorted.
fn entries(
    engine: &mut Engine,
    table: &str,
    id: i64,
    doc: i64,
) -> Result<Vec<(String, SqlValue)>, StoreError> {
    let rows = engine.sql_query(
        &format!(
            "SELECT field, value FROM {table} WHERE idx = ? AND docid = ? ORDER BY field, value"
        ),
        &[SqlValue::Integer(id), SqlValue::Integer(doc)],
    )?;
    Ok(rows
        .into_iter()
        .map(|mut r| {
            let value = r.pop().unwrap_or(SqlValue::Null);
            let field = match r.pop() {
                Some(SqlValue::Text(f)) => f,
                _ => String::new(),
            };
            (field, value)
        })
        .collect())
}

/// Replaces a document's rows in `table` (`search_numeric` or `search_tags`) with `new`
/// (sorted), unless they are the same already.
fn sync_entries(
    engine: &mut Engine,
    table: &str,
    id: i64,
    doc: i64,
    existed: bool,
    new: &[(String, SqlValue)],
) -> Result<(), StoreError> {
    if existed {
        if entries(engine, table, id, doc)? == new {
            return Ok(());
        }
        engine.sql_execute(
            &format!("DELETE FROM {table} WHERE idx = ? AND docid = ?"),
            &[SqlValue::Integer(id), SqlValue::Integer(doc)],
        )?;
    }
    for (field, value) in new {
        engine.sql_execute(
            &format!("INSERT INTO {table} (idx, docid, field, value) VALUES (?, ?, ?, ?)"),
            &[
                SqlValue::Integer(id),
                SqlValue::Integer(doc),
                SqlValue::Text(field.clone()),
                value.clone(),
            ],
        )?;
    }
    Ok(())
}

fn remove_entries(
    engine: &mut Engine,
    id: i64,
    doc: i64,
    has_text: bool,
) -> Result<(), StoreError> {
    let p = [SqlValue::Integer(doc)];
    engine.sql_execute("DELETE FROM search_numeric WHERE docid = ?", &p)?;
    engine.sql_execute("DELETE FROM search_tags WHERE docid = ?", &p)?;
    if has_text {
        engine.sql_execute(&format!("DELETE FROM {} WHERE rowid = ?", fts(id)), &p)?;
    }
    Ok(())
}

/// Removes `key` from index `id`; returns whether it was there.
pub fn remove_doc(
    engine: &mut Engine,
    id: i64,
    def: &IndexDef,
    key: &[u8],
) -> Result<bool, StoreError> {
    let Some((doc, _)) = docid(engine, id, key)? else {
        return Ok(false);
    };
    remove_entries(engine, id, doc, def.text_fields().next().is_some())?;
    engine.sql_execute(
        "DELETE FROM search_docs WHERE docid = ?",
        &[SqlValue::Integer(doc)],
    )?;
    Ok(true)
}

/// Why a hash could not be indexed (RediSearch counts these in `hash_indexing_failures`).
#[derive(Debug)]
pub struct Unindexable;

/// Indexes the hash `key` with `fields` in index `id`, replacing what it had. A NUMERIC field
/// that is not a number fails the whole document, as in RediSearch: it is removed instead.
pub fn put_doc(
    engine: &mut Engine,
    id: i64,
    def: &IndexDef,
    key: &[u8],
    fields: &[(Bytes, Bytes)],
) -> Result<Result<(), Unindexable>, StoreError> {
    let value_of = |path: &str| {
        fields
            .iter()
            .find(|(f, _)| f.as_ref() == path.as_bytes())
            .map(|(_, v)| v)
    };
    let mut texts = Vec::new();
    let mut numbers: Vec<(String, f64)> = Vec::new();
    let mut tags: Vec<(String, String)> = Vec::new();
    for field in &def.fields {
        let value = value_of(&field.path);
        match &field.kind {
            FieldType::Text { .. } => texts.push(match value {
                Some(v) => SqlValue::Text(String::from_utf8_lossy(v).into_owned()),
                None => SqlValue::Null,
            }),
            FieldType::Numeric => {
                if let Some(v) = value {
                    let n = std::str::from_utf8(v)
                        .ok()
                        .and_then(|s| s.trim().parse::<f64>().ok())
                        .filter(|n| !n.is_nan());
                    match n {
                        Some(n) => numbers.push((field.name.clone(), n)),
                        None => {
                            remove_doc(engine, id, def, key)?;
                            return Ok(Err(Unindexable));
                        }
                    }
                }
            }
            FieldType::Tag {
                separator,
                case_sensitive,
            } => {
                if let Some(v) = value {
                    let text = String::from_utf8_lossy(v);
                    for t in text.split(*separator) {
                        let t = t.trim();
                        if t.is_empty() {
                            continue;
                        }
                        let t = if *case_sensitive {
                            t.to_string()
                        } else {
                            t.to_lowercase()
                        };
                        if !tags.contains(&(field.name.clone(), t.clone())) {
                            tags.push((field.name.clone(), t));
                        }
                    }
                }
            }
        }
    }
    let has_text = !texts.is_empty();
    let hash = has_text.then(|| text_hash(&texts));
    let (doc, existed, old_hash) = match docid(engine, id, key)? {
        Some((doc, old_hash)) => (doc, true, old_hash),
        None => {
            engine.sql_execute(
                "INSERT INTO search_docs (idx, key, text_hash) VALUES (?, ?, ?)",
                &[
                    SqlValue::Integer(id),
                    SqlValue::Blob(key.to_vec()),
                    hash.map_or(SqlValue::Null, SqlValue::Integer),
                ],
            )?;
            let (doc, _) = docid(engine, id, key)?
                .ok_or_else(|| StoreError::Corrupt("search document row vanished".into()))?;
            (doc, false, None)
        }
    };
    if has_text && (!existed || old_hash != hash) {
        if existed {
            engine.sql_execute(
                &format!("DELETE FROM {} WHERE rowid = ?", fts(id)),
                &[SqlValue::Integer(doc)],
            )?;
            engine.sql_execute(
                "UPDATE search_docs SET text_hash = ? WHERE docid = ?",
                &[
                    hash.map_or(SqlValue::Null, SqlValue::Integer),
                    SqlValue::Integer(doc),
                ],
            )?;
        }
        let cols: Vec<String> = (0..texts.len()).map(|i| format!("c{i}")).collect();
        let marks: Vec<&str> = (0..=texts.len()).map(|_| "?").collect();
        let mut params = vec![SqlValue::Integer(doc)];
        params.extend(texts);
        engine.sql_execute(
            &format!(
                "INSERT INTO {} (rowid, {}) VALUES ({})",
                fts(id),
                cols.join(", "),
                marks.join(", ")
            ),
            &params,
        )?;
    }
    numbers.sort_by(|a, b| a.0.cmp(&b.0));
    let numbers: Vec<(String, SqlValue)> = numbers
        .into_iter()
        .map(|(f, n)| (f, SqlValue::Real(n)))
        .collect();
    sync_entries(engine, "search_numeric", id, doc, existed, &numbers)?;
    tags.sort();
    let tags: Vec<(String, SqlValue)> = tags
        .into_iter()
        .map(|(f, t)| (f, SqlValue::Text(t)))
        .collect();
    sync_entries(engine, "search_tags", id, doc, existed, &tags)?;
    Ok(Ok(()))
}

/// The number of documents in index `id`.
pub fn doc_count(engine: &mut Engine, id: i64) -> Result<i64, StoreError> {
    let rows = engine.sql_query(
        "SELECT count(*) FROM search_docs WHERE idx = ?",
        &[SqlValue::Integer(id)],
    )?;
    Ok(int(rows.first().and_then(|r| r.first())))
}

/// An integer cell (0 for anything else).
pub fn int(v: Option<&SqlValue>) -> i64 {
    match v {
        Some(SqlValue::Integer(i)) => *i,
        Some(SqlValue::Real(f)) => *f as i64,
        _ => 0,
    }
}

/// A cell as bytes.
pub fn bytes(v: Option<&SqlValue>) -> Bytes {
    match v {
        Some(SqlValue::Blob(b)) => Bytes::copy_from_slice(b),
        Some(SqlValue::Text(t)) => Bytes::copy_from_slice(t.as_bytes()),
        Some(SqlValue::Integer(i)) => Bytes::from(i.to_string()),
        Some(SqlValue::Real(f)) => Bytes::from(f.to_string()),
        _ => Bytes::new(),
    }
}
