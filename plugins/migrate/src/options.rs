//! The options of a run: parsed from `MIGRATION.START FROM <url> [option value]...` and from
//! the `respite migrate` flags, kept in the run row so that a resumed run uses the same ones.

use std::fmt;

/// What happens to the source's TTLs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TtlMode {
    /// Keys keep their expiry (as an absolute time, so a copy made later expires together).
    Preserve,
    /// Keys are copied without expiry.
    Drop,
}

impl TtlMode {
    /// Its name in commands and in the run row.
    pub fn as_str(self) -> &'static str {
        match self {
            TtlMode::Preserve => "preserve",
            TtlMode::Drop => "drop",
        }
    }

    /// Parses `preserve` or `drop` (any case).
    pub fn parse(s: &str) -> Option<TtlMode> {
        match s.to_ascii_lowercase().as_str() {
            "preserve" => Some(TtlMode::Preserve),
            "drop" => Some(TtlMode::Drop),
            _ => None,
        }
    }
}

/// Which notifications the tracker listens to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channels {
    /// `__keyevent@DB__:EVENT`, payload the key (preferred: one pattern, the event named).
    KeyEvent,
    /// `__keyspace@DB__:KEY`, payload the event.
    KeySpace,
}

impl Channels {
    /// Its name in commands and in the run row.
    pub fn as_str(self) -> &'static str {
        match self {
            Channels::KeyEvent => "keyevent",
            Channels::KeySpace => "keyspace",
        }
    }

    /// Parses `keyevent` or `keyspace` (any case).
    pub fn parse(s: &str) -> Option<Channels> {
        match s.to_ascii_lowercase().as_str() {
            "keyevent" => Some(Channels::KeyEvent),
            "keyspace" => Some(Channels::KeySpace),
            _ => None,
        }
    }

    /// The notify-keyspace-events class letter this mode needs (`E` or `K`).
    pub fn letter(self) -> char {
        match self {
            Channels::KeyEvent => 'E',
            Channels::KeySpace => 'K',
        }
    }
}

/// A run's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// `redis://[user:pass@]host:port[/db]` (or `rediss://`).
    pub source: String,
    /// The run's name; generated when not given.
    pub run_id: Option<String>,
    /// SCAN's COUNT hint.
    pub scan_count: u32,
    /// Keys fetched in one pipeline and written in one executor step.
    pub batch_keys: u32,
    /// A batch also ends once its values reach this many bytes.
    pub batch_bytes: u64,
    /// Keys read from the source per second at most (0: unlimited).
    pub max_rps: u32,
    /// Fetch pipelines in flight at once.
    pub max_concurrency: u32,
    /// What happens to TTLs.
    pub ttl_mode: TtlMode,
    /// Which notifications the tracker listens to.
    pub channels: Channels,
    /// Set notify-keyspace-events on the source when it lacks what tracking needs.
    pub enable_notifications: bool,
    /// The source's CONFIG command (renamed on some hosted Redis).
    pub config_command: String,
    /// Track changes (dirty-key registry); without it the run is a one-shot copy.
    pub track: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            source: String::new(),
            run_id: None,
            scan_count: 1000,
            batch_keys: 200,
            batch_bytes: 64 << 20,
            max_rps: 0,
            max_concurrency: 4,
            ttl_mode: TtlMode::Preserve,
            channels: Channels::KeyEvent,
            enable_notifications: false,
            config_command: "CONFIG".into(),
            track: true,
        }
    }
}

/// Why options were refused; the text is the error reply's (after `ERR `).
#[derive(Debug, PartialEq, Eq)]
pub struct OptionError(pub String);

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err(msg: impl Into<String>) -> OptionError {
    OptionError(msg.into())
}

/// Parses a positive integer option within `1..=max`.
fn positive(name: &str, value: &str, max: u64) -> Result<u64, OptionError> {
    match value.parse::<u64>() {
        Ok(n) if n >= 1 && n <= max => Ok(n),
        _ => Err(err(format!(
            "{name} must be an integer from 1 to {max}, got '{value}'"
        ))),
    }
}

/// Parses a size: a number of bytes with an optional KB, MB or GB suffix (any case).
pub fn parse_size(value: &str) -> Option<u64> {
    let v = value.trim().to_ascii_lowercase();
    let (digits, mult) = if let Some(d) = v.strip_suffix("gb") {
        (d, 1u64 << 30)
    } else if let Some(d) = v.strip_suffix("mb") {
        (d, 1 << 20)
    } else if let Some(d) = v.strip_suffix("kb") {
        (d, 1 << 10)
    } else if let Some(d) = v.strip_suffix('b') {
        (d, 1)
    } else {
        (v.as_str(), 1)
    };
    digits.trim().parse::<u64>().ok()?.checked_mul(mult)
}

