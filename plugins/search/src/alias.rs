//! FT.ALIASADD, FT.ALIASUPDATE and FT.ALIASDEL: other names for an index, accepted wherever
//! an index name is (FT.SEARCH, FT.AGGREGATE, FT.INFO, ...), persisted in `search_aliases`.

use std::collections::BTreeMap;

use bytes::Bytes;
use respite_core::plugin::api::{Ctx, Engine, Reply, SqlValue, StoreError};

use crate::reply::{err, err_store, state, text};
use crate::tables;

/// Every alias and its index.
pub fn load(engine: &mut Engine) -> Result<BTreeMap<String, String>, StoreError> {
    let rows = engine.sql_query("SELECT alias, name FROM search_aliases", &[])?;
    Ok(rows
        .iter()
        .map(|r| {
            let s = |v| String::from_utf8_lossy(&tables::bytes(v)).into_owned();
            (s(r.first()), s(r.get(1)))
        })
        .collect())
}

fn set(ctx: &mut Ctx<'_>, argv: &[Bytes], update: bool) -> Reply {
    let (alias, target) = (text(&argv[1]), text(&argv[2]));
    let Some(st) = state(ctx) else {
        return err("ERR the search plugin is not running");
    };
    let Some(index) = st.resolve(&target).map(|i| i.name.clone()) else {
        return err("Unknown index name (or name is an alias itself)");
    };
    if st.aliases.contains_key(&alias) && !update {
        return err("Alias already exists");
    }
    if st.indexes.contains_key(&alias) {
        return err("Alias already exists");
    }
    st.aliases.insert(alias.clone(), index.clone());
    match ctx.sql_execute(
        "INSERT INTO search_aliases (alias, name) VALUES (?, ?) ON CONFLICT (alias) DO UPDATE SET name = excluded.name",
        &[SqlValue::Text(alias), SqlValue::Text(index)],
    ) {
        Ok(_) => Reply::ok(),
        Err(e) => err_store(&e),
    }
}

/// `FT.ALIASADD alias index`.
pub fn ft_aliasadd(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    set(ctx, argv, false)
}

/// `FT.ALIASUPDATE alias index`: adds or moves the alias.
pub fn ft_aliasupdate(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    set(ctx, argv, true)
}

/// `FT.ALIASDEL alias`.
pub fn ft_aliasdel(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let alias = text(&argv[1]);
    let Some(st) = state(ctx) else {
        return err("ERR the search plugin is not running");
    };
    if st.aliases.remove(&alias).is_none() {
        return err("Alias does not exist");
    }
    match ctx.sql_execute(
        "DELETE FROM search_aliases WHERE alias = ?",
        &[SqlValue::Text(alias)],
    ) {
        Ok(_) => Reply::ok(),
        Err(e) => err_store(&e),
    }
}
