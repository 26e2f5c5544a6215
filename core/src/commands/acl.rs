//! ACL: users, their permissions and the denial log (the machinery is the engine's,
//! `engine/acl/`): SETUSER, GETUSER, DELUSER, USERS, LIST, CAT, WHOAMI, DRYRUN, GENPASS,
//! LOG, SAVE, LOAD, HELP.

use bytes::Bytes;

use super::table::{flags::*, CommandSpec};
use super::{eq_ci, help_reply, lossy};
use crate::engine::acl::user::{hash_password, hex, merge_selectors, Selector, User};
use crate::engine::acl::{categories, check, source};
use crate::engine::Ctx;
use crate::protocol::Reply;

const ADMIN_CATS: &[&str] = &["admin", "slow", "dangerous"];
const ADMIN_FLAGS: u32 = ADMIN | NOSCRIPT | LOADING | STALE;

const fn sub(name: &'static str, arity: i32, handler: super::table::HandlerFn) -> CommandSpec {
    CommandSpec::new(name, arity, handler)
        .flags(ADMIN_FLAGS)
        .categories(ADMIN_CATS)
}

/// The ACL command.
pub static COMMANDS: &[CommandSpec] = &[CommandSpec::container("acl", -2)
    .categories(&["slow"])
    .doc(
        "server",
        "A container for Access List Control commands.",
        "6.0.0",
        "Depends on subcommand.",
    )
    .subcommands(&[
        CommandSpec::new("cat", -2, acl_cat)
            .flags(NOSCRIPT | LOADING | STALE)
            .categories(&["slow"])
            .doc(
                "server",
                "Lists the ACL categories, or the commands inside a category.",
                "6.0.0",
                "O(1) since the categories and commands are a fixed set.",
            ),
        sub("deluser", -3, acl_deluser).doc(
            "server",
            "Deletes ACL users, and terminates their connections.",
            "6.0.0",
            "O(1) amortized time considering the typical user.",
        ),
        sub("dryrun", -4, acl_dryrun).doc(
            "server",
            "Simulates the execution of a command by a user, without executing the command.",
            "7.0.0",
            "O(1).",
        ),
        CommandSpec::new("genpass", -2, acl_genpass)
            .flags(NOSCRIPT | LOADING | STALE)
            .categories(&["slow"])
            .doc(
                "server",
                "Generates a pseudorandom, secure password that can be used to identify ACL users.",
                "6.0.0",
                "O(N)",
            ),
        sub("getuser", 3, acl_getuser).doc(
            "server",
            "Lists the ACL rules of a user.",
            "6.0.0",
            "O(N). Where N is the number of password, command and pattern rules that the user has.",
        ),
        CommandSpec::new("help", 2, acl_help)
            .flags(LOADING | STALE)
            .categories(&["slow"])
            .doc(
                "server",
                "Returns helpful text about the different subcommands.",
                "6.0.0",
                "O(1)",
            ),
        sub("list", 2, acl_list).doc(
            "server",
            "Dumps the effective rules in ACL file format.",
            "6.0.0",
            "O(N). Where N is the number of configured users.",
        ),
        sub("load", 2, acl_load).doc(
            "server",
            "Reloads the rules from the configured ACL file.",
            "6.0.0",
            "O(N). Where N is the number of configured users.",
        ),
        sub("log", -2, acl_log).doc(
            "server",
            "Lists recent security events generated due to ACL rules.",
            "6.0.0",
            "O(N) with N being the number of entries shown.",
        ),
        sub("save", 2, acl_save).doc(
            "server",
            "Saves the effective ACL rules in the configured ACL file.",
            "6.0.0",
            "O(N). Where N is the number of configured users.",
        ),
        sub("setuser", -3, acl_setuser).doc(
            "server",
            "Creates and modifies an ACL user and its rules.",
            "6.0.0",
            "O(N). Where N is the number of rules provided.",
        ),
        sub("users", 2, acl_users).doc(
            "server",
            "Lists all ACL users.",
            "6.0.0",
            "O(N). Where N is the number of configured users.",
        ),
        CommandSpec::new("whoami", 2, acl_whoami)
            .flags(NOSCRIPT | LOADING | STALE)
            .categories(&["slow"])
            .doc(
                "server",
                "Returns the authenticated username of the current connection.",
                "6.0.0",
                "O(1)",
            ),
    ])];

fn acl_setuser(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let name = lossy(&argv[2]).into_owned();
    if !crate::engine::acl::user::valid_name(&argv[2]) {
        return Reply::error("ERR Usernames can't contain spaces or null characters");
    }
    let engine = &*ctx.engine;
    let allchannels = engine.acl_allchannels_default();
    let mut user = match engine.acl.get(&name) {
        Some(existing) => (**existing).clone(),
        None => User::new(&name, allchannels),
    };
    let rules: Vec<String> = argv[3..].iter().map(|r| rule_text(r)).collect();
    let rules = match merge_selectors(&rules) {
        Ok(rules) => rules,
        Err(e) => return Reply::Error(e.into()),
    };
    let applied = user.apply_all(
        rules.iter().map(String::as_str),
        &|n| engine.acl_command_known(n),
        allchannels,
    );
    if let Err((rule, e)) = applied {
        return Reply::Error(
            format!(
                "ERR Error in ACL SETUSER modifier '{rule}': {}",
                e.message()
            )
            .into(),
        );
    }
    ctx.engine.acl_store(ctx.client, user);
    Reply::ok()
}

