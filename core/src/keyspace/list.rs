//! Lists: small ones inline in the key's row (Redis's listpack), large ones one item per row
//! by explicit position (Redis's quicklist), so a push or pop at either end of a list of a
//! million items writes one row, and an index near either end is one probe.
//!
//! A large list's items sit at the contiguous positions `head..head + len`: LPUSH writes at
//! `head - 1`, RPUSH at `head + len`, LINDEX i reads `head + i`. Insertions and removals in
//! the middle (LINSERT, LREM) renumber the shorter side, as Redis documents them as O(N).
//!
//! A large list also keeps copies of the items nearest each end in memory ([`Ends`]), filled
//! by pushes and by the move into rows, so LRANGE, LINDEX and pops near the ends of a queue
//! or a timeline are served without reading SQLite. They are part of the cached value (and of
//! its cost), never of the persisted row.

use std::collections::VecDeque;

use bytes::Bytes;

use super::hash::Backing;
use super::value::{put_varint, Reader};
use crate::storage::{CollectionId, Store, StoreError};

/// Cache cost of one inline item beyond its bytes.
const ITEM_OVERHEAD: usize = 24;
/// Cache cost of a list's header.
const HEADER: usize = 32;
/// Items read per store query when a command walks a large list.
pub const PAGE: u64 = 512;

const FORMAT_SMALL: u8 = 0;
const FORMAT_LARGE: u8 = 1;

/// Most items each end window of a large list holds.
const WINDOW_ITEMS: usize = 128;
/// Most bytes each end window of a large list holds.
const WINDOW_BYTES: usize = 16 * 1024;

/// Copies of the first and last items of a large list: `front` holds the items at indexes
/// `0..front.len()`, `back` those at `len - back.len()..len`. Either may be shorter than the
/// limits allow (or empty); they only ever hold the items at the very ends.
#[derive(Clone, Debug, Default)]
struct Ends {
    front: VecDeque<Bytes>,
    front_bytes: usize,
    back: VecDeque<Bytes>,
    back_bytes: usize,
}

/// Two lists are equal whatever their windows hold (they are a cache).
impl PartialEq for Ends {
    fn eq(&self, _: &Ends) -> bool {
        true
    }
}

impl Ends {
    /// Windows for a list whose items are `items` (the move of a small list into rows).
    fn of(items: &VecDeque<Bytes>) -> Ends {
        let mut ends = Ends::default();
        for item in items.iter().take(WINDOW_ITEMS) {
            ends.front.push_back(item.clone());
            ends.front_bytes += item.len();
        }
        for item in items.iter().rev().take(WINDOW_ITEMS) {
            ends.back.push_front(item.clone());
            ends.back_bytes += item.len();
        }
        ends.fit();
        ends
    }

    fn bytes(&self) -> usize {
        self.front_bytes + self.back_bytes + (self.front.len() + self.back.len()) * ITEM_OVERHEAD
    }

    /// Drops the innermost items until both windows are within their limits.
    fn fit(&mut self) {
        while self.front.len() > WINDOW_ITEMS || self.front_bytes > WINDOW_BYTES {
            let Some(item) = self.front.pop_back() else {
                break;
            };
            self.front_bytes -= item.len();
        }
        while self.back.len() > WINDOW_ITEMS || self.back_bytes > WINDOW_BYTES {
            let Some(item) = self.back.pop_front() else {
                break;
            };
            self.back_bytes -= item.len();
        }
    }

    /// An item was pushed at the head (`front`) or the tail.
    fn pushed(&mut self, item: &Bytes, front: bool) {
        if front {
            self.front_bytes += item.len();
            self.front.push_front(item.clone());
        } else {
            self.back_bytes += item.len();
            self.back.push_back(item.clone());
        }
        self.fit();
    }

    /// `n` items were popped from the head (`front`) or the tail, leaving `len` items: the
    /// near window loses them, and the far window loses those of its items that were popped
    /// (it reached past them when the list was short).
    fn popped(&mut self, n: u64, front: bool, len: u64) {
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        let (near, near_bytes, far, far_bytes) = if front {
            (
                &mut self.front,
                &mut self.front_bytes,
                &mut self.back,
                &mut self.back_bytes,
            )
        } else {
            (
                &mut self.back,
                &mut self.back_bytes,
                &mut self.front,
                &mut self.front_bytes,
            )
        };
        for _ in 0..n.min(near.len()) {
            let item = if front {
                near.pop_front()
            } else {
                near.pop_back()
            };
            *near_bytes -= item.map_or(0, |i| i.len());
        }
        while far.len() > len {
            let item = if front {
                far.pop_front()
            } else {
                far.pop_back()
            };
            *far_bytes -= item.map_or(0, |i| i.len());
        }
    }

