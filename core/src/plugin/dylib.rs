//! Third-party plugins: shared libraries built against `respite-plugin-sdk`, opened with
//! libloading, spoken to through the C ABI of [`respite_plugin_sdk::abi`] (the one
//! definition both sides compile). Replies cross the boundary as the SDK's node trees, encoded
//! and decoded by the SDK's own [`respite_plugin_sdk::reply`] code on both sides; this file
//! only maps the SDK's `Reply` to the server's and back.
//!
//! Safety rests on three rules. The library stays open while anything can still call into
//! it: every command handler, event subscription, timer and INFO section holds an `Arc` of
//! it, and unloading removes those before dropping the last one. Nothing unwinds across the
//! boundary: the SDK catches panics in plugin code, and every host function here catches its
//! own. Nothing allocated on one side is freed on the other: each side copies what it keeps,
//! and what the plugin hands over to keep comes with its own drop function.

use std::collections::{HashMap, HashSet};
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use respite_plugin_sdk::abi::{self, RStr, ReplyNode};
use respite_plugin_sdk::reply as sdk_reply;

use super::internal::internal_client;
use super::{start, LoadedPlugin, Plugin, PluginError, Registrar};
use crate::commands::table::{flags, Command, Handler};
use crate::engine::blocked::{BlockSpec, Unblock};
use crate::engine::client::ClientId;
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

/// Something the plugin handed over to keep (a closure, in the SDK): its pointer, and the
/// plugin's function that frees it, called when this is dropped. Holds the library open
/// until then.
struct Owned {
    user: *mut c_void,
    drop_user: Option<abi::DropFn>,
    _lib: Arc<Dylib>,
}

// SAFETY: the host never dereferences `user`; it hands it back to the plugin, and frees it
// through the plugin, only on the executor thread, one call at a time.
unsafe impl Send for Owned {}
// SAFETY: as above.
unsafe impl Sync for Owned {}

impl Owned {
    fn new(lib: &Arc<Dylib>, user: *mut c_void, drop_user: Option<abi::DropFn>) -> Self {
        Owned {
            user,
            drop_user,
            _lib: Arc::clone(lib),
        }
    }

    fn get(&self) -> *mut c_void {
        self.user
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        // Runs before the fields drop: the library is still open.
        if let Some(free) = self.drop_user {
            let user = self.user;
            // SAFETY: the plugin's drop function for its own pointer, called once.
            let _ = catch_unwind(AssertUnwindSafe(|| unsafe { free(user) }));
        }
    }
}

/// A running timer of a plugin.
struct Timer {
    callback: abi::TimerFn,
    user: Owned,
    periodic: bool,
    task: Option<tokio::task::JoinHandle<()>>,
    /// Firing now: a stop then only marks it.
    running: bool,
    stopped: bool,
}

