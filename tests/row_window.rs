//! The row writer's window (`storage/rows.rs`): key rows wait, coalesced, until a merge needs
//! them, and everything that reads the key table meanwhile must still see the newest rows:
//! counts, scans, renames, active expiry, and a restart after kill -9. Merges are an hour
//! apart here, so that every row waits unless a statement applies it.

mod common;

use common::{info_field, Server};
use redis::{Commands, Connection};

/// A server whose merges are an hour apart, with `more` storage settings.
fn server(more: &str) -> Server {
    Server::builder()
        .config(format!("[storage]\nmerge_interval_ms = 3600000\n{more}"))
        .start()
}

/// A field of INFO's section where it lives (INFO keyspace would apply the queue first).
fn info(con: &mut Connection, field: &str) -> i64 {
    let section = if field.starts_with("respite_rows") {
        "persistence"
    } else {
        "stats"
    };
    let text: String = redis::cmd("INFO").arg(section).query(con).unwrap();
    info_field(&text, field)
        .unwrap_or_else(|| panic!("INFO has no {field}"))
        .parse()
        .unwrap()
}

/// Writes `rounds` rounds of `keys` keys, the last round's values `v{keys}:{last round}`.
fn write_rounds(con: &mut Connection, keys: usize, rounds: usize) {
    for round in 0..rounds {
        let mut pipe = redis::pipe();
        for i in 0..keys {
            pipe.set(format!("k{i}"), format!("v{i}:{round}")).ignore();
        }
        pipe.query::<()>(con).unwrap();
    }
}

#[test]
fn rewrites_within_the_window_are_written_once_and_survive_kill_9() {
    let mut server = server("");
    let mut con = server.conn();
    write_rounds(&mut con, 2000, 5);
    // 2,000 short rows are far inside the window: each key's row waits, and every rewrite
    // replaced the one queued before.
    assert_eq!(info(&mut con, "respite_rows_queued"), 2000);
    assert_eq!(info(&mut con, "respite_rows_coalesced"), 4 * 2000);
    assert_eq!(info(&mut con, "respite_rows_applied_background"), 0);
    let v: String = redis::cmd("GET").arg("k7").query(&mut con).unwrap();
    assert_eq!(v, "v7:4");
    // Counts are the table's plus the queued rows' changes: no row is applied for them.
    let n: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(n, 2000);
    let keyspace: String = redis::cmd("INFO").arg("keyspace").query(&mut con).unwrap();
    assert!(keyspace.contains("db0:keys=2000,expires=0,"), "{keyspace}");
    assert_eq!(info(&mut con, "respite_rows_queued"), 2000);
    // Rewritten again, held back again, then the server dies: the journal has them.
    write_rounds(&mut con, 2000, 7);
    assert_eq!(info(&mut con, "respite_rows_queued"), 2000);
    drop(con);
    server.crash_restart();
    let mut con = server.conn();
    let n: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(n, 2000);
    for i in (0..2000).step_by(97) {
        let v: String = redis::cmd("GET")
            .arg(format!("k{i}"))
            .query(&mut con)
            .unwrap();
        assert_eq!(v, format!("v{i}:6"));
    }
}

#[test]
fn scans_renames_and_deletes_see_rows_still_waiting() {
    let mut server = server("");
    let mut con = server.conn();
    write_rounds(&mut con, 300, 2);
    assert_eq!(info(&mut con, "respite_rows_queued"), 300);
    // RENAME over an existing key applies the two keys' rows alone.
    let _: () = redis::cmd("RENAME")
        .arg("k1")
        .arg("k2")
        .query(&mut con)
        .unwrap();
    // The queue kept the other 298 keys' rows (and the renamed key's row, queued again).
    assert_eq!(info(&mut con, "respite_rows_queued"), 299);
    let v: String = redis::cmd("GET").arg("k2").query(&mut con).unwrap();
    assert_eq!(v, "v1:1");
    let gone: Option<String> = redis::cmd("GET").arg("k1").query(&mut con).unwrap();
    assert_eq!(gone, None);
    let deleted: i64 = redis::cmd("DEL").arg("k3").query(&mut con).unwrap();
    assert_eq!(deleted, 1);
    // A full SCAN finds every key the queued rows hold, and none they deleted.
    let mut keys: Vec<String> = con.scan::<String>().unwrap().collect();
    keys.sort();
    let mut expected: Vec<String> = (0..300)
        .filter(|i| *i != 1 && *i != 3)
        .map(|i| format!("k{i}"))
        .collect();
    expected.sort();
    assert_eq!(keys, expected);
    drop(con);
    server.crash_restart();
    let mut con = server.conn();
    let mut keys: Vec<String> = con.scan::<String>().unwrap().collect();
    keys.sort();
    assert_eq!(keys, expected);
    let v: String = redis::cmd("GET").arg("k2").query(&mut con).unwrap();
    assert_eq!(v, "v1:1");
}

