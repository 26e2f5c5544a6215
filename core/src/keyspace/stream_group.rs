//! A stream's consumer groups: last delivered ID, entries read and consumers live in the key's
//! row; the pending entries list (PEL) is rows of its own in the stream's collection, one per
//! entry keyed by (group, ID), plus an index keyed by (group, consumer, ID), so XPENDING,
//! XCLAIM, XAUTOCLAIM, XACK and a consumer's history read touch only the entries they use.

use bytes::Bytes;

use super::stream::StreamId;
use super::value::{put_varint, Reader};
use crate::storage::{CollectionId, Store, StoreError};

/// The `h` of the PEL rows (sub: group id, entry ID; value: owner, time, count).
const PEL_H: i64 = -2;
/// The `h` of the per-consumer index (sub: group id, consumer, entry ID).
const CONSUMER_H: i64 = -3;

/// A delivered entry not yet acknowledged.
#[derive(Clone, Debug, PartialEq)]
pub struct Pending {
    /// The consumer that owns it.
    pub consumer: Bytes,
    /// Last delivery, Unix milliseconds.
    pub delivery_time: i64,
    /// Times delivered.
    pub delivery_count: u64,
}

impl Pending {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.consumer.len() + 20);
        put_varint(&mut out, self.consumer.len() as u64);
        out.extend_from_slice(&self.consumer);
        out.extend_from_slice(&self.delivery_time.to_le_bytes());
        put_varint(&mut out, self.delivery_count);
        out
    }

    fn decode(raw: &[u8]) -> Result<Pending, StoreError> {
        let mut r = Reader::new(raw, "pending entry");
        Ok(Pending {
            consumer: r.bytes()?,
            delivery_time: r.i64()?,
            delivery_count: r.varint()?,
        })
    }
}

/// A consumer of a group.
#[derive(Clone, Debug, PartialEq)]
pub struct Consumer {
    /// Its name.
    pub name: Bytes,
    /// When it last read or claimed, Unix milliseconds.
    pub seen_time: i64,
    /// Entries pending for it.
    pub pending: u64,
}

/// A consumer group.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    /// Its name.
    pub name: Bytes,
    /// Last ID delivered to the group.
    pub last_id: StreamId,
    /// Entries read by the group, when known (Redis's entries_read; `None` is invalid).
    pub entries_read: Option<u64>,
    /// Consumers, ordered by name (as Redis's radix tree lists them).
    pub consumers: Vec<Consumer>,
    /// Number of pending entries.
    pending: u64,
    /// Identifies the group's rows within the stream's collection.
    gid: u64,
    /// The stream's collection.
    pub(super) cid: CollectionId,
}

fn id_of(sub: &[u8]) -> Result<StreamId, StoreError> {
    let at = sub
        .len()
        .checked_sub(16)
        .ok_or_else(|| StoreError::Corrupt("pending entry key".into()))?;
    StreamId::from_bytes(&sub[at..])
}

impl Group {
    /// A new group whose rows go to collection `cid` under group id `gid`.
    pub(super) fn new(
        name: Bytes,
        last_id: StreamId,
        entries_read: Option<u64>,
        cid: CollectionId,
        gid: u64,
    ) -> Self {
        Group {
            name,
            last_id,
            entries_read,
            consumers: Vec::new(),
            pending: 0,
            gid,
            cid,
        }
    }

    /// Cache cost.
    pub fn size(&self) -> usize {
        64 + self.name.len()
            + self
                .consumers
                .iter()
                .map(|c| 40 + c.name.len())
                .sum::<usize>()
    }

    /// The consumer's index, if it exists.
    pub fn consumer_index(&self, name: &[u8]) -> Option<usize> {
        self.consumers
            .binary_search_by(|c| c.name[..].cmp(name))
            .ok()
    }

    /// The consumer, created if missing; returns its index and whether it was created.
    pub fn consumer_or_create(&mut self, name: &Bytes, now: i64) -> (usize, bool) {
        match self
            .consumers
            .binary_search_by(|c| c.name[..].cmp(&name[..]))
        {
            Ok(i) => (i, false),
            Err(i) => {
                self.consumers.insert(
                    i,
                    Consumer {
                        name: name.clone(),
                        seen_time: now,
                        pending: 0,
                    },
                );
                (i, true)
            }
        }
    }

    /// Number of pending entries.
    pub fn pending_len(&self) -> u64 {
        self.pending
    }

    /// Number of pending entries owned by a consumer.
    pub fn consumer_pending(&self, name: &[u8]) -> u64 {
        self.consumer_index(name)
            .map_or(0, |i| self.consumers[i].pending)
    }

    fn pel_sub(&self, id: StreamId) -> Vec<u8> {
        let mut sub = self.gid.to_be_bytes().to_vec();
        sub.extend_from_slice(&id.to_bytes());
        sub
    }

    fn consumer_sub(&self, consumer: &[u8], id: StreamId) -> Vec<u8> {
        let mut sub = self.gid.to_be_bytes().to_vec();
        sub.extend_from_slice(&(consumer.len() as u32).to_be_bytes());
        sub.extend_from_slice(consumer);
        sub.extend_from_slice(&id.to_bytes());
        sub
    }

    /// The pending entry of `id`.
    pub fn pending(
        &self,
        store: &mut dyn Store,
        id: StreamId,
    ) -> Result<Option<Pending>, StoreError> {
        let sub = self.pel_sub(id);
        match store
            .ordered_range(self.cid, PEL_H, &sub, &sub, false, Some(1))?
            .pop()
        {
            Some((_, v)) => Ok(Some(Pending::decode(&v)?)),
            None => Ok(None),
        }
    }

