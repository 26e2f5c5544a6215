//! Connection commands: PING, ECHO, QUIT, RESET, HELLO, AUTH, SELECT, and the error
//! replies for unknown commands and wrong arity. Expected texts are those of Redis 7.

mod common;

use common::{Reply, Server};

#[test]
fn ping() {
    let server = Server::start();
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["PING"]), Reply::simple("PONG"));
    assert_eq!(conn.cmd(&["ping"]), Reply::simple("PONG"));
    assert_eq!(conn.cmd(&["PiNg"]), Reply::simple("PONG"));
    assert_eq!(conn.cmd(&["PING", "hello"]), Reply::bulk("hello"));
    assert_eq!(conn.cmd(&["PING", ""]), Reply::bulk(""));
    assert_eq!(
        conn.cmd(&["PING", "a", "b"]),
        Reply::error("ERR wrong number of arguments for 'ping' command")
    );
}

#[test]
fn echo() {
    let server = Server::start();
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["ECHO", "hi there"]), Reply::bulk("hi there"));
    assert_eq!(
        conn.cmd(&[&b"ECHO"[..], b"\x00\xff\r\n"]),
        Reply::bulk(b"\x00\xff\r\n")
    );
    assert_eq!(
        conn.cmd(&["ECHO"]),
        Reply::error("ERR wrong number of arguments for 'echo' command")
    );
    assert_eq!(
        conn.cmd(&["ECHO", "a", "b"]),
        Reply::error("ERR wrong number of arguments for 'echo' command")
    );
}

#[test]
fn ping_and_echo_with_the_redis_crate() {
    let server = Server::start();
    let mut con = server.conn();
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
    let echoed: Vec<u8> = redis::cmd("ECHO")
        .arg(&b"bin\x00ary"[..])
        .query(&mut con)
        .unwrap();
    assert_eq!(echoed, b"bin\x00ary");
}

#[test]
fn quit_replies_ok_and_closes() {
    let server = Server::start();
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["QUIT"]), Reply::ok());
    conn.expect_closed();

    // Commands pipelined after QUIT are not run.
    let mut conn = server.raw();
    conn.send(b"SET before 1\r\nQUIT\r\nSET after 1\r\n");
    assert_eq!(conn.read_reply(), Reply::ok());
    assert_eq!(conn.read_reply(), Reply::ok());
    conn.expect_closed();
    let mut check = server.raw();
    assert_eq!(check.cmd(&["EXISTS", "before", "after"]), Reply::Int(1));
}

#[test]
fn unknown_command() {
    let server = Server::start();
    let mut conn = server.raw();
    assert_eq!(
        conn.cmd(&["foo", "a", "b"]),
        Reply::error("ERR unknown command 'foo', with args beginning with: 'a' 'b' ")
    );
    assert_eq!(
        conn.cmd(&["foo", "a"]),
        Reply::error("ERR unknown command 'foo', with args beginning with: 'a' ")
    );
    assert_eq!(
        conn.cmd(&["NoSuchCommand"]),
        Reply::error("ERR unknown command 'NoSuchCommand', with args beginning with: ")
    );
    // The connection stays usable.
    assert_eq!(conn.cmd(&["PING"]), Reply::simple("PONG"));
}

#[test]
fn wrong_arity() {
    let server = Server::start();
    let mut conn = server.raw();
    for (args, name) in [
        (&["GET"][..], "get"),
        (&["GET", "a", "b"][..], "get"),
        (&["SET", "a"][..], "set"),
        (&["DEL"][..], "del"),
        (&["EXISTS"][..], "exists"),
        (&["SELECT"][..], "select"),
        (&["DBSIZE", "x"][..], "dbsize"),
        (&["TIME", "x"][..], "time"),
        (&["AUTH"][..], "auth"),
        (&["RESET", "x"][..], "reset"),
    ] {
        assert_eq!(
            conn.cmd(args),
            Reply::error(&format!(
                "ERR wrong number of arguments for '{name}' command"
            )),
            "{args:?}"
        );
    }
}

#[test]
fn select() {
    let server = Server::start();
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["SET", "k", "db0"]), Reply::ok());
    assert_eq!(conn.cmd(&["SELECT", "15"]), Reply::ok());
    assert_eq!(conn.cmd(&["GET", "k"]), Reply::NilBulk);
    assert_eq!(conn.cmd(&["SET", "k", "db15"]), Reply::ok());
    assert_eq!(conn.cmd(&["SELECT", "0"]), Reply::ok());
    assert_eq!(conn.cmd(&["GET", "k"]), Reply::bulk("db0"));

    for bad in ["16", "-1", "2147483647"] {
        assert_eq!(
            conn.cmd(&["SELECT", bad]),
            Reply::error("ERR DB index is out of range"),
            "SELECT {bad}"
        );
    }
    for bad in ["abc", "1.5", ""] {
        assert_eq!(
            conn.cmd(&["SELECT", bad]),
            Reply::error("ERR value is not an integer or out of range"),
            "SELECT {bad:?}"
        );
    }
    // Redis parses the index as a C int first (its message has this wording).
    assert_eq!(
        conn.cmd(&["SELECT", "100000000000"]),
        Reply::error("ERR value is out of range, value must between -2147483648 and 2147483647")
    );
    // A failed SELECT leaves the current db alone.
    assert_eq!(conn.cmd(&["GET", "k"]), Reply::bulk("db0"));

    // The db is per connection.
    let mut other = server.raw();
    assert_eq!(conn.cmd(&["SELECT", "15"]), Reply::ok());
    assert_eq!(other.cmd(&["GET", "k"]), Reply::bulk("db0"));
    assert_eq!(conn.cmd(&["GET", "k"]), Reply::bulk("db15"));
}

