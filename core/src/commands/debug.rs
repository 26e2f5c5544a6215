//! DEBUG: the subcommands that mean something here (SLEEP, RELOAD, OBJECT, POPULATE,
//! SET-ACTIVE-EXPIRE, HELP) and one of Respite's own (ROW-WRITER), refused unless
//! `enable-debug-command` allows them, as in Redis 7.

use std::time::Duration;

use bytes::Bytes;

use super::list::parse_positive_count;
use super::table::{flags::*, CommandSpec};
use super::{eq_ci, err_store, help_reply};
use crate::engine::Ctx;
use crate::keyspace::Value;
use crate::protocol::Reply;

/// Keys DEBUG POPULATE adds between commits: a population of millions goes to the store as it
/// grows, so that neither the batch nor the hot cache's unwritten entries grow with it.
const POPULATE_COMMIT_EVERY: u64 = 10_000;

/// Redis builds POPULATE's key names in a buffer of 128 bytes, the last for the C string's end.
const POPULATE_KEY_MAX: usize = 127;

/// The DEBUG command.
pub static COMMANDS: &[CommandSpec] = &[CommandSpec::new("debug", -2, debug)
    .flags(ADMIN | NOSCRIPT | LOADING | STALE)
    .categories(&["admin", "slow", "dangerous"])
    .doc(
        "server",
        "A container for debugging commands.",
        "1.0.0",
        "Depends on subcommand.",
    )];

/// Redis 7's refusal while `enable-debug-command` does not allow the client.
const NOT_ALLOWED: &str = "ERR DEBUG command not allowed. If the enable-debug-command option is \
     set to \"local\", you can run it from a local connection, otherwise you need to set this \
     option in the configuration file, and then restart the server.";

fn allowed(ctx: &Ctx<'_>) -> bool {
    match ctx
        .engine
        .config
        .redis_param("enable-debug-command")
        .as_deref()
    {
        Some("yes") => true,
        Some("local") => ctx.client.addr.ip().is_loopback(),
        _ => false,
    }
}

fn debug(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    if !allowed(ctx) {
        return Reply::error(NOT_ALLOWED);
    }
    let sub = &argv[1];
    if eq_ci(sub, "help") {
        return debug_help();
    }
    if eq_ci(sub, "sleep") && argv.len() == 3 {
        let secs: f64 = std::str::from_utf8(&argv[2])
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|s: &f64| s.is_finite())
            .unwrap_or(0.0)
            .max(0.0);
        // As Redis: the whole server sleeps (the executor runs one command at a time).
        std::thread::sleep(Duration::from_secs_f64(secs));
        return Reply::ok();
    }
    if eq_ci(sub, "reload") {
        return reload(ctx);
    }
    if eq_ci(sub, "object") && argv.len() == 3 {
        return object(ctx, &argv[2]);
    }
    if eq_ci(sub, "populate") && (3..=5).contains(&argv.len()) {
        return populate(ctx, argv);
    }
    if eq_ci(sub, "set-active-expire") && argv.len() == 3 {
        ctx.engine.active_expire_enabled = &argv[2][..] != b"0";
        return Reply::ok();
    }
    if eq_ci(sub, "row-writer") && argv.len() == 3 {
        let paused = if eq_ci(&argv[2], "pause") {
            true
        } else if eq_ci(&argv[2], "resume") {
            false
        } else {
            return Reply::error("ERR DEBUG ROW-WRITER takes PAUSE or RESUME");
        };
        ctx.engine
            .keyspace
            .store_mut()
            .pause_background_writes(paused);
        return Reply::ok();
    }
    Reply::Error(
        format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
            String::from_utf8_lossy(sub)
        )
        .into(),
    )
}

/// Commits everything, merges the redo journal into the file and empties the hot cache: the
/// reads that follow come from the file, as after Redis's save-and-load.
fn reload(ctx: &mut Ctx<'_>) -> Reply {
    if let Err(e) = ctx.engine.flush_keyspace() {
        return err_store(&e);
    }
    if let Err(e) = ctx.engine.keyspace.store_mut().merge(true) {
        return err_store(&e);
    }
    if !ctx.engine.keyspace.clear_cache() {
        return Reply::error("ERR Error trying to load the data file: writes are still pending");
    }
    Reply::ok()
}

