//! Set commands, black box: SADD and the reads, SPOP and SRANDMEMBER reply shapes and counts,
//! SMOVE, the algebra and its STORE forms, SINTERCARD, SSCAN visiting every member exactly
//! once, Redis 7's errors, WRONGTYPE, the intset/listpack/hashtable encodings, and
//! persistence across restarts.

mod common;

use std::collections::HashSet;

use common::{info_field, RawConn, Reply, Server};

fn err(text: &str) -> Reply {
    Reply::error(text)
}

/// The members of a reply, sorted (set replies have no order).
fn sorted(reply: &Reply) -> Vec<String> {
    let mut v: Vec<String> = reply.items().iter().map(|r| r.text()).collect();
    v.sort();
    v
}

fn words(w: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = w.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

fn sadd(conn: &mut RawConn, key: &str, members: impl IntoIterator<Item = String>) -> Reply {
    let mut args = vec!["SADD".to_string(), key.to_string()];
    args.extend(members);
    conn.cmd(&args)
}

#[test]
fn add_remove_and_the_reads() {
    let server = Server::start();
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["SADD", "s", "3", "1", "2", "1"]), Reply::Int(3));
    assert_eq!(conn.cmd(&["SADD", "s", "2", "4"]), Reply::Int(1));
    // An intset answers in numeric order, as Redis's does.
    assert_eq!(
        conn.cmd(&["SMEMBERS", "s"]),
        Reply::Array(["1", "2", "3", "4"].iter().map(Reply::bulk).collect())
    );
    assert_eq!(conn.cmd(&["SCARD", "s"]), Reply::Int(4));
    assert_eq!(conn.cmd(&["SCARD", "nokey"]), Reply::Int(0));
    assert_eq!(conn.cmd(&["SISMEMBER", "s", "1"]), Reply::Int(1));
    assert_eq!(conn.cmd(&["SISMEMBER", "s", "9"]), Reply::Int(0));
    assert_eq!(conn.cmd(&["SISMEMBER", "nokey", "1"]), Reply::Int(0));
    assert_eq!(
        conn.cmd(&["SMISMEMBER", "s", "1", "9", "2"]),
        Reply::Array(vec![Reply::Int(1), Reply::Int(0), Reply::Int(1)])
    );
    assert_eq!(
        conn.cmd(&["SMISMEMBER", "nokey", "1", "2"]),
        Reply::Array(vec![Reply::Int(0), Reply::Int(0)])
    );
    assert_eq!(conn.cmd(&["SMEMBERS", "nokey"]), Reply::Array(vec![]));
    assert_eq!(conn.cmd(&["SREM", "s", "1", "9"]), Reply::Int(1));
    assert_eq!(conn.cmd(&["SREM", "nokey", "1"]), Reply::Int(0));
    assert_eq!(conn.cmd(&["SREM", "s", "2", "3", "4"]), Reply::Int(3));
    assert_eq!(
        conn.cmd(&["EXISTS", "s"]),
        Reply::Int(0),
        "an emptied set is gone"
    );
    // Binary and empty members.
    assert_eq!(
        conn.cmd(&["SADD", "b", "", "\x00\x7f", "a b"]),
        Reply::Int(3)
    );
    assert_eq!(
        sorted(&conn.cmd(&["SMEMBERS", "b"])),
        words(&["", "\x00\x7f", "a b"])
    );
    assert_eq!(conn.cmd(&["SISMEMBER", "b", ""]), Reply::Int(1));
    assert_eq!(conn.cmd(&["TYPE", "b"]), Reply::simple("set"));
    let reply = conn.cmd(&["SCAN", "0", "TYPE", "set"]);
    assert_eq!(reply.items()[1].items(), &[Reply::bulk("b")]);
}