    /// The near window of a list whose pop found it short was read ahead: `items` are the
    /// list's first (`front`) or last items now, nearest the end first.
    fn refill(&mut self, items: Vec<Bytes>, front: bool) {
        let (near, near_bytes) = if front {
            (&mut self.front, &mut self.front_bytes)
        } else {
            (&mut self.back, &mut self.back_bytes)
        };
        near.clear();
        *near_bytes = items.iter().map(Bytes::len).sum();
        for item in items {
            if front {
                near.push_back(item);
            } else {
                near.push_front(item);
            }
        }
        self.fit();
    }

    /// The items at indexes `start..=stop` of a list of `len`, if a window holds them all.
    fn range(&self, start: u64, stop: u64, len: u64) -> Option<Vec<Bytes>> {
        self.range_each(start, stop, len, |b| b)
    }

    /// [`Self::range`] with each item through `f`.
    fn range_each<T>(
        &self,
        start: u64,
        stop: u64,
        len: u64,
        f: impl FnMut(Bytes) -> T,
    ) -> Option<Vec<T>> {
        let (start, stop) = (usize::try_from(start).ok()?, usize::try_from(stop).ok()?);
        let len = usize::try_from(len).ok()?;
        if stop < self.front.len() {
            return Some(self.front.range(start..=stop).cloned().map(f).collect());
        }
        let first_back = len.checked_sub(self.back.len())?;
        if start >= first_back && stop < len {
            return Some(
                self.back
                    .range(start - first_back..=stop - first_back)
                    .cloned()
                    .map(f)
                    .collect(),
            );
        }
        None
    }

    /// The item at `index` of a list of `len` was replaced.
    fn replaced(&mut self, index: u64, len: u64, value: &Bytes) {
        let (Ok(index), Ok(len)) = (usize::try_from(index), usize::try_from(len)) else {
            return;
        };
        if let Some(slot) = self.front.get_mut(index) {
            self.front_bytes = self.front_bytes + value.len() - slot.len();
            *slot = value.clone();
        }
        let first_back = len.saturating_sub(self.back.len());
        if index >= first_back {
            if let Some(slot) = self.back.get_mut(index - first_back) {
                self.back_bytes = self.back_bytes + value.len() - slot.len();
                *slot = value.clone();
            }
        }
        self.fit();
    }

