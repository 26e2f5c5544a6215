//! Reading the core's replies (from [`Ctx::call`](respite_core::plugin::api::Ctx::call)).

use bytes::Bytes;
use respite_core::plugin::api::Reply;

/// A reply's bytes (bulk, status, integer as text); `None` for nil, errors and aggregates.
pub fn bytes(r: &Reply) -> Option<Bytes> {
    match r {
        Reply::Bulk(b) | Reply::BigNumber(b) => Some(b.clone()),
        Reply::Verbatim { text, .. } => Some(text.clone()),
        Reply::Simple(s) => Some(Bytes::copy_from_slice(s.as_bytes())),
        Reply::Integer(n) => Some(Bytes::from(n.to_string())),
        Reply::Double(d) => Some(Bytes::from(d.to_string())),
        _ => None,
    }
}

/// A reply's integer (integers, and numbers given as text).
pub fn int(r: &Reply) -> Option<i64> {
    match r {
        Reply::Integer(n) => Some(*n),
        Reply::Boolean(b) => Some(*b as i64),
        other => std::str::from_utf8(&bytes(other)?).ok()?.parse().ok(),
    }
}

/// The elements of an aggregate reply, maps flattened to key, value, key, value.
pub fn flat(r: Reply) -> Vec<Reply> {
    match r {
        Reply::Array(v) | Reply::Set(v) | Reply::Push(v) => v,
        Reply::Map(pairs) => pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
        _ => Vec::new(),
    }
}

/// The text of an error reply.
pub fn error(r: &Reply) -> Option<String> {
    match r {
        Reply::Error(e) => Some(e.to_string()),
        _ => None,
    }
}
