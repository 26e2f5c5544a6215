//! The hot cache: a bounded map of each database's keys to their entries (or to the fact that
//! they do not exist), its byte accounting and eviction (CLOCK, an approximation of LRU: see
//! [`DbCache::pass_referenced`]), and the lookup every key access goes through
//! ([`Parts::slot`]).

use bytes::Bytes;
use hashlink::LinkedHashMap;

use super::{Encodings, Entry, Keyspace, KeyspaceStats, Value, WatchRegistry};
use crate::events::KeyEvent;
use crate::storage::{CollectionId, DbIndex, Presence, ShortBytes, Store, StoreError};

/// Fixed cost charged per cached key on top of its value's bytes (and its key's, when too
/// long to be kept inline, see [`ShortBytes`]): what the map really allocates for it, so that
/// the cache's budget is memory and not a fraction of it (a flat 104 bytes here once let a
/// 64 MB cache of 500-byte strings occupy about 99 MB). The map node holds the key and the
/// slot plus two links; the hash table a pointer and a control byte per bucket at a load of
/// 7/8 to 7/16 (16 bytes on average); a value over 64 bytes gets a shared header (32 bytes)
/// once shared with its row (a shorter one is copied, see `share_or_copy`); the allocator
/// rounds the node and the value's bytes up to its size classes (16 each).
pub(super) const SLOT_OVERHEAD: usize =
    std::mem::size_of::<(ShortBytes, Slot)>() + 2 * std::mem::size_of::<usize>() + 16 + 32 + 32;

/// Cached keys of a flushed database from which the map is dropped on a thread of its own.
const DROP_APART_MIN: usize = 10_000;

/// A cached key: its entry, or `None` when the key is known not to exist.
pub(super) struct Slot {
    pub(super) entry: Option<Entry>,
    /// An entry whose TTL passed while CLIENT PAUSE held expiry back: readers see no key,
    /// but it is neither deleted nor counted as expired until the pause ends (Redis keeps
    /// such keys "logically expired"). Boxed: it is rare, and each cached key pays its room.
    pub(super) held: Option<Box<Entry>>,
    /// Whether the store lacks the key's newest row (see [`RowState`]).
    pub(super) row: RowState,
    /// Looked up since the cache's eviction last passed it (the CLOCK algorithm's reference
    /// bit): eviction gives such a key another round at the back instead of dropping it.
    pub(super) referenced: bool,
    /// Unix milliseconds of the last access (OBJECT IDLETIME, the LRU policies).
    pub(super) accessed: i64,
    /// Redis's LFU counter and the minute it was last decremented (see `evict.rs`).
    pub(super) freq: super::evict::Lfu,
    /// Whether the store holds the key (and with an expiry) as of the rows written to it so
    /// far: the presence its next row replaces ([`crate::storage::KeyRow::was`]).
    pub(super) stored: Presence,
}

/// Where a cached key's changes stand with the store: written (`CLEAN`), waiting for the
/// next flush to build its row (`DIRTY`, the key is in the dirty list), or with its row built
/// already, in the flush epoch given (see [`super::commit::EarlyRows`]). An early row of an
/// earlier epoch went with that flush: the key is clean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct RowState(u8);

impl RowState {
    pub(super) const CLEAN: RowState = RowState(0);
    pub(super) const DIRTY: RowState = RowState(1);

    /// Its row built early in flush epoch `epoch` (below [`super::commit::EPOCHS`]).
    pub(super) fn early(epoch: u8) -> RowState {
        RowState(2 + epoch)
    }

    pub(super) fn is_dirty(self) -> bool {
        self == RowState::DIRTY
    }
}

impl Slot {
    pub(super) fn cost(&self, key: &[u8]) -> usize {
        crate::storage::apart(key.len())
            + SLOT_OVERHEAD
            + self.entry.as_ref().map_or(0, |e| e.value.size())
            + self.held.as_ref().map_or(0, |e| e.value.size())
    }

    /// The key row of the slot's entry as it is now, for store database `pdb`, with the
    /// presence it replaces; the slot notes the store's new presence.
    pub(super) fn key_row(&mut self, pdb: DbIndex, key: &ShortBytes) -> crate::storage::KeyRow {
        let row = self
            .entry
            .as_ref()
            .map(|e| e.value.to_record(e.expire_at, e.version));
        let was = std::mem::replace(&mut self.stored, Presence::of(row.as_ref()));
        crate::storage::KeyRow {
            db: pdb,
            key: key.share_or_copy(),
            row,
            was: Some(was),
        }
    }

