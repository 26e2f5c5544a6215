//! Crash safety of the write path (the redo journal and its merges): many clients write every
//! type, the server is killed with SIGKILL at a random moment, restarted, and what it holds
//! must equal a model of the acknowledged writes. The one write each client had in flight may
//! or may not have been applied: both states are accepted, nothing else.

mod common;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use common::rng::Rng;
use common::Server;

/// What one client's keys must hold.
#[derive(Clone, Debug, Default, PartialEq)]
struct Model {
    string: Option<String>,
    counter: i64,
    hash: BTreeMap<String, String>,
    set: BTreeSet<String>,
    zset: BTreeMap<String, i64>,
    list: VecDeque<String>,
    stream: Vec<String>,
}

/// One write, as sent and as applied to the model.
#[derive(Clone, Debug)]
enum Op {
    Set(String),
    Append(String),
    DelString,
    Incr,
    HSet(String, String),
    HDel(String),
    SAdd(String),
    SRem(String),
    ZAdd(String, i64),
    ZRem(String),
    RPush(String),
    LPop,
    XAdd(String),
}

fn key(w: usize, kind: &str) -> String {
    format!("c{w}:{kind}")
}

impl Op {
    fn random(rng: &mut Rng, model: &Model) -> Op {
        // Hashes, sets and sorted sets of up to 400 members: past the listpack limits, so their
        // elements live in rows of their own; values of up to 3 KB one time in eight, so that
        // strings cross the length past which they are kept apart from their key rows (512)
        // both ways, and large values (up to 20 KB) now and then.
        let member = format!("m{}", rng.below(400));
        let longest = match rng.below(50) {
            0 => 20_000,
            1..=6 => 3_000,
            _ => 40,
        };
        let value = "v".repeat(1 + rng.below(longest) as usize);
        match rng.below(13) {
            0 => Op::Set(value),
            1 => Op::Append(value),
            2 => Op::DelString,
            3 => Op::Incr,
            4 | 5 => Op::HSet(member, value),
            6 => Op::HDel(member),
            7 => Op::SAdd(member),
            8 => Op::SRem(member),
            9 => Op::ZAdd(member, rng.below(1000) as i64 - 500),
            10 => Op::ZRem(member),
            11 if !model.list.is_empty() && rng.below(3) == 0 => Op::LPop,
            11 => Op::RPush(value),
            _ => Op::XAdd(value),
        }
    }

    fn command(&self, w: usize) -> redis::Cmd {
        let mut c;
        match self {
            Op::Set(v) => {
                c = redis::cmd("SET");
                c.arg(key(w, "str")).arg(v);
            }
            Op::Append(v) => {
                c = redis::cmd("APPEND");
                c.arg(key(w, "str")).arg(v);
            }
            Op::DelString => {
                c = redis::cmd("DEL");
                c.arg(key(w, "str"));
            }
            Op::Incr => {
                c = redis::cmd("INCR");
                c.arg(key(w, "cnt"));
            }
            Op::HSet(f, v) => {
                c = redis::cmd("HSET");
                c.arg(key(w, "hash")).arg(f).arg(v);
            }
            Op::HDel(f) => {
                c = redis::cmd("HDEL");
                c.arg(key(w, "hash")).arg(f);
            }
            Op::SAdd(m) => {
                c = redis::cmd("SADD");
                c.arg(key(w, "set")).arg(m);
            }
            Op::SRem(m) => {
                c = redis::cmd("SREM");
                c.arg(key(w, "set")).arg(m);
            }
            Op::ZAdd(m, s) => {
                c = redis::cmd("ZADD");
                c.arg(key(w, "zset")).arg(s).arg(m);
            }
            Op::ZRem(m) => {
                c = redis::cmd("ZREM");
                c.arg(key(w, "zset")).arg(m);
            }
            Op::RPush(v) => {
                c = redis::cmd("RPUSH");
                c.arg(key(w, "list")).arg(v);
            }
            Op::LPop => {
                c = redis::cmd("LPOP");
                c.arg(key(w, "list"));
            }
            Op::XAdd(v) => {
                c = redis::cmd("XADD");
                c.arg(key(w, "stream")).arg("*").arg("f").arg(v);
            }
        }
        c
    }

