//! LATENCY: the latency monitor's events (LATEST, HISTORY, RESET, GRAPH, DOCTOR) and the
//! commands' latency histograms (HISTOGRAM). The monitor and the histograms are the engine's
//! (`engine/latency.rs`).

use std::fmt::Write as _;
use std::sync::Arc;

use bytes::Bytes;

use super::help_reply;
use super::table::{flags::*, CommandSpec};
use crate::engine::latency::Series;
use crate::engine::table::Command;
use crate::engine::{Ctx, Engine};
use crate::protocol::Reply;

/// The LATENCY command.
pub static COMMANDS: &[CommandSpec] = &[CommandSpec::container("latency", -2)
    .categories(&["slow"])
    .doc(
        "server",
        "A container for latency diagnostics commands.",
        "2.8.13",
        "Depends on subcommand.",
    )
    .subcommands(&[
        CommandSpec::new("latest", 2, latency_latest)
            .flags(ADMIN | NOSCRIPT | LOADING | STALE)
            .categories(&["admin", "slow", "dangerous"])
            .doc(
                "server",
                "Returns the latest latency samples for all events.",
                "2.8.13",
                "O(1)",
            ),
        CommandSpec::new("history", 3, latency_history)
            .flags(ADMIN | NOSCRIPT | LOADING | STALE)
            .categories(&["admin", "slow", "dangerous"])
            .doc(
                "server",
                "Returns timestamp-latency samples for an event.",
                "2.8.13",
                "O(1)",
            ),
        CommandSpec::new("reset", -2, latency_reset)
            .flags(ADMIN | NOSCRIPT | LOADING | STALE)
            .categories(&["admin", "slow", "dangerous"])
            .doc(
                "server",
                "Resets the latency data for one or more events.",
                "2.8.13",
                "O(1)",
            ),
        CommandSpec::new("graph", 3, latency_graph)
            .flags(ADMIN | NOSCRIPT | LOADING | STALE)
            .categories(&["admin", "slow", "dangerous"])
            .doc(
                "server",
                "Returns a latency graph for an event.",
                "2.8.13",
                "O(1)",
            ),
        CommandSpec::new("doctor", 2, latency_doctor)
            .flags(ADMIN | NOSCRIPT | LOADING | STALE)
            .categories(&["admin", "slow", "dangerous"])
            .doc(
                "server",
                "Returns a human-readable latency analysis report.",
                "2.8.13",
                "O(1)",
            ),
        CommandSpec::new("histogram", -2, latency_histogram)
            .flags(ADMIN | NOSCRIPT | LOADING | STALE)
            .categories(&["admin", "slow", "dangerous"])
            .doc(
                "server",
                "Returns the cumulative distribution of latencies of a subset or all commands.",
                "7.0.0",
                "O(N) where N is the number of commands with latency information being \
                 retrieved.",
            ),
        CommandSpec::new("help", 2, latency_help)
            .flags(LOADING | STALE)
            .categories(&["slow"])
            .doc(
                "server",
                "Returns helpful text about the different subcommands.",
                "2.8.13",
                "O(1)",
            ),
    ])];

fn bulk(s: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}

fn latency_latest(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    let rows = ctx
        .engine
        .latency
        .events()
        .iter()
        .filter_map(|(name, series)| {
            let last = series.samples.back()?;
            Some(Reply::Array(vec![
                bulk(name),
                Reply::Integer(last.time),
                Reply::Integer(last.ms as i64),
                Reply::Integer(series.max as i64),
            ]))
        })
        .collect();
    Reply::Array(rows)
}

fn series<'a>(engine: &'a Engine, name: &[u8]) -> Option<&'a Series> {
    let name = std::str::from_utf8(name).ok()?;
    engine.latency.events().get(name)
}

fn latency_history(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let Some(series) = series(ctx.engine, &argv[2]) else {
        return Reply::Array(Vec::new());
    };
    Reply::Array(
        series
            .samples
            .iter()
            .map(|s| Reply::Array(vec![Reply::Integer(s.time), Reply::Integer(s.ms as i64)]))
            .collect(),
    )
}

fn latency_reset(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let names: Vec<String> = argv[2..]
        .iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    Reply::Integer(ctx.engine.latency.reset(&names) as i64)
}

/// Rows of the graph, and the columns it has at most (older samples are left out).
const GRAPH_ROWS: u64 = 8;
const GRAPH_COLUMNS: usize = 80;

fn latency_graph(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let name = String::from_utf8_lossy(&argv[2]).into_owned();
    let Some(series) = series(ctx.engine, &argv[2]) else {
        return Reply::Error(format!("ERR No samples available for event '{name}'").into());
    };
    let now = crate::keyspace::now_ms() / 1000;
    let samples: Vec<_> = series
        .samples
        .iter()
        .rev()
        .take(GRAPH_COLUMNS)
        .rev()
        .copied()
        .collect();
    let high = samples.iter().map(|s| s.ms).max().unwrap_or(0);
    let low = samples.iter().map(|s| s.ms).min().unwrap_or(0);
    let mut out = format!(
        "{name} - high {high} ms, low {low} ms (all time high {} ms)\n",
        series.max
    );
    out.push_str(&"-".repeat(samples.len().max(1)));
    out.push('\n');
    // A bar per sample, as tall as its latency within [low, high].
    for row in (1..=GRAPH_ROWS).rev() {
        let line: String = samples
            .iter()
            .map(|s| {
                let height = if high == low {
                    GRAPH_ROWS
                } else {
                    1 + (s.ms - low) * (GRAPH_ROWS - 1) / (high - low)
                };
                if height >= row {
                    '#'
                } else {
                    ' '
                }
            })
            .collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    // The age of each sample, a character per column: seconds ago, then the legend.
    let ages: Vec<String> = samples.iter().map(|s| age(now - s.time)).collect();
    for digit in 0..ages.iter().map(String::len).max().unwrap_or(0) {
        let line: String = ages
            .iter()
            .map(|a| a.as_bytes().get(digit).map_or(' ', |b| *b as char))
            .collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push_str("(each column is a sample; read the age top to bottom: s seconds, m minutes, h hours ago)\n");
    Reply::Verbatim {
        format: *b"txt",
        text: Bytes::from(out),
    }
}

/// How long ago, shortest: `12s`, `3m`, `2h`, `5d`.
fn age(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m", secs / 60),
        3600..=86399 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86400),
    }
}

