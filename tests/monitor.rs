//! MONITOR, black box: the lines (time, database, client address or `lua`, quoted
//! arguments) compared with redis-server 7.0.15's for the same commands; what is hidden
//! (admin commands), what is redacted (AUTH, HELLO), transactions in order, several monitors,
//! what a monitoring client may still do, RESET, CLIENT LIST's `O` flag.

mod common;

use std::net::SocketAddr;

use common::redis_server::RedisServer;
use common::{RawConn, Reply, Server};

/// The address CLIENT INFO reports for `c` (what monitor lines name it by).
fn addr_of(c: &mut RawConn) -> String {
    let info = c.cmd(&["CLIENT", "INFO"]).text();
    info.split(' ')
        .find_map(|f| f.strip_prefix("addr="))
        .expect("addr= in CLIENT INFO")
        .to_string()
}

/// Reads one monitor line and checks its frame: `<secs>.<6 digits> [<db> <who>] <args>`.
/// Returns `(db, who, args)`.
fn read_line(monitor: &mut RawConn) -> (String, String, String) {
    let line = match monitor.read_reply() {
        Reply::Simple(s) => s,
        other => panic!("expected a monitor line, got {other:?}"),
    };
    let (time, rest) = line.split_once(' ').expect("a time");
    let (secs, micros) = time.split_once('.').expect("secs.micros");
    assert!(
        secs.len() >= 10 && secs.bytes().all(|b| b.is_ascii_digit()),
        "{line}"
    );
    assert!(
        micros.len() == 6 && micros.bytes().all(|b| b.is_ascii_digit()),
        "{line}"
    );
    let rest = rest.strip_prefix('[').expect("[");
    let (who, args) = rest.split_once("] ").expect("]");
    let (db, who) = who.split_once(' ').expect("db and who");
    (db.to_string(), who.to_string(), args.to_string())
}

/// The commands both servers are given, from one client, with a monitor watching.
fn script() -> Vec<Vec<Vec<u8>>> {
    let words = |w: &[&str]| w.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
    vec![
        words(&["SET", "foo", "bar"]),
        words(&["get", "foo"]),
        // Quoting: quotes, backslashes, control and high bytes.
        vec![
            b"set".to_vec(),
            b"k".to_vec(),
            b"a\"b\\c\r\n\t\x07\x08\x00\x7f\xff \xc3\xa9".to_vec(),
        ],
        words(&["SELECT", "3"]),
        words(&["INCR", "n"]),
        words(&["SELECT", "0"]),
        // Admin commands are not shown.
        words(&["CONFIG", "GET", "maxmemory"]),
        words(&["CLIENT", "LIST"]),
        // Secrets are redacted, failed or not.
        words(&["AUTH", "not-real"]),
        words(&["AUTH", "not-real", "not-a-password"]),
        words(&["HELLO", "2", "AUTH", "default", "secret"]),
        // Scripts show themselves, then what they call, as `lua`.
        words(&[
            "EVAL",
            "redis.call('set',KEYS[1],ARGV[1])",
            "1",
            "foo",
            "bar",
        ]),
        words(&["EVAL", "return redis.call('get','foo')", "0"]),
        // A transaction: MULTI, its commands, then EXEC.
        words(&["MULTI"]),
        words(&["SET", "t", "1"]),
        words(&["EXEC"]),
        // An aborted one: MULTI and EXEC only.
        words(&["MULTI"]),
        words(&["NOSUCHCOMMAND"]),
        words(&["EXEC"]),
        // Rejected commands are not shown.
        words(&["GET"]),
        words(&["PING"]),
    ]
}

/// The monitor lines a server writes for [`script`], with the client's address replaced by
/// `ADDR` and the time left out.
fn lines_of(addr: SocketAddr) -> Vec<String> {
    let mut monitor = RawConn::connect(addr);
    assert_eq!(monitor.cmd(&["MONITOR"]), Reply::ok());
    let mut c = RawConn::connect(addr);
    let me = addr_of(&mut c);
    // CLIENT INFO is admin-free but shown: read it off first.
    let (_, who, args) = read_line(&mut monitor);
    assert_eq!(
        (who.as_str(), args.as_str()),
        (me.as_str(), "\"CLIENT\" \"INFO\"")
    );
    for argv in script() {
        c.cmd(&argv);
    }
    // A last marker: everything before it has been written.
    c.cmd(&["ECHO", "end"]);
    let mut lines = Vec::new();
    loop {
        let (db, who, args) = read_line(&mut monitor);
        let who = if who == me { "ADDR".to_string() } else { who };
        if args == "\"ECHO\" \"end\"" {
            break;
        }
        lines.push(format!("[{db} {who}] {args}"));
    }
    lines
}

