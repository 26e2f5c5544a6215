//! The plugin host: the [`Plugin`] API, the registry of loaded plugins, and their start and
//! stop.
//!
//! Two ways in, one shape. A built-in plugin is a crate linked into the binary that submits a
//! [`PluginFactory`] with `inventory::submit!`; `[plugins] enabled = [...]` decides which
//! start. A third-party plugin is a shared library built against `respite-plugin-sdk` and
//! loaded by [`dylib`] from `[[plugins.load]]` or `MODULE LOAD`. Both register their commands,
//! key-event subscriptions and background tasks through a [`Registrar`], so the registry can
//! remove all of it again on `MODULE UNLOAD` and at shutdown.

pub mod dylib;
pub mod info;

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde::de::DeserializeOwned;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::commands::table::{Command, CommandSpec, RegisterError};
use crate::config::ConfigError;
use crate::engine::Engine;
use crate::events::{EventHandler, SubscriptionId};
use crate::executor::{ExecutorGone, ExecutorSender, Request};

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

/// Validates a plugin's `[plugins.NAME]` section at configuration load, so that a bad key
/// stops start-up with the file and the key path. See [`typed_section`] and [`no_section`].
pub type ConfigCheck = fn(&figment::Figment, &str) -> Result<(), Box<figment::Error>>;

/// What a built-in plugin crate submits with `inventory::submit!`:
///
/// ```ignore
/// inventory::submit! {
///     respite_core::plugin::PluginFactory {
///         name: "blocking",
///         version: env!("CARGO_PKG_VERSION"),
///         check_config: respite_core::plugin::typed_section::<BlockingConfig>,
///         create: || Box::new(Blocking::default()),
///     }
/// }
/// ```
pub struct PluginFactory {
    /// The name used in `plugins.enabled`, `[plugins.NAME]`, `MODULE LIST`.
    pub name: &'static str,
    /// `MAJOR.MINOR.PATCH`.
    pub version: &'static str,
    /// Checks the plugin's configuration section.
    pub check_config: ConfigCheck,
    /// Makes a fresh instance.
    pub create: fn() -> Box<dyn Plugin>,
}

inventory::collect!(PluginFactory);

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

/// A [`ConfigCheck`] that deserializes the section into `T` (which should be
/// `#[serde(deny_unknown_fields, default)]`); a missing section is fine.
pub fn typed_section<T: DeserializeOwned>(
    figment: &figment::Figment,
    key: &str,
) -> Result<(), Box<figment::Error>> {
    if figment.find_value(key).is_err() {
        return Ok(());
    }
    figment.extract_inner::<T>(key).map(|_| ()).map_err(|e| {
        // figment appends the section's path after the field's (`field.plugins.NAME`);
        // operators read key paths from the top.
        let prefix: Vec<String> = key.split('.').map(str::to_string).collect();
        let fixed = e.into_iter().map(|mut err| {
            let mut rest = std::mem::take(&mut err.path);
            if rest.ends_with(&prefix) {
                rest.truncate(rest.len() - prefix.len());
            } else if rest.starts_with(&prefix) {
                rest.drain(..prefix.len());
            }
            err.path = prefix.iter().cloned().chain(rest).collect();
            err
        });
        Box::new(
            fixed
                .reduce(|chain, err| chain.chain(err))
                .unwrap_or_else(|| figment::Error::from(format!("invalid section [{key}]"))),
        )
    })
}

/// A [`ConfigCheck`] for plugins without settings: refuses any key in the section.
pub fn no_section(figment: &figment::Figment, key: &str) -> Result<(), Box<figment::Error>> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Nothing {}
    typed_section::<Nothing>(figment, key)
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
pub struct EngineHandle(ExecutorSender);

