//! Generic key commands against a real server with the `redis` crate: TYPE, UNLINK, TOUCH, the
//! EXPIRE and TTL families with Redis's errors, active and lazy expiry and TTLs across
//! restarts, RENAME/RENAMENX/MOVE/COPY/SWAPDB, KEYS and SCAN (every key present throughout an
//! iteration is returned), RANDOMKEY and OBJECT.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{cmd, query_err, wait_until, Server};
use redis::{Commands, Connection, Value as V};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn int(con: &mut Connection, words: &[&str]) -> i64 {
    cmd(words)
        .query(con)
        .unwrap_or_else(|e| panic!("{words:?}: {e}"))
}

fn text(con: &mut Connection, words: &[&str]) -> Option<String> {
    cmd(words)
        .query(con)
        .unwrap_or_else(|e| panic!("{words:?}: {e}"))
}

fn dbsize(con: &mut Connection) -> i64 {
    int(con, &["DBSIZE"])
}

#[test]
fn type_unlink_touch_and_exists() {
    let server = Server::start();
    let mut con = server.conn();
    assert_eq!(text(&mut con, &["TYPE", "nope"]).unwrap(), "none");
    let _: () = con.set("s", "v").unwrap();
    assert_eq!(text(&mut con, &["TYPE", "s"]).unwrap(), "string");
    let _: () = con.set("t", "v").unwrap();
    assert_eq!(int(&mut con, &["TOUCH", "s", "t", "nope", "s"]), 3);
    assert_eq!(int(&mut con, &["EXISTS", "s", "s", "nope"]), 2);
    assert_eq!(int(&mut con, &["UNLINK", "s", "t", "nope"]), 2);
    assert_eq!(dbsize(&mut con), 0);
}

