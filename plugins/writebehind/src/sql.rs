//! What the commands accept and how it becomes SQL for an application database: identifiers
//! (validated, then quoted), `where` clauses (a primary-key value or a JSON object, kept in
//! one canonical JSON form so that two spellings of a row coalesce), values (always bound
//! parameters), counter deltas, and the statements of a flush in either dialect.

use std::collections::BTreeMap;

use serde_json::Value;

/// A table or column name: 1 to 63 ASCII letters, digits or `_`, not starting with a digit;
/// a table may be `schema.table`. Nothing else reaches SQL text.
pub fn valid_ident(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && !s.as_bytes()[0].is_ascii_digit()
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A table name: an identifier, or `schema.table`.
pub fn valid_table(s: &str) -> bool {
    match s.split_once('.') {
        Some((schema, table)) => valid_ident(schema) && valid_ident(table),
        None => valid_ident(s),
    }
}

/// `name` quoted for SQL (both dialects): `"posts"`, `"app"."posts"`. Only for validated names.
pub fn quote(name: &str) -> String {
    name.split('.')
        .map(|part| format!("\"{part}\""))
        .collect::<Vec<_>>()
        .join(".")
}

/// A value bound to a statement.
#[derive(Clone, Debug, PartialEq)]
pub enum Param {
    /// NULL.
    Null,
    /// A boolean (SQLite: 0 or 1).
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A double.
    Real(f64),
    /// Text (also JSON objects and arrays, as their JSON text).
    Text(String),
}

impl Param {
    /// A JSON value as a parameter.
    pub fn from_json(v: &Value) -> Param {
        match v {
            Value::Null => Param::Null,
            Value::Bool(b) => Param::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Param::Int(i),
                None => Param::Real(n.as_f64().unwrap_or(0.0)),
            },
            Value::String(s) => Param::Text(s.clone()),
            other => Param::Text(other.to_string()),
        }
    }

    /// The value as text, how PostgreSQL receives every parameter (it parses it with the
    /// column's own type); `None` for NULL.
    pub fn as_text(&self) -> Option<String> {
        match self {
            Param::Null => None,
            Param::Bool(b) => Some(b.to_string()),
            Param::Int(i) => Some(i.to_string()),
            Param::Real(f) => Some(f.to_string()),
            Param::Text(s) => Some(s.clone()),
        }
    }
}

/// A counter's value or delta: integers stay integers; a float makes it a float.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Num {
    /// An integer.
    Int(i64),
    /// A double.
    Real(f64),
}

impl Num {
    /// Parses a delta as given to WB.INCR: an integer, or a finite decimal number.
    pub fn parse(s: &str) -> Option<Num> {
        let s = s.trim();
        if let Ok(i) = s.parse::<i64>() {
            return Some(Num::Int(i));
        }
        match s.parse::<f64>() {
            Ok(f) if f.is_finite() => Some(Num::Real(f)),
            _ => None,
        }
    }

    /// `self + other`; `None` on integer overflow or a non-finite result.
    pub fn checked_add(self, other: Num) -> Option<Num> {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => a.checked_add(b).map(Num::Int),
            (a, b) => {
                let f = a.as_f64() + b.as_f64();
                f.is_finite().then_some(Num::Real(f))
            }
        }
    }

    /// `self - other` (what a finished flush leaves pending).
    pub fn checked_sub(self, other: Num) -> Option<Num> {
        match other {
            Num::Int(b) => self.checked_add(Num::Int(b.checked_neg()?)),
            Num::Real(b) => self.checked_add(Num::Real(-b)),
        }
    }

    /// The value as a double.
    pub fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Real(f) => f,
        }
    }

    /// Whether it is zero.
    pub fn is_zero(self) -> bool {
        match self {
            Num::Int(i) => i == 0,
            Num::Real(f) => f == 0.0,
        }
    }

    /// As a parameter.
    pub fn param(self) -> Param {
        match self {
            Num::Int(i) => Param::Int(i),
            Num::Real(f) => Param::Real(f),
        }
    }

    /// As JSON (claims keep their deltas as JSON).
    pub fn to_json(self) -> Value {
        match self {
            Num::Int(i) => Value::from(i),
            Num::Real(f) => Value::from(f),
        }
    }

    /// From JSON.
    pub fn from_json(v: &Value) -> Option<Num> {
        v.as_i64()
            .map(Num::Int)
            .or_else(|| v.as_f64().map(Num::Real))
    }

    /// A column's text (a PostgreSQL value read as text, a SQLite TEXT cell): NULL and a
    /// missing row count as 0, as for a fresh counter.
    pub fn from_cell_text(s: Option<&str>) -> Result<Num, String> {
        match s {
            None => Ok(Num::Int(0)),
            Some(t) => Num::parse(t).ok_or_else(|| format!("the column holds '{t}', not a number")),
        }
    }
}

