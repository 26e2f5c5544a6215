//! [`Store`] over one SQLite file in WAL mode.

use std::collections::HashSet;
use std::path::Path;

use bytes::Bytes;
use rusqlite::{params, Connection, OptionalExtension};

use super::committed;
use super::element_cache::{ElementCache, ElementCacheStats, Known};
use super::element_rows::{self, Pending};
use super::keyfilter::{KeyFilter, Rows};
use super::prepared::Prepared;
use super::reach::Reach;
use super::redo::{replay_payload, Journal, JournalOptions, JournalStats, Op};
use super::rows::Lookup;
use super::rows::{self, lock, RowWriter, SharedConn};
use super::slots::Slots;
use super::values::{self, stored_value};
use super::zset_end;
use super::{
    CollectionId, DbIndex, DbStats, Element, KeyRow, LexBound, Reclaimed, Record, ScannedKey,
    ShortBytes, SqlValue, Store, StoreError, ValueType, ZRange,
};
use super::{KeyFilterStats, Synchronous};
use std::sync::Arc;

/// Schema version written to `meta`; a file with a newer one is refused, an older one is
/// upgraded in place at open.
const SCHEMA_VERSION: i64 = 7;

/// Keys are ordered by a stable hash of their bytes (`h`) inside each database, so a SCAN
/// cursor is a plain number (the next hash to visit) that stays valid whatever is inserted or
/// removed, and RANDOMKEY is one index probe. Large collections keep their elements in
/// `elements` under a collection id (`cid`) the key's row points at, ordered the same way.
///
/// Per-database counts are kept by triggers, so they stay exact whoever writes the rows
/// (the keyspace, a migration, an operator with the sqlite3 shell) and DBSIZE never scans.
/// When a key row that owns a collection is deleted or replaced, a trigger queues its
/// collection id in `lazyfree` and [`Store::reclaim`] removes its rows in bounded steps
/// between batches: deleting a collection of millions of elements costs one row at once.
/// Large lists keep their items in `list_items`, by position (see there).
///
/// A key's value longer than [`super::values::VALUE_APART`] bytes lives in `key_values` and
/// its key row points at it (`blob`), see [`super::values`]; the key table stays small too,
/// which its full reads (the key filter's build, SCAN) feel. Long element values (hash
/// fields, list items, stream entries) go there the same way, and their collections are
/// listed in `apart_collections`, so that only those pay for dropping values with rows.
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS keys (
    db            INTEGER NOT NULL,
    h             INTEGER NOT NULL,
    key           BLOB    NOT NULL,
    type          INTEGER NOT NULL,
    expire_at     INTEGER,
    version       INTEGER NOT NULL,
    cid           INTEGER,
    sub_expire_at INTEGER,
    value         BLOB    NOT NULL,
    blob          INTEGER,
    PRIMARY KEY (db, h, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS key_values (
    id    INTEGER PRIMARY KEY,
    value BLOB    NOT NULL
);
CREATE TRIGGER IF NOT EXISTS keys_drop_value AFTER DELETE ON keys
 WHEN OLD.blob IS NOT NULL BEGIN
    DELETE FROM key_values WHERE id = OLD.blob;
END;
CREATE TRIGGER IF NOT EXISTS keys_replace_value AFTER UPDATE OF blob ON keys
 WHEN OLD.blob IS NOT NULL AND OLD.blob IS NOT NEW.blob BEGIN
    DELETE FROM key_values WHERE id = OLD.blob;
END;
CREATE INDEX IF NOT EXISTS keys_by_expiry ON keys (expire_at) WHERE expire_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS keys_by_sub_expiry ON keys (sub_expire_at)
    WHERE sub_expire_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS elements (
    cid       INTEGER NOT NULL,
    h         INTEGER NOT NULL,
    sub       BLOB    NOT NULL,
    expire_at INTEGER,
    value     BLOB    NOT NULL,
    blob      INTEGER,
    PRIMARY KEY (cid, h, sub)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS elements_by_expiry ON elements (cid, expire_at)
    WHERE expire_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS db_stats (
    db      INTEGER PRIMARY KEY,
    keys    INTEGER NOT NULL DEFAULT 0,
    expires INTEGER NOT NULL DEFAULT 0
);
-- One row per possible database up front, so the insert trigger is a single UPDATE.
INSERT OR IGNORE INTO db_stats (db)
    WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 1023)
    SELECT i FROM n;
CREATE TRIGGER IF NOT EXISTS keys_count_insert AFTER INSERT ON keys BEGIN
    UPDATE db_stats SET keys = keys + 1, expires = expires + (NEW.expire_at IS NOT NULL)
     WHERE db = NEW.db;
END;
CREATE TABLE IF NOT EXISTS lazyfree (cid INTEGER PRIMARY KEY);
CREATE TRIGGER IF NOT EXISTS keys_count_delete AFTER DELETE ON keys BEGIN
    UPDATE db_stats SET keys = keys - 1, expires = expires - (OLD.expire_at IS NOT NULL)
     WHERE db = OLD.db;
    -- Only a collection that still has rows: a reclaim that finished it before a queued key
    -- row was applied (see `reclaim`) must not queue it again.
    INSERT INTO lazyfree (cid) SELECT OLD.cid WHERE OLD.cid IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM lazyfree WHERE cid = OLD.cid)
     AND (EXISTS (SELECT 1 FROM elements WHERE cid = OLD.cid)
       OR EXISTS (SELECT 1 FROM zset_scores WHERE cid = OLD.cid)
       OR EXISTS (SELECT 1 FROM list_items WHERE cid = OLD.cid)
       OR EXISTS (SELECT 1 FROM apart_collections WHERE cid = OLD.cid));
END;
CREATE TRIGGER IF NOT EXISTS keys_count_update AFTER UPDATE OF db, expire_at ON keys
 WHEN OLD.db <> NEW.db OR (OLD.expire_at IS NULL) <> (NEW.expire_at IS NULL) BEGIN
    UPDATE db_stats SET keys = keys - 1, expires = expires - (OLD.expire_at IS NOT NULL)
     WHERE db = OLD.db;
    UPDATE db_stats SET keys = keys + 1, expires = expires + (NEW.expire_at IS NOT NULL)
     WHERE db = NEW.db;
END;
CREATE TRIGGER IF NOT EXISTS keys_replace_collection AFTER UPDATE OF cid ON keys
 WHEN OLD.cid IS NOT NULL AND OLD.cid IS NOT NEW.cid BEGIN
    -- Not OR IGNORE: a trigger takes the conflict policy of the statement that fired it.
    INSERT INTO lazyfree (cid) SELECT OLD.cid
     WHERE NOT EXISTS (SELECT 1 FROM lazyfree WHERE cid = OLD.cid)
     AND (EXISTS (SELECT 1 FROM elements WHERE cid = OLD.cid)
       OR EXISTS (SELECT 1 FROM zset_scores WHERE cid = OLD.cid)
       OR EXISTS (SELECT 1 FROM list_items WHERE cid = OLD.cid)
       OR EXISTS (SELECT 1 FROM apart_collections WHERE cid = OLD.cid));
END;
-- Large sorted sets: member -> score in `elements` (value = the score's 8 bytes), and this
-- second order, by (score, member), for ranks, ranges and pops. REAL sorts -inf and inf
-- correctly and NaN is never stored; BLOBs compare as memcmp, Redis's lexicographic order.
CREATE TABLE IF NOT EXISTS zset_scores (
    cid    INTEGER NOT NULL,
    score  REAL    NOT NULL,
    member BLOB    NOT NULL,
    PRIMARY KEY (cid, score, member)
) WITHOUT ROWID;
-- Large lists keep their items by explicit position: head and tail positions live in the key
-- row, items are contiguous between them, so a push or pop at either end is one row and an
-- index is one probe.
CREATE TABLE IF NOT EXISTS list_items (
    cid   INTEGER NOT NULL,
    pos   INTEGER NOT NULL,
    value BLOB    NOT NULL,
    blob  INTEGER,
    PRIMARY KEY (cid, pos)
) WITHOUT ROWID;
-- The collections whose element rows may point at values kept apart (`blob`): no trigger
-- drops those values (one on the element tables cost every pop and delete, see `values`),
-- the statements that delete or overwrite elements of these collections do.
CREATE TABLE IF NOT EXISTS apart_collections (cid INTEGER PRIMARY KEY);
";

/// Offset that parks list items outside the range live positions use (|pos| < 2^60) while
/// [`Store::list_shift`] renumbers them.
const LIST_PARK: i64 = 1 << 62;

/// Where a key or element sorts: a stable 62-bit hash of its bytes. Persisted, so the
/// function may never change; 62 bits keep `h + 1` (the next cursor) a positive i64.
pub fn position(bytes: &[u8]) -> i64 {
    (xxhash_rust::xxh3::xxh3_64(bytes) >> 2) as i64
}

const SQL_LOAD: &str = concat!(
    "SELECT type, ",
    stored_value!(),
    ", expire_at, version, cid, sub_expire_at FROM keys WHERE db = ?1 AND h = ?2 AND key = ?3"
);
const SQL_SCAN: &str = "SELECT h, key, type, expire_at FROM keys
     WHERE db = ?1 AND h >= ?2 ORDER BY h, key LIMIT ?3";
const SQL_SCAN_SAME: &str = "SELECT h, key, type, expire_at FROM keys
     WHERE db = ?1 AND h = ?2 AND key > ?3 ORDER BY key";
const SQL_ELEMENT: &str = concat!(
    "SELECT ",
    stored_value!(),
    ", expire_at FROM elements WHERE cid = ?1 AND h = ?2 AND sub = ?3"
);
const SQL_PUT_ELEMENT: &str = "INSERT INTO elements (cid, h, sub, expire_at, value)
     VALUES (?1, ?2, ?3, ?4, ?5)
     ON CONFLICT (cid, h, sub) DO UPDATE SET expire_at = excluded.expire_at, value = excluded.value";
/// [`SQL_PUT_ELEMENT`] for an element known to exist.
const SQL_UPDATE_ELEMENT: &str =
    "UPDATE elements SET expire_at = ?4, value = ?5 WHERE cid = ?1 AND h = ?2 AND sub = ?3";
const SQL_SCAN_ELEMENTS: &str = concat!(
    "SELECT h, sub, ",
    stored_value!(),
    ", expire_at FROM elements WHERE cid = ?1 AND h >= ?2 ORDER BY h, sub LIMIT ?3"
);
const SQL_ELEMENT_AT: &str = concat!(
    "SELECT h, sub, ",
    stored_value!(),
    ", expire_at FROM elements
     WHERE cid = ?1 AND h >= ?2 AND h < ?3 ORDER BY h, sub LIMIT 1 OFFSET ?4"
);
const SQL_SCAN_ELEMENTS_SAME: &str = concat!(
    "SELECT h, sub, ",
    stored_value!(),
    ", expire_at FROM elements WHERE cid = ?1 AND h = ?2 AND sub > ?3 ORDER BY sub"
);
/// An element's pointer to its value kept apart (`Some(None)`: the row, its value in it).
const SQL_ELEMENT_BLOB: &str = "SELECT blob FROM elements WHERE cid = ?1 AND h = ?2 AND sub = ?3";
const SQL_DELETE_ELEMENT: &str = "DELETE FROM elements WHERE cid = ?1 AND h = ?2 AND sub = ?3";
/// A sorted-set member's row in the score index, and its replacement.
const SQL_DELETE_SCORE: &str =
    "DELETE FROM zset_scores WHERE cid = ?1 AND score = ?2 AND member = ?3";
const SQL_PUT_SCORE: &str =
    "INSERT OR REPLACE INTO zset_scores (cid, score, member) VALUES (?1, ?2, ?3)";
/// [`SQL_DELETE_ELEMENT`]'s value kept apart, dropped first in a collection that has them.
const SQL_DELETE_ELEMENT_VALUE: &str =
    "DELETE FROM key_values WHERE id = (SELECT blob FROM elements WHERE cid = ?1 AND h = ?2 AND sub = ?3)";

/// The `WHERE` clause of a sorted-set range: `?1` is the collection, `?2`/`?3` the scores,
/// `?4`/`?5` the members (bound only when used).
fn zset_where(range: &ZRange) -> String {
    let mut sql = String::from("cid = ?1 AND score ");
    sql.push_str(if range.min.exclusive { "> ?2" } else { ">= ?2" });
    sql.push_str(" AND score ");
    sql.push_str(if range.max.exclusive { "< ?3" } else { "<= ?3" });
    match range.lex_min {
        LexBound::Inclusive(_) => sql.push_str(" AND member >= ?4"),
        LexBound::Exclusive(_) => sql.push_str(" AND member > ?4"),
        LexBound::Min | LexBound::Max => {}
    }
    match range.lex_max {
        LexBound::Inclusive(_) => sql.push_str(" AND member <= ?5"),
        LexBound::Exclusive(_) => sql.push_str(" AND member < ?5"),
        LexBound::Min | LexBound::Max => {}
    }
    sql
}

/// Whether a read beside a running merge finds the connection out of the merge's
/// transaction (SQLite rolled it back after a failed commit or row, and the writer's thread
/// has not said so yet): what the merge applied is then not in what it would read. (A merge
/// that committed leaves the next transaction open.)
fn transaction_lost(merging: bool, conn: &Connection) -> bool {
    merging && conn.is_autocommit()
}

/// The entries of `range` in sorted set `cid`'s score index, from the `offset`th on, at most
/// `limit`, as the table holds them.
fn zset_rows(
    conn: &Connection,
    cid: CollectionId,
    range: &ZRange,
    rev: bool,
    offset: u64,
    limit: Option<u64>,
) -> Result<Vec<(Bytes, f64)>, StoreError> {
    let order = if rev {
        "score DESC, member DESC"
    } else {
        "score, member"
    };
    let sql = format!(
        "SELECT member, score FROM zset_scores WHERE {} ORDER BY {order} LIMIT ?6 OFFSET ?7",
        zset_where(range)
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let next = bind_zset_range(&mut stmt, cid, range)?;
    let limit = limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
    stmt.raw_bind_parameter(next, limit)?;
    stmt.raw_bind_parameter(next + 1, i64::try_from(offset).unwrap_or(i64::MAX))?;
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push((Bytes::from(r.get::<_, Vec<u8>>(0)?), r.get::<_, f64>(1)?));
    }
    Ok(out)
}

/// How many entries of `range` sorted set `cid`'s score index holds.
fn zset_rows_count(
    conn: &Connection,
    cid: CollectionId,
    range: &ZRange,
) -> Result<i64, StoreError> {
    let sql = format!(
        "SELECT count(*) FROM zset_scores WHERE {}",
        zset_where(range)
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    bind_zset_range(&mut stmt, cid, range)?;
    let mut rows = stmt.raw_query();
    Ok(match rows.next()? {
        Some(r) => r.get::<_, i64>(0)?,
        None => 0,
    })
}

/// Rows a read from an end of a large sorted set takes from the table at a time once it
/// knows how far it needs to go (see `SqliteStore::zset_first`).
const ZSET_PAGE: usize = 256;

/// The table's first `n` entries of sorted set `cid` from an end (the highest with `rev`),
/// past `after` when given: a read that goes on where the last one stopped, without stepping
/// over the rows before it again as an offset would.
fn zset_rows_after(
    conn: &Connection,
    prepared: &mut Prepared,
    cid: CollectionId,
    rev: bool,
    after: Option<&(Bytes, f64)>,
    n: usize,
) -> Result<Vec<(Bytes, f64)>, StoreError> {
    let row =
        |r: &rusqlite::Row<'_>| Ok((Bytes::from(r.get::<_, Vec<u8>>(0)?), r.get::<_, f64>(1)?));
    let rows = match (after, rev) {
        (None, false) => prepared
            .get(
                conn,
                "SELECT member, score FROM zset_scores WHERE cid = ?1
                 ORDER BY score, member LIMIT ?2",
            )?
            .query_map(params![cid as i64, n as i64], row)?
            .collect::<Result<_, _>>(),
        (None, true) => prepared
            .get(
                conn,
                "SELECT member, score FROM zset_scores WHERE cid = ?1
                 ORDER BY score DESC, member DESC LIMIT ?2",
            )?
            .query_map(params![cid as i64, n as i64], row)?
            .collect::<Result<_, _>>(),
        (Some((member, score)), false) => prepared
            .get(
                conn,
                "SELECT member, score FROM zset_scores
                 WHERE cid = ?1 AND (score, member) > (?2, ?3) ORDER BY score, member LIMIT ?4",
            )?
            .query_map(params![cid as i64, score, &member[..], n as i64], row)?
            .collect::<Result<_, _>>(),
        (Some((member, score)), true) => prepared
            .get(
                conn,
                "SELECT member, score FROM zset_scores
                 WHERE cid = ?1 AND (score, member) < (?2, ?3)
                 ORDER BY score DESC, member DESC LIMIT ?4",
            )?
            .query_map(params![cid as i64, score, &member[..], n as i64], row)?
            .collect::<Result<_, _>>(),
    };
    Ok(rows?)
}

fn lex_param(bound: &LexBound) -> Option<&[u8]> {
    match bound {
        LexBound::Inclusive(m) | LexBound::Exclusive(m) => Some(m),
        LexBound::Min | LexBound::Max => None,
    }
}

/// Binds `zset_where`'s parameters (and returns the statement's next free index).
fn bind_zset_range(
    stmt: &mut rusqlite::CachedStatement<'_>,
    cid: CollectionId,
    range: &ZRange,
) -> rusqlite::Result<usize> {
    stmt.raw_bind_parameter(1, cid as i64)?;
    stmt.raw_bind_parameter(2, range.min.value)?;
    stmt.raw_bind_parameter(3, range.max.value)?;
    if let Some(m) = lex_param(&range.lex_min) {
        stmt.raw_bind_parameter(4, m)?;
    }
    if let Some(m) = lex_param(&range.lex_max) {
        stmt.raw_bind_parameter(5, m)?;
    }
    Ok(6)
}

fn score_from_element(value: &[u8]) -> Result<f64, StoreError> {
    let bytes: [u8; 8] = value
        .try_into()
        .map_err(|_| StoreError::Corrupt("sorted-set score of the wrong size".into()))?;
    Ok(f64::from_le_bytes(bytes))
}

/// Rows of one scan page: the rows, plus the rows sharing the last row's position (so a cursor
/// never splits a position), and the cursor that follows them.
fn finish_page<T>(
    mut rows: Vec<(i64, T)>,
    count: usize,
    same_position: impl FnOnce(i64, &T) -> Result<Vec<(i64, T)>, StoreError>,
) -> Result<(Vec<T>, u64), StoreError> {
    if rows.len() <= count {
        return Ok((rows.into_iter().map(|(_, t)| t).collect(), 0));
    }
    rows.truncate(count);
    let Some((last_h, last)) = rows.last() else {
        return Ok((Vec::new(), 0));
    };
    let last_h = *last_h;
    let more = same_position(last_h, last)?;
    rows.extend(more);
    Ok((
        rows.into_iter().map(|(_, t)| t).collect(),
        last_h as u64 + 1,
    ))
}

fn cursor_position(cursor: u64) -> i64 {
    i64::try_from(cursor).unwrap_or(i64::MAX)
}

/// The `PRAGMA cache_size` (in KB, given negated) of a page cache that takes `bytes` of memory.
/// SQLite divides it by a page's size plus its header (about 4.2 KB for a 4 KB page), but
/// each page is one allocation, which jemalloc rounds up to its 5 KB size class: five sixths
/// of the bytes, so sized, take the bytes (SQLite counts the rounding in
/// `sqlite3_memory_used`, built with `HAVE_MALLOC_USABLE_SIZE`: see `.cargo/config.toml`).
fn page_cache_kb(bytes: u64) -> i64 {
    i64::try_from(bytes / 1024 * 5 / 6)
        .unwrap_or(i64::MAX)
        .max(1)
}

/// SQLite's page cache until `storage.page_cache_bytes` sizes it, in KB (`PRAGMA cache_size`
/// takes negative numbers as KB).
const PAGE_CACHE_KB: i64 = 16384;

/// Which queued key rows a settle applies, and for what.
#[derive(Clone, Copy)]
enum Settle<'a> {
    /// All of them, for a statement over all keys (a plugin's SQL over them, ...).
    Statement,
    /// Those of slot `db` (`only`) or of every other slot, before a flush of the slot.
    Slot { db: DbIndex, only: bool },
    /// Those of these keys (slot, key), for a statement about them alone (a rename).
    Keys(&'a [(DbIndex, &'a [u8])]),
    /// Those a page of a slot's keys needs, for a statement that reads that page of the
    /// table alone (a page of SCAN, RANDOMKEY's probe): see [`RowWriter::settle_page`].
    Page {
        db: DbIndex,
        from: i64,
        count: usize,
        table: &'a [i64],
    },
    /// All of them, for a merge's commit.
    Merge,
    /// The element rows of one collection (of every one, with `None`), before a statement
    /// over more than one of its rows: see [`RowWriter::settle_elements`].
    Elements(Option<CollectionId>),
    /// Those of one collection's positions `from..=to` that `pick` picks, before a
    /// statement over that part of it: see [`RowWriter::settle_span`].
    Span {
        cid: CollectionId,
        span: (i64, i64),
        pick: &'a dyn Fn(&Pending) -> bool,
    },
}

/// Key rows a replay holds back: each key's last row, by (slot, position, key), the table's
/// order; and the bytes they take ([`rows::row_bytes`]).
#[derive(Default)]
struct ReplayedRows {
    rows: std::collections::BTreeMap<(DbIndex, i64, Bytes), Option<Record>>,
    bytes: usize,
}

/// Bytes of key rows a replay holds back at most before it writes them.
const REPLAYED_ROWS_MAX_BYTES: usize = 64 << 20;

/// Element writes to a collection whose range a statement just read that go to the table at
/// once: a read of a range applies the collection's queued rows first, and a pop (ZPOPMIN,
/// SPOP: a range read and a delete per command) queued a row that the next pop applied
/// again on the executor's thread, the queue's cost without its gain (-15% under ZPOPMIN at
/// -P 16). Writes past these, with no range read between, are queued again.
const RANGED_DIRECT_WRITES: u32 = 64;

/// Most positions of a large list whose deletion goes to the row writer as one entry each
/// (a pop's count, an LTRIM of a few items); a longer range is one statement here.
const QUEUED_ITEM_DELETES: i64 = 1024;

/// The first of `items` up to `at_least` of them, then while their bytes stay within
/// `max_bytes` ([`Store::list_range_within`]); the items past the last taken are never read.
fn items_within<E>(
    items: impl Iterator<Item = Result<Bytes, E>>,
    at_least: usize,
    max_bytes: usize,
) -> Result<Vec<Bytes>, E> {
    let (mut out, mut bytes) = (Vec::new(), 0);
    for item in items {
        let item = item?;
        if out.len() >= at_least && bytes + item.len() > max_bytes {
            break;
        }
        bytes += item.len();
        out.push(item);
    }
    Ok(out)
}

/// SQLite-backed store.
pub struct SqliteStore {
    /// Shared with the row writer's thread (see [`rows`](super::rows)).
    conn: SharedConn,
    path: String,
    /// Whether an SQLite transaction is open (with the journal: across many batches).
    in_tx: bool,
    /// The redo journal, unless the store commits every batch to SQLite itself (`:memory:`,
    /// or a merge interval of 0).
    journal: Option<Journal>,
    /// Set while the journal is replayed, so replayed calls are not journaled again.
    replaying: bool,
    /// The open transaction must be rebuilt from the journal before the next write: a
    /// rollback or a failed merge discarded it and rebuilding failed.
    needs_rebuild: bool,
    /// Which keys certainly do not exist, so that reading them costs no lookup.
    filter: KeyFilter,
    /// Which elements of large hashes, sets and sorted sets certainly do not exist: asked by
    /// the reads of one element ([`Store::element`], [`Store::zset_score`]) that the element
    /// cache cannot answer, and told of every such row written. (Not of the ordered rows of
    /// streams, which are never read by name.)
    element_filter: KeyFilter,
    /// A filter asked for a rebuild: started, for both, after the next commit to the file,
    /// whose committed state the rebuild reads.
    filter_rebuild: bool,
    /// Held for the store's lifetime: a second server on the same file would serve stale
    /// data from its own cache, so it is refused at start-up.
    _lock: Option<std::fs::File>,
    /// Reads keys from the file's committed state while a merge has the connection (see
    /// [`committed`]).
    committed: committed::CommittedReader,
    /// Copies the WAL back into the database file off the executor's thread.
    checkpointer: Option<Checkpointer>,
    /// Applies key rows on a thread of its own while the journal is kept (see
    /// [`rows`](super::rows)).
    rows: Option<RowWriter>,
    /// How key rows this thread writes itself (no row writer, a replay) are written.
    row_path: rows::RowPath,
    /// A merge's commit was handed to the row writer's thread and its outcome is not yet
    /// collected ([`SqliteStore::finish_merge`]): the executor's statements wait for it.
    merging: bool,
    /// Since when writes are held back for the merge in flight, the journal being at its
    /// size limit (see [`Store::write_backlog`]).
    journal_hold: Option<std::time::Instant>,
    /// Write-behind: the writes since the last commit were acknowledged already, so a
    /// rollback or a rebuild keeps them (replays them after the journal) instead of
    /// discarding them.
    keep_batch: bool,
    /// Where each database's key rows live, and the flushed databases' rows still to delete
    /// (see [`slots`](super::slots)).
    slots: Slots,
    /// SQLite's page cache as configured, in KB (a replay raises it for a while).
    page_cache_kb: i64,
    /// The budget `set_page_cache_bytes` gave SQLite's page cache and the element cache
    /// together, and what the database's pages wanted of it at the last split between them
    /// ([`Self::split_page_cache`]).
    page_cache_split: Option<(u64, u64)>,
    /// `apart_collections` as of the open transaction, or more (after a rollback, until the
    /// table is read again): the collections whose deletes drop values kept apart.
    apart_cids: HashSet<CollectionId>,
    /// Which plugin SQL reaches the row writer's tables, per statement text.
    reach: Reach,
    /// Element rows of large collections, as the open transaction holds them (see
    /// [`element_cache`](super::element_cache)).
    elements: ElementCache,
    /// The collection a statement last read a range of, and how many more of its element
    /// writes go straight to the table rather than to the row writer's queue (see
    /// [`RANGED_DIRECT_WRITES`]).
    ranged: Option<(CollectionId, u32)>,
    /// Element rows of dropped collections that the row writer's queue dropped unwritten
    /// (see [`Store::drop_elements`]): the reclaim counts them as its own, so that a
    /// collection freed before its rows were written counts in `lazyfreed_objects` too.
    discarded_rows: std::collections::HashMap<CollectionId, u64>,
    /// While a replay runs: the key rows it has not written yet, each key's last, in key
    /// order (see [`SqliteStore::replay`]).
    replayed_rows: Option<ReplayedRows>,
    /// The executor's statements over `conn`, kept (see [`prepared`](super::prepared)).
    prepared: Prepared,
    /// `lazyfree`'s row count, kept by the connection's update hook from the last time it
    /// was counted (whoever inserts or deletes the rows: the executor, or a trigger the row
    /// writer's rows fire), and whether it is known (see [`Store::lazyfree_pending`]).
    lazyfree_rows: Arc<std::sync::atomic::AtomicI64>,
    lazyfree_known: bool,
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // The statements finalize with the connection's mutex held: the row writer's thread
        // may still be using the connection.
        let conn = lock(&self.conn);
        self.prepared.clear(&conn);
    }
}

/// How often the background checkpointer copies committed WAL frames into the database file.
const CHECKPOINT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(1000);

/// WAL pages after which a commit checkpoints by itself: a safety net, should the background
/// checkpointer fall behind (256 MB of 4 KB pages).
const WAL_AUTOCHECKPOINT_PAGES: u32 = 65536;

/// A thread with its own connection that checkpoints the WAL every [`CHECKPOINT_INTERVAL`].
///
/// SQLite's default is to checkpoint from the committing connection every 1000 pages: with
/// writes spread over the key B-tree that is every other batch, and it cost the executor a
/// fifth of its time (plus an fsync) under a random-key write load. A passive checkpoint
/// never blocks the writer, and copying once per interval writes each hot page once.
struct Checkpointer {
    stop: std::sync::Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Checkpoints done, and the last one's milliseconds (the latency monitor's
    /// `checkpoint` event).
    done: std::sync::Arc<(std::sync::atomic::AtomicU64, std::sync::atomic::AtomicU64)>,
}

impl Checkpointer {
    fn start(path: &str) -> Result<Checkpointer, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(1))?;
        let stop = std::sync::Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
        let flag = std::sync::Arc::clone(&stop);
        let done = std::sync::Arc::new((
            std::sync::atomic::AtomicU64::new(0),
            std::sync::atomic::AtomicU64::new(0),
        ));
        let counters = std::sync::Arc::clone(&done);
        let thread = std::thread::Builder::new()
            .name("respite-checkpoint".into())
            .spawn(move || {
                let (lock, wake) = &*flag;
                let mut stopped = lock.lock().unwrap_or_else(|e| e.into_inner());
                while !*stopped {
                    stopped = wake
                        .wait_timeout(stopped, CHECKPOINT_INTERVAL)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                    if *stopped {
                        break;
                    }
                    let started = std::time::Instant::now();
                    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::warn!(error = %e, "background checkpoint failed; will retry");
                    }
                    let ms = started.elapsed().as_millis() as u64;
                    counters.1.store(ms, std::sync::atomic::Ordering::Relaxed);
                    counters
                        .0
                        .fetch_add(1, std::sync::atomic::Ordering::Release);
                }
            })
            .map_err(|e| StoreError::Open {
                path: path.to_string(),
                reason: format!("cannot start the checkpoint thread: {e}"),
            })?;
        Ok(Checkpointer {
            stop,
            thread: Some(thread),
            done,
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let (lock, wake) = &*self.stop;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Takes an exclusive advisory lock on `<path>.lock`, or says who holds it.
fn lock_file(path: &str) -> Result<std::fs::File, String> {
    use std::os::fd::AsRawFd;
    let lock_path = format!("{path}.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("cannot open {lock_path}: {e}"))?;
    // SAFETY: flock only reads the descriptor, which `file` keeps open.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        return Err(format!(
            "another Respite server is using it (lock {lock_path} is held)"
        ));
    }
    Ok(file)
}

impl SqliteStore {
    /// Opens (creating the file and its folder if needed) the store at `path`; `:memory:` gives
    /// a throw-away in-memory store.
    #[cfg(test)]
    pub fn open(path: &str, synchronous: Synchronous) -> Result<Self, StoreError> {
        Self::open_with(path, synchronous, JournalOptions::default())
    }