#[test]
fn expire_family_options_and_errors() {
    let server = Server::start();
    let mut con = server.conn();
    assert_eq!(int(&mut con, &["EXPIRE", "missing", "100"]), 0);
    assert_eq!(int(&mut con, &["TTL", "missing"]), -2);
    assert_eq!(int(&mut con, &["PTTL", "missing"]), -2);
    assert_eq!(int(&mut con, &["EXPIRETIME", "missing"]), -2);
    let _: () = con.set("k", "v").unwrap();
    assert_eq!(int(&mut con, &["TTL", "k"]), -1);
    assert_eq!(int(&mut con, &["PEXPIRETIME", "k"]), -1);

    // NX only without a TTL, XX only with one.
    assert_eq!(int(&mut con, &["EXPIRE", "k", "100", "XX"]), 0);
    assert_eq!(int(&mut con, &["EXPIRE", "k", "100", "NX"]), 1);
    assert_eq!(int(&mut con, &["EXPIRE", "k", "200", "NX"]), 0);
    assert_eq!(int(&mut con, &["EXPIRE", "k", "200", "XX"]), 1);
    let ttl = int(&mut con, &["TTL", "k"]);
    assert!((199..=200).contains(&ttl), "{ttl}");
    let pttl = int(&mut con, &["PTTL", "k"]);
    assert!((198_000..=200_000).contains(&pttl), "{pttl}");
    // GT and LT compare with the current TTL.
    assert_eq!(int(&mut con, &["EXPIRE", "k", "100", "GT"]), 0);
    assert_eq!(int(&mut con, &["EXPIRE", "k", "300", "gt"]), 1);
    assert_eq!(int(&mut con, &["EXPIRE", "k", "400", "LT"]), 0);
    assert_eq!(int(&mut con, &["EXPIRE", "k", "50", "LT"]), 1);
    // Without a TTL, GT never applies and LT always does (no TTL counts as infinite).
    let _: () = con.set("p", "v").unwrap();
    assert_eq!(int(&mut con, &["EXPIRE", "p", "100", "GT"]), 0);
    assert_eq!(int(&mut con, &["EXPIRE", "p", "100", "XX", "LT"]), 0);
    assert_eq!(int(&mut con, &["EXPIRE", "p", "100", "LT"]), 1);

    // Absolute forms and EXPIRETIME.
    let at = now_ms() / 1000 + 1000;
    assert_eq!(int(&mut con, &["EXPIREAT", "k", &at.to_string()]), 1);
    assert_eq!(int(&mut con, &["EXPIRETIME", "k"]), at);
    assert_eq!(int(&mut con, &["PEXPIRETIME", "k"]), at * 1000);
    let at_ms = now_ms() + 500_000;
    assert_eq!(int(&mut con, &["PEXPIREAT", "k", &at_ms.to_string()]), 1);
    assert_eq!(int(&mut con, &["PEXPIRETIME", "k"]), at_ms);
    assert_eq!(int(&mut con, &["PEXPIRE", "k", "100000"]), 1);

    // PERSIST.
    assert_eq!(int(&mut con, &["PERSIST", "k"]), 1);
    assert_eq!(int(&mut con, &["PERSIST", "k"]), 0);
    assert_eq!(int(&mut con, &["PERSIST", "missing"]), 0);
    assert_eq!(int(&mut con, &["TTL", "k"]), -1);

    // Errors, with Redis 7's texts; the options are checked before the number.
    let e = |con: &mut Connection, words: &[&str]| query_err(con, &cmd(words));
    assert!(e(&mut con, &["EXPIRE", "k", "10", "NX", "XX"])
        .contains("NX and XX, GT or LT options at the same time are not compatible"));
    assert!(e(&mut con, &["EXPIRE", "k", "10", "GT", "LT"])
        .contains("GT and LT options at the same time are not compatible"));
    assert!(e(&mut con, &["EXPIRE", "k", "10", "foo"]).contains("Unsupported option foo"));
    assert!(e(&mut con, &["EXPIRE", "k", "ten"]).contains("value is not an integer"));
    assert!(e(&mut con, &["EXPIRE", "k", "99999999999999999"])
        .contains("invalid expire time in 'expire' command"));
    assert!(e(&mut con, &["PEXPIRE", "k", "9223372036854775807"])
        .contains("invalid expire time in 'pexpire' command"));
    assert!(e(&mut con, &["EXPIRE", "k"]).contains("wrong number of arguments"));
    assert!(e(&mut con, &["TTL", "k", "x"]).contains("wrong number of arguments"));
    assert_eq!(
        int(&mut con, &["TTL", "k"]),
        -1,
        "failed commands change nothing"
    );
}

#[test]
fn an_expiry_in_the_past_deletes_the_key() {
    let server = Server::start();
    let mut con = server.conn();
    for words in [
        &["EXPIRE", "k", "0"][..],
        &["EXPIRE", "k", "-10"],
        &["PEXPIREAT", "k", "1"],
        &["EXPIREAT", "k", "0"],
    ] {
        let _: () = con.set("k", "v").unwrap();
        assert_eq!(int(&mut con, words), 1, "{words:?}");
        assert_eq!(int(&mut con, &["EXISTS", "k"]), 0, "{words:?}");
    }
    assert_eq!(dbsize(&mut con), 0);
}

#[test]
fn keys_expire_lazily_and_actively() {
    let server = Server::start();
    let mut con = server.conn();
    for i in 0..50 {
        let _: () = cmd(&["SET", &format!("short:{i}"), "v", "PX", "100"])
            .query(&mut con)
            .unwrap();
    }
    let _: () = con.set("lazy", "v").unwrap();
    assert_eq!(int(&mut con, &["PEXPIRE", "lazy", "100"]), 1);
    let _: () = con.set("stays", "v").unwrap();
    // Nobody reads the short keys: only the active sweep can remove them (DBSIZE counts
    // keys whose TTL passed until they are removed, as Redis's does).
    wait_until("the active sweep", Duration::from_secs(10), || {
        dbsize(&mut con) == 1
    });
    assert_eq!(text(&mut con, &["GET", "stays"]).as_deref(), Some("v"));
    let info: String = cmd(&["INFO", "stats"]).query(&mut con).unwrap();
    let expired = common::info_field(&info, "expired_keys").unwrap();
    assert_eq!(expired, "51", "{info}");
}

