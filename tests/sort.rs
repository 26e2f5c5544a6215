//! SORT and SORT_RO, black box, with the answers redis-server 7 gives: numeric and ALPHA
//! order (ties broken by the element), DESC, LIMIT edge cases, BY patterns (`nosort`, missing
//! keys, `key->field`), GET (`#`, missing keys, patterns without `*`), STORE (and an empty
//! result deleting the destination), and the errors.

mod common;

use common::{Reply, Server};

fn bulks(words: &[&str]) -> Reply {
    Reply::Array(words.iter().map(Reply::bulk).collect())
}

fn err(text: &str) -> Reply {
    Reply::error(text)
}

#[test]
fn sort_orders_limits_and_patterns() {
    let server = Server::start();
    let mut conn = server.raw();
    conn.cmd(&["RPUSH", "l", "3", "b", "1", "a", "2", "c"]);
    let scores = err("ERR One or more scores can't be converted into double");
    assert_eq!(conn.cmd(&["SORT", "l"]), scores);
    assert_eq!(
        conn.cmd(&["SORT", "l", "ALPHA"]),
        bulks(&["1", "2", "3", "a", "b", "c"])
    );
    assert_eq!(
        conn.cmd(&["SORT", "l", "ALPHA", "DESC"]),
        bulks(&["c", "b", "a", "3", "2", "1"])
    );
    conn.cmd(&["RPUSH", "n", "3", "1", "2", "10", "1.5"]);
    assert_eq!(
        conn.cmd(&["SORT", "n"]),
        bulks(&["1", "1.5", "2", "3", "10"])
    );
    assert_eq!(
        conn.cmd(&["SORT_RO", "n"]),
        bulks(&["1", "1.5", "2", "3", "10"])
    );
    assert_eq!(
        conn.cmd(&["SORT", "n", "DESC", "LIMIT", "1", "2"]),
        bulks(&["3", "2"])
    );
    assert_eq!(
        conn.cmd(&["SORT", "n", "DESC", "ASC"]),
        bulks(&["1", "1.5", "2", "3", "10"])
    );
    assert_eq!(
        conn.cmd(&["SORT", "n", "LIMIT", "2", "-1"]),
        bulks(&["2", "3", "10"])
    );
    assert_eq!(
        conn.cmd(&["SORT", "n", "LIMIT", "-5", "2"]),
        bulks(&["1", "1.5"])
    );
    assert_eq!(conn.cmd(&["SORT", "n", "LIMIT", "10", "2"]), bulks(&[]));
    // BY a pattern whose keys are missing: every score is 0, ties go by the element.
    assert_eq!(
        conn.cmd(&["SORT", "n", "BY", "w_*"]),
        bulks(&["1", "1.5", "10", "2", "3"])
    );
    assert_eq!(
        conn.cmd(&["SORT", "l", "BY", "x_*"]),
        bulks(&["1", "2", "3", "a", "b", "c"])
    );
    // BY without `*` keeps the natural order; DESC reverses a list's.
    assert_eq!(
        conn.cmd(&["SORT", "n", "BY", "nosort"]),
        bulks(&["3", "1", "2", "10", "1.5"])
    );
    assert_eq!(
        conn.cmd(&["SORT", "n", "BY", "nosort", "DESC"]),
        bulks(&["1.5", "10", "2", "1", "3"])
    );
    assert_eq!(
        conn.cmd(&["SORT", "n", "BY", "nosort", "LIMIT", "1", "2"]),
        bulks(&["1", "2"])
    );
    assert_eq!(
        conn.cmd(&["SORT", "n", "BY", "w_*", "ALPHA"]),
        bulks(&["3", "1", "2", "10", "1.5"])
    );
    conn.cmd(&["MSET", "w_3", "c", "w_1", "a", "w_2", "b"]);
    // Missing BY values sort first with ALPHA.
    assert_eq!(
        conn.cmd(&["SORT", "n", "BY", "w_*", "ALPHA"]),
        bulks(&["10", "1.5", "1", "2", "3"])
    );
    assert_eq!(conn.cmd(&["SORT", "n", "BY", "w_*"]), scores);
    let get = conn.cmd(&["SORT", "n", "GET", "#", "GET", "w_*", "GET", "nope"]);
    let expect: Vec<Reply> = [
        ("1", Some("a")),
        ("1.5", None),
        ("2", Some("b")),
        ("3", Some("c")),
        ("10", None),
    ]
    .iter()
    .flat_map(|(e, w)| {
        [
            Reply::bulk(e),
            w.map_or(Reply::NilBulk, Reply::bulk),
            Reply::NilBulk,
        ]
    })
    .collect();
    assert_eq!(get, Reply::Array(expect));
    conn.cmd(&["HSET", "h_3", "f", "30"]);
    conn.cmd(&["HSET", "h_1", "f", "-1"]);
    assert_eq!(
        conn.cmd(&["SORT", "n", "BY", "h_*->f", "GET", "h_*->f", "GET", "#"]),
        Reply::Array(vec![
            Reply::bulk("-1"),
            Reply::bulk("1"),
            Reply::NilBulk,
            Reply::bulk("1.5"),
            Reply::NilBulk,
            Reply::bulk("10"),
            Reply::NilBulk,
            Reply::bulk("2"),
            Reply::bulk("30"),
            Reply::bulk("3"),
        ])
    );
    // Sets, intsets included, sort the same way.
    conn.cmd(&["SADD", "si", "5", "3", "9", "-1"]);
    assert_eq!(
        conn.cmd(&["SORT", "si", "DESC"]),
        bulks(&["9", "5", "3", "-1"])
    );
    conn.cmd(&["SADD", "ss", "b", "a", "c"]);
    assert_eq!(
        conn.cmd(&["SORT", "ss", "ALPHA", "LIMIT", "0", "2"]),
        bulks(&["a", "b"])
    );
    // Empty, spaced and overflowing scores, as strtod reads them.
    conn.cmd(&["RPUSH", "e", "", "2", " 1"]);
    assert_eq!(conn.cmd(&["SORT", "e"]), bulks(&["", " 1", "2"]));
    conn.cmd(&["RPUSH", "e", "1e400"]);
    assert_eq!(conn.cmd(&["SORT", "e", "LIMIT", "0", "1"]), scores);
}

