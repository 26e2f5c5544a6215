//! Long strings, kept in chunk rows (960 bytes each past 64 KiB), black box: random SETRANGE,
//! APPEND, SETBIT, GETRANGE, BITCOUNT, BITPOS and BITFIELD across chunk boundaries against a
//! real redis-server 7.0.15 and a model of the bytes, with a small hot cache; values across a
//! restart; DUMP / RESTORE in both directions; RENAME, COPY, DEL and overwrite.
//! `LONG_STRINGS_SEED=N` runs another random sequence.

mod common;

use common::redis_server::{Pair, RedisServer};
use common::rng::Rng;
use common::Server;
use redis::Connection;

/// Bytes per chunk row (as `keyspace/string.rs` has it), for offsets at chunk boundaries.
const CHUNK: i64 = 960;
/// Range lengths of reads: several chunks.
const SPAN: i64 = 16 * 1024;

impl Rng {
    /// A byte offset near a chunk boundary (or anywhere) within `max`.
    fn offset(&mut self, max: i64) -> i64 {
        if self.below(3) == 0 {
            self.below(max as u64) as i64
        } else {
            let boundary = CHUNK * (1 + self.below((max / CHUNK) as u64) as i64);
            (boundary + self.below(40) as i64 - 20).clamp(0, max)
        }
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Respite with a hot cache smaller than the strings, so they are read back from the file.
fn small_cache_server() -> Server {
    Server::builder()
        .config("[storage]\ncache_max_bytes = \"100kb\"\n")
        .start()
}

fn pair_with(respite: &Server, redis: &RedisServer) -> Pair {
    Pair {
        respite: respite.conn(),
        redis: redis.conn(),
    }
}

fn get(con: &mut Connection, key: &str) -> Option<Vec<u8>> {
    redis::cmd("GET").arg(key).query(con).unwrap()
}

fn s(n: i64) -> String {
    n.to_string()
}

#[test]
fn random_edits_across_chunk_boundaries_match_redis_and_a_model() {
    let seed = std::env::var("LONG_STRINGS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_1234_u64);
    let respite = small_cache_server();
    let redis = RedisServer::start();
    let mut p = pair_with(&respite, &redis);
    let mut rng = Rng(seed | 1);
    const MAX: i64 = 90_000; // past the 64 KiB threshold, across many chunks
    let keys = ["a", "b", "c"];
    let mut model: Vec<Vec<u8>> = vec![Vec::new(); keys.len()];
    for step in 0..600 {
        let k = rng.below(keys.len() as u64) as usize;
        let key = keys[k];
        let m = &mut model[k];
        match rng.below(10) {
            0 | 1 => {
                let off = rng.offset(MAX);
                let most = if rng.below(4) == 0 { 40_000 } else { 60 };
                let n = 1 + rng.below(most) as usize;
                let data = rng.bytes(n);
                let mut args = vec![b"SETRANGE".to_vec(), key.into(), s(off).into_bytes()];
                args.push(data.clone());
                p.same_bytes(&args);
                let end = off as usize + data.len();
                if m.len() < end {
                    m.resize(end, 0);
                }
                m[off as usize..end].copy_from_slice(&data);
            }
            2 => {
                if m.len() as i64 > MAX {
                    continue;
                }
                let n = 1 + rng.below(20_000) as usize;
                let data = rng.bytes(n);
                p.same_bytes(&[b"APPEND".to_vec(), key.into(), data.clone()]);
                m.extend_from_slice(&data);
            }
            3 | 4 => {
                let bit = rng.offset(MAX) * 8 + rng.below(8) as i64;
                let on = rng.below(2);
                p.same(&["SETBIT", key, &s(bit), &s(on as i64)]);
                let byte = (bit / 8) as usize;
                if m.len() <= byte {
                    m.resize(byte + 1, 0);
                }
                let mask = 1u8 << (7 - bit % 8);
                if on == 1 {
                    m[byte] |= mask;
                } else {
                    m[byte] &= !mask;
                }
            }
            5 => {
                let a = rng.offset(MAX) - if rng.below(3) == 0 { MAX } else { 0 };
                let b = a + rng.below(3 * SPAN as u64) as i64;
                p.same(&["GETRANGE", key, &s(a), &s(b)]);
                p.same(&["GETBIT", key, &s(rng.offset(MAX) * 8 + 3)]);
            }
            6 => {
                p.same(&["BITCOUNT", key]);
                let a = rng.offset(MAX);
                let b = a + rng.below(2 * SPAN as u64) as i64;
                p.same(&["BITCOUNT", key, &s(a), &s(b)]);
                p.same(&["BITCOUNT", key, &s(-b), &s(-a)]);
                p.same(&["BITCOUNT", key, &s(a * 8 + 5), &s(b * 8 + 2), "BIT"]);
            }
            7 => {
                let a = rng.offset(MAX);
                let b = a + rng.below(2 * SPAN as u64) as i64;
                for bit in ["0", "1"] {
                    p.same(&["BITPOS", key, bit]);
                    p.same(&["BITPOS", key, bit, &s(a)]);
                    p.same(&["BITPOS", key, bit, &s(a), &s(b)]);
                    p.same(&["BITPOS", key, bit, &s(a * 8 + 1), &s(b * 8 + 6), "BIT"]);
                }
            }
            8 => {
                // Fields straddling a chunk boundary.
                let at = rng.offset(MAX) * 8 - rng.below(40) as i64;
                let at = at.max(0);
                let ty = ["u8", "i16", "u31", "i64", "u63", "i5"][rng.below(6) as usize];
                let ow = ["WRAP", "SAT", "FAIL"][rng.below(3) as usize];
                let v = (rng.next() as i64) >> rng.below(60);
                p.same(&[
                    "BITFIELD",
                    key,
                    "OVERFLOW",
                    ow,
                    "INCRBY",
                    ty,
                    &s(at),
                    &s(v),
                    "GET",
                    ty,
                    &s(at),
                    "SET",
                    ty,
                    &s(at + 11),
                    &s(v),
                    "GET",
                    "u8",
                    &s(at + 3),
                ]);
                p.same(&[
                    "BITFIELD_RO",
                    key,
                    "GET",
                    ty,
                    &s(at),
                    "GET",
                    "i9",
                    &s(at + 7),
                ]);
                // The model follows the server: the field arithmetic is checked by the
                // comparison above.
                *m = get(&mut p.redis, key).unwrap_or_default();
            }
            _ => {
                p.same(&["STRLEN", key]);
                assert_eq!(
                    get(&mut p.respite, key).unwrap_or_default(),
                    *m,
                    "step {step}"
                );
            }
        }
    }
    for (key, m) in keys.iter().zip(&model) {
        assert_eq!(get(&mut p.respite, key).unwrap_or_default(), *m);
        p.same(&["STRLEN", key]);
        if m.len() > 64 * 1024 {
            p.same(&["OBJECT", "ENCODING", key]);
        }
    }
}

#[test]
fn chunked_strings_survive_a_restart_and_deletes_reclaim_them() {
    let mut server = small_cache_server();
    let mut con = server.conn();
    let big: Vec<u8> = Rng(7).bytes(300_000);
    let _: () = redis::cmd("SET")
        .arg("big")
        .arg(&big[..])
        .query(&mut con)
        .unwrap();
    let _: i64 = redis::cmd("SETBIT")
        .arg("bits")
        .arg(8 * 1_000_000 + 5)
        .arg(1)
        .query(&mut con)
        .unwrap();
    let _: i64 = redis::cmd("SETRANGE")
        .arg("big")
        .arg(CHUNK - 2)
        .arg("hello")
        .query(&mut con)
        .unwrap();
    let _: i64 = redis::cmd("APPEND")
        .arg("big")
        .arg("tail")
        .query(&mut con)
        .unwrap();
    let _: i64 = redis::cmd("PEXPIRE")
        .arg("big")
        .arg(600_000)
        .query(&mut con)
        .unwrap();
    let mut expect = big.clone();
    expect[CHUNK as usize - 2..CHUNK as usize + 3].copy_from_slice(b"hello");
    expect.extend_from_slice(b"tail");
    drop(con);
    server.restart();
    let mut con = server.conn();
    assert_eq!(get(&mut con, "big"), Some(expect.clone()));
    let ttl: i64 = redis::cmd("PTTL").arg("big").query(&mut con).unwrap();
    assert!(ttl > 0 && ttl <= 600_000, "{ttl}");
    let len: i64 = redis::cmd("STRLEN").arg("bits").query(&mut con).unwrap();
    assert_eq!(len, 1_000_001);
    let count: i64 = redis::cmd("BITCOUNT").arg("bits").query(&mut con).unwrap();
    assert_eq!(count, 1);
    let pos: i64 = redis::cmd("BITPOS")
        .arg("bits")
        .arg(1)
        .query(&mut con)
        .unwrap();
    assert_eq!(pos, 8 * 1_000_000 + 5);
    let enc: String = redis::cmd("OBJECT")
        .arg("ENCODING")
        .arg("bits")
        .query(&mut con)
        .unwrap();
    assert_eq!(enc, "raw");
    // Overwritten, deleted and expired chunked strings leave no chunk rows behind.
    let _: () = redis::cmd("SET")
        .arg("big")
        .arg("small")
        .query(&mut con)
        .unwrap();
    let _: i64 = redis::cmd("DEL").arg("bits").query(&mut con).unwrap();
    let _: () = redis::cmd("SET")
        .arg("gone")
        .arg(&big[..])
        .arg("PX")
        .arg(1)
        .query(&mut con)
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let gone: Option<Vec<u8>> = redis::cmd("GET").arg("gone").query(&mut con).unwrap();
    assert_eq!(gone, None);
    common::wait_until("chunk rows reclaimed", common::IO_TIMEOUT * 4, || {
        let info: String = redis::cmd("INFO").arg("memory").query(&mut con).unwrap();
        info.contains("lazyfree_pending_objects:0")
    });
    assert_eq!(get(&mut con, "big"), Some(b"small".to_vec()));
}

#[test]
fn dump_and_restore_of_chunked_strings_in_both_directions() {
    let respite = small_cache_server();
    let redis = RedisServer::start();
    let mut p = pair_with(&respite, &redis);
    let value = Rng(11).bytes(200_000);
    // Respite -> redis-server.
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg(&value[..])
        .query(&mut p.respite)
        .unwrap();
    let _: i64 = redis::cmd("SETBIT")
        .arg("k")
        .arg(8 * 150_000)
        .arg(1)
        .query(&mut p.respite)
        .unwrap();
    let payload: Vec<u8> = redis::cmd("DUMP").arg("k").query(&mut p.respite).unwrap();
    let _: () = redis::cmd("RESTORE")
        .arg("k")
        .arg(0)
        .arg(&payload[..])
        .query(&mut p.redis)
        .unwrap();
    assert_eq!(get(&mut p.respite, "k"), get(&mut p.redis, "k"));
    // redis-server -> Respite, then edited in place on both.
    let _: () = redis::cmd("SET")
        .arg("r")
        .arg(&value[..])
        .query(&mut p.redis)
        .unwrap();
    let payload: Vec<u8> = redis::cmd("DUMP").arg("r").query(&mut p.redis).unwrap();
    let _: () = redis::cmd("RESTORE")
        .arg("r")
        .arg(0)
        .arg(&payload[..])
        .query(&mut p.respite)
        .unwrap();
    p.same(&["SETRANGE", "r", &s(3 * CHUNK - 1), "xyz"]);
    p.same(&["BITCOUNT", "r", "1000", "90000"]);
    p.same(&["GETRANGE", "r", &s(3 * CHUNK - 5), &s(3 * CHUNK + 5)]);
    assert_eq!(get(&mut p.respite, "r"), get(&mut p.redis, "r"));
    p.same(&["RESTORE", "r", "0", "x"]);
}

#[test]
fn rename_copy_and_del_of_chunked_strings() {
    let respite = small_cache_server();
    let redis = RedisServer::start();
    let mut p = pair_with(&respite, &redis);
    let value = Rng(13).bytes(100_000);
    for con in [&mut p.respite, &mut p.redis] {
        let _: () = redis::cmd("SET")
            .arg("k")
            .arg(&value[..])
            .query(con)
            .unwrap();
    }
    p.same(&["SETBIT", "k", "800000", "1"]);
    p.same(&["COPY", "k", "c"]);
    p.same(&["SETRANGE", "c", &s(CHUNK), "changed"]);
    p.same(&["GETRANGE", "k", &s(CHUNK - 2), &s(CHUNK + 8)]);
    p.same(&["GETRANGE", "c", &s(CHUNK - 2), &s(CHUNK + 8)]);
    p.same(&["RENAME", "k", "r"]);
    p.same(&["EXISTS", "k"]);
    p.same(&["APPEND", "r", "end"]);
    p.same(&["STRLEN", "r"]);
    p.same(&["MOVE", "r", "1"]);
    p.same(&["SELECT", "1"]);
    p.same(&["BITCOUNT", "r"]);
    p.same(&["COPY", "r", "r2", "DB", "0"]);
    p.same(&["DEL", "r"]);
    p.same(&["SELECT", "0"]);
    assert_eq!(get(&mut p.respite, "r2"), get(&mut p.redis, "r2"));
    assert_eq!(get(&mut p.respite, "c"), get(&mut p.redis, "c"));
    p.same(&["DEL", "c", "r2"]);
    p.same(&["DBSIZE"]);
}

#[test]
fn a_far_setbit_writes_one_chunk_and_reads_as_zeros_elsewhere() {
    // The largest offset Redis allows: a 512 MB string, mostly never written.
    let server = small_cache_server();
    let mut con = server.conn();
    let last: i64 = 4_294_967_295;
    let old: i64 = redis::cmd("SETBIT")
        .arg("k")
        .arg(last)
        .arg(1)
        .query(&mut con)
        .unwrap();
    assert_eq!(old, 0);
    let len: i64 = redis::cmd("STRLEN").arg("k").query(&mut con).unwrap();
    assert_eq!(len, 512 * 1024 * 1024);
    let tail: Vec<u8> = redis::cmd("GETRANGE")
        .arg("k")
        .arg(-3)
        .arg(-1)
        .query(&mut con)
        .unwrap();
    assert_eq!(tail, vec![0, 0, 1]);
    let count: i64 = redis::cmd("BITCOUNT")
        .arg("k")
        .arg(-100_000)
        .arg(-1)
        .query(&mut con)
        .unwrap();
    assert_eq!(count, 1);
    let pos: i64 = redis::cmd("BITPOS")
        .arg("k")
        .arg(1)
        .arg(-20_000)
        .query(&mut con)
        .unwrap();
    assert_eq!(pos, last);
    let mid: Vec<u8> = redis::cmd("GETRANGE")
        .arg("k")
        .arg(1 << 28)
        .arg((1 << 28) + 3)
        .query(&mut con)
        .unwrap();
    assert_eq!(mid, vec![0; 4]);
    // The 512 MB limit and Redis's errors stay.
    let err = redis::cmd("SETBIT")
        .arg("k")
        .arg(last + 1)
        .arg(1)
        .query::<i64>(&mut con)
        .unwrap_err();
    assert_eq!(
        err.detail(),
        Some("bit offset is not an integer or out of range")
    );
    let err = redis::cmd("APPEND")
        .arg("k")
        .arg("x")
        .query::<i64>(&mut con)
        .unwrap_err();
    assert_eq!(
        err.detail(),
        Some("string exceeds maximum allowed size (proto-max-bulk-len)")
    );
    let err = redis::cmd("SETRANGE")
        .arg("k")
        .arg(512 * 1024 * 1024)
        .arg("x")
        .query::<i64>(&mut con)
        .unwrap_err();
    assert_eq!(
        err.detail(),
        Some("string exceeds maximum allowed size (proto-max-bulk-len)")
    );
    let used: String = redis::cmd("INFO").arg("memory").query(&mut con).unwrap();
    let cache: u64 = used
        .lines()
        .find_map(|l| l.strip_prefix("respite_cache_bytes:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("respite_cache_bytes");
    assert!(cache < 100 * 1024, "the cache holds {cache} bytes");
}

#[test]
fn a_long_string_stored_whole_by_an_older_version_reads_and_moves_into_chunks() {
    // Files written before chunking hold long strings whole in the key's row: they read as
    // they are, and the first in-place write moves them into chunks.
    let mut server = small_cache_server();
    let mut con = server.conn();
    let _: () = redis::cmd("SET")
        .arg("old")
        .arg("placeholder")
        .query(&mut con)
        .unwrap();
    drop(con);
    server.stop();
    let whole = Rng(17).bytes(150_000);
    {
        let db = rusqlite::Connection::open(server.db_path()).unwrap();
        let n = db
            .execute(
                "UPDATE keys SET value = ?1 WHERE key = CAST('old' AS BLOB) AND cid IS NULL",
                [&whole[..]],
            )
            .unwrap();
        assert_eq!(n, 1, "the key row to rewrite");
    }
    server.restart();
    let mut con = server.conn();
    assert_eq!(get(&mut con, "old"), Some(whole.clone()));
    let len: i64 = redis::cmd("STRLEN").arg("old").query(&mut con).unwrap();
    assert_eq!(len, whole.len() as i64);
    let range: Vec<u8> = redis::cmd("GETRANGE")
        .arg("old")
        .arg(CHUNK - 3)
        .arg(CHUNK + 3)
        .query(&mut con)
        .unwrap();
    assert_eq!(range, whole[CHUNK as usize - 3..CHUNK as usize + 4]);
    let mut expect = whole.clone();
    let _: i64 = redis::cmd("SETRANGE")
        .arg("old")
        .arg(2 * CHUNK - 1)
        .arg("ab")
        .query(&mut con)
        .unwrap();
    expect[2 * CHUNK as usize - 1..2 * CHUNK as usize + 1].copy_from_slice(b"ab");
    let _: i64 = redis::cmd("APPEND")
        .arg("old")
        .arg("!")
        .query(&mut con)
        .unwrap();
    expect.push(b'!');
    assert_eq!(get(&mut con, "old"), Some(expect.clone()));
    drop(con);
    server.restart();
    let mut con = server.conn();
    assert_eq!(get(&mut con, "old"), Some(expect));
    let db = rusqlite::Connection::open(server.db_path()).unwrap();
    let cid: Option<i64> = db
        .query_row(
            "SELECT cid FROM keys WHERE key = CAST('old' AS BLOB)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(cid.is_some(), "the string moved into chunk rows");
}
