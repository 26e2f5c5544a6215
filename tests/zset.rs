//! Sorted-set commands, black box: transcripts recorded from Redis 7.0.15 replayed on small
//! (listpack) and large (row-per-member) sorted sets, errors, RESP3 shapes, binary members,
//! encodings, persistence across restarts, ZSCAN, and a 20k-member set checked against a
//! model.

mod common;

#[path = "fixtures/zset_transcripts.rs"]
mod transcripts;

use std::collections::{BTreeMap, HashSet};

use common::rng::Rng;
use common::{RawConn, Reply, Server};

/// Replays a recorded transcript, comparing each reply in the harness's debug notation.
fn replay(conn: &mut RawConn, transcript: &[(&str, &str)]) {
    for (line, want) in transcript {
        let args: Vec<&str> = line.split(' ').collect();
        let got = conn.cmd(&args);
        if *want != "*" {
            assert_eq!(format!("{got:?}"), *want, "{line}");
        }
    }
}

fn bulks(words: &[&str]) -> Reply {
    Reply::Array(words.iter().map(Reply::bulk).collect())
}

#[test]
fn errors_and_reply_shapes_match_redis() {
    let server = Server::start();
    replay(&mut server.raw(), transcripts::ERRORS);
}

#[test]
fn small_sorted_sets_match_redis() {
    let server = Server::start();
    replay(&mut server.raw(), transcripts::SMALL);
}

#[test]
fn large_sorted_sets_match_redis() {
    let server = Server::start();
    let mut conn = server.raw();
    replay(&mut conn, transcripts::LARGE);
    conn.cmd(&["ZADD", "check", "1", "a"]);
    assert_eq!(
        conn.cmd(&["OBJECT", "ENCODING", "check"]),
        Reply::bulk("skiplist")
    );
}

#[test]
fn zrank_withscore_as_redis_7_2() {
    let server = Server::start();
    let mut conn = server.raw();
    conn.cmd(&["ZADD", "z", "1.5", "a", "2", "b"]);
    assert_eq!(
        conn.cmd(&["ZRANK", "z", "b", "WITHSCORE"]),
        Reply::Array(vec![Reply::Int(1), Reply::bulk("2")])
    );
    assert_eq!(
        conn.cmd(&["ZREVRANK", "z", "b", "withscore"]),
        Reply::Array(vec![Reply::Int(0), Reply::bulk("2")])
    );
    assert_eq!(conn.cmd(&["ZRANK", "z", "x", "WITHSCORE"]), Reply::NilArray);
    assert_eq!(
        conn.cmd(&["ZRANK", "no", "x", "WITHSCORE"]),
        Reply::NilArray
    );
    assert_eq!(conn.cmd(&["ZRANK", "z", "x"]), Reply::NilBulk);
    assert_eq!(
        conn.cmd(&["ZRANK", "z", "a", "WITHSCORES"]),
        Reply::error("ERR syntax error")
    );
    assert_eq!(
        conn.cmd(&["ZRANK", "z", "a", "WITHSCORE", "x"]),
        Reply::error("ERR wrong number of arguments for 'zrank' command")
    );
    assert!(!conn.cmd(&["HELLO", "3"]).is_error());
    assert_eq!(
        conn.cmd(&["ZRANK", "z", "a", "WITHSCORE"]),
        Reply::Array(vec![Reply::Int(0), Reply::Double("1.5".into())])
    );
    assert_eq!(conn.cmd(&["ZRANK", "z", "x", "WITHSCORE"]), Reply::Null);
}

