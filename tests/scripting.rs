//! Redis scripting, black box: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT with Redis 7's
//! replies (checked against redis-server 7.0.15), the Lua/RESP conversions both ways in RESP2
//! and RESP3, the error texts, the sandbox and its limits, `redis.call` going through the
//! dispatcher (WATCH, SELECT), `-BUSY` / SCRIPT KILL with several clients, and scripts taken
//! from real applications run unchanged through the `redis` crate's `Script`.

mod common;

use std::thread;
use std::time::Duration;

use common::{cmd, query_err, wait_until, RawConn, Reply, Server};

fn eval(c: &mut RawConn, script: &str, rest: &[&str]) -> Reply {
    let mut args = vec!["EVAL", script];
    args.extend_from_slice(rest);
    c.cmd(&args)
}

fn sha1(script: &str, c: &mut RawConn) -> String {
    c.cmd(&["SCRIPT", "LOAD", script]).text()
}

#[test]
fn script_values_convert_as_in_redis() {
    let server = Server::start();
    let mut c = server.raw();
    let n = |i| Reply::Int(i);
    assert_eq!(
        eval(&mut c, "return {1,2,3.7,'x',nil,5}", &["0"]),
        Reply::Array(vec![n(1), n(2), n(3), Reply::bulk("x")])
    );
    assert_eq!(eval(&mut c, "return -3.99", &["0"]), n(-3));
    assert_eq!(eval(&mut c, "return true", &["0"]), n(1));
    assert_eq!(eval(&mut c, "return false", &["0"]), Reply::NilBulk);
    assert_eq!(eval(&mut c, "return nil", &["0"]), Reply::NilBulk);
    assert_eq!(
        eval(&mut c, "return {err='oops'}", &["0"]),
        Reply::error("oops")
    );
    assert_eq!(
        eval(&mut c, "return {ok='fine'}", &["0"]),
        Reply::simple("fine")
    );
    assert_eq!(
        eval(&mut c, "return {1,{2,'x',{err='inner'}},{ok='st'}}", &["0"]),
        Reply::Array(vec![
            n(1),
            Reply::Array(vec![n(2), Reply::bulk("x"), Reply::error("inner")]),
            Reply::simple("st"),
        ])
    );
    assert_eq!(
        eval(&mut c, "return redis.error_reply('My Error')", &["0"]),
        Reply::error("My Error")
    );
    assert_eq!(
        eval(&mut c, "return redis.error_reply('-X My Error')", &["0"]),
        Reply::error("X My Error")
    );
    assert_eq!(
        eval(&mut c, "return redis.status_reply('FINE')", &["0"]),
        Reply::simple("FINE")
    );
    assert_eq!(
        eval(&mut c, "return redis.sha1hex('')", &["0"]),
        Reply::bulk("da39a3ee5e6b4b0d3255bfef95601890afd80709")
    );
    assert_eq!(
        eval(&mut c, "return redis.REDIS_VERSION", &["0"]),
        Reply::bulk("7.4.0"),
        "the version INFO and HELLO report"
    );
    assert_eq!(
        eval(&mut c, "return redis.REDIS_VERSION_NUM", &["0"]),
        Reply::Int(0x07_04_00)
    );
    assert_eq!(
        eval(
            &mut c,
            "return KEYS[1]..ARGV[1]..#KEYS..#ARGV",
            &["1", "k", "a"]
        ),
        Reply::bulk("ka11")
    );
    assert_eq!(
        eval(&mut c, "return {double=3.5}", &["0"]),
        Reply::bulk("3.5")
    );
    // Replies of redis.call in RESP2 shape: nulls are false, statuses {ok=...}, doubles text.
    assert_eq!(c.cmd(&["ZADD", "z", "1.5", "m"]), n(1));
    assert_eq!(
        eval(&mut c, "return {redis.call('get','nokey') == false, redis.call('zscore','z','m'), redis.call('ping')}", &["0"]),
        Reply::Array(vec![n(1), Reply::bulk("1.5"), Reply::simple("PONG")])
    );
    assert_eq!(
        eval(
            &mut c,
            "local t = redis.pcall('incr','z'); return t['err']",
            &["0"]
        ),
        Reply::bulk("WRONGTYPE Operation against a key holding the wrong kind of value")
    );
    // Numbers as arguments: integers print without a fraction, others exactly.
    assert_eq!(
        eval(&mut c, "redis.call('set','f',1.5) redis.call('set','i',7) return {redis.call('get','f'), redis.call('get','i')}", &["0"]),
        Reply::Array(vec![Reply::bulk("1.5"), Reply::bulk("7")])
    );
}

