//! Respite's core: the RESP protocol, the server, the executor that owns the keyspace, storage,
//! configuration, the Lua host and the plugin host.
//!
//! # Map
//!
//! Modules import downward only (a test, `tests/architecture.rs`, fails on a cycle):
//!
//! ```text
//! server      sockets, connections, start-up (builds the engine: `server::new_engine`)
//! metrics     the Prometheus endpoint (INFO's text, rendered by the executor)
//! executor    batches, group commit, replies
//! plugin      the plugin host: built-in and shared-library plugins, MODULE, `plugin::api`
//! lua         the Lua host: EVAL/SCRIPT, FUNCTION/FCALL, custom commands, key-event hooks
//! commands    one file per group (string.rs, hash.rs, list.rs, ...): parse and apply
//! engine      Engine and Ctx, dispatch, the command table, clients, ACL users and checks,
//!             the key-event bus, blocked clients, pub/sub, notifications, client-side
//!             caching (tracking), INFO contributors, extensions
//! keyspace    typed values, hot cache, expiry, the database map, commit
//! config      the TOML configuration and CONFIG's parameters
//! events      what a key event is, and the notify-keyspace-events letters
//! storage     the Store trait, SQLite, the redo journal in front of it, the row writer
//! protocol    RESP parsing and encoding; glob: pattern matching; allocator: jemalloc's
//!             figures; prefetch: a cache-line hint (leaves)
//! ```
//!
//! The engine knows nothing of the Lua host or the plugins: they keep their state in
//! [`engine::Extensions`](crate::engine) and add INFO fields from above, and the server
//! installs the callbacks that lower layers call up through (a busy script handing the
//! connections to another thread).
//!
//! # How a command flows
//!
//! ```text
//! connection task: bytes -> protocol::Parser -> Request::Run{argv...} -> executor channel
//! executor: Engine::execute -> table lookup -> arity/auth/ACL/MULTI -> handler(&mut Ctx, argv)
//!   handler: commands::<group> -> keyspace (typed ops, cache) -> key events
//!   after the command: the bus delivers events (notifications, hooks, plugins), then the
//!   after-command hooks run (the blocking plugin serves waiters)
//! executor: the batch commits once (group commit), then the replies are released
//! ```
//!
//! Command names lead to their code: `commands/<group>.rs` for data and server commands,
//! `lua/cmd_script.rs` (EVAL, SCRIPT), `lua/cmd_function.rs` (FUNCTION, FCALL),
//! `plugin/cmd_module.rs` (MODULE), and each plugin's crate for its own.
//!
//! Plugins use [`plugin::api`] and nothing else of this crate.

#![warn(missing_docs)]

pub(crate) mod allocator;
pub(crate) mod commands;
pub mod config;
pub(crate) mod engine;
pub(crate) mod events;
pub(crate) mod executor;
pub(crate) mod glob;
pub(crate) mod keyspace;
pub(crate) mod lua;
pub(crate) mod metrics;
pub mod plugin;
pub(crate) mod prefetch;
pub(crate) mod protocol;
pub mod server;
pub(crate) mod storage;

/// What the exported macros expand to; not for use by name.
#[doc(hidden)]
pub mod __private {
    pub use crate::protocol::Reply;
}

#[doc(hidden)]
pub use inventory;
#[cfg(test)]
pub mod testing;
