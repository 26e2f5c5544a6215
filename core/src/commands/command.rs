//! COMMAND and its subcommands, answered from the command table.

use std::sync::Arc;

use bytes::Bytes;

use super::table::{flags, flags::*, Command, CommandSpec};
use super::{eq_ci, err_syntax, help_reply};
use crate::engine::Ctx;
use crate::glob::glob_match;
use crate::protocol::Reply;

const CATS: &[&str] = &["slow", "connection"];

/// COMMAND.
pub static COMMANDS: &[CommandSpec] = &[CommandSpec::new("command", -1, command_all)
    .flags(LOADING | STALE)
    .categories(CATS)
    .doc(
        "server",
        "Returns detailed information about all commands.",
        "2.8.13",
        "O(N) where N is the total number of Redis commands",
    )
    .subcommands(&[
        CommandSpec::new("count", 2, command_count)
            .flags(LOADING | STALE)
            .categories(CATS)
            .doc("server", "Returns a count of commands.", "1.0.0", "O(1)"),
        CommandSpec::new("info", -2, command_info)
            .flags(LOADING | STALE)
            .categories(CATS)
            .doc(
                "server",
                "Returns information about one, multiple or all commands.",
                "1.0.0",
                "O(1)",
            ),
        CommandSpec::new("list", -2, command_list)
            .flags(LOADING | STALE)
            .categories(CATS)
            .doc(
                "server",
                "Returns a list of command names.",
                "1.0.0",
                "O(1)",
            ),
        CommandSpec::new("docs", -2, command_docs)
            .flags(LOADING | STALE)
            .categories(CATS)
            .doc(
                "server",
                "Returns documentary information about one, multiple or all commands.",
                "1.0.0",
                "O(1)",
            ),
        CommandSpec::new("getkeys", -4, command_getkeys)
            .flags(LOADING | STALE)
            .categories(CATS)
            .doc(
                "server",
                "Extracts the key names from an arbitrary command.",
                "1.0.0",
                "O(1)",
            ),
        CommandSpec::new("help", 2, command_help)
            .flags(LOADING | STALE)
            .categories(CATS)
            .doc(
                "server",
                "Returns helpful text about the different subcommands.",
                "1.0.0",
                "O(1)",
            ),
    ])];

fn status(s: &str) -> Reply {
    Reply::Simple(s.to_string().into())
}

fn info_of(cmd: &Command) -> Reply {
    // Redis 7.0 keeps `may_replicate` to itself.
    let flag_list = flags::NAMES
        .iter()
        .filter(|(bit, _)| cmd.flags & bit != 0 && *bit != flags::MAY_REPLICATE)
        .map(|(_, name)| status(name))
        .collect();
    // The categories ACL rules match: declared and implied by the flags, in Redis's order.
    let names = crate::engine::acl::categories::NAMES;
    let categories = names
        .iter()
        .enumerate()
        .filter(|(i, _)| cmd.acl_categories & (1 << i) != 0)
        .map(|(_, c)| Reply::Simple(format!("@{c}").into()))
        .collect();
    let mut key_specs = if cmd.first_key > 0 {
        let access = if cmd.has(flags::WRITE) { "RW" } else { "RO" };
        let last = if cmd.last_key < 0 {
            cmd.last_key as i64
        } else {
            (cmd.last_key - cmd.first_key) as i64
        };
        vec![Reply::Map(vec![
            (Reply::bulk("flags"), Reply::Set(vec![status(access)])),
            (
                Reply::bulk("begin_search"),
                Reply::Map(vec![
                    (Reply::bulk("type"), Reply::bulk("index")),
                    (
                        Reply::bulk("spec"),
                        Reply::Map(vec![(
                            Reply::bulk("index"),
                            Reply::Integer(cmd.first_key as i64),
                        )]),
                    ),
                ]),
            ),
            (
                Reply::bulk("find_keys"),
                Reply::Map(vec![
                    (Reply::bulk("type"), Reply::bulk("range")),
                    (
                        Reply::bulk("spec"),
                        Reply::Map(vec![
                            (Reply::bulk("lastkey"), Reply::Integer(last)),
                            (Reply::bulk("keystep"), Reply::Integer(cmd.step as i64)),
                            (Reply::bulk("limit"), Reply::Integer(0)),
                        ]),
                    ),
                ]),
            ),
        ])]
    } else {
        Vec::new()
    };
    if cmd.numkeys_at > 0 {
        // Redis's "keynum" spec: the count at the index, the keys right after it.
        let access = if cmd.has(flags::WRITE) { "RW" } else { "RO" };
        let int = |n: i32| Reply::Integer(n as i64);
        key_specs.push(Reply::Map(vec![
            (Reply::bulk("flags"), Reply::Set(vec![status(access)])),
            (
                Reply::bulk("begin_search"),
                Reply::Map(vec![
                    (Reply::bulk("type"), Reply::bulk("index")),
                    (
                        Reply::bulk("spec"),
                        Reply::Map(vec![(Reply::bulk("index"), int(cmd.numkeys_at))]),
                    ),
                ]),
            ),
            (
                Reply::bulk("find_keys"),
                Reply::Map(vec![
                    (Reply::bulk("type"), Reply::bulk("keynum")),
                    (
                        Reply::bulk("spec"),
                        Reply::Map(vec![
                            (Reply::bulk("keynumidx"), int(0)),
                            (Reply::bulk("firstkey"), int(1)),
                            (Reply::bulk("keystep"), int(1)),
                        ]),
                    ),
                ]),
            ),
        ]));
    }
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(cmd.name.clone())),
        Reply::Integer(cmd.arity as i64),
        Reply::Set(flag_list),
        Reply::Integer(cmd.first_key as i64),
        Reply::Integer(cmd.last_key as i64),
        Reply::Integer(cmd.step as i64),
        Reply::Set(categories),
        Reply::Array(Vec::new()),
        Reply::Array(key_specs),
        Reply::Array(cmd.subcommands.iter().map(|s| info_of(s)).collect()),
    ])
}

