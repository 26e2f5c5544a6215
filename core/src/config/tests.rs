use std::path::{Path, PathBuf};

use super::load::load_with_default;
use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Writes `text` to a fresh config file and returns (dir guard, path).
fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("respite.toml");
    std::fs::write(&path, text).expect("write");
    (dir, path)
}

fn with_file(path: &Path) -> Overrides {
    Overrides {
        config: Some(path.to_path_buf()),
        ..Overrides::default()
    }
}

/// Loads `text` as the config file with `vars` as the environment; the error text if any.
fn load_text(text: &str, vars: &[(&str, &str)]) -> (Result<LoadedConfig, String>, PathBuf) {
    let (_dir, path) = file(text);
    let r = Config::load_from(&with_file(&path), env(vars)).map_err(|e| e.to_string());
    (r, path)
}

fn load_err(text: &str, vars: &[(&str, &str)]) -> (String, PathBuf) {
    let (r, path) = load_text(text, vars);
    match r {
        Ok(c) => panic!("expected an error, got {:?}", c.config),
        Err(e) => (e, path),
    }
}

fn assert_contains(haystack: &str, needles: &[&str]) {
    for n in needles {
        assert!(haystack.contains(n), "{haystack:?} should contain {n:?}");
    }
}

fn shipped_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/respite.toml")
}

#[test]
fn shipped_file_is_the_defaults() {
    // This test program links no plugin, so the shipped `enabled = ["blocking"]` would be an
    // unknown name here: the binary's own test (tests/config_loading.rs) checks that line.
    let vars = env(&[("RESPITE_PLUGINS__ENABLED", "[]")]);
    let loaded = Config::load_from(&with_file(&shipped_file()), vars).expect("loads");
    assert_eq!(loaded.config, Config::default());
    assert!(loaded.file.is_some_and(|f| f.is_absolute()));
}

#[test]
fn shipped_file_documents_every_option() {
    let text = std::fs::read_to_string(shipped_file()).expect("read");
    for p in params().iter().filter(|p| p.in_file()) {
        let env_name = format!("RESPITE_{}", p.key.replace('.', "__").to_ascii_uppercase());
        let (_, field) = p.key.split_once('.').expect("dotted key");
        assert_contains(
            &text,
            &[
                &format!("CONFIG: {} ", p.name),
                &env_name,
                &format!("\n{field} = "),
            ],
        );
    }
    assert_contains(
        &text,
        &["[plugins]", "enabled = [\"blocking\"]", "[plugins.NAME]"],
    );
}

#[test]
fn no_file_means_defaults() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope.toml");
    let loaded = load_with_default(&Overrides::default(), env(&[]), &missing).expect("loads");
    assert_eq!(loaded.config, Config::default());
    assert_eq!(loaded.file, None);
}

#[test]
fn default_path_is_used_when_present() {
    let (_dir, path) = file("[server]\nport = 7777\n");
    let loaded = load_with_default(&Overrides::default(), env(&[]), &path).expect("loads");
    assert_eq!(loaded.config.server.port, 7777);
    assert!(loaded.file.is_some());
}

#[test]
fn explicit_missing_file_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("absent.toml");
    let err = Config::load_from(&with_file(&missing), env(&[])).expect_err("must fail");
    assert!(matches!(err, ConfigError::NotFound { .. }));
    assert_contains(&err.to_string(), &["absent.toml", "does not exist"]);
}

