//! List commands, black box: pushes and pops at both ends (with counts), indexes and ranges
//! with negative and out-of-range arguments, LINSERT, LREM, LTRIM, LSET, LPOS options, LMOVE,
//! RPOPLPUSH and LMPOP, Redis 7's errors, WRONGTYPE, emptied keys disappearing, the switch
//! from inline items to item rows past 128 items, persistence across restarts, and a list of
//! 20,000 items worked at both ends.

mod common;

use common::{RawConn, Reply, Server};

fn bulks(words: &[&str]) -> Reply {
    Reply::Array(words.iter().map(Reply::bulk).collect())
}

fn ints(values: &[i64]) -> Reply {
    Reply::Array(values.iter().map(|&v| Reply::Int(v)).collect())
}

fn err(text: &str) -> Reply {
    Reply::error(text)
}

/// RPUSH of `items` in one command.
fn rpush(conn: &mut RawConn, key: &str, items: &[String]) -> Reply {
    let mut args = vec!["RPUSH".to_string(), key.to_string()];
    args.extend(items.iter().cloned());
    conn.cmd(&args)
}

fn numbered(from: usize, to: usize) -> Vec<String> {
    (from..to).map(|i| i.to_string()).collect()
}

fn lrange(conn: &mut RawConn, key: &str, start: i64, stop: i64) -> Vec<String> {
    conn.cmd(&["LRANGE", key, &start.to_string(), &stop.to_string()])
        .items()
        .iter()
        .map(|r| r.text())
        .collect()
}

#[test]
fn pushes_pops_indexes_and_ranges() {
    let server = Server::start();
    let mut conn = server.raw();
    assert_eq!(
        conn.cmd(&["RPUSH", "l", "a", "b", "c", "d", "e"]),
        Reply::Int(5)
    );
    assert_eq!(conn.cmd(&["LPUSH", "l", "z", "y"]), Reply::Int(7));
    assert_eq!(
        conn.cmd(&["LRANGE", "l", "0", "-1"]),
        bulks(&["y", "z", "a", "b", "c", "d", "e"])
    );
    assert_eq!(
        conn.cmd(&["LRANGE", "l", "-3", "-1"]),
        bulks(&["c", "d", "e"])
    );
    assert_eq!(conn.cmd(&["LRANGE", "l", "-100", "1"]), bulks(&["y", "z"]));
    assert_eq!(conn.cmd(&["LRANGE", "l", "5", "2"]), bulks(&[]));
    assert_eq!(conn.cmd(&["LRANGE", "l", "10", "20"]), bulks(&[]));
    assert_eq!(conn.cmd(&["LRANGE", "nokey", "0", "-1"]), bulks(&[]));
    assert_eq!(conn.cmd(&["LINDEX", "l", "0"]), Reply::bulk("y"));
    assert_eq!(conn.cmd(&["LINDEX", "l", "-1"]), Reply::bulk("e"));
    assert_eq!(conn.cmd(&["LINDEX", "l", "7"]), Reply::NilBulk);
    assert_eq!(conn.cmd(&["LINDEX", "l", "-8"]), Reply::NilBulk);
    assert_eq!(conn.cmd(&["LINDEX", "nokey", "0"]), Reply::NilBulk);
    assert_eq!(conn.cmd(&["LLEN", "l"]), Reply::Int(7));
    assert_eq!(conn.cmd(&["LLEN", "nokey"]), Reply::Int(0));
    assert_eq!(conn.cmd(&["LPOP", "l"]), Reply::bulk("y"));
    assert_eq!(conn.cmd(&["RPOP", "l"]), Reply::bulk("e"));
    assert_eq!(conn.cmd(&["LPOP", "l", "2"]), bulks(&["z", "a"]));
    assert_eq!(conn.cmd(&["RPOP", "l", "2"]), bulks(&["d", "c"]));
    // Count 0: an empty array on a list, a null on a missing key.
    assert_eq!(conn.cmd(&["LPOP", "l", "0"]), bulks(&[]));
    assert_eq!(conn.cmd(&["LPOP", "nokey"]), Reply::NilBulk);
    assert_eq!(conn.cmd(&["LPOP", "nokey", "0"]), Reply::NilArray);
    assert_eq!(conn.cmd(&["RPOP", "nokey", "2"]), Reply::NilArray);
    // A huge count takes what there is, and the emptied key is gone.
    assert_eq!(
        conn.cmd(&["LPOP", "l", "9223372036854775807"]),
        bulks(&["b"])
    );
    assert_eq!(conn.cmd(&["EXISTS", "l"]), Reply::Int(0));
    // LPUSHX/RPUSHX only push onto an existing list.
    assert_eq!(conn.cmd(&["RPUSHX", "l", "a"]), Reply::Int(0));
    assert_eq!(conn.cmd(&["LPUSHX", "l", "a"]), Reply::Int(0));
    assert_eq!(conn.cmd(&["EXISTS", "l"]), Reply::Int(0));
    conn.cmd(&["RPUSH", "l", "m"]);
    assert_eq!(conn.cmd(&["RPUSHX", "l", "n", "o"]), Reply::Int(3));
    assert_eq!(conn.cmd(&["LPUSHX", "l", "k"]), Reply::Int(4));
    assert_eq!(
        conn.cmd(&["LRANGE", "l", "0", "-1"]),
        bulks(&["k", "m", "n", "o"])
    );
    // Binary and empty items.
    assert_eq!(
        conn.cmd(&["RPUSH", "bin", "", "\x00\x7f", "a b"]),
        Reply::Int(3)
    );
    assert_eq!(
        conn.cmd(&["LRANGE", "bin", "0", "-1"]),
        bulks(&["", "\x00\x7f", "a b"])
    );
    assert_eq!(conn.cmd(&["TYPE", "bin"]), Reply::simple("list"));
    assert_eq!(
        conn.cmd(&["SCAN", "0", "TYPE", "list", "COUNT", "100"])
            .items()[1]
            .items()
            .len(),
        2
    );
}

