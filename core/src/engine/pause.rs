//! CLIENT PAUSE: holding clients' commands until a pause ends, as Redis 7.0 does.
//!
//! While paused, a command that the pause covers (every command in `ALL` mode; in `WRITE`
//! mode those flagged `write` or `may_replicate`, scripts and functions that may write, and an
//! EXEC whose queued commands include one) is not run: its client is parked as blocked
//! (INFO `blocked_clients` counts it, CLIENT LIST shows `b`), and the command and the rest of
//! its pipeline run when the pause ends (its timeout passes, or CLIENT UNPAUSE). The check
//! comes after the command's lookup, arity and authentication, so a malformed command is
//! answered at once, and before MULTI queueing, as in Redis. Commands inside a running EXEC
//! or script are never held: a pause that a transaction starts takes effect after it.
//! Monitors (which Redis counts as replicas) are never paused.
//!
//! Active expiry is suspended while paused, so that the data set stays as the pause found it.
//!
//! The same hold serves the store's back-pressure: while its background writes are behind
//! the load ([`Store::write_backlog`](crate::storage::Store::write_backlog), the row writer's
//! queue past its mark), writing commands are held as in `WRITE` mode, and everything else
//! goes on: clients that only read are not made to wait for a writer they do not use. Such a
//! hold ends when the store catches up, which the executor asks after each batch and, while
//! it lasts, every [`BACKLOG_POLL`]. It leaves active expiry and eviction running, and holds
//! no command queued inside MULTI (its EXEC is held instead).

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::blocked::{BlockSpec, Unblock};
use super::client::{ClientId, ClientState};
use super::table::{flags, Command};
use super::Engine;
use crate::protocol::Reply;

/// What a pause holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PauseMode {
    /// Commands that may write (or replicate).
    Write,
    /// Every command.
    All,
}

/// The flags a particular invocation of `cmd` has, where they depend on its arguments (an
/// EVAL's script flags, an FCALL's function flags), as Redis's `getCommandFlags`; `None`: the
/// command's own. Installed by the layer that owns such commands (the Lua host).
pub type CallFlagsHook = fn(&Engine, &Command, &[Bytes]) -> Option<u32>;

/// The pause in force, if any, and the clients it holds.
#[derive(Debug, Default)]
pub struct Pause {
    mode: Option<PauseMode>,
    end: Option<Instant>,
    /// Held clients, in the order they were held (and are released).
    held: Vec<ClientId>,
    /// The store's background writes are behind: writing commands are held as in `WRITE`
    /// mode until they catch up.
    backlog: bool,
}

/// How often the executor asks whether the store caught up, while writes are held for it.
pub const BACKLOG_POLL: Duration = Duration::from_millis(1);

impl Pause {
    /// The mode in force (ignoring a timeout that passed but was not yet acted on).
    #[cfg(test)]
    pub fn mode(&self) -> Option<PauseMode> {
        self.mode
    }

    /// When the pause ends, for the executor's wait.
    pub fn deadline(&self) -> Option<Instant> {
        self.mode.and(self.end)
    }

    /// Whether `id` waits for the pause to end.
    pub fn holds(&self, id: ClientId) -> bool {
        self.held.contains(&id)
    }

    /// Whether writing commands are held for the store's background writes.
    pub fn backlogged(&self) -> bool {
        self.backlog
    }

    /// Whether commands may be held now: a pause, or the store's backlog.
    pub fn holding(&self) -> bool {
        self.mode.is_some() || self.backlog
    }
}

/// The command flags that make a command paused in `WRITE` mode.
const WRITE_LIKE: u32 = flags::WRITE | flags::MAY_REPLICATE;

impl Engine {
    /// CLIENT PAUSE: pauses until `end` in `mode`. A pause already in force is only ever
    /// extended: the later end and the stricter mode win, as in Redis.
    pub(crate) fn pause_clients(&mut self, end: Instant, mode: PauseMode) {
        let p = &mut self.pause;
        p.mode = Some(p.mode.map_or(mode, |m| m.max(mode)));
        p.end = Some(p.end.map_or(end, |e| e.max(end)));
        self.keyspace.set_expiry_paused(true);
    }

