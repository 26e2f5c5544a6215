//! CLIENT subcommands: ID, SETNAME, GETNAME, LIST, INFO, KILL, REPLY, NO-EVICT.

mod common;

use common::{Reply, Server};

/// The `key=value` fields of one CLIENT LIST / CLIENT INFO line.
fn client_fields(line: &str) -> Vec<(String, String)> {
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn field(line: &str, key: &str) -> Option<String> {
    client_fields(line)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

#[test]
fn client_id_is_unique_and_increasing() {
    let server = Server::start();
    let mut a = server.raw();
    let mut b = server.raw();
    let id_a = a.cmd(&["CLIENT", "ID"]).int();
    let id_b = b.cmd(&["CLIENT", "ID"]).int();
    assert!(id_a > 0);
    assert!(id_b > id_a, "ids must increase: {id_a} then {id_b}");
    assert_eq!(a.cmd(&["CLIENT", "ID"]).int(), id_a);
}

#[test]
fn setname_getname() {
    let server = Server::start();
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["CLIENT", "GETNAME"]), Reply::NilBulk);
    assert_eq!(conn.cmd(&["CLIENT", "SETNAME", "worker-1"]), Reply::ok());
    assert_eq!(conn.cmd(&["CLIENT", "GETNAME"]), Reply::bulk("worker-1"));
    for bad in ["a b", "a\nb", "tab\there"] {
        assert_eq!(
            conn.cmd(&["CLIENT", "SETNAME", bad]),
            Reply::error("ERR Client names cannot contain spaces, newlines or special characters."),
            "{bad:?}"
        );
    }
    assert_eq!(conn.cmd(&["CLIENT", "GETNAME"]), Reply::bulk("worker-1"));
    // An empty name clears it.
    assert_eq!(conn.cmd(&["CLIENT", "SETNAME", ""]), Reply::ok());
    assert_eq!(conn.cmd(&["CLIENT", "GETNAME"]), Reply::NilBulk);
    assert_eq!(
        conn.cmd(&["CLIENT", "SETNAME"]),
        Reply::error("ERR wrong number of arguments for 'client|setname' command")
    );
}

#[test]
fn setname_with_the_redis_crate() {
    let server = Server::start();
    let mut con = server.conn();
    let _: () = redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg("from-crate")
        .query(&mut con)
        .unwrap();
    let name: Option<String> = redis::cmd("CLIENT").arg("GETNAME").query(&mut con).unwrap();
    assert_eq!(name.as_deref(), Some("from-crate"));
}

#[test]
fn client_list_shows_every_connection() {
    let server = Server::start();
    let mut a = server.raw();
    let mut b = server.raw();
    assert_eq!(a.cmd(&["CLIENT", "SETNAME", "alpha"]), Reply::ok());
    assert_eq!(b.cmd(&["SELECT", "2"]), Reply::ok());
    let id_a = a.cmd(&["CLIENT", "ID"]).int();
    let id_b = b.cmd(&["CLIENT", "ID"]).int();

    let list = a.cmd(&["CLIENT", "LIST"]).text();
    assert!(list.ends_with('\n'), "{list:?}");
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    let line_a = lines
        .iter()
        .find(|l| field(l, "id") == Some(id_a.to_string()))
        .unwrap_or_else(|| panic!("no line for id {id_a}: {list}"));
    let line_b = lines
        .iter()
        .find(|l| field(l, "id") == Some(id_b.to_string()))
        .unwrap_or_else(|| panic!("no line for id {id_b}: {list}"));
    assert_eq!(field(line_a, "name").as_deref(), Some("alpha"));
    assert_eq!(field(line_b, "name").as_deref(), Some(""));
    assert_eq!(field(line_a, "db").as_deref(), Some("0"));
    assert_eq!(field(line_b, "db").as_deref(), Some("2"));
    let local = a.stream.local_addr().unwrap().to_string();
    assert_eq!(field(line_a, "addr"), Some(local));
    assert_eq!(
        field(line_a, "laddr"),
        Some(server.addr().to_string()),
        "{line_a}"
    );
    for key in ["age", "idle", "flags", "cmd", "resp", "user"] {
        assert!(
            field(line_a, key).is_some(),
            "CLIENT LIST lacks {key}: {line_a}"
        );
    }
    assert_eq!(field(line_a, "cmd").as_deref(), Some("client|list"));
    assert_eq!(field(line_b, "cmd").as_deref(), Some("client|id"));

    // Filter by id.
    let only_b = a.cmd(&["CLIENT", "LIST", "ID", &id_b.to_string()]).text();
    assert_eq!(only_b.lines().count(), 1, "{only_b}");
    assert_eq!(field(&only_b, "id"), Some(id_b.to_string()));

    // A closed connection disappears (eventually: the close is noticed asynchronously).
    drop(b);
    common::wait_until(
        "the closed client to leave CLIENT LIST",
        common::IO_TIMEOUT,
        || a.cmd(&["CLIENT", "LIST"]).text().lines().count() == 1,
    );
}