    /// Items moved inside the list (LINSERT, LREM, LTRIM): the windows start over.
    fn clear(&mut self) {
        *self = Ends::default();
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Repr {
    Small {
        items: VecDeque<Bytes>,
        /// Sum of the items' lengths, for the cache and the size limit.
        bytes: usize,
    },
    Large {
        cid: CollectionId,
        /// Position of the first item.
        head: i64,
        len: u64,
        ends: Ends,
    },
}

/// A Redis list.
#[derive(Clone, Debug, PartialEq)]
pub struct List {
    repr: Repr,
    /// Bumped by every change, so the keyspace can tell whether a write access changed it.
    mods: u64,
}

impl Default for List {
    fn default() -> Self {
        List::new()
    }
}

/// An index that fits a position offset (lists never reach 2^60 items).
fn off(i: u64) -> i64 {
    i as i64
}

impl List {
    /// An empty list (it becomes a key once it has an item).
    pub fn new() -> List {
        List {
            repr: Repr::Small {
                items: VecDeque::new(),
                bytes: 0,
            },
            mods: 0,
        }
    }

    /// Number of items.
    pub fn len(&self) -> u64 {
        match &self.repr {
            Repr::Small { items, .. } => items.len() as u64,
            Repr::Large { len, .. } => *len,
        }
    }

    /// Whether the list has no item.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// OBJECT ENCODING (Redis 7.2's names).
    pub fn encoding(&self) -> &'static str {
        match self.repr {
            Repr::Small { .. } => "listpack",
            Repr::Large { .. } => "quicklist",
        }
    }

    /// The item rows' collection, for a large list.
    pub fn cid(&self) -> Option<CollectionId> {
        match self.repr {
            Repr::Small { .. } => None,
            Repr::Large { cid, .. } => Some(cid),
        }
    }

    /// Bytes the cache charges.
    pub fn size(&self) -> usize {
        match &self.repr {
            Repr::Small { items, bytes } => HEADER + bytes + items.len() * ITEM_OVERHEAD,
            Repr::Large { ends, .. } => HEADER + ends.bytes(),
        }
    }

    pub(super) fn mods(&self) -> u64 {
        self.mods
    }

    /// The item at `index` (0 = head), if there is one.
    pub fn get(&self, store: &mut dyn Store, index: u64) -> Result<Option<Bytes>, StoreError> {
        match &self.repr {
            Repr::Small { items, .. } => Ok(usize::try_from(index)
                .ok()
                .and_then(|i| items.get(i))
                .cloned()),
            Repr::Large {
                cid,
                head,
                len,
                ends,
            } => {
                if index >= *len {
                    return Ok(None);
                }
                if let Some(mut hit) = ends.range(index, index, *len) {
                    return Ok(hit.pop());
                }
                store.list_get(*cid, head + off(index))
            }
        }
    }

    /// Items `start..=stop` (clamped to the list), head to tail, or tail to head if `reverse`.
    pub fn range(
        &self,
        store: &mut dyn Store,
        start: u64,
        stop: u64,
        reverse: bool,
    ) -> Result<Vec<Bytes>, StoreError> {
        self.range_each(store, start, stop, reverse, |b| b)
    }

    /// [`Self::range`] with each item through `f`, collected once: a reply built from the
    /// items kept in memory skips a vector of their copies (LRANGE spent 9% of the executor
    /// building that second vector).
    pub fn range_each<T>(
        &self,
        store: &mut dyn Store,
        start: u64,
        stop: u64,
        reverse: bool,
        mut f: impl FnMut(Bytes) -> T,
    ) -> Result<Vec<T>, StoreError> {
        let len = self.len();
        if start >= len || start > stop {
            return Ok(Vec::new());
        }
        let stop = stop.min(len - 1);
        match &self.repr {
            Repr::Small { items, .. } => {
                let picked = items.range(start as usize..=stop as usize);
                Ok(if reverse {
                    picked.rev().cloned().map(f).collect()
                } else {
                    picked.cloned().map(f).collect()
                })
            }
            Repr::Large {
                cid,
                head,
                len,
                ends,
            } => match ends.range_each(start, stop, *len, &mut f) {
                Some(mut hit) => {
                    if reverse {
                        hit.reverse();
                    }
                    Ok(hit)
                }
                None => Ok(store
                    .list_range(*cid, head + off(start), head + off(stop), reverse)?
                    .into_iter()
                    .map(f)
                    .collect()),
            },
        }
    }

    /// Every item, head to tail.
    pub fn items(&self, store: &mut dyn Store) -> Result<Vec<Bytes>, StoreError> {
        self.range(store, 0, u64::MAX, false)
    }

    /// Adds an item at the head (`front`) or the tail.
    pub fn push(
        &mut self,
        backing: &mut Backing<'_>,
        value: Bytes,
        front: bool,
    ) -> Result<(), StoreError> {
        self.mods += 1;
        self.grow_if_needed(backing, value.len())?;
        match &mut self.repr {
            Repr::Small { items, bytes } => {
                *bytes += value.len();
                if front {
                    items.push_front(value);
                } else {
                    items.push_back(value);
                }
            }
            Repr::Large {
                cid,
                head,
                len,
                ends,
            } => {
                let pos = if front {
                    *head -= 1;
                    *head
                } else {
                    *head + off(*len)
                };
                *len += 1;
                backing.store.list_push(*cid, pos, &value)?;
                ends.pushed(&value, front);
            }
        }
        Ok(())
    }

    /// Moves a small list into rows if one more item of `extra` bytes would pass the limits.
    fn grow_if_needed(
        &mut self,
        backing: &mut Backing<'_>,
        extra: usize,
    ) -> Result<(), StoreError> {
        let Repr::Small { items, bytes } = &self.repr else {
            return Ok(());
        };
        let limits = backing.limits;
        if items.len() < limits.list_max_listpack_entries
            && bytes + extra <= limits.list_max_listpack_bytes
        {
            return Ok(());
        }
        let cid = backing.new_cid();
        for (i, item) in items.iter().enumerate() {
            backing.store.list_push(cid, i as i64, item)?;
        }
        self.repr = Repr::Large {
            cid,
            head: 0,
            len: items.len() as u64,
            ends: Ends::of(items),
        };
        Ok(())
    }

    /// Removes up to `count` items from the head (`front`) or the tail and returns them in
    /// the order they were popped.
    pub fn pop(
        &mut self,
        store: &mut dyn Store,
        front: bool,
        count: u64,
    ) -> Result<Vec<Bytes>, StoreError> {
        let n = count.min(self.len());
        if n == 0 {
            return Ok(Vec::new());
        }
        self.mods += 1;
        match &mut self.repr {
            Repr::Small { items, bytes } => {
                let mut out = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    let item = if front {
                        items.pop_front()
                    } else {
                        items.pop_back()
                    };
                    if let Some(item) = item {
                        *bytes -= item.len();
                        out.push(item);
                    }
                }
                Ok(out)
            }
            Repr::Large {
                cid,
                head,
                len,
                ends,
            } => {
                let (from, to) = if front {
                    (*head, *head + off(n) - 1)
                } else {
                    (*head + off(*len - n), *head + off(*len) - 1)
                };
                let (first, last) = if front {
                    (0, n - 1)
                } else {
                    (*len - n, *len - 1)
                };
                let mut ahead = None;
                let out = match ends.range(first, last, *len) {
                    Some(mut hit) => {
                        if !front {
                            hit.reverse();
                        }
                        hit
                    }
                    None => {
                        // The near window is spent: the items after the popped ones are read
                        // with them, up to a window's worth, so that the next pops (a queue's
                        // consumer) find them in memory. LPOP ran a range read and a delete
                        // per pop past the first 128.
                        let extra = off((WINDOW_ITEMS as u64).min(*len - n));
                        let (from, to) = if front {
                            (from, to + extra)
                        } else {
                            (from - extra, to)
                        };
                        let wanted = n as usize;
                        let mut items = store.list_range_within(
                            *cid,
                            from,
                            to,
                            !front,
                            wanted,
                            WINDOW_BYTES,
                        )?;
                        ahead = Some(items.split_off(wanted.min(items.len())));
                        items
                    }
                };
                store.list_delete_range(*cid, from, to)?;
                if front {
                    *head += off(n);
                }
                *len -= n;
                ends.popped(n, front, *len);
                if let Some(items) = ahead {
                    ends.refill(items, front);
                }
                Ok(out)
            }
        }
    }

