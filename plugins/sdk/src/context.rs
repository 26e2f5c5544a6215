//! What plugin code works with: the [`Registrar`] during start, the [`Ctx`] of a command,
//! key-event callback, timer or unblock callback, and the [`Info`] of an INFO section.

use std::ffi::c_void;
use std::time::Duration;

use crate::abi::{self, HostApi, HostCtx, RStr};
use crate::ffi;
use crate::{Command, Error, Reply};

/// Log levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Errors.
    Error,
    /// Warnings.
    Warn,
    /// Information.
    Info,
    /// Debugging.
    Debug,
}

impl Level {
    fn raw(self) -> u32 {
        match self {
            Level::Error => abi::level::ERROR,
            Level::Warn => abi::level::WARN,
            Level::Info => abi::level::INFO,
            Level::Debug => abi::level::DEBUG,
        }
    }
}

/// A client's id, as `CLIENT ID` gives it.
pub type ClientId = u64;

/// Identifies a timer, for [`Ctx::stop_timer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerId(pub u64);

/// Why a parked client left without being served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unblock {
    /// Its timeout elapsed (or `CLIENT UNBLOCK id TIMEOUT`): it got the timeout reply.
    Timeout,
    /// `CLIENT UNBLOCK id ERROR`: it got an `UNBLOCKED` error.
    Error,
    /// It disconnected or was killed.
    Gone,
}

impl Unblock {
    pub(crate) fn from_raw(raw: u32) -> Unblock {
        match raw {
            abi::unblock::TIMEOUT => Unblock::Timeout,
            abi::unblock::ERROR => Unblock::Error,
            _ => Unblock::Gone,
        }
    }
}

/// One key event: what a command did to which key.
#[derive(Clone, Copy, Debug)]
pub struct KeyEvent<'a> {
    /// Database of the key.
    pub db: u32,
    /// Redis's event name: `set`, `del`, `expired`, ...
    pub event: &'a str,
    /// The key.
    pub key: &'a [u8],
}

/// A key-event callback.
pub type EventCallback = Box<dyn FnMut(&mut Ctx<'_>, &KeyEvent<'_>) + Send>;
/// A timer callback.
pub type TimerCallback = Box<dyn FnMut(&mut Ctx<'_>) + Send>;
/// Told when a parked client leaves without being served.
pub type UnblockCallback = Box<dyn FnMut(&mut Ctx<'_>, ClientId, Unblock) + Send>;
/// Fills an INFO section.
pub type InfoCallback = Box<dyn Fn(&mut Info<'_>) + Send + Sync>;

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The functions every context has: logging, subscriptions, timers, plugin state.
struct Host<'a> {
    api: &'a HostApi,
    ctx: *mut HostCtx,
}

impl Host<'_> {
    fn log(&self, level: Level, message: &str) {
        // SAFETY: `ctx` is the context of the callback we are in; `message` outlives the call.
        unsafe { (self.api.log)(self.ctx, level.raw(), RStr::new(message.as_bytes())) }
    }

    fn subscribe(
        &self,
        classes: u32,
        pattern: Option<&[u8]>,
        cb: EventCallback,
    ) -> Result<(), Error> {
        let (user, drop_user) = ffi::into_user(ffi::Guarded::new(cb));
        let pattern = RStr::new(pattern.unwrap_or(b""));
        // SAFETY: our context; the host owns `user` from here on.
        let status = unsafe {
            (self.api.subscribe)(
                self.ctx,
                classes,
                pattern,
                ffi::event_trampoline,
                user,
                drop_user,
            )
        };
        ok(status, "cannot subscribe to key events here")
    }

    fn timer(
        &self,
        delay: Duration,
        period: Option<Duration>,
        cb: TimerCallback,
    ) -> Result<TimerId, Error> {
        let (user, drop_user) = ffi::into_user(ffi::Guarded::new(cb));
        let period_ms = period.map_or(0, |p| millis(p).max(1));
        // SAFETY: our context; the host owns `user` from here on.
        let id = unsafe {
            (self.api.timer)(
                self.ctx,
                millis(delay),
                period_ms,
                ffi::timer_trampoline,
                user,
                drop_user,
            )
        };
        if id == 0 {
            Err(Error::new("cannot start a timer here"))
        } else {
            Ok(TimerId(id))
        }
    }
}

fn ok(status: abi::Status, message: &str) -> Result<(), Error> {
    if status == abi::OK {
        Ok(())
    } else {
        Err(Error::new(message))
    }
}

/// What a plugin's start registers with: its name and arguments, commands, key-event
/// subscriptions, timers, an INFO section, an unblock callback and state.
pub struct Registrar<'a> {
    host: Host<'a>,
    name: &'a str,
    args: Vec<&'a [u8]>,
}