#[test]
fn layers_override_in_order() {
    let text = "[server]\nport = 7000\nmaxclients = 5\n[storage]\npath = \"file.db\"\n";
    let (r, _) = load_text(text, &[]);
    let c = r.expect("loads").config;
    assert_eq!((c.server.port, c.server.maxclients), (7000, 5));

    let vars = [
        ("RESPITE_SERVER__PORT", "7001"),
        ("RESPITE_STORAGE__CACHE_MAX_BYTES", "64mb"),
        ("RESPITE_SERVER__REQUIREPASS", "123"),
        ("RESPITE_STORAGE__SYNCHRONOUS", "full"),
        ("RESPITE_LOG__LEVEL", "debug"),
        ("RESPITE_BIN", "/not/a/config/key"),
        ("HOME", "/elsewhere"),
    ];
    let (r, _) = load_text(text, &vars);
    let c = r.expect("loads").config;
    assert_eq!(c.server.port, 7001);
    assert_eq!(c.server.maxclients, 5, "file value kept");
    assert_eq!(c.storage.cache_max_bytes, ByteSize::mb(64));
    assert_eq!(c.server.requirepass, "123", "string keys stay strings");
    assert_eq!(c.storage.synchronous, Synchronous::Full);
    assert_eq!(c.log.level, "debug");

    let (_dir, path) = file(text);
    let flags = Overrides {
        config: Some(path),
        bind: Some("0.0.0.0 ::1".into()),
        port: Some(7002),
        db: Some(":memory:".into()),
    };
    let c = Config::load_from(&flags, env(&vars)).expect("loads").config;
    assert_eq!(c.server.port, 7002);
    assert_eq!(c.server.bind, "0.0.0.0 ::1");
    assert_eq!(c.storage.path, ":memory:");
}

#[test]
fn sizes_accept_integers_and_units() {
    let (r, _) = load_text(
        "[server]\nproto_max_bulk_len = 2097152\nclient_query_buffer_limit = \"2GB\"\n",
        &[],
    );
    let s = r.expect("loads").config.server;
    assert_eq!(s.proto_max_bulk_len, ByteSize::mb(2));
    assert_eq!(s.client_query_buffer_limit, ByteSize::gb(2));
}

#[test]
fn unknown_key_names_file_key_and_choices() {
    let (e, path) = load_err("[server]\nprot = 1\n", &[]);
    assert_contains(
        &e,
        &[
            &path.display().to_string(),
            "server.prot",
            "unknown key",
            "port",
        ],
    );
    let (e, _) = load_err("[srever]\nport = 1\n", &[]);
    assert_contains(&e, &["srever", "unknown key", "server"]);
}

#[test]
fn wrong_type_names_file_key_and_expectation() {
    let (e, path) = load_err("[server]\nport = \"abc\"\n", &[]);
    assert_contains(
        &e,
        &[
            &path.display().to_string(),
            "server.port",
            "expected an integer from 0 to 65535",
            "\"abc\"",
        ],
    );
    let (e, _) = load_err("[server]\nport = 70000\n", &[]);
    assert_contains(&e, &["server.port", "0 to 65535", "70000"]);
    let (e, _) = load_err("[server]\nproto_max_bulk_len = \"lots\"\n", &[]);
    assert_contains(
        &e,
        &["server.proto_max_bulk_len", "a size in bytes", "\"lots\""],
    );
    let (e, _) = load_err("[storage]\npage_cache_bytes = \"100kb\"\n", &[]);
    assert_contains(
        &e,
        &[
            "storage.page_cache_bytes",
            "0 (a quarter of cache_max_bytes and what the hot cache leaves unused)",
            "1048576",
        ],
    );
    let (e, _) = load_err("[storage]\ndurability = \"sometimes\"\n", &[]);
    assert_contains(
        &e,
        &[
            "storage.durability",
            "\"commit\"",
            "\"write-behind\"",
            "sometimes",
        ],
    );
    let (e, _) = load_err("server = 5\n", &[]);
    assert_contains(&e, &["server: expected a table, found integer 5"]);
}

#[test]
fn impossible_values_name_file_key_and_expectation() {
    let (e, path) = load_err("[server]\nmaxclients = 0\n", &[]);
    assert_contains(
        &e,
        &[
            &path.display().to_string(),
            "server.maxclients",
            "expected an integer >= 1",
            "0",
        ],
    );
    let (e, _) = load_err("[server]\ndatabases = 2000\n", &[]);
    assert_contains(&e, &["server.databases", "1 to 1024", "2000"]);
    let (e, _) = load_err("[server]\nbind = \"localhost:6379\"\n", &[]);
    assert_contains(&e, &["server.bind", "IP address", "localhost:6379"]);
    let (e, _) = load_err("[server]\nproto_max_bulk_len = \"1kb\"\n", &[]);
    assert_contains(&e, &["server.proto_max_bulk_len", "1mb", "1024"]);
    let (e, _) = load_err("[log]\nlevel = \"loud\"\n", &[]);
    assert_contains(
        &e,
        &["log.level", "error, warn, info, debug, trace", "loud"],
    );
    let (e, _) = load_err("[storage]\npath = \"\"\n", &[]);
    assert_contains(&e, &["storage.path", ":memory:"]);
}