/// DEBUG POPULATE count [prefix] [size], as Redis 7: keys `prefix:N` (`key:N` by default) for
/// N below count, each a string `value:N`, or that text padded with zero bytes (or cut) to
/// `size` bytes; a key that exists already is left as it is. Its writes commit every
/// [`POPULATE_COMMIT_EVERY`] keys, as the command goes.
fn populate(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let count = match parse_positive_count(&argv[2]) {
        Ok(n) => n,
        Err(reply) => return reply,
    };
    let size = match argv.get(4).map(|a| parse_positive_count(a)).transpose() {
        Ok(size) => size.unwrap_or(0),
        Err(reply) => return reply,
    };
    if size > ctx.engine.config.server.proto_max_bulk_len.0 {
        // Redis would try to allocate it; no client could have written such a string.
        return Reply::error("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    }
    // A C string in Redis: the prefix ends at its first zero byte.
    let prefix: &[u8] = argv.get(3).map_or(b"key", |p| &p[..]);
    let prefix = &prefix[..prefix.iter().position(|&b| b == 0).unwrap_or(prefix.len())];
    let (db, now) = (ctx.db(), ctx.now);
    let mut added = 0u64;
    for n in 0..count {
        let mut key = Vec::with_capacity(prefix.len() + 21);
        key.extend_from_slice(prefix);
        key.push(b':');
        key.extend_from_slice(n.to_string().as_bytes());
        key.truncate(POPULATE_KEY_MAX);
        // One lookup, as Redis's lookupKeyWrite: an existing key is left alone.
        let mut slot = match ctx.engine.keyspace.write(db, &key, now) {
            Ok(slot) if slot.exists() => continue,
            Ok(slot) => slot,
            Err(e) => return err_store(&e),
        };
        let text = format!("value:{n}");
        let value = if size == 0 {
            Bytes::from(text)
        } else {
            let mut padded = vec![0u8; size as usize];
            let len = text.len().min(padded.len());
            padded[..len].copy_from_slice(&text.as_bytes()[..len]);
            Bytes::from(padded)
        };
        if let Err(e) = slot.set(Value::String(value), None) {
            return err_store(&e);
        }
        drop(slot); // records the write
        added += 1;
        if added % POPULATE_COMMIT_EVERY == 0 {
            if let Err(e) = ctx.engine.flush_keyspace() {
                return err_store(&e);
            }
        }
    }
    Reply::ok()
}

fn object(ctx: &mut Ctx<'_>, key: &[u8]) -> Reply {
    let (db, now) = (ctx.db(), ctx.now);
    let idle = match ctx.engine.keyspace.idle_ms(db, key, now) {
        Ok(idle) => idle.unwrap_or(0) / 1000,
        Err(e) => return err_store(&e),
    };
    let compress = super::dump::rdb_compression(ctx);
    let read = match ctx.engine.keyspace.read(db, key, now) {
        Ok(Some(r)) => r,
        Ok(None) => return Reply::error("ERR no such key"),
        Err(e) => return err_store(&e),
    };
    let encoding = read.entry.encoding();
    // The value's serialized length: its DUMP payload without the type byte and the
    // 10-byte footer (RDB version and CRC64).
    let length = match super::dump::object_of(&read.entry.value, read.store, now) {
        Ok(Some(obj)) => super::rdb::dump(&obj, compress).len().saturating_sub(11),
        Ok(None) => 0,
        Err(e) => return err_store(&e),
    };
    let text = format!(
        "Value at:0x0 refcount:1 encoding:{encoding} serializedlength:{length} lru:0 \
         lru_seconds_idle:{idle}"
    );
    Reply::Simple(text.into())
}

fn debug_help() -> Reply {
    help_reply(
        "DEBUG",
        &[
            "OBJECT <key>",
            "    Show low level info about the key and associated value.",
            "POPULATE <count> [<prefix>] [<size>]",
            "    Create <count> string keys named key:<num> (<prefix>:<num> with a prefix),",
            "    each holding value:<num>, padded with zero bytes to <size> bytes if given.",
            "    Keys that exist are left as they are.",
            "RELOAD",
            "    Commit every write, merge the redo journal into the data file and empty the",
            "    hot cache, so that the following reads come from the file.",
            "ROW-WRITER <PAUSE|RESUME>",
            "    Stop (or restart) the thread that writes changed keys' rows into the data",
            "    file between merges, as a writer slower than the load would; merges still",
            "    take the rows. Writing commands are held once its queue is behind.",
            "SET-ACTIVE-EXPIRE <0|1>",
            "    Setting it to 0 disables expiring keys in background when they are not",
            "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
            "    default.",
            "SLEEP <seconds>",
            "    Stop the server for <seconds>. Decimals allowed.",
        ],
    )
}
