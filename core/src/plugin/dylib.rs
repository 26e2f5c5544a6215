//! Third-party plugins: shared libraries built against `respite-plugin-sdk`, opened with
//! libloading, spoken to through the C ABI of [`respite_plugin_sdk::abi`] (the one
//! definition both sides compile).
//!
//! Safety rests on three rules. The library stays open while anything can still call into
//! it: every command handler and event subscription holds an `Arc` of it, and unloading
//! removes those before dropping the last one. Nothing unwinds across the boundary: the SDK
//! catches panics in plugin code, and every host function here catches its own. Nothing
//! allocated on one side is freed on the other: each side copies what it keeps.

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use bytes::Bytes;
use respite_plugin_sdk::abi::{self, reply_kind, RStr, ReplyNode};

use super::{start, LoadedPlugin, Plugin, PluginError, Registrar};
use crate::commands::table::{flags, Command, Handler};
use crate::engine::{Ctx, Engine};
use crate::events::KeyEvent;
use crate::keyspace::now_ms;
use crate::protocol::Reply;

/// An open plugin library and what was read from its descriptor.
struct Dylib {
    name: String,
    init: unsafe extern "C" fn(*const abi::HostApi, *mut abi::HostCtx, usize, *const RStr) -> i32,
    deinit: Option<unsafe extern "C" fn(*const abi::HostApi, *mut abi::HostCtx)>,
    // Last field: dropped (closed) after everything above, which points into it.
    _library: libloading::Library,
}

/// A plugin's opaque pointer, handed back to it on every callback. Everything runs on the
/// executor thread; the pointer only travels with the command table.
#[derive(Clone, Copy)]
struct UserPtr(*const c_void);
// SAFETY: the host never dereferences it; it is returned to the plugin on the executor thread.
unsafe impl Send for UserPtr {}
// SAFETY: as above.
unsafe impl Sync for UserPtr {}

impl UserPtr {
    // A method rather than `.0`: closures then capture the whole (Send) wrapper, not the
    // raw pointer field.
    fn get(self) -> *const c_void {
        self.0
    }
}

/// Opens the library at `path`, checks its ABI version and starts it with `args`.
pub fn load(engine: &mut Engine, path: &str, args: Vec<String>) -> Result<String, PluginError> {
    let open_err = |reason: String| PluginError::Open {
        path: path.to_string(),
        reason,
    };
    // SAFETY: opening a library runs its initialisers. Loading plugins is an administrator's
    // act (configuration file, or MODULE LOAD, an admin command), who vouches for the file.
    let library = unsafe { libloading::Library::new(path) }.map_err(|e| open_err(e.to_string()))?;
    // SAFETY: the symbol's type is fixed by the ABI; a library exporting the name with
    // another type breaks the ABI contract, which the version check below cannot catch.
    let entry: abi::PluginEntry =
        match unsafe { library.get::<abi::PluginEntry>(abi::ENTRY_SYMBOL) } {
            Ok(symbol) => *symbol,
            Err(_) => {
                return Err(PluginError::NoEntry {
                    path: path.to_string(),
                })
            }
        };
    let bad = |reason: &str| PluginError::BadDescriptor {
        path: path.to_string(),
        reason: reason.to_string(),
    };
    // SAFETY: the entry point takes nothing and returns a pointer to static data.
    let descriptor = unsafe { entry() };
    if descriptor.is_null() {
        return Err(bad("the entry point returned a null descriptor"));
    }
    // Only the first field is read before the version is known: later fields may differ.
    // SAFETY: every ABI version starts the descriptor with a u32 version.
    let found = unsafe { std::ptr::read(descriptor as *const u32) };
    if found != abi::ABI_VERSION {
        return Err(PluginError::AbiMismatch {
            path: path.to_string(),
            found,
            expected: abi::ABI_VERSION,
        });
    }
    // SAFETY: version checked, so the layout is ours; the descriptor is static data of the
    // library, which is still open.
    let descriptor = unsafe { &*descriptor };
    // SAFETY: the descriptor's strings are static data of the open library.
    let name = unsafe { descriptor.name.as_bytes() };
    let version = unsafe { descriptor.version.as_bytes() };
    let name = std::str::from_utf8(name)
        .ok()
        .filter(|n| !n.is_empty() && n.len() <= 64 && n.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| bad("the name must be 1 to 64 printable ASCII characters"))?
        .to_string();
    let version = std::str::from_utf8(version)
        .map_err(|_| bad("the version is not UTF-8"))?
        .to_string();
    let lib = Arc::new(Dylib {
        name: name.clone(),
        init: descriptor.init,
        deinit: descriptor.deinit,
        _library: library,
    });
    let record = LoadedPlugin::new(&name, &version, Some(path.to_string()), args);
    start(engine, record, Box::new(DylibPlugin { lib }))?;
    Ok(name)
}

