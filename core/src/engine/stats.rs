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
    /// Highest `used_memory` seen (sampled every cron tick and at each INFO).
    pub peak_memory: u64,
}

/// The process's memory, as INFO memory and MEMORY STATS report it.
#[derive(Clone, Copy, Debug, Default)]
pub struct MemoryFigures {
    /// `used_memory`: the allocator's allocated bytes (the RSS without its figures).
    pub used: u64,
    /// The resident set size.
    pub rss: u64,
    /// `used_memory_peak`.
    pub peak: u64,
    /// `used_memory_startup`.
    pub startup: u64,
    /// The allocator's own figures, when it reports them.
    pub allocator: Option<crate::allocator::AllocStats>,
}

impl ServerStats {
    /// Samples the memory figures, raising the peak.
    pub fn memory(&mut self) -> MemoryFigures {
        let allocator = crate::allocator::stats();
        let rss = crate::allocator::rss();
        let used = allocator.map_or(rss, |a| a.allocated);
        self.peak_memory = self.peak_memory.max(used);
        MemoryFigures {
            used,
            rss,
            peak: self.peak_memory,
            startup: crate::allocator::startup(),
            allocator,
        }
    }
}
