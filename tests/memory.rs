//! MEMORY USAGE: an estimate that grows with the value, nil for a missing key, and Redis
//! 7.0.15's errors, checked side by side with a real redis-server.

mod common;

use common::redis_server::RedisServer;
use common::{Reply, Server};

fn usage(c: &mut common::RawConn, args: &[&str]) -> Reply {
    let mut argv = vec!["MEMORY", "USAGE"];
    argv.extend_from_slice(args);
    c.cmd(&argv)
}

#[test]
fn usage_grows_with_the_value_and_samples_every_type() {
    let server = Server::start();
    let mut c = server.raw();
    assert_eq!(usage(&mut c, &["missing"]), Reply::NilBulk);
    c.cmd(&["SET", "small", "x"]);
    c.cmd(&["SET", "large", &"x".repeat(100_000)]);
    let small = usage(&mut c, &["small"]).int();
    let large = usage(&mut c, &["large"]).int();
    assert!(
        small > 0 && large > 100_000 && large < 101_000,
        "{small} {large}"
    );
    // Every type, small and large (past the listpack limits), counts its elements.
    for n in [10usize, 1000] {
        for i in 0..n {
            let (f, v) = (format!("field:{i:04}"), format!("value:{i:04}"));
            c.cmd(&["HSET", &format!("h{n}"), &f, &v]);
            c.cmd(&["RPUSH", &format!("l{n}"), &v]);
            c.cmd(&["SADD", &format!("s{n}"), &v]);
            c.cmd(&["ZADD", &format!("z{n}"), &i.to_string(), &v]);
            c.cmd(&["XADD", &format!("x{n}"), "*", &f, &v]);
        }
    }
    for kind in ["h", "l", "s", "z", "x"] {
        let few = usage(&mut c, &[&format!("{kind}10")]).int();
        let many = usage(&mut c, &[&format!("{kind}1000")]).int();
        let all = usage(&mut c, &[&format!("{kind}1000"), "SAMPLES", "0"]).int();
        assert!(few > 100, "{kind}: {few}");
        assert!(many > few * 50, "{kind}: {few} for 10, {many} for 1000");
        // Sampling everything or five elements of same-sized elements gives about the same.
        assert!(
            all > many * 9 / 10 && all < many * 11 / 10,
            "{kind}: {many} vs {all}"
        );
    }
    c.cmd(&["SET", "expired", "v", "PX", "1"]);
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(usage(&mut c, &["expired"]), Reply::NilBulk);
}

#[test]
fn errors_are_redis_7s() {
    let redis = RedisServer::start();
    let server = Server::start();
    let (mut theirs, mut ours) = (redis.raw(), server.raw());
    for c in [&mut theirs, &mut ours] {
        c.cmd(&["HSET", "h", "a", "1"]);
    }
    let cases: &[&[&str]] = &[
        &["MEMORY", "USAGE", "h", "SAMPLES", "-1"],
        &["MEMORY", "USAGE", "h", "SAMPLES", "x"],
        &["MEMORY", "USAGE", "h", "SAMPLES"],
        &["MEMORY", "USAGE", "h", "FOO"],
        &["MEMORY", "USAGE"],
        &["MEMORY", "NOPE"],
        &["MEMORY", "USAGE", "missing"],
        &["MEMORY", "USAGE", "missing", "samples", "3"],
    ];
    for case in cases {
        assert_eq!(ours.cmd(case), theirs.cmd(case), "{case:?}");
    }
}
