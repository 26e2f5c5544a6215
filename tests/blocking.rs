//! The blocking plugin, black box: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN,
//! BZPOPMAX, BZMPOP and CLIENT UNBLOCK with many clients at once. Every element is delivered
//! exactly once, waiters are served first come first served, after the command (or EXEC) that
//! made data available; timeouts, disconnects, CLIENT KILL, limits, and the plugin disabled.
//! Replies and errors are those of redis-server 7.0.15.

mod common;

use std::collections::{HashMap, HashSet};
use std::thread;
use std::time::{Duration, Instant};

use common::{info_field, wait_until, RawConn, Reply, Server};

/// Generous bound for "returned eventually": a safety net, never a measurement.
const EVENTUALLY: Duration = Duration::from_secs(20);

fn blocked_clients(server: &Server) -> i64 {
    let mut c = server.raw();
    let info = c.cmd(&["INFO", "clients"]).text();
    info_field(&info, "blocked_clients")
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1)
}

fn wait_blocked(server: &Server, n: i64) {
    wait_until(&format!("{n} blocked clients"), EVENTUALLY, || {
        blocked_clients(server) == n
    });
}

fn pair(key: &str, value: &str) -> Reply {
    Reply::Array(vec![Reply::bulk(key), Reply::bulk(value)])
}

fn client_id(c: &mut RawConn) -> String {
    c.cmd(&["CLIENT", "ID"]).int().to_string()
}

/// The executor runs inline with the connections (one I/O thread) or on a thread of its own:
/// parking, releasing and deadlines are tested both ways.
macro_rules! both_executors {
    ($($name:ident),* $(,)?) => {
        mod inline_executor {
            $(#[test]
            fn $name() {
                super::$name(super::Server::with_io_threads(1));
            })*
        }
        mod executor_thread {
            $(#[test]
            fn $name() {
                super::$name(super::Server::with_io_threads(2));
            })*
        }
    };
}

both_executors!(
    many_producers_and_consumers_deliver_every_element_exactly_once_in_order,
    timeouts_fire_after_their_deadline,
    pipelined_commands_wait_for_the_blocked_one,
    disconnected_and_killed_clients_stop_waiting_at_once,
);

