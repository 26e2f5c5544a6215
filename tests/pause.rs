//! CLIENT PAUSE and CLIENT UNPAUSE, black box, with several clients at once: in WRITE mode
//! writes (and commands that may replicate, scripts that may write, EXEC of a transaction
//! that writes) wait and reads pass; in ALL mode everything waits; held commands run in order
//! when the pause ends (CLIENT UNPAUSE or its timeout), the rest of their pipeline after them;
//! monitors are never paused; errors as redis-server 7.0.15 gives them.

mod common;

use std::time::Duration;

use common::redis_server::pair;
use common::{info_field, wait_until, RawConn, Reply, Server};

/// Generous bound for "happens eventually": a safety net, never a measurement.
const EVENTUALLY: Duration = Duration::from_secs(20);

fn blocked_clients(c: &mut RawConn) -> i64 {
    let info = c.cmd(&["INFO", "clients"]).text();
    info_field(&info, "blocked_clients")
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1)
}

fn wait_blocked(server: &Server, n: i64) {
    let mut c = server.raw();
    wait_until(&format!("{n} blocked clients"), EVENTUALLY, || {
        blocked_clients(&mut c) == n
    });
}

fn pipeline(c: &mut RawConn, commands: &[&[&str]]) {
    let bytes: Vec<u8> = commands.iter().flat_map(|c| common::encode(c)).collect();
    c.send(&bytes);
}

#[test]
fn write_mode_holds_writes_until_unpause_and_lets_reads_through() {
    let server = Server::start();
    let mut admin = server.raw();
    assert_eq!(
        admin.cmd(&["CLIENT", "PAUSE", "60000", "WRITE"]),
        Reply::ok()
    );

    // A pipeline whose write waits keeps its order: the GET after it waits too.
    let mut writer = server.raw();
    pipeline(
        &mut writer,
        &[&["SET", "k", "v"], &["GET", "k"], &["INCR", "n"]],
    );
    wait_blocked(&server, 1);
    let mut list = admin.cmd(&["CLIENT", "LIST"]).text();
    assert!(list.contains("flags=b"), "{list}");

    // Reads, PING and INFO from others are answered meanwhile, and see no write.
    let mut reader = server.raw();
    assert_eq!(reader.cmd(&["GET", "k"]), Reply::NilBulk);
    assert_eq!(reader.cmd(&["EXISTS", "n"]), Reply::Int(0));
    assert_eq!(reader.cmd(&["PING"]), Reply::simple("PONG"));
    // A second writer queues behind the first.
    let mut second = server.raw();
    second.send_cmd(&["SET", "k", "w"]);
    wait_blocked(&server, 2);

    // CLIENT UNBLOCK does not release a paused client.
    list = admin.cmd(&["CLIENT", "LIST"]).text();
    let id = list
        .lines()
        .filter(|l| l.contains("flags=b"))
        .filter_map(|l| l.strip_prefix("id="))
        .filter_map(|l| l.split(' ').next())
        .next()
        .expect("a blocked client")
        .to_string();
    assert_eq!(admin.cmd(&["CLIENT", "UNBLOCK", &id]), Reply::Int(0));

    assert_eq!(admin.cmd(&["CLIENT", "UNPAUSE"]), Reply::ok());
    assert_eq!(writer.read_reply(), Reply::ok());
    assert_eq!(writer.read_reply(), Reply::bulk("v"));
    assert_eq!(writer.read_reply(), Reply::Int(1));
    assert_eq!(second.read_reply(), Reply::ok());
    assert_eq!(reader.cmd(&["GET", "k"]), Reply::bulk("w"));
    assert_eq!(blocked_clients(&mut reader), 0);
}

