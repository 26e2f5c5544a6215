//! Pending writes: dirty keys are written into the store's open transaction once per batch
//! ([`Keyspace::flush_pending`]), then committed, or rolled back with the cache forgetting
//! every uncommitted key.

use super::cache::{RowState, Slot};
use super::dbmap::load_db_map;
use super::{Keyspace, Value};
use crate::storage::{DbIndex, KeyRow, ShortBytes, StoreError};

/// Flush epochs an early row's [`RowState`] tells apart: an early row whose epoch comes round
/// again reads as built in the current one, which costs nothing but a row built at the flush
/// instead (and a round of eviction skipped).
pub(super) const EPOCHS: u8 = 254;

/// The longest string whose row is built early: a longer one's row is built at the flush
/// (its journal record is most of its cost, and a key rewritten in the batch would have two).
pub(super) const EARLY_VALUE_MAX: usize = 256;

/// Key rows built when their keys changed rather than at the flush ([`Keyspace::flush_pending`]
/// takes them first, then builds the dirty keys' rows).
///
/// A flush looked each dirty key up in the cache again and read its value, a key that had
/// left the CPU's caches since its command ran: with random keys, a miss in memory or two per
/// key, 8-12% of the executor's time under SETs and INCRs and 22% under MSETs. The first
/// change of a short string (or a deletion) in a flush epoch builds its row at once instead,
/// with the key's slot at hand. A second change in the same epoch makes the key dirty as
/// before: its row is built again at the flush, after the early one, which the row writer's
/// queue coalesces. Write-behind builds every row at its flush (its flushes are rare).
#[derive(Default)]
pub(super) struct EarlyRows {
    rows: Vec<KeyRow>,
    /// Each row's database and key, for the flushed list (rolled back with the transaction).
    keys: Vec<(DbIndex, ShortBytes)>,
    /// The flush epoch: counts flushes, modulo [`EPOCHS`].
    epoch: u8,
}

impl EarlyRows {
    pub(super) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The rows waiting for the next flush.
    pub(super) fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the store lacks `slot`'s newest row: it is dirty, or its row waits here.
    pub(super) fn holds(&self, slot: &Slot) -> bool {
        slot.row.is_dirty() || (!self.is_empty() && slot.row == RowState::early(self.epoch))
    }

    /// Whether a change to a clean `slot` builds its row now: no row of it waits here, and
    /// it is cheap to build (a deletion, or a short string).
    pub(super) fn takes(&self, slot: &Slot) -> bool {
        slot.row != RowState::early(self.epoch)
            && match slot.entry.as_ref().map(|e| &e.value) {
                None => true,
                Some(Value::String(b)) => b.len() <= EARLY_VALUE_MAX,
                Some(_) => false,
            }
    }

    /// Builds `slot`'s row now (`db`: its database, `pdb`: the store's).
    pub(super) fn push(&mut self, db: DbIndex, pdb: DbIndex, key: &ShortBytes, slot: &mut Slot) {
        self.rows.push(slot.key_row(pdb, key));
        slot.row = RowState::early(self.epoch);
        self.keys.push((db, key.share_or_copy()));
    }

    /// Hands the rows over for a flush, their keys joining `flushed`, and starts the next
    /// epoch.
    fn take(&mut self, flushed: &mut Vec<(DbIndex, ShortBytes)>) -> Vec<KeyRow> {
        self.epoch = (self.epoch + 1) % EPOCHS;
        flushed.append(&mut self.keys);
        // Room for a batch half as large again as this one: growing the list as it fills
        // (copying its rows each time) was 2% of the executor under random INCRs.
        let capacity = (self.rows.len() * 3 / 2).max(64);
        std::mem::replace(&mut self.rows, Vec::with_capacity(capacity))
    }
}

/// Keys looked up at once, before the rows of the first of them are built: a lookup in a
/// large cache is a chain of dependent memory loads (the table's group, its bucket, the node,
/// and the key's bytes when too long to be inline in it), and lookups with nothing between them overlap, where each one followed
/// by building its row waits alone (as [`Keyspace::prefetch`] does for a pipeline's keys).
const LOOKAHEAD: usize = 16;