impl<'a> Registrar<'a> {
    pub(crate) fn new(
        api: &'a HostApi,
        ctx: *mut HostCtx,
        name: &'a str,
        args: Vec<&'a [u8]>,
    ) -> Self {
        Registrar {
            host: Host { api, ctx },
            name,
            args,
        }
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        self.name
    }

    /// The arguments given after the path in `MODULE LOAD` or in `[[plugins.load]] args`.
    pub fn args(&self) -> &[&[u8]] {
        &self.args
    }

    /// Registers a command. Fails if the name is taken; the server reports the reason.
    pub fn command(&mut self, cmd: Command) -> Result<(), Error> {
        let Command {
            name,
            arity,
            flags,
            first_key,
            last_key,
            step,
            numkeys_at,
            categories,
            group,
            summary,
            since,
            complexity,
            handler,
        } = cmd;
        let (user, drop_user) = ffi::into_user(handler);
        let def = abi::CommandDef {
            name: RStr::new(name.as_bytes()),
            arity,
            flags: flags.bits(),
            first_key,
            last_key,
            step,
            numkeys_at,
            categories: RStr::new(categories.as_bytes()),
            group: RStr::new(group.as_bytes()),
            summary: RStr::new(summary.as_bytes()),
            since: RStr::new(since.as_bytes()),
            complexity: RStr::new(complexity.as_bytes()),
            handler: ffi::command_trampoline,
            user,
            drop_user,
        };
        // SAFETY: the init context of this call; `def` borrows strings that outlive it; the
        // host owns `user` from here on.
        let status = unsafe { (self.host.api.register_command)(self.host.ctx, &def) };
        ok(status, &format!("cannot register command '{name}'"))
    }

    /// Subscribes `callback` to key events of `classes` (bits of [`crate::class`]) on keys
    /// matching the glob `pattern` (`None` = every key). The callback's [`Ctx`] can call
    /// commands, serve parked clients and start timers.
    pub fn subscribe<F>(
        &mut self,
        classes: u32,
        pattern: Option<&[u8]>,
        callback: F,
    ) -> Result<(), Error>
    where
        F: FnMut(&mut Ctx<'_>, &KeyEvent<'_>) + Send + 'static,
    {
        self.host.subscribe(classes, pattern, Box::new(callback))
    }

