//! The keyspace end to end over a real SQLite store.

use super::*;
use crate::config::Synchronous;
use crate::storage::SqliteStore;

fn keyspace(path: &str, cache: u64) -> Keyspace {
    let store = SqliteStore::open(path, Synchronous::Normal).unwrap();
    Keyspace::new(Box::new(store), 16, cache).unwrap()
}

fn s(v: &str) -> Value {
    Value::String(Bytes::copy_from_slice(v.as_bytes()))
}

#[test]
fn set_get_delete_and_dbsize() {
    let mut ks = keyspace(":memory:", 1 << 20);
    ks.set(0, b"a", s("1"), None, 0).unwrap();
    ks.set(0, b"b", s("2"), None, 0).unwrap();
    ks.set(1, b"a", s("3"), None, 0).unwrap();
    assert_eq!(ks.get(0, b"a", 0).unwrap().unwrap().value, s("1"));
    assert_eq!(ks.dbsize(0).unwrap(), 2);
    assert!(ks.delete(0, b"a", 0).unwrap());
    assert!(!ks.delete(0, b"a", 0).unwrap());
    ks.commit().unwrap();
    assert_eq!(ks.dbsize(0).unwrap(), 1);
    assert_eq!(ks.dbsize(1).unwrap(), 1);
    ks.flush_db(1).unwrap();
    assert_eq!(ks.dbsize(1).unwrap(), 0);
    assert_eq!(ks.dbsize(0).unwrap(), 1);
}

#[test]
fn versions_grow_across_delete_and_recreate() {
    let mut ks = keyspace(":memory:", 1 << 20);
    ks.set(0, b"k", s("1"), None, 0).unwrap();
    let v1 = ks.get(0, b"k", 0).unwrap().unwrap().version;
    ks.delete(0, b"k", 0).unwrap();
    ks.set(0, b"k", s("1"), None, 0).unwrap();
    assert!(ks.get(0, b"k", 0).unwrap().unwrap().version > v1);
}

#[test]
fn lazy_expiry() {
    let mut ks = keyspace(":memory:", 1 << 20);
    ks.set(0, b"k", s("v"), Some(100), 0).unwrap();
    assert!(ks.get(0, b"k", 99).unwrap().is_some());
    assert!(ks.get(0, b"k", 100).unwrap().is_none());
    ks.commit().unwrap();
    assert_eq!(ks.dbsize(0).unwrap(), 0);
    assert_eq!(ks.stats().expired, 1);
}

#[test]
fn cache_stays_within_budget_and_data_survives() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ks.db");
    let path = path.to_str().unwrap();
    let mut ks = keyspace(path, 64 * 1024);
    let value = "x".repeat(1000);
    for i in 0..1000 {
        ks.set(0, format!("key:{i}").as_bytes(), s(&value), None, 0)
            .unwrap();
        if i % 100 == 99 {
            ks.commit().unwrap();
            assert!(ks.cache_bytes() <= 64 * 1024);
        }
    }
    for i in 0..1000 {
        let e = ks.get(0, format!("key:{i}").as_bytes(), 0).unwrap();
        assert_eq!(e.unwrap().value, s(&value));
    }
    ks.close().unwrap();
    drop(ks); // releases the file's lock
    let mut ks = keyspace(path, 64 * 1024);
    assert_eq!(ks.dbsize(0).unwrap(), 1000);
    assert_eq!(ks.get(0, b"key:7", 0).unwrap().unwrap().value, s(&value));
}

