//! LATENCY: the latency monitor's events and the commands' latency histograms, with replies
//! and errors compared to a real redis-server where they do not depend on timing.

mod common;

use common::redis_server::RedisServer;
use common::{Reply, Server};

/// A script that keeps the executor busy for at least 20 ms.
const BUSY_20MS: &str = "local t = redis.call('TIME') \
    while true do \
      local n = redis.call('TIME') \
      if (n[1] - t[1]) * 1000000 + (n[2] - t[2]) >= 20000 then return 1 end \
    end";

#[test]
fn the_monitor_records_spikes_past_its_threshold_and_resets() {
    let server = Server::start();
    let mut c = server.raw();
    // Off by default: nothing is recorded.
    c.cmd(&["EVAL", BUSY_20MS, "0"]);
    assert_eq!(c.cmd(&["LATENCY", "LATEST"]), Reply::Array(vec![]));
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "latency-monitor-threshold", "5"]),
        Reply::Simple("OK".into())
    );
    c.cmd(&["EVAL", BUSY_20MS, "0"]);
    let Reply::Array(latest) = c.cmd(&["LATENCY", "LATEST"]) else {
        panic!("LATEST is an array");
    };
    let command = latest
        .iter()
        .find_map(|row| match row {
            Reply::Array(f) if f[0] == Reply::Bulk(b"command".to_vec()) => Some(f.clone()),
            _ => None,
        })
        .expect("a `command` event");
    let (Reply::Int(last), Reply::Int(max)) = (&command[2], &command[3]) else {
        panic!("{command:?}");
    };
    assert!(*last >= 20 && max >= last, "{command:?}");
    let Reply::Array(history) = c.cmd(&["LATENCY", "HISTORY", "command"]) else {
        panic!("HISTORY is an array");
    };
    assert!(!history.is_empty());
    match c.cmd(&["LATENCY", "DOCTOR"]) {
        Reply::Bulk(text) => assert!(String::from_utf8_lossy(&text).contains("command")),
        other => panic!("{other:?}"),
    }
    match c.cmd(&["LATENCY", "GRAPH", "command"]) {
        Reply::Bulk(text) => assert!(String::from_utf8_lossy(&text).starts_with("command - high")),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.cmd(&["LATENCY", "RESET", "command"]), Reply::Int(1));
    assert_eq!(
        c.cmd(&["LATENCY", "HISTORY", "command"]),
        Reply::Array(vec![])
    );
}

#[test]
fn histograms_count_every_call_by_command() {
    let server = Server::start();
    let mut c = server.raw();
    for i in 0..10 {
        c.cmd(&["SET", &format!("k{i}"), "v"]);
    }
    c.cmd(&["CONFIG", "GET", "maxclients"]);
    let Reply::Array(flat) = c.cmd(&["LATENCY", "HISTOGRAM", "set", "config"]) else {
        panic!("a map, flat in RESP2");
    };
    let names: Vec<_> = flat.iter().step_by(2).cloned().collect();
    assert_eq!(
        names,
        vec![
            Reply::Bulk(b"set".to_vec()),
            Reply::Bulk(b"config|get".to_vec())
        ]
    );
    let Reply::Array(set) = &flat[1] else {
        panic!("{:?}", flat[1]);
    };
    assert_eq!(set[0], Reply::Bulk(b"calls".to_vec()));
    assert_eq!(set[1], Reply::Int(10));
    // Cumulative counts end at every call.
    let Reply::Array(buckets) = &set[3] else {
        panic!("{set:?}");
    };
    assert_eq!(buckets.last(), Some(&Reply::Int(10)));
    let info = match c.cmd(&["INFO", "latencystats"]) {
        Reply::Bulk(b) => String::from_utf8(b).unwrap(),
        other => panic!("{other:?}"),
    };
    let line = common::info_field(&info, "latency_percentiles_usec_set").unwrap();
    assert!(line.starts_with("p50=") && line.contains(",p99=") && line.contains(",p99.9="));
    // CONFIG RESETSTAT clears them; latency-tracking no stops them.
    c.cmd(&["CONFIG", "RESETSTAT"]);
    c.cmd(&["CONFIG", "SET", "latency-tracking", "no"]);
    c.cmd(&["SET", "k", "v"]);
    assert_eq!(
        c.cmd(&["LATENCY", "HISTOGRAM", "set"]),
        Reply::Array(vec![])
    );
}

#[test]
fn replies_without_samples_and_errors_are_redis_7s() {
    let redis = RedisServer::start();
    let server = Server::start();
    let (mut theirs, mut ours) = (redis.raw(), server.raw());
    let cases: &[&[&str]] = &[
        &["LATENCY", "LATEST"],
        &["LATENCY", "HISTORY", "command"],
        &["LATENCY", "HISTORY"],
        &["LATENCY", "GRAPH", "nope"],
        &["LATENCY", "RESET"],
        &["LATENCY", "RESET", "a", "b"],
        &["LATENCY", "HISTOGRAM", "nosuchcommand"],
        &["LATENCY", "NOPE"],
        &["LATENCY"],
    ];
    for case in cases {
        assert_eq!(ours.cmd(case), theirs.cmd(case), "{case:?}");
    }
}
