//! A run's task: connect, preflight, start the tracker, bulk copy, live apply-dirty passes,
//! cutover; pause, resume and abort as the commands ask; failures recorded in the run row
//! (the run stays resumable). After a restart of this server, runs that were running resume
//! from their checkpoint, with a tracker gap recorded (events were not heard meanwhile).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use respite_core::plugin::api::{EngineHandle, Reply};
use tokio::sync::{oneshot, watch};

use crate::job::{lock, until_true, Control, Desired, Job, Mode, Stop};
use crate::row::RunRow;
use crate::source::Source;
use crate::tracker::Tracker;
use crate::{apply, bulk, cutover, preflight, state_keys, State};

/// Reconnections to the source before a run fails (the count starts again once it copies).
const RETRIES: u32 = 5;

/// How often a live run applies what the tracker recorded.
const LIVE_PASS: Duration = Duration::from_millis(200);

/// What every run task gets.
#[derive(Clone)]
pub struct Env {
    /// The executor.
    pub handle: EngineHandle,
    /// Where run state lives.
    pub state_db: u32,
    /// Server shutdown.
    pub shutdown: watch::Receiver<bool>,
}

/// Runs `row` until it completes, fails, is aborted or paused and the server stops.
pub async fn task(env: Env, row: RunRow, ctl: Arc<Control>, resumed: bool) {
    let run_id = row.run_id.clone();
    run(&env, row, &ctl, resumed).await;
    // Nobody may wait on a run that is gone.
    let waiting = lock(&ctl.cutover).take();
    if let Some((clients, _)) = waiting {
        let _ = env
            .handle
            .run(move |e| {
                for id in clients {
                    e.serve_blocked(
                        id,
                        Reply::error("ERR the migration run stopped before the cutover"),
                    );
                }
            })
            .await;
    }
    let _ = env
        .handle
        .run(move |e| {
            if let Some(st) = e.state_mut::<State>() {
                if st.runs.get(&run_id).is_some_and(|c| Arc::ptr_eq(c, &ctl)) {
                    st.runs.remove(&run_id);
                }
            }
        })
        .await;
}

