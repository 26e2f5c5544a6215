//! The key filter: an in-memory answer to "is this key certainly absent?", so that a read of a
//! key that does not exist (a cache miss, the common case of cache workloads) costs no SQLite
//! lookup. The element filter answers the same of the elements of large hashes, sets and
//! sorted sets: an SADD, SISMEMBER, HSET, HGET, ZADD or ZSCORE of a member that a collection
//! too large for the element cache lacks read the table for nothing (under random SADDs to a
//! set of a million members, 40% of the executor's time).
//!
//! Each is a Bloom filter over (database, key) of every key row in the file (over (collection,
//! name) of every element row): 10 to 20 bits per
//! key (a power of two in all) and 7 probes within one cache line, for at most about 1% false
//! positives, so 16 to 32 MB cover ten million keys whatever their size. It never answers
//! "absent" for a key that exists: every row written is added before the write returns, and
//! nothing is ever removed (a deleted key only costs the lookup it would have cost without
//! the filter). It is built at start-up by a thread with its own
//! connection, reading only the key table's index; until that thread is done, lookups go to
//! SQLite as before and keys written meanwhile are remembered and added when it finishes.
//! When the keys added since the build exceed its capacity (false positives climb), or after
//! FLUSHALL, it is rebuilt the same way.
//!
//! Each filter's memory is capped (`storage.cache_max_bytes` / 16, at least 1 MiB: see
//! `StorageConfig::filter_budget`): past the keys the cap covers at 10 bits each, a build
//! spreads fewer bits per key, with fewer probes (the best count for its bits per key), so
//! false positives grow with the file (about 2% at 8 bits per key, 15% at 4) instead of
//! its memory. A file with more than four keys per byte of the cap gets no filter at all
//! (state `over-budget`: lookups go to SQLite) until a FLUSHALL or a larger cache makes room.

use std::thread::JoinHandle;

use rusqlite::{Connection, OpenFlags};

use super::{CollectionId, DbIndex, KeyFilterStats};

/// Bits per key the filter is sized for, and probes per lookup (about 1% false positives).
const BITS_PER_KEY: u64 = 10;
const PROBES: u32 = 7;

/// Bits per key present below which a capped filter is not built: at 2 it would still spare
/// about 60% of the lookups of absent keys; fewer would cost rebuilds for little.
const MIN_BITS_PER_KEY: u64 = 2;

/// The smallest capacity (keys) a filter is built for: empty files grow into it.
const MIN_CAPACITY: u64 = 1 << 20;

/// A Bloom filter over (database, key), blocked: a key's probes all fall in one 64-byte
/// block, so that a lookup or an insert costs one cache miss rather than one per probe (the
/// filter is megabytes, far larger than the caches), for slightly more false positives than
/// probes spread over the whole filter.
pub(super) struct Bloom {
    blocks: Vec<Block>,
    /// Keys it was sized for.
    capacity: u64,
    /// Keys added so far that set at least one bit: a key written again, which finds all its
    /// bits set, is not counted, so rewriting the same keys never asks for a rebuild.
    added: u64,
    /// Probes per key: [`PROBES`], or fewer in a filter its cap made sparser.
    probes: u32,
}

/// 512 bits on one cache line.
#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Block([u64; 8]);

/// The filter's hash of a key: a seeded xxh3, so databases do not share bits.
pub(super) fn key_hash(db: DbIndex, key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(key, db as u64)
}

/// The element filter's hash of an element: seeded with its collection.
pub(super) fn element_hash(cid: CollectionId, sub: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(sub, cid)
}

/// The rows a filter covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Rows {
    /// Key rows, by (database, key).
    Keys,
    /// Element rows (hash fields, set and sorted-set members, stream entries), by
    /// (collection, name).
    Elements,
}

