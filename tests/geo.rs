//! GEO commands, black box, against a real redis-server 7.0.15 started by the test: the same
//! GEOADD calls must leave the same scores, and GEOHASH, GEOPOS, GEODIST, GEOSEARCH,
//! GEOSEARCHSTORE and the GEORADIUS family must answer byte for byte alike (every reply is
//! compared as a RESP value), errors included, on small (listpack) and large sets.

mod common;

use common::redis_server::RedisServer;
use common::Server;
use redis::Value;

/// A small deterministic generator, so failures replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A float in `[lo, hi)`.
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (self.next() >> 11) as f64 / (1u64 << 53) as f64 * (hi - lo)
    }
}

struct Pair {
    redis: redis::Connection,
    respite: redis::Connection,
}

impl Pair {
    fn both(&mut self, args: &[String]) -> (Value, Value) {
        let run = |c: &mut redis::Connection| {
            let mut cmd = redis::cmd(&args[0]);
            for a in &args[1..] {
                cmd.arg(a);
            }
            match cmd.query::<Value>(c) {
                Ok(v) => v,
                Err(e) => Value::SimpleString(format!("error: {e}")),
            }
        };
        (run(&mut self.redis), run(&mut self.respite))
    }

    fn same(&mut self, line: &str) -> Value {
        let args: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        self.same_args(&args)
    }

    fn same_args(&mut self, args: &[String]) -> Value {
        let (a, b) = self.both(args);
        assert_eq!(a, b, "`{}`: redis-server vs respite", args.join(" "));
        a
    }
}

fn pair() -> (RedisServer, Server, Pair) {
    let redis = RedisServer::start();
    let respite = Server::start();
    let p = Pair {
        redis: redis.conn(),
        respite: respite.conn(),
    };
    (redis, respite, p)
}

