//! WB.INCR, WB.GET, WB.UPDATE, WB.INSERT, WB.FLUSH and WB.STATS.
//!
//! Every command checks its arguments completely before it queues anything: an unknown
//! connection, an invalid table or column name, bad JSON or a non-numeric delta is an error
//! and changes nothing. What a command queues is written to the keyspace's file in the
//! command's own transaction ([`crate::queue`]), so its reply means it is durable.

use bytes::Bytes;
use respite_core::plugin::api::flags::*;
use respite_core::plugin::api::{BlockSpec, ClientId, CommandSpec, Ctx, Engine, Reply, Unblock};

use crate::flusher::Request;
use crate::queue::{self, Group};
use crate::sql::{self, Num};
use crate::state;

const WRITE_CATS: &[&str] = &["write", "slow"];
const READ_CATS: &[&str] = &["read", "slow"];

/// The plugin's commands.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("wb.incr", 6, wb_incr)
        .flags(WRITE | DENYOOM)
        .categories(WRITE_CATS)
        .doc(
            "writebehind",
            "Add a delta to a counter column of an application table row, flushed later; returns the current total",
            "1.0.0",
            "O(1)",
        ),
    CommandSpec::new("wb.get", 5, wb_get)
        .flags(READONLY)
        .categories(READ_CATS)
        .doc(
            "writebehind",
            "The current total of a counter column: the table's value plus pending increments",
            "1.0.0",
            "O(1)",
        ),
    CommandSpec::new("wb.update", -6, wb_update)
        .flags(WRITE | DENYOOM)
        .categories(WRITE_CATS)
        .doc(
            "writebehind",
            "Set columns of an application table row, flushed later; the last write of each column wins",
            "1.0.0",
            "O(N) where N is the number of fields",
        ),
    CommandSpec::new("wb.insert", 4, wb_insert)
        .flags(WRITE | DENYOOM)
        .categories(WRITE_CATS)
        .doc(
            "writebehind",
            "Queue a row (a JSON object) for insertion into an application table, in batches",
            "1.0.0",
            "O(1)",
        ),
    CommandSpec::new("wb.flush", -1, wb_flush)
        .flags(NOSCRIPT)
        .categories(WRITE_CATS)
        .doc(
            "writebehind",
            "Flush pending writes now (all, one connection's, or one table's) and wait for it",
            "1.0.0",
            "O(N) where N is the number of pending writes",
        ),
    CommandSpec::new("wb.stats", 1, wb_stats)
        .flags(READONLY)
        .categories(READ_CATS)
        .doc(
            "writebehind",
            "Pending counters, updates and queued rows, flushes and failures per connection and table",
            "1.0.0",
            "O(N) where N is the number of tables",
        ),
];

fn err(msg: impl std::fmt::Display) -> Reply {
    Reply::Error(format!("ERR {msg}").into())
}

fn not_running() -> Reply {
    err("the writebehind plugin is not running")
}

fn utf8(arg: &Bytes, what: &str) -> Result<String, Reply> {
    std::str::from_utf8(arg)
        .map(str::to_string)
        .map_err(|_| err(format!("{what} must be UTF-8 text")))
}

/// A counter's total as a reply: an integer, or a double once a float was added.
fn num_reply(n: Num) -> Reply {
    match n {
        Num::Int(i) => Reply::Integer(i),
        Num::Real(f) => Reply::Double(f),
    }
}

/// The connection, table and row of a command, validated: `(group, canonical row key)`.
fn target(
    ctx: &mut Ctx<'_>,
    conn: &Bytes,
    table: &Bytes,
    row: &Bytes,
) -> Result<(Group, String), Reply> {
    let conn = utf8(conn, "the connection name")?;
    let table = utf8(table, "the table name")?;
    let Some(st) = state(ctx.engine()) else {
        return Err(not_running());
    };
    let Some(c) = st.config.connections.get(&conn) else {
        return Err(err(format!(
            "unknown writebehind connection '{conn}' (see [plugins.writebehind.connections])"
        )));
    };
    if !sql::valid_table(&table) {
        return Err(err(format!(
            "invalid table name '{table}' (letters, digits and '_', optionally schema.table)"
        )));
    }
    let key = sql::parse_where(row, &c.primary_key).map_err(err)?;
    Ok((Group { conn, table }, sql::row_text(&key)))
}

