//! The state the executor owns (keyspace, clients, configuration, statistics) and the dispatch
//! of one command: lookup, arity, authentication, handler, statistics.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;

pub mod blocked;
pub mod bus;
pub mod busy;
pub mod client;
pub mod extensions;
pub mod info;
pub mod notify;
pub mod pubsub;
pub mod replies;
pub mod table;

use crate::config::Config;
use crate::events::class;
use crate::keyspace::{now_ms, Keyspace};
use crate::protocol::{Protocol, Reply};
use crate::storage::StoreError;
pub use bus::{EventHandler, KeyEvents, SubscriptionId};
use client::{ClientId, ClientState};
pub use extensions::Extensions;
pub use info::{InfoId, InfoProviders, InfoWriter};
use pubsub::PubSub;
use table::{flags, Command, CommandTable};

/// Time the active expiry may take per cron run (a quarter of the 100 ms period).
const ACTIVE_EXPIRE_BUDGET: std::time::Duration = std::time::Duration::from_millis(25);

/// Settings and counters shared between the network tasks and the executor. Settings that
/// CONFIG SET may change are atomics, read by connections on every use.
#[derive(Debug)]
pub struct SharedState {
    /// proto-max-bulk-len.
    pub proto_max_bulk_len: AtomicU64,
    /// client-query-buffer-limit.
    pub client_query_buffer_limit: AtomicU64,
    /// Idle timeout in seconds (0 = none).
    pub timeout: AtomicU64,
    /// maxclients.
    pub maxclients: AtomicU64,
    /// tcp-keepalive in seconds.
    pub tcp_keepalive: AtomicU64,
    /// Connected clients.
    pub connected_clients: AtomicUsize,
    /// Connections accepted since start (or RESETSTAT).
    pub total_connections: AtomicU64,
    /// Connections refused by maxclients.
    pub rejected_connections: AtomicU64,
    /// Bytes read from clients.
    pub net_input_bytes: AtomicU64,
    /// Bytes written to clients.
    pub net_output_bytes: AtomicU64,
    /// Next client ID.
    pub next_client_id: AtomicU64,
    /// Set once shutdown has begun.
    pub shutting_down: AtomicBool,
    /// Ports actually bound (port 0 resolves to an ephemeral one).
    pub tcp_port: AtomicU64,
    /// Whether new clients must authenticate (requirepass is set); CONFIG SET changes it.
    pub auth_required: AtomicBool,
    /// The running script, for the connections that answer `-BUSY` while it runs long.
    pub scripts: crate::engine::busy::ScriptGate,
    /// Whether the executor shares the runtime's worker thread with the connections
    /// (`server.io_threads = 1`): then a script turning busy must hand them to another
    /// thread, with [`Self::on_busy`].
    pub inline_executor: AtomicBool,
    /// Installed by the server: called when a script turns busy, so that the connections
    /// can answer `-BUSY` while the executor is inside the script.
    pub on_busy: std::sync::OnceLock<fn(&SharedState)>,
}

impl SharedState {
    /// Shared state initialised from the configuration.
    pub fn new(config: &Config) -> Self {
        let s = &config.server;
        SharedState {
            proto_max_bulk_len: AtomicU64::new(s.proto_max_bulk_len.0),
            client_query_buffer_limit: AtomicU64::new(s.client_query_buffer_limit.0),
            timeout: AtomicU64::new(s.timeout),
            maxclients: AtomicU64::new(s.maxclients as u64),
            tcp_keepalive: AtomicU64::new(s.tcp_keepalive),
            connected_clients: AtomicUsize::new(0),
            total_connections: AtomicU64::new(0),
            rejected_connections: AtomicU64::new(0),
            net_input_bytes: AtomicU64::new(0),
            net_output_bytes: AtomicU64::new(0),
            next_client_id: AtomicU64::new(1),
            shutting_down: AtomicBool::new(false),
            tcp_port: AtomicU64::new(s.port as u64),
            auth_required: AtomicBool::new(!s.requirepass.is_empty()),
            scripts: crate::engine::busy::ScriptGate::default(),
            inline_executor: AtomicBool::new(false),
            on_busy: std::sync::OnceLock::new(),
        }
    }