#[test]
fn write_mode_holds_commands_that_may_replicate_and_scripts_that_may_write() {
    let server = Server::start();
    let mut admin = server.raw();
    admin.cmd(&["PFADD", "h", "a"]);
    let lib = "#!lua name=lib\n\
               redis.register_function{function_name='ro', callback=function() return 'ro' end, flags={'no-writes'}}\n\
               redis.register_function('rw', function() return 'rw' end)";
    assert_eq!(admin.cmd(&["FUNCTION", "LOAD", lib]), Reply::bulk("lib"));
    assert_eq!(
        admin.cmd(&["CLIENT", "PAUSE", "60000", "WRITE"]),
        Reply::ok()
    );

    // Read-only scripts and functions run.
    let mut c = server.raw();
    let ro = "#!lua flags=no-writes\nreturn 'fine'";
    assert_eq!(c.cmd(&["EVAL", ro, "0"]), Reply::bulk("fine"));
    assert_eq!(c.cmd(&["EVAL_RO", "return 2", "0"]), Reply::Int(2));
    assert_eq!(c.cmd(&["FCALL", "ro", "0"]), Reply::bulk("ro"));
    // A read-only script may not publish (Redis counts it as a write there).
    let err = c.cmd(&["EVAL_RO", "return redis.call('publish','ch','m')", "0"]);
    assert!(
        matches!(&err, Reply::Error(e) if e.starts_with("ERR Write commands are not allowed from read-only scripts.")),
        "{err:?}"
    );

    let mut held = Vec::new();
    for args in [
        &["PFCOUNT", "h"][..],
        &["PUBLISH", "ch", "m"],
        &["EVAL", "return 1", "0"],
        &["EVAL", "#!lua\nreturn 1", "0"],
        &["FCALL", "rw", "0"],
    ] {
        let mut c = server.raw();
        c.send_cmd(args);
        held.push(c);
        wait_blocked(&server, held.len() as i64);
    }
    assert_eq!(admin.cmd(&["CLIENT", "UNPAUSE"]), Reply::ok());
    let replies: Vec<Reply> = held.iter_mut().map(|c| c.read_reply()).collect();
    assert_eq!(
        replies,
        vec![
            Reply::Int(1),
            Reply::Int(0),
            Reply::Int(1),
            Reply::Int(1),
            Reply::bulk("rw")
        ]
    );
}

#[test]
fn transactions_wait_at_exec_only_when_they_write() {
    let server = Server::start();
    let mut admin = server.raw();
    admin.cmd(&["SET", "foo", "bar"]);

    let mut writer = server.raw();
    assert_eq!(writer.cmd(&["MULTI"]), Reply::ok());
    assert_eq!(writer.cmd(&["SET", "foo", "new"]), Reply::simple("QUEUED"));

    assert_eq!(
        admin.cmd(&["CLIENT", "PAUSE", "60000", "WRITE"]),
        Reply::ok()
    );
    // A read-only transaction runs at once.
    let mut reader = server.raw();
    assert_eq!(reader.cmd(&["MULTI"]), Reply::ok());
    assert_eq!(reader.cmd(&["GET", "foo"]), Reply::simple("QUEUED"));
    assert_eq!(
        reader.cmd(&["EXEC"]),
        Reply::Array(vec![Reply::bulk("bar")])
    );

    writer.send_cmd(&["EXEC"]);
    wait_blocked(&server, 1);
    assert_eq!(reader.cmd(&["GET", "foo"]), Reply::bulk("bar"));
    assert_eq!(admin.cmd(&["CLIENT", "UNPAUSE"]), Reply::ok());
    assert_eq!(writer.read_reply(), Reply::Array(vec![Reply::ok()]));
    assert_eq!(reader.cmd(&["GET", "foo"]), Reply::bulk("new"));
}

#[test]
fn a_pause_inside_a_transaction_starts_after_it() {
    let server = Server::start();
    let mut c = server.raw();
    pipeline(
        &mut c,
        &[
            &["MULTI"],
            &["SET", "a", "1"],
            &["CLIENT", "PAUSE", "60000", "WRITE"],
            &["SET", "b", "2"],
            &["EXEC"],
        ],
    );
    let replies = c.read_replies(5);
    assert_eq!(
        replies[4],
        Reply::Array(vec![Reply::ok(), Reply::ok(), Reply::ok()])
    );
    let mut other = server.raw();
    other.send_cmd(&["SET", "c", "3"]);
    wait_blocked(&server, 1);
    assert_eq!(
        c.cmd(&["MGET", "a", "b", "c"]),
        Reply::Array(vec![Reply::bulk("1"), Reply::bulk("2"), Reply::NilBulk])
    );
    c.cmd(&["CLIENT", "UNPAUSE"]);
    assert_eq!(other.read_reply(), Reply::ok());
}

