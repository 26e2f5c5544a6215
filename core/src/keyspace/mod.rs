//! The keyspace: typed values over the [`Store`], behind a bounded hot cache.
//!
//! Reads are served from the cache when the key is there (values of small keys and the
//! metadata of large ones), and load the key once otherwise. Writes change the cached entry and
//! mark it dirty; [`Keyspace::commit`] writes every dirty key once, in the batch's single
//! transaction, so SQLite cost is paid per batch and per changed key, not per command. The
//! elements of large collections are written through into that same transaction.
//!
//! Databases are numbered for clients (`SELECT n`) and mapped to the store's own numbers, so
//! SWAPDB swaps two entries of the map instead of rewriting every row.

pub mod hash;
pub mod list;
pub mod set;
mod value;
pub mod watch;
pub mod zset;

pub use hash::{Backing, Field, Hash};
pub use list::List;
pub use set::Set;
pub use value::{Typed, Value};
pub use watch::WatchRegistry;
pub use zset::ZSet;

use std::time::{Duration, Instant};

use bytes::Bytes;
use hashlink::LinkedHashMap;

use crate::events::{class, KeyEvent};
use crate::storage::{DbIndex, DbStats, ScannedKey, Store, StoreError};

/// Fixed cost charged per cached key on top of its bytes (map node, links, entry header).
const SLOT_OVERHEAD: usize = 104;

/// Keys the active expiry looks at per store query.
const EXPIRE_BATCH: usize = 64;

/// When collections move from inline values to element rows (Redis's `*-max-listpack-*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encodings {
    /// Most fields a hash keeps inline.
    pub hash_max_listpack_entries: usize,
    /// Longest field name or value a hash keeps inline.
    pub hash_max_listpack_value: usize,
    /// Most members a sorted set keeps inline.
    pub zset_max_listpack_entries: usize,
    /// Longest member a sorted set keeps inline.
    pub zset_max_listpack_value: usize,
    /// Most items a list keeps inline.
    pub list_max_listpack_entries: usize,
    /// Most bytes (sum of the items) a list keeps inline.
    pub list_max_listpack_bytes: usize,
    /// Most integers a set keeps as an intset.
    pub set_max_intset_entries: usize,
    /// Most members a set keeps inline as a listpack.
    pub set_max_listpack_entries: usize,
    /// Longest member a set keeps inline as a listpack.
    pub set_max_listpack_value: usize,
}

impl Default for Encodings {
    fn default() -> Self {
        Encodings::from_config(&crate::config::StorageConfig::default())
    }
}

impl Encodings {
    /// The limits the configuration sets.
    pub fn from_config(c: &crate::config::StorageConfig) -> Self {
        let size = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        Encodings {
            hash_max_listpack_entries: size(c.hash_max_listpack_entries),
            hash_max_listpack_value: size(c.hash_max_listpack_value),
            zset_max_listpack_entries: size(c.zset_max_listpack_entries),
            zset_max_listpack_value: size(c.zset_max_listpack_value),
            // Redis's list-max-listpack-size: a positive value counts items, -1 to -5 mean
            // 4 kB to 64 kB of items.
            list_max_listpack_entries: if c.list_max_listpack_size >= 0 {
                size(c.list_max_listpack_size as u64)
            } else {
                usize::MAX
            },
            list_max_listpack_bytes: if c.list_max_listpack_size >= 0 {
                usize::MAX
            } else {
                4096 << (c.list_max_listpack_size.unsigned_abs().clamp(1, 5) - 1)
            },
            set_max_intset_entries: size(c.set_max_intset_entries),
            set_max_listpack_entries: size(c.set_max_listpack_entries),
            set_max_listpack_value: size(c.set_max_listpack_value),
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

/// The key holds a value of another type than the command works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WrongType;

/// A cached key: its entry, or `None` when the key is known not to exist.
struct Slot {
    entry: Option<Entry>,
    dirty: bool,
    /// Unix milliseconds of the last access (OBJECT IDLETIME).
    accessed: i64,
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
    /// Hash fields removed because their TTL passed.
    pub expired_fields: u64,
    /// Keys dropped from the cache to respect `cache_max_bytes` (they stay in the store).
    pub cache_evictions: u64,
    /// Lookups that had to read the store.
    pub cache_misses: u64,
    /// Committed transactions.
    pub commits: u64,
    /// Rows written by the last commit.
    pub last_commit_rows: u64,
    /// Active expiry cycles run.
    pub expire_cycles: u64,
    /// Active expiry cycles that stopped at their time budget.
    pub expire_cycles_cut: u64,
    /// Time spent in active expiry, microseconds.
    pub expire_cycle_us: u64,
}

/// Where a key is looked up from, and what the lookup may do.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lookup {
    /// Load from the store if not cached; count as an access.
    Load,
    /// Load, but leave the access time alone (TYPE, TTL, OBJECT).
    LoadNoTouch,
    /// Do not read the store: the caller replaces the whole value.
    Overwrite,
}

/// The keyspace's fields, borrowed apart so a cache slot can be held while the store, the dirty
/// list and counters change.
struct Parts<'a> {
    dbs: &'a mut [DbCache],
    phys: &'a [DbIndex],
    store: &'a mut dyn Store,
    stats: &'a mut KeyspaceStats,
    dirty: &'a mut Vec<(DbIndex, Bytes)>,
    cache_bytes: &'a mut usize,
    next_version: &'a mut u64,
    events: &'a mut Vec<KeyEvent>,
    watches: &'a mut WatchRegistry,
    want_new: bool,
    limits: Encodings,
}

/// A cache slot found by [`Parts::slot`], with what is needed to change it.
struct Found<'a> {
    db: DbIndex,
    key: &'a Bytes,
    slot: &'a mut Slot,
    store: &'a mut dyn Store,
    dirty: &'a mut Vec<(DbIndex, Bytes)>,
    cache_bytes: &'a mut usize,
    next_version: &'a mut u64,
    events: &'a mut Vec<KeyEvent>,
    watches: &'a mut WatchRegistry,
    want_new: bool,
    limits: Encodings,
}

