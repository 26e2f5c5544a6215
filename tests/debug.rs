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
