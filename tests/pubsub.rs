//! Pub/Sub, black box: fan-out to many subscribers, patterns, shard channels, PUBSUB
//! introspection, RESP2 subscribed mode and its refusals, RESP3 pushes mixed with replies, and
//! a subscriber that never reads being cut off at its output buffer limit while everyone else
//! goes on being served.

mod common;

use std::thread;
use std::time::Duration;

use common::{cmd, info_field, wait_until, RawConn, Reply, Server};

fn raw(server: &Server) -> RawConn {
    RawConn::connect(server.addr())
}

fn push(words: &[&str]) -> Reply {
    Reply::Array(words.iter().map(Reply::bulk).collect())
}

fn confirm(kind: &str, name: &str, count: i64) -> Reply {
    Reply::Array(vec![
        Reply::bulk(kind),
        Reply::bulk(name),
        Reply::Int(count),
    ])
}

#[test]
fn fan_out_to_many_subscribers() {
    let server = Server::start();
    let mut subscribers: Vec<RawConn> = (0..50).map(|_| raw(&server)).collect();
    for s in subscribers.iter_mut() {
        assert_eq!(
            s.cmd(&["SUBSCRIBE", "news"]),
            confirm("subscribe", "news", 1)
        );
    }
    let mut publisher = server.conn();
    for i in 0..20 {
        let n: i64 = cmd(&["PUBLISH", "news", &format!("m{i}")])
            .query(&mut publisher)
            .unwrap();
        assert_eq!(n, 50);
    }
    let n: i64 = cmd(&["PUBLISH", "elsewhere", "x"])
        .query(&mut publisher)
        .unwrap();
    assert_eq!(n, 0);
    for s in subscribers.iter_mut() {
        for i in 0..20 {
            assert_eq!(s.read_reply(), push(&["message", "news", &format!("m{i}")]));
        }
    }
    // The redis crate's pub/sub works against it as well.
    let client = server.client();
    let mut con = client.get_connection().unwrap();
    let mut ps = con.as_pubsub();
    ps.subscribe("crate").unwrap();
    ps.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let n: i64 = cmd(&["PUBLISH", "crate", "hello"])
        .query(&mut publisher)
        .unwrap();
    assert_eq!(n, 1);
    let msg = ps.get_message().unwrap();
    assert_eq!(msg.get_channel_name(), "crate");
    assert_eq!(msg.get_payload::<String>().unwrap(), "hello");
}

#[test]
fn patterns_and_shard_channels() {
    let server = Server::start();
    let mut s = raw(&server);
    assert_eq!(
        s.cmd(&["PSUBSCRIBE", "user:*", "h?llo"]),
        confirm("psubscribe", "user:*", 1)
    );
    assert_eq!(s.read_reply(), confirm("psubscribe", "h?llo", 2));
    assert_eq!(
        s.cmd(&["SUBSCRIBE", "user:1"]),
        confirm("subscribe", "user:1", 3)
    );
    let mut p = raw(&server);
    // One for the channel, one for the pattern.
    assert_eq!(p.cmd(&["PUBLISH", "user:1", "a"]), Reply::Int(2));
    assert_eq!(s.read_reply(), push(&["message", "user:1", "a"]));
    assert_eq!(s.read_reply(), push(&["pmessage", "user:*", "user:1", "a"]));
    assert_eq!(p.cmd(&["PUBLISH", "hallo", "b"]), Reply::Int(1));
    assert_eq!(s.read_reply(), push(&["pmessage", "h?llo", "hallo", "b"]));
    assert_eq!(p.cmd(&["PUBLISH", "order:1", "c"]), Reply::Int(0));

    let mut sh = raw(&server);
    assert_eq!(
        sh.cmd(&["SSUBSCRIBE", "s1", "s2"]),
        confirm("ssubscribe", "s1", 1)
    );
    assert_eq!(sh.read_reply(), confirm("ssubscribe", "s2", 2));
    assert_eq!(p.cmd(&["SPUBLISH", "s2", "x"]), Reply::Int(1));
    assert_eq!(sh.read_reply(), push(&["smessage", "s2", "x"]));
    // Shard channels and plain channels are apart.
    assert_eq!(p.cmd(&["PUBLISH", "s2", "y"]), Reply::Int(0));

    // Introspection.
    assert_eq!(
        p.cmd(&["PUBSUB", "NUMSUB", "user:1", "nope"]),
        Reply::Array(vec![
            Reply::bulk("user:1"),
            Reply::Int(1),
            Reply::bulk("nope"),
            Reply::Int(0)
        ])
    );
    assert_eq!(p.cmd(&["PUBSUB", "NUMPAT"]), Reply::Int(2));
    assert_eq!(
        p.cmd(&["PUBSUB", "CHANNELS"]),
        Reply::Array(vec![Reply::bulk("user:1")])
    );
    assert_eq!(p.cmd(&["PUBSUB", "CHANNELS", "x*"]), Reply::Array(vec![]));
    let mut shards = p.cmd(&["PUBSUB", "SHARDCHANNELS"]).items().to_vec();
    shards.sort_by_key(|r| r.text());
    assert_eq!(shards, vec![Reply::bulk("s1"), Reply::bulk("s2")]);
    assert_eq!(
        p.cmd(&["PUBSUB", "SHARDNUMSUB", "s1"]),
        Reply::Array(vec![Reply::bulk("s1"), Reply::Int(1)])
    );
    let info = p.cmd(&["INFO", "stats"]).text();
    assert_eq!(info_field(&info, "pubsub_channels").as_deref(), Some("1"));
    assert_eq!(info_field(&info, "pubsub_patterns").as_deref(), Some("2"));
    assert_eq!(
        info_field(&info, "pubsubshard_channels").as_deref(),
        Some("2")
    );

    // Unsubscribing everything, then once more with nothing left.
    assert_eq!(
        s.cmd(&["PUNSUBSCRIBE", "h?llo"]),
        confirm("punsubscribe", "h?llo", 2)
    );
    assert_eq!(s.cmd(&["UNSUBSCRIBE"]), confirm("unsubscribe", "user:1", 1));
    assert_eq!(
        s.cmd(&["PUNSUBSCRIBE"]),
        confirm("punsubscribe", "user:*", 0)
    );
    assert_eq!(
        s.cmd(&["UNSUBSCRIBE"]),
        Reply::Array(vec![
            Reply::bulk("unsubscribe"),
            Reply::NilBulk,
            Reply::Int(0)
        ])
    );
    // Out of subscribed mode: normal commands work again.
    assert_eq!(s.cmd(&["SET", "k", "v"]), Reply::ok());
    // A disconnected subscriber is forgotten.
    drop(sh);
    wait_until("shard subscriber gone", Duration::from_secs(10), || {
        p.cmd(&["PUBSUB", "SHARDNUMSUB", "s1"])
            == Reply::Array(vec![Reply::bulk("s1"), Reply::Int(0)])
    });
}

