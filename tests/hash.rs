//! Hash commands, black box: HSET and friends on small and large hashes (past 128 fields or
//! with values over 64 bytes), binary safety, HINCRBY(FLOAT), HRANDFIELD and HSCAN reply
//! shapes, Redis 7.4 field expiry (HEXPIRE family, HTTL family, HPERSIST), WRONGTYPE, and
//! persistence across restarts.

mod common;

use std::collections::{HashMap, HashSet};

use common::{cmd, query_err, wait_until, RawConn, Reply, Server, IO_TIMEOUT};

fn bulks(words: &[&str]) -> Reply {
    Reply::Array(words.iter().map(Reply::bulk).collect())
}

fn ints(values: &[i64]) -> Reply {
    Reply::Array(values.iter().map(|&v| Reply::Int(v)).collect())
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// HGETALL as a map (order-free comparison).
fn hgetall(conn: &mut redis::Connection, key: &str) -> HashMap<Vec<u8>, Vec<u8>> {
    redis::cmd("HGETALL").arg(key).query(conn).unwrap()
}

/// Fills `key` with `n` fields `f<i>` = `v<i>`, in one HSET.
fn fill(conn: &mut RawConn, key: &str, n: usize, value_len: usize) {
    let mut args = vec!["HSET".to_string(), key.to_string()];
    for i in 0..n {
        args.push(format!("f{i}"));
        let v = format!("v{i}");
        args.push(format!(
            "{v}{}",
            "x".repeat(value_len.saturating_sub(v.len()))
        ));
    }
    assert_eq!(conn.cmd(&args), Reply::Int(n as i64));
}

#[test]
fn set_get_and_the_read_commands() {
    let server = Server::start();
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["HSET", "h", "a", "1", "b", "2"]), Reply::Int(2));
    // Overwriting counts nothing new; a new field counts once.
    assert_eq!(conn.cmd(&["HSET", "h", "a", "10", "c", "3"]), Reply::Int(1));
    assert_eq!(conn.cmd(&["HGET", "h", "a"]), Reply::bulk("10"));
    assert_eq!(conn.cmd(&["HGET", "h", "zz"]), Reply::NilBulk);
    assert_eq!(conn.cmd(&["HGET", "nokey", "a"]), Reply::NilBulk);
    assert_eq!(
        conn.cmd(&["HMGET", "h", "a", "zz", "c"]),
        Reply::Array(vec![Reply::bulk("10"), Reply::NilBulk, Reply::bulk("3")])
    );
    assert_eq!(
        conn.cmd(&["HMGET", "nokey", "a", "b"]),
        Reply::Array(vec![Reply::NilBulk, Reply::NilBulk])
    );
    assert_eq!(conn.cmd(&["HLEN", "h"]), Reply::Int(3));
    assert_eq!(conn.cmd(&["HLEN", "nokey"]), Reply::Int(0));
    assert_eq!(conn.cmd(&["HEXISTS", "h", "b"]), Reply::Int(1));
    assert_eq!(conn.cmd(&["HEXISTS", "h", "zz"]), Reply::Int(0));
    assert_eq!(conn.cmd(&["HEXISTS", "nokey", "b"]), Reply::Int(0));
    assert_eq!(conn.cmd(&["HSTRLEN", "h", "a"]), Reply::Int(2));
    assert_eq!(conn.cmd(&["HSTRLEN", "h", "zz"]), Reply::Int(0));
    // Small hashes keep insertion order, as Redis's listpack does.
    assert_eq!(conn.cmd(&["HKEYS", "h"]), bulks(&["a", "b", "c"]));
    assert_eq!(conn.cmd(&["HVALS", "h"]), bulks(&["10", "2", "3"]));
    assert_eq!(
        conn.cmd(&["HGETALL", "h"]),
        bulks(&["a", "10", "b", "2", "c", "3"])
    );
    assert_eq!(conn.cmd(&["HKEYS", "nokey"]), Reply::Array(vec![]));
    assert_eq!(conn.cmd(&["HVALS", "nokey"]), Reply::Array(vec![]));
    assert_eq!(conn.cmd(&["HGETALL", "nokey"]), Reply::Array(vec![]));

    assert_eq!(conn.cmd(&["HSETNX", "h", "a", "x"]), Reply::Int(0));
    assert_eq!(conn.cmd(&["HGET", "h", "a"]), Reply::bulk("10"));
    assert_eq!(conn.cmd(&["HSETNX", "h", "d", "4"]), Reply::Int(1));
    assert_eq!(conn.cmd(&["HSETNX", "new", "f", "v"]), Reply::Int(1));
    assert_eq!(conn.cmd(&["HMSET", "h", "e", "5", "a", "11"]), Reply::ok());
    assert_eq!(conn.cmd(&["HGET", "h", "a"]), Reply::bulk("11"));
    assert_eq!(conn.cmd(&["HLEN", "h"]), Reply::Int(5));

    // RESP3: HGETALL is a map, missing values are nulls.
    assert!(!conn.cmd(&["HELLO", "3"]).is_error());
    assert_eq!(
        conn.cmd(&["HGETALL", "new"]),
        Reply::Map(vec![(Reply::bulk("f"), Reply::bulk("v"))])
    );
    assert_eq!(conn.cmd(&["HGETALL", "nokey"]), Reply::Map(vec![]));
    assert_eq!(conn.cmd(&["HGET", "h", "zz"]), Reply::Null);
}

