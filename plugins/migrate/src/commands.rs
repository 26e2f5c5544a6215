//! MIGRATION.* (names apart from Redis's own MIGRATE): START, STATUS, LIST, PAUSE, RESUME,
//! ABORT, CUTOVER, VERIFY, PREFLIGHT. Runs are steered through their control block; the
//! commands that take long (CUTOVER, VERIFY, PREFLIGHT) park the client until the task
//! answers.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use respite_core::plugin::api::flags::*;
use respite_core::plugin::api::{
    now_ms, BlockSpec, ClientId, CommandSpec, Ctx, Engine, Reply, Unblock,
};

use crate::job::{lock, Control, Desired};
use crate::options::{self, Options};
use crate::row::RunRow;
use crate::{preflight, state_keys, verify, Msg, State};

const CATS: &[&str] = &["admin", "slow", "dangerous"];

/// The plugin's commands.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("migration.start", -3, start)
        .flags(ADMIN | NOSCRIPT)
        .categories(CATS)
        .doc(
            "migration",
            "Starts migrating a live Redis into this server: FROM redis://[user:pass@]host:port[/db] [RUN-ID id] [SCAN-COUNT n] [BATCH-KEYS n] [BATCH-BYTES size] [MAX-RPS n] [MAX-CONCURRENCY n] [TTL-MODE preserve|drop] [CHANNELS keyevent|keyspace] [ENABLE-NOTIFICATIONS] [CONFIG-COMMAND name] [NO-TRACK]",
            "1.0.0",
            "O(1); the copy runs in the background",
        ),
    CommandSpec::new("migration.status", -1, status)
        .flags(ADMIN | LOADING | STALE)
        .categories(CATS)
        .doc("migration", "A migration run's progress: [run-id]", "1.0.0", "O(1)"),
    CommandSpec::new("migration.list", 1, list)
        .flags(ADMIN | LOADING | STALE)
        .categories(CATS)
        .doc("migration", "The migration runs and their status", "1.0.0", "O(N) runs"),
    CommandSpec::new("migration.pause", -1, pause)
        .flags(ADMIN | NOSCRIPT)
        .categories(CATS)
        .doc("migration", "Pauses copying (tracking goes on): [run-id]", "1.0.0", "O(1)"),
    CommandSpec::new("migration.resume", -1, resume)
        .flags(ADMIN | NOSCRIPT)
        .categories(CATS)
        .doc("migration", "Resumes a paused, failed or stopped run: [run-id]", "1.0.0", "O(1)"),
    CommandSpec::new("migration.abort", -1, abort)
        .flags(ADMIN | NOSCRIPT)
        .categories(CATS)
        .doc("migration", "Aborts a run (and unfreezes the source): [run-id]", "1.0.0", "O(1)"),
    CommandSpec::new("migration.set", -3, set)
        .flags(ADMIN | NOSCRIPT)
        .categories(CATS)
        .doc(
            "migration",
            "Changes a run's throttles from its next batch on: [run-id] SCAN-COUNT|BATCH-KEYS|BATCH-BYTES|MAX-RPS|MAX-CONCURRENCY value ...",
            "1.0.0",
            "O(1)",
        ),
    CommandSpec::new("migration.cutover", -1, cutover)
        .flags(ADMIN | NOSCRIPT | BLOCKING)
        .categories(CATS)
        .doc(
            "migration",
            "Freezes the source's writers (CLIENT PAUSE WRITE), applies the last changes and completes the run; replies when done: [run-id] [FREEZE-MS ms]",
            "1.0.0",
            "O(N) dirty keys",
        ),
    CommandSpec::new("migration.verify", -1, verify_cmd)
        .flags(ADMIN | NOSCRIPT | BLOCKING)
        .categories(CATS)
        .doc(
            "migration",
            "Compares a sample of keys with the source (value and TTL): [run-id] [SAMPLE pct] [TOLERANCE ms]",
            "1.0.0",
            "O(N) sampled keys",
        ),
    CommandSpec::new("migration.preflight", -3, preflight_cmd)
        .flags(ADMIN | NOSCRIPT | BLOCKING)
        .categories(CATS)
        .doc(
            "migration",
            "Looks at a source before migrating it: FROM url [CONFIG-COMMAND name] [CHANNELS keyevent|keyspace]",
            "1.0.0",
            "O(1)",
        ),
];

fn text(b: &Bytes) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn err(msg: impl Into<String>) -> Reply {
    Reply::Error(format!("ERR {}", msg.into()).into())
}