impl EngineHandle {
    /// Queues `f` without waiting for it.
    pub fn post(&self, f: impl FnOnce(&mut Engine) + Send + 'static) -> Result<(), ExecutorGone> {
        self.0.send(Request::Call(Box::new(f)))
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
    tasks: Vec<Task>,
    states: Vec<TypeId>,
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
            tasks: Vec::new(),
            states: Vec::new(),
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
/// and a handle to the executor.
#[derive(Default)]
pub struct PluginRegistry {
    loaded: Vec<LoadedPlugin>,
    states: HashMap<TypeId, Box<dyn Any + Send>>,
    runtime: Option<tokio::runtime::Handle>,
    executor: Option<EngineHandle>,
    stopped_tasks: StoppedTasks,
}

impl PluginRegistry {
    /// Gives plugins the server's runtime (for tasks) and executor (for [`EngineHandle`]).
    pub fn attach(&mut self, runtime: tokio::runtime::Handle, executor: ExecutorSender) {
        self.runtime = Some(runtime);
        self.executor = Some(EngineHandle(executor));
    }

    /// Tasks of stopped plugins, signalled but maybe still finishing: the server awaits them
    /// before it exits.
    pub fn stopped_tasks(&self) -> StoppedTasks {
        Arc::clone(&self.stopped_tasks)
    }

    /// The loaded plugins, in load order.
    pub fn loaded(&self) -> &[LoadedPlugin] {
        &self.loaded
    }

    /// The plugin called `name`, if loaded.
    pub fn get(&self, name: &str) -> Option<&LoadedPlugin> {
        self.loaded.iter().find(|p| p.name == name)
    }

    fn get_mut(&mut self, name: &str) -> Option<&mut LoadedPlugin> {
        self.loaded.iter_mut().find(|p| p.name == name)
    }

    /// A plugin's state set with [`Registrar::set_state`].
    pub fn state<T: Any + Send>(&self) -> Option<&T> {
        self.states
            .get(&TypeId::of::<T>())
            .and_then(|s| s.downcast_ref())
    }

    /// A plugin's state, mutably.
    pub fn state_mut<T: Any + Send>(&mut self) -> Option<&mut T> {
        self.states
            .get_mut(&TypeId::of::<T>())
            .and_then(|s| s.downcast_mut())
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

    /// The engine, for plugins that set up more than the registrar offers.
    pub fn engine(&mut self) -> &mut Engine {
        self.engine
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
        let Some(runtime) = self.engine.plugins.runtime.clone() else {
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
        self.engine.plugins.executor.clone()
    }

    /// Keeps state for the plugin's command handlers, which find it with
    /// [`PluginRegistry::state_mut`]; removed when the plugin stops.
    pub fn set_state<T: Any + Send>(&mut self, state: T) {
        let id = TypeId::of::<T>();
        self.engine.plugins.states.insert(id, Box::new(state));
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
    if engine.plugins.get(&record.name).is_some() {
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
            engine.plugins.loaded.push(record);
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
    let Some(index) = engine.plugins.loaded.iter().position(|p| p.name == name) else {
        return Err(PluginError::NotLoaded(name.into()));
    };
    // The table holds one reference to each command; the executor holds another while the
    // command runs. A shared library must not be closed under a running command.
    let running = engine.plugins.loaded[index].commands.iter().any(|c| {
        engine
            .commands
            .get(c.as_bytes())
            .is_some_and(|cmd| Arc::strong_count(cmd) > 1)
    });
    if running {
        return Err(PluginError::Busy(name.into()));
    }
    let record = engine.plugins.loaded.remove(index);
    teardown(engine, record);
    tracing::info!(plugin = %name, "plugin unloaded");
    Ok(())
}

/// Stops every plugin, last loaded first (server shutdown).
pub fn stop_all(engine: &mut Engine) {
    while let Some(record) = engine.plugins.loaded.pop() {
        teardown(engine, record);
    }
}

/// Calls the plugin's stop hook, then removes its commands, subscriptions and state and asks
/// its tasks to stop. Dropping the record afterwards drops the instance, and with a shared
/// library's instance the last reference to the library.
fn teardown(engine: &mut Engine, mut record: LoadedPlugin) {
    if let Some(instance) = record.instance.as_mut() {
        instance.stop(engine);
    }
    for name in &record.commands {
        engine.commands.unregister(name);
    }
    for id in &record.subscriptions {
        engine.events.unsubscribe(*id);
    }
    for id in &record.states {
        engine.plugins.states.remove(id);
    }
    let mut stopped = match engine.plugins.stopped_tasks.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    };
    for task in record.tasks.drain(..) {
        let _ = task.stop.send(true);
        stopped.push((format!("{}/{}", record.name, task.name), task.handle));
    }
}

#[cfg(test)]
mod tests;