#[test]
fn binary_and_empty_fields_and_values() {
    let server = Server::start();
    let mut con = server.conn();
    let name: &[u8] = b"\x00\xff\r\n field";
    let value: &[u8] = b"\x00\x01\x02\r\n\xfe";
    let n: i64 = redis::cmd("HSET")
        .arg("h")
        .arg(name)
        .arg(value)
        .arg("")
        .arg("empty name")
        .arg("empty value")
        .arg("")
        .query(&mut con)
        .unwrap();
    assert_eq!(n, 3);
    let got: Vec<u8> = redis::cmd("HGET")
        .arg("h")
        .arg(name)
        .query(&mut con)
        .unwrap();
    assert_eq!(got, value);
    let got: Vec<u8> = redis::cmd("HGET").arg("h").arg("").query(&mut con).unwrap();
    assert_eq!(got, b"empty name");
    let got: Vec<u8> = redis::cmd("HGET")
        .arg("h")
        .arg("empty value")
        .query(&mut con)
        .unwrap();
    assert_eq!(got, b"");
    let len: i64 = redis::cmd("HSTRLEN")
        .arg("h")
        .arg("empty value")
        .query(&mut con)
        .unwrap();
    assert_eq!(len, 0);
    let all = hgetall(&mut con, "h");
    assert_eq!(all.len(), 3);
    assert_eq!(all[name], value);
    let exists: i64 = redis::cmd("HEXISTS")
        .arg("h")
        .arg("")
        .query(&mut con)
        .unwrap();
    assert_eq!(exists, 1);
}

#[test]
fn hdel_removes_fields_and_the_emptied_key() {
    let server = Server::start();
    let mut conn = server.raw();
    conn.cmd(&["HSET", "h", "a", "1", "b", "2", "c", "3"]);
    assert_eq!(conn.cmd(&["HDEL", "h", "a", "zz", "a"]), Reply::Int(1));
    assert_eq!(conn.cmd(&["HDEL", "nokey", "a"]), Reply::Int(0));
    assert_eq!(conn.cmd(&["HLEN", "h"]), Reply::Int(2));
    assert_eq!(conn.cmd(&["HDEL", "h", "b", "c"]), Reply::Int(2));
    assert_eq!(conn.cmd(&["EXISTS", "h"]), Reply::Int(0));
    // A hash emptied in the same pipeline as its creation leaves nothing behind either.
    conn.cmd(&["HSET", "h", "x", "1"]);
    assert_eq!(conn.cmd(&["HDEL", "h", "x"]), Reply::Int(1));
    assert_eq!(conn.cmd(&["DBSIZE"]), Reply::Int(0));
}

#[test]
fn errors_match_redis() {
    let server = Server::start();
    let mut conn = server.raw();
    let arity = |c: &str| Reply::Error(format!("ERR wrong number of arguments for '{c}' command"));
    assert_eq!(conn.cmd(&["HSET", "h", "a"]), arity("hset"));
    assert_eq!(conn.cmd(&["HSET", "h", "a", "1", "b"]), arity("hset"));
    assert_eq!(conn.cmd(&["HMSET", "h", "a", "1", "b"]), arity("hmset"));
    assert_eq!(conn.cmd(&["HGET", "h"]), arity("hget"));
    assert_eq!(conn.cmd(&["HSETNX", "h", "a"]), arity("hsetnx"));
    assert_eq!(
        conn.cmd(&["HEXPIRE", "h", "10", "FIELDS", "1"]),
        arity("hexpire")
    );
    assert_eq!(conn.cmd(&["HTTL", "h", "FIELDS", "1"]), arity("httl"));
    assert_eq!(conn.cmd(&["EXISTS", "h"]), Reply::Int(0));

    conn.cmd(&["SET", "s", "string"]);
    let wrongtype =
        Reply::error("WRONGTYPE Operation against a key holding the wrong kind of value");
    let cases: &[&[&str]] = &[
        &["HSET", "s", "a", "1"],
        &["HSETNX", "s", "a", "1"],
        &["HMSET", "s", "a", "1"],
        &["HGET", "s", "a"],
        &["HMGET", "s", "a"],
        &["HGETALL", "s"],
        &["HDEL", "s", "a"],
        &["HEXISTS", "s", "a"],
        &["HLEN", "s"],
        &["HKEYS", "s"],
        &["HVALS", "s"],
        &["HSTRLEN", "s", "a"],
        &["HINCRBY", "s", "a", "1"],
        &["HINCRBYFLOAT", "s", "a", "1"],
        &["HRANDFIELD", "s"],
        &["HRANDFIELD", "s", "2"],
        &["HSCAN", "s", "0"],
        // The type is checked before the other arguments, as in Redis.
        &["HEXPIRE", "s", "notanumber", "FIELDS", "1", "a"],
        &["HPEXPIREAT", "s", "1", "FIELDS", "1", "a"],
        &["HTTL", "s", "NOTFIELDS", "1", "a"],
        &["HPTTL", "s", "FIELDS", "1", "a"],
        &["HEXPIRETIME", "s", "FIELDS", "1", "a"],
        &["HPEXPIRETIME", "s", "FIELDS", "1", "a"],
        &["HPERSIST", "s", "FIELDS", "1", "a"],
    ];
    for c in cases {
        assert_eq!(conn.cmd(c), wrongtype, "{c:?}");
    }
    assert_eq!(conn.cmd(&["GET", "s"]), Reply::bulk("string"));
}

