//! A parsed query as SQL: the text parts become one FTS5 `MATCH` expression where they can
//! (ranked with bm25 and each TEXT field's weight), the rest (numeric ranges, tag filters,
//! negations FTS5 cannot say, unions mixing text with filters) become predicates on the
//! document's id over `search_numeric`, `search_tags` and the FTS5 table.

use respite_core::plugin::api::SqlValue;

use super::parser::{Node, TagValue};
use crate::schema::{FieldType, IndexDef};
use crate::tables;

/// One SQL condition on `d.docid` and its parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Pred {
    /// The SQL text.
    pub sql: String,
    /// Its `?` parameters, in order.
    pub params: Vec<SqlValue>,
    /// Whether it is `d.docid IN (...)` over this index's entries alone: the query may then
    /// start from those documents instead of every document of the index.
    pub driving: bool,
}

/// A query as an FTS5 expression (if any text part ranks the results) and predicates, all of
/// which must hold.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// The FTS5 MATCH expression.
    pub fts: Option<String>,
    /// Further conditions.
    pub preds: Vec<Pred>,
}

/// How results are ordered.
#[derive(Clone, Debug, PartialEq)]
pub enum Order {
    /// By relevance (bm25), then by document id; by id alone without text terms.
    Score,
    /// By a schema field's value.
    Field {
        /// The field's attribute name.
        name: String,
        /// Ascending.
        asc: bool,
    },
}

/// What translation needs: the index and the columns unscoped terms search.
pub struct Planner<'a> {
    /// The index's id (its tables' suffix).
    pub id: i64,
    /// Its definition.
    pub def: &'a IndexDef,
    /// INFIELDS: the TEXT fields terms may match (all indexed ones when `None`).
    pub infields: Option<Vec<String>>,
}

fn quote(w: &str) -> String {
    format!("\"{}\"", w.replace('"', "\"\""))
}

