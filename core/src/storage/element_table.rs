//! One collection's entries in the element cache ([`super::element_cache`]): a hash table
//! whose lookups a pipeline can start ahead of its commands.
//!
//! Over a collection of a hundred thousand elements every lookup misses the CPU's caches. In
//! a map whose entries live in nodes of their own (a linked hash map) a lookup is a chain of
//! three dependent misses, the table's control bytes, the bucket's pointer, the node; a loop
//! that does nothing but look elements up (see [`super::Store::prefetch_elements`]) overlaps
//! little of that, since each chain must end before the next one's address is known. Here
//! the entries sit in the table itself (open addressing, linear probing), and one byte per
//! slot (a tag: seven bits of the hash) sits in an array of its own, so a lookup is the
//! tag's line and then the entry's, and both can be fetched ahead:
//! [`Table::prefetch_tags`] for every name of a pipeline first, then
//! [`Table::prefetch_entry`], by then reading tags that are in the cache or on their way.
//!
//! Removal shifts the entries after the freed slot back (no tombstones), so a lookup stops
//! at the first empty slot. Eviction is CLOCK: a hand passes the slots in turn (striding
//! across the table, so that evictions keep its load even) and the caller says whether the
//! entry under it gets another round.

use super::ShortBytes;
use crate::prefetch::prefetch;

/// The fewest slots a table that holds anything has.
const MIN_SLOTS: usize = 8;

/// A slot's tag when it is empty; an occupied slot's has its top bit set.
const EMPTY: u8 = 0;

/// An entry: its name, the high half of its hash (where it wants to sit, for the shift that
/// follows a removal), CLOCK's reference bit, its value.
struct Slot<V> {
    name: ShortBytes,
    hash: u32,
    /// Read since the hand last passed it (see [`Table::get_referenced`]).
    referenced: bool,
    value: V,
}

/// What one step of the CLOCK hand did (see [`Table::clock`]).
pub(super) enum Clock<V> {
    /// The table is empty.
    Empty,
    /// The entry under the hand, read since the hand last passed it, was given another
    /// round (its reference bit cleared).
    Spared,
    /// The entry under the hand was removed.
    Evicted(ShortBytes, V),
}

/// The table (see the module's doc).
pub(super) struct Table<V> {
    /// Per slot, [`EMPTY`] or `0x80` | the low seven bits of the entry's hash.
    tags: Vec<u8>,
    slots: Vec<Option<Slot<V>>>,
    len: usize,
    /// CLOCK's hand: the slot it looks at next.
    hand: usize,
    hasher: ahash::RandomState,
}

impl<V> Default for Table<V> {
    fn default() -> Self {
        Table {
            tags: Vec::new(),
            slots: Vec::new(),
            len: 0,
            hand: 0,
            hasher: ahash::RandomState::new(),
        }
    }
}

fn tag(hash: u64) -> u8 {
    0x80 | (hash & 0x7f) as u8
}

impl<V> Table<V> {
    /// Memory one entry is charged: its slot and tag, at 7/10 of the slots in use. A table
    /// doubles past 7/8 of its slots in use (a lookup compares only the entries whose tag
    /// matches, so long runs of occupied slots cost it little) and halves below 1/4: as it
    /// grows, between 7/16 and 7/8 are in use, so what an entry really takes lies between
    /// 0.8 and 1.6 times this (up to 2.8 in a table shrunk to a quarter in use).
    pub(super) const ENTRY_BYTES: usize = (std::mem::size_of::<Option<Slot<V>>>() + 1) * 10 / 7;

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The hash a lookup of `name` starts from.
    pub(super) fn hash(&self, name: &[u8]) -> u64 {
        self.hasher.hash_one(name)
    }

    /// The slot an entry of `hash` wants: the hash's top bits, so that the slots keep the
    /// entries in the same order whatever the table's size (an entry of slot `i` wants slot
    /// `2i` or `2i + 1` once the table doubles), which keeps the CLOCK hand's place.
    fn wanted(&self, hash: u64) -> usize {
        (hash >> (64 - self.slots.len().trailing_zeros())) as usize
    }

    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    /// How far the CLOCK hand moves per step: about 0.618 of the table (the golden ratio's
    /// fraction spreads consecutive steps the most evenly), odd.
    fn stride(&self) -> usize {
        ((self.slots.len() as u64 * 0x9e37_79b9) >> 32) as usize | 1
    }