#[test]
fn wrongtype_everywhere() {
    let server = Server::start();
    let mut conn = server.raw();
    conn.cmd(&["SET", "s", "x"]);
    conn.cmd(&["ZADD", "z", "1", "a"]);
    let wrongtype =
        Reply::error("WRONGTYPE Operation against a key holding the wrong kind of value");
    let cases: &[&[&str]] = &[
        &["ZADD", "s", "1", "a"],
        &["ZINCRBY", "s", "1", "a"],
        &["ZREM", "s", "a"],
        &["ZCARD", "s"],
        &["ZSCORE", "s", "a"],
        &["ZMSCORE", "s", "a"],
        &["ZRANK", "s", "a"],
        &["ZREVRANK", "s", "a"],
        &["ZRANGE", "s", "0", "-1"],
        &["ZRANGEBYSCORE", "s", "0", "1"],
        &["ZRANGEBYLEX", "s", "-", "+"],
        &["ZRANGESTORE", "d", "s", "0", "-1"],
        &["ZCOUNT", "s", "0", "1"],
        &["ZLEXCOUNT", "s", "-", "+"],
        &["ZPOPMIN", "s"],
        &["ZPOPMAX", "s", "2"],
        &["ZMPOP", "2", "nokey", "s", "MIN"],
        &["ZREMRANGEBYRANK", "s", "0", "1"],
        &["ZREMRANGEBYSCORE", "s", "0", "1"],
        &["ZREMRANGEBYLEX", "s", "-", "+"],
        &["ZUNION", "2", "z", "s"],
        &["ZINTER", "2", "z", "s"],
        &["ZDIFF", "2", "z", "s"],
        &["ZUNIONSTORE", "d", "2", "z", "s"],
        &["ZINTERCARD", "2", "z", "s"],
        &["ZRANDMEMBER", "s"],
        &["ZSCAN", "s", "0"],
        // The type is checked before the options, as in Redis.
        &["ZUNION", "2", "s", "z", "WEIGHTS", "x", "y"],
    ];
    for c in cases {
        assert_eq!(conn.cmd(c), wrongtype, "{c:?}");
    }
    // The destination of a STORE command is replaced whatever its type.
    assert_eq!(conn.cmd(&["ZUNIONSTORE", "s", "1", "z"]), Reply::Int(1));
    assert_eq!(conn.cmd(&["TYPE", "s"]), Reply::simple("zset"));
}

#[test]
fn binary_and_empty_members() {
    let server = Server::start();
    let mut conn = server.raw();
    let odd: &[u8] = b"\x00\xff\r\n member";
    for limit in ["128", "0"] {
        conn.cmd(&["DEL", "z"]);
        conn.cmd(&["CONFIG", "SET", "zset-max-listpack-entries", limit]);
        assert_eq!(
            conn.cmd(&[&b"ZADD"[..], b"z", b"1", odd, b"1", b"", b"0", b"\xff"]),
            Reply::Int(3)
        );
        assert_eq!(conn.cmd(&[&b"ZSCORE"[..], b"z", odd]), Reply::bulk("1"));
        assert_eq!(conn.cmd(&["ZSCORE", "z", ""]), Reply::bulk("1"));
        // Equal scores order by member bytes: "" < "\0..." ; 0xff sorts last among bytes.
        assert_eq!(
            conn.cmd(&["ZRANGE", "z", "0", "-1"]),
            Reply::Array(vec![
                Reply::bulk(b"\xff"),
                Reply::bulk(""),
                Reply::bulk(odd)
            ])
        );
        assert_eq!(
            conn.cmd(&["ZRANGEBYLEX", "z", "[", "(\x01"]),
            Reply::Array(vec![Reply::bulk(""), Reply::bulk(odd)]),
            "limit {limit}"
        );
        assert_eq!(conn.cmd(&["ZRANK", "z", ""]), Reply::Int(1));
        assert_eq!(conn.cmd(&[&b"ZREM"[..], b"z", odd, b""]), Reply::Int(2));
        assert_eq!(conn.cmd(&["ZCARD", "z"]), Reply::Int(1));
    }
}

