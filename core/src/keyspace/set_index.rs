//! The member index of a large set: every member in memory, in an array a random pick
//! indexes at once, so that SPOP and SRANDMEMBER read no row.
//!
//! A pick from the rows (`keyspace/pick.rs`) takes two SQL reads on average, each stepping
//! over a bucket's rows: on a set of 95,000 members SPOP ran at a quarter of redis-server's
//! rate. The index answers a pick with one array access, exactly uniform; the pop's deletion
//! is then an ordinary queued row write, as SREM's.
//!
//! It is built by SPOP and SRANDMEMBER (the cache accounts its bytes; the key is not changed)
//! a chunk of rows at a time, in position order, so that no command holds the executor for
//! more than a chunk's read; until it is complete, picks go to the rows. Every change of the set goes through `Set`, which
//! tells the index of each member added or removed at a position the index has reached. The
//! set's length checks it at each pick: an index that disagrees is dropped and rebuilt.
//! Its memory counts in the set's cache cost, up to a cap (a sixteenth of the cache, see
//! `Encodings::set_index_max_bytes`); a set whose index would pass it keeps picking from the
//! rows until it has shrunk to half the length it had when refused, or the cap has grown.
//! Slots are 32-bit: a set of more than 2^32 members is never indexed.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use bytes::Bytes;
use hashbrown::HashTable;

use crate::storage::{position, CollectionId, Store, StoreError};

/// Rows read into the index per step of its build (about a millisecond of the executor's).
pub(super) const BUILD_CHUNK: usize = 2048;

/// Memory of one member beyond its bytes: its slot in the array, its slot in the hash table
/// at 7/8 load with its tag byte, and the allocator's rounding on average.
const MEMBER_OVERHEAD: usize = SLOT + 6 + 8;
const SLOT: usize = std::mem::size_of::<Member>();

/// Indexes alive in the process, and the bytes of their members with their overhead (INFO's
/// `respite_set_indexes`, `respite_set_index_bytes`).
static INDEXES: AtomicU64 = AtomicU64::new(0);
static INDEX_BYTES: AtomicU64 = AtomicU64::new(0);

/// The member indexes alive, and the bytes they hold.
pub fn index_memory() -> (u64, u64) {
    (INDEXES.load(Relaxed), INDEX_BYTES.load(Relaxed))
}

/// A member and its position: a removal moves the last member into the hole, and finds that
/// member's slot in the hash table by its position without reading its bytes.
struct Member {
    pos: u64,
    bytes: Box<[u8]>,
}

/// Every member of a large set (or, while it is built, those below a position).
pub(super) struct SetIndex {
    members: Vec<Member>,
    /// Indexes into `members`, hashed by the member's position.
    slots: HashTable<u32>,
    /// Positions below this are indexed; `None` once every row has been read.
    reached: Option<u64>,
    bytes: usize,
}

