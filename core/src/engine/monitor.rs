//! MONITOR: every command that runs is shown to the monitoring clients, as Redis's
//! `replicationFeedMonitors` writes it:
//!
//! ```text
//! +1339518083.107412 [0 127.0.0.1:60866] "keys" "*"
//! ```
//!
//! (a status reply: the time with microseconds, the database, the client's address or `lua`
//! for a command a script ran, then each argument quoted as `sdscatrepr` quotes it). A command
//! is fed after it ran, so that the commands of a transaction come between its MULTI and its
//! EXEC; commands flagged `admin` or `skip_monitor` are not shown (EVAL and FCALL show
//! themselves before their script runs); AUTH's and HELLO's credentials show as
//! `(redacted)`. Redis counts monitors as replicas: their output is bounded by the replica
//! class of `client-output-buffer-limit`, and they are never paused.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::client::{ClientId, ClientShared};
use super::slowlog::redacted;
use super::table::{flags, Command};
use super::Engine;

/// Who ran a command, as the monitor line names it.
#[derive(Clone, Copy, Debug)]
pub enum Source {
    /// A client, by address.
    Client(SocketAddr),
    /// A script (`redis.call`).
    Lua,
}

struct Watcher {
    id: ClientId,
    shared: Arc<ClientShared>,
    /// Since when its output has been over the soft limit.
    soft_since: Option<Instant>,
}

/// The clients in MONITOR mode, in the order they started.
#[derive(Default)]
pub struct Monitors {
    watchers: Vec<Watcher>,
}

impl Monitors {
    /// Adds a monitor.
    pub fn add(&mut self, id: ClientId, shared: Arc<ClientShared>) {
        if !self.watchers.iter().any(|w| w.id == id) {
            self.watchers.push(Watcher {
                id,
                shared,
                soft_since: None,
            });
        }
    }

    /// Removes a monitor (it disconnected, or RESET).
    pub fn remove(&mut self, id: ClientId) {
        self.watchers.retain(|w| w.id != id);
    }

    /// Whether nobody monitors.
    pub fn is_empty(&self) -> bool {
        self.watchers.is_empty()
    }
}

impl Engine {
    /// Shows a command that ran to the monitors, unless its flags keep it hidden.
    pub(crate) fn feed_monitors(&mut self, cmd: &Command, db: u32, source: Source, argv: &[Bytes]) {
        if self.monitors.is_empty() || cmd.has(flags::ADMIN | flags::SKIP_MONITOR) {
            return;
        }
        self.feed_monitors_always(&cmd.name, db, source, argv);
    }

    /// Shows a command to the monitors whatever its flags (EVAL and FCALL, which show
    /// themselves before their script runs; an EXEC refused before it ran).
    pub(crate) fn feed_monitors_always(
        &mut self,
        name: &str,
        db: u32,
        source: Source,
        argv: &[Bytes],
    ) {
        if self.monitors.is_empty() {
            return;
        }
        let line = monitor_line(SystemTime::now(), db, source, &redacted(name, argv));
        let limit = self.pubsub.limits.replica;
        let mut dropped = Vec::new();
        for w in &mut self.monitors.watchers {
            if w.shared.is_killed() {
                continue;
            }
            let pending = w.shared.outbox.push(&line);
            let over_hard = limit.hard > 0 && pending >= limit.hard;
            let over_soft = if limit.soft > 0 && pending >= limit.soft {
                let since = *w.soft_since.get_or_insert_with(Instant::now);
                since.elapsed() >= Duration::from_secs(limit.soft_secs)
            } else {
                w.soft_since = None;
                false
            };
            if over_hard || over_soft {
                tracing::warn!(
                    client = w.id,
                    pending_bytes = pending,
                    "closing monitor that reached its output buffer limit"
                );
                w.shared.outbox.clear();
                w.shared.kill();
                dropped.push(w.id);
            }
        }
        for id in dropped {
            self.monitors.remove(id);
        }
    }
}

/// One monitor line, `+<secs>.<usecs> [<db> <who>] "arg" ...\r\n`.
pub fn monitor_line(at: SystemTime, db: u32, source: Source, argv: &[Bytes]) -> Vec<u8> {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let mut out = Vec::with_capacity(64 + argv.iter().map(|a| a.len() + 3).sum::<usize>());
    let _ = write!(
        out,
        "+{}.{:06} [{db} ",
        since.as_secs(),
        since.subsec_micros()
    );
    match source {
        Source::Client(addr) => {
            let _ = write!(out, "{addr}]");
        }
        Source::Lua => out.extend_from_slice(b"lua]"),
    }
    for arg in argv {
        out.push(b' ');
        repr(&mut out, arg);
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// `s` quoted as Redis's `sdscatrepr` quotes it.
fn repr(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &b in s {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(b),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_as_redis_writes_them() {
        let at = UNIX_EPOCH + Duration::from_micros(1_339_518_083_107_412);
        let addr: SocketAddr = "127.0.0.1:60866".parse().unwrap();
        let argv = [Bytes::from_static(b"keys"), Bytes::from_static(b"*")];
        assert_eq!(
            monitor_line(at, 0, Source::Client(addr), &argv),
            b"+1339518083.107412 [0 127.0.0.1:60866] \"keys\" \"*\"\r\n".to_vec()
        );
        let at = UNIX_EPOCH + Duration::from_micros(5);
        let argv = [
            Bytes::from_static(b"set"),
            Bytes::from_static(b"a\"b\\c\r\n\t\x07\x08\x00\xff"),
        ];
        assert_eq!(
            monitor_line(at, 3, Source::Lua, &argv),
            b"+0.000005 [3 lua] \"set\" \"a\\\"b\\\\c\\r\\n\\t\\a\\b\\x00\\xff\"\r\n".to_vec()
        );
    }
}
