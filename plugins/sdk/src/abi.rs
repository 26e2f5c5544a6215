//! The C ABI between the Respite server and a plugin loaded from a shared library.
//!
//! Everything here is `#[repr(C)]` or an `extern "C"` function pointer: no Rust standard types,
//! no trait objects, no unwinding. The host and the plugin have separate allocators, so no
//! side frees memory the other allocated: each borrows the other's data for the duration of a
//! call and copies what it keeps. Data a plugin hands the host to keep (the `user` pointer of
//! a command, subscription, timer, unblock or INFO callback) comes with a [`DropFn`] that the
//! host calls, on the plugin's side, when it lets go of it.
//!
//! The protocol:
//! 1. The host opens the library and calls [`ENTRY_SYMBOL`] (a [`PluginEntry`]), which returns
//!    a pointer to a static [`PluginDescriptor`].
//! 2. The host reads `abi_version` first (it is the first field in every version) and refuses
//!    the plugin unless it equals [`ABI_VERSION`].
//! 3. The host calls `init` with its [`HostApi`] table, an opaque init context and the load
//!    arguments; the plugin registers commands, subscriptions, timers and INFO sections.
//! 4. On each command the host calls the registered [`CommandFn`] with a call context; the
//!    plugin sets exactly one reply with [`HostApi::reply`]. Event, timer and unblock
//!    callbacks get a context of their own that can call commands too.
//! 5. On `MODULE UNLOAD` (or shutdown) the host releases the clients the plugin parked, calls
//!    `deinit`, then removes the plugin's commands, subscriptions, timers and INFO sections
//!    (calling their [`DropFn`]s) and closes the library.
//!
//! Every callback runs on the server's executor thread, one at a time.

use core::ffi::c_void;

pub use crate::reply::{reply_kind, ReplyNode};

/// Version of this ABI. Any change to a type or a function signature below bumps it; the host
/// refuses a plugin built for another version.
///
/// 2: closures (user data with a drop function) for every callback, typed command flags,
/// timers, parked clients, INFO sections, calls from event callbacks, null arrays and pushes.
pub const ABI_VERSION: u32 = 2;

/// Name of the function every plugin library exports (NUL-terminated, for `dlsym`).
pub const ENTRY_SYMBOL: &[u8] = b"respite_plugin_entry\0";

/// Status of a host function or of a plugin's `init`: 0 is success.
pub type Status = i32;
/// Success.
pub const OK: Status = 0;
/// Failure; the reason was reported through [`HostApi::set_error`] or the host's log.
pub const FAILED: Status = -1;

/// Borrowed bytes: valid only for the duration of the call that passes them.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RStr {
    /// First byte (may be dangling when `len` is 0).
    pub ptr: *const u8,
    /// Number of bytes.
    pub len: usize,
}

impl RStr {
    /// Borrows a byte slice.
    pub const fn new(bytes: &[u8]) -> Self {
        RStr {
            ptr: bytes.as_ptr(),
            len: bytes.len(),
        }
    }

    /// The bytes.
    ///
    /// # Safety
    /// `ptr` must point to `len` readable bytes that outlive `'a`.
    pub unsafe fn as_bytes<'a>(self) -> &'a [u8] {
        if self.len == 0 || self.ptr.is_null() {
            &[]
        } else {
            // SAFETY: the caller guarantees `ptr..ptr+len` is readable for 'a.
            unsafe { core::slice::from_raw_parts(self.ptr, self.len) }
        }
    }
}

/// Opaque context the host passes to every callback: an init context during `init`, a call
/// context during a command, an event, timer or unblock context during those callbacks.
#[repr(C)]
pub struct HostCtx {
    _private: [u8; 0],
}

/// The static description a plugin library returns from its entry point.
#[repr(C)]
pub struct PluginDescriptor {
    /// Must be the first field, in every version: [`ABI_VERSION`] of the SDK the plugin was
    /// built with.
    pub abi_version: u32,
    /// Plugin name (what `MODULE LIST` shows and `MODULE UNLOAD` takes), UTF-8.
    pub name: RStr,
    /// Plugin version, `MAJOR.MINOR.PATCH`.
    pub version: RStr,
    /// Registers the plugin's commands and subscriptions. Returns [`OK`] or [`FAILED`] (after
    /// [`HostApi::set_error`]).
    pub init: unsafe extern "C" fn(
        host: *const HostApi,
        ctx: *mut HostCtx,
        argc: usize,
        argv: *const RStr,
    ) -> Status,
    /// Called once before the library is closed; may be absent.
    pub deinit: Option<unsafe extern "C" fn(host: *const HostApi, ctx: *mut HostCtx)>,
}

