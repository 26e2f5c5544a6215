//! Shared-library plugins against the real server: the example rate limiter and the test
//! plugins are built as cdylibs, loaded from `[[plugins.load]]` and with MODULE LOAD, called
//! with a real client, and unloaded; refusals and a panicking command leave the server running.

mod common;

use std::path::Path;
use std::time::Duration;

use common::plugin_libs::libs;
use common::{cmd, err_text, output_text, query_err, run_respite, Reply, Server};
use redis::Value;

fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// A TOML string literal for `p`.
fn toml_path(p: &Path) -> String {
    toml::Value::String(path_str(p).to_string()).to_string()
}

fn ints(v: &Value) -> Vec<i64> {
    match v {
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::Int(n) => *n,
                other => panic!("expected an integer, got {other:?}"),
            })
            .collect(),
        other => panic!("expected an array, got {other:?}"),
    }
}

fn take(con: &mut redis::Connection, args: &[&str]) -> Vec<i64> {
    let mut c = redis::cmd("RATELIMIT.TAKE");
    for a in args {
        c.arg(*a);
    }
    ints(&c.query::<Value>(con).expect("RATELIMIT.TAKE"))
}

fn module_list(con: &mut redis::Connection) -> Vec<Vec<(String, Value)>> {
    let v: Value = redis::cmd("MODULE")
        .arg("LIST")
        .query(con)
        .expect("MODULE LIST");
    let Value::Array(modules) = v else {
        panic!("MODULE LIST: {v:?}")
    };
    modules
        .into_iter()
        .map(|m| match m {
            Value::Array(flat) => flat
                .chunks(2)
                .map(|kv| match &kv[0] {
                    Value::BulkString(k) => {
                        (String::from_utf8_lossy(k).into_owned(), kv[1].clone())
                    }
                    other => panic!("field name {other:?}"),
                })
                .collect(),
            Value::Map(pairs) => pairs
                .into_iter()
                .map(|(k, v)| match k {
                    Value::BulkString(k) => (String::from_utf8_lossy(&k).into_owned(), v),
                    other => panic!("field name {other:?}"),
                })
                .collect(),
            other => panic!("module entry {other:?}"),
        })
        .collect()
}

fn field<'a>(module: &'a [(String, Value)], name: &str) -> &'a Value {
    &module
        .iter()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("no {name} in {module:?}"))
        .1
}

fn bulk(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        other => panic!("expected a string, got {other:?}"),
    }
}

/// A server that starts no built-in plugin, so that MODULE LIST shows only the libraries a
/// test loads.
fn without_builtin_plugins() -> common::ServerBuilder {
    Server::builder().config("[plugins]\nenabled = []\n")
}

