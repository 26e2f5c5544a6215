//! The executor's counters: per command (INFO commandstats) and server-wide.

use std::collections::BTreeMap;
use std::time::Instant;

/// Per-command counters (INFO commandstats).
#[derive(Clone, Copy, Debug, Default)]
pub struct CommandStats {
    /// Executions.
    pub calls: u64,
    /// Total microseconds spent.
    pub usec: u64,
    /// Refused before running (arity, auth, ...).
    pub rejected_calls: u64,
    /// Ran and replied with an error.
    pub failed_calls: u64,
}

/// Server-wide counters kept by the executor.
#[derive(Clone, Debug, Default)]
pub struct ServerStats {
    /// Commands processed.
    pub commands_processed: u64,
    /// Error replies sent.
    pub error_replies: u64,
    /// Error replies by error code (the first word), for INFO errorstats.
    pub errors_by_code: BTreeMap<String, u64>,
    /// Samples for instantaneous_ops_per_sec: (time, commands_processed).
    pub ops_sample: Option<(Instant, u64)>,
    /// Last computed instantaneous_ops_per_sec.
    pub instantaneous_ops: u64,
}