    fn apply(&self, m: &mut Model) {
        match self {
            Op::Set(v) => m.string = Some(v.clone()),
            Op::Append(v) => m.string.get_or_insert_with(String::new).push_str(v),
            Op::DelString => m.string = None,
            Op::Incr => m.counter += 1,
            Op::HSet(f, v) => {
                m.hash.insert(f.clone(), v.clone());
            }
            Op::HDel(f) => {
                m.hash.remove(f);
            }
            Op::SAdd(x) => {
                m.set.insert(x.clone());
            }
            Op::SRem(x) => {
                m.set.remove(x);
            }
            Op::ZAdd(x, s) => {
                m.zset.insert(x.clone(), *s);
            }
            Op::ZRem(x) => {
                m.zset.remove(x);
            }
            Op::RPush(v) => m.list.push_back(v.clone()),
            Op::LPop => {
                m.list.pop_front();
            }
            Op::XAdd(v) => m.stream.push(v.clone()),
        }
    }
}

/// What the server holds for client `w`'s keys.
fn read_model(con: &mut redis::Connection, w: usize) -> Model {
    let string: Option<String> = redis::cmd("GET").arg(key(w, "str")).query(con).unwrap();
    let counter: Option<i64> = redis::cmd("GET").arg(key(w, "cnt")).query(con).unwrap();
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
    let list: Vec<String> = redis::cmd("LRANGE")
        .arg(key(w, "list"))
        .arg(0)
        .arg(-1)
        .query(con)
        .unwrap();
    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(key(w, "stream"))
        .arg("-")
        .arg("+")
        .query(con)
        .unwrap();
    Model {
        string,
        counter: counter.unwrap_or(0),
        hash,
        set,
        zset: zset.into_iter().collect(),
        list: list.into(),
        stream: entries
            .into_iter()
            .map(|(_, mut fields)| fields.pop().unwrap().1)
            .collect(),
    }
}

/// Which part of two models differs, briefly (values can be 20 KB long).
fn difference(got: &Model, want: &Model) -> String {
    let short = |s: &str| format!("{} bytes starting {:?}", s.len(), &s[..s.len().min(20)]);
    if got.string != want.string {
        return format!(
            "the string: {:?} vs {:?}",
            got.string.as_deref().map(short),
            want.string.as_deref().map(short)
        );
    }
    if got.counter != want.counter {
        return format!("the counter: {} vs {}", got.counter, want.counter);
    }
    let sizes = |m: &Model| {
        (
            m.hash.len(),
            m.set.len(),
            m.zset.len(),
            m.list.len(),
            m.stream.len(),
        )
    };
    format!(
        "a collection: (hash, set, zset, list, stream) sizes {:?} vs {:?}; hash equal {}, set \
         equal {}, zset equal {}, list equal {}, stream equal {}",
        sizes(got),
        sizes(want),
        got.hash == want.hash,
        got.set == want.set,
        got.zset == want.zset,
        got.list == want.list,
        got.stream == want.stream
    )
}

/// Client `w`'s writer: random writes until the server goes away; returns its model of the
/// acknowledged writes and the write that was in flight when the connection failed.
fn writer(
    client: redis::Client,
    w: usize,
    seed: u64,
    mut model: Model,
    acked: Arc<AtomicUsize>,
) -> (Model, Option<Op>) {
    let mut rng = Rng(seed | 1);
    // On a loaded machine the other writers may reach the kill's threshold before this one
    // connects: then it wrote nothing.
    let Ok(mut con) = client.get_connection() else {
        return (model, None);
    };
    con.set_read_timeout(Some(common::IO_TIMEOUT)).unwrap();
    // Bounded: the server is killed long before.
    for _ in 0..10_000_000u64 {
        let op = Op::random(&mut rng, &model);
        if op.command(w).query::<redis::Value>(&mut con).is_err() {
            return (model, Some(op));
        }
        op.apply(&mut model);
        acked.fetch_add(1, Ordering::Relaxed);
    }
    (model, None)
}