    /// Copies the settings CONFIG SET can change into the atomics.
    pub fn apply(&self, config: &Config) {
        let s = &config.server;
        self.proto_max_bulk_len
            .store(s.proto_max_bulk_len.0, Ordering::Relaxed);
        self.client_query_buffer_limit
            .store(s.client_query_buffer_limit.0, Ordering::Relaxed);
        self.timeout.store(s.timeout, Ordering::Relaxed);
        self.maxclients
            .store(s.maxclients as u64, Ordering::Relaxed);
        self.tcp_keepalive.store(s.tcp_keepalive, Ordering::Relaxed);
        self.auth_required
            .store(!s.requirepass.is_empty(), Ordering::Release);
    }
}

/// Per-command counters (INFO commandstats).
#[derive(Clone, Copy, Debug, Default)]
pub struct CommandStats {
    /// Executions.
    pub calls: u64,
    /// Total microseconds spent.
    pub usec: u64,
    /// Refused before running (arity, auth, ...).
    pub rejected_calls: u64,
    /// Ran and replied with an error.
    pub failed_calls: u64,
}

/// Server-wide counters kept by the executor.
#[derive(Clone, Debug, Default)]
pub struct ServerStats {
    /// Commands processed.
    pub commands_processed: u64,
    /// Error replies sent.
    pub error_replies: u64,
    /// Error replies by error code (the first word), for INFO errorstats.
    pub errors_by_code: BTreeMap<String, u64>,
    /// Samples for instantaneous_ops_per_sec: (time, commands_processed).
    pub ops_sample: Option<(Instant, u64)>,
    /// Last computed instantaneous_ops_per_sec.
    pub instantaneous_ops: u64,
}

/// Changes the process's log level at run time (CONFIG SET loglevel); installed by the binary,
/// which owns the logging setup.
pub type LogLevelHook = Arc<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// Runs after every top-level command (a whole EXEC counting as one), once its key events are
/// delivered: the point where blocked clients are served, after the pushing command, the
/// transaction or the script has completed. Not run for the commands inside EXEC, nor for
/// [`Ctx::call`].
pub type AfterCommandHook = Box<dyn FnMut(&mut Engine) + Send>;

/// Identifies an after-command hook, for [`Engine::remove_after_command`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HookId(u64);

/// Everything the executor owns.
pub struct Engine {
    /// The keyspace and its store.
    pub(crate) keyspace: Keyspace,
    /// Effective configuration (CONFIG SET changes it).
    pub(crate) config: Config,
    /// The TOML file the configuration came from (CONFIG REWRITE writes it).
    pub(crate) config_file: Option<PathBuf>,
    /// The command table.
    pub(crate) commands: CommandTable,
    /// Connected clients other than the one whose command is running.
    /// (Boxed in a hash map: the executor takes the running client out and puts it back on
    /// every request; CLIENT LIST sorts by ID itself.)
    pub(crate) clients: HashMap<ClientId, Box<ClientState>, ahash::RandomState>,
    /// State shared with the network side.
    pub(crate) shared: Arc<SharedState>,
    /// Server counters.
    pub(crate) stats: ServerStats,
    /// Counters per command, indexed by [`Command::stats_index`].
    pub(crate) command_stats: Vec<CommandStats>,
    /// When the server started.
    pub(crate) started: Instant,
    /// Unix time of start, seconds.
    pub(crate) started_unix: u64,
    /// Set by SHUTDOWN: the executor stops after the current batch.
    pub(crate) shutdown_requested: bool,
    /// Unix milliseconds of the last successful commit (INFO persistence).
    pub(crate) last_commit_ms: i64,
    /// Whether the last commit failed.
    pub(crate) last_commit_failed: bool,
    /// Applies a new log level, when the binary supports changing it.
    pub(crate) log_level_hook: Option<LogLevelHook>,
    /// The key-event bus.
    pub(crate) events: KeyEvents,
    /// State of the layers above: the Lua host, the plugin registry, plugins' own state.
    pub(crate) extensions: Extensions,
    /// INFO fields and sections contributed from above.
    pub(crate) info: InfoProviders,
    /// Runs closures on the executor from other threads (installed by the server).
    pub(crate) poster: Option<Poster>,
    /// Pub/Sub subscriptions and delivery.
    pub(crate) pubsub: PubSub,
    /// Hooks run after every top-level command (see [`AfterCommandHook`]).
    after_command: Vec<(HookId, AfterCommandHook)>,
    next_hook: u64,
    /// Set while EXEC runs its queued commands.
    pub(crate) in_exec: bool,
    /// Set while a Lua script, function or script-defined command runs (blocking commands
    /// do not block then, as inside EXEC).
    pub(crate) in_script: bool,
    /// Replies of the current batch, held until it commits (kept here so that a script
    /// turning busy can release those that need no commit).
    pub(crate) held_replies: Vec<replies::Pending>,
    /// Clients parked by a blocking command (see [`crate::engine::blocked`]).
    pub(crate) blocked: crate::engine::blocked::BlockedClients,
    /// The bus subscription of keyspace notifications, if enabled.
    pub(crate) notify_subscription: Option<SubscriptionId>,
    last_cron: Instant,
}

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
        self.call_command(&cmd, argv)
    }

    /// [`Self::call`] for a command already resolved and checked by the caller (scripts,
    /// which refuse commands with Redis's own texts).
    pub fn call_command(&mut self, cmd: &Arc<Command>, argv: &[Bytes]) -> Reply {
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
        let usec = started.elapsed().as_micros() as u64;
        let stats = self.engine.stats_for(cmd);
        stats.calls += 1;
        stats.usec += usec;
        if reply.is_error() {
            stats.failed_calls += 1;
        }
        reply
    }
}

