//! The queued members of one large sorted set in score order, for its reads from an end.
//!
//! A read from an end of a large sorted set (ZPOPMIN's refill of what
//! [`super::zset_end`] keeps) needs the set's first queued members by their newest scores
//! ([`super::element_rows::ElementRows::first_members`]). The queue orders entries by
//! member, so that was a pass over every queued entry of the set: 5-7 ms of the executor
//! with 100,000 members queued by the ZADDs before, once per refill (every few thousand
//! pops), and as much again once the pops' own deletions queued up. The first such read of
//! a set with many queued entries now sorts its members once into this index; the queue
//! tells it of every change of that set's entries from then on, and each read takes its
//! first members from the index, in O(n log N).
//!
//! One set at a time (the last one read from an end with many members queued), as
//! [`super::zset_end`] keeps one set's end. The index holds, for each member of the set with
//! a queued entry, the newest entry's score (a queued deletion is not in it).

use std::cmp::Ordering;
use std::collections::BTreeSet;

use bytes::Bytes;

use super::{CollectionId, ShortBytes};

/// Queued entries (members or deletions) a set needs before its reads from an end build the
/// index: a pass over fewer costs less than the index's upkeep.
pub(super) const INDEX_MIN: usize = 1024;

/// What an indexed member costs beyond its bytes past the inline ones: the tree's share of
/// a node and the entry.
const ENTRY_BYTES: usize = 48;

/// A score ordered as [`super::zset_end::order`] orders them (`f64::total_cmp`).
#[derive(Clone, Copy, Debug)]
struct Score(f64);

impl PartialEq for Score {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Score {}

impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Score {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// One sorted set's queued members by (score, member).
struct Index {
    cid: CollectionId,
    members: BTreeSet<(Score, ShortBytes)>,
    bytes: usize,
}

fn entry_bytes(member: &ShortBytes) -> usize {
    ENTRY_BYTES + member.len().saturating_sub(super::short_bytes::INLINE)
}

/// The index of one sorted set's queued members, if any (see the module's doc).
#[derive(Default)]
pub(super) struct QueuedScores {
    index: Option<Index>,
}

impl QueuedScores {
    /// Indexes `cid`'s queued members, given as (member, newest score), in place of the set
    /// indexed before.
    pub(super) fn build<'a>(
        &mut self,
        cid: CollectionId,
        members: impl Iterator<Item = (&'a ShortBytes, f64)>,
    ) {
        // Sorted at once, then built from the sorted entries (which the tree's own sort
        // finds sorted in one pass).
        let mut sorted: Vec<(Score, ShortBytes)> = members
            .map(|(member, score)| (Score(score), member.clone()))
            .collect();
        sorted.sort_unstable();
        let members: BTreeSet<(Score, ShortBytes)> = sorted.into_iter().collect();
        let bytes = members.iter().map(|(_, m)| entry_bytes(m)).sum();
        self.index = Some(Index {
            cid,
            members,
            bytes,
        });
    }

    /// Whether any set's members are indexed.
    pub(super) fn is_active(&self) -> bool {
        self.index.is_some()
    }

    /// Whether `cid`'s members are indexed.
    pub(super) fn covers(&self, cid: CollectionId) -> bool {
        self.index.as_ref().is_some_and(|i| i.cid == cid)
    }

    /// A member of the indexed set whose newest queued score went from `old` to `new`
    /// (`None`: no queued entry, or a queued deletion). Members of other sets are ignored.
    pub(super) fn replace(
        &mut self,
        cid: CollectionId,
        member: &ShortBytes,
        old: Option<f64>,
        new: Option<f64>,
    ) {
        let Some(index) = self.index.as_mut().filter(|i| i.cid == cid) else {
            return;
        };
        if old.map(f64::to_bits) == new.map(f64::to_bits) {
            return;
        }
        if let Some(old) = old {
            if index.members.remove(&(Score(old), member.clone())) {
                index.bytes -= entry_bytes(member);
            }
        }
        if let Some(new) = new {
            if index.members.insert((Score(new), member.clone())) {
                index.bytes += entry_bytes(member);
            }
        }
    }

    /// The first `n` members of the indexed set `cid` from an end (the highest with `rev`),
    /// in that order; `None` when `cid` is not the one indexed.
    pub(super) fn first(
        &self,
        cid: CollectionId,
        n: usize,
        rev: bool,
    ) -> Option<Vec<(Bytes, f64)>> {
        let index = self.index.as_ref().filter(|i| i.cid == cid)?;
        let entry = |(score, member): &(Score, ShortBytes)| {
            (Bytes::copy_from_slice(member.as_slice()), score.0)
        };
        Some(if rev {
            index.members.iter().rev().take(n).map(entry).collect()
        } else {
            index.members.iter().take(n).map(entry).collect()
        })
    }

    /// Drops the index of `cid` (of whatever set is indexed, with `None`): its entries left
    /// the queue other than one by one.
    pub(super) fn forget(&mut self, cid: Option<CollectionId>) {
        if cid.is_none_or(|cid| self.covers(cid)) {
            self.index = None;
        }
    }

    /// Bytes the index takes.
    pub(super) fn bytes(&self) -> usize {
        self.index.as_ref().map_or(0, |i| i.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str) -> ShortBytes {
        ShortBytes::copy_from_slice(s.as_bytes())
    }

    fn names(first: Option<Vec<(Bytes, f64)>>) -> Vec<(String, f64)> {
        first
            .expect("indexed")
            .into_iter()
            .map(|(m, s)| (String::from_utf8(m.to_vec()).unwrap(), s))
            .collect()
    }

    #[test]
    fn reads_follow_every_change_in_score_then_member_order() {
        let mut q = QueuedScores::default();
        let (a, b, c, long) = (m("a"), m("b"), m("c"), m(&"z".repeat(40)));
        q.build(
            7,
            [(&a, 2.0), (&b, 1.0), (&c, 1.0), (&long, -0.5)].into_iter(),
        );
        assert!(q.covers(7) && !q.covers(8));
        assert_eq!(q.first(8, 2, false), None);
        let z40 = "z".repeat(40);
        assert_eq!(
            names(q.first(7, 3, false)),
            [(z40.clone(), -0.5), ("b".into(), 1.0), ("c".into(), 1.0)]
        );
        assert_eq!(
            names(q.first(7, 2, true)),
            [("a".into(), 2.0), ("c".into(), 1.0)]
        );
        // Re-scored, deleted, added; another set's change is ignored.
        q.replace(7, &a, Some(2.0), Some(0.0));
        q.replace(7, &c, Some(1.0), None);
        let d = m("d");
        q.replace(7, &d, None, Some(f64::INFINITY));
        q.replace(8, &b, Some(1.0), None);
        assert_eq!(
            names(q.first(7, 10, false)),
            [
                (z40, -0.5),
                ("a".into(), 0.0),
                ("b".into(), 1.0),
                ("d".into(), f64::INFINITY)
            ]
        );
        let before = q.bytes();
        q.replace(7, &long, Some(-0.5), None);
        assert!(q.bytes() < before);
        q.forget(Some(8));
        assert!(q.covers(7));
        q.forget(Some(7));
        assert!(!q.covers(7));
        assert_eq!(q.bytes(), 0);
    }
}