#[test]
fn the_cache_keeps_keys_read_since_eviction_last_passed() {
    // About 40 keys of 1 KB fit: 20 are read between batches of new keys, and survive
    // the evictions that take their unread neighbours.
    let mut ks = keyspace(":memory:", 48 * 1024);
    let value = "x".repeat(1000);
    let cached =
        |ks: &Keyspace, i: usize| ks.dbs[0].map.contains_key(format!("key:{i}").as_bytes());
    for i in 0..200 {
        ks.set(0, format!("key:{i}").as_bytes(), s(&value), None, 0)
            .unwrap();
        if i >= 20 {
            for hot in 0..10 {
                ks.get(0, format!("key:{hot}").as_bytes(), 0).unwrap();
            }
        }
        ks.commit().unwrap();
        assert!(ks.cache_bytes() <= 48 * 1024);
    }
    assert!(
        (0..10).all(|i| cached(&ks, i)),
        "a key read every batch was evicted"
    );
    assert!(
        !(10..20).any(|i| cached(&ks, i)),
        "an unread old key stayed"
    );
    assert!(ks.stats.cache_evictions >= 150);
}

fn fill_hash(ks: &mut Keyspace, db: DbIndex, key: &[u8], fields: usize) {
    let mut k = ks.write(db, key, 0).unwrap();
    let (h, mut backing) = k.hash_or_create().unwrap();
    for i in 0..fields {
        let name = Bytes::from(format!("f{i}"));
        h.set(&mut backing, name, Bytes::from_static(b"v"), false)
            .unwrap();
    }
}

fn hash_len(ks: &mut Keyspace, db: DbIndex, key: &[u8]) -> Option<u64> {
    ks.get(db, key, 0)
        .unwrap()
        .map(|e| e.value.as_hash().unwrap().len())
}

#[test]
fn write_handles_version_and_remove_emptied_collections() {
    let mut ks = keyspace(":memory:", 1 << 20);
    fill_hash(&mut ks, 0, b"h", 3);
    let v1 = ks.get(0, b"h", 0).unwrap().unwrap().version;
    // A write access that changes nothing leaves the version alone.
    drop(ks.write(0, b"h", 0).unwrap());
    assert_eq!(ks.get(0, b"h", 0).unwrap().unwrap().version, v1);
    assert!(matches!(ks.write(0, b"h", 0).unwrap().hash(), Ok(Some(_))));
    ks.set(0, b"s", s("x"), None, 0).unwrap();
    assert!(ks.write(0, b"s", 0).unwrap().hash().is_err());
    {
        let mut k = ks.write(0, b"h", 0).unwrap();
        let (h, backing) = k.hash().unwrap().unwrap();
        for i in 0..3 {
            h.delete(backing.store, format!("f{i}").as_bytes()).unwrap();
        }
    }
    assert!(ks.get(0, b"h", 0).unwrap().is_none());
    ks.commit().unwrap();
    assert_eq!(ks.dbsize(0).unwrap(), 1);
}

#[test]
fn large_hashes_rename_copy_and_delete_with_their_elements() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ks.db");
    let path = path.to_str().unwrap();
    let mut ks = keyspace(path, 1 << 20);
    fill_hash(&mut ks, 0, b"big", 500);
    assert_eq!(
        ks.rename(0, b"big", 1, b"moved", false, 0).unwrap(),
        Renamed::Done
    );
    assert!(ks.copy(1, b"moved", 1, b"copy", false, 0).unwrap());
    ks.commit().unwrap();
    ks.close().unwrap();
    drop(ks);
    let mut ks = keyspace(path, 1 << 20);
    assert_eq!(hash_len(&mut ks, 0, b"big"), None);
    assert_eq!(hash_len(&mut ks, 1, b"moved"), Some(500));
    assert_eq!(hash_len(&mut ks, 1, b"copy"), Some(500));
    {
        let mut k = ks.write(1, b"copy", 0).unwrap();
        let (h, backing) = k.hash().unwrap().unwrap();
        assert!(h.delete(backing.store, b"f1").unwrap());
    }
    assert_eq!(
        hash_len(&mut ks, 1, b"moved"),
        Some(500),
        "copies are apart"
    );
    // Created and deleted in one batch: no element row may be left behind.
    fill_hash(&mut ks, 2, b"brief", 300);
    let cid = ks
        .get(2, b"brief", 0)
        .unwrap()
        .unwrap()
        .value
        .cid()
        .unwrap();
    assert!(ks.delete(2, b"brief", 0).unwrap());
    ks.commit().unwrap();
    reclaim_all(&mut ks);
    assert!(ks
        .store_mut()
        .scan_elements(cid, 0, 10)
        .unwrap()
        .0
        .is_empty());
}

