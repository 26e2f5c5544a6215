//! Test harness for the black-box tests: runs the real `respite` binary on an ephemeral
//! loopback port with its files in a temporary directory, and talks to it with the `redis`
//! crate or with raw bytes over TCP.
//!
//! Every test binary compiles this module and uses a different subset of it.
#![allow(dead_code)]

pub mod lua_files;
pub mod nats_server;
pub mod plugin_libs;
pub mod postgres;
pub mod redis_server;
pub mod rng;

use std::ffi::OsString;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long a server may take to print its Ready line. A safety net only: a healthy server
/// is ready in milliseconds, but a loaded CI machine may be slow.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a read or write on a test connection may block before the test fails instead
/// of hanging. A safety net only.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a server may take to exit after SIGTERM or SHUTDOWN. A safety net only.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

const READY_MARKER: &str = "Ready to accept connections on ";

/// The binary under test. `RESPITE_TEST_BIN` may point at another build of it.
pub fn respite_bin() -> PathBuf {
    match std::env::var_os("RESPITE_TEST_BIN") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_respite")),
    }
}

/// A `Command` for the binary with a clean environment for configuration: inherited
/// `RESPITE_*` variables are removed so that the developer's shell cannot change a test.
pub fn respite_command() -> Command {
    let mut cmd = Command::new(respite_bin());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("RESPITE_") {
            cmd.env_remove(&key);
        }
    }
    cmd.env_remove("RUST_LOG");
    cmd
}

/// Runs the binary to completion (for `--check-config` and start-up failures), with `dir`
/// as its working directory so that no repository file is picked up implicitly.
pub fn run_respite(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = respite_command();
    cmd.current_dir(dir).args(args).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", respite_bin().display()));
    wait_output_with_timeout(child, START_TIMEOUT)
}

fn wait_output_with_timeout(child: Child, timeout: Duration) -> Output {
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    let watchdog = thread::spawn(move || {
        if rx.recv_timeout(timeout).is_err() {
            // SAFETY: kill(2) on the pid of our own child, which has not been reaped yet
            // because wait_with_output has not returned.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGKILL);
            }
        }
    });
    let out = child.wait_with_output().expect("wait for respite");
    let _ = tx.send(());
    let _ = watchdog.join();
    out
}

/// Joins stdout and stderr of a finished process, for assertions on messages.
pub fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[derive(Clone, Debug)]
enum Db {
    /// `<tempdir>/respite.db`.
    Temp,
    /// `:memory:`.
    Memory,
    /// Exactly this path.
    Path(PathBuf),
    /// No `--db` flag at all.
    Unset,
}

/// Builds a server: extra flags, environment, config file text, db location.
#[derive(Clone, Debug)]
pub struct ServerBuilder {
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    config: Option<String>,
    pass_config_flag: bool,
    db: Db,
    port: u16,
    bind: String,
    /// RLIMIT_FSIZE of the process, SIGXFSZ ignored: a write past it fails (EFBIG) as one
    /// past a full disk does (ENOSPC).
    file_size_limit: Option<u64>,
}

impl Default for ServerBuilder {
    fn default() -> Self {
        ServerBuilder {
            port: 0,
            bind: "127.0.0.1".into(),
            args: Vec::new(),
            env: Vec::new(),
            config: None,
            pass_config_flag: true,
            db: Db::Temp,
            file_size_limit: None,
        }
    }
}

impl ServerBuilder {
    /// An extra command-line argument, after the harness's own.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Extra command-line arguments, after the harness's own.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// An environment variable for the server process, e.g. `RESPITE_SERVER__TIMEOUT`.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Text of the config file (`<tempdir>/respite.toml`); empty when not given.
    pub fn config(mut self, text: impl Into<String>) -> Self {
        self.config = Some(text.into());
        self
    }

    /// Starts without `--config` (and with the temp dir as working directory, so that no
    /// config file is found at all).
    pub fn without_config_file(mut self) -> Self {
        self.pass_config_flag = false;
        self
    }

    /// Uses `--db :memory:`.
    pub fn memory(mut self) -> Self {
        self.db = Db::Memory;
        self
    }

