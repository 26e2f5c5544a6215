//! Where a run's state lives: keys of the state database (`[plugins.migrate] state_db`),
//! written with ordinary commands as an internal client, so that they share the executor's
//! atomic steps and commits with the keys they account for, and survive kill -9 as any key.
//!
//! - `__migrate:runs`: set of run IDs.
//! - `__migrate:{ID}:run`: hash, the run row ([`RunRow`]).
//! - `__migrate:{ID}:dirty`: hash, source key -> registry record ([`Entry`]).
//! - `__migrate:{ID}:pending`: sorted set of the dirty keys by last event (ms): the queue
//!   apply-dirty takes from, oldest first (SPEC_F F.8.2).
//! - `__migrate:{ID}:errors`: list, newest first, bounded ([`MAX_ERRORS`]).

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use respite_core::plugin::api::{Ctx, Reply};

use crate::registry::{self, Entry, KeyState};
use crate::reply;
use crate::row::RunRow;

/// Errors kept per run (SPEC_F's bounded error log).
pub const MAX_ERRORS: usize = 1000;

/// The set of run IDs.
pub const RUNS: &str = "__migrate:runs";

fn key(run: &str, what: &str) -> Bytes {
    Bytes::from(format!("__migrate:{{{run}}}:{what}"))
}

fn b(s: impl AsRef<[u8]>) -> Bytes {
    Bytes::copy_from_slice(s.as_ref())
}

