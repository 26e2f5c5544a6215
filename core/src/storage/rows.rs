//! Key rows written off the executor's thread.
//!
//! (The element rows of large collections share the queue, its window and its thread: see
//! [`element_rows`]. The writer applies them before any key row, a chunk at a time.)
//!
//! A group commit's key rows (the keyspace's dirty keys, one upsert or delete each) are the
//! bulk of a write load's SQLite work: each is a B-tree descent and an in-place change of a
//! page in the open transaction, about half of the executor's time under random-key SETs.
//! With the redo journal, that work need not be done before the replies leave: the batch's
//! record in the journal is the durability point. So [`SqliteStore`](super::SqliteStore)
//! hands each key row to a [`RowWriter`] after journaling it, and the writer's thread applies
//! the rows to the same connection's open transaction, coalesced (a key written again before
//! it was applied is applied once, with its last row) and in key order per chunk (each page
//! touched once per chunk). The executor does not look the keys up in the queue's map: a
//! commit appends its rows to a list, and the writer's thread moves them into the map (see
//! [`Queue::incoming`]).
//!
//! The writer leaves a window of rows waiting (`storage.row_window_bytes`): a key written
//! again while its row waits is applied once, with its last row. Rows are applied oldest
//! first once the queue passes the window, and all of them before a merge, so a working set
//! that fits the window is written once per merge however often it changes: with 10,000 keys
//! under SETs at -P 16 and a 2 MB window the writer's CPU fell from 44-45 ticks per 600,000
//! writes to 4. A row of a short value takes about 180 bytes ([`row_bytes`]): the default
//! window, 32 MB (at most an eighth of the cache budget), holds about 180,000 keys. The
//! window also bounds what a statement over all keys (a plugin's SQL over the key rows, a
//! PRAGMA, SAVE) applies on the executor's thread first:
//! about 8 ms a megabyte. A plugin's SQL over other tables applies nothing
//! ([`super::reach`]), nor does a reclaim step (the key table's triggers queue only
//! collections that still have rows); FLUSHDB drops its database's rows rather than applying
//! them ([`RowWriter::drop_rows`]). A page of SCAN or KEYS, and RANDOMKEY's probe, applies
//! only the rows of the keys it covers ([`RowWriter::settle_page`]). Counting keys applies nothing: each queued row carries its key's presence in
//! the table before it, and the queue keeps what its rows will change each database's
//! counts by ([`RowWriter::pending_counts`]). Once counted, the totals move with each row
//! queued ([`RowWriter::totals`]), so that a count reads no table: a read waits for a merge's
//! commit on the writer's thread.
//!
//! Reads stay exact. The connection is shared under a mutex: the writer takes a chunk of rows
//! out of its queue only while it holds the connection, and releases the connection only once
//! the chunk is applied, so a row is always either still queued ([`RowWriter::lookup`]
//! answers for it) or visible to the next query. A row taken out of the queue is also kept
//! until the transaction it went into commits ([`UNSETTLED_MAX_BYTES`] of them at most), so
//! that a read during a merge finds it, and any other key in the file's committed state
//! ([`committed`](super::committed)), without waiting for the merge. A statement over the
//! whole keys table (a plugin's SQL that reaches it, a merge) first applies whatever is
//! queued, on the executor's thread ([`RowWriter::settle`]); a rename applies the rows of
//! its two keys ([`RowWriter::settle_keys`]), a page of SCAN those of its keys
//! ([`RowWriter::settle_page`]), a look for keys to expire those due
//! ([`RowWriter::settle_due`]), a flush those of the other databases or of its own
//! ([`RowWriter::settle_slot`]).
//!
//! The writer holds the connection for a few rows at a time while a statement of the
//! executor waits for it ([`STEP`]; a whole chunk otherwise), and then stays away while the
//! executor keeps taking it (a read of an uncached key takes it two or three times). With
//! the data ten times the cache and random SETs at -P 16 beside, GETs of random keys went
//! from 1,900-2,200 replies a second (p50 7-8 ms) to 7,000-7,300 (p50 0.9 ms).
//!
//! When the writer falls behind the load, the queue is backlogged ([`RowWriter::backlogged`]):
//! the executor holds commands that write back (the hold CLIENT PAUSE WRITE uses) and serves
//! the others, until the writer has caught up. Before, a commit past the queue's bound waited
//! for the writer with the batch's replies held and no one served: beside random SETs of
//! 1 KB values, five clients reading a cached key got 4,000 replies a second, p99 21-24 ms,
//! against 17,000-26,000 and 2.4-3.5 ms with the hold (`bench/RESULTS.md`). The wait remains
//! at a higher bound, for writes that cannot be held.
//!
//! A row that fails to apply (a full disk) stays queued and pauses the writer until a settle
//! succeeds; the store rolls the open transaction back and rebuilds it from the journal if
//! SQLite dropped it.
//!
//! The writer's thread also runs merges ([`RowWriter::request_merge`]), so that the executor
//! goes on serving while SQLite writes the merge's pages. Asking for one moves every queued
//! row (all of them from batches already journaled) into a set of its own, which the writer
//! applies, a chunk at a time, before it commits; rows queued from then on belong to later
//! batches, which the next transaction holds, and wait until the commit is done. Reads find
//! a key's newest row among the later rows first, then in the merge's set. The executor's
//! own statements wait for the commit ([`RowWriter::await_merge`]), so the transaction that
//! commits holds exactly the journal's records up to the merge's sequence number. Before,
//! the executor applied the rows the writer had not reached itself, and under a write load
//! heavier than the writer (random SETs of 1 KB values) that left every other merge to the
//! journal's size limit, a 100-200 ms stall each.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use bytes::Bytes;
use hashlink::LinkedHashMap;
use rusqlite::{params, CachedStatement, Connection, ToSql};

use super::element_rows::{self, ElementRows, Pending};
use super::{values, CollectionId, DbIndex, Presence, Record, ShortBytes, StoreError};

/// Rows applied per hold of the connection at most, taken from the queue (and sorted by key)
/// [`STEP`] at a time: between steps the writer lets go of the connection as soon as a
/// statement of the executor waits for it. With CHUNK rows taken at once, a read waited
/// for a whole chunk: about 3 ms with 1 KB values, and with data ten times the cache and
/// random SETs beside, the executor spent 1.3 s of every 3 waiting so.
const CHUNK: usize = 256;

/// Bytes of rows ([`row_bytes`]) applied to the open transaction that are kept, until it
/// commits, for reads to find without the connection ([`RowWriter::lookup`]): the rows of a
/// merge's worth of journal (merges start at half of `journal_max_bytes`, 16 MB by default).
/// (Only the key rows count: a merge's journal holds their values and more.) A merge whose
/// rows alone are more keeps none of them.
/// Past it, a read of a key with no queued row takes the connection, between two chunks of the
/// merge (see `SqliteStore::load`).
const UNSETTLED_MAX_BYTES: usize = 16 << 20;

/// Rows whose keys [`Queue::absorb_some`] looks up at once, ahead of moving them.
const LOOKAHEAD: usize = 16;

/// Rows waiting to join the queue's map ([`Queue::incoming`]) for which a commit wakes the
/// writer's thread to move them (a system call, which fewer rows are not worth: they wait
/// for the next batch's, or for a read of the queue).
const ABSORB_WAKE: usize = 64;

/// Element rows staged at most before they join the queue ([`RowWriter::push_element`]):
/// a large write (SADD of many members) hands them over as it goes, so that the writer's
/// thread may start on them.
const STAGED_MAX: usize = 1024;

/// Rows applied between two looks for a statement waiting for the connection: a wait of a
/// few tens of microseconds.
const STEP: usize = 16;

/// How long the writer stops holding rows back after a settle of the whole queue applied some
/// on the executor's thread (statements over all keys come in runs: a plugin's queries over
/// the key rows), so that those settles find little, as they do without a window.
const WINDOW_PAUSE: std::time::Duration = std::time::Duration::from_secs(1);

/// Bytes of queued rows beyond the window past which a commit waits for the writer
/// (back-pressure): without it the queue is bounded only by the journal's size limit, and
/// under a random-key write load it held up to that much again in memory beyond the cache's
/// budget. Commands rarely meet it: the executor holds writing commands back from
/// [`HOLD_QUEUED_BYTES`] (see [`RowWriter::backlogged`]).
const MAX_QUEUED_BYTES: usize = 4 << 20;

/// Bytes of queued rows beyond the window past which the queue is backlogged: the executor
/// then holds writing commands back, and goes on serving the others, until the writer brings
/// the queue under [`RESUME_QUEUED_BYTES`]. The room up to [`MAX_QUEUED_BYTES`] takes the
/// batch that crosses it and the writes no client's command makes (expiry, eviction, a
/// plugin's background work), which are never held.
const HOLD_QUEUED_BYTES: usize = 3 << 20;

/// Where a backlog ends, and where a commit that waited for the writer goes on: low enough
/// that a steady load is not held or made to wait at every batch.
const RESUME_QUEUED_BYTES: usize = 2 << 20;

/// What a queued row costs beyond its key and value: its map entry, its place in the order
/// queue and the record's fields.
const ROW_OVERHEAD: usize = 160;

/// Whether a row has an expiry, the key's or a field's.
fn expires(row: Option<&Record>) -> bool {
    row.is_some_and(|r| r.expire_at.is_some() || r.sub_expire_at.is_some())
}

pub(super) fn row_bytes(key: &[u8], row: Option<&Record>) -> usize {
    key.len() + row.map_or(0, |r| r.value.len()) + ROW_OVERHEAD
}

/// The SQLite connection, shared by the executor and the row writer.
pub(super) type SharedConn = Arc<ConnCell>;

/// The connection, and how many of the executor's statements wait for it: the row writer
/// lets go of it between a few rows when one does ([`Shared::apply_while_alone`]).
pub(super) struct ConnCell {
    conn: Mutex<Connection>,
    waiting: std::sync::atomic::AtomicUsize,
    /// Times the executor took the connection: the writer, having let it in, stays away
    /// while this still moves.
    taken: std::sync::atomic::AtomicU64,
}

/// Shares `conn` between the executor and the row writer.
pub(super) fn share(conn: Connection) -> SharedConn {
    Arc::new(ConnCell {
        conn: Mutex::new(conn),
        waiting: std::sync::atomic::AtomicUsize::new(0),
        taken: std::sync::atomic::AtomicU64::new(0),
    })
}

/// Locks the connection, whatever a panicking holder left, and tells the row writer while
/// this waits for it.
pub(super) fn lock(cell: &SharedConn) -> MutexGuard<'_, Connection> {
    use std::sync::atomic::Ordering::{Relaxed, SeqCst};
    let conn = match cell.conn.try_lock() {
        Ok(conn) => conn,
        Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
        Err(std::sync::TryLockError::WouldBlock) => {
            cell.waiting.fetch_add(1, SeqCst);
            let conn = cell.conn.lock().unwrap_or_else(|e| e.into_inner());
            cell.waiting.fetch_sub(1, SeqCst);
            conn
        }
    };
    cell.taken.fetch_add(1, Relaxed);
    conn
}

/// Locks the connection for the row writer's thread, which never counts as waiting.
fn lock_for_writer(cell: &SharedConn) -> MutexGuard<'_, Connection> {
    cell.conn.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether a statement of the executor waits for the connection.
fn someone_waits(cell: &SharedConn) -> bool {
    cell.waiting.load(std::sync::atomic::Ordering::SeqCst) > 0
}

const SQL_PUT: &str =
    "INSERT INTO keys (db, h, key, type, expire_at, version, cid, sub_expire_at, value, blob)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
     ON CONFLICT (db, h, key) DO UPDATE SET type = excluded.type,
       expire_at = excluded.expire_at, version = excluded.version, cid = excluded.cid,
       sub_expire_at = excluded.sub_expire_at, value = excluded.value, blob = excluded.blob";
/// A key the table lacks (the queue knows its presence): a plain insert. `OR FAIL` makes
/// its constraint checks stop the statement without undoing it, which they have nothing to
/// undo for (they come before the row's writes), so that SQLite keeps no statement journal
/// for it: the upsert's, a copy of every page it changes, took a tenth of the row writer's
/// time while new keys were being written.
const SQL_INSERT: &str =
    "INSERT OR FAIL INTO keys (db, h, key, type, expire_at, version, cid, sub_expire_at, value, blob)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
/// A key the table has: its whole row, `OR FAIL` for the reason [`SQL_INSERT`] gives (the
/// upsert's update takes the default policy, which makes SQLite keep a statement journal).
const SQL_UPDATE: &str = "UPDATE OR FAIL keys SET type = ?4, expire_at = ?5, version = ?6,
       cid = ?7, sub_expire_at = ?8, value = ?9, blob = ?10
     WHERE db = ?1 AND h = ?2 AND key = ?3";
/// The same row's new contents when its expiry and collection stay as they are, and its
/// value was and stays in the row: it sets no column a trigger of the key table watches
/// (`db`, `expire_at`, `cid`, `blob`), so SQLite runs no trigger program and keeps no
/// statement journal for it.
const SQL_REWRITE: &str = "UPDATE keys SET type = ?4, version = ?6, sub_expire_at = ?8, value = ?9
     WHERE db = ?1 AND h = ?2 AND key = ?3 AND expire_at IS ?5 AND cid IS ?7 AND blob IS NULL";
/// [`SQL_REWRITE`] for a long value that was kept apart already, in two statements: the
/// value's row, rewritten in place, then [`SQL_REWRITE_APART_ROW`]. A plain UPDATE leaves a
/// page that it would change to the same bytes untouched (not dirtied, not written at the
/// merge), which a rewrite of an unchanged value gains; `UPDATE keys ... RETURNING blob`
/// and a REPLACE of the value cost the row writer 17-29% more CPU under changing 1 KB values,
/// and 2.5x under unchanged ones.
const SQL_REWRITE_APART: &str = "UPDATE key_values SET value = ?6 WHERE id = (SELECT blob FROM keys
     WHERE db = ?1 AND h = ?2 AND key = ?3 AND expire_at IS ?4 AND cid IS ?5)";
/// The other columns of a row whose value [`SQL_REWRITE_APART`] rewrote.
const SQL_REWRITE_APART_ROW: &str = "UPDATE keys SET type = ?4, version = ?6, sub_expire_at = ?8
     WHERE db = ?1 AND h = ?2 AND key = ?3 AND expire_at IS ?5 AND cid IS ?7";
pub(super) const SQL_META_SET: &str = "INSERT INTO meta (name, value) VALUES (?1, ?2)
     ON CONFLICT (name) DO UPDATE SET value = excluded.value";
pub(super) const SQL_DELETE: &str = "DELETE FROM keys WHERE db = ?1 AND h = ?2 AND key = ?3";

