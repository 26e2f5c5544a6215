//! Pub/Sub: who subscribes to which channel, pattern and shard channel, and the delivery of
//! messages to other clients' connections without waiting on their sockets.
//!
//! Each client has an [`Outbox`] shared with its connection task. The executor encodes a
//! message once per protocol, appends it to every receiver's outbox and wakes the connection,
//! which writes it when it has no request of its own in flight. A client's own replies and its
//! pushes stay in order: before the executor encodes a reply it moves the client's outbox into
//! the reply buffer, and at the end of the batch it moves what arrived since; the connection
//! only drains its outbox between requests. The outbox counts the bytes not yet written to the
//! socket, which is what the output buffer limit checks (Redis's `client-output-buffer-limit
//! pubsub`): past the hard limit, or past the soft one for longer than its time, the client is
//! disconnected and every other client goes on being served.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hashlink::LinkedHashSet;
use tokio::sync::Notify;

use crate::config::BufferLimits;
use crate::engine::client::{ClientId, ClientShared, ClientState};
use crate::glob::glob_match;
use crate::protocol::{Protocol, Reply};

/// Bytes waiting to be written to one client, outside its replies (pushes).
#[derive(Debug, Default)]
pub struct Outbox {
    buf: Mutex<Vec<u8>>,
    /// Queued plus taken-but-not-yet-written bytes.
    bytes: AtomicU64,
    /// Pushes queued and not yet taken (CLIENT LIST `oll`).
    pushes: AtomicU64,
    ready: Notify,
}

impl Outbox {
    /// Queues `data`; returns the bytes now pending for the client.
    pub fn push(&self, data: &[u8]) -> u64 {
        let mut buf = self.buf.lock().unwrap_or_else(|e| e.into_inner());
        let was_empty = buf.is_empty();
        buf.extend_from_slice(data);
        self.pushes.fetch_add(1, Ordering::Relaxed);
        drop(buf);
        let total = self.bytes.fetch_add(data.len() as u64, Ordering::AcqRel) + data.len() as u64;
        if was_empty {
            self.ready.notify_one();
        }
        total
    }

    /// Whether anything is queued or being written.
    pub fn has_data(&self) -> bool {
        self.bytes.load(Ordering::Acquire) != 0
    }

    /// Bytes pending for the client (queued or being written).
    pub fn pending_bytes(&self) -> u64 {
        self.bytes.load(Ordering::Acquire)
    }

    /// Pushes queued and not yet taken to be written.
    pub fn pending_pushes(&self) -> u64 {
        self.pushes.load(Ordering::Relaxed)
    }

    /// Wakes the connection without queuing anything (the executor asks it to look at its
    /// buffers).
    pub fn wake(&self) {
        self.ready.notify_one();
    }

    /// The connection takes what is queued to write it; call [`Self::written`] afterwards.
    pub fn take(&self) -> Vec<u8> {
        let mut buf = self.buf.lock().unwrap_or_else(|e| e.into_inner());
        self.pushes.store(0, Ordering::Relaxed);
        std::mem::take(&mut *buf)
    }

    /// The connection wrote `n` bytes it had taken.
    pub fn written(&self, n: usize) {
        self.bytes.fetch_sub(n as u64, Ordering::AcqRel);
    }

    /// The executor moves what is queued into a reply buffer, so it is written in order with
    /// the replies.
    pub fn take_into(&self, out: &mut Vec<u8>) {
        let mut buf = self.buf.lock().unwrap_or_else(|e| e.into_inner());
        if buf.is_empty() {
            return;
        }
        let n = buf.len();
        out.extend_from_slice(&buf);
        buf.clear();
        self.pushes.store(0, Ordering::Relaxed);
        drop(buf);
        self.bytes.fetch_sub(n as u64, Ordering::AcqRel);
    }

    /// Drops what is queued (the client is being disconnected).
    pub fn clear(&self) {
        let mut buf = self.buf.lock().unwrap_or_else(|e| e.into_inner());
        let n = buf.len();
        *buf = Vec::new();
        self.pushes.store(0, Ordering::Relaxed);
        drop(buf);
        self.bytes.fetch_sub(n as u64, Ordering::AcqRel);
    }