/// Rounds of: a write load from `clients` clients, SIGKILL after `writes` acknowledged writes,
/// restart, and a check of every client's keys against its model.
fn crash_rounds(config: &str, clients: usize, rounds: usize, writes: usize) {
    crash_rounds_with(Server::builder().config(config), clients, rounds, writes);
}

/// [`crash_rounds`] with a server built as `builder` says.
fn crash_rounds_with(builder: common::ServerBuilder, clients: usize, rounds: usize, writes: usize) {
    let mut server = builder.start();
    let mut models = vec![Model::default(); clients];
    for round in 0..rounds {
        let acked = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..clients)
            .map(|w| {
                let client = server.client();
                let model = models[w].clone();
                let acked = Arc::clone(&acked);
                let seed = ((round * 1000 + w + 1) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                std::thread::spawn(move || writer(client, w, seed, model, acked))
            })
            .collect();
        common::wait_until("acknowledged writes", common::IO_TIMEOUT * 4, || {
            acked.load(Ordering::Relaxed) >= writes
        });
        server.kill();
        let results: Vec<(Model, Option<Op>)> =
            handles.into_iter().map(|h| h.join().unwrap()).collect();
        server.restart();
        let mut con = server.conn();
        for (w, (model, in_flight)) in results.into_iter().enumerate() {
            let got = read_model(&mut con, w);
            let mut with_in_flight = model.clone();
            if let Some(op) = &in_flight {
                op.apply(&mut with_in_flight);
            }
            // The in-flight write was applied (its reply lost) or not; nothing else differs.
            if got == with_in_flight {
                models[w] = with_in_flight;
            } else {
                assert!(
                    got == model,
                    "round {round}, client {w}: the server differs from the acknowledged writes \
                     in {}",
                    difference(&got, &model)
                );
                models[w] = model;
            }
        }
    }
    server.stop();
}

#[test]
fn kill_9_under_a_write_load_of_every_type_loses_no_acknowledged_write() {
    crash_rounds("", 8, 3, 3000);
}

#[test]
fn kill_9_with_a_tiny_journal_limit_and_merges_all_the_time() {
    // A 1 MB journal is merged every few batches (back-pressure merges), and a 1 ms interval
    // merges between almost every pair of batches: kills land in and around merges.
    // Each merge's journal files are deleted by a thread of its own; a debug build delays
    // each deletion at random (up to 20 ms), so that they overlap and end out of order and
    // kills find a file of merged records whose successor is gone. (The replay used to stop
    // at that gap and cut off the acknowledged records after it: lost in 7 of 8 runs.)
    crash_rounds_with(
        Server::builder()
            .config("[storage]\nmerge_interval_ms = 1\njournal_max_bytes = \"1mb\"\n")
            .env("RESPITE_TEST_RETIRE_DELAY_US", "20000"),
        6,
        3,
        2000,
    );
}

#[test]
fn kill_9_without_a_journal_loses_no_acknowledged_write_either() {
    crash_rounds("[storage]\nmerge_interval_ms = 0\n", 4, 2, 1500);
}