#[test]
fn hincrby_and_overflow() {
    let server = Server::start();
    let mut con = server.conn();
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["HINCRBY", "h", "n", "5"]), Reply::Int(5));
    assert_eq!(conn.cmd(&["HINCRBY", "h", "n", "-7"]), Reply::Int(-2));
    assert_eq!(conn.cmd(&["HGET", "h", "n"]), Reply::bulk("-2"));
    conn.cmd(&[
        "HSET",
        "h",
        "max",
        "9223372036854775807",
        "min",
        "-9223372036854775808",
    ]);
    let overflow = "ERR increment or decrement would overflow";
    assert_eq!(
        query_err(&mut con, &cmd(&["HINCRBY", "h", "max", "1"])),
        overflow
    );
    assert_eq!(
        query_err(&mut con, &cmd(&["HINCRBY", "h", "min", "-1"])),
        overflow
    );
    assert_eq!(
        conn.cmd(&["HINCRBY", "h", "max", "-1"]),
        Reply::Int(i64::MAX - 1)
    );
    assert_eq!(
        conn.cmd(&["HGET", "h", "min"]),
        Reply::bulk("-9223372036854775808")
    );
    conn.cmd(&["HSET", "h", "text", "abc", "spaced", " 1", "plus", "+1"]);
    for field in ["text", "spaced", "plus"] {
        assert_eq!(
            query_err(&mut con, &cmd(&["HINCRBY", "h", field, "1"])),
            "ERR hash value is not an integer",
            "{field}"
        );
    }
    for bad in ["abc", "1.5", "9223372036854775808", ""] {
        assert_eq!(
            query_err(&mut con, &cmd(&["HINCRBY", "h", "n", bad])),
            "ERR value is not an integer or out of range",
            "{bad:?}"
        );
    }
    // A bad increment is reported before the key's type.
    conn.cmd(&["SET", "s", "x"]);
    assert_eq!(
        query_err(&mut con, &cmd(&["HINCRBY", "s", "n", "x"])),
        "ERR value is not an integer or out of range"
    );
}

#[test]
fn hincrbyfloat_formats_like_redis() {
    let server = Server::start();
    let mut con = server.conn();
    let mut conn = server.raw();
    // The examples of Redis's HINCRBYFLOAT page.
    conn.cmd(&["HSET", "mykey", "field", "10.50"]);
    assert_eq!(
        conn.cmd(&["HINCRBYFLOAT", "mykey", "field", "0.1"]),
        Reply::bulk("10.6")
    );
    assert_eq!(
        conn.cmd(&["HINCRBYFLOAT", "mykey", "field", "-5"]),
        Reply::bulk("5.6")
    );
    conn.cmd(&["HSET", "mykey", "field", "5.0e3"]);
    assert_eq!(
        conn.cmd(&["HINCRBYFLOAT", "mykey", "field", "2.0e2"]),
        Reply::bulk("5200")
    );
    assert_eq!(conn.cmd(&["HGET", "mykey", "field"]), Reply::bulk("5200"));
    // Outputs checked against redis-server 7.0.15.
    let cases = [
        ("a", "0.1", "0.2", "0.3"),
        ("b", "1e5", "1", "100001"),
        ("c", "0", "1e-20", "0"),
        ("d", "0", "1e20", "100000000000000000000"),
        ("e", "0", "3.0e-5", "0.00003"),
        ("f", "+1", "1", "2"),
        ("g", "1", "-1", "0"),
    ];
    for (field, start, incr, expected) in cases {
        conn.cmd(&["HSET", "h", field, start]);
        assert_eq!(
            conn.cmd(&["HINCRBYFLOAT", "h", field, incr]),
            Reply::bulk(expected),
            "{start} + {incr}"
        );
    }
    assert_eq!(
        conn.cmd(&["HINCRBYFLOAT", "h", "new", "1.5"]),
        Reply::bulk("1.5")
    );
    let err = |c: &[&str]| query_err(&mut server.conn(), &cmd(c));
    assert_eq!(
        err(&["HINCRBYFLOAT", "h", "a", "abc"]),
        "ERR value is not a valid float"
    );
    assert_eq!(
        err(&["HINCRBYFLOAT", "h", "a", "nan"]),
        "ERR value is not a valid float"
    );
    assert_eq!(
        err(&["HINCRBYFLOAT", "h", "a", "inf"]),
        "ERR value is NaN or Infinity"
    );
    conn.cmd(&["HSET", "h", "word", "abc", "spaced", " 1", "inf", "inf"]);
    assert_eq!(
        err(&["HINCRBYFLOAT", "h", "word", "1"]),
        "ERR hash value is not a float"
    );
    assert_eq!(
        err(&["HINCRBYFLOAT", "h", "spaced", "1"]),
        "ERR hash value is not a float"
    );
    assert_eq!(
        err(&["HINCRBYFLOAT", "h", "inf", "1"]),
        "ERR increment would produce NaN or Infinity"
    );
    // HINCRBY on a float value ("0.3").
    assert_eq!(
        query_err(&mut con, &cmd(&["HINCRBY", "h", "a", "1"])),
        "ERR hash value is not an integer"
    );
}