#[test]
fn a_library_from_the_config_serves_commands_until_unloaded() {
    let libs = libs();
    // No built-in plugin, so that MODULE LIST shows the library alone.
    let mut server = Server::builder()
        .config(format!(
            "[plugins]\nenabled = []\n[[plugins.load]]\npath = {}\nargs = [\"demo\"]\n",
            toml_path(&libs.ratelimit)
        ))
        .start();
    let mut con = server.conn();

    // A bucket of 3 tokens refilling one token per 1000 s: nothing refills during the test.
    assert_eq!(take(&mut con, &["bucket", "3", "0.001"])[..3], [1, 2, -1]);
    assert_eq!(take(&mut con, &["bucket", "3", "0.001"])[..3], [1, 1, -1]);
    let denied = take(&mut con, &["bucket", "3", "0.001", "2"]);
    assert_eq!(denied[..2], [0, 1]);
    assert!(denied[2] > 0, "a denial says how long to wait: {denied:?}");
    assert_eq!(take(&mut con, &["bucket", "3", "0.001"])[..3], [1, 0, -1]);
    let peek: Value = redis::cmd("RATELIMIT.PEEK")
        .arg("bucket")
        .arg(3)
        .arg(0.001)
        .query(&mut con)
        .expect("peek");
    assert_eq!(ints(&peek)[0], 0);
    // The state is an ordinary string key the plugin wrote with call("SET", ...).
    let state: String = redis::cmd("GET")
        .arg("bucket")
        .query(&mut con)
        .expect("GET");
    let (tokens, at_ms) = state.split_once(':').expect("tokens:ms");
    let tokens: f64 = tokens.parse().expect("tokens");
    assert!((0.0..1.0).contains(&tokens), "{state}");
    assert!(at_ms.parse::<i64>().expect("ms") > 0, "{state}");

    // Errors: the plugin's own, the server's arity check, a key that is not a bucket.
    let e = query_err(&mut con, &cmd(&["RATELIMIT.TAKE", "b", "0", "1"]));
    assert!(e.contains("capacity must be a positive integer"), "{e}");
    let e = query_err(&mut con, &cmd(&["RATELIMIT.TAKE", "b", "1"]));
    assert!(
        e.contains("wrong number of arguments for 'ratelimit.take' command"),
        "{e}"
    );
    let _: () = redis::cmd("SET")
        .arg("plain")
        .arg("hello")
        .query(&mut con)
        .unwrap();
    let e = query_err(&mut con, &cmd(&["RATELIMIT.TAKE", "plain", "3", "1"]));
    assert!(e.contains("does not hold a rate-limit bucket"), "{e}");

    // MODULE LIST and INFO modules show it with its version and arguments.
    let modules = module_list(&mut con);
    assert_eq!(modules.len(), 1, "{modules:?}");
    assert_eq!(bulk(field(&modules[0], "name")), "ratelimit");
    assert_eq!(field(&modules[0], "ver"), &Value::Int(100));
    assert_eq!(bulk(field(&modules[0], "version")), "0.1.0");
    assert_eq!(bulk(field(&modules[0], "path")), path_str(&libs.ratelimit));
    assert_eq!(
        field(&modules[0], "args"),
        &Value::Array(vec![Value::BulkString(b"demo".to_vec())])
    );
    let info: String = redis::cmd("INFO").arg("modules").query(&mut con).unwrap();
    assert!(
        info.contains("module:name=ratelimit,ver=100,api=1,"),
        "{info}"
    );

    // COMMAND INFO, GETKEYS, LIST and COUNT read the plugin's row of the command table.
    let mut raw = server.raw();
    let info = raw.cmd(&["COMMAND", "INFO", "ratelimit.take"]);
    let entry = &info.items()[0];
    let items = entry.items();
    assert_eq!(items[0].text(), "ratelimit.take");
    assert_eq!(items[1].int(), -4);
    let flag_names: Vec<String> = items[2].items().iter().map(|f| f.text()).collect();
    assert_eq!(flag_names, ["write", "denyoom"]);
    assert_eq!((items[3].int(), items[4].int(), items[5].int()), (1, 1, 1));
    let cats: Vec<String> = items[6].items().iter().map(|f| f.text()).collect();
    // Declared `write string`; not flagged fast, so also @slow, as Redis implies it.
    assert_eq!(cats, ["@write", "@string", "@slow"]);
    assert_eq!(
        raw.cmd(&["COMMAND", "GETKEYS", "RATELIMIT.TAKE", "k1", "3", "1"]),
        Reply::Array(vec![Reply::bulk("k1")])
    );
    let listed = raw.cmd(&["COMMAND", "LIST", "FILTERBY", "MODULE", "ratelimit"]);
    let mut names: Vec<String> = listed.items().iter().map(|n| n.text()).collect();
    names.sort();
    assert_eq!(names, ["ratelimit.peek", "ratelimit.take"]);
    let count_with = raw.cmd(&["COMMAND", "COUNT"]).int();

    // Unloaded: the commands are gone, and the count with them.
    assert_eq!(raw.cmd(&["MODULE", "UNLOAD", "ratelimit"]), Reply::ok());
    assert_eq!(raw.cmd(&["COMMAND", "COUNT"]).int(), count_with - 2);
    let e = query_err(&mut con, &cmd(&["RATELIMIT.TAKE", "bucket", "3", "1"]));
    assert!(e.contains("unknown command"), "{e}");
    assert!(module_list(&mut con).is_empty());
    assert_eq!(raw.cmd(&["PING"]), Reply::simple("PONG"));
    server.stop();
}