/// Runs a command, turning an error reply into `Err`.
pub fn call(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Reply, String> {
    let r = ctx.call(argv);
    match reply::error(&r) {
        Some(e) => Err(e),
        None => Ok(r),
    }
}

/// Writes the run row (and lists the run).
pub fn save_run(ctx: &mut Ctx<'_>, row: &RunRow) -> Result<(), String> {
    let mut argv = vec![b("HSET"), key(&row.run_id, "run")];
    for (f, v) in row.to_fields() {
        argv.push(b(f));
        argv.push(b(v));
    }
    call(ctx, &argv)?;
    call(ctx, &[b("SADD"), b(RUNS), b(&row.run_id)])?;
    Ok(())
}

/// Reads a run row.
pub fn load_run(ctx: &mut Ctx<'_>, run: &str) -> Result<Option<RunRow>, String> {
    let r = call(ctx, &[b("HGETALL"), key(run, "run")])?;
    let items = reply::flat(r);
    if items.is_empty() {
        return Ok(None);
    }
    let mut map = BTreeMap::new();
    for pair in items.chunks(2) {
        if let [k, v] = pair {
            let (Some(k), Some(v)) = (reply::bytes(k), reply::bytes(v)) else {
                continue;
            };
            map.insert(
                String::from_utf8_lossy(&k).into_owned(),
                String::from_utf8_lossy(&v).into_owned(),
            );
        }
    }
    RunRow::from_fields(&map)
        .map(Some)
        .ok_or_else(|| format!("the run row of '{run}' is damaged"))
}

/// Every run ID, sorted.
pub fn run_ids(ctx: &mut Ctx<'_>) -> Result<Vec<String>, String> {
    let r = call(ctx, &[b("SMEMBERS"), b(RUNS)])?;
    let mut ids: Vec<String> = reply::flat(r)
        .iter()
        .filter_map(reply::bytes)
        .map(|k| String::from_utf8_lossy(&k).into_owned())
        .collect();
    ids.sort();
    Ok(ids)
}

/// Appends to the run's bounded error log: `at stage key: message`.
pub fn log_error(
    ctx: &mut Ctx<'_>,
    run: &str,
    stage: &str,
    key_name: Option<&[u8]>,
    message: &str,
) -> Result<(), String> {
    let at = ctx.now();
    let line = match key_name {
        Some(k) => format!(
            "{at} {stage} key '{}': {message}",
            String::from_utf8_lossy(&k[..k.len().min(200)])
        ),
        None => format!("{at} {stage}: {message}"),
    };
    let list = key(run, "errors");
    call(ctx, &[b("LPUSH"), list.clone(), b(line)])?;
    call(
        ctx,
        &[b("LTRIM"), list, b("0"), b((MAX_ERRORS - 1).to_string())],
    )?;
    Ok(())
}

/// The newest `n` errors.
pub fn recent_errors(ctx: &mut Ctx<'_>, run: &str, n: usize) -> Result<Vec<Bytes>, String> {
    let r = call(
        ctx,
        &[
            b("LRANGE"),
            key(run, "errors"),
            b("0"),
            b(n.saturating_sub(1).to_string()),
        ],
    )?;
    Ok(reply::flat(r).iter().filter_map(reply::bytes).collect())
}

/// Records tracker events (key, event) at `now` by SPEC_F's rules; returns how many keys
/// became dirty.
pub fn note_events(
    ctx: &mut Ctx<'_>,
    run: &str,
    events: &[(Bytes, String)],
    now: i64,
) -> Result<u64, String> {
    let dirty = key(run, "dirty");
    let pending = key(run, "pending");
    // A busy key comes many times in one batch: its record is read and written once.
    let mut batch: HashMap<Bytes, (Option<Entry>, bool)> = HashMap::new();
    let mut order = Vec::new();
    for (k, event) in events {
        if registry::is_ignored(event) {
            continue;
        }
        let slot = match batch.get_mut(k) {
            Some(slot) => slot,
            None => {
                let old = call(ctx, &[b("HGET"), dirty.clone(), k.clone()])?;
                let old = reply::bytes(&old).and_then(|v| Entry::decode(&v));
                order.push(k.clone());
                batch.entry(k.clone()).or_insert((old, false))
            }
        };
        let (entry, now_dirty) = registry::note(slot.0.take(), event, now);
        slot.0 = Some(entry);
        slot.1 |= now_dirty;
    }
    let mut became = 0;
    for k in order {
        let Some((Some(entry), now_dirty)) = batch.remove(&k) else {
            continue;
        };
        became += now_dirty as u64;
        call(
            ctx,
            &[b("HSET"), dirty.clone(), k.clone(), b(entry.encode())],
        )?;
        if entry.state == KeyState::Dirty {
            call(
                ctx,
                &[
                    b("ZADD"),
                    pending.clone(),
                    b(entry.last_seen.to_string()),
                    k,
                ],
            )?;
        }
    }
    Ok(became)
}

/// Marks `k` dirty (a sweep found it); returns whether it became dirty.
pub fn mark_dirty(ctx: &mut Ctx<'_>, run: &str, k: &Bytes, why: &str) -> Result<bool, String> {
    let now = ctx.now();
    note_events(ctx, run, &[(k.clone(), why.to_string())], now).map(|n| n > 0)
}

/// Up to `limit` dirty keys, oldest event first, each with its event count (to tell later
/// whether it changed while it was being copied).
pub fn pending(ctx: &mut Ctx<'_>, run: &str, limit: usize) -> Result<Vec<(Bytes, u64)>, String> {
    let r = call(
        ctx,
        &[
            b("ZRANGE"),
            key(run, "pending"),
            b("0"),
            b(limit.saturating_sub(1).to_string()),
        ],
    )?;
    let keys: Vec<Bytes> = reply::flat(r).iter().filter_map(reply::bytes).collect();
    let dirty = key(run, "dirty");
    let mut out = Vec::with_capacity(keys.len());
    for k in keys {
        let rec = call(ctx, &[b("HGET"), dirty.clone(), k.clone()])?;
        let events = reply::bytes(&rec)
            .and_then(|v| Entry::decode(&v))
            .map_or(0, |e| e.events);
        out.push((k, events));
    }
    Ok(out)
}

/// Sets `k`'s state after apply-dirty handled it, unless an event came meanwhile (its count
/// is no longer `events`): then it stays dirty for the next pass. Returns whether it was set.
pub fn settle(
    ctx: &mut Ctx<'_>,
    run: &str,
    k: &Bytes,
    events: u64,
    state: KeyState,
) -> Result<bool, String> {
    let dirty = key(run, "dirty");
    let rec = call(ctx, &[b("HGET"), dirty.clone(), k.clone()])?;
    let Some(mut entry) = reply::bytes(&rec).and_then(|v| Entry::decode(&v)) else {
        // A queued key without a record (damaged state): off the queue, or apply-dirty would
        // take it forever.
        call(ctx, &[b("ZREM"), key(run, "pending"), k.clone()])?;
        return Ok(true);
    };
    if entry.events != events {
        return Ok(false);
    }
    entry.state = state;
    call(ctx, &[b("HSET"), dirty, k.clone(), b(entry.encode())])?;
    call(ctx, &[b("ZREM"), key(run, "pending"), k.clone()])?;
    Ok(true)
}

/// Keys still dirty, and keys registered.
pub fn registry_sizes(ctx: &mut Ctx<'_>, run: &str) -> Result<(u64, u64), String> {
    let p = call(ctx, &[b("ZCARD"), key(run, "pending")])?;
    let t = call(ctx, &[b("HLEN"), key(run, "dirty")])?;
    Ok((
        reply::int(&p).unwrap_or(0) as u64,
        reply::int(&t).unwrap_or(0) as u64,
    ))
}

/// Stores the last verification's summary.
pub fn save_verify(ctx: &mut Ctx<'_>, run: &str, summary: &str) -> Result<(), String> {
    call(ctx, &[b("SET"), key(run, "verify"), b(summary)])?;
    Ok(())
}

/// The last verification's summary.
pub fn last_verify(ctx: &mut Ctx<'_>, run: &str) -> Result<Option<Bytes>, String> {
    let r = call(ctx, &[b("GET"), key(run, "verify")])?;
    Ok(reply::bytes(&r))
}
