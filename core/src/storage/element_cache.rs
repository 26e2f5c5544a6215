//! Element rows of large collections kept in memory: a hash field's or set member's row, a
//! sorted-set member's score, or the fact that there is none.
//!
//! A large collection's elements live in the `elements` table only (the hot cache holds the
//! key's header, not its elements), so every SADD, HSET, SISMEMBER, HGET, ZADD or ZSCORE
//! of one asked SQLite: an index descent of a B-tree of a hundred thousand rows or more, run
//! through the statement machine. Under SADDs at -P 16 of members drawn from 100,000 into
//! one set, those lookups were about half of the executor's time (`bench/RESULTS.md`).
//! This cache answers them from a hash map, and tells a write whether its row exists (an
//! insert or an update at once, rather than an update that finds nothing first) and whether
//! it changes anything (a row rewritten with the same value and expiry is left alone: no
//! statement, no journal record).
//!
//! Every statement of the store that changes element rows either updates the entries it
//! changed (the single-row writes) or forgets the collection's entries (ranges, expiry,
//! copies, streams' ordered rows); a rollback, a flush of everything and a plugin's SQL over
//! the store's tables forget them all. Collections whose key was deleted or replaced are
//! never asked about again (collection ids are not reused), so their entries go with the
//! eviction. The cache takes, of the memory given to SQLite's page cache, what the database's
//! pages cannot fill, and an eighth at least: it spares SQLite the same lookups (see
//! [`super::SqliteStore`]'s `split_page_cache`). Eviction is
//! CLOCK within each collection, the collections giving up an entry in turn: an entry read
//! since the hand last passed it gets another round.

use bytes::Bytes;
use hashlink::LinkedHashMap;

use super::element_table::{Clock, Table};
use super::short_bytes::apart;
use super::{CollectionId, Element, ShortBytes};

/// Values longer than this are not kept: their rows are read from the file (a hash of
/// kilobyte values would otherwise hold few fields for its memory).
const MAX_VALUE: usize = 1024;

/// Memory an entry takes besides the bytes of a name or value too long to be kept inline
/// ([`ShortBytes`]): its slot in its collection's table, with the empty slots around it.
const ENTRY_OVERHEAD: usize = Table::<Cached>::ENTRY_BYTES;

/// Memory a cached collection takes besides its entries: its node in the map of
/// collections and its own map's table.
const COLLECTION_OVERHEAD: usize = std::mem::size_of::<(CollectionId, Collection)>() + 64;

/// Entries given another round per eviction at most, before the front one goes regardless.
const PASS_LIMIT: usize = 8;

type Map<K, V> = LinkedHashMap<K, V, ahash::RandomState>;

/// One element's row as the file holds it, in 40 bytes (an entry's slot is 80: a cached
/// collection of 100,000 members takes about 12 MB, see [`Table::ENTRY_BYTES`]).
struct Cached {
    /// Its value (empty when the collection has no such element).
    value: ShortBytes,
    /// Its expiry in Unix ms, [`NO_EXPIRY`], or [`ABSENT`]: the collection has no such
    /// element.
    expire: i64,
}

/// [`Cached::expire`] of an element without an expiry.
const NO_EXPIRY: i64 = i64::MIN + 1;
/// [`Cached::expire`] of an element the collection does not have.
const ABSENT: i64 = i64::MIN;

impl Cached {
    fn new(row: Option<(ShortBytes, Option<i64>)>) -> Cached {
        match row {
            None => Cached {
                value: ShortBytes::copy_from_slice(b""),
                expire: ABSENT,
            },
            Some((value, expire_at)) => Cached {
                value,
                // An expiry as low as the markers is long past: the same as the oldest one.
                expire: expire_at.map_or(NO_EXPIRY, |at| at.max(NO_EXPIRY + 1)),
            },
        }
    }

    /// Its value and expiry; `None`: the collection has no such element.
    fn row(&self) -> Option<(&ShortBytes, Option<i64>)> {
        match self.expire {
            ABSENT => None,
            NO_EXPIRY => Some((&self.value, None)),
            at => Some((&self.value, Some(at))),
        }
    }

    fn cost(&self, sub: &[u8]) -> usize {
        apart(sub.len()) + self.row().map_or(0, |(v, _)| apart(v.len())) + ENTRY_OVERHEAD
    }
}

