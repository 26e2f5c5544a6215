//! A real redis-server 7.0.15 for tests that compare Respite's replies with Redis's: started
//! on an ephemeral loopback port with no persistence, in a temporary directory, and stopped
//! (by its own pid) when dropped. A missing redis-server fails the test loudly.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// A running redis-server.
pub struct RealRedis {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl RealRedis {
    /// Starts redis-server (`REDIS_SERVER` may name another binary) and waits for PING.
    pub fn start() -> RealRedis {
        let bin = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let dir = tempfile::tempdir().expect("temp dir");
        for _ in 0..20 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port();
            let child = Command::new(&bin)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("redis-server ({bin}) must be installed: {e}"));
            let mut server = RealRedis {
                child,
                port,
                _dir: tempfile::tempdir().expect("temp dir"),
            };
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = server.child.try_wait() {
                    break; // the port was taken meanwhile: try another
                }
                if let Ok(mut c) = server.client().get_connection() {
                    if redis::cmd("PING").query::<String>(&mut c).is_ok() {
                        server._dir = dir;
                        return server;
                    }
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("redis-server did not start");
    }

    /// A client for it.
    pub fn client(&self) -> redis::Client {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port)).expect("client")
    }

    /// A connection to it.
    pub fn conn(&self) -> redis::Connection {
        self.client()
            .get_connection()
            .expect("connection to redis-server")
    }
}

impl Drop for RealRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
