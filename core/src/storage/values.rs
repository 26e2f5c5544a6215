//! Long values kept apart from their key rows.
//!
//! `keys` is a B-tree keyed by its primary key (`WITHOUT ROWID`), whose pages keep a row
//! whole only up to about a quarter of a page (1,002 bytes of 4,096). Past that SQLite moves
//! the row's tail to an overflow page of its own, so a value of 1 to 4 KB took a whole extra
//! page: 4.7 KB on disk for a 1 KB value, and two pages to write and read. A value over [`VALUE_APART`] bytes lives in `key_values` instead, a rowid
//! table whose pages hold rows of up to a page whole, packed; its row points at it (`blob`,
//! with an empty `value`). Triggers drop a value with the row that points at it (see the
//! schema), so every delete path (DEL, expiry, a flushed database's reclaim) takes its
//! value along.
//!
//! Element rows (`elements`, `list_items`) have the same limit (a 1 KB hash field or list
//! item took 4.7 to 5.1 KB) and keep long values apart the same way, but without triggers:
//! delete and replace triggers on those tables cost big lists' pushes and pops 45% more and
//! HSET 10%, every collection paying for the few with long values (see `bench/RESULTS.md`).
//! Instead a collection that ever holds a long element value is listed in
//! `apart_collections` (and in a set in memory), and for those collections only, the store's
//! statements that delete or overwrite element rows first drop the values they point at.
//! Other collections' statements are the ones they were.

use std::collections::HashSet;

use rusqlite::Connection;

use super::CollectionId;

/// Values longer than this many bytes are kept apart from their row.
pub(super) const VALUE_APART: usize = 512;

/// The stored value of a key row (selected without an alias), wherever it lives: for the
/// `SELECT` lists of the statements that read values.
macro_rules! stored_value {
    () => {
        "CASE WHEN blob IS NULL THEN value \
         ELSE (SELECT v.value FROM key_values v WHERE v.id = blob) END"
    };
}
pub(super) use stored_value;

// The value statements are written as `INSERT ... SELECT` for SQLite to give them a
// statement journal: a full disk then undoes the statement alone, where a single-row insert
// or update without one loses the whole open transaction (and with it every batch since the
// last merge, to be rebuilt from the redo journal).
const SQL_ADD: &str = "INSERT INTO key_values (value) SELECT ?1";
const SQL_SET: &str = "REPLACE INTO key_values (id, value) SELECT ?1, ?2";
const SQL_BEGIN: &str = "SAVEPOINT value_apart";
const SQL_END: &str = "RELEASE value_apart";
const SQL_UNDO: &str = "ROLLBACK TO value_apart";

const SQL_REMOVE: &str = "DELETE FROM key_values WHERE id = ?1";
const SQL_MARK: &str = "INSERT OR IGNORE INTO apart_collections (cid) SELECT ?1";

/// An element row keeps its name and value in its page up to this many bytes together:
/// SQLite's largest payload kept whole in a page of a 4 KB `WITHOUT ROWID` table is 1,002
/// bytes, and the row's header and other columns take up to 31 of them. Below it a row
/// already fills its pages well (a long string's 960-byte chunks, four to a page), and
/// keeping the value apart would only cost statements.
const ELEMENT_INLINE: usize = 971;

/// Whether an element's value is kept apart from its row: the row would not fit its page,
/// and the value is what makes it long (a long name with a short value overflows either
/// way, and moving the value would only cost statements).
pub(super) fn element_apart(sub: &[u8], value: &[u8]) -> bool {
    sub.len() + value.len() > ELEMENT_INLINE && value.len() > ELEMENT_INLINE / 2
}

/// Whether `value` is kept apart from its row.
pub(super) fn apart(value: &[u8]) -> bool {
    value.len() > VALUE_APART
}

/// Stores a value apart; returns the id its row points at.
pub(super) fn add(conn: &Connection, value: &[u8]) -> rusqlite::Result<i64> {
    conn.prepare_cached(SQL_ADD)?.execute([value])?;
    Ok(conn.last_insert_rowid())
}

/// Rewrites the value kept apart under `id` in place.
pub(super) fn set(conn: &Connection, id: i64, value: &[u8]) -> rusqlite::Result<()> {
    conn.prepare_cached(SQL_SET)?
        .execute(rusqlite::params![id, value])?;
    Ok(())
}

/// Drops the value kept apart under `id`.
pub(super) fn remove(conn: &Connection, id: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(SQL_REMOVE)?.execute([id])?;
    Ok(())
}

/// Stores a row's new value: rewritten in place where the row pointed at a value already,
/// added apart, or (`apart` false) kept in the row, dropping the one it pointed at. Returns
/// what the row points at now; the row's own `value` is then empty.
pub(super) fn place(
    conn: &Connection,
    old: Option<i64>,
    value: &[u8],
    apart: bool,
) -> rusqlite::Result<Option<i64>> {
    match (old, apart) {
        (Some(id), true) => set(conn, id, value).map(|()| Some(id)),
        (None, true) => add(conn, value).map(Some),
        (Some(id), false) => remove(conn, id).map(|()| None),
        (None, false) => Ok(None),
    }
}

/// Lists a collection among those whose element rows may point at values kept apart.
pub(super) fn mark(conn: &Connection, cid: CollectionId) -> rusqlite::Result<()> {
    conn.prepare_cached(SQL_MARK)?.execute([cid as i64])?;
    Ok(())
}

/// The collections listed by [`mark`].
pub(super) fn apart_collections(conn: &Connection) -> rusqlite::Result<HashSet<CollectionId>> {
    let mut stmt = conn.prepare_cached("SELECT cid FROM apart_collections")?;
    let cids = stmt.query_map([], |r| r.get::<_, i64>(0).map(|c| c as CollectionId))?;
    cids.collect()
}

/// Runs a long value's statements as one: whichever fails, no value row is left behind
/// without the row that points at it.
pub(super) fn atomically<T>(
    conn: &Connection,
    statements: impl FnOnce() -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.prepare_cached(SQL_BEGIN)?.execute([])?;
    let done = statements();
    if done.is_err() {
        // Fails only if SQLite dropped the whole transaction, savepoint included.
        let _ = conn
            .prepare_cached(SQL_UNDO)
            .and_then(|mut s| s.execute([]));
    }
    let released = conn.prepare_cached(SQL_END).and_then(|mut s| s.execute([]));
    let done = done?;
    released?;
    Ok(done)
}