/// The hash table's hash of a position: positions are 62 bits, and the table takes its tag
/// from the top bits.
fn spread(pos: u64) -> u64 {
    pos.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

fn pos_of(member: &[u8]) -> u64 {
    position(member) as u64
}

impl SetIndex {
    /// An index that has read no row yet.
    pub(super) fn new() -> SetIndex {
        INDEXES.fetch_add(1, Relaxed);
        SetIndex {
            members: Vec::new(),
            slots: HashTable::new(),
            reached: Some(0),
            bytes: 0,
        }
    }

    /// Whether every member is in.
    pub(super) fn complete(&self) -> bool {
        self.reached.is_none()
    }

    /// Members in the index.
    pub(super) fn len(&self) -> u64 {
        self.members.len() as u64
    }

    /// Memory the index takes, as the cache counts it.
    pub(super) fn size(&self) -> usize {
        self.bytes
            + self.members.capacity().saturating_sub(self.members.len()) * SLOT
            + self.slots.capacity().saturating_sub(self.slots.len()) * 5
    }

    /// Bytes of the members with their overhead, without the arrays' spare room.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Makes room for `total` members at once (the set's length, once the first chunk
    /// says the index fits its cap), so that the arrays do not double past it.
    pub(super) fn reserve(&mut self, total: u64) {
        let more = usize::try_from(total)
            .unwrap_or(usize::MAX)
            .saturating_sub(self.members.len());
        self.members.reserve_exact(more);
        let members = &self.members;
        self.slots
            .reserve(more, |&i| spread(members[i as usize].pos));
    }

    /// Whether a change of `member` must be told to the index (it is at a position the
    /// build has reached).
    fn covers(&self, pos: u64) -> bool {
        self.reached.is_none_or(|r| pos < r)
    }

    /// Reads the next chunk of rows of collection `cid` in.
    pub(super) fn advance(
        &mut self,
        store: &mut dyn Store,
        cid: CollectionId,
        chunk: usize,
    ) -> Result<(), StoreError> {
        let Some(from) = self.reached else {
            return Ok(());
        };
        let (elements, next) = store.scan_elements(cid, from, chunk)?;
        for e in elements {
            // Members added past the reach were not told to the index: the scan reads them.
            self.insert(&e.sub);
        }
        self.reached = (next != 0).then_some(next);
        Ok(())
    }

    /// Tells the index of a member added to the set; returns false if it was there already
    /// (the index no longer matches the set).
    pub(super) fn added(&mut self, member: &[u8]) -> bool {
        let pos = pos_of(member);
        !self.covers(pos) || self.insert_at(pos, member)
    }

    /// Tells the index of a member removed from the set; returns false if it was missing.
    pub(super) fn removed(&mut self, member: &[u8]) -> bool {
        let pos = pos_of(member);
        if !self.covers(pos) {
            return true;
        }
        let members = &self.members;
        let Ok(entry) = self
            .slots
            .find_entry(spread(pos), |&i| &*members[i as usize].bytes == member)
        else {
            return false;
        };
        let (at, _) = entry.remove();
        let at = at as usize;
        let gone = self.members.swap_remove(at);
        self.bytes -= gone.bytes.len() + MEMBER_OVERHEAD;
        INDEX_BYTES.fetch_sub((gone.bytes.len() + MEMBER_OVERHEAD) as u64, Relaxed);
        if let Some(moved) = self.members.get(at) {
            // The last member took the removed one's place: its slot follows it.
            let last = self.members.len() as u32;
            let slot = self
                .slots
                .find_mut(spread(moved.pos), |&i| i == last)
                .expect("every member has a slot");
            *slot = at as u32;
        }
        true
    }

    fn insert(&mut self, member: &[u8]) -> bool {
        self.insert_at(pos_of(member), member)
    }

    fn insert_at(&mut self, pos: u64, member: &[u8]) -> bool {
        let members = &self.members;
        let hash = spread(pos);
        if self
            .slots
            .find(hash, |&i| &*members[i as usize].bytes == member)
            .is_some()
        {
            return false;
        }
        let at = self.members.len() as u32;
        self.members.push(Member {
            pos,
            bytes: member.into(),
        });
        let members = &self.members;
        self.slots
            .insert_unique(hash, at, |&i| spread(members[i as usize].pos));
        self.bytes += member.len() + MEMBER_OVERHEAD;
        INDEX_BYTES.fetch_add((member.len() + MEMBER_OVERHEAD) as u64, Relaxed);
        true
    }

    /// Every member, in the index's order.
    pub(super) fn all(&self) -> Vec<Bytes> {
        self.members
            .iter()
            .map(|m| Bytes::copy_from_slice(&m.bytes))
            .collect()
    }

    /// A member chosen by `seed`, uniformly (`None` when empty).
    pub(super) fn pick(&self, seed: u64) -> Option<Bytes> {
        let n = self.members.len() as u64;
        (n > 0).then(|| Bytes::copy_from_slice(&self.members[(seed % n) as usize].bytes))
    }
}

/// Members from which an index is freed on a thread of its own.
const DROP_APART_MIN: usize = 10_000;

impl Drop for SetIndex {
    fn drop(&mut self) {
        INDEXES.fetch_sub(1, Relaxed);
        INDEX_BYTES.fetch_sub(self.bytes as u64, Relaxed);
        if self.members.len() >= DROP_APART_MIN {
            // A DEL (or an eviction) of a set with an index of 200,000 members would free as
            // many allocations on the executor, milliseconds with every client waiting.
            let members = std::mem::take(&mut self.members);
            let slots = std::mem::take(&mut self.slots);
            let spawned = std::thread::Builder::new()
                .name("respite-index-free".into())
                .spawn(move || drop((members, slots)));
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "cannot free a set's member index on a thread");
            }
        }
    }
}

