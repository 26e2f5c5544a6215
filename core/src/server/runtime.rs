//! The tokio runtime the server runs on, built in one place for the binary and the embedded
//! server.
//!
//! Order across connections: Redis serves its sockets in the order the kernel reports them
//! ready, so a request sent on one connection and then another on a second connection run in
//! that order (Redis's own tests and real applications rely on it: a blocking pop sent on one
//! connection, then a push on another). tokio's multi-thread scheduler runs the task woken
//! last first (its "LIFO slot", a cache-locality optimisation for message passing), which ran
//! such pairs backwards about half of the time. With the slot off, connection tasks woken by
//! one poll of the sockets run in the order of their readiness. Turning it off needs
//! `--cfg tokio_unstable` (set in `.cargo/config.toml`); a build without it still works, with
//! tokio's order.

use tokio::runtime::Builder;

/// A multi-thread runtime with `workers` threads (at least one) named `respite-io`, its I/O
/// and timer drivers on, and tasks run in the order they were woken.
pub fn builder(workers: usize) -> Builder {
    let mut builder = Builder::new_multi_thread();
    builder
        .worker_threads(workers.max(1))
        .enable_all()
        .thread_name("respite-io");
    #[cfg(tokio_unstable)]
    builder.disable_lifo_slot();
    #[cfg(not(tokio_unstable))]
    tracing::warn!(
        "built without --cfg tokio_unstable (RUSTFLAGS replaced .cargo/config.toml's): \
         requests sent at once on different connections may run out of arrival order"
    );
    builder
}