/// Checks a run ID: 1 to 64 letters, digits, `-`, `_` or `.` (it names keys and files).
pub fn check_run_id(id: &str) -> Result<(), OptionError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(err(format!(
            "invalid RUN-ID '{id}': 1 to 64 letters, digits, '-', '_' or '.'"
        )))
    }
}

/// Checks a source URL's shape (the connection itself is tried later): scheme, host, and a
/// numeric database.
pub fn check_source(url: &str) -> Result<(), OptionError> {
    let rest = url
        .strip_prefix("redis://")
        .or_else(|| url.strip_prefix("rediss://"))
        .ok_or_else(|| {
            err(format!(
                "the source must be a redis:// URL, got '{}'",
                redact(url)
            ))
        })?;
    let hostpart = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let (host, db) = hostpart.split_once('/').unwrap_or((hostpart, ""));
    if host.is_empty() {
        return Err(err(format!("the source URL '{}' has no host", redact(url))));
    }
    if !db.is_empty() && db.parse::<u32>().is_err() {
        return Err(err(format!(
            "the source URL '{}' names database '{db}', which is not a number",
            redact(url)
        )));
    }
    Ok(())
}

/// The source URL without its password, for status and logs.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.rsplit_once('@') {
        Some((cred, host)) => {
            let user = cred.split_once(':').map_or("", |(u, _)| u);
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_string(),
    }
}

/// The database number a source URL names (0 when none).
pub fn source_db(url: &str) -> u32 {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let hostpart = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    hostpart
        .split_once('/')
        .and_then(|(_, db)| db.split(['?', '#']).next())
        .and_then(|db| db.parse().ok())
        .unwrap_or(0)
}

