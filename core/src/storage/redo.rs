//! The redo journal: the file that makes a group commit cost the bytes a batch changed instead
//! of the B-tree pages it touched.
//!
//! # Cost model
//!
//! SQLite writes every page a transaction dirtied when that transaction commits. Keys and
//! elements are spread over their tables by hash, so a batch that changes 800 distinct keys
//! dirties about 800 random 4 KB pages, and committing it writes about 3 MB to the WAL: the
//! cost of a commit follows the pages touched, not the bytes changed.
//!
//! With the journal, [`SqliteStore`](super::SqliteStore) keeps one SQLite transaction open
//! across many batches. Each batch's group commit appends the batch's row operations (the
//! [`Store`] calls themselves, with their arguments: an [`Op`] each) to this journal,
//! sequential files beside the database (`<file>.redo.<n>`), as one checksummed record, and
//! fdatasyncs it when `synchronous` is `full` or `extra`. That append is the durability point:
//! only then are the batch's replies released. Every merge interval, or as soon as the journal
//! reaches its size limit, the open transaction commits (a "merge"): SQLite writes each dirty
//! page once, in page order, however many batches changed it, records the last journal
//! sequence number it holds (`meta.redo_seq`) in the same transaction, and the journal is
//! emptied. A key written a thousand times between merges costs one page write per merge.
//!
//! Reads go through the same connection as writes, so they see every acknowledged write
//! whether it has been merged or not; the only overlay is the row writer's queue of key rows
//! not applied yet ([`rows`](super::rows)), which a key's load consults first.
//!
//! A merge runs on the row writer's thread ([`rows`](super::rows)): the executor hands it
//! the key rows queued so far (all of them from journaled batches) and goes on serving; the
//! writer applies those rows, then commits. Batches journaled meanwhile go to a new file,
//! and once the commit is done the merged records' files are deleted, by a thread of their
//! own (a crash at any point replays from `meta.redo_seq` to the same state: merged records
//! left behind are skipped). Only the executor's own statements (a collection's
//! element rows, a scan) wait for the commit. A journal that reaches its size limit makes
//! the next batch wait for the merge in flight (back-pressure), and merge on the executor's
//! thread only if the records journaled meanwhile fill it still; a merge at shutdown or for
//! CONFIG SET runs on the executor's thread too.
//!
//! At open, the records after `meta.redo_seq` are replayed (the same calls, on the same state,
//! give the same rows) and merged at once: the journal's size limit bounds the restart time.
//! A record cut short by a crash fails its checksum and ends the replay: it was never
//! acknowledged. If a merge fails (a full disk), the transaction is rolled back, rebuilt from
//! the journal, and the merge retried later; nothing acknowledged is lost while the journal
//! holds it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::time::Instant;

use super::{CollectionId, DbIndex, Element, Record, SqlValue, Store, StoreError, ValueType};
use bytes::Bytes;

/// Bytes before each record's payload: length (u32), sequence number (u64), checksum (u64).
const HEADER: usize = 4 + 8 + 8;

/// Largest payload a record may declare: a larger length is a torn or corrupt header.
const MAX_RECORD: usize = 1 << 31;

/// One row operation, as the journal records it. Each variant is one mutating [`Store`]
/// method with its arguments; replaying it calls that method again.
#[derive(Debug, PartialEq)]
pub(super) enum Op<'a> {
    Put {
        db: DbIndex,
        key: &'a [u8],
        kind: u8,
        expire_at: Option<i64>,
        version: u64,
        cid: Option<u64>,
        sub_expire_at: Option<i64>,
        value: &'a [u8],
    },
    Delete {
        db: DbIndex,
        key: &'a [u8],
    },
    Rename {
        db: DbIndex,
        key: &'a [u8],
        to_db: DbIndex,
        to_key: &'a [u8],
    },
    FlushDb {
        db: DbIndex,
    },
    FlushAll,
    PutElement {
        cid: CollectionId,
        sub: &'a [u8],
        value: &'a [u8],
        expire_at: Option<i64>,
    },
    DeleteElement {
        cid: CollectionId,
        sub: &'a [u8],
    },
    ExpireElements {
        cid: CollectionId,
        now: i64,
    },
    CopyElements {
        from: CollectionId,
        to: CollectionId,
    },
    DropElements {
        cid: CollectionId,
    },
    ZsetPut {
        cid: CollectionId,
        member: &'a [u8],
        score: f64,
        old: Option<f64>,
    },
    ZsetDelete {
        cid: CollectionId,
        member: &'a [u8],
        score: f64,
    },
    ListPut {
        cid: CollectionId,
        pos: i64,
        value: &'a [u8],
    },
    ListDeleteRange {
        cid: CollectionId,
        from: i64,
        to: i64,
    },
    ListShift {
        cid: CollectionId,
        from: i64,
        to: i64,
        delta: i64,
    },
    OrderedPut {
        cid: CollectionId,
        h: i64,
        sub: &'a [u8],
        value: &'a [u8],
    },
    OrderedDelete {
        cid: CollectionId,
        h: i64,
        sub: &'a [u8],
    },
    OrderedTrim {
        cid: CollectionId,
        h: i64,
        below: Option<&'a [u8]>,
        limit: u64,
    },
    Reclaim {
        limit: u64,
    },
    MetaSet {
        name: &'a str,
        value: i64,
    },
    MetaSetBlob {
        name: &'a str,
        value: Option<&'a [u8]>,
    },
    /// A plugin's statement ([`Store::sql_execute`]); `params` as [`encode_params`] writes
    /// them.
    Sql {
        sql: &'a str,
        params: &'a [u8],
    },
    /// A plugin's DDL ([`Store::sql_batch`]).
    SqlBatch {
        sql: &'a str,
    },
}

/// Encodes a plugin statement's parameters for [`Op::Sql`].
pub(super) fn encode_params(params: &[SqlValue]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = Writer(&mut out);
    w.u32(params.len() as u32);
    for p in params {
        match p {
            SqlValue::Null => w.u8(0),
            SqlValue::Integer(i) => {
                w.u8(1);
                w.i64(*i);
            }
            SqlValue::Real(f) => {
                w.u8(2);
                w.u64(f.to_bits());
            }
            SqlValue::Text(t) => {
                w.u8(3);
                w.bytes(t.as_bytes());
            }
            SqlValue::Blob(b) => {
                w.u8(4);
                w.bytes(b);
            }
        }
    }
    out
}

fn decode_params(buf: &[u8]) -> Result<Vec<SqlValue>, StoreError> {
    let mut r = Reader { buf };
    let n = r.u32()? as usize;
    let mut out = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        out.push(match r.u8()? {
            0 => SqlValue::Null,
            1 => SqlValue::Integer(r.i64()?),
            2 => SqlValue::Real(f64::from_bits(r.u64()?)),
            3 => SqlValue::Text(r.str()?.to_string()),
            4 => SqlValue::Blob(r.bytes()?.to_vec()),
            t => return Err(corrupt(format!("bad SQL parameter tag {t}"))),
        });
    }
    Ok(out)
}

/// Tags of the operations a journal writes in their compact form: lengths, databases,
/// collection ids, versions, positions and expiries as variable-length integers (LEB128,
/// zigzag for the signed ones), the absent ones of a key row's options as bits of one byte.
/// A SET of a 16-byte key and a 3-byte value takes 28 bytes instead of 44: a journal of a
/// given size holds half as many writes again, so merges (each rewriting every key changed
/// since the last) come a third less often. Tags 1, 2, 6, 7, 11, 12 and 13 are the same
/// operations' fixed-width forms, which journals of earlier versions hold: they are still
/// read.
const PUT: u8 = 24;
const DELETE: u8 = 25;
const PUT_ELEMENT: u8 = 26;
const DELETE_ELEMENT: u8 = 27;
const ZSET_PUT: u8 = 28;
const ZSET_DELETE: u8 = 29;
const LIST_PUT: u8 = 30;

impl<'a> Op<'a> {
    /// Whether the operation writes a key row (or a metadata figure, which no key row
    /// touches): a replay may hold such rows back, coalesced and sorted by key, past the
    /// others of their kind, but not past any other operation.
    pub(super) fn is_key_row(&self) -> bool {
        matches!(
            self,
            Op::Put { .. } | Op::Delete { .. } | Op::MetaSet { .. }
        )
    }

