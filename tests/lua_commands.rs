//! Custom commands written in Lua (`[scripting] commands`, `respite.register_command`), black
//! box: the shipped sliding-window rate limiter with several clients at once; commands that
//! show in COMMAND, obey arity, flags and key specs, queue in MULTI, run from EVAL and from a
//! plugin; SCRIPT RELOAD with connected clients, all or nothing; bad files refused at start-up
//! with their file and line; bad handlers (errors, endless loops, huge allocations) stopped
//! while the server stays up.

mod common;

use std::path::PathBuf;
use std::thread;
use std::time::Duration;

use common::lua_files::{shipped, toml_list, write_file};
use common::plugin_libs::libs;
use common::{
    cmd, output_text, ping_fresh, query_err, run_respite, wait_until, RawConn, Reply, Server,
};
use redis::Value;

fn commands_config(paths: &[&str]) -> String {
    format!("[scripting]\ncommands = {}\n", toml_list(paths))
}

/// The text of an error reply.
fn error_text(r: &Reply) -> String {
    match r {
        Reply::Error(e) => e.clone(),
        other => panic!("expected an error, got {other:?}"),
    }
}

fn allow(con: &mut redis::Connection, key: &str, limit: i64, window_ms: i64) -> Vec<i64> {
    cmd(&[
        "RATELIMIT.SLIDING",
        key,
        &limit.to_string(),
        &window_ms.to_string(),
    ])
    .query(con)
    .expect("ratelimit.sliding")
}

#[test]
fn rate_limiter_counts_exactly_across_clients() {
    let server = Server::builder()
        .config(commands_config(&[&shipped("rate_limiter.lua")]))
        .start();
    let mut con = server.conn();
    // A window no test outlasts: the limit alone decides.
    assert_eq!(allow(&mut con, "solo", 2, 600_000), [1, 1, 0]);
    assert_eq!(allow(&mut con, "solo", 2, 600_000), [1, 0, 0]);
    let refused = allow(&mut con, "solo", 2, 600_000);
    assert_eq!(&refused[..2], [0, 0]);
    assert!(
        (1..=600_000).contains(&refused[2]),
        "retry_after_ms {refused:?}"
    );
    let ttl: i64 = cmd(&["PTTL", "solo"]).query(&mut con).unwrap();
    assert!((1..=600_000).contains(&ttl), "{ttl}");
    assert_eq!(
        query_err(&mut con, &cmd(&["RATELIMIT.SLIDING", "k", "x", "10"])),
        "ERR limit must be a positive integer"
    );

    // Eight clients race for 50 slots: exactly 50 calls are allowed, because each call is
    // one atomic command.
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let client = server.client();
            thread::spawn(move || {
                let mut con = client.get_connection().expect("connect");
                let mut allowed = 0;
                for _ in 0..20 {
                    let r: Vec<i64> = cmd(&["ratelimit.sliding", "shared", "50", "600000"])
                        .query(&mut con)
                        .expect("call");
                    allowed += r[0];
                }
                allowed
            })
        })
        .collect();
    let allowed: i64 = threads.into_iter().map(|t| t.join().expect("client")).sum();
    assert_eq!(allowed, 50);
    let members: i64 = cmd(&["ZCARD", "shared"]).query(&mut con).unwrap();
    assert_eq!(members, 50);
}