#[test]
fn resp3_conversions() {
    let server = Server::start();
    let mut c = server.raw();
    assert!(matches!(c.cmd(&["HELLO", "3"]), Reply::Map(_)));
    c.cmd(&["HSET", "h", "a", "1"]);
    c.cmd(&["ZADD", "z", "1.5", "m"]);
    assert_eq!(
        eval(
            &mut c,
            "redis.setresp(3); return redis.call('hgetall','h')",
            &["0"]
        ),
        Reply::Map(vec![(Reply::bulk("a"), Reply::bulk("1"))])
    );
    assert_eq!(
        eval(
            &mut c,
            "redis.setresp(3); return redis.call('zscore','z','m')",
            &["0"]
        ),
        Reply::Double("1.5".into())
    );
    // Without setresp the script sees RESP2 shapes even on a RESP3 connection.
    assert_eq!(
        eval(&mut c, "return redis.call('zscore','z','m')", &["0"]),
        Reply::bulk("1.5")
    );
    assert_eq!(
        eval(
            &mut c,
            "redis.setresp(3); return type(redis.call('hgetall','h')['map'])",
            &["0"]
        ),
        Reply::bulk("table")
    );
    assert_eq!(
        eval(
            &mut c,
            "redis.setresp(3); return redis.call('get','nokey') == nil",
            &["0"]
        ),
        Reply::Bool(true)
    );
    assert_eq!(eval(&mut c, "return true", &["0"]), Reply::Int(1));
    assert_eq!(
        eval(&mut c, "redis.setresp(3); return false", &["0"]),
        Reply::Bool(false)
    );
    assert_eq!(
        eval(&mut c, "return {double=3.5}", &["0"]),
        Reply::Double("3.5".into())
    );
    assert_eq!(
        eval(&mut c, "return {map={a=1}}", &["0"]),
        Reply::Map(vec![(Reply::bulk("a"), Reply::Int(1))])
    );
    assert_eq!(
        eval(&mut c, "return {set={a=true}}", &["0"]),
        Reply::Set(vec![Reply::bulk("a")])
    );
    assert_eq!(
        eval(&mut c, "return {big_number='123'}", &["0"]),
        Reply::BigNumber("123".into())
    );
    assert_eq!(
        eval(
            &mut c,
            "return {verbatim_string={format='txt', string='hi'}}",
            &["0"]
        ),
        Reply::Verbatim("txt".into(), b"hi".to_vec())
    );
}

