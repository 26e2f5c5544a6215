//! An index's definition: FT.CREATE's arguments parsed ([`IndexDef::parse`]), and the schema
//! fields FT.ALTER adds ([`parse_fields`]). The definition is persisted as the arguments
//! themselves ([`IndexDef::args`]), so a restart parses exactly what the user gave.

use bytes::Bytes;

use crate::query::FieldKind;

/// RediSearch's default stopwords.
pub const DEFAULT_STOPWORDS: &[&str] = &[
    "a", "is", "the", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into",
    "it", "no", "not", "of", "on", "or", "such", "that", "their", "then", "there", "these", "they",
    "this", "to", "was", "will", "with",
];

/// Languages RediSearch knows; only English has a stemmer here (FTS5's Porter stemmer).
const LANGUAGES: &[&str] = &[
    "arabic",
    "armenian",
    "basque",
    "catalan",
    "danish",
    "dutch",
    "english",
    "finnish",
    "french",
    "german",
    "greek",
    "hindi",
    "hungarian",
    "indonesian",
    "irish",
    "italian",
    "lithuanian",
    "nepali",
    "norwegian",
    "portuguese",
    "romanian",
    "russian",
    "serbian",
    "spanish",
    "swedish",
    "tamil",
    "turkish",
    "yiddish",
    "chinese",
];

/// A field's type and its options.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldType {
    /// Full text, in the index's FTS5 table.
    Text {
        /// Its weight in scoring (bm25's column weight).
        weight: f64,
        /// Not stemmed (RediSearch's NOSTEM).
        nostem: bool,
    },
    /// Numbers.
    Numeric,
    /// Exact values split on a separator.
    Tag {
        /// The separator (`,` by default).
        separator: char,
        /// Whether values keep their case.
        case_sensitive: bool,
    },
}

/// One schema field.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    /// The hash field it reads.
    pub path: String,
    /// The name queries use (`AS alias`, else the path).
    pub name: String,
    /// Type and options.
    pub kind: FieldType,
    /// SORTABLE.
    pub sortable: bool,
    /// NOINDEX: kept for SORTBY only, not searchable.
    pub noindex: bool,
}

impl Field {
    /// The query parser's view of the field.
    pub fn query_kind(&self) -> FieldKind {
        match self.kind {
            FieldType::Text { .. } => FieldKind::Text,
            FieldType::Numeric => FieldKind::Numeric,
            FieldType::Tag { .. } => FieldKind::Tag,
        }
    }

    /// RediSearch's type name.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            FieldType::Text { .. } => "TEXT",
            FieldType::Numeric => "NUMERIC",
            FieldType::Tag { .. } => "TAG",
        }
    }
}

/// An index's definition.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexDef {
    /// Key prefixes whose hashes are indexed (every key when empty).
    pub prefixes: Vec<Bytes>,
    /// LANGUAGE (lowercase).
    pub language: String,
    /// STOPWORDS (lowercase); RediSearch's list by default.
    pub stopwords: Vec<String>,
    /// SKIPINITIALSCAN: existing keys are not indexed.
    pub skip_initial_scan: bool,
    /// The schema.
    pub fields: Vec<Field>,
    /// The arguments after the index name, as given, for persistence.
    pub args: Vec<Bytes>,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn upper(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_ascii_uppercase()
}

fn count(arg: Option<&Bytes>, what: &str) -> Result<usize, String> {
    arg.and_then(|a| std::str::from_utf8(a).ok())
        .and_then(|s| s.parse::<usize>().ok())
        .ok_or_else(|| {
            format!("Bad arguments for {what}: Could not convert argument to expected type")
        })
}