/// A loaded library, in the shape of a built-in plugin.
struct DylibPlugin {
    lib: Arc<Dylib>,
}

impl Plugin for DylibPlugin {
    fn start(&mut self, reg: &mut Registrar<'_>) -> Result<(), PluginError> {
        let args: Vec<RStr> = reg.args().iter().map(|a| RStr::new(a.as_bytes())).collect();
        let args_ptr = args.as_ptr();
        let mut cx = HostCtx::Init {
            reg,
            lib: &self.lib,
            error: None,
        };
        // SAFETY: the init function of an ABI-checked descriptor, given our API table, a
        // context that lives for the call, and arguments that outlive it.
        let status = unsafe { (self.lib.init)(&HOST_API, cx.as_ptr(), args.len(), args_ptr) };
        let HostCtx::Init { error, .. } = cx else {
            unreachable!("the context's kind does not change")
        };
        if status == abi::OK {
            return Ok(());
        }
        Err(PluginError::Failed {
            plugin: self.lib.name.clone(),
            message: error.unwrap_or_else(|| "init failed without saying why".into()),
        })
    }

    fn stop(&mut self, _engine: &mut Engine) {
        if let Some(deinit) = self.lib.deinit {
            let mut cx = HostCtx::Event {
                lib: &self.lib,
                db: 0,
            };
            // SAFETY: as for init.
            unsafe { deinit(&HOST_API, cx.as_ptr()) };
        }
    }
}

/// What an opaque [`abi::HostCtx`] pointer stands for on this side.
enum HostCtx<'r, 'e> {
    /// During the plugin's init.
    Init {
        reg: &'r mut Registrar<'e>,
        lib: &'r Arc<Dylib>,
        error: Option<String>,
    },
    /// During one of its commands.
    Call {
        ctx: &'r mut Ctx<'e>,
        lib: &'r Arc<Dylib>,
        reply: Option<Reply>,
    },
    /// During an event callback or deinit (which may log, nothing more).
    Event { lib: &'r Arc<Dylib>, db: u32 },
}

impl HostCtx<'_, '_> {
    fn as_ptr(&mut self) -> *mut abi::HostCtx {
        self as *mut Self as *mut abi::HostCtx
    }

