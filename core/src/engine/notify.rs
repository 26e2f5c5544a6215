//! Keyspace notifications: the key-event bus subscriber
//! that publishes `__keyspace@<db>__:<key>` and `__keyevent@<db>__:<event>` messages exactly as
//! Redis does.

use bytes::{BufMut, Bytes, BytesMut};

use crate::engine::Engine;
use crate::events::{class, parse_flags, KeyEvent, KEYEVENT, KEYSPACE};

impl Engine {
    /// Subscribes keyspace notifications to the bus according to `notify-keyspace-events`
    /// (or removes the subscription when it selects nothing). Called at start and after
    /// CONFIG SET.
    pub(crate) fn apply_notify_config(&mut self) {
        if let Some(id) = self.notify_subscription.take() {
            self.events.unsubscribe(id);
        }
        self.keyspace.set_want_new(self.events.wants(class::NEW));
        let flags = parse_flags(&self.config.server.notify_keyspace_events).unwrap_or(0);
        let classes = flags as u16;
        // Redis sends nothing unless K or E is set as well as a class.
        if classes == 0 || flags & (KEYSPACE | KEYEVENT) == 0 {
            return;
        }
        let id = self.events.subscribe(
            classes,
            None,
            Box::new(move |engine, events| engine.notify_keyspace(flags, events)),
        );
        self.notify_subscription = Some(id);
        // Creating a key costs a `new` event only while someone wants it; say so now rather
        // than after the next command.
        self.keyspace.set_want_new(self.events.wants(class::NEW));
    }

    fn notify_keyspace(&mut self, flags: u32, events: &[KeyEvent]) {
        if self.pubsub.is_empty() && !self.pubsub.relays_notifications() {
            return;
        }
        for e in events {
            if flags & KEYSPACE != 0 {
                let channel = channel("__keyspace@", e.db, &e.key);
                self.pubsub
                    .publish_notification(&channel, &Bytes::from_static(e.event.as_bytes()));
            }
            if flags & KEYEVENT != 0 {
                let channel = channel("__keyevent@", e.db, e.event.as_bytes());
                self.pubsub.publish_notification(&channel, &e.key);
            }
        }
    }
}

fn channel(prefix: &str, db: u32, tail: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(prefix.len() + 16 + tail.len());
    b.put_slice(prefix.as_bytes());
    b.put_slice(itoa::Buffer::new().format(db).as_bytes());
    b.put_slice(b"__:");
    b.put_slice(tail);
    b.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::flags_to_string;

    #[test]
    fn flags_print_as_redis_does() {
        let p = |s: &str| flags_to_string(parse_flags(s).unwrap());
        assert_eq!(p("KEA"), "AKE");
        assert_eq!(p("KEAmn"), "AKEm");
        assert_eq!(p("Ex$"), "$xE");
        assert_eq!(p("Kgn"), "gnK");
        assert_eq!(p("Em"), "Em");
        assert_eq!(p("gh$lszxetdmn"), "Am");
        assert_eq!(p(""), "");
        assert!(parse_flags("Q").is_none());
    }
}