#[test]
fn large_hashes_past_the_listpack_limits() {
    let server = Server::start();
    let mut conn = server.raw();
    let mut con = server.conn();
    // Past 128 fields.
    fill(&mut conn, "many", 300, 4);
    assert_eq!(conn.cmd(&["HLEN", "many"]), Reply::Int(300));
    assert_eq!(conn.cmd(&["HGET", "many", "f77"]), Reply::bulk("v77x"));
    assert_eq!(conn.cmd(&["HSTRLEN", "many", "f299"]), Reply::Int(4));
    let all = hgetall(&mut con, "many");
    assert_eq!(all.len(), 300);
    for i in 0..300 {
        assert!(all[format!("f{i}").as_bytes()].starts_with(format!("v{i}").as_bytes()));
    }
    let keys = conn.cmd(&["HKEYS", "many"]);
    let keys: HashSet<String> = keys.items().iter().map(Reply::text).collect();
    assert_eq!(keys.len(), 300);
    assert_eq!(conn.cmd(&["HVALS", "many"]).items().len(), 300);
    assert_eq!(conn.cmd(&["HSET", "many", "f1", "changed"]), Reply::Int(0));
    assert_eq!(conn.cmd(&["HGET", "many", "f1"]), Reply::bulk("changed"));
    assert_eq!(conn.cmd(&["HSETNX", "many", "f1", "again"]), Reply::Int(0));
    assert_eq!(
        conn.cmd(&["HINCRBY", "many", "counter", "3"]),
        Reply::Int(3)
    );
    assert_eq!(conn.cmd(&["HLEN", "many"]), Reply::Int(301));
    let fields: Vec<String> = (0..300).map(|i| format!("f{i}")).collect();
    let mut del = vec!["HDEL", "many"];
    del.extend(fields.iter().map(String::as_str));
    assert_eq!(conn.cmd(&del), Reply::Int(300));
    assert_eq!(conn.cmd(&["HGETALL", "many"]), bulks(&["counter", "3"]));
    assert_eq!(conn.cmd(&["HDEL", "many", "counter"]), Reply::Int(1));
    assert_eq!(conn.cmd(&["EXISTS", "many"]), Reply::Int(0));

    // One value over 64 bytes is enough to leave the inline form.
    let long = "L".repeat(200);
    conn.cmd(&["HSET", "wide", "a", "1", "b", &long]);
    assert_eq!(conn.cmd(&["HGET", "wide", "b"]), Reply::bulk(&long));
    assert_eq!(conn.cmd(&["HSTRLEN", "wide", "b"]), Reply::Int(200));
    assert_eq!(conn.cmd(&["HLEN", "wide"]), Reply::Int(2));
    let long_name = "N".repeat(100);
    conn.cmd(&["HSET", "wide", &long_name, "x"]);
    assert_eq!(conn.cmd(&["HGET", "wide", &long_name]), Reply::bulk("x"));
    assert_eq!(conn.cmd(&["HEXISTS", "wide", &long_name]), Reply::Int(1));
}

#[test]
fn hashes_persist_across_restarts() {
    let mut server = Server::start();
    {
        let mut conn = server.raw();
        conn.cmd(&["HSET", "small", "a", "1", "b", "\x00bin"]);
        fill(&mut conn, "large", 200, 80);
        conn.cmd(&["HINCRBYFLOAT", "large", "float", "2.5"]);
        conn.cmd(&["HDEL", "large", "f0"]);
    }
    server.restart();
    let mut conn = server.raw();
    assert_eq!(
        conn.cmd(&["HGETALL", "small"]),
        bulks(&["a", "1", "b", "\x00bin"])
    );
    assert_eq!(conn.cmd(&["HLEN", "large"]), Reply::Int(200));
    assert_eq!(conn.cmd(&["HGET", "large", "f0"]), Reply::NilBulk);
    assert_eq!(conn.cmd(&["HGET", "large", "float"]), Reply::bulk("2.5"));
    assert_eq!(conn.cmd(&["HSTRLEN", "large", "f199"]), Reply::Int(80));
    // And after a crash (SIGKILL), what was acknowledged is there.
    conn.cmd(&["HSET", "small", "c", "3"]);
    conn.cmd(&["HSET", "large", "f0", "back"]);
    drop(conn);
    server.crash_restart();
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["HGET", "small", "c"]), Reply::bulk("3"));
    assert_eq!(conn.cmd(&["HGET", "large", "f0"]), Reply::bulk("back"));
    assert_eq!(conn.cmd(&["HLEN", "large"]), Reply::Int(201));
}

/// Runs a whole HSCAN and returns every (field, value) pair it produced, in order.
fn scan_all(conn: &mut RawConn, key: &str, extra: &[&str]) -> Vec<(String, String)> {
    let mut cursor = "0".to_string();
    let mut out = Vec::new();
    let mut calls = 0;
    loop {
        let mut args = vec!["HSCAN", key, &cursor];
        args.extend_from_slice(extra);
        let reply = conn.cmd(&args);
        let items = reply.items();
        assert_eq!(items.len(), 2, "{reply:?}");
        let page = items[1].items();
        assert_eq!(page.len() % 2, 0);
        for pair in page.chunks(2) {
            out.push((pair[0].text(), pair[1].text()));
        }
        cursor = items[0].text();
        calls += 1;
        if cursor == "0" {
            break;
        }
        assert!(calls < 10_000, "HSCAN does not end");
    }
    out
}

