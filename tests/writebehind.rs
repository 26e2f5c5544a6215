//! The writebehind plugin's WB.* commands against real application databases: a SQLite file
//! and a real PostgreSQL (a cluster of its own, started by the test). Every increment, update
//! and insert must land exactly once: after WB.FLUSH, after kill -9 with writes still
//! queued, after a crash between the application database's commit and Respite's own (a
//! test-only failpoint, honoured by debug builds), and after failed flushes.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::thread;

use common::postgres::Postgres;
use common::Server;

/// The application database a test checks: what the flushes wrote.
trait App {
    /// Runs statements.
    fn exec(&self, sql: &str);
    /// Rows of a query, columns joined with `|`.
    fn rows(&self, sql: &str) -> Vec<String>;
    /// The `url` of `[plugins.writebehind.connections.app]`.
    fn url(&self) -> String;
    /// The table of queued rows: an auto-numbered id in this dialect.
    fn serial(&self) -> &'static str;

    fn one(&self, sql: &str) -> String {
        let rows = self.rows(sql);
        assert_eq!(rows.len(), 1, "{sql}: {rows:?}");
        rows[0].clone()
    }
}

struct SqliteApp(PathBuf);

impl App for SqliteApp {
    fn exec(&self, sql: &str) {
        let c = rusqlite::Connection::open(&self.0).unwrap();
        c.execute_batch(sql).unwrap();
    }

    fn rows(&self, sql: &str) -> Vec<String> {
        use rusqlite::types::Value;
        let c = rusqlite::Connection::open(&self.0).unwrap();
        let mut stmt = c.prepare(sql).unwrap();
        let n = stmt.column_count();
        let rows = stmt
            .query_map([], |r| {
                let cells: Vec<String> = (0..n)
                    .map(|i| match r.get::<_, Value>(i).unwrap() {
                        Value::Null => String::new(),
                        Value::Integer(v) => v.to_string(),
                        Value::Real(v) => v.to_string(),
                        Value::Text(t) => t,
                        Value::Blob(b) => String::from_utf8_lossy(&b).into_owned(),
                    })
                    .collect();
                Ok(cells.join("|"))
            })
            .unwrap();
        rows.map(Result::unwrap).collect()
    }

    fn url(&self) -> String {
        format!("sqlite:{}", self.0.display())
    }

    fn serial(&self) -> &'static str {
        "INTEGER PRIMARY KEY"
    }
}

impl App for Postgres {
    fn exec(&self, sql: &str) {
        self.query(sql);
    }

    fn rows(&self, sql: &str) -> Vec<String> {
        let out = self.query(sql);
        if out.is_empty() {
            Vec::new()
        } else {
            out.lines().map(str::to_string).collect()
        }
    }

    fn url(&self) -> String {
        Postgres::url(self)
    }

    fn serial(&self) -> &'static str {
        "SERIAL PRIMARY KEY"
    }
}

/// Tables of a blog: posts with counters and a title, and an event log.
fn create_schema(app: &dyn App) {
    app.exec(&format!(
        "CREATE TABLE posts (id INTEGER PRIMARY KEY, views INTEGER NOT NULL DEFAULT 0, likes INTEGER, title TEXT, seen_at TEXT);
         INSERT INTO posts (id, views, likes, title) VALUES (1, 10, 0, 'one'), (2, 0, 5, 'two'), (3, 100, NULL, 'three');
         CREATE TABLE events (id {}, seq INTEGER NOT NULL, kind TEXT NOT NULL, payload TEXT);",
        app.serial()
    ));
}

/// A server whose flushes run only on WB.FLUSH (and once at start, which recovers what a
/// crash left), so that each test decides when the application database is written.
fn server(app: &dyn App, env: &[(&str, &Path)]) -> Server {
    server_with(app, env, 100_000)
}

fn server_with(app: &dyn App, env: &[(&str, &Path)], max_queue_size: usize) -> Server {
    let mut b = Server::builder().config(format!(
        "[plugins]\nenabled = [\"writebehind\"]\n\
         [plugins.writebehind]\nflush_interval_ms = 3600000\ninsert_batch_size = 50\n\
         max_queue_size = {max_queue_size}\n\
         [plugins.writebehind.connections.app]\nurl = \"{}\"\n",
        app.url()
    ));
    for (k, v) in env {
        b = b.env(k, v);
    }
    b.start()
}

