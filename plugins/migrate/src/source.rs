//! The source Redis: connecting with clear errors, SCAN, and fetching keys as DUMP payloads
//! (with TYPE and PTTL, in one MULTI per batch so the three agree) or, for what RESTORE here
//! cannot take (streams), by type-specific reads in chunks.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{Client, ErrorKind, RedisError, Value};

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one reply may take (a DUMP of a huge key is slow).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(120);
/// Elements read per call by the type-specific reads.
const CHUNK: usize = 1000;

/// A clear message for a source error.
pub fn describe(url: &str, e: &RedisError) -> String {
    let at = crate::options::redact(url);
    if matches!(e.kind(), ErrorKind::AuthenticationFailed)
        || matches!(e.code(), Some("WRONGPASS") | Some("NOAUTH"))
    {
        return format!("the source {at} refused the credentials: {e}");
    }
    if e.is_io_error() || e.is_connection_refusal() || e.is_timeout() {
        return format!("cannot reach the source {at}: {e}");
    }
    format!("source {at}: {e}")
}

/// An open source.
#[derive(Clone)]
pub struct Source {
    /// The URL (with credentials).
    pub url: String,
    client: Client,
    /// A multiplexed connection: clones share it and pipeline over it.
    pub conn: MultiplexedConnection,
}

/// One key as fetched.
#[derive(Debug)]
pub enum Fetched {
    /// Gone between SCAN (or the event) and the fetch.
    Gone,
    /// Its type, PTTL (-1: none) and DUMP payload.
    Dump {
        /// TYPE's answer.
        ty: String,
        /// PTTL's answer.
        pttl: i64,
        /// DUMP's payload.
        payload: Vec<u8>,
    },
}

