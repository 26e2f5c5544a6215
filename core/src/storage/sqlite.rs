//! [`Store`] over one SQLite file in WAL mode.

use std::path::Path;

use bytes::Bytes;
use rusqlite::{params, Connection, OptionalExtension};

use super::{DbIndex, DbStats, Record, Store, StoreError, ValueType};
use crate::config::Synchronous;

/// Schema version written to `meta`; a file with a newer one is refused.
const SCHEMA_VERSION: i64 = 1;

/// Per-database counts are kept by triggers, so they stay exact whoever writes the rows
/// (the keyspace, a migration, an operator with the sqlite3 shell) and DBSIZE never scans.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS keys (
    db        INTEGER NOT NULL,
    key       BLOB    NOT NULL,
    type      INTEGER NOT NULL,
    expire_at INTEGER,
    version   INTEGER NOT NULL,
    value     BLOB    NOT NULL,
    PRIMARY KEY (db, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS keys_by_expiry ON keys (expire_at) WHERE expire_at IS NOT NULL;
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
CREATE TRIGGER IF NOT EXISTS keys_count_delete AFTER DELETE ON keys BEGIN
    UPDATE db_stats SET keys = keys - 1, expires = expires - (OLD.expire_at IS NOT NULL)
     WHERE db = OLD.db;
END;
CREATE TRIGGER IF NOT EXISTS keys_count_expiry AFTER UPDATE OF expire_at ON keys
 WHEN (OLD.expire_at IS NULL) <> (NEW.expire_at IS NULL) BEGIN
    UPDATE db_stats SET expires = expires + (NEW.expire_at IS NOT NULL) - (OLD.expire_at IS NOT NULL)
     WHERE db = NEW.db;
END;
";

const SQL_LOAD: &str =
    "SELECT type, value, expire_at, version FROM keys WHERE db = ?1 AND key = ?2";
const SQL_PUT: &str = "INSERT INTO keys (db, key, type, expire_at, version, value)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
     ON CONFLICT (db, key) DO UPDATE SET type = excluded.type, expire_at = excluded.expire_at,
       version = excluded.version, value = excluded.value";
const SQL_DELETE: &str = "DELETE FROM keys WHERE db = ?1 AND key = ?2";

/// SQLite-backed store.
pub struct SqliteStore {
    conn: Connection,
    path: String,
    in_tx: bool,
    /// Held for the store's lifetime: a second server on the same file would serve stale
    /// data from its own cache, so it is refused at start-up.
    _lock: Option<std::fs::File>,
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
    pub fn open(path: &str, synchronous: Synchronous) -> Result<Self, StoreError> {
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
        conn.set_prepared_statement_cache_capacity(64);
        let mut store = SqliteStore {
            conn,
            path: path.to_string(),
            in_tx: false,
            _lock: lock,
        };
        store
            .init(synchronous)
            .map_err(|e| open_err(e.to_string()))?;
        Ok(store)
    }

    fn init(&mut self, synchronous: Synchronous) -> Result<(), StoreError> {
        // Another process (an operator's shell, the migrate tool) may hold the lock briefly.
        self.conn.busy_timeout(std::time::Duration::from_secs(5))?;
        if self.path != ":memory:" {
            let mode: String = self
                .conn
                .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(StoreError::Corrupt(format!(
                    "journal_mode WAL refused (got {mode})"
                )));
            }
        }
        self.set_synchronous(synchronous)?;
        // SQLite's default page cache is 2 MB, too small to keep the key B-tree's interior
        // pages once the data set grows; the keyspace's hot cache keeps values, this the tree.
        self.conn
            .execute_batch("PRAGMA cache_size = -16384; PRAGMA temp_store = MEMORY;")?;
        self.conn.execute_batch(SCHEMA)?;
        match self.meta_get("schema_version")? {
            None => {
                self.conn.execute(
                    "INSERT INTO meta (name, value) VALUES ('schema_version', ?1)",
                    [SCHEMA_VERSION],
                )?;
            }
            Some(v) if v > SCHEMA_VERSION => {
                return Err(StoreError::Corrupt(format!(
                    "the file has schema version {v}, this build knows up to {SCHEMA_VERSION}"
                )))
            }
            Some(_) => {}
        }
        Ok(())
    }

    fn begin(&mut self) -> Result<(), StoreError> {
        if !self.in_tx {
            self.conn.prepare_cached("BEGIN")?.execute([])?;
            self.in_tx = true;
        }
        Ok(())
    }
}