#[test]
fn encodings_switch_at_the_configured_limits() {
    let server = Server::start();
    let mut conn = server.raw();
    let mut args = vec!["ZADD".to_string(), "z".to_string()];
    for i in 0..128 {
        args.push(i.to_string());
        args.push(format!("m{i}"));
    }
    assert_eq!(conn.cmd(&args), Reply::Int(128));
    assert_eq!(
        conn.cmd(&["OBJECT", "ENCODING", "z"]),
        Reply::bulk("listpack")
    );
    assert_eq!(conn.cmd(&["ZADD", "z", "1", "m1"]), Reply::Int(0));
    assert_eq!(
        conn.cmd(&["OBJECT", "ENCODING", "z"]),
        Reply::bulk("listpack")
    );
    assert_eq!(conn.cmd(&["ZADD", "z", "500", "extra"]), Reply::Int(1));
    assert_eq!(
        conn.cmd(&["OBJECT", "ENCODING", "z"]),
        Reply::bulk("skiplist")
    );
    assert_eq!(conn.cmd(&["ZCARD", "z"]), Reply::Int(129));
    // Removing members does not convert back, as in Redis.
    assert_eq!(
        conn.cmd(&["ZREMRANGEBYRANK", "z", "0", "100"]),
        Reply::Int(101)
    );
    assert_eq!(
        conn.cmd(&["OBJECT", "ENCODING", "z"]),
        Reply::bulk("skiplist")
    );
    // A long member is enough.
    let long = "x".repeat(65);
    conn.cmd(&["ZADD", "y", "1", "short"]);
    assert_eq!(
        conn.cmd(&["OBJECT", "ENCODING", "y"]),
        Reply::bulk("listpack")
    );
    conn.cmd(&["ZADD", "y", "1", &long]);
    assert_eq!(
        conn.cmd(&["OBJECT", "ENCODING", "y"]),
        Reply::bulk("skiplist")
    );
    // A STORE result small enough is a listpack again.
    assert_eq!(
        conn.cmd(&["ZRANGESTORE", "d", "z", "0", "9"]),
        Reply::Int(10)
    );
    assert_eq!(
        conn.cmd(&["OBJECT", "ENCODING", "d"]),
        Reply::bulk("listpack")
    );
    assert_eq!(conn.cmd(&["TYPE", "d"]), Reply::simple("zset"));
    assert_eq!(
        conn.cmd(&["SCAN", "0", "TYPE", "zset", "COUNT", "100"])
            .items()[1]
            .items()
            .len(),
        3
    );
    assert_eq!(
        conn.cmd(&["CONFIG", "GET", "zset-max-listpack-*"])
            .items()
            .len(),
        4
    );
}

#[test]
fn persistence_across_restart_small_and_large() {
    let mut server = Server::start();
    {
        let mut conn = server.raw();
        conn.cmd(&["ZADD", "small", "1", "a", "-inf", "b", "2.5", "c"]);
        let mut args = vec!["ZADD".to_string(), "large".to_string()];
        for i in 0..300 {
            args.push(format!("{}", i as f64 / 4.0));
            args.push(format!("m{i}"));
        }
        assert_eq!(conn.cmd(&args), Reply::Int(300));
        conn.cmd(&["ZREM", "large", "m7"]);
        conn.cmd(&["ZINCRBY", "large", "1000", "m8"]);
    }
    server.restart();
    let mut conn = server.raw();
    assert_eq!(
        conn.cmd(&["ZRANGE", "small", "0", "-1", "WITHSCORES"]),
        bulks(&["b", "-inf", "a", "1", "c", "2.5"])
    );
    assert_eq!(conn.cmd(&["ZCARD", "large"]), Reply::Int(299));
    assert_eq!(
        conn.cmd(&["OBJECT", "ENCODING", "large"]),
        Reply::bulk("skiplist")
    );
    assert_eq!(conn.cmd(&["ZSCORE", "large", "m7"]), Reply::NilBulk);
    assert_eq!(
        conn.cmd(&["ZRANGE", "large", "-1", "-1", "WITHSCORES"]),
        bulks(&["m8", "1002"])
    );
    assert_eq!(
        conn.cmd(&["ZRANGE", "large", "5", "7"]),
        bulks(&["m5", "m6", "m9"])
    );
    assert_eq!(conn.cmd(&["ZRANK", "large", "m9"]), Reply::Int(7));
    // Deleting a large set leaves nothing behind: a new set under the name starts empty.
    assert_eq!(conn.cmd(&["DEL", "large"]), Reply::Int(1));
    conn.cmd(&["ZADD", "large", "1", "x"]);
    assert_eq!(conn.cmd(&["ZCARD", "large"]), Reply::Int(1));
    assert_eq!(conn.cmd(&["ZRANGE", "large", "0", "-1"]), bulks(&["x"]));
}

