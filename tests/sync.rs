//! The sync plugin on one server (in-process transport): SYNC.* commands, sequences that
//! survive deletes and restarts, pushes in order in RESP2 and RESP3, mirrored writes,
//! subscription bookkeeping, and the replica client crate against a real server.

mod common;

use std::time::Duration;

use common::{info_field, wait_until, RawConn, Reply, Server};
use respite_sync_client::{connect, ReplicaOptions, Status};

const WAIT: Duration = Duration::from_secs(20);

fn server(settings: &str) -> Server {
    Server::builder()
        .config(format!(
            "[plugins]\nenabled = [\"sync\"]\n[plugins.sync]\n{settings}\n"
        ))
        .start()
}

fn sync_info(s: &Server, field: &str) -> String {
    let mut c = s.conn();
    let info: String = redis::cmd("INFO").arg("sync").query(&mut c).unwrap();
    info_field(&info, field).unwrap_or_else(|| panic!("no {field} in {info}"))
}

/// A raw connection subscribed to `keys` (confirmations read and checked).
fn subscriber(s: &Server, resp3: bool, keys: &[&str]) -> RawConn {
    let mut c = s.raw();
    if resp3 {
        let hello = c.cmd(&["HELLO", "3"]);
        assert!(!hello.is_error(), "{hello:?}");
    }
    let mut args = vec!["SYNC.SUBSCRIBE"];
    args.extend_from_slice(keys);
    c.send_cmd(&args);
    for (i, key) in keys.iter().enumerate() {
        let r = c.read_reply();
        let items = r.items();
        assert_eq!(items[0], Reply::bulk("sync.subscribe"), "{r:?}");
        assert_eq!(items[1], Reply::bulk(key));
        assert_eq!(items[2], Reply::Int(i as i64 + 1));
        assert_eq!(matches!(r, Reply::Push(_)), resp3, "{r:?}");
    }
    c
}

/// The next push on `c`: (key, value, schema_version, sequence).
fn next_envelope(c: &mut RawConn) -> (String, Option<String>, String, i64) {
    let r = c.read_reply();
    let items = r.items();
    assert_eq!(items.len(), 5, "{r:?}");
    assert_eq!(items[0], Reply::bulk("sync"), "{r:?}");
    let value = match &items[2] {
        Reply::NilBulk | Reply::Null => None,
        v => Some(v.text()),
    };
    (items[1].text(), value, items[3].text(), items[4].int())
}

#[test]
fn set_get_del_and_info() {
    let s = server("");
    let mut c = s.raw();
    assert_eq!(c.cmd(&["SYNC.GET", "user:1"]), Reply::NilArray);
    assert_eq!(
        c.cmd(&["SYNC.SET", "user:1", "a", "VERSION", "3.1"]),
        Reply::Int(1)
    );
    assert_eq!(c.cmd(&["SYNC.SET", "user:1", "b"]), Reply::Int(2));
    assert_eq!(
        c.cmd(&["SYNC.GET", "user:1"]),
        Reply::Array(vec![Reply::bulk("b"), Reply::bulk("3.1"), Reply::Int(2)]),
        "without VERSION the schema version is kept"
    );
    // The value is an ordinary string key.
    assert_eq!(c.cmd(&["GET", "user:1"]), Reply::bulk("b"));
    let info = c.cmd(&["SYNC.INFO", "user:1"]);
    assert_eq!(info.field("sequence"), Some(&Reply::Int(2)));
    assert_eq!(info.field("schema_version"), Some(&Reply::bulk("3.1")));
    assert_eq!(info.field("type"), Some(&Reply::bulk("string")));
    assert_eq!(info.field("subscribers"), Some(&Reply::Int(0)));

    assert_eq!(c.cmd(&["SYNC.DEL", "user:1", "missing"]), Reply::Int(1));
    assert_eq!(c.cmd(&["EXISTS", "user:1"]), Reply::Int(0));
    assert_eq!(
        c.cmd(&["SYNC.GET", "user:1"]),
        Reply::Array(vec![Reply::NilBulk, Reply::bulk("3.1"), Reply::Int(3)]),
        "a deleted synced key keeps its sequence"
    );
    assert_eq!(c.cmd(&["SYNC.DEL", "user:1"]), Reply::Int(0));
    assert_eq!(
        c.cmd(&["SYNC.SET", "user:1", "c", "VERSION", "4"]),
        Reply::Int(4),
        "re-created, it goes on from its last sequence"
    );
    // A key that exists but was never synced: sequence 0.
    c.cmd(&["SET", "plain", "p"]);
    assert_eq!(
        c.cmd(&["SYNC.GET", "plain"]),
        Reply::Array(vec![Reply::bulk("p"), Reply::bulk(""), Reply::Int(0)])
    );
    // Errors.
    let e = c.cmd(&["SYNC.SET", "k", "v", "VERSION"]);
    assert_eq!(e, Reply::error("ERR syntax error"));
    let e = c.cmd(&["SYNC.SET", "k", "v", "NOPE", "x"]);
    assert_eq!(e, Reply::error("ERR syntax error"));
    let e = c.cmd(&["SYNC.SET", "k"]);
    assert!(e.is_error(), "{e:?}");
    assert_eq!(c.cmd(&["EXISTS", "k"]), Reply::Int(0));
    let e = c.cmd(&["SYNC.GET"]);
    assert!(e.is_error(), "{e:?}");
    // The reserved hash must stay a hash: a clobbered one is an error, not a reset.
    c.cmd(&["SET", "__respite:sync", "x"]);
    let e = c.cmd(&["SYNC.SET", "user:1", "d"]);
    assert!(e.text_or_error().contains("WRONGTYPE"), "{e:?}");
    assert_eq!(c.cmd(&["GET", "user:1"]), Reply::bulk("c"));
}