#[test]
fn errors_and_reply_shapes_match_redis() {
    let server = Server::start();
    let mut c = server.raw();
    for (args, msg) in [
        (
            &["BLPOP", "k", "abc"][..],
            "ERR timeout is not a float or out of range",
        ),
        (
            &["BLPOP", "k", " 1"],
            "ERR timeout is not a float or out of range",
        ),
        (
            &["BLPOP", "k", "nan"],
            "ERR timeout is not a float or out of range",
        ),
        (&["BLPOP", "k", "-1"], "ERR timeout is negative"),
        (&["BRPOP", "k", "inf"], "ERR timeout is negative"),
        (&["BRPOP", "k", "1e300"], "ERR timeout is negative"),
        (&["BLMOVE", "a", "b", "LEFT", "UP", "0"], "ERR syntax error"),
        (
            &["BLMOVE", "a", "b", "LEFT", "LEFT", "-1"],
            "ERR timeout is negative",
        ),
        (&["BRPOPLPUSH", "a", "b", "-1"], "ERR timeout is negative"),
        (
            &["BLMPOP", "abc", "1", "k", "LEFT"],
            "ERR timeout is not a float or out of range",
        ),
        (
            &["BLMPOP", "0", "0", "k", "LEFT"],
            "ERR numkeys should be greater than 0",
        ),
        (&["BLMPOP", "0", "1", "k", "UP"], "ERR syntax error"),
        (
            &["BLMPOP", "0", "1", "k", "LEFT", "COUNT", "0"],
            "ERR count should be greater than 0",
        ),
        (
            &["BZMPOP", "-1", "1", "z", "MIN"],
            "ERR timeout is negative",
        ),
        (&["BZMPOP", "0", "1", "z", "MID"], "ERR syntax error"),
        (
            &["BZPOPMIN", "z", "x"],
            "ERR timeout is not a float or out of range",
        ),
        (
            &["BLPOP", "k"],
            "ERR wrong number of arguments for 'blpop' command",
        ),
        (
            &["CLIENT", "UNBLOCK", "abc"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["CLIENT", "UNBLOCK", "5", "foo"],
            "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
        ),
    ] {
        assert_eq!(c.cmd(args), Reply::error(msg), "{args:?}");
    }
    assert_eq!(c.cmd(&["CLIENT", "UNBLOCK", "99999"]), Reply::Int(0));
    assert_eq!(
        c.cmd(&["CLIENT", "UNBLOCK", "99999", "ERROR"]),
        Reply::Int(0)
    );
    assert_eq!(c.cmd(&["SET", "s", "x"]), Reply::ok());
    let wrongtype =
        Reply::error("WRONGTYPE Operation against a key holding the wrong kind of value");
    assert_eq!(c.cmd(&["BLPOP", "nothing", "s", "0"]), wrongtype);
    assert_eq!(c.cmd(&["BZPOPMIN", "s", "0"]), wrongtype);
    assert_eq!(c.cmd(&["BLMOVE", "s", "d", "LEFT", "LEFT", "0"]), wrongtype);

    for resp3 in [false, true] {
        let mut c = server.raw();
        if resp3 {
            assert!(!c.cmd(&["HELLO", "3"]).is_error());
        }
        let nil = if resp3 { Reply::Null } else { Reply::NilArray };
        let nil_bulk = if resp3 { Reply::Null } else { Reply::NilBulk };
        // Timeouts: a null array for every command, BLMOVE included, as Redis 7.0 replies.
        for args in [
            &["BLPOP", "k", "0.01"][..],
            &["BRPOP", "k", "k2", "0.01"],
            &["BLMOVE", "k", "d", "LEFT", "RIGHT", "0.01"],
            &["BRPOPLPUSH", "k", "d", "0.01"],
            &["BLMPOP", "0.01", "1", "k", "LEFT"],
            &["BZPOPMIN", "z", "0.01"],
            &["BZPOPMAX", "z", "0.01"],
            &["BZMPOP", "0.01", "1", "z", "MIN"],
        ] {
            assert_eq!(c.cmd(args), nil, "{args:?}");
        }
        // Inside MULTI they answer at once, as the non-blocking forms.
        assert_eq!(c.cmd(&["MULTI"]), Reply::ok());
        for args in [
            &["BLPOP", "k", "0"][..],
            &["BLMOVE", "k", "d", "LEFT", "RIGHT", "0"],
            &["BRPOPLPUSH", "k", "d", "0"],
            &["BLMPOP", "0", "1", "k", "LEFT"],
            &["BZPOPMIN", "z", "0"],
            &["BZMPOP", "0", "1", "z", "MIN"],
        ] {
            assert_eq!(c.cmd(args), Reply::simple("QUEUED"));
        }
        assert_eq!(
            c.cmd(&["EXEC"]),
            Reply::Array(vec![
                nil.clone(),
                nil_bulk.clone(),
                nil_bulk,
                nil.clone(),
                nil.clone(),
                nil
            ])
        );
        // Data present: the reply shapes.
        let score = |s: &str| {
            if resp3 {
                Reply::Double(s.into())
            } else {
                Reply::bulk(s)
            }
        };
        c.cmd(&["ZADD", "z", "1.5", "m", "2", "n", "3", "o"]);
        assert_eq!(
            c.cmd(&["BZPOPMIN", "none", "z", "0"]),
            Reply::Array(vec![Reply::bulk("z"), Reply::bulk("m"), score("1.5")])
        );
        assert_eq!(
            c.cmd(&["BZMPOP", "0", "1", "z", "MAX", "COUNT", "5"]),
            Reply::Array(vec![
                Reply::bulk("z"),
                Reply::Array(vec![
                    Reply::Array(vec![Reply::bulk("o"), score("3")]),
                    Reply::Array(vec![Reply::bulk("n"), score("2")]),
                ])
            ])
        );
        c.cmd(&["RPUSH", "k", "1", "2", "3"]);
        assert_eq!(
            c.cmd(&["BLMPOP", "0", "2", "x", "k", "RIGHT", "COUNT", "2"]),
            Reply::Array(vec![
                Reply::bulk("k"),
                Reply::Array(vec![Reply::bulk("3"), Reply::bulk("2")])
            ])
        );
        assert_eq!(c.cmd(&["BRPOP", "x", "k", "0"]), pair("k", "1"));
        // Served later: the same shapes.
        let mut w = server.raw();
        if resp3 {
            w.cmd(&["HELLO", "3"]);
        }
        w.send_cmd(&["BZPOPMAX", "z2", "0"]);
        wait_blocked(&server, 1);
        c.cmd(&["ZADD", "z2", "2.5", "q"]);
        assert_eq!(
            w.read_reply(),
            Reply::Array(vec![Reply::bulk("z2"), Reply::bulk("q"), score("2.5")])
        );
        w.send_cmd(&["BZMPOP", "0", "1", "z2", "MIN"]);
        wait_blocked(&server, 1);
        c.cmd(&["ZADD", "z2", "7", "r"]);
        assert_eq!(
            w.read_reply(),
            Reply::Array(vec![
                Reply::bulk("z2"),
                Reply::Array(vec![Reply::Array(vec![Reply::bulk("r"), score("7")])])
            ])
        );
        w.send_cmd(&["BLMPOP", "0", "2", "x", "k", "LEFT", "COUNT", "5"]);
        wait_blocked(&server, 1);
        c.cmd(&["RPUSH", "k", "a", "b"]);
        assert_eq!(
            w.read_reply(),
            Reply::Array(vec![
                Reply::bulk("k"),
                Reply::Array(vec![Reply::bulk("a"), Reply::bulk("b")])
            ])
        );
    }
}

#[test]
fn waiters_are_served_first_come_first_served_one_element_each() {
    let server = Server::start();
    let mut waiters: Vec<RawConn> = Vec::new();
    for i in 0..5 {
        let mut w = server.raw();
        w.send_cmd(&["BLPOP", "q", "0"]);
        // Each one is queued before the next arrives, so the order is known.
        wait_blocked(&server, i + 1);
        waiters.push(w);
    }
    let mut p = server.raw();
    // One push of several elements serves several waiters, in order of arrival.
    assert_eq!(p.cmd(&["RPUSH", "q", "a", "b", "c"]), Reply::Int(3));
    for (w, v) in waiters.iter_mut().zip(["a", "b", "c"]) {
        assert_eq!(w.read_reply(), pair("q", v));
    }
    assert_eq!(p.cmd(&["LLEN", "q"]), Reply::Int(0));
    wait_blocked(&server, 2);
    // LPUSH a b c makes [c b a]: the first waiter left takes c.
    assert_eq!(p.cmd(&["LPUSH", "q", "x", "y", "z"]), Reply::Int(3));
    assert_eq!(waiters[3].read_reply(), pair("q", "z"));
    assert_eq!(waiters[4].read_reply(), pair("q", "y"));
    assert_eq!(
        p.cmd(&["LRANGE", "q", "0", "-1"]),
        Reply::Array(vec![Reply::bulk("x")])
    );
    assert_eq!(blocked_clients(&server), 0);
}

fn many_producers_and_consumers_deliver_every_element_exactly_once_in_order(server: Server) {
    const CONSUMERS: usize = 16;
    const PRODUCERS: usize = 4;
    const PER_PRODUCER: usize = 300;
    let keys = ["k0", "k1", "k2", "k3"];
    let addr = server.addr();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| {
            thread::spawn(move || {
                let mut c = RawConn::connect(addr);
                let mut got = Vec::new();
                loop {
                    let mut args = vec!["BLPOP"];
                    args.extend(keys);
                    args.push("0");
                    match c.cmd(&args) {
                        Reply::Array(kv) => {
                            let v = kv[1].text();
                            if v == "stop" {
                                return got;
                            }
                            got.push((kv[0].text(), v));
                        }
                        other => panic!("unexpected {other:?}"),
                    }
                }
            })
        })
        .collect();
    wait_blocked(&server, CONSUMERS as i64);
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            thread::spawn(move || {
                let mut c = RawConn::connect(addr);
                for i in 0..PER_PRODUCER {
                    let key = keys[(i + p) % keys.len()];
                    let cmd = if i % 2 == 0 { "RPUSH" } else { "LPUSH" };
                    // Some pushes carry two elements, so that one push serves two waiters.
                    let reply = if i % 3 == 0 {
                        c.cmd(&[cmd, key, &format!("{p}:{i}:a"), &format!("{p}:{i}:b")])
                    } else {
                        c.cmd(&[cmd, key, &format!("{p}:{i}:a")])
                    };
                    assert!(matches!(reply, Reply::Int(_)), "{reply:?}");
                }
            })
        })
        .collect();
    for p in producers {
        p.join().expect("producer");
    }
    let mut stopper = server.raw();
    for _ in 0..CONSUMERS {
        stopper.cmd(&["RPUSH", "k0", "stop"]);
    }
    let mut seen = HashSet::new();
    let mut per_consumer_order: Vec<Vec<(String, String)>> = Vec::new();
    for c in consumers {
        let got = c.join().expect("consumer");
        for (_, v) in &got {
            assert!(seen.insert(v.clone()), "{v} delivered twice");
        }
        per_consumer_order.push(got);
    }
    let mut expected = HashSet::new();
    for p in 0..PRODUCERS {
        for i in 0..PER_PRODUCER {
            expected.insert(format!("{p}:{i}:a"));
            if i % 3 == 0 {
                expected.insert(format!("{p}:{i}:b"));
            }
        }
    }
    assert_eq!(seen, expected, "every element delivered exactly once");
    // A consumer sees the RPUSHed elements of one producer on one key in push order.
    for got in &per_consumer_order {
        let mut last: HashMap<(String, String), usize> = HashMap::new();
        for (key, v) in got {
            let mut parts = v.split(':');
            let (p, i) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let i: usize = i.parse().expect("index");
            if i % 2 == 0 {
                if let Some(prev) = last.insert((key.clone(), p.to_string()), i) {
                    assert!(prev <= i, "{key}: {p}:{prev} after {p}:{i}");
                }
            }
        }
    }
    let mut c = server.raw();
    for key in keys {
        assert_eq!(c.cmd(&["LLEN", key]), Reply::Int(0), "{key} drained");
    }
    assert_eq!(blocked_clients(&server), 0);
}

