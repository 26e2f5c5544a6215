//! Write back-pressure that holds only writers (`storage/rows.rs`, `engine/pause.rs`): when
//! the row writer falls behind the load, the executor holds writing commands back until it
//! catches up, and serves everything else meanwhile. The writer is stopped here with DEBUG
//! ROW-WRITER PAUSE, and merges are an hour apart, so that the queue only grows.

mod common;

use std::time::{Duration, Instant};

use common::{info_field, Server};
use redis::Connection;

fn server() -> Server {
    Server::builder()
        .config(
            "[storage]\nmerge_interval_ms = 3600000\njournal_max_bytes = \"256mb\"\n\
             row_window_bytes = \"64kb\"\n[redis]\nenable-debug-command = \"yes\"\n",
        )
        .start()
}

/// A numeric field of INFO `section` (neither section applies the row queue).
fn info(con: &mut Connection, section: &str, field: &str) -> i64 {
    let text: String = redis::cmd("INFO").arg(section).query(con).unwrap();
    info_field(&text, field)
        .unwrap_or_else(|| panic!("INFO {section} has no {field}"))
        .parse()
        .unwrap()
}

/// Waits (up to 30 s) until `done` holds.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// DEBUG ROW-WRITER `what` (PAUSE or RESUME).
fn row_writer(con: &mut Connection, what: &str) {
    redis::cmd("DEBUG")
        .arg("ROW-WRITER")
        .arg(what)
        .query::<()>(con)
        .unwrap();
}

const KEYS: usize = 10_000;

fn value(i: usize) -> String {
    format!("{i:08}{}", "v".repeat(1000))
}

#[test]
fn a_writer_behind_the_load_holds_writes_and_serves_reads() {
    let server = server();
    let mut reader = server.conn();
    redis::cmd("SET")
        .arg("r")
        .arg("x")
        .query::<()>(&mut reader)
        .unwrap();
    row_writer(&mut reader, "PAUSE");
    // About 11 MB of key rows, in pipelines of 200: the queue passes its hold mark (3 MB
    // past the window) long before the last.
    let mut writer = server.conn();
    let load = std::thread::spawn(move || {
        for chunk in (0..KEYS).collect::<Vec<_>>().chunks(200) {
            let mut pipe = redis::pipe();
            for &i in chunk {
                pipe.cmd("SET").arg(format!("k{i}")).arg(value(i)).ignore();
            }
            pipe.query::<()>(&mut writer).unwrap();
        }
    });
    wait_for("the writing client to be held", || {
        info(&mut reader, "clients", "blocked_clients") == 1
    });
    assert_eq!(info(&mut reader, "persistence", "respite_rows_backlogs"), 1);
    assert_eq!(
        info(
            &mut reader,
            "persistence",
            "respite_rows_backpressure_waits"
        ),
        0,
        "no batch waited for the writer with everyone's replies"
    );
    let queued = info(&mut reader, "persistence", "respite_rows_queued");
    assert!(
        queued > 2000 && (queued as usize) < KEYS,
        "{queued} rows queued"
    );
    // Reads go on: a key written before, and one the held client wrote.
    let r: String = redis::cmd("GET").arg("r").query(&mut reader).unwrap();
    assert_eq!(r, "x");
    let v: String = redis::cmd("GET").arg("k7").query(&mut reader).unwrap();
    assert_eq!(v, value(7));
    redis::cmd("PING").query::<()>(&mut reader).unwrap();
    // Held still: nothing drains the queue while the writer is paused.
    assert_eq!(info(&mut reader, "clients", "blocked_clients"), 1);
    assert_eq!(
        info(&mut reader, "persistence", "respite_rows_queued"),
        queued
    );
    row_writer(&mut reader, "RESUME");
    load.join().unwrap();
    assert_eq!(info(&mut reader, "clients", "blocked_clients"), 0);
    let n: i64 = redis::cmd("DBSIZE").query(&mut reader).unwrap();
    assert_eq!(n as usize, KEYS + 1);
    for i in (0..KEYS).step_by(997) {
        let v: String = redis::cmd("GET")
            .arg(format!("k{i}"))
            .query(&mut reader)
            .unwrap();
        assert_eq!(v, value(i));
    }
}

