//! Transactions, black box: MULTI/EXEC/DISCARD/WATCH/UNWATCH with Redis's replies, queue-time
//! errors (EXECABORT), runtime errors that do not roll back, refusals inside MULTI, and WATCH
//! conflicts from other clients (writes, expiry, FLUSHDB, SWAPDB, RENAME, create-then-delete),
//! with a retry loop of several clients incrementing one counter.

mod common;

use std::thread;
use std::time::Duration;

use common::{cmd, wait_until, RawConn, Reply, Server};

fn raw(server: &Server) -> RawConn {
    RawConn::connect(server.addr())
}

fn words(conn: &mut RawConn, line: &str) -> Reply {
    let args: Vec<&str> = line.split(' ').collect();
    conn.cmd(&args)
}

#[test]
fn queued_replies_and_errors() {
    let server = Server::start();
    let mut c = raw(&server);
    assert_eq!(
        words(&mut c, "EXEC"),
        Reply::error("ERR EXEC without MULTI")
    );
    assert_eq!(
        words(&mut c, "DISCARD"),
        Reply::error("ERR DISCARD without MULTI")
    );
    assert_eq!(words(&mut c, "MULTI"), Reply::ok());
    assert_eq!(
        words(&mut c, "MULTI"),
        Reply::error("ERR MULTI calls can not be nested")
    );
    assert_eq!(
        words(&mut c, "WATCH k"),
        Reply::error("ERR WATCH inside MULTI is not allowed")
    );
    assert_eq!(words(&mut c, "SET k v"), Reply::simple("QUEUED"));
    assert_eq!(words(&mut c, "INCR n"), Reply::simple("QUEUED"));
    // A runtime error does not roll back what ran before or stop what follows.
    assert_eq!(words(&mut c, "INCR k"), Reply::simple("QUEUED"));
    assert_eq!(words(&mut c, "GET k"), Reply::simple("QUEUED"));
    assert_eq!(
        words(&mut c, "EXEC"),
        Reply::Array(vec![
            Reply::ok(),
            Reply::Int(1),
            Reply::error("ERR value is not an integer or out of range"),
            Reply::bulk("v"),
        ])
    );
    // Queue-time errors abort the whole transaction.
    assert_eq!(words(&mut c, "MULTI"), Reply::ok());
    assert_eq!(words(&mut c, "SET k other"), Reply::simple("QUEUED"));
    assert!(words(&mut c, "NOSUCHCOMMAND").is_error());
    assert_eq!(
        words(&mut c, "INCR"),
        Reply::error("ERR wrong number of arguments for 'incr' command")
    );
    assert_eq!(
        words(&mut c, "EXEC"),
        Reply::error("EXECABORT Transaction discarded because of previous errors.")
    );
    assert_eq!(words(&mut c, "GET k"), Reply::bulk("v"));
    // DISCARD drops the queue.
    assert_eq!(words(&mut c, "MULTI"), Reply::ok());
    assert_eq!(words(&mut c, "SET k discarded"), Reply::simple("QUEUED"));
    assert_eq!(words(&mut c, "DISCARD"), Reply::ok());
    assert_eq!(words(&mut c, "GET k"), Reply::bulk("v"));
    // An empty transaction.
    assert_eq!(words(&mut c, "MULTI"), Reply::ok());
    assert_eq!(words(&mut c, "EXEC"), Reply::Array(vec![]));
    // Commands flagged no-multi are refused and doom the transaction.
    assert_eq!(words(&mut c, "MULTI"), Reply::ok());
    assert_eq!(
        words(&mut c, "SHUTDOWN"),
        Reply::error("ERR Command not allowed inside a transaction")
    );
    assert_eq!(
        words(&mut c, "EXEC"),
        Reply::error("EXECABORT Transaction discarded because of previous errors.")
    );
    // RESET leaves the transaction.
    assert_eq!(words(&mut c, "MULTI"), Reply::ok());
    assert_eq!(words(&mut c, "RESET"), Reply::simple("RESET"));
    assert_eq!(
        words(&mut c, "EXEC"),
        Reply::error("ERR EXEC without MULTI")
    );
}

