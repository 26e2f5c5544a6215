//! Redis 7 functions, black box: FUNCTION LOAD/LIST/DELETE/FLUSH/DUMP/RESTORE/STATS/KILL,
//! FCALL and FCALL_RO with Redis's replies and error texts (checked against redis-server
//! 7.0.15), libraries kept across a restart, and FUNCTION KILL on a busy function.

mod common;

use std::thread;
use std::time::Duration;

use common::{cmd, wait_until, RawConn, Reply, Server};

const LOCKS: &str = "#!lua name=locks
local function release(keys, args)
  if redis.call('get', keys[1]) == args[1] then
    return redis.call('del', keys[1])
  end
  return 0
end
local function owner(keys)
  return redis.call('get', keys[1])
end
redis.register_function('lock_release', release)
redis.register_function{function_name='lock_owner', callback=owner, flags={'no-writes'},
                        description='who holds the lock'}";

fn load(c: &mut RawConn, code: &str) -> Reply {
    c.cmd(&["FUNCTION", "LOAD", code])
}

#[test]
fn load_list_and_call() {
    let server = Server::start();
    let mut c = server.raw();
    assert_eq!(load(&mut c, LOCKS), Reply::bulk("locks"));
    c.cmd(&["SET", "lock", "me"]);
    assert_eq!(
        c.cmd(&["FCALL", "lock_owner", "1", "lock"]),
        Reply::bulk("me")
    );
    assert_eq!(
        c.cmd(&["FCALL_RO", "lock_owner", "1", "lock"]),
        Reply::bulk("me")
    );
    assert_eq!(
        c.cmd(&["FCALL_RO", "lock_release", "1", "lock", "me"]),
        Reply::error("ERR Can not execute a script with write flag using *_ro command.")
    );
    assert_eq!(
        c.cmd(&["FCALL", "lock_release", "1", "lock", "you"]),
        Reply::Int(0)
    );
    assert_eq!(
        c.cmd(&["FCALL", "lock_release", "1", "lock", "me"]),
        Reply::Int(1)
    );
    assert_eq!(c.cmd(&["EXISTS", "lock"]), Reply::Int(0));
    assert_eq!(
        c.cmd(&["FCALL", "nosuch", "0"]),
        Reply::error("ERR Function not found")
    );
    assert_eq!(
        c.cmd(&["FCALL", "lock_owner", "-1"]),
        Reply::error("ERR Number of keys can't be negative")
    );
    assert_eq!(
        c.cmd(&["FCALL", "lock_owner", "5", "a"]),
        Reply::error("ERR Number of keys can't be greater than number of args")
    );

    let list = c.cmd(&["FUNCTION", "LIST"]);
    let libs = list.items();
    assert_eq!(libs.len(), 1);
    let lib = &libs[0];
    assert_eq!(lib.field("library_name"), Some(&Reply::bulk("locks")));
    assert_eq!(lib.field("engine"), Some(&Reply::bulk("LUA")));
    assert_eq!(lib.field("library_code"), None);
    let functions = lib.field("functions").expect("functions").items();
    assert_eq!(functions.len(), 2);
    assert_eq!(
        functions[0].field("name"),
        Some(&Reply::bulk("lock_release"))
    );
    assert_eq!(functions[0].field("description"), Some(&Reply::NilBulk));
    assert_eq!(functions[0].field("flags"), Some(&Reply::Array(vec![])));
    assert_eq!(functions[1].field("name"), Some(&Reply::bulk("lock_owner")));
    assert_eq!(
        functions[1].field("description"),
        Some(&Reply::bulk("who holds the lock"))
    );
    assert_eq!(
        functions[1].field("flags"),
        Some(&Reply::Array(vec![Reply::simple("no-writes")]))
    );
    let with_code = c.cmd(&["FUNCTION", "LIST", "WITHCODE", "LIBRARYNAME", "lo*"]);
    assert_eq!(
        with_code.items()[0].field("library_code"),
        Some(&Reply::bulk(LOCKS))
    );
    assert_eq!(
        c.cmd(&["FUNCTION", "LIST", "LIBRARYNAME", "other*"]),
        Reply::Array(vec![])
    );
    assert_eq!(
        c.cmd(&["FUNCTION", "LIST", "LIBRARYNAME"]),
        Reply::error("ERR library name argument was not given")
    );
    assert_eq!(
        c.cmd(&["FUNCTION", "LIST", "bogus"]),
        Reply::error("ERR Unknown argument bogus")
    );

    // RESP3: maps, and flags as a set.
    c.cmd(&["HELLO", "3"]);
    let list = c.cmd(&["FUNCTION", "LIST"]);
    let Reply::Map(fields) = &list.items()[0] else {
        panic!("map expected: {list:?}")
    };
    assert_eq!(
        fields[0],
        (Reply::bulk("library_name"), Reply::bulk("locks"))
    );
    let functions = list.items()[0].field("functions").expect("functions");
    assert_eq!(
        functions.items()[1].field("flags"),
        Some(&Reply::Set(vec![Reply::simple("no-writes")]))
    );
    let stats = c.cmd(&["FUNCTION", "STATS"]);
    assert_eq!(stats.field("running_script"), Some(&Reply::Null));
    let lua = stats
        .field("engines")
        .and_then(|e| e.field("LUA"))
        .expect("LUA engine");
    assert_eq!(lua.field("libraries_count"), Some(&Reply::Int(1)));
    assert_eq!(lua.field("functions_count"), Some(&Reply::Int(2)));
}

