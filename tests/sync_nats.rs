//! The sync plugin across servers, over a real nats-server started by the test: envelopes
//! reach every server's subscribers in order and exactly once; replicas survive a NATS
//! restart (gap, refetch, converge); a thousand local subscribers cost one NATS
//! subscription; PUBLISH is bridged to SUBSCRIBE and PSUBSCRIBE clients of other servers.

mod common;

use std::time::Duration;

use common::nats_server::NatsServer;
use common::{info_field, wait_until, RawConn, Reply, Server};
use respite_sync_client::{connect, ReplicaOptions};

const WAIT: Duration = Duration::from_secs(20);

fn server(nats: &NatsServer, settings: &str) -> Server {
    Server::builder()
        .config(format!(
            "[plugins]\nenabled = [\"sync\"]\n[plugins.sync]\ntransport = \"nats\"\n\
             nats_url = \"{}\"\n{settings}\n",
            nats.url()
        ))
        .start()
}

fn sync_info(s: &Server, field: &str) -> String {
    let mut c = s.conn();
    let info: String = redis::cmd("INFO").arg("sync").query(&mut c).unwrap();
    info_field(&info, field).unwrap_or_else(|| panic!("no {field} in {info}"))
}

fn instance(s: &Server) -> String {
    sync_info(s, "sync_instance_id")
}

/// Waits until the NATS server lists exactly `subjects` for server `s`'s connection.
fn wait_subscriptions(nats: &NatsServer, s: &Server, subjects: &[&str]) {
    let id = instance(s);
    let mut want: Vec<String> = subjects.iter().map(|s| s.to_string()).collect();
    want.sort();
    wait_until(&format!("NATS subscriptions {want:?}"), WAIT, || {
        nats.subscriptions_of(&id).is_some_and(|mut have| {
            have.sort();
            have == want
        })
    });
}

fn subscribe(s: &Server, key: &str) -> RawConn {
    let mut c = s.raw();
    c.send_cmd(&["SYNC.SUBSCRIBE", key]);
    let r = c.read_reply();
    assert_eq!(r.items()[0], Reply::bulk("sync.subscribe"), "{r:?}");
    c
}

fn next_envelope(c: &mut RawConn) -> (Option<String>, i64) {
    let r = c.read_reply();
    let items = r.items();
    assert_eq!(items[0], Reply::bulk("sync"), "{r:?}");
    let value = match &items[2] {
        Reply::NilBulk | Reply::Null => None,
        v => Some(v.text()),
    };
    (value, items[4].int())
}

#[test]
fn a_write_reaches_the_subscribers_of_three_servers_in_order_once() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    // JSON on the wire here; the other tests use the default, MessagePack.
    let servers: Vec<Server> = (0..3)
        .map(|_| server(&nats, "encoding = \"json\""))
        .collect();
    let mut subs: Vec<RawConn> = servers
        .iter()
        .flat_map(|s| [subscribe(s, "user:1"), subscribe(s, "user:1")])
        .collect();
    for s in &servers {
        wait_subscriptions(&nats, s, &["respite.sync.0.user:1"]);
    }
    let mut writer = servers[0].raw();
    for i in 1..=100 {
        let v = format!("v{i}");
        assert_eq!(writer.cmd(&["SYNC.SET", "user:1", &v]), Reply::Int(i));
    }
    // The last envelope tells that nothing was delivered twice in between.
    writer.cmd(&["SYNC.SET", "user:1", "end"]);
    for sub in subs.iter_mut() {
        for i in 1..=100 {
            assert_eq!(next_envelope(sub), (Some(format!("v{i}")), i));
        }
        assert_eq!(next_envelope(sub), (Some("end".into()), 101));
    }
    // Writes on another server reach the first one's subscribers too.
    servers[2].raw().cmd(&["SYNC.SET", "user:1", "from C"]);
    for sub in subs.iter_mut() {
        assert_eq!(next_envelope(sub), (Some("from C".into()), 1));
    }
    assert_eq!(sync_info(&servers[0], "sync_nats_decode_errors"), "0");
}

