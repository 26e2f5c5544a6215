//! CLIENT and its subcommands.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::connection::valid_client_name;
use super::table::{flags::*, CommandSpec};
use super::{eq_ci, err_not_integer, err_syntax, help_reply, lossy, parse_i64};
use crate::engine::blocked::Unblock;
use crate::engine::client::{ClientState, ReplyMode};
use crate::engine::pause::PauseMode;
use crate::engine::tracking::TrackingOptions;
use crate::engine::Ctx;
use crate::protocol::Reply;

const CATS: &[&str] = &["slow", "connection"];
const ADMIN_CATS: &[&str] = &["admin", "slow", "dangerous", "connection"];

/// CLIENT.
pub static COMMANDS: &[CommandSpec] = &[CommandSpec::container("client", -2)
    .categories(&["slow"])
    .doc(
        "connection",
        "A container for client connection commands.",
        "2.4.0",
        "O(1)",
    )
    .subcommands(&[
        CommandSpec::new("id", 2, client_id)
            .flags(NOSCRIPT | LOADING | STALE)
            .categories(CATS)
            .doc(
                "connection",
                "Returns the unique client ID of the connection.",
                "1.0.0",
                "O(1)",
            ),
        CommandSpec::new("setname", 3, client_setname)
            .flags(NOSCRIPT | LOADING | STALE)
            .categories(CATS)
            .doc("connection", "Sets the connection name.", "1.0.0", "O(1)"),
        CommandSpec::new("getname", 2, client_getname)
            .flags(NOSCRIPT | LOADING | STALE)
            .categories(CATS)
            .doc(
                "connection",
                "Returns the name of the connection.",
                "1.0.0",
                "O(1)",
            ),
        CommandSpec::new("setinfo", 4, client_setinfo)
            .flags(NOSCRIPT | LOADING | STALE)
            .categories(CATS)
            .doc(
                "connection",
                "Sets information specific to the client or connection.",
                "1.0.0",
                "O(1)",
            ),
        CommandSpec::new("list", -2, client_list)
            .flags(ADMIN | NOSCRIPT | LOADING | STALE)
            .categories(ADMIN_CATS)
            .doc("connection", "Lists open connections.", "1.0.0", "O(1)"),
        CommandSpec::new("info", 2, client_info)
            .flags(NOSCRIPT | LOADING | STALE)
            .categories(CATS)
            .doc(
                "connection",
                "Returns information about the connection.",
                "1.0.0",
                "O(1)",
            ),
        CommandSpec::new("kill", -3, client_kill)
            .flags(ADMIN | NOSCRIPT | LOADING | STALE)
            .categories(ADMIN_CATS)
            .doc(
                "connection",
                "Terminates open connections.",
                "1.0.0",
                "O(1)",
            ),
        CommandSpec::new("unblock", -3, client_unblock)
            .flags(ADMIN | NOSCRIPT | LOADING | STALE)
            .categories(ADMIN_CATS)
            .doc(
                "connection",
                "Unblocks a client blocked by a blocking command from a different connection.",
                "1.0.0",
                "O(1)",
            ),
        CommandSpec::new("pause", -3, client_pause)
            .flags(ADMIN | NOSCRIPT | LOADING | STALE)
            .categories(ADMIN_CATS)
            .doc(
                "connection",
                "Suspends commands processing.",
                "3.0.0",
                "O(1)",
            ),
        CommandSpec::new("unpause", 2, client_unpause)
            .flags(ADMIN | NOSCRIPT | LOADING | STALE)
            .categories(ADMIN_CATS)
            .doc(
                "connection",
                "Resumes processing commands from paused clients.",
                "6.2.0",
                "O(N) Where N is the number of paused clients",
            ),
        CommandSpec::new("reply", 3, client_reply)
            .flags(NOSCRIPT | LOADING | STALE)
            .categories(CATS)
            .doc(
                "connection",
                "Instructs the server whether to reply to commands.",
                "1.0.0",
                "O(1)",
            ),
        CommandSpec::new("no-evict", 3, client_no_evict)
            .flags(ADMIN | NOSCRIPT | LOADING | STALE)
            .categories(ADMIN_CATS)
            .doc(
                "connection",
                "Sets the client eviction mode of the connection.",
                "1.0.0",
                "O(1)",
            ),
        CommandSpec::new("tracking", -3, client_tracking)
            .flags(NOSCRIPT | LOADING | STALE)
            .categories(CATS)
            .doc(
                "connection",
                "Controls server-assisted client-side caching for the connection.",
                "6.0.0",
                "O(1). Some options may introduce additional complexity.",
            ),
        CommandSpec::new("caching", 3, client_caching)
            .flags(NOSCRIPT | LOADING | STALE)
            .categories(CATS)
            .doc(
                "connection",
                "Instructs the server whether to track the keys in the next request.",
                "6.0.0",
                "O(1)",
            ),
        CommandSpec::new("getredir", 2, client_getredir)
            .flags(NOSCRIPT | LOADING | STALE)
            .categories(CATS)
            .doc(
                "connection",
                "Returns the client ID to which the connection's tracking notifications are \
                 redirected.",
                "6.0.0",
                "O(1)",
            ),
        CommandSpec::new("trackinginfo", 2, client_trackinginfo)
            .flags(NOSCRIPT | LOADING | STALE)
            .categories(CATS)
            .doc(
                "connection",
                "Returns information about server-assisted client-side caching for the \
                 connection.",
                "6.2.0",
                "O(1)",
            ),
        CommandSpec::new("no-touch", 3, client_no_touch)
            .flags(NOSCRIPT | LOADING | STALE)
            .categories(CATS)
            .doc(
                "connection",
                "Controls whether commands sent by the client affect the LRU/LFU of accessed \
                 keys.",
                "7.2.0",
                "O(1)",
            ),
        CommandSpec::new("help", 2, client_help)
            .flags(LOADING | STALE)
            .categories(CATS)
            .doc(
                "connection",
                "Returns helpful text about the different subcommands.",
                "1.0.0",
                "O(1)",
            ),
    ])];

