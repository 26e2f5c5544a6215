//! Built-in commands, one file per group as Redis keeps them (`t_string.c` → `string.rs`), and
//! the command table that lists them.

/// Unwraps a `Result` whose error is a reply (or a storage error, which becomes one), or
/// returns that reply from the handler.
#[macro_export]
macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return $crate::__private::Reply::from(e),
        }
    };
}

pub mod acl;
pub mod bitmap;
pub mod client;
pub mod command;
pub mod config;
pub mod connection;
pub mod debug;
pub mod dump;
pub mod geo;
pub mod geohash;
pub mod hash;
pub mod hll;
pub mod hyperloglog;
pub mod keys;
pub mod latency;
pub mod list;
pub mod long_double;
pub mod lzf;
pub mod memory;
pub mod monitor;
pub mod multi;
pub mod pubsub;
pub mod rdb;
pub mod sample;
pub mod save;
pub mod server;
pub mod set;
pub mod slowlog;
pub mod sort;
pub mod stream;
pub mod stream_group;
pub mod string;
pub mod wait;
/// The command table's row type and flags, for the rows of each file.
pub use crate::engine::table;
pub mod zset;

use std::borrow::Cow;

use bytes::Bytes;

use crate::engine::Ctx;
use crate::keyspace::{KeyMut, Keyspace, Typed};
use crate::protocol::Reply;
use crate::storage::{DbIndex, Store, StoreError};
use table::CommandSpec;

/// The core's command groups. EVAL, SCRIPT, FUNCTION and FCALL are the Lua host's
/// (`lua::cmd_script`, `lua::cmd_function`); MODULE is the plugin host's
/// (`plugin::cmd_module`).
pub static BUILTIN: &[&[CommandSpec]] = &[
    connection::COMMANDS,
    client::COMMANDS,
    command::COMMANDS,
    config::COMMANDS,
    server::COMMANDS,
    keys::COMMANDS,
    memory::COMMANDS,
    save::COMMANDS,
    slowlog::COMMANDS,
    latency::COMMANDS,
    wait::COMMANDS,
    debug::COMMANDS,
    acl::COMMANDS,
    monitor::COMMANDS,
    dump::COMMANDS,
    string::COMMANDS,
    hash::COMMANDS,
    zset::COMMANDS,
    geo::COMMANDS,
    list::COMMANDS,
    set::COMMANDS,
    bitmap::COMMANDS,
    hyperloglog::COMMANDS,
    stream::COMMANDS,
    stream_group::COMMANDS,
    sort::COMMANDS,
    multi::COMMANDS,
    pubsub::COMMANDS,
];

/// `ERR syntax error`.
pub fn err_syntax() -> Reply {
    Reply::error("ERR syntax error")
}

/// `ERR value is not an integer or out of range`.
pub fn err_not_integer() -> Reply {
    Reply::error("ERR value is not an integer or out of range")
}

/// Redis's arity error for a command's full name (`client|kill`).
pub use crate::engine::err_arity;

/// `WRONGTYPE ...`.
pub fn err_wrongtype() -> Reply {
    Reply::error("WRONGTYPE Operation against a key holding the wrong kind of value")
}

/// A storage failure, reported to the client that hit it.
pub fn err_store(e: &StoreError) -> Reply {
    Reply::Error(format!("ERR {e}").into())
}

/// [`err_store`] for `map_err`.
pub fn store_err(e: StoreError) -> Reply {
    err_store(&e)
}

/// A copy of an argument for storing, so the cached value does not pin the connection's
/// whole read buffer.
pub fn owned(arg: &[u8]) -> Bytes {
    Bytes::copy_from_slice(arg)
}

/// Write access to a key, with a storage error as its reply.
pub fn write_key<'a>(
    ks: &'a mut Keyspace,
    db: DbIndex,
    key: &[u8],
    now: i64,
) -> Result<KeyMut<'a>, Reply> {
    ks.write(db, key, now).map_err(store_err)
}

/// Runs `f` on the `T` (hash, list, set or sorted set) at `key`, a read that counts as a hit
/// or miss; a missing key answers `missing()`, a key of another type WRONGTYPE.
pub fn read_typed<T: Typed>(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    missing: impl FnOnce() -> Reply,
    f: impl FnOnce(&T, &mut dyn Store) -> Result<Reply, StoreError>,
) -> Reply {
    let db = ctx.db();
    match ctx.engine.keyspace.read(db, key, ctx.now) {
        Ok(None) => missing(),
        Ok(Some(r)) => match T::of(&r.entry.value) {
            Some(t) => f(t, r.store).unwrap_or_else(store_err),
            None => err_wrongtype(),
        },
        Err(e) => err_store(&e),
    }
}

impl From<StoreError> for Reply {
    fn from(e: StoreError) -> Reply {
        err_store(&e)
    }
}

pub use crate::protocol::parse_i64;

/// Parses a 32-bit integer argument with Redis's two errors (getIntFromObjectOrReply).
pub fn parse_i32(b: &[u8]) -> Result<i32, Reply> {
    let v = parse_i64(b).ok_or_else(err_not_integer)?;
    i32::try_from(v).map_err(|_| {
        Reply::error("ERR value is out of range, value must between -2147483648 and 2147483647")
    })
}

/// Text of an argument for messages (lossy UTF-8).
pub fn lossy(b: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(b)
}

/// Case-insensitive comparison of an argument with an ASCII keyword.
pub fn eq_ci(arg: &[u8], keyword: &str) -> bool {
    arg.eq_ignore_ascii_case(keyword.as_bytes())
}

/// A `HELP` reply: the lines as status replies, like Redis's addReplyHelp.
pub fn help_reply(command: &str, lines: &[&str]) -> Reply {
    let mut out = Vec::with_capacity(lines.len() + 3);
    out.push(Reply::Simple(
        format!("{command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:").into(),
    ));
    out.extend(
        lines
            .iter()
            .map(|l| Reply::Simple(Cow::Owned(l.to_string()))),
    );
    out.push(Reply::Simple("HELP".into()));
    out.push(Reply::Simple("    Prints this help.".into()));
    Reply::Array(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_table_has_no_clashes() {
        let mut names = std::collections::HashSet::new();
        for spec in BUILTIN.iter().flat_map(|g| g.iter()) {
            assert!(names.insert(spec.name), "duplicate command {}", spec.name);
        }
        let table = table::CommandTable::from_groups(BUILTIN);
        assert_eq!(table.len(), names.len());
    }
}
