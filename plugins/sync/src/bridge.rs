//! `bridge_pubsub = true`: PUBLISH on one server reaches the SUBSCRIBE and PSUBSCRIBE clients
//! of every server sharing the NATS server, exactly once. Each server relays its PUBLISHes
//! (and keyspace notifications with `bridge_notifications`) to one subject,
//! `<subject_prefix>pubsub`, tagged with its instance id; it delivers what the others send to
//! its own subscribers only, and drops its own echoes. PUBLISH replies with the number of
//! receivers on the server it was sent to.

use std::sync::Arc;

use bytes::Bytes;
use respite_core::plugin::api::{EngineHandle, PublishRelay};

use crate::config::SyncConfig;
use crate::envelope::{encode, BridgedMessage};
use crate::transport::{bridge_subject, BridgeHandler, NatsTransport};

/// The relay the core calls on every PUBLISH of this server.
pub fn outgoing(nats: Arc<NatsTransport>, instance: String, config: &SyncConfig) -> PublishRelay {
    let subject = bridge_subject(&config.subject_prefix);
    let encoding = config.encoding;
    Box::new(move |channel: &Bytes, message: &Bytes| {
        let m = BridgedMessage {
            origin: instance.clone(),
            channel: channel.to_vec(),
            message: message.to_vec(),
        };
        match encode(&m, encoding) {
            Ok(bytes) => nats.publish_raw(subject.clone(), bytes),
            Err(e) => tracing::error!(error = %e, "sync: cannot encode a bridged message"),
        }
    })
}

/// Delivers other servers' messages to this server's subscribers, on the executor.
pub fn incoming(executor: EngineHandle) -> BridgeHandler {
    Arc::new(move |m: BridgedMessage| {
        let (channel, message) = (Bytes::from(m.channel), Bytes::from(m.message));
        let _ = executor.post(move |engine| {
            engine.publish_local(&channel, &message);
        });
    })
}