#[test]
fn ttls_survive_restart_and_keys_expired_while_down_are_gone() {
    let mut server = Server::start();
    {
        let mut con = server.conn();
        let _: () = cmd(&["SET", "long", "v", "EX", "1000"])
            .query(&mut con)
            .unwrap();
        let _: () = cmd(&["SET", "short", "v", "PX", "300"])
            .query(&mut con)
            .unwrap();
        let _: () = con.set("forever", "v").unwrap();
    }
    server.stop();
    std::thread::sleep(Duration::from_millis(400));
    server.restart();
    let mut con = server.conn();
    let ttl = int(&mut con, &["TTL", "long"]);
    assert!((990..=1000).contains(&ttl), "{ttl}");
    assert_eq!(int(&mut con, &["EXISTS", "short"]), 0);
    assert_eq!(int(&mut con, &["TTL", "forever"]), -1);
    wait_until(
        "the sweep of the key expired while down",
        Duration::from_secs(10),
        || dbsize(&mut con) == 2,
    );
}

#[test]
fn rename_renamenx_keep_value_and_ttl() {
    let server = Server::start();
    let mut con = server.conn();
    assert!(query_err(&mut con, &cmd(&["RENAME", "nope", "x"])).contains("ERR no such key"));
    assert!(query_err(&mut con, &cmd(&["RENAMENX", "nope", "x"])).contains("ERR no such key"));
    let _: () = cmd(&["SET", "a", "1", "EX", "1000"])
        .query(&mut con)
        .unwrap();
    let _: () = con.set("b", "2").unwrap();
    assert_eq!(text(&mut con, &["RENAME", "a", "c"]).as_deref(), Some("OK"));
    assert_eq!(int(&mut con, &["EXISTS", "a"]), 0);
    assert_eq!(text(&mut con, &["GET", "c"]).as_deref(), Some("1"));
    assert!(int(&mut con, &["TTL", "c"]) > 990);
    // RENAME overwrites (and the destination's own TTL goes with its value).
    let _: () = cmd(&["SET", "d", "old", "EX", "50"])
        .query(&mut con)
        .unwrap();
    let _: () = con.set("b", "2").unwrap();
    assert_eq!(text(&mut con, &["RENAME", "b", "d"]).as_deref(), Some("OK"));
    assert_eq!(text(&mut con, &["GET", "d"]).as_deref(), Some("2"));
    assert_eq!(int(&mut con, &["TTL", "d"]), -1);
    // RENAMENX refuses an existing destination; a key renamed to itself is there already.
    assert_eq!(int(&mut con, &["RENAMENX", "c", "d"]), 0);
    assert_eq!(int(&mut con, &["RENAMENX", "c", "e"]), 1);
    assert_eq!(int(&mut con, &["RENAMENX", "e", "e"]), 0);
    assert_eq!(text(&mut con, &["RENAME", "e", "e"]).as_deref(), Some("OK"));
    assert_eq!(text(&mut con, &["GET", "e"]).as_deref(), Some("1"));
    assert_eq!(dbsize(&mut con), 2);
}

#[test]
fn rename_survives_restart_and_a_rename_chain_in_one_pipeline() {
    let mut server = Server::start();
    {
        let mut con = server.conn();
        let (): () = redis::pipe()
            .cmd("SET")
            .arg("k0")
            .arg("v")
            .ignore()
            .cmd("RENAME")
            .arg("k0")
            .arg("k1")
            .ignore()
            .cmd("RENAME")
            .arg("k1")
            .arg("k2")
            .ignore()
            .cmd("SET")
            .arg("k1")
            .arg("again")
            .ignore()
            .query(&mut con)
            .unwrap();
    }
    server.restart();
    let mut con = server.conn();
    assert_eq!(text(&mut con, &["GET", "k0"]), None);
    assert_eq!(text(&mut con, &["GET", "k1"]).as_deref(), Some("again"));
    assert_eq!(text(&mut con, &["GET", "k2"]).as_deref(), Some("v"));
    assert_eq!(dbsize(&mut con), 2);
}

