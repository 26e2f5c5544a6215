//! The values the keyspace holds, their persisted form and their cache cost.

use bytes::Bytes;

use super::hash::Hash;
use super::list::List;
use super::set::Set;
use super::stream::Stream;
use super::string::Chunked;
use super::zset::ZSet;
use crate::storage::{CollectionId, Record, StoreError, ValueType};

/// A value held by the keyspace.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A string (binary-safe).
    String(Bytes),
    /// A long string kept in chunk rows (see `keyspace/string.rs`); a string to clients.
    Chunked(Chunked),
    /// A hash.
    Hash(Hash),
    /// A sorted set.
    ZSet(ZSet),
    /// A list.
    List(Box<List>),
    /// A set.
    Set(Set),
    /// A stream.
    Stream(Box<Stream>),
}

/// Strings up to this length are `embstr` in OBJECT ENCODING, as Redis allocates them.
const EMBSTR_MAX: usize = 44;

/// Bytes [`Value::data_size`] counts per element of a collection kept in element rows.
pub const ROW_BYTES: usize = 64;
/// Bytes [`Value::data_size`] counts for the header of a collection kept in element rows.
const ROW_HEADER: usize = 64;

impl Value {
    /// Redis's name for the type, as TYPE reports it.
    pub fn type_name(&self) -> &'static str {
        self.value_type().name()
    }

    /// The string, or `None` for a value of another type (the caller answers WRONGTYPE).
    pub fn as_string(&self) -> Option<&Bytes> {
        match self {
            Value::String(b) => Some(b),
            _ => None,
        }
    }

    /// The hash, or `None` for a value of another type.
    pub fn as_hash(&self) -> Option<&Hash> {
        Hash::of(self)
    }

    /// The sorted set, or `None` for a value of another type.
    pub fn as_zset(&self) -> Option<&ZSet> {
        ZSet::of(self)
    }

    /// The list, or `None` for a value of another type.
    pub fn as_list(&self) -> Option<&List> {
        List::of(self)
    }

    /// The stream, or `None` for a value of another type.
    pub fn as_stream(&self) -> Option<&Stream> {
        Stream::of(self)
    }

    /// The set, or `None` for a value of another type.
    pub fn as_set(&self) -> Option<&Set> {
        Set::of(self)
    }

    /// The persisted type.
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::String(_) | Value::Chunked(_) => ValueType::String,
            Value::Hash(_) => ValueType::Hash,
            Value::ZSet(_) => ValueType::ZSet,
            Value::List(_) => ValueType::List,
            Value::Set(_) => ValueType::Set,
            Value::Stream(_) => ValueType::Stream,
        }
    }

    /// Redis's OBJECT ENCODING name for the value's representation.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::String(s) => {
                if s.len() <= 20 && crate::protocol::parse_i64(s).is_some() {
                    "int"
                } else if s.len() <= EMBSTR_MAX {
                    "embstr"
                } else {
                    "raw"
                }
            }
            Value::Chunked(_) => "raw",
            Value::Hash(h) => h.encoding(),
            Value::ZSet(z) => z.encoding(),
            Value::List(l) => l.encoding(),
            Value::Set(s) => s.encoding(),
            Value::Stream(_) => "stream",
        }
    }

    /// Whether the value is a collection with no element left (such keys are removed).
    pub fn is_empty_collection(&self) -> bool {
        match self {
            Value::String(_) | Value::Chunked(_) => false,
            Value::Hash(h) => h.is_empty(),
            Value::ZSet(z) => z.is_empty(),
            Value::List(l) => l.is_empty(),
            Value::Set(s) => s.is_empty(),
            // An empty stream stays a key, as in Redis.
            Value::Stream(_) => false,
        }
    }

    /// The collection whose elements live in their own rows, if any.
    pub fn cid(&self) -> Option<CollectionId> {
        match self {
            Value::String(_) => None,
            Value::Chunked(c) => Some(c.cid()),
            Value::Hash(h) => h.cid(),
            Value::ZSet(z) => z.cid(),
            Value::List(l) => l.cid(),
            Value::Set(s) => s.cid(),
            Value::Stream(s) => s.cid(),
        }
    }

    /// Earliest expiry among the value's elements.
    pub fn sub_expire_at(&self) -> Option<i64> {
        match self {
            Value::String(_)
            | Value::Chunked(_)
            | Value::List(_)
            | Value::Set(_)
            | Value::ZSet(_)
            | Value::Stream(_) => None,
            Value::Hash(h) => h.min_expire(),
        }
    }

    /// Bytes the cache charges for the value.
    pub fn size(&self) -> usize {
        match self {
            Value::String(b) => b.len(),
            Value::Chunked(c) => c.size(),
            Value::Hash(h) => h.size(),
            Value::ZSet(z) => z.size(),
            Value::List(l) => l.size(),
            Value::Set(s) => s.size(),
            Value::Stream(s) => s.size(),
        }
    }

    /// The part of [`Self::size`] that only the cache holds: a large set's member index.
    pub fn index_size(&self) -> usize {
        match self {
            Value::Set(s) => s.index_size(),
            _ => 0,
        }
    }

    /// The value's share of the logical data size that `maxmemory` limits: a string's
    /// bytes, an inline collection's element bytes (with the small per-element overhead the
    /// cache charges), and for a collection kept in element rows its header plus
    /// [`ROW_BYTES`] per element (element rows' own bytes are not tracked). A function of the
    /// stored value alone, so the counter never drifts across cache loads and restarts.
    pub fn data_size(&self) -> usize {
        if self.cid().is_none() {
            return self.size();
        }
        let len = match self {
            Value::String(_) => 0,
            // A long string in chunks: its bytes, as a string held whole.
            Value::Chunked(c) => return usize::try_from(c.len()).unwrap_or(usize::MAX / 2),
            Value::Hash(h) => h.len(),
            Value::ZSet(z) => z.len(),
            Value::List(l) => l.len(),
            Value::Set(s) => s.len(),
            Value::Stream(s) => s.len(),
        };
        ROW_HEADER
            + usize::try_from(len)
                .unwrap_or(usize::MAX / 2)
                .saturating_mul(ROW_BYTES)
    }

    /// A change counter for values mutated in place: it differs after any change.
    pub(super) fn mods(&self) -> u64 {
        match self {
            Value::String(_) => 0,
            Value::Chunked(c) => c.mods(),
            Value::Hash(h) => h.mods(),
            Value::ZSet(z) => z.mods(),
            Value::List(l) => l.mods(),
            Value::Set(s) => s.mods(),
            Value::Stream(s) => s.mods(),
        }
    }

    /// The key row that persists the value.
    pub(super) fn to_record(&self, expire_at: Option<i64>, version: u64) -> Record {
        Record {
            kind: self.value_type(),
            value: match self {
                Value::String(b) => crate::storage::share_or_copy(b),
                Value::Chunked(c) => c.encode(),
                Value::Hash(h) => h.encode(),
                Value::ZSet(z) => z.encode(),
                Value::List(l) => l.encode(),
                Value::Set(s) => s.encode(),
                Value::Stream(s) => s.encode(),
            },
            expire_at,
            version,
            cid: self.cid(),
            sub_expire_at: self.sub_expire_at(),
        }
    }

    /// The value a key row persists.
    pub(super) fn from_record(r: Record) -> Result<Value, StoreError> {
        Ok(match r.kind {
            // A string with chunk rows; one without (short, or from before chunking) is whole.
            ValueType::String => match r.cid {
                Some(cid) => Value::Chunked(Chunked::decode(&r.value, cid)?),
                None => Value::String(r.value),
            },
            ValueType::Hash => Value::Hash(Hash::decode(&r.value, r.cid, r.sub_expire_at)?),
            ValueType::ZSet => Value::ZSet(ZSet::decode(&r.value, r.cid)?),
            ValueType::List => Value::List(Box::new(List::decode(&r.value, r.cid)?)),
            ValueType::Set => Value::Set(Set::decode(&r.value, r.cid)?),
            ValueType::Stream => Value::Stream(Box::new(Stream::decode(&r.value, r.cid)?)),
        })
    }
}

