//! FT.SEARCH, and what FT.AGGREGATE and FT.EXPLAIN share with it: reading the query options
//! every query command takes ([`QueryArgs`]) and compiling a query into SQL ([`compile`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use respite_core::plugin::api::{Ctx, Reply, SqlValue};

use crate::query::{parse, Node, Order, ParseOptions, Plan, Planner, Pred};
use crate::reply::{err, err_store, fmt_num, index, is, no_such_index, state, text, uint};
use crate::schema::IndexDef;
use crate::{index::fetch_hash, tables, OnTimeout};

/// Options every query command reads.
#[derive(Default)]
pub struct QueryArgs {
    /// DIALECT (the configured default when absent).
    pub dialect: Option<u32>,
    /// PARAMS.
    pub params: HashMap<String, String>,
    /// NOSTOPWORDS.
    pub no_stopwords: bool,
    /// INFIELDS.
    pub infields: Option<Vec<String>>,
    /// TIMEOUT, in milliseconds.
    pub timeout_ms: Option<u64>,
}

impl QueryArgs {
    /// Reads the option at `argv[*i]` if it is one of the shared ones, advancing `i`;
    /// `Ok(false)` when it is not.
    pub fn take(&mut self, argv: &[Bytes], i: &mut usize) -> Result<bool, Reply> {
        let a = &argv[*i];
        if is(a, "DIALECT") {
            let d = uint(argv.get(*i + 1))
                .filter(|d| (1..=4).contains(d))
                .ok_or_else(|| err("DIALECT requires a non negative integer >=1 and <= 4"))?;
            self.dialect = Some(d as u32);
            *i += 2;
        } else if is(a, "PARAMS") {
            let n = uint(argv.get(*i + 1)).ok_or_else(|| {
                err("Bad arguments for PARAMS: Could not convert argument to expected type")
            })? as usize;
            if n % 2 != 0 {
                return Err(err("Parameters must be name-value pairs"));
            }
            if *i + 2 + n > argv.len() {
                return Err(err(
                    "Bad arguments for PARAMS: Expected an argument, but none provided",
                ));
            }
            for pair in argv[*i + 2..*i + 2 + n].chunks(2) {
                self.params.insert(text(&pair[0]), text(&pair[1]));
            }
            *i += 2 + n;
        } else if is(a, "NOSTOPWORDS") {
            self.no_stopwords = true;
            *i += 1;
        } else if is(a, "VERBATIM") {
            // Stemming is decided per index by its FTS5 tokenizer, which also tokenizes the
            // query: see the README.
            *i += 1;
        } else if is(a, "INFIELDS") {
            let n = uint(argv.get(*i + 1)).ok_or_else(|| {
                err("Bad arguments for INFIELDS: Could not convert argument to expected type")
            })? as usize;
            if *i + 2 + n > argv.len() {
                return Err(err(
                    "Bad arguments for INFIELDS: Expected an argument, but none provided",
                ));
            }
            self.infields = Some(argv[*i + 2..*i + 2 + n].iter().map(|f| text(f)).collect());
            *i += 2 + n;
        } else if is(a, "TIMEOUT") {
            let t = uint(argv.get(*i + 1)).ok_or_else(|| {
                err("Bad arguments for TIMEOUT: Could not convert argument to expected type")
            })?;
            self.timeout_ms = Some(t);
            *i += 2;
        } else {
            return Ok(false);
        }
        Ok(true)
    }
}

/// A query compiled for one index.
pub struct Compiled {
    /// The index's id.
    pub id: i64,
    /// Its definition.
    pub def: Arc<IndexDef>,
    /// The parsed query.
    pub node: Node,
    /// Its SQL.
    pub plan: Plan,
    /// INFIELDS, for building further SQL.
    pub infields: Option<Vec<String>>,
}

impl Compiled {
    /// The planner that made the plan.
    pub fn planner(&self) -> Planner<'_> {
        Planner {
            id: self.id,
            def: &self.def,
            infields: self.infields.clone(),
        }
    }
}

