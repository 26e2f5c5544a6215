//! The allocator's own figures: what INFO memory's `used_memory` and MEMORY STATS report.
//!
//! The `respite` binary makes jemalloc the allocator of Rust and of C (SQLite's page cache,
//! Lua's heap), and builds this crate with the `jemalloc` feature, so the figures are the
//! allocator's, as in Redis. Without the feature (an embedding that keeps its own allocator)
//! [`stats`] is `None` and callers fall back to the resident set size.

/// Bytes as jemalloc counts them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AllocStats {
    /// Bytes allocated by the application (`stats.allocated`): Redis's `used_memory`.
    pub allocated: u64,
    /// Bytes in active pages (`stats.active`), at least `allocated`.
    pub active: u64,
    /// Bytes in physically resident pages the allocator maps (`stats.resident`).
    pub resident: u64,
    /// Bytes mapped by the allocator (`stats.mapped`).
    pub mapped: u64,
    /// Bytes retained: unmapped from use but kept for reuse (`stats.retained`).
    pub retained: u64,
}

/// Bytes allocated once the server was up, before any client (`used_memory_startup`).
static STARTUP: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

/// Records the memory used at start-up (the first call counts).
pub fn record_startup() {
    STARTUP.get_or_init(used);
}

/// `used_memory_startup`: see [`record_startup`].
pub fn startup() -> u64 {
    STARTUP.get().copied().unwrap_or(0)
}

/// Redis's `used_memory`: the allocator's allocated bytes, or the RSS without its figures.
pub fn used() -> u64 {
    stats().map_or_else(rss, |s| s.allocated)
}

/// Resident set size of the process, from /proc (0 where unavailable).
pub fn rss() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let page = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 => n as u64,
        _ => 4096,
    };
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * page)
}

/// The allocator's name and version (`mem_allocator`).
pub fn name() -> &'static str {
    #[cfg(feature = "jemalloc")]
    {
        "jemalloc-5.3.0"
    }
    #[cfg(not(feature = "jemalloc"))]
    {
        "libc"
    }
}

/// The allocator's current figures (refreshed first: jemalloc caches them per epoch).
pub fn stats() -> Option<AllocStats> {
    #[cfg(feature = "jemalloc")]
    {
        use tikv_jemalloc_ctl::{epoch, stats};
        epoch::advance().ok()?;
        Some(AllocStats {
            allocated: stats::allocated::read().ok()? as u64,
            active: stats::active::read().ok()? as u64,
            resident: stats::resident::read().ok()? as u64,
            mapped: stats::mapped::read().ok()? as u64,
            retained: stats::retained::read().ok()? as u64,
        })
    }
    #[cfg(not(feature = "jemalloc"))]
    {
        None
    }
}

/// jemalloc's own statistics report (MEMORY MALLOC-STATS), or why there is none.
pub fn report() -> String {
    #[cfg(feature = "jemalloc")]
    {
        let mut out = Vec::new();
        let options = tikv_jemalloc_ctl::stats_print::Options::default();
        match tikv_jemalloc_ctl::stats_print::stats_print(&mut out, options) {
            Ok(()) => String::from_utf8_lossy(&out).into_owned(),
            Err(e) => format!("jemalloc statistics are unavailable: {e}"),
        }
    }
    #[cfg(not(feature = "jemalloc"))]
    {
        "Stats not supported for the current allocator".to_string()
    }
}

/// Returns the unused dirty pages of every arena to the system (MEMORY PURGE); whether the
/// allocator could.
pub fn purge() -> bool {
    #[cfg(feature = "jemalloc")]
    {
        // `arena.<MALLCTL_ARENAS_ALL>.purge` (4096 names every arena) reads and writes
        // nothing: every pointer must be null.
        // SAFETY: a NUL-terminated mallctl name, and null buffers as the key requires.
        let rc = unsafe {
            tikv_jemalloc_sys::mallctl(
                c"arena.4096.purge".as_ptr(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                0,
            )
        };
        rc == 0
    }
    #[cfg(not(feature = "jemalloc"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn figures_are_consistent_when_the_allocator_reports_them() {
        if let Some(s) = super::stats() {
            assert!(s.allocated > 0);
            assert!(s.active >= s.allocated);
            assert!(s.mapped >= s.active);
        }
        assert!(!super::report().is_empty());
    }
}