#[test]
fn a_transaction_wakes_waiters_after_exec_with_the_final_state() {
    let server = Server::start();
    let mut w = server.raw();
    w.send_cmd(&["BLPOP", "k", "0"]);
    wait_blocked(&server, 1);
    let mut p = server.raw();
    p.cmd(&["MULTI"]);
    p.cmd(&["RPUSH", "k", "a", "b"]);
    p.cmd(&["LPOP", "k"]);
    assert_eq!(
        p.cmd(&["EXEC"]),
        Reply::Array(vec![Reply::Int(2), Reply::bulk("a")])
    );
    assert_eq!(w.read_reply(), pair("k", "b"));

    // A key pushed and deleted in one transaction serves nobody.
    w.send_cmd(&["BLPOP", "k", "0"]);
    wait_blocked(&server, 1);
    p.cmd(&["MULTI"]);
    p.cmd(&["RPUSH", "k", "a"]);
    p.cmd(&["DEL", "k"]);
    p.cmd(&["EXEC"]);
    p.cmd(&["MULTI"]);
    p.cmd(&["RPUSH", "k", "b"]);
    p.cmd(&["EXPIRE", "k", "0"]);
    p.cmd(&["EXEC"]);
    assert_eq!(blocked_clients(&server), 1);
    p.cmd(&["RPUSH", "k", "c"]);
    assert_eq!(w.read_reply(), pair("k", "c"));
}