#[test]
fn transactions_are_atomic_to_other_clients() {
    let server = Server::start();
    let mut a = raw(&server);
    let mut b = raw(&server);
    words(&mut a, "MULTI");
    words(&mut a, "SET x 1");
    words(&mut a, "SET y 1");
    // Nothing queued is visible before EXEC.
    assert_eq!(words(&mut b, "GET x"), Reply::NilBulk);
    assert_eq!(
        words(&mut a, "EXEC"),
        Reply::Array(vec![Reply::ok(), Reply::ok()])
    );
    assert_eq!(
        words(&mut b, "MGET x y"),
        Reply::Array(vec![Reply::bulk("1"), Reply::bulk("1")])
    );
}

/// Runs WATCH `key`, lets `touch` act from another client, and returns EXEC's reply.
fn exec_after(server: &Server, setup: &str, key: &str, touch: &[&str]) -> Reply {
    let mut a = raw(server);
    let mut b = raw(server);
    words(&mut b, "FLUSHALL");
    if !setup.is_empty() {
        words(&mut b, setup);
    }
    assert_eq!(a.cmd(&["WATCH", key]), Reply::ok());
    for line in touch {
        words(&mut b, line);
    }
    words(&mut a, "MULTI");
    words(&mut a, "PING");
    words(&mut a, "EXEC")
}

#[test]
fn watch_detects_every_kind_of_change() {
    let server = Server::start();
    let ok = Reply::Array(vec![Reply::simple("PONG")]);
    assert_eq!(exec_after(&server, "SET k 1", "k", &[]), ok);
    assert_eq!(exec_after(&server, "SET k 1", "k", &["GET k"]), ok);
    assert_eq!(
        exec_after(&server, "SET k 1", "k", &["SET k 2"]),
        Reply::NilArray
    );
    assert_eq!(
        exec_after(&server, "SET k 1", "k", &["INCR k"]),
        Reply::NilArray
    );
    assert_eq!(
        exec_after(&server, "SET k 1", "k", &["DEL k"]),
        Reply::NilArray
    );
    assert_eq!(
        exec_after(&server, "SET k 1", "k", &["EXPIRE k 100"]),
        Reply::NilArray
    );
    assert_eq!(
        exec_after(&server, "HSET k f v", "k", &["HSET k g w"]),
        Reply::NilArray
    );
    assert_eq!(
        exec_after(&server, "SET k 1", "k", &["RENAME k j"]),
        Reply::NilArray
    );
    assert_eq!(
        exec_after(&server, "SET j 1", "k", &["RENAME j k"]),
        Reply::NilArray
    );
    assert_eq!(
        exec_after(&server, "SET k 1", "k", &["FLUSHDB"]),
        Reply::NilArray
    );
    assert_eq!(
        exec_after(&server, "SET k 1", "k", &["FLUSHALL"]),
        Reply::NilArray
    );
    assert_eq!(
        exec_after(&server, "SET k 1", "k", &["SWAPDB 0 1"]),
        Reply::NilArray
    );
    // Absent when watched, created and deleted again before EXEC.
    assert_eq!(
        exec_after(&server, "", "k", &["SET k 1", "DEL k"]),
        Reply::NilArray
    );
    // A write to another key or another database is no conflict.
    assert_eq!(exec_after(&server, "SET k 1", "k", &["SET other 1"]), ok);
    assert_eq!(
        exec_after(
            &server,
            "SET k 1",
            "k",
            &["SELECT 1", "SET k 2", "SELECT 0"]
        ),
        ok
    );
    // FLUSHDB of an empty database touches nothing (as Redis).
    assert_eq!(exec_after(&server, "", "k", &["FLUSHDB"]), ok);
    // As Redis: LTRIM counts as a change even when it keeps every item, and a write that
    // changes nothing (SADD of a present member, HSETNX of a present field, LREM or SREM of
    // an absent one) does not, small or large.
    assert_eq!(
        exec_after(&server, "RPUSH k a b", "k", &["LTRIM k 0 -1"]),
        Reply::NilArray
    );
    let large: String = (0..200).map(|i| format!(" m{i}")).collect();
    for (setup, touch) in [
        ("SADD k a b".to_string(), "SADD k a"),
        (format!("SADD k{large}"), "SADD k m1"),
        (format!("SADD k{large}"), "SREM k nope"),
        ("HSET k f v".to_string(), "HSETNX k f w"),
        (format!("RPUSH k{large}"), "LREM k 0 nope"),
    ] {
        assert_eq!(exec_after(&server, &setup, "k", &[touch]), ok, "{touch}");
    }
}