/// A row named by `where`: column -> value, sorted by column.
pub type RowKey = BTreeMap<String, Value>;

/// Parses a `where` argument: a JSON object of column = value, or a primary-key value
/// (`42`, or text), which names column `primary_key`.
pub fn parse_where(arg: &[u8], primary_key: &str) -> Result<RowKey, String> {
    let text = std::str::from_utf8(arg)
        .map_err(|_| "where must be UTF-8 text or a JSON object".to_string())?;
    let trimmed = text.trim_start();
    let mut key = RowKey::new();
    if trimmed.starts_with('{') {
        let map: serde_json::Map<String, Value> = serde_json::from_str(text)
            .map_err(|e| format!("where is not a valid JSON object: {e}"))?;
        if map.is_empty() {
            return Err("where names no column".into());
        }
        for (col, v) in map {
            if !valid_ident(&col) {
                return Err(format!("invalid column name '{col}' in where"));
            }
            if !matches!(v, Value::Number(_) | Value::String(_) | Value::Bool(_)) {
                return Err(format!(
                    "where column '{col}' must be a number, a string or a boolean"
                ));
            }
            key.insert(col, v);
        }
    } else {
        let v = match text.parse::<i64>() {
            Ok(i) => Value::from(i),
            Err(_) => Value::from(text),
        };
        key.insert(primary_key.to_string(), v);
    }
    Ok(key)
}

/// The canonical text of a row's key, as the queues store it.
pub fn row_text(key: &RowKey) -> String {
    serde_json::to_string(key).unwrap_or_default()
}

/// A stored row key back.
pub fn row_from_text(text: &str) -> Result<RowKey, String> {
    serde_json::from_str(text).map_err(|e| format!("corrupt queued row key '{text}': {e}"))
}

/// Parses a row for WB.INSERT: a non-empty JSON object of valid column names.
pub fn parse_insert_row(arg: &[u8]) -> Result<serde_json::Map<String, Value>, String> {
    let map: serde_json::Map<String, Value> = serde_json::from_slice(arg)
        .map_err(|e| format!("the row is not a valid JSON object: {e}"))?;
    if map.is_empty() {
        return Err("the row names no column".into());
    }
    if let Some(col) = map.keys().find(|c| !valid_ident(c)) {
        return Err(format!("invalid column name '{col}' in the row"));
    }
    Ok(map)
}

/// Which placeholders a statement uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// `?1, ?2, ...`.
    Sqlite,
    /// `$1, $2, ...`.
    Postgres,
}

/// A statement and its parameters, built up together.
#[derive(Debug, Default)]
pub struct Stmt {
    /// The SQL text.
    pub sql: String,
    /// Its parameters, in placeholder order.
    pub params: Vec<Param>,
    /// It keeps the flush ledger, not the application's rows (not counted as rows written).
    pub ledger: bool,
    /// A counters UPDATE: the row's canonical key and the columns its RETURNING clause gives
    /// back (their values after the update: the counters' fresh bases).
    pub returns: Option<(String, Vec<String>)>,
}

impl Stmt {
    /// Whether it is an UPDATE (which may find no row).
    pub fn is_update(&self) -> bool {
        self.sql.starts_with("UPDATE ")
    }

