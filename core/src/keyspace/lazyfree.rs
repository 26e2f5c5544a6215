//! Lazy freeing: a deleted or replaced collection leaves the keyspace at once (its key row
//! goes, the store queues its element rows), and [`Keyspace::reclaim`] removes those rows in
//! small steps between batches, so DEL, UNLINK, FLUSHDB or an overwrite of a collection of
//! millions of elements never holds the executor for long.

use std::time::{Duration, Instant};

use super::Keyspace;
use crate::storage::StoreError;

/// Rows removed per store call: small enough that one step is well under a millisecond.
const STEP_ROWS: u64 = 2_000;

/// A collection with more rows than this counts in `lazyfreed_objects`, as Redis counts the
/// objects whose free effort made it free them in the background.
const LAZYFREE_THRESHOLD: u64 = 64;

impl Keyspace {
    /// Removes queued collection rows for up to `budget`; returns whether any were removed
    /// (the caller commits them).
    pub fn reclaim(&mut self, budget: Duration) -> Result<bool, StoreError> {
        let started = Instant::now();
        let mut any = false;
        while started.elapsed() < budget {
            let step = self.store.reclaim(STEP_ROWS)?;
            if !step.worked() {
                break;
            }
            any = true;
            let Some(cid) = step.cid else {
                // Keys of a flushed database: each one an object freed, as Redis counts the
                // keys of a database FLUSHDB ASYNC detached.
                self.stats.lazyfreed_objects += step.rows;
                continue;
            };
            let before = match self.reclaiming.take() {
                Some((c, rows)) if c == cid => rows,
                _ => 0,
            };
            if !step.finished {
                self.reclaiming = Some((cid, before + step.rows));
            } else if before + step.rows > LAZYFREE_THRESHOLD {
                self.stats.lazyfreed_objects += 1;
            }
        }
        Ok(any)
    }

    /// Collections queued for removal and keys of flushed databases not yet deleted
    /// (`lazyfree_pending_objects`).
    pub fn lazyfree_pending(&mut self) -> Result<u64, StoreError> {
        self.store.lazyfree_pending()
    }
}
