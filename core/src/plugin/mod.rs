//! The plugin host: the [`Plugin`] API, the registry of loaded plugins, and their start and
//! stop.
//!
//! Two ways in, one shape. A built-in plugin is a crate linked into the binary that submits a
//! [`PluginFactory`] with `inventory::submit!`; `[plugins] enabled = [...]` decides which
//! start. A third-party plugin is a shared library built against `respite-plugin-sdk` and
//! loaded by [`dylib`] from `[[plugins.load]]` or `MODULE LOAD`. Both register their commands,
//! key-event subscriptions and background tasks through a [`Registrar`], so the registry can
//! remove all of it again on `MODULE UNLOAD` and at shutdown.

pub mod api;
pub mod cmd_module;
pub mod dylib;

use std::any::{Any, TypeId};
use std::future::Future;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde::de::DeserializeOwned;

pub use crate::config::{no_section, typed_section, ConfigCheck, PluginSection};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::config::ConfigError;
use crate::engine::client::{ClientShared, ClientState};
use crate::engine::pubsub::PublishRelay;
use crate::engine::table::{Command, CommandSpec, RegisterError};
use crate::engine::{
    AfterCommandHook, ClientGoneHook, CommitHook, Ctx, Engine, EventHandler, ExecutorGone, HookId,
    InfoId, InfoWriter, Poster, SubscriptionId,
};

/// A built-in plugin, started when `[plugins] enabled` names it.
///
/// `start` registers everything the plugin offers through the [`Registrar`]; the host undoes
/// all of it (commands, subscriptions, tasks, state) when the plugin stops, after calling
/// `stop`.
pub trait Plugin: Send {
    /// Registers the plugin's commands, subscriptions and tasks. An error stops the server's
    /// start-up (or fails `MODULE LOAD`), and whatever was registered is removed again.
    fn start(&mut self, reg: &mut Registrar<'_>) -> Result<(), PluginError>;

    /// Runs before the plugin's commands and subscriptions are removed (unload, shutdown);
    /// its tasks have not been asked to stop yet.
    fn stop(&mut self, _engine: &mut Engine) {}
}

/// What a built-in plugin crate registers, with [`crate::builtin_plugin!`]:
///
/// ```ignore
/// respite_core::builtin_plugin! {
///     name: "blocking",
///     version: env!("CARGO_PKG_VERSION"),
///     config: BlockingConfig,
///     create: || Box::new(Blocking),
/// }
/// ```
pub struct PluginFactory {
    /// The name used in `plugins.enabled`, `[plugins.NAME]`, `MODULE LIST`.
    pub name: &'static str,
    /// `MAJOR.MINOR.PATCH`.
    pub version: &'static str,
    /// Makes a fresh instance.
    pub create: fn() -> Box<dyn Plugin>,
}

inventory::collect!(PluginFactory);

/// Registers a built-in plugin: its factory for the plugin host and its `[plugins.NAME]`
/// section for the configuration loader (`config: ()` for a plugin without settings).
#[macro_export]
macro_rules! builtin_plugin {
    (name: $name:expr, version: $version:expr, config: (), create: $create:expr $(,)?) => {
        $crate::builtin_plugin!(@submit $name, $version, $crate::plugin::no_section, $create);
    };
    (name: $name:expr, version: $version:expr, config: $config:ty, create: $create:expr $(,)?) => {
        $crate::builtin_plugin!(@submit $name, $version, $crate::plugin::typed_section::<$config>, $create);
    };
    (@submit $name:expr, $version:expr, $check:expr, $create:expr) => {
        $crate::inventory::submit! {
            $crate::plugin::PluginFactory { name: $name, version: $version, create: $create }
        }
        $crate::inventory::submit! {
            $crate::plugin::PluginSection { name: $name, check: $check }
        }
    };
}

/// Every built-in plugin linked into this program, sorted by name.
pub fn builtin_plugins() -> Vec<&'static PluginFactory> {
    let mut all: Vec<_> = inventory::iter::<PluginFactory>.into_iter().collect();
    all.sort_by_key(|f| f.name);
    all
}

/// The built-in plugin called `name`.
pub fn find_builtin(name: &str) -> Option<&'static PluginFactory> {
    inventory::iter::<PluginFactory>
        .into_iter()
        .find(|f| f.name == name)
}

