//! MEMORY USAGE: an estimate that grows with the value, nil for a missing key, and Redis
//! 7.0.15's errors, checked side by side with a real redis-server.

mod common;

use common::redis_server::RedisServer;
use common::{Reply, Server};

fn usage(c: &mut common::RawConn, args: &[&str]) -> Reply {
    let mut argv = vec!["MEMORY", "USAGE"];
    argv.extend_from_slice(args);
    c.cmd(&argv)
}

#[test]
fn usage_grows_with_the_value_and_samples_every_type() {
    let server = Server::start();
    let mut c = server.raw();
    assert_eq!(usage(&mut c, &["missing"]), Reply::NilBulk);
    c.cmd(&["SET", "small", "x"]);
    c.cmd(&["SET", "large", &"x".repeat(100_000)]);
    let small = usage(&mut c, &["small"]).int();
    let large = usage(&mut c, &["large"]).int();
    assert!(
        small > 0 && large > 100_000 && large < 101_000,
        "{small} {large}"
    );
    // Every type, small and large (past the listpack limits), counts its elements.
    for n in [10usize, 1000] {
        for i in 0..n {
            let (f, v) = (format!("field:{i:04}"), format!("value:{i:04}"));
            c.cmd(&["HSET", &format!("h{n}"), &f, &v]);
            c.cmd(&["RPUSH", &format!("l{n}"), &v]);
            c.cmd(&["SADD", &format!("s{n}"), &v]);
            c.cmd(&["ZADD", &format!("z{n}"), &i.to_string(), &v]);
            c.cmd(&["XADD", &format!("x{n}"), "*", &f, &v]);
        }
    }
    for kind in ["h", "l", "s", "z", "x"] {
        let few = usage(&mut c, &[&format!("{kind}10")]).int();
        let many = usage(&mut c, &[&format!("{kind}1000")]).int();
        let all = usage(&mut c, &[&format!("{kind}1000"), "SAMPLES", "0"]).int();
        assert!(few > 100, "{kind}: {few}");
        assert!(many > few * 50, "{kind}: {few} for 10, {many} for 1000");
        // Sampling everything or five elements of same-sized elements gives about the same.
        assert!(
            all > many * 9 / 10 && all < many * 11 / 10,
            "{kind}: {many} vs {all}"
        );
    }
    c.cmd(&["SET", "expired", "v", "PX", "1"]);
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(usage(&mut c, &["expired"]), Reply::NilBulk);
}

#[test]
fn errors_are_redis_7s() {
    let redis = RedisServer::start();
    let server = Server::start();
    let (mut theirs, mut ours) = (redis.raw(), server.raw());
    for c in [&mut theirs, &mut ours] {
        c.cmd(&["HSET", "h", "a", "1"]);
    }
    let cases: &[&[&str]] = &[
        &["MEMORY", "USAGE", "h", "SAMPLES", "-1"],
        &["MEMORY", "USAGE", "h", "SAMPLES", "x"],
        &["MEMORY", "USAGE", "h", "SAMPLES"],
        &["MEMORY", "USAGE", "h", "FOO"],
        &["MEMORY", "USAGE"],
        &["MEMORY", "NOPE"],
        &["MEMORY", "USAGE", "missing"],
        &["MEMORY", "USAGE", "missing", "samples", "3"],
    ];
    for case in cases {
        assert_eq!(ours.cmd(case), theirs.cmd(case), "{case:?}");
    }
}

/// MEMORY STATS as name -> integer (the ratios and percentages left out).
fn stats(c: &mut common::RawConn) -> std::collections::HashMap<String, i64> {
    let Reply::Array(items) = c.cmd(&["MEMORY", "STATS"]) else {
        panic!("MEMORY STATS is not an array in RESP2");
    };
    items
        .chunks(2)
        .filter_map(|pair| match pair {
            [Reply::Bulk(k), Reply::Int(v)] => Some((String::from_utf8_lossy(k).into(), *v)),
            _ => None,
        })
        .collect()
}