fn client_id(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    Reply::Integer(ctx.client.id as i64)
}

fn client_setname(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    if !valid_client_name(&argv[2]) {
        return Reply::error(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        );
    }
    ctx.client.name = (!argv[2].is_empty()).then(|| argv[2].clone());
    Reply::ok()
}

fn client_getname(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    match &ctx.client.name {
        Some(n) => Reply::Bulk(n.clone()),
        None => Reply::Null,
    }
}

fn client_setinfo(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let value = &argv[3];
    if !valid_client_name(value) {
        return Reply::Error(
            format!(
                "ERR {} cannot contain spaces, newlines or special characters.",
                lossy(&argv[2]).to_ascii_uppercase()
            )
            .into(),
        );
    }
    let value = (!value.is_empty()).then(|| value.clone());
    if eq_ci(&argv[2], "lib-name") {
        ctx.client.lib_name = value;
    } else if eq_ci(&argv[2], "lib-ver") {
        ctx.client.lib_ver = value;
    } else {
        return Reply::Error(format!("ERR Unrecognized option '{}'", lossy(&argv[2])).into());
    }
    Reply::ok()
}

/// Every client, the caller included, ordered by ID.
fn all_clients<'a>(ctx: &'a Ctx<'_>) -> Vec<&'a ClientState> {
    let mut all: Vec<&ClientState> = ctx.engine.clients.values().map(|c| &**c).collect();
    all.push(&*ctx.client);
    all.sort_by_key(|c| c.id);
    all
}

/// The `argv-mem` of a client in CLIENT LIST: the caller's current command, or the command
/// another client is blocked in (others run nothing while the caller does).
fn client_argv_mem(ctx: &Ctx<'_>, c: &ClientState, argv: &[Bytes]) -> usize {
    if c.id == ctx.client.id {
        crate::engine::client::argv_mem(argv)
    } else if c.blocked {
        ctx.engine.blocked.argv_mem(c.id)
    } else {
        0
    }
}

fn client_list(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let mut ids: Option<Vec<u64>> = None;
    // CLIENT LIST TYPE: Some(true) for pubsub clients, Some(false) for normal ones.
    let mut pubsub: Option<bool> = None;
    let mut i = 2;
    while i < argv.len() {
        if eq_ci(&argv[i], "type") && i + 1 < argv.len() {
            let t = &argv[i + 1];
            if eq_ci(t, "normal") {
                pubsub = Some(false);
            } else if eq_ci(t, "pubsub") {
                pubsub = Some(true);
            } else if eq_ci(t, "master") || eq_ci(t, "replica") || eq_ci(t, "slave") {
                return Reply::bulk("");
            } else {
                return Reply::Error(format!("ERR Unknown client type '{}'", lossy(t)).into());
            }
            i += 2;
        } else if eq_ci(&argv[i], "id") && i + 1 < argv.len() {
            let mut list = Vec::new();
            for arg in &argv[i + 1..] {
                match parse_i64(arg) {
                    // IDs start at 1; zero or a negative ID simply matches no client.
                    Some(id) => list.push(u64::try_from(id).unwrap_or(0)),
                    None => return Reply::error("ERR Invalid client ID"),
                }
            }
            ids = Some(list);
            break;
        } else {
            return err_syntax();
        }
    }
    let now = Instant::now();
    let mut out = String::new();
    for c in all_clients(ctx) {
        if ids.as_ref().is_some_and(|ids| !ids.contains(&c.id)) {
            continue;
        }
        if pubsub.is_some_and(|p| p != c.subscribed()) {
            continue;
        }
        out.push_str(&c.info_line(now, client_argv_mem(ctx, c, argv)));
        out.push('\n');
    }
    Reply::Verbatim {
        format: *b"txt",
        text: Bytes::from(out),
    }
}