#[test]
fn sort_store_and_errors() {
    let server = Server::start();
    let mut conn = server.raw();
    conn.cmd(&["RPUSH", "n", "3", "1", "2"]);
    conn.cmd(&["MSET", "w_1", "a", "w_3", "c"]);
    assert_eq!(conn.cmd(&["SORT", "n", "STORE", "dst"]), Reply::Int(3));
    assert_eq!(
        conn.cmd(&["LRANGE", "dst", "0", "-1"]),
        bulks(&["1", "2", "3"])
    );
    // Missing GET values are stored as empty strings.
    assert_eq!(
        conn.cmd(&["SORT", "n", "GET", "w_*", "STORE", "dst"]),
        Reply::Int(3)
    );
    assert_eq!(
        conn.cmd(&["LRANGE", "dst", "0", "-1"]),
        bulks(&["a", "", "c"])
    );
    // A set stored with BY nosort is sorted, so the stored list is deterministic.
    conn.cmd(&["SADD", "ss", "b", "a", "c"]);
    assert_eq!(
        conn.cmd(&["SORT", "ss", "BY", "nosort", "STORE", "dst2"]),
        Reply::Int(3)
    );
    assert_eq!(
        conn.cmd(&["LRANGE", "dst2", "0", "-1"]),
        bulks(&["a", "b", "c"])
    );
    // The source may be the destination; an empty result deletes the destination.
    assert_eq!(
        conn.cmd(&["SORT", "n", "DESC", "STORE", "n"]),
        Reply::Int(3)
    );
    assert_eq!(
        conn.cmd(&["LRANGE", "n", "0", "-1"]),
        bulks(&["3", "2", "1"])
    );
    conn.cmd(&["SET", "str", "x"]);
    assert_eq!(conn.cmd(&["SORT", "nokey", "STORE", "str"]), Reply::Int(0));
    assert_eq!(conn.cmd(&["EXISTS", "str"]), Reply::Int(0));
    assert_eq!(conn.cmd(&["SORT", "nokey"]), bulks(&[]));
    // A large list sorts and stores whole.
    let mut args = vec!["RPUSH".to_string(), "big".to_string()];
    args.extend((0..1000).rev().map(|i| i.to_string()));
    conn.cmd(&args);
    assert_eq!(
        conn.cmd(&["SORT", "big", "STORE", "big2"]),
        Reply::Int(1000)
    );
    assert_eq!(
        conn.cmd(&["LRANGE", "big2", "0", "2"]),
        bulks(&["0", "1", "2"])
    );
    assert_eq!(conn.cmd(&["LINDEX", "big2", "-1"]), Reply::bulk("999"));
    assert_eq!(
        conn.cmd(&["OBJECT", "ENCODING", "big2"]),
        Reply::bulk("quicklist")
    );

    let syntax = err("ERR syntax error");
    conn.cmd(&["SET", "str", "x"]);
    assert_eq!(
        conn.cmd(&["SORT", "str"]),
        err("WRONGTYPE Operation against a key holding the wrong kind of value")
    );
    conn.cmd(&["HSET", "h", "a", "1"]);
    assert_eq!(
        conn.cmd(&["SORT_RO", "h"]),
        err("WRONGTYPE Operation against a key holding the wrong kind of value")
    );
    assert_eq!(
        conn.cmd(&["SORT", "str", "FOO"]),
        syntax,
        "options are read first"
    );
    assert_eq!(conn.cmd(&["SORT", "n", "LIMIT", "1"]), syntax);
    assert_eq!(conn.cmd(&["SORT", "n", "BY"]), syntax);
    assert_eq!(conn.cmd(&["SORT_RO", "n", "STORE", "x"]), syntax);
    assert_eq!(
        conn.cmd(&["SORT", "n", "LIMIT", "a", "b"]),
        err("ERR value is not an integer or out of range")
    );
}
