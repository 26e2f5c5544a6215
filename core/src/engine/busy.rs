//! What the connection tasks know of a running script: whether it is past
//! `busy-reply-threshold` (then they answer other clients with `-BUSY` themselves, since the
//! executor is inside the script), and the kill request that `SCRIPT KILL`, `FUNCTION KILL`
//! and `SHUTDOWN NOSAVE` send to the script's instruction hook.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::engine::client::{
    ClientShared, ClientState, Multi, MULTI_DIRTY, MULTI_OPEN, MULTI_RESET, MULTI_SYNC,
};
use crate::engine::Engine;
use crate::protocol::Reply;

/// No script runs.
const IDLE: u8 = 0;
/// An `EVAL`-family script runs.
const EVAL: u8 = 1;
/// A function (`FCALL`) or a script-defined command runs.
const FUNCTION: u8 = 2;

/// No kill requested.
const KILL_NONE: u8 = 0;
/// `SCRIPT KILL` / `FUNCTION KILL`.
const KILL_USER: u8 = 1;
/// `SHUTDOWN NOSAVE`: stops the script even if it wrote.
const KILL_SHUTDOWN: u8 = 2;

/// `-BUSY` while an `EVAL` script runs.
pub const BUSY_EVAL: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
/// `-BUSY` while a function runs.
pub const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";
/// The error the killed script's caller gets (before the position suffix).
pub const KILLED: &str = "ERR Script killed by user with SCRIPT KILL...";
const NOTBUSY: &str = "NOTBUSY No scripts in execution right now.";
const UNKILLABLE: &str = "UNKILLABLE Sorry the script already executed write commands against \
     the dataset. You can either wait the script termination or kill the server in a hard way \
     using the SHUTDOWN NOSAVE command.";

/// The running script's state, shared by the executor (which runs it) and the connection
/// tasks (which answer for the server while it is busy). Lives in
/// [`crate::engine::SharedState`].
#[derive(Debug, Default)]
pub struct ScriptGate {
    running: AtomicU8,
    busy: AtomicBool,
    wrote: AtomicBool,
    kill: AtomicU8,
    /// Every connected client's shared half, to wake those waiting on the executor when a
    /// script turns busy (changed on connect and disconnect only).
    connections: Mutex<HashMap<u64, Arc<crate::engine::client::ClientShared>>>,
}

impl ScriptGate {
    /// Marks the start of a top-level script (`function`: FCALL or a script command).
    pub fn enter(&self, function: bool) {
        self.kill.store(KILL_NONE, Ordering::SeqCst);
        self.wrote.store(false, Ordering::SeqCst);
        self.running
            .store(if function { FUNCTION } else { EVAL }, Ordering::SeqCst);
    }

    /// Marks the end of the top-level script; connections go back to the executor.
    pub fn leave(&self) {
        self.running.store(IDLE, Ordering::SeqCst);
        self.busy.store(false, Ordering::SeqCst);
        self.kill.store(KILL_NONE, Ordering::SeqCst);
    }

    /// Called by the hook once the script has run past the threshold. Returns true the first
    /// time, so the caller wakes the clients waiting on the executor.
    pub fn set_busy(&self) -> bool {
        !self.busy.swap(true, Ordering::SeqCst)
    }

    /// Registers a connection (see [`Self::wake_waiting`]).
    pub fn connect(&self, id: u64, client: Arc<crate::engine::client::ClientShared>) {
        if let Ok(mut map) = self.connections.lock() {
            map.insert(id, client);
        }
    }

    /// Forgets a connection.
    pub fn disconnect(&self, id: u64) {
        if let Ok(mut map) = self.connections.lock() {
            map.remove(&id);
        }
    }

    /// Wakes every connection waiting on a request the executor has not started, so that it
    /// takes it back and answers `-BUSY`.
    pub fn wake_waiting(&self) {
        if let Ok(map) = self.connections.lock() {
            for client in map.values() {
                client.wake_for_busy();
            }
        }
    }

    /// Whether a script is past the threshold: connections answer for the server.
    pub fn is_busy(&self) -> bool {
        self.busy.load(Ordering::SeqCst)
    }

    /// Records that the running script wrote (it can no longer be killed by SCRIPT KILL).
    pub fn set_wrote(&self) {
        self.wrote.store(true, Ordering::Relaxed);
    }

    /// Whether the running script wrote.
    pub fn has_written(&self) -> bool {
        self.wrote.load(Ordering::Relaxed)
    }

    /// Whether a kill was requested; checked by the instruction hook.
    pub fn kill_requested(&self) -> bool {
        self.kill.load(Ordering::Relaxed) != KILL_NONE
    }

