//! Element rows written off the executor's thread.
//!
//! A write to one element of a large hash, set or sorted set (HSET, SADD, ZADD, HDEL, SREM,
//! ZREM...) changed its row (and a sorted set's score index, two more rows) with statements
//! on the executor's thread: three B-tree descents and page changes per ZADD, the bulk of the
//! executor's time under writes to a large collection. A push or pop at an end of a large
//! list (LPUSH, RPUSH, LPOP, RPOP, LSET, a short LTRIM) wrote or deleted its item's row the
//! same way; its entry here is keyed by the item's position, with no member
//! ([`Pending::Item`]). Like a key's row, an element's row
//! need not be written before the reply leaves: the batch's record in the redo journal holds
//! the write. So the store queues it here ([`ElementRows`], beside the key rows in the row
//! writer's queue, [`super::rows`]), and the writer's thread applies it:
//!
//! - coalesced: an element written again before its row was applied is applied once, with
//!   its last row (a member re-scored twice between merges changes its index once);
//! - in the elements table's order (collection, position, member): each page is touched once
//!   per chunk;
//! - before any key row queued after it, and before any statement of the executor that reads
//!   or changes more than one element row of its collection (a range, a scan, a pick, an
//!   expiry sweep, a copy, a drop, a reclaim, plugin SQL over these tables): the key table's
//!   triggers look for a collection's rows when its key goes, and those statements read the
//!   table. The store applies the collection's queued rows on its thread first
//!   ([`super::rows::RowWriter::settle_elements`]).
//!
//! Reads of one element find its newest row in the element cache, which every queued write
//! updates, then here ([`ElementRows::get`]), and only then in the table.
//!
//! The executor does not look the element up in the queue's map when it queues a row: with
//! 100,000 members queued, that insert (a descent of the map, a key compared at each node
//! through a pointer) was a fifth of the executor's time under ZADD. It appends the row to a
//! list ([`ElementRows::push`]), and the writer's thread moves the list into the map
//! ([`ElementRows::absorb_some`]) when it wakes, as it does the key rows; anything on the
//! executor's side that reads the map (a read of an element the cache lacks, a range, a
//! settle) first moves the rest.
//!
//! Only rows whose values stay in the row are queued (a collection that keeps values apart,
//! see [`super::values`], writes its rows on the executor's thread, after its queued rows).
//! Every statement applying a queued row is idempotent (an update, an upsert, a delete), so
//! a row that failed halfway is applied again whole.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use rusqlite::{params, CachedStatement, Connection};

use super::queued_scores::{QueuedScores, INDEX_MIN};
use super::{CollectionId, ShortBytes};

/// What a queued row costs beyond its member and value: the map's node and the entry's
/// fields.
const ENTRY_OVERHEAD: usize = 96;

/// An element's new state, and what the table holds of it until the entry is applied.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Pending {
    /// A hash field's or set member's row: its value and expiry (`None`: deleted), and
    /// whether the table has a row for it (`filed`).
    Row {
        filed: bool,
        row: Option<(Bytes, Option<i64>)>,
    },
    /// A sorted-set member: the score the table holds for it (`filed`, whose place in the
    /// score index goes), and its score once applied (`None`: deleted).
    Member {
        filed: Option<f64>,
        score: Option<f64>,
    },
    /// A large list's item (keyed by its position, with no member): its value, or `None`
    /// when popped or trimmed away. Applied as an upsert or a delete whatever the table
    /// holds. `filed`: whether the table may hold the position's row, which a push to a
    /// position past the list's ends says it does not (once the rows queued before are
    /// applied: the table holds rows at the list's positions only); an item pushed and
    /// popped again before it was applied is then void, and never reaches the table.
    Item { filed: bool, value: Option<Bytes> },
}

impl Pending {
    /// The element's row as reads see it: its value and expiry, or `None` when deleted.
    pub(super) fn row(&self) -> Option<(Bytes, Option<i64>)> {
        match self {
            Pending::Row { row, .. } => row.clone(),
            Pending::Member { score, .. } => {
                score.map(|s| (Bytes::copy_from_slice(&s.to_le_bytes()), None))
            }
            Pending::Item { value, .. } => value.clone().map(|v| (v, None)),
        }
    }

    /// This entry's target state, over what the table holds of an older one (`earlier`,
    /// replaced by this one before it was applied): the table still has what that one
    /// found.
    fn over(self, earlier: &Pending) -> Pending {
        match (self, earlier) {
            (Pending::Row { row, .. }, Pending::Row { filed, .. }) => {
                Pending::Row { filed: *filed, row }
            }
            (Pending::Member { score, .. }, Pending::Member { filed, .. }) => Pending::Member {
                filed: *filed,
                score,
            },
            (Pending::Item { value, .. }, Pending::Item { filed, .. }) => Pending::Item {
                filed: *filed,
                value,
            },
            // (A collection is of one type: a mix cannot happen.)
            (newer, _) => newer,
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Pending::Row { row, .. } => row.as_ref().map_or(0, |(v, _)| v.len()),
            Pending::Item { value, .. } => value.as_ref().map_or(0, Bytes::len),
            Pending::Member { .. } => 0,
        }
    }

