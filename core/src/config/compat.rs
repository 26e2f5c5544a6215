//! Redis 7.0's CONFIG parameters that have no Respite setting of their own (replication,
//! cluster, TLS, AOF/RDB tuning, eviction, ...): each is known by its name and aliases,
//! validated as redis-server 7.0.15 validates it (type, range, enum values, error texts),
//! kept in [`Config::redis`](super::Config) while the server runs and reported by CONFIG GET.
//! They change nothing else (README.md lists them), except those a subsystem reads with
//! `Config::redis_param`: `slowlog-*`, the ACL's `aclfile`, `acllog-max-len` and
//! `acl-pubsub-default` (`engine/acl`), and `maxmemory*`, `lfu-*` (`engine/eviction.rs`).
//! Clients and Redis's own test suite set them freely, and a client that stops at an unknown
//! name hides everything after it.

/// Whether CONFIG SET may change a parameter, as Redis flags it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// CONFIG SET changes it.
    Modifiable,
    /// `can't set immutable config`.
    Immutable,
    /// `can't set protected config` unless `enable-protected-configs` is `yes` or `local`.
    Protected,
}

/// How a value is parsed and printed.
#[derive(Debug, Clone, Copy)]
pub enum Ty {
    /// `yes` / `no`.
    Bool,
    /// One of the names.
    Enum(&'static [&'static str]),
    /// Several of the names, separated by spaces (`shutdown-on-sigint`).
    Flags(&'static [&'static str]),
    /// A plain integer within the bounds.
    Int(i128, i128),
    /// `hz`: an integer from 0, clamped to 1..500 as Redis does.
    Hz,
    /// A memory value (`64mb`) within the bounds.
    Mem(i128, i128),
    /// `repl-backlog-size`: a memory value from 1, raised to 16kb as Redis does.
    Backlog,
    /// A memory value or a percentage (`10%`).
    MemOrPercent,
    /// An octal number (`unixsocketperm`).
    Octal,
    /// Any text.
    Str,
    /// `save`: pairs of `<seconds> <changes>`.
    Save,
    /// `dir`: an existing directory.
    Dir,
    /// `dbfilename`: a file name, not a path.
    FileName,
    /// `oom-score-adj-values`: three integers from -2000 to 2000.
    OomValues,
    /// `latency-tracking-info-percentiles`: numbers from 0 to 100.
    Percentiles,
    /// `proc-title-template`: text with known `{variables}`.
    ProcTitle,
    /// `cluster-announce-hostname`: letters, digits, hyphens and dots.
    Hostname,
}

/// One parameter of Redis 7.0 that Respite accepts without acting on it.
#[derive(Debug, Clone, Copy)]
pub struct CompatParam {
    /// The name `CONFIG GET` reports.
    pub name: &'static str,
    /// Redis's older name, also reported by `CONFIG GET` and accepted by `CONFIG SET`.
    pub alias: Option<&'static str>,
    /// Whether CONFIG SET may change it.
    pub access: Access,
    /// Left out of `CONFIG GET` patterns (Redis's test-only knobs): only asking for its
    /// exact name shows it.
    pub hidden: bool,
    /// How its value is parsed.
    pub ty: Ty,
    /// Redis 7.0.15's default, as CONFIG GET prints it (`dir` is the working directory).
    pub default: &'static str,
}

impl CompatParam {
    const fn new(name: &'static str, ty: Ty, default: &'static str) -> Self {
        CompatParam {
            name,
            alias: None,
            access: Access::Modifiable,
            hidden: false,
            ty,
            default,
        }
    }

    const fn alias(mut self, alias: &'static str) -> Self {
        self.alias = Some(alias);
        self
    }

    const fn immutable(mut self) -> Self {
        self.access = Access::Immutable;
        self
    }

    const fn hidden(mut self) -> Self {
        self.hidden = true;
        self
    }

    const fn protected(mut self) -> Self {
        self.access = Access::Protected;
        self
    }

    /// The value a fresh server reports.
    pub fn default_value(&self) -> String {
        match self.ty {
            Ty::Dir => std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
            _ => self.default.to_string(),
        }
    }