    /// The operation that stores `record` under `key`.
    pub(super) fn put(db: DbIndex, key: &'a [u8], record: &'a Record) -> Self {
        Op::Put {
            db,
            key,
            kind: record.kind as u8,
            expire_at: record.expire_at,
            version: record.version,
            cid: record.cid,
            sub_expire_at: record.sub_expire_at,
            value: &record.value,
        }
    }

    /// The operation that stores `element` in collection `cid`.
    pub(super) fn put_element(cid: CollectionId, element: &'a Element) -> Self {
        Op::PutElement {
            cid,
            sub: &element.sub,
            value: &element.value,
            expire_at: element.expire_at,
        }
    }

    /// Appends the operation's encoding to `out`.
    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer(out);
        match *self {
            Op::Put {
                db,
                key,
                kind,
                expire_at,
                version,
                cid,
                sub_expire_at,
                value,
            } => {
                w.u8(PUT);
                w.var(db.into());
                w.vbytes(key);
                w.u8(kind);
                w.u8(u8::from(expire_at.is_some())
                    | u8::from(cid.is_some()) << 1
                    | u8::from(sub_expire_at.is_some()) << 2);
                w.opt_var_i64(expire_at);
                w.var(version);
                if let Some(cid) = cid {
                    w.var(cid);
                }
                w.opt_var_i64(sub_expire_at);
                w.vbytes(value);
            }
            Op::Delete { db, key } => {
                w.u8(DELETE);
                w.var(db.into());
                w.vbytes(key);
            }
            Op::Rename {
                db,
                key,
                to_db,
                to_key,
            } => {
                w.u8(3);
                w.u32(db);
                w.bytes(key);
                w.u32(to_db);
                w.bytes(to_key);
            }
            Op::FlushDb { db } => {
                w.u8(4);
                w.u32(db);
            }
            Op::FlushAll => w.u8(5),
            Op::PutElement {
                cid,
                sub,
                value,
                expire_at,
            } => {
                w.u8(PUT_ELEMENT);
                w.var(cid);
                w.vbytes(sub);
                w.vbytes(value);
                w.u8(u8::from(expire_at.is_some()));
                w.opt_var_i64(expire_at);
            }
            Op::DeleteElement { cid, sub } => {
                w.u8(DELETE_ELEMENT);
                w.var(cid);
                w.vbytes(sub);
            }
            Op::ExpireElements { cid, now } => {
                w.u8(8);
                w.u64(cid);
                w.i64(now);
            }
            Op::CopyElements { from, to } => {
                w.u8(9);
                w.u64(from);
                w.u64(to);
            }
            Op::DropElements { cid } => {
                w.u8(10);
                w.u64(cid);
            }
            Op::ZsetPut {
                cid,
                member,
                score,
                old,
            } => {
                w.u8(ZSET_PUT);
                w.var(cid);
                w.vbytes(member);
                w.u64(score.to_bits());
                w.opt_i64(old.map(|o| o.to_bits() as i64));
            }
            Op::ZsetDelete { cid, member, score } => {
                w.u8(ZSET_DELETE);
                w.var(cid);
                w.vbytes(member);
                w.u64(score.to_bits());
            }
            Op::ListPut { cid, pos, value } => {
                w.u8(LIST_PUT);
                w.var(cid);
                w.var_i64(pos);
                w.vbytes(value);
            }
            Op::ListDeleteRange { cid, from, to } => {
                w.u8(14);
                w.u64(cid);
                w.i64(from);
                w.i64(to);
            }
            Op::ListShift {
                cid,
                from,
                to,
                delta,
            } => {
                w.u8(15);
                w.u64(cid);
                w.i64(from);
                w.i64(to);
                w.i64(delta);
            }
            Op::OrderedPut { cid, h, sub, value } => {
                w.u8(16);
                w.u64(cid);
                w.i64(h);
                w.bytes(sub);
                w.bytes(value);
            }
            Op::OrderedDelete { cid, h, sub } => {
                w.u8(17);
                w.u64(cid);
                w.i64(h);
                w.bytes(sub);
            }
            Op::OrderedTrim {
                cid,
                h,
                below,
                limit,
            } => {
                w.u8(18);
                w.u64(cid);
                w.i64(h);
                w.opt_bytes(below);
                w.u64(limit);
            }
            Op::Reclaim { limit } => {
                w.u8(21);
                w.u64(limit);
            }
            Op::MetaSet { name, value } => {
                w.u8(19);
                w.bytes(name.as_bytes());
                w.i64(value);
            }
            Op::MetaSetBlob { name, value } => {
                w.u8(20);
                w.bytes(name.as_bytes());
                w.opt_bytes(value);
            }
            Op::Sql { sql, params } => {
                w.u8(22);
                w.bytes(sql.as_bytes());
                w.bytes(params);
            }
            Op::SqlBatch { sql } => {
                w.u8(23);
                w.bytes(sql.as_bytes());
            }
        }
    }

    /// Decodes one operation from the front of `r`.
    fn decode(r: &mut Reader<'a>) -> Result<Self, StoreError> {
        Ok(match r.u8()? {
            1 => Op::Put {
                db: r.u32()?,
                key: r.bytes()?,
                kind: r.u8()?,
                expire_at: r.opt_i64()?,
                version: r.u64()?,
                cid: r.opt_i64()?.map(|c| c as u64),
                sub_expire_at: r.opt_i64()?,
                value: r.bytes()?,
            },
            2 => Op::Delete {
                db: r.u32()?,
                key: r.bytes()?,
            },
            3 => Op::Rename {
                db: r.u32()?,
                key: r.bytes()?,
                to_db: r.u32()?,
                to_key: r.bytes()?,
            },
            4 => Op::FlushDb { db: r.u32()? },
            5 => Op::FlushAll,
            6 => Op::PutElement {
                cid: r.u64()?,
                sub: r.bytes()?,
                value: r.bytes()?,
                expire_at: r.opt_i64()?,
            },
            7 => Op::DeleteElement {
                cid: r.u64()?,
                sub: r.bytes()?,
            },
            8 => Op::ExpireElements {
                cid: r.u64()?,
                now: r.i64()?,
            },
            9 => Op::CopyElements {
                from: r.u64()?,
                to: r.u64()?,
            },
            10 => Op::DropElements { cid: r.u64()? },
            11 => Op::ZsetPut {
                cid: r.u64()?,
                member: r.bytes()?,
                score: f64::from_bits(r.u64()?),
                old: r.opt_i64()?.map(|o| f64::from_bits(o as u64)),
            },
            12 => Op::ZsetDelete {
                cid: r.u64()?,
                member: r.bytes()?,
                score: f64::from_bits(r.u64()?),
            },
            13 => Op::ListPut {
                cid: r.u64()?,
                pos: r.i64()?,
                value: r.bytes()?,
            },
            14 => Op::ListDeleteRange {
                cid: r.u64()?,
                from: r.i64()?,
                to: r.i64()?,
            },
            15 => Op::ListShift {
                cid: r.u64()?,
                from: r.i64()?,
                to: r.i64()?,
                delta: r.i64()?,
            },
            16 => Op::OrderedPut {
                cid: r.u64()?,
                h: r.i64()?,
                sub: r.bytes()?,
                value: r.bytes()?,
            },
            17 => Op::OrderedDelete {
                cid: r.u64()?,
                h: r.i64()?,
                sub: r.bytes()?,
            },
            18 => Op::OrderedTrim {
                cid: r.u64()?,
                h: r.i64()?,
                below: r.opt_bytes()?,
                limit: r.u64()?,
            },
            19 => Op::MetaSet {
                name: r.str()?,
                value: r.i64()?,
            },
            20 => Op::MetaSetBlob {
                name: r.str()?,
                value: r.opt_bytes()?,
            },
            21 => Op::Reclaim { limit: r.u64()? },
            22 => Op::Sql {
                sql: r.str()?,
                params: r.bytes()?,
            },
            23 => Op::SqlBatch { sql: r.str()? },
            PUT => {
                let db = r.var_u32()?;
                let key = r.vbytes()?;
                let kind = r.u8()?;
                let present = r.u8()?;
                if present > 0b111 {
                    return Err(corrupt(format!("bad presence bits {present}")));
                }
                let expire_at = r.var_i64_if(present & 1 != 0)?;
                let version = r.var()?;
                let cid = if present & 2 != 0 {
                    Some(r.var()?)
                } else {
                    None
                };
                let sub_expire_at = r.var_i64_if(present & 4 != 0)?;
                Op::Put {
                    db,
                    key,
                    kind,
                    expire_at,
                    version,
                    cid,
                    sub_expire_at,
                    value: r.vbytes()?,
                }
            }
            DELETE => Op::Delete {
                db: r.var_u32()?,
                key: r.vbytes()?,
            },
            PUT_ELEMENT => {
                let (cid, sub, value) = (r.var()?, r.vbytes()?, r.vbytes()?);
                let expire_at = match r.u8()? {
                    0 => None,
                    1 => Some(r.var_i64()?),
                    t => return Err(corrupt(format!("bad option tag {t}"))),
                };
                Op::PutElement {
                    cid,
                    sub,
                    value,
                    expire_at,
                }
            }
            DELETE_ELEMENT => Op::DeleteElement {
                cid: r.var()?,
                sub: r.vbytes()?,
            },
            ZSET_PUT => Op::ZsetPut {
                cid: r.var()?,
                member: r.vbytes()?,
                score: f64::from_bits(r.u64()?),
                old: r.opt_i64()?.map(|o| f64::from_bits(o as u64)),
            },
            ZSET_DELETE => Op::ZsetDelete {
                cid: r.var()?,
                member: r.vbytes()?,
                score: f64::from_bits(r.u64()?),
            },
            LIST_PUT => Op::ListPut {
                cid: r.var()?,
                pos: r.var_i64()?,
                value: r.vbytes()?,
            },
            tag => return Err(corrupt(format!("unknown operation {tag}"))),
        })
    }

    /// Performs the operation on `store` again.
    fn apply(self, store: &mut dyn Store) -> Result<(), StoreError> {
        match self {
            Op::Put {
                db,
                key,
                kind,
                expire_at,
                version,
                cid,
                sub_expire_at,
                value,
            } => {
                let kind = ValueType::from_code(kind as i64)
                    .ok_or_else(|| corrupt(format!("unknown value type {kind}")))?;
                store.put(
                    db,
                    key,
                    Record {
                        kind,
                        value: Bytes::copy_from_slice(value),
                        expire_at,
                        version,
                        cid,
                        sub_expire_at,
                    },
                )
            }
            Op::Delete { db, key } => store.delete(db, key),
            Op::Rename {
                db,
                key,
                to_db,
                to_key,
            } => store.rename(db, key, to_db, to_key).map(drop),
            Op::FlushDb { db } => store.flush_db(db),
            Op::FlushAll => store.flush_all(),
            Op::PutElement {
                cid,
                sub,
                value,
                expire_at,
            } => store.put_element(
                cid,
                &Element {
                    sub: Bytes::copy_from_slice(sub),
                    value: Bytes::copy_from_slice(value),
                    expire_at,
                },
            ),
            Op::DeleteElement { cid, sub } => store.delete_element(cid, sub).map(drop),
            Op::ExpireElements { cid, now } => store.expire_elements(cid, now).map(drop),
            Op::CopyElements { from, to } => store.copy_elements(from, to),
            Op::DropElements { cid } => store.drop_elements(cid),
            Op::ZsetPut {
                cid,
                member,
                score,
                old,
            } => store.zset_put(cid, member, score, old),
            Op::ZsetDelete { cid, member, score } => store.zset_delete(cid, member, score),
            Op::ListPut { cid, pos, value } => store.list_put(cid, pos, value),
            Op::ListDeleteRange { cid, from, to } => {
                store.list_delete_range(cid, from, to).map(drop)
            }
            Op::ListShift {
                cid,
                from,
                to,
                delta,
            } => store.list_shift(cid, from, to, delta),
            Op::OrderedPut { cid, h, sub, value } => store.ordered_put(cid, h, sub, value),
            Op::OrderedDelete { cid, h, sub } => store.ordered_delete(cid, h, sub).map(drop),
            Op::OrderedTrim {
                cid,
                h,
                below,
                limit,
            } => store.ordered_trim(cid, h, below, limit).map(drop),
            Op::Reclaim { limit } => store.reclaim(limit).map(drop),
            Op::MetaSet { name, value } => store.meta_set(name, value),
            Op::MetaSetBlob { name, value } => store.meta_set_blob(name, value),
            Op::Sql { sql, params } => store.sql_execute(sql, &decode_params(params)?).map(drop),
            Op::SqlBatch { sql } => store.sql_batch(sql),
        }
    }
}

