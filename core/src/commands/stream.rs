//! Stream commands (Redis's t_stream.c): XADD, XRANGE, XREVRANGE, XLEN, XDEL, XTRIM, XSETID,
//! and XREAD's reads (the command itself is the blocking plugin's, which parks it under
//! BLOCK); consumer groups are in `stream_group.rs`.

use bytes::Bytes;

use super::table::{flags::*, CommandSpec};
use super::{eq_ci, err_arity, err_syntax, err_wrongtype, parse_i64, read_typed};
use super::{owned, store_err, write_key};
use crate::engine::Ctx;
use crate::events::class;
use crate::keyspace::{Stream, StreamEntry, StreamId, Trim};
use crate::protocol::{Protocol, Reply};

const SINCE_5: &str = "5.0.0";

/// Stream commands.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("xadd", -5, xadd)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .categories(&["write", "stream", "fast"])
        .doc(
            "stream",
            "Appends a new message to a stream. Creates the key if it doesn't exist.",
            SINCE_5,
            "O(1) when adding a new entry, O(N) when trimming where N being the number of entries evicted.",
        ),
    CommandSpec::new("xrange", -4, xrange)
        .flags(READONLY)
        .keys(1, 1, 1)
        .categories(&["read", "stream", "slow"])
        .doc(
            "stream",
            "Returns the messages from a stream within a range of IDs.",
            SINCE_5,
            "O(N) with N being the number of elements being returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1).",
        ),
    CommandSpec::new("xrevrange", -4, xrevrange)
        .flags(READONLY)
        .keys(1, 1, 1)
        .categories(&["read", "stream", "slow"])
        .doc(
            "stream",
            "Returns the messages from a stream within a range of IDs in reverse order.",
            SINCE_5,
            "O(N) with N being the number of elements returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1).",
        ),
    CommandSpec::new("xlen", 2, xlen)
        .flags(READONLY | FAST)
        .keys(1, 1, 1)
        .categories(&["read", "stream", "fast"])
        .doc("stream", "Return the number of messages in a stream.", SINCE_5, "O(1)"),
    CommandSpec::new("xdel", -3, xdel)
        .flags(WRITE | FAST)
        .keys(1, 1, 1)
        .categories(&["write", "stream", "fast"])
        .doc(
            "stream",
            "Returns the number of messages after removing them from a stream.",
            SINCE_5,
            "O(1) for each single item to delete in the stream, regardless of the stream size.",
        ),
    CommandSpec::new("xtrim", -4, xtrim)
        .flags(WRITE)
        .keys(1, 1, 1)
        .categories(&["write", "stream", "slow"])
        .doc(
            "stream",
            "Deletes messages from the beginning of a stream.",
            SINCE_5,
            "O(N), with N being the number of evicted entries. Constant times are very small however, since entries are organized in macro nodes containing multiple entries that can be released with a single deallocation.",
        ),
    CommandSpec::new("xsetid", -3, xsetid)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .categories(&["write", "stream", "fast"])
        .doc("stream", "An internal command for replicating stream values.", SINCE_5, "O(1)"),
];

/// `ERR Invalid stream ID specified as stream command argument`.
pub fn err_invalid_id() -> Reply {
    Reply::error("ERR Invalid stream ID specified as stream command argument")
}

fn parse_u64(b: &[u8]) -> Option<u64> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// Parses an ID as Redis's streamGenericParseIDOrReply: `-` and `+` unless `strict`, `ms`
/// alone takes `missing_seq`; with `seq_star`, `ms-*` gives `(id, false)`.
pub fn parse_id_ext(
    b: &[u8],
    missing_seq: u64,
    strict: bool,
    seq_star: bool,
) -> Result<(StreamId, bool), Reply> {
    if b.len() > 127 {
        return Err(err_invalid_id());
    }
    if b == b"-" || b == b"+" {
        if strict {
            return Err(err_invalid_id());
        }
        return Ok((
            if b == b"-" {
                StreamId::MIN
            } else {
                StreamId::MAX
            },
            true,
        ));
    }
    match b.iter().position(|&c| c == b'-') {
        Some(dash) => {
            let ms = parse_u64(&b[..dash]).ok_or_else(err_invalid_id)?;
            let rest = &b[dash + 1..];
            if seq_star && rest == b"*" {
                return Ok((StreamId::new(ms, 0), false));
            }
            let seq = parse_u64(rest).ok_or_else(err_invalid_id)?;
            Ok((StreamId::new(ms, seq), true))
        }
        None => {
            let ms = parse_u64(b).ok_or_else(err_invalid_id)?;
            Ok((StreamId::new(ms, missing_seq), true))
        }
    }
}

