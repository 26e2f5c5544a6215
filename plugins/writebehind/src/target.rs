//! The application databases: reading a counter's base, and applying a [`Claim`] in one
//! transaction that also records its flush id in `respite_wb_flushes`, a table of the
//! application database itself. A claim whose id is recorded there already (the target
//! committed, then Respite crashed before its own commit) is not applied again: that is what
//! makes every increment, update and insert land exactly once.
//!
//! SQLite runs on tokio's blocking pool (rusqlite); PostgreSQL through tokio-postgres, every
//! parameter sent as text so that the server parses it with the column's own type.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use tokio_postgres::types::{to_sql_checked, Format, IsNull, ToSql, Type};

use crate::config::TargetUrl;
use crate::queue::Claim;
use crate::sql::{self, Dialect, Num, Param, RowKey, Stmt};

/// The ledger of applied flushes, in SQLite.
const LEDGER_SQLITE: &str = "CREATE TABLE IF NOT EXISTS respite_wb_flushes (
    flush_id   TEXT PRIMARY KEY,
    tbl        TEXT NOT NULL,
    applied_at INTEGER NOT NULL
)";

/// The ledger of applied flushes, in PostgreSQL.
const LEDGER_POSTGRES: &str = "CREATE TABLE IF NOT EXISTS respite_wb_flushes (
    flush_id   TEXT PRIMARY KEY,
    tbl        TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)";

/// What applying a claim did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Applied {
    /// Rows the statements changed or inserted.
    pub rows: u64,
    /// UPDATEs that found no row (the row named by `where` does not exist).
    pub missing: u64,
    /// The flush id was recorded already: nothing was applied this time.
    pub already: bool,
    /// (row, column, value after the update) of each counter: its fresh base, with the
    /// changes of every other writer of the table.
    pub fresh: Vec<(String, String, Num)>,
}

/// One connection's database, with a PostgreSQL client kept between flushes.
pub enum Target {
    /// A SQLite file, and its connection, kept between flushes (opened again after an
    /// error).
    Sqlite(PathBuf, SqliteConn),
    /// A PostgreSQL server.
    Postgres {
        /// The connection string.
        url: String,
        /// The open client; dropped on an error and opened again.
        client: Option<tokio_postgres::Client>,
    },
}

impl Target {
    /// The database `url` names (not connected yet).
    pub fn new(url: TargetUrl) -> Target {
        match url {
            TargetUrl::Sqlite(p) => Target::Sqlite(p, SqliteConn::default()),
            TargetUrl::Postgres(url) => Target::Postgres { url, client: None },
        }
    }

    /// `table.col` of the row `key` as a number (0 when the row is missing or NULL).
    pub async fn read_base(&mut self, table: &str, key: &RowKey, col: &str) -> Result<Num, String> {
        match self {
            Target::Sqlite(path, conn) => {
                let (path, conn) = (path.clone(), Arc::clone(conn));
                let (table, key, col) = (table.to_string(), key.clone(), col.to_string());
                blocking(move || {
                    with_sqlite(&path, &conn, |c| sqlite_read_base(c, &table, &key, &col))
                })
                .await
            }
            Target::Postgres { .. } => {
                let mut s = Stmt::default();
                let wh = s.where_clause(Dialect::Postgres, key);
                s.sql = format!(
                    "SELECT ({})::text FROM {} WHERE {wh} LIMIT 1",
                    sql::quote(col),
                    sql::quote(table)
                );
                let client = self.pg().await?;
                let params = pg_params(&s.params);
                let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
                let result = client.query_opt(&s.sql, &refs).await;
                let row = self.pg_result(result)?;
                let cell: Option<String> = row.and_then(|r| r.get(0));
                Num::from_cell_text(cell.as_deref())
            }
        }
    }