fn command_all(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    Reply::Array(
        ctx.engine
            .commands
            .iter_sorted()
            .into_iter()
            .map(|c| info_of(c))
            .collect(),
    )
}

fn command_count(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    Reply::Integer(ctx.engine.commands.len() as i64)
}

/// Finds `name` or `parent|sub` in the table.
fn find<'a>(ctx: &'a Ctx<'_>, name: &[u8]) -> Option<&'a Arc<Command>> {
    match name.iter().position(|&b| b == b'|') {
        None => ctx.engine.commands.get(name),
        Some(bar) => ctx
            .engine
            .commands
            .get(&name[..bar])
            .and_then(|c| c.subcommand(&name[bar + 1..])),
    }
}

fn command_info(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    if argv.len() == 2 {
        return command_all(ctx, argv);
    }
    Reply::Array(
        argv[2..]
            .iter()
            .map(|name| find(ctx, name).map_or(Reply::Null, |c| info_of(c)))
            .collect(),
    )
}

fn command_list(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    enum Filter {
        All,
        Module(Bytes),
        AclCat(Bytes),
        Pattern(Bytes),
    }
    let filter = match argv.len() {
        2 => Filter::All,
        5 if eq_ci(&argv[2], "filterby") => {
            if eq_ci(&argv[3], "module") {
                Filter::Module(argv[4].clone())
            } else if eq_ci(&argv[3], "aclcat") {
                Filter::AclCat(argv[4].clone())
            } else if eq_ci(&argv[3], "pattern") {
                Filter::Pattern(argv[4].clone())
            } else {
                return err_syntax();
            }
        }
        _ => return err_syntax(),
    };
    let mut names = Vec::new();
    for cmd in ctx.engine.commands.iter_sorted() {
        for c in std::iter::once(cmd).chain(cmd.subcommands.iter()) {
            let keep = match &filter {
                Filter::All => true,
                Filter::Module(m) => c
                    .provider
                    .as_deref()
                    .is_some_and(|p| p.as_bytes() == &m[..]),
                Filter::AclCat(cat) => c
                    .categories
                    .iter()
                    .any(|x| x.as_bytes().eq_ignore_ascii_case(cat)),
                Filter::Pattern(p) => glob_match(p, c.name.as_bytes(), true),
            };
            if keep {
                names.push(Reply::Bulk(Bytes::from(c.name.clone())));
            }
        }
    }
    Reply::Array(names)
}

fn docs_of(cmd: &Command) -> Reply {
    let mut fields = vec![
        (
            Reply::bulk("summary"),
            Reply::Bulk(Bytes::from(cmd.summary.clone())),
        ),
        (
            Reply::bulk("since"),
            Reply::Bulk(Bytes::from(cmd.since.clone())),
        ),
        (
            Reply::bulk("group"),
            Reply::Bulk(Bytes::from(if cmd.provider.is_some() {
                "module".to_string()
            } else {
                cmd.group.clone()
            })),
        ),
        (
            Reply::bulk("complexity"),
            Reply::Bulk(Bytes::from(cmd.complexity.clone())),
        ),
    ];
    if let Some(p) = &cmd.provider {
        fields.push((Reply::bulk("module"), Reply::Bulk(Bytes::from(p.clone()))));
    }
    if !cmd.subcommands.is_empty() {
        fields.push((
            Reply::bulk("subcommands"),
            Reply::Map(
                cmd.subcommands
                    .iter()
                    .map(|s| (Reply::Bulk(Bytes::from(s.name.clone())), docs_of(s)))
                    .collect(),
            ),
        ));
    }
    Reply::Map(fields)
}

fn command_docs(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let entries = if argv.len() == 2 {
        ctx.engine
            .commands
            .iter_sorted()
            .into_iter()
            .map(|c| (Reply::Bulk(Bytes::from(c.name.clone())), docs_of(c)))
            .collect()
    } else {
        argv[2..]
            .iter()
            .filter_map(|name| {
                find(ctx, name).map(|c| (Reply::Bulk(Bytes::from(c.name.clone())), docs_of(c)))
            })
            .collect()
    };
    Reply::Map(entries)
}

fn command_getkeys(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let args = &argv[2..];
    let cmd = match ctx.engine.resolve(args) {
        Ok(cmd) => cmd,
        Err((None, _)) => return Reply::error("ERR Invalid command specified"),
        Err((Some(_), _)) => {
            return Reply::error("ERR Invalid number of arguments specified for command")
        }
    };
    let keys = cmd.key_positions(args);
    if keys.is_empty() {
        return Reply::error("ERR The command has no key arguments");
    }
    Reply::Array(
        keys.into_iter()
            .map(|i| Reply::Bulk(args[i].clone()))
            .collect(),
    )
}

fn command_help(_ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    help_reply(
        "COMMAND",
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
        ],
    )
}
