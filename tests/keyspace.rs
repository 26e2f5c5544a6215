//! Keyspace basics: GET/SET and its options, DEL/EXISTS, DBSIZE/FLUSHDB/FLUSHALL per db,
//! binary safety, TIME, and persistence across restarts, crashes and SHUTDOWN.

mod common;

use common::{info_field, Reply, Server};

/// The `db<N>` line of INFO keyspace, or None when the db is empty.
fn keyspace_line(conn: &mut common::RawConn, db: u32) -> Option<String> {
    info_field(&conn.cmd(&["INFO", "keyspace"]).text(), &format!("db{db}"))
}

/// Number of keys with a TTL in `db`, from INFO keyspace.
fn expires_count(conn: &mut common::RawConn, db: u32) -> u64 {
    match keyspace_line(conn, db) {
        None => 0,
        Some(line) => line
            .split(',')
            .find_map(|kv| kv.strip_prefix("expires="))
            .unwrap_or_else(|| panic!("no expires= in {line}"))
            .parse()
            .unwrap(),
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn set_and_get() {
    let server = Server::start();
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["GET", "missing"]), Reply::NilBulk);
    assert_eq!(conn.cmd(&["SET", "k", "v1"]), Reply::ok());
    assert_eq!(conn.cmd(&["GET", "k"]), Reply::bulk("v1"));
    assert_eq!(conn.cmd(&["SET", "k", "v2"]), Reply::ok());
    assert_eq!(conn.cmd(&["GET", "k"]), Reply::bulk("v2"));
    assert_eq!(conn.cmd(&["set", "lower", "case"]), Reply::ok());
    assert_eq!(conn.cmd(&["get", "lower"]), Reply::bulk("case"));
    // Options are case-insensitive.
    assert_eq!(conn.cmd(&["SET", "k", "v3", "nx"]), Reply::NilBulk);
    assert_eq!(conn.cmd(&["SET", "k", "v3", "xX"]), Reply::ok());
}

#[test]
fn set_nx_xx() {
    let server = Server::start();
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["SET", "k", "v", "XX"]), Reply::NilBulk);
    assert_eq!(conn.cmd(&["EXISTS", "k"]), Reply::Int(0));
    assert_eq!(conn.cmd(&["SET", "k", "v", "NX"]), Reply::ok());
    assert_eq!(conn.cmd(&["SET", "k", "w", "NX"]), Reply::NilBulk);
    assert_eq!(conn.cmd(&["GET", "k"]), Reply::bulk("v"));
    assert_eq!(conn.cmd(&["SET", "k", "w", "XX"]), Reply::ok());
    assert_eq!(conn.cmd(&["GET", "k"]), Reply::bulk("w"));
}

#[test]
fn set_get_option_returns_the_old_value() {
    let server = Server::start();
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["SET", "k", "first", "GET"]), Reply::NilBulk);
    assert_eq!(
        conn.cmd(&["SET", "k", "second", "GET"]),
        Reply::bulk("first")
    );
    assert_eq!(conn.cmd(&["GET", "k"]), Reply::bulk("second"));
    // With NX the old value is returned and nothing is written.
    assert_eq!(
        conn.cmd(&["SET", "k", "third", "NX", "GET"]),
        Reply::bulk("second")
    );
    assert_eq!(conn.cmd(&["GET", "k"]), Reply::bulk("second"));
    // With XX on a missing key: nil and nothing is written.
    assert_eq!(
        conn.cmd(&["SET", "nokey", "x", "XX", "GET"]),
        Reply::NilBulk
    );
    assert_eq!(conn.cmd(&["EXISTS", "nokey"]), Reply::Int(0));
}