    /// Opens the store at `path` with the redo journal kept as `journal` says, replaying and
    /// merging what a previous run left in it.
    pub fn open_with(
        path: &str,
        synchronous: Synchronous,
        journal: JournalOptions,
    ) -> Result<Self, StoreError> {
        let open_err = |reason: String| StoreError::Open {
            path: path.to_string(),
            reason,
        };
        let mut lock = None;
        let conn = if path == ":memory:" {
            Connection::open_in_memory()
        } else {
            if let Some(dir) = Path::new(path).parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| open_err(format!("cannot create {}: {e}", dir.display())))?;
                }
            }
            lock = Some(lock_file(path).map_err(open_err)?);
            Connection::open(path)
        }
        .map_err(|e| open_err(e.to_string()))?;
        conn.set_prepared_statement_cache_capacity(128);
        let mut store = SqliteStore {
            conn: rows::share(conn),
            path: path.to_string(),
            in_tx: false,
            journal: None,
            replaying: false,
            needs_rebuild: false,
            filter: KeyFilter::off(Rows::Keys),
            element_filter: KeyFilter::off(Rows::Elements),
            filter_rebuild: false,
            _lock: lock,
            committed: committed::CommittedReader::new(path),
            checkpointer: None,
            keep_batch: false,
            rows: None,
            row_path: rows::RowPath::default(),
            merging: false,
            journal_hold: None,
            slots: Slots::default(),
            page_cache_kb: PAGE_CACHE_KB,
            page_cache_split: None,
            apart_cids: HashSet::new(),
            reach: Reach::default(),
            elements: ElementCache::default(),
            ranged: None,
            discarded_rows: std::collections::HashMap::new(),
            replayed_rows: None,
            lazyfree_rows: Arc::default(),
            lazyfree_known: false,
            prepared: Prepared::default(),
        };
        store.keep_lazyfree_count();
        store
            .init(synchronous)
            .map_err(|e| open_err(e.to_string()))?;
        if path != ":memory:" {
            store.open_journal(journal, synchronous)?;
            if store.journal.is_some() {
                let window = usize::try_from(journal.row_window_bytes).unwrap_or(usize::MAX);
                store.rows = Some(RowWriter::start(Arc::clone(&store.conn), window)?);
            }
            // After the replay's merge: the build reads the committed state, and every key
            // written from here on is added as it is written.
            store.filter.set_max_bytes(journal.filter_max_bytes);
            store.element_filter.set_max_bytes(journal.filter_max_bytes);
            store.filter.start(path);
            store.element_filter.start(path);
        }
        if path != ":memory:" {
            // After init: the schema (and any upgrade) is in place before a second
            // connection opens the file.
            store.checkpointer = Some(Checkpointer::start(path)?);
        }
        Ok(store)
    }

    /// Has the connection keep `lazyfree`'s row count as rows are inserted and deleted (the
    /// hook sees a trigger's rows too, but no rollback and no truncation: those forget the
    /// count, [`Self::tables_changed`]). It runs for each row of a table with a rowid, which
    /// the key and element tables are not.
    fn keep_lazyfree_count(&self) {
        use rusqlite::hooks::Action;
        use std::sync::atomic::Ordering::Relaxed;
        let count = Arc::clone(&self.lazyfree_rows);
        lock(&self.conn).update_hook(Some(
            move |action: Action, _db: &str, table: &str, _rowid: i64| {
                if table == "lazyfree" {
                    match action {
                        Action::SQLITE_INSERT => count.fetch_add(1, Relaxed),
                        Action::SQLITE_DELETE => count.fetch_sub(1, Relaxed),
                        _ => 0,
                    };
                }
            },
        ));
    }

    fn init(&mut self, synchronous: Synchronous) -> Result<(), StoreError> {
        // Another process (an operator's shell, the migrate tool) may hold the lock briefly.
        lock(&self.conn).busy_timeout(std::time::Duration::from_secs(5))?;
        if self.path != ":memory:" {
            let mode: String =
                lock(&self.conn).query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(StoreError::Corrupt(format!(
                    "journal_mode WAL refused (got {mode})"
                )));
            }
        }
        self.set_synchronous(synchronous)?;
        // SQLite's default page cache is 2 MB, too small to keep the key B-tree's interior
        // pages once the data set grows; the keyspace's hot cache keeps values, this the tree.
        lock(&self.conn).execute_batch(&format!(
            "PRAGMA cache_size = -{PAGE_CACHE_KB}; PRAGMA temp_store = MEMORY;"
        ))?;
        self.upgrade_v1()?;
        self.add_value_pointer()?;
        self.upgrade_v2()?;
        self.upgrade_collection_triggers()?;
        lock(&self.conn).execute_batch(SCHEMA)?;
        lock(&self.conn).execute_batch(super::slots::SCHEMA)?;
        if self.path != ":memory:" {
            // journal_size_limit: the WAL file is truncated back to 64 MB when it restarts, so
            // a burst of writes does not leave a huge file behind.
            lock(&self.conn).execute_batch(&format!(
                "PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES};
                 PRAGMA journal_size_limit = 67108864;"
            ))?;
        }
        match self.meta_get("schema_version")? {
            None => {
                lock(&self.conn).execute(
                    "INSERT INTO meta (name, value) VALUES ('schema_version', ?1)",
                    [SCHEMA_VERSION],
                )?;
            }
            Some(v) if v > SCHEMA_VERSION => {
                return Err(StoreError::Corrupt(format!(
                    "the file has schema version {v}, this build knows up to {SCHEMA_VERSION}"
                )))
            }
            Some(3..=6) => {
                // Version 4 adds the slot tables (created above): a flushed database's rows
                // may live under another number, which version 3 builds would not follow.
                // Version 5 keeps long values apart (`key_values`, see `add_value_pointer`),
                // which older builds would read as empty; version 6 long element values;
                // version 7 reclaims without applying the queued key rows first, which older
                // builds' triggers would queue a reclaimed collection again after.
                lock(&self.conn).execute(
                    "UPDATE meta SET value = ?1 WHERE name = 'schema_version'",
                    [SCHEMA_VERSION],
                )?;
            }
            Some(_) => {}
        }
        self.slots = Slots::load(&lock(&self.conn))?;
        self.apart_cids = values::apart_collections(&lock(&self.conn))?;
        Ok(())
    }

    /// Whether the file has the schema `version` (a new, empty file has none).
    fn schema_is(&mut self, version: i64) -> Result<bool, StoreError> {
        let has_meta: bool = lock(&self.conn).query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
            [],
            |r| r.get(0),
        )?;
        Ok(has_meta && self.meta_get("schema_version")? == Some(version))
    }

    /// Version 1 files (strings only, keys ordered by bytes) are rewritten into the version 2
    /// layout in one transaction: same rows, plus their scan positions.
    fn upgrade_v1(&mut self) -> Result<(), StoreError> {
        if !self.schema_is(1)? {
            return Ok(());
        }
        tracing::info!(path = %self.path, "upgrading the data file from schema 1 to 2");
        let mut conn = lock(&self.conn);
        let tx = conn.transaction()?;
        tx.execute_batch(
            "ALTER TABLE keys RENAME TO keys_v1;
             DROP TRIGGER IF EXISTS keys_count_insert;
             DROP TRIGGER IF EXISTS keys_count_delete;
             DROP TRIGGER IF EXISTS keys_count_expiry;
             DROP INDEX IF EXISTS keys_by_expiry;",
        )?;
        tx.execute_batch(SCHEMA)?;
        {
            let mut read =
                tx.prepare("SELECT db, key, type, expire_at, version, value FROM keys_v1")?;
            let mut write = tx.prepare(
                "INSERT INTO keys (db, h, key, type, expire_at, version, value)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            let mut rows = read.query([])?;
            while let Some(r) = rows.next()? {
                let key: Vec<u8> = r.get(1)?;
                write.execute(params![
                    r.get::<_, i64>(0)?,
                    position(&key),
                    key,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, Vec<u8>>(5)?
                ])?;
            }
        }
        // The insert trigger counted every copied row on top of the old counts.
        tx.execute_batch(
            "DROP TABLE keys_v1;
             UPDATE db_stats SET
               keys = (SELECT count(*) FROM keys WHERE keys.db = db_stats.db),
               expires = (SELECT count(*) FROM keys
                           WHERE keys.db = db_stats.db AND expire_at IS NOT NULL);",
        )?;
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE name = 'schema_version'",
            [SCHEMA_VERSION],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Files before version 5 have no `blob` column in `keys`, before version 6 none in
    /// `elements` and `list_items`; it is added (no row is rewritten: existing values stay in
    /// their rows, and long ones go apart as they are written again). Runs before the
    /// schema, whose triggers name the column.
    fn add_value_pointer(&mut self) -> Result<(), StoreError> {
        let conn = lock(&self.conn);
        for table in ["keys", "elements", "list_items"] {
            let (has_table, has_blob): (bool, bool) = conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1),
                        EXISTS (SELECT 1 FROM pragma_table_info(?1) WHERE name = 'blob')",
                [table],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            if has_table && !has_blob {
                tracing::info!(path = %self.path, table, "keeping long values apart from now on");
                conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN blob INTEGER"))?;
            }
        }
        Ok(())
    }

    /// Version 2 files dropped a collection's rows in the statement that deleted its key row;
    /// version 3 queues the collection in `lazyfree` instead: the old triggers go, and the
    /// schema creates the new ones.
    fn upgrade_v2(&mut self) -> Result<(), StoreError> {
        if !self.schema_is(2)? {
            return Ok(());
        }
        tracing::info!(path = %self.path, "upgrading the data file from schema 2 to 3");
        let mut conn = lock(&self.conn);
        let tx = conn.transaction()?;
        tx.execute_batch(
            "DROP TRIGGER IF EXISTS keys_count_delete;
             DROP TRIGGER IF EXISTS keys_replace_collection;
             DROP TRIGGER IF EXISTS zset_scores_delete;
             DROP TRIGGER IF EXISTS zset_scores_replace;
             DROP TRIGGER IF EXISTS keys_delete_list_items;
             DROP TRIGGER IF EXISTS keys_replace_list_items;",
        )?;
        tx.execute_batch(SCHEMA)?;
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE name = 'schema_version'",
            [SCHEMA_VERSION],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Files of versions 3 to 6 queue a collection for the reclaim whenever its key row goes,
    /// even one the reclaim finished already; version 7's triggers queue only a collection
    /// that still has rows. The old ones go, and the schema creates the new ones.
    fn upgrade_collection_triggers(&mut self) -> Result<(), StoreError> {
        let mut old = false;
        for version in 3..=6 {
            old |= self.schema_is(version)?;
        }
        if old {
            lock(&self.conn).execute_batch(
                "DROP TRIGGER IF EXISTS keys_count_delete;
                 DROP TRIGGER IF EXISTS keys_replace_collection;",
            )?;
        }
        Ok(())
    }

    /// Empties the keys table: FLUSHALL (`elements`: every element table too), or FLUSHDB of
    /// the only database with keys (the collections are then queued for lazy freeing, as
    /// the delete trigger would have queued them).
    ///
    /// A table without a delete trigger is emptied by dropping its pages (SQLite's truncate
    /// optimization) instead of row by row through the triggers: FLUSHALL of 800,000 keys
    /// took 4 s, every client waiting. The triggers are dropped for the statement, and the
    /// counts reset and long values dropped here instead.
    fn empty_keys(&mut self, elements: bool) -> Result<(), StoreError> {
        self.begin()?;
        self.keys_rewritten();
        let conn = lock(&self.conn);
        // Every queued row goes: they need not be written first. The collections they point
        // at go to the reclaim with the table's (a replay, which queues no row, finds them
        // in the table).
        let dropped = self
            .rows
            .as_ref()
            .map(|rows| rows.drop_rows(elements))
            .unwrap_or_default();
        let triggers: Vec<(String, String)> = conn
            .prepare(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'
                  AND name IN ('keys_count_delete', 'keys_drop_value')",
            )?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        for (name, _) in &triggers {
            conn.execute_batch(&format!("DROP TRIGGER {name}"))?;
        }
        conn.execute_batch(if elements {
            "DELETE FROM elements; DELETE FROM list_items; DELETE FROM zset_scores;
             DELETE FROM lazyfree; DELETE FROM apart_collections; DELETE FROM key_values;"
        } else if self.apart_cids.is_empty() {
            "INSERT OR IGNORE INTO lazyfree (cid) SELECT cid FROM keys WHERE cid IS NOT NULL;
             DELETE FROM key_values;"
        } else {
            // Element rows left for the reclaim point at values of their own in the table:
            // only the key rows' values go now.
            "INSERT OR IGNORE INTO lazyfree (cid) SELECT cid FROM keys WHERE cid IS NOT NULL;
             DELETE FROM key_values WHERE id IN (SELECT blob FROM keys WHERE blob IS NOT NULL);"
        })?;
        if !elements {
            let mut queue =
                conn.prepare_cached("INSERT OR IGNORE INTO lazyfree (cid) VALUES (?1)")?;
            for cid in dropped {
                queue.execute([cid as i64])?;
            }
        }
        conn.execute_batch(
            "DELETE FROM keys;
             UPDATE db_stats SET keys = 0, expires = 0;",
        )?;
        if elements {
            self.apart_cids.clear();
        }
        for (_, sql) in triggers {
            conn.execute_batch(&sql)?;
        }
        if elements {
            self.slots.reset(&conn)?;
        }
        drop(conn);
        self.filter.clear();
        if elements {
            self.element_filter.clear();
        }
        Ok(())
    }

    /// Applies the queued key rows if some came without their key's presence in the store
    /// ([`KeyRow::was`]): counting needs them in the table then.
    fn settle_uncounted(&mut self) -> Result<(), StoreError> {
        match &self.rows {
            Some(rows) if !rows.counts_known() => self.settle(),
            _ => Ok(()),
        }
    }

    /// The first keys of slot `db` from position `from` on, in key order: `count` of them
    /// and the next (a SCAN page's [`finish_page`] needs it), or all there are. Only the
    /// queued rows of the positions the page covers are applied first (a pass over the
    /// queue): SCAN and RANDOMKEY applied the whole queue, up to the row writer's window
    /// (8 ms a megabyte), and turned the window off for a second, so that a client SCANning
    /// now and then beside a write load kept every key's row from coalescing.
    fn settled_page(
        &mut self,
        db: DbIndex,
        from: i64,
        count: usize,
    ) -> Result<Vec<KeyAt>, StoreError> {
        self.reading()?;
        let limit = i64::try_from(count).unwrap_or(i64::MAX).saturating_add(1);
        loop {
            let rows = self
                .prepared
                .get(&lock(&self.conn), SQL_SCAN)?
                .query_map(params![db, from, limit], scanned_key)?
                .collect::<Result<Vec<_>, _>>()?;
            // Rows applied may have added keys to the page, or taken some away (and the page
            // then reaches further): read it again until none was queued.
            let table: Vec<i64> = rows.iter().map(|&(h, _)| h).collect();
            let settle = Settle::Page {
                db,
                from,
                count,
                table: &table,
            };
            if self.settle_rows(settle)? == 0 {
                return Ok(rows);
            }
        }
    }

    /// Counts of every slot with keys (detached ones included), by slot: the table's (kept by
    /// triggers) plus what the rows still queued for the row writer will change them by. Counting applies no row: INFO's
    /// keyspace section and DBSIZE used to apply the whole queue on the executor's thread
    /// first (about 8 ms a megabyte, with every client waiting), and to turn the writer's
    /// window off for a second after.
    ///
    /// Nor does it read the table while the counts are known ([`RowWriter::totals`]): a read
    /// waits for a merge's commit on the writer's thread, and with a monitor polling INFO
    /// every 100 ms beside random 1 KB SETs, that wait held every client up to 350 ms.
    fn slot_stats(&mut self) -> Result<Vec<DbStats>, StoreError> {
        if let Some(totals) = self.known_totals() {
            #[cfg(debug_assertions)]
            if !self.merging {
                // The table agrees (read only when it costs no wait).
                if let Ok(counted) = self.count_slots() {
                    debug_assert_eq!(
                        stats_of(totals.clone()),
                        stats_of(counted),
                        "the key counts kept drifted from the table's"
                    );
                }
            }
            return Ok(stats_of(totals));
        }
        let counted = self.count_slots()?;
        if let Some(rows) = &self.rows {
            rows.know_totals(counted.iter().map(|(&db, &c)| (db, c)));
        }
        Ok(stats_of(counted))
    }

    /// The counts with every queued row applied, when known without reading the table.
    fn known_totals(&self) -> Option<std::collections::BTreeMap<DbIndex, (i64, i64)>> {
        let rows = self.rows.as_ref()?;
        if self.needs_rebuild || self.replaying || rows.failed() {
            return None;
        }
        Some(rows.totals()?.into_iter().collect())
    }

    /// The key table told the counts kept in memory nothing (a flush, a rename, a plugin's
    /// SQL, a rollback): the next count reads the tables.
    fn tables_changed(&mut self) {
        if let Some(rows) = &self.rows {
            rows.forget_totals();
        }
        self.lazyfree_known = false;
    }

    /// Whether a plugin's `sql` may read or change the tables the row writer writes
    /// ([`Reach`]): only then does it need the queued rows applied first, and end the reads
    /// of the committed state.
    fn reaches_rows(&mut self, sql: &str, batch: bool) -> bool {
        if let Some(reaches) = self.reach.known(sql) {
            return reaches; // without the connection's lock
        }
        let conn = lock(&self.conn);
        self.reach.reaches_rows(&conn, sql, batch)
    }

    /// The executor changed the keys table with a statement of its own rather than key
    /// rows: besides the counts, reads of the committed state are off until the next commit
    /// ([`RowWriter::tables_rewritten`]).
    fn keys_rewritten(&mut self) {
        self.tables_changed();
        if let Some(rows) = &self.rows {
            rows.tables_rewritten();
        }
    }

    /// A plugin's SQL may have changed key and element rows: besides what
    /// [`Self::keys_rewritten`] does, the element cache forgets every element, and the two
    /// filters, which may not know of rows it added, answer nothing until they are rebuilt
    /// from the file once this transaction is committed.
    fn rows_rewritten_by_sql(&mut self) {
        self.keys_rewritten();
        self.elements.clear();
        self.filter.distrust();
        self.element_filter.distrust();
        self.filter_rebuild = true;
    }

    /// Each slot's counts (keys, expires), read from the table, plus what the queued rows
    /// change them by.
    fn count_slots(
        &mut self,
    ) -> Result<std::collections::BTreeMap<DbIndex, (i64, i64)>, StoreError> {
        self.reading()?;
        self.settle_uncounted()?;
        let conn = lock(&self.conn);
        // With the connection held no chunk of rows is half applied: the table and the
        // queue's counts agree.
        let pending = self
            .rows
            .as_ref()
            .and_then(RowWriter::pending_counts)
            .unwrap_or_default();
        let stmt = self.prepared.get(
            &conn,
            "SELECT db, keys, expires FROM db_stats WHERE keys > 0 ORDER BY db",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, DbIndex>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        let mut counts = std::collections::BTreeMap::new();
        for row in rows {
            let (db, keys, expires) = row?;
            counts.insert(db, (keys, expires));
        }
        drop(conn);
        for (db, (keys, expires)) in pending {
            let c = counts.entry(db).or_insert((0, 0));
            c.0 += keys;
            c.1 += expires;
        }
        Ok(counts)
    }

    /// `lazyfree`'s rows, read from the table, which the update hook keeps counting from.
    fn count_lazyfree(&mut self) -> Result<i64, StoreError> {
        self.reading()?;
        self.settle_uncounted()?;
        let conn = lock(&self.conn);
        let n = self
            .prepared
            .get(&conn, "SELECT count(*) FROM lazyfree")?
            .query_row([], |r| r.get::<_, i64>(0))?;
        // With the connection held: no row is being applied.
        self.lazyfree_rows
            .store(n, std::sync::atomic::Ordering::Relaxed);
        self.lazyfree_known = true;
        Ok(n)
    }

    /// One reclaim step over the oldest detached slot (a flushed database's rows): deletes up
    /// to `limit` of its key rows (the delete trigger queues their collections), and forgets
    /// the slot once none is left. Journaled as the step it is, for the replay to repeat.
    fn reclaim_detached(&mut self, limit: u64) -> Result<Reclaimed, StoreError> {
        let mut done = Reclaimed::default();
        let Some(slot) = self.slots.first_detached() else {
            return Ok(done);
        };
        // The deleted key rows' triggers look for their collections' rows.
        self.settle_elements(None)?;
        self.begin()?;
        done.detached = Some(slot);
        self.keys_rewritten();
        let conn = lock(&self.conn);
        done.rows = self
            .prepared
            .get(
                &conn,
                "DELETE FROM keys WHERE db = ?1 AND (h, key) IN
                 (SELECT h, key FROM keys WHERE db = ?1 ORDER BY h, key LIMIT ?2)",
            )?
            .execute(params![slot, i64::try_from(limit).unwrap_or(i64::MAX)])?
            as u64;
        if done.rows < limit {
            self.slots.bury(&conn, slot)?;
            done.finished = true;
        }
        drop(conn);
        self.log(Op::Reclaim { limit });
        Ok(done)
    }

    /// Up to `limit` keys whose `column` (an expiry) is at or before `now`, by database: the
    /// rows of flushed databases not yet deleted are left out.
    fn keys_due(
        &mut self,
        column: &str,
        now: i64,
        limit: usize,
    ) -> Result<Vec<(DbIndex, Bytes)>, StoreError> {
        if !self.expiry_candidates_ready()? {
            return Ok(Vec::new());
        }
        // Key rows the writer's window holds back are brought in as far as they matter: those
        // due, which the table may lack, and those of the keys found, whose queued rows may
        // have dropped or moved their expiry (a found key must be due by its newest row, or
        // stale keys could crowd out the due ones: an eviction would find no victim).
        if let Some(rows) = self.rows.as_ref() {
            let due: fn(&Record, i64) -> bool = match column {
                "expire_at" => |r, now| r.expire_at.is_some_and(|t| t <= now),
                _ => |r, now| r.sub_expire_at.is_some_and(|t| t <= now),
            };
            rows.settle_due(&lock(&self.conn), |r| due(r, now))?;
        }
        let mut sql = format!("SELECT db, key FROM keys WHERE {column} <= ?1");
        let detached: Vec<String> = self.slots.detached().map(|s| s.to_string()).collect();
        if !detached.is_empty() {
            sql.push_str(&format!(" AND db NOT IN ({})", detached.join(", ")));
        }
        sql.push_str(&format!(" ORDER BY {column} LIMIT ?2"));
        loop {
            let conn = lock(&self.conn);
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params![now, limit as i64], |r| {
                Ok((r.get(0)?, Bytes::from(r.get::<_, Vec<u8>>(1)?)))
            })?;
            let rows = rows.collect::<Result<Vec<(DbIndex, Bytes)>, _>>()?;
            drop(stmt);
            if let Some(writer) = self.rows.as_ref() {
                let keys: Vec<(DbIndex, &[u8])> =
                    rows.iter().map(|(slot, key)| (*slot, &key[..])).collect();
                if writer.settle_keys(&conn, &keys)? > 0 {
                    continue; // some were stale: look again (each pass applies a queued row)
                }
            }
            return Ok(rows
                .into_iter()
                .filter_map(|(slot, key)| Some((self.slots.db_of(slot)?, key)))
                .collect());
        }
    }

    /// Whether a merge is due (see [`Journal::merge_due`]).
    fn timely_merge_due(&self) -> bool {
        self.journal
            .as_ref()
            .is_some_and(|j| j.merge_due(std::time::Instant::now()))
    }

    /// Applies the key rows the row writer still holds, before a statement that reads or
    /// changes the keys table as a whole. A row that fails to apply (a full disk) stays
    /// queued, where reads find it, and the error is returned (a merge is then retried later);
    /// should SQLite have dropped the open transaction, it is rebuilt from the journal.
    fn settle(&mut self) -> Result<(), StoreError> {
        self.settle_rows(Settle::Statement).map(drop)
    }

    /// The scores in `range` that the row writer's queued members of sorted set `cid` will
    /// have once applied.
    fn queued_scores(&self, cid: CollectionId, range: &ZRange) -> Vec<f64> {
        let Some(rows) = &self.rows else {
            return Vec::new();
        };
        let mut scores = rows.queued_scores(cid);
        scores.retain(|&score| range.score_in(score));
        scores
    }

    /// The first `n` members of sorted set `cid` from an end (the highest with `rev`): the
    /// table's, less those the row writer holds queued rows of, merged with the queued
    /// members' newest scores. Nothing is applied on the executor's thread: the pops that
    /// follow queue their deletions, which the next read skips the same way (read through
    /// `zset_range_read`, each read from the end applied the last pops' deletions and the
    /// queued members in its range first, three statements each).
    ///
    /// It reads beside a merge the row writer runs, rather than wait for its commit (the
    /// first pop after 300,000 ZADDs waited 380-460 ms so, every client with it): the
    /// queued rows it looks at include the merge's, and each read of the table and its look
    /// at the queue hold the connection together, so that no chunk of them is applied in
    /// between (a row read before its queued entry was applied, and no longer queued once
    /// looked for, would pass for the member's newest).
    fn zset_first(
        &mut self,
        cid: CollectionId,
        rev: bool,
        n: usize,
    ) -> Result<Vec<(Bytes, f64)>, StoreError> {
        let all = ZRange::all();
        if !self
            .rows
            .as_ref()
            .is_some_and(|r| r.holds_elements(Some(cid)))
        {
            return self.zset_range_read(cid, &all, rev, 0, Some(n as u64));
        }
        let _beside = self.reading_beside_merge()?; // (checked per page below)
        let rows = self.rows.as_ref().expect("checked above");
        let mut first = rows.first_queued_members(cid, n, rev);
        let mut after = self.elements.zset_end.resume(cid, rev);
        // The table's rows from the end, past those whose newest state is queued, and past
        // those of the queued members taken, which the writer may apply meanwhile.
        let taken: HashSet<Bytes, ahash::RandomState> =
            first.iter().map(|(m, _)| m.clone()).collect();
        let order =
            |a: &(Bytes, f64), b: &(Bytes, f64)| zset_end::order(rev, (a.1, &a.0), (b.1, &b.0));
        // With `n` queued members taken, no table row past the last of them is among the
        // first `n`: the table is read a page at a time up to it (after 300,000 ZADDs, the
        // table's rows there were nearly all of members queued again, skipped).
        let bound = (first.len() >= n)
            .then(|| first.iter().max_by(|a, b| order(a, b)).cloned())
            .flatten();
        let page = if bound.is_some() { n.min(ZSET_PAGE) } else { n };
        let mut kept = 0;
        loop {
            let conn = lock(&self.conn);
            if transaction_lost(self.merging, &conn) {
                drop(conn);
                self.reading()?;
                continue;
            }
            let rows = self.rows.as_ref().expect("checked above");
            let read = zset_rows_after(&conn, &mut self.prepared, cid, rev, after.as_ref(), page)?;
            let full = read.len() == page;
            after = read.last().cloned();
            let past_bound = match (&after, &bound) {
                (Some(last), Some(bound)) => order(last, bound).is_gt(),
                _ => false,
            };
            let members: Vec<(i64, &[u8])> =
                read.iter().map(|(m, _)| (position(m), &m[..])).collect();
            let queued = rows.queued_among(cid, &members);
            drop(conn);
            drop(members);
            let before = first.len();
            first.extend(
                read.into_iter()
                    .zip(queued)
                    .filter(|((m, _), queued)| !queued && !taken.contains(m))
                    .map(|(row, _)| row),
            );
            kept += first.len() - before;
            if kept >= n || !full || past_bound {
                break;
            }
        }
        first.sort_unstable_by(order);
        first.truncate(n);
        Ok(first)
    }

    /// [`Store::zset_range`] read from the table, after applying the queued members it needs.
    fn zset_range_read(
        &mut self,
        cid: CollectionId,
        range: &ZRange,
        rev: bool,
        offset: u64,
        limit: Option<u64>,
    ) -> Result<Vec<(Bytes, f64)>, StoreError> {
        if self.elements_settled(cid) {
            return self
                .read_beside_merge(|conn, _| zset_rows(conn, cid, range, rev, offset, limit));
        }
        loop {
            self.reading()?;
            let rows = zset_rows(&lock(&self.conn), cid, range, rev, offset, limit)?;
            // The rows read (and those the offset skipped) have scores from the range's
            // near end to the last row's, or to its far end when fewer came than asked for;
            // or, nearer, to the score of the last of as many queued members: the queued
            // members whose score, in the table or queued, falls there go in first, and the
            // range is read again if there were any. (A sorted set whose members were all
            // queued applied them all for ZRANGE 0 0: 77,000 rows, 250 ms.)
            let full = limit.is_some_and(|l| rows.len() as u64 >= l);
            let mut last = rows.last().map(|(_, score)| *score).filter(|_| full);
            if let Some(limit) = limit {
                let needed = usize::try_from(offset.saturating_add(limit)).unwrap_or(usize::MAX);
                let mut queued = self.queued_scores(cid, range);
                if queued.len() >= needed {
                    let nth = if rev {
                        *queued
                            .select_nth_unstable_by(needed - 1, |a, b| b.total_cmp(a))
                            .1
                    } else {
                        *queued.select_nth_unstable_by(needed - 1, f64::total_cmp).1
                    };
                    last = Some(match last {
                        Some(l) if rev => l.max(nth),
                        Some(l) => l.min(nth),
                        None => nth,
                    });
                }
            }
            let (lo, hi) = match (rev, last) {
                (false, Some(last)) => (range.min.value, last),
                (true, Some(last)) => (last, range.max.value),
                (_, None) => (range.min.value, range.max.value),
            };
            let within = |p: &Pending| p.scored(|score| score >= lo && score <= hi);
            if self.read_span(cid, (i64::MIN, i64::MAX), &within)? == 0 {
                return Ok(rows);
            }
        }
    }

    /// Applies the element rows the row writer holds for `cid` (for every collection, with
    /// `None`), before a statement that reads or changes more than one element row of it.
    fn settle_elements(&mut self, cid: Option<CollectionId>) -> Result<(), StoreError> {
        match &self.rows {
            Some(rows) if rows.holds_elements(cid) => {
                self.settle_rows(Settle::Elements(cid)).map(drop)
            }
            _ => Ok(()),
        }
    }

    /// [`Self::settle_span`] before a statement that reads that part of the collection: the
    /// collection's next element writes go to the table directly ([`RANGED_DIRECT_WRITES`]).
    fn read_span(
        &mut self,
        cid: CollectionId,
        span: (i64, i64),
        pick: &dyn Fn(&Pending) -> bool,
    ) -> Result<usize, StoreError> {
        self.ranged = Some((cid, RANGED_DIRECT_WRITES));
        self.settle_span(cid, span, pick)
    }

    /// Applies the queued row of element `sub` of `cid`, if any, before a statement of the
    /// executor's own writes it (a collection keeping values apart, or one a range read
    /// lately, see [`RANGED_DIRECT_WRITES`]).
    fn settle_element(&mut self, cid: CollectionId, sub: &[u8]) -> Result<(), StoreError> {
        let h = position(sub);
        self.settle_span(cid, (h, h), &|_| true).map(drop)
    }

    /// Applies the element rows the row writer holds for `cid` at positions `span` (both
    /// ends in) that `pick` picks, before a statement over that part of the collection;
    /// returns how many.
    fn settle_span(
        &mut self,
        cid: CollectionId,
        span: (i64, i64),
        pick: &dyn Fn(&Pending) -> bool,
    ) -> Result<usize, StoreError> {
        match &self.rows {
            Some(rows) if rows.holds_elements(Some(cid)) => {
                self.settle_rows(Settle::Span { cid, span, pick })
            }
            _ => Ok(0),
        }
    }

    /// Whether a write of one element row of `cid` goes to the row writer (see
    /// [`element_rows`]), after opening the transaction it belongs to: not with a `long`
    /// value, nor in a collection that keeps values apart, nor during a replay.
    fn queues_elements(&mut self, cid: CollectionId, long: bool) -> Result<bool, StoreError> {
        let queues = |s: &Self| s.rows.is_some() && !s.replaying && !s.apart_cids.contains(&cid);
        if long || !queues(self) {
            return Ok(false);
        }
        if let Some((ranged, left)) = &mut self.ranged {
            if *ranged == cid && *left > 0 {
                *left -= 1;
                return Ok(false);
            }
        }
        self.begin_queued()?;
        Ok(queues(self))
    }

    /// [`Store::list_put`], and [`Store::list_push`] when `fresh`: the position is past the
    /// list's ends (see [`Pending::Item`]'s `filed`).
    fn put_item(
        &mut self,
        cid: CollectionId,
        pos: i64,
        value: &[u8],
        fresh: bool,
    ) -> Result<(), StoreError> {
        let long = values::element_apart(&[], value);
        if self.queues_elements(cid, long)? {
            let item = Some(Bytes::copy_from_slice(value));
            let pending = Pending::Item {
                filed: !fresh,
                value: item,
            };
            self.queue_item(cid, pos, pending);
            self.log(Op::ListPut { cid, pos, value });
            return Ok(());
        }
        // Written here, after the position's queued row.
        self.settle_span(cid, (pos, pos), &|_| true)?;
        self.begin()?;
        if long || self.apart_cids.contains(&cid) {
            self.apart_cids.insert(cid);
            let conn = lock(&self.conn);
            values::atomically(&conn, || {
                if long {
                    values::mark(&conn, cid)?;
                }
                let old: Option<i64> = self
                    .prepared
                    .get(
                        &conn,
                        "SELECT blob FROM list_items WHERE cid = ?1 AND pos = ?2",
                    )?
                    .query_row(params![cid as i64, pos], |r| r.get(0))
                    .optional()?
                    .flatten();
                let blob = values::place(&conn, old, value, long)?;
                let stored: &[u8] = if blob.is_some() { &[] } else { value };
                self.prepared
                    .get(
                        &conn,
                        "INSERT INTO list_items (cid, pos, value, blob) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (cid, pos) DO UPDATE SET value = excluded.value,
                       blob = excluded.blob",
                    )?
                    .execute(params![cid as i64, pos, stored, blob])
            })?;
        } else {
            self.prepared
                .get(
                    &lock(&self.conn),
                    // No statement journal (it cost pushes 27%): a full disk drops the open
                    // transaction, which the next read or write rebuilds (see `recover`).
                    "INSERT INTO list_items (cid, pos, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT (cid, pos) DO UPDATE SET value = excluded.value",
                )?
                .execute(params![cid as i64, pos, value])?;
        }
        self.log(Op::ListPut { cid, pos, value });
        Ok(())
    }

    /// Queues an element's new row for the row writer.
    fn queue_element(&self, cid: CollectionId, sub: &[u8], pending: Pending) {
        if let Some(rows) = &self.rows {
            rows.push_element(element_rows::element_key(cid, position(sub), sub), pending);
        }
    }

    /// [`Store::list_range_within`] over positions (`from`, `to`) of which the row writer
    /// holds `queued` items (position order): the table's items of the other positions,
    /// merged with those, applying none (a queue's consumer, LPOP past the items kept in
    /// memory, applied the last pushes and pops at each read). The table's rows of queued
    /// positions are skipped, whether or not the writer applied them meanwhile.
    fn list_range_merged(
        &mut self,
        cid: CollectionId,
        (from, to): (i64, i64),
        reverse: bool,
        queued: Vec<(i64, Option<Bytes>)>,
        at_least: usize,
        max_bytes: usize,
    ) -> Result<Vec<Bytes>, StoreError> {
        // The queued items overlay the table's, whether or not a merge's chunk applied them
        // since: read beside a merge (see `load`).
        let table: Vec<(i64, Bytes)> = self.read_beside_merge(|conn, prepared| {
            let stmt = prepared.get(
                conn,
                concat!(
                    "SELECT pos, ",
                    stored_value!(),
                    " FROM list_items WHERE cid = ?1 AND pos BETWEEN ?2 AND ?3"
                ),
            )?;
            let rows = stmt.query_map(params![cid as i64, from, to], |r| {
                Ok((r.get::<_, i64>(0)?, Bytes::from(r.get::<_, Vec<u8>>(1)?)))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })?;
        let mut items: std::collections::BTreeMap<i64, Bytes> = table.into_iter().collect();
        for (pos, value) in queued {
            match value {
                Some(value) => items.insert(pos, value),
                None => items.remove(&pos),
            };
        }
        let ordered: Box<dyn Iterator<Item = Bytes>> = if reverse {
            Box::new(items.into_values().rev())
        } else {
            Box::new(items.into_values())
        };
        items_within(ordered.map(Ok::<Bytes, StoreError>), at_least, max_bytes)
    }

    /// Queues a large list's item at `pos` (`Pending::Item`) for the row writer.
    fn queue_item(&self, cid: CollectionId, pos: i64, item: Pending) {
        if let Some(rows) = &self.rows {
            rows.push_element(element_rows::element_key(cid, pos, &[]), item);
        }
    }

    /// The row writer's queued state of an element: `Some(None)` when its deletion is
    /// queued, `None` when nothing of it is.
    fn queued_element(
        &self,
        cid: CollectionId,
        sub: &[u8],
    ) -> Option<Option<(Bytes, Option<i64>)>> {
        let rows = self.rows.as_ref()?;
        rows.pending_element(cid, position(sub), sub)
    }

    /// [`Self::settle`] for a statement about some keys alone, or for a merge.
    fn settle_rows(&mut self, settle: Settle<'_>) -> Result<usize, StoreError> {
        self.finish_merge(true)?;
        let Some(rows) = self.rows.as_ref() else {
            return Ok(0);
        };
        let conn = lock(&self.conn);
        let result = match settle {
            Settle::Keys(keys) => rows.settle_keys(&conn, keys),
            Settle::Page {
                db,
                from,
                count,
                table,
            } => rows.settle_page(&conn, db, from, count, table),
            Settle::Slot { db, only } => rows.settle_slot(&conn, db, only),
            Settle::Statement => rows.settle(&conn, true).map(|()| 0),
            Settle::Merge => rows.settle(&conn, false).map(|()| 0),
            Settle::Elements(cid) => rows.settle_elements(&conn, cid),
            Settle::Span { cid, span, pick } => rows.settle_span(&conn, cid, span, pick),
        };
        let lost = result.is_err() && self.in_tx && conn.is_autocommit();
        drop(conn);
        if lost {
            // SQLite rolled the transaction back after the error: rebuild it from the journal.
            tracing::error!("the open transaction was lost applying key rows; rebuilding it");
            self.discard_transaction();
            if let Err(e) = self.rebuild(true) {
                tracing::error!(error = %e, "rebuilding from the redo journal failed");
            }
        }
        result
    }

    fn begin(&mut self) -> Result<(), StoreError> {
        self.finish_merge(true)?;
        self.recover()?;
        if let Some(j) = self.journal.as_mut() {
            j.touched = true;
        }
        if !self.in_tx {
            self.prepared.get(&lock(&self.conn), "BEGIN")?.execute([])?;
            self.in_tx = true;
        } else if self.journal.is_none() && lock(&self.conn).is_autocommit() {
            // SQLite rolled the transaction back by itself after an error (a full disk, an
            // I/O error): writing on would commit each statement alone, outside the batch.
            // (With the journal, `recover` above has rebuilt it or returned this error.)
            return Err(StoreError::Io(
                "the open transaction was rolled back after an earlier error".into(),
            ));
        }
        Ok(())
    }

    /// [`Self::begin`] for a change the row writer applies (a key row, a metadata figure):
    /// it needs no statement of its own, so it does not wait for a merge's commit running on
    /// the writer's thread while a transaction is open.
    fn begin_queued(&mut self) -> Result<(), StoreError> {
        if !self.in_tx || self.needs_rebuild || self.replaying || self.rows.is_none() {
            return self.begin();
        }
        if let Some(j) = self.journal.as_mut() {
            j.touched = true;
        }
        Ok(())
    }

    /// The open transaction holds every journaled write the file does not have yet. SQLite
    /// drops it on some errors (a full disk in a statement without a statement journal, an
    /// I/O error), and the rebuild after a failed batch may fail too (the disk still full):
    /// a read of the file alone would then answer with older data, and a write would commit
    /// outside its batch. The transaction is rebuilt from the journal here, except when it
    /// was lost inside a batch (which then fails at its commit, whose rollback rebuilds it);
    /// then, or when the rebuild fails, the caller gets the error instead.
    fn recover(&mut self) -> Result<(), StoreError> {
        if self.journal.is_none() || self.replaying {
            return Ok(());
        }
        let lost = self.in_tx && lock(&self.conn).is_autocommit();
        if !lost && !self.needs_rebuild {
            return Ok(());
        }
        if lost && !self.needs_rebuild && self.journal.as_ref().is_some_and(Journal::has_batch) {
            return Err(StoreError::Io(
                "the open transaction was rolled back after an earlier error".into(),
            ));
        }
        if lost {
            self.discard_transaction();
        }
        self.rebuild(true)
    }

    /// Collects the outcome of a merge whose commit the row writer's thread runs, waiting for
    /// it if `wait` (before any statement of the executor's own). A merge that committed
    /// drops its records from the journal; one that failed is retried later, and the open
    /// transaction, which SQLite may have dropped, is rebuilt from the journal.
    fn finish_merge(&mut self, wait: bool) -> Result<(), StoreError> {
        if !self.merging {
            return Ok(());
        }
        let Some(done) = self.rows.as_ref().and_then(|r| r.await_merge(wait)) else {
            return Ok(());
        };
        match self.book_merge(done) {
            Ok(()) => {
                self.rebuild_filter_if_wanted();
                self.split_page_cache_again();
                Ok(())
            }
            Err(e) => {
                self.rebuild_after_failure();
                Err(StoreError::Io(format!(
                    "merging the redo journal failed: {e}"
                )))
            }
        }
    }

    /// Splits `bytes` between SQLite's page cache and the element cache: an eighth at least
    /// for the element cache, which spares SQLite the lookups it answers, and whatever the
    /// database's pages cannot fill (half as much again as they take, and a quarter of the
    /// budget, for growth until the next look, at each merge). With the default budget and
    /// a small database, the page cache's share (its loan from the hot cache included) was
    /// mostly room no page could take, while the element cache, at its eighth, missed: compare.sh's three collections
    /// of 100,000 elements in a 27 MB file, against 176 MB for pages and 25 MB for elements.
    /// Unless `force`, nothing changes until the pages want 1/32 of `bytes` more or less.
    fn split_page_cache(&mut self, bytes: u64, force: bool) -> Result<(), StoreError> {
        let wanted = self.pages_wanted().unwrap_or(u64::MAX);
        if let (false, Some((was_bytes, was_wanted))) = (force, self.page_cache_split) {
            if was_bytes == bytes && wanted.abs_diff(was_wanted) < bytes / 32 {
                return Ok(());
            }
        }
        self.page_cache_split = Some((bytes, wanted));
        // A quarter of the budget stays with the pages beyond what they take: the pages a
        // merge's open transaction adds before the next look must not spill mid-statement
        // (a full disk is then met by a statement rather than by the commit that detects it).
        let pages = wanted.saturating_add(bytes / 4);
        let elements = (bytes / 8).max(bytes.saturating_sub(pages));
        self.elements
            .set_budget(usize::try_from(elements).unwrap_or(usize::MAX));
        let kb = page_cache_kb(bytes - elements);
        if force || kb != self.page_cache_kb {
            // Takes effect at once, inside the open transaction too: a smaller cache spills
            // or drops pages as it needs room.
            lock(&self.conn).execute_batch(&format!("PRAGMA cache_size = -{kb}"))?;
            self.page_cache_kb = kb;
        }
        Ok(())
    }

    /// After a merge, which grew (or shrank) the database: its pages may want more (or less)
    /// of the budget [`Self::split_page_cache`] last split.
    fn split_page_cache_again(&mut self) {
        if let Some((bytes, _)) = self.page_cache_split {
            if let Err(e) = self.split_page_cache(bytes, false) {
                tracing::warn!(error = %e, "cannot resize the page cache");
            }
        }
    }

    /// The page cache's budget that would hold every page of the database, and half as
    /// many again (see [`page_cache_kb`] for what a page costs).
    fn pages_wanted(&self) -> rusqlite::Result<u64> {
        let conn = lock(&self.conn);
        let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        let size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        let bytes = u64::try_from(pages.saturating_mul(size)).unwrap_or(u64::MAX);
        Ok(bytes.saturating_mul(6) / 5 * 3 / 2)
    }

    /// Books the outcome of the merge that ran on the row writer's thread. One that committed
    /// drops its records from the journal: from then on a rebuild replays only the records
    /// after it (replaying a merged record again would apply it twice). One that failed is
    /// counted and retried later; its error is returned, and the caller must rebuild the open
    /// transaction from the journal.
    fn book_merge(&mut self, done: rows::MergeDone) -> Result<(), String> {
        self.merging = false;
        if let Some(e) = done.error {
            self.filter_rebuild |= self.filter.abandon() | self.element_filter.abandon();
            self.count_merge_failure(&e);
            return Err(e);
        }
        let journal = self.journal.as_mut().expect("a merge needs the journal");
        journal.stats.background_merges += 1;
        journal.merged(done.seq, done.ms);
        // The writer opened the next transaction after the commit; should that have failed,
        // the next write opens one.
        self.in_tx = !lock(&self.conn).is_autocommit();
        let journal = self.journal.as_mut().expect("checked above");
        if let Err(e) = journal.drop_merged() {
            // Harmless: the merged records stay, and a replay skips them (they precede
            // `meta.redo_seq`). The statement that collected the merge goes on.
            tracing::warn!(error = %e, "dropping merged records from the redo journal");
        }
        self.filter.spawn(&self.path);
        self.element_filter.spawn(&self.path);
        Ok(())
    }

    /// A merge that failed: counted, retried later, and the open transaction (which SQLite
    /// may have dropped) rolled back and rebuilt from the journal, which holds every
    /// acknowledged write.
    fn merge_failed(&mut self, error: &dyn std::fmt::Display) {
        self.count_merge_failure(error);
        self.rebuild_after_failure();
    }

    /// Counts a failed merge, which is retried later (see [`Journal::merge_failed`]).
    fn count_merge_failure(&mut self, error: &dyn std::fmt::Display) {
        if let Some(journal) = self.journal.as_mut() {
            journal.merge_failed(error.to_string());
        }
        tracing::error!(error = %error, "merging the redo journal failed; will retry");
    }

    /// Rolls the open transaction back and rebuilds it from the journal, which holds every
    /// acknowledged write, after a failed merge.
    fn rebuild_after_failure(&mut self) {
        self.discard_transaction();
        if let Err(e) = self.rebuild(true) {
            tracing::error!(error = %e, "rebuilding from the redo journal failed");
        }
    }

    /// Starts a merge that runs on the row writer's thread: the writer applies the key rows
    /// queued so far (all of them from journaled batches), then commits, while the executor
    /// goes on serving. Falls back to [`Self::merge_now`] when there is no row writer, a row
    /// failed to apply, or the transaction must be rebuilt.
    fn start_merge(&mut self) -> Result<(), StoreError> {
        if self.merging {
            return Ok(());
        }
        let (Some(rows), Some(journal)) = (self.rows.as_ref(), self.journal.as_ref()) else {
            return self.merge_now();
        };
        if journal.has_batch() || !self.in_tx || self.needs_rebuild || journal.is_empty() {
            return self.merge_now();
        }
        let seq = journal.last_seq;
        let conn = lock(&self.conn);
        if !rows.failed() && !conn.is_autocommit() {
            rows.request_merge(seq);
            drop(conn);
            self.merging = true;
            if std::mem::take(&mut self.filter_rebuild) {
                // The build reads the file once this commit is in it; keys written from now
                // on, which the next transaction holds, are collected meanwhile.
                self.filter.collect();
                self.element_filter.collect();
            }
            let journal = self.journal.as_mut().expect("checked above");
            journal.merge_started();
            return Ok(());
        }
        drop(conn);
        // A row failed, or SQLite dropped the transaction: the synchronous merge handles it.
        self.merge_now()
    }

    /// Readies a look for keys to expire, which the active expiry cycle runs ten times a
    /// second: false while a merge commits on the row writer's thread (the cycle looks again
    /// next time rather than wait). Queued key rows are not applied first: the keys found
    /// are candidates the keyspace checks against their newest row, and a row still queued
    /// is found once the writer has applied it, a few milliseconds later.
    fn expiry_candidates_ready(&mut self) -> Result<bool, StoreError> {
        self.finish_merge(false)?;
        if self.merging {
            return Ok(false);
        }
        self.reading()?;
        Ok(true)
    }

    /// Opens a read transaction for the reads that follow, when the journal is kept: each
    /// SQLite read outside a transaction takes and drops the file's locks (system calls per
    /// GET), while one transaction serves every read until the next merge tick ends it. The
    /// executor's connection is the file's only writer, so the snapshot is never stale.
    fn reading(&mut self) -> Result<(), StoreError> {
        // A merge that failed is counted, logged and retried later, and the transaction
        // rebuilt from the journal (or marked for `recover` to rebuild): not this read's
        // error. (A DBSIZE that collected it answered with it, on a full disk.)
        let _ = self.finish_merge(true);
        self.recover()?;
        if !self.in_tx && self.journal.is_some() && !self.needs_rebuild {
            self.prepared.get(&lock(&self.conn), "BEGIN")?.execute([])?;
            self.in_tx = true;
        }
        Ok(())
    }

    /// [`Self::reading`] for a read that takes the rows a running merge commits into account
    /// itself (the queue's look at them: [`super::element_rows`]'s frozen entries): while
    /// the row writer runs a merge, it reads in the merge's transaction (or, once the writer
    /// committed it, in the file's committed state) without waiting for the commit. Whether
    /// a merge runs (the read then checks [`transaction_lost`] with the connection held).
    fn reading_beside_merge(&mut self) -> Result<bool, StoreError> {
        let _ = self.finish_merge(false);
        if self.merging {
            return Ok(true);
        }
        self.reading()?;
        Ok(false)
    }

    /// Runs `read` on the connection beside a running merge ([`Self::reading_beside_merge`]),
    /// unless the merge's transaction was lost: then after the merge, whose failure rebuilds
    /// it.
    fn read_beside_merge<T>(
        &mut self,
        read: impl FnOnce(&Connection, &mut Prepared) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.reading_beside_merge()? {
            let conn = lock(&self.conn);
            if !transaction_lost(self.merging, &conn) {
                return read(&conn, &mut self.prepared);
            }
            drop(conn);
            self.reading()?;
        }
        let conn = lock(&self.conn);
        read(&conn, &mut self.prepared)
    }

    /// Whether the row writer holds no queued element row of collection `cid`: the table, in
    /// the open transaction (a running merge's), then holds all of it, and a read of several
    /// of its elements can go [beside the merge](Self::read_beside_merge). Only the
    /// executor's thread queues element rows, and the writer only applies them, so the
    /// answer holds until this thread queues one. (A ZCOUNT or ZRANGEBYSCORE of a large
    /// sorted set beside random SETs over 1,000,000 keys waited 2.4-2.9 s for merges of
    /// keys it had nothing to do with.)
    fn elements_settled(&self, cid: CollectionId) -> bool {
        !self
            .rows
            .as_ref()
            .is_some_and(|rows| rows.holds_elements(Some(cid)))
    }

    /// Ends the open transaction when it only read (the journal is empty and nothing was
    /// written since the last merge), so the checkpointer can move past it.
    fn end_read(&mut self) {
        if self.finish_merge(true).is_err() {
            return; // rebuilt
        }
        if self.in_tx {
            if self.settle_rows(Settle::Merge).is_err() {
                return; // rebuilt: the transaction holds the journal's writes again
            }
            if let Err(e) = self
                .prepared
                .get(&lock(&self.conn), "COMMIT")
                .and_then(|s| s.execute([]))
            {
                tracing::warn!(error = %e, "ending a read transaction failed");
            }
            self.close_transaction(false);
        }
    }

    /// Journals a row operation that just succeeded.
    fn log(&mut self, op: Op<'_>) {
        if !self.replaying {
            if let Some(j) = self.journal.as_mut() {
                j.log(&op);
            }
        }
    }

    /// Opens the redo journal, replays what a previous run left in it and merges that at once.
    /// A journal left by a run that had one is replayed even if this run keeps none.
    fn open_journal(
        &mut self,
        options: JournalOptions,
        synchronous: Synchronous,
    ) -> Result<(), StoreError> {
        if options.merge_interval_ms == 0 && !Journal::exists(&self.path) {
            return Ok(());
        }
        let mut journal = Journal::open(&self.path, options)?;
        let merged = self.meta_get("redo_seq")?.unwrap_or(0) as u64;
        journal.merged_seq = merged;
        let payloads = journal.read_after(merged)?;
        journal.stats.replayed_records = payloads.len() as u64;
        if !payloads.is_empty() {
            tracing::info!(
                path = %self.path,
                records = payloads.len(),
                "replaying the redo journal"
            );
            // Replayed records touch pages all over the tables: a page cache the size of the
            // journal's changes keeps SQLite from spilling and rewriting them over and over
            // (a 60 MB journal of random keys took 4 s with the usual 16 MB).
            let bytes: usize = payloads.iter().map(Vec::len).sum();
            let cache_kb = (bytes as i64 * 2 / 1024).max(self.page_cache_kb);
            lock(&self.conn).execute_batch(&format!("PRAGMA cache_size = -{cache_kb}"))?;
            self.replay(&payloads)?;
        }
        self.journal = Some(journal);
        self.merge_now()?;
        let cache_kb = self.page_cache_kb;
        lock(&self.conn).execute_batch(&format!("PRAGMA cache_size = -{cache_kb}"))?;
        let journal = self.journal.as_mut().expect("just set");
        journal.truncate()?;
        if options.merge_interval_ms == 0 {
            if let Some(journal) = self.journal.take() {
                journal.remove();
            }
        } else {
            self.set_synchronous(synchronous)?;
        }
        Ok(())
    }

    /// Commits the open transaction with the journal's last sequence number, then empties
    /// the journal. On failure the transaction is rolled back and rebuilt from the journal,
    /// which still holds every acknowledged write.
    fn merge_now(&mut self) -> Result<(), StoreError> {
        self.finish_merge(true)?;
        let Some(journal) = self.journal.as_ref() else {
            return Ok(());
        };
        if !self.in_tx && journal.is_empty() {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let seq = journal.last_seq;
        if let Err(e) = self.settle_rows(Settle::Merge) {
            // The key rows could not be applied (the transaction was lost, and rebuilt).
            if let Some(journal) = self.journal.as_mut() {
                journal.merge_failed(e.to_string());
            }
            tracing::error!(error = %e, "merging the redo journal failed; will retry");
            return Err(e);
        }
        let result = (|| {
            self.begin()?;
            self.prepared
                .get(&lock(&self.conn), rows::SQL_MERGED_SEQ)?
                .execute([seq as i64])?;
            self.prepared
                .get(&lock(&self.conn), "COMMIT")?
                .execute([])?;
            Ok::<(), StoreError>(())
        })();
        if let (Ok(()), Some(rows)) = (&result, &self.rows) {
            rows.committed();
        }
        let journal = self.journal.as_mut().expect("checked above");
        match result {
            Ok(()) => {
                self.in_tx = false;
                journal.touched = false;
                journal.merged(seq, started.elapsed().as_millis() as u64);
                let truncated = journal.truncate();
                self.rebuild_filter_if_wanted();
                self.split_page_cache_again();
                truncated
            }
            Err(e) => {
                self.merge_failed(&e);
                Err(e)
            }
        }
    }

    /// Applies journal records to the open transaction (none journaled again); on failure the
    /// transaction is rolled back.
    ///
    /// Key rows are held back until an operation of another kind comes (or until they take
    /// [`REPLAYED_ROWS_MAX_BYTES`]), then written each key once, with its last row, in key
    /// order, as a merge writes them: a journal of SETs to random keys replayed its records
    /// one row at a time, each a descent to a random page.
    fn replay(&mut self, payloads: &[Vec<u8>]) -> Result<(), StoreError> {
        if payloads.is_empty() {
            return Ok(());
        }
        self.replaying = true;
        self.replayed_rows = Some(ReplayedRows::default());
        let result = self
            .begin()
            .and_then(|_| {
                payloads.iter().try_for_each(|p| {
                    replay_payload(p, self, |s, op| {
                        if op.is_key_row() {
                            Ok(())
                        } else {
                            s.write_replayed_rows()
                        }
                    })
                })
            })
            .and_then(|_| self.write_replayed_rows());
        self.replayed_rows = None;
        self.replaying = false;
        if result.is_err() {
            self.discard_transaction();
        }
        result
    }

    /// Writes the key rows a replay holds back (see [`Self::replay`]).
    fn write_replayed_rows(&mut self) -> Result<(), StoreError> {
        let Some(held) = self.replayed_rows.as_mut() else {
            return Ok(());
        };
        if held.rows.is_empty() {
            return Ok(());
        }
        let held = std::mem::take(held);
        let conn = lock(&self.conn);
        rows::apply_in_order(
            &conn,
            &self.row_path,
            held.rows
                .iter()
                .map(|((slot, h, key), row)| (*slot, *h, &key[..], row.as_ref())),
        )?;
        Ok(())
    }

    /// Writes an element row (`elements`, at position `h`) whose new value is long, or of a
    /// collection that may hold values kept apart already, with its value where it belongs
    /// (see [`values`]); returns whether the row existed. `None`: neither, the caller's plain
    /// statement writes it.
    fn put_element_apart(
        &mut self,
        cid: CollectionId,
        h: i64,
        sub: &[u8],
        expire_at: Option<i64>,
        value: &[u8],
    ) -> Result<Option<bool>, StoreError> {
        let long = values::element_apart(sub, value);
        if !long && !self.apart_cids.contains(&cid) {
            return Ok(None);
        }
        if long {
            self.apart_cids.insert(cid);
        }
        let conn = lock(&self.conn);
        let existed = values::atomically(&conn, || {
            if long {
                values::mark(&conn, cid)?;
            }
            let key = params![cid as i64, h, sub];
            let old: Option<Option<i64>> = self
                .prepared
                .get(&conn, SQL_ELEMENT_BLOB)?
                .query_row(key, |r| r.get(0))
                .optional()?;
            let blob = values::place(&conn, old.flatten(), value, long)?;
            let stored: &[u8] = if blob.is_some() { &[] } else { value };
            let row = params![cid as i64, h, sub, expire_at, stored, blob];
            if old.is_some() {
                self.prepared
                    .get(
                        &conn,
                        "UPDATE elements SET expire_at = ?4, value = ?5, blob = ?6
                     WHERE cid = ?1 AND h = ?2 AND sub = ?3",
                    )?
                    .execute(row)?;
            } else {
                self.prepared
                    .get(
                        &conn,
                        "INSERT INTO elements (cid, h, sub, expire_at, value, blob)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )?
                    .execute(row)?;
            }
            Ok(old.is_some())
        })?;
        Ok(Some(existed))
    }

    /// Writes element row `element` of `cid` (at position `h`): an update where the element
    /// is `known` to exist, an insert where it is known not to, an update and then, if it
    /// found nothing, an insert otherwise. Returns whether the row existed.
    fn write_element(
        &mut self,
        cid: CollectionId,
        h: i64,
        element: &Element,
        known: Option<bool>,
    ) -> Result<bool, StoreError> {
        let (sub, value, expire_at) = (&element.sub[..], &element.value[..], element.expire_at);
        if let Some(existed) = self.put_element_apart(cid, h, sub, expire_at, value)? {
            return Ok(existed);
        }
        let conn = lock(&self.conn);
        let row = params![cid as i64, h, sub, expire_at, value];
        if known == Some(false) {
            // (An upsert: the same cost as an insert where nothing conflicts.)
            self.prepared.get(&conn, SQL_PUT_ELEMENT)?.execute(row)?;
            return Ok(false);
        }
        if self.prepared.get(&conn, SQL_UPDATE_ELEMENT)?.execute(row)? > 0 {
            return Ok(true);
        }
        self.prepared.get(&conn, SQL_PUT_ELEMENT)?.execute(row)?;
        Ok(false)
    }

    /// Writes sorted-set member `member`'s rows (its element and its place in the score
    /// index), `old` its score before if it had one.
    fn write_zset_member(
        &mut self,
        cid: CollectionId,
        member: &[u8],
        score: f64,
        old: Option<f64>,
    ) -> Result<(), StoreError> {
        let conn = lock(&self.conn);
        let element = params![
            cid as i64,
            position(member),
            member,
            None::<i64>,
            &score.to_le_bytes()[..]
        ];
        // A member known to be there is updated: the upsert would find its row by a failed
        // insert first (ZADD -P 16 of new scores for existing members: 3% faster so). Should
        // it be missing all the same, it is inserted.
        let updated = old.is_some()
            && self
                .prepared
                .get(&conn, SQL_UPDATE_ELEMENT)?
                .execute(element)?
                > 0;
        if !updated {
            self.prepared
                .get(&conn, SQL_PUT_ELEMENT)?
                .execute(element)?;
        }
        if let Some(old) = old {
            self.prepared
                .get(&conn, SQL_DELETE_SCORE)?
                .execute(params![cid as i64, old, member])?;
        }
        self.prepared
            .get(&conn, SQL_PUT_SCORE)?
            .execute(params![cid as i64, score, member])?;
        Ok(())
    }

    /// Deletes sorted-set member `member`'s rows, `score` its score.
    fn delete_zset_member(
        &mut self,
        cid: CollectionId,
        member: &[u8],
        score: f64,
    ) -> Result<(), StoreError> {
        // Sorted sets' values are scores: never kept apart.
        let conn = lock(&self.conn);
        self.prepared
            .get(&conn, SQL_DELETE_ELEMENT)?
            .execute(params![cid as i64, position(member), member])?;
        self.prepared
            .get(&conn, SQL_DELETE_SCORE)?
            .execute(params![cid as i64, score, member])?;
        Ok(())
    }

    /// Runs `sql`, which deletes element rows of `cid`; in a collection that may hold values
    /// kept apart, `values_sql` first (the same parameters) drops the values those rows point
    /// at, and the two run as one. Returns the rows `sql` deleted.
    fn delete_elements(
        &mut self,
        cid: CollectionId,
        values_sql: &str,
        sql: &'static str,
        params: &[&dyn rusqlite::ToSql],
    ) -> Result<usize, StoreError> {
        let conn = lock(&self.conn);
        if !self.apart_cids.contains(&cid) {
            return Ok(self.prepared.get(&conn, sql)?.execute(params)?);
        }
        Ok(values::atomically(&conn, || {
            conn.prepare_cached(values_sql)?.execute(params)?;
            conn.prepare_cached(sql)?.execute(params)
        })?)
    }

    /// Starts the key filter's rebuild it asked for, once the file's committed state is the
    /// current one (no transaction open): the rebuild reads that state, and adds what is
    /// written after it starts.
    fn rebuild_filter_if_wanted(&mut self) {
        if self.filter_rebuild && !self.in_tx {
            self.filter_rebuild = false;
            self.filter.start(&self.path);
            self.element_filter.start(&self.path);
        }
    }

    /// Rolls back the open SQLite transaction, whatever state SQLite left it in.
    fn discard_transaction(&mut self) {
        self.close_transaction(true);
    }

    /// Ends the open SQLite transaction, rolling back what it holds unless it committed
    /// already (`discarded`: it did not, and the element cache may hold rows it drops).
    fn close_transaction(&mut self, discarded: bool) {
        self.tables_changed();
        if discarded {
            self.elements.clear();
            self.discarded_rows.clear();
        }
        if self.merging {
            // The transaction goes either way, but a merge that committed is booked first:
            // the rebuild that follows must not replay its records.
            if let Some(done) = self.rows.as_ref().and_then(|r| r.await_merge(true)) {
                let _ = self.book_merge(done); // a failure was counted: the rebuild follows
            }
            self.merging = false;
        }
        let conn = lock(&self.conn);
        if let Some(rows) = &self.rows {
            rows.discard(&conn);
        }
        if self.in_tx && !conn.is_autocommit() {
            if let Err(e) = conn.execute_batch("ROLLBACK") {
                tracing::error!(error = %e, "rollback failed");
            }
        }
        if self.in_tx {
            // A flush or a reclaim step may have moved slots in what was just discarded.
            match Slots::load(&conn) {
                Ok(slots) => self.slots = slots,
                Err(e) => tracing::error!(error = %e, "reading the database slots failed"),
            }
            // A FLUSHALL or a finished reclaim may have emptied it; a replay marks again
            // the collections its writes mark.
            match values::apart_collections(&conn) {
                Ok(cids) => self.apart_cids = cids,
                Err(e) => tracing::error!(error = %e, "reading apart_collections failed"),
            }
        }
        drop(conn);
        self.in_tx = false;
    }

    /// Replays the journal's unmerged records into a new transaction, so that the open
    /// transaction holds every acknowledged write again after a rollback.
    ///
    /// With `keep`, the current batch (not yet appended) is replayed after the records and
    /// kept for the next append, whether the rebuild succeeds or not: a transaction lost in
    /// the middle of a batch (a merge that failed, key rows SQLite could not apply) must not
    /// take the batch's earlier writes with it, since the batch goes on and is acknowledged.
    /// Only a rollback drops the batch, unless write-behind acknowledged it already
    /// ([`Store::set_keep_batch`]).
    fn rebuild(&mut self, keep: bool) -> Result<(), StoreError> {
        self.needs_rebuild = true;
        self.keys_rewritten();
        let Some(journal) = self.journal.as_mut() else {
            self.needs_rebuild = false;
            return Ok(());
        };
        let kept = if keep {
            journal.take_batch()
        } else {
            journal.discard_batch();
            Vec::new()
        };
        let merged = journal.merged_seq;
        let result = journal.read_after(merged).and_then(|mut payloads| {
            if !kept.is_empty() {
                payloads.push(kept.clone());
            }
            self.replay(&payloads)
        });
        if let Some(j) = self.journal.as_mut() {
            j.touched = false;
            if !kept.is_empty() {
                j.restore_batch(kept);
            }
        }
        result?;
        self.needs_rebuild = false;
        Ok(())
    }
}

/// A plugin's parameter as rusqlite binds it.
fn sql_ref(v: &SqlValue) -> rusqlite::types::ToSqlOutput<'_> {
    use rusqlite::types::{ToSqlOutput, ValueRef};
    ToSqlOutput::Borrowed(match v {
        SqlValue::Null => ValueRef::Null,
        SqlValue::Integer(i) => ValueRef::Integer(*i),
        SqlValue::Real(f) => ValueRef::Real(*f),
        SqlValue::Text(t) => ValueRef::Text(t.as_bytes()),
        SqlValue::Blob(b) => ValueRef::Blob(b),
    })
}

/// The slots with keys, and their counts.
fn stats_of(counts: std::collections::BTreeMap<DbIndex, (i64, i64)>) -> Vec<DbStats> {
    counts
        .into_iter()
        .filter(|&(_, (keys, _))| keys > 0)
        .map(|(db, (keys, expires))| DbStats {
            db,
            keys: keys as u64,
            expires: expires.max(0) as u64,
        })
        .collect()
}

/// The record of a stored key row, if there is one.
fn record_of(row: Option<committed::RawRow>, db: DbIndex) -> Result<Option<Record>, StoreError> {
    let Some((kind, value, expire_at, version, cid, sub_expire_at)) = row else {
        return Ok(None);
    };
    Ok(Some(Record {
        kind: kind_of(kind, db)?,
        value: Bytes::from(value),
        expire_at,
        version: version as u64,
        cid: cid.map(|c| c as u64),
        sub_expire_at,
    }))
}

fn kind_of(code: i64, db: DbIndex) -> Result<ValueType, StoreError> {
    ValueType::from_code(code)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown value type {code} in db {db}")))
}

/// A key row as a scan reads it: (position, (key, type code, expiry)).
type KeyAt = (i64, (Bytes, i64, Option<i64>));

fn scanned_key(r: &rusqlite::Row<'_>) -> rusqlite::Result<KeyAt> {
    Ok((
        r.get(0)?,
        (Bytes::from(r.get::<_, Vec<u8>>(1)?), r.get(2)?, r.get(3)?),
    ))
}

fn scanned_element(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, Element)> {
    Ok((
        r.get(0)?,
        Element {
            sub: Bytes::from(r.get::<_, Vec<u8>>(1)?),
            value: Bytes::from(r.get::<_, Vec<u8>>(2)?),
            expire_at: r.get(3)?,
        },
    ))
}

impl Store for SqliteStore {
    fn may_hold(&mut self, db: DbIndex, key: &[u8]) -> bool {
        self.filter.may_contain(self.slots.slot(db), key)
    }

    fn prefetch_key(&self, db: DbIndex, key: &[u8]) {
        // A miss in the key filter's megabytes was 18% of the process under GETs of keys
        // that do not exist; a pipeline's misses now overlap.
        self.filter.prefetch(self.slots.slot(db), key);
    }

    fn load(&mut self, db: DbIndex, key: &[u8]) -> Result<Option<Record>, StoreError> {
        if self.rows.as_ref().is_some_and(RowWriter::failed) {
            // Rows the writer applied before the failure are in the transaction only if
            // SQLite kept it: a settle rebuilds it if not (a full disk leaves it whole, and
            // the error, which the merge retries, is not this read's).
            let _ = self.settle();
        }
        let db = self.slots.slot(db);
        if !self.filter.may_contain(db, key) {
            return Ok(None);
        }
        if self.merging {
            // (Its failure is not this read's: see `reading`.)
            let _ = self.finish_merge(false);
        }
        if let Some(rows) = &self.rows {
            match rows.lookup(db, key) {
                Lookup::Queued(row) => return Ok(row),
                // While a merge has the connection, a key it does not hold reads the same
                // in the file.
                Lookup::Committed if self.merging => {
                    if let Some(row) = self.committed.load(SQL_LOAD, db, position(key), key) {
                        return record_of(row, db);
                    }
                }
                _ => {}
            }
        }
        // Beside a merge: the key has no queued row (the merge's included), so the open
        // transaction the merge commits, or the file once it has, holds its newest row; a
        // chunk of rows the writer takes is applied before it lets go of the connection.
        // (Waiting for the merge's commit instead held every client for up to 1-2 s under
        // random SETs of 1,000,000 keys, once more rows were applied than are kept.)
        let row = self.read_beside_merge(|conn, prepared| {
            Ok(prepared
                .get(conn, SQL_LOAD)?
                .query_row(params![db, position(key), key], committed::raw_row)
                .optional()?)
        })?;
        record_of(row, db)
    }

    fn put(&mut self, db: DbIndex, key: &[u8], record: Record) -> Result<(), StoreError> {
        let row = KeyRow {
            db,
            key: ShortBytes::copy_from_slice(key),
            row: Some(record),
            was: None, // not known here: counting applies the rows first
        };
        self.tables_changed();
        self.write_rows(vec![row]).map_err(|(_, e)| e)
    }

    fn delete(&mut self, db: DbIndex, key: &[u8]) -> Result<(), StoreError> {
        let row = KeyRow {
            db,
            key: ShortBytes::copy_from_slice(key),
            row: None,
            was: None,
        };
        self.tables_changed();
        self.write_rows(vec![row]).map_err(|(_, e)| e)
    }

    fn write_rows(&mut self, rows: Vec<KeyRow>) -> Result<(), (usize, StoreError)> {
        if rows.is_empty() {
            return Ok(());
        }
        self.begin_queued().map_err(|e| (0, e))?;
        for KeyRow { db, key, row, was } in &rows {
            let slot = self.slots.slot(*db);
            match row {
                Some(r) => {
                    let existed = was.is_some_and(|p| p.exists);
                    self.filter.insert_written(slot, key, existed);
                    self.log(Op::put(*db, key, r));
                }
                None => self.log(Op::Delete { db: *db, key }),
            }
        }
        match &self.rows {
            Some(queue) if !self.replaying => {
                let slots = &self.slots;
                queue.push_all(rows, |db| slots.slot(db));
            }
            _ if self.replayed_rows.is_some() => {
                let slots = &self.slots;
                let held = self.replayed_rows.as_mut().expect("checked");
                for KeyRow { db, key, row, .. } in rows {
                    let size = |row: Option<&Record>| rows::row_bytes(&key, row);
                    held.bytes += size(row.as_ref());
                    let at = (slots.slot(db), position(&key), key.to_bytes());
                    if let Some(old) = held.rows.insert(at, row) {
                        held.bytes -= size(old.as_ref());
                    }
                }
                if held.bytes > REPLAYED_ROWS_MAX_BYTES {
                    self.write_replayed_rows().map_err(|e| (0, e))?;
                }
            }
            _ => {
                let conn = lock(&self.conn);
                for (i, KeyRow { db, key, row, .. }) in rows.iter().enumerate() {
                    let slot = self.slots.slot(*db);
                    rows::apply_row(&conn, &self.row_path, slot, key, row.as_ref())
                        .map_err(|e| (i, e.into()))?;
                }
            }
        }
        Ok(())
    }

    fn rename(
        &mut self,
        db: DbIndex,
        key: &[u8],
        to_db: DbIndex,
        to_key: &[u8],
    ) -> Result<bool, StoreError> {
        let (slot, to_slot) = (self.slots.slot(db), self.slots.slot(to_db));
        self.settle_rows(Settle::Keys(&[(slot, key), (to_slot, to_key)]))?;
        self.begin()?;
        self.keys_rewritten();
        let conn = lock(&self.conn);
        let stmt = self.prepared.get(
            &conn,
            "UPDATE keys SET db = ?4, h = ?5, key = ?6 WHERE db = ?1 AND h = ?2 AND key = ?3",
        )?;
        let existed = stmt.execute(params![
            slot,
            position(key),
            key,
            to_slot,
            position(to_key),
            to_key
        ])? > 0;
        drop(conn);
        self.filter.insert(to_slot, to_key);
        self.log(Op::Rename {
            db,
            key,
            to_db,
            to_key,
        });
        Ok(existed)
    }

    fn scan(
        &mut self,
        db: DbIndex,
        cursor: u64,
        count: usize,
    ) -> Result<(Vec<ScannedKey>, u64), StoreError> {
        let db = self.slots.slot(db);
        let count = count.max(1);
        let rows = self.settled_page(db, cursor_position(cursor), count)?;
        let conn = &lock(&self.conn);
        let (rows, next) = finish_page(rows, count, |h, last| {
            Ok(self
                .prepared
                .get(conn, SQL_SCAN_SAME)?
                .query_map(params![db, h, &last.0[..]], scanned_key)?
                .collect::<Result<Vec<_>, _>>()?)
        })?;
        let keys = rows
            .into_iter()
            .map(|(key, kind, expire_at)| {
                Ok(ScannedKey {
                    key,
                    kind: kind_of(kind, db)?,
                    expire_at,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((keys, next))
    }

    fn random_key(&mut self, db: DbIndex, seed: u64) -> Result<Option<ScannedKey>, StoreError> {
        let db = self.slots.slot(db);
        let start = (seed >> 2) as i64;
        for from in [start, 0] {
            let row = self.settled_page(db, from, 1)?.into_iter().next();
            if let Some((_, (key, kind, expire_at))) = row {
                return Ok(Some(ScannedKey {
                    key,
                    kind: kind_of(kind, db)?,
                    expire_at,
                }));
            }
        }
        Ok(None)
    }

    fn expired_keys(
        &mut self,
        now: i64,
        limit: usize,
    ) -> Result<Vec<(DbIndex, Bytes)>, StoreError> {
        self.keys_due("expire_at", now, limit)
    }

    fn keys_with_expiring_elements(
        &mut self,
        now: i64,
        limit: usize,
    ) -> Result<Vec<(DbIndex, Bytes)>, StoreError> {
        self.keys_due("sub_expire_at", now, limit)
    }

    fn element(&mut self, cid: CollectionId, sub: &[u8]) -> Result<Option<Element>, StoreError> {
        if let Some(known) = self.elements.get(cid, sub).element(sub) {
            return Ok(known);
        }
        // Before the queue: the filter was told of every element row queued (a queued
        // deletion is of an element written before), so its "absent" spares the queue's
        // lookup too (a descent of its ordered map, 5% of the executor under SADDs of new
        // members). (Not kept in the element cache: the filter answers again as cheaply.)
        if !self.element_filter.may_contain_element(cid, sub) {
            return Ok(None);
        }
        if let Some(row) = self.queued_element(cid, sub) {
            self.elements
                .put(cid, sub, row.as_ref().map(|(v, e)| (&v[..], *e)));
            return Ok(row.map(|(value, expire_at)| Element {
                sub: Bytes::copy_from_slice(sub),
                value,
                expire_at,
            }));
        }
        // Not queued: read beside a merge, as a key's row is (see `load`).
        let element = self.read_beside_merge(|conn, prepared| {
            Ok(prepared
                .get(conn, SQL_ELEMENT)?
                .query_row(params![cid as i64, position(sub), sub], |r| {
                    Ok(Element {
                        sub: Bytes::copy_from_slice(sub),
                        value: Bytes::from(r.get::<_, Vec<u8>>(0)?),
                        expire_at: r.get(1)?,
                    })
                })
                .optional()?)
        })?;
        let row = element.as_ref().map(|e| (&e.value[..], e.expire_at));
        self.elements.put(cid, sub, row);
        Ok(element)
    }

    fn prefetch_elements(&self, wanted: &[(CollectionId, &[u8])]) {
        self.elements.prefetch(wanted);
        // An element the element cache does not hold is looked up in the filter first.
        for &(cid, sub) in wanted {
            self.element_filter.prefetch_element(cid, sub);
        }
    }

    fn put_element(&mut self, cid: CollectionId, element: &Element) -> Result<(), StoreError> {
        self.replace_element(cid, element).map(drop)
    }

    fn replace_element(
        &mut self,
        cid: CollectionId,
        element: &Element,
    ) -> Result<bool, StoreError> {
        let (sub, value, expire_at) = (&element.sub[..], &element.value[..], element.expire_at);
        let known = match self.elements.get(cid, sub) {
            // The row the file holds already: nothing to write.
            Known::Present(v, e) if e == expire_at && v[..] == *value => return Ok(true),
            known => known.exists(),
        };
        if self.queues_elements(cid, values::element_apart(sub, value))? {
            let existed = match known {
                Some(existed) => existed,
                None => self.element(cid, sub)?.is_some(),
            };
            let row = Some((super::share_or_copy(&element.value), expire_at));
            self.element_filter
                .insert_element_written(cid, sub, existed);
            self.queue_element(
                cid,
                sub,
                Pending::Row {
                    filed: existed,
                    row,
                },
            );
            self.elements.put(cid, sub, Some((value, expire_at)));
            self.log(Op::put_element(cid, element));
            return Ok(existed);
        }
        // Written here, after the element's queued row.
        self.settle_element(cid, sub)?;
        self.begin()?;
        let h = position(sub);
        self.element_filter
            .insert_element_written(cid, sub, known == Some(true));
        let written = self.write_element(cid, h, element, known);
        match written {
            Ok(_) => self.elements.put(cid, sub, Some((value, expire_at))),
            Err(_) => self.elements.clear(), // the transaction may be gone with it
        }
        let existed = written?;
        self.log(Op::put_element(cid, element));
        Ok(existed)
    }

    fn delete_element(&mut self, cid: CollectionId, sub: &[u8]) -> Result<bool, StoreError> {
        let known = match self.elements.get(cid, sub) {
            Known::Absent => return Ok(false), // nothing to delete
            known => known.exists(),
        };
        if self.queues_elements(cid, false)? {
            let existed = match known {
                Some(existed) => existed,
                None => self.element(cid, sub)?.is_some(),
            };
            if existed {
                let row = None;
                self.queue_element(cid, sub, Pending::Row { filed: true, row });
            }
            self.elements.deleted(cid, sub);
            self.log(Op::DeleteElement { cid, sub });
            return Ok(existed);
        }
        self.settle_element(cid, sub)?;
        self.begin()?;
        let deleted = self.delete_elements(
            cid,
            SQL_DELETE_ELEMENT_VALUE,
            SQL_DELETE_ELEMENT,
            params![cid as i64, position(sub), sub],
        );
        match deleted {
            Ok(_) => self.elements.deleted(cid, sub),
            Err(_) => self.elements.clear(), // the transaction may be gone with it
        }
        let existed = deleted? > 0;
        self.log(Op::DeleteElement { cid, sub });
        Ok(existed)
    }

    fn scan_elements(
        &mut self,
        cid: CollectionId,
        cursor: u64,
        count: usize,
    ) -> Result<(Vec<Element>, u64), StoreError> {
        let count = count.max(1);
        let from = cursor_position(cursor);
        let page = |conn: &Connection, prepared: &mut Prepared| -> Result<_, StoreError> {
            Ok(prepared
                .get(conn, SQL_SCAN_ELEMENTS)?
                .query_map(
                    params![
                        cid as i64,
                        from,
                        i64::try_from(count).unwrap_or(i64::MAX).saturating_add(1)
                    ],
                    scanned_element,
                )?
                .collect::<Result<Vec<_>, _>>()?)
        };
        let same = |conn: &Connection, prepared: &mut Prepared, h: i64, last: &Element| {
            Ok(prepared
                .get(conn, SQL_SCAN_ELEMENTS_SAME)?
                .query_map(params![cid as i64, h, &last.sub[..]], scanned_element)?
                .collect::<Result<Vec<_>, _>>()?)
        };
        if self.elements_settled(cid) {
            return self.read_beside_merge(|conn, prepared| {
                let rows = page(conn, prepared)?;
                finish_page(rows, count, |h, last| same(conn, prepared, h, last))
            });
        }
        let rows = loop {
            self.reading()?;
            let rows = page(&lock(&self.conn), &mut self.prepared)?;
            // The page covers the positions up to its last row's (all of them when short):
            // the queued rows there go in first, and the page is read again if there were.
            let to = match rows.get(count.saturating_sub(1)) {
                Some((h, _)) if rows.len() > count => *h,
                _ => i64::MAX,
            };
            if self.read_span(cid, (from, to), &|_| true)? == 0 {
                break rows;
            }
        };
        let conn = &lock(&self.conn);
        finish_page(rows, count, |h, last| {
            same(conn, &mut self.prepared, h, last)
        })
    }

    fn element_at(
        &mut self,
        cid: CollectionId,
        lo: u64,
        hi: u64,
        offset: u64,
    ) -> Result<Option<Element>, StoreError> {
        let read = |conn: &Connection, prepared: &mut Prepared| -> Result<_, StoreError> {
            let row = prepared
                .get(conn, SQL_ELEMENT_AT)?
                .query_row(
                    params![
                        cid as i64,
                        cursor_position(lo),
                        cursor_position(hi),
                        i64::try_from(offset).unwrap_or(i64::MAX)
                    ],
                    scanned_element,
                )
                .optional()?;
            Ok(row.map(|(_, e)| e))
        };
        if self.elements_settled(cid) {
            return self.read_beside_merge(read);
        }
        // The pick counts the rows of positions lo..hi.
        let span = (cursor_position(lo), cursor_position(hi).saturating_sub(1));
        self.read_span(cid, span, &|_| true)?;
        self.reading()?;
        read(&lock(&self.conn), &mut self.prepared)
    }

    fn expire_elements(&mut self, cid: CollectionId, now: i64) -> Result<Vec<Bytes>, StoreError> {
        self.settle_elements(Some(cid))?;
        self.begin()?;
        let conn = lock(&self.conn);
        let expire = || {
            let mut stmt = conn.prepare_cached(
                "DELETE FROM elements WHERE cid = ?1 AND expire_at <= ?2 RETURNING sub",
            )?;
            let rows = stmt.query_map(params![cid as i64, now], |r| {
                Ok(Bytes::from(r.get::<_, Vec<u8>>(0)?))
            })?;
            rows.collect::<Result<Vec<_>, _>>()
        };
        let gone = if self.apart_cids.contains(&cid) {
            values::atomically(&conn, || {
                conn.prepare_cached(
                    "DELETE FROM key_values WHERE id IN
                     (SELECT blob FROM elements WHERE cid = ?1 AND expire_at <= ?2)",
                )?
                .execute(params![cid as i64, now])?;
                expire()
            })?
        } else {
            expire()?
        };
        drop(conn);
        self.elements.forget_collection(cid);
        self.log(Op::ExpireElements { cid, now });
        Ok(gone)
    }

    fn min_element_expiry(&mut self, cid: CollectionId) -> Result<Option<i64>, StoreError> {
        self.settle_elements(Some(cid))?;
        // Nothing of the collection is queued now: the table holds all of it.
        self.read_beside_merge(|conn, prepared| {
            Ok(prepared
                .get(
                    conn,
                    "SELECT min(expire_at) FROM elements WHERE cid = ?1 AND expire_at IS NOT NULL",
                )?
                .query_row([cid as i64], |r| r.get(0))?)
        })
    }

    fn copy_elements(&mut self, from: CollectionId, to: CollectionId) -> Result<(), StoreError> {
        self.settle_elements(Some(from))?;
        self.settle_elements(Some(to))?;
        self.begin()?;
        self.elements.forget_collection(to);
        self.prepared
            .get(
                &lock(&self.conn),
                "INSERT INTO elements (cid, h, sub, expire_at, value, blob)
                 SELECT ?2, h, sub, expire_at, value, blob FROM elements WHERE cid = ?1",
            )?
            .execute(params![from as i64, to as i64])?;
        {
            // The element filter learns of the copies (a pass over them, as the copy made).
            let conn = lock(&self.conn);
            let mut subs = conn.prepare_cached("SELECT sub FROM elements WHERE cid = ?1")?;
            let mut rows = subs.query([to as i64])?;
            while let Some(r) = rows.next()? {
                let sub = r.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?;
                self.element_filter.insert_element(to, sub);
            }
        }
        self.prepared
            .get(
                &lock(&self.conn),
                "INSERT INTO zset_scores (cid, score, member)
                 SELECT ?2, score, member FROM zset_scores WHERE cid = ?1",
            )?
            .execute(params![from as i64, to as i64])?;
        // Collection ids are unique across types, so all but one of the copies find nothing.
        self.prepared
            .get(
                &lock(&self.conn),
                "INSERT INTO list_items (cid, pos, value, blob)
                 SELECT ?2, pos, value, blob FROM list_items WHERE cid = ?1",
            )?
            .execute(params![from as i64, to as i64])?;
        if self.apart_cids.contains(&from) {
            // The copies point at the originals' values: each gets a value of its own.
            self.apart_cids.insert(to);
            let conn = lock(&self.conn);
            values::atomically(&conn, || {
                values::mark(&conn, to)?;
                for (select, repoint) in [
                    (
                        "SELECT blob, h, sub FROM elements WHERE cid = ?1 AND blob IS NOT NULL",
                        "UPDATE elements SET blob = ?4 WHERE cid = ?1 AND h = ?2 AND sub = ?3",
                    ),
                    (
                        "SELECT blob, pos, NULL FROM list_items
                          WHERE cid = ?1 AND blob IS NOT NULL",
                        "UPDATE list_items SET blob = ?3 WHERE cid = ?1 AND pos = ?2",
                    ),
                ] {
                    let shared = self
                        .prepared
                        .get(&conn, select)?
                        .query_map([to as i64], |r| {
                            Ok((
                                r.get::<_, i64>(0)?,
                                r.get::<_, i64>(1)?,
                                r.get::<_, Option<Vec<u8>>>(2)?,
                            ))
                        })?
                        .collect::<Result<Vec<_>, _>>()?;
                    for (blob, at, sub) in shared {
                        self.prepared.get(&conn,
                            "INSERT INTO key_values (value) SELECT value FROM key_values WHERE id = ?1",
                        )?
                        .execute([blob])?;
                        let copy = conn.last_insert_rowid();
                        let repoint = self.prepared.get(&conn, repoint)?;
                        match &sub {
                            Some(sub) => repoint.execute(params![to as i64, at, sub, copy])?,
                            None => repoint.execute(params![to as i64, at, copy])?,
                        };
                    }
                }
                Ok(())
            })?;
        }
        self.log(Op::CopyElements { from, to });
        Ok(())
    }

    fn drop_elements(&mut self, cid: CollectionId) -> Result<(), StoreError> {
        self.begin()?;
        // Its queued rows are not written at all (applying them here held everyone up to
        // half a second after a burst of ZADDs): the reclaim deletes what the table holds.
        // A replay of the journal writes them, so that its reclaim steps (replayed by their
        // limits) may finish the collection later than the run did: the same keys and
        // elements, a collection longer in `lazyfree_pending_objects`.
        if let Some(rows) = &self.rows {
            let dropped = rows.discard_elements(cid);
            if dropped > 0 {
                *self.discarded_rows.entry(cid).or_default() += dropped;
            }
        }
        self.elements.forget_collection(cid);
        self.prepared
            .get(
                &lock(&self.conn),
                "INSERT OR IGNORE INTO lazyfree (cid) VALUES (?1)",
            )?
            .execute([cid as i64])?;
        self.log(Op::DropElements { cid });
        Ok(())
    }

    fn reclaim(&mut self, limit: u64) -> Result<Reclaimed, StoreError> {
        // Background work: a step that meets a merge committing waits for the next tick.
        self.finish_merge(false)?;
        if self.merging {
            return Ok(Reclaimed::default());
        }
        self.reading()?;
        let first_queued = |conn: &Connection| {
            conn.prepare_cached("SELECT cid FROM lazyfree ORDER BY cid LIMIT 1")?
                .query_row([], |r| r.get::<_, i64>(0))
                .optional()
        };
        let mut done = Reclaimed::default();
        if first_queued(&lock(&self.conn))?.is_none() && self.slots.first_detached().is_none() {
            return Ok(done);
        }
        // The queued key rows need not be applied first (up to the row writer's window, on
        // this thread). Each one that deletes or replaces a collection came after the
        // keyspace queued that collection itself (`drop_elements`), so applying it queues
        // nothing a replay of the journal (where no row is ever queued) would not have queued
        // by this step; nor does it queue again a collection this step finishes (the triggers
        // queue only collections with rows). Rows given without their key's presence may
        // leave the queueing to the trigger: those are applied first.
        self.settle_uncounted()?;
        let Some(cid) = first_queued(&lock(&self.conn))? else {
            return self.reclaim_detached(limit);
        };
        // Its element rows the row writer holds go in first, to be deleted with the rest.
        self.settle_elements(Some(cid as CollectionId))?;
        self.begin()?;
        done.cid = Some(cid as CollectionId);
        // Its key is gone: nothing asks about it again, but its entries take room.
        self.elements.forget_collection(cid as CollectionId);
        let max = i64::try_from(limit).unwrap_or(i64::MAX);
        // Read from the table rather than the set in memory: a rolled-back step may have
        // given back rows of a collection the set no longer lists.
        let apart = self
            .prepared
            .get(
                &lock(&self.conn),
                "SELECT 1 FROM apart_collections WHERE cid = ?1",
            )?
            .exists([cid])?;
        // Collection ids are unique across types: two of the three tables hold nothing of it.
        // Each with the statement that drops the deleted rows' values kept apart, if any.
        for (values_sql, sql) in [
            (
                Some(
                    "DELETE FROM key_values WHERE id IN
                     (SELECT blob FROM elements WHERE cid = ?1 ORDER BY h, sub LIMIT ?2)",
                ),
                "DELETE FROM elements WHERE cid = ?1 AND (h, sub) IN
                 (SELECT h, sub FROM elements WHERE cid = ?1 ORDER BY h, sub LIMIT ?2)",
            ),
            (
                None,
                "DELETE FROM zset_scores WHERE cid = ?1 AND (score, member) IN
                 (SELECT score, member FROM zset_scores WHERE cid = ?1 ORDER BY score, member
                  LIMIT ?2)",
            ),
            (
                Some(
                    "DELETE FROM key_values WHERE id IN
                     (SELECT blob FROM list_items WHERE cid = ?1 ORDER BY pos LIMIT ?2)",
                ),
                "DELETE FROM list_items WHERE cid = ?1 AND pos IN
                 (SELECT pos FROM list_items WHERE cid = ?1 ORDER BY pos LIMIT ?2)",
            ),
        ] {
            let left = max - done.rows as i64;
            if left <= 0 {
                break;
            }
            let conn = lock(&self.conn);
            let delete = || conn.prepare_cached(sql)?.execute(params![cid, left]);
            done.rows += match values_sql.filter(|_| apart) {
                Some(values_sql) => values::atomically(&conn, || {
                    conn.prepare_cached(values_sql)?
                        .execute(params![cid, left])?;
                    delete()
                })?,
                None => delete()?,
            } as u64;
        }
        let unwritten = self.discarded_rows.remove(&(cid as CollectionId));
        if done.rows < limit {
            let conn = lock(&self.conn);
            self.prepared
                .get(&conn, "DELETE FROM lazyfree WHERE cid = ?1")?
                .execute([cid])?;
            if apart {
                self.prepared
                    .get(&conn, "DELETE FROM apart_collections WHERE cid = ?1")?
                    .execute([cid])?;
                self.apart_cids.remove(&(cid as CollectionId));
            }
            done.finished = true;
        }
        // (Counted once the table's step is done: the limit bounds the rows deleted.)
        done.rows += unwritten.unwrap_or(0);
        self.log(Op::Reclaim { limit });
        Ok(done)
    }

    fn lazyfree_pending(&mut self) -> Result<u64, StoreError> {
        // The keyspace's rows are not applied first (INFO's memory section asks): it queues a
        // deleted or replaced collection itself (`drop_elements`) before the key row is
        // written, and the trigger that does it again when the row is applied finds it
        // queued. Rows given without their key's presence (`Store::put`, `Store::delete`)
        // may leave that to the trigger: those are applied first.
        //
        // Nor is the table read while its count is known (no flushed database waits for its
        // rows' deletion): a read waits for a merge's commit, as a count of keys would.
        let known = self.lazyfree_known
            && !self.needs_rebuild
            && self.slots.detached().next().is_none()
            && self
                .rows
                .as_ref()
                .is_none_or(|r| r.counts_known() && !r.failed());
        if known {
            let n = self
                .lazyfree_rows
                .load(std::sync::atomic::Ordering::Relaxed);
            #[cfg(debug_assertions)]
            if !self.merging {
                if let Ok(counted) = self.count_lazyfree() {
                    debug_assert_eq!(n, counted, "the lazyfree count kept drifted");
                }
            }
            return Ok(n.max(0) as u64);
        }
        let mut pending = self.count_lazyfree()?;
        // A flushed database's keys count one each until deleted, as Redis counts the keys of
        // a database FLUSHDB ASYNC detached.
        let conn = lock(&self.conn);
        for slot in self.slots.detached() {
            pending += self
                .prepared
                .get(&conn, "SELECT keys FROM db_stats WHERE db = ?1")?
                .query_row([slot], |r| r.get::<_, i64>(0))
                .optional()?
                .unwrap_or(0);
        }
        Ok(pending.max(0) as u64)
    }

    fn list_get(&mut self, cid: CollectionId, pos: i64) -> Result<Option<Bytes>, StoreError> {
        if let Some(item) = self
            .rows
            .as_ref()
            .and_then(|r| r.pending_element(cid, pos, &[]))
        {
            return Ok(item.map(|(value, _)| value));
        }
        // Not queued: read beside a merge (see `load`).
        self.read_beside_merge(|conn, prepared| {
            Ok(prepared
                .get(
                    conn,
                    concat!(
                        "SELECT ",
                        stored_value!(),
                        " FROM list_items WHERE cid = ?1 AND pos = ?2"
                    ),
                )?
                .query_row(params![cid as i64, pos], |r| {
                    Ok(Bytes::from(r.get::<_, Vec<u8>>(0)?))
                })
                .optional()?)
        })
    }

    fn list_range(
        &mut self,
        cid: CollectionId,
        from: i64,
        to: i64,
        reverse: bool,
    ) -> Result<Vec<Bytes>, StoreError> {
        self.list_range_within(cid, from, to, reverse, usize::MAX, 0)
    }

    fn list_range_within(
        &mut self,
        cid: CollectionId,
        from: i64,
        to: i64,
        reverse: bool,
        at_least: usize,
        max_bytes: usize,
    ) -> Result<Vec<Bytes>, StoreError> {
        let queued = match &self.rows {
            Some(rows) => rows.queued_items(cid, from, to),
            None => Vec::new(),
        };
        if !queued.is_empty() {
            return self.list_range_merged(cid, (from, to), reverse, queued, at_least, max_bytes);
        }
        // None of them queued: read beside a merge (see `load`).
        let sql = if reverse {
            concat!(
                "SELECT ",
                stored_value!(),
                " FROM list_items WHERE cid = ?1 AND pos BETWEEN ?2 AND ?3 ORDER BY pos DESC"
            )
        } else {
            concat!(
                "SELECT ",
                stored_value!(),
                " FROM list_items WHERE cid = ?1 AND pos BETWEEN ?2 AND ?3 ORDER BY pos"
            )
        };
        self.read_beside_merge(|conn, prepared| {
            let rows = prepared
                .get(conn, sql)?
                .query_map(params![cid as i64, from, to], |r| {
                    Ok(Bytes::from(r.get::<_, Vec<u8>>(0)?))
                })?;
            Ok(items_within(rows, at_least, max_bytes)?)
        })
    }

    fn list_put(&mut self, cid: CollectionId, pos: i64, value: &[u8]) -> Result<(), StoreError> {
        self.put_item(cid, pos, value, false)
    }

    fn list_push(&mut self, cid: CollectionId, pos: i64, value: &[u8]) -> Result<(), StoreError> {
        self.put_item(cid, pos, value, true)
    }

    fn list_delete_range(
        &mut self,
        cid: CollectionId,
        from: i64,
        to: i64,
    ) -> Result<u64, StoreError> {
        if from <= to && to - from < QUEUED_ITEM_DELETES && self.queues_elements(cid, false)? {
            for pos in from..=to {
                let pending = Pending::Item {
                    filed: true,
                    value: None,
                };
                self.queue_item(cid, pos, pending);
            }
            self.log(Op::ListDeleteRange { cid, from, to });
            // (A large list's items fill its positions: the range held one at each.)
            return Ok((to - from + 1) as u64);
        }
        self.settle_span(cid, (from, to), &|_| true)?;
        self.begin()?;
        let n = self.delete_elements(
            cid,
            "DELETE FROM key_values WHERE id IN
             (SELECT blob FROM list_items WHERE cid = ?1 AND pos BETWEEN ?2 AND ?3)",
            "DELETE FROM list_items WHERE cid = ?1 AND pos BETWEEN ?2 AND ?3",
            params![cid as i64, from, to],
        )? as u64;
        self.log(Op::ListDeleteRange { cid, from, to });
        Ok(n)
    }

    fn list_shift(
        &mut self,
        cid: CollectionId,
        from: i64,
        to: i64,
        delta: i64,
    ) -> Result<(), StoreError> {
        if from > to || delta == 0 {
            return Ok(());
        }
        self.settle_elements(Some(cid))?;
        self.begin()?;
        // SQLite checks the primary key row by row, so shifting in place could collide with
        // a row not moved yet: the rows go out of the range positions use, then back.
        self.prepared
            .get(
                &lock(&self.conn),
                "UPDATE list_items SET pos = pos + ?4 WHERE cid = ?1 AND pos BETWEEN ?2 AND ?3",
            )?
            .execute(params![cid as i64, from, to, LIST_PARK.wrapping_add(delta)])?;
        self.prepared
            .get(
                &lock(&self.conn),
                "UPDATE list_items SET pos = pos - ?2 WHERE cid = ?1 AND pos >= ?3",
            )?
            .execute(params![cid as i64, LIST_PARK, LIST_PARK / 2])?;
        self.log(Op::ListShift {
            cid,
            from,
            to,
            delta,
        });
        Ok(())
    }

    fn zset_score(&mut self, cid: CollectionId, member: &[u8]) -> Result<Option<f64>, StoreError> {
        match self.elements.get(cid, member) {
            Known::Absent => return Ok(None),
            Known::Present(v, _) => return score_from_element(v).map(Some),
            Known::Unknown => {}
        }
        // The filter before the queue, as in `element`.
        if !self.element_filter.may_contain_element(cid, member) {
            return Ok(None);
        }
        if let Some(row) = self.queued_element(cid, member) {
            self.elements
                .put(cid, member, row.as_ref().map(|(v, e)| (&v[..], *e)));
            return row.map(|(v, _)| score_from_element(&v)).transpose();
        }
        // Not queued: read beside a merge (see `load`).
        let value = self.read_beside_merge(|conn, prepared| {
            Ok(prepared
                .get(conn, SQL_ELEMENT)?
                .query_row(params![cid as i64, position(member), member], |r| {
                    r.get::<_, Vec<u8>>(0)
                })
                .optional()?)
        })?;
        self.elements
            .put(cid, member, value.as_deref().map(|v| (v, None)));
        value.map(|v| score_from_element(&v)).transpose()
    }

    fn zset_put(
        &mut self,
        cid: CollectionId,
        member: &[u8],
        score: f64,
        old: Option<f64>,
    ) -> Result<(), StoreError> {
        self.element_filter
            .insert_element_written(cid, member, old.is_some());
        if self.queues_elements(cid, false)? {
            let pending = Pending::Member {
                filed: old,
                score: Some(score),
            };
            self.queue_element(cid, member, pending);
        } else {
            self.settle_element(cid, member)?;
            self.begin()?;
            let written = self.write_zset_member(cid, member, score, old);
            if written.is_err() {
                self.elements.clear(); // the transaction may be gone with it
            }
            written?;
        }
        self.elements
            .put(cid, member, Some((&score.to_le_bytes()[..], None)));
        self.elements.zset_end.put(cid, member, score, old);
        self.log(Op::ZsetPut {
            cid,
            member,
            score,
            old,
        });
        Ok(())
    }

    fn zset_delete(
        &mut self,
        cid: CollectionId,
        member: &[u8],
        score: f64,
    ) -> Result<(), StoreError> {
        if self.queues_elements(cid, false)? {
            let pending = Pending::Member {
                filed: Some(score),
                score: None,
            };
            self.queue_element(cid, member, pending);
        } else {
            self.settle_element(cid, member)?;
            self.begin()?;
            let deleted = self.delete_zset_member(cid, member, score);
            if deleted.is_err() {
                self.elements.clear(); // the transaction may be gone with it
            }
            deleted?;
        }
        self.elements.deleted(cid, member);
        self.elements.zset_end.deleted(cid, member, score);
        self.log(Op::ZsetDelete { cid, member, score });
        Ok(())
    }

    fn zset_range(
        &mut self,
        cid: CollectionId,
        range: &ZRange,
        rev: bool,
        offset: u64,
        limit: Option<u64>,
    ) -> Result<Vec<(Bytes, f64)>, StoreError> {
        if range.is_void() || limit == Some(0) {
            return Ok(Vec::new());
        }
        // The first members from an end (ZPOPMIN, ZPOPMAX, ZRANGE 0 n): kept for the reads
        // from that end that follow (see `zset_end`).
        let first = limit
            .and_then(|n| usize::try_from(n).ok())
            .filter(|&n| offset == 0 && n <= zset_end::END_ENTRIES && range.is_all());
        if let Some(n) = first {
            if let Some(kept) = self.elements.zset_end.first(cid, rev, n) {
                return Ok(kept);
            }
            let take = self.elements.zset_end.to_take(cid, rev);
            let mut rows = self.zset_first(cid, rev, take)?;
            self.elements.zset_end.keep(cid, rev, rows.clone(), take);
            // The pops from the kept members queue their rows: the next read of the table
            // applies them.
            if matches!(self.ranged, Some((ranged, _)) if ranged == cid) {
                self.ranged = None;
            }
            rows.truncate(n);
            return Ok(rows);
        }
        self.zset_range_read(cid, range, rev, offset, limit)
    }

    fn zset_count(&mut self, cid: CollectionId, range: &ZRange) -> Result<u64, StoreError> {
        if range.is_void() {
            return Ok(0);
        }
        if self.elements_settled(cid) {
            let table = self.read_beside_merge(|conn, _| zset_rows_count(conn, cid, range))?;
            return Ok(u64::try_from(table).unwrap_or(0));
        }
        self.reading()?;
        let conn = lock(&self.conn);
        // The queued members count with the table's, unapplied (ZRANK of a member of a
        // sorted set whose members were queued applied half of them: 290 ms).
        let queued = self.rows.as_ref().map_or(0, |rows| {
            rows.count_delta(cid, &|score, member| range.contains(score, member))
        });
        let table = zset_rows_count(&conn, cid, range)?;
        Ok(u64::try_from(table + queued).unwrap_or(0))
    }

    fn ordered_put(
        &mut self,
        cid: CollectionId,
        h: i64,
        sub: &[u8],
        value: &[u8],
    ) -> Result<(), StoreError> {
        self.settle_elements(Some(cid))?;
        self.begin()?;
        self.elements.forget_collection(cid);
        if self.put_element_apart(cid, h, sub, None, value)?.is_none() {
            self.prepared
                .get(&lock(&self.conn), SQL_PUT_ELEMENT)?
                .execute(params![cid as i64, h, sub, None::<i64>, value])?;
        }
        self.log(Op::OrderedPut { cid, h, sub, value });
        Ok(())
    }

    fn ordered_delete(
        &mut self,
        cid: CollectionId,
        h: i64,
        sub: &[u8],
    ) -> Result<bool, StoreError> {
        self.settle_elements(Some(cid))?;
        self.begin()?;
        self.elements.forget_collection(cid);
        let existed = self.delete_elements(
            cid,
            SQL_DELETE_ELEMENT_VALUE,
            SQL_DELETE_ELEMENT,
            params![cid as i64, h, sub],
        )? > 0;
        self.log(Op::OrderedDelete { cid, h, sub });
        Ok(existed)
    }

    fn ordered_range(
        &mut self,
        cid: CollectionId,
        h: i64,
        from: &[u8],
        to: &[u8],
        rev: bool,
        limit: Option<u64>,
    ) -> Result<Vec<(Bytes, Bytes)>, StoreError> {
        self.settle_elements(Some(cid))?;
        let sql = if rev {
            concat!(
                "SELECT sub, ",
                stored_value!(),
                " FROM elements WHERE cid = ?1 AND h = ?2 AND sub BETWEEN ?3 AND ?4
                 ORDER BY sub DESC LIMIT ?5"
            )
        } else {
            concat!(
                "SELECT sub, ",
                stored_value!(),
                " FROM elements WHERE cid = ?1 AND h = ?2 AND sub BETWEEN ?3 AND ?4
                 ORDER BY sub LIMIT ?5"
            )
        };
        let limit = limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
        // Nothing of the collection is queued now: the table holds all of it.
        self.read_beside_merge(|conn, prepared| {
            let stmt = prepared.get(conn, sql)?;
            let rows = stmt.query_map(params![cid as i64, h, from, to, limit], |r| {
                Ok((
                    Bytes::from(r.get::<_, Vec<u8>>(0)?),
                    Bytes::from(r.get::<_, Vec<u8>>(1)?),
                ))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn ordered_trim(
        &mut self,
        cid: CollectionId,
        h: i64,
        below: Option<&[u8]>,
        limit: u64,
    ) -> Result<u64, StoreError> {
        self.settle_elements(Some(cid))?;
        self.begin()?;
        self.elements.forget_collection(cid);
        // Above every sub of the same length or shorter that a caller bounds with 0xff bytes.
        let top = [0xffu8; 64];
        let bound: &[u8] = below.unwrap_or(&top[..]);
        let max = i64::try_from(limit).unwrap_or(i64::MAX);
        let n = self.delete_elements(
            cid,
            "DELETE FROM key_values WHERE id IN
             (SELECT blob FROM elements WHERE cid = ?1 AND h = ?2 AND sub < ?3
              ORDER BY sub LIMIT ?4)",
            "DELETE FROM elements WHERE cid = ?1 AND h = ?2 AND sub IN
             (SELECT sub FROM elements WHERE cid = ?1 AND h = ?2 AND sub < ?3
              ORDER BY sub LIMIT ?4)",
            params![cid as i64, h, bound, max],
        )? as u64;
        self.log(Op::OrderedTrim {
            cid,
            h,
            below,
            limit,
        });
        Ok(n)
    }

    fn flush_db(&mut self, db: DbIndex) -> Result<(), StoreError> {
        let slot = self.slots.slot(db);
        // The counts include the queued rows'.
        let stats = self.slot_stats()?;
        if stats.iter().all(|d| d.db == slot) {
            // The only slot with keys: emptying the whole table is the same, and fast. Its
            // queued rows are dropped with it rather than applied first (up to the row
            // writer's window, on this thread); those of other slots, which can only delete
            // keys the table still holds (their counts are nil), go in first.
            self.settle_rows(Settle::Slot {
                db: slot,
                only: false,
            })?;
            self.empty_keys(false)?;
        } else if stats.iter().any(|d| d.db == slot) {
            // Other databases share the table: this one moves to an empty slot at once, and
            // reclaim steps delete the old slot's rows. Its queued rows go in first: one
            // applied after the slot is detached would land among the rows the reclaim has
            // deleted already. Other slots' rows stay queued.
            self.settle_rows(Settle::Slot {
                db: slot,
                only: true,
            })?;
            self.begin()?;
            self.keys_rewritten();
            self.slots.detach(&lock(&self.conn), db)?;
        }
        self.log(Op::FlushDb { db });
        Ok(())
    }

    fn flush_all(&mut self) -> Result<(), StoreError> {
        self.empty_keys(true)?;
        self.elements.clear();
        self.log(Op::FlushAll);
        Ok(())
    }

    fn db_stats(&mut self) -> Result<Vec<DbStats>, StoreError> {
        let mut stats: Vec<DbStats> = self
            .slot_stats()?
            .into_iter()
            .filter_map(|s| {
                Some(DbStats {
                    db: self.slots.db_of(s.db)?,
                    ..s
                })
            })
            .collect();
        stats.sort_by_key(|s| s.db);
        Ok(stats)
    }

    fn meta_get(&mut self, name: &str) -> Result<Option<i64>, StoreError> {
        if let Some(value) = self.rows.as_ref().and_then(|r| r.pending_meta(name)) {
            return Ok(Some(value));
        }
        self.finish_merge(true)?;
        Ok(self
            .prepared
            .get(&lock(&self.conn), "SELECT value FROM meta WHERE name = ?1")?
            .query_row([name], |r| r.get(0))
            .optional()?)
    }

    fn meta_set(&mut self, name: &str, value: i64) -> Result<(), StoreError> {
        self.begin_queued()?;
        match &self.rows {
            // Most batches set a counter (the data size, the next version): applied by the
            // row writer, it does not wait for a merge committing on the writer's thread.
            Some(rows) if !self.replaying => rows.push_meta(name, value),
            _ => {
                self.prepared
                    .get(&lock(&self.conn), rows::SQL_META_SET)?
                    .execute(params![name, value])?;
            }
        }
        self.log(Op::MetaSet { name, value });
        Ok(())
    }

    fn meta_get_blob(&mut self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.finish_merge(true)?;
        Ok(self
            .prepared
            .get(&lock(&self.conn), "SELECT value FROM meta WHERE name = ?1")?
            .query_row([name], |r| r.get(0))
            .optional()?)
    }

    fn meta_set_blob(&mut self, name: &str, value: Option<&[u8]>) -> Result<(), StoreError> {
        self.begin()?;
        match value {
            // The column's INTEGER affinity leaves a BLOB as it is.
            Some(value) => self
                .prepared
                .get(
                    &lock(&self.conn),
                    "INSERT INTO meta (name, value) VALUES (?1, ?2)
                     ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                )?
                .execute(params![name, value])?,
            None => self
                .prepared
                .get(&lock(&self.conn), "DELETE FROM meta WHERE name = ?1")?
                .execute([name])?,
        };
        self.log(Op::MetaSetBlob { name, value });
        Ok(())
    }

    fn sql_execute(&mut self, sql: &str, params: &[SqlValue]) -> Result<usize, StoreError> {
        let reaches = self.reaches_rows(sql, false);
        if reaches {
            // Best effort: a row that cannot be applied now (a full disk) stays queued, and a
            // plugin's own statement (or an operator's PRAGMA) still runs.
            let _ = self.settle();
        }
        self.begin()?;
        if reaches {
            self.rows_rewritten_by_sql();
        }
        let changed = lock(&self.conn)
            .prepare_cached(sql)?
            .execute(rusqlite::params_from_iter(params.iter().map(sql_ref)))?;
        if self.journal.is_some() && !self.replaying {
            let encoded = super::redo::encode_params(params);
            self.log(Op::Sql {
                sql,
                params: &encoded,
            });
        }
        Ok(changed)
    }

    fn sql_query(
        &mut self,
        sql: &str,
        params: &[SqlValue],
    ) -> Result<Vec<Vec<SqlValue>>, StoreError> {
        let reaches = self.reaches_rows(sql, false);
        if reaches {
            // Best effort: a row that cannot be applied now (a full disk) stays queued, and a
            // plugin's own statement (or an operator's PRAGMA) still runs.
            let _ = self.settle();
        }
        self.reading()?;
        let conn = lock(&self.conn);
        let mut stmt = conn.prepare_cached(sql)?;
        // (`DELETE ... RETURNING`, say.)
        let writes = !stmt.readonly();
        let columns = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(params.iter().map(sql_ref)))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut values = Vec::with_capacity(columns);
            for i in 0..columns {
                use rusqlite::types::ValueRef;
                values.push(match row.get_ref(i)? {
                    ValueRef::Null => SqlValue::Null,
                    ValueRef::Integer(v) => SqlValue::Integer(v),
                    ValueRef::Real(v) => SqlValue::Real(v),
                    ValueRef::Text(t) => SqlValue::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => SqlValue::Blob(b.to_vec()),
                });
            }
            out.push(values);
        }
        drop(rows);
        drop(stmt);
        drop(conn);
        if writes && reaches {
            self.rows_rewritten_by_sql();
        }
        Ok(out)
    }

    fn sql_batch(&mut self, sql: &str) -> Result<(), StoreError> {
        let reaches = self.reaches_rows(sql, true);
        if reaches {
            // Best effort: a row that cannot be applied now (a full disk) stays queued, and a
            // plugin's own statement (or an operator's PRAGMA) still runs.
            let _ = self.settle();
        }
        self.begin()?;
        if reaches {
            self.rows_rewritten_by_sql();
        }
        lock(&self.conn).execute_batch(sql)?;
        self.log(Op::SqlBatch { sql });
        Ok(())
    }

    fn writes_refused(&self) -> Option<String> {
        self.journal.as_ref()?.refusal()
    }

    fn in_transaction(&self) -> bool {
        match &self.journal {
            Some(j) => j.has_batch(),
            None => self.in_tx,
        }
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        // A merge whose commit finished meanwhile: its records leave the journal. Its
        // failure was logged and is retried; this batch does not fail for it.
        let _ = self.finish_merge(false);
        if let Some(journal) = self.journal.as_mut() {
            if journal.has_batch() {
                if journal.is_full() && journal.retry_at.is_some() {
                    // Full, and the merge that would make room keeps failing: refuse the
                    // batch rather than grow without bound.
                    return Err(StoreError::Io(
                        "the redo journal is full and merging it failed; writes resume once \
                         a merge succeeds"
                            .into(),
                    ));
                }
                journal.append()?;
                if let Some(rows) = &self.rows {
                    rows.wake(); // the batch is durable: its key rows may be applied
                }
            }
            if journal.is_full() && self.merging && !journal.is_past_hold() {
                // Back-pressure: the batch is durable, and the merge running in the
                // background will make room; until it has, the executor holds writing
                // commands back and serves the others (`write_backlog`).
                if self.journal_hold.is_none() {
                    self.journal_hold = Some(std::time::Instant::now());
                    journal.stats.backpressure_merges += 1;
                }
            } else if journal.is_full() {
                // Past what holding writers back allows (expiry, eviction and a plugin's
                // background work are never held), or no merge in flight: the next batch
                // waits for the merge in the background, if one runs (its records then
                // leave the journal), or for one on this thread.
                let started = std::time::Instant::now();
                journal.retry_at = None;
                let mut merged = self.finish_merge(true);
                if merged.is_err() || self.journal.as_ref().is_some_and(Journal::is_full) {
                    merged = self.merge_now();
                }
                let journal = self.journal.as_mut().expect("checked above");
                journal.stats.backpressure_merges += 1;
                journal.stats.backpressure_ms += started.elapsed().as_millis() as u64;
                if let Err(e) = merged {
                    tracing::warn!(error = %e, "merge at the journal's size limit failed");
                }
            } else if !self.merging && self.timely_merge_due() {
                // The batch is durable in the journal; a failed merge is retried later.
                let _ = self.start_merge();
            }
            return Ok(());
        }
        if self.in_tx {
            let result = self.prepared.get(&lock(&self.conn), "COMMIT")?.execute([]);
            if let Err(e) = result {
                self.rollback();
                return Err(e.into());
            }
            self.in_tx = false;
        }
        Ok(())
    }

    fn rollback(&mut self) {
        match self.journal.as_mut() {
            Some(journal) => {
                if !journal.has_batch() {
                    return; // the open transaction holds only journaled, acknowledged writes
                }
                // The rebuild drops the batch, or replays it with keep_batch.
                self.discard_transaction();
                if let Err(e) = self.rebuild(self.keep_batch) {
                    tracing::error!(
                        error = %e,
                        "rebuilding from the redo journal failed; writes wait until it succeeds"
                    );
                }
            }
            None => self.discard_transaction(),
        }
    }

    fn merge(&mut self, force: bool) -> Result<(), StoreError> {
        if self.filter.poll() | self.element_filter.poll() {
            self.filter_rebuild = true;
        }
        let Some(journal) = self.journal.as_mut() else {
            self.rebuild_filter_if_wanted();
            return Ok(());
        };
        if journal.has_batch() {
            return Ok(()); // mid-batch: the next commit merges if due
        }
        // A merge whose commit runs on the row writer's thread: collected if done (waited
        // for when forced, which then merges what came since).
        self.finish_merge(force)?;
        if self.merging {
            return Ok(());
        }
        if self.needs_rebuild {
            self.rebuild(true)?;
        }
        let journal = self.journal.as_mut().expect("checked above");
        if journal.is_empty() {
            self.end_read();
            self.rebuild_filter_if_wanted();
            return Ok(());
        }
        if force {
            journal.retry_at = None;
        }
        if force {
            self.merge_now()?;
        } else if self.timely_merge_due() {
            self.start_merge()?;
        }
        Ok(())
    }

    fn set_keep_batch(&mut self, keep: bool) {
        self.keep_batch = keep;
    }

    fn checkpoint_stats(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering;
        self.checkpointer.as_ref().map_or((0, 0), |c| {
            (
                c.done.0.load(Ordering::Acquire),
                c.done.1.load(Ordering::Relaxed),
            )
        })
    }

    fn journal_stats(&self) -> Option<JournalStats> {
        let mut stats = self.journal.as_ref().map(Journal::snapshot)?;
        if let Some(rows) = &self.rows {
            rows.stats(&mut stats);
        }
        Some(stats)
    }

    fn element_cache_stats(&self) -> ElementCacheStats {
        self.elements.stats()
    }

    fn key_filter_stats(&self) -> KeyFilterStats {
        self.filter.stats()
    }

    fn element_filter_stats(&self) -> KeyFilterStats {
        self.element_filter.stats()
    }

    fn set_filter_max_bytes(&mut self, bytes: u64) {
        // Both rebuild together (see `merge`).
        if self.filter.set_max_bytes(bytes) | self.element_filter.set_max_bytes(bytes) {
            self.filter_rebuild = true;
        }
    }

    fn set_row_window_bytes(&mut self, bytes: u64) {
        if let Some(rows) = &self.rows {
            rows.set_window(usize::try_from(bytes).unwrap_or(usize::MAX));
        }
    }

    fn write_backlog(&mut self) -> bool {
        if let Some(since) = self.journal_hold {
            // A merge done meanwhile leaves the journal (an error is logged and retried).
            let _ = self.finish_merge(false);
            let full = self.journal.as_ref().is_some_and(Journal::is_full);
            if full && !self.merging {
                // The batches journaled during the merge filled it again: another one.
                let _ = self.start_merge();
            }
            if full && self.merging {
                return true;
            }
            self.journal_hold = None;
            if let Some(journal) = self.journal.as_mut() {
                journal.stats.backpressure_ms += since.elapsed().as_millis() as u64;
            }
        }
        self.rows.as_ref().is_some_and(RowWriter::backlogged)
    }

    fn pause_background_writes(&mut self, paused: bool) {
        if let Some(rows) = &self.rows {
            rows.set_paused(paused);
        }
    }

    fn set_page_cache_bytes(&mut self, bytes: u64) -> Result<(), StoreError> {
        self.split_page_cache(bytes, true)
    }

    fn set_synchronous(&mut self, mode: Synchronous) -> Result<(), StoreError> {
        if self.journal.is_some() {
            // SQLite refuses the change inside a transaction, and the journal keeps one open:
            // journal what the batch did so far, then merge, which closes it.
            self.commit()?;
            self.merge(true)?;
        }
        let value = match mode {
            Synchronous::Off => "OFF",
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
            Synchronous::Extra => "EXTRA",
        };
        lock(&self.conn).execute_batch(&format!("PRAGMA synchronous = {value}"))?;
        if let Some(j) = self.journal.as_mut() {
            j.sync = matches!(mode, Synchronous::Full | Synchronous::Extra);
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), StoreError> {
        self.commit()?;
        self.merge(true)?;
        if let Some(journal) = self.journal.take() {
            // Empty after the merge: a clean shutdown leaves only the database file.
            journal.remove();
        }
        self.rows = None; // empty after the merge
        self.checkpointer = None; // stopped first: the final checkpoint must not wait for it
        if self.path != ":memory:" {
            lock(&self.conn).query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        }
        Ok(())
    }

    fn describe(&self) -> String {
        self.path.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(value: &str, expire_at: Option<i64>, version: u64) -> Record {
        Record {
            kind: ValueType::String,
            value: Bytes::copy_from_slice(value.as_bytes()),
            expire_at,
            version,
            cid: None,
            sub_expire_at: None,
        }
    }

    #[test]
    fn put_load_delete_and_counts() {
        let mut s = SqliteStore::open(":memory:", Synchronous::Normal).unwrap();
        s.put(0, b"a", record("1", None, 1)).unwrap();
        s.put(0, b"b", record("2", Some(10), 2)).unwrap();
        s.put(3, b"a", record("3", None, 3)).unwrap();
        s.commit().unwrap();
        assert_eq!(s.load(0, b"b").unwrap(), Some(record("2", Some(10), 2)));
        assert_eq!(s.load(1, b"a").unwrap(), None);
        let stats = s.db_stats().unwrap();
        assert_eq!(
            stats,
            vec![
                DbStats {
                    db: 0,
                    keys: 2,
                    expires: 1
                },
                DbStats {
                    db: 3,
                    keys: 1,
                    expires: 0
                }
            ]
        );
        // Replacing a row keeps the key count and follows the expiry change.
        s.put(0, b"b", record("x", None, 4)).unwrap();
        s.delete(0, b"a").unwrap();
        assert_eq!(s.load(0, b"a").unwrap(), None);
        s.delete(0, b"a").unwrap();
        s.commit().unwrap();
        assert_eq!(
            s.db_stats().unwrap()[0],
            DbStats {
                db: 0,
                keys: 1,
                expires: 0
            }
        );
        s.flush_all().unwrap();
        s.commit().unwrap();
        assert!(s.db_stats().unwrap().is_empty());
    }

    #[test]
    fn the_page_cache_is_sized_as_configured() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pc.db");
        let path = path.to_str().unwrap();
        let cache_kb = |s: &SqliteStore| -> i64 {
            lock(&s.conn)
                .query_row("PRAGMA cache_size", [], |r| r.get(0))
                .unwrap()
        };
        let mut s = SqliteStore::open(path, Synchronous::Normal).unwrap();
        assert_eq!(cache_kb(&s), -PAGE_CACHE_KB);
        s.put(0, b"k", record("v", None, 1)).unwrap();
        s.commit().unwrap();
        // Inside the journal's open transaction too, which goes on. A small database: its
        // pages, half as many again and a quarter of the budget to SQLite, the rest to the
        // element cache.
        s.set_page_cache_bytes(64 << 20).unwrap();
        let wanted = s.pages_wanted().unwrap();
        assert!(wanted > 16 << 10 && wanted < 1 << 20, "{wanted}");
        assert_eq!(cache_kb(&s), -page_cache_kb(wanted + (16 << 20)));
        assert_eq!(s.element_cache_stats().max_bytes, (48 << 20) - wanted);
        s.put(0, b"k2", record("v", None, 2)).unwrap();
        s.commit().unwrap();
        // A budget the pages would fill: the element cache keeps its eighth.
        s.set_page_cache_bytes(16 << 10).unwrap();
        assert_eq!(cache_kb(&s), -page_cache_kb(14 << 10));
        assert_eq!(s.element_cache_stats().max_bytes, 2 << 10);
        // The database grows: the merge gives its pages more of the budget.
        s.set_page_cache_bytes(8 << 20).unwrap();
        let before = s.element_cache_stats().max_bytes;
        let value = "x".repeat(1000);
        for i in 0..2000 {
            s.put(0, format!("big{i}").as_bytes(), record(&value, None, 3))
                .unwrap();
        }
        s.commit().unwrap();
        s.merge(true).unwrap();
        let wanted = s.pages_wanted().unwrap();
        assert!(wanted > 2 << 20, "{wanted}");
        assert_eq!(s.element_cache_stats().max_bytes, (6 << 20) - wanted);
        assert!(s.element_cache_stats().max_bytes < before);
        assert_eq!(cache_kb(&s), -page_cache_kb(wanted + (2 << 20)));
        s.close().unwrap();
        drop(s);
        let mut s = SqliteStore::open(path, Synchronous::Normal).unwrap();
        assert_eq!(s.load(0, b"k2").unwrap(), Some(record("v", None, 2)));
    }

    #[test]
    fn a_second_store_on_the_same_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        let path = path.to_str().unwrap();
        let first = SqliteStore::open(path, Synchronous::Normal).unwrap();
        let err = SqliteStore::open(path, Synchronous::Normal).err().unwrap();
        assert!(err.to_string().contains("another Respite server"), "{err}");
        drop(first);
        SqliteStore::open(path, Synchronous::Normal).unwrap();
    }

    #[test]
    fn rollback_discards() {
        let mut s = SqliteStore::open(":memory:", Synchronous::Normal).unwrap();
        s.put(0, b"k", record("v", None, 1)).unwrap();
        s.rollback();
        assert_eq!(s.load(0, b"k").unwrap(), None);
    }

    /// A store that never merges by itself (the tests merge when they mean to).
    fn journaled(path: &str) -> SqliteStore {
        SqliteStore::open_with(path, Synchronous::Normal, manual_merges()).unwrap()
    }

    /// [`journaled`]'s options: a journal merged only when a test asks.
    fn manual_merges() -> JournalOptions {
        JournalOptions {
            merge_interval_ms: 3_600_000,
            max_bytes: 1 << 30,
            ..JournalOptions::default()
        }
    }

    #[test]
    fn acknowledged_writes_are_replayed_after_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("crash.db");
        let path = path.to_str().unwrap();
        {
            let mut s = journaled(path);
            s.put(0, b"merged", record("m", None, 1)).unwrap();
            s.commit().unwrap();
            s.merge(true).unwrap();
            s.put(0, b"a", record("1", Some(5), 2)).unwrap();
            s.put_element(9, &element("f", "v")).unwrap();
            s.zset_put(10, b"m", 1.5, None).unwrap();
            s.list_put(11, 0, b"item").unwrap();
            s.commit().unwrap();
            s.delete(0, b"merged").unwrap();
            s.meta_set("next_version", 3).unwrap();
            s.commit().unwrap();
            // Written but never acknowledged: not in the journal.
            s.put(0, b"lost", record("x", None, 4)).unwrap();
            assert!(s.journal_stats().unwrap().records == 2);
            // Dropped without close: the open SQLite transaction is rolled back, as on kill -9.
        }
        let mut s = journaled(path);
        assert_eq!(s.journal_stats().unwrap().replayed_records, 2);
        assert_eq!(s.load(0, b"a").unwrap(), Some(record("1", Some(5), 2)));
        assert_eq!(s.load(0, b"merged").unwrap(), None);
        assert_eq!(s.load(0, b"lost").unwrap(), None);
        assert_eq!(s.element(9, b"f").unwrap(), Some(element("f", "v")));
        assert_eq!(s.zset_score(10, b"m").unwrap(), Some(1.5));
        assert_eq!(
            s.list_get(11, 0).unwrap(),
            Some(Bytes::from_static(b"item"))
        );
        assert_eq!(s.meta_get("next_version").unwrap(), Some(3));
        assert_eq!(
            s.db_stats().unwrap(),
            vec![DbStats {
                db: 0,
                keys: 1,
                expires: 1
            }]
        );
        // The replay was merged at open: the journal is empty again.
        assert_eq!(s.journal.as_ref().unwrap().len, 0);
        s.close().unwrap();
        assert!(
            !Journal::exists(path),
            "a clean shutdown left a journal file"
        );
    }

    /// A replay holds key rows back and writes each key once, in key order, but never past an
    /// operation of another kind: renames, flushes, collections written, deleted and
    /// reclaimed between the rows replay to the state the crash interrupted.
    #[test]
    fn a_replay_coalesces_key_rows_and_keeps_their_order_with_every_other_operation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("coalesce.db");
        let path = path.to_str().unwrap();
        let mut next = crate::testing::draws(0x2545_f491_4f6c_dd1du64);
        let names: Vec<Vec<u8>> = (0..40).map(|i| format!("k{i}").into_bytes()).collect();
        let mut version = 0u64;
        let mut cid = 100u64;
        // Which key holds which collection: as the keyspace does, a collection overwritten
        // or deleted is queued for removal before its key's row is written.
        type Holds = std::collections::HashMap<(DbIndex, Vec<u8>), u64>;
        let mut holds = Holds::new();
        let release = |s: &mut SqliteStore, holds: &mut Holds, db: DbIndex, key: &[u8]| {
            if let Some(old) = holds.remove(&(db, key.to_vec())) {
                s.drop_elements(old).unwrap();
            }
        };
        let before = {
            let mut s = journaled(path);
            for batch in 0..300u32 {
                for _ in 0..1 + next(20) {
                    let db = next(3) as DbIndex;
                    let key = &names[next(40) as usize];
                    version += 1;
                    match next(40) {
                        0..=24 => {
                            let v = format!("v{batch}");
                            let ttl = (next(3) == 0).then_some(i64::MAX - 1);
                            release(&mut s, &mut holds, db, key);
                            s.put(db, key, record(&v, ttl, version)).unwrap();
                        }
                        25..=30 => {
                            release(&mut s, &mut holds, db, key);
                            s.delete(db, key).unwrap();
                        }
                        31..=33 => {
                            // As the keyspace does it: the target deleted first.
                            let (to, to_db) = (&names[next(40) as usize], next(3) as DbIndex);
                            if (to_db, to) != (db, key) {
                                release(&mut s, &mut holds, to_db, to);
                                s.delete(to_db, to).unwrap();
                                if s.rename(db, key, to_db, to).unwrap() {
                                    if let Some(c) = holds.remove(&(db, key.clone())) {
                                        holds.insert((to_db, to.clone()), c);
                                    }
                                }
                            }
                        }
                        34..=36 => {
                            // A collection: its elements, then its key row.
                            cid += 1;
                            for e in 0..1 + next(5) {
                                let f = format!("f{e}");
                                s.put_element(cid, &element(&f, "x")).unwrap();
                            }
                            release(&mut s, &mut holds, db, key);
                            s.put(db, key, collection(cid)).unwrap();
                            holds.insert((db, key.clone()), cid);
                        }
                        37 => {
                            s.reclaim(1 + next(3)).unwrap();
                        }
                        38 if next(8) == 0 => {
                            holds.retain(|(d, _), _| *d != db);
                            s.flush_db(db).unwrap();
                        }
                        _ => s.meta_set("next_version", version as i64).unwrap(),
                    }
                }
                s.commit().unwrap();
            }
            assert!(s.journal_stats().unwrap().records > 250);
            let mut state = Vec::new();
            for db in 0..3 {
                for key in &names {
                    state.push(s.load(db, key).unwrap());
                }
            }
            let stats = s.db_stats().unwrap();
            let pending = s.lazyfree_pending().unwrap();
            let meta = s.meta_get("next_version").unwrap();
            (state, stats, pending, meta)
            // Dropped without close: as on kill -9, the journal replays it all.
        };
        let mut s = journaled(path);
        assert!(s.journal_stats().unwrap().replayed_records > 250);
        let mut state = Vec::new();
        for db in 0..3 {
            for key in &names {
                state.push(s.load(db, key).unwrap());
            }
        }
        let after = (
            state,
            s.db_stats().unwrap(),
            s.lazyfree_pending().unwrap(),
            s.meta_get("next_version").unwrap(),
        );
        assert_eq!(
            (&after.0, &after.1, after.3),
            (&before.0, &before.1, before.3)
        );
        // A dropped collection's rows still queued for the row writer were never written in
        // the run, but the replay writes them: its reclaim steps may finish collections later.
        assert!(after.2 >= before.2, "{} < {}", after.2, before.2);
        // What the reclaim leaves is the live collections' elements, none of the others'.
        reclaim_all(&mut s);
        let live: Vec<i64> = after
            .0
            .iter()
            .filter_map(|r| r.as_ref().and_then(|r| r.cid).map(|c| c as i64))
            .collect();
        let orphans: i64 = lock(&s.conn)
            .query_row(
                &format!(
                    "SELECT count(*) FROM elements WHERE cid NOT IN ({})",
                    live.iter()
                        .map(|c| c.to_string())
                        .chain(["-1".into()])
                        .collect::<Vec<_>>()
                        .join(",")
                ),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(orphans, 0);
    }

    /// Merges whose commit runs on the row writer's thread while the executor appends more
    /// batches: the journal keeps exactly the records after each merge, so a crash at any
    /// point replays to the acknowledged state, non-idempotent operations (a RENAME)
    /// included.
    #[test]
    fn background_merges_keep_the_records_appended_while_they_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bg.db");
        let path = path.to_str().unwrap();
        let options = JournalOptions {
            merge_interval_ms: 1,
            max_bytes: 1 << 30,
            ..JournalOptions::default()
        };
        let value_of = |i: u64| format!("v{i}").repeat(20);
        let n = 300u64;
        {
            let mut s = SqliteStore::open_with(path, Synchronous::Normal, options).unwrap();
            for i in 0..n {
                s.put(0, format!("x{i}").as_bytes(), record(&value_of(i), None, i))
                    .unwrap();
                s.commit().unwrap();
                if i % 10 == 9 {
                    // A statement of the executor's own: it waits for a merge in flight.
                    let from = format!("x{}", i - 5);
                    assert!(s
                        .rename(0, from.as_bytes(), 0, format!("y{}", i - 5).as_bytes())
                        .unwrap());
                    s.meta_set("renames", (i / 10 + 1) as i64).unwrap();
                    s.commit().unwrap();
                }
                if i % 50 == 49 {
                    // A merge that takes long to commit: batches go on being journaled.
                    let gate = s.rows.as_ref().unwrap().merge_gate();
                    let held = gate.lock().unwrap();
                    std::thread::sleep(std::time::Duration::from_millis(2));
                    s.merge(false).unwrap();
                    assert!(s.merging, "the merge should run on the writer's thread");
                    for j in 0..5 {
                        let k = format!("t{i}_{j}");
                        s.put(0, k.as_bytes(), record(&k, None, i)).unwrap();
                        s.commit().unwrap();
                    }
                    drop(held);
                    s.settle().unwrap(); // waits for the merge
                    let stats = s.journal_stats().unwrap();
                    assert_eq!(stats.records, 5, "the records appended during the merge");
                    assert!(stats.background_merges > 0);
                }
            }
            // Dropped without close, as on kill -9.
        }
        let mut s = SqliteStore::open_with(path, Synchronous::Normal, options).unwrap();
        for i in 0..n {
            let renamed = i % 10 == 4 && i + 5 < n;
            let (here, gone) = if renamed {
                (format!("y{i}"), format!("x{i}"))
            } else {
                (format!("x{i}"), format!("y{i}"))
            };
            assert_eq!(
                s.load(0, here.as_bytes()).unwrap(),
                Some(record(&value_of(i), None, i)),
                "{here}"
            );
            assert_eq!(s.load(0, gone.as_bytes()).unwrap(), None, "{gone}");
            if i % 50 == 49 {
                for j in 0..5 {
                    let k = format!("t{i}_{j}");
                    assert_eq!(s.load(0, k.as_bytes()).unwrap(), Some(record(&k, None, i)));
                }
            }
        }
        assert_eq!(s.meta_get("renames").unwrap(), Some((n / 10) as i64));
        assert_eq!(s.db_stats().unwrap()[0].keys, n + n / 50 * 5);
    }

    /// A batch rolled back while a merge runs on the row writer's thread: the merge, which
    /// commits all the same, is booked before the transaction is rebuilt, so that the rebuild
    /// replays only the records after it (a shift of list items replayed on top of its own
    /// merged result would move the items twice).
    #[test]
    fn a_rollback_during_a_background_merge_replays_only_what_it_did_not_merge() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rbm.db");
        let mut s = journaled(path.to_str().unwrap()); // no merge unless asked for
        for i in 0..3 {
            s.list_put(7, i, format!("i{i}").as_bytes()).unwrap();
        }
        s.commit().unwrap();
        s.list_shift(7, 1, 2, 10).unwrap();
        s.commit().unwrap();
        s.start_merge().unwrap();
        assert!(s.merging, "the merge should run on the writer's thread");
        // A key row needs no statement of the executor's own: the merge is still in flight
        // when its batch is rolled back.
        s.put(0, b"gone", record("x", None, 1)).unwrap();
        s.rollback();
        assert!(!s.merging);
        assert_eq!(s.journal_stats().unwrap().background_merges, 1);
        let at = |s: &mut SqliteStore, pos| s.list_get(7, pos).unwrap();
        assert_eq!(at(&mut s, 0).as_deref(), Some(&b"i0"[..]));
        assert_eq!(at(&mut s, 11).as_deref(), Some(&b"i1"[..]));
        assert_eq!(at(&mut s, 12).as_deref(), Some(&b"i2"[..]));
        assert_eq!(at(&mut s, 22), None, "shifted once");
        assert_eq!(s.load(0, b"gone").unwrap(), None);
    }

    /// The journal at its size limit with a merge in flight: the batch that filled it is
    /// acknowledged at once, and writes are held back (`write_backlog`) until the merge has
    /// made room, rather than the next commit waiting for it with everyone's replies.
    #[test]
    fn a_full_journal_holds_writes_back_while_its_merge_runs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hold.db");
        let mut s = SqliteStore::open_with(
            path.to_str().unwrap(),
            Synchronous::Normal,
            JournalOptions {
                merge_interval_ms: 3_600_000,
                max_bytes: 64 << 10,
                ..JournalOptions::default()
            },
        )
        .unwrap();
        let gate = s.rows.as_ref().unwrap().merge_gate();
        let held = gate.lock().unwrap();
        let value = "v".repeat(1000);
        let mut i = 0u64;
        // Half full starts a merge in the background, which the gate keeps from committing.
        while !s.merging {
            s.put(0, format!("k{i}").as_bytes(), record(&value, None, i))
                .unwrap();
            s.commit().unwrap();
            i += 1;
        }
        assert!(!s.write_backlog());
        while !s.journal.as_ref().unwrap().is_full() {
            s.put(0, format!("k{i}").as_bytes(), record(&value, None, i))
                .unwrap();
            s.commit().unwrap();
            i += 1;
        }
        assert!(
            s.merging,
            "the commit that filled the journal did not wait for the merge"
        );
        assert!(s.write_backlog());
        assert_eq!(s.journal_stats().unwrap().backpressure_merges, 1);
        drop(held);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while s.write_backlog() {
            assert!(std::time::Instant::now() < deadline, "the hold never ended");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let stats = s.journal_stats().unwrap();
        assert!(!s.journal.as_ref().unwrap().is_full());
        assert_eq!((stats.background_merges, stats.backpressure_merges), (1, 1));
        for k in [0, i / 2, i - 1] {
            let r = s.load(0, format!("k{k}").as_bytes()).unwrap().unwrap();
            assert_eq!(r.version, k);
        }
    }

    /// While a merge has the connection, a read of a key the merge holds finds the row it
    /// applied, and one of another key reads the file's committed state: neither waits for
    /// the merge. After a statement of the store's own changed the keys table (the rows
    /// applied are then not kept), a read takes the connection, in the merge's open
    /// transaction or the file once committed, and finds the newest row without waiting for
    /// the merge's end.
    /// A store whose rows are applied as soon as their batch is journaled, and that merges
    /// only when asked.
    fn applying_at_once(path: &std::path::Path) -> SqliteStore {
        SqliteStore::open_with(
            path.to_str().unwrap(),
            Synchronous::Normal,
            JournalOptions {
                merge_interval_ms: 3_600_000,
                row_window_bytes: 0,
                ..JournalOptions::default()
            },
        )
        .unwrap()
    }

    /// Holds a merge gate of the row writer until told to let go (or for ten seconds at most).
    fn hold(
        gate: &Arc<std::sync::Mutex<()>>,
    ) -> (std::thread::JoinHandle<()>, std::sync::mpsc::Sender<()>) {
        let gate = Arc::clone(gate);
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            let _held = gate.lock().unwrap();
            held_tx.send(()).unwrap();
            let _ = go_rx.recv_timeout(std::time::Duration::from_secs(10));
            std::thread::sleep(std::time::Duration::from_millis(20));
        });
        held_rx.recv().unwrap();
        (t, go_tx)
    }

    #[test]
    fn reads_during_a_merge_never_wait_for_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = applying_at_once(&dir.path().join("reads.db"));
        let value =
            |s: &mut SqliteStore, key: &str| s.load(0, key.as_bytes()).unwrap().map(|r| r.value);
        for k in ["a", "b", "c"] {
            s.put(0, k.as_bytes(), record("1", None, 1)).unwrap();
        }
        s.commit().unwrap();
        s.merge(true).unwrap();

        let gate = s.rows.as_ref().unwrap().merge_gate();
        let wait_applied = |s: &SqliteStore| {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while s.rows.as_ref().unwrap().queued() > 0 {
                assert!(std::time::Instant::now() < deadline, "rows never applied");
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        };

        s.put(0, b"b", record("2", None, 2)).unwrap();
        s.delete(0, b"c").unwrap();
        s.commit().unwrap();
        let (holder, go) = hold(&gate);
        s.start_merge().unwrap();
        assert!(s.merging);
        wait_applied(&s);
        assert_eq!(value(&mut s, "a").as_deref(), Some(&b"1"[..]));
        assert_eq!(value(&mut s, "nothing"), None);
        assert_eq!(value(&mut s, "b").as_deref(), Some(&b"2"[..]));
        assert_eq!(value(&mut s, "c"), None);
        assert!(s.merging, "a read waited for the merge");
        go.send(()).unwrap();
        holder.join().unwrap();
        // Committed, the file agrees.
        s.finish_merge(true).unwrap();
        assert!(!s.merging);
        assert_eq!(value(&mut s, "b").as_deref(), Some(&b"2"[..]));
        assert_eq!(value(&mut s, "c"), None);

        // A statement of the store's own: every read waits for the commit that holds it, and
        // the rows kept are no longer the table's.
        s.put(0, b"x", record("1", None, 1)).unwrap();
        s.commit().unwrap();
        wait_applied(&s);
        assert_eq!(value(&mut s, "x").as_deref(), Some(&b"1"[..]));
        s.sql_execute(
            "DELETE FROM keys WHERE key IN (CAST('a' AS BLOB), CAST('x' AS BLOB))",
            &[],
        )
        .unwrap();
        assert_eq!(value(&mut s, "x"), None);
        s.put(0, b"d", record("1", None, 1)).unwrap();
        s.commit().unwrap();
        let (holder, go) = hold(&gate);
        s.start_merge().unwrap();
        assert!(s.merging);
        go.send(()).unwrap();
        assert_eq!(value(&mut s, "a"), None);
        assert_eq!(value(&mut s, "x"), None);
        assert_eq!(value(&mut s, "d").as_deref(), Some(&b"1"[..]));
        holder.join().unwrap();
        s.finish_merge(true).unwrap();
        assert!(!s.merging);
        // Committed, the file agrees.
        assert_eq!(value(&mut s, "a"), None);
        assert_eq!(value(&mut s, "d").as_deref(), Some(&b"1"[..]));
    }

    /// A read of several elements of a collection none of whose element rows is queued reads
    /// the table beside a running merge of other rows; one with queued rows still waits.
    #[test]
    fn reads_of_an_unqueued_collection_go_beside_a_merge() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = applying_at_once(&dir.path().join("beside.db"));
        let (zset, hash) = (7, 8);
        s.put(0, b"z", collection(zset)).unwrap();
        s.put(0, b"h", collection(hash)).unwrap();
        for i in 0..50 {
            s.zset_put(zset, format!("m{i:02}").as_bytes(), i as f64, None)
                .unwrap();
        }
        for i in 0..20 {
            s.put_element(hash, &element(&format!("f{i:02}"), "v"))
                .unwrap();
        }
        s.commit().unwrap();
        s.merge(true).unwrap();

        // A merge of other rows, held before it applies them (the connection free).
        s.put(0, b"other", record("1", None, 1)).unwrap();
        s.commit().unwrap();
        let (holder, go_tx) = hold(&s.rows.as_ref().unwrap().merge_start_gate());
        s.start_merge().unwrap();
        assert!(s.merging);

        let scores = |lo: f64, hi: f64| {
            ZRange::scores(
                crate::storage::ScoreBound::inclusive(lo),
                crate::storage::ScoreBound::inclusive(hi),
            )
        };
        assert_eq!(s.zset_count(zset, &ZRange::all()).unwrap(), 50);
        assert_eq!(s.zset_count(zset, &scores(10.0, 19.0)).unwrap(), 10);
        let range = s
            .zset_range(zset, &scores(10.0, 40.0), true, 1, Some(3))
            .unwrap();
        let names: Vec<&[u8]> = range.iter().map(|(m, _)| &m[..]).collect();
        assert_eq!(names, [&b"m39"[..], b"m38", b"m37"]);
        let (page, _) = s.scan_elements(hash, 0, 100).unwrap();
        assert_eq!(page.len(), 20);
        assert!(s.element_at(hash, 0, 1 << 62, 19).unwrap().is_some());
        assert!(s.element_at(hash, 0, 1 << 62, 20).unwrap().is_none());
        assert_eq!(s.min_element_expiry(hash).unwrap(), None);
        assert!(s.merging, "a read waited for the merge");

        // A member queued meanwhile: the set's reads count it (after the merge, which its
        // range read waits for).
        s.zset_put(zset, b"new", 15.5, None).unwrap();
        go_tx.send(()).unwrap();
        assert_eq!(s.zset_count(zset, &scores(10.0, 19.0)).unwrap(), 11);
        let range = s
            .zset_range(zset, &scores(15.0, 16.0), false, 0, None)
            .unwrap();
        let names: Vec<&[u8]> = range.iter().map(|(m, _)| &m[..]).collect();
        assert_eq!(names, [&b"m15"[..], b"new", b"m16"]);
        holder.join().unwrap();
        s.finish_merge(true).unwrap();
        assert_eq!(s.zset_count(zset, &ZRange::all()).unwrap(), 51);
    }

    #[test]
    fn plugin_sql_over_its_own_tables_leaves_the_rows_queued() {
        use crate::storage::Presence;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plugin-sql.db");
        let open = || journaled(path.to_str().unwrap());
        let mut s = open();
        let rows: Vec<KeyRow> = (0..100)
            .map(|k| KeyRow {
                db: 0,
                key: Bytes::from(format!("k{k}")).into(),
                row: Some(record("v", None, k)),
                was: Some(Presence::default()),
            })
            .collect();
        s.write_rows(rows).unwrap();
        s.commit().unwrap();
        let queued = |s: &SqliteStore| s.rows.as_ref().unwrap().queued();
        assert_eq!(queued(&s), 100);
        // A plugin's own table: created, written, read, and the window left as it was.
        s.sql_batch("CREATE TABLE IF NOT EXISTS wb_q (id INTEGER PRIMARY KEY, op BLOB);")
            .unwrap();
        s.sql_execute(
            "INSERT INTO wb_q (op) VALUES (?1)",
            &[SqlValue::Blob(b"x".to_vec())],
        )
        .unwrap();
        let n = s.sql_query("SELECT count(*) FROM wb_q", &[]).unwrap();
        assert!(matches!(n[0][0], SqlValue::Integer(1)));
        s.commit().unwrap();
        assert_eq!(
            queued(&s),
            100,
            "a statement over another table applied the rows"
        );
        assert_eq!(
            s.load(0, b"k7").unwrap().map(|r| r.value),
            Some(Bytes::from_static(b"v"))
        );
        // A statement over the key rows sees them all.
        let n = s.sql_query("SELECT count(*) FROM keys", &[]).unwrap();
        assert!(matches!(n[0][0], SqlValue::Integer(100)), "{n:?}");
        assert_eq!(queued(&s), 0);
        // Both survive a restart (the journal replays them in order).
        drop(s);
        let mut s = open();
        let n = s.sql_query("SELECT count(*) FROM wb_q", &[]).unwrap();
        assert!(matches!(n[0][0], SqlValue::Integer(1)));
        assert_eq!(s.db_stats().unwrap()[0].keys, 100);
    }

    #[test]
    fn flushdb_drops_the_slots_queued_rows_rather_than_applying_them() {
        use crate::storage::Presence;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flush.db");
        let open = || journaled(path.to_str().unwrap());
        let new_rows = |db: DbIndex, n: u64| -> Vec<KeyRow> {
            (0..n)
                .map(|k| KeyRow {
                    db,
                    key: Bytes::from(format!("k{k}")).into(),
                    row: Some(record("v", None, k)),
                    was: Some(Presence::default()),
                })
                .collect()
        };
        let queued = |s: &SqliteStore| s.rows.as_ref().unwrap().queued();
        let inline = |s: &SqliteStore| s.journal_stats().unwrap().rows_applied_inline;
        let mut s = open();
        // Queued: 100 strings and a hash whose element is in its table already.
        let mut rows = new_rows(0, 100);
        rows.push(KeyRow {
            db: 0,
            key: Bytes::from_static(b"h").into(),
            row: Some(collection(77)),
            was: Some(Presence::default()),
        });
        s.write_rows(rows).unwrap();
        s.put_element(77, &element("f", "1")).unwrap();
        s.commit().unwrap();
        assert_eq!(queued(&s), 101);
        let applied = inline(&s);
        s.flush_db(0).unwrap();
        s.commit().unwrap();
        assert_eq!(queued(&s), 0);
        assert_eq!(inline(&s), applied, "the flushed rows were applied first");
        assert!(s.db_stats().unwrap().is_empty());
        assert_eq!(s.load(0, b"k1").unwrap(), None);
        // The hash's element goes to the reclaim, in this process and after a restart (which
        // replays the rows into the table, then the flush).
        assert_eq!(s.lazyfree_pending().unwrap(), 1);
        drop(s);
        let mut s = open();
        assert!(s.db_stats().unwrap().is_empty());
        assert_eq!(s.lazyfree_pending().unwrap(), 1);
        assert_eq!(element_count(&mut s, 77), 1);
        while !s.reclaim(1000).unwrap().finished {}
        assert_eq!(element_count(&mut s, 77), 0);
        assert_eq!(s.lazyfree_pending().unwrap(), 0);

        // Two databases: the flushed one's rows go in before its slot is detached, the
        // other's stay queued.
        s.write_rows(new_rows(0, 20)).unwrap();
        s.write_rows(new_rows(1, 30)).unwrap();
        s.commit().unwrap();
        assert_eq!(queued(&s), 50);
        s.flush_db(0).unwrap();
        s.commit().unwrap();
        assert_eq!(queued(&s), 30);
        let stats = s.db_stats().unwrap();
        assert_eq!((stats.len(), stats[0].db, stats[0].keys), (1, 1, 30));
        assert_eq!(s.load(0, b"k1").unwrap(), None);
        assert!(s.load(1, b"k1").unwrap().is_some());
        drop(s);
        let mut s = open();
        let stats = s.db_stats().unwrap();
        assert_eq!((stats.len(), stats[0].db, stats[0].keys), (1, 1, 30));
        assert_eq!(s.load(0, b"k1").unwrap(), None);
    }

    #[test]
    fn a_reclaim_step_leaves_the_rows_queued_and_a_reclaimed_collection_unqueued() {
        use crate::storage::Presence;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reclaim.db");
        let open = || journaled(path.to_str().unwrap());
        let queued = |s: &SqliteStore| s.rows.as_ref().unwrap().queued();
        let mut s = open();
        s.write_rows(vec![KeyRow {
            db: 0,
            key: Bytes::from_static(b"h").into(),
            row: Some(collection(5)),
            was: Some(Presence::default()),
        }])
        .unwrap();
        for f in 0..10 {
            s.put_element(5, &element(&format!("f{f}"), "v")).unwrap();
        }
        s.commit().unwrap();
        s.merge(true).unwrap();
        // The keyspace deletes the hash: its collection is queued, then its key row, with 50
        // other rows.
        s.drop_elements(5).unwrap();
        let mut rows = vec![KeyRow {
            db: 0,
            key: Bytes::from_static(b"h").into(),
            row: None,
            was: Some(Presence {
                exists: true,
                expires: false,
            }),
        }];
        rows.extend((0..50).map(|k| KeyRow {
            db: 0,
            key: Bytes::from(format!("k{k}")).into(),
            row: Some(record("v", None, k)),
            was: Some(Presence::default()),
        }));
        s.write_rows(rows).unwrap();
        s.commit().unwrap();
        assert_eq!(queued(&s), 51);
        while !s.reclaim(4).unwrap().finished {}
        s.commit().unwrap();
        assert_eq!(element_count(&mut s, 5), 0);
        assert_eq!(queued(&s), 51, "a reclaim step applied the queued rows");
        // The key row's deletion, applied now, does not queue the reclaimed collection again.
        let n = s.sql_query("SELECT count(*) FROM keys", &[]).unwrap();
        assert!(matches!(n[0][0], SqlValue::Integer(50)), "{n:?}");
        assert_eq!(queued(&s), 0);
        assert_eq!(s.lazyfree_pending().unwrap(), 0);
        s.commit().unwrap();
        // A replay reaches the same state.
        drop(s);
        let mut s = open();
        assert_eq!(s.lazyfree_pending().unwrap(), 0);
        assert_eq!(element_count(&mut s, 5), 0);
        assert_eq!(s.db_stats().unwrap()[0].keys, 50);
    }

    #[test]
    fn a_version_6_file_gets_the_triggers_that_queue_only_collections_with_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v6.db");
        let path = path.to_str().unwrap();
        let trigger_sql = |conn: &Connection| -> String {
            conn.query_row(
                "SELECT group_concat(sql) FROM sqlite_master WHERE name IN
                 ('keys_count_delete', 'keys_replace_collection')",
                [],
                |r| r.get(0),
            )
            .unwrap()
        };
        {
            let s = SqliteStore::open(path, Synchronous::Normal).unwrap();
            drop(s);
            let conn = Connection::open(path).unwrap();
            conn.execute_batch(
                "DROP TRIGGER keys_count_delete; DROP TRIGGER keys_replace_collection;
                 CREATE TRIGGER keys_count_delete AFTER DELETE ON keys BEGIN
                     UPDATE db_stats SET keys = keys - 1,
                       expires = expires - (OLD.expire_at IS NOT NULL) WHERE db = OLD.db;
                     INSERT INTO lazyfree (cid) SELECT OLD.cid WHERE OLD.cid IS NOT NULL
                      AND NOT EXISTS (SELECT 1 FROM lazyfree WHERE cid = OLD.cid);
                 END;
                 CREATE TRIGGER keys_replace_collection AFTER UPDATE OF cid ON keys
                  WHEN OLD.cid IS NOT NULL AND OLD.cid IS NOT NEW.cid BEGIN
                     INSERT INTO lazyfree (cid) SELECT OLD.cid
                      WHERE NOT EXISTS (SELECT 1 FROM lazyfree WHERE cid = OLD.cid);
                 END;
                 UPDATE meta SET value = 6 WHERE name = 'schema_version';",
            )
            .unwrap();
            assert!(!trigger_sql(&conn).contains("apart_collections"));
        }
        let mut s = SqliteStore::open(path, Synchronous::Normal).unwrap();
        assert_eq!(s.meta_get("schema_version").unwrap(), Some(SCHEMA_VERSION));
        assert_eq!(
            trigger_sql(&lock(&s.conn))
                .matches("apart_collections")
                .count(),
            2
        );
        // A collection without rows is not queued; one with rows is.
        s.put(0, b"empty", collection(3)).unwrap();
        s.put(0, b"full", collection(4)).unwrap();
        s.put_element(4, &element("f", "v")).unwrap();
        s.commit().unwrap();
        s.merge(true).unwrap(); // the rows in the table
        s.delete(0, b"empty").unwrap();
        s.delete(0, b"full").unwrap();
        s.commit().unwrap();
        s.merge(true).unwrap();
        assert_eq!(
            count(&s, "SELECT sum(cid) * 100 + count(*) FROM lazyfree"),
            401
        );
    }

    #[test]
    fn scan_pages_apply_the_rows_they_cover_and_see_every_key() {
        use crate::storage::Presence;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pages.db");
        let mut s = SqliteStore::open_with(
            path.to_str().unwrap(),
            Synchronous::Normal,
            JournalOptions {
                merge_interval_ms: 3_600_000,
                row_window_bytes: 64 << 20,
                ..JournalOptions::default()
            },
        )
        .unwrap();
        let mut next = crate::testing::draws(0x9e37_79b9_7f4a_7c15u64);
        // The model: which of 400 keys exist. Half of them reach the table first.
        let mut model = std::collections::BTreeSet::new();
        let write = |s: &mut SqliteStore,
                     model: &mut std::collections::BTreeSet<u64>,
                     k: u64,
                     put: bool| {
            let was = Presence {
                exists: model.contains(&k),
                expires: false,
            };
            s.write_rows(vec![KeyRow {
                db: 0,
                key: Bytes::from(format!("k{k}")).into(),
                row: put.then(|| record("v", None, k)),
                was: Some(was),
            }])
            .unwrap();
            if put {
                model.insert(k);
            } else {
                model.remove(&k);
            }
        };
        for k in 0..200 {
            write(&mut s, &mut model, k, true);
        }
        s.commit().unwrap();
        s.merge(true).unwrap();
        for round in 0..8 {
            // Queued: new keys, rewrites and deletions, spread over every position.
            for _ in 0..150 {
                let k = next(400);
                let put = next(3) != 0;
                write(&mut s, &mut model, k, put);
            }
            s.commit().unwrap();
            let queued = s.rows.as_ref().unwrap().pending_counts().is_some();
            assert!(queued);
            let mut seen = std::collections::BTreeSet::new();
            let mut cursor = 0;
            let mut pages = 0;
            loop {
                let count = 1 + next(25) as usize;
                let (keys, next_cursor) = s.scan(0, cursor, count).unwrap();
                for k in keys {
                    let k: u64 = std::str::from_utf8(&k.key[1..]).unwrap().parse().unwrap();
                    assert!(
                        model.contains(&k),
                        "round {round}: SCAN returned deleted k{k}"
                    );
                    seen.insert(k);
                }
                pages += 1;
                if next_cursor == 0 {
                    break;
                }
                cursor = next_cursor;
            }
            assert_eq!(
                seen, model,
                "round {round}: SCAN missed keys ({pages} pages)"
            );
            let random = s.random_key(0, next(u64::MAX)).unwrap().unwrap();
            let k: u64 = std::str::from_utf8(&random.key[1..])
                .unwrap()
                .parse()
                .unwrap();
            assert!(model.contains(&k));
        }
        // A short page from the table whose queued keys lie past it: the table's two keys
        // first in position order, four queued after them, pages of three.
        let mut keys: Vec<String> = (0..100).map(|i| format!("p{i}")).collect();
        keys.sort_by_key(|k| position(k.as_bytes()));
        let row = |k: &str| KeyRow {
            db: 1,
            key: Bytes::from(k.to_string()).into(),
            row: Some(record("v", None, 1)),
            was: Some(Presence::default()),
        };
        s.write_rows(keys[..2].iter().map(|k| row(k)).collect())
            .unwrap();
        s.commit().unwrap();
        s.merge(true).unwrap();
        s.write_rows(keys[2..6].iter().map(|k| row(k)).collect())
            .unwrap();
        s.commit().unwrap();
        let (mut seen, mut cursor) = (Vec::new(), 0);
        loop {
            let (page, next_cursor) = s.scan(1, cursor, 3).unwrap();
            seen.extend(
                page.into_iter()
                    .map(|k| String::from_utf8(k.key.to_vec()).unwrap()),
            );
            if next_cursor == 0 {
                break;
            }
            cursor = next_cursor;
        }
        assert_eq!(seen, keys[..6]);
    }

    #[test]
    fn counting_keys_while_a_merge_commits_waits_for_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("counts.db");
        let mut s = SqliteStore::open_with(
            path.to_str().unwrap(),
            Synchronous::Normal,
            JournalOptions {
                merge_interval_ms: 3_600_000,
                ..JournalOptions::default()
            },
        )
        .unwrap();
        use crate::storage::Presence;
        let absent = Presence::default();
        let row = |key: &str, expire_at: Option<i64>, was: Presence| KeyRow {
            db: 0,
            key: Bytes::copy_from_slice(key.as_bytes()).into(),
            row: Some(record("v", expire_at, 1)),
            was: Some(was),
        };
        let plain = Presence {
            exists: true,
            expires: false,
        };
        s.write_rows(
            (0..10)
                .map(|i| row(&format!("k{i}"), None, absent))
                .collect(),
        )
        .unwrap();
        s.commit().unwrap();
        // Read from the tables once; kept from then on.
        assert_eq!(s.db_stats().unwrap()[0].keys, 10);
        assert_eq!(s.lazyfree_pending().unwrap(), 0);
        s.drop_elements(77).unwrap();
        s.commit().unwrap();
        // A merge the gate keeps from committing: a read of the tables would wait for it,
        // until the gate's holder gives up after 10 s.
        let gate = s.rows.as_ref().unwrap().merge_gate();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let (ready, held) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            let _held = gate.lock().unwrap();
            ready.send(()).unwrap();
            let _ = released.recv_timeout(std::time::Duration::from_secs(10));
        });
        held.recv().unwrap();
        s.start_merge().unwrap();
        assert!(s.merging);
        s.write_rows(vec![
            row("k0", Some(i64::MAX), plain),
            row("new", None, absent),
            KeyRow {
                db: 0,
                key: Bytes::from_static(b"k1").into(),
                row: None,
                was: Some(plain),
            },
        ])
        .unwrap();
        s.commit().unwrap();
        let stats = s.db_stats().unwrap();
        assert!(s.merging, "counting waited for the merge");
        assert_eq!((stats[0].keys, stats[0].expires), (10, 1));
        assert_eq!(s.lazyfree_pending().unwrap(), 1);
        assert!(s.merging, "lazyfree_pending waited for the merge");
        release.send(()).unwrap();
        holder.join().unwrap();
        s.merge(true).unwrap();
        assert!(!s.merging);
        // The tables agree (debug builds check each count against them when no merge runs).
        let stats = s.db_stats().unwrap();
        assert_eq!((stats[0].keys, stats[0].expires), (10, 1));
        // A collection queued by the key table's trigger, as the row writer applies a row,
        // is counted too.
        let mut owner = record("", None, 2);
        owner.cid = Some(5);
        s.write_rows(vec![KeyRow {
            db: 0,
            key: Bytes::from_static(b"c").into(),
            row: Some(owner),
            was: Some(absent),
        }])
        .unwrap();
        s.put_element(5, &element("f", "v")).unwrap();
        s.commit().unwrap();
        s.merge(true).unwrap();
        assert_eq!(s.lazyfree_pending().unwrap(), 1);
        s.write_rows(vec![KeyRow {
            db: 0,
            key: Bytes::from_static(b"c").into(),
            row: None,
            was: Some(plain),
        }])
        .unwrap();
        s.commit().unwrap();
        s.merge(true).unwrap();
        assert!(s.lazyfree_known);
        assert_eq!(s.lazyfree_pending().unwrap(), 2);
        // A change made to the table itself is counted from the table again.
        s.sql_execute("DELETE FROM keys WHERE key = CAST('new' AS BLOB)", &[])
            .unwrap();
        assert_eq!(s.db_stats().unwrap()[0].keys, 9);
    }

    #[test]
    fn a_rolled_back_batch_leaves_the_acknowledged_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rb.db");
        let mut s = journaled(path.to_str().unwrap());
        s.put(0, b"kept", record("1", None, 1)).unwrap();
        s.commit().unwrap();
        assert!(!s.in_transaction());
        s.put(0, b"kept", record("2", None, 2)).unwrap();
        s.put(0, b"gone", record("3", None, 3)).unwrap();
        assert!(s.in_transaction());
        s.rollback();
        assert_eq!(s.load(0, b"kept").unwrap(), Some(record("1", None, 1)));
        assert_eq!(s.load(0, b"gone").unwrap(), None);
        s.put(0, b"after", record("4", None, 4)).unwrap();
        s.commit().unwrap();
        s.merge(true).unwrap();
        assert_eq!(s.db_stats().unwrap()[0].keys, 2);
        assert_eq!(s.journal_stats().unwrap().merges, 1);
    }

    #[test]
    fn reads_see_every_key_row_while_the_row_writer_applies_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.db");
        let mut s = journaled(path.to_str().unwrap());
        for round in 0..40u64 {
            for i in 0..300u64 {
                let key = format!("k{i}");
                if (i + round) % 7 == 0 {
                    s.delete(0, key.as_bytes()).unwrap();
                } else {
                    s.put(0, key.as_bytes(), record(&format!("{round}"), None, round))
                        .unwrap();
                }
            }
            s.commit().unwrap(); // wakes the writer, which races the reads below
            for i in 0..300u64 {
                let want = ((i + round) % 7 != 0).then(|| record(&format!("{round}"), None, round));
                assert_eq!(
                    s.load(0, format!("k{i}").as_bytes()).unwrap(),
                    want,
                    "k{i} {round}"
                );
            }
            if round % 10 == 9 {
                s.merge(true).unwrap();
            }
        }
        let deleted = (0..300u64).filter(|i| (i + 39) % 7 == 0).count() as u64;
        assert_eq!(s.db_stats().unwrap()[0].keys, 300 - deleted);
    }

    #[test]
    fn a_read_never_answers_from_the_file_alone_after_the_transaction_was_lost() {
        // SQLite drops the whole open transaction on an I/O error, or on a full disk in a
        // statement without a statement journal (a list item's insert), with the journaled
        // items not merged yet. Until it is rebuilt, the file alone holds none of them: a read
        // then must fail, not say "none".
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lost.db");
        let mut s = journaled(path.to_str().unwrap());
        let item = |i: i64| format!("{i:0>3000}");
        for i in 0..6i64 {
            s.list_put(7, i, item(i).as_bytes()).unwrap();
            s.commit().unwrap();
        }
        // The disk is full (not even the journal's replay fits), and the transaction goes.
        lock(&s.conn).execute_batch("ROLLBACK").unwrap();
        let pages: i64 = count(&s, "PRAGMA page_count");
        lock(&s.conn)
            .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))
            .unwrap();
        for i in 0..6 {
            assert!(
                s.list_get(7, i).is_err(),
                "item {i} read from the file alone"
            );
        }
        assert!(s.needs_rebuild, "the rebuild should not fit");
        lock(&s.conn)
            .query_row("PRAGMA max_page_count = 1000000", [], |_| Ok(()))
            .unwrap();
        for i in 0..6 {
            assert_eq!(
                s.list_get(7, i).unwrap(),
                Some(Bytes::from(item(i))),
                "item {i}"
            );
        }
    }

    #[test]
    fn a_full_disk_fails_the_write_that_does_not_fit_and_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("full.db");
        let path = path.to_str().unwrap();
        let mut s = journaled(path);
        let pages: i64 = lock(&s.conn)
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap();
        // Room for a few more pages only.
        lock(&s.conn)
            .query_row(
                &format!("PRAGMA max_page_count = {}", pages + 4),
                [],
                |_| Ok(()),
            )
            .unwrap();
        let value = "v".repeat(3000);
        let mut acknowledged = 0;
        // Key rows are durable once journaled (acknowledged), and written into the file by
        // the merge: the merge is what finds the disk full, and it is retried later.
        let mut failed_merges = 0;
        for i in 0..200u64 {
            let key = format!("k{i}");
            s.put(0, key.as_bytes(), record(&value, None, i)).unwrap();
            s.commit().unwrap();
            acknowledged += 1;
            if s.merge(true).is_err() {
                failed_merges += 1;
                if failed_merges == 3 {
                    break;
                }
            }
        }
        assert!(acknowledged < 200, "{acknowledged}");
        // Every acknowledged write is still readable, and writing resumes with space.
        for i in 0..acknowledged {
            let got = s.load(0, format!("k{i}").as_bytes()).unwrap();
            assert_eq!(got, Some(record(&value, None, i)), "k{i}");
        }
        lock(&s.conn)
            .query_row("PRAGMA max_page_count = 1000000", [], |_| Ok(()))
            .unwrap();
        s.put(0, b"later", record("x", None, 999)).unwrap();
        s.commit().unwrap();
        drop(s); // a crash: the journal holds it all
        let mut s = journaled(path);
        assert_eq!(s.db_stats().unwrap()[0].keys, acknowledged + 1);
    }

    #[test]
    fn with_keep_batch_a_rollback_keeps_the_writes_since_the_last_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keep.db");
        let path = path.to_str().unwrap();
        let mut s = journaled(path);
        s.set_keep_batch(true);
        s.put(0, b"merged", record("1", None, 1)).unwrap();
        s.commit().unwrap();
        s.put(0, b"c", collection(7)).unwrap();
        s.put_element(7, &element("f", "v")).unwrap();
        // A failed write-behind flush rolls the transaction back: the acknowledged writes
        // since the last commit are applied again, and kept for the next commit.
        s.rollback();
        assert_eq!(s.load(0, b"c").unwrap(), Some(collection(7)));
        assert_eq!(s.element(7, b"f").unwrap(), Some(element("f", "v")));
        assert!(s.in_transaction());
        s.commit().unwrap();
        drop(s); // a crash: the journal holds it
        let mut s = journaled(path);
        assert_eq!(s.element(7, b"f").unwrap(), Some(element("f", "v")));
        assert_eq!(s.db_stats().unwrap()[0].keys, 2);
    }

    #[test]
    fn a_transaction_sqlite_dropped_is_rebuilt_from_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lost.db");
        let mut s = journaled(path.to_str().unwrap());
        // With both filters answering, as on a server past its start (their absent answers
        // read nothing, so they meet no lost transaction).
        filter_ready(&mut s);
        element_filter_ready(&mut s);
        s.put(0, b"a", record("1", None, 1)).unwrap();
        s.commit().unwrap();
        // What SQLite does by itself after some I/O errors: the whole transaction goes.
        lock(&s.conn).execute_batch("ROLLBACK").unwrap();
        assert!(
            s.merge(true).is_err(),
            "a lost transaction must not be merged"
        );
        assert_eq!(s.journal_stats().unwrap().merge_failures, 1);
        // Rebuilt from the journal: the acknowledged write is back, and merges.
        assert_eq!(s.load(0, b"a").unwrap(), Some(record("1", None, 1)));
        s.merge(true).unwrap();
        lock(&s.conn).execute_batch("BEGIN; ROLLBACK").unwrap();
        assert_eq!(s.load(0, b"a").unwrap(), Some(record("1", None, 1)));
        // A write of its own into a lost transaction fails instead of committing on its own
        // (a long value is written at once; a queued row is the row writer's, below).
        s.put_element(9, &element("f", "1")).unwrap();
        lock(&s.conn).execute_batch("ROLLBACK").unwrap();
        let long = "2".repeat(20_000);
        assert!(s.put_element(9, &element("g", &long)).is_err());
        s.rollback();
        assert_eq!(s.element(9, b"f").unwrap(), None);
        assert_eq!(s.load(0, b"a").unwrap(), Some(record("1", None, 1)));
        // Key rows are applied by the row writer: one queued while the transaction is lost is
        // not written on its own (it would commit outside its batch, visible to every other
        // connection); the next settle rebuilds the transaction from the journal instead.
        s.put(0, b"b", record("2", None, 2)).unwrap();
        s.commit().unwrap();
        lock(&s.conn).execute_batch("ROLLBACK").unwrap();
        s.put(0, b"c", record("3", None, 3)).unwrap();
        s.commit().unwrap();
        let _ = s.lazyfree_pending(); // settles the queue
        let other = Connection::open(&path).unwrap();
        let committed: i64 = other
            .query_row(
                "SELECT count(*) FROM keys WHERE key IN (x'62', x'63')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(committed, 0, "a key row committed outside its batch");
        assert_eq!(s.load(0, b"b").unwrap(), Some(record("2", None, 2)));
        assert_eq!(s.load(0, b"c").unwrap(), Some(record("3", None, 3)));
        s.merge(true).unwrap();
        let committed: i64 = other
            .query_row(
                "SELECT count(*) FROM keys WHERE key IN (x'62', x'63')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(committed, 2);
    }

    /// Waits for a filter's build (merge ticks take a finished build into use): the one whose
    /// figures `stats` gives.
    fn ready(s: &mut SqliteStore, stats: fn(&SqliteStore) -> KeyFilterStats) {
        settles(s, stats, "ready");
    }

    /// Waits for a filter's build to leave it in `state`.
    fn settles(s: &mut SqliteStore, stats: fn(&SqliteStore) -> KeyFilterStats, state: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while stats(s).state != state {
            assert!(
                std::time::Instant::now() < deadline,
                "the filter never got {state}: {}",
                stats(s).state
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
            s.merge(false).unwrap();
        }
    }

    /// Waits for the key filter's build.
    fn filter_ready(s: &mut SqliteStore) {
        ready(s, SqliteStore::key_filter_stats);
    }

    /// Waits for the element filter's build.
    fn element_filter_ready(s: &mut SqliteStore) {
        ready(s, SqliteStore::element_filter_stats);
    }

    #[test]
    fn the_key_filter_answers_misses_without_lookups_and_never_hides_a_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("filter.db");
        let path = path.to_str().unwrap();
        {
            let mut s = journaled(path);
            for i in 0..2000u64 {
                s.put(
                    (i % 3) as u32,
                    format!("k{i}").as_bytes(),
                    record("v", None, i),
                )
                .unwrap();
            }
            s.commit().unwrap();
            s.close().unwrap();
        }
        let mut s = journaled(path);
        // Written while the filter is being built: kept in mind and added.
        s.put(0, b"during", record("d", None, 1)).unwrap();
        filter_ready(&mut s);
        s.put(1, b"after", record("a", None, 2)).unwrap();
        s.rename(1, b"after", 2, b"renamed").unwrap();
        for i in 0..2000u64 {
            let got = s.load((i % 3) as u32, format!("k{i}").as_bytes()).unwrap();
            assert!(got.is_some(), "k{i} hidden by the filter");
        }
        assert!(s.load(0, b"during").unwrap().is_some());
        assert!(s.load(2, b"renamed").unwrap().is_some());
        let before = s.key_filter_stats().skipped_lookups;
        for i in 0..1000u64 {
            assert_eq!(s.load(0, format!("missing{i}").as_bytes()).unwrap(), None);
        }
        let skipped = s.key_filter_stats().skipped_lookups - before;
        assert!(
            skipped > 950,
            "only {skipped} of 1000 misses skipped the lookup"
        );
        // A key row a plugin's SQL wrote, which the filter was not told of: it answers
        // nothing until its rebuild has read the row.
        let planted =
            "INSERT INTO keys (db, h, key, type, version, value) VALUES (0, ?1, ?2, 0, 1, ?3)";
        let params = [
            SqlValue::Integer(position(b"planted")),
            SqlValue::Blob(b"planted".to_vec()),
            SqlValue::Blob(b"p".to_vec()),
        ];
        assert_eq!(s.sql_execute(planted, &params).unwrap(), 1);
        assert!(
            s.load(0, b"planted").unwrap().is_some(),
            "hidden by the filter"
        );
        s.commit().unwrap();
        s.merge(true).unwrap();
        filter_ready(&mut s);
        assert!(s.load(0, b"planted").unwrap().is_some());
        assert_eq!(s.load(0, b"missing0").unwrap(), None);
        // After FLUSHALL the filter starts empty, and new keys are found.
        s.flush_all().unwrap();
        assert_eq!(s.load(0, b"k0").unwrap(), None);
        s.put(0, b"k0", record("again", None, 9)).unwrap();
        assert!(s.load(0, b"k0").unwrap().is_some());
        assert!(s.key_filter_stats().bytes > 0);
    }

    /// A filter whose file holds too many rows for its memory cap is not built (lookups go to
    /// SQLite and find every key); a larger cap builds it, a smaller one drops it again, and a
    /// FLUSHALL gives it a filter within any cap.
    #[test]
    fn a_filter_past_its_memory_cap_is_not_built_until_the_cap_allows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("capped.db");
        let path = path.to_str().unwrap();
        let options = JournalOptions {
            // One block, 512 bits: fewer than two bits a key for 2,000 keys.
            filter_max_bytes: 64,
            ..manual_merges()
        };
        {
            let mut s = SqliteStore::open_with(path, Synchronous::Normal, options).unwrap();
            for i in 0..2000u64 {
                s.put(0, format!("k{i}").as_bytes(), record("v", None, i))
                    .unwrap();
            }
            s.commit().unwrap();
            s.close().unwrap();
        }
        let mut s = SqliteStore::open_with(path, Synchronous::Normal, options).unwrap();
        settles(&mut s, SqliteStore::key_filter_stats, "over-budget");
        assert_eq!(s.key_filter_stats().bytes, 0);
        s.put(0, b"new", record("n", None, 1)).unwrap();
        for i in 0..2000u64 {
            assert!(s.load(0, format!("k{i}").as_bytes()).unwrap().is_some());
        }
        assert!(s.load(0, b"new").unwrap().is_some());
        assert_eq!(s.load(0, b"missing").unwrap(), None);
        assert_eq!(s.key_filter_stats().skipped_lookups, 0);
        // Room for it: rebuilt at the next merge, with every key.
        s.set_filter_max_bytes(1 << 20);
        s.commit().unwrap();
        s.merge(true).unwrap();
        filter_ready(&mut s);
        assert_eq!(s.key_filter_stats().bytes, 1 << 20);
        for i in 0..2000u64 {
            assert!(s.load(0, format!("k{i}").as_bytes()).unwrap().is_some());
        }
        assert!(s.load(0, b"new").unwrap().is_some());
        for i in 0..1000u64 {
            assert_eq!(s.load(0, format!("missing{i}").as_bytes()).unwrap(), None);
        }
        assert!(s.key_filter_stats().skipped_lookups > 900);
        // Less room again: dropped at the next merge.
        s.set_filter_max_bytes(64);
        s.commit().unwrap();
        s.merge(true).unwrap();
        settles(&mut s, SqliteStore::key_filter_stats, "over-budget");
        assert!(s.load(0, b"k1999").unwrap().is_some());
        // Every key gone: an empty filter fits, and finds what is written next.
        s.flush_all().unwrap();
        assert_eq!(s.key_filter_stats().state, "ready");
        assert_eq!(s.key_filter_stats().bytes, 64);
        s.put(0, b"k0", record("again", None, 9)).unwrap();
        assert!(s.load(0, b"k0").unwrap().is_some());
        assert_eq!(s.load(0, b"k1").unwrap(), None);
    }

    /// The element filter answers for members no collection holds without reading the file,
    /// and never hides one: rows of the file when it was built, written while it was built,
    /// written since (queued for the row writer and written at once, hash fields, set and
    /// sorted-set members), copied, and written by a plugin's SQL (which it was not told of:
    /// it answers nothing until its rebuild has read them).
    #[test]
    fn the_element_filter_answers_misses_without_lookups_and_never_hides_an_element() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("elements.db");
        let path = path.to_str().unwrap();
        {
            let mut s = journaled(path);
            for i in 0..3000u64 {
                let (cid, sub) = (10 + i % 3, format!("m{i}"));
                s.put_element(cid, &element(&sub, "v")).unwrap();
            }
            s.zset_put(20, b"z", 1.5, None).unwrap();
            s.commit().unwrap();
            s.close().unwrap();
        }
        let mut s = journaled(path);
        // Written while the filter is being built: kept in mind and added.
        s.put_element(10, &element("during", "d")).unwrap();
        element_filter_ready(&mut s);
        assert_eq!(s.element_filter_stats().builds, 1);
        s.put_element(11, &element("after", "a")).unwrap();
        // A value long enough to be kept apart: written at once, not queued.
        s.put_element(11, &element("long", &"x".repeat(20_000)))
            .unwrap();
        s.zset_put(20, b"later", 2.5, None).unwrap();
        s.copy_elements(12, 30).unwrap();
        // Applied to the file, and out of the element cache: only the filter and the file
        // answer.
        s.commit().unwrap();
        s.merge(true).unwrap();
        s.elements.clear();
        let found = |s: &mut SqliteStore, cid: CollectionId, sub: &str| {
            s.element(cid, sub.as_bytes()).unwrap().is_some()
        };
        for i in 0..3000u64 {
            let (cid, sub) = (10 + i % 3, format!("m{i}"));
            assert!(found(&mut s, cid, &sub), "{cid}/{sub} hidden by the filter");
            if cid == 12 {
                assert!(found(&mut s, 30, &sub), "the copy's {sub} hidden");
            }
        }
        assert!(found(&mut s, 10, "during") && found(&mut s, 11, "after"));
        assert!(found(&mut s, 11, "long"));
        assert_eq!(s.zset_score(20, b"z").unwrap(), Some(1.5));
        assert_eq!(s.zset_score(20, b"later").unwrap(), Some(2.5));
        let misses = |s: &mut SqliteStore| {
            let before = s.element_filter_stats().skipped_lookups;
            for i in 0..1000u64 {
                let sub = format!("missing{i}");
                assert!(!found(s, 10, &sub));
                assert_eq!(s.zset_score(20, sub.as_bytes()).unwrap(), None);
            }
            s.element_filter_stats().skipped_lookups - before
        };
        let skipped = misses(&mut s);
        assert!(
            skipped > 1900,
            "only {skipped} of 2000 misses skipped the read"
        );
        // Queued for the row writer and out of the element cache: the filter, asked before
        // the queue, knows of them, and the queue answers (a deletion too).
        s.put_element(13, &element("queued", "q")).unwrap();
        s.zset_put(21, b"queued", 3.5, None).unwrap();
        assert!(s.delete_element(10, b"m0").unwrap());
        for (cid, sub) in [(13, &b"queued"[..]), (21, b"queued"), (10, b"m0")] {
            assert!(s.queued_element(cid, sub).is_some(), "not queued");
        }
        s.elements.clear();
        assert!(found(&mut s, 13, "queued"));
        assert_eq!(s.zset_score(21, b"queued").unwrap(), Some(3.5));
        assert!(!found(&mut s, 10, "m0"));
        // A plugin's row: the filter stops answering, and its rebuild (once the row is in the
        // file) reads it.
        s.commit().unwrap();
        let sql =
            "INSERT INTO elements (cid, h, sub, expire_at, value) VALUES (10, ?1, ?2, NULL, ?3)";
        let params = [
            SqlValue::Integer(position(b"planted")),
            SqlValue::Blob(b"planted".to_vec()),
            SqlValue::Blob(b"p".to_vec()),
        ];
        assert_eq!(s.sql_execute(sql, &params).unwrap(), 1);
        assert!(found(&mut s, 10, "planted"));
        assert_ne!(s.element_filter_stats().state, "ready");
        assert_eq!(misses(&mut s), 0, "a distrusted filter answered");
        s.commit().unwrap();
        s.merge(true).unwrap();
        element_filter_ready(&mut s);
        assert_eq!(s.element_filter_stats().builds, 2);
        assert!(found(&mut s, 10, "planted"));
        assert!(misses(&mut s) > 1900);
    }

    #[test]
    fn a_wanted_filter_rebuild_starts_at_a_background_merge_and_hides_no_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rebuild.db");
        let path = path.to_str().unwrap();
        let options = JournalOptions {
            merge_interval_ms: 1,
            max_bytes: 1 << 30,
            ..JournalOptions::default()
        };
        let mut s = SqliteStore::open_with(path, Synchronous::Normal, options).unwrap();
        filter_ready(&mut s);
        let builds = s.filter.builds;
        // The filter asks for a rebuild (overloaded) while the journal merges in the
        // background, which keeps a transaction open at all times: the rebuild starts with a
        // merge's commit, and the keys written while it commits are not lost to it. The gate
        // holds the merge's commit; whichever merge starts first (the commit's own, the
        // interval being 1 ms, or the one below) takes the rebuild along.
        let gate = s.rows.as_ref().unwrap().merge_gate();
        let held = gate.lock().unwrap();
        s.filter_rebuild = true;
        for i in 0..500u64 {
            s.put(0, format!("before{i}").as_bytes(), record("b", None, i))
                .unwrap();
        }
        s.commit().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2));
        s.merge(false).unwrap();
        assert!(s.merging, "the merge should run on the writer's thread");
        assert!(s.filter.collecting());
        for i in 0..500u64 {
            s.put(0, format!("during{i}").as_bytes(), record("d", None, i))
                .unwrap();
            s.commit().unwrap();
        }
        drop(held);
        s.settle().unwrap(); // collects the merge, which starts the build's read
        s.put(0, b"after", record("a", None, 1)).unwrap();
        s.commit().unwrap();
        filter_ready(&mut s);
        assert_eq!(s.filter.builds, builds + 1, "the rebuild never ran");
        for prefix in ["before", "during"] {
            for i in 0..500u64 {
                let key = format!("{prefix}{i}");
                assert!(s.load(0, key.as_bytes()).unwrap().is_some(), "{key} hidden");
            }
        }
        assert!(s.load(0, b"after").unwrap().is_some());
        let before = s.key_filter_stats().skipped_lookups;
        for i in 0..1000u64 {
            assert_eq!(s.load(0, format!("missing{i}").as_bytes()).unwrap(), None);
        }
        assert!(s.key_filter_stats().skipped_lookups - before > 950);
    }

    #[test]
    fn survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/x.db");
        let path = path.to_str().unwrap();
        {
            let mut s = SqliteStore::open(path, Synchronous::Full).unwrap();
            s.put(1, b"\x00bin\xff", record("v", None, 7)).unwrap();
            s.meta_set("next_version", 8).unwrap();
            s.meta_set_blob("blob", Some(b"\x00\xffcode")).unwrap();
            s.meta_set_blob("gone", Some(b"x")).unwrap();
            s.meta_set_blob("gone", None).unwrap();
            s.close().unwrap();
        }
        let mut s = SqliteStore::open(path, Synchronous::Normal).unwrap();
        assert_eq!(
            s.load(1, b"\x00bin\xff").unwrap(),
            Some(record("v", None, 7))
        );
        assert_eq!(s.meta_get("next_version").unwrap(), Some(8));
        assert_eq!(
            s.meta_get_blob("blob").unwrap(),
            Some(b"\x00\xffcode".to_vec())
        );
        assert_eq!(s.meta_get_blob("gone").unwrap(), None);
    }

    fn element(sub: &str, value: &str) -> Element {
        Element {
            sub: Bytes::copy_from_slice(sub.as_bytes()),
            value: Bytes::copy_from_slice(value.as_bytes()),
            expire_at: None,
        }
    }

    fn collection(cid: u64) -> Record {
        Record {
            kind: ValueType::Hash,
            value: Bytes::from_static(b"\x01\x02"),
            expire_at: None,
            version: 1,
            cid: Some(cid),
            sub_expire_at: None,
        }
    }

    fn element_count(s: &mut SqliteStore, cid: u64) -> usize {
        s.scan_elements(cid, 0, 1000).unwrap().0.len()
    }

    #[test]
    fn replace_element_says_whether_the_element_was_there_and_replays_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("re.db");
        let path = path.to_str().unwrap();
        let mut s = SqliteStore::open(path, Synchronous::Normal).unwrap();
        s.put(0, b"h", collection(9)).unwrap();
        let with_ttl = Element {
            expire_at: Some(i64::MAX),
            ..element("f", "1")
        };
        assert!(!s.replace_element(9, &with_ttl).unwrap());
        assert!(s.replace_element(9, &element("f", "2")).unwrap());
        assert!(!s.replace_element(9, &element("g", "3")).unwrap());
        s.commit().unwrap();
        // The rewrite took the new value and dropped the field's expiry.
        assert_eq!(s.element(9, b"f").unwrap(), Some(element("f", "2")));
        assert_eq!(element_count(&mut s, 9), 2);
        // Unmerged, the journal replays the same rows at the next open.
        assert!(s.journal.as_ref().unwrap().len > 0);
        drop(s);
        let mut s = SqliteStore::open(path, Synchronous::Normal).unwrap();
        assert_eq!(s.element(9, b"f").unwrap(), Some(element("f", "2")));
        assert_eq!(s.element(9, b"g").unwrap(), Some(element("g", "3")));
    }

    /// The element rows as the file holds them, read past the element cache.
    fn stored_elements(
        s: &mut SqliteStore,
        cid: u64,
    ) -> std::collections::BTreeMap<Vec<u8>, (Vec<u8>, Option<i64>)> {
        let mut out = std::collections::BTreeMap::new();
        let mut cursor = 0;
        loop {
            let (page, next) = s.scan_elements(cid, cursor, 100).unwrap();
            for e in page {
                out.insert(e.sub.to_vec(), (e.value.to_vec(), e.expire_at));
            }
            if next == 0 {
                return out;
            }
            cursor = next;
        }
    }

    #[test]
    fn the_element_cache_answers_as_the_file_through_writes_evictions_and_rollbacks() {
        use std::collections::BTreeMap;
        type Model = BTreeMap<u64, BTreeMap<Vec<u8>, (Vec<u8>, Option<i64>)>>;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ec.db");
        let path = path.to_str().unwrap();
        let mut s = journaled(path);
        // An element cache of 32 KB: about 200 entries, for 3 x 300 elements.
        s.set_page_cache_bytes(256 << 10).unwrap();
        let mut next = crate::testing::draws(0x9e37_79b9_7f4a_7c15u64);
        let cids = [11u64, 12, 13];
        for &cid in &cids {
            s.put(0, format!("k{cid}").as_bytes(), collection(cid))
                .unwrap();
        }
        s.commit().unwrap();
        let (mut model, mut committed) = (Model::new(), Model::new());
        let mut copies = 100u64;
        for step in 0..6_000u32 {
            let cid = cids[next(3) as usize];
            let sub = format!("m{}", next(300)).into_bytes();
            let m = model.entry(cid).or_default();
            match next(100) {
                0..=29 => {
                    let got = s.element(cid, &sub).unwrap();
                    let want = m.get(&sub).map(|(v, e)| Element {
                        sub: Bytes::from(sub.clone()),
                        value: Bytes::from(v.clone()),
                        expire_at: *e,
                    });
                    assert_eq!(got, want, "step {step}");
                }
                30..=54 => {
                    // Often the same value again, which the cache leaves unwritten.
                    let value = format!("v{}", next(3)).into_bytes();
                    let expire_at = (next(4) == 0).then_some(1_000 + next(100) as i64);
                    let e = Element {
                        sub: Bytes::from(sub.clone()),
                        value: Bytes::from(value.clone()),
                        expire_at,
                    };
                    let existed = s.replace_element(cid, &e).unwrap();
                    assert_eq!(existed, m.contains_key(&sub), "step {step}");
                    m.insert(sub, (value, expire_at));
                }
                55..=69 => {
                    let existed = s.delete_element(cid, &sub).unwrap();
                    assert_eq!(existed, m.remove(&sub).is_some(), "step {step}");
                }
                70..=74 => {
                    let gone = s.expire_elements(cid, 1_050).unwrap();
                    let due: Vec<Vec<u8>> = m
                        .iter()
                        .filter(|(_, (_, e))| e.is_some_and(|e| e <= 1_050))
                        .map(|(k, _)| k.clone())
                        .collect();
                    let mut gone: Vec<Vec<u8>> = gone.iter().map(|b| b.to_vec()).collect();
                    gone.sort();
                    assert_eq!(gone, due, "step {step}");
                    for k in due {
                        m.remove(&k);
                    }
                }
                75..=76 => {
                    // A copy to a fresh collection, read back, then dropped.
                    copies += 1;
                    s.copy_elements(cid, copies).unwrap();
                    let copy = m.clone();
                    for (k, (v, _)) in &copy {
                        let got = s.element(copies, k).unwrap().unwrap();
                        assert_eq!(got.value.to_vec(), *v, "step {step}");
                    }
                    s.drop_elements(copies).unwrap();
                }
                77..=84 => {
                    s.commit().unwrap();
                    committed = model.clone();
                }
                85..=87 => {
                    s.rollback();
                    model = committed.clone();
                }
                88 => {
                    // A merge: a rollback's replay no longer rewrites what it merged.
                    s.commit().unwrap();
                    committed = model.clone();
                    s.merge(true).unwrap();
                }
                _ => {
                    for &cid in &cids {
                        let want = model.get(&cid).cloned().unwrap_or_default();
                        assert_eq!(stored_elements(&mut s, cid), want, "step {step}");
                    }
                }
            }
            assert!(s.element_cache_stats().bytes <= 32 << 10);
        }
        let stats = s.element_cache_stats();
        // (Fewer hits since the element filter answers for absent elements uncached.)
        assert!(stats.hits > 50 && stats.misses > 500, "{stats:?}");
        // An element of a rolled-back batch alone is gone from the cache with it.
        s.commit().unwrap();
        s.merge(true).unwrap();
        s.replace_element(11, &element("fresh", "1")).unwrap();
        s.delete_element(11, b"m1").unwrap();
        s.rollback();
        assert_eq!(s.element(11, b"fresh").unwrap(), None);
        let m1 = model[&11].get(&b"m1"[..]).map(|(v, _)| v.clone());
        assert_eq!(s.element(11, b"m1").unwrap().map(|e| e.value.to_vec()), m1);
        // A restart replays the same rows.
        s.commit().unwrap();
        drop(s);
        let mut s = journaled(path);
        for &cid in &cids {
            let want = model.get(&cid).cloned().unwrap_or_default();
            assert_eq!(stored_elements(&mut s, cid), want);
        }
    }

    #[test]
    fn element_rows_the_writer_holds_read_merge_and_replay_as_the_writes_made_them() {
        // Without an element cache, every read of an element goes past the queue; with a
        // small one (4 KB), some still do. Without the writes a range read sends to the
        // table at once, every range read meets queued rows.
        element_rows_against_a_model(0, false);
        element_rows_against_a_model(32 << 10, false);
        element_rows_against_a_model(32 << 10, true);
    }

    fn element_rows_against_a_model(page_cache_bytes: u64, ranged_direct: bool) {
        use crate::storage::ScoreBound;
        use std::collections::BTreeMap;
        type Hashes = BTreeMap<u64, BTreeMap<Vec<u8>, Vec<u8>>>;
        type Zsets = BTreeMap<u64, BTreeMap<Vec<u8>, f64>>;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("er.db");
        let path = path.to_str().unwrap();
        let mut s = journaled(path);
        s.set_page_cache_bytes(page_cache_bytes).unwrap();
        let mut next = crate::testing::draws(0x0123_4567_89ab_cdefu64);
        let (hashes, zsets) = ([21u64, 22], [31u64, 32]);
        for cid in hashes.iter().chain(&zsets) {
            s.put(0, format!("k{cid}").as_bytes(), collection(*cid))
                .unwrap();
        }
        s.commit().unwrap();
        let (mut h, mut z) = (Hashes::new(), Zsets::new());
        let (mut h_done, mut z_done) = (h.clone(), z.clone());
        let scores = |s: &mut SqliteStore, cid: u64| -> Vec<(Vec<u8>, f64)> {
            let all = s.zset_range(cid, &ZRange::all(), false, 0, None).unwrap();
            all.into_iter().map(|(m, sc)| (m.to_vec(), sc)).collect()
        };
        let ordered = |m: &BTreeMap<Vec<u8>, f64>| -> Vec<(Vec<u8>, f64)> {
            let mut v: Vec<(Vec<u8>, f64)> = m.iter().map(|(k, s)| (k.clone(), *s)).collect();
            v.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
            v
        };
        for step in 0..8_000u32 {
            if !ranged_direct {
                s.ranged = None;
            }
            let sub = format!("m{}", next(400)).into_bytes();
            // Fewer members in the sorted sets: a range of a few reads more of them.
            let member = format!("z{}", next(60)).into_bytes();
            let hc = hashes[next(2) as usize];
            let zc = zsets[next(2) as usize];
            match next(100) {
                0..=19 => {
                    let value = format!("v{}", next(50)).into_bytes();
                    let e = Element {
                        sub: Bytes::from(sub.clone()),
                        value: Bytes::from(value.clone()),
                        expire_at: None,
                    };
                    let existed = s.replace_element(hc, &e).unwrap();
                    let m = h.entry(hc).or_default();
                    assert_eq!(existed, m.insert(sub, value).is_some(), "step {step}");
                }
                20..=27 => {
                    let existed = s.delete_element(hc, &sub).unwrap();
                    let gone = h.entry(hc).or_default().remove(&sub).is_some();
                    assert_eq!(existed, gone, "step {step}");
                }
                28..=37 => {
                    let got = s.element(hc, &sub).unwrap().map(|e| e.value.to_vec());
                    assert_eq!(got, h.entry(hc).or_default().get(&sub).cloned(), "{step}");
                }
                38..=57 => {
                    // As ZADD does: the member's score first, then its new one.
                    let old = s.zset_score(zc, &member).unwrap();
                    let m = z.entry(zc).or_default();
                    assert_eq!(old, m.get(&member).copied(), "step {step}");
                    let score = next(30) as f64 / 2.0;
                    s.zset_put(zc, &member, score, old).unwrap();
                    m.insert(member, score);
                }
                58..=64 => {
                    let m = z.entry(zc).or_default();
                    if let Some(score) = m.remove(&member) {
                        s.zset_delete(zc, &member, score).unwrap();
                    }
                }
                65..=66 => {
                    let want = ordered(z.entry(zc).or_default());
                    assert_eq!(scores(&mut s, zc), want, "step {step}");
                }
                67..=69 => {
                    // Part of the range, as ZRANGE by rank and ZPOPMIN read it, either way;
                    // and a count of a score range.
                    let (rev, offset, limit) = (next(2) == 1, next(5), 1 + next(4));
                    let mut want = ordered(z.entry(zc).or_default());
                    if rev {
                        want.reverse();
                    }
                    let want: Vec<(Vec<u8>, f64)> = want
                        .into_iter()
                        .skip(offset as usize)
                        .take(limit as usize)
                        .collect();
                    let got = s
                        .zset_range(zc, &ZRange::all(), rev, offset, Some(limit))
                        .unwrap();
                    let got: Vec<(Vec<u8>, f64)> =
                        got.into_iter().map(|(m, sc)| (m.to_vec(), sc)).collect();
                    assert_eq!(got, want, "step {step}");
                    if offset == 0 && next(2) == 0 {
                        // Popped, as ZPOPMIN and ZPOPMAX do: what the next read from the
                        // same end finds in what the store kept of that end.
                        for (member, score) in &got {
                            s.zset_delete(zc, member, *score).unwrap();
                            z.entry(zc).or_default().remove(member);
                        }
                    }
                    let (lo, hi) = (next(15) as f64, 7.0 + next(8) as f64);
                    let (lo_b, hi_b) = (ScoreBound::inclusive(lo), ScoreBound::inclusive(hi));
                    let range = ZRange::scores(lo_b, hi_b);
                    let n = z[&zc].values().filter(|&&sc| sc >= lo && sc <= hi).count();
                    assert_eq!(s.zset_count(zc, &range).unwrap(), n as u64, "step {step}");
                }
                70..=72 => {
                    let want: BTreeMap<Vec<u8>, (Vec<u8>, Option<i64>)> = h
                        .entry(hc)
                        .or_default()
                        .iter()
                        .map(|(k, v)| (k.clone(), (v.clone(), None)))
                        .collect();
                    assert_eq!(stored_elements(&mut s, hc), want, "step {step}");
                }
                73..=86 => {
                    s.commit().unwrap();
                    (h_done, z_done) = (h.clone(), z.clone());
                }
                87..=89 => {
                    s.rollback();
                    (h, z) = (h_done.clone(), z_done.clone());
                }
                90..=93 => {
                    // A merge on the writer's thread, which takes the rows queued so far
                    // while later writes queue theirs.
                    s.commit().unwrap();
                    (h_done, z_done) = (h.clone(), z.clone());
                    s.start_merge().unwrap();
                }
                94 => {
                    s.commit().unwrap();
                    (h_done, z_done) = (h.clone(), z.clone());
                    s.merge(true).unwrap();
                }
                _ => {
                    // A copy reads the whole collection from the table.
                    let copy = 1_000 + u64::from(step);
                    s.copy_elements(zc, copy).unwrap();
                    let want = ordered(z.entry(zc).or_default());
                    assert_eq!(scores(&mut s, copy), want, "step {step}");
                    s.drop_elements(copy).unwrap();
                }
            }
        }
        let stats = s.journal_stats().unwrap();
        assert!(
            stats.element_rows_applied > 1_000 && stats.element_rows_coalesced > 0,
            "{stats:?}"
        );
        s.commit().unwrap();
        let check = |s: &mut SqliteStore, h: &mut Hashes, z: &mut Zsets| {
            for cid in hashes {
                let want: BTreeMap<Vec<u8>, (Vec<u8>, Option<i64>)> = h
                    .entry(cid)
                    .or_default()
                    .iter()
                    .map(|(k, v)| (k.clone(), (v.clone(), None)))
                    .collect();
                assert_eq!(stored_elements(s, cid), want);
            }
            for cid in zsets {
                assert_eq!(scores(s, cid), ordered(z.entry(cid).or_default()));
                // The score index and the members' rows agree.
                let rows = stored_elements(s, cid);
                assert_eq!(rows.len(), z.entry(cid).or_default().len());
            }
        };
        // Dropped without closing, with rows still queued: the journal replays them.
        s.replace_element(21, &element("late", "1")).unwrap();
        s.zset_put(31, b"late", 99.0, z[&31].get(&b"late"[..]).copied())
            .unwrap();
        s.commit().unwrap();
        h.entry(21)
            .or_default()
            .insert(b"late".to_vec(), b"1".to_vec());
        z.entry(31).or_default().insert(b"late".to_vec(), 99.0);
        drop(s);
        let mut s = journaled(path);
        check(&mut s, &mut h, &mut z);
        s.merge(true).unwrap();
        drop(s);
        let mut s = journaled(path);
        check(&mut s, &mut h, &mut z);
    }

    #[test]
    fn pops_from_an_end_match_a_model_with_writes_between() {
        // ZPOPMIN and ZPOPMAX read the first members of a large sorted set from what the
        // store kept of that end (`zset_end`): writes before, at and past the last kept
        // member, deletions, commits, rollbacks and merges between them.
        use std::collections::BTreeMap;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pops.db");
        let path = path.to_str().unwrap();
        let mut s = journaled(path);
        let mut next = crate::testing::draws(0x2545_f491_4f6c_dd1du64);
        let cid = 77;
        let ordered = |m: &BTreeMap<Vec<u8>, f64>, rev: bool| -> Vec<(Vec<u8>, f64)> {
            let mut v: Vec<(Vec<u8>, f64)> = m.iter().map(|(k, s)| (k.clone(), *s)).collect();
            v.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
            if rev {
                v.reverse();
            }
            v
        };
        let (mut z, mut hits) = (BTreeMap::<Vec<u8>, f64>::new(), 0);
        for i in 0..600 {
            let member = format!("m{i}").into_bytes();
            let score = next(1_000) as f64;
            s.zset_put(cid, &member, score, None).unwrap();
            z.insert(member, score);
        }
        let mut done = z.clone();
        for step in 0..20_000u32 {
            let rev = step % 4_000 >= 3_000; // mostly ZPOPMIN, then a run of ZPOPMAX
            match next(100) {
                0..=49 => {
                    // Mostly past the first members from the lowest end, now and then among
                    // them.
                    let member = format!("m{}", next(2_000)).into_bytes();
                    let old = z.get(&member).copied();
                    let score = match next(10) {
                        0 => next(300),
                        _ => 300 + next(700),
                    } as f64;
                    s.zset_put(cid, &member, score, old).unwrap();
                    z.insert(member, score);
                }
                50..=54 => {
                    let member = format!("m{}", next(2_000)).into_bytes();
                    if let Some(score) = z.remove(&member) {
                        s.zset_delete(cid, &member, score).unwrap();
                    }
                }
                55..=89 => {
                    let count = 1 + next(3) as usize;
                    let want: Vec<(Vec<u8>, f64)> =
                        ordered(&z, rev).into_iter().take(count).collect();
                    hits += usize::from(s.elements.zset_end.first(cid, rev, count).is_some());
                    let got = s
                        .zset_range(cid, &ZRange::all(), rev, 0, Some(count as u64))
                        .unwrap();
                    let got: Vec<(Vec<u8>, f64)> =
                        got.into_iter().map(|(m, sc)| (m.to_vec(), sc)).collect();
                    assert_eq!(got, want, "step {step}");
                    for (member, score) in &got {
                        s.zset_delete(cid, member, *score).unwrap();
                        z.remove(member);
                    }
                }
                90..=95 => {
                    s.commit().unwrap();
                    done = z.clone();
                }
                96 => {
                    s.rollback();
                    z = done.clone();
                }
                97 => {
                    s.commit().unwrap();
                    done = z.clone();
                    s.start_merge().unwrap();
                }
                _ => {
                    // A read of the middle, which applies queued rows and reads the table.
                    let offset = next(20);
                    let want: Vec<(Vec<u8>, f64)> = ordered(&z, false)
                        .into_iter()
                        .skip(offset as usize)
                        .take(5)
                        .collect();
                    let got = s
                        .zset_range(cid, &ZRange::all(), false, offset, Some(5))
                        .unwrap();
                    let got: Vec<(Vec<u8>, f64)> =
                        got.into_iter().map(|(m, sc)| (m.to_vec(), sc)).collect();
                    assert_eq!(got, want, "step {step}");
                }
            }
        }
        assert!(hits > 1_000, "pops found the kept members {hits} times");
        s.commit().unwrap();
        drop(s);
        let mut s = journaled(path);
        let all = s.zset_range(cid, &ZRange::all(), false, 0, None).unwrap();
        let all: Vec<(Vec<u8>, f64)> = all.into_iter().map(|(m, sc)| (m.to_vec(), sc)).collect();
        assert_eq!(all, ordered(&z, false));
    }

    #[test]
    fn sorted_set_scores_come_from_the_element_cache_as_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zc.db");
        let path = path.to_str().unwrap();
        let mut s = journaled(path);
        s.set_page_cache_bytes(8 << 20).unwrap();
        assert_eq!(s.zset_score(4, b"a").unwrap(), None);
        s.zset_put(4, b"a", 1.5, None).unwrap();
        assert_eq!(s.zset_score(4, b"a").unwrap(), Some(1.5));
        s.zset_put(4, b"a", 2.5, Some(1.5)).unwrap();
        s.commit().unwrap();
        s.zset_delete(4, b"a", 2.5).unwrap();
        assert_eq!(s.zset_score(4, b"a").unwrap(), None);
        s.rollback();
        assert_eq!(s.zset_score(4, b"a").unwrap(), Some(2.5));
        let all = s.zset_range(4, &ZRange::all(), false, 0, None).unwrap();
        assert_eq!(all, vec![(Bytes::from_static(b"a"), 2.5)]);
        let stats = s.element_cache_stats();
        assert!(stats.hits >= 3, "{stats:?}");
    }

    #[test]
    fn elements_follow_their_key_through_rename_and_go_with_it() {
        let mut s = SqliteStore::open(":memory:", Synchronous::Normal).unwrap();
        s.put(0, b"h", collection(7)).unwrap();
        s.put_element(7, &element("a", "1")).unwrap();
        s.put_element(7, &element("b", "2")).unwrap();
        assert!(s.rename(0, b"h", 2, b"h2").unwrap());
        assert_eq!(s.load(0, b"h").unwrap(), None);
        assert_eq!(s.load(2, b"h2").unwrap().unwrap().cid, Some(7));
        assert_eq!(element_count(&mut s, 7), 2);
        assert_eq!(s.db_stats().unwrap()[0].db, 2, "counts follow the move");
        // Overwriting the row with a string queues the elements for removal, as does
        // deleting it; reclaim steps remove them.
        s.put(2, b"h2", record("s", None, 2)).unwrap();
        assert_eq!(s.lazyfree_pending().unwrap(), 1);
        s.put(0, b"x", collection(8)).unwrap();
        s.put_element(8, &element("a", "1")).unwrap();
        s.copy_elements(8, 9).unwrap();
        s.delete(0, b"x").unwrap();
        assert_eq!(s.lazyfree_pending().unwrap(), 2);
        reclaim_all(&mut s);
        assert_eq!(element_count(&mut s, 7), 0);
        assert_eq!(element_count(&mut s, 8), 0);
        assert_eq!(element_count(&mut s, 9), 1, "a copy is its own collection");
    }

    fn reclaim_all(s: &mut SqliteStore) -> u64 {
        let mut steps = 0;
        while s.reclaim(1).unwrap().worked() {
            steps += 1;
        }
        steps
    }

    #[test]
    fn flushing_everything_keeps_the_counting_trigger_and_other_databases() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flush.db");
        let mut s = journaled(path.to_str().unwrap());
        for i in 0..100u64 {
            s.put(
                (i % 2) as u32,
                format!("k{i}").as_bytes(),
                record("v", None, i),
            )
            .unwrap();
        }
        s.commit().unwrap();
        s.flush_db(0).unwrap(); // db 1 has keys: db 0 moves to a fresh slot
        assert_eq!(s.db_stats().unwrap().len(), 1);
        assert_eq!(s.load(1, b"k1").unwrap(), Some(record("v", None, 1)));
        s.flush_db(1).unwrap(); // the only one left: the whole table at once
        s.flush_all().unwrap();
        assert!(s.db_stats().unwrap().is_empty());
        s.put(0, b"a", record("v", None, 1)).unwrap();
        s.put(0, b"b", record("v", None, 2)).unwrap();
        s.delete(0, b"a").unwrap();
        s.commit().unwrap();
        s.merge(true).unwrap();
        assert_eq!(
            s.db_stats().unwrap()[0].keys,
            1,
            "the delete trigger still counts"
        );
        let triggers: i64 = lock(&s.conn)
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'keys_count_delete'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(triggers, 1);
    }

    fn count(s: &SqliteStore, sql: &str) -> i64 {
        lock(&s.conn).query_row(sql, [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn long_values_go_with_flushes_and_reclaimed_databases() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("apart.db");
        let mut s = journaled(path.to_str().unwrap());
        let long = "L".repeat(super::super::values::VALUE_APART * 3);
        for i in 0..40u64 {
            s.put(
                (i % 2) as u32,
                format!("k{i}").as_bytes(),
                record(&long, None, i),
            )
            .unwrap();
        }
        s.commit().unwrap();
        s.merge(true).unwrap();
        assert_eq!(count(&s, "SELECT count(*) FROM key_values"), 40);
        assert_eq!(s.load(1, b"k7").unwrap(), Some(record(&long, None, 7)));
        s.flush_db(0).unwrap(); // detached: its rows, and their values, go in steps
        reclaim_detached_rows(&mut s, 7);
        s.merge(true).unwrap();
        assert_eq!(count(&s, "SELECT count(*) FROM key_values"), 20);
        s.flush_all().unwrap(); // the whole table at once, without the triggers
        s.commit().unwrap();
        s.merge(true).unwrap();
        assert_eq!(count(&s, "SELECT count(*) FROM key_values"), 0);
        assert_eq!(
            count(
                &s,
                "SELECT count(*) FROM sqlite_master WHERE name = 'keys_drop_value'"
            ),
            1
        );
        s.put(0, b"again", record(&long, None, 99)).unwrap();
        s.commit().unwrap();
        s.delete(0, b"again").unwrap();
        s.commit().unwrap();
        s.merge(true).unwrap();
        assert_eq!(count(&s, "SELECT count(*) FROM key_values"), 0);
    }

    /// The bytes the file grew by while `write(store, i)` ran for i in 0..2000, committed
    /// every 100 and merged.
    fn file_growth(write: impl Fn(&mut SqliteStore, u64)) -> i64 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("size.db");
        let mut s = journaled(path.to_str().unwrap());
        let before = count(&s, "PRAGMA page_count");
        for i in 0..2000u64 {
            write(&mut s, i);
            if i % 100 == 99 {
                s.commit().unwrap();
            }
        }
        s.commit().unwrap();
        s.merge(true).unwrap();
        (count(&s, "PRAGMA page_count") - before) * count(&s, "PRAGMA page_size")
    }

    #[test]
    fn values_of_a_kilobyte_take_about_their_size_on_disk() {
        // Kept in the key table, each took an overflow page of its own: 4.7 KB per key.
        let value = "v".repeat(1000);
        let bytes = file_growth(|s, i| {
            s.put(0, format!("key:{i:08}").as_bytes(), record(&value, None, i))
                .unwrap()
        });
        assert!(bytes < 2000 * 1400, "{} bytes per key", bytes / 2000);
    }

    #[test]
    fn a_version_4_file_keeps_its_values_and_writes_long_ones_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v4.db");
        let path = path.to_str().unwrap();
        let inline = "i".repeat(2000);
        {
            // A version 4 file: long values in the key table, no `blob`, no `key_values`.
            let mut s = SqliteStore::open(path, Synchronous::Normal).unwrap();
            s.put(0, b"short", record("s", None, 1)).unwrap();
            s.commit().unwrap();
            drop(s);
            let conn = Connection::open(path).unwrap();
            conn.execute_batch(
                "DROP TRIGGER keys_drop_value; DROP TRIGGER keys_replace_value;
                 DROP TABLE key_values; ALTER TABLE keys DROP COLUMN blob;
                 UPDATE meta SET value = 4 WHERE name = 'schema_version';",
            )
            .unwrap();
            conn.execute(
                "INSERT INTO keys (db, h, key, type, expire_at, version, value)
                 VALUES (0, ?1, x'6f6c64', 0, NULL, 2, ?2)",
                params![position(b"old"), inline.as_bytes()],
            )
            .unwrap();
        }
        let mut s = journaled(path);
        assert_eq!(s.meta_get("schema_version").unwrap(), Some(SCHEMA_VERSION));
        assert_eq!(s.load(0, b"old").unwrap(), Some(record(&inline, None, 2)));
        assert_eq!(s.load(0, b"short").unwrap(), Some(record("s", None, 1)));
        let long = "n".repeat(3000);
        s.put(0, b"old", record(&long, None, 3)).unwrap(); // now apart
        s.put(0, b"new", record(&long, None, 4)).unwrap();
        s.commit().unwrap();
        s.merge(true).unwrap();
        assert_eq!(count(&s, "SELECT count(*) FROM key_values"), 2);
        drop(s);
        let mut s = journaled(path);
        assert_eq!(s.load(0, b"old").unwrap(), Some(record(&long, None, 3)));
        assert_eq!(s.load(0, b"new").unwrap(), Some(record(&long, None, 4)));
        assert_eq!(s.db_stats().unwrap()[0].keys, 3);
    }

    fn list(cid: u64) -> Record {
        Record {
            kind: ValueType::List,
            ..collection(cid)
        }
    }

    #[test]
    fn long_element_values_live_apart_and_go_with_their_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("elements.db");
        let mut s = journaled(path.to_str().unwrap());
        let values = |s: &SqliteStore| count(s, "SELECT count(*) FROM key_values");
        let (long, longer) = ("L".repeat(1500), "M".repeat(3000));
        s.put(0, b"h", collection(7)).unwrap();
        s.put_element(7, &element("a", &long)).unwrap();
        s.put_element(7, &element("b", "short")).unwrap();
        assert!(!s.replace_element(7, &element("c", &long)).unwrap());
        assert_eq!(values(&s), 2);
        assert_eq!(s.element(7, b"a").unwrap(), Some(element("a", &long)));
        // Rewritten in place, moved back into its row, moved apart again.
        assert!(s.replace_element(7, &element("a", &longer)).unwrap());
        assert_eq!(values(&s), 2);
        assert_eq!(s.element(7, b"a").unwrap(), Some(element("a", &longer)));
        s.put_element(7, &element("a", "back")).unwrap();
        assert_eq!(values(&s), 1);
        s.put_element(7, &element("b", &long)).unwrap();
        assert_eq!(values(&s), 2);
        let (page, _) = s.scan_elements(7, 0, 10).unwrap();
        let mut page: Vec<_> = page.into_iter().map(|e| (e.sub, e.value)).collect();
        page.sort();
        assert_eq!(
            page,
            vec![
                (Bytes::from("a"), Bytes::from("back")),
                (Bytes::from("b"), Bytes::from(long.clone())),
                (Bytes::from("c"), Bytes::from(long.clone())),
            ]
        );
        assert!(s.delete_element(7, b"b").unwrap());
        assert_eq!(values(&s), 1);
        // Field expiry takes the value along.
        let expiring = Element {
            expire_at: Some(10),
            ..element("d", &long)
        };
        s.put_element(7, &expiring).unwrap();
        assert_eq!(values(&s), 2);
        assert_eq!(s.expire_elements(7, 11).unwrap(), vec![Bytes::from("d")]);
        assert_eq!(values(&s), 1);

        // Lists: pushes, an overwrite in place (LSET), a short value over a long one, pops.
        s.put(0, b"l", list(8)).unwrap();
        for pos in 0..4 {
            s.list_put(8, pos, if pos % 2 == 0 { long.as_bytes() } else { b"s" })
                .unwrap();
        }
        assert_eq!(values(&s), 3);
        s.list_put(8, 0, longer.as_bytes()).unwrap();
        s.list_put(8, 2, b"t").unwrap();
        assert_eq!(values(&s), 2);
        assert_eq!(s.list_get(8, 0).unwrap(), Some(Bytes::from(longer.clone())));
        assert_eq!(
            s.list_range(8, 0, 3, true).unwrap(),
            vec![
                Bytes::from("s"),
                Bytes::from("t"),
                Bytes::from("s"),
                Bytes::from(longer.clone())
            ]
        );
        assert_eq!(s.list_delete_range(8, 0, 1).unwrap(), 2);
        assert_eq!(values(&s), 1);
        s.list_put(8, 4, long.as_bytes()).unwrap();
        assert_eq!(values(&s), 2);

        // Ordered rows (stream entries), trimmed.
        s.put(0, b"x", collection(9)).unwrap();
        for i in 0..4u8 {
            s.ordered_put(9, 1, &[i], long.as_bytes()).unwrap();
        }
        assert_eq!(values(&s), 6);
        let range = s.ordered_range(9, 1, &[0], &[9], false, None).unwrap();
        assert_eq!(range.len(), 4);
        assert!(range.iter().all(|(_, v)| v == long.as_bytes()));
        assert_eq!(s.ordered_trim(9, 1, Some(&[2]), 10).unwrap(), 2);
        assert!(s.ordered_delete(9, 1, &[3]).unwrap());
        assert_eq!(values(&s), 3);

        // A copy has values of its own: the original's reclaim leaves them.
        s.copy_elements(7, 17).unwrap();
        s.copy_elements(8, 18).unwrap();
        assert_eq!(values(&s), 5);
        s.commit().unwrap();
        s.merge(true).unwrap(); // the key rows' deletes then queue their collections
        s.delete(0, b"h").unwrap();
        s.delete(0, b"l").unwrap();
        s.delete(0, b"x").unwrap();
        assert_eq!(s.lazyfree_pending().unwrap(), 3);
        reclaim_all(&mut s);
        assert_eq!(values(&s), 2);
        assert_eq!(s.element(17, b"c").unwrap(), Some(element("c", &long)));
        assert_eq!(s.list_get(18, 3).unwrap(), Some(Bytes::from("s")));
        assert_eq!(s.list_get(18, 4).unwrap(), Some(Bytes::from(long.clone())));
        assert_eq!(s.list_get(18, 2).unwrap(), Some(Bytes::from("t")));
        assert_eq!(
            count(&s, "SELECT count(*) FROM apart_collections"),
            2,
            "reclaimed collections are no longer listed"
        );

        // Unmerged, the journal replays the same rows and values at the next open.
        s.commit().unwrap();
        drop(s);
        let mut s = journaled(path.to_str().unwrap());
        assert_eq!(values(&s), 2);
        assert_eq!(s.element(17, b"c").unwrap(), Some(element("c", &long)));
        assert_eq!(s.element(17, b"a").unwrap(), Some(element("a", "back")));
        s.merge(true).unwrap();
        drop(s);
        let mut s = journaled(path.to_str().unwrap());
        assert_eq!(s.element(17, b"c").unwrap(), Some(element("c", &long)));
        assert!(
            s.delete_element(17, b"c").unwrap(),
            "the reopened store knows it"
        );
        assert_eq!(values(&s), 1);
        assert_eq!(s.list_delete_range(18, 0, 10).unwrap(), 3);
        assert_eq!(values(&s), 0);
    }

    #[test]
    fn element_rows_that_fit_their_page_keep_their_values() {
        // A long string's 960-byte chunks, and any name and value that fit a page's row.
        let mut s = SqliteStore::open(":memory:", Synchronous::Normal).unwrap();
        s.ordered_put(3, -4, &[0; 8], &[7; 960]).unwrap();
        s.put_element(3, &element("f", &"v".repeat(900))).unwrap();
        s.list_put(4, 0, &[1; 971]).unwrap();
        assert_eq!(count(&s, "SELECT count(*) FROM key_values"), 0);
        assert_eq!(count(&s, "SELECT count(*) FROM apart_collections"), 0);
        s.list_put(4, 1, &[1; 972]).unwrap();
        assert_eq!(count(&s, "SELECT count(*) FROM key_values"), 1);
        // A long name with a short value overflows its page either way: the value stays.
        s.put_element(3, &element(&"n".repeat(1500), "short"))
            .unwrap();
        assert_eq!(count(&s, "SELECT count(*) FROM key_values"), 1);
    }

    #[test]
    fn hash_fields_and_list_items_of_a_kilobyte_take_about_their_size_on_disk() {
        // Kept in their rows, each took an overflow page of its own: 4.7 to 5.1 KB.
        let value = "v".repeat(1000);
        let bytes = file_growth(|s, i| {
            s.put_element(1, &element(&format!("field:{i:08}"), &value))
                .unwrap();
            s.list_put(2, i as i64, value.as_bytes()).unwrap();
        });
        assert!(bytes < 4000 * 1400, "{} bytes per element", bytes / 4000);
    }

    #[test]
    fn flushing_the_only_database_leaves_element_values_to_the_reclaim() {
        let mut s = SqliteStore::open(":memory:", Synchronous::Normal).unwrap();
        let long = "L".repeat(2000);
        s.put(0, b"k", record(&long, None, 1)).unwrap();
        s.put(0, b"h", collection(5)).unwrap();
        s.put_element(5, &element("a", &long)).unwrap();
        s.flush_db(0).unwrap();
        // The element's value stays while its row does: ids of deleted rows are reused.
        assert_eq!(count(&s, "SELECT count(*) FROM key_values"), 1);
        s.put(0, b"new", record(&long, None, 2)).unwrap();
        reclaim_all(&mut s);
        assert_eq!(count(&s, "SELECT count(*) FROM key_values"), 1);
        assert_eq!(s.load(0, b"new").unwrap(), Some(record(&long, None, 2)));
        s.flush_all().unwrap();
        assert_eq!(count(&s, "SELECT count(*) FROM key_values"), 0);
        assert_eq!(count(&s, "SELECT count(*) FROM apart_collections"), 0);
    }

    #[test]
    fn a_version_5_file_gets_element_value_pointers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v5.db");
        let path = path.to_str().unwrap();
        let inline = "i".repeat(2000);
        {
            let mut s = SqliteStore::open(path, Synchronous::Normal).unwrap();
            s.put(0, b"h", collection(6)).unwrap();
            s.put_element(6, &element("old", "o")).unwrap();
            s.commit().unwrap();
            s.merge(true).unwrap();
            drop(s);
            let conn = Connection::open(path).unwrap();
            conn.execute_batch(
                "DELETE FROM elements;
                 DROP TRIGGER keys_count_delete; DROP TRIGGER keys_replace_collection;
                 DROP TABLE apart_collections;
                 ALTER TABLE elements DROP COLUMN blob; ALTER TABLE list_items DROP COLUMN blob;
                 UPDATE meta SET value = 5 WHERE name = 'schema_version';",
            )
            .unwrap();
            conn.execute(
                "INSERT INTO elements (cid, h, sub, expire_at, value) VALUES (6, ?1, x'6f6c64', NULL, ?2)",
                params![position(b"old"), inline.as_bytes()],
            )
            .unwrap();
        }
        let mut s = journaled(path);
        assert_eq!(s.meta_get("schema_version").unwrap(), Some(SCHEMA_VERSION));
        assert_eq!(s.element(6, b"old").unwrap(), Some(element("old", &inline)));
        s.put_element(6, &element("new", &inline)).unwrap();
        s.put_element(6, &element("old", &inline)).unwrap();
        assert_eq!(count(&s, "SELECT count(*) FROM key_values"), 2);
        assert_eq!(s.element(6, b"old").unwrap(), Some(element("old", &inline)));
    }

    /// Key rows in the table, whatever their slot.
    fn key_rows(s: &mut SqliteStore) -> i64 {
        s.settle().unwrap();
        lock(&s.conn)
            .query_row("SELECT count(*) FROM keys", [], |r| r.get(0))
            .unwrap()
    }

    /// Runs reclaim steps of `limit` rows until nothing is left; returns the flushed
    /// databases' key rows they deleted.
    fn reclaim_detached_rows(s: &mut SqliteStore, limit: u64) -> u64 {
        let mut keys = 0;
        loop {
            let step = s.reclaim(limit).unwrap();
            if !step.worked() {
                return keys;
            }
            if step.detached.is_some() {
                keys += step.rows;
            }
        }
    }

    #[test]
    fn flushing_one_database_among_several_detaches_it_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("detach.db");
        let mut s = journaled(path.to_str().unwrap());
        for i in 0..50u64 {
            let expiry = (i < 10).then_some(5); // long past
            s.put(0, format!("k{i}").as_bytes(), record("old", expiry, i))
                .unwrap();
        }
        s.put(0, b"h", collection(7)).unwrap();
        for f in ["a", "b", "c"] {
            s.put_element(7, &element(f, "v")).unwrap();
        }
        for i in 0..5u64 {
            s.put(1, format!("o{i}").as_bytes(), record("other", None, i))
                .unwrap();
        }
        s.put(1, b"e", record("expired", Some(5), 9)).unwrap();
        s.commit().unwrap();
        let rows_before = key_rows(&mut s);

        s.flush_db(0).unwrap();
        // Nothing was deleted yet, yet db 0 is empty for every reader.
        assert_eq!(key_rows(&mut s), rows_before);
        assert_eq!(s.load(0, b"k1").unwrap(), None);
        assert_eq!(s.load(0, b"h").unwrap(), None);
        assert_eq!(s.scan(0, 0, 100).unwrap(), (vec![], 0));
        assert_eq!(s.random_key(0, 42).unwrap(), None);
        assert_eq!(
            s.db_stats().unwrap(),
            vec![DbStats {
                db: 1,
                keys: 6,
                expires: 1
            }]
        );
        assert_eq!(
            s.expired_keys(100, 100).unwrap(),
            vec![(1, Bytes::from_static(b"e"))],
            "the flushed keys never expire again"
        );
        assert_eq!(
            s.lazyfree_pending().unwrap(),
            51,
            "its keys wait to be freed"
        );

        // Written right after the flush, one under an old key's name: never reclaimed.
        s.put(0, b"fresh", record("new", None, 100)).unwrap();
        s.put(0, b"k3", record("new", None, 101)).unwrap();
        s.commit().unwrap();
        assert_eq!(reclaim_detached_rows(&mut s, 7), 51);
        assert_eq!(s.lazyfree_pending().unwrap(), 0);
        assert_eq!(
            element_count(&mut s, 7),
            0,
            "the collection went with its key"
        );
        assert_eq!(key_rows(&mut s), 2 + 6);
        assert_eq!(s.load(0, b"k3").unwrap(), Some(record("new", None, 101)));
        assert_eq!(s.load(0, b"fresh").unwrap(), Some(record("new", None, 100)));
        assert_eq!(s.load(1, b"o2").unwrap(), Some(record("other", None, 2)));
        let keys: Vec<DbIndex> = s
            .db_stats()
            .unwrap()
            .iter()
            .map(|d| d.keys as u32)
            .collect();
        assert_eq!(keys, vec![2, 6]);
        let (page, _) = s.scan(0, 0, 100).unwrap();
        assert_eq!(page.len(), 2);

        // A database flushed again moves again; FLUSHALL puts every database back home.
        s.flush_db(0).unwrap();
        assert_eq!(s.load(0, b"k3").unwrap(), None);
        s.rename(1, b"o1", 0, b"moved").unwrap();
        assert_eq!(s.load(0, b"moved").unwrap(), Some(record("other", None, 1)));
        s.flush_all().unwrap();
        assert_eq!(s.lazyfree_pending().unwrap(), 0);
        s.put(0, b"a", record("v", None, 1)).unwrap();
        s.commit().unwrap();
        s.merge(true).unwrap();
        let db: i64 = lock(&s.conn)
            .query_row("SELECT db FROM keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(db, 0);
    }

    #[test]
    fn a_rolled_back_flush_gives_the_keys_back() {
        let mut s = SqliteStore::open(":memory:", Synchronous::Normal).unwrap();
        s.put(0, b"a", record("v", None, 1)).unwrap();
        s.put(1, b"b", record("v", None, 2)).unwrap();
        s.commit().unwrap();
        s.flush_db(0).unwrap();
        assert_eq!(s.load(0, b"a").unwrap(), None);
        s.rollback();
        assert_eq!(s.load(0, b"a").unwrap(), Some(record("v", None, 1)));
        assert_eq!(s.db_stats().unwrap().len(), 2);
        assert_eq!(s.lazyfree_pending().unwrap(), 0);
    }

    #[test]
    fn a_flush_and_its_reclaim_steps_replay_to_the_same_state_after_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("replay.db");
        let path = path.to_str().unwrap();
        {
            let mut s = journaled(path);
            for i in 0..100u64 {
                s.put(
                    (i % 10 == 0) as u32,
                    format!("k{i}").as_bytes(),
                    record("v", None, i),
                )
                .unwrap();
            }
            s.commit().unwrap();
            s.merge(true).unwrap();
            s.flush_db(0).unwrap();
            s.put(0, b"k1", record("new", None, 200)).unwrap();
            s.commit().unwrap();
            for _ in 0..2 {
                assert_eq!(s.reclaim(30).unwrap().rows, 30);
            }
            s.commit().unwrap();
            // Dropped without close: the open SQLite transaction is rolled back, as on kill -9.
        }
        let mut s = journaled(path);
        assert_eq!(s.journal_stats().unwrap().replayed_records, 2);
        assert_eq!(s.load(0, b"k1").unwrap(), Some(record("new", None, 200)));
        assert_eq!(s.load(0, b"k2").unwrap(), None);
        assert_eq!(s.load(1, b"k10").unwrap(), Some(record("v", None, 10)));
        assert_eq!(s.lazyfree_pending().unwrap(), 90 - 60);
        assert_eq!(key_rows(&mut s), 1 + 10 + 30);
        // The replay's merge wrote the slots to the file: a clean restart keeps them.
        s.close().unwrap();
        drop(s);
        let mut s = journaled(path);
        assert_eq!(s.load(0, b"k1").unwrap(), Some(record("new", None, 200)));
        assert_eq!(s.lazyfree_pending().unwrap(), 30);
        assert_eq!(reclaim_detached_rows(&mut s, 1000), 30);
        let keys: Vec<u64> = s.db_stats().unwrap().iter().map(|d| d.keys).collect();
        assert_eq!(keys, vec![1, 10]);
        assert_eq!(s.load(0, b"k1").unwrap(), Some(record("new", None, 200)));
    }

    #[test]
    fn a_deleted_collection_is_reclaimed_in_bounded_steps_of_every_table() {
        let mut s = SqliteStore::open(":memory:", Synchronous::Normal).unwrap();
        s.put(0, b"h", collection(1)).unwrap();
        for i in 0..5 {
            s.put_element(1, &element(&format!("f{i}"), "v")).unwrap();
        }
        s.put(0, b"z", collection(2)).unwrap();
        for i in 0..3 {
            s.zset_put(2, format!("m{i}").as_bytes(), i as f64, None)
                .unwrap();
        }
        s.put(0, b"l", collection(3)).unwrap();
        for i in 0..4 {
            s.list_put(3, i, b"item").unwrap();
        }
        s.flush_db(0).unwrap();
        assert_eq!(s.lazyfree_pending().unwrap(), 3);
        let first = s.reclaim(2).unwrap();
        assert_eq!((first.cid, first.rows, first.finished), (Some(1), 2, false));
        // 5 elements, 3 + 3 zset rows (elements and scores), 4 list items, one row a step,
        // plus the step of each that finds nothing left.
        assert_eq!(reclaim_all(&mut s), 3 + 6 + 4 + 3);
        assert_eq!(s.lazyfree_pending().unwrap(), 0);
        let rows: i64 = lock(&s.conn)
            .query_row(
                "SELECT (SELECT count(*) FROM elements) + (SELECT count(*) FROM zset_scores)
                      + (SELECT count(*) FROM list_items)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(rows, 0);
    }

    #[test]
    fn a_schema_2_file_gets_the_lazy_triggers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v2.db");
        let path = path.to_str().unwrap();
        {
            let mut s = SqliteStore::open(path, Synchronous::Normal).unwrap();
            lock(&s.conn)
                .execute_batch(
                    "DROP TRIGGER keys_count_delete;
                     CREATE TRIGGER keys_count_delete AFTER DELETE ON keys BEGIN
                       UPDATE db_stats SET keys = keys - 1 WHERE db = OLD.db;
                       DELETE FROM elements WHERE OLD.cid IS NOT NULL AND cid = OLD.cid;
                     END;
                     UPDATE meta SET value = 2 WHERE name = 'schema_version';",
                )
                .unwrap();
            s.close().unwrap();
        }
        let mut s = SqliteStore::open(path, Synchronous::Normal).unwrap();
        assert_eq!(s.meta_get("schema_version").unwrap(), Some(SCHEMA_VERSION));
        s.put(0, b"h", collection(4)).unwrap();
        s.put_element(4, &element("a", "1")).unwrap();
        s.settle().unwrap(); // the row is written, so its deletion fires the trigger
        s.delete(0, b"h").unwrap();
        assert_eq!(
            element_count(&mut s, 4),
            1,
            "queued, not deleted in the statement"
        );
        assert_eq!(s.lazyfree_pending().unwrap(), 1);
    }

    #[test]
    fn scans_page_through_everything_once() {
        let mut s = SqliteStore::open(":memory:", Synchronous::Normal).unwrap();
        for i in 0..100 {
            s.put(0, format!("k{i}").as_bytes(), record("v", None, i))
                .unwrap();
            s.put_element(1, &element(&format!("f{i}"), "v")).unwrap();
        }
        for count in [1, 7, 100, 1000] {
            let (mut cursor, mut keys, mut subs) = (0, Vec::new(), Vec::new());
            loop {
                let (page, next) = s.scan(0, cursor, count).unwrap();
                assert!(page.len() >= count.min(100 - keys.len()));
                keys.extend(page.into_iter().map(|k| k.key));
                if next == 0 {
                    break;
                }
                cursor = next;
            }
            cursor = 0;
            loop {
                let (page, next) = s.scan_elements(1, cursor, count).unwrap();
                subs.extend(page.into_iter().map(|e| e.sub));
                if next == 0 {
                    break;
                }
                cursor = next;
            }
            keys.sort();
            keys.dedup();
            subs.sort();
            subs.dedup();
            assert_eq!((keys.len(), subs.len()), (100, 100), "count {count}");
        }
        assert!(s.random_key(0, 12345).unwrap().is_some());
        assert!(s.random_key(3, 12345).unwrap().is_none());
    }

    #[test]
    fn a_look_for_expired_keys_sees_the_rows_the_writer_holds_back_and_no_stale_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("due.db");
        let mut s = journaled(path.to_str().unwrap());
        for (key, at) in [("persisted", 50), ("deleted", 60), ("later", 500)] {
            s.put(0, key.as_bytes(), record("v", Some(at), 1)).unwrap();
        }
        s.commit().unwrap();
        s.settle_rows(Settle::Merge).unwrap(); // in the table, with their expiries (the window stays on)
        s.put(0, b"persisted", record("v", None, 2)).unwrap();
        s.delete(0, b"deleted").unwrap();
        s.put(0, b"new", record("v", Some(70), 1)).unwrap();
        s.commit().unwrap();
        // Those three rows wait in the writer's window (far below its size).
        assert_eq!(s.journal_stats().unwrap().rows_queued, 3);
        let key = |k: &'static str| (0, Bytes::from_static(k.as_bytes()));
        assert_eq!(s.expired_keys(100, 10).unwrap(), vec![key("new")]);
        // As volatile-ttl looks: the soonest first, none that lost its expiry.
        assert_eq!(
            s.expired_keys(i64::MAX, 2).unwrap(),
            vec![key("new"), key("later")]
        );
    }

    #[test]
    fn element_expiry_is_indexed() {
        let mut s = SqliteStore::open(":memory:", Synchronous::Normal).unwrap();
        for (sub, at) in [("a", Some(10)), ("b", Some(20)), ("c", None)] {
            s.put_element(
                5,
                &Element {
                    expire_at: at,
                    ..element(sub, "v")
                },
            )
            .unwrap();
        }
        assert_eq!(s.min_element_expiry(5).unwrap(), Some(10));
        assert_eq!(
            s.expire_elements(5, 15).unwrap(),
            vec![Bytes::from_static(b"a")]
        );
        assert_eq!(s.min_element_expiry(5).unwrap(), Some(20));
        s.put(
            0,
            b"h",
            Record {
                sub_expire_at: Some(20),
                ..collection(5)
            },
        )
        .unwrap();
        s.settle().unwrap(); // the row writer's queue: candidates come from applied rows
        assert_eq!(s.keys_with_expiring_elements(19, 10).unwrap().len(), 0);
        assert_eq!(s.keys_with_expiring_elements(20, 10).unwrap().len(), 1);
    }

    #[test]
    fn a_schema_1_file_is_upgraded_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
                 INSERT INTO meta VALUES ('schema_version', 1), ('next_version', 9);
                 CREATE TABLE keys (db INTEGER NOT NULL, key BLOB NOT NULL, type INTEGER NOT NULL,
                   expire_at INTEGER, version INTEGER NOT NULL, value BLOB NOT NULL,
                   PRIMARY KEY (db, key)) WITHOUT ROWID;
                 CREATE TABLE db_stats (db INTEGER PRIMARY KEY, keys INTEGER NOT NULL DEFAULT 0,
                   expires INTEGER NOT NULL DEFAULT 0);
                 INSERT INTO db_stats (db, keys, expires) VALUES (0, 2, 1), (4, 1, 0);
                 INSERT INTO keys VALUES (0, x'6b31', 0, 99999999999999, 3, x'7631'),
                   (0, x'6b32', 0, NULL, 4, x'7632'), (4, x'00ff', 0, NULL, 5, x'');",
            )
            .unwrap();
        }
        let mut s = SqliteStore::open(path.to_str().unwrap(), Synchronous::Normal).unwrap();
        assert_eq!(s.meta_get("schema_version").unwrap(), Some(SCHEMA_VERSION));
        assert_eq!(s.meta_get("next_version").unwrap(), Some(9));
        assert_eq!(
            s.load(0, b"k1").unwrap(),
            Some(record("v1", Some(99999999999999), 3))
        );
        assert_eq!(s.load(4, b"\x00\xff").unwrap(), Some(record("", None, 5)));
        let stats = s.db_stats().unwrap();
        assert_eq!((stats[0].keys, stats[0].expires, stats[1].keys), (2, 1, 1));
        assert_eq!(s.scan(0, 0, 10).unwrap().0.len(), 2);
    }
    #[test]
    fn the_background_checkpointer_copies_committed_writes_into_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ckpt.db");
        let mut s = SqliteStore::open(path.to_str().unwrap(), Synchronous::Normal).unwrap();
        let before = std::fs::metadata(&path).unwrap().len();
        let value = "v".repeat(1000);
        for i in 0..500 {
            s.put(0, format!("k{i}").as_bytes(), record(&value, None, i))
                .unwrap();
        }
        s.commit().unwrap();
        s.merge(true).unwrap();
        // Nothing on this connection checkpoints (the autocheckpoint is far away): only the
        // background thread can grow the database file past its schema pages.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::fs::metadata(&path).unwrap().len() < before + 400 * 1000 {
            assert!(
                std::time::Instant::now() < deadline,
                "the WAL was never checkpointed into {}",
                path.display()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert_eq!(s.load(0, b"k7").unwrap().unwrap().value.len(), 1000);
    }
}