#[test]
fn hscan_returns_every_field_exactly_once() {
    let server = Server::start();
    let mut conn = server.raw();
    fill(&mut conn, "big", 1000, 2);
    let all = scan_all(&mut conn, "big", &["COUNT", "7"]);
    let names: HashSet<&str> = all.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(all.len(), 1000, "a field came twice");
    assert_eq!(names.len(), 1000);
    for (f, v) in &all {
        assert_eq!(&f[1..], &v[1..], "{f} = {v}");
    }
    // The default COUNT takes several calls.
    let reply = conn.cmd(&["HSCAN", "big", "0"]);
    assert_ne!(reply.items()[0].text(), "0");
    // MATCH filters by field name: f1, f10..f19, f100..f199.
    let matched = scan_all(&mut conn, "big", &["MATCH", "f1*", "COUNT", "50"]);
    assert_eq!(matched.len(), 111);
    assert!(matched.iter().all(|(f, _)| f.starts_with("f1")));
    // NOVALUES (7.4): names only.
    let reply = conn.cmd(&["HSCAN", "big", "0", "COUNT", "2000", "NOVALUES"]);
    assert_eq!(reply.items()[0].text(), "0");
    assert_eq!(reply.items()[1].items().len(), 1000);

    // A small hash comes whole, with cursor 0.
    conn.cmd(&["HSET", "small", "a", "1", "b", "2", "ab", "3"]);
    assert_eq!(
        conn.cmd(&["HSCAN", "small", "0"]),
        Reply::Array(vec![
            Reply::bulk("0"),
            bulks(&["a", "1", "b", "2", "ab", "3"])
        ])
    );
    assert_eq!(
        conn.cmd(&["HSCAN", "small", "0", "match", "a*", "novalues"]),
        Reply::Array(vec![Reply::bulk("0"), bulks(&["a", "ab"])])
    );
    let empty = Reply::Array(vec![Reply::bulk("0"), Reply::Array(vec![])]);
    assert_eq!(conn.cmd(&["HSCAN", "nokey", "0"]), empty);
    // A missing key answers the empty scan before options are looked at, as in Redis.
    assert_eq!(conn.cmd(&["HSCAN", "nokey", "0", "BAD", "opt"]), empty);
    // Cursors parse as strtoul.
    assert_eq!(conn.cmd(&["HSCAN", "small", "-1"]).items()[0].text(), "0");
    for bad in ["abc", " 1", "18446744073709551616", "1x"] {
        assert_eq!(
            conn.cmd(&["HSCAN", "small", bad]),
            Reply::error("ERR invalid cursor"),
            "{bad:?}"
        );
    }
    let syntax = Reply::error("ERR syntax error");
    assert_eq!(conn.cmd(&["HSCAN", "small", "0", "COUNT", "0"]), syntax);
    assert_eq!(conn.cmd(&["HSCAN", "small", "0", "MATCH"]), syntax);
    assert_eq!(conn.cmd(&["HSCAN", "small", "0", "TYPE", "hash"]), syntax);
    assert_eq!(
        conn.cmd(&["HSCAN", "small", "0", "COUNT", "x"]),
        Reply::error("ERR value is not an integer or out of range")
    );
    // A huge COUNT reads everything in one call.
    let reply = conn.cmd(&["HSCAN", "big", "0", "COUNT", "9223372036854775807"]);
    assert_eq!(reply.items()[0].text(), "0");
    assert_eq!(reply.items()[1].items().len(), 2000);
}

#[test]
fn hrandfield_reply_shapes() {
    let server = Server::start();
    let mut conn = server.raw();
    conn.cmd(&["HSET", "h", "a", "1", "b", "2", "c", "3"]);
    let values: HashMap<&str, &str> = [("a", "1"), ("b", "2"), ("c", "3")].into();
    let field = conn.cmd(&["HRANDFIELD", "h"]).text();
    assert!(values.contains_key(field.as_str()));
    assert_eq!(conn.cmd(&["HRANDFIELD", "nokey"]), Reply::NilBulk);
    assert_eq!(
        conn.cmd(&["HRANDFIELD", "nokey", "3"]),
        Reply::Array(vec![])
    );
    assert_eq!(
        conn.cmd(&["HRANDFIELD", "nokey", "-3", "WITHVALUES"]),
        Reply::Array(vec![])
    );
    assert_eq!(conn.cmd(&["HRANDFIELD", "h", "0"]), Reply::Array(vec![]));
    assert_eq!(
        conn.cmd(&["HRANDFIELD", "h", "0", "withvalues"]),
        Reply::Array(vec![])
    );

    // Positive count: distinct fields, at most all of them.
    for count in [1, 2, 3, 10] {
        let reply = conn.cmd(&["HRANDFIELD", "h", &count.to_string()]);
        let got: Vec<String> = reply.items().iter().map(Reply::text).collect();
        let distinct: HashSet<&String> = got.iter().collect();
        assert_eq!(got.len(), count.min(3), "{got:?}");
        assert_eq!(distinct.len(), got.len(), "{got:?}");
        assert!(got.iter().all(|f| values.contains_key(f.as_str())));
    }
    // Negative count: exactly |count| fields, repeats allowed.
    let reply = conn.cmd(&["HRANDFIELD", "h", "-20"]);
    assert_eq!(reply.items().len(), 20);
    // RESP2 WITHVALUES: a flat array of field, value.
    let reply = conn.cmd(&["HRANDFIELD", "h", "-5", "WITHVALUES"]);
    assert_eq!(reply.items().len(), 10);
    for pair in reply.items().chunks(2) {
        assert_eq!(values[pair[0].text().as_str()], pair[1].text());
    }
    let reply = conn.cmd(&["HRANDFIELD", "h", "2", "WITHVALUES"]);
    assert_eq!(reply.items().len(), 4);

    // RESP3 WITHVALUES: an array of [field, value] pairs; without values, a flat array.
    conn.cmd(&["HELLO", "3"]);
    let reply = conn.cmd(&["HRANDFIELD", "h", "-4", "WITHVALUES"]);
    assert_eq!(reply.items().len(), 4);
    for pair in reply.items() {
        let pair = pair.items();
        assert_eq!(pair.len(), 2);
        assert_eq!(values[pair[0].text().as_str()], pair[1].text());
    }
    let reply = conn.cmd(&["HRANDFIELD", "h", "3", "WITHVALUES"]);
    assert_eq!(reply.items().len(), 3);
    assert!(matches!(reply.items()[0], Reply::Array(_)));
    let reply = conn.cmd(&["HRANDFIELD", "h", "2"]);
    assert!(matches!(reply.items()[0], Reply::Bulk(_)));
    assert_eq!(conn.cmd(&["HRANDFIELD", "nokey"]), Reply::Null);

    // Errors, with Redis's texts.
    assert_eq!(
        conn.cmd(&["HRANDFIELD", "h", "-9223372036854775808"]),
        Reply::error(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
        )
    );
    assert_eq!(
        conn.cmd(&["HRANDFIELD", "h", "-9223372036854775807", "WITHVALUES"]),
        Reply::error("ERR value is out of range")
    );
    assert_eq!(
        conn.cmd(&["HRANDFIELD", "h", "4611686018427387904", "WITHVALUES"]),
        Reply::error("ERR value is out of range")
    );
    assert_eq!(
        conn.cmd(&["HRANDFIELD", "h", "4611686018427387903", "WITHVALUES"])
            .items()
            .len(),
        3
    );
    assert_eq!(
        conn.cmd(&["HRANDFIELD", "h", "abc"]),
        Reply::error("ERR value is not an integer or out of range")
    );
    let syntax = Reply::error("ERR syntax error");
    assert_eq!(conn.cmd(&["HRANDFIELD", "h", "1", "WITHVALUE"]), syntax);
    assert_eq!(
        conn.cmd(&["HRANDFIELD", "h", "1", "WITHVALUES", "x"]),
        syntax
    );
}