#[test]
fn set_syntax_errors() {
    let server = Server::start();
    let mut conn = server.raw();
    let syntax = Reply::error("ERR syntax error");
    for args in [
        &["SET", "k", "v", "NX", "XX"][..],
        &["SET", "k", "v", "EX", "10", "PX", "100"][..],
        &["SET", "k", "v", "KEEPTTL", "EX", "10"][..],
        &["SET", "k", "v", "EX", "10", "KEEPTTL"][..],
        &["SET", "k", "v", "EXAT", "10", "PXAT", "10"][..],
        &["SET", "k", "v", "BOGUS"][..],
        &["SET", "k", "v", "EX"][..],
        &["SET", "k", "v", "v2"][..],
    ] {
        assert_eq!(conn.cmd(args), syntax, "{args:?}");
    }
    let not_int = Reply::error("ERR value is not an integer or out of range");
    assert_eq!(conn.cmd(&["SET", "k", "v", "EX", "abc"]), not_int);
    assert_eq!(conn.cmd(&["SET", "k", "v", "PX", "1.5"]), not_int);
    let invalid = Reply::error("ERR invalid expire time in 'set' command");
    for args in [
        &["SET", "k", "v", "EX", "0"][..],
        &["SET", "k", "v", "EX", "-5"][..],
        &["SET", "k", "v", "PX", "0"][..],
        &["SET", "k", "v", "EXAT", "0"][..],
        &["SET", "k", "v", "PXAT", "-1"][..],
        &["SET", "k", "v", "EX", "9223372036854775807"][..],
    ] {
        assert_eq!(conn.cmd(args), invalid, "{args:?}");
    }
    assert_eq!(
        conn.cmd(&["EXISTS", "k"]),
        Reply::Int(0),
        "failed SETs write nothing"
    );
}

#[test]
fn set_with_expiry() {
    let server = Server::start();
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["SET", "ex", "v", "EX", "1000"]), Reply::ok());
    assert_eq!(conn.cmd(&["SET", "px", "v", "PX", "1000000"]), Reply::ok());
    let future = unix_now() + 1000;
    assert_eq!(
        conn.cmd(&["SET", "exat", "v", "EXAT", &future.to_string()]),
        Reply::ok()
    );
    assert_eq!(
        conn.cmd(&["SET", "pxat", "v", "PXAT", &(future * 1000).to_string()]),
        Reply::ok()
    );
    assert_eq!(conn.cmd(&["SET", "plain", "v"]), Reply::ok());
    assert_eq!(expires_count(&mut conn, 0), 4);
    assert_eq!(conn.cmd(&["DBSIZE"]), Reply::Int(5));

    // A short TTL runs out (polled, with a generous safety limit).
    assert_eq!(conn.cmd(&["SET", "short", "v", "PX", "50"]), Reply::ok());
    common::wait_until("a 50 ms key to expire", common::IO_TIMEOUT, || {
        conn.cmd(&["GET", "short"]) == Reply::NilBulk
    });
    assert_eq!(conn.cmd(&["EXISTS", "short"]), Reply::Int(0));
}

#[test]
fn set_with_a_time_in_the_past_deletes_the_key() {
    let server = Server::start();
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["SET", "k", "v"]), Reply::ok());
    assert_eq!(conn.cmd(&["SET", "k", "v2", "EXAT", "1"]), Reply::ok());
    assert_eq!(conn.cmd(&["GET", "k"]), Reply::NilBulk);
    assert_eq!(conn.cmd(&["EXISTS", "k"]), Reply::Int(0));
    assert_eq!(conn.cmd(&["SET", "k", "v3", "PXAT", "1000"]), Reply::ok());
    assert_eq!(conn.cmd(&["GET", "k"]), Reply::NilBulk);
}

