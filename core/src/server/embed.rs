//! Respite inside a Rust program or a test: [`Builder`] starts a server on a thread of its
//! own (with its own tokio runtime), waits until it listens and returns a [`Running`] handle
//! with the bound address; [`Running::shutdown`] (or dropping the handle) stops it the way
//! SHUTDOWN does: the executor finishes what is queued, commits, and closes the store.
//!
//! ```no_run
//! use respite_core::server::embed::Builder;
//!
//! let dir = std::env::temp_dir().join("respite-embed-example");
//! std::fs::create_dir_all(&dir).unwrap();
//! let server = Builder::new()
//!     .port(0) // the system picks a free port
//!     .db(dir.join("data.db"))
//!     .start()
//!     .expect("server started");
//! let url = format!("redis://{}/", server.addr());
//! // ... connect any Redis client to `url` ...
//! server.shutdown().expect("clean shutdown"); // everything written is in data.db
//! ```
//!
//! Built-in plugins (BLPOP and friends, FT.*, ...) live in their own crates and register
//! themselves when linked: a program that wants them depends on those crates and names them
//! (`use respite_blocking as _;`), as the `respite` binary does, or lists none
//! (`config.plugins.enabled = vec![]`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::ServerError;
use crate::config::{Config, LoadedConfig};

/// Configures an embedded server. Starts from [`Config::default`] with port 0 (any free
/// port), `127.0.0.1`, an in-memory store (`:memory:`, gone on shutdown: give [`Self::db`]
/// a path to keep the data) and no plugins.
pub struct Builder {
    config: Config,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    /// The defaults above.
    pub fn new() -> Builder {
        let mut config = Config::default();
        config.server.port = 0;
        config.server.bind = "127.0.0.1".into();
        config.storage.path = ":memory:".into();
        config.plugins.enabled = Vec::new();
        Builder { config }
    }

    /// Starts from a whole configuration (one loaded from a TOML file, for example).
    pub fn config(mut self, config: Config) -> Builder {
        self.config = config;
        self
    }

    /// The TCP port; 0 lets the system pick one ([`Running::addr`] says which).
    pub fn port(mut self, port: u16) -> Builder {
        self.config.server.port = port;
        self
    }

    /// The address(es) to listen on, as `server.bind`.
    pub fn bind(mut self, bind: impl Into<String>) -> Builder {
        self.config.server.bind = bind.into();
        self
    }

    /// The SQLite file that holds the data (created if missing).
    pub fn db(mut self, path: impl Into<PathBuf>) -> Builder {
        self.config.storage.path = path.into().to_string_lossy().into_owned();
        self
    }

    /// Changes anything else in the configuration.
    pub fn configure(mut self, change: impl FnOnce(&mut Config)) -> Builder {
        change(&mut self.config);
        self
    }

    /// Starts the server and waits until it accepts connections. Fails with the reason the
    /// server gives (an invalid configuration, a port in use, a store that cannot open).
    pub fn start(self) -> Result<Running, ServerError> {
        self.config
            .validate()
            .map_err(|e| ServerError::Invalid(e.to_string()))?;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let loaded = LoadedConfig {
            config: self.config,
            file: None,
        };
        let thread = std::thread::Builder::new()
            .name("respite-embedded".into())
            .spawn(move || {
                // One worker runs sockets and the executor both (the executor as a task), as
                // the binary does on one or two CPUs.
                let runtime = super::runtime::builder(1)
                    .build()
                    .map_err(ServerError::Executor)?;
                let stop = async move {
                    let _ = stop_rx.await;
                };
                runtime.block_on(super::serve(loaded, true, None, stop, None, Some(ready_tx)))
            })
            .map_err(ServerError::Executor)?;
        match ready_rx.recv() {
            Ok(addrs) => Ok(Running {
                addrs,
                stop: Some(stop_tx),
                thread: Some(thread),
            }),
            // The server ended before it listened: its error says why.
            Err(_) => match thread.join() {
                Ok(Err(e)) => Err(e),
                Ok(Ok(())) => Err(ServerError::Invalid(
                    "the server stopped before it listened".into(),
                )),
                Err(_) => Err(ServerError::Invalid("the server thread panicked".into())),
            },
        }
    }
}

/// A running embedded server.
pub struct Running {
    addrs: Vec<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), ServerError>>>,
}

impl Running {
    /// The first address it listens on (with the port the system picked).
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// Every address it listens on.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Stops the server as SHUTDOWN does (what is queued runs, everything is committed and
    /// the store closed) and waits for it.
    pub fn shutdown(mut self) -> Result<(), ServerError> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> Result<(), ServerError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(ServerError::Invalid("the server thread panicked".into())),
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Err(e) = self.stop_and_join() {
            tracing::error!(error = %e, "the embedded server stopped with an error");
        }
    }
}
