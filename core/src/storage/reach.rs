//! Which tables a plugin's SQL reaches: those the row writer writes, or only others.
//!
//! A statement that reads or changes the key rows (or the tables their triggers and the
//! queued metadata figures write) needs the row writer's queue applied first, and a change
//! to them ends the reads of the committed file until the next commit
//! ([`super::RowWriter::tables_rewritten`]). Most plugin SQL does neither: the write-behind
//! queue's tables, a search index, an application's own tables. Applying the queue before
//! each such statement cost the executor about 8 ms per megabyte the row writer's window
//! held, on every `WB.*` command beside a write load, and kept the window small.
//!
//! SQLite says what a statement touches while it prepares it, through the authorizer
//! callback: every table and column read or written, by the statement and by the triggers
//! it fires. The answer is kept per SQL text, so a statement is classified once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::{Batch, Connection};

/// The tables the row writer writes: the key rows and their long values, the metadata
/// figures queued with them, and what the key table's triggers write; and the element rows
/// and the sorted sets' score index, which the row writer queues too
/// (`super::element_rows`) and the element cache holds some of (`super::element_cache`).
const ROW_TABLES: [&str; 7] = [
    "keys",
    "key_values",
    "meta",
    "db_stats",
    "lazyfree",
    "elements",
    "zset_scores",
];

/// Distinct SQL texts remembered; past it the memory starts over (plugins use a handful of
/// fixed statements, but one that builds its SQL from its input must not grow it forever).
const REMEMBERED: usize = 512;

/// The classification of the SQL texts seen so far.
#[derive(Default)]
pub(super) struct Reach {
    known: HashMap<String, bool, ahash::RandomState>,
}

impl Reach {
    /// The answer for `sql`, if it was classified already (no connection needed).
    pub(super) fn known(&self, sql: &str) -> Option<bool> {
        self.known.get(sql).copied()
    }

    /// Whether `sql` (a single statement, or with `batch` several) may read or change the
    /// row writer's tables, or does what cannot be told apart from that (a PRAGMA, a
    /// transaction or savepoint, ATTACH, a virtual table). A statement that does not prepare
    /// (in a batch, one over a table an earlier statement creates) counts as reaching them.
    /// `conn` must be held by the caller: the callback is the connection's, for the
    /// preparation alone.
    pub(super) fn reaches_rows(&mut self, conn: &Connection, sql: &str, batch: bool) -> bool {
        if let Some(reaches) = self.known(sql) {
            return reaches;
        }
        let reaches = classify(conn, sql, batch);
        if self.known.len() >= REMEMBERED {
            self.known.clear();
        }
        self.known.insert(sql.to_owned(), reaches);
        reaches
    }
}

