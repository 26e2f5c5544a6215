//! RediSearch's query language, parsed into a [`Node`] tree: terms (intersection), `prefix*`,
//! `"exact phrase"`, `-negation`, `~optional`, `a | b`, `( )`, `@field:...` modifiers,
//! `@num:[lo hi]` ranges (`(` exclusive, `-inf` / `+inf`), `@tag:{a | b}` and `$param`s.
//!
//! Precedence follows the dialect: in dialect 1 (RediSearch's default) `|` binds tighter than
//! the implied AND (`a b | c d` is `a (b | c) d`); from dialect 2 on the AND binds tighter
//! (`(a b) | (c d)`). The parser checks fields against the schema as it goes, so that errors
//! carry the offset RediSearch reports.

use std::collections::HashMap;

/// What the parser needs to know of a field named in the query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// Full text.
    Text,
    /// Numbers, queried with ranges.
    Numeric,
    /// Exact values, queried with `{...}`.
    Tag,
}

/// One value of a tag filter.
#[derive(Clone, Debug, PartialEq)]
pub struct TagValue {
    /// The value, unescaped.
    pub text: String,
    /// `value*`: every tag that starts with it.
    pub prefix: bool,
}

/// A parsed query.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    /// `*`: every document.
    All,
    /// What a query of stopwords alone matches: nothing.
    Nothing,
    /// A word.
    Term(String),
    /// `word*`.
    Prefix(String),
    /// `"a b c"`: the words in this order.
    Phrase(Vec<String>),
    /// `@a|b:(...)`: text matched in these fields only.
    Field(Vec<String>, Box<Node>),
    /// `@field:[lo hi]`.
    Numeric {
        /// The field.
        field: String,
        /// Lower end.
        lo: f64,
        /// Whether `lo` itself is left out.
        lo_excl: bool,
        /// Upper end.
        hi: f64,
        /// Whether `hi` itself is left out.
        hi_excl: bool,
    },
    /// `@field:{a | b}`.
    Tag {
        /// The field.
        field: String,
        /// Any of these.
        values: Vec<TagValue>,
    },
    /// All of these.
    And(Vec<Node>),
    /// Any of these.
    Or(Vec<Node>),
    /// Documents that do not match.
    Not(Box<Node>),
    /// `~x`: does not restrict the results (RediSearch uses it for scoring only).
    Optional(Box<Node>),
}

/// What parsing needs besides the text.
pub struct ParseOptions<'a> {
    /// 1 (RediSearch's default) or 2 and above.
    pub dialect: u32,
    /// The kind of a field by its attribute name; `None` for an unknown field.
    pub field: &'a dyn Fn(&str) -> Option<FieldKind>,
    /// Words dropped from queries (lowercase).
    pub stopwords: &'a [String],
    /// `PARAMS`: values of `$name`.
    pub params: &'a HashMap<String, String>,
}

