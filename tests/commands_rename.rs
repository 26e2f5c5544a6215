//! `[commands] rename` and `disable`, compared with redis-server 7.0.15 started with the same
//! `--rename-command` settings: the old names answer as unknown commands (to clients and to
//! Lua's redis.call alike), the new ones work, COMMAND follows.

mod common;

use common::redis_server::{Pair, RedisServer};
use common::{query_err, Server};
use redis::Value;

const RENAMES: &str = "[commands]\n\
    rename = { CONFIG = \"CFG-x9\", incr = \"bump\" }\n\
    disable = [\"FLUSHALL\", \"DEBUG\"]\n";

fn servers() -> (Server, RedisServer, Pair) {
    let respite = Server::builder().config(RENAMES).start();
    let redis = RedisServer::start_with(&[
        "--rename-command",
        "CONFIG",
        "CFG-x9",
        "--rename-command",
        "incr",
        "bump",
        "--rename-command",
        "FLUSHALL",
        "",
        "--rename-command",
        "DEBUG",
        "",
    ]);
    let pair = Pair {
        respite: respite.conn(),
        redis: redis.conn(),
    };
    (respite, redis, pair)
}

#[test]
fn old_names_are_unknown_new_names_work() {
    let (_respite, _redis, mut p) = servers();
    p.same(&["CONFIG", "GET", "maxclients"]);
    p.same(&["config", "set", "maxclients", "100"]);
    p.same(&["FLUSHALL"]);
    p.same(&["flushall", "ASYNC"]);
    p.same(&["DEBUG", "SLEEP", "0"]);
    p.same(&["INCR", "counter"]);
    let reply = p.same(&["CFG-x9", "GET", "maxclients"]);
    assert!(reply.contains("maxclients"), "{reply}");
    p.same(&["cfg-X9", "SET", "maxclients", "1000"]);
    p.same(&["cfg-x9", "GET", "maxclients"]);
    p.same(&["cfg-x9"]);
    p.same(&["cfg-x9", "nosuch"]);
    p.same(&["bump", "counter"]);
    p.same(&["BUMP", "counter"]);
    p.same(&["GET", "counter"]);
    // A renamed command keeps its own name in errors, as Redis's rename-command does.
    p.same(&["bump"]);
    p.same(&["bump", "a", "b"]);
}

#[test]
fn command_reflects_renames() {
    let (respite, _redis, mut p) = servers();
    p.same(&["COMMAND", "INFO", "config"]);
    p.same(&["COMMAND", "INFO", "flushall", "debug"]);
    p.same(&["COMMAND", "DOCS", "flushall"]);
    p.same(&["COMMAND", "LIST", "FILTERBY", "PATTERN", "flushall"]);
    p.same(&["COMMAND", "LIST", "FILTERBY", "PATTERN", "cfg*"]);
    // Found under its new name, reported under its own.
    let info: Vec<Value> = redis::cmd("COMMAND")
        .arg("INFO")
        .arg("cfg-x9")
        .query(&mut p.respite)
        .expect("COMMAND INFO");
    match &info[0] {
        Value::Array(fields) => assert_eq!(fields[0], Value::BulkString(b"config".to_vec())),
        other => panic!("COMMAND INFO cfg-x9: {other:?}"),
    }
    // Two commands fewer than a server without [commands]: FLUSHALL and DEBUG.
    let plain = Server::start();
    let count = |con: &mut redis::Connection| -> i64 {
        redis::cmd("COMMAND")
            .arg("COUNT")
            .query(con)
            .expect("COUNT")
    };
    assert_eq!(count(&mut p.respite) + 2, count(&mut plain.conn()));
    let all: Vec<Value> = redis::cmd("COMMAND")
        .query(&mut respite.conn())
        .expect("COMMAND");
    let names: Vec<Vec<u8>> = all
        .iter()
        .filter_map(|c| match c {
            Value::Array(f) => match &f[0] {
                Value::BulkString(n) => Some(n.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert!(!names.iter().any(|n| n == b"flushall" || n == b"debug"));
    assert!(names.iter().any(|n| n == b"flushdb"));
}

#[test]
fn lua_sees_the_same_names() {
    let (respite, _redis, mut p) = servers();
    p.same(&["EVAL", "return redis.call('bump', KEYS[1])", "1", "n"]);
    p.same(&["EVAL", "return redis.pcall('bump', KEYS[1])", "1", "n"]);
    let mut con = respite.conn();
    for script in [
        "return redis.call('incr', KEYS[1])",
        "return redis.call('flushall')",
    ] {
        let e = query_err(&mut con, redis::cmd("EVAL").arg(script).arg(1).arg("n"));
        assert!(
            e.contains("Unknown Redis command called from script"),
            "{e}"
        );
    }
}

#[test]
fn bad_command_settings_stop_startup() {
    for (config, needle) in [
        (
            "[commands]\nrename = { NOPE = \"yes\" }\n",
            "no such command 'nope'",
        ),
        (
            "[commands]\nrename = { GET = \"set\" }\n",
            "cannot rename 'get' to 'set'",
        ),
        (
            "[commands]\nrename = { GET = \"has space\" }\n",
            "commands.rename.GET",
        ),
        (
            "[commands]\ndisable = [\"GET\"]\nrename = { GET = \"fetch\" }\n",
            "both disabled and renamed",
        ),
    ] {
        let err = match Server::builder().config(config).try_start() {
            Ok(_) => panic!("started with {config}"),
            Err(e) => e,
        };
        assert!(err.contains(needle), "{config}: {err}");
    }
}

#[test]
fn renaming_to_empty_disables() {
    let server = Server::builder()
        .config("[commands]\nrename = { KEYS = \"\" }\n")
        .start();
    let e = query_err(&mut server.conn(), redis::cmd("KEYS").arg("*"));
    assert_eq!(
        e,
        "ERR unknown command 'KEYS', with args beginning with: '*' "
    );
}