#[test]
fn errors_carry_redis_texts() {
    let server = Server::start();
    let mut c = server.raw();
    let e = |s: &str| Reply::error(s);
    assert_eq!(
        eval(&mut c, "error('x')", &["0"]),
        e("ERR user_script:1: x script: 9851144f39f03a0d597a980c5aa79c80cb696891, on @user_script:1.")
    );
    assert_eq!(
        eval(&mut c, "return redis.call('nosuch')", &["0"]),
        e("ERR Unknown Redis command called from script script: 206396248e12c6e742fd7296250433c8d7343b74, on @user_script:1.")
    );
    c.cmd(&["SET", "s", "abc"]);
    assert_eq!(
        eval(&mut c, "return redis.call('incr','s')", &["0"]),
        e("ERR value is not an integer or out of range script: c243b9f46db13ba8f69da41b45a77708832babed, on @user_script:1.")
    );
    assert_eq!(
        eval(&mut c, "return redis.pcall('incr','s')", &["0"]),
        e("ERR value is not an integer or out of range")
    );
    assert_eq!(
        eval(&mut c, "return redis.call('get')", &["0"]),
        e("ERR Wrong number of args calling Redis command from script script: f187dee77f607f7cff00bbabc9df38507582c78d, on @user_script:1.")
    );
    assert_eq!(
        eval(&mut c, "return redis.call('multi')", &["0"]),
        e("ERR This Redis command is not allowed from script script: c329a1a294be6bf95b44144f7502610661ae925a, on @user_script:1.")
    );
    assert_eq!(
        eval(&mut c, "error({err='custom x'})", &["0"]),
        e("custom x script: 0f67f2cdfc089b5bf4cccf6aee323236b2e51cfd, on @user_script:1.")
    );
    assert_eq!(
        eval(&mut c, "local a = nil; a.b = 1", &["0"]),
        e("ERR user_script:1: attempt to index local 'a' (a nil value) script: cd69226721f4fa9b33399d48d88f0d49a4f450f4, on @user_script:1.")
    );
    assert_eq!(
        eval(&mut c, "return redis.call()", &["0"]),
        e("ERR Please specify at least one argument for this redis lib call script: 0a907e1429221a4d85516cab7fd219a82a9439d8, on @user_script:1.")
    );
    assert_eq!(
        eval(&mut c, "return redis.call('set', 'a', {})", &["0"]),
        e("ERR Lua redis lib command arguments must be strings or integers script: f37b5e7bcfb7cec825b302c88928083ea5eb6fdd, on @user_script:1.")
    );
    assert_eq!(
        eval(&mut c, "return redis.setresp(4)", &["0"]),
        e("ERR RESP version must be 2 or 3. script: 921c0a48021d97dfd5884aeea41875972c7804d9, on @user_script:1.")
    );
    assert_eq!(
        c.cmd(&["EVALSHA", "0000000000000000000000000000000000000000", "0"]),
        e("NOSCRIPT No matching script. Please use EVAL.")
    );
    assert_eq!(
        eval(&mut c, "return 1", &["-1"]),
        e("ERR Number of keys can't be negative")
    );
    assert_eq!(
        eval(&mut c, "return 1", &["2", "a"]),
        e("ERR Number of keys can't be greater than number of args")
    );
    assert_eq!(
        eval(&mut c, "return 1", &["x"]),
        e("ERR value is not an integer or out of range")
    );
    assert_eq!(
        eval(&mut c, "retur 1", &["0"]),
        e("ERR Error compiling script (new function): user_script:1: '=' expected near '1'")
    );
    assert_eq!(
        c.cmd(&["EVAL_RO", "return redis.call('set','a','b')", "0"]),
        e("ERR Write commands are not allowed from read-only scripts. script: ff967d0ae0e68b4f9e360fa91c54598bc25ad9b6, on @user_script:1.")
    );
    assert_eq!(
        eval(&mut c, "#!lua flags=no-writes\nreturn redis.call('set','a','b')", &["0"]),
        e("ERR Write commands are not allowed from read-only scripts. script: 6acb400a50fe96e33eca4e0af6e9dcfb21193726, on @user_script:2.")
    );
    assert_eq!(eval(&mut c, "#!lua\nreturn 1", &["0"]), Reply::Int(1));
    assert_eq!(
        eval(&mut c, "#!lua name=x\nreturn 1", &["0"]),
        e("ERR Unknown lua shebang option: name=x")
    );
    assert_eq!(
        eval(&mut c, "#!lua flags=bogus\nreturn 1", &["0"]),
        e("ERR Unexpected flag in script shebang: bogus")
    );
    // The server is fine after all of that.
    assert_eq!(c.cmd(&["GET", "a"]), Reply::NilBulk);
}