fn fill_zset(ks: &mut Keyspace, db: DbIndex, key: &[u8], members: usize) {
    let mut k = ks.write(db, key, 0).unwrap();
    let (z, mut backing) = k.zset_or_create().unwrap();
    for i in 0..members {
        z.insert(&mut backing, Bytes::from(format!("m{i}")), i as f64)
            .unwrap();
    }
}

fn zset_rows(ks: &mut Keyspace, cid: u64) -> (usize, u64) {
    let store = ks.store_mut();
    let elements = store.scan_elements(cid, 0, 100_000).unwrap().0.len();
    let scores = store
        .zset_count(cid, &crate::storage::ZRange::all())
        .unwrap();
    (elements, scores)
}

#[test]
fn large_zsets_copy_rename_and_delete_with_both_row_orders() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ks.db");
    let path = path.to_str().unwrap();
    let mut ks = keyspace(path, 1 << 20);
    fill_zset(&mut ks, 0, b"z", 300);
    let cid = ks.get(0, b"z", 0).unwrap().unwrap().value.cid().unwrap();
    assert!(ks.copy(0, b"z", 0, b"copy", false, 0).unwrap());
    let copy_cid = ks.get(0, b"copy", 0).unwrap().unwrap().value.cid().unwrap();
    assert_ne!(cid, copy_cid);
    assert_eq!(
        ks.rename(0, b"z", 1, b"moved", false, 0).unwrap(),
        Renamed::Done
    );
    ks.commit().unwrap();
    ks.close().unwrap();
    drop(ks);
    let mut ks = keyspace(path, 1 << 20);
    assert_eq!(zset_rows(&mut ks, cid), (300, 300));
    assert_eq!(zset_rows(&mut ks, copy_cid), (300, 300));
    {
        let r = ks.read(1, b"moved", 0).unwrap().unwrap();
        let z = r.entry.value.as_zset().unwrap();
        assert_eq!(z.len(), 300);
        assert_eq!(z.rank(r.store, b"m250", true).unwrap(), Some((49, 250.0)));
    }
    // Overwriting with a string and deleting both drop every row of both orders.
    ks.set(
        1,
        b"moved",
        Value::String(Bytes::from_static(b"x")),
        None,
        0,
    )
    .unwrap();
    assert!(ks.delete(0, b"copy", 0).unwrap());
    ks.commit().unwrap();
    reclaim_all(&mut ks);
    assert_eq!(zset_rows(&mut ks, cid), (0, 0));
    assert_eq!(zset_rows(&mut ks, copy_cid), (0, 0));
    // Created and deleted in one batch: nothing left behind either.
    fill_zset(&mut ks, 2, b"brief", 200);
    let brief = ks
        .get(2, b"brief", 0)
        .unwrap()
        .unwrap()
        .value
        .cid()
        .unwrap();
    assert!(ks.delete(2, b"brief", 0).unwrap());
    ks.commit().unwrap();
    reclaim_all(&mut ks);
    assert_eq!(zset_rows(&mut ks, brief), (0, 0));
    // FLUSHALL too.
    fill_zset(&mut ks, 0, b"f", 200);
    let f = ks.get(0, b"f", 0).unwrap().unwrap().value.cid().unwrap();
    ks.commit().unwrap();
    ks.flush_all().unwrap();
    ks.commit().unwrap();
    assert_eq!(zset_rows(&mut ks, f), (0, 0));
}

