//! A replica of a Respite synced key (the `sync` plugin): a local copy of the key's value
//! that follows the server's envelopes and repairs itself when it misses one.
//!
//! - [`reconciler`]: the rules, independent of any connection: every inbound value crosses
//!   the parse gate (a user validator); a seed, a refetch or the first value seen is taken as
//!   the new baseline; a receipt applies iff its sequence is the current one plus one, is
//!   ignored at or below it, and a gap starts a refetch; a value that fails the gate marks
//!   the replica `skew`, keeps the last good value and refetches, except in response to a
//!   refetch.
//! - [`replica`]: [`Replica`], the reconciler with its refetches run on tokio, `when_idle`
//!   and `dispose`.
//! - [`source`]: where envelopes come from over a plain Redis connection: SYNC.GET for the
//!   seed and refetches, SYNC.SUBSCRIBE for the receipts ([`connect`]).

pub mod reconciler;
pub mod replica;
mod resp;
pub mod source;

pub use reconciler::{Envelope, Meta, Stats, Status};
pub use replica::{Replica, SnapshotSource};
pub use source::{connect, ReplicaOptions, SyncGetSource};

/// Why a replica could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Redis connection failed or the server answered with an error.
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
    /// The subscription connection failed.
    #[error("subscription connection: {0}")]
    Io(#[from] std::io::Error),
    /// The server's answer was not what SYNC.* answers.
    #[error("unexpected reply: {0}")]
    Protocol(String),
}