#[test]
fn watch_own_write_expiry_unwatch_and_disconnect() {
    let server = Server::start();
    let mut a = raw(&server);
    // The watching client's own write counts too.
    words(&mut a, "WATCH k");
    words(&mut a, "SET k 1");
    words(&mut a, "MULTI");
    words(&mut a, "PING");
    assert_eq!(words(&mut a, "EXEC"), Reply::NilArray);
    // EXEC unwatches: the next transaction succeeds.
    words(&mut a, "MULTI");
    words(&mut a, "PING");
    assert_eq!(
        words(&mut a, "EXEC"),
        Reply::Array(vec![Reply::simple("PONG")])
    );
    // UNWATCH forgets.
    words(&mut a, "WATCH k");
    words(&mut a, "SET k 2");
    words(&mut a, "UNWATCH");
    words(&mut a, "MULTI");
    words(&mut a, "PING");
    assert_eq!(
        words(&mut a, "EXEC"),
        Reply::Array(vec![Reply::simple("PONG")])
    );
    // A watched key that expires counts as changed (Redis 7).
    words(&mut a, "SET e 1 PX 50");
    words(&mut a, "WATCH e");
    thread::sleep(Duration::from_millis(120));
    words(&mut a, "MULTI");
    words(&mut a, "PING");
    assert_eq!(words(&mut a, "EXEC"), Reply::NilArray);
    // A disconnecting client's watches go with it (the server keeps serving the key).
    let mut gone = raw(&server);
    words(&mut gone, "WATCH k");
    drop(gone);
    let mut b = raw(&server);
    assert_eq!(words(&mut b, "SET k 3"), Reply::ok());
    // DISCARD unwatches too.
    words(&mut a, "WATCH k");
    words(&mut a, "MULTI");
    words(&mut a, "DISCARD");
    words(&mut b, "SET k 4");
    words(&mut a, "MULTI");
    words(&mut a, "PING");
    assert_eq!(
        words(&mut a, "EXEC"),
        Reply::Array(vec![Reply::simple("PONG")])
    );
}

#[test]
fn optimistic_increments_from_many_clients_are_exact() {
    let server = Server::start();
    let clients = 6;
    let per_client = 40;
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let client = server.client();
            thread::spawn(move || {
                let mut con = client.get_connection().unwrap();
                let mut retries = 0u64;
                for _ in 0..per_client {
                    loop {
                        redis::cmd("WATCH")
                            .arg("counter")
                            .query::<()>(&mut con)
                            .unwrap();
                        let v: Option<i64> =
                            redis::cmd("GET").arg("counter").query(&mut con).unwrap();
                        let result: Option<(String,)> = redis::pipe()
                            .atomic()
                            .cmd("SET")
                            .arg("counter")
                            .arg(v.unwrap_or(0) + 1)
                            .query(&mut con)
                            .unwrap();
                        if result.is_some() {
                            break;
                        }
                        retries += 1;
                    }
                }
                retries
            })
        })
        .collect();
    let retries: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let mut con = server.conn();
    let total: i64 = cmd(&["GET", "counter"]).query(&mut con).unwrap();
    assert_eq!(
        total,
        (clients * per_client) as i64,
        "after {retries} retries"
    );
}

