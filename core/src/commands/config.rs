//! CONFIG GET / SET / RESETSTAT / REWRITE.

use bytes::Bytes;

use super::help_reply;
use super::table::{flags::*, CommandSpec};
use crate::engine::{Ctx, Engine};
use crate::keyspace::Encodings;
use crate::protocol::Reply;

const CATS: &[&str] = &["admin", "slow", "dangerous"];

/// CONFIG.
pub static COMMANDS: &[CommandSpec] = &[CommandSpec::container("config", -2)
    .categories(&["slow"])
    .doc(
        "server",
        "A container for server configuration commands.",
        "2.0.0",
        "O(1)",
    )
    .subcommands(&[
        CommandSpec::new("get", -3, config_get)
            .flags(ADMIN | NOSCRIPT | LOADING | STALE)
            .categories(CATS)
            .doc(
                "server",
                "Returns the effective values of configuration parameters.",
                "1.0.0",
                "O(1)",
            ),
        CommandSpec::new("set", -4, config_set)
            .flags(ADMIN | NOSCRIPT | LOADING | STALE)
            .categories(CATS)
            .doc(
                "server",
                "Sets configuration parameters in-flight.",
                "1.0.0",
                "O(1)",
            ),
        CommandSpec::new("resetstat", 2, config_resetstat)
            .flags(ADMIN | NOSCRIPT | LOADING | STALE)
            .categories(CATS)
            .doc("server", "Resets the server's statistics.", "1.0.0", "O(1)"),
        CommandSpec::new("rewrite", 2, config_rewrite)
            .flags(ADMIN | NOSCRIPT | LOADING | STALE)
            .categories(CATS)
            .doc(
                "server",
                "Persists the effective configuration to file.",
                "1.0.0",
                "O(1)",
            ),
        CommandSpec::new("help", 2, config_help)
            .flags(LOADING | STALE)
            .categories(&["slow"])
            .doc(
                "server",
                "Returns helpful text about the different subcommands.",
                "1.0.0",
                "O(1)",
            ),
    ])];

fn config_get(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let patterns: Vec<&[u8]> = argv[2..].iter().map(|b| &b[..]).collect();
    Reply::Map(
        ctx.engine
            .config
            .get_params(&patterns)
            .into_iter()
            .map(|(k, v)| (Reply::Bulk(Bytes::from(k)), Reply::Bulk(Bytes::from(v))))
            .collect(),
    )
}

fn config_set(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    if argv.len() % 2 != 0 {
        return super::err_syntax();
    }
    let pairs: Vec<(&[u8], &[u8])> = argv[2..]
        .chunks(2)
        .map(|p| (&p[0][..], &p[1][..]))
        .collect();
    let before = ctx.engine.config.clone();
    if let Err(msg) = ctx.engine.config.set_params(&pairs) {
        return Reply::Error(format!("ERR {msg}").into());
    }
    if let Err(msg) = apply_config(ctx.engine, &before) {
        ctx.engine.config = before;
        return Reply::Error(format!("ERR {msg}").into());
    }
    Reply::ok()
}

/// SIGHUP: reads the configuration file (with the `RESPITE_*` environment) again and applies
/// every setting that CONFIG SET may change and that differs from the running value, as one
/// CONFIG SET would (all or nothing). Returns the names of the parameters changed; without a
/// file there is nothing to read.
pub(crate) fn reload_from_file(engine: &mut Engine) -> Result<Vec<&'static str>, String> {
    let Some(file) = engine.config_file.clone() else {
        return Ok(Vec::new());
    };
    let overrides = crate::config::Overrides {
        config: Some(file),
        ..Default::default()
    };
    let fresh = crate::config::Config::load(&overrides)
        .map_err(|e| e.to_string())?
        .config;
    let changed: Vec<(&'static str, String)> = crate::config::params()
        .iter()
        .filter(|p| p.mutable && p.in_file())
        .filter(|p| (p.get)(&fresh) != (p.get)(&engine.config))
        .map(|p| (p.name, (p.get)(&fresh)))
        .collect();
    if changed.is_empty() {
        return Ok(Vec::new());
    }
    let pairs: Vec<(&[u8], &[u8])> = changed
        .iter()
        .map(|(name, value)| (name.as_bytes(), value.as_bytes()))
        .collect();
    let before = engine.config.clone();
    engine.config.set_params(&pairs)?;
    if let Err(e) = apply_config(engine, &before) {
        engine.config = before;
        return Err(e);
    }
    Ok(changed.into_iter().map(|(name, _)| name).collect())
}