// SAFETY: a descriptor is immutable static data (pointers to static strings and functions),
// shared by the host's threads only to read it.
unsafe impl Sync for PluginDescriptor {}

/// The entry point's type: returns a pointer to a static descriptor.
pub type PluginEntry = unsafe extern "C" fn() -> *const PluginDescriptor;

/// Frees a `user` pointer the plugin handed over; the host calls it once, when it drops the
/// command, subscription, timer or callback the pointer came with.
pub type DropFn = unsafe extern "C" fn(user: *mut c_void);

/// A command implementation: `argv[0]` is the command name as the client sent it. Must call
/// [`HostApi::reply`] once (the host answers with an error otherwise) and must not unwind.
pub type CommandFn = unsafe extern "C" fn(
    host: *const HostApi,
    ctx: *mut HostCtx,
    argc: usize,
    argv: *const RStr,
    user: *mut c_void,
);

/// A key-event callback: `event` is Redis's event name (`set`, `del`, `expired`, ...). The
/// context can call commands.
pub type EventFn = unsafe extern "C" fn(
    host: *const HostApi,
    ctx: *mut HostCtx,
    db: u32,
    event: RStr,
    key: RStr,
    user: *mut c_void,
);

/// A timer callback; the context can call commands.
pub type TimerFn = unsafe extern "C" fn(host: *const HostApi, ctx: *mut HostCtx, user: *mut c_void);

/// Tells the plugin that a client it parked left without being served: `why` is one of
/// [`unblock`]. The context can call commands and serve other clients.
pub type UnblockFn = unsafe extern "C" fn(
    host: *const HostApi,
    ctx: *mut HostCtx,
    client: u64,
    why: u32,
    user: *mut c_void,
);

/// Fills the plugin's INFO section: the plugin calls [`HostApi::info_field`] once per field.
pub type InfoFn = unsafe extern "C" fn(host: *const HostApi, ctx: *mut HostCtx, user: *mut c_void);

/// Receives the reply of [`HostApi::call`]; the node is valid only during this call.
pub type ReplySink = unsafe extern "C" fn(node: *const ReplyNode, user: *mut c_void);

/// A command to register.
#[repr(C)]
pub struct CommandDef {
    /// Name, case-insensitive; shown lower-case (`ratelimit.take`).
    pub name: RStr,
    /// Redis arity: N = exactly N arguments including the name, -N = at least N.
    pub arity: i32,
    /// Bits of [`flag`].
    pub flags: u64,
    /// Position of the first key (0 = no keys).
    pub first_key: i32,
    /// Position of the last key (negative counts from the end).
    pub last_key: i32,
    /// Step between keys.
    pub step: i32,
    /// Position of a `numkeys` argument followed by that many keys, on top of the keys
    /// first/last/step give (0 = none).
    pub numkeys_at: i32,
    /// Space-separated ACL categories without `@` (`write string fast`).
    pub categories: RStr,
    /// `COMMAND DOCS` group (empty = `module`).
    pub group: RStr,
    /// One-line summary for `COMMAND DOCS`.
    pub summary: RStr,
    /// Version that introduced the command, for `COMMAND DOCS` (empty = `1.0.0`).
    pub since: RStr,
    /// Time complexity, for `COMMAND DOCS`.
    pub complexity: RStr,
    /// The implementation.
    pub handler: CommandFn,
    /// Passed back to `handler` as is.
    pub user: *mut c_void,
    /// Frees `user` when the command is removed (absent: nothing to free).
    pub drop_user: Option<DropFn>,
}

