//! The `CONFIG GET/SET` table: Redis parameter names, their TOML keys, and how each value is
//! printed and parsed. Error texts are Redis 7's, because clients and tools match on them.

use super::compat::{Access, CompatParam, COMPAT_PARAMS};
use super::{
    ByteSize, CollectionLayout, Config, Durability, Problem, Synchronous, LOG_LEVELS, MAX_I64,
    MAX_INTSET, MAX_LISTPACK, MAX_SECONDS,
};
use crate::glob::glob_match;
use std::sync::OnceLock;

/// How a parameter's value is written to TOML by CONFIG REWRITE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// A TOML string.
    Str,
    /// A TOML integer.
    Int,
    /// A size: written as `"512mb"` when exact, else an integer.
    Size,
    /// A TOML boolean, `yes` / `no` to CONFIG.
    Bool,
}

/// One `CONFIG GET/SET` parameter.
#[derive(Debug, Clone, Copy)]
pub struct ConfigParam {
    /// The Redis-style name clients use (`maxclients`).
    pub name: &'static str,
    /// The dotted TOML key (`server.maxclients`); empty for read-only compatibility
    /// parameters that have no place in the file (`save`, `appendonly`).
    pub key: &'static str,
    /// Whether `CONFIG SET` may change it while running.
    pub mutable: bool,
    /// How the value is represented in TOML.
    pub kind: ParamKind,
    /// The value as `CONFIG GET` prints it.
    pub get: fn(&Config) -> String,
    /// Parses a value the way `CONFIG SET` does and stores it; the error is Redis's reason
    /// text (`argument couldn't be parsed into an integer`).
    pub set: fn(&mut Config, &[u8]) -> Result<(), String>,
}

impl ConfigParam {
    /// Whether the parameter lives in the TOML file (and so in CONFIG REWRITE).
    pub fn in_file(&self) -> bool {
        !self.key.is_empty()
    }
}

/// Every `CONFIG GET/SET` parameter, in the order `CONFIG GET` lists them.
pub fn params() -> &'static [ConfigParam] {
    PARAMS
}

/// The parameter called `name` (case-insensitive), as Redis looks names up.
pub fn find_param(name: &[u8]) -> Option<&'static ConfigParam> {
    PARAMS
        .iter()
        .find(|p| p.name.as_bytes().eq_ignore_ascii_case(name))
}

/// A `[tls]` text setting that CONFIG SET changes (the server then reloads its TLS setup).
macro_rules! tls_text {
    ($name:literal, $key:literal, $field:ident) => {
        ConfigParam {
            name: $name,
            key: $key,
            mutable: true,
            kind: ParamKind::Str,
            get: |c| c.tls.$field.clone(),
            set: |c, v| {
                c.tls.$field = utf8(v)?;
                Ok(())
            },
        }
    };
}

