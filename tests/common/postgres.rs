//! A real PostgreSQL for the writebehind plugin's tests: a fresh cluster made with `initdb`
//! in a temporary directory, the server started on a free loopback port and stopped by its
//! pid. As root, both run as the `postgres` user (PostgreSQL refuses root). Statements run
//! through `psql`. Missing binaries: under CI (`CI=true`) the test fails; elsewhere it is
//! skipped with a message.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// A running PostgreSQL server with its own cluster.
pub struct Postgres {
    child: Option<Child>,
    port: u16,
    bin: PathBuf,
    /// Holds the data directory and the socket directory.
    _dir: TempDir,
}

/// The directory holding initdb, postgres and psql: `PG_BIN`, then Debian's
/// `/usr/lib/postgresql/<version>/bin` (newest first), then `PATH`.
fn bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists() && p.join("postgres").exists())
        .collect();
    versions.sort();
    if let Some(dir) = versions.pop() {
        return Some(dir);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find(|p| p.join("initdb").exists() && p.join("postgres").exists())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// The `postgres` user's uid and gid when we are root (PostgreSQL will not run as root).
fn run_as() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .expect("run id");
        assert!(
            out.status.success(),
            "running as root needs a 'postgres' user to run PostgreSQL"
        );
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("numeric id")
    };
    Some((id("-u"), id("-g")))
}

/// `bin/name`, run as `user`, from `dir` (the `postgres` user may not be able to read the
/// test's own working directory).
fn command(bin: &Path, name: &str, user: Option<(u32, u32)>, dir: &Path) -> Command {
    let mut cmd = Command::new(bin.join(name));
    cmd.current_dir(dir);
    if let Some((uid, gid)) = user {
        cmd.uid(uid).gid(gid);
    }
    cmd.env_remove("PGDATA").env("LC_ALL", "C");
    cmd
}

impl Postgres {
    /// Starts one, or returns `None` (after saying why) when PostgreSQL is not installed and
    /// this is not CI.
    pub fn start() -> Option<Postgres> {
        let Some(bin) = bin_dir() else {
            let msg = "PostgreSQL (initdb, postgres, psql) is not installed (apt-get install \
                       postgresql, or run .ci/run)";
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{msg}");
            }
            eprintln!("skipping: {msg}");
            return None;
        };
        let user = run_as();
        let dir = tempfile::Builder::new()
            .prefix("respite-pg-")
            .tempdir()
            .expect("temp dir");
        let data = dir.path().join("data");
        let sock = dir.path().join("sock");
        std::fs::create_dir(&data).expect("data dir");
        std::fs::create_dir(&sock).expect("socket dir");
        if let Some((uid, gid)) = user {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
            for p in [&data, &sock] {
                std::os::unix::fs::chown(p, Some(uid), Some(gid)).expect("chown");
            }
        }
        let out = command(&bin, "initdb", user, dir.path())
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .stdin(Stdio::null())
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Some(Self::serve(bin, dir, &data, &sock, user))
    }

    /// Starts the server on a free port (another one when the port was taken between
    /// choosing and binding it).
    fn serve(
        bin: PathBuf,
        dir: TempDir,
        data: &Path,
        sock: &Path,
        user: Option<(u32, u32)>,
    ) -> Postgres {
        for _ in 0..20 {
            let port = free_port();
            let mut child = command(&bin, "postgres", user, dir.path())
                .arg("-D")
                .arg(data)
                .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-k"])
                .arg(sock)
                .args(["-c", "fsync=off", "-c", "max_connections=50"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start postgres");
            if wait_ready(&bin, port, &mut child) {
                return Postgres {
                    child: Some(child),
                    port,
                    bin,
                    _dir: dir,
                };
            }
            stop_child(child);
        }
        panic!("postgres did not start");
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Runs `sql` with psql; its rows, one a line, columns separated by `|`.
    pub fn query(&self, sql: &str) -> String {
        try_query(&self.bin, self.port, sql).unwrap_or_else(|e| panic!("psql {sql:?} failed: {e}"))
    }

    /// Stops the server (see [`stop_child`]); the cluster goes with the temporary directory.
    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            stop_child(child);
        }
    }
}

/// Stops a postmaster by its pid: SIGQUIT (immediate shutdown: it ends its backends and
/// exits), SIGKILL if it is still there after a while.
fn stop_child(mut child: Child) {
    // SAFETY: kill(2) on our own unreaped child's pid.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGQUIT) };
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Waits until psql can run a query on `port`; false if the server exited first.
fn wait_ready(bin: &Path, port: u16, child: &mut Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if try_query(bin, port, "SELECT 1").is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn try_query(bin: &Path, port: u16, sql: &str) -> Result<String, String> {
    let out = Command::new(bin.join("psql"))
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-U", "postgres", "-d", "postgres", "-X", "-q", "-A", "-t"])
        .args(["-v", "ON_ERROR_STOP=1", "-F", "|", "-c", sql])
        .env("PGCONNECT_TIMEOUT", "5")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}