    /// Uses this db path instead of the one in the temp dir.
    pub fn db_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.db = Db::Path(path.into());
        self
    }

    /// Uses this `--bind` instead of 127.0.0.1; the harness talks to the first address.
    pub fn bind(mut self, bind: impl Into<String>) -> Self {
        self.bind = bind.into();
        self
    }

    /// Uses this `--port` instead of 0 (ephemeral).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Passes no `--db` flag (the config file or environment decides).
    pub fn no_db_flag(mut self) -> Self {
        self.db = Db::Unset;
        self
    }

    /// Limits the size of every file the server writes to `bytes` (RLIMIT_FSIZE, with
    /// SIGXFSZ ignored): writes past it fail as writes to a full disk do. See
    /// [`Server::lift_file_size_limit`].
    pub fn file_size_limit(mut self, bytes: u64) -> Self {
        self.file_size_limit = Some(bytes);
        self
    }

    /// Starts the server and waits for its Ready line; panics with its stderr on failure.
    pub fn start(self) -> Server {
        match self.try_start() {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        }
    }

    /// Starts the server; on failure returns a message with the captured stderr.
    pub fn try_start(self) -> Result<Server, String> {
        let dir = tempfile::Builder::new()
            .prefix("respite-test-")
            .tempdir()
            .map_err(|e| format!("cannot create temp dir: {e}"))?;
        if self.pass_config_flag {
            std::fs::write(
                dir.path().join("respite.toml"),
                self.config.as_deref().unwrap_or(""),
            )
            .map_err(|e| format!("cannot write config file: {e}"))?;
        }
        let running = spawn(&self, dir.path())?;
        Ok(Server {
            dir,
            spec: self,
            running: Some(running),
            last_log: None,
        })
    }
}

struct Running {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
    reader: Option<JoinHandle<()>>,
}

fn spawn(spec: &ServerBuilder, dir: &Path) -> Result<Running, String> {
    let mut cmd = respite_command();
    cmd.current_dir(dir)
        .arg("--port")
        .arg(spec.port.to_string())
        .arg("--bind")
        .arg(&spec.bind);
    match &spec.db {
        Db::Temp => {
            cmd.arg("--db").arg(dir.join("respite.db"));
        }
        Db::Memory => {
            cmd.arg("--db").arg(":memory:");
        }
        Db::Path(p) => {
            cmd.arg("--db").arg(p);
        }
        Db::Unset => {}
    }
    if spec.pass_config_flag {
        cmd.arg("--config").arg(dir.join("respite.toml"));
    }
    cmd.args(&spec.args);
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(bytes) = spec.file_size_limit {
        use std::os::unix::process::CommandExt;
        // SAFETY: between fork and exec the closure only makes two async-signal-safe calls.
        unsafe {
            cmd.pre_exec(move || {
                let limit = libc::rlimit {
                    rlim_cur: bytes,
                    rlim_max: libc::RLIM_INFINITY,
                };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // An ignored signal stays ignored across exec.
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                Ok(())
            });
        }
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot spawn {}: {e}", respite_bin().display()))?;

    let stderr = child.stderr.take().expect("piped stderr");
    let log = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = mpsc::channel::<SocketAddr>();
    let reader = {
        let log = Arc::clone(&log);
        thread::spawn(move || drain_stderr(stderr, log, tx))
    };

    let deadline = Instant::now() + START_TIMEOUT;
    let addr = loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(addr) => break addr,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Ok(Some(status)) = child.try_wait() {
                    // Let the reader collect the last lines before reporting.
                    let _ = reader.join();
                    return Err(format!(
                        "respite exited with {status} before it was ready; stderr:\n{}",
                        log.lock().unwrap()
                    ));
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    let _ = reader.join();
                    return Err(format!(
                        "respite printed no '{READY_MARKER}<ip>:<port>' line within {:?}; stderr:\n{}",
                        START_TIMEOUT,
                        log.lock().unwrap()
                    ));
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // stderr closed without a Ready line: the process is exiting.
                let status = wait_timeout(&mut child, EXIT_TIMEOUT);
                let _ = reader.join();
                let status = match status {
                    Some(s) => s.to_string(),
                    None => "no exit status yet".to_string(),
                };
                return Err(format!(
                    "respite exited ({status}) before it was ready (it closed stderr); \
                     stderr:\n{}",
                    log.lock().unwrap()
                ));
            }
        }
    };
    Ok(Running {
        child,
        addr,
        log,
        reader: Some(reader),
    })
}