impl Engine {
    /// A new engine over `keyspace`, dispatching to `commands` (the layers above add theirs:
    /// see `server::new_engine`).
    pub fn new(
        keyspace: Keyspace,
        config: Config,
        config_file: Option<PathBuf>,
        shared: Arc<SharedState>,
        commands: CommandTable,
    ) -> Self {
        let command_stats = vec![CommandStats::default(); commands.stats_slots()];
        let mut engine = Engine {
            keyspace,
            config,
            config_file,
            commands,
            clients: HashMap::default(),
            shared,
            stats: ServerStats::default(),
            command_stats,
            started: Instant::now(),
            started_unix: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            shutdown_requested: false,
            last_commit_ms: now_ms(),
            last_commit_failed: false,
            log_level_hook: None,
            events: KeyEvents::default(),
            extensions: Extensions::default(),
            info: InfoProviders::default(),
            poster: None,
            pubsub: PubSub::default(),
            after_command: Vec::new(),
            next_hook: 0,
            in_exec: false,
            in_script: false,
            held_replies: Vec::new(),
            blocked: crate::engine::blocked::BlockedClients::default(),
            notify_subscription: None,
            last_cron: Instant::now(),
        };
        engine.pubsub.limits = engine.config.server.buffer_limits();
        engine.apply_notify_config();
        engine
    }

    /// Whether clients must authenticate.
    pub fn auth_required(&self) -> bool {
        !self.config.server.requirepass.is_empty()
    }

    fn stats_for(&mut self, cmd: &Command) -> &mut CommandStats {
        if cmd.stats_index >= self.command_stats.len() {
            self.command_stats
                .resize(cmd.stats_index + 1, CommandStats::default());
        }
        &mut self.command_stats[cmd.stats_index]
    }

    fn count_error(&mut self, reply: &Reply) {
        if let Reply::Error(msg) = reply {
            self.stats.error_replies += 1;
            let code = msg.split(' ').next().unwrap_or("ERR").to_string();
            *self.stats.errors_by_code.entry(code).or_insert(0) += 1;
        }
    }

    fn reject(&mut self, cmd: Option<&Command>, reply: Reply) -> Reply {
        if let Some(cmd) = cmd {
            self.stats_for(cmd).rejected_calls += 1;
        }
        self.count_error(&reply);
        reply
    }

    /// Resolves `argv` to the command (or subcommand) that will run, or the error Redis gives.
    pub fn resolve(&self, argv: &[Bytes]) -> Result<Arc<Command>, (Option<Arc<Command>>, Reply)> {
        let Some(cmd) = self.commands.get(&argv[0]) else {
            return Err((None, unknown_command(argv)));
        };
        if cmd.subcommands.is_empty() || argv.len() < 2 {
            if !cmd.arity_ok(argv.len()) {
                return Err((Some(Arc::clone(cmd)), err_arity(&cmd.name)));
            }
            return Ok(Arc::clone(cmd));
        }
        let Some(sub) = cmd.subcommand(&argv[1]) else {
            let msg = format!(
                "ERR unknown subcommand '{}'. Try {} HELP.",
                &truncate(&argv[1], 128),
                cmd.name.to_ascii_uppercase()
            );
            return Err((Some(Arc::clone(cmd)), Reply::Error(msg.into())));
        };
        if !sub.arity_ok(argv.len()) {
            return Err((Some(Arc::clone(sub)), err_arity(&sub.name)));
        }
        Ok(Arc::clone(sub))
    }