#[test]
fn hrandfield_on_a_large_hash() {
    let server = Server::start();
    let mut conn = server.raw();
    fill(&mut conn, "big", 500, 2);
    for count in ["1", "5", "100", "200", "499", "500", "600"] {
        let reply = conn.cmd(&["HRANDFIELD", "big", count]);
        let got: Vec<String> = reply.items().iter().map(Reply::text).collect();
        let distinct: HashSet<&String> = got.iter().collect();
        let want = count.parse::<usize>().unwrap().min(500);
        assert_eq!(got.len(), want, "count {count}");
        assert_eq!(distinct.len(), want, "count {count}: repeats");
    }
    let reply = conn.cmd(&["HRANDFIELD", "big", "-1000", "WITHVALUES"]);
    assert_eq!(reply.items().len(), 2000);
    for pair in reply.items().chunks(2) {
        assert_eq!(&pair[0].text()[1..], &pair[1].text()[1..]);
    }
    // Many single picks reach many different fields.
    let mut seen = HashSet::new();
    for _ in 0..200 {
        seen.insert(conn.cmd(&["HRANDFIELD", "big"]).text());
    }
    assert!(seen.len() > 50, "only {} distinct fields", seen.len());
}

#[test]
fn field_expiry_codes_and_conditions() {
    let server = Server::start();
    let mut conn = server.raw();
    conn.cmd(&["HSET", "h", "a", "1", "b", "2", "c", "3"]);
    // Missing key: -2 for every field, for every command of the family.
    assert_eq!(
        conn.cmd(&["HEXPIRE", "nokey", "100", "FIELDS", "2", "a", "b"]),
        ints(&[-2, -2])
    );
    for c in ["HTTL", "HPTTL", "HEXPIRETIME", "HPEXPIRETIME", "HPERSIST"] {
        assert_eq!(
            conn.cmd(&[c, "nokey", "FIELDS", "1", "a"]),
            ints(&[-2]),
            "{c}"
        );
    }
    assert_eq!(conn.cmd(&["EXISTS", "nokey"]), Reply::Int(0));

    assert_eq!(
        conn.cmd(&["HEXPIRE", "h", "100", "FIELDS", "2", "a", "zz"]),
        ints(&[1, -2])
    );
    let ttl = conn.cmd(&["HTTL", "h", "FIELDS", "3", "a", "b", "zz"]);
    assert_eq!(ttl.items()[1..], [Reply::Int(-1), Reply::Int(-2)]);
    assert!((99..=100).contains(&ttl.items()[0].int()), "{ttl:?}");
    let pttl = conn.cmd(&["HPTTL", "h", "FIELDS", "1", "a"]).items()[0].int();
    assert!((99_000..=100_000).contains(&pttl), "{pttl}");

    // The conditions, with absolute times so that nothing depends on the clock.
    let t = unix_ms() + 1_000_000;
    let at = |d: i64| (t + d).to_string();
    // NX: only fields without a TTL.
    assert_eq!(
        conn.cmd(&["HPEXPIREAT", "h", &at(0), "FIELDS", "1", "a"]),
        ints(&[1])
    );
    assert_eq!(
        conn.cmd(&["HPEXPIREAT", "h", &at(10), "NX", "FIELDS", "2", "a", "b"]),
        ints(&[0, 1])
    );
    // XX: only fields with one.
    assert_eq!(conn.cmd(&["HPERSIST", "h", "FIELDS", "1", "b"]), ints(&[1]));
    assert_eq!(
        conn.cmd(&["HPEXPIREAT", "h", &at(0), "XX", "FIELDS", "2", "a", "b"]),
        ints(&[1, 0])
    );
    // GT: strictly later; a field without a TTL counts as never expiring.
    assert_eq!(
        conn.cmd(&["HPEXPIREAT", "h", &at(0), "gt", "FIELDS", "2", "a", "b"]),
        ints(&[0, 0])
    );
    assert_eq!(
        conn.cmd(&["HPEXPIREAT", "h", &at(1), "GT", "FIELDS", "1", "a"]),
        ints(&[1])
    );
    // LT: strictly earlier; a field without a TTL passes.
    assert_eq!(
        conn.cmd(&["HPEXPIREAT", "h", &at(1), "LT", "FIELDS", "2", "a", "b"]),
        ints(&[0, 1])
    );
    assert_eq!(
        conn.cmd(&["HPEXPIREAT", "h", &at(0), "lt", "FIELDS", "1", "a"]),
        ints(&[1])
    );
    assert_eq!(
        conn.cmd(&["HPEXPIRETIME", "h", "FIELDS", "2", "a", "b"]),
        ints(&[t, t + 1])
    );
    // Setting the same time again counts as set.
    assert_eq!(
        conn.cmd(&["HPEXPIREAT", "h", &at(0), "FIELDS", "1", "a"]),
        ints(&[1])
    );

    // Absolute times read back exactly.
    let at_s = unix_ms() / 1000 + 1000;
    assert_eq!(
        conn.cmd(&["HEXPIREAT", "h", &at_s.to_string(), "FIELDS", "1", "a"]),
        ints(&[1])
    );
    assert_eq!(
        conn.cmd(&["HEXPIRETIME", "h", "FIELDS", "2", "a", "c"]),
        ints(&[at_s, -1])
    );
    assert_eq!(
        conn.cmd(&["HPEXPIRETIME", "h", "FIELDS", "1", "a"]),
        ints(&[at_s * 1000])
    );
    let at_ms = unix_ms() + 3_600_000;
    assert_eq!(
        conn.cmd(&["HPEXPIREAT", "h", &at_ms.to_string(), "FIELDS", "1", "a"]),
        ints(&[1])
    );
    assert_eq!(
        conn.cmd(&["HPEXPIRETIME", "h", "FIELDS", "1", "a"]),
        ints(&[at_ms])
    );
    assert_eq!(
        conn.cmd(&["HEXPIRETIME", "h", "FIELDS", "1", "a"]),
        ints(&[(at_ms + 999) / 1000])
    );

    // HPERSIST: 1 removed, -1 had none, -2 no such field.
    assert_eq!(
        conn.cmd(&["HPERSIST", "h", "FIELDS", "3", "a", "c", "zz"]),
        ints(&[1, -1, -2])
    );
    assert_eq!(conn.cmd(&["HTTL", "h", "FIELDS", "1", "a"]), ints(&[-1]));

    // A time in the past (or 0) deletes the field: 2; the condition is checked first.
    assert_eq!(
        conn.cmd(&["HEXPIRE", "h", "0", "XX", "FIELDS", "1", "a"]),
        ints(&[0])
    );
    assert_eq!(
        conn.cmd(&["HPEXPIREAT", "h", "1", "FIELDS", "2", "a", "a"]),
        ints(&[2, -2])
    );
    assert_eq!(conn.cmd(&["HGET", "h", "a"]), Reply::NilBulk);
    assert_eq!(
        conn.cmd(&["HEXPIRE", "h", "0", "FIELDS", "2", "b", "c"]),
        ints(&[2, 2])
    );
    assert_eq!(conn.cmd(&["EXISTS", "h"]), Reply::Int(0));
}