fn drain_stderr(stderr: impl Read, log: Arc<Mutex<String>>, tx: mpsc::Sender<SocketAddr>) {
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    let mut sent = false;
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line);
        log.lock().unwrap().push_str(&text);
        if !sent {
            if let Some(addr) = parse_ready_line(&text) {
                sent = tx.send(addr).is_ok();
            }
        }
    }
}

/// Finds `Ready to accept connections on <ip>:<port>` in a log line.
pub fn parse_ready_line(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find(READY_MARKER)? + READY_MARKER.len()..];
    let token = rest
        .split(|c: char| c.is_whitespace() || c == '"' || c == ',')
        .find(|t| !t.is_empty())?;
    token.trim_end_matches(['.', ';', ')']).parse().ok()
}

fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            _ => return None,
        }
    }
}

/// A running `respite` process. Dropping it kills the process.
pub struct Server {
    dir: TempDir,
    spec: ServerBuilder,
    running: Option<Running>,
    /// stderr of the previous process, once it has exited.
    last_log: Option<String>,
}

impl Server {
    /// A server with default settings: empty config file, db in a temp dir.
    pub fn start() -> Server {
        ServerBuilder::default().start()
    }

    /// A server whose only setting is `server.io_threads`: 1 runs the executor on the I/O
    /// thread, more gives it a thread of its own. Tests of both paths use this.
    pub fn with_io_threads(threads: u32) -> Server {
        ServerBuilder::default()
            .config(format!("[server]\nio_threads = {threads}\n"))
            .start()
    }