#[test]
fn keepttl_keeps_the_ttl_and_plain_set_clears_it() {
    let server = Server::start();
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["SET", "k", "v1", "EX", "1000"]), Reply::ok());
    assert_eq!(expires_count(&mut conn, 0), 1);
    assert_eq!(conn.cmd(&["SET", "k", "v2", "KEEPTTL"]), Reply::ok());
    assert_eq!(expires_count(&mut conn, 0), 1);
    assert_eq!(conn.cmd(&["GET", "k"]), Reply::bulk("v2"));
    assert_eq!(conn.cmd(&["SET", "k", "v3"]), Reply::ok());
    assert_eq!(expires_count(&mut conn, 0), 0);
    assert_eq!(conn.cmd(&["GET", "k"]), Reply::bulk("v3"));

    // KEEPTTL on a short TTL: the key still expires.
    assert_eq!(conn.cmd(&["SET", "s", "v1", "PX", "100"]), Reply::ok());
    assert_eq!(conn.cmd(&["SET", "s", "v2", "KEEPTTL"]), Reply::ok());
    common::wait_until("a KEEPTTL key to expire", common::IO_TIMEOUT, || {
        conn.cmd(&["EXISTS", "s"]) == Reply::Int(0)
    });
}

#[test]
fn del_and_exists_count() {
    let server = Server::start();
    let mut conn = server.raw();
    for k in ["a", "b", "c"] {
        assert_eq!(conn.cmd(&["SET", k, "1"]), Reply::ok());
    }
    assert_eq!(conn.cmd(&["EXISTS", "a"]), Reply::Int(1));
    assert_eq!(conn.cmd(&["EXISTS", "a", "b", "nope"]), Reply::Int(2));
    // Repeated keys count each time.
    assert_eq!(conn.cmd(&["EXISTS", "a", "a", "a"]), Reply::Int(3));
    assert_eq!(conn.cmd(&["EXISTS", "nope", "nope"]), Reply::Int(0));
    assert_eq!(conn.cmd(&["DEL", "a", "nope", "b", "a"]), Reply::Int(2));
    assert_eq!(conn.cmd(&["DEL", "a"]), Reply::Int(0));
    assert_eq!(conn.cmd(&["EXISTS", "a", "b", "c"]), Reply::Int(1));
    assert_eq!(conn.cmd(&["DBSIZE"]), Reply::Int(1));
}

#[test]
fn dbsize_flushdb_flushall_per_db() {
    let server = Server::start();
    let mut conn = server.raw();
    for db in ["0", "1", "2"] {
        assert_eq!(conn.cmd(&["SELECT", db]), Reply::ok());
        for i in 0..=db.parse::<u32>().unwrap() {
            assert_eq!(conn.cmd(&["SET", &format!("k{i}"), db]), Reply::ok());
        }
    }
    for (db, size) in [("0", 1), ("1", 2), ("2", 3), ("3", 0)] {
        assert_eq!(conn.cmd(&["SELECT", db]), Reply::ok());
        assert_eq!(conn.cmd(&["DBSIZE"]), Reply::Int(size), "db {db}");
    }
    assert_eq!(conn.cmd(&["SELECT", "1"]), Reply::ok());
    assert_eq!(conn.cmd(&["FLUSHDB"]), Reply::ok());
    assert_eq!(conn.cmd(&["DBSIZE"]), Reply::Int(0));
    assert_eq!(conn.cmd(&["SELECT", "2"]), Reply::ok());
    assert_eq!(
        conn.cmd(&["DBSIZE"]),
        Reply::Int(3),
        "FLUSHDB touches one db only"
    );
    assert_eq!(conn.cmd(&["FLUSHDB", "SYNC"]), Reply::ok());
    assert_eq!(conn.cmd(&["DBSIZE"]), Reply::Int(0));
    assert_eq!(conn.cmd(&["SELECT", "0"]), Reply::ok());
    assert_eq!(conn.cmd(&["DBSIZE"]), Reply::Int(1));
    assert_eq!(
        conn.cmd(&["FLUSHDB", "LATER"]),
        Reply::error("ERR syntax error")
    );

    // FLUSHALL empties every db.
    assert_eq!(conn.cmd(&["SELECT", "7"]), Reply::ok());
    assert_eq!(conn.cmd(&["SET", "x", "y"]), Reply::ok());
    assert_eq!(conn.cmd(&["FLUSHALL"]), Reply::ok());
    for db in ["0", "1", "2", "7"] {
        assert_eq!(conn.cmd(&["SELECT", db]), Reply::ok());
        assert_eq!(conn.cmd(&["DBSIZE"]), Reply::Int(0), "db {db}");
    }
    assert_eq!(conn.cmd(&["SET", "x", "y"]), Reply::ok());
    assert_eq!(conn.cmd(&["FLUSHALL", "ASYNC"]), Reply::ok());
    assert_eq!(conn.cmd(&["DBSIZE"]), Reply::Int(0));
    assert_eq!(
        conn.cmd(&["FLUSHALL", "NOW"]),
        Reply::error("ERR syntax error")
    );
}

