//! Server commands: INFO, DBSIZE, FLUSHDB, FLUSHALL, TIME, SHUTDOWN.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::connection::REDIS_VERSION;
use super::table::{flags::*, CommandSpec};
use super::{eq_ci, err_store, err_syntax};
use crate::engine::client::ReplyMode;
use crate::engine::{Ctx, Engine};
use crate::events::class;
use crate::protocol::Reply;

/// Server commands.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("info", -1, info)
        .flags(LOADING | STALE)
        .categories(&["slow", "dangerous"])
        .doc(
            "server",
            "Returns information and statistics about the server.",
            "1.0.0",
            "O(1)",
        ),
    CommandSpec::new("dbsize", 1, dbsize)
        .flags(READONLY | FAST)
        .categories(&["keyspace", "read", "fast"])
        .doc(
            "server",
            "Returns the number of keys in the database.",
            "1.0.0",
            "O(1)",
        ),
    CommandSpec::new("flushdb", -1, flushdb)
        .flags(WRITE)
        .categories(&["keyspace", "write", "slow", "dangerous"])
        .doc(
            "server",
            "Removes all keys from the current database.",
            "1.0.0",
            "O(N) where N is the number of keys in the selected database",
        ),
    CommandSpec::new("flushall", -1, flushall)
        .flags(WRITE)
        .categories(&["keyspace", "write", "slow", "dangerous"])
        .doc(
            "server",
            "Removes all keys from all databases.",
            "1.0.0",
            "O(N) where N is the total number of keys in all databases",
        ),
    CommandSpec::new("time", 1, time)
        .flags(LOADING | STALE | FAST)
        .categories(&["fast"])
        .doc("server", "Returns the server time.", "2.6.0", "O(1)"),
    CommandSpec::new("shutdown", -1, shutdown)
        .flags(ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY)
        .categories(&["admin", "slow", "dangerous"])
        .doc(
            "server",
            "Synchronously saves the database(s) to disk and shuts down the Redis server.",
            "1.0.0",
            "O(N) when saving, where N is the total number of keys in all databases",
        ),
];

fn dbsize(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    let db = ctx.db();
    match ctx.engine.keyspace.dbsize(db) {
        Ok(n) => Reply::Integer(n as i64),
        Err(e) => err_store(&e),
    }
}

/// FLUSHDB/FLUSHALL take an optional ASYNC or SYNC; both are synchronous here, since the
/// rows are removed inside the batch's transaction.
fn flush_mode_ok(argv: &[Bytes]) -> bool {
    match argv.len() {
        1 => true,
        2 => eq_ci(&argv[1], "async") || eq_ci(&argv[1], "sync"),
        _ => false,
    }
}

fn flushdb(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    if !flush_mode_ok(argv) {
        return err_syntax();
    }
    let db = ctx.db();
    match ctx.engine.keyspace.flush_db(db) {
        Ok(()) => {
            ctx.notify(class::DB_FLUSHED, "flushdb", b"");
            ctx.engine.invalidate_all(ctx.client);
            Reply::ok()
        }
        Err(e) => err_store(&e),
    }
}

fn flushall(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    if !flush_mode_ok(argv) {
        return err_syntax();
    }
    match ctx.engine.keyspace.flush_all() {
        Ok(()) => {
            if ctx.engine.events.wants(class::DB_FLUSHED) {
                for db in 0..ctx.engine.keyspace.databases() {
                    ctx.engine
                        .events
                        .emit(db, class::DB_FLUSHED, "flushall", b"");
                }
            }
            ctx.engine.invalidate_all(ctx.client);
            Reply::ok()
        }
        Err(e) => err_store(&e),
    }
}

fn time(_ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(now.as_secs().to_string())),
        Reply::Bulk(Bytes::from(now.subsec_micros().to_string())),
    ])
}