    fn lib(&self) -> &Arc<Dylib> {
        match self {
            HostCtx::Init { lib, .. } | HostCtx::Call { lib, .. } | HostCtx::Event { lib, .. } => {
                lib
            }
        }
    }
}

/// Turns the plugin's context pointer back into ours and runs `f`, never unwinding into the
/// plugin; `fallback` is returned for a null pointer or a panic.
fn with_ctx<R>(
    ptr: *mut abi::HostCtx,
    fallback: R,
    f: impl FnOnce(&mut HostCtx<'_, '_>) -> R,
) -> R {
    if ptr.is_null() {
        return fallback;
    }
    // SAFETY: the plugin passes back the pointer of the callback it is in, which points to a
    // live HostCtx on our stack (the ABI forbids keeping it).
    let cx = unsafe { &mut *(ptr as *mut HostCtx<'_, '_>) };
    match catch_unwind(AssertUnwindSafe(|| f(cx))) {
        Ok(r) => r,
        Err(_) => {
            tracing::error!("a host function called by a plugin panicked");
            fallback
        }
    }
}

static HOST_API: abi::HostApi = abi::HostApi {
    abi_version: abi::ABI_VERSION,
    register_command: host_register_command,
    subscribe: host_subscribe,
    reply: host_reply,
    call: host_call,
    log: host_log,
    set_error: host_set_error,
    selected_db: host_selected_db,
    now_ms: host_now_ms,
};

fn text(r: RStr) -> String {
    // SAFETY: RStr arguments are valid for the call they are passed to.
    String::from_utf8_lossy(unsafe { r.as_bytes() }).into_owned()
}

/// Parses space-separated flag names as COMMAND INFO prints them.
fn parse_flags(names: &str) -> Result<u32, String> {
    names.split_ascii_whitespace().try_fold(0, |acc, word| {
        let lower = word.to_ascii_lowercase();
        flags::NAMES
            .iter()
            .find(|(_, name)| *name == lower)
            .map(|(bit, _)| acc | bit)
            .ok_or_else(|| format!("unknown command flag '{word}'"))
    })
}

unsafe extern "C" fn host_register_command(
    ctx: *mut abi::HostCtx,
    def: *const abi::CommandDef,
) -> abi::Status {
    with_ctx(ctx, abi::FAILED, |cx| {
        let HostCtx::Init { reg, lib, error } = cx else {
            return abi::FAILED;
        };
        if def.is_null() {
            return abi::FAILED;
        }
        // SAFETY: a definition valid for this call.
        let def = unsafe { &*def };
        let fail = |error: &mut Option<String>, message: String| {
            error.get_or_insert(message);
            abi::FAILED
        };
        let name = text(def.name);
        let command_flags = match parse_flags(&text(def.flags)) {
            Ok(f) => f,
            Err(e) => return fail(error, format!("command '{name}': {e}")),
        };
        let handler = command_handler(Arc::clone(lib), def.handler, UserPtr(def.user));
        let mut cmd = Command::new(name, def.arity, handler);
        cmd.flags = command_flags;
        cmd.first_key = def.first_key;
        cmd.last_key = def.last_key;
        cmd.step = def.step;
        cmd.categories = text(def.categories)
            .split_ascii_whitespace()
            .map(|c| c.trim_start_matches('@').to_ascii_lowercase())
            .collect();
        cmd.summary = text(def.summary);
        match reg.command(cmd) {
            Ok(()) => abi::OK,
            Err(PluginError::Register { source, .. }) => fail(error, source.to_string()),
            Err(e) => fail(error, e.to_string()),
        }
    })
}

/// The command table's handler for a plugin command: calls into the library with a call
/// context and takes the reply the plugin set.
fn command_handler(lib: Arc<Dylib>, f: abi::CommandFn, user: UserPtr) -> Handler {
    Arc::new(move |ctx: &mut Ctx<'_>, argv: &[Bytes]| {
        let args: Vec<RStr> = argv.iter().map(|a| RStr::new(a)).collect();
        let mut cx = HostCtx::Call {
            ctx,
            lib: &lib,
            reply: None,
        };
        // SAFETY: a registered command function of the open library (this closure holds it
        // open), with our API table, a context living for the call and borrowed arguments.
        unsafe {
            f(
                &HOST_API,
                cx.as_ptr(),
                args.len(),
                args.as_ptr(),
                user.get(),
            )
        };
        match cx {
            HostCtx::Call {
                reply: Some(reply), ..
            } => reply,
            _ => Reply::Error(
                format!(
                    "ERR plugin '{}' gave no reply to '{}'",
                    lib.name,
                    String::from_utf8_lossy(&argv[0])
                )
                .into(),
            ),
        }
    })
}

unsafe extern "C" fn host_subscribe(
    ctx: *mut abi::HostCtx,
    classes: u32,
    pattern: RStr,
    callback: abi::EventFn,
    user: *const c_void,
) -> abi::Status {
    with_ctx(ctx, abi::FAILED, |cx| {
        // The ABI's class bits are the core's (a unit test holds them equal).
        let classes = (classes & abi::class::ALL) as u16;
        // SAFETY: valid for this call; copied before it returns.
        let pattern = unsafe { pattern.as_bytes() };
        let pattern = (!pattern.is_empty()).then_some(pattern);
        let lib = Arc::clone(cx.lib());
        let handler = event_handler(lib, callback, UserPtr(user));
        match cx {
            HostCtx::Init { reg, .. } => {
                reg.subscribe(classes, pattern, handler);
                abi::OK
            }
            HostCtx::Call { ctx, lib, .. } => {
                let id = ctx.engine.events.subscribe(
                    classes,
                    pattern.map(Bytes::copy_from_slice),
                    handler,
                );
                crate::plugin::registry(ctx.engine).track_subscription(&lib.name, id);
                abi::OK
            }
            HostCtx::Event { .. } => abi::FAILED,
        }
    })
}

