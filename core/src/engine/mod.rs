//! The state the executor owns (keyspace, clients, configuration, statistics) and the dispatch
//! of one command: lookup, arity, authentication, handler, statistics.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;

pub mod acl;
pub mod blocked;
pub mod bus;
pub mod busy;
pub mod client;
mod client_buffers;
pub mod extensions;
pub mod info;
pub mod latency;
pub mod monitor;
pub mod notify;
pub mod pause;
pub mod pubsub;
pub mod replies;
pub mod slowlog;
pub(crate) mod snapshot;
pub mod table;
pub mod tracking;

mod clock;
mod ctx;
mod dispatch;
mod eviction;
pub(crate) use eviction::OOM_ERROR;
mod page_cache;
mod plugin_sql;
mod shared;
mod stats;

use crate::config::Config;
use crate::events::class;
use crate::keyspace::{now_ms, Keyspace};
use crate::storage::StoreError;
pub use bus::{EventHandler, KeyEvents, SubscriptionId};
use client::{ClientId, ClientState};
pub(crate) use ctx::call_depth;
pub use ctx::Ctx;
pub use dispatch::err_arity;
pub use extensions::Extensions;
pub use info::{InfoId, InfoProviders, InfoWriter};
use pubsub::PubSub;
pub use shared::SharedState;
pub use stats::{CommandStats, MemoryFigures, ServerStats};
use table::CommandTable;

/// Time the active expiry may take per cron run (a quarter of the 100 ms period).
const ACTIVE_EXPIRE_BUDGET: std::time::Duration = std::time::Duration::from_millis(25);

/// How long each cron may spend removing the rows of deleted collections.
const LAZYFREE_BUDGET: std::time::Duration = std::time::Duration::from_millis(10);

/// Changes the process's log level at run time (CONFIG SET loglevel); installed by the binary,
/// which owns the logging setup.
pub type LogLevelHook = Arc<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// Rebuilds the TLS setup from changed `[tls]` settings (CONFIG SET tls-*); installed by the
/// server when it serves TLS. The error says why the files could not be used.
pub type TlsReloadHook = Arc<dyn Fn(&crate::config::TlsConfig) -> Result<(), String> + Send + Sync>;

/// Runs after every top-level command (a whole EXEC counting as one), once its key events are
/// delivered: the point where blocked clients are served, after the pushing command, the
/// transaction or the script has completed. Not run for the commands inside EXEC, nor for
/// [`Ctx::call`].
pub type AfterCommandHook = Box<dyn FnMut(&mut Engine) + Send>;

/// Runs after every commit of the keyspace, with whether it succeeded: the point where what a
/// batch wrote is durable (and where a plugin publishes it to others), or was rolled back.
pub type CommitHook = Box<dyn FnMut(&mut Engine, bool) + Send>;

/// Runs when a client disconnects or sends RESET, before the core forgets it: where a plugin
/// drops the client's own subscriptions.
pub type ClientGoneHook = Box<dyn FnMut(&mut Engine, client::ClientId) + Send>;

/// Identifies an after-command, commit or client-gone hook, for [`Engine::remove_hook`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HookId(u64);