/// Chooses how a key row is written. Most writes of a steady load replace a row whose expiry
/// and collection stay the same (a SET over an existing key, an INCR, an HSET into a small
/// hash), which [`SQL_REWRITE`] does at about two thirds of the upsert's cost: the
/// upsert fires the key table's triggers (key counts, reclaiming a replaced collection) and
/// with them a statement journal. A new key, or one whose expiry or collection changes,
/// needs the upsert, and trying the rewrite first costs it a B-tree descent more. So the
/// rewrite is tried while it mostly succeeds, and after a run of misses (a bulk load of new
/// keys) only every [`RowPath::PROBE`]th row, to notice when it would succeed again.
#[derive(Default)]
pub(super) struct RowPath {
    /// Rewrites that succeeded minus those that missed, within [-SCORE_MAX, SCORE_MAX].
    score: std::sync::atomic::AtomicI32,
    /// Rows written while the rewrite is off, for its probes.
    skipped: std::sync::atomic::AtomicU32,
}

impl RowPath {
    const SCORE_MAX: i32 = 16;
    const PROBE: u32 = 16;

    fn try_rewrite(&self) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        self.score.load(Relaxed) >= 0 || self.skipped.fetch_add(1, Relaxed) % Self::PROBE == 0
    }

    fn rewrote(&self, hit: bool) {
        use std::sync::atomic::Ordering::Relaxed;
        let score = self.score.load(Relaxed);
        let next = if hit { score + 1 } else { score - 1 };
        self.score
            .store(next.clamp(-Self::SCORE_MAX, Self::SCORE_MAX), Relaxed);
    }
}

/// Writes one key's row (`None`: deletes it) into the connection's open transaction.
pub(super) fn apply_row(
    conn: &Connection,
    path: &RowPath,
    db: DbIndex,
    key: &[u8],
    row: Option<&Record>,
) -> rusqlite::Result<()> {
    RowStatements::new(conn).apply(path, db, super::sqlite::position(key), key, row, None)
}

/// Writes key rows in the order given (a replay's, sorted by key), with one set of
/// statements: `(slot, position, key, row)`.
pub(super) fn apply_in_order<'r>(
    conn: &Connection,
    path: &RowPath,
    rows: impl Iterator<Item = (DbIndex, i64, &'r [u8], Option<&'r Record>)>,
) -> rusqlite::Result<()> {
    let mut statements = RowStatements::new(conn);
    for (db, h, key, row) in rows {
        statements.apply(path, db, h, key, row, None)?;
    }
    Ok(())
}

/// `sql`'s statement in `slot`, taken from the connection's cache on its first use: the
/// statements applying a chunk of rows are looked up once per chunk, not once per row (the
/// cache hashes the statement's text and moves it in and out of its list each time).
pub(super) fn prepared_once<'c, 's>(
    conn: &'c Connection,
    slot: &'s mut Option<CachedStatement<'c>>,
    sql: &str,
) -> rusqlite::Result<&'s mut CachedStatement<'c>> {
    if slot.is_none() {
        *slot = Some(conn.prepare_cached(sql)?);
    }
    Ok(slot.as_mut().expect("prepared above"))
}

/// The key table's write statements, each taken from the connection's statement cache once
/// for a whole chunk of rows: a cache lookup hashes and copies the statement's text, which
/// cost about 8% of the writer's time when done for every row.
struct RowStatements<'c> {
    conn: &'c Connection,
    put: Option<CachedStatement<'c>>,
    insert: Option<CachedStatement<'c>>,
    update: Option<CachedStatement<'c>>,
    rewrite: Option<CachedStatement<'c>>,
    delete: Option<CachedStatement<'c>>,
    rewrite_apart: Option<CachedStatement<'c>>,
    rewrite_apart_row: Option<CachedStatement<'c>>,
}

impl<'c> RowStatements<'c> {
    fn new(conn: &'c Connection) -> Self {
        RowStatements {
            conn,
            put: None,
            insert: None,
            update: None,
            rewrite: None,
            delete: None,
            rewrite_apart: None,
            rewrite_apart_row: None,
        }
    }

    /// Writes one key's row (`None`: deletes it); `h` is the key's position, `was` the key's
    /// presence in the table before it, when known.
    fn apply(
        &mut self,
        path: &RowPath,
        db: DbIndex,
        h: i64,
        key: &[u8],
        row: Option<&Record>,
        was: Base,
    ) -> rusqlite::Result<()> {
        let Some(r) = row else {
            prepared_once(self.conn, &mut self.delete, SQL_DELETE)?.execute(params![db, h, key])?;
            return Ok(());
        };
        let (kind, version, cid) = (r.kind as u8, r.version as i64, r.cid.map(|c| c as i64));
        let apart = values::apart(&r.value);
        let value: &[u8] = if apart { &[] } else { &r.value };
        // The row's columns as `SQL_PUT` binds them, `?10` the id of the value kept apart.
        macro_rules! columns {
            ($blob:expr) => {
                [
                    &db as &dyn ToSql,
                    &h,
                    &key,
                    &kind,
                    &r.expire_at,
                    &version,
                    &cid,
                    &r.sub_expire_at,
                    &value,
                    $blob,
                ]
            };
        }
        if apart {
            // Rewritten in place when the row had a value apart already: two statements that
            // each write all they change, so that applying the row again after a failure
            // between them (it stays queued) leaves the two rows agreeing, and that need
            // no savepoint, whose copy of each page they change cost the writer about a
            // tenth of its time under SETs of 1 KB values.
            let conn = self.conn;
            if path.try_rewrite() {
                let hit = prepared_once(conn, &mut self.rewrite_apart, SQL_REWRITE_APART)?
                    .execute(params![db, h, key, r.expire_at, cid, &r.value[..]])?
                    > 0;
                path.rewrote(hit);
                if hit {
                    prepared_once(conn, &mut self.rewrite_apart_row, SQL_REWRITE_APART_ROW)?
                        .execute(&columns!(&None::<i64>)[..8])?;
                    return Ok(());
                }
            }
            // Otherwise a new value row the key row then points at (a trigger drops the one
            // it pointed at before, if any): the statements run as one, or a failure between
            // them would leave a value row nothing points at.
            return values::atomically(conn, || {
                let id = Some(values::add(conn, &r.value)?);
                prepared_once(conn, &mut self.put, SQL_PUT)?.execute(&columns!(&id)[..])?;
                Ok(())
            });
        }
        if was.is_some_and(|p| !p.exists) {
            // A key the table lacks: inserted, and if it is there after all (a presence
            // the queue had wrong), nothing was written and the upsert below writes it.
            let inserted = prepared_once(self.conn, &mut self.insert, SQL_INSERT)?
                .execute(&columns!(&None::<i64>)[..]);
            match inserted {
                Ok(_) => return Ok(()),
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::ConstraintViolation => {}
                Err(e) => return Err(e),
            }
        } else {
            if path.try_rewrite() {
                let hit = prepared_once(self.conn, &mut self.rewrite, SQL_REWRITE)?
                    .execute(&columns!(&None::<i64>)[..9])?
                    > 0;
                path.rewrote(hit);
                if hit {
                    return Ok(());
                }
            }
            if was.is_some_and(|p| p.exists) {
                // A key the table has, whose expiry or collection changes (a SET with EX):
                // an update of the whole row, without a statement journal, as the insert.
                let updated = prepared_once(self.conn, &mut self.update, SQL_UPDATE)?
                    .execute(&columns!(&None::<i64>)[..])?;
                if updated > 0 {
                    return Ok(());
                }
            }
        }
        prepared_once(self.conn, &mut self.put, SQL_PUT)?.execute(&columns!(&None::<i64>)[..])?;
        Ok(())
    }
}

/// A row taken from the queue to be applied: database, the key's position, key, row, and
/// the key's presence in the table before it.
type Taken = (DbIndex, i64, ShortBytes, Option<Record>, Base);

/// A key's presence in the table before its queued row, when known (see
/// [`super::KeyRow::was`]).
type Base = Option<Presence>;

/// Queued key rows by key, in the order the keys were first queued, each with the key's
/// presence in the table before it (that of the first row queued for the key since one was
/// last applied).
type RowMap = LinkedHashMap<(DbIndex, ShortBytes), (Option<Record>, Base), ahash::RandomState>;

/// A key's entry in `map`. (DbIndex, ShortBytes) hashes as (DbIndex, &[u8]): no key is copied
/// to look one up. (Each map has a hasher of its own: they swap at every merge.)
fn find<'m>(map: &'m RowMap, db: DbIndex, key: &[u8]) -> Option<&'m (Option<Record>, Base)> {
    let hash = map.hasher().hash_one((db, key));
    map.raw_entry()
        .from_hash(hash, |(d, k)| *d == db && k[..] == *key)
        .map(|(_, row)| row)
}

/// Rows as the executor hands them over, before they join the map (see
/// [`Queue::incoming`]): each commit's rows as it built them, oldest commit first. A commit
/// hands its whole list over, rather than moving each row into a ring of its own: a ring
/// grows to the largest backlog it ever held and then cycles through all of it, so that
/// each row moved into it was a write to a line of memory out of the CPU's caches (6% of
/// the executor under random MSETs).
#[derive(Default)]
struct Incoming {
    batches: std::collections::VecDeque<std::vec::IntoIter<super::KeyRow>>,
    rows: usize,
}

impl Incoming {
    fn len(&self) -> usize {
        self.rows
    }

    fn is_empty(&self) -> bool {
        self.rows == 0
    }

    fn clear(&mut self) {
        self.batches.clear();
        self.rows = 0;
    }

    fn push(&mut self, rows: Vec<super::KeyRow>) {
        if !rows.is_empty() {
            self.rows += rows.len();
            self.batches.push_back(rows.into_iter());
        }
    }
}

/// The rows waiting to be applied, with the newest row of each key.
#[derive(Default)]
struct Queue {
    /// Each queued key's newest row, in the order the keys were first queued, as of the rows
    /// absorbed from `incoming` so far: read it through [`Self::latest`], which absorbs the
    /// rest first.
    absorbed: RowMap,
    /// Rows the executor queued that have not joined `absorbed` yet, oldest first: a commit
    /// appends its rows here without looking each key up (with 100,000 keys queued, the
    /// lookup was a miss in memory per row, the largest part of a commit); the writer's
    /// thread moves them into the map (coalescing them with the rows of the same keys) as
    /// soon as it wakes, and anything on the executor's side that reads the map first moves
    /// the rest. Only rows that come with their key's presence (`was`) wait here: their
    /// change of the counts is known without the map, and is counted when they arrive.
    incoming: Incoming,
    /// The newest value of each metadata figure set since it was last applied (the data
    /// size and version counters change with most batches).
    meta: HashMap<String, i64, ahash::RandomState>,
    /// The rows and figures of the batches a requested merge commits, moved out of `latest`
    /// and `meta` when it was asked for: the writer's thread applies them, then commits.
    /// Reads find a key's row in `latest` first, then here.
    frozen: RowMap,
    frozen_meta: HashMap<String, i64, ahash::RandomState>,
    /// Bytes the queued rows take ([`row_bytes`]).
    bytes: usize,
    /// What the queued rows, once applied, change each database's counts (keys, expires)
    /// by: the table's counts plus these are the keyspace's ([`RowWriter::pending_counts`]).
    counts: HashMap<DbIndex, (i64, i64), ahash::RandomState>,
    /// Queued keys whose presence in the table is not known: while there are any, counting
    /// needs the rows applied.
    unknown: usize,
    /// Each database's counts (keys, expires) as the table plus the queued rows give them,
    /// when known: set by a count the store made, moved by each row queued since, and
    /// unchanged by applying one (the table gains what the queue loses). `None` once a row
    /// came without its key's presence, or the store changed the table itself
    /// ([`RowWriter::forget_totals`]).
    totals: Option<HashMap<DbIndex, (i64, i64), ahash::RandomState>>,
    /// Commits that waited for the writer to bring the queue under [`MAX_QUEUED_BYTES`].
    backpressure_waits: u64,
    /// Whether the queue passed [`HOLD_QUEUED_BYTES`] and has not come back under
    /// [`RESUME_QUEUED_BYTES`] since, and how many times it did.
    backlog: bool,
    backlogs: u64,
    /// The writer's thread applies no rows outside a merge (DEBUG ROW-WRITER PAUSE).
    paused: bool,
    /// The writer's thread waits to be woken: a commit wakes it only then (a system call).
    parked: bool,
    /// Whether a row with an expiry (the key's or a field's) may be among those queued since
    /// the queue was last empty or [`RowWriter::settle_due`] last looked: that look is a pass
    /// over the queue, about ten a second, which a load without expiries need not pay.
    may_expire: bool,
    /// Why applying failed, until a settle succeeds.
    failed: Option<String>,
    /// Rows applied by the writer's thread, and on the executor's thread by a settle.
    applied_background: u64,
    applied_inline: u64,
    /// The merge asked of the writer's thread, and then its outcome.
    merge: Merge,
    /// Rows queued for a key whose earlier row was still queued (written once for both).
    coalesced: u64,
    /// When a settle last applied queued rows on the executor's thread: the window stays
    /// off for [`WINDOW_PAUSE`] after.
    settled_at: Option<std::time::Instant>,
    /// The rows that left the queue for the open transaction since its last commit (up to
    /// [`UNSETTLED_MAX_BYTES`] of them), their bytes, and whether the store changed the keys
    /// table itself since ([`RowWriter::tables_rewritten`]) or more rows left than the map
    /// keeps: any other key reads the same in the file's committed state as in the
    /// transaction ([`RowWriter::lookup`]).
    unsettled: RowMap,
    unsettled_bytes: usize,
    unsettled_all: bool,
    /// The element rows waiting (see [`element_rows`]): applied before any key row queued
    /// after them, and counted in the window with the key rows.
    elements: ElementRows,
    stop: bool,
}

/// A merge's commit on the writer's thread.
#[derive(Default)]
enum Merge {
    #[default]
    Idle,
    /// Commit the open transaction with `meta.redo_seq` = this sequence number.
    Requested(u64),
    /// Committed (milliseconds the commit took), or failed (and SQLite's transaction is in
    /// whatever state the failure left it), not yet collected by the executor.
    Done(u64, Result<u64, String>),
}

/// Where a key's newest row is ([`RowWriter::lookup`]).
pub(super) enum Lookup {
    /// Queued, or applied to the open transaction: this row (`None`: its deletion).
    Queued(Option<Record>),
    /// In the file's committed state (or nowhere).
    Committed,
    /// Perhaps only in the open transaction.
    Transaction,
}

