//! The bulk copy (SPEC_F F.7): SCAN from the stored cursor; each page's keys fetched in
//! pipelines of `batch_keys` (up to `max_concurrency` in flight, at most `max_rps` keys a
//! second), written here and checkpointed (cursor and counters) in one executor step, so a
//! run killed at any point resumes from a cursor whose keys are all stored.

use futures_util::stream::{self, StreamExt, TryStreamExt};

use crate::copy::{self, Outcome};
use crate::dest::Item;
use crate::job::{Job, Stop};
use crate::options::Options;
use crate::source::Source;
use crate::state_keys;
use crate::throttle::Throttle;
use std::sync::Arc;
use tokio::sync::Mutex;

/// One SCAN page, fetched.
type Page = (u64, Vec<(Vec<u8>, Item)>, std::time::Duration);

/// SCANs from `cursor` and fetches the page's keys: pipelines of `batch_keys`, up to
/// `max_concurrency` at once, no faster than the throttle allows.
async fn fetch_page(
    src: Source,
    o: Options,
    cursor: u64,
    throttle: Arc<Mutex<Throttle>>,
) -> Result<Page, String> {
    let t0 = std::time::Instant::now();
    let (next, keys) = src.scan(cursor, o.scan_count).await?;
    let chunks: Vec<Vec<Vec<u8>>> = keys
        .chunks(o.batch_keys.max(1) as usize)
        .map(|c| c.to_vec())
        .collect();
    let mode = o.ttl_mode;
    let mut pages = Box::pin(
        stream::iter(chunks)
            .then(|chunk| {
                let throttle = Arc::clone(&throttle);
                async move {
                    throttle.lock().await.acquire(chunk.len() as u64).await;
                    chunk
                }
            })
            .map(|chunk| {
                let src = src.clone();
                async move {
                    let items = copy::fetch(&src, &chunk, mode).await?;
                    Ok::<_, String>(chunk.into_iter().zip(items).collect::<Vec<_>>())
                }
            })
            .buffered(o.max_concurrency.max(1) as usize),
    );
    let mut fetched = Vec::with_capacity(keys.len());
    while let Some(part) = pages.try_next().await? {
        fetched.extend(part);
    }
    Ok((next, fetched, t0.elapsed()))
}

/// Copies until SCAN's cursor comes back to 0 (`Ok`), or stops when asked or on an error.
/// The next page is fetched while this one is written.
pub async fn run(job: &mut Job) -> Result<(), Stop> {
    let throttle = Arc::new(Mutex::new(Throttle::new(job.row.options.max_rps)));
    let o = job.row.options.clone();
    let mut ahead = Some(tokio::spawn(fetch_page(
        job.src.clone(),
        o.clone(),
        job.row.scan_cursor,
        Arc::clone(&throttle),
    )));
    loop {
        let Some(fetching) = ahead.take() else {
            return Ok(());
        };
        if job.should_stop() {
            fetching.abort();
            return Err(Stop::Asked);
        }
        let (next, items, fetch_time) = fetching
            .await
            .map_err(|e| format!("fetching a page failed: {e}"))??;
        if next != 0 {
            // MIGRATION.SET's changes apply from the next page on.
            let o = job.row.options.clone();
            throttle.lock().await.set_rps(o.max_rps);
            ahead = Some(tokio::spawn(fetch_page(
                job.src.clone(),
                o,
                next,
                Arc::clone(&throttle),
            )));
        }
        let t0 = std::time::Instant::now();
        let n = items.len();
        let written = write_page(job, items, next).await;
        if let Err(e) = written {
            if let Some(a) = ahead.take() {
                a.abort();
            }
            return Err(e);
        }
        tracing::debug!(
            keys = n,
            fetch_us = fetch_time.as_micros() as u64,
            write_us = t0.elapsed().as_micros() as u64,
            "bulk page"
        );
        if next == 0 {
            return Ok(());
        }
    }
}

