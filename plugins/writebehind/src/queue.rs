//! The pending work, kept in the keyspace's own SQLite file through the plugin SQL API, so
//! that it commits with the executor's group commit: an acknowledged WB.* survives a crash.
//! Tables (all `wb_...`):
//!
//! - `wb_counters`: one row per (connection, table, row, column): the pending `delta` and the
//!   `base` read from the application table (NULL until read).
//! - `wb_updates`: the last value written per (connection, table, row, column), with the
//!   sequence number of the write (so a flush removes only what it applied).
//! - `wb_inserts`: queued rows, in order (`id`).
//! - `wb_claims`: the flush in progress per (connection, table): its id and exactly what it
//!   applies. Written and committed before the application database is touched; removed,
//!   with the applied work, once that database has committed (see [`crate::flusher`]).
//! - `wb_meta`: this server's flush-id prefix and the next flush number.

use respite_core::plugin::api::{Engine, SqlValue, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::sql::Num;

/// The tables, created at start.
pub const TABLES: &str = "
CREATE TABLE IF NOT EXISTS wb_counters (
    conn  TEXT NOT NULL,
    tbl   TEXT NOT NULL,
    row   TEXT NOT NULL,
    col   TEXT NOT NULL,
    delta NOT NULL,
    base,
    PRIMARY KEY (conn, tbl, row, col)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS wb_updates (
    conn  TEXT NOT NULL,
    tbl   TEXT NOT NULL,
    row   TEXT NOT NULL,
    col   TEXT NOT NULL,
    value TEXT NOT NULL,
    seq   INTEGER NOT NULL,
    PRIMARY KEY (conn, tbl, row, col)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS wb_inserts (
    id   INTEGER PRIMARY KEY,
    conn TEXT NOT NULL,
    tbl  TEXT NOT NULL,
    row  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS wb_inserts_group ON wb_inserts (conn, tbl, id);
CREATE TABLE IF NOT EXISTS wb_claims (
    flush_id TEXT PRIMARY KEY,
    conn     TEXT NOT NULL,
    tbl      TEXT NOT NULL,
    payload  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS wb_meta (
    k TEXT PRIMARY KEY,
    v NOT NULL
);
";

/// One application table of one connection: the unit of a flush.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Group {
    /// The connection's name.
    pub conn: String,
    /// The table.
    pub table: String,
}

impl Group {
    fn params(&self) -> [SqlValue; 2] {
        [text(&self.conn), text(&self.table)]
    }
}

fn text(s: &str) -> SqlValue {
    SqlValue::Text(s.to_string())
}

fn num_param(n: Num) -> SqlValue {
    match n {
        Num::Int(i) => SqlValue::Integer(i),
        Num::Real(f) => SqlValue::Real(f),
    }
}

fn cell_num(v: &SqlValue) -> Option<Num> {
    match v {
        SqlValue::Integer(i) => Some(Num::Int(*i)),
        SqlValue::Real(f) => Some(Num::Real(*f)),
        SqlValue::Text(t) => Num::parse(t),
        _ => None,
    }
}

fn cell_text(v: Option<&SqlValue>) -> String {
    match v {
        Some(SqlValue::Text(t)) => t.clone(),
        Some(SqlValue::Blob(b)) => String::from_utf8_lossy(b).into_owned(),
        Some(SqlValue::Integer(i)) => i.to_string(),
        _ => String::new(),
    }
}

fn cell_int(v: Option<&SqlValue>) -> i64 {
    match v {
        Some(SqlValue::Integer(i)) => *i,
        _ => 0,
    }
}

/// Creates the tables; returns this server's flush-id prefix (made once, then kept).
pub fn open(engine: &mut Engine, fresh_prefix: &str) -> Result<String, StoreError> {
    let exists = !engine
        .sql_query(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'wb_meta'",
            &[],
        )?
        .is_empty();
    if !exists {
        engine.sql_batch(TABLES)?;
    }
    let rows = engine.sql_query("SELECT v FROM wb_meta WHERE k = 'instance'", &[])?;
    if let Some(row) = rows.first() {
        return Ok(cell_text(row.first()));
    }
    engine.sql_execute(
        "INSERT INTO wb_meta (k, v) VALUES ('instance', ?1)",
        &[text(fresh_prefix)],
    )?;
    Ok(fresh_prefix.to_string())
}

/// The largest sequence number or insert id in use, to continue from after a restart.
pub fn max_seq(engine: &mut Engine) -> Result<i64, StoreError> {
    let rows = engine.sql_query(
        "SELECT MAX(m) FROM (SELECT MAX(seq) AS m FROM wb_updates UNION ALL SELECT MAX(id) FROM wb_inserts)",
        &[],
    )?;
    Ok(rows.first().map(|r| cell_int(r.first())).unwrap_or(0))
}

/// A counter's cached base (None: not read yet) and pending delta; None when unknown.
pub type Counter = (Option<Num>, Num);

/// The counter of `row`.`col`.
pub fn counter(
    engine: &mut Engine,
    g: &Group,
    row: &str,
    col: &str,
) -> Result<Option<Counter>, StoreError> {
    let [c, t] = g.params();
    let rows = engine.sql_query(
        "SELECT base, delta FROM wb_counters WHERE conn = ?1 AND tbl = ?2 AND row = ?3 AND col = ?4",
        &[c, t, text(row), text(col)],
    )?;
    Ok(rows.first().map(|r| {
        let base = r.first().and_then(cell_num);
        let delta = r.get(1).and_then(cell_num).unwrap_or(Num::Int(0));
        (base, delta)
    }))
}

/// Stores a counter (removing it when nothing is pending and no base is known).
pub fn set_counter(
    engine: &mut Engine,
    g: &Group,
    row: &str,
    col: &str,
    (base, delta): Counter,
) -> Result<(), StoreError> {
    let [c, t] = g.params();
    if base.is_none() && delta.is_zero() {
        engine.sql_execute(
            "DELETE FROM wb_counters WHERE conn = ?1 AND tbl = ?2 AND row = ?3 AND col = ?4",
            &[c, t, text(row), text(col)],
        )?;
        return Ok(());
    }
    engine.sql_execute(
        "INSERT OR REPLACE INTO wb_counters (conn, tbl, row, col, delta, base) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &[
            c,
            t,
            text(row),
            text(col),
            num_param(delta),
            base.map(num_param).unwrap_or(SqlValue::Null),
        ],
    )?;
    Ok(())
}

/// Records the last value written to `row`.`col`.
pub fn put_update(
    engine: &mut Engine,
    g: &Group,
    row: &str,
    col: &str,
    value: &str,
    seq: i64,
) -> Result<(), StoreError> {
    let [c, t] = g.params();
    engine.sql_execute(
        "INSERT OR REPLACE INTO wb_updates (conn, tbl, row, col, value, seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &[c, t, text(row), text(col), text(value), SqlValue::Integer(seq)],
    )?;
    Ok(())
}

/// Queues a row.
pub fn push_insert(engine: &mut Engine, g: &Group, id: i64, row: &str) -> Result<(), StoreError> {
    let [c, t] = g.params();
    engine.sql_execute(
        "INSERT INTO wb_inserts (id, conn, tbl, row) VALUES (?1, ?2, ?3, ?4)",
        &[SqlValue::Integer(id), c, t, text(row)],
    )?;
    Ok(())
}

/// How many rows `g` has queued.
pub fn queued_rows(engine: &mut Engine, g: &Group) -> Result<i64, StoreError> {
    let [c, t] = g.params();
    let rows = engine.sql_query(
        "SELECT COUNT(*) FROM wb_inserts WHERE conn = ?1 AND tbl = ?2",
        &[c, t],
    )?;
    Ok(rows.first().map(|r| cell_int(r.first())).unwrap_or(0))
}

/// Whether a flush of `g` is in progress (claimed, not finished).
pub fn has_claim(engine: &mut Engine, g: &Group) -> Result<bool, StoreError> {
    let [c, t] = g.params();
    Ok(!engine
        .sql_query(
            "SELECT 1 FROM wb_claims WHERE conn = ?1 AND tbl = ?2",
            &[c, t],
        )?
        .is_empty())
}

/// Whether the claim `flush_id` is stored (after its commit: it was not rolled back).
pub fn claim_stored(engine: &mut Engine, flush_id: &str) -> Result<bool, StoreError> {
    Ok(!engine
        .sql_query(
            "SELECT 1 FROM wb_claims WHERE flush_id = ?1",
            &[text(flush_id)],
        )?
        .is_empty())
}

/// What one flush applies to one application table, in one transaction.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claim {
    /// Unique across servers and restarts: recorded in the application database with the
    /// work, so that applying it twice is detected.
    pub flush_id: String,
    /// The table.
    pub group: Group,
    /// (row, column, delta).
    pub counters: Vec<(String, String, Value)>,
    /// (row, column, value, sequence).
    pub updates: Vec<(String, String, String, i64)>,
    /// (id, row as JSON), in queue order.
    pub inserts: Vec<(i64, String)>,
    /// More rows were queued than this flush takes.
    #[serde(skip)]
    pub more: bool,
    /// Ledger rows of earlier, finished flushes that this flush's transaction deletes.
    #[serde(skip)]
    pub prune: Vec<String>,
}

/// The flush in progress for `g`, or a new one taking the pending counters and updates and
/// the oldest `batch` queued rows; `None` when there is nothing to do. A new claim is
/// written in the open transaction: it is durable once that batch commits.
pub fn claim(
    engine: &mut Engine,
    g: &Group,
    batch: usize,
    prefix: &str,
) -> Result<Option<Claim>, StoreError> {
    let [c, t] = g.params();
    let rows = engine.sql_query(
        "SELECT payload FROM wb_claims WHERE conn = ?1 AND tbl = ?2",
        &[c, t],
    )?;
    if let Some(row) = rows.first() {
        let payload = cell_text(row.first());
        let mut claim: Claim = serde_json::from_str(&payload)
            .map_err(|e| StoreError::Corrupt(format!("writebehind claim: {e}")))?;
        claim.more = true;
        return Ok(Some(claim));
    }
    let [c, t] = g.params();
    let counters = engine
        .sql_query(
            "SELECT row, col, delta FROM wb_counters WHERE conn = ?1 AND tbl = ?2 AND delta != 0 ORDER BY row, col",
            &[c, t],
        )?
        .into_iter()
        .filter_map(|r| {
            let d = r.get(2).and_then(cell_num)?;
            Some((cell_text(r.first()), cell_text(r.get(1)), d.to_json()))
        })
        .collect::<Vec<_>>();
    let [c, t] = g.params();
    let updates = engine
        .sql_query(
            "SELECT row, col, value, seq FROM wb_updates WHERE conn = ?1 AND tbl = ?2 ORDER BY row, col",
            &[c, t],
        )?
        .into_iter()
        .map(|r| {
            (
                cell_text(r.first()),
                cell_text(r.get(1)),
                cell_text(r.get(2)),
                cell_int(r.get(3)),
            )
        })
        .collect::<Vec<_>>();
    let [c, t] = g.params();
    let mut inserts = engine
        .sql_query(
            "SELECT id, row FROM wb_inserts WHERE conn = ?1 AND tbl = ?2 ORDER BY id LIMIT ?3",
            &[c, t, SqlValue::Integer(batch as i64 + 1)],
        )?
        .into_iter()
        .map(|r| (cell_int(r.first()), cell_text(r.get(1))))
        .collect::<Vec<_>>();
    let more = inserts.len() > batch;
    inserts.truncate(batch);
    if counters.is_empty() && updates.is_empty() && inserts.is_empty() {
        return Ok(None);
    }
    let next = engine
        .sql_query("SELECT v FROM wb_meta WHERE k = 'flush_seq'", &[])?
        .first()
        .map(|r| cell_int(r.first()))
        .unwrap_or(0)
        + 1;
    engine.sql_execute(
        "INSERT OR REPLACE INTO wb_meta (k, v) VALUES ('flush_seq', ?1)",
        &[SqlValue::Integer(next)],
    )?;
    let claim = Claim {
        flush_id: format!("{prefix}-{next}"),
        group: g.clone(),
        counters,
        updates,
        inserts,
        more,
        prune: Vec::new(),
    };
    let payload = serde_json::to_string(&claim).unwrap_or_default();
    let [c, t] = g.params();
    engine.sql_execute(
        "INSERT INTO wb_claims (flush_id, conn, tbl, payload) VALUES (?1, ?2, ?3, ?4)",
        &[text(&claim.flush_id), c, t, text(&payload)],
    )?;
    Ok(Some(claim))
}

/// Removes what `claim` applied, now that the application database holds it: the deltas
/// (moved into the cached bases, which become the values `fresh` read back), the updates not overwritten since, the inserted rows, and
/// the claim itself. In one keyspace transaction.
pub fn finish(
    engine: &mut Engine,
    claim: &Claim,
    fresh: &[(String, String, Num)],
) -> Result<(), StoreError> {
    let g = &claim.group;
    for (row, col, delta) in &claim.counters {
        let Some(d) = Num::from_json(delta) else {
            continue;
        };
        let Some((base, pending)) = counter(engine, g, row, col)? else {
            continue;
        };
        let pending = pending.checked_sub(d).unwrap_or(Num::Int(0));
        // The column's value right after the update, when the database gave it back (it
        // holds every other writer's changes too); else the cached base plus the delta.
        let base = match fresh.iter().find(|(r, c, _)| r == row && c == col) {
            Some((_, _, v)) => Some(*v),
            None => base.and_then(|b| b.checked_add(d)),
        };
        set_counter(engine, g, row, col, (base, pending))?;
    }
    for (row, col, _, seq) in &claim.updates {
        let [c, t] = g.params();
        engine.sql_execute(
            "DELETE FROM wb_updates WHERE conn = ?1 AND tbl = ?2 AND row = ?3 AND col = ?4 AND seq = ?5",
            &[c, t, text(row), text(col), SqlValue::Integer(*seq)],
        )?;
    }
    if let Some((last, _)) = claim.inserts.last() {
        let [c, t] = g.params();
        engine.sql_execute(
            "DELETE FROM wb_inserts WHERE conn = ?1 AND tbl = ?2 AND id <= ?3",
            &[c, t, SqlValue::Integer(*last)],
        )?;
    }
    engine.sql_execute(
        "DELETE FROM wb_claims WHERE flush_id = ?1",
        &[text(&claim.flush_id)],
    )?;
    Ok(())
}

/// Pending work per table: counters with a delta, rows with updates, queued rows, and
/// whether a flush is in progress.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pending {
    /// Counters with a non-zero delta.
    pub counters: i64,
    /// Rows with pending updates.
    pub updates: i64,
    /// Queued rows.
    pub rows: i64,
    /// A flush is in progress (claimed, not finished).
    pub claimed: bool,
}

/// Pending work of every table that has some.
pub fn pending(
    engine: &mut Engine,
) -> Result<std::collections::BTreeMap<Group, Pending>, StoreError> {
    let mut out = std::collections::BTreeMap::<Group, Pending>::new();
    type Set = fn(&mut Pending, i64);
    let queries: [(&str, Set); 4] = [
        (
            "SELECT conn, tbl, COUNT(*) FROM wb_counters WHERE delta != 0 GROUP BY conn, tbl",
            |p, n| p.counters = n,
        ),
        (
            "SELECT conn, tbl, COUNT(DISTINCT row) FROM wb_updates GROUP BY conn, tbl",
            |p, n| p.updates = n,
        ),
        (
            "SELECT conn, tbl, COUNT(*) FROM wb_inserts GROUP BY conn, tbl",
            |p, n| p.rows = n,
        ),
        (
            "SELECT conn, tbl, COUNT(*) FROM wb_claims GROUP BY conn, tbl",
            |p, n| p.claimed = n > 0,
        ),
    ];
    for (sql, set) in queries {
        for r in engine.sql_query(sql, &[])? {
            let g = Group {
                conn: cell_text(r.first()),
                table: cell_text(r.get(1)),
            };
            set(out.entry(g).or_default(), cell_int(r.get(2)));
        }
    }
    Ok(out)
}