    /// CLIENT UNPAUSE, or the pause's end: the held clients run their commands again, in the
    /// order they were held (those that write are held again while the store's backlog
    /// lasts).
    pub(crate) fn unpause_clients(&mut self) {
        self.pause.mode = None;
        self.pause.end = None;
        self.keyspace.set_expiry_paused(false);
        self.release_held();
    }

    fn release_held(&mut self) {
        for id in std::mem::take(&mut self.pause.held) {
            self.blocked.release_postponed(id);
        }
    }

    /// Asks the store whether its background writes are behind the load, and starts or ends
    /// holding writing commands back for it. Its end releases the held clients, unless a
    /// CLIENT PAUSE holds them still.
    pub(crate) fn check_write_backlog(&mut self) {
        let monitoring = self.latency.monitoring();
        let backpressure = self.backpressure_ms();
        let backlog = self.keyspace.store_mut().write_backlog();
        if monitoring {
            // A hold at the journal's limit that ended is a `backpressure` latency event.
            self.latency_sample_store(backpressure);
        }
        if backlog == self.pause.backlog {
            return;
        }
        self.pause.backlog = backlog;
        if !backlog && self.pause.mode.is_none() {
            self.release_held();
        }
    }

    /// Ends the pause if its time has come.
    pub(crate) fn check_pause_end(&mut self, now: Instant) {
        if self.pause.mode.is_some() && self.pause.end.is_none_or(|e| e <= now) {
            self.unpause_clients();
        }
    }

    /// Whether clients are paused (in either mode): expiry waits then.
    pub(crate) fn paused(&self) -> bool {
        self.pause.mode.is_some()
    }

    /// The flags of this invocation of `cmd` (see [`CallFlagsHook`]).
    pub(crate) fn call_flags(&self, cmd: &Command, argv: &[Bytes]) -> u32 {
        self.call_flags_hook
            .and_then(|hook| hook(self, cmd, argv))
            .unwrap_or(cmd.flags)
    }

    /// Whether the pause in force holds `cmd` for `client`; if it does, parks the client.
    pub(crate) fn hold_if_paused(
        &mut self,
        client: &mut ClientState,
        cmd: &Command,
        argv: &[Bytes],
    ) -> bool {
        if !self.pause.holding() || client.monitor || !self.may_block() {
            return false;
        }
        self.check_pause_end(Instant::now());
        let mode = match self.pause.mode {
            // The backlog's hold: only what writes now (a command queued in MULTI does not).
            None if self.pause.backlog && (client.multi.is_none() || cmd.name == "exec") => {
                Some(PauseMode::Write)
            }
            mode => mode,
        };
        let held = match mode {
            None => false,
            Some(PauseMode::All) => true,
            Some(PauseMode::Write) => {
                self.call_flags(cmd, argv) & WRITE_LIKE != 0
                    || (cmd.name == "exec" && self.queued_may_write(client))
            }
        };
        if held {
            client.blocked = true;
            self.blocked.park_postponed(
                client.id,
                BlockSpec {
                    deadline: None,
                    timeout_reply: Reply::Null,
                    on_unblock: forget_held,
                },
            );
            self.pause.held.push(client.id);
        }
        held
    }

    /// Whether a command queued in `client`'s transaction may write (EXEC's flags in Redis).
    pub(super) fn queued_may_write(&self, client: &ClientState) -> bool {
        let Some(multi) = client.multi.as_ref() else {
            return false;
        };
        multi.commands.iter().any(|argv| match self.resolve(argv) {
            Ok(cmd) => self.call_flags(&cmd, argv) & WRITE_LIKE != 0,
            Err(_) => false,
        })
    }
}