fn corrupt(what: String) -> StoreError {
    StoreError::Corrupt(format!("redo journal: {what}"))
}

struct Writer<'a>(&'a mut Vec<u8>);

impl Writer<'_> {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn opt_i64(&mut self, v: Option<i64>) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                self.i64(v);
            }
        }
    }
    fn bytes(&mut self, v: &[u8]) {
        self.u32(v.len() as u32);
        self.0.extend_from_slice(v);
    }
    fn opt_bytes(&mut self, v: Option<&[u8]>) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                self.bytes(v);
            }
        }
    }
    /// LEB128: seven bits a byte, low first, the high bit set on all but the last.
    fn var(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    /// Zigzag, so that small negative numbers are short too.
    fn var_i64(&mut self, v: i64) {
        self.var(((v << 1) ^ (v >> 63)) as u64);
    }
    /// A value whose presence another byte records: nothing when absent.
    fn opt_var_i64(&mut self, v: Option<i64>) {
        if let Some(v) = v {
            self.var_i64(v);
        }
    }
    fn vbytes(&mut self, v: &[u8]) {
        self.var(v.len() as u64);
        self.0.extend_from_slice(v);
    }
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        if self.buf.len() < n {
            return Err(corrupt("operation cut short".into()));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, StoreError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, StoreError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64, StoreError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn i64(&mut self) -> Result<i64, StoreError> {
        Ok(self.u64()? as i64)
    }
    fn opt_i64(&mut self) -> Result<Option<i64>, StoreError> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.i64()?)),
            t => Err(corrupt(format!("bad option tag {t}"))),
        }
    }
    fn bytes(&mut self) -> Result<&'a [u8], StoreError> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn opt_bytes(&mut self) -> Result<Option<&'a [u8]>, StoreError> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.bytes()?)),
            t => Err(corrupt(format!("bad option tag {t}"))),
        }
    }
    fn str(&mut self) -> Result<&'a str, StoreError> {
        std::str::from_utf8(self.bytes()?).map_err(|_| corrupt("name is not UTF-8".into()))
    }
    fn var(&mut self) -> Result<u64, StoreError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(corrupt("variable-length integer too long".into()))
    }
    fn var_u32(&mut self) -> Result<u32, StoreError> {
        u32::try_from(self.var()?).map_err(|_| corrupt("database number out of range".into()))
    }
    fn var_i64(&mut self) -> Result<i64, StoreError> {
        let v = self.var()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }
    fn var_i64_if(&mut self, present: bool) -> Result<Option<i64>, StoreError> {
        present.then(|| self.var_i64()).transpose()
    }
    fn vbytes(&mut self) -> Result<&'a [u8], StoreError> {
        let n = usize::try_from(self.var()?).unwrap_or(usize::MAX);
        self.take(n)
    }
}

/// Replays every operation of one record's payload on `store`.
pub(super) fn replay_payload<S: Store>(
    payload: &[u8],
    store: &mut S,
    before: fn(&mut S, &Op<'_>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut r = Reader { buf: payload };
    while !r.buf.is_empty() {
        let op = Op::decode(&mut r)?;
        before(store, &op)?;
        op.apply(store)?;
    }
    Ok(())
}

fn checksum(seq: u64, payload: &[u8]) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(&seq.to_le_bytes());
    h.update(payload);
    h.digest()
}

/// How the journal is kept: when merges happen and how large it may grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalOptions {
    /// Merge at least this often (milliseconds); 0 turns the journal off, and every group
    /// commit is an SQLite commit.
    pub merge_interval_ms: u64,
    /// Merge as soon as the journal holds this many bytes; writes wait for that merge
    /// (back-pressure), so the journal, and the time to replay it at start-up, stay bounded.
    pub max_bytes: u64,
    /// Bytes of key rows the row writer leaves waiting for the next merge, coalescing a key's
    /// rewrites (see `storage::rows`); 0 applies each row as soon as its batch is journaled.
    pub row_window_bytes: u64,
    /// The most each of the key and element filters may take (see `storage::keyfilter`).
    pub filter_max_bytes: u64,
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions {
            merge_interval_ms: 1000,
            max_bytes: 32 << 20,
            row_window_bytes: 1 << 20,
            filter_max_bytes: u64::MAX,
        }
    }
}

