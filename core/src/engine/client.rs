//! Per-connection state: what the executor knows of each client, and the small part the
//! connection task shares with it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::Notify;

use crate::protocol::Protocol;

/// Client identifier, unique for the life of the process (CLIENT ID).
pub type ClientId = u64;

/// State shared between a connection task and the executor.
#[derive(Debug, Default)]
pub struct ClientShared {
    /// Set, then notified, when the client must be closed (CLIENT KILL).
    killed: AtomicBool,
    kill: Notify,
    /// Whether the client passed AUTH; the parser applies tighter limits before that.
    authenticated: AtomicBool,
    /// Pushes (pub/sub messages) the executor queued for the connection to write.
    pub outbox: crate::engine::pubsub::Outbox,
    /// Sequence number of the request the connection has queued for the executor and not
    /// withdrawn (0 = none): while a script is busy the connection may take a queued request
    /// back and answer it itself, and the executor runs a request only if it claims it first.
    offered: AtomicU64,
    /// Woken when a script turns busy while this client waits on the executor.
    busy: Notify,
    /// The connection's buffers, as CLIENT LIST reports them.
    pub io: IoStats,
    /// The client's transaction as the connection sees it (`MULTI_*` bits): the executor
    /// keeps it current, and while a script is busy the connection answers MULTI, DISCARD and
    /// EXEC itself and flags the transaction of a command it refuses, for the executor to
    /// take up on the client's next request (see [`crate::engine::busy`]).
    multi: AtomicU8,
}

/// [`ClientShared`]'s transaction bits: a transaction is open (after MULTI).
pub const MULTI_OPEN: u8 = 1;
/// The open transaction had a command refused: EXEC answers EXECABORT.
pub const MULTI_DIRTY: u8 = 2;
/// The connection changed the state while a script was busy; the executor takes it up.
pub const MULTI_SYNC: u8 = 4;
/// The connection ended a transaction (DISCARD, EXEC) while a script was busy: the executor
/// drops the transaction it knew and the client's watched keys.
pub const MULTI_RESET: u8 = 8;

/// What a connection task reports of its buffers, for CLIENT LIST and the output buffer
/// limits: relaxed atomics, stored a few times per request by the connection and read by
/// the executor when it needs them.
#[derive(Debug, Default)]
pub struct IoStats {
    /// Bytes in the query buffer (`qbuf`).
    qbuf: AtomicU64,
    /// Bytes allocated for the query buffer (`qbuf` + `qbuf-free`).
    qbuf_alloc: AtomicU64,
    /// Bytes of the reply being written not yet taken by the socket (`obl`).
    obl: AtomicU64,
    /// Capacity of the reply buffer (`rbs`).
    rbs: AtomicU64,
    /// The largest reply since the peak was last reset (`rbp`).
    rbp: AtomicU64,
    /// Resizing the executor asks of the connection (`TRIM_*` bits).
    trim: AtomicU8,
}

/// [`IoStats`] trim request: resize the query buffer as Redis's clients cron does.
pub const TRIM_QUERY: u8 = 1;
/// [`IoStats`] trim request: the client is idle; free its empty query buffer.
pub const TRIM_IDLE: u8 = 2;
/// [`IoStats`] trim request: shrink the reply buffer to its recent peak.
pub const TRIM_REPLY: u8 = 4;

impl IoStats {
    /// The query buffer holds `len` bytes of an allocation of `alloc`.
    pub fn set_query_buffer(&self, len: usize, alloc: usize) {
        self.qbuf.store(len as u64, Ordering::Relaxed);
        self.qbuf_alloc.store(alloc as u64, Ordering::Relaxed);
    }

    /// `(qbuf, allocated)`.
    pub fn query_buffer(&self) -> (u64, u64) {
        (
            self.qbuf.load(Ordering::Relaxed),
            self.qbuf_alloc.load(Ordering::Relaxed),
        )
    }

    /// A reply of `len` bytes starts being written.
    pub fn reply_started(&self, len: usize) {
        self.obl.store(len as u64, Ordering::Relaxed);
        // Only the connection raises the peak (the executor resets it): no read-modify-write.
        if len as u64 > self.rbp.load(Ordering::Relaxed) {
            self.rbp.store(len as u64, Ordering::Relaxed);
        }
    }

    /// `left` bytes of the reply are still to be written.
    pub fn reply_left(&self, left: usize) {
        self.obl.store(left as u64, Ordering::Relaxed);
    }

