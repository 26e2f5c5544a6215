//! The search plugin, black box: FT.CREATE over existing and new hashes, every query
//! operator, SORTBY / LIMIT / RETURN / WITHSCORES, FT.AGGREGATE, suggestions, FT.INFO,
//! FT.ALTER, FT.EXPLAIN, FT.TAGVALS, FT.DROPINDEX [DD], the document commands, errors,
//! searches that stay consistent while writers change the hashes, and a restart.
//!
//! No RediSearch binary is available here: where a reply is checked against RediSearch, the
//! expectation is the one its documentation shows (RediSearch 2.x, redis.io command pages),
//! recorded in the test.

mod common;

use std::collections::BTreeSet;
use std::thread;
use std::time::Duration;

use common::{wait_until, RawConn, Reply, Server};

/// Generous bound for "eventually": a safety net, never a measurement.
const EVENTUALLY: Duration = Duration::from_secs(30);

fn server() -> Server {
    Server::builder()
        .config("[plugins]\nenabled = [\"blocking\", \"search\"]\n")
        .start()
}

fn cmd(c: &mut RawConn, args: &[&str]) -> Reply {
    c.cmd(args)
}

fn ok(c: &mut RawConn, args: &[&str]) {
    let r = c.cmd(args);
    assert_eq!(r, Reply::ok(), "{args:?}");
}

fn err(c: &mut RawConn, args: &[&str]) -> String {
    match c.cmd(args) {
        Reply::Error(e) => e,
        other => panic!("{args:?}: expected an error, got {other:?}"),
    }
}

