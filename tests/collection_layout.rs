//! `storage.collection_layout`, black box: under `"redis-7.0"` every list and every set that
//! is not an intset keeps its elements in rows (`quicklist`, `hashtable`, as Redis 7.0 names
//! them) whatever the listpack limits say, CONFIG SET of those limits included; intsets,
//! hashes and sorted sets keep their small forms; the data behaves and persists as under the
//! default layout; CONFIG GET reports the layout and CONFIG SET cannot change it.

mod common;

use common::{RawConn, Reply, Server};

fn encoding(conn: &mut RawConn, key: &str) -> Reply {
    conn.cmd(&["OBJECT", "ENCODING", key])
}

fn bulks(words: &[&str]) -> Reply {
    Reply::Array(words.iter().map(Reply::bulk).collect())
}

#[test]
fn redis_7_0_layout_keeps_every_list_and_string_set_in_rows() {
    let mut server = Server::builder()
        .config("[storage]\ncollection_layout = \"redis-7.0\"\n")
        .start();
    {
        let mut conn = server.raw();
        assert_eq!(
            conn.cmd(&["CONFIG", "GET", "collection-layout"]),
            bulks(&["collection-layout", "redis-7.0"])
        );
        // The suite of Redis 7.0 sets list-max-ziplist-size (7.0's quicklist node size):
        // under this layout it does not bring inline lists back.
        assert_eq!(
            conn.cmd(&["CONFIG", "SET", "list-max-ziplist-size", "32"]),
            Reply::ok()
        );
        assert_eq!(
            conn.cmd(&["CONFIG", "SET", "set-max-listpack-entries", "128"]),
            Reply::ok()
        );
        assert_eq!(conn.cmd(&["RPUSH", "list", "a", "b", "c"]), Reply::Int(3));
        assert_eq!(encoding(&mut conn, "list"), Reply::bulk("quicklist"));
        assert_eq!(conn.cmd(&["LPUSH", "one", "x"]), Reply::Int(1));
        assert_eq!(encoding(&mut conn, "one"), Reply::bulk("quicklist"));
        assert_eq!(conn.cmd(&["SADD", "strings", "a", "b"]), Reply::Int(2));
        assert_eq!(encoding(&mut conn, "strings"), Reply::bulk("hashtable"));
        assert_eq!(conn.cmd(&["SADD", "ints", "1", "2", "3"]), Reply::Int(3));
        assert_eq!(encoding(&mut conn, "ints"), Reply::bulk("intset"));
        // An intset that takes a string moves to rows, as in Redis 7.0.
        assert_eq!(conn.cmd(&["SADD", "mixed", "1", "2"]), Reply::Int(2));
        assert_eq!(conn.cmd(&["SADD", "mixed", "x"]), Reply::Int(1));
        assert_eq!(encoding(&mut conn, "mixed"), Reply::bulk("hashtable"));
        // Hashes and sorted sets are listpacks in Redis 7.0 too.
        assert_eq!(conn.cmd(&["HSET", "hash", "f", "v"]), Reply::Int(1));
        assert_eq!(encoding(&mut conn, "hash"), Reply::bulk("listpack"));
        assert_eq!(conn.cmd(&["ZADD", "zset", "1", "m"]), Reply::Int(1));
        assert_eq!(encoding(&mut conn, "zset"), Reply::bulk("listpack"));
        // Element rows behave as the inline forms do.
        assert_eq!(conn.cmd(&["LPOP", "list"]), Reply::bulk("a"));
        assert_eq!(
            conn.cmd(&["LINSERT", "list", "BEFORE", "c", "m"]),
            Reply::Int(3)
        );
        assert_eq!(conn.cmd(&["SMOVE", "mixed", "strings", "x"]), Reply::Int(1));
        // The setting is read-only at run time.
        let refused = conn.cmd(&["CONFIG", "SET", "collection-layout", "redis-7.2"]);
        assert!(
            matches!(&refused, Reply::Error(e) if e.contains("can't set immutable config")),
            "{refused:?}"
        );
    }
    server.restart();
    let mut conn = server.raw();
    assert_eq!(
        conn.cmd(&["LRANGE", "list", "0", "-1"]),
        bulks(&["b", "m", "c"])
    );
    assert_eq!(encoding(&mut conn, "list"), Reply::bulk("quicklist"));
    assert_eq!(
        conn.cmd(&["SORT", "strings", "ALPHA"]),
        bulks(&["a", "b", "x"])
    );
    assert_eq!(encoding(&mut conn, "strings"), Reply::bulk("hashtable"));
    assert_eq!(conn.cmd(&["SORT", "mixed"]), bulks(&["1", "2"]));
}

#[test]
fn default_layout_is_redis_7_2() {
    let server = Server::start();
    let mut conn = server.raw();
    assert_eq!(
        conn.cmd(&["CONFIG", "GET", "collection-layout"]),
        bulks(&["collection-layout", "redis-7.2"])
    );
    conn.cmd(&["RPUSH", "list", "a"]);
    assert_eq!(encoding(&mut conn, "list"), Reply::bulk("listpack"));
    conn.cmd(&["SADD", "set", "a"]);
    assert_eq!(encoding(&mut conn, "set"), Reply::bulk("listpack"));
}