#[test]
fn small_sets_and_errors_match_redis() {
    let (_r, _s, mut p) = pair();
    for line in [
        "geoadd Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
        "geoadd Sicily nx xx 1 2 a",
        "geoadd Sicily ch 13.361389 38.115556 Palermo 15 37 x",
        "geoadd Sicily xx ch 13.361389 38.2 Palermo 15 37 y",
        "geoadd Sicily nx 13 38 Palermo 14 37 z",
        "geoadd Sicily 200 100 a",
        "geoadd Sicily 10 85.06 a",
        "geoadd Sicily abc 1 a",
        "geoadd Sicily 1 2 a 3",
        "zrange Sicily 0 -1 withscores",
        "geodist Sicily Palermo Catania",
        "geodist Sicily Palermo Catania KM",
        "geodist Sicily Palermo Catania mi",
        "geodist Sicily Palermo Catania ft",
        "geodist Sicily Palermo Catania xx",
        "geodist Sicily Palermo Catania km extra",
        "geodist Sicily Palermo nope",
        "geodist Sicily Palermo Palermo",
        "geodist nokey a b",
        "geohash Sicily Palermo Catania nope x",
        "geohash nokey a",
        "geopos Sicily Palermo Catania nope",
        "geopos nokey a",
        "georadius Sicily 15 37 200 km",
        "georadius Sicily 15 37 200 km WITHDIST WITHCOORD WITHHASH",
        "georadius Sicily 15 37 200 km WITHDIST asc",
        "georadius Sicily 15 37 200 km WITHDIST desc",
        "georadius Sicily 15 37 200 km WITHDIST count 1",
        "georadius Sicily 15 37 200 km WITHDIST count 1 desc",
        "georadius Sicily 15 37 200 km count 0",
        "georadius Sicily 15 37 200 km count x",
        "georadius Sicily 15 37 200 km any",
        "georadius Sicily 15 37 200 km withdist store dst",
        "georadius Sicily 15 37 200 km store dst",
        "zrange dst 0 -1 withscores",
        "georadius Sicily 15 37 200 km storedist dst2",
        "zrange dst2 0 -1 withscores",
        "georadius_ro Sicily 15 37 200 km store dst",
        "georadius Sicily 15 37 -1 km",
        "georadius Sicily 15 37 x km",
        "georadius Sicily 15 37 1 parsec",
        "georadius Sicily 15 37 0 km withdist",
        "georadiusbymember Sicily Palermo 200 km withdist",
        "georadiusbymember Sicily nope 200 km withdist",
        "georadiusbymember nokey nope 200 km withdist",
        "georadiusbymember nokey nope 200 km store dst",
        "exists dst",
        "georadiusbymember_ro Sicily Palermo 300 km withcoord",
        "geosearch Sicily frommember Palermo byradius 200 km",
        "geosearch Sicily frommember Palermo byradius 200 km asc withdist withcoord withhash",
        "geosearch Sicily fromlonlat 15 37 bybox 400 400 km asc withdist",
        "geosearch Sicily fromlonlat 15 37 bybox 400 40 km asc withdist",
        "geosearch Sicily fromlonlat 15 37 bybox 400 -40 km",
        "geosearch Sicily fromlonlat 15 37 bybox 400 x km",
        "geosearch Sicily fromlonlat 15 37 bybox x 1 km",
        "geosearch Sicily frommember Palermo fromlonlat 15 37 byradius 200 km",
        "geosearch Sicily fromlonlat 15 37 byradius 200 km bybox 1 1 km",
        "geosearch Sicily byradius 200 km asc",
        "geosearch Sicily fromlonlat 15 37 asc",
        "geosearch Sicily fromlonlat 15 37 byradius 200 km any",
        "geosearch Sicily fromlonlat 15 37 byradius 200 km count 1 any",
        "geosearch Sicily fromlonlat 15 37 byradius 200 km store x",
        "geosearch Sicily fromlonlat 15 37 byradius 200 km storedist",
        "geosearch Sicily frommember nope byradius 200 km",
        "geosearch nokey frommember nope byradius 200 km",
        "geosearchstore dst3 Sicily fromlonlat 15 37 byradius 200 km storedist",
        "zrange dst3 0 -1 withscores",
        "geosearchstore dst3 Sicily fromlonlat 15 37 byradius 200 km withdist",
        "geosearchstore dst3 Sicily fromlonlat 15 37 byradius 1 m",
        "exists dst3",
        "geosearchstore dst3 nokey fromlonlat 15 37 byradius 1 m",
        "geoadd pts -122.4194 37.7749 sf -118.2437 34.0522 la -73.9352 40.7306 ny 2.3522 48.8566 paris 0 0 zero -180 85.05112878 corner 179.99 -85 south 139.6917 35.6895 tokyo",
        "geopos pts corner south zero",
        "geohash pts corner south zero sf",
        "geosearch pts fromlonlat 0 0 byradius 20000 km asc withdist",
        "geosearch pts fromlonlat 0 0 byradius 20000 km desc withdist",
        "geosearch pts fromlonlat 0 0 byradius 20000 km",
        "geosearch pts fromlonlat 0 0 byradius 20000 km count 3 any",
        "geosearch pts fromlonlat -100 40 bybox 6000 3000 km withdist",
        "geosearch pts fromlonlat -100 40 byradius 3000 mi withdist",
        "geosearch pts frommember tokyo byradius 10000 km withdist withcoord",
        "geosearch pts fromlonlat 179 -84 byradius 500 km withdist",
        // Members ZADD put at scores GEOADD never writes decode as redis-server decodes them.
        "zadd odd 0 zero -5 neg 4503599627370495 max 4503599627370496 over 1e20 huge 1.5 frac",
        "geopos odd zero neg max over huge frac",
        "geohash odd zero neg max over huge frac",
        "geodist odd zero max",
        "geosearch odd fromlonlat 0 0 byradius 20000 km withcoord withhash",
        "geosearch odd frommember huge byradius 1 km",
        "geoadd odd 180 85.05112878 top -180 -85.05112878 bottom",
        "geopos odd top bottom",
        "geohash odd top bottom",
        "geosearch odd fromlonlat 180 85 byradius 100 km withdist",
        "geosearch odd fromlonlat 0 0 bybox 0 0 m",
        "geosearch odd fromlonlat 0 0 byradius 0 m withdist",
        "geoadd odd inf 0 x",
        "geoadd odd -0 -0 negzero",
        "geopos odd negzero",
        "set str x",
        "geoadd str 1 1 a",
        "geosearch str fromlonlat 1 1 byradius 1 m",
        "geosearchstore dst str fromlonlat 1 1 byradius 1 m",
        "geodist str a b",
        "geopos str a",
        "geohash str a",
        "georadius str 1 1 1 m",
        "georadiusbymember str a 1 m",
    ] {
        p.same(line);
    }
}