fn event_handler(
    lib: Arc<Dylib>,
    callback: abi::EventFn,
    user: UserPtr,
) -> crate::engine::EventHandler {
    Box::new(move |_engine: &mut Engine, events: &[KeyEvent]| {
        for e in events {
            let mut cx = HostCtx::Event {
                lib: &lib,
                db: e.db,
            };
            // SAFETY: a callback of the open library (this closure holds it open), with a
            // context and strings living for the call.
            unsafe {
                callback(
                    &HOST_API,
                    cx.as_ptr(),
                    e.db,
                    RStr::new(e.event.as_bytes()),
                    RStr::new(&e.key),
                    user.get(),
                )
            };
        }
    })
}

unsafe extern "C" fn host_reply(ctx: *mut abi::HostCtx, node: *const ReplyNode) -> abi::Status {
    with_ctx(ctx, abi::FAILED, |cx| {
        let HostCtx::Call { reply, .. } = cx else {
            return abi::FAILED;
        };
        // SAFETY: a node tree valid for this call; copied before it returns.
        *reply = Some(unsafe { raise(node, 0) });
        abi::OK
    })
}

unsafe extern "C" fn host_call(
    ctx: *mut abi::HostCtx,
    argc: usize,
    argv: *const RStr,
    sink: abi::ReplySink,
    sink_user: *mut c_void,
) -> abi::Status {
    let reply = with_ctx(
        ctx,
        Reply::error("ERR internal error while running the call"),
        |cx| {
            let HostCtx::Call { ctx, .. } = cx else {
                return Reply::error("ERR call() is only allowed from a command");
            };
            // SAFETY: `argc` arguments valid for this call; copied here.
            let args: Vec<Bytes> = unsafe { slice(argv, argc) }
                .iter()
                .map(|a| Bytes::copy_from_slice(unsafe { a.as_bytes() }))
                .collect();
            ctx.call(&args)
        },
    );
    let status = if reply.is_error() {
        abi::FAILED
    } else {
        abi::OK
    };
    lower(&reply, |node| {
        // SAFETY: the plugin's sink, with a tree living for the call.
        unsafe { sink(node, sink_user) }
    });
    status
}

unsafe extern "C" fn host_log(ctx: *mut abi::HostCtx, level: u32, message: RStr) {
    let message = text(message);
    let plugin = with_ctx(ctx, String::new(), |cx| cx.lib().name.clone());
    match level {
        abi::level::ERROR => tracing::error!(plugin = %plugin, "{message}"),
        abi::level::WARN => tracing::warn!(plugin = %plugin, "{message}"),
        abi::level::INFO => tracing::info!(plugin = %plugin, "{message}"),
        _ => tracing::debug!(plugin = %plugin, "{message}"),
    }
}

unsafe extern "C" fn host_set_error(ctx: *mut abi::HostCtx, message: RStr) {
    with_ctx(ctx, (), |cx| {
        if let HostCtx::Init { error, .. } = cx {
            // The host's own reason (a clashing name, a bad flag) is the more precise one.
            error.get_or_insert_with(|| text(message));
        }
    })
}

unsafe extern "C" fn host_selected_db(ctx: *mut abi::HostCtx) -> i64 {
    with_ctx(ctx, 0, |cx| match cx {
        HostCtx::Call { ctx, .. } => i64::from(ctx.db()),
        HostCtx::Event { db, .. } => i64::from(*db),
        HostCtx::Init { .. } => 0,
    })
}