#[test]
fn errors_match_redis_7() {
    let server = Server::start();
    let mut conn = server.raw();
    conn.cmd(&["RPUSH", "l", "a", "b", "c"]);
    conn.cmd(&["SET", "str", "x"]);
    let wrongtype = err("WRONGTYPE Operation against a key holding the wrong kind of value");
    let not_int = err("ERR value is not an integer or out of range");
    let syntax = err("ERR syntax error");
    let positive = err("ERR value is out of range, must be positive");
    for args in [
        &["LPUSH", "str", "a"][..],
        &["RPUSH", "str", "a"],
        &["LPUSHX", "str", "a"],
        &["LPOP", "str"],
        &["RPOP", "str", "0"],
        &["LLEN", "str"],
        &["LRANGE", "str", "0", "-1"],
        &["LINDEX", "str", "0"],
        &["LSET", "str", "0", "x"],
        &["LINSERT", "str", "BEFORE", "a", "x"],
        &["LREM", "str", "0", "a"],
        &["LTRIM", "str", "0", "1"],
        &["LPOS", "str", "a"],
        &["LMOVE", "str", "l", "LEFT", "LEFT"],
        &["LMOVE", "l", "str", "LEFT", "LEFT"],
        &["RPOPLPUSH", "l", "str"],
        &["LMPOP", "2", "nokey", "str", "LEFT"],
    ] {
        assert_eq!(conn.cmd(args), wrongtype, "{args:?}");
    }
    assert_eq!(conn.cmd(&["GET", "str"]), Reply::bulk("x"));
    assert_eq!(
        conn.cmd(&["LRANGE", "l", "0", "-1"]),
        bulks(&["a", "b", "c"]),
        "nothing moved"
    );
    assert_eq!(
        conn.cmd(&["LSET", "nokey", "0", "x"]),
        err("ERR no such key")
    );
    assert_eq!(
        conn.cmd(&["LSET", "l", "3", "x"]),
        err("ERR index out of range")
    );
    assert_eq!(
        conn.cmd(&["LSET", "l", "-4", "x"]),
        err("ERR index out of range")
    );
    assert_eq!(conn.cmd(&["LSET", "l", "x", "x"]), not_int);
    assert_eq!(conn.cmd(&["LPOP", "l", "-1"]), positive);
    assert_eq!(conn.cmd(&["LPOP", "l", "x"]), positive);
    assert_eq!(
        conn.cmd(&["LPOP", "l", "1", "2"]),
        err("ERR wrong number of arguments for 'lpop' command")
    );
    assert_eq!(conn.cmd(&["LINDEX", "l", "x"]), not_int);
    assert_eq!(conn.cmd(&["LRANGE", "l", "x", "1"]), not_int);
    assert_eq!(conn.cmd(&["LTRIM", "l", "0", "x"]), not_int);
    assert_eq!(conn.cmd(&["LREM", "l", "x", "a"]), not_int);
    assert_eq!(conn.cmd(&["LINSERT", "l", "middle", "a", "x"]), syntax);
    assert_eq!(conn.cmd(&["LMOVE", "l", "m", "up", "left"]), syntax);
    assert_eq!(
        conn.cmd(&["LPOS", "l", "a", "RANK", "0"]),
        err("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list")
    );
    assert_eq!(
        conn.cmd(&["LPOS", "l", "a", "COUNT", "-1"]),
        err("ERR COUNT can't be negative")
    );
    assert_eq!(
        conn.cmd(&["LPOS", "l", "a", "MAXLEN", "-1"]),
        err("ERR MAXLEN can't be negative")
    );
    assert_eq!(conn.cmd(&["LPOS", "l", "a", "RANK", "x"]), not_int);
    assert_eq!(conn.cmd(&["LPOS", "l", "a", "FOO", "1"]), syntax);
    assert_eq!(conn.cmd(&["LPOS", "l", "a", "RANK"]), syntax);
    let numkeys = err("ERR numkeys should be greater than 0");
    assert_eq!(conn.cmd(&["LMPOP", "0", "l", "LEFT"]), numkeys);
    assert_eq!(conn.cmd(&["LMPOP", "-1", "l", "LEFT"]), numkeys);
    assert_eq!(conn.cmd(&["LMPOP", "x", "l", "LEFT"]), numkeys);
    assert_eq!(conn.cmd(&["LMPOP", "5", "l", "LEFT"]), syntax);
    assert_eq!(conn.cmd(&["LMPOP", "1", "l", "MIDDLE"]), syntax);
    assert_eq!(conn.cmd(&["LMPOP", "1", "l", "LEFT", "FOO"]), syntax);
    assert_eq!(
        conn.cmd(&["LMPOP", "1", "l", "LEFT", "COUNT", "1", "COUNT", "2"]),
        syntax
    );
    let count = err("ERR count should be greater than 0");
    assert_eq!(conn.cmd(&["LMPOP", "1", "l", "LEFT", "COUNT", "0"]), count);
    assert_eq!(conn.cmd(&["LMPOP", "1", "l", "LEFT", "COUNT", "x"]), count);
    assert_eq!(
        conn.cmd(&["LRANGE", "l", "0", "-1"]),
        bulks(&["a", "b", "c"])
    );
}

