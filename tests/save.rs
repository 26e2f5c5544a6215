//! SAVE, BGSAVE and LASTSAVE: consistent snapshots of the data file to `dir`/`dbfilename`,
//! which a fresh server serves as they were, and the INFO persistence fields about them.

mod common;

use common::Server;

fn persistence(con: &mut redis::Connection) -> redis::InfoDict {
    redis::cmd("INFO").arg("persistence").query(con).unwrap()
}

/// A server whose snapshots go to `dir`/`file` (`dir` and `dbfilename` are protected
/// parameters, as in Redis 7: set in the file's `[redis]` table, not with CONFIG SET).
fn server_saving_to(dir: &std::path::Path, file: &str) -> Server {
    Server::builder()
        .config(format!(
            "[redis]\ndir = {:?}\ndbfilename = {file:?}\n",
            dir.to_str().unwrap()
        ))
        .start()
}

/// What a fresh server started on `file` holds under `key`.
fn served(file: &std::path::Path, key: &str) -> Option<String> {
    let copy = Server::builder().db_path(file).start();
    let mut con = copy.conn();
    redis::cmd("GET").arg(key).query(&mut con).unwrap()
}

#[test]
fn save_writes_a_snapshot_a_server_can_serve_and_resets_the_change_count() {
    let snaps = tempfile::tempdir().unwrap();
    let server = server_saving_to(snaps.path(), "snap.db");
    let mut con = server.conn();
    let dir: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("dir")
        .query(&mut con)
        .unwrap();
    assert_eq!(dir[1], snaps.path().to_str().unwrap());
    let err = redis::cmd("CONFIG")
        .arg("SET")
        .arg("dir")
        .arg("/")
        .query::<()>(&mut con)
        .unwrap_err();
    assert!(err.to_string().contains("protected"), "{err}");
    let before: i64 = redis::cmd("LASTSAVE").query(&mut con).unwrap();
    for i in 0..100 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query(&mut con)
            .unwrap();
    }
    let changes: u64 = persistence(&mut con)
        .get("rdb_changes_since_last_save")
        .unwrap();
    assert_eq!(changes, 100);
    // In one pipeline: the snapshot holds the write just before SAVE, not the one after.
    let (_, ok, _): ((), String, ()) = redis::pipe()
        .cmd("SET")
        .arg("before")
        .arg("yes")
        .cmd("SAVE")
        .cmd("SET")
        .arg("after")
        .arg("yes")
        .query(&mut con)
        .unwrap();
    assert_eq!(ok, "OK");
    let info = persistence(&mut con);
    assert_eq!(info.get::<u64>("rdb_changes_since_last_save"), Some(1));
    assert_eq!(info.get::<u64>("rdb_saves"), Some(1));
    let after: i64 = redis::cmd("LASTSAVE").query(&mut con).unwrap();
    assert!(after >= before);
    let file = snaps.path().join("snap.db");
    assert_eq!(served(&file, "before").as_deref(), Some("yes"));
    assert_eq!(served(&file, "k99").as_deref(), Some("99"));
    assert_eq!(served(&file, "after"), None);
}

#[test]
fn bgsave_writes_in_the_background_and_schedule_queues_another() {
    let snaps = tempfile::tempdir().unwrap();
    let server = server_saving_to(snaps.path(), "bg.db");
    let mut con = server.conn();
    let value = "x".repeat(1000);
    for chunk in 0..20 {
        let mut c = redis::cmd("MSET");
        for i in 0..1000 {
            c.arg(format!("k{chunk}:{i}")).arg(&value);
        }
        let _: () = c.query(&mut con).unwrap();
    }
    let started: String = redis::cmd("BGSAVE").query(&mut con).unwrap();
    assert_eq!(started, "Background saving started");
    // Either the first is still running (scheduled after it) or it ended (started now).
    let second: String = redis::cmd("BGSAVE")
        .arg("SCHEDULE")
        .query(&mut con)
        .unwrap();
    assert!(
        second == "Background saving scheduled" || second == "Background saving started",
        "{second}"
    );
    common::wait_until("two background saves", common::IO_TIMEOUT, || {
        let info = persistence(&mut con);
        info.get::<u64>("rdb_saves") == Some(2)
            && info.get::<u64>("rdb_bgsave_in_progress") == Some(0)
    });
    let info = persistence(&mut con);
    assert_eq!(
        info.get::<String>("rdb_last_bgsave_status").as_deref(),
        Some("ok")
    );
    assert!(info.get::<i64>("rdb_last_bgsave_time_sec").unwrap() >= 0);
    let err = redis::cmd("BGSAVE")
        .arg("NOW")
        .query::<String>(&mut con)
        .unwrap_err();
    assert!(err.to_string().contains("syntax error"), "{err}");
    let file = snaps.path().join("bg.db");
    assert_eq!(served(&file, "k19:999").as_deref(), Some(value.as_str()));
}

