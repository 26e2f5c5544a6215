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
    /// `e`: a key evicted by maxmemory (Respite never evicts data; kept for the flag letter).
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
}

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

