//! ACL: users, rules, AUTH with a user name, the ACL command, checks of commands, keys and
//! channels (also from Lua and inside MULTI), the ACL log, and users from the aclfile and the
//! TOML file. Replies and error texts are compared with a real redis-server 7.0.15.

mod common;

use common::redis_server::{pair, Pair, RedisServer};
use common::{cmd, query_err, Server};
use redis::{Connection, Value};

/// A connection authenticated as `user`.
fn as_user(client: redis::Client, user: &str, pass: &str) -> Connection {
    let mut con = client.get_connection().expect("connect");
    let reply: String = cmd(&["AUTH", user, pass]).query(&mut con).expect("auth");
    assert_eq!(reply, "OK");
    con
}

/// A pair of connections, one to each server, both authenticated as `user`.
fn user_pair(respite: &Server, redis: &RedisServer, user: &str, pass: &str) -> Pair {
    Pair {
        respite: as_user(respite.client(), user, pass),
        redis: as_user(redis.client(), user, pass),
    }
}

/// The same rules on both servers.
const USERS: &[&[&str]] = &[
    &[
        "ACL",
        "SETUSER",
        "alice",
        "on",
        ">pw",
        "~k*",
        "%W~w*",
        "%R~r*",
        "&ch*",
        "+@read",
        "+@transaction",
        "+set",
    ],
    &["ACL", "SETUSER", "sub", "on", "nopass", "~*", "+client|id"],
    &[
        "ACL",
        "SETUSER",
        "chan",
        "on",
        "nopass",
        "+@all",
        "resetkeys",
        "&ch*",
    ],
    &[
        "ACL",
        "SETUSER",
        "lua",
        "on",
        "nopass",
        "~k*",
        "&*",
        "+@string",
        "+@scripting",
        "+@pubsub",
    ],
    &["ACL", "SETUSER", "sleepy", "off", ">pw", "+@all", "~*"],
];

fn setup(p: &mut Pair) {
    for rules in USERS {
        p.same(rules);
    }
}

