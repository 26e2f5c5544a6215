//! SLOWLOG against a real redis-server 7.0.15: the same entries' arguments, the same trimming,
//! lengths and errors, with every command logged (`slowlog-log-slower-than 0`).

mod common;

use common::redis_server::RedisServer;
use common::{RawConn, Reply, Server};

/// The argument lists of the newest entries.
fn logged_args(c: &mut RawConn) -> Vec<Reply> {
    c.cmd(&["SLOWLOG", "GET", "-1"])
        .items()
        .iter()
        .map(|e| e.items()[3].clone())
        .collect()
}

#[test]
fn entries_trimming_and_errors_match_redis() {
    let redis = RedisServer::start();
    let server = Server::start();
    let (mut theirs, mut ours) = (redis.raw(), server.raw());
    let long = "A".repeat(129);
    let many: Vec<String> = (0..40).map(|i| i.to_string()).collect();
    let mut script: Vec<Vec<&str>> = vec![
        vec!["CONFIG", "SET", "slowlog-log-slower-than", "0"],
        vec!["CONFIG", "SET", "slowlog-max-len", "5"],
        vec!["SLOWLOG", "RESET"],
        vec!["SET", "k", &long],
        vec!["AUTH", "nobody", "wrong"],
        vec!["CONFIG", "SET", "requirepass", ""],
    ];
    let mut sadd = vec!["SADD", "s"];
    sadd.extend(many.iter().map(String::as_str));
    script.push(sadd);
    for c in [&mut theirs, &mut ours] {
        for cmd in &script {
            c.cmd(cmd);
        }
    }
    assert_eq!(logged_args(&mut ours), logged_args(&mut theirs));
    for case in [
        &["SLOWLOG", "LEN"][..],
        &["SLOWLOG", "GET", "-2"],
        &["SLOWLOG", "GET", "x"],
        &["SLOWLOG", "GET", "1", "2"],
        &["SLOWLOG", "NOPE"],
    ] {
        let (a, b) = (ours.cmd(case), theirs.cmd(case));
        // SLOWLOG LEN counts the previous SLOWLOG GET too, on both.
        assert_eq!(a, b, "{case:?}");
    }
    assert_eq!(ours.cmd(&["SLOWLOG", "GET", "0"]), Reply::Array(Vec::new()));
    // Disabled: nothing more is logged.
    ours.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "-1"]);
    ours.cmd(&["SLOWLOG", "RESET"]);
    ours.cmd(&["SET", "a", "b"]);
    assert_eq!(ours.cmd(&["SLOWLOG", "LEN"]), Reply::Int(0));
}

#[test]
fn a_blocked_command_is_logged_when_served_as_redis_does() {
    let redis = RedisServer::start();
    let server = Server::start();
    let mut newest = Vec::new();
    for (mut c, mut waiter) in [(redis.raw(), redis.raw()), (server.raw(), server.raw())] {
        c.cmd(&["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
        c.cmd(&["SLOWLOG", "RESET"]);
        waiter.send_cmd(&["BLPOP", "l", "0"]);
        common::wait_until("a blocked client", common::IO_TIMEOUT, || {
            let info = c.cmd(&["INFO", "clients"]).text();
            common::info_field(&info, "blocked_clients").as_deref() == Some("1")
        });
        c.cmd(&["MULTI"]);
        c.cmd(&["LPUSH", "l", "foo"]);
        c.cmd(&["SLOWLOG", "RESET"]);
        c.cmd(&["EXEC"]);
        waiter.read_reply();
        newest.push(logged_args(&mut c).first().cloned());
    }
    assert_eq!(newest[1], newest[0]);
    assert_eq!(
        newest[1],
        Some(Reply::Array(
            ["BLPOP", "l", "0"]
                .iter()
                .map(|a| Reply::Bulk(a.as_bytes().to_vec()))
                .collect()
        ))
    );
}
