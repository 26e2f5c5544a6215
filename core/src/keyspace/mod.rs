//! The keyspace: typed values over the [`Store`], behind a bounded hot cache.
//!
//! Reads are served from the cache when the key is there (values of small keys and the
//! metadata of large ones), and load the key once otherwise. Writes change the cached entry and
//! mark it dirty; [`Keyspace::commit`] writes every dirty key once, in the batch's single
//! transaction, so SQLite cost is paid per batch and per changed key, not per command.

use bytes::Bytes;
use hashlink::LinkedHashMap;

use crate::storage::{DbIndex, DbStats, Record, Store, StoreError, ValueType};

/// Fixed cost charged per cached key on top of its bytes (map node, links, entry header).
const SLOT_OVERHEAD: usize = 96;

/// A value held by the keyspace.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A string (binary-safe).
    String(Bytes),
}

impl Value {
    /// Redis's name for the type, as TYPE reports it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::String(_) => "string",
        }
    }

    /// The string, or `None` for a value of another type (the caller answers WRONGTYPE).
    pub fn as_string(&self) -> Option<&Bytes> {
        match self {
            Value::String(b) => Some(b),
        }
    }

    fn value_type(&self) -> ValueType {
        match self {
            Value::String(_) => ValueType::String,
        }
    }

    fn encode(&self) -> Bytes {
        match self {
            Value::String(b) => b.clone(),
        }
    }

    fn decode(kind: ValueType, raw: Bytes) -> Value {
        match kind {
            ValueType::String => Value::String(raw),
        }
    }

    fn size(&self) -> usize {
        match self {
            Value::String(b) => b.len(),
        }
    }
}

/// A live key's value and metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The value.
    pub value: Value,
    /// Absolute expiry in Unix milliseconds.
    pub expire_at: Option<i64>,
    /// Bumped on every write to the key; unique across the key's whole history.
    pub version: u64,
}

/// A cached key: its entry, or `None` when the key is known not to exist.
struct Slot {
    entry: Option<Entry>,
    dirty: bool,
}

impl Slot {
    fn cost(&self, key: &[u8]) -> usize {
        key.len() + SLOT_OVERHEAD + self.entry.as_ref().map_or(0, |e| e.value.size())
    }
}

#[derive(Default)]
struct DbCache {
    map: LinkedHashMap<Bytes, Slot, ahash::RandomState>,
}

/// Counters the keyspace keeps for INFO.
#[derive(Clone, Copy, Debug, Default)]
pub struct KeyspaceStats {
    /// Reads that found a live key.
    pub hits: u64,
    /// Reads that found nothing.
    pub misses: u64,
    /// Keys removed because their TTL passed.
    pub expired: u64,
    /// Keys dropped from the cache to respect `cache_max_bytes` (they stay in the store).
    pub cache_evictions: u64,
    /// Lookups that had to read the store.
    pub cache_misses: u64,
    /// Committed transactions.
    pub commits: u64,
    /// Rows written by the last commit.
    pub last_commit_rows: u64,
}

/// The keyspace's fields, borrowed apart so a cache slot can be held while the dirty list and
/// counters change.
struct Parts<'a> {
    dbs: &'a mut [DbCache],
    store: &'a mut dyn Store,
    stats: &'a mut KeyspaceStats,
    dirty: &'a mut Vec<(DbIndex, Bytes)>,
    cache_bytes: &'a mut usize,
}

/// A cache slot found by [`Parts::slot`], with what is needed to record a change to it.
struct Found<'a> {
    db: DbIndex,
    key: &'a Bytes,
    slot: &'a mut Slot,
    dirty: &'a mut Vec<(DbIndex, Bytes)>,
    cache_bytes: &'a mut usize,
}

impl Found<'_> {
    /// Records that the slot must be written at the next flush.
    fn mark_dirty(&mut self) {
        if !self.slot.dirty {
            self.slot.dirty = true;
            self.dirty.push((self.db, self.key.clone()));
        }
    }
}

