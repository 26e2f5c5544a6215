//! Server configuration: typed sections, layered loading (defaults < TOML file < `RESPITE_*`
//! environment < command-line flags), validation, and the `CONFIG GET/SET/REWRITE` table.
//!
//! Every error names the source of the bad value, its key path and what was expected, so an
//! operator can fix a deployment from the message alone.

mod acl;
mod buffer_limits;
mod bytesize;
mod commands;
mod compat;
mod error;
mod load;
mod params;
mod plugin_sections;
mod rewrite;
#[cfg(test)]
mod tests;
mod tls;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

pub use crate::storage::Synchronous;
pub use acl::{AclConfig, AclUser};
pub use buffer_limits::{BufferLimit, BufferLimits};
pub use bytesize::ByteSize;
pub use commands::CommandsConfig;
pub use compat::{Access, CompatParam, Ty, COMPAT_PARAMS};
pub use error::{ConfigError, Problem};
pub use load::{LoadedConfig, Overrides, DEFAULT_CONFIG_PATH, ENV_PREFIX};
pub use params::{find_param, param_names, params, ConfigParam, ParamKind};
pub use plugin_sections::{no_section, plugin_sections, typed_section, ConfigCheck, PluginSection};
pub use tls::{parse_protocols, TlsAuthClients, TlsConfig};

/// The whole configuration, as read from `respite.toml`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Network and client limits (`[server]`).
    pub server: ServerConfig,
    /// The SQLite store (`[storage]`).
    pub storage: StorageConfig,
    /// Logging (`[log]`).
    pub log: LogConfig,
    /// Prometheus metrics over HTTP (`[metrics]`).
    pub metrics: MetricsConfig,
    /// Which plugins start, and their own sections (`[plugins]`, `[plugins.NAME]`).
    pub plugins: PluginsConfig,
    /// Lua scripting (`[scripting]`).
    pub scripting: ScriptingConfig,
    /// TLS on a port of its own (`[tls]`).
    pub tls: TlsConfig,
    /// Renamed and disabled commands (`[commands]`).
    pub commands: CommandsConfig,
    /// ACL users defined in the file (`[acl]`).
    pub acl: AclConfig,
    /// Redis parameters that Respite accepts without acting on them (`hz`, `maxmemory`,
    /// `repl-*`, `cluster-*`, ...), by name, as CONFIG SET left them; the rest are at Redis's
    /// default. Not part of the file: they only answer clients that set and read them.
    #[serde(skip)]
    pub redis: BTreeMap<String, String>,
    /// The file's `[redis]` table: Redis parameters that have no section of their own here
    /// (`dir`, `dbfilename`, `hz`, ...), by Redis's name or alias, applied at start-up as
    /// redis.conf would, protected and start-up-only ones included.
    #[serde(rename = "redis", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub redis_file: BTreeMap<String, RedisSetting>,
}

/// A value of the `[redis]` table: TOML's strings, numbers and booleans all work
/// (`hz = 10`, `appendonly = false`), as their redis.conf spelling.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum RedisSetting {
    /// `dir = "/var/lib/respite"`.
    Text(String),
    /// `hz = 10`.
    Int(i64),
    /// `active-defrag-threshold-lower = 10.5`.
    Float(f64),
    /// `appendonly = false` (as `no`).
    Bool(bool),
}

impl RedisSetting {
    /// The value as redis.conf would spell it.
    pub fn as_conf(&self) -> String {
        match self {
            RedisSetting::Text(s) => s.clone(),
            RedisSetting::Int(n) => n.to_string(),
            RedisSetting::Float(f) => f.to_string(),
            RedisSetting::Bool(b) => if *b { "yes" } else { "no" }.to_string(),
        }
    }
}

