//! A stream's consumer groups: last delivered ID, entries read, consumers and the pending
//! entries list (PEL), kept ordered by ID for XPENDING, XCLAIM and XAUTOCLAIM.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::stream::StreamId;
use super::value::{put_varint, Reader};
use crate::storage::StoreError;

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

/// A consumer of a group.
#[derive(Clone, Debug, PartialEq)]
pub struct Consumer {
    /// Its name.
    pub name: Bytes,
    /// When it last read or claimed, Unix milliseconds.
    pub seen_time: i64,
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
    /// Pending entries by ID.
    pub pel: BTreeMap<StreamId, Pending>,
    /// Consumers, ordered by name (as Redis's radix tree lists them).
    pub consumers: Vec<Consumer>,
}

impl Group {
    /// A new group.
    pub fn new(name: Bytes, last_id: StreamId, entries_read: Option<u64>) -> Self {
        Group {
            name,
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: Vec::new(),
        }
    }

    /// Cache cost.
    pub fn size(&self) -> usize {
        64 + self.name.len()
            + self
                .pel
                .values()
                .map(|p| 48 + p.consumer.len())
                .sum::<usize>()
            + self
                .consumers
                .iter()
                .map(|c| 32 + c.name.len())
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
                    },
                );
                (i, true)
            }
        }
    }

    /// Number of pending entries owned by a consumer.
    pub fn consumer_pending(&self, name: &[u8]) -> usize {
        self.pel.values().filter(|p| p.consumer == name).count()
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
        put_varint(out, self.consumers.len() as u64);
        for c in &self.consumers {
            put_varint(out, c.name.len() as u64);
            out.extend_from_slice(&c.name);
            out.extend_from_slice(&c.seen_time.to_le_bytes());
        }
        put_varint(out, self.pel.len() as u64);
        for (id, p) in &self.pel {
            put_varint(out, id.ms);
            put_varint(out, id.seq);
            put_varint(out, p.consumer.len() as u64);
            out.extend_from_slice(&p.consumer);
            out.extend_from_slice(&p.delivery_time.to_le_bytes());
            put_varint(out, p.delivery_count);
        }
    }

    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Group, StoreError> {
        let name = r.bytes()?;
        let last_id = StreamId::new(r.varint()?, r.varint()?);
        let entries_read = match r.byte()? {
            0 => None,
            _ => Some(r.varint()?),
        };
        let mut consumers = Vec::new();
        for _ in 0..r.varint()? {
            let name = r.bytes()?;
            let seen_time = r.i64()?;
            consumers.push(Consumer { name, seen_time });
        }
        let mut pel = BTreeMap::new();
        for _ in 0..r.varint()? {
            let id = StreamId::new(r.varint()?, r.varint()?);
            let consumer = r.bytes()?;
            let delivery_time = r.i64()?;
            let delivery_count = r.varint()?;
            pel.insert(
                id,
                Pending {
                    consumer,
                    delivery_time,
                    delivery_count,
                },
            );
        }
        Ok(Group {
            name,
            last_id,
            entries_read,
            pel,
            consumers,
        })
    }
}
