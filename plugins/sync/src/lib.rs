//! The `sync` plugin: synced keys. A key written with SYNC.SET carries an envelope (value,
//! schema version, per-key sequence); clients subscribed with SYNC.SUBSCRIBE receive every
//! later envelope as a push, on this server and, over NATS, on every server of a fleet.
//!
//! - [`commands`]: SYNC.SET, SYNC.GET, SYNC.DEL, SYNC.INFO, SYNC.SUBSCRIBE, SYNC.UNSUBSCRIBE.
//! - [`meta`]: the per-key sequence and schema version, persisted in the keyspace so that a
//!   sequence never repeats, across deletes and restarts.
//! - [`transport`]: the [`transport::SyncTransport`] contract, in-process and NATS.
//! - [`subscribers`]: each client's subscriptions and the pushes it receives.
//! - [`mirror`]: ordinary writes to keys matching `mirror` patterns publish envelopes too.
//! - [`bridge`]: PUBLISH carried to the SUBSCRIBE / PSUBSCRIBE clients of other servers.
//!
//! Envelopes are published once the write is committed (a commit hook): a subscriber never
//! sees a change that a crash could still take back, and a failed commit publishes nothing.
//!
//! Started by `[plugins] enabled = [..., "sync"]`; `[plugins.sync]` holds its settings.

pub mod bridge;
pub mod commands;
pub mod config;
pub mod envelope;
pub mod meta;
pub mod mirror;
pub mod subscribers;
pub mod transport;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use respite_core::plugin::api::{Engine, Plugin, PluginError, Registrar, SubscriptionId};

pub use config::SyncConfig;
use envelope::{Envelope, SyncKey};
use transport::{InProcessTransport, NatsOptions, NatsTransport, SyncTransport};

/// The plugin's name in `plugins.enabled` and `[plugins.sync]`.
pub const NAME: &str = "sync";

respite_core::plugin::api::builtin_plugin! {
    name: NAME,
    version: env!("CARGO_PKG_VERSION"),
    config: SyncConfig,
    create: || Box::new(SyncPlugin),
}

/// The plugin instance (its state lives in the engine).
struct SyncPlugin;

/// What the commands, hooks and handlers share, on the executor.
pub(crate) struct State {
    config: SyncConfig,
    /// This server's id in the envelopes and bridged messages it publishes.
    instance: String,
    transport: Arc<dyn SyncTransport>,
    /// Envelopes of the current batch, published once it commits.
    outgoing: Vec<(SyncKey, Arc<Envelope>)>,
    /// Key events of the running command that SYNC commands caused themselves (one `set` per
    /// SYNC.SET, one `del` per deleted key of SYNC.DEL), by key: the mirror skips that many,
    /// having published them already.
    own_writes: HashMap<SyncKey, usize>,
    /// Clients' subscriptions.
    subscribers: subscribers::Subscribers,
    /// The key-event subscription of `mirror`.
    mirror_subscription: Option<SubscriptionId>,
    /// Envelopes published since start (INFO).
    envelopes: u64,
    /// Of which from mirrored writes.
    mirrored: u64,
    /// Envelopes dropped because their batch failed to commit.
    rolled_back: u64,
}

pub(crate) fn state(engine: &mut Engine) -> Option<&mut State> {
    engine.state_mut::<State>()
}

/// A fresh id per server start: process id, start time and a counter, enough to tell the
/// servers of a fleet (and a restarted server) apart.
fn new_instance_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{:x}-{:x}-{}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

