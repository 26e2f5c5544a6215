//! Connection commands: PING, ECHO, QUIT, RESET, HELLO, AUTH, SELECT.

use bytes::Bytes;

use super::table::{flags::*, CommandSpec};
use super::{eq_ci, err_syntax, lossy, parse_i32, parse_i64};
use crate::engine::client::ReplyMode;
use crate::engine::Ctx;
use crate::protocol::{Protocol, Reply};

/// The Redis version Respite reports (INFO, HELLO, scripts' `redis.REDIS_VERSION`), for
/// clients that check features by version: 7.4, since Respite has 7.4's additions (hash-field
/// expiry, CLIENT KILL MAXAGE, XREAD `+`).
pub const REDIS_VERSION: &str = "7.4.0";
/// [`REDIS_VERSION`] as a number, `0x00MMmmpp` (`redis.REDIS_VERSION_NUM`).
pub const REDIS_VERSION_NUM: i64 = 0x07_04_00;

/// Connection commands.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("ping", -1, ping)
        .flags(FAST)
        .categories(&["fast", "connection"])
        .doc(
            "connection",
            "Returns the server's liveliness response.",
            "1.0.0",
            "O(1)",
        ),
    CommandSpec::new("echo", 2, echo)
        .flags(FAST)
        .categories(&["fast", "connection"])
        .doc("connection", "Returns the given string.", "1.0.0", "O(1)"),
    CommandSpec::new("quit", -1, quit)
        .flags(ALLOW_BUSY | NOSCRIPT | LOADING | STALE | FAST | NO_AUTH)
        .categories(&["fast", "connection"])
        .doc("connection", "Closes the connection.", "1.0.0", "O(1)"),
    CommandSpec::new("reset", 1, reset)
        .flags(NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY)
        .categories(&["fast", "connection"])
        .doc("connection", "Resets the connection.", "6.2.0", "O(1)"),
    CommandSpec::new("hello", -1, hello)
        .flags(NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY)
        .categories(&["fast", "connection"])
        .doc(
            "connection",
            "Handshakes with the Redis server.",
            "6.0.0",
            "O(1)",
        ),
    CommandSpec::new("auth", -2, auth)
        .flags(NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY)
        .categories(&["fast", "connection"])
        .doc(
            "connection",
            "Authenticates the connection.",
            "1.0.0",
            "O(N) where N is the number of passwords defined for the user",
        ),
    CommandSpec::new("select", 2, select)
        .flags(LOADING | STALE | FAST)
        .categories(&["fast", "connection"])
        .doc(
            "connection",
            "Changes the selected database.",
            "1.0.0",
            "O(1)",
        ),
];

fn ping(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    if argv.len() <= 2 && ctx.client.protocol == Protocol::Resp2 && ctx.client.subscribed() {
        // RESP2 subscribed mode: a reply shaped like the messages, as Redis sends it.
        let payload = argv.get(1).cloned().unwrap_or_default();
        return Reply::Array(vec![
            Reply::bulk(Bytes::from_static(b"pong")),
            Reply::Bulk(payload),
        ]);
    }
    match argv.len() {
        1 => Reply::Simple("PONG".into()),
        2 => Reply::Bulk(argv[1].clone()),
        _ => super::err_arity("ping"),
    }
}

fn echo(_ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    Reply::Bulk(argv[1].clone())
}

fn quit(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    ctx.client.close_after_reply = true;
    Reply::ok()
}

fn reset(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    let auth_required = ctx.engine.auth_required();
    // Out of any transaction, watch and subscription.
    ctx.client.end_multi();
    ctx.engine.disable_tracking(ctx.client);
    ctx.engine.client_gone(ctx.client.id);
    ctx.client.sub_channels = 0;
    ctx.client.sub_patterns = 0;
    ctx.client.sub_shard = 0;
    let client = &mut *ctx.client;
    client.db = 0;
    client.protocol = Protocol::Resp2;
    client.name = None;
    client.reply_mode = ReplyMode::On;
    client.no_evict = false;
    client.no_touch = false;
    client.monitor = false;
    client.user = ctx.engine.acl.default_user();
    client.set_authenticated(!auth_required);
    Reply::Simple("RESET".into())
}

