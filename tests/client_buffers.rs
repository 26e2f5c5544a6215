//! Clients' buffers, black box: CLIENT LIST / CLIENT INFO with Redis 7.0's fields in its
//! order and their true figures (query buffer, arguments, transaction, reply buffer, pending
//! output), the idle query buffer freed as Redis's clients cron does, and the limits:
//! `client-query-buffer-limit` and `client-output-buffer-limit` (normal and pubsub classes,
//! hard and soft), several clients at once.

mod common;

use std::time::Duration;

use common::redis_server::RedisServer;
use common::{info_field, wait_until, RawConn, Reply, Server};

/// The `key=value` pairs of a CLIENT LIST line, in order.
fn fields(line: &str) -> Vec<(String, String)> {
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn field(line: &str, key: &str) -> String {
    fields(line)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no {key} in {line}"))
}

fn num(line: &str, key: &str) -> u64 {
    field(line, key)
        .parse()
        .unwrap_or_else(|_| panic!("{key} is not a number in {line}"))
}

/// Another client's CLIENT LIST line, or None once it is gone.
fn line_of(observer: &mut RawConn, id: i64) -> Option<String> {
    let text = observer
        .cmd(&["CLIENT", "LIST", "ID", &id.to_string()])
        .text();
    text.lines().next().map(str::to_string)
}

#[test]
fn client_info_has_redis_fields_in_order_with_true_values() {
    let server = Server::start();
    let mut c = server.raw();
    let line = c.cmd(&["CLIENT", "INFO"]).text();
    let keys: Vec<String> = fields(&line).into_iter().map(|(k, _)| k).collect();

    // Redis 7.0.15's own line, then 7.2's lib-name and lib-ver.
    let redis = RedisServer::start();
    let mut r = redis.raw();
    let redis_line = r.cmd(&["CLIENT", "INFO"]).text();
    let mut redis_keys: Vec<String> = fields(&redis_line).into_iter().map(|(k, _)| k).collect();
    for extra in ["lib-name", "lib-ver"] {
        if !redis_keys.iter().any(|k| k == extra) {
            redis_keys.push(extra.to_string());
        }
    }
    assert_eq!(keys, redis_keys, "{line}\n{redis_line}");

    // The same figures as Redis where both store the same thing.
    for key in [
        "qbuf",
        "argv-mem",
        "multi",
        "multi-mem",
        "obl",
        "oll",
        "omem",
    ] {
        assert_eq!(field(&line, key), field(&redis_line, key), "{key}: {line}");
    }
    assert_eq!(num(&line, "qbuf"), 26, "CLIENT INFO's own bytes: {line}");
    assert_eq!(num(&line, "argv-mem"), 10, "'client' + 'info': {line}");
    assert!(num(&line, "fd") > 2, "{line}");
    let qbuf_total = num(&line, "qbuf") + num(&line, "qbuf-free");
    assert!(qbuf_total >= 16 * 1024, "a read's worth of buffer: {line}");
    assert_eq!(num(&line, "rbs"), 16 * 1024, "{line}");
    assert!(
        num(&line, "tot-mem") >= qbuf_total + num(&line, "rbs"),
        "tot-mem counts the buffers: {line}"
    );
    assert_eq!(field(&line, "events"), "r");
}

/// A client in MULTI shows what it queued, a blocked one the command it waits in.
#[test]
fn transaction_and_blocked_command_memory() {
    let server = Server::start();
    let mut observer = server.raw();
    let mut tx = server.raw();
    let tx_id = tx.cmd(&["CLIENT", "ID"]).int();
    assert_eq!(tx.cmd(&["MULTI"]), Reply::ok());
    assert_eq!(tx.cmd(&["SET", "key", "value"]), Reply::simple("QUEUED"));
    let line = line_of(&mut observer, tx_id).expect("the client in MULTI");
    assert_eq!(num(&line, "multi"), 1, "{line}");
    assert!(num(&line, "multi-mem") >= 3 + 3 + 5, "{line}");
    assert_eq!(num(&line, "argv-mem"), 0, "it runs nothing now: {line}");
    assert_eq!(tx.cmd(&["EXEC"]), Reply::Array(vec![Reply::ok()]));
    let line = line_of(&mut observer, tx_id).expect("the client after EXEC");
    assert_eq!(
        (num(&line, "multi-mem"), field(&line, "multi")),
        (0, "-1".into())
    );

    let mut waiter = server.raw();
    let waiter_id = waiter.cmd(&["CLIENT", "ID"]).int();
    waiter.send_cmd(&["BLPOP", "list", "0"]);
    let mut line = String::new();
    wait_until("the client to block", common::IO_TIMEOUT, || {
        line = line_of(&mut observer, waiter_id).unwrap_or_default();
        field(&line, "flags").contains('b')
    });
    assert_eq!(num(&line, "argv-mem"), 5 + 4 + 1, "{line}");
    assert_eq!(observer.cmd(&["RPUSH", "list", "x"]), Reply::Int(1));
    assert_eq!(
        waiter.read_reply(),
        Reply::Array(vec![Reply::bulk("list"), Reply::bulk("x")])
    );
}

/// Redis frees the query buffer of a client idle for more than two seconds; it comes back
/// with the next command.
#[test]
fn idle_client_query_buffer_is_freed() {
    let server = Server::start();
    let mut observer = server.raw();
    let mut idle = server.raw();
    let id = idle.cmd(&["CLIENT", "ID"]).int();
    let line = line_of(&mut observer, id).expect("the client");
    assert!(num(&line, "qbuf-free") >= 16 * 1024, "{line}");
    wait_until(
        "the idle buffer to be freed",
        Duration::from_secs(60),
        || {
            let line = line_of(&mut observer, id).expect("the client");
            num(&line, "qbuf") + num(&line, "qbuf-free") == 0
        },
    );
    assert_eq!(idle.cmd(&["PING"]), Reply::simple("PONG"));
    let line = idle.cmd(&["CLIENT", "INFO"]).text();
    assert!(
        num(&line, "qbuf") + num(&line, "qbuf-free") >= 16 * 1024,
        "{line}"
    );
}

/// A client whose unparsed input passes client-query-buffer-limit is closed; the others go
/// on, and the half-sent command never runs.
#[test]
fn query_buffer_limit_closes_the_client() {
    let server = Server::start();
    let mut admin = server.raw();
    assert_eq!(
        admin.cmd(&["CONFIG", "SET", "client-query-buffer-limit", "1mb"]),
        Reply::ok()
    );
    let mut big = server.raw();
    let mut request = b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$3000000\r\n".to_vec();
    request.extend(std::iter::repeat_n(b'x', 1_500_000));
    let sender = big.send_in_background(request);
    big.expect_closed();
    let _ = sender.join();
    assert_eq!(admin.cmd(&["EXISTS", "big"]), Reply::Int(0));
    assert_eq!(admin.cmd(&["PING"]), Reply::simple("PONG"));
    // Under the limit, the same request is served.
    assert_eq!(
        admin.cmd(&["CONFIG", "SET", "client-query-buffer-limit", "1gb"]),
        Reply::ok()
    );
    let value = "y".repeat(3_000_000);
    let mut ok = server.raw();
    assert_eq!(ok.cmd(&["SET", "big", &value]), Reply::ok());
    assert_eq!(admin.cmd(&["STRLEN", "big"]), Reply::Int(3_000_000));
    wait_until("the closing to be logged", common::IO_TIMEOUT, || {
        server.stderr().contains("max query buffer length")
    });
}

fn fill_list(conn: &mut RawConn, key: &str) {
    let item = "x".repeat(1000);
    for _ in 0..150 {
        conn.cmd(&["LPUSH", key, &item]);
    }
}

/// Redis's obuf-limits: a reply past the normal class's hard limit is never sent, the client
/// is closed, everyone else is served.
#[test]
fn reply_past_the_normal_hard_limit_is_never_sent() {
    let server = Server::start();
    let mut admin = server.raw();
    fill_list(&mut admin, "mylist");
    assert_eq!(
        admin.cmd(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "normal 100000 0 0"
        ]),
        Reply::ok()
    );
    let mut big = server.raw();
    assert_eq!(big.cmd(&["CLIENT", "SETNAME", "mybiglist"]), Reply::ok());
    // A small reply is fine.
    assert_eq!(big.cmd(&["LLEN", "mylist"]), Reply::Int(150));
    big.send_cmd(&["LRANGE", "mylist", "0", "-1"]);
    big.expect_closed();
    let list = admin.cmd(&["CLIENT", "LIST"]).text();
    assert!(!list.contains("name=mybiglist"), "{list}");
    let info = admin.cmd(&["INFO", "stats"]).text();
    assert_eq!(
        info_field(&info, "client_output_buffer_limit_disconnections").as_deref(),
        Some("1")
    );
    // Other clients read the same list in full without a limit.
    assert_eq!(
        admin.cmd(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "normal 0 0 0"
        ]),
        Reply::ok()
    );
    assert_eq!(
        admin.cmd(&["LRANGE", "mylist", "0", "-1"]).items().len(),
        150
    );
}

