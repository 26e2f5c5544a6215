//! MEMORY USAGE: the bytes a key and its value take, as Redis's `objectComputeSize` estimates
//! them.
//!
//! Respite's data lives in SQLite, not in RAM, so the figure is the size of the key and its
//! value as stored (the bytes of every element) plus a fixed per-key and per-element overhead
//! of the sizes Redis's own structures have on a 64-bit build, so that the numbers compare
//! with redis-server's. As in Redis, a large collection is estimated from `SAMPLES` elements
//! (5 by default, 0 for all of them) and its length; a small (listpack) one is counted whole.

use bytes::Bytes;

use super::table::{flags::*, CommandSpec};
use super::{err_store, err_syntax, help_reply, parse_i64};
use crate::engine::{Ctx, MemoryFigures};
use crate::keyspace::stream::StreamId;
use crate::keyspace::Value;
use crate::protocol::Reply;
use crate::storage::{Store, StoreError};

/// The MEMORY command.
pub static COMMANDS: &[CommandSpec] = &[CommandSpec::container("memory", -2)
    .categories(&["slow"])
    .doc(
        "server",
        "A container for memory diagnostics commands.",
        "4.0.0",
        "Depends on subcommand.",
    )
    .subcommands(&[
        CommandSpec::new("usage", -3, memory_usage)
            .flags(READONLY)
            .keys(2, 2, 1)
            .categories(&["read", "slow"])
            .doc(
                "server",
                "Estimate the memory usage of a key.",
                "4.0.0",
                "O(N) where N is the number of samples.",
            ),
        CommandSpec::new("stats", 2, memory_stats)
            .categories(&["slow"])
            .doc(
                "server",
                "Returns details about memory usage.",
                "4.0.0",
                "O(1)",
            ),
        CommandSpec::new("doctor", 2, memory_doctor)
            .categories(&["slow"])
            .doc(
                "server",
                "Outputs a memory problems report.",
                "4.0.0",
                "O(1)",
            ),
        CommandSpec::new("malloc-stats", 2, memory_malloc_stats)
            .categories(&["slow"])
            .doc(
                "server",
                "Returns the allocator statistics.",
                "4.0.0",
                "Depends on how much memory is allocated, could be slow",
            ),
        CommandSpec::new("purge", 2, memory_purge)
            .categories(&["slow"])
            .doc(
                "server",
                "Asks the allocator to release memory.",
                "4.0.0",
                "Depends on how much memory is allocated, could be slow",
            ),
        CommandSpec::new("help", 2, memory_help)
            .flags(LOADING | STALE)
            .categories(&["slow"])
            .doc(
                "server",
                "Show helpful text about the different subcommands.",
                "4.0.0",
                "O(1)",
            ),
    ])];

/// Elements sampled by default (Redis's `OBJ_COMPUTE_SIZE_DEF_SAMPLES`).
const DEFAULT_SAMPLES: u64 = 5;

/// The key's entry in the keyspace: a hash-table entry, the object header and the key's
/// string header (Redis: `sizeof(dictEntry)` + `sizeof(robj)` + the sds header).
const KEY_OVERHEAD: u64 = 24 + 16 + 3;
/// A string value's header beyond its bytes (an sds header and terminator).
const STRING_OVERHEAD: u64 = 4;
/// A listpack's header and end byte.
const LISTPACK_OVERHEAD: u64 = 7;
/// A listpack entry's encoding and back-length bytes (two for short entries).
const LISTPACK_ENTRY: u64 = 2;
/// A hash-table element: its entry and an sds header per string.
const TABLE_ENTRY: u64 = 24 + 4;
/// A sorted-set element beyond its member: a skiplist node (score, member, backward pointer
/// and an average of 1.33 levels) plus its hash-table entry.
const SKIPLIST_ENTRY: u64 = 8 + 8 + 8 + 16 * 4 / 3 + 24;
/// A stream entry beyond its fields: its ID and the listpack flags Redis keeps per entry.
const STREAM_ENTRY: u64 = 16 + 4;

fn memory_usage(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let mut samples = DEFAULT_SAMPLES;
    let mut j = 3;
    while j < argv.len() {
        if !argv[j].eq_ignore_ascii_case(b"samples") || j + 1 >= argv.len() {
            return err_syntax();
        }
        let Some(n) = parse_i64(&argv[j + 1]) else {
            return super::err_not_integer();
        };
        if n < 0 {
            return err_syntax();
        }
        samples = if n == 0 { u64::MAX } else { n as u64 };
        j += 2;
    }
    let (db, now) = (ctx.db(), ctx.now);
    let key = &argv[2];
    match ctx.engine.keyspace.read(db, key, now) {
        Ok(None) => Reply::Null,
        Ok(Some(k)) => match value_size(&k.entry.value, k.store, samples) {
            Ok(size) => {
                let total = KEY_OVERHEAD + key.len() as u64 + size;
                Reply::Integer(i64::try_from(total).unwrap_or(i64::MAX))
            }
            Err(e) => err_store(&e),
        },
        Err(e) => err_store(&e),
    }
}

