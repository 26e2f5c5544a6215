//! Key-event hooks written in Lua (`[scripting] hooks`, `respite.on_key_event`), black box:
//! the shipped per-prefix counter, audit list and change feed under several writing clients;
//! hooks run after the command (they read what it wrote) in the same atomic step, for plain
//! commands, EXEC and scripts; a hook's writes reach no hook but do reach keyspace
//! notifications; errors, huge allocations and endless loops in hooks are counted and never
//! fail the client's command; SCRIPT RELOAD replaces hooks.

mod common;

use std::thread;
use std::time::Duration;

use common::lua_files::{shipped, toml_list, write_file};
use common::{info_field, ping_fresh, wait_until, RawConn, Reply, Server};

fn hooks_config(paths: &[&str]) -> String {
    format!("[scripting]\nhooks = {}\n", toml_list(paths))
}

fn stat(c: &mut RawConn, field: &str) -> i64 {
    let info = c.cmd(&["INFO", "stats"]).text();
    info_field(&info, field)
        .unwrap_or_else(|| panic!("no {field} in INFO"))
        .parse()
        .expect("number")
}

/// The payload of the next pub/sub message on `c`.
fn next_message(c: &mut RawConn) -> String {
    let msg = c.read_reply();
    let items = msg.items();
    assert_eq!(items[0], Reply::bulk("message"), "{msg:?}");
    items[2].text()
}