/// Prepares `sql` (not running it) with an authorizer that notes any action [`reaches`]
/// flags.
fn classify(conn: &Connection, sql: &str, batch: bool) -> bool {
    let hit = Arc::new(AtomicBool::new(false));
    let flag = hit.clone();
    conn.authorizer(Some(move |ctx: AuthContext<'_>| {
        if reaches(&ctx.action) {
            flag.store(true, Ordering::Relaxed);
        }
        Authorization::Allow
    }));
    let prepared = if batch {
        Batch::new(conn, sql).try_for_each(|statement| statement.map(drop))
    } else {
        conn.prepare(sql).map(drop)
    };
    conn.authorizer(None::<fn(AuthContext<'_>) -> Authorization>);
    prepared.is_err() || hit.load(Ordering::Relaxed)
}

/// Whether one action a statement takes may involve the row writer's tables.
fn reaches(action: &AuthAction<'_>) -> bool {
    use AuthAction as A;
    let row_table = |t: &str| ROW_TABLES.iter().any(|r| r.eq_ignore_ascii_case(t));
    match action {
        A::Read { table_name, .. }
        | A::Insert { table_name }
        | A::Update { table_name, .. }
        | A::Delete { table_name }
        | A::DropTable { table_name }
        | A::AlterTable { table_name, .. }
        | A::CreateIndex { table_name, .. }
        | A::DropIndex { table_name, .. }
        | A::CreateTrigger { table_name, .. }
        | A::DropTrigger { table_name, .. }
        | A::CreateTempTrigger { table_name, .. }
        | A::DropTempTrigger { table_name, .. } => row_table(table_name),
        A::Select
        | A::Recursive
        | A::Function { .. }
        | A::CreateTable { .. }
        | A::CreateTempTable { .. }
        | A::DropTempTable { .. }
        | A::CreateTempIndex { .. }
        | A::DropTempIndex { .. }
        | A::CreateView { .. }
        | A::CreateTempView { .. }
        | A::DropView { .. }
        | A::DropTempView { .. }
        // (CREATE INDEX asks for a REINDEX of the new index.) Rebuilding an index or its
        // statistics changes no row: rows applied later keep both up to date.
        | A::Reindex { .. }
        | A::Analyze { .. } => false,
        // PRAGMA, BEGIN/COMMIT, SAVEPOINT, ATTACH/DETACH, virtual tables, and whatever a
        // later SQLite adds.
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_like() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE keys (db INTEGER, key BLOB, value BLOB);
             CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER);
             CREATE TABLE wb_queue (id INTEGER PRIMARY KEY, op BLOB);
             CREATE TABLE audit (n INTEGER);
             CREATE TRIGGER wb_counts AFTER INSERT ON wb_queue BEGIN
                 INSERT INTO audit VALUES (1);
             END;
             CREATE TABLE wb_touching (n INTEGER);
             CREATE TRIGGER wb_touching_keys AFTER INSERT ON wb_touching BEGIN
                 DELETE FROM keys WHERE db = NEW.n;
             END;
             CREATE VIEW key_names AS SELECT key FROM keys;",
        )
        .unwrap();
        conn
    }

    #[test]
    fn statements_over_other_tables_do_not_reach_the_rows() {
        let conn = store_like();
        let mut reach = Reach::default();
        for sql in [
            "INSERT INTO wb_queue (op) VALUES (?1)",
            "SELECT id, op FROM wb_queue ORDER BY id LIMIT 100",
            "DELETE FROM wb_queue WHERE id <= ?1",
            "SELECT count(*) FROM sqlite_master",
            "CREATE TABLE IF NOT EXISTS wb_more (x)",
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3)
             SELECT i FROM n",
        ] {
            assert!(!reach.reaches_rows(&conn, sql, false), "{sql}");
        }
        assert!(!reach.reaches_rows(
            &conn,
            "CREATE TABLE IF NOT EXISTS wb_queue (id INTEGER PRIMARY KEY, op BLOB);
             CREATE INDEX IF NOT EXISTS wb_queue_op ON wb_queue (op);",
            true
        ));
    }

    #[test]
    fn statements_over_the_rows_their_triggers_views_and_pragmas_reach_them() {
        let conn = store_like();
        let mut reach = Reach::default();
        for sql in [
            "SELECT count(*) FROM keys",
            "SELECT value FROM META WHERE name = 'x'",
            "UPDATE keys SET value = x'00'",
            // A trigger of the plugin's table that writes the key rows.
            "INSERT INTO wb_touching VALUES (1)",
            // A view over them.
            "SELECT key FROM key_names",
            "PRAGMA max_page_count = 100",
            "PRAGMA page_count",
            "BEGIN",
            // Does not prepare: counted as reaching.
            "SELECT * FROM no_such_table",
        ] {
            assert!(reach.reaches_rows(&conn, sql, false), "{sql}");
        }
        // One statement of a batch is enough; a later one over a table the batch creates
        // does not prepare beforehand.
        assert!(reach.reaches_rows(
            &conn,
            "INSERT INTO audit VALUES (2); SELECT * FROM keys;",
            true
        ));
        assert!(reach.reaches_rows(
            &conn,
            "CREATE TABLE t2 (x); INSERT INTO t2 VALUES (1);",
            true
        ));
    }

    #[test]
    fn the_answer_is_kept_per_text_and_the_connection_left_without_a_callback() {
        let conn = store_like();
        let mut reach = Reach::default();
        assert!(!reach.reaches_rows(&conn, "SELECT * FROM audit", false));
        assert!(reach.reaches_rows(&conn, "SELECT * FROM keys", false));
        assert_eq!(reach.known.len(), 2);
        assert!(!reach.reaches_rows(&conn, "SELECT * FROM audit", false));
        // No authorizer left behind: statements prepare and run as before.
        conn.execute("INSERT INTO keys VALUES (0, x'61', x'62')", [])
            .unwrap();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
    }
}
