//! Running commands outside any client's command: what a plugin's background task does when
//! it writes keys of its own (the migrate plugin's imports), and what a shared-library
//! plugin's timers and event callbacks run as.

use std::sync::Arc;

use crate::engine::client::{ClientShared, ClientState};
use crate::engine::{Ctx, Engine};
use crate::keyspace::now_ms;
use crate::storage::DbIndex;

/// The client that work outside commands runs as: authenticated, in no transaction, not
/// listed by CLIENT LIST.
pub(crate) fn internal_client(db: DbIndex) -> ClientState {
    let nowhere = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
    let mut client = ClientState::new(0, nowhere, nowhere, true, Arc::new(ClientShared::new(true)));
    client.db = db;
    client
}

impl Engine {
    /// Runs `f` as an internal client on database `db` (a fresh clock, no transaction), from
    /// a closure a background task runs on the executor ([`super::EngineHandle::run`]): its
    /// [`Ctx::call`]s are ordinary commands, their key events are delivered afterwards, and
    /// their writes join the executor's current batch, committed together
    /// ([`Engine::commit_attempts`] tells when).
    pub fn run_internal<R>(&mut self, db: DbIndex, f: impl FnOnce(&mut Ctx<'_>) -> R) -> R {
        let mut client = internal_client(db);
        let result = {
            let mut ctx = Ctx {
                engine: &mut *self,
                client: &mut client,
                now: now_ms(),
            };
            f(&mut ctx)
        };
        self.publish_events();
        result
    }
}