    /// Pending entries with IDs in `from..=to`, by ID (descending with `rev`), at most `limit`.
    pub fn pending_range(
        &self,
        store: &mut dyn Store,
        from: StreamId,
        to: StreamId,
        rev: bool,
        limit: Option<u64>,
    ) -> Result<Vec<(StreamId, Pending)>, StoreError> {
        if from > to || self.pending == 0 {
            return Ok(Vec::new());
        }
        store
            .ordered_range(
                self.cid,
                PEL_H,
                &self.pel_sub(from),
                &self.pel_sub(to),
                rev,
                limit,
            )?
            .iter()
            .map(|(k, v)| Ok((id_of(k)?, Pending::decode(v)?)))
            .collect()
    }

    /// IDs pending for `consumer` in `from..=to`, by ID, at most `limit`.
    pub fn consumer_ids(
        &self,
        store: &mut dyn Store,
        consumer: &[u8],
        from: StreamId,
        to: StreamId,
        limit: Option<u64>,
    ) -> Result<Vec<StreamId>, StoreError> {
        if from > to || self.consumer_pending(consumer) == 0 {
            return Ok(Vec::new());
        }
        store
            .ordered_range(
                self.cid,
                CONSUMER_H,
                &self.consumer_sub(consumer, from),
                &self.consumer_sub(consumer, to),
                false,
                limit,
            )?
            .iter()
            .map(|(k, _)| id_of(k))
            .collect()
    }

    fn count(&mut self, consumer: &[u8], up: bool) {
        if let Some(i) = self.consumer_index(consumer) {
            let c = &mut self.consumers[i];
            c.pending = if up {
                c.pending + 1
            } else {
                c.pending.saturating_sub(1)
            };
        }
    }

    /// Adds or replaces the pending entry of `id` (its consumer must exist).
    pub fn set_pending(
        &mut self,
        store: &mut dyn Store,
        id: StreamId,
        p: Pending,
    ) -> Result<(), StoreError> {
        let old = self.pending(store, id)?;
        match &old {
            Some(o) if o.consumer == p.consumer => {}
            Some(o) => {
                store.ordered_delete(self.cid, CONSUMER_H, &self.consumer_sub(&o.consumer, id))?;
                let owner = o.consumer.clone();
                self.count(&owner, false);
                store.ordered_put(
                    self.cid,
                    CONSUMER_H,
                    &self.consumer_sub(&p.consumer, id),
                    &[],
                )?;
                self.count(&p.consumer, true);
            }
            None => {
                store.ordered_put(
                    self.cid,
                    CONSUMER_H,
                    &self.consumer_sub(&p.consumer, id),
                    &[],
                )?;
                self.count(&p.consumer, true);
                self.pending += 1;
            }
        }
        store.ordered_put(self.cid, PEL_H, &self.pel_sub(id), &p.encode())
    }

    /// Removes the pending entry of `id`; returns it.
    pub fn remove_pending(
        &mut self,
        store: &mut dyn Store,
        id: StreamId,
    ) -> Result<Option<Pending>, StoreError> {
        let Some(old) = self.pending(store, id)? else {
            return Ok(None);
        };
        store.ordered_delete(self.cid, PEL_H, &self.pel_sub(id))?;
        store.ordered_delete(self.cid, CONSUMER_H, &self.consumer_sub(&old.consumer, id))?;
        self.count(&old.consumer, false);
        self.pending = self.pending.saturating_sub(1);
        Ok(Some(old))
    }

    /// Removes a consumer and its pending entries; returns how many it had, or `None` when
    /// there is no such consumer.
    pub fn remove_consumer(
        &mut self,
        store: &mut dyn Store,
        name: &[u8],
    ) -> Result<Option<u64>, StoreError> {
        let Some(i) = self.consumer_index(name) else {
            return Ok(None);
        };
        let ids = self.consumer_ids(store, name, StreamId::MIN, StreamId::MAX, None)?;
        for id in &ids {
            self.remove_pending(store, *id)?;
        }
        self.consumers.remove(i);
        Ok(Some(ids.len() as u64))
    }

    /// Removes every pending entry (the group is being destroyed).
    pub fn drop_rows(&mut self, store: &mut dyn Store) -> Result<(), StoreError> {
        let all = self.pending_range(store, StreamId::MIN, StreamId::MAX, false, None)?;
        for (id, _) in all {
            self.remove_pending(store, id)?;
        }
        Ok(())
    }

    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, self.name.len() as u64);
        out.extend_from_slice(&self.name);
        put_varint(out, self.last_id.ms);
        put_varint(out, self.last_id.seq);
        match self.entries_read {
            None => out.push(0),
            Some(n) => {
                out.push(1);
                put_varint(out, n);
            }
        }
        put_varint(out, self.gid);
        put_varint(out, self.pending);
        put_varint(out, self.consumers.len() as u64);
        for c in &self.consumers {
            put_varint(out, c.name.len() as u64);
            out.extend_from_slice(&c.name);
            out.extend_from_slice(&c.seen_time.to_le_bytes());
            put_varint(out, c.pending);
        }
    }

    pub(super) fn decode(r: &mut Reader<'_>, cid: CollectionId) -> Result<Group, StoreError> {
        let name = r.bytes()?;
        let last_id = StreamId::new(r.varint()?, r.varint()?);
        let entries_read = match r.byte()? {
            0 => None,
            _ => Some(r.varint()?),
        };
        let gid = r.varint()?;
        let pending = r.varint()?;
        let mut consumers = Vec::new();
        for _ in 0..r.varint()? {
            let name = r.bytes()?;
            let seen_time = r.i64()?;
            let pending = r.varint()?;
            consumers.push(Consumer {
                name,
                seen_time,
                pending,
            });
        }
        Ok(Group {
            name,
            last_id,
            entries_read,
            consumers,
            pending,
            gid,
            cid,
        })
    }
}
