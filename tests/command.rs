//! COMMAND and its subcommands: COUNT, INFO, LIST, DOCS, GETKEYS.

mod common;

use common::{Reply, Server};

/// Commands of this issue with Redis 7's arity, first key, last key and key step.
const TABLE: &[(&str, i64, i64, i64, i64)] = &[
    ("ping", -1, 0, 0, 0),
    ("echo", 2, 0, 0, 0),
    ("quit", -1, 0, 0, 0),
    ("reset", 1, 0, 0, 0),
    ("hello", -1, 0, 0, 0),
    ("auth", -2, 0, 0, 0),
    ("select", 2, 0, 0, 0),
    ("client", -2, 0, 0, 0),
    ("command", -1, 0, 0, 0),
    ("info", -1, 0, 0, 0),
    ("config", -2, 0, 0, 0),
    ("dbsize", 1, 0, 0, 0),
    ("flushdb", -1, 0, 0, 0),
    ("flushall", -1, 0, 0, 0),
    ("time", 1, 0, 0, 0),
    ("shutdown", -1, 0, 0, 0),
    ("get", 2, 1, 1, 1),
    ("set", -3, 1, 1, 1),
    ("del", -2, 1, -1, 1),
    ("exists", -2, 1, -1, 1),
];

fn names(reply: &Reply) -> Vec<String> {
    reply.items().iter().map(Reply::text).collect()
}

fn flags(info: &Reply) -> Vec<String> {
    names(&info.items()[2])
}

#[test]
fn count_matches_list_and_command() {
    let server = Server::start();
    let mut conn = server.raw();
    let count = conn.cmd(&["COMMAND", "COUNT"]).int();
    assert!(count >= TABLE.len() as i64, "COMMAND COUNT = {count}");
    // COMMAND LIST also names the subcommands ("config|get"); COUNT does not count them.
    let list = names(&conn.cmd(&["COMMAND", "LIST"]));
    let top_level = list.iter().filter(|n| !n.contains('|')).count();
    assert_eq!(top_level as i64, count, "{list:?}");
    let all = conn.cmd(&["COMMAND"]);
    assert_eq!(all.items().len() as i64, count);
    let all_info = conn.cmd(&["COMMAND", "INFO"]);
    assert_eq!(all_info.items().len() as i64, count);
}

#[test]
fn list_has_every_command_of_this_issue_in_lower_case() {
    let server = Server::start();
    let mut conn = server.raw();
    let list = names(&conn.cmd(&["COMMAND", "LIST"]));
    for (name, ..) in TABLE {
        assert!(
            list.iter().any(|n| n == name),
            "COMMAND LIST lacks {name}: {list:?}"
        );
    }
    for sub in ["config|get", "client|id", "command|count"] {
        assert!(
            list.iter().any(|n| n == sub),
            "COMMAND LIST lacks {sub}: {list:?}"
        );
    }
    for n in &list {
        assert_eq!(n, &n.to_lowercase(), "command names are lower case");
    }
    let mut sorted = list.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), list.len(), "COMMAND LIST has duplicates");
}

#[test]
fn info_matches_redis_arity_and_key_positions() {
    let server = Server::start();
    let mut conn = server.raw();
    for &(name, arity, first, last, step) in TABLE {
        let reply = conn.cmd(&["COMMAND", "INFO", name]);
        let items = reply.items();
        assert_eq!(items.len(), 1, "{name}: {reply:?}");
        let info = &items[0];
        let fields = info.items();
        assert!(
            fields.len() >= 10,
            "{name}: Redis 7 COMMAND INFO has 10 fields: {info:?}"
        );
        assert_eq!(fields[0].text(), name);
        assert_eq!(fields[1], Reply::Int(arity), "arity of {name}");
        assert!(
            matches!(fields[2], Reply::Array(_) | Reply::Set(_)),
            "{name}: {info:?}"
        );
        assert_eq!(fields[3], Reply::Int(first), "first key of {name}");
        assert_eq!(fields[4], Reply::Int(last), "last key of {name}");
        assert_eq!(fields[5], Reply::Int(step), "key step of {name}");
        assert!(
            matches!(fields[6], Reply::Array(_) | Reply::Set(_)),
            "{name}: {info:?}"
        );
    }
}

