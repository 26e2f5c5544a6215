//! The network side: listeners, connection tasks, and the orderly shutdown of the whole server.

mod connection;
pub mod embed;
mod notify;
mod protected;
mod query_buffer;
mod renames;
pub mod runtime;
mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{Durability, LoadedConfig};
pub use crate::engine::LogLevelHook;
use crate::engine::{Engine, SharedState};
use crate::executor::{self, ExecutorSender, Request};
use crate::keyspace::{Encodings, Keyspace, WriteBehindOptions};
use crate::storage::{JournalOptions, SqliteStore, Store, StoreError};

/// How long shutdown waits for connections to write their last replies.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// How long shutdown waits for each plugin background task after telling it to stop.
const PLUGIN_TASK_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the server could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bind address is not an IP address.
    #[error("invalid bind address '{0}'")]
    BadBind(String),
    /// Listening failed.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// Address that failed.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The executor thread could not be started.
    #[error("cannot start the executor: {0}")]
    Executor(std::io::Error),
    /// A configured plugin could not be started.
    #[error("cannot start plugins: {0}")]
    Plugin(#[from] crate::plugin::PluginError),
    /// A Lua file of `[scripting] commands` or `hooks` could not be loaded.
    #[error("cannot load Lua script files: {0}")]
    ScriptFiles(#[from] crate::lua::files::ScriptFileError),
    /// The TLS certificate, key or CA files could not be used.
    #[error("cannot set up TLS: {0}")]
    Tls(#[from] tls::TlsError),
    /// `[commands]` names a command that does not exist or a name that is taken.
    #[error("cannot rename or disable commands: {0}")]
    Commands(String),
    /// The configuration given to an embedded server is invalid, or its thread ended
    /// before it listened.
    #[error("{0}")]
    Invalid(String),
    /// The ACL users of the configuration (`[[acl.users]]` or the aclfile) could not be
    /// loaded.
    #[error("cannot load ACL users: {0}")]
    Acl(String),
}

impl ServerError {
    /// The process exit status for this failure (README.md lists them): 3 cannot listen,
    /// 4 cannot open the store, 5 TLS files unusable, 6 plugins or Lua files failed,
    /// 2 a configuration the running server refuses (`[commands]`, ACL users), 1 anything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            ServerError::BadBind(_) | ServerError::Listen { .. } => 3,
            ServerError::Store(_) => 4,
            ServerError::Tls(_) => 5,
            ServerError::Plugin(_) | ServerError::ScriptFiles(_) => 6,
            ServerError::Commands(_) | ServerError::Acl(_) | ServerError::Invalid(_) => 2,
            ServerError::Executor(_) => 1,
        }
    }
}

/// What the connection tasks share.
#[derive(Clone)]
struct Context {
    executor: ExecutorSender,
    shared: Arc<SharedState>,
    shutdown: watch::Receiver<bool>,
}

/// Runs the server until `stop` resolves (SIGINT/SIGTERM in the binary) or a client sends
/// SHUTDOWN; then stops accepting, lets the executor finish what is queued, commits and closes
/// the store, and gives connections a moment to write their last replies.
///
/// With `inline`, the executor runs as a task on the caller's runtime, which should then have
/// a single worker thread (see `server.io_threads`); otherwise it gets a thread of its own.
/// Make that runtime a multi-threaded one with one worker, not a current-thread one: only then
/// can [`hand_off_io`] keep the connections answering while a script runs long.
///
/// `log_level` lets CONFIG SET loglevel change the process's logging. Each signal `hangup`
/// receives (the binary's SIGHUP) re-reads the TLS certificate, key and CA files.
pub async fn run(
    loaded: LoadedConfig,
    inline: bool,
    log_level: Option<LogLevelHook>,
    stop: impl Future<Output = ()>,
    hangup: Option<tokio::signal::unix::Signal>,
) -> Result<(), ServerError> {
    serve(loaded, inline, log_level, stop, hangup, None).await
}