#[test]
fn used_memory_is_the_allocators_and_stats_doctor_and_purge_answer() {
    let server = Server::start();
    let mut c = server.raw();
    let info = |c: &mut common::RawConn| match c.cmd(&["INFO", "memory"]) {
        Reply::Bulk(b) => String::from_utf8(b).unwrap(),
        other => panic!("{other:?}"),
    };
    let field = |text: &str, name: &str| -> u64 {
        common::info_field(text, name).unwrap().parse().unwrap()
    };
    let before = info(&mut c);
    assert_eq!(
        common::info_field(&before, "mem_allocator").as_deref(),
        Some("jemalloc-5.3.0")
    );
    let used = field(&before, "used_memory");
    assert!(
        used > 0 && used < field(&before, "used_memory_rss"),
        "{before}"
    );
    // 20 MB of values in the hot cache raise used_memory and its peak by about as much.
    let value = "x".repeat(10_000);
    for i in 0..2_000 {
        c.cmd(&["SET", &format!("k{i}"), &value]);
    }
    let after = info(&mut c);
    assert!(field(&after, "used_memory") > used + 15_000_000, "{after}");
    assert!(field(&after, "used_memory_peak") >= field(&after, "used_memory"));
    let s = stats(&mut c);
    assert_eq!(s["keys.count"], 2_000);
    assert!(s["total.allocated"] > 15_000_000, "{s:?}");
    assert!(s["peak.allocated"] >= s["total.allocated"]);
    assert!(s["dataset.bytes"] >= 20_000_000, "{s:?}");
    match c.cmd(&["MEMORY", "DOCTOR"]) {
        Reply::Bulk(text) => assert!(!text.is_empty()),
        other => panic!("{other:?}"),
    }
    match c.cmd(&["MEMORY", "MALLOC-STATS"]) {
        Reply::Bulk(text) => {
            assert!(String::from_utf8_lossy(&text).contains("jemalloc statistics"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.cmd(&["MEMORY", "PURGE"]), Reply::Simple("OK".into()));
}

/// INFO memory's integer field `name`.
fn info_memory(c: &mut common::RawConn, name: &str) -> i64 {
    info_memory_text(c, name).parse().unwrap()
}

/// A field of `INFO memory`, as it reads.
fn info_memory_text(c: &mut common::RawConn, name: &str) -> String {
    match c.cmd(&["INFO", "memory"]) {
        Reply::Bulk(b) => common::info_field(&String::from_utf8_lossy(&b), name)
            .unwrap_or_else(|| panic!("no {name} in INFO memory")),
        other => panic!("{other:?}"),
    }
}

/// SETs `key:000000`, `key:000001`, ... (`count` keys of `size` bytes), 1,000 a pipeline.
fn set_keys(conn: &mut redis::Connection, count: usize, size: usize) {
    let value = "v".repeat(size);
    for chunk in 0..count.div_ceil(1_000) {
        let mut pipe = redis::pipe();
        for i in chunk * 1_000..count.min((chunk + 1) * 1_000) {
            pipe.set(format!("key:{i:06}"), &value).ignore();
        }
        let () = pipe.query(conn).unwrap();
    }
}

#[test]
fn the_cache_budget_counts_what_its_keys_really_occupy() {
    // The hot cache's byte count is what `cache_max_bytes` limits: it must follow the
    // memory the cached keys take, or a cache of small values holds far more than its
    // budget (it held half as much again when each key was charged a flat 104 bytes).
    let server = Server::start();
    let mut c = server.raw();
    let mut conn = server.conn();
    let wait_rows_applied = |c: &mut common::RawConn| loop {
        let Reply::Bulk(b) = c.cmd(&["INFO", "persistence"]) else {
            panic!("INFO is not a bulk string");
        };
        let text = String::from_utf8_lossy(&b).into_owned();
        // Applied and merged: rows applied but not committed are kept for reads until the
        // merge commits (up to a merge's worth), which is not the cache's memory. And the key
        // filter built: until it is, it remembers the keys written, and the filter itself
        // (2 MB) is allocated when its thread finishes, which a loaded machine may delay
        // past the first figure (CI counted 1.22x so).
        let field = |name| common::info_field(&text, name);
        if field("respite_rows_queued").as_deref() == Some("0")
            && field("respite_journal_bytes").as_deref() == Some("0")
            && matches!(c.cmd(&["INFO", "memory"]), Reply::Bulk(m)
                if common::info_field(&String::from_utf8_lossy(&m), "respite_key_filter")
                    .as_deref() == Some("ready"))
        {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    wait_rows_applied(&mut c);
    let figures = |c: &mut common::RawConn| {
        (
            info_memory(c, "used_memory")
                - info_memory(c, "respite_sqlite_memory")
                - info_memory(c, "respite_key_filter_bytes"),
            info_memory(c, "respite_cache_bytes"),
        )
    };
    let (used_before, cache_before) = figures(&mut c);
    set_keys(&mut conn, 50_000, 500);
    wait_rows_applied(&mut c);
    let (used_after, cache_after) = figures(&mut c);
    assert_eq!(
        redis::cmd("DBSIZE").query::<i64>(&mut conn).unwrap(),
        50_000
    );
    let (used, cached) = (used_after - used_before, cache_after - cache_before);
    assert!(
        cached > 50_000 * 500 && used < cached * 6 / 5 && used > cached * 7 / 10,
        "50,000 keys of 500 bytes: the cache counts {cached} bytes, the allocator {used} \
         beyond SQLite's"
    );
}

#[test]
fn jemalloc_returns_freed_pages_from_a_background_thread() {
    let server = Server::start();
    let mut c = server.raw();
    let Reply::Bulk(text) = c.cmd(&["MEMORY", "MALLOC-STATS"]) else {
        panic!("MEMORY MALLOC-STATS is not a bulk string");
    };
    let text = String::from_utf8_lossy(&text);
    assert!(
        text.contains("opt.background_thread: true") && text.contains("opt.dirty_decay_ms: 250"),
        "{text}"
    );
}

/// The key filter (README, "Storage") is built at start-up, says so in INFO, and answers
/// reads and deletes of absent keys without a lookup or a cache slot; rewriting the keys it
/// holds does not rebuild it.
#[test]
fn the_key_filter_is_built_counted_and_answers_misses() {
    let server = Server::start();
    let mut c = server.raw();
    let info = |c: &mut common::RawConn, section: &str, field: &str| -> String {
        match c.cmd(&["INFO", section]) {
            Reply::Bulk(b) => common::info_field(&String::from_utf8_lossy(&b), field)
                .unwrap_or_else(|| panic!("no {field} in INFO {section}")),
            other => panic!("{other:?}"),
        }
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while info(&mut c, "memory", "respite_key_filter") != "ready" {
        assert!(
            std::time::Instant::now() < deadline,
            "the filter never got ready"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(info(&mut c, "memory", "respite_key_filter_builds"), "1");
    assert!(
        info(&mut c, "memory", "respite_key_filter_bytes")
            .parse::<u64>()
            .unwrap()
            > 0
    );
    for round in 0..3 {
        for i in 0..200 {
            assert_eq!(
                c.cmd(&["SET", &format!("k{i}"), &format!("v{round}")]),
                Reply::ok()
            );
        }
    }
    let skipped = |c: &mut common::RawConn| -> u64 {
        info(c, "stats", "respite_key_filter_skipped_lookups")
            .parse()
            .unwrap()
    };
    let before = skipped(&mut c);
    for i in 0..1000 {
        assert_eq!(c.cmd(&["GET", &format!("missing{i}")]), Reply::NilBulk);
    }
    assert!(skipped(&mut c) - before >= 950);
    // Neither those reads nor deletes of absent keys took a place in the cache.
    for i in 0..1000 {
        assert_eq!(c.cmd(&["DEL", &format!("gone{i}")]), Reply::Int(0));
    }
    assert_eq!(c.cmd(&["EXISTS", "missing1", "gone1"]), Reply::Int(0));
    assert_eq!(info(&mut c, "memory", "respite_cache_keys"), "200");
    assert_eq!(c.cmd(&["GET", "k199"]), Reply::bulk("v2"));
    assert_eq!(info(&mut c, "memory", "respite_key_filter_builds"), "1");
}

/// Each filter takes at most a sixteenth of `cache_max_bytes` (at least 1 MiB): a 16 MB
/// cache caps the key filter at 1 MiB, half what it wants for its million keys' room, and
/// CONFIG SET of a larger cache rebuilds it at the size it wants, finding every key.
#[test]
fn the_filters_memory_follows_the_cache_budget() {
    let server = Server::builder()
        .config("[storage]\ncache_max_bytes = \"16mb\"\n")
        .start();
    let mut c = server.raw();
    let timeout = std::time::Duration::from_secs(20);
    common::wait_until("the filters are built", timeout, || {
        info_memory_text(&mut c, "respite_key_filter") == "ready"
            && info_memory_text(&mut c, "respite_element_filter") == "ready"
    });
    assert_eq!(info_memory(&mut c, "respite_key_filter_bytes"), 1 << 20);
    assert_eq!(info_memory(&mut c, "respite_element_filter_bytes"), 1 << 20);
    for i in 0..300 {
        assert_eq!(c.cmd(&["SET", &format!("k{i}"), "v"]), Reply::ok());
    }
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "cache-max-bytes", "64mb"]),
        Reply::ok()
    );
    // Rebuilt with the next merge (within a second), uncapped: 2 MB for a million keys.
    common::wait_until("the key filter is rebuilt", timeout, || {
        info_memory(&mut c, "respite_key_filter_builds") == 2
            && info_memory_text(&mut c, "respite_key_filter") == "ready"
    });
    assert_eq!(info_memory(&mut c, "respite_key_filter_bytes"), 2 << 20);
    assert_eq!(info_memory(&mut c, "respite_element_filter_bytes"), 2 << 20);
    for i in 0..300 {
        assert_eq!(c.cmd(&["GET", &format!("k{i}")]), Reply::bulk("v"));
    }
    assert_eq!(c.cmd(&["GET", "missing"]), Reply::NilBulk);
}

#[test]
fn the_page_cache_borrows_what_the_hot_cache_leaves_unused() {
    // A 64 MB budget: SQLite's page cache has its quarter (16 MB), the hot cache 48 MB, of
    // which the page cache borrows all but an eighth (6 MB) while it is unused.
    let server = Server::builder()
        .config("[storage]\ncache_max_bytes = \"64mb\"\n")
        .start();
    let mut c = server.raw();
    let mut conn = server.conn();
    let timeout = std::time::Duration::from_secs(5);
    let lent = |c: &mut common::RawConn| info_memory(c, "respite_page_cache_lent_bytes");
    common::wait_until("the page cache borrows", timeout, || {
        lent(&mut c) == 42 << 20
    });
    assert_eq!(
        info_memory(&mut c, "respite_page_cache_max_bytes"),
        16 << 20
    );

    // Filling the hot cache takes the loan back.
    set_keys(&mut conn, 60_000, 700);
    common::wait_until("the loan is returned", timeout, || lent(&mut c) == 0);
    assert!(info_memory(&mut c, "respite_cache_bytes") > 42 << 20);

    // An emptied hot cache lends again; a page cache the operator sized borrows nothing.
    let () = redis::cmd("FLUSHALL").query(&mut conn).unwrap();
    common::wait_until("the page cache borrows again", timeout, || {
        lent(&mut c) == 42 << 20
    });
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "page-cache-bytes", "16mb"]),
        Reply::ok()
    );
    assert_eq!(lent(&mut c), 0);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(lent(&mut c), 0);
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "page-cache-bytes", "0"]),
        Reply::ok()
    );
    common::wait_until("the page cache borrows once more", timeout, || {
        lent(&mut c) == 42 << 20
    });
}