#[test]
fn rules_allow_and_deny_as_redis_does() {
    let (respite, redis, mut admin) = pair();
    setup(&mut admin);
    for k in ["k1", "r1", "w1", "x"] {
        admin.same(&["SET", k, "v"]);
    }
    admin.same(&["ACL", "GETUSER", "alice"]);
    admin.same(&["ACL", "GETUSER", "chan"]);
    admin.same(&["ACL", "GETUSER", "sub"]);
    admin.same(&["ACL", "GETUSER", "nobody"]);
    admin.same(&["ACL", "LIST"]);
    admin.same(&["ACL", "USERS"]);
    admin.same(&["ACL", "CAT"]);
    admin.same(&["ACL", "WHOAMI"]);

    let mut alice = user_pair(&respite, &redis, "alice", "pw");
    for case in [
        &["GET", "k1"][..],
        &["GET", "x"],
        &["MGET", "k1", "x"],
        &["DEL", "k1"],
        &["CLIENT", "LIST"],
        &["CONFIG", "GET", "maxclients"],
        &["PUBLISH", "ch1", "m"],
        &["SET", "w1", "v2"],
        &["GET", "w1"],
        &["GET", "r1"],
        &["SET", "r1", "v2"],
        &["SET", "k2", "v"],
        &["STRLEN", "k2"],
        &["EVAL", "return 1", "0"],
        &["ACL", "WHOAMI"],
        &["ACL", "SETUSER", "x"],
        &["PING"],
    ] {
        alice.same(case);
    }
    // Refused while queueing: the transaction is discarded.
    alice.same(&["MULTI"]);
    alice.same(&["GET", "k1"]);
    alice.same(&["DEL", "k1"]);
    alice.same(&["EXEC"]);
    // Checked again at EXEC: a permission revoked meanwhile fails that command only.
    alice.same(&["MULTI"]);
    alice.same(&["GET", "k1"]);
    alice.same(&["STRLEN", "k1"]);
    admin.same(&["ACL", "SETUSER", "alice", "-get"]);
    alice.same(&["EXEC"]);
    admin.same(&["ACL", "SETUSER", "alice", "+get"]);

    let mut sub = user_pair(&respite, &redis, "sub", "x");
    sub.same(&["CLIENT"]);
    sub.same(&["CLIENT", "LIST"]);
    sub.same(&["CLIENT", "GETNAME"]);

    // Read and write key permissions, per command as Redis's key specs say.
    admin.same(&[
        "ACL", "SETUSER", "rw", "on", "nopass", "%W~w*", "%R~r*", "+@all",
    ]);
    let mut rw = user_pair(&respite, &redis, "rw", "x");
    for case in [
        &["SET", "w1", "5"][..],
        &["SET", "w1", "5", "GET"],
        &["INCR", "w1"],
        &["APPEND", "w1", "x"],
        &["EXISTS", "w1"],
        &["STRLEN", "w1"],
        &["TYPE", "r1"],
        &["GET", "r1"],
        &["GET", "w1"],
        &["SET", "r1", "v"],
        &["LPUSH", "wl", "x"],
        &["LPOP", "wl"],
        &["GETDEL", "w1"],
        &["DEL", "w1"],
        &["COPY", "r1", "w9"],
        &["EXPIRE", "w1", "100"],
        &["TTL", "r1"],
    ] {
        rw.same(case);
    }

    let mut chan = user_pair(&respite, &redis, "chan", "x");
    for case in [
        &["PUBLISH", "foo", "1"][..],
        &["PUBLISH", "ch1", "1"],
        &["GET", "k"],
        &["SUBSCRIBE", "foo"],
        &["PSUBSCRIBE", "ch*x"],
    ] {
        chan.same(case);
    }

    let mut lua = user_pair(&respite, &redis, "lua", "x");
    for case in [
        &["EVAL", "return redis.call('set','k','v')", "0"][..],
        &["EVAL", "return redis.call('get','zz')", "0"],
        &["EVAL", "return redis.pcall('get','zz')", "0"],
        &["EVAL", "return redis.call('del','k')", "0"],
        &["EVAL", "return redis.pcall('del','k')", "0"],
        &["EVAL", "return redis.pcall('publish','c','m')", "0"],
        &["EVAL", "return redis.acl_check_cmd('get','k')", "0"],
        &["EVAL", "return redis.acl_check_cmd('get','zz')", "0"],
        &["EVAL", "return redis.acl_check_cmd('del','k')", "0"],
    ] {
        lua.same(case);
    }

    for case in [
        &["ACL", "DRYRUN", "alice", "get", "x"][..],
        &["ACL", "DRYRUN", "alice", "get", "k"],
        &["ACL", "DRYRUN", "alice", "del", "k"],
        &["ACL", "DRYRUN", "alice", "client", "list"],
        &["ACL", "DRYRUN", "chan", "publish", "foo", "m"],
        &["ACL", "DRYRUN", "bob", "get", "k"],
        &["ACL", "DRYRUN", "alice", "foo"],
        &["ACL", "DRYRUN", "alice", "config", "nosuch"],
        &["ACL", "DRYRUN", "alice", "get"],
        &["ACL", "LOG", "-1"],
        &["AUTH", "alice", "wrong"],
        &["AUTH", "sleepy", "pw"],
        &["AUTH", "nobody", "pw"],
        &["AUTH", "pw"],
        &["HELLO", "2", "AUTH", "alice", "wrong"],
        &["CLIENT", "KILL", "USER", "nosuch"],
        &["CLIENT", "KILL", "USER", "sleepy"],
        &["ACL", "DELUSER", "default"],
        &["ACL", "DELUSER", "nobody", "sleepy"],
        &["ACL", "SAVE"],
        &["ACL", "LOAD"],
        &["ACL", "CAT", "nosuch"],
        &["ACL", "LOG", "x"],
        &["ACL", "GENPASS", "0"],
        &["ACL", "GENPASS", "x"],
        &["ACL", "CAT", "a", "b"],
        &["ACL", "LOG", "1", "2"],
        &["ACL", "HELP"],
        &["ACL", "WHOAMI", "x"],
        &["ACL"],
        &["ACL", "GENPASS", "5000"],
        &["ACL", "SETUSER", "a b"],
        &["ACL", "SETUSER", "z", "<nope"],
        &["ACL", "SETUSER", "z", "#abc"],
        &["ACL", "SETUSER", "z", "+nosuch"],
        &["ACL", "SETUSER", "z", "+@nosuch"],
        &["ACL", "SETUSER", "z", "bogus"],
        &["ACL", "SETUSER", "z", "allkeys", "~x"],
        &["ACL", "SETUSER", "z", "allchannels", "&x"],
        &["ACL", "SETUSER", "z", "+config|nosuch"],
        &[
            "ACL",
            "SETUSER",
            "z",
            "on",
            "nopass",
            "allkeys",
            "allchannels",
            "allcommands",
            "-get",
        ],
        &["ACL", "GETUSER", "z"],
        &[
            "ACL",
            "SETUSER",
            "z",
            "resetkeys",
            "%RW~a",
            "%R~b",
            "resetpass",
            ">x",
            ">y",
            "<x",
        ],
        &["ACL", "GETUSER", "z"],
        &[
            "ACL",
            "SETUSER",
            "z2",
            "+@read",
            "-get",
            "+get",
            "-config|get",
            "+set",
            "+@all",
            "-@read",
            "+get",
        ],
        &["ACL", "GETUSER", "z2"],
        &["ACL", "SETUSER", "z3", "+@read", "-get", "-client|list"],
        &["ACL", "GETUSER", "z3"],
        &["ACL", "DELUSER", "z2", "z3"],
        &["ACL", "SETUSER", "z", "reset"],
        &["ACL", "LIST"],
    ] {
        admin.same(case);
    }

    // Selectors: the root or any selector must allow the whole command.
    for case in [
        &[
            "ACL",
            "SETUSER",
            "sel",
            "on",
            "nopass",
            "~a*",
            "+get",
            "(~b* +set &x)",
            "(%R~c*",
            "+@read",
            "+del)",
        ][..],
        &["ACL", "GETUSER", "sel"],
        &["ACL", "SETUSER", "sel", "(bogus)"],
        &["ACL", "SETUSER", "sel", "(>pw)"],
        &["ACL", "SETUSER", "sel", "(on)"],
        &["ACL", "SETUSER", "sel", "(+nosuch)"],
        &["ACL", "SETUSER", "sel", "(~x"],
        &["ACL", "DRYRUN", "sel", "set", "a", "1"],
        &["ACL", "DRYRUN", "sel", "get", "b"],
        &["ACL", "DRYRUN", "sel", "set", "b", "1"],
        &["ACL", "DRYRUN", "sel", "get", "c1"],
        &["ACL", "DRYRUN", "sel", "del", "c1"],
        &["ACL", "DRYRUN", "sel", "del", "a"],
        &[
            "ACL",
            "SETUSER",
            "sel2",
            "on",
            "nopass",
            "(+publish &x)",
            "(+publish ~k)",
        ],
        &["ACL", "DRYRUN", "sel2", "publish", "y", "m"],
        &["ACL", "DRYRUN", "sel2", "publish", "x", "m"],
        &["ACL", "SETUSER", "sel3", "()"],
        &["ACL", "LIST"],
    ] {
        admin.same(case);
    }
    let mut sel = user_pair(&respite, &redis, "sel", "x");
    for case in [
        &["SET", "b1", "v"][..],
        &["SET", "a1", "v"],
        &["GET", "a1"],
        &["GET", "b1"],
        &["MGET", "c1", "b1"],
        &["PUBLISH", "x", "m"],
    ] {
        sel.same(case);
    }
    admin.same(&["ACL", "SETUSER", "sel", "clearselectors"]);
    admin.same(&["ACL", "GETUSER", "sel"]);

    // The log: the same denials, newest first (age and client details differ by nature).
    let log = |con: &mut Connection| -> Vec<Vec<String>> {
        let entries: Vec<Value> = cmd(&["ACL", "LOG", "20"]).query(con).unwrap();
        entries
            .into_iter()
            .map(|e| {
                let fields: Vec<Value> = redis::from_redis_value(&e).unwrap();
                fields
                    .chunks(2)
                    .filter(|kv| {
                        let k: String = redis::from_redis_value(&kv[0]).unwrap();
                        !matches!(k.as_str(), "age-seconds" | "client-info")
                    })
                    .map(|kv| format!("{:?}", kv[1]))
                    .collect()
            })
            .collect()
    };
    assert_eq!(log(&mut admin.respite), log(&mut admin.redis));
    assert!(!log(&mut admin.respite).is_empty());
    admin.same(&["ACL", "LOG", "RESET"]);
    admin.same(&["ACL", "LOG"]);
}

