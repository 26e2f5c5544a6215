//! A delayed-job queue as a Respite plugin.
//!
//! - `DQ.ADD queue delay_ms payload` adds a job that becomes due `delay_ms` from now and
//!   answers its id.
//! - `DQ.BPOP queue timeout_secs` pops the first due job as `[id, payload]`. With none due it
//!   blocks until one is, or until the timeout elapses (a null array then; 0 waits forever).
//!   Inside MULTI it does not block: a null array at once.
//! - `DQ.LEN queue` counts the queue's jobs, due or not.
//! - `DQ.CANCEL queue id` removes a job that was not popped yet (1 if it was there).
//!
//! **Storage.** A queue is an ordinary sorted set in database 0: member `<id>:<payload>`,
//! score the due time in Unix milliseconds. Jobs are written and popped through `call`
//! (ZADD, ZRANGEBYSCORE, ZREM), so they are committed like any write and survive a restart;
//! `ZRANGE queue 0 -1 WITHSCORES` shows them.
//!
//! **State.** The plugin keeps, per queue, an index of its jobs' due times (for INFO and for
//! its timers, loaded from the sorted set the first time a queue is used after a start) and
//! the clients blocked on it, first come first served.
//!
//! **Timer.** Adding a job with a delay starts a one-shot timer for its due time; so does a
//! blocking pop on a queue whose next job is not due yet. The timer serves the queue's
//! waiters with the jobs due by then.
//!
//! **Key events.** A subscription to the queue keys' events keeps the index honest: deleting
//! the key (DEL, UNLINK, expiry, RENAME away) drops its jobs from the index, and a ZADD of a
//! due job (DQ.ADD with delay 0 is one) wakes the queue's waiters at once.
//!
//! **INFO.** `INFO delayq` (and `INFO`, `INFO all`) shows a `# Delayq` section: the queues
//! known, jobs queued and due, and clients blocked.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use respite_plugin_sdk::{
    class, export_plugin, ClientId, Command, Ctx, Error, Flags, KeyEvent, Level, Registrar, Reply,
    Unblock,
};

/// What the plugin knows about one queue.
#[derive(Default, Debug)]
pub struct Queue {
    /// Its jobs as `(due ms, id)`.
    pub jobs: BTreeSet<(i64, u64)>,
    /// Clients blocked in DQ.BPOP, first come first served.
    pub waiters: VecDeque<ClientId>,
}

/// The plugin's state.
#[derive(Default, Debug)]
pub struct State {
    /// Queues by key name.
    pub queues: HashMap<Vec<u8>, Queue>,
    /// Which queue each blocked client waits on.
    pub blocked: HashMap<ClientId, Vec<u8>>,
    /// The last job id given.
    pub last_id: u64,
}

impl State {
    /// A fresh job id: increasing, and unique across restarts (seeded from the clock).
    pub fn next_id(&mut self, now_ms: i64) -> u64 {
        let floor = u64::try_from(now_ms).unwrap_or(0).saturating_mul(1000);
        self.last_id = (self.last_id + 1).max(floor);
        self.last_id
    }

    /// Jobs queued and due at `now_ms`, over every queue.
    pub fn counts(&self, now_ms: i64) -> (usize, usize) {
        self.queues.values().fold((0, 0), |(queued, due), q| {
            let d = q.jobs.range(..=(now_ms, u64::MAX)).count();
            (queued + q.jobs.len(), due + d)
        })
    }

    /// Forgets blocked client `id` (served, timed out or gone).
    pub fn forget_waiter(&mut self, id: ClientId) {
        if let Some(queue) = self.blocked.remove(&id) {
            if let Some(q) = self.queues.get_mut(&queue) {
                q.waiters.retain(|w| *w != id);
            }
        }
    }
}

/// The sorted-set member of a job.
pub fn member(id: u64, payload: &[u8]) -> Vec<u8> {
    let mut m = id.to_string().into_bytes();
    m.push(b':');
    m.extend_from_slice(payload);
    m
}

/// A job's id and payload from its member.
pub fn parse_member(m: &[u8]) -> Option<(u64, &[u8])> {
    let colon = m.iter().position(|&b| b == b':')?;
    let id = std::str::from_utf8(&m[..colon]).ok()?.parse().ok()?;
    Some((id, &m[colon + 1..]))
}

fn int_arg(arg: &[u8], what: &str) -> Result<i64, Error> {
    std::str::from_utf8(arg)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|n| *n >= 0)
        .ok_or_else(|| Error::new(format!("{what} must be a non-negative integer")))
}