#[test]
fn errors_and_wrongtype() {
    let server = Server::start();
    let mut conn = server.raw();
    conn.cmd(&["SET", "str", "x"]);
    conn.cmd(&["SADD", "a", "1", "2"]);
    let wrongtype = err("WRONGTYPE Operation against a key holding the wrong kind of value");
    for args in [
        &["SADD", "str", "a"][..],
        &["SREM", "str", "a"],
        &["SMEMBERS", "str"],
        &["SISMEMBER", "str", "a"],
        &["SMISMEMBER", "str", "a"],
        &["SCARD", "str"],
        &["SPOP", "str"],
        &["SRANDMEMBER", "str", "2"],
        &["SMOVE", "str", "a", "1"],
        &["SMOVE", "a", "str", "1"],
        &["SINTER", "a", "str"],
        &["SINTER", "nokey", "str"],
        &["SUNION", "a", "str"],
        &["SDIFF", "nokey", "str"],
        &["SINTERSTORE", "d", "str"],
        &["SINTERCARD", "2", "nokey", "str"],
        &["SSCAN", "str", "0"],
    ] {
        assert_eq!(conn.cmd(args), wrongtype, "{args:?}");
    }
    assert_eq!(
        conn.cmd(&["SCARD", "a"]),
        Reply::Int(2),
        "SMOVE moved nothing"
    );
    let positive = err("ERR value is out of range, must be positive");
    assert_eq!(conn.cmd(&["SPOP", "a", "-1"]), positive);
    assert_eq!(conn.cmd(&["SPOP", "a", "x"]), positive);
    assert_eq!(conn.cmd(&["SPOP", "a", "1", "2"]), err("ERR syntax error"));
    assert_eq!(
        conn.cmd(&["SRANDMEMBER", "a", "1", "2"]),
        err("ERR syntax error")
    );
    assert_eq!(
        conn.cmd(&["SRANDMEMBER", "a", "x"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        conn.cmd(&["SRANDMEMBER", "nokey", "-9223372036854775808"]),
        err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
    );
    let numkeys = err("ERR numkeys should be greater than 0");
    assert_eq!(conn.cmd(&["SINTERCARD", "0", "a"]), numkeys);
    assert_eq!(conn.cmd(&["SINTERCARD", "-1", "a"]), numkeys);
    assert_eq!(
        conn.cmd(&["SINTERCARD", "3", "a", "b"]),
        err("ERR Number of keys can't be greater than number of args")
    );
    let limit = err("ERR LIMIT can't be negative");
    assert_eq!(conn.cmd(&["SINTERCARD", "1", "a", "LIMIT", "-1"]), limit);
    assert_eq!(conn.cmd(&["SINTERCARD", "1", "a", "LIMIT", "x"]), limit);
    assert_eq!(
        conn.cmd(&["SINTERCARD", "1", "a", "LIMIT"]),
        err("ERR syntax error")
    );
    assert_eq!(
        conn.cmd(&["SINTERCARD", "1", "a", "FOO"]),
        err("ERR syntax error")
    );
    assert_eq!(
        conn.cmd(&["SSCAN", "a", "0", "NOVALUES"]),
        err("ERR syntax error")
    );
    assert_eq!(conn.cmd(&["SSCAN", "a", "x"]), err("ERR invalid cursor"));
}

#[test]
fn random_members() {
    let server = Server::start();
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["SPOP", "nokey"]), Reply::NilBulk);
    assert_eq!(conn.cmd(&["SPOP", "nokey", "0"]), Reply::Array(vec![]));
    assert_eq!(conn.cmd(&["SPOP", "nokey", "3"]), Reply::Array(vec![]));
    assert_eq!(conn.cmd(&["SRANDMEMBER", "nokey"]), Reply::NilBulk);
    assert_eq!(
        conn.cmd(&["SRANDMEMBER", "nokey", "3"]),
        Reply::Array(vec![])
    );
    sadd(&mut conn, "s", ["a", "b", "c", "d", "e"].map(String::from));
    assert_eq!(conn.cmd(&["SPOP", "s", "0"]), Reply::Array(vec![]));
    assert_eq!(conn.cmd(&["SRANDMEMBER", "s", "0"]), Reply::Array(vec![]));
    let all = words(&["a", "b", "c", "d", "e"]);
    // Positive counts: distinct members, at most all of them.
    let three = sorted(&conn.cmd(&["SRANDMEMBER", "s", "3"]));
    assert_eq!(three.len(), 3);
    assert_eq!(three.iter().collect::<HashSet<_>>().len(), 3);
    assert_eq!(sorted(&conn.cmd(&["SRANDMEMBER", "s", "100"])), all);
    // Negative counts: exactly |count| picks, repeats allowed.
    let many = conn.cmd(&["SRANDMEMBER", "s", "-50"]);
    assert_eq!(many.items().len(), 50);
    assert!(many.items().iter().all(|m| all.contains(&m.text())));
    let one = conn.cmd(&["SRANDMEMBER", "s"]).text();
    assert!(all.contains(&one));
    let popped = conn.cmd(&["SPOP", "s"]).text();
    assert_eq!(conn.cmd(&["SISMEMBER", "s", &popped]), Reply::Int(0));
    let two = sorted(&conn.cmd(&["SPOP", "s", "2"]));
    assert_eq!(two.len(), 2);
    assert_eq!(conn.cmd(&["SCARD", "s"]), Reply::Int(2));
    assert_eq!(conn.cmd(&["SPOP", "s", "10"]).items().len(), 2);
    assert_eq!(conn.cmd(&["EXISTS", "s"]), Reply::Int(0));

    // A large set: picks are members, pops remove them.
    sadd(&mut conn, "big", (0..1000).map(|i| format!("m{i}")));
    let picked = conn.cmd(&["SRANDMEMBER", "big", "10"]);
    let distinct: HashSet<String> = picked.items().iter().map(|r| r.text()).collect();
    assert_eq!(distinct.len(), 10);
    assert_eq!(
        conn.cmd(&["SRANDMEMBER", "big", "-2000"]).items().len(),
        2000
    );
    let popped = conn.cmd(&["SPOP", "big", "300"]);
    let popped: HashSet<String> = popped.items().iter().map(|r| r.text()).collect();
    assert_eq!(popped.len(), 300);
    assert_eq!(conn.cmd(&["SCARD", "big"]), Reply::Int(700));
    for m in popped.iter().take(20) {
        assert_eq!(conn.cmd(&["SISMEMBER", "big", m]), Reply::Int(0));
    }
    assert_eq!(conn.cmd(&["SPOP", "big", "700"]).items().len(), 700);
    assert_eq!(conn.cmd(&["EXISTS", "big"]), Reply::Int(0));
}