static PARAMS: &[ConfigParam] = &[
    ConfigParam {
        name: "bind",
        key: "server.bind",
        mutable: false,
        kind: ParamKind::Str,
        get: |c| c.server.bind.clone(),
        set: |c, v| {
            c.server.bind = utf8(v)?;
            Ok(())
        },
    },
    ConfigParam {
        name: "port",
        key: "server.port",
        mutable: false,
        kind: ParamKind::Int,
        get: |c| c.server.port.to_string(),
        set: |c, v| {
            c.server.port = int(v, 0, u16::MAX.into())?;
            Ok(())
        },
    },
    ConfigParam {
        name: "maxclients",
        key: "server.maxclients",
        mutable: true,
        kind: ParamKind::Int,
        get: |c| c.server.maxclients.to_string(),
        set: |c, v| {
            c.server.maxclients = int(v, 1, u32::MAX.into())?;
            Ok(())
        },
    },
    ConfigParam {
        name: "timeout",
        key: "server.timeout",
        mutable: true,
        kind: ParamKind::Int,
        get: |c| c.server.timeout.to_string(),
        set: |c, v| {
            c.server.timeout = int(v, 0, MAX_SECONDS as i64)?;
            Ok(())
        },
    },
    ConfigParam {
        name: "tcp-keepalive",
        key: "server.tcp_keepalive",
        mutable: true,
        kind: ParamKind::Int,
        get: |c| c.server.tcp_keepalive.to_string(),
        set: |c, v| {
            c.server.tcp_keepalive = int(v, 0, MAX_SECONDS as i64)?;
            Ok(())
        },
    },
    ConfigParam {
        name: "io-threads",
        key: "server.io_threads",
        mutable: false,
        kind: ParamKind::Int,
        get: |c| c.server.io_threads.to_string(),
        set: |c, v| {
            c.server.io_threads = int(v, 0, 256)?;
            Ok(())
        },
    },
    ConfigParam {
        name: "databases",
        key: "server.databases",
        mutable: false,
        kind: ParamKind::Int,
        get: |c| c.server.databases.to_string(),
        set: |c, v| {
            c.server.databases = int(v, 1, 1024)?;
            Ok(())
        },
    },
    ConfigParam {
        name: "requirepass",
        key: "server.requirepass",
        mutable: true,
        kind: ParamKind::Str,
        get: |c| c.server.requirepass.clone(),
        set: |c, v| {
            c.server.requirepass = utf8(v)?;
            Ok(())
        },
    },
    ConfigParam {
        name: "protected-mode",
        key: "server.protected_mode",
        mutable: true,
        kind: ParamKind::Bool,
        get: |c| yes_no(c.server.protected_mode),
        set: |c, v| {
            c.server.protected_mode = boolean(v)?;
            Ok(())
        },
    },
    ConfigParam {
        name: "proto-max-bulk-len",
        key: "server.proto_max_bulk_len",
        mutable: true,
        kind: ParamKind::Size,
        get: |c| c.server.proto_max_bulk_len.to_string(),
        set: |c, v| {
            c.server.proto_max_bulk_len = size(v, ByteSize::mb(1).0)?;
            Ok(())
        },
    },
    ConfigParam {
        name: "client-query-buffer-limit",
        key: "server.client_query_buffer_limit",
        mutable: true,
        kind: ParamKind::Size,
        get: |c| c.server.client_query_buffer_limit.to_string(),
        set: |c, v| {
            c.server.client_query_buffer_limit = size(v, ByteSize::mb(1).0)?;
            Ok(())
        },
    },
    ConfigParam {
        name: "loglevel",
        key: "log.level",
        mutable: true,
        kind: ParamKind::Str,
        get: |c| c.log.level.clone(),
        set: |c, v| {
            // Redis's own level names are accepted too, mapped to the nearest tracing level.
            let redis_names = [
                ("warning", "warn"),
                ("notice", "info"),
                ("verbose", "debug"),
                ("nothing", "error"),
            ];
            let level = redis_names
                .iter()
                .find(|(redis, _)| redis.as_bytes().eq_ignore_ascii_case(v))
                .map(|(_, level)| *level);
            c.log.level = match level {
                Some(level) => level.to_string(),
                None => one_of(v, &LOG_LEVELS)?.to_string(),
            };
            Ok(())
        },
    },
    ConfigParam {
        name: "notify-keyspace-events",
        key: "server.notify_keyspace_events",
        mutable: true,
        kind: ParamKind::Str,
        get: |c| {
            crate::events::parse_flags(&c.server.notify_keyspace_events)
                .map(crate::events::flags_to_string)
                .unwrap_or_default()
        },
        set: |c, v| {
            let text = utf8(v).map_err(|_| crate::events::INVALID_FLAGS.to_string())?;
            let flags = crate::events::parse_flags(&text).ok_or(crate::events::INVALID_FLAGS)?;
            c.server.notify_keyspace_events = crate::events::flags_to_string(flags);
            Ok(())
        },
    },
    ConfigParam {
        name: "client-output-buffer-limit",
        key: "server.client_output_buffer_limit",
        mutable: true,
        kind: ParamKind::Str,
        get: |c| c.server.buffer_limits().to_redis_string(),
        set: |c, v| {
            let text = utf8(v)?;
            let limits = c.server.buffer_limits().parse_over(&text)?;
            c.server.client_output_buffer_limit = limits.to_redis_string();
            Ok(())
        },
    },
    ConfigParam {
        name: "tracking-table-max-keys",
        key: "server.tracking_table_max_keys",
        mutable: true,
        kind: ParamKind::Int,
        get: |c| c.server.tracking_table_max_keys.to_string(),
        set: |c, v| {
            c.server.tracking_table_max_keys = int(v, 0, i64::MAX)?;
            Ok(())
        },
    },
    ConfigParam {
        name: "metrics-listen",
        key: "metrics.listen",
        mutable: false,
        kind: ParamKind::Str,
        get: |c| c.metrics.listen.clone(),
        set: |c, v| {
            c.metrics.listen = utf8(v)?;
            Ok(())
        },
    },
    ConfigParam {
        name: "storage-path",
        key: "storage.path",
        mutable: false,
        kind: ParamKind::Str,
        get: |c| c.storage.path.clone(),
        set: |c, v| {
            c.storage.path = utf8(v)?;
            Ok(())
        },
    },
    ConfigParam {
        name: "durability",
        key: "storage.durability",
        mutable: false,
        kind: ParamKind::Str,
        get: |c| c.storage.durability.as_str().into(),
        set: |c, v| {
            let names = Durability::ALL.map(Durability::as_str);
            let name = one_of(v, &names)?;
            c.storage.durability = Durability::ALL
                .into_iter()
                .find(|d| d.as_str() == name)
                .unwrap_or_default();
            Ok(())
        },
    },
    ConfigParam {
        name: "synchronous",
        key: "storage.synchronous",
        mutable: true,
        kind: ParamKind::Str,
        get: |c| c.storage.synchronous.as_str().into(),
        set: |c, v| {
            let names = Synchronous::ALL.map(Synchronous::as_str);
            let name = one_of(v, &names)?;
            c.storage.synchronous = Synchronous::ALL
                .into_iter()
                .find(|s| s.as_str() == name)
                .unwrap_or_default();
            Ok(())
        },
    },
    ConfigParam {
        name: "cache-max-bytes",
        key: "storage.cache_max_bytes",
        mutable: true,
        kind: ParamKind::Size,
        get: |c| c.storage.cache_max_bytes.to_string(),
        set: |c, v| {
            c.storage.cache_max_bytes = size(v, 0)?;
            Ok(())
        },
    },
    ConfigParam {
        name: "page-cache-bytes",
        key: "storage.page_cache_bytes",
        mutable: true,
        kind: ParamKind::Size,
        get: |c| c.storage.page_cache_bytes.to_string(),
        set: |c, v| {
            let n = size(v, 0)?;
            if n.0 != 0 && n.0 < super::MIN_PAGE_CACHE {
                return Err(format!(
                    "argument must be 0 (a quarter of cache-max-bytes and what the hot cache \
                     leaves unused) or between {} and {MAX_I64} inclusive",
                    super::MIN_PAGE_CACHE
                ));
            }
            c.storage.page_cache_bytes = n;
            Ok(())
        },
    },
    ConfigParam {
        name: "merge-interval-ms",
        key: "storage.merge_interval_ms",
        mutable: false,
        kind: ParamKind::Int,
        get: |c| c.storage.merge_interval_ms.to_string(),
        set: |c, v| {
            c.storage.merge_interval_ms = int(v, 0, 3_600_000)?;
            Ok(())
        },
    },
    ConfigParam {
        name: "journal-max-bytes",
        key: "storage.journal_max_bytes",
        mutable: false,
        kind: ParamKind::Size,
        get: |c| c.storage.journal_max_bytes.to_string(),
        set: |c, v| {
            c.storage.journal_max_bytes = size(v, 1 << 20)?;
            Ok(())
        },
    },
    ConfigParam {
        name: "row-window-bytes",
        key: "storage.row_window_bytes",
        mutable: true,
        kind: ParamKind::Size,
        get: |c| c.storage.row_window_bytes.to_string(),
        set: |c, v| {
            c.storage.row_window_bytes = size(v, 0)?;
            Ok(())
        },
    },
    ConfigParam {
        name: "flush-interval-ms",
        key: "storage.flush_interval_ms",
        mutable: false,
        kind: ParamKind::Int,
        get: |c| c.storage.flush_interval_ms.to_string(),
        set: |c, v| {
            c.storage.flush_interval_ms = int(v, 1, 3_600_000)?;
            Ok(())
        },
    },
    ConfigParam {
        name: "max-dirty-bytes",
        key: "storage.max_dirty_bytes",
        mutable: false,
        kind: ParamKind::Size,
        get: |c| c.storage.max_dirty_bytes.to_string(),
        set: |c, v| {
            c.storage.max_dirty_bytes = size(v, 1 << 20)?;
            Ok(())
        },
    },
    ConfigParam {
        name: "hash-max-listpack-entries",
        key: "storage.hash_max_listpack_entries",
        mutable: true,
        kind: ParamKind::Int,
        get: |c| c.storage.hash_max_listpack_entries.to_string(),
        set: |c, v| {
            c.storage.hash_max_listpack_entries = int(v, 0, MAX_LISTPACK as i64)?;
            Ok(())
        },
    },
    ConfigParam {
        name: "hash-max-listpack-value",
        key: "storage.hash_max_listpack_value",
        mutable: true,
        kind: ParamKind::Int,
        get: |c| c.storage.hash_max_listpack_value.to_string(),
        set: |c, v| {
            c.storage.hash_max_listpack_value = listpack_bytes(v)?;
            Ok(())
        },
    },
    ConfigParam {
        name: "zset-max-listpack-entries",
        key: "storage.zset_max_listpack_entries",
        mutable: true,
        kind: ParamKind::Int,
        get: |c| c.storage.zset_max_listpack_entries.to_string(),
        set: |c, v| {
            c.storage.zset_max_listpack_entries = int(v, 0, MAX_LISTPACK as i64)?;
            Ok(())
        },
    },
    ConfigParam {
        name: "zset-max-listpack-value",
        key: "storage.zset_max_listpack_value",
        mutable: true,
        kind: ParamKind::Int,
        get: |c| c.storage.zset_max_listpack_value.to_string(),
        set: |c, v| {
            c.storage.zset_max_listpack_value = listpack_bytes(v)?;
            Ok(())
        },
    },
    ConfigParam {
        name: "list-max-listpack-size",
        key: "storage.list_max_listpack_size",
        mutable: true,
        kind: ParamKind::Int,
        get: |c| c.storage.list_max_listpack_size.to_string(),
        set: |c, v| {
            c.storage.list_max_listpack_size = int(v, -5, MAX_LISTPACK as i64)?;
            Ok(())
        },
    },
    ConfigParam {
        name: "collection-layout",
        key: "storage.collection_layout",
        mutable: false,
        kind: ParamKind::Str,
        get: |c| c.storage.collection_layout.as_str().into(),
        set: |c, v| {
            let names = CollectionLayout::ALL.map(CollectionLayout::as_str);
            let name = one_of(v, &names)?;
            c.storage.collection_layout = CollectionLayout::ALL
                .into_iter()
                .find(|l| l.as_str() == name)
                .unwrap_or_default();
            Ok(())
        },
    },
    ConfigParam {
        name: "set-max-intset-entries",
        key: "storage.set_max_intset_entries",
        mutable: true,
        kind: ParamKind::Int,
        get: |c| c.storage.set_max_intset_entries.to_string(),
        set: |c, v| {
            c.storage.set_max_intset_entries = int(v, 0, MAX_INTSET as i64)?;
            Ok(())
        },
    },
    ConfigParam {
        name: "set-max-listpack-entries",
        key: "storage.set_max_listpack_entries",
        mutable: true,
        kind: ParamKind::Int,
        get: |c| c.storage.set_max_listpack_entries.to_string(),
        set: |c, v| {
            c.storage.set_max_listpack_entries = int(v, 0, MAX_LISTPACK as i64)?;
            Ok(())
        },
    },
    ConfigParam {
        name: "set-max-listpack-value",
        key: "storage.set_max_listpack_value",
        mutable: true,
        kind: ParamKind::Int,
        get: |c| c.storage.set_max_listpack_value.to_string(),
        set: |c, v| {
            c.storage.set_max_listpack_value = int(v, 0, MAX_LISTPACK as i64)?;
            Ok(())
        },
    },
    ConfigParam {
        name: "hll-sparse-max-bytes",
        key: "storage.hll_sparse_max_bytes",
        mutable: true,
        kind: ParamKind::Int,
        get: |c| c.storage.hll_sparse_max_bytes.to_string(),
        set: |c, v| {
            // A memory value, as Redis's (`4kb`), from 0 to LONG_MAX.
            let n = ByteSize::parse(v).ok_or("argument must be a memory value")?;
            if n.0 > i64::MAX as u64 {
                return Err(format!(
                    "argument must be between 0 and {} inclusive",
                    i64::MAX
                ));
            }
            c.storage.hll_sparse_max_bytes = n.0;
            Ok(())
        },
    },
    ConfigParam {
        name: "stream-node-max-entries",
        key: "storage.stream_node_max_entries",
        mutable: true,
        kind: ParamKind::Int,
        get: |c| c.storage.stream_node_max_entries.to_string(),
        set: |c, v| {
            c.storage.stream_node_max_entries = int(v, 0, i64::MAX)?;
            Ok(())
        },
    },
    ConfigParam {
        name: "busy-reply-threshold",
        key: "scripting.busy_reply_threshold",
        mutable: true,
        kind: ParamKind::Int,
        get: |c| c.scripting.busy_reply_threshold.to_string(),
        set: |c, v| {
            c.scripting.busy_reply_threshold = int(v, 0, i64::MAX)?;
            Ok(())
        },
    },
    // Redis's AOF fsync policy, mapped onto SQLite's: `always` fsyncs every group commit.
    ConfigParam {
        name: "appendfsync",
        key: "",
        mutable: true,
        kind: ParamKind::Str,
        get: |c| {
            match c.storage.synchronous {
                Synchronous::Off => "no",
                Synchronous::Normal => "everysec",
                Synchronous::Full | Synchronous::Extra => "always",
            }
            .into()
        },
        set: |c, v| {
            c.storage.synchronous = match one_of(v, &["everysec", "always", "no"])? {
                "always" => Synchronous::Full,
                "no" => Synchronous::Off,
                _ => Synchronous::Normal,
            };
            Ok(())
        },
    },
    ConfigParam {
        name: "tls-port",
        key: "tls.port",
        mutable: false,
        kind: ParamKind::Int,
        get: |c| c.tls.port.to_string(),
        set: |c, v| {
            c.tls.port = int(v, 0, u16::MAX.into())?;
            Ok(())
        },
    },
    tls_text!("tls-cert-file", "tls.cert_file", cert_file),
    tls_text!("tls-key-file", "tls.key_file", key_file),
    tls_text!("tls-ca-cert-file", "tls.ca_cert_file", ca_cert_file),
    tls_text!("tls-ca-cert-dir", "tls.ca_cert_dir", ca_cert_dir),
    ConfigParam {
        name: "tls-auth-clients",
        key: "tls.auth_clients",
        mutable: true,
        kind: ParamKind::Str,
        get: |c| c.tls.auth_clients.as_str().to_string(),
        set: |c, v| {
            let name = one_of(v, &crate::config::TlsAuthClients::NAMES)?;
            c.tls.auth_clients = crate::config::TlsAuthClients::parse(name).unwrap_or_default();
            Ok(())
        },
    },
    tls_text!("tls-protocols", "tls.protocols", protocols),
    tls_text!("tls-ciphersuites", "tls.ciphersuites", ciphersuites),
    tls_text!("tls-ciphers", "tls.ciphers", ciphers),
    ConfigParam {
        name: "tls-prefer-server-ciphers",
        key: "tls.prefer_server_ciphers",
        mutable: true,
        kind: ParamKind::Bool,
        get: |c| yes_no(c.tls.prefer_server_ciphers),
        set: |c, v| {
            c.tls.prefer_server_ciphers = boolean(v)?;
            Ok(())
        },
    },
];

