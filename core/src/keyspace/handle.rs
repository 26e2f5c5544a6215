//! Access to one key: the read entry points and their [`KeyRef`], and the write handle
//! [`KeyMut`], which records a key's change (version, dirty mark, `new` event, removal of an
//! emptied collection) when it is dropped.

use bytes::Bytes;

use super::cache::{Found, Lookup, Slot};
use super::{
    event, Backing, Entry, Hash, Keyspace, List, Set, Stream, Typed, Value, WrongType, ZSet,
};
use crate::events::class;
use crate::storage::{DbIndex, Store, StoreError};

/// Read access to one live key: its entry, and the store for the elements of large values.
pub struct KeyRef<'a> {
    /// The key's entry.
    pub entry: &'a Entry,
    /// The store, to read elements of large collections.
    pub store: &'a mut dyn Store,
}

/// Write access to one key, from [`Keyspace::write`]. Changes are recorded when it is dropped:
/// the key's version is bumped and the key is marked dirty if anything changed, and a
/// collection left empty is removed, as Redis removes empty hashes, lists, sets and zsets.
pub struct KeyMut<'a> {
    pub(super) found: Found<'a>,
    pub(super) existed: bool,
    mods_before: u64,
    size_before: usize,
    /// The key's logical data size before the change (see `datasize.rs`).
    pub(super) data_before: i64,
    pub(super) replaced: bool,
    /// RESTORE gave the key's LFU counter (a new key keeps it rather than starting afresh).
    freq_given: bool,
}

impl<'a> KeyMut<'a> {
    pub(super) fn new(found: Found<'a>) -> Self {
        let (existed, mods_before) = found
            .slot
            .entry
            .as_ref()
            .map_or((false, 0), |e| (true, e.value.mods()));
        let size_before = found.size();
        let data_before = found.data_size();
        KeyMut {
            found,
            existed,
            mods_before,
            size_before,
            data_before,
            replaced: false,
            freq_given: false,
        }
    }

    /// The key's entry, if it exists.
    pub fn entry(&self) -> Option<&Entry> {
        self.found.slot.entry.as_ref()
    }

    /// Whether the key exists.
    pub fn exists(&self) -> bool {
        self.found.slot.entry.is_some()
    }

    /// The key's expiry.
    pub fn expire_at(&self) -> Option<i64> {
        self.entry().and_then(|e| e.expire_at)
    }

    /// Replaces the key's value and expiry (a long string goes into chunk rows).
    pub fn set(&mut self, value: Value, expire_at: Option<i64>) -> Result<(), StoreError> {
        self.found.discard()?;
        let value = match value {
            Value::String(b) if b.len() > super::string::LONG_STRING => {
                let (_, mut backing) = self.backing();
                Value::Chunked(super::Chunked::create(&mut backing, &b)?)
            }
            value => value,
        };
        self.found.slot.entry = Some(Entry {
            value,
            expire_at,
            version: 0,
            raw: false,
        });
        self.replaced = true;
        Ok(())
    }

    /// Deletes the key; returns whether it existed.
    pub fn delete(&mut self) -> Result<bool, StoreError> {
        let existed = self.found.discard()?.is_some();
        self.replaced |= existed;
        Ok(existed)
    }

    /// Marks the key as last accessed at `at` (Unix ms): RESTORE's IDLETIME.
    pub fn set_accessed(&mut self, at: i64) {
        self.found.slot.accessed = at;
    }

    /// Sets the key's LFU counter (RESTORE's FREQ).
    pub fn set_freq(&mut self, freq: u8, now: i64) {
        self.found.slot.freq = super::evict::Lfu::with_counter(freq, now);
        self.freq_given = true;
    }

    /// Sets or clears the expiry; returns whether the key exists.
    pub fn set_expire(&mut self, expire_at: Option<i64>) -> bool {
        match &mut self.found.slot.entry {
            Some(e) => {
                e.expire_at = expire_at;
                self.replaced = true;
                true
            }
            None => false,
        }
    }

    /// The store and the collection-id allocator, for element writes.
    pub(super) fn backing(&mut self) -> (Option<&mut Entry>, Backing<'_>) {
        (
            self.found.slot.entry.as_mut(),
            Backing {
                store: &mut *self.found.store,
                next_id: &mut *self.found.next_version,
                limits: *self.found.limits,
            },
        )
    }

    /// The key's value as a `T` (a hash, list, set or sorted set), if it holds one.
    pub fn typed<T: Typed>(&mut self) -> Result<Option<(&mut T, Backing<'_>)>, WrongType> {
        match self.backing() {
            (None, _) => Ok(None),
            (Some(e), backing) => match T::of_mut(&mut e.value) {
                Some(t) => Ok(Some((t, backing))),
                None => Err(WrongType),
            },
        }
    }

    /// The key's value as a `T`, created empty if the key does not exist.
    pub fn typed_or_create<T: Typed>(&mut self) -> Result<(&mut T, Backing<'_>), WrongType> {
        if self.found.slot.entry.is_none() {
            self.found.slot.entry = Some(Entry {
                value: T::empty(),
                expire_at: None,
                version: 0,
                raw: false,
            });
        }
        self.typed()?.ok_or(WrongType) // never None: the entry was just made
    }

