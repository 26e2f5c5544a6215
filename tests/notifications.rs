//! Keyspace notifications, black box: `notify-keyspace-events` from the TOML and CONFIG SET,
//! `__keyspace@<db>__:<key>` and `__keyevent@<db>__:<event>` messages as Redis sends them, for
//! each event class the server has commands for (generic, string, hash, expired by lazy and
//! active expiry, new keys), and nothing for classes not selected.

mod common;

use std::time::Duration;

use common::{RawConn, Reply, Server};

fn raw(server: &Server) -> RawConn {
    RawConn::connect(server.addr())
}

fn words(conn: &mut RawConn, line: &str) -> Reply {
    let args: Vec<&str> = line.split(' ').collect();
    conn.cmd(&args)
}

/// Reads pmessages until the keyevent message about the sentinel key `end`; returns the
/// (channel, payload) pairs before it, without the sentinel's own messages.
fn collect(sub: &mut RawConn) -> Vec<(String, String)> {
    let mut out = Vec::new();
    loop {
        let reply = sub.read_reply();
        let items = reply.items();
        assert_eq!(items[0].text(), "pmessage", "{reply:?}");
        let (channel, payload) = (items[2].text(), items[3].text());
        if channel.ends_with(":end") {
            continue;
        }
        if payload == "end" {
            return out;
        }
        out.push((channel, payload));
    }
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn keyspace_and_keyevent_messages_for_each_class() {
    let server = Server::builder()
        .config("[server]\nnotify_keyspace_events = \"KEA\"\n")
        .start();
    let mut c = raw(&server);
    assert_eq!(
        words(&mut c, "CONFIG GET notify-keyspace-events"),
        Reply::Array(vec![
            Reply::bulk("notify-keyspace-events"),
            Reply::bulk("AKE")
        ])
    );
    let mut sub = raw(&server);
    words(&mut sub, "PSUBSCRIBE __key*@0__:*");
    // The sentinel is a string `end` written last in every round.
    let end = |c: &mut RawConn| words(c, "SET end 1");

    words(&mut c, "SET k v");
    end(&mut c);
    assert_eq!(
        collect(&mut sub),
        pairs(&[("__keyspace@0__:k", "set"), ("__keyevent@0__:set", "k"),])
    );
    words(&mut c, "INCRBY n 5");
    words(&mut c, "APPEND k x");
    words(&mut c, "EXPIRE k 100");
    words(&mut c, "PERSIST k");
    words(&mut c, "RENAME k k2");
    words(&mut c, "DEL k2");
    end(&mut c);
    assert_eq!(
        collect(&mut sub),
        pairs(&[
            ("__keyspace@0__:n", "incrby"),
            ("__keyevent@0__:incrby", "n"),
            ("__keyspace@0__:k", "append"),
            ("__keyevent@0__:append", "k"),
            ("__keyspace@0__:k", "expire"),
            ("__keyevent@0__:expire", "k"),
            ("__keyspace@0__:k", "persist"),
            ("__keyevent@0__:persist", "k"),
            ("__keyspace@0__:k", "rename_from"),
            ("__keyevent@0__:rename_from", "k"),
            ("__keyspace@0__:k2", "rename_to"),
            ("__keyevent@0__:rename_to", "k2"),
            ("__keyspace@0__:k2", "del"),
            ("__keyevent@0__:del", "k2"),
        ])
    );
    words(&mut c, "HSET h f v");
    words(&mut c, "HDEL h f");
    end(&mut c);
    assert_eq!(
        collect(&mut sub),
        pairs(&[
            ("__keyspace@0__:h", "hset"),
            ("__keyevent@0__:hset", "h"),
            ("__keyspace@0__:h", "hdel"),
            ("__keyevent@0__:hdel", "h"),
            ("__keyspace@0__:h", "del"),
            ("__keyevent@0__:del", "h"),
        ])
    );
    // Lazy expiry: the read that finds the key past its TTL removes it.
    words(&mut c, "SET lazy v PX 30");
    std::thread::sleep(Duration::from_millis(60));
    assert_eq!(words(&mut c, "GET lazy"), Reply::NilBulk);
    end(&mut c);
    let got = collect(&mut sub);
    assert!(
        got.contains(&("__keyevent@0__:expired".into(), "lazy".into())),
        "{got:?}"
    );
    assert!(
        got.contains(&("__keyspace@0__:lazy".into(), "expired".into())),
        "{got:?}"
    );
    // Active expiry: nobody touches the key; the sweep removes it.
    words(&mut c, "SET active v PX 30");
    let mut got = collect_until(&mut sub, "__keyevent@0__:expired", "active");
    got.retain(|(ch, _)| ch.contains("expired"));
    assert!(got.contains(&("__keyevent@0__:expired".into(), "active".into())));
    // Database numbers are in the channel.
    words(&mut c, "SELECT 3");
    words(&mut c, "SET other 1");
    words(&mut c, "SELECT 0");
    end(&mut c);
    // Db 3's messages are on db 3's channels, which the pattern leaves out.
    assert_eq!(collect(&mut sub), Vec::new());
}

fn collect_until(sub: &mut RawConn, channel: &str, payload: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    loop {
        let reply = sub.read_reply();
        let items = reply.items();
        let pair = (items[2].text(), items[3].text());
        let done = pair.0 == channel && pair.1 == payload;
        out.push(pair);
        if done {
            return out;
        }
    }
}

#[test]
fn classes_filter_and_new_keys() {
    let server = Server::start();
    let mut c = raw(&server);
    // Off by default: nothing is published.
    assert_eq!(
        words(&mut c, "CONFIG GET notify-keyspace-events").items()[1],
        Reply::bulk("")
    );
    let mut sub = raw(&server);
    words(&mut sub, "PSUBSCRIBE __key*");
    words(&mut c, "SET a 1");
    // Keyevent only, string class and new keys only.
    assert_eq!(
        words(&mut c, "CONFIG SET notify-keyspace-events E$n"),
        Reply::ok()
    );
    assert_eq!(
        words(&mut c, "CONFIG GET notify-keyspace-events").items()[1],
        Reply::bulk("$nE")
    );
    words(&mut c, "SET a 2"); // exists: set only
    words(&mut c, "DEL a"); // generic: not selected
    words(&mut c, "HSET h f v"); // new, but hset is not selected
    words(&mut c, "SET end 1"); // new, then set
    let mut got = Vec::new();
    loop {
        let reply = sub.read_reply();
        let items = reply.items();
        got.push((items[2].text(), items[3].text()));
        if items[3].text() == "end" && items[2].text().ends_with(":set") {
            break;
        }
    }
    assert_eq!(
        got,
        pairs(&[
            ("__keyevent@0__:set", "a"),
            ("__keyevent@0__:new", "h"),
            ("__keyevent@0__:new", "end"),
            ("__keyevent@0__:set", "end"),
        ])
    );
    assert_eq!(
        words(&mut c, "CONFIG SET notify-keyspace-events Q"),
        Reply::error("ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")
    );
    // Turned off again: nothing more.
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "notify-keyspace-events", ""]),
        Reply::ok()
    );
    words(&mut c, "SET quiet 1");
    let mut p = raw(&server);
    assert_eq!(
        words(&mut p, "PUBLISH __keyevent@0__:set marker"),
        Reply::Int(1)
    );
    let reply = sub.read_reply();
    assert_eq!(reply.items()[3].text(), "marker");
}