#[test]
fn a_journal_left_by_a_crash_is_replayed_when_the_next_run_keeps_none() {
    let mut server = Server::builder()
        .config("[storage]\nmerge_interval_ms = 3600000\n")
        .start();
    let mut con = server.conn();
    for i in 0..500 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query(&mut con)
            .unwrap();
    }
    let info: redis::InfoDict = redis::cmd("INFO")
        .arg("persistence")
        .query(&mut con)
        .unwrap();
    let records: u64 = info.get("respite_journal_records").unwrap();
    assert!(records > 0, "nothing waits in the journal");
    server.kill();
    std::fs::write(server.config_path(), "[storage]\nmerge_interval_ms = 0\n").unwrap();
    server.restart();
    let mut con = server.conn();
    let n: u64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(n, 500);
    let v: u32 = redis::cmd("GET").arg("k499").query(&mut con).unwrap();
    assert_eq!(v, 499);
    let info: redis::InfoDict = redis::cmd("INFO")
        .arg("persistence")
        .query(&mut con)
        .unwrap();
    assert!(info.get::<u64>("respite_journal_records").is_none());
    server.stop();
    assert!(!server.db_path().with_extension("db.redo").exists());
}

/// Many clients write and read back values of up to several MB against a small cache, with
/// merges, checkpoints and restarts between rounds: every read returns what the model says
/// (Redis's `Very big payload random access` once read back an empty string here).
#[test]
fn large_values_read_back_exactly_under_concurrent_writers_and_restarts() {
    let mut server = Server::builder()
        .config("[storage]\ncache_max_bytes = \"4mb\"\nmerge_interval_ms = 20\n")
        .start();
    let clients = 6;
    for round in 0..3u64 {
        let failed = Arc::new(AtomicBool::new(false));
        let handles: Vec<_> = (0..clients)
            .map(|w| {
                let client = server.client();
                let failed = Arc::clone(&failed);
                std::thread::spawn(move || {
                    let mut rng =
                        Rng((round * 100 + w as u64 + 7).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                    let mut con = client.get_connection().unwrap();
                    let mut mine: BTreeMap<String, Vec<u8>> = BTreeMap::new();
                    for i in 0..40 {
                        let k = format!("big:{w}:{}", rng.below(8));
                        let len = match rng.below(4) {
                            0 => rng.below(4_000_000),
                            _ => 100_000 + rng.below(300_000),
                        } as usize;
                        let byte = b'a' + ((i + w) % 26) as u8;
                        let mut v = vec![byte; len];
                        if len > 0 {
                            v[len - 1] = b'!';
                        }
                        let _: () = redis::cmd("SET").arg(&k).arg(&v).query(&mut con).unwrap();
                        mine.insert(k, v);
                        let probe = mine.keys().nth(rng.below(mine.len() as u64) as usize);
                        let probe = probe.unwrap().clone();
                        let got: Vec<u8> = redis::cmd("GET").arg(&probe).query(&mut con).unwrap();
                        if got != mine[&probe] {
                            failed.store(true, Ordering::Relaxed);
                            panic!(
                                "GET {probe} returned {} bytes, expected {}",
                                got.len(),
                                mine[&probe].len()
                            );
                        }
                    }
                    mine
                })
            })
            .collect();
        let written: Vec<BTreeMap<String, Vec<u8>>> =
            handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert!(!failed.load(Ordering::Relaxed));
        if round % 2 == 0 {
            server.crash_restart();
        } else {
            server.restart();
        }
        let mut con = server.conn();
        for mine in &written {
            for (k, v) in mine {
                let got: Vec<u8> = redis::cmd("GET").arg(k).query(&mut con).unwrap();
                assert!(
                    got == *v,
                    "after restart, {k} has {} bytes, not {}",
                    got.len(),
                    v.len()
                );
            }
        }
    }
    server.stop();
}

/// Many clients change and read small keys against a tiny cache while the row writer applies
/// their rows on its own thread and merges run every few milliseconds: every read, and the
/// key count and a full SCAN at the end, agree with a model of the acknowledged writes. (The
/// race of a load with a queued row is pinned down by the store's own unit test,
/// `reads_see_every_key_row_while_the_row_writer_applies_them`; here the timing is the
/// server's.)
#[test]
fn small_keys_read_back_exactly_while_the_row_writer_applies_them() {
    small_keys_under_load(false);
}

/// The same with a RENAME loop beside the clients. A RENAME rewrites the keys table with a
/// statement of its own: until the next commit the rows applied are not kept for reads,
/// which then read the open transaction (beside a merge, without waiting for its commit).
///
/// Ignored: about one run in four (on base b2f1603 too), a RENAME is answered "writing key
/// rows failed: the open transaction was rolled back": key rows were applied to the
/// connection while it had no open transaction, the last COMMIT before it being the one
/// that ends a read-only transaction (`SqliteStore::end_read`). Found in session 34, not
/// fixed yet; run it with `cargo test --test durability -- --ignored`.
#[test]
#[ignore = "a RENAME beside merges sometimes fails with a lost transaction (see its doc)"]
fn small_keys_and_renames_read_back_exactly_while_the_row_writer_applies_them() {
    small_keys_under_load(true);
}

fn small_keys_under_load(renames: bool) {
    let server = Server::builder()
        .config("[storage]\ncache_max_bytes = \"64kb\"\nmerge_interval_ms = 5\n")
        .start();
    let clients = 8;
    let handles: Vec<_> = (0..clients)
        .map(|w| {
            let client = server.client();
            std::thread::spawn(move || {
                let mut rng = Rng((w as u64 + 11).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                let mut con = client.get_connection().unwrap();
                let mut model: BTreeMap<String, i64> = BTreeMap::new();
                for i in 0..3000i64 {
                    let key = format!("s:{w}:{}", rng.below(300));
                    match rng.below(5) {
                        0 => {
                            let _: i64 = redis::cmd("DEL").arg(&key).query(&mut con).unwrap();
                            model.remove(&key);
                        }
                        1 => {
                            let got: i64 = redis::cmd("INCR").arg(&key).query(&mut con).unwrap();
                            let want = model.get(&key).copied().unwrap_or(0) + 1;
                            assert_eq!(got, want, "INCR {key}");
                            model.insert(key, want);
                        }
                        2 | 3 => {
                            let _: () = redis::cmd("SET").arg(&key).arg(i).query(&mut con).unwrap();
                            model.insert(key, i);
                        }
                        _ => {
                            let got: Option<i64> =
                                redis::cmd("GET").arg(&key).query(&mut con).unwrap();
                            assert_eq!(got, model.get(&key).copied(), "GET {key}");
                        }
                    }
                }
                model
            })
        })
        .collect();
    let renamer = renames.then(|| {
        let client = server.client();
        std::thread::spawn(move || {
            let mut con = client.get_connection().unwrap();
            let (mut from, mut to) = ("r:a".to_string(), "r:b".to_string());
            let _: () = redis::cmd("SET").arg(&from).arg(0).query(&mut con).unwrap();
            for i in 1..=1500i64 {
                let _: () = redis::cmd("RENAME")
                    .arg(&from)
                    .arg(&to)
                    .query(&mut con)
                    .unwrap();
                let got: Option<i64> = redis::cmd("INCR").arg(&to).query(&mut con).unwrap();
                assert_eq!(got, Some(i), "INCR {to} after RENAME");
                std::mem::swap(&mut from, &mut to);
            }
            (from, 1500i64)
        })
    });
    let mut all: BTreeMap<String, i64> = BTreeMap::new();
    for h in handles {
        all.extend(h.join().unwrap());
    }
    if let Some(renamer) = renamer {
        let (renamed, count) = renamer.join().unwrap();
        all.insert(renamed, count);
    }
    let mut con = server.client().get_connection().unwrap();
    let size: usize = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(size, all.len());
    let mut seen = BTreeSet::new();
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(100)
            .query(&mut con)
            .unwrap();
        seen.extend(keys);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    assert_eq!(seen.len(), all.len());
    for (key, want) in &all {
        let got: Option<i64> = redis::cmd("GET").arg(key).query(&mut con).unwrap();
        assert_eq!(got, Some(*want), "{key}");
    }
}
