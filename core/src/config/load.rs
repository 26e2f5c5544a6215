//! Layered loading with figment: defaults < TOML file < `RESPITE_*` environment < flags.
//!
//! The file and the environment go through small providers of our own rather than figment's
//! `Toml::file` and `Env`: ours report TOML syntax errors with line and column, take the
//! environment as an argument (so tests never touch the process environment), keep values of
//! string-typed keys as strings (`RESPITE_SERVER__REQUIREPASS=123` must stay a password, not
//! become an integer), and label every value with a source we can print.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use figment::error::{Actual, Kind};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider, Source};

use super::{Config, ConfigError, Problem};

/// The file used when `--config` is not given, relative to the working directory.
pub const DEFAULT_CONFIG_PATH: &str = "config/respite.toml";

/// Prefix of configuration environment variables; sections and keys are separated by `__`
/// (`RESPITE_SERVER__PORT=6380` sets `server.port`).
pub const ENV_PREFIX: &str = "RESPITE_";

const ENV_NAME: &str = "environment variable";
const FLAGS_NAME: &str = "command-line flag";

/// Command-line settings, which win over every other layer.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--config FILE`: must exist when given.
    pub config: Option<PathBuf>,
    /// `--bind`: sets `server.bind`.
    pub bind: Option<String>,
    /// `--port`: sets `server.port`.
    pub port: Option<u16>,
    /// `--db`: sets `storage.path`.
    pub db: Option<String>,
}

/// A loaded, validated configuration and the file it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedConfig {
    /// The effective configuration.
    pub config: Config,
    /// The TOML file used (absolute), for CONFIG REWRITE; `None` when running on defaults.
    pub file: Option<PathBuf>,
}

impl Config {
    /// Loads defaults < TOML file < `RESPITE_*` environment (`RESPITE_SERVER__PORT=6380`,
    /// split on `__`) < flags, then validates. Without `overrides.config`,
    /// `config/respite.toml` is used if it exists; an explicit `--config` must exist.
    pub fn load(overrides: &Overrides) -> Result<LoadedConfig, ConfigError> {
        let env = process_env()?;
        Config::load_from(overrides, env)
    }

    /// As [`Config::load`], with the environment given as `(name, value)` pairs. Only
    /// `RESPITE_SECTION__KEY` variables are read: ones without the prefix or without `__` are
    /// left to other tools.
    pub fn load_from<I>(overrides: &Overrides, env: I) -> Result<LoadedConfig, ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        load_with_default(overrides, env, Path::new(DEFAULT_CONFIG_PATH))
    }
}

/// The process environment's `RESPITE_*` variables; one that is not UTF-8 is an error, since
/// silently mangling it would run with a value the operator never wrote.
fn process_env() -> Result<Vec<(String, String)>, ConfigError> {
    let mut out = Vec::new();
    for (k, v) in std::env::vars_os() {
        let Some(name) = k.to_str() else { continue };
        if !has_prefix(name) {
            continue;
        }
        match v.into_string() {
            Ok(v) => out.push((name.to_string(), v)),
            Err(_) => return Err(not_utf8(name)),
        }
    }
    Ok(out)
}

fn not_utf8(name: &str) -> ConfigError {
    ConfigError::Invalid {
        problems: vec![Problem {
            origin: Some(format!("{ENV_NAME} {name}")),
            key: env_key(name).map(|k| k.join(".")).unwrap_or_default(),
            message: "expected a UTF-8 value".into(),
        }],
    }
}

fn has_prefix(name: &str) -> bool {
    name.len() >= ENV_PREFIX.len()
        && name.as_bytes()[..ENV_PREFIX.len()].eq_ignore_ascii_case(ENV_PREFIX.as_bytes())
}

/// `RESPITE_SERVER__TCP_KEEPALIVE` -> `["server", "tcp_keepalive"]`. `None` for variables
/// that are not configuration keys: without `__` (other tools' `RESPITE_*` variables, such as
/// a test harness's), or with an empty segment.
fn env_key(name: &str) -> Option<Vec<String>> {
    if !has_prefix(name) {
        return None;
    }
    let rest = &name[ENV_PREFIX.len()..];
    if !rest.contains("__") {
        return None;
    }
    let parts: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
    if parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    Some(parts)
}