    /// Parses `v` as Redis does; the value as CONFIG GET will print it, or Redis's reason.
    pub fn parse(&self, v: &[u8]) -> Result<String, String> {
        let text = || {
            String::from_utf8(v.to_vec())
                .map_err(|_| "argument must be a valid UTF-8 string".to_string())
        };
        match self.ty {
            Ty::Bool => {
                if v.eq_ignore_ascii_case(b"yes") {
                    Ok("yes".into())
                } else if v.eq_ignore_ascii_case(b"no") {
                    Ok("no".into())
                } else {
                    Err("argument must be 'yes' or 'no'".into())
                }
            }
            Ty::Enum(names) => one_of(v, names).map(str::to_string),
            Ty::Flags(names) => {
                let mut chosen = Vec::new();
                for word in v.split(|b| *b == b' ').filter(|w| !w.is_empty()) {
                    chosen.push(one_of(word, names)?);
                }
                if chosen.is_empty() {
                    return Err(enum_error(names));
                }
                if chosen.contains(&"save") && chosen.contains(&"nosave") {
                    return Err(
                        "shutdown options SAVE and NOSAVE can't be used simultaneously".into(),
                    );
                }
                let printed: Vec<&str> = names
                    .iter()
                    .filter(|n| chosen.contains(n))
                    .copied()
                    .collect();
                Ok(printed.join(" "))
            }
            Ty::Int(min, max) => int(v, min, max).map(|n| n.to_string()),
            Ty::Hz => int(v, 0, i32::MAX.into()).map(|n| n.clamp(1, 500).to_string()),
            Ty::Mem(min, max) => {
                let n = memory(v).ok_or("argument must be a memory value")?;
                bounded(n.into(), min, max).map(|n| n.to_string())
            }
            Ty::Backlog => {
                let n = memory(v).ok_or("argument must be a memory value")?;
                bounded(n.into(), 1, LONG).map(|n| n.max(16 * 1024).to_string())
            }
            Ty::MemOrPercent => {
                const BAD: &str = "argument must be a memory or percent value";
                if let Some(pct) = v.strip_suffix(b"%") {
                    let n = crate::protocol::parse_i64(pct)
                        .filter(|n| *n >= 0)
                        .ok_or(BAD)?;
                    if n > 100 {
                        return Err("percentage argument must be less or equal to 100".into());
                    }
                    return Ok(format!("{n}%"));
                }
                Ok(memory(v).ok_or(BAD)?.to_string())
            }
            Ty::Hostname => {
                let t = text()?;
                if t.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.')
                {
                    Ok(t)
                } else {
                    Err(
                        "Hostnames may only contain alphanumeric characters, hyphens or dots"
                            .into(),
                    )
                }
            }
            Ty::Octal => {
                let t = text()?;
                let n = i64::from_str_radix(&t, 8)
                    .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
                bounded(n.into(), 0, 0o777).map(|n| format!("{n:o}"))
            }
            Ty::Str => text(),
            Ty::Save => {
                let t = text()?;
                if t.is_empty() {
                    return Ok(t);
                }
                // Redis splits on single spaces, so doubled or outer spaces are refused.
                let words: Vec<&str> = t.split(' ').collect();
                let numbers: Option<Vec<i64>> = words
                    .iter()
                    .map(|w| w.parse::<i64>().ok().filter(|n| *n >= 0))
                    .collect();
                match numbers {
                    Some(n) if n.len() % 2 == 0 => {
                        Ok(n.iter().map(i64::to_string).collect::<Vec<_>>().join(" "))
                    }
                    _ => Err("Invalid save parameters".into()),
                }
            }
            Ty::Dir => {
                let t = text()?;
                match std::fs::metadata(&t) {
                    Ok(m) if m.is_dir() => Ok(t),
                    Ok(_) => Err("Not a directory".into()),
                    Err(_) => Err("No such file or directory".into()),
                }
            }
            Ty::FileName => {
                let t = text()?;
                if t.contains('/') {
                    Err("dbfilename can't be a path, just a filename".into())
                } else {
                    Ok(t)
                }
            }
            Ty::OomValues => {
                let t = text()?;
                let words: Vec<&str> = t.split_ascii_whitespace().collect();
                if words.len() != 3 {
                    return Err("wrong number of arguments".into());
                }
                let bad = "Invalid oom-score-adj-values, elements must be between -2000 and 2000.";
                let n: Vec<i64> = words
                    .iter()
                    .map(|w| w.parse::<i64>().ok().filter(|n| (-2000..=2000).contains(n)))
                    .collect::<Option<_>>()
                    .ok_or(bad)?;
                Ok(format!("{} {} {}", n[0], n[1], n[2]))
            }
            Ty::Percentiles => {
                let t = text()?;
                let mut out = Vec::new();
                for w in t.split_ascii_whitespace() {
                    let p: f64 = w
                        .parse()
                        .ok()
                        .filter(|p: &f64| p.is_finite())
                        .ok_or("Invalid latency-tracking-info-percentiles parameters")?;
                    if !(0.0..=100.0).contains(&p) {
                        return Err("latency-tracking-info-percentiles parameters should sit between [0.0,100.0]".into());
                    }
                    out.push(p.to_string());
                }
                Ok(out.join(" "))
            }
            Ty::ProcTitle => {
                let t = text()?;
                if proc_title_ok(&t) {
                    Ok(t)
                } else {
                    Err("template format is invalid or contains unknown variables".into())
                }
            }
        }
    }
}

