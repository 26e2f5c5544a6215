//! The flusher: one background task that owns the application databases' connections and
//! does all their I/O, off the executor. Every `flush_interval_ms`, on WB.FLUSH, and early
//! when a table's queue passes `max_queue_size`, it flushes each table with pending work:
//!
//! 1. **claim** (on the executor): the pending counters, updates and up to
//!    `insert_batch_size` queued rows are written down as a claim with a fresh flush id
//!    ([`queue::claim`]); the task waits until that keyspace commit is done;
//! 2. **apply** (here): one transaction of the application database applies the claim and
//!    records its flush id, or finds the id recorded and applies nothing ([`Target::apply`]);
//!    The counters' UPDATEs give back the columns' new values, which become the cached
//!    bases (other writers' changes included), and the transaction deletes the ledger rows
//!    of earlier flushes whose finish has been committed;
//! 3. **finish** (on the executor): the claimed work leaves the queues ([`queue::finish`]).
//!
//! A crash after 1 leaves the claim, which the next flush of that table re-applies first; a
//! crash after 2 leaves it too, and re-applying it finds its id recorded: each write lands
//! exactly once. A failure in 2 leaves everything queued, in order; the table is retried
//! with a doubling backoff (up to [`MAX_BACKOFF`]), and WB.FLUSH retries at once.
//!
//! It also reads counters' bases for WB.INCR and WB.GET (the client waits, parked), so that a
//! base is never read while a flush of its table is half done.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use respite_core::plugin::api::{ClientId, Engine, EngineHandle, Reply, Shutdown, StoreError};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::config::WbConfig;
use crate::queue::{self, Claim, Group};
use crate::sql::{self, Num};
use crate::target::{Applied, Target};
use crate::{commands, state};

/// The longest wait before retrying a table whose flush failed.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How long one flush transaction or base read may take before it counts as failed (its
/// outcome then unknown: the next attempt's flush-id check settles it).
const TARGET_TIMEOUT: Duration = Duration::from_secs(60);

/// Transactions one table gets per round before the others have their turn.
const MAX_BATCHES_PER_ROUND: usize = 64;

/// The first wait after a failure.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// Work for the flusher.
pub enum Request {
    /// Read a counter's base, then complete the parked WB.INCR (`incr`) or WB.GET.
    Base {
        /// The parked client.
        client: ClientId,
        /// The table.
        group: Group,
        /// The row's canonical key.
        row: String,
        /// The column.
        col: String,
        /// WB.INCR's delta; `None` for WB.GET.
        incr: Option<Num>,
    },
    /// Flush the tables matching `conn` / `table` (all when `None`), now; then serve
    /// `client` (WB.FLUSH) with OK or the failures.
    Flush {
        /// The parked WB.FLUSH, if any.
        client: Option<ClientId>,
        /// Only this connection.
        conn: Option<String>,
        /// Only this table.
        table: Option<String>,
    },
}

/// What the task keeps between rounds.
struct Flusher {
    handle: EngineHandle,
    targets: HashMap<String, Target>,
    /// Tables whose last flush failed: when to retry, and the wait after the next failure.
    backoff: HashMap<Group, (Instant, Duration)>,
    batch: usize,
    /// Per connection: flushes whose finish was written, with the number of the keyspace
    /// commit that stores it. Once that commit is done, the database's ledger row of the
    /// flush is no longer needed (the claim is gone, so it is never applied again) and the
    /// next flush on the connection deletes it: the ledger stays small.
    finished: HashMap<String, Vec<Finished>>,
}

/// A finished flush: its id and the number of the keyspace commit that stores its finish.
type Finished = (String, u64);

/// Ledger rows one flush deletes at most.
const MAX_PRUNE: usize = 1000;