/// Everything the executor owns.
pub struct Engine {
    /// The keyspace and its store.
    pub(crate) keyspace: Keyspace,
    /// The wall clock commands see (`Ctx::now`).
    pub(crate) clock: clock::WallClock,
    /// When the last command that ran through `run_command` ended: the next command of the
    /// same pipeline starts then (see `Engine::execute`).
    pub(crate) last_ended: Option<std::time::Instant>,
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
    /// SAVE / BGSAVE state.
    pub(crate) snapshots: snapshot::Snapshots,
    /// Commits attempted so far, and the number of the last one that failed (0: none), for
    /// background writers that must know whether their batch reached the store.
    commit_attempts: u64,
    last_failed_commit: u64,
    /// Applies a new log level, when the binary supports changing it.
    pub(crate) log_level_hook: Option<LogLevelHook>,
    /// Applies changed TLS settings, when the server serves TLS.
    pub(crate) tls_reload_hook: Option<TlsReloadHook>,
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
    /// Hooks run after every commit (see [`CommitHook`]).
    after_commit: Vec<(HookId, CommitHook)>,
    /// Hooks run when a client goes (see [`ClientGoneHook`]).
    client_gone_hooks: Vec<(HookId, ClientGoneHook)>,
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
    /// Commands slower than `slowlog-log-slower-than` (SLOWLOG).
    pub(crate) slowlog: slowlog::SlowLog,
    /// The latency monitor and the commands' latency histograms (LATENCY).
    pub(crate) latency: latency::Latency,
    /// Whether the cron's active expiry runs (DEBUG SET-ACTIVE-EXPIRE).
    pub(crate) active_expire_enabled: bool,
    /// Over `maxmemory` with nothing left to evict when the current command started (see
    /// `eviction.rs`).
    oom_before_command: bool,
    /// The bus subscription of keyspace notifications, if enabled.
    pub(crate) notify_subscription: Option<SubscriptionId>,
    /// CLIENT PAUSE in force, and the clients it holds.
    pub(crate) pause: pause::Pause,
    /// Flags of commands whose flags depend on their arguments (installed by the Lua host).
    pub(crate) call_flags_hook: Option<pause::CallFlagsHook>,
    /// Clients in MONITOR mode.
    pub(crate) monitors: monitor::Monitors,
    /// Client-side caching: the tracking table and BCAST prefixes.
    pub(crate) tracking: tracking::Tracking,
    /// ACL users and the ACL log.
    pub(crate) acl: acl::Acl,
    /// When the clients' buffers were last looked at.
    clients_cron: client_buffers::ClientsCron,
    last_cron: Instant,
    /// What SQLite's page cache was last given (see `page_cache.rs`).
    pub(crate) page_cache_bytes: u64,
}

impl Engine {
    /// A new engine over `keyspace`, dispatching to `commands` (the layers above add theirs:
    /// see `server::new_engine`).
    pub(crate) fn new(
        keyspace: Keyspace,
        config: Config,
        config_file: Option<PathBuf>,
        shared: Arc<SharedState>,
        commands: CommandTable,
    ) -> Self {
        let command_stats = vec![CommandStats::default(); commands.stats_slots()];
        // What the server gave SQLite's page cache when it opened the store.
        let page_cache_bytes = config.storage.page_cache_budget();
        let mut engine = Engine {
            clock: clock::WallClock::new(),
            last_ended: None,
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
            snapshots: snapshot::Snapshots::default(),
            commit_attempts: 0,
            last_failed_commit: 0,
            log_level_hook: None,
            tls_reload_hook: None,
            events: KeyEvents::default(),
            extensions: Extensions::default(),
            info: InfoProviders::default(),
            poster: None,
            pubsub: PubSub::default(),
            after_command: Vec::new(),
            after_commit: Vec::new(),
            client_gone_hooks: Vec::new(),
            next_hook: 0,
            in_exec: false,
            in_script: false,
            held_replies: Vec::new(),
            blocked: crate::engine::blocked::BlockedClients::default(),
            slowlog: slowlog::SlowLog::default(),
            latency: latency::Latency::default(),
            active_expire_enabled: true,
            oom_before_command: false,
            notify_subscription: None,
            pause: pause::Pause::default(),
            call_flags_hook: None,
            monitors: monitor::Monitors::default(),
            tracking: tracking::Tracking::default(),
            acl: acl::Acl::default(),
            clients_cron: client_buffers::ClientsCron::default(),
            last_cron: Instant::now(),
            page_cache_bytes,
        };
        engine.pubsub.limits = engine.config.server.buffer_limits();
        // Versions persist across restarts: changes since the last save count from here.
        engine.snapshots.changes_at_save = engine.keyspace.write_count();
        engine.apply_notify_config();
        engine.apply_latency_config();
        engine.apply_eviction_config();
        // `requirepass` is the default user's password until the users are loaded.
        engine.acl_requirepass_changed();
        engine
    }