/// Why a plugin could not be loaded, started or unloaded.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The shared library could not be opened.
    #[error("cannot open {path}: {reason}")]
    Open {
        /// The path given.
        path: String,
        /// The loader's message.
        reason: String,
    },
    /// The library lacks the entry point.
    #[error(
        "{path} is not a Respite plugin: it does not export the symbol `respite_plugin_entry`"
    )]
    NoEntry {
        /// The path given.
        path: String,
    },
    /// The library was built for another ABI.
    #[error(
        "{path} was built for plugin ABI version {found}, but this server speaks version \
         {expected}; rebuild the plugin against a matching respite-plugin-sdk"
    )]
    AbiMismatch {
        /// The path given.
        path: String,
        /// The plugin's ABI version.
        found: u32,
        /// The host's.
        expected: u32,
    },
    /// The library's descriptor is malformed.
    #[error("{path}: invalid plugin descriptor: {reason}")]
    BadDescriptor {
        /// The path given.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A plugin of that name is loaded already.
    #[error("a plugin named '{0}' is already loaded")]
    AlreadyLoaded(String),
    /// No plugin of that name is loaded.
    #[error("no such module with that name")]
    NotLoaded(String),
    /// `plugins.enabled` names a plugin this build does not have.
    #[error("unknown built-in plugin '{0}'")]
    UnknownBuiltin(String),
    /// One of the plugin's commands is running (it called MODULE UNLOAD on itself).
    #[error("plugin '{0}' has a command running")]
    Busy(String),
    /// A command could not be registered.
    #[error("plugin '{plugin}': {source}")]
    Register {
        /// The plugin.
        plugin: String,
        /// Why.
        source: RegisterError,
    },
    /// The plugin's configuration section is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Background tasks need the server's runtime (not available in this context).
    #[error("plugin '{0}': background tasks need the server's runtime")]
    NoRuntime(String),
    /// The plugin refused to start, or gave an invalid definition.
    #[error("plugin '{plugin}': {message}")]
    Failed {
        /// The plugin.
        plugin: String,
        /// Its message.
        message: String,
    },
}

/// Tells a background task to stop. Await [`Shutdown::wait`] in a `select!` beside the
/// task's work; the host awaits the task after signalling.
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// Resolves once the plugin is being stopped (unload or server shutdown).
    pub async fn wait(&mut self) {
        // An error means the sender is gone, which also means stop.
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    /// Whether stopping was requested.
    pub fn is_requested(&self) -> bool {
        *self.0.borrow()
    }
}

struct Task {
    name: String,
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

/// Runs closures on the executor, with the whole engine, between commands: how a background
/// task or a timer reads and writes keys. Cheap to clone.
#[derive(Clone)]
pub struct EngineHandle(Poster);

impl EngineHandle {
    /// Queues `f` without waiting for it.
    pub fn post(&self, f: impl FnOnce(&mut Engine) + Send + 'static) -> Result<(), ExecutorGone> {
        (self.0)(Box::new(f))
    }

    /// Runs `f` on the executor and returns its result.
    pub async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Engine) -> R + Send + 'static,
    ) -> Result<R, ExecutorGone> {
        let (tx, rx) = oneshot::channel();
        self.post(move |engine| {
            let _ = tx.send(f(engine));
        })?;
        rx.await.map_err(|_| ExecutorGone)
    }
}

/// One loaded plugin and everything it registered.
pub struct LoadedPlugin {
    /// Name (`MODULE LIST`, `MODULE UNLOAD`).
    pub name: String,
    /// `MAJOR.MINOR.PATCH`.
    pub version: String,
    /// The library's path; `None` for a built-in plugin.
    pub path: Option<String>,
    /// Load arguments.
    pub args: Vec<String>,
    commands: Vec<String>,
    subscriptions: Vec<SubscriptionId>,
    hooks: Vec<HookId>,
    info: Vec<InfoId>,
    tasks: Vec<Task>,
    states: Vec<TypeId>,
    /// Whether the plugin installed the pub/sub relay.
    relay: bool,
    instance: Option<Box<dyn Plugin>>,
}

impl LoadedPlugin {
    fn new(name: &str, version: &str, path: Option<String>, args: Vec<String>) -> Self {
        LoadedPlugin {
            name: name.to_string(),
            version: version.to_string(),
            path,
            args,
            commands: Vec::new(),
            subscriptions: Vec::new(),
            hooks: Vec::new(),
            info: Vec::new(),
            tasks: Vec::new(),
            states: Vec::new(),
            relay: false,
            instance: None,
        }
    }