#[test]
fn client_info_describes_the_caller() {
    let server = Server::start();
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["CLIENT", "SETNAME", "me"]), Reply::ok());
    assert_eq!(conn.cmd(&["SELECT", "3"]), Reply::ok());
    let id = conn.cmd(&["CLIENT", "ID"]).int();
    let info = conn.cmd(&["CLIENT", "INFO"]).text();
    assert!(info.ends_with('\n'), "{info:?}");
    assert_eq!(info.lines().count(), 1, "{info}");
    assert_eq!(field(&info, "id"), Some(id.to_string()));
    assert_eq!(field(&info, "name").as_deref(), Some("me"));
    assert_eq!(field(&info, "db").as_deref(), Some("3"));
    assert_eq!(field(&info, "resp").as_deref(), Some("2"));
    assert_eq!(field(&info, "cmd").as_deref(), Some("client|info"));
    assert!(matches!(conn.cmd(&["HELLO", "3"]), Reply::Map(_)));
    let info = conn.cmd(&["CLIENT", "INFO"]).text();
    assert_eq!(field(&info, "resp").as_deref(), Some("3"));
}

#[test]
fn kill_another_connection_by_id() {
    let server = Server::start();
    let mut killer = server.raw();
    let mut victim = server.raw();
    let victim_id = victim.cmd(&["CLIENT", "ID"]).int();
    assert_eq!(
        killer.cmd(&["CLIENT", "KILL", "ID", &victim_id.to_string()]),
        Reply::Int(1)
    );
    victim.send(b"PING\r\n");
    victim.expect_closed();
    assert_eq!(
        killer.cmd(&["CLIENT", "KILL", "ID", &victim_id.to_string()]),
        Reply::Int(0)
    );
    assert_eq!(
        killer.cmd(&["CLIENT", "KILL", "ID", "999999"]),
        Reply::Int(0)
    );
    assert_eq!(killer.cmd(&["PING"]), Reply::simple("PONG"));
}

#[test]
fn kill_another_connection_by_addr() {
    let server = Server::start();
    let mut killer = server.raw();
    let mut victim = server.raw();
    assert_eq!(victim.cmd(&["PING"]), Reply::simple("PONG"));
    let addr = victim.stream.local_addr().unwrap().to_string();
    // The old form replies OK.
    assert_eq!(killer.cmd(&["CLIENT", "KILL", &addr]), Reply::ok());
    victim.send(b"PING\r\n");
    victim.expect_closed();
    assert_eq!(
        killer.cmd(&["CLIENT", "KILL", &addr]),
        Reply::error("ERR No such client")
    );

    // The filter form replies a count.
    let mut victim2 = server.raw();
    assert_eq!(victim2.cmd(&["PING"]), Reply::simple("PONG"));
    let addr2 = victim2.stream.local_addr().unwrap().to_string();
    assert_eq!(
        killer.cmd(&["CLIENT", "KILL", "ADDR", &addr2]),
        Reply::Int(1)
    );
    victim2.send(b"PING\r\n");
    victim2.expect_closed();
    assert_eq!(
        killer.cmd(&["CLIENT", "KILL", "ADDR", "1.2.3.4:5"]),
        Reply::Int(0)
    );
}

#[test]
fn kill_skips_the_caller_unless_told_otherwise() {
    let server = Server::start();
    let mut conn = server.raw();
    let id = conn.cmd(&["CLIENT", "ID"]).int().to_string();
    assert_eq!(conn.cmd(&["CLIENT", "KILL", "ID", &id]), Reply::Int(0));
    assert_eq!(conn.cmd(&["PING"]), Reply::simple("PONG"));
    assert_eq!(
        conn.cmd(&["CLIENT", "KILL", "ID", &id, "SKIPME", "no"]),
        Reply::Int(1)
    );
    conn.expect_closed();
}

#[test]
fn kill_syntax_errors() {
    let server = Server::start();
    let mut conn = server.raw();
    assert_eq!(
        conn.cmd(&["CLIENT", "KILL", "ID", "notanumber"]),
        Reply::error("ERR client-id should be greater than 0")
    );
    assert_eq!(
        conn.cmd(&["CLIENT", "KILL", "BOGUS", "x"]),
        Reply::error("ERR syntax error")
    );
}

