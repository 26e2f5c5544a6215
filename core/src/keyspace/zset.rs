//! Sorted sets: small ones inline in the key's row (Redis's listpack: entries sorted by score,
//! then member), large ones one member per row in two orders, member -> score for point
//! lookups and (score, member) for ranks, ranges and pops, so ZADD or ZPOPMIN on a sorted set
//! of a million members touches a few rows.
//!
//! Costs on a large sorted set: ZADD, ZREM, ZSCORE and a pop are a few index probes; a range
//! is one index seek plus the rows it returns (and those an offset skips); ZRANK and ZCOUNT
//! count rows, so they cost O(rank) and O(matches), where Redis's skiplist answers in
//! O(log N).

use bytes::Bytes;

use super::hash::Backing;
use super::value::{put_varint, Reader};
use crate::storage::{CollectionId, LexBound, ScoreBound, Store, StoreError, ZRange};

/// Cache cost of one inline entry beyond its member's bytes.
const ENTRY_OVERHEAD: usize = 40;
/// Cache cost of a sorted set's header.
const HEADER: usize = 32;

const FORMAT_SMALL: u8 = 0;
const FORMAT_LARGE: u8 = 1;

#[derive(Clone, Debug, PartialEq)]
enum Repr {
    Small {
        /// Sorted by (score, member).
        entries: Vec<(f64, Bytes)>,
        /// Sum of the members' lengths, for the cache's accounting.
        bytes: usize,
    },
    Large {
        cid: CollectionId,
        len: u64,
    },
}

/// A Redis sorted set.
#[derive(Clone, Debug, PartialEq)]
pub struct ZSet {
    repr: Repr,
    /// Bumped by every change, so the keyspace can tell whether a write access changed it.
    mods: u64,
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet::new()
    }
}

/// Redis's order: by score, then by member bytes.
fn order(a: (f64, &[u8]), b: (f64, &[u8])) -> std::cmp::Ordering {
    a.0.partial_cmp(&b.0)
        .unwrap_or(std::cmp::Ordering::Equal)
        .then_with(|| a.1.cmp(b.1))
}

impl ZSet {
    /// An empty sorted set (it becomes a key once it has a member).
    pub fn new() -> ZSet {
        ZSet {
            repr: Repr::Small {
                entries: Vec::new(),
                bytes: 0,
            },
            mods: 0,
        }
    }

    /// Number of members.
    pub fn len(&self) -> u64 {
        match &self.repr {
            Repr::Small { entries, .. } => entries.len() as u64,
            Repr::Large { len, .. } => *len,
        }
    }

