//! The NATS transport: envelopes cross servers over a NATS server.
//!
//! - Subject per key: [`super::subject`]; the wire encoding is the configured one.
//! - Local fan-out: however many clients of this server subscribe to a key, the server holds
//!   one NATS subscription for it, taken with the first local subscriber and dropped with the
//!   last. One task (the manager) owns the connection and reconciles the NATS subscriptions
//!   with the fan-out, in order, so a quick unsubscribe and subscribe cannot leave either
//!   state behind.
//! - A publish is delivered to this server's subscribers at once, and sent to NATS for the
//!   others; the copy NATS echoes back carries this server's instance id and is dropped, so
//!   each local subscriber gets it exactly once (the connection also asks for no echo).
//! - The connection is made in the background and remade after a loss with a growing delay
//!   (50 ms doubling to 2 s); async-nats resubscribes what the server held. A publish while
//!   disconnected is dropped and counted, as the contract keeps nothing: replicas see the gap
//!   at the next envelope and refetch.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::fanout::{Change, Fanout};
use super::subject::subject;
use super::{Handler, SyncTransport, Unsubscribe};
use crate::config::Encoding;
use crate::envelope::{decode, BridgedMessage, Envelope, SyncKey};

/// Receives the PUBLISHes of other servers (`bridge_pubsub`).
pub type BridgeHandler = Arc<dyn Fn(BridgedMessage) + Send + Sync>;

/// How to reach NATS and what to put on it.
pub struct NatsOptions {
    /// `nats://host:port`.
    pub url: String,
    /// Prepended to every subject.
    pub subject_prefix: String,
    /// Wire encoding of envelopes and bridged messages.
    pub encoding: Encoding,
    /// This server's id, in every envelope it publishes.
    pub instance: String,
    /// Where other servers' PUBLISHes go, when bridging.
    pub bridge: Option<BridgeHandler>,
}

enum Cmd {
    /// Bring the NATS subscription of the key in line with the fan-out.
    Reconcile(SyncKey),
    /// Send bytes.
    Publish(String, Bytes),
}

#[derive(Default)]
struct Counters {
    published: AtomicU64,
    delivered: AtomicU64,
    received: AtomicU64,
    own_echoes: AtomicU64,
    dropped: AtomicU64,
    decode_errors: AtomicU64,
    bus_subscriptions: AtomicUsize,
    connected: AtomicBool,
}

/// Envelopes over NATS, with local fan-out.
pub struct NatsTransport {
    fanout: Arc<Fanout>,
    prefix: String,
    encoding: Encoding,
    instance: String,
    url: String,
    cmds: mpsc::UnboundedSender<Cmd>,
    counters: Arc<Counters>,
}

/// The subject bridged PUBLISHes travel on.
pub fn bridge_subject(prefix: &str) -> String {
    format!("{prefix}pubsub")
}

impl NatsTransport {
    /// The transport, and the manager to run on the server's runtime ([`NatsTask::run`]).
    /// Nothing connects until the task runs.
    pub fn new(opts: NatsOptions) -> (Self, NatsTask) {
        let (tx, rx) = mpsc::unbounded_channel();
        let fanout = Arc::new(Fanout::default());
        let counters = Arc::new(Counters::default());
        let transport = NatsTransport {
            fanout: Arc::clone(&fanout),
            prefix: opts.subject_prefix.clone(),
            encoding: opts.encoding,
            instance: opts.instance.clone(),
            url: opts.url.clone(),
            cmds: tx,
            counters: Arc::clone(&counters),
        };
        let manager = Manager {
            opts,
            fanout,
            counters,
            subs: HashMap::new(),
        };
        (transport, NatsTask { manager, rx })
    }

    /// Queues raw bytes for `subject` (bridged PUBLISHes).
    pub fn publish_raw(&self, subject: String, payload: Vec<u8>) {
        let _ = self.cmds.send(Cmd::Publish(subject, Bytes::from(payload)));
    }

    /// Whether the connection is up.
    pub fn is_connected(&self) -> bool {
        self.counters.connected.load(Ordering::Relaxed)
    }
}