impl std::fmt::Debug for SetIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetIndex")
            .field("members", &self.members.len())
            .field("reached", &self.reached)
            .field("bytes", &self.bytes)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Synchronous;
    use crate::storage::{Element, SqliteStore};
    use std::collections::HashSet;

    fn put(store: &mut SqliteStore, cid: CollectionId, m: &str) {
        let e = Element {
            sub: Bytes::copy_from_slice(m.as_bytes()),
            value: Bytes::new(),
            expire_at: None,
        };
        store.put_element(cid, &e).unwrap();
    }

    fn contents(ix: &SetIndex) -> HashSet<Vec<u8>> {
        ix.members.iter().map(|m| m.bytes.to_vec()).collect()
    }

    #[test]
    fn a_build_in_chunks_meets_changes_on_both_sides_of_its_reach() {
        let mut store = SqliteStore::open(":memory:", Synchronous::Normal).unwrap();
        let cid = 9;
        let mut model: HashSet<Vec<u8>> = HashSet::new();
        for i in 0..1000 {
            let m = format!("m{i}");
            put(&mut store, cid, &m);
            model.insert(m.into_bytes());
        }
        let mut ix = SetIndex::new();
        let mut step = 0;
        while !ix.complete() {
            ix.advance(&mut store, cid, 64).unwrap();
            // Between steps the set changes: an add and a removal, wherever they fall.
            let add = format!("new{step}");
            put(&mut store, cid, &add);
            assert!(ix.added(add.as_bytes()));
            model.insert(add.into_bytes());
            let gone = format!("m{}", step * 7);
            store.delete_element(cid, gone.as_bytes()).unwrap();
            assert!(ix.removed(gone.as_bytes()));
            model.remove(gone.as_bytes());
            step += 1;
        }
        assert!(step > 10, "built in {step} steps");
        assert_eq!(contents(&ix), model);
        assert_eq!(ix.len(), model.len() as u64);
        // Once complete, every change is told, and a contradiction is seen.
        assert!(ix.added(b"late"));
        assert!(!ix.added(b"late"), "added twice");
        assert!(ix.removed(b"late"));
        assert!(!ix.removed(b"late"), "removed twice");
        assert_eq!(contents(&ix), model);
    }

    #[test]
    fn removals_keep_every_slot_pointing_at_its_member() {
        let mut ix = SetIndex::new();
        ix.reached = None;
        let n = 500;
        for i in 0..n {
            assert!(ix.added(format!("x{i}").as_bytes()));
        }
        let full = ix.size();
        for i in (0..n).step_by(2) {
            assert!(ix.removed(format!("x{i}").as_bytes()));
        }
        for i in 0..n {
            let there = ix
                .slots
                .find(spread(pos_of(format!("x{i}").as_bytes())), |&j| {
                    &*ix.members[j as usize].bytes == format!("x{i}").as_bytes()
                })
                .is_some();
            assert_eq!(there, i % 2 == 1, "x{i}");
        }
        assert_eq!(ix.len(), n / 2);
        assert!(ix.size() < full, "{} < {full}", ix.size());
    }

    #[test]
    fn picks_are_uniform() {
        let mut ix = SetIndex::new();
        ix.reached = None;
        let n = 100u64;
        for i in 0..n {
            ix.added(format!("p{i}").as_bytes());
        }
        let mut counts = std::collections::HashMap::new();
        let draws = 20_000u64;
        let mut seed = 12345u64;
        for _ in 0..draws {
            let seed = crate::keyspace::pick::next_seed(&mut seed) >> 11;
            *counts.entry(ix.pick(seed).unwrap()).or_insert(0u64) += 1;
        }
        assert_eq!(counts.len() as u64, n);
        let chi = crate::keyspace::pick::chi_square(counts.values(), draws, n);
        // 99 degrees of freedom: about 99 for a uniform pick.
        assert!(chi < 160.0, "chi-square {chi}");
    }
}