trait TextOrError {
    fn text_or_error(&self) -> String;
}

impl TextOrError for Reply {
    fn text_or_error(&self) -> String {
        match self {
            Reply::Error(e) => e.clone(),
            other => other.text(),
        }
    }
}

#[test]
fn sequences_survive_restarts_and_crashes() {
    let mut s = server("");
    let mut c = s.raw();
    assert_eq!(
        c.cmd(&["SYNC.SET", "k", "1", "VERSION", "v1"]),
        Reply::Int(1)
    );
    assert_eq!(c.cmd(&["SYNC.SET", "k", "2"]), Reply::Int(2));
    assert_eq!(c.cmd(&["SYNC.DEL", "k"]), Reply::Int(1));
    drop(c);
    s.restart();
    let mut c = s.raw();
    assert_eq!(c.cmd(&["SYNC.SET", "k", "3"]), Reply::Int(4));
    drop(c);
    // A reply means committed: a crash right after loses nothing.
    s.crash_restart();
    let mut c = s.raw();
    assert_eq!(
        c.cmd(&["SYNC.GET", "k"]),
        Reply::Array(vec![Reply::bulk("3"), Reply::bulk("v1"), Reply::Int(4)])
    );
    assert_eq!(c.cmd(&["SYNC.SET", "k", "4"]), Reply::Int(5));
}

#[test]
fn subscribers_receive_every_later_envelope_in_order() {
    let s = server("");
    let mut writer = s.raw();
    writer.cmd(&["SYNC.SET", "k", "before"]);
    let mut resp2 = subscriber(&s, false, &["k", "other"]);
    let mut resp3 = subscriber(&s, true, &["k"]);
    for i in 0..50 {
        let v = format!("v{i}");
        assert_eq!(
            writer.cmd(&["SYNC.SET", "k", &v, "VERSION", "2"]),
            Reply::Int(i + 2)
        );
    }
    writer.cmd(&["SYNC.SET", "unrelated", "x"]);
    assert_eq!(writer.cmd(&["SYNC.DEL", "k"]), Reply::Int(1));
    for sub in [&mut resp2, &mut resp3] {
        for i in 0..50 {
            let (key, value, version, seq) = next_envelope(sub);
            assert_eq!(key, "k");
            assert_eq!(value.as_deref(), Some(format!("v{i}").as_str()));
            assert_eq!(version, "2");
            assert_eq!(
                seq,
                i + 2,
                "the first envelope is the first after subscribing"
            );
        }
        assert_eq!(next_envelope(sub), ("k".into(), None, "2".into(), 52));
    }
    // A subscriber is still an ordinary client.
    assert_eq!(resp3.cmd(&["SYNC.GET", "other"]), Reply::Null);
    let info = writer.cmd(&["SYNC.INFO", "k"]);
    assert_eq!(info.field("subscribers"), Some(&Reply::Int(2)));
}