#[test]
fn changes_in_the_middle() {
    let server = Server::start();
    let mut conn = server.raw();
    conn.cmd(&["RPUSH", "l", "a", "b", "a", "c", "a"]);
    assert_eq!(conn.cmd(&["LREM", "l", "2", "a"]), Reply::Int(2));
    assert_eq!(
        conn.cmd(&["LRANGE", "l", "0", "-1"]),
        bulks(&["b", "c", "a"])
    );
    conn.cmd(&["RPUSH", "l", "b", "a"]);
    assert_eq!(conn.cmd(&["LREM", "l", "-1", "b"]), Reply::Int(1));
    assert_eq!(
        conn.cmd(&["LRANGE", "l", "0", "-1"]),
        bulks(&["b", "c", "a", "a"])
    );
    assert_eq!(conn.cmd(&["LREM", "l", "0", "a"]), Reply::Int(2));
    assert_eq!(conn.cmd(&["LREM", "l", "0", "zz"]), Reply::Int(0));
    assert_eq!(conn.cmd(&["LREM", "nokey", "0", "a"]), Reply::Int(0));
    assert_eq!(
        conn.cmd(&["LINSERT", "l", "BEFORE", "b", "X"]),
        Reply::Int(3)
    );
    assert_eq!(
        conn.cmd(&["LINSERT", "l", "after", "c", "Z"]),
        Reply::Int(4)
    );
    assert_eq!(
        conn.cmd(&["LINSERT", "l", "AFTER", "nope", "Q"]),
        Reply::Int(-1)
    );
    assert_eq!(
        conn.cmd(&["LINSERT", "nokey", "BEFORE", "a", "b"]),
        Reply::Int(0)
    );
    assert_eq!(conn.cmd(&["EXISTS", "nokey"]), Reply::Int(0));
    assert_eq!(
        conn.cmd(&["LRANGE", "l", "0", "-1"]),
        bulks(&["X", "b", "c", "Z"])
    );
    assert_eq!(conn.cmd(&["LSET", "l", "0", "first"]), Reply::ok());
    assert_eq!(conn.cmd(&["LSET", "l", "-1", "last"]), Reply::ok());
    assert_eq!(
        conn.cmd(&["LRANGE", "l", "0", "-1"]),
        bulks(&["first", "b", "c", "last"])
    );
    assert_eq!(conn.cmd(&["LTRIM", "l", "1", "-2"]), Reply::ok());
    assert_eq!(conn.cmd(&["LRANGE", "l", "0", "-1"]), bulks(&["b", "c"]));
    assert_eq!(conn.cmd(&["LTRIM", "nokey", "0", "1"]), Reply::ok());
    // An empty range removes the key.
    assert_eq!(conn.cmd(&["LTRIM", "l", "5", "1"]), Reply::ok());
    assert_eq!(conn.cmd(&["EXISTS", "l"]), Reply::Int(0));
    conn.cmd(&["RPUSH", "r", "x"]);
    assert_eq!(conn.cmd(&["LREM", "r", "1", "x"]), Reply::Int(1));
    assert_eq!(conn.cmd(&["EXISTS", "r"]), Reply::Int(0));
}