/// Command flags, one bit each, with the names `COMMAND INFO` prints.
pub mod flag {
    /// `write`.
    pub const WRITE: u64 = 1 << 0;
    /// `readonly`.
    pub const READONLY: u64 = 1 << 1;
    /// `denyoom`.
    pub const DENYOOM: u64 = 1 << 2;
    /// `admin`.
    pub const ADMIN: u64 = 1 << 3;
    /// `pubsub`.
    pub const PUBSUB: u64 = 1 << 4;
    /// `noscript`.
    pub const NOSCRIPT: u64 = 1 << 5;
    /// `blocking`.
    pub const BLOCKING: u64 = 1 << 6;
    /// `loading`.
    pub const LOADING: u64 = 1 << 7;
    /// `stale`.
    pub const STALE: u64 = 1 << 8;
    /// `skip_monitor`.
    pub const SKIP_MONITOR: u64 = 1 << 9;
    /// `skip_slowlog`.
    pub const SKIP_SLOWLOG: u64 = 1 << 10;
    /// `fast`.
    pub const FAST: u64 = 1 << 11;
    /// `no_auth`.
    pub const NO_AUTH: u64 = 1 << 12;
    /// `may_replicate`.
    pub const MAY_REPLICATE: u64 = 1 << 13;
    /// `no_multi`.
    pub const NO_MULTI: u64 = 1 << 14;
    /// `allow_busy`.
    pub const ALLOW_BUSY: u64 = 1 << 15;
    /// `movablekeys`.
    pub const MOVABLE_KEYS: u64 = 1 << 16;

