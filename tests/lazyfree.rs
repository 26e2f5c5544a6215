//! Lazy freeing: deleting, overwriting or flushing a large collection removes the key at once
//! and its element rows in the background (`lazyfree_pending_objects`, `lazyfreed_objects` in
//! INFO memory, as Redis reports them), also across a restart.

mod common;

use common::Server;

fn memory_field(con: &mut redis::Connection, name: &str) -> u64 {
    let info: redis::InfoDict = redis::cmd("INFO").arg("memory").query(con).unwrap();
    info.get(name)
        .unwrap_or_else(|| panic!("INFO memory has no {name}"))
}

fn fill_set(con: &mut redis::Connection, key: &str, members: usize) {
    for chunk in (0..members).collect::<Vec<_>>().chunks(10_000) {
        let mut c = redis::cmd("SADD");
        c.arg(key);
        for m in chunk {
            c.arg(m);
        }
        let _: u64 = c.query(con).unwrap();
    }
}

fn wait_reclaimed(con: &mut redis::Connection) {
    common::wait_until("lazy free to finish", common::IO_TIMEOUT, || {
        memory_field(con, "lazyfree_pending_objects") == 0
    });
}

#[test]
fn unlink_del_overwrite_and_flush_free_large_collections_in_the_background() {
    let server = Server::start();
    let mut con = server.conn();
    fill_set(&mut con, "big", 50_000);
    let n: u64 = redis::cmd("UNLINK").arg("big").query(&mut con).unwrap();
    assert_eq!(n, 1);
    // Gone at once for every reader, whatever the state of its rows.
    let n: u64 = redis::cmd("EXISTS").arg("big").query(&mut con).unwrap();
    assert_eq!(n, 0);
    let n: u64 = redis::cmd("SCARD").arg("big").query(&mut con).unwrap();
    assert_eq!(n, 0);
    // A new collection under the same name is its own.
    let _: u64 = redis::cmd("SADD")
        .arg("big")
        .arg("x")
        .query(&mut con)
        .unwrap();
    let members: Vec<String> = redis::cmd("SMEMBERS").arg("big").query(&mut con).unwrap();
    assert_eq!(members, vec!["x".to_string()]);
    wait_reclaimed(&mut con);
    assert_eq!(memory_field(&mut con, "lazyfreed_objects"), 1);

    // DEL, an overwrite with SET, and FLUSHDB ASYNC take the same path.
    for (i, how) in ["del", "set", "flushdb"].iter().enumerate() {
        let key = format!("big-{how}");
        fill_set(&mut con, &key, 3_000);
        let _: () = match *how {
            "del" => redis::cmd("DEL").arg(&key).query(&mut con).unwrap(),
            "set" => redis::cmd("SET")
                .arg(&key)
                .arg("s")
                .query(&mut con)
                .unwrap(),
            _ => redis::cmd("FLUSHDB").arg("ASYNC").query(&mut con).unwrap(),
        };
        wait_reclaimed(&mut con);
        assert_eq!(
            memory_field(&mut con, "lazyfreed_objects"),
            2 + i as u64,
            "{how}"
        );
    }
    // Small collections are freed as well but not counted, as in Redis.
    for i in 0..200 {
        let _: u64 = redis::cmd("HSET")
            .arg("small")
            .arg(format!("f{i}"))
            .arg("v")
            .query(&mut con)
            .unwrap();
    }
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query(&mut con)
        .unwrap();
    let _: u64 = redis::cmd("DEL").arg("small").query(&mut con).unwrap();
    wait_reclaimed(&mut con);
    assert_eq!(
        memory_field(&mut con, "lazyfreed_objects"),
        1,
        "200 fields > 64"
    );
}

#[test]
fn a_restart_finishes_what_lazy_free_left() {
    let mut server = Server::start();
    let mut con = server.conn();
    fill_set(&mut con, "a", 30_000);
    fill_set(&mut con, "b", 30_000);
    let _: u64 = redis::cmd("DEL").arg("a").arg("b").query(&mut con).unwrap();
    drop(con);
    server.crash_restart();
    let mut con = server.conn();
    let n: u64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(n, 0);
    wait_reclaimed(&mut con);
    // The file holds no rows of either set any more: a new set of the same name is empty.
    let n: u64 = redis::cmd("SCARD").arg("a").query(&mut con).unwrap();
    assert_eq!(n, 0);
}