/// [`run`], telling `ready` the addresses of the plain listeners once they accept (how
/// [`embed::Builder`] learns the ports the system picked).
async fn serve(
    loaded: LoadedConfig,
    inline: bool,
    log_level: Option<LogLevelHook>,
    stop: impl Future<Output = ()>,
    hangup: Option<tokio::signal::unix::Signal>,
    ready: Option<std::sync::mpsc::Sender<Vec<SocketAddr>>>,
) -> Result<(), ServerError> {
    let config = loaded.config;
    // Before the store opens: a certificate problem is the likelier start-up failure.
    let tls = if config.tls.enabled() {
        Some(Arc::new(tls::Tls::new(&config.tls)?))
    } else {
        None
    };
    let mut store = SqliteStore::open_with(
        &config.storage.path,
        config.storage.synchronous,
        JournalOptions {
            merge_interval_ms: config.storage.merge_interval_ms,
            max_bytes: config.storage.journal_max_bytes.0,
            row_window_bytes: config.storage.row_window_budget(),
            filter_max_bytes: config.storage.filter_budget(),
        },
    )?;
    store.set_page_cache_bytes(config.storage.page_cache_budget())?;
    tracing::info!(path = %config.storage.path, "store opened");
    let mut keyspace = Keyspace::new(
        Box::new(store),
        config.server.databases,
        config.storage.hot_cache_budget(),
    )?;
    keyspace.set_encodings(Encodings::from_config(&config.storage));
    crate::allocator::record_startup();
    if config.storage.durability == Durability::WriteBehind {
        keyspace.set_write_behind(Some(WriteBehindOptions {
            flush_interval_ms: config.storage.flush_interval_ms,
            max_dirty_bytes: config.storage.max_dirty_bytes.0,
        }));
    }
    let shared = Arc::new(SharedState::new(&config));
    shared.inline_executor.store(inline, Ordering::Relaxed);
    let ips = config.server.bind_addrs().map_err(ServerError::BadBind)?;
    let mut listeners = Vec::new();
    for ip in ips {
        let addr = SocketAddr::new(ip, config.server.port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Listen { addr, source })?;
        listeners.push((listener, None));
    }
    if let Some(tls) = &tls {
        for ip in config.server.bind_addrs().map_err(ServerError::BadBind)? {
            let addr = SocketAddr::new(ip, config.tls.port);
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| ServerError::Listen { addr, source })?;
            listeners.push((listener, Some(Arc::clone(tls))));
        }
    }
    let metrics_listener = match config.metrics.listen_addr() {
        None => None,
        Some(Err(addr)) => return Err(ServerError::BadBind(addr)),
        Some(Ok(addr)) => Some(
            TcpListener::bind(addr)
                .await
                .map_err(|source| ServerError::Listen { addr, source })?,
        ),
    };
    if let Some(first) = listeners.first().and_then(|(l, _)| l.local_addr().ok()) {
        shared
            .tcp_port
            .store(first.port() as u64, Ordering::Relaxed);
    }
    let _ = shared.on_busy.set(hand_off_io);
    let commands_config = config.commands.clone();
    let mut engine = new_engine(keyspace, config, loaded.file, Arc::clone(&shared));
    engine.log_level_hook = log_level;
    if let Some(tls) = &tls {
        let tls = Arc::clone(tls);
        engine.tls_reload_hook = Some(Arc::new(move |config: &crate::config::TlsConfig| {
            tls.reload(config).map_err(|e| e.to_string())?;
            tracing::info!("TLS configuration reloaded");
            Ok(())
        }));
    }
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    // The executor's channel exists before the plugins start, so that their background tasks
    // can be handed an EngineHandle; the executor itself starts once they have.
    enum Receiver {
        Task(tokio::sync::mpsc::UnboundedReceiver<Request>),
        Thread(mpsc::Receiver<Request>),
    }
    let (tx, rx) = if inline {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Request>();
        (ExecutorSender::Task(tx), Receiver::Task(rx))
    } else {
        let (tx, rx) = mpsc::channel::<Request>();
        (ExecutorSender::Thread(tx), Receiver::Thread(rx))
    };
    let poster = {
        let tx = tx.clone();
        Arc::new(move |job| tx.send(Request::Call(job))) as crate::engine::Poster
    };
    let plugin_tasks =
        crate::plugin::attach(&mut engine, tokio::runtime::Handle::current(), poster);
    if let Err(e) = crate::plugin::start_configured(&mut engine) {
        // Tasks of plugins that did start must not outlive the failed start-up.
        crate::plugin::stop_all(&mut engine);
        await_plugin_tasks(&plugin_tasks).await;
        return Err(ServerError::Plugin(e));
    }
    // After the plugins, so that a script command taking a plugin command's name is refused.
    if let Err(e) = crate::lua::files::load_configured(&mut engine) {
        crate::plugin::stop_all(&mut engine);
        await_plugin_tasks(&plugin_tasks).await;
        return Err(ServerError::ScriptFiles(e));
    }
    // Last, so that plugin and script commands can be renamed too.
    if let Err(e) = renames::apply(&mut engine, &commands_config) {
        crate::plugin::stop_all(&mut engine);
        await_plugin_tasks(&plugin_tasks).await;
        return Err(ServerError::Commands(e));
    }
    // Last, after the renames: rules name every command (the core's, plugins', scripts') as
    // clients see it.
    if let Err(e) = engine.load_acl() {
        crate::plugin::stop_all(&mut engine);
        await_plugin_tasks(&plugin_tasks).await;
        return Err(ServerError::Acl(e));
    }
    let executor_thread = match rx {
        Receiver::Task(rx) => {
            tokio::spawn(async move {
                executor::run_task(engine, rx).await;
                let _ = done_tx.send(());
            });
            None
        }
        Receiver::Thread(rx) => Some(
            std::thread::Builder::new()
                .name("respite-executor".into())
                .spawn(move || {
                    executor::run(engine, rx);
                    let _ = done_tx.send(());
                })
                .map_err(ServerError::Executor)?,
        ),
    };

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let ctx = Context {
        executor: tx.clone(),
        shared: Arc::clone(&shared),
        shutdown: shutdown_rx,
    };
    let mut acceptors = Vec::new();
    if let Some(listener) = metrics_listener {
        if let Ok(addr) = listener.local_addr() {
            tracing::info!("Metrics available on http://{addr}/metrics");
        }
        acceptors.push(tokio::spawn(crate::metrics::serve(
            listener,
            tx.clone(),
            ctx.shutdown.clone(),
        )));
    }
    let mut plain = Vec::new();
    for (listener, tls) in listeners {
        if let Ok(addr) = listener.local_addr() {
            match tls {
                None => {
                    tracing::info!("Ready to accept connections on {addr}");
                    plain.push(addr);
                }
                Some(_) => tracing::info!("Ready to accept TLS connections on {addr}"),
            }
        }
        acceptors.push(tokio::spawn(accept_loop(listener, ctx.clone(), tls)));
    }
    drop(ctx);
    if let Some(mut hangup) = hangup {
        let tls = tls.clone();
        let executor = tx.clone();
        acceptors.push(tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                tracing::info!("SIGHUP received: reloading the configuration file");
                let tls = tls.clone();
                let job = Box::new(move |engine: &mut Engine| reload(engine, tls.as_deref()));
                if executor.send(Request::Call(job)).is_err() {
                    return;
                }
            }
        }));
    }
    notify::notify("READY=1\nSTATUS=Ready to accept connections");
    if let Some(ready) = ready {
        let _ = ready.send(plain);
    }

    tokio::pin!(stop);
    tokio::pin!(done_rx);
    let executor_already_done = tokio::select! {
        _ = &mut stop => {
            tracing::info!("shutdown signal received");
            false
        }
        _ = &mut done_rx => true,
    };
    shared.shutting_down.store(true, Ordering::Release);
    notify::notify("STOPPING=1\nSTATUS=Shutting down");
    // A script that never ends would keep the executor from ever seeing the shutdown.
    shared.scripts.kill_for_shutdown();
    for a in &acceptors {
        a.abort();
    }
    if !executor_already_done {
        let _ = tx.send(Request::Shutdown);
        let _ = done_rx.await;
    }
    drop(tx);
    let _ = shutdown_tx.send(true);
    let deadline = tokio::time::Instant::now() + DRAIN_TIMEOUT;
    while shared.connected_clients.load(Ordering::Acquire) > 0
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if let Some(thread) = executor_thread {
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
    await_plugin_tasks(&plugin_tasks).await;
    tracing::info!("Respite is now ready to exit, bye bye...");
    Ok(())
}