/// A script is one command for waiters: they are served after it, with its final state; and
/// it cannot call a blocking command.
#[test]
fn scripts_wake_waiters_after_they_end_and_never_block() {
    let server = Server::start();
    let mut w = server.raw();
    w.send_cmd(&["BLPOP", "k", "0"]);
    wait_blocked(&server, 1);
    let mut p = server.raw();
    assert_eq!(
        p.cmd(&[
            "EVAL",
            "redis.call('rpush', KEYS[1], 'a', 'b') return redis.call('lpop', KEYS[1])",
            "1",
            "k",
        ]),
        Reply::bulk("a")
    );
    assert_eq!(w.read_reply(), pair("k", "b"));
    assert_eq!(blocked_clients(&server), 0);

    // Redis 7 flags the blocking commands `noscript`: a script cannot call them at all, so
    // it can never block (redis-server 7.0.15 answers the same).
    for script in [
        "return redis.call('blpop', KEYS[1], 0)",
        "return redis.call('bzpopmin', KEYS[1], 0)",
        "return redis.call('blmove', KEYS[1], 'x', 'left', 'left', 0)",
    ] {
        let reply = p.cmd(&["EVAL", script, "1", "empty"]);
        assert!(
            matches!(&reply, Reply::Error(e)
                if e.starts_with("ERR This Redis command is not allowed from script script: ")),
            "{reply:?}"
        );
    }
    assert_eq!(blocked_clients(&server), 0);
}

