//! FT.CREATE and FT.ALTER.

use bytes::Bytes;
use respite_core::plugin::api::{Ctx, Reply};

use crate::reply::{err, err_store, is, state, text, UNKNOWN_INDEX};
use crate::schema::{parse_fields, IndexDef};
use crate::{index, indexer};

/// `FT.CREATE index [ON HASH] [PREFIX n p...] [LANGUAGE l] [STOPWORDS n w...]
/// [SKIPINITIALSCAN] SCHEMA field [AS alias] TEXT|NUMERIC|TAG [options]...`
pub fn ft_create(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    if ctx.db() != 0 {
        return err("Cannot create index on db != 0");
    }
    let name = text(&argv[1]);
    let def = match IndexDef::parse(&argv[2..]) {
        Ok(def) => def,
        Err(e) => return err(e),
    };
    let Some(st) = state(ctx) else {
        return err("ERR the search plugin is not running");
    };
    if st.indexes.contains_key(&name) {
        return err("Index already exists");
    }
    let background = st.background;
    if let Err(e) = index::create(ctx.engine(), &name, def) {
        return err_store(&e);
    }
    if !background {
        indexer::run(ctx.engine(), None);
    }
    Reply::ok()
}

/// `FT.ALTER index [SKIPINITIALSCAN] SCHEMA ADD field options...`: the index is rebuilt with
/// the new fields, in the background as at creation.
pub fn ft_alter(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let name = text(&argv[1]);
    let mut i = 2;
    if argv.get(i).is_some_and(|a| is(a, "SKIPINITIALSCAN")) {
        i += 1;
    }
    if !(argv.get(i).is_some_and(|a| is(a, "SCHEMA"))
        && argv.get(i + 1).is_some_and(|a| is(a, "ADD")))
    {
        return err("ERR syntax error");
    }
    let fields = &argv[i + 2..];
    let Some(st) = state(ctx) else {
        return err("ERR the search plugin is not running");
    };
    let background = st.background;
    let Some(current) = st.indexes.get(&name) else {
        return err(UNKNOWN_INDEX);
    };
    let mut def = (*current.def).clone();
    if fields.is_empty() {
        return err("Fields arguments are missing");
    }
    if let Err(e) = parse_fields(fields, &mut def.fields) {
        return err(e);
    }
    // The stored definition is FT.CREATE's arguments: SCHEMA comes last, so the new fields
    // are appended to it.
    def.args.extend(fields.iter().cloned());
    if let Err(e) = index::redefine(ctx.engine(), &name, def) {
        return err_store(&e);
    }
    if !background {
        indexer::run(ctx.engine(), None);
    }
    Reply::ok()
}