/// `[scripting]`: the Lua host.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ScriptingConfig {
    /// Milliseconds a script may run before other clients get `-BUSY` and SCRIPT KILL /
    /// FUNCTION KILL may stop it (`busy-reply-threshold`, alias `lua-time-limit`); 0 = at
    /// once.
    pub busy_reply_threshold: u64,
    /// Most memory the Lua state may use (scripts, their data, the script cache and function
    /// libraries); an allocation past it fails the script with an error. 0 = no limit.
    pub memory_limit: ByteSize,
    /// Lua files that register custom commands (`respite.register_command`), loaded at
    /// start-up and by SCRIPT RELOAD; relative paths start from the working directory.
    pub commands: Vec<String>,
    /// Lua files that register key-event hooks (`respite.on_key_event`), loaded after
    /// `commands` in the same way.
    pub hooks: Vec<String>,
}

impl Default for ScriptingConfig {
    fn default() -> Self {
        ScriptingConfig {
            busy_reply_threshold: 5000,
            memory_limit: ByteSize::mb(256),
            commands: Vec::new(),
            hooks: Vec::new(),
        }
    }
}

/// `[server]`: listening sockets and per-client limits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Addresses to listen on, separated by spaces; `*` is every IPv4 interface.
    pub bind: String,
    /// TCP port; 0 lets the OS pick an ephemeral port.
    pub port: u16,
    /// Maximum simultaneous clients (>= 1).
    pub maxclients: u32,
    /// Idle seconds before a client is closed; 0 = never.
    pub timeout: u64,
    /// TCP keepalive period in seconds; 0 = off.
    pub tcp_keepalive: u64,
    /// Number of logical databases (`SELECT 0..n-1`), 1..=1024.
    pub databases: u32,
    /// Password for `AUTH`; empty = no password.
    pub requirepass: String,
    /// With no password set, refuse clients that do not connect from a loopback address
    /// (`protected-mode`), as Redis does.
    pub protected_mode: bool,
    /// Largest bulk string a client may send (>= 1mb).
    pub proto_max_bulk_len: ByteSize,
    /// Largest unparsed input buffered per client (>= 1mb).
    pub client_query_buffer_limit: ByteSize,
    /// Threads for sockets, parsing and reply encoding (0 = one less than the CPU count, at
    /// least one); commands themselves always run on the single executor thread.
    pub io_threads: u32,
    /// Keyspace notifications: Redis's `notify-keyspace-events` flag letters (`""` = off,
    /// `"KEA"` = everything).
    pub notify_keyspace_events: String,
    /// Output buffer limits in Redis's syntax: `<class> <hard> <soft> <soft-seconds>` for the
    /// classes `normal`, `replica` and `pubsub`; a subscriber past its hard limit, or past its
    /// soft limit for that long, is disconnected. Classes not named keep Redis's defaults.
    pub client_output_buffer_limit: String,
    /// Client-side caching: the most keys the tracking table remembers (0 = no limit); past
    /// it, the keys tracked longest ago are invalidated and forgotten.
    pub tracking_table_max_keys: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: "127.0.0.1".into(),
            port: 6379,
            maxclients: 10_000,
            timeout: 0,
            tcp_keepalive: 300,
            databases: 16,
            requirepass: String::new(),
            protected_mode: true,
            proto_max_bulk_len: ByteSize::mb(512),
            client_query_buffer_limit: ByteSize::gb(1),
            io_threads: 0,
            notify_keyspace_events: String::new(),
            client_output_buffer_limit: BufferLimits::default().to_redis_string(),
            tracking_table_max_keys: 1_000_000,
        }
    }
}

impl ServerConfig {
    /// The number of I/O threads to run: `io_threads`, or (0) one less than the CPU count,
    /// at least one. With one, that thread runs the executor too (see [`Self::inline_executor`]).
    pub fn effective_io_threads(&self) -> usize {
        match self.io_threads {
            0 => std::thread::available_parallelism()
                .map_or(1, |n| n.get().saturating_sub(1))
                .max(1),
            n => n as usize,
        }
    }

