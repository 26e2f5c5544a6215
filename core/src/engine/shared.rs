//! What the connection tasks and the executor share: settings CONFIG SET may change, as
//! atomics, and the connection counters.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use crate::config::Config;

/// Settings and counters shared between the network tasks and the executor. Settings that
/// CONFIG SET may change are atomics, read by connections on every use.
#[derive(Debug)]
pub struct SharedState {
    /// proto-max-bulk-len.
    pub proto_max_bulk_len: AtomicU64,
    /// client-query-buffer-limit.
    pub client_query_buffer_limit: AtomicU64,
    /// Idle timeout in seconds (0 = none).
    pub timeout: AtomicU64,
    /// maxclients.
    pub maxclients: AtomicU64,
    /// tcp-keepalive in seconds.
    pub tcp_keepalive: AtomicU64,
    /// Connected clients.
    pub connected_clients: AtomicUsize,
    /// Connections accepted since start (or RESETSTAT).
    pub total_connections: AtomicU64,
    /// Connections refused by maxclients.
    pub rejected_connections: AtomicU64,
    /// TLS handshakes completed on the TLS port.
    pub tls_handshakes: AtomicU64,
    /// TLS handshakes that failed (bad certificate, plain text on the TLS port, timeout).
    pub tls_handshake_failures: AtomicU64,
    /// Bytes read from clients.
    pub net_input_bytes: AtomicU64,
    /// Bytes written to clients.
    pub net_output_bytes: AtomicU64,
    /// Next client ID.
    pub next_client_id: AtomicU64,
    /// Set once shutdown has begun.
    pub shutting_down: AtomicBool,
    /// Ports actually bound (port 0 resolves to an ephemeral one).
    pub tcp_port: AtomicU64,
    /// Whether new clients must authenticate (the default user is off or has passwords);
    /// the engine keeps it current as users change.
    pub auth_required: AtomicBool,
    /// protected-mode: with no password, only loopback clients are served.
    pub protected_mode: AtomicBool,
    /// The running script, for the connections that answer `-BUSY` while it runs long.
    pub scripts: crate::engine::busy::ScriptGate,
    /// Whether the executor shares the runtime's worker thread with the connections
    /// (`server.io_threads = 1`): then a script turning busy must hand them to another
    /// thread, with [`Self::on_busy`].
    pub inline_executor: AtomicBool,
    /// Installed by the server: called when a script turns busy, so that the connections
    /// can answer `-BUSY` while the executor is inside the script.
    pub on_busy: std::sync::OnceLock<fn(&SharedState)>,
}

impl SharedState {
    /// Shared state initialised from the configuration.
    pub fn new(config: &Config) -> Self {
        let s = &config.server;
        SharedState {
            proto_max_bulk_len: AtomicU64::new(s.proto_max_bulk_len.0),
            client_query_buffer_limit: AtomicU64::new(s.client_query_buffer_limit.0),
            timeout: AtomicU64::new(s.timeout),
            maxclients: AtomicU64::new(s.maxclients as u64),
            tcp_keepalive: AtomicU64::new(s.tcp_keepalive),
            connected_clients: AtomicUsize::new(0),
            total_connections: AtomicU64::new(0),
            rejected_connections: AtomicU64::new(0),
            tls_handshakes: AtomicU64::new(0),
            tls_handshake_failures: AtomicU64::new(0),
            net_input_bytes: AtomicU64::new(0),
            net_output_bytes: AtomicU64::new(0),
            next_client_id: AtomicU64::new(1),
            shutting_down: AtomicBool::new(false),
            tcp_port: AtomicU64::new(s.port as u64),
            auth_required: AtomicBool::new(!s.requirepass.is_empty()),
            protected_mode: AtomicBool::new(s.protected_mode),
            scripts: crate::engine::busy::ScriptGate::default(),
            inline_executor: AtomicBool::new(false),
            on_busy: std::sync::OnceLock::new(),
        }
    }

    /// Copies the settings CONFIG SET can change into the atomics.
    pub fn apply(&self, config: &Config) {
        let s = &config.server;
        self.proto_max_bulk_len
            .store(s.proto_max_bulk_len.0, Ordering::Relaxed);
        self.client_query_buffer_limit
            .store(s.client_query_buffer_limit.0, Ordering::Relaxed);
        self.timeout.store(s.timeout, Ordering::Relaxed);
        self.maxclients
            .store(s.maxclients as u64, Ordering::Relaxed);
        self.tcp_keepalive.store(s.tcp_keepalive, Ordering::Relaxed);
        // auth_required follows the default user (engine::acl), protected mode reads it.
        self.protected_mode
            .store(s.protected_mode, Ordering::Relaxed);
    }
}