#[test]
fn all_mode_holds_every_command_but_not_monitors() {
    let server = Server::start();
    // A monitor is never paused (Redis counts it as a replica): it watches the pause from
    // inside and ends it.
    let mut monitor = server.raw();
    assert_eq!(monitor.cmd(&["MONITOR"]), Reply::ok());
    let mut admin = server.raw();
    assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "60000", "ALL"]), Reply::ok());
    let mut reader = server.raw();
    reader.send_cmd(&["GET", "k"]);
    // Even CLIENT UNPAUSE waits in ALL mode.
    admin.send_cmd(&["CLIENT", "UNPAUSE"]);

    let info_from_monitor = |monitor: &mut RawConn| {
        monitor.send_cmd(&["INFO", "clients"]);
        loop {
            // Its reply comes among the monitor lines (status replies).
            match monitor.read_reply() {
                Reply::Bulk(b) => break String::from_utf8_lossy(&b).into_owned(),
                Reply::Simple(_) => continue,
                other => panic!("unexpected {other:?}"),
            }
        }
    };
    wait_until("2 blocked clients", EVENTUALLY, || {
        let info = info_from_monitor(&mut monitor);
        info_field(&info, "blocked_clients").as_deref() == Some("2")
    });
    monitor.send_cmd(&["CLIENT", "UNPAUSE"]);
    assert_eq!(reader.read_reply(), Reply::NilBulk);
    assert_eq!(admin.read_reply(), Reply::ok());
}

/// The executor waits for the pause's end whichever way it runs: inline with the
/// connections (one I/O thread) or on a thread of its own.
#[test]
fn a_pause_ends_by_itself_at_its_timeout() {
    for threads in [1, 2] {
        pause_ends_by_itself(Server::with_io_threads(threads));
    }
}

fn pause_ends_by_itself(server: Server) {
    let mut admin = server.raw();
    assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "200", "WRITE"]), Reply::ok());
    let mut writer = server.raw();
    writer.send_cmd(&["SET", "k", "v"]);
    // No one unpauses: the reply comes when the 200 ms are up.
    assert_eq!(writer.read_reply(), Reply::ok());
    assert_eq!(admin.cmd(&["GET", "k"]), Reply::bulk("v"));
}

#[test]
fn a_held_client_that_disconnects_is_forgotten() {
    let server = Server::start();
    let mut admin = server.raw();
    admin.cmd(&["CLIENT", "PAUSE", "60000", "WRITE"]);
    {
        let mut gone = server.raw();
        gone.send_cmd(&["SET", "ghost", "1"]);
        wait_blocked(&server, 1);
    }
    wait_blocked(&server, 0);
    assert_eq!(admin.cmd(&["CLIENT", "UNPAUSE"]), Reply::ok());
    assert_eq!(admin.cmd(&["EXISTS", "ghost"]), Reply::Int(0));
    assert_eq!(admin.cmd(&["SET", "x", "1"]), Reply::ok());
}

#[test]
fn a_later_pause_only_extends_and_a_stricter_mode_wins() {
    let server = Server::start();
    let mut admin = server.raw();
    assert_eq!(
        admin.cmd(&["CLIENT", "PAUSE", "60000", "WRITE"]),
        Reply::ok()
    );
    // A shorter pause does not shorten the one in force.
    assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "0", "WRITE"]), Reply::ok());
    let mut writer = server.raw();
    writer.send_cmd(&["SET", "k", "v"]);
    wait_blocked(&server, 1);
    assert_eq!(admin.cmd(&["CLIENT", "UNPAUSE"]), Reply::ok());
    assert_eq!(writer.read_reply(), Reply::ok());
}