/// Parses `query`; the error is RediSearch's text (without the `ERR ` code it has none of).
pub fn parse(query: &str, opts: &ParseOptions<'_>) -> Result<Node, String> {
    let mut p = Parser {
        src: query,
        pos: 0,
        peeked: None,
        opts,
    };
    if query.trim().is_empty() {
        return Err("Syntax error at offset 0 near ".to_string());
    }
    let node = p.expr()?;
    match p.next()? {
        (Tok::Eof, _) => Ok(simplify(node)),
        (_, at) => Err(p.syntax_error(at)),
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    LParen,
    RParen,
    Pipe,
    Minus,
    Tilde,
    Star,
    At(Vec<String>),
    LBracket,
    LBrace,
    Quoted(String),
    Word(String, bool),
    Eof,
}

struct Parser<'a, 'o> {
    src: &'a str,
    pos: usize,
    peeked: Option<(Tok, usize)>,
    opts: &'o ParseOptions<'o>,
}

/// Characters that end a word (besides whitespace).
fn is_punct(c: char) -> bool {
    matches!(
        c,
        '(' | ')'
            | '|'
            | '-'
            | '~'
            | '*'
            | '@'
            | '['
            | ']'
            | '{'
            | '}'
            | '"'
            | '\''
            | ':'
            | ','
            | '.'
            | ';'
            | '!'
            | '?'
            | '<'
            | '>'
            | '='
            | '+'
            | '#'
            | '&'
            | '^'
            | '/'
            | '%'
            | '$'
    )
}

impl Parser<'_, '_> {
    fn syntax_error(&self, at: usize) -> String {
        let near: String = self.src[at.min(self.src.len())..]
            .chars()
            .take(20)
            .collect();
        format!("Syntax error at offset {at} near {near}")
    }

    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn skip_space(&mut self) {
        while let Some(c) = self.rest().chars().next() {
            // Punctuation without a meaning in the query language separates words, as
            // RediSearch's tokenizer does.
            if c.is_whitespace()
                || matches!(
                    c,
                    ',' | '.'
                        | ';'
                        | '!'
                        | '?'
                        | '<'
                        | '>'
                        | '='
                        | '+'
                        | '#'
                        | '&'
                        | '^'
                        | '/'
                        | '\''
                )
            {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
    }

    /// A word from the current position: letters, digits, `_`, anything escaped with `\`.
    fn word(&mut self) -> String {
        let mut out = String::new();
        while let Some(c) = self.rest().chars().next() {
            if c == '\\' {
                self.pos += 1;
                if let Some(e) = self.rest().chars().next() {
                    out.push(e);
                    self.pos += e.len_utf8();
                }
            } else if c.is_whitespace() || is_punct(c) {
                break;
            } else {
                out.push(c);
                self.pos += c.len_utf8();
            }
        }
        out
    }

    fn param(&mut self, at: usize) -> Result<String, String> {
        let name = self.word();
        match self.opts.params.get(&name) {
            Some(v) => Ok(v.clone()),
            None => Err(format!("No such parameter `{name}`")).map_err(|e| {
                if name.is_empty() {
                    self.syntax_error(at)
                } else {
                    e
                }
            }),
        }
    }

    fn lex(&mut self) -> Result<(Tok, usize), String> {
        self.skip_space();
        let at = self.pos;
        let Some(c) = self.rest().chars().next() else {
            return Ok((Tok::Eof, at));
        };
        let single = |p: &mut Self, t: Tok| {
            p.pos += 1;
            Ok((t, at))
        };
        match c {
            '(' => single(self, Tok::LParen),
            ')' => single(self, Tok::RParen),
            '|' => single(self, Tok::Pipe),
            '-' => single(self, Tok::Minus),
            '~' => single(self, Tok::Tilde),
            '[' => single(self, Tok::LBracket),
            '{' => single(self, Tok::LBrace),
            '*' => {
                self.pos += 1;
                let next = self.rest().chars().next();
                if next.is_some_and(|n| !n.is_whitespace() && !is_punct(n)) {
                    // `*suffix` and `*infix*` need a suffix trie; FTS5 has none.
                    return Err(format!(
                        "Syntax error at offset {at} near {}: suffix and infix queries are not supported",
                        &self.src[at..]
                    ));
                }
                Ok((Tok::Star, at))
            }
            '"' => {
                self.pos += 1;
                let mut text = String::new();
                loop {
                    match self.rest().chars().next() {
                        None => return Err(self.syntax_error(at)),
                        Some('"') => {
                            self.pos += 1;
                            break;
                        }
                        Some('\\') => {
                            self.pos += 1;
                            if let Some(e) = self.rest().chars().next() {
                                text.push(e);
                                self.pos += e.len_utf8();
                            }
                        }
                        Some(ch) => {
                            text.push(ch);
                            self.pos += ch.len_utf8();
                        }
                    }
                }
                Ok((Tok::Quoted(text), at))
            }
            '@' => {
                self.pos += 1;
                let mut fields = Vec::new();
                loop {
                    let name = self.word();
                    if name.is_empty() {
                        return Err(self.syntax_error(at));
                    }
                    fields.push(name);
                    match self.rest().chars().next() {
                        Some('|') => self.pos += 1,
                        Some(':') => {
                            self.pos += 1;
                            break;
                        }
                        _ => return Err(self.syntax_error(at)),
                    }
                }
                Ok((Tok::At(fields), at))
            }
            '$' => {
                self.pos += 1;
                let value = self.param(at)?;
                Ok((Tok::Word(value, false), at))
            }
            '%' => Err(format!(
                "Syntax error at offset {at} near {}: fuzzy matching is not supported",
                &self.src[at..]
            )),
            ']' | '}' | ':' => Err(self.syntax_error(at)),
            _ => {
                let w = self.word();
                if w.is_empty() {
                    return Err(self.syntax_error(at));
                }
                let prefix = self.rest().starts_with('*');
                if prefix {
                    self.pos += 1;
                }
                Ok((Tok::Word(w, prefix), at))
            }
        }
    }

    fn peek(&mut self) -> Result<&Tok, String> {
        if self.peeked.is_none() {
            let t = self.lex()?;
            self.peeked = Some(t);
        }
        Ok(&self.peeked.as_ref().expect("just set").0)
    }

    fn next(&mut self) -> Result<(Tok, usize), String> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => self.lex(),
        }
    }

    fn expr(&mut self) -> Result<Node, String> {
        if self.opts.dialect >= 2 {
            self.union(Self::intersection)
        } else {
            self.intersection_of(Self::union_of_unary)
        }
    }

    /// Dialect 2: `inter ('|' inter)*`.
    fn union(&mut self, operand: fn(&mut Self) -> Result<Node, String>) -> Result<Node, String> {
        let mut items = vec![operand(self)?];
        while *self.peek()? == Tok::Pipe {
            self.next()?;
            items.push(operand(self)?);
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one")
        } else {
            Node::Or(items)
        })
    }

    fn union_of_unary(&mut self) -> Result<Node, String> {
        self.union(Self::unary)
    }

    fn intersection(&mut self) -> Result<Node, String> {
        self.intersection_of(Self::unary)
    }

    fn intersection_of(
        &mut self,
        operand: fn(&mut Self) -> Result<Node, String>,
    ) -> Result<Node, String> {
        let mut items = Vec::new();
        loop {
            match self.peek()? {
                Tok::Eof | Tok::RParen | Tok::Pipe => break,
                _ => items.push(operand(self)?),
            }
        }
        match items.len() {
            0 => {
                let at = self.peeked.as_ref().map(|p| p.1).unwrap_or(self.pos);
                Err(self.syntax_error(at))
            }
            1 => Ok(items.pop().expect("one")),
            _ => Ok(Node::And(items)),
        }
    }

    fn unary(&mut self) -> Result<Node, String> {
        match self.peek()? {
            Tok::Minus => {
                self.next()?;
                Ok(Node::Not(Box::new(self.unary()?)))
            }
            Tok::Tilde => {
                self.next()?;
                Ok(Node::Optional(Box::new(self.unary()?)))
            }
            _ => self.primary(),
        }
    }

    fn primary(&mut self) -> Result<Node, String> {
        let (tok, at) = self.next()?;
        match tok {
            Tok::LParen => {
                let inner = self.expr()?;
                match self.next()? {
                    (Tok::RParen, _) => Ok(inner),
                    (_, at) => Err(self.syntax_error(at)),
                }
            }
            Tok::Star => Ok(Node::All),
            Tok::Word(w, true) => Ok(Node::Prefix(w)),
            Tok::Word(w, false) => Ok(self.term(w)),
            Tok::Quoted(text) => Ok(self.phrase(&text)),
            Tok::At(fields) => self.field(fields, at),
            _ => Err(self.syntax_error(at)),
        }
    }

    fn is_stopword(&self, w: &str) -> bool {
        let lower = w.to_lowercase();
        self.opts.stopwords.contains(&lower)
    }

    fn term(&self, w: String) -> Node {
        if self.is_stopword(&w) {
            Node::Nothing
        } else {
            Node::Term(w)
        }
    }

    fn phrase(&self, text: &str) -> Node {
        let words: Vec<String> = text
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty() && !self.is_stopword(w))
            .map(str::to_string)
            .collect();
        if words.is_empty() {
            Node::Nothing
        } else {
            Node::Phrase(words)
        }
    }

    fn kind_of(&self, name: &str, at: usize) -> Result<FieldKind, String> {
        (self.opts.field)(name).ok_or_else(|| format!("Unknown field at offset {at} near {name}"))
    }

    fn field(&mut self, fields: Vec<String>, at: usize) -> Result<Node, String> {
        // The range or tag list is read raw: its `(`, `-` and `|` are not operators.
        let opener = if self.peeked.is_none() {
            self.skip_space();
            self.rest().chars().next()
        } else {
            None
        };
        match opener {
            Some('[') => {
                self.pos += 1;
                let field = self.single(fields, at, FieldKind::Numeric)?;
                self.numeric(field, at)
            }
            Some('{') => {
                self.pos += 1;
                let field = self.single(fields, at, FieldKind::Tag)?;
                self.tags(field, at)
            }
            _ => {
                for f in &fields {
                    let (kind, syntax) = match self.kind_of(f, at)? {
                        FieldKind::Text => continue,
                        FieldKind::Numeric => ("NUMERIC", "[min max]"),
                        FieldKind::Tag => ("TAG", "{value}"),
                    };
                    return Err(format!(
                        "Syntax error at offset {at} near {f}: a {kind} field is queried with {syntax}"
                    ));
                }
                let body = self.unary()?;
                Ok(Node::Field(fields, Box::new(body)))
            }
        }
    }

    fn single(&self, fields: Vec<String>, at: usize, want: FieldKind) -> Result<String, String> {
        if fields.len() != 1 {
            return Err(self.syntax_error(at));
        }
        let f = fields.into_iter().next().expect("one");
        let kind = self.kind_of(&f, at)?;
        if kind != want {
            return Err(format!(
                "Syntax error at offset {at} near {f}: not a {} field",
                if want == FieldKind::Numeric {
                    "NUMERIC"
                } else {
                    "TAG"
                }
            ));
        }
        Ok(f)
    }

    /// The raw text up to `close`, with `$params` substituted.
    fn raw_until(&mut self, close: char, at: usize) -> Result<String, String> {
        let Some(end) = find_unescaped(self.rest(), close) else {
            return Err(self.syntax_error(at));
        };
        let raw = self.rest()[..end].to_string();
        self.pos += end + close.len_utf8();
        let mut out = String::new();
        let mut chars = raw.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\\' {
                out.push(c);
                if let Some(e) = chars.next() {
                    out.push(e);
                }
            } else if c == '$' {
                let mut name = String::new();
                while let Some(&n) = chars.peek() {
                    if n.is_alphanumeric() || n == '_' {
                        name.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                match self.opts.params.get(&name) {
                    Some(v) => out.push_str(v),
                    None => return Err(format!("No such parameter `{name}`")),
                }
            } else {
                out.push(c);
            }
        }
        Ok(out)
    }

    fn numeric(&mut self, field: String, at: usize) -> Result<Node, String> {
        let raw = self.raw_until(']', at)?;
        let parts: Vec<&str> = raw
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|s| !s.is_empty())
            .collect();
        if parts.len() != 2 {
            return Err(self.syntax_error(at));
        }
        let bound = |s: &str| -> Option<(f64, bool)> {
            let (excl, s) = match s.strip_prefix('(') {
                Some(rest) => (true, rest),
                None => (false, s),
            };
            let v = match s.to_ascii_lowercase().as_str() {
                "-inf" => f64::NEG_INFINITY,
                "inf" | "+inf" => f64::INFINITY,
                other => other.parse::<f64>().ok().filter(|v| !v.is_nan())?,
            };
            Some((v, excl))
        };
        let (Some((lo, lo_excl)), Some((hi, hi_excl))) = (bound(parts[0]), bound(parts[1])) else {
            return Err(self.syntax_error(at));
        };
        Ok(Node::Numeric {
            field,
            lo,
            lo_excl,
            hi,
            hi_excl,
        })
    }

    fn tags(&mut self, field: String, at: usize) -> Result<Node, String> {
        let raw = self.raw_until('}', at)?;
        let mut values = Vec::new();
        for part in split_unescaped(&raw, '|') {
            let trimmed = part.trim();
            let (body, prefix) = match trimmed.strip_suffix('*') {
                Some(b) if !b.ends_with('\\') => (b, true),
                _ => (trimmed, false),
            };
            let text = unescape(body.trim());
            if text.is_empty() {
                return Err(self.syntax_error(at));
            }
            values.push(TagValue { text, prefix });
        }
        if values.is_empty() {
            return Err(self.syntax_error(at));
        }
        Ok(Node::Tag { field, values })
    }
}

