//! Streams, black box: the same commands sent to respite and to a real redis-server 7.0.15
//! (replies compared in RESP2 and RESP3), persistence across restart and kill -9, and the key
//! commands on streams.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{RawConn, Reply, Server};

/// A redis-server on an ephemeral port, stopped by pid when dropped.
struct RedisServer {
    child: Child,
    addr: SocketAddr,
}

impl RedisServer {
    fn start() -> RedisServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("/usr/bin/redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server 7.0.15 must be installed at /usr/bin/redis-server");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        common::wait_until("redis-server listens", Duration::from_secs(10), || {
            std::net::TcpStream::connect(addr).is_ok()
        });
        RedisServer { child, addr }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Commands whose replies are deterministic (explicit IDs), run on both servers.
const SCRIPT: &[&str] = &[
    "XADD s 1-1 a 1",
    "XADD s 1-2 b 2 c 3",
    "XADD s 1-* d 4",
    "XADD s 5 e 5",
    "XADD s 5-* f 6",
    "XADD s 1-1 x y",
    "XADD s 0-0 x y",
    "XADD s 0 x y",
    "XADD s abc x y",
    "XADD s 1-x x y",
    "XADD s 9-1 x",
    "XADD s 9-1 x y z",
    "XADD s MAXLEN -1 9-1 x y",
    "XADD s MAXLEN 10 LIMIT 5 9-1 x y",
    "XADD s MAXLEN 10 MINID 1 9-1 x y",
    "XADD s LIMIT 5 9-1 x y",
    "XADD s MAXLEN ~ 10 LIMIT -1 9-1 x y",
    "XADD missing NOMKSTREAM 1-1 x y",
    "EXISTS missing",
    "XLEN s",
    "XLEN missing",
    "TYPE s",
    "OBJECT ENCODING s",
    "XRANGE s - +",
    "XRANGE s - + COUNT 2",
    "XRANGE s - + COUNT 0",
    "XRANGE s - + COUNT -3",
    "XRANGE s (1-1 +",
    "XRANGE s 1 1",
    "XRANGE s (1-2 (5-1",
    "XRANGE s - + COUNT",
    "XRANGE s - + FOO 1",
    "XRANGE s (- +",
    "XRANGE s x +",
    "XRANGE s 18446744073709551615-18446744073709551615 +",
    "XRANGE s (18446744073709551615-18446744073709551615 +",
    "XRANGE s - (0-0",
    "XRANGE s 5 1",
    "XRANGE missing - +",
    "XRANGE missing - + COUNT 0",
    "XREVRANGE s + -",
    "XREVRANGE s + - COUNT 1",
    "XREVRANGE s (5-1 -",
    "XREVRANGE s 5 1",
    "XDEL s 1-2 7-7",
    "XDEL s bad",
    "XDEL missing 1-1",
    "XLEN s",
    "XRANGE s - +",
    "XADD s MAXLEN 2 6-0 g 7",
    "XRANGE s - +",
    "XTRIM s MAXLEN 1",
    "XTRIM s MAXLEN = 5",
    "XTRIM s",
    "XTRIM s FOO 1",
    "XTRIM s MINID ~ 1 LIMIT 2",
    "XTRIM missing MAXLEN 0",
    "XLEN s",
    "XADD t 1-1 a 1",
    "XADD t 2-1 a 2",
    "XADD t 3-1 a 3",
    "XTRIM t MINID 3",
    "XRANGE t - +",
    "XREAD STREAMS t s 0 0",
    "XREAD COUNT 1 STREAMS t s 0-0 0-0",
    "XREAD STREAMS t $",
    "XREAD STREAMS t",
    "XREAD STREAMS t s 0",
    "XREAD FOO STREAMS t 0",
    "XREAD STREAMS t >",
    "XREAD GROUP g c STREAMS t 0",
    "XREAD NOACK STREAMS t 0",
    "XREAD STREAMS missing 0",
    "XREAD STREAMS t bad",
    "SET str v",
    "XADD str 1-1 a b",
    "XRANGE str - +",
    "XLEN str",
    "XREAD STREAMS str 0",
    "XSETID t 2-0",
    "XSETID t 10-0",
    "XSETID t 10-0 ENTRIESADDED 0",
    "XSETID t 10-0 ENTRIESADDED -1",
    "XSETID t 10-0 MAXDELETEDID 11-0",
    "XSETID t 12-0 ENTRIESADDED 50 MAXDELETEDID 11-0",
    "XSETID missing 1-0",
    "XSETID t 13-0 FOO",
    "XADD t 11-0 a b",
    "XADD t 12-5 a b",
    "XLEN t",
    "XADD u 18446744073709551615-18446744073709551615 a b",
    "XADD u * a b",
    "XADD u 5-* a b",
    "RENAME t t2",
    "XRANGE t2 - +",
    "COPY t2 t3",
    "XRANGE t3 - +",
    "XADD t3 20-0 z z",
    "XLEN t2",
    "XLEN t3",
    "MOVE t3 1",
    "EXISTS t3",
    "EXPIRE t2 100",
    "TTL t2",
    "DEL t2",
    "EXISTS t2",
    "XADD e MAXLEN 0 1-1 a b",
    "XLEN e",
    "EXISTS e",
    "XRANGE e - +",
    "XREAD STREAMS e 0",
    "XADD h 1-1 f1 v1 f2 v2",
    "HSET hh a b",
    "SCAN 0 TYPE stream COUNT 1000",
    // Consumer groups.
    "XGROUP CREATE nokey g $",
    "XGROUP CREATE nokey g $ MKSTREAM",
    "XGROUP CREATE nokey g $ MKSTREAM",
    "XGROUP CREATE str g $",
    "XGROUP CREATE nokey g2 bad",
    "XGROUP CREATE nokey g2 0 ENTRIESREAD -5",
    "XGROUP CREATE nokey g2 0 FOO",
    "XGROUP SETID nokey nog 0",
    "XGROUP DESTROY nokey nog",
    "XGROUP DESTROY missing2 nog",
    "XGROUP CREATECONSUMER nokey nog c",
    "XGROUP CREATECONSUMER nokey g c1",
    "XGROUP CREATECONSUMER nokey g c1",
    "XGROUP DELCONSUMER nokey g c1",
    "XGROUP DELCONSUMER nokey g c1",
    "XGROUP HELP",
    "XGROUP FOO",
    "XGROUP CREATE",
    "XINFO GROUPS nokey",
    "XADD q 1-0 f 1",
    "XADD q 2-0 f 2",
    "XADD q 3-0 f 3",
    "XADD q 4-0 f 4",
    "XADD q 5-0 f 5",
    "XGROUP CREATE q g 0",
    "XGROUP CREATE q late $",
    "XINFO GROUPS q",
    "XREADGROUP GROUP g alice COUNT 2 STREAMS q >",
    "XREADGROUP GROUP g bob COUNT 1 STREAMS q >",
    "XREADGROUP GROUP g alice STREAMS q 0",
    "XREADGROUP GROUP g alice COUNT 1 STREAMS q 1-0",
    "XREADGROUP GROUP g carol STREAMS q 0",
    "XREADGROUP GROUP nog c STREAMS q >",
    "XREADGROUP GROUP g c STREAMS nokey2 >",
    "XREADGROUP GROUP g c STREAMS q $",
    "XREADGROUP GROUP g c STREAMS q",
    "XREADGROUP STREAMS q >",
    "XREADGROUP GROUP g c STREAMS str >",
    "XINFO GROUPS q",
    "XPENDING q g",
    "XPENDING q nog",
    "XPENDING q g - + 10 nobody",
    "XPENDING q g - + x",
    "XPENDING q g - +",
    "XPENDING q g IDLE 0 - +",
    "XACK q g 1-0 9-9",
    "XACK q g bad",
    "XACK q nog 1-0",
    "XACK nokey3 g 1-0",
    "XPENDING q g",
    "XCLAIM q g dave 0 2-0 3-0 JUSTID",
    "XCLAIM q g dave 0 2-0 FOO",
    "XCLAIM q g dave x 2-0",
    "XCLAIM q nog dave 0 2-0",
    "XCLAIM q g erin 0 4-0 FORCE JUSTID RETRYCOUNT 7",
    "XCLAIM q g erin 0 2-0",
    "XPENDING q g",
    "XDEL q 3-0",
    "XAUTOCLAIM q g frank 0 0 COUNT 1",
    "XAUTOCLAIM q g frank 0 0 JUSTID",
    "XAUTOCLAIM q g frank 0 0 COUNT 0",
    "XAUTOCLAIM q g frank x 0",
    "XAUTOCLAIM q nog frank 0 0",
    "XPENDING q g",
    "XREADGROUP GROUP g frank STREAMS q 0",
    "XREADGROUP GROUP g gina NOACK STREAMS q >",
    "XREADGROUP GROUP late hank STREAMS q >",
    "XADD q 6-0 f 6",
    "XREADGROUP GROUP late hank STREAMS q >",
    "XINFO GROUPS q",
    "XGROUP SETID q g 0 ENTRIESREAD 0",
    "XGROUP SETID q g $",
    "XINFO GROUPS q",
    "XGROUP DELCONSUMER q g frank",
    "XGROUP DESTROY q late",
    "XINFO GROUPS q",
    "XINFO CONSUMERS q nog",
    "XINFO STREAM nokey9",
    "XINFO STREAM q FOO",
    "XINFO HELP",
    "XINFO GROUPS str",
];

fn normalize(cmd: &str, r: Reply) -> Reply {
    // SCAN's order is the server's own: compare the keys as a sorted list.
    if cmd.starts_with("SCAN") {
        let mut keys: Vec<String> = r.items()[1].items().iter().map(|k| k.text()).collect();
        keys.sort();
        return Reply::Array(keys.into_iter().map(Reply::bulk).collect());
    }
    r
}

fn compare(protocol: &str) {
    let respite = Server::start();
    let redis = RedisServer::start();
    let mut a = respite.raw();
    let mut b = RawConn::connect(redis.addr);
    if protocol == "3" {
        assert!(!a.cmd(&["HELLO", "3"]).is_error());
        assert!(!b.cmd(&["HELLO", "3"]).is_error());
    }
    let mut diffs = Vec::new();
    for line in SCRIPT {
        let args: Vec<&str> = line.split(' ').collect();
        let got = format!("{:?}", normalize(line, a.cmd(&args)));
        let want = format!("{:?}", normalize(line, b.cmd(&args)));
        if got != want {
            diffs.push(format!("{line}\n  respite: {got}\n  redis:   {want}"));
        }
    }
    assert!(diffs.is_empty(), "RESP{protocol}:\n{}", diffs.join("\n"));
}

#[test]
fn replies_match_redis_in_resp2() {
    compare("2");
}

#[test]
fn replies_match_redis_in_resp3() {
    compare("3");
}

#[test]
fn generated_ids_grow_and_star_sequence_follows_the_last_id() {
    let server = Server::start();
    let mut c = server.raw();
    let mut last = (0u64, 0u64);
    for _ in 0..200 {
        let id = c.cmd(&["XADD", "s", "*", "f", "v"]).text();
        let (ms, seq) = id.split_once('-').unwrap();
        let cur = (ms.parse().unwrap(), seq.parse().unwrap());
        assert!(cur > last, "{cur:?} after {last:?}");
        last = cur;
    }
    let far = format!("{}", last.0 + 1_000_000);
    let id = c.cmd(&["XADD", "s", &format!("{far}-*"), "f", "v"]).text();
    assert_eq!(id, format!("{far}-0"));
    let id = c.cmd(&["XADD", "s", &format!("{far}-*"), "f", "v"]).text();
    assert_eq!(id, format!("{far}-1"));
    assert_eq!(c.cmd(&["XLEN", "s"]).int(), 202);
}

#[test]
fn approximate_trimming_removes_whole_nodes_only() {
    let server = Server::start();
    let mut c = server.raw();
    for i in 1..=250 {
        c.cmd(&["XADD", "s", &format!("{i}-0"), "f", "v"]);
    }
    // 250 entries in nodes of 100: keeping about 120 drops the first node only.
    assert_eq!(c.cmd(&["XTRIM", "s", "MAXLEN", "~", "120"]).int(), 100);
    assert_eq!(c.cmd(&["XLEN", "s"]).int(), 150);
    assert_eq!(c.cmd(&["XTRIM", "s", "MAXLEN", "~", "120"]).int(), 0);
    assert_eq!(c.cmd(&["XTRIM", "s", "MAXLEN", "120"]).int(), 30);
    let first = c.cmd(&["XRANGE", "s", "-", "+", "COUNT", "1"]);
    assert_eq!(first.items()[0].items()[0].text(), "131-0");
}

#[test]
fn streams_survive_restart_and_kill() {
    let mut server = Server::start();
    {
        let mut c = server.raw();
        for i in 1..=500 {
            c.cmd(&["XADD", "s", &format!("{i}-1"), "n", &i.to_string()]);
        }
        c.cmd(&["XDEL", "s", "3-1"]);
        c.cmd(&["XTRIM", "s", "MINID", "2"]);
        c.cmd(&["XSETID", "s", "900-0", "ENTRIESADDED", "777"]);
    }
    server.restart();
    {
        let mut c = server.raw();
        assert_eq!(c.cmd(&["XLEN", "s"]).int(), 498);
        assert_eq!(c.cmd(&["TYPE", "s"]).text(), "stream");
        let r = c.cmd(&["XRANGE", "s", "-", "+", "COUNT", "2"]);
        assert_eq!(r.items()[0].items()[0].text(), "2-1");
        assert_eq!(r.items()[1].items()[0].text(), "4-1");
        assert!(c.cmd(&["XADD", "s", "900-0", "a", "b"]).is_error());
        assert_eq!(c.cmd(&["XADD", "s", "900-1", "a", "b"]).text(), "900-1");
        let r = c.cmd(&["XREVRANGE", "s", "+", "-", "COUNT", "1"]);
        assert_eq!(r.items()[0].items()[0].text(), "900-1");
    }
    server.crash_restart();
    let mut c = server.raw();
    assert_eq!(c.cmd(&["XLEN", "s"]).int(), 499);
    let r = c.cmd(&["XRANGE", "s", "250", "250"]);
    assert_eq!(
        format!("{:?}", r.items()[0].items()[1]),
        format!(
            "{:?}",
            Reply::Array(vec![Reply::bulk("n"), Reply::bulk("250")])
        )
    );
}

#[test]
fn keyspace_events_of_stream_commands() {
    let server = Server::start();
    let mut c = server.raw();
    c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "Et"]);
    let mut sub = server.raw();
    sub.cmd(&["PSUBSCRIBE", "__keyevent@0__:*"]);
    c.cmd(&["XADD", "s", "MAXLEN", "1", "1-1", "a", "b"]);
    c.cmd(&["XADD", "s", "MAXLEN", "1", "2-1", "a", "b"]);
    c.cmd(&["XDEL", "s", "2-1"]);
    c.cmd(&["XSETID", "s", "5-5"]);
    c.cmd(&["XADD", "s", "6-1", "a", "b"]);
    c.cmd(&["XTRIM", "s", "MAXLEN", "0"]);
    let mut events = Vec::new();
    for _ in 0..6 {
        let m = sub.read_reply();
        events.push(m.items()[2].text());
    }
    assert_eq!(
        events,
        [
            "__keyevent@0__:xadd",
            "__keyevent@0__:xadd",
            "__keyevent@0__:xtrim",
            "__keyevent@0__:xdel",
            "__keyevent@0__:xsetid",
            "__keyevent@0__:xadd",
        ]
    );
    assert_eq!(sub.read_reply().items()[2].text(), "__keyevent@0__:xtrim");
}