fn check(reply: Reply) -> Result<Reply, Error> {
    match reply {
        Reply::Error(e) => Err(Error::new(e)),
        other => Ok(other),
    }
}

fn state<R>(ctx: &Ctx<'_>, f: impl FnOnce(&mut State) -> R) -> Result<R, Error> {
    ctx.state(f)
}

/// Queues live in database 0: timers and key-event callbacks run there.
fn db0(ctx: &Ctx<'_>) -> Result<(), Error> {
    if ctx.db() == 0 {
        Ok(())
    } else {
        Err(Error::new(
            "delayq queues live in database 0; SELECT 0 first",
        ))
    }
}

/// Loads the index of `queue` from its sorted set, unless it is known already.
fn ensure_loaded(ctx: &mut Ctx<'_>, queue: &[u8]) -> Result<(), Error> {
    if state(ctx, |s| s.queues.contains_key(queue))? {
        return Ok(());
    }
    let all = check(ctx.call(&[&b"ZRANGE"[..], queue, b"0", b"-1", b"WITHSCORES"]))?;
    let mut jobs = BTreeSet::new();
    let items = all.items().unwrap_or(&[]);
    // RESP3 gives [member, score] pairs; RESP2 a flat list.
    let flat: Vec<&Reply> = items
        .iter()
        .flat_map(|i| match i.items() {
            Some(pair) => pair.iter().collect::<Vec<_>>(),
            None => vec![i],
        })
        .collect();
    for pair in flat.chunks(2) {
        let (Some(m), Some(score)) = (pair[0].as_bytes(), pair.get(1)) else {
            continue;
        };
        let due = match score {
            Reply::Double(d) => *d as i64,
            other => other
                .as_bytes()
                .and_then(|b| std::str::from_utf8(b).ok()?.parse::<f64>().ok())
                .unwrap_or(0.0) as i64,
        };
        if let Some((id, _)) = parse_member(m) {
            jobs.insert((due, id));
        }
    }
    state(ctx, |s| {
        s.queues.entry(queue.to_vec()).or_default().jobs = jobs;
    })
}

/// Pops the first job of `queue` due at `now`, as `(id, payload)`.
fn pop_due(ctx: &mut Ctx<'_>, queue: &[u8], now: i64) -> Result<Option<(u64, Vec<u8>)>, Error> {
    loop {
        let now_s = now.to_string();
        let first = check(ctx.call(&[
            &b"ZRANGEBYSCORE"[..],
            queue,
            b"-inf",
            now_s.as_bytes(),
            b"LIMIT",
            b"0",
            b"1",
        ]))?;
        let Some(m) = first
            .items()
            .and_then(|i| i.first())
            .and_then(|m| m.as_bytes())
        else {
            return Ok(None);
        };
        let m = m.to_vec();
        let removed = check(ctx.call(&[&b"ZREM"[..], queue, &m]))?.as_i64() == Some(1);
        let Some((id, payload)) = parse_member(&m) else {
            continue;
        };
        state(ctx, |s| {
            if let Some(q) = s.queues.get_mut(queue) {
                q.jobs.retain(|(_, j)| *j != id);
            }
        })?;
        if removed {
            return Ok(Some((id, payload.to_vec())));
        }
    }
}

fn job_reply(id: u64, payload: Vec<u8>) -> Reply {
    Reply::Array(vec![Reply::Integer(id as i64), Reply::Bulk(payload)])
}

/// Serves the waiters of `queue` with the jobs due now, first come first served.
/// With `reschedule`, a queue whose waiters find nothing due gets a timer for its next job.
fn serve_due(ctx: &mut Ctx<'_>, queue: &[u8], reschedule: bool) {
    if let Err(e) = try_serve_due(ctx, queue, reschedule) {
        ctx.log(Level::Warn, &format!("serving delayq waiters failed: {e}"));
    }
}

fn try_serve_due(ctx: &mut Ctx<'_>, queue: &[u8], reschedule: bool) -> Result<(), Error> {
    loop {
        let has_waiter = state(ctx, |s| {
            s.queues.get(queue).is_some_and(|q| !q.waiters.is_empty())
        })?;
        if !has_waiter {
            return Ok(());
        }
        let now = ctx.now_ms();
        let Some((id, payload)) = pop_due(ctx, queue, now)? else {
            // Nothing due yet: wake up again when the next job is.
            if reschedule {
                schedule_next(ctx, queue, now)?;
            }
            return Ok(());
        };
        let waiter = state(ctx, |s| {
            let w = s.queues.get_mut(queue).and_then(|q| q.waiters.pop_front());
            if let Some(w) = w {
                s.blocked.remove(&w);
            }
            w
        })?;
        let served = match waiter {
            Some(w) => ctx.serve_blocked(w, job_reply(id, payload.clone())),
            None => false,
        };
        if !served {
            // Put the job back, due at once.
            let now_s = now.to_string();
            ctx.call(&[&b"ZADD"[..], queue, now_s.as_bytes(), &member(id, &payload)]);
            state(ctx, |s| {
                s.queues
                    .entry(queue.to_vec())
                    .or_default()
                    .jobs
                    .insert((now, id));
            })?;
        }
    }
}