#[test]
fn lazy_expiry_reports_an_event_and_swapdb_rolls_back_with_a_failed_commit() {
    let mut ks = keyspace(":memory:", 1 << 20);
    ks.set(0, b"k", s("v"), Some(100), 0).unwrap();
    assert!(ks.get(0, b"k", 100).unwrap().is_none());
    let events = ks.take_events();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].event, &events[0].key[..]),
        ("expired", &b"k"[..])
    );
    ks.set(0, b"a", s("in0"), None, 0).unwrap();
    ks.commit().unwrap();
    ks.swap_db(0, 5).unwrap();
    assert_eq!(ks.get(5, b"a", 0).unwrap().unwrap().value, s("in0"));
    ks.rollback();
    assert_eq!(ks.get(0, b"a", 0).unwrap().unwrap().value, s("in0"));
    assert!(ks.get(5, b"a", 0).unwrap().is_none());
}

/// Runs lazy freeing until nothing is queued, as the engine's cron does over time.
fn reclaim_all(ks: &mut Keyspace) {
    while ks.reclaim(std::time::Duration::from_secs(5)).unwrap() {}
    ks.commit().unwrap();
    assert_eq!(ks.lazyfree_pending().unwrap(), 0);
}

/// A keyspace with write-behind over a file with one key and room for a few more pages only.
fn write_behind_with_little_room(path: &str) -> Keyspace {
    use crate::storage::SqlValue;
    let mut ks = keyspace(path, 64 << 20);
    ks.set_write_behind(Some(WriteBehindOptions {
        flush_interval_ms: 100,
        max_dirty_bytes: 1 << 30,
    }));
    ks.set(0, b"first", s("x"), None, 0).unwrap();
    ks.commit().unwrap();
    let pages = match &ks.store_mut().sql_query("PRAGMA page_count", &[]).unwrap()[0][0] {
        SqlValue::Integer(n) => *n,
        other => panic!("{other:?}"),
    };
    let limit = format!("PRAGMA max_page_count = {}", pages + 4);
    ks.store_mut().sql_query(&limit, &[]).unwrap();
    ks
}

#[test]
fn a_failed_write_behind_flush_keeps_every_change_and_writes_it_later() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wb.db");
    let path = path.to_str().unwrap();
    // The 200 values of 3 kB cannot fit in the file. The flush is durable in the redo journal
    // all the same; merging it into the file fails and is retried.
    let mut ks = write_behind_with_little_room(path);
    let value = "v".repeat(3000);
    for i in 0..200 {
        ks.set(0, format!("k{i}").as_bytes(), s(&value), None, 0)
            .unwrap();
    }
    ks.commit().unwrap();
    assert_eq!(ks.write_behind_stats().unwrap().dirty_keys, 0);
    assert!(ks.store_mut().merge(true).is_err());
    // Nothing was dropped: every value reads back, from the store as well as the cache.
    ks.clear_cache_db(0);
    for i in 0..200 {
        let got = ks.get(0, format!("k{i}").as_bytes(), 0).unwrap().unwrap();
        assert_eq!(got.value, s(&value), "k{i}");
    }
    // Space returns: the merge writes everything, and a crash after it loses nothing.
    ks.store_mut()
        .sql_query("PRAGMA max_page_count = 1000000", &[])
        .unwrap();
    ks.store_mut().merge(true).unwrap();
    drop(ks);
    let mut ks = keyspace(path, 64 << 20);
    assert_eq!(ks.dbsize(0).unwrap(), 201);
    for i in 0..200 {
        let got = ks.get(0, format!("k{i}").as_bytes(), 0).unwrap().unwrap();
        assert_eq!(got.value, s(&value), "k{i}");
    }
}