    /// Whether the sorted set has no member.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// OBJECT ENCODING.
    pub fn encoding(&self) -> &'static str {
        match self.repr {
            Repr::Small { .. } => "listpack",
            Repr::Large { .. } => "skiplist",
        }
    }

    /// The element rows' collection, for a large sorted set.
    pub fn cid(&self) -> Option<CollectionId> {
        match self.repr {
            Repr::Small { .. } => None,
            Repr::Large { cid, .. } => Some(cid),
        }
    }

    /// Bytes the cache charges.
    pub fn size(&self) -> usize {
        match &self.repr {
            Repr::Small { entries, bytes } => HEADER + bytes + entries.len() * ENTRY_OVERHEAD,
            Repr::Large { .. } => HEADER,
        }
    }

    pub(super) fn mods(&self) -> u64 {
        self.mods
    }

    /// A member's score.
    pub fn score(&self, store: &mut dyn Store, member: &[u8]) -> Result<Option<f64>, StoreError> {
        match &self.repr {
            Repr::Small { entries, .. } => {
                Ok(entries.iter().find(|(_, m)| m == member).map(|(s, _)| *s))
            }
            Repr::Large { cid, .. } => store.zset_score(*cid, member),
        }
    }

    /// Adds a member or changes its score; returns its previous score.
    pub fn insert(
        &mut self,
        backing: &mut Backing<'_>,
        member: Bytes,
        score: f64,
    ) -> Result<Option<f64>, StoreError> {
        let old = self.score(backing.store, &member)?;
        if old != Some(score) {
            self.set_score(backing, member, score, old)?;
        }
        Ok(old)
    }

    /// Sets a member's score when its current one, `old`, is known (`None`: not a member).
    pub fn set_score(
        &mut self,
        backing: &mut Backing<'_>,
        member: Bytes,
        score: f64,
        old: Option<f64>,
    ) -> Result<(), StoreError> {
        self.mods += 1;
        if let Repr::Small { entries, .. } = &self.repr {
            let limits = backing.limits;
            if member.len() > limits.zset_max_listpack_value
                || (old.is_none() && entries.len() >= limits.zset_max_listpack_entries)
            {
                self.make_large(backing)?;
            }
        }
        match &mut self.repr {
            Repr::Small { entries, bytes } => {
                if let Some(old) = old {
                    if let Ok(i) = entries.binary_search_by(|(s, m)| order((*s, m), (old, &member)))
                    {
                        entries.remove(i);
                        *bytes -= member.len();
                    }
                }
                let at = entries
                    .binary_search_by(|(s, m)| order((*s, m), (score, &member)))
                    .unwrap_or_else(|i| i);
                *bytes += member.len();
                entries.insert(at, (score, member));
            }
            Repr::Large { cid, len } => {
                backing.store.zset_put(*cid, &member, score, old)?;
                if old.is_none() {
                    *len += 1;
                }
            }
        }
        Ok(())
    }

    /// Moves the entries into rows of a new collection.
    fn make_large(&mut self, backing: &mut Backing<'_>) -> Result<(), StoreError> {
        let Repr::Small { entries, .. } = &self.repr else {
            return Ok(());
        };
        let cid = backing.new_cid();
        for (score, member) in entries {
            backing.store.zset_put(cid, member, *score, None)?;
        }
        self.repr = Repr::Large {
            cid,
            len: entries.len() as u64,
        };
        Ok(())
    }

    /// Removes a member; returns its score if it was there.
    pub fn remove(
        &mut self,
        store: &mut dyn Store,
        member: &[u8],
    ) -> Result<Option<f64>, StoreError> {
        let Some(score) = self.score(store, member)? else {
            return Ok(None);
        };
        self.remove_entry(store, member, score)?;
        Ok(Some(score))
    }

    /// Removes a member known to have `score`.
    fn remove_entry(
        &mut self,
        store: &mut dyn Store,
        member: &[u8],
        score: f64,
    ) -> Result<(), StoreError> {
        self.mods += 1;
        match &mut self.repr {
            Repr::Small { entries, bytes } => {
                if let Ok(i) = entries.binary_search_by(|(s, m)| order((*s, m), (score, member))) {
                    entries.remove(i);
                    *bytes -= member.len();
                }
            }
            Repr::Large { cid, len } => {
                store.zset_delete(*cid, member, score)?;
                *len -= 1;
            }
        }
        Ok(())
    }

    /// Removes the given entries (as a range read returned them).
    pub fn remove_all(
        &mut self,
        store: &mut dyn Store,
        entries: &[(Bytes, f64)],
    ) -> Result<(), StoreError> {
        for (member, score) in entries {
            self.remove_entry(store, member, *score)?;
        }
        Ok(())
    }

    /// A member's rank (0-based, from the lowest score, or from the highest with `rev`) and
    /// score.
    pub fn rank(
        &self,
        store: &mut dyn Store,
        member: &[u8],
        rev: bool,
    ) -> Result<Option<(u64, f64)>, StoreError> {
        let Some(score) = self.score(store, member)? else {
            return Ok(None);
        };
        let before = match &self.repr {
            Repr::Small { entries, .. } => entries
                .binary_search_by(|(s, m)| order((*s, m), (score, member)))
                .unwrap_or_else(|i| i) as u64,
            Repr::Large { cid, .. } => {
                let lower = ZRange::scores(
                    ScoreBound::inclusive(f64::NEG_INFINITY),
                    ScoreBound {
                        value: score,
                        exclusive: true,
                    },
                );
                let same = ZRange {
                    min: ScoreBound::inclusive(score),
                    max: ScoreBound::inclusive(score),
                    lex_min: LexBound::Min,
                    lex_max: LexBound::Exclusive(Bytes::copy_from_slice(member)),
                };
                store.zset_count(*cid, &lower)? + store.zset_count(*cid, &same)?
            }
        };
        let rank = if rev {
            self.len().saturating_sub(1 + before)
        } else {
            before
        };
        Ok(Some((rank, score)))
    }

    /// Entries by rank, `start..=stop` already clamped to the set (`rev` counts from the
    /// highest score).
    pub fn range_by_rank(
        &self,
        store: &mut dyn Store,
        start: u64,
        stop: u64,
        rev: bool,
    ) -> Result<Vec<(Bytes, f64)>, StoreError> {
        let len = self.len();
        if start > stop || start >= len {
            return Ok(Vec::new());
        }
        let stop = stop.min(len - 1);
        let count = stop - start + 1;
        match &self.repr {
            Repr::Small { entries, .. } => {
                let pick = |(s, m): &(f64, Bytes)| (m.clone(), *s);
                let (a, b) = (start as usize, stop as usize + 1);
                Ok(if rev {
                    entries[len as usize - b..len as usize - a]
                        .iter()
                        .rev()
                        .map(pick)
                        .collect()
                } else {
                    entries[a..b].iter().map(pick).collect()
                })
            }
            Repr::Large { cid, .. } => {
                // An offset costs the rows it skips: read from the nearer end.
                let from_end = len - 1 - stop;
                if from_end < start {
                    let mut out =
                        store.zset_range(*cid, &ZRange::all(), !rev, from_end, Some(count))?;
                    out.reverse();
                    Ok(out)
                } else {
                    store.zset_range(*cid, &ZRange::all(), rev, start, Some(count))
                }
            }
        }
    }

    /// Entries within `range`, in order (descending with `rev`), after skipping `offset`,
    /// at most `limit`.
    pub fn range(
        &self,
        store: &mut dyn Store,
        range: &ZRange,
        rev: bool,
        offset: u64,
        limit: Option<u64>,
    ) -> Result<Vec<(Bytes, f64)>, StoreError> {
        let limit = limit.unwrap_or(u64::MAX);
        match &self.repr {
            Repr::Small { entries, .. } => {
                let matches = |(s, m): &&(f64, Bytes)| range.contains(*s, m);
                let pick = |(s, m): &(f64, Bytes)| (m.clone(), *s);
                let offset = usize::try_from(offset).unwrap_or(usize::MAX);
                let limit = usize::try_from(limit).unwrap_or(usize::MAX);
                Ok(if rev {
                    entries
                        .iter()
                        .rev()
                        .filter(matches)
                        .skip(offset)
                        .take(limit)
                        .map(pick)
                        .collect()
                } else {
                    entries
                        .iter()
                        .filter(matches)
                        .skip(offset)
                        .take(limit)
                        .map(pick)
                        .collect()
                })
            }
            Repr::Large { cid, .. } => {
                let range = self.pin_lex_range(store, range)?;
                store.zset_range(*cid, &range, rev, offset, Some(limit))
            }
        }
    }

    /// Number of entries within `range`.
    pub fn count(&self, store: &mut dyn Store, range: &ZRange) -> Result<u64, StoreError> {
        match &self.repr {
            Repr::Small { entries, .. } => Ok(entries
                .iter()
                .filter(|(s, m)| range.contains(*s, m))
                .count() as u64),
            Repr::Large { cid, .. } => {
                let range = self.pin_lex_range(store, range)?;
                store.zset_count(*cid, &range)
            }
        }
    }

    /// A lexicographic range over a large set whose members all share one score (the case
    /// Redis documents) gets that score, so the query seeks in the (score, member) index
    /// instead of reading every row.
    fn pin_lex_range(&self, store: &mut dyn Store, range: &ZRange) -> Result<ZRange, StoreError> {
        let Repr::Large { cid, .. } = &self.repr else {
            return Ok(range.clone());
        };
        if matches!(
            (&range.lex_min, &range.lex_max),
            (LexBound::Min, LexBound::Max)
        ) {
            return Ok(range.clone());
        }
        let all = ZRange::all();
        let lowest = store.zset_range(*cid, &all, false, 0, Some(1))?;
        let highest = store.zset_range(*cid, &all, true, 0, Some(1))?;
        match (lowest.first(), highest.first()) {
            (Some((_, lo)), Some((_, hi))) if lo == hi && range.score_in(*lo) => Ok(ZRange {
                min: ScoreBound::inclusive(*lo),
                max: ScoreBound::inclusive(*lo),
                ..range.clone()
            }),
            _ => Ok(range.clone()),
        }
    }

    /// Every entry in order.
    pub fn entries(&self, store: &mut dyn Store) -> Result<Vec<(Bytes, f64)>, StoreError> {
        self.range(store, &ZRange::all(), false, 0, None)
    }

    /// Entries from `cursor` on (ZSCAN); a small set is returned whole, as Redis does.
    pub fn scan(
        &self,
        store: &mut dyn Store,
        cursor: u64,
        count: usize,
    ) -> Result<(Vec<(Bytes, f64)>, u64), StoreError> {
        match &self.repr {
            Repr::Small { entries, .. } => {
                Ok((entries.iter().map(|(s, m)| (m.clone(), *s)).collect(), 0))
            }
            Repr::Large { cid, .. } => {
                let (elements, next) = store.scan_elements(*cid, cursor, count)?;
                let mut out = Vec::with_capacity(elements.len());
                for e in elements {
                    let bytes: [u8; 8] = e.value[..].try_into().map_err(|_| {
                        StoreError::Corrupt("sorted-set score of the wrong size".into())
                    })?;
                    out.push((e.sub, f64::from_le_bytes(bytes)));
                }
                Ok((out, next))
            }
        }
    }

    /// An entry picked at random (`seed` chooses it), or `None` when empty.
    pub fn random(
        &self,
        store: &mut dyn Store,
        seed: u64,
    ) -> Result<Option<(Bytes, f64)>, StoreError> {
        match &self.repr {
            Repr::Small { entries, .. } => Ok((!entries.is_empty()).then(|| {
                let (s, m) = &entries[(seed % entries.len() as u64) as usize];
                (m.clone(), *s)
            })),
            Repr::Large { cid, len } => {
                let Some(e) = super::pick::uniform_element(store, *cid, *len, seed)? else {
                    return Ok(None);
                };
                let bytes: [u8; 8] = e.value[..].try_into().map_err(|_| {
                    StoreError::Corrupt("sorted-set score of the wrong size".into())
                })?;
                Ok(Some((e.sub, f64::from_le_bytes(bytes))))
            }
        }
    }

    /// A copy with its own element rows (COPY).
    pub fn duplicate(&self, backing: &mut Backing<'_>) -> Result<ZSet, StoreError> {
        let repr = match &self.repr {
            Repr::Small { .. } => self.repr.clone(),
            Repr::Large { cid, len } => {
                let to = backing.new_cid();
                backing.store.copy_elements(*cid, to)?;
                Repr::Large { cid: to, len: *len }
            }
        };
        Ok(ZSet { repr, mods: 0 })
    }

    /// The key row's value: the entries of a small set, the length of a large one.
    pub(super) fn encode(&self) -> Bytes {
        let mut out = Vec::new();
        match &self.repr {
            Repr::Small { entries, bytes } => {
                out.reserve(1 + bytes + entries.len() * 10);
                out.push(FORMAT_SMALL);
                for (score, member) in entries {
                    out.extend_from_slice(&score.to_le_bytes());
                    put_varint(&mut out, member.len() as u64);
                    out.extend_from_slice(member);
                }
            }
            Repr::Large { len, .. } => {
                out.push(FORMAT_LARGE);
                put_varint(&mut out, *len);
            }
        }
        Bytes::from(out)
    }

    /// The sorted set a key row holds.
    pub(super) fn decode(raw: &[u8], cid: Option<CollectionId>) -> Result<ZSet, StoreError> {
        let mut r = Reader::new(raw, "sorted set");
        let repr = match (r.byte()?, cid) {
            (FORMAT_SMALL, None) => {
                let mut entries = Vec::new();
                let mut bytes = 0;
                while !r.is_empty() {
                    let score = f64::from_bits(r.i64()? as u64);
                    let member = r.bytes()?;
                    bytes += member.len();
                    entries.push((score, member));
                }
                Repr::Small { entries, bytes }
            }
            (FORMAT_LARGE, Some(cid)) => Repr::Large {
                cid,
                len: r.varint()?,
            },
            (format, cid) => {
                return Err(StoreError::Corrupt(format!(
                    "sorted-set row of format {format} with collection {cid:?}"
                )))
            }
        };
        Ok(ZSet { repr, mods: 0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Synchronous;
    use crate::keyspace::Encodings;
    use crate::storage::SqliteStore;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn members(entries: &[(Bytes, f64)]) -> Vec<String> {
        entries
            .iter()
            .map(|(m, _)| String::from_utf8_lossy(m).into_owned())
            .collect()
    }

    /// Runs the same checks on a set kept inline and one kept in rows.
    fn both(check: impl Fn(&mut ZSet, &mut Backing<'_>)) {
        for entries_limit in [128, 0] {
            let mut store = SqliteStore::open(":memory:", Synchronous::Normal).unwrap();
            let mut next = 1;
            let mut backing = Backing {
                store: &mut store,
                next_id: &mut next,
                limits: Encodings {
                    zset_max_listpack_entries: entries_limit,
                    ..Encodings::default()
                },
            };
            let mut z = ZSet::new();
            check(&mut z, &mut backing);
            assert_eq!(
                z.encoding(),
                if entries_limit == 0 {
                    "skiplist"
                } else {
                    "listpack"
                }
            );
        }
    }

    #[test]
    fn orders_by_score_then_member_in_both_encodings() {
        both(|z, backing| {
            for (s, m) in [(2.0, "b"), (1.0, "z"), (2.0, "a"), (f64::INFINITY, "i")] {
                assert_eq!(z.insert(backing, b(m), s).unwrap(), None);
            }
            assert_eq!(z.insert(backing, b("m"), f64::NEG_INFINITY).unwrap(), None);
            assert_eq!(z.insert(backing, b("z"), 5.0).unwrap(), Some(1.0));
            let store = &mut *backing.store;
            let all = z.entries(store).unwrap();
            assert_eq!(members(&all), ["m", "a", "b", "z", "i"]);
            assert_eq!(z.len(), 5);
            assert_eq!(z.rank(store, b"b", false).unwrap(), Some((2, 2.0)));
            assert_eq!(z.rank(store, b"b", true).unwrap(), Some((2, 2.0)));
            assert_eq!(z.rank(store, b"i", true).unwrap(), Some((0, f64::INFINITY)));
            assert_eq!(z.rank(store, b"nope", false).unwrap(), None);
            assert_eq!(
                members(&z.range_by_rank(store, 1, 3, true).unwrap()),
                ["z", "b", "a"]
            );
            assert_eq!(
                members(&z.range_by_rank(store, 3, 100, false).unwrap()),
                ["z", "i"]
            );
            let range = ZRange::scores(
                ScoreBound {
                    value: 2.0,
                    exclusive: true,
                },
                ScoreBound::inclusive(f64::INFINITY),
            );
            assert_eq!(
                members(&z.range(store, &range, false, 0, None).unwrap()),
                ["z", "i"]
            );
            assert_eq!(z.count(store, &range).unwrap(), 2);
            assert_eq!(
                members(&z.range(store, &range, true, 1, Some(5)).unwrap()),
                ["z"]
            );
            assert_eq!(z.remove(store, b"a").unwrap(), Some(2.0));
            assert_eq!(z.remove(store, b"a").unwrap(), None);
            assert_eq!(z.score(store, b"b").unwrap(), Some(2.0));
            let back = ZSet::decode(&z.encode(), z.cid()).unwrap();
            assert_eq!(back.entries(store).unwrap(), z.entries(store).unwrap());
        });
    }

    #[test]
    fn lex_ranges_compare_bytes() {
        both(|z, backing| {
            for m in ["a", "b", "c", "\u{ff}", ""] {
                z.insert(backing, b(m), 0.0).unwrap();
            }
            let store = &mut *backing.store;
            let range = ZRange {
                lex_min: LexBound::Exclusive(b("a")),
                lex_max: LexBound::Inclusive(b("c")),
                ..ZRange::all()
            };
            assert_eq!(
                members(&z.range(store, &range, false, 0, None).unwrap()),
                ["b", "c"]
            );
            let range = ZRange {
                lex_min: LexBound::Min,
                lex_max: LexBound::Exclusive(b("b")),
                ..ZRange::all()
            };
            assert_eq!(
                members(&z.range(store, &range, true, 0, None).unwrap()),
                ["a", ""]
            );
            let void = ZRange {
                lex_min: LexBound::Max,
                ..ZRange::all()
            };
            assert_eq!(z.count(store, &void).unwrap(), 0);
        });
    }
}