/// Scales the bytes of `sampled` elements out of `len` to the whole collection.
fn extrapolate(sampled_bytes: u64, sampled: usize, len: u64) -> u64 {
    if sampled == 0 {
        return 0;
    }
    let average = sampled_bytes as f64 / sampled as f64;
    (average * len as f64) as u64
}

/// The bytes of a small (inline) collection whose elements have the given lengths, as a
/// listpack.
fn listpack_size(lengths: impl Iterator<Item = usize>) -> u64 {
    LISTPACK_OVERHEAD + lengths.map(|n| n as u64 + LISTPACK_ENTRY).sum::<u64>()
}

/// How many elements to read for `samples`, at most `len`.
fn take(samples: u64, len: u64) -> usize {
    usize::try_from(samples.min(len)).unwrap_or(usize::MAX)
}

fn value_size(value: &Value, store: &mut dyn Store, samples: u64) -> Result<u64, StoreError> {
    let small = |encoding: &str| encoding == "listpack" || encoding == "intset";
    Ok(match value {
        Value::String(s) => s.len() as u64 + STRING_OVERHEAD,
        Value::Chunked(c) => c.len() + STRING_OVERHEAD,
        Value::Hash(h) => {
            let (fields, _) = h.scan(store, 0, take(samples, h.len()))?;
            if small(h.encoding()) {
                listpack_size(fields.iter().flat_map(|f| [f.name.len(), f.value.len()]))
            } else {
                let n = fields.len().min(take(samples, h.len()));
                let bytes = fields
                    .iter()
                    .take(n)
                    .map(|f| (f.name.len() + f.value.len()) as u64 + TABLE_ENTRY + 4)
                    .sum();
                extrapolate(bytes, n, h.len())
            }
        }
        Value::Set(s) => {
            let (members, _) = s.scan(store, 0, take(samples, s.len()))?;
            if small(s.encoding()) {
                listpack_size(members.iter().map(|m| m.len()))
            } else {
                let n = members.len().min(take(samples, s.len()));
                let bytes = members
                    .iter()
                    .take(n)
                    .map(|m| m.len() as u64 + TABLE_ENTRY)
                    .sum();
                extrapolate(bytes, n, s.len())
            }
        }
        Value::ZSet(z) => {
            let (entries, _) = z.scan(store, 0, take(samples, z.len()))?;
            if small(z.encoding()) {
                // Member and score, each a listpack entry.
                listpack_size(entries.iter().flat_map(|(m, _)| [m.len(), 8]))
            } else {
                let n = entries.len().min(take(samples, z.len()));
                let bytes = entries
                    .iter()
                    .take(n)
                    .map(|(m, _)| m.len() as u64 + SKIPLIST_ENTRY)
                    .sum();
                extrapolate(bytes, n, z.len())
            }
        }
        Value::List(l) => {
            let n = take(samples, l.len());
            let items = if n == 0 {
                Vec::new()
            } else {
                l.range(store, 0, n as u64 - 1, false)?
            };
            let bytes = listpack_size(items.iter().map(|i| i.len())) - LISTPACK_OVERHEAD;
            LISTPACK_OVERHEAD + extrapolate(bytes, items.len(), l.len())
        }
        Value::Stream(s) => {
            let n = take(samples, s.len());
            let entries = s.range(store, StreamId::MIN, StreamId::MAX, false, Some(n as u64))?;
            let bytes = entries
                .iter()
                .map(|e| {
                    STREAM_ENTRY
                        + e.fields
                            .iter()
                            .map(|(f, v)| (f.len() + v.len()) as u64 + 2 * LISTPACK_ENTRY)
                            .sum::<u64>()
                })
                .sum();
            LISTPACK_OVERHEAD + extrapolate(bytes, entries.len(), s.len())
        }
    })
}

fn memory_help(_ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    help_reply(
        "MEMORY",
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    )
}

/// Everything MEMORY STATS and MEMORY DOCTOR look at.
struct Overview {
    mem: MemoryFigures,
    cache: u64,
    keys: u64,
}

fn overview(ctx: &mut Ctx<'_>) -> Result<Overview, StoreError> {
    let keys = ctx.engine.keyspace.db_stats()?.iter().map(|d| d.keys).sum();
    Ok(Overview {
        mem: ctx.engine.stats.memory(),
        cache: ctx.engine.keyspace.cache_bytes() as u64,
        keys,
    })
}