#[test]
fn sandbox_protects_globals_and_limits_memory() {
    let server = Server::start();
    let mut c = server.raw();
    let e = |s: &str| Reply::error(s);
    assert_eq!(
        eval(&mut c, "x = 1", &["0"]),
        e("ERR user_script:1: Attempt to modify a readonly table script: 34bce5f775de97f557a34088509c8bfe1ea17e52, on @user_script:1.")
    );
    assert_eq!(
        eval(&mut c, "return y", &["0"]),
        e("ERR user_script:1: Script attempted to access nonexistent global variable 'y' script: e278681ed961e2fb52881313e5c90fdd93749940, on @user_script:1.")
    );
    assert_eq!(
        eval(&mut c, "string.x = 1", &["0"]),
        e("ERR user_script:1: Attempt to modify a readonly table script: c3eb0a2a15b3d4790b323c4104029c1ae425a769, on @user_script:1.")
    );
    for lib in [
        "os", "io", "require", "loadfile", "dofile", "debug", "print", "package",
    ] {
        let reply = eval(&mut c, &format!("return {lib}"), &["0"]);
        let text = format!("{reply:?}");
        assert!(
            text.contains(&format!("nonexistent global variable '{lib}'")),
            "{lib}: {text}"
        );
    }
    // Replacing a library would break every later script: refused, however it is tried.
    for attempt in [
        "redis = nil",
        "_G.redis = nil",
        "rawset(_G, 'redis', nil)",
        "loadstring('redis = nil')()",
        "setmetatable(_G, nil)",
    ] {
        assert!(eval(&mut c, attempt, &["0"]).is_error(), "{attempt}");
    }
    assert_eq!(
        eval(&mut c, "return redis.call('ping')", &["0"]),
        Reply::simple("PONG")
    );
    assert_eq!(
        eval(
            &mut c,
            "return loadstring(string.dump(function() return 1 end))",
            &["0"]
        ),
        Reply::NilBulk
    );
    // A huge allocation fails the script, not the server, and the memory comes back.
    let reply = eval(
        &mut c,
        "local t = {} for i=1,1e8 do t[i] = 'xxxxxxxxxxxxxxxxxxxx' .. i end",
        &["0"],
    );
    assert!(format!("{reply:?}").contains("memory limit"), "{reply:?}");
    assert_eq!(
        eval(
            &mut c,
            "local t = {} for i=1,1000 do t[i] = i end return #t",
            &["0"]
        ),
        Reply::Int(1000)
    );
    // Infinite recursion is a Lua error.
    assert!(eval(
        &mut c,
        "local function f() return 1 + f() end return f()",
        &["0"]
    )
    .is_error());
    assert_eq!(c.cmd(&["PING"]), Reply::simple("PONG"));
}

#[test]
fn script_cache_commands() {
    let server = Server::start();
    let mut c = server.raw();
    let sha = sha1("return 1", &mut c);
    assert_eq!(sha, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
    assert_eq!(
        c.cmd(&["SCRIPT", "EXISTS", &sha, "abc"]),
        Reply::Array(vec![Reply::Int(1), Reply::Int(0)])
    );
    assert_eq!(c.cmd(&["EVALSHA", &sha.to_uppercase(), "0"]), Reply::Int(1));
    assert_eq!(c.cmd(&["EVALSHA_RO", &sha, "0"]), Reply::Int(1));
    assert_eq!(
        c.cmd(&["SCRIPT", "LOAD", "retur 1"]),
        Reply::error(
            "ERR Error compiling script (new function): user_script:1: '=' expected near '1'"
        )
    );
    assert_eq!(
        c.cmd(&["SCRIPT", "FLUSH", "foo"]),
        Reply::error("ERR SCRIPT FLUSH only support SYNC|ASYNC option")
    );
    assert_eq!(c.cmd(&["SCRIPT", "FLUSH", "async"]), Reply::ok());
    assert_eq!(
        c.cmd(&["EVALSHA", &sha, "0"]),
        Reply::error("NOSCRIPT No matching script. Please use EVAL.")
    );
    assert_eq!(
        c.cmd(&["SCRIPT", "KILL"]),
        Reply::error("NOTBUSY No scripts in execution right now.")
    );
    // EVAL caches too.
    eval(&mut c, "return 1", &["0"]);
    assert_eq!(c.cmd(&["EVALSHA", &sha, "0"]), Reply::Int(1));
    let info = c.cmd(&["COMMAND", "INFO", "eval"]);
    assert!(format!("{info:?}").contains("noscript"), "{info:?}");
}

#[test]
fn scripts_run_through_the_dispatcher() {
    let server = Server::start();
    let mut a = server.raw();
    let mut b = server.raw();
    // SELECT inside a script does not change the caller's database.
    assert_eq!(
        eval(
            &mut a,
            "redis.call('select', 1) redis.call('set', 'k', 'db1') return 1",
            &["0"]
        ),
        Reply::Int(1)
    );
    assert_eq!(a.cmd(&["GET", "k"]), Reply::NilBulk);
    a.cmd(&["SELECT", "1"]);
    assert_eq!(a.cmd(&["GET", "k"]), Reply::bulk("db1"));
    a.cmd(&["SELECT", "0"]);
    // A script's write makes another client's WATCH fail.
    assert_eq!(a.cmd(&["WATCH", "w"]), Reply::ok());
    assert_eq!(
        eval(
            &mut b,
            "return redis.call('set', KEYS[1], 'x')",
            &["1", "w"]
        ),
        Reply::ok()
    );
    assert_eq!(a.cmd(&["MULTI"]), Reply::ok());
    a.cmd(&["SET", "w", "mine"]);
    assert_eq!(a.cmd(&["EXEC"]), Reply::NilArray);
    // Scripts queue in MULTI and run at EXEC.
    assert_eq!(a.cmd(&["MULTI"]), Reply::ok());
    assert_eq!(
        eval(&mut a, "return redis.call('incr', KEYS[1])", &["1", "n"]),
        Reply::simple("QUEUED")
    );
    assert_eq!(a.cmd(&["EXEC"]), Reply::Array(vec![Reply::Int(1)]));
    // Keyspace notifications come from the commands a script runs.
    assert_eq!(
        b.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]),
        Reply::ok()
    );
    let mut sub = server.raw();
    sub.cmd(&["SUBSCRIBE", "__keyspace@0__:ev"]);
    eval(
        &mut a,
        "redis.call('set', 'ev', '1') redis.call('del', 'ev')",
        &["0"],
    );
    let set = sub.read_reply();
    let del = sub.read_reply();
    assert_eq!(set.items()[2], Reply::bulk("set"));
    assert_eq!(del.items()[2], Reply::bulk("del"));
}

