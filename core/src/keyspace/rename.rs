//! Whole-key moves and copies: RENAME, RENAMENX and MOVE keep a key's row and element rows
//! under the new name; COPY duplicates them.

use super::cache::Lookup;
use super::{KeyMut, Keyspace, Value};
use crate::storage::{DbIndex, ShortBytes, StoreError};

/// What [`Keyspace::rename`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Renamed {
    /// The source key does not exist.
    NoSource,
    /// The destination exists and replacing it was not allowed.
    DestinationExists,
    /// Done.
    Done,
}

impl Keyspace {
    /// Renames a key (RENAME, RENAMENX, MOVE), keeping its value, expiry and elements.
    /// Renaming a key to itself is done if the key exists.
    #[allow(clippy::too_many_arguments)]
    pub fn rename(
        &mut self,
        db: DbIndex,
        key: &[u8],
        to_db: DbIndex,
        to_key: &[u8],
        replace: bool,
        now: i64,
    ) -> Result<Renamed, StoreError> {
        if !self.exists(db, key, now)? {
            return Ok(Renamed::NoSource);
        }
        if db == to_db && key == to_key {
            return Ok(Renamed::Done);
        }
        if self.exists(to_db, to_key, now)? {
            if !replace {
                return Ok(Renamed::DestinationExists);
            }
            self.delete(to_db, to_key, now)?;
        }
        // Both rows are brought up to date, then renamed in the store: a large collection
        // keeps its element rows, so this costs the same whatever the value's size.
        self.flush_pending()?;
        self.store.rename(
            self.phys[db as usize],
            key,
            self.phys[to_db as usize],
            to_key,
        )?;
        let (entry, moved) = {
            let found = self.parts().slot(db, key, now, Lookup::Load)?;
            *found.data -= found.data_size();
            let entry = found.slot.entry.take();
            *found.cache_bytes -= entry.as_ref().map_or(0, |e| e.value.size());
            // The store's row went with the rename: the source's next row writes a key the
            // store does not hold.
            let moved = std::mem::take(&mut found.slot.stored);
            (entry, moved)
        };
        self.flushed.push((db, ShortBytes::copy_from_slice(key)));
        self.flushed
            .push((to_db, ShortBytes::copy_from_slice(to_key)));
        // The source goes without passing through a write handle.
        self.watches.changed(db, key, false);
        let mut target = KeyMut::new(self.parts().slot(to_db, to_key, now, Lookup::Load)?);
        // ... and the destination's writes one it holds now (a slot cached before the rename,
        // a destination just deleted, knew otherwise).
        target.found.slot.stored = moved;
        if let Some(e) = entry {
            // The store already holds the row under the new name: only the version changes.
            target.found.slot.entry = Some(e);
            target.replaced = true;
            // The destination was free (or just deleted): the key is new there.
            target.existed = false;
            target.data_before = 0;
        }
        Ok(Renamed::Done)
    }

    /// Copies a key (COPY); returns whether it was copied.
    #[allow(clippy::too_many_arguments)]
    pub fn copy(
        &mut self,
        db: DbIndex,
        key: &[u8],
        to_db: DbIndex,
        to_key: &[u8],
        replace: bool,
        now: i64,
    ) -> Result<bool, StoreError> {
        let Some(src) = self.get(db, key, now)?.cloned() else {
            return Ok(false);
        };
        let mut target = self.write(to_db, to_key, now)?;
        if target.exists() && !replace {
            return Ok(false);
        }
        let value = match &src.value {
            Value::Hash(h) => {
                let (_, mut backing) = target.backing();
                Value::Hash(h.duplicate(&mut backing)?)
            }
            Value::ZSet(z) => {
                let (_, mut backing) = target.backing();
                Value::ZSet(z.duplicate(&mut backing)?)
            }
            Value::List(l) => {
                let (_, mut backing) = target.backing();
                Value::List(Box::new(l.duplicate(&mut backing)?))
            }
            Value::Set(s) => {
                let (_, mut backing) = target.backing();
                Value::Set(s.duplicate(&mut backing)?)
            }
            Value::Stream(s) => {
                let (_, mut backing) = target.backing();
                Value::Stream(Box::new(s.duplicate(&mut backing)?))
            }
            Value::Chunked(c) => {
                let (_, mut backing) = target.backing();
                Value::Chunked(c.duplicate(&mut backing)?)
            }
            Value::String(_) => src.value.clone(),
        };
        target.set(value, src.expire_at)?;
        Ok(true)
    }
}
