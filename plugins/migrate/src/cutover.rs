//! The cutover (SPEC_F F.9 steps 4 to 6, done for the user): freeze the source's writers
//! (CLIENT PAUSE WRITE), wait until the tracker has recorded every event sent before the
//! freeze, sweep if events may have been lost, apply the dirty keys until none is left, and
//! make sure it is all stored. After it this server holds the source's data and serves it.

use std::time::Duration;

use crate::apply;
use crate::job::{Job, Stop};
use crate::sweep;

/// How long the tracker may take to confirm a barrier.
const BARRIER_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the cutover; the source stays frozen for `freeze_ms` from its start (so clients
/// still writing to it wait instead of diverging), unless the run is aborted.
pub async fn run(job: &mut Job, freeze_ms: u64) -> Result<String, Stop> {
    job.checkpoint(|_, row| row.phase = "cutover".into())
        .await?;
    job.src
        .query(
            redis::cmd("CLIENT")
                .arg("PAUSE")
                .arg(freeze_ms)
                .arg("WRITE"),
        )
        .await
        .map_err(|e| format!("cannot freeze the source (CLIENT PAUSE WRITE): {e}"))?;
    job.checkpoint(|_, row| row.frozen = true).await?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let barrier = job.ctl.barrier.send(tx).is_ok()
        && matches!(
            tokio::time::timeout(BARRIER_TIMEOUT, rx).await,
            Ok(Ok(true))
        );
    if !barrier {
        job.log_error(
            "track",
            None,
            "cutover: the tracker could not confirm that it recorded every event before the \
             freeze; sweeping"
                .into(),
        )
        .await;
        job.ctl
            .gaps
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    // Fold the tracker's counters in, then decide on the sweep.
    job.checkpoint(|_, _| ()).await?;
    let mut swept = 0;
    if job.row.counters.tracker_gaps > 0 {
        swept = sweep::run(job).await?;
    }
    let applied = apply::run(job, true).await?;
    job.confirm().await?;
    job.checkpoint(|_, row| {
        row.phase = "done".into();
        row.status = "completed".into();
    })
    .await?;
    job.confirm().await?;
    let c = &job.row.counters;
    Ok(format!(
        "cutover done: {applied} dirty keys applied in the final delta{}; {} keys copied in bulk, \
         {} applied and {} deleted from the registry in all; the source stays paused for \
         writes until {freeze_ms} ms after the freeze",
        if swept > 0 {
            format!(
                " after a safety sweep of {swept} keys (tracker gaps: {})",
                c.tracker_gaps
            )
        } else {
            String::new()
        },
        c.migrated_keys,
        c.dirty_keys_applied,
        c.dirty_keys_deleted,
    ))
}
