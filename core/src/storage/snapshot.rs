//! Snapshots (SAVE, BGSAVE): a consistent copy of the database file, written by SQLite's
//! `VACUUM INTO` on a read-only connection of its own, so that the executor keeps serving and
//! writing meanwhile (WAL readers never block the writer). The copy is written beside the
//! target under a temporary name, synced, and renamed over the target, so a crash never
//! leaves a half-written snapshot under the real name. A snapshot is an ordinary Respite data
//! file: `respite --db <snapshot>` serves it.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::StoreError;

/// Copies the committed state of the database at `source` to `target`; returns its size.
pub fn write_snapshot(source: &str, target: &Path) -> Result<u64, StoreError> {
    let io = |what: &str, e: std::io::Error| {
        StoreError::Io(format!("cannot {what} {}: {e}", target.display()))
    };
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "snapshot".into());
    let tmp = target.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let conn = Connection::open_with_flags(
            source,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute("VACUUM INTO ?1", [tmp.to_string_lossy()])?;
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| io("sync", e))?;
        std::fs::rename(&tmp, target).map_err(|e| io("rename a snapshot to", e))?;
        if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
            // The rename is durable once the directory is.
            let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
        }
        Ok::<u64, StoreError>(std::fs::metadata(target).map_err(|e| io("read", e))?.len())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{Record, SqliteStore, Store, Synchronous, ValueType};
    use bytes::Bytes;

    #[test]
    fn a_snapshot_holds_the_committed_state_and_opens_as_a_store() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("live.db");
        let snap = dir.path().join("snap.db");
        let mut s = SqliteStore::open(db.to_str().unwrap(), Synchronous::Normal).unwrap();
        let rec = Record {
            kind: ValueType::String,
            value: Bytes::from_static(b"v"),
            expire_at: None,
            version: 1,
            cid: None,
            sub_expire_at: None,
        };
        s.put(0, b"k", rec.clone()).unwrap();
        s.commit().unwrap();
        s.merge(true).unwrap();
        assert!(write_snapshot(db.to_str().unwrap(), &snap).unwrap() > 0);
        // Writes after the snapshot stay out of it.
        s.put(0, b"later", rec.clone()).unwrap();
        s.commit().unwrap();
        s.merge(true).unwrap();
        let mut copy = SqliteStore::open(snap.to_str().unwrap(), Synchronous::Normal).unwrap();
        assert_eq!(copy.load(0, b"k").unwrap(), Some(rec));
        assert_eq!(copy.load(0, b"later").unwrap(), None);
        // A target in a missing directory fails cleanly, leaving nothing behind.
        let bad = dir.path().join("nope/snap.db");
        assert!(write_snapshot(db.to_str().unwrap(), &bad).is_err());
    }
}