/// Counters of the journal, for `INFO persistence`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct JournalStats {
    /// Bytes in the journal now (written, not merged yet).
    pub bytes: u64,
    /// Records in the journal now.
    pub records: u64,
    /// Age of the oldest unmerged write, in milliseconds (0 when none).
    pub oldest_unmerged_ms: u64,
    /// Merges done since start.
    pub merges: u64,
    /// Of those, merges whose commit ran on the row writer's thread while the executor went
    /// on serving.
    pub background_merges: u64,
    /// Records merged since start.
    pub merged_records: u64,
    /// Milliseconds spent merging since start.
    pub merge_ms: u64,
    /// Duration of the last merge, in milliseconds.
    pub last_merge_ms: u64,
    /// Times the journal reached its size limit, and the next writes waited for a merge:
    /// held back while the one in flight runs, or, past a quarter more, waiting for it (or
    /// for one on the executor's thread) with everyone else.
    pub backpressure_merges: u64,
    /// Milliseconds writes waited (or were held back) on merges at the size limit.
    pub backpressure_ms: u64,
    /// Merges that failed (and were retried later).
    pub merge_failures: u64,
    /// Records replayed at start-up.
    pub replayed_records: u64,
    /// Bytes of key rows the row writer leaves waiting (its window in effect:
    /// `row_window_bytes`, at most an eighth of `cache_max_bytes`).
    pub rows_window_bytes: u64,
    /// Key rows waiting for the row writer now (see `storage::rows`).
    pub rows_queued: u64,
    /// Bytes the queued key rows and element rows take.
    pub rows_queued_bytes: u64,
    /// Commits that waited for the row writer (its queue over its bound).
    pub rows_backpressure_waits: u64,
    /// Times the row writer's queue became backlogged, and the executor held writing
    /// commands back until it drained (see `storage::rows`).
    pub rows_backlogs: u64,
    /// Key rows the row writer's thread applied since start.
    pub rows_applied_background: u64,
    /// Key rows applied on the executor's thread since start, because a statement needed
    /// them first (a merge, a scan, a rename, ...).
    pub rows_applied_inline: u64,
    /// Key rows that replaced a row of the same key still queued: written to SQLite once for
    /// both (the row writer's window, see `storage::rows`).
    pub rows_coalesced: u64,
    /// Element rows (of large hashes, sets and sorted sets) waiting for the row writer now
    /// (see `storage::element_rows`).
    pub element_rows_queued: u64,
    /// Element rows that replaced a queued row of the same element (written once for both).
    pub element_rows_coalesced: u64,
    /// Element rows the row writer applied since start (on its thread, or on the executor's
    /// before a statement over their collection).
    pub element_rows_applied: u64,
}

/// One file of the journal (`<database>.redo.<n>`), holding whole records.
struct Segment {
    path: String,
    file: File,
    /// Bytes of whole records in it.
    len: u64,
    records: u64,
    /// Sequence number of its last record (0 while it has none).
    last_seq: u64,
}

/// The journal's files and the batch being collected for them.
///
/// The journal is a run of files, oldest first; records are appended to the last. A merge
/// that starts seals the last file ([`Self::merge_started`]), so that the records it commits
/// fill whole files, and once it has committed those files are deleted off the executor's
/// thread ([`retire`]). Before, the records appended while the merge ran were copied into a
/// new file that replaced the journal by rename: on ext4 the rename of a file over another
/// flushes the new file's data first, and freeing the old one's blocks waited for the disk's
/// discard, 30-80 ms each on the executor's thread, every client waiting.
pub(super) struct Journal {
    /// `<database>.redo`: the prefix of the files' names.
    path: String,
    segments: Vec<Segment>,
    /// The last file takes no more records: the next append starts a new one.
    sealed: bool,
    /// Number of the next file started.
    next_file: u64,
    /// Threads deleting files of merged records, not yet joined.
    retiring: Vec<std::thread::JoinHandle<()>>,
    pub(super) options: JournalOptions,
    /// fdatasync after every append (`synchronous` full or extra).
    pub(super) sync: bool,
    /// Operations of the current batch, not yet appended.
    batch: Vec<u8>,
    /// Mutating calls since the last append, failed ones included: they may have changed the
    /// open transaction.
    pub(super) touched: bool,
    /// Bytes of whole records in the files.
    pub(super) len: u64,
    /// Sequence number of the last record appended (or merged, when the file is empty).
    pub(super) last_seq: u64,
    /// Sequence number of the last record merged (`meta.redo_seq` in the database).
    pub(super) merged_seq: u64,
    /// A merge runs on the row writer's thread: its records are those of the files sealed
    /// when it started.
    merging: bool,
    /// When the oldest unmerged record was appended.
    oldest: Option<Instant>,
    /// Earliest time the next merge attempt may run after a failure.
    pub(super) retry_at: Option<Instant>,
    /// Merges failed in a row, and the last one's error: each retry replays the journal
    /// into a new transaction, so retries back off (see [`backoff`]).
    merge_failures: u32,
    merge_error: Option<String>,
    /// Appends failed in a row, the last one's error, and until when the store refuses
    /// writes before they run (a write would run, fail to append, and cost a replay).
    append_failures: u32,
    append_error: Option<(String, Instant)>,
    pub(super) stats: JournalStats,
}

/// Waits after `failures` failures in a row: 0.5 s, doubling, at most 8 s.
fn backoff(failures: u32) -> std::time::Duration {
    std::time::Duration::from_millis(500 << failures.saturating_sub(1).min(4))
}