/// Many writers (about 28 MB of key rows), some in MULTI/EXEC and scripts (which are never
/// held), and readers beside them, while the writer is paused: the plain writers are held, the readers keep getting
/// replies, and once the writer resumes every write lands, in each client's order.
#[test]
fn many_writers_and_readers_through_a_backlog() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    const WRITERS: usize = 8;
    const ROUNDS: usize = 30;
    const PER_ROUND: usize = 100;
    let server = server();
    let mut admin = server.conn();
    redis::cmd("SET")
        .arg("r")
        .arg("x")
        .query::<()>(&mut admin)
        .unwrap();
    row_writer(&mut admin, "PAUSE");
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (stop, reads, mut con) = (Arc::clone(&stop), Arc::clone(&reads), server.conn());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let v: String = redis::cmd("GET").arg("r").query(&mut con).unwrap();
                    assert_eq!(v, "x");
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let mut con = server.conn();
            std::thread::spawn(move || {
                for round in 0..ROUNDS {
                    let mut pipe = redis::pipe();
                    for i in 0..PER_ROUND {
                        let key = format!("w{w}:{round}:{i}");
                        pipe.cmd("SET").arg(key).arg(format!("{w}:{}", value(i)));
                    }
                    match round % 3 {
                        // The whole round in MULTI/EXEC: only its EXEC may be held.
                        0 => {
                            pipe.atomic().cmd("INCR").arg(format!("n{w}"));
                        }
                        1 => {
                            pipe.cmd("EVAL")
                                .arg("return redis.call('INCR', KEYS[1])")
                                .arg(1)
                                .arg(format!("n{w}"));
                        }
                        _ => {
                            pipe.cmd("INCR").arg(format!("n{w}"));
                        }
                    }
                    // (An atomic pipeline answers with its EXEC's replies.)
                    let replies: Vec<redis::Value> = pipe.query(&mut con).unwrap();
                    assert_eq!(replies.len(), PER_ROUND + 1);
                    let n: i64 = redis::from_redis_value(replies.last().unwrap()).unwrap();
                    assert_eq!(n as usize, round + 1, "writer {w}'s INCRs in order");
                }
            })
        })
        .collect();
    wait_for("a writing client to be held", || {
        info(&mut admin, "clients", "blocked_clients") >= 1
    });
    let before = reads.load(Ordering::Relaxed);
    wait_for("readers to be served while writers are held", || {
        reads.load(Ordering::Relaxed) >= before + 100
    });
    assert!(info(&mut admin, "clients", "blocked_clients") >= 1);
    row_writer(&mut admin, "RESUME");
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    for w in 0..WRITERS {
        let n: i64 = redis::cmd("GET")
            .arg(format!("n{w}"))
            .query(&mut admin)
            .unwrap();
        assert_eq!(n as usize, ROUNDS);
        for round in (0..ROUNDS).step_by(7) {
            for i in (0..PER_ROUND).step_by(13) {
                let v: String = redis::cmd("GET")
                    .arg(format!("w{w}:{round}:{i}"))
                    .query(&mut admin)
                    .unwrap();
                assert_eq!(v, format!("{w}:{}", value(i)));
            }
        }
    }
    let n: i64 = redis::cmd("DBSIZE").query(&mut admin).unwrap();
    assert_eq!(n as usize, 1 + WRITERS * (1 + ROUNDS * PER_ROUND));
    assert!(info(&mut admin, "persistence", "respite_rows_backlogs") >= 1);
}

#[test]
fn debug_row_writer_takes_pause_or_resume() {
    let server = server();
    let mut con = server.conn();
    let err = redis::cmd("DEBUG")
        .arg("ROW-WRITER")
        .arg("STOP")
        .query::<()>(&mut con)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "An error was signalled by the server - ResponseError: DEBUG ROW-WRITER takes PAUSE or RESUME"
    );
}
