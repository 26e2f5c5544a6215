//! The element cache (`storage/element_cache.rs`), black box: many clients at once write and
//! read large hashes, sets and sorted sets (elements in rows) with a cache small enough to
//! evict all the time, and every reply, and what the collections hold after a restart, must
//! equal a model of the writes. Rewrites of a field with its own value (which the cache
//! leaves unwritten), deletes, a DEL and a recreation (a new collection), COPY and hash-field
//! expiry take turns with the reads, and now and then ranges, counts and ranks of the sorted
//! sets, whose members' rows the row writer may still hold.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::rng::Rng;
use common::Server;

/// Elements drawn from per collection: four times the listpack limit below, and more than
/// the cache holds for all the clients together.
const MEMBERS: u64 = 400;

/// What one client's keys must hold.
#[derive(Clone, Debug, Default, PartialEq)]
struct Model {
    hash: BTreeMap<String, String>,
    set: BTreeSet<String>,
    zset: BTreeMap<String, i64>,
}

fn key(w: usize, kind: &str) -> String {
    format!("{{w{w}}}:{kind}")
}

fn read_model(con: &mut redis::Connection, w: usize) -> Model {
    let hash: BTreeMap<String, String> = redis::cmd("HGETALL")
        .arg(key(w, "hash"))
        .query(con)
        .unwrap();
    let set: BTreeSet<String> = redis::cmd("SMEMBERS")
        .arg(key(w, "set"))
        .query(con)
        .unwrap();
    let zset: Vec<(String, i64)> = redis::cmd("ZRANGE")
        .arg(key(w, "zset"))
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query(con)
        .unwrap();
    Model {
        hash,
        set,
        zset: zset.into_iter().collect(),
    }
}

/// Runs a command whose words are `words` and returns its reply as `T`.
fn run<T: redis::FromRedisValue>(con: &mut redis::Connection, words: &[&str]) -> T {
    let mut cmd = redis::cmd(words[0]);
    for word in &words[1..] {
        cmd.arg(*word);
    }
    cmd.query(con).unwrap()
}

