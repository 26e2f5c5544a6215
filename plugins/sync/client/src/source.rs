//! A replica over plain Redis connections to Respite servers: SYNC.GET on one connection for
//! the seed and refetches, SYNC.SUBSCRIBE on another for the receipts. The two may point at
//! different servers of a fleet: receipts from any server the key's writes reach (over NATS),
//! snapshots from the server that holds the key's data.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use redis::aio::MultiplexedConnection;
use redis::{ConnectionAddr, IntoConnectionInfo};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::reconciler::Envelope;
use crate::replica::{BoxFuture, Replica, SnapshotSource};
use crate::resp::{command, read_value, Value};
use crate::Error;

/// SYNC.GET of one key, as a [`SnapshotSource`].
pub struct SyncGetSource {
    conn: MultiplexedConnection,
    key: Bytes,
}

impl SyncGetSource {
    /// Connects to `url` (`redis://[:password@]host:port[/db]`).
    pub async fn connect(url: &str, key: &[u8]) -> Result<Self, Error> {
        let conn = redis::Client::open(url)?
            .get_multiplexed_async_connection()
            .await?;
        Ok(SyncGetSource {
            conn,
            key: Bytes::copy_from_slice(key),
        })
    }

    /// SYNC.GET now.
    pub async fn get(&self) -> Result<Option<Envelope>, Error> {
        let mut conn = self.conn.clone();
        let v: redis::Value = redis::cmd("SYNC.GET")
            .arg(&self.key[..])
            .query_async(&mut conn)
            .await?;
        parse_get(v)
    }
}

fn parse_get(v: redis::Value) -> Result<Option<Envelope>, Error> {
    use redis::Value as V;
    let items = match v {
        V::Nil => return Ok(None),
        V::Array(items) if items.len() == 3 => items,
        other => return Err(Error::Protocol(format!("SYNC.GET answered {other:?}"))),
    };
    let value = match &items[0] {
        V::Nil => None,
        V::BulkString(b) => Some(Bytes::copy_from_slice(b)),
        other => return Err(Error::Protocol(format!("SYNC.GET value {other:?}"))),
    };
    let schema_version = match &items[1] {
        V::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        other => return Err(Error::Protocol(format!("SYNC.GET schema {other:?}"))),
    };
    let sequence = match &items[2] {
        V::Int(n) if *n >= 0 => *n as u64,
        other => return Err(Error::Protocol(format!("SYNC.GET sequence {other:?}"))),
    };
    Ok(Some(Envelope {
        value,
        schema_version,
        sequence,
    }))
}

impl SnapshotSource for SyncGetSource {
    fn fetch(&self) -> BoxFuture<'_, Result<Option<Envelope>, String>> {
        Box::pin(async move { self.get().await.map_err(|e| e.to_string()) })
    }
}

/// Where a replica connects.
#[derive(Clone, Debug)]
pub struct ReplicaOptions {
    /// The key.
    pub key: Vec<u8>,
    /// The server whose SYNC.SUBSCRIBE delivers the receipts.
    pub subscribe_url: String,
    /// The server SYNC.GET seeds and refetches from (default: `subscribe_url`).
    pub fetch_url: Option<String>,
}

/// A subscription connection: address, password and database of a URL.
struct Endpoint {
    addr: (String, u16),
    password: Option<String>,
    db: i64,
}

fn endpoint(url: &str) -> Result<Endpoint, Error> {
    let info = url.into_connection_info()?;
    let addr = match info.addr {
        ConnectionAddr::Tcp(host, port) => (host, port),
        other => return Err(Error::Protocol(format!("unsupported address {other:?}"))),
    };
    Ok(Endpoint {
        addr,
        password: info.redis.password.clone(),
        db: info.redis.db,
    })
}

/// Opens the subscription connection and waits for SYNC.SUBSCRIBE's confirmation.
async fn subscribe(ep: &Endpoint, key: &[u8]) -> Result<BufReader<TcpStream>, Error> {
    let stream = TcpStream::connect((ep.addr.0.as_str(), ep.addr.1)).await?;
    stream.set_nodelay(true)?;
    let mut conn = BufReader::new(stream);
    let mut expect_ok = 0;
    if let Some(pw) = &ep.password {
        conn.get_mut()
            .write_all(&command(&[b"AUTH", pw.as_bytes()]))
            .await?;
        expect_ok += 1;
    }
    if ep.db != 0 {
        let db = ep.db.to_string();
        conn.get_mut()
            .write_all(&command(&[b"SELECT", db.as_bytes()]))
            .await?;
        expect_ok += 1;
    }
    conn.get_mut()
        .write_all(&command(&[b"SYNC.SUBSCRIBE", key]))
        .await?;
    for _ in 0..expect_ok {
        if let Value::Error(e) = read_value(&mut conn).await? {
            return Err(Error::Protocol(e));
        }
    }
    match read_value(&mut conn).await? {
        Value::Array(Some(items))
            if items.first() == Some(&Value::Bulk(Some(Bytes::from_static(b"sync.subscribe")))) =>
        {
            Ok(conn)
        }
        other => Err(Error::Protocol(format!(
            "SYNC.SUBSCRIBE answered {other:?}"
        ))),
    }
}

