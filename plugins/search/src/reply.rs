//! What the commands share: finding an index, RediSearch's errors, number formatting and
//! argument reading.

use std::sync::Arc;

use bytes::Bytes;
use respite_core::plugin::api::{Ctx, Reply, StoreError};

use crate::schema::IndexDef;
use crate::State;

/// An error reply with RediSearch's text (RediSearch sends most without an `ERR` code).
pub fn err(msg: impl Into<String>) -> Reply {
    Reply::Error(msg.into().into())
}

/// A storage failure.
pub fn err_store(e: &StoreError) -> Reply {
    Reply::Error(format!("ERR {e}").into())
}

/// FT.INFO, FT.DROPINDEX, FT.ALTER, FT.TAGVALS on a missing index (RediSearch 2.x).
pub const UNKNOWN_INDEX: &str = "Unknown Index name";

/// FT.SEARCH, FT.AGGREGATE, FT.EXPLAIN on a missing index (RediSearch 2.x: `idx: no such
/// index`).
pub fn no_such_index(name: &[u8]) -> Reply {
    err(format!("{}: no such index", String::from_utf8_lossy(name)))
}

/// The plugin's state.
pub fn state<'a>(ctx: &'a mut Ctx<'_>) -> Option<&'a mut State> {
    ctx.engine().state_mut::<State>()
}

/// Index `name`: its id and definition.
pub fn index(ctx: &mut Ctx<'_>, name: &[u8]) -> Option<(i64, Arc<IndexDef>)> {
    let name = std::str::from_utf8(name).ok()?;
    let st = state(ctx)?;
    st.resolve(name).map(|i| (i.id, Arc::clone(&i.def)))
}

/// A number as RediSearch prints it: integers without a fraction, others with up to 17
/// significant digits and no trailing zeros.
pub fn fmt_num(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == v.trunc() && v.abs() < 1e17 {
        return format!("{}", v as i64);
    }
    let s = format!("{v}");
    s
}

/// Argument text (lossy).
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Whether `arg` is `word`, ignoring case.
pub fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

/// A non-negative integer argument.
pub fn uint(arg: Option<&Bytes>) -> Option<u64> {
    arg.and_then(|a| std::str::from_utf8(a).ok())?.parse().ok()
}