/// A merge's outcome, as [`RowWriter::await_merge`] hands it to the store.
pub(super) struct MergeDone {
    /// The sequence number the merge committed.
    pub(super) seq: u64,
    /// Milliseconds its commit took.
    pub(super) ms: u64,
    /// Why it failed, if it did: the open transaction must then be rebuilt from the journal.
    pub(super) error: Option<String>,
}

impl Queue {
    /// Queues a key's row, replacing a row of the same key still queued (which keeps its
    /// place, and the presence before it). `was`: the key's presence before this row, which
    /// is the table's unless a row of the key is queued.
    fn push(&mut self, db: DbIndex, key: impl Into<ShortBytes>, row: Option<Record>, was: Base) {
        self.absorb();
        self.may_expire |= expires(row.as_ref());
        let key = key.into();
        self.bytes += row_bytes(&key, row.as_ref());
        let now = Presence::of(row.as_ref());
        let before = match self.enter((db, key), row, was) {
            Some((base, old)) => base.map(|_| old),
            None => {
                if was.is_none() {
                    self.unknown += 1;
                }
                was
            }
        };
        match before {
            Some(before) => self.moved(db, now.minus(before)),
            None => self.totals = None,
        }
    }

    /// Queues rows whose keys' presence before them is known (every row's `was` is
    /// `Some`), as [`Self::push`] does but without looking the keys up: they wait in
    /// `incoming` (see there). Their bytes and their change of the counts are counted now, as
    /// `push` counts them: a row queued over a queued row of the same key is counted against
    /// the presence that row gives, which is `was` (both are the keyspace's account of the
    /// key), unless that row came without one ([`Self::absorb_some`] takes the count back
    /// then).
    fn push_known(&mut self, rows: Vec<super::KeyRow>) {
        for r in &rows {
            let was = r.was.expect("rows queued as known have their presence");
            self.may_expire |= expires(r.row.as_ref());
            self.bytes += row_bytes(&r.key, r.row.as_ref());
            self.moved(r.db, Presence::of(r.row.as_ref()).minus(was));
        }
        self.incoming.push(rows);
    }

    /// Moves up to `n` of the rows waiting in `incoming` into the map, oldest first, each
    /// replacing a queued row of the same key as [`Self::push`] does; whether any are left.
    /// The nodes of the next [`LOOKAHEAD`] keys are asked for before the first is moved: with
    /// 100,000 keys queued a lookup is three dependent loads from memory (the table's group,
    /// its bucket, the node). Probes that ask for the node they find instead of reading it
    /// ([`crate::prefetch::prefetch_pair`]) overlap those last loads of every key.
    fn absorb_some(&mut self, n: usize) -> bool {
        let mut left = n.min(self.incoming.len());
        while left > 0 {
            let Some(mut batch) = self.incoming.batches.pop_front() else {
                break;
            };
            let take = left.min(batch.len());
            // The hashes of the keys looked up ahead, for their lookups proper.
            let mut hashes = [0u64; LOOKAHEAD];
            for i in 0..take {
                if i % LOOKAHEAD == 0 {
                    let ahead = batch.as_slice().iter().take(LOOKAHEAD.min(take - i));
                    for (r, hash) in ahead.zip(hashes.iter_mut()) {
                        *hash = self.absorbed.hasher().hash_one((r.db, &r.key[..]));
                        let _ = self.absorbed.raw_entry().from_hash(*hash, |k| {
                            crate::prefetch::prefetch_pair::<_, (Option<Record>, Base)>(k);
                            false
                        });
                    }
                }
                let Some(super::KeyRow { db, key, row, was }) = batch.next() else {
                    break;
                };
                let now = Presence::of(row.as_ref());
                let hash = hashes[i % LOOKAHEAD];
                if let Some((None, _)) = self.enter_hashed(hash, (db, key), row, was) {
                    // Queued over a row that came without its key's presence: as `push`
                    // does, the counts leave the key to the table's.
                    let (keys, expires) = now.minus(was.expect("incoming rows have one"));
                    self.shift(db, (-keys, -expires));
                    self.totals = None;
                }
            }
            left -= take;
            self.incoming.rows -= take;
            if batch.len() > 0 {
                self.incoming.batches.push_front(batch);
            }
        }
        !self.incoming.is_empty()
    }

    /// Puts a key's row in the map: in the place of a queued row of the key, which keeps its
    /// place and its presence before it (returned, with the presence the replaced row gave),
    /// or as a new entry (`None`).
    fn enter(
        &mut self,
        k: (DbIndex, ShortBytes),
        row: Option<Record>,
        was: Base,
    ) -> Option<(Base, Presence)> {
        let hash = self.absorbed.hasher().hash_one((k.0, &k.1[..]));
        self.enter_hashed(hash, k, row, was)
    }

    /// [`Self::enter`] given the key's hash in the map.
    fn enter_hashed(
        &mut self,
        hash: u64,
        k: (DbIndex, ShortBytes),
        row: Option<Record>,
        was: Base,
    ) -> Option<(Base, Presence)> {
        use hashlink::linked_hash_map::RawEntryMut;
        let entry = self
            .absorbed
            .raw_entry_mut()
            .from_hash(hash, |(d, key)| *d == k.0 && *key == k.1);
        match entry {
            RawEntryMut::Occupied(mut o) => {
                let base = o.get().1;
                let (old, _) = std::mem::replace(o.get_mut(), (row, base));
                self.bytes -= row_bytes(&k.1, old.as_ref());
                self.coalesced += 1;
                let old = Presence::of(old.as_ref());
                // The keyspace's account of the key agrees with the queue's.
                debug_assert!(
                    base.is_none() || was.is_none() || was == Some(old),
                    "a row queued with a presence its queued row does not give"
                );
                Some((base, old))
            }
            RawEntryMut::Vacant(v) => {
                v.insert_hashed_nocheck(hash, k, (row, was));
                None
            }
        }
    }

    /// Moves every row waiting in `incoming` into the map.
    fn absorb(&mut self) {
        if !self.incoming.is_empty() {
            self.absorb_some(usize::MAX);
        }
    }

    /// Each queued key's newest row, in the order the keys were first queued.
    fn latest(&mut self) -> &mut RowMap {
        self.absorb();
        &mut self.absorbed
    }

    /// `db`'s counts (keys, expires) move by `delta`: the pending ones, and the totals when
    /// known.
    fn moved(&mut self, db: DbIndex, delta: (i64, i64)) {
        self.shift(db, delta);
        if let (Some(totals), true) = (self.totals.as_mut(), delta != (0, 0)) {
            let t = totals.entry(db).or_default();
            t.0 += delta.0;
            t.1 += delta.1;
        }
    }

    /// Adds `delta` (keys, expires) to `db`'s pending counts.
    fn shift(&mut self, db: DbIndex, delta: (i64, i64)) {
        if delta != (0, 0) {
            let c = self.counts.entry(db).or_default();
            c.0 += delta.0;
            c.1 += delta.1;
        }
    }

    /// A row leaves the queue (applied, or about to be): its change is the table's now.
    fn counted(&mut self, db: DbIndex, row: Option<&Record>, was: Base) {
        match was {
            Some(was) => {
                let (k, e) = Presence::of(row).minus(was);
                self.shift(db, (-k, -e));
            }
            None => self.unknown -= 1,
        }
    }

    /// A row leaves the queue for the open transaction: kept until the transaction commits,
    /// so that reads find it without the connection, unless the map is full.
    fn unsettle(&mut self, db: DbIndex, key: &ShortBytes, row: &Option<Record>, was: Base) {
        if self.unsettled_all {
            return;
        }
        self.unsettled_bytes += row_bytes(key, row.as_ref());
        if let Some((old, _)) = self.unsettled.insert((db, key.clone()), (row.clone(), was)) {
            self.unsettled_bytes -= row_bytes(key, old.as_ref());
        }
        if self.unsettled_bytes > UNSETTLED_MAX_BYTES {
            self.unsettle_all();
        }
    }

    /// Keeps no row until the next commit: reads see the open transaction meanwhile.
    fn unsettle_all(&mut self) {
        // (The table stays: the next transaction's rows fill it again.)
        self.unsettled.clear();
        self.unsettled_bytes = 0;
        self.unsettled_all = true;
    }

    /// After a merge committed: the map of rows it drained and that of the rows kept until
    /// its commit, taken out to be dropped. A map keeps the nodes of the entries it loses
    /// for reuse, as many as it ever held (up to a window's worth of rows, the 32 MB default
    /// about 180,000), and its table at its largest: kept, they held the memory of a full
    /// window after the load that filled it had stopped.
    /// Only once the load has fallen (the rows queued since the merge began are under a
    /// quarter of what it applied): under a steady one, the maps regrowing at every merge
    /// cost the executor 2% in rehashes under random MSETs.
    fn spent_maps(&mut self) -> Option<(RowMap, RowMap)> {
        let queued = self.absorbed.len() + self.incoming.len();
        if !self.frozen.is_empty() || queued * 4 >= self.frozen.capacity() {
            return None;
        }
        let frozen = std::mem::take(&mut self.frozen);
        Some((frozen, std::mem::take(&mut self.unsettled)))
    }

    /// The open transaction committed (or rolled back): the file holds what it did.
    fn settled(&mut self) {
        self.unsettled.clear();
        self.unsettled_bytes = 0;
        self.unsettled_all = false;
    }

    /// The queued row of a key, if any: the newest, queued since a merge was asked for, or
    /// one that merge is to commit.
    fn get(&mut self, db: DbIndex, key: &[u8]) -> Option<&Option<Record>> {
        self.absorb();
        match find(&self.absorbed, db, key) {
            None if !self.frozen.is_empty() => find(&self.frozen, db, key),
            found => found,
        }
        .map(|(row, _)| row)
    }

    /// Takes a key's queued row out of the queue, if it has one. Never while a merge is
    /// requested: the row may belong to a batch after it.
    fn remove(&mut self, db: DbIndex, key: &[u8]) -> Option<Taken> {
        debug_assert!(!matches!(self.merge, Merge::Requested(_)));
        self.absorb();
        let hash = self.absorbed.hasher().hash_one((db, key));
        let ((db, key), (row, was)) = match self
            .absorbed
            .raw_entry_mut()
            .from_hash(hash, |(d, k)| *d == db && k[..] == *key)
        {
            hashlink::linked_hash_map::RawEntryMut::Occupied(o) => o.remove_entry(),
            hashlink::linked_hash_map::RawEntryMut::Vacant(_) => return None,
        };
        self.bytes -= row_bytes(&key, row.as_ref());
        self.counted(db, row.as_ref(), was);
        self.unsettle(db, &key, &row, was);
        Some((db, super::sqlite::position(&key), key, row, was))
    }

    /// Takes the rows `pick` picks (by slot and row) out of the queue, as [`Self::remove`]
    /// does. A pass over the queue.
    fn remove_where(&mut self, pick: impl Fn(DbIndex, &Option<Record>) -> bool) -> Vec<Taken> {
        let keys: Vec<(DbIndex, ShortBytes)> = self
            .latest()
            .iter()
            .filter(|((db, _), (row, _))| pick(*db, row))
            .map(|(k, _)| k.clone())
            .collect();
        keys.iter()
            .filter_map(|(db, key)| self.remove(*db, key))
            .collect()
    }

    /// Whether the writer leaves the queued rows waiting: they fit its window (a merge takes
    /// them all the same, see [`Self::freeze`]).
    fn holds_back(&self, window: usize) -> bool {
        window > 0
            && self.queued_bytes() <= window
            && self.settled_at.is_none_or(|t| t.elapsed() >= WINDOW_PAUSE)
    }

    /// Rows waiting to be applied, a requested merge's included.
    fn rows_queued(&self) -> usize {
        self.absorbed.len() + self.incoming.len() + self.frozen.len()
    }

    /// Bytes the queued key and element rows take.
    fn queued_bytes(&self) -> usize {
        self.bytes + self.elements.bytes()
    }

    /// Whether nothing waits to be applied.
    fn is_empty(&self) -> bool {
        self.absorbed.is_empty()
            && self.incoming.is_empty()
            && self.meta.is_empty()
            && self.elements.is_empty()
    }

    /// Moves every queued row and figure into the set a merge commits (`frozen`, which the
    /// last merge left empty: the two maps swap).
    fn freeze(&mut self) {
        debug_assert!(self.frozen.is_empty() && self.frozen_meta.is_empty());
        self.absorb();
        // The merge's rows all go into the transaction it commits: when they are more than
        // is kept of it, none are kept from the start. Each kept row is a clone and an entry
        // of a map regrown at every merge, all dropped once the map overflows (random SETs
        // over 100,000 keys overflowed it at every merge: 2-3% of the writer's thread).
        if self.unsettled_bytes + self.bytes > UNSETTLED_MAX_BYTES {
            self.unsettle_all();
        }
        std::mem::swap(&mut self.absorbed, &mut self.frozen);
        std::mem::swap(&mut self.meta, &mut self.frozen_meta);
        self.elements.freeze();
    }

    /// Takes up to `n` rows, in key order, and every queued metadata figure: while a merge is
    /// requested, of the rows it commits only (those queued since belong to the next
    /// transaction).
    fn take(&mut self, n: usize) -> (Vec<Taken>, Vec<(String, i64)>) {
        let merging = matches!(self.merge, Merge::Requested(_));
        if !merging {
            self.absorb();
        }
        let (rows, meta) = if merging {
            (&mut self.frozen, &mut self.frozen_meta)
        } else {
            (&mut self.absorbed, &mut self.meta)
        };
        let meta = meta.drain().collect();
        let mut out = Vec::with_capacity(n.min(rows.len()));
        while out.len() < n {
            let Some(((db, key), (row, was))) = rows.pop_front() else {
                break;
            };
            self.bytes -= row_bytes(&key, row.as_ref());
            out.push((db, super::sqlite::position(&key), key, row, was));
        }
        for (db, _, key, row, was) in &out {
            self.counted(*db, row.as_ref(), *was);
            self.unsettle(*db, key, row, *was);
        }
        // By the key table's order (db, position, key): each page is touched once per chunk.
        out.sort_unstable_by(|a, b| (a.0, a.1, &a.2).cmp(&(b.0, b.1, &b.2)));
        (out, meta)
    }

