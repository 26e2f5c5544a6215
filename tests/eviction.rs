//! `maxmemory` and its policies, black box: the logical data size INFO reports
//! (`respite_data_bytes`) stays exact through every kind of write and across a restart; each
//! `maxmemory-policy` evicts the right class of keys; `noeviction` answers Redis's `-OOM`;
//! evicted keys are counted, notified (`evicted`) and invalidated in client-side caches.
//! Assertions about which keys an approximate policy keeps are statistical with wide margins.

mod common;

use std::collections::HashSet;

use common::{RawConn, Reply, Server};
use redis::Commands;

const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

fn info_field(con: &mut redis::Connection, name: &str) -> u64 {
    let info: String = redis::cmd("INFO").arg("everything").query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in INFO"))
        .trim()
        .parse()
        .unwrap()
}

fn data_bytes(con: &mut redis::Connection) -> u64 {
    info_field(con, "respite_data_bytes")
}

fn config_set(con: &mut redis::Connection, name: &str, value: &str) {
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg(name)
        .arg(value)
        .query(con)
        .unwrap();
}

fn keys_of(con: &mut redis::Connection) -> HashSet<String> {
    con.keys::<_, Vec<String>>("*")
        .unwrap()
        .into_iter()
        .collect()
}

#[test]
fn the_data_size_is_exact_through_every_write_and_survives_a_restart() {
    let mut server = Server::start();
    let mut con = server.conn();
    assert_eq!(data_bytes(&mut con), 0);
    let _: () = con.set("k", "12345").unwrap();
    assert_eq!(data_bytes(&mut con), 1 + 5);
    let _: () = con.set("k", "1").unwrap();
    assert_eq!(data_bytes(&mut con), 1 + 1);
    let _: () = con.append("k", "23").unwrap();
    assert_eq!(data_bytes(&mut con), 1 + 3);
    let _: () = con.rename("k", "longer").unwrap();
    assert_eq!(data_bytes(&mut con), 6 + 3);
    let _: () = con.del("longer").unwrap();
    assert_eq!(data_bytes(&mut con), 0);

    // Collections small and large (element rows), expiry, RENAME, MOVE, COPY, SWAPDB.
    for i in 0..300 {
        let _: () = con.hset("h", format!("f{i}"), "v".repeat(i % 50)).unwrap();
        let _: () = con.rpush("l", format!("item{i}")).unwrap();
        let _: () = con.sadd("s", i).unwrap();
        let _: () = con.zadd("z", format!("m{i}"), i).unwrap();
    }
    let _: () = con.hset("small", "a", "b").unwrap();
    let _: () = con.set_ex("gone", "x", 1).unwrap();
    let _: () = redis::cmd("PEXPIRE")
        .arg("gone")
        .arg(1)
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("COPY")
        .arg("h")
        .arg("h2")
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("MOVE").arg("z").arg(1).query(&mut con).unwrap();
    let _: () = redis::cmd("SWAPDB").arg(0).arg(2).query(&mut con).unwrap();
    let _: () = redis::cmd("SWAPDB").arg(0).arg(2).query(&mut con).unwrap();
    for _ in 0..100 {
        let _: Option<String> = con.lpop("l", None).unwrap();
        let _: () = con.hdel("h", "f7").unwrap();
    }
    let _: () = con.srem("s", 5).unwrap();
    // The key with a TTL of a millisecond goes (lazy expiry) before the figure is read.
    std::thread::sleep(std::time::Duration::from_millis(5));
    let _: Option<String> = con.get("gone").unwrap();
    let before = data_bytes(&mut con);
    assert!(before > 0);
    server.restart();
    let mut con = server.conn();
    assert_eq!(data_bytes(&mut con), before, "persisted with the commit");

    // Deleting every key brings it back to zero.
    for db in 0..2 {
        let _: () = redis::cmd("SELECT").arg(db).query(&mut con).unwrap();
        for key in keys_of(&mut con) {
            let _: () = con.del(&key).unwrap();
        }
    }
    assert_eq!(data_bytes(&mut con), 0);
    let _: () = con.set("a", "bc").unwrap();
    let _: () = redis::cmd("FLUSHALL").query(&mut con).unwrap();
    assert_eq!(data_bytes(&mut con), 0);
}

