//! The optional Prometheus endpoint: `GET /metrics` serves the INFO figures as Prometheus text.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use common::{Reply, Server};

fn metrics_addr(server: &Server) -> SocketAddr {
    let log = server.stderr();
    let start = log
        .find("Metrics available on http://")
        .unwrap_or_else(|| panic!("no metrics line in the log:\n{log}"));
    let rest = &log[start + "Metrics available on http://".len()..];
    let end = rest.find("/metrics").expect("a /metrics path");
    rest[..end].parse().expect("an IP:PORT address")
}

/// Sends one HTTP request and returns the whole response.
fn http(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(common::IO_TIMEOUT)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn metrics_endpoint_serves_info_figures() {
    let server = Server::builder()
        .config("[metrics]\nlisten = \"127.0.0.1:0\"\n")
        .start();
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["SET", "k", "v"]), Reply::ok());
    assert_eq!(conn.cmd(&["SET", "k2", "v"]), Reply::ok());
    let addr = metrics_addr(&server);

    let response = http(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(
        response.contains("Content-Type: text/plain; version=0.0.4"),
        "{response}"
    );
    assert!(
        response.contains("\nrespite_connected_clients 1\n"),
        "{response}"
    );
    assert!(
        response.contains("\nrespite_command_calls_total{cmd=\"set\"} 2\n"),
        "{response}"
    );
    assert!(
        response.contains("\nrespite_db_keys{db=\"0\"} 2\n"),
        "{response}"
    );

    let response = http(addr, "GET / HTTP/1.1\r\n\r\n");
    assert!(
        response.starts_with("HTTP/1.1 404 Not Found\r\n"),
        "{response}"
    );
    let response = http(addr, "POST /metrics HTTP/1.1\r\n\r\n");
    assert!(response.starts_with("HTTP/1.1 405"), "{response}");
    // The Redis port is unaffected.
    assert_eq!(conn.cmd(&["GET", "k"]), Reply::bulk("v"));
}

#[test]
fn metrics_endpoint_is_off_by_default() {
    let server = Server::start();
    assert!(!server.stderr().contains("Metrics available"));
    let mut conn = server.raw();
    assert_eq!(
        conn.cmd(&["CONFIG", "GET", "metrics-listen"]),
        Reply::Array(vec![Reply::bulk("metrics-listen"), Reply::bulk("")])
    );
}

#[test]
fn a_bad_metrics_address_is_refused_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "[metrics]\nlisten = \"nowhere\"\n").unwrap();
    let out = common::run_respite(
        dir.path(),
        &["--check-config", "--config", file.to_str().unwrap()],
        &[],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("metrics.listen"), "{stderr}");
}