/// Redis's `memtoull`: digits and an optional unit; an empty value is 0 and too many digits
/// saturate (the bounds then refuse them).
fn memory(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return Some(0);
    }
    if let Some(n) = super::ByteSize::parse(v) {
        return Some(n.0);
    }
    let digits = v.iter().take_while(|b| b.is_ascii_digit()).count();
    let unit = v[digits..].to_ascii_lowercase();
    let known = [&b""[..], b"b", b"k", b"kb", b"m", b"mb", b"g", b"gb"];
    (digits > 0 && known.contains(&&unit[..])).then_some(u64::MAX)
}

/// Redis expands the template with an empty title and this server's address, and refuses
/// unknown `{variables}`, unbalanced braces and a result that is blank.
fn proc_title_ok(t: &str) -> bool {
    const VARS: [(&str, &str); 7] = [
        ("title", ""),
        ("listen-addr", "*:6379"),
        ("server-mode", ""),
        ("port", "6379"),
        ("tls-port", "0"),
        ("unixsocket", ""),
        ("config-file", ""),
    ];
    let mut rest = t;
    let mut expanded = String::new();
    while let Some(open) = rest.find(['{', '}']) {
        if rest.as_bytes()[open] == b'}' {
            return false;
        }
        let Some(close) = rest[open..].find('}') else {
            return false;
        };
        let Some((_, value)) = VARS
            .iter()
            .find(|(n, _)| *n == &rest[open + 1..open + close])
        else {
            return false;
        };
        expanded.push_str(&rest[..open]);
        expanded.push_str(value);
        rest = &rest[open + close + 1..];
    }
    expanded.push_str(rest);
    !expanded.trim().is_empty()
}

fn enum_error(names: &[&str]) -> String {
    format!(
        "argument(s) must be one of the following: {}",
        names.join(", ")
    )
}

fn one_of<'a>(v: &[u8], names: &[&'a str]) -> Result<&'a str, String> {
    names
        .iter()
        .find(|n| n.as_bytes().eq_ignore_ascii_case(v))
        .copied()
        .ok_or_else(|| enum_error(names))
}

fn int(v: &[u8], min: i128, max: i128) -> Result<i128, String> {
    let n = crate::protocol::parse_i64(v).ok_or("argument couldn't be parsed into an integer")?;
    bounded(n.into(), min, max)
}

fn bounded(n: i128, min: i128, max: i128) -> Result<i128, String> {
    if n < min || n > max {
        Err(format!(
            "argument must be between {min} and {max} inclusive"
        ))
    } else {
        Ok(n)
    }
}

const INT: i128 = i32::MAX as i128;
const INT_MIN: i128 = i32::MIN as i128;
const UINT: i128 = u32::MAX as i128;
const LONG: i128 = i64::MAX as i128;
const ULONG: i128 = u64::MAX as i128;

const fn b(name: &'static str, yes: bool) -> CompatParam {
    CompatParam::new(name, Ty::Bool, if yes { "yes" } else { "no" })
}

const fn s(name: &'static str, default: &'static str) -> CompatParam {
    CompatParam::new(name, Ty::Str, default)
}

const fn i(name: &'static str, min: i128, max: i128, default: &'static str) -> CompatParam {
    CompatParam::new(name, Ty::Int(min, max), default)
}

const fn m(name: &'static str, min: i128, max: i128, default: &'static str) -> CompatParam {
    CompatParam::new(name, Ty::Mem(min, max), default)
}

const fn e(
    name: &'static str,
    names: &'static [&'static str],
    default: &'static str,
) -> CompatParam {
    CompatParam::new(name, Ty::Enum(names), default)
}

const NO_YES_LOCAL: &[&str] = &["no", "yes", "local"];
const SHUTDOWN: &[&str] = &["default", "save", "nosave", "now", "force"];

