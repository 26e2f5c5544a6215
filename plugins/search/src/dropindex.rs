//! FT.DROPINDEX.

use bytes::Bytes;
use respite_core::plugin::api::{Ctx, Reply, SqlValue};

use crate::reply::{err, err_store, index, is, text, UNKNOWN_INDEX};
use crate::tables;

/// `FT.DROPINDEX index [DD]`: drops the index; with DD also deletes the hashes it indexed.
pub fn ft_dropindex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let dd = match argv.get(2) {
        None => false,
        Some(a) if is(a, "DD") && argv.len() == 3 => true,
        Some(_) => return err("ERR syntax error"),
    };
    let Some((id, _)) = index(ctx, &argv[1]) else {
        return err(UNKNOWN_INDEX);
    };
    let keys = if dd {
        match ctx.sql_query(
            "SELECT key FROM search_docs WHERE idx = ?",
            &[SqlValue::Integer(id)],
        ) {
            Ok(rows) => rows.iter().map(|r| tables::bytes(r.first())).collect(),
            Err(e) => return err_store(&e),
        }
    } else {
        Vec::new()
    };
    let name = crate::reply::state(ctx)
        .and_then(|st| st.resolve(&text(&argv[1])).map(|i| i.name.clone()))
        .unwrap_or_default();
    if let Err(e) = crate::index::drop(ctx.engine(), &name) {
        return err_store(&e);
    }
    for chunk in keys.chunks(512) {
        let mut del = vec![Bytes::from_static(b"DEL")];
        del.extend(chunk.iter().cloned());
        // The keys are deleted in database 0, where the index was.
        let reply = ctx.engine().call(0, &del);
        if reply.is_error() {
            return reply;
        }
    }
    Reply::ok()
}