#[test]
fn blmove_chains_serve_the_waiters_of_each_destination() {
    let server = Server::start();
    let mut first = server.raw();
    first.send_cmd(&["BLMOVE", "a", "b", "LEFT", "RIGHT", "0"]);
    wait_blocked(&server, 1);
    let mut second = server.raw();
    second.send_cmd(&["BRPOPLPUSH", "b", "c", "0"]);
    wait_blocked(&server, 2);
    let mut last = server.raw();
    last.send_cmd(&["BRPOP", "c", "0"]);
    wait_blocked(&server, 3);
    let mut p = server.raw();
    p.cmd(&["RPUSH", "a", "x"]);
    assert_eq!(first.read_reply(), Reply::bulk("x"));
    assert_eq!(second.read_reply(), Reply::bulk("x"));
    assert_eq!(last.read_reply(), pair("c", "x"));
    assert_eq!(p.cmd(&["EXISTS", "a", "b", "c"]), Reply::Int(0));

    // A destination of the wrong type: WRONGTYPE for the waiter, the element stays.
    first.send_cmd(&["BLMOVE", "a", "s", "LEFT", "LEFT", "0"]);
    wait_blocked(&server, 1);
    p.cmd(&["SET", "s", "str"]);
    p.cmd(&["RPUSH", "a", "y"]);
    assert_eq!(
        first.read_reply(),
        Reply::error("WRONGTYPE Operation against a key holding the wrong kind of value")
    );
    assert_eq!(
        p.cmd(&["LRANGE", "a", "0", "-1"]),
        Reply::Array(vec![Reply::bulk("y")])
    );
}

#[test]
fn a_key_of_the_other_type_leaves_waiters_blocked_as_in_redis_7_0() {
    let server = Server::start();
    let mut w = server.raw();
    w.send_cmd(&["BLPOP", "k", "0"]);
    wait_blocked(&server, 1);
    let mut p = server.raw();
    assert_eq!(p.cmd(&["ZADD", "k", "1", "m"]), Reply::Int(1));
    assert_eq!(p.cmd(&["SET", "k", "v"]), Reply::ok());
    assert_eq!(blocked_clients(&server), 1);
    p.cmd(&["DEL", "k"]);
    p.cmd(&["RPUSH", "k", "v"]);
    assert_eq!(w.read_reply(), pair("k", "v"));
    // A list that replaces the key in place, or arrives by RENAME, serves it.
    w.send_cmd(&["BLPOP", "k", "0"]);
    wait_blocked(&server, 1);
    p.cmd(&["SET", "k", "v"]);
    p.cmd(&["RPUSH", "src", "copied"]);
    assert_eq!(p.cmd(&["COPY", "src", "k", "REPLACE"]), Reply::Int(1));
    assert_eq!(w.read_reply(), pair("k", "copied"));
    w.send_cmd(&["BRPOP", "k", "0"]);
    wait_blocked(&server, 1);
    assert_eq!(p.cmd(&["RENAME", "src", "k"]), Reply::ok());
    assert_eq!(w.read_reply(), pair("k", "copied"));
    // A list waiter and a sorted-set waiter on one key: each is served by its own type.
    w.send_cmd(&["BZPOPMIN", "k", "0"]);
    wait_blocked(&server, 1);
    let mut w2 = server.raw();
    w2.send_cmd(&["BLPOP", "k", "0"]);
    wait_blocked(&server, 2);
    p.cmd(&["RPUSH", "k", "l"]);
    assert_eq!(w2.read_reply(), pair("k", "l"));
    p.cmd(&["ZADD", "k", "5", "z"]);
    assert_eq!(
        w.read_reply(),
        Reply::Array(vec![Reply::bulk("k"), Reply::bulk("z"), Reply::bulk("5")])
    );
}