/// Parses `query` against index `name`.
pub fn compile(
    ctx: &mut Ctx<'_>,
    name: &[u8],
    query: &[u8],
    args: &QueryArgs,
) -> Result<Compiled, Reply> {
    let Some((id, def)) = index(ctx, name) else {
        return Err(no_such_index(name));
    };
    let dialect = args
        .dialect
        .or_else(|| state(ctx).map(|s| s.config.default_dialect))
        .unwrap_or(1);
    let kinds = |n: &str| def.field(n).map(|f| f.query_kind());
    let stopwords: &[String] = if args.no_stopwords {
        &[]
    } else {
        &def.stopwords
    };
    let node = parse(
        &text(query),
        &ParseOptions {
            dialect,
            field: &kinds,
            stopwords,
            params: &args.params,
        },
    )
    .map_err(err)?;
    if let Some(fields) = &args.infields {
        if let Some(bad) = fields.iter().find(|f| def.field(f).is_none()) {
            return Err(err(format!("Unknown field `{bad}` in INFIELDS")));
        }
    }
    let planner = Planner {
        id,
        def: &def,
        infields: args.infields.clone(),
    };
    let plan = planner.plan(&node);
    Ok(Compiled {
        id,
        def: Arc::clone(&def),
        node,
        plan,
        infields: args.infields.clone(),
    })
}

/// HIGHLIGHT and SUMMARIZE: FTS5's `highlight()` and `snippet()` of the matched TEXT fields.
#[derive(Default)]
struct Decor {
    /// The fields (all TEXT fields when `None`) and the open and close tags.
    highlight: Option<(Option<Vec<String>>, String, String)>,
    /// The fields, the fragment length in tokens and the separator.
    summarize: Option<(Option<Vec<String>>, usize, String)>,
}

fn sql_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl Decor {
    /// Reads `HIGHLIGHT [FIELDS n f...] [TAGS open close]` or `SUMMARIZE [FIELDS n f...]
    /// [FRAGS n] [LEN tokens] [SEPARATOR s]` at `argv[*i]`.
    fn parse(&mut self, argv: &[Bytes], i: &mut usize) -> Result<(), Reply> {
        let highlight = is(&argv[*i], "HIGHLIGHT");
        *i += 1;
        let mut fields = None;
        let (mut open, mut close) = ("<b>".to_string(), "</b>".to_string());
        let (mut len, mut sep) = (20usize, "... ".to_string());
        while let Some(a) = argv.get(*i) {
            if is(a, "FIELDS") {
                let n = uint(argv.get(*i + 1)).ok_or_else(|| {
                    err("Bad arguments for FIELDS: Could not convert argument to expected type")
                })? as usize;
                if *i + 2 + n > argv.len() {
                    return Err(err(
                        "Bad arguments for FIELDS: Expected an argument, but none provided",
                    ));
                }
                fields = Some(argv[*i + 2..*i + 2 + n].iter().map(|f| text(f)).collect());
                *i += 2 + n;
            } else if highlight && is(a, "TAGS") {
                let (Some(o), Some(c)) = (argv.get(*i + 1), argv.get(*i + 2)) else {
                    return Err(err(
                        "Bad arguments for TAGS: Expected an argument, but none provided",
                    ));
                };
                (open, close) = (text(o), text(c));
                *i += 3;
            } else if !highlight && (is(a, "FRAGS") || is(a, "LEN")) {
                let n = uint(argv.get(*i + 1)).ok_or_else(|| {
                    err("Bad arguments: Could not convert argument to expected type")
                })?;
                if is(a, "LEN") {
                    // FTS5's snippet() takes 1 to 64 tokens.
                    len = n.clamp(1, 64) as usize;
                }
                *i += 2;
            } else if !highlight && is(a, "SEPARATOR") {
                let Some(s) = argv.get(*i + 1) else {
                    return Err(err(
                        "Bad arguments for SEPARATOR: Expected an argument, but none provided",
                    ));
                };
                sep = text(s);
                *i += 2;
            } else {
                break;
            }
        }
        if highlight {
            self.highlight = Some((fields, open, close));
        } else {
            self.summarize = Some((fields, len, sep));
        }
        Ok(())
    }

    /// For each decorated field: its hash field and the SQL that computes its new value.
    fn columns(&self, id: i64, def: &IndexDef) -> Vec<(String, String)> {
        let wants = |list: &Option<Vec<String>>, name: &str| {
            list.as_ref().is_none_or(|l| l.iter().any(|f| f == name))
        };
        let table = tables::fts(id);
        let mut out = Vec::new();
        for (col, f) in def.text_fields().enumerate() {
            let hl = self
                .highlight
                .as_ref()
                .filter(|(l, _, _)| wants(l, &f.name));
            let sm = self
                .summarize
                .as_ref()
                .filter(|(l, _, _)| wants(l, &f.name));
            let (open, close) = hl.map_or((String::new(), String::new()), |(_, o, c)| {
                (o.clone(), c.clone())
            });
            let expr = match sm {
                Some((_, len, sep)) => format!(
                    "snippet({table}, {col}, {}, {}, {}, {len})",
                    sql_literal(&open),
                    sql_literal(&close),
                    sql_literal(sep)
                ),
                None if hl.is_some() => format!(
                    "highlight({table}, {col}, {}, {})",
                    sql_literal(&open),
                    sql_literal(&close)
                ),
                None => continue,
            };
            out.push((f.path.clone(), expr));
        }
        out
    }
}