impl<'a> Parts<'a> {
    /// Makes sure `key` is in the cache (loading it from the store if needed) as the most
    /// recently used key, and expires it if its time has passed.
    fn slot(self, db: DbIndex, key: &[u8], now: i64) -> Result<Found<'a>, StoreError> {
        self.slot_with(db, key, now, true)
    }

    /// [`Self::slot`], but without reading the store when the key is not cached: for writes
    /// that replace the whole value, where the old one does not matter (the store's upsert
    /// and its counting triggers handle both cases).
    fn slot_to_overwrite(self, db: DbIndex, key: &[u8], now: i64) -> Result<Found<'a>, StoreError> {
        self.slot_with(db, key, now, false)
    }

    fn slot_with(
        self,
        db: DbIndex,
        key: &[u8],
        now: i64,
        load: bool,
    ) -> Result<Found<'a>, StoreError> {
        use hashlink::linked_hash_map::RawEntryMut;
        let (k, slot) = match self.dbs[db as usize].map.raw_entry_mut().from_key(key) {
            RawEntryMut::Occupied(mut o) => {
                o.to_back();
                o.into_key_value()
            }
            RawEntryMut::Vacant(v) => {
                let entry = if load {
                    self.stats.cache_misses += 1;
                    self.store.load(db, key)?.map(|r| Entry {
                        value: Value::decode(r.kind, r.value),
                        expire_at: r.expire_at,
                        version: r.version,
                    })
                } else {
                    None
                };
                let slot = Slot {
                    entry,
                    dirty: false,
                };
                *self.cache_bytes += slot.cost(key);
                v.insert(Bytes::copy_from_slice(key), slot)
            }
        };
        let mut found = Found {
            db,
            key: k,
            slot,
            dirty: self.dirty,
            cache_bytes: self.cache_bytes,
        };
        if let Some(e) = &found.slot.entry {
            if e.expire_at.is_some_and(|at| at <= now) {
                // Lazy expiry: the key is gone for every reader from now on.
                *found.cache_bytes -= e.value.size();
                found.slot.entry = None;
                found.mark_dirty();
                self.stats.expired += 1;
            }
        }
        Ok(found)
    }
}

/// The typed keyspace of every database.
pub struct Keyspace {
    store: Box<dyn Store>,
    dbs: Vec<DbCache>,
    cache_bytes: usize,
    cache_max_bytes: usize,
    next_version: u64,
    persisted_version: u64,
    /// Keys changed since the last flush into the store.
    dirty: Vec<(DbIndex, Bytes)>,
    /// Keys flushed into the open transaction; dropped from the cache if it fails.
    flushed: Vec<(DbIndex, Bytes)>,
    stats: KeyspaceStats,
}