#[test]
fn move_and_copy_across_databases() {
    let server = Server::start();
    let mut con = server.conn();
    let _: () = cmd(&["SET", "k", "v", "EX", "1000"])
        .query(&mut con)
        .unwrap();
    assert!(query_err(&mut con, &cmd(&["MOVE", "k", "0"]))
        .contains("source and destination objects are the same"));
    assert!(query_err(&mut con, &cmd(&["MOVE", "k", "16"])).contains("DB index is out of range"));
    assert!(query_err(&mut con, &cmd(&["MOVE", "k", "x"])).contains("not an integer"));
    assert_eq!(int(&mut con, &["MOVE", "nope", "1"]), 0);
    assert_eq!(int(&mut con, &["MOVE", "k", "1"]), 1);
    assert_eq!(int(&mut con, &["EXISTS", "k"]), 0);
    let _: () = con.set("k", "here").unwrap();
    // The destination has the key now: MOVE does nothing.
    let _: () = cmd(&["SELECT", "1"]).query(&mut con).unwrap();
    assert!(int(&mut con, &["TTL", "k"]) > 990);
    assert_eq!(int(&mut con, &["MOVE", "k", "0"]), 0);
    assert_eq!(text(&mut con, &["GET", "k"]).as_deref(), Some("v"));

    // COPY, with DB and REPLACE.
    assert!(query_err(&mut con, &cmd(&["COPY", "k", "k"]))
        .contains("source and destination objects are the same"));
    assert!(query_err(&mut con, &cmd(&["COPY", "k", "c", "DB", "99"]))
        .contains("DB index is out of range"));
    assert!(query_err(&mut con, &cmd(&["COPY", "k", "c", "BOGUS"])).contains("syntax error"));
    assert_eq!(int(&mut con, &["COPY", "nope", "c"]), 0);
    assert_eq!(int(&mut con, &["COPY", "k", "c"]), 1);
    assert!(int(&mut con, &["TTL", "c"]) > 990, "COPY keeps the TTL");
    assert_eq!(
        int(&mut con, &["COPY", "k", "k", "DB", "0"]),
        0,
        "exists in db 0"
    );
    assert_eq!(int(&mut con, &["COPY", "k", "k", "DB", "0", "REPLACE"]), 1);
    let _: () = cmd(&["SELECT", "0"]).query(&mut con).unwrap();
    assert_eq!(text(&mut con, &["GET", "k"]).as_deref(), Some("v"));
    // The copy is independent of its source.
    let _: () = con.set("k", "changed").unwrap();
    let _: () = cmd(&["SELECT", "1"]).query(&mut con).unwrap();
    assert_eq!(text(&mut con, &["GET", "k"]).as_deref(), Some("v"));
}

#[test]
fn swapdb_swaps_for_every_client_and_persists() {
    let mut server = Server::start();
    {
        let mut a = server.conn();
        let mut b = server.conn();
        let _: () = a.set("in0", "zero").unwrap();
        let _: () = cmd(&["SELECT", "3"]).query(&mut b).unwrap();
        let _: () = b.set("in3", "three").unwrap();
        assert!(query_err(&mut a, &cmd(&["SWAPDB", "x", "1"])).contains("invalid first DB index"));
        assert!(query_err(&mut a, &cmd(&["SWAPDB", "1", "y"])).contains("invalid second DB index"));
        assert!(
            query_err(&mut a, &cmd(&["SWAPDB", "0", "16"])).contains("DB index is out of range")
        );
        assert_eq!(text(&mut a, &["SWAPDB", "0", "3"]).as_deref(), Some("OK"));
        assert_eq!(text(&mut a, &["GET", "in3"]).as_deref(), Some("three"));
        assert_eq!(text(&mut b, &["GET", "in0"]).as_deref(), Some("zero"));
        assert_eq!(text(&mut b, &["GET", "in3"]), None);
        let _: () = a.set("new0", "n").unwrap();
        let info: String = cmd(&["INFO", "keyspace"]).query(&mut a).unwrap();
        assert!(info.contains("db0:keys=2,"), "{info}");
        assert!(info.contains("db3:keys=1,"), "{info}");
    }
    server.restart();
    let mut con = server.conn();
    assert_eq!(text(&mut con, &["GET", "in3"]).as_deref(), Some("three"));
    assert_eq!(text(&mut con, &["GET", "new0"]).as_deref(), Some("n"));
    let _: () = cmd(&["SELECT", "3"]).query(&mut con).unwrap();
    assert_eq!(text(&mut con, &["GET", "in0"]).as_deref(), Some("zero"));
    assert_eq!(dbsize(&mut con), 1);
}