    /// Whether one thread runs sockets and the executor both, as Redis does: no hand-off
    /// between threads per request, which is what a one- or two-core machine affords best.
    pub fn inline_executor(&self) -> bool {
        self.effective_io_threads() == 1
    }

    /// The output buffer limits `client_output_buffer_limit` sets (defaults where invalid;
    /// validation reports that).
    pub fn buffer_limits(&self) -> BufferLimits {
        BufferLimits::default()
            .parse_over(&self.client_output_buffer_limit)
            .unwrap_or_default()
    }

    /// The addresses `bind` names (`*` = 0.0.0.0), or the offending word.
    pub fn bind_addrs(&self) -> Result<Vec<IpAddr>, String> {
        let words: Vec<&str> = self.bind.split_ascii_whitespace().collect();
        if words.is_empty() {
            return Err(String::new());
        }
        words
            .into_iter()
            .map(|w| match w {
                "*" => Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
                _ => w.parse::<IpAddr>().map_err(|_| w.to_string()),
            })
            .collect()
    }
}

/// `[storage]`: where and how data is kept.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// SQLite database file; `:memory:` = a throw-away store.
    pub path: String,
    /// When a write is acknowledged.
    pub durability: Durability,
    /// SQLite `PRAGMA synchronous`.
    pub synchronous: Synchronous,
    /// Memory budget of the caches: the hot cache and SQLite's page cache together.
    pub cache_max_bytes: ByteSize,
    /// SQLite's page cache (the tables' B-tree pages kept in memory), taken from
    /// `cache_max_bytes`; 0 = a quarter of it ([`StorageConfig::page_cache_budget`]), and a
    /// loan of what the hot cache leaves unused (`engine/page_cache.rs`).
    pub page_cache_bytes: ByteSize,
    /// How often the redo journal is merged into the database's tables (milliseconds); 0
    /// keeps no journal and commits every batch to SQLite.
    pub merge_interval_ms: u64,
    /// Size at which the redo journal is merged at once, writes waiting for it.
    pub journal_max_bytes: ByteSize,
    /// Key rows the row writer leaves waiting for the next merge, coalescing rewrites of the
    /// same keys, up to an eighth of `cache_max_bytes` ([`StorageConfig::row_window_budget`]);
    /// 0 applies each as soon as its batch is journaled.
    pub row_window_bytes: ByteSize,
    /// With `durability = "write-behind"`: the longest a change waits for its flush
    /// (milliseconds).
    pub flush_interval_ms: u64,
    /// With `durability = "write-behind"`: estimated bytes of changed keys past which a flush
    /// runs at once, the executor waiting for it.
    pub max_dirty_bytes: ByteSize,
    /// A hash with more fields than this keeps them one per row (`hash-max-listpack-entries`).
    pub hash_max_listpack_entries: u64,
    /// A hash with a longer field name or value keeps its fields one per row
    /// (`hash-max-listpack-value`).
    pub hash_max_listpack_value: u64,
    /// A sorted set with more members than this keeps them one per row
    /// (`zset-max-listpack-entries`).
    pub zset_max_listpack_entries: u64,
    /// A sorted set with a longer member keeps its members one per row
    /// (`zset-max-listpack-value`).
    pub zset_max_listpack_value: u64,
    /// A list with more items than this keeps them one per row (`list-max-listpack-size`);
    /// -1 to -5 limit the inline items' total size to 4 kB .. 64 kB instead, as in Redis.
    pub list_max_listpack_size: i64,
    /// A set of integers only with more members than this keeps them one per row
    /// (`set-max-intset-entries`).
    pub set_max_intset_entries: u64,
    /// A set with more members than this keeps them one per row (`set-max-listpack-entries`).
    pub set_max_listpack_entries: u64,
    /// A set with a longer member keeps its members one per row (`set-max-listpack-value`).
    pub set_max_listpack_value: u64,
    /// A HyperLogLog's sparse form grows to at most this many bytes (header included) before
    /// it turns dense (`hll-sparse-max-bytes`), as in Redis.
    pub hll_sparse_max_bytes: u64,
    /// Entries per node of a stream (`stream-node-max-entries`): entries are one row each,
    /// but trimming with `~` removes whole nodes of this many, as Redis does; 0 = no limit.
    pub stream_node_max_entries: u64,
    /// Which Redis version's collection layout lists and sets follow (`collection-layout`).
    pub collection_layout: CollectionLayout,
}