    /// Whether applying it changes nothing (a member whose score went back to the table's).
    /// Whether a sorted-set member's score, in the table or once applied, passes `within`
    /// (a hash's or set's row: always).
    pub(super) fn scored(&self, within: impl Fn(f64) -> bool) -> bool {
        match self {
            Pending::Row { .. } | Pending::Item { .. } => true,
            Pending::Member { filed, score } => {
                filed.is_some_and(&within) || score.is_some_and(&within)
            }
        }
    }

    /// Whether applying it adds a row the table does not have.
    pub(super) fn adds_row(&self) -> bool {
        match self {
            Pending::Row { filed, row } => !filed && row.is_some(),
            Pending::Member { filed, score } => filed.is_none() && score.is_some(),
            // (Whether the table has the position's row is not known: counted as added.)
            Pending::Item { value, .. } => value.is_some(),
        }
    }

    fn is_void(&self) -> bool {
        match self {
            Pending::Row { filed, row } => !filed && row.is_none(),
            Pending::Member { filed, score } => filed == score,
            Pending::Item { filed, value } => !filed && value.is_none(),
        }
    }
}

/// The queue's key for an element: collection, position and member, ordered as the
/// elements table orders its rows. Compared field by field, in the map's nodes: the
/// position (a hash of the member) decides nearly every comparison without the member's
/// bytes, and a short member lies in the key itself. (Encoded in one buffer, each
/// comparison was a load from memory at every node the map's descent passed: with 100,000
/// members queued, a fifth of the process under ZADD.)
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct ElementKey {
    cid: CollectionId,
    h: i64,
    sub: ShortBytes,
}

/// The queue's key for element `sub` of `cid` at position `h`.
pub(super) fn element_key(cid: CollectionId, h: i64, sub: &[u8]) -> ElementKey {
    ElementKey {
        cid,
        h,
        sub: ShortBytes::copy_from_slice(sub),
    }
}

/// The score a sorted-set member's entry leaves it with (`None`: deleted, or no entry).
fn newest_score(pending: Option<&Pending>) -> Option<f64> {
    match pending {
        Some(Pending::Member { score, .. }) => *score,
        _ => None,
    }
}

/// The collection, position and member of a key.
fn decode(key: &ElementKey) -> (CollectionId, i64, &[u8]) {
    (key.cid, key.h, &key.sub)
}

/// The first key of collection `cid`, and the first after it.
fn collection_bounds(cid: CollectionId) -> (ElementKey, Option<ElementKey>) {
    let first = |cid| element_key(cid, i64::MIN, &[]);
    (first(cid), cid.checked_add(1).map(first))
}

type Map = BTreeMap<ElementKey, Pending>;

/// The entries of collection `cid` in `map`.
fn of_collection(
    map: &Map,
    cid: CollectionId,
) -> std::collections::btree_map::Range<'_, ElementKey, Pending> {
    let (start, end) = collection_bounds(cid);
    match end {
        Some(end) => map.range(start..end),
        None => map.range(start..),
    }
}

/// The queued element rows: the newest, and those a requested merge commits (moved out of
/// `latest` when it was asked for, as the key rows are).
pub(super) struct ElementRows {
    /// The newest entry of each element, as of the entries moved from `incoming` so far.
    latest: Map,
    /// Entries queued that have not joined `latest` yet, oldest first (see the module's
    /// doc): every read of `latest` moves them first (but see `item_spans`).
    incoming: VecDeque<(ElementKey, Pending)>,
    /// Where the list items waiting in `incoming` lie, per list (`None` past
    /// [`ITEM_SPANS`] lists: anywhere): a read of a list's items elsewhere (a pop at the head
    /// while the pops before it wait to be moved, their deletions below it) reads the map
    /// without moving `incoming` into it on the executor's thread first.
    item_spans: Option<Vec<(CollectionId, i64, i64)>>,
    frozen: Map,
    /// The queued members of one large sorted set by score, once a read from an end needed
    /// them ([`Self::first_members`]): every change of that set's entries below updates it.
    scores: QueuedScores,
    /// Bytes the queued entries take (the index's aside).
    bytes: usize,
    /// Writes that replaced a queued entry of the same element (applied once for both).
    pub(super) coalesced: u64,
    /// Entries applied.
    pub(super) applied: u64,
}

impl Default for ElementRows {
    fn default() -> Self {
        ElementRows {
            latest: Map::new(),
            incoming: VecDeque::new(),
            item_spans: Some(Vec::new()),
            frozen: Map::new(),
            scores: QueuedScores::default(),
            bytes: 0,
            coalesced: 0,
            applied: 0,
        }
    }
}

/// Lists whose waiting items [`ElementRows`] keeps the positions of.
const ITEM_SPANS: usize = 8;

fn entry_bytes(key: &ElementKey, pending: &Pending) -> usize {
    16 + key.sub.len() + pending.bytes() + ENTRY_OVERHEAD
}