pub(super) fn load_with_default<I>(
    overrides: &Overrides,
    env: I,
    default_path: &Path,
) -> Result<LoadedConfig, ConfigError>
where
    I: IntoIterator<Item = (String, String)>,
{
    let path = match &overrides.config {
        Some(p) => Some(p.clone()),
        None if default_path.is_file() => Some(default_path.to_path_buf()),
        None => None,
    };

    let mut figment = Figment::new();
    if let Some(path) = &path {
        figment = figment.merge(TomlFile::read(path)?);
    }
    figment = figment
        .merge(EnvVars::new(env))
        .merge(Flags::new(overrides));

    let mut config: Config = figment.extract().map_err(|e| figment_error(e, &figment))?;
    // Each built-in plugin's section is checked against the plugin's own type here, with the
    // same figment, so a bad key is reported with its file and full key path.
    for section in super::plugin_sections() {
        let key = format!("plugins.{}", section.name);
        (section.check)(&figment, &key).map_err(|e| figment_error(*e, &figment))?;
    }
    if let Err(mut e) = config.validate() {
        if let ConfigError::Invalid { problems } = &mut e {
            for p in problems.iter_mut() {
                p.origin = Some(origin_of(&figment, &p.key));
            }
        }
        return Err(e);
    }
    config.apply_redis_file();

    let file = path.map(|p| std::path::absolute(&p).unwrap_or(p));
    Ok(LoadedConfig { config, file })
}

/// Which layer set `key` (the most specific enclosing key that any layer set).
fn origin_of(figment: &Figment, key: &str) -> String {
    let parts: Vec<&str> = key.split('.').collect();
    for n in (1..=parts.len()).rev() {
        let prefix = parts[..n].join(".");
        if let Some(md) = figment.find_metadata(&prefix) {
            return describe(md, &parts);
        }
    }
    "built-in default".into()
}

/// `TOML file x.toml`, `environment variable RESPITE_SERVER__PORT`, `command-line flag --port`.
fn describe(md: &Metadata, path: &[&str]) -> String {
    match &md.source {
        Some(Source::File(p)) => format!("{} {}", md.name, p.display()),
        _ if md.name == ENV_NAME || md.name == FLAGS_NAME => {
            format!("{} {}", md.name, md.interpolate(&Profile::Default, path))
        }
        _ => md.name.to_string(),
    }
}

/// Turns figment's errors (possibly several, chained) into problems with readable messages.
fn figment_error(err: figment::Error, figment: &Figment) -> ConfigError {
    let mut problems = Vec::new();
    for e in err {
        let path: Vec<&str> = e.path.iter().map(String::as_str).collect();
        let origin = match &e.metadata {
            Some(md) => Some(describe(md, &path)),
            None if !path.is_empty() => Some(origin_of(figment, &path.join("."))),
            None => None,
        };
        let key = if path.is_empty() {
            "(top level)".to_string()
        } else {
            path.join(".")
        };
        problems.push(Problem {
            origin,
            key,
            message: kind_message(&e.kind),
        });
    }
    ConfigError::Invalid { problems }
}

