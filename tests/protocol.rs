//! RESP on the wire: pipelining, inline commands, RESP3, malformed input and the
//! protocol limits. Expected bytes are those of Redis 7.

mod common;

use common::{encode, Reply, Server};

/// Asserts that the next thing on the connection is exactly `error` followed by a close.
fn expect_error_and_close(conn: &mut common::RawConn, error: &str) {
    let rest = conn.read_to_close();
    assert_eq!(
        String::from_utf8_lossy(&rest),
        format!("-{error}\r\n"),
        "expected the error reply and then a close"
    );
}

#[test]
fn many_commands_in_one_write_are_answered_in_order() {
    let server = Server::start();
    let mut conn = server.raw();
    let n = 3000;
    let mut pipeline = Vec::new();
    let mut expected = Vec::new();
    for i in 0..n {
        match i % 4 {
            0 => {
                pipeline.extend(encode(&[
                    "SET".to_string(),
                    format!("key:{i}"),
                    format!("value:{i}"),
                ]));
                expected.push(Reply::ok());
            }
            1 => {
                pipeline.extend(encode(&["GET".to_string(), format!("key:{}", i - 1)]));
                expected.push(Reply::bulk(format!("value:{}", i - 1)));
            }
            2 => {
                pipeline.extend(encode(&["ECHO".to_string(), format!("echo:{i}")]));
                expected.push(Reply::bulk(format!("echo:{i}")));
            }
            _ => {
                pipeline.extend(encode(&["GET", "no-such-key"]));
                expected.push(Reply::NilBulk);
            }
        }
    }
    let writer = conn.send_in_background(pipeline);
    for (i, want) in expected.iter().enumerate() {
        let got = conn.read_reply();
        assert_eq!(&got, want, "reply #{i}");
    }
    writer.join().unwrap().unwrap();
    assert_eq!(conn.cmd(&["DBSIZE"]), Reply::Int((n / 4) as i64));
}

#[test]
fn inline_and_multibulk_mixed_in_one_write() {
    let server = Server::start();
    let mut conn = server.raw();
    let mut bytes = b"PING\r\nSET a 1\r\n".to_vec();
    bytes.extend(encode(&["GET", "a"]));
    bytes.extend_from_slice(b"ECHO hi\nGET a\r\n");
    conn.send(&bytes);
    assert_eq!(
        conn.read_replies(5),
        vec![
            Reply::simple("PONG"),
            Reply::ok(),
            Reply::bulk("1"),
            Reply::bulk("hi"),
            Reply::bulk("1"),
        ]
    );
}

#[test]
fn a_command_split_across_many_writes() {
    let server = Server::start();
    let mut conn = server.raw();
    let bytes = encode(&["SET", "split-key", "split-value"]);
    for b in &bytes {
        conn.send(std::slice::from_ref(b));
    }
    assert_eq!(conn.read_reply(), Reply::ok());
    assert_eq!(conn.cmd(&["GET", "split-key"]), Reply::bulk("split-value"));
}

