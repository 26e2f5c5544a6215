//! SORT and SORT_RO (Redis's sort.c) over lists and sets: BY (with `nosort` and `key->field`
//! patterns), LIMIT, GET, ASC/DESC, ALPHA and STORE.
//!
//! Sorted sets plug in at [`sortable_elements`]: one more arm that yields a zset's members in
//! score order (and reversed for `BY nosort DESC`, see [`natural_order`]).

use std::cmp::Ordering;

use bytes::Bytes;

use super::table::{flags::*, CommandSpec};
use super::{eq_ci, err_not_integer, err_store, err_syntax, err_wrongtype, parse_i64};
use crate::engine::Ctx;
use crate::events::class;
use crate::keyspace::Value;
use crate::protocol::Reply;
use crate::storage::{Store, StoreError, ValueType};

/// SORT and SORT_RO.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("sort", -2, sort)
        .flags(WRITE | DENYOOM | MOVABLE_KEYS)
        .keys(1, 1, 1)
        .categories(&["write", "set", "sortedset", "list", "slow", "dangerous"])
        .doc(
            "generic",
            "Sorts the elements in a list, a set, or a sorted set, optionally storing the result.",
            "1.0.0",
            "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N).",
        ),
    CommandSpec::new("sort_ro", -2, sort_ro)
        .flags(READONLY)
        .keys(1, 1, 1)
        .categories(&["read", "set", "sortedset", "list", "slow", "dangerous"])
        .doc(
            "generic",
            "Returns the sorted elements of a list, a set, or a sorted set.",
            "7.0.0",
            "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N).",
        ),
];

/// The elements SORT works on, in the value's natural order, or `None` for a type SORT does
/// not take (the caller answers WRONGTYPE). Sorted sets: add `Value::ZSet(z) => members in
/// score order` here.
pub fn sortable_elements(
    value: &Value,
    store: &mut dyn Store,
) -> Result<Option<Vec<Bytes>>, StoreError> {
    match value {
        Value::List(l) => l.items(store).map(Some),
        Value::Set(s) => s.members(store).map(Some),
        // Members in score order, as SORT ... BY nosort returns them.
        Value::ZSet(z) => Ok(Some(
            z.entries(store)?.into_iter().map(|(m, _)| m).collect(),
        )),
        _ => Ok(None),
    }
}

/// Whether `BY nosort DESC` reverses the natural order: it does for ordered types (lists and
/// sorted sets), not for sets, which have none.
fn natural_order(kind: ValueType) -> bool {
    matches!(kind, ValueType::List | ValueType::ZSet)
}

struct Options {
    by: Option<Bytes>,
    dontsort: bool,
    limit: Option<(i64, i64)>,
    gets: Vec<Bytes>,
    desc: bool,
    alpha: bool,
    store: Option<Bytes>,
}

/// Parses SORT's options. `reads_every_key` says whether the client's ACL user may read every
/// key: BY with a pattern and GET read keys no argument names, so without it they are refused,
/// as Redis does.
fn parse_options(
    argv: &[Bytes],
    read_only: bool,
    reads_every_key: impl Fn() -> bool,
) -> Result<Options, Reply> {
    let mut o = Options {
        by: None,
        dontsort: false,
        limit: None,
        gets: Vec::new(),
        desc: false,
        alpha: false,
        store: None,
    };
    let mut i = 2;
    while i < argv.len() {
        let left = argv.len() - i - 1;
        let a = &argv[i];
        if eq_ci(a, "asc") {
            o.desc = false;
        } else if eq_ci(a, "desc") {
            o.desc = true;
        } else if eq_ci(a, "alpha") {
            o.alpha = true;
        } else if eq_ci(a, "limit") && left >= 2 {
            let (Some(start), Some(count)) = (parse_i64(&argv[i + 1]), parse_i64(&argv[i + 2]))
            else {
                return Err(err_not_integer());
            };
            o.limit = Some((start, count));
            i += 2;
        } else if eq_ci(a, "store") && left >= 1 && !read_only {
            o.store = Some(argv[i + 1].clone());
            i += 1;
        } else if eq_ci(a, "by") && left >= 1 {
            let pattern = argv[i + 1].clone();
            // A pattern without `*` names no per-element key: the elements keep their order.
            o.dontsort = !pattern.contains(&b'*');
            if !o.dontsort && !reads_every_key() {
                return Err(Reply::error(
                    "ERR BY option of SORT denied due to insufficient ACL permissions.",
                ));
            }
            o.by = Some(pattern);
            i += 1;
        } else if eq_ci(a, "get") && left >= 1 {
            if !reads_every_key() {
                return Err(Reply::error(
                    "ERR GET option of SORT denied due to insufficient ACL permissions.",
                ));
            }
            o.gets.push(argv[i + 1].clone());
            i += 1;
        } else {
            return Err(err_syntax());
        }
        i += 1;
    }
    Ok(o)
}