impl Keyspace {
    /// Writes every dirty key into the store's open transaction.
    /// On failure the keys not reached yet stay dirty.
    pub fn flush_pending(&mut self) -> Result<(), StoreError> {
        let mut dirty = std::mem::take(&mut self.dirty);
        self.dirty_bytes = 0;
        let first = self.flushed.len();
        // The early rows first: a dirty key's row is newer than its key's early one.
        let mut rows = self.early.take(&mut self.flushed);
        rows.reserve(dirty.len());
        // The hashes of the keys looked up ahead, for their lookups proper.
        let mut hashes = [0u64; LOOKAHEAD];
        for i in 0..dirty.len() {
            if i % LOOKAHEAD == 0 {
                let next = &dirty[i..dirty.len().min(i + LOOKAHEAD)];
                for ((db, key), hash) in next.iter().zip(hashes.iter_mut()) {
                    let map = &self.dbs[*db as usize].map;
                    *hash = map.hasher().hash_one(&key[..]);
                    let found = map.raw_entry().from_hash(*hash, |k| k == key);
                    std::hint::black_box(found.is_some());
                }
            }
            let (db, key) = std::mem::take(&mut dirty[i]);
            let slot = self.dbs[db as usize]
                .map
                .raw_entry_mut()
                .from_hash(hashes[i % LOOKAHEAD], |k| *k == key);
            let hashlink::linked_hash_map::RawEntryMut::Occupied(mut slot) = slot else {
                continue; // dropped by FLUSHDB/FLUSHALL, which wrote through already
            };
            let slot = slot.get_mut();
            if !slot.row.is_dirty() {
                continue;
            }
            slot.row = RowState::CLEAN;
            rows.push(slot.key_row(self.phys[db as usize], &key));
            self.flushed.push((db, key));
        }
        if self.dirty.is_empty() {
            // Keeps the allocation for the next batch.
            dirty.clear();
            self.dirty = dirty;
        }
        self.stats.rows_written += rows.len() as u64;
        if let Err((written, e)) = self.store.write_rows(rows) {
            // The key whose row failed stays among the flushed, which the rollback after a
            // failed commit deals with; the ones after it are dirty again.
            for (db, key) in self.flushed.split_off(first + written + 1) {
                if let Some(slot) = self.dbs[db as usize].map.get_mut(&key) {
                    slot.row = RowState::DIRTY;
                    self.dirty_bytes += slot.row_cost(&key);
                    self.dirty.push((db, key));
                }
            }
            return Err(e);
        }
        if self.next_version != self.persisted_version {
            self.store
                .meta_set("next_version", self.next_version as i64)?;
            self.persisted_version = self.next_version;
        }
        Ok(())
    }

    /// Why the store refuses writes before they run (it cannot persist them at present, see
    /// [`crate::storage::Store::writes_refused`]), if it does.
    pub fn store_writes_refused(&self) -> Option<String> {
        self.store.writes_refused()
    }

    /// Whether any write is waiting for [`Self::commit`].
    pub fn has_pending(&self) -> bool {
        !self.dirty.is_empty() || !self.early.is_empty() || self.store.in_transaction()
    }

    /// Makes every write since the last commit durable in one transaction, then shrinks the
    /// cache to its budget. On failure the cache forgets the uncommitted keys, so readers see
    /// the store's last committed state again.
    ///
    /// With write-behind this is a flush, and a failure drops nothing (see [`super::writebehind`]).
    pub fn commit(&mut self) -> Result<(), StoreError> {
        if self.write_behind.is_some() {
            return self.write_behind_flush();
        }
        let rows = self.dirty.len() + self.early.len() + self.flushed.len();
        let result = self
            .flush_pending()
            .and_then(|_| self.data.persist(self.store.as_mut()))
            .and_then(|_| self.store.commit());
        match result {
            Ok(()) => {
                self.stats.commits += 1;
                self.stats.last_commit_rows = rows as u64;
                self.flushed.clear();
                self.remapped = false;
                self.data.committed();
                self.evict_to_budget();
                Ok(())
            }
            Err(e) => {
                self.rollback();
                Err(e)
            }
        }
    }

    /// Discards every write since the last commit, in the store and in the cache. With
    /// write-behind those writes were acknowledged: the store rebuilds its transaction with
    /// them, and the keys it had been given stay dirty.
    pub fn rollback(&mut self) {
        self.store.rollback();
        if self.write_behind.is_some() {
            self.redirty_flushed();
        } else {
            self.forget_uncommitted();
        }
    }

    fn forget_uncommitted(&mut self) {
        self.early.take(&mut self.flushed);
        let keys: Vec<_> = self.flushed.drain(..).chain(self.dirty.drain(..)).collect();
        self.dirty_bytes = 0;
        if self.remapped {
            // SWAPDB's map change was rolled back with the rest: read it again and start the
            // cache afresh, since cached slots may sit under the wrong database.
            self.remapped = false;
            match load_db_map(self.store.as_mut(), self.dbs.len() as u32) {
                Ok(phys) => self.phys = phys,
                Err(e) => tracing::error!(error = %e, "cannot reload the database map"),
            }
            for db in 0..self.dbs.len() {
                self.clear_cache_db(db as DbIndex);
            }
        } else {
            for (db, key) in keys {
                if let Some(slot) = self.dbs[db as usize].map.remove(&key) {
                    self.cache_bytes -= slot.cost(&key);
                }
            }
        }
        self.persisted_version = 0; // rewrite next_version with the next commit
        self.data.rolled_back();
    }

    /// Commits what is pending and closes the store cleanly.
    pub fn close(&mut self) -> Result<(), StoreError> {
        self.commit()?;
        self.store.close()
    }
}