fn text_gate(v: Option<&[u8]>) -> Result<Option<String>, String> {
    v.map(|b| String::from_utf8(b.to_vec()).map_err(|e| e.to_string()))
        .transpose()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_converge_after_nats_restarts() {
    let Some(mut nats) = NatsServer::start() else {
        return;
    };
    let a = server(&nats, "");
    let b = server(&nats, "");
    // Receipts from B (over NATS), snapshots from A, which holds the key.
    let replica = connect(
        ReplicaOptions {
            key: b"doc".to_vec(),
            subscribe_url: b.url(),
            fetch_url: Some(a.url()),
        },
        text_gate,
    )
    .await
    .expect("replica");
    wait_subscriptions(&nats, &b, &["respite.sync.0.doc"]);
    let mut w = a.raw();
    for round in 0..2 {
        for i in 0..10 {
            w.cmd(&["SYNC.SET", "doc", &format!("r{round}-{i}")]);
        }
        let want = w.cmd(&["SYNC.GET", "doc"]).items()[2].int() as u64;
        let r = replica.clone();
        tokio::task::spawn_blocking(move || {
            wait_until("the replica to follow", WAIT, || {
                r.meta().sequence == Some(want)
            })
        })
        .await
        .unwrap();

        // NATS goes away mid-stream: what A writes meanwhile reaches nobody.
        nats.stop();
        wait_until("A to notice", WAIT, || {
            sync_info(&a, "sync_nats_connected") == "0"
        });
        let dropped = |s: &Server| {
            sync_info(s, "sync_nats_dropped_while_disconnected")
                .parse::<u64>()
                .unwrap()
        };
        let dropped_before = dropped(&a);
        for i in 0..5 {
            w.cmd(&["SYNC.SET", "doc", &format!("lost{round}-{i}")]);
        }
        wait_until("A to drop what it could not send", WAIT, || {
            dropped(&a) >= dropped_before + 5
        });
        nats.start_again();
        wait_subscriptions(&nats, &b, &["respite.sync.0.doc"]);
        wait_until("A to reconnect", WAIT, || {
            sync_info(&a, "sync_nats_connected") == "1"
        });
        // The next envelope B delivers is beyond the replica's sequence plus one: a gap,
        // and the refetch from A brings the replica to A's value.
        let gaps_before = replica.stats().gaps;
        let mut i = 0;
        let r = replica.clone();
        let mut w2 = a.raw();
        let converged = tokio::task::spawn_blocking(move || {
            wait_until("the replica to converge", WAIT, || {
                i += 1;
                let seq = w2
                    .cmd(&["SYNC.SET", "doc", &format!("after{round}-{i}")])
                    .int();
                std::thread::sleep(Duration::from_millis(50));
                r.meta().sequence == Some(seq as u64)
            });
            w2
        })
        .await
        .unwrap();
        drop(converged);
        replica.when_idle().await;
        let st = replica.stats();
        assert!(st.gaps > gaps_before, "{st:?}");
        assert!(st.refetches >= st.gaps.min(1), "{st:?}");
        let auth = w.cmd(&["SYNC.GET", "doc"]);
        assert_eq!(replica.get(), Some(Some(auth.items()[0].text())));
        assert_eq!(replica.meta().sequence, Some(auth.items()[2].int() as u64));
        assert!(
            sync_info(&a, "sync_nats_dropped_while_disconnected")
                .parse::<u64>()
                .unwrap()
                >= 5
        );
    }
    replica.dispose();
}

#[test]
fn a_thousand_local_subscribers_cost_one_nats_subscription() {
    raise_fd_limit(4096);
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let a = server(&nats, "");
    let b = server(&nats, "");
    let mut subs: Vec<RawConn> = (0..1000).map(|_| a.raw()).collect();
    for c in subs.iter_mut() {
        c.send_cmd(&["SYNC.SUBSCRIBE", "hot"]);
    }
    for c in subs.iter_mut() {
        assert_eq!(c.read_reply().items()[0], Reply::bulk("sync.subscribe"));
    }
    wait_subscriptions(&nats, &a, &["respite.sync.0.hot"]);
    assert_eq!(sync_info(&a, "sync_keys"), "1");
    assert_eq!(sync_info(&a, "sync_subscriptions"), "1000");
    assert_eq!(sync_info(&a, "sync_nats_subscriptions"), "1");
    // One write on B reaches all of them, once.
    b.raw().cmd(&["SYNC.SET", "hot", "x"]);
    b.raw().cmd(&["SYNC.SET", "hot", "y"]);
    for c in subs.iter_mut() {
        assert_eq!(next_envelope(c), (Some("x".into()), 1));
        assert_eq!(next_envelope(c), (Some("y".into()), 2));
    }
    // Half leave by SYNC.UNSUBSCRIBE, half by disconnecting: the subscription goes with
    // the last.
    for c in subs.iter_mut().take(500) {
        c.send_cmd(&["SYNC.UNSUBSCRIBE", "hot"]);
        assert_eq!(c.read_reply().items()[0], Reply::bulk("sync.unsubscribe"));
    }
    assert_eq!(sync_info(&a, "sync_subscriptions"), "500");
    wait_subscriptions(&nats, &a, &["respite.sync.0.hot"]);
    drop(subs);
    wait_until("the last local subscriber to go", WAIT, || {
        sync_info(&a, "sync_keys") == "0"
    });
    wait_subscriptions(&nats, &a, &[]);
    assert_eq!(sync_info(&a, "sync_nats_subscriptions"), "0");
}

fn raise_fd_limit(want: u64) {
    // SAFETY: getrlimit/setrlimit on this process with a valid struct.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < want {
            lim.rlim_cur = want.min(lim.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// A SUBSCRIBE and a PSUBSCRIBE client on `s`.
fn pubsub_clients(s: &Server) -> [RawConn; 2] {
    let mut sub = s.raw();
    sub.send_cmd(&["SUBSCRIBE", "news"]);
    assert_eq!(sub.read_reply().items()[0], Reply::bulk("subscribe"));
    let mut psub = s.raw();
    psub.send_cmd(&["PSUBSCRIBE", "ne*"]);
    assert_eq!(psub.read_reply().items()[0], Reply::bulk("psubscribe"));
    [sub, psub]
}

/// The message of the next `message` or `pmessage` on `c`.
fn next_message(c: &mut RawConn) -> String {
    let r = c.read_reply();
    let items = r.items();
    match items[0].text().as_str() {
        "message" => items[2].text(),
        "pmessage" => items[3].text(),
        other => panic!("unexpected push {other}: {r:?}"),
    }
}

#[test]
fn publish_reaches_subscribers_of_every_server_exactly_once() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let servers: Vec<Server> = (0..3)
        .map(|_| server(&nats, "bridge_pubsub = true"))
        .collect();
    let mut clients: Vec<RawConn> = servers.iter().flat_map(pubsub_clients).collect();
    for s in &servers {
        wait_subscriptions(&nats, s, &["respite.sync.pubsub"]);
    }
    for (i, s) in servers.iter().enumerate() {
        let msg = format!("from {i}");
        // PUBLISH counts the receivers on its own server.
        assert_eq!(s.raw().cmd(&["PUBLISH", "news", &msg]), Reply::Int(2));
        for c in clients.iter_mut() {
            assert_eq!(next_message(c), msg);
        }
    }
    // Nothing came twice: the next message each client sees is the last one sent.
    servers[1].raw().cmd(&["PUBLISH", "news", "end"]);
    for c in clients.iter_mut() {
        assert_eq!(next_message(c), "end");
    }
    // Channels nobody matches are not delivered anywhere.
    assert_eq!(
        servers[0].raw().cmd(&["PUBLISH", "other", "x"]),
        Reply::Int(0)
    );
    servers[2].raw().cmd(&["PUBLISH", "news", "last"]);
    for c in clients.iter_mut() {
        assert_eq!(next_message(c), "last");
    }
}

#[test]
fn keyspace_notifications_are_bridged_when_asked() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let settings = "bridge_pubsub = true\nbridge_notifications = true";
    let a = server(&nats, settings);
    let b = server(&nats, settings);
    let mut sub = b.raw();
    sub.send_cmd(&["SUBSCRIBE", "__keyspace@0__:user:1"]);
    assert_eq!(sub.read_reply().items()[0], Reply::bulk("subscribe"));
    wait_subscriptions(&nats, &a, &["respite.sync.pubsub"]);
    wait_subscriptions(&nats, &b, &["respite.sync.pubsub"]);
    let mut w = a.raw();
    assert_eq!(
        w.cmd(&["CONFIG", "SET", "notify-keyspace-events", "K$"]),
        Reply::ok()
    );
    w.cmd(&["SET", "user:1", "x"]);
    w.cmd(&["SET", "user:1", "y"]);
    for _ in 0..2 {
        let r = sub.read_reply();
        assert_eq!(r.items()[2], Reply::bulk("set"), "{r:?}");
    }
}