const IMMUTABLE: &str = "can't set immutable config";

fn int<T: TryFrom<i64>>(v: &[u8], min: i64, max: i64) -> Result<T, String> {
    let n = crate::protocol::parse_i64(v).ok_or("argument couldn't be parsed into an integer")?;
    if n < min || n > max {
        return Err(format!(
            "argument must be between {min} and {max} inclusive"
        ));
    }
    T::try_from(n).map_err(|_| format!("argument must be between {min} and {max} inclusive"))
}

fn size(v: &[u8], min: u64) -> Result<ByteSize, String> {
    let n = ByteSize::parse(v).ok_or("argument must be a memory value")?;
    if n.0 < min || n.0 > MAX_I64 {
        return Err(format!(
            "argument must be between {min} and {MAX_I64} inclusive"
        ));
    }
    Ok(n)
}

/// A `*-max-listpack-value` size: a memory value, as Redis takes it, within Respite's bound.
fn listpack_bytes(v: &[u8]) -> Result<u64, String> {
    let n = match v {
        b"" => ByteSize(0),
        _ => ByteSize::parse(v).ok_or("argument must be a memory value")?,
    };
    if n.0 > MAX_LISTPACK {
        return Err(format!(
            "argument must be between 0 and {MAX_LISTPACK} inclusive"
        ));
    }
    Ok(n.0)
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

fn boolean(v: &[u8]) -> Result<bool, String> {
    if v.eq_ignore_ascii_case(b"yes") {
        Ok(true)
    } else if v.eq_ignore_ascii_case(b"no") {
        Ok(false)
    } else {
        Err("argument must be 'yes' or 'no'".into())
    }
}

fn utf8(v: &[u8]) -> Result<String, String> {
    String::from_utf8(v.to_vec()).map_err(|_| "argument must be a valid UTF-8 string".into())
}

/// Case-insensitive choice among `names`, with Redis's enum error text.
fn one_of<'a>(v: &[u8], names: &[&'a str]) -> Result<&'a str, String> {
    names
        .iter()
        .find(|n| n.as_bytes().eq_ignore_ascii_case(v))
        .copied()
        .ok_or_else(|| {
            format!(
                "argument(s) must be one of the following: {}",
                names.join(", ")
            )
        })
}