fn timeouts_fire_after_their_deadline(server: Server) {
    let addr = server.addr();
    let waiters: Vec<_> = [0.05, 0.1, 0.2, 0.3, 0.15]
        .into_iter()
        .enumerate()
        .map(|(i, secs)| {
            thread::spawn(move || {
                let mut c = RawConn::connect(addr);
                let key = format!("t{i}");
                let started = Instant::now();
                let reply = if i % 2 == 0 {
                    c.cmd(&["BLPOP", &key, &secs.to_string()])
                } else {
                    c.cmd(&["BZMPOP", &secs.to_string(), "1", &key, "MIN"])
                };
                (reply, started.elapsed(), secs)
            })
        })
        .collect();
    for w in waiters {
        let (reply, elapsed, secs) = w.join().expect("waiter");
        assert_eq!(reply, Reply::NilArray);
        assert!(
            elapsed >= Duration::from_secs_f64(secs),
            "returned after {elapsed:?}, before its {secs} s timeout"
        );
        assert!(elapsed < EVENTUALLY);
    }
    assert_eq!(blocked_clients(&server), 0);
}

fn pipelined_commands_wait_for_the_blocked_one(server: Server) {
    let mut w = server.raw();
    let mut pipeline = common::encode(&["SET", "before", "1"]);
    pipeline.extend(common::encode(&["BLPOP", "k", "0"]));
    pipeline.extend(common::encode(&["INCR", "after"]));
    pipeline.extend(common::encode(&["PING"]));
    w.send(&pipeline);
    // The reply before the blocked command is not held back.
    assert_eq!(w.read_reply(), Reply::ok());
    wait_blocked(&server, 1);
    let mut p = server.raw();
    assert_eq!(p.cmd(&["GET", "after"]), Reply::NilBulk, "INCR ran early");
    assert!(p
        .cmd(&["CLIENT", "LIST"])
        .text()
        .lines()
        .any(|l| l.contains(" flags=b ")));
    p.cmd(&["RPUSH", "k", "v"]);
    assert_eq!(w.read_reply(), pair("k", "v"));
    assert_eq!(w.read_reply(), Reply::Int(1));
    assert_eq!(w.read_reply(), Reply::simple("PONG"));
    // The same when the blocked client is released by its timeout.
    w.send(
        &[
            common::encode(&["BLPOP", "k", "0.05"]),
            common::encode(&["INCR", "after"]),
        ]
        .concat(),
    );
    assert_eq!(w.read_reply(), Reply::NilArray);
    assert_eq!(w.read_reply(), Reply::Int(2));
}

fn disconnected_and_killed_clients_stop_waiting_at_once(server: Server) {
    let mut gone = server.raw();
    gone.send_cmd(&["BLPOP", "k", "0"]);
    wait_blocked(&server, 1);
    gone.shutdown();
    wait_blocked(&server, 0);
    let mut p = server.raw();
    p.cmd(&["RPUSH", "k", "kept"]);
    assert_eq!(p.cmd(&["LLEN", "k"]), Reply::Int(1), "nobody took it");
    p.cmd(&["DEL", "k"]);

    let mut killed = server.raw();
    let id = client_id(&mut killed);
    killed.send_cmd(&["BLPOP", "k", "0"]);
    let mut next = server.raw();
    wait_blocked(&server, 1);
    next.send_cmd(&["BLPOP", "k", "0"]);
    wait_blocked(&server, 2);
    assert_eq!(p.cmd(&["CLIENT", "KILL", "ID", &id]), Reply::Int(1));
    assert_eq!(blocked_clients(&server), 1);
    killed.expect_closed();
    p.cmd(&["RPUSH", "k", "v"]);
    assert_eq!(
        next.read_reply(),
        pair("k", "v"),
        "the killed client's turn passed on"
    );
}