/// Starts a timer for the next job of `queue` after `now`, if any.
fn schedule_next(ctx: &mut Ctx<'_>, queue: &[u8], now: i64) -> Result<(), Error> {
    let next = state(ctx, |s| {
        s.queues.get(queue).and_then(|q| {
            q.jobs
                .iter()
                .find(|(due, _)| *due > now)
                .map(|(due, _)| *due)
        })
    })?;
    if let Some(due) = next {
        wake_at(ctx, queue, (due - now).max(1) as u64)?;
    }
    Ok(())
}

fn wake_at(ctx: &mut Ctx<'_>, queue: &[u8], delay_ms: u64) -> Result<(), Error> {
    let queue = queue.to_vec();
    ctx.timer(Duration::from_millis(delay_ms), move |ctx| {
        serve_due(ctx, &queue, true)
    })?;
    Ok(())
}

fn add(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Result<Reply, Error> {
    db0(ctx)?;
    let (queue, payload) = (args[1], args[3]);
    let delay = int_arg(args[2], "delay_ms")?;
    ensure_loaded(ctx, queue)?;
    let now = ctx.now_ms();
    let due = now.saturating_add(delay);
    let id = state(ctx, |s| s.next_id(now))?;
    let due_s = due.to_string();
    check(ctx.call(&[&b"ZADD"[..], queue, due_s.as_bytes(), &member(id, payload)]))?;
    state(ctx, |s| {
        s.queues
            .entry(queue.to_vec())
            .or_default()
            .jobs
            .insert((due, id));
    })?;
    if delay > 0 {
        // A due job wakes waiters through the ZADD's key event; a later one through this.
        wake_at(ctx, queue, delay as u64)?;
    }
    Ok(Reply::Integer(id as i64))
}

fn bpop(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Result<Reply, Error> {
    db0(ctx)?;
    let queue = args[1];
    let timeout = std::str::from_utf8(args[2])
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|t| t.is_finite() && *t >= 0.0)
        .ok_or_else(|| Error::new("timeout is not a float or out of range"))?;
    ensure_loaded(ctx, queue)?;
    let now = ctx.now_ms();
    // Earlier waiters come first: a new one may only take a job nobody waits for.
    let queued_behind = state(ctx, |s| {
        s.queues.get(queue).is_some_and(|q| !q.waiters.is_empty())
    })?;
    if !queued_behind {
        if let Some((id, payload)) = pop_due(ctx, queue, now)? {
            return Ok(job_reply(id, payload));
        }
    }
    let timeout = (timeout > 0.0).then(|| Duration::from_secs_f64(timeout));
    if !ctx.block(timeout, Reply::NullArray) {
        // Inside MULTI (or called by another command): answer as a non-blocking pop.
        return Ok(Reply::NullArray);
    }
    let id = ctx.client_id();
    state(ctx, |s| {
        s.queues
            .entry(queue.to_vec())
            .or_default()
            .waiters
            .push_back(id);
        s.blocked.insert(id, queue.to_vec());
    })?;
    schedule_next(ctx, queue, now)?;
    Ok(Reply::NullArray)
}

fn len(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Result<Reply, Error> {
    db0(ctx)?;
    check(ctx.call(&[&b"ZCARD"[..], args[1]]))
}

fn cancel(ctx: &mut Ctx<'_>, args: &[&[u8]]) -> Result<Reply, Error> {
    db0(ctx)?;
    let (queue, id) = (args[1], int_arg(args[2], "id")? as u64);
    ensure_loaded(ctx, queue)?;
    // The member holds the payload: find it by its id prefix.
    let prefix = format!("{id}:");
    let all = check(ctx.call(&[&b"ZRANGE"[..], queue, b"0", b"-1"]))?;
    let found = all
        .items()
        .unwrap_or(&[])
        .iter()
        .filter_map(|m| m.as_bytes())
        .find(|m| m.starts_with(prefix.as_bytes()))
        .map(<[u8]>::to_vec);
    let Some(m) = found else {
        return Ok(Reply::Integer(0));
    };
    let removed = check(ctx.call(&[&b"ZREM"[..], queue, &m]))?;
    state(ctx, |s| {
        if let Some(q) = s.queues.get_mut(queue) {
            q.jobs.retain(|(_, j)| *j != id);
        }
    })?;
    Ok(removed)
}

/// Keeps the index in step with the queue keys: a deleted key drops its jobs; a ZADD of a
/// due job wakes the queue's waiters.
fn on_key_event(ctx: &mut Ctx<'_>, event: &KeyEvent<'_>) {
    if event.db != 0 {
        return;
    }
    let tracked = state(ctx, |s| s.queues.contains_key(event.key)).unwrap_or(false);
    if !tracked {
        return;
    }
    match event.event {
        "del" | "expired" | "evicted" | "rename_from" | "move_from" => {
            let _ = state(ctx, |s| {
                if let Some(q) = s.queues.get_mut(event.key) {
                    q.jobs.clear();
                }
            });
        }
        "zadd" => serve_due(ctx, event.key, false),
        _ => {}
    }
}

fn start(reg: &mut Registrar<'_>) -> Result<(), Error> {
    reg.set_state(State::default());
    reg.command(
        Command::new("dq.add", 4, add)
            .flags(Flags::WRITE | Flags::DENYOOM)
            .keys(1, 1, 1)
            .categories("write sortedset")
            .complexity("O(log N)")
            .summary("Adds a job that becomes due after a delay; returns its id."),
    )?;
    reg.command(
        Command::new("dq.bpop", 3, bpop)
            .flags(Flags::WRITE | Flags::BLOCKING)
            .keys(1, 1, 1)
            .categories("write sortedset blocking")
            .complexity("O(log N)")
            .summary("Pops the first due job, waiting for one up to a timeout."),
    )?;
    reg.command(
        Command::new("dq.len", 2, len)
            .flags(Flags::READONLY | Flags::FAST)
            .keys(1, 1, 1)
            .categories("read sortedset fast")
            .summary("Counts a queue's jobs."),
    )?;
    reg.command(
        Command::new("dq.cancel", 3, cancel)
            .flags(Flags::WRITE)
            .keys(1, 1, 1)
            .categories("write sortedset")
            .summary("Removes a job that was not popped yet."),
    )?;
    reg.subscribe(
        class::GENERIC | class::ZSET | class::EXPIRED | class::EVICTED,
        None,
        on_key_event,
    )?;
    reg.on_unblock(|ctx, id, _why: Unblock| {
        let _ = state(ctx, |s| s.forget_waiter(id));
    })?;
    reg.info_section("Delayq", |info| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let counts = info.state(|s: &mut State| {
            let (queued, due) = s.counts(now);
            (s.queues.len(), queued, due, s.blocked.len())
        });
        let (queues, queued, due, blocked) = counts.unwrap_or_default();
        info.field("delayq_queues", queues);
        info.field("delayq_queued", queued);
        info.field("delayq_due", due);
        info.field("delayq_blocked_clients", blocked);
    })?;
    reg.log(Level::Info, "delayq ready");
    Ok(())
}

export_plugin!(name: "delayq", version: env!("CARGO_PKG_VERSION"), init: start);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_carry_id_and_payload() {
        let m = member(42, b"a:b\x00c");
        assert_eq!(parse_member(&m), Some((42, &b"a:b\x00c"[..])));
        assert_eq!(parse_member(b"nocolon"), None);
        assert_eq!(parse_member(b"x:1"), None);
    }

    #[test]
    fn ids_increase_even_when_the_clock_goes_back() {
        let mut s = State::default();
        let a = s.next_id(1_000);
        let b = s.next_id(500);
        assert!(b > a);
        assert_eq!(a, 1_000_000);
    }

    #[test]
    fn counts_split_queued_and_due() {
        let mut s = State::default();
        let q = s.queues.entry(b"q".to_vec()).or_default();
        q.jobs.insert((10, 1));
        q.jobs.insert((20, 2));
        q.jobs.insert((30, 3));
        assert_eq!(s.counts(20), (3, 2));
        s.blocked.insert(7, b"q".to_vec());
        s.queues.get_mut(&b"q"[..]).unwrap().waiters.push_back(7);
        s.forget_waiter(7);
        assert!(s.blocked.is_empty() && s.queues[&b"q"[..]].waiters.is_empty());
    }
}