#[test]
fn zscan_visits_every_member_exactly_once() {
    let server = Server::start();
    let mut conn = server.raw();
    let mut args = vec!["ZADD".to_string(), "z".to_string()];
    for i in 0..1000 {
        args.push(i.to_string());
        args.push(format!("m{i}"));
    }
    conn.cmd(&args);
    for count in ["1", "7", "100"] {
        let mut seen = Vec::new();
        let mut cursor = "0".to_string();
        loop {
            let page = conn.cmd(&["ZSCAN", "z", &cursor, "COUNT", count]);
            let items = page.items();
            cursor = items[0].text();
            for pair in items[1].items().chunks(2) {
                let member = pair[0].text();
                let i: usize = member[1..].parse().unwrap();
                assert_eq!(pair[1].text(), i.to_string());
                seen.push(i);
            }
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(seen.len(), 1000, "count {count}");
        assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 1000);
    }
    let page = conn.cmd(&["ZSCAN", "z", "0", "MATCH", "m99*", "COUNT", "2000"]);
    assert_eq!(page.items()[1].items().len(), 22);
}

#[test]
fn emptied_keys_disappear() {
    let server = Server::start();
    let mut conn = server.raw();
    let cases: &[&[&str]] = &[
        &["ZREM", "z", "a", "b"],
        &["ZPOPMIN", "z", "5"],
        &["ZPOPMAX", "z", "2"],
        &["ZMPOP", "1", "z", "MIN", "COUNT", "9"],
        &["ZREMRANGEBYRANK", "z", "0", "-1"],
        &["ZREMRANGEBYSCORE", "z", "-inf", "+inf"],
        &["ZREMRANGEBYLEX", "z", "-", "+"],
    ];
    for c in cases {
        conn.cmd(&["ZADD", "z", "0", "a", "0", "b"]);
        assert!(!conn.cmd(c).is_error(), "{c:?}");
        assert_eq!(conn.cmd(&["EXISTS", "z"]), Reply::Int(0), "{c:?}");
    }
    assert_eq!(conn.cmd(&["DBSIZE"]), Reply::Int(0));
}

#[test]
fn copy_and_rename_large_sets() {
    let server = Server::start();
    let mut conn = server.raw();
    let mut args = vec!["ZADD".to_string(), "z".to_string()];
    for i in 0..200 {
        args.push(i.to_string());
        args.push(format!("m{i}"));
    }
    conn.cmd(&args);
    assert_eq!(conn.cmd(&["COPY", "z", "c"]), Reply::Int(1));
    assert_eq!(conn.cmd(&["RENAME", "z", "r"]), Reply::ok());
    assert_eq!(conn.cmd(&["ZPOPMIN", "c", "150"]).items().len(), 300);
    assert_eq!(conn.cmd(&["ZCARD", "r"]), Reply::Int(200));
    assert_eq!(conn.cmd(&["ZCARD", "c"]), Reply::Int(50));
    assert_eq!(conn.cmd(&["ZRANGE", "r", "0", "0"]), bulks(&["m0"]));
    assert_eq!(conn.cmd(&["ZRANGE", "c", "0", "0"]), bulks(&["m150"]));
}

