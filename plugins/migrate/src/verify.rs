//! Verify by sampling (SPEC_F F.9 step 7): a share of the source's keys, and the same share
//! of the keys here, compared by type, value (read type by type on both sides, collections
//! compared as sets where order is not part of the value) and expiry (absolute, within a
//! tolerance). Mismatches go to the run's error log (stage `verify`).

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use bytes::Bytes;
use redis::Value;
use respite_core::plugin::api::{now_ms, Ctx, EngineHandle, Reply};

use crate::reply;
use crate::row::RunRow;
use crate::source::{self, Source};
use crate::state_keys;

/// Keys compared per step.
const BATCH: usize = 200;
/// Mismatched keys named in the reply.
const NAMED: usize = 10;

/// What verify found.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    /// Keys compared.
    pub checked: u64,
    /// Keys that differ (missing, extra, value, type or TTL).
    pub mismatches: u64,
    /// Of those: on the source, not here.
    pub missing: u64,
    /// Of those: here, not on the source.
    pub extra: u64,
    /// Some mismatched keys with the reason.
    pub examples: Vec<String>,
}

impl Outcome {
    /// One line for status.
    pub fn summary(&self, pct: f64, at: i64) -> String {
        format!(
            "at={at} sample={pct}% checked={} mismatches={} missing={} extra={}",
            self.checked, self.mismatches, self.missing, self.extra
        )
    }
}

/// A value as compared: its type and its elements in a canonical order.
#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Norm {
    ty: String,
    items: Vec<Vec<u8>>,
}

/// The reads that give a key's value, by type.
fn reads(ty: &str) -> Option<Vec<&'static str>> {
    Some(match ty {
        "string" => vec!["GET"],
        "hash" => vec!["HGETALL"],
        "set" => vec!["SMEMBERS"],
        "zset" => vec!["ZRANGE", "0", "-1", "WITHSCORES"],
        "list" => vec!["LRANGE", "0", "-1"],
        "stream" => vec!["XRANGE", "-", "+"],
        _ => return None,
    })
}

/// Scores compared as numbers (their text may differ: `1` and `1.0`).
fn score(b: &[u8]) -> Vec<u8> {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .map(|f| format!("{f:?}").into_bytes())
        .unwrap_or_else(|| b.to_vec())
}

/// Canonical form of `items` (flat) of type `ty`.
pub fn normalize(ty: &str, mut items: Vec<Vec<u8>>) -> Norm {
    match ty {
        "hash" => {
            let mut pairs: Vec<Vec<u8>> = items
                .chunks(2)
                .map(|p| {
                    let mut v = p[0].clone();
                    v.push(0);
                    v.extend_from_slice(p.get(1).map_or(&[][..], |x| &x[..]));
                    v
                })
                .collect();
            pairs.sort();
            items = pairs;
        }
        "set" => items.sort(),
        "zset" => {
            items = items
                .chunks(2)
                .flat_map(|p| [p[0].clone(), score(p.get(1).map_or(&[][..], |x| &x[..]))])
                .collect()
        }
        _ => {}
    }
    Norm {
        ty: ty.to_string(),
        items,
    }
}

fn flat_value(v: Value, out: &mut Vec<Vec<u8>>) {
    match v {
        Value::Array(a) | Value::Set(a) => a.into_iter().for_each(|x| flat_value(x, out)),
        Value::Map(m) => m.into_iter().for_each(|(k, v)| {
            flat_value(k, out);
            flat_value(v, out);
        }),
        Value::BulkString(b) => out.push(b),
        Value::Nil => {}
        other => out.push(source::text(&other).unwrap_or_default().into_bytes()),
    }
}

fn flat_reply(r: Reply, out: &mut Vec<Vec<u8>>) {
    match r {
        Reply::Array(a) | Reply::Set(a) | Reply::Push(a) => {
            a.into_iter().for_each(|x| flat_reply(x, out))
        }
        Reply::Map(m) => m.into_iter().for_each(|(k, v)| {
            flat_reply(k, out);
            flat_reply(v, out);
        }),
        Reply::Null | Reply::NullArray => {}
        other => out.push(reply::bytes(&other).map(|b| b.to_vec()).unwrap_or_default()),
    }
}

/// One side's view of a key: its value (`None`: missing) and absolute expiry (0: none).
type Seen = (Option<Norm>, i64);