/// What the host keeps for one loaded plugin besides its registry record: its parked
/// clients, timers and unblock callback.
struct PluginHost {
    lib: Arc<Dylib>,
    waiters: Mutex<HashSet<ClientId>>,
    timers: Mutex<HashMap<u64, Timer>>,
    unblock: Mutex<Option<(abi::UnblockFn, Owned)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Next timer id, shared by all plugins (ids never repeat within a process).
static NEXT_TIMER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Which plugin parked which client: the unblock hook is a plain function, and finds the
/// plugin here. Kept in the plugin registry's state map, shared by all shared-library
/// plugins.
#[derive(Default)]
struct Waiters(HashMap<ClientId, Arc<PluginHost>>);

fn waiters(engine: &mut Engine) -> &mut HashMap<ClientId, Arc<PluginHost>> {
    &mut engine.extensions.get_or_insert_with(Waiters::default).0
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
    let host = Arc::new(PluginHost {
        lib,
        waiters: Mutex::new(HashSet::new()),
        timers: Mutex::new(HashMap::new()),
        unblock: Mutex::new(None),
    });
    let record = LoadedPlugin::new(&name, &version, Some(path.to_string()), args);
    start(engine, record, Box::new(DylibPlugin { host }))?;
    Ok(name)
}

/// A loaded library, in the shape of a built-in plugin.
struct DylibPlugin {
    host: Arc<PluginHost>,
}

impl Plugin for DylibPlugin {
    fn start(&mut self, reg: &mut Registrar<'_>) -> Result<(), PluginError> {
        let args: Vec<RStr> = reg.args().iter().map(|a| RStr::new(a.as_bytes())).collect();
        let args_ptr = args.as_ptr();
        let mut cx = HostCtx {
            host: &self.host,
            kind: Kind::Init { reg, error: None },
        };
        // SAFETY: the init function of an ABI-checked descriptor, given our API table, a
        // context that lives for the call, and arguments that outlive it.
        let status = unsafe { (self.host.lib.init)(&HOST_API, cx.as_ptr(), args.len(), args_ptr) };
        let Kind::Init { error, .. } = cx.kind else {
            unreachable!("the context's kind does not change")
        };
        if status == abi::OK {
            return Ok(());
        }
        Err(PluginError::Failed {
            plugin: self.host.lib.name.clone(),
            message: error.unwrap_or_else(|| "init failed without saying why".into()),
        })
    }

    fn stop(&mut self, engine: &mut Engine) {
        // Clients it parked get their timeout reply (the plugin's unblock callback is told).
        let parked: Vec<ClientId> = lock(&self.host.waiters).iter().copied().collect();
        for id in parked {
            engine.unblock(id, Unblock::Timeout);
        }
        let timers = std::mem::take(&mut *lock(&self.host.timers));
        for timer in timers.into_values() {
            if let Some(task) = &timer.task {
                task.abort();
            }
        }
        if let Some(deinit) = self.host.lib.deinit {
            let mut cx = HostCtx {
                host: &self.host,
                kind: Kind::Bare,
            };
            // SAFETY: as for init.
            unsafe { deinit(&HOST_API, cx.as_ptr()) };
        }
        lock(&self.host.unblock).take();
    }
}

/// What an opaque [`abi::HostCtx`] pointer stands for on this side.
struct HostCtx<'r, 'e> {
    host: &'r Arc<PluginHost>,
    kind: Kind<'r, 'e>,
}

enum Kind<'r, 'e> {
    /// During the plugin's init.
    Init {
        reg: &'r mut Registrar<'e>,
        error: Option<String>,
    },
    /// During one of its commands (`command`), or a key-event, timer or unblock callback
    /// running for an internal client.
    Call {
        ctx: &'r mut Ctx<'e>,
        reply: Option<Reply>,
        command: bool,
    },
    /// Filling an INFO section.
    Info { fields: Vec<(String, String)> },
    /// During deinit (which may log, nothing more).
    Bare,
}

impl HostCtx<'_, '_> {
    fn as_ptr(&mut self) -> *mut abi::HostCtx {
        self as *mut Self as *mut abi::HostCtx
    }