    /// Applies `claim` in one transaction, unless its flush id is recorded already.
    pub async fn apply(&mut self, claim: &Claim) -> Result<Applied, String> {
        match self {
            Target::Sqlite(path, conn) => {
                let mut stmts = statements(Dialect::Sqlite, claim)?;
                stmts.push(prune(Dialect::Sqlite, &claim.prune));
                let (path, conn) = (path.clone(), Arc::clone(conn));
                let (id, table) = (claim.flush_id.clone(), claim.group.table.clone());
                blocking(move || {
                    with_sqlite(&path, &conn, |c| sqlite_apply(c, &id, &table, &stmts))
                })
                .await
            }
            Target::Postgres { .. } => {
                let mut stmts = statements(Dialect::Postgres, claim)?;
                stmts.push(prune(Dialect::Postgres, &claim.prune));
                let result = pg_apply(
                    self.pg().await?,
                    &claim.flush_id,
                    &claim.group.table,
                    &stmts,
                )
                .await;
                self.pg_result(result)
            }
        }
    }

    /// Drops the PostgreSQL client (after a timeout: the server ends the transaction the
    /// client had open when the connection closes).
    pub fn reset(&mut self) {
        if let Target::Postgres { client, .. } = self {
            *client = None;
        }
    }

    /// The PostgreSQL client, connecting (and creating the ledger) when there is none.
    async fn pg(&mut self) -> Result<&mut tokio_postgres::Client, String> {
        let Target::Postgres { url, client } = self else {
            return Err("not a PostgreSQL connection".into());
        };
        if client.as_ref().is_some_and(|c| c.is_closed()) {
            *client = None;
        }
        if client.is_none() {
            let connect = tokio_postgres::connect(url, tokio_postgres::NoTls);
            let (c, connection) = tokio::time::timeout(Duration::from_secs(10), connect)
                .await
                .map_err(|_| "connecting to PostgreSQL timed out".to_string())?
                .map_err(|e| pg_error(&e))?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::warn!(error = %e, "writebehind: PostgreSQL connection closed");
                }
            });
            c.batch_execute(LEDGER_POSTGRES)
                .await
                .map_err(|e| pg_error(&e))?;
            *client = Some(c);
        }
        client.as_mut().ok_or_else(|| "no PostgreSQL client".into())
    }

    /// Drops the client after an error that may have broken it.
    fn pg_result<T>(&mut self, r: Result<T, tokio_postgres::Error>) -> Result<T, String> {
        r.map_err(|e| {
            if let Target::Postgres { client, .. } = self {
                if e.as_db_error().is_none() {
                    *client = None;
                }
            }
            pg_error(&e)
        })
    }
}

/// The statements of a claim: one UPDATE per row for its counters, one per row for its
/// updated values, then the queued rows as multi-row INSERTs in queue order.
pub fn statements(dialect: Dialect, claim: &Claim) -> Result<Vec<Stmt>, String> {
    let table = &claim.group.table;
    let mut out = Vec::new();
    let mut counters: BTreeMap<&str, Vec<(String, Num)>> = BTreeMap::new();
    for (row, col, delta) in &claim.counters {
        let d = Num::from_json(delta).ok_or_else(|| format!("corrupt delta {delta}"))?;
        counters.entry(row).or_default().push((col.clone(), d));
    }
    for (row, deltas) in counters {
        out.push(sql::counters_update(
            dialect,
            table,
            &sql::row_from_text(row)?,
            &deltas,
        ));
    }
    let mut updates: BTreeMap<&str, Vec<(String, String)>> = BTreeMap::new();
    for (row, col, value, _) in &claim.updates {
        updates
            .entry(row)
            .or_default()
            .push((col.clone(), value.clone()));
    }
    for (row, values) in updates {
        out.push(sql::values_update(
            dialect,
            table,
            &sql::row_from_text(row)?,
            &values,
        ));
    }
    let rows = claim
        .inserts
        .iter()
        .map(|(_, r)| sql::parse_insert_row(r.as_bytes()))
        .collect::<Result<Vec<_>, _>>()?;
    out.extend(sql::inserts(dialect, table, &rows));
    Ok(out)
}