/// Parses an ID (`-` and `+` allowed), `ms` alone meaning `ms-missing_seq`.
pub fn parse_id(b: &[u8], missing_seq: u64) -> Result<StreamId, Reply> {
    parse_id_ext(b, missing_seq, false, false).map(|(id, _)| id)
}

/// Parses an ID that must be explicit (no `-` or `+`).
pub fn parse_strict_id(b: &[u8], missing_seq: u64) -> Result<StreamId, Reply> {
    parse_id_ext(b, missing_seq, true, false).map(|(id, _)| id)
}

/// One end of an interval (XRANGE, XPENDING, XAUTOCLAIM): `(` makes it exclusive.
pub(super) fn parse_interval(b: &[u8], missing_seq: u64, start: bool) -> Result<StreamId, Reply> {
    if let Some(rest) = b.strip_prefix(b"(") {
        let id = parse_strict_id(rest, missing_seq)?;
        let moved = if start { id.next() } else { id.prev() };
        moved.ok_or_else(|| {
            Reply::error(if start {
                "ERR invalid start ID for the interval"
            } else {
                "ERR invalid end ID for the interval"
            })
        })
    } else {
        parse_id(b, missing_seq)
    }
}

/// An entry as replies show it: `[id, [field, value, ...]]`.
pub fn entry_reply(e: StreamEntry) -> Reply {
    let mut fv = Vec::with_capacity(e.fields.len() * 2);
    for (f, v) in e.fields {
        fv.push(Reply::Bulk(f));
        fv.push(Reply::Bulk(v));
    }
    Reply::Array(vec![Reply::Bulk(e.id.to_bulk()), Reply::Array(fv)])
}

/// Entries as an array reply.
pub fn entries_reply(entries: Vec<StreamEntry>) -> Reply {
    Reply::Array(entries.into_iter().map(entry_reply).collect())
}

/// Trimming options of XADD and XTRIM.
#[derive(Default)]
struct TrimArgs {
    how: Option<Trim>,
    approx: bool,
    limit: Option<u64>,
    nomkstream: bool,
    /// XADD's ID: `None` for `*`; `(id, seq_given)`.
    id: Option<(StreamId, bool)>,
    /// Index of the first argument after the options (XADD's fields).
    next: usize,
}

