//! Hash fields, list items and stream entries of a kilobyte and more, kept in element rows
//! (their values apart from the rows, see `storage/values.rs`), black box: random writes,
//! overwrites between short and long values, deletes, pops, trims, COPY, DEL and
//! overwrites of whole keys, against a model, with a cache too small to hold them (reads
//! come from the file), across restarts and kill -9. `LONG_ELEMENTS_SEED=N` runs another
//! random sequence.

mod common;

use std::collections::{BTreeMap, VecDeque};

use common::rng::Rng;
use common::Server;
use redis::{Commands, Connection};

impl Rng {
    /// A value short (in the row) or long (apart) about half the time each, some right at
    /// the line between the two.
    fn value(&mut self) -> Vec<u8> {
        let len = match self.below(4) {
            0 => self.below(40) as usize,
            1 => 950 + self.below(40) as usize,
            _ => 1000 + self.below(4000) as usize,
        };
        let b = b'a' + self.below(26) as u8;
        let mut v = vec![b; len];
        if len > 0 {
            v[0] = self.below(256) as u8; // values differ beyond their letter
        }
        v
    }
}

/// What the server must hold.
#[derive(Default, Clone)]
struct Model {
    hashes: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    lists: BTreeMap<String, VecDeque<Vec<u8>>>,
}

const HASHES: [&str; 3] = ["h0", "h1", "h2"];
const LISTS: [&str; 3] = ["l0", "l1", "l2"];

fn step(c: &mut Connection, m: &mut Model, rng: &mut Rng) {
    let hash = HASHES[rng.below(3) as usize].to_string();
    let list = LISTS[rng.below(3) as usize].to_string();
    match rng.below(12) {
        0..=2 => {
            let field = format!("f{}", rng.below(300));
            let value = rng.value();
            let _: i64 = c.hset(&hash, &field, &value).unwrap();
            m.hashes.entry(hash).or_default().insert(field, value);
        }
        3 => {
            let field = format!("f{}", rng.below(300));
            let gone: i64 = c.hdel(&hash, &field).unwrap();
            let had = m.hashes.get_mut(&hash).and_then(|h| h.remove(&field));
            assert_eq!(gone, i64::from(had.is_some()), "HDEL {hash} {field}");
            if m.hashes.get(&hash).is_some_and(|h| h.is_empty()) {
                m.hashes.remove(&hash);
            }
        }
        4 | 5 => {
            let value = rng.value();
            let items = m.lists.entry(list.clone()).or_default();
            if rng.below(2) == 0 {
                let _: i64 = c.lpush(&list, &value).unwrap();
                items.push_front(value);
            } else {
                let _: i64 = c.rpush(&list, &value).unwrap();
                items.push_back(value);
            }
        }
        6 => {
            let items = m.lists.entry(list.clone()).or_default();
            if !items.is_empty() {
                let at = rng.below(items.len() as u64) as usize;
                let value = rng.value();
                let _: () = redis::cmd("LSET")
                    .arg(&list)
                    .arg(at)
                    .arg(&value)
                    .query(c)
                    .unwrap();
                items[at] = value;
            }
        }
        7 => {
            let got: Option<Vec<u8>> = c.lpop(&list, None).unwrap();
            let items = m.lists.entry(list.clone()).or_default();
            assert_eq!(got, items.pop_front(), "LPOP {list}");
        }
        8 => {
            // LTRIM keeps the middle: both ends' items go at once.
            let items = m.lists.entry(list.clone()).or_default();
            if items.len() > 20 {
                let _: () = c.ltrim(&list, 3, -4).unwrap();
                items.drain(..3);
                let keep = items.len() - 3;
                items.truncate(keep);
            }
        }
        9 => {
            // A copy lives on after its source changes or goes.
            let to = format!("{hash}:copy");
            let _: i64 = redis::cmd("COPY")
                .arg(&hash)
                .arg(&to)
                .arg("REPLACE")
                .query(c)
                .unwrap();
            match m.hashes.get(&hash).cloned() {
                Some(h) => m.hashes.insert(to, h),
                None => m.hashes.remove(&to),
            };
            let to = format!("{list}:copy");
            let _: i64 = redis::cmd("COPY")
                .arg(&list)
                .arg(&to)
                .arg("REPLACE")
                .query(c)
                .unwrap();
            match m.lists.get(&list).cloned().filter(|l| !l.is_empty()) {
                Some(l) => m.lists.insert(to, l),
                None => m.lists.remove(&to),
            };
        }
        10 if rng.below(8) == 0 => {
            let _: i64 = c.del(&hash).unwrap();
            m.hashes.remove(&hash);
        }
        11 if rng.below(8) == 0 => {
            // Overwritten by a string: the list's rows go to the reclaim.
            let _: () = c.set(&list, "now a string").unwrap();
            let _: i64 = c.del(&list).unwrap();
            m.lists.remove(&list);
        }
        _ => {}
    }
}