#[test]
fn info_get_and_set() {
    let server = Server::start();
    let mut conn = server.raw();
    let reply = conn.cmd(&["COMMAND", "INFO", "get", "SET"]);
    let get = &reply.items()[0];
    let set = &reply.items()[1];
    assert_eq!(get.items()[0], Reply::bulk("get"));
    assert_eq!(get.items()[1], Reply::Int(2));
    let get_flags = flags(get);
    assert!(get_flags.contains(&"readonly".to_string()), "{get_flags:?}");
    assert!(get_flags.contains(&"fast".to_string()), "{get_flags:?}");
    let get_categories = names(&get.items()[6]);
    for c in ["@read", "@string", "@fast"] {
        assert!(
            get_categories.contains(&c.to_string()),
            "{get_categories:?}"
        );
    }
    assert_eq!(set.items()[0], Reply::bulk("set"));
    assert_eq!(set.items()[1], Reply::Int(-3));
    let set_flags = flags(set);
    assert!(set_flags.contains(&"write".to_string()), "{set_flags:?}");
    assert!(set_flags.contains(&"denyoom".to_string()), "{set_flags:?}");
}

#[test]
fn info_unknown_command_is_nil() {
    let server = Server::start();
    let mut conn = server.raw();
    let reply = conn.cmd(&["COMMAND", "INFO", "nosuchcommand", "get"]);
    assert_eq!(reply.items().len(), 2);
    assert_eq!(reply.items()[0], Reply::NilBulk);
    assert_eq!(reply.items()[1].items()[0], Reply::bulk("get"));
}

#[test]
fn info_of_a_container_command_lists_subcommands() {
    let server = Server::start();
    let mut conn = server.raw();
    let reply = conn.cmd(&["COMMAND", "INFO", "config"]);
    let info = &reply.items()[0];
    let subcommands = &info.items()[9];
    let subnames: Vec<String> = subcommands
        .items()
        .iter()
        .map(|s| s.items()[0].text())
        .collect();
    for s in [
        "config|get",
        "config|set",
        "config|resetstat",
        "config|rewrite",
    ] {
        assert!(subnames.contains(&s.to_string()), "{subnames:?}");
    }
}

#[test]
fn docs() {
    let server = Server::start();
    let mut conn = server.raw();
    let reply = conn.cmd(&["COMMAND", "DOCS", "get"]);
    // RESP2: a flat array of name, doc-map pairs.
    let items = reply.items();
    assert_eq!(items.len(), 2, "{reply:?}");
    assert_eq!(items[0], Reply::bulk("get"));
    let doc = &items[1];
    // The wording changed between Redis versions ("Get the value of a key" in 7.0,
    // "Returns the string value of a key." later).
    let summary = doc.field("summary").map(Reply::text).unwrap_or_default();
    assert!(summary.contains("value of a key"), "{summary:?}");
    assert_eq!(
        doc.field("group").map(Reply::text).as_deref(),
        Some("string")
    );
    assert!(doc.field("since").is_some(), "{doc:?}");

    // RESP3: a map.
    assert!(matches!(conn.cmd(&["HELLO", "3"]), Reply::Map(_)));
    let reply = conn.cmd(&["COMMAND", "DOCS", "set", "nosuchcommand"]);
    match &reply {
        Reply::Map(m) => {
            assert_eq!(m.len(), 1, "unknown commands are left out: {reply:?}");
            assert_eq!(m[0].0, Reply::bulk("set"));
        }
        other => panic!("COMMAND DOCS in RESP3 must be a map: {other:?}"),
    }
}