impl Store for SqliteStore {
    fn load(&mut self, db: DbIndex, key: &[u8]) -> Result<Option<Record>, StoreError> {
        let mut stmt = self.conn.prepare_cached(SQL_LOAD)?;
        let row = stmt
            .query_row(params![db, key], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })
            .optional()?;
        match row {
            None => Ok(None),
            Some((kind, value, expire_at, version)) => {
                let kind = ValueType::from_code(kind).ok_or_else(|| {
                    StoreError::Corrupt(format!("unknown value type {kind} in db {db}"))
                })?;
                Ok(Some(Record {
                    kind,
                    value: Bytes::from(value),
                    expire_at,
                    version: version as u64,
                }))
            }
        }
    }

    fn put(&mut self, db: DbIndex, key: &[u8], record: &Record) -> Result<(), StoreError> {
        self.begin()?;
        let mut stmt = self.conn.prepare_cached(SQL_PUT)?;
        stmt.execute(params![
            db,
            key,
            record.kind as u8,
            record.expire_at,
            record.version as i64,
            &record.value[..]
        ])?;
        Ok(())
    }

    fn delete(&mut self, db: DbIndex, key: &[u8]) -> Result<bool, StoreError> {
        self.begin()?;
        let mut stmt = self.conn.prepare_cached(SQL_DELETE)?;
        Ok(stmt.execute(params![db, key])? > 0)
    }

    fn flush_db(&mut self, db: DbIndex) -> Result<(), StoreError> {
        self.begin()?;
        self.conn
            .prepare_cached("DELETE FROM keys WHERE db = ?1")?
            .execute([db])?;
        self.conn
            .prepare_cached("UPDATE db_stats SET keys = 0, expires = 0 WHERE db = ?1")?
            .execute([db])?;
        Ok(())
    }

    fn flush_all(&mut self) -> Result<(), StoreError> {
        self.begin()?;
        self.conn
            .execute_batch("DELETE FROM keys; UPDATE db_stats SET keys = 0, expires = 0;")?;
        Ok(())
    }

    fn db_stats(&mut self) -> Result<Vec<DbStats>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT db, keys, expires FROM db_stats WHERE keys > 0 ORDER BY db")?;
        let rows = stmt.query_map([], |r| {
            Ok(DbStats {
                db: r.get(0)?,
                keys: r.get::<_, i64>(1)? as u64,
                expires: r.get::<_, i64>(2)? as u64,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn meta_get(&mut self, name: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT value FROM meta WHERE name = ?1")?
            .query_row([name], |r| r.get(0))
            .optional()?)
    }

    fn meta_set(&mut self, name: &str, value: i64) -> Result<(), StoreError> {
        self.begin()?;
        self.conn
            .prepare_cached(
                "INSERT INTO meta (name, value) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![name, value])?;
        Ok(())
    }

    fn in_transaction(&self) -> bool {
        self.in_tx
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        if self.in_tx {
            let result = self.conn.prepare_cached("COMMIT")?.execute([]);
            if let Err(e) = result {
                self.rollback();
                return Err(e.into());
            }
            self.in_tx = false;
        }
        Ok(())
    }

    fn rollback(&mut self) {
        if self.in_tx {
            if let Err(e) = self.conn.execute_batch("ROLLBACK") {
                tracing::error!(error = %e, "rollback failed");
            }
            self.in_tx = false;
        }
    }

    fn set_synchronous(&mut self, mode: Synchronous) -> Result<(), StoreError> {
        let value = match mode {
            Synchronous::Off => "OFF",
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
            Synchronous::Extra => "EXTRA",
        };
        self.conn
            .execute_batch(&format!("PRAGMA synchronous = {value}"))?;
        Ok(())
    }

    fn close(&mut self) -> Result<(), StoreError> {
        self.commit()?;
        if self.path != ":memory:" {
            self.conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
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
        }
    }

    #[test]
    fn put_load_delete_and_counts() {
        let mut s = SqliteStore::open(":memory:", Synchronous::Normal).unwrap();
        s.put(0, b"a", &record("1", None, 1)).unwrap();
        s.put(0, b"b", &record("2", Some(10), 2)).unwrap();
        s.put(3, b"a", &record("3", None, 3)).unwrap();
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
        s.put(0, b"b", &record("x", None, 4)).unwrap();
        assert!(s.delete(0, b"a").unwrap());
        assert!(!s.delete(0, b"a").unwrap());
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
        s.put(0, b"k", &record("v", None, 1)).unwrap();
        s.rollback();
        assert_eq!(s.load(0, b"k").unwrap(), None);
    }

    #[test]
    fn survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/x.db");
        let path = path.to_str().unwrap();
        {
            let mut s = SqliteStore::open(path, Synchronous::Full).unwrap();
            s.put(1, b"\x00bin\xff", &record("v", None, 7)).unwrap();
            s.meta_set("next_version", 8).unwrap();
            s.close().unwrap();
        }
        let mut s = SqliteStore::open(path, Synchronous::Normal).unwrap();
        assert_eq!(
            s.load(1, b"\x00bin\xff").unwrap(),
            Some(record("v", None, 7))
        );
        assert_eq!(s.meta_get("next_version").unwrap(), Some(8));
    }
}