/// The DELETE of the ledger rows of earlier, finished flushes (an empty statement, skipped,
/// when there are none).
fn prune(dialect: Dialect, ids: &[String]) -> Stmt {
    let mut s = Stmt {
        ledger: true,
        ..Stmt::default()
    };
    if !ids.is_empty() {
        let phs: Vec<String> = ids
            .iter()
            .map(|id| s.bind(dialect, Param::Text(id.clone())))
            .collect();
        s.sql = format!(
            "DELETE FROM respite_wb_flushes WHERE flush_id IN ({})",
            phs.join(", ")
        );
    }
    s
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| format!("the SQLite worker failed: {e}"))?
}

/// A SQLite connection shared with the blocking pool.
pub type SqliteConn = Arc<Mutex<Option<rusqlite::Connection>>>;

/// Runs `f` on the kept connection (opening it, with the ledger, when there is none); an
/// error drops the connection, so the next call starts afresh.
fn with_sqlite<T>(
    path: &Path,
    conn: &SqliteConn,
    f: impl FnOnce(&mut rusqlite::Connection) -> Result<T, String>,
) -> Result<T, String> {
    let mut guard = conn
        .lock()
        .map_err(|_| "the SQLite connection is poisoned")?;
    if guard.is_none() {
        let c = rusqlite::Connection::open(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        c.busy_timeout(Duration::from_secs(5))
            .map_err(|e| e.to_string())?;
        c.execute_batch(LEDGER_SQLITE).map_err(|e| e.to_string())?;
        *guard = Some(c);
    }
    let c = guard.as_mut().ok_or("no SQLite connection")?;
    let result = f(c);
    if result.is_err() {
        *guard = None;
    }
    result
}

fn sqlite_value(p: &Param) -> rusqlite::types::Value {
    use rusqlite::types::Value;
    match p {
        Param::Null => Value::Null,
        Param::Bool(b) => Value::Integer(*b as i64),
        Param::Int(i) => Value::Integer(*i),
        Param::Real(f) => Value::Real(*f),
        Param::Text(s) => Value::Text(s.clone()),
    }
}

/// A SQLite cell as a counter value (NULL: 0; text that is no number: none).
fn sqlite_num(v: rusqlite::types::Value) -> Option<Num> {
    use rusqlite::types::Value;
    match v {
        Value::Null => Some(Num::Int(0)),
        Value::Integer(i) => Some(Num::Int(i)),
        Value::Real(f) => Some(Num::Real(f)),
        Value::Text(t) => Num::parse(&t),
        Value::Blob(_) => None,
    }
}

fn sqlite_read_base(
    conn: &mut rusqlite::Connection,
    table: &str,
    key: &RowKey,
    col: &str,
) -> Result<Num, String> {
    use rusqlite::types::Value;
    let mut s = Stmt::default();
    let wh = s.where_clause(Dialect::Sqlite, key);
    s.sql = format!(
        "SELECT {} FROM {} WHERE {wh} LIMIT 1",
        sql::quote(col),
        sql::quote(table)
    );
    let params: Vec<Value> = s.params.iter().map(sqlite_value).collect();
    let mut stmt = conn.prepare_cached(&s.sql).map_err(|e| e.to_string())?;
    let mut rows = stmt
        .query(rusqlite::params_from_iter(params))
        .map_err(|e| e.to_string())?;
    let cell = match rows.next().map_err(|e| e.to_string())? {
        Some(row) => row.get::<_, Value>(0).map_err(|e| e.to_string())?,
        None => Value::Null,
    };
    match cell {
        Value::Null => Ok(Num::Int(0)),
        Value::Integer(i) => Ok(Num::Int(i)),
        Value::Real(f) => Ok(Num::Real(f)),
        Value::Text(t) => Num::from_cell_text(Some(&t)),
        Value::Blob(_) => Err("the column holds a blob, not a number".into()),
    }
}

fn sqlite_apply(
    conn: &mut rusqlite::Connection,
    flush_id: &str,
    table: &str,
    stmts: &[Stmt],
) -> Result<Applied, String> {
    let e = |e: rusqlite::Error| e.to_string();
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(e)?;
    let recorded: bool = tx
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM respite_wb_flushes WHERE flush_id = ?1)",
            [flush_id],
            |r| r.get(0),
        )
        .map_err(e)?;
    if recorded {
        return Ok(Applied {
            already: true,
            ..Applied::default()
        });
    }
    let (mut rows, mut missing, mut fresh) = (0u64, 0u64, Vec::new());
    for s in stmts.iter().filter(|s| !s.sql.is_empty()) {
        let params: Vec<rusqlite::types::Value> = s.params.iter().map(sqlite_value).collect();
        let n = match &s.returns {
            None => tx
                .execute(&s.sql, rusqlite::params_from_iter(params))
                .map_err(e)? as u64,
            Some((row, cols)) => {
                let mut stmt = tx.prepare_cached(&s.sql).map_err(e)?;
                let mut out = stmt.query(rusqlite::params_from_iter(params)).map_err(e)?;
                let mut n = 0u64;
                while let Some(r) = out.next().map_err(e)? {
                    if n == 0 {
                        for (i, col) in cols.iter().enumerate() {
                            let v: rusqlite::types::Value = r.get(i).map_err(e)?;
                            if let Some(num) = sqlite_num(v) {
                                fresh.push((row.clone(), col.clone(), num));
                            }
                        }
                    }
                    n += 1;
                }
                n
            }
        };
        if !s.ledger {
            rows += n;
            missing += u64::from(n == 0 && s.is_update());
        }
    }
    tx.execute(
        "INSERT INTO respite_wb_flushes (flush_id, tbl, applied_at) VALUES (?1, ?2, CAST(strftime('%s', 'now') AS INTEGER))",
        [flush_id, table],
    )
    .map_err(e)?;
    tx.commit().map_err(e)?;
    Ok(Applied {
        rows,
        missing,
        already: false,
        fresh,
    })
}