#[test]
fn module_load_at_run_time_passes_args_replies_and_calls() {
    let libs = libs();
    let mut server = without_builtin_plugins().memory().start();
    let mut con = server.conn();
    let testkit = path_str(&libs.testkit);
    let _: () = redis::cmd("MODULE")
        .arg("LOAD")
        .arg(testkit)
        .arg("one")
        .arg("two words")
        .query(&mut con)
        .expect("MODULE LOAD");
    let args: Vec<String> = redis::cmd("TESTKIT.ARGS").query(&mut con).unwrap();
    assert_eq!(args, ["one", "two words"]);

    // Every RESP3 type crosses the ABI, and RESP2 clients get Redis's downgrades.
    let mut raw = server.raw();
    assert!(!raw.cmd(&["HELLO", "3"]).is_error());
    let types = raw.cmd(&["TESTKIT.TYPES"]);
    assert_eq!(
        types,
        Reply::Array(vec![
            Reply::simple("simple"),
            Reply::Int(42),
            Reply::bulk("bulk"),
            Reply::Null,
            Reply::Map(vec![(Reply::bulk("key"), Reply::bulk("value"))]),
            Reply::Set(vec![Reply::bulk("member")]),
            Reply::Double("2.5".into()),
            Reply::Bool(true),
            Reply::BigNumber("1234567890123456789012345678901234567890".into()),
            Reply::Verbatim("txt".into(), b"verbatim".to_vec()),
            Reply::error("ERR nested error"),
        ])
    );
    let mut raw2 = server.raw();
    let types2 = raw2.cmd(&["TESTKIT.TYPES"]);
    assert_eq!(types2.items()[3], Reply::NilBulk);
    assert_eq!(types2.items()[7], Reply::Int(1));

    // call() runs core commands inside the plugin command, and refuses noscript ones.
    let r: String = redis::cmd("TESTKIT.CALL")
        .arg("SET")
        .arg("k")
        .arg("v")
        .query(&mut con)
        .unwrap();
    assert_eq!(r, "OK");
    let v: String = redis::cmd("GET").arg("k").query(&mut con).unwrap();
    assert_eq!(v, "v");
    let v: String = redis::cmd("TESTKIT.CALL")
        .arg("get")
        .arg("k")
        .query(&mut con)
        .unwrap();
    assert_eq!(v, "v");
    for refused in [&["SHUTDOWN"][..], &["MODULE", "UNLOAD", "testkit"]] {
        let mut words = vec!["TESTKIT.CALL"];
        words.extend_from_slice(refused);
        let e = query_err(&mut con, &cmd(&words));
        assert!(e.contains("not allowed from plugins"), "{refused:?}: {e}");
    }
    let e = query_err(&mut con, &cmd(&["TESTKIT.CALL", "NOSUCH", "x"]));
    assert!(e.contains("unknown command"), "{e}");
    // Calls nest (a plugin command calling a plugin command ...), up to a limit that keeps
    // the executor's stack safe.
    let mut nested = vec!["TESTKIT.CALL"; 5];
    nested.push("PING");
    let pong: String = cmd(&nested).query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
    let mut too_deep = vec!["TESTKIT.CALL"; 100];
    too_deep.push("PING");
    let e = query_err(&mut con, &cmd(&too_deep));
    assert!(e.contains("nested too deeply"), "{e}");

    // LOADEX with ARGS; both plugins listed; logging reaches the server's log.
    assert_eq!(
        raw2.cmd(&[
            "MODULE",
            "LOADEX",
            path_str(&libs.ratelimit),
            "ARGS",
            "x",
            "y"
        ]),
        Reply::ok()
    );
    let modules = module_list(&mut con);
    let names: Vec<String> = modules.iter().map(|m| bulk(field(m, "name"))).collect();
    assert_eq!(names, ["testkit", "ratelimit"]);
    assert_eq!(
        field(&modules[1], "args"),
        &Value::Array(vec![
            Value::BulkString(b"x".to_vec()),
            Value::BulkString(b"y".to_vec())
        ])
    );
    let _: () = redis::cmd("TESTKIT.LOG")
        .arg("hello from the plugin")
        .query(&mut con)
        .unwrap();
    common::wait_until("the plugin's log line", Duration::from_secs(30), || {
        server.stderr().contains("hello from the plugin")
    });

    assert_eq!(raw2.cmd(&["MODULE", "UNLOAD", "testkit"]), Reply::ok());
    let e = query_err(&mut con, &cmd(&["TESTKIT.ARGS"]));
    assert!(e.contains("unknown command"), "{e}");
    // Loaded again after unloading.
    assert_eq!(raw2.cmd(&["MODULE", "LOAD", testkit]), Reply::ok());
    assert_eq!(raw2.cmd(&["TESTKIT.ARGS"]), Reply::Array(vec![]));
    server.stop();
}