#[test]
fn reply_off_on_skip() {
    let server = Server::start();
    let mut conn = server.raw();
    conn.send_cmd(&["CLIENT", "REPLY", "OFF"]);
    conn.send_cmd(&["SET", "a", "1"]);
    conn.send_cmd(&["GET", "a"]);
    conn.send_cmd(&["NOSUCHCOMMAND"]);
    // ON replies OK; nothing before it was sent.
    assert_eq!(conn.cmd(&["CLIENT", "REPLY", "ON"]), Reply::ok());
    assert_eq!(conn.cmd(&["GET", "a"]), Reply::bulk("1"));

    conn.send_cmd(&["CLIENT", "REPLY", "SKIP"]);
    conn.send_cmd(&["SET", "b", "2"]);
    assert_eq!(conn.cmd(&["GET", "b"]), Reply::bulk("2"));
    assert_eq!(conn.cmd(&["GET", "b"]), Reply::bulk("2"));

    assert_eq!(
        conn.cmd(&["CLIENT", "REPLY", "MAYBE"]),
        Reply::error("ERR syntax error")
    );
}

#[test]
fn reply_off_does_not_affect_other_clients() {
    let server = Server::start();
    let mut quiet = server.raw();
    let mut other = server.raw();
    quiet.send_cmd(&["CLIENT", "REPLY", "OFF"]);
    quiet.send_cmd(&["SET", "q", "1"]);
    common::wait_until("the silent SET", common::IO_TIMEOUT, || {
        other.cmd(&["EXISTS", "q"]) == Reply::Int(1)
    });
    assert_eq!(other.cmd(&["GET", "q"]), Reply::bulk("1"));
}

#[test]
fn no_evict() {
    let server = Server::start();
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["CLIENT", "NO-EVICT", "on"]), Reply::ok());
    assert_eq!(conn.cmd(&["CLIENT", "NO-EVICT", "OFF"]), Reply::ok());
    assert_eq!(
        conn.cmd(&["CLIENT", "NO-EVICT", "maybe"]),
        Reply::error("ERR syntax error")
    );
}

#[test]
fn unknown_subcommand() {
    let server = Server::start();
    let mut conn = server.raw();
    assert_eq!(
        conn.cmd(&["CLIENT", "frobnicate"]),
        Reply::error("ERR unknown subcommand 'frobnicate'. Try CLIENT HELP.")
    );
    assert_eq!(
        conn.cmd(&["CLIENT"]),
        Reply::error("ERR wrong number of arguments for 'client' command")
    );
}

/// CLIENT REPLY OFF and SKIP silence replies, not pushes (Redis 7.0): the SUBSCRIBE
/// confirmation, the messages of other clients' PUBLISH and tracking invalidations still
/// reach the client, in RESP2 and RESP3.
#[test]
fn reply_off_and_skip_keep_pushes() {
    let server = Server::start();
    let mut publisher = server.raw();
    for mode in ["OFF", "SKIP"] {
        for proto in ["2", "3"] {
            let mut quiet = server.raw();
            assert!(!quiet.cmd(&["HELLO", proto]).is_error());
            quiet.send_cmd(&["CLIENT", "REPLY", mode]);
            let channel = format!("ch-{mode}-{proto}");
            quiet.send_cmd(&["SUBSCRIBE", &channel]);
            let confirm = quiet.read_reply();
            assert_eq!(
                confirm.items(),
                &[
                    Reply::bulk("subscribe"),
                    Reply::bulk(&channel),
                    Reply::Int(1)
                ],
                "{mode} RESP{proto}"
            );
            assert_eq!(
                publisher.cmd(&["PUBLISH", &channel, "hello"]),
                Reply::Int(1)
            );
            let msg = quiet.read_reply();
            assert_eq!(
                msg.items(),
                &[
                    Reply::bulk("message"),
                    Reply::bulk(&channel),
                    Reply::bulk("hello")
                ],
                "{mode} RESP{proto}"
            );
        }
    }
    // Invalidations, RESP3: the GET's reply is silenced, the invalidation is not.
    let mut quiet = server.raw();
    assert!(!quiet.cmd(&["HELLO", "3"]).is_error());
    assert_eq!(quiet.cmd(&["CLIENT", "TRACKING", "ON"]), Reply::ok());
    let id = quiet.cmd(&["CLIENT", "ID"]).int().to_string();
    quiet.send_cmd(&["CLIENT", "REPLY", "OFF"]);
    quiet.send_cmd(&["GET", "tracked"]);
    common::wait_until("the silent GET to run", common::IO_TIMEOUT, || {
        let line = publisher.cmd(&["CLIENT", "LIST", "ID", &id]).text();
        field(&line, "cmd").as_deref() == Some("get")
    });
    assert_eq!(publisher.cmd(&["SET", "tracked", "1"]), Reply::ok());
    let push = quiet.read_reply();
    assert_eq!(
        push.items(),
        &[
            Reply::bulk("invalidate"),
            Reply::Array(vec![Reply::bulk("tracked")])
        ],
        "{push:?}"
    );
}