impl Plugin for SyncPlugin {
    fn start(&mut self, reg: &mut Registrar<'_>) -> Result<(), PluginError> {
        let config: SyncConfig = reg.config()?;
        let fail = |message: String| PluginError::Failed {
            plugin: NAME.into(),
            message,
        };
        config.validate().map_err(fail)?;
        let instance = new_instance_id();
        let (transport, nats): (Arc<dyn SyncTransport>, _) = match config.transport {
            config::TransportKind::InProcess => (Arc::new(InProcessTransport::new()), None),
            config::TransportKind::Nats => {
                let bridge = if config.bridge_pubsub {
                    let handle = reg
                        .executor()
                        .ok_or_else(|| fail("bridge_pubsub needs the server's executor".into()))?;
                    Some(bridge::incoming(handle))
                } else {
                    None
                };
                let (t, task) = NatsTransport::new(NatsOptions {
                    url: config.nats_url.clone(),
                    subject_prefix: config.subject_prefix.clone(),
                    encoding: config.encoding,
                    instance: instance.clone(),
                    bridge,
                });
                reg.spawn("nats", move |mut shutdown| async move {
                    task.run(async move { shutdown.wait().await }).await
                })?;
                let t = Arc::new(t);
                (Arc::clone(&t) as Arc<dyn SyncTransport>, Some(t))
            }
        };
        if config.bridge_pubsub {
            if let Some(n) = &nats {
                reg.relay_publish(
                    bridge::outgoing(Arc::clone(n), instance.clone(), &config),
                    config.bridge_notifications,
                )?;
            }
        }
        reg.commands(commands::COMMANDS)?;
        let mirroring = !config.mirror.is_empty();
        reg.set_state(State {
            config,
            instance,
            transport,
            outgoing: Vec::new(),
            own_writes: HashMap::new(),
            subscribers: subscribers::Subscribers::default(),
            mirror_subscription: None,
            envelopes: 0,
            mirrored: 0,
            rolled_back: 0,
        });
        if mirroring {
            let id = mirror::subscribe(reg);
            if let Some(st) = state(reg.engine()) {
                st.mirror_subscription = Some(id);
            }
        }
        reg.after_command(Box::new(|engine: &mut Engine| {
            if let Some(st) = state(engine) {
                if !st.own_writes.is_empty() {
                    st.own_writes.clear();
                }
            }
        }));
        reg.after_commit(Box::new(publish_committed));
        reg.on_client_gone(Box::new(|engine: &mut Engine, id| {
            if let Some(st) = state(engine) {
                st.subscribers.remove_client(id);
            }
        }));
        reg.info_section("sync", Box::new(write_info))?;
        Ok(())
    }

    fn stop(&mut self, engine: &mut Engine) {
        if let Some(st) = state(engine) {
            st.subscribers.remove_all();
            st.transport.close();
        }
    }
}

/// The commit hook: publishes the batch's envelopes once it is durable, or drops them.
fn publish_committed(engine: &mut Engine, committed: bool) {
    let Some(st) = state(engine) else {
        return;
    };
    if st.outgoing.is_empty() {
        return;
    }
    let outgoing = std::mem::take(&mut st.outgoing);
    if !committed {
        st.rolled_back += outgoing.len() as u64;
        return;
    }
    st.envelopes += outgoing.len() as u64;
    for (key, envelope) in outgoing {
        st.transport.publish(&key, envelope);
    }
}

/// Queues the envelope of a change made by the running command, for [`publish_committed`]:
/// `own` for a SYNC command's, whose key event the mirror must then skip.
pub(crate) fn queue(engine: &mut Engine, envelope: Envelope, own: bool) {
    let Some(st) = state(engine) else {
        return;
    };
    let key = envelope.sync_key();
    if own {
        if st.mirror_subscription.is_some() {
            *st.own_writes.entry(key.clone()).or_default() += 1;
        }
    } else {
        st.mirrored += 1;
    }
    st.outgoing.push((key, Arc::new(envelope)));
}

fn write_info(engine: &Engine, out: &mut String) {
    use std::fmt::Write as _;
    let Some(st) = engine.state::<State>() else {
        return;
    };
    let transport = match st.config.transport {
        config::TransportKind::InProcess => "in-process",
        config::TransportKind::Nats => "nats",
    };
    let _ = write!(
        out,
        "sync_transport:{transport}\r\nsync_keys:{}\r\nsync_subscriptions:{}\r\n\
         sync_clients:{}\r\nsync_envelopes:{}\r\nsync_mirrored:{}\r\nsync_rolled_back:{}\r\n\
         sync_mirror_patterns:{}\r\nsync_bridge_pubsub:{}\r\n",
        st.transport.key_count(),
        st.transport.subscription_count(),
        st.subscribers.client_count(),
        st.envelopes,
        st.mirrored,
        st.rolled_back,
        st.config.mirror.len(),
        st.config.bridge_pubsub as u8,
    );
    let mut rest = String::new();
    st.transport.info(&mut rest);
    for line in rest.split_terminator("\r\n") {
        let _ = write!(out, "sync_{line}\r\n");
    }
}