async fn pg_apply(
    client: &mut tokio_postgres::Client,
    flush_id: &str,
    table: &str,
    stmts: &[Stmt],
) -> Result<Applied, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    let recorded = tx
        .query_opt(
            "SELECT 1 FROM respite_wb_flushes WHERE flush_id = $1",
            &[&flush_id],
        )
        .await?
        .is_some();
    if recorded {
        tx.rollback().await?;
        return Ok(Applied {
            already: true,
            ..Applied::default()
        });
    }
    let (mut rows, mut missing, mut fresh) = (0u64, 0u64, Vec::new());
    for s in stmts.iter().filter(|s| !s.sql.is_empty()) {
        let params = pg_params(&s.params);
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as _).collect();
        let n = match &s.returns {
            None => tx.execute(&s.sql, &refs).await?,
            Some((row, cols)) => {
                let out = tx.query(&s.sql, &refs).await?;
                if let Some(r) = out.first() {
                    for (i, col) in cols.iter().enumerate() {
                        let v: Option<String> = r.get(i);
                        if let Ok(num) = Num::from_cell_text(v.as_deref()) {
                            fresh.push((row.clone(), col.clone(), num));
                        }
                    }
                }
                out.len() as u64
            }
        };
        if !s.ledger {
            rows += n;
            missing += u64::from(n == 0 && s.is_update());
        }
    }
    tx.execute(
        "INSERT INTO respite_wb_flushes (flush_id, tbl) VALUES ($1, $2)",
        &[&flush_id, &table],
    )
    .await?;
    tx.commit().await?;
    Ok(Applied {
        rows,
        missing,
        already: false,
        fresh,
    })
}

/// A PostgreSQL error with the server's message when there is one.
fn pg_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("PostgreSQL: {}: {}", db.severity(), db.message()),
        None => format!("PostgreSQL: {e}"),
    }
}

/// A parameter sent in text format: PostgreSQL parses it as the type it infers for the
/// placeholder (the column's), so one representation fits integer, numeric, text, boolean,
/// timestamp and JSON columns alike.
#[derive(Debug)]
struct TextParam(Option<String>);

impl ToSql for TextParam {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match &self.0 {
            None => Ok(IsNull::Yes),
            Some(s) => {
                out.extend_from_slice(s.as_bytes());
                Ok(IsNull::No)
            }
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &Type) -> Format {
        Format::Text
    }

    to_sql_checked!();
}

fn pg_params(params: &[Param]) -> Vec<TextParam> {
    params.iter().map(|p| TextParam(p.as_text())).collect()
}
