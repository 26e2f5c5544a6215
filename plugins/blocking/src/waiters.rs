//! The waiters: which client waits on which keys for what, queued per key in arrival order,
//! and the keys that may now serve some of them.
//!
//! Every operation is a hash lookup or an ordered-map step on the keys involved: waking never
//! scans the waiters of other keys, so a push to a key nobody waits on costs one lookup.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::num::NonZeroUsize;

use bytes::Bytes;
use respite_core::plugin::api::stream::StreamId;
use respite_core::plugin::api::{ClientId, DbIndex};

type Map<K, V> = HashMap<K, V, ahash::RandomState>;

/// What a waiter does once its key has data: the blocking command's non-blocking core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// BLPOP/BRPOP (`count: None`, reply `[key, item]`) and BLMPOP (`[key, [items]]`).
    Pop {
        /// LEFT (true) or RIGHT.
        front: bool,
        /// BLMPOP's COUNT.
        count: Option<u64>,
    },
    /// BLMOVE and BRPOPLPUSH.
    Move {
        /// Destination list.
        dst: Bytes,
        /// Pop from the head.
        from_front: bool,
        /// Push at the head.
        to_front: bool,
    },
    /// BZPOPMIN/BZPOPMAX (`count: None`, reply `[key, member, score]`) and BZMPOP.
    ZPop {
        /// Highest scores first.
        max: bool,
        /// BZMPOP's COUNT.
        count: Option<u64>,
    },
    /// XREAD BLOCK: the entries above each key's ID.
    XRead {
        /// The keys, as given.
        keys: Vec<Bytes>,
        /// The ID each key's entries must be above (`$` resolved when the client blocked).
        ids: Vec<StreamId>,
        /// COUNT.
        count: Option<u64>,
    },
    /// XREADGROUP BLOCK with `>`: new entries for the group.
    XReadGroup {
        /// The group.
        group: Bytes,
        /// The consumer.
        consumer: Bytes,
        /// COUNT.
        count: Option<u64>,
        /// NOACK.
        noack: bool,
    },
}

impl Op {
    /// Whether the waiter takes from sorted sets (else from lists).
    pub fn wants_zset(&self) -> bool {
        matches!(self, Op::ZPop { .. })
    }

    /// Whether the waiter reads streams (reading takes nothing, so every waiter is served).
    pub fn wants_stream(&self) -> bool {
        matches!(self, Op::XRead { .. } | Op::XReadGroup { .. })
    }
}

/// One blocked command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wait {
    /// Database of the keys.
    pub db: DbIndex,
    /// Keys in the order given.
    pub keys: Vec<Bytes>,
    /// What serving it does.
    pub op: Op,
    /// Arrival order, shared by all its keys' queues.
    seq: u64,
}

impl Wait {
    /// A wait; its place in the queues is given when it is added.
    pub fn new(db: DbIndex, keys: Vec<Bytes>, op: Op) -> Self {
        Wait {
            db,
            keys,
            op,
            seq: 0,
        }
    }
}

/// Limits from `[plugins.blocking]`.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Waiters per key.
    pub per_key: NonZeroUsize,
    /// Waiters in all.
    pub total: NonZeroUsize,
}

/// Why a wait was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The key's queue is full.
    KeyFull(Bytes),
    /// All queues together are full.
    Full,
}

/// Every waiter, indexed by client and queued by key.
#[derive(Default)]
pub struct Waiters {
    queues: Map<(DbIndex, Bytes), BTreeMap<u64, ClientId>>,
    waits: Map<ClientId, Wait>,
    next_seq: u64,
    ready: Vec<(DbIndex, Bytes)>,
    ready_set: HashSet<(DbIndex, Bytes), ahash::RandomState>,
}

impl Waiters {
    /// Blocked clients.
    pub fn len(&self) -> usize {
        self.waits.len()
    }

    /// Whether nobody waits.
    pub fn is_empty(&self) -> bool {
        self.waits.is_empty()
    }

