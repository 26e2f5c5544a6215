//! Parked clients: commands that reply later (BLPOP and the other blocking commands).
//!
//! # How a client blocks
//!
//! A connection hands the executor its whole pipeline and awaits one reply buffer. A command
//! that cannot answer yet calls [`crate::engine::Ctx::block`] with a [`BlockSpec`] and returns
//! a placeholder reply, which is dropped. The executor then:
//!
//! 1. stops running that pipeline: Redis runs a blocked client's later commands only once
//!    it is unblocked, so the rest of the pipeline is kept here as a continuation;
//! 2. releases the replies of the commands before the blocked one with the batch, as usual,
//!    together with a second one-shot channel (`Response::more`) on which the connection
//!    waits for the rest, while still watching its socket for a disconnect;
//! 3. goes on with other clients: nothing ever waits for a parked client.
//!
//! A parked client leaves this table in one of three ways:
//!
//! - **served**: its owner (the plugin that parked it) calls [`crate::engine::Engine::serve_blocked`]
//!   with the reply, typically from an `after_command` hook, once the command that made data
//!   available (or the whole EXEC) has finished;
//! - **unblocked**: its deadline passes (the executor fires deadlines from one ordered set,
//!   between batches and when idle), or CLIENT UNBLOCK releases it; the core replies
//!   (the spec's timeout reply, or `-UNBLOCKED ...`) and calls the owner's
//!   [`UnblockHook`] so that it forgets the waiter;
//! - **gone**: the client disconnected or was killed; only the hook is called.
//!
//! A released client is queued as ready; after the request being handled, the executor
//! encodes its reply and runs the rest of its pipeline (which may block again). Its replies
//! join the current batch, so they go out only after the batch's commit, like any other.
//!
//! The non-blocking path pays one `bool` test per command (`ClientState::blocked`) and one
//! empty-`Vec` test per request; nothing is allocated unless a client parks.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::client::ClientId;
use crate::engine::Engine;
use crate::executor::Response;
use crate::protocol::Reply;

/// Why a parked client is released without being served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unblock {
    /// Its deadline passed, or CLIENT UNBLOCK [TIMEOUT]: it gets the spec's timeout reply.
    Timeout,
    /// CLIENT UNBLOCK ERROR: it gets `-UNBLOCKED client unblocked via CLIENT UNBLOCK`.
    Error,
    /// It disconnected or was killed: no reply.
    Gone,
}

/// Tells a parked client's owner that the client left without being served, so that the
/// owner drops whatever it keeps for it (its place in the per-key queues). Runs on the
/// executor, after the client has left the table.
pub type UnblockHook = fn(&mut Engine, ClientId, Unblock);

/// What a command parks a client with.
pub struct BlockSpec {
    /// When the wait ends without data (`None`: never).
    pub deadline: Option<Instant>,
    /// The reply on timeout (Redis: a null array for lists and sorted sets).
    pub timeout_reply: Reply,
    /// Called when the client leaves without being served.
    pub on_unblock: UnblockHook,
}

/// The rest of a parked client's pipeline, and where its replies go.
pub(crate) struct Continuation {
    /// The pipeline the blocking command came in.
    pub commands: Vec<Vec<Bytes>>,
    /// Index of the first command still to run.
    pub next: usize,
    /// The connection's channel for the replies from the blocked command on.
    pub reply: oneshot::Sender<Response>,
}

struct Parked {
    deadline: Option<Instant>,
    timeout_reply: Reply,
    on_unblock: UnblockHook,
    cont: Option<Continuation>,
}

/// A released client waiting for the executor to send its reply and run its pipeline on.
pub(crate) struct Resume {
    /// The client.
    pub id: ClientId,
    /// The blocked command's reply.
    pub reply: Reply,
    /// Whether the reply is data taken from the keyspace (replaced if the commit fails).
    pub served: bool,
    /// Attached by the executor after the blocking command returns.
    pub cont: Option<Continuation>,
}

/// The parked clients, their deadlines in one ordered set, and the released ones.
#[derive(Default)]
pub struct BlockedClients {
    parked: HashMap<ClientId, Parked, ahash::RandomState>,
    deadlines: BTreeSet<(Instant, ClientId)>,
    ready: Vec<Resume>,
}

