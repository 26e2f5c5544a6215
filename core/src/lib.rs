//! Respite's core: the RESP protocol, the server, the executor that owns the keyspace, storage,
//! configuration, and the plugin host. Plugins and the `respite` binary build on the API
//! exported here.

#![warn(missing_docs)]

pub mod commands;
pub mod config;
pub mod engine;
pub mod events;
pub mod executor;
pub mod glob;
pub mod keyspace;
pub mod lua;
pub mod metrics;
pub mod plugin;
pub mod protocol;
pub mod server;
pub mod storage;

#[doc(hidden)]
pub use inventory;
#[cfg(test)]
pub mod testing;
