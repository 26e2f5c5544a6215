//! The clients' buffers, as Redis's clients cron looks after them: `client-output-buffer-limit`
//! for the output a client has not read yet (the `normal` class for most clients, `pubsub`
//! for subscribers), and asking connections to resize their query and reply buffers (see
//! [`crate::engine::client::IoStats`]).
//!
//! The limit is checked after each command's reply is encoded (a reply past the hard limit
//! is never sent: the client is closed, as Redis does), and periodically for every client,
//! which closes a slow reader whose output stays past the soft limit for its seconds even
//! when nothing more is sent to it. Subscribers are also checked as each message is queued
//! (see [`crate::engine::pubsub`]); MONITOR clients have their own check
//! (see [`crate::engine::monitor`]).

use std::time::{Duration, Instant};

use crate::config::BufferLimit;
use crate::engine::client::{ClientState, TRIM_IDLE, TRIM_QUERY, TRIM_REPLY};
use crate::engine::Engine;

/// How often every client is looked at: each cron tick while there are few clients (as Redis
/// does, at least five clients per tick), once a second when there are many.
const SCAN_INTERVAL: Duration = Duration::from_secs(1);

/// Up to this many clients, every cron tick looks at them all.
const FEW_CLIENTS: usize = 100;

/// How often the reply buffers' peaks start over (Redis: 5 seconds).
const PEAK_INTERVAL: Duration = Duration::from_secs(5);

/// A client idle for longer than this has its empty query buffer freed (Redis: 2 seconds).
const IDLE_QUERY_BUFFER: Duration = Duration::from_secs(2);

/// A query buffer is worth resizing when this much of it is unused.
const MIN_WASTE: u64 = 4 * 1024;

/// Query buffers larger than this shrink to their recent peak (Redis: 32 KiB).
const RESIZE_THRESHOLD: u64 = 32 * 1024;

/// The reply buffer size a connection starts with and keeps at least.
const REPLY_CHUNK: u64 = 16 * 1024;

/// When the clients were last looked at.
#[derive(Debug)]
pub(crate) struct ClientsCron {
    last_scan: Instant,
    last_peak_reset: Instant,
}

impl Default for ClientsCron {
    fn default() -> Self {
        let now = Instant::now();
        ClientsCron {
            last_scan: now,
            last_peak_reset: now,
        }
    }
}

/// Whether `pending` bytes of output break `limit`, given since when they were past the soft
/// limit (updated here, as Redis's checkClientOutputBufferLimits does).
fn over_limit(
    limit: &BufferLimit,
    pending: u64,
    soft_since: &mut Option<Instant>,
    now: Instant,
) -> bool {
    if limit.hard > 0 && pending >= limit.hard {
        return true;
    }
    if limit.soft > 0 && pending >= limit.soft {
        let since = *soft_since.get_or_insert(now);
        return now.duration_since(since) > Duration::from_secs(limit.soft_secs);
    }
    *soft_since = None;
    false
}

impl Engine {
    /// The output buffer limit of `client`'s class (`None` when it has none, or is a
    /// MONITOR client, checked on its own).
    fn output_limit(&self, client: &ClientState) -> Option<BufferLimit> {
        if client.monitor {
            return None;
        }
        let limit = if client.subscribed() {
            self.pubsub.limits.pubsub
        } else {
            self.pubsub.limits.normal
        };
        (limit.hard > 0 || limit.soft > 0).then_some(limit)
    }

    /// Checks `client`'s output against its class's limit, with `reply` bytes of replies
    /// encoded and not yet handed to its connection; past it, the client is closed (its
    /// connection writes nothing more) and true is returned.
    pub(crate) fn output_limit_reached(&mut self, client: &mut ClientState, reply: usize) -> bool {
        let Some(limit) = self.output_limit(client) else {
            return false;
        };
        let pending =
            reply as u64 + client.shared.io.reply_pending() + client.shared.outbox.pending_bytes();
        if !over_limit(&limit, pending, &mut client.obuf_soft_since, Instant::now()) {
            return false;
        }
        self.close_for_output_limit(client, pending);
        true
    }

    fn close_for_output_limit(&mut self, client: &ClientState, pending: u64) {
        tracing::warn!(
            client = client.id,
            addr = %client.addr,
            pending_bytes = pending,
            class = if client.subscribed() { "pubsub" } else { "normal" },
            "client closed for overcoming of output buffer limits"
        );
        self.pubsub.limit_disconnections += 1;
        client.shared.outbox.clear();
        client.shared.kill();
    }

    /// Each cron tick (once a second with many clients): the output buffer limits of
    /// clients whose output waits on a slow reader, and the resizing of the connections'
    /// buffers.
    pub(crate) fn clients_cron(&mut self, now: Instant) {
        if self.clients.len() > FEW_CLIENTS
            && now.duration_since(self.clients_cron.last_scan) < SCAN_INTERVAL
        {
            return;
        }
        self.clients_cron.last_scan = now;
        let reset_peaks = now.duration_since(self.clients_cron.last_peak_reset) >= PEAK_INTERVAL;
        if reset_peaks {
            self.clients_cron.last_peak_reset = now;
        }
        let mut over = Vec::new();
        for client in self.clients.values() {
            let shared = &client.shared;
            let io = &shared.io;
            if let Some(limit) = self.output_limit(client) {
                let pending = io.reply_pending() + shared.outbox.pending_bytes();
                if pending > 0 || client.obuf_soft_since.is_some() {
                    over.push((client.id, limit, pending));
                }
            }
            let mut trim = 0;
            let (qbuf, qalloc) = io.query_buffer();
            if qalloc.saturating_sub(qbuf) > MIN_WASTE {
                if now.duration_since(client.last_interaction) > IDLE_QUERY_BUFFER {
                    trim |= TRIM_IDLE;
                } else if qalloc > RESIZE_THRESHOLD {
                    trim |= TRIM_QUERY;
                }
            }
            let (rbs, rbp) = io.reply_buffer();
            if rbs > REPLY_CHUNK && rbp < rbs / 2 {
                trim |= TRIM_REPLY;
            }
            if trim != 0 && io.ask_trim(trim) {
                shared.outbox.wake();
            }
            if reset_peaks {
                io.reset_reply_peak();
            }
        }
        for (id, limit, pending) in over {
            let Some(mut client) = self.clients.remove(&id) else {
                continue;
            };
            if over_limit(&limit, pending, &mut client.obuf_soft_since, now) {
                self.close_for_output_limit(&client, pending);
            }
            self.clients.insert(id, client);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hard_and_soft_limits_as_redis() {
        let now = Instant::now();
        let limit = BufferLimit {
            hard: 1000,
            soft: 100,
            soft_secs: 2,
        };
        let mut since = None;
        assert!(!over_limit(&limit, 99, &mut since, now));
        assert!(over_limit(&limit, 1000, &mut since, now), "hard: at once");
        assert!(!over_limit(&limit, 100, &mut since, now));
        assert_eq!(since, Some(now));
        let later = now + Duration::from_secs(2);
        assert!(
            !over_limit(&limit, 500, &mut since, later),
            "not longer than 2s"
        );
        let later = now + Duration::from_millis(2001);
        assert!(over_limit(&limit, 500, &mut since, later));
        // Falling under the soft limit starts the time over.
        assert!(!over_limit(&limit, 10, &mut since, later));
        assert_eq!(since, None);
        let none = BufferLimit::default();
        assert!(!over_limit(&none, u64::MAX, &mut since, later));
    }
}
