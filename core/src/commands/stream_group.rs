//! Stream consumer groups (the second half of Redis's t_stream.c): XGROUP, XACK, XPENDING,
//! XCLAIM, XAUTOCLAIM, XINFO, and XREADGROUP's reads (the command itself is the blocking
//! plugin's, which parks it under BLOCK).

use bytes::Bytes;

use super::stream::{
    entries_reply, entry_reply, parse_id, parse_interval, parse_read_args, parse_strict_id,
    streams_reply, ReadArgs, ReadStart,
};
use super::table::{flags::*, CommandSpec};
use super::{eq_ci, err_not_integer, err_syntax, err_wrongtype, help_reply, lossy, parse_i64};
use super::{owned, store_err, write_key};
use crate::engine::Ctx;
use crate::events::class;
use crate::keyspace::{Group, Pending, Stream, StreamId};
use crate::protocol::Reply;
use crate::storage::{Store, StoreError};

const SINCE_5: &str = "5.0.0";

/// Consumer-group commands.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::container("xgroup", -2)
        .categories(&["slow"])
        .doc("stream", "A container for consumer groups commands.", SINCE_5, "Depends on subcommand.")
        .subcommands(&[
            CommandSpec::new("create", -5, xgroup_create)
                .flags(WRITE | DENYOOM)
                .keys(2, 2, 1)
                .categories(&["write", "stream", "slow"])
                .doc("stream", "Creates a consumer group.", SINCE_5, "O(1)"),
            CommandSpec::new("createconsumer", 5, xgroup_createconsumer)
                .flags(WRITE | DENYOOM)
                .keys(2, 2, 1)
                .categories(&["write", "stream", "slow"])
                .doc("stream", "Creates a consumer in a consumer group.", "6.2.0", "O(1)"),
            CommandSpec::new("delconsumer", 5, xgroup_delconsumer)
                .flags(WRITE)
                .keys(2, 2, 1)
                .categories(&["write", "stream", "slow"])
                .doc("stream", "Deletes a consumer from a consumer group.", SINCE_5, "O(1)"),
            CommandSpec::new("destroy", 4, xgroup_destroy)
                .flags(WRITE)
                .keys(2, 2, 1)
                .categories(&["write", "stream", "slow"])
                .doc(
                    "stream",
                    "Destroys a consumer group.",
                    SINCE_5,
                    "O(N) where N is the number of entries in the group's pending entries list (PEL).",
                ),
            CommandSpec::new("setid", -5, xgroup_setid)
                .flags(WRITE)
                .keys(2, 2, 1)
                .categories(&["write", "stream", "slow"])
                .doc("stream", "Sets the last-delivered ID of a consumer group.", SINCE_5, "O(1)"),
            CommandSpec::new("help", 2, xgroup_help)
                .flags(LOADING | STALE)
                .categories(&["stream", "slow"])
                .doc("stream", "Returns helpful text about the different subcommands.", SINCE_5, "O(1)"),
        ]),
    CommandSpec::new("xack", -4, xack)
        .flags(WRITE | FAST)
        .keys(1, 1, 1)
        .categories(&["write", "stream", "fast"])
        .doc(
            "stream",
            "Returns the number of messages that were successfully acknowledged by the consumer group member of a stream.",
            SINCE_5,
            "O(1) for each message ID processed.",
        ),
    CommandSpec::new("xpending", -3, xpending)
        .flags(READONLY)
        .keys(1, 1, 1)
        .categories(&["read", "stream", "slow"])
        .doc(
            "stream",
            "Returns the information and entries from a stream consumer group's pending entries list.",
            SINCE_5,
            "O(N) with N being the number of elements returned, so asking for a small fixed number of entries per call is O(1). O(M), where M is the total number of entries scanned when used with the IDLE filter. When the command returns just the summary and the list of consumers is small, it runs in O(1) time; otherwise, an additional O(N) time for iterating every consumer.",
        ),
    CommandSpec::new("xclaim", -6, xclaim)
        .flags(WRITE | FAST)
        .keys(1, 1, 1)
        .categories(&["write", "stream", "fast"])
        .doc(
            "stream",
            "Changes, or acquires, ownership of a message in a consumer group, as if the message was delivered a consumer group member.",
            SINCE_5,
            "O(log N) with N being the number of messages in the PEL of the consumer group.",
        ),
    CommandSpec::new("xautoclaim", -6, xautoclaim)
        .flags(WRITE | FAST)
        .keys(1, 1, 1)
        .categories(&["write", "stream", "fast"])
        .doc(
            "stream",
            "Changes, or acquires, ownership of messages in a consumer group, as if the messages were delivered to as consumer group member.",
            "6.2.0",
            "O(1) if COUNT is small.",
        ),
    CommandSpec::container("xinfo", -2)
        .categories(&["slow"])
        .doc("stream", "A container for stream introspection commands.", SINCE_5, "Depends on subcommand.")
        .subcommands(&[
            CommandSpec::new("consumers", 4, xinfo_consumers)
                .flags(READONLY)
                .keys(2, 2, 1)
                .categories(&["read", "stream", "slow"])
                .doc("stream", "Returns a list of the consumers in a consumer group.", SINCE_5, "O(1)"),
            CommandSpec::new("groups", 3, xinfo_groups)
                .flags(READONLY)
                .keys(2, 2, 1)
                .categories(&["read", "stream", "slow"])
                .doc("stream", "Returns a list of the consumer groups of a stream.", SINCE_5, "O(1)"),
            CommandSpec::new("stream", -3, xinfo_stream)
                .flags(READONLY)
                .keys(2, 2, 1)
                .categories(&["read", "stream", "slow"])
                .doc("stream", "Returns information about a stream.", SINCE_5, "O(1)"),
            CommandSpec::new("help", 2, xinfo_help)
                .flags(LOADING | STALE)
                .categories(&["stream", "slow"])
                .doc("stream", "Returns helpful text about the different subcommands.", SINCE_5, "O(1)"),
        ]),
];