    /// The names of the plugin's top-level commands.
    pub fn commands(&self) -> &[String] {
        &self.commands
    }

    /// The version as Redis modules give it: `MAJOR * 10000 + MINOR * 100 + PATCH`.
    pub fn version_number(&self) -> i64 {
        let mut parts = self
            .version
            .split('.')
            .map(|p| p.trim().parse::<i64>().unwrap_or(0));
        let major = parts.next().unwrap_or(0);
        let minor = parts.next().unwrap_or(0);
        let patch = parts.next().unwrap_or(0);
        major * 10_000 + minor * 100 + patch
    }
}

/// Background tasks of stopped plugins, with their names, for the server to await.
pub type StoppedTasks = Arc<Mutex<Vec<(String, JoinHandle<()>)>>>;

/// The loaded plugins, and what they need from the server: its runtime for background tasks
/// and a handle to the executor. Kept in the engine's extensions ([`registry`]).
#[derive(Default)]
pub struct PluginRegistry {
    loaded: Vec<LoadedPlugin>,
    runtime: Option<tokio::runtime::Handle>,
    executor: Option<EngineHandle>,
    stopped_tasks: StoppedTasks,
}

/// The plugin registry in `engine`.
pub fn registry(engine: &mut Engine) -> &mut PluginRegistry {
    engine
        .extensions
        .get_or_insert_with(PluginRegistry::default)
}

/// The plugins loaded in `engine`, in load order.
pub fn loaded(engine: &Engine) -> &[LoadedPlugin] {
    engine
        .extensions
        .get::<PluginRegistry>()
        .map(|r| r.loaded.as_slice())
        .unwrap_or_default()
}

/// The MODULE command ([`cmd_module`]).
pub static COMMANDS: &[&[CommandSpec]] = &[cmd_module::COMMANDS];

/// Gives plugins the server's runtime (for tasks and timers) and its executor (for
/// [`EngineHandle`]). Returns the tasks of stopped plugins, for the server to await before it
/// exits.
pub fn attach(
    engine: &mut Engine,
    runtime: tokio::runtime::Handle,
    poster: Poster,
) -> StoppedTasks {
    engine.poster = Some(Arc::clone(&poster));
    let reg = registry(engine);
    reg.runtime = Some(runtime);
    reg.executor = Some(EngineHandle(poster));
    Arc::clone(&reg.stopped_tasks)
}

/// Installs the plugin host in `engine`: its registry and the plugins' lines in INFO's
/// `modules` section.
pub fn install(engine: &mut Engine) {
    registry(engine);
    engine.info.add_fields(
        "modules",
        Box::new(|engine, out| {
            use std::fmt::Write as _;
            for p in loaded(engine) {
                let _ = write!(
                    out,
                    "module:name={},ver={},api=1,filters=0,usedby=[],using=[],options=[],version={}\r\n",
                    p.name,
                    p.version_number(),
                    p.version
                );
            }
        }),
    );
}

/// The server's runtime and a handle to its executor, for timers and tasks; `None` outside a
/// running server.
pub fn runtime_and_executor(engine: &Engine) -> Option<(tokio::runtime::Handle, EngineHandle)> {
    let reg = engine.extensions.get::<PluginRegistry>()?;
    Some((reg.runtime.clone()?, reg.executor.clone()?))
}

impl PluginRegistry {
    /// The plugin called `name`, if loaded.
    pub fn get(&self, name: &str) -> Option<&LoadedPlugin> {
        self.loaded.iter().find(|p| p.name == name)
    }

    fn get_mut(&mut self, name: &str) -> Option<&mut LoadedPlugin> {
        self.loaded.iter_mut().find(|p| p.name == name)
    }

    /// Records a subscription a plugin made after its start (from one of its commands), so
    /// that unloading removes it.
    pub fn track_subscription(&mut self, plugin: &str, id: SubscriptionId) {
        if let Some(p) = self.get_mut(plugin) {
            p.subscriptions.push(id);
        }
    }
}

/// What a plugin registers with while it starts.
pub struct Registrar<'a> {
    engine: &'a mut Engine,
    record: &'a mut LoadedPlugin,
}