fn client_info(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let mut line = ctx
        .client
        .info_line(Instant::now(), crate::engine::client::argv_mem(argv));
    line.push('\n');
    Reply::Verbatim {
        format: *b"txt",
        text: Bytes::from(line),
    }
}

#[derive(Default)]
struct KillFilter {
    id: Option<u64>,
    addr: Option<String>,
    laddr: Option<String>,
    user: Option<String>,
    skip_me: bool,
    normal_only: Option<bool>,
    /// MAXAGE: only clients connected at least this many seconds.
    max_age: Option<u64>,
}

impl KillFilter {
    fn matches(&self, c: &ClientState, me: u64) -> bool {
        if self.skip_me && c.id == me {
            return false;
        }
        self.id.is_none_or(|id| id == c.id)
            && self.addr.as_ref().is_none_or(|a| *a == c.addr.to_string())
            && self
                .laddr
                .as_ref()
                .is_none_or(|a| *a == c.laddr.to_string())
            && self.user.as_ref().is_none_or(|u| *u == c.user.name)
            && self.normal_only.unwrap_or(true)
            && self
                .max_age
                .is_none_or(|max| c.created.elapsed().as_secs() >= max)
    }
}

fn client_kill(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let me = ctx.client.id;
    if argv.len() == 3 {
        // Old form: CLIENT KILL addr:port, replies OK or an error.
        let addr = lossy(&argv[2]).into_owned();
        let filter = KillFilter {
            addr: Some(addr),
            ..KillFilter::default()
        };
        return if kill_matching(ctx, &filter, me) > 0 {
            Reply::ok()
        } else {
            Reply::error("ERR No such client")
        };
    }
    let mut filter = KillFilter {
        skip_me: true,
        ..KillFilter::default()
    };
    let mut i = 2;
    while i < argv.len() {
        if i + 1 >= argv.len() {
            return err_syntax();
        }
        let (opt, value) = (&argv[i], &argv[i + 1]);
        if eq_ci(opt, "id") {
            match parse_i64(value) {
                Some(id) if id > 0 => filter.id = Some(id as u64),
                _ => return Reply::error("ERR client-id should be greater than 0"),
            }
        } else if eq_ci(opt, "addr") {
            filter.addr = Some(lossy(value).into_owned());
        } else if eq_ci(opt, "laddr") {
            filter.laddr = Some(lossy(value).into_owned());
        } else if eq_ci(opt, "user") {
            let user = lossy(value).into_owned();
            if ctx.engine.acl.get(&user).is_none() {
                return Reply::Error(format!("ERR No such user '{user}'").into());
            }
            filter.user = Some(user);
        } else if eq_ci(opt, "type") {
            if eq_ci(value, "normal") {
                filter.normal_only = Some(true);
            } else if ["master", "replica", "slave", "pubsub"]
                .iter()
                .any(|t| eq_ci(value, t))
            {
                filter.normal_only = Some(false);
            } else {
                return Reply::Error(format!("ERR Unknown client type '{}'", lossy(value)).into());
            }
        } else if eq_ci(opt, "skipme") {
            if eq_ci(value, "yes") {
                filter.skip_me = true;
            } else if eq_ci(value, "no") {
                filter.skip_me = false;
            } else {
                return err_syntax();
            }
        } else if eq_ci(opt, "maxage") {
            // Redis 7.4: clients connected for at least this many seconds.
            match parse_i64(value) {
                Some(secs) if secs > 0 => filter.max_age = Some(secs as u64),
                Some(_) => return Reply::error("ERR maxage should be greater than 0"),
                None => return Reply::error("ERR maxage is not an integer or out of range"),
            }
        } else {
            return err_syntax();
        }
        i += 2;
    }
    Reply::Integer(kill_matching(ctx, &filter, me) as i64)
}

