//! The [`SyncTransport`] contract and its two implementations.
//!
//! A transport is a dumb pipe between the server that writes a synced key and the clients
//! that listen to it:
//! - `publish(key, envelope)` delivers the envelope to every current subscriber of the key,
//!   in subscription order; with none it does nothing.
//! - it keeps nothing (no latest value: a new subscriber seeds itself with SYNC.GET), checks
//!   nothing and dedupes nothing (ordering and gaps are the replica's business).
//! - `subscribe(key, handler)` returns an [`Unsubscribe`] that may be called any number of
//!   times; a key whose last subscriber leaves is forgotten ([`SyncTransport::key_count`]
//!   shows a leak in INFO).

mod fanout;
mod in_process;
mod nats;
pub mod subject;

use std::sync::Arc;

pub use fanout::Fanout;
pub use in_process::InProcessTransport;
pub use nats::{bridge_subject, BridgeHandler, NatsOptions, NatsTask, NatsTransport};

use crate::envelope::{Envelope, SyncKey};

/// Receives the envelopes of one key. Called on the executor (local publishes) or on a NATS
/// task (remote ones): it must only queue work, never block.
pub type Handler = Arc<dyn Fn(&Envelope) + Send + Sync>;

/// Undoes one [`SyncTransport::subscribe`]; calling it again does nothing.
pub struct Unsubscribe(Option<Box<dyn FnOnce() + Send>>);

impl Unsubscribe {
    /// Wraps the undo action.
    pub fn new(f: impl FnOnce() + Send + 'static) -> Self {
        Unsubscribe(Some(Box::new(f)))
    }

    /// Removes the subscription (the first call; later calls do nothing).
    pub fn call(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

/// Carries envelopes from writers to subscribers (see the module's contract).
pub trait SyncTransport: Send + Sync {
    /// Delivers `envelope` to every current subscriber of `key`, in subscription order.
    fn publish(&self, key: &SyncKey, envelope: Arc<Envelope>);

    /// Adds `handler` as the last subscriber of `key`.
    fn subscribe(&self, key: &SyncKey, handler: Handler) -> Unsubscribe;

    /// Keys with at least one local subscriber.
    fn key_count(&self) -> usize;

    /// Local subscribers of `key`.
    fn subscribers(&self, key: &SyncKey) -> usize;

    /// Local subscriptions, over all keys.
    fn subscription_count(&self) -> usize;

    /// The transport's INFO lines (`field:value\r\n`), after the common ones.
    fn info(&self, out: &mut String);

    /// Stops background work (the plugin is stopping).
    fn close(&self) {}
}