#[derive(Default)]
struct Collection {
    entries: Table<Cached>,
    bytes: usize,
}

/// What the cache knows of an element.
pub(super) enum Known<'a> {
    /// Nothing: ask the file.
    Unknown,
    /// The collection has no such element.
    Absent,
    /// Its value and expiry.
    Present(&'a ShortBytes, Option<i64>),
}

impl Known<'_> {
    /// The element named `sub`, as a read of the file returns it (`None`: unknown).
    pub(super) fn element(&self, sub: &[u8]) -> Option<Option<Element>> {
        match self {
            Known::Unknown => None,
            Known::Absent => Some(None),
            Known::Present(value, expire_at) => Some(Some(Element {
                sub: Bytes::copy_from_slice(sub),
                value: value.to_bytes(),
                expire_at: *expire_at,
            })),
        }
    }

    /// Whether the element exists, if known.
    pub(super) fn exists(&self) -> Option<bool> {
        match self {
            Known::Unknown => None,
            Known::Absent => Some(false),
            Known::Present(..) => Some(true),
        }
    }
}

/// Figures for INFO.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ElementCacheStats {
    /// Bytes the entries take, as charged against the budget.
    pub bytes: u64,
    /// Its budget: of the page cache's, what the database's pages leave, an eighth at least.
    pub max_bytes: u64,
    /// Elements (or known absences) held.
    pub entries: u64,
    /// Lookups it answered.
    pub hits: u64,
    /// Lookups that read the file.
    pub misses: u64,
}

/// The cache (see the module's doc).
#[derive(Default)]
pub(super) struct ElementCache {
    collections: Map<CollectionId, Collection>,
    /// The first members of one sorted set from one end, forgotten with the collection.
    pub(super) zset_end: super::zset_end::ZsetEnd,
    bytes: usize,
    budget: usize,
    entries: usize,
    hits: u64,
    misses: u64,
}

