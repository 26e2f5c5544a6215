//! DUMP and RESTORE, black box, against a real redis-server 7.0.15 started by the test:
//! payloads go both ways for every type, small and large (so both the listpack and the full
//! encodings travel), small values dump to the very bytes redis-server writes, RESTORE's
//! options and errors are Redis's, and mutated payloads never crash the server or leave a
//! key behind.

mod common;

use std::time::Duration;

use common::redis_server::RedisServer;
use common::Server;
use redis::{Connection, Value};

fn cmd(c: &mut Connection, args: &[&[u8]]) -> Value {
    let mut cmd = redis::cmd(std::str::from_utf8(args[0]).unwrap());
    for a in &args[1..] {
        cmd.arg(*a);
    }
    match cmd.query::<Value>(c) {
        Ok(v) => v,
        Err(e) => Value::SimpleString(format!("error: {e}")),
    }
}

fn line(c: &mut Connection, text: &str) -> Value {
    let args: Vec<&[u8]> = text.split_whitespace().map(str::as_bytes).collect();
    cmd(c, &args)
}

fn dump(c: &mut Connection, key: &str) -> Vec<u8> {
    match cmd(c, &[b"dump", key.as_bytes()]) {
        Value::BulkString(b) => b,
        other => panic!("DUMP {key}: {other:?}"),
    }
}

fn error_of(v: &Value) -> String {
    match v {
        Value::SimpleString(s) if s.starts_with("error: ") => s.clone(),
        other => panic!("expected an error, got {other:?}"),
    }
}

/// The key's type and contents in a form that does not depend on encoding or order.
fn contents(c: &mut Connection, key: &str) -> (String, Vec<Vec<u8>>) {
    let t: String = redis::cmd("TYPE").arg(key).query(c).unwrap();
    let mut items: Vec<Vec<u8>> = match t.as_str() {
        "string" => vec![redis::cmd("GET").arg(key).query(c).unwrap()],
        "list" => redis::cmd("LRANGE")
            .arg(key)
            .arg(0)
            .arg(-1)
            .query(c)
            .unwrap(),
        "set" => redis::cmd("SMEMBERS").arg(key).query(c).unwrap(),
        "zset" => redis::cmd("ZRANGE")
            .arg(key)
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query(c)
            .unwrap(),
        "hash" => {
            let flat: Vec<Vec<u8>> = redis::cmd("HGETALL").arg(key).query(c).unwrap();
            let mut pairs: Vec<Vec<u8>> = flat
                .chunks(2)
                .map(|p| [p[0].clone(), b"=".to_vec(), p[1].clone()].concat())
                .collect();
            pairs.sort();
            pairs
        }
        "none" => Vec::new(),
        other => panic!("type {other}"),
    };
    if t == "set" {
        items.sort();
    }
    (t, items)
}

