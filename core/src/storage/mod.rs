//! The storage seam: everything the keyspace persists goes through the [`Store`] trait, so that
//! the writebehind plugin can wrap it and another backend (PostgreSQL) can implement it without
//! the keyspace knowing any SQL.
//!
//! Cost model: a read is an index probe of one SQLite table (the keyspace's cache answers hot
//! keys before that, the element cache, [`element_cache`], elements of large collections read
//! or written lately, and two Bloom filters the keys and the elements that do not exist, see
//! [`keyfilter`]), two for a key's value over 512 bytes or an element's over about 970,
//! which lives in a table of its own so that it fills pages instead of an overflow page each
//! (see [`values`]). A write costs the bytes it changes on the reply path (one record of the
//! redo journal per batch, see [`redo`]); the changed keys' rows are then written into SQLite's
//! open transaction by a thread of their own ([`rows`]), once per key for all the writes that
//! fall in its window, and each changed page is written once per merge, whose commit that
//! thread runs too while the executor goes on serving: a key's read finds the rows that thread
//! applied since the last commit in memory, and any other key in the committed file on a
//! read-only connection of its own ([`committed`]), so it does not wait for the merge. A read
//! of one key past what is kept in memory, or of one element or list item, a range that
//! overlays the queued rows on the table's (a list's, a sorted set's end), or any read of a
//! collection none of whose element rows is queued (a ZCOUNT, a ZRANGEBYSCORE, a page of
//! HSCAN), takes the shared connection between the writer's chunks, in the merge's open
//! transaction: it waits for a chunk (or the merge's commit, if that runs), never for the
//! merge's end. The window (32 MB of rows by default) is applied on the
//! executor's thread only by a statement over all key rows (SAVE, a plugin's SQL that reaches
//! them, see [`reach`]): FLUSHDB drops its database's queued rows, and a reclaim step needs
//! none. The element rows of large hashes, sets and sorted sets, and the items of large
//! lists, go the same way ([`element_rows`]): queued, coalesced per element (or position),
//! written by that thread in the table's order; a statement over part of a collection
//! applies the queued rows of that part first. A pop from a sorted set's end is the
//! exception: it is answered from the first members kept in memory ([`zset_end`]), read by
//! merging the queued members with the table's rows, applying none. Deleting a large
//! collection costs one row at once and its element rows later, in
//! bounded steps ([`Store::reclaim`]); flushing one database among several costs a few rows
//! at once (it moves to a fresh slot, see [`slots`]) and its key rows later, the same way.
//!
//! In memory, the work of a write under a large key set is mostly waiting for memory: each
//! lookup in the hot cache, the row writer's queue or the element cache is a chain of
//! dependent loads. Their keys are [`ShortBytes`] (up to 23 bytes in the map's node, no
//! allocation of their own, see [`short_bytes`]), and a commit looks its batch's keys up a
//! few at a time before using them, so that the loads overlap. The row writer's queue is
//! looked up on the writer's thread: a commit appends its rows to a list the thread moves
//! into the queue's map when woken (see `Queue::incoming` in [`rows`]), so the executor pays
//! two lookups per written key (the command's, the commit's in the hot cache), not three.
//! The element cache keeps its entries in open-addressing tables with a tag byte per slot
//! ([`element_table`]): before a pipeline's commands run, the elements they name (the
//! command table's element positions) are fetched ahead, every tag line and then every
//! entry line, so that a lookup of a member of a large set finds it in the CPU's cache
//! ([`Store::prefetch_elements`]).

mod committed;
mod element_cache;
mod element_rows;
mod element_table;
mod keyfilter;
mod prepared;
mod queued_scores;
mod reach;
mod redo;
mod rows;
mod short_bytes;
mod slots;
mod snapshot;
mod sqlite;
mod synchronous;
mod values;
mod zset_end;

pub(crate) use short_bytes::{apart, ShortBytes};

pub use element_cache::ElementCacheStats;
pub use redo::{JournalOptions, JournalStats};
pub use snapshot::write_snapshot;
pub(crate) use sqlite::position;
pub use sqlite::SqliteStore;
pub use synchronous::Synchronous;

use bytes::Bytes;

/// Strings up to this length are copied rather than shared by [`share_or_copy`].
const SHORT_COPY: usize = 64;

