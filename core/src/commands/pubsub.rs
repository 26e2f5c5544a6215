//! Pub/Sub commands: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PUBLISH, SPUBLISH, PUBSUB.

use bytes::Bytes;

use super::help_reply;
use super::table::{flags::*, CommandSpec};
use crate::engine::pubsub::Kind;
use crate::engine::Ctx;
use crate::protocol::Reply;

const CATS: &[&str] = &["pubsub", "slow"];

macro_rules! spec {
    ($name:literal, $arity:expr, $flags:expr, $summary:literal, $since:literal, $handler:ident) => {
        CommandSpec {
            name: $name,
            arity: $arity,
            flags: $flags,
            categories: CATS,
            group: "pubsub",
            summary: $summary,
            since: $since,
            complexity: "O(N)",
            handler: Some($handler),
            ..CommandSpec::BASE
        }
    };
}

const SUB_FLAGS: u32 = PUBSUB | NOSCRIPT | LOADING | STALE;

/// Pub/Sub commands.
pub static COMMANDS: &[CommandSpec] = &[
    spec!(
        "subscribe",
        -2,
        SUB_FLAGS,
        "Listens for messages published to channels.",
        "2.0.0",
        subscribe
    ),
    spec!(
        "unsubscribe",
        -1,
        SUB_FLAGS,
        "Stops listening to messages posted to channels.",
        "2.0.0",
        unsubscribe
    ),
    spec!(
        "psubscribe",
        -2,
        SUB_FLAGS,
        "Listens for messages published to channels that match one or more patterns.",
        "2.0.0",
        psubscribe
    ),
    spec!(
        "punsubscribe",
        -1,
        SUB_FLAGS,
        "Stops listening to messages published to channels that match one or more patterns.",
        "2.0.0",
        punsubscribe
    ),
    CommandSpec {
        first_key: 1,
        last_key: -1,
        step: 1,
        ..spec!(
            "ssubscribe",
            -2,
            SUB_FLAGS,
            "Listens for messages published to shard channels.",
            "7.0.0",
            ssubscribe
        )
    },
    CommandSpec {
        first_key: 1,
        last_key: -1,
        step: 1,
        ..spec!(
            "sunsubscribe",
            -1,
            SUB_FLAGS,
            "Stops listening to messages posted to shard channels.",
            "7.0.0",
            sunsubscribe
        )
    },
    spec!(
        "publish",
        3,
        PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE,
        "Posts a message to a channel.",
        "2.0.0",
        publish
    ),
    CommandSpec {
        first_key: 1,
        last_key: 1,
        step: 1,
        ..spec!(
            "spublish",
            3,
            PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE,
            "Post a message to a shard channel",
            "7.0.0",
            spublish
        )
    },
    CommandSpec {
        name: "pubsub",
        arity: -2,
        categories: CATS,
        group: "pubsub",
        summary: "A container for Pub/Sub commands.",
        since: "2.8.0",
        complexity: "Depends on subcommand.",
        subcommands: &[
            spec!(
                "channels",
                -2,
                PUBSUB | LOADING | STALE,
                "Returns the active channels.",
                "2.8.0",
                pubsub_channels
            ),
            spec!(
                "numsub",
                -2,
                PUBSUB | LOADING | STALE,
                "Returns a count of subscribers to channels.",
                "2.8.0",
                pubsub_numsub
            ),
            spec!(
                "numpat",
                2,
                PUBSUB | LOADING | STALE,
                "Returns a count of unique pattern subscriptions.",
                "2.8.0",
                pubsub_numpat
            ),
            spec!(
                "shardchannels",
                -2,
                PUBSUB | LOADING | STALE,
                "Returns the active shard channels.",
                "7.0.0",
                pubsub_shardchannels
            ),
            spec!(
                "shardnumsub",
                -2,
                PUBSUB | LOADING | STALE,
                "Returns the count of subscribers of shard channels.",
                "7.0.0",
                pubsub_shardnumsub
            ),
            spec!(
                "help",
                2,
                LOADING | STALE,
                "Returns helpful text about the different subcommands.",
                "6.2.0",
                pubsub_help
            ),
        ],
        ..CommandSpec::BASE
    },
];

fn subscribe(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    ctx.engine
        .pubsub
        .subscribe(ctx.client, Kind::Channel, &argv[1..])
}

fn unsubscribe(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    ctx.engine
        .pubsub
        .unsubscribe(ctx.client, Kind::Channel, &argv[1..])
}

fn psubscribe(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    ctx.engine
        .pubsub
        .subscribe(ctx.client, Kind::Pattern, &argv[1..])
}

fn punsubscribe(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    ctx.engine
        .pubsub
        .unsubscribe(ctx.client, Kind::Pattern, &argv[1..])
}

fn ssubscribe(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    if ctx.engine.in_exec {
        // Redis refuses it to clients that may not block, which includes a running EXEC.
        return Reply::error("ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client");
    }
    ctx.engine
        .pubsub
        .subscribe(ctx.client, Kind::Shard, &argv[1..])
}

fn sunsubscribe(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    ctx.engine
        .pubsub
        .unsubscribe(ctx.client, Kind::Shard, &argv[1..])
}

fn publish(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    Reply::Integer(ctx.engine.pubsub.publish(&argv[1], &argv[2]) as i64)
}

fn spublish(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    Reply::Integer(ctx.engine.pubsub.spublish(&argv[1], &argv[2]) as i64)
}

fn channels_reply(ctx: &mut Ctx<'_>, argv: &[Bytes], shard: bool) -> Reply {
    if argv.len() > 3 {
        return super::err_arity(if shard {
            "pubsub|shardchannels"
        } else {
            "pubsub|channels"
        });
    }
    let pattern = argv.get(2).map(|p| &p[..]);
    Reply::Array(
        ctx.engine
            .pubsub
            .active(shard, pattern)
            .into_iter()
            .map(Reply::Bulk)
            .collect(),
    )
}

fn numsub_reply(ctx: &mut Ctx<'_>, argv: &[Bytes], shard: bool) -> Reply {
    let mut out = Vec::with_capacity((argv.len() - 2) * 2);
    for channel in &argv[2..] {
        out.push(Reply::Bulk(channel.clone()));
        out.push(Reply::Integer(
            ctx.engine.pubsub.numsub(shard, channel) as i64
        ));
    }
    Reply::Array(out)
}

fn pubsub_channels(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    channels_reply(ctx, argv, false)
}

fn pubsub_shardchannels(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    channels_reply(ctx, argv, true)
}

fn pubsub_numsub(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    numsub_reply(ctx, argv, false)
}

fn pubsub_shardnumsub(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    numsub_reply(ctx, argv, true)
}

fn pubsub_numpat(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    Reply::Integer(ctx.engine.pubsub.pattern_count() as i64)
}

fn pubsub_help(_ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    help_reply(
        "PUBSUB",
        &[
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
        ],
    )
}
