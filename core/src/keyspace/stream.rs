//! Streams: the metadata (length, last ID, entries added, max deleted ID, first ID) lives in
//! the key's row; every entry is a row of its own keyed by its ID, so XADD writes one row,
//! XRANGE reads only the rows it returns and trimming deletes from the front.

use std::fmt;

use bytes::Bytes;

use super::hash::Backing;
use super::stream_group::Group;
use super::value::{put_varint, Reader};
use crate::storage::{CollectionId, Store, StoreError};

/// Cache cost of a stream's metadata.
const META_BYTES: usize = 64;
/// Entries per node in Redis's radix tree (`stream-node-max-entries`): `~` trims whole nodes.
pub const NODE_ENTRIES: u64 = 100;

const FORMAT: u8 = 1;

/// The `h` of a stream's entry rows in the store's ordered rows.
const ENTRY_H: i64 = -1;

/// A stream entry ID: milliseconds and sequence number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    /// Milliseconds part.
    pub ms: u64,
    /// Sequence part.
    pub seq: u64,
}

impl StreamId {
    /// `0-0`.
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    /// The largest ID.
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    /// A new ID.
    pub fn new(ms: u64, seq: u64) -> Self {
        StreamId { ms, seq }
    }

    /// The 16 bytes that sort as the ID does.
    pub fn to_bytes(self) -> [u8; 16] {
        let mut out = [0; 16];
        out[..8].copy_from_slice(&self.ms.to_be_bytes());
        out[8..].copy_from_slice(&self.seq.to_be_bytes());
        out
    }

    /// The ID [`Self::to_bytes`] wrote.
    pub fn from_bytes(b: &[u8]) -> Result<Self, StoreError> {
        if b.len() != 16 {
            return Err(StoreError::Corrupt("stream entry id".into()));
        }
        let mut ms = [0; 8];
        let mut seq = [0; 8];
        ms.copy_from_slice(&b[..8]);
        seq.copy_from_slice(&b[8..]);
        Ok(StreamId {
            ms: u64::from_be_bytes(ms),
            seq: u64::from_be_bytes(seq),
        })
    }

    /// The next ID, or `None` after the largest.
    pub fn next(self) -> Option<Self> {
        if self.seq == u64::MAX {
            (self.ms != u64::MAX).then(|| StreamId::new(self.ms + 1, 0))
        } else {
            Some(StreamId::new(self.ms, self.seq + 1))
        }
    }

    /// The previous ID, or `None` before `0-0`.
    pub fn prev(self) -> Option<Self> {
        if self.seq == 0 {
            (self.ms != 0).then(|| StreamId::new(self.ms - 1, u64::MAX))
        } else {
            Some(StreamId::new(self.ms, self.seq - 1))
        }
    }

    /// The ID as Redis writes it (`ms-seq`).
    pub fn to_bulk(self) -> Bytes {
        Bytes::from(self.to_string())
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// One stream entry.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamEntry {
    /// Its ID.
    pub id: StreamId,
    /// Field-value pairs, in the order given to XADD.
    pub fields: Vec<(Bytes, Bytes)>,
}

fn encode_fields(fields: &[(Bytes, Bytes)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (f, v) in fields {
        put_varint(&mut out, f.len() as u64);
        out.extend_from_slice(f);
        put_varint(&mut out, v.len() as u64);
        out.extend_from_slice(v);
    }
    out
}

fn decode_entry(id: &[u8], raw: &[u8]) -> Result<StreamEntry, StoreError> {
    let id = StreamId::from_bytes(id)?;
    let mut r = Reader::new(raw, "stream entry");
    let mut fields = Vec::new();
    while !r.is_empty() {
        let f = r.bytes()?;
        let v = r.bytes()?;
        fields.push((f, v));
    }
    Ok(StreamEntry { id, fields })
}

/// How XADD and XTRIM trim a stream.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Trim {
    /// Keep at most this many entries.
    MaxLen(u64),
    /// Drop entries below this ID.
    MinId(StreamId),
}

/// A stream.
#[derive(Clone, Debug, PartialEq)]
pub struct Stream {
    cid: Option<CollectionId>,
    len: u64,
    last_id: StreamId,
    entries_added: u64,
    max_deleted: StreamId,
    first_id: StreamId,
    /// Consumer groups (their pending entries are rows of the stream's collection).
    pub groups: Vec<Group>,
    /// The id the next group's rows get.
    next_gid: u64,
    mods: u64,
}

impl Default for Stream {
    fn default() -> Self {
        Self::new()
    }
}

impl Stream {
    /// An empty stream.
    pub fn new() -> Self {
        Stream {
            cid: None,
            len: 0,
            last_id: StreamId::MIN,
            entries_added: 0,
            max_deleted: StreamId::MIN,
            first_id: StreamId::MIN,
            groups: Vec::new(),
            next_gid: 0,
            mods: 0,
        }
    }