/// Bytes for another owner (a reply, a key row, a queued key): copied when short. Sharing
/// counts the reference in a header of its own, a memory load that misses under a large key
/// set (and the first share allocates that header), while a short copy reads bytes the
/// caller has just touched and costs one small allocation.
pub(crate) fn share_or_copy(b: &Bytes) -> Bytes {
    if b.len() <= SHORT_COPY {
        Bytes::copy_from_slice(b)
    } else {
        b.clone()
    }
}

/// Index of a logical database (`SELECT n`).
pub type DbIndex = u32;

/// The type of a stored value, as persisted in the `type` column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ValueType {
    /// A Redis string.
    String = 0,
    /// A Redis hash.
    Hash = 1,
    /// A Redis list.
    List = 2,
    /// A Redis set.
    Set = 3,
    /// A Redis sorted set.
    ZSet = 4,
    /// A Redis stream.
    Stream = 5,
}

impl ValueType {
    /// Decodes the persisted type code.
    pub fn from_code(code: i64) -> Option<ValueType> {
        match code {
            0 => Some(ValueType::String),
            1 => Some(ValueType::Hash),
            2 => Some(ValueType::List),
            3 => Some(ValueType::Set),
            4 => Some(ValueType::ZSet),
            5 => Some(ValueType::Stream),
            _ => None,
        }
    }

    /// Redis's name for the type, as TYPE and SCAN TYPE use it.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::String => "string",
            ValueType::Hash => "hash",
            ValueType::List => "list",
            ValueType::Set => "set",
            ValueType::ZSet => "zset",
            ValueType::Stream => "stream",
        }
    }
}

/// Identifies the element rows of a large collection. Allocated by the keyspace, never reused;
/// a key keeps its collection across RENAME and MOVE, so those never touch the elements.
pub type CollectionId = u64;

/// One key's row as persisted.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Type of the value.
    pub kind: ValueType,
    /// Serialized value (the raw bytes for strings).
    pub value: Bytes,
    /// Absolute expiry in Unix milliseconds, if any.
    pub expire_at: Option<i64>,
    /// Version stamped by the keyspace on every write.
    pub version: u64,
    /// The element rows of a large collection, if the value keeps its elements apart.
    /// Replacing or deleting the row drops the old collection's elements.
    pub cid: Option<CollectionId>,
    /// Earliest expiry among the value's elements (hash fields with a TTL): a lower bound the
    /// active sweep uses to find keys with fields to expire.
    pub sub_expire_at: Option<i64>,
}

/// A key's row to write (`row`: `None` deletes it), as [`Store::write_rows`] takes it.
#[derive(Clone, Debug)]
pub struct KeyRow {
    /// The store database.
    pub db: DbIndex,
    /// The key.
    pub key: ShortBytes,
    /// The key's new row, or `None` to delete it.
    pub row: Option<Record>,
    /// Whether the store held the key (and with an expiry) before this row, as of the
    /// writes given to it so far, when the caller knows: what the per-database counts change
    /// by. A store that writes rows later (the row writer's queue) counts with it, so that
    /// counting keys does not have to write the rows first (`None`: it must).
    pub was: Option<Presence>,
}

/// Whether a key exists, and whether it has an expiry: what it counts for in a database's
/// `keys` and `expires`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Presence {
    /// The key exists.
    pub exists: bool,
    /// It has an expiry.
    pub expires: bool,
}

impl Presence {
    /// The presence a row (`None`: no row) gives its key.
    pub fn of(row: Option<&Record>) -> Presence {
        Presence {
            exists: row.is_some(),
            expires: row.is_some_and(|r| r.expire_at.is_some()),
        }
    }

    /// What the counts (keys, expires) change by from `was` to `self`.
    pub fn minus(self, was: Presence) -> (i64, i64) {
        (
            i64::from(self.exists) - i64::from(was.exists),
            i64::from(self.expires) - i64::from(was.expires),
        )
    }
}

/// One element row of a large collection.
#[derive(Clone, Debug, PartialEq)]
pub struct Element {
    /// The element's name (a hash field, a set member).
    pub sub: Bytes,
    /// Its value (empty for set members).
    pub value: Bytes,
    /// Absolute expiry in Unix milliseconds (hash fields with a TTL).
    pub expire_at: Option<i64>,
}