impl ElementRows {
    /// Queues an element's new state; `pending`'s `filed` says what the table will hold of
    /// it once the entries queued before are applied (its state as the store's reads see
    /// it). A queued entry of the same element keeps what the table holds now. The entry
    /// waits in `incoming` until it is moved into the map ([`Self::absorb_some`]); its bytes
    /// count from now (twice, with an entry of the same element, until moved).
    pub(super) fn push(&mut self, key: ElementKey, pending: Pending) {
        self.bytes += entry_bytes(&key, &pending);
        if let (Pending::Item { .. }, Some(spans)) = (&pending, &mut self.item_spans) {
            let (cid, h) = (key.cid, key.h);
            match spans.iter().position(|s| s.0 == cid) {
                Some(i) => spans[i] = (cid, spans[i].1.min(h), spans[i].2.max(h)),
                None if spans.len() < ITEM_SPANS => spans.push((cid, h, h)),
                None => self.item_spans = None,
            }
        }
        self.incoming.push_back((key, pending));
    }

    /// Moves up to `n` entries waiting in `incoming` into the map, oldest first, each over a
    /// queued entry of the same element; whether any are left.
    pub(super) fn absorb_some(&mut self, n: usize) -> bool {
        for _ in 0..n.min(self.incoming.len()) {
            let Some((key, pending)) = self.incoming.pop_front() else {
                break;
            };
            self.enter(key, pending);
        }
        if self.incoming.is_empty() {
            self.item_spans = Some(Vec::new());
        }
        !self.incoming.is_empty()
    }

    /// Moves every entry waiting in `incoming` into the map.
    pub(super) fn absorb(&mut self) {
        if !self.incoming.is_empty() {
            self.absorb_some(usize::MAX);
        }
    }

    /// Entries waiting to join the map.
    pub(super) fn incoming(&self) -> usize {
        self.incoming.len()
    }

    /// Puts an entry (counted in `bytes` already) in the map, over a queued entry of the same
    /// element, which keeps what the table holds.
    fn enter(&mut self, key: ElementKey, pending: Pending) {
        // One descent of the map, found or not (a lookup then an insert took two: absorbing
        // was 14% of the server's time under ZADDs of random members).
        let indexed = self.scores.covers(key.cid);
        match self.latest.entry(key) {
            std::collections::btree_map::Entry::Occupied(mut o) => {
                self.bytes -= entry_bytes(o.key(), o.get());
                self.coalesced += 1;
                if indexed {
                    let (old, new) = (newest_score(Some(o.get())), newest_score(Some(&pending)));
                    self.scores.replace(o.key().cid, &o.key().sub, old, new);
                }
                let queued = o.get_mut();
                *queued = pending.over(queued);
            }
            std::collections::btree_map::Entry::Vacant(v) => {
                if indexed {
                    // The newest entry so far is a requested merge's, if any.
                    let old = newest_score(self.frozen.get(v.key()));
                    let new = newest_score(Some(&pending));
                    self.scores.replace(v.key().cid, &v.key().sub, old, new);
                }
                v.insert(pending);
            }
        }
    }

    /// Tells the score index that `key`'s entry `gone` left `map` (applied): the member's
    /// newest entry is now the other map's, if it has one.
    fn left(&mut self, key: &ElementKey, gone: &Pending, merging: bool) {
        if !self.scores.covers(key.cid) {
            return;
        }
        let new = if merging {
            // A newer entry, if any, keeps the member's place in the index.
            match self.latest.get(key) {
                Some(_) => return,
                None => None,
            }
        } else {
            newest_score(self.frozen.get(key))
        };
        self.scores
            .replace(key.cid, &key.sub, newest_score(Some(gone)), new);
    }

    /// The newest queued state of an element.
    pub(super) fn get(&mut self, key: &ElementKey) -> Option<&Pending> {
        self.absorb();
        self.latest.get(key).or_else(|| self.frozen.get(key))
    }

    /// Whether rows of `cid` (of any collection, with `None`) are queued.
    pub(super) fn holds(&mut self, cid: Option<CollectionId>) -> bool {
        let Some(cid) = cid else {
            return !self.is_empty() || !self.frozen.is_empty();
        };
        self.absorb();
        let has = |m: &Map| of_collection(m, cid).next().is_some();
        has(&self.latest) || has(&self.frozen)
    }

    /// The scores queued sorted-set members of `cid` will have once applied.
    pub(super) fn scores(&mut self, cid: CollectionId) -> Vec<f64> {
        self.absorb();
        of_collection(&self.latest, cid)
            .filter_map(|(_, pending)| match pending {
                Pending::Member { score, .. } => *score,
                Pending::Row { .. } | Pending::Item { .. } => None,
            })
            .collect()
    }