#[test]
fn library_subscriptions_receive_key_events_until_unloaded() {
    let libs = libs();
    let mut server = Server::builder().memory().start();
    let mut raw = server.raw();
    assert_eq!(
        raw.cmd(&["MODULE", "LOAD", path_str(&libs.testkit)]),
        Reply::ok()
    );
    raw.cmd(&["SET", "watched:1", "a"]);
    raw.cmd(&["SET", "unwatched", "b"]);
    raw.cmd(&["DEL", "watched:1", "unwatched"]);
    // Events of commands run through call() are delivered too.
    raw.cmd(&["TESTKIT.CALL", "SET", "watched:2", "c"]);
    assert_eq!(
        raw.cmd(&["TESTKIT.EVENTS"]),
        Reply::Array(vec![
            Reply::Int(3),
            Reply::Int(0),
            Reply::bulk("set"),
            Reply::bulk("watched:2"),
        ])
    );
    // A subscription made from a command.
    assert_eq!(raw.cmd(&["TESTKIT.SUBSCRIBE", "late:*"]), Reply::ok());
    raw.cmd(&["SET", "late:1", "x"]);
    // Subscribed to every class, it hears the key being created (`new`) and `set`.
    assert_eq!(raw.cmd(&["TESTKIT.EVENTS"]).items()[1], Reply::Int(2));

    // After unloading, writes to watched keys must not call into the closed library (which
    // would crash the server).
    assert_eq!(raw.cmd(&["MODULE", "UNLOAD", "testkit"]), Reply::ok());
    assert_eq!(raw.cmd(&["SET", "watched:3", "d"]), Reply::ok());
    assert_eq!(raw.cmd(&["SET", "late:2", "d"]), Reply::ok());
    assert_eq!(raw.cmd(&["PING"]), Reply::simple("PONG"));
    assert!(server.is_running());
    server.stop();
}

#[test]
fn refused_loads_explain_why_and_the_server_keeps_running() {
    let libs = libs();
    let mut server = without_builtin_plugins().memory().start();
    let mut raw = server.raw();
    let load_err = |raw: &mut common::RawConn, args: &[&str]| -> String {
        let mut words = vec!["MODULE", "LOAD"];
        words.extend_from_slice(args);
        match raw.cmd(&words) {
            Reply::Error(e) => e,
            other => panic!("MODULE LOAD {args:?} should fail, got {other:?}"),
        }
    };
    let e = load_err(&mut raw, &["/nonexistent/libnothing.so"]);
    assert!(
        e.starts_with("ERR Error loading the extension. cannot open /nonexistent/libnothing.so"),
        "{e}"
    );
    let e = load_err(&mut raw, &[path_str(&libs.no_entry)]);
    assert!(
        e.contains("is not a Respite plugin") && e.contains("respite_plugin_entry"),
        "{e}"
    );
    let e = load_err(&mut raw, &[path_str(&libs.old_abi)]);
    assert!(
        e.contains("plugin ABI version 3") && e.contains("speaks version 2"),
        "{e}"
    );
    // A command name that clashes with a core one: refused, and nothing of it stays.
    let e = load_err(&mut raw, &[path_str(&libs.testkit), "clash"]);
    assert!(e.contains("command 'get' is already registered"), "{e}");
    assert!(raw.cmd(&["TESTKIT.ARGS"]).is_error());
    let e = load_err(&mut raw, &[path_str(&libs.testkit), "fail"]);
    assert!(e.contains("testkit was asked to fail its init"), "{e}");
    assert_eq!(raw.cmd(&["MODULE", "LIST"]), Reply::Array(vec![]));

    assert_eq!(
        raw.cmd(&["MODULE", "LOAD", path_str(&libs.testkit)]),
        Reply::ok()
    );
    let e = load_err(&mut raw, &[path_str(&libs.testkit)]);
    assert!(
        e.contains("a plugin named 'testkit' is already loaded"),
        "{e}"
    );
    assert_eq!(
        raw.cmd(&["MODULE", "UNLOAD", "nosuch"]),
        Reply::error("ERR Error unloading module: no such module with that name")
    );
    let e = raw.cmd(&[
        "MODULE",
        "LOADEX",
        path_str(&libs.ratelimit),
        "CONFIG",
        "a",
        "b",
    ]);
    assert!(e.is_error(), "{e:?}");
    // The loaded plugin still works, as does the server.
    assert_eq!(raw.cmd(&["TESTKIT.ARGS"]), Reply::Array(vec![]));
    assert_eq!(raw.cmd(&["PING"]), Reply::simple("PONG"));
    server.stop();
}

