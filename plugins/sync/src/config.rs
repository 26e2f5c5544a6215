//! `[plugins.sync]`: which transport carries envelopes, how, and which ordinary keys are
//! mirrored.

use serde::{Deserialize, Serialize};

/// `[plugins.sync]`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct SyncConfig {
    /// `in-process` (one server) or `nats` (a fleet sharing a NATS server).
    pub transport: TransportKind,
    /// The NATS server (`transport = "nats"`), e.g. `nats://127.0.0.1:4222`.
    pub nats_url: String,
    /// Prepended to every NATS subject this plugin uses; ends with `.` to make it a token.
    pub subject_prefix: String,
    /// How envelopes travel over NATS.
    pub encoding: Encoding,
    /// Glob patterns (KEYS syntax): ordinary writes to matching keys publish envelopes too.
    pub mirror: Vec<String>,
    /// Carry PUBLISH to the SUBSCRIBE / PSUBSCRIBE clients of the other servers (NATS only).
    pub bridge_pubsub: bool,
    /// With `bridge_pubsub`: carry keyspace notifications as well.
    pub bridge_notifications: bool,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            transport: TransportKind::InProcess,
            nats_url: "nats://127.0.0.1:4222".into(),
            subject_prefix: "respite.sync.".into(),
            encoding: Encoding::Msgpack,
            mirror: Vec::new(),
            bridge_pubsub: false,
            bridge_notifications: false,
        }
    }
}

/// Which [`crate::transport::SyncTransport`] the plugin uses.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum TransportKind {
    /// [`crate::transport::InProcessTransport`].
    InProcess,
    /// [`crate::transport::NatsTransport`].
    Nats,
}

/// The wire encoding of envelopes on NATS.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// MessagePack (rmp-serde): compact and binary-safe.
    Msgpack,
    /// JSON (serde_json): readable with `nats sub`; values as arrays of bytes.
    Json,
}

impl SyncConfig {
    /// Checks what serde cannot: a usable subject prefix, and bridging only over NATS.
    pub fn validate(&self) -> Result<(), String> {
        let p = &self.subject_prefix;
        let bad_char = p
            .bytes()
            .any(|b| b <= b' ' || b == b'*' || b == b'>' || b >= 0x7f);
        if bad_char || p.starts_with('.') || p.contains("..") {
            return Err(format!(
                "plugins.sync.subject_prefix '{p}' is not a NATS subject prefix (printable ASCII \
                 without spaces, '*', '>' or empty tokens)"
            ));
        }
        if self.bridge_pubsub && self.transport != TransportKind::Nats {
            return Err("plugins.sync.bridge_pubsub needs transport = \"nats\"".into());
        }
        if self.transport == TransportKind::Nats {
            // A comma-separated list names several servers of one NATS cluster.
            for url in self.nats_url.split(',') {
                url.trim()
                    .parse::<async_nats::ServerAddr>()
                    .map_err(|e| format!("plugins.sync.nats_url '{url}' is not a NATS URL: {e}"))?;
            }
        }
        Ok(())
    }
}