impl Rows {
    /// How many rows the file holds, read by the build first to size the filter: a figure
    /// kept for the keys; for the elements, a count of the table's rows (a pass over its
    /// pages, about as long as the read that follows).
    fn count_sql(self) -> &'static str {
        match self {
            Rows::Keys => "SELECT coalesce(sum(keys), 0) FROM db_stats",
            Rows::Elements => "SELECT count(*) FROM elements",
        }
    }

    fn rows_sql(self) -> &'static str {
        match self {
            Rows::Keys => "SELECT db, key FROM keys",
            Rows::Elements => "SELECT cid, sub FROM elements",
        }
    }

    fn hash(self, owner: i64, name: &[u8]) -> u64 {
        match self {
            Rows::Keys => key_hash(owner as DbIndex, name),
            Rows::Elements => element_hash(owner as CollectionId, name),
        }
    }

    fn thread_name(self) -> &'static str {
        match self {
            Rows::Keys => "respite-keyfilter",
            Rows::Elements => "respite-elemfilter",
        }
    }
}

impl Bloom {
    /// An empty filter for `keys` keys (at least [`MIN_CAPACITY`]), of at most `max_bytes`
    /// (rounded down to a power of two, and at least one block).
    pub(super) fn with_capacity(keys: u64, max_bytes: u64) -> Bloom {
        let (capacity, bits) = Self::size(keys, max_bytes);
        // The count of probes that gives the fewest false positives at capacity (ln 2 per
        // bit per key), at most the uncapped filter's.
        let probes = if bits == Self::size(keys, u64::MAX).1 {
            PROBES
        } else {
            ((bits as f64 / capacity as f64 * std::f64::consts::LN_2).round() as u32)
                .clamp(1, PROBES)
        };
        Bloom {
            blocks: vec![Block::default(); (bits / 512) as usize],
            capacity,
            added: 0,
            probes,
        }
    }

    /// The capacity (keys) and bits of [`Self::with_capacity`]'s filter, without making it.
    fn size(keys: u64, max_bytes: u64) -> (u64, u64) {
        let capacity = keys.max(MIN_CAPACITY);
        // A power of two, so that a block is a mask of the hash rather than a division.
        let wanted = (capacity * BITS_PER_KEY).next_power_of_two();
        let cap = prev_power_of_two(max_bytes.saturating_mul(8)).max(512);
        (capacity, wanted.min(cap))
    }

    /// The key's block, and the bit of each probe in it (word, mask): the hash's low 18
    /// bits place the probes (Kirsch and Mitzenmacher: a start and an odd stride of 9 bits
    /// each make all seven, distinct), the bits above choose the block.
    fn probes(&self, hash: u64) -> (usize, impl Iterator<Item = (usize, u64)>) {
        let block = ((hash >> 18) & (self.blocks.len() as u64 - 1)) as usize;
        let start = hash & 511;
        let stride = ((hash >> 9) & 511) | 1;
        let bits = (0..u64::from(self.probes)).map(move |i| {
            let bit = start.wrapping_add(i * stride) & 511;
            ((bit / 64) as usize, 1u64 << (bit % 64))
        });
        (block, bits)
    }

    pub(super) fn insert(&mut self, hash: u64) {
        let (block, bits) = self.probes(hash);
        let words = &mut self.blocks[block].0;
        let mut new_bits = 0;
        for (word, mask) in bits {
            new_bits |= !words[word] & mask;
            words[word] |= mask;
        }
        self.added += u64::from(new_bits != 0);
    }

    /// Brings the block of `hash`'s probes into the CPU's cache, ahead of a lookup.
    fn prefetch(&self, hash: u64) {
        let (block, _) = self.probes(hash);
        crate::prefetch::prefetch(&self.blocks[block]);
    }

    pub(super) fn may_contain(&self, hash: u64) -> bool {
        let (block, mut bits) = self.probes(hash);
        let words = &self.blocks[block].0;
        bits.all(|(word, mask)| words[word] & mask != 0)
    }