impl Registrar<'_> {
    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.record.name
    }

    /// Load arguments (`[[plugins.load]] args`, `MODULE LOAD path args...`).
    pub fn args(&self) -> &[String] {
        &self.record.args
    }

    /// The engine, for what a plugin sets up beyond registering (reading its own state).
    pub fn engine(&mut self) -> &mut Engine {
        self.engine
    }

    /// Runs `hook` after every top-level command (a whole EXEC or script counting as one),
    /// once its key events are delivered: where a plugin serves the clients it parked.
    pub fn after_command(&mut self, hook: AfterCommandHook) {
        let id = self.engine.add_after_command(hook);
        self.record.hooks.push(id);
    }

    /// Runs `hook` after every commit of the keyspace, with whether it succeeded: what the
    /// batch wrote is then durable, or rolled back. Where a plugin publishes its writes.
    pub fn after_commit(&mut self, hook: CommitHook) {
        let id = self.engine.add_after_commit(hook);
        self.record.hooks.push(id);
    }

    /// Runs `hook` when a client disconnects or sends RESET, before the core forgets it.
    pub fn on_client_gone(&mut self, hook: ClientGoneHook) {
        let id = self.engine.add_client_gone(hook);
        self.record.hooks.push(id);
    }

    /// Hands every message published on this server (PUBLISH, and keyspace notifications
    /// when `notifications` is set) to `relay` before local delivery: how a plugin carries
    /// pub/sub to other servers, which deliver with [`Engine::publish_local`]. One relay per
    /// server; removed when the plugin stops.
    pub fn relay_publish(
        &mut self,
        relay: PublishRelay,
        notifications: bool,
    ) -> Result<(), PluginError> {
        let taken = registry(self.engine).loaded.iter().any(|p| p.relay);
        if taken {
            return Err(PluginError::Failed {
                plugin: self.record.name.clone(),
                message: "another plugin relays pub/sub already".into(),
            });
        }
        self.engine.pubsub.set_relay(Some(relay), notifications);
        self.record.relay = true;
        Ok(())
    }

    /// Adds a section of the plugin's own to INFO (`# title`, shown by `INFO everything` and
    /// `INFO <title>`, as Redis shows modules' sections), written by `writer` as
    /// `field:value\r\n` lines. The title is 1 to 64 letters, digits, `_` or `-`, and no core
    /// section's or other plugin's.
    pub fn info_section(&mut self, title: &str, writer: InfoWriter) -> Result<(), PluginError> {
        let fail = |message: String| PluginError::Failed {
            plugin: self.record.name.clone(),
            message,
        };
        let valid = !title.is_empty()
            && title.len() <= 64
            && title
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            return Err(fail(format!(
                "invalid INFO section title '{title}': 1 to 64 letters, digits, '_' or '-'"
            )));
        }
        let lower = title.to_ascii_lowercase();
        let taken = crate::commands::server::ALL_SECTIONS.contains(&lower.as_str())
            || ["default", "all", "everything"].contains(&lower.as_str())
            || self.engine.info.has_section(&lower);
        if taken {
            return Err(fail(format!("the INFO section '{title}' exists already")));
        }
        let id = self.engine.info.add_section(title, writer);
        self.record.info.push(id);
        Ok(())
    }

    /// Runs `tick` on the executor every `period` (the first time one period after start),
    /// between commands, with the whole engine; its writes join that batch's commit. Stops
    /// with the plugin.
    pub fn every(
        &mut self,
        name: &str,
        period: std::time::Duration,
        tick: impl FnMut(&mut Engine) + Send + 'static,
    ) -> Result<(), PluginError> {
        let Some(handle) = self.executor() else {
            return Err(PluginError::NoRuntime(self.record.name.clone()));
        };
        let tick = Arc::new(Mutex::new(tick));
        let plugin = self.record.name.clone();
        self.spawn(name, move |mut stop| async move {
            let mut interval = tokio::time::interval(period);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            interval.tick().await;
            loop {
                tokio::select! {
                    _ = stop.wait() => break,
                    _ = interval.tick() => {}
                }
                let tick = Arc::clone(&tick);
                let plugin = plugin.clone();
                let posted = handle.post(move |engine| {
                    run_guarded(&plugin, "timer", || {
                        if let Ok(mut tick) = tick.lock() {
                            tick(engine);
                        }
                    });
                    engine.run_after_command();
                });
                if posted.is_err() {
                    break;
                }
            }
        })
    }

    /// The plugin's `[plugins.NAME]` section as its own type (default when absent).
    pub fn config<T: DeserializeOwned + Default>(&self) -> Result<T, PluginError> {
        Ok(self.engine.config.plugin_section::<T>(&self.record.name)?)
    }

    /// Registers the commands of a static table (the built-in way: one table per crate).
    pub fn commands(&mut self, specs: &'static [CommandSpec]) -> Result<(), PluginError> {
        for spec in specs {
            let cmd = self
                .engine
                .commands
                .register_spec(spec, Some(&self.record.name))
                .map_err(|source| PluginError::Register {
                    plugin: self.record.name.clone(),
                    source,
                })?;
            self.registered(&cmd);
        }
        Ok(())
    }

    /// Registers one command built at run time (closures as handlers); its provider is set
    /// to this plugin.
    pub fn command(&mut self, mut cmd: Command) -> Result<(), PluginError> {
        cmd.name.make_ascii_lowercase();
        cmd.provider = Some(self.record.name.clone());
        let cmd = self
            .engine
            .commands
            .register(cmd)
            .map_err(|source| PluginError::Register {
                plugin: self.record.name.clone(),
                source,
            })?;
        self.registered(&cmd);
        Ok(())
    }

    fn registered(&mut self, cmd: &Command) {
        self.record.commands.push(cmd.name.clone());
        let slots = self.engine.commands.stats_slots();
        if self.engine.command_stats.len() < slots {
            self.engine
                .command_stats
                .resize(slots, crate::engine::CommandStats::default());
        }
    }

    /// Subscribes to key events of `classes` (bits of [`crate::events::class`]) on keys
    /// matching the glob `pattern` (`None` = every key).
    pub fn subscribe(
        &mut self,
        classes: u16,
        pattern: Option<&[u8]>,
        handler: EventHandler,
    ) -> SubscriptionId {
        let id =
            self.engine
                .events
                .subscribe(classes, pattern.map(Bytes::copy_from_slice), handler);
        self.record.subscriptions.push(id);
        id
    }

    /// Spawns a background task on the server's runtime. It gets a [`Shutdown`] to watch;
    /// the server awaits it after signalling, on unload and at shutdown.
    pub fn spawn<F, Fut>(&mut self, name: &str, task: F) -> Result<(), PluginError>
    where
        F: FnOnce(Shutdown) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Some(runtime) = registry(self.engine).runtime.clone() else {
            return Err(PluginError::NoRuntime(self.record.name.clone()));
        };
        let (stop, rx) = watch::channel(false);
        let handle = runtime.spawn(task(Shutdown(rx)));
        self.record.tasks.push(Task {
            name: name.to_string(),
            stop,
            handle,
        });
        Ok(())
    }

    /// A handle to run closures on the executor (from background tasks); `None` outside a
    /// running server.
    pub fn executor(&self) -> Option<EngineHandle> {
        self.engine
            .extensions
            .get::<PluginRegistry>()
            .and_then(|r| r.executor.clone())
    }

    /// Keeps state for the plugin's command handlers, which find it with
    /// [`Engine::state_mut`]; removed when the plugin stops.
    pub fn set_state<T: Any + Send>(&mut self, state: T) {
        let id = TypeId::of::<T>();
        self.engine.extensions.insert(state);
        if !self.record.states.contains(&id) {
            self.record.states.push(id);
        }
    }
}

