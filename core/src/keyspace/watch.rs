//! WATCH bookkeeping: which clients watch which keys, and which of them saw a watched key
//! change since. The keyspace itself reports every change (writes, expiry, RENAME, FLUSHDB,
//! SWAPDB) here, so no command can forget to, and a key created then deleted again between
//! WATCH and EXEC is caught like any other write.
//!
//! While client-side caching is on (CLIENT TRACKING), the same reports are also logged by
//! key name for the engine to invalidate (Redis's signalModifiedKey does both); the log is
//! off, and costs nothing, otherwise.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;

use crate::storage::DbIndex;

/// Watched keys and the clients whose transaction must fail. Clients are named by their id, a
/// plain `u64` (the number `CLIENT ID` answers), so the keyspace does not depend on the
/// client module.
#[derive(Default, Debug)]
pub struct WatchRegistry {
    keys: HashMap<(DbIndex, Bytes), Vec<u64>, ahash::RandomState>,
    by_client: HashMap<u64, Vec<(DbIndex, Bytes)>, ahash::RandomState>,
    dirty: HashSet<u64, ahash::RandomState>,
    /// Keys changed since the engine last took them, while [`Self::set_log_changes`] is on,
    /// with whether the change was their expiry.
    changed: Vec<(Bytes, bool)>,
    log_changes: bool,
}

impl WatchRegistry {
    /// Whether nobody watches anything and no change is logged (writes then skip
    /// [`Self::changed`]).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && !self.log_changes
    }

    /// Turns the log of changed keys on (client-side caching is in use) or off.
    pub fn set_log_changes(&mut self, on: bool) {
        self.log_changes = on;
        if !on {
            self.changed.clear();
        }
    }

    /// Whether changed keys are logged.
    pub fn logs_changes(&self) -> bool {
        self.log_changes
    }

    /// Takes the keys logged as changed, in order (a key may repeat), with whether the
    /// change was their expiry.
    pub fn take_changed(&mut self) -> Vec<(Bytes, bool)> {
        std::mem::take(&mut self.changed)
    }

    /// Whether changed keys wait to be taken.
    pub fn has_changed(&self) -> bool {
        !self.changed.is_empty()
    }

    /// Reports a change of a key's value (a write, its expiry, RENAME): its watchers are
    /// marked and, while the log is on, the key is logged.
    pub fn changed(&mut self, db: DbIndex, key: &[u8], expired: bool) {
        if self.log_changes {
            self.changed.push((Bytes::copy_from_slice(key), expired));
        }
        self.touch(db, key);
    }

    /// `client` starts watching `key` of `db` (again: no effect).
    pub fn watch(&mut self, client: u64, db: DbIndex, key: Bytes) {
        let watchers = self.keys.entry((db, key.clone())).or_default();
        if watchers.contains(&client) {
            return;
        }
        watchers.push(client);
        self.by_client.entry(client).or_default().push((db, key));
    }

    /// Forgets every watch of `client` and its dirty mark (UNWATCH, EXEC, DISCARD, RESET,
    /// disconnection).
    pub fn unwatch_all(&mut self, client: u64) {
        self.dirty.remove(&client);
        let Some(keys) = self.by_client.remove(&client) else {
            return;
        };
        for k in keys {
            if let Some(watchers) = self.keys.get_mut(&k) {
                watchers.retain(|c| *c != client);
                if watchers.is_empty() {
                    self.keys.remove(&k);
                }
            }
        }
    }

    /// Number of keys `client` watches (CLIENT LIST `watch=`).
    pub fn watched_by(&self, client: u64) -> usize {
        self.by_client.get(&client).map_or(0, Vec::len)
    }

    /// The keys `client` watches.
    pub fn keys_of(&self, client: u64) -> Vec<(DbIndex, Bytes)> {
        self.by_client.get(&client).cloned().unwrap_or_default()
    }

    /// Whether a watched key of `client` changed since it was watched.
    pub fn is_dirty(&self, client: u64) -> bool {
        self.dirty.contains(&client)
    }

    /// Reports a change to `key` of `db`: every client watching it is marked.
    pub fn touch(&mut self, db: DbIndex, key: &[u8]) {
        if self.keys.is_empty() {
            return;
        }
        // Keys are looked up by value; the tuple needs an owned Bytes, but only when someone
        // watches at all.
        if let Some(watchers) = self.keys.get(&(db, Bytes::copy_from_slice(key))) {
            self.dirty.extend(watchers.iter().copied());
        }
    }

    /// Watched keys of the given databases.
    pub fn keys_in(&self, dbs: &[DbIndex]) -> Vec<(DbIndex, Bytes)> {
        self.keys
            .keys()
            .filter(|(db, _)| dbs.contains(db))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touch_marks_only_watchers_and_unwatch_clears() {
        let mut w = WatchRegistry::default();
        w.watch(1, 0, Bytes::from_static(b"a"));
        w.watch(2, 0, Bytes::from_static(b"a"));
        w.watch(2, 1, Bytes::from_static(b"b"));
        w.touch(0, b"b");
        assert!(!w.is_dirty(1) && !w.is_dirty(2));
        w.touch(1, b"b");
        assert!(!w.is_dirty(1) && w.is_dirty(2));
        w.unwatch_all(2);
        assert!(!w.is_dirty(2));
        assert_eq!(w.watched_by(2), 0);
        w.touch(0, b"a");
        assert!(w.is_dirty(1));
        w.unwatch_all(1);
        assert!(w.is_empty());
    }
}
