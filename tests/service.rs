//! Running as a service: `--version`, systemd's readiness protocol over `$NOTIFY_SOCKET`
//! (READY=1 once listening, STOPPING=1 on shutdown), SIGHUP, and the exit codes that say why
//! start-up failed.

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::Path;

use common::{output_text, run_respite, Reply, Server, IO_TIMEOUT};

#[test]
fn version_flags() {
    let dir = tempfile::tempdir().unwrap();
    let expected = format!("respite {}\n", env!("CARGO_PKG_VERSION"));
    for flag in ["--version", "-v", "-V"] {
        let out = run_respite(dir.path(), &[flag], &[]);
        assert!(out.status.success(), "{flag}: {}", output_text(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout), expected, "{flag}");
    }
}

/// The next datagram on `socket`, as text.
fn next_message(socket: &UnixDatagram) -> String {
    let mut buf = [0u8; 4096];
    let n = socket
        .recv(&mut buf)
        .expect("a notification from the server (NOTIFY_SOCKET)");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn lines(message: &str) -> Vec<&str> {
    message.lines().collect()
}

#[test]
fn notify_socket_gets_ready_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).expect("bind notify socket");
    socket.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut server = Server::builder().env("NOTIFY_SOCKET", &path).start();
    let ready = next_message(&socket);
    assert!(lines(&ready).contains(&"READY=1"), "{ready:?}");
    // READY=1 comes once the server answers.
    assert_eq!(server.raw().cmd(&["PING"]), Reply::simple("PONG"));
    let status = server.stop();
    assert!(status.success(), "{status}");
    let stopping = next_message(&socket);
    assert!(lines(&stopping).contains(&"STOPPING=1"), "{stopping:?}");
}

#[test]
fn notify_socket_in_the_abstract_namespace() {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::SocketAddr;
    let name = format!("respite-test-notify-{}", std::process::id());
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let socket = UnixDatagram::bind_addr(&addr).expect("bind abstract notify socket");
    socket.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut server = Server::builder()
        .env("NOTIFY_SOCKET", format!("@{name}"))
        .start();
    assert!(lines(&next_message(&socket)).contains(&"READY=1"));
    // SHUTDOWN from a client stops it the same way.
    let mut conn = server.raw();
    conn.send_cmd(&["SHUTDOWN"]);
    assert!(server.wait_exit().success());
    assert!(lines(&next_message(&socket)).contains(&"STOPPING=1"));
}

#[test]
fn a_missing_notify_socket_is_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::builder()
        .env("NOTIFY_SOCKET", dir.path().join("nobody-listens.sock"))
        .start();
    assert_eq!(server.raw().cmd(&["PING"]), Reply::simple("PONG"));
    common::wait_until("the notify warning", IO_TIMEOUT, || {
        server
            .stderr()
            .contains("cannot notify the service manager")
    });
}

#[test]
fn sighup_does_not_stop_the_server() {
    let server = Server::start();
    server.signal(libc::SIGHUP);
    common::wait_until("the SIGHUP log line", IO_TIMEOUT, || {
        server.stderr().contains("SIGHUP received")
    });
    assert_eq!(server.raw().cmd(&["PING"]), Reply::simple("PONG"));
}

fn config_get(con: &mut redis::Connection, name: &str) -> String {
    let v: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg(name)
        .query(con)
        .expect("CONFIG GET");
    v[1].clone()
}

