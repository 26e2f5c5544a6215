//! The embedding API (`respite_core::server::embed`): a server started in-process on a port
//! the system picks, reached by a real client, shut down cleanly with its data kept.

use respite_core::server::embed::Builder;
use respite_core::server::ServerError;

fn get(url: &str, key: &str) -> Option<String> {
    let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
    redis::cmd("GET").arg(key).query(&mut con).unwrap()
}

#[test]
fn an_embedded_server_serves_clients_and_keeps_its_data_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("embedded.db");
    let server = Builder::new().port(0).db(&db).start().unwrap();
    assert_ne!(server.addr().port(), 0);
    let url = format!("redis://{}/", server.addr());
    let mut con = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut con).unwrap();
    drop(con);
    server.shutdown().unwrap();
    // The same file again: the write is there.
    let again = Builder::new().db(&db).start().unwrap();
    assert_eq!(
        get(&format!("redis://{}/", again.addr()), "k").as_deref(),
        Some("v")
    );
    drop(again); // dropping the handle shuts down too
}

#[test]
fn two_embedded_servers_run_side_by_side_in_memory() {
    let a = Builder::new().start().unwrap();
    let b = Builder::new().start().unwrap();
    assert_ne!(a.addr(), b.addr());
    let (ua, ub) = (
        format!("redis://{}/", a.addr()),
        format!("redis://{}/", b.addr()),
    );
    let mut con = redis::Client::open(ua.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg("only")
        .arg("a")
        .query(&mut con)
        .unwrap();
    assert_eq!(get(&ua, "only").as_deref(), Some("a"));
    assert_eq!(get(&ub, "only"), None);
}

#[test]
fn start_up_failures_are_errors_not_panics() {
    let a = Builder::new().start().unwrap();
    // The port is taken.
    match Builder::new().port(a.addr().port()).start() {
        Err(ServerError::Listen { .. }) => {}
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("started on a port in use"),
    }
    // An invalid configuration names the setting.
    let err = Builder::new()
        .configure(|c| c.server.databases = 0)
        .start()
        .err()
        .expect("refused");
    assert!(err.to_string().contains("server.databases"), "{err}");
}