#[test]
fn several_problems_are_all_reported() {
    let (e, _) = load_err("[server]\nmaxclients = 0\ndatabases = 0\n", &[]);
    assert_contains(&e, &["server.maxclients", "server.databases"]);
}

#[test]
fn write_behind_needs_the_journal() {
    let (e, path) = load_err(
        "[storage]\ndurability = \"write-behind\"\nmerge_interval_ms = 0\n",
        &[],
    );
    assert_contains(
        &e,
        &[
            &path.display().to_string(),
            "storage.durability",
            "merge_interval_ms = 0",
        ],
    );
    let (e, _) = load_err("[storage]\nflush_interval_ms = 0\n", &[]);
    assert_contains(&e, &["storage.flush_interval_ms", "found 0"]);
}

#[test]
fn unknown_plugins_are_refused() {
    let (e, path) = load_err("[plugins]\nenabled = [\"turbo\"]\n", &[]);
    assert_contains(
        &e,
        &[&path.display().to_string(), "plugins.enabled", "\"turbo\""],
    );
    let (e, path) = load_err("[plugins.turbo]\nspeed = 11\n", &[]);
    assert_contains(
        &e,
        &[
            &path.display().to_string(),
            "plugins.turbo",
            "unknown plugin",
        ],
    );
    let (e, _) = load_err("[plugins]\nenabled = \"turbo\"\n", &[]);
    assert_contains(&e, &["plugins.enabled", "expected an array", "\"turbo\""]);

    // The hook for the plugin issue: a known name passes.
    let mut c = Config::default();
    c.plugins.enabled = vec!["blocking".into()];
    c.plugins
        .sections
        .insert("blocking".into(), toml::Value::Table(toml::Table::new()));
    assert!(c.validate().is_err());
    assert!(c.validate_with_plugins(&["blocking"]).is_ok());
    c.plugins.enabled.push("blocking".into());
    let e = c.validate_with_plugins(&["blocking"]).expect_err("twice");
    assert_contains(&e.to_string(), &["listed twice"]);
}

#[test]
fn plugin_sections_deserialize_into_typed_structs() {
    #[derive(serde::Deserialize, Default, Debug, PartialEq)]
    #[serde(deny_unknown_fields, default)]
    struct Blocking {
        max_waiters: u32,
    }
    let mut table = toml::Table::new();
    table.insert("max_waiters".into(), toml::Value::Integer(7));
    let mut c = Config::default();
    c.plugins
        .sections
        .insert("blocking".into(), toml::Value::Table(table));
    let b: Blocking = c.plugin_section("blocking").expect("typed");
    assert_eq!(b.max_waiters, 7);
    assert_eq!(
        c.plugin_section::<Blocking>("other").expect("default"),
        Blocking::default()
    );
    c.plugins
        .sections
        .insert("bad".into(), toml::Value::Integer(1));
    let e = c
        .plugin_section::<Blocking>("bad")
        .expect_err("not a table");
    assert_contains(&e.to_string(), &["plugins.bad"]);
}

#[test]
fn invalid_toml_names_file_and_position() {
    let (e, path) = load_err("[server]\nport = \n", &[]);
    assert_contains(
        &e,
        &[
            &path.display().to_string(),
            "line 2",
            "column",
            "invalid TOML",
        ],
    );
    let (e, _) = load_err("[server]\nport = 1\nport = 2\n", &[]);
    assert_contains(&e, &["line 3", "port"]);
}

