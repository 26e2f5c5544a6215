//! CONFIG REWRITE: write the running values back into the TOML file, keeping the operator's
//! comments, ordering and formatting, and touching only values that changed.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use toml_edit::{DocumentMut, Item, Table, Value};

use super::load::line_col;
use super::params::{params, ConfigParam, ParamKind};
use super::{ByteSize, Config, ConfigError, Problem};

impl Config {
    /// CONFIG REWRITE: updates `file` in place, keeping its comments and layout, writing each
    /// parameter whose value differs from the file's (or from the default when the file lacks
    /// it). The new file replaces the old one atomically (temporary file + rename); a missing
    /// file is created.
    pub fn rewrite(&self, file: &Path) -> Result<(), ConfigError> {
        // Write through a symlink to its target rather than replacing the link.
        let target = fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
        let (text, existed) = match fs::read_to_string(&target) {
            Ok(text) => (text, true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => (String::new(), false),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: file.to_path_buf(),
                    source,
                })
            }
        };
        let mut doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
            let (line, column) = e.span().map(|s| line_col(&text, s.start)).unwrap_or((1, 1));
            ConfigError::Syntax {
                path: file.to_path_buf(),
                line,
                column,
                message: e.message().trim().replace('\n', "; "),
            }
        })?;

        let defaults = Config::default();
        let mut changed = false;
        for param in params().iter().filter(|p| p.in_file()) {
            let Some((section, field)) = param.key.split_once('.') else {
                continue;
            };
            let want = (param.get)(self);
            let have = match doc.get(section).and_then(|s| s.get(field)) {
                Some(item) => file_value(param, item),
                None => Some((param.get)(&defaults)),
            };
            if have.as_deref() == Some(want.as_str()) {
                continue;
            }
            let value = toml_value(param, &want);
            // Only now create a missing section, so that unchanged ones never appear empty.
            let table = section_mut(&mut doc, section, file)?;
            match table.get_mut(field) {
                Some(item) => match item.as_value_mut() {
                    Some(old) => {
                        // Keep the comment that trails the old value on its line.
                        let decor = old.decor().clone();
                        *old = value;
                        *old.decor_mut() = decor;
                    }
                    None => *item = Item::Value(value),
                },
                None => {
                    table.insert(field, Item::Value(value));
                }
            }
            changed = true;
        }

        if changed || !existed {
            write_atomically(&target, doc.to_string().as_bytes()).map_err(|source| {
                ConfigError::Write {
                    path: file.to_path_buf(),
                    source,
                }
            })?;
        }
        Ok(())
    }
}

/// The `[section]` table, created at the end of the document when absent.
fn section_mut<'d>(
    doc: &'d mut DocumentMut,
    section: &str,
    file: &Path,
) -> Result<&'d mut dyn toml_edit::TableLike, ConfigError> {
    let root = doc.as_table_mut();
    if !root.contains_key(section) {
        root.insert(section, Item::Table(Table::new()));
    }
    root.get_mut(section)
        .and_then(Item::as_table_like_mut)
        .ok_or_else(|| ConfigError::Invalid {
            problems: vec![Problem {
                origin: Some(format!("TOML file {}", file.display())),
                key: section.to_string(),
                message: "expected a table".into(),
            }],
        })
}

/// What the file's entry means, in CONFIG GET form; `None` when it does not parse, so that it
/// is overwritten with the running value.
fn file_value(param: &ConfigParam, item: &Item) -> Option<String> {
    let raw = match item.as_value()? {
        Value::String(s) => s.value().clone(),
        Value::Integer(i) => i.value().to_string(),
        Value::Boolean(b) => if *b.value() { "yes" } else { "no" }.to_string(),
        _ => return None,
    };
    let mut scratch = Config::default();
    (param.set)(&mut scratch, raw.as_bytes()).ok()?;
    Some((param.get)(&scratch))
}

/// The TOML form of a CONFIG GET value; sizes are written with a unit when exact (`"1gb"`)
/// because that is how people write them.
fn toml_value(param: &ConfigParam, printed: &str) -> Value {
    let integer = || match printed.parse::<i64>() {
        Ok(n) => Value::from(n),
        Err(_) => Value::from(printed),
    };
    match param.kind {
        ParamKind::Str => Value::from(printed),
        ParamKind::Bool => Value::from(printed == "yes"),
        ParamKind::Int => integer(),
        ParamKind::Size => match printed.parse::<u64>().map(|n| ByteSize(n).to_human()) {
            Ok(human) if human != printed => Value::from(human),
            _ => integer(),
        },
    }
}

/// Writes a sibling temporary file, syncs it, and renames it over `path`, so a crash leaves
/// either the old file or the new one, never a torn mix.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "respite.toml".into());
    let tmp = dir.join(format!(".{name}.rewrite-{}", std::process::id()));

    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        if let Ok(meta) = fs::metadata(path) {
            fs::set_permissions(&tmp, meta.permissions())?;
        }
        fs::rename(&tmp, path)?;
        // Make the rename itself durable; not every platform can open a directory.
        if let Ok(d) = fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