/// A script running an infinite loop: other clients get -BUSY once it passes the
/// threshold, SCRIPT KILL stops it, and the server serves everyone afterwards; with the
/// executor on a thread of its own, and sharing the connections' only thread.
#[test]
fn busy_script_is_killed_while_others_wait() {
    busy_script_is_killed(2);
}

#[test]
fn busy_script_is_killed_with_one_io_thread() {
    busy_script_is_killed(1);
}

fn busy_script_is_killed(io_threads: u32) {
    let server = Server::with_io_threads(io_threads);
    let mut admin = server.raw();
    assert_eq!(
        admin.cmd(&["CONFIG", "SET", "busy-reply-threshold", "100"]),
        Reply::ok()
    );
    assert_eq!(
        admin.cmd(&["CONFIG", "GET", "lua-time-limit"]),
        Reply::Array(vec![Reply::bulk("lua-time-limit"), Reply::bulk("100")])
    );
    admin.cmd(&["SET", "k", "v"]);
    let addr = server.addr();
    let looping = thread::spawn(move || {
        let mut c = RawConn::connect(addr);
        // pcall cannot swallow the kill.
        eval(
            &mut c,
            "local i = 0 while true do pcall(function() while true do i = i + 1 end end) end",
            &["0"],
        )
    });
    let mut other = server.raw();
    let mut reply = Reply::Null;
    wait_until("the server to answer BUSY", Duration::from_secs(30), || {
        reply = other.cmd(&["GET", "k"]);
        reply.is_error()
    });
    assert_eq!(
        reply,
        Reply::error("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.")
    );
    // A client that connects during the script is answered too.
    let mut late = server.raw();
    assert!(late.cmd(&["PING"]).is_error());
    assert_eq!(
        admin.cmd(&["FUNCTION", "KILL"]),
        Reply::error("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.")
    );
    assert_eq!(admin.cmd(&["SCRIPT", "KILL"]), Reply::ok());
    let killed = looping.join().expect("looping client");
    let text = format!("{killed:?}");
    assert!(
        text.starts_with("-ERR Script killed by user with SCRIPT KILL... script: "),
        "{text}"
    );
    assert_eq!(other.cmd(&["GET", "k"]), Reply::bulk("v"));
    assert_eq!(late.cmd(&["PING"]), Reply::simple("PONG"));
    assert_eq!(
        admin.cmd(&["SCRIPT", "KILL"]),
        Reply::error("NOTBUSY No scripts in execution right now.")
    );
    // And again: the server gets busy and recovers as often as it takes.
    let looping = thread::spawn(move || {
        let mut c = RawConn::connect(addr);
        eval(&mut c, "while true do end", &["0"])
    });
    wait_until(
        "the server to answer BUSY again",
        Duration::from_secs(30),
        || other.cmd(&["GET", "k"]).is_error(),
    );
    assert_eq!(admin.cmd(&["SCRIPT", "KILL"]), Reply::ok());
    assert!(
        format!("{:?}", looping.join().expect("looping client")).starts_with("-ERR Script killed")
    );
    assert_eq!(other.cmd(&["GET", "k"]), Reply::bulk("v"));
}