    /// Whether more distinct keys were added than it was sized for (give or take the ~1% of
    /// new keys whose bits were all set already).
    fn overloaded(&self) -> bool {
        self.added > self.capacity
    }

    fn bytes(&self) -> u64 {
        (self.blocks.len() * std::mem::size_of::<Block>()) as u64
    }

    /// Forgets every key, keeping its size.
    fn clear(&mut self) {
        self.blocks.fill(Block::default());
        self.added = 0;
    }
}

/// The largest power of two at most `n` (1 for 0).
fn prev_power_of_two(n: u64) -> u64 {
    if n <= 1 {
        1
    } else {
        1 << (63 - n.leading_zeros())
    }
}

/// Reads every key (or element) of the file at `path` into a new filter of at most
/// `max_bytes` (on a thread of its own); `None` when the file holds too many for that (fewer
/// than [`MIN_BITS_PER_KEY`] bits each).
fn build(path: &str, of: Rows, max_bytes: u64) -> Result<Option<Bloom>, String> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| e.to_string())?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| e.to_string())?;
    // One pass over the key index reads each page once: a page cache would only add its
    // 2 MB default (and the allocator's pages for it) to the server's memory while it runs.
    conn.execute_batch("PRAGMA cache_size = -128")
        .map_err(|e| e.to_string())?;
    let keys: i64 = conn
        .query_row(of.count_sql(), [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    let keys = keys.max(0) as u64;
    // Room to grow to twice the keys there are before a rebuild.
    if Bloom::size(keys * 2, max_bytes).1 < keys.saturating_mul(MIN_BITS_PER_KEY) {
        return Ok(None);
    }
    let mut bloom = Bloom::with_capacity(keys * 2, max_bytes);
    let mut stmt = conn.prepare(of.rows_sql()).map_err(|e| e.to_string())?;
    let mut rows = stmt.query([]).map_err(|e| e.to_string())?;
    while let Some(r) = rows.next().map_err(|e| e.to_string())? {
        let owner: i64 = r.get(0).map_err(|e| e.to_string())?;
        let name = r.get_ref(1).map_err(|e| e.to_string())?;
        let name = name.as_blob().map_err(|e| e.to_string())?;
        bloom.insert(of.hash(owner, name));
    }
    Ok(Some(bloom))
}

enum State {
    /// No filter: an in-memory store, or a build failed (lookups go to SQLite).
    Off,
    /// No filter: the file holds too many rows for the cap ([`build`]'s `None`).
    OverBudget,
    /// A thread reads the keys; `added` are the hashes written since it started. Without a
    /// thread yet, the hashes are collected until the file's committed state includes every
    /// key written before the collection began ([`KeyFilter::collect`]).
    Building {
        thread: Option<JoinHandle<Result<Option<Bloom>, String>>>,
        added: Vec<u64>,
        /// The filter in use meanwhile, when this is a rebuild.
        previous: Option<Bloom>,
    },
    Ready(Bloom),
}

/// The key (or element) filter of one store and its counters.
pub(super) struct KeyFilter {
    of: Rows,
    state: State,
    /// The most a build may take (bytes).
    max_bytes: u64,
    /// Lookups it answered without SQLite.
    pub(super) skipped: u64,
    /// Builds finished.
    pub(super) builds: u64,
}

impl KeyFilter {
    /// A filter of `of` that is never consulted until started.
    pub(super) fn off(of: Rows) -> KeyFilter {
        KeyFilter {
            of,
            state: State::Off,
            max_bytes: u64::MAX,
            skipped: 0,
            builds: 0,
        }
    }

    /// Caps the memory of the builds from now on; returns whether the filter wants a rebuild
    /// to follow (it is larger than the new cap, or was made sparser, or not built, under a
    /// smaller one).
    pub(super) fn set_max_bytes(&mut self, bytes: u64) -> bool {
        let before = std::mem::replace(&mut self.max_bytes, bytes);
        match &self.state {
            State::OverBudget if bytes > before => {
                self.state = State::Off; // built again by the rebuild
                true
            }
            State::OverBudget => false,
            State::Ready(b) => {
                let cap = Bloom::size(b.capacity, bytes).1 / 8;
                b.bytes() > cap || (b.probes < PROBES && bytes > before)
            }
            State::Off | State::Building { .. } => false,
        }
    }

    /// Starts building from the committed state of the file at `path`: every key written
    /// from now on must be given to [`Self::insert`].
    pub(super) fn start(&mut self, path: &str) {
        self.collect();
        self.spawn(path);
    }

    /// Begins a rebuild whose read of the file must wait for a commit in progress (a merge on
    /// the row writer's thread): from now on keys written are remembered for the new filter,
    /// and [`Self::spawn`], once that commit holds every key written before this call, starts
    /// the read. The filter in use goes on answering meanwhile. A filter over its budget is
    /// not rebuilt (its build would count the rows again to find them as many or more) until
    /// [`Self::set_max_bytes`] gives it more room or a FLUSHALL empties it.
    pub(super) fn collect(&mut self) {
        let previous = match std::mem::replace(&mut self.state, State::Off) {
            State::Ready(b) => Some(b),
            State::Building { previous, .. } => previous,
            State::OverBudget => {
                self.state = State::OverBudget;
                return;
            }
            State::Off => None,
        };
        self.state = State::Building {
            thread: None,
            added: Vec::new(),
            previous,
        };
    }

    /// Whether [`Self::collect`] began a rebuild whose read is not started yet.
    pub(super) fn collecting(&self) -> bool {
        matches!(self.state, State::Building { thread: None, .. })
    }

    /// Starts the read of a rebuild that [`Self::collect`] began.
    pub(super) fn spawn(&mut self, path: &str) {
        let State::Building { thread, .. } = &mut self.state else {
            return;
        };
        if thread.is_some() {
            return;
        }
        let (path, of, max_bytes) = (path.to_string(), self.of, self.max_bytes);
        match std::thread::Builder::new()
            .name(of.thread_name().into())
            .spawn(move || build(&path, of, max_bytes))
        {
            Ok(t) => *thread = Some(t),
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the key filter's build");
                self.abandon();
            }
        }
    }

    /// Gives up a rebuild [`Self::collect`] began whose read is not started (the commit it
    /// waited for failed): the filter in use stays, with the keys added meanwhile. Returns
    /// whether there was one.
    pub(super) fn abandon(&mut self) -> bool {
        if !self.collecting() {
            return false;
        }
        let State::Building { previous, .. } = std::mem::replace(&mut self.state, State::Off)
        else {
            unreachable!("collecting() checked it");
        };
        if let Some(b) = previous {
            self.state = State::Ready(b);
        }
        true
    }

    /// Takes a finished build into use; returns whether the filter wants a rebuild (it is
    /// overloaded), which the caller starts once the file's state is committed.
    pub(super) fn poll(&mut self) -> bool {
        if let State::Building { thread, .. } = &self.state {
            if !thread.as_ref().is_some_and(JoinHandle::is_finished) {
                return false;
            }
            let State::Building {
                thread: Some(thread),
                added,
                ..
            } = std::mem::replace(&mut self.state, State::Off)
            else {
                unreachable!("matched above");
            };
            match thread.join() {
                Ok(Ok(Some(mut bloom))) => {
                    for h in added {
                        bloom.insert(h);
                    }
                    self.builds += 1;
                    self.state = State::Ready(bloom);
                }
                Ok(Ok(None)) => {
                    tracing::info!(filter = ?self.of, max_bytes = self.max_bytes, "too many rows for the filter's memory cap; lookups use SQLite");
                    self.state = State::OverBudget;
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, filter = ?self.of, "building a filter failed; lookups use SQLite")
                }
                Err(_) => {
                    tracing::warn!(filter = ?self.of, "a filter's build panicked; lookups use SQLite")
                }
            }
        }
        matches!(&self.state, State::Ready(b) if b.overloaded())
    }

    /// Notes a key row written (inserted, replaced or renamed to).
    /// [`Self::insert`] for a key written to the store, which held it already when
    /// `existed`: a complete filter holds such a key (it has no false negatives), so only a
    /// build collecting the keys written meanwhile needs it again. (Hashing and setting the
    /// bits of every rewritten key cost the executor about 3% under random MSETs.)
    pub(super) fn insert_written(&mut self, db: DbIndex, key: &[u8], existed: bool) {
        if existed && matches!(self.state, State::Ready(_)) {
            return;
        }
        self.insert(db, key);
    }

    /// [`Self::insert_written`] for an element row.
    pub(super) fn insert_element_written(&mut self, cid: CollectionId, sub: &[u8], existed: bool) {
        if existed && matches!(self.state, State::Ready(_)) {
            return;
        }
        self.insert_element(cid, sub);
    }

    pub(super) fn insert(&mut self, db: DbIndex, key: &[u8]) {
        self.insert_hash(key_hash(db, key));
    }

    /// Notes an element row written (or copied).
    pub(super) fn insert_element(&mut self, cid: CollectionId, sub: &[u8]) {
        self.insert_hash(element_hash(cid, sub));
    }

    fn insert_hash(&mut self, h: u64) {
        match &mut self.state {
            State::Off | State::OverBudget => {}
            State::Building {
                added, previous, ..
            } => {
                added.push(h);
                if let Some(b) = previous {
                    b.insert(h);
                }
            }
            State::Ready(b) => b.insert(h),
        }
    }

    /// Whether the key may exist; `false` means certainly not (no lookup needed).
    pub(super) fn may_contain(&mut self, db: DbIndex, key: &[u8]) -> bool {
        self.may_contain_hash(key_hash(db, key))
    }

    /// Brings what [`Self::may_contain`] of the key will read into the CPU's cache, without
    /// waiting for it (see [`Store::prefetch_key`](super::Store::prefetch_key)).
    pub(super) fn prefetch(&self, db: DbIndex, key: &[u8]) {
        self.prefetch_hash(|| key_hash(db, key));
    }

    /// [`Self::prefetch`] of an element, for [`Self::may_contain_element`].
    pub(super) fn prefetch_element(&self, cid: CollectionId, sub: &[u8]) {
        self.prefetch_hash(|| element_hash(cid, sub));
    }

    /// Prefetches the block of the hash `hash` gives, if the filter answers at all.
    fn prefetch_hash(&self, hash: impl FnOnce() -> u64) {
        let bloom = match &self.state {
            State::Ready(b) => b,
            State::Building {
                previous: Some(b), ..
            } => b,
            _ => return,
        };
        bloom.prefetch(hash());
    }

    /// Whether the element may exist; `false` means certainly not.
    pub(super) fn may_contain_element(&mut self, cid: CollectionId, sub: &[u8]) -> bool {
        self.may_contain_hash(element_hash(cid, sub))
    }

    fn may_contain_hash(&mut self, h: u64) -> bool {
        let bloom = match &self.state {
            State::Ready(b) => b,
            State::Building {
                previous: Some(b), ..
            } => b,
            _ => return true,
        };
        let maybe = bloom.may_contain(h);
        if !maybe {
            self.skipped += 1;
        }
        maybe
    }

    /// Rows were written that it was not told of (a plugin's SQL over the store's tables): it
    /// answers nothing until a rebuild, which [`Self::collect`] begins as it does for an
    /// overloaded filter, reads the file.
    pub(super) fn distrust(&mut self) {
        if matches!(self.state, State::Off | State::OverBudget) {
            return; // never started (an in-memory store), its build failed, or none fits
        }
        self.state = State::Building {
            thread: None,
            added: Vec::new(),
            previous: None,
        };
    }

    /// Every key is gone (FLUSHALL): an empty filter of the same size answers for them.
    pub(super) fn clear(&mut self) {
        match &mut self.state {
            State::Ready(b) => b.clear(),
            // The build read keys that are gone now; its answer would only cost lookups.
            State::Building { .. } | State::Off => {}
            // Any filter fits the cap now.
            State::OverBudget => self.state = State::Ready(Bloom::with_capacity(0, self.max_bytes)),
        }
    }

    /// The filter's figures, for INFO.
    pub(super) fn stats(&self) -> KeyFilterStats {
        let (state, bytes) = match &self.state {
            State::Off => ("off", 0),
            State::OverBudget => ("over-budget", 0),
            State::Building { previous, .. } => {
                ("building", previous.as_ref().map_or(0, Bloom::bytes))
            }
            State::Ready(b) => ("ready", b.bytes()),
        };
        KeyFilterStats {
            state,
            bytes,
            skipped_lookups: self.skipped,
            builds: self.builds,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let mut b = Bloom::with_capacity(100_000, u64::MAX);
        for i in 0..100_000u32 {
            b.insert(key_hash(0, format!("key:{i}").as_bytes()));
        }
        for i in 0..100_000u32 {
            assert!(b.may_contain(key_hash(0, format!("key:{i}").as_bytes())));
        }
        let false_positives = (0..100_000u32)
            .filter(|i| b.may_contain(key_hash(0, format!("other:{i}").as_bytes())))
            .count();
        // Sized for at least a million keys, holding a tenth of that: well under 1%.
        assert!(false_positives < 1000, "{false_positives}");
        // Another database's key of the same name is another key.
        let in_db1 = (0..1000u32)
            .filter(|i| b.may_contain(key_hash(1, format!("key:{i}").as_bytes())))
            .count();
        assert!(in_db1 < 50, "{in_db1}");
    }

    #[test]
    fn a_rewritten_key_is_skipped_only_by_a_complete_filter() {
        let h = key_hash(0, b"k");
        let mut f = KeyFilter::off(Rows::Keys);
        f.collect();
        // A build collects every key written meanwhile, existing or not: it reads the file's
        // committed state, which may lack a key the open transaction holds.
        f.insert_written(0, b"k", true);
        let State::Building { added, .. } = &f.state else {
            panic!("not building");
        };
        assert_eq!(added, &vec![h]);
        f.state = State::Ready(Bloom::with_capacity(1000, u64::MAX));
        f.insert_written(0, b"new", false);
        assert!(f.may_contain(0, b"new"));
        f.insert_written(0, b"k", true);
        let State::Ready(b) = &f.state else {
            panic!("not ready");
        };
        assert!(
            !b.may_contain(h),
            "a complete filter has it already: no bits set again"
        );
    }

    /// A prefetch is a hint: in every state it reads nothing it should not, and changes no
    /// answer.
    #[test]
    fn a_prefetch_in_any_state_changes_no_answer() {
        let mut f = KeyFilter::off(Rows::Keys);
        f.prefetch(0, b"k");
        assert!(f.may_contain(0, b"k"), "off: every key may exist");
        f.collect();
        f.prefetch(0, b"k");
        assert!(f.may_contain(0, b"k"), "building: every key may exist");
        f.state = State::Ready(Bloom::with_capacity(1000, u64::MAX));
        f.insert_written(3, b"in", false);
        for i in 0..1000u32 {
            f.prefetch(3, &i.to_le_bytes());
        }
        f.prefetch(3, b"in");
        f.prefetch_element(3, b"in");
        assert!(f.may_contain(3, b"in"));
        assert!(!f.may_contain(4, b"in"), "another database's key");
    }

    #[test]
    fn rewriting_the_same_keys_does_not_overload_it() {
        let mut b = Bloom::with_capacity(1000, u64::MAX);
        for _ in 0..(MIN_CAPACITY / 1000 * 3) {
            for i in 0..1000u32 {
                b.insert(key_hash(0, format!("key:{i}").as_bytes()));
            }
        }
        // Three times its capacity in writes, of a thousand keys: no rebuild wanted.
        assert!(b.added <= 1000, "{}", b.added);
        assert!(!b.overloaded());
        for i in 0..MIN_CAPACITY as u32 * 11 / 10 {
            b.insert(key_hash(0, format!("new:{i}").as_bytes()));
        }
        // More new keys than it was sized for: now it is full.
        assert!(b.overloaded(), "{}", b.added);
    }

    #[test]
    fn full_at_its_sparsest_it_stays_near_one_percent_false_positives() {
        // Ten bits a key, the least a filter gets (its bits are a power of two).
        let capacity = (1u64 << 24) / BITS_PER_KEY;
        let mut b = Bloom::with_capacity(capacity, u64::MAX);
        assert_eq!(b.bytes() * 8, 1 << 24);
        for i in 0..capacity {
            b.insert(key_hash(0, &i.to_le_bytes()));
        }
        let tries = 200_000u64;
        let false_positives = (0..tries)
            .filter(|i| b.may_contain(key_hash(0, format!("other:{i}").as_bytes())))
            .count();
        assert!(false_positives < 3_000, "{false_positives} of {tries}");
    }

    #[test]
    fn a_capped_filter_is_sparser_with_fewer_probes_and_still_useful() {
        // 2^24 bits for 4 million keys: 4 bits a key at capacity, filled to capacity.
        let keys = 1u64 << 22;
        let mut b = Bloom::with_capacity(keys, 1 << 21);
        assert_eq!(b.bytes(), 1 << 21);
        assert_eq!(b.probes, 3, "ln 2 x 4 bits a key, rounded");
        for i in 0..keys {
            b.insert(key_hash(0, &i.to_le_bytes()));
        }
        for i in (0..keys).step_by(97) {
            assert!(b.may_contain(key_hash(0, &i.to_le_bytes())));
        }
        let tries = 100_000u64;
        let false_positives = (0..tries)
            .filter(|i| b.may_contain(key_hash(0, format!("other:{i}").as_bytes())))
            .count();
        // About 15% at 4 bits a key (seven probes would give 26%).
        assert!(false_positives < 20_000, "{false_positives} of {tries}");
        // Uncapped it keeps seven probes and at least 10 bits a key.
        let b = Bloom::with_capacity(keys, u64::MAX);
        assert_eq!(b.probes, PROBES);
        assert!(b.bytes() * 8 >= keys * BITS_PER_KEY);
    }

    #[test]
    fn a_cap_change_asks_for_a_rebuild_only_when_the_filter_would_change() {
        let mut f = KeyFilter::off(Rows::Keys);
        f.state = State::Ready(Bloom::with_capacity(1000, u64::MAX));
        // Its 2 MB fit a 4 MB cap, and it is not sparse.
        assert!(!f.set_max_bytes(4 << 20));
        assert!(f.set_max_bytes(1 << 20), "larger than the cap");
        f.state = State::Ready(Bloom::with_capacity(1000, 1 << 20));
        assert!(!f.set_max_bytes(1 << 20));
        assert!(f.set_max_bytes(8 << 20), "made sparse by a smaller cap");
        f.state = State::OverBudget;
        f.collect();
        assert!(
            matches!(f.state, State::OverBudget),
            "not rebuilt with the same room"
        );
        assert!(!f.set_max_bytes(4 << 20), "smaller");
        assert!(f.set_max_bytes(16 << 20), "more room");
        f.collect();
        assert!(f.collecting(), "rebuilt with more room");
        f.state = State::Off;
        assert!(
            !f.set_max_bytes(32 << 20),
            "never built: nothing to rebuild"
        );
    }
}