#[test]
fn genpass_whoami_and_hello_auth() {
    let server = Server::start();
    let mut con = server.conn();
    let pass: String = cmd(&["ACL", "GENPASS"]).query(&mut con).unwrap();
    assert_eq!(pass.len(), 64);
    assert!(pass.bytes().all(|b| b.is_ascii_hexdigit()));
    let other: String = cmd(&["ACL", "GENPASS"]).query(&mut con).unwrap();
    assert_ne!(pass, other);
    let short: String = cmd(&["ACL", "GENPASS", "5"]).query(&mut con).unwrap();
    assert_eq!(short.len(), 2);
    let _: () = cmd(&[
        "ACL",
        "SETUSER",
        "bob",
        "on",
        &format!(">{pass}"),
        "+@all",
        "~*",
    ])
    .query(&mut con)
    .unwrap();
    // Passwords are bytes, not text.
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("bin")
        .arg("on")
        .arg(&b">\xff\xfe"[..])
        .query(&mut con)
        .unwrap();
    let mut bin = server.client().get_connection().unwrap();
    let _: () = redis::cmd("AUTH")
        .arg("bin")
        .arg(&b"\xff\xfe"[..])
        .query(&mut bin)
        .unwrap();
    assert!(redis::cmd("AUTH")
        .arg("bin")
        .arg(&b"\xff\xfd"[..])
        .query::<()>(&mut bin)
        .is_err());
    let mut raw = server.raw();
    raw.send_cmd(&["HELLO", "3", "AUTH", "bob", &pass]);
    let hello = raw.read_reply();
    assert_eq!(hello.field("proto").unwrap().int(), 3);
    raw.send_cmd(&["ACL", "WHOAMI"]);
    assert_eq!(raw.read_reply().text(), "bob");
    // RESP3: flags are a set, as Redis sends them.
    raw.send_cmd(&["ACL", "GETUSER", "bob"]);
    let user = raw.read_reply();
    assert!(
        matches!(user.field("flags"), Some(common::Reply::Set(_))),
        "{user:?}"
    );
    raw.send_cmd(&["CLIENT", "INFO"]);
    assert!(raw.read_reply().text().contains(" user=bob "));
    raw.send_cmd(&["RESET"]);
    raw.read_reply();
    raw.send_cmd(&["ACL", "WHOAMI"]);
    assert_eq!(raw.read_reply().text(), "default");
}

