//! The delayed-job queue example plugin (`plugins/examples/delayq`) against the real server:
//! loaded at start-up and with MODULE LOAD, blocking pops served by its timer and by its
//! key-event callback, timeouts, its INFO section, persistence across a restart, and an
//! unload that leaves the server as it was before the load.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::plugin_libs::libs;
use common::{info_field, info_sections, wait_until, RawConn, Reply, Server};

/// Generous: only a safety net against a hang, never a measurement.
const PATIENCE: Duration = Duration::from_secs(30);

fn toml_path(p: &Path) -> String {
    toml::Value::String(p.to_str().expect("UTF-8 path").to_string()).to_string()
}

fn with_delayq() -> common::ServerBuilder {
    Server::builder().config(format!(
        "[plugins]\nenabled = []\n[[plugins.load]]\npath = {}\n",
        toml_path(&libs().delayq)
    ))
}

fn info(raw: &mut RawConn, section: &str) -> String {
    raw.cmd(&["INFO", section]).text()
}

fn delayq_field(raw: &mut RawConn, field: &str) -> i64 {
    let text = info(raw, "delayq");
    info_field(&text, field)
        .unwrap_or_else(|| panic!("no {field} in {text}"))
        .parse()
        .expect("an integer field")
}

#[test]
fn a_blocked_pop_is_served_by_the_timer_when_its_job_comes_due() {
    let mut server = with_delayq().start();
    let mut raw = server.raw();
    let id = raw.cmd(&["DQ.ADD", "jobs", "300", "first"]).int();
    assert!(id > 0);
    assert_eq!(raw.cmd(&["DQ.LEN", "jobs"]), Reply::Int(1));
    // The job is stored in an ordinary sorted set, scored by its due time.
    let stored = raw.cmd(&["ZRANGE", "jobs", "0", "-1"]);
    assert_eq!(
        stored,
        Reply::Array(vec![Reply::bulk(format!("{id}:first"))])
    );

    // Nothing is due yet: the pop blocks (0 = no timeout) until the timer serves it.
    let mut popper = server.raw();
    let started = Instant::now();
    popper.send_cmd(&["DQ.BPOP", "jobs", "0"]);
    let got = popper.read_reply();
    assert_eq!(
        got,
        Reply::Array(vec![Reply::Int(id), Reply::bulk("first")])
    );
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "served before the job was due: {:?}",
        started.elapsed()
    );
    assert_eq!(raw.cmd(&["DQ.LEN", "jobs"]), Reply::Int(0));
    assert_eq!(delayq_field(&mut raw, "delayq_blocked_clients"), 0);

    // A due job is popped at once; DQ.CANCEL removes one not popped yet.
    let due = raw.cmd(&["DQ.ADD", "jobs", "0", "now"]).int();
    let later = raw.cmd(&["DQ.ADD", "jobs", "3600000", "later"]).int();
    assert_eq!(
        raw.cmd(&["DQ.BPOP", "jobs", "1"]),
        Reply::Array(vec![Reply::Int(due), Reply::bulk("now")])
    );
    let later_s = later.to_string();
    assert_eq!(raw.cmd(&["DQ.CANCEL", "jobs", &later_s]), Reply::Int(1));
    assert_eq!(raw.cmd(&["DQ.CANCEL", "jobs", &later_s]), Reply::Int(0));

    // Errors are Redis-style.
    let e = raw.cmd(&["DQ.ADD", "jobs", "soon", "x"]);
    assert_eq!(
        e,
        Reply::error("ERR delay_ms must be a non-negative integer")
    );
    let e = raw.cmd(&["DQ.BPOP", "jobs", "-1"]);
    assert_eq!(
        e,
        Reply::error("ERR timeout is not a float or out of range")
    );
    raw.cmd(&["SET", "plain", "x"]);
    let e = raw.cmd(&["DQ.ADD", "plain", "0", "x"]);
    assert!(
        matches!(&e, Reply::Error(m) if m.starts_with("WRONGTYPE")),
        "{e:?}"
    );
    server.stop();
}

#[test]
fn a_blocked_pop_times_out_with_nil_and_a_new_job_wakes_a_waiter_at_once() {
    let mut server = with_delayq().memory().start();
    let mut raw = server.raw();
    let started = Instant::now();
    assert_eq!(raw.cmd(&["DQ.BPOP", "empty", "0.2"]), Reply::NilArray);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(150) && waited < PATIENCE,
        "{waited:?}"
    );

    // A waiter is counted in INFO, then woken by the key event of a due job's ZADD.
    let mut popper = server.raw();
    popper.send_cmd(&["DQ.BPOP", "q", "0"]);
    wait_until("the pop to block", PATIENCE, || {
        delayq_field(&mut raw, "delayq_blocked_clients") == 1
    });
    let id = raw.cmd(&["DQ.ADD", "q", "0", "hello"]).int();
    assert_eq!(
        popper.read_reply(),
        Reply::Array(vec![Reply::Int(id), Reply::bulk("hello")])
    );
    assert_eq!(delayq_field(&mut raw, "delayq_blocked_clients"), 0);

    // Inside MULTI it does not block.
    assert_eq!(raw.cmd(&["MULTI"]), Reply::ok());
    assert_eq!(raw.cmd(&["DQ.BPOP", "q", "0"]), Reply::simple("QUEUED"));
    assert_eq!(raw.cmd(&["EXEC"]), Reply::Array(vec![Reply::NilArray]));

    // A client that disconnects while blocked is forgotten.
    let mut leaver = server.raw();
    leaver.send_cmd(&["DQ.BPOP", "q", "0"]);
    wait_until("the pop to block", PATIENCE, || {
        delayq_field(&mut raw, "delayq_blocked_clients") == 1
    });
    drop(leaver);
    wait_until("the waiter to be forgotten", PATIENCE, || {
        delayq_field(&mut raw, "delayq_blocked_clients") == 0
    });
    server.stop();
}