impl IndexDef {
    /// Parses FT.CREATE's arguments after the index name.
    pub fn parse(args: &[Bytes]) -> Result<IndexDef, String> {
        let mut def = IndexDef {
            prefixes: Vec::new(),
            language: "english".into(),
            stopwords: DEFAULT_STOPWORDS.iter().map(|s| s.to_string()).collect(),
            skip_initial_scan: false,
            fields: Vec::new(),
            args: args.to_vec(),
        };
        let mut i = 0;
        while i < args.len() {
            let opt = upper(&args[i]);
            i += 1;
            match opt.as_str() {
                "ON" => {
                    let Some(kind) = args.get(i) else {
                        return Err("Bad arguments for ON: Expected an argument".into());
                    };
                    match upper(kind).as_str() {
                        "HASH" => {}
                        "JSON" => {
                            return Err("JSON indexes are not supported (ON HASH only)".into())
                        }
                        _ => return Err(format!("Unknown argument `{}`", text(kind))),
                    }
                    i += 1;
                }
                "PREFIX" => {
                    let n = count(args.get(i), "PREFIX")?;
                    i += 1;
                    if i + n > args.len() {
                        return Err(
                            "Bad arguments for PREFIX: Expected an argument, but none provided"
                                .into(),
                        );
                    }
                    def.prefixes.extend(args[i..i + n].iter().cloned());
                    i += n;
                }
                "LANGUAGE" => {
                    let Some(lang) = args.get(i) else {
                        return Err("Bad arguments for LANGUAGE: Expected an argument".into());
                    };
                    let lang = text(lang).to_lowercase();
                    if !LANGUAGES.contains(&lang.as_str()) {
                        return Err("Invalid language".into());
                    }
                    def.language = lang;
                    i += 1;
                }
                "STOPWORDS" => {
                    let n = count(args.get(i), "STOPWORDS")?;
                    i += 1;
                    if i + n > args.len() {
                        return Err(
                            "Bad arguments for STOPWORDS: Expected an argument, but none provided"
                                .into(),
                        );
                    }
                    def.stopwords = args[i..i + n]
                        .iter()
                        .map(|w| text(w).to_lowercase())
                        .collect();
                    i += n;
                }
                "SKIPINITIALSCAN" => def.skip_initial_scan = true,
                // Storage hints of RediSearch's own index format: nothing to change in FTS5's.
                "NOOFFSETS" | "NOHL" | "NOFIELDS" | "NOFREQS" | "MAXTEXTFIELDS" => {}
                "SCORE" | "LANGUAGE_FIELD" | "SCORE_FIELD" | "PAYLOAD_FIELD" => {
                    return Err(format!("{opt} is not supported by this server"));
                }
                "FILTER" => return Err("FILTER is not supported by this server".into()),
                "TEMPORARY" => return Err("TEMPORARY is not supported by this server".into()),
                "SCHEMA" => {
                    parse_fields(&args[i..], &mut def.fields)?;
                    if def.fields.is_empty() {
                        return Err("Fields arguments are missing".into());
                    }
                    return Ok(def);
                }
                _ => return Err(format!("Unknown argument `{}`", text(&args[i - 1]))),
            }
        }
        Err("No schema found".into())
    }

    /// The field queries call `name`.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The TEXT fields, in FTS5 column order.
    pub fn text_fields(&self) -> impl Iterator<Item = &Field> {
        self.fields
            .iter()
            .filter(|f| matches!(f.kind, FieldType::Text { .. }))
    }

    /// The FTS5 column (`c0`, `c1`, ...) of a TEXT field.
    pub fn text_column(&self, name: &str) -> Option<usize> {
        self.text_fields().position(|f| f.name == name)
    }

    /// Whether terms are stemmed: English and at least one TEXT field without NOSTEM (FTS5
    /// tokenizes a table one way, not per column).
    pub fn stemmed(&self) -> bool {
        self.language == "english"
            && self
                .text_fields()
                .any(|f| matches!(f.kind, FieldType::Text { nostem: false, .. }))
    }

    /// Whether the key belongs to the index.
    pub fn matches(&self, key: &[u8]) -> bool {
        self.prefixes.is_empty() || self.prefixes.iter().any(|p| key.starts_with(p))
    }
}