    /// A builder for a server with extra arguments, environment or config.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    fn running(&self) -> &Running {
        self.running.as_ref().expect("server is not running")
    }

    /// The listening address (loopback, ephemeral port).
    pub fn addr(&self) -> SocketAddr {
        self.running().addr
    }

    pub fn port(&self) -> u16 {
        self.addr().port()
    }

    pub fn pid(&self) -> u32 {
        self.running().child.id()
    }

    /// The temp dir holding the config file and the db.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `<tempdir>/respite.toml`: the file passed with `--config`.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("respite.toml")
    }

    /// `<tempdir>/respite.db`: the default db file.
    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("respite.db")
    }

    /// Everything the server has written to stderr so far (or, once it has exited, what
    /// the last process wrote).
    pub fn stderr(&self) -> String {
        match &self.running {
            Some(r) => r.log.lock().unwrap().clone(),
            None => self.last_log.clone().unwrap_or_default(),
        }
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://{}/", self.addr())
    }

    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).expect("client")
    }

    /// A client that authenticates with this password (requirepass).
    pub fn client_with_password(&self, password: &str) -> redis::Client {
        redis::Client::open(format!("redis://:{password}@{}/", self.addr())).expect("client")
    }

    /// A synchronous connection with safety-net timeouts.
    pub fn conn(&self) -> redis::Connection {
        connect_sync(&self.client(), &self.stderr())
    }

    /// A synchronous connection authenticated with `password`.
    pub fn conn_with_password(&self, password: &str) -> redis::Connection {
        connect_sync(&self.client_with_password(password), &self.stderr())
    }

    /// An async multiplexed connection with safety-net timeouts.
    pub async fn async_conn(&self) -> redis::aio::MultiplexedConnection {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(IO_TIMEOUT)
            .set_response_timeout(IO_TIMEOUT);
        self.client()
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .unwrap_or_else(|e| panic!("async connect: {e}; stderr:\n{}", self.stderr()))
    }

    /// A raw TCP connection for protocol-level tests.
    pub fn raw(&self) -> RawConn {
        RawConn::connect(self.addr())
    }

    /// Sends a signal to the server process.
    pub fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on the pid of our own child, which is still unreaped (we hold it).
        let rc = unsafe { libc::kill(self.pid() as libc::pid_t, sig) };
        assert_eq!(rc, 0, "kill({}, {sig}) failed", self.pid());
    }

    /// Waits for the process to exit by itself (after SHUTDOWN or a signal) and returns its
    /// status; panics with the stderr when it does not exit within EXIT_TIMEOUT.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let mut running = self.running.take().expect("server is not running");
        let status = wait_timeout(&mut running.child, EXIT_TIMEOUT);
        if let Some(reader) = running.reader.take() {
            if status.is_some() {
                let _ = reader.join();
            }
        }
        let log = running.log.lock().unwrap().clone();
        match status {
            Some(status) => {
                self.last_log = Some(log);
                status
            }
            None => {
                let _ = running.child.kill();
                let _ = running.child.wait();
                panic!("respite did not exit within {EXIT_TIMEOUT:?}; stderr:\n{log}");
            }
        }
    }

    /// Stops the server gracefully with SIGTERM; returns its exit status.
    pub fn stop(&mut self) -> ExitStatus {
        self.signal(libc::SIGTERM);
        self.wait_exit()
    }

    /// Stops the server with SIGKILL (no chance to clean up), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut running) = self.running.take() {
            let _ = running.child.kill();
            let _ = running.child.wait();
            if let Some(reader) = running.reader.take() {
                let _ = reader.join();
            }
            self.last_log = Some(running.log.lock().unwrap().clone());
        }
    }

    /// Starts the process again with the same temp dir, config file and db (it must have
    /// been stopped, or it is stopped gracefully first). The port changes.
    pub fn restart(&mut self) {
        if self.running.is_some() {
            let status = self.stop();
            assert!(
                status.success(),
                "respite exited with {status} on SIGTERM before restart; stderr:\n{}",
                self.stderr()
            );
        }
        let running = spawn(&self.spec, self.dir.path()).unwrap_or_else(|e| panic!("{e}"));
        self.running = Some(running);
    }

    /// Lifts the running server's file size limit (space returns), and drops it from the
    /// restarts that follow.
    pub fn lift_file_size_limit(&mut self) {
        self.spec.file_size_limit = None;
        let unlimited = libc::rlimit {
            rlim_cur: libc::RLIM_INFINITY,
            rlim_max: libc::RLIM_INFINITY,
        };
        // SAFETY: prlimit reads the given limit and writes nothing (no old-limit pointer).
        let rc = unsafe {
            libc::prlimit(
                self.pid() as libc::pid_t,
                libc::RLIMIT_FSIZE,
                &unlimited,
                std::ptr::null_mut(),
            )
        };
        assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
    }

    /// Kills the process (SIGKILL) and starts it again on the same files.
    pub fn crash_restart(&mut self) {
        self.kill();
        self.restart();
    }

    /// Whether the process is still alive.
    pub fn is_running(&mut self) -> bool {
        match &mut self.running {
            Some(r) => matches!(r.child.try_wait(), Ok(None)),
            None => false,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn connect_sync(client: &redis::Client, stderr: &str) -> redis::Connection {
    let con = client
        .get_connection_with_timeout(IO_TIMEOUT)
        .unwrap_or_else(|e| panic!("connect: {e}; stderr:\n{stderr}"));
    con.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    con.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    con
}

/// `CODE message` of a server error reply as the redis crate reports it, so that tests
/// can compare it with Redis's exact text.
pub fn err_text(e: &redis::RedisError) -> String {
    match (e.code(), e.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        (Some(code), None) => code.to_string(),
        _ => e.to_string(),
    }
}

/// Runs a command that must fail and returns `CODE message`.
pub fn query_err(con: &mut redis::Connection, cmd: &redis::Cmd) -> String {
    match cmd.query::<redis::Value>(con) {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => err_text(&e),
    }
}

/// Builds a `redis::Cmd` from words: `cmd(&["SET", "k", "v"])`.
pub fn cmd(words: &[&str]) -> redis::Cmd {
    let mut c = redis::cmd(words[0]);
    for w in &words[1..] {
        c.arg(*w);
    }
    c
}

/// PING on a new connection, giving up on the reply after a moment: while a script runs,
/// a reply produced in the same executor batch is held until the script ends, so the poll
/// must not wait for it (a safety net, not a measurement).
pub fn ping_fresh(server: &Server) -> Reply {
    let mut c = server.raw();
    c.stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("read timeout");
    c.send_cmd(&["PING"]);
    match c.try_read_reply() {
        Ok(Some(r)) => r,
        _ => Reply::Null,
    }
}

/// Polls `check` until it returns true; panics with `what` after `timeout` (a safety net,
/// never a measurement).
pub fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------
// Raw protocol access.

/// A reply as it appears on the wire (RESP2 and RESP3).
#[derive(Clone, PartialEq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    /// `$-1`
    NilBulk,
    /// `*-1`
    NilArray,
    /// RESP3 `_`
    Null,
    Array(Vec<Reply>),
    Map(Vec<(Reply, Reply)>),
    Set(Vec<Reply>),
    Push(Vec<Reply>),
    Double(String),
    Bool(bool),
    BigNumber(String),
    Verbatim(String, Vec<u8>),
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Simple(s) => write!(f, "+{s}"),
            Reply::Error(s) => write!(f, "-{s}"),
            Reply::Int(i) => write!(f, ":{i}"),
            Reply::Bulk(b) => write!(f, "${:?}", String::from_utf8_lossy(b)),
            Reply::NilBulk => write!(f, "$-1"),
            Reply::NilArray => write!(f, "*-1"),
            Reply::Null => write!(f, "_"),
            Reply::Array(a) => f.debug_list().entries(a).finish(),
            Reply::Map(m) => f
                .debug_map()
                .entries(m.iter().map(|(k, v)| (k, v)))
                .finish(),
            Reply::Set(s) => write!(f, "~{s:?}"),
            Reply::Push(p) => write!(f, ">{p:?}"),
            Reply::Double(d) => write!(f, ",{d}"),
            Reply::Bool(b) => write!(f, "#{}", if *b { 't' } else { 'f' }),
            Reply::BigNumber(n) => write!(f, "({n}"),
            Reply::Verbatim(fmt_, b) => write!(f, "={fmt_}:{:?}", String::from_utf8_lossy(b)),
        }
    }
}

