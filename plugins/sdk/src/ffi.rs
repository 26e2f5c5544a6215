//! The plugin's side of the C ABI: the `extern "C"` trampolines the host calls, which turn
//! raw arguments into the safe API's types, catch every panic (unwinding out of an
//! `extern "C"` function would abort the server) and report it as an error reply.

use std::any::Any;
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

use crate::abi::{self, DropFn, HostApi, HostCtx, RStr, ReplyNode};
use crate::context::{EventCallback, InfoCallback, TimerCallback, UnblockCallback};
use crate::{Ctx, Error, Handler, Info, KeyEvent, Plugin, Registrar, Reply, Unblock};

/// `len` items at `ptr`, or none.
///
/// # Safety
/// `ptr` must point to `len` readable items that outlive `'a`.
pub(crate) unsafe fn slice<'a, T>(ptr: *const T, len: usize) -> &'a [T] {
    if len == 0 || ptr.is_null() {
        &[]
    } else {
        // SAFETY: guaranteed by the caller.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

pub(crate) fn panic_message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// A callback called through `&`, that must not run inside itself (a timer whose callback
/// ends up calling it again): a second entry is skipped.
pub(crate) struct Guarded<T>(Mutex<T>);

impl<T> Guarded<T> {
    pub(crate) fn new(t: T) -> Self {
        Guarded(Mutex::new(t))
    }

    fn with(&self, f: impl FnOnce(&mut T)) {
        match self.0.try_lock() {
            Ok(mut guard) => f(&mut guard),
            // A panic inside the callback poisoned it; it still runs next time.
            Err(std::sync::TryLockError::Poisoned(p)) => f(&mut p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => {}
        }
    }
}

/// Boxes `value` for the host to keep, with the function that frees it.
pub(crate) fn into_user<T: Send + 'static>(value: T) -> (*mut c_void, Option<DropFn>) {
    unsafe extern "C" fn drop_box<T>(user: *mut c_void) {
        if !user.is_null() {
            let _ = catch_unwind(AssertUnwindSafe(|| {
                // SAFETY: `user` came from `Box::into_raw` in `into_user::<T>`; the host
                // calls this once.
                drop(unsafe { Box::from_raw(user as *mut T) })
            }));
        }
    }
    (
        Box::into_raw(Box::new(value)) as *mut c_void,
        Some(drop_box::<T>),
    )
}

/// # Safety
/// `user` is a live pointer made by [`into_user::<T>`].
unsafe fn user_ref<'a, T>(user: *mut c_void) -> &'a T {
    // SAFETY: guaranteed by the caller.
    unsafe { &*(user as *const T) }
}

pub(crate) unsafe extern "C" fn command_trampoline(
    host: *const HostApi,
    ctx: *mut HostCtx,
    argc: usize,
    argv: *const RStr,
    user: *mut c_void,
) {
    if host.is_null() || user.is_null() {
        return;
    }
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the host passes a valid API table, `argc` arguments living for the call,
        // and the `Handler` registered in `Registrar::command`.
        let (api, handler) = unsafe { (&*host, user_ref::<Handler>(user)) };
        let args: Vec<&[u8]> = unsafe { slice(argv, argc) }
            .iter()
            .map(|a| unsafe { a.as_bytes() })
            .collect();
        let mut cx = Ctx::new(api, ctx);
        handler(&mut cx, &args)
    }));
    let reply = match result {
        Ok(Ok(reply)) => reply,
        Ok(Err(e)) => Reply::from(e),
        Err(panic) => Reply::Error(format!(
            "ERR plugin command panicked: {}",
            panic_message(&*panic)
        )),
    };
    let _ = catch_unwind(AssertUnwindSafe(|| {
        crate::reply::with_tree(&reply, |node| {
            // SAFETY: call context of this command; the tree lives during the call.
            unsafe { ((*host).reply)(ctx, node) };
        })
    }));
}

/// Runs a callback that has no reply, logging a panic through the host.
fn run_logged(host: *const HostApi, ctx: *mut HostCtx, what: &str, f: impl FnOnce(&HostApi)) {
    if host.is_null() {
        return;
    }
    // SAFETY: the host passes a valid API table.
    let api = unsafe { &*host };
    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| f(api))) {
        let message = format!("{what} panicked: {}", panic_message(&*panic));
        let _ = catch_unwind(AssertUnwindSafe(|| {
            Ctx::new(api, ctx).log(crate::Level::Error, &message)
        }));
    }
}

pub(crate) unsafe extern "C" fn event_trampoline(
    host: *const HostApi,
    ctx: *mut HostCtx,
    db: u32,
    event: RStr,
    key: RStr,
    user: *mut c_void,
) {
    run_logged(host, ctx, "key-event callback", |api| {
        // SAFETY: strings valid for the call; `user` is the subscribed callback.
        let (event, key, cb) = unsafe {
            (
                event.as_bytes(),
                key.as_bytes(),
                user_ref::<Guarded<EventCallback>>(user),
            )
        };
        let event = std::str::from_utf8(event).unwrap_or("");
        cb.with(|cb| cb(&mut Ctx::new(api, ctx), &KeyEvent { db, event, key }));
    })
}