#[test]
fn a_custom_command_is_a_real_command() {
    let server = Server::builder()
        .config(commands_config(&[&shipped("rate_limiter.lua")]))
        .start();
    let mut c = server.raw();
    let info = c.cmd(&["COMMAND", "INFO", "ratelimit.sliding"]);
    let info = info.items()[0].items();
    assert_eq!(info[0], Reply::bulk("ratelimit.sliding"));
    assert_eq!(info[1], Reply::Int(4));
    assert_eq!(
        info[2],
        Reply::Array(vec![Reply::simple("write"), Reply::simple("denyoom")])
    );
    assert_eq!(info[3..6], [Reply::Int(1), Reply::Int(1), Reply::Int(1)]);
    assert_eq!(
        info[6],
        Reply::Array(vec![
            Reply::simple("@write"),
            Reply::simple("@slow"),
            Reply::simple("@scripting"),
        ])
    );
    let list = c.cmd(&["COMMAND", "LIST"]);
    assert!(list.items().contains(&Reply::bulk("ratelimit.sliding")));
    let plain = Server::start().raw().cmd(&["COMMAND", "COUNT"]).int();
    assert_eq!(c.cmd(&["COMMAND", "COUNT"]), Reply::Int(plain + 1));
    assert_eq!(
        c.cmd(&[
            "COMMAND",
            "GETKEYS",
            "RATELIMIT.SLIDING",
            "user:1",
            "5",
            "1000"
        ]),
        Reply::Array(vec![Reply::bulk("user:1")])
    );
    let docs = c.cmd(&["COMMAND", "DOCS", "ratelimit.sliding"]);
    assert!(format!("{docs:?}").contains("sliding window"), "{docs:?}");
    assert_eq!(
        c.cmd(&["RATELIMIT.SLIDING", "k", "1"]),
        Reply::error("ERR wrong number of arguments for 'ratelimit.sliding' command")
    );

    // MULTI queues it; EXEC runs it atomically with the rest.
    assert_eq!(c.cmd(&["MULTI"]), Reply::ok());
    assert_eq!(
        c.cmd(&["ratelimit.sliding", "m", "1", "600000"]),
        Reply::simple("QUEUED")
    );
    assert_eq!(
        c.cmd(&["ratelimit.sliding", "m", "1", "600000"]),
        Reply::simple("QUEUED")
    );
    assert_eq!(c.cmd(&["ZCARD", "m"]), Reply::simple("QUEUED"));
    let exec = c.cmd(&["EXEC"]);
    assert_eq!(exec.items()[0].items()[0], Reply::Int(1));
    assert_eq!(exec.items()[1].items()[0], Reply::Int(0));
    assert_eq!(exec.items()[2], Reply::Int(1));
    // An arity error inside MULTI dooms the transaction as for a built-in.
    c.cmd(&["MULTI"]);
    assert!(c.cmd(&["ratelimit.sliding", "m"]).is_error());
    assert_eq!(
        c.cmd(&["EXEC"]),
        Reply::error("EXECABORT Transaction discarded because of previous errors.")
    );

    // From a script, through redis.call; a read-only script may not call a write command.
    assert_eq!(
        c.cmd(&[
            "EVAL",
            "return redis.call('ratelimit.sliding', KEYS[1], 3, 600000)",
            "1",
            "e"
        ]),
        Reply::Array(vec![Reply::Int(1), Reply::Int(2), Reply::Int(0)])
    );
    let ro = c.cmd(&[
        "EVAL_RO",
        "return redis.call('ratelimit.sliding', KEYS[1], 3, 600000)",
        "1",
        "e",
    ]);
    assert!(
        error_text(&ro).starts_with("ERR Write commands are not allowed from read-only scripts."),
        "{ro:?}"
    );
}

/// The test file for flags, key specs and the read-only rule.
const TEST_COMMANDS: &str = r#"
local hits = 0

respite.register_command{
  name = 'greet', arity = 2, flags = {'readonly', 'fast'},
  handler = function(keys, args) hits = hits + 1 return 'hello ' .. args[1] end,
}
respite.register_command{
  name = 'hits', arity = 1, flags = {'readonly'},
  handler = function() return hits end,
}
respite.register_command{
  name = 'sneaky.write', arity = 2, keys = {first = 1},
  handler = function(keys) return redis.call('SET', keys[1], 'x') end,
}
respite.register_command{
  name = 'sum.keys', arity = -2, flags = {'readonly'}, keys = {numkeys = 1},
  handler = function(keys, args)
    local total = 0
    for _, k in ipairs(keys) do total = total + tonumber(redis.call('GET', k) or '0') end
    return {total, #keys, args}
  end,
}
respite.register_command{
  name = 'no.scripts', arity = 1, flags = {'noscript'},
  handler = function() return 'direct only' end,
}
respite.register_command{
  name = 'no.multi', arity = 1, flags = {'no-multi'},
  handler = function() return 'alone' end,
}
respite.register_command{
  name = 'nested', arity = 2, flags = {'readonly'},
  handler = function(keys, args) return redis.call('greet', 'from ' .. args[1]) end,
}
respite.register_command{
  name = 'fails', arity = 1,
  handler = function() error('something broke') end,
}
respite.register_command{
  name = 'hog', arity = 1,
  handler = function() local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 1024) .. i end end,
}
respite.register_command{
  name = 'spin', arity = 1,
  handler = function() while true do end end,
}
"#;