impl Reply {
    pub fn bulk(s: impl AsRef<[u8]>) -> Reply {
        Reply::Bulk(s.as_ref().to_vec())
    }

    pub fn simple(s: &str) -> Reply {
        Reply::Simple(s.to_string())
    }

    pub fn error(s: &str) -> Reply {
        Reply::Error(s.to_string())
    }

    pub fn ok() -> Reply {
        Reply::simple("OK")
    }

    /// The text of a simple string, bulk string or verbatim string.
    pub fn text(&self) -> String {
        match self {
            Reply::Simple(s) => s.clone(),
            Reply::Bulk(b) | Reply::Verbatim(_, b) => String::from_utf8_lossy(b).into_owned(),
            other => panic!("expected a string reply, got {other:?}"),
        }
    }

    pub fn int(&self) -> i64 {
        match self {
            Reply::Int(i) => *i,
            other => panic!("expected an integer reply, got {other:?}"),
        }
    }

    pub fn items(&self) -> &[Reply] {
        match self {
            Reply::Array(a) | Reply::Set(a) | Reply::Push(a) => a,
            other => panic!("expected an array reply, got {other:?}"),
        }
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// Looks up `key` in a RESP3 map or a RESP2 flat key/value array.
    pub fn field(&self, key: &str) -> Option<&Reply> {
        match self {
            Reply::Map(m) => m
                .iter()
                .find(|(k, _)| matches!(k, Reply::Simple(_) | Reply::Bulk(_)) && k.text() == key)
                .map(|(_, v)| v),
            Reply::Array(a) => a
                .chunks(2)
                .find(|kv| {
                    kv.len() == 2
                        && matches!(kv[0], Reply::Simple(_) | Reply::Bulk(_))
                        && kv[0].text() == key
                })
                .map(|kv| &kv[1]),
            other => panic!("expected a map reply, got {other:?}"),
        }
    }
}

/// Encodes a command as a RESP multibulk.
pub fn encode<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        let a = a.as_ref();
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Parses one reply from the start of `buf`: `Ok(None)` when more bytes are needed.
pub fn parse_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, String> {
    fn line(buf: &[u8], from: usize) -> Option<(&[u8], usize)> {
        let rel = buf[from..].windows(2).position(|w| w == b"\r\n")?;
        Some((&buf[from..from + rel], from + rel + 2))
    }
    fn num(bytes: &[u8]) -> Result<i64, String> {
        std::str::from_utf8(bytes)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad number {:?}", String::from_utf8_lossy(bytes)))
    }
    fn parse_at(buf: &[u8], pos: usize) -> Result<Option<(Reply, usize)>, String> {
        if pos >= buf.len() {
            return Ok(None);
        }
        let kind = buf[pos];
        let Some((head, next)) = line(buf, pos + 1) else {
            return Ok(None);
        };
        let text = || String::from_utf8_lossy(head).into_owned();
        let aggregate = |n: i64, per: usize| -> Result<Option<(Vec<Reply>, usize)>, String> {
            let mut items = Vec::new();
            let mut at = next;
            for _ in 0..(n as usize * per) {
                match parse_at(buf, at)? {
                    Some((r, end)) => {
                        items.push(r);
                        at = end;
                    }
                    None => return Ok(None),
                }
            }
            Ok(Some((items, at)))
        };
        let blob = |n: i64| -> Option<(Vec<u8>, usize)> {
            let n = n as usize;
            if buf.len() < next + n + 2 {
                return None;
            }
            Some((buf[next..next + n].to_vec(), next + n + 2))
        };
        Ok(match kind {
            b'+' => Some((Reply::Simple(text()), next)),
            b'-' => Some((Reply::Error(text()), next)),
            b':' => Some((Reply::Int(num(head)?), next)),
            b',' => Some((Reply::Double(text()), next)),
            b'(' => Some((Reply::BigNumber(text()), next)),
            b'_' => Some((Reply::Null, next)),
            b'#' => Some((Reply::Bool(head == b"t"), next)),
            b'$' | b'=' | b'!' => {
                let n = num(head)?;
                if n < 0 {
                    Some((Reply::NilBulk, next))
                } else {
                    match blob(n) {
                        None => None,
                        Some((data, end)) => match kind {
                            b'$' => Some((Reply::Bulk(data), end)),
                            b'!' => Some((
                                Reply::Error(String::from_utf8_lossy(&data).into_owned()),
                                end,
                            )),
                            _ => {
                                let (fmt_, rest) = if data.len() >= 4 && data[3] == b':' {
                                    (
                                        String::from_utf8_lossy(&data[..3]).into_owned(),
                                        data[4..].to_vec(),
                                    )
                                } else {
                                    (String::new(), data)
                                };
                                Some((Reply::Verbatim(fmt_, rest), end))
                            }
                        },
                    }
                }
            }
            b'*' | b'~' | b'>' => {
                let n = num(head)?;
                if n < 0 {
                    Some((Reply::NilArray, next))
                } else {
                    aggregate(n, 1)?.map(|(items, end)| {
                        let r = match kind {
                            b'*' => Reply::Array(items),
                            b'~' => Reply::Set(items),
                            _ => Reply::Push(items),
                        };
                        (r, end)
                    })
                }
            }
            b'%' | b'|' => {
                let n = num(head)?;
                aggregate(n, 2)?.map(|(items, end)| {
                    let mut pairs = Vec::new();
                    let mut it = items.into_iter();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        pairs.push((k, v));
                    }
                    (Reply::Map(pairs), end)
                })
            }
            other => {
                return Err(format!(
                    "unexpected reply type byte {:?} in {:?}",
                    other as char,
                    String::from_utf8_lossy(&buf[pos..buf.len().min(pos + 200)])
                ))
            }
        })
    }
    parse_at(buf, 0)
}

