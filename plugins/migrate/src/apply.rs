//! Apply-dirty (SPEC_F F.8): takes the dirty keys oldest first, fetches each again (gone on
//! the source: deleted here), writes them, and settles their records, all in one step per
//! batch. A key that got another event while it was copied stays dirty for the next pass.
//! Idempotent and repeatable: live as often as wanted, and final under the freeze.

use bytes::Bytes;

use crate::copy::{self, Outcome};
use crate::dest::Item;
use crate::job::{Desired, Job, Stop};
use crate::registry::KeyState;
use crate::state_keys;

/// Applies dirty keys. With `until_empty`, until none is left (the final delta, under the
/// freeze); otherwise at most the keys dirty when it began (a live pass, which must end even
/// while the source keeps writing). Returns the keys handled.
pub async fn run(job: &mut Job, until_empty: bool) -> Result<u64, Stop> {
    let run = job.row.run_id.clone();
    let state_db = job.state_db;
    let limit = job.row.options.batch_keys.max(1) as usize;
    let r = run.clone();
    let initial = job
        .exec(move |e| e.run_internal(state_db, |ctx| state_keys::registry_sizes(ctx, &r)))
        .await??
        .0;
    let mut handled = 0u64;
    loop {
        if !until_empty && (handled >= initial || job.should_stop()) {
            break;
        }
        // The final delta stops only for shutdown or abort (which unfreezes the source).
        if until_empty && (*job.shutdown.borrow() || job.ctl.desired() == Desired::Abort) {
            return Err(Stop::Asked);
        }
        let r = run.clone();
        let batch: Vec<(Bytes, u64)> = job
            .exec(move |e| e.run_internal(state_db, |ctx| state_keys::pending(ctx, &r, limit)))
            .await??;
        if batch.is_empty() {
            break;
        }
        let keys: Vec<Vec<u8>> = batch.iter().map(|(k, _)| k.to_vec()).collect();
        let mut items = copy::fetch(&job.src, &keys, job.row.options.ttl_mode).await?;
        // RESTORE refusals are rare: rebuild those by type before writing.
        handled += batch.len() as u64;
        let dest_db = job.row.dest_db;
        let r = run.clone();
        let pairs: Vec<(Vec<u8>, Item)> = keys.into_iter().zip(items.drain(..)).collect();
        let refused = apply_batch(job, pairs, batch.clone(), dest_db, state_db, r).await?;
        if !refused.is_empty() {
            let mut rebuilt = Vec::new();
            for (key, expire_at) in refused {
                let ty = job
                    .src
                    .query(redis::cmd("TYPE").arg(&key))
                    .await
                    .map(|v| crate::source::text(&v).unwrap_or_default())?;
                let item = if ty == "none" {
                    Item::Gone
                } else {
                    copy::rebuild(&job.src, &key, &ty, expire_at).await?
                };
                rebuilt.push((key, item));
            }
            let events: Vec<(Bytes, u64)> = batch
                .iter()
                .filter(|(k, _)| rebuilt.iter().any(|(r, _)| r[..] == k[..]))
                .cloned()
                .collect();
            apply_batch(job, rebuilt, events, dest_db, state_db, run.clone()).await?;
        }
    }
    Ok(handled)
}

/// Writes one batch of dirty keys and settles their records; returns the keys whose
/// payload RESTORE refused (with their expiry), still dirty.
async fn apply_batch(
    job: &mut Job,
    pairs: Vec<(Vec<u8>, Item)>,
    events: Vec<(Bytes, u64)>,
    dest_db: u32,
    state_db: u32,
    run: String,
) -> Result<Vec<(Vec<u8>, i64)>, Stop> {
    let r = job
        .checkpoint(move |engine, row| {
            let outcomes = copy::write_all(engine, dest_db, &pairs);
            let mut refused = Vec::new();
            engine.run_internal(state_db, |ctx| {
                for (((key, item), outcome), (_, count)) in
                    pairs.iter().zip(outcomes).zip(events.iter())
                {
                    let k = Bytes::copy_from_slice(key);
                    let c = &mut row.counters;
                    let state = match outcome {
                        Outcome::Copied(n) => {
                            c.dirty_keys_applied += 1;
                            c.migrated_bytes += n as u64;
                            KeyState::Applied
                        }
                        Outcome::Deleted => {
                            c.dirty_keys_deleted += 1;
                            KeyState::Deleted
                        }
                        Outcome::Refused(_) => {
                            let expire_at = match item {
                                Item::Dump { expire_at, .. } => *expire_at,
                                _ => 0,
                            };
                            refused.push((key.clone(), expire_at));
                            continue;
                        }
                        Outcome::Unsupported(ty) => {
                            c.skipped_keys += 1;
                            row.add_skipped_type(&ty);
                            KeyState::Skipped
                        }
                        Outcome::Failed(e) => {
                            c.error_keys += 1;
                            row.last_error = e.clone();
                            let _ = state_keys::log_error(ctx, &run, "dirty_apply", Some(key), &e);
                            KeyState::Error
                        }
                    };
                    if let Err(e) = state_keys::settle(ctx, &run, &k, *count, state) {
                        row.last_error = e;
                    }
                }
            });
            refused
        })
        .await?;
    Ok(r)
}
