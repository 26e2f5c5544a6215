//! Sets: small ones inline in the key's row, as sorted integers while every member is one
//! (Redis's intset) or as a list of members (listpack); large ones one member per row in
//! `elements` (hashtable), so SADD on a set of a million members writes one row.

use bytes::Bytes;

use super::hash::Backing;
use super::integer_text;
use super::set_index::{SetIndex, BUILD_CHUNK};
use super::value::{put_varint, Reader};
use crate::protocol::parse_i64;
use crate::storage::{CollectionId, Element, Store, StoreError};

/// Cache cost of one inline member beyond its bytes.
const MEMBER_OVERHEAD: usize = 24;
/// Cache cost of a set's header.
const HEADER: usize = 32;

const FORMAT_INTS: u8 = 0;
const FORMAT_SMALL: u8 = 1;
const FORMAT_LARGE: u8 = 2;

#[derive(Clone, Debug, PartialEq)]
enum Repr {
    /// Sorted, as Redis's intset (SMEMBERS answers in numeric order).
    Ints(Vec<i64>),
    /// Insertion order, as Redis's listpack.
    Small {
        members: Vec<Bytes>,
        bytes: usize,
    },
    Large {
        cid: CollectionId,
        len: u64,
    },
}

/// A large set's member index (`set_index.rs`), kept while the set is cached.
#[derive(Debug, Default)]
enum Index {
    #[default]
    Absent,
    Kept(Box<SetIndex>),
    /// The index would pass its cap (`cap`) at this length (`len`): picks go to the rows
    /// until the set has half as many members, or the cap has grown (CONFIG SET
    /// cache-max-bytes).
    Refused {
        len: u64,
        cap: usize,
    },
}

/// A Redis set.
#[derive(Debug)]
pub struct Set {
    repr: Repr,
    /// Bumped by every change, so the keyspace can tell whether a write access changed it.
    mods: u64,
    index: Index,
}

/// A copy leaves the member index behind (a copy is rarely picked from; it builds its own).
impl Clone for Set {
    fn clone(&self) -> Set {
        Set {
            repr: self.repr.clone(),
            mods: self.mods,
            index: Index::Absent,
        }
    }
}

/// Sets are equal by their members and form, whatever their indexes.
impl PartialEq for Set {
    fn eq(&self, other: &Set) -> bool {
        self.repr == other.repr && self.mods == other.mods
    }
}

impl Default for Set {
    fn default() -> Self {
        Set::new()
    }
}

fn member_element(member: Bytes) -> Element {
    Element {
        sub: member,
        value: Bytes::new(),
        expire_at: None,
    }
}

impl Set {
    /// An empty set (it becomes a key once it has a member).
    pub fn new() -> Set {
        Set {
            repr: Repr::Ints(Vec::new()),
            mods: 0,
            index: Index::Absent,
        }
    }

    /// Number of members.
    pub fn len(&self) -> u64 {
        match &self.repr {
            Repr::Ints(v) => v.len() as u64,
            Repr::Small { members, .. } => members.len() as u64,
            Repr::Large { len, .. } => *len,
        }
    }