/// Authenticates the client as `user` (see [`crate::engine::Engine::acl_authenticate`]).
fn check_password(ctx: &mut Ctx<'_>, command: &[u8], user: &[u8], password: &[u8]) -> bool {
    ctx.engine
        .acl_authenticate(ctx.client, command, user, password)
}

fn wrongpass() -> Reply {
    Reply::error("WRONGPASS invalid username-password pair or user is disabled.")
}

fn auth(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let (user, password) = match argv.len() {
        2 => {
            if ctx.engine.acl.default_user().nopass {
                return Reply::error(
                    "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
                );
            }
            (&b"default"[..], &argv[1][..])
        }
        3 => (&argv[1][..], &argv[2][..]),
        _ => return err_syntax(),
    };
    if check_password(ctx, &argv[0], user, password) {
        ctx.client.set_authenticated(true);
        Reply::ok()
    } else {
        wrongpass()
    }
}

/// Client names may not contain spaces, newlines or other special characters.
pub fn valid_client_name(name: &[u8]) -> bool {
    name.iter().all(|&b| (b'!'..=b'~').contains(&b))
}

fn hello(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let mut next = 1;
    let mut version = None;
    if argv.len() >= 2 {
        let Some(v) = parse_i64(&argv[1]) else {
            return Reply::error("ERR Protocol version is not an integer or out of range");
        };
        if !(2..=3).contains(&v) {
            return Reply::error("NOPROTO unsupported protocol version");
        }
        version = Some(v);
        next = 2;
    }
    let mut credentials = None;
    let mut name = None;
    let mut j = next;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        if eq_ci(&argv[j], "auth") && more >= 2 {
            credentials = Some((&argv[j + 1], &argv[j + 2]));
            j += 3;
        } else if eq_ci(&argv[j], "setname") && more >= 1 {
            name = Some(&argv[j + 1]);
            j += 2;
        } else {
            return Reply::Error(
                format!("ERR Syntax error in HELLO option '{}'", lossy(&argv[j])).into(),
            );
        }
    }
    if let Some((user, password)) = credentials {
        if !check_password(ctx, &argv[0], user, password) {
            return wrongpass();
        }
        ctx.client.set_authenticated(true);
    }
    if !ctx.client.authenticated {
        return Reply::error(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        );
    }
    if let Some(name) = name {
        if !valid_client_name(name) {
            return Reply::error(
                "ERR Client names cannot contain spaces, newlines or special characters.",
            );
        }
        ctx.client.name = (!name.is_empty()).then(|| name.clone());
    }
    match version {
        Some(3) => ctx.client.protocol = Protocol::Resp3,
        Some(_) => ctx.client.protocol = Protocol::Resp2,
        None => {}
    }
    let proto = match ctx.client.protocol {
        Protocol::Resp2 => 2,
        Protocol::Resp3 => 3,
    };
    Reply::Map(vec![
        (Reply::bulk("server"), Reply::bulk("redis")),
        (Reply::bulk("version"), Reply::bulk(REDIS_VERSION)),
        (Reply::bulk("proto"), Reply::Integer(proto)),
        (Reply::bulk("id"), Reply::Integer(ctx.client.id as i64)),
        (Reply::bulk("mode"), Reply::bulk("standalone")),
        (Reply::bulk("role"), Reply::bulk("master")),
        (Reply::bulk("modules"), Reply::Array(Vec::new())),
    ])
}

fn select(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let index = match parse_i32(&argv[1]) {
        Ok(i) => i,
        Err(reply) => return reply,
    };
    if index < 0 || index as i64 >= ctx.engine.keyspace.databases() as i64 {
        return Reply::error("ERR DB index is out of range");
    }
    ctx.client.db = index as u32;
    Reply::ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_names() {
        assert!(valid_client_name(b"worker-1"));
        assert!(valid_client_name(b""));
        assert!(!valid_client_name(b"a b"));
        assert!(!valid_client_name(b"a\nb"));
    }
}
