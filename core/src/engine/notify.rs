//! Keyspace notifications: `notify-keyspace-events` flags, and the key-event bus subscriber
//! that publishes `__keyspace@<db>__:<key>` and `__keyevent@<db>__:<event>` messages exactly as
//! Redis does.

use bytes::{BufMut, Bytes, BytesMut};

use crate::engine::Engine;
use crate::events::{class, KeyEvent};

/// `K`: publish on `__keyspace@<db>__:<key>`.
pub const KEYSPACE: u32 = 1 << 16;
/// `E`: publish on `__keyevent@<db>__:<event>`.
pub const KEYEVENT: u32 = 1 << 17;

/// What `A` stands for: every class but key misses (`m`) and new keys (`n`), as in Redis.
const ALIAS_ALL: u16 = class::GENERIC
    | class::STRING
    | class::LIST
    | class::SET
    | class::HASH
    | class::ZSET
    | class::EXPIRED
    | class::EVICTED
    | class::STREAM
    | class::MODULE;

/// Letters of the event classes, in the order Redis prints them.
const CLASS_LETTERS: &[(char, u16)] = &[
    ('g', class::GENERIC),
    ('$', class::STRING),
    ('l', class::LIST),
    ('s', class::SET),
    ('h', class::HASH),
    ('z', class::ZSET),
    ('x', class::EXPIRED),
    ('e', class::EVICTED),
    ('t', class::STREAM),
    ('d', class::MODULE),
    ('n', class::NEW),
];

/// Parses flag letters into classes (low 16 bits) plus [`KEYSPACE`] / [`KEYEVENT`]; `None`
/// names no invalid letter (Redis's keyspaceEventsStringToFlags).
pub fn parse_flags(text: &str) -> Option<u32> {
    let mut flags = 0u32;
    for c in text.chars() {
        flags |= match c {
            'A' => ALIAS_ALL as u32,
            'K' => KEYSPACE,
            'E' => KEYEVENT,
            'm' => class::KEY_MISS as u32,
            _ => CLASS_LETTERS.iter().find(|(l, _)| *l == c)?.1 as u32,
        };
    }
    Some(flags)
}

/// The canonical text of flags (Redis's keyspaceEventsFlagsToString): `AKE` for everything.
/// Behind `A` Redis 7.0 prints no `n` even when it is set; so do we, for byte-equal output.
pub fn flags_to_string(flags: u32) -> String {
    let mut out = String::new();
    let classes = flags as u16;
    if classes & ALIAS_ALL == ALIAS_ALL {
        out.push('A');
    } else {
        for (letter, bit) in CLASS_LETTERS {
            if classes & bit != 0 {
                out.push(*letter);
            }
        }
    }
    if flags & KEYSPACE != 0 {
        out.push('K');
    }
    if flags & KEYEVENT != 0 {
        out.push('E');
    }
    if classes & class::KEY_MISS != 0 {
        out.push('m');
    }
    out
}

/// The error CONFIG SET and the config loader give for a bad letter.
pub const INVALID_FLAGS: &str = "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.";

impl Engine {
    /// Subscribes keyspace notifications to the bus according to `notify-keyspace-events`
    /// (or removes the subscription when it selects nothing). Called at start and after
    /// CONFIG SET.
    pub fn apply_notify_config(&mut self) {
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
        if self.pubsub.is_empty() {
            return;
        }
        for e in events {
            if flags & KEYSPACE != 0 {
                let channel = channel("__keyspace@", e.db, &e.key);
                self.pubsub
                    .publish(&channel, &Bytes::from_static(e.event.as_bytes()));
            }
            if flags & KEYEVENT != 0 {
                let channel = channel("__keyevent@", e.db, e.event.as_bytes());
                self.pubsub.publish(&channel, &e.key);
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