fn set_failed(name: &[u8], reason: &str) -> String {
    format!(
        "CONFIG SET failed (possibly related to argument '{}') - {reason}",
        String::from_utf8_lossy(name)
    )
}

/// Redis's older names of Respite's own parameters (`CONFIG GET *` lists both, as Redis 7
/// does): `(alias, name)`.
const NATIVE_ALIASES: &[(&str, &str)] = &[
    ("hash-max-ziplist-entries", "hash-max-listpack-entries"),
    ("hash-max-ziplist-value", "hash-max-listpack-value"),
    ("zset-max-ziplist-entries", "zset-max-listpack-entries"),
    ("zset-max-ziplist-value", "zset-max-listpack-value"),
    ("list-max-ziplist-size", "list-max-listpack-size"),
    ("lua-time-limit", "busy-reply-threshold"),
];

/// What a `CONFIG GET/SET` name stands for.
#[derive(Clone, Copy)]
enum Target {
    /// One of Respite's own settings.
    Native(&'static ConfigParam),
    /// A Redis parameter kept for compatibility only.
    Compat(&'static CompatParam),
}

/// One name `CONFIG GET *` reports: a parameter or an alias of one.
#[derive(Clone, Copy)]
struct Entry {
    name: &'static str,
    target: Target,
}

/// Every name, in the order `CONFIG GET` lists them: Respite's own parameters, their Redis
/// aliases, then Redis's compatibility parameters (each followed by its alias).
fn entries() -> &'static [Entry] {
    static ENTRIES: OnceLock<Vec<Entry>> = OnceLock::new();
    ENTRIES.get_or_init(|| {
        let mut out: Vec<Entry> = PARAMS
            .iter()
            .map(|p| Entry {
                name: p.name,
                target: Target::Native(p),
            })
            .collect();
        for (alias, name) in NATIVE_ALIASES {
            if let Some(p) = PARAMS.iter().find(|p| p.name == *name) {
                out.push(Entry {
                    name: alias,
                    target: Target::Native(p),
                });
            }
        }
        for p in COMPAT_PARAMS {
            out.push(Entry {
                name: p.name,
                target: Target::Compat(p),
            });
            if let Some(alias) = p.alias {
                out.push(Entry {
                    name: alias,
                    target: Target::Compat(p),
                });
            }
        }
        out
    })
}

fn find_entry(name: &[u8]) -> Option<&'static Entry> {
    entries()
        .iter()
        .find(|e| e.name.as_bytes().eq_ignore_ascii_case(name))
}