impl Journal {
    /// Opens the journal of the database at `db_path`: the files a previous run left, which
    /// [`Self::read_after`] reads. A file is created at the first append.
    pub(super) fn open(db_path: &str, options: JournalOptions) -> Result<Journal, StoreError> {
        let path = format!("{db_path}.redo");
        let mut segments = Vec::new();
        for (number, name) in Self::files(db_path) {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&name)
                .map_err(|e| StoreError::Open {
                    path: name.clone(),
                    reason: e.to_string(),
                })?;
            segments.push((
                number,
                Segment {
                    path: name,
                    file,
                    len: 0,
                    records: 0,
                    last_seq: 0,
                },
            ));
        }
        let next_file = segments.last().map_or(1, |(n, _)| n + 1);
        Ok(Journal {
            path,
            segments: segments.into_iter().map(|(_, s)| s).collect(),
            // A file left by a previous run may end with a torn record: never appended to.
            sealed: true,
            next_file,
            retiring: Vec::new(),
            options,
            sync: false,
            batch: Vec::new(),
            touched: false,
            len: 0,
            last_seq: 0,
            merged_seq: 0,
            merging: false,
            oldest: None,
            retry_at: None,
            merge_failures: 0,
            merge_error: None,
            append_failures: 0,
            append_error: None,
            stats: JournalStats::default(),
        })
    }

    /// The journal files of the database at `db_path`, oldest first, with their numbers:
    /// `<db>.redo.<n>`, and `<db>.redo` (number 0), which versions before the files were
    /// numbered kept. A `.redo.tmp` those versions may have left is removed.
    fn files(db_path: &str) -> Vec<(u64, String)> {
        let Some(base) = std::path::Path::new(db_path)
            .file_name()
            .and_then(|n| n.to_str())
        else {
            return Vec::new();
        };
        let prefix = format!("{base}.redo");
        let mut found = Vec::new();
        for entry in std::fs::read_dir(folder(db_path))
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = entry.file_name();
            let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
                continue;
            };
            let number = match rest {
                "" => Some(0),
                ".tmp" => {
                    let _ = std::fs::remove_file(entry.path());
                    None
                }
                _ => rest
                    .strip_prefix('.')
                    .and_then(|n| n.parse::<u64>().ok())
                    .filter(|&n| n > 0),
            };
            if let Some(n) = number {
                found.push((
                    n,
                    format!(
                        "{db_path}.redo{}",
                        if n == 0 {
                            String::new()
                        } else {
                            format!(".{n}")
                        }
                    ),
                ));
            }
        }
        found.sort();
        found
    }

    /// Whether a journal file of the database at `db_path` exists.
    pub(super) fn exists(db_path: &str) -> bool {
        !Self::files(db_path).is_empty()
    }

    /// Records one operation of the current batch.
    pub(super) fn log(&mut self, op: &Op<'_>) {
        op.encode(&mut self.batch);
    }

    /// Whether operations of the current batch wait for [`Self::append`].
    pub(super) fn has_batch(&self) -> bool {
        !self.batch.is_empty() || self.touched
    }

    /// Forgets the current batch (its transaction changes are being rolled back).
    pub(super) fn discard_batch(&mut self) {
        self.batch.clear();
        self.touched = false;
    }

    /// Takes the current batch's operations out (to replay them after a rebuild).
    pub(super) fn take_batch(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.batch)
    }

    /// Puts back a batch taken with [`Self::take_batch`], for the next append.
    pub(super) fn restore_batch(&mut self, batch: Vec<u8>) {
        self.batch = batch;
    }

    /// Appends the current batch as one record; when this returns Ok the batch is as durable
    /// as `synchronous` makes anything. On failure the file is cut back to its last whole
    /// record and the batch kept for the caller to discard.
    pub(super) fn append(&mut self) -> Result<(), StoreError> {
        self.touched = false;
        if self.batch.is_empty() {
            return Ok(());
        }
        if self.batch.len() > MAX_RECORD {
            return Err(StoreError::Corrupt(format!(
                "a batch of {} bytes exceeds the journal's record limit",
                self.batch.len()
            )));
        }
        let seq = self.last_seq + 1;
        let mut head = [0u8; HEADER];
        head[..4].copy_from_slice(&(self.batch.len() as u32).to_le_bytes());
        head[4..12].copy_from_slice(&seq.to_le_bytes());
        head[12..20].copy_from_slice(&checksum(seq, &self.batch).to_le_bytes());
        if let Err(e) = self.writable() {
            return Err(self.append_failed(e));
        }
        let sync = self.sync;
        let seg = self.segments.last_mut().expect("made writable above");
        let result = (|| {
            seg.file.seek(SeekFrom::Start(seg.len))?;
            seg.file.write_all(&head)?;
            seg.file.write_all(&self.batch)?;
            if sync {
                seg.file.sync_data()?;
            }
            Ok::<(), std::io::Error>(())
        })();
        if let Err(e) = result {
            // Whatever part of the record reached the file fails its checksum at replay, but
            // a later record written after it would be unreachable: cut it off now.
            let _ = seg.file.set_len(seg.len);
            return Err(self.append_failed(e));
        }
        self.append_failures = 0;
        self.append_error = None;
        let bytes = (HEADER + self.batch.len()) as u64;
        let seg = self.segments.last_mut().expect("appended above");
        seg.len += bytes;
        seg.records += 1;
        seg.last_seq = seq;
        self.len += bytes;
        self.last_seq = seq;
        self.stats.records += 1;
        self.stats.bytes = self.len;
        self.oldest.get_or_insert_with(Instant::now);
        self.batch.clear();
        Ok(())
    }

    /// Makes sure the last file takes records: starts a new one when there is none, or the
    /// last is sealed. With `sync`, the new file's name is made durable before a record in
    /// it is acknowledged.
    fn writable(&mut self) -> std::io::Result<()> {
        match self.segments.last() {
            Some(_) if !self.sealed => return Ok(()),
            Some(last) if last.len == 0 => {
                // Nothing in it to keep apart (an append that failed left it empty, or a
                // merge or a replay sealed it before any record): records go on in it. A
                // new file each time made a disk that failed every append leave one empty
                // file per failed write (thousands), each read again by every rebuild.
                self.sealed = false;
                return Ok(());
            }
            _ => {}
        }
        let path = format!("{}.{}", self.path, self.next_file);
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)?;
        if self.sync {
            sync_dir(&self.path)?;
        }
        self.next_file += 1;
        self.segments.push(Segment {
            path,
            file,
            len: 0,
            records: 0,
            last_seq: 0,
        });
        self.sealed = false;
        Ok(())
    }

    /// Counts a failed append; writes are refused until its back-off ends.
    fn append_failed(&mut self, e: std::io::Error) -> StoreError {
        {
            let error = io_error(&self.path, "append to", e);
            self.append_failures += 1;
            let until = Instant::now() + backoff(self.append_failures);
            self.append_error = Some((error.to_string(), until));
            error
        }
    }

    /// Whether records wait for a merge.
    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the journal has reached its size limit.
    pub(super) fn is_full(&self) -> bool {
        self.len >= self.options.max_bytes
    }

    /// Whether the journal is past its limit by more than holding writing commands back
    /// lets it go (a quarter of the limit, for the writes that cannot be held): a commit
    /// then waits for the merge in flight, with everyone's replies.
    pub(super) fn is_past_hold(&self) -> bool {
        self.len
            >= self
                .options
                .max_bytes
                .saturating_add(self.options.max_bytes / 4)
    }

    /// Whether a merge is due: the oldest record is a merge interval old, or the journal is
    /// half full. Merging from half full, in the background, leaves the other half for the
    /// writes that arrive meanwhile, so that a heavy write load rarely fills the journal and
    /// waits for a merge (back-pressure) however long the interval.
    pub(super) fn merge_due(&self, now: Instant) -> bool {
        if self.is_empty() || self.retry_at.is_some_and(|t| now < t) {
            return false;
        }
        self.len >= self.options.max_bytes / 2
            || self.oldest.is_some_and(|t| {
                now.duration_since(t).as_millis() as u64 >= self.options.merge_interval_ms
            })
    }

    /// Counts a merge that committed the records up to `seq` in `ms` milliseconds.
    pub(super) fn merged(&mut self, seq: u64, ms: u64) {
        self.merged_seq = seq;
        self.stats.merges += 1;
        self.stats.merge_ms += ms;
        self.stats.last_merge_ms = ms;
    }

    /// Counts a merge that failed; the next is tried half a second later, or up to 8 s
    /// after several failures in a row.
    pub(super) fn merge_failed(&mut self, error: String) {
        self.stats.merge_failures += 1;
        self.merge_failures += 1;
        self.retry_at = Some(Instant::now() + backoff(self.merge_failures));
        self.merge_error = Some(error);
    }

    /// Forgets the failures of earlier merges: one succeeded.
    fn merge_succeeded(&mut self) {
        self.retry_at = None;
        self.merge_failures = 0;
        self.merge_error = None;
    }

    /// Why writes must be refused before they run, if they must: the last append failed
    /// (until its back-off ends, when one write may try again), or the journal is full and
    /// merging it fails (until a merge succeeds). Either way a write would run, fail, and
    /// cost the replay that undoes it. Asked before every write command: the clock is read
    /// only after a failure.
    pub(super) fn refusal(&self) -> Option<String> {
        if let Some((error, until)) = &self.append_error {
            if Instant::now() < *until {
                return Some(error.clone());
            }
        }
        if self.is_full() && self.retry_at.is_some() {
            let why = self.merge_error.as_deref().unwrap_or("unknown error");
            return Some(format!(
                "the redo journal is full and merging it into the database failed: {why}"
            ));
        }
        None
    }

    /// Notes where the records of a merge that commits in the background end: the last file
    /// is sealed, and records appended from now on go to a new one.
    pub(super) fn merge_started(&mut self) {
        self.merging = true;
        self.sealed = true;
    }

    /// Drops the files whose records a merge committed (up to `merged_seq`), off the
    /// executor's thread; the records appended while it ran are in later files. A crash at
    /// any point leaves files that replay to the same state: their merged records are
    /// skipped.
    pub(super) fn drop_merged(&mut self) -> Result<(), StoreError> {
        if !std::mem::take(&mut self.merging) {
            return Ok(());
        }
        let merged = self.merged_seq;
        let keep = self
            .segments
            .iter()
            .position(|s| s.len > 0 && s.last_seq > merged)
            .unwrap_or(self.segments.len());
        if keep == self.segments.len() {
            return self.truncate();
        }
        let gone: Vec<Segment> = self.segments.drain(..keep).collect();
        let (bytes, records) = gone
            .iter()
            .fold((0, 0), |(b, r), s| (b + s.len, r + s.records));
        self.retire(gone);
        self.stats.merged_records += records;
        self.stats.records = self.stats.records.saturating_sub(records);
        self.len = self.len.saturating_sub(bytes);
        self.stats.bytes = self.len;
        // The oldest record left was appended after the merge started.
        self.oldest = Some(Instant::now());
        self.merge_succeeded();
        Ok(())
    }

    /// Empties the journal after a merge committed everything in it: its files are deleted
    /// (off the executor's thread), and the next append starts a new one.
    pub(super) fn truncate(&mut self) -> Result<(), StoreError> {
        self.merging = false;
        self.stats.merged_records += self.stats.records;
        self.len = 0;
        self.stats.records = 0;
        self.stats.bytes = 0;
        self.oldest = None;
        self.merge_succeeded();
        let gone = std::mem::take(&mut self.segments);
        self.sealed = true;
        self.retire(gone);
        Ok(())
    }

    /// Deletes files of merged records on a thread of its own: unlinking them is quick, but
    /// freeing their blocks (the last close) may wait for the disk.
    fn retire(&mut self, gone: Vec<Segment>) {
        if gone.is_empty() {
            return;
        }
        self.retiring.retain(|t| !t.is_finished());
        let paths: Vec<String> = gone.iter().map(|s| s.path.clone()).collect();
        let delete = move || {
            retire_delay();
            for s in gone {
                if let Err(e) = std::fs::remove_file(&s.path) {
                    tracing::warn!(path = %s.path, error = %e, "deleting a merged redo journal file");
                }
            }
        };
        match std::thread::Builder::new()
            .name("respite-redo-rm".into())
            .spawn(delete)
        {
            Ok(t) => self.retiring.push(t),
            Err(_) => {
                // No thread to spare: here, then (the files were closed with the closure).
                for path in paths {
                    let _ = std::fs::remove_file(path);
                }
            }
        }
    }

    /// Deletes every file of the journal (all merged: a clean shutdown, or a journal that
    /// is kept no more), waiting for the deletions under way.
    pub(super) fn remove(mut self) {
        self.truncate().expect("truncating deletes nothing here");
        for t in self.retiring.drain(..) {
            let _ = t.join();
        }
    }

    /// The payloads of the records after `after`, in order, from every file. Reading stops
    /// at the first record that is cut short or fails its checksum (a write a crash
    /// interrupted, never acknowledged); the file is cut back to the records before it, and
    /// any later file, which could only follow a record that is lost, is deleted.
    pub(super) fn read_after(&mut self, after: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut payloads = Vec::new();
        let mut expect = None;
        let mut last = None;
        let mut broken = None;
        for (i, seg) in self.segments.iter_mut().enumerate() {
            let mut data = Vec::new();
            seg.file
                .seek(SeekFrom::Start(0))
                .and_then(|_| seg.file.read_to_end(&mut data))
                .map_err(|e| io_error(&seg.path, "read", e))?;
            let mut at = 0usize;
            let mut records = 0;
            while data.len() - at >= HEADER {
                let len = u32::from_le_bytes(data[at..at + 4].try_into().expect("4")) as usize;
                let seq = u64::from_le_bytes(data[at + 4..at + 12].try_into().expect("8"));
                let sum = u64::from_le_bytes(data[at + 12..at + 20].try_into().expect("8"));
                let Some(payload) = data.get(at + HEADER..at + HEADER + len) else {
                    break;
                };
                if checksum(seq, payload) != sum {
                    break;
                }
                // Merged records are skipped whatever their order: a file of them may outlive
                // a later one (each merge's files are deleted by a thread of its own, and a
                // crash can land between two), so only the unmerged ones must follow each
                // other, from the record after the last merge.
                if seq > after {
                    if seq != expect.unwrap_or(after + 1) {
                        if payloads.is_empty() {
                            // The records do not follow the last merge: the database lost
                            // commits the journal builds on (a power loss with
                            // synchronous=normal). Applying them to an older state would be
                            // wrong; the database's own state stands.
                            tracing::warn!(
                                path = %seg.path,
                                merged = after,
                                first = seq,
                                "the redo journal does not follow the database's last merge; ignored"
                            );
                        }
                        break;
                    }
                    payloads.push(payload.to_vec());
                    expect = Some(seq + 1);
                }
                last = Some(seq);
                seg.last_seq = seq;
                records += 1;
                at += HEADER + len;
            }
            seg.len = at as u64;
            seg.records = records;
            if at < data.len() {
                tracing::warn!(
                    path = %seg.path,
                    dropped_bytes = data.len() - at,
                    "the redo journal ends with an incomplete record (never acknowledged); cut off"
                );
                seg.file
                    .set_len(at as u64)
                    .map_err(|e| io_error(&seg.path, "truncate", e))?;
                broken = Some(i);
                break;
            }
        }
        if let Some(i) = broken {
            for seg in self.segments.drain(i + 1..) {
                tracing::warn!(path = %seg.path, "a redo journal file after a lost record; deleted");
                let _ = std::fs::remove_file(&seg.path);
            }
        }
        // Records are appended to a new file from here on: the last one may have been cut.
        self.sealed = true;
        self.len = self.segments.iter().map(|s| s.len).sum();
        self.merging = false;
        self.last_seq = last.unwrap_or(after).max(after);
        self.stats.records = payloads.len() as u64;
        self.stats.bytes = self.len;
        if self.len > 0 {
            self.oldest = Some(Instant::now());
        }
        Ok(payloads)
    }

    /// The counters as INFO shows them, with the oldest unmerged record's age as of now.
    pub(super) fn snapshot(&self) -> JournalStats {
        JournalStats {
            oldest_unmerged_ms: self.oldest.map_or(0, |t| t.elapsed().as_millis() as u64),
            ..self.stats
        }
    }
}