#[test]
fn a_scan_page_applies_the_rows_of_its_own_keys_and_leaves_the_window_on() {
    let server = server("");
    let mut con = server.conn();
    write_rounds(&mut con, 300, 1);
    assert_eq!(info(&mut con, "respite_rows_queued"), 300);
    // A page of ten keys out of 300: about ten rows applied (those of the positions the page
    // covers), not the 300.
    let (cursor, page): (u64, Vec<String>) = redis::cmd("SCAN")
        .arg(0)
        .arg("COUNT")
        .arg(10)
        .query(&mut con)
        .unwrap();
    assert_ne!(cursor, 0);
    assert!(page.len() >= 10, "{page:?}");
    let applied = info(&mut con, "respite_rows_applied_inline");
    assert!((10..60).contains(&applied), "a page applied {applied} rows");
    assert_eq!(info(&mut con, "respite_rows_queued"), 300 - applied);
    // RANDOMKEY applies the rows of one stretch of positions too.
    let some: String = redis::cmd("RANDOMKEY").query(&mut con).unwrap();
    assert!(some.starts_with('k'), "{some}");
    assert!(info(&mut con, "respite_rows_applied_inline") < 100);
    // The whole iteration finds every key once its pages applied their rows.
    let mut keys: Vec<String> = con.scan::<String>().unwrap().collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 300);
    assert_eq!(info(&mut con, "respite_rows_queued"), 0);
    // The window stays on: new rows wait in it, as before the SCAN (a statement that applied
    // the whole queue turned it off for a second).
    write_rounds(&mut con, 200, 1);
    assert_eq!(info(&mut con, "respite_rows_queued"), 200);
}

#[test]
fn active_expiry_finds_keys_whose_rows_wait() {
    let server = server("");
    let mut con = server.conn();
    // A key that had a TTL and lost it: its row in the table is due, its queued one is not.
    let started = std::time::Instant::now();
    let _: () = redis::cmd("SET")
        .arg("kept")
        .arg("v")
        .arg("PX")
        .arg(1500)
        .query(&mut con)
        .unwrap();
    // Into the table: a SCAN applies the rows of the keys its page covers (all of them).
    let (_, keys): (u64, Vec<String>) = redis::cmd("SCAN").arg(0).query(&mut con).unwrap();
    assert_eq!(keys, ["kept"]);
    assert_eq!(info(&mut con, "respite_rows_queued"), 0);
    let _: i64 = redis::cmd("PERSIST").arg("kept").query(&mut con).unwrap();
    let mut pipe = redis::pipe();
    for i in 0..500 {
        pipe.cmd("SET")
            .arg(format!("t{i}"))
            .arg("v")
            .arg("PX")
            .arg(100)
            .ignore();
    }
    pipe.query::<()>(&mut con).unwrap();
    assert_eq!(info(&mut con, "respite_rows_queued"), 501);
    // No key is read: only the active cycle can expire them (within a few of its runs).
    common::wait_until(
        "active expiry of 500 keys",
        std::time::Duration::from_secs(10),
        || info(&mut con, "expired_keys") == 500,
    );
    if let Some(left) = std::time::Duration::from_millis(1700).checked_sub(started.elapsed()) {
        std::thread::sleep(left);
    }
    assert_eq!(info(&mut con, "expired_keys"), 500);
    let ttl: i64 = redis::cmd("TTL").arg("kept").query(&mut con).unwrap();
    assert_eq!(ttl, -1);
}

#[test]
fn a_window_of_zero_applies_every_row_at_once_and_config_set_changes_it() {
    let server = server("row_window_bytes = 0\n");
    let mut con = server.conn();
    let window = |con: &mut Connection| -> Vec<String> {
        redis::cmd("CONFIG")
            .arg("GET")
            .arg("row-window-bytes")
            .query(con)
            .unwrap()
    };
    assert_eq!(window(&mut con), ["row-window-bytes", "0"]);
    write_rounds(&mut con, 2000, 2);
    let applied_all = |con: &mut Connection| {
        common::wait_until(
            "the writer applied every row",
            std::time::Duration::from_secs(10),
            || info(con, "respite_rows_queued") == 0,
        );
    };
    applied_all(&mut con);
    assert!(info(&mut con, "respite_rows_applied_background") >= 2000);
    // A window again: rows wait in it.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("row-window-bytes")
        .arg("1mb")
        .query(&mut con)
        .unwrap();
    assert_eq!(window(&mut con), ["row-window-bytes", "1048576"]);
    write_rounds(&mut con, 2000, 2);
    assert_eq!(info(&mut con, "respite_rows_queued"), 2000);
    // Back to none: what waited is applied at once, no statement asking for it.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("row-window-bytes")
        .arg("0")
        .query(&mut con)
        .unwrap();
    applied_all(&mut con);
}