    /// The clients waiting.
    pub fn clients(&self) -> Vec<ClientId> {
        self.waits.keys().copied().collect()
    }

    /// Queues `id` behind the waiters already on each of its keys, or refuses it (changing
    /// nothing) when a limit would be passed.
    pub fn add(&mut self, id: ClientId, mut wait: Wait, limits: Limits) -> Result<(), Refused> {
        if self.waits.len() >= limits.total.get() {
            return Err(Refused::Full);
        }
        for key in &wait.keys {
            let queued = self
                .queues
                .get(&(wait.db, key.clone()))
                .map_or(0, BTreeMap::len);
            if queued >= limits.per_key.get() {
                return Err(Refused::KeyFull(key.clone()));
            }
        }
        self.next_seq += 1;
        wait.seq = self.next_seq;
        for key in &wait.keys {
            self.queues
                .entry((wait.db, key.clone()))
                .or_default()
                .insert(wait.seq, id);
        }
        if let Some(old) = self.waits.insert(id, wait) {
            // A client blocks once at a time; never leave a stale queue entry behind.
            self.unqueue(id, &old);
        }
        Ok(())
    }

    /// Forgets `id`'s wait (served, timed out, unblocked or gone).
    pub fn remove(&mut self, id: ClientId) -> Option<Wait> {
        let wait = self.waits.remove(&id)?;
        self.unqueue(id, &wait);
        Some(wait)
    }

    fn unqueue(&mut self, id: ClientId, wait: &Wait) {
        for key in &wait.keys {
            let slot = (wait.db, key.clone());
            if let Some(queue) = self.queues.get_mut(&slot) {
                if queue.get(&wait.seq) == Some(&id) {
                    queue.remove(&wait.seq);
                }
                if queue.is_empty() {
                    self.queues.remove(&slot);
                }
            }
        }
    }

    /// `id`'s wait.
    pub fn get(&self, id: ClientId) -> Option<&Wait> {
        self.waits.get(&id)
    }

    /// Notes that `key` changed; returns whether somebody waits on it (it is then ready).
    pub fn touch(&mut self, db: DbIndex, key: &Bytes) -> bool {
        let slot = (db, key.clone());
        if !self.queues.contains_key(&slot) {
            return false;
        }
        if self.ready_set.insert(slot.clone()) {
            self.ready.push(slot);
        }
        true
    }

    /// Notes that every key of `db` may have changed (SWAPDB); returns whether somebody
    /// waits in it. Costs one step per key waited on, in all databases.
    pub fn touch_db(&mut self, db: DbIndex) -> bool {
        let mut slots: Vec<(DbIndex, Bytes)> = self
            .queues
            .iter()
            .filter(|(slot, queue)| slot.0 == db && !queue.is_empty())
            .map(|(slot, _)| slot.clone())
            .collect();
        // Oldest waiter first (then by key), so that the order of serving does not depend
        // on hashing.
        slots.sort_by_cached_key(|slot| {
            let oldest = self.queues.get(slot).and_then(|q| q.keys().next().copied());
            (oldest, slot.1.clone())
        });
        let any = !slots.is_empty();
        for slot in slots {
            if self.ready_set.insert(slot.clone()) {
                self.ready.push(slot);
            }
        }
        any
    }

    /// The keys touched since the last call, in the order they were first touched.
    pub fn take_ready(&mut self) -> Vec<(DbIndex, Bytes)> {
        self.ready_set.clear();
        std::mem::take(&mut self.ready)
    }