#[test]
fn keys_with_glob_patterns() {
    let server = Server::start();
    let mut con = server.conn();
    for k in [
        "hello", "hallo", "hxllo", "hllo", "heeeello", "h*llo", "other",
    ] {
        let _: () = con.set(k, "v").unwrap();
    }
    let mut keys = |pattern: &str| {
        let mut v: Vec<String> = con.keys(pattern).unwrap();
        v.sort();
        v
    };
    assert_eq!(keys("h?llo"), ["h*llo", "hallo", "hello", "hxllo"]);
    assert_eq!(
        keys("h*llo"),
        ["h*llo", "hallo", "heeeello", "hello", "hllo", "hxllo"]
    );
    assert_eq!(keys("h[ae]llo"), ["hallo", "hello"]);
    assert_eq!(keys("h[^e]llo"), ["h*llo", "hallo", "hxllo"]);
    assert_eq!(keys("h[a-b]llo"), ["hallo"]);
    assert_eq!(keys("h\\*llo"), ["h*llo"]);
    assert_eq!(keys("*").len(), 7);
    assert!(keys("nomatch*").is_empty());
}

fn scan_all(con: &mut Connection, extra: &[&str]) -> Vec<String> {
    let mut cursor = "0".to_string();
    let mut out = Vec::new();
    loop {
        let mut words = vec!["SCAN", &cursor];
        words.extend_from_slice(extra);
        let (next, keys): (String, Vec<String>) = cmd(&words).query(con).unwrap();
        out.extend(keys);
        if next == "0" {
            return out;
        }
        cursor = next;
    }
}

#[test]
fn scan_options_and_errors() {
    let server = Server::start();
    let mut con = server.conn();
    for i in 0..200 {
        let _: () = con.set(format!("user:{i}"), i).unwrap();
    }
    for i in 0..20 {
        let _: () = con.set(format!("order:{i}"), i).unwrap();
    }
    let all = scan_all(&mut con, &["COUNT", "7"]);
    assert_eq!(all.len(), 220);
    assert_eq!(
        all.iter().collect::<HashSet<_>>().len(),
        220,
        "no duplicates"
    );
    let orders = scan_all(&mut con, &["MATCH", "order:*", "COUNT", "50"]);
    assert_eq!(orders.len(), 20);
    assert_eq!(scan_all(&mut con, &["TYPE", "string"]).len(), 220);
    assert!(scan_all(&mut con, &["TYPE", "hash"]).is_empty());
    // COUNT is a hint: one call with a big COUNT returns everything and cursor 0.
    let (next, keys): (String, Vec<String>) = cmd(&["SCAN", "0", "COUNT", "1000"])
        .query(&mut con)
        .unwrap();
    assert_eq!((next.as_str(), keys.len()), ("0", 220));
    // A cursor past every key ends the iteration.
    let (next, keys): (String, Vec<String>) = cmd(&["SCAN", "18446744073709551615"])
        .query(&mut con)
        .unwrap();
    assert_eq!((next.as_str(), keys.len()), ("0", 0));
    assert!(query_err(&mut con, &cmd(&["SCAN", "x"])).contains("ERR invalid cursor"));
    assert!(query_err(&mut con, &cmd(&["SCAN", " 1"])).contains("ERR invalid cursor"));
    // As Redis 7.0's strtoul: a negative cursor wraps around (past every key here).
    let (next, keys): (String, Vec<String>) = cmd(&["SCAN", "-1"]).query(&mut con).unwrap();
    assert_eq!((next.as_str(), keys.len()), ("0", 0));
    assert!(query_err(&mut con, &cmd(&["SCAN", "0", "COUNT", "0"])).contains("syntax error"));
    assert!(query_err(&mut con, &cmd(&["SCAN", "0", "COUNT"])).contains("syntax error"));
    assert!(query_err(&mut con, &cmd(&["SCAN", "0", "COUNT", "x"])).contains("not an integer"));
    assert!(query_err(&mut con, &cmd(&["SCAN", "0", "BOGUS", "1"])).contains("syntax error"));
}

