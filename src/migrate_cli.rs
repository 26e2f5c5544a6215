//! `respite migrate STEP --from URL --to PATH [options]`: the offline front end of the
//! migrate plugin. It opens PATH in an embedded server (loopback, ephemeral port, the
//! migrate plugin enabled), hands the plugin the step to run, shows progress (bars on a
//! terminal, log lines otherwise) and exits when the step is done: 0 on success, 1 on a
//! failure (a failed or interrupted run is resumable by running the step again).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use respite_core::config::{Config, Overrides};
use respite_migrate::offline::{self, Progress, Step};
use respite_migrate::options::Options;

/// The steps (SPEC_F's tool, plus track and cutover).
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum StepName {
    /// Key count, type sample, notify-keyspace-events, CONFIG, recommendations.
    Preflight,
    /// Track changes and copy, then keep applying them until interrupted (Ctrl-C).
    Track,
    /// Copy every key (tracking changes meanwhile); resumable.
    Bulk,
    /// Finish the copy if needed, then apply the changed keys until none is left.
    ApplyDirty,
    /// Freeze the source's writers, apply the last changes, complete the run.
    Cutover,
    /// The run's progress and recent errors.
    Status,
    /// Compare a sample of keys with the source (value and TTL).
    Verify,
    /// Mark the run paused.
    Pause,
    /// Mark a paused or failed run running.
    Resume,
    /// Abort the run (unfreezing the source if the cutover froze it).
    Abort,
    /// Set notify-keyspace-events on the source as tracking needs it.
    EnableNotifications,
}

/// `respite migrate` flags.
#[derive(Args, Debug)]
pub struct MigrateArgs {
    /// What to do.
    pub step: StepName,
    /// The source: redis://[user:pass@]host:port[/db].
    #[arg(long, value_name = "URL")]
    pub from: Option<String>,
    /// The Respite SQLite file to migrate into.
    #[arg(long, value_name = "PATH")]
    pub to: PathBuf,
    /// The run's name.
    #[arg(long, default_value = "default")]
    pub run_id: String,
    /// Database to write into (in the file).
    #[arg(long, default_value_t = 0)]
    pub db: u32,
    /// SCAN's COUNT hint.
    #[arg(long)]
    pub scan_count: Option<u32>,
    /// Fetch pipelines in flight.
    #[arg(long)]
    pub max_concurrency: Option<u32>,
    /// Keys read per second at most (0: unlimited).
    #[arg(long)]
    pub max_rps: Option<u32>,
    /// Keys per batch.
    #[arg(long)]
    pub batch_keys: Option<u32>,
    /// Bytes per batch (64MB, 512KB, ...).
    #[arg(long)]
    pub batch_bytes: Option<String>,
    /// preserve or drop.
    #[arg(long)]
    pub ttl_mode: Option<String>,
    /// keyevent or keyspace.
    #[arg(long)]
    pub channels: Option<String>,
    /// The source's CONFIG command, if renamed.
    #[arg(long)]
    pub config_command: Option<String>,
    /// Set notify-keyspace-events on the source when tracking needs more.
    #[arg(long)]
    pub enable_notifications: bool,
    /// A one-shot copy without tracking changes.
    #[arg(long)]
    pub no_track: bool,
    /// Accepted for SPEC_F's tool: runs always resume from their checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// verify: share of keys (percent: 100, 5, 0.5%).
    #[arg(long, default_value = "100")]
    pub sample: String,
    /// verify: how far apart expiry times may be (ms).
    #[arg(long, default_value_t = 2000)]
    pub tolerance: i64,
    /// cutover: how long the source stays frozen (ms).
    #[arg(long, default_value_t = 60_000)]
    pub freeze_ms: u64,
}

fn options(a: &MigrateArgs) -> Result<Options, String> {
    let mut argv: Vec<String> = Vec::new();
    let mut opt = |name: &str, v: Option<String>| {
        if let Some(v) = v {
            argv.push(name.into());
            argv.push(v);
        }
    };
    opt(
        "FROM",
        Some(a.from.clone().unwrap_or_else(|| "redis://unset".into())),
    );
    opt("SCAN-COUNT", a.scan_count.map(|v| v.to_string()));
    opt("MAX-CONCURRENCY", a.max_concurrency.map(|v| v.to_string()));
    opt("MAX-RPS", a.max_rps.map(|v| v.to_string()));
    opt("BATCH-KEYS", a.batch_keys.map(|v| v.to_string()));
    opt("BATCH-BYTES", a.batch_bytes.clone());
    opt("TTL-MODE", a.ttl_mode.clone());
    opt("CHANNELS", a.channels.clone());
    opt("CONFIG-COMMAND", a.config_command.clone());
    opt("RUN-ID", Some(a.run_id.clone()));
    if a.enable_notifications {
        argv.push("ENABLE-NOTIFICATIONS".into());
    }
    if a.no_track {
        argv.push("NO-TRACK".into());
    }
    let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
    let mut o = Options::parse(&refs).map_err(|e| e.0)?;
    if a.from.is_none() {
        o.source = String::new();
    }
    Ok(o)
}