    /// Puts back what could not be applied, in front of the queue (of the rows a requested
    /// merge commits, when they were those), unless a newer row or figure was queued
    /// meanwhile.
    fn requeue(&mut self, rows: impl DoubleEndedIterator<Item = Taken>, meta: Vec<(String, i64)>) {
        use hashlink::linked_hash_map::RawEntryMut;
        let merging = matches!(self.merge, Merge::Requested(_));
        if !merging {
            // Rows queued since these were taken are newer: they keep their place.
            self.absorb();
        }
        let (queue, figures) = if merging {
            (&mut self.frozen, &mut self.frozen_meta)
        } else {
            (&mut self.absorbed, &mut self.meta)
        };
        // A failure: the store counts from the table again once it has dealt with it.
        self.totals = None;
        self.may_expire = true;
        // (database, count change, unknown keys' change)
        let mut counts: Vec<(DbIndex, (i64, i64), isize)> = Vec::new();
        for (db, _, key, row, was) in rows.rev() {
            let bytes = row_bytes(&key, row.as_ref());
            let k = (db, key);
            match queue.raw_entry_mut().from_key(&k) {
                RawEntryMut::Vacant(v) => {
                    counts.push(match was {
                        Some(was) => (db, Presence::of(row.as_ref()).minus(was), 0),
                        None => (db, (0, 0), 1),
                    });
                    v.insert(k.clone(), (row, was));
                    queue.to_front(&k);
                    self.bytes += bytes;
                }
                RawEntryMut::Occupied(mut o) => {
                    // The newer row was queued as if this one were in the table: the table
                    // still has what was there before this one.
                    let (newer, base) = o.get_mut();
                    let now = Presence::of(newer.as_ref());
                    let undo = base.map_or((0, 0), |b| now.minus(b));
                    let redo = was.map_or((0, 0), |w| now.minus(w));
                    let unknown = was.is_none() as isize - base.is_none() as isize;
                    counts.push((db, (redo.0 - undo.0, redo.1 - undo.1), unknown));
                    *base = was;
                }
            }
        }
        for (name, value) in meta {
            figures.entry(name).or_insert(value);
        }
        for (db, delta, unknown) in counts {
            self.shift(db, delta);
            self.unknown = self.unknown.wrapping_add_signed(unknown);
        }
    }

    fn count(&mut self, inline: bool, rows: u64) {
        if inline {
            self.applied_inline += rows;
        } else {
            self.applied_background += rows;
        }
    }

    fn clear(&mut self) {
        self.absorbed.clear();
        self.incoming.clear();
        self.may_expire = false;
        self.meta.clear();
        self.frozen.clear();
        self.frozen_meta.clear();
        self.bytes = 0;
        self.counts.clear();
        self.unknown = 0;
        self.totals = None;
        self.elements.clear();
        // Rolled back: the tables are as committed.
        self.settled();
    }
}

struct Shared {
    conn: SharedConn,
    path: RowPath,
    /// Bytes of rows left waiting (`storage.row_window_bytes`, which CONFIG SET changes).
    window: std::sync::atomic::AtomicUsize,
    queue: Mutex<Queue>,
    wake: Condvar,
    /// Signalled when a merge's commit is done.
    merged: Condvar,
    /// Held by a test to keep a requested merge from committing.
    #[cfg(test)]
    hold_merges: Arc<Mutex<()>>,
    /// Held by a test to keep a requested merge from starting: it is running for the store,
    /// and the writer's thread waits without the connection.
    #[cfg(test)]
    hold_merge_starts: Arc<Mutex<()>>,
    /// Signalled after each chunk the writer's thread applies (or fails to).
    applied: Condvar,
}

impl Shared {
    fn new(conn: SharedConn, window: usize) -> Shared {
        Shared {
            conn,
            path: RowPath::default(),
            window: std::sync::atomic::AtomicUsize::new(window),
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            merged: Condvar::new(),
            #[cfg(test)]
            hold_merges: Arc::new(Mutex::new(())),
            #[cfg(test)]
            hold_merge_starts: Arc::new(Mutex::new(())),
            applied: Condvar::new(),
        }
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn window(&self) -> usize {
        self.window.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Applies up to [`CHUNK`] rows with the connection held, [`STEP`] at a time, stopping
    /// early when a statement of the executor waits for the connection; whether it applied
    /// any (and more may wait).
    fn apply_while_alone(&self, conn: &Connection) -> bool {
        let mut applied = 0;
        loop {
            if !self.apply_chunk(conn, STEP, false) {
                return applied > 0;
            }
            applied += STEP;
            if applied >= CHUNK || someone_waits(&self.conn) {
                return true;
            }
        }
    }

    /// After letting go of the connection: lets the executor take it (a mutex hands itself
    /// to no one in particular, and the writer would often take it back first), and stays
    /// away while the executor keeps taking it (a read of a key takes it two or three
    /// times), up to two milliseconds.
    fn let_executor_in(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        let until = std::time::Instant::now() + std::time::Duration::from_millis(2);
        std::thread::yield_now();
        if !someone_waits(&self.conn) {
            return;
        }
        let mut seen = self.conn.taken.load(Relaxed);
        while std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_micros(50));
            let now = self.conn.taken.load(Relaxed);
            if now == seen && !someone_waits(&self.conn) {
                return;
            }
            seen = now;
        }
    }

    /// Applies up to `n` queued rows, and the queued metadata figures, with the connection
    /// held by the caller; false once the queue is empty or a row failed (see
    /// [`Self::apply_rows`]).
    fn apply_chunk(&self, conn: &Connection, n: usize, inline: bool) -> bool {
        let elements = {
            let mut q = self.queue();
            let merging = matches!(q.merge, Merge::Requested(_));
            q.elements.take(n, merging)
        };
        if !elements.is_empty() {
            // Element rows before any key row queued after them.
            return self.apply_elements(conn, elements).is_ok();
        }
        let (rows, meta) = self.queue().take(n);
        if rows.is_empty() && meta.is_empty() {
            return false;
        }
        if conn.is_autocommit() {
            // See `apply_rows`: the figures wait with the rows.
            let mut q = self.queue();
            q.failed = Some(LOST_TRANSACTION.into());
            q.requeue(rows.into_iter(), meta);
            return false;
        }
        for (i, (name, value)) in meta.iter().enumerate() {
            let applied = conn
                .prepare_cached(SQL_META_SET)
                .and_then(|mut st| st.execute(params![name, value]));
            if let Err(e) = applied {
                let mut q = self.queue();
                q.failed = Some(e.to_string());
                q.requeue(rows.into_iter(), meta[i..].to_vec());
                return false;
            }
        }
        self.apply_rows(conn, rows, inline).is_ok()
    }

    /// Applies rows taken from the queue with the connection held by the caller, and counts
    /// them. On a failure, the failed row and those after it go back to the front of the
    /// queue (unless a newer row of the same key was queued meanwhile), so reads still find
    /// them, and the writer pauses until [`RowWriter::settle`] succeeds.
    fn apply_rows(
        &self,
        conn: &Connection,
        rows: Vec<Taken>,
        inline: bool,
    ) -> Result<usize, String> {
        if conn.is_autocommit() {
            // SQLite dropped the open transaction (an error the executor has yet to handle):
            // a row written now would commit on its own, outside its batch.
            let mut q = self.queue();
            q.failed = Some(LOST_TRANSACTION.into());
            q.requeue(rows.into_iter(), Vec::new());
            return Err(LOST_TRANSACTION.into());
        }
        let mut statements = RowStatements::new(conn);
        for (i, (db, h, key, row, was)) in rows.iter().enumerate() {
            if let Err(e) = statements.apply(&self.path, *db, *h, key, row.as_ref(), *was) {
                drop(statements);
                let mut q = self.queue();
                q.failed = Some(e.to_string());
                q.count(inline, i as u64);
                q.requeue(rows.into_iter().skip(i), Vec::new());
                return Err(e.to_string());
            }
        }
        self.queue().count(inline, rows.len() as u64);
        Ok(rows.len())
    }
}

impl Shared {
    /// Applies element rows taken from the queue with the connection held by the caller, as
    /// [`Self::apply_rows`] does key rows: on a failure, the failed entry and those after it
    /// go back (each statement is idempotent, so one applied halfway is applied whole again),
    /// and the writer pauses until a settle succeeds.
    fn apply_elements(
        &self,
        conn: &Connection,
        mut entries: Vec<(element_rows::ElementKey, Pending)>,
    ) -> Result<usize, String> {
        let merging = || matches!(self.queue().merge, Merge::Requested(_));
        if conn.is_autocommit() {
            let merging = merging();
            let mut q = self.queue();
            q.failed = Some(LOST_TRANSACTION.into());
            q.elements.requeue(entries, merging);
            return Err(LOST_TRANSACTION.into());
        }
        let mut statements = element_rows::Statements::new(conn);
        for (i, (key, pending)) in entries.iter().enumerate() {
            if let Err(e) = statements.apply(key, pending) {
                drop(statements);
                let merging = merging();
                let rest = entries.split_off(i);
                let mut q = self.queue();
                q.failed = Some(e.to_string());
                q.elements.applied += i as u64;
                q.elements.requeue(rest, merging);
                return Err(e.to_string());
            }
        }
        drop(statements);
        let mut q = self.queue();
        q.elements.applied += entries.len() as u64;
        Ok(entries.len())
    }
}

/// Why rows wait when SQLite dropped the open transaction.
const LOST_TRANSACTION: &str = "the open transaction was rolled back";

/// The thread that applies queued key rows, and the queue it drains.
pub(super) struct RowWriter {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    /// Element rows the executor queued since it last took the queue ([`Self::push_element`]),
    /// oldest first: they join the queue the next time anything of the executor's takes it
    /// ([`Self::queue`]), a commit's key rows at the latest, in the order they were queued.
    /// Taking the queue for each one made the executor wait for the writer's thread, which
    /// holds the queue while it moves rows into its maps: under LPUSHes of a large list that
    /// wait was 5% of the executor's time.
    staged: std::cell::RefCell<Vec<(element_rows::ElementKey, Pending)>>,
}

impl RowWriter {
    /// Starts the writer's thread on `conn`, leaving `window` bytes of rows waiting (0: each
    /// row is applied as soon as its batch is journaled).
    pub(super) fn start(conn: SharedConn, window: usize) -> Result<RowWriter, StoreError> {
        let shared = Arc::new(Shared::new(conn, window));
        let mine = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("respite-rows".into())
            .spawn(move || run(&mine))
            .map_err(|e| StoreError::Io(format!("cannot start the row writer's thread: {e}")))?;
        Ok(RowWriter {
            shared,
            thread: Some(thread),
            staged: std::cell::RefCell::new(Vec::new()),
        })
    }