#[test]
fn changed_users_apply_at_once_and_deleted_users_are_disconnected() {
    let server = Server::start();
    let mut admin = server.conn();
    let _: () = cmd(&["ACL", "SETUSER", "bob", "on", ">pw", "+@all", "~*"])
        .query(&mut admin)
        .unwrap();
    let mut bob = as_user(server.client(), "bob", "pw");
    let _: () = cmd(&["SET", "k", "v"]).query(&mut bob).unwrap();
    let _: () = cmd(&["ACL", "SETUSER", "bob", "-set"])
        .query(&mut admin)
        .unwrap();
    assert_eq!(
        query_err(&mut bob, &cmd(&["SET", "k", "v"])),
        "NOPERM this user has no permissions to run the 'set' command"
    );
    let _: () = cmd(&["ACL", "SETUSER", "dave", "on", ">pw", "+@all", "~*"])
        .query(&mut admin)
        .unwrap();
    let mut dave = as_user(server.client(), "dave", "pw");
    let n: i64 = cmd(&["CLIENT", "KILL", "USER", "dave"])
        .query(&mut admin)
        .unwrap();
    assert_eq!(n, 1);
    assert!(cmd(&["PING"]).query::<String>(&mut dave).is_err());
    let n: i64 = cmd(&["ACL", "DELUSER", "bob"]).query(&mut admin).unwrap();
    assert_eq!(n, 1);
    // The connection is closed by the server.
    assert!(cmd(&["PING"]).query::<String>(&mut bob).is_err());
    // Deleting one's own user closes one's own connection after the reply.
    let _: () = cmd(&["ACL", "SETUSER", "carol", "on", ">pw", "+@all", "~*"])
        .query(&mut admin)
        .unwrap();
    let mut carol = as_user(server.client(), "carol", "pw");
    let n: i64 = cmd(&["ACL", "DELUSER", "carol"]).query(&mut carol).unwrap();
    assert_eq!(n, 1);
    assert!(cmd(&["PING"]).query::<String>(&mut carol).is_err());
    let pong: String = cmd(&["PING"]).query(&mut admin).unwrap();
    assert_eq!(pong, "PONG");
}