fn find_unescaped(s: &str, c: char) -> Option<usize> {
    let mut escaped = false;
    for (i, ch) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if ch == '\\' {
            escaped = true;
        } else if ch == c {
            return Some(i);
        }
    }
    None
}

fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut escaped = false;
    for ch in s.chars() {
        if escaped {
            out.last_mut().expect("one").push(ch);
            escaped = false;
        } else if ch == '\\' {
            out.last_mut().expect("one").push(ch);
            escaped = true;
        } else if ch == sep {
            out.push(String::new());
        } else {
            out.last_mut().expect("one").push(ch);
        }
    }
    out
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(e) = chars.next() {
                out.push(e);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Flattens nested ANDs and ORs, and drops stopwords' [`Node::Nothing`] from intersections
/// (RediSearch ignores stopwords there) and unions.
pub fn simplify(node: Node) -> Node {
    match node {
        Node::And(items) => {
            let mut out = Vec::new();
            for item in items.into_iter().map(simplify) {
                match item {
                    Node::And(inner) => out.extend(inner),
                    Node::Nothing => {}
                    other => out.push(other),
                }
            }
            match out.len() {
                0 => Node::Nothing,
                1 => out.pop().expect("one"),
                _ => Node::And(out),
            }
        }
        Node::Or(items) => {
            let mut out = Vec::new();
            for item in items.into_iter().map(simplify) {
                match item {
                    Node::Or(inner) => out.extend(inner),
                    Node::Nothing => {}
                    other => out.push(other),
                }
            }
            match out.len() {
                0 => Node::Nothing,
                1 => out.pop().expect("one"),
                _ => Node::Or(out),
            }
        }
        Node::Not(inner) => match simplify(*inner) {
            Node::Nothing => Node::All,
            other => Node::Not(Box::new(other)),
        },
        Node::Optional(inner) => Node::Optional(Box::new(simplify(*inner))),
        Node::Field(fields, inner) => match simplify(*inner) {
            Node::Nothing => Node::Nothing,
            other => Node::Field(fields, Box::new(other)),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(name: &str) -> Option<FieldKind> {
        match name {
            "title" | "body" => Some(FieldKind::Text),
            "price" | "date" => Some(FieldKind::Numeric),
            "tags" | "color" => Some(FieldKind::Tag),
            _ => None,
        }
    }

    fn parse_with(q: &str, dialect: u32, params: &[(&str, &str)]) -> Result<Node, String> {
        let params: HashMap<String, String> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let stop = vec!["the".to_string(), "a".to_string(), "is".to_string()];
        parse(
            q,
            &ParseOptions {
                dialect,
                field: &kinds,
                stopwords: &stop,
                params: &params,
            },
        )
    }

    fn p(q: &str) -> Node {
        parse_with(q, 2, &[]).unwrap_or_else(|e| panic!("{q}: {e}"))
    }

    fn t(w: &str) -> Node {
        Node::Term(w.into())
    }

    #[test]
    fn terms_intersect() {
        assert_eq!(p("hello world"), Node::And(vec![t("hello"), t("world")]));
        assert_eq!(p("hello"), t("hello"));
    }

    #[test]
    fn prefix_phrase_star() {
        assert_eq!(p("hel*"), Node::Prefix("hel".into()));
        assert_eq!(
            p("\"hello world\""),
            Node::Phrase(vec!["hello".into(), "world".into()])
        );
        assert_eq!(p("*"), Node::All);
    }

    #[test]
    fn union_precedence_follows_the_dialect() {
        let d2 = p("hello world | \"goodbye\" moon");
        assert_eq!(
            d2,
            Node::Or(vec![
                Node::And(vec![t("hello"), t("world")]),
                Node::And(vec![Node::Phrase(vec!["goodbye".into()]), t("moon")]),
            ])
        );
        let d1 = parse_with("hello world | goodbye moon", 1, &[]).unwrap();
        assert_eq!(
            d1,
            Node::And(vec![
                t("hello"),
                Node::Or(vec![t("world"), t("goodbye")]),
                t("moon")
            ])
        );
    }

    #[test]
    fn negation_optional_and_groups() {
        assert_eq!(
            p("hello -world"),
            Node::And(vec![t("hello"), Node::Not(Box::new(t("world")))])
        );
        assert_eq!(
            p("-(a1 | b1) c1"),
            Node::And(vec![
                Node::Not(Box::new(Node::Or(vec![t("a1"), t("b1")]))),
                t("c1")
            ])
        );
        assert_eq!(
            p("x ~y"),
            Node::And(vec![t("x"), Node::Optional(Box::new(t("y")))])
        );
    }

    #[test]
    fn field_modifiers() {
        assert_eq!(
            p("@title:hello world"),
            Node::And(vec![
                Node::Field(vec!["title".into()], Box::new(t("hello"))),
                t("world")
            ])
        );
        assert_eq!(
            p("@title|body:(foo | bar*)"),
            Node::Field(
                vec!["title".into(), "body".into()],
                Box::new(Node::Or(vec![t("foo"), Node::Prefix("bar".into())]))
            )
        );
    }

    #[test]
    fn numeric_ranges() {
        assert_eq!(
            p("@price:[100 (200]"),
            Node::Numeric {
                field: "price".into(),
                lo: 100.0,
                lo_excl: false,
                hi: 200.0,
                hi_excl: true
            }
        );
        assert_eq!(
            p("@price:[-inf, +inf]"),
            Node::Numeric {
                field: "price".into(),
                lo: f64::NEG_INFINITY,
                lo_excl: false,
                hi: f64::INFINITY,
                hi_excl: false
            }
        );
        assert_eq!(
            p("@price:[(1.5 inf] @date:[-3 -1]"),
            Node::And(vec![
                Node::Numeric {
                    field: "price".into(),
                    lo: 1.5,
                    lo_excl: true,
                    hi: f64::INFINITY,
                    hi_excl: false
                },
                Node::Numeric {
                    field: "date".into(),
                    lo: -3.0,
                    lo_excl: false,
                    hi: -1.0,
                    hi_excl: false
                }
            ])
        );
    }

    #[test]
    fn tag_lists() {
        assert_eq!(
            p("@tags:{ red | light\\ blue | ye* }"),
            Node::Tag {
                field: "tags".into(),
                values: vec![
                    TagValue {
                        text: "red".into(),
                        prefix: false
                    },
                    TagValue {
                        text: "light blue".into(),
                        prefix: false
                    },
                    TagValue {
                        text: "ye".into(),
                        prefix: true
                    },
                ]
            }
        );
    }

    #[test]
    fn params_are_substituted() {
        assert_eq!(
            parse_with(
                "@price:[$lo $hi] $word",
                2,
                &[("lo", "1"), ("hi", "2"), ("word", "shoe")]
            )
            .unwrap(),
            Node::And(vec![
                Node::Numeric {
                    field: "price".into(),
                    lo: 1.0,
                    lo_excl: false,
                    hi: 2.0,
                    hi_excl: false
                },
                t("shoe")
            ])
        );
        assert!(parse_with("$nope", 2, &[]).unwrap_err().contains("nope"));
    }

    #[test]
    fn stopwords_are_dropped() {
        assert_eq!(p("the quick"), t("quick"));
        assert_eq!(p("the"), Node::Nothing);
        assert_eq!(
            p("\"the quick fox\""),
            Node::Phrase(vec!["quick".into(), "fox".into()])
        );
    }

    #[test]
    fn errors_carry_offsets() {
        assert_eq!(
            parse_with("@nope:foo", 2, &[]).unwrap_err(),
            "Unknown field at offset 0 near nope"
        );
        assert!(parse_with("hello (world", 2, &[])
            .unwrap_err()
            .starts_with("Syntax error at offset"));
        assert!(parse_with("@title:[1 2]", 2, &[])
            .unwrap_err()
            .contains("not a NUMERIC field"));
        assert!(parse_with("@price:[1]", 2, &[])
            .unwrap_err()
            .starts_with("Syntax error at offset 0"));
        assert!(parse_with("@tags:{a", 2, &[])
            .unwrap_err()
            .starts_with("Syntax error"));
        assert!(parse_with("hello)", 2, &[])
            .unwrap_err()
            .starts_with("Syntax error at offset 5"));
        assert!(parse_with("%fuzzy%", 2, &[]).is_err());
        assert!(parse_with("", 2, &[]).is_err());
    }
}