/// Runs the flusher until the plugin stops.
pub async fn run(
    handle: EngineHandle,
    mut rx: UnboundedReceiver<Request>,
    mut shutdown: Shutdown,
    config: WbConfig,
) {
    let targets = config
        .connections
        .iter()
        .filter_map(|(name, c)| Some((name.clone(), Target::new(c.target().ok()?))))
        .collect();
    let mut f = Flusher {
        handle,
        targets,
        backoff: HashMap::new(),
        batch: config.insert_batch_size,
        finished: HashMap::new(),
    };
    // At start, before anything else: what a crash left (claims, queued work) is flushed
    // first, and base reads wait for it. Stopping interrupts any work: what that leaves
    // behind is what a crash would, and the next start recovers it.
    tokio::select! {
        _ = shutdown.wait() => return,
        _ = f.flush_matching(None, None, true) => {}
    }
    let period = Duration::from_millis(config.flush_interval_ms);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let work = tokio::select! {
            _ = shutdown.wait() => break,
            _ = tick.tick() => None,
            req = rx.recv() => match req {
                None => break,
                Some(req) => Some(req),
            },
        };
        let gone = tokio::select! {
            _ = shutdown.wait() => break,
            gone = f.serve(work) => gone,
        };
        if gone {
            break;
        }
    }
}

impl Flusher {
    /// Runs one round (`None`) or one request; returns whether the executor has stopped.
    async fn serve(&mut self, work: Option<Request>) -> bool {
        match work {
            None => self.flush_matching(None, None, false).await.is_err() && self.gone().await,
            Some(Request::Flush {
                client,
                conn,
                table,
            }) => {
                // WB.FLUSH retries at once; an early flush waits out a backoff.
                let force = client.is_some();
                let result = self
                    .flush_matching(conn.as_deref(), table.as_deref(), force)
                    .await;
                if let Some(id) = client {
                    let reply = match result {
                        Ok(()) => Reply::ok(),
                        Err(errors) => Reply::Error(
                            format!(
                                "ERR WB.FLUSH failed, the writes stay queued and are retried: {}",
                                errors.join("; ")
                            )
                            .into(),
                        ),
                    };
                    let _ = self.handle.post(move |e: &mut Engine| {
                        if state(e).is_some_and(|st| st.parked.remove(&id)) {
                            e.serve_blocked(id, reply);
                        }
                    });
                }
                false
            }
            Some(Request::Base {
                client,
                group,
                row,
                col,
                incr,
            }) => {
                let result = self.read_base(&group, &row, &col).await;
                let _ = self.handle.post(move |e: &mut Engine| {
                    let reply =
                        commands::complete_base(e, client, &group, &row, &col, incr, result);
                    if let Some(reply) = reply {
                        e.serve_blocked(client, reply);
                    }
                });
                false
            }
        }
    }

    /// Whether the executor has stopped.
    async fn gone(&self) -> bool {
        self.handle.run(|_| ()).await.is_err()
    }

