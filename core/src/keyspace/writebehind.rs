//! Write-behind (`storage.durability = "write-behind"`): replies leave once a command has run
//! in memory, and the keyspace's changes are committed every `flush_interval_ms`, or sooner
//! when the dirty keys pass `max_dirty_bytes`.
//!
//! Between flushes a changed key only stays dirty in the cache (pinned: eviction skips dirty
//! keys), so a key written a thousand times is written once per flush; the rows of large
//! collections are written into the store's open transaction as they change and journaled
//! with the flush. A flush is an ordinary commit (the dirty keys into the transaction, one
//! record of the redo journal), so a file killed at any moment opens as of the last flush.
//!
//! A failed flush (a full disk, an I/O error) loses nothing: the store keeps the batch it
//! could not append ([`crate::storage::Store::set_keep_batch`]), the keys written into it stay
//! dirty, and the flush is retried with a growing backoff.

use std::time::Duration;

use super::{now_ms, Keyspace};
use crate::storage::StoreError;

/// The longest wait between two attempts of a failing flush.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Write-behind's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteBehindOptions {
    /// Longest time a change waits for its flush, milliseconds.
    pub flush_interval_ms: u64,
    /// Estimated bytes of dirty keys past which a flush runs at once (and the executor waits
    /// for it: back-pressure).
    pub max_dirty_bytes: u64,
}

/// Write-behind's state and counters (`INFO persistence`).
#[derive(Clone, Debug, Default)]
pub struct WriteBehind {
    /// The settings.
    pub options: Option<WriteBehindOptions>,
    /// Unix milliseconds of the oldest change not yet flushed.
    pub oldest_dirty_ms: Option<i64>,
    /// Flushes that succeeded.
    pub flushes: u64,
    /// Flushes that failed (each retried).
    pub failures: u64,
    /// Consecutive failures of the current attempt (0 after a success).
    pub failing: u32,
    /// The last failure's message, until a flush succeeds.
    pub last_error: Option<String>,
    /// Unix milliseconds of the last successful flush.
    pub last_flush_ms: i64,
    /// Keys written by the last successful flush.
    pub last_flush_keys: u64,
    /// Flushes run because the dirty keys passed `max_dirty_bytes`.
    pub backpressure_flushes: u64,
    /// Unix milliseconds before which a failed flush is not retried.
    retry_at_ms: i64,
}

/// What [`Keyspace::write_behind_stats`] reports.
#[derive(Clone, Debug, Default)]
pub struct WriteBehindStats {
    /// The counters.
    pub state: WriteBehind,
    /// Dirty keys now.
    pub dirty_keys: u64,
    /// Their estimated bytes.
    pub dirty_bytes: u64,
}

impl Keyspace {
    /// Turns write-behind on (`Some`) or off. Off, every commit writes every dirty key.
    pub fn set_write_behind(&mut self, options: Option<WriteBehindOptions>) {
        self.store.set_keep_batch(options.is_some());
        self.write_behind = options.map(|o| WriteBehind {
            options: Some(o),
            last_flush_ms: now_ms(),
            ..WriteBehind::default()
        });
    }

    /// Whether replies are released before their writes are committed.
    pub fn is_write_behind(&self) -> bool {
        self.write_behind.is_some()
    }

    /// Notes the end of a batch that changed something: the oldest unflushed change's clock
    /// starts with the first one.
    pub fn note_unflushed(&mut self, now: i64) {
        let pending = self.has_pending();
        if let Some(wb) = self.write_behind.as_mut() {
            if pending {
                wb.oldest_dirty_ms.get_or_insert(now);
            }
        }
    }

    /// Whether a write-behind flush should run now: the interval has passed since the oldest
    /// unflushed change, or the dirty keys passed their limit; a failing flush waits for its
    /// backoff. Always false without write-behind.
    pub fn flush_due(&self, now: i64) -> bool {
        let Some(wb) = &self.write_behind else {
            return false;
        };
        let Some(o) = wb.options else {
            return false;
        };
        if !self.has_pending() || now < wb.retry_at_ms {
            return false;
        }
        self.over_dirty_limit()
            || wb
                .oldest_dirty_ms
                .is_some_and(|t| now.saturating_sub(t) >= o.flush_interval_ms as i64)
    }

