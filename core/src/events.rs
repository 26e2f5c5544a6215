//! Key events: every write reports what it did to which key, with Redis's event names (`set`,
//! `del`, `expired`, `hset`, ...). This module holds what an event is; the bus that delivers
//! them to subscribers is the engine's (`engine::bus`).

use bytes::Bytes;

use crate::storage::DbIndex;

/// Event classes, one bit per letter of `notify-keyspace-events`.
pub mod class {
    /// `g`: generic commands (DEL, EXPIRE, RENAME, ...).
    pub const GENERIC: u16 = 1 << 0;
    /// `$`: string commands.
    pub const STRING: u16 = 1 << 1;
    /// `l`: list commands.
    pub const LIST: u16 = 1 << 2;
    /// `s`: set commands.
    pub const SET: u16 = 1 << 3;
    /// `h`: hash commands.
    pub const HASH: u16 = 1 << 4;
    /// `z`: sorted set commands.
    pub const ZSET: u16 = 1 << 5;
    /// `x`: a key removed because its TTL passed (lazily or by the active sweep).
    pub const EXPIRED: u16 = 1 << 6;
    /// `e`: a key evicted to respect `maxmemory`.
    pub const EVICTED: u16 = 1 << 7;
    /// `t`: stream commands.
    pub const STREAM: u16 = 1 << 8;
    /// `m`: a read that found no key.
    pub const KEY_MISS: u16 = 1 << 9;
    /// `d`: module (plugin) events.
    pub const MODULE: u16 = 1 << 10;
    /// `n`: a key created.
    pub const NEW: u16 = 1 << 11;
    /// Every class that has a `notify-keyspace-events` letter.
    pub const ALL: u16 = (1 << 12) - 1;
    /// SWAPDB exchanged two databases: one event per database, with an empty key. No
    /// notification letter (Redis sends none); blocked clients re-check their keys on it.
    pub const DB_SWAPPED: u16 = 1 << 12;
    /// FLUSHDB or FLUSHALL emptied a database: one event per database, with an empty key. No
    /// notification letter (Redis sends none); secondary indexes (the search plugin) drop
    /// that database's entries on it.
    pub const DB_FLUSHED: u16 = 1 << 13;
}

// `notify-keyspace-events`: which event classes a letter selects.

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

/// One thing a command did to one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyEvent {
    /// Database of the key.
    pub db: DbIndex,
    /// The event's class (one of [`class`]).
    pub class: u16,
    /// Redis's event name (`set`, `del`, `expired`, `lpush`, ...).
    pub event: &'static str,
    /// The key.
    pub key: Bytes,
}