#[test]
fn client_unblock_releases_with_a_timeout_or_an_error() {
    let server = Server::start();
    let mut w = server.raw();
    let id = client_id(&mut w);
    let mut p = server.raw();
    w.send_cmd(&["BLPOP", "k", "0"]);
    wait_blocked(&server, 1);
    assert_eq!(p.cmd(&["CLIENT", "UNBLOCK", &id]), Reply::Int(1));
    assert_eq!(w.read_reply(), Reply::NilArray);
    w.send_cmd(&["BZPOPMIN", "z", "100"]);
    wait_blocked(&server, 1);
    let info = p.cmd(&["INFO", "clients"]).text();
    assert_eq!(
        info_field(&info, "clients_in_timeout_table").as_deref(),
        Some("1")
    );
    assert_eq!(p.cmd(&["CLIENT", "UNBLOCK", &id, "timeout"]), Reply::Int(1));
    assert_eq!(w.read_reply(), Reply::NilArray);
    w.send_cmd(&["BLMOVE", "k", "d", "LEFT", "LEFT", "0"]);
    wait_blocked(&server, 1);
    assert_eq!(p.cmd(&["CLIENT", "UNBLOCK", &id, "ERROR"]), Reply::Int(1));
    assert_eq!(
        w.read_reply(),
        Reply::error("UNBLOCKED client unblocked via CLIENT UNBLOCK")
    );
    assert_eq!(
        p.cmd(&["CLIENT", "UNBLOCK", &id]),
        Reply::Int(0),
        "not blocked now"
    );
    // The released client is no longer queued: a push stays in the list.
    p.cmd(&["RPUSH", "k", "v"]);
    assert_eq!(p.cmd(&["LLEN", "k"]), Reply::Int(1));
    assert_eq!(w.cmd(&["PING"]), Reply::simple("PONG"));
}

#[test]
fn swapdb_wakes_waiters_and_store_commands_over_another_type_do_not() {
    let server = Server::start();
    let mut p = server.raw();
    let mut w = server.raw();
    // SWAPDB brings in a list from the other database: Redis re-checks the waiting keys.
    p.cmd(&["SELECT", "1"]);
    p.cmd(&["RPUSH", "k", "from-db1"]);
    p.cmd(&["SELECT", "0"]);
    w.send_cmd(&["BLPOP", "k", "0"]);
    wait_blocked(&server, 1);
    assert_eq!(p.cmd(&["SWAPDB", "0", "1"]), Reply::ok());
    assert_eq!(w.read_reply(), pair("k", "from-db1"));
    // As in Redis 7.0, a STORE command overwriting a key of another type is no creation and
    // wakes nobody; nor does EXPIRE on it. A list created afresh does.
    w.send_cmd(&["BLPOP", "k", "0"]);
    wait_blocked(&server, 1);
    p.cmd(&["SET", "k", "string"]);
    p.cmd(&["RPUSH", "src", "b", "a"]);
    assert_eq!(
        p.cmd(&["SORT", "src", "ALPHA", "STORE", "k"]),
        Reply::Int(2)
    );
    assert_eq!(p.cmd(&["EXPIRE", "k", "100"]), Reply::Int(1));
    assert_eq!(blocked_clients(&server), 1);
    p.cmd(&["DEL", "k"]);
    p.cmd(&["RPUSH", "k", "fresh"]);
    assert_eq!(w.read_reply(), pair("k", "fresh"));
}