#[test]
fn the_info_section_counts_jobs_and_a_deleted_queue_drops_them() {
    let mut server = with_delayq().memory().start();
    let mut raw = server.raw();
    raw.cmd(&["DQ.ADD", "a", "0", "x"]);
    raw.cmd(&["DQ.ADD", "a", "3600000", "y"]);
    raw.cmd(&["DQ.ADD", "b", "3600000", "z"]);
    let text = info(&mut raw, "delayq");
    assert_eq!(info_sections(&text), ["Delayq"]);
    assert_eq!(info_field(&text, "delayq_queues").as_deref(), Some("2"));
    assert_eq!(info_field(&text, "delayq_queued").as_deref(), Some("3"));
    assert_eq!(info_field(&text, "delayq_due").as_deref(), Some("1"));
    // As Redis shows modules' sections: with `everything` and `modules`, not in the default
    // INFO nor `all`; other sections alone do not show it.
    assert!(info_sections(&info(&mut raw, "everything")).contains(&"Delayq".to_string()));
    assert_eq!(
        info_sections(&info(&mut raw, "modules")),
        ["Modules", "Delayq"]
    );
    assert!(!info_sections(&info(&mut raw, "default")).contains(&"Delayq".to_string()));
    assert!(!info_sections(&info(&mut raw, "all")).contains(&"Delayq".to_string()));
    assert_eq!(info_sections(&info(&mut raw, "server")), ["Server"]);

    // Deleting a queue's key drops its jobs (the key-event callback).
    assert_eq!(raw.cmd(&["DEL", "a"]), Reply::Int(1));
    assert_eq!(delayq_field(&mut raw, "delayq_queued"), 1);
    assert_eq!(raw.cmd(&["DQ.LEN", "a"]), Reply::Int(0));
    server.stop();
}

#[test]
fn jobs_survive_a_restart() {
    let mut server = with_delayq().start();
    let mut raw = server.raw();
    let id = raw.cmd(&["DQ.ADD", "durable", "200", "kept"]).int();
    drop(raw);
    server.restart();
    let mut raw = server.raw();
    assert_eq!(raw.cmd(&["DQ.LEN", "durable"]), Reply::Int(1));
    // Blocked after the restart, it is served when the stored job comes due.
    assert_eq!(
        raw.cmd(&["DQ.BPOP", "durable", "0"]),
        Reply::Array(vec![Reply::Int(id), Reply::bulk("kept")])
    );
    server.stop();
}

#[test]
fn module_load_then_unload_leaves_the_server_as_before() {
    let mut server = Server::builder()
        .config("[plugins]\nenabled = []\n")
        .memory()
        .start();
    let mut raw = server.raw();
    let count_before = raw.cmd(&["COMMAND", "COUNT"]).int();
    let sections_before = info_sections(&info(&mut raw, "everything"));
    let path = libs().delayq.to_str().unwrap().to_string();

    assert_eq!(raw.cmd(&["MODULE", "LOAD", &path]), Reply::ok());
    assert_eq!(raw.cmd(&["COMMAND", "COUNT"]).int(), count_before + 4);
    // The typed flags and key positions reach the command table.
    let cmd_info = raw.cmd(&["COMMAND", "INFO", "dq.bpop"]);
    let row = cmd_info.items()[0].items();
    let flags: Vec<String> = row[2].items().iter().map(|f| f.text()).collect();
    assert_eq!(flags, ["write", "blocking"]);
    assert_eq!((row[3].int(), row[4].int(), row[5].int()), (1, 1, 1));
    let sections = info_sections(&info(&mut raw, "everything"));
    assert_eq!(sections.last().map(String::as_str), Some("Delayq"));
    // A waiter parked when the plugin goes gets its timeout reply.
    let mut popper = server.raw();
    popper.send_cmd(&["DQ.BPOP", "q", "0"]);
    wait_until("the pop to block", PATIENCE, || {
        delayq_field(&mut raw, "delayq_blocked_clients") == 1
    });
    raw.cmd(&["DQ.ADD", "q", "100", "never popped"]);

    assert_eq!(raw.cmd(&["MODULE", "UNLOAD", "delayq"]), Reply::ok());
    assert_eq!(popper.read_reply(), Reply::NilArray);
    assert_eq!(raw.cmd(&["COMMAND", "COUNT"]).int(), count_before);
    assert_eq!(
        info_sections(&info(&mut raw, "everything")),
        sections_before
    );
    assert!(raw.cmd(&["DQ.LEN", "q"]).is_error());
    // Its timer does not fire into the closed library: the server keeps serving.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(raw.cmd(&["PING"]), Reply::simple("PONG"));
    assert_eq!(raw.cmd(&["ZCARD", "q"]), Reply::Int(1));

    // Loaded again, it finds the stored job.
    assert_eq!(raw.cmd(&["MODULE", "LOAD", &path]), Reply::ok());
    let popped = raw.cmd(&["DQ.BPOP", "q", "5"]);
    assert_eq!(popped.items()[1], Reply::bulk("never popped"));
    assert!(server.is_running());
    server.stop();
}
