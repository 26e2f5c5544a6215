//! The first members of one large sorted set from one end, kept for the pops that follow.
//!
//! ZPOPMIN (ZPOPMAX, BZPOPMIN, ZMPOP, ZRANGE 0 n) on a large sorted set read its lowest
//! members with a statement over the score index, after working out which of the
//! collection's queued rows that read needs applied first ([`super::element_rows`]): a pass
//! over every queued member of the set, each pop, and with 100,000 members queued by the
//! ZADDs before it, two thirds of the executor's time went into that pass. A read from an
//! end now takes [`END_ENTRIES`] members at once and keeps them here; the reads that follow
//! from the same end are answered from them, and the pops' deletions are queued like any
//! element's. The read itself applies nothing on the executor's thread
//! (`SqliteStore::zset_first`): it merges the first queued members by their newest scores
//! with the table's first rows, less the rows of members that have a queued entry; once
//! the kept members are all popped, the table is read from past the last of them
//! ([`ZsetEnd::resume`]), not from the set's first rows, the popped ones, whose deletions
//! may still wait in the queue (skipping them, each read stepped over every member popped
//! so far).
//!
//! What is kept stays true because the store tells this every change of the set's members
//! ([`ZsetEnd::put`], [`ZsetEnd::deleted`]): a member deleted from the kept ones (a pop) is
//! taken out of them, a member written at or before the last kept one drops them all, and
//! one written past it leaves them as they are (they are still the first ones). Whatever
//! makes the element cache forget a collection (a drop, a copy, an expiry sweep, a rollback,
//! a plugin's SQL) drops them too: they live in the element cache
//! ([`super::element_cache::ElementCache`]).
//!
//! One sorted set's end at a time (the last read from an end): a queue's consumer pops from
//! one key; two consumers of two keys take turns refilling it, each read as before.

use std::cmp::Ordering;
use std::collections::VecDeque;

use bytes::Bytes;

use super::CollectionId;

/// Members a read from an end of a large sorted set takes, to keep; each read that follows
/// the pops that used up what the last one kept takes twice as many, up to
/// [`MAX_END_ENTRIES`]: a read's pass over the set's queued members is then shared by more
/// pops.
pub(super) const END_ENTRIES: usize = 128;
/// The most members kept.
const MAX_END_ENTRIES: usize = 4096;

/// Members with their scores, in order from an end.
type Entries = VecDeque<(Bytes, f64)>;

/// What is kept of one end of one sorted set.
struct Kept {
    cid: CollectionId,
    /// From the highest score.
    rev: bool,
    /// Its first members from that end, in that order, less those deleted since.
    entries: Entries,
    /// The last of them when read: every member up to it (in that order) was among them,
    /// so once they are all popped, the next read of the table starts past it.
    last: Option<(Bytes, f64)>,
}

/// The kept members (see the module's doc).
#[derive(Default)]
pub(super) struct ZsetEnd {
    kept: Option<Kept>,
    /// How many members the last read from that end took.
    taken: usize,
}

/// The order of members from an end: by score, then by member's bytes; reversed for `rev`.
pub(super) fn order(rev: bool, a: (f64, &[u8]), b: (f64, &[u8])) -> Ordering {
    let o = a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1));
    if rev {
        o.reverse()
    } else {
        o
    }
}

impl ZsetEnd {
    /// What is kept of `cid`'s end `rev`.
    fn of(&self, cid: CollectionId, rev: bool) -> Option<&Kept> {
        self.kept.as_ref().filter(|k| k.cid == cid && k.rev == rev)
    }

    /// The first `n` members of `cid` from its end `rev`, if that many are kept.
    pub(super) fn first(
        &self,
        cid: CollectionId,
        rev: bool,
        n: usize,
    ) -> Option<Vec<(Bytes, f64)>> {
        let kept = self.of(cid, rev).filter(|k| k.entries.len() >= n)?;
        Some(kept.entries.iter().take(n).cloned().collect())
    }

    /// How many members a read of the first members of `cid` from its end `rev` takes: twice
    /// as many as the last one, when it kept that end and no write dropped it since.
    pub(super) fn to_take(&self, cid: CollectionId, rev: bool) -> usize {
        match self.of(cid, rev) {
            Some(_) => (self.taken * 2).min(MAX_END_ENTRIES),
            None => END_ENTRIES,
        }
    }

    /// Where a read of the table for the first members of `cid` from its end `rev` starts
    /// (past that member): past the last member kept, once every kept one was popped.
    pub(super) fn resume(&self, cid: CollectionId, rev: bool) -> Option<(Bytes, f64)> {
        let kept = self.of(cid, rev).filter(|k| k.entries.is_empty())?;
        kept.last.clone()
    }

    /// Keeps `entries`, the first members of `cid` from its end `rev` (all of them, or the
    /// first `taken`), in order.
    pub(super) fn keep(
        &mut self,
        cid: CollectionId,
        rev: bool,
        entries: Vec<(Bytes, f64)>,
        taken: usize,
    ) {
        let last = entries.last().cloned();
        self.kept = Some(Kept {
            cid,
            rev,
            entries: entries.into(),
            last,
        });
        self.taken = taken;
    }