/// Every name `CONFIG GET *` reports, aliases included (hidden ones are not).
pub fn param_names() -> Vec<&'static str> {
    entries()
        .iter()
        .filter(|e| !matches!(e.target, Target::Compat(p) if p.hidden))
        .map(|e| e.name)
        .collect()
}

impl Config {
    /// The `[redis]` table's settings, parsed as CONFIG SET parses them: (parameter, value as
    /// CONFIG GET prints it) for the good ones, a problem for each bad one.
    fn redis_file_settings(&self) -> Vec<Result<(&'static str, String), Problem>> {
        self.redis_file
            .iter()
            .map(|(name, value)| {
                let key = format!("redis.{name}");
                let p = match find_entry(name.as_bytes()).map(|e| e.target) {
                    Some(Target::Compat(p)) => p,
                    Some(Target::Native(p)) => {
                        let instead = match p.key {
                            "" => format!("CONFIG SET {} at run time", p.name),
                            key => key.to_string(),
                        };
                        return Err(Problem::new(
                            key,
                            format!("one of Respite's own settings: use {instead}"),
                        ));
                    }
                    None => return Err(Problem::new(key, "not a Redis 7 parameter")),
                };
                p.parse(value.as_conf().as_bytes())
                    .map(|v| (p.name, v))
                    .map_err(|reason| Problem::new(key, reason))
            })
            .collect()
    }