    fn ensure_cid(&mut self, backing: &mut Backing<'_>) -> CollectionId {
        match self.cid {
            Some(c) => c,
            None => {
                let c = backing.new_cid();
                self.cid = Some(c);
                c
            }
        }
    }

    /// Adds a group; `false` when one of that name exists.
    pub fn add_group(
        &mut self,
        backing: &mut Backing<'_>,
        name: Bytes,
        last_id: StreamId,
        entries_read: Option<u64>,
    ) -> bool {
        if self.group(&name).is_some() {
            return false;
        }
        let cid = self.ensure_cid(backing);
        let gid = self.next_gid;
        self.next_gid += 1;
        self.groups
            .push(Group::new(name, last_id, entries_read, cid, gid));
        self.mods += 1;
        true
    }

    /// Removes a group and its pending entries; returns whether it existed.
    pub fn remove_group(&mut self, store: &mut dyn Store, name: &[u8]) -> Result<bool, StoreError> {
        let Some(i) = self.groups.iter().position(|g| g.name == name) else {
            return Ok(false);
        };
        let mut g = self.groups.remove(i);
        g.drop_rows(store)?;
        self.mods += 1;
        Ok(true)
    }

    /// Number of entries.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether it has no entries (an empty stream is still a key).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The last ID ever added (or set by XSETID).
    pub fn last_id(&self) -> StreamId {
        self.last_id
    }

    /// Entries ever added.
    pub fn entries_added(&self) -> u64 {
        self.entries_added
    }

    /// The largest ID ever deleted.
    pub fn max_deleted(&self) -> StreamId {
        self.max_deleted
    }

    /// The first entry's ID as the metadata keeps it.
    pub fn first_id(&self) -> StreamId {
        self.first_id
    }

    pub(super) fn cid(&self) -> Option<CollectionId> {
        self.cid
    }

    pub(super) fn mods(&self) -> u64 {
        self.mods
    }

    /// Marks an in-place change (group bookkeeping) so that the key is written.
    pub fn touch(&mut self) {
        self.mods += 1;
    }

    pub(super) fn size(&self) -> usize {
        META_BYTES + self.groups.iter().map(|g| g.size()).sum::<usize>()
    }

    /// Sets the metadata XSETID changes.
    pub fn set_meta(
        &mut self,
        last_id: StreamId,
        entries_added: Option<u64>,
        max_deleted: Option<StreamId>,
    ) {
        self.last_id = last_id;
        if let Some(n) = entries_added {
            self.entries_added = n;
        }
        if let Some(m) = max_deleted {
            self.max_deleted = m;
        }
        self.mods += 1;
    }

    /// Appends an entry with an ID above the last one.
    pub fn add(
        &mut self,
        backing: &mut Backing<'_>,
        id: StreamId,
        fields: &[(Bytes, Bytes)],
    ) -> Result<(), StoreError> {
        let cid = self.ensure_cid(backing);
        backing
            .store
            .ordered_put(cid, ENTRY_H, &id.to_bytes(), &encode_fields(fields))?;
        if self.len == 0 {
            self.first_id = id;
        }
        self.len += 1;
        self.entries_added += 1;
        self.last_id = id;
        self.mods += 1;
        Ok(())
    }

    /// Entries with IDs in `from..=to`, ascending (descending with `rev`), at most `count`.
    pub fn range(
        &self,
        store: &mut dyn Store,
        from: StreamId,
        to: StreamId,
        rev: bool,
        count: Option<u64>,
    ) -> Result<Vec<StreamEntry>, StoreError> {
        let Some(cid) = self.cid else {
            return Ok(Vec::new());
        };
        if self.len == 0 || from > to || count == Some(0) {
            return Ok(Vec::new());
        }
        store
            .ordered_range(cid, ENTRY_H, &from.to_bytes(), &to.to_bytes(), rev, count)?
            .iter()
            .map(|(id, v)| decode_entry(id, v))
            .collect()
    }