#[test]
fn load_errors_have_redis_texts() {
    let server = Server::start();
    let mut c = server.raw();
    let e = |s: &str| Reply::error(s);
    assert_eq!(load(&mut c, "return 1"), e("ERR Missing library metadata"));
    assert_eq!(
        load(
            &mut c,
            "#!lua\nredis.register_function('x', function() end)"
        ),
        e("ERR Library name was not given")
    );
    assert_eq!(
        load(&mut c, "#!lua name=bad-name\nreturn 1"),
        e("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long")
    );
    assert_eq!(
        load(&mut c, "#!lua name=l foo=bar\nreturn 1"),
        e("ERR Invalid metadata value given: foo=bar")
    );
    assert_eq!(
        load(&mut c, "#!lua name=l\nreturn 1"),
        e("ERR No functions registered")
    );
    assert_eq!(
        load(&mut c, "#!lua name=l\nredis.register_function{function_name='z', callback=function() end, flags={'bogus'}}"),
        e("ERR Error registering functions: ERR unknown flag given")
    );
    assert_eq!(
        load(&mut c, "#!lua name=l\nredis.call('ping')"),
        e("ERR Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'call'")
    );
    assert_eq!(
        load(&mut c, "#!lua name=l\nretur 1"),
        e("ERR Error compiling function: user_function:2: '=' expected near '1'")
    );
    assert_eq!(
        load(&mut c, "#!lua name=l\ny = 1\nredis.register_function('f', function() end)"),
        e("ERR Error registering functions: ERR user_function:2: Attempt to modify a readonly table")
    );
    // A library whose top level never ends is stopped by the load timeout.
    assert!(load(&mut c, "#!lua name=l\nwhile true do end").is_error());
    assert_eq!(load(&mut c, LOCKS), Reply::bulk("locks"));
    assert_eq!(load(&mut c, LOCKS), e("ERR Library 'locks' already exists"));
    assert_eq!(
        load(
            &mut c,
            "#!lua name=other\nredis.register_function('lock_owner', function() end)"
        ),
        e("ERR Function lock_owner already exists")
    );
    assert_eq!(
        c.cmd(&["FUNCTION", "LOAD", "REPLACE", LOCKS]),
        Reply::bulk("locks")
    );
    assert_eq!(
        c.cmd(&["FUNCTION", "LOAD", "BOGUS", LOCKS]),
        e("ERR Unknown option given: BOGUS")
    );
    // Runtime errors name the function and the library's line.
    assert_eq!(
        load(&mut c, "#!lua name=errs\nredis.register_function('boom', function() error('boom') end)\nredis.register_function('bad', function() return redis.call('nosuch') end)"),
        Reply::bulk("errs")
    );
    assert_eq!(
        c.cmd(&["FCALL", "boom", "0"]),
        e("ERR user_function:2: boom script: boom, on @user_function:2.")
    );
    assert_eq!(
        c.cmd(&["FCALL", "bad", "0"]),
        e("ERR Unknown Redis command called from script script: bad, on @user_function:3.")
    );
    // FCALL is not allowed from scripts.
    assert!(c
        .cmd(&["EVAL", "return redis.call('fcall','boom',0)", "0"])
        .is_error());
    assert_eq!(
        c.cmd(&["FUNCTION", "DELETE", "nosuch"]),
        e("ERR Library not found")
    );
    assert_eq!(
        c.cmd(&["FUNCTION", "FLUSH", "foo"]),
        e("ERR FUNCTION FLUSH only supports SYNC|ASYNC option")
    );
    assert_eq!(
        c.cmd(&["FUNCTION", "KILL"]),
        e("NOTBUSY No scripts in execution right now.")
    );
}