#[test]
fn field_expiry_errors_match_redis_7_4() {
    let server = Server::start();
    let mut conn = server.raw();
    conn.cmd(&["HSET", "h", "a", "1"]);
    let e = Reply::error;
    assert_eq!(
        conn.cmd(&["HEXPIRE", "h", "x", "FIELDS", "1", "a"]),
        e("ERR value is not an integer or out of range")
    );
    assert_eq!(
        conn.cmd(&["HEXPIRE", "h", "-1", "FIELDS", "1", "a"]),
        e("ERR invalid expire time, must be >= 0")
    );
    assert_eq!(
        conn.cmd(&["HEXPIRE", "h", "70368744177664", "FIELDS", "1", "a"]),
        e("ERR invalid expire time in 'hexpire' command")
    );
    assert_eq!(
        conn.cmd(&["HPEXPIREAT", "h", "70368744177664", "FIELDS", "1", "a"]),
        e("ERR invalid expire time in 'hpexpireat' command")
    );
    assert_eq!(
        conn.cmd(&["HPEXPIREAT", "h", "70368744177663", "FIELDS", "1", "a"]),
        ints(&[1])
    );
    assert_eq!(
        conn.cmd(&["HPEXPIRE", "h", "9223372036854775807", "FIELDS", "1", "a"]),
        e("ERR invalid expire time in 'hpexpire' command")
    );
    let missing = e("ERR Mandatory argument FIELDS is missing or not at the right position");
    assert_eq!(
        conn.cmd(&["HEXPIRE", "h", "10", "BAD", "FIELDS", "1", "a"]),
        missing
    );
    assert_eq!(conn.cmd(&["HEXPIRE", "h", "10", "NX", "1", "a"]), missing);
    assert_eq!(conn.cmd(&["HTTL", "h", "FIELD", "1", "a"]), missing);
    assert_eq!(conn.cmd(&["HPERSIST", "h", "1", "FIELDS", "a"]), missing);
    let positive = e("ERR Parameter `numFields` should be greater than 0");
    assert_eq!(
        conn.cmd(&["HEXPIRE", "h", "10", "FIELDS", "0", "a"]),
        positive
    );
    assert_eq!(
        conn.cmd(&["HEXPIRE", "h", "10", "FIELDS", "x", "a"]),
        positive
    );
    assert_eq!(
        conn.cmd(&["HPEXPIRE", "h", "10", "XX", "FIELDS", "-1", "a"]),
        positive
    );
    let positive = e("ERR Number of fields must be a positive integer");
    assert_eq!(conn.cmd(&["HTTL", "h", "FIELDS", "0", "a"]), positive);
    assert_eq!(conn.cmd(&["HPERSIST", "h", "FIELDS", "x", "a"]), positive);
    let mismatch = e("ERR The `numfields` parameter must match the number of arguments");
    assert_eq!(
        conn.cmd(&["HEXPIRE", "h", "10", "FIELDS", "2", "a"]),
        mismatch
    );
    assert_eq!(
        conn.cmd(&["HEXPIRE", "h", "10", "FIELDS", "1", "a", "b"]),
        mismatch
    );
    assert_eq!(conn.cmd(&["HPTTL", "h", "FIELDS", "1", "a", "b"]), mismatch);
    assert_eq!(
        conn.cmd(&["HPERSIST", "h", "FIELDS", "3", "a", "b"]),
        mismatch
    );
    // Errors on a missing key come from the arguments too.
    assert_eq!(conn.cmd(&["HTTL", "nokey", "FIELDS", "2", "a"]), mismatch);
}

