//! The dirty-key tracker (SPEC_F F.6): subscribes to the source's keyevent (or keyspace)
//! notifications of the run's database and records each event in the registry, in batches
//! (one executor step per batch). On a disconnect it records a gap (events may have been
//! lost: the cutover then runs a safety sweep) and reconnects with backoff. A barrier channel
//! of its own tells the cutover when every event published before the freeze is recorded.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use respite_core::plugin::api::{now_ms, EngineHandle};
use tokio::sync::{oneshot, watch};

use crate::job::{until_true, BarrierRx, Control};
use crate::options::Channels;
use crate::state_keys;

/// Events recorded in one step at most.
const BATCH: usize = 2000;
/// How long an event may wait for its batch.
const FLUSH_EVERY: Duration = Duration::from_millis(20);

/// The channel a barrier subscribes to: its confirmation comes back on the tracker's
/// connection after every notification the source queued before it, even while the source
/// is paused (SUBSCRIBE is no write).
fn barrier_channel(run: &str, n: u64) -> String {
    format!("__respite_migrate:{run}:barrier:{n}")
}

/// What the tracker needs.
pub struct Tracker {
    /// The source.
    pub client: redis::Client,
    /// The source database.
    pub db: u32,
    /// keyevent or keyspace.
    pub channels: Channels,
    /// The run.
    pub run_id: String,
    /// Where the registry lives.
    pub state_db: u32,
    /// The executor.
    pub handle: EngineHandle,
    /// The run's control block (counters).
    pub ctl: Arc<Control>,
    /// Barrier requests.
    pub barriers: BarrierRx,
}

impl Tracker {
    /// Tracks until `stop` turns true; `ready` is sent once the first subscription is in
    /// place (or with the error that kept it from being).
    pub async fn run(
        mut self,
        mut stop: watch::Receiver<bool>,
        ready: oneshot::Sender<Result<(), String>>,
    ) {
        let mut ready = Some(ready);
        let mut backoff = Duration::from_millis(100);
        let pattern = match self.channels {
            Channels::KeyEvent => format!("__keyevent@{}__:*", self.db),
            Channels::KeySpace => format!("__keyspace@{}__:*", self.db),
        };
        let prefix_len = pattern.len() - 1;
        let mut barriers_done = 0u64;
        loop {
            if *stop.borrow() {
                return;
            }
            let connected = async {
                let mut ps = self.client.get_async_pubsub().await?;
                ps.psubscribe(&pattern).await?;
                Ok::<_, redis::RedisError>(ps)
            }
            .await;
            let ps = match connected {
                Ok(ps) => ps,
                Err(e) => {
                    let msg = format!("tracker: {}", crate::source::describe(&self.url(), &e));
                    if let Some(r) = ready.take() {
                        let _ = r.send(Err(msg));
                        return;
                    }
                    self.gap(&msg).await;
                    // Barriers asked meanwhile fail: events may be lost.
                    while let Ok(b) = self.barriers.try_recv() {
                        let _ = b.send(false);
                    }
                    tokio::select! {
                        _ = until_true(&mut stop) => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            if let Some(r) = ready.take() {
                let _ = r.send(Ok(()));
            }
            backoff = Duration::from_millis(100);
            let (mut sink, mut messages) = ps.split();
            let mut buf: Vec<(Bytes, String)> = Vec::new();
            let mut tick = tokio::time::interval(FLUSH_EVERY);
            loop {
                tokio::select! {
                    _ = until_true(&mut stop) => {
                        self.flush(&mut buf).await;
                        return;
                    }
                    _ = tick.tick() => self.flush(&mut buf).await,
                    asked = self.barriers.recv() => {
                        let Some(asked) = asked else { continue };
                        barriers_done += 1;
                        let channel = barrier_channel(&self.run_id, barriers_done);
                        let ok = sink.subscribe(&channel).await.is_ok();
                        // Everything before the confirmation is in the queue now.
                        while let Some(Some(msg)) = messages.next().now_or_never() {
                            self.take(&msg, prefix_len, &mut buf);
                        }
                        self.flush(&mut buf).await;
                        let _ = sink.unsubscribe(&channel).await;
                        let _ = asked.send(ok);
                    }
                    msg = messages.next() => {
                        let Some(msg) = msg else { break };
                        self.take(&msg, prefix_len, &mut buf);
                        if buf.len() >= BATCH {
                            self.flush(&mut buf).await;
                        }
                    }
                }
            }
            self.flush(&mut buf).await;
            self.gap(
                "tracker: the source closed the notification connection; events may have been \
                 lost until it reconnects (the cutover runs a safety sweep)",
            )
            .await;
            tokio::select! {
                _ = until_true(&mut stop) => return,
                _ = tokio::time::sleep(backoff) => {}
            }
        }
    }

    fn url(&self) -> String {
        let info = self.client.get_connection_info();
        format!("redis://{}", info.addr)
    }

    /// Adds a notification to the batch.
    fn take(&self, msg: &redis::Msg, prefix_len: usize, buf: &mut Vec<(Bytes, String)>) {
        let channel: Vec<u8> = msg.get_channel().unwrap_or_default();
        if channel.len() < prefix_len || !channel.starts_with(b"__key") {
            return;
        }
        let payload = msg.get_payload_bytes();
        let rest = &channel[prefix_len..];
        let (key, event) = match self.channels {
            Channels::KeyEvent => (payload.to_vec(), String::from_utf8_lossy(rest).into_owned()),
            Channels::KeySpace => (rest.to_vec(), String::from_utf8_lossy(payload).into_owned()),
        };
        buf.push((Bytes::from(key), event));
    }

    /// Records a batch of events in the registry.
    async fn flush(&self, buf: &mut Vec<(Bytes, String)>) {
        if buf.is_empty() {
            return;
        }
        let events = std::mem::take(buf);
        let run = self.run_id.clone();
        let db = self.state_db;
        let done = self
            .handle
            .run(move |engine| {
                engine.run_internal(db, |ctx| {
                    state_keys::note_events(ctx, &run, &events, now_ms())
                })
            })
            .await;
        match done {
            Ok(Ok(n)) => {
                self.ctl.seen.fetch_add(n, Ordering::Relaxed);
            }
            Ok(Err(e)) => {
                self.gap(&format!("tracker: recording events failed: {e}"))
                    .await
            }
            Err(_) => {}
        }
    }

    /// Records a gap: events may have been lost.
    async fn gap(&self, message: &str) {
        tracing::warn!(run = %self.run_id, "{message}");
        self.ctl.gaps.fetch_add(1, Ordering::Relaxed);
        let run = self.run_id.clone();
        let db = self.state_db;
        let message = message.to_string();
        let _ = self
            .handle
            .run(move |engine| {
                engine.run_internal(db, |ctx| {
                    state_keys::log_error(ctx, &run, "track", None, &message)
                })
            })
            .await;
    }
}