/// Carries a changed configuration over to the running server.
fn apply_config(engine: &mut Engine, before: &crate::config::Config) -> Result<(), String> {
    let now = &engine.config;
    if now.storage.synchronous != before.storage.synchronous {
        engine
            .keyspace
            .store_mut()
            .set_synchronous(now.storage.synchronous)
            .map_err(|e| {
                format!("CONFIG SET failed (possibly related to argument 'synchronous') - {e}")
            })?;
    }
    // A new size drops any loan (see `engine/page_cache.rs`): the next cron lends again.
    if now.storage.page_cache_budget() != before.storage.page_cache_budget()
        || now.storage.page_cache_bytes != before.storage.page_cache_bytes
    {
        engine
            .keyspace
            .store_mut()
            .set_page_cache_bytes(now.storage.page_cache_budget())
            .map_err(|e| {
                format!("CONFIG SET failed (possibly related to argument 'page-cache-bytes') - {e}")
            })?;
        engine.page_cache_bytes = now.storage.page_cache_budget();
    }
    if now.storage.filter_budget() != before.storage.filter_budget() {
        engine
            .keyspace
            .store_mut()
            .set_filter_max_bytes(now.storage.filter_budget());
    }
    if now.storage.row_window_budget() != before.storage.row_window_budget() {
        engine
            .keyspace
            .store_mut()
            .set_row_window_bytes(now.storage.row_window_budget());
    }
    engine
        .keyspace
        .set_cache_max_bytes(now.storage.hot_cache_budget());
    engine
        .keyspace
        .set_encodings(Encodings::from_config(&now.storage));
    let number = |name: &str| {
        now.redis_param(name)
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let (slower_than, max_len) = (number("slowlog-log-slower-than"), number("slowlog-max-len"));
    engine
        .slowlog
        .configure(slower_than, usize::try_from(max_len).unwrap_or(usize::MAX));
    if now.log.level != before.log.level {
        let applied = match &engine.log_level_hook {
            Some(hook) => hook(&now.log.level),
            None => Err("the log level cannot be changed in this process".to_string()),
        };
        applied.map_err(|e| {
            format!("CONFIG SET failed (possibly related to argument 'loglevel') - {e}")
        })?;
    }
    if now.tls != before.tls {
        if let Some(hook) = &engine.tls_reload_hook {
            let changed = crate::config::params()
                .iter()
                .filter(|p| p.name.starts_with("tls-"))
                .find(|p| (p.get)(now) != (p.get)(before))
                .map_or("tls-cert-file", |p| p.name);
            hook(&now.tls).map_err(|e| {
                format!(
                    "CONFIG SET failed (possibly related to argument '{changed}') - Unable to \
                     update TLS configuration: {e}"
                )
            })?;
        }
    }
    let requirepass_changed = now.server.requirepass != before.server.requirepass;
    engine.shared.apply(now);
    if requirepass_changed {
        engine.acl_requirepass_changed();
    }
    let log_max = engine.acl_log_max_len();
    engine.acl.log.trim(log_max);
    engine.apply_latency_config();
    engine.apply_eviction_config();
    engine.pubsub.limits = engine.config.server.buffer_limits();
    if engine.config.server.notify_keyspace_events != before.server.notify_keyspace_events {
        engine.apply_notify_config();
    }
    Ok(())
}

fn config_resetstat(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    ctx.engine.reset_stats();
    Reply::ok()
}

fn config_rewrite(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    let Some(file) = ctx.engine.config_file.clone() else {
        return Reply::error("ERR The server is running without a config file");
    };
    match ctx.engine.config.rewrite(&file) {
        Ok(()) => {
            tracing::info!(file = %file.display(), "CONFIG REWRITE executed with success");
            Reply::ok()
        }
        Err(e) => Reply::Error(format!("ERR Rewriting config file: {e}").into()),
    }
}

fn config_help(_ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    help_reply(
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    )
}
