//! A run's working parts, shared by every step: the executor handle, the run row (owned by
//! the run's task, checkpointed in the same executor step as the keys it accounts for), the
//! source, the control block the commands steer it with, and the check that each step's
//! commit reached the store.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use respite_core::plugin::api::{now_ms, ClientId, Engine, EngineHandle, Reply};
use tokio::sync::watch;

use crate::row::RunRow;
use crate::source::Source;
use crate::state_keys;

/// What the commands ask of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Desired {
    /// Go on.
    Run,
    /// Stop copying (tracking goes on) until resumed.
    Pause,
    /// Stop for good (and unfreeze the source).
    Abort,
}

/// The tracker's end of the barrier requests.
pub type BarrierRx = tokio::sync::mpsc::UnboundedReceiver<tokio::sync::oneshot::Sender<bool>>;

/// How far a run's task goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// All the way (online): bulk, then live passes until the cutover.
    Online,
    /// Until the bulk copy is done (`respite migrate bulk`).
    Bulk,
    /// The bulk copy if unfinished, then apply-dirty until none is left
    /// (`respite migrate apply-dirty`).
    ApplyDirty,
}

/// How the commands and the run's task talk (kept in the plugin's state while the task runs).
pub struct Control {
    /// The run.
    pub run_id: String,
    /// How far the task goes.
    pub mode: Mode,
    /// What the commands ask.
    pub desired: watch::Sender<Desired>,
    /// The latest checkpointed row, for status and progress.
    pub latest: Mutex<RunRow>,
    /// When this task started, and the copied keys and bytes then (for rates).
    pub session: (Instant, u64, u64),
    /// A cutover asked for: the clients waiting for its reply, and the freeze length.
    pub cutover: Mutex<Option<(Vec<ClientId>, u64)>>,
    /// Woken when a cutover is asked for.
    pub cutover_asked: tokio::sync::Notify,
    /// Asks the tracker for a barrier: it answers true once every event the source sent
    /// before the request is recorded (false: it is disconnected).
    pub barrier: tokio::sync::mpsc::UnboundedSender<tokio::sync::oneshot::Sender<bool>>,
    /// The tracker's end of [`Self::barrier`], taken when it starts.
    pub barrier_rx: Mutex<Option<BarrierRx>>,
    /// Keys the tracker made dirty since the last checkpoint.
    pub seen: AtomicU64,
    /// Tracker gaps since the last checkpoint.
    pub gaps: AtomicU64,
    /// Options changed by MIGRATION.SET, taken at the next checkpoint.
    pub tuned: Mutex<Option<crate::options::Options>>,
}

impl Control {
    /// A control block for `row`.
    pub fn new(row: &RunRow) -> Arc<Control> {
        Control::with_mode(row, Mode::Online)
    }

    /// A control block for `row` going as far as `mode`.
    pub fn with_mode(row: &RunRow, mode: Mode) -> Arc<Control> {
        let c = &row.counters;
        let (barrier, barrier_rx) = tokio::sync::mpsc::unbounded_channel();
        Arc::new(Control {
            run_id: row.run_id.clone(),
            mode,
            desired: watch::channel(Desired::Run).0,
            latest: Mutex::new(row.clone()),
            session: (
                Instant::now(),
                c.migrated_keys + c.dirty_keys_applied,
                c.migrated_bytes,
            ),
            cutover: Mutex::new(None),
            cutover_asked: tokio::sync::Notify::new(),
            barrier,
            barrier_rx: Mutex::new(Some(barrier_rx)),
            seen: AtomicU64::new(0),
            gaps: AtomicU64::new(0),
            tuned: Mutex::new(None),
        })
    }

    /// What the commands ask now.
    pub fn desired(&self) -> Desired {
        *self.desired.borrow()
    }

    /// The latest row.
    pub fn row(&self) -> RunRow {
        lock(&self.latest).clone()
    }
}

/// Locks, ignoring poisoning (a panicked step leaves plain data behind).
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Why a step stopped.
#[derive(Debug)]
pub enum Stop {
    /// Paused, aborted or shutting down: not an error.
    Asked,
    /// An error (already recorded as the run's last error).
    Failed(String),
}

impl From<String> for Stop {
    fn from(e: String) -> Stop {
        Stop::Failed(e)
    }
}

/// The message when the executor is gone (the server is stopping).
pub const GONE: &str = "the server is shutting down";

/// A run's task state.
pub struct Job {
    /// Runs closures on the executor.
    pub handle: EngineHandle,
    /// Where run state lives.
    pub state_db: u32,
    /// The row, as this task has it (ahead of the store until the next checkpoint commits).
    pub row: RunRow,
    /// The source.
    pub src: Source,
    /// Steering.
    pub ctl: Arc<Control>,
    /// Server shutdown.
    pub shutdown: watch::Receiver<bool>,
    /// The first commit not yet known to have succeeded, and the last one needed.
    unconfirmed: Option<(u64, u64)>,
}

