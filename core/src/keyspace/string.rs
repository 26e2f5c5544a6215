//! Strings: short ones whole in the key's row (and the cache), long ones in chunks.
//!
//! A string longer than [`LONG_STRING`] keeps its bytes in ordered rows of its own collection,
//! [`CHUNK`] bytes each, under the chunk's index (big-endian, so rows sort in byte order); the
//! key's row holds only the length. SETBIT, SETRANGE, APPEND and BITFIELD then read and write
//! only the chunks they touch, GETRANGE, GETBIT, BITCOUNT and BITPOS read only the chunks of
//! their range, STRLEN reads nothing, and the cache holds a small header instead of the bytes
//! (a 64 MB bitmap does not take 64 MB of the cache's budget for one SETBIT).
//!
//! Chunk rows are written only once they hold a non-zero byte or were written to: a missing
//! chunk (or the missing tail of a short one) reads as zeros, so SETBIT at a far offset of a
//! new key writes one row, not hundreds of megabytes of zeros.
//!
//! Sizes: a chunk is 960 bytes, so that its row stays within its SQLite page (an index
//! B-tree cell of a 4 KiB page holds about 1,000 bytes before it spills into overflow pages,
//! and a search that compares against a spilled cell reads the spill): a SETBIT then costs one
//! page read and one row of about 1 KB written, not a chain of overflow pages; measured, this
//! made random SETBIT and GETBIT on a 64 MB bitmap four to six times faster than 16 KiB chunks
//! (bench/RESULTS.md). A whole 64 MB value is about 70,000 rows, read 1,024 at a time. Strings
//! up to 64 KiB stay whole: a GET of them is served from the cache in one piece, and an edit
//! rewrites one row of at most 64 KiB.
//!
//! Files written before chunking hold long strings whole in the key's row: they read as they are, and the next in-place write moves them into chunks.

use bytes::Bytes;

use super::hash::Backing;
use super::{Entry, KeyMut, KeyRef, Value, WrongType};
use crate::storage::{CollectionId, Store, StoreError};

/// Bytes per chunk row.
pub const CHUNK: u64 = 960;
/// Strings longer than this are kept in chunks.
pub const LONG_STRING: usize = 64 * 1024;
/// The ordered rows of a chunked string (see [`Store::ordered_put`]).
const CHUNK_H: i64 = -4;
/// Chunks read per store query when a long range is visited (about 1 MB).
const BATCH: u64 = 1024;
/// Cache cost of a chunked string's header.
const HEADER: usize = 48;

static ZEROS: [u8; CHUNK as usize] = [0; CHUNK as usize];

/// A long string kept in chunk rows.
#[derive(Clone, Debug, PartialEq)]
pub struct Chunked {
    cid: CollectionId,
    len: u64,
    /// Bumped by every change, so the keyspace can tell whether a write access changed it.
    mods: u64,
}

fn chunk_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

fn chunk_index(sub: &[u8]) -> Result<u64, StoreError> {
    let b: [u8; 8] = sub
        .try_into()
        .map_err(|_| StoreError::Corrupt("malformed string chunk name".into()))?;
    Ok(u64::from_be_bytes(b))
}

impl Chunked {
    /// Moves `bytes` into the rows of a new collection (all-zero chunks are left out).
    pub(super) fn create(backing: &mut Backing<'_>, bytes: &[u8]) -> Result<Chunked, StoreError> {
        let cid = backing.new_cid();
        for (i, chunk) in bytes.chunks(CHUNK as usize).enumerate() {
            if chunk.iter().any(|&b| b != 0) {
                backing
                    .store
                    .ordered_put(cid, CHUNK_H, &chunk_key(i as u64), chunk)?;
            }
        }
        Ok(Chunked {
            cid,
            len: bytes.len() as u64,
            mods: 0,
        })
    }

    /// The string's length.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the string is empty (never, for a chunked one).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The chunk rows' collection.
    pub fn cid(&self) -> CollectionId {
        self.cid
    }

    /// Bytes the cache charges.
    pub fn size(&self) -> usize {
        HEADER
    }