fn latency_doctor(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    let text = doctor(ctx.engine);
    Reply::Verbatim {
        format: *b"txt",
        text: Bytes::from(text),
    }
}

/// What each event means and what to do about it.
fn advice(event: &str) -> &'static str {
    match event {
        "command" | "fast-command" => {
            "Slow commands: SLOWLOG GET lists them. Commands over large collections (KEYS, \
             SMEMBERS, LRANGE of long ranges, SORT) run in O(N); prefer SCAN and its \
             relatives."
        }
        "commit" => {
            "Group commits wait for the redo journal's append (and its fsync with \
             storage.synchronous = \"full\"): a slow or busy disk shows here."
        }
        "merge" => {
            "Merging the redo journal writes the changed pages into the SQLite file: a slow \
             disk, or a large storage.merge_interval_ms, makes each merge longer."
        }
        "write-behind-flush" => {
            "Write-behind flushes write every changed key: a shorter \
             storage.flush_interval_ms makes each smaller."
        }
        "backpressure" => {
            "The redo journal reached storage.journal_max_bytes and writes waited for its \
             merge: the disk does not keep up with the write rate, or the limit is small."
        }
        "checkpoint" => {
            "Copying the WAL into the database file (on its own thread; commands do not wait \
             for it) is slow: the disk is busy."
        }
        "expire-cycle" => {
            "Many keys expired at the same time: spread their TTLs (add some randomness)."
        }
        _ => "",
    }
}

fn doctor(engine: &Engine) -> String {
    let latency = &engine.latency;
    if latency.threshold_ms == 0 {
        return "The latency monitor is off, so there is nothing to analyse. Turn it on with \
                CONFIG SET latency-monitor-threshold <milliseconds>: events that take at \
                least that long are recorded.\n"
            .into();
    }
    let events = latency.events();
    if events.is_empty() {
        return format!(
            "No latency spike of {} ms or more was recorded since the monitor was turned on \
             or last reset. Nothing to report.\n",
            latency.threshold_ms
        );
    }
    let mut out = format!(
        "Latency spikes of {} ms or more recorded, by event:\n\n",
        latency.threshold_ms
    );
    for (i, (name, s)) in events.iter().enumerate() {
        let n = s.samples.len() as u64;
        let avg = s.samples.iter().map(|x| x.ms).sum::<u64>() / n.max(1);
        let period = match (s.samples.front(), s.samples.back()) {
            (Some(a), Some(b)) if n > 1 => (b.time - a.time) / (n as i64 - 1),
            _ => 0,
        };
        let _ = writeln!(
            out,
            "{}. {name}: {n} spikes (average {avg} ms, one every {period} s on average). \
             Worst ever: {} ms.",
            i + 1,
            s.max
        );
        let tip = advice(name);
        if !tip.is_empty() {
            let _ = writeln!(out, "   {tip}");
        }
    }
    out
}

/// A command and its subcommands, for HISTOGRAM.
fn with_subcommands(cmd: &Arc<Command>) -> impl Iterator<Item = &Arc<Command>> {
    std::iter::once(cmd).chain(cmd.subcommands.iter())
}

fn latency_histogram(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let engine = &*ctx.engine;
    let mut chosen: Vec<&Arc<Command>> = Vec::new();
    if argv.len() == 2 {
        for cmd in engine.commands.iter_sorted() {
            chosen.extend(with_subcommands(cmd));
        }
    } else {
        for name in &argv[2..] {
            let lower = name.to_ascii_lowercase();
            let found = match lower.iter().position(|&b| b == b'|') {
                Some(bar) => engine
                    .commands
                    .get(&lower[..bar])
                    .and_then(|c| c.subcommand(&lower[bar + 1..])),
                None => engine.commands.get(&lower),
            };
            if let Some(cmd) = found {
                chosen.extend(with_subcommands(cmd));
            }
        }
    }
    let mut out = Vec::new();
    for cmd in chosen {
        let Some(h) = engine.latency.histogram(cmd.stats_index) else {
            continue;
        };
        let buckets = h
            .cumulative_usec()
            .into_iter()
            .map(|(us, n)| (Reply::Integer(us as i64), Reply::Integer(n as i64)))
            .collect();
        out.push((
            bulk(&cmd.name),
            Reply::Map(vec![
                (bulk("calls"), Reply::Integer(h.calls() as i64)),
                (bulk("histogram_usec"), Reply::Map(buckets)),
            ]),
        ));
    }
    Reply::Map(out)
}

fn latency_help(_ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    help_reply(
        "LATENCY",
        &[
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
        ],
    )
}