fn parse_trim_args(argv: &[Bytes], start: usize, xadd: bool) -> Result<TrimArgs, Reply> {
    let mut a = TrimArgs::default();
    let mut limit_given = false;
    let mut limit: i64 = 0;
    let mut i = start;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        let opt = &argv[i][..];
        if xadd && opt == b"*" {
            break;
        } else if (eq_ci(opt, "maxlen") || eq_ci(opt, "minid")) && more > 0 {
            let maxlen = eq_ci(opt, "maxlen");
            if a.how
                .is_some_and(|h| matches!(h, Trim::MaxLen(_)) != maxlen)
            {
                return Err(Reply::error(
                    "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
                ));
            }
            a.approx = false;
            let next = &argv[i + 1][..];
            if more >= 2 && next == b"~" {
                a.approx = true;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            let arg = &argv[i + 1];
            if maxlen {
                let n = parse_i64(arg).ok_or_else(super::err_not_integer)?;
                if n < 0 {
                    return Err(Reply::error("ERR The MAXLEN argument must be >= 0."));
                }
                a.how = Some(Trim::MaxLen(n as u64));
            } else {
                a.how = Some(Trim::MinId(parse_strict_id(arg, 0)?));
            }
            i += 1;
        } else if eq_ci(opt, "limit") && more > 0 {
            limit = parse_i64(&argv[i + 1]).ok_or_else(super::err_not_integer)?;
            if limit < 0 {
                return Err(Reply::error("ERR The LIMIT argument must be >= 0."));
            }
            limit_given = true;
            i += 1;
        } else if xadd && eq_ci(opt, "nomkstream") {
            a.nomkstream = true;
        } else if xadd {
            a.id = Some(parse_id_ext(opt, 0, true, true)?);
            break;
        } else {
            return Err(err_syntax());
        }
        i += 1;
    }
    a.next = i;
    if limit != 0 && a.how.is_none() {
        return Err(Reply::error(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && a.how.is_none() {
        return Err(Reply::error(
            "ERR syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    if limit_given {
        if !a.approx {
            return Err(Reply::error(
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
        a.limit = Some(limit as u64);
    }
    Ok(a)
}

fn xadd(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let a = match parse_trim_args(argv, 2, true) {
        Ok(a) => a,
        Err(r) => return r,
    };
    if let Some((id, true)) = a.id {
        if id == StreamId::MIN {
            return Reply::error("ERR The ID specified in XADD must be greater than 0-0");
        }
    }
    let field_pos = a.next + 1;
    if argv.len() < field_pos + 2 || (argv.len() - field_pos) % 2 == 1 {
        return err_arity("xadd");
    }
    let (db, key, now) = (ctx.db(), &argv[1], ctx.now);
    let fields: Vec<(Bytes, Bytes)> = argv[field_pos..]
        .chunks_exact(2)
        .map(|p| (owned(&p[0]), owned(&p[1])))
        .collect();
    let result = (|| {
        let mut km = write_key(&mut ctx.engine.keyspace, db, key, now)?;
        if !km.exists() && a.nomkstream {
            return Ok(None);
        }
        let (s, mut backing) = km.stream_or_create().map_err(|_| err_wrongtype())?;
        let last = s.last_id();
        if last == StreamId::MAX {
            return Err(Reply::error(
                "ERR The stream has exhausted the last possible ID, unable to add more items",
            ));
        }
        let smaller = || {
            Reply::error(
                "ERR The ID specified in XADD is equal or smaller than the target stream top item",
            )
        };
        let id = match a.id {
            None => {
                let ms = crate::keyspace::now_ms().max(0) as u64;
                if ms > last.ms {
                    StreamId::new(ms, 0)
                } else {
                    last.next().ok_or_else(smaller)?
                }
            }
            Some((id, true)) => {
                if id <= last {
                    return Err(smaller());
                }
                id
            }
            Some((id, false)) => {
                if id.ms < last.ms {
                    return Err(smaller());
                } else if id.ms == last.ms {
                    if last.seq == u64::MAX {
                        return Err(smaller());
                    }
                    StreamId::new(id.ms, last.seq + 1)
                } else {
                    StreamId::new(id.ms, 0)
                }
            }
        };
        s.add(&mut backing, id, &fields).map_err(store_err)?;
        let trimmed = match a.how {
            Some(how) => s
                .trim(&mut backing, how, a.approx, a.limit)
                .map_err(store_err)?,
            None => 0,
        };
        Ok(Some((id, trimmed)))
    })();
    match result {
        Err(r) => r,
        Ok(None) => Reply::Null,
        Ok(Some((id, trimmed))) => {
            ctx.notify(class::STREAM, "xadd", key);
            if trimmed > 0 {
                ctx.notify(class::STREAM, "xtrim", key);
            }
            Reply::Bulk(id.to_bulk())
        }
    }
}

fn range_generic(ctx: &mut Ctx<'_>, argv: &[Bytes], rev: bool) -> Reply {
    let (lo, hi) = if rev {
        (&argv[3], &argv[2])
    } else {
        (&argv[2], &argv[3])
    };
    let start = match parse_interval(lo, 0, true) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let end = match parse_interval(hi, u64::MAX, false) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut count = None;
    let mut j = 4;
    while j < argv.len() {
        let more = argv.len() - j - 1;
        if eq_ci(&argv[j], "count") && more >= 1 {
            let Some(n) = parse_i64(&argv[j + 1]) else {
                return super::err_not_integer();
            };
            count = Some(n.max(0) as u64);
            j += 2;
        } else {
            return err_syntax();
        }
    }
    read_typed::<Stream>(
        ctx,
        &argv[1],
        || Reply::Array(Vec::new()),
        |s, store| {
            if count == Some(0) {
                return Ok(Reply::NullArray);
            }
            Ok(entries_reply(s.range(store, start, end, rev, count)?))
        },
    )
}

fn xrange(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    range_generic(ctx, argv, false)
}

fn xrevrange(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    range_generic(ctx, argv, true)
}

fn xlen(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    read_typed::<Stream>(
        ctx,
        &argv[1],
        || Reply::Integer(0),
        |s, _| Ok(Reply::Integer(s.len() as i64)),
    )
}

fn xdel(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let (db, key, now) = (ctx.db(), &argv[1], ctx.now);
    let result = (|| {
        let mut km = write_key(&mut ctx.engine.keyspace, db, key, now)?;
        let Some((s, backing)) = km.stream().map_err(|_| err_wrongtype())? else {
            return Ok(0);
        };
        let mut ids = Vec::with_capacity(argv.len() - 2);
        for a in &argv[2..] {
            ids.push(parse_strict_id(a, 0)?);
        }
        let mut deleted = 0;
        for id in ids {
            if s.delete(backing.store, id).map_err(store_err)? {
                deleted += 1;
            }
        }
        Ok::<_, Reply>(deleted)
    })();
    match result {
        Err(r) => r,
        Ok(n) => {
            if n > 0 {
                ctx.notify(class::STREAM, "xdel", key);
            }
            Reply::Integer(n)
        }
    }
}

fn xtrim(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let (db, key, now) = (ctx.db(), &argv[1], ctx.now);
    let result = (|| {
        let mut km = write_key(&mut ctx.engine.keyspace, db, key, now)?;
        let Some((s, mut backing)) = km.stream().map_err(|_| err_wrongtype())? else {
            return Ok(0);
        };
        let a = parse_trim_args(argv, 2, false)?;
        if a.next != argv.len() {
            return Err(err_syntax());
        }
        let Some(how) = a.how else {
            return Err(err_syntax());
        };
        s.trim(&mut backing, how, a.approx, a.limit)
            .map_err(store_err)
    })();
    match result {
        Err(r) => r,
        Ok(n) => {
            if n > 0 {
                ctx.notify(class::STREAM, "xtrim", key);
            }
            Reply::Integer(n as i64)
        }
    }
}

/// Parsed XREAD / XREADGROUP arguments.
pub struct ReadArgs {
    /// COUNT (0 = no limit).
    pub count: Option<u64>,
    /// BLOCK in milliseconds.
    pub block: Option<i64>,
    /// GROUP name and consumer.
    pub group: Option<(Bytes, Bytes)>,
    /// NOACK.
    pub noack: bool,
    /// Index of the first key.
    pub streams: usize,
    /// Number of streams.
    pub nstreams: usize,
}

/// Parses the options of XREAD / XREADGROUP.
pub fn parse_read_args(argv: &[Bytes], group: bool) -> Result<ReadArgs, Reply> {
    let mut a = ReadArgs {
        count: None,
        block: None,
        group: None,
        noack: false,
        streams: 0,
        nstreams: 0,
    };
    let mut i = 1;
    while i < argv.len() {
        let more = argv.len() - i - 1;
        let o = &argv[i][..];
        if eq_ci(o, "block") && more > 0 {
            i += 1;
            let Some(ms) = parse_i64(&argv[i]) else {
                return Err(Reply::error(
                    "ERR timeout is not an integer or out of range",
                ));
            };
            if ms < 0 {
                return Err(Reply::error("ERR timeout is negative"));
            }
            a.block = Some(ms);
        } else if eq_ci(o, "count") && more > 0 {
            i += 1;
            let n = parse_i64(&argv[i]).ok_or_else(super::err_not_integer)?;
            a.count = (n > 0).then_some(n as u64);
        } else if eq_ci(o, "streams") && more > 0 {
            a.streams = i + 1;
            let n = argv.len() - a.streams;
            if n % 2 != 0 {
                let (name, sym) = if group {
                    ("XREADGROUP", "ID or '>'")
                } else {
                    ("XREAD", "ID or '$'")
                };
                return Err(Reply::Error(
                    format!(
                        "ERR Unbalanced {name} list of streams: for each stream key an {sym} must be specified."
                    )
                    .into(),
                ));
            }
            a.nstreams = n / 2;
            break;
        } else if eq_ci(o, "group") && more >= 2 {
            if !group {
                return Err(Reply::error(
                    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            a.group = Some((owned(&argv[i + 1]), owned(&argv[i + 2])));
            i += 2;
        } else if eq_ci(o, "noack") {
            if !group {
                return Err(Reply::error(
                    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            a.noack = true;
        } else {
            return Err(err_syntax());
        }
        i += 1;
    }
    if a.streams == 0 {
        return Err(err_syntax());
    }
    if group && a.group.is_none() {
        return Err(Reply::error("ERR Missing GROUP option for XREADGROUP"));
    }
    Ok(a)
}

/// Replies with the streams that had entries: an array of `[key, entries]` in RESP2, a map
/// in RESP3; nothing at all is a null array.
pub fn streams_reply(ctx: &Ctx<'_>, found: Vec<(Bytes, Reply)>) -> Reply {
    if found.is_empty() {
        return Reply::NullArray;
    }
    if ctx.client.protocol == Protocol::Resp3 {
        Reply::Map(
            found
                .into_iter()
                .map(|(k, v)| (Reply::Bulk(k), v))
                .collect(),
        )
    } else {
        Reply::Array(
            found
                .into_iter()
                .map(|(k, v)| Reply::Array(vec![Reply::Bulk(k), v]))
                .collect(),
        )
    }
}

/// What XREAD or XREADGROUP found when called: a reply, or nothing yet with BLOCK given.
pub enum ReadStart {
    /// The reply (data, an error, or the null array of a read that may not block).
    Reply(Reply),
    /// Nothing to read and BLOCK was given: wait on `keys`.
    Wait {
        /// The stream keys, in the order given.
        keys: Vec<Bytes>,
        /// For XREAD, the ID each key's entries must be above (`$` and `+` resolved).
        ids: Vec<StreamId>,
        /// COUNT.
        count: Option<u64>,
        /// BLOCK's milliseconds (0 = forever).
        block_ms: i64,
        /// XREADGROUP's group and consumer.
        group: Option<(Bytes, Bytes)>,
        /// XREADGROUP's NOACK.
        noack: bool,
    },
}

/// XREAD as called: the reply, or what to wait for when BLOCK was given and no stream had
/// entries above its ID.
pub fn xread_start(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> ReadStart {
    let a = match parse_read_args(argv, false) {
        Ok(a) => a,
        Err(r) => return ReadStart::Reply(r),
    };
    let (db, now) = (ctx.db(), ctx.now);
    // Resolve every ID first, as Redis does, so an error reads nothing.
    let mut after = Vec::with_capacity(a.nstreams);
    for k in 0..a.nstreams {
        let key = &argv[a.streams + k];
        let arg = &argv[a.streams + a.nstreams + k];
        // Only `+` needs the last entry itself (one more probe of the store).
        let plus = &arg[..] == b"+";
        let stream = match ctx.engine.keyspace.read(db, key, now) {
            Ok(Some(r)) => match r.entry.value.as_stream() {
                Some(s) if plus => Some((s.last_id(), s.edge(r.store, true))),
                Some(s) => Some((s.last_id(), Ok(None))),
                None => return ReadStart::Reply(err_wrongtype()),
            },
            Ok(None) => None,
            Err(e) => return ReadStart::Reply(store_err(e)),
        };
        let id = if &arg[..] == b"$" {
            stream.map_or(StreamId::MIN, |(last, _)| last)
        } else if &arg[..] == b">" {
            return ReadStart::Reply(Reply::error(
                "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
            ));
        } else if plus {
            match stream {
                Some((_, edge)) => match edge {
                    Ok(Some(e)) => e.id.prev().unwrap_or(StreamId::MIN),
                    Ok(None) => StreamId::MIN,
                    Err(e) => return ReadStart::Reply(store_err(e)),
                },
                None => StreamId::MIN,
            }
        } else {
            match parse_id(arg, 0) {
                Ok(id) => id,
                Err(r) => return ReadStart::Reply(r),
            }
        };
        after.push(id);
    }
    let keys = argv[a.streams..a.streams + a.nstreams].to_vec();
    match xread_serve(ctx, &keys, &after, a.count) {
        Err(r) => ReadStart::Reply(r),
        Ok(Some(r)) => ReadStart::Reply(r),
        Ok(None) => match a.block {
            Some(ms) => ReadStart::Wait {
                keys,
                ids: after,
                count: a.count,
                block_ms: ms,
                group: None,
                noack: false,
            },
            None => ReadStart::Reply(Reply::NullArray),
        },
    }
}

/// The entries of each stream above its ID (XREAD's reply), or `None` when none had any.
/// Keys that are missing or hold another type are skipped.
pub fn xread_serve(
    ctx: &mut Ctx<'_>,
    keys: &[Bytes],
    ids: &[StreamId],
    count: Option<u64>,
) -> Result<Option<Reply>, Reply> {
    let (db, now) = (ctx.db(), ctx.now);
    let mut found = Vec::new();
    for (key, id) in keys.iter().zip(ids) {
        let Some(from) = id.next() else { continue };
        let entries = match ctx.engine.keyspace.read(db, key, now) {
            Ok(Some(r)) => match r.entry.value.as_stream() {
                Some(s) if s.last_id() >= from => s
                    .range(r.store, from, StreamId::MAX, false, count)
                    .map_err(store_err)?,
                _ => continue,
            },
            Ok(None) => continue,
            Err(e) => return Err(store_err(e)),
        };
        if !entries.is_empty() {
            found.push((key.clone(), entries_reply(entries)));
        }
    }
    if found.is_empty() {
        return Ok(None);
    }
    Ok(Some(streams_reply(ctx, found)))
}

fn xsetid(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let id = match parse_strict_id(&argv[2], 0) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let mut entries_added = None;
    let mut max_deleted = None;
    let mut i = 3;
    while i < argv.len() {
        let more = argv.len() - i - 1;
        if eq_ci(&argv[i], "entriesadded") && more > 0 {
            let Some(n) = parse_i64(&argv[i + 1]) else {
                return super::err_not_integer();
            };
            if n < 0 {
                return Reply::error("ERR entries_added must be positive");
            }
            entries_added = Some(n as u64);
            i += 2;
        } else if eq_ci(&argv[i], "maxdeletedid") && more > 0 {
            let m = match parse_strict_id(&argv[i + 1], 0) {
                Ok(m) => m,
                Err(r) => return r,
            };
            if id < m {
                return Reply::error(
                    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                );
            }
            max_deleted = Some(m);
            i += 2;
        } else {
            return err_syntax();
        }
    }
    let (db, key, now) = (ctx.db(), &argv[1], ctx.now);
    let result = (|| {
        let mut km = write_key(&mut ctx.engine.keyspace, db, key, now)?;
        let Some((s, backing)) = km.stream().map_err(|_| err_wrongtype())? else {
            return Err(Reply::error("ERR no such key"));
        };
        if id < s.max_deleted() {
            return Err(Reply::error(
                "ERR The ID specified in XSETID is smaller than current max_deleted_entry_id",
            ));
        }
        if entries_added.is_some_and(|n| s.len() > n) {
            return Err(Reply::error(
                "ERR The entries_added specified in XSETID is smaller than the target stream length",
            ));
        }
        if let Some(last) = s.edge(backing.store, true).map_err(store_err)? {
            if id < last.id {
                return Err(Reply::error(
                    "ERR The ID specified in XSETID is smaller than the target stream top item",
                ));
            }
        }
        s.set_meta(id, entries_added, max_deleted);
        Ok(())
    })();
    match result {
        Err(r) => r,
        Ok(()) => {
            ctx.notify(class::STREAM, "xsetid", key);
            Reply::ok()
        }
    }
}