fn shutdown(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    for arg in &argv[1..] {
        if eq_ci(arg, "abort") {
            return Reply::error("ERR No shutdown in progress.");
        }
        // SAVE/NOSAVE make no difference: every acknowledged write is already in the store.
        if !["nosave", "save", "now", "force"]
            .iter()
            .any(|o| eq_ci(arg, o))
        {
            return err_syntax();
        }
    }
    tracing::info!(client = ctx.client.id, "SHUTDOWN requested");
    ctx.engine.shutdown_requested = true;
    // Redis answers a successful SHUTDOWN by closing the connection, without a reply.
    ctx.client.reply_mode = ReplyMode::SkipNext;
    ctx.client.close_after_reply = true;
    Reply::ok()
}

/// Sections `INFO` prints with no argument (Redis's "default").
const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "keyspace",
];

/// Every section, in output order.
pub const ALL_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "commandstats",
    "latencystats",
    "keyspace",
];

fn info(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let mut wanted: Vec<String> = Vec::new();
    let core = |list: &[&str], wanted: &mut Vec<String>| {
        wanted.extend(list.iter().map(|s| s.to_string()));
    };
    if argv.len() == 1 {
        core(DEFAULT_SECTIONS, &mut wanted);
    }
    for arg in &argv[1..] {
        let arg = String::from_utf8_lossy(arg).to_ascii_lowercase();
        match arg.as_str() {
            "default" => core(DEFAULT_SECTIONS, &mut wanted),
            // As in Redis, `all` and the default leave out the sections of modules (plugins);
            // `everything` and `modules` have them too.
            "all" => core(ALL_SECTIONS, &mut wanted),
            "everything" => {
                core(ALL_SECTIONS, &mut wanted);
                wanted.extend(ctx.engine.info.own_sections());
            }
            "modules" => {
                wanted.push(arg.clone());
                wanted.extend(ctx.engine.info.own_sections());
            }
            other => {
                if ALL_SECTIONS.contains(&other) || ctx.engine.info.has_section(other) {
                    wanted.push(other.to_string());
                }
            }
        }
    }
    let wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
    Reply::Verbatim {
        format: *b"txt",
        text: Bytes::from(info_text(ctx.engine, &wanted)),
    }
}

/// The INFO text of the given sections: the core's in INFO's order, then those contributed
/// from above (plugins) in registration order.
pub fn info_text(engine: &mut Engine, sections: &[&str]) -> String {
    let mut out = String::new();
    for section in ALL_SECTIONS.iter().filter(|s| sections.contains(s)) {
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        write_section(engine, section, &mut out);
        engine.write_info_contributions(section, &mut out);
    }
    for section in engine.info.own_sections() {
        if sections.contains(&section.as_str()) {
            if !out.is_empty() {
                out.push_str("\r\n");
            }
            engine.write_info_contributions(&section, &mut out);
        }
    }
    out
}

/// `INFO everything`: what the metrics endpoint renders.
pub fn info_everything(engine: &mut Engine) -> String {
    let mut sections: Vec<String> = ALL_SECTIONS.iter().map(|s| s.to_string()).collect();
    sections.extend(engine.info.own_sections());
    let sections: Vec<&str> = sections.iter().map(String::as_str).collect();
    info_text(engine, &sections)
}

/// A byte count as INFO's `_human` fields write it (`1.50M`).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: &[(&str, f64)] = &[("G", 1073741824.0), ("M", 1048576.0), ("K", 1024.0)];
    for (unit, size) in UNITS {
        if bytes as f64 >= *size {
            return format!("{:.2}{unit}", bytes as f64 / size);
        }
    }
    format!("{bytes}B")
}

/// Physical memory of the machine (`total_system_memory`), 0 where unknown.
fn total_system_memory() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let (pages, size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    if pages > 0 && size > 0 {
        pages as u64 * size as u64
    } else {
        0
    }
}

/// User and system CPU seconds of the process.
fn cpu_times() -> (f64, f64) {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    if rc != 0 {
        return (0.0, 0.0);
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(usage.ru_utime), secs(usage.ru_stime))
}

fn file_size(path: &str) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