fn kill_matching(ctx: &mut Ctx<'_>, filter: &KillFilter, me: u64) -> usize {
    let mut killed = Vec::new();
    for c in ctx.engine.clients.values() {
        if filter.matches(c, me) {
            c.shared.kill();
            killed.push(c.id);
        }
    }
    // A killed client waits for nothing more: it must not be served an element it would
    // never read before its connection task notices the kill.
    for &id in &killed {
        ctx.engine.unblock(id, Unblock::Gone);
    }
    let mut killed = killed.len();
    if filter.matches(ctx.client, me) {
        // Redis closes the caller after replying.
        ctx.client.close_after_reply = true;
        killed += 1;
    }
    killed
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: 1 if the client was blocked and is released.
fn client_unblock(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    if argv.len() > 4 {
        return Reply::error(
            "ERR unknown subcommand or wrong number of arguments for 'unblock'. Try CLIENT HELP.",
        );
    }
    let Some(id) = parse_i64(&argv[2]) else {
        return err_not_integer();
    };
    let why = match argv.get(3) {
        None => Unblock::Timeout,
        Some(a) if eq_ci(a, "timeout") => Unblock::Timeout,
        Some(a) if eq_ci(a, "error") => Unblock::Error,
        Some(_) => return Reply::error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"),
    };
    let Ok(id) = u64::try_from(id) else {
        return Reply::Integer(0);
    };
    // The caller runs a command, so it is not blocked itself.
    Reply::Integer(i64::from(
        id != ctx.client.id && ctx.engine.unblock(id, why),
    ))
}

/// CLIENT PAUSE timeout [WRITE|ALL]: holds the commands the mode covers for `timeout`
/// milliseconds (see [`crate::engine::pause`]).
fn client_pause(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    if argv.len() > 4 {
        return Reply::Error(
            format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
                lossy(&argv[1])
            )
            .into(),
        );
    }
    let mode = match argv.get(3) {
        None => PauseMode::All,
        Some(a) if eq_ci(a, "write") => PauseMode::Write,
        Some(a) if eq_ci(a, "all") => PauseMode::All,
        Some(_) => return Reply::error("ERR CLIENT PAUSE mode must be WRITE or ALL"),
    };
    let Some(ms) = parse_i64(&argv[2]) else {
        return Reply::error("ERR timeout is not an integer or out of range");
    };
    let Ok(ms) = u64::try_from(ms) else {
        return Reply::error("ERR timeout is negative");
    };
    // A timeout past what the clock can hold pauses for as long as it can (redis-server
    // 7.0.15 answers OK too).
    let now = Instant::now();
    let end = now
        .checked_add(Duration::from_millis(ms))
        .or_else(|| now.checked_add(Duration::from_secs(u64::from(u32::MAX))))
        .unwrap_or(now);
    ctx.engine.pause_clients(end, mode);
    Reply::ok()
}

/// CLIENT UNPAUSE: ends the pause; the held clients run their commands.
fn client_unpause(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    ctx.engine.unpause_clients();
    Reply::ok()
}

fn client_reply(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let mode = if eq_ci(&argv[2], "on") {
        ReplyMode::On
    } else if eq_ci(&argv[2], "off") {
        ReplyMode::Off
    } else if eq_ci(&argv[2], "skip") {
        ReplyMode::Skip
    } else {
        return err_syntax();
    };
    ctx.client.reply_mode = mode;
    Reply::ok()
}

fn client_no_evict(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    if eq_ci(&argv[2], "on") {
        ctx.client.no_evict = true;
    } else if eq_ci(&argv[2], "off") {
        ctx.client.no_evict = false;
    } else {
        return err_syntax();
    }
    Reply::ok()
}

/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]
/// (see [`crate::engine::tracking`]).
fn client_tracking(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let mut opts = TrackingOptions::default();
    let mut j = 3;
    while j < argv.len() {
        let more = j + 1 < argv.len();
        let a = &argv[j];
        if eq_ci(a, "redirect") && more {
            j += 1;
            if opts.redirect != 0 {
                return Reply::error("ERR A client can only redirect to a single other client");
            }
            let Some(id) = parse_i64(&argv[j]) else {
                return err_not_integer();
            };
            let exists = u64::try_from(id).is_ok_and(|id| {
                id != 0 && (id == ctx.client.id || ctx.engine.clients.contains_key(&id))
            });
            if !exists {
                return Reply::error("ERR The client ID you want redirect to does not exist");
            }
            opts.redirect = id as u64;
        } else if eq_ci(a, "bcast") {
            opts.bcast = true;
        } else if eq_ci(a, "optin") {
            opts.optin = true;
        } else if eq_ci(a, "optout") {
            opts.optout = true;
        } else if eq_ci(a, "noloop") {
            opts.noloop = true;
        } else if eq_ci(a, "prefix") && more {
            j += 1;
            opts.prefixes.push(argv[j].clone());
        } else {
            return err_syntax();
        }
        j += 1;
    }
    if eq_ci(&argv[2], "on") {
        match ctx.engine.enable_tracking(ctx.client, opts) {
            Ok(()) => Reply::ok(),
            Err(e) => Reply::Error(e.into()),
        }
    } else if eq_ci(&argv[2], "off") {
        ctx.engine.disable_tracking(ctx.client);
        Reply::ok()
    } else {
        err_syntax()
    }
}