/// The smallest page cache SQLite is given, however small the budget.
pub const MIN_PAGE_CACHE: u64 = 1 << 20;

/// The smallest cap of a filter's memory, however small the budget.
pub const MIN_FILTER_BYTES: u64 = 1 << 20;

impl StorageConfig {
    /// SQLite's page cache: `page_cache_bytes`, or by default a quarter of `cache_max_bytes`
    /// (at least [`MIN_PAGE_CACHE`]). A quarter keeps the interior and much of the leaf
    /// pages of large collections' indexes (adds to a set of a million members ran 1.7x
    /// faster with 64 MB than with 16; see `bench/RESULTS.md`).
    pub fn page_cache_budget(&self) -> u64 {
        match self.page_cache_bytes.0 {
            0 => (self.cache_max_bytes.0 / 4).max(MIN_PAGE_CACHE),
            n => n,
        }
    }

    /// The row writer's window: `row_window_bytes`, at most an eighth of `cache_max_bytes`.
    /// The queued rows live beside the caches (a short value's row holds a copy of it), so
    /// the window is sized with them: with the default 256 MB the whole 32 MB default, with
    /// a 32 MB cache 4 MB (under random SETs of 50-byte values, 16 MB of window raised the
    /// RSS by 29 MB, past the cache's budget and 64 MB).
    pub fn row_window_budget(&self) -> u64 {
        self.row_window_bytes.0.min(self.cache_max_bytes.0 / 8)
    }

    /// The most each of the store's two filters (of existing keys and of existing elements,
    /// `storage/keyfilter.rs`) may take: a sixteenth of `cache_max_bytes`, at least
    /// [`MIN_FILTER_BYTES`]. Like the row window they live beside the caches; 10 bits a key
    /// fill it at 13 million keys with the default 256 MB, fewer bits a key past that.
    pub fn filter_budget(&self) -> u64 {
        (self.cache_max_bytes.0 / 16).max(MIN_FILTER_BYTES)
    }

    /// Most memory the member index of one large set may take, which SPOP builds so that
    /// random picks read no row (`keyspace/set_index.rs`): a sixteenth of `cache_max_bytes`,
    /// counted in the hot cache like the set itself. About 200,000 members of 20 bytes fit
    /// with the default 256 MB.
    pub fn set_index_budget(&self) -> u64 {
        self.cache_max_bytes.0 / 16
    }

    /// The hot cache's share of `cache_max_bytes`: what the page cache leaves of it.
    pub fn hot_cache_budget(&self) -> u64 {
        match self.page_cache_bytes.0 {
            0 => self.cache_max_bytes.0 - self.cache_max_bytes.0 / 4,
            n => self.cache_max_bytes.0.saturating_sub(n),
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            path: "data/respite.db".into(),
            durability: Durability::default(),
            synchronous: Synchronous::default(),
            cache_max_bytes: ByteSize::mb(256),
            page_cache_bytes: ByteSize(0),
            merge_interval_ms: 1000,
            journal_max_bytes: ByteSize::mb(32),
            row_window_bytes: ByteSize::mb(32),
            flush_interval_ms: 100,
            max_dirty_bytes: ByteSize::mb(64),
            hash_max_listpack_entries: 128,
            hash_max_listpack_value: 64,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            list_max_listpack_size: 128,
            set_max_intset_entries: 512,
            set_max_listpack_entries: 128,
            set_max_listpack_value: 64,
            hll_sparse_max_bytes: 3000,
            stream_node_max_entries: 100,
            collection_layout: CollectionLayout::default(),
        }
    }
}