#[test]
fn sighup_applies_the_files_changed_settings() {
    let server = Server::builder()
        .config("[server]\nmaxclients = 100\n")
        .start();
    let mut con = server.conn();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("timeout")
        .arg("7")
        .query(&mut con)
        .expect("CONFIG SET");
    std::fs::write(
        server.config_path(),
        "[server]\nmaxclients = 50\n[log]\nlevel = \"debug\"\n",
    )
    .unwrap();
    server.signal(libc::SIGHUP);
    common::wait_until("maxclients from the file", IO_TIMEOUT, || {
        config_get(&mut con, "maxclients") == "50"
    });
    assert_eq!(config_get(&mut con, "loglevel"), "debug");
    // The file is the source of truth: a run-time change it does not make is undone.
    assert_eq!(config_get(&mut con, "timeout"), "0");

    // A file that no longer loads changes nothing, and the server goes on.
    std::fs::write(server.config_path(), "[server]\nmaxclients = 0\n").unwrap();
    server.signal(libc::SIGHUP);
    common::wait_until("the reload error", IO_TIMEOUT, || {
        server
            .stderr()
            .contains("cannot reload the configuration file")
    });
    assert_eq!(config_get(&mut con, "maxclients"), "50");
}

fn exit_code(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = run_respite(dir, args, &[]);
    (out.status.code(), output_text(&out))
}

#[test]
fn exit_codes_say_why_start_up_failed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // 2: an invalid configuration.
    std::fs::write(d.join("bad.toml"), "[server]\nmaxclients = 0\n").unwrap();
    let (code, text) = exit_code(d, &["--config", "bad.toml", "--db", ":memory:"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("server.maxclients"), "{text}");

    // 3: the port is taken.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    std::fs::write(d.join("empty.toml"), "").unwrap();
    let (code, text) = exit_code(
        d,
        &[
            "--config",
            "empty.toml",
            "--db",
            ":memory:",
            "--bind",
            "127.0.0.1",
            "--port",
            &port,
        ],
    );
    assert_eq!(code, Some(3), "{text}");
    assert!(text.contains("cannot listen"), "{text}");

    // 4: the store cannot be opened (a directory where the file should be).
    std::fs::create_dir(d.join("is-a-dir")).unwrap();
    let (code, text) = exit_code(
        d,
        &["--config", "empty.toml", "--db", "is-a-dir", "--port", "0"],
    );
    assert_eq!(code, Some(4), "{text}");

    // 6: a Lua file that does not load.
    std::fs::write(
        d.join("lua.toml"),
        "[scripting]\ncommands = [\"missing.lua\"]\n",
    )
    .unwrap();
    let (code, text) = exit_code(
        d,
        &["--config", "lua.toml", "--db", ":memory:", "--port", "0"],
    );
    assert_eq!(code, Some(6), "{text}");

    // 2: [commands] naming a command that does not exist.
    std::fs::write(
        d.join("cmds.toml"),
        "[commands]\nrename = { NOSUCHCMD = \"other\" }\n",
    )
    .unwrap();
    let (code, text) = exit_code(
        d,
        &["--config", "cmds.toml", "--db", ":memory:", "--port", "0"],
    );
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("nosuchcmd"), "{text}");
}

#[test]
fn the_systemd_unit_waits_for_readiness() {
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/respite.service"),
    )
    .expect("config/respite.service");
    for line in [
        "Type=notify",
        "ExecStart=",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(unit.contains(line), "the unit should have {line:?}");
    }
}

#[test]
fn json_logs_are_one_object_a_line() {
    let mut server = Server::builder()
        .config("[log]\nformat = \"json\"\n")
        .start();
    let _: () = redis::cmd("PING").query(&mut server.conn()).unwrap();
    assert!(server.stop().success());
    let log = server.stderr();
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for line in &lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            v.get("level").is_some() && v.get("fields").is_some(),
            "{line}"
        );
    }
    assert!(log.contains("Ready to accept connections"), "{log}");
    // An unknown format is refused with the key named.
    let dir = tempfile::tempdir().unwrap();
    let (code, text) = exit_code(
        dir.path(),
        &["--config", &{
            let path = dir.path().join("bad.toml");
            std::fs::write(&path, "[log]\nformat = \"xml\"\n").unwrap();
            path.to_str().unwrap().to_string()
        }],
    );
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("log.format"), "{text}");
}
