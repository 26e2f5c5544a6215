//! FT.INFO and FT._LIST.

use bytes::Bytes;
use respite_core::plugin::api::{Ctx, Reply};

use crate::reply::{err, err_store, fmt_num, state, text, UNKNOWN_INDEX};
use crate::schema::FieldType;
use crate::tables;

fn bulk(s: impl Into<String>) -> Reply {
    Reply::Bulk(Bytes::from(s.into()))
}

fn pair(k: &str, v: Reply) -> (Reply, Reply) {
    (bulk(k), v)
}

/// `FT.INFO index`: the definition, the schema and the indexing state, in RediSearch's
/// layout (a flat list of names and values in RESP2, a map in RESP3).
pub fn ft_info(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let name = text(&argv[1]);
    let Some(st) = state(ctx) else {
        return err(UNKNOWN_INDEX);
    };
    let Some(index) = st.resolve(&name) else {
        return err(UNKNOWN_INDEX);
    };
    let (id, def, scan, failures) = (index.id, index.def.clone(), index.scan, index.failures);
    let name = index.name.clone();
    let num_docs = match tables::doc_count(ctx.engine(), id) {
        Ok(n) => n,
        Err(e) => return err_store(&e),
    };
    let max_doc = ctx
        .sql_query(
            "SELECT coalesce(max(docid), 0) FROM search_docs WHERE idx = ?",
            &[respite_core::plugin::api::SqlValue::Integer(id)],
        )
        .map(|rows| tables::int(rows.first().and_then(|r| r.first())))
        .unwrap_or(0);
    let attributes: Vec<Reply> = def
        .fields
        .iter()
        .map(|f| {
            let mut a = vec![
                bulk("identifier"),
                bulk(f.path.clone()),
                bulk("attribute"),
                bulk(f.name.clone()),
                bulk("type"),
                bulk(f.type_name()),
            ];
            match &f.kind {
                FieldType::Text { weight, nostem } => {
                    a.push(bulk("WEIGHT"));
                    a.push(bulk(fmt_num(*weight)));
                    if *nostem {
                        a.push(bulk("NOSTEM"));
                    }
                }
                FieldType::Tag {
                    separator,
                    case_sensitive,
                } => {
                    a.push(bulk("SEPARATOR"));
                    a.push(bulk(separator.to_string()));
                    if *case_sensitive {
                        a.push(bulk("CASESENSITIVE"));
                    }
                }
                FieldType::Numeric => {}
            }
            if f.sortable {
                a.push(bulk("SORTABLE"));
            }
            if f.noindex {
                a.push(bulk("NOINDEX"));
            }
            Reply::Array(a)
        })
        .collect();
    let definition = Reply::Map(vec![
        pair("key_type", bulk("HASH")),
        pair(
            "prefixes",
            Reply::Array(if def.prefixes.is_empty() {
                vec![bulk("")]
            } else {
                def.prefixes
                    .iter()
                    .map(|p| Reply::Bulk(p.clone()))
                    .collect()
            }),
        ),
        pair("default_language", bulk(def.language.clone())),
        pair("default_score", bulk("1")),
    ]);
    let percent = match scan {
        None => 1.0,
        Some(s) if s.total == 0 => 0.0,
        Some(s) => (s.scanned as f64 / s.total as f64).min(0.99),
    };
    Reply::Map(vec![
        pair("index_name", bulk(name)),
        pair("index_options", Reply::Array(Vec::new())),
        pair("index_definition", definition),
        pair("attributes", Reply::Array(attributes)),
        pair("num_docs", bulk(num_docs.to_string())),
        pair("max_doc_id", bulk(max_doc.to_string())),
        pair("hash_indexing_failures", bulk(failures.to_string())),
        pair("indexing", Reply::Integer(i64::from(scan.is_some()))),
        pair("percent_indexed", bulk(fmt_num(percent))),
        pair(
            "stopwords_list",
            Reply::Array(def.stopwords.iter().map(|w| bulk(w.clone())).collect()),
        ),
    ])
}

/// `FT._LIST`: the names of every index.
pub fn ft_list(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    let names: Vec<Reply> = state(ctx)
        .map(|st| st.indexes.keys().map(|n| bulk(n.clone())).collect())
        .unwrap_or_default();
    Reply::Array(names)
}