impl Planner<'_> {
    fn has_text(&self) -> bool {
        self.def.text_fields().next().is_some()
    }

    /// Columns unscoped terms search: `None` for all of them.
    fn default_cols(&self) -> Option<Vec<usize>> {
        let all: Vec<usize> = self
            .def
            .text_fields()
            .enumerate()
            .filter(|(_, f)| !f.noindex)
            .filter(|(_, f)| {
                self.infields
                    .as_ref()
                    .is_none_or(|names| names.contains(&f.name))
            })
            .map(|(i, _)| i)
            .collect();
        if all.len() == self.def.text_fields().count() {
            None
        } else {
            Some(all)
        }
    }

    fn colfilter(cols: &Option<Vec<usize>>) -> String {
        match cols {
            None => String::new(),
            Some(cols) => {
                let names: Vec<String> = cols.iter().map(|c| format!("c{c}")).collect();
                format!("{{{}}} : ", names.join(" "))
            }
        }
    }

    /// The node as a positive FTS5 expression, when it is one.
    fn fts(&self, node: &Node, cols: &Option<Vec<usize>>) -> Option<String> {
        if !self.has_text() || cols.as_ref().is_some_and(|c| c.is_empty()) {
            return None;
        }
        match node {
            Node::Term(w) => Some(format!("{}{}", Self::colfilter(cols), quote(w))),
            Node::Prefix(w) => Some(format!("{}{}*", Self::colfilter(cols), quote(w))),
            Node::Phrase(ws) => Some(format!("{}{}", Self::colfilter(cols), quote(&ws.join(" ")))),
            Node::Field(fields, inner) => self.fts(inner, &self.scope(fields, cols)),
            Node::Or(items) => {
                let parts: Option<Vec<String>> = items.iter().map(|i| self.fts(i, cols)).collect();
                Some(format!("({})", parts?.join(" OR ")))
            }
            Node::And(items) => {
                let mut pos = Vec::new();
                let mut neg = Vec::new();
                for item in items {
                    match item {
                        Node::Optional(_) => {}
                        Node::Not(inner) => neg.push(self.fts(inner, cols)?),
                        other => pos.push(self.fts(other, cols)?),
                    }
                }
                if pos.is_empty() {
                    return None;
                }
                Some(Self::join(&pos, &neg))
            }
            _ => None,
        }
    }

    fn join(pos: &[String], neg: &[String]) -> String {
        let mut s = format!("({})", pos.join(" AND "));
        if !neg.is_empty() {
            s = format!("{s} NOT ({})", neg.join(" OR "));
        }
        s
    }

    /// The columns of `fields` within `cols`.
    fn scope(&self, fields: &[String], cols: &Option<Vec<usize>>) -> Option<Vec<usize>> {
        let mine: Vec<usize> = fields
            .iter()
            .filter_map(|f| {
                let field = self.def.field(f)?;
                if field.noindex {
                    return None;
                }
                self.def.text_column(f)
            })
            .filter(|c| cols.as_ref().is_none_or(|cs| cs.contains(c)))
            .collect();
        Some(mine)
    }

    fn fts_pred(&self, expr: String, negate: bool) -> Pred {
        Pred {
            sql: format!(
                "d.docid {}IN (SELECT rowid FROM {t} WHERE {t} MATCH ?)",
                if negate { "NOT " } else { "" },
                t = tables::fts(self.id)
            ),
            params: vec![SqlValue::Text(expr)],
            driving: !negate,
        }
    }

    /// The node as an SQL condition on `d.docid`.
    fn pred(&self, node: &Node, cols: &Option<Vec<usize>>) -> Pred {
        if let Some(expr) = self.fts(node, cols) {
            return self.fts_pred(expr, false);
        }
        let fixed = |sql: &str| Pred {
            sql: sql.into(),
            params: Vec::new(),
            driving: false,
        };
        match node {
            Node::All | Node::Optional(_) => fixed("1"),
            Node::Nothing | Node::Term(_) | Node::Prefix(_) | Node::Phrase(_) => fixed("0"),
            Node::Field(fields, inner) => {
                let scoped = self.scope(fields, cols);
                if scoped.as_ref().is_some_and(|c| c.is_empty()) {
                    return fixed("0");
                }
                self.pred(inner, &scoped)
            }
            Node::Numeric {
                field,
                lo,
                lo_excl,
                hi,
                hi_excl,
            } => Pred {
                sql: format!(
                    "d.docid IN (SELECT docid FROM search_numeric WHERE idx = ? AND field = ? AND value {} ? AND value {} ?)",
                    if *lo_excl { ">" } else { ">=" },
                    if *hi_excl { "<" } else { "<=" }
                ),
                params: vec![
                    SqlValue::Integer(self.id),
                    SqlValue::Text(field.clone()),
                    SqlValue::Real(*lo),
                    SqlValue::Real(*hi),
                ],
                driving: true,
            },
            Node::Tag { field, values } => self.tag_pred(field, values),
            Node::And(items) | Node::Or(items) => {
                let op = if matches!(node, Node::And(_)) { " AND " } else { " OR " };
                let mut sql = Vec::new();
                let mut params = Vec::new();
                for item in items {
                    let p = self.pred(item, cols);
                    sql.push(p.sql);
                    params.extend(p.params);
                }
                Pred {
                    sql: format!("({})", sql.join(op)),
                    params,
                    driving: false,
                }
            }
            Node::Not(inner) => {
                let p = self.pred(inner, cols);
                Pred {
                    sql: format!("NOT ({})", p.sql),
                    params: p.params,
                    driving: false,
                }
            }
        }
    }

    fn tag_pred(&self, field: &str, values: &[TagValue]) -> Pred {
        let case_sensitive = matches!(
            self.def.field(field).map(|f| &f.kind),
            Some(FieldType::Tag {
                case_sensitive: true,
                ..
            })
        );
        let mut params = vec![SqlValue::Integer(self.id), SqlValue::Text(field.into())];
        let mut ors = Vec::new();
        for v in values {
            let text = if case_sensitive {
                v.text.clone()
            } else {
                v.text.to_lowercase()
            };
            if v.prefix {
                ors.push("(value >= ? AND value < ?)");
                params.push(SqlValue::Text(text.clone()));
                params.push(SqlValue::Text(format!("{text}\u{10FFFF}")));
            } else {
                ors.push("value = ?");
                params.push(SqlValue::Text(text));
            }
        }
        Pred {
            sql: format!(
                "d.docid IN (SELECT docid FROM search_tags WHERE idx = ? AND field = ? AND ({}))",
                ors.join(" OR ")
            ),
            params,
            driving: true,
        }
    }

    /// The query as a plan: its text conjuncts as one ranked MATCH, the rest as predicates.
    pub fn plan(&self, node: &Node) -> Plan {
        let cols = self.default_cols();
        let conjuncts: Vec<&Node> = match node {
            Node::And(items) => items.iter().collect(),
            other => vec![other],
        };
        let mut pos = Vec::new();
        let mut neg = Vec::new();
        let mut preds = Vec::new();
        for c in conjuncts {
            match c {
                Node::All | Node::Optional(_) => {}
                Node::Not(inner) => match self.fts(inner, &cols) {
                    Some(expr) => neg.push(expr),
                    None => preds.push(self.pred(c, &cols)),
                },
                other => match self.fts(other, &cols) {
                    Some(expr) => pos.push(expr),
                    None => preds.push(self.pred(other, &cols)),
                },
            }
        }
        let fts = if pos.is_empty() {
            if !neg.is_empty() {
                preds.push(self.fts_pred(neg.join(" OR "), true));
            }
            None
        } else {
            Some(Self::join(&pos, &neg))
        };
        Plan { fts, preds }
    }

    /// The ordering expression of a field, for SORTBY: NULL where a document lacks it.
    fn sort_expr(&self, name: &str) -> Option<(String, Vec<SqlValue>)> {
        let field = self.def.field(name)?;
        Some(match field.kind {
            FieldType::Numeric => (
                "(SELECT value FROM search_numeric WHERE idx = ? AND docid = d.docid AND field = ?)"
                    .into(),
                vec![SqlValue::Integer(self.id), SqlValue::Text(name.into())],
            ),
            FieldType::Tag { .. } => (
                "(SELECT min(value) FROM search_tags WHERE idx = ? AND docid = d.docid AND field = ?)"
                    .into(),
                vec![SqlValue::Integer(self.id), SqlValue::Text(name.into())],
            ),
            FieldType::Text { .. } => (
                format!(
                    "(SELECT lower(c{}) FROM {} WHERE rowid = d.docid)",
                    self.def.text_column(name)?,
                    tables::fts(self.id)
                ),
                Vec::new(),
            ),
        })
    }

    /// `FROM ... WHERE ...` of the plan, with `extra` conditions (INKEYS), and its params.
    fn source_and_filter(&self, plan: &Plan, extra: &[Pred]) -> (String, Vec<SqlValue>) {
        let mut params = Vec::new();
        let mut sql = match &plan.fts {
            Some(expr) => {
                let t = tables::fts(self.id);
                params.push(SqlValue::Text(expr.clone()));
                format!("FROM {t} JOIN search_docs d ON d.docid = {t}.rowid WHERE {t} MATCH ?")
            }
            // Started from a filter's documents when there is one (SQLite would otherwise
            // walk every document of the index and test each).
            None if plan.preds.iter().any(|p| p.driving) => {
                "FROM search_docs d WHERE 1".to_string()
            }
            None => {
                params.push(SqlValue::Integer(self.id));
                "FROM search_docs d WHERE d.idx = ?".to_string()
            }
        };
        for p in plan.preds.iter().chain(extra) {
            sql.push_str(" AND ");
            sql.push_str(&p.sql);
            params.extend(p.params.iter().cloned());
        }
        (sql, params)
    }

    /// `SELECT count(*)` of the matches.
    pub fn count_sql(&self, plan: &Plan, extra: &[Pred]) -> (String, Vec<SqlValue>) {
        let (fw, params) = self.source_and_filter(plan, extra);
        (format!("SELECT count(*) {fw}"), params)
    }

    /// `SELECT key, score, docid` and the `columns` (FTS5 `highlight()` / `snippet()` calls,
    /// parameterless) of one page of matches, in `order`; `None` when `order` names a field
    /// the schema lacks.
    pub fn page_sql(
        &self,
        plan: &Plan,
        extra: &[Pred],
        order: &Order,
        offset: u64,
        limit: u64,
        columns: &[String],
    ) -> Option<(String, Vec<SqlValue>)> {
        let (fw, mut params) = self.source_and_filter(plan, extra);
        let score = match &plan.fts {
            Some(_) => {
                let weights: Vec<String> = self
                    .def
                    .text_fields()
                    .map(|f| match f.kind {
                        FieldType::Text { weight, .. } => format!("{weight:?}"),
                        _ => "1.0".into(),
                    })
                    .collect();
                format!("-bm25({}, {})", tables::fts(self.id), weights.join(", "))
            }
            None => "1.0".into(),
        };
        let mut order_params = Vec::new();
        let order_by = match order {
            Order::Score if plan.fts.is_some() => "score DESC, d.docid".to_string(),
            Order::Score => "d.docid".to_string(),
            Order::Field { name, asc } => {
                let (expr, p) = self.sort_expr(name)?;
                order_params = p;
                format!(
                    "sortkey IS NULL, sortkey {}, d.docid",
                    if *asc { "ASC" } else { "DESC" }
                )
                .replace("sortkey", &expr)
            }
        };
        // The ORDER BY expression may appear twice (IS NULL, then the value).
        let repeat = if matches!(order, Order::Field { .. }) {
            2
        } else {
            0
        };
        let mut all = Vec::new();
        all.append(&mut params);
        for _ in 0..repeat {
            all.extend(order_params.iter().cloned());
        }
        all.push(SqlValue::Integer(limit.min(i64::MAX as u64) as i64));
        all.push(SqlValue::Integer(offset.min(i64::MAX as u64) as i64));
        let columns: String = columns.iter().map(|c| format!(", {c}")).collect();
        Some((
            format!(
                "SELECT d.key, {score} AS score, d.docid{columns} {fw} ORDER BY {order_by} LIMIT ? OFFSET ?"
            ),
            all,
        ))
    }

    /// `SELECT key` of every match (FT.AGGREGATE), at most `limit`.
    pub fn all_sql(&self, plan: &Plan, limit: u64) -> (String, Vec<SqlValue>) {
        let (fw, mut params) = self.source_and_filter(plan, &[]);
        params.push(SqlValue::Integer(limit.min(i64::MAX as u64) as i64));
        (
            format!("SELECT d.key {fw} ORDER BY d.docid LIMIT ?"),
            params,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::parser::{parse, ParseOptions};
    use bytes::Bytes;
    use std::collections::HashMap;

    fn def() -> IndexDef {
        let args: Vec<Bytes> = "SCHEMA title TEXT WEIGHT 2 body TEXT price NUMERIC tags TAG"
            .split_whitespace()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        IndexDef::parse(&args).unwrap()
    }

    fn plan(q: &str) -> Plan {
        let def = def();
        let kinds = |n: &str| def.field(n).map(|f| f.query_kind());
        let node = parse(
            q,
            &ParseOptions {
                dialect: 2,
                field: &kinds,
                stopwords: &[],
                params: &HashMap::new(),
            },
        )
        .unwrap();
        Planner {
            id: 7,
            def: &def,
            infields: None,
        }
        .plan(&node)
    }

    #[test]
    fn text_conjuncts_become_one_match() {
        let p = plan("hello wor* -moon \"a b\"");
        assert_eq!(
            p.fts.as_deref(),
            Some("(\"hello\" AND \"wor\"* AND \"a b\") NOT (\"moon\")")
        );
        assert!(p.preds.is_empty());
    }

    #[test]
    fn fields_become_column_filters() {
        let p = plan("@body:(x | y)");
        assert_eq!(p.fts.as_deref(), Some("(({c1} : \"x\" OR {c1} : \"y\"))"));
    }

    #[test]
    fn filters_become_predicates() {
        let p = plan("shoe @price:[(10 +inf] @tags:{Red}");
        assert_eq!(p.fts.as_deref(), Some("(\"shoe\")"));
        assert_eq!(p.preds.len(), 2);
        assert!(p.preds[0].sql.contains("value > ? AND value <= ?"));
        assert_eq!(p.preds[1].params[2], SqlValue::Text("red".into()));
    }

    #[test]
    fn unions_mixing_text_and_filters_are_sql() {
        let p = plan("hello | @price:[1 2]");
        assert!(p.fts.is_none());
        assert!(p.preds[0].sql.starts_with("(d.docid IN (SELECT rowid"));
        let p = plan("-hello");
        assert!(p.preds[0].sql.starts_with("d.docid NOT IN"));
    }
}