#[test]
fn resp2_subscribed_mode_refuses_other_commands() {
    let server = Server::start();
    let mut s = raw(&server);
    s.cmd(&["SUBSCRIBE", "a"]);
    assert_eq!(s.cmd(&["PING"]), push(&["pong", ""]));
    assert_eq!(s.cmd(&["PING", "x"]), push(&["pong", "x"]));
    for (command, name) in [
        (&["GET", "k"][..], "get"),
        (&["MULTI"][..], "multi"),
        (&["HELLO", "3"][..], "hello"),
    ] {
        assert_eq!(
            s.cmd(command),
            Reply::error(&format!(
                "ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
            ))
        );
    }
    // RESET leaves subscribed mode and drops the subscriptions.
    assert_eq!(s.cmd(&["RESET"]), Reply::simple("RESET"));
    assert_eq!(s.cmd(&["PING"]), Reply::simple("PONG"));
    let mut p = raw(&server);
    assert_eq!(p.cmd(&["PUBLISH", "a", "x"]), Reply::Int(0));
    s.cmd(&["SUBSCRIBE", "a"]);
    assert_eq!(s.cmd(&["QUIT"]), Reply::ok());
    s.expect_closed();
}

#[test]
fn resp3_mixes_pushes_and_replies_in_order() {
    let server = Server::start();
    let mut s = raw(&server);
    s.cmd(&["HELLO", "3"]);
    assert_eq!(
        s.cmd(&["SUBSCRIBE", "ch"]),
        Reply::Push(vec![
            Reply::bulk("subscribe"),
            Reply::bulk("ch"),
            Reply::Int(1)
        ])
    );
    // Normal commands are allowed; its own publish arrives before the reply, as in Redis.
    assert_eq!(s.cmd(&["SET", "k", "v"]), Reply::ok());
    s.send_cmd(&["PUBLISH", "ch", "self"]);
    assert_eq!(
        s.read_reply(),
        Reply::Push(vec![
            Reply::bulk("message"),
            Reply::bulk("ch"),
            Reply::bulk("self")
        ])
    );
    assert_eq!(s.read_reply(), Reply::Int(1));
    assert_eq!(s.cmd(&["PING"]), Reply::simple("PONG"));
    // Messages from others arrive between replies.
    let mut p = raw(&server);
    for i in 0..100 {
        p.cmd(&["PUBLISH", "ch", &i.to_string()]);
    }
    // Published before GET was sent, so all of them come before its reply.
    s.send_cmd(&["GET", "k"]);
    let mut seen = Vec::new();
    while seen.len() < 100 {
        match s.read_reply() {
            Reply::Push(items) => seen.push(items[2].text()),
            other => panic!("unexpected {other:?}"),
        }
    }
    let expected: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    assert_eq!(seen, expected);
    assert_eq!(s.read_reply(), Reply::bulk("v"));
}