    /// `SCRIPT KILL` (`eval`) or `FUNCTION KILL`, with Redis's replies.
    pub fn kill(&self, eval: bool) -> Reply {
        let running = self.running.load(Ordering::SeqCst);
        if running == IDLE {
            return Reply::error(NOTBUSY);
        }
        if self.wrote.load(Ordering::SeqCst) {
            return Reply::error(UNKILLABLE);
        }
        if eval && running != EVAL {
            return Reply::error(BUSY_FUNCTION);
        }
        if !eval && running != FUNCTION {
            return Reply::error(BUSY_EVAL);
        }
        let _ =
            self.kill
                .compare_exchange(KILL_NONE, KILL_USER, Ordering::SeqCst, Ordering::SeqCst);
        Reply::ok()
    }

    /// Stops the running script whatever it did (`SHUTDOWN NOSAVE` while busy).
    pub fn kill_for_shutdown(&self) {
        self.kill.store(KILL_SHUTDOWN, Ordering::SeqCst);
    }

    /// The `-BUSY` error for the kind of script running.
    pub fn busy_error(&self) -> Reply {
        if self.running.load(Ordering::SeqCst) == FUNCTION {
            Reply::error(BUSY_FUNCTION)
        } else {
            Reply::error(BUSY_EVAL)
        }
    }

    /// Answers, for the server, the commands a connection took back from the executor while
    /// a script is busy (see [`BusyPlan`]): errors and `+OK`s are the same in RESP2 and RESP3.
    /// As in Redis, MULTI and DISCARD work, a command refused inside a transaction dooms it,
    /// and EXEC is refused, which discards the transaction; `client` records the transaction
    /// for the executor (see [`Engine::sync_busy_multi`]).
    pub fn answer(&self, plan: &BusyPlan, client: &ClientShared, out: &mut Vec<u8>) -> BusyOutcome {
        let mut specials = plan.specials.iter().peekable();
        for i in 0..plan.count {
            let kind = match specials.peek() {
                Some((at, kind)) if *at == i => {
                    specials.next();
                    Some(*kind)
                }
                _ => None,
            };
            let reply = match kind {
                Some(BusyKind::ScriptKill) => self.kill(true),
                Some(BusyKind::FunctionKill) => self.kill(false),
                Some(BusyKind::ShutdownNosave) => {
                    self.kill_for_shutdown();
                    return BusyOutcome::Shutdown;
                }
                Some(BusyKind::Quit) => {
                    Reply::ok().encode(crate::protocol::Protocol::Resp2, out);
                    return BusyOutcome::Close;
                }
                Some(BusyKind::Multi) => {
                    let state = client.multi_state();
                    if state & MULTI_OPEN != 0 {
                        Reply::error("ERR MULTI calls can not be nested")
                    } else {
                        client.set_multi_state(state | MULTI_OPEN | MULTI_SYNC);
                        Reply::ok()
                    }
                }
                Some(BusyKind::Discard) => {
                    if client.multi_state() & MULTI_OPEN != 0 {
                        client.set_multi_state(MULTI_RESET | MULTI_SYNC);
                        Reply::ok()
                    } else {
                        Reply::error("ERR DISCARD without MULTI")
                    }
                }
                Some(BusyKind::Exec) => {
                    // Redis's execCommandAbort: the transaction (if any) and the watches go.
                    client.set_multi_state(MULTI_RESET | MULTI_SYNC);
                    let busy = self.busy_error();
                    let why = match &busy {
                        Reply::Error(e) => e.to_string(),
                        _ => String::new(),
                    };
                    Reply::Error(
                        format!("EXECABORT Transaction discarded because of: {why}").into(),
                    )
                }
                None => {
                    let state = client.multi_state();
                    if state & MULTI_OPEN != 0 {
                        client.set_multi_state(state | MULTI_DIRTY | MULTI_SYNC);
                    }
                    self.busy_error()
                }
            };
            reply.encode(crate::protocol::Protocol::Resp2, out);
        }
        BusyOutcome::Answered
    }
}

/// Commands the connection treats specially while the server is busy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BusyKind {
    /// `SCRIPT KILL`.
    ScriptKill,
    /// `FUNCTION KILL`.
    FunctionKill,
    /// `SHUTDOWN ... NOSAVE ...`.
    ShutdownNosave,
    /// `QUIT`.
    Quit,
    /// `MULTI`.
    Multi,
    /// `EXEC`.
    Exec,
    /// `DISCARD`.
    Discard,
}

/// What a connection remembers of a request it hands to the executor, enough to answer it
/// itself if it takes it back while a script is busy: how many commands, and where the few
/// that are not answered with `-BUSY` are. Redis also lets AUTH, HELLO, WATCH and UNWATCH
/// through while busy; here they get `-BUSY` like the rest.
#[derive(Debug, Default)]
pub struct BusyPlan {
    count: usize,
    specials: Vec<(usize, BusyKind)>,
}

