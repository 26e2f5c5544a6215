//! The logical data size that `maxmemory` limits: per store database, the sum over its live
//! keys of the key's bytes plus [`Value::data_size`](super::Value::data_size) (a string's
//! bytes, an inline collection's element bytes, a fixed charge per element row). It is not
//! RSS: the data set may be larger than memory, and memory follows the cache budget.
//!
//! Every change to a key passes through a write handle, lazy expiry or RENAME, which adjust
//! the counter by the key's size after minus before; FLUSHDB and FLUSHALL zero it. It is kept
//! exact across restarts by writing it to the store's metadata in the same transaction as the
//! keys it counts, and across failed commits by going back to the last committed figure.

use super::{Entry, Keyspace};
use crate::storage::{DbIndex, Store, StoreError};

/// A key's share of the logical data size.
pub(super) fn entry_data(key: &[u8], entry: Option<&Entry>) -> i64 {
    entry.map_or(0, |e| (key.len() + e.value.data_size()) as i64)
}

fn meta_name(pdb: usize) -> String {
    format!("data_bytes:{pdb}")
}

/// The counters, by store database (SWAPDB swaps only the client-to-store map).
#[derive(Default)]
pub(super) struct DataSize {
    pub(super) bytes: Vec<i64>,
    /// As of the last commit, for a rollback.
    committed: Vec<i64>,
    /// As last written to the store's metadata.
    persisted: Vec<i64>,
}

impl DataSize {
    /// Reads the persisted counters. A file written before they existed (metadata absent but
    /// keys present) is measured once, key by key.
    pub(super) fn load(store: &mut dyn Store, databases: u32) -> Result<Self, StoreError> {
        let mut bytes = Vec::with_capacity(databases as usize);
        let mut missing = false;
        for pdb in 0..databases as usize {
            match store.meta_get(&meta_name(pdb))? {
                Some(n) => bytes.push(n),
                None => {
                    missing = true;
                    bytes.push(0);
                }
            }
        }
        if missing && !store.db_stats()?.is_empty() {
            tracing::info!("measuring the data size of a file written by an older version");
            for pdb in 0..databases {
                bytes[pdb as usize] = measure(store, pdb)?;
            }
        }
        Ok(DataSize {
            committed: bytes.clone(),
            // Measured figures are written with the next commit.
            persisted: if missing {
                vec![-1; bytes.len()]
            } else {
                bytes.clone()
            },
            bytes,
        })
    }

    /// Writes the counters that changed into the transaction about to commit (once per
    /// commit, not per flush: eviction flushes once per key).
    pub(super) fn persist(&mut self, store: &mut dyn Store) -> Result<(), StoreError> {
        for (pdb, (&now, was)) in self.bytes.iter().zip(self.persisted.iter_mut()).enumerate() {
            if now != *was {
                store.meta_set(&meta_name(pdb), now)?;
                *was = now;
            }
        }
        Ok(())
    }

    pub(super) fn committed(&mut self) {
        self.committed.clone_from(&self.bytes);
    }

    /// A rollback: back to the last committed figures, rewritten with the next commit.
    pub(super) fn rolled_back(&mut self) {
        self.bytes.clone_from(&self.committed);
        self.persisted.iter_mut().for_each(|p| *p = -1);
    }
}

/// Sums one database's keys from the store (an old file's first start only).
fn measure(store: &mut dyn Store, pdb: DbIndex) -> Result<i64, StoreError> {
    let mut total = 0;
    let mut cursor = 0;
    loop {
        let (keys, next) = store.scan(pdb, cursor, 1000)?;
        for k in keys {
            if let Some(r) = store.load(pdb, &k.key)? {
                let entry = Entry {
                    expire_at: r.expire_at,
                    version: r.version,
                    raw: false,
                    value: super::Value::from_record(r)?,
                };
                total += entry_data(&k.key, Some(&entry));
            }
        }
        if next == 0 {
            return Ok(total);
        }
        cursor = next;
    }
}

impl Keyspace {
    /// The logical data size of every database together: what `maxmemory` limits.
    pub fn used_data_bytes(&self) -> u64 {
        self.data.bytes.iter().map(|&b| b.max(0) as u64).sum()
    }

    /// Zeroes the data size of `db` (FLUSHDB).
    pub(super) fn data_flushed(&mut self, db: DbIndex) {
        let pdb = self.phys[db as usize] as usize;
        self.data.bytes[pdb] = 0;
    }
}