#[test]
fn select_with_the_redis_crate_url() {
    let server = Server::start();
    let mut con0 = server.conn();
    let _: () = redis::cmd("SET")
        .arg("x")
        .arg("zero")
        .query(&mut con0)
        .unwrap();
    let client = redis::Client::open(format!("redis://{}/3", server.addr())).unwrap();
    let mut con3 = client.get_connection().unwrap();
    let v: Option<String> = redis::cmd("GET").arg("x").query(&mut con3).unwrap();
    assert_eq!(v, None);
}

#[test]
fn databases_setting_limits_select() {
    let server = Server::builder()
        .env("RESPITE_SERVER__DATABASES", "4")
        .start();
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["SELECT", "3"]), Reply::ok());
    assert_eq!(
        conn.cmd(&["SELECT", "4"]),
        Reply::error("ERR DB index is out of range")
    );
}

#[test]
fn hello_resp2() {
    let server = Server::start();
    let mut conn = server.raw();
    let id = conn.cmd(&["CLIENT", "ID"]).int();
    let hello = conn.cmd(&["HELLO", "2"]);
    assert!(matches!(hello, Reply::Array(_)), "{hello:?}");
    assert_eq!(hello.field("proto"), Some(&Reply::Int(2)));
    assert_eq!(hello.field("id"), Some(&Reply::Int(id)));
    assert_eq!(
        hello.field("mode").map(Reply::text).as_deref(),
        Some("standalone")
    );
    assert_eq!(
        hello.field("role").map(Reply::text).as_deref(),
        Some("master")
    );
    assert!(hello.field("server").is_some());
    assert!(hello.field("version").is_some());
    assert!(matches!(hello.field("modules"), Some(Reply::Array(_))));
}

#[test]
fn hello_setname_and_auth() {
    let server = Server::builder()
        .env("RESPITE_SERVER__REQUIREPASS", "pw")
        .start();
    let mut conn = server.raw();
    // Redis 7.0 says "the HELLO AUTH <user> <pass> option", later versions "the HELLO
    // <proto> AUTH <user> <pass> option"; either is Redis's text.
    let reply = conn.cmd(&["HELLO", "3"]);
    let hello_noauth = |proto: &str| {
        Reply::error(&format!(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the \
             HELLO {proto}AUTH <user> <pass> option can be used to authenticate the client and \
             select the RESP protocol version at the same time"
        ))
    };
    assert!(
        reply == hello_noauth("") || reply == hello_noauth("<proto> "),
        "{reply:?}"
    );
    assert_eq!(
        conn.cmd(&["HELLO", "3", "AUTH", "default", "wrong"]),
        Reply::error("WRONGPASS invalid username-password pair or user is disabled.")
    );
    assert_eq!(
        conn.cmd(&["PING"]),
        Reply::error("NOAUTH Authentication required.")
    );
    let hello = conn.cmd(&["HELLO", "3", "AUTH", "default", "pw", "SETNAME", "conn-a"]);
    assert!(matches!(hello, Reply::Map(_)), "{hello:?}");
    assert_eq!(hello.field("proto"), Some(&Reply::Int(3)));
    assert_eq!(conn.cmd(&["CLIENT", "GETNAME"]), Reply::bulk("conn-a"));
    assert_eq!(conn.cmd(&["PING"]), Reply::simple("PONG"));
}

#[test]
fn hello_setname_without_auth() {
    let server = Server::start();
    let mut conn = server.raw();
    let hello = conn.cmd(&["HELLO", "2", "SETNAME", "named"]);
    assert_eq!(hello.field("proto"), Some(&Reply::Int(2)));
    assert_eq!(conn.cmd(&["CLIENT", "GETNAME"]), Reply::bulk("named"));
    assert_eq!(
        conn.cmd(&["HELLO", "2", "BOGUS"]),
        Reply::error("ERR Syntax error in HELLO option 'BOGUS'")
    );
}

#[test]
fn auth_without_requirepass() {
    let server = Server::start();
    let mut conn = server.raw();
    assert_eq!(
        conn.cmd(&["AUTH", "whatever"]),
        Reply::error(
            "ERR AUTH <password> called without any password configured for the default user. \
             Are you sure your configuration is correct?"
        )
    );
    // With a user name, the default user's "nopass" accepts anything.
    assert_eq!(conn.cmd(&["AUTH", "default", "whatever"]), Reply::ok());
}