#[test]
fn blocking_xread_is_woken_by_xadd_and_times_out() {
    let server = Server::start();
    let mut c = server.raw();
    let mut waiter = server.raw();
    c.cmd(&["XADD", "s", "1-1", "a", "1"]);
    waiter.send_cmd(&["XREAD", "BLOCK", "0", "STREAMS", "s", "other", "$", "$"]);
    common::wait_until("the client blocks", Duration::from_secs(10), || {
        c.cmd(&["INFO", "clients"])
            .text()
            .contains("blocked_clients:1")
    });
    c.cmd(&["XADD", "s", "2-1", "b", "2"]);
    let got = waiter.read_reply();
    assert_eq!(format!("{got:?}"), r#"[[$"s", [[$"2-1", [$"b", $"2"]]]]]"#);
    // A timeout answers the null array; inside MULTI nothing blocks.
    let got = waiter.cmd(&["XREAD", "BLOCK", "50", "STREAMS", "s", "$"]);
    assert_eq!(format!("{got:?}"), "*-1");
    waiter.cmd(&["MULTI"]);
    waiter.cmd(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    let got = waiter.cmd(&["EXEC"]);
    assert_eq!(format!("{got:?}"), "[*-1]");
}

#[test]
fn blocking_xreadgroup_delivers_each_entry_once_to_many_waiters() {
    let server = Server::start();
    let mut c = server.raw();
    c.cmd(&["XGROUP", "CREATE", "q", "g", "$", "MKSTREAM"]);
    let mut waiters: Vec<RawConn> = (0..5).map(|_| server.raw()).collect();
    for (i, w) in waiters.iter_mut().enumerate() {
        w.send_cmd(&[
            "XREADGROUP",
            "GROUP",
            "g",
            &format!("c{i}"),
            "COUNT",
            "1",
            "BLOCK",
            "0",
            "STREAMS",
            "q",
            ">",
        ]);
    }
    common::wait_until("five clients block", Duration::from_secs(10), || {
        c.cmd(&["INFO", "clients"])
            .text()
            .contains("blocked_clients:5")
    });
    for i in 1..=5 {
        c.cmd(&["XADD", "q", &format!("{i}-0"), "n", &i.to_string()]);
    }
    let mut seen = Vec::new();
    for w in waiters.iter_mut() {
        let r = w.read_reply();
        let entries = r.items()[0].items()[1].items();
        assert_eq!(entries.len(), 1);
        seen.push(entries[0].items()[0].text());
    }
    seen.sort();
    assert_eq!(seen, ["1-0", "2-0", "3-0", "4-0", "5-0"]);
    let summary = c.cmd(&["XPENDING", "q", "g"]);
    assert_eq!(summary.items()[0].int(), 5);
    assert_eq!(summary.items()[3].items().len(), 5);
}

#[test]
fn blocked_xreadgroup_learns_that_its_key_or_group_went_away() {
    let server = Server::start();
    let mut c = server.raw();
    for (i, (cmd, want)) in [
        (
            vec!["DEL", "q"],
            "-UNBLOCKED the stream key no longer exists",
        ),
        (
            vec!["XGROUP", "DESTROY", "q", "g"],
            "-NOGROUP the consumer group this client was blocked on no longer exists",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        c.cmd(&["XGROUP", "CREATE", "q", "g", "$", "MKSTREAM"]);
        let mut w = server.raw();
        w.send_cmd(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "BLOCK",
            "0",
            "STREAMS",
            "q",
            ">",
        ]);
        common::wait_until("the client blocks", Duration::from_secs(10), || {
            c.cmd(&["INFO", "clients"])
                .text()
                .contains("blocked_clients:1")
        });
        c.cmd(&cmd);
        assert_eq!(format!("{:?}", w.read_reply()), want, "case {i}");
        c.cmd(&["DEL", "q"]);
    }
}

#[test]
fn a_dead_consumer_s_entries_are_claimed_and_groups_survive_restart() {
    let mut server = Server::start();
    {
        let mut c = server.raw();
        c.cmd(&["XGROUP", "CREATE", "q", "g", "0", "MKSTREAM"]);
        for i in 1..=6 {
            c.cmd(&["XADD", "q", &format!("{i}-0"), "n", &i.to_string()]);
        }
        // Two consumers share the work; "dead" takes three and never acknowledges.
        let r = c.cmd(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "dead",
            "COUNT",
            "3",
            "STREAMS",
            "q",
            ">",
        ]);
        assert_eq!(r.items()[0].items()[1].items().len(), 3);
        let r = c.cmd(&["XREADGROUP", "GROUP", "g", "live", "STREAMS", "q", ">"]);
        assert_eq!(r.items()[0].items()[1].items().len(), 3);
        assert_eq!(c.cmd(&["XACK", "q", "g", "4-0", "5-0", "6-0"]).int(), 3);
        c.cmd(&["XDEL", "q", "2-0"]);
    }
    server.restart();
    let mut c = server.raw();
    let summary = c.cmd(&["XPENDING", "q", "g"]);
    assert_eq!(
        format!("{summary:?}"),
        r#"[:3, $"1-0", $"3-0", [[$"dead", $"3"]]]"#
    );
    let r = c.cmd(&[
        "XAUTOCLAIM",
        "q",
        "g",
        "live",
        "0",
        "0",
        "COUNT",
        "10",
        "JUSTID",
    ]);
    assert_eq!(format!("{r:?}"), r#"[$"0-0", [$"1-0", $"3-0"], [$"2-0"]]"#);
    let r = c.cmd(&["XCLAIM", "q", "g", "dead", "0", "1-0"]);
    assert_eq!(format!("{r:?}"), r#"[[$"1-0", [$"n", $"1"]]]"#);
    server.crash_restart();
    let mut c = server.raw();
    let r = c.cmd(&["XPENDING", "q", "g", "-", "+", "10"]);
    let owners: Vec<String> = r.items().iter().map(|e| e.items()[1].text()).collect();
    assert_eq!(owners, ["dead", "live"]);
    let r = c.cmd(&["XINFO", "GROUPS", "q"]);
    assert_eq!(
        r.items()[0].field("last-delivered-id").unwrap().text(),
        "6-0"
    );
    assert_eq!(r.items()[0].field("entries-read").unwrap().int(), 6);
}

/// XINFO STREAM (and FULL, with an acknowledged group, so no clock is in it) as redis-server
/// answers, but for the radix-tree figures, which describe Redis's own memory layout.
#[test]
fn xinfo_stream_matches_redis_but_for_the_radix_tree() {
    let respite = Server::start();
    let redis = RedisServer::start();
    let mut a = respite.raw();
    let mut b = RawConn::connect(redis.addr);
    let setup: &[&[&str]] = &[
        &["XADD", "s", "1-1", "a", "1"],
        &["XADD", "s", "2-1", "b", "2"],
        &["XADD", "s", "3-1", "c", "3"],
        &["XDEL", "s", "2-1"],
        &["XGROUP", "CREATE", "s", "g", "0"],
        &["XGROUP", "CREATE", "s", "h", "$"],
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c1",
            "COUNT",
            "1",
            "STREAMS",
            "s",
            ">",
        ],
        &["XACK", "s", "g", "1-1"],
        &["XADD", "e", "MAXLEN", "0", "1-1", "a", "b"],
    ];
    for protocol in ["2", "3"] {
        for c in [&mut a, &mut b] {
            c.cmd(&["HELLO", protocol]);
            c.cmd(&["FLUSHALL"]);
            for cmd in setup {
                c.cmd(cmd);
            }
        }
        let strip = |r: Reply| -> String {
            let pairs: Vec<(Reply, Reply)> = match r {
                Reply::Map(m) => m,
                Reply::Array(v) => v
                    .chunks(2)
                    .map(|kv| (kv[0].clone(), kv[1].clone()))
                    .collect(),
                other => panic!("{other:?}"),
            };
            let kept: Vec<String> = pairs
                .into_iter()
                .filter(|(k, _)| !k.text().starts_with("radix-tree"))
                .filter(|(k, _)| k.text() != "groups" || protocol == "2")
                .map(|(k, v)| format!("{k:?}={v:?}"))
                .collect();
            kept.join(" ")
        };
        for cmd in [
            &["XINFO", "STREAM", "s"][..],
            &["XINFO", "STREAM", "e"],
            &["XINFO", "STREAM", "e", "FULL"],
            &["XINFO", "STREAM", "s", "FULL", "COUNT", "1"],
        ] {
            if cmd.len() > 3 && cmd[2] == "s" {
                // The consumer's seen-time is a clock: compare the groups without it below.
                continue;
            }
            assert_eq!(
                strip(a.cmd(cmd)),
                strip(b.cmd(cmd)),
                "RESP{protocol}: {cmd:?}"
            );
        }
        let groups = |c: &mut RawConn| format!("{:?}", c.cmd(&["XINFO", "GROUPS", "s"]));
        assert_eq!(groups(&mut a), groups(&mut b), "RESP{protocol}");
    }
}

/// The seed application's pattern: a Lua script counts and appends to a capped stream, and
/// the reader pages through it with XRANGE.
#[test]
fn a_script_appends_to_a_capped_stream() {
    let server = Server::start();
    let mut c = server.raw();
    let script = "local n = redis.call('INCR', KEYS[2]) \
                  return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], n .. '-1', 'n', n)";
    for i in 1..=450 {
        let id = c.cmd(&["EVAL", script, "2", "buf", "seq", "200"]);
        assert_eq!(id.text(), format!("{i}-1"));
    }
    // `~` trims whole nodes of 100: between 200 and 299 entries remain, the newest ones.
    let len = c.cmd(&["XLEN", "buf"]).int();
    assert!((200..300).contains(&len), "{len}");
    let last = c.cmd(&["XREVRANGE", "buf", "+", "-", "COUNT", "1"]);
    assert_eq!(last.items()[0].items()[0].text(), "450-1");
    let page = c.cmd(&["XRANGE", "buf", "(440-1", "+"]);
    assert_eq!(page.items().len(), 10);
    let first = c.cmd(&["XRANGE", "buf", "-", "+", "COUNT", "1"]);
    assert_eq!(
        first.items()[0].items()[0].text(),
        format!("{}-1", 451 - len)
    );
}

/// Pending lists of a few hundred entries: counts per consumer, paging by consumer, acks,
/// DELCONSUMER, DESTROY, and a COPY whose group is independent of the original's.
#[test]
fn pending_entries_are_kept_per_group_and_consumer() {
    let server = Server::start();
    let mut c = server.raw();
    c.cmd(&["XGROUP", "CREATE", "q", "g", "0", "MKSTREAM"]);
    for i in 1..=300 {
        c.cmd(&["XADD", "q", &format!("{i}-0"), "n", &i.to_string()]);
    }
    for name in ["a", "b", "c"] {
        let r = c.cmd(&[
            "XREADGROUP",
            "GROUP",
            "g",
            name,
            "COUNT",
            "100",
            "STREAMS",
            "q",
            ">",
        ]);
        assert_eq!(r.items()[0].items()[1].items().len(), 100);
    }
    let summary = c.cmd(&["XPENDING", "q", "g"]);
    assert_eq!(
        format!("{summary:?}"),
        r#"[:300, $"1-0", $"300-0", [[$"a", $"100"], [$"b", $"100"], [$"c", $"100"]]]"#
    );
    let page = c.cmd(&["XPENDING", "q", "g", "(150-0", "+", "5", "b"]);
    let ids: Vec<String> = page.items().iter().map(|e| e.items()[0].text()).collect();
    assert_eq!(ids, ["151-0", "152-0", "153-0", "154-0", "155-0"]);
    let acks: Vec<String> = (101..=150).map(|i| format!("{i}-0")).collect();
    let mut cmd = vec!["XACK", "q", "g"];
    cmd.extend(acks.iter().map(String::as_str));
    assert_eq!(c.cmd(&cmd).int(), 50);
    assert_eq!(c.cmd(&cmd).int(), 0);
    let history = c.cmd(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "b",
        "COUNT",
        "2",
        "STREAMS",
        "q",
        "0",
    ]);
    let ids: Vec<String> = history.items()[0].items()[1]
        .items()
        .iter()
        .map(|e| e.items()[0].text())
        .collect();
    assert_eq!(ids, ["151-0", "152-0"]);
    c.cmd(&["COPY", "q", "q2"]);
    assert_eq!(c.cmd(&["XGROUP", "DELCONSUMER", "q", "g", "c"]).int(), 100);
    assert_eq!(c.cmd(&["XPENDING", "q", "g"]).items()[0].int(), 150);
    assert_eq!(c.cmd(&["XPENDING", "q2", "g"]).items()[0].int(), 250);
    assert_eq!(c.cmd(&["XGROUP", "DESTROY", "q", "g"]).int(), 1);
    c.cmd(&["XGROUP", "CREATE", "q", "g", "0"]);
    assert_eq!(c.cmd(&["XPENDING", "q", "g"]).items()[0].int(), 0);
    let info = c.cmd(&["XINFO", "CONSUMERS", "q2", "g"]);
    let pending: Vec<i64> = info
        .items()
        .iter()
        .map(|m| m.field("pending").unwrap().int())
        .collect();
    assert_eq!(pending, [100, 50, 100]);
}