/// When a query must stop, and what it answers then.
pub struct Deadline {
    at: Option<Instant>,
    /// ON_TIMEOUT.
    pub policy: OnTimeout,
}

impl Deadline {
    /// From TIMEOUT or the configured limit (0: none).
    pub fn new(ctx: &mut Ctx<'_>, timeout_ms: Option<u64>) -> Deadline {
        let (configured, policy) = state(ctx)
            .map(|s| (s.config.timeout_ms, s.config.on_timeout))
            .unwrap_or((0, OnTimeout::Return));
        let ms = timeout_ms.unwrap_or(configured);
        Deadline {
            at: (ms > 0).then(|| Instant::now() + Duration::from_millis(ms)),
            policy,
        }
    }

    /// Whether the time is up.
    pub fn passed(&self) -> bool {
        self.at.is_some_and(|at| Instant::now() >= at)
    }
}

/// RediSearch's error under `ON_TIMEOUT FAIL`.
pub const TIMEOUT_ERROR: &str = "Timeout limit was reached";

struct Returned {
    /// (name in the schema or hash, name in the reply).
    fields: Vec<(String, String)>,
}

/// `FT.SEARCH index query [NOCONTENT] [VERBATIM] [NOSTOPWORDS] [WITHSCORES] [FILTER f min
/// max] [INKEYS n k...] [INFIELDS n f...] [RETURN n f [AS a]...] [SORTBY f [ASC|DESC]]
/// [LIMIT offset num] [TIMEOUT ms] [PARAMS n k v...] [DIALECT d]`
pub fn ft_search(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let mut qa = QueryArgs::default();
    let mut nocontent = false;
    let mut withscores = false;
    let mut inkeys: Option<Vec<Bytes>> = None;
    let mut returned: Option<Returned> = None;
    let mut sortby: Option<(String, bool)> = None;
    let mut filters: Vec<(String, Bytes, Bytes)> = Vec::new();
    let mut decor = Decor::default();
    let (mut offset, mut num) = (0u64, 10u64);
    let mut i = 3;
    while i < argv.len() {
        match qa.take(argv, &mut i) {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => return e,
        }
        let a = &argv[i];
        if is(a, "NOCONTENT") {
            nocontent = true;
            i += 1;
        } else if is(a, "WITHSCORES") {
            withscores = true;
            i += 1;
        } else if is(a, "LIMIT") {
            match (uint(argv.get(i + 1)), uint(argv.get(i + 2))) {
                (Some(o), Some(n)) => (offset, num) = (o, n),
                _ => {
                    return err(
                        "Bad arguments for LIMIT: Could not convert argument to expected type",
                    )
                }
            }
            i += 3;
        } else if is(a, "SORTBY") {
            let Some(field) = argv.get(i + 1) else {
                return err("Bad arguments for SORTBY: Expected an argument, but none provided");
            };
            let field = text(field).trim_start_matches('@').to_string();
            i += 2;
            let mut asc = true;
            if let Some(dir) = argv.get(i) {
                if is(dir, "ASC") || is(dir, "DESC") {
                    asc = is(dir, "ASC");
                    i += 1;
                }
            }
            sortby = Some((field, asc));
        } else if is(a, "INKEYS") {
            let Some(n) = uint(argv.get(i + 1)).map(|n| n as usize) else {
                return err(
                    "Bad arguments for INKEYS: Could not convert argument to expected type",
                );
            };
            if i + 2 + n > argv.len() {
                return err("Bad arguments for INKEYS: Expected an argument, but none provided");
            }
            inkeys = Some(argv[i + 2..i + 2 + n].to_vec());
            i += 2 + n;
        } else if is(a, "RETURN") {
            let Some(n) = uint(argv.get(i + 1)).map(|n| n as usize) else {
                return err(
                    "Bad arguments for RETURN: Could not convert argument to expected type",
                );
            };
            if i + 2 + n > argv.len() {
                return err("Bad arguments for RETURN: Expected an argument, but none provided");
            }
            let list = &argv[i + 2..i + 2 + n];
            let mut fields = Vec::new();
            let mut j = 0;
            while j < list.len() {
                let name = text(&list[j]).trim_start_matches('@').to_string();
                if list.get(j + 1).is_some_and(|x| is(x, "AS")) {
                    let Some(alias) = list.get(j + 2) else {
                        return err("Bad arguments for RETURN: AS needs a name");
                    };
                    fields.push((name, text(alias)));
                    j += 3;
                } else {
                    fields.push((name.clone(), name));
                    j += 1;
                }
            }
            if fields.is_empty() {
                nocontent = true;
            }
            returned = Some(Returned { fields });
            i += 2 + n;
        } else if is(a, "FILTER") {
            let (Some(f), Some(lo), Some(hi)) = (argv.get(i + 1), argv.get(i + 2), argv.get(i + 3))
            else {
                return err("Bad arguments for FILTER: Expected an argument, but none provided");
            };
            filters.push((
                text(f).trim_start_matches('@').to_string(),
                lo.clone(),
                hi.clone(),
            ));
            i += 4;
        } else if is(a, "WITHPAYLOADS") || is(a, "INORDER") || is(a, "EXPLAINSCORE") {
            // No payloads are stored (FT.ADD's PAYLOAD is refused); INORDER only matters
            // with SLOP.
            if !is(a, "INORDER") {
                return err(format!(
                    "{} is not supported by this server",
                    text(a).to_uppercase()
                ));
            }
            i += 1;
        } else if is(a, "LANGUAGE") {
            i += 2;
        } else if is(a, "HIGHLIGHT") || is(a, "SUMMARIZE") {
            if let Err(e) = decor.parse(argv, &mut i) {
                return e;
            }
        } else if [
            "GEOFILTER",
            "SLOP",
            "SCORER",
            "EXPANDER",
            "PAYLOAD",
            "WITHSORTKEYS",
        ]
        .iter()
        .any(|o| is(a, o))
        {
            return err(format!(
                "{} is not supported by this server",
                text(a).to_uppercase()
            ));
        } else {
            return err(format!("Unknown argument `{}`", text(a)));
        }
    }
    let max = state(ctx)
        .map(|s| s.config.max_search_results)
        .unwrap_or(1_000_000);
    if offset.saturating_add(num) > max {
        return err(format!("LIMIT exceeds maximum of {max}"));
    }
    let deadline = Deadline::new(ctx, qa.timeout_ms);
    let mut compiled = match compile(ctx, &argv[1], &argv[2], &qa) {
        Ok(c) => c,
        Err(e) => return e,
    };
    // FILTER is a legacy spelling of a numeric range ANDed to the query.
    for (field, lo, hi) in filters {
        if compiled.def.field(&field).map(|f| f.query_kind())
            != Some(crate::query::FieldKind::Numeric)
        {
            return err(format!("Unknown field `{field}` in FILTER"));
        }
        let q = format!("@{field}:[{} {}]", text(&lo), text(&hi));
        let kinds = |n: &str| compiled.def.field(n).map(|f| f.query_kind());
        let node = match parse(
            &q,
            &ParseOptions {
                dialect: 2,
                field: &kinds,
                stopwords: &[],
                params: &HashMap::new(),
            },
        ) {
            Ok(n) => n,
            Err(_) => {
                return err("Bad arguments for FILTER: Could not convert argument to expected type")
            }
        };
        let extra = compiled.planner().plan(&node);
        compiled.plan.preds.extend(extra.preds);
    }
    let mut extra = Vec::new();
    if let Some(keys) = &inkeys {
        let marks: Vec<&str> = keys.iter().map(|_| "?").collect();
        extra.push(Pred {
            sql: format!("d.key IN ({})", marks.join(", ")),
            params: keys.iter().map(|k| SqlValue::Blob(k.to_vec())).collect(),
            driving: false,
        });
    }
    let order = match &sortby {
        Some((name, asc)) => {
            if compiled.def.field(name).is_none() {
                return err(format!("Property `{name}` not loaded nor in schema"));
            }
            Order::Field {
                name: name.clone(),
                asc: *asc,
            }
        }
        None => Order::Score,
    };
    let planner = compiled.planner();
    let (count_sql, count_params) = planner.count_sql(&compiled.plan, &extra);
    let mut total = match ctx.sql_query(&count_sql, &count_params) {
        Ok(rows) => tables::int(rows.first().and_then(|r| r.first())),
        Err(e) => return err(format!("Syntax error: {e}")),
    };
    if deadline.passed() && deadline.policy == OnTimeout::Fail {
        return err(TIMEOUT_ERROR);
    }
    let decorated = if compiled.plan.fts.is_some() && !nocontent {
        decor.columns(compiled.id, &compiled.def)
    } else {
        Vec::new()
    };
    let page = if num == 0 {
        Vec::new()
    } else {
        let columns: Vec<String> = decorated.iter().map(|(_, c)| c.clone()).collect();
        let Some((sql, params)) =
            planner.page_sql(&compiled.plan, &extra, &order, offset, num, &columns)
        else {
            return err("Property not loaded nor in schema");
        };
        match ctx.sql_query(&sql, &params) {
            Ok(rows) => rows,
            Err(e) => return err_store(&e),
        }
    };
    let mut results = Vec::new();
    for row in page {
        if deadline.passed() {
            if deadline.policy == OnTimeout::Fail {
                return err(TIMEOUT_ERROR);
            }
            break;
        }
        let key = tables::bytes(row.first());
        let score = match row.get(1) {
            Some(SqlValue::Real(s)) => *s,
            Some(SqlValue::Integer(s)) => *s as f64,
            _ => 0.0,
        };
        // A key whose TTL passed but that no sweep removed yet is found by the index; reading
        // it expires it (and its event removes it from the index).
        let fields = fetch_hash(ctx.engine(), &key);
        let Some(fields) = fields else {
            total -= 1;
            continue;
        };
        let mut fields = fields;
        for (j, (path, _)) in decorated.iter().enumerate() {
            if let Some(SqlValue::Text(t)) = row.get(3 + j) {
                if let Some(slot) = fields
                    .iter_mut()
                    .find(|(f, _)| f.as_ref() == path.as_bytes())
                {
                    slot.1 = Bytes::from(t.clone());
                }
            }
        }
        let shown = if nocontent {
            None
        } else {
            Some(select_fields(&compiled.def, fields, returned.as_ref()))
        };
        results.push((key, score, shown));
    }
    if ctx.resp3() {
        return resp3(total, results, withscores);
    }
    let mut out = vec![Reply::Integer(total)];
    for (key, score, fields) in results {
        out.push(Reply::Bulk(key));
        if withscores {
            out.push(Reply::Bulk(Bytes::from(fmt_num(score))));
        }
        if let Some(fields) = fields {
            let mut flat = Vec::with_capacity(fields.len() * 2);
            for (k, v) in fields {
                flat.push(Reply::Bulk(k));
                flat.push(Reply::Bulk(v));
            }
            out.push(Reply::Array(flat));
        }
    }
    Reply::Array(out)
}