#[test]
fn snapshots_that_cannot_be_written_fail_with_a_clear_error() {
    // The data file itself.
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("data.db");
    let server = Server::builder()
        .db_path(&db)
        .config(format!(
            "[redis]\ndir = {:?}\ndbfilename = \"data.db\"\n",
            home.path().to_str().unwrap()
        ))
        .start();
    let mut con = server.conn();
    let err = redis::cmd("SAVE").query::<()>(&mut con).unwrap_err();
    assert!(err.to_string().contains("the data file itself"), "{err}");
    drop(con);
    drop(server);

    // A directory that disappeared after start-up.
    let gone = tempfile::tempdir().unwrap();
    let server = server_saving_to(gone.path(), "x.db");
    let path = gone.path().to_path_buf();
    drop(gone);
    assert!(!path.exists());
    let mut con = server.conn();
    let err = redis::cmd("SAVE").query::<()>(&mut con).unwrap_err();
    assert!(err.to_string().contains("x.db"), "{err}");
    let _: String = redis::cmd("BGSAVE").query(&mut con).unwrap();
    common::wait_until("the failed background save", common::IO_TIMEOUT, || {
        persistence(&mut con).get::<u64>("rdb_bgsave_in_progress") == Some(0)
    });
    let info = persistence(&mut con);
    assert_eq!(
        info.get::<String>("rdb_last_bgsave_status").as_deref(),
        Some("err")
    );
    assert_eq!(info.get::<u64>("rdb_saves"), Some(0));
    // MULTI refuses SAVE, as Redis does.
    let _: () = redis::cmd("MULTI").query(&mut con).unwrap();
    let err = redis::cmd("SAVE").query::<()>(&mut con).unwrap_err();
    assert!(err.to_string().contains("not allowed"), "{err}");
    let _: () = redis::cmd("DISCARD").query(&mut con).unwrap();

    let memory = Server::builder().memory().start();
    let mut con = memory.conn();
    let err = redis::cmd("SAVE").query::<()>(&mut con).unwrap_err();
    assert!(err.to_string().contains(":memory:"), "{err}");
}

#[test]
fn save_points_start_a_background_save_once_reached() {
    let snaps = tempfile::tempdir().unwrap();
    let server = server_saving_to(snaps.path(), "auto.db");
    let mut con = server.conn();
    // Two changes within a second reach "1 2"; one change alone does not.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("save")
        .arg("1 2")
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("SET").arg("k").arg("1").query(&mut con).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let info = persistence(&mut con);
    assert_eq!(info.get::<u64>("rdb_saves"), Some(0));
    let _: () = redis::cmd("SET").arg("k").arg("2").query(&mut con).unwrap();
    common::wait_until("an automatic save", common::IO_TIMEOUT, || {
        persistence(&mut con).get::<u64>("rdb_saves") == Some(1)
    });
    assert_eq!(
        persistence(&mut con).get::<u64>("rdb_changes_since_last_save"),
        Some(0)
    );
    // An empty `save` turns them off again.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("save")
        .arg("")
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("SET").arg("k").arg("3").query(&mut con).unwrap();
    let _: () = redis::cmd("SET").arg("k").arg("4").query(&mut con).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(persistence(&mut con).get::<u64>("rdb_saves"), Some(1));
    drop(con);
    assert_eq!(
        served(&snaps.path().join("auto.db"), "k").as_deref(),
        Some("2")
    );
}
