//! Databases: the map from client-visible database numbers to the store's, which SWAPDB swaps,
//! and the operations on a whole database (DBSIZE, INFO's key counts, SCAN, RANDOMKEY,
//! FLUSHDB, FLUSHALL).

use bytes::Bytes;

use super::{now_ms, rand_u64, Keyspace};
use crate::storage::{DbIndex, DbStats, ScannedKey, Store, StoreError};

fn db_map_name(db: DbIndex) -> String {
    format!("db_map.{db}")
}

/// Reads the database map from the store's metadata, checking it is a permutation.
pub(super) fn load_db_map(
    store: &mut dyn Store,
    databases: u32,
) -> Result<Vec<DbIndex>, StoreError> {
    let mut phys = Vec::with_capacity(databases as usize);
    for db in 0..databases {
        let p = store.meta_get(&db_map_name(db))?.unwrap_or(i64::from(db));
        phys.push(p);
    }
    let mut seen = vec![false; databases as usize];
    for &p in &phys {
        match usize::try_from(p).ok().filter(|&p| p < seen.len()) {
            Some(p) if !seen[p] => seen[p] = true,
            _ => {
                return Err(StoreError::Corrupt(format!(
                    "the file's SWAPDB map does not fit {databases} databases; start with the \
                     `databases` setting the file was last used with"
                )))
            }
        }
    }
    Ok(phys.into_iter().map(|p| p as DbIndex).collect())
}

impl Keyspace {
    /// Marks the watchers of every watched key of `dbs` that exists in any of `exists_in`
    /// (FLUSHDB, FLUSHALL, SWAPDB change keys without writing them one by one), as Redis's
    /// touchAllWatchedKeysInDb does.
    fn touch_watched_in(
        &mut self,
        dbs: &[DbIndex],
        exists_in: &[DbIndex],
    ) -> Result<(), StoreError> {
        if self.watches.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        for (db, key) in self.watches.keys_in(dbs) {
            let mut found = false;
            for &other in exists_in {
                found |= self.exists(other, &key, now)?;
            }
            if found {
                self.watches.touch(db, &key);
            }
        }
        Ok(())
    }

    /// Swaps two databases (SWAPDB): every client sees the other's keys at once.
    pub fn swap_db(&mut self, a: DbIndex, b: DbIndex) -> Result<(), StoreError> {
        if a == b {
            return Ok(());
        }
        self.touch_watched_in(&[a, b], &[a, b])?;
        self.flush_pending()?;
        let (a, b) = (a as usize, b as usize);
        self.phys.swap(a, b);
        self.dbs.swap(a, b);
        for db in [a, b] {
            self.store
                .meta_set(&db_map_name(db as DbIndex), i64::from(self.phys[db]))?;
        }
        self.remapped = true;
        self.next_version += 1;
        Ok(())
    }

    /// Number of keys in `db` (keys whose TTL passed but that nobody touched yet included, as
    /// in Redis).
    pub fn dbsize(&mut self, db: DbIndex) -> Result<u64, StoreError> {
        let pdb = self.phys[db as usize];
        Ok(self
            .db_stats_physical()?
            .into_iter()
            .find(|s| s.db == pdb)
            .map_or(0, |s| s.keys))
    }

    fn db_stats_physical(&mut self) -> Result<Vec<DbStats>, StoreError> {
        self.flush_pending()?;
        self.store.db_stats()
    }

    /// Key counts of every non-empty database, by client-visible index.
    pub fn db_stats(&mut self) -> Result<Vec<DbStats>, StoreError> {
        let mut stats: Vec<DbStats> = self
            .db_stats_physical()?
            .into_iter()
            .filter_map(|s| {
                let db = self.phys.iter().position(|&p| p == s.db)?;
                Some(DbStats {
                    db: db as DbIndex,
                    ..s
                })
            })
            .collect();
        stats.sort_by_key(|s| s.db);
        Ok(stats)
    }

    /// One page of SCAN over `db`: live keys from `cursor` on and the next cursor (0 at the
    /// end). Keys whose TTL passed are left out.
    pub fn scan(
        &mut self,
        db: DbIndex,
        cursor: u64,
        count: usize,
        now: i64,
    ) -> Result<(Vec<ScannedKey>, u64), StoreError> {
        self.flush_pending()?;
        let (mut keys, next) = self.store.scan(self.phys[db as usize], cursor, count)?;
        keys.retain(|k| k.expire_at.is_none_or(|at| at > now));
        Ok((keys, next))
    }

    /// A random live key of `db`.
    pub fn random_key(&mut self, db: DbIndex, now: i64) -> Result<Option<Bytes>, StoreError> {
        self.flush_pending()?;
        let pdb = self.phys[db as usize];
        // Keys whose TTL passed are skipped; after many, give up as Redis does.
        for _ in 0..100 {
            let seed = rand_u64();
            match self.store.random_key(pdb, seed)? {
                None => return Ok(None),
                Some(k) if k.expire_at.is_some_and(|at| at <= now) => {
                    self.exists(db, &k.key, now)?; // expires it
                    self.flush_pending()?;
                }
                Some(k) => return Ok(Some(k.key)),
            }
        }
        Ok(None)
    }

    /// Removes every key of `db`.
    pub fn flush_db(&mut self, db: DbIndex) -> Result<(), StoreError> {
        self.touch_watched_in(&[db], &[db])?;
        self.flush_pending()?;
        self.store.flush_db(self.phys[db as usize])?;
        self.clear_cache_db(db);
        self.data_flushed(db);
        self.next_version += 1;
        Ok(())
    }

    /// Removes every key of every database.
    pub fn flush_all(&mut self) -> Result<(), StoreError> {
        let all: Vec<DbIndex> = (0..self.dbs.len() as DbIndex).collect();
        for &db in &all {
            self.touch_watched_in(&[db], &[db])?;
        }
        self.flush_pending()?;
        self.store.flush_all()?;
        for db in 0..self.dbs.len() {
            self.clear_cache_db(db as DbIndex);
            self.data_flushed(db as DbIndex);
        }
        self.next_version += 1;
        Ok(())
    }
}