#[test]
fn flags_keys_and_errors_of_custom_commands() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "test_commands.lua", TEST_COMMANDS);
    let server = Server::builder()
        .config(format!(
            "{}memory_limit = \"32mb\"\n",
            commands_config(&[&file])
        ))
        .start();
    let mut c = server.raw();
    assert_eq!(c.cmd(&["GREET", "you"]), Reply::bulk("hello you"));
    // State in the file's locals lives across calls.
    assert_eq!(c.cmd(&["hits"]), Reply::Int(1));
    assert_eq!(
        c.cmd(&["command", "info", "greet"]).items()[0].items()[2],
        Reply::Array(vec![Reply::simple("readonly"), Reply::simple("fast")])
    );
    // Declared without "write": it may not write.
    let refused = c.cmd(&["sneaky.write", "k"]);
    assert!(
        error_text(&refused)
            .starts_with("ERR Write commands are not allowed from read-only scripts."),
        "{refused:?}"
    );
    assert_eq!(c.cmd(&["EXISTS", "k"]), Reply::Int(0));

    // numkeys: the count, then the keys; the rest are arguments.
    c.cmd(&["SET", "a", "2"]);
    c.cmd(&["SET", "b", "3"]);
    assert_eq!(
        c.cmd(&["sum.keys", "2", "a", "b", "extra"]),
        Reply::Array(vec![
            Reply::Int(5),
            Reply::Int(2),
            Reply::Array(vec![Reply::bulk("extra")])
        ])
    );
    assert_eq!(
        c.cmd(&["COMMAND", "GETKEYS", "sum.keys", "2", "a", "b", "extra"]),
        Reply::Array(vec![Reply::bulk("a"), Reply::bulk("b")])
    );
    assert_eq!(
        c.cmd(&["sum.keys", "3", "a"]),
        Reply::error("ERR Number of keys can't be greater than number of args")
    );
    let flags = c.cmd(&["command", "info", "sum.keys"]).items()[0].items()[2].clone();
    assert!(flags.items().contains(&Reply::simple("movablekeys")));

    assert_eq!(c.cmd(&["no.scripts"]), Reply::bulk("direct only"));
    let from_script = c.cmd(&["EVAL", "return redis.call('no.scripts')", "0"]);
    assert!(
        error_text(&from_script).starts_with("ERR This Redis command is not allowed from script"),
        "{from_script:?}"
    );
    c.cmd(&["MULTI"]);
    assert_eq!(
        c.cmd(&["no.multi"]),
        Reply::error("ERR Command not allowed inside a transaction")
    );
    c.cmd(&["DISCARD"]);
    assert_eq!(c.cmd(&["no.multi"]), Reply::bulk("alone"));

    // A Lua command calling a Lua command.
    assert_eq!(c.cmd(&["nested", "x"]), Reply::bulk("hello from x"));

    // A runtime error is the caller's error, with the file and line.
    let err = c.cmd(&["fails"]);
    assert!(err.is_error(), "{err:?}");
    let text = format!("{err:?}");
    assert!(
        text.contains("test_commands.lua:38: something broke") && text.contains("script: fails"),
        "{text}"
    );
    // A huge allocation hits the memory limit; the next command runs normally.
    assert_eq!(
        c.cmd(&["hog"]),
        Reply::error("ERR Lua script exceeded its memory limit (scripting.memory_limit)")
    );
    assert_eq!(c.cmd(&["greet", "again"]), Reply::bulk("hello again"));
    assert_eq!(c.cmd(&["PING"]), Reply::simple("PONG"));
}

/// An endless handler: other clients get -BUSY past the threshold, FUNCTION KILL stops it
/// (the executor needs its own thread for that, io_threads > 1).
#[test]
fn an_endless_handler_is_killed_and_the_server_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "test_commands.lua", TEST_COMMANDS);
    let server = Server::builder()
        .config(format!(
            "[server]\nio_threads = 2\n{}busy_reply_threshold = 100\n",
            commands_config(&[&file])
        ))
        .start();
    let addr = server.addr();
    let spinning = thread::spawn(move || RawConn::connect(addr).cmd(&["spin"]));
    // A fresh connection per try: a reply the executor produced in the same batch as the
    // endless command is held until the batch ends.
    let mut reply = Reply::Null;
    wait_until("the server to answer BUSY", Duration::from_secs(30), || {
        reply = ping_fresh(&server);
        reply.is_error()
    });
    assert_eq!(
        reply,
        Reply::error(
            "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
        )
    );
    let mut other = server.raw();
    assert_eq!(other.cmd(&["FUNCTION", "KILL"]), Reply::ok());
    let killed = spinning.join().expect("spinning client");
    assert!(killed.is_error(), "{killed:?}");
    assert!(format!("{killed:?}").contains("killed"), "{killed:?}");
    assert_eq!(other.cmd(&["PING"]), Reply::simple("PONG"));
    assert_eq!(other.cmd(&["greet", "me"]), Reply::bulk("hello me"));
}

