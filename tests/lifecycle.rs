//! Process lifecycle: the Ready line, graceful stops on SIGTERM, SIGINT and SHUTDOWN, and
//! start-up failures.

mod common;

use common::{Reply, Server};

#[test]
fn ready_line_names_the_bound_address() {
    let server = Server::start();
    assert_eq!(server.addr().ip().to_string(), "127.0.0.1");
    assert_ne!(server.port(), 0, "--port 0 picks an ephemeral port");
    let log = server.stderr();
    assert!(
        log.contains(&format!("Ready to accept connections on {}", server.addr())),
        "{log}"
    );
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["PING"]), Reply::simple("PONG"));
}

#[test]
fn sigterm_stops_gracefully_single_thread() {
    sigterm_stops_gracefully(1);
}

#[test]
fn sigterm_stops_gracefully_with_threaded_executor() {
    sigterm_stops_gracefully(2);
}

/// SIGTERM exits 0, closes connected clients, and leaves the data for the next start.
fn sigterm_stops_gracefully(io_threads: u32) {
    let mut server = Server::with_io_threads(io_threads);
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["SET", "k", "v"]), Reply::ok());
    let status = server.stop();
    assert!(
        status.success(),
        "SIGTERM must exit 0: {status}\n{}",
        server.stderr()
    );
    conn.expect_closed();
    server.restart();
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["GET", "k"]), Reply::bulk("v"));
}

#[test]
fn sigint_stops_gracefully() {
    let mut server = Server::start();
    let _conn = server.raw();
    server.signal(libc::SIGINT);
    let status = server.wait_exit();
    assert!(
        status.success(),
        "SIGINT must exit 0: {status}\n{}",
        server.stderr()
    );
}

#[test]
fn shutdown_command_stops_gracefully() {
    let mut server = Server::start();
    let mut bystander = server.raw();
    assert_eq!(bystander.cmd(&["PING"]), Reply::simple("PONG"));
    let mut conn = server.raw();
    conn.send_cmd(&["SHUTDOWN"]);
    conn.expect_closed();
    let status = server.wait_exit();
    assert!(
        status.success(),
        "SHUTDOWN must exit 0: {status}\n{}",
        server.stderr()
    );
    bystander.expect_closed();
}

#[test]
fn shutdown_nosave_and_syntax() {
    let mut server = Server::start();
    let mut conn = server.raw();
    assert_eq!(
        conn.cmd(&["SHUTDOWN", "BOGUS"]),
        Reply::error("ERR syntax error")
    );
    assert_eq!(conn.cmd(&["PING"]), Reply::simple("PONG"));
    conn.send_cmd(&["SHUTDOWN", "NOSAVE"]);
    conn.expect_closed();
    let status = server.wait_exit();
    assert!(status.success(), "{status}\n{}", server.stderr());
}

#[test]
fn shutdown_needs_authentication() {
    let mut server = Server::builder()
        .env("RESPITE_SERVER__REQUIREPASS", "pw")
        .start();
    let mut conn = server.raw();
    assert_eq!(
        conn.cmd(&["SHUTDOWN"]),
        Reply::error("NOAUTH Authentication required.")
    );
    assert!(server.is_running());
    assert_eq!(conn.cmd(&["AUTH", "pw"]), Reply::ok());
    conn.send_cmd(&["SHUTDOWN"]);
    conn.expect_closed();
    assert!(server.wait_exit().success());
}

#[test]
fn a_port_in_use_is_a_start_up_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = match Server::builder().port(port).try_start() {
        Ok(_) => panic!("respite started on a port that is in use"),
        Err(e) => e,
    };
    assert!(err.contains("exited"), "{err}");
    assert!(
        err.contains(&format!("127.0.0.1:{port}")),
        "the error names the address: {err}"
    );
}

#[test]
fn a_second_server_on_the_same_db_file_is_refused() {
    let first = Server::start();
    let err = match Server::builder().db_path(first.db_path()).try_start() {
        Ok(_) => panic!("two servers started on one SQLite file"),
        Err(e) => e,
    };
    assert!(err.contains("exited"), "{err}");
    assert!(err.contains("another Respite server"), "{err}");
    // The first one is unaffected.
    let mut conn = first.raw();
    assert_eq!(conn.cmd(&["PING"]), Reply::simple("PONG"));
}

#[test]
fn an_unwritable_db_path_is_a_start_up_error() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the db file should be.
    let db = dir.path().join("is-a-dir");
    std::fs::create_dir(&db).unwrap();
    let err = match Server::builder().db_path(&db).try_start() {
        Ok(_) => panic!("respite started with a directory as its db file"),
        Err(e) => e,
    };
    assert!(err.contains("exited"), "{err}");
    assert!(
        err.contains("is-a-dir"),
        "the error names the db path: {err}"
    );
}

#[test]
fn the_db_directory_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nested/deeper/respite.db");
    let mut server = Server::builder().db_path(&db).start();
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["SET", "k", "v"]), Reply::ok());
    drop(conn);
    assert!(server.stop().success());
    assert!(db.exists(), "{}", db.display());
}