#[test]
fn a_write_behind_flush_that_fails_midway_keeps_the_rows_it_did_not_reach() {
    // No journal in memory: the rows go straight into the tables, and the flush fails at
    // the row that finds the file full.
    let mut ks = write_behind_with_little_room(":memory:");
    let value = "v".repeat(3000);
    for i in 0..200 {
        ks.set(0, format!("k{i}").as_bytes(), s(&value), None, 0)
            .unwrap();
    }
    assert!(ks.commit().is_err());
    // Every change is still waiting, the rows before the failure and after it.
    assert_eq!(ks.write_behind_stats().unwrap().dirty_keys, 200);
    ks.store_mut()
        .sql_query("PRAGMA max_page_count = 1000000", &[])
        .unwrap();
    ks.commit().unwrap();
    assert_eq!(ks.write_behind_stats().unwrap().dirty_keys, 0);
    ks.clear_cache_db(0);
    assert_eq!(ks.dbsize(0).unwrap(), 201);
    for i in 0..200 {
        let got = ks.get(0, format!("k{i}").as_bytes(), 0).unwrap().unwrap();
        assert_eq!(got.value, s(&value), "k{i}");
    }
}

/// Rows built as short strings change (see `commit::EarlyRows`): a key changed again in the
/// same flush epoch gets its newest row at the flush, a rollback drops the early rows with
/// the rest, and a key's state stays right as the epochs come round again.
#[test]
fn rows_built_early_leave_the_newest_value_in_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ks.db");
    let path = path.to_str().unwrap();
    let mut ks = keyspace(path, 1 << 20);
    ks.set(0, b"once", s("1"), None, 0).unwrap();
    ks.set(0, b"twice", s("1"), None, 0).unwrap();
    ks.set(0, b"twice", s("2"), None, 0).unwrap();
    ks.set(0, b"gone", s("1"), None, 0).unwrap();
    ks.delete(0, b"gone", 0).unwrap();
    let long = "x".repeat(super::commit::EARLY_VALUE_MAX + 1);
    ks.set(0, b"long", s(&long), None, 0).unwrap();
    assert_eq!(ks.early.len(), 3, "once, twice and gone, not long");
    assert_eq!(
        ks.dirty.len(),
        3,
        "twice and gone changed again, long at once"
    );
    ks.commit().unwrap();
    assert!(ks.early.is_empty());
    // Nothing early is rolled back into the store.
    ks.set(0, b"once", s("rolled back"), None, 0).unwrap();
    ks.set(0, b"new", s("rolled back"), None, 0).unwrap();
    assert_eq!(ks.early.len(), 2);
    ks.rollback();
    assert!(ks.early.is_empty());
    assert_eq!(ks.get(0, b"once", 0).unwrap().unwrap().value, s("1"));
    assert!(ks.get(0, b"new", 0).unwrap().is_none());
    // More flushes than there are epochs, each writing "hot" once or twice: its state never
    // reads as written when it is not.
    for i in 0..(2 * super::commit::EPOCHS as usize + 7) {
        ks.set(0, b"hot", s(&i.to_string()), None, 0).unwrap();
        if i % 3 == 0 {
            ks.set(0, b"hot", s(&format!("{i}b")), None, 0).unwrap();
        }
        ks.commit().unwrap();
    }
    assert_eq!(ks.dbsize(0).unwrap(), 4);
    ks.close().unwrap();
    drop(ks);
    let mut ks = keyspace(path, 1 << 20);
    let value = |ks: &mut Keyspace, k: &[u8]| ks.get(0, k, 0).unwrap().map(|e| e.value.clone());
    assert_eq!(value(&mut ks, b"once"), Some(s("1")));
    assert_eq!(value(&mut ks, b"twice"), Some(s("2")));
    assert_eq!(value(&mut ks, b"gone"), None);
    assert_eq!(value(&mut ks, b"long"), Some(s(&long)));
    let last = 2 * super::commit::EPOCHS as usize + 6;
    assert_eq!(value(&mut ks, b"hot"), Some(s(&last.to_string())));
    assert_eq!(ks.dbsize(0).unwrap(), 4);
}
