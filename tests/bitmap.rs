//! Bitmap commands, black box, against a real redis-server 7.0.15 started by the test: the
//! same commands go to both servers and every reply (errors included) must be the same.
//! Random BITFIELD programs, BITCOUNT and BITPOS ranges, BITOP, SETBIT and GETBIT.
//! `BITFIELD_SEED=N` runs another set of BITFIELD programs.

mod common;

use common::redis_server::pair;
use common::rng::Rng;

impl Rng {
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
}

#[test]
fn setbit_getbit_and_their_errors() {
    let (_s, _r, mut p) = pair();
    for args in [
        &["setbit", "k", "7", "1"][..],
        &["setbit", "k", "7", "1"],
        &["setbit", "k", "100", "1"],
        &["get", "k"],
        &["getbit", "k", "100"],
        &["getbit", "k", "99"],
        &["getbit", "k", "1000000"],
        &["getbit", "nokey", "3"],
        &["setbit", "k", "-1", "1"],
        &["setbit", "k", "abc", "1"],
        &["setbit", "k", "4294967296", "1"],
        &["setbit", "k", "1", "2"],
        &["setbit", "k", "1", "-1"],
        &["setbit", "k", "1", "x"],
        &["getbit", "k", "-1"],
        &["getbit", "k", "4294967296"],
        &["lpush", "l", "a"],
        &["setbit", "l", "1", "1"],
        &["getbit", "l", "1"],
        &["setbit", "k"],
        &["set", "n", "1234"],
        &["setbit", "n", "6", "1"],
        &["get", "n"],
    ] {
        p.same(args);
    }
}

#[test]
fn bitcount_and_bitpos_ranges_match_redis() {
    let (_s, _r, mut p) = pair();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let patterns: [&[u8]; 5] = [
        b"\xff\xf0\x00",
        b"\x00\x00\x00",
        b"\xff\xff\xff",
        b"foobar",
        b"",
    ];
    for (i, pat) in patterns.iter().enumerate() {
        let key = format!("p{i}");
        p.same_bytes(&[b"set".to_vec(), key.as_bytes().to_vec(), pat.to_vec()]);
    }
    for i in 0..20 {
        let len = rng.range(1, 12) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| match rng.below(4) {
                0 => 0,
                1 => 0xff,
                _ => rng.next() as u8,
            })
            .collect();
        p.same_bytes(&[b"set".to_vec(), format!("r{i}").into_bytes(), bytes]);
    }
    let keys: Vec<String> = (0..5)
        .map(|i| format!("p{i}"))
        .chain((0..20).map(|i| format!("r{i}")))
        .chain(["missing".to_string()])
        .collect();
    for _ in 0..1500 {
        let key = &keys[rng.below(keys.len() as u64) as usize];
        let start = rng.range(-20, 100).to_string();
        let end = rng.range(-20, 100).to_string();
        let unit = rng.pick(&["BYTE", "BIT", "bit", "byte"]);
        let bit = rng.pick(&["0", "1"]);
        let args: Vec<&str> = match rng.below(7) {
            0 => vec!["bitcount", key],
            1 => vec!["bitcount", key, &start, &end],
            2 => vec!["bitcount", key, &start, &end, unit],
            3 => vec!["bitpos", key, bit],
            4 => vec!["bitpos", key, bit, &start],
            5 => vec!["bitpos", key, bit, &start, &end],
            _ => vec!["bitpos", key, bit, &start, &end, unit],
        };
        p.same(&args);
    }
    for args in [
        &["bitcount", "p3", "1"][..],
        &["bitcount", "p3", "a", "1"],
        &["bitcount", "p3", "0", "1", "bits"],
        &["bitcount", "p3", "0", "1", "bit", "x"],
        &["bitpos", "p3", "2"],
        &["bitpos", "p3", "x"],
        &["bitpos", "missing", "x"],
        &["bitpos", "missing", "1", "x"],
        &["bitpos", "p3", "1", "x"],
        &["bitpos", "p3", "1", "0", "x"],
        &["bitpos", "p3", "1", "0", "1", "bits"],
        &["bitpos", "p3", "1", "0", "1", "bit", "x"],
        &["lpush", "l", "x"],
        &["bitcount", "l"],
        &["bitpos", "l", "1"],
    ] {
        p.same(args);
    }
}