/// A script that wrote cannot be killed; SHUTDOWN NOSAVE still stops the server.
#[test]
fn script_that_wrote_is_unkillable_until_shutdown_nosave() {
    unkillable_until_shutdown_nosave(2);
}

#[test]
fn script_that_wrote_is_unkillable_with_one_io_thread() {
    unkillable_until_shutdown_nosave(1);
}

fn unkillable_until_shutdown_nosave(io_threads: u32) {
    let mut server = Server::with_io_threads(io_threads);
    let mut admin = server.raw();
    admin.cmd(&["CONFIG", "SET", "busy-reply-threshold", "50"]);
    let addr = server.addr();
    let looping = thread::spawn(move || {
        let mut c = RawConn::connect(addr);
        c.send_cmd(&["EVAL", "redis.call('set','x','1') while true do end", "0"]);
        c.try_read_reply().ok().flatten()
    });
    wait_until("the server to answer BUSY", Duration::from_secs(30), || {
        admin.cmd(&["PING"]).is_error()
    });
    assert_eq!(
        admin.cmd(&["SCRIPT", "KILL"]),
        Reply::error("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.")
    );
    admin.send_cmd(&["SHUTDOWN", "NOSAVE"]);
    let status = server.wait_exit();
    assert!(status.success(), "{status:?}");
    let _ = looping.join();
}