fn nogroup_for_key(group: &[u8], key: &[u8]) -> Reply {
    Reply::Error(
        format!(
            "NOGROUP No such consumer group '{}' for key name '{}'",
            lossy(group),
            lossy(key)
        )
        .into(),
    )
}

fn nogroup_key_or_group(key: &[u8], group: &[u8]) -> Reply {
    Reply::Error(
        format!(
            "NOGROUP No such key '{}' or consumer group '{}'",
            lossy(key),
            lossy(group)
        )
        .into(),
    )
}

fn id_reply(id: StreamId) -> Reply {
    Reply::Bulk(id.to_bulk())
}

/// Parses ENTRIESREAD's value: `None` for -1 (unknown).
fn parse_entries_read(b: &[u8]) -> Result<Option<u64>, Reply> {
    let n = parse_i64(b).ok_or_else(err_not_integer)?;
    if n < -1 {
        return Err(Reply::error(
            "ERR value for ENTRIESREAD must be positive or -1",
        ));
    }
    Ok((n >= 0).then_some(n as u64))
}

/// Runs `f` on the stream at `key` for XGROUP's subcommands: WRONGTYPE, and the error
/// Redis gives for a missing key.
fn with_group_stream<T>(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    f: impl FnOnce(&mut Stream, &mut dyn Store) -> Result<T, Reply>,
) -> Result<T, Reply> {
    let (db, now) = (ctx.db(), ctx.now);
    let mut km = write_key(&mut ctx.engine.keyspace, db, key, now)?;
    match km.stream().map_err(|_| err_wrongtype())? {
        Some((s, backing)) => f(s, backing.store),
        None => Err(Reply::error(
            "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.",
        )),
    }
}

/// Redis's addReplySubcommandSyntaxError.
fn err_subcommand(argv: &[Bytes]) -> Reply {
    Reply::Error(
        format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
            lossy(&argv[1]),
            lossy(&argv[0]).to_uppercase()
        )
        .into(),
    )
}

fn xgroup_create(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let mut mkstream = false;
    let mut entries_read = None;
    let mut i = 5;
    while i < argv.len() {
        if eq_ci(&argv[i], "mkstream") {
            mkstream = true;
            i += 1;
        } else if eq_ci(&argv[i], "entriesread") && i + 1 < argv.len() {
            entries_read = match parse_entries_read(&argv[i + 1]) {
                Ok(v) => v,
                Err(r) => return r,
            };
            i += 2;
        } else {
            return err_subcommand(argv);
        }
    }
    let (db, key, now) = (ctx.db(), &argv[2], ctx.now);
    let name = owned(&argv[3]);
    let result = (|| {
        let mut km = write_key(&mut ctx.engine.keyspace, db, key, now)?;
        if !km.exists() && !mkstream {
            return Err(Reply::error(
                "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.",
            ));
        }
        if km.exists() && km.stream().is_err() {
            return Err(err_wrongtype());
        }
        let last = km
            .stream()
            .ok()
            .flatten()
            .map_or(StreamId::MIN, |(s, _)| s.last_id());
        let id = if &argv[4][..] == b"$" {
            last
        } else {
            parse_strict_id(&argv[4], 0)?
        };
        let (s, mut backing) = km.stream_or_create().map_err(|_| err_wrongtype())?;
        if !s.add_group(&mut backing, name, id, entries_read) {
            return Err(Reply::error("BUSYGROUP Consumer Group name already exists"));
        }
        Ok(())
    })();
    match result {
        Err(r) => r,
        Ok(()) => {
            ctx.notify(class::STREAM, "xgroup-create", key);
            Reply::ok()
        }
    }
}