    /// Resolves when something was queued since the last wake-up.
    pub async fn ready(&self) {
        self.ready.notified().await
    }
}

/// A subscribed client as the registry sees it.
struct Subscriber {
    shared: Arc<ClientShared>,
    protocol: Protocol,
    channels: LinkedHashSet<Bytes>,
    patterns: LinkedHashSet<Bytes>,
    shard: LinkedHashSet<Bytes>,
    /// Since when the pending output exceeds the soft limit.
    soft_since: Option<Instant>,
}

/// Which kind of subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// SUBSCRIBE.
    Channel,
    /// PSUBSCRIBE.
    Pattern,
    /// SSUBSCRIBE.
    Shard,
}

impl Kind {
    fn sub_name(self) -> &'static str {
        match self {
            Kind::Channel => "subscribe",
            Kind::Pattern => "psubscribe",
            Kind::Shard => "ssubscribe",
        }
    }

    fn unsub_name(self) -> &'static str {
        match self {
            Kind::Channel => "unsubscribe",
            Kind::Pattern => "punsubscribe",
            Kind::Shard => "sunsubscribe",
        }
    }
}

/// Receives every message published on this server (PUBLISH, and keyspace notifications when
/// asked), before local delivery: how a plugin carries pub/sub to other servers.
pub type PublishRelay = Box<dyn FnMut(&Bytes, &Bytes) + Send>;

/// The relay in force and whether keyspace notifications go through it too.
struct Relay {
    relay: PublishRelay,
    notifications: bool,
}

/// Every subscription of every client.
#[derive(Default)]
pub struct PubSub {
    /// Where published messages also go, if a plugin installed a relay.
    relay: Option<Relay>,
    channels: HashMap<Bytes, Vec<ClientId>, ahash::RandomState>,
    patterns: HashMap<Bytes, Vec<ClientId>, ahash::RandomState>,
    shard: HashMap<Bytes, Vec<ClientId>, ahash::RandomState>,
    subscribers: HashMap<ClientId, Subscriber, ahash::RandomState>,
    /// The output buffer limits in force.
    pub limits: BufferLimits,
    /// Clients disconnected by the output buffer limit (INFO stats).
    pub limit_disconnections: u64,
}

/// A message encoded once per protocol, for fan-out.
struct Encoded {
    reply: Reply,
    resp2: Option<Vec<u8>>,
    resp3: Option<Vec<u8>>,
}

impl Encoded {
    fn new(reply: Reply) -> Self {
        Encoded {
            reply,
            resp2: None,
            resp3: None,
        }
    }

    fn bytes(&mut self, proto: Protocol) -> &[u8] {
        let slot = match proto {
            Protocol::Resp2 => &mut self.resp2,
            Protocol::Resp3 => &mut self.resp3,
        };
        slot.get_or_insert_with(|| {
            let mut out = Vec::new();
            self.reply.encode(proto, &mut out);
            out
        })
    }
}

impl PubSub {
    fn map(&mut self, kind: Kind) -> &mut HashMap<Bytes, Vec<ClientId>, ahash::RandomState> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    /// Whether anybody subscribes to anything (publishers skip all work otherwise).
    pub fn is_empty(&self) -> bool {
        self.subscribers.is_empty()
    }

    /// Channels with at least one subscriber (INFO `pubsub_channels`).
    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    /// Patterns with at least one subscriber (INFO `pubsub_patterns`).
    pub fn pattern_count(&self) -> usize {
        self.patterns.len()
    }

    /// Shard channels with at least one subscriber (INFO `pubsubshard_channels`).
    pub fn shard_count(&self) -> usize {
        self.shard.len()
    }

    /// Clients with at least one subscription (INFO `pubsub_clients`).
    pub fn client_count(&self) -> usize {
        self.subscribers.len()
    }

    /// Active channels (or shard channels) matching `pattern` (all without one).
    pub fn active(&self, shard: bool, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let map = if shard { &self.shard } else { &self.channels };
        map.keys()
            .filter(|c| pattern.is_none_or(|p| glob_match(p, c, false)))
            .cloned()
            .collect()
    }

