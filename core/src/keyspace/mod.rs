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
//!
//! The files, one concern each:
//!
//! - `mod.rs`: the [`Keyspace`] struct, its entries, counters and settings.
//! - `cache.rs`: the hot cache, its byte accounting and LRU eviction, and the lookup every key
//!   access goes through.
//! - `handle.rs`: access to one key: the reads, [`KeyRef`] and the write handle [`KeyMut`].
//! - `expiry.rs`: lazy expiry on lookup and the active expiry cycle.
//! - `rename.rs`: RENAME, MOVE and COPY of whole keys.
//! - `dbmap.rs`: the client-to-store database map, SWAPDB, and whole-database operations.
//! - `commit.rs`: pending writes, commit and rollback.
//! - `datasize.rs`: the logical data size `maxmemory` limits.
//! - `evict.rs`: `maxmemory`'s policies: sampling, LRU/LFU, evicting keys.
//! - `encodings.rs`: when collections move from inline values to element rows.
//! - `string.rs`: long strings in chunk rows, and the range reads and in-place writes of
//!   strings (GETRANGE, SETRANGE, APPEND, the bit commands).
//! - `integers.rs`: the text of 0..=9999 shared, as Redis shares small integers.
//! - `value.rs`, `hash.rs`, `list.rs`, `set.rs`, `zset.rs`, `stream.rs` (and its consumer
//!   groups, `stream_group.rs`): the values and their types.
//! - `set_index.rs`: the member index of a large set, for SPOP's and SRANDMEMBER's picks;
//!   `pick.rs`: uniform picks from element rows without one.
//! - `watch.rs`: WATCH bookkeeping.

mod cache;
mod commit;
mod datasize;
mod dbmap;
mod encodings;
pub mod evict;
mod expiry;
mod handle;
pub mod hash;
mod integers;
mod lazyfree;
pub mod list;
pub(crate) mod pick;
mod rename;
pub mod set;
mod set_index;
pub mod stream;
pub mod stream_group;
pub mod string;
#[cfg(test)]
mod tests;
mod value;
pub mod watch;
pub mod writebehind;
pub mod zset;

pub use encodings::Encodings;
pub use handle::{KeyMut, KeyRef};
pub use hash::{Backing, Field, Hash};
pub(crate) use integers::integer_text;
pub use list::List;
pub use rename::Renamed;
pub use set::Set;
pub use set_index::index_memory as set_index_memory;
pub use stream::{Stream, StreamEntry, StreamId, Trim};
pub use stream_group::{Group, Pending};
pub use string::Chunked;
pub use value::{Typed, Value};
pub use watch::WatchRegistry;
pub use writebehind::WriteBehindOptions;
pub use zset::ZSet;

use bytes::Bytes;

use crate::events::KeyEvent;
use crate::storage::{DbIndex, ShortBytes, Store, StoreError};
use cache::DbCache;
use dbmap::load_db_map;
use writebehind::WriteBehind;

/// A live key's value and metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The value.
    pub value: Value,
    /// Absolute expiry in Unix milliseconds.
    pub expire_at: Option<i64>,
    /// Bumped on every write to the key; unique across the key's whole history.
    pub version: u64,
    /// A string changed in place (APPEND, SETRANGE, SETBIT, BITFIELD): OBJECT ENCODING says
    /// `raw` whatever its length, as Redis's unshared string does. Not persisted: a string
    /// read back from the file is `int`, `embstr` or `raw` by its bytes, as after Redis loads
    /// an RDB file.
    pub raw: bool,
}

impl Entry {
    /// Redis's OBJECT ENCODING name for the value.
    pub fn encoding(&self) -> &'static str {
        match &self.value {
            Value::String(_) | Value::Chunked(_) if self.raw => "raw",
            value => value.encoding(),
        }
    }
}

/// The key holds a value of another type than the command works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WrongType;

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
    /// Key rows written into the store (a key changed many times between two commits, or
    /// two write-behind flushes, counts once).
    pub rows_written: u64,
    /// Keys removed to respect `maxmemory` (`evicted_keys`).
    pub evicted: u64,
    /// Time spent evicting keys, microseconds (`total_eviction_exceeded_time`-like).
    pub eviction_us: u64,
    /// Active expiry cycles run.
    pub expire_cycles: u64,
    /// Active expiry cycles that stopped at their time budget.
    pub expire_cycles_cut: u64,
    /// Time spent in active expiry, microseconds.
    pub expire_cycle_us: u64,
    /// Large collections whose rows were removed in the background (`lazyfreed_objects`).
    pub lazyfreed_objects: u64,
}