unsafe extern "C" fn host_now_ms(ctx: *mut abi::HostCtx) -> i64 {
    with_ctx(ctx, now_ms(), |cx| match cx {
        HostCtx::Call { ctx, .. } => ctx.now,
        _ => now_ms(),
    })
}

/// `len` items at `ptr`, or none.
///
/// # Safety
/// `ptr` must point to `len` readable items that outlive `'a`.
unsafe fn slice<'a, T>(ptr: *const T, len: usize) -> &'a [T] {
    if len == 0 || ptr.is_null() {
        &[]
    } else {
        // SAFETY: guaranteed by the caller.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

/// Deepest reply accepted from a plugin (the protocol's own nesting limit is far lower in
/// practice; this only keeps a broken plugin from overflowing the stack).
const MAX_DEPTH: usize = 128;

/// Copies a plugin's reply tree, checking it: a malformed tree becomes an error reply.
///
/// # Safety
/// `node` must be null or a valid tree for the duration of the call.
unsafe fn raise(node: *const ReplyNode, depth: usize) -> Reply {
    if node.is_null() {
        return Reply::error("ERR plugin reply is missing");
    }
    if depth > MAX_DEPTH {
        return Reply::error("ERR plugin reply is nested too deeply");
    }
    // SAFETY: guaranteed by the caller.
    let n = unsafe { &*node };
    // SAFETY: the node's bytes and items are valid with it.
    let bytes = || Bytes::copy_from_slice(unsafe { n.bytes.as_bytes() });
    let line = || {
        // Status and error lines cannot hold CR or LF on the wire.
        text(n.bytes).replace(['\r', '\n'], " ")
    };
    let items = || -> Vec<Reply> {
        unsafe { slice(n.items, n.len) }
            .iter()
            .map(|item| unsafe { raise(item, depth + 1) })
            .collect()
    };
    match n.kind {
        reply_kind::SIMPLE => Reply::Simple(line().into()),
        reply_kind::ERROR => {
            let msg = line();
            if msg.is_empty() {
                Reply::error("ERR")
            } else {
                Reply::Error(msg.into())
            }
        }
        reply_kind::INTEGER => Reply::Integer(n.int),
        reply_kind::BULK => Reply::Bulk(bytes()),
        reply_kind::NULL => Reply::Null,
        reply_kind::ARRAY => Reply::Array(items()),
        reply_kind::SET => Reply::Set(items()),
        reply_kind::MAP if n.len % 2 == 0 => {
            let mut all = items().into_iter();
            let mut pairs = Vec::with_capacity(n.len / 2);
            while let (Some(k), Some(v)) = (all.next(), all.next()) {
                pairs.push((k, v));
            }
            Reply::Map(pairs)
        }
        reply_kind::MAP => Reply::error("ERR plugin reply: a map needs an even number of items"),
        reply_kind::DOUBLE => Reply::Double(n.double),
        reply_kind::BOOLEAN => Reply::Boolean(n.int != 0),
        reply_kind::BIG_NUMBER => Reply::BigNumber(bytes()),
        reply_kind::VERBATIM => Reply::Verbatim {
            format: n.format,
            text: bytes(),
        },
        other => Reply::Error(format!("ERR plugin reply of unknown kind {other}").into()),
    }
}

/// Builds the node tree of `reply` in our memory and hands its root to `f`.
fn lower<R>(reply: &Reply, f: impl FnOnce(&ReplyNode) -> R) -> R {
    // Children live in the arena until `f` returns; moving a Vec into it does not move its
    // items, so pointers to them stay valid.
    let mut arena: Vec<Vec<ReplyNode>> = Vec::new();
    let root = lower_into(reply, &mut arena);
    f(&root)
}

fn lower_into(reply: &Reply, arena: &mut Vec<Vec<ReplyNode>>) -> ReplyNode {
    fn with_bytes(kind: u32, b: &[u8]) -> ReplyNode {
        ReplyNode {
            bytes: RStr::new(b),
            ..ReplyNode::empty(kind)
        }
    }
    fn aggregate(kind: u32, items: Vec<ReplyNode>, arena: &mut Vec<Vec<ReplyNode>>) -> ReplyNode {
        let node = ReplyNode {
            items: items.as_ptr(),
            len: items.len(),
            ..ReplyNode::empty(kind)
        };
        arena.push(items);
        node
    }
    match reply {
        Reply::Simple(s) => with_bytes(reply_kind::SIMPLE, s.as_bytes()),
        Reply::Error(s) => with_bytes(reply_kind::ERROR, s.as_bytes()),
        Reply::Integer(n) => ReplyNode {
            int: *n,
            ..ReplyNode::empty(reply_kind::INTEGER)
        },
        Reply::Bulk(b) => with_bytes(reply_kind::BULK, b),
        Reply::Null | Reply::NullArray => ReplyNode::empty(reply_kind::NULL),
        Reply::Array(v) | Reply::Push(v) => {
            let items = v.iter().map(|r| lower_into(r, arena)).collect();
            aggregate(reply_kind::ARRAY, items, arena)
        }
        Reply::Set(v) => {
            let items = v.iter().map(|r| lower_into(r, arena)).collect();
            aggregate(reply_kind::SET, items, arena)
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
        Reply::BigNumber(b) => with_bytes(reply_kind::BIG_NUMBER, b),
        Reply::Verbatim { format, text } => ReplyNode {
            format: *format,
            ..with_bytes(reply_kind::VERBATIM, text)
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::class;

    #[test]
    fn abi_event_classes_are_the_cores() {
        let pairs: [(u32, u16); 12] = [
            (abi::class::GENERIC, class::GENERIC),
            (abi::class::STRING, class::STRING),
            (abi::class::LIST, class::LIST),
            (abi::class::SET, class::SET),
            (abi::class::HASH, class::HASH),
            (abi::class::ZSET, class::ZSET),
            (abi::class::EXPIRED, class::EXPIRED),
            (abi::class::EVICTED, class::EVICTED),
            (abi::class::STREAM, class::STREAM),
            (abi::class::KEY_MISS, class::KEY_MISS),
            (abi::class::MODULE, class::MODULE),
            (abi::class::NEW, class::NEW),
        ];
        for (abi_bit, core_bit) in pairs {
            assert_eq!(abi_bit, u32::from(core_bit));
        }
        assert_eq!(abi::class::ALL, u32::from(class::ALL));
    }

    #[test]
    fn replies_cross_the_abi_unchanged() {
        let reply = Reply::Array(vec![
            Reply::ok(),
            Reply::error("ERR bad"),
            Reply::Integer(-3),
            Reply::bulk("b"),
            Reply::Null,
            Reply::Map(vec![(
                Reply::bulk("k"),
                Reply::Set(vec![Reply::Integer(1)]),
            )]),
            Reply::Double(0.5),
            Reply::Boolean(false),
            Reply::BigNumber(Bytes::from_static(b"123")),
            Reply::Verbatim {
                format: *b"txt",
                text: Bytes::from_static(b"t"),
            },
        ]);
        let back = lower(&reply, |node| unsafe { raise(node, 0) });
        assert_eq!(format!("{back:?}"), format!("{reply:?}"));
    }

    #[test]
    fn malformed_plugin_replies_become_errors() {
        let item = ReplyNode::empty(reply_kind::INTEGER);
        let odd_map = ReplyNode {
            items: &item,
            len: 1,
            ..ReplyNode::empty(reply_kind::MAP)
        };
        assert!(unsafe { raise(&odd_map, 0) }.is_error());
        assert!(unsafe { raise(&ReplyNode::empty(99), 0) }.is_error());
        assert!(unsafe { raise(std::ptr::null(), 0) }.is_error());
        let crlf = ReplyNode {
            bytes: RStr::new(b"ERR a\r\nb"),
            ..ReplyNode::empty(reply_kind::ERROR)
        };
        match unsafe { raise(&crlf, 0) } {
            Reply::Error(e) => assert_eq!(e, "ERR a  b"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn flags_are_parsed_by_their_command_info_names() {
        assert_eq!(
            parse_flags("write  denyoom fast").unwrap(),
            flags::WRITE | flags::DENYOOM | flags::FAST
        );
        assert_eq!(parse_flags("").unwrap(), 0);
        assert!(parse_flags("write turbo").unwrap_err().contains("turbo"));
    }
}