#[test]
fn inline_commands_with_quotes() {
    let server = Server::start();
    let mut conn = server.raw();
    assert_eq!(conn.inline("PING"), Reply::simple("PONG"));
    assert_eq!(conn.inline("ping"), Reply::simple("PONG"));
    assert_eq!(
        conn.inline(r#"ECHO "hello world""#),
        Reply::bulk("hello world")
    );
    assert_eq!(
        conn.inline("ECHO 'single quoted'"),
        Reply::bulk("single quoted")
    );
    // Double quotes understand escapes, including hex.
    assert_eq!(
        conn.inline(r#"SET "key with spaces" "a\x41\n\"q\"""#),
        Reply::ok()
    );
    assert_eq!(
        conn.cmd(&["GET", "key with spaces"]),
        Reply::bulk("aA\n\"q\"")
    );
    // Two quoted arguments are two arguments.
    assert_eq!(
        conn.inline(r#"ECHO "a b" 'c d'"#),
        Reply::error("ERR wrong number of arguments for 'echo' command")
    );
    // Several spaces separate arguments like one.
    assert_eq!(conn.inline("SET    k2     v2"), Reply::ok());
    assert_eq!(conn.inline("GET k2"), Reply::bulk("v2"));
    // Empty lines are ignored.
    conn.send(b"\r\n\r\nPING\r\n");
    assert_eq!(conn.read_reply(), Reply::simple("PONG"));
}

#[test]
fn inline_unbalanced_quotes_is_a_protocol_error() {
    let server = Server::start();
    let mut other = server.conn();
    let mut conn = server.raw();
    conn.send(b"SET \"foo\r\n");
    expect_error_and_close(
        &mut conn,
        "ERR Protocol error: unbalanced quotes in request",
    );
    let pong: String = redis::cmd("PING").query(&mut other).unwrap();
    assert_eq!(pong, "PONG");
}

#[test]
fn resp3_via_hello() {
    let server = Server::start();
    let mut conn = server.raw();
    let hello = conn.cmd(&["HELLO", "3"]);
    assert!(
        matches!(hello, Reply::Map(_)),
        "HELLO 3 must reply a map: {hello:?}"
    );
    assert_eq!(hello.field("proto"), Some(&Reply::Int(3)));
    assert!(
        matches!(hello.field("id"), Some(Reply::Int(_))),
        "{hello:?}"
    );
    for key in ["server", "version", "mode", "role", "modules"] {
        assert!(hello.field(key).is_some(), "HELLO lacks {key}: {hello:?}");
    }
    assert_eq!(hello.field("mode").unwrap().text(), "standalone");
    assert_eq!(hello.field("role").unwrap().text(), "master");

    // RESP3 null for a missing key, a map for CONFIG GET.
    assert_eq!(conn.cmd(&["GET", "missing"]), Reply::Null);
    let cfg = conn.cmd(&["CONFIG", "GET", "maxclients"]);
    assert!(matches!(cfg, Reply::Map(_)), "{cfg:?}");
    assert_eq!(cfg.field("maxclients"), Some(&Reply::bulk("10000")));
    assert_eq!(conn.cmd(&["SET", "k", "v"]), Reply::ok());
    assert_eq!(conn.cmd(&["GET", "k"]), Reply::bulk("v"));

    // HELLO without a version reports the current protocol.
    let again = conn.cmd(&["HELLO"]);
    assert_eq!(again.field("proto"), Some(&Reply::Int(3)));

    // Back to RESP2: flat arrays and $-1.
    let hello2 = conn.cmd(&["HELLO", "2"]);
    assert!(matches!(hello2, Reply::Array(_)), "{hello2:?}");
    assert_eq!(hello2.items().len(), 14, "{hello2:?}");
    assert_eq!(hello2.field("proto"), Some(&Reply::Int(2)));
    assert_eq!(conn.cmd(&["GET", "missing"]), Reply::NilBulk);
    let cfg = conn.cmd(&["CONFIG", "GET", "maxclients"]);
    assert_eq!(
        cfg,
        Reply::Array(vec![Reply::bulk("maxclients"), Reply::bulk("10000")])
    );
}

#[test]
fn resp3_with_the_redis_crate() {
    let server = Server::start();
    let client = redis::Client::open(format!("redis://{}/?protocol=resp3", server.addr())).unwrap();
    let mut con = client.get_connection().unwrap();
    let _: () = redis::cmd("SET").arg("a").arg("b").query(&mut con).unwrap();
    let v: Option<String> = redis::cmd("GET").arg("a").query(&mut con).unwrap();
    assert_eq!(v.as_deref(), Some("b"));
    let v: redis::Value = redis::cmd("GET").arg("nope").query(&mut con).unwrap();
    assert_eq!(v, redis::Value::Nil);
}

#[test]
fn unsupported_protocol_version() {
    let server = Server::start();
    let mut conn = server.raw();
    assert_eq!(
        conn.cmd(&["HELLO", "4"]),
        Reply::error("NOPROTO unsupported protocol version")
    );
    assert_eq!(
        conn.cmd(&["HELLO", "1"]),
        Reply::error("NOPROTO unsupported protocol version")
    );
    assert_eq!(
        conn.cmd(&["HELLO", "abc"]),
        Reply::error("ERR Protocol version is not an integer or out of range")
    );
    assert_eq!(conn.cmd(&["PING"]), Reply::simple("PONG"));
}

#[test]
fn garbage_closes_only_that_connection() {
    let server = Server::start();
    let mut good = server.conn();
    let _: () = redis::cmd("SET")
        .arg("survivor")
        .arg("yes")
        .query(&mut good)
        .unwrap();

    let mut bad = server.raw();
    bad.send(b"*\xde\xad\xbe\xef\r\n\x00\x01\x02");
    expect_error_and_close(&mut bad, "ERR Protocol error: invalid multibulk length");

    let mut bad = server.raw();
    bad.send(b"*1\r\nfoo\r\n");
    expect_error_and_close(&mut bad, "ERR Protocol error: expected '$', got 'f'");

    let mut bad = server.raw();
    bad.send(b"*1\r\n$abc\r\n");
    expect_error_and_close(&mut bad, "ERR Protocol error: invalid bulk length");

    let mut bad = server.raw();
    bad.send(b"*1\r\n$-1\r\n");
    expect_error_and_close(&mut bad, "ERR Protocol error: invalid bulk length");

    let v: String = redis::cmd("GET").arg("survivor").query(&mut good).unwrap();
    assert_eq!(v, "yes");
    let mut fresh = server.conn();
    let v: String = redis::cmd("GET").arg("survivor").query(&mut fresh).unwrap();
    assert_eq!(v, "yes");
}

#[test]
fn replies_before_a_protocol_error_are_delivered() {
    let server = Server::start();
    let mut conn = server.raw();
    conn.send(b"PING\r\n*1\r\n$3\r\nFOO\r\n*x\r\n");
    assert_eq!(conn.read_reply(), Reply::simple("PONG"));
    assert_eq!(
        conn.read_reply(),
        Reply::error("ERR unknown command 'FOO', with args beginning with: ")
    );
    expect_error_and_close(&mut conn, "ERR Protocol error: invalid multibulk length");
}

#[test]
fn bulk_longer_than_proto_max_bulk_len_is_refused() {
    let server = Server::start();
    let mut other = server.raw();
    let mut conn = server.raw();
    conn.send(b"*1\r\n$1073741824\r\n");
    expect_error_and_close(&mut conn, "ERR Protocol error: invalid bulk length");
    assert_eq!(other.cmd(&["PING"]), Reply::simple("PONG"));
}

#[test]
fn proto_max_bulk_len_is_configurable() {
    let server = Server::builder()
        .env("RESPITE_SERVER__PROTO_MAX_BULK_LEN", "1048576")
        .start();
    let mut conn = server.raw();
    let value = vec![b'v'; 1048576];
    assert_eq!(conn.cmd(&[&b"SET"[..], b"big", &value]), Reply::ok());
    assert_eq!(conn.cmd(&["GET", "big"]), Reply::Bulk(value));

    let mut conn = server.raw();
    conn.send(b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$1048577\r\n");
    expect_error_and_close(&mut conn, "ERR Protocol error: invalid bulk length");
}

#[test]
fn multibulk_count_too_large_is_refused() {
    let server = Server::start();
    let mut conn = server.raw();
    conn.send(b"*3000000000\r\n");
    expect_error_and_close(&mut conn, "ERR Protocol error: invalid multibulk length");
    assert_eq!(server.raw().cmd(&["PING"]), Reply::simple("PONG"));
}

#[test]
fn huge_multibulk_header_then_a_bad_element() {
    let server = Server::start();
    let mut other = server.raw();
    let mut conn = server.raw();
    conn.send(b"*2000000\r\n");
    // The header alone must not make the server allocate or block anyone.
    assert_eq!(other.cmd(&["PING"]), Reply::simple("PONG"));
    conn.send(b"foo\r\n");
    expect_error_and_close(&mut conn, "ERR Protocol error: expected '$', got 'f'");
    assert_eq!(other.cmd(&["PING"]), Reply::simple("PONG"));
    assert_eq!(server.raw().cmd(&["PING"]), Reply::simple("PONG"));
}

#[test]
fn client_disconnecting_mid_frame_does_not_disturb_others() {
    let server = Server::start();
    let mut other = server.raw();
    assert_eq!(other.cmd(&["SET", "k", "v"]), Reply::ok());

    for partial in [
        &b"*3\r\n$3\r\nSET\r\n$3\r\nfo"[..],
        &b"*2000000\r\n$3\r\nSET\r\n"[..],
        &b"*1\r\n$100000\r\nabc"[..],
        &b"PING"[..],
        &b"*"[..],
    ] {
        let mut conn = server.raw();
        conn.send(partial);
        conn.shutdown();
        drop(conn);
        assert_eq!(other.cmd(&["GET", "k"]), Reply::bulk("v"));
    }
    // A connection that half-closes mid-frame and keeps reading is closed too (or waits):
    // either way the others keep working.
    let mut conn = server.raw();
    conn.send(b"*2\r\n$4\r\nECHO\r\n");
    conn.stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(other.cmd(&["GET", "k"]), Reply::bulk("v"));
    assert_eq!(server.raw().cmd(&["GET", "k"]), Reply::bulk("v"));
}

#[test]
fn too_big_inline_request() {
    let server = Server::start();
    let mut conn = server.raw();
    // 64 KiB of an inline command without its newline.
    conn.send(&vec![b'x'; 70 * 1024]);
    expect_error_and_close(&mut conn, "ERR Protocol error: too big inline request");
    assert_eq!(server.raw().cmd(&["PING"]), Reply::simple("PONG"));
}

#[test]
fn inline_request_just_under_the_limit_is_fine() {
    let server = Server::start();
    let mut conn = server.raw();
    let arg = "y".repeat(60 * 1024);
    assert_eq!(conn.inline(&format!("ECHO {arg}")), Reply::bulk(&arg));
}

#[test]
fn large_values_round_trip() {
    let server = Server::start();
    let mut conn = server.raw();
    let value: Vec<u8> = (0..(4 * 1024 * 1024)).map(|i| (i % 251) as u8).collect();
    assert_eq!(conn.cmd(&[&b"SET"[..], b"large", &value]), Reply::ok());
    assert_eq!(conn.cmd(&["GET", "large"]), Reply::Bulk(value));
}

#[test]
fn query_buffer_limit_closes_the_client() {
    let server = Server::builder()
        .env("RESPITE_SERVER__CLIENT_QUERY_BUFFER_LIMIT", "1048576")
        .start();
    let mut other = server.raw();
    let mut conn = server.raw();
    let mut bytes = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3000000\r\n".to_vec();
    bytes.extend_from_slice(&vec![b'x'; 3_000_000]);
    bytes.extend_from_slice(b"\r\n");
    // The server may close while we are still writing.
    let writer = conn.send_in_background(bytes);
    let rest = conn.read_to_close();
    let _ = writer.join();
    assert!(
        !String::from_utf8_lossy(&rest).contains("+OK"),
        "the over-limit command must not run: {:?}",
        String::from_utf8_lossy(&rest)
    );
    assert_eq!(other.cmd(&["EXISTS", "k"]), Reply::Int(0));
    assert_eq!(other.cmd(&["PING"]), Reply::simple("PONG"));
}

#[test]
fn long_pipelines_are_not_limited_by_the_query_buffer_limit() {
    let server = Server::builder()
        .env("RESPITE_SERVER__CLIENT_QUERY_BUFFER_LIMIT", "1048576")
        .start();
    let mut conn = server.raw();
    let n = 200_000; // 2.8 MB of PINGs: more than the limit in total, never at once.
    let writer = conn.send_in_background(b"*1\r\n$4\r\nPING\r\n".repeat(n));
    for i in 0..n {
        assert_eq!(conn.read_reply(), Reply::simple("PONG"), "reply #{i}");
    }
    writer.join().unwrap().unwrap();
}

const SECRET: &str = "s3cret";

fn server_with_password() -> Server {
    Server::builder()
        .env("RESPITE_SERVER__REQUIREPASS", SECRET)
        .start()
}

#[test]
fn unauthenticated_multibulk_length_limit() {
    let server = server_with_password();
    let mut conn = server.raw();
    conn.send(b"*11\r\n");
    expect_error_and_close(
        &mut conn,
        "ERR Protocol error: unauthenticated multibulk length",
    );

    // Ten elements are fine (and get NOAUTH).
    let mut conn = server.raw();
    let args: Vec<String> = std::iter::once("DEL".to_string())
        .chain((0..9).map(|i| format!("k{i}")))
        .collect();
    assert_eq!(
        conn.cmd(&args),
        Reply::error("NOAUTH Authentication required.")
    );

    // Once authenticated there is no such limit.
    assert_eq!(conn.cmd(&["AUTH", SECRET]), Reply::ok());
    let args: Vec<String> = std::iter::once("DEL".to_string())
        .chain((0..100).map(|i| format!("k{i}")))
        .collect();
    assert_eq!(conn.cmd(&args), Reply::Int(0));
}

#[test]
fn unauthenticated_bulk_length_limit() {
    let server = server_with_password();
    let mut conn = server.raw();
    conn.send(b"*2\r\n$4\r\nECHO\r\n$16385\r\n");
    expect_error_and_close(&mut conn, "ERR Protocol error: unauthenticated bulk length");

    // 16 KiB is fine (and gets NOAUTH).
    let mut conn = server.raw();
    let arg = vec![b'a'; 16384];
    assert_eq!(
        conn.cmd(&[&b"ECHO"[..], &arg]),
        Reply::error("NOAUTH Authentication required.")
    );

    // Once authenticated there is no such limit.
    assert_eq!(conn.cmd(&["AUTH", SECRET]), Reply::ok());
    let arg = vec![b'b'; 100_000];
    assert_eq!(conn.cmd(&[&b"ECHO"[..], &arg]), Reply::Bulk(arg.clone()));
}

#[test]
fn auth_then_big_command_in_the_same_write() {
    let server = server_with_password();
    let mut conn = server.raw();
    let mut bytes = encode(&["AUTH", SECRET]);
    let args: Vec<String> = std::iter::once("DEL".to_string())
        .chain((0..20).map(|i| format!("k{i}")))
        .collect();
    bytes.extend(encode(&args));
    conn.send(&bytes);
    assert_eq!(conn.read_reply(), Reply::ok());
    assert_eq!(conn.read_reply(), Reply::Int(0));
}