    /// Problems of the `[redis]` table (unknown names, bad values).
    pub(super) fn redis_file_problems(&self) -> Vec<Problem> {
        self.redis_file_settings()
            .into_iter()
            .filter_map(Result::err)
            .collect()
    }

    /// Applies the `[redis]` table's settings to the Redis parameters (after validation).
    pub fn apply_redis_file(&mut self) {
        let settings: Vec<_> = self
            .redis_file_settings()
            .into_iter()
            .filter_map(Result::ok)
            .collect();
        for (name, value) in settings {
            self.redis.insert(name.to_string(), value);
        }
    }

    /// The value of the Redis-only parameter `name` (`slowlog-max-len`, ...), as CONFIG GET
    /// prints it; `None` for a name that is not one.
    pub fn redis_param(&self, name: &str) -> Option<String> {
        COMPAT_PARAMS
            .iter()
            .find(|p| p.name == name)
            .map(|p| self.compat_value(p))
    }

    /// The value of a compatibility parameter, as CONFIG GET prints it.
    fn compat_value(&self, p: &CompatParam) -> String {
        self.redis
            .get(p.name)
            .cloned()
            .unwrap_or_else(|| p.default_value())
    }

    /// CONFIG GET: every `(name, value)` whose name matches any of the glob patterns
    /// (case-insensitive), without duplicates, in table order.
    pub fn get_params(&self, patterns: &[&[u8]]) -> Vec<(String, String)> {
        entries()
            .iter()
            .filter(|e| match e.target {
                Target::Compat(p) if p.hidden => patterns
                    .iter()
                    .any(|pat| pat.eq_ignore_ascii_case(e.name.as_bytes())),
                _ => patterns
                    .iter()
                    .any(|pat| glob_match(pat, e.name.as_bytes(), true)),
            })
            .map(|e| {
                let value = match e.target {
                    Target::Native(p) => (p.get)(self),
                    Target::Compat(p) => self.compat_value(p),
                };
                (e.name.to_string(), value)
            })
            .collect()
    }

