//! A full disk and a failing disk, black box.
//!
//! Full: the server runs with a limit on the size of the files it writes (RLIMIT_FSIZE,
//! SIGXFSZ ignored): a write past it fails with EFBIG as a write to a full disk fails with
//! ENOSPC, in the redo journal, the WAL or the database file, whichever grows past it first.
//! Failing: a library loaded with LD_PRELOAD (`fixtures/io_errors.c`) fails every write and
//! sync of a regular file with EIO while a flag file exists.
//!
//! Clients write until writes fail. Then: each write that failed got an error reply, the
//! server goes on answering (PING, reads), and every acknowledged write reads back; once
//! space returns (the disk heals), writes resume, and after kill -9 every acknowledged write
//! is still there.

mod common;

use std::collections::BTreeMap;

use common::{wait_until, RawConn, Reply, Server, IO_TIMEOUT};

/// Writes `key` and says whether it was acknowledged; any reply but OK or an error fails.
fn set(c: &mut RawConn, key: &str, value: &str) -> Result<(), String> {
    match c.cmd(&["SET", key, value]) {
        Reply::Simple(ok) if ok == "OK" => Ok(()),
        Reply::Error(e) => Err(e),
        other => panic!("SET {key}: {other:?}"),
    }
}

fn check_all(c: &mut RawConn, acked: &BTreeMap<String, String>, when: &str) {
    for (key, value) in acked {
        assert_eq!(
            c.cmd(&["GET", key]),
            Reply::Bulk(value.clone().into_bytes()),
            "{when}: acknowledged {key} reads back"
        );
    }
}

/// Writes keys until 300 writes have failed (or 40,000 were tried): the acknowledged ones,
/// and how many times each error came back. `key_prefix` keeps rounds apart.
fn write_until_failures(
    c: &mut RawConn,
    key_prefix: &str,
) -> (BTreeMap<String, String>, BTreeMap<String, u32>) {
    let mut acked = BTreeMap::new();
    let mut errors = BTreeMap::<String, u32>::new();
    let mut failed = 0;
    for i in 0..40_000 {
        let (key, value) = (
            format!("{key_prefix}:{i}"),
            format!("{i}:{}", "v".repeat(700)),
        );
        match set(c, &key, &value) {
            Ok(()) => {
                acked.insert(key, value);
            }
            Err(e) => {
                failed += 1;
                *errors.entry(e).or_default() += 1;
                if failed == 300 {
                    break;
                }
            }
        }
    }
    assert!(failed > 0, "writes never failed");
    (acked, errors)
}

/// What must hold while writes fail: they were refused up front once the store knew, the
/// server answers, and every acknowledged write (and nothing else) is there.
fn check_while_failing(
    server: &Server,
    c: &mut RawConn,
    acked: &BTreeMap<String, String>,
    errors: &BTreeMap<String, u32>,
) {
    // Once the store knows, writes are refused before they run (Redis's MISCONF, which
    // PING reports too), rather than run, fail at their commit and be undone.
    assert!(
        errors.keys().any(|e| e.starts_with("MISCONF ")),
        "writes were not refused up front: {errors:?}"
    );
    match server.raw().cmd(&["PING"]) {
        Reply::Simple(pong) if pong == "PONG" => {}
        Reply::Error(e) if e.starts_with("MISCONF ") => {}
        other => panic!("PING: {other:?}"),
    }
    // Reads go on, and what it acknowledged is there.
    check_all(c, acked, "while writes fail");
    assert_eq!(
        c.cmd(&["DBSIZE"]),
        Reply::Int(acked.len() as i64),
        "no write that failed left a key behind ({errors:?})"
    );
}

/// Once writes can succeed again: they resume, and everything acknowledged survives kill -9.
fn check_recovery(server: &mut Server, acked: &mut BTreeMap<String, String>) {
    let mut c = server.raw();
    wait_until("writes to resume", IO_TIMEOUT, || {
        set(&mut c, "resumed", "yes").is_ok()
    });
    acked.insert("resumed".into(), "yes".into());
    for i in 0..500 {
        let (key, value) = (format!("after:{i}"), "w".repeat(900));
        set(&mut c, &key, &value).unwrap();
        acked.insert(key, value);
    }
    check_all(&mut c, acked, "after writes resumed");

    server.crash_restart();
    let mut c = server.raw();
    check_all(&mut c, acked, "after kill -9");
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(acked.len() as i64));
}

#[test]
fn writes_past_a_full_disk_fail_alone_and_resume_when_space_returns() {
    let mut server = Server::builder()
        .config("[storage]\nmerge_interval_ms = 20\njournal_max_bytes = \"2mb\"\n")
        .file_size_limit(3 << 20)
        .start();
    let mut c = server.raw();
    let (mut acked, errors) = write_until_failures(&mut c, "key");
    assert!(
        acked.len() > 100,
        "writes failed from the start: {errors:?}"
    );
    check_while_failing(&server, &mut c, &acked, &errors);
    server.lift_file_size_limit();
    check_recovery(&mut server, &mut acked);
}

#[test]
fn writes_on_a_failing_disk_fail_alone_and_resume_when_it_heals() {
    let dir = tempfile::tempdir().unwrap();
    let library = dir.path().join("libioerr.so");
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/io_errors.c");
    let built = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&library)
        .arg(source)
        .arg("-ldl")
        .output()
        .expect("cc, which builds the EIO shim (Rust's own linking needs it too)");
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let flag = dir.path().join("failing");
    // No timely merge: the journal keeps every write until SAVE forces a merge.
    let mut server = Server::builder()
        .config("[storage]\nmerge_interval_ms = 3600000\n")
        .env("LD_PRELOAD", &library)
        .env("IOERR_FLAG", &flag)
        .start();
    let mut c = server.raw();
    let mut acked = BTreeMap::new();
    for i in 0..2000 {
        let (key, value) = (format!("before:{i}"), format!("{i}:{}", "b".repeat(300)));
        set(&mut c, &key, &value).unwrap();
        acked.insert(key, value);
    }
    std::fs::write(&flag, b"").unwrap();
    // A merge of those 2,000 writes fails in SQLite's own writes: an error, nothing lost.
    match c.cmd(&["SAVE"]) {
        Reply::Error(e) => assert!(e.contains("I/O error"), "{e}"),
        other => panic!("SAVE on a failing disk: {other:?}"),
    }
    let Reply::Bulk(info) = c.cmd(&["INFO", "persistence"]) else {
        panic!("INFO is not a bulk string");
    };
    let failures = common::info_field(
        &String::from_utf8_lossy(&info),
        "respite_journal_merge_failures",
    );
    assert_eq!(
        failures.as_deref(),
        Some("1"),
        "the failed merge is counted"
    );
    check_all(&mut c, &acked, "after a merge failed");
    let (failing_acked, errors) = write_until_failures(&mut c, "key");
    acked.extend(failing_acked);
    check_while_failing(&server, &mut c, &acked, &errors);
    std::fs::remove_file(&flag).unwrap();
    check_recovery(&mut server, &mut acked);
    // The journal merges now: a snapshot can be taken, and the file holds everything.
    let mut c = server.raw();
    assert_eq!(c.cmd(&["SAVE"]), Reply::Simple("OK".into()));
    server.crash_restart();
    let mut c = server.raw();
    check_all(&mut c, &acked, "after a merge and kill -9");
}