/// SIGHUP, on the executor: the file's settings that CONFIG SET may change, as CONFIG SET
/// applies them (a changed `[tls]` rebuilds the TLS setup), then, if `[tls]` did not change,
/// the TLS files read again for certificates renewed in place.
fn reload(engine: &mut Engine, tls: Option<&tls::Tls>) {
    let tls_before = engine.config.tls.clone();
    match crate::commands::config::reload_from_file(engine) {
        Ok(changed) if changed.is_empty() => tracing::info!("configuration file unchanged"),
        Ok(changed) => tracing::info!(?changed, "configuration reloaded"),
        Err(e) => {
            tracing::error!(error = %e, "cannot reload the configuration file; nothing changed")
        }
    }
    if let Some(tls) = tls {
        if engine.config.tls == tls_before {
            match tls.reload_files() {
                Ok(()) => tracing::info!("TLS certificates reloaded"),
                Err(e) => tracing::error!(
                    error = %e,
                    "cannot reload TLS certificates; the previous ones stay in use"
                ),
            }
        }
    }
}

/// The engine with every command: the core's, the Lua host's and the plugin host's, and both
/// hosts installed (plugins start later, once the executor's channel exists).
pub fn new_engine(
    keyspace: Keyspace,
    config: crate::config::Config,
    file: Option<std::path::PathBuf>,
    shared: Arc<SharedState>,
) -> Engine {
    let groups: Vec<&[crate::engine::table::CommandSpec]> = crate::commands::BUILTIN
        .iter()
        .chain(crate::lua::COMMANDS)
        .chain(crate::plugin::COMMANDS)
        .copied()
        .collect();
    let table = crate::engine::table::CommandTable::from_groups(&groups);
    let mut engine = Engine::new(keyspace, config, file, shared, table);
    crate::plugin::install(&mut engine);
    crate::lua::install(&mut engine);
    engine
}