    /// Unwritten bytes of the reply being written.
    pub fn reply_pending(&self) -> u64 {
        self.obl.load(Ordering::Relaxed)
    }

    /// The reply buffer's capacity is now `cap`.
    pub fn set_reply_capacity(&self, cap: usize) {
        self.rbs.store(cap as u64, Ordering::Relaxed);
    }

    /// `(rbs, rbp)`.
    pub fn reply_buffer(&self) -> (u64, u64) {
        (
            self.rbs.load(Ordering::Relaxed),
            self.rbp.load(Ordering::Relaxed),
        )
    }

    /// Starts the reply peak over (every few seconds, as Redis).
    pub fn reset_reply_peak(&self) {
        self.rbp.store(0, Ordering::Relaxed);
    }

    /// Asks the connection for the `TRIM_*` resizing in `bits`; returns whether a request was
    /// not already pending (then wake the connection).
    pub fn ask_trim(&self, bits: u8) -> bool {
        self.trim.fetch_or(bits, Ordering::AcqRel) == 0
    }

    /// The resizing asked for, cleared (0: none; one load when none is pending).
    pub fn take_trim(&self) -> u8 {
        if self.trim.load(Ordering::Relaxed) == 0 {
            return 0;
        }
        self.trim.swap(0, Ordering::AcqRel)
    }
}

/// [`ClientShared::offered`] once the executor has claimed the request.
const CLAIMED: u64 = u64::MAX;

impl ClientShared {
    /// A handle for a new connection.
    pub fn new(authenticated: bool) -> Self {
        ClientShared {
            killed: AtomicBool::new(false),
            kill: Notify::new(),
            authenticated: AtomicBool::new(authenticated),
            outbox: crate::engine::pubsub::Outbox::default(),
            offered: AtomicU64::new(0),
            busy: Notify::new(),
            io: IoStats::default(),
            multi: AtomicU8::new(0),
        }
    }

    /// The connection is about to queue request `seq` (never 0 or `u64::MAX`).
    pub fn offer(&self, seq: u64) {
        self.offered.store(seq, Ordering::SeqCst);
    }