    /// The first `n` queued members of sorted set `cid` from an end (the highest with
    /// `rev`), by their newest scores (ties: by member), in no particular order. From the
    /// set's score index when it has one (see [`super::queued_scores`]); else two passes
    /// over the set's queued entries, the first over their scores alone, nothing copied but
    /// the members returned, which build the index instead when the set has at least
    /// [`INDEX_MIN`] queued entries (members or deletions).
    pub(super) fn first_members(
        &mut self,
        cid: CollectionId,
        n: usize,
        rev: bool,
    ) -> Vec<(Bytes, f64)> {
        self.absorb();
        if let Some(first) = self.scores.first(cid, n, rev) {
            return first;
        }
        let order = |a: f64, b: f64| {
            if rev {
                b.total_cmp(&a)
            } else {
                a.total_cmp(&b)
            }
        };
        let (latest, frozen) = (&self.latest, &self.frozen);
        // The newest entry of each member: a requested merge's, unless one follows it.
        let newest = of_collection(latest, cid)
            .chain(of_collection(frozen, cid).filter(|(key, _)| !latest.contains_key(key)));
        fn scored<'a>(
            (key, pending): (&'a ElementKey, &'a Pending),
        ) -> Option<(&'a ElementKey, f64)> {
            match pending {
                Pending::Member {
                    score: Some(score), ..
                } => Some((key, *score)),
                _ => None,
            }
        }
        if n == 0 {
            return Vec::new();
        }
        let mut entries = 0;
        let mut scores: Vec<f64> = newest
            .clone()
            .inspect(|_| entries += 1)
            .filter_map(scored)
            .map(|(_, s)| s)
            .collect();
        // The pass costs what the set's entries number, deletions too: after ZADDs are
        // merged, the pops' own deletions queue up, and every refill passed over them all
        // (90,000 pops spent about a tenth of the executor there).
        if entries >= INDEX_MIN {
            let members = newest.filter_map(scored).map(|(key, s)| (&key.sub, s));
            self.scores.build(cid, members);
            return self.scores.first(cid, n, rev).expect("just built");
        }
        if scores.is_empty() {
            return Vec::new();
        }
        let last = if scores.len() > n {
            *scores.select_nth_unstable_by(n - 1, |a, b| order(*a, *b)).1
        } else {
            *scores
                .iter()
                .max_by(|a, b| order(**a, **b))
                .expect("not empty")
        };
        newest
            .filter_map(scored)
            .filter(|(_, score)| order(*score, last).is_le())
            .map(|(key, score)| (Bytes::copy_from_slice(&key.sub), score))
            .collect()
    }

    /// The queued items of large list `cid` at positions `from..=to`, each with its newest
    /// value (`None`: deleted), in position order.
    pub(super) fn items(
        &mut self,
        cid: CollectionId,
        from: i64,
        to: i64,
    ) -> Vec<(i64, Option<Bytes>)> {
        let elsewhere = |spans: &Vec<(CollectionId, i64, i64)>| {
            spans
                .iter()
                .all(|&(c, lo, hi)| c != cid || hi < from || to < lo)
        };
        if !self.item_spans.as_ref().is_some_and(elsewhere) {
            self.absorb();
        }
        let (start, end) = (element_key(cid, from, &[]), element_key(cid, to, &[]));
        if end < start {
            return Vec::new();
        }
        let of = |m: &Map| -> BTreeMap<i64, Option<Bytes>> {
            m.range(start.clone()..=end.clone())
                .filter_map(|(key, pending)| match pending {
                    Pending::Item { value, .. } => Some((key.h, value.clone())),
                    _ => None,
                })
                .collect()
        };
        // A requested merge's entries, under the newer ones.
        let mut items = of(&self.frozen);
        items.extend(of(&self.latest));
        items.into_iter().collect()
    }

    /// Which of `members` of `cid` (at their positions) have a queued entry.
    pub(super) fn queued_among(
        &mut self,
        cid: CollectionId,
        members: &[(i64, &[u8])],
    ) -> Vec<bool> {
        self.absorb();
        members
            .iter()
            .map(|&(h, member)| {
                let key = element_key(cid, h, member);
                self.latest.contains_key(&key) || self.frozen.contains_key(&key)
            })
            .collect()
    }

    /// How many members of sorted set `cid` that `within` picks (by score and member) the
    /// queued entries add, less those they take away: a count over the table plus this is
    /// the count with every entry applied.
    pub(super) fn count_delta(
        &mut self,
        cid: CollectionId,
        within: impl Fn(f64, &[u8]) -> bool,
    ) -> i64 {
        self.absorb();
        of_collection(&self.latest, cid)
            .map(|(key, pending)| match pending {
                Pending::Member { filed, score } => {
                    let member = decode(key).2;
                    let counts = |s: &Option<f64>| s.is_some_and(|s| within(s, member)) as i64;
                    counts(score) - counts(filed)
                }
                Pending::Row { .. } | Pending::Item { .. } => 0,
            })
            .sum()
    }

    /// Entries waiting (a requested merge's included).
    pub(super) fn len(&self) -> usize {
        self.latest.len() + self.incoming.len() + self.frozen.len()
    }

    /// Whether nothing waits outside a requested merge.
    pub(super) fn is_empty(&self) -> bool {
        self.latest.is_empty() && self.incoming.is_empty()
    }

    /// Moves every queued entry into the set a merge commits.
    pub(super) fn freeze(&mut self) {
        debug_assert!(self.frozen.is_empty());
        self.absorb();
        std::mem::swap(&mut self.latest, &mut self.frozen);
    }

    /// Takes up to `n` entries in key order: of the set a requested merge commits while one
    /// is (`merging`), else of the newest.
    pub(super) fn take(&mut self, n: usize, merging: bool) -> Vec<(ElementKey, Pending)> {
        if !merging {
            self.absorb();
        }
        let map = if merging {
            &mut self.frozen
        } else {
            &mut self.latest
        };
        let mut out = Vec::with_capacity(n.min(map.len()));
        while out.len() < n {
            let Some((key, pending)) = map.pop_first() else {
                break;
            };
            self.bytes -= entry_bytes(&key, &pending);
            out.push((key, pending));
        }
        if self.scores.is_active() {
            for (key, pending) in &out {
                self.left(key, pending, merging);
            }
        }
        out
    }

    /// Takes every queued entry of `cid` (none is frozen: the caller waited for the merge).
    pub(super) fn take_collection(&mut self, cid: CollectionId) -> Vec<(ElementKey, Pending)> {
        self.absorb();
        self.scores.forget(Some(cid));
        let (start, end) = collection_bounds(cid);
        let mut tail = self.latest.split_off(&start);
        if let Some(end) = end {
            let mut after = tail.split_off(&end);
            self.latest.append(&mut after);
        }
        let out: Vec<(ElementKey, Pending)> = tail.into_iter().collect();
        for (key, pending) in &out {
            self.bytes -= entry_bytes(key, pending);
        }
        out
    }

    /// Takes the queued entries of `cid` at positions `from..=to` that `pick` picks (none is
    /// frozen: the caller waited for the merge): what a statement over part of a collection
    /// needs in the table.
    pub(super) fn take_span(
        &mut self,
        cid: CollectionId,
        from: i64,
        to: i64,
        pick: impl Fn(&Pending) -> bool,
    ) -> Vec<(ElementKey, Pending)> {
        self.absorb();
        self.scores.forget(Some(cid));
        let start = element_key(cid, from, &[]);
        let end = match to.checked_add(1) {
            Some(after) => Some(element_key(cid, after, &[])),
            None => collection_bounds(cid).1,
        };
        let range = match end {
            Some(end) if end <= start => return Vec::new(),
            Some(end) => self.latest.range(start..end),
            None => self.latest.range(start..),
        };
        let keys: Vec<ElementKey> = range
            .filter(|(_, pending)| pick(pending))
            .map(|(k, _)| k.clone())
            .collect();
        keys.into_iter()
            .filter_map(|k| {
                let pending = self.latest.remove(&k)?;
                self.bytes -= entry_bytes(&k, &pending);
                Some((k, pending))
            })
            .collect()
    }

    /// Puts back entries that could not be applied (into the set a requested merge commits,
    /// when they came from it), unless a newer entry of the same element was queued
    /// meanwhile: that one then keeps what the table still holds.
    pub(super) fn requeue(&mut self, entries: Vec<(ElementKey, Pending)>, merging: bool) {
        if !merging {
            // Entries queued since these were taken are newer.
            self.absorb();
        }
        // (A failed apply's path: the index is built again by the next read that needs it.)
        self.scores.forget(None);
        let map = if merging {
            &mut self.frozen
        } else {
            &mut self.latest
        };
        for (key, pending) in entries {
            match map.get_mut(&key) {
                Some(newer) => {
                    self.bytes -= entry_bytes(&key, newer);
                    *newer = newer.clone().over(&pending);
                    self.bytes += entry_bytes(&key, newer);
                }
                None => {
                    self.bytes += entry_bytes(&key, &pending);
                    map.insert(key, pending);
                }
            }
        }
    }

    /// Drops every entry (a rollback, or a flush of every table).
    pub(super) fn clear(&mut self) {
        self.latest.clear();
        self.incoming.clear();
        self.item_spans = Some(Vec::new());
        self.frozen.clear();
        self.scores.forget(None);
        self.bytes = 0;
    }

    /// Bytes the queued entries take, with the score index.
    pub(super) fn bytes(&self) -> usize {
        self.bytes + self.scores.bytes()
    }
}