#[test]
fn lines_are_those_of_redis_server() {
    let respite = Server::start();
    let redis = RedisServer::start();
    let ours = lines_of(respite.addr());
    let theirs = lines_of(redis.addr());
    assert_eq!(ours, theirs);
    // And what they are, spelled out for the reader.
    assert_eq!(ours[0], "[0 ADDR] \"SET\" \"foo\" \"bar\"");
    assert!(ours.contains(&"[3 ADDR] \"INCR\" \"n\"".to_string()));
    assert!(ours.contains(&"[0 ADDR] \"AUTH\" \"(redacted)\"".to_string()));
    assert!(ours.contains(&"[0 lua] \"set\" \"foo\" \"bar\"".to_string()));
    assert!(!ours
        .iter()
        .any(|l| l.contains("CONFIG") || l.contains("LIST")));
}

#[test]
fn every_monitor_sees_every_client() {
    let server = Server::start();
    let mut monitors: Vec<RawConn> = (0..3).map(|_| server.raw()).collect();
    for m in &mut monitors {
        assert_eq!(m.cmd(&["MONITOR"]), Reply::ok());
    }
    let mut a = server.raw();
    let mut b = server.raw();
    let (addr_a, addr_b) = (addr_of(&mut a), addr_of(&mut b));
    a.cmd(&["SET", "x", "1"]);
    b.cmd(&["SET", "x", "2"]);
    for m in &mut monitors {
        let seen: Vec<(String, String)> = (0..4)
            .map(|_| read_line(m))
            .map(|(_, who, args)| (who, args))
            .filter(|(_, args)| args.starts_with("\"SET\""))
            .collect();
        assert_eq!(
            seen,
            vec![
                (addr_a.clone(), "\"SET\" \"x\" \"1\"".to_string()),
                (addr_b.clone(), "\"SET\" \"x\" \"2\"".to_string()),
            ]
        );
    }
}

#[test]
fn a_monitor_may_not_touch_the_keyspace_and_reset_ends_it() {
    let server = Server::start();
    let mut m = server.raw();
    assert_eq!(m.cmd(&["MONITOR"]), Reply::ok());
    let mut other = server.raw();
    let list = other.cmd(&["CLIENT", "LIST"]).text();
    assert!(
        list.lines().any(|l| l.contains(" flags=O ")),
        "a monitor shows flag O: {list}"
    );
    // Its own commands are shown to it before their replies.
    m.send_cmd(&["GET", "k"]);
    assert_eq!(
        m.read_reply(),
        Reply::error("ERR Replica can't interact with the keyspace")
    );
    m.send_cmd(&["PING"]);
    let (_, _, args) = read_line(&mut m);
    assert_eq!(args, "\"PING\"");
    assert_eq!(m.read_reply(), Reply::simple("PONG"));
    assert_eq!(m.cmd(&["RESET"]), Reply::simple("RESET"));
    // No longer a monitor: the keyspace is open again and nothing more is shown.
    other.cmd(&["SET", "k", "v"]);
    assert_eq!(m.cmd(&["GET", "k"]), Reply::bulk("v"));
    let list = other.cmd(&["CLIENT", "LIST"]).text();
    assert!(!list.contains("flags=O"), "{list}");
}

#[test]
fn monitor_inside_a_transaction_is_refused_as_redis_refuses_it() {
    let respite = Server::start();
    let redis = RedisServer::start();
    let mut replies = Vec::new();
    for addr in [respite.addr(), redis.addr()] {
        let mut c = RawConn::connect(addr);
        c.cmd(&["MULTI"]);
        let queued = c.cmd(&["MONITOR"]);
        let exec = c.cmd(&["EXEC"]);
        // Still an ordinary client afterwards.
        let get = c.cmd(&["GET", "k"]);
        replies.push((queued, exec, get));
    }
    assert_eq!(replies[0], replies[1]);
    assert_eq!(
        replies[0].1,
        Reply::Array(vec![Reply::error(
            "ERR MONITOR isn't allowed for DENY BLOCKING client"
        )])
    );
}

#[test]
fn a_monitor_that_disconnects_is_dropped() {
    let server = Server::start();
    {
        let mut m = server.raw();
        assert_eq!(m.cmd(&["MONITOR"]), Reply::ok());
    }
    let mut c = server.raw();
    common::wait_until(
        "the monitor is gone",
        std::time::Duration::from_secs(20),
        || !c.cmd(&["CLIENT", "LIST"]).text().contains("flags=O"),
    );
    assert_eq!(c.cmd(&["SET", "a", "1"]), Reply::ok());
}
