//! CONFIG GET/SET knows every parameter of Redis 7.0, side by side with a real redis-server
//! 7.0.15 started by the test: the same names (aliases included), the same normalised
//! values and the same error texts; the old ziplist names drive Respite's encodings; several
//! pairs are applied all or nothing.

mod common;

use std::collections::BTreeSet;

use common::redis_server::RedisServer;
use common::{info_field, RawConn, Reply, Server};

fn names(conn: &mut RawConn) -> BTreeSet<String> {
    let reply = conn.cmd(&["CONFIG", "GET", "*"]);
    reply.items().chunks(2).map(|kv| kv[0].text()).collect()
}

fn get(conn: &mut RawConn, name: &str) -> String {
    let reply = conn.cmd(&["CONFIG", "GET", name]);
    reply
        .field(name)
        .unwrap_or_else(|| panic!("CONFIG GET {name}: {reply:?}"))
        .text()
}

/// Respite's own parameters, which redis-server does not have.
const RESPITE_ONLY: &[&str] = &[
    "cache-max-bytes",
    "collection-layout",
    "durability",
    "flush-interval-ms",
    "journal-max-bytes",
    "max-dirty-bytes",
    "merge-interval-ms",
    "metrics-listen",
    "page-cache-bytes",
    "row-window-bytes",
    "set-max-listpack-entries",
    "set-max-listpack-value",
    "storage-path",
    "synchronous",
];

#[test]
fn config_get_star_names_every_parameter_of_redis_7() {
    let redis = RedisServer::start();
    let server = Server::start();
    let theirs = names(&mut redis.raw());
    let ours = names(&mut server.raw());
    assert!(theirs.len() > 180, "redis-server listed {}", theirs.len());
    let missing: Vec<&String> = theirs.difference(&ours).collect();
    assert!(missing.is_empty(), "unknown to Respite: {missing:?}");
    let extra: Vec<&str> = ours.difference(&theirs).map(String::as_str).collect();
    assert_eq!(extra, RESPITE_ONLY);
    // Hidden parameters answer only to their exact name.
    for name in ["key-load-delay", "rdb-key-save-delay", "watchdog-period"] {
        assert!(!ours.contains(name), "{name} listed by CONFIG GET *");
        assert_eq!(get(&mut server.raw(), name), get(&mut redis.raw(), name));
    }
}

#[test]
fn values_and_errors_are_redis_7s() {
    let redis = RedisServer::start();
    let server = Server::start();
    let (mut theirs, mut ours) = (redis.raw(), server.raw());
    let cases: &[(&str, &str)] = &[
        ("hz", "abc"),
        ("hz", "-1"),
        ("hz", "0"),
        ("hz", "1000"),
        ("hz", "20"),
        ("activerehashing", "maybe"),
        ("activerehashing", "NO"),
        ("maxmemory", "1.5mb"),
        ("maxmemory", "-1"),
        ("maxmemory", "2gb"),
        ("maxmemory", "0"),
        ("maxmemory-policy", "sometimes"),
        ("maxmemory-policy", "ALLKEYS-LFU"),
        ("maxmemory-clients", "10%"),
        ("maxmemory-clients", "101%"),
        ("maxmemory-clients", "abc"),
        ("maxmemory-samples", "0"),
        ("slowlog-log-slower-than", "-2"),
        ("slowlog-max-len", "64"),
        ("save", "100"),
        ("save", "a 1"),
        ("save", " 100   10 "),
        ("save", ""),
        ("dir", "/tmp"),
        ("dbfilename", "x.rdb"),
        ("daemonize", "yes"),
        ("replicaof", "no one"),
        ("slaveof", "no one"),
        ("enable-debug-command", "yes"),
        ("unixsocketperm", "777"),
        ("appendonly", "maybe"),
        ("appendfsync", "sometimes"),
        ("appendfsync", "ALWAYS"),
        ("appendfsync", "everysec"),
        ("shutdown-on-sigint", "save nosave"),
        ("shutdown-on-sigint", "now save"),
        ("shutdown-on-sigint", "later"),
        ("oom-score-adj-values", "1 2"),
        ("oom-score-adj-values", "1 2 3000"),
        ("oom-score-adj-values", "1 2 3"),
        ("latency-tracking-info-percentiles", "101"),
        ("latency-tracking-info-percentiles", "abc"),
        ("latency-tracking-info-percentiles", "1.50 99"),
        ("proc-title-template", "{nope}"),
        ("proc-title-template", "{title}"),
        ("cluster-announce-hostname", "a_b"),
        ("cluster-announce-bus-port", "70000"),
        ("repl-diskless-load", "foo"),
        ("tls-auth-clients", "optional"),
        ("tracking-table-max-keys", "1k"),
        ("active-defrag-cycle-min", "100"),
        ("hll-sparse-max-bytes", "4kb"),
        ("repl-backlog-size", "1kb"),
        ("repl-backlog-size", "2mb"),
        ("stream-node-max-bytes", ""),
        ("slave-read-only", "no"),
        ("list-max-ziplist-size", "abc"),
        ("list-max-ziplist-size", "-3"),
        ("hash-max-ziplist-entries", "100"),
        ("hash-max-ziplist-value", "1kb"),
        ("hash-max-ziplist-value", "-1"),
        ("zset-max-ziplist-entries", "64"),
        ("zset-max-ziplist-value", "32"),
        ("lua-time-limit", "abc"),
        ("lua-time-limit", "4000"),
        ("no-such-parameter", "1"),
        // Redis's hidden test knobs.
        ("rdb-key-save-delay", "-5"),
        ("key-load-delay", "-2147483649"),
        ("loading-process-events-interval-bytes", "10"),
        ("use-exit-on-panic", "yes"),
        ("watchdog-period", "-1"),
    ];
    for (name, value) in cases {
        let want = theirs.cmd(&["CONFIG", "SET", name, value]);
        let got = ours.cmd(&["CONFIG", "SET", name, value]);
        assert_eq!(got, want, "CONFIG SET {name} {value:?}");
        if want == Reply::ok() {
            assert_eq!(
                get(&mut ours, name),
                get(&mut theirs, name),
                "CONFIG GET {name} after {value:?}"
            );
        }
    }
    // Several pairs: checked (names, then values) before any is applied.
    for pairs in [
        &["hz", "30", "maxmemory-policy", "sometimes"][..],
        &["hz", "30", "hz", "31"],
        &["hz", "30", "daemonize", "no"],
        &["hz", "30", "nope", "1"],
        &[
            "hz",
            "30",
            "hash-max-ziplist-entries",
            "5",
            "hash-max-listpack-entries",
            "6",
        ],
    ] {
        let mut args = vec!["CONFIG", "SET"];
        args.extend_from_slice(pairs);
        assert_eq!(ours.cmd(&args), theirs.cmd(&args), "{args:?}");
        assert_eq!(get(&mut ours, "hz"), get(&mut theirs, "hz"), "{args:?}");
    }
    assert_eq!(
        get(&mut ours, "hash-max-listpack-entries"),
        get(&mut theirs, "hash-max-listpack-entries")
    );
}