fn config(ctx: &mut Ctx<'_>) -> Option<crate::MigrateConfig> {
    ctx.engine().state::<State>().map(|s| s.config.clone())
}

/// Reads a stored run row.
fn stored(ctx: &mut Ctx<'_>, state_db: u32, run: &str) -> Result<Option<RunRow>, String> {
    ctx.engine()
        .run_internal(state_db, |c| state_keys::load_run(c, run))
}

/// The run a command names, or the one whose task is alive, or the newest.
fn pick(ctx: &mut Ctx<'_>, state_db: u32, named: Option<&str>) -> Result<RunRow, Reply> {
    if let Some(id) = named {
        if let Some(ctl) = ctx
            .engine()
            .state::<State>()
            .and_then(|s| s.runs.get(id))
            .cloned()
        {
            return Ok(ctl.row());
        }
        return match stored(ctx, state_db, id) {
            Ok(Some(row)) => Ok(row),
            Ok(None) => Err(err(format!("no migration run '{id}'"))),
            Err(e) => Err(err(e)),
        };
    }
    let active: Vec<Arc<Control>> = ctx
        .engine()
        .state::<State>()
        .map(|s| s.runs.values().cloned().collect())
        .unwrap_or_default();
    if let Some(ctl) = active.first() {
        return Ok(ctl.row());
    }
    let ids = ctx
        .engine()
        .run_internal(state_db, state_keys::run_ids)
        .map_err(err)?;
    let mut newest: Option<RunRow> = None;
    for id in ids {
        if let Ok(Some(row)) = stored(ctx, state_db, &id) {
            if newest
                .as_ref()
                .is_none_or(|n| row.started_at > n.started_at)
            {
                newest = Some(row);
            }
        }
    }
    newest.ok_or_else(|| err("no migration run (start one with MIGRATION.START FROM redis://...)"))
}

fn start(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let Some(cfg) = config(ctx) else {
        return err("the migrate plugin is not running");
    };
    let args: Vec<String> = argv[1..].iter().map(text).collect();
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut o = match Options::parse(&refs) {
        Ok(o) => o,
        Err(e) => return err(e.0),
    };
    let dest_db = ctx.db();
    if dest_db == cfg.state_db {
        return err(format!(
            "database {dest_db} holds the migration state (plugins.migrate.state_db): SELECT another database to migrate into"
        ));
    }
    if let Some(active) = ctx
        .engine()
        .state::<State>()
        .and_then(|s| s.runs.keys().next().cloned())
    {
        return err(format!(
            "migration run '{active}' is active; MIGRATION.ABORT it or wait until it completes"
        ));
    }
    let now = now_ms();
    let run_id = o.run_id.clone().unwrap_or_else(|| format!("run-{now}"));
    o.run_id = Some(run_id.clone());
    match stored(ctx, cfg.state_db, &run_id) {
        Ok(Some(row)) => {
            return err(format!(
                "migration run '{run_id}' exists (status {}); MIGRATION.RESUME it, or choose another RUN-ID",
                row.status
            ))
        }
        Ok(None) => {}
        Err(e) => return err(e),
    }
    let row = RunRow::new(run_id.clone(), o, dest_db, now);
    if let Err(e) = ctx
        .engine()
        .run_internal(cfg.state_db, |c| state_keys::save_run(c, &row))
    {
        return err(e);
    }
    launch(ctx.engine(), row, false);
    Reply::bulk(Bytes::from(run_id))
}

/// Registers a control block for `row` and asks the supervisor to run it.
pub(crate) fn launch(engine: &mut Engine, row: RunRow, resumed: bool) -> Option<Arc<Control>> {
    let ctl = Control::new(&row);
    let st = engine.state_mut::<State>()?;
    st.runs.insert(row.run_id.clone(), Arc::clone(&ctl));
    let _ = st.tx.send(Msg::Start {
        row,
        ctl: Arc::clone(&ctl),
        resumed,
    });
    Some(ctl)
}

fn named(argv: &[Bytes]) -> Option<String> {
    argv.get(1).map(text)
}