    /// The queue, with the element rows staged since it was last taken in it (see
    /// [`Self::staged`]): everything on the executor's side takes it so, and sees them.
    fn queue(&self) -> MutexGuard<'_, Queue> {
        let mut q = self.shared.queue();
        let mut staged = self.staged.borrow_mut();
        for (key, pending) in staged.drain(..) {
            q.elements.push(key, pending);
        }
        q
    }

    /// Queues a key's row (`None`: its deletion), replacing a row of the same key still
    /// queued; whether the key is in the table is not known.
    #[cfg(test)]
    pub(super) fn push(&self, db: DbIndex, key: impl Into<ShortBytes>, row: Option<Record>) {
        self.queue().push(db, key.into(), row, None);
    }

    /// Queues keys' rows (`None`: a deletion), each replacing a row of the same key still
    /// queued, under one hold of the queue: the writer's thread takes the queue too, and a
    /// hold per row made the two wait on each other, and wake each other, row by row. Each
    /// row comes with its key's presence before it ([`super::KeyRow::was`]). `slot`: the
    /// store database of a row's database.
    ///
    /// A row with its key's presence joins the map later ([`Queue::incoming`]): the lookup
    /// that coalesces it with a queued row of its key is the writer thread's, once woken
    /// ([`Self::wake`]). One without (a plugin's write) goes in at once.
    pub(super) fn push_all(&self, mut rows: Vec<super::KeyRow>, slot: impl Fn(DbIndex) -> DbIndex) {
        for r in &mut rows {
            r.db = slot(r.db);
        }
        let mut q = self.queue();
        if rows.iter().all(|r| r.was.is_some()) {
            q.push_known(rows);
            return;
        }
        // Rows without their key's presence go into the map at once, after the rows before
        // them (`push` absorbs what waits).
        let mut known = Vec::new();
        for r in rows {
            if r.was.is_some() {
                known.push(r);
                continue;
            }
            q.push_known(std::mem::take(&mut known));
            q.push(r.db, r.key, r.row, None);
        }
        q.push_known(known);
    }

    /// Queues an element's new row (see [`element_rows`]), replacing a queued row of the same
    /// element, which keeps what the table holds of it.
    /// It is staged, and joins the queue with the others at the next take of the queue: at
    /// the batch's commit at the latest, or once [`STAGED_MAX`] wait.
    pub(super) fn push_element(&self, key: element_rows::ElementKey, pending: Pending) {
        let mut staged = self.staged.borrow_mut();
        staged.push((key, pending));
        if staged.len() >= STAGED_MAX {
            drop(staged);
            drop(self.queue());
        }
    }

    /// The queued state of an element ([`element_rows::element_key`]): `Some(None)` when its
    /// deletion is queued, `None` when nothing of it is.
    pub(super) fn pending_element(
        &self,
        cid: CollectionId,
        h: i64,
        sub: &[u8],
    ) -> Option<Option<(Bytes, Option<i64>)>> {
        let mut q = self.queue();
        if !q.elements.holds(None) {
            return None;
        }
        q.elements
            .get(&element_rows::element_key(cid, h, sub))
            .map(Pending::row)
    }

    /// The scores the queued members of sorted set `cid` will have once applied.
    pub(super) fn queued_scores(&self, cid: CollectionId) -> Vec<f64> {
        self.queue().elements.scores(cid)
    }

    /// The first `n` queued members of sorted set `cid` from an end (the highest with `rev`)
    /// by their newest scores, unordered (see [`ElementRows::first_members`]).
    pub(super) fn first_queued_members(
        &self,
        cid: CollectionId,
        n: usize,
        rev: bool,
    ) -> Vec<(Bytes, f64)> {
        self.queue().elements.first_members(cid, n, rev)
    }

    /// The queued items of large list `cid` at positions `from..=to` (see
    /// [`ElementRows::items`]).
    pub(super) fn queued_items(
        &self,
        cid: CollectionId,
        from: i64,
        to: i64,
    ) -> Vec<(i64, Option<Bytes>)> {
        self.queue().elements.items(cid, from, to)
    }

    /// Which of `members` of `cid` (at their positions) have a queued entry.
    pub(super) fn queued_among(&self, cid: CollectionId, members: &[(i64, &[u8])]) -> Vec<bool> {
        self.queue().elements.queued_among(cid, members)
    }

    /// What the queued members of sorted set `cid` change a count of those `within` picks
    /// by: read with the connection held (no chunk is half applied then), it makes the
    /// table's count the store's without applying them.
    pub(super) fn count_delta(
        &self,
        cid: CollectionId,
        within: &dyn Fn(f64, &[u8]) -> bool,
    ) -> i64 {
        self.queue().elements.count_delta(cid, within)
    }

    /// Whether element rows of `cid` (of any collection, with `None`) are queued.
    pub(super) fn holds_elements(&self, cid: Option<CollectionId>) -> bool {
        self.queue().elements.holds(cid)
    }

    /// Applies the queued element rows of `cid` (every one, with `None`) now, on the caller's
    /// thread, with `conn` (locked by the caller, no merge requested): before a statement
    /// that reads or changes more than one element row of the collection. Returns how many
    /// it applied; after a failure the rows stay queued and the error is returned.
    pub(super) fn settle_elements(
        &self,
        conn: &Connection,
        cid: Option<CollectionId>,
    ) -> Result<usize, StoreError> {
        let entries = {
            let mut q = self.queue();
            debug_assert!(!matches!(q.merge, Merge::Requested(_)));
            match cid {
                Some(cid) => q.elements.take_collection(cid),
                None => q.elements.take(usize::MAX, false),
            }
        };
        self.settle_taken_elements(conn, entries)
    }

    /// Applies element rows a settle took out of the queue, on the caller's thread.
    fn settle_taken_elements(
        &self,
        conn: &Connection,
        entries: Vec<(element_rows::ElementKey, Pending)>,
    ) -> Result<usize, StoreError> {
        if entries.is_empty() {
            return Ok(0);
        }
        self.shared
            .apply_elements(conn, entries)
            .map_err(|e| StoreError::Io(format!("writing element rows failed: {e}")))
    }

    /// Drops the queued element rows of `cid`, a collection whose key is gone: the reclaim
    /// deletes whatever rows of it the table holds (none is frozen: the caller waited for
    /// the merge). Returns how many of them would have added a row.
    pub(super) fn discard_elements(&self, cid: CollectionId) -> u64 {
        let mut q = self.queue();
        if !q.elements.holds(Some(cid)) {
            return 0;
        }
        let dropped = q.elements.take_collection(cid);
        drop(q);
        dropped.iter().filter(|(_, p)| p.adds_row()).count() as u64
    }

    /// Applies the queued element rows of `cid` at positions `from..=to` that `pick` picks,
    /// now, on the caller's thread, as [`Self::settle_elements`] does: a statement over
    /// part of a collection (a page of HSCAN, a pick of SPOP, a range of scores) needs
    /// those in the table, not all of the collection's. Returns how many it applied: the
    /// caller reads again until none was.
    pub(super) fn settle_span(
        &self,
        conn: &Connection,
        cid: CollectionId,
        (from, to): (i64, i64),
        pick: &dyn Fn(&Pending) -> bool,
    ) -> Result<usize, StoreError> {
        let entries = {
            let mut q = self.queue();
            debug_assert!(!matches!(q.merge, Merge::Requested(_)));
            q.elements.take_span(cid, from, to, pick)
        };
        self.settle_taken_elements(conn, entries)
    }

    /// What the queued rows will change each database's counts (keys, expires) by, once
    /// applied; `None` while a queued key's presence in the table is not known (its row
    /// came without it), when the rows must be applied to count. Read with the connection
    /// held, so that no chunk is half applied, it makes the table's counts the keyspace's
    /// without applying the queue.
    pub(super) fn pending_counts(&self) -> Option<Vec<(DbIndex, (i64, i64))>> {
        let q = self.queue();
        (q.unknown == 0).then(|| {
            q.counts
                .iter()
                .filter(|(_, &c)| c != (0, 0))
                .map(|(&db, &c)| (db, c))
                .collect()
        })
    }

    /// Whether every queued row came with its key's presence in the table, so that
    /// [`Self::pending_counts`] knows what they change.
    pub(super) fn counts_known(&self) -> bool {
        self.queue().unknown == 0
    }

    /// Each database's counts (keys, expires) with every queued row applied, without reading
    /// the table: known from the last count the store made ([`Self::know_totals`]) and the
    /// rows queued since, unless the table changed otherwise meanwhile.
    pub(super) fn totals(&self) -> Option<Vec<(DbIndex, (i64, i64))>> {
        let q = self.queue();
        q.totals
            .as_ref()
            .map(|t| t.iter().map(|(&db, &c)| (db, c)).collect())
    }

    /// Records the counts the store just made (table plus [`Self::pending_counts`]), which
    /// the rows queued from now on move.
    pub(super) fn know_totals(&self, totals: impl IntoIterator<Item = (DbIndex, (i64, i64))>) {
        let mut q = self.queue();
        if q.unknown == 0 {
            q.totals = Some(totals.into_iter().collect());
        }
    }

    /// The store changed the key table other than through the queue (a flush, a rename, a
    /// plugin's SQL, a rollback): the next count reads the table again.
    pub(super) fn forget_totals(&self) {
        self.queue().totals = None;
    }

    /// Queues a metadata figure, replacing one of the same name still queued.
    pub(super) fn push_meta(&self, name: &str, value: i64) {
        self.queue().meta.insert(name.to_string(), value);
    }

    /// The queued value of a metadata figure.
    pub(super) fn pending_meta(&self, name: &str) -> Option<i64> {
        let q = self.queue();
        if q.meta.is_empty() && q.frozen_meta.is_empty() {
            return None;
        }
        q.meta
            .get(name)
            .or_else(|| q.frozen_meta.get(name))
            .copied()
    }

    /// Rows still queued (not yet applied).
    #[cfg(test)]
    pub(super) fn queued(&self) -> usize {
        let mut q = self.queue();
        q.latest().len() + q.frozen.len()
    }

    /// The queued row of a key: `Some(None)` when its deletion is queued, `None` when
    /// nothing of it is.
    #[cfg(test)]
    pub(super) fn pending(&self, db: DbIndex, key: &[u8]) -> Option<Option<Record>> {
        let mut q = self.queue();
        if q.latest().is_empty() && q.frozen.is_empty() {
            return None;
        }
        q.get(db, key).cloned()
    }

    /// Where a read of a key finds its newest row without waiting for the connection: in
    /// the queue, among the rows applied to the open transaction since its last commit, or
    /// else in the file's committed state (unless the store changed the keys table itself
    /// since, or more rows were applied than are kept).
    pub(super) fn lookup(&self, db: DbIndex, key: &[u8]) -> Lookup {
        let mut q = self.queue();
        if let Some(row) = q.get(db, key) {
            return Lookup::Queued(row.clone());
        }
        if let Some((row, _)) = find(&q.unsettled, db, key) {
            return Lookup::Queued(row.clone());
        }
        if q.unsettled_all {
            Lookup::Transaction
        } else {
            Lookup::Committed
        }
    }

    /// The store changed the keys table with a statement of its own (a flush, a rename, a
    /// plugin's SQL, a rebuild): until the next commit, reads must see the open transaction.
    pub(super) fn tables_rewritten(&self) {
        // The rows kept may no longer be the table's.
        self.queue().unsettle_all();
    }

    /// The store committed the open transaction itself (with the connection held, so that
    /// no row went into the next one yet).
    pub(super) fn committed(&self) {
        self.queue().settled();
    }

    /// Whether applying rows failed and no settle has succeeded since: the open transaction
    /// may be lost, and must be rebuilt before the tables are read.
    pub(super) fn failed(&self) -> bool {
        self.queue().failed.is_some()
    }

    /// Changes the window (CONFIG SET row-window-bytes); rows past a smaller one are applied
    /// at once.
    pub(super) fn set_window(&self, window: usize) {
        let _q = self.queue();
        self.shared
            .window
            .store(window, std::sync::atomic::Ordering::Relaxed);
        self.shared.wake.notify_one();
    }

    /// Lets the thread start on what was queued past its window (once per batch, not per
    /// row). Past [`HOLD_QUEUED_BYTES`] beyond the window the queue is backlogged (see
    /// [`Self::backlogged`]); past [`MAX_QUEUED_BYTES`] this waits for the writer, down to
    /// [`RESUME_QUEUED_BYTES`] (back-pressure: the rows are durable in the journal already,
    /// but the caller holds the batch's replies, and everyone else waits with them). The
    /// caller must not hold the connection.
    pub(super) fn wake(&self) {
        let mut q = self.queue();
        let window = self.shared.window();
        if q.queued_bytes() > window + HOLD_QUEUED_BYTES {
            // Rows not yet in the map count once per batch that queued them: once each.
            q.absorb();
            q.elements.absorb();
        }
        let absorb = q.incoming.len() >= ABSORB_WAKE || q.elements.incoming() >= ABSORB_WAKE;
        if !absorb && (q.is_empty() || q.failed.is_some() || q.holds_back(window)) {
            return; // nothing for the thread to do: no wake-up (a system call) per batch
        }
        if q.parked {
            // (A thread at work looks at the queue again before it waits.)
            self.shared.wake.notify_one();
        }
        if q.queued_bytes() > window + HOLD_QUEUED_BYTES && !q.backlog {
            q.backlog = true;
            q.backlogs += 1;
        }
        if q.queued_bytes() > window + MAX_QUEUED_BYTES && !q.paused {
            q.backpressure_waits += 1;
            while q.queued_bytes() > window + RESUME_QUEUED_BYTES && q.failed.is_none() && !q.stop {
                q = self
                    .shared
                    .applied
                    .wait(q)
                    .unwrap_or_else(|e| e.into_inner());
            }
        }
    }

    /// Whether the queue is backlogged: it passed [`HOLD_QUEUED_BYTES`] beyond the window at
    /// a batch's end, and the writer has not brought it under [`RESUME_QUEUED_BYTES`] since.
    /// The executor holds writing commands back meanwhile, rather than stopping for everyone
    /// at [`MAX_QUEUED_BYTES`]: reads, and clients that only read, go on. Not after a row
    /// failed to apply (a full disk): the queue does not drain then, and writes go on to get
    /// their errors or succeed.
    pub(super) fn backlogged(&self) -> bool {
        let mut q = self.queue();
        if q.backlog
            && (q.queued_bytes() <= self.shared.window() + RESUME_QUEUED_BYTES
                || q.failed.is_some()
                || q.stop)
        {
            q.backlog = false;
        }
        q.backlog
    }

    /// Stops (or restarts) the writer's thread applying rows outside merges, as DEBUG
    /// ROW-WRITER PAUSE asks: the queue then grows until a merge takes it (commits do not
    /// wait for a paused writer), which lets a test see what a writer slower than the load
    /// does. Merges still run, so nothing waits on the pause for ever.
    pub(super) fn set_paused(&self, paused: bool) {
        self.queue().paused = paused;
        self.shared.wake.notify_one();
    }

    /// Applies every queued row now, on the caller's thread, with `conn` (the shared
    /// connection, locked by the caller). After a failure (here or on the writer's thread)
    /// the rows stay queued and readable, and the error is returned until a settle succeeds.
    ///
    /// `statement`: for a statement over all keys rather than a merge. Those come in runs (a
    /// SCAN's pages, an eviction's random picks under a write load), and each would apply on
    /// this thread what the window holds back: the writer stops holding rows back for
    /// [`WINDOW_PAUSE`].
    pub(super) fn settle(&self, conn: &Connection, statement: bool) -> Result<(), StoreError> {
        {
            let mut q = self.queue();
            q.failed = None;
            if statement && !q.latest().is_empty() {
                q.settled_at = Some(std::time::Instant::now());
            }
        }
        while self.shared.apply_chunk(conn, usize::MAX, true) {}
        match self.queue().failed.clone() {
            Some(e) => Err(StoreError::Io(format!("writing key rows failed: {e}"))),
            None => Ok(()),
        }
    }

    /// Applies the queued rows of `keys` now, on the caller's thread, with `conn` (locked by
    /// the caller): a statement about these keys alone (a rename) needs their rows in the
    /// table, not the whole queue. Returns how many rows it applied.
    pub(super) fn settle_keys(
        &self,
        conn: &Connection,
        keys: &[(DbIndex, &[u8])],
    ) -> Result<usize, StoreError> {
        self.settle_taken(conn, |q| {
            keys.iter()
                .filter_map(|&(db, key)| q.remove(db, key))
                .collect()
        })
    }

    /// Applies the queued rows that `due` picks now, on the caller's thread, with `conn`
    /// (locked by the caller): a look for keys to expire needs the rows whose expiry passed
    /// in the table, not the whole queue. A pass over the queue, which the window bounds.
    /// Skipped while no queued row has an expiry ([`Queue::may_expire`]).
    pub(super) fn settle_due(
        &self,
        conn: &Connection,
        due: impl Fn(&Record) -> bool,
    ) -> Result<usize, StoreError> {
        self.settle_taken(conn, |q| {
            if !q.may_expire {
                return Vec::new();
            }
            // Rows with an expiry that stay queued (not due yet) keep the next look.
            let stay = std::cell::Cell::new(false);
            let taken = q.remove_where(|_, row| {
                let due = row.as_ref().is_some_and(&due);
                stay.set(stay.get() || (!due && expires(row.as_ref())));
                due
            });
            q.may_expire = stay.get();
            taken
        })
    }

    /// Applies the queued rows of slot `db` (with `only`), or those of every other slot
    /// (without), now, on the caller's thread, with `conn` (locked by the caller): before a
    /// flush of the slot, which detaches it (its rows go in first) or empties the whole table
    /// (the others' go in first, and its own are dropped, see [`Self::drop_rows`]). A pass
    /// over the queue, which the window bounds.
    pub(super) fn settle_slot(
        &self,
        conn: &Connection,
        db: DbIndex,
        only: bool,
    ) -> Result<usize, StoreError> {
        self.settle_taken(conn, |q| q.remove_where(|d, _| (d == db) == only))
    }

    /// Drops every queued row without applying it, before a statement that deletes every
    /// row of the key table (a flush): returns the collections the rows point at, which the
    /// table may not list yet (the store queues them for the reclaim with the table's). The
    /// metadata figures stay queued. Never while a merge is requested.
    /// With `elements` (the flush empties the element tables too), the queued element rows
    /// go as well; otherwise they stay queued, and a reclaim step applies a collection's
    /// before it deletes its rows.
    pub(super) fn drop_rows(&self, elements: bool) -> Vec<CollectionId> {
        let mut q = self.queue();
        debug_assert!(!matches!(q.merge, Merge::Requested(_)));
        if elements {
            q.elements.clear();
        }
        let rows = std::mem::take(q.latest());
        let mut collections = Vec::new();
        for ((db, key), (row, was)) in rows {
            q.bytes -= row_bytes(&key, row.as_ref());
            q.counted(db, row.as_ref(), was);
            collections.extend(row.and_then(|r| r.cid));
        }
        q.failed = None;
        collections
    }

    /// Applies the queued rows a page of database `db`'s keys needs, now, on the caller's
    /// thread, with `conn` (locked by the caller): a page of SCAN, or RANDOMKEY's probe,
    /// reads `count` keys from position `from` on (and one more, to know whether others
    /// follow), not the whole table. `table` holds the positions the table gave for the page
    /// (in order, up to `count + 1`). A full page needs the rows of the positions up to its
    /// `count`th key's; a short one those up to the `count + 1`th position among the table's
    /// and the queued keys', since queued keys may fill it. A pass over the queue, which the
    /// window bounds. Returns how many rows it applied: the caller reads the page again
    /// until none was.
    pub(super) fn settle_page(
        &self,
        conn: &Connection,
        db: DbIndex,
        from: i64,
        count: usize,
        table: &[i64],
    ) -> Result<usize, StoreError> {
        self.settle_taken(conn, |q| {
            let queued: Vec<(i64, &(DbIndex, ShortBytes))> = q
                .latest()
                .iter()
                .filter(|((d, _), _)| *d == db)
                .map(|(k, _)| (super::sqlite::position(&k.1), k))
                .filter(|&(h, _)| h >= from)
                .collect();
            if queued.is_empty() {
                return Vec::new();
            }
            let to = if table.len() > count {
                table[count.saturating_sub(1)]
            } else {
                let mut all: Vec<i64> = table.to_vec();
                all.extend(queued.iter().map(|&(h, _)| h));
                if all.len() > count {
                    *all.select_nth_unstable(count).1
                } else {
                    i64::MAX
                }
            };
            let keys: Vec<(DbIndex, ShortBytes)> = queued
                .into_iter()
                .filter(|&(h, _)| h <= to)
                .map(|(_, k)| k.clone())
                .collect();
            keys.iter()
                .filter_map(|(db, key)| q.remove(*db, key))
                .collect()
        })
    }

    /// Applies the rows `take` takes out of the queue, on the caller's thread, and returns
    /// how many. After a failure (now or earlier) the whole queue is settled instead, which
    /// retries it.
    fn settle_taken(
        &self,
        conn: &Connection,
        take: impl FnOnce(&mut Queue) -> Vec<Taken>,
    ) -> Result<usize, StoreError> {
        let rows = {
            let mut q = self.queue();
            if q.failed.is_some() {
                drop(q);
                let queued = self.queue().latest().len();
                return self.settle(conn, true).map(|()| queued);
            }
            take(&mut q)
        };
        self.shared
            .apply_rows(conn, rows, true)
            .map_err(|e| StoreError::Io(format!("writing key rows failed: {e}")))
    }

    /// Asks the writer's thread to commit the open transaction as the merge of the journal's
    /// records up to `seq`, every one of whose batches has queued its rows already: the
    /// thread applies the rows queued so far (no later ones), then commits. The caller must
    /// not write to the connection, nor settle rows, until [`Self::await_merge`] returned.
    pub(super) fn request_merge(&self, seq: u64) {
        let mut q = self.queue();
        debug_assert!(matches!(q.merge, Merge::Idle));
        q.freeze();
        q.merge = Merge::Requested(seq);
        self.shared.wake.notify_one();
    }

    /// The outcome of the merge asked for, once its commit is done: waits for it if `wait`,
    /// else answers `None` while it runs. `None` too when no merge was asked for.
    pub(super) fn await_merge(&self, wait: bool) -> Option<MergeDone> {
        let mut q = self.queue();
        loop {
            match std::mem::take(&mut q.merge) {
                Merge::Idle => return None,
                Merge::Done(ms, result) => {
                    let (seq, error) = match result {
                        Ok(seq) => (seq, None),
                        Err(e) => (0, Some(e)),
                    };
                    return Some(MergeDone { seq, ms, error });
                }
                requested @ Merge::Requested(_) => {
                    q.merge = requested;
                    if !wait {
                        return None;
                    }
                    q = self
                        .shared
                        .merged
                        .wait(q)
                        .unwrap_or_else(|e| e.into_inner());
                }
            }
        }
    }

    /// A lock that keeps merges from committing while a test holds it (the writer's thread
    /// then waits with the connection held, as during a long commit).
    #[cfg(test)]
    pub(super) fn merge_gate(&self) -> Arc<Mutex<()>> {
        Arc::clone(&self.shared.hold_merges)
    }

    /// A lock that keeps a requested merge from applying its first row while a test holds it
    /// (the writer's thread then waits without the connection).
    #[cfg(test)]
    pub(super) fn merge_start_gate(&self) -> Arc<Mutex<()>> {
        Arc::clone(&self.shared.hold_merge_starts)
    }

    /// Fills the row writer's fields of `stats`.
    pub(super) fn stats(&self, stats: &mut super::JournalStats) {
        let mut q = self.queue();
        // (The figures count rows coalesced in the maps.)
        q.absorb();
        q.elements.absorb();
        stats.rows_window_bytes = self.shared.window() as u64;
        stats.rows_queued = q.rows_queued() as u64;
        stats.rows_queued_bytes = q.queued_bytes() as u64;
        stats.element_rows_queued = q.elements.len() as u64;
        stats.element_rows_coalesced = q.elements.coalesced;
        stats.element_rows_applied = q.elements.applied;
        stats.rows_backpressure_waits = q.backpressure_waits;
        stats.rows_backlogs = q.backlogs;
        stats.rows_applied_background = q.applied_background;
        stats.rows_applied_inline = q.applied_inline;
        stats.rows_coalesced = q.coalesced;
    }

    /// Drops every queued row (the open transaction is being rolled back and rebuilt from
    /// the journal), with `conn` locked by the caller so that no chunk is half applied.
    pub(super) fn discard(&self, _conn: &Connection) {
        let mut q = self.queue();
        q.clear();
        q.failed = None;
        debug_assert!(!matches!(q.merge, Merge::Requested(_)));
    }
}