/// Which Redis version's layout lists and sets follow. Redis 7.2 keeps small lists and small
/// sets of strings in a listpack; Redis 7.0 makes every list a quicklist and every set that
/// is not an intset a hashtable. Respite stores each layout for real (inline in the key's row,
/// or one element per row) and `OBJECT ENCODING` names what it stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum CollectionLayout {
    /// Small lists and sets inline (`listpack`), per the `*-max-listpack-*` limits.
    #[default]
    #[serde(rename = "redis-7.2")]
    Redis72,
    /// Every list, and every set that is not an intset, one element per row (`quicklist`,
    /// `hashtable`), whatever `list-max-listpack-size` and `set-max-listpack-entries` say.
    #[serde(rename = "redis-7.0")]
    Redis70,
}

impl CollectionLayout {
    /// Every variant, in the order CONFIG error messages list them.
    pub const ALL: [CollectionLayout; 2] = [CollectionLayout::Redis72, CollectionLayout::Redis70];

    /// The configuration spelling (`redis-7.2`, `redis-7.0`).
    pub fn as_str(self) -> &'static str {
        match self {
            CollectionLayout::Redis72 => "redis-7.2",
            CollectionLayout::Redis70 => "redis-7.0",
        }
    }
}

/// When a write is acknowledged to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Durability {
    /// Reply after the batch's transaction has committed.
    #[default]
    Commit,
    /// Reply once the command has run in memory; changes are committed every
    /// `flush_interval_ms` (see `keyspace::writebehind`).
    WriteBehind,
}

impl Durability {
    /// Every variant, in the order CONFIG error messages list them.
    pub const ALL: [Durability; 2] = [Durability::Commit, Durability::WriteBehind];

    /// The configuration spelling (`commit`, `write-behind`).
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::Commit => "commit",
            Durability::WriteBehind => "write-behind",
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// One of `LOG_LEVELS`.
    pub level: String,
    /// One of `LOG_FORMATS`: lines for people, or one JSON object a line for log collectors.
    pub format: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: "text".into(),
        }
    }
}

/// `log.format`'s values.
pub const LOG_FORMATS: [&str; 2] = ["text", "json"];

/// `[metrics]`: an optional HTTP endpoint serving Prometheus text.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// `IP:PORT` to serve `GET /metrics` on; empty = no endpoint; port 0 = an ephemeral port.
    pub listen: String,
}

impl MetricsConfig {
    /// The address to listen on, if the endpoint is enabled.
    pub fn listen_addr(&self) -> Option<Result<std::net::SocketAddr, String>> {
        let listen = self.listen.trim();
        (!listen.is_empty()).then(|| listen.parse().map_err(|_| listen.to_string()))
    }
}

/// The accepted `log.level` values (tracing's levels).
pub const LOG_LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];

/// `[plugins]`: the plugins to start and every `[plugins.NAME]` section.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct PluginsConfig {
    /// Names of the built-in plugins to start.
    pub enabled: Vec<String>,
    /// Shared-library plugins to load at start-up (`[[plugins.load]]`), in order. Not
    /// printed when empty, so that the shipped file can show a commented `[[plugins.load]]`
    /// rather than a `load = []` that uncommenting it would clash with.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub load: Vec<PluginLoad>,
    /// Each plugin's own section, kept untyped here; the plugin reads it into its own struct
    /// with [`Config::plugin_section`]. Unknown names are refused by [`Config::validate`].
    #[serde(flatten)]
    pub sections: BTreeMap<String, toml::Value>,
}

/// Built-in plugins started when the configuration does not say `plugins.enabled`: those
/// Redis users expect to be there (BLPOP and friends).
pub const DEFAULT_PLUGINS: &[&str] = &["blocking"];

