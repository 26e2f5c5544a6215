//! The key-event bus: the bus hands the events of a command, after the command and inside the
//! same atomic step, to every subscriber: keyspace notifications, blocked clients, Lua hooks
//! and plugins.
//!
//! Emitting costs nothing when nobody listens to the event's class: the bus keeps the union of
//! its subscribers' classes and drops other events at the source, without copying the key.

use bytes::Bytes;

use super::Engine;
use crate::events::KeyEvent;
use crate::glob::glob_match;
use crate::storage::DbIndex;

/// Receives the events a command produced that match the subscription, with the whole engine
/// at hand (it may read and write keys; its own writes are not delivered back to it).
pub type EventHandler = Box<dyn FnMut(&mut Engine, &[KeyEvent]) + Send>;

/// Identifies a subscription, for [`KeyEvents::unsubscribe`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SubscriptionId(u64);

struct Subscription {
    id: SubscriptionId,
    classes: u16,
    /// Glob on the key (KEYS syntax); `None` matches every key.
    pattern: Option<Bytes>,
    handler: EventHandler,
}

impl Subscription {
    fn wants(&self, e: &KeyEvent) -> bool {
        self.classes & e.class != 0
            && self
                .pattern
                .as_ref()
                .is_none_or(|p| glob_match(p, &e.key, false))
    }
}

/// Rounds of delivery after one command: events emitted by subscribers are delivered to the
/// others in a further round; this bounds chains of subscribers reacting to each other.
const MAX_ROUNDS: usize = 8;

/// The bus: pending events of the running command and the subscribers.
#[derive(Default)]
pub struct KeyEvents {
    pending: Vec<KeyEvent>,
    wanted: u16,
    subscribers: Vec<Subscription>,
    next_id: u64,
    /// Buffers of [`Engine::deliver_events`], kept between commands: while a subscriber
    /// listens (blocked clients make one), every write delivers events, and allocating
    /// them afresh each time is a visible share of a small command's cost.
    scratch: (Vec<(KeyEvent, Option<SubscriptionId>)>, Vec<KeyEvent>),
}

impl KeyEvents {
    /// Whether any subscriber listens to `class` (callers may skip work to build an event).
    pub fn wants(&self, class: u16) -> bool {
        self.wanted & class != 0
    }

    /// Records an event of the running command.
    pub fn emit(&mut self, db: DbIndex, class: u16, event: &'static str, key: &[u8]) {
        if self.wanted & class != 0 {
            self.pending.push(KeyEvent {
                db,
                class,
                event,
                key: Bytes::copy_from_slice(key),
            });
        }
    }

    /// Subscribes `handler` to the events of `classes` on keys matching `pattern`.
    pub fn subscribe(
        &mut self,
        classes: u16,
        pattern: Option<Bytes>,
        handler: EventHandler,
    ) -> SubscriptionId {
        self.next_id += 1;
        let id = SubscriptionId(self.next_id);
        self.subscribers.push(Subscription {
            id,
            classes,
            pattern,
            handler,
        });
        self.recompute_wanted();
        id
    }

    /// Removes a subscription; returns whether it existed.
    pub fn unsubscribe(&mut self, id: SubscriptionId) -> bool {
        let before = self.subscribers.len();
        self.subscribers.retain(|s| s.id != id);
        self.recompute_wanted();
        self.subscribers.len() != before
    }

    /// How many subscriptions there are.
    #[cfg(test)]
    pub fn subscriber_count(&self) -> usize {
        self.subscribers.len()
    }

    fn recompute_wanted(&mut self) {
        self.wanted = self.subscribers.iter().fold(0, |m, s| m | s.classes);
    }

    /// Puts events that happened before the running command's own (expiry found by its
    /// lookups) ahead of them.
    pub fn prepend(&mut self, events: Vec<KeyEvent>) {
        let wanted = self.wanted;
        let mut events: Vec<KeyEvent> = events
            .into_iter()
            .filter(|e| wanted & e.class != 0)
            .collect();
        if !events.is_empty() {
            events.append(&mut self.pending);
            self.pending = events;
        }
    }

    /// Whether events wait for delivery.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }
}

impl Engine {
    /// Hands the running command's events to the subscribers. Events that subscribers emit
    /// while handling them are delivered in a further round to every subscriber but their
    /// source, so a hook never sees its own writes.
    pub fn deliver_events(&mut self) {
        // Taken, not borrowed: a subscriber may deliver events itself (it then allocates).
        let (mut batch, mut selected) = std::mem::take(&mut self.events.scratch);
        batch.extend(self.events.pending.drain(..).map(|e| (e, None)));
        let mut round = 0;
        while !batch.is_empty() && round < MAX_ROUNDS {
            round += 1;
            let mut subscribers = std::mem::take(&mut self.events.subscribers);
            let mut next = Vec::new();
            for sub in subscribers.iter_mut() {
                selected.clear();
                selected.extend(
                    batch
                        .iter()
                        .filter(|(e, source)| *source != Some(sub.id) && sub.wants(e))
                        .map(|(e, _)| e.clone()),
                );
                if selected.is_empty() {
                    continue;
                }
                (sub.handler)(self, &selected);
                next.extend(self.events.pending.drain(..).map(|e| (e, Some(sub.id))));
            }
            // Subscriptions added while delivering were pushed to the emptied list.
            subscribers.append(&mut self.events.subscribers);
            self.events.subscribers = subscribers;
            self.events.recompute_wanted();
            if next.is_empty() {
                batch.clear();
            } else {
                batch = next;
            }
        }
        if !batch.is_empty() {
            tracing::warn!(
                dropped = batch.len(),
                "key-event subscribers kept reacting to each other; later events dropped"
            );
            batch.clear();
        }
        selected.clear();
        self.events.scratch = (batch, selected);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::class;

    #[test]
    fn emit_is_dropped_without_a_subscriber_for_the_class() {
        let mut bus = KeyEvents::default();
        bus.emit(0, class::STRING, "set", b"k");
        assert!(!bus.has_pending());
        bus.subscribe(class::STRING, None, Box::new(|_, _| {}));
        bus.emit(0, class::HASH, "hset", b"k");
        assert!(!bus.has_pending());
        bus.emit(0, class::STRING, "set", b"k");
        assert!(bus.has_pending());
    }

    #[test]
    fn patterns_filter_keys() {
        let sub = Subscription {
            id: SubscriptionId(1),
            classes: class::ALL,
            pattern: Some(Bytes::from_static(b"user:*")),
            handler: Box::new(|_, _| {}),
        };
        let event = |key: &'static [u8]| KeyEvent {
            db: 0,
            class: class::GENERIC,
            event: "del",
            key: Bytes::from_static(key),
        };
        assert!(sub.wants(&event(b"user:1")));
        assert!(!sub.wants(&event(b"order:1")));
    }
}