/// Builds every type, small and large, with the same commands on a server.
fn build(c: &mut Connection) -> Vec<&'static str> {
    let long = "v".repeat(100);
    let mut script: Vec<Vec<String>> = vec![
        vec!["set".into(), "s:small".into(), "hello".into()],
        vec!["set".into(), "s:int".into(), "-12345".into()],
        vec!["set".into(), "s:bigint".into(), "123456789012".into()],
        vec!["set".into(), "s:long".into(), long.repeat(50)],
        vec!["set".into(), "s:bin".into(), "\u{0}\u{1}\u{ff}x".into()],
        vec!["set".into(), "s:empty".into(), "".into()],
        vec![
            "rpush".into(),
            "l:small".into(),
            "a".into(),
            "1".into(),
            "-300".into(),
            "70000".into(),
            "5000000000".into(),
            long.clone(),
        ],
        vec![
            "sadd".into(),
            "set:ints".into(),
            "1".into(),
            "-2".into(),
            "70000".into(),
        ],
        vec![
            "sadd".into(),
            "set:small".into(),
            "a".into(),
            "b".into(),
            "1".into(),
        ],
        vec![
            "zadd".into(),
            "z:small".into(),
            "1".into(),
            "a".into(),
            "-2.5".into(),
            "b".into(),
            "inf".into(),
            "c".into(),
            "0.1".into(),
            "d".into(),
        ],
        vec![
            "hset".into(),
            "h:small".into(),
            "f".into(),
            "v".into(),
            "n".into(),
            "42".into(),
        ],
    ];
    let mut big_list = vec!["rpush".to_string(), "l:big".to_string()];
    let mut big_set = vec!["sadd".to_string(), "set:big".to_string()];
    let mut big_ints = vec!["sadd".to_string(), "set:bigints".to_string()];
    let mut big_zset = vec!["zadd".to_string(), "z:big".to_string()];
    let mut big_hash = vec!["hset".to_string(), "h:big".to_string()];
    for i in 0..3000 {
        big_list.push(if i % 7 == 0 {
            long.clone()
        } else {
            format!("item-{i}")
        });
        big_set.push(format!("m{i}"));
        big_ints.push((i * 37 - 5000).to_string());
        big_zset.push(format!("{}", (i as f64) * 1.25 - 100.0));
        big_zset.push(format!("member-{i}"));
        big_hash.push(format!("field-{i}"));
        big_hash.push(if i % 5 == 0 {
            long.clone()
        } else {
            i.to_string()
        });
    }
    script.extend([big_list, big_set, big_ints, big_zset, big_hash]);
    // Past the listpack limits by length of one value, not by count.
    script.push(vec![
        "zadd".into(),
        "z:longmember".into(),
        "1".into(),
        long.clone(),
    ]);
    script.push(vec![
        "hset".into(),
        "h:longvalue".into(),
        "f".into(),
        long.clone(),
    ]);
    for args in &script {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        cmd(c, &a);
    }
    vec![
        "s:small",
        "s:int",
        "s:bigint",
        "s:long",
        "s:bin",
        "s:empty",
        "l:small",
        "l:big",
        "set:ints",
        "set:small",
        "set:big",
        "set:bigints",
        "z:small",
        "z:big",
        "z:longmember",
        "h:small",
        "h:big",
        "h:longvalue",
    ]
}

#[test]
fn payloads_travel_both_ways_for_every_type() {
    let redis = RedisServer::start();
    let respite = Server::start();
    let (mut r, mut s) = (redis.conn(), respite.conn());
    let keys = build(&mut r);
    build(&mut s);
    for key in &keys {
        let expected = contents(&mut r, key);
        assert_eq!(contents(&mut s, key), expected, "{key}: the same commands");
        // redis-server -> respite.
        let from_redis = dump(&mut r, key);
        let copy = format!("{key}:from-redis");
        let ok = cmd(&mut s, &[b"restore", copy.as_bytes(), b"0", &from_redis]);
        assert_eq!(ok, Value::Okay, "{key}: RESTORE of redis-server's payload");
        assert_eq!(
            contents(&mut s, &copy),
            expected,
            "{key}: restored from redis-server"
        );
        // respite -> redis-server.
        let from_respite = dump(&mut s, key);
        let copy = format!("{key}:from-respite");
        let ok = cmd(&mut r, &[b"restore", copy.as_bytes(), b"0", &from_respite]);
        assert_eq!(
            ok,
            Value::Okay,
            "{key}: redis-server's RESTORE of respite's payload"
        );
        assert_eq!(
            contents(&mut r, &copy),
            expected,
            "{key}: restored on redis-server"
        );
        // And back: respite reads its own payload.
        let copy = format!("{key}:own");
        assert_eq!(
            cmd(&mut s, &[b"restore", copy.as_bytes(), b"0", &from_respite]),
            Value::Okay
        );
        assert_eq!(contents(&mut s, &copy), expected, "{key}: own payload");
    }
}

/// Text with repeats at every distance and length LZF codes (and some noise), `n` bytes.
fn compressible(n: usize, seed: u64) -> Vec<u8> {
    let words = [
        &b"alpha "[..],
        b"beta ",
        b"gamma-delta ",
        b"x",
        b"0123456789",
        b"\n",
    ];
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        match x % 9 {
            0 => out.push((x >> 20) as u8),
            1 => out.extend(std::iter::repeat_n(b'z', (x >> 8) as usize % 400)),
            _ => out.extend_from_slice(words[(x >> 4) as usize % words.len()]),
        }
    }
    out.truncate(n);
    out
}