    /// Applies `latency-monitor-threshold` and `latency-tracking` (at start and on CONFIG
    /// SET).
    pub(crate) fn apply_latency_config(&mut self) {
        let param = |name: &str| self.config.redis_param(name).unwrap_or_default();
        self.latency.threshold_ms = param("latency-monitor-threshold").parse().unwrap_or(0);
        self.latency.tracking = param("latency-tracking") != "no";
    }

    /// Records how long a piece of the executor's own work took, for the latency monitor.
    pub(crate) fn latency_sample(&mut self, event: &'static str, started: Instant) {
        if self.latency.monitoring() {
            let ms = started.elapsed().as_millis() as u64;
            self.latency.sample(event, ms, now_ms() / 1000);
        }
    }

    /// Feeds the latency monitor the store's background work: WAL checkpoints (their own
    /// thread) and writes held back by a full redo journal.
    fn latency_sample_store(&mut self, backpressure_before: u64) {
        if !self.latency.monitoring() {
            return;
        }
        let now = now_ms() / 1000;
        let store = self.keyspace.store_mut();
        let (checkpoints, last_ms) = store.checkpoint_stats();
        let waited = store
            .journal_stats()
            .map_or(0, |j| j.backpressure_ms.saturating_sub(backpressure_before));
        if checkpoints != self.latency.checkpoints_seen {
            self.latency.checkpoints_seen = checkpoints;
            self.latency.sample("checkpoint", last_ms, now);
        }
        if waited > 0 {
            self.latency.sample("backpressure", waited, now);
        }
    }

    /// Milliseconds writes have waited on the store's back-pressure so far, for the latency
    /// monitor (0 while it is off: the store's figures cost a pass over its queues, which
    /// a commit need not pay when nothing reads them).
    fn backpressure_ms(&self) -> u64 {
        if !self.latency.monitoring() {
            return 0;
        }
        self.keyspace
            .store_journal_stats()
            .map_or(0, |j| j.backpressure_ms)
    }