#[test]
fn subscribers_lose_their_connection_with_their_channel_permission() {
    let server = Server::start();
    let mut admin = server.conn();
    let _: () = cmd(&[
        "ACL", "SETUSER", "sub", "on", ">pw", "+@all", "~*", "&news.*",
    ])
    .query(&mut admin)
    .unwrap();
    let mut raw = server.raw();
    raw.send_cmd(&["AUTH", "sub", "pw"]);
    assert_eq!(raw.read_reply(), common::Reply::ok());
    raw.send_cmd(&["SUBSCRIBE", "news.1"]);
    raw.read_reply();
    // Still allowed: the subscriber stays.
    let _: () = cmd(&["ACL", "SETUSER", "sub", "&other"])
        .query(&mut admin)
        .unwrap();
    let n: i64 = cmd(&["PUBLISH", "news.1", "m"]).query(&mut admin).unwrap();
    assert_eq!(n, 1);
    raw.read_reply();
    // Revoked: the server closes the connection.
    let _: () = cmd(&["ACL", "SETUSER", "sub", "resetchannels", "&other"])
        .query(&mut admin)
        .unwrap();
    common::wait_until("the subscriber is disconnected", common::IO_TIMEOUT, || {
        let n: i64 = cmd(&["PUBLISH", "news.1", "m"]).query(&mut admin).unwrap();
        n == 0
    });
}

#[test]
fn requirepass_is_the_default_users_password() {
    let server = Server::start();
    let mut con = server.conn();
    let _: () = cmd(&["CONFIG", "SET", "requirepass", "s3cret"])
        .query(&mut con)
        .unwrap();
    let list: Vec<String> = cmd(&["ACL", "LIST"]).query(&mut con).unwrap();
    // SHA-256 of "s3cret".
    assert_eq!(
        list,
        ["user default on #1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcba0 ~* &* +@all"]
    );
    let mut fresh = server.client().get_connection().unwrap();
    assert_eq!(
        query_err(&mut fresh, &cmd(&["GET", "k"])),
        "NOAUTH Authentication required."
    );
    let _: () = cmd(&["AUTH", "s3cret"]).query(&mut fresh).unwrap();
    let _: () = cmd(&["AUTH", "default", "s3cret"])
        .query(&mut fresh)
        .unwrap();
    let _: () = cmd(&["CONFIG", "SET", "requirepass", ""])
        .query(&mut con)
        .unwrap();
    let mut open = server.client().get_connection().unwrap();
    let pong: String = cmd(&["PING"]).query(&mut open).unwrap();
    assert_eq!(pong, "PONG");
}

