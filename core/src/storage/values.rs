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
//! `elements` and `list_items` have the same limit (a 1 KB hash field or list item takes
//! 4.7 to 5.1 KB) but keep their values in their rows: the same triggers on them cost big
//! lists' pushes and pops 45% more and HSET 10% (see `bench/RESULTS.md`).

use rusqlite::Connection;

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