/// Reads `keys` on the source.
async fn read_source(src: &Source, keys: &[Vec<u8>]) -> Result<Vec<Seen>, String> {
    let mut pipe = redis::pipe();
    pipe.atomic();
    for k in keys {
        pipe.cmd("TYPE").arg(k).cmd("PTTL").arg(k);
    }
    let at = now_ms();
    let mut c = src.conn.clone();
    let meta: Vec<Value> = pipe
        .query_async(&mut c)
        .await
        .map_err(|e| source::describe(&src.url, &e))?;
    let mut out = Vec::with_capacity(keys.len());
    let mut pipe = redis::pipe();
    let mut asked = Vec::new();
    for (k, m) in keys.iter().zip(meta.chunks(2)) {
        let ty = source::text(&m[0]).unwrap_or_default();
        let pttl = source::int(&m[1]).unwrap_or(-2);
        if let Some(r) = reads(&ty) {
            let mut cmd = redis::cmd(r[0]);
            cmd.arg(k);
            for a in &r[1..] {
                cmd.arg(*a);
            }
            pipe.add_command(cmd);
            asked.push(true);
        } else {
            asked.push(false);
        }
        out.push((ty, if pttl > 0 { at + pttl } else { 0 }));
    }
    let values: Vec<Value> = pipe
        .query_async(&mut c)
        .await
        .map_err(|e| source::describe(&src.url, &e))?;
    let mut values = values.into_iter();
    Ok(out
        .into_iter()
        .zip(asked)
        .map(|((ty, exp), asked)| {
            if ty == "none" {
                return (None, 0);
            }
            let mut items = Vec::new();
            if asked {
                if let Some(v) = values.next() {
                    flat_value(v, &mut items);
                }
            }
            (Some(normalize(&ty, items)), exp)
        })
        .collect())
}

/// Reads `keys` here.
fn read_here(ctx: &mut Ctx<'_>, keys: &[Vec<u8>]) -> Vec<Seen> {
    let at = ctx.now();
    keys.iter()
        .map(|k| {
            let key = Bytes::copy_from_slice(k);
            let ty = ctx.call(&[Bytes::from_static(b"TYPE"), key.clone()]);
            let ty = reply::bytes(&ty)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            if ty == "none" {
                return (None, 0);
            }
            let pttl =
                reply::int(&ctx.call(&[Bytes::from_static(b"PTTL"), key.clone()])).unwrap_or(-2);
            let mut items = Vec::new();
            if let Some(r) = reads(&ty) {
                let mut argv = vec![Bytes::from_static(r[0].as_bytes()), key];
                argv.extend(r[1..].iter().map(|a| Bytes::from_static(a.as_bytes())));
                flat_reply(ctx.call(&argv), &mut items);
            }
            (
                Some(normalize(&ty, items)),
                if pttl > 0 { at + pttl } else { 0 },
            )
        })
        .collect()
}

/// Why two views differ (`None`: they agree). A key about to expire (within the tolerance)
/// on the side that has it may be gone on the other.
pub fn compare(
    src: &Seen,
    here: &Seen,
    tolerance: i64,
    now: i64,
    ttl_dropped: bool,
) -> Option<&'static str> {
    let soon = |exp: i64| exp != 0 && exp - now <= tolerance;
    match (&src.0, &here.0) {
        (None, None) => None,
        (Some(_), None) if soon(src.1) => None,
        (None, Some(_)) if soon(here.1) => None,
        (Some(_), None) => Some("missing here"),
        (None, Some(_)) => Some("not on the source"),
        (Some(a), Some(b)) => {
            if a.ty != b.ty {
                return Some("type differs");
            }
            if a.items != b.items {
                return Some("value differs");
            }
            let ttl_ok = if ttl_dropped {
                here.1 == 0
            } else {
                (src.1 == 0) == (here.1 == 0) && (src.1 - here.1).abs() <= tolerance
            };
            if !ttl_ok {
                return Some("TTL differs");
            }
            None
        }
    }
}

/// What to compare.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Share of keys, percent.
    pub pct: f64,
    /// How far apart expiry times may be (ms).
    pub tolerance: i64,
}