#[test]
fn noeviction_refuses_commands_that_add_data_with_redis_error() {
    let server = Server::start();
    let mut con = server.conn();
    for i in 0..20 {
        let _: () = con.set(format!("key:{i}"), "v".repeat(100)).unwrap();
    }
    let used = data_bytes(&mut con);
    config_set(&mut con, "maxmemory", &(used - 1).to_string());
    assert_eq!(info_field(&mut con, "maxmemory"), used - 1);
    let mut raw = server.raw();
    assert_eq!(raw.cmd(&["SET", "new", "x"]), Reply::error(OOM));
    assert_eq!(raw.cmd(&["LPUSH", "list", "x"]), Reply::error(OOM));
    // Reads and deletes still run.
    assert_eq!(raw.cmd(&["GET", "key:1"]), Reply::bulk("v".repeat(100)));
    assert_eq!(raw.cmd(&["DEL", "key:1"]), Reply::Int(1));
    assert_eq!(
        raw.cmd(&["SET", "new", "x"]),
        Reply::ok(),
        "under the limit again"
    );
    assert_eq!(raw.cmd(&["SET", "new2", &"y".repeat(200)]), Reply::ok());
    // Inside MULTI, queueing is refused and dooms the transaction.
    assert_eq!(raw.cmd(&["MULTI"]), Reply::ok());
    assert_eq!(raw.cmd(&["GET", "new"]), Reply::error(OOM));
    assert_eq!(
        raw.cmd(&["EXEC"]),
        Reply::error("EXECABORT Transaction discarded because of previous errors.")
    );
    // A script's first write that may add data is refused; allow-oom lets it through.
    let reply = raw.cmd(&["EVAL", "return redis.call('set','x','y')", "0"]);
    assert!(
        matches!(&reply, Reply::Error(e) if e.starts_with(OOM)),
        "{reply:?}"
    );
    let allow = "#!lua flags=allow-oom\nreturn redis.call('set','x','y')";
    assert_eq!(raw.cmd(&["EVAL", allow, "0"]), Reply::ok());
    let shebang = "#!lua\nreturn redis.call('set','x','y')";
    assert_eq!(raw.cmd(&["EVAL", shebang, "0"]), Reply::error(OOM));
    assert_eq!(info_field(&mut con, "evicted_keys"), 0);
    // CONFIG SET maxmemory 0 lifts the limit at once.
    config_set(&mut con, "maxmemory", "0");
    assert_eq!(raw.cmd(&["SET", "new3", "x"]), Reply::ok());
}

/// Fills the server well past `limit` with `n` keys of `size` bytes (`ttl`: with a TTL), and
/// checks the data size stays within the limit plus one key after each write.
fn fill(con: &mut redis::Connection, prefix: &str, n: usize, size: usize, ttl: Option<u64>) {
    let limit = info_field(con, "maxmemory");
    for i in 0..n {
        let key = format!("{prefix}{i}");
        match ttl {
            Some(secs) => con.set_ex::<_, _, ()>(&key, "v".repeat(size), secs),
            None => con.set::<_, _, ()>(&key, "v".repeat(size)),
        }
        .unwrap();
        let used = data_bytes(con);
        assert!(
            used <= limit + (key.len() + size) as u64,
            "{used} bytes over a limit of {limit}"
        );
    }
}

fn cache_server(policy: &str, maxmemory: u64) -> (Server, redis::Connection) {
    let server = Server::start();
    let mut con = server.conn();
    config_set(&mut con, "maxmemory-policy", policy);
    config_set(&mut con, "maxmemory", &maxmemory.to_string());
    (server, con)
}

#[test]
fn allkeys_policies_keep_the_data_under_the_limit() {
    for policy in ["allkeys-random", "allkeys-lru", "allkeys-lfu"] {
        let (_server, mut con) = cache_server(policy, 20_000);
        fill(&mut con, "key:", 600, 100, None);
        let evicted = info_field(&mut con, "evicted_keys");
        let left = keys_of(&mut con).len() as u64;
        assert_eq!(left + evicted, 600, "{policy}");
        assert!(left > 100, "{policy}: {left} keys left");
    }
}

#[test]
fn volatile_policies_never_evict_keys_without_a_ttl() {
    for policy in [
        "volatile-random",
        "volatile-lru",
        "volatile-lfu",
        "volatile-ttl",
    ] {
        let (server, mut con) = cache_server(policy, 20_000);
        fill(&mut con, "keep:", 50, 100, None);
        fill(&mut con, "temp:", 400, 100, Some(1000));
        let keys = keys_of(&mut con);
        assert!(
            (0..50).all(|i| keys.contains(&format!("keep:{i}"))),
            "{policy}"
        );
        assert!(info_field(&mut con, "evicted_keys") > 0, "{policy}");
        // With no volatile key left to evict, commands that add data get -OOM.
        for key in keys.iter().filter(|k| k.starts_with("temp:")) {
            let _: () = redis::cmd("PERSIST").arg(key).query(&mut con).unwrap();
        }
        let mut raw = server.raw();
        // Under the limit or not before this write, over it after.
        raw.cmd(&["SET", "more", &"v".repeat(25_000)]);
        assert_eq!(
            raw.cmd(&["SET", "again", "x"]),
            Reply::error(OOM),
            "{policy}"
        );
    }
}