/// Test-only (debug builds): with `RESPITE_TEST_RETIRE_DELAY_US` set to N, each merge's
/// deletion of its files waits a random 0..N microseconds first, so that deletions overlap
/// and end out of order as they may on a loaded machine, and a kill -9 finds a file of
/// merged records whose successor is gone (`tests/durability.rs`).
fn retire_delay() {
    #[cfg(debug_assertions)]
    if let Some(max) = std::env::var("RESPITE_TEST_RETIRE_DELAY_US")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&m| m > 0)
    {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::from(d.subsec_nanos()));
        std::thread::sleep(std::time::Duration::from_micros(nanos % max));
    }
}

/// The folder a file's `path` names it in (`.` for a bare name).
fn folder(path: &str) -> &std::path::Path {
    std::path::Path::new(path)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."))
}

/// Makes the names in the folder of the journal `path` durable (a file just created).
fn sync_dir(path: &str) -> std::io::Result<()> {
    File::open(folder(path)).and_then(|d| d.sync_all())
}

fn io_error(path: &str, what: &str, e: std::io::Error) -> StoreError {
    StoreError::Io(format!("cannot {what} the redo journal {path}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_survives_encoding() {
        let record = Record {
            kind: ValueType::Hash,
            value: Bytes::from_static(b"v"),
            expire_at: Some(-5),
            version: 7,
            cid: Some(9),
            sub_expire_at: None,
        };
        let element = Element {
            sub: Bytes::from_static(b"f"),
            value: Bytes::from_static(b""),
            expire_at: Some(3),
        };
        let sql_params = encode_params(&[
            SqlValue::Null,
            SqlValue::Integer(-7),
            SqlValue::Real(1.5),
            SqlValue::Text("t".into()),
            SqlValue::Blob(b"k".to_vec()),
        ]);
        assert_eq!(decode_params(&sql_params).unwrap()[2], SqlValue::Real(1.5));
        let ops = vec![
            Op::put(3, b"k", &record),
            Op::Delete { db: 1, key: b"" },
            Op::Rename {
                db: 0,
                key: b"a",
                to_db: 2,
                to_key: b"b",
            },
            Op::FlushDb { db: 4 },
            Op::FlushAll,
            Op::put_element(5, &element),
            Op::DeleteElement { cid: 5, sub: b"x" },
            Op::ExpireElements { cid: 5, now: 99 },
            Op::CopyElements { from: 1, to: 2 },
            Op::DropElements { cid: 8 },
            Op::ZsetPut {
                cid: 1,
                member: b"m",
                score: f64::NEG_INFINITY,
                old: Some(-0.0),
            },
            Op::ZsetDelete {
                cid: 1,
                member: b"m",
                score: 1.5,
            },
            Op::ListPut {
                cid: 2,
                pos: -4,
                value: b"item",
            },
            Op::ListDeleteRange {
                cid: 2,
                from: -1,
                to: 3,
            },
            Op::ListShift {
                cid: 2,
                from: 0,
                to: 9,
                delta: -1,
            },
            Op::OrderedPut {
                cid: 3,
                h: -1,
                sub: b"id",
                value: b"e",
            },
            Op::OrderedDelete {
                cid: 3,
                h: -2,
                sub: b"id",
            },
            Op::OrderedTrim {
                cid: 3,
                h: -1,
                below: Some(b"z"),
                limit: 10,
            },
            Op::OrderedTrim {
                cid: 3,
                h: -1,
                below: None,
                limit: 10,
            },
            Op::Reclaim { limit: 500 },
            Op::MetaSet {
                name: "next_version",
                value: 42,
            },
            Op::MetaSetBlob {
                name: "functions",
                value: None,
            },
            Op::Sql {
                sql: "INSERT INTO search_docs (idx, key) VALUES (?, ?)",
                params: &sql_params,
            },
            Op::SqlBatch {
                sql: "CREATE TABLE IF NOT EXISTS search_x (a)",
            },
            // The compact forms' limits: every option set, the widest integers.
            Op::Put {
                db: u32::MAX,
                key: &[0xff; 200],
                kind: 3,
                expire_at: Some(i64::MIN),
                version: u64::MAX,
                cid: Some(u64::MAX),
                sub_expire_at: Some(i64::MAX),
                value: &[0x80; 300],
            },
            Op::Put {
                db: 0,
                key: b"k",
                kind: 0,
                expire_at: None,
                version: 0,
                cid: None,
                sub_expire_at: Some(-1),
                value: b"",
            },
            Op::PutElement {
                cid: 0,
                sub: b"",
                value: b"v",
                expire_at: Some(1_700_000_000_000),
            },
            Op::ListPut {
                cid: u64::MAX,
                pos: i64::MIN,
                value: b"",
            },
            Op::ListPut {
                cid: 128,
                pos: i64::MAX,
                value: b"x",
            },
        ];
        let mut buf = Vec::new();
        for op in &ops {
            op.encode(&mut buf);
        }
        let mut r = Reader { buf: &buf };
        for op in &ops {
            let decoded = Op::decode(&mut r).unwrap();
            match (op, &decoded) {
                // -0.0 == 0.0, so compare the bits the journal keeps.
                (Op::ZsetPut { old: a, .. }, Op::ZsetPut { old: b, .. }) => {
                    assert_eq!(a.map(f64::to_bits), b.map(f64::to_bits))
                }
                _ => assert_eq!(op, &decoded),
            }
        }
        assert!(r.buf.is_empty());
    }

    /// Journals written before the compact forms (a crash, then an upgrade) replay: their
    /// fixed-width operations decode as they did.
    #[test]
    fn the_fixed_width_operations_of_earlier_journals_still_decode() {
        let mut buf = Vec::new();
        let mut w = Writer(&mut buf);
        w.u8(1); // Put
        w.u32(2);
        w.bytes(b"key");
        w.u8(0);
        w.opt_i64(Some(1_700_000_000_000));
        w.u64(77);
        w.opt_i64(None);
        w.opt_i64(Some(5));
        w.bytes(b"val");
        w.u8(2); // Delete
        w.u32(0);
        w.bytes(b"gone");
        w.u8(6); // PutElement
        w.u64(9);
        w.bytes(b"f");
        w.bytes(b"v");
        w.opt_i64(None);
        w.u8(7); // DeleteElement
        w.u64(9);
        w.bytes(b"f");
        w.u8(11); // ZsetPut
        w.u64(4);
        w.bytes(b"m");
        w.u64(2.5f64.to_bits());
        w.opt_i64(Some(1.5f64.to_bits() as i64));
        w.u8(12); // ZsetDelete
        w.u64(4);
        w.bytes(b"m");
        w.u64(2.5f64.to_bits());
        w.u8(13); // ListPut
        w.u64(6);
        w.i64(-3);
        w.bytes(b"item");
        let expected = [
            Op::Put {
                db: 2,
                key: b"key",
                kind: 0,
                expire_at: Some(1_700_000_000_000),
                version: 77,
                cid: None,
                sub_expire_at: Some(5),
                value: b"val",
            },
            Op::Delete {
                db: 0,
                key: b"gone",
            },
            Op::PutElement {
                cid: 9,
                sub: b"f",
                value: b"v",
                expire_at: None,
            },
            Op::DeleteElement { cid: 9, sub: b"f" },
            Op::ZsetPut {
                cid: 4,
                member: b"m",
                score: 2.5,
                old: Some(1.5),
            },
            Op::ZsetDelete {
                cid: 4,
                member: b"m",
                score: 2.5,
            },
            Op::ListPut {
                cid: 6,
                pos: -3,
                value: b"item",
            },
        ];
        let mut r = Reader { buf: &buf };
        for op in &expected {
            assert_eq!(&Op::decode(&mut r).unwrap(), op);
        }
        assert!(r.buf.is_empty());
    }

    /// A SET's row in the compact form: what the journal's size, and so the spacing of
    /// merges, follows.
    #[test]
    fn a_short_key_row_takes_28_bytes() {
        let record = Record {
            kind: ValueType::String,
            value: Bytes::from_static(b"xxx"),
            expire_at: None,
            version: 1_000_000,
            cid: None,
            sub_expire_at: None,
        };
        let mut buf = Vec::new();
        Op::put(0, b"key:000000012345", &record).encode(&mut buf);
        assert_eq!(buf.len(), 28); // 44 in the fixed-width form
    }

    /// The path of the journal's one file.
    fn only_file(db: &str) -> String {
        let files = Journal::files(db);
        assert_eq!(files.len(), 1, "{files:?}");
        files[0].1.clone()
    }

    /// Appends a record setting `n` to `value`.
    fn append_meta(j: &mut Journal, value: i64) {
        j.log(&Op::MetaSet { name: "n", value });
        j.append().unwrap();
    }

    /// The values of the records as replayed.
    fn values(payloads: &[Vec<u8>]) -> Vec<i64> {
        payloads
            .iter()
            .map(|p| {
                let mut r = Reader { buf: p };
                match Op::decode(&mut r).unwrap() {
                    Op::MetaSet { value, .. } => value,
                    other => panic!("{other:?}"),
                }
            })
            .collect()
    }

    #[test]
    fn a_merge_seals_the_file_and_its_commit_deletes_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db").to_string_lossy().into_owned();
        let mut j = Journal::open(&db, JournalOptions::default()).unwrap();
        assert!(
            !Journal::exists(&db),
            "a file is made at the first append only"
        );
        append_meta(&mut j, 1);
        append_meta(&mut j, 2);
        j.merge_started();
        // Appended while the merge runs: a file of their own.
        append_meta(&mut j, 3);
        let files: Vec<String> = Journal::files(&db).into_iter().map(|f| f.1).collect();
        assert_eq!(files, [format!("{db}.redo.1"), format!("{db}.redo.2")]);
        // A crash before the merge committed replays both files, in order.
        let mut again = Journal::open(&db, JournalOptions::default()).unwrap();
        assert_eq!(values(&again.read_after(0).unwrap()), [1, 2, 3]);
        // A crash after it committed (`meta.redo_seq` = 2), before the file was deleted.
        assert_eq!(values(&again.read_after(2).unwrap()), [3]);
        drop(again);
        j.merged(2, 1);
        j.drop_merged().unwrap();
        assert_eq!(
            (j.len, j.stats.records, j.stats.merged_records),
            (j.segments[0].len, 1, 2)
        );
        append_meta(&mut j, 4);
        for t in j.retiring.drain(..) {
            t.join().unwrap();
        }
        assert_eq!(only_file(&db), format!("{db}.redo.2"));
        let mut again = Journal::open(&db, JournalOptions::default()).unwrap();
        assert_eq!(values(&again.read_after(2).unwrap()), [3, 4]);
        assert_eq!(again.last_seq, 4);
        // Appends after a reopen go to a new file: the last one may end cut short.
        append_meta(&mut again, 5);
        assert_eq!(
            Journal::files(&db).last().unwrap().1,
            format!("{db}.redo.3")
        );
        drop(again);
        // Emptied: every file goes.
        let mut j = Journal::open(&db, JournalOptions::default()).unwrap();
        assert_eq!(values(&j.read_after(2).unwrap()), [3, 4, 5]);
        j.remove();
        assert!(!Journal::exists(&db));
    }

    /// An empty last file takes the next records, sealed or not: appends that failed (each
    /// leaving the file made for it empty) and the rebuilds after them (each sealing the
    /// last file) do not pile up files.
    #[test]
    fn an_empty_last_file_takes_the_next_records() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db").to_string_lossy().into_owned();
        let mut j = Journal::open(&db, JournalOptions::default()).unwrap();
        append_meta(&mut j, 1);
        j.merge_started();
        for _ in 0..10 {
            // What an append that fails leaves: a new file, empty; then a rebuild's read.
            j.writable().unwrap();
            assert_eq!(values(&j.read_after(0).unwrap()), [1]);
        }
        append_meta(&mut j, 2);
        let files: Vec<String> = Journal::files(&db).into_iter().map(|f| f.1).collect();
        assert_eq!(files, [format!("{db}.redo.1"), format!("{db}.redo.2")]);
        // A merge of the first record drops its file alone.
        j.merge_started();
        j.merged(1, 1);
        j.drop_merged().unwrap();
        for t in j.retiring.drain(..) {
            t.join().unwrap();
        }
        assert_eq!(only_file(&db), format!("{db}.redo.2"));
        let mut again = Journal::open(&db, JournalOptions::default()).unwrap();
        assert_eq!(values(&again.read_after(1).unwrap()), [2]);
    }

    #[test]
    fn the_single_file_of_earlier_versions_is_replayed_first() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db").to_string_lossy().into_owned();
        let mut j = Journal::open(&db, JournalOptions::default()).unwrap();
        append_meta(&mut j, 1);
        append_meta(&mut j, 2);
        drop(j);
        // Named as versions before numbered files named it, with a rewrite's leftover.
        std::fs::rename(format!("{db}.redo.1"), format!("{db}.redo")).unwrap();
        std::fs::write(format!("{db}.redo.tmp"), b"partial").unwrap();
        let mut j = Journal::open(&db, JournalOptions::default()).unwrap();
        assert!(!std::path::Path::new(&format!("{db}.redo.tmp")).exists());
        assert_eq!(values(&j.read_after(0).unwrap()), [1, 2]);
        append_meta(&mut j, 99);
        let mut j = Journal::open(&db, JournalOptions::default()).unwrap();
        assert_eq!(values(&j.read_after(0).unwrap()), [1, 2, 99]);
        j.remove();
        assert!(!Journal::exists(&db));
    }

    /// A crash can leave a file of merged records whose successor, merged too, is deleted
    /// already (each merge deletes its files on a thread of its own): the unmerged records
    /// of the files after the gap are replayed all the same. (A replay stopped at the gap,
    /// cut them off as torn, and lost acknowledged writes: `tests/durability.rs` saw it.)
    #[test]
    fn merged_files_deleted_out_of_order_lose_no_unmerged_record() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db").to_string_lossy().into_owned();
        let mut j = Journal::open(&db, JournalOptions::default()).unwrap();
        for (values, file) in [([1, 2], 1), ([3, 4], 2), ([5, 6], 3)] {
            for v in values {
                append_meta(&mut j, v);
            }
            assert_eq!(
                Journal::files(&db).last().unwrap().1,
                format!("{db}.redo.{file}")
            );
            j.merge_started();
        }
        drop(j);
        // Records 1-4 merged (`meta.redo_seq` = 4); the second file's deletion came first.
        std::fs::remove_file(format!("{db}.redo.2")).unwrap();
        let mut j = Journal::open(&db, JournalOptions::default()).unwrap();
        assert_eq!(values(&j.read_after(4).unwrap()), [5, 6]);
        assert_eq!(j.last_seq, 6);
        let files: Vec<String> = Journal::files(&db).into_iter().map(|f| f.1).collect();
        assert_eq!(files, [format!("{db}.redo.1"), format!("{db}.redo.3")]);
        append_meta(&mut j, 7);
        drop(j);
        let mut j = Journal::open(&db, JournalOptions::default()).unwrap();
        assert_eq!(values(&j.read_after(4).unwrap()), [5, 6, 7]);
        // Unmerged records must follow the last merge: after 3, record 4 is missing (its
        // file is gone), so none is applied.
        assert_eq!(values(&j.read_after(3).unwrap()), Vec::<i64>::new());
    }

    #[test]
    fn a_file_after_a_torn_record_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db").to_string_lossy().into_owned();
        let mut j = Journal::open(&db, JournalOptions::default()).unwrap();
        append_meta(&mut j, 1);
        append_meta(&mut j, 2);
        j.merge_started();
        append_meta(&mut j, 3);
        drop(j);
        // The first file loses its last record's tail (corruption, or a power loss with
        // synchronous=normal): the second cannot follow it.
        let first = format!("{db}.redo.1");
        let len = std::fs::metadata(&first).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&first)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        let mut j = Journal::open(&db, JournalOptions::default()).unwrap();
        assert_eq!(values(&j.read_after(0).unwrap()), [1]);
        assert_eq!(only_file(&db), first);
    }

    #[test]
    fn a_torn_record_ends_the_replay_and_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db").to_string_lossy().into_owned();
        let mut j = Journal::open(&db, JournalOptions::default()).unwrap();
        for i in 0..3 {
            j.log(&Op::MetaSet {
                name: "n",
                value: i,
            });
            j.append().unwrap();
        }
        let file = only_file(&db);
        let whole = std::fs::metadata(&file).unwrap().len();
        // A fourth record, cut in the middle as a crash would leave it.
        j.log(&Op::MetaSet {
            name: "n",
            value: 3,
        });
        j.append().unwrap();
        let f = OpenOptions::new().write(true).open(&file).unwrap();
        f.set_len(whole + 10).unwrap();
        drop(j);
        let mut j = Journal::open(&db, JournalOptions::default()).unwrap();
        assert_eq!(j.read_after(0).unwrap().len(), 3);
        assert_eq!(j.last_seq, 3);
        assert_eq!(std::fs::metadata(&file).unwrap().len(), whole);
        // Records up to 2 were merged: only the third remains to replay.
        let mut j = Journal::open(&db, JournalOptions::default()).unwrap();
        assert_eq!(j.read_after(2).unwrap().len(), 1);
        // A journal that does not follow the merged state is ignored.
        let mut j = Journal::open(&db, JournalOptions::default()).unwrap();
        assert!(j.read_after(7).unwrap().is_empty());
        assert_eq!(j.last_seq, 7);
    }

    #[test]
    fn a_merge_is_due_after_its_interval_or_at_half_the_size_limit() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db").to_string_lossy().into_owned();
        let options = JournalOptions {
            merge_interval_ms: 3_600_000,
            max_bytes: 4096,
            ..JournalOptions::default()
        };
        let mut j = Journal::open(&db, options).unwrap();
        let now = Instant::now();
        assert!(!j.merge_due(now), "nothing to merge");
        let value = [7u8; 100];
        let append = |j: &mut Journal| {
            j.log(&Op::ListPut {
                cid: 1,
                pos: 0,
                value: &value,
            });
            j.append().unwrap();
        };
        append(&mut j);
        assert!(!j.merge_due(now), "neither old nor half full");
        while j.len < 2048 {
            assert!(!j.merge_due(now));
            append(&mut j);
        }
        assert!(j.merge_due(now), "half full: merged in the background");
        assert!(!j.is_full(), "writes do not wait yet");
        let later = now + std::time::Duration::from_secs(3601);
        let mut j = Journal::open(&format!("{db}2"), options).unwrap();
        append(&mut j);
        assert!(j.merge_due(later), "an interval old");
    }

    #[test]
    fn a_flipped_byte_fails_the_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db").to_string_lossy().into_owned();
        let mut j = Journal::open(&db, JournalOptions::default()).unwrap();
        for i in 0..2 {
            j.log(&Op::MetaSet {
                name: "n",
                value: i,
            });
            j.append().unwrap();
        }
        drop(j);
        let path = only_file(&db);
        let mut data = std::fs::read(&path).unwrap();
        let last = data.len() - 1;
        data[last] ^= 0x40;
        std::fs::write(&path, &data).unwrap();
        let mut j = Journal::open(&db, JournalOptions::default()).unwrap();
        assert_eq!(j.read_after(0).unwrap().len(), 1);
    }
}
