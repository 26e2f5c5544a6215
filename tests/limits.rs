//! Connection limits: maxclients and the idle timeout.

mod common;

use common::{Reply, Server, IO_TIMEOUT};

/// Opens a connection and returns it when the server accepted it, or the bytes it sent
/// before closing when it refused it.
fn try_client(server: &Server) -> Result<common::RawConn, String> {
    let mut conn = server.raw();
    conn.send_cmd(&["PING"]);
    match conn.try_read_reply() {
        Ok(Some(Reply::Simple(s))) if s == "PONG" => Ok(conn),
        Ok(Some(other)) => {
            let rest = conn.read_to_close();
            Err(format!("{other:?}{}", String::from_utf8_lossy(&rest)))
        }
        Ok(None) => Err("closed".into()),
        Err(e) => Err(e.to_string()),
    }
}

#[test]
fn maxclients_refuses_the_extra_client() {
    let server = Server::builder()
        .env("RESPITE_SERVER__MAXCLIENTS", "3")
        .start();
    let mut held: Vec<_> = (0..3)
        .map(|i| try_client(&server).unwrap_or_else(|e| panic!("client {i} refused: {e}")))
        .collect();

    let mut extra = server.raw();
    // The error comes unasked, then the connection closes.
    let rest = extra.read_to_close();
    assert_eq!(
        String::from_utf8_lossy(&rest),
        "-ERR max number of clients reached\r\n"
    );

    // The others are unaffected.
    for conn in &mut held {
        assert_eq!(conn.cmd(&["PING"]), Reply::simple("PONG"));
    }

    // A slot frees up when a client leaves (noticed asynchronously: poll).
    drop(held.pop());
    common::wait_until("a freed client slot", IO_TIMEOUT, || {
        match try_client(&server) {
            Ok(conn) => {
                held.push(conn);
                true
            }
            Err(_) => false,
        }
    });
    assert_eq!(held.len(), 3);
}

#[test]
fn maxclients_can_be_lowered_at_run_time() {
    let server = Server::start();
    let mut admin = server.raw();
    assert_eq!(
        admin.cmd(&["CONFIG", "SET", "maxclients", "2"]),
        Reply::ok()
    );
    let mut second = try_client(&server).expect("the second client fits");
    let mut third = server.raw();
    assert_eq!(
        String::from_utf8_lossy(&third.read_to_close()),
        "-ERR max number of clients reached\r\n"
    );
    assert_eq!(second.cmd(&["PING"]), Reply::simple("PONG"));
    assert_eq!(
        admin.cmd(&["CONFIG", "SET", "maxclients", "10"]),
        Reply::ok()
    );
    try_client(&server).expect("room again after raising maxclients");
}

#[test]
fn idle_clients_are_closed_after_the_timeout() {
    let server = Server::builder()
        .env("RESPITE_SERVER__TIMEOUT", "1")
        .start();
    let mut idle = server.raw();
    assert_eq!(idle.cmd(&["PING"]), Reply::simple("PONG"));
    // Blocks until the server closes the idle connection (IO_TIMEOUT is the safety net).
    idle.expect_closed();

    // The server still takes new clients.
    let mut fresh = server.raw();
    assert_eq!(fresh.cmd(&["PING"]), Reply::simple("PONG"));
}

#[test]
fn timeout_can_be_set_at_run_time() {
    let server = Server::start();
    let mut admin = server.raw();
    assert_eq!(admin.cmd(&["CONFIG", "SET", "timeout", "1"]), Reply::ok());
    let mut idle = server.raw();
    assert_eq!(idle.cmd(&["PING"]), Reply::simple("PONG"));
    idle.expect_closed();
}