#[test]
fn payloads_are_redis_servers_bytes_lzf_included() {
    let redis = RedisServer::start();
    let respite = Server::start();
    let (mut r, mut s) = (redis.conn(), respite.conn());
    let long: Vec<u8> = compressible(300, 1);
    let mut programs: Vec<Vec<Vec<u8>>> = Vec::new();
    let words = |t: &str| -> Vec<Vec<u8>> { t.split(' ').map(|w| w.as_bytes().to_vec()).collect() };
    for text in [
        "set k hello",
        "set k 1",
        "set k -129",
        "set k 40000",
        "set k 2147483648",
        "set k 007",
        "set k aaaaaaaaaaaaaaaaaaaaa",
        "set k aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "set k abcdefghijklmnopqrstuvwxyz0123456789",
        "rpush k a b 1 -1 300",
        "rpush k aaaaaaaaaaaaaaaa aaaaaaaaaaaaaaaa aaaaaaaaaaaaaaaa aaaaaaaaaaaaaaaa",
        "sadd k 1 2 3",
        "sadd k 1 -70000",
        "sadd k 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20",
        "zadd k 1 a 2.5 b",
        "zadd k 1 member:1 2 member:2 3 member:3 4 member:4 5 member:5",
        "hset k f v",
        "hset k field:1 value field:2 value field:3 value field:4 value",
    ] {
        programs.push(words(text));
    }
    // Strings from 21 bytes to chunked (past 64 KiB), compressible and not.
    for (i, n) in [21usize, 22, 40, 100, 1000, 5000, 20_000, 70_000, 200_000]
        .into_iter()
        .enumerate()
    {
        programs.push(vec![
            b"set".to_vec(),
            b"k".to_vec(),
            compressible(n, i as u64 + 7),
        ]);
    }
    let noise: Vec<u8> = (0..1000u64)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
        .collect();
    programs.push(vec![b"set".to_vec(), b"k".to_vec(), noise]);
    // A list of quicklist nodes (listpacks) compressed whole. (A large hash or set is left
    // out: its members come in the order of Redis's hash table, which Respite does not keep.)
    let mut big_list = words("rpush k");
    for i in 0..200 {
        big_list.push(long[..(i % 60) + 21].to_vec());
    }
    programs.push(big_list);
    for compression in ["yes", "no"] {
        let mut compressed = 0;
        line(&mut r, &format!("config set rdbcompression {compression}"));
        line(&mut s, &format!("config set rdbcompression {compression}"));
        for program in &programs {
            line(&mut r, "del k");
            line(&mut s, "del k");
            let args: Vec<&[u8]> = program.iter().map(|a| &a[..]).collect();
            cmd(&mut r, &args);
            cmd(&mut s, &args);
            let (a, b) = (dump(&mut r, "k"), dump(&mut s, "k"));
            let shown =
                String::from_utf8_lossy(&program.concat()[..60.min(program.concat().len())])
                    .into_owned();
            assert!(
                a == b,
                "rdbcompression {compression}, `{shown}...`: DUMP bytes differ\n{a:?}\n{b:?}"
            );
            // 0xc3 after the type byte opens an LZF string.
            compressed += usize::from(a.get(1) == Some(&0xc3));
        }
        if compression == "yes" {
            assert!(
                compressed >= 10,
                "only {compressed} payloads were LZF-compressed"
            );
        } else {
            assert_eq!(compressed, 0);
        }
    }
}