    /// Member `member` of `cid` now has `score` (and had `old`).
    pub(super) fn put(&mut self, cid: CollectionId, member: &[u8], score: f64, old: Option<f64>) {
        let Some(kept) = self.kept.as_ref().filter(|k| k.cid == cid) else {
            return;
        };
        let reaches = |s: f64| match &kept.last {
            Some((last, last_score)) => order(kept.rev, (s, member), (*last_score, last)).is_le(),
            None => true,
        };
        if reaches(score) || old.is_some_and(reaches) {
            self.kept = None;
        }
    }

    /// Member `member` of `cid`, of score `score`, was deleted.
    pub(super) fn deleted(&mut self, cid: CollectionId, member: &[u8], score: f64) {
        let Some(kept) = self.kept.as_mut().filter(|k| k.cid == cid) else {
            return;
        };
        let entries = &mut kept.entries;
        if entries
            .front()
            .is_some_and(|(m, s)| *s == score && m[..] == *member)
        {
            entries.pop_front(); // a pop
            return;
        }
        let Some((last, last_score)) = entries.back() else {
            return;
        };
        if order(kept.rev, (score, member), (*last_score, last)).is_gt() {
            return; // past the kept ones
        }
        match entries
            .iter()
            .position(|(m, s)| *s == score && m[..] == *member)
        {
            Some(i) => {
                entries.remove(i);
            }
            None => self.kept = None, // (cannot happen: they would not be the first)
        }
    }

    /// Drops what is kept of `cid`.
    pub(super) fn forget(&mut self, cid: CollectionId) {
        if self.kept.as_ref().is_some_and(|k| k.cid == cid) {
            self.kept = None;
        }
    }

    /// Drops everything.
    pub(super) fn clear(&mut self) {
        self.kept = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(list: &[(&str, f64)]) -> Vec<(Bytes, f64)> {
        list.iter()
            .map(|(m, s)| (Bytes::copy_from_slice(m.as_bytes()), *s))
            .collect()
    }

    #[test]
    fn pops_take_the_front_and_writes_before_the_last_kept_drop_them() {
        let mut end = ZsetEnd::default();
        assert_eq!(end.to_take(7, false), END_ENTRIES);
        let first = entries(&[("a", 1.0), ("b", 2.0), ("c", 2.0), ("d", 5.0)]);
        end.keep(7, false, first, 4);
        // A read from the same end, once these are used up, takes twice as many.
        assert_eq!(end.to_take(7, false), 8);
        assert_eq!(end.to_take(7, true), END_ENTRIES);
        assert_eq!(
            end.first(7, false, 2),
            Some(entries(&[("a", 1.0), ("b", 2.0)]))
        );
        assert_eq!(end.first(7, true, 1), None);
        assert_eq!(end.first(8, false, 1), None);
        assert_eq!(end.first(7, false, 5), None);
        // A pop, then a deletion in the middle.
        end.deleted(7, b"a", 1.0);
        end.deleted(7, b"c", 2.0);
        assert_eq!(
            end.first(7, false, 2),
            Some(entries(&[("b", 2.0), ("d", 5.0)]))
        );
        // Writes and deletions past the last kept member, or of another set, change nothing.
        end.put(7, b"e", 5.0, None);
        end.put(7, b"z", 9.0, Some(6.0));
        end.deleted(7, b"q", 7.0);
        end.put(8, b"a", 0.0, None);
        assert_eq!(
            end.first(7, false, 2),
            Some(entries(&[("b", 2.0), ("d", 5.0)]))
        );
        // A member written before the last kept one (ties by member), or moved from there.
        end.put(7, b"c", 5.0, None);
        assert_eq!(end.first(7, false, 1), None);
        assert_eq!(end.to_take(7, false), END_ENTRIES);
        end.keep(7, false, entries(&[("b", 2.0), ("d", 5.0)]), 2);
        end.put(7, b"b", 9.0, Some(2.0));
        assert_eq!(end.first(7, false, 1), None);
        // Once the kept members are all popped, the next read starts past the last of them,
        // until a write lands at or before it.
        end.keep(7, false, entries(&[("a", 1.0), ("b", 2.0)]), 2);
        assert_eq!(end.resume(7, false), None);
        end.deleted(7, b"a", 1.0);
        end.deleted(7, b"b", 2.0);
        assert_eq!(end.first(7, false, 1), None);
        assert_eq!(
            end.resume(7, false),
            Some(entries(&[("b", 2.0)])[0].clone())
        );
        assert_eq!(end.resume(7, true), None);
        end.put(7, b"z", 3.0, None);
        assert!(end.resume(7, false).is_some());
        end.put(7, b"a", 2.0, None);
        assert_eq!(end.resume(7, false), None);
    }

    #[test]
    fn the_highest_end_orders_backwards() {
        let mut end = ZsetEnd::default();
        end.keep(3, true, entries(&[("z", 9.0), ("y", 9.0), ("m", 4.0)]), 3);
        end.put(3, b"a", 4.0, None); // after ("m", 4) from the top
        assert!(end.first(3, true, 3).is_some());
        end.deleted(3, b"z", 9.0);
        assert_eq!(
            end.first(3, true, 2),
            Some(entries(&[("y", 9.0), ("m", 4.0)]))
        );
        end.put(3, b"n", 4.0, None); // before ("m", 4) from the top
        assert_eq!(end.first(3, true, 1), None);
        end.keep(3, true, entries(&[("y", 9.0)]), MAX_END_ENTRIES);
        assert_eq!(end.to_take(3, true), MAX_END_ENTRIES);
        end.forget(4);
        assert!(end.first(3, true, 1).is_some());
        end.forget(3);
        assert!(end.first(3, true, 1).is_none());
    }
}