#[test]
fn binary_safe_keys_and_values() {
    let server = Server::start();
    let mut conn = server.raw();
    let all_bytes: Vec<u8> = (0..=255u8).collect();
    let cases: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (b"nul\x00key".to_vec(), b"nul\x00value".to_vec()),
        (b"crlf\r\nkey".to_vec(), b"\r\n$3\r\n*1\r\n".to_vec()),
        (b"\xff\xfe\xfd".to_vec(), all_bytes.clone()),
        (all_bytes.clone(), b"key is every byte".to_vec()),
        (b"empty-value".to_vec(), Vec::new()),
        (Vec::new(), b"the empty key".to_vec()),
        (
            "ключ-ü-🔑".as_bytes().to_vec(),
            "значение".as_bytes().to_vec(),
        ),
        (
            b"big".to_vec(),
            (0..1_000_000u32).map(|i| (i * 7) as u8).collect(),
        ),
    ];
    for (k, v) in &cases {
        assert_eq!(conn.cmd(&[&b"SET"[..], k, v]), Reply::ok());
    }
    for (k, v) in &cases {
        assert_eq!(conn.cmd(&[&b"GET"[..], k]), Reply::Bulk(v.clone()), "{k:?}");
    }
    assert_eq!(conn.cmd(&["DBSIZE"]), Reply::Int(cases.len() as i64));
    // Keys that differ only in case or trailing bytes are different keys.
    assert_eq!(conn.cmd(&["SET", "Case", "1"]), Reply::ok());
    assert_eq!(conn.cmd(&["GET", "case"]), Reply::NilBulk);
    assert_eq!(conn.cmd(&[&b"GET"[..], b"nul"]), Reply::NilBulk);

    // The redis crate agrees.
    let mut con = server.conn();
    let v: Vec<u8> = redis::cmd("GET")
        .arg(&all_bytes[..])
        .query(&mut con)
        .unwrap();
    assert_eq!(v, b"key is every byte");
}

#[test]
fn time() {
    let server = Server::start();
    let mut conn = server.raw();
    let reply = conn.cmd(&["TIME"]);
    let items = reply.items();
    assert_eq!(items.len(), 2, "{reply:?}");
    let secs: u64 = items[0].text().parse().unwrap();
    let micros: u64 = items[1].text().parse().unwrap();
    assert!(micros < 1_000_000);
    // Same clock as ours, give or take a generous margin.
    assert!(
        secs.abs_diff(unix_now()) < 3600,
        "TIME {secs} vs {}",
        unix_now()
    );
}

#[test]
fn memory_store_works() {
    let server = Server::builder().memory().start();
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["SET", "k", "v"]), Reply::ok());
    assert_eq!(conn.cmd(&["GET", "k"]), Reply::bulk("v"));
    assert!(!server.db_path().exists(), "--db :memory: writes no file");
}

/// Writes a bit of everything that must survive a restart.
fn write_fixture(conn: &mut common::RawConn) {
    assert_eq!(conn.cmd(&["SET", "plain", "value"]), Reply::ok());
    assert_eq!(
        conn.cmd(&[&b"SET"[..], b"bin\x00\xff", b"\x00\x01\x02"]),
        Reply::ok()
    );
    assert_eq!(conn.cmd(&["SET", "ttl", "v", "EX", "100000"]), Reply::ok());
    assert_eq!(conn.cmd(&["SET", "gone", "v"]), Reply::ok());
    assert_eq!(conn.cmd(&["DEL", "gone"]), Reply::Int(1));
    assert_eq!(conn.cmd(&["SELECT", "9"]), Reply::ok());
    assert_eq!(conn.cmd(&["SET", "plain", "in db 9"]), Reply::ok());
    assert_eq!(conn.cmd(&["SELECT", "0"]), Reply::ok());
}