#[test]
fn scan_returns_every_key_present_throughout_while_others_come_and_go() {
    let server = Server::start();
    let mut con = server.conn();
    let mut writer = server.conn();
    let stable: HashSet<String> = (0..500).map(|i| format!("stable:{i}")).collect();
    for k in &stable {
        let _: () = con.set(k, "v").unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor = "0".to_string();
    let mut round = 0;
    loop {
        // Between pages another client adds and removes keys.
        for j in 0..20 {
            let _: () = writer.set(format!("churn:{round}:{j}"), "v").unwrap();
            let _: () = writer
                .del(format!("churn:{}:{j}", round.max(1) - 1))
                .unwrap();
        }
        round += 1;
        let (next, keys): (String, Vec<String>) = cmd(&["SCAN", &cursor, "COUNT", "25"])
            .query(&mut con)
            .unwrap();
        seen.extend(keys);
        if next == "0" {
            break;
        }
        cursor = next;
    }
    let seen_stable: Vec<&String> = seen.iter().filter(|k| stable.contains(*k)).collect();
    assert_eq!(seen_stable.len(), 500, "each stable key exactly once");
    assert_eq!(seen_stable.iter().collect::<HashSet<_>>().len(), 500);
}

#[test]
fn scan_skips_keys_whose_ttl_passed() {
    let server = Server::start();
    let mut con = server.conn();
    let _: () = con.set("live", "v").unwrap();
    let _: () = cmd(&["SET", "gone", "v", "PX", "1"])
        .query(&mut con)
        .unwrap();
    std::thread::sleep(Duration::from_millis(10));
    assert_eq!(scan_all(&mut con, &[]), ["live"]);
    let keys: Vec<String> = con.keys("*").unwrap();
    assert_eq!(keys, ["live"]);
}

#[test]
fn randomkey_picks_existing_keys() {
    let server = Server::start();
    let mut con = server.conn();
    assert_eq!(text(&mut con, &["RANDOMKEY"]), None);
    let all: HashSet<String> = (0..20).map(|i| format!("k{i}")).collect();
    for k in &all {
        let _: () = con.set(k, "v").unwrap();
    }
    let mut picked = HashSet::new();
    for _ in 0..200 {
        let k = text(&mut con, &["RANDOMKEY"]).unwrap();
        assert!(all.contains(&k), "{k}");
        picked.insert(k);
    }
    assert!(picked.len() > 1, "RANDOMKEY always returned {picked:?}");
    // Keys whose TTL passed are never returned.
    let _: () = con.del(all.iter().collect::<Vec<_>>()).unwrap();
    let _: () = cmd(&["SET", "gone", "v", "PX", "1"])
        .query(&mut con)
        .unwrap();
    std::thread::sleep(Duration::from_millis(10));
    assert_eq!(text(&mut con, &["RANDOMKEY"]), None);
}

#[test]
fn object_subcommands() {
    let server = Server::start();
    let mut con = server.conn();
    let enc = |con: &mut Connection, k: &str| text(con, &["OBJECT", "ENCODING", k]);
    let _: () = con.set("int", "12345").unwrap();
    let _: () = con.set("short", "hello").unwrap();
    let _: () = con.set("long", "x".repeat(100)).unwrap();
    assert_eq!(enc(&mut con, "int").as_deref(), Some("int"));
    assert_eq!(enc(&mut con, "short").as_deref(), Some("embstr"));
    assert_eq!(enc(&mut con, "long").as_deref(), Some("raw"));
    assert_eq!(enc(&mut con, "nope"), None);
    assert_eq!(int(&mut con, &["OBJECT", "REFCOUNT", "int"]), 1);
    let _: () = con.set("shared", "7").unwrap();
    assert_eq!(int(&mut con, &["OBJECT", "REFCOUNT", "shared"]), 2147483647);
    assert_eq!(int(&mut con, &["OBJECT", "IDLETIME", "int"]), 0);
    let v: V = cmd(&["OBJECT", "IDLETIME", "nope"])
        .query(&mut con)
        .unwrap();
    assert_eq!(v, V::Nil);
    assert!(query_err(&mut con, &cmd(&["OBJECT", "FREQ", "int"]))
        .contains("An LFU maxmemory policy is not selected"));
    let help: Vec<String> = cmd(&["OBJECT", "HELP"]).query(&mut con).unwrap();
    assert!(help[0].starts_with("OBJECT <subcommand>"), "{help:?}");
    assert!(query_err(&mut con, &cmd(&["OBJECT", "NOPE", "x"])).contains("unknown subcommand"));
}

#[test]
fn a_data_set_larger_than_the_cache_stays_readable_within_the_budget() {
    let mut server = Server::builder()
        .config("[storage]\ncache_max_bytes = \"1mb\"\n")
        .start();
    let value = "v".repeat(1000);
    {
        let mut con = server.conn();
        // 8 MB of values, eight times the cache.
        for chunk in 0..80 {
            let mut pipe = redis::pipe();
            for i in 0..100 {
                pipe.cmd("SET")
                    .arg(format!("key:{chunk}:{i}"))
                    .arg(&value)
                    .ignore();
            }
            let (): () = pipe.query(&mut con).unwrap();
        }
        let info: String = cmd(&["INFO", "memory"]).query(&mut con).unwrap();
        let cached: u64 = common::info_field(&info, "respite_cache_bytes")
            .unwrap()
            .parse()
            .unwrap();
        assert!(cached <= 1024 * 1024, "cache holds {cached} bytes");
        assert_eq!(dbsize(&mut con), 8000);
        // Reading every key back (read-only batches) keeps the cache in its budget too.
        for chunk in 0..80 {
            let mut pipe = redis::pipe();
            for i in 0..100 {
                pipe.cmd("GET").arg(format!("key:{chunk}:{i}"));
            }
            let got: Vec<String> = pipe.query(&mut con).unwrap();
            assert!(got.iter().all(|v| *v == value));
        }
        let info: String = cmd(&["INFO", "memory"]).query(&mut con).unwrap();
        let cached: u64 = common::info_field(&info, "respite_cache_bytes")
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            cached <= 1024 * 1024,
            "cache holds {cached} bytes after reads"
        );
    }
    server.restart();
    let mut con = server.conn();
    assert_eq!(dbsize(&mut con), 8000);
    let got: String = con.get("key:0:0").unwrap();
    assert_eq!(got, value);
}

