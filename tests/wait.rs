//! WAIT and WAITAOF with no replicas: replies and errors as redis-server 7.0.15 gives them for
//! WAIT, and WAITAOF's local count once writes are durable (both durability modes).

mod common;

use std::time::{Duration, Instant};

use common::redis_server::RedisServer;
use common::{Reply, Server};

#[test]
fn wait_answers_as_redis_with_no_replica() {
    let redis = RedisServer::start();
    let server = Server::start();
    let (mut theirs, mut ours) = (redis.raw(), server.raw());
    let cases: &[&[&str]] = &[
        &["SET", "k", "v"],
        &["WAIT", "0", "0"],
        &["WAIT", "0", "100"],
        &["WAIT", "1", "50"],
        &["WAIT", "x", "0"],
        &["WAIT", "1", "x"],
        &["WAIT", "1", "-1"],
        &["WAIT", "1"],
        &["MULTI"],
        &["WAIT", "1", "0"],
        &["EXEC"],
        &["EVAL", "return redis.call('WAIT', 0, 0)", "0"],
    ];
    for case in cases {
        assert_eq!(ours.cmd(case), theirs.cmd(case), "{case:?}");
    }
}

#[test]
fn wait_for_a_replica_blocks_until_its_timeout_and_client_unblock_ends_it() {
    let server = Server::start();
    let mut c = server.raw();
    let started = Instant::now();
    assert_eq!(c.cmd(&["WAIT", "1", "200"]), Reply::Int(0));
    assert!(started.elapsed() >= Duration::from_millis(200));
    // Forever, until CLIENT UNBLOCK.
    let mut waiter = server.raw();
    let id = match waiter.cmd(&["CLIENT", "ID"]) {
        Reply::Int(id) => id.to_string(),
        other => panic!("{other:?}"),
    };
    waiter.send_cmd(&["WAIT", "1", "0"]);
    common::wait_until("a blocked client", common::IO_TIMEOUT, || {
        let info = c.cmd(&["INFO", "clients"]).text();
        common::info_field(&info, "blocked_clients").as_deref() == Some("1")
    });
    assert_eq!(c.cmd(&["CLIENT", "UNBLOCK", &id]), Reply::Int(1));
    assert_eq!(waiter.read_reply(), Reply::Int(0));
}

#[test]
fn waitaof_counts_the_server_once_writes_are_durable() {
    for config in [
        "",
        "[storage]\ndurability = \"write-behind\"\nflush_interval_ms = 3600000\n",
    ] {
        let server = Server::builder().config(config).start();
        let mut c = server.raw();
        c.cmd(&["SET", "k", "v"]);
        let one = Reply::Array(vec![Reply::Int(1), Reply::Int(0)]);
        assert_eq!(c.cmd(&["WAITAOF", "1", "0", "0"]), one, "{config}");
        let info = c.cmd(&["INFO", "persistence"]).text();
        if !config.is_empty() {
            // The write-behind change was flushed for it.
            assert_eq!(
                common::info_field(&info, "respite_wb_dirty_keys").as_deref(),
                Some("0")
            );
        }
        assert_eq!(c.cmd(&["WAITAOF", "0", "0", "0"]), one);
        // Counts that can never be met wait for the timeout, then report what was met.
        assert_eq!(c.cmd(&["WAITAOF", "1", "1", "50"]), one);
        assert_eq!(c.cmd(&["WAITAOF", "2", "0", "50"]), one);
        assert_eq!(
            c.cmd(&["WAITAOF", "1", "0", "x"]),
            Reply::Error("ERR timeout is not an integer or out of range".into())
        );
    }
}