fn check_fixture(conn: &mut common::RawConn) {
    assert_eq!(conn.cmd(&["GET", "plain"]), Reply::bulk("value"));
    assert_eq!(
        conn.cmd(&[&b"GET"[..], b"bin\x00\xff"]),
        Reply::bulk(b"\x00\x01\x02")
    );
    assert_eq!(conn.cmd(&["GET", "ttl"]), Reply::bulk("v"));
    assert_eq!(conn.cmd(&["EXISTS", "gone"]), Reply::Int(0));
    assert_eq!(conn.cmd(&["DBSIZE"]), Reply::Int(3));
    assert_eq!(expires_count(conn, 0), 1, "the TTL survives");
    assert_eq!(conn.cmd(&["SELECT", "9"]), Reply::ok());
    assert_eq!(conn.cmd(&["GET", "plain"]), Reply::bulk("in db 9"));
    assert_eq!(conn.cmd(&["SELECT", "0"]), Reply::ok());
}

#[test]
fn data_persists_across_a_graceful_restart() {
    let mut server = Server::start();
    let mut conn = server.raw();
    write_fixture(&mut conn);
    drop(conn);
    server.restart();
    assert!(server.db_path().exists(), "the db lives at --db");
    let mut conn = server.raw();
    check_fixture(&mut conn);
}

#[test]
fn data_persists_across_a_crash() {
    // Replies come after the commit (durability = commit), so SIGKILL loses nothing that
    // was acknowledged.
    let mut server = Server::start();
    let mut conn = server.raw();
    write_fixture(&mut conn);
    server.crash_restart();
    let mut conn = server.raw();
    check_fixture(&mut conn);
}

#[test]
fn data_persists_across_shutdown() {
    let mut server = Server::start();
    let mut conn = server.raw();
    write_fixture(&mut conn);
    conn.send_cmd(&["SHUTDOWN"]);
    // On success SHUTDOWN does not reply: the connection just closes.
    conn.expect_closed();
    let status = server.wait_exit();
    assert!(
        status.success(),
        "SHUTDOWN must exit 0: {status}\n{}",
        server.stderr()
    );
    server.restart();
    let mut conn = server.raw();
    check_fixture(&mut conn);
}

#[test]
fn flush_persists_across_a_restart() {
    let mut server = Server::start();
    let mut conn = server.raw();
    write_fixture(&mut conn);
    assert_eq!(conn.cmd(&["FLUSHALL"]), Reply::ok());
    assert_eq!(conn.cmd(&["SET", "after", "flush"]), Reply::ok());
    drop(conn);
    server.restart();
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["DBSIZE"]), Reply::Int(1));
    assert_eq!(conn.cmd(&["GET", "after"]), Reply::bulk("flush"));
    assert_eq!(conn.cmd(&["SELECT", "9"]), Reply::ok());
    assert_eq!(conn.cmd(&["DBSIZE"]), Reply::Int(0));
}

#[test]
fn expired_keys_stay_expired_after_a_restart() {
    let mut server = Server::start();
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["SET", "short", "v", "PX", "200"]), Reply::ok());
    assert_eq!(conn.cmd(&["SET", "long", "v"]), Reply::ok());
    drop(conn);
    server.restart();
    let mut conn = server.raw();
    common::wait_until("the short key to expire", common::IO_TIMEOUT, || {
        conn.cmd(&["EXISTS", "short"]) == Reply::Int(0)
    });
    assert_eq!(conn.cmd(&["GET", "long"]), Reply::bulk("v"));
}