impl SyncTransport for NatsTransport {
    fn publish(&self, key: &SyncKey, envelope: Arc<Envelope>) {
        self.counters.published.fetch_add(1, Ordering::Relaxed);
        let n = self.fanout.deliver(key, &envelope);
        self.counters
            .delivered
            .fetch_add(n as u64, Ordering::Relaxed);
        match envelope.to_wire(self.encoding) {
            Ok(bytes) => {
                let subject = subject(&self.prefix, key.db, &key.key);
                let _ = self.cmds.send(Cmd::Publish(subject, Bytes::from(bytes)));
            }
            Err(e) => tracing::error!(error = %e, "sync: cannot encode an envelope"),
        }
    }

    fn subscribe(&self, key: &SyncKey, handler: Handler) -> Unsubscribe {
        let (id, change) = self.fanout.add(key, handler);
        if change == Change::Key {
            let _ = self.cmds.send(Cmd::Reconcile(key.clone()));
        }
        let fanout = Arc::clone(&self.fanout);
        let cmds = self.cmds.clone();
        let key = key.clone();
        Unsubscribe::new(move || {
            if fanout.remove(&key, id) == Change::Key {
                let _ = cmds.send(Cmd::Reconcile(key));
            }
        })
    }

    fn key_count(&self) -> usize {
        self.fanout.key_count()
    }

    fn subscribers(&self, key: &SyncKey) -> usize {
        self.fanout.subscribers(key)
    }

    fn subscription_count(&self) -> usize {
        self.fanout.subscription_count()
    }

    fn info(&self, out: &mut String) {
        use std::fmt::Write as _;
        let c = &self.counters;
        let _ = write!(
            out,
            "published:{}\r\ndelivered:{}\r\nnats_url:{}\r\nnats_connected:{}\r\n\
             nats_subscriptions:{}\r\nnats_received:{}\r\nnats_own_echoes_dropped:{}\r\n\
             nats_dropped_while_disconnected:{}\r\nnats_decode_errors:{}\r\ninstance_id:{}\r\n",
            c.published.load(Ordering::Relaxed),
            c.delivered.load(Ordering::Relaxed),
            self.url,
            c.connected.load(Ordering::Relaxed) as u8,
            c.bus_subscriptions.load(Ordering::Relaxed),
            c.received.load(Ordering::Relaxed),
            c.own_echoes.load(Ordering::Relaxed),
            c.dropped.load(Ordering::Relaxed),
            c.decode_errors.load(Ordering::Relaxed),
            self.instance,
        );
    }
}

/// The task that owns the NATS connection, to be spawned by the plugin.
pub struct NatsTask {
    manager: Manager,
    rx: mpsc::UnboundedReceiver<Cmd>,
}

impl NatsTask {
    /// Connects, then serves publishes and subscription changes until `stop` resolves.
    pub async fn run(self, stop: impl std::future::Future<Output = ()> + Send) {
        self.manager.run(self.rx, stop).await
    }
}

/// What [`NatsTask`] works with.
struct Manager {
    opts: NatsOptions,
    fanout: Arc<Fanout>,
    counters: Arc<Counters>,
    /// One reader task per subscribed key; aborting it drops its subscriber, which
    /// unsubscribes.
    subs: HashMap<SyncKey, JoinHandle<()>>,
}