impl Default for PluginsConfig {
    /// [`DEFAULT_PLUGINS`] that this program links (a program built without one, such as
    /// the core's own tests, starts none rather than failing).
    fn default() -> Self {
        PluginsConfig {
            enabled: DEFAULT_PLUGINS
                .iter()
                .filter(|name| plugin_sections().iter().any(|s| s.name == **name))
                .map(|name| name.to_string())
                .collect(),
            load: Vec::new(),
            sections: BTreeMap::new(),
        }
    }
}

/// One `[[plugins.load]]` entry: a plugin library and its arguments.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PluginLoad {
    /// Path of the `.so` file (relative paths start from the working directory).
    pub path: String,
    /// Arguments handed to the plugin, as after the path in `MODULE LOAD`.
    #[serde(default)]
    pub args: Vec<String>,
}

/// Names of the built-in plugins linked into this program (each submits a
/// [`PluginSection`]): the only accepted `plugins.enabled` entries and
/// `[plugins.NAME]` sections.
pub fn known_plugins() -> Vec<&'static str> {
    plugin_sections().into_iter().map(|s| s.name).collect()
}

/// Same list as [`known_plugins`]: every plugin owns the section named after it.
pub fn known_plugin_sections() -> Vec<&'static str> {
    known_plugins()
}

/// Largest size or count accepted anywhere: TOML integers and Redis's `long` stop here.
const MAX_I64: u64 = i64::MAX as u64;
/// Upper bound of the `*_max_listpack_*` settings: an inline value is rewritten whole on
/// every change, so it must stay small.
pub const MAX_LISTPACK: u64 = 65536;
/// Largest `set_max_intset_entries` (Redis caps intsets at 2^30 members).
pub const MAX_INTSET: u64 = 1 << 30;
/// Redis caps second-valued settings at `INT_MAX`; so do we, which also keeps `Duration`
/// arithmetic far from overflow.
const MAX_SECONDS: u64 = i32::MAX as u64;

