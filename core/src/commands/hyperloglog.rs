//! HyperLogLog commands (Redis's hyperloglog.c): PFADD, PFCOUNT, PFMERGE, on string values in
//! Redis's own format ([`super::hll`]), so a value copied from redis-server counts the same here.

use bytes::Bytes;

use super::hll;
use super::string::{read_string_as, write_string};
use super::table::{flags::*, CommandSpec};
use crate::engine::Ctx;
use crate::events::class;
use crate::protocol::Reply;

/// HyperLogLog commands.
pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("pfadd", -2, pfadd)
        .flags(WRITE | DENYOOM | FAST)
        .keys(1, 1, 1)
        .categories(&["write", "hyperloglog", "fast"])
        .doc(
            "hyperloglog",
            "Adds the specified elements to the specified HyperLogLog.",
            "2.8.9",
            "O(1) to add every element.",
        ),
    CommandSpec::new("pfcount", -2, pfcount)
        .flags(READONLY | MAY_REPLICATE)
        .keys(1, -1, 1)
        .categories(&["read", "hyperloglog", "slow"])
        .doc(
            "hyperloglog",
            "Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s).",
            "2.8.9",
            "O(1) with a very small average constant time when called with a single key. O(N) with N being the number of keys, and much bigger constant times, when called with multiple keys.",
        ),
    CommandSpec::new("pfmerge", -2, pfmerge)
        .flags(WRITE | DENYOOM)
        .keys(1, -1, 1)
        .categories(&["write", "hyperloglog", "slow"])
        .doc(
            "hyperloglog",
            "Merge N different HyperLogLogs into a single one.",
            "2.8.9",
            "O(N) to merge N HyperLogLogs, but with high constant times.",
        ),
];

fn err_invalid() -> Reply {
    Reply::error("INVALIDOBJ Corrupted HLL object detected")
}

fn err_not_hll() -> Reply {
    Reply::error("WRONGTYPE Key is not a valid HyperLogLog string value.")
}

/// The HLL at `key` with its expiry: `None` when missing, WRONGTYPE for another type or a
/// string that is not an HLL.
fn read_hll(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    for_write: bool,
) -> Result<Option<(Bytes, Option<i64>)>, Reply> {
    match read_string_as(ctx, key, for_write)? {
        Some((s, _)) if !hll::is_valid(&s) => Err(err_not_hll()),
        found => Ok(found),
    }
}

fn sparse_max(ctx: &Ctx<'_>) -> u64 {
    ctx.engine.config.storage.hll_sparse_max_bytes
}

fn pfadd(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let key = &argv[1];
    let max = sparse_max(ctx);
    let (mut v, expire_at, mut updated) = match tri!(read_hll(ctx, key, true)) {
        Some((v, at)) => (v.to_vec(), at, false),
        None => (hll::new_sparse(), None, true),
    };
    for element in &argv[2..] {
        match hll::add(&mut v, element, max) {
            Ok(changed) => updated |= changed,
            Err(hll::Corrupt) => return err_invalid(),
        }
    }
    if !updated {
        return Reply::Integer(0);
    }
    hll::invalidate(&mut v);
    tri!(write_string(ctx, key, Bytes::from(v), expire_at));
    ctx.notify(class::STRING, "pfadd", key);
    Reply::Integer(1)
}

fn pfcount(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    if argv.len() > 2 {
        // Several keys: the count of their union, and no key changes.
        let mut max = vec![0u8; hll::REGISTERS];
        for key in &argv[1..] {
            let Some((v, _)) = tri!(read_hll(ctx, key, false)) else {
                continue;
            };
            if hll::merge_into(&mut max, &v).is_err() {
                return err_invalid();
            }
        }
        return Reply::Integer(hll::estimate(&max) as i64);
    }
    let key = &argv[1];
    let Some((v, expire_at)) = tri!(read_hll(ctx, key, false)) else {
        return Reply::Integer(0);
    };
    if let Some(card) = hll::cached(&v) {
        return Reply::Integer(card as i64);
    }
    let Ok(card) = hll::count(&v) else {
        return err_invalid();
    };
    // The value keeps the count, as Redis's does (no event: the set is unchanged).
    let mut v = v.to_vec();
    hll::set_cached(&mut v, card);
    tri!(write_string(ctx, key, Bytes::from(v), expire_at));
    Reply::Integer(card as i64)
}

fn pfmerge(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let dest = &argv[1];
    let mut max = vec![0u8; hll::REGISTERS];
    let mut use_dense = false;
    for key in &argv[1..] {
        let Some((v, _)) = tri!(read_hll(ctx, key, false)) else {
            continue;
        };
        use_dense |= v[4] == 0;
        if hll::merge_into(&mut max, &v).is_err() {
            return err_invalid();
        }
    }
    let sparse_max = sparse_max(ctx);
    let (mut v, expire_at) = match tri!(read_hll(ctx, dest, true)) {
        Some((v, at)) => (v.to_vec(), at),
        None => (hll::new_sparse(), None),
    };
    if use_dense && hll::to_dense(&mut v).is_err() {
        return err_invalid();
    }
    for (i, &r) in max.iter().enumerate() {
        if r > 0 {
            // A corrupt destination was already refused above, as a source.
            let _ = hll::set_register(&mut v, i, r, sparse_max);
        }
    }
    hll::invalidate(&mut v);
    tri!(write_string(ctx, dest, Bytes::from(v), expire_at));
    ctx.notify(class::STRING, "pfadd", dest);
    Reply::ok()
}

#[cfg(test)]
mod tests {
    use crate::commands::bitmap::tests::check_events;

    #[test]
    fn hll_writes_emit_redis_event_names() {
        check_events(&[
            (&["pfadd", "h", "a"], &["$:pfadd:h"]),
            (&["pfadd", "h", "a"], &[]),
            (&["pfcount", "h"], &[]),
            (&["pfadd", "e"], &["$:pfadd:e"]),
            (&["pfmerge", "m", "h", "e"], &["$:pfadd:m"]),
        ]);
    }
}