#[test]
fn lpos_options() {
    let server = Server::start();
    let mut conn = server.raw();
    conn.cmd(&["RPUSH", "p", "a", "b", "c", "1", "2", "3", "c"]);
    assert_eq!(conn.cmd(&["LPOS", "p", "c"]), Reply::Int(2));
    assert_eq!(conn.cmd(&["LPOS", "p", "c", "RANK", "2"]), Reply::Int(6));
    assert_eq!(conn.cmd(&["LPOS", "p", "c", "RANK", "-1"]), Reply::Int(6));
    assert_eq!(conn.cmd(&["LPOS", "p", "c", "RANK", "3"]), Reply::NilBulk);
    assert_eq!(conn.cmd(&["LPOS", "p", "c", "COUNT", "0"]), ints(&[2, 6]));
    assert_eq!(
        conn.cmd(&["LPOS", "p", "c", "COUNT", "1", "RANK", "-1"]),
        ints(&[6])
    );
    assert_eq!(
        conn.cmd(&["LPOS", "p", "c", "RANK", "-3", "COUNT", "0"]),
        ints(&[])
    );
    assert_eq!(conn.cmd(&["LPOS", "p", "c", "MAXLEN", "3"]), Reply::Int(2));
    assert_eq!(conn.cmd(&["LPOS", "p", "c", "MAXLEN", "2"]), Reply::NilBulk);
    assert_eq!(
        conn.cmd(&["LPOS", "p", "c", "RANK", "-1", "MAXLEN", "1", "COUNT", "0"]),
        ints(&[6])
    );
    assert_eq!(conn.cmd(&["LPOS", "p", "zz", "COUNT", "0"]), ints(&[]));
    assert_eq!(conn.cmd(&["LPOS", "nokey", "a"]), Reply::NilBulk);
    assert_eq!(conn.cmd(&["LPOS", "nokey", "a", "COUNT", "2"]), ints(&[]));
}