#[test]
fn generic_commands_on_hashes_small_and_large() {
    let mut server = Server::start();
    {
        let mut con = server.conn();
        let _: () = con.hset("small", "f", "v").unwrap();
        for i in 0..300 {
            let _: () = con.hset("big", format!("f{i}"), i).unwrap();
        }
        let _: () = con.hset("wide", "f", "x".repeat(65)).unwrap();
        assert_eq!(text(&mut con, &["TYPE", "big"]).unwrap(), "hash");
        let enc = |con: &mut Connection, k: &str| text(con, &["OBJECT", "ENCODING", k]);
        assert_eq!(enc(&mut con, "small").as_deref(), Some("listpack"));
        assert_eq!(enc(&mut con, "big").as_deref(), Some("hashtable"));
        assert_eq!(enc(&mut con, "wide").as_deref(), Some("hashtable"));
        let _: () = con.set("str", "v").unwrap();
        let mut hashes = scan_all(&mut con, &["TYPE", "hash"]);
        hashes.sort();
        assert_eq!(hashes, ["big", "small", "wide"]);
        assert_eq!(scan_all(&mut con, &["TYPE", "string"]), ["str"]);

        // A large hash renamed, moved and copied keeps every field; the copy is its own.
        assert_eq!(
            text(&mut con, &["RENAME", "big", "big2"]).as_deref(),
            Some("OK")
        );
        assert_eq!(int(&mut con, &["MOVE", "big2", "1"]), 1);
        assert_eq!(
            int(&mut con, &["COPY", "big2", "big3", "DB", "1"]),
            0,
            "no source in db 0"
        );
        let _: () = cmd(&["SELECT", "1"]).query(&mut con).unwrap();
        assert_eq!(int(&mut con, &["COPY", "big2", "big3"]), 1);
        assert_eq!(int(&mut con, &["HDEL", "big3", "f1", "f2"]), 2);
        assert_eq!(int(&mut con, &["HLEN", "big2"]), 300);
        assert_eq!(int(&mut con, &["HLEN", "big3"]), 298);
        // Overwriting a large hash with a string drops its fields for good.
        let _: () = con.set("big3", "now a string").unwrap();
        assert_eq!(text(&mut con, &["TYPE", "big3"]).unwrap(), "string");
        let _: () = cmd(&["SELECT", "0"]).query(&mut con).unwrap();
        // A hash key's own TTL.
        assert_eq!(int(&mut con, &["PEXPIRE", "small", "1"]), 1);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(int(&mut con, &["EXISTS", "small"]), 0);
        assert!(query_err(&mut con, &cmd(&["GET", "wide"])).starts_with("WRONGTYPE"));
    }
    server.restart();
    let mut con = server.conn();
    let _: () = cmd(&["SELECT", "1"]).query(&mut con).unwrap();
    let all: std::collections::HashMap<String, String> = con.hgetall("big2").unwrap();
    assert_eq!(all.len(), 300);
    assert_eq!(all["f299"], "299");
    assert_eq!(
        text(&mut con, &["GET", "big3"]).as_deref(),
        Some("now a string")
    );
    assert_eq!(dbsize(&mut con), 2);
}