#[test]
fn restore_options_and_errors_as_redis() {
    let redis = RedisServer::start();
    let respite = Server::start();
    let (mut r, mut s) = (redis.conn(), respite.conn());
    for c in [&mut r, &mut s] {
        line(c, "rpush src a b c");
    }
    let payload = dump(&mut r, "src");
    let mut bad_crc = payload.clone();
    let n = bad_crc.len();
    bad_crc[n - 1] ^= 0xff;
    let mut future = payload.clone();
    future[n - 10] = 12;
    let cases: Vec<Vec<&[u8]>> = vec![
        vec![b"restore", b"src", b"0", &payload],
        vec![b"restore", b"new", b"-1", &payload],
        vec![b"restore", b"new", b"x", &payload],
        vec![b"restore", b"new", b"0", &bad_crc],
        vec![b"restore", b"new", b"0", &future],
        vec![b"restore", b"new", b"0", b"short"],
        vec![b"restore", b"new", b"0", &payload, b"idletime", b"-1"],
        vec![b"restore", b"new", b"0", &payload, b"idletime", b"x"],
        vec![b"restore", b"new", b"0", &payload, b"freq", b"256"],
        vec![
            b"restore",
            b"new",
            b"0",
            &payload,
            b"freq",
            b"1",
            b"idletime",
            b"1",
        ],
        vec![b"restore", b"new", b"0", &payload, b"bogus"],
        vec![
            b"restore",
            b"new",
            b"0",
            &payload,
            b"replace",
            b"absttl",
            b"idletime",
            b"10",
        ],
        vec![b"lrange", b"new", b"0", b"-1"],
        vec![
            b"restore", b"src", b"0", &payload, b"replace", b"freq", b"5",
        ],
        vec![b"restore", b"t", b"100000", &payload],
        vec![b"restore", b"past", b"1", &payload, b"absttl"],
        vec![b"exists", b"past"],
        vec![b"restore", b"src", b"1", &payload, b"absttl", b"replace"],
        vec![b"exists", b"src"],
        vec![b"dump", b"nokey"],
    ];
    for args in &cases {
        let (a, b) = (cmd(&mut r, args), cmd(&mut s, args));
        assert_eq!(a, b, "{:?}", String::from_utf8_lossy(args[0]));
    }
    assert_eq!(
        cmd(
            &mut s,
            &[b"restore", b"idle", b"0", &payload, b"idletime", b"1000"]
        ),
        Value::Okay
    );
    let idle: i64 = redis::cmd("OBJECT")
        .arg("IDLETIME")
        .arg("idle")
        .query(&mut s)
        .unwrap();
    assert!((1000..=1010).contains(&idle), "idletime {idle}");
    let ttl: i64 = redis::cmd("PTTL").arg("t").query(&mut s).unwrap();
    assert!(ttl > 90_000 && ttl <= 100_000, "pttl {ttl}");
    assert!(error_of(&cmd(&mut s, &[b"restore", b"x", b"0", &bad_crc]))
        .contains("DUMP payload version or checksum are wrong"));
}