#[test]
fn invalid_flags_stop_startup() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("respite.toml"),
        "[server]\nnotify_keyspace_events = \"KEQ\"\n",
    )
    .unwrap();
    let out = common::run_respite(
        dir.path(),
        &["--config", "respite.toml", "--check-config"],
        &[],
    );
    let text = common::output_text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("server.notify_keyspace_events"), "{text}");
}

#[test]
fn reads_of_missing_keys_report_keymiss_with_flag_m() {
    let server = Server::start();
    let mut c = raw(&server);
    assert_eq!(
        words(&mut c, "CONFIG SET notify-keyspace-events KEm"),
        Reply::ok()
    );
    let mut sub = raw(&server);
    words(&mut sub, "PSUBSCRIBE __key*@0__:*");
    words(&mut c, "SET present v");
    words(&mut c, "GET present");
    words(&mut c, "GET nokey");
    words(&mut c, "HGET nohash f");
    // The sentinel: a miss on `end`.
    words(&mut c, "GET end");
    // As redis-server 7.0 sends them (a hit and the write send nothing under KEm).
    assert_eq!(
        collect(&mut sub),
        pairs(&[
            ("__keyspace@0__:nokey", "keymiss"),
            ("__keyevent@0__:keymiss", "nokey"),
            ("__keyspace@0__:nohash", "keymiss"),
            ("__keyevent@0__:keymiss", "nohash"),
        ])
    );
}
