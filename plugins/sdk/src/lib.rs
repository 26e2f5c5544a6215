//! Write Respite plugins as shared libraries.
//!
//! A plugin is a `cdylib` crate that depends on this crate alone. It declares its commands and
//! key-event subscriptions in an init function and exports itself with [`export_plugin!`]:
//!
//! ```ignore
//! use respite_plugin_sdk::{export_plugin, Command, Context, Error, InitContext, Reply};
//!
//! fn hello(_ctx: &mut Context<'_>, args: &[&[u8]]) -> Result<Reply, Error> {
//!     Ok(Reply::bulk([b"hello ", args[1]].concat()))
//! }
//!
//! fn init(ctx: &mut InitContext<'_>) -> Result<(), Error> {
//!     ctx.command(Command::new("hello.greet", 2, hello).flags("readonly fast"))
//! }
//!
//! export_plugin!(name: "hello", version: "0.1.0", init: init);
//! ```
//!
//! The server loads it with `MODULE LOAD /path/to/libhello.so` or from `[[plugins.load]]` in
//! its configuration. Under the safe API lies [`abi`], a versioned C ABI: only `#[repr(C)]`
//! data and `extern "C"` functions cross the library boundary, and a panic in plugin code is
//! caught on the plugin's side and becomes an error reply.

#![warn(missing_docs)]

pub mod abi;

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};

use abi::{reply_kind, HostApi, HostCtx, RStr, ReplyNode};

pub use abi::class;

/// A reply, with every RESP3 type. Servers speaking RESP2 to a client downgrade it as Redis
/// does (maps become flat arrays, booleans integers, ...).
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// Status reply: `+OK`.
    Simple(String),
    /// Error reply including its code: `ERR something went wrong`.
    Error(String),
    /// Integer.
    Integer(i64),
    /// Binary-safe string.
    Bulk(Vec<u8>),
    /// Null.
    Null,
    /// Array.
    Array(Vec<Reply>),
    /// Map of key/value pairs.
    Map(Vec<(Reply, Reply)>),
    /// Set.
    Set(Vec<Reply>),
    /// Double.
    Double(f64),
    /// Boolean.
    Boolean(bool),
    /// Big number, as decimal digits.
    BigNumber(String),
    /// Verbatim string with a three-letter format such as `txt`.
    Verbatim {
        /// Format, e.g. `*b"txt"`.
        format: [u8; 3],
        /// The text.
        text: Vec<u8>,
    },
}

impl Reply {
    /// `+OK`.
    pub fn ok() -> Reply {
        Reply::Simple("OK".into())
    }

    /// A bulk string.
    pub fn bulk(b: impl Into<Vec<u8>>) -> Reply {
        Reply::Bulk(b.into())
    }

    /// Whether this is an error reply.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// The bytes of a bulk, simple or verbatim string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Reply::Bulk(b) => Some(b),
            Reply::Simple(s) => Some(s.as_bytes()),
            Reply::Verbatim { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The value of an integer reply, or of a string reply holding an integer.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Reply::Integer(n) => Some(*n),
            other => std::str::from_utf8(other.as_bytes()?).ok()?.parse().ok(),
        }
    }

    /// The items of an array or set reply.
    pub fn items(&self) -> Option<&[Reply]> {
        match self {
            Reply::Array(v) | Reply::Set(v) => Some(v),
            _ => None,
        }
    }
}

/// An error returned by plugin code; the client receives it as an error reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error(String);

impl Error {
    /// An error with this message. Without an error code of its own (an upper-case first word
    /// such as `WRONGTYPE`), the message gets Redis's generic `ERR` code.
    pub fn new(message: impl Into<String>) -> Self {
        let message = message.into();
        let first = message.split(' ').next().unwrap_or("");
        let has_code = message.contains(' ')
            && !first.is_empty()
            && first.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
        if has_code {
            Error(message)
        } else {
            Error(format!("ERR {message}"))
        }
    }