#[test]
fn unsubscribing_and_disconnecting_forget_keys() {
    let s = server("");
    let mut a = subscriber(&s, false, &["k1", "k2", "k3"]);
    let b = subscriber(&s, true, &["k1"]);
    assert_eq!(sync_info(&s, "sync_keys"), "3");
    assert_eq!(sync_info(&s, "sync_subscriptions"), "4");
    assert_eq!(sync_info(&s, "sync_clients"), "2");
    a.send_cmd(&["SYNC.UNSUBSCRIBE", "k2"]);
    let r = a.read_reply();
    assert_eq!(
        r,
        Reply::Array(vec![
            Reply::bulk("sync.unsubscribe"),
            Reply::bulk("k2"),
            Reply::Int(2)
        ])
    );
    assert_eq!(sync_info(&s, "sync_keys"), "2");
    // Without arguments: every key, one confirmation each.
    a.send_cmd(&["SYNC.UNSUBSCRIBE"]);
    let rs = a.read_replies(2);
    assert_eq!(rs[0].items()[1], Reply::bulk("k1"));
    assert_eq!(rs[1].items()[1], Reply::bulk("k3"));
    assert_eq!(rs[1].items()[2], Reply::Int(0));
    a.send_cmd(&["SYNC.UNSUBSCRIBE"]);
    assert_eq!(
        a.read_reply(),
        Reply::Array(vec![
            Reply::bulk("sync.unsubscribe"),
            Reply::NilBulk,
            Reply::Int(0)
        ])
    );
    assert_eq!(sync_info(&s, "sync_keys"), "1");
    drop(b);
    wait_until("the closed subscriber's keys to go", WAIT, || {
        sync_info(&s, "sync_keys") == "0" && sync_info(&s, "sync_subscriptions") == "0"
    });
    // RESET drops them too.
    let mut c = subscriber(&s, false, &["k9"]);
    assert_eq!(c.cmd(&["RESET"]), Reply::simple("RESET"));
    assert_eq!(sync_info(&s, "sync_keys"), "0");
}

#[test]
fn mirrored_writes_publish_envelopes() {
    let s = server("mirror = [\"user:*\"]");
    let mut sub = subscriber(&s, false, &["user:1", "user:h", "other"]);
    let mut c = s.raw();
    c.cmd(&["SET", "user:1", "a"]);
    assert_eq!(
        next_envelope(&mut sub),
        ("user:1".into(), Some("a".into()), "".into(), 1)
    );
    // SYNC.SET of a mirrored key: one envelope, not two.
    c.cmd(&["SYNC.SET", "user:1", "b", "VERSION", "7"]);
    assert_eq!(
        next_envelope(&mut sub),
        ("user:1".into(), Some("b".into()), "7".into(), 2)
    );
    // Not mirrored: nothing.
    c.cmd(&["SET", "other", "x"]);
    // Other types: a nil value, the key changed.
    c.cmd(&["HSET", "user:h", "f", "v"]);
    assert_eq!(
        next_envelope(&mut sub),
        ("user:h".into(), None, "".into(), 1)
    );
    // A transaction: each command's change, in order, as its events are delivered.
    c.cmd(&["MULTI"]);
    c.cmd(&["APPEND", "user:1", "c"]);
    c.cmd(&["APPEND", "user:1", "d"]);
    c.cmd(&["EXEC"]);
    assert_eq!(
        next_envelope(&mut sub),
        ("user:1".into(), Some("bc".into()), "7".into(), 3)
    );
    assert_eq!(
        next_envelope(&mut sub),
        ("user:1".into(), Some("bcd".into()), "7".into(), 4)
    );
    c.cmd(&["DEL", "user:1"]);
    let (key, value, _, _) = next_envelope(&mut sub);
    assert_eq!((key.as_str(), value), ("user:1", None));
    let info = c.cmd(&["SYNC.INFO", "user:h"]);
    assert_eq!(info.field("type"), Some(&Reply::bulk("hash")));
    // SET, HSET, two APPENDs, DEL; the SYNC.SET is not a mirrored one.
    assert_eq!(sync_info(&s, "sync_mirrored"), "5");
    assert_eq!(sync_info(&s, "sync_envelopes"), "6");
}