impl BusyPlan {
    /// The plan for a pipeline (cheap: the first argument's length rules most out).
    pub fn of(commands: &[Vec<Bytes>]) -> Self {
        let mut specials = Vec::new();
        for (i, argv) in commands.iter().enumerate() {
            if let Some(kind) = busy_kind(argv) {
                specials.push((i, kind));
            }
        }
        BusyPlan {
            count: commands.len(),
            specials,
        }
    }
}

fn busy_kind(argv: &[Bytes]) -> Option<BusyKind> {
    let name = argv.first()?;
    if !matches!(name.len(), 4..=8) {
        return None;
    }
    let is = |i: usize, word: &str| {
        argv.get(i)
            .is_some_and(|a| a.eq_ignore_ascii_case(word.as_bytes()))
    };
    if argv.len() == 2 && is(1, "kill") {
        if is(0, "script") {
            return Some(BusyKind::ScriptKill);
        }
        if is(0, "function") {
            return Some(BusyKind::FunctionKill);
        }
    }
    if is(0, "shutdown") && argv[1..].iter().any(|a| a.eq_ignore_ascii_case(b"nosave")) {
        return Some(BusyKind::ShutdownNosave);
    }
    if argv.len() == 1 {
        for (word, kind) in [
            ("quit", BusyKind::Quit),
            ("multi", BusyKind::Multi),
            ("exec", BusyKind::Exec),
            ("discard", BusyKind::Discard),
        ] {
            if is(0, word) {
                return Some(kind);
            }
        }
    }
    None
}

impl Engine {
    /// Takes up what the client's connection did to its transaction while a script was busy
    /// (see [`ScriptGate::answer`]); called before each of its requests runs, at the cost of
    /// one atomic load when nothing happened.
    pub(crate) fn sync_busy_multi(&mut self, client: &mut ClientState) {
        let state = client.shared.multi_state();
        if state & MULTI_SYNC == 0 {
            return;
        }
        if state & MULTI_RESET != 0 {
            client.multi = None;
            self.keyspace.watches_mut().unwatch_all(client.id);
        }
        if state & MULTI_OPEN != 0 {
            let multi = client.multi.get_or_insert_with(Multi::default);
            multi.aborted |= state & MULTI_DIRTY != 0;
        }
        client
            .shared
            .set_multi_state(state & (MULTI_OPEN | MULTI_DIRTY));
    }
}

/// What [`ScriptGate::answer`] did.
pub enum BusyOutcome {
    /// Every command was answered.
    Answered,
    /// `SHUTDOWN NOSAVE` stopped the script; it must now reach the executor.
    Shutdown,
    /// QUIT: close after writing.
    Close,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::from(w.to_string())).collect()
    }

    fn answer(gate: &ScriptGate, commands: &[Vec<Bytes>]) -> (Vec<u8>, &'static str) {
        let mut out = Vec::new();
        let client = ClientShared::new(true);
        let outcome = match gate.answer(&BusyPlan::of(commands), &client, &mut out) {
            BusyOutcome::Answered => "answered",
            BusyOutcome::Shutdown => "shutdown",
            BusyOutcome::Close => "close",
        };
        (out, outcome)
    }

    #[test]
    fn busy_answers_and_kill_rules() {
        let gate = ScriptGate::default();
        assert_eq!(gate.kill(true), Reply::error(NOTBUSY));
        gate.enter(false);
        assert!(gate.set_busy());
        assert!(!gate.set_busy());
        let (out, outcome) = answer(
            &gate,
            &[
                argv(&["GET", "k"]),
                argv(&["function", "KILL"]),
                argv(&["script", "kill"]),
            ],
        );
        assert_eq!(outcome, "answered");
        let text = String::from_utf8(out).expect("utf8");
        assert_eq!(
            text,
            format!("-{BUSY_EVAL}\r\n-{BUSY_EVAL}\r\n+OK\r\n"),
            "GET is refused, FUNCTION KILL does not apply to EVAL, SCRIPT KILL does"
        );
        assert!(gate.kill_requested());
        gate.leave();
        assert!(!gate.is_busy() && !gate.kill_requested());

        gate.enter(true);
        gate.set_wrote();
        assert_eq!(gate.kill(false), Reply::error(UNKILLABLE));
        let (_, outcome) = answer(&gate, &[argv(&["SHUTDOWN", "NOSAVE"]), argv(&["PING"])]);
        assert_eq!(outcome, "shutdown");
        assert!(gate.kill_requested());
        let (out, outcome) = answer(&gate, &[argv(&["QUIT"])]);
        assert_eq!((out.as_slice(), outcome), (&b"+OK\r\n"[..], "close"));
        gate.leave();
    }
}