impl BlockedClients {
    /// Clients parked (INFO `blocked_clients`).
    pub fn len(&self) -> usize {
        self.parked.len()
    }

    /// Whether no client is parked.
    pub fn is_empty(&self) -> bool {
        self.parked.is_empty()
    }

    /// Parked clients with a deadline (INFO `clients_in_timeout_table`).
    pub fn with_deadline(&self) -> usize {
        self.deadlines.len()
    }

    /// Whether `id` is parked.
    pub fn is_blocked(&self, id: ClientId) -> bool {
        self.parked.contains_key(&id)
    }

    /// The earliest deadline, for the executor's wait.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|&(at, _)| at)
    }

    /// Whether a deadline has passed at `now`.
    pub fn due(&self, now: Instant) -> bool {
        self.deadlines.first().is_some_and(|&(at, _)| at <= now)
    }

    pub(crate) fn park(&mut self, id: ClientId, spec: BlockSpec) {
        if let Some(at) = spec.deadline {
            self.deadlines.insert((at, id));
        }
        let old = self.parked.insert(
            id,
            Parked {
                deadline: spec.deadline,
                timeout_reply: spec.timeout_reply,
                on_unblock: spec.on_unblock,
                cont: None,
            },
        );
        if let Some(Parked {
            deadline: Some(at), ..
        }) = old
        {
            self.deadlines.remove(&(at, id));
        }
    }

    /// Hands the rest of the pipeline to the parked (or already released) client `id`.
    pub(crate) fn attach(&mut self, id: ClientId, cont: Continuation) {
        if let Some(p) = self.parked.get_mut(&id) {
            p.cont = Some(cont);
        } else if let Some(r) = self.ready.iter_mut().find(|r| r.id == id) {
            // Released by the hooks of its own command, before the executor got it back.
            r.cont = Some(cont);
        }
    }

    fn take(&mut self, id: ClientId) -> Option<Parked> {
        let p = self.parked.remove(&id)?;
        if let Some(at) = p.deadline {
            self.deadlines.remove(&(at, id));
        }
        Some(p)
    }

    /// Whether released clients wait for the executor.
    pub(crate) fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    pub(crate) fn take_ready(&mut self) -> Vec<Resume> {
        std::mem::take(&mut self.ready)
    }
}

impl Engine {
    /// Whether the running command may park its client. Not inside MULTI/EXEC, nor in a
    /// command run by another one ([`crate::engine::Ctx::call`]: plugins and scripts), where
    /// blocking commands behave as their non-blocking forms, as in Redis.
    pub fn may_block(&self) -> bool {
        !self.in_exec && crate::engine::call_depth() == 0
    }

    /// Releases the parked client `id` with `reply` (its owner served it). Returns whether it
    /// was parked. The owner's hook is not called: the owner already forgot the waiter.
    pub fn serve_blocked(&mut self, id: ClientId, reply: Reply) -> bool {
        let Some(p) = self.blocked.take(id) else {
            return false;
        };
        self.blocked.ready.push(Resume {
            id,
            reply,
            served: true,
            cont: p.cont,
        });
        true
    }

    /// Releases the parked client `id` without data (timeout, CLIENT UNBLOCK, disconnect)
    /// and tells its owner. Returns whether it was parked.
    pub fn unblock(&mut self, id: ClientId, why: Unblock) -> bool {
        let Some(p) = self.blocked.take(id) else {
            return false;
        };
        (p.on_unblock)(self, id, why);
        let reply = match why {
            Unblock::Timeout => p.timeout_reply,
            Unblock::Error => Reply::error("UNBLOCKED client unblocked via CLIENT UNBLOCK"),
            Unblock::Gone => return true,
        };
        self.blocked.ready.push(Resume {
            id,
            reply,
            served: false,
            cont: p.cont,
        });
        true
    }

    /// Times out every parked client whose deadline is at or before `now`.
    pub fn fire_deadlines(&mut self, now: Instant) {
        while let Some(&(at, id)) = self.blocked.deadlines.first() {
            if at > now {
                break;
            }
            if !self.unblock(id, Unblock::Timeout) {
                // A deadline without its client cannot happen; never loop on one.
                self.blocked.deadlines.remove(&(at, id));
            }
        }
    }
}