impl Options {
    /// Sets one of the options a running run may change (MIGRATION.SET, SPEC_F F.10.2):
    /// SCAN-COUNT, BATCH-KEYS, BATCH-BYTES, MAX-RPS, MAX-CONCURRENCY (name upper-case).
    pub fn tune(&mut self, name: &str, value: &str) -> Result<(), OptionError> {
        match name {
            "SCAN-COUNT" => self.scan_count = positive(name, value, 1_000_000)? as u32,
            "BATCH-KEYS" => self.batch_keys = positive(name, value, 100_000)? as u32,
            "BATCH-BYTES" => {
                self.batch_bytes = parse_size(value).filter(|n| *n >= 1).ok_or_else(|| {
                    err(format!("{name} must be a size such as 64MB, got '{value}'"))
                })?
            }
            "MAX-RPS" => {
                self.max_rps = match value.parse::<u32>() {
                    Ok(n) => n,
                    Err(_) => {
                        return Err(err(format!(
                            "{name} must be a non-negative integer (0: unlimited), got '{value}'"
                        )))
                    }
                }
            }
            "MAX-CONCURRENCY" => self.max_concurrency = positive(name, value, 1024)? as u32,
            _ => {
                return Err(err(format!(
                    "{name} cannot change while a run goes on (SCAN-COUNT, BATCH-KEYS, \
                     BATCH-BYTES, MAX-RPS, MAX-CONCURRENCY can)"
                )))
            }
        }
        Ok(())
    }
    /// Parses `FROM <url>` and the option pairs of MIGRATION.START (names in any case).
    pub fn parse(args: &[&str]) -> Result<Options, OptionError> {
        let mut o = Options::default();
        let mut source = None;
        let mut i = 0;
        while i < args.len() {
            let name = args[i].to_ascii_uppercase();
            // Flags without a value.
            match name.as_str() {
                "ENABLE-NOTIFICATIONS" => {
                    o.enable_notifications = true;
                    i += 1;
                    continue;
                }
                "NO-TRACK" => {
                    o.track = false;
                    i += 1;
                    continue;
                }
                _ => {}
            }
            let Some(value) = args.get(i + 1).copied() else {
                return Err(err(format!("option {name} needs a value")));
            };
            match name.as_str() {
                "FROM" => source = Some(value.to_string()),
                "RUN-ID" => {
                    check_run_id(value)?;
                    o.run_id = Some(value.to_string());
                }
                "SCAN-COUNT" | "BATCH-KEYS" | "BATCH-BYTES" | "MAX-RPS" | "MAX-CONCURRENCY" => {
                    o.tune(&name, value)?
                }
                "TTL-MODE" => {
                    o.ttl_mode = TtlMode::parse(value).ok_or_else(|| {
                        err(format!("{name} must be preserve or drop, got '{value}'"))
                    })?
                }
                "CHANNELS" => {
                    o.channels = Channels::parse(value).ok_or_else(|| {
                        err(format!(
                            "{name} must be keyevent or keyspace, got '{value}'"
                        ))
                    })?
                }
                "CONFIG-COMMAND" => {
                    if value.is_empty() || value.contains(char::is_whitespace) {
                        return Err(err(format!("{name} must be a command name")));
                    }
                    o.config_command = value.to_string();
                }
                _ => return Err(err(format!("unknown option '{}'", args[i]))),
            }
            i += 2;
        }
        let Some(source) = source else {
            return Err(err("FROM redis://host:port is required"));
        };
        check_source(&source)?;
        o.source = source;
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_every_option() {
        let o = Options::parse(&["FROM", "redis://h:1/2"]).unwrap();
        assert_eq!(o.source, "redis://h:1/2");
        assert_eq!(o.scan_count, 1000);
        assert!(o.track);
        let o = Options::parse(&[
            "from",
            "redis://u:p@h:6379",
            "run-id",
            "r1",
            "SCAN-COUNT",
            "50",
            "BATCH-KEYS",
            "10",
            "BATCH-BYTES",
            "2mb",
            "MAX-RPS",
            "0",
            "MAX-CONCURRENCY",
            "8",
            "TTL-MODE",
            "DROP",
            "CHANNELS",
            "keyspace",
            "ENABLE-NOTIFICATIONS",
            "CONFIG-COMMAND",
            "xconfig",
            "NO-TRACK",
        ])
        .unwrap();
        assert_eq!(o.run_id.as_deref(), Some("r1"));
        assert_eq!(
            (o.scan_count, o.batch_keys, o.batch_bytes),
            (50, 10, 2 << 20)
        );
        assert_eq!((o.max_rps, o.max_concurrency), (0, 8));
        assert_eq!(o.ttl_mode, TtlMode::Drop);
        assert_eq!(o.channels, Channels::KeySpace);
        assert!(o.enable_notifications && !o.track);
        assert_eq!(o.config_command, "xconfig");
    }

    #[test]
    fn refusals_name_the_problem() {
        let e = |a: &[&str]| Options::parse(a).unwrap_err().0;
        assert!(e(&[]).contains("FROM"));
        assert!(e(&["FROM", "http://x"]).contains("redis:// URL"));
        assert!(e(&["FROM", "redis:///0"]).contains("no host"));
        assert!(e(&["FROM", "redis://h/x"]).contains("not a number"));
        assert!(e(&["FROM", "redis://h", "SCAN-COUNT", "0"]).contains("SCAN-COUNT"));
        assert!(e(&["FROM", "redis://h", "SCAN-COUNT"]).contains("needs a value"));
        assert!(e(&["FROM", "redis://h", "TTL-MODE", "keep"]).contains("preserve or drop"));
        assert!(e(&["FROM", "redis://h", "RUN-ID", "a b"]).contains("RUN-ID"));
        assert!(e(&["FROM", "redis://h", "BOGUS", "1"]).contains("unknown option 'BOGUS'"));
        assert!(e(&["FROM", "redis://h", "MAX-RPS", "-1"]).contains("MAX-RPS"));
    }

    #[test]
    fn tuning() {
        let mut o = Options::default();
        o.tune("MAX-RPS", "500").unwrap();
        o.tune("BATCH-KEYS", "7").unwrap();
        assert_eq!((o.max_rps, o.batch_keys), (500, 7));
        assert!(o
            .tune("TTL-MODE", "drop")
            .unwrap_err()
            .0
            .contains("cannot change"));
        assert!(o.tune("SCAN-COUNT", "0").is_err());
    }

    #[test]
    fn urls() {
        assert_eq!(redact("redis://u:secret@h:1/3"), "redis://u:***@h:1/3");
        assert_eq!(redact("redis://:secret@h:1"), "redis://:***@h:1");
        assert_eq!(redact("redis://h:1"), "redis://h:1");
        assert_eq!(source_db("redis://u:p@h:1/3"), 3);
        assert_eq!(source_db("redis://h:1"), 0);
        assert_eq!(parse_size("64MB"), Some(64 << 20));
        assert_eq!(parse_size("10"), Some(10));
        assert_eq!(parse_size("x"), None);
    }
}