    /// Runs one command for `client` and returns its reply: the top-level entry, which
    /// applies RESP2 subscribed mode and MULTI queueing, then runs the after-command hooks.
    pub fn execute(&mut self, client: &mut ClientState, argv: &[Bytes]) -> Reply {
        if argv.is_empty() {
            return Reply::error("ERR empty command");
        }
        // One clock reading serves the idle time, the command's duration and nothing else: on
        // small commands clock reads are a visible share of the executor's time.
        let started = Instant::now();
        client.last_interaction = started;
        let cmd = match self.resolve(argv) {
            Ok(cmd) => cmd,
            Err((cmd, reply)) => return self.refuse(client, cmd.as_deref(), reply),
        };
        if !client.authenticated && !cmd.has(flags::NO_AUTH) {
            let reply = Reply::error("NOAUTH Authentication required.");
            return self.refuse(client, Some(&cmd), reply);
        }
        if client.protocol == Protocol::Resp2 && client.subscribed() && !allowed_subscribed(&cmd) {
            let reply = Reply::Error(
                format!(
                    "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / \
                     QUIT / RESET are allowed in this context",
                    cmd.name
                )
                .into(),
            );
            return self.refuse(client, Some(&cmd), reply);
        }
        if client.multi.is_some() && !is_transaction_control(&cmd) {
            if cmd.has(flags::NO_MULTI) {
                let reply = Reply::error("ERR Command not allowed inside a transaction");
                return self.refuse(client, Some(&cmd), reply);
            }
            if let Some(multi) = client.multi.as_mut() {
                // An aborted transaction keeps no commands, as Redis does.
                if !multi.aborted {
                    multi.commands.push(argv.to_vec());
                }
            }
            return Reply::Simple("QUEUED".into());
        }
        let reply = self.run_command(client, &cmd, argv, started);
        if client.subscribed() {
            // HELLO may have changed the protocol its pushes are encoded in.
            self.pubsub.set_protocol(client.id, client.protocol);
        }
        self.run_after_command();
        reply
    }

    /// Runs the [`AfterCommandHook`]s: after a top-level command, and after a closure a
    /// plugin ran on the executor (through the [`Poster`]), whose writes may also
    /// make data available to blocked clients.
    pub fn run_after_command(&mut self) {
        if !self.after_command.is_empty() {
            let mut hooks = std::mem::take(&mut self.after_command);
            for (_, hook) in hooks.iter_mut() {
                hook(self);
            }
            // Hooks added while running were pushed to the emptied list.
            hooks.append(&mut self.after_command);
            self.after_command = hooks;
        }
    }

    /// Adds an [`AfterCommandHook`]; remove it with [`Self::remove_after_command`].
    pub fn add_after_command(&mut self, hook: AfterCommandHook) -> HookId {
        self.next_hook += 1;
        let id = HookId(self.next_hook);
        self.after_command.push((id, hook));
        id
    }

    /// Removes an after-command hook; returns whether it existed.
    pub fn remove_after_command(&mut self, id: HookId) -> bool {
        let before = self.after_command.len();
        self.after_command.retain(|(h, _)| *h != id);
        self.after_command.len() != before
    }

    /// How many after-command hooks are installed.
    pub fn after_command_count(&self) -> usize {
        self.after_command.len()
    }