    pub(super) fn mods(&self) -> u64 {
        self.mods
    }

    /// The key row's value: the length.
    pub(super) fn encode(&self) -> Bytes {
        Bytes::copy_from_slice(&self.len.to_le_bytes())
    }

    /// The string a key row with chunk rows persists.
    pub(super) fn decode(value: &[u8], cid: CollectionId) -> Result<Chunked, StoreError> {
        let b: [u8; 8] = value
            .try_into()
            .map_err(|_| StoreError::Corrupt("malformed chunked string header".into()))?;
        Ok(Chunked {
            cid,
            len: u64::from_le_bytes(b),
            mods: 0,
        })
    }

    /// A copy under a new collection (COPY).
    pub(super) fn duplicate(&self, backing: &mut Backing<'_>) -> Result<Chunked, StoreError> {
        let cid = backing.new_cid();
        backing.store.copy_elements(self.cid, cid)?;
        Ok(Chunked {
            cid,
            len: self.len,
            mods: 0,
        })
    }

    /// Calls `f` with the bytes of `start..end` (clamped to the length) in order, a chunk's
    /// worth at a time, with each piece's offset; stops early when `f` returns false.
    pub fn visit(
        &self,
        store: &mut dyn Store,
        start: u64,
        end: u64,
        mut f: impl FnMut(u64, &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        let end = end.min(self.len);
        if start >= end {
            return Ok(());
        }
        let (first, last) = (start / CHUNK, (end - 1) / CHUNK);
        let mut batch_first = first;
        while batch_first <= last {
            let batch_last = last.min(batch_first + BATCH - 1);
            let rows = store.ordered_range(
                self.cid,
                CHUNK_H,
                &chunk_key(batch_first),
                &chunk_key(batch_last),
                false,
                None,
            )?;
            let mut rows = rows.into_iter().peekable();
            for i in batch_first..=batch_last {
                let mut stored: &[u8] = &[];
                let row;
                if let Some((sub, _)) = rows.peek() {
                    if chunk_index(sub)? == i {
                        row = rows.next().map(|(_, v)| v).unwrap_or_default();
                        stored = &row;
                    }
                }
                let chunk_start = i * CHUNK;
                let from = start.max(chunk_start);
                let to = end.min(chunk_start + CHUNK);
                // A chunk stored short, or not at all, reads as zeros past its bytes.
                let (lo, hi) = ((from - chunk_start) as usize, (to - chunk_start) as usize);
                let keep_going = if hi <= stored.len() {
                    f(from, &stored[lo..hi])
                } else if lo >= stored.len() {
                    f(from, &ZEROS[..hi - lo])
                } else {
                    let mut piece = stored[lo..].to_vec();
                    piece.resize(hi - lo, 0);
                    f(from, &piece)
                };
                if !keep_going {
                    return Ok(());
                }
            }
            batch_first = batch_last + 1;
        }
        Ok(())
    }

    /// The bytes of `start..end` (clamped to the length).
    pub fn read(&self, store: &mut dyn Store, start: u64, end: u64) -> Result<Vec<u8>, StoreError> {
        let mut out = Vec::with_capacity(end.min(self.len).saturating_sub(start) as usize);
        self.visit(store, start, end, |_, piece| {
            out.extend_from_slice(piece);
            true
        })?;
        Ok(out)
    }

    /// Writes `data` at `offset`, growing the string with zeros as needed; only the chunks
    /// the bytes fall in are read and written.
    pub(super) fn write(
        &mut self,
        store: &mut dyn Store,
        offset: u64,
        data: &[u8],
    ) -> Result<(), StoreError> {
        let end = offset + data.len() as u64;
        if data.is_empty() {
            return Ok(());
        }
        for i in offset / CHUNK..=(end - 1) / CHUNK {
            let chunk_start = i * CHUNK;
            let from = offset.max(chunk_start);
            let to = end.min(chunk_start + CHUNK);
            let piece = &data[(from - offset) as usize..(to - offset) as usize];
            let (lo, hi) = ((from - chunk_start) as usize, (to - chunk_start) as usize);
            let mut chunk = if lo == 0 && hi == CHUNK as usize {
                Vec::new() // wholly overwritten: no need to read it
            } else {
                store
                    .ordered_range(self.cid, CHUNK_H, &chunk_key(i), &chunk_key(i), false, None)?
                    .into_iter()
                    .next()
                    .map(|(_, v)| v.to_vec())
                    .unwrap_or_default()
            };
            if chunk.len() < hi {
                chunk.resize(hi, 0);
            }
            chunk[lo..hi].copy_from_slice(piece);
            store.ordered_put(self.cid, CHUNK_H, &chunk_key(i), &chunk)?;
        }
        self.len = self.len.max(end);
        self.mods += 1;
        Ok(())
    }
}

impl Chunked {
    /// Lets `f` change the bytes `offset..offset + n` (zeros past the end) when they lie in
    /// one chunk, reading and writing that chunk once; the chunk is written, and the string
    /// grown to cover the bytes, only if `f` returns true. `None` when the bytes span two
    /// chunks (the caller reads and writes them apart).
    fn update(
        &mut self,
        store: &mut dyn Store,
        offset: u64,
        n: u64,
        f: impl FnOnce(&mut [u8]) -> bool,
    ) -> Result<Option<bool>, StoreError> {
        let i = offset / CHUNK;
        if n == 0 || (offset + n - 1) / CHUNK != i {
            return Ok(None);
        }
        let mut chunk = store
            .ordered_range(self.cid, CHUNK_H, &chunk_key(i), &chunk_key(i), false, None)?
            .into_iter()
            .next()
            .map(|(_, v)| v.to_vec())
            .unwrap_or_default();
        let lo = (offset - i * CHUNK) as usize;
        let hi = lo + n as usize;
        if chunk.len() < hi {
            chunk.resize(hi, 0);
        }
        if !f(&mut chunk[lo..hi]) {
            return Ok(Some(false));
        }
        store.ordered_put(self.cid, CHUNK_H, &chunk_key(i), &chunk)?;
        self.len = self.len.max(offset + n);
        self.mods += 1;
        Ok(Some(true))
    }
}

/// A string value in either form, for reading.
fn string_len(value: &Value) -> Option<u64> {
    match value {
        Value::String(b) => Some(b.len() as u64),
        Value::Chunked(c) => Some(c.len()),
        _ => None,
    }
}

fn visit_value(
    value: &Value,
    store: &mut dyn Store,
    start: u64,
    end: u64,
    mut f: impl FnMut(u64, &[u8]) -> bool,
) -> Result<(), StoreError> {
    match value {
        Value::String(b) => {
            let end = end.min(b.len() as u64);
            if start < end {
                f(start, &b[start as usize..end as usize]);
            }
            Ok(())
        }
        Value::Chunked(c) => c.visit(store, start, end, f),
        _ => Ok(()),
    }
}

fn read_value(
    value: &Value,
    store: &mut dyn Store,
    start: u64,
    end: u64,
) -> Result<Vec<u8>, StoreError> {
    match value {
        Value::Chunked(c) => c.read(store, start, end),
        _ => {
            let mut out = Vec::new();
            visit_value(value, store, start, end, |_, piece| {
                out.extend_from_slice(piece);
                true
            })?;
            Ok(out)
        }
    }
}

impl Value {
    /// The whole string (assembled from its chunks for a long one), or `None` for a value of
    /// another type.
    pub fn string_bytes(&self, store: &mut dyn Store) -> Result<Option<Bytes>, StoreError> {
        match self {
            Value::String(b) => Ok(Some(crate::storage::share_or_copy(b))),
            Value::Chunked(c) => Ok(Some(Bytes::from(c.read(store, 0, c.len())?))),
            _ => Ok(None),
        }
    }
}

impl KeyRef<'_> {
    /// The string's length, or `None` when the key holds another type.
    pub fn string_len(&self) -> Option<u64> {
        string_len(&self.entry.value)
    }

