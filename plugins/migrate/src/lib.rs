//! The `migrate` plugin: online migration of a live Redis into this server (SPEC_F, run
//! inside the server so that the cutover needs no restart).
//!
//! A run ([`run`]) copies the source's keys with SCAN and DUMP/PTTL and writes them here
//! with RESTORE ... REPLACE ABSTTL ([`bulk`], [`copy`], [`dest`]; streams, which RESTORE
//! here does not read, by XRANGE), while a tracker ([`tracker`]) records every key the
//! source's notifications name in a persistent dirty-key registry ([`registry`]). Apply-dirty
//! ([`apply`]) copies (or deletes) those again, live and, at the cutover ([`cutover`]), under
//! a freeze of the source's writers. Verify ([`verify`]) compares a sample. Everything a run
//! knows (its row, cursor, counters, registry, error log: [`state_keys`]) is stored as keys
//! of a state database, checkpointed in the same executor step as the keys it accounts for,
//! so a run resumes after kill -9 where its last stored checkpoint left it.
//!
//! Commands: MIGRATION.START, .STATUS, .LIST, .PAUSE, .RESUME, .ABORT, .CUTOVER, .VERIFY,
//! .PREFLIGHT ([`commands`]). The `respite migrate ...` subcommands drive the same runs in
//! an embedded server ([`offline`]).

pub mod apply;
pub mod bulk;
pub mod commands;
pub mod copy;
pub mod cutover;
pub mod dest;
pub mod job;
pub mod offline;
pub mod options;
pub mod preflight;
pub mod registry;
mod reply;
pub mod row;
pub mod run;
pub mod source;
pub mod state_keys;
pub mod sweep;
pub mod throttle;
pub mod tracker;
pub mod verify;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use respite_core::plugin::api::{
    ClientId, EngineHandle, Plugin, PluginError, Registrar, Reply, Shutdown,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

use job::Control;
use row::RunRow;

/// The plugin's name in `plugins.enabled` and `[plugins.migrate]`.
pub const NAME: &str = "migrate";

/// `[plugins.migrate]`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct MigrateConfig {
    /// The database that holds the runs' state (rows, registries, error logs); never a
    /// migration's destination.
    pub state_db: u32,
    /// Resume runs that were running when the server stopped.
    pub auto_resume: bool,
    /// How long MIGRATION.CUTOVER freezes the source's writers by default (ms).
    pub freeze_ms: u64,
    /// How far apart verify lets the two sides' expiry times be (ms).
    pub verify_tolerance_ms: u64,
}

impl Default for MigrateConfig {
    fn default() -> Self {
        MigrateConfig {
            state_db: 15,
            auto_resume: true,
            freeze_ms: 60_000,
            verify_tolerance_ms: 2_000,
        }
    }
}

respite_core::plugin::api::builtin_plugin! {
    name: NAME,
    version: env!("CARGO_PKG_VERSION"),
    config: MigrateConfig,
    create: || Box::new(Migrate),
}

struct Migrate;

/// Work for the plugin's supervisor task.
pub enum Msg {
    /// Start (or resume) a run's task.
    Start {
        /// The row.
        row: RunRow,
        /// Its control block (already in [`State::runs`]).
        ctl: Arc<Control>,
        /// Whether the server restarted since it last ran.
        resumed: bool,
    },
    /// Verify a run (the client waits for the reply).
    Verify {
        /// The run's row.
        row: RunRow,
        /// Share of keys, in percent.
        pct: f64,
        /// TTL tolerance, ms.
        tolerance: i64,
        /// Who waits for the reply.
        client: ClientId,
    },
    /// Preflight a source (the client waits for the reply).
    Preflight {
        /// The options (source, CONFIG command, channels).
        options: options::Options,
        /// Who waits for the reply.
        client: ClientId,
    },
}

/// What the commands share, on the executor.
pub struct State {
    /// Settings.
    pub config: MigrateConfig,
    /// Runs whose task is alive.
    pub runs: HashMap<String, Arc<Control>>,
    /// To the supervisor.
    pub tx: mpsc::UnboundedSender<Msg>,
}

impl Plugin for Migrate {
    fn start(&mut self, reg: &mut Registrar<'_>) -> Result<(), PluginError> {
        let config: MigrateConfig = reg.config()?;
        let plugin = reg.name().to_string();
        // The state database must exist.
        let state_db = config.state_db;
        let checked = reg.engine().run_internal(0, |ctx| {
            ctx.call(&[
                Bytes::from_static(b"SELECT"),
                Bytes::from(state_db.to_string()),
            ])
        });
        if let Reply::Error(e) = checked {
            return Err(PluginError::Failed {
                plugin,
                message: format!("plugins.migrate.state_db = {state_db}: {e}"),
            });
        }
        reg.commands(commands::COMMANDS)?;
        let (tx, rx) = mpsc::unbounded_channel();
        reg.set_state(State {
            config: config.clone(),
            runs: HashMap::new(),
            tx: tx.clone(),
        });
        reg.info_section("Migrate", Box::new(info))?;
        if let Some(handle) = reg.executor() {
            let offline = offline::take_job();
            reg.spawn("supervisor", move |stop| {
                supervise(handle, config, rx, tx, stop, offline)
            })?;
        }
        Ok(())
    }
}