    /// Runs `f` as the client `id`, as if that client sent a command: its database, its
    /// identity, a fresh clock; the key events `f` causes are delivered afterwards. How a
    /// plugin serves a client it parked. `None` when the client is gone.
    pub fn run_as<R>(&mut self, id: ClientId, f: impl FnOnce(&mut Ctx<'_>) -> R) -> Option<R> {
        // The client leaves the table while it runs, as any running client does.
        let mut client = self.clients.remove(&id)?;
        if client.shared.is_killed() {
            self.clients.insert(id, client);
            return None;
        }
        let result = {
            let mut ctx = Ctx {
                engine: &mut *self,
                client: &mut client,
                now: now_ms(),
            };
            f(&mut ctx)
        };
        self.clients.insert(id, client);
        self.publish_events();
        Some(result)
    }

    /// The type of the live key `key` in `db` (`None` if it does not exist).
    pub fn key_type(
        &mut self,
        db: crate::storage::DbIndex,
        key: &[u8],
    ) -> Result<Option<crate::storage::ValueType>, StoreError> {
        Ok(self
            .keyspace
            .peek(db, key, now_ms())?
            .map(|k| k.entry.value.value_type()))
    }

    /// Subscribes `handler` to key events of `classes` (bits of [`crate::events::class`]) on
    /// keys matching the glob `pattern` (`None`: every key). A plugin that subscribes after
    /// its start unsubscribes in its `stop`.
    pub fn subscribe(
        &mut self,
        classes: u16,
        pattern: Option<Bytes>,
        handler: EventHandler,
    ) -> SubscriptionId {
        self.events.subscribe(classes, pattern, handler)
    }

    /// Removes a key-event subscription; returns whether it existed.
    pub fn unsubscribe(&mut self, id: SubscriptionId) -> bool {
        self.events.unsubscribe(id)
    }

    /// How many key-event subscriptions there are.
    pub fn subscription_count(&self) -> usize {
        self.events.subscriber_count()
    }

    /// State a plugin (or a layer above) keeps in the engine, by type.
    pub fn state<T: std::any::Any + Send>(&self) -> Option<&T> {
        self.extensions.get::<T>()
    }

    /// State a plugin keeps in the engine, mutably.
    pub fn state_mut<T: std::any::Any + Send>(&mut self) -> Option<&mut T> {
        self.extensions.get_mut::<T>()
    }

    /// Refuses a command before it runs; inside MULTI the refusal also dooms the transaction
    /// (and an EXEC refused so reports why, as Redis's execCommandAbort does).
    fn refuse(&mut self, client: &mut ClientState, cmd: Option<&Command>, reply: Reply) -> Reply {
        if cmd.is_some_and(|c| c.name == "exec") {
            // Redis's execCommandAbort: whether or not a transaction was open.
            if client.multi.take().is_some() {
                self.keyspace.watches_mut().unwatch_all(client.id);
            }
            let why = match &reply {
                Reply::Error(msg) => msg.strip_prefix("ERR ").unwrap_or(msg).to_string(),
                _ => String::new(),
            };
            let reply =
                Reply::Error(format!("EXECABORT Transaction discarded because of: {why}").into());
            return self.reject(cmd, reply);
        }
        if let Some(multi) = client.multi.as_mut() {
            multi.aborted = true;
        }
        self.reject(cmd, reply)
    }

    /// Runs a command queued by MULTI, at EXEC: resolved again (the table may have changed),
    /// with its statistics and key events as if sent alone, but no hooks.
    pub fn run_queued(&mut self, client: &mut ClientState, argv: &[Bytes]) -> Reply {
        let started = Instant::now();
        match self.resolve(argv) {
            Ok(cmd) => self.run_command(client, &cmd, argv, started),
            Err((cmd, reply)) => self.reject(cmd.as_deref(), reply),
        }
    }

    /// Runs a resolved command's handler, delivers its key events and counts it.
    fn run_command(
        &mut self,
        client: &mut ClientState,
        cmd: &Arc<Command>,
        argv: &[Bytes],
        started: Instant,
    ) -> Reply {
        if client.last_command != cmd.name {
            client.last_command.clear();
            client.last_command.push_str(&cmd.name);
        }
        let Some(handler) = cmd.handler.as_ref() else {
            return self.reject(Some(cmd), err_arity(&cmd.name));
        };
        let reply = {
            let mut ctx = Ctx {
                engine: self,
                client,
                now: now_ms(),
            };
            // A bug in one command (or a plugin's) must cost that client an error, not the
            // server its executor.
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(&mut ctx, argv)))
            {
                Ok(reply) => reply,
                Err(panic) => {
                    let what = panic_message(&*panic);
                    tracing::error!(command = %cmd.name, panic = %what, "command panicked");
                    Reply::Error(format!("ERR internal error in '{}': {what}", cmd.name).into())
                }
            }
        };
        self.publish_events();
        let usec = started.elapsed().as_micros() as u64;
        self.stats.commands_processed += 1;
        let failed = reply.is_error();
        let stats = self.stats_for(cmd);
        stats.calls += 1;
        stats.usec += usec;
        if failed {
            stats.failed_calls += 1;
            self.count_error(&reply);
        }
        reply
    }

    /// Forgets a client that disconnected: its subscriptions, watches, transaction and
    /// blocked command.
    pub fn client_gone(&mut self, id: ClientId) {
        self.unblock(id, crate::engine::blocked::Unblock::Gone);
        self.pubsub.remove_client(id);
        self.keyspace.watches_mut().unwatch_all(id);
    }

    /// Delivers the events of what just ran: the keyspace's own (expiry, `new`) first.
    pub fn publish_events(&mut self) {
        self.keyspace.set_want_new(self.events.wants(class::NEW));
        self.keyspace
            .set_want_keymiss(self.events.wants(class::KEY_MISS));
        if self.keyspace.has_events() {
            let events = self.keyspace.take_events();
            self.events.prepend(events);
        }
        if self.events.has_pending() {
            self.deliver_events();
        }
    }

    /// Zeroes the statistics (CONFIG RESETSTAT).
    pub fn reset_stats(&mut self) {
        self.stats = ServerStats::default();
        self.command_stats
            .iter_mut()
            .for_each(|s| *s = CommandStats::default());
        self.keyspace.reset_stats();
        for counter in [
            &self.shared.total_connections,
            &self.shared.rejected_connections,
            &self.shared.net_input_bytes,
            &self.shared.net_output_bytes,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
    }

    /// Runs [`Self::cron`] if it has not run for a tenth of a second: under a steady load the
    /// executor never idles long enough for its timer.
    pub fn cron_if_due(&mut self) {
        if self.last_cron.elapsed().as_millis() >= 100 {
            self.cron();
        }
    }

    /// Periodic work between batches (about ten times a second).
    pub fn cron(&mut self) {
        let now = Instant::now();
        self.last_cron = now;
        match self.stats.ops_sample {
            Some((at, count)) if now.duration_since(at).as_millis() >= 1000 => {
                let secs = now.duration_since(at).as_secs_f64();
                self.stats.instantaneous_ops =
                    ((self.stats.commands_processed - count) as f64 / secs) as u64;
                self.stats.ops_sample = Some((now, self.stats.commands_processed));
            }
            Some(_) => {}
            None => self.stats.ops_sample = Some((now, self.stats.commands_processed)),
        }
        self.active_expire();
    }

    /// Removes keys and fields whose TTL passed, within a quarter of the cron period, as
    /// Redis's active expire cycle does, and commits what it removed.
    fn active_expire(&mut self) {
        match self.keyspace.expire_cycle(now_ms(), ACTIVE_EXPIRE_BUDGET) {
            Ok(_) => {
                self.publish_events();
                if self.keyspace.has_pending() {
                    let _ = self.commit();
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "active expiry failed; its changes were rolled back");
                self.keyspace.rollback();
            }
        }
    }

    /// Commits the batch's writes. On failure the error is logged and returned.
    pub fn commit(&mut self) -> Result<(), StoreError> {
        match self.keyspace.commit() {
            Ok(()) => {
                self.last_commit_ms = now_ms();
                self.last_commit_failed = false;
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "commit failed; the batch's writes were rolled back");
                self.last_commit_failed = true;
                Err(e)
            }
        }
    }
}