fn column(arg: &Bytes) -> Result<String, Reply> {
    let col = utf8(arg, "a column name")?;
    if sql::valid_ident(&col) {
        Ok(col)
    } else {
        Err(err(format!(
            "invalid column name '{col}' (letters, digits and '_')"
        )))
    }
}

/// Tells the flusher that `g` has work.
fn mark_dirty(engine: &mut Engine, g: &Group) {
    if let Some(st) = state(engine) {
        if !st.dirty.contains(g) {
            st.dirty.insert(g.clone());
        }
    }
}

fn store_err(e: impl std::fmt::Display) -> Reply {
    err(e)
}

/// Forgets a parked client's pending base read when it leaves unserved.
fn on_unblock(engine: &mut Engine, id: ClientId, _why: Unblock) {
    if let Some(st) = state(engine) {
        st.parked.remove(&id);
    }
}

/// Parks the client and hands `req` to the flusher; the reply comes from there.
fn park(ctx: &mut Ctx<'_>, req: Request, in_transaction: &str) -> Reply {
    let tx = match state(ctx.engine()).and_then(|st| st.tx.clone()) {
        Some(tx) => tx,
        None => return err("the writebehind flusher is not running"),
    };
    let spec = BlockSpec {
        deadline: None,
        timeout_reply: Reply::Null,
        on_unblock,
    };
    if tx.is_closed() {
        return err("the writebehind flusher has stopped");
    }
    if !ctx.block(spec) {
        return err(in_transaction);
    }
    let id = ctx.client_id();
    if tx.send(req).is_err() {
        ctx.engine()
            .serve_blocked(id, err("the writebehind flusher has stopped"));
        return Reply::Null;
    }
    if let Some(st) = state(ctx.engine()) {
        st.parked.insert(id);
    }
    Reply::Null
}

const BASE_IN_TRANSACTION: &str = "the counter's current value is not known yet and cannot be read from its table inside MULTI or a script; run WB.GET for it first";

/// `WB.INCR conn table where column delta` -> the current total.
fn wb_incr(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let (g, row) = match target(ctx, &argv[1], &argv[2], &argv[3]) {
        Ok(t) => t,
        Err(e) => return e,
    };
    let col = match column(&argv[4]) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let Some(delta) = std::str::from_utf8(&argv[5]).ok().and_then(Num::parse) else {
        return err("delta is not a number");
    };
    match queue::counter(ctx.engine(), &g, &row, &col) {
        Ok(Some((Some(base), pending))) => {
            let Some(pending) = pending.checked_add(delta) else {
                return err("increment or decrement would overflow");
            };
            let Some(total) = base.checked_add(pending) else {
                return err("increment or decrement would overflow");
            };
            if let Err(e) = queue::set_counter(ctx.engine(), &g, &row, &col, (Some(base), pending))
            {
                return store_err(e);
            }
            mark_dirty(ctx.engine(), &g);
            num_reply(total)
        }
        Ok(_) => {
            let client = ctx.client_id();
            let req = Request::Base {
                client,
                group: g,
                row,
                col,
                incr: Some(delta),
            };
            park(ctx, req, BASE_IN_TRANSACTION)
        }
        Err(e) => store_err(e),
    }
}

/// `WB.GET conn table where column` -> the current total.
fn wb_get(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let (g, row) = match target(ctx, &argv[1], &argv[2], &argv[3]) {
        Ok(t) => t,
        Err(e) => return e,
    };
    let col = match column(&argv[4]) {
        Ok(c) => c,
        Err(e) => return e,
    };
    match queue::counter(ctx.engine(), &g, &row, &col) {
        Ok(Some((Some(base), pending))) => match base.checked_add(pending) {
            Some(total) => num_reply(total),
            None => err("the counter's total overflows"),
        },
        Ok(_) => {
            let client = ctx.client_id();
            let req = Request::Base {
                client,
                group: g,
                row,
                col,
                incr: None,
            };
            park(ctx, req, BASE_IN_TRANSACTION)
        }
        Err(e) => store_err(e),
    }
}