impl Drop for RowWriter {
    fn drop(&mut self) {
        self.shared.queue().stop = true;
        self.shared.wake.notify_all();
        self.shared.applied.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The writer's thread: waits for rows or a merge, then applies the rows a chunk per hold of
/// the connection.
fn run(shared: &Shared) {
    loop {
        {
            let mut q = shared.queue();
            loop {
                // The rows the executor queued join the maps here, a chunk per hold of the
                // queue (the executor's next commit takes it too).
                while q.absorb_some(CHUNK) | q.elements.absorb_some(CHUNK) {
                    drop(q);
                    q = shared.queue();
                }
                if !((q.is_empty()
                    || q.failed.is_some()
                    || q.paused
                    || q.holds_back(shared.window()))
                    && !matches!(q.merge, Merge::Requested(_))
                    && !q.stop)
                {
                    break;
                }
                q.parked = true;
                q = shared.wake.wait(q).unwrap_or_else(|e| e.into_inner());
                q.parked = false;
            }
            if q.stop && !matches!(q.merge, Merge::Requested(_)) {
                return;
            }
        }
        // (Only this thread ends a requested merge: asked for now, it stays so.)
        let requested = match shared.queue().merge {
            Merge::Requested(seq) => Some(seq),
            _ => None,
        };
        #[cfg(test)]
        if requested.is_some() {
            drop(shared.hold_merge_starts.lock());
        }
        let conn = lock_for_writer(&shared.conn);
        if let Some(seq) = requested {
            // The merge's rows first, a chunk per hold of the connection as any (none after
            // one failed: the merge fails instead).
            let failed = shared.queue().failed.is_some();
            if !failed && shared.apply_while_alone(&conn) {
                drop(conn);
                shared.applied.notify_all();
                shared.let_executor_in();
                continue;
            }
            #[cfg(test)]
            let _held = shared.hold_merges.lock();
            let started = std::time::Instant::now();
            let failed = shared.queue().failed.clone();
            // A row that failed fails the merge: the store rebuilds the open transaction from
            // the journal, which holds every row queued.
            let result = match failed {
                Some(e) => Err(format!("writing key rows failed: {e}")),
                None => commit_merge(&conn, seq).map_err(|e| e.to_string()),
            };
            drop(conn);
            let ms = started.elapsed().as_millis() as u64;
            let mut q = shared.queue();
            let spent = if result.is_ok() {
                let spent = q.spent_maps();
                // The rows the writer takes from here on go to the next transaction.
                q.settled();
                spent
            } else {
                None
            };
            q.merge = Merge::Done(ms, result);
            drop(q);
            drop(spent); // (their nodes freed without the queue's lock)
            shared.merged.notify_all();
            // A commit waiting for the queue to shrink may go on: the rows queued meanwhile
            // can be applied now.
            shared.applied.notify_all();
            continue;
        }
        let more = shared.apply_while_alone(&conn);
        drop(conn);
        shared.applied.notify_all();
        if more {
            shared.let_executor_in();
        }
    }
}

/// Records `seq` as merged and commits the open transaction, then opens the next one, so
/// that the executor finds a transaction open as it left it.
fn commit_merge(conn: &Connection, seq: u64) -> rusqlite::Result<u64> {
    conn.prepare_cached(SQL_MERGED_SEQ)?.execute([seq as i64])?;
    conn.prepare_cached("COMMIT")?.execute([])?;
    conn.prepare_cached("BEGIN")?.execute([])?;
    Ok(seq)
}

/// Records the journal's last merged sequence number, in the merge's transaction.
pub(super) const SQL_MERGED_SEQ: &str = "INSERT INTO meta (name, value) VALUES ('redo_seq', ?1)
     ON CONFLICT (name) DO UPDATE SET value = excluded.value";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::ValueType;
    use rusqlite::OptionalExtension;

    /// The window of the tests that need one: 2 MB.
    const WINDOW: usize = 2 << 20;

    /// `conn` with the schema and a transaction open, shared as the store shares it.
    fn shared_conn(conn: Connection) -> SharedConn {
        conn.execute_batch(super::super::sqlite::SCHEMA).unwrap();
        conn.execute_batch("BEGIN").unwrap();
        share(conn)
    }

    fn record(v: &str) -> Record {
        Record {
            kind: ValueType::String,
            value: Bytes::copy_from_slice(v.as_bytes()),
            expire_at: None,
            version: 1,
            cid: None,
            sub_expire_at: None,
        }
    }

    #[test]
    fn rows_of_keys_known_new_or_present_are_written_and_counted_whatever_the_table_holds() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(super::super::sqlite::SCHEMA).unwrap();
        conn.execute_batch("BEGIN").unwrap();
        let absent = Some(Presence::default());
        let path = RowPath::default();
        let mut statements = RowStatements::new(&conn);
        let h = |k: &[u8]| super::super::sqlite::position(k);
        statements
            .apply(&path, 0, h(b"new"), b"new", Some(&record("1")), absent)
            .unwrap();
        // The key is there: the insert fails on its key, and the upsert writes the row.
        statements
            .apply(&path, 0, h(b"new"), b"new", Some(&record("2")), absent)
            .unwrap();
        drop(statements);
        let read = |k: &str| -> (Vec<u8>, i64) {
            conn.query_row(
                "SELECT value, (SELECT keys FROM db_stats WHERE db = 0) FROM keys WHERE key = ?1",
                [k.as_bytes()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
        };
        // One key counted (the failed insert's trigger never ran), with the newest value.
        assert_eq!(read("new"), (b"2".to_vec(), 1));
        // A key the table has, given an expiry: the whole row is updated, and counted.
        let present = Some(Presence {
            exists: true,
            expires: false,
        });
        let mut statements = RowStatements::new(&conn);
        let mut ttl = record("3");
        ttl.expire_at = Some(12345);
        statements
            .apply(&path, 0, h(b"new"), b"new", Some(&ttl), present)
            .unwrap();
        // A key said to be there that is not: the update finds nothing, the upsert writes it.
        statements
            .apply(&path, 0, h(b"gone"), b"gone", Some(&record("4")), present)
            .unwrap();
        drop(statements);
        assert_eq!(read("new"), (b"3".to_vec(), 2));
        assert_eq!(read("gone"), (b"4".to_vec(), 2));
        let expires: i64 = conn
            .query_row("SELECT expires FROM db_stats WHERE db = 0", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(expires, 1);
        conn.execute_batch("COMMIT").unwrap();
    }

    #[test]
    fn a_key_queued_twice_is_applied_once_with_its_last_row_and_in_key_order() {
        let mut q = Queue::default();
        for (k, v) in [("b", "1"), ("a", "2"), ("b", "3")] {
            let key = Bytes::copy_from_slice(k.as_bytes());
            q.push(0, key, Some(record(v)), None);
        }
        let (rows, _) = q.take(10);
        assert_eq!(rows.len(), 2);
        assert!(q.latest().is_empty());
        let b = rows.iter().find(|r| &r.2[..] == b"b").unwrap();
        assert_eq!(b.3.as_ref().unwrap().value, Bytes::from_static(b"3"));
        let hs: Vec<i64> = rows.iter().map(|r| r.1).collect();
        assert!(hs.windows(2).all(|w| w[0] <= w[1]));
    }

    /// Rows taken for the open transaction stay readable until it commits, up to
    /// [`UNSETTLED_MAX_BYTES`]: past it the queue keeps none and says so.
    #[test]
    fn applied_rows_stay_readable_until_the_commit_within_their_bound() {
        let mut q = Queue::default();
        let big = Record {
            value: Bytes::from(vec![b'v'; 1 << 20]),
            ..record("")
        };
        q.push(0, Bytes::from_static(b"gone"), None, None);
        q.push(0, Bytes::from_static(b"small"), Some(record("1")), None);
        let _ = q.take(10);
        assert!(q.get(0, b"small").is_none(), "no longer queued");
        let kept = |q: &Queue, key: &[u8]| find(&q.unsettled, 0, key).map(|(r, _)| r.clone());
        assert_eq!(kept(&q, b"small").flatten().unwrap().value, "1");
        assert_eq!(kept(&q, b"gone"), Some(None));
        let mut i = 0;
        while !q.unsettled_all {
            assert!(q.unsettled_bytes <= UNSETTLED_MAX_BYTES);
            q.push(0, Bytes::from(format!("big{i}")), Some(big.clone()), None);
            let _ = q.take(1);
            i += 1;
        }
        assert_eq!(i, UNSETTLED_MAX_BYTES >> 20);
        assert!(q.unsettled.is_empty() && q.unsettled_bytes == 0);
        q.settled();
        assert!(!q.unsettled_all);
        q.push(0, Bytes::from_static(b"small"), Some(record("2")), None);
        let _ = q.take(1);
        assert_eq!(kept(&q, b"small").flatten().unwrap().value, "2");
        q.settled();
        // A merge's rows are kept as it applies them when they fit...
        q.push(0, Bytes::from_static(b"merged"), Some(big.clone()), None);
        q.freeze();
        q.merge = Merge::Requested(1);
        assert!(!q.unsettled_all);
        let _ = q.take(1);
        assert!(kept(&q, b"merged").is_some());
        q.settled();
        q.merge = Merge::Idle;
        // ...and none of them when they do not: the map would overflow before their end.
        for i in 0..=(UNSETTLED_MAX_BYTES >> 20) {
            q.push(0, Bytes::from(format!("big{i}")), Some(big.clone()), None);
        }
        q.freeze();
        q.merge = Merge::Requested(2);
        assert!(q.unsettled_all);
        let _ = q.take(1);
        assert!(q.unsettled.is_empty() && q.unsettled_bytes == 0);
    }

    /// The queue's counts follow each key from its presence in the table before its first
    /// queued row to its last row, and leave with the row.
    #[test]
    fn queued_rows_count_what_they_change_until_applied() {
        const ABSENT: Presence = Presence {
            exists: false,
            expires: false,
        };
        const PLAIN: Presence = Presence {
            exists: true,
            expires: false,
        };
        let ttl = |v: &str| Record {
            expire_at: Some(1),
            ..record(v)
        };
        let key = |k: &str| Bytes::copy_from_slice(k.as_bytes());
        let counts = |q: &Queue, db: DbIndex| q.counts.get(&db).copied().unwrap_or_default();
        let mut q = Queue::default();
        q.push(0, key("new"), Some(record("1")), Some(ABSENT));
        q.push(0, key("old"), None, Some(PLAIN));
        q.push(0, key("same"), Some(record("2")), Some(PLAIN));
        q.push(1, key("ttl"), Some(ttl("3")), Some(PLAIN));
        assert_eq!((counts(&q, 0), counts(&q, 1)), ((0, 0), (0, 1)));
        // A key's later rows keep its presence in the table: "new" deleted again counts
        // nothing, "old" written again (with a TTL) only its expiry.
        q.push(0, key("new"), None, Some(PLAIN));
        q.push(0, key("old"), Some(ttl("4")), Some(ABSENT));
        assert_eq!(counts(&q, 0), (0, 1));
        q.push(0, key("gone"), None, Some(PLAIN));
        assert_eq!(counts(&q, 0), (-1, 1));
        // Taken for applying, then put back after a failure, while "old" was deleted again
        // (queued as if its taken row were in the table).
        let (mut rows, _) = q.take(10);
        assert_eq!((counts(&q, 0), counts(&q, 1)), ((0, 0), (0, 0)));
        rows.retain(|r| &r.2[..] == b"old" || &r.2[..] == b"gone");
        q.push(0, key("old"), None, Some(Presence::of(Some(&ttl("4")))));
        q.requeue(rows.into_iter(), Vec::new());
        // Both are in the table, without an expiry, and both are to be deleted.
        assert_eq!(counts(&q, 0), (-2, 0));
        assert_eq!(q.unknown, 0);
        // A row whose key's presence is not known makes the counts unknown until it leaves.
        q.push(2, key("who"), Some(record("5")), None);
        q.push(2, key("who"), None, Some(PLAIN));
        assert_eq!(q.unknown, 1);
        let _ = q.take(10);
        assert_eq!((q.unknown, counts(&q, 0)), (0, (0, 0)));
        q.push(0, key("x"), None, Some(PLAIN));
        q.clear();
        assert!(q.counts.is_empty());
    }

    /// Rows queued without a lookup ([`Queue::push_known`]) and moved into the map later
    /// leave the queue as they would have had each been pushed at once: the same rows, bytes,
    /// counts, totals and coalescing, a read in between included, and a key whose first row
    /// came without its presence.
    #[test]
    fn rows_queued_without_a_lookup_count_and_coalesce_as_pushed_ones() {
        let key = |i: u64| ShortBytes::from(Bytes::from(format!("k{}", i % 40)));
        let mut pushed = Queue::default();
        let mut deferred = Queue::default();
        for q in [&mut pushed, &mut deferred] {
            q.totals = Some(HashMap::default());
        }
        let figures = |q: &Queue| {
            // (A database whose change came back to none may keep its entry at (0, 0).)
            let nonzero = |m: &HashMap<DbIndex, (i64, i64), ahash::RandomState>| {
                m.iter()
                    .filter(|(_, c)| **c != (0, 0))
                    .map(|(d, c)| (*d, *c))
                    .collect::<std::collections::BTreeMap<_, _>>()
            };
            let totals = q.totals.as_ref().map(nonzero);
            let counts = nonzero(&q.counts);
            (q.bytes, q.coalesced, q.unknown, counts, totals)
        };
        // The keyspace's account of each key: its presence as of the rows queued so far.
        let mut presence: HashMap<(DbIndex, ShortBytes), Presence> = HashMap::new();
        let known = |db, key, row, was| crate::storage::KeyRow {
            db,
            key,
            row,
            was: Some(was),
        };
        let mut batch = Vec::new();
        let mut x = 7u64;
        for i in 0..1_800u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let (db, k) = ((x >> 60) as DbIndex % 2, key(x >> 20));
            let row = match (x >> 8) % 3 {
                0 => None,
                1 => Some(record(&i.to_string())),
                _ => Some(Record {
                    expire_at: Some(1),
                    ..record(&i.to_string())
                }),
            };
            let was = presence.get(&(db, k.clone())).copied().unwrap_or_default();
            presence.insert((db, k.clone()), Presence::of(row.as_ref()));
            if i % 500 == 499 {
                // A plugin's row: its key's presence unknown (the totals unknown from here).
                deferred.push_known(std::mem::take(&mut batch));
                deferred.absorb();
                assert_eq!(figures(&pushed), figures(&deferred));
                pushed.push(db, k.clone(), row.clone(), None);
                deferred.push(db, k, row, None);
                // A new key's, then the keyspace's rows of it.
                let k = ShortBytes::from(Bytes::from(format!("plugin{i}")));
                pushed.push(db, k.clone(), None, None);
                deferred.push(db, k.clone(), None, None);
                for v in ["a", "b"] {
                    let was = presence.insert((db, k.clone()), Presence::of(Some(&record(v))));
                    let was = was.unwrap_or_default();
                    pushed.push(db, k.clone(), Some(record(v)), Some(was));
                    batch.push(known(db, k.clone(), Some(record(v)), was));
                }
                deferred.push_known(std::mem::take(&mut batch));
                continue;
            }
            pushed.push(db, k.clone(), row.clone(), Some(was));
            batch.push(known(db, k.clone(), row, was));
            if i % 7 == 0 {
                // A commit's rows, handed over together.
                deferred.push_known(std::mem::take(&mut batch));
            }
            if i % 97 == 0 {
                deferred.push_known(std::mem::take(&mut batch));
                assert_eq!(pushed.get(db, &k).cloned(), deferred.get(db, &k).cloned());
            }
            if i % 301 == 0 {
                deferred.push_known(std::mem::take(&mut batch));
                let _ = deferred.absorb_some(5);
            }
        }
        deferred.push_known(batch);
        assert!(!deferred.incoming.is_empty());
        assert_eq!(pushed.counts, deferred.counts);
        deferred.absorb();
        assert_eq!(figures(&pushed), figures(&deferred));
        let (a, _) = pushed.take(usize::MAX);
        let (b, _) = deferred.take(usize::MAX);
        assert_eq!(a, b);
        assert_eq!(figures(&pushed), figures(&deferred));
        assert!(deferred.is_empty());
    }

    #[test]
    fn a_commit_waits_for_the_writer_while_the_queue_is_over_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let conn = shared_conn(Connection::open(dir.path().join("rows.db")).unwrap());
        let writer = RowWriter::start(Arc::clone(&conn), WINDOW).unwrap();
        let value = "v".repeat(1000);
        let bound = WINDOW + MAX_QUEUED_BYTES;
        let rows = 3 * bound / 1000;
        // Queued with the connection held, as the executor queues a batch: nothing applies.
        {
            let _held = lock(&conn);
            for i in 0..rows {
                writer.push(0, Bytes::from(format!("k{i}")), Some(record(&value)));
            }
        }
        assert!(writer.shared.queue().bytes > 3 * bound);
        writer.wake();
        let q = writer.shared.queue();
        assert!(
            q.bytes <= WINDOW + MAX_QUEUED_BYTES / 2,
            "{} bytes queued",
            q.bytes
        );
        assert_eq!(q.backpressure_waits, 1);
        assert!(q.backlog, "the wait began past the hold mark");
        drop(q);
        assert!(!writer.backlogged(), "the wait ended under the resume mark");
        writer.settle(&lock(&conn), false).unwrap();
        let n: i64 = lock(&conn)
            .query_row("SELECT count(*) FROM keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n as usize, rows);
        assert_eq!(writer.shared.queue().bytes, 0);
    }

    #[test]
    fn past_the_hold_mark_the_queue_is_backlogged_until_the_writer_drains_it() {
        let dir = tempfile::tempdir().unwrap();
        let conn = shared_conn(Connection::open(dir.path().join("rows.db")).unwrap());
        let writer = RowWriter::start(Arc::clone(&conn), WINDOW).unwrap();
        let value = "v".repeat(1000);
        let row = row_bytes(b"k0000000", Some(&record(&value)));
        let push = |from: usize, to: usize| {
            for i in from..to {
                writer.push(0, Bytes::from(format!("k{i:07}")), Some(record(&value)));
            }
        };
        // Paused, the writer applies nothing, and a commit past the bound does not wait for
        // it: only a merge takes the rows then.
        writer.set_paused(true);
        let under_hold = (WINDOW + HOLD_QUEUED_BYTES) / row;
        push(0, under_hold);
        writer.wake();
        assert!(!writer.backlogged(), "under the hold mark");
        let past_bound = (WINDOW + MAX_QUEUED_BYTES) / row + 10;
        push(under_hold, past_bound);
        writer.wake();
        assert!(writer.backlogged());
        let mut q = writer.shared.queue();
        assert_eq!((q.backlogs, q.backpressure_waits), (1, 0));
        assert_eq!(q.latest().len(), past_bound);
        drop(q);
        // Still backlogged at the next ask; another commit counts no new backlog.
        writer.wake();
        assert!(writer.backlogged());
        assert_eq!(writer.shared.queue().backlogs, 1);
        // Resumed, the writer drains the queue down to its window, and the backlog ends.
        writer.set_paused(false);
        wait_rows(&conn, &writer, |_, _| !writer.backlogged());
        let q = writer.shared.queue();
        assert!(
            q.bytes <= WINDOW + RESUME_QUEUED_BYTES,
            "{} bytes queued",
            q.bytes
        );
        assert_eq!(q.backpressure_waits, 0);
    }

    /// The writer applies a chunk per hold of the connection while the executor leaves it
    /// alone, and lets go of it after a step of rows once a statement waits for it; a lock
    /// that has to wait says so while it waits.
    #[test]
    fn the_writer_lets_go_of_the_connection_a_step_after_a_statement_waits_for_it() {
        use std::sync::atomic::Ordering::SeqCst;
        let conn = shared_conn(Connection::open_in_memory().unwrap());
        let shared = Shared::new(Arc::clone(&conn), 0);
        for i in 0..CHUNK + 3 * STEP {
            let key = Bytes::from(format!("key:{i:04}"));
            shared.queue().push(0, key, Some(record("v")), None);
        }
        let queued = |shared: &Shared| shared.queue().latest().len();
        {
            let held = lock_for_writer(&conn);
            assert!(shared.apply_while_alone(&held));
        }
        assert_eq!(
            queued(&shared),
            3 * STEP,
            "a whole chunk while no one waits"
        );

        // A statement of the executor blocks on the connection while the writer holds it.
        let held = lock_for_writer(&conn);
        let reader = {
            let conn = Arc::clone(&conn);
            std::thread::spawn(move || {
                lock(&conn)
                    .query_row("SELECT count(*) FROM keys", [], |r| r.get::<_, i64>(0))
                    .unwrap()
            })
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !someone_waits(&conn) {
            assert!(
                std::time::Instant::now() < deadline,
                "the lock never said it waits"
            );
            std::thread::yield_now();
        }
        let taken = conn.taken.load(SeqCst);
        assert!(shared.apply_while_alone(&held));
        assert_eq!(
            queued(&shared),
            2 * STEP,
            "one step, then the connection goes"
        );
        drop(held);
        assert_eq!(reader.join().unwrap() as usize, CHUNK + STEP);
        assert!(!someone_waits(&conn));
        assert_eq!(conn.taken.load(SeqCst), taken + 1);
    }

    /// Rows in the table now, and rows still queued.
    fn applied_and_queued(conn: &SharedConn, writer: &RowWriter) -> (usize, usize) {
        let n: i64 = lock(conn)
            .query_row("SELECT count(*) FROM keys", [], |r| r.get(0))
            .unwrap();
        (n as usize, writer.shared.queue().latest().len())
    }

    /// Waits (up to 10 s) until `done` holds of (applied, queued).
    fn wait_rows(conn: &SharedConn, writer: &RowWriter, done: impl Fn(usize, usize) -> bool) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let (applied, queued) = applied_and_queued(conn, writer);
            if done(applied, queued) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{applied} rows applied, {queued} queued"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    #[test]
    fn rows_wait_in_the_window_until_a_merge_needs_them_or_it_overflows() {
        let dir = tempfile::tempdir().unwrap();
        let conn = shared_conn(Connection::open(dir.path().join("rows.db")).unwrap());
        let row = |i: usize, v: &str| (Bytes::from(format!("key:{i:04}")), Some(record(v)));
        let size = row_bytes(&row(0, "0").0, row(0, "0").1.as_ref());
        let writer = RowWriter::start(Arc::clone(&conn), 2000 * size).unwrap();
        // 1,500 keys fit the window: none is applied, however often they are written.
        for round in 0..3 {
            for i in 0..1500 {
                let (key, r) = row(i, &round.to_string());
                writer.push(0, key, r);
            }
            writer.wake();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert_eq!(applied_and_queued(&conn, &writer), (0, 1500));
        assert_eq!(writer.shared.queue().coalesced, 2 * 1500);
        // A merge has the writer apply them all, each once with its last row, and commit
        // them; a row queued after the merge was asked for waits for the next transaction.
        let gate = writer.merge_gate();
        let held = gate.lock().unwrap();
        let conn_held = lock(&conn); // the writer takes no row until it is released
        writer.request_merge(7);
        writer.push(0, Bytes::from("late"), Some(record("late")));
        writer.push(0, Bytes::from("key:0001"), Some(record("newer")));
        writer.wake();
        // Reads find the merge's rows, and the newer rows queued since before them.
        let pending = |key: &str| writer.pending(0, key.as_bytes()).flatten().map(|r| r.value);
        assert_eq!(pending("key:0000").as_deref(), Some(&b"2"[..]));
        assert_eq!(pending("key:0001").as_deref(), Some(&b"newer"[..]));
        assert_eq!(pending("late").as_deref(), Some(&b"late"[..]));
        assert_eq!(writer.shared.queue().rows_queued(), 1502);
        drop(conn_held);
        drop(held);
        let done = writer.await_merge(true).expect("requested");
        assert_eq!((done.seq, done.error), (7, None));
        let value = |conn: &Connection, key: &str| -> Option<String> {
            conn.query_row(
                "SELECT CAST(value AS TEXT) FROM keys WHERE key = CAST(?1 AS BLOB)",
                [key],
                |r| r.get(0),
            )
            .optional()
            .unwrap()
        };
        let committed = Connection::open(dir.path().join("rows.db")).unwrap();
        assert_eq!(value(&committed, "key:0000").as_deref(), Some("2"));
        assert_eq!(value(&committed, "key:1499").as_deref(), Some("2"));
        assert_eq!(value(&committed, "key:0001").as_deref(), Some("2"));
        assert_eq!(value(&committed, "late"), None, "not the merge's");
        writer.settle(&lock(&conn), false).unwrap();
        assert_eq!(value(&lock(&conn), "late").as_deref(), Some("late"));
        assert_eq!(value(&lock(&conn), "key:0001").as_deref(), Some("newer"));
        assert_eq!(writer.shared.queue().applied_background, 1500);
        let value = |key: &str| value(&lock(&conn), key).unwrap();
        lock(&conn)
            .execute("DELETE FROM keys WHERE key = CAST('late' AS BLOB)", [])
            .unwrap();
        // Past the window, the oldest rows are applied until it holds no more than its size:
        // the rest keep waiting.
        for i in 1500..3600 {
            let (key, r) = row(i, "new");
            writer.push(0, key, r);
        }
        writer.wake();
        wait_rows(&conn, &writer, |applied, queued| {
            applied > 1500 && applied + queued == 3600
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        let (applied, queued) = applied_and_queued(&conn, &writer);
        assert!(
            (1500..=2000).contains(&queued),
            "{applied} applied, {queued} queued"
        );
        assert_eq!(value("key:1500"), "new", "the oldest rows went first");
    }

    #[test]
    fn a_merge_whose_rows_cannot_be_applied_fails_and_commits_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let conn = shared_conn(Connection::open(dir.path().join("rows.db")).unwrap());
        let writer = RowWriter::start(Arc::clone(&conn), WINDOW).unwrap();
        writer.push(0, Bytes::from("a"), Some(record("a")));
        {
            let conn = lock(&conn);
            writer.request_merge(3);
            conn.execute_batch("ROLLBACK").unwrap(); // as SQLite drops it after an error
        }
        let done = writer.await_merge(true).expect("requested");
        assert!(done.error.unwrap().contains("rolled back"));
        assert!(writer.failed());
        assert!(writer.pending(0, b"a").is_some(), "still readable");
        let committed = Connection::open(dir.path().join("rows.db")).unwrap();
        let rows: i64 = committed
            .query_row("SELECT count(*) FROM keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 0);
        // The store then rebuilds the transaction from the journal, which holds the row.
        writer.discard(&lock(&conn));
        assert_eq!(writer.pending(0, b"a"), None);
    }

    /// Element rows staged by the executor (not yet in the queue) are seen by every read of
    /// the executor's, join the queue in order and at the bound, and go with a discard.
    #[test]
    fn staged_element_rows_are_read_in_order_and_dropped_by_a_discard() {
        let conn = shared_conn(Connection::open_in_memory().unwrap());
        let writer = RowWriter::start(Arc::clone(&conn), WINDOW).unwrap();
        let item = |v: Option<&str>| Pending::Item {
            filed: false,
            value: v.map(|v| Bytes::copy_from_slice(v.as_bytes())),
        };
        writer.push_element(element_rows::element_key(7, 1, &[]), item(Some("a")));
        writer.push_element(element_rows::element_key(7, 2, &[]), item(Some("b")));
        writer.push_element(element_rows::element_key(7, 1, &[]), item(Some("c")));
        assert_eq!(writer.staged.borrow().len(), 3, "staged, not queued");
        assert!(writer.holds_elements(Some(7)));
        assert!(
            writer.staged.borrow().is_empty(),
            "taking the queue moved them in"
        );
        let items = writer.queued_items(7, 0, 10);
        assert_eq!(
            items,
            vec![(1, Some(Bytes::from("c"))), (2, Some(Bytes::from("b")))],
            "the later row of position 1 replaced the earlier"
        );
        writer.push_element(element_rows::element_key(7, 2, &[]), item(None));
        assert_eq!(writer.queued_items(7, 2, 2), vec![(2, None)]);
        for pos in 0..STAGED_MAX as i64 {
            writer.push_element(element_rows::element_key(8, pos, &[]), item(Some("x")));
        }
        assert!(
            writer.staged.borrow().is_empty(),
            "handed over at the bound"
        );
        writer.push_element(element_rows::element_key(9, 0, &[]), item(Some("y")));
        writer.discard(&lock(&conn));
        assert!(!writer.holds_elements(None));
    }

    #[test]
    fn a_settle_of_some_keys_writes_nothing_outside_the_transaction() {
        let conn = shared_conn(Connection::open_in_memory().unwrap());
        let writer = RowWriter::start(Arc::clone(&conn), WINDOW).unwrap();
        writer.push(0, Bytes::from("a"), Some(record("a")));
        lock(&conn).execute_batch("ROLLBACK").unwrap(); // as SQLite drops it after an error
        let err = writer.settle_keys(&lock(&conn), &[(0, b"a")]).unwrap_err();
        assert!(err.to_string().contains("rolled back"), "{err}");
        assert_eq!(
            applied_and_queued(&conn, &writer),
            (0, 1),
            "still queued, not committed"
        );
        assert!(writer.failed());
    }

    #[test]
    fn settling_some_keys_applies_their_rows_alone() {
        let conn = shared_conn(Connection::open_in_memory().unwrap());
        let writer = RowWriter::start(Arc::clone(&conn), WINDOW).unwrap();
        for k in ["a", "b", "c"] {
            writer.push(0, Bytes::from(k), Some(record(k)));
        }
        writer.push(1, Bytes::from("a"), Some(record("a1")));
        let applied = writer
            .settle_keys(&lock(&conn), &[(0, b"a"), (1, b"a"), (0, b"absent")])
            .unwrap();
        assert_eq!(applied, 2);
        assert_eq!(applied_and_queued(&conn, &writer), (2, 2));
        assert!(writer.pending(0, b"a").is_none());
        assert!(writer.pending(0, b"b").is_some());
        assert_eq!(writer.shared.queue().applied_inline, 2);
        writer.settle(&lock(&conn), false).unwrap();
        assert_eq!(applied_and_queued(&conn, &writer), (4, 0));
    }

    /// A look for due keys applies the queued rows whose expiry passed, and skips its pass
    /// over the queue while none has an expiry; a row not due yet keeps the next look.
    #[test]
    fn settling_due_rows_applies_those_and_skips_a_queue_without_expiries() {
        let conn = shared_conn(Connection::open_in_memory().unwrap());
        let writer = RowWriter::start(Arc::clone(&conn), WINDOW).unwrap();
        let ttl = |v: &str, at: i64| Record {
            expire_at: Some(at),
            ..record(v)
        };
        let due = |r: &Record| r.expire_at.is_some_and(|t| t <= 100);
        let settle = |writer: &RowWriter| writer.settle_due(&lock(&conn), due).unwrap();
        writer.push(0, Bytes::from("plain"), Some(record("p")));
        assert!(!writer.shared.queue().may_expire);
        assert_eq!(settle(&writer), 0);
        writer.push(0, Bytes::from("soon"), Some(ttl("s", 50)));
        writer.push(0, Bytes::from("later"), Some(ttl("l", 500)));
        assert_eq!(settle(&writer), 1);
        assert!(writer.pending(0, b"soon").is_none());
        assert!(
            writer.shared.queue().may_expire,
            "\"later\" is still queued"
        );
        // "later" loses its expiry: nothing queued has one any more.
        writer.push(0, Bytes::from("later"), Some(record("l")));
        assert!(writer.shared.queue().may_expire);
        assert_eq!(settle(&writer), 0);
        assert!(!writer.shared.queue().may_expire);
        // A row that comes through the commit's path counts the same.
        writer.push_all(
            vec![super::super::KeyRow {
                db: 0,
                key: ShortBytes::from(Bytes::from("again")),
                row: Some(ttl("a", 10)),
                was: Some(Presence::default()),
            }],
            |db| db,
        );
        assert_eq!(settle(&writer), 1);
        assert_eq!(applied_and_queued(&conn, &writer), (2, 2));
    }

    #[test]
    fn rows_rewritten_in_place_or_upserted_keep_counts_and_reclaims_exact() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(super::super::sqlite::SCHEMA).unwrap();
        conn.execute_batch("BEGIN").unwrap();
        let path = RowPath::default();
        let put = |key: &str, value: &str, expire_at: Option<i64>, cid: Option<u64>| {
            let r = Record {
                expire_at,
                cid,
                ..record(value)
            };
            apply_row(&conn, &path, 0, key.as_bytes(), Some(&r)).unwrap();
        };
        let stats = || -> (i64, i64) {
            conn.query_row("SELECT keys, expires FROM db_stats WHERE db = 0", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap()
        };
        let row = |key: &str| -> (Vec<u8>, Option<i64>, Option<i64>) {
            conn.query_row(
                "SELECT value, expire_at, cid FROM keys WHERE key = ?1",
                [key.as_bytes()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap()
        };
        let reclaimed = || -> Vec<i64> {
            let mut st = conn
                .prepare("SELECT cid FROM lazyfree ORDER BY cid")
                .unwrap();
            let cids = st.query_map([], |r| r.get(0)).unwrap();
            cids.map(Result::unwrap).collect()
        };
        put("k", "1", None, None);
        assert_eq!(stats(), (1, 0));
        put("k", "2", None, None); // rewritten in place
        assert_eq!(row("k"), (b"2".to_vec(), None, None));
        put("k", "3", Some(5000), None); // gains an expiry: upserted
        assert_eq!(
            (stats(), row("k")),
            ((1, 1), (b"3".to_vec(), Some(5000), None))
        );
        put("k", "4", Some(6000), None); // another expiry
        assert_eq!((stats(), row("k").1), ((1, 1), Some(6000)));
        put("k", "5", None, None); // loses it
        assert_eq!((stats(), row("k").1), ((1, 0), None));
        put("k", "6", None, Some(7)); // becomes a collection's row
        put("k", "7", None, Some(7)); // the same collection, rewritten in place
        assert!(reclaimed().is_empty());
        // (The triggers queue only a collection with rows.)
        conn.execute(
            "INSERT INTO elements (cid, h, sub, value) VALUES (7, 0, x'66', x'76')",
            [],
        )
        .unwrap();
        put("k", "8", None, Some(8)); // a new collection replaces it: 7 is reclaimed
        assert_eq!((row("k").0, reclaimed()), (b"8".to_vec(), vec![7]));
        // A bulk load of new keys turns the rewrite off; rewriting them turns it back on.
        for i in 0..200 {
            put(&format!("n{i}"), "x", None, None);
        }
        assert_eq!(stats(), (201, 0));
        assert!(!path.try_rewrite() || !path.try_rewrite());
        for _ in 0..3 {
            for i in 0..200 {
                put(&format!("n{i}"), "y", None, None);
            }
        }
        assert!(path.try_rewrite() && path.try_rewrite());
        assert_eq!((stats(), row("n199").0), ((201, 0), b"y".to_vec()));
    }

    #[test]
    fn long_values_live_apart_and_go_with_their_rows() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(super::super::sqlite::SCHEMA).unwrap();
        conn.execute_batch("BEGIN").unwrap();
        let path = RowPath::default();
        let put = |key: &str, value: &str, expire_at: Option<i64>| {
            let r = Record {
                expire_at,
                ..record(value)
            };
            apply_row(&conn, &path, 0, key.as_bytes(), Some(&r)).unwrap();
        };
        let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        // What the store reads back: the value wherever it lives.
        let value = |key: &str| -> Vec<u8> {
            conn.query_row(
                "SELECT CASE WHEN blob IS NULL THEN value
                        ELSE (SELECT value FROM key_values WHERE id = blob) END
                   FROM keys WHERE key = ?1",
                [key.as_bytes()],
                |r| r.get(0),
            )
            .unwrap()
        };
        let long = |c: char| c.to_string().repeat(values::VALUE_APART + 1);
        let short = "s".repeat(values::VALUE_APART);
        put("k", &short, None); // at the limit: in the row
        assert_eq!(count("SELECT count(*) FROM key_values"), 0);
        put("k", &long('a'), None); // past it: apart, the row's own value empty
        assert_eq!(value("k"), long('a').into_bytes());
        assert_eq!(count("SELECT length(value) FROM keys WHERE key = x'6b'"), 0);
        let id = count("SELECT blob FROM keys WHERE key = x'6b'");
        // Rewritten in place (a fresh path tries the rewrite; this one has seen new keys).
        let b = record(&long('b'));
        apply_row(&conn, &RowPath::default(), 0, b"k", Some(&b)).unwrap();
        assert_eq!(count("SELECT blob FROM keys WHERE key = x'6b'"), id);
        assert_eq!(count("SELECT count(*) FROM key_values"), 1);
        assert_eq!(value("k"), long('b').into_bytes());
        // The row's other columns go with it; the same value again changes nothing else.
        let b = Record {
            version: 5,
            ..record(&long('b'))
        };
        apply_row(&conn, &RowPath::default(), 0, b"k", Some(&b)).unwrap();
        assert_eq!(count("SELECT version FROM keys WHERE key = x'6b'"), 5);
        assert_eq!(value("k"), long('b').into_bytes());
        put("k", &long('c'), Some(9000)); // an expiry: a new value row, the old one dropped
        assert_eq!(value("k"), long('c').into_bytes());
        assert_eq!(count("SELECT count(*) FROM key_values"), 1);
        assert_eq!(count("SELECT expires FROM db_stats WHERE db = 0"), 1);
        put("k", "short again", None); // back in the row: the value row goes
        assert_eq!(value("k"), b"short again".to_vec());
        assert_eq!(count("SELECT count(*) FROM key_values"), 0);
        put("k", &long('d'), None);
        put("other", &long('e'), None);
        apply_row(&conn, &path, 0, b"k", None).unwrap(); // a deleted key takes its value
        assert_eq!(count("SELECT count(*) FROM key_values"), 1);
        assert_eq!(value("other"), long('e').into_bytes());
        assert_eq!(count("SELECT keys FROM db_stats WHERE db = 0"), 1);
        // A bulk load of long values keeps one value row per key.
        for round in 0..3 {
            for i in 0..50 {
                put(&format!("n{i}"), &long(char::from(b'f' + round)), None);
            }
        }
        assert_eq!(count("SELECT count(*) FROM key_values"), 51);
        assert_eq!(value("n49"), long('h').into_bytes());
    }
}
