//! The storage seam: everything the keyspace persists goes through the [`Store`] trait, so that
//! the writebehind plugin can wrap it and another backend (PostgreSQL) can implement it without
//! the keyspace knowing any SQL.

mod sqlite;

pub use sqlite::SqliteStore;

use bytes::Bytes;

/// Index of a logical database (`SELECT n`).
pub type DbIndex = u32;

/// The type of a stored value, as persisted in the `type` column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ValueType {
    /// A Redis string.
    String = 0,
}

impl ValueType {
    /// Decodes the persisted type code.
    pub fn from_code(code: i64) -> Option<ValueType> {
        match code {
            0 => Some(ValueType::String),
            _ => None,
        }
    }
}

/// One key's row as persisted.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Type of the value.
    pub kind: ValueType,
    /// Serialized value (the raw bytes for strings).
    pub value: Bytes,
    /// Absolute expiry in Unix milliseconds, if any.
    pub expire_at: Option<i64>,
    /// Version stamped by the keyspace on every write.
    pub version: u64,
}

/// Key and expiry counts of one database, as `INFO keyspace` shows them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DbStats {
    /// Database index.
    pub db: DbIndex,
    /// Number of keys.
    pub keys: u64,
    /// Number of keys with an expiry.
    pub expires: u64,
}

/// Storage failures. The message is shown to clients after `ERR `.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database engine reported an error.
    #[error("storage error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The file holds a row this version cannot decode.
    #[error("storage corruption: {0}")]
    Corrupt(String),
    /// The file could not be opened or prepared.
    #[error("cannot open store {path}: {reason}")]
    Open {
        /// Path given in the configuration.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

/// A transactional key-value store of [`Record`]s.
///
/// Writes open a transaction lazily; [`Store::commit`] makes everything since the last commit
/// durable at once (the executor's group commit), and [`Store::rollback`] discards it. Reads see
/// the open transaction's writes.
pub trait Store: Send {
    /// Reads one key's row.
    fn load(&mut self, db: DbIndex, key: &[u8]) -> Result<Option<Record>, StoreError>;
    /// Inserts or replaces one key's row.
    fn put(&mut self, db: DbIndex, key: &[u8], record: &Record) -> Result<(), StoreError>;
    /// Removes one key's row; returns whether it existed.
    fn delete(&mut self, db: DbIndex, key: &[u8]) -> Result<bool, StoreError>;
    /// Removes every key of one database.
    fn flush_db(&mut self, db: DbIndex) -> Result<(), StoreError>;
    /// Removes every key of every database.
    fn flush_all(&mut self) -> Result<(), StoreError>;
    /// Counts of every non-empty database, ordered by index.
    fn db_stats(&mut self) -> Result<Vec<DbStats>, StoreError>;
    /// Reads a value from the store's metadata table.
    fn meta_get(&mut self, name: &str) -> Result<Option<i64>, StoreError>;
    /// Writes a value to the store's metadata table (inside the open transaction).
    fn meta_set(&mut self, name: &str, value: i64) -> Result<(), StoreError>;
    /// Whether writes are pending since the last commit.
    fn in_transaction(&self) -> bool;
    /// Commits the open transaction, if any.
    fn commit(&mut self) -> Result<(), StoreError>;
    /// Discards the open transaction, if any.
    fn rollback(&mut self);
    /// Changes the `synchronous` setting at run time (CONFIG SET synchronous).
    fn set_synchronous(&mut self, mode: crate::config::Synchronous) -> Result<(), StoreError>;
    /// Commits what is pending and checkpoints, leaving the file clean for the next start.
    fn close(&mut self) -> Result<(), StoreError>;
    /// Human-readable location, for INFO and logs.
    fn describe(&self) -> String;
}