/// The keys of an `FT.SEARCH ... NOCONTENT` reply, sorted, after checking its count.
fn keys(c: &mut RawConn, index: &str, query: &str) -> Vec<String> {
    let r = c.cmd(&["FT.SEARCH", index, query, "NOCONTENT", "LIMIT", "0", "1000"]);
    let items = match &r {
        Reply::Array(items) => items,
        other => panic!("{query}: {other:?}"),
    };
    let total = items[0].int();
    let mut out: Vec<String> = items[1..].iter().map(|k| k.text()).collect();
    assert_eq!(
        total as usize,
        out.len(),
        "{query}: count and keys disagree: {r:?}"
    );
    out.sort();
    out
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn wait_indexed(c: &mut RawConn, index: &str) {
    wait_until("the initial scan", EVENTUALLY, || {
        let info = c.cmd(&["FT.INFO", index]);
        info.field("indexing").map(|r| r.int()) == Some(0)
    });
}

fn hset(c: &mut RawConn, key: &str, fields: &[(&str, &str)]) {
    let mut args = vec!["HSET", key];
    for (f, v) in fields {
        args.push(f);
        args.push(v);
    }
    assert!(!c.cmd(&args).is_error());
}

/// The corpus of the operator tests.
fn corpus(c: &mut RawConn) {
    hset(
        c,
        "doc:1",
        &[
            ("title", "hello world"),
            ("body", "the quick brown fox"),
            ("price", "10"),
            ("tags", "red,Blue"),
        ],
    );
    hset(
        c,
        "doc:2",
        &[
            ("title", "goodbye moon"),
            ("body", "running dogs bark"),
            ("price", "25.5"),
            ("tags", "green"),
        ],
    );
    hset(
        c,
        "doc:3",
        &[
            ("title", "hello moon"),
            ("body", "lazy dog sleeps"),
            ("price", "100"),
            ("tags", "red, light blue"),
        ],
    );
    hset(
        c,
        "doc:4",
        &[
            ("title", "helicopter news"),
            ("body", "fox news tonight"),
            ("price", "-5"),
            ("tags", ""),
        ],
    );
    hset(c, "other:1", &[("title", "hello outside the prefix")]);
    ok(
        c,
        &[
            "FT.CREATE",
            "idx",
            "ON",
            "HASH",
            "PREFIX",
            "1",
            "doc:",
            "SCHEMA",
            "title",
            "TEXT",
            "WEIGHT",
            "5",
            "SORTABLE",
            "body",
            "TEXT",
            "price",
            "NUMERIC",
            "SORTABLE",
            "tags",
            "TAG",
        ],
    );
    wait_indexed(c, "idx");
}

#[test]
fn every_query_operator() {
    let s = server();
    let mut c = s.raw();
    corpus(&mut c);
    let k = |c: &mut RawConn, q: &str| keys(c, "idx", q);
    // Terms intersect; the prefix decides what is covered.
    assert_eq!(k(&mut c, "hello"), strs(&["doc:1", "doc:3"]));
    assert_eq!(k(&mut c, "hello moon"), strs(&["doc:3"]));
    // Stemming (English): "dogs" and "dog", "running" and "run".
    assert_eq!(k(&mut c, "dog"), strs(&["doc:2", "doc:3"]));
    assert_eq!(k(&mut c, "run"), strs(&["doc:2"]));
    // Prefix.
    assert_eq!(k(&mut c, "hel*"), strs(&["doc:1", "doc:3", "doc:4"]));
    // Exact phrase: the words in order.
    assert_eq!(k(&mut c, "\"quick brown\""), strs(&["doc:1"]));
    assert_eq!(k(&mut c, "\"brown quick\""), Vec::<String>::new());
    // Negation, alone and in an intersection.
    assert_eq!(k(&mut c, "hello -moon"), strs(&["doc:1"]));
    assert_eq!(k(&mut c, "-hello"), strs(&["doc:2", "doc:4"]));
    // Union and grouping.
    assert_eq!(k(&mut c, "world | goodbye"), strs(&["doc:1", "doc:2"]));
    assert_eq!(k(&mut c, "(world | goodbye) -bark"), strs(&["doc:1"]));
    // Field modifiers.
    assert_eq!(k(&mut c, "@title:fox"), Vec::<String>::new());
    assert_eq!(k(&mut c, "@body:fox"), strs(&["doc:1", "doc:4"]));
    assert_eq!(k(&mut c, "@title|body:news"), strs(&["doc:4"]));
    assert_eq!(
        k(&mut c, "@title:(hello | news)"),
        strs(&["doc:1", "doc:3", "doc:4"])
    );
    // Numeric ranges, inclusive, exclusive and infinite.
    assert_eq!(
        k(&mut c, "@price:[10 100]"),
        strs(&["doc:1", "doc:2", "doc:3"])
    );
    assert_eq!(k(&mut c, "@price:[(10 (100]"), strs(&["doc:2"]));
    assert_eq!(k(&mut c, "@price:[-inf 0]"), strs(&["doc:4"]));
    assert_eq!(k(&mut c, "@price:[25.5 +inf]"), strs(&["doc:2", "doc:3"]));
    // Tags: case-insensitive, trimmed, any of a list, prefixes, escaped spaces.
    assert_eq!(k(&mut c, "@tags:{blue}"), strs(&["doc:1"]));
    assert_eq!(
        k(&mut c, "@tags:{green | RED}"),
        strs(&["doc:1", "doc:2", "doc:3"])
    );
    assert_eq!(k(&mut c, "@tags:{light\\ blue}"), strs(&["doc:3"]));
    assert_eq!(k(&mut c, "@tags:{gr*}"), strs(&["doc:2"]));
    // Everything together.
    assert_eq!(
        k(&mut c, "hello @price:[0 50] @tags:{red}"),
        strs(&["doc:1"])
    );
    assert_eq!(
        k(&mut c, "moon | @price:[-10 0]"),
        strs(&["doc:2", "doc:3", "doc:4"])
    );
    assert_eq!(k(&mut c, "*"), strs(&["doc:1", "doc:2", "doc:3", "doc:4"]));
    // Stopwords are ignored; a query of stopwords alone matches nothing.
    assert_eq!(k(&mut c, "the hello"), strs(&["doc:1", "doc:3"]));
    assert_eq!(k(&mut c, "the"), Vec::<String>::new());
    // Dialects (the redis.io query syntax page): in dialect 1 `|` binds tighter than the
    // implied AND, `hello world | goodbye moon` is `hello (world | goodbye) moon`; in
    // dialect 2 it is `(hello world) | (goodbye moon)`.
    assert_eq!(
        k(&mut c, "hello world | goodbye moon"),
        Vec::<String>::new()
    );
    let r = cmd(
        &mut c,
        &[
            "FT.SEARCH",
            "idx",
            "hello world | goodbye moon",
            "NOCONTENT",
            "DIALECT",
            "2",
        ],
    );
    let found: BTreeSet<String> = r.items()[1..].iter().map(|k| k.text()).collect();
    assert_eq!(r.items()[0], Reply::Int(2));
    assert_eq!(
        found,
        ["doc:1", "doc:2"].iter().map(|s| s.to_string()).collect()
    );
    // PARAMS.
    let r = cmd(
        &mut c,
        &[
            "FT.SEARCH",
            "idx",
            "@price:[$lo $hi] $word",
            "NOCONTENT",
            "PARAMS",
            "6",
            "lo",
            "0",
            "hi",
            "50",
            "word",
            "hello",
            "DIALECT",
            "2",
        ],
    );
    assert_eq!(r, Reply::Array(vec![Reply::Int(1), Reply::bulk("doc:1")]));
    // INKEYS and INFIELDS.
    let r = cmd(
        &mut c,
        &[
            "FT.SEARCH",
            "idx",
            "hello",
            "NOCONTENT",
            "INKEYS",
            "2",
            "doc:3",
            "doc:4",
        ],
    );
    assert_eq!(r, Reply::Array(vec![Reply::Int(1), Reply::bulk("doc:3")]));
    let r = cmd(
        &mut c,
        &[
            "FT.SEARCH",
            "idx",
            "news",
            "NOCONTENT",
            "INFIELDS",
            "1",
            "body",
        ],
    );
    assert_eq!(r, Reply::Array(vec![Reply::Int(1), Reply::bulk("doc:4")]));
    // The legacy FILTER option.
    let r = cmd(
        &mut c,
        &[
            "FT.SEARCH",
            "idx",
            "hello",
            "NOCONTENT",
            "FILTER",
            "price",
            "50",
            "+inf",
        ],
    );
    assert_eq!(r, Reply::Array(vec![Reply::Int(1), Reply::bulk("doc:3")]));
}

#[test]
fn replies_sortby_limit_return_withscores_and_resp3() {
    let s = server();
    let mut c = s.raw();
    corpus(&mut c);
    // The whole document, fields in the hash's order.
    let r = cmd(&mut c, &["FT.SEARCH", "idx", "world"]);
    assert_eq!(
        r,
        Reply::Array(vec![
            Reply::Int(1),
            Reply::bulk("doc:1"),
            Reply::Array(
                [
                    "title",
                    "hello world",
                    "body",
                    "the quick brown fox",
                    "price",
                    "10",
                    "tags",
                    "red,Blue"
                ]
                .iter()
                .map(Reply::bulk)
                .collect()
            ),
        ])
    );
    // RETURN with AS; fields the hash lacks are left out.
    let r = cmd(
        &mut c,
        &[
            "FT.SEARCH",
            "idx",
            "world",
            "RETURN",
            "4",
            "price",
            "AS",
            "cost",
            "nothere",
        ],
    );
    assert_eq!(
        r,
        Reply::Array(vec![
            Reply::Int(1),
            Reply::bulk("doc:1"),
            Reply::Array(vec![Reply::bulk("cost"), Reply::bulk("10")])
        ])
    );
    // HIGHLIGHT and SUMMARIZE (FTS5's highlight() and snippet()).
    let r = cmd(
        &mut c,
        &[
            "FT.SEARCH",
            "idx",
            "world",
            "RETURN",
            "1",
            "title",
            "HIGHLIGHT",
        ],
    );
    assert_eq!(
        r.items()[2],
        Reply::Array(vec![
            Reply::bulk("title"),
            Reply::bulk("hello <b>world</b>")
        ])
    );
    let r = cmd(
        &mut c,
        &[
            "FT.SEARCH",
            "idx",
            "brown",
            "RETURN",
            "1",
            "body",
            "HIGHLIGHT",
            "TAGS",
            "[",
            "]",
            "SUMMARIZE",
            "LEN",
            "2",
            "SEPARATOR",
            "~",
        ],
    );
    assert_eq!(
        r.items()[2],
        Reply::Array(vec![Reply::bulk("body"), Reply::bulk("~[brown] fox")])
    );
    // RETURN 0 is NOCONTENT.
    let r = cmd(&mut c, &["FT.SEARCH", "idx", "world", "RETURN", "0"]);
    assert_eq!(r, Reply::Array(vec![Reply::Int(1), Reply::bulk("doc:1")]));
    // SORTBY a numeric field both ways, and a text field; LIMIT pages; the count is the
    // total.
    let page = |c: &mut RawConn, args: &[&str]| -> (i64, Vec<String>) {
        let mut full = vec!["FT.SEARCH", "idx", "*", "NOCONTENT"];
        full.extend_from_slice(args);
        let r = c.cmd(&full);
        let items = r.items().to_vec();
        (
            items[0].int(),
            items[1..].iter().map(|k| k.text()).collect(),
        )
    };
    assert_eq!(
        page(&mut c, &["SORTBY", "price"]),
        (4, strs(&["doc:4", "doc:1", "doc:2", "doc:3"]))
    );
    assert_eq!(
        page(&mut c, &["SORTBY", "price", "DESC"]),
        (4, strs(&["doc:3", "doc:2", "doc:1", "doc:4"]))
    );
    assert_eq!(
        page(&mut c, &["SORTBY", "price", "DESC", "LIMIT", "1", "2"]),
        (4, strs(&["doc:2", "doc:1"]))
    );
    assert_eq!(
        page(&mut c, &["SORTBY", "title", "ASC"]),
        (4, strs(&["doc:2", "doc:4", "doc:3", "doc:1"]))
    );
    assert_eq!(page(&mut c, &["LIMIT", "0", "0"]), (4, vec![]));
    // The default LIMIT is 0 10.
    for i in 0..15 {
        hset(&mut c, &format!("doc:x{i:02}"), &[("title", "many")]);
    }
    let r = cmd(&mut c, &["FT.SEARCH", "idx", "many", "NOCONTENT"]);
    assert_eq!(r.items()[0].int(), 15);
    assert_eq!(r.items().len(), 11);
    // WITHSCORES: the key, its score, then the fields; the better match (the title
    // weighs 5) comes first.
    hset(&mut c, "doc:s1", &[("title", "zebra"), ("body", "plain")]);
    hset(&mut c, "doc:s2", &[("title", "plain"), ("body", "zebra")]);
    let r = cmd(
        &mut c,
        &["FT.SEARCH", "idx", "zebra", "WITHSCORES", "NOCONTENT"],
    );
    let items = r.items();
    assert_eq!(items[0].int(), 2);
    assert_eq!(items[1].text(), "doc:s1");
    assert_eq!(items[3].text(), "doc:s2");
    let (a, b): (f64, f64) = (
        items[2].text().parse().unwrap(),
        items[4].text().parse().unwrap(),
    );
    assert!(a > b && b > 0.0, "scores {a} {b}");
    // RESP3: RediSearch's map layout.
    assert!(!cmd(&mut c, &["HELLO", "3"]).is_error());
    let r = cmd(
        &mut c,
        &["FT.SEARCH", "idx", "world", "RETURN", "1", "price"],
    );
    assert_eq!(r.field("total_results"), Some(&Reply::Int(1)));
    let results = r.field("results").unwrap().items();
    assert_eq!(results[0].field("id"), Some(&Reply::bulk("doc:1")));
    let attrs = results[0].field("extra_attributes").unwrap();
    assert_eq!(attrs.field("price"), Some(&Reply::bulk("10")));
}

#[test]
fn existing_keys_are_indexed_and_writes_keep_the_index_current() {
    let s = server();
    let mut c = s.raw();
    for i in 0..600 {
        hset(
            &mut c,
            &format!("item:{i}"),
            &[
                (
                    "name",
                    if i % 2 == 0 {
                        "even thing"
                    } else {
                        "odd thing"
                    },
                ),
                ("n", &i.to_string()),
            ],
        );
    }
    cmd(&mut c, &["SET", "item:string", "not a hash"]);
    ok(
        &mut c,
        &[
            "FT.CREATE",
            "items",
            "PREFIX",
            "1",
            "item:",
            "SCHEMA",
            "name",
            "TEXT",
            "n",
            "NUMERIC",
        ],
    );
    wait_indexed(&mut c, "items");
    let info = cmd(&mut c, &["FT.INFO", "items"]);
    assert_eq!(info.field("num_docs"), Some(&Reply::bulk("600")));
    assert_eq!(info.field("percent_indexed"), Some(&Reply::bulk("1")));
    assert_eq!(
        info.field("hash_indexing_failures"),
        Some(&Reply::bulk("0"))
    );
    assert_eq!(
        keys(&mut c, "items", "@n:[10 12]"),
        strs(&["item:10", "item:11", "item:12"])
    );
    let total = |c: &mut RawConn, q: &str| {
        c.cmd(&["FT.SEARCH", "items", q, "LIMIT", "0", "0"]).items()[0].int()
    };
    assert_eq!(total(&mut c, "even"), 300);

    // HSET changes a field; HDEL removes one; the document follows.
    hset(&mut c, "item:10", &[("name", "renamed")]);
    assert_eq!(keys(&mut c, "items", "renamed"), strs(&["item:10"]));
    assert_eq!(total(&mut c, "even"), 299);
    cmd(&mut c, &["HDEL", "item:10", "n"]);
    assert_eq!(
        keys(&mut c, "items", "@n:[10 12]"),
        strs(&["item:11", "item:12"])
    );
    cmd(&mut c, &["HINCRBY", "item:11", "n", "1000"]);
    assert_eq!(keys(&mut c, "items", "@n:[1011 1011]"), strs(&["item:11"]));
    // A field that is not a number fails the document, counted as RediSearch counts it.
    hset(&mut c, "item:12", &[("n", "twelve")]);
    assert_eq!(keys(&mut c, "items", "@n:[12 12]"), Vec::<String>::new());
    let info = cmd(&mut c, &["FT.INFO", "items"]);
    assert_eq!(
        info.field("hash_indexing_failures"),
        Some(&Reply::bulk("1"))
    );
    // DEL, UNLINK, a SET over the hash, RENAME in and out of the prefix.
    cmd(&mut c, &["DEL", "item:0"]);
    cmd(&mut c, &["UNLINK", "item:2"]);
    cmd(&mut c, &["SET", "item:4", "now a string"]);
    cmd(&mut c, &["RENAME", "item:6", "elsewhere"]);
    cmd(&mut c, &["RENAME", "item:1", "item:new"]);
    assert_eq!(
        keys(&mut c, "items", "@n:[0 6]"),
        strs(&["item:3", "item:5", "item:new"])
    );
    // Expiry: the document goes with the key.
    cmd(&mut c, &["PEXPIRE", "item:3", "1"]);
    wait_until("item:3 to expire from the index", EVENTUALLY, || {
        keys(&mut c, "items", "@n:[3 3]").is_empty()
    });
    // MULTI/EXEC: the search inside the transaction sees the writes before it.
    c.send_cmd(&["MULTI"]);
    c.send_cmd(&["HSET", "item:900", "name", "transactional"]);
    c.send_cmd(&["FT.SEARCH", "items", "transactional", "NOCONTENT"]);
    c.send_cmd(&["EXEC"]);
    let replies = c.read_replies(4);
    assert_eq!(
        replies[3].items()[1],
        Reply::Array(vec![Reply::Int(1), Reply::bulk("item:900")])
    );
    // FLUSHDB empties the index; FLUSHALL too.
    ok(&mut c, &["FLUSHDB"]);
    assert_eq!(total(&mut c, "*"), 0);
    hset(&mut c, "item:1", &[("name", "after flush")]);
    assert_eq!(keys(&mut c, "items", "flush"), strs(&["item:1"]));
    ok(&mut c, &["FLUSHALL"]);
    assert_eq!(total(&mut c, "*"), 0);
    // Other databases are not indexed, as in RediSearch.
    ok(&mut c, &["SELECT", "1"]);
    hset(&mut c, "item:db1", &[("name", "elsewhere")]);
    assert!(err(&mut c, &["FT.CREATE", "x", "SCHEMA", "a", "TEXT"]).contains("db != 0"));
    assert_eq!(keys(&mut c, "items", "elsewhere"), Vec::<String>::new());
    // SWAPDB brings database 1's hashes into database 0: the index scans them again.
    ok(&mut c, &["SWAPDB", "0", "1"]);
    wait_indexed(&mut c, "items");
    assert_eq!(keys(&mut c, "items", "elsewhere"), strs(&["item:db1"]));
    // Unloading the plugin removes its commands; writes go on.
    ok(&mut c, &["MODULE", "UNLOAD", "search"]);
    assert!(cmd(&mut c, &["FT.SEARCH", "items", "*"]).is_error());
    ok(&mut c, &["SELECT", "0"]);
    hset(&mut c, "item:after", &[("name", "unloaded")]);
}

/// Writers change hashes while a reader searches inside MULTI together with reading the
/// hashes: the search always agrees with the data of that moment.
#[test]
fn searches_agree_with_the_data_while_writers_change_it() {
    let s = server();
    let mut c = s.raw();
    const DOCS: usize = 40;
    for i in 0..DOCS {
        hset(&mut c, &format!("w:{i}"), &[("v", "0"), ("word", "alpha")]);
    }
    ok(
        &mut c,
        &[
            "FT.CREATE",
            "w",
            "PREFIX",
            "1",
            "w:",
            "SCHEMA",
            "v",
            "NUMERIC",
            "word",
            "TEXT",
        ],
    );
    wait_indexed(&mut c, "w");
    let writers: Vec<_> = (0..3)
        .map(|t| {
            let mut w = s.raw();
            thread::spawn(move || {
                for round in 0..150usize {
                    let i = (round * 7 + t * 13) % DOCS;
                    let word = if (round + t) % 3 == 0 {
                        "beta"
                    } else {
                        "alpha"
                    };
                    let v = ((round * 31 + t) % 10).to_string();
                    let r = w.cmd(&["HSET", &format!("w:{i}"), "v", &v, "word", word]);
                    assert!(!r.is_error(), "{r:?}");
                }
            })
        })
        .collect();
    for _ in 0..60 {
        c.send_cmd(&["MULTI"]);
        c.send_cmd(&[
            "FT.SEARCH",
            "w",
            "@v:[5 +inf]",
            "NOCONTENT",
            "LIMIT",
            "0",
            "1000",
        ]);
        c.send_cmd(&["FT.SEARCH", "w", "beta", "NOCONTENT", "LIMIT", "0", "1000"]);
        for i in 0..DOCS {
            c.send_cmd(&["HMGET", &format!("w:{i}"), "v", "word"]);
        }
        c.send_cmd(&["EXEC"]);
        let replies = c.read_replies(DOCS + 4);
        let exec = replies.last().unwrap().items().to_vec();
        let found =
            |r: &Reply| -> BTreeSet<String> { r.items()[1..].iter().map(|k| k.text()).collect() };
        let (high, beta) = (found(&exec[0]), found(&exec[1]));
        let mut want_high = BTreeSet::new();
        let mut want_beta = BTreeSet::new();
        for i in 0..DOCS {
            let vals = exec[2 + i].items();
            if vals[0].text().parse::<i64>().unwrap() >= 5 {
                want_high.insert(format!("w:{i}"));
            }
            if vals[1].text() == "beta" {
                want_beta.insert(format!("w:{i}"));
            }
        }
        assert_eq!(high, want_high);
        assert_eq!(beta, want_beta);
    }
    for w in writers {
        w.join().unwrap();
    }
}

/// Writes while the initial scan runs (updates, deletes, new keys, keys of other types): once
/// it ends the index holds exactly the data, whichever of the scan and the events saw a key
/// first.
#[test]
fn writes_during_the_initial_scan_leave_an_exact_index() {
    let s = Server::builder()
        .config("[plugins]\nenabled = [\"search\"]\n[plugins.search]\nindexing_slice_ms = 1\n")
        .start();
    let mut c = s.raw();
    const N: usize = 3000;
    for i in 0..N {
        hset(&mut c, &format!("s:{i}"), &[("v", &(i % 10).to_string())]);
    }
    ok(
        &mut c,
        &[
            "FT.CREATE",
            "s",
            "PREFIX",
            "1",
            "s:",
            "SCHEMA",
            "v",
            "NUMERIC",
        ],
    );
    for i in (0..N).step_by(7) {
        hset(&mut c, &format!("s:{i}"), &[("v", "100")]);
    }
    for i in (3..N).step_by(11) {
        cmd(&mut c, &["DEL", &format!("s:{i}")]);
    }
    for i in 0..200 {
        hset(&mut c, &format!("s:new{i}"), &[("v", "100")]);
    }
    cmd(&mut c, &["SET", "s:5", "a string now"]);
    wait_indexed(&mut c, "s");
    let mut want = BTreeSet::new();
    let mut all = 0;
    for i in 0..N {
        let k = format!("s:{i}");
        if let Reply::Bulk(v) = cmd(&mut c, &["HGET", &k, "v"]) {
            all += 1;
            if v == b"100" {
                want.insert(k);
            }
        }
    }
    for i in 0..200 {
        want.insert(format!("s:new{i}"));
    }
    let got: BTreeSet<String> = keys(&mut c, "s", "@v:[100 100]").into_iter().collect();
    assert_eq!(got, want);
    let info = cmd(&mut c, &["FT.INFO", "s"]);
    assert_eq!(
        info.field("num_docs"),
        Some(&Reply::bulk((all + 200).to_string()))
    );
}

#[test]
fn aggregations() {
    let s = server();
    let mut c = s.raw();
    let rows = [
        ("p:1", "shoes", "nike", "100"),
        ("p:2", "shoes", "adidas", "80"),
        ("p:3", "shirts", "nike", "30"),
        ("p:4", "shirts", "puma", "20"),
        ("p:5", "shoes", "nike", "120"),
    ];
    for (k, cat, brand, price) in rows {
        hset(
            &mut c,
            k,
            &[
                ("cat", cat),
                ("brand", brand),
                ("price", price),
                ("title", "product"),
            ],
        );
    }
    ok(
        &mut c,
        &[
            "FT.CREATE",
            "p",
            "PREFIX",
            "1",
            "p:",
            "SCHEMA",
            "title",
            "TEXT",
            "cat",
            "TAG",
            "SORTABLE",
            "brand",
            "TAG",
            "price",
            "NUMERIC",
            "SORTABLE",
        ],
    );
    wait_indexed(&mut c, "p");
    let r = cmd(
        &mut c,
        &[
            "FT.AGGREGATE",
            "p",
            "*",
            "GROUPBY",
            "1",
            "@cat",
            "REDUCE",
            "COUNT",
            "0",
            "AS",
            "n",
            "REDUCE",
            "SUM",
            "1",
            "@price",
            "AS",
            "total",
            "REDUCE",
            "AVG",
            "1",
            "@price",
            "REDUCE",
            "MIN",
            "1",
            "@price",
            "AS",
            "lo",
            "REDUCE",
            "MAX",
            "1",
            "@price",
            "AS",
            "hi",
            "REDUCE",
            "COUNT_DISTINCT",
            "1",
            "@brand",
            "AS",
            "brands",
            "SORTBY",
            "2",
            "@total",
            "DESC",
        ],
    );
    let b = Reply::bulk;
    assert_eq!(
        r,
        Reply::Array(vec![
            Reply::Int(2),
            Reply::Array(vec![
                b("cat"),
                b("shoes"),
                b("n"),
                b("3"),
                b("total"),
                b("300"),
                b("__generated_aliasavgprice"),
                b("100"),
                b("lo"),
                b("80"),
                b("hi"),
                b("120"),
                b("brands"),
                b("2"),
            ]),
            Reply::Array(vec![
                b("cat"),
                b("shirts"),
                b("n"),
                b("2"),
                b("total"),
                b("50"),
                b("__generated_aliasavgprice"),
                b("25"),
                b("lo"),
                b("20"),
                b("hi"),
                b("30"),
                b("brands"),
                b("2"),
            ]),
        ])
    );
    // APPLY, FILTER, SORTBY with MAX, LIMIT, LOAD.
    let r = cmd(
        &mut c,
        &[
            "FT.AGGREGATE",
            "p",
            "@cat:{shoes}",
            "LOAD",
            "2",
            "@brand",
            "@price",
            "APPLY",
            "@price * 2",
            "AS",
            "double",
            "FILTER",
            "@double > 170",
            "SORTBY",
            "2",
            "@price",
            "ASC",
            "LIMIT",
            "0",
            "1",
        ],
    );
    assert_eq!(
        r,
        Reply::Array(vec![
            Reply::Int(2),
            Reply::Array(vec![
                b("brand"),
                b("nike"),
                b("price"),
                b("100"),
                b("double"),
                b("200")
            ])
        ])
    );
    let r = cmd(
        &mut c,
        &[
            "FT.AGGREGATE",
            "p",
            "*",
            "GROUPBY",
            "0",
            "REDUCE",
            "COUNT",
            "0",
            "APPLY",
            "upper('x')",
            "AS",
            "u",
        ],
    );
    assert_eq!(
        r,
        Reply::Array(vec![
            Reply::Int(1),
            Reply::Array(vec![b("__generated_aliascount"), b("5"), b("u"), b("X")])
        ])
    );
    assert!(err(
        &mut c,
        &[
            "FT.AGGREGATE",
            "p",
            "*",
            "GROUPBY",
            "1",
            "@cat",
            "REDUCE",
            "NOPE",
            "0"
        ]
    )
    .contains("reducer"));
}

#[test]
fn suggestions() {
    let s = server();
    let mut c = s.raw();
    assert_eq!(
        cmd(&mut c, &["FT.SUGADD", "sug", "hello", "1"]),
        Reply::Int(1)
    );
    assert_eq!(
        cmd(&mut c, &["FT.SUGADD", "sug", "help", "3"]),
        Reply::Int(2)
    );
    // redis.io's FT.SUGADD example: the reply is the dictionary's size.
    assert_eq!(
        cmd(&mut c, &["FT.SUGADD", "sug", "hello world", "1"]),
        Reply::Int(3)
    );
    assert_eq!(
        cmd(&mut c, &["FT.SUGADD", "sug", "hello", "5", "INCR"]),
        Reply::Int(3)
    );
    assert_eq!(cmd(&mut c, &["FT.SUGLEN", "sug"]), Reply::Int(3));
    let r = cmd(&mut c, &["FT.SUGGET", "sug", "HEL"]);
    assert_eq!(
        r,
        Reply::Array(vec![
            Reply::bulk("hello"),
            Reply::bulk("help"),
            Reply::bulk("hello world")
        ])
    );
    let r = cmd(
        &mut c,
        &["FT.SUGGET", "sug", "hel", "WITHSCORES", "MAX", "2"],
    );
    assert_eq!(
        r,
        Reply::Array(vec![
            Reply::bulk("hello"),
            Reply::bulk("6"),
            Reply::bulk("help"),
            Reply::bulk("3")
        ])
    );
    assert_eq!(
        cmd(&mut c, &["FT.SUGGET", "sug", "hwl"]),
        Reply::Array(vec![])
    );
    let r = cmd(&mut c, &["FT.SUGGET", "sug", "hwl", "FUZZY"]);
    assert_eq!(r.items().len(), 3);
    assert_eq!(cmd(&mut c, &["FT.SUGDEL", "sug", "help"]), Reply::Int(1));
    assert_eq!(cmd(&mut c, &["FT.SUGDEL", "sug", "help"]), Reply::Int(0));
    assert_eq!(cmd(&mut c, &["FT.SUGLEN", "sug"]), Reply::Int(2));
    assert_eq!(cmd(&mut c, &["FT.SUGLEN", "nosuch"]), Reply::Int(0));
}

#[test]
fn indexes_survive_a_restart() {
    let mut s = server();
    {
        let mut c = s.raw();
        corpus(&mut c);
        cmd(&mut c, &["FT.SUGADD", "sug", "persisted", "1"]);
        ok(&mut c, &["FT.ALIASADD", "kept", "idx"]);
    }
    s.restart();
    let mut c = s.raw();
    assert_eq!(
        cmd(&mut c, &["FT._LIST"]),
        Reply::Array(vec![Reply::bulk("idx")])
    );
    assert_eq!(keys(&mut c, "idx", "hello"), strs(&["doc:1", "doc:3"]));
    assert_eq!(keys(&mut c, "idx", "@price:[20 30]"), strs(&["doc:2"]));
    assert_eq!(keys(&mut c, "kept", "@price:[20 30]"), strs(&["doc:2"]));
    assert_eq!(
        cmd(&mut c, &["FT.SUGGET", "sug", "pers"]),
        Reply::Array(vec![Reply::bulk("persisted")])
    );
    // Writes after the restart are indexed: the subscription came back with the index.
    hset(&mut c, "doc:9", &[("title", "after restart")]);
    assert_eq!(keys(&mut c, "idx", "restart"), strs(&["doc:9"]));
    // A crash (SIGKILL) keeps what was acknowledged, index and keys together.
    hset(&mut c, "doc:10", &[("title", "acknowledged")]);
    drop(c);
    s.crash_restart();
    let mut c = s.raw();
    assert_eq!(keys(&mut c, "idx", "acknowledged"), strs(&["doc:10"]));
}

#[test]
fn info_alter_explain_tagvals_and_dropindex() {
    let s = server();
    let mut c = s.raw();
    corpus(&mut c);
    let info = cmd(&mut c, &["FT.INFO", "idx"]);
    assert_eq!(info.field("index_name"), Some(&Reply::bulk("idx")));
    assert_eq!(info.field("num_docs"), Some(&Reply::bulk("4")));
    assert_eq!(info.field("indexing"), Some(&Reply::Int(0)));
    let def = info.field("index_definition").unwrap();
    assert_eq!(def.field("key_type"), Some(&Reply::bulk("HASH")));
    assert_eq!(
        def.field("prefixes"),
        Some(&Reply::Array(vec![Reply::bulk("doc:")]))
    );
    let attrs = info.field("attributes").unwrap().items();
    assert_eq!(attrs.len(), 4);
    assert_eq!(attrs[2].field("type"), Some(&Reply::bulk("NUMERIC")));

    // FT.TAGVALS (redis.io: the distinct values, lowercased).
    let r = cmd(&mut c, &["FT.TAGVALS", "idx", "tags"]);
    let mut vals: Vec<String> = r.items().iter().map(|v| v.text()).collect();
    vals.sort();
    assert_eq!(vals, strs(&["blue", "green", "light blue", "red"]));

    // FT.EXPLAIN: redis.io's example, with `@price` for its `@date`.
    let r = cmd(
        &mut c,
        &[
            "FT.EXPLAIN",
            "idx",
            "(foo bar)|(hello world) @price:[100 200]|@price:[500 +inf]",
        ],
    );
    assert_eq!(
        r.text(),
        "INTERSECT {\n  UNION {\n    INTERSECT {\n      foo\n      bar\n    }\n    INTERSECT {\n      hello\n      world\n    }\n  }\n  UNION {\n    NUMERIC {100.000000 <= @price <= 200.000000}\n    NUMERIC {500.000000 <= @price <= inf}\n  }\n}\n"
    );

    // FT.ALTER adds a field; the index is rebuilt and the new field is searchable.
    hset(&mut c, "doc:1", &[("color", "crimson")]);
    ok(
        &mut c,
        &["FT.ALTER", "idx", "SCHEMA", "ADD", "color", "TEXT"],
    );
    wait_indexed(&mut c, "idx");
    assert_eq!(keys(&mut c, "idx", "@color:crimson"), strs(&["doc:1"]));
    assert_eq!(keys(&mut c, "idx", "hello"), strs(&["doc:1", "doc:3"]));

    // Aliases: accepted wherever an index name is, kept across FT.ALIASUPDATE.
    ok(&mut c, &["FT.ALIASADD", "books", "idx"]);
    assert_eq!(
        err(&mut c, &["FT.ALIASADD", "books", "idx"]),
        "Alias already exists"
    );
    assert_eq!(keys(&mut c, "books", "hello"), strs(&["doc:1", "doc:3"]));
    assert_eq!(
        cmd(&mut c, &["FT.INFO", "books"]).field("index_name"),
        Some(&Reply::bulk("idx"))
    );
    ok(&mut c, &["FT.ALIASDEL", "books"]);
    assert_eq!(
        err(&mut c, &["FT.ALIASDEL", "books"]),
        "Alias does not exist"
    );
    assert_eq!(
        err(&mut c, &["FT.SEARCH", "books", "x"]),
        "books: no such index"
    );
    ok(&mut c, &["FT.ALIASUPDATE", "books", "idx"]);

    // A second index over the same keys, dropped without DD: the hashes stay.
    ok(
        &mut c,
        &[
            "FT.CREATE",
            "idx2",
            "PREFIX",
            "1",
            "doc:",
            "SCHEMA",
            "title",
            "TEXT",
        ],
    );
    wait_indexed(&mut c, "idx2");
    ok(&mut c, &["FT.DROPINDEX", "idx2"]);
    assert_eq!(cmd(&mut c, &["EXISTS", "doc:1"]), Reply::Int(1));
    assert_eq!(
        cmd(&mut c, &["FT._LIST"]),
        Reply::Array(vec![Reply::bulk("idx")])
    );
    // DD deletes the indexed hashes and nothing else.
    ok(&mut c, &["FT.DROPINDEX", "idx", "DD"]);
    assert_eq!(
        cmd(&mut c, &["EXISTS", "doc:1", "doc:2", "doc:3", "doc:4"]),
        Reply::Int(0)
    );
    assert_eq!(cmd(&mut c, &["EXISTS", "other:1"]), Reply::Int(1));
    assert_eq!(cmd(&mut c, &["FT._LIST"]), Reply::Array(vec![]));
    assert_eq!(err(&mut c, &["FT.INFO", "idx"]), "Unknown Index name");
    // Dropping the index dropped its alias.
    assert_eq!(err(&mut c, &["FT.INFO", "books"]), "Unknown Index name");
}

#[test]
fn document_commands_and_config() {
    let s = server();
    let mut c = s.raw();
    ok(
        &mut c,
        &["FT.CREATE", "d", "SCHEMA", "title", "TEXT", "n", "NUMERIC"],
    );
    ok(
        &mut c,
        &[
            "FT.ADD",
            "d",
            "doc1",
            "1.0",
            "FIELDS",
            "title",
            "hello there",
            "n",
            "1",
        ],
    );
    assert_eq!(
        err(
            &mut c,
            &["FT.ADD", "d", "doc1", "1.0", "FIELDS", "title", "x"]
        ),
        "Document already exists"
    );
    ok(
        &mut c,
        &[
            "FT.ADD", "d", "doc1", "1.0", "REPLACE", "PARTIAL", "FIELDS", "n", "2",
        ],
    );
    assert_eq!(
        cmd(&mut c, &["FT.GET", "d", "doc1"]),
        Reply::Array(vec![
            Reply::bulk("title"),
            Reply::bulk("hello there"),
            Reply::bulk("n"),
            Reply::bulk("2")
        ])
    );
    assert_eq!(keys(&mut c, "d", "@n:[2 2] hello"), strs(&["doc1"]));
    assert_eq!(cmd(&mut c, &["FT.DEL", "d", "doc1"]), Reply::Int(1));
    assert_eq!(cmd(&mut c, &["FT.DEL", "d", "doc1"]), Reply::Int(0));
    assert_eq!(cmd(&mut c, &["FT.GET", "d", "doc1"]), Reply::NilBulk);

    ok(&mut c, &["FT.CONFIG", "SET", "TIMEOUT", "100"]);
    assert_eq!(
        cmd(&mut c, &["FT.CONFIG", "GET", "TIMEOUT"]),
        Reply::Array(vec![Reply::Array(vec![
            Reply::bulk("TIMEOUT"),
            Reply::bulk("100")
        ])])
    );
    ok(&mut c, &["FT.CONFIG", "SET", "MAXSEARCHRESULTS", "5"]);
    assert!(err(&mut c, &["FT.SEARCH", "d", "*", "LIMIT", "0", "10"])
        .contains("LIMIT exceeds maximum of 5"));
    assert_eq!(
        err(&mut c, &["FT.CONFIG", "SET", "NOPE", "1"]),
        "Invalid option"
    );
}

#[test]
fn errors_are_redisearch_texts() {
    let s = server();
    let mut c = s.raw();
    corpus(&mut c);
    assert_eq!(
        err(&mut c, &["FT.SEARCH", "nosuch", "x"]),
        "nosuch: no such index"
    );
    assert_eq!(
        err(&mut c, &["FT.AGGREGATE", "nosuch", "*"]),
        "nosuch: no such index"
    );
    assert_eq!(err(&mut c, &["FT.INFO", "nosuch"]), "Unknown Index name");
    assert_eq!(
        err(&mut c, &["FT.DROPINDEX", "nosuch"]),
        "Unknown Index name"
    );
    assert_eq!(
        err(&mut c, &["FT.CREATE", "idx", "SCHEMA", "t", "TEXT"]),
        "Index already exists"
    );
    assert_eq!(
        err(&mut c, &["FT.SEARCH", "idx", "@nope:foo"]),
        "Unknown field at offset 0 near nope"
    );
    assert!(
        err(&mut c, &["FT.SEARCH", "idx", "hello (world"]).starts_with("Syntax error at offset")
    );
    assert!(err(&mut c, &["FT.SEARCH", "idx", "@title:[1 2]"]).contains("not a NUMERIC field"));
    assert!(
        err(&mut c, &["FT.SEARCH", "idx", "@price:foo"]).starts_with("Syntax error at offset 0")
    );
    assert_eq!(
        err(&mut c, &["FT.SEARCH", "idx", "*", "SORTBY", "nope"]),
        "Property `nope` not loaded nor in schema"
    );
    assert!(
        err(&mut c, &["FT.CREATE", "bad", "SCHEMA", "a", "WHAT"]).contains("Invalid field type")
    );
    assert_eq!(
        err(&mut c, &["FT.CREATE", "bad", "PREFIX", "1", "x"]),
        "No schema found"
    );
    assert!(err(
        &mut c,
        &[
            "FT.SEARCH",
            "idx",
            "x",
            "GEOFILTER",
            "g",
            "1",
            "2",
            "3",
            "km"
        ]
    )
    .contains("not supported"));
}