/// Current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Keyspace {
    /// Opens the keyspace over `store` with `databases` logical databases.
    pub fn new(
        mut store: Box<dyn Store>,
        databases: u32,
        cache_max_bytes: u64,
    ) -> Result<Self, StoreError> {
        let next_version = store.meta_get("next_version")?.unwrap_or(1).max(1) as u64;
        Ok(Keyspace {
            store,
            dbs: (0..databases).map(|_| DbCache::default()).collect(),
            cache_bytes: 0,
            cache_max_bytes: usize::try_from(cache_max_bytes).unwrap_or(usize::MAX),
            next_version,
            persisted_version: next_version,
            dirty: Vec::new(),
            flushed: Vec::new(),
            stats: KeyspaceStats::default(),
        })
    }

    /// Number of logical databases.
    pub fn databases(&self) -> u32 {
        self.dbs.len() as u32
    }

    /// Changes the cache budget; the cache shrinks at the next commit.
    pub fn set_cache_max_bytes(&mut self, bytes: u64) {
        self.cache_max_bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
    }

    /// Increases with every write; comparing two readings tells whether anything was written.
    pub fn write_count(&self) -> u64 {
        self.next_version
    }

    /// Bytes the cache currently accounts for.
    pub fn cache_bytes(&self) -> usize {
        self.cache_bytes
    }

    /// Number of keys (live or known-absent) in the cache.
    pub fn cache_keys(&self) -> usize {
        self.dbs.iter().map(|d| d.map.len()).sum()
    }

    /// Counters for INFO.
    pub fn stats(&self) -> KeyspaceStats {
        self.stats
    }

    /// Zeroes the counters (CONFIG RESETSTAT).
    pub fn reset_stats(&mut self) {
        self.stats = KeyspaceStats::default();
    }

    /// The underlying store, for operations the keyspace does not wrap.
    pub fn store_mut(&mut self) -> &mut dyn Store {
        self.store.as_mut()
    }

    /// Reads a live key.
    pub fn get(&mut self, db: DbIndex, key: &[u8], now: i64) -> Result<Option<&Entry>, StoreError> {
        let found = self.parts().slot(db, key, now)?.slot.entry.is_some();
        if found {
            self.stats.hits += 1;
        } else {
            self.stats.misses += 1;
        }
        // Re-borrow through the map: the slot sits at the back of the LRU list now.
        Ok(self.dbs[db as usize]
            .map
            .back()
            .and_then(|(_, s)| s.entry.as_ref()))
    }

    /// Whether a live key exists, without counting a hit or miss.
    pub fn exists(&mut self, db: DbIndex, key: &[u8], now: i64) -> Result<bool, StoreError> {
        Ok(self.parts().slot(db, key, now)?.slot.entry.is_some())
    }

    fn parts(&mut self) -> Parts<'_> {
        Parts {
            dbs: &mut self.dbs,
            store: self.store.as_mut(),
            stats: &mut self.stats,
            dirty: &mut self.dirty,
            cache_bytes: &mut self.cache_bytes,
        }
    }

    /// Replaces (or creates) a key's value and expiry.
    pub fn set(
        &mut self,
        db: DbIndex,
        key: &[u8],
        value: Value,
        expire_at: Option<i64>,
        now: i64,
    ) -> Result<(), StoreError> {
        let version = self.bump_version();
        let added = value.size();
        let mut found = self.parts().slot_to_overwrite(db, key, now)?;
        let removed = found.slot.entry.as_ref().map_or(0, |e| e.value.size());
        found.slot.entry = Some(Entry {
            value,
            expire_at,
            version,
        });
        found.mark_dirty();
        *found.cache_bytes = *found.cache_bytes + added - removed;
        Ok(())
    }

    /// Deletes a key; returns whether a live key was there.
    pub fn delete(&mut self, db: DbIndex, key: &[u8], now: i64) -> Result<bool, StoreError> {
        let mut found = self.parts().slot(db, key, now)?;
        let Some(old) = found.slot.entry.take() else {
            return Ok(false);
        };
        found.mark_dirty();
        *found.cache_bytes -= old.value.size();
        self.bump_version();
        Ok(true)
    }

    fn bump_version(&mut self) -> u64 {
        let v = self.next_version;
        self.next_version += 1;
        v
    }

    /// Number of keys in `db` (keys whose TTL passed but that nobody touched yet included, as
    /// in Redis).
    pub fn dbsize(&mut self, db: DbIndex) -> Result<u64, StoreError> {
        self.flush_pending()?;
        Ok(self
            .store
            .db_stats()?
            .into_iter()
            .find(|s| s.db == db)
            .map_or(0, |s| s.keys))
    }

    /// Key counts of every non-empty database.
    pub fn db_stats(&mut self) -> Result<Vec<DbStats>, StoreError> {
        self.flush_pending()?;
        self.store.db_stats()
    }

    /// Removes every key of `db`.
    pub fn flush_db(&mut self, db: DbIndex) -> Result<(), StoreError> {
        self.flush_pending()?;
        self.store.flush_db(db)?;
        self.clear_cache_db(db);
        self.bump_version();
        Ok(())
    }

    /// Removes every key of every database.
    pub fn flush_all(&mut self) -> Result<(), StoreError> {
        self.flush_pending()?;
        self.store.flush_all()?;
        for db in 0..self.dbs.len() {
            self.clear_cache_db(db as DbIndex);
        }
        self.bump_version();
        Ok(())
    }

    fn clear_cache_db(&mut self, db: DbIndex) {
        let cache = &mut self.dbs[db as usize];
        let freed: usize = cache.map.iter().map(|(k, s)| s.cost(k)).sum();
        cache.map.clear();
        self.cache_bytes -= freed;
    }

    /// Writes every dirty key into the store's open transaction.
    pub fn flush_pending(&mut self) -> Result<(), StoreError> {
        let dirty = std::mem::take(&mut self.dirty);
        for (db, key) in dirty {
            let Some(slot) = self.dbs[db as usize].map.get_mut(&key) else {
                continue; // dropped by FLUSHDB/FLUSHALL, which wrote through already
            };
            if !slot.dirty {
                continue;
            }
            slot.dirty = false;
            let result = match &slot.entry {
                Some(e) => self.store.put(
                    db,
                    &key,
                    &Record {
                        kind: e.value.value_type(),
                        value: e.value.encode(),
                        expire_at: e.expire_at,
                        version: e.version,
                    },
                ),
                None => self.store.delete(db, &key).map(|_| ()),
            };
            self.flushed.push((db, key));
            result?;
        }
        if self.next_version != self.persisted_version {
            self.store
                .meta_set("next_version", self.next_version as i64)?;
            self.persisted_version = self.next_version;
        }
        Ok(())
    }

    /// Whether any write is waiting for [`Self::commit`].
    pub fn has_pending(&self) -> bool {
        !self.dirty.is_empty() || self.store.in_transaction()
    }

    /// Makes every write since the last commit durable in one transaction, then shrinks the
    /// cache to its budget. On failure the cache forgets the uncommitted keys, so readers see
    /// the store's last committed state again.
    pub fn commit(&mut self) -> Result<(), StoreError> {
        let rows = self.dirty.len() + self.flushed.len();
        let result = self.flush_pending().and_then(|_| self.store.commit());
        match result {
            Ok(()) => {
                self.stats.commits += 1;
                self.stats.last_commit_rows = rows as u64;
                self.flushed.clear();
                self.evict_to_budget();
                Ok(())
            }
            Err(e) => {
                self.store.rollback();
                self.forget_uncommitted();
                Err(e)
            }
        }
    }

    fn forget_uncommitted(&mut self) {
        let keys: Vec<_> = self.flushed.drain(..).chain(self.dirty.drain(..)).collect();
        for (db, key) in keys {
            if let Some(slot) = self.dbs[db as usize].map.remove(&key) {
                self.cache_bytes -= slot.cost(&key);
            }
        }
        self.persisted_version = 0; // rewrite next_version with the next commit
    }

    /// Drops least recently used clean keys until the cache fits its budget.
    fn evict_to_budget(&mut self) {
        let mut db = 0;
        let mut idle_rounds = 0;
        while self.cache_bytes > self.cache_max_bytes && idle_rounds < self.dbs.len() {
            let cache = &mut self.dbs[db];
            match cache.map.front() {
                Some((_, slot)) if !slot.dirty => {
                    if let Some((k, slot)) = cache.map.pop_front() {
                        self.cache_bytes -= slot.cost(&k);
                        self.stats.cache_evictions += 1;
                    }
                    idle_rounds = 0;
                }
                _ => idle_rounds += 1,
            }
            db = (db + 1) % self.dbs.len();
        }
    }

    /// Commits what is pending and closes the store cleanly.
    pub fn close(&mut self) -> Result<(), StoreError> {
        self.commit()?;
        self.store.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Synchronous;
    use crate::storage::SqliteStore;

    fn keyspace(path: &str, cache: u64) -> Keyspace {
        let store = SqliteStore::open(path, Synchronous::Normal).unwrap();
        Keyspace::new(Box::new(store), 16, cache).unwrap()
    }

    fn s(v: &str) -> Value {
        Value::String(Bytes::copy_from_slice(v.as_bytes()))
    }

    #[test]
    fn set_get_delete_and_dbsize() {
        let mut ks = keyspace(":memory:", 1 << 20);
        ks.set(0, b"a", s("1"), None, 0).unwrap();
        ks.set(0, b"b", s("2"), None, 0).unwrap();
        ks.set(1, b"a", s("3"), None, 0).unwrap();
        assert_eq!(ks.get(0, b"a", 0).unwrap().unwrap().value, s("1"));
        assert_eq!(ks.dbsize(0).unwrap(), 2);
        assert!(ks.delete(0, b"a", 0).unwrap());
        assert!(!ks.delete(0, b"a", 0).unwrap());
        ks.commit().unwrap();
        assert_eq!(ks.dbsize(0).unwrap(), 1);
        assert_eq!(ks.dbsize(1).unwrap(), 1);
        ks.flush_db(1).unwrap();
        assert_eq!(ks.dbsize(1).unwrap(), 0);
        assert_eq!(ks.dbsize(0).unwrap(), 1);
    }

    #[test]
    fn versions_grow_across_delete_and_recreate() {
        let mut ks = keyspace(":memory:", 1 << 20);
        ks.set(0, b"k", s("1"), None, 0).unwrap();
        let v1 = ks.get(0, b"k", 0).unwrap().unwrap().version;
        ks.delete(0, b"k", 0).unwrap();
        ks.set(0, b"k", s("1"), None, 0).unwrap();
        assert!(ks.get(0, b"k", 0).unwrap().unwrap().version > v1);
    }

    #[test]
    fn lazy_expiry() {
        let mut ks = keyspace(":memory:", 1 << 20);
        ks.set(0, b"k", s("v"), Some(100), 0).unwrap();
        assert!(ks.get(0, b"k", 99).unwrap().is_some());
        assert!(ks.get(0, b"k", 100).unwrap().is_none());
        ks.commit().unwrap();
        assert_eq!(ks.dbsize(0).unwrap(), 0);
        assert_eq!(ks.stats().expired, 1);
    }

    #[test]
    fn cache_stays_within_budget_and_data_survives() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ks.db");
        let path = path.to_str().unwrap();
        let mut ks = keyspace(path, 64 * 1024);
        let value = "x".repeat(1000);
        for i in 0..1000 {
            ks.set(0, format!("key:{i}").as_bytes(), s(&value), None, 0)
                .unwrap();
            if i % 100 == 99 {
                ks.commit().unwrap();
                assert!(ks.cache_bytes() <= 64 * 1024);
            }
        }
        for i in 0..1000 {
            let e = ks.get(0, format!("key:{i}").as_bytes(), 0).unwrap();
            assert_eq!(e.unwrap().value, s(&value));
        }
        ks.close().unwrap();
        drop(ks); // releases the file's lock
        let mut ks = keyspace(path, 64 * 1024);
        assert_eq!(ks.dbsize(0).unwrap(), 1000);
        assert_eq!(ks.get(0, b"key:7", 0).unwrap().unwrap().value, s(&value));
    }
}