/// Random points, searches of every shape, unit and option, and stored results, on a set
/// large enough for Redis's skiplist encoding (and Respite's row storage).
#[test]
fn random_searches_match_redis() {
    let (_r, _s, mut p) = pair();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let n = 2000;
    // Clusters, so that small searches find something, plus points anywhere.
    let centres = [
        (13.4, 38.1),
        (-0.12, 51.5),
        (-74.0, 40.7),
        (151.2, -33.9),
        (0.0, 0.0),
    ];
    let mut names = Vec::new();
    for chunk in 0..(n / 100) {
        let mut args = vec!["geoadd".to_string(), "big".to_string()];
        for j in 0..100 {
            let (lon, lat) = if j % 5 == 4 {
                (rng.range(-180.0, 180.0), rng.range(-85.0, 85.0))
            } else {
                let (cx, cy) = centres[rng.below(centres.len() as u64) as usize];
                (cx + rng.range(-2.0, 2.0), cy + rng.range(-2.0, 2.0))
            };
            let name = format!("m{}", chunk * 100 + j);
            args.push(format!("{lon:.6}"));
            args.push(format!("{lat:.6}"));
            args.push(name.clone());
            names.push(name);
        }
        p.same_args(&args);
    }
    p.same("zrange big 0 -1 withscores");
    for chunk in names.chunks(200) {
        for cmd in ["geohash", "geopos"] {
            let mut args = vec![cmd.to_string(), "big".to_string()];
            args.extend(chunk.iter().cloned());
            p.same_args(&args);
        }
    }
    let units = ["m", "km", "mi", "ft"];
    let mut found = 0;
    for _ in 0..200 {
        let a = &names[rng.below(n) as usize];
        let b = &names[rng.below(n) as usize];
        let unit = units[rng.below(4) as usize];
        p.same_args(&[
            "geodist".into(),
            "big".into(),
            a.clone(),
            b.clone(),
            unit.into(),
        ]);
    }
    for i in 0..300 {
        let unit = units[rng.below(4) as usize];
        let scale = match unit {
            "m" => 1000.0,
            "ft" => 3280.0,
            _ => 1.0,
        };
        let mut args = vec!["geosearch".to_string(), "big".to_string()];
        if rng.below(2) == 0 {
            args.extend(["frommember".into(), names[rng.below(n) as usize].clone()]);
        } else {
            let (cx, cy) = centres[rng.below(centres.len() as u64) as usize];
            args.extend([
                "fromlonlat".into(),
                format!("{:.5}", cx + rng.range(-3.0, 3.0)),
                format!("{:.5}", cy + rng.range(-3.0, 3.0)),
            ]);
        }
        // Radii from metres to thousands of kilometres.
        let size = 10f64.powf(rng.range(-1.0, 3.5)) * scale;
        if rng.below(2) == 0 {
            args.extend(["byradius".into(), format!("{size:.3}"), unit.into()]);
        } else {
            let h = size * rng.range(0.2, 2.0);
            args.extend([
                "bybox".into(),
                format!("{size:.3}"),
                format!("{h:.3}"),
                unit.into(),
            ]);
        }
        match rng.below(4) {
            0 => args.push("asc".into()),
            1 => args.push("desc".into()),
            2 => {}
            _ => {
                args.extend(["count".into(), (1 + rng.below(20)).to_string()]);
                if rng.below(3) == 0 {
                    args.push("any".into());
                }
            }
        }
        if i % 3 == 0 {
            let mut store = args.clone();
            store[0] = "geosearchstore".into();
            store.insert(1, "dst".into());
            if rng.below(2) == 0 {
                store.push("storedist".into());
            }
            p.same_args(&store);
            p.same("zrange dst 0 -1 withscores");
        }
        for opt in ["withdist", "withcoord", "withhash"] {
            if rng.below(2) == 0 {
                args.push(opt.into());
            }
        }
        if matches!(p.same_args(&args), Value::Array(ref items) if !items.is_empty()) {
            found += 1;
        }
    }
    assert!(found > 50, "only {found} searches found anything");
    // GEORADIUS with STORE on the large set.
    p.same("georadius big 13.4 38.1 100 km storedist dst4");
    p.same("zrange dst4 0 -1 withscores");
    p.same("georadiusbymember big m0 500 km withdist withhash asc count 10");
}