    /// Replaces the item at `index`; returns false if there is none.
    pub fn set(
        &mut self,
        backing: &mut Backing<'_>,
        index: u64,
        value: Bytes,
    ) -> Result<bool, StoreError> {
        if index >= self.len() {
            return Ok(false);
        }
        self.mods += 1;
        if let Repr::Small { bytes, .. } = &self.repr {
            // The new value may push the list past the byte limit.
            if bytes + value.len() > backing.limits.list_max_listpack_bytes {
                self.grow_if_needed(backing, value.len())?;
            }
        }
        match &mut self.repr {
            Repr::Small { items, bytes } => {
                let slot = &mut items[index as usize];
                *bytes = *bytes + value.len() - slot.len();
                *slot = value;
            }
            Repr::Large {
                cid,
                head,
                len,
                ends,
            } => {
                backing.store.list_put(*cid, *head + off(index), &value)?;
                ends.replaced(index, *len, &value);
            }
        }
        Ok(true)
    }

    /// Inserts `value` so that it ends up at `index` (`index == len` appends).
    pub fn insert(
        &mut self,
        backing: &mut Backing<'_>,
        index: u64,
        value: Bytes,
    ) -> Result<(), StoreError> {
        let len = self.len();
        let index = index.min(len);
        self.mods += 1;
        self.grow_if_needed(backing, value.len())?;
        match &mut self.repr {
            Repr::Small { items, bytes } => {
                *bytes += value.len();
                items.insert(index as usize, value);
            }
            Repr::Large {
                cid,
                head,
                len,
                ends,
            } => {
                ends.clear();
                let store = &mut *backing.store;
                if index < *len / 2 {
                    // Fewer items before the slot: they move one step toward the head.
                    store.list_shift(*cid, *head, *head + off(index) - 1, -1)?;
                    *head -= 1;
                } else {
                    store.list_shift(*cid, *head + off(index), *head + off(*len) - 1, 1)?;
                }
                store.list_put(*cid, *head + off(index), &value)?;
                *len += 1;
            }
        }
        Ok(())
    }

