//! Reads of the file's committed state, on a read-only connection of their own.
//!
//! While a merge runs on the row writer's thread (applying its rows, then committing), the
//! shared connection is the writer's, and a read of a key that missed the cache waited for
//! the whole merge: with the data ten times the cache and random SETs beside (a SET of an
//! uncached key reads its old row), the executor stood still for up to 400 ms at a time.
//! The row writer keeps the rows it applied to the open transaction until the commit, and
//! any key without one reads the same in the committed state as in the transaction, unless
//! the store changed the keys table with a statement of its own ([`RowWriter::lookup`]):
//! such a read goes to this connection, which a WAL writer never blocks. GETs beside those
//! SETs went from 6,700-6,800 replies a second (max 366-384 ms) to 10,900-13,000 (max
//! 23 ms).
//!
//! [`RowWriter::lookup`]: super::rows::RowWriter::lookup

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use super::DbIndex;

/// A stored key row as [`SQL_LOAD`](super::sqlite) reads it: type, value, expire_at,
/// version, cid, sub_expire_at.
pub(super) type RawRow = (i64, Vec<u8>, Option<i64>, i64, Option<i64>, Option<i64>);

/// Reads a [`RawRow`] from a row of the load statement.
pub(super) fn raw_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

/// The read-only connection, opened at its first use.
pub(super) struct CommittedReader {
    path: String,
    conn: Option<Connection>,
    /// Opening failed (or the store is in memory): reads wait for the shared connection.
    off: bool,
}

impl CommittedReader {
    pub(super) fn new(path: &str) -> CommittedReader {
        CommittedReader {
            path: path.to_string(),
            conn: None,
            off: path == ":memory:",
        }
    }

    /// The committed row of a key, by the load statement `sql` (database, position, key);
    /// `None` when this reader cannot answer (the caller reads the shared connection).
    pub(super) fn load(
        &mut self,
        sql: &str,
        db: DbIndex,
        h: i64,
        key: &[u8],
    ) -> Option<Option<RawRow>> {
        let conn = self.conn()?;
        let found = conn
            .prepare_cached(sql)
            .and_then(|mut st| st.query_row(params![db, h, key], raw_row).optional());
        match found {
            Ok(row) => Some(row),
            Err(e) => {
                tracing::debug!(error = %e, "reading the committed state failed");
                None
            }
        }
    }

    fn conn(&mut self) -> Option<&Connection> {
        if self.conn.is_none() && !self.off {
            match open(&self.path) {
                Ok(conn) => self.conn = Some(conn),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot open a reader of the committed state");
                    self.off = true;
                }
            }
        }
        self.conn.as_ref()
    }
}

fn open(path: &str) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_millis(100))?;
    // Single-row probes: SQLite's default page cache (2 MB) keeps the index's upper levels.
    conn.set_prepared_statement_cache_capacity(8);
    Ok(conn)
}