#[test]
fn resp3_replies_and_pushes_keep_order_under_load() {
    let server = Server::start();
    let mut s = raw(&server);
    s.cmd(&["HELLO", "3"]);
    s.cmd(&["SUBSCRIBE", "ch"]);
    let publisher = {
        let addr = server.addr();
        thread::spawn(move || {
            let mut p = RawConn::connect(addr);
            for i in 0..500 {
                p.cmd(&["PUBLISH", "ch", &i.to_string()]);
            }
        })
    };
    // Interleave our own commands: every reply must be an integer in order, every push a
    // message in publication order.
    let mut next_push = 0;
    for i in 1..=200 {
        s.send_cmd(&["INCR", "n"]);
        loop {
            match s.read_reply() {
                Reply::Push(items) => {
                    assert_eq!(items[2].text(), next_push.to_string());
                    next_push += 1;
                }
                Reply::Int(n) => {
                    assert_eq!(n, i);
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    publisher.join().unwrap();
    while next_push < 500 {
        let Reply::Push(items) = s.read_reply() else {
            panic!("expected a push")
        };
        assert_eq!(items[2].text(), next_push.to_string());
        next_push += 1;
    }
}

#[test]
fn slow_subscriber_is_cut_off_while_others_continue() {
    let server = Server::builder()
        .config("[server]\nclient_output_buffer_limit = \"pubsub 1mb 512kb 60\"\n")
        .start();
    let mut admin = raw(&server);
    assert_eq!(
        admin.cmd(&["CONFIG", "GET", "client-output-buffer-limit"]),
        Reply::Array(vec![
            Reply::bulk("client-output-buffer-limit"),
            Reply::bulk("normal 0 0 0 slave 268435456 67108864 60 pubsub 1048576 524288 60"),
        ])
    );
    // Subscribes and never reads.
    let mut slow = raw(&server);
    assert_eq!(
        slow.cmd(&["SUBSCRIBE", "big"]),
        confirm("subscribe", "big", 1)
    );
    // Reads everything, on its own thread.
    let mut normal = raw(&server);
    assert_eq!(
        normal.cmd(&["SUBSCRIBE", "big"]),
        confirm("subscribe", "big", 1)
    );
    let reader = thread::spawn(move || {
        let mut count = 0usize;
        loop {
            match normal.read_reply() {
                Reply::Array(items) if items[0].text() == "message" => {
                    if items[2].text() == "stop" {
                        return count;
                    }
                    count += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    });
    let payload = "x".repeat(64 * 1024);
    let mut published = 0usize;
    let mut publisher = raw(&server);
    // Far more than the socket buffers can hold: the slow one must be cut off on the way.
    for _ in 0..4000 {
        publisher.cmd(&["PUBLISH", "big", &payload]);
        published += 1;
        let numsub = publisher.cmd(&["PUBSUB", "NUMSUB", "big"]);
        if numsub.items()[1] == Reply::Int(1) {
            break;
        }
    }
    wait_until(
        "slow subscriber disconnected",
        Duration::from_secs(20),
        || publisher.cmd(&["PUBSUB", "NUMSUB", "big"]).items()[1] == Reply::Int(1),
    );
    let info = admin.cmd(&["INFO", "stats"]).text();
    assert_eq!(
        info_field(&info, "client_output_buffer_limit_disconnections").as_deref(),
        Some("1")
    );
    // The normal subscriber got every message, including those after the cut.
    for _ in 0..10 {
        assert_eq!(publisher.cmd(&["PUBLISH", "big", "small"]), Reply::Int(1));
        published += 1;
    }
    assert_eq!(publisher.cmd(&["PUBLISH", "big", "stop"]), Reply::Int(1));
    assert_eq!(reader.join().unwrap(), published);
    // And an ordinary client is served as ever.
    assert_eq!(admin.cmd(&["SET", "k", "v"]), Reply::ok());
    assert_eq!(admin.cmd(&["GET", "k"]), Reply::bulk("v"));
    // The slow one finds its connection closed once it reads.
    let _ = slow.read_to_close();
}

#[test]
fn output_buffer_limit_config_set() {
    let server = Server::start();
    let mut c = raw(&server);
    assert_eq!(
        c.cmd(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 1mb 500kb 10"
        ]),
        Reply::ok()
    );
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "client-output-buffer-limit"])
            .items()[1],
        Reply::bulk("normal 0 0 0 slave 268435456 67108864 60 pubsub 1048576 512000 10")
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "client-output-buffer-limit", "normal 1mb 500kb"]),
        Reply::error("ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - Wrong number of arguments in buffer limit configuration.")
    );
}