/// A rule as text. A password that is not UTF-8 (`>` or `<` and any bytes, as Redis takes
/// them) is turned into its hash form (`#` or `!`) first, so that no byte is lost.
fn rule_text(rule: &[u8]) -> String {
    match (rule.first(), std::str::from_utf8(rule)) {
        (_, Ok(text)) => text.to_string(),
        (Some(b'>'), Err(_)) => format!("#{}", hex(&hash_password(&rule[1..]))),
        (Some(b'<'), Err(_)) => format!("!{}", hex(&hash_password(&rule[1..]))),
        _ => lossy(rule).into_owned(),
    }
}

fn acl_getuser(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let Some(user) = ctx.engine.acl.get(&lossy(&argv[2])) else {
        return Reply::Null;
    };
    let list = |items: Vec<String>| Reply::Array(items.into_iter().map(Reply::bulk).collect());
    let describe = |s: &Selector| {
        vec![
            (Reply::bulk("commands"), Reply::bulk(s.describe_commands())),
            (Reply::bulk("keys"), Reply::bulk(s.describe_keys())),
            (Reply::bulk("channels"), Reply::bulk(s.describe_channels())),
        ]
    };
    let mut fields = vec![
        (
            Reply::bulk("flags"),
            Reply::Set(user.flags().iter().map(|f| Reply::bulk(*f)).collect()),
        ),
        (
            Reply::bulk("passwords"),
            list(
                user.passwords
                    .iter()
                    .map(crate::engine::acl::user::hex)
                    .collect(),
            ),
        ),
    ];
    fields.extend(describe(&user.root));
    let selectors = user
        .selectors
        .iter()
        .map(|s| Reply::Map(describe(s)))
        .collect();
    fields.push((Reply::bulk("selectors"), Reply::Array(selectors)));
    Reply::Map(fields)
}

fn acl_deluser(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    if argv[2..].iter().any(|n| &n[..] == b"default") {
        return Reply::error("ERR The 'default' user cannot be removed");
    }
    let mut deleted = 0;
    for name in &argv[2..] {
        if ctx.engine.acl_delete(ctx.client, &lossy(name)) {
            deleted += 1;
        }
    }
    Reply::Integer(deleted)
}

fn acl_users(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    Reply::Array(
        ctx.engine
            .acl
            .users()
            .map(|u| Reply::bulk(u.name.clone()))
            .collect(),
    )
}

fn acl_list(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    Reply::Array(
        ctx.engine
            .acl
            .users()
            .map(|u| Reply::bulk(u.describe()))
            .collect(),
    )
}

fn acl_cat(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    if argv.len() > 3 {
        return wrong_args(&argv[1]);
    }
    let Some(name) = argv.get(2) else {
        return Reply::Array(categories::NAMES.iter().map(|n| Reply::bulk(*n)).collect());
    };
    let name = lossy(name);
    let bit = match categories::bit(&name) {
        Some(bit) if bit != categories::ALL => bit,
        _ => return Reply::Error(format!("ERR Unknown category '{name}'").into()),
    };
    let mut out = Vec::new();
    for cmd in ctx.engine.commands.iter_sorted() {
        if cmd.handler.is_some() && cmd.acl_categories & bit != 0 {
            out.push(Reply::bulk(cmd.name.clone()));
        }
        for sub in &cmd.subcommands {
            if sub.acl_categories & bit != 0 {
                out.push(Reply::bulk(sub.name.clone()));
            }
        }
    }
    Reply::Array(out)
}

/// Redis's reply to extra arguments of a subcommand that takes a fixed few.
fn wrong_args(sub: &[u8]) -> Reply {
    Reply::Error(
        format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try ACL HELP.",
            lossy(sub)
        )
        .into(),
    )
}

fn acl_whoami(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    Reply::bulk(ctx.client.user.name.clone())
}

fn acl_dryrun(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let name = lossy(&argv[2]);
    let Some(user) = ctx.engine.acl.get(&name).cloned() else {
        return Reply::Error(format!("ERR User '{name}' not found").into());
    };
    let args = &argv[3..];
    let cmd = match ctx.engine.resolve(args) {
        Ok(cmd) => cmd,
        Err((None, _)) => return not_found(&args[0]),
        // An unknown subcommand is an unknown command here, as Redis says.
        Err((Some(_), Reply::Error(e))) if e.starts_with("ERR unknown subcommand") => {
            return not_found(&args[0])
        }
        Err((Some(_), reply)) => return reply,
    };
    match check::check(&user, &cmd, args) {
        Ok(()) => Reply::ok(),
        Err(denied) => Reply::bulk(denied.dryrun(&cmd, args)),
    }
}