#[test]
fn env_errors_name_the_variable() {
    let (e, _) = load_err("", &[("RESPITE_SERVER__PORT", "abc")]);
    assert_contains(
        &e,
        &[
            "environment variable RESPITE_SERVER__PORT",
            "server.port",
            "0 to 65535",
        ],
    );
    let (e, _) = load_err("", &[("RESPITE_SERVER__MAXCLIENTS", "0")]);
    assert_contains(
        &e,
        &["RESPITE_SERVER__MAXCLIENTS", "server.maxclients", ">= 1"],
    );
    let (e, _) = load_err("", &[("RESPITE_PLUGINS__ENABLED", "[\"turbo\", other]")]);
    assert_contains(
        &e,
        &[
            "RESPITE_PLUGINS__ENABLED",
            "plugins.enabled",
            "\"turbo\"",
            "\"other\"",
        ],
    );
    let (e, _) = load_err("", &[("RESPITE_SERVER__NOPE", "1")]);
    assert_contains(&e, &["RESPITE_SERVER__NOPE", "server.nope", "unknown key"]);
}

#[test]
fn flag_errors_name_the_flag() {
    let flags = Overrides {
        bind: Some("nowhere".into()),
        ..Overrides::default()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let e = load_with_default(&flags, env(&[]), &dir.path().join("none.toml"))
        .expect_err("bad bind")
        .to_string();
    assert_contains(&e, &["command-line flag --bind", "server.bind", "nowhere"]);
}

#[test]
fn to_toml_round_trips() {
    let mut c = Config::default();
    c.server.port = 6390;
    c.server.requirepass = "s3cret \"quoted\"".into();
    c.storage.synchronous = Synchronous::Full;
    let mut section = toml::Table::new();
    section.insert("limit".into(), toml::Value::Integer(3));
    c.plugins
        .sections
        .insert("demo".into(), toml::Value::Table(section));
    let text = c.to_toml();
    let back: Config = toml::from_str(&text).expect("parses");
    assert_eq!(back, c);
    assert_contains(
        &text,
        &["[server]", "port = 6390", "proto_max_bulk_len = 536870912"],
    );
}

fn get(c: &Config, patterns: &[&str]) -> Vec<(String, String)> {
    let pats: Vec<&[u8]> = patterns.iter().map(|p| p.as_bytes()).collect();
    c.get_params(&pats)
}

#[test]
fn config_get() {
    let c = Config::default();
    let all = get(&c, &["*"]);
    let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, crate::config::param_names(), "table order");
    let table: Vec<&str> = params().iter().map(|p| p.name).collect();
    assert_eq!(
        names[..table.len()],
        table,
        "Respite's own parameters first"
    );
    for (i, name) in names.iter().enumerate() {
        assert!(!names[..i].contains(name), "{name} twice");
    }

    let pair = |n: &str, v: &str| (n.to_string(), v.to_string());
    assert_eq!(get(&c, &["maxclients"]), vec![pair("maxclients", "10000")]);
    assert_eq!(get(&c, &["MAXCLIENTS"]), vec![pair("maxclients", "10000")]);
    assert_eq!(
        get(&c, &["proto-max-bulk-len"]),
        vec![pair("proto-max-bulk-len", "536870912")]
    );
    assert_eq!(
        get(&c, &["save", "appendonly"]),
        vec![pair("appendonly", "no"), pair("save", "")]
    );
    assert_eq!(
        get(&c, &["port", "pro*", "bind"]),
        vec![
            pair("bind", "127.0.0.1"),
            pair("port", "6379"),
            pair("protected-mode", "yes"),
            pair("proto-max-bulk-len", "536870912"),
            pair("proc-title-template", "{title} {listen-addr} {server-mode}"),
            pair("propagation-error-behavior", "ignore"),
        ]
    );
    assert_eq!(
        get(&c, &["synchronous"]),
        vec![pair("synchronous", "normal")]
    );
    assert_eq!(get(&c, &["durability"]), vec![pair("durability", "commit")]);
    assert_eq!(get(&c, &["loglevel"]), vec![pair("loglevel", "info")]);
    assert!(get(&c, &["nothing*"]).is_empty());
}