#[test]
fn real_application_scripts_run_unchanged() {
    let server = Server::start();
    let mut con = server.conn();

    // Distributed lock: SET NX PX to take it, compare-and-delete / compare-and-extend with
    // the owner's token.
    let release = redis::Script::new(
        r#"
if redis.call("get", KEYS[1]) == ARGV[1] then
    return redis.call("del", KEYS[1])
else
    return 0
end"#,
    );
    let extend = redis::Script::new(
        r#"
if redis.call("get", KEYS[1]) == ARGV[1] then
    return redis.call("pexpire", KEYS[1], ARGV[2])
else
    return 0
end"#,
    );
    let took: Option<String> = cmd(&["SET", "lock:job", "token-a", "NX", "PX", "30000"])
        .query(&mut con)
        .expect("set nx");
    assert_eq!(took.as_deref(), Some("OK"));
    let second: Option<String> = cmd(&["SET", "lock:job", "token-b", "NX", "PX", "30000"])
        .query(&mut con)
        .expect("set nx");
    assert_eq!(second, None);
    let n: i64 = extend
        .key("lock:job")
        .arg("token-b")
        .arg(60000)
        .invoke(&mut con)
        .expect("extend");
    assert_eq!(n, 0);
    let n: i64 = extend
        .key("lock:job")
        .arg("token-a")
        .arg(60000)
        .invoke(&mut con)
        .expect("extend");
    assert_eq!(n, 1);
    let pttl: i64 = cmd(&["PTTL", "lock:job"]).query(&mut con).expect("pttl");
    assert!(pttl > 30000, "{pttl}");
    let n: i64 = release
        .key("lock:job")
        .arg("token-b")
        .invoke(&mut con)
        .expect("release");
    assert_eq!(n, 0);
    let n: i64 = release
        .key("lock:job")
        .arg("token-a")
        .invoke(&mut con)
        .expect("release");
    assert_eq!(n, 1);
    let exists: i64 = cmd(&["EXISTS", "lock:job"])
        .query(&mut con)
        .expect("exists");
    assert_eq!(exists, 0);

    // Token bucket (Spring Cloud Gateway's request_rate_limiter.lua), with the clock passed
    // in as it does.
    let bucket = redis::Script::new(
        r#"
local tokens_key = KEYS[1]
local timestamp_key = KEYS[2]
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local requested = tonumber(ARGV[4])
local fill_time = capacity/rate
local ttl = math.floor(fill_time*2)
local last_tokens = tonumber(redis.call("get", tokens_key))
if last_tokens == nil then
  last_tokens = capacity
end
local last_refreshed = tonumber(redis.call("get", timestamp_key))
if last_refreshed == nil then
  last_refreshed = 0
end
local delta = math.max(0, now-last_refreshed)
local filled_tokens = math.min(capacity, last_tokens+(delta*rate))
local allowed = filled_tokens >= requested
local new_tokens = filled_tokens
local allowed_num = 0
if allowed then
  new_tokens = filled_tokens - requested
  allowed_num = 1
end
if ttl > 0 then
  redis.call("setex", tokens_key, ttl, new_tokens)
  redis.call("setex", timestamp_key, ttl, now)
end
return { allowed_num, new_tokens }
"#,
    );
    let mut take = |now: i64| -> (i64, i64) {
        bucket
            .key("rl:tokens")
            .key("rl:ts")
            .arg(1)
            .arg(3)
            .arg(now)
            .arg(1)
            .invoke(&mut con)
            .expect("token bucket")
    };
    assert_eq!(take(1000), (1, 2));
    assert_eq!(take(1000), (1, 1));
    assert_eq!(take(1000), (1, 0));
    assert_eq!(take(1000), (0, 0));
    assert_eq!(take(1002), (1, 1));

    // Sliding-window counter on a sorted set.
    let window = redis::Script::new(
        r#"
local key = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
if count < limit then
  redis.call('ZADD', key, now, ARGV[4])
  redis.call('PEXPIRE', key, window)
  return 1
end
return 0
"#,
    );
    let mut hit = |now: i64, id: &str| -> i64 {
        window
            .key("sw:user")
            .arg(now)
            .arg(1000)
            .arg(2)
            .arg(id)
            .invoke(&mut con)
            .expect("sliding window")
    };
    assert_eq!(hit(10_000, "a"), 1);
    assert_eq!(hit(10_100, "b"), 1);
    assert_eq!(hit(10_200, "c"), 0);
    assert_eq!(hit(11_050, "d"), 1);

    // Presence hash cleanup: drop members last seen before a cutoff.
    for (user, seen) in [
        ("ann", "100"),
        ("bob", "250"),
        ("cid", "90"),
        ("dan", "300"),
    ] {
        let _: i64 = cmd(&["HSET", "presence", user, seen])
            .query(&mut con)
            .expect("hset");
    }
    let cleanup = redis::Script::new(
        r#"
local entries = redis.call('HGETALL', KEYS[1])
local removed = 0
for i = 1, #entries, 2 do
  if tonumber(entries[i + 1]) < tonumber(ARGV[1]) then
    redis.call('HDEL', KEYS[1], entries[i])
    removed = removed + 1
  end
end
return removed
"#,
    );
    let removed: i64 = cleanup
        .key("presence")
        .arg(200)
        .invoke(&mut con)
        .expect("cleanup");
    assert_eq!(removed, 2);
    let mut left: Vec<String> = cmd(&["HKEYS", "presence"]).query(&mut con).expect("hkeys");
    left.sort();
    assert_eq!(left, vec!["bob", "dan"]);
    // EVALSHA after SCRIPT FLUSH falls back to EVAL in the client (NOSCRIPT).
    let _: () = cmd(&["SCRIPT", "FLUSH"]).query(&mut con).expect("flush");
    let removed: i64 = cleanup
        .key("presence")
        .arg(1000)
        .invoke(&mut con)
        .expect("cleanup");
    assert_eq!(removed, 2);
    assert_eq!(
        query_err(
            &mut con,
            &cmd(&["EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"])
        ),
        "NOSCRIPT No matching script. Please use EVAL."
    );
}

/// Several clients run the same script at once: each run is atomic.
#[test]
fn scripts_are_atomic_across_clients() {
    let server = Server::start();
    let script = "local v = tonumber(redis.call('get', KEYS[1]) or '0') redis.call('set', KEYS[1], v + 1) return v + 1";
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let addr = server.addr();
            let script = script.to_string();
            thread::spawn(move || {
                let mut c = RawConn::connect(addr);
                for _ in 0..200 {
                    assert!(!eval(&mut c, &script, &["1", "counter"]).is_error());
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("client");
    }
    let mut c = server.raw();
    assert_eq!(c.cmd(&["GET", "counter"]), Reply::bulk("800"));
}
