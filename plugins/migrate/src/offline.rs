//! The offline front end's engine side: `respite migrate STEP --from URL --to PATH` starts
//! an embedded server on PATH (loopback, ephemeral port) with this plugin, hands it one
//! [`Job`] through [`submit`], and stops when the job reports. The job runs the very same
//! run tasks as the MIGRATION.* commands, against the same state keys, so a run may be
//! started offline and finished online, or the other way round (one process at a time on a
//! file: a run's state is that process's keyspace).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::job::{lock, Control, Desired, Mode};
use crate::options::Options;
use crate::row::RunRow;
use crate::run::Env;
use crate::source::Source;
use crate::{commands, preflight, state_keys, verify, Msg, State};

/// What to do.
#[derive(Clone, Debug)]
pub enum Step {
    /// Look at the source.
    Preflight,
    /// Track and copy, then stay live (apply-dirty passes) until interrupted or cut over.
    Track,
    /// Copy (tracking meanwhile) until the bulk copy is done.
    Bulk,
    /// Finish the bulk copy if needed, then apply dirty keys until none is left.
    ApplyDirty,
    /// Freeze the source, apply the last changes, complete the run.
    Cutover {
        /// How long the source stays frozen (ms).
        freeze_ms: u64,
    },
    /// Print the run's status.
    Status,
    /// Compare a sample.
    Verify {
        /// Percent of keys.
        pct: f64,
        /// TTL tolerance (ms).
        tolerance: i64,
    },
    /// Mark the run paused (the next bulk or apply-dirty refuses until resumed).
    Pause,
    /// Mark a paused or failed run running again.
    Resume,
    /// Abort the run (unfreezing the source if it froze it).
    Abort,
    /// Set notify-keyspace-events on the source as tracking needs it.
    EnableNotifications,
}

/// A progress snapshot for the terminal.
#[derive(Clone, Debug)]
pub struct Progress {
    /// The run row as last checkpointed.
    pub row: RunRow,
}

/// One job for the embedded server.
pub struct Job {
    /// What to do.
    pub step: Step,
    /// The run's name.
    pub run_id: String,
    /// Options of a new run (`from` is needed by steps that talk to the source).
    pub options: Options,
    /// The database to migrate into.
    pub dest_db: u32,
    /// Throttles given for this invocation (name, value), applied to an existing run too.
    pub tune: Vec<(String, String)>,
    /// Called with progress while a run's task works.
    pub progress: Box<dyn Fn(&Progress) + Send + Sync>,
    /// The outcome: the report to print, or the error.
    pub done: oneshot::Sender<Result<String, String>>,
}

static JOB: Mutex<Option<Job>> = Mutex::new(None);

/// Hands `job` to the plugin when it starts in this process.
pub fn submit(job: Job) {
    *lock(&JOB) = Some(job);
}

/// The job submitted, if any (taken once).
pub(crate) fn take_job() -> Option<Job> {
    lock(&JOB).take()
}

/// Runs the job, then reports.
pub(crate) async fn drive(env: Env, tx: mpsc::UnboundedSender<Msg>, mut job: Job) {
    let (done_tx, _) = oneshot::channel();
    let done = std::mem::replace(&mut job.done, done_tx);
    let r = step(&env, &tx, &job).await;
    let _ = done.send(r);
}

async fn load(env: &Env, run: &str) -> Result<Option<RunRow>, String> {
    let db = env.state_db;
    let run = run.to_string();
    env.handle
        .run(move |e| e.run_internal(db, |ctx| state_keys::load_run(ctx, &run)))
        .await
        .map_err(|_| crate::job::GONE.to_string())?
}

async fn save(env: &Env, row: RunRow) -> Result<(), String> {
    let db = env.state_db;
    env.handle
        .run(move |e| e.run_internal(db, |ctx| state_keys::save_run(ctx, &row)))
        .await
        .map_err(|_| crate::job::GONE.to_string())?
}