    /// Whether the dirty keys passed `max_dirty_bytes`.
    pub fn over_dirty_limit(&self) -> bool {
        self.write_behind
            .as_ref()
            .and_then(|wb| wb.options)
            .is_some_and(|o| self.dirty_bytes as u64 >= o.max_dirty_bytes)
    }

    /// Whether writes should be refused: the dirty keys passed their limit and the flush that
    /// would make room keeps failing.
    pub fn write_behind_stalled(&self) -> Option<String> {
        let wb = self.write_behind.as_ref()?;
        if wb.failing > 0 && self.over_dirty_limit() {
            return wb.last_error.clone();
        }
        None
    }

    /// Flushes every change: the dirty keys into the store's transaction, then the store's
    /// commit. On failure nothing is dropped: the keys written stay dirty, the store keeps
    /// its batch, and the next attempt waits for a backoff.
    pub(super) fn write_behind_flush(&mut self) -> Result<(), StoreError> {
        let keys = self.dirty.len() as u64;
        let backpressure = self.over_dirty_limit();
        let flushed = self
            .flush_pending()
            .and_then(|_| self.data.persist(self.store.as_mut()));
        let result = match flushed {
            Ok(()) => self.store.commit(),
            Err(e) => {
                // The transaction may be gone with the statement that failed: rebuild it from
                // the journal and the kept batch.
                self.store.rollback();
                Err(e)
            }
        };
        let now = now_ms();
        match result {
            Ok(()) => {
                self.flushed.clear();
                self.remapped = false;
                self.data.committed();
                self.stats.commits += 1;
                self.stats.last_commit_rows = keys;
                if let Some(wb) = self.write_behind.as_mut() {
                    wb.flushes += 1;
                    wb.failing = 0;
                    wb.last_error = None;
                    wb.retry_at_ms = 0;
                    wb.last_flush_ms = now;
                    wb.last_flush_keys = keys;
                    wb.oldest_dirty_ms = None;
                    if backpressure {
                        wb.backpressure_flushes += 1;
                    }
                }
                self.evict_to_budget();
                Ok(())
            }
            Err(e) => {
                self.redirty_flushed();
                if let Some(wb) = self.write_behind.as_mut() {
                    wb.failures += 1;
                    wb.failing = wb.failing.saturating_add(1);
                    wb.last_error = Some(e.to_string());
                    let backoff = Duration::from_millis(100)
                        .saturating_mul(1 << wb.failing.min(6))
                        .min(MAX_BACKOFF);
                    wb.retry_at_ms = now + backoff.as_millis() as i64;
                }
                tracing::error!(error = %e, "write-behind flush failed; every change is kept and the flush retried");
                Err(e)
            }
        }
    }

    /// Marks the keys written into a transaction that did not commit dirty again, so the next
    /// flush writes them (their cache slots hold their newest values).
    pub(super) fn redirty_flushed(&mut self) {
        for (db, key) in std::mem::take(&mut self.flushed) {
            if let Some(slot) = self.dbs[db as usize].map.get_mut(&key) {
                if !slot.row.is_dirty() {
                    slot.row = super::cache::RowState::DIRTY;
                    self.dirty_bytes += slot.row_cost(&key);
                    self.dirty.push((db, key));
                }
            }
        }
        // next_version is written again with the next flush.
        self.persisted_version = 0;
    }

    /// Write-behind's counters, if it is on.
    pub fn write_behind_stats(&self) -> Option<WriteBehindStats> {
        self.write_behind.as_ref().map(|wb| WriteBehindStats {
            state: wb.clone(),
            dirty_keys: self.dirty.len() as u64,
            dirty_bytes: self.dirty_bytes as u64,
        })
    }
}