fn memory_stats(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    let o = match overview(ctx) {
        Ok(o) => o,
        Err(e) => return err_store(&e),
    };
    let m = o.mem;
    let a = m.allocator.unwrap_or_default();
    let ratio = |x: u64, y: u64| Reply::Double(x as f64 / y.max(1) as f64);
    let pct = |x: u64, y: u64| Reply::Double(x as f64 * 100.0 / y.max(1) as f64);
    let int = |v: u64| Reply::Integer(v as i64);
    let overhead = m.used.saturating_sub(o.cache);
    // Figures Respite has no source for (the clients' buffers, Lua's caches: INFO memory and
    // CLIENT LIST have those) are left out rather than reported as 0.
    let fields: Vec<(&str, Reply)> = vec![
        ("peak.allocated", int(m.peak)),
        ("total.allocated", int(m.used)),
        ("startup.allocated", int(m.startup)),
        ("replication.backlog", int(0)),
        ("clients.slaves", int(0)),
        ("cluster.links", int(0)),
        ("aof.buffer", int(0)),
        ("overhead.total", int(overhead)),
        ("keys.count", int(o.keys)),
        (
            "keys.bytes-per-key",
            int(match o.keys {
                0 => 0,
                n => m.used.saturating_sub(m.startup) / n,
            }),
        ),
        ("dataset.bytes", int(o.cache)),
        (
            "dataset.percentage",
            pct(o.cache, m.used.saturating_sub(m.startup)),
        ),
        ("peak.percentage", pct(m.used, m.peak)),
        ("allocator.allocated", int(a.allocated)),
        ("allocator.active", int(a.active)),
        ("allocator.resident", int(a.resident)),
        (
            "allocator-fragmentation.ratio",
            ratio(a.active, a.allocated),
        ),
        (
            "allocator-fragmentation.bytes",
            int(a.active.saturating_sub(a.allocated)),
        ),
        ("allocator.rss-ratio", ratio(a.resident, a.active)),
        (
            "allocator.rss-bytes",
            int(a.resident.saturating_sub(a.active)),
        ),
        ("rss-overhead.ratio", ratio(m.rss, a.resident)),
        ("rss-overhead.bytes", int(m.rss.saturating_sub(a.resident))),
        ("fragmentation", ratio(m.rss, m.used)),
        (
            "fragmentation.bytes",
            Reply::Integer(m.rss as i64 - m.used as i64),
        ),
        // Respite's own: the hot cache and SQLite's page cache and statements.
        ("respite.cache.bytes", int(o.cache)),
        (
            "respite.sqlite.bytes",
            // SAFETY: sqlite3_memory_used only reads SQLite's global counter.
            Reply::Integer(unsafe { rusqlite::ffi::sqlite3_memory_used() }),
        ),
    ];
    Reply::Map(
        fields
            .into_iter()
            .map(|(k, v)| (Reply::Bulk(Bytes::from_static(k.as_bytes())), v))
            .collect(),
    )
}

/// Below this much allocated memory the doctor has too little to judge.
const DOCTOR_MIN_BYTES: u64 = 5 << 20;

fn memory_doctor(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    let o = match overview(ctx) {
        Ok(o) => o,
        Err(e) => return err_store(&e),
    };
    let text = doctor_report(&o.mem);
    Reply::Verbatim {
        format: *b"txt",
        text: Bytes::from(text),
    }
}

/// The doctor's findings in plain words, as Redis's MEMORY DOCTOR gives them.
fn doctor_report(m: &MemoryFigures) -> String {
    if m.used < DOCTOR_MIN_BYTES {
        return "This instance uses too little memory (under 5 MB) for the memory doctor to \
                judge anything. Come back once it holds some data."
            .into();
    }
    let mut issues = Vec::new();
    if m.peak > m.used.saturating_mul(3) / 2 {
        issues.push(format!(
            " * Peak memory: the peak ({}) was more than 150% of the memory used now ({}). \
             The fragmentation figures may look worse than they are for that reason.",
            m.peak, m.used
        ));
    }
    let frag = m.rss as f64 / m.used.max(1) as f64;
    if frag > 1.4 && m.rss.saturating_sub(m.used) > 10 << 20 {
        issues.push(format!(
            " * High fragmentation: the process's resident memory is {frag:.2} times what \
             is allocated. MEMORY PURGE returns the allocator's unused pages to the system."
        ));
    }
    if issues.is_empty() {
        return "No memory problem found in this instance. Respite keeps its data in its \
                SQLite file: the memory here is the hot cache and SQLite's page cache (together \
                storage.cache_max_bytes), the clients' buffers and Lua."
            .into();
    }
    format!(
        "The memory doctor found these possible problems:\n\n{}\n",
        issues.join("\n\n")
    )
}

fn memory_malloc_stats(_ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    Reply::Verbatim {
        format: *b"txt",
        text: Bytes::from(crate::allocator::report()),
    }
}

fn memory_purge(_ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    if crate::allocator::stats().is_some() && !crate::allocator::purge() {
        return Reply::error("ERR Error purging dirty pages");
    }
    Reply::ok()
}