/// Compares a share of the keys of both sides of `row`'s run.
pub async fn run(
    handle: &EngineHandle,
    src: &Source,
    row: &RunRow,
    state_db: u32,
    sample: Sample,
) -> Result<Outcome, String> {
    let Sample { pct, tolerance } = sample;
    let (run_id, dest_db) = (row.run_id.as_str(), row.dest_db);
    let ttl_dropped = row.options.ttl_mode == crate::options::TtlMode::Drop;
    let hasher = RandomState::new();
    let take = |k: &[u8]| pct >= 100.0 || (hasher.hash_one(k) % 1_000_000) as f64 / 10_000.0 < pct;
    let mut out = Outcome::default();
    let mut logged = Vec::new();
    // The source's keys, then the keys here not seen on the source.
    for side in 0..2 {
        let mut cursor = 0u64;
        loop {
            let (next, keys) = if side == 0 {
                src.scan(cursor, 1000).await?
            } else {
                let c = cursor;
                handle
                    .run(move |e| {
                        e.run_internal(dest_db, |ctx| {
                            let r = ctx.call(&[
                                Bytes::from_static(b"SCAN"),
                                Bytes::from(c.to_string()),
                                Bytes::from_static(b"COUNT"),
                                Bytes::from_static(b"1000"),
                            ]);
                            let mut parts = reply::flat(r).into_iter();
                            let next = parts.next().and_then(|r| reply::int(&r)).unwrap_or(0);
                            let keys: Vec<Vec<u8>> = parts
                                .next()
                                .map(reply::flat)
                                .unwrap_or_default()
                                .iter()
                                .filter_map(reply::bytes)
                                .map(|b| b.to_vec())
                                .collect();
                            (next as u64, keys)
                        })
                    })
                    .await
                    .map_err(|_| crate::job::GONE.to_string())?
            };
            let keys: Vec<Vec<u8>> = keys.into_iter().filter(|k| take(k)).collect();
            for chunk in keys.chunks(BATCH) {
                let chunk = chunk.to_vec();
                let theirs = read_source(src, &chunk).await?;
                let c2 = chunk.clone();
                let ours = handle
                    .run(move |e| e.run_internal(dest_db, |ctx| read_here(ctx, &c2)))
                    .await
                    .map_err(|_| crate::job::GONE.to_string())?;
                let now = now_ms();
                for ((k, s), h) in chunk.iter().zip(&theirs).zip(&ours) {
                    // The second side only counts keys missing on the source.
                    if side == 1 && s.0.is_some() {
                        continue;
                    }
                    out.checked += 1;
                    if let Some(why) = compare(s, h, tolerance, now, ttl_dropped) {
                        out.mismatches += 1;
                        match why {
                            "missing here" => out.missing += 1,
                            "not on the source" => out.extra += 1,
                            _ => {}
                        }
                        let line = format!(
                            "'{}': {why}",
                            String::from_utf8_lossy(&k[..k.len().min(200)])
                        );
                        if out.examples.len() < NAMED {
                            out.examples.push(line.clone());
                        }
                        if logged.len() < state_keys::MAX_ERRORS {
                            logged.push((k.clone(), why.to_string()));
                        }
                    }
                }
            }
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
    }
    let run = run_id.to_string();
    let summary = out.summary(pct, now_ms());
    let _ = handle
        .run(move |e| {
            e.run_internal(state_db, |ctx| {
                for (k, why) in &logged {
                    let _ = state_keys::log_error(ctx, &run, "verify", Some(k), why);
                }
                let _ = state_keys::save_verify(ctx, &run, &summary);
            })
        })
        .await;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(ty: &str, items: &[&str]) -> Option<Norm> {
        Some(normalize(
            ty,
            items.iter().map(|s| s.as_bytes().to_vec()).collect(),
        ))
    }

    #[test]
    fn collections_compare_without_order_where_order_is_not_the_value() {
        assert_eq!(
            n("hash", &["a", "1", "b", "2"]),
            n("hash", &["b", "2", "a", "1"])
        );
        assert_eq!(n("set", &["x", "y"]), n("set", &["y", "x"]));
        assert_ne!(n("list", &["x", "y"]), n("list", &["y", "x"]));
        assert_eq!(n("zset", &["m", "1"]), n("zset", &["m", "1.0"]));
    }

    #[test]
    fn ttl_within_tolerance_and_expiring_keys() {
        let v = n("string", &["v"]);
        let now = 10_000;
        assert_eq!(
            compare(&(v.clone(), 50_000), &(v.clone(), 50_400), 1000, now, false),
            None
        );
        assert_eq!(
            compare(&(v.clone(), 50_000), &(v.clone(), 60_000), 1000, now, false),
            Some("TTL differs")
        );
        assert_eq!(
            compare(&(v.clone(), 0), &(v.clone(), 60_000), 1000, now, false),
            Some("TTL differs")
        );
        assert_eq!(
            compare(&(v.clone(), 10_500), &(None, 0), 1000, now, false),
            None
        );
        assert_eq!(
            compare(&(v.clone(), 0), &(None, 0), 1000, now, false),
            Some("missing here")
        );
        assert_eq!(
            compare(&(None, 0), &(v.clone(), 0), 1000, now, false),
            Some("not on the source")
        );
        assert_eq!(
            compare(&(v.clone(), 50_000), &(v.clone(), 0), 1000, now, true),
            None
        );
        assert_eq!(
            compare(
                &(n("string", &["a"]), 0),
                &(n("string", &["b"]), 0),
                1000,
                now,
                false
            ),
            Some("value differs")
        );
    }
}
