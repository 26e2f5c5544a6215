//! SAVE, BGSAVE and LASTSAVE: snapshots of the data file to `dir`/`dbfilename` (an SQLite
//! file `respite --db` can serve; the state is the engine's, `engine/snapshot.rs`).

use bytes::Bytes;

use super::eq_ci;
use super::table::{flags::*, CommandSpec};
use crate::engine::Ctx;
use crate::protocol::Reply;

/// Snapshot commands.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("save", 1, save)
        .flags(ADMIN | NOSCRIPT | NO_MULTI)
        .categories(&["admin", "slow", "dangerous"])
        .doc(
            "server",
            "Synchronously saves the database(s) to disk.",
            "1.0.0",
            "O(N) where N is the total number of keys in all databases",
        ),
    CommandSpec::new("bgsave", -1, bgsave)
        .flags(ADMIN | NOSCRIPT)
        .categories(&["admin", "slow", "dangerous"])
        .doc(
            "server",
            "Asynchronously saves the database(s) to disk.",
            "1.0.0",
            "O(1)",
        ),
    CommandSpec::new("lastsave", 1, lastsave)
        .flags(LOADING | STALE | FAST)
        .categories(&["admin", "fast", "dangerous"])
        .doc(
            "server",
            "Returns the Unix timestamp of the last successful save to disk.",
            "1.0.0",
            "O(1)",
        ),
];

fn save(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    match ctx.engine.save_snapshot() {
        Ok(()) => Reply::ok(),
        Err(e) => Reply::Error(e.into()),
    }
}

fn bgsave(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let schedule = match argv.len() {
        1 => false,
        2 if eq_ci(&argv[1], "schedule") => true,
        _ => return super::err_syntax(),
    };
    if ctx.engine.snapshots.in_progress() {
        if schedule {
            ctx.engine.snapshots.scheduled = true;
            return Reply::Simple("Background saving scheduled".into());
        }
        return Reply::Error("ERR Background save already in progress".into());
    }
    match ctx.engine.start_bgsave() {
        Ok(()) => Reply::Simple("Background saving started".into()),
        Err(e) => Reply::Error(e.into()),
    }
}

/// With write-behind a flush is a save to disk too: the later of the two.
fn lastsave(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    let flushed = ctx
        .engine
        .keyspace
        .write_behind_stats()
        .map_or(0, |wb| wb.state.last_flush_ms / 1000);
    Reply::Integer(ctx.engine.snapshots.last_save_unix.max(flushed))
}