#[test]
fn moves_between_lists_and_lmpop() {
    let server = Server::start();
    let mut conn = server.raw();
    conn.cmd(&["RPUSH", "p", "1", "2", "3", "4"]);
    assert_eq!(
        conn.cmd(&["LMOVE", "p", "q", "LEFT", "RIGHT"]),
        Reply::bulk("1")
    );
    assert_eq!(
        conn.cmd(&["LMOVE", "p", "q", "RIGHT", "LEFT"]),
        Reply::bulk("4")
    );
    assert_eq!(conn.cmd(&["LRANGE", "q", "0", "-1"]), bulks(&["4", "1"]));
    // Rotation onto itself.
    assert_eq!(
        conn.cmd(&["LMOVE", "p", "p", "LEFT", "RIGHT"]),
        Reply::bulk("2")
    );
    assert_eq!(conn.cmd(&["LRANGE", "p", "0", "-1"]), bulks(&["3", "2"]));
    assert_eq!(
        conn.cmd(&["LMOVE", "nokey", "q", "LEFT", "LEFT"]),
        Reply::NilBulk
    );
    assert_eq!(conn.cmd(&["RPOPLPUSH", "p", "q"]), Reply::bulk("2"));
    assert_eq!(conn.cmd(&["RPOPLPUSH", "nokey", "q"]), Reply::NilBulk);
    assert_eq!(conn.cmd(&["RPOPLPUSH", "p", "q"]), Reply::bulk("3"));
    assert_eq!(
        conn.cmd(&["EXISTS", "p"]),
        Reply::Int(0),
        "the emptied source is gone"
    );
    assert_eq!(
        conn.cmd(&["LRANGE", "q", "0", "-1"]),
        bulks(&["3", "2", "4", "1"])
    );
    conn.cmd(&["RPUSH", "p", "a"]);
    let reply = conn.cmd(&["LMPOP", "3", "nokey", "q", "p", "RIGHT", "COUNT", "3"]);
    assert_eq!(
        reply,
        Reply::Array(vec![Reply::bulk("q"), bulks(&["1", "4", "2"])])
    );
    let reply = conn.cmd(&["LMPOP", "2", "q", "p", "LEFT", "COUNT", "10"]);
    assert_eq!(reply, Reply::Array(vec![Reply::bulk("q"), bulks(&["3"])]));
    let reply = conn.cmd(&["LMPOP", "2", "q", "p", "LEFT"]);
    assert_eq!(reply, Reply::Array(vec![Reply::bulk("p"), bulks(&["a"])]));
    assert_eq!(conn.cmd(&["LMPOP", "2", "q", "p", "LEFT"]), Reply::NilArray);
    assert_eq!(conn.cmd(&["DBSIZE"]), Reply::Int(0));
}

#[test]
fn encoding_switches_past_128_items_and_values_persist() {
    let mut server = Server::start();
    {
        let mut conn = server.raw();
        rpush(&mut conn, "small", &numbered(0, 128));
        assert_eq!(
            conn.cmd(&["OBJECT", "ENCODING", "small"]),
            Reply::bulk("listpack")
        );
        rpush(&mut conn, "large", &numbered(0, 129));
        assert_eq!(
            conn.cmd(&["OBJECT", "ENCODING", "large"]),
            Reply::bulk("quicklist")
        );
        conn.cmd(&["RPUSH", "bin", "\x00", "", "x"]);
        conn.cmd(&["LPUSH", "large", "head"]);
        conn.cmd(&["LINSERT", "large", "BEFORE", "64", "mid"]);
        conn.cmd(&["LREM", "large", "0", "100"]);
        conn.cmd(&["LSET", "large", "-1", "tail"]);
        // COPY and RENAME keep a large list whole and apart.
        assert_eq!(conn.cmd(&["COPY", "large", "copy"]), Reply::Int(1));
        conn.cmd(&["RPOP", "copy"]);
        assert_eq!(conn.cmd(&["RENAME", "copy", "renamed"]), Reply::ok());
    }
    server.restart();
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["LLEN", "small"]), Reply::Int(128));
    assert_eq!(
        conn.cmd(&["LRANGE", "bin", "0", "-1"]),
        bulks(&["\x00", "", "x"])
    );
    let mut expect: Vec<String> = vec!["head".into()];
    expect.extend(numbered(0, 64));
    expect.push("mid".into());
    expect.extend(numbered(64, 129).into_iter().filter(|s| s != "100"));
    *expect.last_mut().unwrap() = "tail".into();
    assert_eq!(lrange(&mut conn, "large", 0, -1), expect);
    assert_eq!(
        conn.cmd(&["OBJECT", "ENCODING", "large"]),
        Reply::bulk("quicklist")
    );
    expect.pop();
    assert_eq!(lrange(&mut conn, "renamed", 0, -1), expect);
    assert_eq!(conn.cmd(&["EXISTS", "copy"]), Reply::Int(0));
    // Emptying a large list removes it and its rows; the key can be made again.
    assert_eq!(conn.cmd(&["LTRIM", "large", "1", "0"]), Reply::ok());
    assert_eq!(conn.cmd(&["EXISTS", "large"]), Reply::Int(0));
    conn.cmd(&["RPUSH", "large", "again"]);
    assert_eq!(lrange(&mut conn, "large", 0, -1), vec!["again".to_string()]);
    drop(conn);
    server.crash_restart();
    let mut conn = server.raw();
    assert_eq!(lrange(&mut conn, "large", 0, -1), vec!["again".to_string()]);
    assert_eq!(conn.cmd(&["LLEN", "renamed"]), Reply::Int(129));
}

