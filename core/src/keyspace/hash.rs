//! Hashes: small ones inline in the key's row (Redis's listpack), large ones one field per row
//! (Redis's hashtable), so HSET on a hash of a million fields writes one row.
//!
//! Fields may carry their own expiry (HEXPIRE, as Redis 7.4). The hash keeps the earliest one,
//! so the keyspace purges expired fields whenever the key is accessed and the active sweep
//! finds hashes with fields to expire.

use bytes::Bytes;

use super::value::{put_varint, Reader};
use super::Encodings;
use crate::storage::{CollectionId, Element, Store, StoreError};

/// Cache cost of one inline field beyond its bytes.
const FIELD_OVERHEAD: usize = 48;
/// Cache cost of a hash's header.
const HEADER: usize = 32;

const FORMAT_SMALL: u8 = 0;
const FORMAT_LARGE: u8 = 1;

/// One field of a hash.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    /// The field's name.
    pub name: Bytes,
    /// Its value.
    pub value: Bytes,
    /// Absolute expiry in Unix milliseconds, if the field has a TTL.
    pub expire_at: Option<i64>,
}

impl From<Element> for Field {
    fn from(e: Element) -> Self {
        Field {
            name: e.sub,
            value: e.value,
            expire_at: e.expire_at,
        }
    }
}

impl Field {
    fn to_element(&self) -> Element {
        Element {
            sub: self.name.clone(),
            value: self.value.clone(),
            expire_at: self.expire_at,
        }
    }
}

/// Store access, collection-id allocation and size limits for writes to collections.
pub struct Backing<'a> {
    /// The store (element rows are written through into its open transaction).
    pub store: &'a mut dyn Store,
    pub(super) next_id: &'a mut u64,
    pub(super) limits: Encodings,
}