impl ElementCache {
    /// What the cache knows of element `sub` of `cid`; counts a hit or a miss.
    pub(super) fn get(&mut self, cid: CollectionId, sub: &[u8]) -> Known<'_> {
        let Some(cached) = self
            .collections
            .get_mut(&cid)
            .and_then(|c| c.entries.get_referenced(sub))
        else {
            self.misses += 1;
            return Known::Unknown;
        };
        self.hits += 1;
        match cached.row() {
            None => Known::Absent,
            Some((value, expire_at)) => Known::Present(value, expire_at),
        }
    }

    /// Starts loading what [`Self::get`] will read of these elements, without waiting for
    /// it: every tag first, then every entry the tags point to (see [`Table`]), so that the
    /// misses of a pipeline's lookups overlap instead of each waiting alone.
    pub(super) fn prefetch(&self, wanted: &[(CollectionId, &[u8])]) {
        let mut started = Vec::with_capacity(wanted.len());
        let mut at: Option<(CollectionId, Option<&Collection>)> = None;
        for &(cid, sub) in wanted {
            let collection = match at {
                Some((c, collection)) if c == cid => collection,
                _ => {
                    let collection = self.collections.get(&cid);
                    at = Some((cid, collection));
                    collection
                }
            };
            if let Some(table) = collection.map(|c| &c.entries) {
                let hash = table.hash(sub);
                table.prefetch_tags(hash);
                started.push((table, hash));
            }
        }
        for (table, hash) in started {
            table.prefetch_entry(hash);
        }
    }

    /// Notes element `sub`'s row as the file now holds it (`None`: no such element).
    pub(super) fn put(&mut self, cid: CollectionId, sub: &[u8], row: Option<(&[u8], Option<i64>)>) {
        if self.budget == 0 || row.is_some_and(|(v, _)| v.len() > MAX_VALUE) {
            self.forget(cid, sub);
            return;
        }
        let row = row.map(|(v, e)| (ShortBytes::copy_from_slice(v), e));
        let collection = match self.collections.entry(cid) {
            hashlink::linked_hash_map::Entry::Occupied(o) => o.into_mut(),
            hashlink::linked_hash_map::Entry::Vacant(v) => {
                self.bytes += COLLECTION_OVERHEAD;
                v.insert(Collection::default())
            }
        };
        let added = match collection.entries.get_mut(sub) {
            Some(cached) => {
                let old = cached.cost(sub);
                *cached = Cached::new(row);
                let new = cached.cost(sub);
                collection.bytes = collection.bytes + new - old;
                self.bytes = self.bytes + new - old;
                false
            }
            None => {
                let cached = Cached::new(row);
                let cost = cached.cost(sub);
                collection.bytes += cost;
                self.bytes += cost;
                collection
                    .entries
                    .insert(ShortBytes::copy_from_slice(sub), cached);
                true
            }
        };
        if added {
            self.entries += 1;
        }
        self.evict();
    }

    /// Notes that element `sub` of `cid` is gone, if the cache holds it: a delete adds no
    /// entry (SPOP and SREM of a large set's members, asked about again seldom, would evict
    /// entries that are).
    pub(super) fn deleted(&mut self, cid: CollectionId, sub: &[u8]) {
        let Some(collection) = self.collections.get_mut(&cid) else {
            return;
        };
        if let Some(cached) = collection.entries.get_mut(sub) {
            let old = cached.cost(sub);
            *cached = Cached::new(None);
            let freed = old - cached.cost(sub);
            collection.bytes -= freed;
            self.bytes -= freed;
        }
    }

    /// Drops what the cache knows of element `sub` of `cid`.
    pub(super) fn forget(&mut self, cid: CollectionId, sub: &[u8]) {
        let Some(collection) = self.collections.get_mut(&cid) else {
            return;
        };
        if let Some((_, cached)) = collection.entries.remove(sub) {
            let cost = cached.cost(sub);
            collection.bytes -= cost;
            self.bytes -= cost;
            self.entries -= 1;
        }
    }

    /// Drops what the cache knows of collection `cid`'s elements.
    pub(super) fn forget_collection(&mut self, cid: CollectionId) {
        self.zset_end.forget(cid);
        if let Some(collection) = self.collections.remove(&cid) {
            self.bytes -= collection.bytes + COLLECTION_OVERHEAD;
            self.entries -= collection.entries.len();
        }
    }

    /// Drops everything.
    pub(super) fn clear(&mut self) {
        self.zset_end.clear();
        self.collections = Map::default();
        self.bytes = 0;
        self.entries = 0;
    }

    /// Sets the budget in bytes (0 keeps nothing), evicting what no longer fits.
    pub(super) fn set_budget(&mut self, bytes: usize) {
        self.budget = bytes;
        if bytes == 0 {
            self.clear();
        }
        self.evict();
    }

    pub(super) fn stats(&self) -> ElementCacheStats {
        ElementCacheStats {
            bytes: self.bytes as u64,
            max_bytes: self.budget as u64,
            entries: self.entries as u64,
            hits: self.hits,
            misses: self.misses,
        }
    }

    /// Evicts entries until the cache is within its budget: from each collection in turn, an
    /// entry not read since the hand last passed it (CLOCK).
    fn evict(&mut self) {
        let mut passed = 0;
        while self.bytes > self.budget {
            let Some(cid) = self.collections.front().map(|(&cid, _)| cid) else {
                self.bytes = 0;
                return;
            };
            // Round the collections: each gives up an entry in turn.
            let Some(collection) = self.collections.to_back(&cid) else {
                return;
            };
            let step = collection.entries.clock(passed < PASS_LIMIT);
            if matches!(step, Clock::Spared) {
                passed += 1;
            }
            let (sub, cached) = match step {
                Clock::Empty => {
                    self.collections.remove(&cid);
                    self.bytes -= COLLECTION_OVERHEAD;
                    continue;
                }
                Clock::Spared => continue,
                Clock::Evicted(sub, cached) => (sub, cached),
            };
            let cost = cached.cost(&sub);
            collection.bytes -= cost;
            self.bytes -= cost;
            self.entries -= 1;
            if collection.entries.is_empty() {
                self.collections.remove(&cid);
                self.bytes -= COLLECTION_OVERHEAD;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(budget: usize) -> ElementCache {
        let mut c = ElementCache::default();
        c.set_budget(budget);
        c
    }

    fn value(c: &mut ElementCache, cid: CollectionId, sub: &[u8]) -> Option<Option<Vec<u8>>> {
        c.get(cid, sub)
            .element(sub)
            .map(|e| e.map(|e| e.value.to_vec()))
    }

    #[test]
    fn answers_what_was_put_and_forgets_on_request() {
        let mut c = cache(1 << 20);
        assert_eq!(value(&mut c, 1, b"a"), None);
        c.put(1, b"a", Some((b"x", None)));
        c.put(1, b"b", None);
        c.put(2, b"a", Some((b"y", Some(5))));
        assert_eq!(value(&mut c, 1, b"a"), Some(Some(b"x".to_vec())));
        assert_eq!(value(&mut c, 1, b"b"), Some(None));
        assert_eq!(
            c.get(2, b"a").element(b"a").unwrap().unwrap().expire_at,
            Some(5)
        );
        c.put(1, b"a", Some((b"longer value", None)));
        assert_eq!(value(&mut c, 1, b"a"), Some(Some(b"longer value".to_vec())));
        c.forget(1, b"a");
        assert_eq!(value(&mut c, 1, b"a"), None);
        c.forget_collection(2);
        assert_eq!(value(&mut c, 2, b"a"), None);
        assert_eq!(c.stats().entries, 1);
        c.forget_collection(1);
        assert_eq!(c.stats().bytes, 0);
        assert_eq!(c.stats().entries, 0);
        let s = c.stats();
        assert_eq!((s.hits, s.misses), (4, 3));
    }

    #[test]
    fn a_delete_marks_a_cached_element_absent_and_adds_no_entry() {
        let mut c = cache(1 << 20);
        c.put(1, b"a", Some((&[b'x'; 100][..], None)));
        c.put(1, b"s", Some((b"x", None)));
        let before = c.stats().bytes;
        c.deleted(1, b"a");
        assert_eq!(value(&mut c, 1, b"a"), Some(None));
        // A value kept apart frees its bytes; one kept inline took none of its own.
        assert_eq!(c.stats().bytes, before - apart(100) as u64);
        c.deleted(1, b"s");
        assert_eq!(c.stats().bytes, before - apart(100) as u64);
        c.deleted(1, b"b");
        c.deleted(2, b"a");
        assert_eq!(c.stats().entries, 2);
    }

    #[test]
    fn long_values_are_not_kept_and_replace_what_was() {
        let mut c = cache(1 << 20);
        c.put(1, b"a", Some((b"short", None)));
        c.put(1, b"a", Some((&[7u8; MAX_VALUE + 1], None)));
        assert_eq!(value(&mut c, 1, b"a"), None);
    }

    #[test]
    fn an_entry_costs_no_more_than_in_the_linked_map_it_replaced() {
        // The linked hash map charged 120 bytes an entry; a dearer one holds fewer elements
        // in the same budget, and every miss is a read of the file.
        const { assert!(std::mem::size_of::<Cached>() == 40) };
        const { assert!(ENTRY_OVERHEAD <= 120) };
    }

    #[test]
    fn an_expiry_as_low_as_the_markers_reads_back_as_long_past() {
        let row = |at| {
            Cached::new(Some((ShortBytes::copy_from_slice(b"v"), at)))
                .row()
                .map(|(_, e)| e)
        };
        assert_eq!(row(None), Some(None));
        assert_eq!(row(Some(5)), Some(Some(5)));
        assert_eq!(row(Some(i64::MIN)), Some(Some(i64::MIN + 2)));
        assert_eq!(Cached::new(None).row().map(|_| ()), None);
    }

    #[test]
    fn stays_within_its_budget_and_keeps_entries_read_since_the_hand_passed() {
        let budget = 100 * (ENTRY_OVERHEAD + 8) + 2 * COLLECTION_OVERHEAD;
        let mut c = cache(budget);
        c.put(1, b"hot", Some((b"v", None)));
        for i in 0..10_000u32 {
            c.put(1 + u64::from(i % 2), format!("m{i:06}").as_bytes(), None);
            assert!(c.stats().bytes <= budget as u64);
            if i % 16 == 0 {
                assert!(c.get(1, b"hot").exists() == Some(true), "{i}");
            }
        }
        assert!(c.stats().entries > 50);
        // The accounting adds up: forgetting everything returns to zero.
        c.forget_collection(1);
        c.forget_collection(2);
        assert_eq!(c.stats().bytes, 0);
        c.set_budget(0);
        c.put(3, b"a", None);
        assert_eq!(c.stats().entries, 0);
    }
}
