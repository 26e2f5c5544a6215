//! [`Ctx`]: what a command handler works with, and running a command from another
//! ([`Ctx::call`]).

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::client::{ClientId, ClientState};
use super::dispatch::err_arity;
use super::table::{flags, Command};
use super::Engine;
use crate::protocol::Reply;

/// Deepest nesting of [`Ctx::call`] (a command calling a command calling ...).
const MAX_CALL_DEPTH: usize = 32;

thread_local! {
    /// Current nesting of [`Ctx::call`] on the executor thread.
    static CALL_DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Current nesting of [`Ctx::call`] (0 in a top-level command).
pub(crate) fn call_depth() -> usize {
    CALL_DEPTH.with(|d| d.get())
}

/// What a command handler works with: the engine, the calling client, and the command's clock.
pub struct Ctx<'a> {
    /// Everything but the calling client.
    pub(crate) engine: &'a mut Engine,
    /// The client running the command.
    pub(crate) client: &'a mut ClientState,
    /// Unix milliseconds, fixed for the whole command so that expiry is consistent within it.
    pub(crate) now: i64,
}

impl Ctx<'_> {
    /// The selected database.
    pub fn db(&self) -> u32 {
        self.client.db
    }

    /// The calling client's ID.
    pub fn client_id(&self) -> ClientId {
        self.client.id
    }

    /// The command's clock: Unix milliseconds, fixed for the whole command.
    pub fn now(&self) -> i64 {
        self.now
    }

    /// Where pushes for the calling client go (see [`super::pubsub::PushTarget`]).
    pub fn push_target(&self) -> super::pubsub::PushTarget {
        super::pubsub::PushTarget::new(self.client, &self.engine.pubsub.limits)
    }

    /// Everything but the calling client.
    pub fn engine(&mut self) -> &mut Engine {
        self.engine
    }

    /// Reports that the command did `event` (Redis's name) to `key` in the selected database.
    pub fn notify(&mut self, class: u16, event: &'static str, key: &[u8]) {
        let db = self.client.db;
        self.engine.events.emit(db, class, event, key);
    }

    /// Reports a removal of elements: `event`, then `del` if it left the key empty (Redis
    /// deletes emptied collections and says so after the command's own event).
    pub fn notify_removal(&mut self, class: u16, event: &'static str, key: &[u8], emptied: bool) {
        self.notify(class, event, key);
        if emptied {
            self.notify(crate::events::class::GENERIC, "del", key);
        }
    }

    /// Parks the calling client: the command's reply comes later, through
    /// [`Engine::serve_blocked`] or [`Engine::unblock`], and the rest of the client's pipeline
    /// waits for it (see [`crate::engine::blocked`]). The command returns any placeholder reply, which
    /// is dropped. Returns false, parking nothing, where commands may not block
    /// ([`Engine::may_block`]); the command must then answer as its non-blocking form.
    pub fn block(&mut self, spec: crate::engine::blocked::BlockSpec) -> bool {
        if !self.engine.may_block() {
            return false;
        }
        self.client.blocked = true;
        self.engine.blocked.park(self.client.id, spec);
        true
    }

    /// Runs another command for the same client inside the running command's atomic step
    /// (plugins' `call`): same clock, its key events delivered with the outer command's. The
    /// inner command is counted in its own statistics but not as a processed command.
    /// Commands flagged `noscript` (MULTI, SUBSCRIBE, SHUTDOWN, MODULE, ...) are refused, as
    /// Redis refuses them to scripts and modules.
    pub fn call(&mut self, argv: &[Bytes]) -> Reply {
        if argv.is_empty() {
            return Reply::error("ERR empty command");
        }
        let cmd = match self.engine.resolve(argv) {
            Ok(cmd) => cmd,
            Err((_, reply)) => return reply,
        };
        if cmd.has(flags::NOSCRIPT) {
            return Reply::Error(
                format!(
                    "ERR command '{}' is not allowed from plugins and scripts",
                    cmd.name
                )
                .into(),
            );
        }
        // Checked as the client the plugin acts for (internal work runs as an unrestricted
        // client).
        let context = super::acl::Context::Module;
        if let Err(denied) = self.engine.acl_check(self.client, &cmd, argv, context) {
            return Reply::Error(denied.noperm(&cmd).into());
        }
        self.call_command(&cmd, argv)
    }

    /// [`Self::call`] for a command already resolved and checked by the caller (scripts,
    /// which refuse commands with Redis's own texts).
    pub(crate) fn call_command(&mut self, cmd: &Arc<Command>, argv: &[Bytes]) -> Reply {
        let Some(handler) = cmd.handler.clone() else {
            return err_arity(&cmd.name);
        };
        // A plugin command that calls itself would otherwise recurse until the executor's
        // stack overflows, which aborts the process.
        let depth = CALL_DEPTH.with(|d| d.get());
        if depth >= MAX_CALL_DEPTH {
            return Reply::error("ERR call() nested too deeply");
        }
        CALL_DEPTH.with(|d| d.set(depth + 1));
        let started = Instant::now();
        // Restores the depth even if the handler panics (the outer command catches it).
        struct Restore(usize);
        impl Drop for Restore {
            fn drop(&mut self) {
                CALL_DEPTH.with(|d| d.set(self.0));
            }
        }
        let _restore = Restore(depth);
        let reply = handler(self, argv);
        if self.client.tracking.is_some() {
            // A script's reads are tracked for the client that runs it.
            self.engine.track_reads(self.client, cmd, argv);
        }
        if !self.engine.monitors.is_empty() {
            let source = if self.engine.in_script {
                crate::engine::monitor::Source::Lua
            } else {
                crate::engine::monitor::Source::Client(self.client.addr)
            };
            self.engine.feed_monitors(cmd, self.client.db, source, argv);
        }
        let elapsed = started.elapsed();
        let usec = elapsed.as_micros() as u64;
        self.engine.record_latency(cmd, elapsed);
        let stats = self.engine.stats_for(cmd);
        stats.calls += 1;
        stats.usec += usec;
        if reply.is_error() {
            stats.failed_calls += 1;
        }
        reply
    }
}
