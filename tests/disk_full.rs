//! A full disk, black box. The server runs with a limit on the size of the files it writes
//! (RLIMIT_FSIZE, SIGXFSZ ignored): a write past it fails with EFBIG as a write to a full
//! disk fails with ENOSPC, in the redo journal, the WAL or the database file, whichever grows
//! past it first. Clients write until writes fail. Then: each write that failed got an error
//! reply, the server goes on answering (PING, reads), and every acknowledged write reads
//! back; once the limit is lifted, writes resume, and after kill -9 every acknowledged write
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

#[test]
fn writes_past_a_full_disk_fail_alone_and_resume_when_space_returns() {
    let mut server = Server::builder()
        .config("[storage]\nmerge_interval_ms = 20\njournal_max_bytes = \"2mb\"\n")
        .file_size_limit(3 << 20)
        .start();
    let mut c = server.raw();
    let mut acked = BTreeMap::new();
    let mut errors = BTreeMap::<String, u32>::new();
    let mut failed = 0;
    for i in 0..40_000 {
        let (key, value) = (format!("key:{i}"), format!("{i}:{}", "v".repeat(700)));
        match set(&mut c, &key, &value) {
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
    assert!(failed > 0, "the file size limit was never reached");
    assert!(
        acked.len() > 100,
        "writes failed from the start: {errors:?}"
    );
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
    check_all(&mut c, &acked, "with the disk full");
    assert_eq!(
        c.cmd(&["DBSIZE"]),
        Reply::Int(acked.len() as i64),
        "no write that failed left a key behind ({errors:?})"
    );

    server.lift_file_size_limit();
    wait_until("writes to resume", IO_TIMEOUT, || {
        set(&mut c, "resumed", "yes").is_ok()
    });
    acked.insert("resumed".into(), "yes".into());
    for i in 0..500 {
        let (key, value) = (format!("after:{i}"), "w".repeat(900));
        set(&mut c, &key, &value).unwrap();
        acked.insert(key, value);
    }
    check_all(&mut c, &acked, "after space returned");

    server.crash_restart();
    let mut c = server.raw();
    check_all(&mut c, &acked, "after kill -9");
    assert_eq!(c.cmd(&["DBSIZE"]), Reply::Int(acked.len() as i64));
}