    /// Adds a parameter and returns its placeholder.
    pub fn bind(&mut self, dialect: Dialect, p: Param) -> String {
        self.params.push(p);
        match dialect {
            Dialect::Sqlite => format!("?{}", self.params.len()),
            Dialect::Postgres => format!("${}", self.params.len()),
        }
    }

    /// `"a" = ?1 AND "b" = ?2` for a row key.
    pub fn where_clause(&mut self, dialect: Dialect, key: &RowKey) -> String {
        key.iter()
            .map(|(col, v)| {
                let ph = self.bind(dialect, Param::from_json(v));
                format!("{} = {ph}", quote(col))
            })
            .collect::<Vec<_>>()
            .join(" AND ")
    }
}

/// `UPDATE table SET c = COALESCE(c, 0) + d, ... WHERE key`: a row's counters.
pub fn counters_update(
    dialect: Dialect,
    table: &str,
    key: &RowKey,
    deltas: &[(String, Num)],
) -> Stmt {
    let mut s = Stmt::default();
    let sets: Vec<String> = deltas
        .iter()
        .map(|(col, d)| {
            let ph = s.bind(dialect, d.param());
            let q = quote(col);
            format!("{q} = COALESCE({q}, 0) + {ph}")
        })
        .collect();
    let wh = s.where_clause(dialect, key);
    let returning: Vec<String> = deltas
        .iter()
        .map(|(col, _)| match dialect {
            Dialect::Sqlite => quote(col),
            Dialect::Postgres => format!("({})::text", quote(col)),
        })
        .collect();
    s.sql = format!(
        "UPDATE {} SET {} WHERE {wh} RETURNING {}",
        quote(table),
        sets.join(", "),
        returning.join(", ")
    );
    s.returns = Some((
        row_text(key),
        deltas.iter().map(|(col, _)| col.clone()).collect(),
    ));
    s
}

/// `UPDATE table SET c = v, ... WHERE key`: a row's last-written values.
pub fn values_update(
    dialect: Dialect,
    table: &str,
    key: &RowKey,
    values: &[(String, String)],
) -> Stmt {
    let mut s = Stmt::default();
    let sets: Vec<String> = values
        .iter()
        .map(|(col, v)| {
            let ph = s.bind(dialect, Param::Text(v.clone()));
            format!("{} = {ph}", quote(col))
        })
        .collect();
    let wh = s.where_clause(dialect, key);
    s.sql = format!("UPDATE {} SET {} WHERE {wh}", quote(table), sets.join(", "));
    s
}

/// Parameters one INSERT statement may carry (SQLite allows 32766, PostgreSQL 65535).
const MAX_PARAMS: usize = 30_000;