    /// Starts loading the tags a lookup of `hash` reads first.
    pub(super) fn prefetch_tags(&self, hash: u64) {
        if !self.slots.is_empty() {
            prefetch(&self.tags[self.wanted(hash)]);
        }
    }

    /// Starts loading the entry a lookup of `hash` will compare first: the first slot whose
    /// tag matches, as the tags tell (no entry is read).
    pub(super) fn prefetch_entry(&self, hash: u64) {
        if self.slots.is_empty() {
            return;
        }
        let (mask, want) = (self.mask(), tag(hash));
        let mut i = self.wanted(hash);
        loop {
            match self.tags[i] {
                EMPTY => return,
                t if t == want => {
                    let at = std::ptr::from_ref(&self.slots[i]).cast::<u8>();
                    prefetch(at);
                    // An entry may straddle two lines.
                    prefetch(at.wrapping_add(std::mem::size_of::<Option<Slot<V>>>() - 1));
                    return;
                }
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// The slot holding `name`, if any.
    fn find(&self, hash: u64, name: &[u8]) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let (mask, want) = (self.mask(), tag(hash));
        let mut i = self.wanted(hash);
        loop {
            match self.tags[i] {
                EMPTY => return None,
                t if t == want && self.slots[i].as_ref().is_some_and(|s| s.name[..] == *name) => {
                    return Some(i);
                }
                _ => {}
            }
            i = (i + 1) & mask;
        }
    }

    pub(super) fn get(&self, name: &[u8]) -> Option<&V> {
        let i = self.find(self.hash(name), name)?;
        self.slots[i].as_ref().map(|s| &s.value)
    }

    pub(super) fn get_mut(&mut self, name: &[u8]) -> Option<&mut V> {
        let i = self.find(self.hash(name), name)?;
        self.slots[i].as_mut().map(|s| &mut s.value)
    }

    /// [`Self::get`] that sets the entry's reference bit: the CLOCK hand spares it once.
    pub(super) fn get_referenced(&mut self, name: &[u8]) -> Option<&V> {
        let i = self.find(self.hash(name), name)?;
        self.slots[i].as_mut().map(|s| {
            s.referenced = true;
            &s.value
        })
    }

    /// Adds `name`, which the table must not hold yet.
    pub(super) fn insert(&mut self, name: ShortBytes, value: V) {
        debug_assert!(self.get(&name).is_none(), "inserted twice");
        if (self.len + 1) * 8 > self.slots.len() * 7 {
            self.resize((self.slots.len() * 2).max(MIN_SLOTS));
        }
        let hash = self.hash(&name);
        let slot = Slot {
            name,
            hash: (hash >> 32) as u32,
            referenced: false,
            value,
        };
        self.place(tag(hash), slot);
        self.len += 1;
    }

    /// Puts an entry in the first empty slot from the one it wants.
    fn place(&mut self, tag: u8, slot: Slot<V>) {
        let mask = self.mask();
        let mut i = self.wanted(u64::from(slot.hash) << 32);
        while self.tags[i] != EMPTY {
            i = (i + 1) & mask;
        }
        self.tags[i] = tag;
        self.slots[i] = Some(slot);
    }

    /// Rebuilds the table with `slots` slots (a power of two, or 0 when empty).
    fn resize(&mut self, slots: usize) {
        let (old, old_tags) = (
            std::mem::take(&mut self.slots),
            std::mem::take(&mut self.tags),
        );
        // The hand keeps its place in the order of the slots (see [`Self::wanted`]).
        self.hand = match old.len() {
            0 => 0,
            n => (self.hand as u128 * slots as u128 / n as u128) as usize,
        };
        self.tags = vec![EMPTY; slots];
        self.slots = Vec::with_capacity(slots);
        self.slots.resize_with(slots, || None);
        for (slot, tag) in old.into_iter().zip(old_tags) {
            if let Some(slot) = slot {
                self.place(tag, slot);
            }
        }
    }

    pub(super) fn remove(&mut self, name: &[u8]) -> Option<(ShortBytes, V)> {
        let i = self.find(self.hash(name), name)?;
        Some(self.take(i))
    }

    /// Empties slot `i` and moves back the entries after it that would no longer be found
    /// (those whose wanted slot is not between the freed one and theirs).
    fn take(&mut self, i: usize) -> (ShortBytes, V) {
        let slot = self.slots[i].take().expect("an occupied slot");
        self.tags[i] = EMPTY;
        self.len -= 1;
        let mask = self.mask();
        let (mut free, mut j) = (i, (i + 1) & mask);
        while self.tags[j] != EMPTY {
            let wants = self.slots[j]
                .as_ref()
                .map_or(j, |s| self.wanted(u64::from(s.hash) << 32));
            // Distances going forward, around the end: the entry stays if its wanted slot
            // lies after the freed one.
            let stays = (j.wrapping_sub(wants) & mask) < (j.wrapping_sub(free) & mask);
            if !stays {
                self.slots[free] = self.slots[j].take();
                self.tags[free] = std::mem::replace(&mut self.tags[j], EMPTY);
                free = j;
            }
            j = (j + 1) & mask;
        }
        if self.slots.len() > MIN_SLOTS && self.len * 4 < self.slots.len() {
            self.resize(self.slots.len() / 2);
        }
        (slot.name, slot.value)
    }

    /// One step of CLOCK: moves the hand to the next entry, which gets another round if it
    /// was read since the hand last passed it and `may_spare`; if not, it is removed.
    pub(super) fn clock(&mut self, may_spare: bool) -> Clock<V> {
        if self.len == 0 {
            return Clock::Empty;
        }
        // The hand does not go down (or up) the slots in order but strides across them (an
        // odd stride, so that a cycle visits every slot), so that evictions thin the table
        // evenly. In order, under a stream of new entries and no rereads, the hand emptied
        // the stretch behind it while the entries added elsewhere packed the rest of the
        // table solid: inserts and removals there walked runs of thousands of slots.
        // Empty slots under the hand are stepped over the same way: taking the nearest entry
        // before one instead picked the entries after gaps more often, and left the packed
        // stretches packed.
        let (mask, stride) = (self.mask(), self.stride());
        let mut i = self.hand & mask;
        while self.tags[i] == EMPTY {
            i = i.wrapping_add(stride) & mask;
        }
        self.hand = i.wrapping_add(stride) & mask;
        let spared = self.slots[i]
            .as_mut()
            .is_some_and(|s| may_spare && std::mem::take(&mut s.referenced));
        if spared {
            return Clock::Spared;
        }
        let (name, value) = self.take(i);
        Clock::Evicted(name, value)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn name(i: u64) -> Vec<u8> {
        // Long names too, kept apart from the slot.
        if i % 7 == 0 {
            format!("a-name-long-enough-to-leave-the-slot:{i}").into_bytes()
        } else {
            format!("e:{i}").into_bytes()
        }
    }

    /// Every entry can be found from where it wants to sit without crossing an empty slot,
    /// and the counts agree.
    fn check(t: &Table<u64>, model: &HashMap<Vec<u8>, u64>) {
        assert_eq!(t.len(), model.len());
        assert_eq!(t.tags.iter().filter(|&&g| g != EMPTY).count(), model.len());
        for (k, v) in model {
            assert_eq!(t.get(k), Some(v), "{}", String::from_utf8_lossy(k));
        }
    }

    #[test]
    fn follows_a_model_through_inserts_removals_growth_and_shrinking() {
        let mut t = Table::default();
        let mut model = HashMap::new();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..20_000u64 {
            let k = name(next() % 3_000);
            // Mostly inserts in the first half, mostly removals in the second: the table
            // grows to thousands of slots and shrinks back.
            let insert = next() % 10 < if round < 10_000 { 7 } else { 2 };
            if insert {
                match t.get_mut(&k) {
                    Some(v) => *v = round,
                    None => t.insert(ShortBytes::copy_from_slice(&k), round),
                }
                model.insert(k.clone(), round);
            } else {
                let removed = t.remove(&k).map(|(n, v)| (n.to_vec(), v));
                assert_eq!(removed, model.remove_entry(&k));
            }
            assert_eq!(t.get(&k), model.get(&k));
            if round % 1_000 == 0 {
                check(&t, &model);
            }
        }
        check(&t, &model);
        let grown = t.slots.len();
        for (k, _) in std::mem::take(&mut model) {
            assert!(t.remove(&k).is_some());
        }
        check(&t, &model);
        assert!(
            grown >= 512 && t.slots.len() == MIN_SLOTS,
            "{grown} -> {}",
            t.slots.len()
        );
        assert!(matches!(t.clock(true), Clock::Empty));
    }

    #[test]
    fn the_clock_spares_entries_read_since_it_passed_and_evicts_each_entry_once() {
        let mut t = Table::default();
        for i in 0..1_000u64 {
            t.insert(ShortBytes::copy_from_slice(&name(i)), i);
        }
        // Even entries are read: they get one more round, unless sparing is refused.
        for i in (0..1_000).step_by(2) {
            assert_eq!(t.get_referenced(&name(i)), Some(&i));
        }
        let (mut evicted, mut spared, mut steps) = (Vec::new(), 0, 0);
        loop {
            steps += 1;
            // Every tenth step may not spare (as past the cache's pass limit).
            match t.clock(steps % 10 != 0) {
                Clock::Empty => break,
                Clock::Spared => spared += 1,
                Clock::Evicted(n, _) => evicted.push(n.to_vec()),
            }
        }
        assert!((400..500).contains(&spared), "{spared}");
        evicted.sort();
        let mut all: Vec<_> = (0..1_000).map(name).collect();
        all.sort();
        assert_eq!(evicted, all);
        assert!(t.is_empty());
    }

    /// Mean distance of the entries from the slot they want: what a lookup, an insert and a
    /// removal step over.
    fn mean_displacement(t: &Table<u64>) -> f64 {
        let mask = t.mask();
        let total: usize = (0..t.slots.len())
            .filter_map(|i| {
                let s = t.slots[i].as_ref()?;
                Some(i.wrapping_sub(t.wanted(u64::from(s.hash) << 32)) & mask)
            })
            .sum();
        total as f64 / t.len() as f64
    }

    /// A full cache under misses: each new entry comes in as the clock evicts one, nothing
    /// read again. The evictions must thin the table evenly: a hand going down the slots in
    /// order emptied the stretch behind it while the entries added elsewhere packed the rest
    /// solid, until an insert or a removal there walked runs of thousands of slots (the
    /// executor spent 98% of its time in them under random SADDs beside a million-member set,
    /// 2,400 adds a second).
    #[test]
    fn evictions_under_a_steady_stream_of_new_entries_keep_the_runs_short() {
        let mut t = Table::default();
        let n = 50_000u64; // 76% of 65,536 slots
        for i in 0..n {
            t.insert(ShortBytes::copy_from_slice(&name(i)), i);
        }
        let fresh = mean_displacement(&t);
        let mut worst = fresh;
        for i in n..n * 6 {
            t.insert(ShortBytes::copy_from_slice(&name(i)), i);
            assert!(matches!(t.clock(true), Clock::Evicted(..)));
            if i % 10_000 == 0 {
                worst = worst.max(mean_displacement(&t));
            }
        }
        assert_eq!(t.len(), n as usize);
        assert_eq!(t.slots.len(), 65_536);
        // Uniform at this load, linear probing displaces an entry by about 1.6 slots.
        assert!(worst < 2.0 * fresh + 1.0, "{fresh:.1} -> {worst:.1}");
    }

    #[test]
    fn prefetching_reads_nothing_a_lookup_would_not() {
        let mut t: Table<u64> = Table::default();
        let h = t.hash(b"absent");
        t.prefetch_tags(h);
        t.prefetch_entry(h);
        t.insert(ShortBytes::copy_from_slice(b"x"), 1);
        for n in [&b"x"[..], b"absent"] {
            let h = t.hash(n);
            t.prefetch_tags(h);
            t.prefetch_entry(h);
        }
        assert_eq!(t.get(b"x"), Some(&1));
    }
}
