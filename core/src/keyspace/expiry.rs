//! Expiry: lazily, on every lookup of a key ([`Found::expire_if_due`]), and actively, in
//! cycles that look for keys and hash fields whose TTL passed ([`Keyspace::expire_cycle`]).

use std::time::{Duration, Instant};

use super::cache::{Found, Lookup};
use super::{event, Keyspace, Value};
use crate::events::class;
use crate::storage::{DbIndex, StoreError};

/// Keys the active expiry looks at per store query.
const EXPIRE_BATCH: usize = 64;

impl Found<'_> {
    /// Lazy expiry, applied by every lookup: a key whose time has passed is removed, and a
    /// hash loses its expired fields.
    pub(super) fn expire_if_due(&mut self, now: i64) -> Result<(), StoreError> {
        let db = self.db;
        let found = self;
        if found.slot.held.is_some() && !found.expiry_paused {
            // The pause is over: the held entry expires now, as any other would.
            let held = found.slot.held.take();
            if found.slot.entry.is_none() {
                found.slot.entry = held.map(|h| *h);
            } else if let Some(h) = held {
                *found.cache_bytes -= h.value.size(); // written over meanwhile
                *found.data -= super::datasize::entry_data(found.key, Some(&h));
            }
        }
        let Some(e) = &mut found.slot.entry else {
            return Ok(());
        };
        if found.expiry_paused && e.expire_at.is_some_and(|at| at <= now) {
            // Logically expired: gone for readers, kept until expiry resumes.
            found.slot.held = found.slot.entry.take().map(Box::new);
            return Ok(());
        }
        if e.expire_at.is_some_and(|at| at <= now) {
            // Lazy expiry: the key is gone for every reader from now on.
            *found.cache_bytes -= e.value.size();
            *found.data -= found.data_size();
            found.discard()?;
            found.mark_dirty_as(true);
            found.bump_version();
            found.stats.expired += 1;
            found
                .events
                .push(event(db, class::EXPIRED, "expired", found.key));
        } else if let Value::Hash(h) = &mut e.value {
            if h.needs_purge(now) {
                let data_before = super::datasize::entry_data(found.key, found.slot.entry.as_ref());
                let Some(Value::Hash(h)) = found.slot.entry.as_mut().map(|e| &mut e.value) else {
                    return Ok(());
                };
                let before = h.size();
                let gone = h.purge_expired(found.store, now)?;
                let (after, empty) = (h.size(), h.is_empty());
                *found.cache_bytes = *found.cache_bytes + after - before;
                if !gone.is_empty() {
                    found.stats.expired_fields += gone.len() as u64;
                    found
                        .events
                        .push(event(db, class::HASH, "hexpired", found.key));
                }
                *found.data += found.data_size() - data_before;
                if empty {
                    *found.cache_bytes -= after;
                    *found.data -= found.data_size();
                    found.discard()?;
                    found
                        .events
                        .push(event(db, class::GENERIC, "del", found.key));
                }
                let version = found.bump_version();
                if let Some(e) = &mut found.slot.entry {
                    e.version = version;
                }
                found.mark_dirty();
            }
        }
        Ok(())
    }
}

impl Keyspace {
    /// One cycle of active expiry: removes keys (and hash fields) whose TTL passed, oldest
    /// first, until none is left or `budget` is spent. Returns the keys removed.
    pub fn expire_cycle(&mut self, now: i64, budget: Duration) -> Result<usize, StoreError> {
        let started = Instant::now();
        let result = self.expire_cycle_within(now, started, budget);
        self.stats.expire_cycle_us += started.elapsed().as_micros() as u64;
        result
    }

    fn expire_cycle_within(
        &mut self,
        now: i64,
        started: Instant,
        budget: Duration,
    ) -> Result<usize, StoreError> {
        self.stats.expire_cycles += 1;
        let expired_before = self.stats.expired;
        // With write-behind the store is left as of the last flush: a TTL set since then is
        // found after the next one (reads expire keys lazily meanwhile), and a key the store
        // lists is checked against its cached entry, the newest.
        let flush = self.write_behind.is_none();
        for fields in [false, true] {
            loop {
                if flush {
                    self.flush_pending()?;
                }
                let found = if fields {
                    self.store.keys_with_expiring_elements(now, EXPIRE_BATCH)?
                } else {
                    self.store.expired_keys(now, EXPIRE_BATCH)?
                };
                for (pdb, key) in &found {
                    if let Some(db) = self.phys.iter().position(|p| p == pdb) {
                        // The lookup applies expiry to the key and its fields.
                        self.parts()
                            .slot(db as DbIndex, key, now, Lookup::LoadNoTouch)?;
                    }
                }
                if started.elapsed() >= budget {
                    if flush {
                        self.flush_pending()?;
                    }
                    self.stats.expire_cycles_cut += 1;
                    return Ok((self.stats.expired - expired_before) as usize);
                }
                if found.len() < EXPIRE_BATCH {
                    break;
                }
            }
        }
        if flush {
            self.flush_pending()?;
        }
        Ok((self.stats.expired - expired_before) as usize)
    }
}