fn xgroup_setid(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let mut entries_read = None;
    let mut i = 5;
    while i < argv.len() {
        if eq_ci(&argv[i], "entriesread") && i + 1 < argv.len() {
            entries_read = match parse_entries_read(&argv[i + 1]) {
                Ok(v) => v,
                Err(r) => return r,
            };
            i += 2;
        } else {
            return err_subcommand(argv);
        }
    }
    let key = argv[2].clone();
    let result = with_group_stream(ctx, &key, |s, _| {
        let last = s.last_id();
        if s.group(&argv[3]).is_none() {
            return Err(nogroup_for_key(&argv[3], &key));
        }
        let id = if &argv[4][..] == b"$" {
            last
        } else {
            parse_strict_id(&argv[4], 0)?
        };
        if let Some(g) = s.group_mut(&argv[3]) {
            g.last_id = id;
            g.entries_read = entries_read;
        }
        Ok(())
    });
    match result {
        Err(r) => r,
        Ok(()) => {
            ctx.notify(class::STREAM, "xgroup-setid", &key);
            Reply::ok()
        }
    }
}

fn xgroup_destroy(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let key = argv[2].clone();
    let result = with_group_stream(ctx, &key, |s, store| {
        s.remove_group(store, &argv[3]).map_err(store_err)
    });
    match result {
        Err(r) => r,
        Ok(true) => {
            ctx.notify(class::STREAM, "xgroup-destroy", &key);
            Reply::Integer(1)
        }
        Ok(false) => Reply::Integer(0),
    }
}

fn xgroup_createconsumer(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let (key, now) = (argv[2].clone(), ctx.now);
    let result = with_group_stream(ctx, &key, |s, _| {
        if s.group(&argv[3]).is_none() {
            return Err(nogroup_for_key(&argv[3], &key));
        }
        if s.group(&argv[3])
            .is_some_and(|g| g.consumer_index(&argv[4]).is_some())
        {
            return Ok(false);
        }
        let g = s.group_mut(&argv[3]).ok_or_else(err_syntax)?;
        Ok(g.consumer_or_create(&owned(&argv[4]), now).1)
    });
    match result {
        Err(r) => r,
        Ok(created) => {
            if created {
                ctx.notify(class::STREAM, "xgroup-createconsumer", &key);
            }
            Reply::Integer(created as i64)
        }
    }
}

fn xgroup_delconsumer(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let key = argv[2].clone();
    let result = with_group_stream(ctx, &key, |s, store| {
        let Some(g) = s.group(&argv[3]) else {
            return Err(nogroup_for_key(&argv[3], &key));
        };
        if g.consumer_index(&argv[4]).is_none() {
            return Ok(None);
        }
        let g = s.group_mut(&argv[3]).ok_or_else(err_syntax)?;
        let n = g.remove_consumer(store, &argv[4]).map_err(store_err)?;
        Ok(n.map(|n| n as i64))
    });
    match result {
        Err(r) => r,
        Ok(None) => Reply::Integer(0),
        Ok(Some(n)) => {
            ctx.notify(class::STREAM, "xgroup-delconsumer", &key);
            Reply::Integer(n)
        }
    }
}

fn xgroup_help(_ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    help_reply(
        "XGROUP",
        &[
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
        ],
    )
}

/// What one stream of an XREADGROUP asks for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GroupRead {
    /// `>`: entries never delivered to the group.
    New,
    /// The consumer's pending entries above this ID.
    History(StreamId),
}