const SQL_PUT: &str = "INSERT INTO elements (cid, h, sub, expire_at, value)
     VALUES (?1, ?2, ?3, ?4, ?5)
     ON CONFLICT (cid, h, sub) DO UPDATE SET expire_at = excluded.expire_at, value = excluded.value";
const SQL_UPDATE: &str =
    "UPDATE elements SET expire_at = ?4, value = ?5 WHERE cid = ?1 AND h = ?2 AND sub = ?3";
const SQL_DELETE: &str = "DELETE FROM elements WHERE cid = ?1 AND h = ?2 AND sub = ?3";
const SQL_DELETE_SCORE: &str =
    "DELETE FROM zset_scores WHERE cid = ?1 AND score = ?2 AND member = ?3";
const SQL_PUT_SCORE: &str =
    "INSERT OR REPLACE INTO zset_scores (cid, score, member) VALUES (?1, ?2, ?3)";
const SQL_PUT_ITEM: &str = "INSERT INTO list_items (cid, pos, value) VALUES (?1, ?2, ?3)
     ON CONFLICT (cid, pos) DO UPDATE SET value = excluded.value";
const SQL_DELETE_ITEM: &str = "DELETE FROM list_items WHERE cid = ?1 AND pos = ?2";

/// The statements applying queued entries (one of each at most, in the order of
/// [`SQL_STATEMENTS`]), prepared on first use and kept for the entries applied together.
pub(super) struct Statements<'c> {
    conn: &'c Connection,
    prepared: [Option<CachedStatement<'c>>; 7],
}