    /// Removes the items at `indexes` (ascending, distinct, each below the length).
    pub fn remove_indexes(
        &mut self,
        store: &mut dyn Store,
        indexes: &[u64],
    ) -> Result<(), StoreError> {
        if indexes.is_empty() {
            return Ok(());
        }
        self.mods += 1;
        match &mut self.repr {
            Repr::Small { items, bytes } => {
                for &i in indexes.iter().rev() {
                    if let Some(item) = items.remove(i as usize) {
                        *bytes -= item.len();
                    }
                }
            }
            Repr::Large {
                cid,
                head,
                len,
                ends,
            } => {
                ends.clear();
                for &i in indexes {
                    let pos = *head + off(i);
                    store.list_delete_range(*cid, pos, pos)?;
                }
                // Close the gaps toward the head: the run after the k-th removed item moves
                // k steps, so every remaining item moves at most once.
                for (k, &i) in indexes.iter().enumerate() {
                    let end = indexes.get(k + 1).copied().unwrap_or(*len);
                    if i + 1 < end {
                        store.list_shift(
                            *cid,
                            *head + off(i + 1),
                            *head + off(end) - 1,
                            -(k as i64 + 1),
                        )?;
                    }
                }
                *len -= indexes.len() as u64;
            }
        }
        Ok(())
    }

    /// Keeps only the items `start..=stop` (nothing if the range is empty).
    pub fn trim(&mut self, store: &mut dyn Store, start: u64, stop: u64) -> Result<(), StoreError> {
        let len = self.len();
        let (keep_from, keep_to) = if start > stop || start >= len {
            (len, len) // keeps nothing: the range below removes all
        } else {
            (start, stop.min(len - 1) + 1)
        };
        let keep = keep_to - keep_from;
        if keep == len {
            return Ok(());
        }
        self.mods += 1;
        match &mut self.repr {
            Repr::Small { items, bytes } => {
                items.truncate(keep_to as usize);
                items.drain(..keep_from as usize);
                *bytes = items.iter().map(|i| i.len()).sum();
            }
            Repr::Large {
                cid,
                head,
                len,
                ends,
            } => {
                ends.clear();
                if keep_from > 0 {
                    store.list_delete_range(*cid, *head, *head + off(keep_from) - 1)?;
                }
                if keep_to < *len {
                    store.list_delete_range(*cid, *head + off(keep_to), *head + off(*len) - 1)?;
                }
                *head += off(keep_from);
                *len = keep;
            }
        }
        Ok(())
    }

    /// A copy with its own item rows (COPY).
    pub fn duplicate(&self, backing: &mut Backing<'_>) -> Result<List, StoreError> {
        let repr = match &self.repr {
            Repr::Small { .. } => self.repr.clone(),
            Repr::Large {
                cid,
                head,
                len,
                ends,
            } => {
                let to = backing.new_cid();
                backing.store.copy_elements(*cid, to)?;
                Repr::Large {
                    cid: to,
                    head: *head,
                    len: *len,
                    ends: ends.clone(),
                }
            }
        };
        Ok(List { repr, mods: 0 })
    }

    /// The key row's value: the items of a small list, the head and length of a large one.
    pub(super) fn encode(&self) -> Bytes {
        let mut out = Vec::new();
        match &self.repr {
            Repr::Small { items, bytes } => {
                out.reserve(1 + bytes + items.len() * 2);
                out.push(FORMAT_SMALL);
                for item in items {
                    put_varint(&mut out, item.len() as u64);
                    out.extend_from_slice(item);
                }
            }
            Repr::Large { head, len, .. } => {
                out.push(FORMAT_LARGE);
                out.extend_from_slice(&head.to_le_bytes());
                put_varint(&mut out, *len);
            }
        }
        Bytes::from(out)
    }