    /// Runs the [`AfterCommandHook`]s: after a top-level command, and after a closure a
    /// plugin ran on the executor (through the [`Poster`]), whose writes may also
    /// make data available to blocked clients.
    pub fn run_after_command(&mut self) {
        if !self.after_command.is_empty() {
            let mut hooks = std::mem::take(&mut self.after_command);
            for (_, hook) in hooks.iter_mut() {
                // A bug in a plugin's hook costs that run of the hook, not the executor.
                let ran =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(&mut *self)));
                if let Err(panic) = ran {
                    tracing::error!(panic = %panic_message(&*panic), "after-command hook panicked");
                }
            }
            // Hooks added while running were pushed to the emptied list.
            hooks.append(&mut self.after_command);
            self.after_command = hooks;
        }
    }

    /// Adds an [`AfterCommandHook`]; remove it with [`Self::remove_hook`].
    pub(crate) fn add_after_command(&mut self, hook: AfterCommandHook) -> HookId {
        self.next_hook += 1;
        let id = HookId(self.next_hook);
        self.after_command.push((id, hook));
        id
    }

    /// Removes an after-command, commit or client-gone hook; returns whether it existed.
    pub(crate) fn remove_hook(&mut self, id: HookId) -> bool {
        let before =
            self.after_command.len() + self.after_commit.len() + self.client_gone_hooks.len();
        self.after_command.retain(|(h, _)| *h != id);
        self.after_commit.retain(|(h, _)| *h != id);
        self.client_gone_hooks.retain(|(h, _)| *h != id);
        self.after_command.len() + self.after_commit.len() + self.client_gone_hooks.len() != before
    }

    /// Adds a [`CommitHook`]; remove it with [`Self::remove_hook`].
    pub(crate) fn add_after_commit(&mut self, hook: CommitHook) -> HookId {
        self.next_hook += 1;
        let id = HookId(self.next_hook);
        self.after_commit.push((id, hook));
        id
    }

    /// Adds a [`ClientGoneHook`]; remove it with [`Self::remove_hook`].
    pub(crate) fn add_client_gone(&mut self, hook: ClientGoneHook) -> HookId {
        self.next_hook += 1;
        let id = HookId(self.next_hook);
        self.client_gone_hooks.push((id, hook));
        id
    }

    fn run_after_commit(&mut self, committed: bool) {
        if self.after_commit.is_empty() {
            return;
        }
        let mut hooks = std::mem::take(&mut self.after_commit);
        for (_, hook) in hooks.iter_mut() {
            let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                hook(&mut *self, committed)
            }));
            if let Err(panic) = ran {
                tracing::error!(panic = %panic_message(&*panic), "commit hook panicked");
            }
        }
        hooks.append(&mut self.after_commit);
        self.after_commit = hooks;
    }

    /// How many after-command hooks are installed.
    #[cfg(test)]
    pub(crate) fn after_command_count(&self) -> usize {
        self.after_command.len()
    }

    /// How many commit and client-gone hooks are installed.
    #[cfg(test)]
    pub(crate) fn commit_and_gone_hook_count(&self) -> usize {
        self.after_commit.len() + self.client_gone_hooks.len()
    }

    /// How many commits the executor has attempted, and the number of the last that failed
    /// (0: none). Writes made now are in commit number `attempts + 1`: once `attempts` has
    /// passed that, they are stored unless `last failed` reached it (a failed commit rolls its
    /// whole batch back).
    pub fn commit_attempts(&self) -> (u64, u64) {
        (self.commit_attempts, self.last_failed_commit)
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
    #[cfg(test)]
    pub(crate) fn subscription_count(&self) -> usize {
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

    /// Forgets a client that disconnected: its subscriptions, watches, transaction and
    /// blocked command.
    pub(crate) fn client_gone(&mut self, id: ClientId) {
        if !self.client_gone_hooks.is_empty() {
            let mut hooks = std::mem::take(&mut self.client_gone_hooks);
            for (_, hook) in hooks.iter_mut() {
                let ran =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(&mut *self, id)));
                if let Err(panic) = ran {
                    tracing::error!(panic = %panic_message(&*panic), "client-gone hook panicked");
                }
            }
            hooks.append(&mut self.client_gone_hooks);
            self.client_gone_hooks = hooks;
        }
        self.unblock(id, crate::engine::blocked::Unblock::Gone);
        self.monitors.remove(id);
        self.pubsub.remove_client(id);
        self.keyspace.watches_mut().unwatch_all(id);
        self.tracking_client_gone(id);
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
        if !self.tracking.in_command() {
            // Inside a client's command its changes are handled when it ends (NOLOOP, and
            // its own messages after its reply).
            self.invalidate_changed(None);
        }
    }

    /// Zeroes the statistics (CONFIG RESETSTAT).
    pub(crate) fn reset_stats(&mut self) {
        self.stats = ServerStats::default();
        self.command_stats
            .iter_mut()
            .for_each(|s| *s = CommandStats::default());
        self.keyspace.reset_stats();
        self.latency.reset_histograms();
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
    pub(crate) fn cron_if_due(&mut self) {
        if self.last_cron.elapsed().as_millis() >= 100 {
            self.cron();
        }
    }

    /// Periodic work between batches (about ten times a second).
    pub(crate) fn cron(&mut self) {
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
        self.stats.memory();
        self.clients_cron(now);
        self.active_expire();
        self.evict_in_background();
        self.broadcast_tracking();
        self.lazy_free();
        if self.snapshots.poll() {
            // BGSAVE SCHEDULE asked for another one after the one that just ended.
            if let Err(e) = self.start_bgsave() {
                tracing::error!(error = %e, "the scheduled background save did not start");
            }
        }
        self.bgsave_at_save_points();
        self.flush_if_due();
        self.merge_journal();
        self.balance_page_cache();
    }

    /// Removes the rows of deleted collections for a few milliseconds, and commits that.
    fn lazy_free(&mut self) {
        match self.keyspace.reclaim(LAZYFREE_BUDGET) {
            Ok(false) => {}
            Ok(true) => {
                let _ = self.commit();
            }
            Err(e) => {
                tracing::error!(error = %e, "lazy free failed; will retry");
                self.keyspace.rollback();
            }
        }
    }

    /// Merges the storage's redo journal when its interval has passed and no batch wrote
    /// meanwhile (a batch's own commit merges when due). A failure is logged by the store and
    /// retried; nothing acknowledged is lost.
    fn merge_journal(&mut self) {
        let started = Instant::now();
        let backpressure = self.backpressure_ms();
        let _ = self.keyspace.store_mut().merge(false);
        self.latency_sample("merge", started);
        self.latency_sample_store(backpressure);
    }

    /// Makes every acknowledged write durable now: with `storage.durability =
    /// "write-behind"`, flushes the changes not yet committed (SAVE, WAITAOF, a plugin's
    /// flush command as `WB.FLUSH`); otherwise commits what the current batch wrote so far. A
    /// failed write-behind flush keeps its changes and is retried.
    pub fn flush_keyspace(&mut self) -> Result<(), StoreError> {
        if !self.keyspace.is_write_behind() {
            return if self.keyspace.has_pending() {
                self.commit()
            } else {
                Ok(())
            };
        }
        self.commit_attempts += 1;
        let result = self.keyspace.commit();
        match &result {
            Ok(()) => {
                self.last_commit_ms = now_ms();
                self.last_commit_failed = false;
            }
            Err(_) => {
                self.last_commit_failed = true;
                self.last_failed_commit = self.commit_attempts;
            }
        }
        result
    }

    /// Runs a write-behind flush whose interval passed while no batch ran.
    fn flush_if_due(&mut self) {
        if self.keyspace.flush_due(now_ms()) {
            let _ = self.flush_keyspace();
        }
    }

    /// Removes keys and fields whose TTL passed, within a quarter of the cron period, as
    /// Redis's active expire cycle does, and commits what it removed.
    fn active_expire(&mut self) {
        if self.paused() || !self.active_expire_enabled {
            // CLIENT PAUSE keeps the data set as it is, expiry included.
            return;
        }
        if self.keyspace.store_writes_refused().is_some() {
            // The store refuses writes (a failing disk): a cycle's commit would fail, and its
            // rollback rebuild the transaction from the whole journal, ten times a second.
            // Expired keys stay hidden from reads meanwhile.
            return;
        }
        let started = Instant::now();
        let cycle = self.keyspace.expire_cycle(now_ms(), ACTIVE_EXPIRE_BUDGET);
        self.latency_sample("expire-cycle", started);
        match cycle {
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

    /// Carries on evicting when a command's time budget ran out over `maxmemory` (Redis's
    /// evictionTimeProc), and commits what it removed.
    fn evict_in_background(&mut self) {
        if !self.keyspace.over_maxmemory() || self.paused() {
            return;
        }
        self.evict_now();
        if self.keyspace.has_pending() {
            let _ = self.commit();
        }
    }

    /// Commits the batch's writes. On failure the error is logged and returned.
    ///
    /// With write-behind the batch's writes are acknowledged as they are: this flushes only
    /// when a flush is due (its interval passed, or the dirty keys passed their limit, the
    /// executor then waiting for it), and never fails, since a failed flush keeps everything
    /// for the next attempt.
    pub(crate) fn commit(&mut self) -> Result<(), StoreError> {
        if self.keyspace.is_write_behind() {
            let now = now_ms();
            self.keyspace.note_unflushed(now);
            if self.keyspace.flush_due(now) {
                let started = Instant::now();
                let _ = self.flush_keyspace();
                self.latency_sample("write-behind-flush", started);
            }
            self.keyspace.trim_cache();
            self.run_after_commit(true);
            return Ok(());
        }
        self.commit_attempts += 1;
        let started = Instant::now();
        let backpressure = self.backpressure_ms();
        let committed = self.keyspace.commit();
        self.latency_sample("commit", started);
        self.latency_sample_store(backpressure);
        match committed {
            Ok(()) => {
                self.last_commit_ms = now_ms();
                self.last_commit_failed = false;
                self.run_after_commit(true);
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "commit failed; the batch's writes were rolled back");
                self.last_commit_failed = true;
                self.run_after_commit(false);
                self.last_failed_commit = self.commit_attempts;
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