fn not_found(name: &[u8]) -> Reply {
    Reply::Error(format!("ERR Command '{}' not found", lossy(name)).into())
}

fn acl_genpass(_ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let bits = match argv.get(2) {
        None => 256,
        Some(arg) => match super::parse_i64(arg) {
            Some(n) if (1..=4096).contains(&n) => n as usize,
            None => return Reply::error("ERR value is not an integer or out of range"),
            Some(_) => {
                return Reply::error(
                    "ERR ACL GENPASS argument must be the number of bits for the output \
                     password, a positive number up to 4096",
                )
            }
        },
    };
    let chars = bits.div_ceil(4);
    let mut bytes = vec![0u8; chars.div_ceil(2)];
    if getrandom::getrandom(&mut bytes).is_err() {
        return Reply::error("ERR cannot read random bytes from the operating system");
    }
    let mut hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    hex.truncate(chars);
    Reply::bulk(hex)
}

fn acl_log(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let mut count = 10;
    if let Some(arg) = argv.get(2) {
        if argv.len() > 3 {
            return wrong_args(&argv[1]);
        }
        if eq_ci(arg, "reset") {
            ctx.engine.acl.log.reset();
            return Reply::ok();
        }
        match super::parse_i64(arg) {
            // A negative count shows nothing, as in Redis.
            Some(n) => count = usize::try_from(n).unwrap_or(0),
            None => return Reply::error("ERR value is not an integer or out of range"),
        }
    }
    let now = crate::keyspace::now_ms();
    let entries = ctx
        .engine
        .acl
        .log
        .newest(count)
        .map(|e| {
            Reply::Map(vec![
                (Reply::bulk("count"), Reply::Integer(e.count as i64)),
                (Reply::bulk("reason"), Reply::bulk(e.reason)),
                (Reply::bulk("context"), Reply::bulk(e.context)),
                (Reply::bulk("object"), Reply::bulk(e.object.clone())),
                (Reply::bulk("username"), Reply::bulk(e.username.clone())),
                (
                    Reply::bulk("age-seconds"),
                    Reply::Double((now - e.updated_ms).max(0) as f64 / 1000.0),
                ),
                (
                    Reply::bulk("client-info"),
                    Reply::bulk(e.client_info.clone()),
                ),
            ])
        })
        .collect();
    Reply::Array(entries)
}

/// Redis's refusal when no aclfile is configured.
const NO_ACLFILE: &str = "ERR This Redis instance is not configured to use an ACL file. You \
    may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE \
    (assuming you have a Redis configuration file set) in order to store users in the Redis \
    configuration.";

fn aclfile(ctx: &Ctx<'_>) -> Option<String> {
    ctx.engine
        .config
        .redis_param("aclfile")
        .filter(|p| !p.is_empty())
}

fn acl_save(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    let Some(path) = aclfile(ctx) else {
        return Reply::error(NO_ACLFILE);
    };
    let text = source::format_aclfile(ctx.engine.acl.users().map(|u| &**u));
    // Written aside and renamed, so that a crash never leaves half a file.
    let tmp = format!("{path}.tmp-{}", std::process::id());
    let written = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &path));
    match written {
        Ok(()) => Reply::ok(),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            tracing::warn!(path = %path, error = %e, "ACL SAVE failed");
            Reply::error(
                "ERR There was an error trying to save the ACLs. Please check the server logs \
                 for more information",
            )
        }
    }
}

fn acl_load(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    let Some(path) = aclfile(ctx) else {
        return Reply::error(NO_ACLFILE);
    };
    match ctx.engine.read_aclfile(&path, false) {
        Ok(users) => {
            ctx.engine.acl_replace(ctx.client, users);
            Reply::ok()
        }
        Err(e) => Reply::Error(format!("ERR {e}").into()),
    }
}

fn acl_help(_ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    help_reply(
        "ACL",
        &[
            "CAT [<category>]",
            "    List all commands that belong to <category>, or all command categories",
            "    when no category is specified.",
            "DELUSER <username> [<username> ...]",
            "    Delete a list of users.",
            "DRYRUN <username> <command> [<arg> ...]",
            "    Returns whether the user can execute the given command without executing the command.",
            "GETUSER <username>",
            "    Get the user's details.",
            "GENPASS [<bits>]",
            "    Generate a secure 256-bit user password. The optional `bits` argument can",
            "    be used to specify a different size.",
            "LIST",
            "    Show users details in config file format.",
            "LOAD",
            "    Reload users from the ACL file.",
            "LOG [<count> | RESET]",
            "    Show the ACL log entries.",
            "SAVE",
            "    Save the current config to the ACL file.",
            "SETUSER <username> <attribute> [<attribute> ...]",
            "    Create or modify a user with the specified attributes.",
            "USERS",
            "    List all the registered usernames.",
            "WHOAMI",
            "    Return the current connection username.",
        ],
    )
}
