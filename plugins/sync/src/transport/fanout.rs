//! Local fan-out: the subscribers of each key on this server, in subscription order. Both
//! transports keep one; the NATS transport adds one bus subscription per key it holds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::envelope::{Envelope, SyncKey};

use super::Handler;

/// Subscribers by key. A key is present iff it has at least one subscriber.
#[derive(Default)]
pub struct Fanout {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    keys: HashMap<SyncKey, Vec<(u64, Handler)>>,
    next_id: u64,
    subscriptions: usize,
}

/// What [`Fanout::add`] and [`Fanout::remove`] changed about the key.
#[derive(Debug, PartialEq, Eq)]
pub enum Change {
    /// The key gained its first subscriber, or lost its last.
    Key,
    /// Only the number of subscribers changed.
    Count,
    /// Nothing (a removal already done).
    None,
}

impl Fanout {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `handler` last; returns its id and whether the key is new.
    pub fn add(&self, key: &SyncKey, handler: Handler) -> (u64, Change) {
        let mut inner = self.lock();
        inner.next_id += 1;
        let id = inner.next_id;
        inner.subscriptions += 1;
        let list = inner.keys.entry(key.clone()).or_default();
        list.push((id, handler));
        let change = if list.len() == 1 {
            Change::Key
        } else {
            Change::Count
        };
        (id, change)
    }

    /// Removes subscriber `id` of `key`; [`Change::Key`] when that was the last.
    pub fn remove(&self, key: &SyncKey, id: u64) -> Change {
        let mut inner = self.lock();
        let Some(list) = inner.keys.get_mut(key) else {
            return Change::None;
        };
        let before = list.len();
        list.retain(|(h, _)| *h != id);
        if list.len() == before {
            return Change::None;
        }
        let now_empty = list.is_empty();
        inner.subscriptions -= 1;
        if now_empty {
            inner.keys.remove(key);
            Change::Key
        } else {
            Change::Count
        }
    }

    /// Whether `key` has a subscriber.
    pub fn has_key(&self, key: &SyncKey) -> bool {
        self.lock().keys.contains_key(key)
    }

    /// Calls every subscriber of `key`, in order, outside the lock (a handler may subscribe
    /// or unsubscribe: those present now get this envelope). Returns how many were called.
    pub fn deliver(&self, key: &SyncKey, envelope: &Envelope) -> usize {
        let handlers: Vec<Handler> = match self.lock().keys.get(key) {
            Some(list) => list.iter().map(|(_, h)| Arc::clone(h)).collect(),
            None => return 0,
        };
        for h in &handlers {
            h(envelope);
        }
        handlers.len()
    }

    /// Subscribers of `key`.
    pub fn subscribers(&self, key: &SyncKey) -> usize {
        self.lock().keys.get(key).map_or(0, Vec::len)
    }

    /// Keys with a subscriber.
    pub fn key_count(&self) -> usize {
        self.lock().keys.len()
    }

    /// Subscriptions over all keys.
    pub fn subscription_count(&self) -> usize {
        self.lock().subscriptions
    }
}