    /// The whole string, or `None` when the key holds another type.
    pub fn string_bytes(&mut self) -> Result<Option<Bytes>, StoreError> {
        self.entry.value.string_bytes(self.store)
    }

    /// The string's bytes in `start..end` (clamped to its length).
    pub fn string_range(&mut self, start: u64, end: u64) -> Result<Vec<u8>, StoreError> {
        read_value(&self.entry.value, self.store, start, end)
    }

    /// Calls `f` with the string's bytes in `start..end` (clamped), piece by piece with each
    /// piece's offset, reading only the chunks of the range; stops when `f` returns false.
    pub fn string_visit(
        &mut self,
        start: u64,
        end: u64,
        f: impl FnMut(u64, &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        visit_value(&self.entry.value, self.store, start, end, f)
    }
}

impl KeyMut<'_> {
    /// The string's length (`None` when the key does not exist), WRONGTYPE for another type.
    pub fn string_len(&self) -> Result<Option<u64>, WrongType> {
        match self.entry() {
            None => Ok(None),
            Some(e) => string_len(&e.value).map(Some).ok_or(WrongType),
        }
    }

    /// The string's bytes in `start..end` (clamped to its length; empty for no key).
    pub fn string_range(&mut self, start: u64, end: u64) -> Result<Vec<u8>, StoreError> {
        match self.found.slot.entry.as_ref() {
            Some(e) => read_value(&e.value, &mut *self.found.store, start, end),
            None => Ok(Vec::new()),
        }
    }