    /// The list a key row holds.
    pub(super) fn decode(raw: &[u8], cid: Option<CollectionId>) -> Result<List, StoreError> {
        let mut r = Reader::new(raw, "list");
        let repr = match (r.byte()?, cid) {
            (FORMAT_SMALL, None) => {
                let mut items = VecDeque::new();
                let mut bytes = 0;
                while !r.is_empty() {
                    let item = r.bytes()?;
                    bytes += item.len();
                    items.push_back(item);
                }
                Repr::Small { items, bytes }
            }
            (FORMAT_LARGE, Some(cid)) => Repr::Large {
                cid,
                head: r.i64()?,
                len: r.varint()?,
                ends: Ends::default(),
            },
            (format, cid) => {
                return Err(StoreError::Corrupt(format!(
                    "list row of format {format} with collection {cid:?}"
                )))
            }
        };
        Ok(List { repr, mods: 0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Synchronous;
    use crate::keyspace::Encodings;
    use crate::storage::{SqlValue, SqliteStore};

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn texts(items: Vec<Bytes>) -> Vec<String> {
        items
            .into_iter()
            .map(|i| String::from_utf8(i.to_vec()).unwrap())
            .collect()
    }

    /// Limits under which a list of more than four items keeps them in rows.
    fn small_lists() -> Encodings {
        Encodings {
            list_max_listpack_entries: 4,
            ..Encodings::default()
        }
    }

    /// Runs the same operations on a small-limit list (rows) and an in-memory model.
    #[test]
    fn large_lists_match_a_model_through_every_operation() {
        let mut store = SqliteStore::open(":memory:", Synchronous::Normal).unwrap();
        let mut next = 1;
        let limits = small_lists();
        let mut backing = Backing {
            store: &mut store,
            next_id: &mut next,
            limits,
        };
        let mut l = List::new();
        let mut model: VecDeque<String> = VecDeque::new();
        for i in 0..10 {
            l.push(&mut backing, b(&format!("r{i}")), false).unwrap();
            model.push_back(format!("r{i}"));
            l.push(&mut backing, b(&format!("l{i}")), true).unwrap();
            model.push_front(format!("l{i}"));
        }
        assert_eq!(l.encoding(), "quicklist");
        let all = |l: &List, store: &mut dyn Store| texts(l.items(store).unwrap());
        assert_eq!(all(&l, backing.store), Vec::from(model.clone()));
        // Inserts near the head and near the tail renumber different sides.
        l.insert(&mut backing, 2, b("x")).unwrap();
        model.insert(2, "x".into());
        l.insert(&mut backing, 17, b("y")).unwrap();
        model.insert(17, "y".into());
        l.insert(&mut backing, l.len(), b("end")).unwrap();
        model.push_back("end".into());
        l.insert(&mut backing, 0, b("start")).unwrap();
        model.push_front("start".into());
        assert_eq!(all(&l, backing.store), Vec::from(model.clone()));
        l.remove_indexes(backing.store, &[0, 3, 4, 10, 23]).unwrap();
        for i in [23, 10, 4, 3, 0] {
            model.remove(i);
        }
        assert_eq!(all(&l, backing.store), Vec::from(model.clone()));
        assert!(l.set(&mut backing, 5, b("five")).unwrap());
        model[5] = "five".into();
        assert!(!l.set(&mut backing, 99, b("no")).unwrap());
        let popped = texts(l.pop(backing.store, false, 3).unwrap());
        let expect: Vec<String> = (0..3).filter_map(|_| model.pop_back()).collect();
        assert_eq!(popped, expect);
        let popped = texts(l.pop(backing.store, true, 2).unwrap());
        let expect: Vec<String> = (0..2).filter_map(|_| model.pop_front()).collect();
        assert_eq!(popped, expect);
        l.trim(backing.store, 2, 9).unwrap();
        let model: Vec<String> = model.into_iter().skip(2).take(8).collect();
        assert_eq!(all(&l, backing.store), model);
        assert_eq!(
            texts(l.range(backing.store, 1, 3, true).unwrap()),
            vec![model[3].clone(), model[2].clone(), model[1].clone()]
        );
        assert_eq!(
            l.get(backing.store, 7).unwrap().unwrap(),
            b(&model[7]).to_vec()
        );
        let back = List::decode(&l.encode(), l.cid()).unwrap();
        assert_eq!(
            back,
            List {
                mods: 0,
                ..l.clone()
            }
        );
        let copy = l.duplicate(&mut backing).unwrap();
        assert_eq!(all(&copy, backing.store), model);
        l.trim(backing.store, 5, 1).unwrap();
        assert!(l.is_empty());
    }

    #[test]
    fn end_windows_stay_true_to_the_rows_under_random_operations() {
        let mut store = SqliteStore::open(":memory:", Synchronous::Normal).unwrap();
        random_operations(&mut store, false);
    }

    /// The same with the items' rows queued for the row writer (a file's store), committed
    /// now and then, merged now and then; the list's rows read back the same once the file
    /// is opened again.
    #[test]
    fn queued_item_rows_stay_true_to_the_list_and_reach_the_file() {
        use crate::storage::JournalOptions;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("list.db");
        let path = path.to_str().unwrap();
        let options = JournalOptions {
            merge_interval_ms: 3_600_000,
            row_window_bytes: 64 << 20,
            ..JournalOptions::default()
        };
        let mut store = SqliteStore::open_with(path, Synchronous::Normal, options).unwrap();
        let (l, model) = random_operations(&mut store, true);
        store.commit().unwrap();
        drop(store);
        let mut store = SqliteStore::open_with(path, Synchronous::Normal, options).unwrap();
        // (A copy of the list without its windows: every item is read from the file.)
        let cold = List::decode(&l.encode(), l.cid()).unwrap();
        assert_eq!(texts(cold.items(&mut store).unwrap()), Vec::from(model));
    }

    /// The file's rows of a list's items: how many, and the span of their positions.
    fn filed_items(store: &mut SqliteStore, l: &List) -> Vec<Vec<SqlValue>> {
        let cid = SqlValue::Integer(l.cid().expect("a large list") as i64);
        store
            .sql_query(
                "SELECT count(*), max(pos) - min(pos) + 1 FROM list_items WHERE cid = ?1",
                &[cid],
            )
            .unwrap()
    }

    /// Items pushed and popped again before the row writer wrote them never reach the file,
    /// and the rows of items popped after it wrote them go: the file holds a row at each of
    /// the list's positions and none elsewhere (a row left at a popped position is invisible
    /// to reads of the list, but not to a shift of its items, which it would collide with).
    #[test]
    fn pops_leave_rows_at_the_lists_positions_only() {
        use crate::storage::JournalOptions;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pops.db");
        let options = JournalOptions {
            merge_interval_ms: 3_600_000,
            row_window_bytes: 64 << 20,
            ..JournalOptions::default()
        };
        let mut store =
            SqliteStore::open_with(path.to_str().unwrap(), Synchronous::Normal, options).unwrap();
        let mut next = 1;
        let limits = small_lists();
        let mut backing = Backing {
            store: &mut store,
            next_id: &mut next,
            limits,
        };
        let mut l = List::new();
        let mut model: VecDeque<String> = VecDeque::new();
        let push = |l: &mut List, b2: &mut Backing<'_>, m: &mut VecDeque<String>, i, front| {
            let item = format!("i{i}");
            l.push(b2, b(&item), front).unwrap();
            if front {
                m.push_front(item);
            } else {
                m.push_back(item);
            }
        };
        for i in 0..300 {
            push(&mut l, &mut backing, &mut model, i, i % 2 == 0);
        }
        // Written to the file.
        backing.store.commit().unwrap();
        backing.store.merge(true).unwrap();
        // Replaced (LSET) and then popped, before the replacement was written.
        assert!(l.set(&mut backing, 0, b("set0")).unwrap());
        model[0] = "set0".into();
        // Popped from both ends once written; pushed and popped again before.
        for front in [true, false] {
            let got = texts(l.pop(backing.store, front, 60).unwrap());
            for g in got {
                let want = if front {
                    model.pop_front()
                } else {
                    model.pop_back()
                };
                assert_eq!(Some(g), want);
            }
        }
        for i in 300..400 {
            push(&mut l, &mut backing, &mut model, i, i % 2 == 0);
        }
        for front in [true, false] {
            let got = texts(l.pop(backing.store, front, 70).unwrap());
            for g in got {
                let want = if front {
                    model.pop_front()
                } else {
                    model.pop_back()
                };
                assert_eq!(Some(g), want);
            }
        }
        backing.store.commit().unwrap();
        backing.store.merge(true).unwrap();
        let n = SqlValue::Integer(model.len() as i64);
        assert_eq!(filed_items(&mut store, &l), vec![vec![n.clone(), n]]);
        let cold = List::decode(&l.encode(), l.cid()).unwrap();
        assert_eq!(texts(cold.items(&mut store).unwrap()), Vec::from(model));
    }

    /// Runs random pushes, pops, sets, removals and reads on a list of `store`, checking
    /// each read against a model; commits (and now and then merges) along the way if
    /// `commits`. Returns the list and the model.
    fn random_operations(store: &mut SqliteStore, commits: bool) -> (List, VecDeque<String>) {
        let mut next = 1;
        let limits = small_lists();
        let mut backing = Backing {
            store,
            next_id: &mut next,
            limits,
        };
        let mut l = List::new();
        let mut model: VecDeque<String> = VecDeque::new();
        let mut rand = crate::testing::draws(0x9e37_79b9_7f4a_7c15u64);
        for step in 0..4000 {
            let len = model.len() as u64;
            // Growing for the first half (past the windows' 128 items), shrinking after.
            let growing = step < 2000;
            match rand(10) {
                op if (growing && op <= 4) || (!growing && op <= 2) => {
                    // Now and then an item bigger than a whole window.
                    let item = if rand(50) == 0 {
                        "w".repeat(WINDOW_BYTES + 1)
                    } else {
                        format!("i{step}")
                    };
                    let front = rand(2) == 0;
                    l.push(&mut backing, b(&item), front).unwrap();
                    if front {
                        model.push_front(item);
                    } else {
                        model.push_back(item);
                    }
                }
                op if op <= 6 => {
                    let front = rand(2) == 0;
                    let n = 1 + rand(3);
                    let got = texts(l.pop(backing.store, front, n).unwrap());
                    let want: Vec<String> = (0..n)
                        .filter_map(|_| {
                            if front {
                                model.pop_front()
                            } else {
                                model.pop_back()
                            }
                        })
                        .collect();
                    assert_eq!(got, want, "step {step}");
                }
                7 if len > 0 => {
                    let i = rand(len);
                    l.set(&mut backing, i, b(&format!("s{step}"))).unwrap();
                    model[i as usize] = format!("s{step}");
                }
                8 if len > 2 && rand(8) == 0 => {
                    let i = rand(len);
                    l.remove_indexes(backing.store, &[i]).unwrap();
                    model.remove(i as usize);
                }
                _ => {}
            }
            if step == 1999 {
                assert!(
                    model.len() > 2 * WINDOW_ITEMS,
                    "the list never outgrew its windows"
                );
            }
            // Reads near both ends, forwards and backwards.
            let len = model.len() as u64;
            if len > 0 {
                let start = if rand(2) == 0 {
                    rand(4)
                } else {
                    len.saturating_sub(1 + rand(4))
                };
                let stop = start + rand(6);
                let reverse = rand(2) == 0;
                let mut want: Vec<String> = model
                    .iter()
                    .skip(start as usize)
                    .take((stop - start + 1) as usize)
                    .cloned()
                    .collect();
                if reverse {
                    want.reverse();
                }
                let got = texts(l.range(backing.store, start, stop, reverse).unwrap());
                assert_eq!(got, want, "step {step}: range {start}..={stop}");
                let i = rand(len);
                let got = l.get(backing.store, i).unwrap().map(|v| texts(vec![v]));
                assert_eq!(
                    got,
                    Some(vec![model[i as usize].clone()]),
                    "step {step}: get {i}"
                );
            }
            if commits && step % 37 == 0 {
                backing.store.commit().unwrap();
                if step % 703 == 0 {
                    backing.store.merge(true).unwrap();
                }
            }
        }
        (l, model)
    }

    #[test]
    fn small_lists_round_trip_and_grow_by_bytes() {
        let mut store = SqliteStore::open(":memory:", Synchronous::Normal).unwrap();
        let mut next = 1;
        let mut backing = Backing {
            store: &mut store,
            next_id: &mut next,
            limits: Encodings {
                list_max_listpack_bytes: 10,
                ..Encodings::default()
            },
        };
        let mut l = List::new();
        l.push(&mut backing, Bytes::from_static(b"\x00\xff"), false)
            .unwrap();
        l.push(&mut backing, b(""), true).unwrap();
        assert_eq!(l.encoding(), "listpack");
        assert_eq!(List::decode(&l.encode(), None).unwrap().repr, l.repr);
        l.push(&mut backing, b("123456789"), false).unwrap();
        assert_eq!(l.encoding(), "quicklist");
        assert_eq!(l.len(), 3);
    }
}