fn set(c: &mut Config, pairs: &[(&str, &str)]) -> Result<(), String> {
    let pairs: Vec<(&[u8], &[u8])> = pairs
        .iter()
        .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
        .collect();
    c.set_params(&pairs)
}

#[test]
fn config_set_applies_values() {
    let mut c = Config::default();
    set(
        &mut c,
        &[
            ("maxclients", "50"),
            ("TIMEOUT", "30"),
            ("proto-max-bulk-len", "2mb"),
            ("client-query-buffer-limit", "1073741824"),
            ("synchronous", "FULL"),
            ("requirepass", "pw"),
            ("cache-max-bytes", "0"),
            ("tcp-keepalive", "0"),
        ],
    )
    .expect("set");
    assert_eq!(c.server.maxclients, 50);
    assert_eq!(c.server.timeout, 30);
    assert_eq!(c.server.proto_max_bulk_len, ByteSize::mb(2));
    assert_eq!(c.server.client_query_buffer_limit, ByteSize::gb(1));
    assert_eq!(c.storage.synchronous, Synchronous::Full);
    assert_eq!(c.server.requirepass, "pw");
    assert_eq!(c.storage.cache_max_bytes, ByteSize(0));
    assert_eq!(c.server.tcp_keepalive, 0);
}

#[test]
fn config_set_errors_are_redis_texts_and_atomic() {
    let mut c = Config::default();
    let before = c.clone();
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("foo", "1")],
            "Unknown option or number of arguments for CONFIG SET - 'foo'",
        ),
        (
            &[("port", "1")],
            "CONFIG SET failed (possibly related to argument 'port') - can't set immutable config",
        ),
        (
            &[("save", "100")],
            "CONFIG SET failed (possibly related to argument 'save') - Invalid save parameters",
        ),
        (
            &[("daemonize", "yes")],
            "CONFIG SET failed (possibly related to argument 'daemonize') - can't set immutable config",
        ),
        (
            &[("dir", "/")],
            "CONFIG SET failed (possibly related to argument 'dir') - can't set protected config",
        ),
        (
            &[("hz", "5"), ("maxmemory-policy", "sometimes")],
            "CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction",
        ),
        (
            &[("maxclients", "abc")],
            "CONFIG SET failed (possibly related to argument 'maxclients') - argument couldn't be parsed into an integer",
        ),
        (
            &[("maxclients", "0")],
            "CONFIG SET failed (possibly related to argument 'maxclients') - argument must be between 1 and 4294967295 inclusive",
        ),
        (
            &[("proto-max-bulk-len", "big")],
            "CONFIG SET failed (possibly related to argument 'proto-max-bulk-len') - argument must be a memory value",
        ),
        (
            &[("proto-max-bulk-len", "1kb")],
            "CONFIG SET failed (possibly related to argument 'proto-max-bulk-len') - argument must be between 1048576 and 9223372036854775807 inclusive",
        ),
        (
            &[("synchronous", "sometimes")],
            "CONFIG SET failed (possibly related to argument 'synchronous') - argument(s) must be one of the following: off, normal, full, extra",
        ),
        (
            &[("maxclients", "5"), ("MaxClients", "6")],
            "CONFIG SET failed (possibly related to argument 'MaxClients') - duplicate parameter",
        ),
        // The first value is valid, the second is not: nothing may be applied.
        (
            &[("maxclients", "5"), ("timeout", "-1")],
            "CONFIG SET failed (possibly related to argument 'timeout') - argument must be between 0 and 2147483647 inclusive",
        ),
        // Names are all checked before any value.
        (
            &[("maxclients", "bad"), ("nope", "1")],
            "Unknown option or number of arguments for CONFIG SET - 'nope'",
        ),
    ];
    for (pairs, expected) in cases {
        assert_eq!(set(&mut c, pairs), Err(expected.to_string()));
        assert_eq!(c, before, "unchanged after {pairs:?}");
    }
}

const COMMENTED: &str = "\
# Top comment.
[server]
# The port.
port = 6379 # trailing note
maxclients = 100   # spaced
proto_max_bulk_len = \"512mb\"

[log]
level = \"info\"
";