/// A raw TCP connection: send arbitrary bytes, read replies one by one.
pub struct RawConn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl RawConn {
    pub fn connect(addr: SocketAddr) -> RawConn {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
            .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        RawConn {
            stream,
            buf: Vec::new(),
        }
    }

    /// Writes all bytes; panics on error.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("write: {e}"));
    }

    /// Writes all bytes from another thread, so that a large pipeline cannot deadlock
    /// against replies that fill the socket buffers. Join the handle after reading.
    pub fn send_in_background(&mut self, bytes: Vec<u8>) -> JoinHandle<io::Result<()>> {
        let mut w = self.stream.try_clone().expect("clone stream");
        thread::spawn(move || w.write_all(&bytes))
    }

    /// Sends a command as a multibulk and reads its reply.
    pub fn cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Reply {
        self.send(&encode(args));
        self.read_reply()
    }

    /// Sends a command as a multibulk without reading.
    pub fn send_cmd<A: AsRef<[u8]>>(&mut self, args: &[A]) {
        self.send(&encode(args));
    }

    /// Sends an inline command (`line` without the CRLF) and reads its reply.
    pub fn inline(&mut self, line: &str) -> Reply {
        self.send(format!("{line}\r\n").as_bytes());
        self.read_reply()
    }

    /// Reads the next reply; `Ok(None)` when the server closed the connection before a
    /// complete reply (EOF or reset).
    pub fn try_read_reply(&mut self) -> io::Result<Option<Reply>> {
        loop {
            match parse_reply(&self.buf) {
                Ok(Some((reply, used))) => {
                    self.buf.drain(..used);
                    return Ok(Some(reply));
                }
                Ok(None) => {}
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
            let mut chunk = [0u8; 64 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(None),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if is_disconnect(&e) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads the next reply; panics on EOF, timeout or malformed data.
    pub fn read_reply(&mut self) -> Reply {
        match self.try_read_reply() {
            Ok(Some(r)) => r,
            Ok(None) => panic!(
                "connection closed while waiting for a reply (unparsed: {:?})",
                String::from_utf8_lossy(&self.buf)
            ),
            Err(e) => panic!("reading a reply: {e}"),
        }
    }

    /// Reads `n` replies.
    pub fn read_replies(&mut self, n: usize) -> Vec<Reply> {
        (0..n).map(|_| self.read_reply()).collect()
    }

    /// Reads until the server closes the connection; returns the bytes that came before
    /// the close (and after any replies already read). Panics when the connection stays
    /// open past IO_TIMEOUT.
    pub fn read_to_close(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.buf);
        let mut chunk = [0u8; 64 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return out,
                Ok(n) => out.extend_from_slice(&chunk[..n]),
                Err(e) if is_disconnect(&e) => return out,
                Err(e) => panic!(
                    "expected the server to close the connection, got {e} (read so far: {:?})",
                    String::from_utf8_lossy(&out)
                ),
            }
        }
    }

    /// Asserts that the server closes the connection with nothing more to say.
    pub fn expect_closed(&mut self) {
        let rest = self.read_to_close();
        assert!(
            rest.is_empty(),
            "expected a close, got more bytes: {:?}",
            String::from_utf8_lossy(&rest)
        );
    }

    /// Closes our side (both directions) without reading.
    pub fn shutdown(&self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
    )
}

/// The `key:value` lines of an INFO reply as pairs, in order.
pub fn info_fields(info: &str) -> Vec<(String, String)> {
    info.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The value of one INFO field.
pub fn info_field(info: &str, key: &str) -> Option<String> {
    info_fields(info)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// The `# Section` headers of an INFO reply, in order.
pub fn info_sections(info: &str) -> Vec<String> {
    info.lines()
        .filter_map(|l| l.strip_prefix("# "))
        .map(|s| s.trim().to_string())
        .collect()
}