#[test]
fn volatile_ttl_evicts_the_keys_expiring_first() {
    let (_server, mut con) = cache_server("volatile-ttl", 20_000);
    // TTLs grow with the index: the first keys are the ones to go.
    for i in 0..400u64 {
        let _: () = con
            .set_ex(format!("t:{i}"), "v".repeat(100), 1000 + i * 10)
            .unwrap();
    }
    let keys = keys_of(&mut con);
    let early = (0..50).filter(|i| keys.contains(&format!("t:{i}"))).count();
    let late = (350..400)
        .filter(|i| keys.contains(&format!("t:{i}")))
        .count();
    assert!(early <= 5, "{early} of the 50 shortest TTLs survived");
    assert!(late >= 45, "only {late} of the 50 longest TTLs survived");
}

#[test]
fn allkeys_lru_keeps_recently_read_keys() {
    let (_server, mut con) = cache_server("allkeys-lru", 0);
    for i in 0..200 {
        let _: () = con.set(format!("old:{i}"), "v".repeat(100)).unwrap();
    }
    // Access times are milliseconds: let the reads come strictly later.
    std::thread::sleep(std::time::Duration::from_millis(20));
    for _ in 0..3 {
        for i in 0..20 {
            let _: String = con.get(format!("old:{i}")).unwrap();
        }
    }
    // 200 old keys and 150 new ones of about 106 bytes: over 100 of them must go.
    config_set(&mut con, "maxmemory", "25000");
    std::thread::sleep(std::time::Duration::from_millis(20));
    for i in 0..150 {
        let _: () = con.set(format!("new:{i}"), "v".repeat(100)).unwrap();
    }
    let keys = keys_of(&mut con);
    let hot = (0..20)
        .filter(|i| keys.contains(&format!("old:{i}")))
        .count();
    let cold = (20..200)
        .filter(|i| keys.contains(&format!("old:{i}")))
        .count();
    assert!(info_field(&mut con, "evicted_keys") >= 100);
    // Sampling is approximate: most hot keys stay, most cold ones go.
    assert!(hot >= 15, "only {hot} of 20 recently read keys survived");
    assert!(cold < 90, "{cold} of 180 idle keys survived");
}

#[test]
fn object_freq_counts_accesses_under_an_lfu_policy() {
    let server = Server::start();
    let mut con = server.conn();
    let mut raw = server.raw();
    let _: () = con.set("k", "v").unwrap();
    let reply = raw.cmd(&["OBJECT", "FREQ", "k"]);
    assert!(
        matches!(&reply, Reply::Error(e) if e.starts_with("ERR An LFU maxmemory policy is not selected")),
        "{reply:?}"
    );
    config_set(&mut con, "maxmemory-policy", "allkeys-lfu");
    let _: () = con.set("hot", "v").unwrap();
    let _: () = con.set("cold", "v").unwrap();
    assert_eq!(
        raw.cmd(&["OBJECT", "FREQ", "cold"]),
        Reply::Int(5),
        "LFU_INIT_VAL"
    );
    for _ in 0..2000 {
        let _: String = con.get("hot").unwrap();
    }
    let hot = raw.cmd(&["OBJECT", "FREQ", "hot"]).int();
    assert!(hot > 7, "freq {hot} after 2000 reads");
    assert_eq!(raw.cmd(&["OBJECT", "FREQ", "cold"]), Reply::Int(5));
    assert_eq!(raw.cmd(&["OBJECT", "FREQ", "nokey"]), Reply::NilBulk);
    let reply = raw.cmd(&["OBJECT", "IDLETIME", "hot"]);
    assert!(
        matches!(&reply, Reply::Error(e) if e.starts_with("ERR An LFU maxmemory policy is selected")),
        "{reply:?}"
    );
    // RESTORE ... FREQ sets the counter.
    let dump: Vec<u8> = redis::cmd("DUMP").arg("cold").query(&mut con).unwrap();
    let _: () = redis::cmd("RESTORE")
        .arg("restored")
        .arg(0)
        .arg(dump)
        .arg("FREQ")
        .arg(100)
        .query(&mut con)
        .unwrap();
    assert_eq!(raw.cmd(&["OBJECT", "FREQ", "restored"]), Reply::Int(100));
}