#[test]
fn smove_and_the_algebra() {
    let server = Server::start();
    let mut conn = server.raw();
    conn.cmd(&["SADD", "a", "1", "2", "3", "4"]);
    conn.cmd(&["SADD", "b", "3", "4", "5"]);
    conn.cmd(&["SADD", "c", "4", "5", "6"]);
    assert_eq!(sorted(&conn.cmd(&["SINTER", "a", "b"])), words(&["3", "4"]));
    assert_eq!(sorted(&conn.cmd(&["SINTER", "a", "b", "c"])), words(&["4"]));
    assert_eq!(sorted(&conn.cmd(&["SINTER", "a", "nokey"])), words(&[]));
    assert_eq!(
        sorted(&conn.cmd(&["SUNION", "a", "b", "c", "nokey"])),
        words(&["1", "2", "3", "4", "5", "6"])
    );
    assert_eq!(
        sorted(&conn.cmd(&["SDIFF", "a", "b", "c"])),
        words(&["1", "2"])
    );
    assert_eq!(sorted(&conn.cmd(&["SDIFF", "nokey", "a"])), words(&[]));
    assert_eq!(
        sorted(&conn.cmd(&["SDIFF", "a", "nokey"])),
        words(&["1", "2", "3", "4"])
    );
    assert_eq!(conn.cmd(&["SINTERSTORE", "d", "a", "b"]), Reply::Int(2));
    assert_eq!(sorted(&conn.cmd(&["SMEMBERS", "d"])), words(&["3", "4"]));
    assert_eq!(conn.cmd(&["SUNIONSTORE", "d", "a", "c"]), Reply::Int(6));
    assert_eq!(conn.cmd(&["SDIFFSTORE", "d", "a", "b", "c"]), Reply::Int(2));
    assert_eq!(sorted(&conn.cmd(&["SMEMBERS", "d"])), words(&["1", "2"]));
    // A destination that is also a source; an empty result deletes the destination.
    assert_eq!(conn.cmd(&["SUNIONSTORE", "d", "d", "c"]), Reply::Int(5));
    conn.cmd(&["SET", "str", "x"]);
    assert_eq!(
        conn.cmd(&["SINTERSTORE", "str", "a", "nokey"]),
        Reply::Int(0)
    );
    assert_eq!(conn.cmd(&["EXISTS", "str"]), Reply::Int(0));
    conn.cmd(&["SET", "str", "x"]);
    assert_eq!(conn.cmd(&["SUNIONSTORE", "str", "c"]), Reply::Int(3));
    assert_eq!(conn.cmd(&["TYPE", "str"]), Reply::simple("set"));
    assert_eq!(conn.cmd(&["SINTERCARD", "2", "a", "b"]), Reply::Int(2));
    assert_eq!(
        conn.cmd(&["SINTERCARD", "2", "a", "b", "LIMIT", "1"]),
        Reply::Int(1)
    );
    assert_eq!(
        conn.cmd(&["SINTERCARD", "2", "a", "b", "LIMIT", "0"]),
        Reply::Int(2)
    );
    assert_eq!(conn.cmd(&["SINTERCARD", "1", "nokey"]), Reply::Int(0));

    assert_eq!(conn.cmd(&["SMOVE", "a", "b", "1"]), Reply::Int(1));
    assert_eq!(conn.cmd(&["SMOVE", "a", "b", "9"]), Reply::Int(0));
    assert_eq!(conn.cmd(&["SMOVE", "nokey", "b", "1"]), Reply::Int(0));
    assert_eq!(conn.cmd(&["SMOVE", "a", "a", "2"]), Reply::Int(1));
    assert_eq!(conn.cmd(&["SMOVE", "a", "a", "9"]), Reply::Int(0));
    assert_eq!(conn.cmd(&["SMOVE", "a", "new", "2"]), Reply::Int(1));
    assert_eq!(sorted(&conn.cmd(&["SMEMBERS", "a"])), words(&["3", "4"]));
    assert_eq!(
        sorted(&conn.cmd(&["SMEMBERS", "b"])),
        words(&["1", "3", "4", "5"])
    );
    assert_eq!(sorted(&conn.cmd(&["SMEMBERS", "new"])), words(&["2"]));
    conn.cmd(&["SADD", "one", "x"]);
    assert_eq!(conn.cmd(&["SMOVE", "one", "new", "x"]), Reply::Int(1));
    assert_eq!(conn.cmd(&["EXISTS", "one"]), Reply::Int(0));

    // Large operands take the same paths through member rows.
    sadd(&mut conn, "big1", (0..3000).map(|i| i.to_string()));
    sadd(&mut conn, "big2", (0..3000).map(|i| (i * 2).to_string()));
    assert_eq!(
        conn.cmd(&["SINTERCARD", "2", "big1", "big2"]),
        Reply::Int(1500)
    );
    assert_eq!(
        conn.cmd(&["SDIFFSTORE", "odd", "big1", "big2"]),
        Reply::Int(1500)
    );
    assert_eq!(conn.cmd(&["SISMEMBER", "odd", "2999"]), Reply::Int(1));
    assert_eq!(
        conn.cmd(&["SUNIONSTORE", "u", "big1", "big2"]),
        Reply::Int(4500)
    );
}