#[test]
fn auth_with_requirepass() {
    let server = Server::builder()
        .env("RESPITE_SERVER__REQUIREPASS", "secret")
        .start();
    let mut conn = server.raw();
    for args in [
        &["PING"][..],
        &["ECHO", "x"][..],
        &["GET", "k"][..],
        &["SET", "k", "v"][..],
        &["SELECT", "1"][..],
        &["CLIENT", "ID"][..],
        &["DBSIZE"][..],
    ] {
        assert_eq!(
            conn.cmd(args),
            Reply::error("NOAUTH Authentication required."),
            "{args:?}"
        );
    }
    assert_eq!(
        conn.cmd(&["AUTH", "wrong"]),
        Reply::error("WRONGPASS invalid username-password pair or user is disabled.")
    );
    assert_eq!(
        conn.cmd(&["AUTH", "someone", "secret"]),
        Reply::error("WRONGPASS invalid username-password pair or user is disabled.")
    );
    assert_eq!(
        conn.cmd(&["AUTH", "a", "b", "c"]),
        Reply::error("ERR syntax error")
    );
    assert_eq!(conn.cmd(&["AUTH", "secret"]), Reply::ok());
    assert_eq!(conn.cmd(&["PING"]), Reply::simple("PONG"));
    assert_eq!(conn.cmd(&["SET", "k", "v"]), Reply::ok());

    let mut conn2 = server.raw();
    assert_eq!(conn2.cmd(&["AUTH", "default", "secret"]), Reply::ok());
    assert_eq!(conn2.cmd(&["GET", "k"]), Reply::bulk("v"));

    // QUIT works before authenticating.
    let mut conn3 = server.raw();
    assert_eq!(conn3.cmd(&["QUIT"]), Reply::ok());
    conn3.expect_closed();
}

#[test]
fn unknown_command_before_auth_is_reported_as_unknown() {
    let server = Server::builder()
        .env("RESPITE_SERVER__REQUIREPASS", "secret")
        .start();
    let mut conn = server.raw();
    assert_eq!(
        conn.cmd(&["foo"]),
        Reply::error("ERR unknown command 'foo', with args beginning with: ")
    );
}

#[test]
fn redis_crate_authenticates_from_the_url() {
    let server = Server::builder()
        .env("RESPITE_SERVER__REQUIREPASS", "p@ss")
        .start();
    let mut con = server.conn_with_password("p%40ss");
    let _: () = redis::cmd("SET").arg("a").arg("1").query(&mut con).unwrap();
    let v: String = redis::cmd("GET").arg("a").query(&mut con).unwrap();
    assert_eq!(v, "1");

    let mut unauth = server.conn();
    let err = common::query_err(&mut unauth, redis::cmd("GET").arg("a"));
    assert_eq!(err, "NOAUTH Authentication required.");
}

#[test]
fn reset() {
    let server = Server::start();
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["SELECT", "5"]), Reply::ok());
    assert_eq!(conn.cmd(&["SET", "in5", "x"]), Reply::ok());
    assert_eq!(
        conn.cmd(&["CLIENT", "SETNAME", "before-reset"]),
        Reply::ok()
    );
    let id = conn.cmd(&["CLIENT", "ID"]).int();
    assert!(matches!(conn.cmd(&["HELLO", "3"]), Reply::Map(_)));

    assert_eq!(conn.cmd(&["RESET"]), Reply::simple("RESET"));
    // Back to RESP2, db 0, no name; same connection id.
    assert_eq!(conn.cmd(&["GET", "in5"]), Reply::NilBulk);
    assert_eq!(conn.cmd(&["CLIENT", "GETNAME"]), Reply::NilBulk);
    assert_eq!(conn.cmd(&["CLIENT", "ID"]), Reply::Int(id));
    assert_eq!(conn.cmd(&["SELECT", "5"]), Reply::ok());
    assert_eq!(conn.cmd(&["GET", "in5"]), Reply::bulk("x"));
}

#[test]
fn reset_deauthenticates() {
    let server = Server::builder()
        .env("RESPITE_SERVER__REQUIREPASS", "secret")
        .start();
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["AUTH", "secret"]), Reply::ok());
    assert_eq!(conn.cmd(&["PING"]), Reply::simple("PONG"));
    // RESET itself is allowed without authentication.
    assert_eq!(conn.cmd(&["RESET"]), Reply::simple("RESET"));
    assert_eq!(
        conn.cmd(&["PING"]),
        Reply::error("NOAUTH Authentication required.")
    );
    assert_eq!(conn.cmd(&["RESET"]), Reply::simple("RESET"));
}

#[test]
fn client_reply_off_is_undone_by_reset() {
    let server = Server::start();
    let mut conn = server.raw();
    conn.send_cmd(&["CLIENT", "REPLY", "OFF"]);
    conn.send_cmd(&["SET", "silent", "1"]);
    assert_eq!(conn.cmd(&["RESET"]), Reply::simple("RESET"));
    assert_eq!(conn.cmd(&["GET", "silent"]), Reply::bulk("1"));
}