    /// The entry with this ID, if present.
    pub fn get(
        &self,
        store: &mut dyn Store,
        id: StreamId,
    ) -> Result<Option<StreamEntry>, StoreError> {
        Ok(self.range(store, id, id, false, Some(1))?.pop())
    }

    /// The first (or, with `last`, the last) entry.
    pub fn edge(
        &self,
        store: &mut dyn Store,
        last: bool,
    ) -> Result<Option<StreamEntry>, StoreError> {
        Ok(self
            .range(store, StreamId::MIN, StreamId::MAX, last, Some(1))?
            .pop())
    }

    fn refresh_first(&mut self, store: &mut dyn Store) -> Result<(), StoreError> {
        self.first_id = match self.edge(store, false)? {
            Some(e) => e.id,
            // As Redis 7.0.15: an emptied stream records 0-0.
            None => StreamId::MIN,
        };
        Ok(())
    }

    /// Deletes an entry; returns whether it was there.
    pub fn delete(&mut self, store: &mut dyn Store, id: StreamId) -> Result<bool, StoreError> {
        let Some(cid) = self.cid else {
            return Ok(false);
        };
        if !store.ordered_delete(cid, ENTRY_H, &id.to_bytes())? {
            return Ok(false);
        }
        self.len -= 1;
        self.mods += 1;
        if id > self.max_deleted {
            self.max_deleted = id;
        }
        if id == self.first_id {
            self.refresh_first(store)?;
        }
        Ok(true)
    }

    /// Trims as XADD/XTRIM do; `approx` removes whole nodes only, and then `limit` caps the
    /// entries removed (`Some(0)`: no cap; `None`: Redis's default of 100 nodes). Returns how
    /// many went.
    pub fn trim(
        &mut self,
        backing: &mut Backing<'_>,
        how: Trim,
        approx: bool,
        limit: Option<u64>,
    ) -> Result<u64, StoreError> {
        let Some(cid) = self.cid else {
            return Ok(0);
        };
        if self.len == 0 {
            return Ok(0);
        }
        let node = backing.limits.stream_node_max_entries;
        let limit = if !approx {
            u64::MAX
        } else {
            match limit {
                Some(0) => u64::MAX,
                Some(n) => n,
                None => match node.saturating_mul(100) {
                    n if n == 0 || n > 1_000_000 => 1_000_000,
                    n => n,
                },
            }
        };
        let store = &mut *backing.store;
        let removed = match how {
            Trim::MaxLen(max) => {
                if self.len <= max {
                    return Ok(0);
                }
                let excess = self.len - max;
                let n = if approx {
                    self.whole_nodes(excess, limit, node)
                } else {
                    excess.min(limit)
                };
                if n == 0 {
                    return Ok(0);
                }
                store.ordered_trim(cid, ENTRY_H, None, n)?
            }
            Trim::MinId(min) => {
                if approx {
                    // Count what lies below, then remove whole nodes of it.
                    let below = match min.prev() {
                        Some(p) => self.range(store, StreamId::MIN, p, false, None)?.len() as u64,
                        None => 0,
                    };
                    let n = self.whole_nodes(below, limit, node);
                    if n == 0 {
                        return Ok(0);
                    }
                    store.ordered_trim(cid, ENTRY_H, None, n)?
                } else {
                    store.ordered_trim(cid, ENTRY_H, Some(&min.to_bytes()), limit)?
                }
            }
        };
        if removed > 0 {
            self.len -= removed;
            self.mods += 1;
            self.refresh_first(store)?;
        }
        Ok(removed)
    }

    /// How many of the first `want` entries make whole nodes (of `node` entries, counted
    /// from the first entry ever added), within `limit`.
    fn whole_nodes(&self, want: u64, limit: u64, node: u64) -> u64 {
        if node == 0 {
            return 0;
        }
        let offset = self.entries_added.saturating_sub(self.len);
        let mut node_left = node - offset % node;
        let mut n = 0;
        while n + node_left <= want && n + node_left <= limit {
            n += node_left;
            node_left = node;
        }
        n
    }