fn event(db: DbIndex, class: u16, name: &'static str, key: &[u8]) -> KeyEvent {
    KeyEvent {
        db,
        class,
        event: name,
        key: Bytes::copy_from_slice(key),
    }
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
    dirty: Vec<(DbIndex, ShortBytes)>,
    /// Estimated bytes of the keys in `dirty`.
    dirty_bytes: usize,
    /// Rows built as their keys changed, for the next flush (see [`commit::EarlyRows`]).
    early: commit::EarlyRows,
    /// Keys flushed into the open transaction; dropped from the cache if it fails.
    flushed: Vec<(DbIndex, ShortBytes)>,
    /// Write-behind's settings and counters, when writes are acknowledged before they are
    /// committed.
    write_behind: Option<WriteBehind>,
    /// Events the keyspace caused itself (expiry, `new`), for the engine to publish.
    events: Vec<KeyEvent>,
    /// Keys clients WATCH; every change to one marks its watchers.
    watches: WatchRegistry,
    /// Whether anyone listens to `new` events (creating a key costs an event only then).
    want_new: bool,
    /// Set while a CLIENT NO-TOUCH client's command runs: lookups keep access times.
    no_touch: bool,
    /// Whether reads that find no key report a `keymiss` event (class `m` is wanted).
    want_keymiss: bool,
    /// CLIENT PAUSE holds expiry back: expired keys read as absent but stay (see
    /// `cache::Slot::held`).
    expiry_paused: bool,
    encodings: Encodings,
    stats: KeyspaceStats,
    /// The collection being reclaimed and the rows removed from it so far.
    reclaiming: Option<(crate::storage::CollectionId, u64)>,
    /// The logical data size `maxmemory` limits.
    data: datasize::DataSize,
    /// `maxmemory` and its policy.
    eviction: evict::Eviction,
    /// The best eviction candidates seen so far (see `evict.rs`).
    evict_pool: Vec<evict::Candidate>,
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
        let phys = load_db_map(store.as_mut(), databases)?;
        let data = datasize::DataSize::load(store.as_mut(), databases)?;
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
            dirty_bytes: 0,
            early: commit::EarlyRows::default(),
            flushed: Vec::new(),
            write_behind: None,
            events: Vec::new(),
            watches: WatchRegistry::default(),
            want_new: false,
            no_touch: false,
            want_keymiss: false,
            expiry_paused: false,
            encodings: Encodings::default(),
            stats: KeyspaceStats::default(),
            reclaiming: None,
            data,
            eviction: evict::Eviction::default(),
            evict_pool: Vec::new(),
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

    /// The store's redo journal counters, if it keeps a journal (INFO persistence).
    pub fn store_journal_stats(&self) -> Option<crate::storage::JournalStats> {
        self.store.journal_stats()
    }

    /// Events the keyspace caused by itself (expired keys and fields) since the last call.
    pub fn take_events(&mut self) -> Vec<KeyEvent> {
        std::mem::take(&mut self.events)
    }

    /// Whether [`Self::take_events`] has anything.
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
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

    /// Holds lazy expiry back while clients are paused (CLIENT PAUSE), as Redis does: a key
    /// whose TTL passes reads as absent but is only deleted, and counted, once expiry resumes.
    pub fn set_expiry_paused(&mut self, paused: bool) {
        self.expiry_paused = paused;
    }

    /// The WATCH registry.
    pub fn watches(&self) -> &WatchRegistry {
        &self.watches
    }

    /// Makes lookups leave keys' access times alone (a CLIENT NO-TOUCH client's command
    /// runs) or update them again.
    pub fn set_no_touch(&mut self, on: bool) {
        self.no_touch = on;
    }

    /// The WATCH registry, to add and drop watches.
    pub fn watches_mut(&mut self) -> &mut WatchRegistry {
        &mut self.watches
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
