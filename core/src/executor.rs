//! The executor: the one owner of the [`Engine`], running every command one at a time, either
//! on a thread of its own ([`run`]) or as a task beside the connections on a single-threaded
//! runtime ([`run_task`]).
//!
//! It drains every request that is ready, runs them, commits the store once for the whole batch
//! (group commit), and only then releases the replies, so that with `durability = "commit"` a
//! client never sees a reply to a write that is not durable. Connections send a whole pipeline
//! as one request and get all its replies back as one buffer; a blocking command parks its
//! client and the rest of its pipeline (see [`crate::engine::blocked`]), whose replies follow on a
//! second channel once it is released.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::engine::blocked::Continuation;
use crate::engine::client::{ClientId, ClientState, ReplyMode};
use crate::engine::replies::Pending;
pub use crate::engine::replies::Response;
use crate::engine::table::Command;
use crate::engine::Engine;
pub use crate::engine::ExecutorGone;
use crate::protocol::Reply;

/// How often the executor runs its periodic work when idle.
const CRON_INTERVAL: Duration = Duration::from_millis(100);

/// Polls of the queue before the executor parks (see [`next_request`]).
const SPIN_POLLS: u32 = 256;

/// Upper bound of requests folded into one batch, so replies are not held back for long.
const MAX_BATCH_REQUESTS: usize = 512;

/// A message to the executor.
pub enum Request {
    /// A client connected.
    Connect(Box<ClientState>),
    /// Run a client's pipeline; the replies go back through `reply`.
    Run {
        /// The client.
        id: ClientId,
        /// The request's number, claimed with [`crate::engine::client::ClientShared::claim`] before it
        /// runs (the connection may have withdrawn it while a script was busy).
        seq: u64,
        /// The commands, in order.
        commands: Vec<Vec<Bytes>>,
        /// An empty buffer to encode the replies into (recycled by the connection).
        out: Vec<u8>,
        /// Where to send the replies.
        reply: oneshot::Sender<Response>,
    },
    /// A client disconnected.
    Disconnect(ClientId),
    /// The metrics endpoint asks for every INFO section.
    Metrics(oneshot::Sender<String>),
    /// Run a closure on the engine between commands (plugins' background tasks and timers,
    /// through [`crate::plugin::EngineHandle`]); its writes join the batch's commit.
    Call(Box<dyn FnOnce(&mut Engine) + Send>),
    /// Stop after the requests already queued.
    Shutdown,
}

/// Handle to send requests to the executor, whichever way it runs.
#[derive(Clone)]
pub enum ExecutorSender {
    /// To an executor on its own thread.
    Thread(Sender<Request>),
    /// To an executor task on the same (single) runtime thread as the connections.
    Task(tokio::sync::mpsc::UnboundedSender<Request>),
}

impl ExecutorSender {
    /// Queues a request for the executor.
    pub fn send(&self, req: Request) -> Result<(), ExecutorGone> {
        match self {
            ExecutorSender::Thread(tx) => tx.send(req).map_err(|_| ExecutorGone),
            ExecutorSender::Task(tx) => tx.send(req).map_err(|_| ExecutorGone),
        }
    }
}