    /// Every flag with its `COMMAND INFO` name.
    pub const NAMES: &[(u64, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (MAY_REPLICATE, "may_replicate"),
        (NO_MULTI, "no_multi"),
        (ALLOW_BUSY, "allow_busy"),
        (MOVABLE_KEYS, "movablekeys"),
    ];
}

/// Key-event classes, one bit per letter of `notify-keyspace-events`.
pub mod class {
    /// `g`: generic commands (DEL, EXPIRE, RENAME, ...).
    pub const GENERIC: u32 = 1 << 0;
    /// `$`: string commands.
    pub const STRING: u32 = 1 << 1;
    /// `l`: list commands.
    pub const LIST: u32 = 1 << 2;
    /// `s`: set commands.
    pub const SET: u32 = 1 << 3;
    /// `h`: hash commands.
    pub const HASH: u32 = 1 << 4;
    /// `z`: sorted set commands.
    pub const ZSET: u32 = 1 << 5;
    /// `x`: expired keys.
    pub const EXPIRED: u32 = 1 << 6;
    /// `e`: evicted keys.
    pub const EVICTED: u32 = 1 << 7;
    /// `t`: stream commands.
    pub const STREAM: u32 = 1 << 8;
    /// `m`: key misses.
    pub const KEY_MISS: u32 = 1 << 9;
    /// `d`: module (plugin) events.
    pub const MODULE: u32 = 1 << 10;
    /// `n`: new keys.
    pub const NEW: u32 = 1 << 11;
    /// Every class.
    pub const ALL: u32 = (1 << 12) - 1;
}

/// Why a parked client left without being served ([`UnblockFn`]).
pub mod unblock {
    /// Its timeout elapsed, or `CLIENT UNBLOCK id TIMEOUT`: it got the timeout reply.
    pub const TIMEOUT: u32 = 1;
    /// `CLIENT UNBLOCK id ERROR`: it got an `UNBLOCKED` error.
    pub const ERROR: u32 = 2;
    /// It disconnected or was killed.
    pub const GONE: u32 = 3;
}

/// Log levels for [`HostApi::log`].
pub mod level {
    /// Errors.
    pub const ERROR: u32 = 1;
    /// Warnings.
    pub const WARN: u32 = 2;
    /// Information.
    pub const INFO: u32 = 3;
    /// Debugging.
    pub const DEBUG: u32 = 4;
}

/// The functions the host offers a plugin. Each takes the context of the callback it is
/// called from; using a context after its callback returned is undefined behaviour.
#[repr(C)]
pub struct HostApi {
    /// [`ABI_VERSION`] of the host.
    pub abi_version: u32,
    /// Registers a command (init context only). The host owns `def.user` from this call on,
    /// even when it fails.
    pub register_command: unsafe extern "C" fn(ctx: *mut HostCtx, def: *const CommandDef) -> Status,
    /// Subscribes to key events of `classes` on keys matching the glob `pattern` (empty =
    /// every key); any context but deinit. The host owns `user` from this call on.
    pub subscribe: unsafe extern "C" fn(
        ctx: *mut HostCtx,
        classes: u32,
        pattern: RStr,
        callback: EventFn,
        user: *mut c_void,
        drop_user: Option<DropFn>,
    ) -> Status,
    /// Sets the reply of the running command (call context only; the last one wins). The
    /// host copies the tree before returning.
    pub reply: unsafe extern "C" fn(ctx: *mut HostCtx, node: *const ReplyNode) -> Status,
    /// Runs another command inside the same atomic step (call, event, timer and unblock
    /// contexts) and hands its reply to `sink`. Commands flagged `noscript` (MULTI,
    /// SUBSCRIBE, MODULE, ...) are refused with an error reply.
    pub call: unsafe extern "C" fn(
        ctx: *mut HostCtx,
        argc: usize,
        argv: *const RStr,
        sink: ReplySink,
        sink_user: *mut c_void,
    ) -> Status,
    /// Logs a message through the server's log, tagged with the plugin's name.
    pub log: unsafe extern "C" fn(ctx: *mut HostCtx, level: u32, message: RStr),
    /// Records why `init` is about to fail (init context only).
    pub set_error: unsafe extern "C" fn(ctx: *mut HostCtx, message: RStr),
    /// The calling client's selected database (call context), the event's (event context),
    /// 0 elsewhere.
    pub selected_db: unsafe extern "C" fn(ctx: *mut HostCtx) -> i64,
    /// The command's clock in Unix milliseconds, fixed for the whole command (call context);
    /// the wall clock elsewhere.
    pub now_ms: unsafe extern "C" fn(ctx: *mut HostCtx) -> i64,
    /// The calling client's id (call context); 0 elsewhere.
    pub client_id: unsafe extern "C" fn(ctx: *mut HostCtx) -> u64,
    /// Parks the calling client (call context only): its reply comes from
    /// [`HostApi::serve_blocked`], or after `timeout_ms` (0 = never) it gets `timeout_reply`
    /// (copied here). The command then sets any reply, which is dropped. Returns [`FAILED`],
    /// parking nothing, where the client may not block (inside MULTI, or a command run by
    /// `call`): the command must then answer as its non-blocking form.
    pub block: unsafe extern "C" fn(
        ctx: *mut HostCtx,
        timeout_ms: u64,
        timeout_reply: *const ReplyNode,
    ) -> Status,
    /// Releases a client this plugin parked with `reply` (any context but init and deinit).
    /// Returns [`FAILED`] if that client is not parked by this plugin (any more).
    pub serve_blocked:
        unsafe extern "C" fn(ctx: *mut HostCtx, client: u64, reply: *const ReplyNode) -> Status,
    /// Sets the plugin's unblock callback (init context only): told when a client it parked
    /// leaves without being served. The host owns `user` from this call on.
    pub on_unblock: unsafe extern "C" fn(
        ctx: *mut HostCtx,
        callback: UnblockFn,
        user: *mut c_void,
        drop_user: Option<DropFn>,
    ) -> Status,
    /// Starts a timer (any context but deinit): `callback` runs on the executor, between
    /// commands, `delay_ms` from now, then every `period_ms` if that is not 0. Returns the
    /// timer's id (0 on failure). The host owns `user` from this call on and drops it when a
    /// one-shot timer has fired, the timer is stopped, or the plugin is unloaded.
    pub timer: unsafe extern "C" fn(
        ctx: *mut HostCtx,
        delay_ms: u64,
        period_ms: u64,
        callback: TimerFn,
        user: *mut c_void,
        drop_user: Option<DropFn>,
    ) -> u64,
    /// Stops a timer of this plugin; returns [`FAILED`] if it is not running (any more).
    pub stop_timer: unsafe extern "C" fn(ctx: *mut HostCtx, id: u64) -> Status,
    /// Adds the plugin's INFO section `# <title>` (init context only), filled by `callback`
    /// each time INFO shows it. The host owns `user` from this call on.
    pub info_section: unsafe extern "C" fn(
        ctx: *mut HostCtx,
        title: RStr,
        callback: InfoFn,
        user: *mut c_void,
        drop_user: Option<DropFn>,
    ) -> Status,
    /// Adds a `name:value` line to the INFO section being filled (info context only).
    pub info_field: unsafe extern "C" fn(ctx: *mut HostCtx, name: RStr, value: RStr) -> Status,
}
