//! Write-behind (`storage.durability = "write-behind"`): replies before the commit, changes
//! coalesced per key between flushes, every change kept across SIGTERM and SHUTDOWN, and a
//! kill -9 that loses at most the changes of the last interval and leaves a consistent file.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Server;

fn write_behind(interval_ms: u64) -> String {
    format!("[storage]\ndurability = \"write-behind\"\nflush_interval_ms = {interval_ms}\n")
}

fn persistence(con: &mut redis::Connection) -> String {
    redis::cmd("INFO").arg("persistence").query(con).unwrap()
}

fn field(info: &str, name: &str) -> u64 {
    common::info_field(info, name)
        .unwrap_or_else(|| panic!("INFO has no {name}"))
        .parse()
        .unwrap()
}

#[test]
fn a_burst_of_increments_on_one_key_is_one_row_write() {
    // An hour's interval: only SAVE flushes.
    let snapshots = tempfile::tempdir().unwrap();
    let config = format!(
        "{}[redis]\ndir = \"{}\"\n",
        write_behind(3_600_000),
        snapshots.path().display()
    );
    let server = Server::builder().config(config).start();
    let mut con = server.conn();
    let mut pipe = redis::pipe();
    for _ in 0..10_000 {
        pipe.cmd("INCR").arg("views");
    }
    let replies: Vec<i64> = pipe.query(&mut con).unwrap();
    assert_eq!(replies.last(), Some(&10_000));
    let before = persistence(&mut con);
    assert_eq!(field(&before, "respite_wb_dirty_keys"), 1);
    assert_eq!(field(&before, "respite_wb_flushes"), 0);
    let written = field(&before, "respite_rows_written");
    let _: () = redis::cmd("SAVE").query(&mut con).unwrap();
    let after = persistence(&mut con);
    assert_eq!(field(&after, "respite_rows_written") - written, 1);
    assert_eq!(field(&after, "respite_wb_flushes"), 1);
    assert_eq!(field(&after, "respite_wb_last_flush_keys"), 1);
    assert_eq!(field(&after, "respite_wb_dirty_keys"), 0);
    let lastsave: i64 = redis::cmd("LASTSAVE").query(&mut con).unwrap();
    assert!(lastsave as u64 >= field(&after, "respite_wb_last_flush_time"));
}

#[test]
fn changes_are_flushed_within_the_interval_without_any_command() {
    let server = Server::builder().config(write_behind(50)).start();
    let mut con = server.conn();
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut con).unwrap();
    common::wait_until("a flush", common::IO_TIMEOUT, || {
        let info = persistence(&mut con);
        field(&info, "respite_wb_flushes") >= 1 && field(&info, "respite_wb_dirty_keys") == 0
    });
}

/// Writes keys of every type; returns what GET-like reads must give back.
fn write_every_type(con: &mut redis::Connection, n: usize) {
    for i in 0..n {
        let _: () = redis::pipe()
            .cmd("SET")
            .arg(format!("s{i}"))
            .arg(i)
            .ignore()
            .cmd("HSET")
            .arg(format!("h{i}"))
            .arg("f")
            .arg(i)
            .ignore()
            .cmd("RPUSH")
            .arg("list")
            .arg(i)
            .ignore()
            .cmd("SADD")
            .arg("set")
            .arg(i)
            .ignore()
            .cmd("ZADD")
            .arg("zset")
            .arg(i)
            .arg(format!("m{i}"))
            .ignore()
            .query(con)
            .unwrap();
    }
}

fn check_every_type(con: &mut redis::Connection, n: usize) {
    for i in 0..n {
        let s: Option<String> = redis::cmd("GET").arg(format!("s{i}")).query(con).unwrap();
        assert_eq!(s, Some(i.to_string()), "s{i}");
        let h: Option<String> = redis::cmd("HGET")
            .arg(format!("h{i}"))
            .arg("f")
            .query(con)
            .unwrap();
        assert_eq!(h, Some(i.to_string()), "h{i}");
    }
    // Past the listpack limits: the list, set and sorted set keep one row per element.
    let len: usize = redis::cmd("LLEN").arg("list").query(con).unwrap();
    assert_eq!(len, n);
    let card: usize = redis::cmd("SCARD").arg("set").query(con).unwrap();
    assert_eq!(card, n);
    let zcard: usize = redis::cmd("ZCARD").arg("zset").query(con).unwrap();
    assert_eq!(zcard, n);
    let last: Vec<String> = redis::cmd("LRANGE")
        .arg("list")
        .arg(-1)
        .arg(-1)
        .query(con)
        .unwrap();
    assert_eq!(last, vec![(n - 1).to_string()]);
}