#[test]
fn active_expiry_waits_for_the_pause_to_end() {
    let server = Server::start();
    let mut admin = server.raw();
    let expired = |c: &mut RawConn| {
        let info = c.cmd(&["INFO", "stats"]).text();
        info_field(&info, "expired_keys").unwrap_or_default()
    };
    pipeline(
        &mut admin,
        &[
            &["MULTI"],
            &["SET", "a", "1", "PX", "1"],
            &["CLIENT", "PAUSE", "60000", "WRITE"],
            &["EXEC"],
        ],
    );
    admin.read_replies(4);
    // Several active expiry cycles pass (10 a second); none removes the key.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(expired(&mut admin), "0");
    admin.cmd(&["CLIENT", "UNPAUSE"]);
    wait_until("the key expires after the pause", EVENTUALLY, || {
        expired(&mut admin) == "1"
    });
}

#[test]
fn errors_match_redis_server() {
    let (_respite, _redis, mut p) = pair();
    p.same(&["CLIENT", "PAUSE"]);
    p.same(&["CLIENT", "PAUSE", "abc"]);
    p.same(&["CLIENT", "PAUSE", "-1"]);
    p.same(&["CLIENT", "PAUSE", "10", "READ"]);
    p.same(&["CLIENT", "PAUSE", "10", "WRITE", "x"]);
    p.same(&["CLIENT", "PAUSE", "9223372036854775807", "WRITE"]);
    p.same(&["CLIENT", "UNPAUSE", "x"]);
    p.same(&["CLIENT", "UNPAUSE"]);
    // Scripts may not pause; transactions may.
    p.same(&["EVAL", "return redis.call('client','pause','10')", "0"]);
    p.same(&["MULTI"]);
    p.same(&["CLIENT", "PAUSE", "10", "WRITE"]);
    p.same(&["EXEC"]);
    p.same(&["CLIENT", "UNPAUSE"]);
    // Arity errors are answered at once during a pause, as Redis does.
    p.same(&["CLIENT", "PAUSE", "60000", "WRITE"]);
    p.same(&["SET", "k"]);
    p.same(&["CLIENT", "UNPAUSE"]);
}

#[test]
fn a_blocked_command_released_during_a_pause_answers_and_the_rest_of_its_pipeline_waits() {
    let server = Server::start();
    let mut admin = server.raw();
    let mut c = server.raw();
    let id = c.cmd(&["CLIENT", "ID"]).int().to_string();
    // Blocked before the pause, released during it.
    pipeline(&mut c, &[&["BLPOP", "l", "0"], &["SET", "x", "1"]]);
    wait_blocked(&server, 1);
    assert_eq!(
        admin.cmd(&["CLIENT", "PAUSE", "60000", "WRITE"]),
        Reply::ok()
    );
    assert_eq!(admin.cmd(&["CLIENT", "UNBLOCK", &id]), Reply::Int(1));
    // The BLPOP is answered; the SET after it waits for the pause.
    assert_eq!(c.read_reply(), Reply::NilArray);
    wait_blocked(&server, 1);
    assert_eq!(admin.cmd(&["EXISTS", "x"]), Reply::Int(0));
    assert_eq!(admin.cmd(&["CLIENT", "UNPAUSE"]), Reply::ok());
    assert_eq!(c.read_reply(), Reply::ok());
}

fn expired_keys(c: &mut RawConn) -> String {
    let info = c.cmd(&["INFO", "stats"]).text();
    info_field(&info, "expired_keys").unwrap()
}

#[test]
fn keys_that_expire_during_a_pause_read_as_gone_but_are_deleted_after_it() {
    let server = Server::start();
    let mut c = server.raw();
    c.cmd(&["SET", "k", "v", "PX", "30"]);
    let before = expired_keys(&mut c);
    c.cmd(&["CLIENT", "PAUSE", "60000", "WRITE"]);
    std::thread::sleep(Duration::from_millis(100));
    // Logically expired: readers see no key, but nothing was deleted or counted.
    assert_eq!(c.cmd(&["GET", "k"]), Reply::NilBulk);
    assert_eq!(c.cmd(&["EXISTS", "k"]), Reply::Int(0));
    assert_eq!(expired_keys(&mut c), before);
    c.cmd(&["CLIENT", "UNPAUSE"]);
    assert_eq!(c.cmd(&["GET", "k"]), Reply::NilBulk);
    let after: u64 = expired_keys(&mut c).parse().unwrap();
    assert_eq!(after, before.parse::<u64>().unwrap() + 1);
}