/// Runs a whole SSCAN and returns every member it produced.
fn scan_all(conn: &mut RawConn, key: &str, extra: &[&str]) -> Vec<String> {
    let mut cursor = "0".to_string();
    let mut out = Vec::new();
    for _ in 0..10_000 {
        let mut args = vec!["SSCAN", key, &cursor];
        args.extend_from_slice(extra);
        let reply = conn.cmd(&args);
        out.extend(reply.items()[1].items().iter().map(|r| r.text()));
        cursor = reply.items()[0].text();
        if cursor == "0" {
            return out;
        }
    }
    panic!("SSCAN does not end");
}

#[test]
fn sscan_visits_every_member_once() {
    let server = Server::start();
    let mut conn = server.raw();
    sadd(&mut conn, "big", (0..1000).map(|i| format!("m{i}")));
    let all = scan_all(&mut conn, "big", &["COUNT", "7"]);
    assert_eq!(all.len(), 1000, "a member came twice or was missed");
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), 1000);
    let matched = scan_all(&mut conn, "big", &["MATCH", "m1*", "COUNT", "50"]);
    assert_eq!(matched.len(), 111);
    conn.cmd(&["SADD", "small", "a", "b"]);
    let reply = conn.cmd(&["SSCAN", "small", "0"]);
    assert_eq!(reply.items()[0].text(), "0");
    assert_eq!(sorted(&reply.items()[1]), words(&["a", "b"]));
    let empty = Reply::Array(vec![Reply::bulk("0"), Reply::Array(vec![])]);
    assert_eq!(conn.cmd(&["SSCAN", "nokey", "0"]), empty);
    assert_eq!(conn.cmd(&["SSCAN", "nokey", "0", "BAD"]), empty);
}