async fn run(env: &Env, mut row: RunRow, ctl: &Arc<Control>, resumed: bool) {
    let src = match Source::connect(&row.options.source).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(run = %row.run_id, "{e}");
            if ctl.desired() == Desired::Abort {
                // Aborted all the same; a freeze it left ends with its timeout.
                row.status = "aborted".into();
                row.last_error = format!("aborted without reaching the source: {e}");
            } else {
                row.status = "failed".into();
                row.last_error = e;
            }
            let db = env.state_db;
            let r = row.clone();
            let _ = env
                .handle
                .run(move |en| en.run_internal(db, |ctx| state_keys::save_run(ctx, &r)))
                .await;
            *lock(&ctl.latest) = row;
            return;
        }
    };
    let mut job = Job::new(
        env.handle.clone(),
        env.state_db,
        row,
        src,
        Arc::clone(ctl),
        env.shutdown.clone(),
    );
    if ctl.desired() == Desired::Abort {
        finish(&mut job, Err(Stop::Asked)).await;
        return;
    }
    let start = async {
        job.checkpoint(|_, row| {
            row.status = "running".into();
            if row.phase == "cutover" {
                // A cutover cut short by a restart is asked for again.
                row.phase = "live".into();
            }
        })
        .await?;
        if job.row.phase == "preflight" {
            preflight_step(&mut job).await?;
        } else if resumed && job.row.options.track && job.row.phase != "done" {
            job.ctl.gaps.fetch_add(1, Ordering::Relaxed);
            job.log_error(
                "track",
                None,
                "tracking was interrupted (this server stopped); events may have been lost \
                 meanwhile: the cutover runs a safety sweep"
                    .into(),
            )
            .await;
        }
        Ok::<(), Stop>(())
    }
    .await;
    if let Err(stop) = start {
        finish(&mut job, Err(stop)).await;
        return;
    }
    // The tracker runs while the run lives, paused or not.
    let (stop_tracker, stop_rx) = watch::channel(false);
    let mut tracker = None;
    if job.row.options.track && job.row.phase != "done" {
        let barriers = lock(&ctl.barrier_rx).take();
        if let Some(barriers) = barriers {
            let t = Tracker {
                client: job.src.client().clone(),
                db: crate::options::source_db(&job.row.options.source),
                channels: job.row.options.channels,
                run_id: job.row.run_id.clone(),
                state_db: env.state_db,
                handle: env.handle.clone(),
                ctl: Arc::clone(ctl),
                barriers,
            };
            let (ready_tx, ready_rx) = oneshot::channel();
            tracker = Some(tokio::spawn(t.run(stop_rx, ready_tx)));
            match ready_rx.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    finish(&mut job, Err(Stop::Failed(e))).await;
                    let _ = stop_tracker.send(true);
                    return;
                }
                Err(_) => {}
            }
        }
    }
    let mut retries = 0;
    let mut progress_at_failure = u64::MAX;
    loop {
        let r = drive(&mut job).await;
        match r {
            // The source went away for a moment: reconnect with backoff, a few times.
            Err(Stop::Failed(e))
                if e.starts_with("cannot reach the source") && retries < RETRIES =>
            {
                let progress = job.row.counters.scanned_keys + job.row.counters.dirty_keys_applied;
                if progress != progress_at_failure {
                    retries = 0;
                }
                progress_at_failure = progress;
                retries += 1;
                job.log_error(
                    "run",
                    None,
                    format!("{e}; reconnecting (attempt {retries} of {RETRIES})"),
                )
                .await;
                let backoff = Duration::from_millis(200 << retries);
                let mut shutdown = job.shutdown.clone();
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = until_true(&mut shutdown) => break,
                }
                if let Ok(src) = Source::connect(&job.row.options.source).await {
                    job.src = src;
                }
            }
            Err(Stop::Asked) if *job.shutdown.borrow() => break,
            Err(Stop::Asked) if job.ctl.desired() == Desired::Pause => {
                if job
                    .checkpoint(|_, row| row.status = "paused".into())
                    .await
                    .is_err()
                {
                    break;
                }
                let mut desired = job.ctl.desired.subscribe();
                let mut shutdown = job.shutdown.clone();
                let unpaused = async {
                    let _ = desired.wait_for(|d| *d != Desired::Pause).await.map(|_| ());
                };
                tokio::select! {
                    _ = unpaused => {}
                    _ = until_true(&mut shutdown) => break,
                }
                if job.ctl.desired() == Desired::Run
                    && job
                        .checkpoint(|_, row| row.status = "running".into())
                        .await
                        .is_err()
                {
                    break;
                }
            }
            Err(Stop::Asked) if job.ctl.desired() == Desired::Run => continue,
            other => {
                finish(&mut job, other).await;
                break;
            }
        }
    }
    let _ = stop_tracker.send(true);
    if let Some(t) = tracker {
        let _ = t.await;
    }
}

/// Records how the run ended: completed (the cutover's clients get its summary), aborted
/// (the source unfrozen), or failed (resumable).
async fn finish(job: &mut Job, r: Result<Option<String>, Stop>) {
    let waiting = lock(&job.ctl.cutover).take();
    let clients = waiting.map(|(c, _)| c).unwrap_or_default();
    match r {
        Ok(summary) => {
            if job.row.phase == "done" {
                restore_notifications(job).await;
            }
            if let Some(summary) = summary {
                job.serve(clients, Reply::bulk(summary)).await;
            }
        }
        Err(Stop::Asked) => {
            // Abort.
            if job.row.frozen {
                let _ = job
                    .src
                    .query(&redis::cmd("CLIENT").arg("UNPAUSE").clone())
                    .await;
            }
            restore_notifications(job).await;
            let _ = job
                .checkpoint(|_, row| {
                    row.status = "aborted".into();
                    row.frozen = false;
                })
                .await;
            job.serve(clients, Reply::error("ERR the migration run was aborted"))
                .await;
        }
        Err(Stop::Failed(e)) => {
            tracing::warn!(run = %job.row.run_id, "migration run failed: {e}");
            // The stored row is what resuming starts from (the one here may be ahead of it
            // when a commit failed).
            let run = job.row.run_id.clone();
            let db = job.state_db;
            if let Ok(Ok(Some(stored))) = job
                .exec(move |en| en.run_internal(db, |ctx| state_keys::load_run(ctx, &run)))
                .await
            {
                job.row = stored;
            }
            let msg = e.clone();
            let _ = job
                .checkpoint(move |_, row| {
                    row.status = "failed".into();
                    row.last_error = msg;
                })
                .await;
            let run = job.row.run_id.clone();
            let msg = e.clone();
            let _ = job
                .exec(move |en| {
                    en.run_internal(db, |ctx| {
                        state_keys::log_error(ctx, &run, "run", None, &msg)
                    })
                })
                .await;
            job.serve(
                clients,
                Reply::Error(format!("ERR migration failed: {e}").into()),
            )
            .await;
        }
    }
}