    /// The key's hash, if it holds one.
    pub fn hash(&mut self) -> Result<Option<(&mut Hash, Backing<'_>)>, WrongType> {
        self.typed()
    }

    /// The key's hash, created empty if the key does not exist.
    pub fn hash_or_create(&mut self) -> Result<(&mut Hash, Backing<'_>), WrongType> {
        self.typed_or_create()
    }

    /// The key's list, if it holds one.
    pub fn list(&mut self) -> Result<Option<(&mut List, Backing<'_>)>, WrongType> {
        self.typed()
    }

    /// The key's list, created empty if the key does not exist.
    pub fn list_or_create(&mut self) -> Result<(&mut List, Backing<'_>), WrongType> {
        self.typed_or_create()
    }

    /// The key's Redis set, if it holds one (named apart from [`KeyMut::set`], which
    /// replaces the key's value).
    pub fn rset(&mut self) -> Result<Option<(&mut Set, Backing<'_>)>, WrongType> {
        self.typed()
    }

    /// The key's Redis set, created empty if the key does not exist.
    pub fn rset_or_create(&mut self) -> Result<(&mut Set, Backing<'_>), WrongType> {
        self.typed_or_create()
    }

    /// The key's sorted set, if it holds one.
    pub fn zset(&mut self) -> Result<Option<(&mut ZSet, Backing<'_>)>, WrongType> {
        self.typed()
    }

    /// The key's sorted set, created empty if the key does not exist.
    pub fn zset_or_create(&mut self) -> Result<(&mut ZSet, Backing<'_>), WrongType> {
        self.typed_or_create()
    }

    /// The key's stream, if it holds one.
    pub fn stream(&mut self) -> Result<Option<(&mut Stream, Backing<'_>)>, WrongType> {
        self.typed()
    }

    /// The key's stream, created empty if the key does not exist.
    pub fn stream_or_create(&mut self) -> Result<(&mut Stream, Backing<'_>), WrongType> {
        self.typed_or_create()
    }

    /// The key's type, if it exists.
    pub fn value_type(&self) -> Option<crate::storage::ValueType> {
        self.entry().map(|e| e.value.value_type())
    }
}

impl Drop for KeyMut<'_> {
    fn drop(&mut self) {
        let slot = &mut *self.found.slot;
        if slot
            .entry
            .as_ref()
            .is_some_and(|e| e.value.is_empty_collection())
        {
            // No element rows are left; the key row goes at the next flush.
            slot.entry = None;
        }
        let size_after = self.found.size();
        *self.found.cache_bytes = *self.found.cache_bytes + size_after - self.size_before;
        *self.found.data += self.found.data_size() - self.data_before;
        let changed = self.replaced
            || match &self.found.slot.entry {
                Some(e) => !self.existed || e.value.mods() != self.mods_before,
                None => self.existed,
            };
        if !changed {
            return;
        }
        let version = self.found.bump_version();
        if let Some(e) = &mut self.found.slot.entry {
            e.version = version;
        }
        if !self.existed && self.found.slot.entry.is_some() && !self.freq_given {
            // A new key's access frequency starts afresh (Redis's LFU_INIT_VAL).
            let at = self.found.slot.accessed;
            self.found.slot.freq = super::evict::Lfu::new(at);
        }
        if !self.existed && self.found.want_new && self.found.slot.entry.is_some() {
            // Redis's `new` (class n): a write brought the key into existence.
            let e = event(self.found.db, class::NEW, "new", self.found.key);
            self.found.events.push(e);
        }
        self.found.mark_dirty();
    }
}

impl Keyspace {
    /// Reads a live key (a string's value, a collection's header).
    pub fn get(&mut self, db: DbIndex, key: &[u8], now: i64) -> Result<Option<&Entry>, StoreError> {
        Ok(self.read(db, key, now)?.map(|r| r.entry))
    }