    /// The message sent to the client, code included.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<&str> for Error {
    fn from(s: &str) -> Self {
        Error::new(s)
    }
}

impl From<String> for Error {
    fn from(s: String) -> Self {
        Error::new(s)
    }
}

/// A command implementation: `args[0]` is the command name as the client sent it.
pub type CommandHandler = fn(&mut Context<'_>, &[&[u8]]) -> Result<Reply, Error>;

/// A key-event callback.
pub type EventHandler = fn(&mut EventContext<'_>, &KeyEvent<'_>);

/// The plugin's init function, called once when the plugin is loaded.
pub type InitFn = fn(&mut InitContext<'_>) -> Result<(), Error>;

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

/// A command to register: name, arity, flags, key positions, ACL categories and the handler.
#[derive(Clone, Debug)]
pub struct Command {
    name: String,
    arity: i32,
    flags: String,
    first_key: i32,
    last_key: i32,
    step: i32,
    categories: String,
    summary: String,
    handler: CommandHandler,
}

impl Command {
    /// A command with Redis arity (`N` = exactly N arguments including the name, `-N` = at
    /// least N), no flags, no keys and no categories.
    pub fn new(name: &str, arity: i32, handler: CommandHandler) -> Self {
        Command {
            name: name.to_string(),
            arity,
            flags: String::new(),
            first_key: 0,
            last_key: 0,
            step: 0,
            categories: String::new(),
            summary: String::new(),
            handler,
        }
    }

    /// Space-separated flags as `COMMAND INFO` shows them: `write`, `readonly`, `denyoom`,
    /// `admin`, `fast`, `noscript`, `no_multi`, ... Unknown flags are refused at load time.
    pub fn flags(mut self, flags: &str) -> Self {
        self.flags = flags.to_string();
        self
    }

    /// Key positions: first, last (negative counts from the end) and step.
    pub fn keys(mut self, first: i32, last: i32, step: i32) -> Self {
        self.first_key = first;
        self.last_key = last;
        self.step = step;
        self
    }

    /// Space-separated ACL categories without `@` (`write string fast`).
    pub fn categories(mut self, categories: &str) -> Self {
        self.categories = categories.to_string();
        self
    }

    /// One-line summary for `COMMAND DOCS`.
    pub fn summary(mut self, summary: &str) -> Self {
        self.summary = summary.to_string();
        self
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

/// What `init` works with: the load arguments, and registration of commands and
/// subscriptions.
pub struct InitContext<'a> {
    host: &'a HostApi,
    ctx: *mut HostCtx,
    args: Vec<&'a [u8]>,
}

impl InitContext<'_> {
    /// The arguments given after the path in `MODULE LOAD` or in `[[plugins.load]] args`.
    pub fn args(&self) -> &[&[u8]] {
        &self.args
    }

    /// Registers a command. Fails if the name is taken or a flag is unknown; the server
    /// reports the reason.
    pub fn command(&mut self, cmd: Command) -> Result<(), Error> {
        let def = abi::CommandDef {
            name: RStr::new(cmd.name.as_bytes()),
            arity: cmd.arity,
            flags: RStr::new(cmd.flags.as_bytes()),
            first_key: cmd.first_key,
            last_key: cmd.last_key,
            step: cmd.step,
            categories: RStr::new(cmd.categories.as_bytes()),
            summary: RStr::new(cmd.summary.as_bytes()),
            handler: command_trampoline,
            user: cmd.handler as *const c_void,
        };
        // SAFETY: `ctx` is the init context the host passed to this init call, and `def`
        // borrows strings that outlive the call.
        let status = unsafe { (self.host.register_command)(self.ctx, &def) };
        if status == abi::OK {
            Ok(())
        } else {
            Err(Error::new(format!(
                "cannot register command '{}'",
                cmd.name
            )))
        }
    }

    /// Subscribes `handler` to key events of `classes` (bits of [`class`]) on keys matching
    /// the glob `pattern` (`None` = every key).
    pub fn subscribe(
        &mut self,
        classes: u32,
        pattern: Option<&[u8]>,
        handler: EventHandler,
    ) -> Result<(), Error> {
        subscribe(self.host, self.ctx, classes, pattern, handler)
    }

    /// Logs through the server's log.
    pub fn log(&self, level: Level, message: &str) {
        log(self.host, self.ctx, level, message)
    }
}

/// What a command works with: calls to other commands, subscriptions, logging.
pub struct Context<'a> {
    host: &'a HostApi,
    ctx: *mut HostCtx,
}

impl Context<'_> {
    /// Runs another command inside the same atomic step and returns its reply (an error
    /// reply if the command is unknown, has the wrong arity or is not allowed from plugins,
    /// such as MULTI or SUBSCRIBE).
    pub fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Reply {
        let raw: Vec<RStr> = args.iter().map(|a| RStr::new(a.as_ref())).collect();
        let mut out: Option<Reply> = None;
        // SAFETY: call context of the running command; `raw` borrows `args`, which outlive
        // the call; the sink writes into `out`, which outlives it too.
        let status = unsafe {
            (self.host.call)(
                self.ctx,
                raw.len(),
                raw.as_ptr(),
                reply_sink,
                &mut out as *mut Option<Reply> as *mut c_void,
            )
        };
        match out {
            Some(reply) if status == abi::OK => reply,
            Some(reply) => reply,
            None => Reply::Error("ERR the server gave no reply to the call".into()),
        }
    }

    /// Subscribes `handler` to key events (see [`InitContext::subscribe`]).
    pub fn subscribe(
        &mut self,
        classes: u32,
        pattern: Option<&[u8]>,
        handler: EventHandler,
    ) -> Result<(), Error> {
        subscribe(self.host, self.ctx, classes, pattern, handler)
    }

    /// The calling client's selected database.
    pub fn db(&self) -> u32 {
        // SAFETY: call context of the running command.
        let db = unsafe { (self.host.selected_db)(self.ctx) };
        u32::try_from(db).unwrap_or(0)
    }

    /// The command's clock in Unix milliseconds: the same for the whole command, and the
    /// one the server uses for expiry.
    pub fn now_ms(&self) -> i64 {
        // SAFETY: call context of the running command.
        unsafe { (self.host.now_ms)(self.ctx) }
    }

    /// Logs through the server's log.
    pub fn log(&self, level: Level, message: &str) {
        log(self.host, self.ctx, level, message)
    }
}