#[test]
fn bitop_matches_redis() {
    let (_s, _r, mut p) = pair();
    let mut rng = Rng(42);
    for i in 0..4 {
        let len = rng.range(0, 9) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        p.same_bytes(&[b"set".to_vec(), format!("s{i}").into_bytes(), bytes]);
    }
    for _ in 0..200 {
        let op = rng.pick(&["AND", "or", "XOR", "not"]);
        let n = if op == "not" { 1 } else { rng.range(1, 4) };
        let mut args = vec!["bitop".to_string(), op.into(), "dest".into()];
        for _ in 0..n {
            args.push(format!("s{}", rng.below(6))); // s4, s5 are missing
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        p.same(&args);
        p.same(&["get", "dest"]);
        p.same(&["exists", "dest"]);
    }
    p.same(&["bitop", "not", "dest", "s1", "s2"]);
    p.same(&["bitop", "nand", "dest", "s1"]);
    p.same(&["lpush", "l", "x"]);
    p.same(&["bitop", "and", "dest", "s1", "l"]);
    p.same(&["bitop", "and", "l", "s1"]);
    p.same(&["type", "l"]);
    p.same(&["bitop", "or", "dest", "nokey1", "nokey2"]);
    p.same(&["exists", "dest"]);
}

#[test]
fn random_bitfield_programs_match_redis() {
    let (_s, _r, mut p) = pair();
    let seed = std::env::var("BITFIELD_SEED").map_or(7, |s| s.parse().expect("a u64 seed"));
    let mut rng = Rng(seed);
    for round in 0..1000 {
        let key = format!("bf{}", round % 5);
        let mut args: Vec<String> = vec!["bitfield".into(), key];
        for _ in 0..rng.range(1, 6) {
            let signed = rng.below(2) == 0;
            let width = if signed {
                rng.range(1, 64)
            } else {
                rng.range(1, 63)
            };
            let ty = format!("{}{width}", if signed { "i" } else { "u" });
            let offset = if rng.below(3) == 0 {
                format!("#{}", rng.range(0, 8))
            } else {
                rng.range(0, 100).to_string()
            };
            let value = match rng.below(6) {
                0 => rng.range(-3, 3),
                1 => rng.next() as i64,
                2 => rng.range(-300, 300),
                3 => i64::MIN + rng.range(0, 2),
                4 => (rng.next() as i64) >> rng.below(64),
                _ => i64::MAX - rng.range(0, 2),
            }
            .to_string();
            match rng.below(5) {
                0 => args.extend(["GET".into(), ty, offset]),
                1 => args.extend(["set".into(), ty, offset, value]),
                2 => args.extend(["INCRBY".into(), ty, offset, value]),
                3 => args.extend([
                    "OVERFLOW".into(),
                    rng.pick(&["WRAP", "SAT", "FAIL", "sat"]).into(),
                ]),
                _ => args.extend(["incrby".into(), ty, offset, rng.range(-2, 2).to_string()]),
            }
        }
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        p.same(&a);
        let ro: Vec<&str> = std::iter::once("bitfield_ro")
            .chain(a[1..].iter().copied())
            .collect();
        p.same(&ro);
        // SAT and WRAP write values the replies do not show: compare the bytes too.
        p.same(&["get", a[1]]);
    }
    for k in 0..5 {
        p.same(&["get", &format!("bf{k}")]);
    }
    for args in [
        &["bitfield", "k", "get", "u64", "0"][..],
        &["bitfield", "k", "get", "i65", "0"],
        &["bitfield", "k", "get", "i0", "0"],
        &["bitfield", "k", "get", "x8", "0"],
        &["bitfield", "k", "get", "u8", "-1"],
        &["bitfield", "k", "get", "u8", "#-1"],
        &["bitfield", "k", "get", "u8", "4294967296"],
        &["bitfield", "k", "get", "u8", "#536870912"],
        &["bitfield", "k", "set", "u8", "0", "x"],
        &["bitfield", "k", "set", "u8", "0"],
        &["bitfield", "k", "overflow", "maybe", "get", "u8", "0"],
        &["bitfield", "k", "overflow"],
        &["bitfield", "k", "frob", "u8", "0"],
        &["bitfield", "k"],
        &["bitfield_ro", "k", "set", "u8", "0", "1"],
        &[
            "bitfield_ro",
            "k",
            "get",
            "u8",
            "0",
            "incrby",
            "u8",
            "0",
            "1",
        ],
        &["bitfield_ro", "k", "get", "x8", "0", "set", "u8", "0", "1"],
        &["exists", "k"],
        &[
            "bitfield", "k", "overflow", "fail", "incrby", "u2", "100", "5",
        ],
        &["get", "k"],
        &["lpush", "l", "x"],
        &["bitfield", "l", "get", "u8", "0"],
        &["bitfield", "l", "set", "u8", "0", "1"],
        &["bitfield_ro", "l", "get", "u8", "0"],
    ] {
        p.same(args);
    }
}

/// A string changed in place is `raw` in OBJECT ENCODING, as redis-server's unshared strings
/// are, whatever its length; one written whole is `int` or `embstr` again.
#[test]
fn strings_changed_in_place_are_raw_as_in_redis() {
    let (_respite, _redis, mut p) = pair();
    for setup in [
        &["SET", "k", "1234"][..],
        &["APPEND", "k", "5"],
        &["SET", "k", "1234"],
        &["SETRANGE", "k", "0", "2"],
        &["SET", "k", "1234"],
        &["SETRANGE", "k", "0", ""],
        &["DEL", "b"],
        &["SETBIT", "b", "7", "1"],
        &["BITFIELD", "f", "SET", "u8", "0", "255"],
        &["APPEND", "new", "12"],
        &["SETRANGE", "fresh", "0", "ab"],
        &["BITOP", "OR", "dest", "b", "f"],
    ] {
        p.same(setup);
        for key in ["k", "b", "f", "new", "fresh", "dest"] {
            p.same(&["OBJECT", "ENCODING", key]);
        }
    }
    p.same(&["SET", "k", "short"]);
    p.same(&["OBJECT", "ENCODING", "k"]);
}