#[test]
fn resp3_replies_match_redis() {
    // Under HELLO 3, coordinates are doubles in Redis's human form (`%.17Lf`), distances stay
    // bulk strings, hashes integers; in a script (RESP2 by default) coordinates are strings.
    let respite = Server::start();
    let redis = RedisServer::start();
    let (mut ours, mut theirs) = (respite.raw(), redis.raw());
    let commands: &[&[&str]] = &[
        &["HELLO", "3"],
        &[
            "GEOADD",
            "g",
            "13.361389",
            "38.115556",
            "Palermo",
            "15.087269",
            "37.502669",
            "Catania",
        ],
        &[
            "GEOADD",
            "g",
            "-0.0000001",
            "0.00000001",
            "zero",
            "179.9999",
            "-85.05",
            "corner",
        ],
        &["GEOPOS", "g", "Palermo", "nonex", "zero", "corner"],
        &["GEODIST", "g", "Palermo", "Catania"],
        &["GEODIST", "g", "Palermo", "nonex"],
        &["GEOHASH", "g", "Palermo", "nonex"],
        &[
            "GEOSEARCH",
            "g",
            "FROMLONLAT",
            "15",
            "37",
            "BYRADIUS",
            "200",
            "km",
            "ASC",
            "WITHCOORD",
            "WITHDIST",
            "WITHHASH",
        ],
        &[
            "GEOSEARCH",
            "g",
            "FROMMEMBER",
            "Palermo",
            "BYBOX",
            "400",
            "400",
            "km",
            "DESC",
            "WITHDIST",
        ],
        &[
            "GEORADIUS",
            "g",
            "15",
            "37",
            "200",
            "km",
            "WITHDIST",
            "WITHCOORD",
        ],
        &[
            "GEORADIUSBYMEMBER_RO",
            "g",
            "Palermo",
            "200",
            "km",
            "WITHCOORD",
            "COUNT",
            "1",
        ],
        &[
            "GEOSEARCHSTORE",
            "d",
            "g",
            "FROMMEMBER",
            "Palermo",
            "BYBOX",
            "400",
            "400",
            "km",
            "STOREDIST",
        ],
        &["ZRANGE", "d", "0", "-1", "WITHSCORES"],
        &[
            "EVAL",
            "return redis.call('GEOPOS', KEYS[1], 'Palermo')",
            "1",
            "g",
        ],
        &[
            "EVAL",
            "redis.setresp(3); return redis.call('GEOPOS', KEYS[1], 'Catania')",
            "1",
            "g",
        ],
        &["HELLO", "2"],
        &["GEOPOS", "g", "Palermo"],
    ];
    for args in commands {
        let (a, b) = (ours.cmd(args), theirs.cmd(args));
        if args[0] == "HELLO" {
            continue; // server name and version differ
        }
        assert_eq!(format!("{a:?}"), format!("{b:?}"), "{args:?}");
    }
}