/// What a key-event callback works with.
pub struct EventContext<'a> {
    host: &'a HostApi,
    ctx: *mut HostCtx,
}

impl EventContext<'_> {
    /// Logs through the server's log.
    pub fn log(&self, level: Level, message: &str) {
        log(self.host, self.ctx, level, message)
    }
}

fn log(host: &HostApi, ctx: *mut HostCtx, level: Level, message: &str) {
    // SAFETY: `ctx` is the context of the callback we are in; `message` outlives the call.
    unsafe { (host.log)(ctx, level.raw(), RStr::new(message.as_bytes())) }
}

fn subscribe(
    host: &HostApi,
    ctx: *mut HostCtx,
    classes: u32,
    pattern: Option<&[u8]>,
    handler: EventHandler,
) -> Result<(), Error> {
    let pattern = RStr::new(pattern.unwrap_or(b""));
    // SAFETY: `ctx` is the context of the callback we are in; `pattern` outlives the call.
    let status = unsafe {
        (host.subscribe)(
            ctx,
            classes,
            pattern,
            event_trampoline,
            handler as *const c_void,
        )
    };
    if status == abi::OK {
        Ok(())
    } else {
        Err(Error::new("cannot subscribe to key events here"))
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

unsafe extern "C" fn command_trampoline(
    host: *const HostApi,
    ctx: *mut HostCtx,
    argc: usize,
    argv: *const RStr,
    user: *const c_void,
) {
    // Unwinding out of an `extern "C"` function aborts the process: every panic stops here.
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the host passes a valid API table and `argc` arguments that live for the
        // call; `user` is the `CommandHandler` registered in `InitContext::command`.
        let (host, handler, raw) = unsafe {
            (
                &*host,
                std::mem::transmute::<*const c_void, CommandHandler>(user),
                slice(argv, argc),
            )
        };
        let args: Vec<&[u8]> = raw.iter().map(|a| unsafe { a.as_bytes() }).collect();
        let mut cx = Context { host, ctx };
        handler(&mut cx, &args)
    }));
    let reply = match result {
        Ok(Ok(reply)) => reply,
        Ok(Err(e)) => Reply::Error(e.0),
        Err(panic) => Reply::Error(format!(
            "ERR plugin command panicked: {}",
            panic_message(&*panic)
        )),
    };
    let _ = catch_unwind(AssertUnwindSafe(|| {
        lower(&reply, |node| {
            // SAFETY: call context of this command; the node tree lives during the call.
            unsafe { ((*host).reply)(ctx, node) };
        })
    }));
}