fn status(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let Some(cfg) = config(ctx) else {
        return err("the migrate plugin is not running");
    };
    if argv.len() > 2 {
        return err("syntax: MIGRATION.STATUS [run-id]");
    }
    let row = match pick(ctx, cfg.state_db, named(argv).as_deref()) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let ctl = ctx
        .engine()
        .state::<State>()
        .and_then(|s| s.runs.get(&row.run_id).cloned());
    let run = row.run_id.clone();
    let (sizes, errors, verify) = ctx.engine().run_internal(cfg.state_db, |c| {
        (
            state_keys::registry_sizes(c, &run).unwrap_or((0, 0)),
            state_keys::recent_errors(c, &run, 10).unwrap_or_default(),
            state_keys::last_verify(c, &run).ok().flatten(),
        )
    });
    status_reply(&row, ctl.as_deref(), sizes, errors, verify)
}

/// The fields MIGRATION.STATUS answers with (also what `respite migrate status` prints).
pub fn status_fields(
    row: &RunRow,
    ctl: Option<&Control>,
    (pending, registered): (u64, u64),
    verify: Option<Bytes>,
) -> Vec<(&'static str, String)> {
    let c = &row.counters;
    let (seen_extra, gaps_extra) = ctl.map_or((0, 0), |ctl| {
        (
            ctl.seen.load(std::sync::atomic::Ordering::Relaxed),
            ctl.gaps.load(std::sync::atomic::Ordering::Relaxed),
        )
    });
    let gaps = c.tracker_gaps + gaps_extra;
    let (kps, mbps, eta) = match ctl {
        Some(ctl) => {
            let (t0, k0, b0) = ctl.session;
            let secs = Instant::now().duration_since(t0).as_secs_f64().max(0.001);
            let keys = (c.migrated_keys + c.dirty_keys_applied).saturating_sub(k0) as f64;
            let bytes = c.migrated_bytes.saturating_sub(b0) as f64;
            let kps = keys / secs;
            let left = row.keys_estimate.saturating_sub(c.scanned_keys) as f64;
            let eta = if row.phase == "bulk" && kps > 0.0 {
                format!("{:.0}", left / kps)
            } else {
                String::new()
            };
            (
                format!("{kps:.0}"),
                format!("{:.2}", bytes / secs / 1e6),
                eta,
            )
        }
        None => (String::from("0"), String::from("0.00"), String::new()),
    };
    vec![
        ("run_id", row.run_id.clone()),
        ("source", options::redact(&row.options.source)),
        ("dest_db", row.dest_db.to_string()),
        ("status", row.status.clone()),
        ("phase", row.phase.clone()),
        ("active", (ctl.is_some() as u8).to_string()),
        ("scan_cursor", row.scan_cursor.to_string()),
        ("keys_estimate", row.keys_estimate.to_string()),
        ("scanned_keys", c.scanned_keys.to_string()),
        ("migrated_keys", c.migrated_keys.to_string()),
        ("migrated_bytes", c.migrated_bytes.to_string()),
        ("skipped_keys", c.skipped_keys.to_string()),
        ("skipped_types", row.skipped_types.clone()),
        ("error_keys", c.error_keys.to_string()),
        ("vanished_keys", c.vanished_keys.to_string()),
        (
            "dirty_keys_seen",
            (c.dirty_keys_seen + seen_extra).to_string(),
        ),
        ("dirty_keys_pending", pending.to_string()),
        ("dirty_keys_registered", registered.to_string()),
        ("dirty_keys_applied", c.dirty_keys_applied.to_string()),
        ("dirty_keys_deleted", c.dirty_keys_deleted.to_string()),
        ("tracker_gaps", gaps.to_string()),
        (
            "safety_sweep_recommended",
            if gaps > 0 && row.phase != "done" {
                "yes (the cutover runs it)"
            } else {
                "no"
            }
            .to_string(),
        ),
        ("sweeps", c.sweeps.to_string()),
        ("keys_per_sec", kps),
        ("mb_per_sec", mbps),
        ("eta_sec", eta),
        ("source_frozen", (row.frozen as u8).to_string()),
        ("ttl_mode", row.options.ttl_mode.as_str().to_string()),
        ("max_rps", row.options.max_rps.to_string()),
        ("max_concurrency", row.options.max_concurrency.to_string()),
        ("batch_keys", row.options.batch_keys.to_string()),
        ("scan_count", row.options.scan_count.to_string()),
        ("started_at", row.started_at.to_string()),
        ("checkpoint_at", row.updated_at.to_string()),
        ("last_error", row.last_error.clone()),
        ("last_verify", verify.map(|v| text(&v)).unwrap_or_default()),
    ]
}