#[test]
fn old_ziplist_names_drive_the_encodings() {
    let server = Server::start();
    let mut conn = server.raw();
    let ok = Reply::ok();
    assert_eq!(
        conn.cmd(&["CONFIG", "SET", "hash-max-ziplist-entries", "2"]),
        ok
    );
    assert_eq!(get(&mut conn, "hash-max-listpack-entries"), "2");
    conn.cmd(&["HSET", "small", "a", "1", "b", "2"]);
    conn.cmd(&["HSET", "big", "a", "1", "b", "2", "c", "3"]);
    assert_eq!(
        conn.cmd(&["OBJECT", "ENCODING", "small"]).text(),
        "listpack"
    );
    assert_eq!(conn.cmd(&["OBJECT", "ENCODING", "big"]).text(), "hashtable");

    assert_eq!(
        conn.cmd(&["CONFIG", "SET", "zset-max-ziplist-value", "4"]),
        ok
    );
    conn.cmd(&["ZADD", "z", "1", "abcdefgh"]);
    assert_eq!(conn.cmd(&["OBJECT", "ENCODING", "z"]).text(), "skiplist");

    assert_eq!(conn.cmd(&["CONFIG", "SET", "appendfsync", "always"]), ok);
    assert_eq!(get(&mut conn, "synchronous"), "full");
    assert_eq!(conn.cmd(&["CONFIG", "SET", "synchronous", "normal"]), ok);
    assert_eq!(get(&mut conn, "appendfsync"), "everysec");
}

#[test]
fn the_page_cache_is_resized_at_run_time_within_its_bounds() {
    let server = Server::start();
    let mut conn = server.raw();
    let budget = |conn: &mut RawConn| -> (u64, u64, u64) {
        let info = conn.cmd(&["INFO", "memory"]).text();
        let field = |name: &str| info_field(&info, name).unwrap().parse::<u64>().unwrap();
        (
            field("respite_cache_max_bytes"),
            field("respite_hot_cache_max_bytes"),
            field("respite_page_cache_max_bytes"),
        )
    };
    // By default the page cache takes a quarter of the caches' budget, the hot cache the rest.
    assert_eq!(get(&mut conn, "page-cache-bytes"), "0");
    assert_eq!(budget(&mut conn), (256 << 20, 192 << 20, 64 << 20));
    conn.cmd(&["SET", "k", "before"]);
    assert_eq!(
        conn.cmd(&["CONFIG", "SET", "cache-max-bytes", "100mb"]),
        Reply::ok()
    );
    assert_eq!(budget(&mut conn), (100 << 20, 75 << 20, 25 << 20));
    assert_eq!(
        conn.cmd(&["CONFIG", "SET", "page-cache-bytes", "64mb"]),
        Reply::ok()
    );
    assert_eq!(get(&mut conn, "page-cache-bytes"), "67108864");
    assert_eq!(budget(&mut conn), (100 << 20, 36 << 20, 64 << 20));
    assert_eq!(
        conn.cmd(&["CONFIG", "SET", "page-cache-bytes", "100kb"]),
        Reply::error(
            "ERR CONFIG SET failed (possibly related to argument 'page-cache-bytes') - argument \
             must be 0 (a quarter of cache-max-bytes and what the hot cache leaves unused) or \
             between 1048576 and 9223372036854775807 inclusive"
        )
    );
    assert_eq!(get(&mut conn, "page-cache-bytes"), "67108864");
    // A tiny budget still leaves SQLite a megabyte.
    assert_eq!(
        conn.cmd(&["CONFIG", "SET", "page-cache-bytes", "0"]),
        Reply::ok()
    );
    assert_eq!(
        conn.cmd(&["CONFIG", "SET", "cache-max-bytes", "400kb"]),
        Reply::ok()
    );
    assert_eq!(budget(&mut conn), (400 << 10, 300 << 10, 1 << 20));
    // Resizing in the middle of the store's open transaction loses nothing.
    conn.cmd(&["SET", "k", "after"]);
    assert_eq!(conn.cmd(&["GET", "k"]).text(), "after");
}