/// Redis's obuf-limits: a pipeline whose replies pass the limit gets none of them, and the
/// commands after the limit never run; a transaction runs completely first.
#[test]
fn pipeline_stops_and_transaction_completes_at_the_output_limit() {
    let server = Server::start();
    let mut admin = server.raw();
    assert_eq!(
        admin.cmd(&["SET", "bigkey", &"x".repeat(10_000)]),
        Reply::ok()
    );
    fill_list(&mut admin, "mylist2");
    assert_eq!(
        admin.cmd(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "normal 100000 0 0"
        ]),
        Reply::ok()
    );
    let mut pipe = server.raw();
    let mut buf = Vec::new();
    for i in 0..15 {
        let i = i.to_string();
        buf.extend(common::encode(&["SET", &format!("p{i}"), &i]));
        buf.extend(common::encode(&["GET", "bigkey"]));
    }
    pipe.send(&buf);
    pipe.expect_closed();
    assert_eq!(admin.cmd(&["EXISTS", "p0"]), Reply::Int(1));
    assert_eq!(admin.cmd(&["EXISTS", "p14"]), Reply::Int(0), "never ran");

    let mut tx = server.raw();
    assert_eq!(tx.cmd(&["SET", "k1", "v1"]), Reply::ok());
    assert_eq!(tx.cmd(&["MULTI"]), Reply::ok());
    for cmd in [
        &["SET", "k2", "v2"][..],
        &["GET", "k2"],
        &["LRANGE", "mylist2", "0", "-1"],
        &["SET", "k3", "v3"],
        &["DEL", "k1"],
    ] {
        assert_eq!(tx.cmd(cmd), Reply::simple("QUEUED"));
    }
    tx.send_cmd(&["EXEC"]);
    tx.expect_closed();
    assert_eq!(admin.cmd(&["GET", "k1"]), Reply::NilBulk);
    assert_eq!(admin.cmd(&["GET", "k2"]), Reply::bulk("v2"));
    assert_eq!(admin.cmd(&["GET", "k3"]), Reply::bulk("v3"));
}