    /// What the slot's key row is estimated to take to write (`max_dirty_bytes`): its cache
    /// cost less what only the cache holds (a set's member index).
    pub(super) fn row_cost(&self, key: &[u8]) -> usize {
        self.cost(key) - self.entry.as_ref().map_or(0, |e| e.value.index_size())
    }
}

#[derive(Default)]
pub(super) struct DbCache {
    pub(super) map: LinkedHashMap<ShortBytes, Slot, ahash::RandomState>,
}

impl DbCache {
    /// CLOCK's hand: moves the keys at the front that were looked up since it last passed
    /// them to the back, their reference bits cleared, so that the front holds the keys
    /// least recently used (as far as the bits tell). At most `limit` keys move; returns how
    /// many did.
    pub(super) fn pass_referenced(&mut self, limit: usize) -> usize {
        for moved in 0..limit {
            if !self.map.front().is_some_and(|(_, slot)| slot.referenced) {
                return moved;
            }
            self.rotate_front();
        }
        limit
    }

    /// Moves the front key to the back, its reference bit cleared.
    fn rotate_front(&mut self) {
        if let Some((key, mut slot)) = self.map.pop_front() {
            slot.referenced = false;
            self.map.insert(key, slot);
        }
    }
}

/// Where a key is looked up from, and what the lookup may do.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Lookup {
    /// Load from the store if not cached; count as an access.
    Load,
    /// Load, but leave the access time alone (TYPE, TTL, OBJECT).
    LoadNoTouch,
}

/// The keyspace's fields, borrowed apart so a cache slot can be held while the store, the dirty
/// list and counters change.
pub(super) struct Parts<'a> {
    dbs: &'a mut [DbCache],
    phys: &'a [DbIndex],
    store: &'a mut dyn Store,
    stats: &'a mut KeyspaceStats,
    dirty: &'a mut Vec<(DbIndex, ShortBytes)>,
    /// `None` under write-behind, whose flushes build every row.
    early: Option<&'a mut super::commit::EarlyRows>,
    dirty_bytes: &'a mut usize,
    cache_bytes: &'a mut usize,
    next_version: &'a mut u64,
    events: &'a mut Vec<KeyEvent>,
    watches: &'a mut WatchRegistry,
    want_new: bool,
    expiry_paused: bool,
    /// Lookups leave access times alone (CLIENT NO-TOUCH).
    no_touch: bool,
    limits: &'a Encodings,
    /// Logical data size of each store database (see `datasize.rs`).
    data: &'a mut [i64],
    /// The LFU settings, when an LFU policy counts accesses.
    lfu: Option<super::evict::LfuParams>,
}

/// A cache slot found by [`Parts::slot`], with what is needed to change it.
pub(super) struct Found<'a> {
    pub(super) db: DbIndex,
    pub(super) key: &'a ShortBytes,
    pub(super) slot: &'a mut Slot,
    pub(super) store: &'a mut dyn Store,
    pub(super) stats: &'a mut KeyspaceStats,
    pub(super) dirty: &'a mut Vec<(DbIndex, ShortBytes)>,
    /// Rows built at the change rather than at the flush (see [`super::commit::EarlyRows`]).
    pub(super) early: Option<&'a mut super::commit::EarlyRows>,
    /// The store database of `db`.
    pub(super) pdb: DbIndex,
    /// Estimated bytes of the dirty keys (their size when they became dirty).
    pub(super) dirty_bytes: &'a mut usize,
    pub(super) cache_bytes: &'a mut usize,
    pub(super) next_version: &'a mut u64,
    pub(super) events: &'a mut Vec<KeyEvent>,
    pub(super) watches: &'a mut WatchRegistry,
    pub(super) want_new: bool,
    /// CLIENT PAUSE holds expiry back (see [`Slot::held`]).
    pub(super) expiry_paused: bool,
    pub(super) limits: &'a Encodings,
    /// The logical data size of the key's database (see `datasize.rs`).
    pub(super) data: &'a mut i64,
}