/// Appends `v` as an LEB128 varint.
pub(super) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads persisted bytes, failing with [`StoreError::Corrupt`] on truncated input.
pub(super) struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(super) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, what }
    }

    fn corrupt(&self) -> StoreError {
        StoreError::Corrupt(format!("truncated or malformed {}", self.what))
    }

    pub(super) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub(super) fn varint(&mut self) -> Result<u64, StoreError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.buf.split_first().ok_or_else(|| self.corrupt())?;
            self.buf = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.corrupt())
    }

    pub(super) fn byte(&mut self) -> Result<u8, StoreError> {
        let (&b, rest) = self.buf.split_first().ok_or_else(|| self.corrupt())?;
        self.buf = rest;
        Ok(b)
    }

    pub(super) fn i64(&mut self) -> Result<i64, StoreError> {
        let bytes: [u8; 8] = self
            .buf
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| self.corrupt())?;
        self.buf = &self.buf[8..];
        Ok(i64::from_le_bytes(bytes))
    }

    pub(super) fn bytes(&mut self) -> Result<Bytes, StoreError> {
        let len = usize::try_from(self.varint()?).map_err(|_| self.corrupt())?;
        let b = self.buf.get(..len).ok_or_else(|| self.corrupt())?;
        self.buf = &self.buf[len..];
        Ok(Bytes::copy_from_slice(b))
    }
}

/// A collection type commands ask a key for by type: a key of another type is WRONGTYPE.
pub trait Typed: Sized {
    /// The value as this type, if it is one.
    fn of(value: &Value) -> Option<&Self>;
    /// The value as this type, mutably, if it is one.
    fn of_mut(value: &mut Value) -> Option<&mut Self>;
    /// An empty value of this type (it becomes a key once it has an element).
    fn empty() -> Value;
}

macro_rules! typed {
    ($t:ident, $variant:ident) => {
        impl Typed for $t {
            fn of(value: &Value) -> Option<&Self> {
                match value {
                    Value::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn of_mut(value: &mut Value) -> Option<&mut Self> {
                match value {
                    Value::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn empty() -> Value {
                Value::$variant($t::new().into())
            }
        }
    };
}

typed!(Hash, Hash);
typed!(List, List);
typed!(Set, Set);
typed!(ZSet, ZSet);
typed!(Stream, Stream);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_truncation_is_an_error() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(Reader::new(&out, "test").varint().unwrap(), v);
            assert!(Reader::new(&out[..out.len() - 1], "test").varint().is_err());
        }
    }

    #[test]
    fn string_encodings_follow_redis() {
        let s = |v: &str| Value::String(Bytes::copy_from_slice(v.as_bytes()));
        assert_eq!(s("12345").encoding(), "int");
        assert_eq!(s("-9223372036854775808").encoding(), "int");
        assert_eq!(s("012").encoding(), "embstr");
        assert_eq!(s(&"x".repeat(44)).encoding(), "embstr");
        assert_eq!(s(&"x".repeat(45)).encoding(), "raw");
    }
}