    /// The first waiter on `key` that arrived after the one with arrival number `after`.
    pub fn next_after(&self, db: DbIndex, key: &Bytes, after: u64) -> Option<(u64, ClientId)> {
        let queue = self.queues.get(&(db, key.clone()))?;
        queue
            .range(after.saturating_add(1)..)
            .next()
            .map(|(&seq, &id)| (seq, id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_key: usize, total: usize) -> Limits {
        Limits {
            per_key: NonZeroUsize::new(per_key).expect("non-zero"),
            total: NonZeroUsize::new(total).expect("non-zero"),
        }
    }

    fn pop_wait(keys: &[&'static str]) -> Wait {
        Wait::new(
            0,
            keys.iter()
                .map(|k| Bytes::from_static(k.as_bytes()))
                .collect(),
            Op::Pop {
                front: true,
                count: None,
            },
        )
    }

    fn queue(w: &Waiters, key: &'static str) -> Vec<ClientId> {
        let key = Bytes::from_static(key.as_bytes());
        let mut out = Vec::new();
        let mut after = 0;
        while let Some((seq, id)) = w.next_after(0, &key, after) {
            out.push(id);
            after = seq;
        }
        out
    }

    #[test]
    fn queues_are_first_come_first_served_per_key() {
        let mut w = Waiters::default();
        let l = limits(10, 10);
        w.add(1, pop_wait(&["a", "b"]), l).expect("add");
        w.add(2, pop_wait(&["b"]), l).expect("add");
        w.add(3, pop_wait(&["a"]), l).expect("add");
        assert_eq!(queue(&w, "a"), vec![1, 3]);
        assert_eq!(queue(&w, "b"), vec![1, 2]);
        assert_eq!(w.remove(1).map(|w| w.keys.len()), Some(2));
        assert_eq!(queue(&w, "a"), vec![3]);
        assert_eq!(queue(&w, "b"), vec![2]);
        assert_eq!(w.remove(1), None);
        w.remove(2);
        w.remove(3);
        assert!(w.is_empty());
        assert!(w.queues.is_empty(), "empty queues are dropped");
    }

    #[test]
    fn the_same_key_twice_is_one_place_in_its_queue() {
        let mut w = Waiters::default();
        w.add(1, pop_wait(&["a", "a"]), limits(10, 10))
            .expect("add");
        assert_eq!(queue(&w, "a"), vec![1]);
        w.remove(1);
        assert!(w.queues.is_empty());
    }

    #[test]
    fn limits_refuse_without_changing_anything() {
        let mut w = Waiters::default();
        let l = limits(1, 2);
        w.add(1, pop_wait(&["a"]), l).expect("add");
        assert_eq!(
            w.add(2, pop_wait(&["b", "a"]), l),
            Err(Refused::KeyFull(Bytes::from_static(b"a")))
        );
        assert_eq!(queue(&w, "b"), Vec::<ClientId>::new());
        w.add(2, pop_wait(&["b"]), l).expect("add");
        assert_eq!(w.add(3, pop_wait(&["c"]), l), Err(Refused::Full));
        assert_eq!(w.len(), 2);
    }

    #[test]
    fn only_keys_with_waiters_become_ready_once_each_in_order() {
        let mut w = Waiters::default();
        w.add(1, pop_wait(&["a", "b"]), limits(10, 10))
            .expect("add");
        let (a, b, c) = (
            Bytes::from_static(b"a"),
            Bytes::from_static(b"b"),
            Bytes::from_static(b"c"),
        );
        assert!(!w.touch(0, &c));
        assert!(!w.touch(1, &a), "another database");
        assert!(w.touch(0, &b));
        assert!(w.touch(0, &a));
        assert!(w.touch(0, &b));
        assert_eq!(w.take_ready(), vec![(0, b.clone()), (0, a.clone())]);
        assert!(w.take_ready().is_empty());
        assert!(w.touch(0, &b), "ready again after being taken");
        w.take_ready();
        w.add(
            2,
            Wait::new(
                1,
                vec![c.clone()],
                Op::Pop {
                    front: true,
                    count: None,
                },
            ),
            limits(10, 10),
        )
        .expect("add");
        assert!(w.touch_db(0));
        assert_eq!(
            w.take_ready(),
            vec![(0, a.clone()), (0, b.clone())],
            "oldest waiter's keys, every key of db 0"
        );
        assert!(!w.touch_db(2));
        assert!(w.touch_db(1));
        assert_eq!(w.take_ready(), vec![(1, c)]);
    }
}
