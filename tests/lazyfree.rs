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