/// Writes a page's items in steps of at most `batch_keys` keys and `batch_bytes` bytes; the
/// last step stores the cursor `next`.
async fn write_page(job: &mut Job, items: Vec<(Vec<u8>, Item)>, next: u64) -> Result<(), Stop> {
    let scanned = items.len() as u64;
    let max_keys = job.row.options.batch_keys.max(1) as usize;
    let max_bytes = job.row.options.batch_bytes as usize;
    let mut groups: Vec<Vec<(Vec<u8>, Item)>> = vec![Vec::new()];
    let mut bytes = 0;
    for (k, item) in items {
        let size = match &item {
            Item::Dump { payload, .. } => payload.len(),
            Item::Rebuild { rebuild, .. } => rebuild.size(),
            _ => 0,
        };
        let last = groups.last().map_or(0, |g| g.len());
        if last > 0 && (last >= max_keys || bytes + size > max_bytes) {
            groups.push(Vec::new());
            bytes = 0;
        }
        bytes += size;
        if let Some(g) = groups.last_mut() {
            g.push((k, item));
        }
    }
    let n = groups.len();
    for (i, group) in groups.into_iter().enumerate() {
        let last = i + 1 == n;
        let refused =
            write_group(job, group, if last { Some((next, scanned)) } else { None }).await?;
        if !refused.is_empty() {
            rebuild_refused(job, refused).await?;
            if last {
                job.checkpoint(move |_, row| {
                    row.scan_cursor = next;
                    row.counters.scanned_keys += scanned;
                })
                .await?;
            }
        }
    }
    Ok(())
}

/// Writes one group and accounts for it; with `cursor`, also stores the cursor unless some
/// payloads were refused (they are rebuilt first). Returns the refused keys with their
/// expiry.
async fn write_group(
    job: &mut Job,
    group: Vec<(Vec<u8>, Item)>,
    cursor: Option<(u64, u64)>,
) -> Result<Vec<(Vec<u8>, i64, String)>, Stop> {
    let dest_db = job.row.dest_db;
    let run = job.row.run_id.clone();
    let state_db = job.state_db;
    let refused = job
        .checkpoint(move |engine, row| {
            let outcomes = copy::write_all(engine, dest_db, &group);
            let mut refused = Vec::new();
            let mut errors = Vec::new();
            for ((key, item), outcome) in group.into_iter().zip(outcomes) {
                let c = &mut row.counters;
                match outcome {
                    Outcome::Copied(n) => {
                        c.migrated_keys += 1;
                        c.migrated_bytes += n as u64;
                    }
                    Outcome::Deleted => c.vanished_keys += 1,
                    Outcome::Refused(e) => {
                        let expire_at = match item {
                            Item::Dump { expire_at, .. } => expire_at,
                            _ => 0,
                        };
                        refused.push((key, expire_at, e));
                    }
                    Outcome::Unsupported(ty) => {
                        c.skipped_keys += 1;
                        row.add_skipped_type(&ty);
                    }
                    Outcome::Failed(e) => {
                        c.error_keys += 1;
                        errors.push((key, e));
                    }
                }
            }
            if let Some((last, e)) = errors.last() {
                row.last_error = format!(
                    "key '{}': {e}",
                    String::from_utf8_lossy(&last[..last.len().min(200)])
                );
            }
            let track = row.options.track;
            engine.run_internal(state_db, |ctx| {
                for (key, e) in &errors {
                    let _ = state_keys::log_error(ctx, &run, "bulk", Some(key), e);
                    // Apply-dirty tries it again.
                    if track {
                        let k = bytes::Bytes::copy_from_slice(key);
                        if let Ok(true) = state_keys::mark_dirty(ctx, &run, &k, "bulk_error") {
                            row.counters.dirty_keys_seen += 1;
                        }
                    }
                }
            });
            if let Some((next, scanned)) = cursor {
                if refused.is_empty() {
                    row.scan_cursor = next;
                    row.counters.scanned_keys += scanned;
                }
            }
            refused
        })
        .await?;
    Ok(refused)
}

/// Copies keys whose payload RESTORE refused by type-specific reads.
async fn rebuild_refused(job: &mut Job, refused: Vec<(Vec<u8>, i64, String)>) -> Result<(), Stop> {
    let mut items = Vec::new();
    for (key, expire_at, why) in refused {
        let ty = match job.src.query(redis::cmd("TYPE").arg(&key)).await {
            Ok(v) => crate::source::text(&v).unwrap_or_default(),
            Err(e) => return Err(Stop::Failed(e)),
        };
        tracing::debug!(why = %why, "RESTORE refused a payload; rebuilding by type");
        let item = if ty == "none" {
            Item::Gone
        } else {
            copy::rebuild(&job.src, &key, &ty, expire_at).await?
        };
        items.push((key, item));
    }
    write_group(job, items, None).await?;
    Ok(())
}