/// A subscriber that does not read: its pending output shows in CLIENT LIST (omem, oll)
/// and, past the pubsub hard limit, it is closed while the publisher goes on.
#[test]
fn unread_pubsub_output_grows_until_the_hard_limit() {
    let server = Server::start();
    let mut publisher = server.raw();
    assert_eq!(
        publisher.cmd(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 100000 0 0"
        ]),
        Reply::ok()
    );
    let mut sub = server.raw();
    let id = sub.cmd(&["CLIENT", "ID"]).int();
    assert_eq!(
        sub.cmd(&["SUBSCRIBE", "foo"]).items()[0],
        Reply::bulk("subscribe")
    );
    let pubsub_list = publisher.cmd(&["CLIENT", "LIST", "TYPE", "pubsub"]).text();
    assert_eq!(pubsub_list.lines().count(), 1, "{pubsub_list}");
    assert_eq!(num(&pubsub_list, "id"), id as u64);
    let message = "m".repeat(1000);
    let (mut max_omem, mut max_oll) = (0, 0);
    let mut publishes = 0;
    while let Some(line) = line_of(&mut publisher, id) {
        max_omem = max_omem.max(num(&line, "omem"));
        max_oll = max_oll.max(num(&line, "oll"));
        publisher.cmd(&["PUBLISH", "foo", &message]);
        publishes += 1;
        assert!(publishes < 1_000_000, "the subscriber is never closed");
    }
    assert!((1000..100_000).contains(&max_omem), "omem {max_omem}");
    assert!(max_oll >= 1, "oll {max_oll}");
    assert_eq!(publisher.cmd(&["PING"]), Reply::simple("PONG"));
    let info = publisher.cmd(&["INFO", "stats"]).text();
    assert_eq!(
        info_field(&info, "client_output_buffer_limit_disconnections").as_deref(),
        Some("1")
    );
}

/// Past the soft limit for longer than its seconds, a subscriber is closed even when
/// nothing more is published to it.
#[test]
fn pubsub_soft_limit_closes_a_quiet_slow_reader() {
    let server = Server::start();
    let mut publisher = server.raw();
    assert_eq!(
        publisher.cmd(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 0 100000 1"
        ]),
        Reply::ok()
    );
    let mut sub = server.raw();
    let id = sub.cmd(&["CLIENT", "ID"]).int();
    assert_eq!(
        sub.cmd(&["SUBSCRIBE", "foo"]).items()[0],
        Reply::bulk("subscribe")
    );
    let message = "m".repeat(1000);
    // Until it is past the soft limit (or already closed, on a slow machine).
    while let Some(line) = line_of(&mut publisher, id) {
        if num(&line, "omem") > 100_000 {
            break;
        }
        publisher.cmd(&["PUBLISH", "foo", &message]);
    }
    wait_until(
        "the slow reader to be closed",
        Duration::from_secs(60),
        || line_of(&mut publisher, id).is_none(),
    );
}