impl Backing<'_> {
    /// A collection id never used before (drawn from the version sequence).
    pub fn new_cid(&mut self) -> CollectionId {
        let id = *self.next_id;
        *self.next_id += 1;
        id
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Repr {
    Small {
        fields: Vec<Field>,
        /// Sum of names and values, for the cache's accounting.
        bytes: usize,
        min_expire: Option<i64>,
    },
    Large {
        cid: CollectionId,
        len: u64,
        /// A lower bound of the earliest field expiry (exact after a purge).
        min_expire: Option<i64>,
    },
}

/// A Redis hash.
#[derive(Clone, Debug, PartialEq)]
pub struct Hash {
    repr: Repr,
    /// Bumped by every change, so the keyspace can tell whether a write access changed it.
    mods: u64,
}

impl Default for Hash {
    fn default() -> Self {
        Hash::new()
    }
}

fn earliest(fields: &[Field]) -> Option<i64> {
    fields.iter().filter_map(|f| f.expire_at).min()
}

impl Hash {
    /// An empty hash (it becomes a key once it has a field).
    pub fn new() -> Hash {
        Hash {
            repr: Repr::Small {
                fields: Vec::new(),
                bytes: 0,
                min_expire: None,
            },
            mods: 0,
        }
    }

    /// Number of fields.
    pub fn len(&self) -> u64 {
        match &self.repr {
            Repr::Small { fields, .. } => fields.len() as u64,
            Repr::Large { len, .. } => *len,
        }
    }

    /// Whether the hash has no field.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// OBJECT ENCODING.
    pub fn encoding(&self) -> &'static str {
        match self.repr {
            Repr::Small { .. } => "listpack",
            Repr::Large { .. } => "hashtable",
        }
    }

    /// The element rows' collection, for a large hash.
    pub fn cid(&self) -> Option<CollectionId> {
        match self.repr {
            Repr::Small { .. } => None,
            Repr::Large { cid, .. } => Some(cid),
        }
    }

    /// Earliest field expiry (a lower bound for large hashes).
    pub fn min_expire(&self) -> Option<i64> {
        match self.repr {
            Repr::Small { min_expire, .. } | Repr::Large { min_expire, .. } => min_expire,
        }
    }

    /// Whether fields may have expired by `now`.
    pub fn needs_purge(&self, now: i64) -> bool {
        self.min_expire().is_some_and(|at| at <= now)
    }

    /// Bytes the cache charges.
    pub fn size(&self) -> usize {
        match &self.repr {
            Repr::Small { fields, bytes, .. } => HEADER + bytes + fields.len() * FIELD_OVERHEAD,
            Repr::Large { .. } => HEADER,
        }
    }

    pub(super) fn mods(&self) -> u64 {
        self.mods
    }

    /// One field.
    pub fn get(&self, store: &mut dyn Store, name: &[u8]) -> Result<Option<Field>, StoreError> {
        match &self.repr {
            Repr::Small { fields, .. } => Ok(fields.iter().find(|f| f.name == name).cloned()),
            Repr::Large { cid, .. } => Ok(store.element(*cid, name)?.map(Field::from)),
        }
    }

    /// Every field (HGETALL order: insertion order for small hashes, as Redis's listpack).
    pub fn fields(&self, store: &mut dyn Store) -> Result<Vec<Field>, StoreError> {
        match &self.repr {
            Repr::Small { fields, .. } => Ok(fields.clone()),
            Repr::Large { cid, len, .. } => {
                let (elements, _) =
                    store.scan_elements(*cid, 0, usize::try_from(*len).unwrap_or(usize::MAX))?;
                Ok(elements.into_iter().map(Field::from).collect())
            }
        }
    }

    /// Fields from `cursor` on (HSCAN); a small hash is returned whole, as Redis does.
    pub fn scan(
        &self,
        store: &mut dyn Store,
        cursor: u64,
        count: usize,
    ) -> Result<(Vec<Field>, u64), StoreError> {
        match &self.repr {
            Repr::Small { fields, .. } => Ok((fields.clone(), 0)),
            Repr::Large { cid, .. } => {
                let (elements, next) = store.scan_elements(*cid, cursor, count)?;
                Ok((elements.into_iter().map(Field::from).collect(), next))
            }
        }
    }

    /// A field picked at random (`seed` chooses it), or `None` when empty.
    pub fn random(&self, store: &mut dyn Store, seed: u64) -> Result<Option<Field>, StoreError> {
        match &self.repr {
            Repr::Small { fields, .. } => {
                Ok((!fields.is_empty())
                    .then(|| fields[(seed % fields.len() as u64) as usize].clone()))
            }
            Repr::Large { cid, .. } => {
                Ok(super::pick::uniform_element(store, *cid, self.len(), seed)?.map(Field::from))
            }
        }
    }

    /// Sets a field; returns whether it is new. `keep_ttl` keeps an existing field's expiry
    /// (HINCRBY); otherwise the new value has none (HSET).
    pub fn set(
        &mut self,
        backing: &mut Backing<'_>,
        name: Bytes,
        value: Bytes,
        keep_ttl: bool,
    ) -> Result<bool, StoreError> {
        self.mods += 1;
        if let Repr::Small { fields, .. } = &self.repr {
            let limits = backing.limits;
            let exists = fields.iter().any(|f| f.name == name);
            let too_long = name.len().max(value.len()) > limits.hash_max_listpack_value;
            if too_long || (!exists && fields.len() >= limits.hash_max_listpack_entries) {
                self.make_large(backing)?;
            }
        }
        match &mut self.repr {
            Repr::Small {
                fields,
                bytes,
                min_expire,
            } => {
                if let Some(f) = fields.iter_mut().find(|f| f.name == name) {
                    *bytes = *bytes + value.len() - f.value.len();
                    f.value = value;
                    if !keep_ttl && f.expire_at.take().is_some() {
                        *min_expire = earliest(fields);
                    }
                    Ok(false)
                } else {
                    *bytes += name.len() + value.len();
                    fields.push(Field {
                        name,
                        value,
                        expire_at: None,
                    });
                    Ok(true)
                }
            }
            Repr::Large { cid, len, .. } if !keep_ttl => {
                let existed = backing.store.replace_element(
                    *cid,
                    &Element {
                        sub: name,
                        value,
                        expire_at: None,
                    },
                )?;
                if !existed {
                    *len += 1;
                }
                Ok(!existed)
            }
            Repr::Large { cid, len, .. } => {
                let cid = *cid;
                let old = backing.store.element(cid, &name)?;
                let expire_at = if keep_ttl {
                    old.as_ref().and_then(|o| o.expire_at)
                } else {
                    None
                };
                backing.store.put_element(
                    cid,
                    &Element {
                        sub: name,
                        value,
                        expire_at,
                    },
                )?;
                if old.is_none() {
                    *len += 1;
                }
                Ok(old.is_none())
            }
        }
    }

    /// Moves the fields into rows of a new collection.
    fn make_large(&mut self, backing: &mut Backing<'_>) -> Result<(), StoreError> {
        let Repr::Small {
            fields, min_expire, ..
        } = &self.repr
        else {
            return Ok(());
        };
        let cid = backing.new_cid();
        for f in fields {
            backing.store.put_element(cid, &f.to_element())?;
        }
        self.repr = Repr::Large {
            cid,
            len: fields.len() as u64,
            min_expire: *min_expire,
        };
        Ok(())
    }

    /// Removes a field; returns whether it was there.
    pub fn delete(&mut self, store: &mut dyn Store, name: &[u8]) -> Result<bool, StoreError> {
        let removed = match &mut self.repr {
            Repr::Small {
                fields,
                bytes,
                min_expire,
            } => match fields.iter().position(|f| f.name == name) {
                Some(i) => {
                    let f = fields.remove(i);
                    *bytes -= f.name.len() + f.value.len();
                    if f.expire_at.is_some() {
                        *min_expire = earliest(fields);
                    }
                    true
                }
                None => false,
            },
            Repr::Large { cid, len, .. } => {
                let removed = store.delete_element(*cid, name)?;
                if removed {
                    *len -= 1;
                }
                removed
            }
        };
        if removed {
            self.mods += 1;
        }
        Ok(removed)
    }

    /// Sets or clears a field's expiry; returns whether the field exists.
    pub fn set_expiry(
        &mut self,
        store: &mut dyn Store,
        name: &[u8],
        expire_at: Option<i64>,
    ) -> Result<bool, StoreError> {
        match &mut self.repr {
            Repr::Small {
                fields, min_expire, ..
            } => {
                let Some(f) = fields.iter_mut().find(|f| f.name == name) else {
                    return Ok(false);
                };
                f.expire_at = expire_at;
                *min_expire = earliest(fields);
            }
            Repr::Large {
                cid, min_expire, ..
            } => {
                let Some(mut e) = store.element(*cid, name)? else {
                    return Ok(false);
                };
                e.expire_at = expire_at;
                store.put_element(*cid, &e)?;
                if let Some(at) = expire_at {
                    *min_expire = Some(min_expire.map_or(at, |m| m.min(at)));
                }
            }
        }
        self.mods += 1;
        Ok(true)
    }

    /// Removes every field whose expiry is at or before `now`; returns their names.
    pub fn purge_expired(
        &mut self,
        store: &mut dyn Store,
        now: i64,
    ) -> Result<Vec<Bytes>, StoreError> {
        if !self.needs_purge(now) {
            return Ok(Vec::new());
        }
        self.mods += 1;
        match &mut self.repr {
            Repr::Small {
                fields,
                bytes,
                min_expire,
            } => {
                let mut gone = Vec::new();
                fields.retain(|f| {
                    let expired = f.expire_at.is_some_and(|at| at <= now);
                    if expired {
                        *bytes -= f.name.len() + f.value.len();
                        gone.push(f.name.clone());
                    }
                    !expired
                });
                *min_expire = earliest(fields);
                Ok(gone)
            }
            Repr::Large {
                cid,
                len,
                min_expire,
            } => {
                let gone = store.expire_elements(*cid, now)?;
                *len -= gone.len() as u64;
                *min_expire = store.min_element_expiry(*cid)?;
                Ok(gone)
            }
        }
    }

    /// A copy with its own element rows (COPY).
    pub fn duplicate(&self, backing: &mut Backing<'_>) -> Result<Hash, StoreError> {
        let repr = match &self.repr {
            Repr::Small { .. } => self.repr.clone(),
            Repr::Large {
                cid,
                len,
                min_expire,
            } => {
                let to = backing.new_cid();
                backing.store.copy_elements(*cid, to)?;
                Repr::Large {
                    cid: to,
                    len: *len,
                    min_expire: *min_expire,
                }
            }
        };
        Ok(Hash { repr, mods: 0 })
    }

    /// The key row's value: the fields of a small hash, the length of a large one.
    pub(super) fn encode(&self) -> Bytes {
        let mut out = Vec::new();
        match &self.repr {
            Repr::Small { fields, bytes, .. } => {
                out.reserve(1 + bytes + fields.len() * 4);
                out.push(FORMAT_SMALL);
                for f in fields {
                    put_varint(&mut out, f.name.len() as u64);
                    out.extend_from_slice(&f.name);
                    put_varint(&mut out, f.value.len() as u64);
                    out.extend_from_slice(&f.value);
                    match f.expire_at {
                        None => out.push(0),
                        Some(at) => {
                            out.push(1);
                            out.extend_from_slice(&at.to_le_bytes());
                        }
                    }
                }
            }
            Repr::Large { len, .. } => {
                out.push(FORMAT_LARGE);
                put_varint(&mut out, *len);
            }
        }
        Bytes::from(out)
    }

    /// The hash a key row holds.
    pub(super) fn decode(
        raw: &[u8],
        cid: Option<CollectionId>,
        sub_expire_at: Option<i64>,
    ) -> Result<Hash, StoreError> {
        let mut r = Reader::new(raw, "hash");
        let repr = match (r.byte()?, cid) {
            (FORMAT_SMALL, None) => {
                let mut fields = Vec::new();
                let mut bytes = 0;
                while !r.is_empty() {
                    let name = r.bytes()?;
                    let value = r.bytes()?;
                    let expire_at = match r.byte()? {
                        0 => None,
                        _ => Some(r.i64()?),
                    };
                    bytes += name.len() + value.len();
                    fields.push(Field {
                        name,
                        value,
                        expire_at,
                    });
                }
                let min_expire = earliest(&fields);
                Repr::Small {
                    fields,
                    bytes,
                    min_expire,
                }
            }
            (FORMAT_LARGE, Some(cid)) => Repr::Large {
                cid,
                len: r.varint()?,
                min_expire: sub_expire_at,
            },
            (format, cid) => {
                return Err(StoreError::Corrupt(format!(
                    "hash row of format {format} with collection {cid:?}"
                )))
            }
        };
        Ok(Hash { repr, mods: 0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Synchronous;
    use crate::storage::SqliteStore;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn small_hash_round_trips_with_ttls_and_binary_fields() {
        let mut store = SqliteStore::open(":memory:", Synchronous::Normal).unwrap();
        let mut next = 1;
        let mut backing = Backing {
            store: &mut store,
            next_id: &mut next,
            limits: Encodings::default(),
        };
        let mut h = Hash::new();
        assert!(h.set(&mut backing, b("a"), b("1"), false).unwrap());
        assert!(h
            .set(&mut backing, Bytes::from_static(b"\x00\xff"), b(""), false)
            .unwrap());
        assert!(!h.set(&mut backing, b("a"), b("2"), false).unwrap());
        assert!(h.set_expiry(backing.store, b"a", Some(500)).unwrap());
        let back = Hash::decode(&h.encode(), None, None).unwrap();
        assert_eq!(back.repr, h.repr);
        assert_eq!(back.min_expire(), Some(500));
        assert_eq!(h.encoding(), "listpack");
    }

    #[test]
    fn grows_into_rows_past_the_limits_and_expires_fields() {
        let mut store = SqliteStore::open(":memory:", Synchronous::Normal).unwrap();
        let mut next = 1;
        let mut backing = Backing {
            store: &mut store,
            next_id: &mut next,
            limits: Encodings::default(),
        };
        let mut h = Hash::new();
        for i in 0..=Encodings::default().hash_max_listpack_entries {
            h.set(&mut backing, b(&format!("f{i}")), b("v"), false)
                .unwrap();
        }
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(
            h.len(),
            Encodings::default().hash_max_listpack_entries as u64 + 1
        );
        let store = backing.store;
        assert_eq!(h.get(store, b"f7").unwrap().unwrap().value, b("v"));
        assert_eq!(
            h.fields(store).unwrap().len(),
            Encodings::default().hash_max_listpack_entries + 1
        );
        h.set_expiry(store, b"f1", Some(100)).unwrap();
        h.set_expiry(store, b"f2", Some(200)).unwrap();
        assert_eq!(h.purge_expired(store, 150).unwrap(), vec![b("f1")]);
        assert_eq!(h.min_expire(), Some(200));
        assert!(h.delete(store, b"f3").unwrap());
        assert!(!h.delete(store, b"f3").unwrap());
        assert_eq!(
            h.len(),
            Encodings::default().hash_max_listpack_entries as u64 - 1
        );
        let back = Hash::decode(&h.encode(), h.cid(), h.min_expire()).unwrap();
        assert_eq!(back.len(), h.len());

        // A long value alone is enough to move a small hash into rows.
        let mut next = 100;
        let mut backing = Backing {
            store,
            next_id: &mut next,
            limits: Encodings::default(),
        };
        let mut h = Hash::new();
        h.set(&mut backing, b("f"), b(&"x".repeat(65)), false)
            .unwrap();
        assert_eq!(h.encoding(), "hashtable");
    }
}