/// The envelope in a `sync` push, if `v` is one.
fn push_envelope(v: Value) -> Option<Envelope> {
    let Value::Array(Some(items)) = v else {
        return None;
    };
    let mut it = items.into_iter();
    match it.next()? {
        Value::Bulk(Some(kind)) if &kind[..] == b"sync" => {}
        _ => return None,
    }
    let _key = it.next()?;
    let value = match it.next()? {
        Value::Bulk(b) => b,
        _ => return None,
    };
    let schema_version = match it.next()? {
        Value::Bulk(Some(b)) => String::from_utf8_lossy(&b).into_owned(),
        _ => return None,
    };
    let sequence = match it.next()? {
        Value::Int(n) if n >= 0 => n as u64,
        _ => return None,
    };
    Some(Envelope {
        value,
        schema_version,
        sequence,
    })
}

/// A replica of `opts.key`, gated by `parse`: subscribes, then seeds from SYNC.GET, then
/// follows the pushes. When the subscription connection drops it reconnects (50 ms doubling
/// to 2 s) and refetches, since envelopes may have been missed meanwhile. Needs a tokio
/// runtime; [`Replica::dispose`] stops it.
pub async fn connect<T: Send + 'static>(
    opts: ReplicaOptions,
    parse: impl Fn(Option<&[u8]>) -> Result<T, String> + Send + Sync + 'static,
) -> Result<Replica<T>, Error> {
    let fetch_url = opts.fetch_url.as_deref().unwrap_or(&opts.subscribe_url);
    let source = Arc::new(SyncGetSource::connect(fetch_url, &opts.key).await?);
    let ep = endpoint(&opts.subscribe_url)?;
    // Subscribe before seeding, so no change falls between the two.
    let mut conn = subscribe(&ep, &opts.key).await?;
    let replica = Replica::new(parse, Some(source.clone() as Arc<dyn SnapshotSource>));
    replica.hydrate(source.get().await?);
    let r = replica.clone();
    let key = opts.key.clone();
    let task = tokio::spawn(async move {
        loop {
            match read_value(&mut conn).await {
                Ok(v) => {
                    if let Some(env) = push_envelope(v) {
                        r.receive(&env);
                    }
                    continue;
                }
                Err(e) => tracing::warn!(error = %e, "sync replica: subscription lost"),
            }
            let mut delay = Duration::from_millis(50);
            conn = loop {
                tokio::time::sleep(delay).await;
                match subscribe(&ep, &key).await {
                    Ok(c) => break c,
                    Err(e) => {
                        tracing::debug!(error = %e, "sync replica: resubscribe failed");
                        delay = (delay * 2).min(Duration::from_secs(2));
                    }
                }
            };
            r.resync();
        }
    });
    replica.on_dispose(move || task.abort());
    Ok(replica)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sync_get_answers() {
        use redis::Value as V;
        assert_eq!(parse_get(V::Nil).unwrap(), None);
        let e = parse_get(V::Array(vec![
            V::BulkString(b"v".to_vec()),
            V::BulkString(b"1.0".to_vec()),
            V::Int(4),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(e.value.as_deref(), Some(&b"v"[..]));
        assert_eq!((e.schema_version.as_str(), e.sequence), ("1.0", 4));
        let deleted = parse_get(V::Array(vec![V::Nil, V::BulkString(vec![]), V::Int(9)])).unwrap();
        assert_eq!(deleted.unwrap().value, None);
        assert!(parse_get(V::Int(3)).is_err());
    }

    #[test]
    fn recognises_sync_pushes_only() {
        let push = Value::Array(Some(vec![
            Value::Bulk(Some(Bytes::from_static(b"sync"))),
            Value::Bulk(Some(Bytes::from_static(b"k"))),
            Value::Bulk(Some(Bytes::from_static(b"v"))),
            Value::Bulk(Some(Bytes::from_static(b"2"))),
            Value::Int(5),
        ]));
        let e = push_envelope(push).unwrap();
        assert_eq!((e.sequence, e.schema_version.as_str()), (5, "2"));
        let confirmation = Value::Array(Some(vec![
            Value::Bulk(Some(Bytes::from_static(b"sync.subscribe"))),
            Value::Bulk(Some(Bytes::from_static(b"k"))),
            Value::Int(1),
        ]));
        assert!(push_envelope(confirmation).is_none());
    }
}