/// What one [`Store::reclaim`] step removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reclaimed {
    /// The collection worked on (none when nothing is queued).
    pub cid: Option<CollectionId>,
    /// Or the flushed database worked on (its rows' slot, see FLUSHDB): `rows` are its keys.
    pub detached: Option<DbIndex>,
    /// Rows removed.
    pub rows: u64,
    /// Whether the collection's (or flushed database's) last rows went in this step (it is
    /// unqueued).
    pub finished: bool,
}

impl Reclaimed {
    /// Whether the step found anything queued (else there is nothing left to reclaim).
    pub fn worked(&self) -> bool {
        self.cid.is_some() || self.detached.is_some()
    }
}

/// A key as a scan sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct ScannedKey {
    /// The key.
    pub key: Bytes,
    /// Type of its value.
    pub kind: ValueType,
    /// Its expiry, so callers can skip keys whose TTL passed.
    pub expire_at: Option<i64>,
}
/// Key and expiry counts of one database, as `INFO keyspace` shows them.
/// The key filter's figures, for INFO (see `storage/keyfilter.rs`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyFilterStats {
    /// `off`, `building` or `ready`.
    pub state: &'static str,
    /// Bytes of the filter in use.
    pub bytes: u64,
    /// Lookups of absent keys it answered without reading the file.
    pub skipped_lookups: u64,
    /// Builds finished since start-up (the first, then each rebuild).
    pub builds: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DbStats {
    /// Database index.
    pub db: DbIndex,
    /// Number of keys.
    pub keys: u64,
    /// Number of keys with an expiry.
    pub expires: u64,
}

/// One end of a score range (`(1.5`, `inf`): unbounded ends are infinite inclusive bounds,
/// since NaN is never stored.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreBound {
    /// The score.
    pub value: f64,
    /// Whether the score itself is left out.
    pub exclusive: bool,
}

impl ScoreBound {
    /// An inclusive bound.
    pub fn inclusive(value: f64) -> Self {
        ScoreBound {
            value,
            exclusive: false,
        }
    }
}

/// One end of a lexicographic range (`-`, `+`, `[a`, `(a`); members compare as raw bytes.
#[derive(Clone, Debug, PartialEq)]
pub enum LexBound {
    /// `-`: below every member.
    Min,
    /// `+`: above every member.
    Max,
    /// `[member`.
    Inclusive(Bytes),
    /// `(member`.
    Exclusive(Bytes),
}

/// A set of sorted-set entries: a score range and a member range, both must hold. Score
/// queries leave the members unbounded; lexicographic queries pin the score when every
/// member has the same one (their documented use), so both use the score order's index.
#[derive(Clone, Debug, PartialEq)]
pub struct ZRange {
    /// Lowest score.
    pub min: ScoreBound,
    /// Highest score.
    pub max: ScoreBound,
    /// Lowest member.
    pub lex_min: LexBound,
    /// Highest member.
    pub lex_max: LexBound,
}

impl ZRange {
    /// Every entry.
    pub fn all() -> Self {
        ZRange::scores(
            ScoreBound::inclusive(f64::NEG_INFINITY),
            ScoreBound::inclusive(f64::INFINITY),
        )
    }

    /// Entries whose score is within bounds.
    pub fn scores(min: ScoreBound, max: ScoreBound) -> Self {
        ZRange {
            min,
            max,
            lex_min: LexBound::Min,
            lex_max: LexBound::Max,
        }
    }

    /// Whether it is [`ZRange::all`]: every entry.
    pub fn is_all(&self) -> bool {
        *self == ZRange::all()
    }

    /// Whether no entry can match (a `+` minimum or a `-` maximum member).
    pub fn is_void(&self) -> bool {
        matches!(self.lex_min, LexBound::Max) || matches!(self.lex_max, LexBound::Min)
    }

    /// Whether the score is within the score bounds.
    pub fn score_in(&self, score: f64) -> bool {
        let above = if self.min.exclusive {
            score > self.min.value
        } else {
            score >= self.min.value
        };
        let below = if self.max.exclusive {
            score < self.max.value
        } else {
            score <= self.max.value
        };
        above && below
    }

