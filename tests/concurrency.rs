//! Many clients at once: each writes and reads its own keys, pipelined, and must get every
//! reply, correct and in order. The counts are bounded; no timing is asserted.

mod common;

use std::sync::{Arc, Barrier};
use std::thread;

use common::{encode, Reply, Server};

#[test]
fn many_sync_clients_with_pipelines_single_thread() {
    many_sync_clients_with_pipelines(Server::with_io_threads(1));
}

#[test]
fn many_sync_clients_with_pipelines_threaded_executor() {
    many_sync_clients_with_pipelines(Server::with_io_threads(3));
}

fn many_sync_clients_with_pipelines(server: Server) {
    let clients = 32;
    let rounds = 10;
    let per_round = 50;
    let barrier = Arc::new(Barrier::new(clients));
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let client = server.client();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let mut con = client.get_connection().unwrap();
                con.set_read_timeout(Some(common::IO_TIMEOUT)).unwrap();
                barrier.wait();
                for r in 0..rounds {
                    let mut pipe = redis::pipe();
                    for i in 0..per_round {
                        let key = format!("c{c}:r{r}:k{i}");
                        pipe.cmd("SET").arg(&key).arg(format!("{c}-{r}-{i}"));
                        pipe.cmd("GET").arg(&key);
                    }
                    pipe.cmd("EXISTS").arg(format!("c{c}:r{r}:k0")).arg("nope");
                    let replies: Vec<redis::Value> = pipe.query(&mut con).unwrap();
                    assert_eq!(replies.len(), per_round * 2 + 1);
                    for i in 0..per_round {
                        assert_eq!(replies[2 * i], redis::Value::Okay, "client {c}");
                        assert_eq!(
                            replies[2 * i + 1],
                            redis::Value::BulkString(format!("{c}-{r}-{i}").into_bytes()),
                            "client {c} round {r} key {i}"
                        );
                    }
                    assert_eq!(replies[per_round * 2], redis::Value::Int(1));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("a client thread failed");
    }
    let mut con = server.conn();
    let size: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(size, (clients * rounds * per_round) as i64);
}

#[test]
fn many_raw_clients_write_big_pipelines_at_once() {
    let server = Server::start();
    let clients = 16;
    let commands = 1000;
    let barrier = Arc::new(Barrier::new(clients));
    let addr = server.addr();
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let mut conn = common::RawConn::connect(addr);
                let db = (c % 4).to_string();
                assert_eq!(conn.cmd(&["SELECT", &db]), Reply::ok());
                let mut bytes = Vec::new();
                for i in 0..commands {
                    let key = format!("raw:{c}:{i}");
                    bytes.extend(encode(&["SET", &key, &format!("v{i}")]));
                    bytes.extend(encode(&["GET", &key]));
                }
                barrier.wait();
                let writer = conn.send_in_background(bytes);
                for i in 0..commands {
                    assert_eq!(conn.read_reply(), Reply::ok(), "client {c} #{i}");
                    assert_eq!(
                        conn.read_reply(),
                        Reply::bulk(format!("v{i}")),
                        "client {c} #{i}"
                    );
                }
                writer.join().unwrap().unwrap();
            })
        })
        .collect();
    for h in handles {
        h.join().expect("a client thread failed");
    }
    let mut conn = server.raw();
    for db in 0..4 {
        assert_eq!(conn.cmd(&["SELECT", &db.to_string()]), Reply::ok());
        assert_eq!(
            conn.cmd(&["DBSIZE"]),
            Reply::Int((clients / 4 * commands) as i64),
            "db {db}"
        );
    }
}

