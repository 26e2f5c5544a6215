//! Where a database's key rows live: the `db` column of the keys table holds a slot, which is
//! the database's own number until FLUSHDB detaches it.
//!
//! FLUSHDB of one database among several cannot drop the keys table's pages (the other
//! databases live in them too), and deleting its rows one by one held the executor for
//! seconds with millions of keys. Instead the database gets a fresh slot (a number above every
//! database index, from a counter that never goes back) and its old slot goes to
//! `db_graveyard`: every read and write of the database uses the new slot at once, so it is
//! empty, a key written right after the flush lands in the new slot, and
//! [`Store::reclaim`](super::Store::reclaim) deletes the old slot's rows in bounded steps
//! (their collections are queued by the delete trigger, as for DEL).
//!
//! The map and the graveyard are rows of the file, written in the open transaction with the
//! flush, so the redo journal's replay of FLUSHDB reproduces them; this struct is their copy
//! in memory, reloaded whenever the transaction is rolled back.

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension};

use super::{DbIndex, StoreError};

/// The first slot handed out by a flush; `db_stats` has a row for each database below it.
pub(super) const FIRST_SLOT: DbIndex = 1024;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS db_slots (
    db   INTEGER PRIMARY KEY,
    slot INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS db_graveyard (slot INTEGER PRIMARY KEY);
";

/// The databases that moved to a slot of their own, and the slots waiting to be emptied.
#[derive(Debug, Default)]
pub(super) struct Slots {
    moved: HashMap<DbIndex, DbIndex>,
    /// Detached slots, oldest first.
    graveyard: Vec<DbIndex>,
}

impl Slots {
    /// Reads the map and the graveyard from the file (the open transaction's state).
    pub(super) fn load(conn: &Connection) -> Result<Slots, StoreError> {
        let moved = conn
            .prepare_cached("SELECT db, slot FROM db_slots")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<HashMap<_, _>, _>>()?;
        let graveyard = conn
            .prepare_cached("SELECT slot FROM db_graveyard ORDER BY slot")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Slots { moved, graveyard })
    }

    /// The slot of database `db`.
    pub(super) fn slot(&self, db: DbIndex) -> DbIndex {
        self.moved.get(&db).copied().unwrap_or(db)
    }

    /// The database whose keys live in `slot`, none for a detached slot.
    pub(super) fn db_of(&self, slot: DbIndex) -> Option<DbIndex> {
        if slot < FIRST_SLOT {
            (!self.moved.contains_key(&slot)).then_some(slot)
        } else {
            self.moved
                .iter()
                .find(|(_, &s)| s == slot)
                .map(|(&db, _)| db)
        }
    }

    /// The oldest detached slot.
    pub(super) fn first_detached(&self) -> Option<DbIndex> {
        self.graveyard.first().copied()
    }

    /// Every detached slot.
    pub(super) fn detached(&self) -> impl Iterator<Item = DbIndex> + '_ {
        self.graveyard.iter().copied()
    }

    /// Detaches `db`'s current slot and gives it a fresh, empty one (in the open transaction).
    pub(super) fn detach(&mut self, conn: &Connection, db: DbIndex) -> Result<(), StoreError> {
        let old = self.slot(db);
        let next: i64 = conn
            .prepare_cached("SELECT value FROM meta WHERE name = 'db_slot_next'")?
            .query_row([], |r| r.get(0))
            .optional()?
            .unwrap_or(i64::from(FIRST_SLOT));
        let new = DbIndex::try_from(next)
            .map_err(|_| StoreError::Corrupt(format!("database slot {next} out of range")))?;
        conn.prepare_cached(
            "INSERT INTO meta (name, value) VALUES ('db_slot_next', ?1)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )?
        .execute([next + 1])?;
        // The counting triggers update the slot's row, so it needs one.
        conn.prepare_cached("INSERT OR IGNORE INTO db_stats (db) VALUES (?1)")?
            .execute([new])?;
        conn.prepare_cached(
            "INSERT INTO db_slots (db, slot) VALUES (?1, ?2)
             ON CONFLICT (db) DO UPDATE SET slot = excluded.slot",
        )?
        .execute(params![db, new])?;
        conn.prepare_cached("INSERT OR IGNORE INTO db_graveyard (slot) VALUES (?1)")?
            .execute([old])?;
        self.moved.insert(db, new);
        self.graveyard.push(old);
        Ok(())
    }

    /// Forgets a detached slot whose rows are all gone (in the open transaction).
    pub(super) fn bury(&mut self, conn: &Connection, slot: DbIndex) -> Result<(), StoreError> {
        conn.prepare_cached("DELETE FROM db_graveyard WHERE slot = ?1")?
            .execute([slot])?;
        if slot >= FIRST_SLOT {
            conn.prepare_cached("DELETE FROM db_stats WHERE db = ?1")?
                .execute([slot])?;
        }
        self.graveyard.retain(|&s| s != slot);
        Ok(())
    }

    /// Every database back in its own slot: FLUSHALL emptied the keys table.
    pub(super) fn reset(&mut self, conn: &Connection) -> Result<(), StoreError> {
        conn.execute_batch(&format!(
            "DELETE FROM db_slots; DELETE FROM db_graveyard;
             DELETE FROM db_stats WHERE db >= {FIRST_SLOT};"
        ))?;
        *self = Slots::default();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Slots {
        fn is_identity(&self) -> bool {
            self.moved.is_empty() && self.graveyard.is_empty()
        }
    }

    fn conn() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
             CREATE TABLE db_stats (db INTEGER PRIMARY KEY, keys INTEGER NOT NULL DEFAULT 0,
                                    expires INTEGER NOT NULL DEFAULT 0);",
        )
        .unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        conn
    }

    #[test]
    fn a_detached_database_gets_a_fresh_slot_and_its_old_one_is_queued() {
        let conn = conn();
        let mut slots = Slots::load(&conn).unwrap();
        assert!(slots.is_identity());
        assert_eq!((slots.slot(3), slots.db_of(3)), (3, Some(3)));
        slots.detach(&conn, 3).unwrap();
        assert_eq!(slots.slot(3), FIRST_SLOT);
        assert_eq!(slots.db_of(FIRST_SLOT), Some(3));
        assert_eq!(slots.db_of(3), None, "the old slot belongs to nobody");
        assert_eq!(slots.detached().collect::<Vec<_>>(), vec![3]);
        slots.detach(&conn, 3).unwrap();
        assert_eq!(slots.slot(3), FIRST_SLOT + 1);
        assert_eq!(slots.first_detached(), Some(3));
        // What the file says is what memory says.
        let again = Slots::load(&conn).unwrap();
        assert_eq!(again.moved, slots.moved);
        assert_eq!(again.graveyard, vec![3, FIRST_SLOT]);
        slots.bury(&conn, FIRST_SLOT).unwrap();
        assert_eq!(Slots::load(&conn).unwrap().graveyard, vec![3]);
        let stats: i64 = conn
            .query_row("SELECT count(*) FROM db_stats", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            stats, 1,
            "the buried slot's counts went, the live one's stay"
        );
        slots.reset(&conn).unwrap();
        assert!(slots.is_identity());
        assert!(Slots::load(&conn).unwrap().is_identity());
        // The counter never goes back: a slot is never reused.
        slots.detach(&conn, 0).unwrap();
        assert_eq!(slots.slot(0), FIRST_SLOT + 2);
    }
}