/// Completes a parked WB.INCR / WB.GET once the flusher read the base: caches it, adds the
/// delta, and returns the reply (`None` when the client left: nothing is queued then).
pub(crate) fn complete_base(
    engine: &mut Engine,
    client: ClientId,
    g: &Group,
    row: &str,
    col: &str,
    incr: Option<Num>,
    base: Result<Num, String>,
) -> Option<Reply> {
    if !state(engine)?.parked.remove(&client) {
        return None;
    }
    let read = match base {
        Ok(b) => b,
        Err(e) => {
            return Some(err(format!(
                "cannot read {}.{col} of connection '{}': {e}; nothing was queued",
                g.table, g.conn
            )))
        }
    };
    let (cached, pending) = match queue::counter(engine, g, row, col) {
        Ok(c) => c.unwrap_or((None, Num::Int(0))),
        Err(e) => return Some(store_err(e)),
    };
    let base = cached.unwrap_or(read);
    let pending = match incr {
        Some(d) => match pending.checked_add(d) {
            Some(p) => p,
            None => return Some(err("increment or decrement would overflow")),
        },
        None => pending,
    };
    let Some(total) = base.checked_add(pending) else {
        return Some(err("increment or decrement would overflow"));
    };
    if let Err(e) = queue::set_counter(engine, g, row, col, (Some(base), pending)) {
        return Some(store_err(e));
    }
    if incr.is_some() {
        mark_dirty(engine, g);
    }
    Some(num_reply(total))
}

/// `WB.UPDATE conn table where field value [field value ...]` -> OK.
fn wb_update(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    if (argv.len() - 4) % 2 != 0 {
        return Reply::error("ERR wrong number of arguments for 'wb.update' command");
    }
    let (g, row) = match target(ctx, &argv[1], &argv[2], &argv[3]) {
        Ok(t) => t,
        Err(e) => return e,
    };
    let mut fields = Vec::with_capacity((argv.len() - 4) / 2);
    for pair in argv[4..].chunks(2) {
        let col = match column(&pair[0]) {
            Ok(c) => c,
            Err(e) => return e,
        };
        let value = match utf8(&pair[1], "a value") {
            Ok(v) => v,
            Err(e) => return e,
        };
        fields.push((col, value));
    }
    for (col, value) in fields {
        let Some(st) = state(ctx.engine()) else {
            return not_running();
        };
        let seq = st.next_seq;
        st.next_seq += 1;
        if let Err(e) = queue::put_update(ctx.engine(), &g, &row, &col, &value, seq) {
            return store_err(e);
        }
    }
    mark_dirty(ctx.engine(), &g);
    Reply::ok()
}

/// `WB.INSERT conn table row` -> the number of rows queued for that table (counted in
/// memory since the last flush of the table, which recounts them).
fn wb_insert(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let conn = match utf8(&argv[1], "the connection name") {
        Ok(c) => c,
        Err(e) => return e,
    };
    let table = match utf8(&argv[2], "the table name") {
        Ok(t) => t,
        Err(e) => return e,
    };
    let Some(st) = state(ctx.engine()) else {
        return not_running();
    };
    if !st.config.connections.contains_key(&conn) {
        return err(format!(
            "unknown writebehind connection '{conn}' (see [plugins.writebehind.connections])"
        ));
    }
    if !sql::valid_table(&table) {
        return err(format!(
            "invalid table name '{table}' (letters, digits and '_', optionally schema.table)"
        ));
    }
    let row = match sql::parse_insert_row(&argv[3]) {
        Ok(r) => serde_json::Value::Object(r).to_string(),
        Err(e) => return err(e),
    };
    let id = st.next_seq;
    st.next_seq += 1;
    let max = st.config.max_queue_size as i64;
    let g = Group { conn, table };
    if let Err(e) = queue::push_insert(ctx.engine(), &g, id, &row) {
        return store_err(e);
    }
    let Some(st) = state(ctx.engine()) else {
        return not_running();
    };
    if !st.dirty.contains(&g) {
        st.dirty.insert(g.clone());
    }
    let queued = st.queued.entry(g.clone()).or_insert(0);
    *queued += 1;
    let queued = *queued;
    if queued > max && !st.early.contains(&g) {
        if let Some(tx) = &st.tx {
            let _ = tx.send(Request::Flush {
                client: None,
                conn: Some(g.conn.clone()),
                table: Some(g.table.clone()),
            });
        }
        st.early.insert(g);
    }
    Reply::Integer(queued)
}