/// A held client disconnected: it is no longer waited for.
fn forget_held(engine: &mut Engine, id: ClientId, _why: Unblock) {
    engine.pause.held.retain(|&h| h != id);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::testing::Rig;

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(3600)
    }

    #[test]
    fn write_mode_holds_writes_and_releases_them_in_order() {
        let mut rig = Rig::new();
        rig.engine.pause_clients(far(), PauseMode::Write);
        assert_eq!(rig.exec(&["GET", "k"]), Reply::Null);
        assert!(!rig.client.blocked, "a read runs");
        rig.exec(&["SET", "k", "v"]);
        assert!(rig.client.blocked && rig.engine.pause.holds(1));
        assert_eq!(rig.engine.blocked.len(), 1);
        // Neither CLIENT UNBLOCK nor a serving owner releases it.
        assert!(!rig.engine.unblock(1, Unblock::Timeout));
        assert!(!rig.engine.serve_blocked(1, Reply::ok()));
        rig.engine.unpause_clients();
        let ready = rig.engine.blocked.take_ready();
        assert_eq!(ready.len(), 1);
        assert!(ready[0].id == 1 && ready[0].reply.is_none(), "runs again");
        assert_eq!(rig.engine.pause.mode(), None);
    }

    #[test]
    fn a_pause_is_only_ever_extended_and_made_stricter() {
        let mut rig = Rig::new();
        let end = far();
        rig.engine.pause_clients(end, PauseMode::All);
        rig.engine.pause_clients(Instant::now(), PauseMode::Write);
        assert_eq!(rig.engine.pause.mode(), Some(PauseMode::All));
        assert_eq!(rig.engine.pause.deadline(), Some(end));
        rig.engine.check_pause_end(end - Duration::from_secs(1));
        assert!(rig.engine.paused());
        rig.engine.check_pause_end(end);
        assert!(!rig.engine.paused());
    }

    #[test]
    fn exec_is_held_only_for_a_transaction_that_writes() {
        let mut rig = Rig::new();
        rig.exec(&["MULTI"]);
        rig.exec(&["GET", "k"]);
        rig.engine.pause_clients(far(), PauseMode::Write);
        assert_eq!(rig.exec(&["EXEC"]), Reply::Array(vec![Reply::Null]));
        rig.engine.unpause_clients();
        rig.exec(&["MULTI"]);
        rig.exec(&["INCR", "n"]);
        rig.engine.pause_clients(far(), PauseMode::Write);
        rig.exec(&["EXEC"]);
        assert!(rig.client.blocked);
        // A gone client is forgotten.
        assert!(rig.engine.unblock(1, Unblock::Gone));
        assert!(!rig.engine.pause.holds(1));
    }

    #[test]
    fn a_store_backlog_holds_writes_until_the_store_catches_up() {
        let mut rig = Rig::new();
        // As after a commit that left the row writer's queue past its mark.
        rig.engine.pause.backlog = true;
        assert_eq!(rig.exec(&["GET", "k"]), Reply::Null);
        assert!(!rig.client.blocked, "a read runs");
        assert!(!rig.engine.paused(), "expiry and eviction go on");
        // Commands queued in MULTI write nothing yet; their EXEC is held.
        rig.exec(&["MULTI"]);
        assert_eq!(rig.exec(&["SET", "k", "v"]), Reply::Simple("QUEUED".into()));
        assert!(!rig.client.blocked);
        rig.exec(&["EXEC"]);
        assert!(rig.client.blocked && rig.engine.pause.holds(1));
        // This store (no row writer) is never behind: asking ends the hold.
        rig.engine.check_write_backlog();
        assert!(!rig.engine.pause.backlogged() && !rig.engine.pause.holds(1));
        let ready = rig.engine.blocked.take_ready();
        assert!(ready.len() == 1 && ready[0].id == 1 && ready[0].reply.is_none());
    }

    #[test]
    fn a_backlog_ending_during_a_client_pause_leaves_its_clients_held() {
        let mut rig = Rig::new();
        rig.engine.pause.backlog = true;
        rig.engine.pause_clients(far(), PauseMode::Write);
        rig.exec(&["SET", "k", "v"]);
        assert!(rig.engine.pause.holds(1));
        rig.engine.check_write_backlog();
        assert!(rig.engine.pause.holds(1), "CLIENT PAUSE still holds it");
        rig.engine.unpause_clients();
        assert!(!rig.engine.pause.holds(1));
    }
}
