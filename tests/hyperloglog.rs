//! HyperLogLog commands, black box, against a real redis-server 7.0.15 started by the test:
//! the same PFADDs must leave byte-identical strings (sparse, then dense) and the same counts;
//! values written by one server are SET on the other and count, grow and merge the same.

mod common;

use common::redis_server::pair;
use redis::Connection;

fn get(con: &mut Connection, key: &str) -> Vec<u8> {
    redis::cmd("GET").arg(key).query(con).unwrap()
}

#[test]
fn pfadd_leaves_the_same_bytes_and_counts() {
    let (_s, _r, mut p) = pair();
    let mut n = 0;
    // Small steps while sparse, then large ones past the promotion to dense.
    for step in [1, 1, 2, 5, 10, 50, 100, 300, 1000, 5000, 20000] {
        let mut args = vec!["pfadd".to_string(), "h".into()];
        for _ in 0..step {
            args.push(format!("element:{n}"));
            n += 1;
        }
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        p.same(&a);
        assert_eq!(
            get(&mut p.respite, "h"),
            get(&mut p.redis, "h"),
            "after {n}"
        );
        p.same(&["pfcount", "h"]);
        assert_eq!(
            get(&mut p.respite, "h"),
            get(&mut p.redis, "h"),
            "cache, after {n}"
        );
        p.same(&["pfadd", "h", "element:0"]);
    }
    assert_eq!(get(&mut p.redis, "h").len(), 12304, "dense by now");
    p.same(&["pfadd", "empty"]);
    p.same(&["pfadd", "empty"]);
    p.same(&["pfcount", "empty"]);
    assert_eq!(get(&mut p.respite, "empty"), get(&mut p.redis, "empty"));
}

#[test]
fn sparse_limit_follows_hll_sparse_max_bytes() {
    let (_s, _r, mut p) = pair();
    for limit in ["100", "500", "3000"] {
        p.same(&["config", "set", "hll-sparse-max-bytes", limit]);
        p.same(&["del", "h"]);
        for i in 0..400 {
            p.same(&["pfadd", "h", &format!("{limit}-{i}"), &format!("x{i}")]);
            if i % 25 == 0 {
                assert_eq!(get(&mut p.respite, "h"), get(&mut p.redis, "h"));
            }
        }
        p.same(&["pfcount", "h"]);
    }
}

#[test]
fn values_cross_between_the_servers() {
    let (_s, _r, mut p) = pair();
    let add = |con: &mut Connection, key: &str, from: usize, to: usize| {
        let mut c = redis::cmd("PFADD");
        c.arg(key);
        for i in from..to {
            c.arg(format!("{key}-{i}"));
        }
        c.query::<i64>(con).unwrap();
    };
    // Redis writes, Respite reads and grows (sparse and dense), and back.
    for (key, size) in [("small", 50), ("mid", 700), ("big", 30000)] {
        add(&mut p.redis, key, 0, size);
        let bytes = get(&mut p.redis, key);
        redis::cmd("SET")
            .arg(key)
            .arg(&bytes)
            .query::<()>(&mut p.respite)
            .unwrap();
        p.same(&["pfcount", key]);
        add(&mut p.respite, key, size, size + 100);
        add(&mut p.redis, key, size, size + 100);
        assert_eq!(get(&mut p.respite, key), get(&mut p.redis, key), "{key}");
        p.same(&["pfcount", key]);
    }
    for (key, size) in [("r-small", 30), ("r-big", 20000)] {
        add(&mut p.respite, key, 0, size);
        let bytes = get(&mut p.respite, key);
        redis::cmd("SET")
            .arg(key)
            .arg(&bytes)
            .query::<()>(&mut p.redis)
            .unwrap();
        p.same(&["pfcount", key]);
    }
    p.same(&["pfcount", "small", "mid", "big", "nokey"]);
    p.same(&["pfmerge", "m1", "small", "mid"]);
    assert_eq!(get(&mut p.respite, "m1"), get(&mut p.redis, "m1"));
    p.same(&["pfmerge", "m2", "small", "big", "r-small"]);
    assert_eq!(get(&mut p.respite, "m2"), get(&mut p.redis, "m2"));
    p.same(&["pfmerge", "small", "mid"]);
    assert_eq!(get(&mut p.respite, "small"), get(&mut p.redis, "small"));
    p.same(&["pfmerge", "m3"]);
    assert_eq!(get(&mut p.respite, "m3"), get(&mut p.redis, "m3"));
    p.same(&["pfcount", "m1"]);
    p.same(&["pfcount", "m2"]);
}

#[test]
fn errors_match_redis() {
    let (_s, _r, mut p) = pair();
    p.same(&["set", "s", "not an hll at all, but long enough"]);
    p.same(&["pfadd", "s", "a"]);
    p.same(&["pfcount", "s"]);
    p.same(&["pfcount", "s", "nokey"]);
    p.same(&["pfmerge", "d", "s"]);
    p.same(&["lpush", "l", "a"]);
    p.same(&["pfadd", "l", "a"]);
    p.same(&["pfcount", "l"]);
    p.same(&["pfmerge", "l", "nokey"]);
    p.same(&["pfadd", "h", "a", "b", "c"]);
    // A sparse value whose opcodes cover too many registers, and a dense one cut short.
    let mut bad = get(&mut p.redis, "h");
    bad.push(0x00);
    p.same_bytes(&[b"set".to_vec(), b"bad".to_vec(), bad]);
    p.same(&["pfcount", "bad"]);
    p.same(&["pfcount", "bad", "h"]);
    p.same(&["pfmerge", "d", "bad"]);
    p.same(&["pfadd", "bad", "zzz"]);
    let mut short = b"HYLL\x00".to_vec();
    short.resize(100, 0);
    p.same_bytes(&[b"set".to_vec(), b"short".to_vec(), short]);
    p.same(&["pfcount", "short"]);
    p.same(&["pfadd"]);
    p.same(&["pfcount"]);
    p.same(&["pfmerge"]);
}

#[test]
fn binary_elements_of_every_length_hash_as_redis() {
    let (_s, _r, mut p) = pair();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..60 {
        let mut args = vec![b"pfadd".to_vec(), b"bin".to_vec()];
        for _ in 0..(next() % 40) {
            let len = (next() % 41) as usize;
            args.push((0..len).map(|_| next() as u8).collect());
        }
        p.same_bytes(&args);
        assert_eq!(
            get(&mut p.respite, "bin"),
            get(&mut p.redis, "bin"),
            "round {round}"
        );
        p.same(&["pfcount", "bin"]);
    }
}
