//! Each client's SYNC.SUBSCRIBE subscriptions: one transport subscription per client and
//! key, whose handler queues the envelope as a push on the client's connection.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use respite_core::plugin::api::{ClientId, PushTarget, Reply};

use crate::envelope::{Envelope, SyncKey};
use crate::transport::{SyncTransport, Unsubscribe};

/// Subscriptions by client, each client's in the order it made them.
#[derive(Default)]
pub struct Subscribers {
    clients: HashMap<ClientId, Vec<(SyncKey, Unsubscribe)>>,
}

impl Subscribers {
    /// Subscribes `client` to `key` (nothing if it is already); returns its subscription
    /// count afterwards.
    pub fn add(
        &mut self,
        transport: &dyn SyncTransport,
        client: ClientId,
        target: &PushTarget,
        key: SyncKey,
    ) -> usize {
        let subs = self.clients.entry(client).or_default();
        if !subs.iter().any(|(k, _)| *k == key) {
            let target = target.clone();
            let handler = Arc::new(move |env: &Envelope| {
                target.push_encoded(env.push_bytes(target.protocol()));
            });
            let unsub = transport.subscribe(&key, handler);
            subs.push((key, unsub));
        }
        subs.len()
    }

    /// Unsubscribes `client` from `key`; returns its subscription count afterwards.
    pub fn remove(&mut self, client: ClientId, key: &SyncKey) -> usize {
        let Some(subs) = self.clients.get_mut(&client) else {
            return 0;
        };
        if let Some(i) = subs.iter().position(|(k, _)| k == key) {
            let (_, mut unsub) = subs.remove(i);
            unsub.call();
        }
        let left = subs.len();
        if left == 0 {
            self.clients.remove(&client);
        }
        left
    }

    /// The keys `client` subscribes to in database `db`, in order.
    pub fn keys(&self, client: ClientId, db: u32) -> Vec<Bytes> {
        self.clients.get(&client).map_or_else(Vec::new, |subs| {
            subs.iter()
                .filter(|(k, _)| k.db == db)
                .map(|(k, _)| k.key.clone())
                .collect()
        })
    }

    /// How many subscriptions `client` has.
    pub fn count(&self, client: ClientId) -> usize {
        self.clients.get(&client).map_or(0, Vec::len)
    }

    /// Drops every subscription of a client that went away.
    pub fn remove_client(&mut self, client: ClientId) {
        if let Some(subs) = self.clients.remove(&client) {
            for (_, mut unsub) in subs {
                unsub.call();
            }
        }
    }

    /// Drops every subscription (the plugin stops).
    pub fn remove_all(&mut self) {
        let ids: Vec<ClientId> = self.clients.keys().copied().collect();
        for id in ids {
            self.remove_client(id);
        }
    }

    /// Clients with at least one subscription.
    pub fn client_count(&self) -> usize {
        self.clients.len()
    }
}

/// Queues every confirmation but the last on the client's connection, and returns the last
/// as the command's reply, as SUBSCRIBE does.
pub fn confirm(target: &PushTarget, mut confirmations: Vec<Reply>) -> Reply {
    let last = confirmations.pop().unwrap_or(Reply::Array(Vec::new()));
    for c in &confirmations {
        target.push(c);
    }
    last
}