unsafe extern "C" fn event_trampoline(
    host: *const HostApi,
    ctx: *mut HostCtx,
    db: u32,
    event: RStr,
    key: RStr,
    user: *const c_void,
) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: as in `command_trampoline`; `user` is the `EventHandler` subscribed.
        let (host, handler, event, key) = unsafe {
            (
                &*host,
                std::mem::transmute::<*const c_void, EventHandler>(user),
                event.as_bytes(),
                key.as_bytes(),
            )
        };
        let mut cx = EventContext { host, ctx };
        let event = std::str::from_utf8(event).unwrap_or("");
        handler(&mut cx, &KeyEvent { db, event, key });
    }));
}

unsafe extern "C" fn reply_sink(node: *const ReplyNode, user: *mut c_void) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `user` is the `Option<Reply>` of `Context::call`; `node` is a valid tree
        // for the duration of this call.
        unsafe {
            let out = &mut *(user as *mut Option<Reply>);
            *out = Some(raise(node, 0));
        }
    }));
}

/// `len` items at `ptr`, or none.
unsafe fn slice<'a, T>(ptr: *const T, len: usize) -> &'a [T] {
    if len == 0 || ptr.is_null() {
        &[]
    } else {
        // SAFETY: the caller guarantees `len` readable items.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

/// Deepest reply accepted from the host; deeper ones are cut off with an error item.
const MAX_DEPTH: usize = 128;

/// Copies a node tree (host memory) into an owned reply.
unsafe fn raise(node: *const ReplyNode, depth: usize) -> Reply {
    if node.is_null() {
        return Reply::Null;
    }
    if depth > MAX_DEPTH {
        return Reply::Error("ERR reply nested too deeply".into());
    }
    // SAFETY: the host passes a valid tree.
    let n = unsafe { &*node };
    let text = || unsafe { String::from_utf8_lossy(n.bytes.as_bytes()).into_owned() };
    let items = || -> Vec<Reply> {
        unsafe { slice(n.items, n.len) }
            .iter()
            .map(|item| unsafe { raise(item, depth + 1) })
            .collect()
    };
    match n.kind {
        reply_kind::SIMPLE => Reply::Simple(text()),
        reply_kind::ERROR => Reply::Error(text()),
        reply_kind::INTEGER => Reply::Integer(n.int),
        reply_kind::BULK => Reply::Bulk(unsafe { n.bytes.as_bytes() }.to_vec()),
        reply_kind::ARRAY => Reply::Array(items()),
        reply_kind::SET => Reply::Set(items()),
        reply_kind::MAP => {
            let mut all = items().into_iter();
            let mut pairs = Vec::new();
            while let (Some(k), Some(v)) = (all.next(), all.next()) {
                pairs.push((k, v));
            }
            Reply::Map(pairs)
        }
        reply_kind::DOUBLE => Reply::Double(n.double),
        reply_kind::BOOLEAN => Reply::Boolean(n.int != 0),
        reply_kind::BIG_NUMBER => Reply::BigNumber(text()),
        reply_kind::VERBATIM => Reply::Verbatim {
            format: n.format,
            text: unsafe { n.bytes.as_bytes() }.to_vec(),
        },
        _ => Reply::Null,
    }
}

/// Builds the node tree of `reply` (in this library's memory) and hands its root to `f`.
fn lower<R>(reply: &Reply, f: impl FnOnce(&ReplyNode) -> R) -> R {
    // Children live in `arena` until `f` returns; moving a Vec into the arena does not move
    // its items, so the pointers stay valid.
    let mut arena: Vec<Vec<ReplyNode>> = Vec::new();
    let root = lower_into(reply, &mut arena);
    f(&root)
}

fn lower_into(reply: &Reply, arena: &mut Vec<Vec<ReplyNode>>) -> ReplyNode {
    let with_bytes = |kind, b: &[u8]| ReplyNode {
        bytes: RStr::new(b),
        ..ReplyNode::empty(kind)
    };
    let aggregate = |kind, items: Vec<ReplyNode>, arena: &mut Vec<Vec<ReplyNode>>| {
        let node = ReplyNode {
            items: items.as_ptr(),
            len: items.len(),
            ..ReplyNode::empty(kind)
        };
        arena.push(items);
        node
    };
    match reply {
        Reply::Simple(s) => with_bytes(reply_kind::SIMPLE, s.as_bytes()),
        Reply::Error(s) => with_bytes(reply_kind::ERROR, s.as_bytes()),
        Reply::Integer(n) => ReplyNode {
            int: *n,
            ..ReplyNode::empty(reply_kind::INTEGER)
        },
        Reply::Bulk(b) => with_bytes(reply_kind::BULK, b),
        Reply::Null => ReplyNode::empty(reply_kind::NULL),
        Reply::Array(v) | Reply::Set(v) => {
            let kind = if matches!(reply, Reply::Array(_)) {
                reply_kind::ARRAY
            } else {
                reply_kind::SET
            };
            let items = v.iter().map(|r| lower_into(r, arena)).collect();
            aggregate(kind, items, arena)
        }
        Reply::Map(pairs) => {
            let mut items = Vec::with_capacity(pairs.len() * 2);
            for (k, v) in pairs {
                items.push(lower_into(k, arena));
                items.push(lower_into(v, arena));
            }
            aggregate(reply_kind::MAP, items, arena)
        }
        Reply::Double(d) => ReplyNode {
            double: *d,
            ..ReplyNode::empty(reply_kind::DOUBLE)
        },
        Reply::Boolean(b) => ReplyNode {
            int: i64::from(*b),
            ..ReplyNode::empty(reply_kind::BOOLEAN)
        },
        Reply::BigNumber(s) => with_bytes(reply_kind::BIG_NUMBER, s.as_bytes()),
        Reply::Verbatim { format, text } => ReplyNode {
            format: *format,
            ..with_bytes(reply_kind::VERBATIM, text)
        },
    }
}

#[doc(hidden)]
pub mod __private {
    //! Used by [`export_plugin!`](crate::export_plugin); not part of the API.

    use super::*;

    /// The body of the exported init function.
    ///
    /// # Safety
    /// Called by the host with a valid API table, init context and `argc` arguments.
    pub unsafe fn run_init(
        host: *const HostApi,
        ctx: *mut HostCtx,
        argc: usize,
        argv: *const RStr,
        init: InitFn,
    ) -> abi::Status {
        if host.is_null() {
            return abi::FAILED;
        }
        // SAFETY: guaranteed by the caller.
        let host = unsafe { &*host };
        let result = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: guaranteed by the caller.
            let args = unsafe { slice(argv, argc) }
                .iter()
                .map(|a| unsafe { a.as_bytes() })
                .collect();
            let mut cx = InitContext { host, ctx, args };
            init(&mut cx)
        }));
        let message = match result {
            Ok(Ok(())) => return abi::OK,
            Ok(Err(e)) => e.0,
            Err(panic) => format!("ERR plugin init panicked: {}", panic_message(&*panic)),
        };
        // SAFETY: init context of this call; the message outlives it.
        unsafe { (host.set_error)(ctx, RStr::new(message.as_bytes())) };
        abi::FAILED
    }

    /// The body of the exported deinit function.
    pub fn run_deinit(deinit: fn()) {
        let _ = catch_unwind(deinit);
    }
}