/// Runs `respite migrate ...`.
pub fn main(args: MigrateArgs, config: Option<PathBuf>) -> ExitCode {
    let needs_source = matches!(
        args.step,
        StepName::Preflight | StepName::EnableNotifications
    );
    if needs_source && args.from.is_none() {
        eprintln!("respite migrate: --from redis://host:port is required for this step");
        return ExitCode::from(2);
    }
    let o = match options(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("respite migrate: {e}");
            return ExitCode::from(2);
        }
    };
    let step = match args.step {
        StepName::Preflight => Step::Preflight,
        StepName::Track => Step::Track,
        StepName::Bulk => Step::Bulk,
        StepName::ApplyDirty => Step::ApplyDirty,
        StepName::Cutover => Step::Cutover {
            freeze_ms: args.freeze_ms.max(1000),
        },
        StepName::Status => Step::Status,
        StepName::Verify => match respite_migrate::commands::parse_pct(&args.sample) {
            Some(pct) => Step::Verify {
                pct,
                tolerance: args.tolerance.max(0),
            },
            None => {
                eprintln!("respite migrate: --sample must be a percentage above 0 and at most 100");
                return ExitCode::from(2);
            }
        },
        StepName::Pause => Step::Pause,
        StepName::Resume => Step::Resume,
        StepName::Abort => Step::Abort,
        StepName::EnableNotifications => Step::EnableNotifications,
    };
    let overrides = Overrides {
        config,
        bind: Some("127.0.0.1".into()),
        port: Some(0),
        db: Some(args.to.to_string_lossy().into_owned()),
    };
    let mut loaded = match Config::load(&overrides) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("respite migrate: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    if !loaded.config.plugins.enabled.iter().any(|p| p == "migrate") {
        loaded.config.plugins.enabled.push("migrate".into());
    }
    init_logging();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let tune: Vec<(String, String)> = [
        ("SCAN-COUNT", args.scan_count.map(|v| v.to_string())),
        (
            "MAX-CONCURRENCY",
            args.max_concurrency.map(|v| v.to_string()),
        ),
        ("MAX-RPS", args.max_rps.map(|v| v.to_string())),
        ("BATCH-KEYS", args.batch_keys.map(|v| v.to_string())),
        ("BATCH-BYTES", args.batch_bytes.clone()),
    ]
    .into_iter()
    .filter_map(|(k, v)| Some((k.to_string(), v?)))
    .collect();
    offline::submit(offline::Job {
        step,
        run_id: args.run_id.clone(),
        options: o,
        dest_db: args.db,
        tune,
        progress: progress_reporter(),
        done: done_tx,
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("respite migrate: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome: Arc<Mutex<Option<Result<String, String>>>> = Arc::new(Mutex::new(None));
    let slot = Arc::clone(&outcome);
    let served = runtime.block_on(async move {
        let stop = async move {
            tokio::select! {
                r = done_rx => {
                    if let Ok(r) = r {
                        *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
                    }
                }
                _ = tokio::signal::ctrl_c() => {
                    eprintln!("respite migrate: interrupted; the run stays resumable from its last checkpoint");
                }
            }
        };
        respite_core::server::run(loaded, false, None, stop, None).await
    });
    if let Err(e) = served {
        eprintln!("respite migrate: {e}");
        return ExitCode::FAILURE;
    }
    let outcome = outcome.lock().unwrap_or_else(|p| p.into_inner()).take();
    match outcome {
        Some(Ok(text)) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Some(Err(text)) => {
            eprint!("respite migrate: {text}");
            if !text.ends_with('\n') {
                eprintln!();
            }
            ExitCode::FAILURE
        }
        None => ExitCode::FAILURE,
    }
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// Bars on a terminal; a log line every few seconds otherwise.
fn progress_reporter() -> Box<dyn Fn(&Progress) + Send + Sync> {
    if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} keys ({per_sec}, ETA {eta}) {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let started = Instant::now();
        Box::new(move |p: &Progress| {
            let c = &p.row.counters;
            bar.set_length(p.row.keys_estimate.max(c.scanned_keys));
            bar.set_position(c.scanned_keys);
            let secs = started.elapsed().as_secs_f64().max(0.001);
            bar.set_message(format!(
                "{} | {:.1} MB/s | dirty applied {} deleted {} | errors {}",
                p.row.phase,
                c.migrated_bytes as f64 / secs / 1e6,
                c.dirty_keys_applied,
                c.dirty_keys_deleted,
                c.error_keys
            ));
            if p.row.status != "running" {
                bar.finish();
            }
        })
    } else {
        let last = Mutex::new(Instant::now() - Duration::from_secs(10));
        Box::new(move |p: &Progress| {
            let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
            if last.elapsed() < Duration::from_secs(2) && p.row.status == "running" {
                return;
            }
            *last = Instant::now();
            let c = &p.row.counters;
            eprintln!(
                "migrate: run={} status={} phase={} scanned={}/{} migrated={} bytes={} dirty_applied={} dirty_deleted={} errors={}",
                p.row.run_id,
                p.row.status,
                p.row.phase,
                c.scanned_keys,
                p.row.keys_estimate,
                c.migrated_keys,
                c.migrated_bytes,
                c.dirty_keys_applied,
                c.dirty_keys_deleted,
                c.error_keys
            );
        })
    }
}
