//! Configuration loading: `--check-config`, the layering (defaults < file < environment <
//! flags) and the errors for unknown keys, wrong types and impossible values.

mod common;

use std::path::{Path, PathBuf};

use common::{output_text, run_respite, Reply, Server};

/// A temp dir holding `respite.toml` with `text`.
fn dir_with_config(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("respite.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// Runs `--check-config --config FILE` in `dir`.
fn check(dir: &Path, file: &Path, env: &[(&str, &str)], extra: &[&str]) -> std::process::Output {
    let mut args = vec!["--check-config", "--config", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    run_respite(dir, &args, env)
}

/// The effective configuration printed by a successful `--check-config`.
fn effective(out: &std::process::Output) -> toml::Table {
    assert!(
        out.status.success(),
        "--check-config failed: {}",
        output_text(out)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    text.parse()
        .unwrap_or_else(|e| panic!("--check-config did not print TOML ({e}):\n{text}"))
}

fn get<'a>(table: &'a toml::Table, path: &str) -> &'a toml::Value {
    let mut parts = path.split('.');
    let first = parts.next().unwrap();
    let mut value = table
        .get(first)
        .unwrap_or_else(|| panic!("no {first} in {table:#?}"));
    for p in parts {
        value = value
            .get(p)
            .unwrap_or_else(|| panic!("no {path} in {table:#?}"));
    }
    value
}

fn int(table: &toml::Table, path: &str) -> i64 {
    get(table, path)
        .as_integer()
        .unwrap_or_else(|| panic!("{path} is not an integer: {:?}", get(table, path)))
}

fn string(table: &toml::Table, path: &str) -> String {
    get(table, path)
        .as_str()
        .unwrap_or_else(|| panic!("{path} is not a string: {:?}", get(table, path)))
        .to_string()
}

/// Asserts a failed run whose message names `key` (and the file when given).
fn assert_fails_naming(out: &std::process::Output, key: &str, file: Option<&Path>) {
    let text = output_text(out);
    assert!(
        !out.status.success(),
        "expected a configuration error for {key}, got success:\n{text}"
    );
    assert!(text.contains(key), "the message must name {key}:\n{text}");
    if let Some(file) = file {
        let name = file.file_name().unwrap().to_string_lossy();
        assert!(
            text.contains(&*name),
            "the message must name the file {name}:\n{text}"
        );
    }
}

#[test]
fn check_config_with_a_good_file() {
    let (dir, file) = dir_with_config(
        "[server]\nmaxclients = 77\ntimeout = 5\nrequirepass = \"pw\"\n\n\
         [storage]\npath = \"elsewhere.db\"\n\n[log]\nlevel = \"debug\"\n",
    );
    let out = check(dir.path(), &file, &[], &[]);
    let cfg = effective(&out);
    assert_eq!(int(&cfg, "server.maxclients"), 77);
    assert_eq!(int(&cfg, "server.timeout"), 5);
    assert_eq!(string(&cfg, "server.requirepass"), "pw");
    assert_eq!(string(&cfg, "storage.path"), "elsewhere.db");
    assert_eq!(string(&cfg, "log.level"), "debug");
    // Options not in the file keep their defaults.
    assert_eq!(int(&cfg, "server.port"), 6379);
    assert_eq!(int(&cfg, "server.databases"), 16);
    assert!(
        !dir.path().join("elsewhere.db").exists(),
        "--check-config must not open the store"
    );
}

#[test]
fn check_config_defaults_without_any_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_respite(dir.path(), &["--check-config"], &[]);
    let cfg = effective(&out);
    assert_eq!(int(&cfg, "server.port"), 6379);
    assert_eq!(string(&cfg, "server.bind"), "127.0.0.1");
    assert_eq!(int(&cfg, "server.maxclients"), 10000);
    assert_eq!(int(&cfg, "server.timeout"), 0);
    assert_eq!(int(&cfg, "server.databases"), 16);
    assert_eq!(string(&cfg, "server.requirepass"), "");
    assert_eq!(string(&cfg, "storage.path"), "data/respite.db");
    for section in ["server", "storage", "log", "plugins"] {
        assert!(cfg.contains_key(section), "no [{section}] in {cfg:#?}");
    }
    assert!(
        !dir.path().join("data").exists(),
        "--check-config must not create the data directory"
    );
}

#[test]
fn check_config_output_is_a_valid_config_file() {
    let (dir, file) = dir_with_config("[server]\nmaxclients = 55\n");
    let first = check(dir.path(), &file, &[], &[]);
    let cfg = effective(&first);
    let round = dir.path().join("round.toml");
    std::fs::write(&round, &first.stdout).unwrap();
    let second = check(dir.path(), &round, &[], &[]);
    assert_eq!(effective(&second), cfg);
}

#[test]
fn the_default_config_file_is_found_in_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("config")).unwrap();
    std::fs::write(
        dir.path().join("config/respite.toml"),
        "[server]\nmaxclients = 42\n",
    )
    .unwrap();
    let out = run_respite(dir.path(), &["--check-config"], &[]);
    assert_eq!(int(&effective(&out), "server.maxclients"), 42);
}