/// `WB.FLUSH [conn [table]]` -> OK once flushed, or an error naming what failed.
fn wb_flush(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    if argv.len() > 3 {
        return Reply::error("ERR wrong number of arguments for 'wb.flush' command");
    }
    let conn = match argv
        .get(1)
        .map(|a| utf8(a, "the connection name"))
        .transpose()
    {
        Ok(c) => c,
        Err(e) => return e,
    };
    let table = match argv.get(2).map(|a| utf8(a, "the table name")).transpose() {
        Ok(t) => t,
        Err(e) => return e,
    };
    let Some(st) = state(ctx.engine()) else {
        return not_running();
    };
    if let Some(c) = &conn {
        if !st.config.connections.contains_key(c) {
            return err(format!(
                "unknown writebehind connection '{c}' (see [plugins.writebehind.connections])"
            ));
        }
    }
    if table.as_deref().is_some_and(|t| !sql::valid_table(t)) {
        return err("invalid table name");
    }
    if conn.is_none() {
        // Everything: the keyspace's write-behind changes too.
        if let Err(e) = ctx.engine().flush_keyspace() {
            return err(format!("flushing the keyspace failed: {e}"));
        }
    }
    let client = ctx.client_id();
    park(
        ctx,
        Request::Flush {
            client: Some(client),
            conn,
            table,
        },
        "WB.FLUSH waits for the flush and cannot run inside MULTI",
    )
}

/// `WB.STATS` -> one map per connection and table.
fn wb_stats(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    let pending = match queue::pending(ctx.engine()) {
        Ok(p) => p,
        Err(e) => return store_err(e),
    };
    let Some(st) = state(ctx.engine()) else {
        return not_running();
    };
    let mut groups: Vec<Group> = pending.keys().cloned().collect();
    groups.extend(st.stats.keys().cloned());
    groups.sort();
    groups.dedup();
    let bulk = |s: &str| Reply::bulk(Bytes::copy_from_slice(s.as_bytes()));
    let out = groups
        .into_iter()
        .map(|g| {
            let p = pending.get(&g).cloned().unwrap_or_default();
            let s = st.stats.get(&g).cloned().unwrap_or_default();
            Reply::Map(vec![
                (bulk("connection"), bulk(&g.conn)),
                (bulk("table"), bulk(&g.table)),
                (bulk("pending_counters"), Reply::Integer(p.counters)),
                (bulk("pending_updates"), Reply::Integer(p.updates)),
                (bulk("queued_rows"), Reply::Integer(p.rows)),
                (bulk("flush_in_progress"), Reply::Integer(p.claimed as i64)),
                (bulk("flushes"), Reply::Integer(s.flushes as i64)),
                (bulk("rows_written"), Reply::Integer(s.rows_written as i64)),
                (
                    bulk("last_flush_rows"),
                    Reply::Integer(s.last_flush_rows as i64),
                ),
                (
                    bulk("recovered_flushes"),
                    Reply::Integer(s.recovered as i64),
                ),
                (bulk("missing_rows"), Reply::Integer(s.missing_rows as i64)),
                (bulk("failures"), Reply::Integer(s.failures as i64)),
                (
                    bulk("last_error"),
                    s.last_error.as_deref().map(bulk).unwrap_or(Reply::Null),
                ),
            ])
        })
        .collect();
    Reply::Array(out)
}