/// The message of a caught panic.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Redis's arity error.
pub fn err_arity(name: &str) -> Reply {
    Reply::Error(format!("ERR wrong number of arguments for '{name}' command").into())
}

/// Runs a closure on the executor, between commands, from any thread; fails once the
/// executor has stopped.
pub type Poster = Arc<dyn Fn(Job) -> Result<(), ExecutorGone> + Send + Sync>;

/// Work for the executor, with the whole engine.
pub type Job = Box<dyn FnOnce(&mut Engine) + Send>;

/// The executor has stopped; the request was not delivered.
#[derive(Debug)]
pub struct ExecutorGone;

impl std::fmt::Display for ExecutorGone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the executor has stopped")
    }
}

impl std::error::Error for ExecutorGone {}

/// Commands a RESP2 client may send while subscribed.
fn allowed_subscribed(cmd: &Command) -> bool {
    matches!(
        cmd.name.as_str(),
        "subscribe"
            | "unsubscribe"
            | "psubscribe"
            | "punsubscribe"
            | "ssubscribe"
            | "sunsubscribe"
            | "ping"
            | "quit"
            | "reset"
    )
}

/// Commands that act on a transaction rather than being queued in it.
fn is_transaction_control(cmd: &Command) -> bool {
    matches!(
        cmd.name.as_str(),
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

fn truncate(b: &[u8], max: usize) -> String {
    String::from_utf8_lossy(&b[..b.len().min(max)]).into_owned()
}

fn unknown_command(argv: &[Bytes]) -> Reply {
    let mut args = String::new();
    for arg in &argv[1..] {
        if args.len() >= 128 {
            break;
        }
        let room = 128 - args.len();
        args.push('\'');
        args.push_str(&truncate(arg, room));
        args.push_str("' ");
    }
    Reply::Error(
        format!(
            "ERR unknown command '{}', with args beginning with: {}",
            &truncate(&argv[0], 128),
            &args
        )
        .into(),
    )
}