#[test]
fn the_shipped_config_file_is_valid_and_lists_every_option() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/respite.toml");
    assert!(
        shipped.exists(),
        "config/respite.toml must ship with the repository"
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = effective(&check(dir.path(), &shipped, &[], &[]));
    let defaults = effective(&run_respite(dir.path(), &["--check-config"], &[]));
    // The shipped file is the defaults, written out.
    assert_eq!(cfg, defaults, "config/respite.toml must hold the defaults");

    let text = std::fs::read_to_string(&shipped).unwrap();
    let file: toml::Table = text.parse().unwrap();
    fn leaves(prefix: &str, table: &toml::Table, out: &mut Vec<String>) {
        for (k, v) in table {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                toml::Value::Table(t) => leaves(&path, t, out),
                _ => out.push(path),
            }
        }
    }
    let mut wanted = Vec::new();
    leaves("", &defaults, &mut wanted);
    let mut present = Vec::new();
    leaves("", &file, &mut present);
    for key in wanted {
        assert!(
            present.contains(&key),
            "config/respite.toml does not list {key}"
        );
    }
}

#[test]
fn unknown_key_is_an_error() {
    let (dir, file) = dir_with_config("[server]\nmaxclients = 10\nbogus = 1\n");
    let out = check(dir.path(), &file, &[], &[]);
    assert_fails_naming(&out, "server.bogus", Some(&file));
}

#[test]
fn unknown_section_is_an_error() {
    let (dir, file) = dir_with_config("[nosuchsection]\nx = 1\n");
    let out = check(dir.path(), &file, &[], &[]);
    assert_fails_naming(&out, "nosuchsection", Some(&file));
}

#[test]
fn wrong_type_is_an_error() {
    let (dir, file) = dir_with_config("[server]\nmaxclients = \"lots\"\n");
    let out = check(dir.path(), &file, &[], &[]);
    assert_fails_naming(&out, "server.maxclients", Some(&file));

    let (dir, file) = dir_with_config("[server]\nrequirepass = 12\n");
    let out = check(dir.path(), &file, &[], &[]);
    assert_fails_naming(&out, "server.requirepass", Some(&file));

    let (dir, file) = dir_with_config("server = 5\n");
    let out = check(dir.path(), &file, &[], &[]);
    assert_fails_naming(&out, "server", Some(&file));
}

#[test]
fn impossible_values_are_errors() {
    for (text, key) in [
        ("[server]\ndatabases = 0\n", "server.databases"),
        ("[server]\nport = 70000\n", "server.port"),
        ("[server]\nmaxclients = 0\n", "server.maxclients"),
        ("[server]\ntimeout = -1\n", "server.timeout"),
        (
            "[storage]\ndurability = \"sometimes\"\n",
            "storage.durability",
        ),
        (
            "[storage]\nsynchronous = \"maybe\"\n",
            "storage.synchronous",
        ),
        ("[log]\nlevel = \"loud\"\n", "log.level"),
    ] {
        let (dir, file) = dir_with_config(text);
        let out = check(dir.path(), &file, &[], &[]);
        assert_fails_naming(&out, key, Some(&file));
    }
}

#[test]
fn invalid_toml_is_an_error() {
    let (dir, file) = dir_with_config("[server\nport = 1\n");
    let out = check(dir.path(), &file, &[], &[]);
    assert!(!out.status.success());
    let text = output_text(&out);
    assert!(text.contains("respite.toml"), "{text}");
}

