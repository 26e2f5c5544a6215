//! String commands, black-box: SETNX SETEX PSETEX GETEX GETDEL GETSET MGET MSET MSETNX APPEND
//! STRLEN GETRANGE SUBSTR SETRANGE INCR DECR INCRBY DECRBY INCRBYFLOAT LCS, with the edge cases
//! Redis documents and Redis 7's exact replies and error texts.
//!
//! There is no TTL command yet, so expiries are observed through INFO keyspace's `expires=`
//! count and by waiting for a short TTL to pass.

mod common;

use common::{cmd, info_field, query_err, Reply, Server};
use redis::{Connection, FromRedisValue, Value};

const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
const NOT_FLOAT: &str = "ERR value is not a valid float";
const SYNTAX: &str = "ERR syntax error";
const TOO_BIG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";

/// Runs a command made of byte strings and converts the reply.
fn q<T: FromRedisValue>(con: &mut Connection, words: &[&[u8]]) -> T {
    let mut c = redis::cmd(std::str::from_utf8(words[0]).unwrap());
    for w in &words[1..] {
        c.arg(*w);
    }
    c.query(con)
        .unwrap_or_else(|e| panic!("{:?}: {e}", lossy(words)))
}

/// Runs a command made of text words and converts the reply.
fn qs<T: FromRedisValue>(con: &mut Connection, words: &[&str]) -> T {
    cmd(words)
        .query(con)
        .unwrap_or_else(|e| panic!("{words:?}: {e}"))
}

/// The error text of a command that must fail.
fn err(con: &mut Connection, words: &[&str]) -> String {
    query_err(con, &cmd(words))
}

fn lossy(words: &[&[u8]]) -> Vec<String> {
    words
        .iter()
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect()
}

/// Number of keys with a TTL in db 0, from INFO keyspace.
fn expires(con: &mut Connection) -> u64 {
    let info: String = qs(con, &["INFO", "keyspace"]);
    match info_field(&info, "db0") {
        None => 0,
        Some(line) => line
            .split(',')
            .find_map(|kv| kv.strip_prefix("expires="))
            .unwrap_or_else(|| panic!("no expires= in {line}"))
            .parse()
            .unwrap(),
    }
}

fn exists(con: &mut Connection, key: &str) -> bool {
    qs::<i64>(con, &["EXISTS", key]) == 1
}