    /// The group of that name.
    pub fn group(&self, name: &[u8]) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// The group of that name, to change it.
    pub fn group_mut(&mut self, name: &[u8]) -> Option<&mut Group> {
        self.mods += 1;
        self.groups.iter_mut().find(|g| g.name == name)
    }

    /// Whether an entry may have been deleted between `start` and `end` (Redis's
    /// streamRangeHasTombstones).
    pub fn has_tombstones(&self, start: StreamId, end: StreamId) -> bool {
        if self.len == 0 || self.max_deleted == StreamId::MIN {
            return false;
        }
        start <= self.max_deleted && self.max_deleted <= end
    }

    /// How many entries precede and include `id` since the first ever added, when that can
    /// be known (Redis's streamEstimateDistanceFromFirstEverEntry).
    pub fn distance_from_first(&self, id: StreamId) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if self.len == 0 && id <= self.last_id {
            return Some(self.entries_added);
        }
        if id == self.last_id {
            return Some(self.entries_added);
        } else if id > self.last_id {
            return None;
        }
        if self.max_deleted == StreamId::MIN || self.max_deleted < self.first_id {
            if id < self.first_id {
                return Some(self.entries_added - self.len);
            } else if id == self.first_id {
                return Some(self.entries_added - self.len + 1);
            }
        }
        None
    }

    /// A group's lag, when it can be known (Redis 7.0's streamReplyWithCGLag).
    pub fn lag(&self, g: &Group) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if let Some(read) = g.entries_read {
            if !self.has_tombstones(g.last_id, StreamId::MAX) {
                return Some(self.entries_added.saturating_sub(read));
            }
        }
        let read = self.distance_from_first(g.last_id)?;
        Some(self.entries_added.saturating_sub(read))
    }

    /// Records that `id` was delivered to the group (a `>` read).
    pub fn advance_group(&self, g: &mut Group, id: StreamId) {
        if id <= g.last_id {
            return;
        }
        match g.entries_read {
            Some(n) if !self.has_tombstones(id, StreamId::MAX) => g.entries_read = Some(n + 1),
            _ => {
                if self.entries_added > 0 {
                    g.entries_read = self.distance_from_first(id);
                }
            }
        }
        g.last_id = id;
    }

    /// A copy with its own entry rows (COPY).
    pub fn duplicate(&self, backing: &mut Backing<'_>) -> Result<Stream, StoreError> {
        let mut copy = self.clone();
        copy.mods = 0;
        if let Some(cid) = self.cid {
            let to = backing.new_cid();
            backing.store.copy_elements(cid, to)?;
            copy.cid = Some(to);
            for g in &mut copy.groups {
                g.cid = to;
            }
        }
        Ok(copy)
    }

    /// The key row's value: the metadata and the groups.
    pub(super) fn encode(&self) -> Bytes {
        let mut out = vec![FORMAT];
        for v in [
            self.len,
            self.last_id.ms,
            self.last_id.seq,
            self.entries_added,
            self.max_deleted.ms,
            self.max_deleted.seq,
            self.first_id.ms,
            self.first_id.seq,
            self.next_gid,
        ] {
            put_varint(&mut out, v);
        }
        put_varint(&mut out, self.groups.len() as u64);
        for g in &self.groups {
            g.encode(&mut out);
        }
        Bytes::from(out)
    }

    /// The stream a key row holds.
    pub(super) fn decode(raw: &[u8], cid: Option<CollectionId>) -> Result<Stream, StoreError> {
        let mut r = Reader::new(raw, "stream");
        if r.byte()? != FORMAT {
            return Err(StoreError::Corrupt("stream row of unknown format".into()));
        }
        let mut v = [0u64; 9];
        for x in v.iter_mut() {
            *x = r.varint()?;
        }
        let n = r.varint()?;
        let mut groups = Vec::new();
        for _ in 0..n {
            groups.push(Group::decode(&mut r, cid.unwrap_or(0))?);
        }
        Ok(Stream {
            cid,
            len: v[0],
            last_id: StreamId::new(v[1], v[2]),
            entries_added: v[3],
            max_deleted: StreamId::new(v[4], v[5]),
            first_id: StreamId::new(v[6], v[7]),
            groups,
            next_gid: v[8],
            mods: 0,
        })
    }
}
