//! Pub/Sub commands: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PUBLISH, SPUBLISH, PUBSUB.

use bytes::Bytes;

use super::help_reply;
use super::table::{flags::*, CommandSpec};
use crate::engine::pubsub::Kind;
use crate::engine::Ctx;
use crate::protocol::Reply;

const CATS: &[&str] = &["pubsub", "slow"];

const SUB_FLAGS: u32 = PUBSUB | NOSCRIPT | LOADING | STALE;

/// Pub/Sub commands.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("subscribe", -2, subscribe)
        .flags(SUB_FLAGS)
        .categories(CATS)
        .doc(
            "pubsub",
            "Listens for messages published to channels.",
            "2.0.0",
            "O(N)",
        ),
    CommandSpec::new("unsubscribe", -1, unsubscribe)
        .flags(SUB_FLAGS)
        .categories(CATS)
        .doc(
            "pubsub",
            "Stops listening to messages posted to channels.",
            "2.0.0",
            "O(N)",
        ),
    CommandSpec::new("psubscribe", -2, psubscribe)
        .flags(SUB_FLAGS)
        .categories(CATS)
        .doc(
            "pubsub",
            "Listens for messages published to channels that match one or more patterns.",
            "2.0.0",
            "O(N)",
        ),
    CommandSpec::new("punsubscribe", -1, punsubscribe)
        .flags(SUB_FLAGS)
        .categories(CATS)
        .doc(
            "pubsub",
            "Stops listening to messages published to channels that match one or more patterns.",
            "2.0.0",
            "O(N)",
        ),
    CommandSpec::new("ssubscribe", -2, ssubscribe)
        .flags(SUB_FLAGS)
        .keys(1, -1, 1)
        .categories(CATS)
        .doc(
            "pubsub",
            "Listens for messages published to shard channels.",
            "7.0.0",
            "O(N)",
        ),
    CommandSpec::new("sunsubscribe", -1, sunsubscribe)
        .flags(SUB_FLAGS)
        .keys(1, -1, 1)
        .categories(CATS)
        .doc(
            "pubsub",
            "Stops listening to messages posted to shard channels.",
            "7.0.0",
            "O(N)",
        ),
    CommandSpec::new("publish", 3, publish)
        .flags(PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE)
        .categories(CATS)
        .doc("pubsub", "Posts a message to a channel.", "2.0.0", "O(N)"),
    CommandSpec::new("spublish", 3, spublish)
        .flags(PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE)
        .keys(1, 1, 1)
        .categories(CATS)
        .doc(
            "pubsub",
            "Post a message to a shard channel",
            "7.0.0",
            "O(N)",
        ),
    CommandSpec::container("pubsub", -2)
        .categories(CATS)
        .doc(
            "pubsub",
            "A container for Pub/Sub commands.",
            "2.8.0",
            "Depends on subcommand.",
        )
        .subcommands(&[
            CommandSpec::new("channels", -2, pubsub_channels)
                .flags(PUBSUB | LOADING | STALE)
                .categories(CATS)
                .doc("pubsub", "Returns the active channels.", "2.8.0", "O(N)"),
            CommandSpec::new("numsub", -2, pubsub_numsub)
                .flags(PUBSUB | LOADING | STALE)
                .categories(CATS)
                .doc(
                    "pubsub",
                    "Returns a count of subscribers to channels.",
                    "2.8.0",
                    "O(N)",
                ),
            CommandSpec::new("numpat", 2, pubsub_numpat)
                .flags(PUBSUB | LOADING | STALE)
                .categories(CATS)
                .doc(
                    "pubsub",
                    "Returns a count of unique pattern subscriptions.",
                    "2.8.0",
                    "O(N)",
                ),
            CommandSpec::new("shardchannels", -2, pubsub_shardchannels)
                .flags(PUBSUB | LOADING | STALE)
                .categories(CATS)
                .doc(
                    "pubsub",
                    "Returns the active shard channels.",
                    "7.0.0",
                    "O(N)",
                ),
            CommandSpec::new("shardnumsub", -2, pubsub_shardnumsub)
                .flags(PUBSUB | LOADING | STALE)
                .categories(CATS)
                .doc(
                    "pubsub",
                    "Returns the count of subscribers of shard channels.",
                    "7.0.0",
                    "O(N)",
                ),
            CommandSpec::new("help", 2, pubsub_help)
                .flags(LOADING | STALE)
                .categories(CATS)
                .doc(
                    "pubsub",
                    "Returns helpful text about the different subcommands.",
                    "6.2.0",
                    "O(N)",
                ),
        ]),
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