/// Function names are case-insensitive, library names are not (as redis-server 7.0.15).
#[test]
fn function_names_ignore_case_library_names_do_not() {
    let server = Server::start();
    let mut c = server.raw();
    assert_eq!(load(&mut c, LOCKS), Reply::bulk("locks"));
    c.cmd(&["SET", "lock", "me"]);
    for name in ["LOCK_OWNER", "Lock_Owner", "lock_owner"] {
        assert_eq!(c.cmd(&["FCALL", name, "1", "lock"]), Reply::bulk("me"));
        assert_eq!(c.cmd(&["FCALL_RO", name, "1", "lock"]), Reply::bulk("me"));
    }
    assert_eq!(
        c.cmd(&["FCALL_RO", "LOCK_RELEASE", "1", "lock", "me"]),
        Reply::error("ERR Can not execute a script with write flag using *_ro command.")
    );
    // Another library may not take a name that differs only in case.
    assert_eq!(
        load(
            &mut c,
            "#!lua name=other\nredis.register_function('LOCK_OWNER', function() end)"
        ),
        Reply::error("ERR Function LOCK_OWNER already exists")
    );
    assert!(load(
        &mut c,
        "#!lua name=twice\nredis.register_function('f', function() end)\nredis.register_function('F', function() end)"
    )
    .is_error());
    // A library name in another case is another library.
    assert_eq!(
        c.cmd(&["FUNCTION", "DELETE", "LOCKS"]),
        Reply::error("ERR Library not found")
    );
    assert_eq!(
        load(
            &mut c,
            "#!lua name=LOCKS\nredis.register_function('unrelated', function() return 7 end)"
        ),
        Reply::bulk("LOCKS")
    );
    assert_eq!(c.cmd(&["FCALL", "UNRELATED", "0"]), Reply::Int(7));
    // Deleting the library drops its functions under every spelling.
    assert_eq!(c.cmd(&["FUNCTION", "DELETE", "locks"]), Reply::ok());
    assert_eq!(
        c.cmd(&["FCALL", "LOCK_OWNER", "1", "lock"]),
        Reply::error("ERR Function not found")
    );
}