#[test]
fn rewrite_keeps_layout_and_changes_only_what_differs() {
    let (_dir, path) = file(COMMENTED);
    let mut c = Config::load_from(&with_file(&path), env(&[]))
        .expect("loads")
        .config;
    set(
        &mut c,
        &[
            ("maxclients", "250"),
            ("cache-max-bytes", "1gb"),
            ("timeout", "0"),
        ],
    )
    .expect("set");
    c.rewrite(&path).expect("rewrite");
    let text = std::fs::read_to_string(&path).expect("read");
    assert_contains(
        &text,
        &[
            "# Top comment.\n[server]\n# The port.\nport = 6379 # trailing note\n",
            "maxclients = 250   # spaced\n",
            "proto_max_bulk_len = \"512mb\"\n",
            "[log]\nlevel = \"info\"\n",
            "[storage]\ncache_max_bytes = \"1gb\"\n",
        ],
    );
    assert!(
        !text.contains("timeout"),
        "defaults absent from the file stay absent"
    );
    assert!(!text.contains("tcp_keepalive"));
    let again = Config::load_from(&with_file(&path), env(&[])).expect("reloads");
    assert_eq!(again.config, c);

    // Nothing differs now: the file is left byte for byte as it is.
    c.rewrite(&path).expect("rewrite");
    assert_eq!(std::fs::read_to_string(&path).expect("read"), text);

    // Back to a value equal to the file's default elsewhere is still written where present.
    set(&mut c, &[("maxclients", "10000")]).expect("set");
    c.rewrite(&path).expect("rewrite");
    let text = std::fs::read_to_string(&path).expect("read");
    assert_contains(&text, &["maxclients = 10000   # spaced\n"]);
}

#[test]
fn rewrite_creates_a_missing_file_and_leaves_no_temp_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("new.toml");
    let mut c = Config::default();
    c.server.port = 6400;
    c.rewrite(&path).expect("rewrite");
    let text = std::fs::read_to_string(&path).expect("read");
    assert_eq!(
        text, "[server]\nport = 6400\n",
        "only what differs from the defaults"
    );
    let loaded = Config::load_from(&with_file(&path), env(&[])).expect("loads");
    assert_eq!(loaded.config, c);
    let entries: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert_eq!(entries, vec![std::ffi::OsString::from("new.toml")]);
}

#[test]
fn rewrite_of_the_shipped_file_keeps_every_comment() {
    let original = std::fs::read_to_string(shipped_file()).expect("read");
    let (_dir, path) = file(&original);
    let mut c = Config::default();
    set(&mut c, &[("maxclients", "42")]).expect("set");
    c.rewrite(&path).expect("rewrite");
    let text = std::fs::read_to_string(&path).expect("read");
    assert_eq!(
        text,
        original.replace("maxclients = 10000", "maxclients = 42")
    );
}

#[test]
fn rewrite_refuses_broken_files() {
    let (_dir, path) = file("[server\nport = 1\n");
    let e = Config::default().rewrite(&path).expect_err("broken");
    assert_contains(&e.to_string(), &["respite.toml", "line 1"]);
}

