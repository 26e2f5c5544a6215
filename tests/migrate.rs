//! The migrate plugin end to end, against a real redis-server started by the test: a bulk
//! copy of keys of every type with TTLs while a writer keeps changing, deleting and expiring
//! keys, a kill -9 of Respite in the middle and the run resuming by itself, the cutover
//! under a freeze of the source, verify at 100% with no mismatch, and the running server
//! answering for the migrated keys. Also the offline front end (`respite migrate ...`) and
//! the errors of a bad source.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::redis_server::RedisServer;
use common::{output_text, respite_command, Server};
use redis::Value;

const CONFIG: &str = "[plugins]\nenabled = [\"blocking\", \"migrate\"]\n";
/// A safety net for the waits below, never a timing assertion.
const WAIT: Duration = Duration::from_secs(180);

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::Int(n) => n.to_string(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join("\n"),
        Value::Nil => String::new(),
        other => format!("{other:?}"),
    }
}

fn pairs(v: Value) -> HashMap<String, String> {
    let items = match v {
        Value::Array(a) => a,
        Value::Map(m) => m.into_iter().flat_map(|(k, v)| [k, v]).collect(),
        other => panic!("not a map: {other:?}"),
    };
    items
        .chunks(2)
        .map(|p| (text(&p[0]), text(&p[1])))
        .collect()
}

fn status(con: &mut redis::Connection) -> HashMap<String, String> {
    pairs(
        redis::cmd("MIGRATION.STATUS")
            .query(con)
            .expect("MIGRATION.STATUS"),
    )
}