/// The collection keeps its elements in rows (`encoding` is Redis's name for that form).
fn assert_in_rows(c: &mut Connection, name: &str, encoding: &str, when: &str) {
    let got: String = redis::cmd("OBJECT")
        .arg("ENCODING")
        .arg(name)
        .query(c)
        .unwrap();
    assert_eq!(got, encoding, "{when}: {name} keeps its elements in rows");
}

fn check(c: &mut Connection, m: &Model, when: &str) {
    for (name, fields) in &m.hashes {
        let got: BTreeMap<String, Vec<u8>> = c.hgetall(name).unwrap();
        assert_eq!(got.len(), fields.len(), "{when}: HLEN {name}");
        assert!(&got == fields, "{when}: HGETALL {name} differs");
        if fields.len() > 4 {
            assert_in_rows(c, name, "hashtable", when);
        }
    }
    for (name, items) in &m.lists {
        let got: Vec<Vec<u8>> = c.lrange(name, 0, -1).unwrap();
        let want: Vec<Vec<u8>> = items.iter().cloned().collect();
        assert_eq!(got.len(), want.len(), "{when}: LLEN {name}");
        assert!(got == want, "{when}: LRANGE {name} differs");
        if want.len() > 4 {
            assert_in_rows(c, name, "quicklist", when);
        }
    }
}

#[test]
fn long_hash_fields_and_list_items_survive_every_write_restarts_and_kill_9() {
    let seed = std::env::var("LONG_ELEMENTS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_e1e3);
    let mut server = Server::builder()
        // A cache smaller than the data: reads come from the file.
        .config("[storage]\ncache_max_bytes = \"256kb\"\nmerge_interval_ms = 20\n")
        .start();
    // Small listpack limits: every collection keeps its elements in rows.
    let small_limits = |c: &mut Connection| {
        for (name, value) in [
            ("hash-max-listpack-entries", "4"),
            ("list-max-listpack-size", "4"),
        ] {
            let _: () = redis::cmd("CONFIG")
                .arg("SET")
                .arg(name)
                .arg(value)
                .query(c)
                .unwrap();
        }
    };
    let mut rng = Rng(seed);
    let mut model = Model::default();
    for round in 0..6 {
        let mut c = server.conn();
        small_limits(&mut c);
        for _ in 0..500 {
            step(&mut c, &mut model, &mut rng);
        }
        check(&mut c, &model, &format!("round {round} (seed {seed})"));
        drop(c);
        if round % 2 == 0 {
            server.crash_restart();
        } else {
            server.restart();
        }
        let mut c = server.conn();
        check(
            &mut c,
            &model,
            &format!("after restart {round} (seed {seed})"),
        );
    }
    // Everything deleted: the reclaim takes the values apart along with their rows, and
    // what is left is readable.
    let mut c = server.conn();
    let _: () = redis::cmd("FLUSHALL").query(&mut c).unwrap();
    let _: i64 = c.rpush("after", vec![1u8; 3000]).unwrap();
    let got: Vec<Vec<u8>> = c.lrange("after", 0, -1).unwrap();
    assert_eq!(got, vec![vec![1u8; 3000]]);
}
