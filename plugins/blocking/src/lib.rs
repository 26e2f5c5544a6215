//! The `blocking` plugin: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX,
//! BZMPOP, XREAD and XREADGROUP, as Redis 7.0 has them.
//!
//! Written against the plugin API alone ([`respite_core::plugin::api`]). A command whose keys
//! are all empty queues its client on each key ([`waiters`]) and parks it in the core
//! ([`Ctx::block`]). While anybody waits, the plugin listens to the
//! key events that create or replace keys ([`WAKING_EVENTS`]), and notes the keys that
//! somebody waits on as ready. After each top-level command (a whole EXEC, a script) an
//! `after_command` hook serves the ready keys: first come, first served, one waiter per
//! element, each served with exactly what the non-blocking command would have done, as that
//! client. Serving emits events too, so BLMOVE chains go on until nothing more is ready.
//!
//! XREAD and XREADGROUP are here too: their non-blocking reads are the core's
//! ([`respite_core::plugin::api::stream`]); under BLOCK with nothing to read the client waits
//! on the stream keys, woken by stream events (XADD, XGROUP DESTROY), and every stream waiter
//! of a key is served, since reading takes nothing away.
//!
//! Started by `[plugins] enabled = [..., "blocking"]`; `[plugins.blocking]` holds its limits.

mod commands;
pub mod waiters;

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use respite_core::plugin::api::{
    class, BlockSpec, ClientId, Ctx, DbIndex, Engine, KeyEvent, Plugin, PluginError, Registrar,
    Reply, SubscriptionId, Unblock, ValueType,
};
use serde::{Deserialize, Serialize};

use waiters::{Limits, Op, Waiters};

/// The key events that may give a waiter data, as Redis 7.0's `signalKeyAsReady` on key
/// creation: a waiter only ever waits on keys that were missing, so the first push that
/// makes one exist is the one that matters (`new`), and later pushes to an existing list
/// (every push to a busy queue) cost nothing. Of the generic events, only those of keys
/// replaced whole ([`REPLACING_EVENTS`]) count; SWAPDB has Redis re-check every waiting key
/// of both databases. Stream events count whether or not the key is new: stream waiters
/// wait for entries above an ID, not for the key to exist.
const WAKING_EVENTS: u16 = class::NEW | class::GENERIC | class::DB_SWAPPED | class::STREAM;

/// Generic events that put a new value in place of an existing key (Redis deletes and adds
/// it, which signals it as ready); other generic events (EXPIRE, DEL, ...) wake nobody.
const REPLACING_EVENTS: &[&str] = &["copy_to", "restore"];

/// The plugin's name in `plugins.enabled` and `[plugins.blocking]`.
pub const NAME: &str = "blocking";

/// `[plugins.blocking]`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct BlockingConfig {
    /// Clients that may wait on one key at once.
    pub max_waiters_per_key: NonZeroUsize,
    /// Clients that may be blocked at once, on all keys.
    pub max_waiters: NonZeroUsize,
    /// Keys one blocking command may name.
    pub max_keys_per_command: NonZeroUsize,
}

impl Default for BlockingConfig {
    fn default() -> Self {
        let n = |v: usize| NonZeroUsize::new(v).unwrap_or(NonZeroUsize::MIN);
        BlockingConfig {
            max_waiters_per_key: n(10_000),
            max_waiters: n(100_000),
            max_keys_per_command: n(1_000),
        }
    }
}

respite_core::plugin::api::builtin_plugin! {
    name: NAME,
    version: env!("CARGO_PKG_VERSION"),
    config: BlockingConfig,
    create: || Box::new(Blocking),
}

/// The plugin instance (its state lives in the engine's plugin registry).
struct Blocking;

/// What the commands, the event handler and the hook share, on the executor.
struct State {
    waiters: Waiters,
    config: BlockingConfig,
    /// The key-event subscription, held only while somebody waits, so that nobody pays for
    /// events when no client is blocked.
    subscription: Option<SubscriptionId>,
    /// Set when a key somebody waits on changed: the after-command hook then has work.
    pending: Arc<AtomicBool>,
}

impl Plugin for Blocking {
    fn start(&mut self, reg: &mut Registrar<'_>) -> Result<(), PluginError> {
        let config: BlockingConfig = reg.config()?;
        reg.commands(commands::COMMANDS)?;
        let pending = Arc::new(AtomicBool::new(false));
        reg.set_state(State {
            waiters: Waiters::default(),
            config,
            subscription: None,
            pending: Arc::clone(&pending),
        });
        // The hook runs after every command: one relaxed load when nothing is ready.
        reg.after_command(Box::new(move |engine: &mut Engine| {
            if pending.load(Ordering::Relaxed) {
                serve_ready(engine);
            }
        }));
        Ok(())
    }

    fn stop(&mut self, engine: &mut Engine) {
        let Some(state) = engine.state_mut::<State>() else {
            return;
        };
        let clients = state.waiters.clients();
        if let Some(id) = state.subscription.take() {
            engine.unsubscribe(id);
        }
        // Nobody will serve them any more: they get their timeout reply.
        for id in clients {
            engine.unblock(id, Unblock::Timeout);
        }
    }
}

fn state(engine: &mut Engine) -> Option<&mut State> {
    engine.state_mut::<State>()
}