    /// Subscribers of a channel (or shard channel).
    pub fn numsub(&self, shard: bool, channel: &[u8]) -> usize {
        let map = if shard { &self.shard } else { &self.channels };
        map.get(channel).map_or(0, Vec::len)
    }

    /// Records the protocol a subscriber now speaks (HELLO while subscribed).
    pub fn set_protocol(&mut self, id: ClientId, protocol: Protocol) {
        if let Some(s) = self.subscribers.get_mut(&id) {
            s.protocol = protocol;
        }
    }

    /// Subscribes `client` to `names`. One confirmation per name, as Redis sends them: all
    /// but the last are queued in the client's outbox (which the executor writes ahead of the
    /// reply), the last is the command's reply.
    pub fn subscribe(&mut self, client: &mut ClientState, kind: Kind, names: &[Bytes]) -> Reply {
        let mut confirmations = Confirmations::default();
        for name in names {
            let sub = self
                .subscribers
                .entry(client.id)
                .or_insert_with(|| Subscriber {
                    shared: Arc::clone(&client.shared),
                    protocol: client.protocol,
                    channels: LinkedHashSet::new(),
                    patterns: LinkedHashSet::new(),
                    shard: LinkedHashSet::new(),
                    soft_since: None,
                });
            sub.protocol = client.protocol;
            let set = match kind {
                Kind::Channel => &mut sub.channels,
                Kind::Pattern => &mut sub.patterns,
                Kind::Shard => &mut sub.shard,
            };
            if set.insert(name.clone()) {
                self.map(kind)
                    .entry(name.clone())
                    .or_default()
                    .push(client.id);
            }
            let count = self.update_counts(client, kind);
            confirmations.add(client, kind.sub_name(), Reply::Bulk(name.clone()), count);
        }
        confirmations.finish()
    }

    /// Unsubscribes `client` from `names` (every subscription of the kind if empty).
    pub fn unsubscribe(&mut self, client: &mut ClientState, kind: Kind, names: &[Bytes]) -> Reply {
        let names: Vec<Bytes> = if names.is_empty() {
            self.subscribers
                .get(&client.id)
                .map(|s| {
                    let set = match kind {
                        Kind::Channel => &s.channels,
                        Kind::Pattern => &s.patterns,
                        Kind::Shard => &s.shard,
                    };
                    set.iter().cloned().collect()
                })
                .unwrap_or_default()
        } else {
            names.to_vec()
        };
        let mut confirmations = Confirmations::default();
        if names.is_empty() {
            let count = self.update_counts(client, kind);
            confirmations.add(client, kind.unsub_name(), Reply::Null, count);
        }
        for name in names {
            self.remove_one(client.id, kind, &name);
            let count = self.update_counts(client, kind);
            confirmations.add(client, kind.unsub_name(), Reply::Bulk(name), count);
        }
        confirmations.finish()
    }

    fn remove_one(&mut self, id: ClientId, kind: Kind, name: &Bytes) {
        let Some(sub) = self.subscribers.get_mut(&id) else {
            return;
        };
        let set = match kind {
            Kind::Channel => &mut sub.channels,
            Kind::Pattern => &mut sub.patterns,
            Kind::Shard => &mut sub.shard,
        };
        if !set.remove(name) {
            return;
        }
        let map = self.map(kind);
        if let Some(ids) = map.get_mut(name) {
            ids.retain(|c| *c != id);
            if ids.is_empty() {
                map.remove(name);
            }
        }
    }

    /// Copies the client's subscription counts into its state and drops the registry entry of
    /// a client left without subscriptions. Returns the count Redis reports for `kind`:
    /// channels plus patterns, or shard channels.
    fn update_counts(&mut self, client: &mut ClientState, kind: Kind) -> usize {
        let (c, p, s) = self.subscribers.get(&client.id).map_or((0, 0, 0), |s| {
            (s.channels.len(), s.patterns.len(), s.shard.len())
        });
        client.sub_channels = c;
        client.sub_patterns = p;
        client.sub_shard = s;
        if c + p + s == 0 {
            self.subscribers.remove(&client.id);
        }
        match kind {
            Kind::Shard => s,
            _ => c + p,
        }
    }

