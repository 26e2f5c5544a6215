//! The `respite` binary: parses flags, loads the configuration, and runs the server.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use respite_core::config::{Config, Overrides};

// Built-in plugins: each plugin crate registers itself with `inventory::submit!`, and naming
// the crate here is what makes the linker keep it. Third-party plugins need no line here
// (see MODULE LOAD).
use respite_blocking as _;
use respite_search as _;
use respite_sync as _;
use respite_writebehind as _;

mod migrate_cli;

/// jemalloc, whose statistics INFO memory and MEMORY STATS report (C's malloc too, so SQLite's
/// and Lua's memory counts).
#[cfg(all(unix, not(target_env = "musl")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read before `main` (the `MALLOC_CONF` environment variable, read
/// after, overrides them). By default jemalloc keeps freed pages resident for 10 s and only
/// returns them when the arena that freed them allocates again, so a cache that churns
/// (evicting and loading values on every thread) held 10 to 20 MB of dirty pages beyond its
/// budget; a background thread returns them within a quarter of a second, off the executor,
/// as Redis's `jemalloc-bg-thread` does.
#[cfg(all(target_os = "linux", not(target_env = "musl")))]
#[export_name = "malloc_conf"]
pub static MALLOC_CONF: &[u8; 42] = b"background_thread:true,dirty_decay_ms:250\0";

/// A Redis-compatible server backed by SQLite.
#[derive(Parser, Debug)]
#[command(name = "respite", version, about, disable_version_flag = true)]
struct Args {
    /// Print the version and exit.
    #[arg(short = 'v', short_alias = 'V', long, action = clap::ArgAction::Version)]
    version: (),
    /// TOML configuration file (default: config/respite.toml when it exists).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address(es) to listen on, space-separated (overrides server.bind).
    #[arg(long, value_name = "ADDR")]
    bind: Option<String>,
    /// TCP port; 0 picks a free one (overrides server.port).
    #[arg(long, value_name = "N")]
    port: Option<u16>,
    /// SQLite file, or `:memory:` for a throw-away store (overrides storage.path).
    #[arg(long, value_name = "PATH")]
    db: Option<String>,
    /// Print the effective configuration and exit (non-zero if it is invalid).
    #[arg(long)]
    check_config: bool,
    #[command(subcommand)]
    command: Option<Sub>,
}

/// Tools that run instead of the server.
#[derive(clap::Subcommand, Debug)]
enum Sub {
    /// Migrate a live Redis into a Respite file (preflight, bulk, apply-dirty, cutover, verify, ...).
    Migrate(migrate_cli::MigrateArgs),
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Sub::Migrate(m)) = args.command {
        return migrate_cli::main(m, args.config);
    }
    let overrides = Overrides {
        config: args.config,
        bind: args.bind,
        port: args.port,
        db: args.db,
    };
    let loaded = match Config::load(&overrides) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("respite: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    if args.check_config {
        if let Some(file) = &loaded.file {
            println!("# effective configuration (file: {})", file.display());
        } else {
            println!("# effective configuration (built-in defaults, no file)");
        }
        print!("{}", loaded.config.to_toml());
        return ExitCode::SUCCESS;
    }
    let log_level = init_logging(&loaded.config.log.level, &loaded.config.log.format);
    let inline = loaded.config.server.inline_executor();
    let workers = if inline {
        1
    } else {
        loaded.config.server.effective_io_threads()
    };
    let runtime = match respite_core::server::runtime::builder(workers).build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("respite: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        // Installed before the server says it is ready, so a signal sent right after the Ready
        // line still shuts it down gracefully.
        let stop = shutdown_signal().map_err(|e| (e, 1))?;
        let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .map_err(|e| (format!("cannot handle SIGHUP: {e}"), 1))?;
        respite_core::server::run(loaded, inline, Some(log_level), stop, Some(hangup))
            .await
            .map_err(|e| (e.to_string(), e.exit_code()))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err((e, code)) => {
            tracing::error!("{e}");
            eprintln!("respite: {e}");
            ExitCode::from(code)
        }
    }
}

/// Logs to standard error at `level`, as text or as one JSON object a line (`format`);
/// returns the hook CONFIG SET loglevel uses to change the level.
fn init_logging(level: &str, format: &str) -> respite_core::server::LogLevelHook {
    use tracing_subscriber::prelude::*;
    use tracing_subscriber::{fmt, reload, EnvFilter};
    // RUST_LOG, when set, refines the configured level (e.g. RUST_LOG=respite_core=debug).
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let (filter, handle) = reload::Layer::new(filter);
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let json = format == "json";
    tracing_subscriber::registry()
        .with(filter)
        .with(json.then(|| fmt::layer().json().with_writer(std::io::stderr)))
        .with((!json).then(|| fmt::layer().with_writer(std::io::stderr).with_ansi(ansi)))
        .init();
    std::sync::Arc::new(move |level: &str| {
        handle
            .reload(EnvFilter::new(level))
            .map_err(|e| e.to_string())
    })
}

/// Registers SIGINT and SIGTERM handlers now and returns a future that resolves on either.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, String> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt =
        signal(SignalKind::interrupt()).map_err(|e| format!("cannot handle SIGINT: {e}"))?;
    let mut terminate =
        signal(SignalKind::terminate()).map_err(|e| format!("cannot handle SIGTERM: {e}"))?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}
