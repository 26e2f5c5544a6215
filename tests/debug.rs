//! DEBUG: refused by default as Redis 7 refuses it, and the subcommands Respite has once
//! `enable-debug-command` allows them.

mod common;

use common::redis_server::RedisServer;
use common::{info_field, Reply, Server};

fn with_debug() -> Server {
    Server::builder()
        .config("[redis]\nenable-debug-command = \"yes\"\n")
        .start()
}

#[test]
fn refused_by_default_and_errors_as_redis() {
    let redis = RedisServer::start();
    let server = Server::start();
    for case in [&["DEBUG", "SLEEP", "0"][..], &["DEBUG", "OBJECT", "k"]] {
        assert_eq!(server.raw().cmd(case), redis.raw().cmd(case), "{case:?}");
    }
    let redis = RedisServer::start_with(&["--enable-debug-command", "yes"]);
    let server = with_debug();
    let (mut theirs, mut ours) = (redis.raw(), server.raw());
    for case in [
        &["DEBUG", "NOPE"][..],
        &["DEBUG"],
        &["DEBUG", "OBJECT", "missing"],
        &["DEBUG", "SLEEP", "0"],
        &["DEBUG", "SET-ACTIVE-EXPIRE", "1"],
    ] {
        assert_eq!(ours.cmd(case), theirs.cmd(case), "{case:?}");
    }
}

#[test]
fn object_reload_and_active_expire() {
    let server = with_debug();
    let mut c = server.raw();
    c.cmd(&["SET", "k", "hello"]);
    let Reply::Simple(text) = c.cmd(&["DEBUG", "OBJECT", "k"]) else {
        panic!("a status line");
    };
    assert!(
        text.contains("encoding:embstr") && text.contains("serializedlength:"),
        "{text}"
    );
    // RELOAD: everything comes from the file afterwards, and is all there.
    assert_eq!(c.cmd(&["DEBUG", "RELOAD"]), Reply::Simple("OK".into()));
    let info = c.cmd(&["INFO", "memory"]).text();
    assert_eq!(
        info_field(&info, "respite_cache_keys").as_deref(),
        Some("0")
    );
    assert_eq!(c.cmd(&["GET", "k"]), Reply::Bulk(b"hello".to_vec()));
    // Without active expiry, an expired key stays stored until something reads it.
    c.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    c.cmd(&["SET", "t", "v", "PX", "10"]);
    std::thread::sleep(std::time::Duration::from_millis(400));
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(2));
    assert_eq!(c.cmd(&["GET", "t"]), Reply::NilBulk);
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(1));
}

#[test]
fn populate_writes_what_redis_writes_and_keeps_it() {
    let redis = RedisServer::start_with(&["--enable-debug-command", "yes"]);
    let server = with_debug();
    let (mut theirs, mut ours) = (redis.raw(), server.raw());
    let long_prefix = "z".repeat(200);
    let cases: &[&[&str]] = &[
        &["SET", "key:1", "kept"],
        &["DEBUG", "POPULATE", "3"],
        &["MGET", "key:0", "key:1", "key:2", "key:3"],
        &["DEBUG", "POPULATE", "2", "p", "10"],
        &["GET", "p:0"],
        &["GET", "p:1"],
        &["DEBUG", "POPULATE", "2", "q", "3"],
        &["MGET", "q:0", "q:1"],
        &["DEBUG", "POPULATE", "1", &long_prefix],
        &["KEYS", "zzz*"],
        &["DEBUG", "POPULATE", "0"],
        &["DEBUG", "POPULATE", "-1"],
        &["DEBUG", "POPULATE", "abc"],
        &["DEBUG", "POPULATE", "1", "x", "-5"],
        &["DEBUG", "POPULATE", "1", "x", "y"],
        &["DEBUG", "POPULATE"],
        &["DEBUG", "POPULATE", "1", "a", "1", "extra"],
        &["TYPE", "key:0"],
        &["DBSIZE"],
    ];
    for case in cases {
        assert_eq!(ours.cmd(case), theirs.cmd(case), "{case:?}");
    }
    // The key a long prefix makes is cut to Redis's 127 bytes.
    let Reply::Array(keys) = ours.cmd(&["KEYS", "zzz*"]) else {
        panic!("an array");
    };
    assert_eq!(
        keys,
        vec![Reply::Bulk(format!("{}:0", long_prefix)[..127].into())]
    );
}

#[test]
fn a_large_populate_commits_as_it_goes_and_survives_a_crash() {
    let mut server = with_debug();
    let mut c = server.raw();
    // More keys than one of POPULATE's commits holds, values long enough to live apart.
    assert_eq!(
        c.cmd(&["DEBUG", "POPULATE", "25000", "big", "600"]),
        Reply::Simple("OK".into())
    );
    drop(c);
    // Acknowledged, so durable: a kill -9 loses none of it.
    server.kill();
    server.restart();
    let mut c = server.raw();
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(25000));
    let Reply::Bulk(value) = c.cmd(&["GET", "big:24999"]) else {
        panic!("a value");
    };
    assert_eq!(value.len(), 600);
    assert!(value.starts_with(b"value:24999\0"));
    assert!(value[11..].iter().all(|&b| b == 0));
}