    fn engine(&mut self) -> Option<&mut Engine> {
        match &mut self.kind {
            Kind::Init { reg, .. } => Some(reg.engine()),
            Kind::Call { ctx, .. } => Some(&mut *ctx.engine),
            _ => None,
        }
    }
}

/// Runs `f` with a call context for an internal client on `db` (callbacks outside commands).
fn with_internal(
    engine: &mut Engine,
    host: &Arc<PluginHost>,
    db: u32,
    f: impl FnOnce(*mut abi::HostCtx),
) {
    let mut client = internal_client(db);
    let mut ctx = Ctx {
        engine,
        client: &mut client,
        now: now_ms(),
    };
    let mut cx = HostCtx {
        host,
        kind: Kind::Call {
            ctx: &mut ctx,
            reply: None,
            command: false,
        },
    };
    f(cx.as_ptr());
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
    client_id: host_client_id,
    block: host_block,
    serve_blocked: host_serve_blocked,
    on_unblock: host_on_unblock,
    timer: host_timer,
    stop_timer: host_stop_timer,
    info_section: host_info_section,
    info_field: host_info_field,
};

fn text(r: RStr) -> String {
    // SAFETY: RStr arguments are valid for the call they are passed to.
    String::from_utf8_lossy(unsafe { r.as_bytes() }).into_owned()
}

/// The server's reply for the SDK's (the same RESP3 types).
fn from_sdk(r: sdk_reply::Reply) -> Reply {
    use sdk_reply::Reply as S;
    let list = |v: Vec<S>| v.into_iter().map(from_sdk).collect();
    match r {
        S::Simple(s) => Reply::Simple(s.into()),
        S::Error(s) => Reply::Error(s.into()),
        S::Integer(n) => Reply::Integer(n),
        S::Bulk(b) => Reply::Bulk(b.into()),
        S::Null => Reply::Null,
        S::NullArray => Reply::NullArray,
        S::Array(v) => Reply::Array(list(v)),
        S::Set(v) => Reply::Set(list(v)),
        S::Push(v) => Reply::Push(list(v)),
        S::Map(pairs) => Reply::Map(
            pairs
                .into_iter()
                .map(|(k, v)| (from_sdk(k), from_sdk(v)))
                .collect(),
        ),
        S::Double(d) => Reply::Double(d),
        S::Boolean(b) => Reply::Boolean(b),
        S::BigNumber(s) => Reply::BigNumber(s.into()),
        S::Verbatim { format, text } => Reply::Verbatim {
            format,
            text: text.into(),
        },
    }
}

/// The SDK's reply for the server's.
fn to_sdk(r: &Reply) -> sdk_reply::Reply {
    use sdk_reply::Reply as S;
    let list = |v: &[Reply]| v.iter().map(to_sdk).collect();
    let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match r {
        Reply::Simple(s) => S::Simple(s.to_string()),
        Reply::Error(s) => S::Error(s.to_string()),
        Reply::Integer(n) => S::Integer(*n),
        Reply::Bulk(b) => S::Bulk(b.to_vec()),
        Reply::Null => S::Null,
        Reply::NullArray => S::NullArray,
        Reply::Array(v) => S::Array(list(v)),
        Reply::Set(v) => S::Set(list(v)),
        Reply::Push(v) => S::Push(list(v)),
        Reply::Map(pairs) => S::Map(pairs.iter().map(|(k, v)| (to_sdk(k), to_sdk(v))).collect()),
        Reply::Double(d) | Reply::HumanDouble(d) => S::Double(*d),
        Reply::Boolean(b) => S::Boolean(*b),
        Reply::BigNumber(b) => S::BigNumber(lossy(b)),
        Reply::Verbatim { format, text } => S::Verbatim {
            format: *format,
            text: text.to_vec(),
        },
    }
}

/// Copies a plugin's reply tree (checked by the SDK's decoder).
///
/// # Safety
/// `node` must be null or a valid tree for the duration of the call.
unsafe fn raise(node: *const ReplyNode) -> Reply {
    // SAFETY: guaranteed by the caller.
    from_sdk(unsafe { sdk_reply::decode(node) })
}

/// Maps the ABI's flag bits to the command table's.
fn core_flags(bits: u64) -> Result<u32, String> {
    let mut out = 0;
    let mut known = 0;
    for (bit, name) in abi::flag::NAMES {
        known |= bit;
        if bits & bit != 0 {
            let core = flags::NAMES
                .iter()
                .find(|(_, n)| n == name)
                .ok_or_else(|| format!("command flag '{name}' is not supported"))?;
            out |= core.0;
        }
    }
    if bits & !known != 0 {
        return Err(format!("unknown command flag bits {:#x}", bits & !known));
    }
    Ok(out)
}

unsafe extern "C" fn host_register_command(
    ctx: *mut abi::HostCtx,
    def: *const abi::CommandDef,
) -> abi::Status {
    with_ctx(ctx, abi::FAILED, |cx| {
        if def.is_null() {
            return abi::FAILED;
        }
        // SAFETY: a definition valid for this call.
        let def = unsafe { &*def };
        // Owned from here on, whatever happens: dropping it frees it on the plugin's side.
        let user = Owned::new(&cx.host.lib, def.user, def.drop_user);
        let host = Arc::clone(cx.host);
        let Kind::Init { reg, error } = &mut cx.kind else {
            return abi::FAILED;
        };
        let mut fail = |message: String| {
            error.get_or_insert(message);
            abi::FAILED
        };
        let name = text(def.name);
        let command_flags = match core_flags(def.flags) {
            Ok(f) => f,
            Err(e) => return fail(format!("command '{name}': {e}")),
        };
        let handler = command_handler(host, def.handler, user);
        let mut cmd = Command::new(name, def.arity, handler);
        cmd.flags = command_flags;
        cmd.first_key = def.first_key;
        cmd.last_key = def.last_key;
        cmd.step = def.step;
        cmd.categories = text(def.categories)
            .split_ascii_whitespace()
            .map(|c| c.trim_start_matches('@').to_ascii_lowercase())
            .collect();
        cmd.numkeys_at = def.numkeys_at;
        cmd.summary = text(def.summary);
        for (field, value) in [
            (&mut cmd.group, def.group),
            (&mut cmd.since, def.since),
            (&mut cmd.complexity, def.complexity),
        ] {
            let value = text(value);
            if !value.is_empty() {
                *field = value;
            }
        }
        match reg.command(cmd) {
            Ok(()) => abi::OK,
            Err(PluginError::Register { source, .. }) => fail(source.to_string()),
            Err(e) => fail(e.to_string()),
        }
    })
}

/// The command table's handler for a plugin command: calls into the library with a call
/// context and takes the reply the plugin set.
fn command_handler(host: Arc<PluginHost>, f: abi::CommandFn, user: Owned) -> Handler {
    Arc::new(move |ctx: &mut Ctx<'_>, argv: &[Bytes]| {
        let args: Vec<RStr> = argv.iter().map(|a| RStr::new(a)).collect();
        let mut cx = HostCtx {
            host: &host,
            kind: Kind::Call {
                ctx,
                reply: None,
                command: true,
            },
        };
        // SAFETY: a registered command function of the open library (`user` holds it open),
        // with our API table, a context living for the call and borrowed arguments.
        unsafe {
            f(
                &HOST_API,
                cx.as_ptr(),
                args.len(),
                args.as_ptr(),
                user.get(),
            )
        };
        match cx.kind {
            Kind::Call {
                reply: Some(reply), ..
            } => reply,
            _ => Reply::Error(
                format!(
                    "ERR plugin '{}' gave no reply to '{}'",
                    host.lib.name,
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
    user: *mut c_void,
    drop_user: Option<abi::DropFn>,
) -> abi::Status {
    with_ctx(ctx, abi::FAILED, |cx| {
        let user = Owned::new(&cx.host.lib, user, drop_user);
        // The ABI's class bits are the core's (a unit test holds them equal).
        let classes = (classes & abi::class::ALL) as u16;
        // SAFETY: valid for this call; copied before it returns.
        let pattern = unsafe { pattern.as_bytes() };
        let pattern = (!pattern.is_empty()).then_some(pattern);
        let handler = event_handler(Arc::clone(cx.host), callback, user);
        let name = cx.host.lib.name.clone();
        match &mut cx.kind {
            Kind::Init { reg, .. } => {
                reg.subscribe(classes, pattern, handler);
                abi::OK
            }
            Kind::Call { ctx, .. } => {
                let id = ctx.engine.events.subscribe(
                    classes,
                    pattern.map(Bytes::copy_from_slice),
                    handler,
                );
                crate::plugin::registry(ctx.engine).track_subscription(&name, id);
                abi::OK
            }
            _ => abi::FAILED,
        }
    })
}

fn event_handler(
    host: Arc<PluginHost>,
    callback: abi::EventFn,
    user: Owned,
) -> crate::engine::EventHandler {
    Box::new(move |engine: &mut Engine, events: &[KeyEvent]| {
        // One internal client for the whole batch, moved to each event's database.
        let mut client = internal_client(0);
        for e in events {
            client.db = e.db;
            let mut ctx = Ctx {
                engine: &mut *engine,
                client: &mut client,
                now: now_ms(),
            };
            let mut cx = HostCtx {
                host: &host,
                kind: Kind::Call {
                    ctx: &mut ctx,
                    reply: None,
                    command: false,
                },
            };
            // SAFETY: a callback of the open library (`user` holds it open), with a context
            // and strings living for the call.
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
        let Kind::Call { reply, .. } = &mut cx.kind else {
            return abi::FAILED;
        };
        // SAFETY: a node tree valid for this call; copied before it returns.
        *reply = Some(unsafe { raise(node) });
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
            let Kind::Call { ctx, .. } = &mut cx.kind else {
                return Reply::error("ERR call() is not allowed here");
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
    sdk_reply::with_tree(&to_sdk(&reply), |node| {
        // SAFETY: the plugin's sink, with a tree living for the call.
        unsafe { sink(node, sink_user) }
    });
    status
}

unsafe extern "C" fn host_log(ctx: *mut abi::HostCtx, level: u32, message: RStr) {
    let message = text(message);
    let plugin = with_ctx(ctx, String::new(), |cx| cx.host.lib.name.clone());
    match level {
        abi::level::ERROR => tracing::error!(plugin = %plugin, "{message}"),
        abi::level::WARN => tracing::warn!(plugin = %plugin, "{message}"),
        abi::level::INFO => tracing::info!(plugin = %plugin, "{message}"),
        _ => tracing::debug!(plugin = %plugin, "{message}"),
    }
}

unsafe extern "C" fn host_set_error(ctx: *mut abi::HostCtx, message: RStr) {
    with_ctx(ctx, (), |cx| {
        if let Kind::Init { error, .. } = &mut cx.kind {
            // The host's own reason (a clashing name, a bad flag) is the more precise one.
            error.get_or_insert_with(|| text(message));
        }
    })
}

unsafe extern "C" fn host_selected_db(ctx: *mut abi::HostCtx) -> i64 {
    with_ctx(ctx, 0, |cx| match &cx.kind {
        Kind::Call { ctx, .. } => i64::from(ctx.db()),
        _ => 0,
    })
}

unsafe extern "C" fn host_now_ms(ctx: *mut abi::HostCtx) -> i64 {
    with_ctx(ctx, now_ms(), |cx| match &cx.kind {
        Kind::Call { ctx, .. } => ctx.now,
        _ => now_ms(),
    })
}

unsafe extern "C" fn host_client_id(ctx: *mut abi::HostCtx) -> u64 {
    with_ctx(ctx, 0, |cx| match &cx.kind {
        Kind::Call {
            ctx, command: true, ..
        } => ctx.client.id,
        _ => 0,
    })
}

/// The unblock hook of clients parked by shared-library plugins: tells the plugin that
/// parked `id` that it left.
fn dylib_unblocked(engine: &mut Engine, id: ClientId, why: Unblock) {
    let Some(host) = waiters(engine).remove(&id) else {
        return;
    };
    lock(&host.waiters).remove(&id);
    let callback = lock(&host.unblock)
        .as_ref()
        .map(|(f, user)| (*f, user.get()));
    let Some((callback, user)) = callback else {
        return;
    };
    let why = match why {
        Unblock::Timeout => abi::unblock::TIMEOUT,
        Unblock::Error => abi::unblock::ERROR,
        Unblock::Gone => abi::unblock::GONE,
    };
    with_internal(engine, &host, 0, |ptr| {
        // SAFETY: the plugin's unblock callback; its `user` lives until the plugin stops,
        // which cannot happen during this call (MODULE is refused to `call`).
        unsafe { callback(&HOST_API, ptr, id, why, user) }
    });
}

unsafe extern "C" fn host_block(
    ctx: *mut abi::HostCtx,
    timeout_ms: u64,
    timeout_reply: *const ReplyNode,
) -> abi::Status {
    with_ctx(ctx, abi::FAILED, |cx| {
        let host = Arc::clone(cx.host);
        let Kind::Call {
            ctx, command: true, ..
        } = &mut cx.kind
        else {
            return abi::FAILED;
        };
        // SAFETY: a tree valid for this call; copied.
        let timeout_reply = unsafe { raise(timeout_reply) };
        let deadline = (timeout_ms > 0).then(|| {
            let d = Duration::from_millis(timeout_ms);
            Instant::now()
                .checked_add(d)
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365 * 100))
        });
        let parked = ctx.block(BlockSpec {
            deadline,
            timeout_reply,
            on_unblock: dylib_unblocked,
        });
        if !parked {
            return abi::FAILED;
        }
        let id = ctx.client.id;
        lock(&host.waiters).insert(id);
        waiters(ctx.engine).insert(id, host);
        abi::OK
    })
}

unsafe extern "C" fn host_serve_blocked(
    ctx: *mut abi::HostCtx,
    client: u64,
    reply: *const ReplyNode,
) -> abi::Status {
    with_ctx(ctx, abi::FAILED, |cx| {
        let host = Arc::clone(cx.host);
        let Kind::Call { ctx, .. } = &mut cx.kind else {
            return abi::FAILED;
        };
        if !lock(&host.waiters).remove(&client) {
            return abi::FAILED;
        }
        waiters(ctx.engine).remove(&client);
        // SAFETY: a tree valid for this call; copied.
        let reply = unsafe { raise(reply) };
        if ctx.engine.serve_blocked(client, reply) {
            abi::OK
        } else {
            abi::FAILED
        }
    })
}

unsafe extern "C" fn host_on_unblock(
    ctx: *mut abi::HostCtx,
    callback: abi::UnblockFn,
    user: *mut c_void,
    drop_user: Option<abi::DropFn>,
) -> abi::Status {
    with_ctx(ctx, abi::FAILED, |cx| {
        let user = Owned::new(&cx.host.lib, user, drop_user);
        if !matches!(cx.kind, Kind::Init { .. }) {
            return abi::FAILED;
        }
        *lock(&cx.host.unblock) = Some((callback, user));
        abi::OK
    })
}

unsafe extern "C" fn host_timer(
    ctx: *mut abi::HostCtx,
    delay_ms: u64,
    period_ms: u64,
    callback: abi::TimerFn,
    user: *mut c_void,
    drop_user: Option<abi::DropFn>,
) -> u64 {
    with_ctx(ctx, 0, |cx| {
        let user = Owned::new(&cx.host.lib, user, drop_user);
        let host = Arc::clone(cx.host);
        let Some(engine) = cx.engine() else {
            return 0;
        };
        let Some((runtime, executor)) = super::runtime_and_executor(engine) else {
            return 0;
        };
        let id = NEXT_TIMER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut timers = lock(&host.timers);
        timers.insert(
            id,
            Timer {
                callback,
                user,
                periodic: period_ms > 0,
                task: None,
                running: false,
                stopped: false,
            },
        );
        let weak = Arc::downgrade(&host);
        let task = runtime.spawn(async move {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            loop {
                let weak = weak.clone();
                let posted = executor.post(move |engine| {
                    if let Some(host) = weak.upgrade() {
                        fire(engine, &host, id);
                    }
                });
                if posted.is_err() || period_ms == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(period_ms)).await;
            }
        });
        if let Some(t) = timers.get_mut(&id) {
            t.task = Some(task);
        }
        id
    })
}

/// Runs timer `id` of `host` on the executor, if it still runs.
fn fire(engine: &mut Engine, host: &Arc<PluginHost>, id: u64) {
    let (callback, user) = {
        let mut timers = lock(&host.timers);
        let Some(t) = timers.get_mut(&id) else {
            return;
        };
        t.running = true;
        (t.callback, t.user.get())
    };
    with_internal(engine, host, 0, |ptr| {
        // SAFETY: the timer's callback and pointer, kept alive while `running` is set.
        unsafe { callback(&HOST_API, ptr, user) }
    });
    let mut timers = lock(&host.timers);
    let done = timers
        .get_mut(&id)
        .map(|t| {
            t.running = false;
            t.stopped || !t.periodic
        })
        .unwrap_or(false);
    if done {
        if let Some(t) = timers.remove(&id) {
            if let Some(task) = t.task {
                task.abort();
            }
        }
    }
}

unsafe extern "C" fn host_stop_timer(ctx: *mut abi::HostCtx, id: u64) -> abi::Status {
    with_ctx(ctx, abi::FAILED, |cx| {
        let mut timers = lock(&cx.host.timers);
        let Some(t) = timers.get_mut(&id) else {
            return abi::FAILED;
        };
        if t.stopped {
            return abi::FAILED;
        }
        if let Some(task) = &t.task {
            task.abort();
        }
        if t.running {
            // Its callback is running (and stopping itself): removed once it returns.
            t.stopped = true;
        } else {
            timers.remove(&id);
        }
        abi::OK
    })
}

unsafe extern "C" fn host_info_section(
    ctx: *mut abi::HostCtx,
    title: RStr,
    callback: abi::InfoFn,
    user: *mut c_void,
    drop_user: Option<abi::DropFn>,
) -> abi::Status {
    with_ctx(ctx, abi::FAILED, |cx| {
        let user = Owned::new(&cx.host.lib, user, drop_user);
        let host = Arc::clone(cx.host);
        let title = text(title);
        let Kind::Init { reg, error } = &mut cx.kind else {
            return abi::FAILED;
        };
        let writer: crate::engine::InfoWriter = Box::new(move |_engine: &Engine, out| {
            let mut cx = HostCtx {
                host: &host,
                kind: Kind::Info { fields: Vec::new() },
            };
            // SAFETY: the plugin's INFO callback, with a context living for the call.
            unsafe { callback(&HOST_API, cx.as_ptr(), user.get()) };
            if let Kind::Info { fields } = cx.kind {
                for (name, value) in fields {
                    out.push_str(&name);
                    out.push(':');
                    out.push_str(&value);
                    out.push_str("\r\n");
                }
            }
        });
        match reg.info_section(&title, writer) {
            Ok(()) => abi::OK,
            Err(e) => {
                error.get_or_insert(e.to_string());
                abi::FAILED
            }
        }
    })
}

unsafe extern "C" fn host_info_field(
    ctx: *mut abi::HostCtx,
    name: RStr,
    value: RStr,
) -> abi::Status {
    with_ctx(ctx, abi::FAILED, |cx| {
        let Kind::Info { fields } = &mut cx.kind else {
            return abi::FAILED;
        };
        fields.push((text(name), text(value)));
        abi::OK
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
            Reply::NullArray,
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
            Reply::Push(vec![Reply::Integer(2)]),
        ]);
        let back = sdk_reply::with_tree(&to_sdk(&reply), |node| unsafe { raise(node) });
        assert_eq!(format!("{back:?}"), format!("{reply:?}"));
    }

    #[test]
    fn every_abi_flag_is_a_core_flag() {
        let all = abi::flag::NAMES.iter().fold(0, |acc, (bit, _)| acc | bit);
        assert!(core_flags(all).is_ok());
        assert_eq!(
            core_flags(abi::flag::WRITE | abi::flag::DENYOOM | abi::flag::FAST).unwrap(),
            flags::WRITE | flags::DENYOOM | flags::FAST
        );
        assert_eq!(core_flags(0).unwrap(), 0);
        assert!(core_flags(1 << 40).is_err());
    }
}