/// CLIENT CACHING YES|NO: whether the next command's reads are tracked, in OPTIN or OPTOUT
/// mode.
fn client_caching(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let Some(t) = ctx.client.tracking.as_mut() else {
        return Reply::error(
            "ERR CLIENT CACHING can be called only when the client is in tracking mode with \
             OPTIN or OPTOUT mode enabled",
        );
    };
    if eq_ci(&argv[2], "yes") {
        if !t.optin {
            return Reply::error(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            );
        }
    } else if eq_ci(&argv[2], "no") {
        if !t.optout {
            return Reply::error(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            );
        }
    } else {
        return err_syntax();
    }
    t.caching = true;
    Reply::ok()
}

/// CLIENT GETREDIR: the redirect client, 0 when tracking without one, -1 when not tracking.
fn client_getredir(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    Reply::Integer(
        ctx.client
            .tracking
            .as_ref()
            .map_or(-1, |t| t.redirect as i64),
    )
}

/// CLIENT TRACKINGINFO: flags, redirect and prefixes, as Redis 7.0 reports them.
fn client_trackinginfo(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    let t = ctx.client.tracking.as_ref();
    let word = |w: &'static str| Reply::bulk(Bytes::from_static(w.as_bytes()));
    let mut flags = vec![word(if t.is_some() { "on" } else { "off" })];
    if let Some(t) = t {
        if t.bcast {
            flags.push(word("bcast"));
        }
        if t.optin {
            flags.push(word("optin"));
            if t.caching {
                flags.push(word("caching-yes"));
            }
        }
        if t.optout {
            flags.push(word("optout"));
            if t.caching {
                flags.push(word("caching-no"));
            }
        }
        if t.noloop {
            flags.push(word("noloop"));
        }
        if t.broken_redirect {
            flags.push(word("broken_redirect"));
        }
    }
    let prefixes = t.map_or_else(Vec::new, |t| {
        t.prefixes.iter().cloned().map(Reply::Bulk).collect()
    });
    Reply::Map(vec![
        (word("flags"), Reply::Set(flags)),
        (
            word("redirect"),
            Reply::Integer(t.map_or(-1, |t| t.redirect as i64)),
        ),
        (word("prefixes"), Reply::Array(prefixes)),
    ])
}

/// CLIENT NO-TOUCH ON|OFF (Redis 7.2): the client's commands leave keys' access times (OBJECT
/// IDLETIME) alone, except TOUCH.
fn client_no_touch(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    if eq_ci(&argv[2], "on") {
        ctx.client.no_touch = true;
    } else if eq_ci(&argv[2], "off") {
        ctx.client.no_touch = false;
    } else {
        return err_syntax();
    }
    Reply::ok()
}

fn client_help(_ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    // Redis 7.0's text and order, then what later versions added.
    help_reply(
        "CLIENT",
        &[
            "CACHING (YES|NO)",
            "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
            "GETREDIR",
            "    Return the client ID we are redirecting to when tracking is enabled.",
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made from the specified address",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made to specified local address",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Kill connections by type.",
            "    * USER <username>",
            "      Kill connections authenticated by <username>.",
            "    * SKIPME (YES|NO)",
            "      Skip killing current connection (default: yes).",
            "    * ID <client-id>",
            "      Kill connections by client id.",
            "    * MAXAGE <maxage>",
            "      Kill connections older than the specified age.",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "UNPAUSE",
            "    Stop the current client pause, resuming traffic.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Suspend all, or just write, clients for <timeout> milliseconds.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "UNBLOCK <clientid> [TIMEOUT|ERROR]",
            "    Unblock the specified blocked client.",
            "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
            "         [OPTIN] [OPTOUT] [NOLOOP]",
            "    Control server assisted client side caching.",
            "TRACKINGINFO",
            "    Report tracking status for the current connection.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
            "NO-TOUCH (ON|OFF)",
            "    Will not touch LRU/LFU stats when this mode is on.",
            "SETINFO <option> <value>",
            "    Set client meta attr. Options are:",
            "    * LIB-NAME: the client lib name.",
            "    * LIB-VER: the client lib version.",
        ],
    )
}
