//! Running commands outside any client's command: what a plugin's background task does when
//! it writes keys of its own (the migrate plugin's imports), and what a shared-library
//! plugin's timers and event callbacks run as.

use crate::engine::client::ClientState;
use crate::engine::{Ctx, Engine};
use crate::keyspace::now_ms;
use crate::storage::DbIndex;

/// The client that work outside commands runs as ([`ClientState::internal`]).
pub(crate) fn internal_client(db: DbIndex) -> ClientState {
    ClientState::internal(db)
}

/// Runs `f` with a [`Ctx`] for an internal client on database `db`, for a plugin working
/// outside a command (a key-event handler, a timer, a commit hook): [`Ctx::call`] then runs
/// commands as that client. The key events its writes cause are delivered with those of the
/// command being handled, if any, else on the next [`Engine::publish_events`].
pub fn with_internal_ctx<R>(
    engine: &mut Engine,
    db: DbIndex,
    f: impl FnOnce(&mut Ctx<'_>) -> R,
) -> R {
    let mut client = internal_client(db);
    let mut ctx = Ctx {
        engine,
        client: &mut client,
        now: now_ms(),
    };
    f(&mut ctx)
}

impl Engine {
    /// Runs `f` as an internal client on database `db` (a fresh clock, no transaction), from
    /// a closure a background task runs on the executor ([`super::EngineHandle::run`]): its
    /// [`Ctx::call`]s are ordinary commands, their key events are delivered afterwards, and
    /// their writes join the executor's current batch, committed together
    /// ([`Engine::commit_attempts`] tells when).
    pub fn run_internal<R>(&mut self, db: DbIndex, f: impl FnOnce(&mut Ctx<'_>) -> R) -> R {
        let result = with_internal_ctx(self, db, f);
        self.publish_events();
        result
    }
}