    /// Lets `f` change the string's bytes `offset..offset + n` (zeros past its end; the key
    /// is created when it does not exist) and stores them if `f` returns true: SETBIT and
    /// BITFIELD's read-modify-write, one read and one write of a long string's chunk. Returns
    /// whether they were stored. The caller has checked the type and the length limit.
    pub fn string_update(
        &mut self,
        offset: u64,
        n: u64,
        f: impl FnOnce(&mut [u8]) -> bool,
    ) -> Result<bool, StoreError> {
        let mut f = Some(f);
        if let (Some(entry), backing) = self.backing() {
            if let Value::Chunked(c) = &mut entry.value {
                let apply = |w: &mut [u8]| f.take().is_some_and(|f| f(w));
                if let Some(stored) = c.update(backing.store, offset, n, apply)? {
                    return Ok(stored);
                }
            }
        }
        let mut window = self.string_range(offset, offset + n)?;
        window.resize(n as usize, 0);
        if !f.take().is_some_and(|f| f(&mut window)) {
            return Ok(false);
        }
        self.string_write(offset, &window)?;
        Ok(true)
    }

    /// Writes `data` at `offset` of the string, padding with zeros, creating the key when it
    /// does not exist; the caller has checked the type and the length limit. The string
    /// becomes `raw` for OBJECT ENCODING, as a string changed in place is in Redis.
    pub fn string_write(&mut self, offset: u64, data: &[u8]) -> Result<(), StoreError> {
        let end = offset + data.len() as u64;
        if self.found.slot.entry.is_none() {
            // An empty string to write into; the drop records the key's creation.
            self.found.slot.entry = Some(Entry {
                value: Value::String(Bytes::new()),
                expire_at: None,
                version: 0,
                raw: true,
            });
        }
        let (Some(entry), mut backing) = self.backing() else {
            return Ok(());
        };
        entry.raw = true;
        if let Value::String(b) = &entry.value {
            if end.max(b.len() as u64) > LONG_STRING as u64 {
                // Grows past the limit (or a long string from an older file): into chunks.
                let chunked = Chunked::create(&mut backing, b)?;
                entry.value = Value::Chunked(chunked);
                self.replaced = true;
            } else {
                let mut v = Vec::with_capacity(b.len().max(end as usize));
                v.extend_from_slice(b);
                if v.len() < end as usize {
                    v.resize(end as usize, 0);
                }
                v[offset as usize..end as usize].copy_from_slice(data);
                entry.value = Value::String(Bytes::from(v));
                self.replaced = true;
                return Ok(());
            }
        }
        let (entry, backing) = self.backing();
        match entry.map(|e| &mut e.value) {
            Some(Value::Chunked(c)) => c.write(backing.store, offset, data),
            _ => Ok(()), // the type was checked by the caller
        }
    }
}