impl Manager {
    async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Cmd>,
        stop: impl std::future::Future<Output = ()> + Send,
    ) {
        let counters = Arc::clone(&self.counters);
        let connect = async_nats::ConnectOptions::new()
            .name(format!("respite-sync {}", self.opts.instance))
            .no_echo()
            .retry_on_initial_connect()
            .max_reconnects(None)
            .client_capacity(65_536)
            .reconnect_delay_callback(|attempts| {
                let exp = attempts.min(6) as u32;
                Duration::from_millis(50u64 << exp).min(Duration::from_secs(2))
            })
            .event_callback(move |event| {
                let counters = Arc::clone(&counters);
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            counters.connected.store(true, Ordering::Relaxed);
                            tracing::info!("sync: connected to NATS");
                        }
                        async_nats::Event::Disconnected => {
                            counters.connected.store(false, Ordering::Relaxed);
                            tracing::warn!("sync: disconnected from NATS; reconnecting");
                        }
                        other => tracing::debug!(event = %other, "sync: NATS event"),
                    }
                }
            })
            .connect(self.opts.url.as_str())
            .await;
        let client = match connect {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(url = %self.opts.url, error = %e, "sync: cannot use NATS");
                return;
            }
        };
        let mut bridge_task = None;
        if let Some(bridge) = self.opts.bridge.clone() {
            bridge_task = self.start_bridge(&client, bridge).await;
        }
        tokio::pin!(stop);
        loop {
            let cmd = tokio::select! {
                _ = &mut stop => break,
                cmd = rx.recv() => match cmd {
                    Some(cmd) => cmd,
                    None => break,
                },
            };
            match cmd {
                Cmd::Publish(subject, payload) => {
                    if client.connection_state() != async_nats::connection::State::Connected {
                        self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    if let Err(e) = client.publish(subject, payload).await {
                        self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(error = %e, "sync: NATS publish failed");
                    }
                }
                Cmd::Reconcile(key) => self.reconcile(&client, key).await,
            }
        }
        for (_, task) in self.subs.drain() {
            task.abort();
        }
        if let Some(t) = bridge_task {
            t.abort();
        }
        let _ = client.flush().await;
    }

    async fn reconcile(&mut self, client: &async_nats::Client, key: SyncKey) {
        let wanted = self.fanout.has_key(&key);
        let held = self.subs.contains_key(&key);
        if wanted && !held {
            let subject = subject(&self.opts.subject_prefix, key.db, &key.key);
            let mut sub = match client.subscribe(subject.clone()).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(subject = %subject, error = %e, "sync: NATS subscribe failed");
                    return;
                }
            };
            let fanout = Arc::clone(&self.fanout);
            let counters = Arc::clone(&self.counters);
            let instance = self.opts.instance.clone();
            let encoding = self.opts.encoding;
            let k = key.clone();
            let task = tokio::spawn(async move {
                while let Some(msg) = sub.next().await {
                    counters.received.fetch_add(1, Ordering::Relaxed);
                    let env = match Envelope::from_wire(&msg.payload, encoding) {
                        Ok(env) => env,
                        Err(e) => {
                            counters.decode_errors.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(error = %e, "sync: undecodable envelope on NATS");
                            continue;
                        }
                    };
                    if env.origin == instance {
                        counters.own_echoes.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let n = fanout.deliver(&k, &env);
                    counters.delivered.fetch_add(n as u64, Ordering::Relaxed);
                }
            });
            self.subs.insert(key, task);
            self.counters
                .bus_subscriptions
                .store(self.subs.len(), Ordering::Relaxed);
        } else if !wanted && held {
            if let Some(task) = self.subs.remove(&key) {
                task.abort();
            }
            self.counters
                .bus_subscriptions
                .store(self.subs.len(), Ordering::Relaxed);
        }
    }

    async fn start_bridge(
        &mut self,
        client: &async_nats::Client,
        bridge: BridgeHandler,
    ) -> Option<JoinHandle<()>> {
        let subject = bridge_subject(&self.opts.subject_prefix);
        let mut sub = match client.subscribe(subject.clone()).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(subject = %subject, error = %e, "sync: cannot bridge pub/sub");
                return None;
            }
        };
        let instance = self.opts.instance.clone();
        let encoding = self.opts.encoding;
        let counters = Arc::clone(&self.counters);
        Some(tokio::spawn(async move {
            while let Some(msg) = sub.next().await {
                match decode::<BridgedMessage>(&msg.payload, encoding) {
                    Ok(m) if m.origin == instance => {
                        counters.own_echoes.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(m) => bridge(m),
                    Err(e) => {
                        counters.decode_errors.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(error = %e, "sync: undecodable bridged message");
                    }
                }
            }
        }))
    }
}