/// Queues the calling client on `keys` and parks it, or returns the error of a limit.
fn wait(
    ctx: &mut Ctx<'_>,
    keys: Vec<Bytes>,
    op: Op,
    deadline: Option<std::time::Instant>,
) -> Result<(), Reply> {
    let (id, db) = (ctx.client_id(), ctx.db());
    let Some(st) = state(ctx.engine()) else {
        return Err(Reply::error("ERR the blocking plugin is not running"));
    };
    let limits = Limits {
        per_key: st.config.max_waiters_per_key,
        total: st.config.max_waiters,
    };
    if let Err(refused) = st.waiters.add(id, waiters::Wait::new(db, keys, op), limits) {
        return Err(match refused {
            waiters::Refused::KeyFull(key) => Reply::Error(
                format!(
                    "ERR too many clients blocked on key '{}' (plugins.blocking.max_waiters_per_key is {})",
                    String::from_utf8_lossy(&key[..key.len().min(128)]),
                    limits.per_key
                )
                .into(),
            ),
            waiters::Refused::Full => Reply::Error(
                format!(
                    "ERR too many blocked clients (plugins.blocking.max_waiters is {})",
                    limits.total
                )
                .into(),
            ),
        });
    }
    let subscribe = st.subscription.is_none();
    if subscribe {
        let sub = ctx
            .engine()
            .subscribe(WAKING_EVENTS, None, Box::new(on_events));
        if let Some(st) = state(ctx.engine()) {
            st.subscription = Some(sub);
        }
    }
    let parked = ctx.block(BlockSpec {
        deadline,
        timeout_reply: Reply::NullArray,
        on_unblock: forget,
    });
    if !parked {
        // Callers check may_block first; never leave a waiter that nobody parked.
        if let Some(st) = state(ctx.engine()) {
            st.waiters.remove(id);
        }
    }
    Ok(())
}

/// The core's [`respite_core::plugin::api::UnblockHook`]: the client left without being
/// served.
fn forget(engine: &mut Engine, id: ClientId, _why: Unblock) {
    if let Some(st) = state(engine) {
        st.waiters.remove(id);
        if st.waiters.is_empty() {
            if let Some(sub) = st.subscription.take() {
                engine.unsubscribe(sub);
            }
        }
    }
}

/// Key events while somebody waits: keys with waiters become ready.
fn on_events(engine: &mut Engine, events: &[KeyEvent]) {
    let Some(st) = state(engine) else {
        return;
    };
    let mut any = false;
    for e in events {
        any |= match e.class {
            class::DB_SWAPPED => st.waiters.touch_db(e.db),
            // A deleted stream answers its XREADGROUP waiters with an error, as in Redis.
            class::GENERIC if !REPLACING_EVENTS.contains(&e.event) && e.event != "del" => false,
            _ => st.waiters.touch(e.db, &e.key),
        };
    }
    if any {
        st.pending.store(true, Ordering::Relaxed);
    }
}

/// What one attempt to serve a waiter gave.
enum Outcome {
    /// The waiter's reply (data, or an error such as BLMOVE's WRONGTYPE destination, which
    /// takes nothing from the key).
    Reply(Reply),
    /// The key has nothing for it.
    Empty,
}

/// Serves the ready keys until none is left (serving may make more keys ready: BLMOVE).
fn serve_ready(engine: &mut Engine) {
    loop {
        let Some(st) = state(engine) else {
            return;
        };
        let ready = st.waiters.take_ready();
        if ready.is_empty() {
            break;
        }
        for (db, key) in ready {
            serve_key(engine, db, &key);
        }
    }
    if let Some(st) = state(engine) {
        st.pending.store(false, Ordering::Relaxed);
        if st.waiters.is_empty() {
            if let Some(id) = st.subscription.take() {
                engine.unsubscribe(id);
            }
        }
    }
}

/// Serves the waiters of one key in arrival order while it has data for them. A waiter for
/// the other type (BLPOP on a key that became a sorted set) is skipped, as Redis 7.0 does.
fn serve_key(engine: &mut Engine, db: DbIndex, key: &Bytes) {
    let mut after = 0;
    loop {
        let Some(st) = state(engine) else {
            return;
        };
        let Some((seq, id)) = st.waiters.next_after(db, key, after) else {
            return;
        };
        after = seq;
        let Some(op) = st.waiters.get(id).map(|w| w.op.clone()) else {
            continue;
        };
        let kind = match engine.key_type(db, key) {
            Ok(Some(kind)) => kind,
            // XREADGROUP's waiters learn that their stream went away.
            Ok(None) if op.wants_stream() => ValueType::Stream,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, "serving blocked clients: reading the key failed");
                return;
            }
        };
        let wanted = if op.wants_zset() {
            ValueType::ZSet
        } else if op.wants_stream() {
            ValueType::Stream
        } else {
            ValueType::List
        };
        if kind != wanted {
            continue;
        }
        // Runs as the waiting client: its database, its identity; a client gone or killed
        // meanwhile is skipped.
        let Some(outcome) = engine.run_as(id, |ctx| commands::serve(ctx, key, &op)) else {
            continue;
        };
        match outcome {
            // Nothing for this stream reader: the next may want older entries.
            Outcome::Empty if op.wants_stream() => continue,
            Outcome::Empty => return,
            Outcome::Reply(reply) => {
                if let Some(st) = state(engine) {
                    st.waiters.remove(id);
                }
                engine.serve_blocked(id, reply);
            }
        }
    }
}
