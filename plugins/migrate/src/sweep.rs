//! The safety sweep (SPEC_F F.8.3): after the tracker missed events (a disconnect, a
//! restart of this server), every key of the source and every key here is marked dirty, so
//! that the final apply-dirty, under the freeze, copies or deletes each one again.

use bytes::Bytes;

use crate::job::{Desired, Job, Stop};
use crate::reply;
use crate::state_keys;

/// Marks every key on both sides dirty; returns how many.
pub async fn run(job: &mut Job) -> Result<u64, Stop> {
    let run = job.row.run_id.clone();
    let state_db = job.state_db;
    let count = job.row.options.scan_count;
    let mut marked = 0u64;
    // The source's keys.
    let mut cursor = 0u64;
    loop {
        if job.ctl.desired() == Desired::Abort || *job.shutdown.borrow() {
            return Err(Stop::Asked);
        }
        let (next, keys) = job.src.scan(cursor, count).await?;
        marked += keys.len() as u64;
        let r = run.clone();
        job.checkpoint(move |engine, row| {
            engine.run_internal(state_db, |ctx| {
                for k in keys {
                    if let Ok(true) = state_keys::mark_dirty(ctx, &r, &Bytes::from(k), "sweep") {
                        row.counters.dirty_keys_seen += 1;
                    }
                }
            })
        })
        .await?;
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    // The keys here (some may be gone on the source).
    let dest_db = job.row.dest_db;
    let mut cursor = 0u64;
    loop {
        let c = cursor;
        let (next, keys) = job
            .exec(move |engine| {
                engine.run_internal(dest_db, |ctx| {
                    let r = state_keys::call(
                        ctx,
                        &[
                            Bytes::from_static(b"SCAN"),
                            Bytes::from(c.to_string()),
                            Bytes::from_static(b"COUNT"),
                            Bytes::from(count.to_string()),
                        ],
                    )?;
                    let mut parts = reply::flat(r).into_iter();
                    let next = parts.next().and_then(|r| reply::int(&r)).unwrap_or(0) as u64;
                    let keys: Vec<Bytes> = parts
                        .next()
                        .map(reply::flat)
                        .unwrap_or_default()
                        .iter()
                        .filter_map(reply::bytes)
                        .collect();
                    Ok::<_, String>((next, keys))
                })
            })
            .await??;
        marked += keys.len() as u64;
        let r = run.clone();
        job.checkpoint(move |engine, row| {
            engine.run_internal(state_db, |ctx| {
                for k in keys {
                    if let Ok(true) = state_keys::mark_dirty(ctx, &r, &k, "sweep") {
                        row.counters.dirty_keys_seen += 1;
                    }
                }
            })
        })
        .await?;
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    job.checkpoint(|_, row| row.counters.sweeps += 1).await?;
    Ok(marked)
}
