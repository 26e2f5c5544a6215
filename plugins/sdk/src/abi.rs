//! The C ABI between the Respite server and a plugin loaded from a shared library.
//!
//! Everything here is `#[repr(C)]` or an `extern "C"` function pointer: no Rust standard types,
//! no trait objects, no unwinding. The host and the plugin have separate allocators, so no
//! side frees memory the other allocated: each borrows the other's data for the duration of a
//! call and copies what it keeps.
//!
//! The protocol:
//! 1. The host opens the library and calls [`ENTRY_SYMBOL`] (a [`PluginEntry`]), which returns
//!    a pointer to a static [`PluginDescriptor`].
//! 2. The host reads `abi_version` first (it is the first field in every version) and refuses
//!    the plugin unless it equals [`ABI_VERSION`].
//! 3. The host calls `init` with its [`HostApi`] table, an opaque init context and the load
//!    arguments; the plugin registers commands and event subscriptions through the table.
//! 4. On each command the host calls the registered [`CommandFn`] with a call context; the
//!    plugin sets exactly one reply with [`HostApi::reply`].
//! 5. On `MODULE UNLOAD` (or shutdown) the host calls `deinit`, if given, then removes the
//!    plugin's commands and subscriptions and closes the library.
//!
//! Every callback runs on the server's executor thread, one at a time.

use core::ffi::c_void;

/// Version of this ABI. Any change to a type or a function signature below bumps it; the host
/// refuses a plugin built for another version.
pub const ABI_VERSION: u32 = 1;

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
/// context during a command, an event context during an event callback.
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

/// A command implementation: `argv[0]` is the command name as the client sent it. Must call
/// [`HostApi::reply`] once (the host answers with an error otherwise) and must not unwind.
pub type CommandFn = unsafe extern "C" fn(
    host: *const HostApi,
    ctx: *mut HostCtx,
    argc: usize,
    argv: *const RStr,
    user: *const c_void,
);

/// A key-event callback: `event` is Redis's event name (`set`, `del`, `expired`, ...).
pub type EventFn = unsafe extern "C" fn(
    host: *const HostApi,
    ctx: *mut HostCtx,
    db: u32,
    event: RStr,
    key: RStr,
    user: *const c_void,
);

/// Receives the reply of [`HostApi::call`]; the node is valid only during this call.
pub type ReplySink = unsafe extern "C" fn(node: *const ReplyNode, user: *mut c_void);

/// A command to register.
#[repr(C)]
pub struct CommandDef {
    /// Name, case-insensitive; shown lower-case (`ratelimit.take`).
    pub name: RStr,
    /// Redis arity: N = exactly N arguments including the name, -N = at least N.
    pub arity: i32,
    /// Space-separated flags as `COMMAND INFO` names them (`write denyoom fast`).
    pub flags: RStr,
    /// Position of the first key (0 = no keys).
    pub first_key: i32,
    /// Position of the last key (negative counts from the end).
    pub last_key: i32,
    /// Step between keys.
    pub step: i32,
    /// Space-separated ACL categories without `@` (`write string fast`).
    pub categories: RStr,
    /// One-line summary for `COMMAND DOCS`.
    pub summary: RStr,
    /// The implementation.
    pub handler: CommandFn,
    /// Passed back to `handler` as is.
    pub user: *const c_void,
}

/// Kinds of [`ReplyNode`].
pub mod reply_kind {
    /// `+text`.
    pub const SIMPLE: u32 = 1;
    /// `-CODE message`.
    pub const ERROR: u32 = 2;
    /// `:n` (`int`).
    pub const INTEGER: u32 = 3;
    /// Bulk string (`bytes`).
    pub const BULK: u32 = 4;
    /// Null.
    pub const NULL: u32 = 5;
    /// Array of `len` items.
    pub const ARRAY: u32 = 6;
    /// Map: `len` items, alternately key and value (`len` is even).
    pub const MAP: u32 = 7;
    /// Set of `len` items.
    pub const SET: u32 = 8;
    /// Double (`double`).
    pub const DOUBLE: u32 = 9;
    /// Boolean (`int` 0 or 1).
    pub const BOOLEAN: u32 = 10;
    /// Big number: its decimal digits in `bytes`.
    pub const BIG_NUMBER: u32 = 11;
    /// Verbatim string: `format` and `bytes`.
    pub const VERBATIM: u32 = 12;
}

/// One RESP3 value; aggregates point to their items.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ReplyNode {
    /// One of [`reply_kind`].
    pub kind: u32,
    /// Integer and boolean value.
    pub int: i64,
    /// Double value.
    pub double: f64,
    /// Text of simple, error, bulk, big number and verbatim replies.
    pub bytes: RStr,
    /// Verbatim format (`txt`, `mkd`).
    pub format: [u8; 3],
    /// Items of aggregates.
    pub items: *const ReplyNode,
    /// Number of items.
    pub len: usize,
}

impl ReplyNode {
    /// A node of `kind` with every other field empty.
    pub const fn empty(kind: u32) -> Self {
        ReplyNode {
            kind,
            int: 0,
            double: 0.0,
            bytes: RStr {
                ptr: core::ptr::null(),
                len: 0,
            },
            format: [0; 3],
            items: core::ptr::null(),
            len: 0,
        }
    }
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
    /// Registers a command (init context only).
    pub register_command: unsafe extern "C" fn(ctx: *mut HostCtx, def: *const CommandDef) -> Status,
    /// Subscribes to key events of `classes` on keys matching the glob `pattern` (empty =
    /// every key); init and call contexts.
    pub subscribe: unsafe extern "C" fn(
        ctx: *mut HostCtx,
        classes: u32,
        pattern: RStr,
        callback: EventFn,
        user: *const c_void,
    ) -> Status,
    /// Sets the reply of the running command (call context only; the last one wins). The
    /// host copies the tree before returning.
    pub reply: unsafe extern "C" fn(ctx: *mut HostCtx, node: *const ReplyNode) -> Status,
    /// Runs another command inside the same atomic step (call context only) and hands its
    /// reply to `sink`. Commands flagged `noscript` (MULTI, SUBSCRIBE, MODULE, ...) are
    /// refused with an error reply.
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
    /// The calling client's selected database (call context), or the event's (event context).
    pub selected_db: unsafe extern "C" fn(ctx: *mut HostCtx) -> i64,
    /// The command's clock in Unix milliseconds, fixed for the whole command (call and event
    /// contexts); the wall clock elsewhere.
    pub now_ms: unsafe extern "C" fn(ctx: *mut HostCtx) -> i64,
}