fn cmd(c: &mut redis::Connection, args: &[&str]) -> redis::RedisResult<redis::Value> {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(c)
}

fn int(c: &mut redis::Connection, args: &[&str]) -> i64 {
    match cmd(c, args) {
        Ok(redis::Value::Int(i)) => i,
        other => panic!("{args:?}: {other:?}"),
    }
}

fn ok(c: &mut redis::Connection, args: &[&str]) {
    match cmd(c, args) {
        Ok(redis::Value::Okay) => {}
        other => panic!("{args:?}: {other:?}"),
    }
}

fn err(c: &mut redis::Connection, args: &[&str]) -> String {
    match cmd(c, args) {
        Err(e) => e.to_string(),
        other => panic!("{args:?} should fail: {other:?}"),
    }
}

fn text(v: &redis::Value) -> String {
    match v {
        redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        redis::Value::SimpleString(s) => s.clone(),
        redis::Value::Int(i) => i.to_string(),
        redis::Value::Nil => String::new(),
        other => panic!("unexpected {other:?}"),
    }
}

/// WB.STATS by "connection.table".
fn stats(c: &mut redis::Connection) -> HashMap<String, HashMap<String, String>> {
    let redis::Value::Array(groups) = cmd(c, &["WB.STATS"]).unwrap() else {
        panic!("WB.STATS is not an array");
    };
    groups
        .iter()
        .map(|g| {
            let redis::Value::Array(items) = g else {
                panic!("{g:?}");
            };
            let m: HashMap<String, String> = items
                .chunks(2)
                .map(|kv| (text(&kv[0]), text(&kv[1])))
                .collect();
            (format!("{}.{}", m["connection"], m["table"]), m)
        })
        .collect()
}

fn stat(c: &mut redis::Connection, group: &str, field: &str) -> i64 {
    stats(c)
        .get(group)
        .and_then(|m| m.get(field))
        .map(|v| v.parse().unwrap())
        .unwrap_or(0)
}