/// Writes `n` string keys `k0..` into the connection's current database.
fn fill_keys(con: &mut redis::Connection, n: usize) {
    for chunk in (0..n).collect::<Vec<_>>().chunks(1_000) {
        let mut c = redis::cmd("MSET");
        for i in chunk {
            c.arg(format!("k{i}")).arg(format!("v{i}"));
        }
        let _: () = c.query(con).unwrap();
    }
}

fn select(con: &mut redis::Connection, db: u32) {
    let _: () = redis::cmd("SELECT").arg(db).query(con).unwrap();
}

fn dbsize(con: &mut redis::Connection, db: u32) -> u64 {
    select(con, db);
    redis::cmd("DBSIZE").query(con).unwrap()
}

/// Flushes db 0 while db 1 holds keys and writes `k1` again in the same transaction (so no
/// reclaim step can run in between); returns what the transaction saw.
fn flush_db0_and_write(con: &mut redis::Connection) -> (u64, u64) {
    select(con, 0);
    let (_, size, info, _): ((), u64, redis::InfoDict, ()) = redis::pipe()
        .atomic()
        .cmd("FLUSHDB")
        .cmd("DBSIZE")
        .cmd("INFO")
        .arg("memory")
        .cmd("SET")
        .arg("k1")
        .arg("new")
        .query(con)
        .unwrap();
    (size, info.get("lazyfree_pending_objects").unwrap())
}

/// db 0 holds only `k1 = new`, db 1 its 100 keys.
fn assert_db0_flushed_and_rewritten(con: &mut redis::Connection) {
    assert_eq!(dbsize(con, 0), 1);
    let values: Vec<Option<String>> = redis::cmd("MGET")
        .arg("k1")
        .arg("k2")
        .arg("big")
        .query(con)
        .unwrap();
    assert_eq!(values, vec![Some("new".to_string()), None, None]);
    assert_eq!(dbsize(con, 1), 100);
    let v: String = redis::cmd("GET").arg("k99").query(con).unwrap();
    assert_eq!(v, "v99");
    select(con, 0);
}

#[test]
fn flushdb_of_one_database_among_several_empties_it_at_once_and_frees_it_in_the_background() {
    let server = Server::start();
    let mut con = server.conn();
    select(&mut con, 1);
    fill_keys(&mut con, 100);
    select(&mut con, 0);
    fill_keys(&mut con, 20_000);
    fill_set(&mut con, "big", 3_000);

    let (size, pending) = flush_db0_and_write(&mut con);
    assert_eq!(size, 0, "empty for every reader at once");
    assert_eq!(
        pending, 20_001,
        "every key of the flushed database waits to be freed"
    );
    let info: redis::InfoDict = redis::cmd("INFO").arg("keyspace").query(&mut con).unwrap();
    assert_eq!(
        info.get::<String>("db1").as_deref(),
        Some("keys=100,expires=0,avg_ttl=0")
    );
    assert_db0_flushed_and_rewritten(&mut con);

    wait_reclaimed(&mut con);
    // The key written right after the flush survived the reclaim; the set's rows went too.
    assert_db0_flushed_and_rewritten(&mut con);
    let n: u64 = redis::cmd("SCARD").arg("big").query(&mut con).unwrap();
    assert_eq!(n, 0);
    // Its 20,001 keys, plus the set's members (more than 64 rows) as one more object.
    assert_eq!(memory_field(&mut con, "lazyfreed_objects"), 20_002);
    let info: redis::InfoDict = redis::cmd("INFO").arg("keyspace").query(&mut con).unwrap();
    assert_eq!(
        info.get::<String>("db0").as_deref(),
        Some("keys=1,expires=0,avg_ttl=0")
    );
}

#[test]
fn a_crash_while_a_flushed_database_is_freed_keeps_the_flush_and_the_writes_after_it() {
    let mut server = Server::start();
    let mut con = server.conn();
    select(&mut con, 1);
    fill_keys(&mut con, 100);
    select(&mut con, 0);
    fill_keys(&mut con, 50_000);
    let (size, _) = flush_db0_and_write(&mut con);
    assert_eq!(size, 0);
    drop(con);
    // Killed (SIGKILL) at once: most of the old rows are still there, some steps may be
    // journaled; the replay reproduces them.
    server.crash_restart();
    let mut con = server.conn();
    assert_db0_flushed_and_rewritten(&mut con);
    wait_reclaimed(&mut con);
    assert_db0_flushed_and_rewritten(&mut con);
    drop(con);
    server.restart();
    let mut con = server.conn();
    assert_db0_flushed_and_rewritten(&mut con);
    assert_eq!(memory_field(&mut con, "lazyfree_pending_objects"), 0);
}