fn status_reply(
    row: &RunRow,
    ctl: Option<&Control>,
    sizes: (u64, u64),
    errors: Vec<Bytes>,
    verify: Option<Bytes>,
) -> Reply {
    let mut pairs: Vec<(Reply, Reply)> = status_fields(row, ctl, sizes, verify)
        .into_iter()
        .map(|(k, v)| {
            (
                Reply::bulk(Bytes::from_static(k.as_bytes())),
                Reply::bulk(Bytes::from(v)),
            )
        })
        .collect();
    pairs.push((
        Reply::bulk(Bytes::from_static(b"recent_errors")),
        Reply::Array(errors.into_iter().map(Reply::bulk).collect()),
    ));
    Reply::Map(pairs)
}

fn list(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    let Some(cfg) = config(ctx) else {
        return err("the migrate plugin is not running");
    };
    let ids = match ctx.engine().run_internal(cfg.state_db, state_keys::run_ids) {
        Ok(ids) => ids,
        Err(e) => return err(e),
    };
    let mut out = Vec::new();
    for id in ids {
        let live = ctx
            .engine()
            .state::<State>()
            .and_then(|s| s.runs.get(&id).cloned());
        let row = match live {
            Some(ctl) => Some(ctl.row()),
            None => stored(ctx, cfg.state_db, &id).ok().flatten(),
        };
        if let Some(row) = row {
            out.push(Reply::Array(vec![
                Reply::bulk(Bytes::from(row.run_id)),
                Reply::bulk(Bytes::from(row.status)),
                Reply::bulk(Bytes::from(row.phase)),
            ]));
        }
    }
    Reply::Array(out)
}

fn active(ctx: &mut Ctx<'_>, state_db: u32, argv: &[Bytes]) -> Result<Option<Arc<Control>>, Reply> {
    if argv.len() > 2 {
        return Err(err(format!(
            "syntax: {} [run-id]",
            text(&argv[0]).to_ascii_uppercase()
        )));
    }
    let row = pick(ctx, state_db, named(argv).as_deref())?;
    Ok(ctx
        .engine()
        .state::<State>()
        .and_then(|s| s.runs.get(&row.run_id).cloned()))
}

fn pause(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let Some(cfg) = config(ctx) else {
        return err("the migrate plugin is not running");
    };
    match active(ctx, cfg.state_db, argv) {
        Err(e) => e,
        Ok(None) => err("the run is not active (MIGRATION.RESUME starts it again)"),
        Ok(Some(ctl)) => {
            if ctl.row().phase == "cutover" || lock(&ctl.cutover).is_some() {
                return err("the run is cutting over; it cannot pause now");
            }
            ctl.desired.send_replace(Desired::Pause);
            Reply::ok()
        }
    }
}

fn resume(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let Some(cfg) = config(ctx) else {
        return err("the migrate plugin is not running");
    };
    if argv.len() > 2 {
        return err("syntax: MIGRATION.RESUME [run-id]");
    }
    let row = match pick(ctx, cfg.state_db, named(argv).as_deref()) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let live = ctx
        .engine()
        .state::<State>()
        .and_then(|s| s.runs.get(&row.run_id).cloned());
    if let Some(ctl) = live {
        ctl.desired.send_replace(Desired::Run);
        return Reply::ok();
    }
    if row.finished() {
        return err(format!(
            "migration run '{}' is {}; nothing to resume",
            row.run_id, row.status
        ));
    }
    if let Some(other) = ctx
        .engine()
        .state::<State>()
        .and_then(|s| s.runs.keys().next().cloned())
    {
        return err(format!("migration run '{other}' is active"));
    }
    launch(ctx.engine(), row, true);
    Reply::ok()
}

fn abort(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let Some(cfg) = config(ctx) else {
        return err("the migrate plugin is not running");
    };
    let row = match pick(ctx, cfg.state_db, named(argv).as_deref()) {
        Ok(r) => r,
        Err(e) => return e,
    };
    match active(ctx, cfg.state_db, argv) {
        Err(e) => e,
        Ok(Some(ctl)) => {
            // Also stops a cutover under way, which then unfreezes the source.
            ctl.desired.send_replace(Desired::Abort);
            ctl.cutover_asked.notify_one();
            Reply::ok()
        }
        Ok(None) if row.finished() => err(format!(
            "migration run '{}' is {} already",
            row.run_id, row.status
        )),
        Ok(None) => {
            // Not running (paused across a restart, or failed): abort it in a task of its
            // own, which also unfreezes the source if this run froze it.
            if let Some(ctl) = launch(ctx.engine(), row, false) {
                ctl.desired.send_replace(Desired::Abort);
            }
            Reply::ok()
        }
    }
}