    /// Whether any of the client's subscriptions satisfies `f` (kind, channel or pattern).
    pub fn any_subscription(&self, id: ClientId, f: impl Fn(Kind, &[u8]) -> bool) -> bool {
        let Some(sub) = self.subscribers.get(&id) else {
            return false;
        };
        sub.channels.iter().any(|c| f(Kind::Channel, c))
            || sub.patterns.iter().any(|p| f(Kind::Pattern, p))
            || sub.shard.iter().any(|c| f(Kind::Shard, c))
    }

    /// Drops every subscription of a client (RESET, disconnection).
    pub fn remove_client(&mut self, id: ClientId) {
        let Some(sub) = self.subscribers.remove(&id) else {
            return;
        };
        for (kind, set) in [
            (Kind::Channel, sub.channels),
            (Kind::Pattern, sub.patterns),
            (Kind::Shard, sub.shard),
        ] {
            let map = self.map(kind);
            for name in set {
                if let Some(ids) = map.get_mut(&name) {
                    ids.retain(|c| *c != id);
                    if ids.is_empty() {
                        map.remove(&name);
                    }
                }
            }
        }
    }

    /// Installs (or, with `None`, removes) the relay that sees every published message;
    /// `notifications` says whether keyspace notifications go through it too.
    pub fn set_relay(&mut self, relay: Option<PublishRelay>, notifications: bool) {
        self.relay = relay.map(|relay| Relay {
            relay,
            notifications,
        });
    }

    /// Whether keyspace notifications must be built even without local subscribers.
    pub fn relays_notifications(&self) -> bool {
        self.relay.as_ref().is_some_and(|r| r.notifications)
    }

    /// PUBLISH: hands the message to the relay, if any, then delivers it here; returns how
    /// many local subscribers received it.
    pub fn publish(&mut self, channel: &Bytes, message: &Bytes) -> usize {
        if let Some(r) = self.relay.as_mut() {
            (r.relay)(channel, message);
        }
        self.publish_local(channel, message)
    }

    /// A keyspace notification: relayed only when the relay asked for notifications.
    pub fn publish_notification(&mut self, channel: &Bytes, message: &Bytes) -> usize {
        if let Some(r) = self.relay.as_mut().filter(|r| r.notifications) {
            (r.relay)(channel, message);
        }
        self.publish_local(channel, message)
    }

    /// Delivers `message` on `channel` to this server's channel and pattern subscribers only
    /// (a message relayed from another server); returns how many received it.
    pub fn publish_local(&mut self, channel: &Bytes, message: &Bytes) -> usize {
        if self.subscribers.is_empty() {
            return 0;
        }
        let mut receivers = 0;
        if let Some(ids) = self.channels.get(channel) {
            let mut msg = Encoded::new(Reply::Push(vec![
                Reply::bulk(Bytes::from_static(b"message")),
                Reply::Bulk(channel.clone()),
                Reply::Bulk(message.clone()),
            ]));
            for id in ids.clone() {
                receivers += self.deliver(id, &mut msg) as usize;
            }
        }
        if !self.patterns.is_empty() {
            let matching: Vec<(Bytes, Vec<ClientId>)> = self
                .patterns
                .iter()
                .filter(|(p, _)| glob_match(p, channel, false))
                .map(|(p, ids)| (p.clone(), ids.clone()))
                .collect();
            for (pattern, ids) in matching {
                let mut msg = Encoded::new(Reply::Push(vec![
                    Reply::bulk(Bytes::from_static(b"pmessage")),
                    Reply::Bulk(pattern),
                    Reply::Bulk(channel.clone()),
                    Reply::Bulk(message.clone()),
                ]));
                for id in ids {
                    receivers += self.deliver(id, &mut msg) as usize;
                }
            }
        }
        receivers
    }

    /// Delivers `message` to the subscribers of shard channel `channel` (SPUBLISH).
    pub fn spublish(&mut self, channel: &Bytes, message: &Bytes) -> usize {
        let Some(ids) = self.shard.get(channel).cloned() else {
            return 0;
        };
        let mut msg = Encoded::new(Reply::Push(vec![
            Reply::bulk(Bytes::from_static(b"smessage")),
            Reply::Bulk(channel.clone()),
            Reply::Bulk(message.clone()),
        ]));
        ids.into_iter()
            .map(|id| self.deliver(id, &mut msg) as usize)
            .sum()
    }