#[test]
fn encodings_and_persistence() {
    let mut server = Server::start();
    {
        let mut conn = server.raw();
        sadd(&mut conn, "ints", (0..512).map(|i| i.to_string()));
        assert_eq!(
            conn.cmd(&["OBJECT", "ENCODING", "ints"]),
            Reply::bulk("intset")
        );
        sadd(&mut conn, "ints2", (0..513).map(|i| i.to_string()));
        assert_eq!(
            conn.cmd(&["OBJECT", "ENCODING", "ints2"]),
            Reply::bulk("hashtable")
        );
        conn.cmd(&["SADD", "small", "1", "2"]);
        conn.cmd(&["SADD", "small", "a"]);
        assert_eq!(
            conn.cmd(&["OBJECT", "ENCODING", "small"]),
            Reply::bulk("listpack")
        );
        sadd(&mut conn, "lp", (0..128).map(|i| format!("m{i}")));
        assert_eq!(
            conn.cmd(&["OBJECT", "ENCODING", "lp"]),
            Reply::bulk("listpack")
        );
        conn.cmd(&["SADD", "lp", "one-more"]);
        assert_eq!(
            conn.cmd(&["OBJECT", "ENCODING", "lp"]),
            Reply::bulk("hashtable")
        );
        conn.cmd(&["SADD", "long", "x"]);
        conn.cmd(&["SADD", "long", &"y".repeat(65)]);
        assert_eq!(
            conn.cmd(&["OBJECT", "ENCODING", "long"]),
            Reply::bulk("hashtable")
        );
        conn.cmd(&["SREM", "lp", "m0"]);
        assert_eq!(conn.cmd(&["COPY", "lp", "lp2"]), Reply::Int(1));
        conn.cmd(&["SREM", "lp2", "m1"]);
    }
    server.restart();
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["SCARD", "ints"]), Reply::Int(512));
    assert_eq!(
        conn.cmd(&["OBJECT", "ENCODING", "ints"]),
        Reply::bulk("intset")
    );
    assert_eq!(
        sorted(&conn.cmd(&["SMEMBERS", "small"])),
        words(&["1", "2", "a"])
    );
    assert_eq!(conn.cmd(&["SCARD", "lp"]), Reply::Int(128));
    assert_eq!(conn.cmd(&["SISMEMBER", "lp", "m0"]), Reply::Int(0));
    assert_eq!(conn.cmd(&["SISMEMBER", "lp", "m1"]), Reply::Int(1));
    assert_eq!(conn.cmd(&["SCARD", "lp2"]), Reply::Int(127));
    assert_eq!(
        conn.cmd(&["SISMEMBER", "long", &"y".repeat(65)]),
        Reply::Int(1)
    );
    conn.cmd(&["SADD", "lp", "after"]);
    drop(conn);
    server.crash_restart();
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["SCARD", "lp"]), Reply::Int(129));
    assert_eq!(
        conn.cmd(&["OBJECT", "ENCODING", "lp"]),
        Reply::bulk("hashtable")
    );
}

/// An SADD or SMOVE that adds nothing leaves the destination untouched, so a WATCH on it
/// holds, in the inline forms and in rows alike, as in Redis.
#[test]
fn adding_a_present_member_does_not_touch_the_set() {
    let server = Server::start();
    let mut conn = server.raw();
    let mut other = server.raw();
    // 200 strings: past the listpack limit, so the members are rows.
    for (key, n) in [("small", 3), ("large", 200)] {
        assert_eq!(
            sadd(&mut conn, key, (0..n).map(|i| format!("m{i}"))),
            Reply::Int(n)
        );
        assert_eq!(sadd(&mut conn, "src", ["m1".to_string()]), Reply::Int(1));
        assert_eq!(conn.cmd(&["WATCH", key]), Reply::ok());
        assert_eq!(conn.cmd(&["MULTI"]), Reply::ok());
        assert_eq!(conn.cmd(&["SCARD", key]), Reply::Simple("QUEUED".into()));
        assert_eq!(other.cmd(&["SADD", key, "m0"]), Reply::Int(0));
        assert_eq!(other.cmd(&["SMOVE", "src", key, "m1"]), Reply::Int(1));
        assert_eq!(
            conn.cmd(&["EXEC"]),
            Reply::Array(vec![Reply::Int(n)]),
            "{key}: EXEC ran"
        );
        assert_eq!(other.cmd(&["EXISTS", "src"]), Reply::Int(0));
    }
}