/// Multi-row INSERTs for `rows`, in order: consecutive rows with the same columns share a
/// statement, up to [`MAX_PARAMS`] parameters each.
pub fn inserts(
    dialect: Dialect,
    table: &str,
    rows: &[serde_json::Map<String, Value>],
) -> Vec<Stmt> {
    let mut out: Vec<Stmt> = Vec::new();
    let mut current: Option<(Vec<&String>, Stmt, Vec<String>)> = None;
    let finish = |cur: Option<(Vec<&String>, Stmt, Vec<String>)>, out: &mut Vec<Stmt>| {
        if let Some((cols, mut s, tuples)) = cur {
            let cols: Vec<String> = cols.iter().map(|c| quote(c)).collect();
            s.sql = format!(
                "INSERT INTO {} ({}) VALUES {}",
                quote(table),
                cols.join(", "),
                tuples.join(", ")
            );
            out.push(s);
        }
    };
    for row in rows {
        let cols: Vec<&String> = row.keys().collect();
        let fits = current
            .as_ref()
            .is_some_and(|(c, s, _)| *c == cols && s.params.len() + cols.len() <= MAX_PARAMS);
        if !fits {
            finish(current.take(), &mut out);
            current = Some((cols, Stmt::default(), Vec::new()));
        }
        if let Some((_, s, tuples)) = current.as_mut() {
            let phs: Vec<String> = row
                .values()
                .map(|v| s.bind(dialect, Param::from_json(v)))
                .collect();
            tuples.push(format!("({})", phs.join(", ")));
        }
    }
    finish(current, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert!(valid_ident("views_2"));
        assert!(valid_ident("_x"));
        assert!(!valid_ident("2x"));
        assert!(!valid_ident(""));
        assert!(!valid_ident("a b"));
        assert!(!valid_ident("a\"b"));
        assert!(!valid_ident("a;drop"));
        assert!(valid_table("app.posts"));
        assert!(!valid_table("a.b.c"));
        assert_eq!(quote("app.posts"), "\"app\".\"posts\"");
    }

    #[test]
    fn where_forms_coalesce() {
        let a = parse_where(b"42", "id").unwrap();
        let b = parse_where(br#"{"id": 42}"#, "id").unwrap();
        assert_eq!(row_text(&a), row_text(&b));
        let c = parse_where(br#"{"b": "x", "a": 1}"#, "id").unwrap();
        assert_eq!(row_text(&c), r#"{"a":1,"b":"x"}"#);
        assert_eq!(row_from_text(&row_text(&c)).unwrap(), c);
        let s = parse_where(b"abc", "slug").unwrap();
        assert_eq!(row_text(&s), r#"{"slug":"abc"}"#);
        assert!(parse_where(b"{bad", "id").is_err());
        assert!(parse_where(b"{}", "id").is_err());
        assert!(parse_where(br#"{"x y": 1}"#, "id").is_err());
        assert!(parse_where(br#"{"x": null}"#, "id").is_err());
    }

    #[test]
    fn numbers() {
        assert_eq!(Num::parse("5"), Some(Num::Int(5)));
        assert_eq!(Num::parse("-2.5"), Some(Num::Real(-2.5)));
        assert_eq!(Num::parse("abc"), None);
        assert_eq!(Num::parse("inf"), None);
        assert_eq!(Num::parse("nan"), None);
        assert_eq!(Num::parse(""), None);
        assert_eq!(Num::Int(i64::MAX).checked_add(Num::Int(1)), None);
        assert_eq!(Num::Int(3).checked_sub(Num::Int(5)), Some(Num::Int(-2)));
        assert_eq!(
            Num::Int(1).checked_add(Num::Real(0.5)),
            Some(Num::Real(1.5))
        );
    }

    #[test]
    fn statements() {
        let key = parse_where(b"7", "id").unwrap();
        let s = counters_update(
            Dialect::Postgres,
            "posts",
            &key,
            &[("views".into(), Num::Int(3))],
        );
        assert_eq!(
            s.sql,
            "UPDATE \"posts\" SET \"views\" = COALESCE(\"views\", 0) + $1 WHERE \"id\" = $2 \
             RETURNING (\"views\")::text"
        );
        assert_eq!(s.params, vec![Param::Int(3), Param::Int(7)]);
        let s = values_update(
            Dialect::Sqlite,
            "posts",
            &key,
            &[("title".into(), "x".into())],
        );
        assert_eq!(
            s.sql,
            "UPDATE \"posts\" SET \"title\" = ?1 WHERE \"id\" = ?2"
        );
        let rows: Vec<_> = [r#"{"a":1,"b":2}"#, r#"{"a":3,"b":4}"#, r#"{"a":5}"#]
            .iter()
            .map(|r| parse_insert_row(r.as_bytes()).unwrap())
            .collect();
        let stmts = inserts(Dialect::Sqlite, "ev", &rows);
        assert_eq!(stmts.len(), 2);
        assert_eq!(
            stmts[0].sql,
            "INSERT INTO \"ev\" (\"a\", \"b\") VALUES (?1, ?2), (?3, ?4)"
        );
        assert_eq!(stmts[1].sql, "INSERT INTO \"ev\" (\"a\") VALUES (?1)");
        assert!(parse_insert_row(b"[1]").is_err());
        assert!(parse_insert_row(br#"{"a-b":1}"#).is_err());
    }
}