    /// The connection takes request `seq` back; false if the executor already claimed it.
    pub fn withdraw(&self, seq: u64) -> bool {
        self.offered
            .compare_exchange(seq, 0, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// The executor takes request `seq` to run it; false if the connection withdrew it.
    pub fn claim(&self, seq: u64) -> bool {
        self.offered
            .compare_exchange(seq, CLAIMED, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// Wakes the connection if it waits on a request the executor has not claimed (a
    /// script just turned busy).
    pub fn wake_for_busy(&self) {
        let offered = self.offered.load(Ordering::SeqCst);
        if offered != 0 && offered != CLAIMED {
            self.busy.notify_one();
        }
    }

    /// Resolves after [`Self::wake_for_busy`] (possibly an earlier, stale one: check the
    /// script gate after waking).
    pub async fn busy_woken(&self) {
        self.busy.notified().await
    }

    /// The transaction bits (`MULTI_*`).
    pub fn multi_state(&self) -> u8 {
        self.multi.load(Ordering::Acquire)
    }

    /// Sets the transaction bits.
    pub fn set_multi_state(&self, bits: u8) {
        self.multi.store(bits, Ordering::Release);
    }

    /// Asks the connection task to close the connection.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.kill.notify_one();
    }

    /// Whether [`Self::kill`] was called.
    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }

    /// Resolves once [`Self::kill`] has been called.
    pub async fn killed(&self) {
        self.kill.notified().await
    }

    /// Whether the client is authenticated.
    pub fn is_authenticated(&self) -> bool {
        self.authenticated.load(Ordering::Acquire)
    }

    /// Records the authentication state.
    pub fn set_authenticated(&self, yes: bool) {
        self.authenticated.store(yes, Ordering::Release);
    }
}

/// CLIENT REPLY mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyMode {
    /// Every command gets its reply.
    On,
    /// No replies until CLIENT REPLY ON.
    Off,
    /// The next command's reply is dropped.
    Skip,
    /// The reply of the command after CLIENT REPLY SKIP is being dropped.
    SkipNext,
}

/// A transaction being queued (between MULTI and EXEC).
#[derive(Debug, Default)]
pub struct Multi {
    /// Queued commands, in order.
    pub commands: Vec<Vec<Bytes>>,
    /// A command was refused while queueing: EXEC must fail with EXECABORT.
    pub aborted: bool,
}

/// The executor's view of a client.
#[derive(Debug)]
pub struct ClientState {
    /// CLIENT ID.
    pub id: ClientId,
    /// Peer address.
    pub addr: SocketAddr,
    /// The socket's file descriptor (-1 for a client without one).
    pub fd: i64,
    /// Local address the client connected to.
    pub laddr: SocketAddr,
    /// CLIENT SETNAME.
    pub name: Option<Bytes>,
    /// CLIENT SETINFO LIB-NAME.
    pub lib_name: Option<Bytes>,
    /// CLIENT SETINFO LIB-VER.
    pub lib_ver: Option<Bytes>,
    /// Selected database.
    pub db: u32,
    /// Protocol chosen with HELLO.
    pub protocol: Protocol,
    /// Whether AUTH succeeded (or no password is required).
    pub authenticated: bool,
    /// CLIENT REPLY mode.
    pub reply_mode: ReplyMode,
    /// CLIENT NO-EVICT.
    pub no_evict: bool,
    /// CLIENT NO-TOUCH: the client's reads leave keys' access times alone (but TOUCH).
    pub no_touch: bool,
    /// CLIENT TRACKING mode, while on (see [`crate::engine::tracking`]).
    pub tracking: Option<crate::engine::tracking::ClientTracking>,
    /// When the connection was accepted.
    pub created: Instant,
    /// When the last command ran.
    pub last_interaction: Instant,
    /// Full name of the last command (`client|list`).
    pub last_command: String,
    /// Close the connection once the current replies are written (QUIT, CLIENT KILL of self).
    pub close_after_reply: bool,
    /// Since when the client's pending output is past its class's soft limit (see
    /// [`crate::engine::client_buffers`]).
    pub obuf_soft_since: Option<Instant>,
    /// Shared with the connection task.
    pub shared: std::sync::Arc<ClientShared>,
    /// Channels subscribed to (kept by the pub/sub registry).
    pub sub_channels: usize,
    /// Patterns subscribed to.
    pub sub_patterns: usize,
    /// Shard channels subscribed to.
    pub sub_shard: usize,
    /// The transaction being queued, after MULTI.
    pub multi: Option<Multi>,
    /// Parked by a blocking command (see [`crate::engine::blocked`]); the executor runs nothing
    /// more for it until it is released.
    pub blocked: bool,
    /// In MONITOR mode (see [`crate::engine::monitor`]).
    pub monitor: bool,
    /// The ACL user the client runs as (`default` until AUTH).
    pub user: std::sync::Arc<crate::engine::acl::user::User>,
}

impl ClientState {
    /// The client that work outside commands (plugins' background tasks, key-event handlers,
    /// timers, commit hooks) runs as: id 0, authenticated, in no transaction, not listed by
    /// CLIENT LIST.
    pub(crate) fn internal(db: crate::storage::DbIndex) -> ClientState {
        let nowhere = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
        let mut client = ClientState::new(
            0,
            nowhere,
            nowhere,
            true,
            std::sync::Arc::new(ClientShared::new(true)),
        );
        client.db = db;
        client
    }

    /// A client that just connected.
    pub fn new(
        id: ClientId,
        addr: SocketAddr,
        laddr: SocketAddr,
        authenticated: bool,
        shared: std::sync::Arc<ClientShared>,
    ) -> Self {
        let now = Instant::now();
        ClientState {
            id,
            addr,
            fd: -1,
            laddr,
            name: None,
            lib_name: None,
            lib_ver: None,
            db: 0,
            protocol: Protocol::Resp2,
            authenticated,
            reply_mode: ReplyMode::On,
            no_evict: false,
            no_touch: false,
            tracking: None,
            created: now,
            last_interaction: now,
            last_command: "NULL".to_string(),
            close_after_reply: false,
            obuf_soft_since: None,
            shared,
            sub_channels: 0,
            sub_patterns: 0,
            sub_shard: 0,
            multi: None,
            blocked: false,
            monitor: false,
            user: crate::engine::acl::unrestricted_default(),
        }
    }

    /// Whether the client has any pub/sub subscription (RESP2 subscribed mode, and the
    /// `pubsub` output buffer class).
    pub fn subscribed(&self) -> bool {
        self.sub_channels + self.sub_patterns + self.sub_shard > 0
    }

