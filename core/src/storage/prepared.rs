//! The executor's statements, prepared once per connection and kept by the address of their
//! (static) text. rusqlite's `prepare_cached` copies the text into a new `Arc<str>` and hashes
//! it twice on every use: about 8% of the executor's time on element writes (ZADD over a
//! large sorted set runs four statements per member). Statements built from text made at run
//! time keep using `prepare_cached`.
//!
//! The statements borrow the store's connection, which lives in a mutex shared with the row
//! writer's thread: they are reached only through the guard of that mutex, and dropped with
//! it held ([`Prepared::clear`]), so no statement ever runs or finalizes while the other
//! thread uses the connection.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use rusqlite::{Connection, PrepFlags, Statement};

/// Kept statements of one connection.
#[derive(Default)]
pub(super) struct Prepared {
    /// By the address and length of their text.
    statements: HashMap<(usize, usize), Statement<'static>, ahash::RandomState>,
    /// The connection they were prepared on (its address), checked on each use.
    conn: usize,
}

// SAFETY: a `Statement` is not `Send` because it refers to its connection, which may not be
// used from two threads at once. These are used and dropped only by `get` and `clear`, which
// take the connection's mutex guard: the mutex orders every use of the connection, whichever
// thread holds the store.
unsafe impl Send for Prepared {}

impl Prepared {
    /// The statement for `sql`, prepared on first use. `conn` is the store's connection, its
    /// mutex held by the caller for as long as the statement is used.
    pub(super) fn get<'s>(
        &'s mut self,
        conn: &'s Connection,
        sql: &'static str,
    ) -> rusqlite::Result<&'s mut Statement<'static>> {
        let addr = conn as *const Connection as usize;
        if self.conn != addr {
            // Only ever one connection per store; a new one must not find another's.
            assert!(
                self.statements.is_empty(),
                "statements of another connection"
            );
            self.conn = addr;
        }
        match self.statements.entry((sql.as_ptr() as usize, sql.len())) {
            Entry::Occupied(o) => Ok(o.into_mut()),
            Entry::Vacant(v) => {
                // SAFETY: the connection outlives the statement: the store drops its
                // statements (`clear`, from its `Drop`) before its handle on the connection,
                // and the connection never moves (it lives in an `Arc<Mutex<_>>`).
                let conn: &'static Connection = unsafe { &*(conn as *const Connection) };
                let stmt = conn.prepare_with_flags(sql, PrepFlags::SQLITE_PREPARE_PERSISTENT)?;
                Ok(v.insert(stmt))
            }
        }
    }

    /// Finalizes every statement; `conn` is the guard of the connection's mutex.
    pub(super) fn clear(&mut self, _conn: &Connection) {
        self.statements.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_is_prepared_once_and_reused() {
        let conn = std::sync::Mutex::new(Connection::open_in_memory().unwrap());
        let mut prepared = Prepared::default();
        const SQL: &str = "SELECT ?1 + 1";
        let guard = conn.lock().unwrap();
        for i in 0..3i64 {
            let n: i64 = prepared
                .get(&guard, SQL)
                .unwrap()
                .query_row([i], |r| r.get(0))
                .unwrap();
            assert_eq!(n, i + 1);
        }
        assert_eq!(prepared.statements.len(), 1);
        prepared.clear(&guard);
        assert!(prepared.statements.is_empty());
    }
}