    /// Reads a live key, with the store at hand for the elements of large collections.
    pub fn read(
        &mut self,
        db: DbIndex,
        key: &[u8],
        now: i64,
    ) -> Result<Option<KeyRef<'_>>, StoreError> {
        self.read_with(db, key, now, Lookup::Load, true, true)
    }

    /// Grows the member index of the large set at `key`, if it holds one, by a chunk of rows
    /// (SRANDMEMBER's side work, see `set_index.rs`). The index is the set's cache, not its
    /// data: the key is not changed, only the cache's count of bytes moves.
    pub fn prepare_set_picks(
        &mut self,
        db: DbIndex,
        key: &[u8],
        now: i64,
    ) -> Result<(), StoreError> {
        let found = self
            .parts()
            .slot_for_read(db, key, now, Lookup::LoadNoTouch, None)?;
        let Some(Found {
            slot,
            store,
            next_version,
            limits,
            cache_bytes,
            ..
        }) = found
        else {
            return Ok(());
        };
        let Some(Value::Set(set)) = slot.entry.as_mut().map(|e| &mut e.value) else {
            return Ok(());
        };
        let before = set.size();
        let mut backing = Backing {
            store,
            next_id: next_version,
            limits: *limits,
        };
        let prepared = set.prepare_picks(&mut backing);
        *cache_bytes = *cache_bytes + set.size() - before;
        prepared
    }

    /// [`Self::read`] without counting a hit or miss or changing the access time (TYPE, TTL,
    /// OBJECT, EXISTS-like checks).
    pub fn peek(
        &mut self,
        db: DbIndex,
        key: &[u8],
        now: i64,
    ) -> Result<Option<KeyRef<'_>>, StoreError> {
        self.read_with(db, key, now, Lookup::LoadNoTouch, false, false)
    }

    fn read_with(
        &mut self,
        db: DbIndex,
        key: &[u8],
        now: i64,
        lookup: Lookup,
        count: bool,
        notify: bool,
    ) -> Result<Option<KeyRef<'_>>, StoreError> {
        let count = count.then_some(notify && self.want_keymiss);
        let Some(found) = self.parts().slot_for_read(db, key, now, lookup, count)? else {
            return Ok(None);
        };
        let Found { slot, store, .. } = found;
        let slot: &Slot = slot;
        Ok(slot.entry.as_ref().map(|entry| KeyRef { entry, store }))
    }

    /// Reads a key without changing its access time, counting a hit or miss (EXISTS, TYPE, the
    /// TTL family, OBJECT); `notify` reports a miss as `keymiss` (OBJECT does not, as in Redis).
    pub fn inspect(
        &mut self,
        db: DbIndex,
        key: &[u8],
        now: i64,
        notify: bool,
    ) -> Result<Option<KeyRef<'_>>, StoreError> {
        self.read_with(db, key, now, Lookup::LoadNoTouch, true, notify)
    }

    /// Reads a live key that a write command is about to change: an access, but not a
    /// keyspace hit or miss (Redis counts those for reads only).
    pub fn read_for_write(
        &mut self,
        db: DbIndex,
        key: &[u8],
        now: i64,
    ) -> Result<Option<KeyRef<'_>>, StoreError> {
        self.read_with(db, key, now, Lookup::Load, false, false)
    }

    /// Whether a live key exists, without counting a hit or miss.
    pub fn exists(&mut self, db: DbIndex, key: &[u8], now: i64) -> Result<bool, StoreError> {
        Ok(self
            .parts()
            .slot_for_read(db, key, now, Lookup::LoadNoTouch, None)?
            .is_some_and(|f| f.slot.entry.is_some()))
    }

    /// Milliseconds since the key was last accessed (OBJECT IDLETIME), if it exists.
    pub fn idle_ms(
        &mut self,
        db: DbIndex,
        key: &[u8],
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        let found = self.parts().slot(db, key, now, Lookup::LoadNoTouch)?;
        Ok(found
            .slot
            .entry
            .is_some()
            .then(|| (now - found.slot.accessed).max(0)))
    }

    /// Write access to a key (loaded if not cached); see [`KeyMut`].
    pub fn write(&mut self, db: DbIndex, key: &[u8], now: i64) -> Result<KeyMut<'_>, StoreError> {
        let found = self.parts().slot(db, key, now, Lookup::Load)?;
        Ok(KeyMut::new(found))
    }

    /// Replaces (or creates) a key's value and expiry without reading the old one.
    pub fn set(
        &mut self,
        db: DbIndex,
        key: &[u8],
        value: Value,
        expire_at: Option<i64>,
        now: i64,
    ) -> Result<(), StoreError> {
        // The old value is read (the key filter answers for absent keys without the file):
        // the logical data size must lose its bytes.
        let found = self.parts().slot(db, key, now, Lookup::Load)?;
        KeyMut::new(found).set(value, expire_at)
    }

    /// Stores a string changed in place (APPEND, SETRANGE, SETBIT, BITFIELD), which OBJECT
    /// ENCODING then calls `raw`, as Redis does.
    pub fn set_changed_string(
        &mut self,
        db: DbIndex,
        key: &[u8],
        value: Bytes,
        expire_at: Option<i64>,
        now: i64,
    ) -> Result<(), StoreError> {
        let found = self.parts().slot(db, key, now, Lookup::Load)?;
        let mut k = KeyMut::new(found);
        k.set(Value::String(value), expire_at)?;
        if let Some(e) = k.found.slot.entry.as_mut() {
            e.raw = true;
        }
        Ok(())
    }

    /// Deletes a key; returns whether a live key was there. Deleting a key the store
    /// certainly does not hold (cache invalidation often does) takes no cache slot, as a read
    /// of one does not.
    pub fn delete(&mut self, db: DbIndex, key: &[u8], now: i64) -> Result<bool, StoreError> {
        match self
            .parts()
            .slot_for_read(db, key, now, Lookup::Load, None)?
        {
            Some(found) => KeyMut::new(found).delete(),
            None => Ok(false),
        }
    }
}