fn text_gate(v: Option<&[u8]>) -> Result<Option<String>, String> {
    match v {
        None => Ok(None),
        Some(b) if b.starts_with(b"!") => Err("rejected by the schema".into()),
        Some(b) => String::from_utf8(b.to_vec())
            .map(Some)
            .map_err(|e| e.to_string()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_follows_a_server() {
    let s = server("");
    let url = s.url();
    let mut c = s.raw();
    c.cmd(&["SYNC.SET", "doc", "seed", "VERSION", "1"]);
    let replica = connect(
        ReplicaOptions {
            key: b"doc".to_vec(),
            subscribe_url: url.clone(),
            fetch_url: None,
        },
        text_gate,
    )
    .await
    .expect("replica");
    assert_eq!(replica.get(), Some(Some("seed".to_string())));
    assert_eq!(replica.meta().sequence, Some(1));
    let writer = tokio::task::spawn_blocking(move || {
        for i in 0..20 {
            c.cmd(&["SYNC.SET", "doc", &format!("v{i}")]);
        }
        c
    });
    let mut c = writer.await.unwrap();
    let r = replica.clone();
    tokio::task::spawn_blocking(move || {
        wait_until("the replica to reach sequence 21", WAIT, || {
            r.meta().sequence == Some(21)
        })
    })
    .await
    .unwrap();
    assert_eq!(replica.get(), Some(Some("v19".to_string())));
    let st = replica.stats();
    assert_eq!(
        (st.applied, st.gaps, st.refetches, st.parse_errors),
        (21, 0, 0, 0)
    );
    assert_eq!(replica.meta().status, Status::Ok);

    // A value the gate rejects: skew, the good value kept, one refetch (which is rejected
    // too, and not refetched again).
    c.cmd(&["SYNC.SET", "doc", "!bad"]);
    let r = replica.clone();
    tokio::task::spawn_blocking(move || {
        wait_until("the rejection", WAIT, || r.stats().parse_errors == 2)
    })
    .await
    .unwrap();
    replica.when_idle().await;
    assert_eq!(replica.meta().status, Status::Skew);
    assert_eq!(replica.get(), Some(Some("v19".to_string())));
    assert_eq!(replica.stats().refetches, 1);
    // The next good write is a gap from the last good sequence: refetch, recover.
    c.cmd(&["SYNC.SET", "doc", "good"]);
    let r = replica.clone();
    tokio::task::spawn_blocking(move || {
        wait_until("recovery", WAIT, || r.meta().sequence == Some(23))
    })
    .await
    .unwrap();
    replica.when_idle().await;
    assert_eq!(replica.get(), Some(Some("good".to_string())));
    assert_eq!(replica.meta().status, Status::Ok);
    assert_eq!(replica.stats().gaps, 1);

    assert_eq!(
        c.cmd(&["SYNC.INFO", "doc"]).field("subscribers"),
        Some(&Reply::Int(1))
    );
    replica.dispose();
    replica.dispose();
    wait_until("the disposed replica to unsubscribe", WAIT, || {
        c.cmd(&["SYNC.INFO", "doc"]).field("subscribers") == Some(&Reply::Int(0))
    });
}

#[test]
fn impossible_settings_stop_startup() {
    for (settings, expected) in [
        (
            "bridge_pubsub = true",
            "bridge_pubsub needs transport = \"nats\"",
        ),
        ("subject_prefix = \"a b.\"", "is not a NATS subject prefix"),
        ("transport = \"carrier-pigeon\"", "carrier-pigeon"),
        ("nope = 1", "nope"),
        (
            "transport = \"nats\"\nnats_url = \"http://x:1\"",
            "is not a NATS URL",
        ),
    ] {
        let err = Server::builder()
            .config(format!(
                "[plugins]\nenabled = [\"sync\"]\n[plugins.sync]\n{settings}\n"
            ))
            .try_start()
            .err()
            .unwrap_or_else(|| panic!("{settings} was accepted"));
        assert!(err.contains(expected), "{settings}: {err}");
    }
}