fn set(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let Some(cfg) = config(ctx) else {
        return err("the migrate plugin is not running");
    };
    let args: Vec<String> = argv[1..].iter().map(text).collect();
    // An odd count names the run first.
    let (run, pairs) = if args.len() % 2 == 1 {
        (Some(args[0].as_str()), &args[1..])
    } else {
        (None, &args[..])
    };
    let row = match pick(ctx, cfg.state_db, run) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let live = ctx
        .engine()
        .state::<State>()
        .and_then(|s| s.runs.get(&row.run_id).cloned());
    let mut o = match &live {
        Some(ctl) => lock(&ctl.tuned).clone().unwrap_or(row.options.clone()),
        None => row.options.clone(),
    };
    for pair in pairs.chunks(2) {
        if let Err(e) = o.tune(&pair[0].to_ascii_uppercase(), &pair[1]) {
            return err(e.0);
        }
    }
    match live {
        Some(ctl) => {
            *lock(&ctl.tuned) = Some(o.clone());
            lock(&ctl.latest).options = o;
        }
        None => {
            if row.finished() {
                return err(format!("migration run '{}' is {}", row.run_id, row.status));
            }
            let mut row = row;
            row.options = o;
            if let Err(e) = ctx
                .engine()
                .run_internal(cfg.state_db, |c| state_keys::save_run(c, &row))
            {
                return err(e);
            }
        }
    }
    Reply::ok()
}

fn no_block(_: &mut Engine, _: ClientId, _: Unblock) {}

/// Parks the calling client; an error where it cannot wait (MULTI, scripts).
fn park(ctx: &mut Ctx<'_>, name: &str) -> Result<(), Reply> {
    let parked = ctx.block(BlockSpec {
        deadline: None,
        timeout_reply: Reply::Null,
        on_unblock: no_block,
    });
    if parked {
        Ok(())
    } else {
        Err(err(format!(
            "{name} waits for its result and cannot run inside MULTI or a script"
        )))
    }
}

fn cutover(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let Some(cfg) = config(ctx) else {
        return err("the migrate plugin is not running");
    };
    let mut run = None;
    let mut freeze = cfg.freeze_ms;
    let mut i = 1;
    while i < argv.len() {
        let a = text(&argv[i]);
        if a.eq_ignore_ascii_case("FREEZE-MS") {
            match argv
                .get(i + 1)
                .map(text)
                .and_then(|v| v.parse::<u64>().ok())
            {
                Some(ms) if ms >= 1000 => freeze = ms,
                _ => return err("FREEZE-MS must be an integer of at least 1000"),
            }
            i += 2;
        } else if run.is_none() && i == 1 {
            run = Some(a);
            i += 1;
        } else {
            return err("syntax: MIGRATION.CUTOVER [run-id] [FREEZE-MS ms]");
        }
    }
    let row = match pick(ctx, cfg.state_db, run.as_deref()) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let Some(ctl) = ctx
        .engine()
        .state::<State>()
        .and_then(|s| s.runs.get(&row.run_id).cloned())
    else {
        return err(format!(
            "migration run '{}' is not active ({}); MIGRATION.RESUME it first",
            row.run_id, row.status
        ));
    };
    if !row.options.track {
        return err("the run does not track changes (NO-TRACK): there is no delta to cut over");
    }
    if row.phase != "live" && row.phase != "cutover" {
        return err(format!(
            "the bulk copy has not finished (phase {}); wait until MIGRATION.STATUS says phase live",
            row.phase
        ));
    }
    if ctl.desired() != Desired::Run {
        return err("the run is paused; MIGRATION.RESUME it first");
    }
    if let Err(e) = park(ctx, "MIGRATION.CUTOVER") {
        return e;
    }
    let id = ctx.client_id();
    {
        let mut c = lock(&ctl.cutover);
        match c.as_mut() {
            Some((clients, _)) => clients.push(id),
            None => *c = Some((vec![id], freeze)),
        }
    }
    ctl.cutover_asked.notify_one();
    Reply::Null
}