#[test]
fn shipped_hooks_count_audit_and_publish_under_load() {
    let server = Server::builder()
        .config(hooks_config(&[
            &shipped("prefix_counter.lua"),
            &shipped("audit_log.lua"),
            &shipped("change_feed.lua"),
        ]))
        .start();
    let mut c = server.raw();
    assert_eq!(stat(&mut c, "respite_lua_hooks"), 3);
    let mut feed = server.raw();
    feed.cmd(&["SUBSCRIBE", "changes"]);
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]),
        Reply::ok()
    );
    let mut notes = server.raw();
    notes.cmd(&["SUBSCRIBE", "__keyspace@0__:stats:writes"]);

    let writers: Vec<_> = (0..4)
        .map(|t| {
            let addr = server.addr();
            thread::spawn(move || {
                let mut c = RawConn::connect(addr);
                for i in 0..25 {
                    assert_eq!(c.cmd(&["SET", &format!("user:{t}:{i}"), "v"]), Reply::ok());
                    if i % 5 == 0 {
                        let key = format!("account:{t}");
                        assert_eq!(c.cmd(&["HSET", &key, &format!("f{i}"), "v"]), Reply::Int(1));
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
    assert_eq!(c.cmd(&["HGET", "stats:writes", "user"]), Reply::bulk("100"));
    assert_eq!(
        c.cmd(&["HGET", "stats:writes", "account"]),
        Reply::bulk("20")
    );
    assert_eq!(c.cmd(&["LLEN", "audit:log"]), Reply::Int(20));
    let newest = c.cmd(&["LINDEX", "audit:log", "0"]).text();
    let parts: Vec<&str> = newest.split(' ').collect();
    assert_eq!(parts.len(), 3, "{newest}");
    assert!(parts[0].parse::<u64>().is_ok(), "{newest}");
    assert_eq!(parts[1], "hset");
    assert!(parts[2].starts_with("account:"), "{newest}");

    // Every change, once, in each client's order; none of the hooks' own writes.
    let mut next_i = [0usize; 4];
    for _ in 0..120 {
        let m = next_message(&mut feed);
        if let Some(rest) = m.strip_prefix("0 set user:") {
            let (t, i) = rest.split_once(':').expect("user:t:i");
            let (t, i): (usize, usize) = (t.parse().unwrap(), i.parse().unwrap());
            assert_eq!(i, next_i[t], "out of order: {m}");
            next_i[t] += 1;
        } else {
            assert!(m.starts_with("0 hset account:"), "{m}");
        }
    }
    assert_eq!(next_i, [25; 4]);
    // The hooks' writes reached keyspace notifications.
    let note = notes.read_reply();
    assert_eq!(note.items()[2], Reply::bulk("hincrby"), "{note:?}");

    // A failed command changes nothing: no event, no hook. A discarded transaction neither.
    assert!(c.cmd(&["LPUSH", "user:0:1", "x"]).is_error());
    c.cmd(&["MULTI"]);
    c.cmd(&["SET", "user:never", "x"]);
    c.cmd(&["DISCARD"]);
    // EXEC, scripts and DEL run hooks as plain commands do.
    c.cmd(&["MULTI"]);
    c.cmd(&["SET", "user:tx", "x"]);
    assert_eq!(c.cmd(&["EXEC"]), Reply::Array(vec![Reply::ok()]));
    c.cmd(&["EVAL", "redis.call('SET', KEYS[1], 'x')", "1", "user:lua"]);
    assert_eq!(c.cmd(&["DEL", "user:0:0"]), Reply::Int(1));
    assert_eq!(next_message(&mut feed), "0 set user:tx");
    assert_eq!(next_message(&mut feed), "0 set user:lua");
    assert_eq!(next_message(&mut feed), "0 del user:0:0");
    assert_eq!(c.cmd(&["HGET", "stats:writes", "user"]), Reply::bulk("103"));
    assert_eq!(stat(&mut c, "respite_lua_hook_errors"), 0);
}

const TEST_HOOKS: &str = r#"
respite.on_key_event{
  name = 'mirror', events = {'set'}, pattern = 'src:*',
  handler = function(event, key, db)
    -- Runs after the command: reads what it wrote.
    redis.call('SET', 'copy:' .. key, redis.call('GET', key))
    redis.call('SET', 'b:' .. key, 'from mirror')
  end,
}
respite.on_key_event{
  name = 'watch_b', pattern = 'b:*',
  handler = function(event, key) redis.call('INCR', 'seen:b') end,
}
respite.on_key_event{
  name = 'deletions', events = {'del'},
  handler = function(event, key, db) redis.call('RPUSH', 'deleted', key .. '@' .. db) end,
}
respite.on_key_event{
  name = 'broken', events = {'set'}, pattern = 'bad:*',
  handler = function() error('hook broke') end,
}
respite.on_key_event{
  name = 'hog', events = {'set'}, pattern = 'hog:*',
  handler = function() local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 1024) .. i end end,
}
"#;

#[test]
fn hooks_read_write_and_fail_without_failing_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "hooks.lua", TEST_HOOKS);
    let server = Server::builder()
        .config(format!(
            "{}memory_limit = \"32mb\"\n",
            hooks_config(&[&file])
        ))
        .start();
    let mut c = server.raw();
    assert_eq!(c.cmd(&["SET", "src:1", "hello"]), Reply::ok());
    assert_eq!(c.cmd(&["GET", "copy:src:1"]), Reply::bulk("hello"));
    // Hook A's write is not delivered to hook B: no hook sees a hook's writes.
    assert_eq!(c.cmd(&["GET", "b:src:1"]), Reply::bulk("from mirror"));
    assert_eq!(c.cmd(&["EXISTS", "seen:b"]), Reply::Int(0));
    c.cmd(&["SET", "b:direct", "x"]);
    assert_eq!(c.cmd(&["GET", "seen:b"]), Reply::bulk("1"));

    // Names filter the events; the database is the key's.
    c.cmd(&["SELECT", "3"]);
    c.cmd(&["SET", "gone", "x"]);
    assert_eq!(c.cmd(&["DEL", "gone"]), Reply::Int(1));
    assert_eq!(
        c.cmd(&["LRANGE", "deleted", "0", "-1"]),
        Reply::Array(vec![Reply::bulk("gone@3")])
    );
    c.cmd(&["SELECT", "0"]);

    // Errors: the client's command succeeds, the error is counted and logged.
    assert_eq!(stat(&mut c, "respite_lua_hook_errors"), 0);
    assert_eq!(c.cmd(&["SET", "bad:1", "x"]), Reply::ok());
    assert_eq!(c.cmd(&["GET", "bad:1"]), Reply::bulk("x"));
    assert_eq!(stat(&mut c, "respite_lua_hook_errors"), 1);
    // The log is read from the server's stderr by a thread of the test's: wait for it.
    wait_until("the hook error to be logged", common::IO_TIMEOUT, || {
        let log = server.stderr();
        log.contains("hook broke") && log.contains("broken")
    });
    assert_eq!(c.cmd(&["SET", "hog:1", "x"]), Reply::ok());
    assert_eq!(stat(&mut c, "respite_lua_hook_errors"), 2);
    assert_eq!(c.cmd(&["SET", "src:2", "again"]), Reply::ok());
    assert_eq!(c.cmd(&["GET", "copy:src:2"]), Reply::bulk("again"));
    assert!(stat(&mut c, "respite_lua_hook_calls") >= 6);

    // Reload: the new file's hooks replace the old ones.
    write_file(
        dir.path(),
        "hooks.lua",
        "respite.on_key_event{ pattern = 'new:*', handler = function(e, key) redis.call('INCR', 'reloaded') end }\n",
    );
    assert_eq!(c.cmd(&["SCRIPT", "RELOAD"]), Reply::ok());
    assert_eq!(stat(&mut c, "respite_lua_hooks"), 1);
    c.cmd(&["SET", "src:3", "x"]);
    assert_eq!(c.cmd(&["EXISTS", "copy:src:3"]), Reply::Int(0));
    c.cmd(&["SET", "new:1", "x"]);
    assert_eq!(c.cmd(&["GET", "reloaded"]), Reply::bulk("1"));
}

/// A hook that never ends: past the threshold other clients get -BUSY, FUNCTION KILL stops
/// it, and the command that triggered it still succeeds (io_threads > 1 for the -BUSY path).
#[test]
fn an_endless_hook_is_killed_and_the_command_still_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        dir.path(),
        "loop.lua",
        "respite.on_key_event{ name = 'forever', pattern = 'loop:*', handler = function() while true do end end }\n",
    );
    let server = Server::builder()
        .config(format!(
            "[server]\nio_threads = 2\n{}busy_reply_threshold = 100\n",
            hooks_config(&[&file])
        ))
        .start();
    let addr = server.addr();
    let writer = thread::spawn(move || RawConn::connect(addr).cmd(&["SET", "loop:1", "x"]));
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
    let mut c = server.raw();
    assert_eq!(c.cmd(&["FUNCTION", "KILL"]), Reply::ok());
    assert_eq!(writer.join().expect("writer"), Reply::ok());
    assert_eq!(c.cmd(&["GET", "loop:1"]), Reply::bulk("x"));
    assert_eq!(stat(&mut c, "respite_lua_hook_errors"), 1);
    assert_eq!(c.cmd(&["PING"]), Reply::simple("PONG"));
}