#[test]
fn evicted_keys_are_notified_and_invalidated() {
    let (server, mut con) = cache_server("allkeys-random", 5_000);
    config_set(&mut con, "notify-keyspace-events", "Ee");
    let mut sub = server.raw();
    sub.cmd(&["SUBSCRIBE", "__keyevent@0__:evicted"]);
    fill(&mut con, "key:", 40, 100, None);
    // A RESP3 client caching what it read hears of the keys evicted.
    let mut tracker = server.raw();
    tracker.cmd(&["HELLO", "3"]);
    assert_eq!(tracker.cmd(&["CLIENT", "TRACKING", "ON"]), Reply::ok());
    for i in 0..40 {
        tracker.cmd(&["GET", &format!("key:{i}")]);
    }
    fill(&mut con, "other:", 100, 100, None);
    let evicted = info_field(&mut con, "evicted_keys");
    assert!(evicted > 0);
    let mut names = HashSet::new();
    for _ in 0..evicted {
        let reply = sub.read_reply();
        let items = reply.items();
        assert_eq!(items[0].text(), "message", "{reply:?}");
        assert_eq!(items[1].text(), "__keyevent@0__:evicted");
        names.insert(items[2].text());
    }
    assert_eq!(names.len() as u64, evicted);
    let left = keys_of(&mut con);
    assert!(names.iter().all(|k| !left.contains(k)));
    let tracked_gone: HashSet<String> = (0..40)
        .map(|i| format!("key:{i}"))
        .filter(|k| !left.contains(k))
        .collect();
    assert!(
        !tracked_gone.is_empty(),
        "allkeys-random evicted none of 40 old keys"
    );
    let mut invalidated = HashSet::new();
    while invalidated.len() < tracked_gone.len() {
        let push = tracker.read_reply();
        assert!(matches!(push, Reply::Push(_)), "{push:?}");
        assert_eq!(push.items()[0].text(), "invalidate");
        for key in push.items()[1].items() {
            invalidated.insert(key.text());
        }
    }
    assert_eq!(invalidated, tracked_gone);
}

#[test]
fn several_writers_stay_under_the_limit() {
    let (server, mut con) = cache_server("allkeys-lru", 50_000);
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let client = server.client();
            std::thread::spawn(move || {
                let mut con = client.get_connection().unwrap();
                for i in 0..400 {
                    let _: () = con.set(format!("w{w}:{i}"), "x".repeat(150)).unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let used = data_bytes(&mut con);
    assert!(used <= 50_000 + 200, "{used}");
    assert!(info_field(&mut con, "evicted_keys") > 800);
    let _: () = con.set("after", "ok").unwrap();
}

#[test]
fn maxmemory_from_the_redis_table_of_the_config_file() {
    let server = Server::builder()
        .config(
            "[redis]\nmaxmemory = \"10kb\"\nmaxmemory-policy = \"allkeys-lru\"\nmaxmemory-samples = 10\n",
        )
        .start();
    let mut con = server.conn();
    assert_eq!(info_field(&mut con, "maxmemory"), 10 * 1024);
    fill(&mut con, "key:", 200, 100, None);
    assert!(info_field(&mut con, "evicted_keys") > 0);
    let mut raw: RawConn = server.raw();
    let policy = raw.cmd(&["CONFIG", "GET", "maxmemory-policy"]);
    assert_eq!(policy.items()[1].text(), "allkeys-lru");
}

#[test]
fn allkeys_lfu_keeps_frequently_read_keys() {
    let (_server, mut con) = cache_server("allkeys-lfu", 0);
    for i in 0..200 {
        let _: () = con.set(format!("old:{i}"), "v".repeat(100)).unwrap();
    }
    for _ in 0..50 {
        for i in 0..20 {
            let _: String = con.get(format!("old:{i}")).unwrap();
        }
    }
    config_set(&mut con, "maxmemory", "25000");
    for i in 0..150 {
        let _: () = con.set(format!("new:{i}"), "v".repeat(100)).unwrap();
    }
    let keys = keys_of(&mut con);
    let hot = (0..20)
        .filter(|i| keys.contains(&format!("old:{i}")))
        .count();
    assert!(info_field(&mut con, "evicted_keys") >= 100);
    assert!(hot >= 15, "only {hot} of 20 frequently read keys survived");
}

#[test]
fn client_pause_holds_eviction_back() {
    let server = Server::start();
    let mut con = server.conn();
    config_set(&mut con, "maxmemory-policy", "allkeys-random");
    for i in 0..50 {
        let _: () = con.set(format!("key:{i}"), "v".repeat(100)).unwrap();
    }
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(100_000)
        .arg("WRITE")
        .query(&mut con)
        .unwrap();
    config_set(&mut con, "maxmemory", "1000");
    let _: Option<String> = con.get("key:1").unwrap();
    assert_eq!(info_field(&mut con, "evicted_keys"), 0);
    assert_eq!(keys_of(&mut con).len(), 50);
    let _: () = redis::cmd("CLIENT").arg("UNPAUSE").query(&mut con).unwrap();
    // One command evicts for a bounded time; the server's cron finishes the job.
    let mut polls = 0;
    while data_bytes(&mut con) > 1000 {
        polls += 1;
        assert!(polls < 3000, "still over the limit");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(info_field(&mut con, "evicted_keys") >= 40);
}