#[test]
fn redis_compat_parameters_are_validated_stored_and_reported() {
    let mut c = Config::default();
    set(
        &mut c,
        &[
            ("hz", "1000"),
            ("save", "900 1 300 10"),
            ("maxmemory", "1gb"),
            ("maxmemory-policy", "ALLKEYS-LRU"),
            ("slave-read-only", "NO"),
            ("shutdown-on-sigterm", "now save"),
            ("latency-tracking-info-percentiles", "1.50 99"),
            ("hash-max-ziplist-entries", "7"),
            ("zset-max-ziplist-value", "1kb"),
            ("list-max-ziplist-size", "-3"),
            ("appendfsync", "always"),
        ],
    )
    .expect("set");
    let pair = |n: &str, v: &str| (n.to_string(), v.to_string());
    assert_eq!(get(&c, &["hz"]), vec![pair("hz", "500")]);
    // A read-only parameter takes the value it has (a no-op), and nothing else.
    set(&mut c, &[("port", "6379"), ("bind", "127.0.0.1")]).expect("same values");
    assert_eq!(
        set(&mut c, &[("port", "6380")]),
        Err(
            "CONFIG SET failed (possibly related to argument 'port') - can't set immutable config"
                .into()
        )
    );
    assert_eq!(get(&c, &["save"]), vec![pair("save", "900 1 300 10")]);
    assert_eq!(
        get(&c, &["maxmemory"]),
        vec![pair("maxmemory", "1073741824")]
    );
    assert_eq!(
        get(&c, &["maxmemory-policy"]),
        vec![pair("maxmemory-policy", "allkeys-lru")]
    );
    assert_eq!(
        get(&c, &["*read-only"]),
        vec![
            pair("replica-read-only", "no"),
            pair("slave-read-only", "no")
        ]
    );
    assert_eq!(
        get(&c, &["shutdown-on-sigterm"]),
        vec![pair("shutdown-on-sigterm", "save now")]
    );
    assert_eq!(
        get(&c, &["latency-tracking-info-percentiles"]),
        vec![pair("latency-tracking-info-percentiles", "1.5 99")]
    );
    // The old names drive the same settings as the new ones.
    assert_eq!(c.storage.hash_max_listpack_entries, 7);
    assert_eq!(c.storage.zset_max_listpack_value, 1024);
    assert_eq!(c.storage.list_max_listpack_size, -3);
    assert_eq!(c.storage.synchronous, Synchronous::Full);
    assert_eq!(
        get(&c, &["appendfsync"]),
        vec![pair("appendfsync", "always")]
    );
    set(&mut c, &[("appendfsync", "everysec")]).expect("set");
    assert_eq!(c.storage.synchronous, Synchronous::Normal);
}

#[test]
fn the_redis_table_sets_redis_only_parameters_as_redis_conf_would() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[redis]\ndir = {:?}\ndbfilename = \"snap.db\"\nhz = 25\nappendonly = false\n",
        dir.path().to_str().unwrap()
    );
    let (r, _) = load_text(&text, &[]);
    let loaded = r.unwrap_or_else(|e| panic!("{e}"));
    let c = &loaded.config;
    assert_eq!(c.redis_param("dir").as_deref(), dir.path().to_str());
    assert_eq!(c.redis_param("dbfilename").as_deref(), Some("snap.db"));
    assert_eq!(c.redis_param("hz").as_deref(), Some("25"));
    assert_eq!(c.redis_param("appendonly").as_deref(), Some("no"));
}

#[test]
fn the_redis_table_refuses_unknown_names_bad_values_and_respites_own_settings() {
    let (e, _) = load_err("[redis]\nno-such-thing = 1\n", &[]);
    assert_contains(&e, &["redis.no-such-thing", "not a Redis 7 parameter"]);
    let (e, _) = load_err("[redis]\nhz = \"often\"\n", &[]);
    assert_contains(&e, &["redis.hz"]);
    let (e, _) = load_err("[redis]\nport = 7000\n", &[]);
    assert_contains(&e, &["redis.port", "server.port"]);
    let (e, _) = load_err("[redis]\nappendfsync = \"always\"\n", &[]);
    assert_contains(&e, &["redis.appendfsync", "CONFIG SET appendfsync"]);
    let (e, _) = load_err("[redis]\nhash-max-ziplist-entries = 1\n", &[]);
    assert_contains(&e, &["storage.hash_max_listpack_entries"]);
}

#[test]
fn the_row_window_is_at_most_an_eighth_of_the_cache() {
    let window = |text: &str| {
        let (loaded, _) = load_text(text, &[]);
        loaded.unwrap().config.storage.row_window_budget()
    };
    assert_eq!(
        window(""),
        32 << 20,
        "the default, with the default 256 MB cache"
    );
    assert_eq!(window("[storage]\ncache_max_bytes = \"32mb\"\n"), 4 << 20);
    assert_eq!(
        window("[storage]\ncache_max_bytes = \"32mb\"\nrow_window_bytes = \"1mb\"\n"),
        1 << 20
    );
    assert_eq!(window("[storage]\nrow_window_bytes = 0\n"), 0);
}