/// Queues from several clients at once: `per` increments of post 1's views and of post 3's
/// likes (by 2, its row named by a JSON where), and `per` events, from each of `clients`.
fn concurrent_load(s: &Server, clients: usize, per: usize, first_seq: usize) {
    let handles: Vec<_> = (0..clients)
        .map(|t| {
            let mut c = s.conn();
            thread::spawn(move || {
                for i in 0..per {
                    int(&mut c, &["WB.INCR", "app", "posts", "1", "views", "1"]);
                    int(
                        &mut c,
                        &["WB.INCR", "app", "posts", r#"{"id": 3}"#, "likes", "2"],
                    );
                    let seq = first_seq + t * per + i;
                    let row =
                        format!(r#"{{"seq": {seq}, "kind": "view", "payload": "c{t} i{i}"}}"#);
                    int(&mut c, &["WB.INSERT", "app", "events", &row]);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

/// Every event seq in 0..n exactly once.
fn assert_events(app: &dyn App, n: usize) {
    assert_eq!(
        app.one("SELECT COUNT(*), COUNT(DISTINCT seq) FROM events"),
        format!("{n}|{n}")
    );
    if n > 0 {
        assert_eq!(
            app.one("SELECT MIN(seq), MAX(seq) FROM events"),
            format!("0|{}", n - 1)
        );
    }
}

/// Counters (base read once, then base + pending), last-write-wins updates, batched inserts
/// from concurrent clients; then the flush, and the counters go on from the flushed values.
fn counters_updates_inserts(app: &dyn App) {
    create_schema(app);
    let s = server(app, &[]);
    let mut c = s.conn();
    // The first increment reads the base from the table: 5 + 1.
    assert_eq!(
        int(&mut c, &["WB.INCR", "app", "posts", "2", "likes", "1"]),
        6
    );
    assert_eq!(int(&mut c, &["WB.GET", "app", "posts", "2", "likes"]), 6);
    assert_eq!(int(&mut c, &["WB.GET", "app", "posts", "1", "views"]), 10);
    // A missing row counts from 0.
    assert_eq!(int(&mut c, &["WB.GET", "app", "posts", "99", "views"]), 0);
    concurrent_load(&s, 4, 30, 0);
    assert_eq!(int(&mut c, &["WB.GET", "app", "posts", "1", "views"]), 130);
    assert_eq!(int(&mut c, &["WB.GET", "app", "posts", "3", "likes"]), 240);
    // Nothing reached the table yet.
    assert_eq!(app.one("SELECT views FROM posts WHERE id = 1"), "10");
    assert_events(app, 0);

    ok(
        &mut c,
        &["WB.UPDATE", "app", "posts", "1", "title", "first"],
    );
    ok(
        &mut c,
        &[
            "WB.UPDATE",
            "app",
            "posts",
            r#"{"id":1}"#,
            "title",
            "second",
            "seen_at",
            "2026-12-04",
        ],
    );
    ok(
        &mut c,
        &["WB.UPDATE", "app", "posts", "1", "title", "third"],
    );
    let st = &stats(&mut c)["app.posts"];
    assert_eq!(st["pending_counters"], "3", "{st:?}");
    assert_eq!(st["pending_updates"], "1", "{st:?}");
    assert_eq!(stat(&mut c, "app.events", "queued_rows"), 120);

    ok(&mut c, &["WB.FLUSH"]);
    assert_eq!(
        app.one("SELECT views, likes, title, seen_at FROM posts WHERE id = 1"),
        "130|0|third|2026-12-04"
    );
    assert_eq!(app.one("SELECT likes FROM posts WHERE id = 2"), "6");
    assert_eq!(app.one("SELECT likes FROM posts WHERE id = 3"), "240");
    assert_events(app, 120);
    let posts = &stats(&mut c)["app.posts"];
    assert_eq!(posts["pending_counters"], "0", "{posts:?}");
    assert_eq!(posts["pending_updates"], "0", "{posts:?}");
    assert_eq!(posts["failures"], "0", "{posts:?}");
    // 120 rows in batches of 50: three flushes, 120 rows written.
    let events = &stats(&mut c)["app.events"];
    assert_eq!(events["queued_rows"], "0", "{events:?}");
    assert_eq!(events["flushes"], "3", "{events:?}");
    assert_eq!(events["rows_written"], "120", "{events:?}");

    // The totals go on from the flushed values, and a second flush adds only the new work.
    assert_eq!(
        int(&mut c, &["WB.INCR", "app", "posts", "1", "views", "5"]),
        135
    );
    assert_eq!(
        int(&mut c, &["WB.INCR", "app", "posts", "1", "views", "-2"]),
        133
    );
    concurrent_load(&s, 2, 10, 120);
    ok(&mut c, &["WB.FLUSH", "app"]);
    ok(&mut c, &["WB.FLUSH", "app", "posts"]);
    assert_eq!(app.one("SELECT views FROM posts WHERE id = 1"), "153");
    assert_eq!(app.one("SELECT likes FROM posts WHERE id = 3"), "280");
    assert_events(app, 140);
    assert_eq!(int(&mut c, &["WB.GET", "app", "posts", "1", "views"]), 153);
    // Nothing pending: a flush with nothing to do is fine.
    ok(&mut c, &["WB.FLUSH"]);
    // The database's ledger of flush ids keeps only the rows a crash could still need: each
    // flush deletes those of the earlier flushes whose end Respite has committed.
    for _ in 0..2 {
        int(&mut c, &["WB.INCR", "app", "posts", "1", "views", "1"]);
        ok(&mut c, &["WB.FLUSH"]);
    }
    assert_eq!(app.one("SELECT views FROM posts WHERE id = 1"), "155");
    let ledger: i64 = app
        .one("SELECT COUNT(*) FROM respite_wb_flushes")
        .parse()
        .unwrap();
    assert!((1..=2).contains(&ledger), "{ledger} ledger rows");
}

/// Writes queued when Respite is killed -9 are kept (they were committed with the command)
/// and flushed once after the restart; a crash right after the application database
/// committed a flush, before Respite recorded it, does not apply that flush twice.
fn crashes(app: &dyn App, dir: &Path) {
    create_schema(app);
    let failpoint = dir.join("failpoint");
    let mut s = server(app, &[("RESPITE_WB_FAILPOINT", &failpoint)]);
    let mut c = s.conn();
    assert_eq!(
        int(&mut c, &["WB.INCR", "app", "posts", "1", "views", "7"]),
        17
    );
    concurrent_load(&s, 3, 20, 0);
    ok(
        &mut c,
        &[
            "WB.UPDATE",
            "app",
            "posts",
            "2",
            "title",
            "before the crash",
        ],
    );
    drop(c);

    // kill -9 with everything queued.
    s.crash_restart();
    let mut c = s.conn();
    // (The restarted server flushes what it finds at once; the totals hold either way.)
    assert_eq!(int(&mut c, &["WB.GET", "app", "posts", "1", "views"]), 77);
    ok(&mut c, &["WB.FLUSH"]);
    assert_eq!(
        app.one("SELECT views, likes FROM posts WHERE id = 1"),
        "77|0"
    );
    assert_eq!(
        app.one("SELECT likes, title FROM posts WHERE id = 2"),
        "5|before the crash"
    );
    assert_eq!(app.one("SELECT likes FROM posts WHERE id = 3"), "120");
    assert_events(app, 60);

    // More work, then a crash between the application database's commit and Respite's.
    concurrent_load(&s, 2, 30, 60);
    ok(
        &mut c,
        &["WB.UPDATE", "app", "posts", "2", "title", "after the crash"],
    );
    std::fs::write(&failpoint, "after-target-commit").unwrap();
    assert!(
        cmd(&mut c, &["WB.FLUSH", "app", "posts"]).is_err(),
        "the server should have aborted"
    );
    drop(c);
    s.wait_exit();
    // The table holds the flush already; Respite still has it queued, with its flush id.
    assert_eq!(
        app.one("SELECT views, title FROM posts WHERE id = 2"),
        "0|after the crash"
    );
    assert_eq!(app.one("SELECT views FROM posts WHERE id = 1"), "137");
    s.restart();
    let mut c = s.conn();
    ok(&mut c, &["WB.FLUSH"]);
    assert_eq!(app.one("SELECT views FROM posts WHERE id = 1"), "137");
    assert_eq!(app.one("SELECT likes FROM posts WHERE id = 3"), "240");
    assert_events(app, 120);
    assert_eq!(int(&mut c, &["WB.GET", "app", "posts", "1", "views"]), 137);
    let posts = &stats(&mut c)["app.posts"];
    assert_eq!(posts["recovered_flushes"], "1", "{posts:?}");
    assert_eq!(posts["pending_counters"], "0", "{posts:?}");
    assert_eq!(posts["flush_in_progress"], "0", "{posts:?}");
    assert!(!failpoint.exists());
}

/// A flush that fails (the table does not exist yet) keeps every write queued, in order,
/// and a later flush writes them all, once.
fn failed_flush_keeps_everything(app: &dyn App) {
    create_schema(app);
    let s = server(app, &[]);
    let mut c = s.conn();
    for i in 0..70 {
        int(
            &mut c,
            &["WB.INSERT", "app", "later", &format!(r#"{{"n": {i}}}"#)],
        );
    }
    let e = err(&mut c, &["WB.FLUSH", "app", "later"]);
    assert!(e.contains("app.later"), "{e}");
    let st = &stats(&mut c)["app.later"];
    assert_eq!(st["queued_rows"], "70", "{st:?}");
    assert!(st["failures"].parse::<i64>().unwrap() >= 1, "{st:?}");
    assert!(!st["last_error"].is_empty(), "{st:?}");
    // Other tables flush regardless.
    int(&mut c, &["WB.INCR", "app", "posts", "1", "views", "1"]);
    ok(&mut c, &["WB.FLUSH", "app", "posts"]);
    assert_eq!(app.one("SELECT views FROM posts WHERE id = 1"), "11");

    app.exec(&format!(
        "CREATE TABLE later (id {}, n INTEGER NOT NULL)",
        app.serial()
    ));
    ok(&mut c, &["WB.FLUSH"]);
    let ns: Vec<String> = app.rows("SELECT n FROM later ORDER BY id");
    let want: Vec<String> = (0..70).map(|i| i.to_string()).collect();
    assert_eq!(ns, want);
    let st = &stats(&mut c)["app.later"];
    assert_eq!(st["queued_rows"], "0", "{st:?}");
    assert_eq!(st["last_error"], "", "{st:?}");
}

fn sqlite_app(dir: &Path) -> SqliteApp {
    SqliteApp(dir.join("app.db"))
}

#[test]
fn sqlite_counters_updates_and_inserts_land_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    counters_updates_inserts(&sqlite_app(dir.path()));
}

#[test]
fn sqlite_exactly_once_across_kill_9_and_a_crash_after_the_target_commit() {
    let dir = tempfile::tempdir().unwrap();
    crashes(&sqlite_app(dir.path()), dir.path());
}

#[test]
fn sqlite_failed_flush_keeps_everything_queued_in_order() {
    let dir = tempfile::tempdir().unwrap();
    failed_flush_keeps_everything(&sqlite_app(dir.path()));
}

#[test]
fn a_queue_past_max_queue_size_flushes_before_the_interval() {
    let dir = tempfile::tempdir().unwrap();
    let app = sqlite_app(dir.path());
    create_schema(&app);
    let s = server_with(&app, &[], 10);
    let mut c = s.conn();
    for i in 0..25 {
        let row = format!(r#"{{"seq": {i}, "kind": "k"}}"#);
        int(&mut c, &["WB.INSERT", "app", "events", &row]);
    }
    // The interval is an hour: only the early flush can write rows now.
    common::wait_until("an early flush", std::time::Duration::from_secs(30), || {
        app.one("SELECT COUNT(*) FROM events") != "0"
    });
    ok(&mut c, &["WB.FLUSH"]);
    assert_events(&app, 25);
}

#[test]
fn postgres_exactly_once_including_crashes_and_failed_flushes() {
    let Some(pg) = Postgres::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    counters_updates_inserts(&pg);
    pg.exec("DROP TABLE posts; DROP TABLE events");
    crashes(&pg, dir.path());
    pg.exec("DROP TABLE posts; DROP TABLE events");
    failed_flush_keeps_everything(&pg);
}

#[test]
fn bad_arguments_are_errors_and_queue_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let app = sqlite_app(dir.path());
    create_schema(&app);
    let s = server(&app, &[]);
    let mut c = s.conn();
    let cases: &[(&[&str], &str)] = &[
        (
            &["WB.INCR", "nope", "posts", "1", "views", "1"],
            "unknown writebehind connection 'nope'",
        ),
        (
            &["WB.INCR", "app", "posts", "1", "views", "abc"],
            "delta is not a number",
        ),
        (
            &["WB.INCR", "app", "posts", "1", "views", "nan"],
            "delta is not a number",
        ),
        (
            &[
                "WB.INCR",
                "app",
                "posts; DROP TABLE posts",
                "1",
                "views",
                "1",
            ],
            "invalid table name",
        ),
        (
            &["WB.INCR", "app", "posts", "1", "vie\"ws", "1"],
            "invalid column name",
        ),
        (
            &["WB.INCR", "app", "posts", "{\"id\": 1", "views", "1"],
            "where is not a valid JSON object",
        ),
        (
            &["WB.INCR", "app", "posts", "{\"id\": null}", "views", "1"],
            "must be a number, a string or a boolean",
        ),
        (
            &["WB.UPDATE", "app", "posts", "1", "title"],
            "wrong number of arguments",
        ),
        (
            &["WB.UPDATE", "app", "posts", "1", "title", "x", "seen_at"],
            "wrong number of arguments",
        ),
        (
            &[
                "WB.UPDATE",
                "app",
                "posts",
                "1",
                "title",
                "x",
                "bad col",
                "y",
            ],
            "invalid column name",
        ),
        (
            &["WB.INSERT", "app", "events", "{\"seq\": 1,"],
            "not a valid JSON object",
        ),
        (
            &["WB.INSERT", "app", "events", "[1, 2]"],
            "not a valid JSON object",
        ),
        (&["WB.INSERT", "app", "events", "{}"], "names no column"),
        (
            &["WB.INSERT", "nope", "events", "{\"seq\": 1}"],
            "unknown writebehind connection",
        ),
        (&["WB.FLUSH", "nope"], "unknown writebehind connection"),
        (
            &["WB.GET", "app", "posts", "1"],
            "wrong number of arguments",
        ),
    ];
    for (args, want) in cases {
        let e = err(&mut c, args);
        assert!(e.contains(want), "{args:?}: {e}");
    }
    // The failing WB.UPDATE queued none of its fields.
    assert!(stats(&mut c).is_empty(), "{:?}", stats(&mut c));
    // Integer overflow is refused, and the counter keeps its value.
    let max = (i64::MAX - 10).to_string();
    assert_eq!(
        int(&mut c, &["WB.INCR", "app", "posts", "1", "views", &max]),
        i64::MAX
    );
    let e = err(&mut c, &["WB.INCR", "app", "posts", "1", "views", "1"]);
    assert!(e.contains("overflow"), "{e}");
    // A delta with a fraction makes the total a double.
    let v = cmd(&mut c, &["WB.INCR", "app", "posts", "3", "views", "0.25"]).unwrap();
    assert_eq!(text(&v), "100.25");
    // Inside MULTI, a counter whose base is not read yet is an error; a known one works.
    let mut pipe = redis::pipe();
    pipe.atomic()
        .cmd("WB.INCR")
        .arg("app")
        .arg("posts")
        .arg("2")
        .arg("likes")
        .arg("1")
        .cmd("WB.INCR")
        .arg("app")
        .arg("posts")
        .arg("1")
        .arg("views")
        .arg("-1");
    let r: redis::RedisResult<Vec<redis::Value>> = pipe.query(&mut c);
    assert!(r.is_err(), "{r:?}");
    assert_eq!(app.one("SELECT views FROM posts WHERE id = 1"), "10");
}

/// A database that accepts connections and never answers: the base read of a WB.INCR waits
/// on it (the flusher gives up after 10 s), while the server goes on serving everybody else;
/// MODULE UNLOAD answers the waiting client at once.
#[test]
fn a_database_that_does_not_answer_stalls_only_its_own_callers() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = Arc::new(std::sync::Mutex::new(Vec::new()));
    {
        let held = Arc::clone(&held);
        thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                held.lock().unwrap().push(conn);
            }
        });
    }
    let s = Server::builder()
        .config(format!(
            "[plugins]\nenabled = [\"writebehind\"]\n\
             [plugins.writebehind.connections.pg]\nurl = \"postgres://app@127.0.0.1:{port}/app\"\n"
        ))
        .start();
    let done = Arc::new(AtomicBool::new(false));
    let waiting = {
        let (mut c, done) = (s.conn(), Arc::clone(&done));
        thread::spawn(move || {
            let r = cmd(&mut c, &["WB.INCR", "pg", "posts", "1", "views", "1"]);
            done.store(true, Ordering::SeqCst);
            r
        })
    };
    // The WB.INCR is waiting on the database (its connection is open, unanswered) ...
    common::wait_until(
        "the flusher's connection",
        std::time::Duration::from_secs(30),
        || !held.lock().unwrap().is_empty(),
    );
    // ... and the server serves the others meanwhile.
    let mut c = s.conn();
    let pong: String = redis::cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
    assert_eq!(
        int(&mut c, &["WB.INSERT", "pg", "events", r#"{"a": 1}"#]),
        1
    );
    assert!(
        !done.load(Ordering::SeqCst),
        "the WB.INCR should still be waiting"
    );
    ok(&mut c, &["MODULE", "UNLOAD", "writebehind"]);
    let e = waiting.join().unwrap().unwrap_err().to_string();
    assert!(e.contains("plugin stopped"), "{e}");
}

/// Two servers sharing one database: each flush reads the counters' values back, so a
/// server's totals take in the other's flushed increments from its own next flush on.
#[test]
fn servers_sharing_a_database_see_each_others_flushed_counts() {
    let dir = tempfile::tempdir().unwrap();
    let app = sqlite_app(dir.path());
    create_schema(&app);
    let (a, b) = (server(&app, &[]), server(&app, &[]));
    let (mut ca, mut cb) = (a.conn(), b.conn());
    assert_eq!(
        int(&mut ca, &["WB.INCR", "app", "posts", "1", "views", "5"]),
        15
    );
    assert_eq!(
        int(&mut cb, &["WB.INCR", "app", "posts", "1", "views", "3"]),
        13
    );
    ok(&mut ca, &["WB.FLUSH"]);
    ok(&mut cb, &["WB.FLUSH"]);
    assert_eq!(app.one("SELECT views FROM posts WHERE id = 1"), "18");
    // B flushed last: its base is the table's value.
    assert_eq!(int(&mut cb, &["WB.GET", "app", "posts", "1", "views"]), 18);
    // A learns of B's increments with its own next flush of the row.
    assert_eq!(
        int(&mut ca, &["WB.INCR", "app", "posts", "1", "views", "1"]),
        16
    );
    ok(&mut ca, &["WB.FLUSH"]);
    assert_eq!(app.one("SELECT views FROM posts WHERE id = 1"), "19");
    assert_eq!(int(&mut ca, &["WB.GET", "app", "posts", "1", "views"]), 19);
}

/// kill -9 at arbitrary moments while clients write and the flusher flushes every 10 ms:
/// afterwards every acknowledged increment and insert is in the table once, and nothing is
/// there twice (an increment or insert that was sent but not acknowledged may or may not
/// have landed, as with any database).
#[test]
fn kill_9_under_load_with_flushes_running_applies_everything_once() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let app = sqlite_app(dir.path());
    create_schema(&app);
    let mut s = Server::builder()
        .config(format!(
            "[plugins]\nenabled = [\"writebehind\"]\n\
             [plugins.writebehind]\nflush_interval_ms = 10\ninsert_batch_size = 7\n\
             [plugins.writebehind.connections.app]\nurl = \"{}\"\n",
            app.url()
        ))
        .start();
    let (acked_incr, sent_incr) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let next_seq = Arc::new(AtomicU64::new(0));
    let acked_seqs = Arc::new(std::sync::Mutex::new(Vec::new()));
    for round in 0..4 {
        let target = (round + 1) * 300;
        let writers: Vec<_> = (0..2)
            .map(|_| {
                let mut c = s.conn();
                let (acked_incr, sent_incr) = (Arc::clone(&acked_incr), Arc::clone(&sent_incr));
                let (next_seq, acked_seqs) = (Arc::clone(&next_seq), Arc::clone(&acked_seqs));
                thread::spawn(move || loop {
                    sent_incr.fetch_add(1, Ordering::SeqCst);
                    if cmd(&mut c, &["WB.INCR", "app", "posts", "1", "views", "1"]).is_err() {
                        return;
                    }
                    acked_incr.fetch_add(1, Ordering::SeqCst);
                    let seq = next_seq.fetch_add(1, Ordering::SeqCst);
                    let row = format!(r#"{{"seq": {seq}, "kind": "k"}}"#);
                    if cmd(&mut c, &["WB.INSERT", "app", "events", &row]).is_err() {
                        return;
                    }
                    acked_seqs.lock().unwrap().push(seq);
                })
            })
            .collect();
        common::wait_until("writes", std::time::Duration::from_secs(60), || {
            acked_incr.load(Ordering::SeqCst) >= target
        });
        s.kill();
        for w in writers {
            w.join().unwrap();
        }
        s.restart();
    }
    let mut c = s.conn();
    ok(&mut c, &["WB.FLUSH"]);
    let views: u64 = app
        .one("SELECT views FROM posts WHERE id = 1")
        .parse()
        .unwrap();
    let (acked, sent) = (
        acked_incr.load(Ordering::SeqCst),
        sent_incr.load(Ordering::SeqCst),
    );
    assert!(
        (10 + acked..=10 + sent).contains(&views),
        "views {views}: {acked} increments acknowledged, {sent} sent"
    );
    assert_eq!(
        int(&mut c, &["WB.GET", "app", "posts", "1", "views"]),
        views as i64
    );
    let rows: Vec<u64> = app
        .rows("SELECT seq FROM events ORDER BY seq")
        .iter()
        .map(|r| r.parse().unwrap())
        .collect();
    let mut unique = rows.clone();
    unique.dedup();
    assert_eq!(unique.len(), rows.len(), "an insert landed twice");
    for seq in acked_seqs.lock().unwrap().iter() {
        assert!(
            rows.binary_search(seq).is_ok(),
            "acknowledged insert {seq} is missing"
        );
    }
}