fn write_section(engine: &mut Engine, section: &str, out: &mut String) {
    let shared = &engine.shared;
    let line = |out: &mut String, k: &str, v: &dyn std::fmt::Display| {
        let _ = write!(out, "{k}:{v}\r\n");
    };
    match section {
        "server" => {
            out.push_str("# Server\r\n");
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            let uptime = engine.started.elapsed().as_secs();
            line(out, "redis_version", &REDIS_VERSION);
            line(out, "respite_version", &env!("CARGO_PKG_VERSION"));
            line(out, "redis_git_sha1", &"00000000");
            line(out, "redis_git_dirty", &0);
            line(out, "redis_mode", &"standalone");
            line(
                out,
                "os",
                &format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            );
            line(out, "arch_bits", &(usize::BITS));
            line(out, "multiplexing_api", &"tokio");
            line(out, "process_id", &std::process::id());
            line(out, "run_id", &run_id(engine.started_unix));
            line(out, "tcp_port", &shared.tcp_port.load(Ordering::Relaxed));
            line(out, "server_time_usec", &now.as_micros());
            line(out, "uptime_in_seconds", &uptime);
            line(out, "uptime_in_days", &(uptime / 86400));
            line(out, "hz", &10);
            line(
                out,
                "executable",
                &std::env::current_exe()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            );
            line(
                out,
                "config_file",
                &engine
                    .config_file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            );
        }
        "clients" => {
            out.push_str("# Clients\r\n");
            line(
                out,
                "connected_clients",
                &shared.connected_clients.load(Ordering::Relaxed),
            );
            line(out, "cluster_connections", &0);
            line(out, "maxclients", &engine.config.server.maxclients);
            line(out, "blocked_clients", &engine.blocked.len());
            line(out, "tracking_clients", &engine.tracking.client_count());
            line(out, "pubsub_clients", &engine.pubsub.client_count());
            line(
                out,
                "clients_in_timeout_table",
                &engine.blocked.with_deadline(),
            );
        }
        "memory" => {
            out.push_str("# Memory\r\n");
            let mem = engine.stats.memory();
            let cache = engine.keyspace.cache_bytes() as u64;
            let overhead = mem.used.saturating_sub(cache);
            let pct = |part: u64, whole: u64| {
                format!("{:.2}%", part as f64 * 100.0 / whole.max(1) as f64)
            };
            let ratio = |a: u64, b: u64| format!("{:.2}", a as f64 / b.max(1) as f64);
            line(out, "used_memory", &mem.used);
            line(out, "used_memory_human", &human_bytes(mem.used));
            line(out, "used_memory_rss", &mem.rss);
            line(out, "used_memory_rss_human", &human_bytes(mem.rss));
            line(out, "used_memory_peak", &mem.peak);
            line(out, "used_memory_peak_human", &human_bytes(mem.peak));
            line(out, "used_memory_peak_perc", &pct(mem.used, mem.peak));
            line(out, "used_memory_overhead", &overhead);
            line(out, "used_memory_startup", &mem.startup);
            // The data set held in memory is the hot cache's; the rest of the data is in the
            // SQLite file.
            line(out, "used_memory_dataset", &cache);
            line(
                out,
                "used_memory_dataset_perc",
                &pct(cache, mem.used.saturating_sub(mem.startup)),
            );
            let a = mem.allocator.unwrap_or_default();
            line(out, "allocator_allocated", &a.allocated);
            line(out, "allocator_active", &a.active);
            line(out, "allocator_resident", &a.resident);
            line(out, "total_system_memory", &total_system_memory());
            line(
                out,
                "total_system_memory_human",
                &human_bytes(total_system_memory()),
            );
            // `maxmemory` limits the logical data size (keyspace/datasize.rs), not RSS.
            let maxmemory = engine.keyspace.eviction().maxmemory;
            line(out, "maxmemory", &maxmemory);
            line(out, "maxmemory_human", &human_bytes(maxmemory));
            let policy = engine
                .config
                .redis_param("maxmemory-policy")
                .unwrap_or_default();
            line(out, "maxmemory_policy", &policy);
            line(
                out,
                "respite_data_bytes",
                &engine.keyspace.used_data_bytes(),
            );
            line(out, "allocator_frag_ratio", &ratio(a.active, a.allocated));
            line(
                out,
                "allocator_frag_bytes",
                &a.active.saturating_sub(a.allocated),
            );
            line(out, "allocator_rss_ratio", &ratio(a.resident, a.active));
            line(
                out,
                "allocator_rss_bytes",
                &a.resident.saturating_sub(a.active),
            );
            line(out, "rss_overhead_ratio", &ratio(mem.rss, a.resident));
            line(
                out,
                "rss_overhead_bytes",
                &mem.rss.saturating_sub(a.resident),
            );
            line(out, "mem_fragmentation_ratio", &ratio(mem.rss, mem.used));
            line(
                out,
                "mem_fragmentation_bytes",
                &(mem.rss as i64 - mem.used as i64),
            );
            line(out, "mem_allocator", &crate::allocator::name());
            // SAFETY: sqlite3_memory_used only reads SQLite's global counter.
            let sqlite = unsafe { rusqlite::ffi::sqlite3_memory_used() };
            line(out, "respite_sqlite_memory", &sqlite);
            line(out, "respite_cache_bytes", &cache);
            line(out, "respite_cache_bytes_human", &human_bytes(cache));
            let storage = &engine.config.storage;
            line(out, "respite_cache_max_bytes", &storage.cache_max_bytes.0);
            line(
                out,
                "respite_hot_cache_max_bytes",
                &storage.hot_cache_budget(),
            );
            let page_cache = storage.page_cache_budget();
            line(out, "respite_page_cache_max_bytes", &page_cache);
            line(
                out,
                "respite_page_cache_lent_bytes",
                &engine.page_cache_bytes.saturating_sub(page_cache),
            );
            line(out, "respite_cache_keys", &engine.keyspace.cache_keys());
            let filter = engine.keyspace.store_mut().key_filter_stats();
            line(out, "respite_key_filter", &filter.state);
            line(out, "respite_key_filter_bytes", &filter.bytes);
            line(out, "respite_key_filter_builds", &filter.builds);
            let filter = engine.keyspace.store_mut().element_filter_stats();
            line(out, "respite_element_filter", &filter.state);
            line(out, "respite_element_filter_bytes", &filter.bytes);
            line(out, "respite_element_filter_builds", &filter.builds);
            let elements = engine.keyspace.store_mut().element_cache_stats();
            line(out, "respite_element_cache_bytes", &elements.bytes);
            line(out, "respite_element_cache_max_bytes", &elements.max_bytes);
            line(out, "respite_element_cache_entries", &elements.entries);
            let (indexes, index_bytes) = crate::keyspace::set_index_memory();
            line(out, "respite_set_indexes", &indexes);
            line(out, "respite_set_index_bytes", &index_bytes);
            let pending = engine.keyspace.lazyfree_pending().unwrap_or(0);
            line(out, "lazyfree_pending_objects", &pending);
            line(
                out,
                "lazyfreed_objects",
                &engine.keyspace.stats().lazyfreed_objects,
            );
        }
        "persistence" => {
            out.push_str("# Persistence\r\n");
            let ks = engine.keyspace.stats();
            let path = engine.config.storage.path.clone();
            let disk = if path == ":memory:" {
                0
            } else {
                file_size(&path) + file_size(&format!("{path}-wal"))
            };
            line(out, "loading", &0);
            line(out, "async_loading", &0);
            let snaps = &engine.snapshots;
            line(
                out,
                "rdb_changes_since_last_save",
                &engine.changes_since_save(),
            );
            line(out, "rdb_bgsave_in_progress", &(snaps.in_progress() as u8));
            line(out, "rdb_last_save_time", &snaps.last_save_unix);
            line(
                out,
                "rdb_last_bgsave_status",
                &if snaps.last_bgsave_ok { "ok" } else { "err" },
            );
            line(out, "rdb_last_bgsave_time_sec", &snaps.last_bgsave_secs);
            line(out, "rdb_current_bgsave_time_sec", &snaps.current_secs());
            line(out, "rdb_saves", &snaps.saves);
            line(out, "aof_enabled", &0);
            line(out, "aof_rewrite_in_progress", &0);
            line(out, "respite_storage_path", &path);
            line(out, "respite_storage_bytes", &disk);
            line(
                out,
                "respite_durability",
                &engine.config.storage.durability.as_str(),
            );
            line(
                out,
                "respite_synchronous",
                &engine.config.storage.synchronous.as_str(),
            );
            line(out, "respite_commits", &ks.commits);
            if let Some(j) = engine.keyspace.store_journal_stats() {
                line(out, "respite_journal_bytes", &j.bytes);
                line(out, "respite_journal_records", &j.records);
                line(
                    out,
                    "respite_journal_oldest_unmerged_ms",
                    &j.oldest_unmerged_ms,
                );
                line(out, "respite_journal_merges", &j.merges);
                line(
                    out,
                    "respite_journal_background_merges",
                    &j.background_merges,
                );
                line(out, "respite_journal_merged_records", &j.merged_records);
                line(out, "respite_journal_merge_ms", &j.merge_ms);
                line(out, "respite_journal_last_merge_ms", &j.last_merge_ms);
                line(out, "respite_journal_merge_failures", &j.merge_failures);
                line(
                    out,
                    "respite_journal_backpressure_merges",
                    &j.backpressure_merges,
                );
                line(out, "respite_journal_backpressure_ms", &j.backpressure_ms);
                line(out, "respite_journal_replayed_records", &j.replayed_records);
                line(out, "respite_rows_window_bytes", &j.rows_window_bytes);
                line(out, "respite_rows_queued", &j.rows_queued);
                line(out, "respite_rows_queued_bytes", &j.rows_queued_bytes);
                line(
                    out,
                    "respite_rows_backpressure_waits",
                    &j.rows_backpressure_waits,
                );
                line(out, "respite_rows_backlogs", &j.rows_backlogs);
                line(
                    out,
                    "respite_rows_applied_background",
                    &j.rows_applied_background,
                );
                line(out, "respite_rows_applied_inline", &j.rows_applied_inline);
                line(out, "respite_rows_coalesced", &j.rows_coalesced);
                line(out, "respite_element_rows_queued", &j.element_rows_queued);
                line(
                    out,
                    "respite_element_rows_coalesced",
                    &j.element_rows_coalesced,
                );
                line(out, "respite_element_rows_applied", &j.element_rows_applied);
            }
            let (checkpoints, checkpoint_ms) = engine.keyspace.store_mut().checkpoint_stats();
            line(out, "respite_checkpoints", &checkpoints);
            line(out, "respite_checkpoint_last_ms", &checkpoint_ms);
            line(out, "respite_last_commit_rows", &ks.last_commit_rows);
            line(out, "respite_rows_written", &ks.rows_written);
            if let Some(wb) = engine.keyspace.write_behind_stats() {
                let st = &wb.state;
                line(out, "respite_wb_dirty_keys", &wb.dirty_keys);
                line(out, "respite_wb_dirty_bytes", &wb.dirty_bytes);
                let age = st
                    .oldest_dirty_ms
                    .map_or(0, |t| crate::keyspace::now_ms().saturating_sub(t));
                line(out, "respite_wb_oldest_dirty_age_ms", &age);
                line(out, "respite_wb_flushes", &st.flushes);
                line(
                    out,
                    "respite_wb_last_flush_time",
                    &(st.last_flush_ms / 1000),
                );
                line(out, "respite_wb_last_flush_keys", &st.last_flush_keys);
                line(
                    out,
                    "respite_wb_backpressure_flushes",
                    &st.backpressure_flushes,
                );
                line(out, "respite_wb_flush_failures", &st.failures);
                let status = match &st.last_error {
                    None => "ok".to_string(),
                    Some(e) => format!("err: {}", e.replace(['\r', '\n'], " ")),
                };
                line(out, "respite_wb_last_flush_status", &status);
            }
            line(
                out,
                "respite_last_commit_status",
                &if engine.last_commit_failed {
                    "err"
                } else {
                    "ok"
                },
            );
        }
        "stats" => {
            out.push_str("# Stats\r\n");
            let ks = engine.keyspace.stats();
            line(out, "respite_slowlog_len", &engine.slowlog.len());
            // The latency monitor's events (LATENCY LATEST), for the metrics endpoint.
            for (event, series) in engine.latency.events() {
                if let Some(last) = series.samples.back() {
                    let _ = write!(
                        out,
                        "respite_latency_event_{event}:time={},latest_ms={},max_ms={}\r\n",
                        last.time, last.ms, series.max
                    );
                }
            }
            line(
                out,
                "total_connections_received",
                &shared.total_connections.load(Ordering::Relaxed),
            );
            line(
                out,
                "total_commands_processed",
                &engine.stats.commands_processed,
            );
            line(
                out,
                "instantaneous_ops_per_sec",
                &engine.stats.instantaneous_ops,
            );
            line(
                out,
                "total_net_input_bytes",
                &shared.net_input_bytes.load(Ordering::Relaxed),
            );
            line(
                out,
                "total_net_output_bytes",
                &shared.net_output_bytes.load(Ordering::Relaxed),
            );
            line(
                out,
                "rejected_connections",
                &shared.rejected_connections.load(Ordering::Relaxed),
            );
            // Respite's own: handshakes on tls.port (Prometheus reads them from here too).
            line(
                out,
                "tls_handshakes",
                &shared.tls_handshakes.load(Ordering::Relaxed),
            );
            line(
                out,
                "tls_handshake_failures",
                &shared.tls_handshake_failures.load(Ordering::Relaxed),
            );
            line(out, "expired_keys", &ks.expired);
            line(out, "expired_subkeys", &ks.expired_fields);
            line(
                out,
                "expire_cycle_cpu_milliseconds",
                &(ks.expire_cycle_us / 1000),
            );
            line(out, "evicted_keys", &ks.evicted);
            line(out, "keyspace_hits", &ks.hits);
            line(out, "keyspace_misses", &ks.misses);
            line(out, "pubsub_channels", &engine.pubsub.channel_count());
            line(out, "pubsub_patterns", &engine.pubsub.pattern_count());
            line(out, "pubsubshard_channels", &engine.pubsub.shard_count());
            // No MIGRATE here, so no cached sockets (unit/dump reads this field).
            line(out, "migrate_cached_sockets", &0);
            line(out, "tracking_total_keys", &engine.tracking.key_count());
            line(out, "tracking_total_items", &engine.tracking.item_count());
            line(
                out,
                "tracking_total_prefixes",
                &engine.tracking.prefix_count(),
            );
            line(out, "total_error_replies", &engine.stats.error_replies);
            // Redis 7.2's ACL denial counters.
            let acl = &engine.acl.log;
            line(out, "acl_access_denied_auth", &acl.denied_auth);
            line(out, "acl_access_denied_cmd", &acl.denied_cmd);
            line(out, "acl_access_denied_key", &acl.denied_key);
            line(out, "acl_access_denied_channel", &acl.denied_channel);
            line(
                out,
                "client_output_buffer_limit_disconnections",
                &engine.pubsub.limit_disconnections,
            );
            line(out, "respite_cache_loads", &ks.cache_misses);
            let skipped = engine
                .keyspace
                .store_mut()
                .key_filter_stats()
                .skipped_lookups;
            line(out, "respite_key_filter_skipped_lookups", &skipped);
            let skipped = engine
                .keyspace
                .store_mut()
                .element_filter_stats()
                .skipped_lookups;
            line(out, "respite_element_filter_skipped_lookups", &skipped);
            let elements = engine.keyspace.store_mut().element_cache_stats();
            line(out, "respite_element_cache_hits", &elements.hits);
            line(out, "respite_element_cache_misses", &elements.misses);
            line(out, "respite_cache_evictions", &ks.cache_evictions);
            line(out, "respite_expire_cycles", &ks.expire_cycles);
            line(out, "respite_expire_cycles_cut", &ks.expire_cycles_cut);
        }
        "replication" => {
            out.push_str("# Replication\r\n");
            line(out, "role", &"master");
            line(out, "connected_slaves", &0);
            line(out, "master_failover_state", &"no-failover");
            line(out, "master_replid", &run_id(engine.started_unix));
            line(out, "master_repl_offset", &0);
        }
        "cpu" => {
            out.push_str("# CPU\r\n");
            let (user, sys) = cpu_times();
            line(out, "used_cpu_sys", &format!("{sys:.6}"));
            line(out, "used_cpu_user", &format!("{user:.6}"));
        }
        "modules" => {
            out.push_str("# Modules\r\n");
            // The plugin host adds a line per plugin.
        }
        "errorstats" => {
            out.push_str("# Errorstats\r\n");
            for (code, count) in &engine.stats.errors_by_code {
                let _ = write!(out, "errorstat_{code}:count={count}\r\n");
            }
        }
        "commandstats" => {
            out.push_str("# Commandstats\r\n");
            for cmd in engine.commands.iter_sorted() {
                for c in std::iter::once(cmd).chain(cmd.subcommands.iter()) {
                    let Some(s) = engine.command_stats.get(c.stats_index) else {
                        continue;
                    };
                    if s.calls == 0 && s.rejected_calls == 0 && s.failed_calls == 0 {
                        continue;
                    }
                    let per_call = if s.calls > 0 {
                        s.usec as f64 / s.calls as f64
                    } else {
                        0.0
                    };
                    let _ = write!(
                        out,
                        "cmdstat_{}:calls={},usec={},usec_per_call={:.2},rejected_calls={},failed_calls={}\r\n",
                        c.name, s.calls, s.usec, per_call, s.rejected_calls, s.failed_calls
                    );
                }
            }
        }
        "latencystats" => {
            out.push_str("# Latencystats\r\n");
            let percentiles: Vec<f64> = engine
                .config
                .redis_param("latency-tracking-info-percentiles")
                .unwrap_or_default()
                .split_ascii_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect();
            for cmd in engine.commands.iter_sorted() {
                for c in std::iter::once(cmd).chain(cmd.subcommands.iter()) {
                    let Some(h) = engine.latency.histogram(c.stats_index) else {
                        continue;
                    };
                    let values: Vec<String> = percentiles
                        .iter()
                        .map(|&p| {
                            // As Redis prints the percentile: %f with trailing zeros trimmed.
                            let name = format!("{p:.6}");
                            let name = name.trim_end_matches('0').trim_end_matches('.');
                            format!("p{name}={:.3}", h.percentile(p) as f64 / 1000.0)
                        })
                        .collect();
                    let _ = write!(
                        out,
                        "latency_percentiles_usec_{}:{}\r\n",
                        c.name,
                        values.join(",")
                    );
                }
            }
        }
        "keyspace" => {
            out.push_str("# Keyspace\r\n");
            match engine.keyspace.db_stats() {
                Ok(stats) => {
                    for s in stats {
                        let _ = write!(
                            out,
                            "db{}:keys={},expires={},avg_ttl=0\r\n",
                            s.db, s.keys, s.expires
                        );
                    }
                }
                Err(e) => {
                    let _ = write!(out, "error:{e}\r\n");
                }
            }
        }
        _ => {}
    }
}

/// A stable 40-hex-digit identifier for this run of the server.
fn run_id(started_unix: u64) -> String {
    use std::hash::{BuildHasher, Hasher};
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        let state = std::collections::hash_map::RandomState::new();
        let mut out = String::with_capacity(40);
        for i in 0..3u64 {
            let mut h = state.build_hasher();
            h.write_u64(started_unix ^ i);
            h.write_u32(std::process::id());
            h.write_u128(Instant::now().elapsed().as_nanos());
            let _ = write!(out, "{:016x}", h.finish());
        }
        out.truncate(40);
        out
    })
    .clone()
}