/// Sets notify-keyspace-events back to what it was, if the run changed it.
async fn restore_notifications(job: &mut Job) {
    if let Some(was) = job.row.notify_before.strip_prefix("was:") {
        let was = was.to_string();
        let cmd = redis::cmd(&job.row.options.config_command)
            .arg("SET")
            .arg("notify-keyspace-events")
            .arg(&was)
            .clone();
        if job.src.query(&cmd).await.is_ok() {
            let _ = job.checkpoint(|_, row| row.notify_before.clear()).await;
        }
    }
}

/// Preflight: the estimate, and notifications on the source as tracking needs them.
async fn preflight_step(job: &mut Job) -> Result<(), Stop> {
    let o = job.row.options.clone();
    let rep = preflight::run(&job.src, &o).await?;
    let mut notify_before = String::new();
    if o.track {
        match (&rep.notify, &rep.config_error) {
            (Some(_), _) if rep.notify_missing.is_empty() => {}
            (Some(flags), _) if o.enable_notifications => {
                let set = preflight::with_flags(flags, o.channels);
                job.src
                    .query(
                        redis::cmd(&o.config_command)
                            .arg("SET")
                            .arg("notify-keyspace-events")
                            .arg(&set),
                    )
                    .await
                    .map_err(|e| {
                        format!("cannot enable keyspace notifications on the source: {e}")
                    })?;
                notify_before = format!("was:{flags}");
            }
            (Some(flags), _) => {
                return Err(Stop::Failed(format!(
                    "notify-keyspace-events is '{flags}' on the source, and tracking changes needs \
                     '{}' too ('KEA' covers everything): set it on the source, or start with \
                     ENABLE-NOTIFICATIONS (or NO-TRACK for a one-shot copy)",
                    rep.notify_missing
                )))
            }
            (None, err) => {
                return Err(Stop::Failed(format!(
                    "cannot read notify-keyspace-events on the source ({}); tracking needs it: \
                     name a renamed CONFIG with CONFIG-COMMAND, or start with NO-TRACK for a \
                     one-shot copy",
                    err.clone().unwrap_or_default()
                )))
            }
        }
    }
    job.checkpoint(move |_, row| {
        row.keys_estimate = rep.keys;
        row.notify_before = notify_before;
        row.phase = "bulk".into();
    })
    .await?;
    Ok(())
}

/// Goes on from the run's phase; `Ok(Some(summary))` after a cutover, `Ok(None)` when a
/// run without tracking finished its copy.
async fn drive(job: &mut Job) -> Result<Option<String>, Stop> {
    if job.row.phase == "bulk" {
        bulk::run(job).await?;
        job.confirm().await?;
        let track = job.row.options.track;
        job.checkpoint(move |_, row| {
            if track {
                row.phase = "live".into();
            } else {
                row.phase = "done".into();
                row.status = "completed".into();
            }
        })
        .await?;
        job.confirm().await?;
        if !track || job.ctl.mode == Mode::Bulk {
            return Ok(None);
        }
    }
    if job.row.phase == "done" || job.ctl.mode == Mode::Bulk {
        return Ok(None);
    }
    if job.ctl.mode == Mode::ApplyDirty && lock(&job.ctl.cutover).is_none() {
        apply::run(job, true).await?;
        job.confirm().await?;
        return Ok(None);
    }
    loop {
        let asked = lock(&job.ctl.cutover).as_ref().map(|(_, ms)| *ms);
        if let Some(freeze_ms) = asked {
            return cutover::run(job, freeze_ms).await.map(Some);
        }
        if job.should_stop() {
            return Err(Stop::Asked);
        }
        apply::run(job, false).await?;
        // A checkpoint now and then keeps the tracker's counters current.
        job.checkpoint(|_, _| ()).await?;
        let mut desired = job.ctl.desired.subscribe();
        let mut shutdown = job.shutdown.clone();
        tokio::select! {
            _ = job.ctl.cutover_asked.notified() => {}
            _ = tokio::time::sleep(LIVE_PASS) => {}
            _ = desired.changed() => {}
            _ = shutdown.changed() => {}
        }
    }
}