/// What one client of [`pops_and_picks_from_many_clients`] did and was told.
#[derive(Default)]
struct Seen {
    added: Vec<String>,
    removed: Vec<String>,
    popped: Vec<String>,
    picked: Vec<String>,
}

/// Clients adding, removing, popping and picking members of one large set at once, while
/// SPOP and SRANDMEMBER build the set's member index and then pick from it: every pop and pick
/// is a member, none is popped twice, and the set ends (and reopens after a kill -9) as the
/// acknowledged writes leave it.
fn pops_and_picks_from_many_clients(mut server: Server, indexed: bool) {
    let seeds: Vec<String> = (0..3000).map(|i| format!("seed:{i}")).collect();
    {
        let mut conn = server.raw();
        for chunk in seeds.chunks(500) {
            sadd(&mut conn, "big", chunk.iter().cloned());
        }
    }
    let clients: Vec<_> = (0..8)
        .map(|t| {
            let mut conn = server.raw();
            std::thread::spawn(move || {
                let mut seen = Seen::default();
                let mut state = 0x9e37_79b9_u64 + t;
                let mut next = move || {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state
                };
                for j in 0..400 {
                    match next() % 6 {
                        0 | 1 => {
                            let m = format!("c{t}:{j}");
                            assert_eq!(conn.cmd(&["SADD", "big", &m]), Reply::Int(1));
                            seen.added.push(m);
                        }
                        2 => {
                            let m = format!("seed:{}", next() % 3000);
                            if conn.cmd(&["SREM", "big", &m]) == Reply::Int(1) {
                                seen.removed.push(m);
                            }
                        }
                        3 => seen.popped.push(conn.cmd(&["SPOP", "big"]).text()),
                        4 => {
                            let r = conn.cmd(&["SPOP", "big", "3"]);
                            seen.popped.extend(r.items().iter().map(|m| m.text()));
                        }
                        _ => {
                            seen.picked.push(conn.cmd(&["SRANDMEMBER", "big"]).text());
                            let r = conn.cmd(&["SRANDMEMBER", "big", "-4"]);
                            seen.picked.extend(r.items().iter().map(|m| m.text()));
                        }
                    }
                }
                seen
            })
        })
        .collect();
    let seen: Vec<Seen> = clients
        .into_iter()
        .map(|c| c.join().expect("client"))
        .collect();
    let mut model: HashSet<String> = seeds.iter().cloned().collect();
    let mut ever = model.clone();
    for s in &seen {
        model.extend(s.added.iter().cloned());
        ever.extend(s.added.iter().cloned());
    }
    let mut gone = HashSet::new();
    for s in &seen {
        for m in s.removed.iter().chain(&s.popped) {
            assert!(gone.insert(m.clone()), "{m} removed or popped twice");
            assert!(model.remove(m), "{m} was never in the set");
        }
        for m in &s.picked {
            assert!(ever.contains(m), "picked {m}, never added");
        }
    }
    let popped: usize = seen.iter().map(|s| s.popped.len()).sum();
    assert!(popped > 500, "{popped} pops");
    let mut want: Vec<String> = model.into_iter().collect();
    want.sort();
    let mut conn = server.raw();
    assert_eq!(sorted(&conn.cmd(&["SMEMBERS", "big"])), want);
    assert_eq!(conn.cmd(&["SCARD", "big"]), Reply::Int(want.len() as i64));
    let info = conn.cmd(&["INFO", "memory"]).text();
    let indexes = info_field(&info, "respite_set_indexes").expect("respite_set_indexes");
    let bytes: u64 = info_field(&info, "respite_set_index_bytes")
        .expect("respite_set_index_bytes")
        .parse()
        .expect("a number");
    if indexed {
        assert_eq!(indexes, "1");
        // At least the members' bytes (the seeds' and the clients' are 6 to 10 bytes).
        assert!(bytes >= want.len() as u64 * 6, "{bytes} bytes");
    } else {
        assert_eq!((indexes.as_str(), bytes), ("0", 0));
    }
    drop(conn);
    server.crash_restart();
    let mut conn = server.raw();
    assert_eq!(sorted(&conn.cmd(&["SMEMBERS", "big"])), want);
    // Popping everything after the restart gives back exactly what is left.
    let mut all = Vec::new();
    loop {
        let r = conn.cmd(&["SPOP", "big"]);
        if r == Reply::NilBulk {
            break;
        }
        all.push(r.text());
    }
    all.sort();
    assert_eq!(all, want);
}