/// Serves one stream of an XREADGROUP: `None` when a `>` read found nothing new (the stream is
/// left out of the reply). Creates the consumer when it serves.
#[allow(clippy::too_many_arguments)]
pub fn read_group(
    s: &mut Stream,
    store: &mut dyn Store,
    group: &[u8],
    consumer: &Bytes,
    what: GroupRead,
    count: Option<u64>,
    noack: bool,
    now: i64,
) -> Result<Option<(Reply, bool)>, StoreError> {
    let mut groups = std::mem::take(&mut s.groups);
    let out = read_group_in(
        s,
        &mut groups,
        store,
        group,
        consumer,
        what,
        count,
        noack,
        now,
    );
    s.groups = groups;
    if matches!(out, Ok(Some(_))) {
        s.touch();
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn read_group_in(
    s: &Stream,
    groups: &mut [Group],
    store: &mut dyn Store,
    group: &[u8],
    consumer: &Bytes,
    what: GroupRead,
    count: Option<u64>,
    noack: bool,
    now: i64,
) -> Result<Option<(Reply, bool)>, StoreError> {
    let Some(g) = groups.iter_mut().find(|g| g.name == group) else {
        return Ok(None);
    };
    match what {
        GroupRead::New => {
            if s.is_empty() || s.last_id() <= g.last_id {
                return Ok(None);
            }
            let (ci, created) = g.consumer_or_create(consumer, now);
            g.consumers[ci].seen_time = now;
            let Some(from) = g.last_id.next() else {
                return Ok(Some((Reply::Array(Vec::new()), created)));
            };
            let entries = s.range(store, from, StreamId::MAX, false, count)?;
            for e in &entries {
                s.advance_group(g, e.id);
                if !noack {
                    g.set_pending(
                        store,
                        e.id,
                        Pending {
                            consumer: consumer.clone(),
                            delivery_time: now,
                            delivery_count: 1,
                        },
                    )?;
                }
            }
            Ok(Some((entries_reply(entries), created)))
        }
        GroupRead::History(after) => {
            let (ci, created) = g.consumer_or_create(consumer, now);
            g.consumers[ci].seen_time = now;
            let Some(from) = after.next() else {
                return Ok(Some((Reply::Array(Vec::new()), created)));
            };
            let ids = g.consumer_ids(store, consumer, from, StreamId::MAX, count)?;
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                match s.get(store, id)? {
                    Some(e) => {
                        if let Some(mut p) = g.pending(store, id)? {
                            p.delivery_time = now;
                            p.delivery_count += 1;
                            g.set_pending(store, id, p)?;
                        }
                        out.push(entry_reply(e));
                    }
                    None => out.push(Reply::Array(vec![id_reply(id), Reply::NullArray])),
                }
            }
            Ok(Some((Reply::Array(out), created)))
        }
    }
}

/// XREADGROUP as called: the reply, or what to wait for when BLOCK was given and no stream
/// had new entries for the group.
pub fn xreadgroup_start(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> ReadStart {
    let a = match parse_read_args(argv, true) {
        Ok(a) => a,
        Err(r) => return ReadStart::Reply(r),
    };
    let Some((group, consumer)) = a.group.clone() else {
        return ReadStart::Reply(err_syntax());
    };
    let keys = argv[a.streams..a.streams + a.nstreams].to_vec();
    match xreadgroup_run(ctx, argv, &a, &group, &consumer) {
        Some(r) => ReadStart::Reply(r),
        None => match a.block {
            Some(ms) => ReadStart::Wait {
                keys,
                ids: Vec::new(),
                count: a.count,
                block_ms: ms,
                group: Some((group, consumer)),
                noack: a.noack,
            },
            None => ReadStart::Reply(Reply::NullArray),
        },
    }
}

/// Serves a blocked XREADGROUP (every ID `>`) from `key`: `Ok(None)` when there is nothing
/// new; an error when the key or the group went away.
pub fn xreadgroup_serve(
    ctx: &mut Ctx<'_>,
    key: &Bytes,
    group: &[u8],
    consumer: &Bytes,
    count: Option<u64>,
    noack: bool,
) -> Result<Option<Reply>, Reply> {
    let (db, now) = (ctx.db(), ctx.now);
    let served = (|| {
        let mut km = write_key(&mut ctx.engine.keyspace, db, key, now)?;
        let Some((s, backing)) = km.stream().map_err(|_| err_wrongtype())? else {
            return Err(Reply::error("UNBLOCKED the stream key no longer exists"));
        };
        if s.group(group).is_none() {
            return Err(Reply::error(
                "NOGROUP the consumer group this client was blocked on no longer exists",
            ));
        }
        read_group(
            s,
            backing.store,
            group,
            consumer,
            GroupRead::New,
            count,
            noack,
            now,
        )
        .map_err(store_err)
    })()?;
    let Some((reply, created)) = served else {
        return Ok(None);
    };
    if created {
        ctx.notify(class::STREAM, "xgroup-createconsumer", key);
    }
    Ok(Some(streams_reply(ctx, vec![(key.clone(), reply)])))
}

/// XREADGROUP's reads: `None` when nothing was served (so BLOCK may wait).
fn xreadgroup_run(
    ctx: &mut Ctx<'_>,
    argv: &[Bytes],
    a: &ReadArgs,
    group: &Bytes,
    consumer: &Bytes,
) -> Option<Reply> {
    let (db, now) = (ctx.db(), ctx.now);
    let mut wants = Vec::with_capacity(a.nstreams);
    for k in 0..a.nstreams {
        let key = &argv[a.streams + k];
        let arg = &argv[a.streams + a.nstreams + k];
        match ctx.engine.keyspace.read_for_write(db, key, now) {
            Ok(Some(r)) => match r.entry.value.as_stream() {
                Some(s) if s.group(group).is_some() => {}
                Some(_) => return Some(nogroup_xreadgroup(key, group)),
                None => return Some(err_wrongtype()),
            },
            Ok(None) => return Some(nogroup_xreadgroup(key, group)),
            Err(e) => return Some(store_err(e)),
        }
        let want = if &arg[..] == b">" {
            GroupRead::New
        } else if &arg[..] == b"$" {
            return Some(Reply::error("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set."));
        } else {
            match parse_id(arg, 0) {
                Ok(id) => GroupRead::History(id),
                Err(r) => return Some(r),
            }
        };
        wants.push(want);
    }
    let mut found = Vec::new();
    let mut created_in = Vec::new();
    for (k, want) in wants.into_iter().enumerate() {
        let key = &argv[a.streams + k];
        let served = (|| {
            let mut km = write_key(&mut ctx.engine.keyspace, db, key, now)?;
            let Some((s, backing)) = km.stream().map_err(|_| err_wrongtype())? else {
                return Ok(None);
            };
            read_group(
                s,
                backing.store,
                group,
                consumer,
                want,
                a.count,
                a.noack,
                now,
            )
            .map_err(store_err)
        })();
        match served {
            Err(r) => return Some(r),
            Ok(None) => {}
            Ok(Some((reply, created))) => {
                if created {
                    created_in.push(key.clone());
                }
                found.push((key.clone(), reply));
            }
        }
    }
    for key in created_in {
        ctx.notify(class::STREAM, "xgroup-createconsumer", &key);
    }
    if found.is_empty() {
        return None;
    }
    Some(streams_reply(ctx, found))
}

fn nogroup_xreadgroup(key: &[u8], group: &[u8]) -> Reply {
    Reply::Error(
        format!(
            "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
            lossy(key),
            lossy(group)
        )
        .into(),
    )
}

fn xack(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let (db, key, now) = (ctx.db(), &argv[1], ctx.now);
    let result = (|| {
        let mut km = write_key(&mut ctx.engine.keyspace, db, key, now)?;
        let stream = km.stream().map_err(|_| err_wrongtype())?;
        let mut ids = Vec::with_capacity(argv.len() - 3);
        for a in &argv[3..] {
            ids.push(parse_strict_id(a, 0)?);
        }
        let Some((s, backing)) = stream else {
            return Ok(0);
        };
        if s.group(&argv[2]).is_none() {
            return Ok(0);
        }
        let Some(g) = s.group_mut(&argv[2]) else {
            return Ok(0);
        };
        let mut acked = 0;
        for id in ids {
            if g.remove_pending(backing.store, id)
                .map_err(store_err)?
                .is_some()
            {
                acked += 1;
            }
        }
        Ok::<_, Reply>(acked)
    })();
    match result {
        Err(r) => r,
        Ok(n) => Reply::Integer(n),
    }
}

fn xpending(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let argc = argv.len();
    if argc != 3 && !(6..=9).contains(&argc) {
        return err_syntax();
    }
    let mut range = None;
    if argc >= 6 {
        let mut start = 3;
        let mut minidle = 0;
        if eq_ci(&argv[3], "idle") {
            let Some(v) = parse_i64(&argv[4]) else {
                return err_not_integer();
            };
            minidle = v;
            if argc < 8 {
                return err_syntax();
            }
            start += 2;
        }
        let Some(count) = argv.get(start + 2).and_then(|c| parse_i64(c)) else {
            return err_not_integer();
        };
        let from = match parse_interval(&argv[start], 0, true) {
            Ok(v) => v,
            Err(r) => return r,
        };
        let to = match parse_interval(&argv[start + 1], u64::MAX, false) {
            Ok(v) => v,
            Err(r) => return r,
        };
        let consumer = argv.get(start + 3).cloned();
        if start + 4 < argc {
            return err_syntax();
        }
        range = Some((minidle, from, to, count.max(0) as usize, consumer));
    }
    let (db, key, now) = (ctx.db(), &argv[1], ctx.now);
    let r = match ctx.engine.keyspace.read(db, key, now) {
        Ok(r) => r,
        Err(e) => return store_err(e),
    };
    let Some(r) = r else {
        return nogroup_key_or_group(key, &argv[2]);
    };
    let store = r.store;
    let Some(s) = r.entry.value.as_stream() else {
        return err_wrongtype();
    };
    let Some(g) = s.group(&argv[2]) else {
        return nogroup_key_or_group(key, &argv[2]);
    };
    match range {
        None => {
            if g.pending_len() == 0 {
                return Reply::Array(vec![
                    Reply::Integer(0),
                    Reply::Null,
                    Reply::Null,
                    Reply::NullArray,
                ]);
            }
            let edge = |store: &mut dyn Store, rev: bool| {
                g.pending_range(store, StreamId::MIN, StreamId::MAX, rev, Some(1))
                    .map(|v| v.first().map_or(StreamId::MIN, |(id, _)| *id))
            };
            let first = tri!(edge(&mut *store, false));
            let last = tri!(edge(&mut *store, true));
            let consumers = g
                .consumers
                .iter()
                .filter_map(|c| {
                    let n = g.consumer_pending(&c.name);
                    (n > 0).then(|| {
                        Reply::Array(vec![
                            Reply::Bulk(c.name.clone()),
                            Reply::Bulk(Bytes::from(n.to_string())),
                        ])
                    })
                })
                .collect();
            Reply::Array(vec![
                Reply::Integer(g.pending_len() as i64),
                id_reply(first),
                id_reply(last),
                Reply::Array(consumers),
            ])
        }
        Some((minidle, from, to, count, consumer)) => {
            if let Some(c) = &consumer {
                if g.consumer_index(c).is_none() {
                    return Reply::Array(Vec::new());
                }
            }
            if from > to {
                return Reply::Array(Vec::new());
            }
            // With IDLE the filter may skip entries: read the range whole.
            let limit = (minidle == 0).then_some(count as u64);
            let found = match &consumer {
                Some(c) => {
                    let ids = tri!(g.consumer_ids(&mut *store, c, from, to, limit));
                    let mut found = Vec::with_capacity(ids.len());
                    for id in ids {
                        if let Some(p) = tri!(g.pending(&mut *store, id)) {
                            found.push((id, p));
                        }
                    }
                    found
                }
                None => tri!(g.pending_range(&mut *store, from, to, false, limit)),
            };
            let out = found
                .iter()
                .filter(|(_, p)| minidle == 0 || now - p.delivery_time >= minidle)
                .take(count)
                .map(|(id, p)| {
                    Reply::Array(vec![
                        id_reply(*id),
                        Reply::Bulk(p.consumer.clone()),
                        Reply::Integer((now - p.delivery_time).max(0)),
                        Reply::Integer(p.delivery_count as i64),
                    ])
                })
                .collect();
            Reply::Array(out)
        }
    }
}

fn xclaim(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let (db, key, now) = (ctx.db(), &argv[1], ctx.now);
    let consumer = owned(&argv[3]);
    let result = (|| {
        let mut km = write_key(&mut ctx.engine.keyspace, db, key, now)?;
        let stream = km.stream().map_err(|_| err_wrongtype())?;
        let Some((s, backing)) = stream else {
            return Err(nogroup_key_or_group(key, &argv[2]));
        };
        if s.group(&argv[2]).is_none() {
            return Err(nogroup_key_or_group(key, &argv[2]));
        }
        let minidle = parse_i64(&argv[4])
            .ok_or_else(|| Reply::error("ERR Invalid min-idle-time argument for XCLAIM"))?
            .max(0);
        let mut j = 5;
        let mut ids = Vec::new();
        while j < argv.len() {
            match parse_strict_id(&argv[j], 0) {
                Ok(id) => ids.push(id),
                Err(_) => break,
            }
            j += 1;
        }
        let (mut force, mut justid) = (false, false);
        let mut delivery: Option<i64> = None;
        let mut retry: Option<i64> = None;
        let mut last_id = StreamId::MIN;
        while j < argv.len() {
            let more = argv.len() - 1 - j;
            let opt = &argv[j];
            let int = |b: &[u8], what: &str| {
                parse_i64(b).ok_or_else(|| {
                    Reply::Error(format!("ERR Invalid {what} option argument for XCLAIM").into())
                })
            };
            if eq_ci(opt, "force") {
                force = true;
            } else if eq_ci(opt, "justid") {
                justid = true;
            } else if eq_ci(opt, "idle") && more > 0 {
                j += 1;
                delivery = Some(now - int(&argv[j], "IDLE")?);
            } else if eq_ci(opt, "time") && more > 0 {
                j += 1;
                delivery = Some(int(&argv[j], "TIME")?);
            } else if eq_ci(opt, "retrycount") && more > 0 {
                j += 1;
                retry = Some(int(&argv[j], "RETRYCOUNT")?);
            } else if eq_ci(opt, "lastid") && more > 0 {
                j += 1;
                last_id = parse_strict_id(&argv[j], 0)?;
            } else {
                return Err(Reply::Error(
                    format!("ERR Unrecognized XCLAIM option '{}'", lossy(opt)).into(),
                ));
            }
            j += 1;
        }
        let delivery = match delivery {
            Some(t) if (0..=now).contains(&t) => t,
            _ => now,
        };
        let mut groups = std::mem::take(&mut s.groups);
        let out = (|| {
            let Some(g) = groups.iter_mut().find(|g| g.name == argv[2]) else {
                return Ok((Vec::new(), false));
            };
            if last_id > g.last_id {
                g.last_id = last_id;
            }
            let mut out = Vec::new();
            let mut created = false;
            for id in ids {
                let entry = s.get(backing.store, id).map_err(store_err)?;
                let Some(entry) = entry else {
                    g.remove_pending(backing.store, id).map_err(store_err)?;
                    continue;
                };
                let mut p = match g.pending(backing.store, id).map_err(store_err)? {
                    Some(p) => {
                        if minidle > 0 && now - p.delivery_time < minidle {
                            continue;
                        }
                        p
                    }
                    // FORCE makes the entry pending, whatever its idle time.
                    None if force => Pending {
                        consumer: Bytes::new(),
                        delivery_time: now,
                        delivery_count: 0,
                    },
                    None => continue,
                };
                let (ci, c) = g.consumer_or_create(&consumer, now);
                created |= c;
                g.consumers[ci].seen_time = now;
                p.consumer = consumer.clone();
                p.delivery_time = delivery;
                match retry {
                    Some(n) if n >= 0 => p.delivery_count = n as u64,
                    _ if !justid => p.delivery_count += 1,
                    _ => {}
                }
                g.set_pending(backing.store, id, p).map_err(store_err)?;
                out.push(if justid {
                    id_reply(id)
                } else {
                    entry_reply(entry)
                });
            }
            Ok::<_, Reply>((out, created))
        })();
        s.groups = groups;
        s.touch();
        out
    })();
    match result {
        Err(r) => r,
        Ok((out, created)) => {
            if created {
                ctx.notify(class::STREAM, "xgroup-createconsumer", key);
            }
            Reply::Array(out)
        }
    }
}

fn xautoclaim(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let (db, key, now) = (ctx.db(), &argv[1], ctx.now);
    let consumer = owned(&argv[3]);
    let result = (|| {
        let mut km = write_key(&mut ctx.engine.keyspace, db, key, now)?;
        let stream = km.stream().map_err(|_| err_wrongtype())?;
        let minidle = parse_i64(&argv[4])
            .ok_or_else(|| Reply::error("ERR Invalid min-idle-time argument for XAUTOCLAIM"))?
            .max(0);
        let start = parse_interval(&argv[5], 0, true)?;
        let mut count: u64 = 100;
        let mut justid = false;
        let mut j = 6;
        while j < argv.len() {
            let more = argv.len() - 1 - j;
            if eq_ci(&argv[j], "count") && more > 0 {
                let max = (i64::MAX / 16) as u64;
                count = parse_i64(&argv[j + 1])
                    .filter(|&n| n >= 1 && (n as u64) <= max)
                    .ok_or_else(|| Reply::error("ERR COUNT must be > 0"))?
                    as u64;
                j += 1;
            } else if eq_ci(&argv[j], "justid") {
                justid = true;
            } else {
                return Err(err_syntax());
            }
            j += 1;
        }
        let Some((s, backing)) = stream else {
            return Err(nogroup_key_or_group(key, &argv[2]));
        };
        if s.group(&argv[2]).is_none() {
            return Err(nogroup_key_or_group(key, &argv[2]));
        }
        let mut groups = std::mem::take(&mut s.groups);
        let out = (|| {
            let Some(g) = groups.iter_mut().find(|g| g.name == argv[2]) else {
                return Err(nogroup_key_or_group(key, &argv[2]));
            };
            let mut attempts = count.saturating_mul(10);
            // What the scan may look at, and one more: the cursor of the next call.
            let ids = g
                .pending_range(
                    backing.store,
                    start,
                    StreamId::MAX,
                    false,
                    Some(attempts.saturating_add(1)),
                )
                .map_err(store_err)?;
            let mut left = count;
            let mut idx = 0;
            let mut claimed = Vec::new();
            let mut deleted = Vec::new();
            let mut created = false;
            while attempts > 0 && left > 0 && idx < ids.len() {
                attempts -= 1;
                let (id, mut p) = ids[idx].clone();
                idx += 1;
                let Some(entry) = s.get(backing.store, id).map_err(store_err)? else {
                    g.remove_pending(backing.store, id).map_err(store_err)?;
                    deleted.push(id_reply(id));
                    continue;
                };
                if minidle > 0 && now - p.delivery_time < minidle {
                    continue;
                }
                let (ci, c) = g.consumer_or_create(&consumer, now);
                created |= c;
                g.consumers[ci].seen_time = now;
                p.consumer = consumer.clone();
                p.delivery_time = now;
                if !justid {
                    p.delivery_count += 1;
                }
                g.set_pending(backing.store, id, p).map_err(store_err)?;
                claimed.push(if justid {
                    id_reply(id)
                } else {
                    entry_reply(entry)
                });
                left -= 1;
            }
            let cursor = ids.get(idx).map_or(StreamId::MIN, |(id, _)| *id);
            Ok((
                Reply::Array(vec![
                    id_reply(cursor),
                    Reply::Array(claimed),
                    Reply::Array(deleted),
                ]),
                created,
            ))
        })();
        s.groups = groups;
        s.touch();
        out
    })();
    match result {
        Err(r) => r,
        Ok((reply, created)) => {
            if created {
                ctx.notify(class::STREAM, "xgroup-createconsumer", key);
            }
            reply
        }
    }
}

/// Runs `f` on the stream XINFO names: `ERR no such key` when missing.
fn with_info_stream(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    f: impl FnOnce(&mut Stream, &mut dyn Store) -> Result<Reply, Reply>,
) -> Reply {
    let (db, now) = (ctx.db(), ctx.now);
    let result = (|| {
        let mut km = write_key(&mut ctx.engine.keyspace, db, key, now)?;
        match km.stream().map_err(|_| err_wrongtype())? {
            Some((s, backing)) => f(s, backing.store),
            None => Err(Reply::error("ERR no such key")),
        }
    })();
    result.unwrap_or_else(|r| r)
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}

fn xinfo_consumers(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let now = ctx.now;
    let key = argv[2].clone();
    with_info_stream(ctx, &key, |s, _| {
        let Some(g) = s.group(&argv[3]) else {
            return Err(nogroup_for_key(&argv[3], &key));
        };
        Ok(Reply::Array(
            g.consumers
                .iter()
                .map(|c| {
                    Reply::Map(vec![
                        (bulk("name"), Reply::Bulk(c.name.clone())),
                        (
                            bulk("pending"),
                            Reply::Integer(g.consumer_pending(&c.name) as i64),
                        ),
                        (bulk("idle"), Reply::Integer((now - c.seen_time).max(0))),
                    ])
                })
                .collect(),
        ))
    })
}

fn entries_read_reply(g: &Group) -> Reply {
    match g.entries_read {
        Some(n) => Reply::Integer(n as i64),
        None => Reply::Null,
    }
}

fn lag_reply(lag: Option<u64>) -> Reply {
    match lag {
        Some(n) => Reply::Integer(n as i64),
        None => Reply::Null,
    }
}

fn xinfo_groups(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let key = argv[2].clone();
    with_info_stream(ctx, &key, |s, _| {
        let mut out = Vec::with_capacity(s.groups.len());
        for g in &s.groups {
            let read = entries_read_reply(g);
            let lag = s.lag(g);
            out.push(Reply::Map(vec![
                (bulk("name"), Reply::Bulk(g.name.clone())),
                (bulk("consumers"), Reply::Integer(g.consumers.len() as i64)),
                (bulk("pending"), Reply::Integer(g.pending_len() as i64)),
                (bulk("last-delivered-id"), id_reply(g.last_id)),
                (bulk("entries-read"), read),
                (bulk("lag"), lag_reply(lag)),
            ]));
        }
        Ok(Reply::Array(out))
    })
}

fn xinfo_stream(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let argc = argv.len();
    let mut full = false;
    let mut count: u64 = 10;
    if argc > 3 {
        if argc != 4 && argc != 6 {
            return err_subcommand(argv);
        }
        if !eq_ci(&argv[3], "full") {
            return err_subcommand(argv);
        }
        full = true;
        if argc == 6 {
            if !eq_ci(&argv[4], "count") {
                return err_subcommand(argv);
            }
            let Some(n) = parse_i64(&argv[5]) else {
                return err_not_integer();
            };
            count = if n < 0 { 10 } else { n as u64 };
        }
    }
    let key = argv[2].clone();
    with_info_stream(ctx, &key, |s, store| {
        let nodes = s.len().div_ceil(crate::keyspace::stream::NODE_ENTRIES);
        let mut out = vec![
            (bulk("length"), Reply::Integer(s.len() as i64)),
            (bulk("radix-tree-keys"), Reply::Integer(nodes as i64)),
            (bulk("radix-tree-nodes"), Reply::Integer(nodes as i64 + 1)),
            (bulk("last-generated-id"), id_reply(s.last_id())),
            (bulk("max-deleted-entry-id"), id_reply(s.max_deleted())),
            (
                bulk("entries-added"),
                Reply::Integer(s.entries_added() as i64),
            ),
            (bulk("recorded-first-entry-id"), id_reply(s.first_id())),
        ];
        if !full {
            out.push((bulk("groups"), Reply::Integer(s.groups.len() as i64)));
            let first = s.edge(store, false).map_err(store_err)?;
            let last = s.edge(store, true).map_err(store_err)?;
            out.push((bulk("first-entry"), first.map_or(Reply::Null, entry_reply)));
            out.push((bulk("last-entry"), last.map_or(Reply::Null, entry_reply)));
            return Ok(Reply::Map(out));
        }
        let limit = (count > 0).then_some(count);
        let entries = s
            .range(store, StreamId::MIN, StreamId::MAX, false, limit)
            .map_err(store_err)?;
        out.push((bulk("entries"), entries_reply(entries)));
        let take = (count > 0).then_some(count);
        let mut gs = Vec::new();
        for g in &s.groups {
            let read = entries_read_reply(g);
            let lag = s.lag(g);
            let pel = g
                .pending_range(store, StreamId::MIN, StreamId::MAX, false, take)
                .map_err(store_err)?;
            let pending: Vec<Reply> = pel
                .iter()
                .map(|(id, p)| {
                    Reply::Array(vec![
                        id_reply(*id),
                        Reply::Bulk(p.consumer.clone()),
                        Reply::Integer(p.delivery_time),
                        Reply::Integer(p.delivery_count as i64),
                    ])
                })
                .collect();
            let mut consumers = Vec::with_capacity(g.consumers.len());
            for c in &g.consumers {
                let ids = g
                    .consumer_ids(store, &c.name, StreamId::MIN, StreamId::MAX, take)
                    .map_err(store_err)?;
                let mut mine = Vec::with_capacity(ids.len());
                for id in ids {
                    if let Some(p) = g.pending(store, id).map_err(store_err)? {
                        mine.push(Reply::Array(vec![
                            id_reply(id),
                            Reply::Integer(p.delivery_time),
                            Reply::Integer(p.delivery_count as i64),
                        ]));
                    }
                }
                consumers.push(Reply::Map(vec![
                    (bulk("name"), Reply::Bulk(c.name.clone())),
                    (bulk("seen-time"), Reply::Integer(c.seen_time)),
                    (
                        bulk("pel-count"),
                        Reply::Integer(g.consumer_pending(&c.name) as i64),
                    ),
                    (bulk("pending"), Reply::Array(mine)),
                ]));
            }
            gs.push(Reply::Map(vec![
                (bulk("name"), Reply::Bulk(g.name.clone())),
                (bulk("last-delivered-id"), id_reply(g.last_id)),
                (bulk("entries-read"), read),
                (bulk("lag"), lag_reply(lag)),
                (bulk("pel-count"), Reply::Integer(g.pending_len() as i64)),
                (bulk("pending"), Reply::Array(pending)),
                (bulk("consumers"), Reply::Array(consumers)),
            ]));
        }
        out.push((bulk("groups"), Reply::Array(gs)));
        Ok(Reply::Map(out))
    })
}

fn xinfo_help(_ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    help_reply(
        "XINFO",
        &[
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
        ],
    )
}