fn get(con: &mut Connection, key: &str) -> Option<String> {
    qs(con, &["GET", key])
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn setnx_sets_only_missing_keys() {
    let server = Server::start();
    let mut con = server.conn();
    assert_eq!(qs::<i64>(&mut con, &["SETNX", "k", "first"]), 1);
    assert_eq!(qs::<i64>(&mut con, &["SETNX", "k", "second"]), 0);
    assert_eq!(get(&mut con, "k").as_deref(), Some("first"));
    assert_eq!(qs::<i64>(&mut con, &["SETNX", "", ""]), 1, "empty key");
    assert_eq!(get(&mut con, "").as_deref(), Some(""));
    assert_eq!(
        err(&mut con, &["SETNX", "k"]),
        "ERR wrong number of arguments for 'setnx' command"
    );
}

#[test]
fn setex_and_psetex_set_a_ttl_and_validate_it() {
    let server = Server::start();
    let mut con = server.conn();
    assert_eq!(qs::<String>(&mut con, &["SET", "k", "old"]), "OK");
    assert_eq!(qs::<String>(&mut con, &["SETEX", "k", "100", "v"]), "OK");
    assert_eq!(get(&mut con, "k").as_deref(), Some("v"));
    assert_eq!(expires(&mut con), 1);
    assert_eq!(
        qs::<String>(&mut con, &["PSETEX", "p", "100000", "pv"]),
        "OK"
    );
    assert_eq!(get(&mut con, "p").as_deref(), Some("pv"));
    assert_eq!(expires(&mut con), 2);

    for (command, ttl) in [
        ("SETEX", "0"),
        ("SETEX", "-1"),
        ("SETEX", "9223372036854775807"),
        // Fits after * 1000 but not once the current time is added.
        ("SETEX", "9223372036854775"),
        ("PSETEX", "0"),
        ("PSETEX", "-100"),
        ("PSETEX", "9223372036854775807"),
    ] {
        let lower = command.to_ascii_lowercase();
        assert_eq!(
            err(&mut con, &[command, "bad", ttl, "v"]),
            format!("ERR invalid expire time in '{lower}' command"),
            "{command} {ttl}"
        );
    }
    for ttl in ["abc", "1.5", " 1", ""] {
        assert_eq!(err(&mut con, &["SETEX", "bad", ttl, "v"]), NOT_INTEGER);
        assert_eq!(err(&mut con, &["PSETEX", "bad", ttl, "v"]), NOT_INTEGER);
    }
    assert!(!exists(&mut con, "bad"), "failed SETEX writes nothing");

    // A short TTL really expires the key.
    assert_eq!(
        qs::<String>(&mut con, &["PSETEX", "short", "50", "v"]),
        "OK"
    );
    common::wait_until("a PSETEX key to expire", common::IO_TIMEOUT, || {
        !exists(&mut con, "short")
    });
    // A plain SET drops the TTL that SETEX gave.
    assert_eq!(qs::<String>(&mut con, &["SET", "k", "plain"]), "OK");
    assert_eq!(expires(&mut con), 1);
}

#[test]
fn getex_changes_or_keeps_the_ttl() {
    let server = Server::start();
    let mut con = server.conn();
    assert_eq!(qs::<String>(&mut con, &["SETEX", "k", "100", "v"]), "OK");
    // No option: the value, TTL untouched.
    assert_eq!(qs::<String>(&mut con, &["GETEX", "k"]), "v");
    assert_eq!(expires(&mut con), 1);
    assert_eq!(qs::<String>(&mut con, &["GETEX", "k", "PERSIST"]), "v");
    assert_eq!(expires(&mut con), 0);
    // PERSIST on a key without TTL is harmless.
    assert_eq!(qs::<String>(&mut con, &["getex", "k", "persist"]), "v");
    assert_eq!(qs::<String>(&mut con, &["GETEX", "k", "EX", "100"]), "v");
    assert_eq!(expires(&mut con), 1);
    assert_eq!(qs::<String>(&mut con, &["GETEX", "k", "PERSIST"]), "v");
    let future = (unix_now() + 1000).to_string();
    let future_ms = ((unix_now() + 1000) * 1000).to_string();
    for opts in [
        vec!["PX", "100000"],
        vec!["EXAT", &future],
        vec!["PXAT", &future_ms],
        // Repeating the same option keeps the last, as in Redis.
        vec!["EX", "10", "EX", "100"],
    ] {
        let mut words = vec!["GETEX", "k"];
        words.extend(&opts);
        assert_eq!(qs::<String>(&mut con, &words), "v", "{opts:?}");
        assert_eq!(expires(&mut con), 1, "{opts:?}");
        assert_eq!(qs::<String>(&mut con, &["GETEX", "k", "PERSIST"]), "v");
    }

    // Errors: syntax first, then the expiry value.
    for opts in [
        &["EX", "10", "PX", "10"][..],
        &["EX", "10", "PERSIST"],
        &["PERSIST", "EX", "10"],
        &["KEEPTTL"],
        &["NX"],
        &["GET"],
        &["EX"],
        &["BOGUS"],
        &["EX", "abc", "BOGUS"],
    ] {
        let mut words = vec!["GETEX", "k"];
        words.extend(opts);
        assert_eq!(err(&mut con, &words), SYNTAX, "{opts:?}");
    }
    for opts in [["EX", "0"], ["PX", "-1"], ["EXAT", "0"], ["PXAT", "-5"]] {
        assert_eq!(
            err(&mut con, &["GETEX", "k", opts[0], opts[1]]),
            "ERR invalid expire time in 'getex' command",
            "{opts:?}"
        );
    }
    assert_eq!(err(&mut con, &["GETEX", "k", "EX", "1.5"]), NOT_INTEGER);
    assert_eq!(expires(&mut con), 0, "failed GETEX changes nothing");
    // A missing key answers nil before its expiry value is looked at.
    assert_eq!(
        qs::<Option<String>>(&mut con, &["GETEX", "missing", "EX", "0"]),
        None
    );
    assert_eq!(err(&mut con, &["GETEX", "missing", "BOGUS"]), SYNTAX);

    // An absolute time in the past deletes the key, after returning its value.
    assert_eq!(qs::<String>(&mut con, &["GETEX", "k", "EXAT", "1"]), "v");
    assert!(!exists(&mut con, "k"));
    assert_eq!(qs::<String>(&mut con, &["SET", "k", "v"]), "OK");
    assert_eq!(qs::<String>(&mut con, &["GETEX", "k", "PXAT", "1000"]), "v");
    assert!(!exists(&mut con, "k"));

    // A short relative TTL really expires.
    assert_eq!(qs::<String>(&mut con, &["SET", "s", "v"]), "OK");
    assert_eq!(qs::<String>(&mut con, &["GETEX", "s", "PX", "50"]), "v");
    common::wait_until("a GETEX PX key to expire", common::IO_TIMEOUT, || {
        !exists(&mut con, "s")
    });
}

#[test]
fn getdel_and_getset() {
    let server = Server::start();
    let mut con = server.conn();
    assert_eq!(qs::<Option<String>>(&mut con, &["GETDEL", "k"]), None);
    assert_eq!(qs::<String>(&mut con, &["SET", "k", "v"]), "OK");
    assert_eq!(qs::<String>(&mut con, &["GETDEL", "k"]), "v");
    assert!(!exists(&mut con, "k"));
    assert_eq!(qs::<Option<String>>(&mut con, &["GETDEL", "k"]), None);

    assert_eq!(qs::<Option<String>>(&mut con, &["GETSET", "g", "a"]), None);
    assert_eq!(get(&mut con, "g").as_deref(), Some("a"));
    assert_eq!(
        qs::<Option<String>>(&mut con, &["GETSET", "g", "b"]).as_deref(),
        Some("a")
    );
    assert_eq!(get(&mut con, "g").as_deref(), Some("b"));
    // GETSET drops the TTL, as SET does.
    assert_eq!(qs::<String>(&mut con, &["SETEX", "g", "100", "c"]), "OK");
    assert_eq!(expires(&mut con), 1);
    assert_eq!(
        qs::<Option<String>>(&mut con, &["GETSET", "g", "d"]).as_deref(),
        Some("c")
    );
    assert_eq!(expires(&mut con), 0);
}

#[test]
fn mget_mset_msetnx() {
    let server = Server::start();
    let mut con = server.conn();
    assert_eq!(
        qs::<String>(&mut con, &["MSET", "a", "1", "b", "2", "a", "3"]),
        "OK"
    );
    let values: Vec<Option<String>> = qs(&mut con, &["MGET", "a", "b", "missing", "a"]);
    assert_eq!(
        values,
        [Some("3".into()), Some("2".into()), None, Some("3".into())]
    );
    for command in ["MSET", "MSETNX"] {
        let lower = command.to_ascii_lowercase();
        let arity = format!("ERR wrong number of arguments for '{lower}' command");
        assert_eq!(err(&mut con, &[command, "a"]), arity);
        assert_eq!(err(&mut con, &[command, "a", "1", "b"]), arity);
    }
    assert_eq!(
        err(&mut con, &["MGET"]),
        "ERR wrong number of arguments for 'mget' command"
    );

    // MSETNX sets nothing when any key exists.
    assert_eq!(qs::<i64>(&mut con, &["MSETNX", "c", "1", "a", "x"]), 0);
    assert!(!exists(&mut con, "c"));
    assert_eq!(get(&mut con, "a").as_deref(), Some("3"));
    assert_eq!(qs::<i64>(&mut con, &["MSETNX", "c", "1", "d", "2"]), 1);
    assert_eq!(qs::<Vec<String>>(&mut con, &["MGET", "c", "d"]), ["1", "2"]);
    // A key repeated in one MSETNX keeps its last value.
    assert_eq!(qs::<i64>(&mut con, &["MSETNX", "e", "1", "e", "2"]), 1);
    assert_eq!(get(&mut con, "e").as_deref(), Some("2"));

    // MSET drops TTLs.
    assert_eq!(qs::<String>(&mut con, &["SETEX", "a", "100", "v"]), "OK");
    assert_eq!(expires(&mut con), 1);
    assert_eq!(qs::<String>(&mut con, &["MSET", "a", "w"]), "OK");
    assert_eq!(expires(&mut con), 0);
}

#[test]
fn binary_values_survive_every_command() {
    let server = Server::start();
    let mut con = server.conn();
    let v1: &[u8] = b"a\x00b\xff";
    let v2: &[u8] = b"\x00\xff\r\n";
    assert_eq!(
        q::<String>(&mut con, &[b"MSET", b"k\x00", v1, b"\xffk", v2]),
        "OK"
    );
    assert_eq!(
        q::<Vec<Vec<u8>>>(&mut con, &[b"MGET", b"k\x00", b"\xffk"]),
        [v1.to_vec(), v2.to_vec()]
    );
    assert_eq!(q::<i64>(&mut con, &[b"APPEND", b"k\x00", v2]), 8);
    assert_eq!(q::<i64>(&mut con, &[b"STRLEN", b"k\x00"]), 8);
    assert_eq!(
        q::<Vec<u8>>(&mut con, &[b"GETRANGE", b"k\x00", b"1", b"-3"]),
        b"\x00b\xff\x00\xff"
    );
    assert_eq!(
        q::<i64>(&mut con, &[b"SETRANGE", b"k\x00", b"2", b"\xff\x00"]),
        8
    );
    assert_eq!(
        q::<Vec<u8>>(&mut con, &[b"GETSET", b"k\x00", b"\x00"]),
        b"a\x00\xff\x00\x00\xff\r\n"
    );
    assert_eq!(q::<Vec<u8>>(&mut con, &[b"GETDEL", b"k\x00"]), b"\x00");
    assert_eq!(q::<Vec<u8>>(&mut con, &[b"GETEX", b"\xffk"]), v2);
    assert_eq!(q::<Vec<u8>>(&mut con, &[b"LCS", b"\xffk", b"\xffk"]), v2);
}

#[test]
fn append_and_strlen() {
    let server = Server::start();
    let mut con = server.conn();
    assert_eq!(qs::<i64>(&mut con, &["STRLEN", "k"]), 0);
    assert_eq!(qs::<i64>(&mut con, &["APPEND", "k", "Hello"]), 5);
    assert_eq!(qs::<i64>(&mut con, &["APPEND", "k", " World"]), 11);
    assert_eq!(qs::<i64>(&mut con, &["APPEND", "k", ""]), 11);
    assert_eq!(get(&mut con, "k").as_deref(), Some("Hello World"));
    assert_eq!(qs::<i64>(&mut con, &["STRLEN", "k"]), 11);
    // Appending nothing to a missing key still creates it, as in Redis.
    assert_eq!(qs::<i64>(&mut con, &["APPEND", "e", ""]), 0);
    assert!(exists(&mut con, "e"));
    assert_eq!(qs::<i64>(&mut con, &["STRLEN", "e"]), 0);
    // APPEND keeps the TTL.
    assert_eq!(qs::<String>(&mut con, &["SETEX", "t", "100", "a"]), "OK");
    assert_eq!(qs::<i64>(&mut con, &["APPEND", "t", "b"]), 2);
    assert_eq!(expires(&mut con), 1);
    // Integers are strings too.
    assert_eq!(qs::<i64>(&mut con, &["INCRBY", "n", "123"]), 123);
    assert_eq!(qs::<i64>(&mut con, &["APPEND", "n", "4"]), 4);
    assert_eq!(qs::<i64>(&mut con, &["INCR", "n"]), 1235);
}

#[test]
fn growth_past_proto_max_bulk_len_is_refused() {
    let server = Server::start();
    let mut con = server.conn();
    // 1 MiB keeps the test light; Redis's check is the same at the default 512 MiB.
    assert_eq!(
        qs::<String>(&mut con, &["CONFIG", "SET", "proto-max-bulk-len", "1mb"]),
        "OK"
    );
    let limit: i64 = 1024 * 1024;
    assert_eq!(
        qs::<i64>(&mut con, &["SETRANGE", "k", &(limit - 1).to_string(), "x"]),
        limit
    );
    assert_eq!(
        err(&mut con, &["SETRANGE", "k", &limit.to_string(), "x"]),
        TOO_BIG
    );
    assert_eq!(err(&mut con, &["APPEND", "k", "x"]), TOO_BIG);
    assert_eq!(qs::<i64>(&mut con, &["STRLEN", "k"]), limit);
    assert_eq!(
        err(&mut con, &["SETRANGE", "new", &limit.to_string(), "x"]),
        TOO_BIG
    );
    assert_eq!(
        err(&mut con, &["SETRANGE", "new", "9223372036854775807", "x"]),
        TOO_BIG
    );
    assert!(!exists(&mut con, "new"));
}

#[test]
fn getrange_and_substr_clamp_like_redis() {
    let server = Server::start();
    let mut con = server.conn();
    assert_eq!(qs::<String>(&mut con, &["SET", "s", "Hello World"]), "OK");
    let cases = [
        ("0", "4", "Hello"),
        ("-5", "-1", "World"),
        ("0", "-1", "Hello World"),
        ("-1", "-5", ""),
        ("5", "3", ""),
        ("-100", "100", "Hello World"),
        ("-100", "-50", "H"), // both clamp to 0, as in Redis
        ("100", "200", ""),
        ("0", "0", "H"),
        ("10", "10", "d"),
        ("-1", "0", ""),
        ("-9223372036854775808", "9223372036854775807", "Hello World"),
    ];
    for command in ["GETRANGE", "SUBSTR"] {
        for (start, end, expected) in cases {
            assert_eq!(
                qs::<String>(&mut con, &[command, "s", start, end]),
                expected,
                "{command} {start} {end}"
            );
        }
        assert_eq!(qs::<String>(&mut con, &[command, "missing", "0", "-1"]), "");
        assert_eq!(err(&mut con, &[command, "s", "a", "1"]), NOT_INTEGER);
        assert_eq!(err(&mut con, &[command, "s", "0", "1.0"]), NOT_INTEGER);
        // Indexes are checked before the key is looked up.
        assert_eq!(err(&mut con, &[command, "missing", "x", "1"]), NOT_INTEGER);
    }
    assert_eq!(qs::<String>(&mut con, &["SET", "e", ""]), "OK");
    assert_eq!(qs::<String>(&mut con, &["GETRANGE", "e", "0", "-1"]), "");
    assert_eq!(qs::<String>(&mut con, &["GETRANGE", "e", "-1", "0"]), "");
}

#[test]
fn setrange_pads_and_overwrites() {
    let server = Server::start();
    let mut con = server.conn();
    assert_eq!(qs::<String>(&mut con, &["SET", "k", "Hello World"]), "OK");
    assert_eq!(qs::<i64>(&mut con, &["SETRANGE", "k", "6", "Redis"]), 11);
    assert_eq!(get(&mut con, "k").as_deref(), Some("Hello Redis"));
    assert_eq!(qs::<i64>(&mut con, &["SETRANGE", "k", "13", "!"]), 14);
    assert_eq!(
        qs::<Vec<u8>>(&mut con, &["GET", "k"]),
        b"Hello Redis\x00\x00!"
    );
    // Writing nothing: the length, and no key created.
    assert_eq!(qs::<i64>(&mut con, &["SETRANGE", "k", "100", ""]), 14);
    assert_eq!(qs::<i64>(&mut con, &["SETRANGE", "new", "0", ""]), 0);
    assert_eq!(
        qs::<i64>(&mut con, &["SETRANGE", "new", "9223372036854775807", ""]),
        0
    );
    assert!(!exists(&mut con, "new"));
    assert_eq!(qs::<i64>(&mut con, &["SETRANGE", "new", "3", "ab"]), 5);
    assert_eq!(qs::<Vec<u8>>(&mut con, &["GET", "new"]), b"\x00\x00\x00ab");
    assert_eq!(
        err(&mut con, &["SETRANGE", "k", "-1", "x"]),
        "ERR offset is out of range"
    );
    assert_eq!(
        err(&mut con, &["SETRANGE", "k", "-1", ""]),
        "ERR offset is out of range"
    );
    assert_eq!(err(&mut con, &["SETRANGE", "k", "x", "x"]), NOT_INTEGER);
    // SETRANGE keeps the TTL.
    assert_eq!(qs::<String>(&mut con, &["SETEX", "t", "100", "abc"]), "OK");
    assert_eq!(qs::<i64>(&mut con, &["SETRANGE", "t", "1", "X"]), 3);
    assert_eq!(get(&mut con, "t").as_deref(), Some("aXc"));
    assert_eq!(expires(&mut con), 1);
}

#[test]
fn incr_decr_family() {
    let server = Server::start();
    let mut con = server.conn();
    assert_eq!(qs::<i64>(&mut con, &["INCR", "n"]), 1);
    assert_eq!(qs::<i64>(&mut con, &["INCRBY", "n", "10"]), 11);
    assert_eq!(qs::<i64>(&mut con, &["DECR", "n"]), 10);
    assert_eq!(qs::<i64>(&mut con, &["DECRBY", "n", "-5"]), 15);
    assert_eq!(qs::<i64>(&mut con, &["INCRBY", "n", "-20"]), -5);
    assert_eq!(get(&mut con, "n").as_deref(), Some("-5"));
    assert_eq!(qs::<i64>(&mut con, &["DECR", "fresh"]), -1);
    assert_eq!(qs::<i64>(&mut con, &["DECRBY", "fresh2", "7"]), -7);

    // The bounds of a 64-bit integer.
    let max = i64::MAX.to_string();
    let min = i64::MIN.to_string();
    assert_eq!(qs::<String>(&mut con, &["SET", "n", &max]), "OK");
    let overflow = "ERR increment or decrement would overflow";
    assert_eq!(err(&mut con, &["INCR", "n"]), overflow);
    assert_eq!(err(&mut con, &["INCRBY", "n", "1"]), overflow);
    assert_eq!(err(&mut con, &["DECRBY", "n", "-1"]), overflow);
    assert_eq!(qs::<i64>(&mut con, &["INCRBY", "n", &min]), -1);
    assert_eq!(qs::<String>(&mut con, &["SET", "n", &min]), "OK");
    assert_eq!(err(&mut con, &["DECR", "n"]), overflow);
    assert_eq!(err(&mut con, &["INCRBY", "n", "-1"]), overflow);
    assert_eq!(qs::<i64>(&mut con, &["INCRBY", "n", &max]), -1);
    assert_eq!(
        err(&mut con, &["DECRBY", "n", &min]),
        "ERR decrement would overflow"
    );
    assert_eq!(
        get(&mut con, "n").as_deref(),
        Some("-1"),
        "failures write nothing"
    );

    // Stored values must be canonical integers, as Redis's string2ll wants.
    for bad in [
        "",
        " 1",
        "1 ",
        "01",
        "+1",
        "-0",
        "1.0",
        "1e3",
        "abc",
        "0x10",
        "9223372036854775808",
        "-9223372036854775809",
        "1\u{0}",
    ] {
        assert_eq!(qs::<String>(&mut con, &["SET", "bad", bad]), "OK");
        assert_eq!(err(&mut con, &["INCR", "bad"]), NOT_INTEGER, "{bad:?}");
        assert_eq!(err(&mut con, &["DECRBY", "bad", "1"]), NOT_INTEGER);
        assert_eq!(get(&mut con, "bad").as_deref(), Some(bad));
    }
    for bad in ["", "a", "1.5", " 1", "99999999999999999999"] {
        assert_eq!(err(&mut con, &["INCRBY", "n", bad]), NOT_INTEGER, "{bad:?}");
        assert_eq!(err(&mut con, &["DECRBY", "n", bad]), NOT_INTEGER, "{bad:?}");
    }
    // The increment is checked before the stored value.
    assert_eq!(err(&mut con, &["INCRBY", "bad", "x"]), NOT_INTEGER);

    // INCR keeps the TTL.
    assert_eq!(qs::<String>(&mut con, &["SETEX", "t", "100", "41"]), "OK");
    assert_eq!(qs::<i64>(&mut con, &["INCR", "t"]), 42);
    assert_eq!(expires(&mut con), 1);
    assert_eq!(get(&mut con, "t").as_deref(), Some("42"));
}

#[test]
fn incrbyfloat_rounds_and_prints_like_redis() {
    let server = Server::start();
    let mut con = server.conn();
    // Redis computes in x87 long double and prints %.17Lf without trailing zeros.
    let cases = [
        (Some("10.50"), "0.1", "10.6"),
        (Some("0.1"), "0.2", "0.3"),
        (Some("3.0e3"), "200", "3200"),
        (Some("5.0e3"), "0", "5000"),
        (None, "1e20", "100000000000000000000"),
        (None, "-0.5", "-0.5"),
        (Some("1"), "-1", "0"),
        (None, "1e-18", "0"),
        (None, "0x10", "16"),
        (None, ".5", "0.5"),
        (None, "+7", "7"),
        (Some("9223372036854775807"), "1", "9223372036854775808"),
        (Some("1.2345678901234567"), "0", "1.2345678901234567"),
        (None, "1e30", "1000000000000000000024696061952"),
    ];
    for (i, (start, by, expected)) in cases.iter().enumerate() {
        let key = format!("f{i}");
        if let Some(start) = start {
            assert_eq!(qs::<String>(&mut con, &["SET", &key, start]), "OK");
        }
        assert_eq!(
            qs::<String>(&mut con, &["INCRBYFLOAT", &key, by]),
            *expected,
            "{start:?} + {by}"
        );
        assert_eq!(get(&mut con, &key).as_deref(), Some(*expected));
    }
    // An integral result is an integer for INCR afterwards.
    assert_eq!(qs::<i64>(&mut con, &["INCR", "f2"]), 3201);

    for bad in [
        "abc", "", " 1", "1 ", "1e", "nan", "1e5000", "1,5", "1\u{0}",
    ] {
        assert_eq!(
            err(&mut con, &["INCRBYFLOAT", "f0", bad]),
            NOT_FLOAT,
            "{bad:?}"
        );
        assert_eq!(qs::<String>(&mut con, &["SET", "bad", bad]), "OK");
        assert_eq!(
            err(&mut con, &["INCRBYFLOAT", "bad", "1"]),
            NOT_FLOAT,
            "{bad:?}"
        );
    }
    let nan_inf = "ERR increment would produce NaN or Infinity";
    assert_eq!(err(&mut con, &["INCRBYFLOAT", "f0", "inf"]), nan_inf);
    assert_eq!(err(&mut con, &["INCRBYFLOAT", "f0", "-Infinity"]), nan_inf);
    assert_eq!(qs::<String>(&mut con, &["SET", "big", "1e4932"]), "OK");
    assert_eq!(err(&mut con, &["INCRBYFLOAT", "big", "1e4932"]), nan_inf);
    assert_eq!(
        get(&mut con, "f0").as_deref(),
        Some("10.6"),
        "failures write nothing"
    );

    // INCRBYFLOAT keeps the TTL.
    assert_eq!(qs::<String>(&mut con, &["SETEX", "t", "100", "1"]), "OK");
    assert_eq!(qs::<String>(&mut con, &["INCRBYFLOAT", "t", "0.5"]), "1.5");
    assert_eq!(expires(&mut con), 1);
}

/// `[[a_start, a_end], [b_start, b_end], (len)]` as the redis crate sees an LCS match.
fn lcs_match(a: (i64, i64), b: (i64, i64), len: Option<i64>) -> Value {
    let pair = |(s, e): (i64, i64)| Value::Array(vec![Value::Int(s), Value::Int(e)]);
    let mut items = vec![pair(a), pair(b)];
    items.extend(len.map(Value::Int));
    Value::Array(items)
}

fn lcs_idx(matches: Vec<Value>, len: i64) -> Value {
    Value::Array(vec![
        Value::BulkString(b"matches".to_vec()),
        Value::Array(matches),
        Value::BulkString(b"len".to_vec()),
        Value::Int(len),
    ])
}

#[test]
fn lcs_as_in_the_redis_docs() {
    let server = Server::start();
    let mut con = server.conn();
    assert_eq!(
        qs::<String>(&mut con, &["MSET", "key1", "ohmytext", "key2", "mynewtext"]),
        "OK"
    );
    assert_eq!(qs::<String>(&mut con, &["LCS", "key1", "key2"]), "mytext");
    assert_eq!(qs::<i64>(&mut con, &["LCS", "key1", "key2", "LEN"]), 6);
    assert_eq!(
        qs::<Value>(&mut con, &["LCS", "key1", "key2", "IDX"]),
        lcs_idx(
            vec![
                lcs_match((4, 7), (5, 8), None),
                lcs_match((2, 3), (0, 1), None)
            ],
            6
        )
    );
    assert_eq!(
        qs::<Value>(
            &mut con,
            &[
                "LCS",
                "key1",
                "key2",
                "IDX",
                "MINMATCHLEN",
                "4",
                "WITHMATCHLEN"
            ]
        ),
        lcs_idx(vec![lcs_match((4, 7), (5, 8), Some(4))], 6)
    );
    assert_eq!(
        qs::<Value>(&mut con, &["lcs", "key1", "key2", "idx", "withmatchlen"]),
        lcs_idx(
            vec![
                lcs_match((4, 7), (5, 8), Some(4)),
                lcs_match((2, 3), (0, 1), Some(2))
            ],
            6
        )
    );
    // A negative MINMATCHLEN means no minimum.
    assert_eq!(
        qs::<Value>(
            &mut con,
            &["LCS", "key1", "key2", "IDX", "MINMATCHLEN", "-3"]
        ),
        qs::<Value>(&mut con, &["LCS", "key1", "key2", "IDX"])
    );
    // Missing keys are empty strings.
    assert_eq!(qs::<String>(&mut con, &["LCS", "key1", "missing"]), "");
    assert_eq!(
        qs::<i64>(&mut con, &["LCS", "missing", "missing2", "LEN"]),
        0
    );
    assert_eq!(
        qs::<Value>(&mut con, &["LCS", "missing", "key2", "IDX"]),
        lcs_idx(vec![], 0)
    );
    // Matches that reach the first byte of either string.
    assert_eq!(
        qs::<String>(&mut con, &["MSET", "a", "aaaa", "b", "aa"]),
        "OK"
    );
    assert_eq!(
        qs::<Value>(&mut con, &["LCS", "a", "b", "IDX", "WITHMATCHLEN"]),
        lcs_idx(vec![lcs_match((2, 3), (0, 1), Some(2))], 2)
    );
    assert_eq!(
        qs::<Value>(&mut con, &["LCS", "a", "a", "IDX", "WITHMATCHLEN"]),
        lcs_idx(vec![lcs_match((0, 3), (0, 3), Some(4))], 4)
    );

    assert_eq!(
        err(&mut con, &["LCS", "key1", "key2", "IDX", "LEN"]),
        "ERR If you want both the length and indexes, please just use IDX."
    );
    assert_eq!(err(&mut con, &["LCS", "key1", "key2", "BOGUS"]), SYNTAX);
    assert_eq!(
        err(&mut con, &["LCS", "key1", "key2", "MINMATCHLEN"]),
        SYNTAX
    );
    assert_eq!(
        err(&mut con, &["LCS", "key1", "key2", "MINMATCHLEN", "x"]),
        NOT_INTEGER
    );
    assert_eq!(
        err(&mut con, &["LCS", "key1"]),
        "ERR wrong number of arguments for 'lcs' command"
    );
}

#[test]
fn lcs_table_is_bounded_by_proto_max_bulk_len() {
    let server = Server::start();
    let mut con = server.conn();
    assert_eq!(
        qs::<String>(&mut con, &["CONFIG", "SET", "proto-max-bulk-len", "1mb"]),
        "OK"
    );
    let long = "a".repeat(1000);
    assert_eq!(
        qs::<String>(&mut con, &["MSET", "a", &long, "b", &long]),
        "OK"
    );
    // (1001 * 1001) four-byte cells exceed 1 MiB.
    assert_eq!(
        err(&mut con, &["LCS", "a", "b", "LEN"]),
        "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"
    );
    assert_eq!(qs::<i64>(&mut con, &["LCS", "a", "missing", "LEN"]), 0);
}

#[test]
fn lcs_idx_is_a_map_in_resp3() {
    let server = Server::start();
    let mut raw = server.raw();
    assert!(!raw.cmd(&["HELLO", "3"]).is_error());
    assert_eq!(
        raw.cmd(&["MSET", "key1", "ohmytext", "key2", "mynewtext"]),
        Reply::ok()
    );
    let pair = |s: i64, e: i64| Reply::Array(vec![Reply::Int(s), Reply::Int(e)]);
    assert_eq!(
        raw.cmd(&["LCS", "key1", "key2", "IDX", "WITHMATCHLEN"]),
        Reply::Map(vec![
            (
                Reply::bulk("matches"),
                Reply::Array(vec![
                    Reply::Array(vec![pair(4, 7), pair(5, 8), Reply::Int(4)]),
                    Reply::Array(vec![pair(2, 3), pair(0, 1), Reply::Int(2)]),
                ])
            ),
            (Reply::bulk("len"), Reply::Int(6)),
        ])
    );
    assert_eq!(raw.cmd(&["LCS", "key1", "key2"]), Reply::bulk("mytext"));
    assert_eq!(raw.cmd(&["LCS", "key1", "key2", "LEN"]), Reply::Int(6));
    // Nil replies of the string commands are RESP3 nulls.
    assert_eq!(raw.cmd(&["GETDEL", "missing"]), Reply::Null);
    assert_eq!(
        raw.cmd(&["MGET", "key1", "missing"]),
        Reply::Array(vec![Reply::bulk("ohmytext"), Reply::Null])
    );
}

#[test]
fn set_options_follow_redis_parsing() {
    let server = Server::start();
    let mut con = server.conn();
    // Repeating an option is allowed; conflicting ones are not.
    for ok in [
        &["SET", "k", "v", "EX", "10", "EX", "20"][..],
        &["SET", "k", "v", "KEEPTTL", "KEEPTTL"],
        &["SET", "k", "v", "XX", "XX"],
    ] {
        assert_eq!(qs::<String>(&mut con, ok), "OK", "{ok:?}");
    }
    for bad in [
        &["SET", "k", "v", "PERSIST"][..],
        &["SET", "k", "v", "EX", "abc", "BOGUS"],
        &["SET", "k", "v", "EX", "0", "PX", "10"],
    ] {
        assert_eq!(err(&mut con, bad), SYNTAX, "{bad:?}");
    }
}

#[test]
fn command_table_rows() {
    let server = Server::start();
    let mut raw = server.raw();
    // name, arity, a flag it must have, first key, last key, step
    let rows: &[(&str, i64, &str, i64, i64, i64)] = &[
        ("setnx", 3, "fast", 1, 1, 1),
        ("setex", 4, "denyoom", 1, 1, 1),
        ("psetex", 4, "write", 1, 1, 1),
        ("getex", -2, "fast", 1, 1, 1),
        ("getdel", 2, "write", 1, 1, 1),
        ("getset", 3, "denyoom", 1, 1, 1),
        ("mget", -2, "readonly", 1, -1, 1),
        ("mset", -3, "denyoom", 1, -1, 2),
        ("msetnx", -3, "write", 1, -1, 2),
        ("append", 3, "denyoom", 1, 1, 1),
        ("strlen", 2, "readonly", 1, 1, 1),
        ("getrange", 4, "readonly", 1, 1, 1),
        ("substr", 4, "readonly", 1, 1, 1),
        ("setrange", 4, "denyoom", 1, 1, 1),
        ("incr", 2, "fast", 1, 1, 1),
        ("decr", 2, "fast", 1, 1, 1),
        ("incrby", 3, "fast", 1, 1, 1),
        ("decrby", 3, "fast", 1, 1, 1),
        ("incrbyfloat", 3, "fast", 1, 1, 1),
        ("lcs", -3, "readonly", 1, 2, 1),
    ];
    for &(name, arity, flag, first, last, step) in rows {
        let info = raw.cmd(&["COMMAND", "INFO", name]);
        let row = &info.items()[0];
        let fields = row.items();
        assert_eq!(fields[0].text(), name);
        assert_eq!(fields[1].int(), arity, "{name}");
        let flags: Vec<String> = fields[2].items().iter().map(Reply::text).collect();
        assert!(flags.contains(&flag.to_string()), "{name}: {flags:?}");
        assert_eq!(
            (fields[3].int(), fields[4].int(), fields[5].int()),
            (first, last, step),
            "{name}"
        );
        let categories: Vec<String> = fields[6].items().iter().map(Reply::text).collect();
        assert!(categories.contains(&"@string".to_string()), "{name}");
    }
    let keys = raw.cmd(&["COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"]);
    assert_eq!(keys, Reply::Array(vec![Reply::bulk("a"), Reply::bulk("b")]));
}

#[test]
fn write_commands_do_not_count_keyspace_hits_or_misses() {
    // The figures of redis-server 7.0 for the same commands: writes look keys up without
    // counting; GET, and GETSET as a read, count.
    let server = Server::start();
    let mut con = server.conn();
    let stats = |con: &mut Connection| {
        let info: String = redis::cmd("INFO").arg("stats").query(con).unwrap();
        let field = |name: &str| common::info_field(&info, name).unwrap();
        (field("keyspace_hits"), field("keyspace_misses"))
    };
    for words in [
        &["SET", "n", "1"][..],
        &["INCR", "n"],
        &["INCR", "m"],
        &["APPEND", "n", "x"],
        &["SETRANGE", "n", "0", "y"],
        &["INCRBYFLOAT", "f", "1"],
    ] {
        let _: redis::Value = common::cmd(words).query(&mut con).unwrap();
    }
    assert_eq!(stats(&mut con), ("0".to_string(), "0".to_string()));
    for words in [&["GET", "n"][..], &["GET", "nope"], &["GETSET", "n", "2"]] {
        let _: redis::Value = common::cmd(words).query(&mut con).unwrap();
    }
    assert_eq!(stats(&mut con), ("2".to_string(), "1".to_string()));
}