pub(crate) unsafe extern "C" fn timer_trampoline(
    host: *const HostApi,
    ctx: *mut HostCtx,
    user: *mut c_void,
) {
    run_logged(host, ctx, "timer", |api| {
        // SAFETY: `user` is the timer's callback.
        let cb = unsafe { user_ref::<Guarded<TimerCallback>>(user) };
        cb.with(|cb| cb(&mut Ctx::new(api, ctx)));
    })
}

pub(crate) unsafe extern "C" fn unblock_trampoline(
    host: *const HostApi,
    ctx: *mut HostCtx,
    client: u64,
    why: u32,
    user: *mut c_void,
) {
    run_logged(host, ctx, "unblock callback", |api| {
        // SAFETY: `user` is the plugin's unblock callback.
        let cb = unsafe { user_ref::<Guarded<UnblockCallback>>(user) };
        cb.with(|cb| cb(&mut Ctx::new(api, ctx), client, Unblock::from_raw(why)));
    })
}

pub(crate) unsafe extern "C" fn info_trampoline(
    host: *const HostApi,
    ctx: *mut HostCtx,
    user: *mut c_void,
) {
    run_logged(host, ctx, "INFO section", |api| {
        // SAFETY: `user` is the section's callback.
        let cb = unsafe { user_ref::<InfoCallback>(user) };
        cb(&mut Info::new(api, ctx));
    })
}

pub(crate) unsafe extern "C" fn reply_sink(node: *const ReplyNode, user: *mut c_void) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `user` is the `Option<Reply>` of `Ctx::call`; `node` is a valid tree for
        // the duration of this call.
        unsafe {
            let out = &mut *(user as *mut Option<Reply>);
            *out = Some(crate::reply::decode(node));
        }
    }));
}

/// This library's plugin state, by type. Every library has its own copy of this crate, so
/// this is per plugin; everything runs on the server's executor thread.
static STATE: Mutex<Vec<Box<dyn Any + Send>>> = Mutex::new(Vec::new());

fn lock_state() -> std::sync::MutexGuard<'static, Vec<Box<dyn Any + Send>>> {
    STATE.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn set_state<T: Send + 'static>(state: T) {
    let mut all = lock_state();
    all.retain(|s| !s.is::<T>());
    all.push(Box::new(state));
}

pub(crate) fn with_state<T: Send + 'static, R>(f: impl FnOnce(&mut T) -> R) -> Result<R, Error> {
    // Taken out while `f` runs, so that `f` may call back into the plugin (whose own use of
    // this state then fails instead of deadlocking).
    let taken = {
        let mut all = lock_state();
        let at = all.iter().position(|s| s.is::<T>());
        at.map(|i| all.swap_remove(i))
    };
    let Some(boxed) = taken else {
        return Err(Error::new(
            "plugin state is not set, or already in use by a caller further up",
        ));
    };
    // Put back even if `f` panics.
    struct Back(Option<Box<dyn Any + Send>>);
    impl Drop for Back {
        fn drop(&mut self) {
            if let Some(b) = self.0.take() {
                lock_state().push(b);
            }
        }
    }
    let mut back = Back(Some(boxed));
    let state = back.0.as_mut().and_then(|b| b.downcast_mut::<T>());
    let Some(state) = state else {
        return Err(Error::new("plugin state of another type"));
    };
    Ok(f(state))
}

static INSTANCE: Mutex<Option<Box<dyn Plugin>>> = Mutex::new(None);

/// The body of the exported init function.
///
/// # Safety
/// Called by the host with a valid API table, init context and `argc` arguments.
pub unsafe fn run_init(
    host: *const HostApi,
    ctx: *mut HostCtx,
    argc: usize,
    argv: *const RStr,
    name: &str,
    make: fn() -> Box<dyn Plugin>,
) -> abi::Status {
    if host.is_null() {
        return abi::FAILED;
    }
    // SAFETY: guaranteed by the caller.
    let api = unsafe { &*host };
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: guaranteed by the caller.
        let args = unsafe { slice(argv, argc) }
            .iter()
            .map(|a| unsafe { a.as_bytes() })
            .collect();
        let mut plugin = make();
        let mut reg = Registrar::new(api, ctx, name, args);
        plugin.start(&mut reg)?;
        *INSTANCE.lock().unwrap_or_else(|p| p.into_inner()) = Some(plugin);
        Ok::<(), Error>(())
    }));
    let message = match result {
        Ok(Ok(())) => return abi::OK,
        Ok(Err(e)) => e.message().to_string(),
        Err(panic) => format!("ERR plugin init panicked: {}", panic_message(&*panic)),
    };
    lock_state().clear();
    // SAFETY: init context of this call; the message outlives it.
    unsafe { (api.set_error)(ctx, RStr::new(message.as_bytes())) };
    abi::FAILED
}

/// The body of the exported deinit function: stops the plugin and drops its state.
pub fn run_deinit() {
    let _ = catch_unwind(|| {
        let instance = INSTANCE.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(mut plugin) = instance {
            plugin.stop();
        }
    });
    let _ = catch_unwind(|| {
        let states = std::mem::take(&mut *lock_state());
        drop(states);
    });
}
