//! String commands (Redis's t_string.c): GET, SET.

use bytes::Bytes;

use super::table::{flags::*, CommandSpec};
use super::{eq_ci, err_not_integer, err_store, err_syntax, err_wrongtype, parse_i64};
use crate::engine::Ctx;
use crate::events::class;
use crate::keyspace::Value;
use crate::protocol::Reply;

/// String commands.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "get",
        arity: 2,
        flags: READONLY | FAST,
        first_key: 1,
        last_key: 1,
        step: 1,
        categories: &["read", "string", "fast"],
        group: "string",
        summary: "Returns the string value of a key.",
        handler: Some(get),
        ..CommandSpec::BASE
    },
    CommandSpec {
        name: "set",
        arity: -3,
        flags: WRITE | DENYOOM,
        first_key: 1,
        last_key: 1,
        step: 1,
        categories: &["write", "string", "slow"],
        group: "string",
        summary: "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
        handler: Some(set),
        ..CommandSpec::BASE
    },
];

fn get(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let db = ctx.db();
    match ctx.engine.keyspace.get(db, &argv[1], ctx.now) {
        Ok(Some(entry)) => match entry.value.as_string() {
            Some(s) => Reply::Bulk(s.clone()),
            None => err_wrongtype(),
        },
        Ok(None) => Reply::Null,
        Err(e) => err_store(&e),
    }
}

/// When a SET's expiry comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expiry {
    /// No expiry option: the key loses any TTL it had.
    Clear,
    /// KEEPTTL.
    Keep,
    /// EX/PX/EXAT/PXAT, resolved to Unix milliseconds.
    At(i64),
}

/// Parsed SET options.
struct SetOptions {
    nx: bool,
    xx: bool,
    get: bool,
    expiry: Expiry,
}

fn invalid_expire(command: &str) -> Reply {
    Reply::Error(format!("ERR invalid expire time in '{command}' command").into())
}

/// Resolves an EX/PX/EXAT/PXAT argument to absolute Unix milliseconds, with Redis's errors.
fn resolve_expiry(
    arg: &[u8],
    unit_ms: i64,
    relative: bool,
    now: i64,
    command: &str,
) -> Result<i64, Reply> {
    let n = parse_i64(arg).ok_or_else(err_not_integer)?;
    if n <= 0 {
        return Err(invalid_expire(command));
    }
    let ms = n
        .checked_mul(unit_ms)
        .ok_or_else(|| invalid_expire(command))?;
    if relative {
        ms.checked_add(now).ok_or_else(|| invalid_expire(command))
    } else {
        Ok(ms)
    }
}

fn parse_set_options(argv: &[Bytes], now: i64) -> Result<SetOptions, Reply> {
    let mut opts = SetOptions {
        nx: false,
        xx: false,
        get: false,
        expiry: Expiry::Clear,
    };
    let mut expiry_given = false;
    let mut i = 3;
    while i < argv.len() {
        let arg = &argv[i];
        let next = argv.get(i + 1);
        if eq_ci(arg, "nx") && !opts.xx {
            opts.nx = true;
        } else if eq_ci(arg, "xx") && !opts.nx {
            opts.xx = true;
        } else if eq_ci(arg, "get") {
            opts.get = true;
        } else if eq_ci(arg, "keepttl") && !expiry_given {
            opts.expiry = Expiry::Keep;
            expiry_given = true;
        } else if !expiry_given
            && next.is_some()
            && ["ex", "px", "exat", "pxat"].iter().any(|o| eq_ci(arg, o))
        {
            let (unit, relative) = match arg.to_ascii_lowercase().as_slice() {
                b"ex" => (1000, true),
                b"px" => (1, true),
                b"exat" => (1000, false),
                _ => (1, false),
            };
            let value = next.map(|b| &b[..]).unwrap_or_default();
            opts.expiry = Expiry::At(resolve_expiry(value, unit, relative, now, "set")?);
            expiry_given = true;
            i += 1;
        } else {
            return Err(err_syntax());
        }
        i += 1;
    }
    Ok(opts)
}

fn set(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let opts = match parse_set_options(argv, ctx.now) {
        Ok(o) => o,
        Err(reply) => return reply,
    };
    let db = ctx.db();
    let key = &argv[1];
    let ks = &mut ctx.engine.keyspace;
    // A plain SET replaces whatever is there, so it need not read the old value.
    let needs_old = opts.nx || opts.xx || opts.get || opts.expiry == Expiry::Keep;
    let (exists, old, old_expiry) = match needs_old.then(|| ks.get(db, key, ctx.now)) {
        Some(Ok(Some(entry))) => match entry.value.as_string() {
            Some(s) => (true, Some(s.clone()), entry.expire_at),
            None if opts.get => return err_wrongtype(),
            None => (true, None, entry.expire_at),
        },
        Some(Ok(None)) | None => (false, None, None),
        Some(Err(e)) => return err_store(&e),
    };
    let old_reply = || old.clone().map_or(Reply::Null, Reply::Bulk);
    if (opts.nx && exists) || (opts.xx && !exists) {
        return if opts.get { old_reply() } else { Reply::Null };
    }
    let expire_at = match opts.expiry {
        Expiry::Clear => None,
        Expiry::Keep => old_expiry,
        Expiry::At(at) => Some(at),
    };
    let result = if expire_at.is_some_and(|at| at <= ctx.now) {
        // An absolute time in the past: the key would be born expired.
        ks.delete(db, key, ctx.now).map(|_| ())
    } else {
        // A copy, so the cached value does not pin the connection's whole read buffer.
        let value = Value::String(Bytes::copy_from_slice(&argv[2]));
        ks.set(db, key, value, expire_at, ctx.now)
    };
    if let Err(e) = result {
        return err_store(&e);
    }
    ctx.notify(class::STRING, "set", key);
    if opts.get {
        old_reply()
    } else {
        Reply::ok()
    }
}