/// Awaits the background tasks of stopped plugins (they have been told to stop), each for
/// at most [`PLUGIN_TASK_TIMEOUT`]; one that does not stop is aborted and logged.
async fn await_plugin_tasks(tasks: &crate::plugin::StoppedTasks) {
    let tasks = match tasks.lock() {
        Ok(mut guard) => std::mem::take(&mut *guard),
        Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
    };
    for (name, mut handle) in tasks {
        match tokio::time::timeout(PLUGIN_TASK_TIMEOUT, &mut handle).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(task = %name, error = %e, "plugin task failed"),
            Err(_) => {
                tracing::error!(task = %name, "plugin task did not stop in time; aborted");
                handle.abort();
            }
        }
    }
}

async fn accept_loop(listener: TcpListener, ctx: Context, tls: Option<Arc<tls::Tls>>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let shared = &ctx.shared;
        let maxclients = shared.maxclients.load(Ordering::Relaxed);
        if shared.connected_clients.load(Ordering::Acquire) as u64 >= maxclients {
            shared.rejected_connections.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let mut stream = stream;
                let _ = stream
                    .write_all(b"-ERR max number of clients reached\r\n")
                    .await;
            });
            continue;
        }
        shared.connected_clients.fetch_add(1, Ordering::AcqRel);
        shared.total_connections.fetch_add(1, Ordering::Relaxed);
        // Taken here, not in the task, so that a larger ID always means a later connection.
        let id = shared.next_client_id.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(connection::serve(
            stream,
            peer,
            id,
            ctx.clone(),
            tls.clone(),
        ));
    }
}

/// Keeps the connections answering while the executor is stuck in a script past
/// `busy-reply-threshold`, when both share the runtime's only worker thread
/// (`server.io_threads = 1`): the worker's other tasks move to a fresh thread (tokio's
/// `block_in_place`), where they answer `-BUSY`, SCRIPT KILL and SHUTDOWN NOSAVE while this
/// thread goes on running the script. Called by the Lua host once per busy script; the thread
/// that ran the script leaves the runtime once the script returns. With a thread of its own,
/// or on a current-thread runtime (where it cannot help), it does nothing.
pub fn hand_off_io(shared: &SharedState) {
    use tokio::runtime::{Handle, RuntimeFlavor};
    if !shared.inline_executor.load(Ordering::Relaxed) {
        return;
    }
    let Ok(handle) = Handle::try_current() else {
        return;
    };
    if handle.runtime_flavor() != RuntimeFlavor::MultiThread {
        return;
    }
    // A task that can only run where the worker's queue goes: once it has run, the
    // connections are served by the new thread, and this one may go back to the script.
    let moved = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = Arc::clone(&moved);
    handle.spawn(async move { flag.store(true, Ordering::Release) });
    tokio::task::block_in_place(|| {
        let give_up = std::time::Instant::now() + std::time::Duration::from_secs(1);
        while !moved.load(Ordering::Acquire) && std::time::Instant::now() < give_up {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    });
}