    /// Whether the member is within the member bounds.
    pub fn member_in(&self, member: &[u8]) -> bool {
        let above = match &self.lex_min {
            LexBound::Min => true,
            LexBound::Max => false,
            LexBound::Inclusive(m) => member >= &m[..],
            LexBound::Exclusive(m) => member > &m[..],
        };
        let below = match &self.lex_max {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Inclusive(m) => member <= &m[..],
            LexBound::Exclusive(m) => member < &m[..],
        };
        above && below
    }

    /// Whether an entry belongs to the range.
    pub fn contains(&self, score: f64, member: &[u8]) -> bool {
        self.score_in(score) && self.member_in(member)
    }
}

/// A value bound to or read from plugin SQL ([`Store::sql_execute`], [`Store::sql_query`]):
/// SQLite's five storage classes.
#[derive(Clone, Debug, PartialEq)]
pub enum SqlValue {
    /// NULL.
    Null,
    /// A 64-bit integer.
    Integer(i64),
    /// A double.
    Real(f64),
    /// UTF-8 text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

/// Storage failures. The message is shown to clients after `ERR `.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database engine reported an error.
    #[error("storage error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The file holds a row this version cannot decode.
    #[error("storage corruption: {0}")]
    Corrupt(String),
    /// A file beside the database (the redo journal) could not be read or written.
    #[error("{0}")]
    Io(String),
    /// The file could not be opened or prepared.
    #[error("cannot open store {path}: {reason}")]
    Open {
        /// Path given in the configuration.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

/// A transactional key-value store of [`Record`]s.
///
/// Writes open a transaction lazily; [`Store::commit`] makes everything since the last commit
/// durable at once (the executor's group commit), and [`Store::rollback`] discards it. Reads see
/// the open transaction's writes.
pub trait Store: Send {
    /// Reads one key's row.
    fn load(&mut self, db: DbIndex, key: &[u8]) -> Result<Option<Record>, StoreError>;
    /// `false` when the store certainly holds no row for the key (its key filter says so,
    /// without a lookup); `true` when it may.
    fn may_hold(&mut self, db: DbIndex, key: &[u8]) -> bool;
    /// Makes the CPU load what [`Self::may_hold`] (and a load's first look) of the key will
    /// reach in memory, without waiting for it: the keyspace's prefetch asks for a pipeline's
    /// keys that are not cached. Only a hint; a store may ignore it.
    fn prefetch_key(&self, db: DbIndex, key: &[u8]) {
        let _ = (db, key);
    }
    /// Inserts or replaces one key's row.
    fn put(&mut self, db: DbIndex, key: &[u8], record: Record) -> Result<(), StoreError>;
    /// Removes one key's row, if it exists.
    fn delete(&mut self, db: DbIndex, key: &[u8]) -> Result<(), StoreError>;
    /// Writes (`Some`) or deletes keys' rows, in order, the keys given to the store to keep
    /// (the row writer's queue holds them until their rows are applied). On an error, also
    /// says how many rows were written before the one that failed.
    fn write_rows(&mut self, rows: Vec<KeyRow>) -> Result<(), (usize, StoreError)>;
    /// Removes every key of one database: at once for every reader and writer, while its rows
    /// may be deleted later by [`Store::reclaim`].
    fn flush_db(&mut self, db: DbIndex) -> Result<(), StoreError>;
    /// Removes every key of every database.
    fn flush_all(&mut self) -> Result<(), StoreError>;
    /// Counts of every non-empty database, ordered by index.
    fn db_stats(&mut self) -> Result<Vec<DbStats>, StoreError>;
    /// Renames a key's row, keeping its value, expiry, version and elements; the destination
    /// must not exist. Returns whether the source existed.
    fn rename(
        &mut self,
        db: DbIndex,
        key: &[u8],
        to_db: DbIndex,
        to_key: &[u8],
    ) -> Result<bool, StoreError>;
    /// Keys of `db` from `cursor` on, at least `count` of them when that many remain, and the
    /// cursor to continue from (0 when the scan is complete). A key present for a whole scan
    /// is returned exactly once, whatever is added or removed meanwhile.
    fn scan(
        &mut self,
        db: DbIndex,
        cursor: u64,
        count: usize,
    ) -> Result<(Vec<ScannedKey>, u64), StoreError>;
    /// A key picked at random from `db` (`seed` chooses where to look).
    fn random_key(&mut self, db: DbIndex, seed: u64) -> Result<Option<ScannedKey>, StoreError>;
    /// Up to `limit` keys whose expiry is at or before `now`, with their databases: candidates
    /// for the active expiry cycle, which checks each against its newest row. A key written in
    /// the last few milliseconds may be left out until a later call.
    fn expired_keys(&mut self, now: i64, limit: usize)
        -> Result<Vec<(DbIndex, Bytes)>, StoreError>;
    /// Up to `limit` keys with an element whose expiry may be at or before `now`.
    fn keys_with_expiring_elements(
        &mut self,
        now: i64,
        limit: usize,
    ) -> Result<Vec<(DbIndex, Bytes)>, StoreError>;

    /// Reads one element of a collection.
    fn element(&mut self, cid: CollectionId, sub: &[u8]) -> Result<Option<Element>, StoreError>;
    /// Makes the CPU load what reading these elements will reach in memory, without reading
    /// them: a pipeline's lookups then overlap instead of each waiting alone (the
    /// keyspace's prefetch asks before a pipeline's commands run). Only a hint; a store may
    /// ignore it.
    fn prefetch_elements(&self, wanted: &[(CollectionId, &[u8])]) {
        let _ = wanted;
    }
    /// Inserts or replaces one element.
    fn put_element(&mut self, cid: CollectionId, element: &Element) -> Result<(), StoreError>;
    /// [`Self::put_element`] that says whether the element was there before: HSET's answer
    /// without a read first (an element that exists is rewritten by one statement).
    fn replace_element(&mut self, cid: CollectionId, element: &Element)
        -> Result<bool, StoreError>;
    /// Removes one element; returns whether it existed.
    fn delete_element(&mut self, cid: CollectionId, sub: &[u8]) -> Result<bool, StoreError>;
    /// Elements from `cursor` on, like [`Store::scan`].
    fn scan_elements(
        &mut self,
        cid: CollectionId,
        cursor: u64,
        count: usize,
    ) -> Result<(Vec<Element>, u64), StoreError>;
    /// Of the elements whose position (the hash that orders a collection's rows, below 2^62)
    /// is in `lo..hi`, in position order, the one `offset` places in, if there are more than
    /// `offset`: one draw of a random pick (`keyspace/pick.rs`), which reads one row out
    /// however many the range holds.
    fn element_at(
        &mut self,
        cid: CollectionId,
        lo: u64,
        hi: u64,
        offset: u64,
    ) -> Result<Option<Element>, StoreError>;
    /// Removes the elements whose expiry is at or before `now` and returns their names.
    fn expire_elements(&mut self, cid: CollectionId, now: i64) -> Result<Vec<Bytes>, StoreError>;
    /// Earliest element expiry of a collection.
    fn min_element_expiry(&mut self, cid: CollectionId) -> Result<Option<i64>, StoreError>;
    /// Removes up to `limit` rows of the first collection queued for removal (a deleted or
    /// replaced key's, or one given to [`Store::drop_elements`]), and unqueues it once empty;
    /// when none is queued, up to `limit` key rows of a database [`Store::flush_db`] detached.
    fn reclaim(&mut self, limit: u64) -> Result<Reclaimed, StoreError>;
    /// Collections queued for removal, plus the keys of flushed databases not yet deleted
    /// (`lazyfree_pending_objects`).
    fn lazyfree_pending(&mut self) -> Result<u64, StoreError>;
    /// Copies every element (or list item) of `from` into the empty collection `to`.
    fn copy_elements(&mut self, from: CollectionId, to: CollectionId) -> Result<(), StoreError>;
    /// Queues a collection (one whose key row was never written) for removal by
    /// [`Store::reclaim`]; its rows are never read again.
    fn drop_elements(&mut self, cid: CollectionId) -> Result<(), StoreError>;

    /// A sorted-set member's score.
    fn zset_score(&mut self, cid: CollectionId, member: &[u8]) -> Result<Option<f64>, StoreError>;
    /// Adds a sorted-set member or changes its score; `old` is its current score, if any.
    fn zset_put(
        &mut self,
        cid: CollectionId,
        member: &[u8],
        score: f64,
        old: Option<f64>,
    ) -> Result<(), StoreError>;
    /// Removes a sorted-set member whose score is `score`.
    fn zset_delete(
        &mut self,
        cid: CollectionId,
        member: &[u8],
        score: f64,
    ) -> Result<(), StoreError>;
    /// Members within `range` in (score, member) order (descending with `rev`), skipping
    /// `offset` of them and returning at most `limit`. Cost: the rows skipped and returned.
    fn zset_range(
        &mut self,
        cid: CollectionId,
        range: &ZRange,
        rev: bool,
        offset: u64,
        limit: Option<u64>,
    ) -> Result<Vec<(Bytes, f64)>, StoreError>;
    /// Number of members within `range` (cost: that number).
    fn zset_count(&mut self, cid: CollectionId, range: &ZRange) -> Result<u64, StoreError>;
    /// The item of a large list at `pos`.
    fn list_get(&mut self, cid: CollectionId, pos: i64) -> Result<Option<Bytes>, StoreError>;
    /// The items of a large list at positions `from..=to`, in position order (reversed if
    /// `reverse`).
    fn list_range(
        &mut self,
        cid: CollectionId,
        from: i64,
        to: i64,
        reverse: bool,
    ) -> Result<Vec<Bytes>, StoreError>;
    /// [`Store::list_range`], stopping once it has `at_least` items and the next would take
    /// their bytes past `max_bytes`: a read ahead that a list of large items keeps short.
    fn list_range_within(
        &mut self,
        cid: CollectionId,
        from: i64,
        to: i64,
        reverse: bool,
        at_least: usize,
        max_bytes: usize,
    ) -> Result<Vec<Bytes>, StoreError>;
    /// Inserts or replaces the item at `pos`.
    fn list_put(&mut self, cid: CollectionId, pos: i64, value: &[u8]) -> Result<(), StoreError>;
    /// [`Store::list_put`] of an item pushed past the list's ends, at a position the list
    /// does not hold: a store that writes rows later may then drop the item's row altogether
    /// when it is popped before it was written.
    fn list_push(&mut self, cid: CollectionId, pos: i64, value: &[u8]) -> Result<(), StoreError> {
        self.list_put(cid, pos, value)
    }
    /// Removes the items at positions `from..=to`; returns how many there were.
    fn list_delete_range(
        &mut self,
        cid: CollectionId,
        from: i64,
        to: i64,
    ) -> Result<u64, StoreError>;
    /// Moves the items at positions `from..=to` by `delta` positions. The positions they move
    /// to must be free, apart from their own (an insertion or removal in the middle).
    fn list_shift(
        &mut self,
        cid: CollectionId,
        from: i64,
        to: i64,
        delta: i64,
    ) -> Result<(), StoreError>;

    /// Inserts or replaces a row of a collection's ordered rows: rows of one `h` (a negative
    /// number; hashed element names are never negative) sort by `sub` as memcmp does. Streams
    /// keep their entries (under their 16-byte big-endian IDs) and their groups' pending
    /// entries this way.
    fn ordered_put(
        &mut self,
        cid: CollectionId,
        h: i64,
        sub: &[u8],
        value: &[u8],
    ) -> Result<(), StoreError>;
    /// Removes an ordered row; returns whether it existed.
    fn ordered_delete(&mut self, cid: CollectionId, h: i64, sub: &[u8])
        -> Result<bool, StoreError>;
    /// Ordered rows with `sub` in `from..=to`, ascending (descending with `rev`), at most
    /// `limit` of them. Cost: the rows returned.
    fn ordered_range(
        &mut self,
        cid: CollectionId,
        h: i64,
        from: &[u8],
        to: &[u8],
        rev: bool,
        limit: Option<u64>,
    ) -> Result<Vec<(Bytes, Bytes)>, StoreError>;
    /// Removes up to `limit` of the lowest ordered rows of `h`, only those below `below` when
    /// it is given; returns how many went.
    fn ordered_trim(
        &mut self,
        cid: CollectionId,
        h: i64,
        below: Option<&[u8]>,
        limit: u64,
    ) -> Result<u64, StoreError>;

    /// Reads a value from the store's metadata table.
    fn meta_get(&mut self, name: &str) -> Result<Option<i64>, StoreError>;
    /// Writes a value to the store's metadata table (inside the open transaction).
    fn meta_set(&mut self, name: &str, value: i64) -> Result<(), StoreError>;
    /// Reads a binary value from the store's metadata (function libraries).
    fn meta_get_blob(&mut self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Writes a binary value to the store's metadata (inside the open transaction); `None`
    /// removes it.
    fn meta_set_blob(&mut self, name: &str, value: Option<&[u8]>) -> Result<(), StoreError>;
    /// Runs one statement of a plugin's own tables (named with the plugin's prefix, e.g.
    /// `search_...`) inside the open transaction, so that it commits with the keyspace's
    /// writes of the same batch; returns the rows changed. Must be deterministic (no
    /// `random()`, no clock): a journal may replay it after a crash.
    fn sql_execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<usize, StoreError>;
    /// Runs one read-only statement of a plugin's own tables; sees the open transaction's
    /// writes.
    fn sql_query(
        &mut self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Vec<Vec<SqlValue>>, StoreError>;
    /// Runs a batch of statements without parameters (DDL: `CREATE TABLE`, `CREATE VIRTUAL
    /// TABLE ... USING fts5`, `DROP TABLE`) inside the open transaction.
    fn sql_batch(&mut self, sql: &str) -> Result<(), StoreError>;
    /// Whether writes are pending since the last commit.
    fn in_transaction(&self) -> bool;
    /// Makes every write since the last commit durable (appended to the redo journal, or
    /// committed to the database when there is none).
    fn commit(&mut self) -> Result<(), StoreError>;
    /// Discards every write since the last commit (with [`Store::set_keep_batch`]: rolls the
    /// database back and applies them again, keeping them for the next commit).
    fn rollback(&mut self);
    /// Write-behind: the writes between commits are acknowledged before they are committed,
    /// so neither a rollback nor a rebuild of the open transaction may drop them; a failed
    /// commit keeps them for the next attempt.
    fn set_keep_batch(&mut self, keep: bool);
    /// Merges the redo journal into the database's tables if a merge is due (`force`: if it
    /// holds anything). Called between batches; a failed merge is retried later and loses
    /// nothing.
    fn merge(&mut self, force: bool) -> Result<(), StoreError>;
    /// The redo journal's counters, if the store keeps one.
    fn journal_stats(&self) -> Option<JournalStats>;
    /// Background checkpoints of the WAL done so far, and the last one's milliseconds.
    fn checkpoint_stats(&self) -> (u64, u64);
    /// The key filter's figures (see [`KeyFilterStats`]).
    fn key_filter_stats(&self) -> KeyFilterStats;
    /// The element filter's figures: its answers for the elements of large collections.
    fn element_filter_stats(&self) -> KeyFilterStats;
    /// The element cache's figures (see [`ElementCacheStats`]).
    fn element_cache_stats(&self) -> ElementCacheStats;
    /// Changes the `synchronous` setting at run time (CONFIG SET synchronous).
    fn set_synchronous(&mut self, mode: Synchronous) -> Result<(), StoreError>;
    /// Why commands that may write must be refused before they run, if they must (Redis's
    /// `MISCONF`): the store cannot persist a write at present (a full disk), and a write
    /// that ran would fail only at its commit, at the cost of undoing it.
    fn writes_refused(&self) -> Option<String> {
        None
    }

    /// Sizes the store's own page cache (`storage.page_cache_bytes`).
    fn set_page_cache_bytes(&mut self, bytes: u64) -> Result<(), StoreError>;
    /// Sizes the window of key rows left waiting for the next merge
    /// (`storage.row_window_bytes`); a store that writes its rows at once ignores it.
    fn set_row_window_bytes(&mut self, _bytes: u64) {}
    /// Caps the memory of each of the store's filters of existing keys and elements (from
    /// `storage.cache_max_bytes`); a store without any ignores it.
    fn set_filter_max_bytes(&mut self, _bytes: u64) {}
    /// Whether the store's background writes are behind the load: the caller should hold
    /// commands that write back, and serve the others, until this turns false (it must ask
    /// again; nothing calls it back). A store that writes at once is never behind.
    fn write_backlog(&mut self) -> bool {
        false
    }
    /// Stops (`true`) or restarts the store's background writes (DEBUG ROW-WRITER), so
    /// that a test can see what a backlog does; a store without any ignores it.
    fn pause_background_writes(&mut self, _paused: bool) {}
    /// Commits what is pending and checkpoints, leaving the file clean for the next start.
    fn close(&mut self) -> Result<(), StoreError>;
    /// Human-readable location, for INFO and logs.
    fn describe(&self) -> String;
}