/// The value `pattern` names for `element`: the first `*` replaced by the element, then the
/// string at that key, or the hash field after `->`. `#` is the element itself.
fn lookup(ctx: &mut Ctx<'_>, pattern: &[u8], element: &Bytes) -> Result<Option<Bytes>, Reply> {
    if pattern == b"#" {
        return Ok(Some(element.clone()));
    }
    let Some(star) = pattern.iter().position(|&b| b == b'*') else {
        return Ok(None);
    };
    let arrow = pattern[star + 1..]
        .windows(2)
        .position(|w| w == b"->")
        .map(|p| star + 1 + p)
        .filter(|&p| p + 2 < pattern.len());
    let key_end = arrow.unwrap_or(pattern.len());
    let mut key = Vec::with_capacity(key_end + element.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(element);
    key.extend_from_slice(&pattern[star + 1..key_end]);
    let (db, now) = (ctx.db(), ctx.now);
    let Some(r) = ctx
        .engine
        .keyspace
        .read(db, &key, now)
        .map_err(|e| err_store(&e))?
    else {
        return Ok(None);
    };
    match (arrow, &r.entry.value) {
        (None, Value::String(s)) => Ok(Some(s.clone())),
        (None, Value::Chunked(c)) => Ok(Some(Bytes::from(
            c.read(r.store, 0, c.len()).map_err(|e| err_store(&e))?,
        ))),
        (Some(a), Value::Hash(h)) => Ok(h
            .get(r.store, &pattern[a + 2..])
            .map_err(|e| err_store(&e))?
            .map(|f| f.value)),
        _ => Ok(None),
    }
}

/// A score as Redis's strtod reads it: leading spaces allowed, nothing after the number, no
/// overflow, no NaN; the empty string is 0.
fn parse_score(b: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(b).ok()?.trim_start();
    if text.is_empty() {
        return Some(0.0);
    }
    let v: f64 = text.parse().ok()?;
    if v.is_nan() || (v.is_infinite() && !text.to_ascii_lowercase().contains("inf")) {
        return None;
    }
    Some(v)
}

struct Item {
    element: Bytes,
    score: f64,
    by: Option<Bytes>,
}

fn sort(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    sort_generic(ctx, argv, false)
}

fn sort_ro(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    sort_generic(ctx, argv, true)
}

fn sort_generic(ctx: &mut Ctx<'_>, argv: &[Bytes], read_only: bool) -> Reply {
    let user = &ctx.client.user;
    let engine = &*ctx.engine;
    let reads_every_key = || {
        user.unrestricted
            || engine
                .resolve(argv)
                .is_ok_and(|cmd| crate::engine::acl::check::reads_every_key(user, &cmd, argv))
    };
    let mut o = match parse_options(argv, read_only, reads_every_key) {
        Ok(o) => o,
        Err(reply) => return reply,
    };
    let (db, now) = (ctx.db(), ctx.now);
    let (kind, mut elements) = match tri!(ctx.engine.keyspace.read(db, &argv[1], now)) {
        None => (None, Vec::new()),
        Some(r) => {
            let kind = r.entry.value.value_type();
            match tri!(sortable_elements(&r.entry.value, r.store)) {
                Some(e) => (Some(kind), e),
                None => return err_wrongtype(),
            }
        }
    };
    if o.dontsort && kind == Some(ValueType::Set) && o.store.is_some() {
        // A set has no order of its own: a stored result is sorted so that it is
        // deterministic, as Redis does.
        o.dontsort = false;
        o.alpha = true;
        o.by = None;
    }
    if o.dontsort {
        if o.desc && kind.is_some_and(natural_order) {
            elements.reverse();
        }
    } else {
        let mut items = Vec::with_capacity(elements.len());
        for element in elements {
            let by = match &o.by {
                Some(p) => tri!(lookup(ctx, p, &element)),
                None => None,
            };
            let score = if o.alpha {
                0.0
            } else {
                let text = if o.by.is_some() {
                    by.as_ref()
                } else {
                    Some(&element)
                };
                match text.map(|t| parse_score(t)) {
                    None => 0.0,
                    Some(Some(v)) => v,
                    Some(None) => {
                        return Reply::error(
                            "ERR One or more scores can't be converted into double",
                        )
                    }
                }
            };
            items.push(Item { element, score, by });
        }
        let by_pattern = o.by.is_some();
        let alpha = o.alpha;
        let compare = |a: &Item, b: &Item| -> Ordering {
            if !alpha {
                // Equal scores fall back to the elements, so the result is deterministic.
                a.score
                    .partial_cmp(&b.score)
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| a.element.cmp(&b.element))
            } else if by_pattern {
                // A missing BY value sorts first.
                a.by.cmp(&b.by)
            } else {
                a.element.cmp(&b.element)
            }
        };
        if o.desc {
            items.sort_by(|a, b| compare(b, a));
        } else {
            items.sort_by(compare);
        }
        elements = items.into_iter().map(|i| i.element).collect();
    }
    if let Some((start, count)) = o.limit {
        let len = elements.len();
        let start = usize::try_from(start.max(0)).unwrap_or(usize::MAX).min(len);
        let end = if count < 0 {
            len
        } else {
            start
                .saturating_add(usize::try_from(count).unwrap_or(usize::MAX))
                .min(len)
        };
        elements.truncate(end);
        elements.drain(..start);
    }
    let mut out: Vec<Option<Bytes>> = Vec::with_capacity(elements.len() * o.gets.len().max(1));
    for element in elements {
        if o.gets.is_empty() {
            out.push(Some(element));
        } else {
            for pattern in &o.gets {
                out.push(tri!(lookup(ctx, pattern, &element)));
            }
        }
    }
    let Some(dst) = o.store else {
        return Reply::Array(
            out.into_iter()
                .map(|v| v.map_or(Reply::Null, Reply::Bulk))
                .collect(),
        );
    };
    let len = out.len();
    let mut km = tri!(ctx.engine.keyspace.write(db, &dst, now));
    if len == 0 {
        let existed = tri!(km.delete());
        drop(km);
        if existed {
            ctx.notify(class::GENERIC, "del", &dst);
        }
        return Reply::Integer(0);
    }
    tri!(km.set(Value::List(Box::default()), None));
    {
        let Ok((list, mut backing)) = km.list_or_create() else {
            return err_wrongtype(); // never: the value was just replaced by a list
        };
        for v in out {
            tri!(list.push(&mut backing, v.unwrap_or_default(), false));
        }
    }
    drop(km);
    ctx.notify(class::LIST, "sortstore", &dst);
    Reply::Integer(len as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_parse_like_strtod() {
        assert_eq!(parse_score(b""), Some(0.0));
        assert_eq!(parse_score(b"  1.5"), Some(1.5));
        assert_eq!(parse_score(b"1.5 "), None);
        assert_eq!(parse_score(b"1e400"), None);
        assert_eq!(parse_score(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_score(b"nan"), None);
        assert_eq!(parse_score(b"abc"), None);
    }
}