impl Job {
    /// A job for `row`.
    pub fn new(
        handle: EngineHandle,
        state_db: u32,
        row: RunRow,
        src: Source,
        ctl: Arc<Control>,
        shutdown: watch::Receiver<bool>,
    ) -> Job {
        Job {
            handle,
            state_db,
            row,
            src,
            ctl,
            shutdown,
            unconfirmed: None,
        }
    }

    /// Whether to stop now (pause, abort, shutdown).
    pub fn should_stop(&self) -> bool {
        *self.shutdown.borrow() || self.ctl.desired() != Desired::Run
    }

    /// Runs `f` on the executor.
    pub async fn exec<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Engine) -> R + Send + 'static,
    ) -> Result<R, String> {
        self.handle.run(f).await.map_err(|_| GONE.to_string())
    }

    /// Runs `f` with the row on the executor, then saves the row in the same step (so the
    /// row and the writes `f` made commit together), and notes the commit to confirm.
    pub async fn checkpoint<R: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Engine, &mut RunRow) -> R + Send + 'static,
    ) -> Result<R, Stop> {
        if let Some(o) = lock(&self.ctl.tuned).take() {
            self.row.options = o;
        }
        let mut row = self.row.clone();
        row.counters.dirty_keys_seen += self.ctl.seen.swap(0, Ordering::Relaxed);
        row.counters.tracker_gaps += self.ctl.gaps.swap(0, Ordering::Relaxed);
        let state_db = self.state_db;
        let (r, row, saved, commits) = self
            .exec(move |engine| {
                let r = f(engine, &mut row);
                row.updated_at = now_ms();
                let saved = engine.run_internal(state_db, |ctx| state_keys::save_run(ctx, &row));
                (r, row, saved, engine.commit_attempts())
            })
            .await?;
        saved.map_err(|e| format!("saving the run's checkpoint failed: {e}"))?;
        self.row = row;
        *lock(&self.ctl.latest) = self.row.clone();
        self.note_commit(commits)?;
        Ok(r)
    }

    /// Checks the commit counters a step saw, and notes that its own writes need commit
    /// number `attempts + 1`.
    fn note_commit(&mut self, (attempts, last_failed): (u64, u64)) -> Result<(), String> {
        self.check_commits(attempts, last_failed)?;
        let need = attempts + 1;
        self.unconfirmed = Some(match self.unconfirmed {
            Some((first, _)) => (first, need),
            None => (need, need),
        });
        Ok(())
    }

    fn check_commits(&mut self, attempts: u64, last_failed: u64) -> Result<(), String> {
        if let Some((first, last)) = self.unconfirmed {
            if last_failed >= first {
                self.unconfirmed = None;
                return Err(
                    "writing here failed: the store refused a commit (is the disk full?) and \
                     rolled the batch back; fix the cause and resume the run (MIGRATION.RESUME), \
                     which goes on from the last stored checkpoint"
                        .into(),
                );
            }
            if attempts >= last {
                self.unconfirmed = None;
            }
        }
        Ok(())
    }

    /// Waits until every step so far is known to be stored.
    pub async fn confirm(&mut self) -> Result<(), String> {
        while self.unconfirmed.is_some() {
            let (attempts, last_failed) = self.exec(|e| e.commit_attempts()).await?;
            self.check_commits(attempts, last_failed)?;
            if self.unconfirmed.is_some() {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        Ok(())
    }

    /// Records an error in the run's log (and as its last error), in its own step.
    pub async fn log_error(&mut self, stage: &'static str, key: Option<Vec<u8>>, message: String) {
        tracing::warn!(run = %self.row.run_id, stage, "{message}");
        let run = self.row.run_id.clone();
        let state_db = self.state_db;
        let _ = self
            .checkpoint(move |engine, row| {
                row.last_error = message.clone();
                let _ = engine.run_internal(state_db, |ctx| {
                    state_keys::log_error(ctx, &run, stage, key.as_deref(), &message)
                });
            })
            .await;
    }

    /// Serves the clients waiting for a reply (cutover).
    pub async fn serve(&self, clients: Vec<ClientId>, reply: Reply) {
        let _ = self
            .exec(move |engine| {
                for id in clients {
                    engine.serve_blocked(id, reply.clone());
                }
            })
            .await;
    }
}

/// Resolves once `rx` holds true (or its sender is gone).
pub async fn until_true(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await.map(|_| ());
}