impl Config {
    /// Checks for impossible values, with the key path and what was expected; plugin names
    /// are checked against [`known_plugins`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_with_plugins(&known_plugins())
    }

    /// As [`Config::validate`], with the list of plugin names supplied by the caller (the
    /// binary knows which plugin crates it linked).
    pub fn validate_with_plugins(&self, known: &[&str]) -> Result<(), ConfigError> {
        let mut problems = self.core_problems();
        problems.extend(self.plugin_problems(known));
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid { problems })
        }
    }

    /// The effective configuration as TOML, for `respite --check-config`.
    pub fn to_toml(&self) -> String {
        toml::to_string(self)
            .unwrap_or_else(|e| format!("# cannot render the configuration as TOML: {e}\n"))
    }

    /// Reads the `[plugins.NAME]` section into the plugin's own type; a missing section
    /// yields `T::default()`.
    pub fn plugin_section<T>(&self, name: &str) -> Result<T, ConfigError>
    where
        T: serde::de::DeserializeOwned + Default,
    {
        match self.plugins.sections.get(name) {
            None => Ok(T::default()),
            Some(value) => T::deserialize(value.clone()).map_err(|e| ConfigError::Invalid {
                problems: vec![Problem::new(format!("plugins.{name}"), e.message())],
            }),
        }
    }

    /// Problems with the core sections (everything but plugin names).
    fn core_problems(&self) -> Vec<Problem> {
        let mut out = self.redis_file_problems();
        out.extend(self.acl.problems());
        let mut bad = |key: &str, message: String| out.push(Problem::new(key, message));
        let s = &self.server;

        if let Err(word) = s.bind_addrs() {
            bad(
                "server.bind",
                format!(
                    "expected one or more IP addresses separated by spaces (\"*\" = every IPv4 \
                     interface, \"::\" = every IPv6 one), found {:?}{}",
                    s.bind,
                    if word.is_empty() {
                        String::new()
                    } else {
                        format!(" ({word:?} is not an IP address)")
                    }
                ),
            );
        }
        if s.maxclients < 1 {
            bad(
                "server.maxclients",
                format!("expected an integer >= 1, found {}", s.maxclients),
            );
        }
        for (key, v) in [
            ("server.timeout", s.timeout),
            ("server.tcp_keepalive", s.tcp_keepalive),
        ] {
            if v > MAX_SECONDS {
                bad(
                    key,
                    format!("expected seconds from 0 (off) to {MAX_SECONDS}, found {v}"),
                );
            }
        }
        if s.io_threads > 256 {
            bad(
                "server.io_threads",
                format!(
                    "expected an integer from 0 (auto) to 256, found {}",
                    s.io_threads
                ),
            );
        }
        if !(1..=1024).contains(&s.databases) {
            bad(
                "server.databases",
                format!("expected an integer from 1 to 1024, found {}", s.databases),
            );
        }
        for (key, v) in [
            ("server.proto_max_bulk_len", s.proto_max_bulk_len),
            (
                "server.client_query_buffer_limit",
                s.client_query_buffer_limit,
            ),
        ] {
            if v < ByteSize::mb(1) || v.0 > MAX_I64 {
                bad(
                    key,
                    format!(
                        "expected a size from 1mb (1048576 bytes) to {MAX_I64} bytes, found {v}"
                    ),
                );
            }
        }

        if crate::events::parse_flags(&s.notify_keyspace_events).is_none() {
            bad(
                "server.notify_keyspace_events",
                format!(
                    "expected flag letters among \"Ag$lshzxeKEtmdn\" (\"\" = off, \"KEA\" = all), \
                     found {:?}",
                    s.notify_keyspace_events
                ),
            );
        }
        if let Err(e) = BufferLimits::default().parse_over(&s.client_output_buffer_limit) {
            bad(
                "server.client_output_buffer_limit",
                format!(
                    "expected \"<class> <hard> <soft> <seconds>\" groups with class normal, \
                     replica or pubsub (e.g. \"pubsub 32mb 8mb 60\"), found {:?}: {e}",
                    s.client_output_buffer_limit
                ),
            );
        }

        let st = &self.storage;
        if st.path.is_empty() {
            bad(
                "storage.path",
                "expected a database file path or \":memory:\", found an empty string".into(),
            );
        }
        if st.durability == Durability::WriteBehind && st.merge_interval_ms == 0 {
            bad(
                "storage.durability",
                "\"write-behind\" keeps unflushed changes in the redo journal, which \
                 storage.merge_interval_ms = 0 turns off; expected \"commit\", or a merge \
                 interval above 0"
                    .into(),
            );
        }
        if st.flush_interval_ms == 0 || st.flush_interval_ms > 3_600_000 {
            bad(
                "storage.flush_interval_ms",
                format!(
                    "expected 1 to 3600000 milliseconds, found {}",
                    st.flush_interval_ms
                ),
            );
        }
        for (key, value) in [
            (
                "storage.hash_max_listpack_entries",
                st.hash_max_listpack_entries,
            ),
            (
                "storage.hash_max_listpack_value",
                st.hash_max_listpack_value,
            ),
            (
                "storage.zset_max_listpack_entries",
                st.zset_max_listpack_entries,
            ),
            (
                "storage.zset_max_listpack_value",
                st.zset_max_listpack_value,
            ),
            (
                "storage.set_max_listpack_entries",
                st.set_max_listpack_entries,
            ),
            ("storage.set_max_listpack_value", st.set_max_listpack_value),
        ] {
            if value > MAX_LISTPACK {
                bad(key, format!("expected 0 to {MAX_LISTPACK}, found {value}"));
            }
        }
        if !(-5..=MAX_LISTPACK as i64).contains(&st.list_max_listpack_size) {
            bad(
                "storage.list_max_listpack_size",
                format!(
                    "expected -5 to {MAX_LISTPACK}, found {}",
                    st.list_max_listpack_size
                ),
            );
        }
        if st.set_max_intset_entries > MAX_INTSET {
            bad(
                "storage.set_max_intset_entries",
                format!(
                    "expected 0 to {MAX_INTSET}, found {}",
                    st.set_max_intset_entries
                ),
            );
        }
        if st.page_cache_bytes.0 != 0
            && !(MIN_PAGE_CACHE..=MAX_I64).contains(&st.page_cache_bytes.0)
        {
            bad(
                "storage.page_cache_bytes",
                format!(
                    "expected 0 (a quarter of cache_max_bytes and what the hot cache leaves \
                     unused) or a size from {MIN_PAGE_CACHE} to {MAX_I64} bytes, found {}",
                    st.page_cache_bytes
                ),
            );
        }
        if st.cache_max_bytes.0 > MAX_I64 {
            bad(
                "storage.cache_max_bytes",
                format!(
                    "expected a size from 0 to {MAX_I64} bytes, found {}",
                    st.cache_max_bytes
                ),
            );
        }

        let t = &self.tls;
        if let Err(e) = parse_protocols(&t.protocols) {
            bad(
                "tls.protocols",
                format!("expected TLSv1.2 and/or TLSv1.3 separated by spaces: {e}"),
            );
        }
        if t.enabled() {
            for (key, v) in [
                ("tls.cert_file", &t.cert_file),
                ("tls.key_file", &t.key_file),
            ] {
                if v.is_empty() {
                    bad(key, "expected a PEM file path: tls.port is set".into());
                }
            }
            if t.auth_clients != TlsAuthClients::No
                && t.ca_cert_file.is_empty()
                && t.ca_cert_dir.is_empty()
            {
                bad(
                    "tls.ca_cert_file",
                    "expected a CA certificate file (or tls.ca_cert_dir) to check client \
                     certificates with, since tls.auth_clients is not \"no\""
                        .into(),
                );
            }
        }
        if let Err((key, message)) = self.commands.changes() {
            bad(&key, message);
        }

        if let Some(Err(addr)) = self.metrics.listen_addr() {
            bad(
                "metrics.listen",
                format!("expected an IP:PORT address such as \"127.0.0.1:9121\", or \"\" for none, found {addr:?}"),
            );
        }
        if !LOG_FORMATS.contains(&self.log.format.as_str()) {
            bad(
                "log.format",
                format!(
                    "expected one of {}, found {:?}",
                    LOG_FORMATS.join(", "),
                    self.log.format
                ),
            );
        }
        if !LOG_LEVELS.contains(&self.log.level.as_str()) {
            bad(
                "log.level",
                format!(
                    "expected one of {}, found {:?}",
                    LOG_LEVELS.join(", "),
                    self.log.level
                ),
            );
        }
        out
    }

    /// Problems with plugin names: unknown `enabled` entries and unknown sections.
    fn plugin_problems(&self, known: &[&str]) -> Vec<Problem> {
        let expected = if known.is_empty() {
            "no plugins are available in this build yet".to_string()
        } else {
            format!("expected one of {}", known.join(", "))
        };
        let mut out = Vec::new();
        for (i, name) in self.plugins.enabled.iter().enumerate() {
            if !known.contains(&name.as_str()) {
                out.push(Problem::new(
                    "plugins.enabled",
                    format!("unknown plugin {name:?}; {expected}"),
                ));
            } else if self.plugins.enabled[..i].contains(name) {
                out.push(Problem::new(
                    "plugins.enabled",
                    format!("plugin {name:?} is listed twice"),
                ));
            }
        }
        for (i, entry) in self.plugins.load.iter().enumerate() {
            if entry.path.trim().is_empty() {
                out.push(Problem::new(
                    format!("plugins.load[{i}].path"),
                    "expected the path of a plugin library (.so), found an empty string",
                ));
            }
        }
        for name in self.plugins.sections.keys() {
            if !known.contains(&name.as_str()) {
                out.push(Problem::new(
                    format!("plugins.{name}"),
                    format!("unknown plugin section [plugins.{name}]; {expected}"),
                ));
            }
        }
        out
    }
}