impl Found<'_> {
    /// Records that the slot must be written at the next flush. Every change to a key passes
    /// here, so this is also where WATCH learns of it.
    fn mark_dirty(&mut self) {
        if !self.watches.is_empty() {
            self.watches.touch(self.db, self.key);
        }
        if !self.slot.dirty {
            self.slot.dirty = true;
            self.dirty.push((self.db, self.key.clone()));
        }
    }

    fn bump_version(&mut self) -> u64 {
        let v = *self.next_version;
        *self.next_version += 1;
        v
    }

    fn size(&self) -> usize {
        self.slot.entry.as_ref().map_or(0, |e| e.value.size())
    }

    /// Drops the entry (expiry, DEL, overwrite): its element rows go at once, since its key
    /// row may never have been written. The caller accounts for the cache bytes.
    fn discard(&mut self) -> Result<Option<Entry>, StoreError> {
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
    fn slot(
        self,
        db: DbIndex,
        key: &[u8],
        now: i64,
        lookup: Lookup,
    ) -> Result<Found<'a>, StoreError> {
        use hashlink::linked_hash_map::RawEntryMut;
        let (k, slot) = match self.dbs[db as usize].map.raw_entry_mut().from_key(key) {
            RawEntryMut::Occupied(mut o) => {
                o.to_back();
                o.into_key_value()
            }
            RawEntryMut::Vacant(v) => {
                let entry = if lookup == Lookup::Overwrite {
                    None
                } else {
                    self.stats.cache_misses += 1;
                    match self.store.load(self.phys[db as usize], key)? {
                        Some(r) => Some(Entry {
                            expire_at: r.expire_at,
                            version: r.version,
                            value: Value::from_record(r)?,
                        }),
                        None => None,
                    }
                };
                let slot = Slot {
                    entry,
                    dirty: false,
                    accessed: now,
                };
                *self.cache_bytes += slot.cost(key);
                v.insert(Bytes::copy_from_slice(key), slot)
            }
        };
        if lookup != Lookup::LoadNoTouch {
            // Writes count as accesses too, as Redis's lookupKeyWrite does.
            slot.accessed = now;
        }
        let mut found = Found {
            db,
            key: k,
            slot,
            store: self.store,
            dirty: self.dirty,
            cache_bytes: self.cache_bytes,
            next_version: self.next_version,
            events: self.events,
            watches: self.watches,
            want_new: self.want_new,
            limits: self.limits,
        };
        let Some(e) = &mut found.slot.entry else {
            return Ok(found);
        };
        if e.expire_at.is_some_and(|at| at <= now) {
            // Lazy expiry: the key is gone for every reader from now on.
            *found.cache_bytes -= e.value.size();
            found.discard()?;
            found.mark_dirty();
            found.bump_version();
            self.stats.expired += 1;
            found
                .events
                .push(event(db, class::EXPIRED, "expired", found.key));
        } else if let Value::Hash(h) = &mut e.value {
            if h.needs_purge(now) {
                let before = h.size();
                let gone = h.purge_expired(found.store, now)?;
                let (after, empty) = (h.size(), h.is_empty());
                *found.cache_bytes = *found.cache_bytes + after - before;
                if !gone.is_empty() {
                    self.stats.expired_fields += gone.len() as u64;
                    found
                        .events
                        .push(event(db, class::HASH, "hexpired", found.key));
                }
                if empty {
                    *found.cache_bytes -= after;
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
        Ok(found)
    }
}

fn event(db: DbIndex, class: u16, name: &'static str, key: &Bytes) -> KeyEvent {
    KeyEvent {
        db,
        class,
        event: name,
        key: key.clone(),
    }
}

/// Read access to one live key: its entry, and the store for the elements of large values.
pub struct KeyRef<'a> {
    /// The key's entry.
    pub entry: &'a Entry,
    /// The store, to read elements of large collections.
    pub store: &'a mut dyn Store,
}

/// Write access to one key, from [`Keyspace::write`]. Changes are recorded when it is dropped:
/// the key's version is bumped and the key is marked dirty if anything changed, and a
/// collection left empty is removed, as Redis removes empty hashes, lists, sets and zsets.
pub struct KeyMut<'a> {
    found: Found<'a>,
    existed: bool,
    mods_before: u64,
    size_before: usize,
    replaced: bool,
}

impl<'a> KeyMut<'a> {
    fn new(found: Found<'a>) -> Self {
        let (existed, mods_before) = found
            .slot
            .entry
            .as_ref()
            .map_or((false, 0), |e| (true, e.value.mods()));
        let size_before = found.size();
        KeyMut {
            found,
            existed,
            mods_before,
            size_before,
            replaced: false,
        }
    }

    /// The key's entry, if it exists.
    pub fn entry(&self) -> Option<&Entry> {
        self.found.slot.entry.as_ref()
    }

    /// Whether the key exists.
    pub fn exists(&self) -> bool {
        self.found.slot.entry.is_some()
    }

    /// The key's expiry.
    pub fn expire_at(&self) -> Option<i64> {
        self.entry().and_then(|e| e.expire_at)
    }

