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

use super::replies::Response;
use crate::engine::client::ClientId;
use crate::engine::Engine;
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
    /// Held by CLIENT PAUSE (see [`crate::engine::pause`]): released only by the pause's
    /// end, to run its command again; CLIENT UNBLOCK and deadlines do not apply.
    postponed: bool,
}

/// A released client waiting for the executor to send its reply and run its pipeline on.
pub(crate) struct Resume {
    /// The client.
    pub id: ClientId,
    /// The blocked command's reply; `None` for a client held by a pause, whose command runs
    /// again (it is the first of its continuation).
    pub reply: Option<Reply>,
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
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.parked.is_empty()
    }

    /// Parked clients with a deadline (INFO `clients_in_timeout_table`).
    pub fn with_deadline(&self) -> usize {
        self.deadlines.len()
    }

    /// Whether `id` is parked.
    #[cfg(test)]
    pub fn is_blocked(&self, id: ClientId) -> bool {
        self.parked.contains_key(&id)
    }

    /// Bytes of the arguments of the command `id` is blocked in (CLIENT LIST `argv-mem`).
    pub fn argv_mem(&self, id: ClientId) -> usize {
        let Some(cont) = self.parked.get(&id).and_then(|p| p.cont.as_ref()) else {
            return 0;
        };
        // The continuation starts after the blocking command, or at it for a client held by
        // a pause (which runs it again).
        let at = if self.parked.get(&id).is_some_and(|p| p.postponed) {
            cont.next
        } else {
            cont.next.saturating_sub(1)
        };
        cont.commands
            .get(at)
            .map_or(0, |argv| crate::engine::client::argv_mem(argv))
    }

    /// The earliest deadline, for the executor's wait.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|&(at, _)| at)
    }

    /// Whether a deadline has passed at `now`.
    #[cfg(test)]
    pub fn due(&self, now: Instant) -> bool {
        self.deadlines.first().is_some_and(|&(at, _)| at <= now)
    }

    pub(crate) fn park(&mut self, id: ClientId, spec: BlockSpec) {
        self.park_as(id, spec, false);
    }

    /// Parks a client held by CLIENT PAUSE (see [`Self::release_postponed`]).
    pub(crate) fn park_postponed(&mut self, id: ClientId, spec: BlockSpec) {
        self.park_as(id, spec, true);
    }

    /// Releases a client held by CLIENT PAUSE, to run its held command again. Returns whether
    /// it was held.
    pub(crate) fn release_postponed(&mut self, id: ClientId) -> bool {
        if !self.parked.get(&id).is_some_and(|p| p.postponed) {
            return false;
        }
        let Some(p) = self.take(id) else {
            return false;
        };
        self.ready.push(Resume {
            id,
            reply: None,
            served: false,
            cont: p.cont,
        });
        true
    }

    fn park_as(&mut self, id: ClientId, spec: BlockSpec, postponed: bool) {
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
                postponed,
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
        !self.in_exec && !self.in_script && crate::engine::call_depth() == 0
    }

    /// Releases the parked client `id` with `reply` (its owner served it). Returns whether it
    /// was parked. The owner's hook is not called: the owner already forgot the waiter.
    pub fn serve_blocked(&mut self, id: ClientId, reply: Reply) -> bool {
        if self.blocked.parked.get(&id).is_some_and(|p| p.postponed) {
            return false;
        }
        let Some(p) = self.blocked.take(id) else {
            return false;
        };
        self.log_served(id, p.cont.as_ref());
        self.blocked.ready.push(Resume {
            id,
            reply: Some(reply),
            served: true,
            cont: p.cont,
        });
        true
    }

    /// Logs a served blocking command in the slow log, as Redis does when it unblocks one
    /// (its time is the serving's: the wait is not execution).
    fn log_served(&mut self, id: ClientId, cont: Option<&Continuation>) {
        if !self.slowlog.wants(0) {
            return;
        }
        let Some(argv) = cont.and_then(|c| c.commands.get(c.next.checked_sub(1)?)) else {
            return;
        };
        let Some(client) = self.clients.get(&id) else {
            return;
        };
        let name = String::from_utf8_lossy(&argv[0]).to_ascii_lowercase();
        let argv = super::slowlog::redacted(&name, argv);
        let (addr, cname) = (
            client.addr.to_string(),
            client.name.clone().unwrap_or_default(),
        );
        self.slowlog.record(&argv, 0, addr, cname);
    }

    /// Releases the parked client `id` without data (timeout, CLIENT UNBLOCK, disconnect)
    /// and tells its owner. Returns whether it was parked.
    /// A client held by CLIENT PAUSE leaves only when it is gone (or the pause ends).
    pub fn unblock(&mut self, id: ClientId, why: Unblock) -> bool {
        let postponed = self.blocked.parked.get(&id).is_some_and(|p| p.postponed);
        if postponed && why != Unblock::Gone {
            return false;
        }
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
            reply: Some(reply),
            served: false,
            cont: p.cont,
        });
        true
    }

    /// Times out every parked client whose deadline is at or before `now`.
    pub(crate) fn fire_deadlines(&mut self, now: Instant) {
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;
    use crate::testing::Rig;

    static RELEASED: Mutex<Vec<(ClientId, Unblock)>> = Mutex::new(Vec::new());

    fn record(_: &mut Engine, id: ClientId, why: Unblock) {
        RELEASED.lock().unwrap().push((id, why));
    }

    fn spec(deadline: Option<Instant>) -> BlockSpec {
        BlockSpec {
            deadline,
            timeout_reply: Reply::NullArray,
            on_unblock: record,
        }
    }

    fn cont() -> (Continuation, oneshot::Receiver<Response>) {
        let (tx, rx) = oneshot::channel();
        let cont = Continuation {
            commands: Vec::new(),
            next: 0,
            reply: tx,
        };
        (cont, rx)
    }

    fn released(engine: &mut Engine) -> Vec<(ClientId, Reply, bool)> {
        engine
            .blocked
            .take_ready()
            .into_iter()
            .map(|r| (r.id, r.reply.expect("a reply"), r.served))
            .collect()
    }

    #[test]
    fn deadlines_fire_in_order_and_only_when_due() {
        let mut rig = Rig::new();
        let e = &mut rig.engine;
        let t = Instant::now();
        e.blocked
            .park(11, spec(Some(t + Duration::from_millis(30))));
        e.blocked
            .park(12, spec(Some(t + Duration::from_millis(10))));
        e.blocked.park(13, spec(None));
        assert_eq!((e.blocked.len(), e.blocked.with_deadline()), (3, 2));
        assert_eq!(
            e.blocked.next_deadline(),
            Some(t + Duration::from_millis(10))
        );
        assert!(!e.blocked.due(t));
        e.fire_deadlines(t + Duration::from_millis(20));
        assert_eq!(released(e), vec![(12, Reply::NullArray, false)]);
        assert!(RELEASED.lock().unwrap().contains(&(12, Unblock::Timeout)));
        e.fire_deadlines(t + Duration::from_secs(3600));
        assert_eq!(released(e), vec![(11, Reply::NullArray, false)]);
        assert_eq!((e.blocked.len(), e.blocked.with_deadline()), (1, 0));
        assert!(e.blocked.is_blocked(13));
    }

    #[test]
    fn a_client_leaves_once_whichever_way() {
        let mut rig = Rig::new();
        let e = &mut rig.engine;
        e.blocked
            .park(21, spec(Some(Instant::now() + Duration::from_secs(60))));
        let (c, _rx) = cont();
        e.blocked.attach(21, c);
        assert!(e.serve_blocked(21, Reply::Integer(7)));
        assert!(!e.unblock(21, Unblock::Timeout), "already served");
        assert!(!e.serve_blocked(21, Reply::Integer(8)));
        let ready = e.blocked.take_ready();
        assert_eq!(ready.len(), 1);
        assert!(ready[0].served && ready[0].cont.is_some());
        assert_eq!(e.blocked.with_deadline(), 0, "its deadline went with it");

        e.blocked.park(22, spec(None));
        assert!(e.unblock(22, Unblock::Error));
        // Released before the executor handed over the rest of its pipeline.
        let (c, _rx) = cont();
        e.blocked.attach(22, c);
        let ready = e.blocked.take_ready();
        assert_eq!(
            ready[0].reply,
            Some(Reply::error(
                "UNBLOCKED client unblocked via CLIENT UNBLOCK"
            ))
        );
        assert!(ready[0].cont.is_some());

        e.blocked.park(23, spec(None));
        assert!(e.unblock(23, Unblock::Gone));
        assert!(!e.blocked.has_ready(), "nobody to reply to");
        assert!(RELEASED.lock().unwrap().contains(&(23, Unblock::Gone)));
        assert!(e.blocked.is_empty());
    }

    #[test]
    fn commands_may_not_block_inside_exec() {
        let mut rig = Rig::new();
        assert!(rig.engine.may_block());
        rig.engine.in_exec = true;
        assert!(!rig.engine.may_block());
    }
}