/// SHA-256 of "pw".
const PW_HASH: &str = "30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4";

#[test]
fn aclfile_save_and_load_round_trip() {
    let mut server = Server::builder()
        .config("[redis]\naclfile = \"users.acl\"\n")
        .start();
    let path = server.dir().join("users.acl");
    let mut con = server.conn();
    let _: () = cmd(&[
        "ACL", "SETUSER", "alice", "on", ">pw", "~app:*", "&news", "+@read", "-get",
    ])
    .query(&mut con)
    .unwrap();
    let _: () = cmd(&["ACL", "SAVE"]).query(&mut con).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text,
        format!(
            "user alice on #{PW_HASH} ~app:* resetchannels &news -@all +@read -get\n\
             user default on nopass ~* &* +@all\n"
        )
    );
    // Edited by hand, then loaded: bob appears, alice changes, and alice's clients go.
    let mut alice = as_user(server.client(), "alice", "pw");
    std::fs::write(
        &path,
        format!(
            "user alice on #{PW_HASH} ~* &* +@all\nuser bob on #{PW_HASH} ~b* +get\n\
             user default on nopass ~* &* +@all -flushall\n"
        ),
    )
    .unwrap();
    let _: () = cmd(&["ACL", "LOAD"]).query(&mut con).unwrap();
    assert!(cmd(&["PING"]).query::<String>(&mut alice).is_err());
    // The default user's clients stay, under its new rules.
    assert_eq!(
        query_err(&mut con, &cmd(&["FLUSHALL"])),
        "NOPERM this user has no permissions to run the 'flushall' command"
    );
    let mut bob = as_user(server.client(), "bob", "pw");
    assert_eq!(
        query_err(&mut bob, &cmd(&["GET", "x"])),
        "NOPERM this user has no permissions to access one of the keys used as arguments"
    );
    // A bad file changes nothing.
    std::fs::write(&path, "user carol on +nosuch\n").unwrap();
    let err = query_err(&mut con, &cmd(&["ACL", "LOAD"]));
    assert!(
        err.contains("users.acl:1:") && err.contains("Unknown command"),
        "{err}"
    );
    let users: Vec<String> = cmd(&["ACL", "USERS"]).query(&mut con).unwrap();
    assert_eq!(users, ["alice", "bob", "default"]);
    // The file is read at start-up.
    std::fs::write(&path, format!("user dave on #{PW_HASH} ~* +@all\n")).unwrap();
    drop((con, bob));
    server.restart();
    let mut dave = as_user(server.client(), "dave", "pw");
    let who: String = cmd(&["ACL", "WHOAMI"]).query(&mut dave).unwrap();
    assert_eq!(who, "dave");
    let users: Vec<String> = cmd(&["ACL", "USERS"]).query(&mut dave).unwrap();
    assert_eq!(users, ["dave", "default"]);
}