    /// Replaces the key's value and expiry.
    pub fn set(&mut self, value: Value, expire_at: Option<i64>) -> Result<(), StoreError> {
        self.found.discard()?;
        self.found.slot.entry = Some(Entry {
            value,
            expire_at,
            version: 0,
        });
        self.replaced = true;
        Ok(())
    }

    /// Deletes the key; returns whether it existed.
    pub fn delete(&mut self) -> Result<bool, StoreError> {
        let existed = self.found.discard()?.is_some();
        self.replaced |= existed;
        Ok(existed)
    }

    /// Sets or clears the expiry; returns whether the key exists.
    pub fn set_expire(&mut self, expire_at: Option<i64>) -> bool {
        match &mut self.found.slot.entry {
            Some(e) => {
                e.expire_at = expire_at;
                self.replaced = true;
                true
            }
            None => false,
        }
    }

    /// The store and the collection-id allocator, for element writes.
    fn backing(&mut self) -> (Option<&mut Entry>, Backing<'_>) {
        (
            self.found.slot.entry.as_mut(),
            Backing {
                store: &mut *self.found.store,
                next_id: &mut *self.found.next_version,
                limits: self.found.limits,
            },
        )
    }

    /// The key's value as a `T` (a hash, list, set or sorted set), if it holds one.
    pub fn typed<T: Typed>(&mut self) -> Result<Option<(&mut T, Backing<'_>)>, WrongType> {
        match self.backing() {
            (None, _) => Ok(None),
            (Some(e), backing) => match T::of_mut(&mut e.value) {
                Some(t) => Ok(Some((t, backing))),
                None => Err(WrongType),
            },
        }
    }

    /// The key's value as a `T`, created empty if the key does not exist.
    pub fn typed_or_create<T: Typed>(&mut self) -> Result<(&mut T, Backing<'_>), WrongType> {
        if self.found.slot.entry.is_none() {
            self.found.slot.entry = Some(Entry {
                value: T::empty(),
                expire_at: None,
                version: 0,
            });
        }
        self.typed()?.ok_or(WrongType) // never None: the entry was just made
    }

    /// The key's hash, if it holds one.
    pub fn hash(&mut self) -> Result<Option<(&mut Hash, Backing<'_>)>, WrongType> {
        self.typed()
    }

    /// The key's hash, created empty if the key does not exist.
    pub fn hash_or_create(&mut self) -> Result<(&mut Hash, Backing<'_>), WrongType> {
        self.typed_or_create()
    }

    /// The key's list, if it holds one.
    pub fn list(&mut self) -> Result<Option<(&mut List, Backing<'_>)>, WrongType> {
        self.typed()
    }

    /// The key's list, created empty if the key does not exist.
    pub fn list_or_create(&mut self) -> Result<(&mut List, Backing<'_>), WrongType> {
        self.typed_or_create()
    }

    /// The key's Redis set, if it holds one (named apart from [`KeyMut::set`], which
    /// replaces the key's value).
    pub fn rset(&mut self) -> Result<Option<(&mut Set, Backing<'_>)>, WrongType> {
        self.typed()
    }

    /// The key's Redis set, created empty if the key does not exist.
    pub fn rset_or_create(&mut self) -> Result<(&mut Set, Backing<'_>), WrongType> {
        self.typed_or_create()
    }

    /// The key's sorted set, if it holds one.
    pub fn zset(&mut self) -> Result<Option<(&mut ZSet, Backing<'_>)>, WrongType> {
        self.typed()
    }

    /// The key's sorted set, created empty if the key does not exist.
    pub fn zset_or_create(&mut self) -> Result<(&mut ZSet, Backing<'_>), WrongType> {
        self.typed_or_create()
    }

    /// The key's type, if it exists.
    pub fn value_type(&self) -> Option<crate::storage::ValueType> {
        self.entry().map(|e| e.value.value_type())
    }
}

impl Drop for KeyMut<'_> {
    fn drop(&mut self) {
        let slot = &mut *self.found.slot;
        if slot
            .entry
            .as_ref()
            .is_some_and(|e| e.value.is_empty_collection())
        {
            // No element rows are left; the key row goes at the next flush.
            slot.entry = None;
        }
        let size_after = self.found.size();
        *self.found.cache_bytes = *self.found.cache_bytes + size_after - self.size_before;
        let changed = self.replaced
            || match &self.found.slot.entry {
                Some(e) => !self.existed || e.value.mods() != self.mods_before,
                None => self.existed,
            };
        if !changed {
            return;
        }
        let version = self.found.bump_version();
        if let Some(e) = &mut self.found.slot.entry {
            e.version = version;
        }
        if !self.existed && self.found.want_new && self.found.slot.entry.is_some() {
            // Redis's `new` (class n): a write brought the key into existence.
            let e = event(self.found.db, class::NEW, "new", self.found.key);
            self.found.events.push(e);
        }
        self.found.mark_dirty();
    }
}

/// What [`Keyspace::rename`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Renamed {
    /// The source key does not exist.
    NoSource,
    /// The destination exists and replacing it was not allowed.
    DestinationExists,
    /// Done.
    Done,
}