/// Exports a plugin from a `cdylib` crate: defines the `respite_plugin_entry` symbol the
/// server looks for.
///
/// ```ignore
/// export_plugin!(name: "ratelimit", version: env!("CARGO_PKG_VERSION"), init: init);
/// // or, with a function run before the library is unloaded:
/// export_plugin!(name: "ratelimit", version: "1.0.0", init: init, deinit: cleanup);
/// ```
#[macro_export]
macro_rules! export_plugin {
    (name: $name:expr, version: $version:expr, init: $init:path $(,)?) => {
        $crate::export_plugin!(@emit $name, $version, $init, None);
    };
    (name: $name:expr, version: $version:expr, init: $init:path, deinit: $deinit:path $(,)?) => {
        $crate::export_plugin!(@emit $name, $version, $init, Some({
            unsafe extern "C" fn __respite_deinit(
                _host: *const $crate::abi::HostApi,
                _ctx: *mut $crate::abi::HostCtx,
            ) {
                $crate::__private::run_deinit($deinit)
            }
            __respite_deinit
        }));
    };
    (@emit $name:expr, $version:expr, $init:path, $deinit:expr) => {
        /// The entry point the Respite server looks up.
        #[unsafe(no_mangle)]
        pub extern "C" fn respite_plugin_entry() -> *const $crate::abi::PluginDescriptor {
            unsafe extern "C" fn __respite_init(
                host: *const $crate::abi::HostApi,
                ctx: *mut $crate::abi::HostCtx,
                argc: usize,
                argv: *const $crate::abi::RStr,
            ) -> $crate::abi::Status {
                // SAFETY: the host calls init with valid arguments (see the ABI).
                unsafe { $crate::__private::run_init(host, ctx, argc, argv, $init) }
            }
            static DESCRIPTOR: $crate::abi::PluginDescriptor = $crate::abi::PluginDescriptor {
                abi_version: $crate::abi::ABI_VERSION,
                name: $crate::abi::RStr::new($name.as_bytes()),
                version: $crate::abi::RStr::new($version.as_bytes()),
                init: __respite_init,
                deinit: $deinit,
            };
            &DESCRIPTOR
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_survive_a_round_trip_through_the_abi() {
        let reply = Reply::Array(vec![
            Reply::ok(),
            Reply::Error("ERR bad".into()),
            Reply::Integer(-7),
            Reply::bulk(&b"\x00bin"[..]),
            Reply::Null,
            Reply::Map(vec![(
                Reply::bulk("k"),
                Reply::Set(vec![Reply::Integer(1)]),
            )]),
            Reply::Double(1.5),
            Reply::Boolean(true),
            Reply::BigNumber("123456789012345678901234567890".into()),
            Reply::Verbatim {
                format: *b"txt",
                text: b"hi".to_vec(),
            },
        ]);
        let back = lower(&reply, |node| unsafe { raise(node, 0) });
        assert_eq!(back, reply);
    }

    #[test]
    fn errors_get_a_code_when_they_have_none() {
        assert_eq!(Error::new("bad thing").message(), "ERR bad thing");
        assert_eq!(Error::new("WRONGTYPE nope").message(), "WRONGTYPE nope");
        assert_eq!(Error::new("ERR x").message(), "ERR x");
    }
}