#[test]
fn getkeys() {
    let server = Server::start();
    let mut conn = server.raw();
    assert_eq!(
        conn.cmd(&["COMMAND", "GETKEYS", "SET", "a", "b"]),
        Reply::Array(vec![Reply::bulk("a")])
    );
    assert_eq!(
        conn.cmd(&["COMMAND", "GETKEYS", "get", "k"]),
        Reply::Array(vec![Reply::bulk("k")])
    );
    assert_eq!(
        conn.cmd(&["COMMAND", "GETKEYS", "DEL", "a", "b", "c"]),
        Reply::Array(vec![Reply::bulk("a"), Reply::bulk("b"), Reply::bulk("c")])
    );
    assert_eq!(
        conn.cmd(&["COMMAND", "GETKEYS", "SET", "a", "b", "EX", "10"]),
        Reply::Array(vec![Reply::bulk("a")])
    );
    // Keys counted by a numkeys argument, after a fixed destination for the STORE forms
    // (the answers of redis-server 7.0).
    let keys = |names: &[&str]| Reply::Array(names.iter().map(Reply::bulk).collect());
    for (words, expected) in [
        (&["LMPOP", "2", "a", "b", "LEFT"][..], &["a", "b"][..]),
        (
            &["ZUNIONSTORE", "d", "2", "a", "b", "WEIGHTS", "1", "2"],
            &["d", "a", "b"],
        ),
        (
            &["SINTERCARD", "3", "a", "b", "c", "LIMIT", "1"],
            &["a", "b", "c"],
        ),
        (&["ZMPOP", "1", "z", "MIN"], &["z"]),
        // Movable keys: SORT's last STORE (LIMIT's, GET's and BY's arguments skipped),
        // GEORADIUS's first STORE then first STOREDIST, XREAD's streams.
        (&["SORT", "abc", "STORE", "def"], &["abc", "def"]),
        (
            &[
                "SORT", "abc", "STORE", "no", "STORE", "nope", "STORE", "def",
            ],
            &["abc", "def"],
        ),
        (
            &[
                "SORT", "abc", "LIMIT", "store", "1", "GET", "store", "BY", "store",
            ],
            &["abc"],
        ),
        (&["SORT", "abc", "STORE"], &["abc"]),
        (&["SORT_RO", "abc"], &["abc"]),
        (
            &[
                "GEORADIUS",
                "k",
                "0",
                "0",
                "1",
                "km",
                "STOREDIST",
                "a",
                "STORE",
                "b",
            ],
            &["k", "b", "a"],
        ),
        (
            &[
                "GEORADIUS",
                "k",
                "0",
                "0",
                "1",
                "km",
                "STORE",
                "a",
                "STORE",
                "b",
            ],
            &["k", "a"],
        ),
        (
            &["GEORADIUSBYMEMBER", "k", "m", "1", "km", "STORE", "a"],
            &["k", "a"],
        ),
        (
            &["XREAD", "COUNT", "1", "STREAMS", "a", "b", "0", "0"],
            &["a", "b"],
        ),
    ] {
        let mut argv = vec!["COMMAND", "GETKEYS"];
        argv.extend_from_slice(words);
        assert_eq!(conn.cmd(&argv), keys(expected), "{words:?}");
    }
}

#[test]
fn getkeys_errors() {
    let server = Server::start();
    let mut conn = server.raw();
    assert_eq!(
        conn.cmd(&["COMMAND", "GETKEYS", "GET", "a", "b"]),
        Reply::error("ERR Invalid number of arguments specified for command")
    );
    assert_eq!(
        conn.cmd(&["COMMAND", "GETKEYS", "SET", "a"]),
        Reply::error("ERR Invalid number of arguments specified for command")
    );
    assert_eq!(
        conn.cmd(&["COMMAND", "GETKEYS", "PING", "x"]),
        Reply::error("ERR The command has no key arguments")
    );
    assert_eq!(
        conn.cmd(&["COMMAND", "GETKEYS", "nosuchcommand", "x"]),
        Reply::error("ERR Invalid command specified")
    );
    // Redis 7.0 gives COMMAND GETKEYS arity -4 (an arity error here); later versions have
    // -3 and then find GET's own arity wrong.
    let reply = conn.cmd(&["COMMAND", "GETKEYS", "GET"]);
    assert!(
        reply == Reply::error("ERR wrong number of arguments for 'command|getkeys' command")
            || reply == Reply::error("ERR Invalid number of arguments specified for command"),
        "{reply:?}"
    );
    assert_eq!(
        conn.cmd(&["COMMAND", "GETKEYS"]),
        Reply::error("ERR wrong number of arguments for 'command|getkeys' command")
    );
}

#[test]
fn unknown_subcommand() {
    let server = Server::start();
    let mut conn = server.raw();
    assert_eq!(
        conn.cmd(&["COMMAND", "bogus"]),
        Reply::error("ERR unknown subcommand 'bogus'. Try COMMAND HELP.")
    );
}

#[test]
fn the_redis_crate_can_read_command_info() {
    let server = Server::start();
    let mut con = server.conn();
    let count: i64 = redis::cmd("COMMAND").arg("COUNT").query(&mut con).unwrap();
    let all: Vec<redis::Value> = redis::cmd("COMMAND").query(&mut con).unwrap();
    assert_eq!(all.len() as i64, count);
}