    /// Runs `callback` once, `delay` from now, on the executor between commands.
    pub fn timer<F>(&mut self, delay: Duration, callback: F) -> Result<TimerId, Error>
    where
        F: FnMut(&mut Ctx<'_>) + Send + 'static,
    {
        self.host.timer(delay, None, Box::new(callback))
    }

    /// Runs `callback` every `period` until the plugin is unloaded or the timer stopped.
    pub fn every<F>(&mut self, period: Duration, callback: F) -> Result<TimerId, Error>
    where
        F: FnMut(&mut Ctx<'_>) + Send + 'static,
    {
        self.host.timer(period, Some(period), Box::new(callback))
    }

    /// Adds the INFO section `# <title>` (shown by `INFO`, `INFO all` and `INFO <title>`,
    /// case-insensitively), filled by `callback` each time.
    pub fn info_section<F>(&mut self, title: &str, callback: F) -> Result<(), Error>
    where
        F: Fn(&mut Info<'_>) + Send + Sync + 'static,
    {
        let cb: InfoCallback = Box::new(callback);
        let (user, drop_user) = ffi::into_user(cb);
        // SAFETY: the init context; the host owns `user` from here on.
        let status = unsafe {
            (self.host.api.info_section)(
                self.host.ctx,
                RStr::new(title.as_bytes()),
                ffi::info_trampoline,
                user,
                drop_user,
            )
        };
        ok(status, &format!("cannot add the INFO section '{title}'"))
    }

    /// Sets the callback told when a client parked with [`Ctx::block`] leaves without being
    /// served (timeout, `CLIENT UNBLOCK`, disconnect), so that the plugin forgets it.
    pub fn on_unblock<F>(&mut self, callback: F) -> Result<(), Error>
    where
        F: FnMut(&mut Ctx<'_>, ClientId, Unblock) + Send + 'static,
    {
        let cb: UnblockCallback = Box::new(callback);
        let (user, drop_user) = ffi::into_user(ffi::Guarded::new(cb));
        // SAFETY: the init context; the host owns `user` from here on.
        let status = unsafe {
            (self.host.api.on_unblock)(self.host.ctx, ffi::unblock_trampoline, user, drop_user)
        };
        ok(status, "cannot set the unblock callback")
    }

    /// Keeps `state` for the plugin's callbacks, which reach it with [`Ctx::state`]; dropped
    /// when the plugin is unloaded. One value per type.
    pub fn set_state<T: Send + 'static>(&mut self, state: T) {
        ffi::set_state(state)
    }

    /// Runs `f` on the plugin's state of type `T`.
    pub fn state<T: Send + 'static, R>(&self, f: impl FnOnce(&mut T) -> R) -> Result<R, Error> {
        ffi::with_state(f)
    }

    /// Logs through the server's log.
    pub fn log(&self, level: Level, message: &str) {
        self.host.log(level, message)
    }
}

/// What a command handler, a key-event callback, a timer or an unblock callback works with:
/// calls to other commands, parked clients, timers, subscriptions, state, logging.
pub struct Ctx<'a> {
    host: Host<'a>,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(api: &'a HostApi, ctx: *mut HostCtx) -> Self {
        Ctx {
            host: Host { api, ctx },
        }
    }

    /// Runs another command inside the same atomic step and returns its reply (an error
    /// reply if the command is unknown, has the wrong arity or is not allowed from plugins,
    /// such as MULTI or SUBSCRIBE). Outside a command (event, timer, unblock) the command
    /// runs for an internal client on database 0 (an event's: the event's database).
    pub fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Reply {
        let raw: Vec<RStr> = args.iter().map(|a| RStr::new(a.as_ref())).collect();
        let mut out: Option<Reply> = None;
        // SAFETY: our context; `raw` borrows `args`, which outlive the call; the sink writes
        // into `out`, which outlives it too.
        unsafe {
            (self.host.api.call)(
                self.host.ctx,
                raw.len(),
                raw.as_ptr(),
                ffi::reply_sink,
                &mut out as *mut Option<Reply> as *mut c_void,
            )
        };
        out.unwrap_or_else(|| Reply::Error("ERR the server gave no reply to the call".into()))
    }

    /// The database of the calling client (command) or of the event; 0 elsewhere.
    pub fn db(&self) -> u32 {
        // SAFETY: our context.
        let db = unsafe { (self.host.api.selected_db)(self.host.ctx) };
        u32::try_from(db).unwrap_or(0)
    }

    /// The calling client's id (in a command); 0 elsewhere.
    pub fn client_id(&self) -> ClientId {
        // SAFETY: our context.
        unsafe { (self.host.api.client_id)(self.host.ctx) }
    }

    /// The command's clock in Unix milliseconds: the same for the whole command, and the
    /// one the server uses for expiry. The wall clock outside commands.
    pub fn now_ms(&self) -> i64 {
        // SAFETY: our context.
        unsafe { (self.host.api.now_ms)(self.host.ctx) }
    }

