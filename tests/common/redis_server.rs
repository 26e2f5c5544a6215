//! A real redis-server 7 for differential tests: started on an ephemeral loopback port with no
//! persistence, in a temporary directory, and stopped by its pid when dropped. A test that
//! needs it fails loudly when redis-server (or `REDIS_SERVER_BIN`) is missing.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use redis::{Connection, Value};

use super::{RawConn, Server};

/// A running redis-server.
pub struct RedisServer {
    child: Child,
    port: u16,
    _dir: TempDir,
}

fn binary() -> PathBuf {
    std::env::var_os("REDIS_SERVER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("redis-server"))
}

impl RedisServer {
    /// Starts redis-server and waits until it answers PING; a port taken between choosing
    /// it and binding it is retried with another.
    pub fn start() -> RedisServer {
        RedisServer::start_with(&[])
    }

    /// [`Self::start`] with extra command-line arguments (`--rename-command`, ...).
    pub fn start_with(extra: &[&str]) -> RedisServer {
        let bin = binary();
        for _ in 0..20 {
            let dir = tempfile::tempdir().expect("temp dir");
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port();
            let child = Command::new(&bin)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .arg("--dir")
                .arg(dir.path())
                .args(extra)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot start {} ({e}): these tests compare replies with redis-server \
                         7.0.15; install it (apt-get install redis-server, or run .ci/run)",
                        bin.display()
                    )
                });
            let mut server = RedisServer {
                child,
                port,
                _dir: dir,
            };
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = server.child.try_wait() {
                    break; // the port was taken meanwhile: try another
                }
                if let Ok(mut c) = server.client().get_connection() {
                    if redis::cmd("PING").query::<String>(&mut c).is_ok() {
                        return server;
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            // Dropping stops it (if it runs) before the next try.
            let _ = server.child.kill();
        }
        panic!("redis-server did not start");
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        ([127, 0, 0, 1], self.port).into()
    }

    /// A client for it.
    pub fn client(&self) -> redis::Client {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port)).expect("client")
    }

    /// A connection to it.
    pub fn conn(&self) -> redis::Connection {
        self.client()
            .get_connection()
            .expect("connect to redis-server")
    }

    /// A raw RESP connection to it.
    pub fn raw(&self) -> RawConn {
        RawConn::connect(self.addr())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

/// A command's reply as text (errors with their code), for comparing two servers.
fn run(con: &mut Connection, args: &[Vec<u8>]) -> String {
    let mut c = redis::cmd(&String::from_utf8_lossy(&args[0]));
    for a in &args[1..] {
        c.arg(&a[..]);
    }
    match c.query::<Value>(con) {
        Ok(v) => format!("{v:?}"),
        Err(e) => format!("error: {:?} {:?}", e.code(), e.detail()),
    }
}

/// A connection to Respite and one to redis-server, for differential tests.
pub struct Pair {
    /// To Respite.
    pub respite: Connection,
    /// To redis-server.
    pub redis: Connection,
}

impl Pair {
    /// Runs `args` on both and asserts the replies are equal; returns Respite's.
    pub fn same(&mut self, args: &[&str]) -> String {
        let args: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
        self.same_bytes(&args)
    }

    /// [`Self::same`] with binary arguments.
    pub fn same_bytes(&mut self, args: &[Vec<u8>]) -> String {
        let ours = run(&mut self.respite, args);
        let theirs = run(&mut self.redis, args);
        let shown: Vec<_> = args.iter().map(|a| String::from_utf8_lossy(a)).collect();
        assert_eq!(ours, theirs, "{shown:?}: respite vs redis-server");
        ours
    }
}

/// A fresh Respite and a fresh redis-server, and a [`Pair`] of connections to them.
pub fn pair() -> (Server, RedisServer, Pair) {
    let respite = Server::start();
    let redis = RedisServer::start();
    let p = Pair {
        respite: respite.conn(),
        redis: redis.conn(),
    };
    (respite, redis, p)
}
