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
    // A count needs the table up to date: the rows are applied first.
    let n: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(n, 2000);
    assert_eq!(info(&mut con, "respite_rows_queued"), 0);
    // The writer holds nothing back for a second after a statement over all keys.
    std::thread::sleep(std::time::Duration::from_millis(1100));
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
    let n: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap(); // into the table
    assert_eq!(n, 1);
    // The writer holds nothing back for a second after a statement over all keys.
    std::thread::sleep(std::time::Duration::from_millis(1100));
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