/// The fields a result shows: all of the hash, or RETURN's (by attribute or hash field
/// name, under their AS names), those the hash has.
fn select_fields(
    def: &IndexDef,
    fields: Vec<(Bytes, Bytes)>,
    returned: Option<&Returned>,
) -> Vec<(Bytes, Bytes)> {
    let Some(returned) = returned else {
        return fields;
    };
    let mut out = Vec::new();
    for (name, shown) in &returned.fields {
        let path = def.field(name).map(|f| f.path.as_str()).unwrap_or(name);
        if let Some((_, v)) = fields.iter().find(|(f, _)| f.as_ref() == path.as_bytes()) {
            out.push((Bytes::from(shown.clone()), v.clone()));
        }
    }
    out
}

type Results = Vec<(Bytes, f64, Option<Vec<(Bytes, Bytes)>>)>;

/// RediSearch's RESP3 layout of FT.SEARCH.
fn resp3(total: i64, results: Results, withscores: bool) -> Reply {
    let b = |s: &str| Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()));
    let rows = results
        .into_iter()
        .map(|(key, score, fields)| {
            let mut m = vec![(b("id"), Reply::Bulk(key))];
            if withscores {
                m.push((b("score"), Reply::Double(score)));
            }
            if let Some(fields) = fields {
                m.push((
                    b("extra_attributes"),
                    Reply::Map(
                        fields
                            .into_iter()
                            .map(|(k, v)| (Reply::Bulk(k), Reply::Bulk(v)))
                            .collect(),
                    ),
                ));
            }
            m.push((b("values"), Reply::Array(Vec::new())));
            Reply::Map(m)
        })
        .collect();
    Reply::Map(vec![
        (b("attributes"), Reply::Array(Vec::new())),
        (b("format"), b("STRING")),
        (b("results"), Reply::Array(rows)),
        (b("total_results"), Reply::Integer(total)),
        (b("warning"), Reply::Array(Vec::new())),
    ])
}