#[test]
fn a_missing_config_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("not-there.toml");
    let out = check(dir.path(), &missing, &[], &[]);
    assert!(!out.status.success());
    assert!(
        output_text(&out).contains("not-there.toml"),
        "{}",
        output_text(&out)
    );
}

#[test]
fn environment_overrides_the_file() {
    let (dir, file) = dir_with_config("[server]\nmaxclients = 10\ntimeout = 3\n");
    let out = check(
        dir.path(),
        &file,
        &[
            ("RESPITE_SERVER__MAXCLIENTS", "20"),
            ("RESPITE_STORAGE__PATH", "from-env.db"),
        ],
        &[],
    );
    let cfg = effective(&out);
    assert_eq!(int(&cfg, "server.maxclients"), 20);
    assert_eq!(
        int(&cfg, "server.timeout"),
        3,
        "keys the env does not name stay"
    );
    assert_eq!(string(&cfg, "storage.path"), "from-env.db");
}

#[test]
fn flags_override_the_environment() {
    let (dir, file) = dir_with_config("[server]\nport = 1111\nbind = \"127.0.0.2\"\n");
    let env = [
        ("RESPITE_SERVER__PORT", "2222"),
        ("RESPITE_SERVER__BIND", "127.0.0.3"),
        ("RESPITE_STORAGE__PATH", "env.db"),
    ];
    let cfg = effective(&check(dir.path(), &file, &env, &[]));
    assert_eq!(int(&cfg, "server.port"), 2222);
    let cfg = effective(&check(
        dir.path(),
        &file,
        &env,
        &["--port", "3333", "--bind", "127.0.0.4", "--db", "flag.db"],
    ));
    assert_eq!(int(&cfg, "server.port"), 3333);
    assert_eq!(string(&cfg, "server.bind"), "127.0.0.4");
    assert_eq!(string(&cfg, "storage.path"), "flag.db");
}

#[test]
fn a_bad_environment_value_is_an_error_naming_it() {
    let (dir, file) = dir_with_config("");
    let out = check(
        dir.path(),
        &file,
        &[("RESPITE_SERVER__MAXCLIENTS", "many")],
        &[],
    );
    let text = output_text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("server.maxclients") || text.contains("RESPITE_SERVER__MAXCLIENTS"),
        "{text}"
    );
}

#[test]
fn a_bad_config_stops_the_server_before_it_listens() {
    let err = match Server::builder()
        .config("[server]\ndatabases = 0\n")
        .try_start()
    {
        Ok(_) => panic!("a server with databases = 0 must not start"),
        Err(e) => e,
    };
    assert!(err.contains("server.databases"), "{err}");
}

#[test]
fn a_running_server_uses_file_and_environment() {
    let server = Server::builder()
        .config("[server]\nmaxclients = 50\ntimeout = 8\ndatabases = 2\n")
        .env("RESPITE_SERVER__TIMEOUT", "9")
        .start();
    let mut conn = server.raw();
    let reply = conn.cmd(&["CONFIG", "GET", "maxclients", "timeout", "databases"]);
    assert_eq!(reply.field("maxclients"), Some(&Reply::bulk("50")));
    assert_eq!(reply.field("timeout"), Some(&Reply::bulk("9")));
    assert_eq!(reply.field("databases"), Some(&Reply::bulk("2")));
    assert_eq!(
        conn.cmd(&["SELECT", "2"]),
        Reply::error("ERR DB index is out of range")
    );
}

#[test]
fn the_db_path_comes_from_the_config_when_no_flag_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("configured.db");
    let mut server = Server::builder()
        .no_db_flag()
        .config(format!("[storage]\npath = {:?}\n", db.to_str().unwrap()))
        .start();
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["SET", "k", "v"]), Reply::ok());
    drop(conn);
    server.restart();
    assert!(db.exists(), "the store is at storage.path");
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["GET", "k"]), Reply::bulk("v"));
}

#[test]
fn logs_have_no_ansi_colours() {
    let server = Server::start();
    let mut conn = server.raw();
    assert_eq!(conn.cmd(&["PING"]), Reply::simple("PONG"));
    let log = server.stderr();
    assert!(!log.contains('\u{1b}'), "stderr has escape codes:\n{log}");
}