/// Runs the executor on a dedicated thread until shutdown, then closes the store.
pub fn run(mut engine: Engine, rx: Receiver<Request>) {
    loop {
        let wait = match next_deadline(&engine) {
            Some(at) => at
                .saturating_duration_since(Instant::now())
                .min(CRON_INTERVAL),
            None => CRON_INTERVAL,
        };
        let first = match next_request(&rx, wait) {
            Ok(req) => Some(req),
            Err(RecvTimeoutError::Timeout) => {
                engine.cron_if_due();
                if !engine.blocked.has_ready()
                    && !engine.pause.backlogged()
                    && next_deadline(&engine).is_none_or(|at| at > Instant::now())
                {
                    continue;
                }
                // A blocked client's deadline or the pause's end passed, or writes are held
                // for the store: a batch of its own releases the clients (or asks again).
                None
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        if run_batch(&mut engine, first, || rx.try_recv().ok()) {
            break;
        }
        engine.cron_if_due();
    }
    drop(rx);
    close(engine);
}

/// Runs the executor as a task beside the connections on a single-threaded runtime (Redis's
/// model: no thread hand-off per request), until shutdown; then closes the store.
pub async fn run_task(mut engine: Engine, mut rx: tokio::sync::mpsc::UnboundedReceiver<Request>) {
    let mut cron = tokio::time::interval(CRON_INTERVAL);
    cron.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let deadline = next_deadline(&engine);
        let first = tokio::select! {
            req = rx.recv() => match req {
                Some(req) => Some(req),
                None => break,
            },
            _ = cron.tick() => {
                engine.cron();
                continue;
            }
            // A blocked client's deadline or the pause's end: a batch of its own releases
            // the clients.
            _ = sleep_until(deadline), if deadline.is_some() => None,
        };
        if first.is_some() {
            // Let the other connections that are ready queue their requests too, so they
            // share this batch and its commit.
            tokio::task::yield_now().await;
        }
        if run_batch(&mut engine, first, || rx.try_recv().ok()) {
            break;
        }
        engine.cron_if_due();
    }
    drop(rx);
    close(engine);
}

/// The earliest of the blocked clients' deadlines, the end of a CLIENT PAUSE and, while
/// writes are held for the store's backlog, the next time to ask whether it caught up.
fn next_deadline(engine: &Engine) -> Option<Instant> {
    let backlog = engine
        .pause
        .backlogged()
        .then(|| Instant::now() + crate::engine::pause::BACKLOG_POLL);
    [
        engine.blocked.next_deadline(),
        engine.pause.deadline(),
        backlog,
    ]
    .into_iter()
    .flatten()
    .min()
}

/// Sleeps until `deadline` (forever without one: the branch is disabled then).
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}

/// Runs `first` and the requests `more` yields (up to the batch limit), releases the blocked
/// clients whose deadline passed, commits, and releases the replies. Returns whether the
/// executor must stop.
fn run_batch(
    engine: &mut Engine,
    first: Option<Request>,
    mut more: impl FnMut() -> Option<Request>,
) -> bool {
    let mut stop = false;
    if engine.pause.deadline().is_some() {
        // A pause whose time is up releases the clients it held before anything else runs.
        engine.check_pause_end(Instant::now());
    }
    if engine.pause.backlogged() {
        // So does the end of the store's backlog.
        engine.check_write_backlog();
    }
    resume_released(engine);
    if let Some(first) = first {
        stop = handle(engine, first);
        resume_released(engine);
    }
    while !stop && engine.held_replies.len() < MAX_BATCH_REQUESTS {
        match more() {
            Some(req) => {
                stop = handle(engine, req);
                resume_released(engine);
            }
            None => break,
        }
    }
    if engine.blocked.with_deadline() > 0 {
        engine.fire_deadlines(Instant::now());
        resume_released(engine);
    }
    finish_batch(engine);
    stop || engine.shutdown_requested
}

/// Sends the released blocked clients their reply and runs the rest of their pipelines
/// (which may release others in turn, or block again).
fn resume_released(engine: &mut Engine) {
    while engine.blocked.has_ready() {
        for released in engine.blocked.take_ready() {
            let Some(cont) = released.cont else {
                continue;
            };
            let Some(mut client) = engine.clients.remove(&released.id) else {
                continue;
            };
            client.blocked = false;
            let mut p = Pending {
                reply: cont.reply,
                response: Response {
                    out: Vec::new(),
                    close: false,
                    more: None,
                },
                replies: 0,
                wrote: released.served,
                protocol: client.protocol,
                pushes: None,
            };
            if client.shared.outbox.has_data() {
                client.shared.outbox.take_into(&mut p.response.out);
            }
            if let Some(reply) = released.reply {
                emit_reply(&mut client, reply, &mut p);
            }
            let writes_before = engine.keyspace.write_count();
            run_pipeline(engine, client, cont.commands, cont.next, p, writes_before);
        }
    }
}

/// Commits the batch's writes, then releases its replies (replacing those of writers with an
/// error if the commit failed).
fn finish_batch(engine: &mut Engine) {
    // BCAST invalidations of the batch's changes go out with its replies.
    engine.broadcast_tracking();
    let mut pending = std::mem::take(&mut engine.held_replies);
    if engine.keyspace.has_pending() {
        if let Err(e) = engine.commit() {
            let err = Reply::Error(format!("ERR {e}; the write was not applied").into());
            for p in pending.iter_mut().filter(|p| p.wrote) {
                p.response.out.clear();
                for _ in 0..p.replies {
                    err.encode(p.protocol, &mut p.response.out);
                }
            }
        }
        // The next batch's writes are held while the store's background writes are behind.
        engine.check_write_backlog();
    } else {
        // Reads load keys into the cache too: a read-only batch must keep it in budget.
        engine.keyspace.trim_cache();
    }
    for mut p in pending.drain(..) {
        if let Some(shared) = &p.pushes {
            shared.outbox.take_into(&mut p.response.out);
        }
        // The connection may be gone; its reply is simply dropped.
        let _ = p.reply.send(p.response);
    }
    // Keeps the allocation for the next batch.
    engine.held_replies = pending;
}