#[test]
fn clients_overwriting_the_same_key_see_a_consistent_value() {
    let server = Server::start();
    let clients = 8;
    let writes = 300;
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let client = server.client();
            thread::spawn(move || {
                let mut con = client.get_connection().unwrap();
                con.set_read_timeout(Some(common::IO_TIMEOUT)).unwrap();
                for i in 0..writes {
                    let old: Option<String> = redis::cmd("SET")
                        .arg("shared")
                        .arg(format!("{c}:{i}"))
                        .arg("GET")
                        .query(&mut con)
                        .unwrap();
                    if let Some(old) = old {
                        let (oc, oi) = old.split_once(':').expect("a value some client wrote");
                        assert!(oc.parse::<usize>().unwrap() < clients);
                        assert!(oi.parse::<usize>().unwrap() < writes);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("a client thread failed");
    }
    let mut con = server.conn();
    let last: String = redis::cmd("GET").arg("shared").query(&mut con).unwrap();
    assert!(last.ends_with(&format!(":{}", writes - 1)), "{last}");
}

#[test]
fn async_multiplexed_clients() {
    let server = Server::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut handles = Vec::new();
        for c in 0..8 {
            let con = server.async_conn().await;
            for t in 0..8 {
                let mut con = con.clone();
                handles.push(tokio::spawn(async move {
                    for i in 0..50 {
                        let key = format!("async:{c}:{t}:{i}");
                        let _: () = redis::cmd("SET")
                            .arg(&key)
                            .arg(i)
                            .query_async(&mut con)
                            .await
                            .unwrap();
                        let v: i64 = redis::cmd("GET")
                            .arg(&key)
                            .query_async(&mut con)
                            .await
                            .unwrap();
                        assert_eq!(v, i);
                    }
                }));
            }
        }
        for h in handles {
            h.await.expect("an async task failed");
        }
        let mut con = server.async_conn().await;
        let size: i64 = redis::cmd("DBSIZE").query_async(&mut con).await.unwrap();
        assert_eq!(size, 8 * 8 * 50);
    });
}

#[test]
fn clients_coming_and_going_while_others_work_single_thread() {
    clients_coming_and_going_while_others_work(Server::with_io_threads(1));
}

#[test]
fn clients_coming_and_going_while_others_work_threaded_executor() {
    clients_coming_and_going_while_others_work(Server::with_io_threads(3));
}

fn clients_coming_and_going_while_others_work(server: Server) {
    let addr = server.addr();
    let churn = thread::spawn(move || {
        for i in 0..200 {
            let mut conn = common::RawConn::connect(addr);
            if i % 2 == 0 {
                assert_eq!(conn.cmd(&["PING"]), Reply::simple("PONG"));
            } else {
                // Leave with a half-sent command.
                conn.send(b"*3\r\n$3\r\nSET\r\n$5\r\nchurn");
            }
        }
    });
    let mut con = server.conn();
    for i in 0..500 {
        let _: () = redis::cmd("SET")
            .arg("steady")
            .arg(i)
            .query(&mut con)
            .unwrap();
        let v: i64 = redis::cmd("GET").arg("steady").query(&mut con).unwrap();
        assert_eq!(v, i);
    }
    churn.join().unwrap();
    let exists: i64 = redis::cmd("EXISTS").arg("churn").query(&mut con).unwrap();
    assert_eq!(exists, 0);
}

/// Requests sent one after another on different connections run in the order they arrived,
/// as in Redis, which serves its sockets in the order the kernel reports them ready. Redis's
/// own tests rely on it (a blocking command sent on one connection, then a push on another,
/// without waiting in between): run out of order, such a test hangs or fails.
#[test]
fn requests_on_different_connections_run_in_arrival_order() {
    let server = Server::with_io_threads(1);
    let connections = 16;
    let mut conns: Vec<_> = (0..connections)
        .map(|_| {
            let mut conn = server.raw();
            assert_eq!(conn.cmd(&["PING"]), Reply::Simple("PONG".into()));
            conn
        })
        .collect();
    for round in 0..100 {
        let key = format!("order:{round}");
        for (i, conn) in conns.iter_mut().enumerate() {
            conn.send_cmd(&["RPUSH", &key, &i.to_string()]);
        }
        for conn in conns.iter_mut() {
            assert!(matches!(conn.read_reply(), Reply::Int(_)));
        }
        let got = conns[0].cmd(&["LRANGE", &key, "0", "-1"]);
        let want = Reply::Array(
            (0..connections)
                .map(|i| Reply::bulk(i.to_string()))
                .collect(),
        );
        assert_eq!(got, want, "round {round}: pushes ran out of arrival order");
    }
}