/// A model of a sorted set: (score, member) order.
#[derive(Default)]
struct Model {
    by_member: BTreeMap<String, i64>,
}

impl Model {
    fn ordered(&self) -> Vec<(i64, String)> {
        let mut v: Vec<_> = self
            .by_member
            .iter()
            .map(|(m, s)| (*s, m.clone()))
            .collect();
        v.sort();
        v
    }
}

fn members(reply: &Reply) -> Vec<String> {
    reply.items().iter().map(|r| r.text()).collect()
}

#[test]
fn a_large_set_stays_correct_for_ranges_and_pops() {
    let server = Server::start();
    let mut conn = server.raw();
    let mut model = Model::default();
    let n = 20_000;
    // Scores collide on purpose (i % 1000), so member order within a score matters.
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let mut args = vec!["ZADD".to_string(), "big".to_string()];
        for &i in chunk {
            let (score, member) = ((i * 7919) % 1000, format!("m{i:05}"));
            args.push(score.to_string());
            args.push(member.clone());
            model.by_member.insert(member, score as i64);
        }
        conn.cmd(&args);
    }
    assert_eq!(conn.cmd(&["ZCARD", "big"]), Reply::Int(n as i64));
    let ordered = model.ordered();
    let names = |slice: &[(i64, String)]| slice.iter().map(|(_, m)| m.clone()).collect::<Vec<_>>();
    assert_eq!(
        members(&conn.cmd(&["ZRANGE", "big", "0", "9"])),
        names(&ordered[..10])
    );
    assert_eq!(
        members(&conn.cmd(&["ZRANGE", "big", "-10", "-1"])),
        names(&ordered[n - 10..])
    );
    assert_eq!(
        members(&conn.cmd(&["ZRANGE", "big", "10000", "10004"])),
        names(&ordered[10000..10005])
    );
    let mut rev: Vec<_> = names(&ordered[n - 15..n - 5]);
    rev.reverse();
    assert_eq!(
        members(&conn.cmd(&["ZRANGE", "big", "5", "14", "REV"])),
        rev
    );
    let in_range: Vec<_> = ordered
        .iter()
        .filter(|(s, _)| *s > 500 && *s <= 502)
        .cloned()
        .collect();
    assert_eq!(
        members(&conn.cmd(&["ZRANGEBYSCORE", "big", "(500", "502"])),
        names(&in_range)
    );
    assert_eq!(
        conn.cmd(&["ZCOUNT", "big", "(500", "502"]),
        Reply::Int(in_range.len() as i64)
    );
    assert_eq!(
        members(&conn.cmd(&["ZRANGEBYSCORE", "big", "(500", "502", "LIMIT", "3", "4"])),
        names(&in_range[3..7])
    );
    let member = &ordered[12345].1;
    assert_eq!(conn.cmd(&["ZRANK", "big", member]), Reply::Int(12345));
    assert_eq!(
        conn.cmd(&["ZREVRANK", "big", member]),
        Reply::Int((n - 1 - 12345) as i64)
    );
    // Pops from both ends.
    let popped = conn.cmd(&["ZPOPMIN", "big", "100"]);
    let got: Vec<_> = popped.items().chunks(2).map(|p| p[0].text()).collect();
    assert_eq!(got, names(&ordered[..100]));
    let popped = conn.cmd(&["ZPOPMAX", "big", "3"]);
    let got: Vec<_> = popped.items().chunks(2).map(|p| p[0].text()).collect();
    let mut want = names(&ordered[n - 3..]);
    want.reverse();
    assert_eq!(got, want);
    for (_, m) in ordered[..100].iter().chain(&ordered[n - 3..]) {
        model.by_member.remove(m);
    }
    // Updates move members in the score order.
    conn.cmd(&["ZADD", "big", "-1", "m00042", "5000", "m00043"]);
    model.by_member.insert("m00042".into(), -1);
    model.by_member.insert("m00043".into(), 5000);
    let ordered = model.ordered();
    assert_eq!(
        members(&conn.cmd(&["ZRANGE", "big", "0", "2"])),
        names(&ordered[..3])
    );
    assert_eq!(
        members(&conn.cmd(&["ZRANGE", "big", "-1", "-1"])),
        vec!["m00043".to_string()]
    );
    let removed = conn.cmd(&["ZREMRANGEBYSCORE", "big", "100", "199"]).int();
    let before = model.by_member.len();
    model.by_member.retain(|_, s| !(100..=199).contains(s));
    assert_eq!(removed as usize, before - model.by_member.len());
    assert_eq!(
        conn.cmd(&["ZCARD", "big"]),
        Reply::Int(model.by_member.len() as i64)
    );
    let all = conn.cmd(&["ZRANGE", "big", "0", "-1"]);
    assert_eq!(members(&all), names(&model.ordered()));
}