/// Closes every connection and the store. Replies to requests still queued are dropped, so
/// their connections close.
fn close(mut engine: Engine) {
    // Plugins first: their stop hooks may still write, and the store commits on close.
    crate::plugin::stop_all(&mut engine);
    for (_, client) in std::mem::take(&mut engine.clients) {
        client.shared.kill();
    }
    match engine.keyspace.close() {
        Ok(()) => tracing::info!("store closed cleanly"),
        Err(e) => tracing::error!(error = %e, "closing the store failed"),
    }
}

/// Waits for the next request. Under load the next one is usually a few microseconds away, so
/// the executor polls briefly before parking: parking and being woken costs each sender a
/// system call, which is most of a small command's cost.
fn next_request(rx: &Receiver<Request>, wait: Duration) -> Result<Request, RecvTimeoutError> {
    for i in 0..SPIN_POLLS {
        match rx.try_recv() {
            Ok(req) => return Ok(req),
            Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                return Err(RecvTimeoutError::Disconnected)
            }
            Err(std::sync::mpsc::TryRecvError::Empty) => {
                if i % 16 == 15 {
                    std::thread::yield_now();
                } else {
                    std::hint::spin_loop();
                }
            }
        }
    }
    rx.recv_timeout(wait)
}

/// Handles one request; returns true when the executor must stop.
fn handle(engine: &mut Engine, req: Request) -> bool {
    match req {
        Request::Connect(mut client) => {
            engine.acl_connect(&mut client);
            engine.clients.insert(client.id, client);
        }
        Request::Disconnect(id) => {
            engine.clients.remove(&id);
            engine.client_gone(id);
        }
        Request::Shutdown => return true,
        Request::Metrics(reply) => {
            let text = crate::commands::server::info_everything(engine);
            let _ = reply.send(text);
        }
        Request::Call(f) => {
            f(engine);
            engine.publish_events();
            engine.run_after_command();
        }
        Request::Run {
            id,
            seq,
            commands,
            out,
            reply,
        } => {
            let Some(mut client) = engine.clients.remove(&id) else {
                // Killed between reading and running: nothing to run for it.
                let _ = reply.send(Response {
                    out,
                    close: true,
                    more: None,
                });
                return false;
            };
            if !client.shared.claim(seq) {
                // Answered by the connection while a script was busy.
                engine.clients.insert(id, client);
                return false;
            }
            let p = Pending {
                reply,
                response: Response {
                    out,
                    close: false,
                    more: None,
                },
                replies: 0,
                wrote: false,
                protocol: client.protocol,
                pushes: None,
            };
            engine.sync_busy_multi(&mut client);
            let writes_before = engine.keyspace.write_count();
            run_pipeline(engine, client, commands, 0, p, writes_before);
        }
    }
    false
}

/// Element names a pipeline's prefetch looks up at most (see [`run_pipeline`]): enough for
/// a deep pipeline of one-member commands, without a command of a million members going
/// through its names twice.
const PREFETCH_ELEMENTS: usize = 256;