#[test]
fn a_plugin_calls_a_custom_command() {
    let libs = libs();
    let server = Server::builder()
        .config(format!(
            "{}[[plugins.load]]\npath = {}\n",
            commands_config(&[&shipped("rate_limiter.lua")]),
            toml::Value::String(libs.testkit.to_string_lossy().into_owned())
        ))
        .start();
    let mut con = server.conn();
    let r: Vec<i64> = cmd(&["TESTKIT.CALL", "ratelimit.sliding", "p", "1", "600000"])
        .query(&mut con)
        .unwrap();
    assert_eq!(r, [1, 0, 0]);
    let r: Vec<i64> = cmd(&["TESTKIT.CALL", "ratelimit.sliding", "p", "1", "600000"])
        .query(&mut con)
        .unwrap();
    assert_eq!(r[0], 0);
}

const V1: &str = r#"
respite.register_command{ name = 'version', arity = 1, handler = function() return 'v1' end }
respite.register_command{ name = 'only.v1', arity = 1, handler = function() return 1 end }
"#;

const V2: &str = r#"
respite.register_command{ name = 'version', arity = 1, handler = function() return 'v2' end }
respite.register_command{ name = 'only.v2', arity = -1, flags = {'readonly'},
  handler = function(keys, args) return #args end }
"#;

#[test]
fn script_reload_swaps_commands_for_connected_clients() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "app.lua", V1);
    let server = Server::builder().config(commands_config(&[&file])).start();
    let mut before = server.conn();
    let mut in_multi = server.raw();
    let mut admin = server.raw();
    let v: String = cmd(&["version"]).query(&mut before).unwrap();
    assert_eq!(v, "v1");
    in_multi.cmd(&["MULTI"]);
    assert_eq!(in_multi.cmd(&["version"]), Reply::simple("QUEUED"));

    write_file(dir.path(), "app.lua", V2);
    assert_eq!(admin.cmd(&["SCRIPT", "RELOAD"]), Reply::ok());
    // The same connections see the new definitions; the queued command runs the new one.
    let v: String = cmd(&["VERSION"]).query(&mut before).unwrap();
    assert_eq!(v, "v2");
    assert_eq!(
        in_multi.cmd(&["EXEC"]),
        Reply::Array(vec![Reply::bulk("v2")])
    );
    let n: i64 = cmd(&["only.v2", "a", "b"]).query(&mut before).unwrap();
    assert_eq!(n, 2);
    assert!(query_err(&mut before, &cmd(&["only.v1"])).starts_with("ERR unknown command 'only.v1'"));
    let gone = admin.cmd(&["COMMAND", "INFO", "only.v1"]);
    assert!(!format!("{gone:?}").contains("only.v1"), "{gone:?}");

    // A broken file: the reload fails naming the file and line, and nothing changes.
    write_file(
        dir.path(),
        "app.lua",
        "respite.register_command{ name = 'version', arity = 1, handler = function() return 'v3' end }\nlocal x = = 1\n",
    );
    let err = admin.cmd(&["SCRIPT", "RELOAD"]);
    let text = error_text(&err);
    assert!(
        err.is_error()
            && text.starts_with("ERR SCRIPT RELOAD failed, nothing changed: ")
            && text.contains("app.lua:2:"),
        "{err:?}"
    );
    let v: String = cmd(&["version"]).query(&mut before).unwrap();
    assert_eq!(v, "v2");

    // Taking a built-in's name is refused at the line that tries.
    write_file(
        dir.path(),
        "app.lua",
        "\n\nrespite.register_command{ name = 'GET', arity = 2, handler = function() return 1 end }\n",
    );
    let err = admin.cmd(&["SCRIPT", "RELOAD"]);
    assert!(
        error_text(&err)
            .contains("app.lua:3: command 'get' already exists: it is a built-in command"),
        "{err:?}"
    );
    let v: String = cmd(&["GET", "nokey"])
        .query::<Option<String>>(&mut before)
        .unwrap()
        .unwrap_or_default();
    assert_eq!(v, "");
    let v: String = cmd(&["version"]).query(&mut before).unwrap();
    assert_eq!(v, "v2");

    // Scripts may not reload (it would replace the running command).
    let from_script = admin.cmd(&["EVAL", "return redis.call('script', 'reload')", "0"]);
    assert!(
        error_text(&from_script).starts_with("ERR This Redis command is not allowed from script"),
        "{from_script:?}"
    );
    let value: Value = cmd(&["PING"]).query(&mut before).unwrap();
    assert_eq!(value, Value::SimpleString("PONG".into()));
}