#[test]
fn users_from_the_toml_file() {
    let server = Server::builder()
        .config(format!(
            "[[acl.users]]\nname = \"app\"\nrules = \"on #{PW_HASH} ~app:* &* +@all -@dangerous\"\n\n\
             [[acl.users]]\nname = \"default\"\nrules = \"on #{PW_HASH} ~* &* +@all\"\n"
        ))
        .start();
    let mut anon = server.client().get_connection().unwrap();
    assert_eq!(
        query_err(&mut anon, &cmd(&["PING"])),
        "NOAUTH Authentication required."
    );
    let mut app = as_user(server.client(), "app", "pw");
    let _: () = cmd(&["SET", "app:1", "v"]).query(&mut app).unwrap();
    assert_eq!(
        query_err(&mut app, &cmd(&["FLUSHALL"])),
        "NOPERM this user has no permissions to run the 'flushall' command"
    );
    let mut admin = as_user(server.client(), "default", "pw");
    let list: Vec<String> = cmd(&["ACL", "LIST"]).query(&mut admin).unwrap();
    assert_eq!(
        list[0],
        format!("user app on #{PW_HASH} ~app:* &* +@all -@dangerous")
    );
    assert_eq!(
        query_err(&mut admin, &cmd(&["ACL", "SAVE"])),
        "ERR This Redis instance is not configured to use an ACL file. You may want to specify \
         users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a \
         Redis configuration file set) in order to store users in the Redis configuration."
    );
}

#[test]
fn clear_text_passwords_in_the_toml_file_stop_start_up() {
    let err = Server::builder()
        .config("[[acl.users]]\nname = \"app\"\nrules = \"on >secret +@all\"\n")
        .try_start()
        .err()
        .expect("start-up must fail");
    assert!(err.contains("acl.users[0].rules"), "{err}");
    let err = Server::builder()
        .config("[[acl.users]]\nname = \"app\"\nrules = \"on +nosuch\"\n")
        .try_start()
        .err()
        .expect("start-up must fail");
    assert!(
        err.contains("Unknown command or category name in ACL"),
        "{err}"
    );
}

#[test]
fn acl_config_parameters_act() {
    let server = Server::start();
    let mut con = server.conn();
    let _: () = cmd(&["CONFIG", "SET", "acl-pubsub-default", "allchannels"])
        .query(&mut con)
        .unwrap();
    let _: () = cmd(&["ACL", "SETUSER", "u"]).query(&mut con).unwrap();
    let list: Vec<String> = cmd(&["ACL", "LIST"]).query(&mut con).unwrap();
    assert_eq!(list[1], "user u off &* -@all");
    let _: () = cmd(&["CONFIG", "SET", "acllog-max-len", "2"])
        .query(&mut con)
        .unwrap();
    for user in ["a", "b", "c"] {
        let _ = cmd(&["AUTH", user, "x"]).query::<Value>(&mut con);
    }
    let log: Vec<Value> = cmd(&["ACL", "LOG"]).query(&mut con).unwrap();
    assert_eq!(log.len(), 2);
    let info: String = cmd(&["INFO", "stats"]).query(&mut con).unwrap();
    assert!(info.contains("acl_access_denied_auth:3\r\n"), "{info}");
}

/// A Lua custom command declaring no categories: its flags put it in @write and @slow.
const LUA_COMMANDS: &str = r#"
respite.register_command{
  name = 'bump', arity = 2, flags = {'write'}, keys = {first = 1},
  handler = function(keys) return redis.call('INCR', keys[1]) end,
}
"#;