/// Starts `instance` under a new record; on failure removes whatever it registered.
pub(crate) fn start(
    engine: &mut Engine,
    mut record: LoadedPlugin,
    mut instance: Box<dyn Plugin>,
) -> Result<(), PluginError> {
    if registry(engine).get(&record.name).is_some() {
        return Err(PluginError::AlreadyLoaded(record.name));
    }
    let result = instance.start(&mut Registrar {
        engine,
        record: &mut record,
    });
    record.instance = Some(instance);
    match result {
        Ok(()) => {
            tracing::info!(
                plugin = %record.name,
                version = %record.version,
                commands = record.commands.len(),
                "plugin loaded"
            );
            registry(engine).loaded.push(record);
            Ok(())
        }
        Err(e) => {
            teardown(engine, record);
            Err(e)
        }
    }
}

/// Starts the built-in plugin `name`.
pub fn start_builtin(engine: &mut Engine, name: &str) -> Result<(), PluginError> {
    let factory = find_builtin(name).ok_or_else(|| PluginError::UnknownBuiltin(name.into()))?;
    let record = LoadedPlugin::new(factory.name, factory.version, None, Vec::new());
    start(engine, record, (factory.create)())
}

/// Starts what the configuration asks for: `plugins.enabled`, then `[[plugins.load]]`.
pub fn start_configured(engine: &mut Engine) -> Result<(), PluginError> {
    for name in engine.config.plugins.enabled.clone() {
        start_builtin(engine, &name)?;
    }
    for entry in engine.config.plugins.load.clone() {
        dylib::load(engine, &entry.path, entry.args)?;
    }
    Ok(())
}