#[test]
fn many_keys_survive_a_restart() {
    let mut server = Server::start();
    let mut conn = server.raw();
    let n = 5000;
    let mut pipeline = Vec::new();
    for i in 0..n {
        pipeline.extend(common::encode(&[
            "SET".to_string(),
            format!("key:{i}"),
            format!("{i}"),
        ]));
    }
    let writer = conn.send_in_background(pipeline);
    for _ in 0..n {
        assert_eq!(conn.read_reply(), Reply::ok());
    }
    writer.join().unwrap().unwrap();
    drop(conn);
    server.restart();
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["DBSIZE"]), Reply::Int(n as i64));
    for i in (0..n).step_by(97) {
        assert_eq!(
            conn.cmd(&["GET", &format!("key:{i}")]),
            Reply::bulk(i.to_string())
        );
    }
}

#[test]
fn kill_during_a_write_load_loses_no_acknowledged_write_single_thread() {
    kill_during_a_write_load_loses_no_acknowledged_write(1);
}

#[test]
fn kill_during_a_write_load_loses_no_acknowledged_write_threaded_executor() {
    kill_during_a_write_load_loses_no_acknowledged_write(3);
}

/// Writers record each write the server acknowledged (a SET, a field of a hash that grows
/// into element rows, an INCR); SIGKILL lands in the middle of the load; after a restart every
/// acknowledged write must be there (durability = commit).
fn kill_during_a_write_load_loses_no_acknowledged_write(io_threads: u32) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let mut server = Server::with_io_threads(io_threads);
    let writers = 4;
    let acked_total = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..writers)
        .map(|w| {
            let client = server.client();
            let acked_total = Arc::clone(&acked_total);
            std::thread::spawn(move || {
                let mut con = client.get_connection().unwrap();
                con.set_read_timeout(Some(common::IO_TIMEOUT)).unwrap();
                let mut acked = Vec::new();
                // Bounded: the server is killed long before, and then every call fails.
                for i in 0..1_000_000u32 {
                    let key = format!("w{w}:{i}");
                    let r: redis::RedisResult<()> =
                        redis::cmd("SET").arg(&key).arg(i).query(&mut con);
                    let r = r.and_then(|()| {
                        redis::cmd("HSET")
                            .arg(format!("h{w}"))
                            .arg(&key)
                            .arg(i)
                            .query::<()>(&mut con)
                    });
                    let r = r.and_then(|()| {
                        redis::cmd("INCR")
                            .arg(format!("c{w}"))
                            .query::<()>(&mut con)
                    });
                    if r.is_err() {
                        break;
                    }
                    acked.push(key);
                    acked_total.fetch_add(1, Ordering::Relaxed);
                }
                acked
            })
        })
        .collect();
    common::wait_until("2000 acknowledged writes", common::IO_TIMEOUT, || {
        acked_total.load(Ordering::Relaxed) >= 2000
    });
    server.kill();
    let acked: Vec<Vec<String>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    server.restart();
    let mut con = server.conn();
    for (w, keys) in acked.iter().enumerate() {
        for key in keys {
            let i: u32 = key.split(':').nth(1).unwrap().parse().unwrap();
            let v: Option<u32> = redis::cmd("GET").arg(key).query(&mut con).unwrap();
            assert_eq!(v, Some(i), "acknowledged write {key} was lost");
            let v: Option<u32> = redis::cmd("HGET")
                .arg(format!("h{w}"))
                .arg(key)
                .query(&mut con)
                .unwrap();
            assert_eq!(v, Some(i), "acknowledged HSET of {key} was lost");
        }
        // The last INCR may have been applied without its reply arriving.
        let n = keys.len() as u64;
        let c: Option<u64> = redis::cmd("GET")
            .arg(format!("c{w}"))
            .query(&mut con)
            .unwrap();
        let c = c.unwrap_or(0);
        assert!(
            c == n || c == n + 1,
            "counter c{w} is {c} after {n} acknowledged INCRs"
        );
    }
}
