//! FT.EXPLAIN and FT.EXPLAINCLI: the parsed query as RediSearch prints its plan.

use bytes::Bytes;
use respite_core::plugin::api::{Ctx, Reply};

use crate::query::Node;
use crate::reply::err;
use crate::search::{compile, QueryArgs};

fn bound(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        }
    } else {
        format!("{v:.6}")
    }
}

/// The plan of `node` as lines, indented two spaces per level.
pub fn lines(node: &Node, depth: usize, prefix: &str, out: &mut Vec<String>) {
    let pad = "  ".repeat(depth);
    let group = |name: &str, items: &[Node], out: &mut Vec<String>| {
        out.push(format!("{pad}{prefix}{name} {{"));
        for item in items {
            lines(item, depth + 1, "", out);
        }
        out.push(format!("{pad}}}"));
    };
    match node {
        Node::All => out.push(format!("{pad}{prefix}<WILDCARD>")),
        Node::Nothing => out.push(format!("{pad}{prefix}<EMPTY>")),
        Node::Term(w) => out.push(format!("{pad}{prefix}{}", w.to_lowercase())),
        Node::Prefix(w) => out.push(format!("{pad}{prefix}PREFIX{{{}*}}", w.to_lowercase())),
        Node::Phrase(words) => {
            out.push(format!("{pad}{prefix}EXACT {{"));
            for w in words {
                out.push(format!("{pad}  {}", w.to_lowercase()));
            }
            out.push(format!("{pad}}}"));
        }
        Node::Field(fields, inner) => lines(
            inner,
            depth,
            &format!("{prefix}@{}:", fields.join("|")),
            out,
        ),
        Node::Numeric {
            field,
            lo,
            lo_excl,
            hi,
            hi_excl,
        } => out.push(format!(
            "{pad}{prefix}NUMERIC {{{} {} @{field} {} {}}}",
            bound(*lo),
            if *lo_excl { "<" } else { "<=" },
            if *hi_excl { "<" } else { "<=" },
            bound(*hi)
        )),
        Node::Tag { field, values } => {
            out.push(format!("{pad}{prefix}TAG:@{field} {{"));
            for v in values {
                out.push(format!(
                    "{pad}  {}{}",
                    v.text,
                    if v.prefix { "*" } else { "" }
                ));
            }
            out.push(format!("{pad}}}"));
        }
        Node::And(items) => group("INTERSECT", items, out),
        Node::Or(items) => group("UNION", items, out),
        Node::Not(inner) => group("NOT", std::slice::from_ref(inner), out),
        Node::Optional(inner) => group("OPTIONAL", std::slice::from_ref(inner), out),
    }
}

fn plan_lines(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Result<Vec<String>, Reply> {
    let mut qa = QueryArgs::default();
    let mut i = 3;
    while i < argv.len() {
        if !qa.take(argv, &mut i)? {
            return Err(err(format!(
                "Unknown argument `{}`",
                String::from_utf8_lossy(&argv[i])
            )));
        }
    }
    let compiled = compile(ctx, &argv[1], &argv[2], &qa)?;
    let mut out = Vec::new();
    lines(&compiled.node, 0, "", &mut out);
    Ok(out)
}

/// `FT.EXPLAIN index query [DIALECT d] [PARAMS ...]`: the plan as one string.
pub fn ft_explain(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    match plan_lines(ctx, argv) {
        Ok(lines) => {
            let mut s = lines.join("\n");
            s.push('\n');
            Reply::Bulk(Bytes::from(s))
        }
        Err(e) => e,
    }
}

/// `FT.EXPLAINCLI index query`: the plan as one line per element.
pub fn ft_explaincli(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> Reply {
    match plan_lines(ctx, argv) {
        Ok(mut lines) => {
            lines.push(String::new());
            Reply::Array(
                lines
                    .into_iter()
                    .map(|l| Reply::Bulk(Bytes::from(l)))
                    .collect(),
            )
        }
        Err(e) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::{parse, FieldKind, ParseOptions};
    use std::collections::HashMap;

    /// RediSearch's documented FT.EXPLAIN example (dialect 1: `|` binds tighter).
    #[test]
    fn documented_example() {
        let kinds = |n: &str| (n == "date").then_some(FieldKind::Numeric);
        let node = parse(
            "(foo bar)|(hello world) @date:[100 200]|@date:[500 +inf]",
            &ParseOptions {
                dialect: 1,
                field: &kinds,
                stopwords: &[],
                params: &HashMap::new(),
            },
        )
        .unwrap();
        let mut out = Vec::new();
        lines(&node, 0, "", &mut out);
        assert_eq!(
            out.join("\n"),
            "INTERSECT {\n  UNION {\n    INTERSECT {\n      foo\n      bar\n    }\n    INTERSECT {\n      hello\n      world\n    }\n  }\n  UNION {\n    NUMERIC {100.000000 <= @date <= 200.000000}\n    NUMERIC {500.000000 <= @date <= inf}\n  }\n}"
        );
    }
}