/// INFO's `# Migrate` section: the runs whose task is alive.
fn info(engine: &respite_core::plugin::api::Engine, out: &mut String) {
    use std::fmt::Write as _;
    let Some(st) = engine.state::<State>() else {
        return;
    };
    let _ = write!(out, "migrate_active_runs:{}\r\n", st.runs.len());
    let mut ids: Vec<&String> = st.runs.keys().collect();
    ids.sort();
    for id in ids {
        let row = st.runs[id].row();
        let c = &row.counters;
        let _ = write!(
            out,
            "run:{id},status={},phase={},scanned={},migrated={},bytes={},dirty_applied={},dirty_deleted={},errors={}\r\n",
            row.status, row.phase, c.scanned_keys, c.migrated_keys, c.migrated_bytes,
            c.dirty_keys_applied, c.dirty_keys_deleted, c.error_keys
        );
    }
}

/// The supervisor: resumes the runs that were running, starts the tasks the commands ask
/// for, and stops them all with the plugin.
async fn supervise(
    handle: EngineHandle,
    config: MigrateConfig,
    mut rx: mpsc::UnboundedReceiver<Msg>,
    tx: mpsc::UnboundedSender<Msg>,
    mut stop: Shutdown,
    offline: Option<offline::Job>,
) {
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let env = run::Env {
        handle: handle.clone(),
        state_db: config.state_db,
        shutdown: shutdown_rx,
    };
    let mut tasks = tokio::task::JoinSet::new();
    if config.auto_resume && offline.is_none() {
        resume_all(&env, &tx).await;
    }
    if let Some(job) = offline {
        let env = env.clone();
        let tx = tx.clone();
        tasks.spawn(async move { offline::drive(env, tx, job).await });
    }
    loop {
        tokio::select! {
            _ = stop.wait() => break,
            msg = rx.recv() => {
                let Some(msg) = msg else { break };
                match msg {
                    Msg::Start { row, ctl, resumed } => {
                        tasks.spawn(run::task(env.clone(), row, ctl, resumed));
                    }
                    Msg::Verify { row, pct, tolerance, client } => {
                        let handle = handle.clone();
                        let state_db = config.state_db;
                        tasks.spawn(async move {
                            let r = async {
                                let src = source::Source::connect(&row.options.source).await?;
                                verify::run(
                                    &handle,
                                    &src,
                                    &row,
                                    state_db,
                                    verify::Sample { pct, tolerance },
                                )
                                .await
                            }
                            .await;
                            let reply = commands::verify_reply(&r);
                            let _ = handle.run(move |e| { e.serve_blocked(client, reply); }).await;
                        });
                    }
                    Msg::Preflight { options, client } => {
                        let handle = handle.clone();
                        tasks.spawn(async move {
                            let r = async {
                                let src = source::Source::connect(&options.source).await?;
                                preflight::run(&src, &options).await
                            }
                            .await;
                            let reply = commands::preflight_reply(&r);
                            let _ = handle.run(move |e| { e.serve_blocked(client, reply); }).await;
                        });
                    }
                }
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    let _ = shutdown_tx.send(true);
    while tasks.join_next().await.is_some() {}
}

/// Resumes the runs stored as running.
async fn resume_all(env: &run::Env, tx: &mpsc::UnboundedSender<Msg>) {
    let db = env.state_db;
    let rows = env
        .handle
        .run(move |e| {
            e.run_internal(db, |ctx| {
                let ids = state_keys::run_ids(ctx)?;
                let mut rows = Vec::new();
                for id in ids {
                    if let Some(row) = state_keys::load_run(ctx, &id)? {
                        rows.push(row);
                    }
                }
                Ok::<_, String>(rows)
            })
        })
        .await;
    let rows = match rows {
        Ok(Ok(rows)) => rows,
        Ok(Err(e)) => {
            tracing::error!("migrate: reading the stored runs failed: {e}");
            return;
        }
        Err(_) => return,
    };
    for row in rows.into_iter().filter(|r| r.status == "running") {
        tracing::info!(run = %row.run_id, phase = %row.phase, "migrate: resuming");
        let ctl = Control::new(&row);
        let id = row.run_id.clone();
        let c = Arc::clone(&ctl);
        let _ = env
            .handle
            .run(move |e| {
                if let Some(st) = e.state_mut::<State>() {
                    st.runs.insert(id, c);
                }
            })
            .await;
        let _ = tx.send(Msg::Start {
            row,
            ctl,
            resumed: true,
        });
    }
}