    /// Parks the calling client (in a command only): its reply comes later from
    /// [`Ctx::serve_blocked`] (in a later command, a key-event callback or a timer), or once
    /// `timeout` elapses (`None`: never) it gets `timeout_reply` and the plugin's
    /// [`Registrar::on_unblock`] callback is told. The handler then returns any reply, which
    /// is dropped. Returns false, parking nothing, where the client may not block (inside
    /// MULTI, or a command run by `call`): answer as the non-blocking form then.
    pub fn block(&mut self, timeout: Option<Duration>, timeout_reply: Reply) -> bool {
        let timeout_ms = timeout.map_or(0, |t| millis(t).max(1));
        crate::reply::with_tree(&timeout_reply, |node| {
            // SAFETY: our context; the tree lives for the call.
            unsafe { (self.host.api.block)(self.host.ctx, timeout_ms, node) == abi::OK }
        })
    }

    /// Releases `client`, parked by this plugin, with `reply`. Returns false if it is not
    /// parked (any more): it timed out or left.
    pub fn serve_blocked(&mut self, client: ClientId, reply: Reply) -> bool {
        crate::reply::with_tree(&reply, |node| {
            // SAFETY: our context; the tree lives for the call.
            unsafe { (self.host.api.serve_blocked)(self.host.ctx, client, node) == abi::OK }
        })
    }

    /// Runs `callback` once, `delay` from now, on the executor between commands.
    pub fn timer<F>(&mut self, delay: Duration, callback: F) -> Result<TimerId, Error>
    where
        F: FnMut(&mut Ctx<'_>) + Send + 'static,
    {
        self.host.timer(delay, None, Box::new(callback))
    }

    /// Runs `callback` every `period` until the plugin is unloaded or the timer stopped.
    pub fn every<F>(&mut self, period: Duration, callback: F) -> Result<TimerId, Error>
    where
        F: FnMut(&mut Ctx<'_>) + Send + 'static,
    {
        self.host.timer(period, Some(period), Box::new(callback))
    }

    /// Stops a timer of this plugin; false if it already fired (one-shot) or was stopped.
    pub fn stop_timer(&mut self, id: TimerId) -> bool {
        // SAFETY: our context.
        unsafe { (self.host.api.stop_timer)(self.host.ctx, id.0) == abi::OK }
    }

    /// Subscribes `callback` to key events (see [`Registrar::subscribe`]); removed when the
    /// plugin is unloaded.
    pub fn subscribe<F>(
        &mut self,
        classes: u32,
        pattern: Option<&[u8]>,
        callback: F,
    ) -> Result<(), Error>
    where
        F: FnMut(&mut Ctx<'_>, &KeyEvent<'_>) + Send + 'static,
    {
        self.host.subscribe(classes, pattern, Box::new(callback))
    }

    /// Runs `f` on the plugin's state of type `T` (set with [`Registrar::set_state`]). Fails
    /// if there is none, or if it is in use further up the stack (a command calling itself).
    pub fn state<T: Send + 'static, R>(&self, f: impl FnOnce(&mut T) -> R) -> Result<R, Error> {
        ffi::with_state(f)
    }

    /// Logs through the server's log.
    pub fn log(&self, level: Level, message: &str) {
        self.host.log(level, message)
    }
}

/// The INFO section being filled.
pub struct Info<'a> {
    host: Host<'a>,
}

impl<'a> Info<'a> {
    pub(crate) fn new(api: &'a HostApi, ctx: *mut HostCtx) -> Self {
        Info {
            host: Host { api, ctx },
        }
    }

    /// Adds a `name:value` line. Names should be lower_snake_case.
    pub fn field(&mut self, name: &str, value: impl std::fmt::Display) {
        let value = value.to_string();
        // SAFETY: our context; the strings outlive the call.
        unsafe {
            (self.host.api.info_field)(
                self.host.ctx,
                RStr::new(name.as_bytes()),
                RStr::new(value.as_bytes()),
            )
        };
    }

    /// Runs `f` on the plugin's state of type `T`.
    pub fn state<T: Send + 'static, R>(&self, f: impl FnOnce(&mut T) -> R) -> Result<R, Error> {
        ffi::with_state(f)
    }
}