const SQL_STATEMENTS: [&str; 7] = [
    SQL_PUT,
    SQL_UPDATE,
    SQL_DELETE,
    SQL_DELETE_SCORE,
    SQL_PUT_SCORE,
    SQL_PUT_ITEM,
    SQL_DELETE_ITEM,
];
const PUT: usize = 0;
const UPDATE: usize = 1;
const DELETE: usize = 2;
const DELETE_SCORE: usize = 3;
const PUT_SCORE: usize = 4;
const PUT_ITEM: usize = 5;
const DELETE_ITEM: usize = 6;

impl<'c> Statements<'c> {
    pub(super) fn new(conn: &'c Connection) -> Self {
        Statements {
            conn,
            prepared: Default::default(),
        }
    }

    fn get(&mut self, i: usize) -> rusqlite::Result<&mut CachedStatement<'c>> {
        super::rows::prepared_once(self.conn, &mut self.prepared[i], SQL_STATEMENTS[i])
    }

    /// Writes one queued entry into the open transaction.
    pub(super) fn apply(&mut self, key: &ElementKey, pending: &Pending) -> rusqlite::Result<()> {
        if pending.is_void() {
            return Ok(());
        }
        let (cid, h, sub) = decode(key);
        let cid = cid as i64;
        let mut write_row =
            |filed: bool, row: Option<(&[u8], Option<i64>)>| -> rusqlite::Result<()> {
                match row {
                    // A row known to be there is updated: an upsert finds it by a failed
                    // insert.
                    Some((value, expire_at)) => {
                        let changed = self
                            .get(if filed { UPDATE } else { PUT })?
                            .execute(params![cid, h, sub, expire_at, value])?;
                        if changed == 0 {
                            self.get(PUT)?
                                .execute(params![cid, h, sub, expire_at, value])?;
                        }
                    }
                    None => {
                        self.get(DELETE)?.execute(params![cid, h, sub])?;
                    }
                }
                Ok(())
            };
        match pending {
            Pending::Row { filed, row } => {
                write_row(*filed, row.as_ref().map(|(v, e)| (&v[..], *e)))?;
            }
            Pending::Member { filed, score } => {
                let bytes = score.map(f64::to_le_bytes);
                write_row(filed.is_some(), bytes.as_ref().map(|b| (&b[..], None)))?;
                if let Some(old) = filed {
                    self.get(DELETE_SCORE)?.execute(params![cid, old, sub])?;
                }
                if let Some(score) = score {
                    self.get(PUT_SCORE)?.execute(params![cid, score, sub])?;
                }
            }
            Pending::Item {
                value: Some(value), ..
            } => {
                self.get(PUT_ITEM)?.execute(params![cid, h, &value[..]])?;
            }
            Pending::Item { value: None, .. } => {
                self.get(DELETE_ITEM)?.execute(params![cid, h])?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(v: &str) -> Pending {
        Pending::Row {
            filed: false,
            row: Some((Bytes::copy_from_slice(v.as_bytes()), None)),
        }
    }

    #[test]
    fn keys_sort_as_the_elements_table_and_decode_back() {
        let keys = [
            (1u64, i64::MIN, &b"a"[..]),
            (1, -5, b"b"),
            (1, 0, b""),
            (1, 0, b"a"),
            (1, 0, b"ab"),
            (1, 7, b"a"),
            (1, i64::MAX, b"z"),
            (2, i64::MIN, b""),
            (u64::MAX, 3, b"x"),
        ];
        let encoded: Vec<ElementKey> = keys.iter().map(|&(c, h, s)| element_key(c, h, s)).collect();
        let mut sorted = encoded.clone();
        sorted.sort();
        assert_eq!(sorted, encoded);
        for (k, &(c, h, s)) in encoded.iter().zip(&keys) {
            assert_eq!(decode(k), (c, h, s));
        }
    }

    fn item(v: Option<&str>) -> Pending {
        Pending::Item {
            filed: true,
            value: v.map(|v| Bytes::copy_from_slice(v.as_bytes())),
        }
    }

    #[test]
    fn a_read_of_items_away_from_the_waiting_ones_leaves_them_waiting() {
        let mut q = ElementRows::default();
        for pos in 0..10 {
            q.push(element_key(3, pos, &[]), item(Some(&format!("v{pos}"))));
        }
        q.absorb();
        // Pops at the head: their deletions wait below the next read's positions.
        for pos in 0..4 {
            q.push(element_key(3, pos, &[]), item(None));
        }
        q.push(element_key(4, 100, &[]), item(Some("other list")));
        let head = q.items(3, 4, 6);
        assert_eq!(head.len(), 3);
        assert_eq!(head[0], (4, Some(Bytes::from_static(b"v4"))));
        assert_eq!(q.incoming(), 5, "nothing moved");
        // A read over a waiting item moves them all first, and sees it.
        let over = q.items(3, 2, 5);
        assert_eq!(q.incoming(), 0);
        assert_eq!(over[0], (2, None));
        assert_eq!(over[2], (4, Some(Bytes::from_static(b"v4"))));
        // Past the lists it keeps track of, any read moves them.
        for cid in 10..10 + ITEM_SPANS as u64 + 1 {
            q.push(element_key(cid, 0, &[]), item(Some("x")));
        }
        q.items(3, 4, 6);
        assert_eq!(q.incoming(), 0);
        // Once the waiting entries are gone, tracking starts again.
        q.push(element_key(3, 0, &[]), item(Some("again")));
        q.items(3, 4, 6);
        assert_eq!(q.incoming(), 1);
        assert_eq!(
            q.items(3, 0, 0),
            vec![(0, Some(Bytes::from_static(b"again")))]
        );
    }

    #[test]
    fn a_rewrite_keeps_what_the_table_holds_and_counts_its_bytes() {
        let mut q = ElementRows::default();
        let k = element_key(5, 1, b"m");
        q.push(
            k.clone(),
            Pending::Member {
                filed: Some(1.0),
                score: Some(2.0),
            },
        );
        q.push(
            k.clone(),
            Pending::Member {
                filed: Some(2.0),
                score: Some(1.0),
            },
        );
        // Queued entries wait outside the map until moved (by the writer's thread).
        assert_eq!((q.incoming(), q.coalesced), (2, 0));
        q.absorb();
        assert_eq!((q.incoming(), q.coalesced, q.len()), (0, 1, 1));
        // Back to the table's score: nothing to write.
        assert!(q.get(&k).unwrap().is_void());
        let other = element_key(6, 0, b"f");
        q.push(other.clone(), row("v1"));
        q.push(other.clone(), row("v22"));
        assert_eq!(q.get(&other).unwrap().row().unwrap().0, "v22");
        assert!(q.holds(Some(5)) && q.holds(Some(6)) && !q.holds(Some(7)));
        assert!(q.holds(None));
        let taken = q.take_collection(6);
        assert_eq!(taken.len(), 1);
        assert!(!q.holds(Some(6)) && q.holds(Some(5)));
        // A failed entry goes back under a newer one, which keeps the table's state.
        q.push(
            other.clone(),
            Pending::Row {
                filed: true,
                row: None,
            },
        );
        q.requeue(taken, false);
        assert_eq!(
            q.get(&other),
            Some(&Pending::Row {
                filed: false,
                row: None
            })
        );
        assert!(q.get(&other).unwrap().is_void());
        let all = q.take(usize::MAX, false);
        assert_eq!(all.len(), 2);
        assert_eq!(q.bytes, 0);
        assert!(!q.holds(None));
    }

    #[test]
    fn a_span_takes_the_entries_of_its_positions_alone() {
        let mut q = ElementRows::default();
        for (cid, h) in [(1u64, 5i64), (2, -3), (2, 0), (2, 7), (2, i64::MAX), (3, 0)] {
            q.push(element_key(cid, h, b"m"), row("v"));
        }
        let member = |score: f64| Pending::Member {
            filed: None,
            score: Some(score),
        };
        q.push(element_key(4, 1, b"a"), member(1.0));
        q.push(element_key(4, 2, b"b"), member(9.0));
        let positions = |taken: Vec<(ElementKey, Pending)>| -> Vec<(u64, i64)> {
            taken
                .iter()
                .map(|(k, _)| (decode(k).0, decode(k).1))
                .collect()
        };
        assert_eq!(
            positions(q.take_span(2, -3, 0, |_| true)),
            [(2, -3), (2, 0)]
        );
        assert_eq!(positions(q.take_span(2, 8, 7, |_| true)), []);
        assert_eq!(
            positions(q.take_span(2, 1, i64::MAX, |_| true)),
            [(2, 7), (2, i64::MAX)]
        );
        let low = |p: &Pending| p.scored(|s| s <= 5.0);
        assert_eq!(positions(q.take_span(4, i64::MIN, i64::MAX, low)), [(4, 1)]);
        assert_eq!(q.len(), 3);
        assert!(q.holds(Some(1)) && q.holds(Some(3)) && q.holds(Some(4)));
    }

    #[test]
    fn a_count_moves_by_what_the_queued_members_add_and_take() {
        let mut q = ElementRows::default();
        let member = |filed: Option<f64>, score: Option<f64>| Pending::Member { filed, score };
        q.push(element_key(4, 1, b"new"), member(None, Some(5.0)));
        q.push(element_key(4, 2, b"gone"), member(Some(5.0), None));
        q.push(element_key(4, 3, b"out"), member(Some(5.0), Some(50.0)));
        q.push(element_key(4, 4, b"in"), member(Some(50.0), Some(6.0)));
        q.push(element_key(5, 4, b"other"), member(None, Some(6.0)));
        let low = |s: f64, _: &[u8]| s < 10.0;
        // +new -gone -out +in
        assert_eq!(q.count_delta(4, low), 0);
        assert_eq!(q.count_delta(4, |s, m| low(s, m) && m != b"in"), -1);
        assert_eq!(q.count_delta(4, |s, _| s > 10.0), 0);
        assert_eq!(q.count_delta(5, low), 1);
    }

    /// The first `n` queued members of `cid` from an end, worked out from the maps alone.
    fn first_by_hand(
        q: &mut ElementRows,
        cid: CollectionId,
        n: usize,
        rev: bool,
    ) -> Vec<(Bytes, f64)> {
        q.absorb();
        let mut all: Vec<(Bytes, f64)> = of_collection(&q.latest, cid)
            .chain(of_collection(&q.frozen, cid).filter(|(k, _)| !q.latest.contains_key(k)))
            .filter_map(|(k, p)| newest_score(Some(p)).map(|s| (Bytes::copy_from_slice(&k.sub), s)))
            .collect();
        all.sort_by(|a, b| super::super::zset_end::order(rev, (a.1, &a.0), (b.1, &b.0)));
        all.truncate(n);
        all
    }

    #[test]
    fn reads_from_an_end_agree_with_the_queue_through_every_change() {
        let mut q = ElementRows::default();
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = |bound: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % bound
        };
        let mut indexed_reads = 0;
        for step in 0..40_000 {
            let cid = if next(10) == 0 { 5 } else { 4 };
            let number = next(3000);
            let member = format!("m{number}");
            let score = match next(8) {
                0 => None,
                1 => Some(-0.0),
                _ => Some(next(50) as f64 - 10.0),
            };
            let filed = None;
            q.push(
                element_key(cid, (number % 64) as i64, member.as_bytes()),
                Pending::Member { filed, score },
            );
            match next(200) {
                0 => {
                    let merging = !q.frozen.is_empty();
                    let _ = q.take(next(100) as usize, merging);
                }
                3 if q.frozen.is_empty() => q.freeze(),
                4 if step % 7 == 0 => {
                    let _ = q.take_collection(5);
                }
                5..=8 => {
                    let (n, rev) = (1 + next(300) as usize, next(2) == 0);
                    let mut got = q.first_members(4, n, rev);
                    got.sort_by(|a, b| {
                        super::super::zset_end::order(rev, (a.1, &a.0), (b.1, &b.0))
                    });
                    got.truncate(n);
                    assert_eq!(got, first_by_hand(&mut q, 4, n, rev), "step {step}");
                    indexed_reads += usize::from(q.scores.covers(4));
                }
                _ => {}
            }
        }
        assert!(indexed_reads > 100, "{indexed_reads} reads from the index");
        // The index's bytes leave with it.
        let merging = !q.frozen.is_empty();
        let _ = q.take(usize::MAX, merging);
        let _ = q.take(usize::MAX, false);
        let _ = q.take(usize::MAX, true);
        assert_eq!(q.bytes(), 0);
    }

    #[test]
    fn a_set_of_queued_deletions_is_indexed_and_read_without_a_pass() {
        // Pops of a merged set: its queue holds their deletions and a few re-scores.
        let mut q = ElementRows::default();
        let gone = |filed: f64| Pending::Member {
            filed: Some(filed),
            score: None,
        };
        for i in 0..INDEX_MIN as i64 {
            let member = format!("p{i:05}");
            q.push(element_key(6, i % 97, member.as_bytes()), gone(i as f64));
        }
        assert!(q.first_members(6, 10, false).is_empty());
        assert!(
            q.scores.covers(6),
            "the deletions alone made the pass worth an index"
        );
        // Members queued from here on are read from the index.
        for (i, score) in [(1, 7.0), (2, -3.0), (3, 7.0)] {
            let score = Some(score);
            let member = format!("r{i}");
            q.push(
                element_key(6, i, member.as_bytes()),
                Pending::Member { filed: None, score },
            );
        }
        q.push(
            element_key(6, 0, b"p00000"),
            Pending::Member {
                filed: None,
                score: Some(1.0),
            },
        );
        let want = first_by_hand(&mut q, 6, 3, false);
        assert_eq!(q.first_members(6, 3, false), want);
        assert_eq!(
            want,
            [
                (Bytes::from("r2"), -3.0),
                (Bytes::from("p00000"), 1.0),
                (Bytes::from("r1"), 7.0)
            ]
        );
        // A deletion queued over an indexed member leaves the index with it.
        q.push(element_key(6, 2, b"r2"), gone(-3.0));
        assert_eq!(q.first_members(6, 1, false), [(Bytes::from("p00000"), 1.0)]);
    }

    #[test]
    fn frozen_entries_are_read_until_the_merge_takes_them() {
        let mut q = ElementRows::default();
        let k = element_key(9, 2, b"x");
        q.push(k.clone(), row("old"));
        q.freeze();
        assert_eq!(q.get(&k).unwrap().row().unwrap().0, "old");
        assert!(q.is_empty() && q.holds(Some(9)));
        q.push(k.clone(), row("new"));
        assert_eq!(q.get(&k).unwrap().row().unwrap().0, "new");
        assert_eq!(q.take(10, true).len(), 1);
        assert_eq!(q.take(10, false).len(), 1);
        assert_eq!(q.len(), 0);
    }
}