    /// Flushes every table with work matching the filters (skipping, unless `force`, those
    /// waiting out a backoff). Returns the failures as `conn.table: error`.
    async fn flush_matching(
        &mut self,
        conn: Option<&str>,
        table: Option<&str>,
        force: bool,
    ) -> Result<(), Vec<String>> {
        // The tables with work (and matching the filters) leave the dirty set; a write
        // arriving meanwhile puts its table back, and so does a skip or a failure here.
        let (c2, t2) = (conn.map(str::to_string), table.map(str::to_string));
        let groups = self
            .handle
            .run(move |e: &mut Engine| {
                let Some(st) = state(e) else {
                    return Vec::new();
                };
                st.early.clear();
                let matching = |g: &Group| {
                    c2.as_ref().is_none_or(|c| *c == g.conn)
                        && t2.as_ref().is_none_or(|t| *t == g.table)
                };
                let taken: Vec<Group> = st.dirty.iter().filter(|g| matching(g)).cloned().collect();
                for g in &taken {
                    st.dirty.remove(g);
                }
                taken
            })
            .await
            .map_err(|e| vec![e.to_string()])?;
        let now = Instant::now();
        let mut errors = Vec::new();
        let mut again = Vec::new();
        for g in groups {
            if !force && self.backoff.get(&g).is_some_and(|(at, _)| *at > now) {
                again.push(g);
                continue;
            }
            // WB.FLUSH and the start drain a table; a round leaves a long backlog for later.
            let max_batches = if force {
                usize::MAX
            } else {
                MAX_BATCHES_PER_ROUND
            };
            match self.flush_group(&g, max_batches).await {
                Ok(()) => {
                    self.backoff.remove(&g);
                }
                Err(e) => {
                    let wait = self
                        .backoff
                        .get(&g)
                        .map(|(_, w)| (*w * 2).min(MAX_BACKOFF))
                        .unwrap_or(FIRST_BACKOFF);
                    self.backoff
                        .insert(g.clone(), (Instant::now() + wait, wait));
                    tracing::warn!(conn = %g.conn, table = %g.table, error = %e, retry_ms = wait.as_millis() as u64, "writebehind: flush failed; the writes stay queued");
                    let (g2, msg) = (g.clone(), e.clone());
                    let _ = self.handle.post(move |e: &mut Engine| {
                        if let Some(st) = state(e) {
                            let s = st.stats.entry(g2).or_default();
                            s.failures += 1;
                            s.last_error = Some(msg);
                        }
                    });
                    errors.push(format!("{}.{}: {e}", g.conn, g.table));
                    again.push(g);
                }
            }
        }
        if !again.is_empty() {
            let _ = self.handle.post(move |e: &mut Engine| {
                if let Some(st) = state(e) {
                    st.dirty.extend(again);
                }
            });
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Flushes one table: its claim in progress first, then new claims while rows remain
    /// beyond one batch.
    async fn flush_group(&mut self, g: &Group, max_batches: usize) -> Result<(), String> {
        if !self.targets.contains_key(&g.conn) {
            return Err(format!("connection '{}' is not configured", g.conn));
        }
        for _ in 0..max_batches {
            let (batch, g2) = (self.batch, g.clone());
            let finished = std::mem::take(self.finished.entry(g.conn.clone()).or_default());
            let claimed = self
                .handle
                .run(move |e: &mut Engine| {
                    let prefix = state(e).map(|st| st.prefix.clone()).unwrap_or_default();
                    let had = queue::has_claim(e, &g2)?;
                    let claim = queue::claim(e, &g2, batch, &prefix)?;
                    // A new claim commits with this batch: the next commit attempt.
                    let wait_for = if had { 0 } else { e.commit_attempts().0 + 1 };
                    let prune = prunable(e, finished)?;
                    Ok::<_, StoreError>((claim.map(|c| (c, wait_for)), prune))
                })
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            let (claimed, (prune, waiting)) = claimed;
            self.finished
                .entry(g.conn.clone())
                .or_default()
                .extend(waiting);
            let Some((mut claim, wait_for)) = claimed else {
                self.requeue_prune(&g.conn, prune);
                return Ok(());
            };
            claim.prune = prune;
            self.wait_durable(wait_for, &claim.flush_id).await?;
            let target = self
                .targets
                .get_mut(&g.conn)
                .ok_or_else(|| format!("connection '{}' is not configured", g.conn))?;
            let applied = match tokio::time::timeout(TARGET_TIMEOUT, target.apply(&claim)).await {
                Ok(Ok(applied)) => applied,
                Ok(Err(e)) => {
                    self.requeue_prune(&g.conn, std::mem::take(&mut claim.prune));
                    return Err(e);
                }
                Err(_) => {
                    target.reset();
                    self.requeue_prune(&g.conn, std::mem::take(&mut claim.prune));
                    return Err(format!("no answer within {} s", TARGET_TIMEOUT.as_secs()));
                }
            };
            if applied.already {
                // Nothing ran in that transaction, the deletions neither.
                self.requeue_prune(&g.conn, std::mem::take(&mut claim.prune));
            }
            failpoint("after-target-commit");
            let more = claim.more;
            let (conn, id) = (g.conn.clone(), claim.flush_id.clone());
            let commit = self.finish(claim, applied).await?;
            self.finished.entry(conn).or_default().push((id, commit));
            if !more {
                return Ok(());
            }
        }
        // A backlog larger than a round: the rest waits for the next round, so that the
        // other tables, base reads and WB.FLUSH get their turn.
        let g2 = g.clone();
        let _ = self.handle.post(move |e: &mut Engine| {
            if let Some(st) = state(e) {
                st.dirty.insert(g2);
            }
        });
        Ok(())
    }

    /// Waits until commit number `n` is done and checks that it stored the claim.
    async fn wait_durable(&self, n: u64, flush_id: &str) -> Result<(), String> {
        loop {
            let (attempts, _) = self
                .handle
                .run(|e: &mut Engine| e.commit_attempts())
                .await
                .map_err(|e| e.to_string())?;
            if attempts >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let id = flush_id.to_string();
        let stored = self
            .handle
            .run(move |e: &mut Engine| queue::claim_stored(e, &id))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        if stored {
            Ok(())
        } else {
            Err("the keyspace commit of the flush's claim failed".into())
        }
    }

    /// Removes the applied work from the queues and counts the flush.
    /// Puts ledger rows that were not deleted back on the list (as already committed).
    fn requeue_prune(&mut self, conn: &str, ids: Vec<String>) {
        if !ids.is_empty() {
            self.finished
                .entry(conn.to_string())
                .or_default()
                .extend(ids.into_iter().map(|id| (id, 0)));
        }
    }

    /// Removes the applied work from the queues and counts the flush; returns the number of
    /// the keyspace commit that stores this.
    async fn finish(&self, claim: Claim, applied: Applied) -> Result<u64, String> {
        self.handle
            .run(move |e: &mut Engine| {
                queue::finish(e, &claim, &applied.fresh)?;
                let queued = queue::queued_rows(e, &claim.group)?;
                if let Some(st) = state(e) {
                    st.queued.insert(claim.group.clone(), queued);
                    let s = st.stats.entry(claim.group.clone()).or_default();
                    s.flushes += 1;
                    s.last_flush_rows = applied.rows;
                    s.rows_written += applied.rows;
                    s.missing_rows += applied.missing;
                    if applied.already {
                        s.recovered += 1;
                    }
                    s.last_error = None;
                }
                Ok::<_, StoreError>(e.commit_attempts().0 + 1)
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    }

    /// Reads a counter's base from its table, after finishing any flush of that table in
    /// progress (the database may or may not hold it yet).
    async fn read_base(&mut self, g: &Group, row: &str, col: &str) -> Result<Num, String> {
        let g2 = g.clone();
        let claimed = self
            .handle
            .run(move |e: &mut Engine| queue::has_claim(e, &g2))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        if claimed {
            self.flush_group(g, 1).await?;
        }
        let key = sql::row_from_text(row)?;
        let target = self
            .targets
            .get_mut(&g.conn)
            .ok_or_else(|| format!("connection '{}' is not configured", g.conn))?;
        match tokio::time::timeout(TARGET_TIMEOUT, target.read_base(&g.table, &key, col)).await {
            Ok(base) => base,
            Err(_) => {
                target.reset();
                Err(format!("no answer within {} s", TARGET_TIMEOUT.as_secs()))
            }
        }
    }
}

/// Ledger rows to delete now, and finished flushes still waiting for their commit.
type Prunable = (Vec<String>, Vec<Finished>);

/// Splits finished flushes into those whose ledger rows may go (their finish is committed:
/// the claim is gone for good), up to [`MAX_PRUNE`], and those still waiting for their
/// commit. A finish whose commit failed has its claim back: it is dropped here, and listed
/// again when it is finished again.
fn prunable(engine: &mut Engine, finished: Vec<Finished>) -> Result<Prunable, StoreError> {
    let (attempts, _) = engine.commit_attempts();
    let (mut prune, mut waiting) = (Vec::new(), Vec::new());
    for (id, commit) in finished {
        if commit > attempts || prune.len() >= MAX_PRUNE {
            waiting.push((id, commit));
        } else if !queue::claim_stored(engine, &id)? {
            prune.push(id);
        }
    }
    Ok((prune, waiting))
}

/// Test-only crash points (debug builds only). `RESPITE_WB_FAILPOINT` names a file; when it
/// exists and holds this point's name (`after-target-commit`: an application database has
/// committed a flush, Respite has not recorded it yet, the window exactly-once must
/// survive), the file is removed and the process aborts, as a kill -9 would end it. One
/// shot: the restarted server, given the same environment, runs on.
fn failpoint(name: &str) {
    #[cfg(debug_assertions)]
    if let Some(path) = std::env::var_os("RESPITE_WB_FAILPOINT") {
        let armed = std::fs::read_to_string(&path).is_ok_and(|s| s.trim() == name);
        if armed && std::fs::remove_file(&path).is_ok() {
            eprintln!("writebehind: failpoint {name}: aborting");
            std::process::abort();
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = name;
}