impl Found<'_> {
    /// Records that the slot must be written at the next flush. Every change to a key passes
    /// here, so this is also where WATCH learns of it.
    pub(super) fn mark_dirty(&mut self) {
        self.mark_dirty_as(false);
    }

    /// [`Self::mark_dirty`] saying whether the change is the key's expiry, which no client
    /// made (client-side caching's NOLOOP leaves out only the client's own changes).
    pub(super) fn mark_dirty_as(&mut self, expired: bool) {
        if !self.watches.is_empty() {
            self.watches.changed(self.db, self.key, expired);
        }
        if self.slot.row.is_dirty() {
            return;
        }
        *self.dirty_bytes += self.slot.row_cost(self.key);
        if let Some(early) = self.early.as_deref_mut() {
            if early.takes(self.slot) {
                early.push(self.db, self.pdb, self.key, self.slot);
                return;
            }
        }
        self.slot.row = RowState::DIRTY;
        self.dirty.push((self.db, self.key.share_or_copy()));
    }

    pub(super) fn bump_version(&mut self) -> u64 {
        let v = *self.next_version;
        *self.next_version += 1;
        v
    }

    pub(super) fn size(&self) -> usize {
        self.slot.entry.as_ref().map_or(0, |e| e.value.size())
    }

    /// The key's share of the logical data size (see `datasize.rs`).
    pub(super) fn data_size(&self) -> i64 {
        super::datasize::entry_data(self.key, self.slot.entry.as_ref())
    }

    /// Drops the entry (expiry, DEL, overwrite): its element rows go at once, since its key
    /// row may never have been written. The caller accounts for the cache bytes.
    pub(super) fn discard(&mut self) -> Result<Option<Entry>, StoreError> {
        let old = self.slot.entry.take();
        if let Some(cid) = old.as_ref().and_then(|e| e.value.cid()) {
            self.store.drop_elements(cid)?;
        }
        Ok(old)
    }
}

impl<'a> Parts<'a> {
    /// Makes sure `key` is in the cache (loading it from the store if needed) as the most
    /// recently used key, and applies expiry: a key whose time has passed is removed, and a
    /// hash loses its expired fields.
    pub(super) fn slot(
        self,
        db: DbIndex,
        key: &[u8],
        now: i64,
        lookup: Lookup,
    ) -> Result<Found<'a>, StoreError> {
        Ok(self
            .find(db, key, now, lookup, true, None)?
            .expect("a slot is made for an absent key"))
    }

    /// [`Self::slot`] for a read: `None`, and no slot, for a key that is not cached and that
    /// the store certainly does not hold (its key filter answers without a lookup). Misses,
    /// the common case of cache workloads, would otherwise fill the cache with empty slots,
    /// each a hash table insert, an LRU link and later an eviction, where Redis finds
    /// nothing at once.
    ///
    /// `count`, when given, counts the lookup as a keyspace hit or miss (after lazy expiry),
    /// and says whether a miss sends the `keymiss` event.
    pub(super) fn slot_for_read(
        self,
        db: DbIndex,
        key: &[u8],
        now: i64,
        lookup: Lookup,
        count: Option<bool>,
    ) -> Result<Option<Found<'a>>, StoreError> {
        self.find(db, key, now, lookup, false, count)
    }

    fn find(
        self,
        db: DbIndex,
        key: &[u8],
        now: i64,
        lookup: Lookup,
        slot_if_absent: bool,
        count: Option<bool>,
    ) -> Result<Option<Found<'a>>, StoreError> {
        use hashlink::linked_hash_map::RawEntryMut;
        let (k, slot) = match self.dbs[db as usize].map.raw_entry_mut().from_key(key) {
            RawEntryMut::Occupied(o) => {
                // Moving the key to the back of the LRU list here would touch its two
                // neighbours, two cache misses per lookup over a large key set; the
                // reference bit gives eviction the same order at a fraction of the cost.
                let (k, slot) = o.into_key_value();
                slot.referenced = true;
                (k, slot)
            }
            RawEntryMut::Vacant(v) => {
                self.stats.cache_misses += 1;
                let pdb = self.phys[db as usize];
                if !slot_if_absent && !self.store.may_hold(pdb, key) {
                    if let Some(notify_miss) = count {
                        count_read(self.stats, self.events, false, notify_miss, db, key);
                    }
                    return Ok(None);
                }
                let record = self.store.load(pdb, key)?;
                let stored = Presence::of(record.as_ref());
                let entry = match record {
                    Some(r) => Some(Entry {
                        expire_at: r.expire_at,
                        version: r.version,
                        raw: false,
                        value: Value::from_record(r)?,
                    }),
                    None => None,
                };
                let slot = Slot {
                    entry,
                    held: None,
                    row: RowState::CLEAN,
                    referenced: false,
                    accessed: now,
                    freq: super::evict::Lfu::new(now),
                    stored,
                };
                *self.cache_bytes += slot.cost(key);
                v.insert(ShortBytes::copy_from_slice(key), slot)
            }
        };
        if lookup != Lookup::LoadNoTouch && !self.no_touch {
            // Writes count as accesses too, as Redis's lookupKeyWrite does.
            slot.accessed = now;
            if let Some(params) = &self.lfu {
                // A key that does not exist yet starts at the initial counter when created.
                if slot.entry.is_some() {
                    slot.freq.touch(now, params);
                }
            }
        }
        let data = self.data;
        let data = &mut data[self.phys[db as usize] as usize];
        let mut found = Found {
            db,
            key: k,
            slot,
            store: self.store,
            stats: self.stats,
            dirty: self.dirty,
            early: self.early,
            pdb: self.phys[db as usize],
            dirty_bytes: self.dirty_bytes,
            cache_bytes: self.cache_bytes,
            next_version: self.next_version,
            events: self.events,
            watches: self.watches,
            want_new: self.want_new,
            expiry_paused: self.expiry_paused,
            limits: self.limits,
            data,
        };
        found.expire_if_due(now)?;
        if let Some(notify_miss) = count {
            let hit = found.slot.entry.is_some();
            count_read(found.stats, found.events, hit, notify_miss, db, key);
        }
        Ok(Some(found))
    }
}