#[test]
fn dump_and_restore_policies() {
    let server = Server::start();
    let mut c = server.raw();
    load(&mut c, LOCKS);
    load(
        &mut c,
        "#!lua name=a\nredis.register_function('fa', function() return 'a' end)",
    );
    let Reply::Bulk(payload) = c.cmd(&["FUNCTION", "DUMP"]) else {
        panic!("payload expected")
    };
    let restore = |c: &mut RawConn, payload: &[u8], policy: Option<&str>| {
        let mut args: Vec<&[u8]> = vec![b"FUNCTION", b"RESTORE", payload];
        if let Some(p) = policy {
            args.push(p.as_bytes());
        }
        c.cmd(&args)
    };
    // A damaged payload is refused.
    let mut bad = payload.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0xff;
    assert_eq!(
        restore(&mut c, &bad, None),
        Reply::error("ERR DUMP payload version or checksum are wrong")
    );
    assert_eq!(
        restore(&mut c, &payload, Some("bogus")),
        Reply::error(
            "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE."
        )
    );
    // APPEND (the default) fails on a collision and changes nothing.
    assert!(restore(&mut c, &payload, None).is_error());
    assert!(restore(&mut c, &payload, Some("APPEND")).is_error());
    assert_eq!(c.cmd(&["FUNCTION", "LIST"]).items().len(), 2);
    assert_eq!(restore(&mut c, &payload, Some("REPLACE")), Reply::ok());
    assert_eq!(c.cmd(&["FUNCTION", "DELETE", "a"]), Reply::ok());
    assert_eq!(
        c.cmd(&["FCALL", "fa", "0"]),
        Reply::error("ERR Function not found")
    );
    load(
        &mut c,
        "#!lua name=extra\nredis.register_function('fx', function() return 'x' end)",
    );
    // FLUSH drops what the payload does not have.
    assert_eq!(restore(&mut c, &payload, Some("FLUSH")), Reply::ok());
    assert_eq!(c.cmd(&["FCALL", "fa", "0"]), Reply::bulk("a"));
    assert_eq!(
        c.cmd(&["FCALL", "fx", "0"]),
        Reply::error("ERR Function not found")
    );
    assert_eq!(c.cmd(&["FUNCTION", "FLUSH"]), Reply::ok());
    assert_eq!(c.cmd(&["FUNCTION", "LIST"]), Reply::Array(vec![]));
    // APPEND into an empty set.
    assert_eq!(restore(&mut c, &payload, None), Reply::ok());
    assert_eq!(c.cmd(&["FUNCTION", "LIST"]).items().len(), 2);
}

#[test]
fn libraries_survive_a_restart() {
    let mut server = Server::start();
    {
        let mut c = server.raw();
        load(&mut c, LOCKS);
        load(
            &mut c,
            "#!lua name=gone\nredis.register_function('g', function() return 1 end)",
        );
        assert_eq!(c.cmd(&["FUNCTION", "DELETE", "gone"]), Reply::ok());
        c.cmd(&["SET", "lock", "me"]);
    }
    server.restart();
    let mut con = server.conn();
    let owner: String = cmd(&["FCALL", "lock_owner", "1", "lock"])
        .query(&mut con)
        .expect("fcall after restart");
    assert_eq!(owner, "me");
    let gone = cmd(&["FCALL", "g", "0"]).query::<redis::Value>(&mut con);
    assert!(gone.is_err());
    let _: () = cmd(&["FUNCTION", "FLUSH"]).query(&mut con).expect("flush");
    drop(con);
    server.restart();
    let mut c = server.raw();
    assert_eq!(c.cmd(&["FUNCTION", "LIST"]), Reply::Array(vec![]));
}

/// FUNCTION KILL stops a function that runs past the threshold; SCRIPT KILL does not apply
/// to it.
#[test]
fn busy_function_is_killed() {
    let server = Server::with_io_threads(2);
    let mut admin = server.raw();
    admin.cmd(&["CONFIG", "SET", "busy-reply-threshold", "100"]);
    assert_eq!(
        load(&mut admin, "#!lua name=spin\nredis.register_function{function_name='spin', callback=function() while true do end end, flags={'no-writes'}}"),
        Reply::bulk("spin")
    );
    let addr = server.addr();
    let looping = thread::spawn(move || RawConn::connect(addr).cmd(&["FCALL", "spin", "0"]));
    let mut other = server.raw();
    let mut reply = Reply::Null;
    wait_until("the server to answer BUSY", Duration::from_secs(30), || {
        reply = other.cmd(&["PING"]);
        reply.is_error()
    });
    assert_eq!(
        reply,
        Reply::error("BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.")
    );
    assert_eq!(
        admin.cmd(&["SCRIPT", "KILL"]),
        Reply::error("BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.")
    );
    assert_eq!(admin.cmd(&["FUNCTION", "KILL"]), Reply::ok());
    let killed = format!("{:?}", looping.join().expect("looping client"));
    assert!(
        killed.starts_with(
            "-ERR Script killed by user with SCRIPT KILL... script: spin, on @user_function:2."
        ),
        "{killed}"
    );
    assert_eq!(other.cmd(&["PING"]), Reply::simple("PONG"));
}