impl Source {
    /// Connects and checks with PING.
    pub async fn connect(url: &str) -> Result<Source, String> {
        let client = Client::open(url).map_err(|e| describe(url, &e))?;
        let mut conn = client
            .get_multiplexed_async_connection_with_config(
                &redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(CONNECT_TIMEOUT)
                    .set_response_timeout(RESPONSE_TIMEOUT),
            )
            .await
            .map_err(|e| describe(url, &e))?;
        redis::cmd("PING")
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| describe(url, &e))?;
        Ok(Source {
            url: url.to_string(),
            client,
            conn,
        })
    }

    /// The client, for the tracker's own connection.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn err(&self, e: RedisError) -> String {
        describe(&self.url, &e)
    }

    /// Runs a command.
    pub async fn query(&self, cmd: &redis::Cmd) -> Result<Value, String> {
        let mut c = self.conn.clone();
        cmd.query_async(&mut c).await.map_err(|e| self.err(e))
    }

    /// One SCAN step: the next cursor and the keys.
    pub async fn scan(&self, cursor: u64, count: u32) -> Result<(u64, Vec<Vec<u8>>), String> {
        let mut c = self.conn.clone();
        let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(count)
            .query_async(&mut c)
            .await
            .map_err(|e| {
                if e.code() == Some("ERR") && e.to_string().contains("unknown command") {
                    format!(
                        "the source {} has no SCAN (renamed or disabled): the bulk copy needs it",
                        crate::options::redact(&self.url)
                    )
                } else {
                    self.err(e)
                }
            })?;
        Ok((next, keys))
    }

    /// TYPE, PTTL and DUMP of each key, in one MULTI.
    pub async fn fetch(&self, keys: &[Vec<u8>]) -> Result<Vec<Fetched>, String> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        for k in keys {
            pipe.cmd("TYPE")
                .arg(k)
                .cmd("PTTL")
                .arg(k)
                .cmd("DUMP")
                .arg(k);
        }
        let mut c = self.conn.clone();
        let values: Vec<Value> = pipe.query_async(&mut c).await.map_err(|e| self.err(e))?;
        if values.len() != keys.len() * 3 {
            return Err(format!(
                "the source answered {} replies to {} commands",
                values.len(),
                keys.len() * 3
            ));
        }
        Ok(values
            .chunks(3)
            .map(|v| {
                let ty = text(&v[0]).unwrap_or_default();
                let pttl = int(&v[1]).unwrap_or(-2);
                match (&v[2], ty.as_str()) {
                    (_, "none") | (Value::Nil, _) => Fetched::Gone,
                    (Value::BulkString(p), _) => Fetched::Dump {
                        ty,
                        pttl,
                        payload: p.clone(),
                    },
                    _ => Fetched::Gone,
                }
            })
            .collect())
    }

    /// A key's value by type-specific reads, in chunks, as the commands that rebuild it here.
    /// `None` when it is gone or of another type by now (the tracker has its event then).
    pub async fn read_value(&self, key: &[u8], ty: &str) -> Result<Option<Rebuild>, String> {
        match self.read_value_inner(key, ty).await {
            Err(e) if gone(&e) => Ok(None),
            other => other,
        }
    }

    async fn read_value_inner(&self, key: &[u8], ty: &str) -> Result<Option<Rebuild>, String> {
        let mut c = self.conn.clone();
        let mut writes: Vec<Vec<Vec<u8>>> = Vec::new();
        match ty {
            "string" => {
                let v: Value = redis::cmd("GET")
                    .arg(key)
                    .query_async(&mut c)
                    .await
                    .map_err(|e| self.err(e))?;
                let Value::BulkString(v) = v else {
                    return Ok(None);
                };
                writes.push(vec![b"SET".to_vec(), key.to_vec(), v]);
            }
            "hash" | "set" | "zset" => {
                let (scan, add) = match ty {
                    "hash" => ("HSCAN", "HSET"),
                    "set" => ("SSCAN", "SADD"),
                    _ => ("ZSCAN", "ZADD"),
                };
                let mut cursor = 0u64;
                loop {
                    let (next, items): (u64, Vec<Vec<u8>>) = redis::cmd(scan)
                        .arg(key)
                        .arg(cursor)
                        .arg("COUNT")
                        .arg(CHUNK)
                        .query_async(&mut c)
                        .await
                        .map_err(|e| self.err(e))?;
                    if !items.is_empty() {
                        let mut w = vec![add.as_bytes().to_vec(), key.to_vec()];
                        if ty == "zset" {
                            // ZSCAN gives member, score; ZADD takes score, member.
                            for pair in items.chunks(2) {
                                if let [m, s] = pair {
                                    w.push(s.clone());
                                    w.push(m.clone());
                                }
                            }
                        } else {
                            w.extend(items);
                        }
                        writes.push(w);
                    }
                    cursor = next;
                    if cursor == 0 {
                        break;
                    }
                }
            }
            "list" => {
                let mut start = 0usize;
                loop {
                    let items: Vec<Vec<u8>> = redis::cmd("LRANGE")
                        .arg(key)
                        .arg(start)
                        .arg(start + CHUNK - 1)
                        .query_async(&mut c)
                        .await
                        .map_err(|e| self.err(e))?;
                    let n = items.len();
                    if n > 0 {
                        let mut w = vec![b"RPUSH".to_vec(), key.to_vec()];
                        w.extend(items);
                        writes.push(w);
                    }
                    if n < CHUNK {
                        break;
                    }
                    start += n;
                }
            }
            "stream" => {
                return match self.read_stream(key).await {
                    Err(e) if gone(&e) => Ok(None),
                    other => other,
                }
            }
            _ => return Ok(None),
        }
        if writes.is_empty() {
            return Ok(None);
        }
        Ok(Some(Rebuild { writes }))
    }

    /// A stream's entries (XRANGE in chunks), its last ID and its consumer groups (without
    /// their pending lists).
    async fn read_stream(&self, key: &[u8]) -> Result<Option<Rebuild>, String> {
        let mut c = self.conn.clone();
        let mut writes = Vec::new();
        let mut from = b"-".to_vec();
        loop {
            let entries: Vec<(String, Vec<Vec<u8>>)> = redis::cmd("XRANGE")
                .arg(key)
                .arg(&from)
                .arg("+")
                .arg("COUNT")
                .arg(CHUNK)
                .query_async(&mut c)
                .await
                .map_err(|e| self.err(e))?;
            let n = entries.len();
            for (id, fields) in entries {
                let mut w = vec![b"XADD".to_vec(), key.to_vec(), id.as_bytes().to_vec()];
                w.extend(fields);
                from = format!("({id}").into_bytes();
                writes.push(w);
            }
            if n < CHUNK {
                break;
            }
        }
        let info = redis::cmd("XINFO")
            .arg("STREAM")
            .arg(key)
            .query_async::<Value>(&mut c)
            .await;
        let Ok(info) = info else { return Ok(None) };
        let info = pairs(&info);
        let last = info
            .iter()
            .find(|(k, _)| k == "last-generated-id")
            .and_then(|(_, v)| text(v));
        if let Some(last) = last {
            if writes.is_empty() {
                // An empty stream: XADD then XDEL would be needed; XSETID needs the key.
                writes.push(vec![
                    b"XADD".to_vec(),
                    key.to_vec(),
                    b"MAXLEN".to_vec(),
                    b"0".to_vec(),
                    last.as_bytes().to_vec(),
                    b"f".to_vec(),
                    b"v".to_vec(),
                ]);
            }
            writes.push(vec![b"XSETID".to_vec(), key.to_vec(), last.into_bytes()]);
        }
        let groups = redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(key)
            .query_async::<Value>(&mut c)
            .await
            .map_err(|e| self.err(e))?;
        if let Value::Array(groups) = groups {
            for g in groups {
                let g = pairs(&g);
                let get = |n: &str| g.iter().find(|(k, _)| k == n).and_then(|(_, v)| text(v));
                if let (Some(name), Some(id)) = (get("name"), get("last-delivered-id")) {
                    writes.push(vec![
                        b"XGROUP".to_vec(),
                        b"CREATE".to_vec(),
                        key.to_vec(),
                        name.into_bytes(),
                        id.into_bytes(),
                    ]);
                }
            }
        }
        Ok(Some(Rebuild { writes }))
    }
}

/// Whether a read failed because the key went away or changed type meanwhile.
fn gone(e: &str) -> bool {
    e.contains("no such key") || e.contains("WRONGTYPE")
}

/// Commands that rebuild a key here (after it is deleted), in order.
#[derive(Debug, Clone)]
pub struct Rebuild {
    /// Each a command's arguments.
    pub writes: Vec<Vec<Vec<u8>>>,
}

impl Rebuild {
    /// Bytes of the value.
    pub fn size(&self) -> usize {
        self.writes
            .iter()
            .map(|w| w.iter().skip(2).map(Vec::len).sum::<usize>())
            .sum()
    }
}

/// A reply as text.
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Okay => Some("OK".into()),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A reply as an integer.
pub fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(n) => Some(*n),
        other => text(other)?.parse().ok(),
    }
}

/// A flat key-value array (or map) as pairs with text keys.
pub fn pairs(v: &Value) -> Vec<(String, Value)> {
    match v {
        Value::Array(items) => items
            .chunks(2)
            .filter_map(|p| match p {
                [k, v] => Some((text(k)?, v.clone())),
                _ => None,
            })
            .collect(),
        Value::Map(m) => m
            .iter()
            .filter_map(|(k, v)| Some((text(k)?, v.clone())))
            .collect(),
        _ => Vec::new(),
    }
}
