//! RESPlite's document commands, RediSearch 1.x's FT.ADD / FT.DEL / FT.GET: a document is
//! the hash under its id, so these are HSET, DEL and HGETALL with the index checked. The
//! index picks the hash up through its key events like any other write (so the id must match
//! the index's prefixes).

use bytes::Bytes;
use respite_core::plugin::api::{Ctx, Reply};

use crate::reply::{err, index, is, uint, UNKNOWN_INDEX};

/// `FT.ADD index docid score [REPLACE [PARTIAL]] [LANGUAGE l] FIELDS field value ...`:
/// without REPLACE an existing document is an error; with REPLACE (not PARTIAL) its other
/// fields go.
pub fn ft_add(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    if index(ctx, &argv[1]).is_none() {
        return err(UNKNOWN_INDEX);
    }
    let doc = argv[2].clone();
    if std::str::from_utf8(&argv[3])
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .is_none()
    {
        return err("Could not parse document score");
    }
    let (mut replace, mut partial) = (false, false);
    let mut i = 4;
    while i < argv.len() && !is(&argv[i], "FIELDS") {
        let a = &argv[i];
        if is(a, "REPLACE") {
            replace = true;
        } else if is(a, "PARTIAL") {
            partial = true;
        } else if is(a, "NOSAVE") {
            return err("NOSAVE is not supported by this server");
        } else if is(a, "LANGUAGE") {
            i += 1;
        } else if is(a, "PAYLOAD") || is(a, "IF") {
            return err(format!(
                "{} is not supported by this server",
                String::from_utf8_lossy(a).to_uppercase()
            ));
        } else {
            return err("ERR syntax error");
        }
        i += 1;
    }
    let fields = &argv[(i + 1).min(argv.len())..];
    if i >= argv.len() || fields.is_empty() || fields.len() % 2 != 0 {
        return err("ERR wrong number of arguments for 'ft.add' command");
    }
    let exists = matches!(
        ctx.engine()
            .call(0, &[Bytes::from_static(b"EXISTS"), doc.clone()]),
        Reply::Integer(1)
    );
    if exists && !replace {
        return err("Document already exists");
    }
    if exists && !partial {
        let reply = ctx
            .engine()
            .call(0, &[Bytes::from_static(b"DEL"), doc.clone()]);
        if reply.is_error() {
            return reply;
        }
    }
    let mut hset = vec![Bytes::from_static(b"HSET"), doc];
    hset.extend(fields.iter().cloned());
    match ctx.engine().call(0, &hset) {
        Reply::Error(e) => Reply::Error(e),
        _ => Reply::ok(),
    }
}

/// `FT.DEL index docid [DD]`: deletes the document's hash; 1 if it was indexed.
pub fn ft_del(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let Some((id, _)) = index(ctx, &argv[1]) else {
        return err(UNKNOWN_INDEX);
    };
    let indexed = ctx
        .sql_query(
            "SELECT 1 FROM search_docs WHERE idx = ? AND key = ?",
            &[
                respite_core::plugin::api::SqlValue::Integer(id),
                respite_core::plugin::api::SqlValue::Blob(argv[2].to_vec()),
            ],
        )
        .map(|r| !r.is_empty())
        .unwrap_or(false);
    if !indexed {
        return Reply::Integer(0);
    }
    match ctx
        .engine()
        .call(0, &[Bytes::from_static(b"DEL"), argv[2].clone()])
    {
        Reply::Error(e) => Reply::Error(e),
        _ => Reply::Integer(1),
    }
}

/// `FT.GET index docid`: the document's fields as a flat list, or nil.
pub fn ft_get(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    if index(ctx, &argv[1]).is_none() {
        return err(UNKNOWN_INDEX);
    }
    let _ = uint;
    match crate::index::fetch_hash(ctx.engine(), &argv[2]) {
        Some(fields) => Reply::Array(
            fields
                .into_iter()
                .flat_map(|(f, v)| [Reply::Bulk(f), Reply::Bulk(v)])
                .collect(),
        ),
        None => Reply::Null,
    }
}