/// Runs `commands[from..]` for `client` into `p`, until the end or a command that blocks (the
/// rest then waits in the client's continuation), and queues `p` for release with the batch.
fn run_pipeline(
    engine: &mut Engine,
    mut client: Box<ClientState>,
    commands: Vec<Vec<Bytes>>,
    from: usize,
    mut p: Pending,
    writes_before: u64,
) {
    let id = client.id;
    let mut blocked_at = None;
    // A pipeline of one command is looked up ahead too when that command is long (an MSET,
    // MGET or DEL of several keys, an HSET of several fields): its keys' lookups overlap as
    // a pipeline's do. (MSET of 10 random keys at -P 1 spent 15% of the executor in the
    // lookups, each a chain of misses waiting alone.)
    let long_command = commands.get(from).is_some_and(|argv| argv.len() > 4);
    if commands.len() > from + 1 || long_command {
        // Most commands' first argument is their key (for the others the lookup is wasted);
        // a long command may have more (MSET, MGET, DEL), which the table's key positions
        // give. A command with more than its key may name elements of a large collection
        // (HSET's field, SADD's member), which the table's element positions give. The table
        // is asked once per run of the same command name, and not for GET-like commands.
        // The keys and elements are gathered first: the lookups overlap only in a loop that
        // does nothing else.
        let table = &engine.commands;
        let mut keys: Vec<&[u8]> = Vec::with_capacity(commands.len() - from);
        let mut elements: Vec<(&[u8], &[u8])> = Vec::new();
        let mut last: Option<(&[u8], Option<&Command>)> = None;
        for argv in &commands[from..] {
            let n = argv.len();
            if n < 2 {
                continue;
            }
            if n == 2 {
                keys.push(&argv[1]);
                continue;
            }
            let cmd = match last {
                Some((name, cmd)) if name == &argv[0][..] => cmd,
                _ => {
                    let cmd = table.get(&argv[0]).map(|c| &**c);
                    last = Some((&argv[0], cmd));
                    cmd
                }
            };
            let Some(cmd) = cmd else { continue };
            if n <= 4 {
                keys.push(&argv[1]);
            } else {
                keys.extend(cmd.step_key_positions(n).map(|i| &argv[i][..]));
            }
            if cmd.first_key == 1 {
                let room = PREFETCH_ELEMENTS.saturating_sub(elements.len());
                let names = cmd.elements.positions(n).take(room);
                elements.extend(names.map(|i| (&argv[1][..], &argv[i][..])));
            }
        }
        engine
            .keyspace
            .prefetch(client.db, keys.into_iter(), &elements);
    }
    let mut ended = None;
    for (i, argv) in commands.iter().enumerate().skip(from) {
        let reply;
        (reply, ended) = engine.execute(&mut client, argv, ended);
        if client.shared.outbox.has_data() {
            // Pushes queued for this client so far (before or during the command) go
            // ahead of its reply, as Redis writes them.
            client.shared.outbox.take_into(&mut p.response.out);
        }
        if client.blocked {
            // The reply is a placeholder: the real one comes when the client is released;
            // a command held by a pause runs again then.
            blocked_at = Some(if engine.pause.holds(id) { i } else { i + 1 });
            break;
        }
        emit_reply(&mut client, reply, &mut p);
        // Invalidations for the client's own connection follow its reply, as in Redis.
        engine.tracking.take_pending_into(&mut p.response.out);
        if engine.output_limit_reached(&mut client, p.response.out.len()) {
            // Nothing of this request is sent: the client is closed, the rest of its
            // pipeline never runs (Redis's CLIENT_CLOSE_ASAP).
            p.response.out.clear();
            p.replies = 0;
            p.response.close = true;
            break;
        }
        if client.close_after_reply || engine.shutdown_requested {
            p.response.close = true;
            break;
        }
    }
    if let Some(next) = blocked_at {
        let (tx, rx) = oneshot::channel();
        p.response.more = Some(rx);
        engine.blocked.attach(
            id,
            Continuation {
                commands,
                next,
                reply: tx,
            },
        );
    }
    // A blocked command's own invalidations wait in the outbox.
    let mut left = Vec::new();
    engine.tracking.take_pending_into(&mut left);
    if !left.is_empty() {
        client.shared.outbox.push(&left);
    }
    p.protocol = client.protocol;
    if client.subscribed() || client.monitor {
        p.pushes = Some(std::sync::Arc::clone(&client.shared));
    }
    p.wrote |= engine.keyspace.write_count() != writes_before;
    if client.shared.is_killed() {
        p.response.close = true;
    }
    engine.clients.insert(id, client);
    engine.held_replies.push(p);
}

/// Encodes one command's reply as the client's CLIENT REPLY mode says. A push (the
/// confirmation of SUBSCRIBE and its kin) is never silenced, as in Redis 7.0; it still counts
/// as the command that CLIENT REPLY SKIP skips.
fn emit_reply(client: &mut ClientState, reply: Reply, p: &mut Pending) {
    let speak = match client.reply_mode {
        ReplyMode::On => true,
        ReplyMode::Off => false,
        // CLIENT REPLY SKIP itself is silent; the command after it is skipped.
        ReplyMode::Skip => {
            client.reply_mode = ReplyMode::SkipNext;
            false
        }
        ReplyMode::SkipNext => {
            client.reply_mode = ReplyMode::On;
            false
        }
    };
    if speak || matches!(reply, Reply::Push(_)) {
        reply.encode(client.protocol, &mut p.response.out);
        p.replies += 1;
    }
}