#[test]
fn a_panic_in_a_plugin_command_is_an_error_reply_not_a_crash() {
    let libs = libs();
    let mut server = Server::builder()
        .memory()
        .config(format!(
            "[[plugins.load]]\npath = {}\n",
            toml_path(&libs.testkit)
        ))
        .start();
    let mut con = server.conn();
    let e = redis::cmd("TESTKIT.PANIC")
        .query::<Value>(&mut con)
        .expect_err("a panic is an error reply");
    let text = err_text(&e);
    assert!(
        text.contains("plugin command panicked") && text.contains("testkit was asked to panic"),
        "{text}"
    );
    // The same connection, another one and the plugin itself keep working.
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
    let mut other = server.conn();
    let args: Vec<String> = redis::cmd("TESTKIT.ARGS").query(&mut other).unwrap();
    assert!(args.is_empty());
    assert!(server.is_running());
    server.stop();
}

#[test]
fn bad_plugin_configuration_stops_startup_with_a_clear_message() {
    let libs = libs();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("respite.toml");
    let start = |text: &str| {
        std::fs::write(&file, text).unwrap();
        let out = run_respite(
            dir.path(),
            &[
                "--config",
                path_str(&file),
                "--db",
                ":memory:",
                "--port",
                "0",
                "--bind",
                "127.0.0.1",
            ],
            &[],
        );
        assert!(!out.status.success(), "{text} should not start");
        output_text(&out)
    };
    let out = start("[[plugins.load]]\npath = \"/nonexistent/lib.so\"\n");
    assert!(
        out.contains("cannot start plugins") && out.contains("/nonexistent/lib.so"),
        "{out}"
    );
    let out = start(&format!(
        "[[plugins.load]]\npath = {}\n",
        toml_path(&libs.old_abi)
    ));
    assert!(out.contains("plugin ABI version 3"), "{out}");
    let out = start("[[plugins.load]]\npth = \"x.so\"\n");
    assert!(
        out.contains("plugins.load") && out.contains("pth") && out.contains("respite.toml"),
        "{out}"
    );
    let out = start("[plugins.nosuch]\nspeed = 11\n");
    assert!(
        out.contains("plugins.nosuch") && out.contains("unknown plugin section"),
        "{out}"
    );
    let out = start("[plugins]\nenabled = [\"nosuch\"]\n");
    assert!(
        out.contains("plugins.enabled") && out.contains("\"nosuch\""),
        "{out}"
    );
}

#[test]
fn panics_in_a_key_event_callback_and_a_timer_leave_the_server_serving() {
    let libs = libs();
    let mut server = without_builtin_plugins().memory().start();
    let mut raw = server.raw();
    assert_eq!(
        raw.cmd(&["MODULE", "LOAD", path_str(&libs.testkit)]),
        Reply::ok()
    );
    // The callback subscribed to panic:* panics: the write stands, the server serves.
    assert_eq!(raw.cmd(&["SET", "panic:1", "x"]), Reply::ok());
    assert_eq!(raw.cmd(&["GET", "panic:1"]), Reply::bulk("x"));
    // A timer panics; a later timer of the same plugin still runs and calls SET.
    assert_eq!(raw.cmd(&["TESTKIT.PANICLATER"]), Reply::ok());
    wait_until_reply(&mut raw, &["GET", "testkit:after-panic"], Reply::bulk("1"));
    assert_eq!(raw.cmd(&["PING"]), Reply::simple("PONG"));
    common::wait_until("the panics to be logged", Duration::from_secs(30), || {
        let log = server.stderr();
        log.contains("testkit timer panics") && log.contains("testkit event callback panics")
    });
    assert!(server.is_running());
    server.stop();
}

fn wait_until_reply(raw: &mut common::RawConn, words: &[&str], want: Reply) {
    common::wait_until(
        &format!("{words:?} to answer {want:?}"),
        Duration::from_secs(30),
        || raw.cmd(words) == want,
    );
}

