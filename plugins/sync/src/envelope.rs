//! The change envelope a synced key publishes (value, schema version, per-key sequence), its
//! wire form on NATS, and the push a subscribed client receives.

use std::sync::OnceLock;

use bytes::Bytes;
use respite_core::plugin::api::{Protocol, Reply};
use serde::{Deserialize, Serialize};

use crate::config::Encoding;

/// Which key an envelope belongs to: database and name (SYNC.SUBSCRIBE in database 3 hears
/// the writes of database 3).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SyncKey {
    /// Database index.
    pub db: u32,
    /// Key name.
    pub key: Bytes,
}

/// One change of a synced key.
#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope {
    /// Database of the key.
    pub db: u32,
    /// The key.
    #[serde(with = "serde_bytes")]
    pub key: Vec<u8>,
    /// The new value; `None` when the key was deleted, or for a mirrored key that is not a
    /// string (the replica reads it with ordinary commands then).
    #[serde(with = "serde_bytes")]
    pub value: Option<Vec<u8>>,
    /// The value's type (`string`, `hash`, ...; `none` once deleted).
    #[serde(rename = "type")]
    pub value_type: String,
    /// The writer's schema version (SYNC.SET ... VERSION v).
    pub schema_version: String,
    /// Per-key sequence: each change of the key is the previous one plus one.
    pub sequence: u64,
    /// The server that wrote it ([`crate::State::instance`]): a server drops its own echoes.
    pub origin: String,
    /// The push as encoded for each protocol, built once however many subscribers.
    #[serde(skip)]
    encoded: [OnceLock<Vec<u8>>; 2],
}

impl Envelope {
    /// A new envelope.
    pub fn new(
        key: &SyncKey,
        value: Option<Vec<u8>>,
        value_type: &str,
        schema_version: String,
        sequence: u64,
        origin: String,
    ) -> Self {
        Envelope {
            db: key.db,
            key: key.key.to_vec(),
            value,
            value_type: value_type.to_string(),
            schema_version,
            sequence,
            origin,
            encoded: Default::default(),
        }
    }

    /// The key it belongs to.
    pub fn sync_key(&self) -> SyncKey {
        SyncKey {
            db: self.db,
            key: Bytes::copy_from_slice(&self.key),
        }
    }

    /// What a SYNC.SUBSCRIBE client receives:
    /// `sync <key> <value|nil> <schema_version> <sequence>`, a push in RESP3, an array in
    /// RESP2 (as pub/sub messages are).
    pub fn push(&self) -> Reply {
        Reply::Push(vec![
            Reply::bulk(Bytes::from_static(b"sync")),
            Reply::Bulk(Bytes::copy_from_slice(&self.key)),
            match &self.value {
                Some(v) => Reply::Bulk(Bytes::copy_from_slice(v)),
                None => Reply::Null,
            },
            Reply::Bulk(Bytes::copy_from_slice(self.schema_version.as_bytes())),
            Reply::Integer(self.sequence as i64),
        ])
    }

    /// [`Self::push`] encoded for `protocol`, cached.
    pub fn push_bytes(&self, protocol: Protocol) -> &[u8] {
        let slot = match protocol {
            Protocol::Resp2 => &self.encoded[0],
            Protocol::Resp3 => &self.encoded[1],
        };
        slot.get_or_init(|| {
            let mut out = Vec::with_capacity(64 + self.key.len());
            self.push().encode(protocol, &mut out);
            out
        })
    }

    /// The envelope's bytes on NATS.
    pub fn to_wire(&self, encoding: Encoding) -> Result<Vec<u8>, String> {
        encode(self, encoding)
    }

    /// An envelope received from NATS.
    pub fn from_wire(bytes: &[u8], encoding: Encoding) -> Result<Self, String> {
        decode(bytes, encoding)
    }
}

/// A PUBLISH carried to the other servers (`bridge_pubsub`).
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct BridgedMessage {
    /// The server it was published on.
    pub origin: String,
    /// The channel.
    #[serde(with = "serde_bytes")]
    pub channel: Vec<u8>,
    /// The message.
    #[serde(with = "serde_bytes")]
    pub message: Vec<u8>,
}

/// Serializes `v` as MessagePack (named fields, so other tools can read it) or JSON.
pub fn encode<T: Serialize>(v: &T, encoding: Encoding) -> Result<Vec<u8>, String> {
    match encoding {
        Encoding::Msgpack => rmp_serde::to_vec_named(v).map_err(|e| e.to_string()),
        Encoding::Json => serde_json::to_vec(v).map_err(|e| e.to_string()),
    }
}

/// The inverse of [`encode`].
pub fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8], encoding: Encoding) -> Result<T, String> {
    match encoding {
        Encoding::Msgpack => rmp_serde::from_slice(bytes).map_err(|e| e.to_string()),
        Encoding::Json => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(value: Option<&[u8]>) -> Envelope {
        let key = SyncKey {
            db: 2,
            key: Bytes::from_static(b"user:\x00\xff"),
        };
        Envelope::new(
            &key,
            value.map(<[u8]>::to_vec),
            "string",
            "3.1".into(),
            42,
            "abc".into(),
        )
    }

    #[test]
    fn wire_round_trip_in_both_encodings() {
        for encoding in [Encoding::Msgpack, Encoding::Json] {
            for value in [Some(&b"v\x00\xfe"[..]), None] {
                let env = sample(value);
                let wire = env.to_wire(encoding).unwrap();
                let back = Envelope::from_wire(&wire, encoding).unwrap();
                assert_eq!(back.key, env.key);
                assert_eq!(back.db, 2);
                assert_eq!(back.value, env.value);
                assert_eq!(back.schema_version, "3.1");
                assert_eq!(back.sequence, 42);
                assert_eq!(back.origin, "abc");
                assert_eq!(back.value_type, "string");
            }
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(Envelope::from_wire(b"\xc1\xc1", Encoding::Msgpack).is_err());
        assert!(Envelope::from_wire(b"{", Encoding::Json).is_err());
    }

    #[test]
    fn push_is_a_five_element_array_in_resp2() {
        let env = sample(Some(b"v"));
        let bytes = env.push_bytes(Protocol::Resp2);
        assert!(bytes.starts_with(b"*5\r\n$4\r\nsync\r\n"));
        assert!(bytes.ends_with(b"$3\r\n3.1\r\n:42\r\n"));
        assert!(env.push_bytes(Protocol::Resp3).starts_with(b">5\r\n"));
    }
}
