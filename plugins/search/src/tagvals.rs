//! FT.TAGVALS.

use bytes::Bytes;
use respite_core::plugin::api::{Ctx, Reply, SqlValue};

use crate::reply::{err, err_store, index, text, UNKNOWN_INDEX};
use crate::schema::FieldType;
use crate::tables;

/// `FT.TAGVALS index field`: the distinct values of a TAG field (lowercased unless
/// CASESENSITIVE, as indexed).
pub fn ft_tagvals(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let Some((id, def)) = index(ctx, &argv[1]) else {
        return err(UNKNOWN_INDEX);
    };
    let field = text(&argv[2]);
    match def.field(&field).map(|f| &f.kind) {
        Some(FieldType::Tag { .. }) => {}
        Some(_) => return err("Not a tag field"),
        None => return err(format!("No such field `{field}`")),
    }
    match ctx.sql_query(
        "SELECT DISTINCT value FROM search_tags WHERE idx = ? AND field = ? ORDER BY value",
        &[SqlValue::Integer(id), SqlValue::Text(field)],
    ) {
        Ok(rows) => Reply::Set(
            rows.iter()
                .map(|r| Reply::Bulk(tables::bytes(r.first())))
                .collect(),
        ),
        Err(e) => err_store(&e),
    }
}