#[test]
fn exec_serves_resp3_null_and_info_counts() {
    let server = Server::start();
    let mut a = raw(&server);
    let mut b = raw(&server);
    words(&mut a, "HELLO 3");
    words(&mut a, "WATCH k");
    words(&mut b, "SET k 1");
    words(&mut a, "MULTI");
    words(&mut a, "GET k");
    assert_eq!(words(&mut a, "EXEC"), Reply::Null);
    // commands inside EXEC are counted in commandstats.
    words(&mut a, "MULTI");
    words(&mut a, "INCR c");
    words(&mut a, "INCR c");
    words(&mut a, "EXEC");
    wait_until("stats", Duration::from_secs(5), || {
        let info = words(&mut b, "INFO commandstats").text();
        info.contains("cmdstat_incr:calls=2") && info.contains("cmdstat_exec:calls=2")
    });
}

const BUSY: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";

/// While a script is busy, as Redis 7.0: MULTI and DISCARD are served, a command queued
/// gets `-BUSY` and dooms the transaction, EXEC is refused (which discards it); once the
/// script is gone the client is out of the transaction and the refused write never happened.
/// A transaction opened before the script turned busy is doomed the same way.
#[test]
fn transactions_while_a_script_is_busy() {
    for io_threads in [1, 2] {
        let server = Server::with_io_threads(io_threads);
        let mut admin = raw(&server);
        assert_eq!(
            words(&mut admin, "CONFIG SET busy-reply-threshold 50"),
            Reply::ok()
        );
        let mut early = raw(&server);
        assert_eq!(words(&mut early, "MULTI"), Reply::ok());
        assert_eq!(words(&mut early, "SET early 1"), Reply::simple("QUEUED"));
        let addr = server.addr();
        let looping = thread::spawn(move || {
            let mut c = RawConn::connect(addr);
            c.cmd(&["EVAL", "while true do end", "0"])
        });
        let mut c = raw(&server);
        wait_until("the server to answer BUSY", Duration::from_secs(30), || {
            words(&mut c, "PING").is_error()
        });
        assert_eq!(words(&mut c, "MULTI"), Reply::ok());
        assert_eq!(
            words(&mut c, "MULTI"),
            Reply::error("ERR MULTI calls can not be nested")
        );
        assert_eq!(words(&mut c, "SET a 1"), Reply::error(BUSY));
        let execabort = format!("EXECABORT Transaction discarded because of: {BUSY}");
        assert_eq!(words(&mut c, "EXEC"), Reply::error(&execabort));
        assert_eq!(
            words(&mut c, "DISCARD"),
            Reply::error("ERR DISCARD without MULTI")
        );
        assert_eq!(words(&mut c, "MULTI"), Reply::ok());
        assert_eq!(words(&mut c, "DISCARD"), Reply::ok());
        // Open and doomed when the script ends: EXEC then reports the earlier error.
        assert_eq!(words(&mut c, "MULTI"), Reply::ok());
        assert_eq!(words(&mut c, "INCR b"), Reply::error(BUSY));
        // The transaction opened before the script is doomed by a refused command too.
        assert_eq!(words(&mut early, "SET early 2"), Reply::error(BUSY));

        assert_eq!(words(&mut admin, "SCRIPT KILL"), Reply::ok());
        assert!(looping.join().expect("looping client").is_error());
        let previous = "EXECABORT Transaction discarded because of previous errors.";
        assert_eq!(words(&mut c, "EXEC"), Reply::error(previous));
        assert_eq!(words(&mut early, "EXEC"), Reply::error(previous));
        assert_eq!(words(&mut c, "EXISTS a b early"), Reply::Int(0));
        // Both clients are out of their transactions and work as usual.
        for conn in [&mut c, &mut early] {
            assert_eq!(words(conn, "MULTI"), Reply::ok());
            assert_eq!(words(conn, "INCR n"), Reply::simple("QUEUED"));
            assert!(matches!(words(conn, "EXEC"), Reply::Array(_)));
        }
        assert_eq!(words(&mut c, "GET n"), Reply::bulk("2"));
    }
}
