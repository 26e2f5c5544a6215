//! A real nats-server for the sync plugin's tests: started on free loopback ports (client
//! and monitoring), stopped by its pid, restartable on the same ports. Missing binary: under
//! CI (`CI=true`) the test fails; elsewhere it is skipped with a message.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running (or stopped, between [`NatsServer::stop`] and [`NatsServer::start_again`])
/// nats-server.
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    monitor: u16,
}

fn binary() -> PathBuf {
    std::env::var_os("NATS_SERVER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("nats-server"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// `GET path` on the monitoring port; the body, or `None` if nothing answers.
pub fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.").then(|| body.to_string())
}

impl NatsServer {
    /// Starts one, or returns `None` (after saying why) when nats-server is not installed
    /// and this is not CI.
    pub fn start() -> Option<NatsServer> {
        let installed = Command::new(binary())
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if !installed {
            let msg = format!(
                "{} is not installed (apt-get install nats-server, or run .ci/run)",
                binary().display()
            );
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{msg}");
            }
            eprintln!("skipping: {msg}");
            return None;
        }
        for _ in 0..20 {
            let mut s = NatsServer {
                child: None,
                port: free_port(),
                monitor: free_port(),
            };
            if s.spawn() {
                return Some(s);
            }
        }
        panic!("nats-server did not start");
    }

    /// Starts the process on this server's ports; false if it exited (a port was taken).
    fn spawn(&mut self) -> bool {
        let child = Command::new(binary())
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-m", &self.monitor.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(Ok(Some(_))) = self.child.as_mut().map(|c| c.try_wait()) {
                self.child = None;
                return false;
            }
            if http_get(self.monitor, "/healthz").is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop();
        false
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The monitoring port.
    pub fn monitor_port(&self) -> u16 {
        self.monitor
    }

    /// Kills the process (SIGKILL: connections drop at once, nothing is flushed).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same ports (the clients reconnect to the same URL).
    pub fn start_again(&mut self) {
        for _ in 0..50 {
            if self.spawn() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("nats-server did not start again on port {}", self.port);
    }

    /// The subscriptions of the client connection whose name contains `name` (the sync
    /// plugin names its connection `respite-sync <instance id>`), from `/connz?subs=1`.
    pub fn subscriptions_of(&self, name: &str) -> Option<Vec<String>> {
        let body = http_get(self.monitor, "/connz?subs=1")?;
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        let conns = v.get("connections")?.as_array()?;
        let conn = conns.iter().find(|c| {
            c.get("name")
                .and_then(|n| n.as_str())
                .is_some_and(|n| n.contains(name))
        })?;
        Some(
            conn.get("subscriptions_list")
                .and_then(|l| l.as_array())
                .map(|l| {
                    l.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        )
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}