#[test]
fn limits_refuse_the_command_and_change_nothing() {
    let server = Server::builder()
        .config(
            "[plugins.blocking]\nmax_waiters_per_key = 1\nmax_waiters = 2\nmax_keys_per_command = 2\n",
        )
        .start();
    let mut a = server.raw();
    a.send_cmd(&["BLPOP", "k", "0"]);
    wait_blocked(&server, 1);
    let mut b = server.raw();
    assert_eq!(
        b.cmd(&["BLPOP", "other", "k", "0"]),
        Reply::error(
            "ERR too many clients blocked on key 'k' (plugins.blocking.max_waiters_per_key is 1)"
        )
    );
    assert_eq!(
        b.cmd(&["BLPOP", "x", "y", "z", "0"]),
        Reply::error(
            "ERR too many keys for a blocking command: 3 (plugins.blocking.max_keys_per_command is 2)"
        )
    );
    b.send_cmd(&["BLPOP", "other", "0"]);
    wait_blocked(&server, 2);
    let mut c = server.raw();
    assert_eq!(
        c.cmd(&["BZPOPMIN", "z", "0"]),
        Reply::error("ERR too many blocked clients (plugins.blocking.max_waiters is 2)")
    );
    // The refused commands queued nobody: each push goes to the waiter that was accepted.
    c.cmd(&["RPUSH", "other", "1"]);
    assert_eq!(b.read_reply(), pair("other", "1"));
    c.cmd(&["RPUSH", "k", "2"]);
    assert_eq!(a.read_reply(), pair("k", "2"));
    assert_eq!(
        c.cmd(&["EXISTS", "other", "k", "x", "y", "z"]),
        Reply::Int(0)
    );
}

#[test]
fn with_the_plugin_disabled_the_commands_are_unknown() {
    let server = Server::builder()
        .config("[plugins]\nenabled = []\n")
        .start();
    let mut c = server.raw();
    assert_eq!(
        c.cmd(&["BLPOP", "k", "0"]),
        Reply::error("ERR unknown command 'BLPOP', with args beginning with: 'k' '0' ")
    );
    assert_eq!(c.cmd(&["CLIENT", "UNBLOCK", "1"]), Reply::Int(0));
    assert_eq!(c.cmd(&["RPUSH", "k", "v"]), Reply::Int(1));
    assert_eq!(c.cmd(&["LPOP", "k"]), Reply::bulk("v"));
    assert_eq!(blocked_clients(&server), 0);
}

/// The plugin's own footprint, as clients see it: the command count, its line in INFO
/// modules, and the INFO sections.
fn footprint(c: &mut RawConn) -> (i64, String, Vec<String>) {
    let count = c.cmd(&["COMMAND", "COUNT"]).int();
    let modules = c.cmd(&["INFO", "modules"]).text();
    let sections = common::info_sections(&c.cmd(&["INFO", "everything"]).text());
    (count, modules, sections)
}

#[test]
fn module_unload_removes_everything_the_plugin_registered() {
    let bare = Server::builder()
        .config("[plugins]\nenabled = []\n")
        .start();
    let without = footprint(&mut bare.raw());

    let server = Server::start();
    let mut c = server.raw();
    let with = footprint(&mut c);
    assert_eq!(
        with.0,
        without.0 + 10,
        "the eight blocking commands, XREAD and XREADGROUP"
    );
    assert!(with.1.contains("module:name=blocking,"), "{}", with.1);

    // A parked client gets its timeout reply when the plugin goes away.
    let mut waiter = server.raw();
    waiter.send_cmd(&["BLPOP", "q", "0"]);
    wait_blocked(&server, 1);
    assert_eq!(c.cmd(&["MODULE", "UNLOAD", "blocking"]), Reply::ok());
    assert_eq!(waiter.read_reply(), Reply::NilArray);
    assert_eq!(blocked_clients(&server), 0);

    assert_eq!(footprint(&mut c), without);
    assert_eq!(
        c.cmd(&["BLPOP", "q", "0"]),
        Reply::error("ERR unknown command 'BLPOP', with args beginning with: 'q' '0' ")
    );
    // Its after-command hook and subscription are gone with it: writes go on as before.
    assert_eq!(c.cmd(&["RPUSH", "q", "a"]), Reply::Int(1));
    assert_eq!(c.cmd(&["LPOP", "q"]), Reply::bulk("a"));
    assert_eq!(
        c.cmd(&["MODULE", "UNLOAD", "blocking"]),
        Reply::error("ERR Error unloading module: no such module with that name")
    );
}