    /// Appends a message to one subscriber's outbox and applies the output buffer limit.
    /// Returns whether the subscriber counts as a receiver.
    fn deliver(&mut self, id: ClientId, msg: &mut Encoded) -> bool {
        let limit = self.limits.pubsub;
        let Some(sub) = self.subscribers.get_mut(&id) else {
            return false;
        };
        if sub.shared.is_killed() {
            // Still a subscriber until its disconnection is processed, as in Redis.
            return true;
        }
        let pending = sub.shared.outbox.push(msg.bytes(sub.protocol));
        let over_hard = limit.hard > 0 && pending >= limit.hard;
        let over_soft = if limit.soft > 0 && pending >= limit.soft {
            let since = *sub.soft_since.get_or_insert_with(Instant::now);
            since.elapsed() >= Duration::from_secs(limit.soft_secs)
        } else {
            sub.soft_since = None;
            false
        };
        if over_hard || over_soft {
            tracing::warn!(
                client = id,
                pending_bytes = pending,
                "closing subscriber that reached its pubsub output buffer limit"
            );
            self.limit_disconnections += 1;
            sub.shared.outbox.clear();
            sub.shared.kill();
        }
        true
    }
}

/// Where pushes for one client go, for a plugin that delivers its own messages to clients
/// (from the executor or from any other thread): the client's outbox, in the protocol it
/// spoke when the target was taken, under the pub/sub output buffer hard limit.
#[derive(Clone, Debug)]
pub struct PushTarget {
    shared: Arc<ClientShared>,
    protocol: Protocol,
    hard_limit: u64,
}

impl PushTarget {
    pub(crate) fn new(client: &ClientState, limits: &BufferLimits) -> Self {
        PushTarget {
            shared: Arc::clone(&client.shared),
            protocol: client.protocol,
            hard_limit: limits.pubsub.hard,
        }
    }

    /// Queues `reply` (a [`Reply::Push`]: a RESP3 push, or an array in RESP2) for the client.
    /// Returns false, queuing nothing, once the client is closed; a client past the hard
    /// limit is disconnected, as a pub/sub subscriber is.
    pub fn push(&self, reply: &Reply) -> bool {
        if self.shared.is_killed() {
            return false;
        }
        let mut out = Vec::with_capacity(64);
        reply.encode(self.protocol, &mut out);
        self.push_encoded(&out)
    }

    /// [`Self::push`] for bytes already encoded in [`Self::protocol`].
    pub fn push_encoded(&self, bytes: &[u8]) -> bool {
        if self.shared.is_killed() {
            return false;
        }
        let pending = self.shared.outbox.push(bytes);
        if self.hard_limit > 0 && pending >= self.hard_limit {
            tracing::warn!(
                pending_bytes = pending,
                "closing client that reached its pubsub output buffer limit"
            );
            self.shared.outbox.clear();
            self.shared.kill();
            return false;
        }
        true
    }

    /// The protocol pushes are encoded in.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Whether the client is gone (or being closed).
    pub fn is_closed(&self) -> bool {
        self.shared.is_killed()
    }
}

impl crate::engine::Engine {
    /// Delivers a message published on another server to this server's SUBSCRIBE and
    /// PSUBSCRIBE clients, without relaying it again; returns how many received it.
    pub fn publish_local(&mut self, channel: &Bytes, message: &Bytes) -> usize {
        self.pubsub.publish_local(channel, message)
    }
}

/// The (p|s)(un)subscribe confirmations of one command.
#[derive(Default)]
struct Confirmations {
    last: Option<Reply>,
}

impl Confirmations {
    fn add(&mut self, client: &mut ClientState, what: &'static str, name: Reply, count: usize) {
        if let Some(previous) = self.last.take() {
            let mut out = Vec::with_capacity(32);
            previous.encode(client.protocol, &mut out);
            client.shared.outbox.push(&out);
        }
        self.last = Some(Reply::Push(vec![
            Reply::bulk(Bytes::from_static(what.as_bytes())),
            name,
            Reply::Integer(count as i64),
        ]));
    }

    fn finish(self) -> Reply {
        self.last.unwrap_or(Reply::Array(Vec::new()))
    }
}