fn kind_message(kind: &Kind) -> String {
    match kind {
        Kind::InvalidType(actual, exp) | Kind::InvalidValue(actual, exp) => {
            format!(
                "expected {}, found {}",
                readable_type(exp),
                readable_actual(actual)
            )
        }
        Kind::UnknownField(_, fields) => {
            format!("unknown key; expected one of {}", fields.join(", "))
        }
        Kind::UnknownVariant(found, variants) => format!(
            "expected one of {}, found {found:?}",
            variants
                .iter()
                .map(|v| format!("{v:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// serde names primitive types tersely (`u16`); operators want the accepted range.
fn readable_type(exp: &str) -> Cow<'_, str> {
    let range = |lo: i128, hi: i128| Cow::Owned(format!("an integer from {lo} to {hi}"));
    match exp {
        "u8" => range(0, u8::MAX.into()),
        "u16" => range(0, u16::MAX.into()),
        "u32" => range(0, u32::MAX.into()),
        "u64" => range(0, u64::MAX.into()),
        "i32" => range(i32::MIN.into(), i32::MAX.into()),
        "i64" => range(i64::MIN.into(), i64::MAX.into()),
        "a sequence" => Cow::Borrowed("an array"),
        s if s.starts_with("struct ") || s == "a map" => Cow::Borrowed("a table"),
        other => Cow::Borrowed(other),
    }
}

fn readable_actual(actual: &Actual) -> String {
    match actual {
        Actual::Unsigned(v) => format!("integer {v}"),
        Actual::Signed(v) => format!("integer {v}"),
        Actual::Float(v) => format!("float {v}"),
        Actual::Str(s) => format!("string {s:?}"),
        Actual::Seq => "an array".into(),
        Actual::Map => "a table".into(),
        other => other.to_string(),
    }
}

/// The TOML file, parsed up front so syntax errors carry line and column.
struct TomlFile {
    path: PathBuf,
    data: Dict,
}

impl TomlFile {
    fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                ConfigError::NotFound {
                    path: path.to_path_buf(),
                }
            } else {
                ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        let table: toml::Table =
            toml::from_str(&text).map_err(|e| syntax_error(path, &text, &e))?;
        // A toml::Table always serializes to a figment dictionary; anything else would be a
        // figment bug, reported rather than unwrapped.
        let data = Value::serialize(&table)
            .ok()
            .and_then(Value::into_dict)
            .ok_or_else(|| ConfigError::Syntax {
                path: path.to_path_buf(),
                line: 1,
                column: 1,
                message: "the document could not be converted".into(),
            })?;
        Ok(TomlFile {
            path: path.to_path_buf(),
            data,
        })
    }
}

pub(super) fn syntax_error(path: &Path, text: &str, e: &toml::de::Error) -> ConfigError {
    let (line, column) = match e.span() {
        Some(span) => line_col(text, span.start),
        None => (1, 1),
    };
    ConfigError::Syntax {
        path: path.to_path_buf(),
        line,
        column,
        message: e.message().trim().replace('\n', "; "),
    }
}

pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

impl Provider for TomlFile {
    fn metadata(&self) -> Metadata {
        Metadata::from("TOML file", Source::File(self.path.clone()))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.data.clone()))
    }
}

/// `RESPITE_*` variables as a nested dictionary.
struct EnvVars {
    data: Dict,
}

impl EnvVars {
    fn new<I: IntoIterator<Item = (String, String)>>(env: I) -> Self {
        // Typed like the defaults: a key whose default is a string keeps its value verbatim;
        // others are parsed (numbers, booleans, `[a, b]` arrays) as figment's own Env does.
        let defaults = Value::serialize(Config::default()).ok();
        let mut data = Dict::new();
        let mut vars: Vec<(String, String)> = env.into_iter().collect();
        // Later layers win within the environment too; sorting makes the result independent
        // of the iteration order when a variable is given twice with different cases.
        vars.sort();
        for (name, raw) in vars {
            let Some(path) = env_key(&name) else { continue };
            let dotted = path.join(".");
            let keep_string = defaults
                .as_ref()
                .and_then(|d| d.find_ref(&dotted))
                .is_some_and(|v| matches!(v, Value::String(..)));
            let value = if keep_string {
                Value::from(raw)
            } else {
                raw.parse::<Value>().unwrap_or_else(|never| match never {})
            };
            insert_path(&mut data, &path, value);
        }
        EnvVars { data }
    }
}

fn insert_path(dict: &mut Dict, path: &[String], value: Value) {
    match path {
        [] => {}
        [last] => {
            dict.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = dict
                .entry(first.clone())
                .or_insert_with(|| Value::from(Dict::new()));
            if !matches!(entry, Value::Dict(..)) {
                *entry = Value::from(Dict::new());
            }
            if let Value::Dict(_, inner) = entry {
                insert_path(inner, rest, value);
            }
        }
    }
}

impl Provider for EnvVars {
    fn metadata(&self) -> Metadata {
        Metadata::named(ENV_NAME).interpolater(|_: &Profile, keys: &[&str]| {
            format!("{ENV_PREFIX}{}", keys.join("__").to_ascii_uppercase())
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.data.clone()))
    }
}

/// Command-line flags.
struct Flags {
    data: Dict,
}

impl Flags {
    fn new(o: &Overrides) -> Self {
        let mut data = Dict::new();
        let mut set = |path: [&str; 2], v: Value| {
            insert_path(&mut data, &path.map(String::from), v);
        };
        if let Some(bind) = &o.bind {
            set(["server", "bind"], Value::from(bind.clone()));
        }
        if let Some(port) = o.port {
            set(["server", "port"], Value::from(port));
        }
        if let Some(db) = &o.db {
            set(["storage", "path"], Value::from(db.clone()));
        }
        Flags { data }
    }
}

impl Provider for Flags {
    fn metadata(&self) -> Metadata {
        Metadata::named(FLAGS_NAME).interpolater(|_: &Profile, keys: &[&str]| {
            match keys {
                ["server", "bind", ..] => "--bind",
                ["server", "port", ..] => "--port",
                ["storage", "path", ..] => "--db",
                _ => "(unknown flag)",
            }
            .to_string()
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.data.clone()))
    }
}