fn client(server: &Server, w: usize, steps: usize) -> Model {
    let mut con = server.conn();
    let mut rng = Rng(0x5eed_0000 + w as u64);
    let mut m = Model::default();
    let (h, s, z) = (key(w, "hash"), key(w, "set"), key(w, "zset"));
    for step in 0..steps {
        let name = format!("m{}", rng.below(MEMBERS));
        match rng.below(20) {
            0..=3 => {
                // Often the value the field has already.
                let value = format!("v{}", rng.below(3));
                let added: i64 = run(&mut con, &["HSET", &h, &name, &value]);
                let was = m.hash.insert(name, value);
                assert_eq!(added, i64::from(was.is_none()), "client {w} step {step}");
            }
            4 => {
                let n: i64 = run(&mut con, &["HDEL", &h, &name]);
                let was = m.hash.remove(&name);
                assert_eq!(n, i64::from(was.is_some()), "client {w} step {step}");
            }
            5..=6 => {
                let got: Option<String> = run(&mut con, &["HGET", &h, &name]);
                assert_eq!(got.as_ref(), m.hash.get(&name), "client {w} step {step}");
            }
            7..=8 => {
                let n: i64 = run(&mut con, &["SADD", &s, &name]);
                let added = m.set.insert(name);
                assert_eq!(n, i64::from(added), "client {w} step {step}");
            }
            9 => {
                let n: i64 = run(&mut con, &["SREM", &s, &name]);
                let was = m.set.remove(&name);
                assert_eq!(n, i64::from(was), "client {w} step {step}");
            }
            10 => {
                let n: i64 = run(&mut con, &["SISMEMBER", &s, &name]);
                assert_eq!(
                    n,
                    i64::from(m.set.contains(&name)),
                    "client {w} step {step}"
                );
            }
            11..=12 => {
                let score = rng.below(4) as i64;
                let n: i64 = run(&mut con, &["ZADD", &z, &score.to_string(), &name]);
                let was = m.zset.insert(name, score);
                assert_eq!(n, i64::from(was.is_none()), "client {w} step {step}");
            }
            13 => {
                let n: i64 = run(&mut con, &["ZREM", &z, &name]);
                let was = m.zset.remove(&name);
                assert_eq!(n, i64::from(was.is_some()), "client {w} step {step}");
            }
            14..=15 => {
                let got: Option<i64> = run(&mut con, &["ZSCORE", &z, &name]);
                assert_eq!(got.as_ref(), m.zset.get(&name), "client {w} step {step}");
            }
            16 => {
                let field = format!("n{}", rng.below(MEMBERS));
                let n: i64 = run(&mut con, &["HINCRBY", &h, &field, "1"]);
                let want = m.hash.get(&field).map_or(0, |v| v.parse::<i64>().unwrap()) + 1;
                assert_eq!(n, want, "client {w} step {step}");
                m.hash.insert(field, n.to_string());
            }
            17 => {
                // A copy (a new collection) read back, then the original replaced by it.
                let copy = key(w, "copy");
                let copied: i64 = run(&mut con, &["COPY", &s, &copy, "REPLACE"]);
                assert_eq!(
                    copied,
                    i64::from(!m.set.is_empty()),
                    "client {w} step {step}"
                );
                if copied == 0 {
                    continue;
                }
                let n: i64 = run(&mut con, &["SISMEMBER", &copy, &name]);
                assert_eq!(
                    n,
                    i64::from(m.set.contains(&name)),
                    "client {w} step {step}"
                );
                let _: () = run(&mut con, &["RENAME", &copy, &s]);
            }
            18 if rng.below(10) == 0 => {
                // The hash deleted and written again: a collection of its own.
                let _: i64 = run(&mut con, &["DEL", &h]);
                m.hash.clear();
            }
            _ if rng.below(25) == 0 => {
                // Parts of the sorted set, as ranks, a count and a rank read them: the row
                // writer may hold some of its members' rows (storage/element_rows.rs).
                let mut order: Vec<(i64, &String)> =
                    m.zset.iter().map(|(name, score)| (*score, name)).collect();
                order.sort();
                let first: Vec<String> = run(&mut con, &["ZRANGE", &z, "0", "2"]);
                let want: Vec<String> = order.iter().take(3).map(|(_, n)| (*n).clone()).collect();
                assert_eq!(first, want, "client {w} step {step}");
                let last: Vec<String> = run(&mut con, &["ZRANGE", &z, "0", "1", "REV"]);
                let want: Vec<String> = order
                    .iter()
                    .rev()
                    .take(2)
                    .map(|(_, n)| (*n).clone())
                    .collect();
                assert_eq!(last, want, "client {w} step {step}");
                let n: i64 = run(&mut con, &["ZCOUNT", &z, "1", "2"]);
                let want = order.iter().filter(|(sc, _)| (1..=2).contains(sc)).count();
                assert_eq!(n, want as i64, "client {w} step {step}");
                let rank: Option<i64> = run(&mut con, &["ZRANK", &z, &name]);
                let want = order.iter().position(|(_, n)| **n == name);
                assert_eq!(rank, want.map(|r| r as i64), "client {w} step {step}");
            }
            _ => {
                // A field given a TTL in the past: it goes at once.
                let r: redis::Value = run(&mut con, &["HPEXPIREAT", &h, "1", "FIELDS", "1", &name]);
                if m.hash.remove(&name).is_some() {
                    assert_eq!(
                        r,
                        redis::Value::Array(vec![redis::Value::Int(2)]),
                        "client {w} step {step}"
                    );
                }
            }
        }
    }
    m
}

#[test]
fn many_clients_over_large_collections_read_what_they_wrote_with_a_small_element_cache() {
    // A 4 MB budget: an element cache of a few hundred KB, against 8 clients x 3 collections
    // of up to 400 elements.
    let mut server = Server::builder()
        .config(
            "[storage]\ncache_max_bytes = \"4mb\"\nhash_max_listpack_entries = 100\n\
             set_max_listpack_entries = 100\nzset_max_listpack_entries = 100\n",
        )
        .start();
    let models: Vec<Model> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|w| {
                let server = &server;
                scope.spawn(move || client(server, w, 3_000))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut con = server.conn();
    for (w, want) in models.iter().enumerate() {
        assert_eq!(&read_model(&mut con, w), want, "client {w}");
    }
    let info: String = run(&mut con, &["INFO", "all"]);
    let figure = |name: &str| -> u64 {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap_or_else(|| panic!("{name} missing from INFO"))
            .trim()
            .parse()
            .unwrap()
    };
    assert!(figure("respite_element_cache_hits") > 1_000, "{info}");
    assert!(figure("respite_element_cache_misses") > 1_000, "{info}");
    // The element writes went through the row writer's queue.
    assert!(figure("respite_element_rows_applied") > 1_000, "{info}");
    let max = figure("respite_element_cache_max_bytes");
    assert!(
        max > 0 && figure("respite_element_cache_bytes") <= max,
        "{info}"
    );
    drop(con);
    server.restart();
    let mut con = server.conn();
    for (w, want) in models.iter().enumerate() {
        assert_eq!(
            &read_model(&mut con, w),
            want,
            "client {w} after the restart"
        );
    }
}