/// Polls MIGRATION.STATUS until `ok` holds; panics with the last status after [`WAIT`].
fn wait_status(
    con: &mut redis::Connection,
    what: &str,
    ok: impl Fn(&HashMap<String, String>) -> bool,
) -> HashMap<String, String> {
    let deadline = Instant::now() + WAIT;
    loop {
        let s = status(con);
        if ok(&s) {
            return s;
        }
        if Instant::now() > deadline {
            panic!("waiting for {what}: last status {s:#?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn num(s: &HashMap<String, String>, k: &str) -> u64 {
    s.get(k).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// `n` keys of every type, a third with a long TTL and (`short_ttls`) a few with one that runs
/// out during the test; some large collections (element rows here, chunked reads for streams).
fn populate(con: &mut redis::Connection, n: usize, short_ttls: bool) {
    let mut pipe = redis::pipe();
    for i in 0..n {
        let ttl = i % 3 == 0;
        match i % 6 {
            0 => {
                pipe.cmd("SET")
                    .arg(format!("s:{i}"))
                    .arg(format!("value-{i}"));
            }
            1 => {
                pipe.cmd("HSET")
                    .arg(format!("h:{i}"))
                    .arg("a")
                    .arg(i)
                    .arg("b")
                    .arg("x".repeat(i % 50));
            }
            2 => {
                pipe.cmd("RPUSH")
                    .arg(format!("l:{i}"))
                    .arg("a")
                    .arg("b")
                    .arg(i);
            }
            3 => {
                pipe.cmd("SADD").arg(format!("t:{i}")).arg("m1").arg(i);
            }
            4 => {
                pipe.cmd("ZADD")
                    .arg(format!("z:{i}"))
                    .arg(1.5)
                    .arg("a")
                    .arg(i)
                    .arg("b");
            }
            _ => {
                pipe.cmd("XADD")
                    .arg(format!("x:{i}"))
                    .arg("*")
                    .arg("f")
                    .arg(i);
            }
        }
        let key = key_of(i);
        if ttl {
            pipe.cmd("EXPIRE").arg(&key).arg(3600 + i);
        } else if short_ttls && i % 97 == 0 {
            pipe.cmd("PEXPIRE").arg(&key).arg(1500);
        }
        if pipe.cmd_iter().count() > 2000 {
            pipe.query::<()>(con).expect("populate");
            pipe = redis::pipe();
        }
    }
    pipe.query::<()>(con).expect("populate");
    // Large ones.
    let mut pipe = redis::pipe();
    for f in 0..3000 {
        pipe.cmd("HSET").arg("big:hash").arg(format!("f{f}")).arg(f);
        pipe.cmd("RPUSH").arg("big:list").arg(f);
        pipe.cmd("ZADD").arg("big:zset").arg(f).arg(format!("m{f}"));
        pipe.cmd("XADD").arg("big:stream").arg("*").arg("n").arg(f);
    }
    pipe.cmd("XGROUP")
        .arg("CREATE")
        .arg("big:stream")
        .arg("readers")
        .arg("0");
    pipe.query::<()>(con).expect("populate large keys");
}

/// Keys of the full scenarios: the 200,000 with `MIGRATE_TEST_KEYS=200000` (and a
/// release build in `RESPITE_TEST_BIN`); CI runs a tenth.
fn scenario_keys() -> usize {
    std::env::var("MIGRATE_TEST_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

/// The offline front end at the scale (`MIGRATE_TEST_KEYS`; CI runs a tenth): a writer
/// keeps changing, deleting and expiring the source's keys, the importer is killed with
/// SIGKILL in the middle of the bulk copy and run again (it resumes from its checkpoint), the
/// cutover freezes the source for the last changes, and verify at 100% finds no mismatch.
#[test]
fn offline_bulk_survives_kill_9_of_the_importer_under_a_writer() {
    let source = RedisServer::start();
    let mut src = source.conn();
    let n = scenario_keys();
    populate(&mut src, n, true);
    let url = format!("redis://127.0.0.1:{}", source.port());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("offline.db");
    let to = file.to_str().unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let writes = {
        let (url, stop, done) = (url.clone(), Arc::clone(&stop), Arc::clone(&done));
        std::thread::spawn(move || writer(url, n, stop, done))
    };
    // Throttled to about eight seconds, so that the kill lands in the middle of the copy.
    let rps = (n / 8).max(100).to_string();
    let mut importer = respite_command()
        .current_dir(dir.path())
        .arg("migrate")
        .args(["bulk", "--from", &url, "--to", to, "--run-id", "off"])
        .args(["--enable-notifications", "--max-rps", &rps])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the importer");
    std::thread::sleep(Duration::from_secs(2));
    let running = importer.try_wait().unwrap().is_none();
    importer.kill().unwrap(); // SIGKILL
    let _ = importer.wait();
    assert!(running, "the importer ended before it was killed");

    let (ok, out) = migrate_cli(
        dir.path(),
        &["bulk", "--from", &url, "--to", to, "--run-id", "off"],
    );
    assert!(ok, "{out}");
    stop.store(true, Ordering::Relaxed);
    writes.join().unwrap();
    assert!(done.load(Ordering::Relaxed) > 0, "the writer wrote nothing");

    cutover_and_verify(dir.path(), to);

    // The file is Respite's own: a server on it holds what the source holds.
    let server = Server::builder().config(CONFIG).db_path(&file).start();
    let mut con = server.conn();
    let theirs: usize = redis::cmd("DBSIZE").query(&mut src).unwrap();
    let ours: usize = redis::cmd("DBSIZE").query(&mut con).unwrap();
    // Keys with a short TTL may expire on one side between the two counts.
    assert!(
        ours.abs_diff(theirs) <= n / 50,
        "respite {ours}, redis {theirs}"
    );
    let want: Option<String> = redis::cmd("GET").arg("s:0").query(&mut src).unwrap();
    let got: Option<String> = redis::cmd("GET").arg("s:0").query(&mut con).unwrap();
    assert_eq!(got, want);
}

fn key_of(i: usize) -> String {
    let p = ["s", "h", "l", "t", "z", "x"][i % 6];
    format!("{p}:{i}")
}

/// Changes, deletes, expires and creates keys until stopped; returns how many writes it did.
fn writer(url: String, n: usize, stop: Arc<AtomicBool>, done: Arc<AtomicU64>) {
    let client = redis::Client::open(url).expect("client");
    let mut con = client.get_connection().expect("writer connection");
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut created = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let mut pipe = redis::pipe();
        for _ in 0..20 {
            let i = (next() % n as u64) as usize;
            let key = key_of(i);
            match next() % 10 {
                0 => {
                    pipe.cmd("DEL").arg(&key);
                }
                1 => {
                    pipe.cmd("PEXPIRE").arg(&key).arg(100 + next() % 400);
                }
                2 => {
                    pipe.cmd("PERSIST").arg(&key);
                }
                3 => {
                    created += 1;
                    pipe.cmd("SET").arg(format!("new:{created}")).arg(created);
                }
                4 if created > 0 => {
                    pipe.cmd("DEL").arg(format!("new:{}", next() % created + 1));
                }
                _ => match i % 6 {
                    0 => {
                        pipe.cmd("APPEND").arg(&key).arg("+");
                    }
                    1 => {
                        pipe.cmd("HINCRBY").arg(&key).arg("n").arg(1);
                    }
                    2 => {
                        pipe.cmd("LPUSH").arg(&key).arg("w");
                    }
                    3 => {
                        pipe.cmd("SADD").arg(&key).arg(next() % 100);
                    }
                    4 => {
                        pipe.cmd("ZINCRBY").arg(&key).arg(1).arg("w");
                    }
                    _ => {
                        pipe.cmd("XADD").arg(&key).arg("*").arg("w").arg(1);
                    }
                },
            }
        }
        if pipe.query::<()>(&mut con).is_err() {
            break;
        }
        done.fetch_add(20, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn online_migration_survives_kill_9_and_cuts_over_without_restart() {
    let source = RedisServer::start();
    let mut src = source.conn();
    let n = scenario_keys();
    populate(&mut src, n, true);
    let url = format!("redis://127.0.0.1:{}", source.port());

    let mut server = Server::builder().config(CONFIG).start();
    let mut con = server.conn();
    // Throttled, so that the kill lands in the middle of the bulk copy.
    let run: String = redis::cmd("MIGRATION.START")
        .arg("FROM")
        .arg(&url)
        .arg("RUN-ID")
        .arg("e2e")
        .arg("ENABLE-NOTIFICATIONS")
        .arg("MAX-RPS")
        .arg(4000)
        .arg("SCAN-COUNT")
        .arg(200)
        .arg("BATCH-KEYS")
        .arg(100)
        .query(&mut con)
        .expect("MIGRATION.START");
    assert_eq!(run, "e2e");

    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicU64::new(0));
    let w = {
        let (url, stop, writes) = (url.clone(), Arc::clone(&stop), Arc::clone(&writes));
        std::thread::spawn(move || writer(url, n, stop, writes))
    };

    let s = wait_status(&mut con, "a quarter of the bulk copy", |s| {
        num(s, "scanned_keys") >= (n / 4) as u64
    });
    assert_eq!(s["phase"], "bulk", "{s:#?}");
    drop(con);
    // kill -9 in the middle of the bulk copy; the run resumes by itself on restart.
    server.crash_restart();
    let mut con = server.conn();
    con.set_read_timeout(Some(Duration::from_secs(600)))
        .unwrap();
    let s = wait_status(&mut con, "the resumed bulk copy to finish", |s| {
        s["phase"] == "live" || s["status"] == "failed"
    });
    assert_eq!(s["status"], "running", "{s:#?}");
    assert!(
        num(&s, "tracker_gaps") >= 1,
        "the restart is a tracker gap: {s:#?}"
    );
    assert_eq!(s["safety_sweep_recommended"], "yes (the cutover runs it)");
    // Live passes keep applying while the writer goes on.
    let seen = num(&s, "dirty_keys_applied") + num(&s, "dirty_keys_deleted");
    wait_status(&mut con, "a live apply-dirty pass", |s| {
        num(s, "dirty_keys_applied") + num(s, "dirty_keys_deleted") > seen
    });
    stop.store(true, Ordering::Relaxed);
    w.join().expect("writer");
    assert!(writes.load(Ordering::Relaxed) > 0);

    let summary: String = redis::cmd("MIGRATION.CUTOVER")
        .arg("FREEZE-MS")
        .arg(120_000)
        .query(&mut con)
        .expect("MIGRATION.CUTOVER");
    assert!(summary.contains("cutover done"), "{summary}");
    assert!(summary.contains("safety sweep"), "{summary}");
    let s = status(&mut con);
    assert_eq!(
        (s["status"].as_str(), s["phase"].as_str()),
        ("completed", "done"),
        "{s:#?}"
    );
    assert_eq!(s["source_frozen"], "1");
    assert_eq!(num(&s, "error_keys"), 0, "{s:#?}");

    let v = pairs(
        redis::cmd("MIGRATION.VERIFY")
            .arg("SAMPLE")
            .arg("100%")
            .query(&mut con)
            .expect("MIGRATION.VERIFY"),
    );
    assert_eq!(v["mismatches"], "0", "{v:#?}");
    assert!(num(&v, "checked") > (n / 2) as u64, "{v:#?}");

    // The running server answers for the migrated keys, as the source would.
    // (Key counts are verify's business: every key of both sides, above; DBSIZE on the
    // frozen source still counts keys whose TTL ran out during the freeze.)
    for key in ["big:hash", "h:1", "h:7"] {
        let a: HashMap<String, String> = redis::cmd("HGETALL").arg(key).query(&mut src).unwrap();
        let b: HashMap<String, String> = redis::cmd("HGETALL").arg(key).query(&mut con).unwrap();
        assert_eq!(a, b, "{key}");
    }
    for key in ["big:list", "l:2", "l:8"] {
        let a: Vec<String> = redis::cmd("LRANGE")
            .arg(key)
            .arg(0)
            .arg(-1)
            .query(&mut src)
            .unwrap();
        let b: Vec<String> = redis::cmd("LRANGE")
            .arg(key)
            .arg(0)
            .arg(-1)
            .query(&mut con)
            .unwrap();
        assert_eq!(a, b, "{key}");
    }
    let a: Vec<String> = redis::cmd("ZRANGE")
        .arg("big:zset")
        .arg(0)
        .arg(-1)
        .query(&mut src)
        .unwrap();
    let b: Vec<String> = redis::cmd("ZRANGE")
        .arg("big:zset")
        .arg(0)
        .arg(-1)
        .query(&mut con)
        .unwrap();
    assert_eq!(a, b);
    let a: Value = redis::cmd("XRANGE")
        .arg("big:stream")
        .arg("-")
        .arg("+")
        .query(&mut src)
        .unwrap();
    let b: Value = redis::cmd("XRANGE")
        .arg("big:stream")
        .arg("-")
        .arg("+")
        .query(&mut con)
        .unwrap();
    assert_eq!(a, b);
    let groups: Value = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg("big:stream")
        .query(&mut con)
        .unwrap();
    assert!(format!("{groups:?}").contains("readers"), "{groups:?}");
    // Expiry came along (as absolute times).
    let mut with_ttl = 0;
    for i in (0..n).step_by(6).take(200) {
        let key = key_of(i);
        let ttl_src: i64 = redis::cmd("TTL").arg(&key).query(&mut src).unwrap();
        let ttl: i64 = redis::cmd("TTL").arg(&key).query(&mut con).unwrap();
        if ttl_src > 0 {
            with_ttl += 1;
            assert!((ttl - ttl_src).abs() <= 2, "{key}: {ttl} vs {ttl_src}");
        } else {
            assert_eq!(ttl, ttl_src, "{key}");
        }
    }
    assert!(with_ttl > 10, "{with_ttl} keys with a TTL");
    // The run's state lives in its own database, not among the migrated keys.
    let runs: Vec<Value> = redis::cmd("MIGRATION.LIST").query(&mut con).unwrap();
    assert_eq!(runs.len(), 1);
    let _: () = redis::cmd("CLIENT").arg("UNPAUSE").query(&mut src).unwrap();
}

#[test]
fn bad_sources_fail_with_a_clear_message_and_stay_resumable() {
    let server = Server::builder().config(CONFIG).start();
    let mut con = server.conn();
    // Nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let _: String = redis::cmd("MIGRATION.START")
        .arg("FROM")
        .arg(format!("redis://127.0.0.1:{port}"))
        .arg("RUN-ID")
        .arg("unreachable")
        .query(&mut con)
        .unwrap();
    let s = wait_status(&mut con, "the run to fail", |s| s["status"] == "failed");
    assert!(
        s["last_error"].contains("cannot reach the source"),
        "{s:#?}"
    );

    // Wrong password.
    let source = RedisServer::start();
    let mut src = source.conn();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg("sesame")
        .query(&mut src)
        .unwrap();
    let _: String = redis::cmd("MIGRATION.START")
        .arg("FROM")
        .arg(format!("redis://:wrong@127.0.0.1:{}", source.port()))
        .arg("RUN-ID")
        .arg("badpass")
        .query(&mut con)
        .unwrap();
    let s = wait_status(&mut con, "the run to fail", |s| {
        s["run_id"] == "badpass" && s["status"] == "failed"
    });
    assert!(
        s["last_error"].contains("refused the credentials"),
        "{s:#?}"
    );
    assert!(
        !s["source"].contains("wrong"),
        "the password is not shown: {s:#?}"
    );

    // Notifications off, and not allowed to turn them on: refused before copying anything.
    let _: String = redis::cmd("MIGRATION.START")
        .arg("FROM")
        .arg(format!("redis://:sesame@127.0.0.1:{}", source.port()))
        .arg("RUN-ID")
        .arg("nonotify")
        .query(&mut con)
        .unwrap();
    let s = wait_status(&mut con, "the run to fail", |s| {
        s["run_id"] == "nonotify" && s["status"] == "failed"
    });
    assert!(s["last_error"].contains("notify-keyspace-events"), "{s:#?}");
    assert_eq!(num(&s, "migrated_keys"), 0);
    // Fixed on the source: RESUME goes on with the same run.
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut src).unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("notify-keyspace-events")
        .arg("KEA")
        .query(&mut src)
        .unwrap();
    let pre = pairs(
        redis::cmd("MIGRATION.PREFLIGHT")
            .arg("FROM")
            .arg(format!("redis://:sesame@127.0.0.1:{}", source.port()))
            .query(&mut con)
            .unwrap(),
    );
    assert_eq!(pre["keys"], "1", "{pre:#?}");
    assert_eq!(pre["type_sample"], "string:1", "{pre:#?}");
    assert_eq!(pre["notify_missing"], "", "{pre:#?}");
    let _: () = redis::cmd("MIGRATION.RESUME")
        .arg("nonotify")
        .query(&mut con)
        .unwrap();
    wait_status(&mut con, "the resumed run to go live", |s| {
        s["phase"] == "live"
    });
    let info: String = redis::cmd("INFO").arg("migrate").query(&mut con).unwrap();
    assert!(info.contains("migrate_active_runs:1"), "{info}");
    assert!(
        info.contains("run:nonotify,status=running,phase=live"),
        "{info}"
    );
    let v: String = redis::cmd("GET").arg("k").query(&mut con).unwrap();
    assert_eq!(v, "v");
    let _: () = redis::cmd("MIGRATION.ABORT").query(&mut con).unwrap();
    // The task ends after recording the abort.
    wait_status(&mut con, "the abort", |s| {
        s["status"] == "aborted" && s["active"] == "0"
    });

    // Option errors are plain errors.
    let e = redis::cmd("MIGRATION.START")
        .arg("FROM")
        .arg("http://x")
        .query::<String>(&mut con)
        .unwrap_err();
    assert!(e.to_string().contains("redis:// URL"), "{e}");
    let e = redis::cmd("MIGRATION.START")
        .arg("FROM")
        .arg("redis://h")
        .arg("TTL-MODE")
        .arg("keep")
        .query::<String>(&mut con)
        .unwrap_err();
    assert!(e.to_string().contains("preserve or drop"), "{e}");
    let e = redis::cmd("MIGRATION.START")
        .arg("FROM")
        .arg(format!("redis://:sesame@127.0.0.1:{}", source.port()))
        .arg("RUN-ID")
        .arg("nonotify")
        .query::<String>(&mut con)
        .unwrap_err();
    assert!(e.to_string().contains("exists"), "{e}");
}

/// The offline run "off" into `to`: cutover under a one-second freeze, then verify at 100%
/// with no mismatch.
fn cutover_and_verify(dir: &std::path::Path, to: &str) {
    let (ok, out) = migrate_cli(
        dir,
        &[
            "cutover",
            "--to",
            to,
            "--run-id",
            "off",
            "--freeze-ms",
            "1000",
        ],
    );
    assert!(ok, "{out}");
    assert!(out.contains("status: completed"), "{out}");
    let (ok, out) = migrate_cli(
        dir,
        &["verify", "--to", to, "--run-id", "off", "--sample", "100%"],
    );
    assert!(ok, "{out}");
    assert!(out.contains("mismatches: 0"), "{out}");
}

fn migrate_cli(dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = respite_command()
        .current_dir(dir)
        .arg("migrate")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run respite migrate");
    (out.status.success(), output_text(&out))
}

#[test]
fn offline_front_end_migrates_into_a_file_that_respite_then_serves() {
    let source = RedisServer::start();
    let mut src = source.conn();
    populate(&mut src, 600, false);
    let url = format!("redis://127.0.0.1:{}", source.port());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("migrated.db");
    let to = file.to_str().unwrap();

    let (ok, out) = migrate_cli(dir.path(), &["preflight", "--from", &url, "--to", to]);
    assert!(ok, "{out}");
    assert!(out.contains("keys: 604"), "{out}");
    assert!(out.contains("notify_missing: E"), "{out}");

    let (ok, out) = migrate_cli(
        dir.path(),
        &[
            "bulk",
            "--from",
            &url,
            "--to",
            to,
            "--run-id",
            "off",
            "--enable-notifications",
        ],
    );
    assert!(ok, "{out}");
    assert!(out.contains("phase: live"), "{out}");

    // Changes while no importer runs: the cutover's sweep finds them.
    let _: () = redis::cmd("SET")
        .arg("s:0")
        .arg("changed")
        .query(&mut src)
        .unwrap();
    let _: () = redis::cmd("DEL").arg("h:1").query(&mut src).unwrap();
    let (ok, out) = migrate_cli(dir.path(), &["status", "--to", to, "--run-id", "off"]);
    assert!(ok, "{out}");
    assert!(out.contains("migrated_keys: 604"), "{out}");

    cutover_and_verify(dir.path(), to);

    // The file is Respite's own: a server on it answers for the keys.
    let server = Server::builder().config(CONFIG).db_path(&file).start();
    let mut con = server.conn();
    let v: String = redis::cmd("GET").arg("s:0").query(&mut con).unwrap();
    assert_eq!(v, "changed");
    let exists: i64 = redis::cmd("EXISTS").arg("h:1").query(&mut con).unwrap();
    assert_eq!(exists, 0);
    let n: i64 = redis::cmd("HLEN").arg("big:hash").query(&mut con).unwrap();
    assert_eq!(n, 3000);
}

#[test]
fn source_disconnects_are_recorded_and_survived() {
    let source = RedisServer::start();
    let mut src = source.conn();
    populate(&mut src, 3000, false);
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("notify-keyspace-events")
        .arg("KEA")
        .query(&mut src)
        .unwrap();
    let server = Server::builder().config(CONFIG).start();
    let mut con = server.conn();
    let _: String = redis::cmd("MIGRATION.START")
        .arg("FROM")
        .arg(format!("redis://127.0.0.1:{}", source.port()))
        .arg("MAX-RPS")
        .arg(1000)
        .arg("SCAN-COUNT")
        .arg(100)
        .arg("BATCH-KEYS")
        .arg(50)
        .query(&mut con)
        .unwrap();
    wait_status(&mut con, "some progress", |s| num(s, "scanned_keys") >= 300);
    // The tracker's connection, then the copier's: both come back by themselves.
    let _: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query(&mut src)
        .unwrap();
    let _: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("normal")
        .arg("SKIPME")
        .arg("yes")
        .query(&mut src)
        .unwrap();
    // Throttles change while it runs (SPEC_F F.10.2); the rest does not.
    let _: () = redis::cmd("MIGRATION.SET")
        .arg("MAX-RPS")
        .arg(0)
        .arg("BATCH-KEYS")
        .arg(200)
        .query(&mut con)
        .unwrap();
    let e = redis::cmd("MIGRATION.SET")
        .arg("TTL-MODE")
        .arg("drop")
        .query::<()>(&mut con)
        .unwrap_err();
    assert!(e.to_string().contains("cannot change"), "{e}");
    let s = wait_status(&mut con, "the copy to finish", |s| {
        s["phase"] == "live" || s["status"] == "failed"
    });
    assert_eq!(s["status"], "running", "{s:#?}");
    assert_eq!(
        (s["max_rps"].as_str(), s["batch_keys"].as_str()),
        ("0", "200")
    );
    assert!(num(&s, "tracker_gaps") >= 1, "{s:#?}");
    assert!(s["recent_errors"].contains("tracker"), "{s:#?}");
    assert!(s["recent_errors"].contains("reconnecting"), "{s:#?}");
    // Changes after the reconnection are tracked again.
    let _: () = redis::cmd("SET")
        .arg("after")
        .arg("1")
        .query(&mut src)
        .unwrap();
    wait_status(&mut con, "the change to be applied", |s| {
        num(s, "dirty_keys_applied") >= 1
    });
    let v: String = redis::cmd("GET").arg("after").query(&mut con).unwrap();
    assert_eq!(v, "1");
    let summary: String = redis::cmd("MIGRATION.CUTOVER")
        .arg("FREEZE-MS")
        .arg(5000)
        .query(&mut con)
        .unwrap();
    assert!(summary.contains("safety sweep"), "{summary}");
}

#[test]
fn keyspace_channels_and_dropped_ttls() {
    let source = RedisServer::start();
    let mut src = source.conn();
    populate(&mut src, 300, false);
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("notify-keyspace-events")
        .arg("KA")
        .query(&mut src)
        .unwrap();
    let server = Server::builder().config(CONFIG).start();
    let mut con = server.conn();
    // Into database 3.
    let _: () = redis::cmd("SELECT").arg(3).query(&mut con).unwrap();
    let _: String = redis::cmd("MIGRATION.START")
        .arg("FROM")
        .arg(format!("redis://127.0.0.1:{}", source.port()))
        .arg("CHANNELS")
        .arg("keyspace")
        .arg("TTL-MODE")
        .arg("drop")
        .query(&mut con)
        .unwrap();
    wait_status(&mut con, "the copy", |s| {
        s["phase"] == "live" || s["status"] == "failed"
    });
    let _: () = redis::cmd("SET")
        .arg("late")
        .arg("v")
        .arg("EX")
        .arg(100)
        .query(&mut src)
        .unwrap();
    let _: () = redis::cmd("DEL").arg("s:0").query(&mut src).unwrap();
    wait_status(&mut con, "the changes", |s| {
        num(s, "dirty_keys_applied") >= 1 && num(s, "dirty_keys_deleted") >= 1
    });
    let v: String = redis::cmd("GET").arg("late").query(&mut con).unwrap();
    assert_eq!(v, "v");
    let ttl: i64 = redis::cmd("TTL").arg("late").query(&mut con).unwrap();
    assert_eq!(ttl, -1, "TTL-MODE drop");
    let ttl: i64 = redis::cmd("TTL").arg("s:6").query(&mut con).unwrap();
    assert_eq!(ttl, -1, "TTL-MODE drop");
    let _: String = redis::cmd("MIGRATION.CUTOVER")
        .arg("FREEZE-MS")
        .arg(5000)
        .query(&mut con)
        .unwrap();
    let v = pairs(
        redis::cmd("MIGRATION.VERIFY")
            .arg("SAMPLE")
            .arg(100)
            .query(&mut con)
            .unwrap(),
    );
    assert_eq!(v["mismatches"], "0", "{v:#?}");
    // Nothing went to database 0.
    let _: () = redis::cmd("SELECT").arg(0).query(&mut con).unwrap();
    let n: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(n, 0);
}

#[test]
fn offline_bulk_killed_with_sigkill_resumes_from_its_checkpoint() {
    use std::io::BufRead;
    let source = RedisServer::start();
    let mut src = source.conn();
    populate(&mut src, 6000, false);
    let url = format!("redis://127.0.0.1:{}", source.port());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.db");
    let to = file.to_str().unwrap();
    let mut child = respite_command()
        .current_dir(dir.path())
        .args([
            "migrate", "bulk", "--from", &url, "--to", to, "--run-id", "k",
        ])
        .args([
            "--enable-notifications",
            "--max-rps",
            "2000",
            "--scan-count",
            "100",
        ])
        .args(["--batch-keys", "50"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("respite migrate bulk");
    // Progress lines (stderr is no terminal): kill -9 once a quarter is copied.
    let stderr = child.stderr.take().unwrap();
    let mut seen = String::new();
    for line in std::io::BufReader::new(stderr).lines() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        let scanned = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("scanned="))
            .and_then(|v| v.split('/').next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        if scanned >= 1500 {
            break;
        }
    }
    // SAFETY: kill(2) on our own child.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGKILL);
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed mid-bulk: {seen}");
    // The source changes meanwhile.
    let _: () = redis::cmd("SET")
        .arg("s:6")
        .arg("meanwhile")
        .query(&mut src)
        .unwrap();
    let (ok, out) = migrate_cli(
        dir.path(),
        &["bulk", "--to", to, "--run-id", "k", "--max-rps", "0"],
    );
    assert!(ok, "{out}");
    assert!(out.contains("phase: live"), "{out}");
    assert!(out.contains("tracker_gaps: 1"), "{out}");
    let (ok, out) = migrate_cli(
        dir.path(),
        &[
            "cutover",
            "--to",
            to,
            "--run-id",
            "k",
            "--freeze-ms",
            "1000",
        ],
    );
    assert!(ok, "{out}");
    let (ok, out) = migrate_cli(dir.path(), &["verify", "--to", to, "--run-id", "k"]);
    assert!(ok, "{out}");
    assert!(out.contains("mismatches: 0"), "{out}");
    let server = Server::builder().config(CONFIG).db_path(&file).start();
    let mut con = server.conn();
    let v: String = redis::cmd("GET").arg("s:6").query(&mut con).unwrap();
    assert_eq!(v, "meanwhile");
}