fn lines(fields: Vec<(&'static str, String)>) -> String {
    fields
        .into_iter()
        .map(|(k, v)| format!("{k}: {v}\n"))
        .collect()
}

async fn step(env: &Env, _tx: &mpsc::UnboundedSender<Msg>, job: &Job) -> Result<String, String> {
    let o = &job.options;
    match &job.step {
        Step::Preflight => {
            let src = Source::connect(&o.source).await?;
            let rep = preflight::run(&src, o).await?;
            Ok(lines(commands::preflight_lines(&rep)))
        }
        Step::EnableNotifications => {
            let src = Source::connect(&o.source).await?;
            let rep = preflight::run(&src, o).await?;
            let Some(flags) = rep.notify else {
                return Err(format!(
                    "cannot read notify-keyspace-events: {}",
                    rep.config_error.unwrap_or_default()
                ));
            };
            if rep.notify_missing.is_empty() {
                return Ok(format!(
                    "notify-keyspace-events is '{flags}' already: enough\n"
                ));
            }
            let set = preflight::with_flags(&flags, o.channels);
            src.query(
                redis::cmd(&o.config_command)
                    .arg("SET")
                    .arg("notify-keyspace-events")
                    .arg(&set),
            )
            .await?;
            Ok(format!("notify-keyspace-events: '{flags}' -> '{set}'\n"))
        }
        Step::Status => {
            let row = load(env, &job.run_id)
                .await?
                .ok_or_else(|| format!("no migration run '{}' in this file", job.run_id))?;
            let db = env.state_db;
            let run = job.run_id.clone();
            let (sizes, errors, verify) = env
                .handle
                .run(move |e| {
                    e.run_internal(db, |c| {
                        (
                            state_keys::registry_sizes(c, &run).unwrap_or((0, 0)),
                            state_keys::recent_errors(c, &run, 10).unwrap_or_default(),
                            state_keys::last_verify(c, &run).ok().flatten(),
                        )
                    })
                })
                .await
                .map_err(|_| crate::job::GONE.to_string())?;
            let mut out = lines(commands::status_fields(&row, None, sizes, verify));
            for e in errors {
                out.push_str(&format!("error: {}\n", String::from_utf8_lossy(&e)));
            }
            Ok(out)
        }
        Step::Pause | Step::Resume => {
            let mut row = load(env, &job.run_id)
                .await?
                .ok_or_else(|| format!("no migration run '{}' in this file", job.run_id))?;
            if row.finished() {
                return Err(format!("migration run '{}' is {}", row.run_id, row.status));
            }
            row.status = if matches!(job.step, Step::Pause) {
                "paused".into()
            } else {
                "running".into()
            };
            let status = row.status.clone();
            save(env, row).await?;
            Ok(format!("migration run '{}' is {status}\n", job.run_id))
        }
        Step::Verify { pct, tolerance } => {
            let row = load(env, &job.run_id)
                .await?
                .ok_or_else(|| format!("no migration run '{}' in this file", job.run_id))?;
            let src = Source::connect(&row.options.source).await?;
            let out = verify::run(
                &env.handle,
                &src,
                &row,
                env.state_db,
                verify::Sample {
                    pct: *pct,
                    tolerance: *tolerance,
                },
            )
            .await?;
            let mut text = format!(
                "checked: {}\nmismatches: {}\nmissing: {}\nextra: {}\n",
                out.checked, out.mismatches, out.missing, out.extra
            );
            for e in &out.examples {
                text.push_str(&format!("mismatch: {e}\n"));
            }
            if out.mismatches > 0 {
                Err(text)
            } else {
                Ok(text)
            }
        }
        Step::Track | Step::Bulk | Step::ApplyDirty | Step::Cutover { .. } | Step::Abort => {
            run_step(env, job).await
        }
    }
}

/// Runs (or resumes) the run's task as far as the step goes, reporting progress.
async fn run_step(env: &Env, job: &Job) -> Result<String, String> {
    let existing = load(env, &job.run_id).await?;
    let resumed = existing.is_some();
    let row = match existing {
        Some(row) => {
            if row.finished() {
                return Err(format!("migration run '{}' is {}", row.run_id, row.status));
            }
            if row.status == "paused" && !matches!(job.step, Step::Abort) {
                return Err(format!(
                    "migration run '{}' is paused: `respite migrate resume` first",
                    row.run_id
                ));
            }
            let mut row = row;
            for (name, value) in &job.tune {
                row.options.tune(name, value).map_err(|e| e.0)?;
            }
            row
        }
        None if matches!(job.step, Step::Track | Step::Bulk) => {
            if job.options.source.is_empty() {
                return Err("--from redis://host:port is required to start a run".into());
            }
            let mut o = job.options.clone();
            o.run_id = Some(job.run_id.clone());
            let row = RunRow::new(
                job.run_id.clone(),
                o,
                job.dest_db,
                respite_core::plugin::api::now_ms(),
            );
            save(env, row.clone()).await?;
            row
        }
        None => {
            return Err(format!(
                "no migration run '{}' in this file (`respite migrate bulk` starts one)",
                job.run_id
            ))
        }
    };
    let mode = match job.step {
        Step::Bulk => Mode::Bulk,
        Step::ApplyDirty => Mode::ApplyDirty,
        _ => Mode::Online,
    };
    if let Step::Cutover { .. } = job.step {
        if row.phase != "live" && row.phase != "cutover" {
            return Err(format!(
                "the bulk copy has not finished (phase {}): run `respite migrate bulk` first",
                row.phase
            ));
        }
    }
    let ctl = Control::with_mode(&row, mode);
    if let Step::Cutover { freeze_ms } = job.step {
        *lock(&ctl.cutover) = Some((Vec::new(), freeze_ms));
    }
    if matches!(job.step, Step::Abort) {
        ctl.desired.send_replace(Desired::Abort);
    }
    let id = row.run_id.clone();
    let c = Arc::clone(&ctl);
    env.handle
        .run(move |e| {
            if let Some(st) = e.state_mut::<State>() {
                st.runs.insert(id, c);
            }
        })
        .await
        .map_err(|_| crate::job::GONE.to_string())?;
    let mut task = tokio::spawn(crate::run::task(
        env.clone(),
        row,
        Arc::clone(&ctl),
        resumed,
    ));
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            _ = &mut task => break,
            _ = tick.tick() => (job.progress)(&Progress { row: ctl.row() }),
        }
    }
    let row = load(env, &job.run_id)
        .await?
        .ok_or_else(|| "the run's row is gone".to_string())?;
    (job.progress)(&Progress { row: row.clone() });
    let text = lines(commands::status_fields(&row, None, (0, 0), None));
    match row.status.as_str() {
        "failed" => Err(format!("{}\n{text}", row.last_error)),
        "running" if *env.shutdown.borrow() => Err(format!("interrupted; resumable\n{text}")),
        _ => Ok(text),
    }
}