fn verify_cmd(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let Some(cfg) = config(ctx) else {
        return err("the migrate plugin is not running");
    };
    let mut run = None;
    let mut pct = 100.0;
    let mut tolerance = cfg.verify_tolerance_ms as i64;
    let mut i = 1;
    while i < argv.len() {
        let a = text(&argv[i]);
        let v = argv.get(i + 1).map(text);
        if a.eq_ignore_ascii_case("SAMPLE") {
            match v.as_deref().and_then(parse_pct) {
                Some(p) => pct = p,
                None => {
                    return err(
                        "SAMPLE must be a percentage above 0 and at most 100, such as 5 or 0.5%",
                    )
                }
            }
            i += 2;
        } else if a.eq_ignore_ascii_case("TOLERANCE") {
            match v.and_then(|v| v.parse::<i64>().ok()).filter(|t| *t >= 0) {
                Some(t) => tolerance = t,
                None => return err("TOLERANCE must be a non-negative number of milliseconds"),
            }
            i += 2;
        } else if run.is_none() && i == 1 {
            run = Some(a);
            i += 1;
        } else {
            return err("syntax: MIGRATION.VERIFY [run-id] [SAMPLE pct] [TOLERANCE ms]");
        }
    }
    let row = match pick(ctx, cfg.state_db, run.as_deref()) {
        Ok(r) => r,
        Err(e) => return e,
    };
    if let Err(e) = park(ctx, "MIGRATION.VERIFY") {
        return e;
    }
    let id = ctx.client_id();
    if let Some(st) = ctx.engine().state::<State>() {
        let _ = st.tx.send(Msg::Verify {
            row,
            pct,
            tolerance,
            client: id,
        });
    }
    Reply::Null
}

/// Parses `5`, `5%`, `0.5%` into a percentage in (0, 100].
pub fn parse_pct(s: &str) -> Option<f64> {
    let v: f64 = s.trim().trim_end_matches('%').parse().ok()?;
    (v > 0.0 && v <= 100.0).then_some(v)
}

/// VERIFY's reply.
pub(crate) fn verify_reply(r: &Result<verify::Outcome, String>) -> Reply {
    match r {
        Err(e) => err(format!("verify failed: {e}")),
        Ok(o) => {
            let b = |s: &str| Reply::bulk(Bytes::copy_from_slice(s.as_bytes()));
            Reply::Map(vec![
                (b("checked"), Reply::Integer(o.checked as i64)),
                (b("mismatches"), Reply::Integer(o.mismatches as i64)),
                (b("missing"), Reply::Integer(o.missing as i64)),
                (b("extra"), Reply::Integer(o.extra as i64)),
                (
                    b("examples"),
                    Reply::Array(o.examples.iter().map(|e| b(e)).collect()),
                ),
            ])
        }
    }
}

fn preflight_cmd(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let args: Vec<String> = argv[1..].iter().map(text).collect();
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = match Options::parse(&refs) {
        Ok(o) => o,
        Err(e) => return err(e.0),
    };
    if let Err(e) = park(ctx, "MIGRATION.PREFLIGHT") {
        return e;
    }
    let id = ctx.client_id();
    if let Some(st) = ctx.engine().state::<State>() {
        let _ = st.tx.send(Msg::Preflight {
            options: o,
            client: id,
        });
    }
    Reply::Null
}

/// The lines of a preflight report.
pub fn preflight_lines(r: &preflight::Report) -> Vec<(&'static str, String)> {
    vec![
        ("keys", r.keys.to_string()),
        (
            "type_sample",
            r.types
                .iter()
                .map(|(t, n)| format!("{t}:{n}"))
                .collect::<Vec<_>>()
                .join(","),
        ),
        ("unsupported_types", r.unsupported.join(",")),
        (
            "notify_keyspace_events",
            r.notify.clone().unwrap_or_else(|| "unknown".into()),
        ),
        ("notify_missing", r.notify_missing.clone()),
        (
            "config",
            r.config_error.clone().unwrap_or_else(|| "ok".into()),
        ),
        ("recommended_max_concurrency", r.concurrency.to_string()),
        ("recommended_scan_count", r.scan_count.to_string()),
    ]
}

/// PREFLIGHT's reply.
pub(crate) fn preflight_reply(r: &Result<preflight::Report, String>) -> Reply {
    match r {
        Err(e) => err(e.clone()),
        Ok(rep) => Reply::Map(
            preflight_lines(rep)
                .into_iter()
                .map(|(k, v)| {
                    (
                        Reply::bulk(Bytes::from_static(k.as_bytes())),
                        Reply::bulk(Bytes::from(v)),
                    )
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages() {
        assert_eq!(parse_pct("100%"), Some(100.0));
        assert_eq!(parse_pct("0.5%"), Some(0.5));
        assert_eq!(parse_pct("5"), Some(5.0));
        assert_eq!(parse_pct("0"), None);
        assert_eq!(parse_pct("101"), None);
        assert_eq!(parse_pct("x"), None);
    }
}
