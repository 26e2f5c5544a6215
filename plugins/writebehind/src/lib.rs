//! The `writebehind` plugin: buffered writes to application SQL tables, as commands (odac's
//! WriteBuffer model). Applications count views, touch last-seen times and log events
//! without a database round trip per request:
//!
//! - [`commands`]: WB.INCR and WB.GET (counters: the table's value read once, plus pending
//!   deltas), WB.UPDATE (last write wins per column; many updates of a row become one
//!   UPDATE), WB.INSERT (rows queued and inserted in batches), WB.FLUSH, WB.STATS.
//! - [`queue`]: the pending work, in the keyspace's own SQLite file (`wb_...` tables),
//!   committed with the executor's group commit: an acknowledged write survives kill -9.
//! - [`flusher`]: the background task that claims, applies and finishes flushes, one
//!   transaction per connection and table, exactly once across crashes.
//! - [`target`]: the application databases (SQLite files, PostgreSQL through tokio-postgres).
//! - [`sql`]: validated identifiers, `where` keys, bound values, the statements.
//! - [`config`]: `[plugins.writebehind]` and its `connections`.
//!
//! Written against the plugin API alone ([`respite_core::plugin::api`]). The keyspace's own
//! write-behind (`storage.durability = "write-behind"`) is the core's.
//!
//! Started by `[plugins] enabled = [..., "writebehind"]`.

pub mod commands;
pub mod config;
pub mod flusher;
pub mod queue;
pub mod sql;
pub mod target;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use respite_core::plugin::api::{ClientId, Engine, Plugin, PluginError, Registrar};
use tokio::sync::mpsc::UnboundedSender;

pub use config::WbConfig;
use queue::Group;

/// The plugin's name in `plugins.enabled` and `[plugins.writebehind]`.
pub const NAME: &str = "writebehind";

respite_core::plugin::api::builtin_plugin! {
    name: NAME,
    version: env!("CARGO_PKG_VERSION"),
    config: WbConfig,
    create: || Box::new(WriteBehind),
}

/// The plugin instance (its state lives in the engine).
struct WriteBehind;

/// Flush counters of one table since start (WB.STATS, INFO).
#[derive(Clone, Debug, Default)]
pub(crate) struct GroupStats {
    /// Flushes applied.
    pub flushes: u64,
    /// Rows the flushes' statements changed or inserted.
    pub rows_written: u64,
    /// Of the last flush.
    pub last_flush_rows: u64,
    /// Flushes found applied already after a crash (their flush id was recorded).
    pub recovered: u64,
    /// Counter and update statements that found no row to change (the row is missing).
    pub missing_rows: u64,
    /// Failed attempts.
    pub failures: u64,
    /// The last failure's message, until a flush succeeds.
    pub last_error: Option<String>,
}

/// What the commands and the flusher share, on the executor.
pub(crate) struct State {
    config: WbConfig,
    /// The prefix of this run's flush ids: the keyspace's own (kept in `wb_meta`) and one
    /// fresh per start, so that a keyspace file restored from a copy never reuses an id that
    /// a database has recorded (it would skip that flush as applied).
    prefix: String,
    /// The next update sequence number / insert id.
    next_seq: i64,
    /// Requests to the flusher; `None` without a running server.
    tx: Option<UnboundedSender<flusher::Request>>,
    /// Tables with pending work (or a flush in progress): what the flusher looks at, so that
    /// a round costs nothing per queued row.
    dirty: HashSet<Group>,
    /// Tables whose early flush (past `max_queue_size`) is requested and not yet started.
    early: HashSet<Group>,
    /// Flush counters per table.
    stats: BTreeMap<Group, GroupStats>,
    /// Rows queued per table (WB.INSERT's reply and the early flush; recounted from the
    /// table at start and after each flush of the table).
    queued: HashMap<Group, i64>,
    /// Clients parked until the flusher answers (a base read, WB.FLUSH); one that leaves
    /// unserved (disconnect, CLIENT UNBLOCK) is removed, and its WB.INCR is not applied.
    parked: HashSet<ClientId>,
}

pub(crate) fn state(engine: &mut Engine) -> Option<&mut State> {
    engine.state_mut::<State>()
}

/// A fresh id: the time and the process id.
fn new_prefix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{nanos:x}{:x}", std::process::id())
}

impl Plugin for WriteBehind {
    fn start(&mut self, reg: &mut Registrar<'_>) -> Result<(), PluginError> {
        let config: WbConfig = reg.config()?;
        let fail = |message: String| PluginError::Failed {
            plugin: NAME.into(),
            message,
        };
        config.validate().map_err(fail)?;
        reg.commands(commands::COMMANDS)?;
        let keyspace = queue::open(reg.engine(), &new_prefix()).map_err(|e| fail(e.to_string()))?;
        let prefix = format!("{keyspace}.{}", new_prefix());
        let next_seq = queue::max_seq(reg.engine()).map_err(|e| fail(e.to_string()))? + 1;
        let pending = queue::pending(reg.engine()).map_err(|e| fail(e.to_string()))?;
        let dirty = pending.keys().cloned().collect();
        let queued = pending.into_iter().map(|(g, p)| (g, p.rows)).collect();
        let tx = match reg.executor() {
            Some(handle) => {
                let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
                let cfg = config.clone();
                reg.spawn("flusher", move |shutdown| {
                    flusher::run(handle, rx, shutdown, cfg)
                })?;
                Some(tx)
            }
            None => None,
        };
        reg.set_state(State {
            config,
            prefix,
            next_seq,
            tx,
            dirty,
            early: HashSet::new(),
            stats: BTreeMap::new(),
            queued,
            parked: HashSet::new(),
        });
        reg.info_section(
            "writebehind",
            Box::new(|engine: &Engine, out: &mut String| {
                let Some(st) = engine.state::<State>() else {
                    return;
                };
                let sum = |f: fn(&GroupStats) -> u64| st.stats.values().map(f).sum::<u64>();
                let _ = write!(
                    out,
                    "wb_connections:{}\r\nwb_flushes:{}\r\nwb_rows_written:{}\r\nwb_recovered_flushes:{}\r\nwb_missing_rows:{}\r\nwb_flush_failures:{}\r\n",
                    st.config.connections.len(),
                    sum(|s| s.flushes),
                    sum(|s| s.rows_written),
                    sum(|s| s.recovered),
                    sum(|s| s.missing_rows),
                    sum(|s| s.failures),
                );
            }),
        )?;
        Ok(())
    }

    /// Answers the clients still waiting for the flusher, which stops with the plugin.
    fn stop(&mut self, engine: &mut Engine) {
        let parked: Vec<ClientId> = state(engine)
            .map(|st| st.parked.drain().collect())
            .unwrap_or_default();
        for id in parked {
            engine.serve_blocked(
                id,
                respite_core::plugin::api::Reply::error(
                    "ERR the writebehind plugin stopped before answering; nothing was queued",
                ),
            );
        }
    }
}