/// Parses schema fields (`name [AS alias] TYPE [options]...`) onto `fields`.
pub fn parse_fields(args: &[Bytes], fields: &mut Vec<Field>) -> Result<(), String> {
    let mut i = 0;
    while i < args.len() {
        let path = text(&args[i]);
        i += 1;
        let mut name = path.clone();
        if args.get(i).is_some_and(|a| upper(a) == "AS") {
            let Some(alias) = args.get(i + 1) else {
                return Err(format!("Field `{path}`: AS needs an alias"));
            };
            name = text(alias);
            i += 2;
        }
        let Some(kind) = args.get(i) else {
            return Err(format!("Field `{path}` does not have a type"));
        };
        i += 1;
        let mut field = Field {
            path: path.clone(),
            name: name.clone(),
            kind: match upper(kind).as_str() {
                "TEXT" => FieldType::Text {
                    weight: 1.0,
                    nostem: false,
                },
                "NUMERIC" => FieldType::Numeric,
                "TAG" => FieldType::Tag {
                    separator: ',',
                    case_sensitive: false,
                },
                "GEO" | "VECTOR" | "GEOSHAPE" => {
                    return Err(format!(
                        "Field `{path}`: {} fields are not supported by this server",
                        upper(kind)
                    ))
                }
                _ => return Err(format!("Invalid field type for field `{path}`")),
            },
            sortable: false,
            noindex: false,
        };
        // Options until the next field's name.
        while let Some(opt) = args.get(i) {
            let o = upper(opt);
            match (o.as_str(), &mut field.kind) {
                ("SORTABLE", _) => {
                    field.sortable = true;
                    if args.get(i + 1).is_some_and(|a| upper(a) == "UNF") {
                        i += 1;
                    }
                }
                ("NOINDEX", _) => field.noindex = true,
                ("WEIGHT", FieldType::Text { weight, .. }) => {
                    let w = args
                        .get(i + 1)
                        .and_then(|a| std::str::from_utf8(a).ok())
                        .and_then(|s| s.parse::<f64>().ok())
                        .filter(|w| w.is_finite() && *w >= 0.0)
                        .ok_or_else(|| {
                            "Bad arguments for WEIGHT: Could not convert argument to expected type"
                                .to_string()
                        })?;
                    *weight = w;
                    i += 1;
                }
                ("NOSTEM", FieldType::Text { nostem, .. }) => *nostem = true,
                ("PHONETIC", FieldType::Text { .. }) => {
                    return Err("PHONETIC is not supported by this server".into())
                }
                ("WITHSUFFIXTRIE", FieldType::Text { .. } | FieldType::Tag { .. }) => {
                    return Err("WITHSUFFIXTRIE is not supported by this server".into())
                }
                ("SEPARATOR", FieldType::Tag { separator, .. }) => {
                    let sep = args.get(i + 1).map(|a| text(a)).unwrap_or_default();
                    let mut chars = sep.chars();
                    match (chars.next(), chars.next()) {
                        (Some(c), None) => *separator = c,
                        _ => return Err("Tag separator must be a single character".into()),
                    }
                    i += 1;
                }
                ("CASESENSITIVE", FieldType::Tag { case_sensitive, .. }) => *case_sensitive = true,
                ("INDEXEMPTY" | "INDEXMISSING", _) => {
                    return Err(format!("{o} is not supported by this server"))
                }
                _ => break,
            }
            i += 1;
        }
        if fields.iter().any(|f| f.name == name) {
            return Err(format!("Duplicate field in schema - {name}"));
        }
        fields.push(field);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<Bytes> {
        s.split_whitespace()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    #[test]
    fn parses_a_full_definition() {
        let def = IndexDef::parse(&args(
            "ON HASH PREFIX 2 doc: blog: LANGUAGE English STOPWORDS 1 foo SCHEMA title TEXT WEIGHT 5.0 SORTABLE body TEXT NOSTEM price NUMERIC SORTABLE tags AS t TAG SEPARATOR ; CASESENSITIVE",
        ))
        .unwrap();
        assert_eq!(
            def.prefixes,
            vec![Bytes::from("doc:"), Bytes::from("blog:")]
        );
        assert_eq!(def.stopwords, vec!["foo".to_string()]);
        assert_eq!(def.fields.len(), 4);
        assert_eq!(
            def.fields[0].kind,
            FieldType::Text {
                weight: 5.0,
                nostem: false
            }
        );
        assert!(def.fields[0].sortable);
        assert_eq!(def.fields[3].name, "t");
        assert_eq!(def.fields[3].path, "tags");
        assert_eq!(
            def.fields[3].kind,
            FieldType::Tag {
                separator: ';',
                case_sensitive: true
            }
        );
        assert_eq!(def.text_column("body"), Some(1));
        assert!(def.matches(b"blog:1") && !def.matches(b"other"));
    }

    #[test]
    fn rejects_bad_definitions() {
        assert_eq!(
            IndexDef::parse(&args("ON HASH")).unwrap_err(),
            "No schema found"
        );
        assert!(IndexDef::parse(&args("SCHEMA a FOO"))
            .unwrap_err()
            .contains("Invalid field type"));
        assert!(IndexDef::parse(&args("SCHEMA a TEXT a NUMERIC"))
            .unwrap_err()
            .contains("Duplicate field"));
        assert!(IndexDef::parse(&args("PREFIX x SCHEMA a TEXT")).is_err());
        assert!(IndexDef::parse(&args("SCHEMA")).is_err());
    }
}