/// Every such parameter, sorted by name.
pub static COMPAT_PARAMS: &[CompatParam] = &[
    e(
        "acl-pubsub-default",
        &["allchannels", "resetchannels"],
        "resetchannels",
    ),
    s("aclfile", "").immutable(),
    i("acllog-max-len", 0, LONG, "128"),
    i("active-defrag-cycle-max", 1, 99, "25"),
    i("active-defrag-cycle-min", 1, 99, "1"),
    m("active-defrag-ignore-bytes", 1, LONG, "104857600"),
    i("active-defrag-max-scan-fields", 1, LONG, "1000"),
    i("active-defrag-threshold-lower", 0, 1000, "10"),
    i("active-defrag-threshold-upper", 0, 1000, "100"),
    i("active-expire-effort", 1, 10, "1"),
    b("activedefrag", false),
    b("activerehashing", true),
    b("always-show-logo", false).immutable(),
    b("aof-disable-auto-gc", false),
    b("aof-load-truncated", true),
    b("aof-rewrite-incremental-fsync", true),
    b("aof-timestamp-enabled", false),
    b("aof-use-rdb-preamble", true),
    s("aof_rewrite_cpulist", "").immutable(),
    s("appenddirname", "appendonlydir").immutable(),
    s("appendfilename", "appendonly.aof").immutable(),
    b("appendonly", false),
    m("auto-aof-rewrite-min-size", 0, LONG, "67108864"),
    i("auto-aof-rewrite-percentage", 0, INT, "100"),
    s("bgsave_cpulist", "").immutable(),
    s("bind-source-addr", ""),
    s("bio_cpulist", "").immutable(),
    b("cluster-allow-pubsubshard-when-down", true),
    b("cluster-allow-reads-when-down", false),
    b("cluster-allow-replica-migration", true),
    i("cluster-announce-bus-port", 0, 65535, "0"),
    CompatParam::new("cluster-announce-hostname", Ty::Hostname, ""),
    s("cluster-announce-ip", ""),
    i("cluster-announce-port", 0, 65535, "0"),
    i("cluster-announce-tls-port", 0, 65535, "0"),
    s("cluster-config-file", "nodes.conf").immutable(),
    b("cluster-enabled", false).immutable(),
    m("cluster-link-sendbuf-limit", 0, ULONG, "0"),
    i("cluster-migration-barrier", 0, INT, "1"),
    i("cluster-node-timeout", 0, LONG, "15000"),
    i("cluster-port", 0, 65535, "0").immutable(),
    e(
        "cluster-preferred-endpoint-type",
        &["ip", "hostname", "unknown-endpoint"],
        "ip",
    ),
    b("cluster-replica-no-failover", false).alias("cluster-slave-no-failover"),
    i("cluster-replica-validity-factor", 0, INT, "10").alias("cluster-slave-validity-factor"),
    b("cluster-require-full-coverage", true),
    b("crash-log-enabled", true),
    b("crash-memcheck-enabled", true),
    b("daemonize", false).immutable(),
    CompatParam::new("dbfilename", Ty::FileName, "dump.rdb").protected(),
    CompatParam::new("dir", Ty::Dir, "").protected(),
    b("disable-thp", true).immutable(),
    b("dynamic-hz", true),
    e("enable-debug-command", NO_YES_LOCAL, "no").immutable(),
    e("enable-module-command", NO_YES_LOCAL, "no").immutable(),
    e("enable-protected-configs", NO_YES_LOCAL, "no").immutable(),
    CompatParam::new("hz", Ty::Hz, "10"),
    s("ignore-warnings", ""),
    i("key-load-delay", INT_MIN, INT, "0").hidden(),
    b("io-threads-do-reads", false).immutable(),
    b("jemalloc-bg-thread", true),
    i("latency-monitor-threshold", 0, LONG, "0"),
    b("latency-tracking", true),
    CompatParam::new(
        "latency-tracking-info-percentiles",
        Ty::Percentiles,
        "50 99 99.9",
    ),
    b("lazyfree-lazy-eviction", false),
    b("lazyfree-lazy-expire", false),
    b("lazyfree-lazy-server-del", false),
    b("lazyfree-lazy-user-del", false),
    b("lazyfree-lazy-user-flush", false),
    i("lfu-decay-time", 0, INT, "1"),
    i("lfu-log-factor", 0, INT, "10"),
    i("list-compress-depth", 0, INT, "0"),
    i(
        "loading-process-events-interval-bytes",
        1024,
        INT,
        "2097152",
    )
    .hidden(),
    s("logfile", "").immutable(),
    s("masterauth", ""),
    s("masteruser", ""),
    m("maxmemory", 0, ULONG, "0"),
    CompatParam::new("maxmemory-clients", Ty::MemOrPercent, "0"),
    i("maxmemory-eviction-tenacity", 0, 100, "10"),
    e(
        "maxmemory-policy",
        &[
            "volatile-lru",
            "volatile-lfu",
            "volatile-random",
            "volatile-ttl",
            "allkeys-lru",
            "allkeys-lfu",
            "allkeys-random",
            "noeviction",
        ],
        "noeviction",
    ),
    i("maxmemory-samples", 1, INT, "5"),
    i("min-replicas-max-lag", 0, INT, "10").alias("min-slaves-max-lag"),
    i("min-replicas-to-write", 0, INT, "0").alias("min-slaves-to-write"),
    b("no-appendfsync-on-rewrite", false),
    e(
        "oom-score-adj",
        &["no", "yes", "relative", "absolute"],
        "no",
    ),
    CompatParam::new("oom-score-adj-values", Ty::OomValues, "0 200 800"),
    s("pidfile", "").immutable(),
    CompatParam::new(
        "proc-title-template",
        Ty::ProcTitle,
        "{title} {listen-addr} {server-mode}",
    ),
    e(
        "propagation-error-behavior",
        &["ignore", "panic", "panic-on-replicas"],
        "ignore",
    ),
    b("rdb-del-sync-files", false),
    b("rdb-save-incremental-fsync", true),
    b("rdbchecksum", true).immutable(),
    b("rdbcompression", true),
    i("rdb-key-save-delay", INT_MIN, INT, "0").hidden(),
    CompatParam::new("repl-backlog-size", Ty::Backlog, "1048576"),
    i("repl-backlog-ttl", 0, LONG, "3600"),
    b("repl-disable-tcp-nodelay", false),
    e(
        "repl-diskless-load",
        &["disabled", "on-empty-db", "swapdb"],
        "disabled",
    ),
    b("repl-diskless-sync", true),
    i("repl-diskless-sync-delay", 0, INT, "5"),
    i("repl-diskless-sync-max-replicas", 0, INT, "0"),
    i("repl-ping-replica-period", 1, INT, "10").alias("repl-ping-slave-period"),
    i("repl-timeout", 1, INT, "60"),
    s("replica-announce-ip", "").alias("slave-announce-ip"),
    i("replica-announce-port", 0, 65535, "0").alias("slave-announce-port"),
    b("replica-announced", true),
    b("replica-ignore-disk-write-errors", false),
    b("replica-ignore-maxmemory", true).alias("slave-ignore-maxmemory"),
    b("replica-lazy-flush", false).alias("slave-lazy-flush"),
    i("replica-priority", 0, INT, "100").alias("slave-priority"),
    b("replica-read-only", true).alias("slave-read-only"),
    b("replica-serve-stale-data", true).alias("slave-serve-stale-data"),
    s("replicaof", "").alias("slaveof").immutable(),
    e("sanitize-dump-payload", &["no", "yes", "clients"], "no"),
    // Respite keeps its data in SQLite, so there is no RDB schedule by default.
    CompatParam::new("save", Ty::Save, ""),
    s("server_cpulist", "").immutable(),
    b("set-proc-title", true).immutable(),
    CompatParam::new("shutdown-on-sigint", Ty::Flags(SHUTDOWN), "default"),
    CompatParam::new("shutdown-on-sigterm", Ty::Flags(SHUTDOWN), "default"),
    i("shutdown-timeout", 0, INT, "10"),
    i("slowlog-log-slower-than", -1, LONG, "10000"),
    i("slowlog-max-len", 0, LONG, "128"),
    i("socket-mark-id", 0, UINT, "0").immutable(),
    b("stop-writes-on-bgsave-error", true),
    m("stream-node-max-bytes", 0, LONG, "4096"),
    e("supervised", &["upstart", "systemd", "auto", "no"], "no").immutable(),
    b("syslog-enabled", false).immutable(),
    e(
        "syslog-facility",
        &[
            "user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
        ],
        "local0",
    )
    .immutable(),
    s("syslog-ident", "redis").immutable(),
    i("tcp-backlog", 0, INT, "511").immutable(),
    s("tls-client-cert-file", ""),
    s("tls-client-key-file", ""),
    s("tls-client-key-file-pass", ""),
    b("tls-cluster", false),
    s("tls-dh-params-file", ""),
    s("tls-key-file-pass", ""),
    b("tls-replication", false),
    i("tls-session-cache-size", 0, INT, "20480"),
    i("tls-session-cache-timeout", 0, INT, "300"),
    b("tls-session-caching", true),
    s("unixsocket", "").immutable(),
    b("use-exit-on-panic", false).hidden(),
    CompatParam::new("unixsocketperm", Ty::Octal, "0").immutable(),
    i("watchdog-period", 0, INT, "0").hidden(),
];