#[test]
fn lua_commands_are_checked_by_category_and_their_calls_as_the_user() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::lua_files::write_file(dir.path(), "cmds.lua", LUA_COMMANDS);
    let server = Server::builder()
        .config(format!(
            "[scripting]\ncommands = {}\n",
            common::lua_files::toml_list(&[&path])
        ))
        .start();
    let mut admin = server.conn();
    let write: Vec<String> = cmd(&["ACL", "CAT", "write"]).query(&mut admin).unwrap();
    assert!(write.iter().any(|c| c == "bump"));
    for rules in [
        &["ACL", "SETUSER", "reader", "on", "nopass", "~*", "+@read"][..],
        &["ACL", "SETUSER", "writer", "on", "nopass", "~c*", "+bump"],
    ] {
        let _: () = cmd(rules).query(&mut admin).unwrap();
    }
    let mut reader = as_user(server.client(), "reader", "x");
    assert_eq!(
        query_err(&mut reader, &cmd(&["BUMP", "c1"])),
        "NOPERM this user has no permissions to run the 'bump' command"
    );
    let mut writer = as_user(server.client(), "writer", "x");
    let err = query_err(&mut writer, &cmd(&["BUMP", "c1"]));
    assert!(
        err.contains("The user executing the script can't run this command"),
        "{err}"
    );
    let _: () = cmd(&["ACL", "SETUSER", "writer", "+incr"])
        .query(&mut admin)
        .unwrap();
    let n: i64 = cmd(&["BUMP", "c1"]).query(&mut writer).unwrap();
    assert_eq!(n, 1);
    assert_eq!(
        query_err(&mut writer, &cmd(&["BUMP", "x1"])),
        "NOPERM this user has no permissions to access one of the keys used as arguments"
    );
}

/// SORT's destination is its last STORE, GEORADIUS's the first STORE and the first STOREDIST:
/// only those are checked, as Redis 7.0's key specs and SORT's key finder have it. SORT's BY
/// (with a pattern) and GET read keys no argument names: only a user who reads every key may
/// use them.
#[test]
fn movable_destinations_are_checked_as_redis_finds_them() {
    let (respite, redis, mut admin) = pair();
    admin.same(&[
        "ACL", "SETUSER", "sorter", "on", "nopass", "~src", "~dst", "+@all",
    ]);
    admin.same(&["RPUSH", "src", "3", "1", "2"]);
    admin.same(&["GEOADD", "src2", "13.36", "38.11", "p"]);
    admin.same(&["ACL", "SETUSER", "sorter", "~src2"]);
    let mut sorter = user_pair(&respite, &redis, "sorter", "x");
    for case in [
        &["SORT", "src", "STORE", "other", "STORE", "dst"][..],
        &["SORT", "src", "STORE", "dst", "STORE", "other"],
        &["SORT", "src", "GET", "#", "STORE", "dst"],
        &["LRANGE", "dst", "0", "-1"],
        &[
            "GEORADIUS",
            "src2",
            "13",
            "38",
            "200",
            "km",
            "STORE",
            "dst",
            "STORE",
            "other",
        ],
        &[
            "GEORADIUS",
            "src2",
            "13",
            "38",
            "200",
            "km",
            "STORE",
            "dst",
            "STOREDIST",
            "other",
        ],
        &[
            "COMMAND", "GETKEYS", "SORT", "src", "STORE", "a", "STORE", "b",
        ],
        &["SORT", "src", "BY", "w_*"],
        &["SORT", "src", "BY", "nosort"],
        &["SORT", "src", "GET", "#"],
        &["SORT_RO", "src", "BY", "w_*->f", "GET", "x_*"],
        &["SORT", "src", "LIMIT", "0", "1", "GET", "#", "BY", "w_*"],
        &["SORT", "src", "BY", "w_*", "BADOPTION"],
    ] {
        sorter.same(case);
    }
    // Reading every key is enough (writing them is not needed), in a selector too.
    admin.same(&["SET", "w_1", "3"]);
    admin.same(&[
        "ACL", "SETUSER", "reader", "on", "nopass", "%R~*", "~src", "+@all",
    ]);
    admin.same(&[
        "ACL",
        "SETUSER",
        "selector",
        "on",
        "nopass",
        "~src",
        "+@all",
        "(~* +sort)",
    ]);
    admin.same(&[
        "ACL", "SETUSER", "writer", "on", "nopass", "%W~*", "~src", "+@all",
    ]);
    for user in ["reader", "selector", "writer"] {
        let mut p = user_pair(&respite, &redis, user, "x");
        p.same(&["SORT", "src", "BY", "w_*", "GET", "#", "GET", "w_*"]);
        p.same(&["SORT_RO", "src", "GET", "w_*"]);
    }
}