/// A read's keyspace hit or miss, and the `keymiss` event a miss sends when asked for.
fn count_read(
    stats: &mut KeyspaceStats,
    events: &mut Vec<KeyEvent>,
    hit: bool,
    notify_miss: bool,
    db: DbIndex,
    key: &[u8],
) {
    if hit {
        stats.hits += 1;
        return;
    }
    stats.misses += 1;
    if notify_miss {
        events.push(KeyEvent {
            db,
            class: crate::events::class::KEY_MISS,
            event: "keymiss",
            key: Bytes::copy_from_slice(key),
        });
    }
}

impl Keyspace {
    /// Changes the cache budget; the cache shrinks at the next commit.
    pub fn set_cache_max_bytes(&mut self, bytes: u64) {
        self.cache_max_bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
    }

    /// Bytes the cache currently accounts for.
    pub fn cache_bytes(&self) -> usize {
        self.cache_bytes
    }

    /// The cache's budget.
    pub fn cache_max_bytes(&self) -> usize {
        self.cache_max_bytes
    }

    /// Number of keys (live or known-absent) in the cache.
    pub fn cache_keys(&self) -> usize {
        self.dbs.iter().map(|d| d.map.len()).sum()
    }

    /// Looks up a pipeline's keys ahead of its commands, so that their cache entries and
    /// short values are in the CPU's cache when the commands run. A lookup over a large key
    /// set is a chain of dependent memory loads (the table, the node, the key's bytes, the
    /// value's); one command at a time, each chain waits alone, while these lookups, having
    /// nothing between them, overlap. The same goes, next, for the `elements` the commands
    /// name of their keys' large hashes, sets and sorted sets (`(key, field or member)`),
    /// which the store looks up in its own cache ([`Store::prefetch_elements`]).
    pub fn prefetch<'k>(
        &self,
        db: DbIndex,
        keys: impl Iterator<Item = &'k [u8]>,
        elements: &[(&[u8], &[u8])],
    ) {
        let Some(cache) = self.dbs.get(db as usize) else {
            return;
        };
        let pdb = self.phys[db as usize];
        // First each key's bucket alone: a probe of the table that, instead of reading the
        // node it finds, asks for the node's lines and goes on. These probes wait only for
        // the table, so the nodes of all the keys are on their way at once; the lookups
        // proper then find them in the cache, or nearly there.
        let hasher = cache.map.hasher();
        let hashes: Vec<(u64, &[u8])> = keys.map(|k| (hasher.hash_one(k), k)).collect();
        for &(hash, _) in &hashes {
            let _ = cache.map.raw_entry().from_hash(hash, |k| {
                crate::prefetch::prefetch_pair::<ShortBytes, Slot>(k);
                false
            });
        }
        for &(hash, key) in &hashes {
            let Some((_, slot)) = cache.map.raw_entry().from_hash(hash, |k| k[..] == *key) else {
                // Not cached: the store's key filter answers for it first.
                self.store.prefetch_key(pdb, key);
                continue;
            };
            // The node's lines are on their way (the slot's tail, too: its expiry hold,
            // access time, dirty and reference bits, which every command's lookup and the
            // commit's flush read); a short value's bytes are one load further.
            if let Some(Value::String(b)) = slot.entry.as_ref().map(|e| &e.value) {
                crate::prefetch::prefetch(b.as_ptr());
            }
        }
        if elements.is_empty() {
            return;
        }
        let mut wanted = Vec::with_capacity(elements.len());
        let mut last: Option<(&[u8], Option<CollectionId>)> = None;
        for &(key, sub) in elements {
            let cid = match last {
                Some((k, cid)) if k == key => cid,
                _ => {
                    let entry = cache.map.get(key).and_then(|slot| slot.entry.as_ref());
                    let cid = match entry.map(|e| &e.value) {
                        Some(Value::Hash(h)) => h.cid(),
                        Some(Value::Set(s)) => s.cid(),
                        Some(Value::ZSet(z)) => z.cid(),
                        _ => None,
                    };
                    last = Some((key, cid));
                    cid
                }
            };
            if let Some(cid) = cid {
                wanted.push((cid, sub));
            }
        }
        if !wanted.is_empty() {
            self.store.prefetch_elements(&wanted);
        }
    }

    pub(super) fn parts(&mut self) -> Parts<'_> {
        Parts {
            dbs: &mut self.dbs,
            phys: &self.phys,
            store: self.store.as_mut(),
            stats: &mut self.stats,
            dirty: &mut self.dirty,
            early: match self.write_behind {
                None => Some(&mut self.early),
                Some(_) => None,
            },
            dirty_bytes: &mut self.dirty_bytes,
            cache_bytes: &mut self.cache_bytes,
            next_version: &mut self.next_version,
            events: &mut self.events,
            watches: &mut self.watches,
            want_new: self.want_new,
            expiry_paused: self.expiry_paused,
            no_touch: self.no_touch,
            limits: &self.encodings,
            data: &mut self.data.bytes,
            lfu: self.eviction.lfu(),
        }
    }

    pub(super) fn clear_cache_db(&mut self, db: DbIndex) {
        let cache = &mut self.dbs[db as usize];
        let freed: usize = cache.map.iter().map(|(k, s)| s.cost(k)).sum();
        let map = std::mem::take(&mut cache.map);
        self.cache_bytes -= freed;
        if map.len() >= DROP_APART_MIN {
            // Freeing a million cached values took most of a FLUSHDB's half second, every
            // client waiting: the map goes to a thread of its own to be dropped.
            let spawned = std::thread::Builder::new()
                .name("respite-cache-free".into())
                .spawn(move || drop(map));
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "cannot free the flushed cache on a thread");
            }
        }
    }

    /// Empties the hot cache, so that every read comes from the store again (DEBUG RELOAD).
    /// Refused (false) while keys wait to be written.
    pub fn clear_cache(&mut self) -> bool {
        if !self.dirty.is_empty()
            || !self.early.is_empty()
            || self
                .dbs
                .iter()
                .any(|d| d.map.values().any(|s| s.row.is_dirty()))
        {
            return false;
        }
        for db in 0..self.dbs.len() {
            self.clear_cache_db(db as DbIndex);
        }
        true
    }

    /// Shrinks the cache to its budget after a batch that wrote nothing (a commit does it
    /// otherwise); cheap when the cache fits.
    pub fn trim_cache(&mut self) {
        if self.cache_bytes > self.cache_max_bytes {
            self.evict_to_budget();
        }
    }

    /// Drops clean keys until the cache fits its budget, in the order of the CLOCK
    /// algorithm (see [`DbCache::pass_referenced`]). A dirty key cannot go before it is
    /// written; it moves to the back too. Both kinds of move are bounded per call, so that a
    /// cache of a million keys all read since the last pass costs no stall: past the bound,
    /// the front key goes whether read or not.
    pub(super) fn evict_to_budget(&mut self) {
        const MOVES: usize = 4096;
        let mut db = 0;
        let mut idle_rounds = 0;
        let mut moves_left = MOVES;
        while self.cache_bytes > self.cache_max_bytes && idle_rounds < self.dbs.len() {
            let cache = &mut self.dbs[db];
            moves_left -= cache.pass_referenced(moves_left);
            match cache.map.front() {
                Some((_, slot)) if !self.early.holds(slot) => {
                    if let Some((k, slot)) = cache.map.pop_front() {
                        self.cache_bytes -= slot.cost(&k);
                        self.stats.cache_evictions += 1;
                    }
                    idle_rounds = 0;
                }
                Some(_) if moves_left > 0 => {
                    moves_left -= 1;
                    cache.rotate_front();
                    continue; // the same database again: its next key may go
                }
                _ => idle_rounds += 1,
            }
            db = (db + 1) % self.dbs.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rare_paused_entry_does_not_cost_every_cached_key_its_room() {
        assert!(std::mem::size_of::<Slot>() < 2 * std::mem::size_of::<Entry>());
    }

    #[test]
    fn a_cached_string_does_not_pay_for_the_largest_collection_header() {
        // Lists and streams are boxed: their headers (over 100 bytes) would otherwise set
        // the size of every cached key's slot, strings' included, and each lookup would
        // move them.
        assert!(std::mem::size_of::<Value>() <= 64);
        assert!(std::mem::size_of::<Slot>() <= 128);
    }
}