    /// Opens a transaction (MULTI).
    pub fn begin_multi(&mut self) {
        self.multi = Some(Multi::default());
        self.shared.set_multi_state(MULTI_OPEN);
    }

    /// Ends the transaction (EXEC, DISCARD, RESET), returning it if one was open.
    pub fn end_multi(&mut self) -> Option<Multi> {
        self.shared.set_multi_state(0);
        self.multi.take()
    }

    /// Dooms the open transaction, if any: EXEC will answer EXECABORT.
    pub fn abort_multi(&mut self) {
        if let Some(multi) = self.multi.as_mut() {
            multi.aborted = true;
            self.shared.set_multi_state(MULTI_OPEN | MULTI_DIRTY);
        }
    }

    /// Marks the client (un)authenticated, for the executor and the parser.
    pub fn set_authenticated(&mut self, yes: bool) {
        self.authenticated = yes;
        self.shared.set_authenticated(yes);
    }

    /// Memory of the queued transaction (`multi-mem`): its arguments and their handles.
    pub fn multi_mem(&self) -> usize {
        self.multi.as_ref().map_or(0, |m| {
            m.commands
                .iter()
                .map(|argv| argv_mem(argv) + std::mem::size_of_val(argv.as_slice()))
                .sum()
        })
    }

    /// The line CLIENT LIST and CLIENT INFO print for this client (without the newline), in
    /// Redis 7.0's order (then 7.2's `lib-name` and `lib-ver`). `argv_mem` is the size of the
    /// arguments of the command the client is running or blocked in.
    pub fn info_line(&self, now: Instant, argv_mem: usize) -> String {
        let name = self
            .name
            .as_ref()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default();
        let lib = |v: &Option<Bytes>| {
            v.as_ref()
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .unwrap_or_default()
        };
        // In Redis's order.
        let mut flags = String::new();
        if self.monitor {
            flags.push('O');
        }
        if self.subscribed() {
            flags.push('P');
        }
        if self.multi.is_some() {
            flags.push('x');
        }
        if self.blocked {
            flags.push('b');
        }
        if let Some(t) = &self.tracking {
            flags.push('t');
            if t.broken_redirect {
                flags.push('R');
            }
            if t.bcast {
                flags.push('B');
            }
        }
        if self.close_after_reply {
            flags.push('c');
        }
        if self.no_evict {
            flags.push('e');
        }
        if self.no_touch {
            flags.push('T');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        let io = &self.shared.io;
        let (qbuf, qbuf_alloc) = io.query_buffer();
        let (rbs, rbp) = io.reply_buffer();
        let obl = io.reply_pending();
        let oll = self.shared.outbox.pending_pushes();
        let omem = self.shared.outbox.pending_bytes();
        let multi_mem = self.multi_mem() as u64;
        let tot_mem = qbuf_alloc
            + argv_mem as u64
            + multi_mem
            + rbs
            + omem
            + (std::mem::size_of::<ClientState>() + std::mem::size_of::<ClientShared>()) as u64;
        let events = if obl + omem > 0 { "rw" } else { "r" };
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} \
             ssub={} multi={} qbuf={} qbuf-free={} argv-mem={} multi-mem={} rbs={} rbp={} obl={} \
             oll={} omem={} tot-mem={} events={} cmd={} user={} redir={} resp={} lib-name={} \
             lib-ver={}",
            self.id,
            self.addr,
            self.laddr,
            self.fd,
            name,
            now.duration_since(self.created).as_secs(),
            now.duration_since(self.last_interaction).as_secs(),
            flags,
            self.db,
            self.sub_channels,
            self.sub_patterns,
            self.sub_shard,
            self.multi.as_ref().map_or(-1, |m| m.commands.len() as i64),
            qbuf,
            qbuf_alloc.saturating_sub(qbuf),
            argv_mem,
            multi_mem,
            rbs,
            rbp,
            obl,
            oll,
            omem,
            tot_mem,
            events,
            self.last_command,
            self.user.name,
            self.tracking.as_ref().map_or(-1, |t| t.redirect as i64),
            match self.protocol {
                Protocol::Resp2 => 2,
                Protocol::Resp3 => 3,
            },
            lib(&self.lib_name),
            lib(&self.lib_ver),
        )
    }
}

/// Bytes of a command's arguments (CLIENT LIST `argv-mem`).
pub fn argv_mem(argv: &[Bytes]) -> usize {
    argv.iter().map(|a| a.len()).sum()
}