#[test]
fn relative_paths_start_from_the_working_directory() {
    let mut server = Server::start();
    write_file(server.dir(), "mine.lua", V1);
    std::fs::write(server.config_path(), commands_config(&["mine.lua"])).unwrap();
    server.restart();
    let mut c = server.raw();
    assert_eq!(c.cmd(&["version"]), Reply::bulk("v1"));
}

/// Starts the binary with `files` as `[scripting] commands` (in a temp dir that is also its
/// working directory) and returns its output; it must fail.
fn start_fails(files: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
    for (name, text) in files {
        write_file(dir.path(), name, text);
    }
    let config = dir.path().join("respite.toml");
    std::fs::write(&config, commands_config(&names)).unwrap();
    let config: PathBuf = config;
    let out = run_respite(
        dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "--port",
            "0",
            "--db",
            ":memory:",
        ],
        &[],
    );
    let text = output_text(&out);
    assert!(!out.status.success(), "the server started:\n{text}");
    text
}

#[test]
fn bad_files_stop_startup_with_file_and_line() {
    let ok =
        "respite.register_command{ name = 'fine', arity = 1, handler = function() return 1 end }\n";
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("syntax.lua", "respite.register_command{\nname = 'x',,\n}\n")],
            "syntax.lua:2:",
        ),
        (
            &[("boom.lua", "\nerror('boom at load')\n")],
            "boom.lua:2: boom at load",
        ),
        (&[("missing.lua", "")], "registers nothing"),
        (
            &[(
                "clash.lua",
                "respite.register_command{ name = 'set', arity = 3, handler = function() end }\n",
            )],
            "clash.lua:1: command 'set' already exists: it is a built-in command",
        ),
        (
            &[("a.lua", ok), ("b.lua", &format!("\n{ok}"))],
            "b.lua:2: command 'fine' is already registered by",
        ),
        (
            &[("loop.lua", "while true do end\n")],
            "loop.lua:1: its top-level code ran longer than 500 ms",
        ),
        (
            &[(
                "hog.lua",
                "local s = string.rep('x', 1024 * 1024 * 1024)\n",
            )],
            "hog.lua: Lua script exceeded its memory limit (scripting.memory_limit)",
        ),
        (
            &[(
                "flags.lua",
                "respite.register_command{ name = 'b', arity = 1, flags = {'blocking'}, handler = function() end }\n",
            )],
            "flags.lua:1: respite.register_command: unknown or unsupported flag 'blocking'",
        ),
        (
            &[(
                "spec.lua",
                "respite.register_command{ name = 'x', arity = 2, keys = {first = 2}, handler = function() end }\n",
            )],
            "spec.lua:1: respite.register_command: the keys of 'x' lie beyond its arity 2",
        ),
        (
            &[(
                "rw.lua",
                "respite.register_command{ name = 'x', arity = 1, flags = {'write', 'readonly'}, handler = function() end }\n",
            )],
            "rw.lua:1: respite.register_command: 'x' cannot be both write and readonly",
        ),
        (
            &[(
                "field.lua",
                "\nrespite.register_command{ name = 'x', arity = 1, hanlder = function() end }\n",
            )],
            "field.lua:2: respite.register_command: unknown field 'hanlder'",
        ),
        (
            &[(
                "hook.lua",
                "respite.on_key_event{ events = {'set'} }\n",
            )],
            "hook.lua:1: respite.on_key_event: 'handler' is missing",
        ),
        (
            &[(
                "global.lua",
                "function helper() end\n",
            )],
            "global.lua:1: Attempt to modify a readonly table",
        ),
    ];
    for (files, expected) in cases {
        let text = start_fails(files);
        assert!(
            text.contains("cannot load Lua script files") && text.contains(expected),
            "expected {expected:?} in:\n{text}"
        );
    }
    // A file that does not exist.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("respite.toml");
    std::fs::write(&config, commands_config(&["nowhere.lua"])).unwrap();
    let out = run_respite(
        dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "--port",
            "0",
            "--db",
            ":memory:",
        ],
        &[],
    );
    let text = output_text(&out);
    assert!(!out.status.success());
    assert!(text.contains("nowhere.lua: cannot read the file"), "{text}");
}
