//! FT.AGGREGATE: the query's documents become rows, then the steps run in the order given:
//! LOAD, GROUPBY with REDUCE (COUNT, COUNT_DISTINCT, COUNT_DISTINCTISH, SUM, AVG, MIN, MAX,
//! TOLIST), SORTBY (with MAX), APPLY, FILTER and LIMIT.
//!
//! A row holds every schema field of its document (by attribute name, for the steps to use)
//! but shows only what was LOADed, grouped, reduced or applied, as RediSearch's rows do.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use respite_core::plugin::api::{Ctx, Reply};

use crate::expr::{self, Expr, Value};
use crate::reply::{err, err_store, is, state, text, uint};
use crate::schema::{FieldType, IndexDef};
use crate::search::{compile, Deadline, QueryArgs, TIMEOUT_ERROR};
use crate::{index::fetch_hash, tables, OnTimeout};

#[derive(Clone, Debug)]
struct Row {
    vals: HashMap<String, Value>,
    shown: Vec<String>,
}

impl Row {
    fn set(&mut self, name: &str, v: Value) {
        if !self.shown.iter().any(|s| s == name) {
            self.shown.push(name.to_string());
        }
        self.vals.insert(name.to_string(), v);
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Func {
    Count,
    CountDistinct,
    Sum,
    Avg,
    Min,
    Max,
    ToList,
}

#[derive(Clone, Debug)]
struct Reducer {
    func: Func,
    arg: Option<String>,
    name: String,
}

enum Step {
    Load(Vec<(String, String)>),
    LoadAll,
    GroupBy(Vec<String>, Vec<Reducer>),
    SortBy(Vec<(String, bool)>, Option<usize>),
    Apply(Expr, String),
    Filter(Expr),
    Limit(usize, usize),
}

fn prop(arg: &Bytes) -> Result<String, Reply> {
    let t = text(arg);
    match t.strip_prefix('@') {
        Some(p) if !p.is_empty() => Ok(p.to_string()),
        _ => Err(err(format!(
            "Bad arguments for property: `{t}` must start with @"
        ))),
    }
}

fn n_args(argv: &[Bytes], i: usize, what: &str) -> Result<usize, Reply> {
    let n = uint(argv.get(i + 1)).ok_or_else(|| {
        err(format!(
            "Bad arguments for {what}: Could not convert argument to expected type"
        ))
    })? as usize;
    if i + 2 + n > argv.len() {
        return Err(err(format!(
            "Bad arguments for {what}: Expected an argument, but none provided"
        )));
    }
    Ok(n)
}

fn parse_steps(argv: &[Bytes], qa: &mut QueryArgs) -> Result<Vec<Step>, Reply> {
    let mut steps = Vec::new();
    let mut i = 3;
    while i < argv.len() {
        if qa.take(argv, &mut i)? {
            continue;
        }
        let a = &argv[i];
        if is(a, "LOAD") {
            if argv.get(i + 1).is_some_and(|x| x.as_ref() == b"*") {
                steps.push(Step::LoadAll);
                i += 2;
                continue;
            }
            let n = n_args(argv, i, "LOAD")?;
            let list = &argv[i + 2..i + 2 + n];
            let mut fields = Vec::new();
            let mut j = 0;
            while j < list.len() {
                let name = text(&list[j]).trim_start_matches('@').to_string();
                if list.get(j + 1).is_some_and(|x| is(x, "AS")) && j + 2 < list.len() {
                    fields.push((name, text(&list[j + 2])));
                    j += 3;
                } else {
                    fields.push((name.clone(), name));
                    j += 1;
                }
            }
            steps.push(Step::Load(fields));
            i += 2 + n;
        } else if is(a, "GROUPBY") {
            let n = n_args(argv, i, "GROUPBY")?;
            let props = argv[i + 2..i + 2 + n]
                .iter()
                .map(prop)
                .collect::<Result<Vec<_>, _>>()?;
            i += 2 + n;
            let mut reducers = Vec::new();
            while argv.get(i).is_some_and(|x| is(x, "REDUCE")) {
                let Some(fname) = argv.get(i + 1).map(|f| text(f).to_uppercase()) else {
                    return Err(err(
                        "Bad arguments for REDUCE: Expected an argument, but none provided",
                    ));
                };
                let n = n_args(argv, i + 1, "REDUCE")?;
                let args = &argv[i + 3..i + 3 + n];
                let func = match fname.as_str() {
                    "COUNT" => Func::Count,
                    "COUNT_DISTINCT" | "COUNT_DISTINCTISH" => Func::CountDistinct,
                    "SUM" => Func::Sum,
                    "AVG" => Func::Avg,
                    "MIN" => Func::Min,
                    "MAX" => Func::Max,
                    "TOLIST" => Func::ToList,
                    _ => return Err(err(format!("No such reducer `{fname}`"))),
                };
                let arg = match (func, args.len()) {
                    (Func::Count, 0) => None,
                    (Func::Count, _) => return Err(err("Count accepts 0 values only")),
                    (_, 1) => Some(prop(&args[0])?),
                    _ => return Err(err(format!("{fname} requires one argument"))),
                };
                i += 3 + n;
                let mut name = format!(
                    "__generated_alias{}{}",
                    fname.to_lowercase(),
                    arg.clone().unwrap_or_default()
                );
                if argv.get(i).is_some_and(|x| is(x, "AS")) {
                    let Some(alias) = argv.get(i + 1) else {
                        return Err(err(
                            "Bad arguments for AS: Expected an argument, but none provided",
                        ));
                    };
                    name = text(alias);
                    i += 2;
                }
                reducers.push(Reducer { func, arg, name });
            }
            steps.push(Step::GroupBy(props, reducers));
        } else if is(a, "SORTBY") {
            let n = n_args(argv, i, "SORTBY")?;
            let list = &argv[i + 2..i + 2 + n];
            let mut keys: Vec<(String, bool)> = Vec::new();
            for item in list {
                if is(item, "ASC") || is(item, "DESC") {
                    match keys.last_mut() {
                        Some(last) => last.1 = is(item, "ASC"),
                        None => {
                            return Err(err(
                                "Bad arguments for SORTBY: direction before a property",
                            ))
                        }
                    }
                } else {
                    keys.push((prop(item)?, true));
                }
            }
            i += 2 + n;
            let mut max = None;
            if argv.get(i).is_some_and(|x| is(x, "MAX")) {
                max = Some(uint(argv.get(i + 1)).ok_or_else(|| {
                    err("Bad arguments for MAX: Could not convert argument to expected type")
                })? as usize);
                i += 2;
            }
            steps.push(Step::SortBy(keys, max));
        } else if is(a, "APPLY") {
            let Some(src) = argv.get(i + 1) else {
                return Err(err(
                    "Bad arguments for APPLY: Expected an argument, but none provided",
                ));
            };
            let e = expr::parse(&text(src)).map_err(err)?;
            expr::check(&e).map_err(err)?;
            let name = if argv.get(i + 2).is_some_and(|x| is(x, "AS")) {
                let Some(alias) = argv.get(i + 3) else {
                    return Err(err(
                        "Bad arguments for AS: Expected an argument, but none provided",
                    ));
                };
                i += 4;
                text(alias)
            } else {
                i += 2;
                text(src)
            };
            steps.push(Step::Apply(e, name));
        } else if is(a, "FILTER") {
            let Some(src) = argv.get(i + 1) else {
                return Err(err(
                    "Bad arguments for FILTER: Expected an argument, but none provided",
                ));
            };
            let e = expr::parse(&text(src)).map_err(err)?;
            expr::check(&e).map_err(err)?;
            steps.push(Step::Filter(e));
            i += 2;
        } else if is(a, "LIMIT") {
            match (uint(argv.get(i + 1)), uint(argv.get(i + 2))) {
                (Some(o), Some(n)) => steps.push(Step::Limit(o as usize, n as usize)),
                _ => {
                    return Err(err(
                        "Bad arguments for LIMIT: Could not convert argument to expected type",
                    ))
                }
            }
            i += 3;
        } else if is(a, "WITHCURSOR") || is(a, "ADDSCORES") || is(a, "SCORER") {
            return Err(err(format!(
                "{} is not supported by this server",
                text(a).to_uppercase()
            )));
        } else {
            return Err(err(format!("Unknown argument `{}`", text(a))));
        }
    }
    Ok(steps)
}

fn initial_row(def: &IndexDef, key: &Bytes, fields: &[(Bytes, Bytes)]) -> Row {
    let mut vals = HashMap::new();
    for f in &def.fields {
        if let Some((_, v)) = fields.iter().find(|(n, _)| n.as_ref() == f.path.as_bytes()) {
            let s = String::from_utf8_lossy(v).into_owned();
            let val = match f.kind {
                FieldType::Numeric => s
                    .trim()
                    .parse::<f64>()
                    .map(Value::Num)
                    .unwrap_or(Value::Str(s)),
                _ => Value::Str(s),
            };
            vals.insert(f.name.clone(), val);
        }
    }
    vals.insert(
        "__key".into(),
        Value::Str(String::from_utf8_lossy(key).into_owned()),
    );
    Row {
        vals,
        shown: Vec::new(),
    }
}

fn compare(a: &Value, b: &Value) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Greater,
        (_, Value::Null) => Ordering::Less,
        _ => match (a.num(), b.num()) {
            (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
            _ => a.text().cmp(&b.text()),
        },
    }
}

fn group(rows: Vec<Row>, props: &[String], reducers: &[Reducer]) -> Vec<Row> {
    let mut order: Vec<Vec<String>> = Vec::new();
    let mut groups: HashMap<Vec<String>, (Vec<Value>, Vec<Row>)> = HashMap::new();
    for row in rows {
        let vals: Vec<Value> = props
            .iter()
            .map(|p| row.vals.get(p).cloned().unwrap_or(Value::Null))
            .collect();
        let key: Vec<String> = vals.iter().map(|v| format!("{v:?}")).collect();
        groups
            .entry(key.clone())
            .or_insert_with(|| {
                order.push(key);
                (vals, Vec::new())
            })
            .1
            .push(row);
    }
    let mut out = Vec::new();
    for key in order {
        let Some((vals, members)) = groups.remove(&key) else {
            continue;
        };
        let mut row = Row {
            vals: HashMap::new(),
            shown: Vec::new(),
        };
        for (p, v) in props.iter().zip(vals) {
            row.set(p, v);
        }
        for r in reducers {
            let values = || {
                members.iter().map(|m| {
                    r.arg
                        .as_ref()
                        .and_then(|a| m.vals.get(a))
                        .cloned()
                        .unwrap_or(Value::Null)
                })
            };
            let nums = || values().filter_map(|v| v.num());
            let v = match r.func {
                Func::Count => Value::Num(members.len() as f64),
                Func::CountDistinct => {
                    let set: HashSet<String> = values()
                        .filter(|v| *v != Value::Null)
                        .map(|v| v.text())
                        .collect();
                    Value::Num(set.len() as f64)
                }
                Func::Sum => Value::Num(nums().sum()),
                Func::Avg => {
                    let (s, n) = nums().fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
                    if n == 0 {
                        Value::Num(0.0)
                    } else {
                        Value::Num(s / n as f64)
                    }
                }
                Func::Min => nums()
                    .reduce(f64::min)
                    .map_or(Value::Num(f64::INFINITY), Value::Num),
                Func::Max => nums()
                    .reduce(f64::max)
                    .map_or(Value::Num(f64::NEG_INFINITY), Value::Num),
                Func::ToList => {
                    let mut seen = Vec::new();
                    for v in values().filter(|v| *v != Value::Null) {
                        if !seen.contains(&v) {
                            seen.push(v);
                        }
                    }
                    Value::List(seen)
                }
            };
            row.set(&r.name, v);
        }
        out.push(row);
    }
    out
}

fn value_reply(v: &Value) -> Reply {
    match v {
        Value::Null => Reply::Null,
        Value::List(items) => Reply::Array(items.iter().map(value_reply).collect()),
        other => Reply::Bulk(Bytes::from(other.text())),
    }
}

/// `FT.AGGREGATE index query [VERBATIM] [LOAD n @f... | LOAD *] [GROUPBY n @p... [REDUCE f n
/// args... [AS name]]...] [SORTBY n @p [ASC|DESC]... [MAX m]] [APPLY expr AS name] [FILTER
/// expr] [LIMIT offset num] [TIMEOUT ms] [PARAMS n k v...] [DIALECT d]`
pub fn ft_aggregate(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    let mut qa = QueryArgs::default();
    let steps = match parse_steps(argv, &mut qa) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let deadline = Deadline::new(ctx, qa.timeout_ms);
    let compiled = match compile(ctx, &argv[1], &argv[2], &qa) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let max = state(ctx)
        .map(|s| s.config.max_aggregate_results)
        .unwrap_or(1_000_000);
    let (sql, params) = compiled.planner().all_sql(&compiled.plan, max);
    let keys = match ctx.sql_query(&sql, &params) {
        Ok(rows) => rows,
        Err(e) => return err_store(&e),
    };
    let mut rows = Vec::with_capacity(keys.len());
    let mut hashes: Vec<Vec<(Bytes, Bytes)>> = Vec::with_capacity(keys.len());
    for k in keys {
        if deadline.passed() {
            if deadline.policy == OnTimeout::Fail {
                return err(TIMEOUT_ERROR);
            }
            break;
        }
        let key = tables::bytes(k.first());
        if let Some(fields) = fetch_hash(ctx.engine(), &key) {
            rows.push(initial_row(&compiled.def, &key, &fields));
            hashes.push(fields);
        }
    }
    let mut total = None;
    let mut loaded = Some(hashes);
    for step in &steps {
        match step {
            Step::Load(fields) => {
                if let Some(hashes) = &loaded {
                    for (row, hash) in rows.iter_mut().zip(hashes) {
                        for (name, alias) in fields {
                            let path = compiled
                                .def
                                .field(name)
                                .map(|f| f.path.as_str())
                                .unwrap_or(name);
                            if name == "__key" {
                                let v = row.vals.get("__key").cloned().unwrap_or(Value::Null);
                                row.set(alias, v);
                            } else if let Some((_, v)) =
                                hash.iter().find(|(f, _)| f.as_ref() == path.as_bytes())
                            {
                                row.set(alias, Value::Str(String::from_utf8_lossy(v).into_owned()));
                            }
                        }
                    }
                }
            }
            Step::LoadAll => {
                if let Some(hashes) = &loaded {
                    for (row, hash) in rows.iter_mut().zip(hashes) {
                        for (f, v) in hash {
                            row.set(
                                &String::from_utf8_lossy(f),
                                Value::Str(String::from_utf8_lossy(v).into_owned()),
                            );
                        }
                    }
                }
            }
            Step::GroupBy(props, reducers) => {
                rows = group(std::mem::take(&mut rows), props, reducers);
                loaded = None;
            }
            Step::SortBy(keys, max) => {
                rows.sort_by(|a, b| {
                    for (k, asc) in keys {
                        let (x, y) = (
                            a.vals.get(k).unwrap_or(&Value::Null),
                            b.vals.get(k).unwrap_or(&Value::Null),
                        );
                        let o = compare(x, y);
                        let o = if *asc || matches!((x, y), (Value::Null, _) | (_, Value::Null)) {
                            o
                        } else {
                            o.reverse()
                        };
                        if o != std::cmp::Ordering::Equal {
                            return o;
                        }
                    }
                    std::cmp::Ordering::Equal
                });
                if let Some(m) = max {
                    rows.truncate(*m);
                }
            }
            Step::Apply(e, name) => {
                for row in rows.iter_mut() {
                    let v = expr::eval(e, &row.vals);
                    row.set(name, v);
                }
            }
            Step::Filter(e) => rows.retain(|r| expr::passes(e, &r.vals)),
            Step::Limit(off, n) => {
                total.get_or_insert(rows.len());
                rows = rows.into_iter().skip(*off).take(*n).collect();
            }
        }
    }
    let total = total.unwrap_or(rows.len());
    if ctx.resp3() {
        let b = |s: &str| Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()));
        let results = rows
            .iter()
            .map(|r| {
                Reply::Map(vec![
                    (
                        b("extra_attributes"),
                        Reply::Map(
                            r.shown
                                .iter()
                                .map(|k| (b(k), value_reply(r.vals.get(k).unwrap_or(&Value::Null))))
                                .collect(),
                        ),
                    ),
                    (b("values"), Reply::Array(Vec::new())),
                ])
            })
            .collect();
        return Reply::Map(vec![
            (b("attributes"), Reply::Array(Vec::new())),
            (b("format"), b("STRING")),
            (b("results"), Reply::Array(results)),
            (b("total_results"), Reply::Integer(total as i64)),
            (b("warning"), Reply::Array(Vec::new())),
        ]);
    }
    let mut out = vec![Reply::Integer(total as i64)];
    for r in rows {
        let mut flat = Vec::with_capacity(r.shown.len() * 2);
        for k in &r.shown {
            flat.push(Reply::Bulk(Bytes::from(k.clone())));
            flat.push(value_reply(r.vals.get(k).unwrap_or(&Value::Null)));
        }
        out.push(Reply::Array(flat));
    }
    Reply::Array(out)
}