#[test]
fn pops_and_picks_from_many_clients_with_the_member_index() {
    pops_and_picks_from_many_clients(Server::start(), true);
}

/// With a 1 MB cache the index may take 64 KB, less than 3,000 members need: the picks come
/// from the rows.
#[test]
fn pops_and_picks_from_many_clients_past_the_member_index_cap() {
    let server = Server::builder()
        .config("[storage]\ncache_max_bytes = \"1mb\"\n")
        .start();
    pops_and_picks_from_many_clients(server, false);
}

/// `n` members named `tag0`, `tag1`...
fn members(n: usize, tag: &'static str) -> impl Iterator<Item = String> {
    (0..n).map(move |i| format!("{tag}{i}"))
}

/// A set with a member index keeps picking exactly its members through SMOVE (both ways),
/// RENAME, COPY, a transaction, an overwrite by SUNIONSTORE and a restart.
#[test]
fn an_indexed_set_picks_its_members_through_moves_copies_and_overwrites() {
    let mut server = Server::start();
    let mut conn = server.raw();
    sadd(&mut conn, "a", members(600, "a"));
    sadd(&mut conn, "b", members(600, "b"));
    // Pops build both sets' indexes (they hold fewer than a chunk).
    let mut gone_a = vec![conn.cmd(&["SPOP", "a"]).text()];
    let mut gone_b = vec![conn.cmd(&["SPOP", "b"]).text()];
    let info = conn.cmd(&["INFO", "memory"]).text();
    assert_eq!(
        info_field(&info, "respite_set_indexes").as_deref(),
        Some("2")
    );
    // SMOVE takes from one index and gives to the other.
    let moved = (0..600)
        .map(|i| format!("a{i}"))
        .find(|m| !gone_a.contains(m))
        .unwrap();
    assert_eq!(conn.cmd(&["SMOVE", "a", "b", &moved]), Reply::Int(1));
    gone_a.push(moved.clone());
    assert_eq!(conn.cmd(&["SISMEMBER", "b", &moved]), Reply::Int(1));
    // In a transaction, then after a RENAME.
    assert_eq!(conn.cmd(&["MULTI"]), Reply::ok());
    conn.cmd(&["SPOP", "a"]);
    conn.cmd(&["SPOP", "b", "2"]);
    let exec = conn.cmd(&["EXEC"]);
    gone_a.push(exec.items()[0].text());
    gone_b.extend(exec.items()[1].items().iter().map(|m| m.text()));
    assert_eq!(conn.cmd(&["RENAME", "a", "a2"]), Reply::ok());
    assert_eq!(conn.cmd(&["COPY", "b", "b2"]), Reply::Int(1));
    let mut left_a: HashSet<String> = members(600, "a").collect();
    for m in &gone_a {
        assert!(left_a.remove(m), "{m} popped twice from a");
    }
    let mut left_b: HashSet<String> = members(600, "b").chain([moved]).collect();
    for m in &gone_b {
        assert!(left_b.remove(m), "{m} popped twice from b");
    }
    let drain = |conn: &mut RawConn, key: &str| -> HashSet<String> {
        let mut out = HashSet::new();
        loop {
            let r = conn.cmd(&["SPOP", key]);
            if r == Reply::NilBulk {
                return out;
            }
            assert!(out.insert(r.text()), "popped twice from {key}");
        }
    };
    assert_eq!(drain(&mut conn, "b2"), left_b);
    // SUNIONSTORE replaces a2 with a new set: its picks are the new members only.
    sadd(&mut conn, "c", members(300, "c"));
    conn.cmd(&["SRANDMEMBER", "a2"]);
    assert_eq!(conn.cmd(&["SUNIONSTORE", "a2", "c"]), Reply::Int(300));
    assert_eq!(drain(&mut conn, "a2"), members(300, "c").collect());
    drop(conn);
    server.crash_restart();
    let mut conn = server.raw();
    assert_eq!(drain(&mut conn, "b"), left_b);
}