/// Pops from both ends of a large sorted set whose members are re-scored, added and removed
/// between the pops, with merges every few milliseconds: each read from an end merges the
/// queued members (by their newest scores, from an index of them once there are many) with
/// the table's rows, beside a merge that applies them meanwhile. Every pop is checked
/// against a model.
#[test]
fn pops_beside_rescores_and_merges_match_a_model() {
    let server = Server::builder()
        .config("[storage]\nmerge_interval_ms = 100\njournal_max_bytes = \"1mb\"\n")
        .start();
    let mut conn = server.raw();
    let mut model = Model::default();
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut next = |bound: u64| rng.below(bound);
    let zadd = |conn: &mut RawConn, model: &mut Model, pairs: Vec<(i64, String)>| {
        let mut args = vec!["ZADD".to_string(), "q".to_string()];
        for (score, member) in pairs {
            args.push(score.to_string());
            args.push(member.clone());
            model.by_member.insert(member, score);
        }
        conn.cmd(&args);
    };
    // Scores collide (0..500), so members order ties.
    for chunk in 0..20 {
        let pairs = (0..1000)
            .map(|i| ((next(500)) as i64, format!("m{:05}", chunk * 1000 + i)))
            .collect();
        zadd(&mut conn, &mut model, pairs);
    }
    let mut checked = 0;
    for round in 0..400 {
        // Re-score members, some of them popped already (added back).
        let pairs = (0..40)
            .map(|_| (next(500) as i64, format!("m{:05}", next(20_000))))
            .collect();
        zadd(&mut conn, &mut model, pairs);
        if round % 5 == 0 {
            let member = format!("m{:05}", next(20_000));
            conn.cmd(&["ZREM", "q", &member]);
            model.by_member.remove(&member);
        }
        let (command, count, from_top) = if round % 3 == 2 {
            ("ZPOPMAX", 7, true)
        } else {
            ("ZPOPMIN", 25, false)
        };
        let popped = conn.cmd(&[command, "q", &count.to_string()]);
        let got: Vec<(String, i64)> = popped
            .items()
            .chunks(2)
            .map(|p| (p[0].text(), p[1].text().parse().unwrap()))
            .collect();
        let mut ordered = model.ordered();
        if from_top {
            ordered.reverse();
        }
        let want: Vec<(String, i64)> = ordered
            .iter()
            .take(count)
            .map(|(s, m)| (m.clone(), *s))
            .collect();
        assert_eq!(got, want, "round {round}: {command} {count}");
        for (member, _) in &got {
            model.by_member.remove(member);
        }
        checked += got.len();
    }
    assert!(checked > 5000);
    assert_eq!(
        conn.cmd(&["ZCARD", "q"]),
        Reply::Int(model.by_member.len() as i64)
    );
    let info = conn.cmd(&["INFO", "persistence"]).text();
    let merges: i64 = common::info_field(&info, "respite_journal_background_merges")
        .expect("INFO persistence lists background merges")
        .parse()
        .unwrap();
    assert!(merges > 0, "no merge ran beside the pops");
}