#[test]
fn fields_expire_and_writes_respect_ttls() {
    let server = Server::start();
    let mut conn = server.raw();
    conn.cmd(&[
        "HSET", "h", "short", "1", "keep", "2", "incr", "5", "reset", "x",
    ]);
    assert_eq!(
        conn.cmd(&["HEXPIRE", "h", "1000", "FIELDS", "2", "incr", "reset"]),
        ints(&[1, 1])
    );
    // HINCRBY and HINCRBYFLOAT keep a field's TTL; HSET clears it.
    conn.cmd(&["HINCRBY", "h", "incr", "1"]);
    conn.cmd(&["HINCRBYFLOAT", "h", "incr", "0.5"]);
    conn.cmd(&["HSET", "h", "reset", "y"]);
    let ttl = conn.cmd(&["HTTL", "h", "FIELDS", "2", "incr", "reset"]);
    assert!(ttl.items()[0].int() > 0, "{ttl:?}");
    assert_eq!(ttl.items()[1], Reply::Int(-1));
    assert_eq!(conn.cmd(&["HGET", "h", "incr"]), Reply::bulk("6.5"));

    assert_eq!(
        conn.cmd(&["HPEXPIRE", "h", "30", "FIELDS", "1", "short"]),
        ints(&[1])
    );
    wait_until("a 30 ms field to expire", IO_TIMEOUT, || {
        conn.cmd(&["HGET", "h", "short"]) == Reply::NilBulk
    });
    assert_eq!(conn.cmd(&["HLEN", "h"]), Reply::Int(3));
    assert_eq!(conn.cmd(&["HEXISTS", "h", "short"]), Reply::Int(0));
    assert_eq!(
        conn.cmd(&["HTTL", "h", "FIELDS", "1", "short"]),
        ints(&[-2])
    );

    // The last field expiring takes the key with it, also without anyone reading it (the
    // active sweep).
    conn.cmd(&["HSET", "gone", "only", "1"]);
    conn.cmd(&["HPEXPIRE", "gone", "30", "FIELDS", "1", "only"]);
    wait_until("a hash whose only field expired to go", IO_TIMEOUT, || {
        conn.cmd(&["DBSIZE"]) == Reply::Int(1)
    });
    assert_eq!(conn.cmd(&["EXISTS", "gone"]), Reply::Int(0));

    // The same on a large hash.
    let mut raw = server.raw();
    fill(&mut raw, "big", 200, 2);
    assert_eq!(
        conn.cmd(&["HPEXPIRE", "big", "30", "FIELDS", "2", "f1", "f2"]),
        ints(&[1, 1])
    );
    assert_eq!(
        conn.cmd(&["HEXPIRE", "big", "1000", "FIELDS", "1", "f3"]),
        ints(&[1])
    );
    wait_until("two fields of a large hash to expire", IO_TIMEOUT, || {
        conn.cmd(&["HLEN", "big"]) == Reply::Int(198)
    });
    assert_eq!(conn.cmd(&["HGET", "big", "f1"]), Reply::NilBulk);
    assert_eq!(
        conn.cmd(&["HPERSIST", "big", "FIELDS", "2", "f3", "f4"]),
        ints(&[1, -1])
    );
    assert_eq!(
        conn.cmd(&["HEXPIRE", "big", "0", "FIELDS", "1", "f5"]),
        ints(&[2])
    );
    assert_eq!(conn.cmd(&["HLEN", "big"]), Reply::Int(197));
}

#[test]
fn field_ttls_survive_a_restart() {
    let mut server = Server::start();
    let at = unix_ms() + 3_600_000;
    {
        let mut conn = server.raw();
        conn.cmd(&["HSET", "small", "t", "1", "n", "2"]);
        fill(&mut conn, "large", 150, 2);
        for key in ["small", "large"] {
            let field = if key == "small" { "t" } else { "f7" };
            assert_eq!(
                conn.cmd(&["HPEXPIREAT", key, &at.to_string(), "FIELDS", "1", field]),
                ints(&[1])
            );
        }
        conn.cmd(&["HSET", "soon", "a", "1", "b", "2"]);
        conn.cmd(&["HPEXPIRE", "soon", "50", "FIELDS", "1", "a"]);
    }
    server.restart();
    let mut conn = server.raw();
    assert_eq!(
        conn.cmd(&["HPEXPIRETIME", "small", "FIELDS", "2", "t", "n"]),
        ints(&[at, -1])
    );
    assert_eq!(
        conn.cmd(&["HPEXPIRETIME", "large", "FIELDS", "2", "f7", "f8"]),
        ints(&[at, -1])
    );
    wait_until("a field to expire after the restart", IO_TIMEOUT, || {
        conn.cmd(&["HGETALL", "soon"]) == bulks(&["b", "2"])
    });
    server.restart();
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["HGETALL", "soon"]), bulks(&["b", "2"]));
    assert_eq!(conn.cmd(&["HLEN", "large"]), Reply::Int(150));
}

#[test]
fn command_table_rows() {
    let server = Server::start();
    let mut conn = server.raw();
    let info = conn.cmd(&["COMMAND", "INFO", "hset", "hgetall", "hexpire", "httl"]);
    let rows = info.items();
    assert_eq!(rows.len(), 4);
    let arity: Vec<i64> = rows.iter().map(|r| r.items()[1].int()).collect();
    assert_eq!(arity, [-4, 2, -6, -5]);
    let flags =
        |i: usize| -> Vec<String> { rows[i].items()[2].items().iter().map(Reply::text).collect() };
    assert_eq!(flags(0), ["write", "denyoom", "fast"]);
    assert_eq!(flags(1), ["readonly"]);
    assert_eq!(flags(3), ["readonly", "fast"]);
    for row in rows {
        // first key, last key, step
        assert_eq!(
            row.items()[3..6],
            [Reply::Int(1), Reply::Int(1), Reply::Int(1)]
        );
    }
}