#[test]
fn sigterm_and_shutdown_flush_everything() {
    let mut server = Server::builder().config(write_behind(3_600_000)).start();
    let mut con = server.conn();
    write_every_type(&mut con, 300);
    assert!(field(&persistence(&mut con), "respite_wb_dirty_keys") > 0);
    drop(con);
    assert!(server.stop().success());
    server.restart();
    let mut con = server.conn();
    check_every_type(&mut con, 300);
    let _: () = redis::cmd("SET")
        .arg("after")
        .arg("restart")
        .query(&mut con)
        .unwrap();
    let _ = redis::cmd("SHUTDOWN").query::<()>(&mut con);
    server.wait_exit();
    server.restart();
    let mut con = server.conn();
    let v: Option<String> = redis::cmd("GET").arg("after").query(&mut con).unwrap();
    assert_eq!(v.as_deref(), Some("restart"));
    check_every_type(&mut con, 300);
}

/// The value each acknowledged transaction returned, with the time its reply came.
type Acks = Arc<Mutex<Vec<(Instant, i64)>>>;

#[test]
fn kill_9_loses_at_most_the_last_interval_and_the_file_stays_consistent() {
    let mut server = Server::builder().config(write_behind(50)).start();
    // Each client increments two counters in one transaction and records the value each
    // acknowledgement carried, with its time.
    let stop = Arc::new(AtomicBool::new(false));
    let acks: Vec<Acks> = (0..4).map(|_| Arc::new(Mutex::new(Vec::new()))).collect();
    let handles: Vec<_> = (0..4)
        .map(|w| {
            let client = server.client();
            let stop = Arc::clone(&stop);
            let acks = Arc::clone(&acks[w]);
            std::thread::spawn(move || {
                let mut con = client.get_connection().unwrap();
                while !stop.load(Ordering::Relaxed) {
                    let r: redis::RedisResult<(i64, i64)> = redis::pipe()
                        .atomic()
                        .cmd("INCR")
                        .arg(format!("c{w}:a"))
                        .cmd("INCR")
                        .arg(format!("c{w}:b"))
                        .query(&mut con);
                    match r {
                        Ok((a, _)) => acks.lock().unwrap().push((Instant::now(), a)),
                        Err(_) => break,
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let killed_at = Instant::now();
    server.kill();
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
    server.restart();
    let mut con = server.conn();
    for (w, acks) in acks.iter().enumerate() {
        let acks = acks.lock().unwrap();
        let a: i64 = redis::cmd("GET")
            .arg(format!("c{w}:a"))
            .query::<Option<i64>>(&mut con)
            .unwrap()
            .unwrap_or(0);
        let b: i64 = redis::cmd("GET")
            .arg(format!("c{w}:b"))
            .query::<Option<i64>>(&mut con)
            .unwrap()
            .unwrap_or(0);
        // A flush falls between transactions: both counters or neither.
        assert_eq!(a, b, "client {w}: a transaction was split by the crash");
        let last = acks.last().map_or(0, |x| x.1);
        assert!(
            a <= last + 1,
            "client {w}: {a} is past the last reply ({last})"
        );
        // The flush interval is 50 ms; a second of slack for a loaded machine.
        let old = acks
            .iter()
            .rev()
            .find(|(t, _)| killed_at.duration_since(*t) > Duration::from_secs(1))
            .map_or(0, |x| x.1);
        assert!(
            a >= old,
            "client {w}: lost writes acknowledged over a second before the kill ({a} < {old})"
        );
    }
}

#[test]
fn write_behind_needs_the_redo_journal() {
    let err = Server::builder()
        .config("[storage]\ndurability = \"write-behind\"\nmerge_interval_ms = 0\n")
        .try_start()
        .err()
        .expect("refused");
    assert!(err.contains("storage.durability"), "{err}");
}

#[test]
fn wb_flush_flushes_the_keyspace_too() {
    let config = format!(
        "{}[plugins]\nenabled = [\"writebehind\"]\n",
        write_behind(3_600_000)
    );
    let server = Server::builder().config(config).start();
    let mut con = server.conn();
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut con).unwrap();
    assert_eq!(field(&persistence(&mut con), "respite_wb_dirty_keys"), 1);
    let _: () = redis::cmd("WB.FLUSH").query(&mut con).unwrap();
    let info = persistence(&mut con);
    assert_eq!(field(&info, "respite_wb_dirty_keys"), 0);
    assert_eq!(field(&info, "respite_wb_flushes"), 1);
}