#[test]
fn inspecting_commands_count_hits_and_misses_as_redis_does() {
    // redis-server 7.0 for the same commands: 4 hits, 5 misses; keymiss for all misses but
    // OBJECT's.
    let server = Server::start();
    let mut con = server.conn();
    let _: () = cmd(&["CONFIG", "SET", "notify-keyspace-events", "Em"])
        .query(&mut con)
        .unwrap();
    let mut sub = server.client().get_connection().unwrap();
    sub.set_read_timeout(Some(common::IO_TIMEOUT)).unwrap();
    let mut sub = sub.as_pubsub();
    sub.psubscribe("__keyevent@0__:*").unwrap();
    let _: () = con.set("a", "1").unwrap();
    for words in [
        &["EXISTS", "a", "nokey1"][..],
        &["TYPE", "a"],
        &["TYPE", "nokey2"],
        &["TTL", "a"],
        &["PTTL", "nokey3"],
        &["OBJECT", "ENCODING", "a"],
        &["OBJECT", "ENCODING", "nokey4"],
        &["EXPIRETIME", "nokey5"],
    ] {
        let _: V = cmd(words).query(&mut con).unwrap();
    }
    let info: String = cmd(&["INFO", "stats"]).query(&mut con).unwrap();
    assert_eq!(
        common::info_field(&info, "keyspace_hits").as_deref(),
        Some("4")
    );
    assert_eq!(
        common::info_field(&info, "keyspace_misses").as_deref(),
        Some("5")
    );
    let _: V = cmd(&["GET", "end"]).query(&mut con).unwrap();
    let mut missed = Vec::new();
    loop {
        let msg = sub.get_message().unwrap();
        let key: String = msg.get_payload().unwrap();
        if key == "end" {
            break;
        }
        missed.push(key);
    }
    assert_eq!(missed, ["nokey1", "nokey2", "nokey3", "nokey5"]);
}