/// The window in effect is `row_window_bytes`, at most an eighth of `cache_max_bytes`, and
/// follows CONFIG SET of either.
#[test]
fn the_window_is_at_most_an_eighth_of_the_cache_and_follows_config_set() {
    let server = server("cache_max_bytes = \"32mb\"\n");
    let mut con = server.conn();
    let set = |con: &mut Connection, name: &str, value: &str| {
        let () = redis::cmd("CONFIG")
            .arg("SET")
            .arg(name)
            .arg(value)
            .query(con)
            .unwrap();
    };
    // The 32 MB default, capped by the cache.
    assert_eq!(info(&mut con, "respite_rows_window_bytes"), 4 << 20);
    set(&mut con, "cache-max-bytes", "256mb");
    assert_eq!(info(&mut con, "respite_rows_window_bytes"), 32 << 20);
    set(&mut con, "row-window-bytes", "1mb");
    assert_eq!(info(&mut con, "respite_rows_window_bytes"), 1 << 20);
    set(&mut con, "cache-max-bytes", "4mb");
    assert_eq!(info(&mut con, "respite_rows_window_bytes"), 512 << 10);
    // Rows wait within it.
    write_rounds(&mut con, 1000, 2);
    assert_eq!(info(&mut con, "respite_rows_queued"), 1000);
}

/// DBSIZE and INFO count keys whose rows still wait, without applying them: new
/// keys, overwrites, deletes, expiries set and removed, renames and moves across databases,
/// against a model of the keys and their TTLs.
#[test]
fn counts_are_exact_while_rows_wait() {
    use std::collections::BTreeMap;
    let server = server("");
    let mut con = server.conn();
    let mut rng = common::rng::Rng(0x5eed_c0de);
    // (db, key) -> has a TTL
    let mut model: BTreeMap<(u8, String), bool> = BTreeMap::new();
    let keyspace = |con: &mut Connection, db: u8| -> (i64, i64) {
        let text: String = redis::cmd("INFO").arg("keyspace").query(con).unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("db{db}:")))
            .map(str::to_string);
        line.map_or((0, 0), |l| {
            let field = |name: &str| -> i64 {
                l.split(&[':', ','][..])
                    .find_map(|f| f.strip_prefix(&format!("{name}=")))
                    .unwrap()
                    .parse()
                    .unwrap()
            };
            (field("keys"), field("expires"))
        })
    };
    for round in 0..8 {
        for _ in 0..400 {
            let db = rng.below(2) as u8;
            let key = format!("k{}", rng.below(150));
            let _: () = redis::cmd("SELECT").arg(db).query(&mut con).unwrap();
            match rng.below(7) {
                0 | 1 => {
                    let _: () = redis::cmd("SET")
                        .arg(&key)
                        .arg(round)
                        .query(&mut con)
                        .unwrap();
                    model.insert((db, key), false);
                }
                2 => {
                    let _: () = redis::cmd("SET")
                        .arg(&key)
                        .arg(round)
                        .arg("EX")
                        .arg(3600)
                        .query(&mut con)
                        .unwrap();
                    model.insert((db, key), true);
                }
                3 => {
                    let _: i64 = redis::cmd("DEL").arg(&key).query(&mut con).unwrap();
                    model.remove(&(db, key));
                }
                4 => {
                    let set: i64 = redis::cmd("EXPIRE")
                        .arg(&key)
                        .arg(3600)
                        .query(&mut con)
                        .unwrap();
                    assert_eq!(set == 1, model.contains_key(&(db, key.clone())));
                    if let Some(ttl) = model.get_mut(&(db, key)) {
                        *ttl = true;
                    }
                }
                5 => {
                    let _: i64 = redis::cmd("PERSIST").arg(&key).query(&mut con).unwrap();
                    if let Some(ttl) = model.get_mut(&(db, key)) {
                        *ttl = false;
                    }
                }
                _ => {
                    // RENAME within the database, or MOVE to the other one.
                    let Some(&ttl) = model.get(&(db, key.clone())) else {
                        continue;
                    };
                    if rng.below(2) == 0 {
                        let to = format!("k{}", rng.below(150));
                        let _: () = redis::cmd("RENAME")
                            .arg(&key)
                            .arg(&to)
                            .query(&mut con)
                            .unwrap();
                        model.remove(&(db, key));
                        model.insert((db, to), ttl);
                    } else {
                        let other = 1 - db;
                        let moved: i64 = redis::cmd("MOVE")
                            .arg(&key)
                            .arg(other)
                            .query(&mut con)
                            .unwrap();
                        if moved == 1 {
                            model.remove(&(db, key.clone()));
                            model.insert((other, key), ttl);
                        }
                    }
                }
            }
        }
        let queued = info(&mut con, "respite_rows_queued");
        for db in 0..2u8 {
            let keys = model.keys().filter(|(d, _)| *d == db).count() as i64;
            let expires = model.iter().filter(|((d, _), &t)| *d == db && t).count() as i64;
            let _: () = redis::cmd("SELECT").arg(db).query(&mut con).unwrap();
            let n: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
            assert_eq!(n, keys, "round {round}, db {db}: DBSIZE");
            assert_eq!(
                keyspace(&mut con, db),
                (keys, expires),
                "round {round}, db {db}"
            );
        }
        // Nor does the rest of INFO (its memory section counts the collections to free).
        let _: String = redis::cmd("INFO").query(&mut con).unwrap();
        let _: String = redis::cmd("INFO").arg("all").query(&mut con).unwrap();
        assert!(queued > 0, "round {round}: no row waited");
        assert_eq!(
            info(&mut con, "respite_rows_queued"),
            queued,
            "counting applied rows"
        );
    }
}