#[test]
fn callbacks_and_timers_call_commands_and_clients_park_until_served() {
    let libs = libs();
    let mut server = without_builtin_plugins().memory().start();
    let mut raw = server.raw();
    assert_eq!(
        raw.cmd(&["MODULE", "LOAD", path_str(&libs.testkit)]),
        Reply::ok()
    );
    // A key-event callback calls INCR; a timer calls SET.
    raw.cmd(&["SET", "watched:a", "1"]);
    raw.cmd(&["SET", "watched:b", "1"]);
    assert_eq!(raw.cmd(&["GET", "testkit:seen"]), Reply::bulk("2"));
    assert!(raw.cmd(&["TESTKIT.AFTER", "20", "timed", "yes"]).int() > 0);
    wait_until_reply(&mut raw, &["GET", "timed"], Reply::bulk("yes"));

    // Per-plugin state and the INFO section.
    assert_eq!(raw.cmd(&["TESTKIT.BUMP"]), Reply::Int(1));
    assert_eq!(raw.cmd(&["TESTKIT.BUMP"]), Reply::Int(2));
    raw.cmd(&["TESTKIT.CALL", "PING"]);
    let info = raw.cmd(&["INFO", "testkit"]).text();
    assert!(info.starts_with("# Testkit\r\n"), "{info}");
    assert_eq!(
        common::info_field(&info, "testkit_calls").as_deref(),
        Some("1")
    );

    // A parked client is served by a later command of another client.
    let mut parked = server.raw();
    let id = parked.cmd(&["CLIENT", "ID"]).int();
    parked.send_cmd(&["TESTKIT.BLOCK", "0"]);
    let id_s = id.to_string();
    wait_until_reply(&mut raw, &["TESTKIT.SERVE", &id_s, "hello"], Reply::Int(1));
    assert_eq!(parked.read_reply(), Reply::bulk("hello"));
    assert_eq!(raw.cmd(&["TESTKIT.SERVE", &id_s, "again"]), Reply::Int(0));
    // ... or times out with the plugin's timeout reply, and the plugin is told.
    assert_eq!(
        parked.cmd(&["TESTKIT.BLOCK", "50"]),
        Reply::bulk("timed out")
    );
    assert_eq!(
        raw.cmd(&["TESTKIT.UNBLOCKED"]),
        Reply::Array(vec![Reply::bulk(format!("{id}:Timeout"))])
    );
    // Inside MULTI a client cannot park.
    assert_eq!(parked.cmd(&["MULTI"]), Reply::ok());
    parked.cmd(&["TESTKIT.BLOCK", "0"]);
    assert_eq!(
        parked.cmd(&["EXEC"]),
        Reply::Array(vec![Reply::bulk("cannot block here")])
    );
    server.stop();
}

#[test]
fn unload_leaves_commands_info_and_subscriptions_as_before_the_load() {
    let libs = libs();
    let mut server = without_builtin_plugins().memory().start();
    let mut raw = server.raw();
    let count_before = raw.cmd(&["COMMAND", "COUNT"]).int();
    let sections_before = common::info_sections(&raw.cmd(&["INFO", "everything"]).text());

    assert_eq!(
        raw.cmd(&["MODULE", "LOAD", path_str(&libs.testkit)]),
        Reply::ok()
    );
    assert!(raw.cmd(&["COMMAND", "COUNT"]).int() > count_before);
    let sections = common::info_sections(&raw.cmd(&["INFO", "everything"]).text());
    assert!(sections.contains(&"Testkit".to_string()), "{sections:?}");
    raw.cmd(&["SET", "watched:1", "x"]);
    assert_eq!(raw.cmd(&["GET", "testkit:seen"]), Reply::bulk("1"));
    // A timer still pending at unload must never fire.
    raw.cmd(&["TESTKIT.AFTER", "200", "too-late", "x"]);

    assert_eq!(raw.cmd(&["MODULE", "UNLOAD", "testkit"]), Reply::ok());
    assert_eq!(raw.cmd(&["COMMAND", "COUNT"]).int(), count_before);
    assert_eq!(
        common::info_sections(&raw.cmd(&["INFO", "everything"]).text()),
        sections_before
    );
    assert_eq!(raw.cmd(&["INFO", "testkit"]).text(), "");
    // The subscription is gone: its callback no longer counts writes.
    raw.cmd(&["SET", "watched:2", "x"]);
    assert_eq!(raw.cmd(&["GET", "testkit:seen"]), Reply::bulk("1"));
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(raw.cmd(&["GET", "too-late"]), Reply::NilBulk);
    assert_eq!(raw.cmd(&["PING"]), Reply::simple("PONG"));
    server.stop();
}