/// The typed keyspace of every database.
pub struct Keyspace {
    store: Box<dyn Store>,
    dbs: Vec<DbCache>,
    /// Store database of each client-visible database (SWAPDB swaps entries).
    phys: Vec<DbIndex>,
    /// Set by SWAPDB until the commit: a failed commit restores the map and the cache.
    remapped: bool,
    cache_bytes: usize,
    cache_max_bytes: usize,
    next_version: u64,
    persisted_version: u64,
    /// Keys changed since the last flush into the store.
    dirty: Vec<(DbIndex, Bytes)>,
    /// Keys flushed into the open transaction; dropped from the cache if it fails.
    flushed: Vec<(DbIndex, Bytes)>,
    /// Events the keyspace caused itself (expiry, `new`), for the engine to publish.
    events: Vec<KeyEvent>,
    /// Keys clients WATCH; every change to one marks its watchers.
    watches: WatchRegistry,
    /// Whether anyone listens to `new` events (creating a key costs an event only then).
    want_new: bool,
    /// Whether reads that find no key report a `keymiss` event (class `m` is wanted).
    want_keymiss: bool,
    encodings: Encodings,
    stats: KeyspaceStats,
}

/// Current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn db_map_name(db: DbIndex) -> String {
    format!("db_map.{db}")
}

/// Reads the database map from the store's metadata, checking it is a permutation.
fn load_db_map(store: &mut dyn Store, databases: u32) -> Result<Vec<DbIndex>, StoreError> {
    let mut phys = Vec::with_capacity(databases as usize);
    for db in 0..databases {
        let p = store.meta_get(&db_map_name(db))?.unwrap_or(i64::from(db));
        phys.push(p);
    }
    let mut seen = vec![false; databases as usize];
    for &p in &phys {
        match usize::try_from(p).ok().filter(|&p| p < seen.len()) {
            Some(p) if !seen[p] => seen[p] = true,
            _ => {
                return Err(StoreError::Corrupt(format!(
                    "the file's SWAPDB map does not fit {databases} databases; start with the \
                     `databases` setting the file was last used with"
                )))
            }
        }
    }
    Ok(phys.into_iter().map(|p| p as DbIndex).collect())
}

impl Keyspace {
    /// Opens the keyspace over `store` with `databases` logical databases.
    pub fn new(
        mut store: Box<dyn Store>,
        databases: u32,
        cache_max_bytes: u64,
    ) -> Result<Self, StoreError> {
        let next_version = store.meta_get("next_version")?.unwrap_or(1).max(1) as u64;
        let phys = load_db_map(store.as_mut(), databases)?;
        Ok(Keyspace {
            store,
            dbs: (0..databases).map(|_| DbCache::default()).collect(),
            phys,
            remapped: false,
            cache_bytes: 0,
            cache_max_bytes: usize::try_from(cache_max_bytes).unwrap_or(usize::MAX),
            next_version,
            persisted_version: next_version,
            dirty: Vec::new(),
            flushed: Vec::new(),
            events: Vec::new(),
            watches: WatchRegistry::default(),
            want_new: false,
            want_keymiss: false,
            encodings: Encodings::default(),
            stats: KeyspaceStats::default(),
        })
    }

    /// Number of logical databases.
    pub fn databases(&self) -> u32 {
        self.dbs.len() as u32
    }

    /// Changes when collections move into element rows (existing values keep their form until
    /// they next grow, as in Redis).
    pub fn set_encodings(&mut self, encodings: Encodings) {
        self.encodings = encodings;
    }

    /// Changes the cache budget; the cache shrinks at the next commit.
    pub fn set_cache_max_bytes(&mut self, bytes: u64) {
        self.cache_max_bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
    }

    /// Increases with every write; comparing two readings tells whether anything was written.
    pub fn write_count(&self) -> u64 {
        self.next_version
    }

    /// Counts a write made straight to the store rather than to a key (the function
    /// libraries), so that the request counts as a writer: its reply waits for the commit and
    /// reports the commit's failure.
    pub fn note_store_write(&mut self) {
        self.next_version += 1;
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

    /// Events the keyspace caused by itself (expired keys and fields) since the last call.
    pub fn take_events(&mut self) -> Vec<KeyEvent> {
        std::mem::take(&mut self.events)
    }

    /// Whether writes that create a key report a `new` event (the engine sets this when a
    /// key-event subscriber wants class `n`).
    pub fn set_want_new(&mut self, yes: bool) {
        self.want_new = yes;
    }

    /// Whether reads that find no key report a `keymiss` event (the engine sets this when a
    /// key-event subscriber wants class `m`).
    pub fn set_want_keymiss(&mut self, yes: bool) {
        self.want_keymiss = yes;
    }

    /// The WATCH registry.
    pub fn watches(&self) -> &WatchRegistry {
        &self.watches
    }

    /// The WATCH registry, to add and drop watches.
    pub fn watches_mut(&mut self) -> &mut WatchRegistry {
        &mut self.watches
    }

    /// Marks the watchers of every watched key of `dbs` that exists in any of `exists_in`
    /// (FLUSHDB, FLUSHALL, SWAPDB change keys without writing them one by one), as Redis's
    /// touchAllWatchedKeysInDb does.
    fn touch_watched_in(
        &mut self,
        dbs: &[DbIndex],
        exists_in: &[DbIndex],
    ) -> Result<(), StoreError> {
        if self.watches.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        for (db, key) in self.watches.keys_in(dbs) {
            let mut found = false;
            for &other in exists_in {
                found |= self.exists(other, &key, now)?;
            }
            if found {
                self.watches.touch(db, &key);
            }
        }
        Ok(())
    }

    /// Whether [`Self::take_events`] has anything.
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    fn parts(&mut self) -> Parts<'_> {
        Parts {
            dbs: &mut self.dbs,
            phys: &self.phys,
            store: self.store.as_mut(),
            stats: &mut self.stats,
            dirty: &mut self.dirty,
            cache_bytes: &mut self.cache_bytes,
            next_version: &mut self.next_version,
            events: &mut self.events,
            watches: &mut self.watches,
            want_new: self.want_new,
            limits: self.encodings,
        }
    }