    /// CONFIG SET with one or more pairs, atomically: all applied or none. Errors are Redis
    /// 7's texts without the `ERR ` prefix, checked in Redis's order: names first (unknown,
    /// immutable, protected, duplicate), then values.
    pub fn set_params(&mut self, pairs: &[(&[u8], &[u8])]) -> Result<(), String> {
        let mut chosen: Vec<&'static Entry> = Vec::with_capacity(pairs.len());
        let protected_ok = self
            .redis
            .get("enable-protected-configs")
            .is_some_and(|v| v != "no");
        for (name, value) in pairs {
            let Some(entry) = find_entry(name) else {
                return Err(format!(
                    "Unknown option or number of arguments for CONFIG SET - '{}'",
                    String::from_utf8_lossy(name)
                ));
            };
            match entry.target {
                // Setting one of Respite's read-only parameters to the value it has is a
                // no-op, so that a client writing back what CONFIG GET * said (as Redis's
                // suite does with `port` and `bind`, which Redis can change) succeeds.
                Target::Native(p) if !p.mutable && (p.get)(self).as_bytes() != *value => {
                    return Err(set_failed(name, IMMUTABLE))
                }
                Target::Compat(p) if p.access == Access::Immutable => {
                    return Err(set_failed(name, IMMUTABLE))
                }
                Target::Compat(p) if p.access == Access::Protected && !protected_ok => {
                    return Err(set_failed(name, "can't set protected config"))
                }
                _ => {}
            }
            if chosen.iter().any(|e| e.name == entry.name) {
                return Err(set_failed(name, "duplicate parameter"));
            }
            chosen.push(entry);
        }

        let mut next = self.clone();
        for ((name, value), entry) in pairs.iter().zip(&chosen) {
            match entry.target {
                Target::Native(p) if !p.mutable => Ok(()),
                Target::Native(p) => (p.set)(&mut next, value),
                Target::Compat(p) => p.parse(value).map(|v| {
                    next.redis.insert(p.name.to_string(), v);
                }),
            }
            .map_err(|reason| set_failed(name, &reason))?;
        }
        // Setters check ranges themselves; this catches rules that span several keys.
        if let Some(problem) = next.core_problems().into_iter().next() {
            let culprit = pairs
                .iter()
                .zip(&chosen)
                .find(|(_, e)| matches!(e.target, Target::Native(p) if p.key == problem.key))
                .or(pairs.first().zip(chosen.first()))
                .map_or(&b""[..], |((name, _), _)| *name);
            return Err(set_failed(culprit, &problem.message));
        }
        *self = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        let defaults = Config::default();
        for (i, p) in PARAMS.iter().enumerate() {
            assert!(
                PARAMS[..i].iter().all(|q| q.name != p.name),
                "{} twice",
                p.name
            );
            assert_eq!(p.name, p.name.to_ascii_lowercase());
            if p.in_file() {
                // Every file parameter parses what it prints.
                let mut c = Config::default();
                let printed = (p.get)(&defaults);
                (p.set)(&mut c, printed.as_bytes()).expect(p.name);
                assert_eq!(c, defaults, "{} round trip", p.name);
            }
        }
    }
}