/// A list of 20,000 items, grown and shrunk at both ends against an in-memory model.
#[test]
fn a_large_list_at_both_ends() {
    let server = Server::start();
    let mut conn = server.raw();
    let mut model: std::collections::VecDeque<String> = std::collections::VecDeque::new();
    for chunk in 0..10 {
        let tail = numbered(chunk * 1000, chunk * 1000 + 1000);
        rpush(&mut conn, "big", &tail);
        model.extend(tail);
        let mut args = vec!["LPUSH".to_string(), "big".to_string()];
        for i in 0..1000 {
            let v = format!("h{}", chunk * 1000 + i);
            args.push(v.clone());
            model.push_front(v);
        }
        conn.cmd(&args);
    }
    assert_eq!(conn.cmd(&["LLEN", "big"]), Reply::Int(20_000));
    let window = |m: &std::collections::VecDeque<String>, a: usize, b: usize| -> Vec<String> {
        m.range(a..b).cloned().collect()
    };
    assert_eq!(lrange(&mut conn, "big", 0, 99), window(&model, 0, 100));
    assert_eq!(
        lrange(&mut conn, "big", -100, -1),
        window(&model, 19_900, 20_000)
    );
    assert_eq!(
        lrange(&mut conn, "big", 9_990, 10_009),
        window(&model, 9_990, 10_010)
    );
    assert_eq!(conn.cmd(&["LINDEX", "big", "0"]).text(), model[0]);
    assert_eq!(conn.cmd(&["LINDEX", "big", "-1"]).text(), model[19_999]);
    assert_eq!(conn.cmd(&["LINDEX", "big", "12345"]).text(), model[12_345]);
    for _ in 0..50 {
        assert_eq!(
            conn.cmd(&["LPOP", "big"]).text(),
            model.pop_front().unwrap()
        );
        assert_eq!(conn.cmd(&["RPOP", "big"]).text(), model.pop_back().unwrap());
    }
    let popped = conn.cmd(&["RPOP", "big", "500"]);
    let expect: Vec<String> = (0..500).map(|_| model.pop_back().unwrap()).collect();
    assert_eq!(
        popped.items().iter().map(|r| r.text()).collect::<Vec<_>>(),
        expect
    );
    assert_eq!(conn.cmd(&["LSET", "big", "-2", "set"]), Reply::ok());
    let n = model.len();
    model[n - 2] = "set".into();
    assert_eq!(
        conn.cmd(&["LINSERT", "big", "AFTER", "5000", "ins"]),
        Reply::Int(n as i64 + 1)
    );
    let at = model.iter().position(|v| v == "5000").unwrap();
    model.insert(at + 1, "ins".into());
    assert_eq!(conn.cmd(&["LPOS", "big", "ins"]), Reply::Int(at as i64 + 1));
    assert_eq!(conn.cmd(&["LREM", "big", "0", "h7"]), Reply::Int(1));
    model.retain(|v| v != "h7");
    assert_eq!(conn.cmd(&["LTRIM", "big", "10", "-10"]), Reply::ok());
    let model: Vec<String> = model.range(10..model.len() - 9).cloned().collect();
    assert_eq!(lrange(&mut conn, "big", 0, -1), model);
}