    fn count_lookup(&mut self, hit: bool) {
        if hit {
            self.stats.hits += 1;
        } else {
            self.stats.misses += 1;
        }
    }

    /// Reads a live key (a string's value, a collection's header).
    pub fn get(&mut self, db: DbIndex, key: &[u8], now: i64) -> Result<Option<&Entry>, StoreError> {
        Ok(self.read(db, key, now)?.map(|r| r.entry))
    }

    /// Reads a live key, with the store at hand for the elements of large collections.
    pub fn read(
        &mut self,
        db: DbIndex,
        key: &[u8],
        now: i64,
    ) -> Result<Option<KeyRef<'_>>, StoreError> {
        self.read_with(db, key, now, Lookup::Load, true, true)
    }

    /// [`Self::read`] without counting a hit or miss or changing the access time (TYPE, TTL,
    /// OBJECT, EXISTS-like checks).
    pub fn peek(
        &mut self,
        db: DbIndex,
        key: &[u8],
        now: i64,
    ) -> Result<Option<KeyRef<'_>>, StoreError> {
        self.read_with(db, key, now, Lookup::LoadNoTouch, false, false)
    }

    fn read_with(
        &mut self,
        db: DbIndex,
        key: &[u8],
        now: i64,
        lookup: Lookup,
        count: bool,
        notify: bool,
    ) -> Result<Option<KeyRef<'_>>, StoreError> {
        let hit = self
            .parts()
            .slot(db, key, now, lookup)?
            .slot
            .entry
            .is_some();
        if count {
            self.count_lookup(hit);
            if !hit && notify && self.want_keymiss {
                self.events.push(KeyEvent {
                    db,
                    class: class::KEY_MISS,
                    event: "keymiss",
                    key: Bytes::copy_from_slice(key),
                });
            }
        }
        // Re-borrow through the map: the slot sits at the back of the LRU list now.
        let entry = self.dbs[db as usize]
            .map
            .back()
            .and_then(|(_, s)| s.entry.as_ref());
        Ok(entry.map(|entry| KeyRef {
            entry,
            store: self.store.as_mut(),
        }))
    }

    /// Reads a key without changing its access time, counting a hit or miss (EXISTS, TYPE, the
    /// TTL family, OBJECT); `notify` reports a miss as `keymiss` (OBJECT does not, as in Redis).
    pub fn inspect(
        &mut self,
        db: DbIndex,
        key: &[u8],
        now: i64,
        notify: bool,
    ) -> Result<Option<KeyRef<'_>>, StoreError> {
        self.read_with(db, key, now, Lookup::LoadNoTouch, true, notify)
    }

    /// Reads a live key that a write command is about to change: an access, but not a
    /// keyspace hit or miss (Redis counts those for reads only).
    pub fn read_for_write(
        &mut self,
        db: DbIndex,
        key: &[u8],
        now: i64,
    ) -> Result<Option<KeyRef<'_>>, StoreError> {
        self.read_with(db, key, now, Lookup::Load, false, false)
    }

    /// Whether a live key exists, without counting a hit or miss.
    pub fn exists(&mut self, db: DbIndex, key: &[u8], now: i64) -> Result<bool, StoreError> {
        Ok(self
            .parts()
            .slot(db, key, now, Lookup::LoadNoTouch)?
            .slot
            .entry
            .is_some())
    }

    /// Milliseconds since the key was last accessed (OBJECT IDLETIME), if it exists.
    pub fn idle_ms(
        &mut self,
        db: DbIndex,
        key: &[u8],
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        let found = self.parts().slot(db, key, now, Lookup::LoadNoTouch)?;
        Ok(found
            .slot
            .entry
            .is_some()
            .then(|| (now - found.slot.accessed).max(0)))
    }

    /// Write access to a key (loaded if not cached); see [`KeyMut`].
    pub fn write(&mut self, db: DbIndex, key: &[u8], now: i64) -> Result<KeyMut<'_>, StoreError> {
        let found = self.parts().slot(db, key, now, Lookup::Load)?;
        Ok(KeyMut::new(found))
    }

    /// Replaces (or creates) a key's value and expiry without reading the old one.
    pub fn set(
        &mut self,
        db: DbIndex,
        key: &[u8],
        value: Value,
        expire_at: Option<i64>,
        now: i64,
    ) -> Result<(), StoreError> {
        // A value not in the cache is replaced without being read: if it was a large
        // collection, the store drops its elements when the row is overwritten.
        // Reporting `new` needs to know whether the key existed, so read it then.
        let lookup = if self.want_new {
            Lookup::Load
        } else {
            Lookup::Overwrite
        };
        let found = self.parts().slot(db, key, now, lookup)?;
        KeyMut::new(found).set(value, expire_at)
    }

    /// Deletes a key; returns whether a live key was there.
    pub fn delete(&mut self, db: DbIndex, key: &[u8], now: i64) -> Result<bool, StoreError> {
        self.write(db, key, now)?.delete()
    }

    /// Renames a key (RENAME, RENAMENX, MOVE), keeping its value, expiry and elements.
    /// Renaming a key to itself is done if the key exists.
    #[allow(clippy::too_many_arguments)]
    pub fn rename(
        &mut self,
        db: DbIndex,
        key: &[u8],
        to_db: DbIndex,
        to_key: &[u8],
        replace: bool,
        now: i64,
    ) -> Result<Renamed, StoreError> {
        if !self.exists(db, key, now)? {
            return Ok(Renamed::NoSource);
        }
        if db == to_db && key == to_key {
            return Ok(Renamed::Done);
        }
        if self.exists(to_db, to_key, now)? {
            if !replace {
                return Ok(Renamed::DestinationExists);
            }
            self.delete(to_db, to_key, now)?;
        }
        // Both rows are brought up to date, then renamed in the store: a large collection
        // keeps its element rows, so this costs the same whatever the value's size.
        self.flush_pending()?;
        self.store.rename(
            self.phys[db as usize],
            key,
            self.phys[to_db as usize],
            to_key,
        )?;
        let entry = {
            let found = self.parts().slot(db, key, now, Lookup::Load)?;
            let entry = found.slot.entry.take();
            *found.cache_bytes -= entry.as_ref().map_or(0, |e| e.value.size());
            entry
        };
        self.flushed.push((db, Bytes::copy_from_slice(key)));
        self.flushed.push((to_db, Bytes::copy_from_slice(to_key)));
        // The source goes without passing through a write handle.
        self.watches.touch(db, key);
        let mut target = KeyMut::new(self.parts().slot(to_db, to_key, now, Lookup::Load)?);
        if let Some(e) = entry {
            // The store already holds the row under the new name: only the version changes.
            target.found.slot.entry = Some(e);
            target.replaced = true;
            // The destination was free (or just deleted): the key is new there.
            target.existed = false;
        }
        Ok(Renamed::Done)
    }

    /// Copies a key (COPY); returns whether it was copied.
    #[allow(clippy::too_many_arguments)]
    pub fn copy(
        &mut self,
        db: DbIndex,
        key: &[u8],
        to_db: DbIndex,
        to_key: &[u8],
        replace: bool,
        now: i64,
    ) -> Result<bool, StoreError> {
        let Some(src) = self.get(db, key, now)?.cloned() else {
            return Ok(false);
        };
        let mut target = self.write(to_db, to_key, now)?;
        if target.exists() && !replace {
            return Ok(false);
        }
        let value = match &src.value {
            Value::Hash(h) => {
                let (_, mut backing) = target.backing();
                Value::Hash(h.duplicate(&mut backing)?)
            }
            Value::ZSet(z) => {
                let (_, mut backing) = target.backing();
                Value::ZSet(z.duplicate(&mut backing)?)
            }
            Value::List(l) => {
                let (_, mut backing) = target.backing();
                Value::List(l.duplicate(&mut backing)?)
            }
            Value::Set(s) => {
                let (_, mut backing) = target.backing();
                Value::Set(s.duplicate(&mut backing)?)
            }
            other => other.clone(),
        };
        target.set(value, src.expire_at)?;
        Ok(true)
    }

    /// Swaps two databases (SWAPDB): every client sees the other's keys at once.
    pub fn swap_db(&mut self, a: DbIndex, b: DbIndex) -> Result<(), StoreError> {
        if a == b {
            return Ok(());
        }
        self.touch_watched_in(&[a, b], &[a, b])?;
        self.flush_pending()?;
        let (a, b) = (a as usize, b as usize);
        self.phys.swap(a, b);
        self.dbs.swap(a, b);
        for db in [a, b] {
            self.store
                .meta_set(&db_map_name(db as DbIndex), i64::from(self.phys[db]))?;
        }
        self.remapped = true;
        self.next_version += 1;
        Ok(())
    }

    /// Number of keys in `db` (keys whose TTL passed but that nobody touched yet included, as
    /// in Redis).
    pub fn dbsize(&mut self, db: DbIndex) -> Result<u64, StoreError> {
        let pdb = self.phys[db as usize];
        Ok(self
            .db_stats_physical()?
            .into_iter()
            .find(|s| s.db == pdb)
            .map_or(0, |s| s.keys))
    }

    fn db_stats_physical(&mut self) -> Result<Vec<DbStats>, StoreError> {
        self.flush_pending()?;
        self.store.db_stats()
    }

    /// Key counts of every non-empty database, by client-visible index.
    pub fn db_stats(&mut self) -> Result<Vec<DbStats>, StoreError> {
        let mut stats: Vec<DbStats> = self
            .db_stats_physical()?
            .into_iter()
            .filter_map(|s| {
                let db = self.phys.iter().position(|&p| p == s.db)?;
                Some(DbStats {
                    db: db as DbIndex,
                    ..s
                })
            })
            .collect();
        stats.sort_by_key(|s| s.db);
        Ok(stats)
    }

    /// One page of SCAN over `db`: live keys from `cursor` on and the next cursor (0 at the
    /// end). Keys whose TTL passed are left out.
    pub fn scan(
        &mut self,
        db: DbIndex,
        cursor: u64,
        count: usize,
        now: i64,
    ) -> Result<(Vec<ScannedKey>, u64), StoreError> {
        self.flush_pending()?;
        let (mut keys, next) = self.store.scan(self.phys[db as usize], cursor, count)?;
        keys.retain(|k| k.expire_at.is_none_or(|at| at > now));
        Ok((keys, next))
    }

    /// A random live key of `db`.
    pub fn random_key(&mut self, db: DbIndex, now: i64) -> Result<Option<Bytes>, StoreError> {
        self.flush_pending()?;
        let pdb = self.phys[db as usize];
        // Keys whose TTL passed are skipped; after many, give up as Redis does.
        for _ in 0..100 {
            let seed = rand_u64();
            match self.store.random_key(pdb, seed)? {
                None => return Ok(None),
                Some(k) if k.expire_at.is_some_and(|at| at <= now) => {
                    self.exists(db, &k.key, now)?; // expires it
                    self.flush_pending()?;
                }
                Some(k) => return Ok(Some(k.key)),
            }
        }
        Ok(None)
    }

    /// Removes every key of `db`.
    pub fn flush_db(&mut self, db: DbIndex) -> Result<(), StoreError> {
        self.touch_watched_in(&[db], &[db])?;
        self.flush_pending()?;
        self.store.flush_db(self.phys[db as usize])?;
        self.clear_cache_db(db);
        self.next_version += 1;
        Ok(())
    }

    /// Removes every key of every database.
    pub fn flush_all(&mut self) -> Result<(), StoreError> {
        let all: Vec<DbIndex> = (0..self.dbs.len() as DbIndex).collect();
        for &db in &all {
            self.touch_watched_in(&[db], &[db])?;
        }
        self.flush_pending()?;
        self.store.flush_all()?;
        for db in 0..self.dbs.len() {
            self.clear_cache_db(db as DbIndex);
        }
        self.next_version += 1;
        Ok(())
    }

    fn clear_cache_db(&mut self, db: DbIndex) {
        let cache = &mut self.dbs[db as usize];
        let freed: usize = cache.map.iter().map(|(k, s)| s.cost(k)).sum();
        cache.map.clear();
        self.cache_bytes -= freed;
    }

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
        for fields in [false, true] {
            loop {
                self.flush_pending()?;
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
                    self.flush_pending()?;
                    self.stats.expire_cycles_cut += 1;
                    return Ok((self.stats.expired - expired_before) as usize);
                }
                if found.len() < EXPIRE_BATCH {
                    break;
                }
            }
        }
        self.flush_pending()?;
        Ok((self.stats.expired - expired_before) as usize)
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
            let pdb = self.phys[db as usize];
            let result = match &slot.entry {
                Some(e) => self
                    .store
                    .put(pdb, &key, &e.value.to_record(e.expire_at, e.version)),
                None => self.store.delete(pdb, &key).map(|_| ()),
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
                self.remapped = false;
                self.evict_to_budget();
                Ok(())
            }
            Err(e) => {
                self.rollback();
                Err(e)
            }
        }
    }

    /// Discards every write since the last commit, in the store and in the cache.
    pub fn rollback(&mut self) {
        self.store.rollback();
        self.forget_uncommitted();
    }

    fn forget_uncommitted(&mut self) {
        let keys: Vec<_> = self.flushed.drain(..).chain(self.dirty.drain(..)).collect();
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
    }

    /// Shrinks the cache to its budget after a batch that wrote nothing (a commit does it
    /// otherwise); cheap when the cache fits.
    pub fn trim_cache(&mut self) {
        if self.cache_bytes > self.cache_max_bytes {
            self.evict_to_budget();
        }
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

/// A random number for RANDOMKEY, HRANDFIELD and the like (not for anything secret).
pub fn rand_u64() -> u64 {
    use std::cell::Cell;
    use std::hash::{BuildHasher, Hasher};
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let mut h = ahash::RandomState::new().build_hasher();
            h.write_u64(now_ms() as u64);
            h.finish() | 1
        });
    }
    // xorshift64*: fast, and good enough to pick keys and fields.
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    })
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

    fn fill_hash(ks: &mut Keyspace, db: DbIndex, key: &[u8], fields: usize) {
        let mut k = ks.write(db, key, 0).unwrap();
        let (h, mut backing) = k.hash_or_create().unwrap();
        for i in 0..fields {
            let name = Bytes::from(format!("f{i}"));
            h.set(&mut backing, name, Bytes::from_static(b"v"), false)
                .unwrap();
        }
    }

    fn hash_len(ks: &mut Keyspace, db: DbIndex, key: &[u8]) -> Option<u64> {
        ks.get(db, key, 0)
            .unwrap()
            .map(|e| e.value.as_hash().unwrap().len())
    }

    #[test]
    fn write_handles_version_and_remove_emptied_collections() {
        let mut ks = keyspace(":memory:", 1 << 20);
        fill_hash(&mut ks, 0, b"h", 3);
        let v1 = ks.get(0, b"h", 0).unwrap().unwrap().version;
        // A write access that changes nothing leaves the version alone.
        drop(ks.write(0, b"h", 0).unwrap());
        assert_eq!(ks.get(0, b"h", 0).unwrap().unwrap().version, v1);
        assert!(matches!(ks.write(0, b"h", 0).unwrap().hash(), Ok(Some(_))));
        ks.set(0, b"s", s("x"), None, 0).unwrap();
        assert!(ks.write(0, b"s", 0).unwrap().hash().is_err());
        {
            let mut k = ks.write(0, b"h", 0).unwrap();
            let (h, backing) = k.hash().unwrap().unwrap();
            for i in 0..3 {
                h.delete(backing.store, format!("f{i}").as_bytes()).unwrap();
            }
        }
        assert!(ks.get(0, b"h", 0).unwrap().is_none());
        ks.commit().unwrap();
        assert_eq!(ks.dbsize(0).unwrap(), 1);
    }

    #[test]
    fn large_hashes_rename_copy_and_delete_with_their_elements() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ks.db");
        let path = path.to_str().unwrap();
        let mut ks = keyspace(path, 1 << 20);
        fill_hash(&mut ks, 0, b"big", 500);
        assert_eq!(
            ks.rename(0, b"big", 1, b"moved", false, 0).unwrap(),
            Renamed::Done
        );
        assert!(ks.copy(1, b"moved", 1, b"copy", false, 0).unwrap());
        ks.commit().unwrap();
        ks.close().unwrap();
        drop(ks);
        let mut ks = keyspace(path, 1 << 20);
        assert_eq!(hash_len(&mut ks, 0, b"big"), None);
        assert_eq!(hash_len(&mut ks, 1, b"moved"), Some(500));
        assert_eq!(hash_len(&mut ks, 1, b"copy"), Some(500));
        {
            let mut k = ks.write(1, b"copy", 0).unwrap();
            let (h, backing) = k.hash().unwrap().unwrap();
            assert!(h.delete(backing.store, b"f1").unwrap());
        }
        assert_eq!(
            hash_len(&mut ks, 1, b"moved"),
            Some(500),
            "copies are apart"
        );
        // Created and deleted in one batch: no element row may be left behind.
        fill_hash(&mut ks, 2, b"brief", 300);
        let cid = ks
            .get(2, b"brief", 0)
            .unwrap()
            .unwrap()
            .value
            .cid()
            .unwrap();
        assert!(ks.delete(2, b"brief", 0).unwrap());
        ks.commit().unwrap();
        assert!(ks
            .store_mut()
            .scan_elements(cid, 0, 10)
            .unwrap()
            .0
            .is_empty());
    }

    fn fill_zset(ks: &mut Keyspace, db: DbIndex, key: &[u8], members: usize) {
        let mut k = ks.write(db, key, 0).unwrap();
        let (z, mut backing) = k.zset_or_create().unwrap();
        for i in 0..members {
            z.insert(&mut backing, Bytes::from(format!("m{i}")), i as f64)
                .unwrap();
        }
    }

    fn zset_rows(ks: &mut Keyspace, cid: u64) -> (usize, u64) {
        let store = ks.store_mut();
        let elements = store.scan_elements(cid, 0, 100_000).unwrap().0.len();
        let scores = store
            .zset_count(cid, &crate::storage::ZRange::all())
            .unwrap();
        (elements, scores)
    }

    #[test]
    fn large_zsets_copy_rename_and_delete_with_both_row_orders() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ks.db");
        let path = path.to_str().unwrap();
        let mut ks = keyspace(path, 1 << 20);
        fill_zset(&mut ks, 0, b"z", 300);
        let cid = ks.get(0, b"z", 0).unwrap().unwrap().value.cid().unwrap();
        assert!(ks.copy(0, b"z", 0, b"copy", false, 0).unwrap());
        let copy_cid = ks.get(0, b"copy", 0).unwrap().unwrap().value.cid().unwrap();
        assert_ne!(cid, copy_cid);
        assert_eq!(
            ks.rename(0, b"z", 1, b"moved", false, 0).unwrap(),
            Renamed::Done
        );
        ks.commit().unwrap();
        ks.close().unwrap();
        drop(ks);
        let mut ks = keyspace(path, 1 << 20);
        assert_eq!(zset_rows(&mut ks, cid), (300, 300));
        assert_eq!(zset_rows(&mut ks, copy_cid), (300, 300));
        {
            let r = ks.read(1, b"moved", 0).unwrap().unwrap();
            let z = r.entry.value.as_zset().unwrap();
            assert_eq!(z.len(), 300);
            assert_eq!(z.rank(r.store, b"m250", true).unwrap(), Some((49, 250.0)));
        }
        // Overwriting with a string and deleting both drop every row of both orders.
        ks.set(
            1,
            b"moved",
            Value::String(Bytes::from_static(b"x")),
            None,
            0,
        )
        .unwrap();
        assert!(ks.delete(0, b"copy", 0).unwrap());
        ks.commit().unwrap();
        assert_eq!(zset_rows(&mut ks, cid), (0, 0));
        assert_eq!(zset_rows(&mut ks, copy_cid), (0, 0));
        // Created and deleted in one batch: nothing left behind either.
        fill_zset(&mut ks, 2, b"brief", 200);
        let brief = ks
            .get(2, b"brief", 0)
            .unwrap()
            .unwrap()
            .value
            .cid()
            .unwrap();
        assert!(ks.delete(2, b"brief", 0).unwrap());
        ks.commit().unwrap();
        assert_eq!(zset_rows(&mut ks, brief), (0, 0));
        // FLUSHALL too.
        fill_zset(&mut ks, 0, b"f", 200);
        let f = ks.get(0, b"f", 0).unwrap().unwrap().value.cid().unwrap();
        ks.commit().unwrap();
        ks.flush_all().unwrap();
        ks.commit().unwrap();
        assert_eq!(zset_rows(&mut ks, f), (0, 0));
    }

    #[test]
    fn lazy_expiry_reports_an_event_and_swapdb_rolls_back_with_a_failed_commit() {
        let mut ks = keyspace(":memory:", 1 << 20);
        ks.set(0, b"k", s("v"), Some(100), 0).unwrap();
        assert!(ks.get(0, b"k", 100).unwrap().is_none());
        let events = ks.take_events();
        assert_eq!(events.len(), 1);
        assert_eq!(
            (events[0].event, &events[0].key[..]),
            ("expired", &b"k"[..])
        );
        ks.set(0, b"a", s("in0"), None, 0).unwrap();
        ks.commit().unwrap();
        ks.swap_db(0, 5).unwrap();
        assert_eq!(ks.get(5, b"a", 0).unwrap().unwrap().value, s("in0"));
        ks.rollback();
        assert_eq!(ks.get(0, b"a", 0).unwrap().unwrap().value, s("in0"));
        assert!(ks.get(5, b"a", 0).unwrap().is_none());
    }
}