/// Counts and score ranges of a large sorted set, read while merges of other keys' rows run
/// (they read the table beside the merge when none of the set's rows is queued, and wait
/// for the merge's end otherwise), agree with a model.
#[test]
fn counts_and_score_ranges_beside_merges_match_a_model() {
    let server = Server::builder()
        .config("[storage]\nmerge_interval_ms = 50\njournal_max_bytes = \"1mb\"\n")
        .start();
    let mut conn = server.raw();
    let mut model = Model::default();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut next = |bound: u64| rng.below(bound);
    for chunk in 0..5 {
        let mut args = vec!["ZADD".to_string(), "r".to_string()];
        for i in 0..1000 {
            let (score, member) = (next(1000) as i64, format!("m{:05}", chunk * 1000 + i));
            args.push(score.to_string());
            args.push(member.clone());
            model.by_member.insert(member, score);
        }
        conn.cmd(&args);
    }
    for round in 0..300 {
        // Other keys' rows, for the merges to apply.
        let mut mset = vec!["MSET".to_string()];
        for _ in 0..100 {
            mset.push(format!("k{}", next(50_000)));
            mset.push("v".repeat(40));
        }
        conn.cmd(&mset);
        // The set changes now and then: in between, none of its rows is queued.
        if round % 10 == 0 {
            let member = format!("m{:05}", next(5000));
            if next(2) == 0 {
                let score = next(1000) as i64;
                conn.cmd(&["ZADD", "r", &score.to_string(), &member]);
                model.by_member.insert(member, score);
            } else {
                conn.cmd(&["ZREM", "r", &member]);
                model.by_member.remove(&member);
            }
        }
        let lo = next(1000) as i64;
        let hi = lo + next(200) as i64;
        let within: Vec<(i64, String)> = model
            .ordered()
            .into_iter()
            .filter(|(s, _)| (lo..=hi).contains(s))
            .collect();
        let (lo, hi) = (lo.to_string(), hi.to_string());
        assert_eq!(
            conn.cmd(&["ZCOUNT", "r", &lo, &hi]),
            Reply::Int(within.len() as i64),
            "round {round}: ZCOUNT {lo} {hi}"
        );
        let (offset, count) = (next(5) as usize, 1 + next(20) as usize);
        let want: Vec<String> = within
            .iter()
            .skip(offset)
            .take(count)
            .map(|(_, m)| m.clone())
            .collect();
        let got = conn.cmd(&[
            "ZRANGEBYSCORE",
            "r",
            &lo,
            &hi,
            "LIMIT",
            &offset.to_string(),
            &count.to_string(),
        ]);
        assert_eq!(
            members(&got),
            want,
            "round {round}: ZRANGEBYSCORE {lo} {hi}"
        );
        let want: Vec<String> = within
            .iter()
            .rev()
            .take(count)
            .map(|(_, m)| m.clone())
            .collect();
        let got = conn.cmd(&[
            "ZREVRANGEBYSCORE",
            "r",
            &hi,
            &lo,
            "LIMIT",
            "0",
            &count.to_string(),
        ]);
        assert_eq!(
            members(&got),
            want,
            "round {round}: ZREVRANGEBYSCORE {hi} {lo}"
        );
        if round % 30 == 0 {
            std::thread::sleep(std::time::Duration::from_millis(60));
        }
    }
    let info = conn.cmd(&["INFO", "persistence"]).text();
    let merges: i64 = common::info_field(&info, "respite_journal_background_merges")
        .expect("INFO persistence lists background merges")
        .parse()
        .unwrap();
    assert!(merges > 0, "no merge ran beside the reads");
}