    /// Whether the set has no member.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// OBJECT ENCODING (Redis 7.2's names).
    pub fn encoding(&self) -> &'static str {
        match self.repr {
            Repr::Ints(_) => "intset",
            Repr::Small { .. } => "listpack",
            Repr::Large { .. } => "hashtable",
        }
    }

    /// The member rows' collection, for a large set.
    pub fn cid(&self) -> Option<CollectionId> {
        match self.repr {
            Repr::Large { cid, .. } => Some(cid),
            _ => None,
        }
    }

    /// Bytes the cache charges.
    pub fn size(&self) -> usize {
        match &self.repr {
            Repr::Ints(v) => HEADER + v.len() * 8,
            Repr::Small { members, bytes } => HEADER + bytes + members.len() * MEMBER_OVERHEAD,
            Repr::Large { .. } => HEADER + self.index_size(),
        }
    }

    /// The member index's share of [`Self::size`].
    pub(super) fn index_size(&self) -> usize {
        match &self.index {
            Index::Kept(ix) => ix.size(),
            _ => 0,
        }
    }

    /// The member index, when it holds every member (and as many as the set has).
    fn ready_index(&self) -> Option<&SetIndex> {
        match &self.index {
            Index::Kept(ix) if ix.complete() && ix.len() == self.len() => Some(ix),
            _ => None,
        }
    }

    pub(super) fn mods(&self) -> u64 {
        self.mods
    }

    /// Whether `member` is in the set.
    pub fn contains(&self, store: &mut dyn Store, member: &[u8]) -> Result<bool, StoreError> {
        match &self.repr {
            Repr::Ints(v) => Ok(parse_i64(member).is_some_and(|n| v.binary_search(&n).is_ok())),
            Repr::Small { members, .. } => Ok(members.iter().any(|m| m == member)),
            Repr::Large { cid, .. } => Ok(store.element(*cid, member)?.is_some()),
        }
    }

    /// Every member (SMEMBERS order: numeric for intsets, insertion order for listpacks).
    pub fn members(&self, store: &mut dyn Store) -> Result<Vec<Bytes>, StoreError> {
        match &self.repr {
            Repr::Ints(v) => Ok(v.iter().map(|&n| integer_text(n)).collect()),
            Repr::Small { members, .. } => Ok(members.clone()),
            Repr::Large { cid, len } => {
                let (elements, _) =
                    store.scan_elements(*cid, 0, usize::try_from(*len).unwrap_or(usize::MAX))?;
                Ok(elements.into_iter().map(|e| e.sub).collect())
            }
        }
    }

    /// Members from `cursor` on (SSCAN); a small set is returned whole, as Redis does.
    pub fn scan(
        &self,
        store: &mut dyn Store,
        cursor: u64,
        count: usize,
    ) -> Result<(Vec<Bytes>, u64), StoreError> {
        match &self.repr {
            Repr::Large { cid, .. } => {
                let (elements, next) = store.scan_elements(*cid, cursor, count)?;
                Ok((elements.into_iter().map(|e| e.sub).collect(), next))
            }
            _ => Ok((self.members(store)?, 0)),
        }
    }

    /// A member picked at random (`seed` chooses it), or `None` when empty.
    pub fn random(&self, store: &mut dyn Store, seed: u64) -> Result<Option<Bytes>, StoreError> {
        let len = self.len();
        if len == 0 {
            return Ok(None);
        }
        match &self.repr {
            Repr::Ints(v) => Ok(Some(integer_text(v[(seed % len) as usize]))),
            Repr::Small { members, .. } => Ok(Some(members[(seed % len) as usize].clone())),
            Repr::Large { cid, .. } => match self.ready_index() {
                Some(ix) => Ok(ix.pick(seed)),
                None => Ok(super::pick::uniform_element(store, *cid, len, seed)?.map(|e| e.sub)),
            },
        }
    }

    /// Every member, for a pick of many at once (SPOP or SRANDMEMBER with a count): from the
    /// member index when it is complete (no row read, in the index's order), else as
    /// [`Self::members`] gives them.
    pub fn members_to_pick(&self, store: &mut dyn Store) -> Result<Vec<Bytes>, StoreError> {
        match self.ready_index() {
            Some(ix) => Ok(ix.all()),
            None => self.members(store),
        }
    }

    /// Readies a large set for random picks by a write (SPOP): its member index reads one
    /// more chunk of rows, until it has them all (`set_index.rs`). An index that no longer
    /// matches the set's length is rebuilt.
    pub fn prepare_picks(&mut self, backing: &mut Backing<'_>) -> Result<(), StoreError> {
        let Repr::Large { cid, len } = self.repr else {
            return Ok(());
        };
        if self.ready_index().is_some() || len > u64::from(u32::MAX) {
            return Ok(());
        }
        let fresh = match &self.index {
            Index::Refused { len: at, cap }
                if len > at / 2 && backing.limits.set_index_max_bytes <= *cap =>
            {
                return Ok(())
            }
            Index::Kept(ix) if !ix.complete() => false,
            _ => {
                self.index = Index::Kept(Box::new(SetIndex::new()));
                true
            }
        };
        let Index::Kept(ix) = &mut self.index else {
            return Ok(());
        };
        ix.advance(backing.store, cid, BUILD_CHUNK)?;
        // The whole index, projected from what it holds so far, must fit its cap.
        let projected = (ix.bytes() as u128 * u128::from(len)) / u128::from(ix.len().max(1));
        if projected > backing.limits.set_index_max_bytes as u128 {
            self.index = Index::Refused {
                len,
                cap: backing.limits.set_index_max_bytes,
            };
        } else if fresh {
            ix.reserve(len);
        }
        Ok(())
    }

    /// Tells the member index of a change; one it contradicts is dropped.
    fn tell(&mut self, change: impl FnOnce(&mut SetIndex) -> bool) {
        if let Index::Kept(ix) = &mut self.index {
            if !change(ix) {
                self.index = Index::Absent;
            }
        }
    }

    /// Adds a member; returns whether it is new. The set changes form as Redis's does: an
    /// intset takes a non-integer by becoming a listpack if it is small enough, anything
    /// past the limits moves into rows.
    pub fn add(&mut self, backing: &mut Backing<'_>, member: Bytes) -> Result<bool, StoreError> {
        let limits = backing.limits;
        if let Repr::Ints(v) = &mut self.repr {
            if let Some(n) = parse_i64(&member) {
                let Err(at) = v.binary_search(&n) else {
                    return Ok(false);
                };
                v.insert(at, n);
                self.mods += 1;
                if v.len() > limits.set_max_intset_entries {
                    self.make_large(backing)?;
                }
                return Ok(true);
            }
            // Every integer is at most 20 characters long.
            let longest = v
                .iter()
                .map(|n| itoa::Buffer::new().format(*n).len())
                .max()
                .unwrap_or(0);
            if v.len() < limits.set_max_listpack_entries
                && member.len() <= limits.set_max_listpack_value
                && longest <= limits.set_max_listpack_value
            {
                let members: Vec<Bytes> = v.iter().map(|&n| integer_text(n)).collect();
                let bytes = members.iter().map(|m| m.len()).sum();
                self.repr = Repr::Small { members, bytes };
            } else {
                self.make_large(backing)?;
            }
        }
        if let Repr::Small { members, .. } = &self.repr {
            if members.contains(&member) {
                return Ok(false);
            }
            if members.len() >= limits.set_max_listpack_entries
                || member.len() > limits.set_max_listpack_value
            {
                self.make_large(backing)?;
            }
        }
        match &mut self.repr {
            Repr::Small { members, bytes } => {
                *bytes += member.len();
                members.push(member);
            }
            Repr::Large { cid, len } => {
                let cid = *cid;
                // A member already there changes nothing: no WATCH fires, as in Redis.
                if backing.store.element(cid, &member)?.is_some() {
                    return Ok(false);
                }
                let element = member_element(member);
                backing.store.put_element(cid, &element)?;
                *len += 1;
                let len = *len;
                self.tell(|ix| ix.added(&element.sub));
                if let Index::Kept(ix) = &self.index {
                    // A set that grows past its index's cap picks from its rows again.
                    if ix.bytes() > backing.limits.set_index_max_bytes {
                        self.index = Index::Refused {
                            len,
                            cap: backing.limits.set_index_max_bytes,
                        };
                    }
                }
            }
            Repr::Ints(_) => return Ok(false), // converted above
        }
        self.mods += 1;
        Ok(true)
    }

    /// Moves the members into rows of a new collection.
    fn make_large(&mut self, backing: &mut Backing<'_>) -> Result<(), StoreError> {
        if matches!(self.repr, Repr::Large { .. }) {
            return Ok(());
        }
        let members = self.members(backing.store)?;
        let cid = backing.new_cid();
        for m in &members {
            backing.store.put_element(cid, &member_element(m.clone()))?;
        }
        self.repr = Repr::Large {
            cid,
            len: members.len() as u64,
        };
        Ok(())
    }

    /// Removes a member; returns whether it was there.
    pub fn remove(&mut self, store: &mut dyn Store, member: &[u8]) -> Result<bool, StoreError> {
        let removed = match &mut self.repr {
            Repr::Ints(v) => match parse_i64(member).map(|n| v.binary_search(&n)) {
                Some(Ok(at)) => {
                    v.remove(at);
                    true
                }
                _ => false,
            },
            Repr::Small { members, bytes } => match members.iter().position(|m| m == member) {
                Some(at) => {
                    *bytes -= members.remove(at).len();
                    true
                }
                None => false,
            },
            Repr::Large { cid, len } => {
                let removed = store.delete_element(*cid, member)?;
                if removed {
                    *len -= 1;
                    self.tell(|ix| ix.removed(member));
                }
                removed
            }
        };
        if removed {
            self.mods += 1;
        }
        Ok(removed)
    }

    /// A copy with its own member rows (COPY).
    pub fn duplicate(&self, backing: &mut Backing<'_>) -> Result<Set, StoreError> {
        let repr = match &self.repr {
            Repr::Large { cid, len } => {
                let to = backing.new_cid();
                backing.store.copy_elements(*cid, to)?;
                Repr::Large { cid: to, len: *len }
            }
            other => other.clone(),
        };
        Ok(Set {
            repr,
            mods: 0,
            index: Index::Absent,
        })
    }

    /// The key row's value: the members of a small set, the size of a large one.
    pub(super) fn encode(&self) -> Bytes {
        let mut out = Vec::new();
        match &self.repr {
            Repr::Ints(v) => {
                out.reserve(1 + v.len() * 8);
                out.push(FORMAT_INTS);
                for n in v {
                    out.extend_from_slice(&n.to_le_bytes());
                }
            }
            Repr::Small { members, bytes } => {
                out.reserve(1 + bytes + members.len() * 2);
                out.push(FORMAT_SMALL);
                for m in members {
                    put_varint(&mut out, m.len() as u64);
                    out.extend_from_slice(m);
                }
            }
            Repr::Large { len, .. } => {
                out.push(FORMAT_LARGE);
                put_varint(&mut out, *len);
            }
        }
        Bytes::from(out)
    }

    /// The set a key row holds.
    pub(super) fn decode(raw: &[u8], cid: Option<CollectionId>) -> Result<Set, StoreError> {
        let mut r = Reader::new(raw, "set");
        let repr = match (r.byte()?, cid) {
            (FORMAT_INTS, None) => {
                let mut v = Vec::new();
                while !r.is_empty() {
                    v.push(r.i64()?);
                }
                Repr::Ints(v)
            }
            (FORMAT_SMALL, None) => {
                let mut members = Vec::new();
                let mut bytes = 0;
                while !r.is_empty() {
                    let m = r.bytes()?;
                    bytes += m.len();
                    members.push(m);
                }
                Repr::Small { members, bytes }
            }
            (FORMAT_LARGE, Some(cid)) => Repr::Large {
                cid,
                len: r.varint()?,
            },
            (format, cid) => {
                return Err(StoreError::Corrupt(format!(
                    "set row of format {format} with collection {cid:?}"
                )))
            }
        };
        Ok(Set {
            repr,
            mods: 0,
            index: Index::Absent,
        })
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

    #[test]
    fn encodings_change_as_in_redis_and_round_trip() {
        let mut store = SqliteStore::open(":memory:", Synchronous::Normal).unwrap();
        let mut next = 1;
        let mut backing = Backing {
            store: &mut store,
            next_id: &mut next,
            limits: Encodings::default(),
        };
        let mut s = Set::new();
        for n in ["3", "-1", "20", "3"] {
            s.add(&mut backing, b(n)).unwrap();
        }
        assert_eq!(s.encoding(), "intset");
        assert_eq!(
            s.members(backing.store).unwrap(),
            vec![b("-1"), b("3"), b("20")]
        );
        // "03" is not an integer's canonical text: it is a string member.
        assert!(s.add(&mut backing, b("03")).unwrap());
        assert_eq!(s.encoding(), "listpack");
        assert!(s.contains(backing.store, b"3").unwrap());
        assert!(!s.add(&mut backing, b("3")).unwrap());
        assert_eq!(Set::decode(&s.encode(), None).unwrap().repr, s.repr);
        assert!(s.remove(backing.store, b"03").unwrap());
        assert_eq!(s.encoding(), "listpack", "no way back, as in Redis");
        assert!(s.add(&mut backing, b(&"x".repeat(65))).unwrap());
        assert_eq!(s.encoding(), "hashtable");
        assert_eq!(s.len(), 4);
        assert!(s.contains(backing.store, b"20").unwrap());
        assert!(s.remove(backing.store, b"20").unwrap());
        assert!(!s.remove(backing.store, b"20").unwrap());
        let back = Set::decode(&s.encode(), s.cid()).unwrap();
        assert_eq!(back.len(), 3);
        let copy = s.duplicate(&mut backing).unwrap();
        assert_eq!(copy.members(backing.store).unwrap().len(), 3);
        assert!(s.random(backing.store, 12345).unwrap().is_some());

        let mut ints = Set::new();
        for n in 0..=512 {
            ints.add(&mut backing, b(&n.to_string())).unwrap();
        }
        assert_eq!(ints.encoding(), "hashtable", "past set-max-intset-entries");
        let mut many = Set::new();
        for n in 0..200 {
            many.add(&mut backing, b(&n.to_string())).unwrap();
        }
        many.add(&mut backing, b("x")).unwrap();
        assert_eq!(many.encoding(), "hashtable", "too many for a listpack");
    }

    fn indexed(s: &Set) -> Option<u64> {
        match &s.index {
            Index::Kept(ix) if ix.complete() => Some(ix.len()),
            _ => None,
        }
    }

    #[test]
    fn the_member_index_is_built_by_picks_within_its_cap() {
        let mut store = SqliteStore::open(":memory:", Synchronous::Normal).unwrap();
        let mut next = 1;
        let mut backing = Backing {
            store: &mut store,
            next_id: &mut next,
            limits: Encodings {
                set_index_max_bytes: 20_000,
                ..Encodings::default()
            },
        };
        let mut s = Set::new();
        for i in 0..5000 {
            s.add(&mut backing, b(&format!("m{i}"))).unwrap();
        }
        // 5,000 members take more than the cap: refused after the first chunk.
        s.prepare_picks(&mut backing).unwrap();
        assert!(
            matches!(s.index, Index::Refused { len: 5000, .. }),
            "{:?}",
            s.index
        );
        assert_eq!(s.size(), HEADER);
        for i in 0..4800 {
            s.remove(backing.store, format!("m{i}").as_bytes()).unwrap();
        }
        assert!(
            s.random(backing.store, 7).unwrap().is_some(),
            "from the rows"
        );
        // At 200 members (under half) the index is tried again; one chunk reads them all.
        s.prepare_picks(&mut backing).unwrap();
        assert_eq!(indexed(&s), Some(200));
        assert!(s.size() > HEADER + 200 * 4, "the index counts in the cache");
        let sorted = |mut v: Vec<Bytes>| {
            v.sort();
            v
        };
        assert_eq!(
            sorted(s.members_to_pick(backing.store).unwrap()),
            sorted(s.members(backing.store).unwrap())
        );
        // Changes are told; a pick is a member; the clone leaves the index behind.
        s.add(&mut backing, b("new")).unwrap();
        s.remove(backing.store, b"m4999").unwrap();
        assert_eq!(indexed(&s), Some(200));
        let picked = s.random(backing.store, 12345).unwrap().unwrap();
        assert!(s.contains(backing.store, &picked).unwrap());
        assert_eq!(indexed(&s.clone()), None);
        assert_eq!(s.clone(), s);
        // An index that disagrees with the set's length is not used, and is rebuilt.
        if let Repr::Large { len, .. } = &mut s.repr {
            *len += 1;
        }
        assert!(s.random(backing.store, 1).unwrap().is_some());
        s.prepare_picks(&mut backing).unwrap();
        assert_eq!(indexed(&s), Some(200));
        if let Repr::Large { len, .. } = &mut s.repr {
            *len -= 1;
        }
        // A set that grows past the cap leaves its index.
        for i in 0..1000 {
            s.add(&mut backing, b(&format!("more{i}"))).unwrap();
            if !matches!(s.index, Index::Kept(_)) {
                break;
            }
        }
        assert!(
            matches!(s.index, Index::Refused { len, .. } if len < 700),
            "{:?}",
            s.index
        );
        // A larger cap (CONFIG SET cache-max-bytes) lets the next pick build it.
        backing.limits.set_index_max_bytes = 1 << 20;
        s.prepare_picks(&mut backing).unwrap();
        assert_eq!(indexed(&s), Some(s.len()));
    }
}