/// Stops and removes the plugin `name` (MODULE UNLOAD).
pub fn unload(engine: &mut Engine, name: &str) -> Result<(), PluginError> {
    let Some(index) = loaded(engine).iter().position(|p| p.name == name) else {
        return Err(PluginError::NotLoaded(name.into()));
    };
    // The table holds one reference to each command; the executor holds another while the
    // command runs. A shared library must not be closed under a running command.
    let running = loaded(engine)[index].commands.iter().any(|c| {
        engine
            .commands
            .get(c.as_bytes())
            .is_some_and(|cmd| Arc::strong_count(cmd) > 1)
    });
    if running {
        return Err(PluginError::Busy(name.into()));
    }
    let record = registry(engine).loaded.remove(index);
    teardown(engine, record);
    tracing::info!(plugin = %name, "plugin unloaded");
    Ok(())
}

/// Stops every plugin, last loaded first (server shutdown).
pub fn stop_all(engine: &mut Engine) {
    while let Some(record) = registry(engine).loaded.pop() {
        teardown(engine, record);
    }
}

/// Calls the plugin's stop hook, then removes its commands, subscriptions and state and asks
/// its tasks to stop. Dropping the record afterwards drops the instance, and with a shared
/// library's instance the last reference to the library.
fn teardown(engine: &mut Engine, mut record: LoadedPlugin) {
    if let Some(instance) = record.instance.as_mut() {
        let name = record.name.clone();
        run_guarded(&name, "stop", || instance.stop(engine));
    }
    for id in &record.hooks {
        engine.remove_hook(*id);
    }
    for id in &record.info {
        engine.info.remove(*id);
    }
    for name in &record.commands {
        engine.commands.unregister(name);
    }
    for id in &record.subscriptions {
        engine.events.unsubscribe(*id);
    }
    if record.relay {
        engine.pubsub.set_relay(None, false);
    }
    for id in &record.states {
        engine.extensions.remove_id(*id);
    }
    let tasks = Arc::clone(&registry(engine).stopped_tasks);
    let mut stopped = match tasks.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    };
    for task in record.tasks.drain(..) {
        let _ = task.stop.send(true);
        stopped.push((format!("{}/{}", record.name, task.name), task.handle));
    }
}

/// The client that plugins' callbacks outside commands (key events, timers, commit hooks) run
/// commands as: authenticated, in no transaction, not listed by CLIENT LIST.
pub(crate) fn internal_client(db: u32) -> ClientState {
    let nowhere = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
    let mut client = ClientState::new(0, nowhere, nowhere, true, Arc::new(ClientShared::new(true)));
    client.db = db;
    client
}

/// Runs `f` with a [`Ctx`] for an internal client on database `db`, for a plugin working
/// outside a command (a key-event handler, a timer, a commit hook): [`Ctx::call`] then runs
/// commands as that client. The key events its writes cause are delivered with those of the
/// command being handled, if any, else on the next [`Engine::publish_events`].
pub fn with_internal_ctx<R>(engine: &mut Engine, db: u32, f: impl FnOnce(&mut Ctx<'_>) -> R) -> R {
    let mut client = internal_client(db);
    let mut ctx = Ctx {
        engine,
        client: &mut client,
        now: crate::keyspace::now_ms(),
    };
    f(&mut ctx)
}

/// Runs a plugin's code outside a command (a timer, a stop hook) so that a panic in it is
/// logged and costs the plugin that run, not the server its executor.
pub fn run_guarded(plugin: &str, what: &str, f: impl FnOnce()) {
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        let why = crate::engine::panic_message(&*panic);
        tracing::error!(plugin = %plugin, what = %what, panic = %why, "plugin panicked");
    }
}

#[cfg(test)]
mod tests;