/// A RESTORE of a list wakes a client blocked on that key, as Redis's `restore` does.
#[test]
fn restore_of_a_list_wakes_blpop() {
    let respite = Server::start();
    let mut s = respite.conn();
    line(&mut s, "rpush src x");
    let payload = dump(&mut s, "src");
    let client = respite.client();
    let waiter = std::thread::spawn(move || {
        let mut c = client.get_connection().unwrap();
        redis::cmd("BLPOP")
            .arg("q")
            .arg(10)
            .query::<Option<(String, String)>>(&mut c)
            .unwrap()
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        cmd(&mut s, &[b"restore", b"q", b"0", &payload]),
        Value::Okay
    );
    assert_eq!(waiter.join().unwrap(), Some(("q".into(), "x".into())));
}

fn crc64(data: &[u8]) -> u64 {
    let mut crc = 0u64;
    for &b in data {
        crc ^= u64::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x95ac_9329_ac4b_c9b5
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// Replaces the footer's checksum so a mutated body reaches the parser.
fn reseal(p: &mut [u8]) {
    let n = p.len();
    let crc = crc64(&p[..n - 8]);
    p[n - 8..].copy_from_slice(&crc.to_le_bytes());
}

/// Payloads of RDB version 11 (7.2) restore, including 7.2's listpack set.
#[test]
fn version_11_payloads_restore() {
    let respite = Server::start();
    let mut s = respite.conn();
    line(&mut s, "set k hello");
    let mut p = dump(&mut s, "k");
    let n = p.len();
    p[n - 10] = 11;
    reseal(&mut p);
    assert_eq!(cmd(&mut s, &[b"restore", b"k11", b"0", &p]), Value::Okay);
    // Type 20 (set listpack): a listpack of "a", "b".
    let lp: &[u8] = b"\x0d\x00\x00\x00\x02\x00\x81a\x02\x81b\x02\xff";
    let mut p = vec![20u8, lp.len() as u8];
    p.extend_from_slice(lp);
    p.extend_from_slice(&[11, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    reseal(&mut p);
    assert_eq!(cmd(&mut s, &[b"restore", b"set72", b"0", &p]), Value::Okay);
    assert_eq!(
        contents(&mut s, "set72"),
        ("set".into(), vec![b"a".to_vec(), b"b".to_vec()])
    );
}

/// Mutated payloads (bytes changed, inserted, removed; checksum fixed so the body is what
/// is tested) are answered with an error or a whole value, never a crash or a partial key.
#[test]
fn fuzzed_payloads_never_crash_or_leave_a_partial_key() {
    let respite = Server::start();
    let mut s = respite.conn();
    build(&mut s);
    let mut seeds = Vec::new();
    for key in [
        "l:small",
        "set:ints",
        "set:small",
        "z:small",
        "h:small",
        "s:bigint",
        "z:longmember",
    ] {
        seeds.push(dump(&mut s, key));
    }
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut errors = 0;
    for i in 0..3000 {
        let mut p = seeds[i % seeds.len()].clone();
        let body = p.len() - 10;
        let at = (next() % body as u64) as usize;
        match next() % 4 {
            0 => p[at] = next() as u8,
            1 => p[at] ^= 1 << (next() % 8),
            2 => {
                p.insert(at, next() as u8);
            }
            _ => {
                p.remove(at);
            }
        }
        reseal(&mut p);
        let reply = cmd(&mut s, &[b"restore", b"fuzz", b"0", &p]);
        match reply {
            Value::Okay => {
                // A whole value: it reads back and dumps again.
                let _ = contents(&mut s, "fuzz");
                dump(&mut s, "fuzz");
                line(&mut s, "del fuzz");
            }
            other => {
                let e = error_of(&other);
                assert!(
                    e.contains("Bad data format") || e.contains("checksum"),
                    "unexpected error {e}"
                );
                errors += 1;
                assert_eq!(line(&mut s, "exists fuzz"), Value::Int(0), "a partial key");
            }
        }
    }
    assert!(errors > 1000, "only {errors} payloads were refused");
    assert_eq!(line(&mut s, "ping"), Value::SimpleString("PONG".into()));
}

/// The events RESTORE and the GEO commands emit are redis-server's, in the same order.
#[test]
fn key_events_match_redis() {
    let redis = RedisServer::start();
    let respite = Server::start();
    let mut events = Vec::new();
    for client in [redis.client(), respite.client()] {
        let mut c = client.get_connection().unwrap();
        line(&mut c, "config set notify-keyspace-events KEA");
        line(&mut c, "rpush src a");
        let payload = dump(&mut c, "src");
        let mut sub = client.get_connection().unwrap();
        sub.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut ps = sub.as_pubsub();
        ps.psubscribe("__keyevent@0__:*").unwrap();
        cmd(&mut c, &[b"restore", b"k", b"0", &payload]);
        cmd(&mut c, &[b"restore", b"k", b"0", &payload, b"replace"]);
        cmd(
            &mut c,
            &[b"restore", b"k", b"1", &payload, b"replace", b"absttl"],
        );
        for text in [
            "geoadd g 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
            "geoadd g 13.361389 38.115556 Palermo",
            "geosearchstore d g fromlonlat 15 37 byradius 200 km",
            "georadius g 15 37 200 km store d2",
            "georadius g 15 37 1 m store d2",
            "geosearchstore d g fromlonlat 15 37 byradius 1 m",
            "set end 1",
        ] {
            line(&mut c, text);
        }
        let mut got = Vec::new();
        loop {
            let msg = ps.get_message().unwrap();
            let item = (
                msg.get_channel_name().to_string(),
                msg.get_payload::<String>().unwrap(),
            );
            let done = item.1 == "end";
            got.push(item);
            if done {
                break;
            }
        }
        events.push(got);
    }
    assert_eq!(events[1], events[0], "respite vs redis-server");
}
