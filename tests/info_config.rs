//! INFO sections and the CONFIG command: GET with patterns, SET (atomic, with refusals),
//! RESETSTAT and REWRITE (into the TOML file, read back after a restart).

mod common;

use common::{info_field, info_sections, Reply, Server};

fn info(conn: &mut common::RawConn, args: &[&str]) -> String {
    let mut full = vec!["INFO"];
    full.extend_from_slice(args);
    conn.cmd(&full).text()
}

fn config_get(conn: &mut common::RawConn, name: &str) -> Reply {
    let reply = conn.cmd(&["CONFIG", "GET", name]);
    reply
        .field(name)
        .cloned()
        .unwrap_or_else(|| panic!("CONFIG GET {name}: {reply:?}"))
}

#[test]
fn default_info_has_the_standard_sections_in_order() {
    let server = Server::start();
    let mut conn = server.raw();
    let text = info(&mut conn, &[]);
    assert!(text.contains("\r\n"), "INFO lines end with CRLF");
    let sections = info_sections(&text);
    let wanted = [
        "Server",
        "Clients",
        "Memory",
        "Persistence",
        "Stats",
        "Keyspace",
    ];
    let positions: Vec<usize> = wanted
        .iter()
        .map(|w| {
            sections
                .iter()
                .position(|s| s == w)
                .unwrap_or_else(|| panic!("INFO lacks # {w}: {sections:?}"))
        })
        .collect();
    let mut sorted = positions.clone();
    sorted.sort();
    assert_eq!(positions, sorted, "sections out of order: {sections:?}");
    assert!(
        !sections.iter().any(|s| s == "Commandstats"),
        "Commandstats is not a default section: {sections:?}"
    );
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        assert!(line.contains(':'), "INFO line without ':': {line:?}");
    }
}

#[test]
fn info_sections_can_be_selected() {
    let server = Server::start();
    let mut conn = server.raw();
    assert_eq!(info_sections(&info(&mut conn, &["server"])), vec!["Server"]);
    assert_eq!(
        info_sections(&info(&mut conn, &["CLIENTS"])),
        vec!["Clients"]
    );
    assert_eq!(
        info_sections(&info(&mut conn, &["server", "keyspace"])),
        vec!["Server", "Keyspace"]
    );
    assert_eq!(
        info_sections(&info(&mut conn, &["commandstats"])),
        vec!["Commandstats"]
    );
    let all = info_sections(&info(&mut conn, &["all"]));
    for s in ["Server", "Clients", "Stats", "Commandstats", "Keyspace"] {
        assert!(all.iter().any(|x| x == s), "INFO all lacks {s}: {all:?}");
    }
    let everything = info_sections(&info(&mut conn, &["everything"]));
    assert!(everything.iter().any(|x| x == "Commandstats"));
    assert_eq!(info(&mut conn, &["nosuchsection"]), "");
}

#[test]
fn info_server() {
    let server = Server::start();
    let mut conn = server.raw();
    let text = info(&mut conn, &["server"]);
    assert_eq!(
        info_field(&text, "tcp_port"),
        Some(server.port().to_string())
    );
    assert_eq!(
        info_field(&text, "process_id"),
        Some(server.pid().to_string())
    );
    let version = info_field(&text, "redis_version").expect("redis_version (clients read it)");
    assert!(
        version.split('.').count() == 3 && version.split('.').all(|p| p.parse::<u32>().is_ok()),
        "redis_version must look like x.y.z: {version}"
    );
    let uptime: u64 = info_field(&text, "uptime_in_seconds")
        .unwrap()
        .parse()
        .unwrap();
    assert!(uptime < 3600);
}

#[test]
fn info_clients_counts_connections() {
    let server = Server::start();
    let mut conn = server.raw();
    let mut other = server.raw();
    assert_eq!(other.cmd(&["PING"]), Reply::simple("PONG"));
    let text = info(&mut conn, &["clients"]);
    assert_eq!(info_field(&text, "connected_clients").as_deref(), Some("2"));
    assert_eq!(info_field(&text, "maxclients").as_deref(), Some("10000"));
    drop(other);
    common::wait_until("connected_clients to drop to 1", common::IO_TIMEOUT, || {
        info_field(&info(&mut conn, &["clients"]), "connected_clients").as_deref() == Some("1")
    });
}

#[test]
fn info_keyspace_per_db() {
    let server = Server::start();
    let mut conn = server.raw();
    let text = info(&mut conn, &["keyspace"]);
    assert_eq!(info_sections(&text), vec!["Keyspace"]);
    assert!(
        info_field(&text, "db0").is_none(),
        "empty dbs are left out: {text}"
    );

    assert_eq!(conn.cmd(&["SET", "a", "1"]), Reply::ok());
    assert_eq!(conn.cmd(&["SET", "b", "2", "EX", "1000"]), Reply::ok());
    assert_eq!(conn.cmd(&["SELECT", "3"]), Reply::ok());
    assert_eq!(conn.cmd(&["SET", "c", "3"]), Reply::ok());
    let text = info(&mut conn, &["keyspace"]);
    let db0 = info_field(&text, "db0").expect("db0 line");
    assert!(db0.starts_with("keys=2,expires=1,avg_ttl="), "{db0}");
    let db3 = info_field(&text, "db3").expect("db3 line");
    assert!(db3.starts_with("keys=1,expires=0,avg_ttl="), "{db3}");
    assert!(info_field(&text, "db1").is_none());
}

#[test]
fn info_stats_and_commandstats() {
    let server = Server::start();
    let mut conn = server.raw();
    for _ in 0..3 {
        assert_eq!(conn.cmd(&["GET", "x"]), Reply::NilBulk);
    }
    let stats = info(&mut conn, &["stats"]);
    let processed: u64 = info_field(&stats, "total_commands_processed")
        .expect("total_commands_processed")
        .parse()
        .unwrap();
    assert!(processed >= 3, "{stats}");
    let connections: u64 = info_field(&stats, "total_connections_received")
        .expect("total_connections_received")
        .parse()
        .unwrap();
    assert!(connections >= 1);

    let text = info(&mut conn, &["commandstats"]);
    let get = info_field(&text, "cmdstat_get").unwrap_or_else(|| panic!("{text}"));
    assert!(get.starts_with("calls=3,usec="), "{get}");
}

#[test]
fn info_memory_and_persistence_have_fields() {
    let server = Server::start();
    let mut conn = server.raw();
    let memory = info(&mut conn, &["memory"]);
    assert!(info_field(&memory, "used_memory").is_some(), "{memory}");
    let persistence = info(&mut conn, &["persistence"]);
    assert_eq!(info_sections(&persistence), vec!["Persistence"]);
    assert_eq!(info_field(&persistence, "loading").as_deref(), Some("0"));
}

#[test]
fn info_in_resp3_is_verbatim_text() {
    let server = Server::start();
    let mut conn = server.raw();
    assert!(matches!(conn.cmd(&["HELLO", "3"]), Reply::Map(_)));
    match conn.cmd(&["INFO", "server"]) {
        Reply::Verbatim(format, text) => {
            assert_eq!(format, "txt");
            assert!(String::from_utf8_lossy(&text).starts_with("# Server"));
        }
        other => panic!("INFO in RESP3 should be a verbatim string: {other:?}"),
    }
}

#[test]
fn config_get_defaults() {
    let server = Server::start();
    let mut conn = server.raw();
    for (name, value) in [
        ("maxclients", "10000"),
        ("timeout", "0"),
        ("databases", "16"),
        ("requirepass", ""),
        ("tcp-keepalive", "300"),
        ("proto-max-bulk-len", "536870912"),
        ("client-query-buffer-limit", "1073741824"),
    ] {
        assert_eq!(config_get(&mut conn, name), Reply::bulk(value), "{name}");
    }
}

#[test]
fn config_get_patterns() {
    let server = Server::start();
    let mut conn = server.raw();
    let reply = conn.cmd(&["CONFIG", "GET", "max*"]);
    let items = reply.items();
    assert!(items.len() % 2 == 0 && !items.is_empty(), "{reply:?}");
    let names: Vec<String> = items.iter().step_by(2).map(Reply::text).collect();
    assert!(names.contains(&"maxclients".to_string()), "{names:?}");
    for n in &names {
        assert!(n.starts_with("max"), "{n} does not match max*");
    }
    let mut dedup = names.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), names.len(), "no name twice: {names:?}");

    // Several patterns at once; a name matched by two patterns appears once.
    let reply = conn.cmd(&["CONFIG", "GET", "maxclients", "timeout", "max*"]);
    let names: Vec<String> = reply.items().iter().step_by(2).map(Reply::text).collect();
    assert!(names.contains(&"timeout".to_string()), "{names:?}");
    assert_eq!(
        names.iter().filter(|n| *n == "maxclients").count(),
        1,
        "{names:?}"
    );

    // Glob syntax: ? and character classes.
    let reply = conn.cmd(&["CONFIG", "GET", "t?meout"]);
    assert_eq!(reply.field("timeout"), Some(&Reply::bulk("0")));
    let reply = conn.cmd(&["CONFIG", "GET", "[st]imeout"]);
    assert_eq!(reply.field("timeout"), Some(&Reply::bulk("0")));

    // Everything.
    let all = conn.cmd(&["CONFIG", "GET", "*"]);
    let names: Vec<String> = all.items().iter().step_by(2).map(Reply::text).collect();
    for n in [
        "maxclients",
        "timeout",
        "databases",
        "requirepass",
        "port",
        "bind",
    ] {
        assert!(
            names.contains(&n.to_string()),
            "CONFIG GET * lacks {n}: {names:?}"
        );
    }

    assert_eq!(
        conn.cmd(&["CONFIG", "GET", "no-such-option"]),
        Reply::Array(vec![])
    );
    assert_eq!(
        conn.cmd(&["CONFIG", "GET"]),
        Reply::error("ERR wrong number of arguments for 'config|get' command")
    );
}

#[test]
fn config_set_and_get() {
    let server = Server::start();
    let mut conn = server.raw();
    assert_eq!(
        conn.cmd(&["CONFIG", "SET", "maxclients", "500"]),
        Reply::ok()
    );
    assert_eq!(config_get(&mut conn, "maxclients"), Reply::bulk("500"));
    assert_eq!(
        info_field(&info(&mut conn, &["clients"]), "maxclients").as_deref(),
        Some("500")
    );
    assert_eq!(conn.cmd(&["CONFIG", "SET", "timeout", "120"]), Reply::ok());
    assert_eq!(config_get(&mut conn, "timeout"), Reply::bulk("120"));
    // Memory units as in redis.conf.
    assert_eq!(
        conn.cmd(&["CONFIG", "SET", "proto-max-bulk-len", "2mb"]),
        Reply::ok()
    );
    assert_eq!(
        config_get(&mut conn, "proto-max-bulk-len"),
        Reply::bulk("2097152")
    );
    // Names are case-insensitive.
    assert_eq!(conn.cmd(&["CONFIG", "SET", "TIMEOUT", "7"]), Reply::ok());
    assert_eq!(config_get(&mut conn, "timeout"), Reply::bulk("7"));
}

#[test]
fn config_set_several_pairs_is_atomic() {
    let server = Server::start();
    let mut conn = server.raw();
    assert_eq!(
        conn.cmd(&["CONFIG", "SET", "maxclients", "321", "timeout", "45"]),
        Reply::ok()
    );
    assert_eq!(config_get(&mut conn, "maxclients"), Reply::bulk("321"));
    assert_eq!(config_get(&mut conn, "timeout"), Reply::bulk("45"));

    let reply = conn.cmd(&["CONFIG", "SET", "maxclients", "999", "timeout", "abc"]);
    match &reply {
        Reply::Error(e) => assert!(
            e.starts_with("ERR CONFIG SET failed (possibly related to argument 'timeout') - "),
            "{e}"
        ),
        other => panic!("expected an error, got {other:?}"),
    }
    // Nothing of the failed call was applied.
    assert_eq!(config_get(&mut conn, "maxclients"), Reply::bulk("321"));
    assert_eq!(config_get(&mut conn, "timeout"), Reply::bulk("45"));

    let reply = conn.cmd(&["CONFIG", "SET", "timeout", "1", "databases", "4"]);
    assert!(reply.is_error(), "{reply:?}");
    assert_eq!(config_get(&mut conn, "timeout"), Reply::bulk("45"));
}

#[test]
fn config_set_refusals() {
    let server = Server::start();
    let mut conn = server.raw();
    assert_eq!(
        conn.cmd(&["CONFIG", "SET", "databases", "20"]),
        Reply::error(
            "ERR CONFIG SET failed (possibly related to argument 'databases') - can't set \
             immutable config"
        )
    );
    assert_eq!(
        conn.cmd(&["CONFIG", "SET", "no-such-option", "1"]),
        Reply::error("ERR Unknown option or number of arguments for CONFIG SET - 'no-such-option'")
    );
    assert_eq!(
        conn.cmd(&["CONFIG", "SET", "timeout", "1", "timeout", "2"]),
        Reply::error(
            "ERR CONFIG SET failed (possibly related to argument 'timeout') - duplicate parameter"
        )
    );
    assert_eq!(
        conn.cmd(&["CONFIG", "SET", "maxclients"]),
        Reply::error("ERR wrong number of arguments for 'config|set' command")
    );
    assert_eq!(
        conn.cmd(&["CONFIG", "SET", "maxclients", "1", "timeout"]),
        Reply::error("ERR syntax error")
    );
    for (name, value) in [
        ("maxclients", "0"),
        ("timeout", "-1"),
        ("maxclients", "many"),
    ] {
        let reply = conn.cmd(&["CONFIG", "SET", name, value]);
        match &reply {
            Reply::Error(e) => assert!(
                e.starts_with(&format!(
                    "ERR CONFIG SET failed (possibly related to argument '{name}') - "
                )),
                "{e}"
            ),
            other => panic!("CONFIG SET {name} {value}: expected an error, got {other:?}"),
        }
    }
    assert_eq!(config_get(&mut conn, "databases"), Reply::bulk("16"));
    assert_eq!(config_get(&mut conn, "maxclients"), Reply::bulk("10000"));
    assert_eq!(
        conn.cmd(&["CONFIG", "frobnicate"]),
        Reply::error("ERR unknown subcommand 'frobnicate'. Try CONFIG HELP.")
    );
}

#[test]
fn config_set_requirepass_applies_to_new_connections() {
    let server = Server::start();
    let mut admin = server.raw();
    assert_eq!(
        admin.cmd(&["CONFIG", "SET", "requirepass", "hunter2"]),
        Reply::ok()
    );
    // The connection that set it stays authenticated.
    assert_eq!(admin.cmd(&["PING"]), Reply::simple("PONG"));
    let mut fresh = server.raw();
    assert_eq!(
        fresh.cmd(&["PING"]),
        Reply::error("NOAUTH Authentication required.")
    );
    assert_eq!(fresh.cmd(&["AUTH", "hunter2"]), Reply::ok());
    assert_eq!(
        admin.cmd(&["CONFIG", "SET", "requirepass", ""]),
        Reply::ok()
    );
    let mut open = server.raw();
    assert_eq!(open.cmd(&["PING"]), Reply::simple("PONG"));
}

#[test]
fn resetstat_clears_the_counters() {
    let server = Server::start();
    let mut conn = server.raw();
    for _ in 0..5 {
        assert_eq!(conn.cmd(&["GET", "x"]), Reply::NilBulk);
    }
    assert!(info_field(&info(&mut conn, &["commandstats"]), "cmdstat_get").is_some());
    assert_eq!(conn.cmd(&["CONFIG", "RESETSTAT"]), Reply::ok());
    let text = info(&mut conn, &["commandstats"]);
    assert!(info_field(&text, "cmdstat_get").is_none(), "{text}");
    let stats = info(&mut conn, &["stats"]);
    let processed: u64 = info_field(&stats, "total_commands_processed")
        .unwrap()
        .parse()
        .unwrap();
    assert!(processed <= 3, "counters were reset: {stats}");
    assert_eq!(
        info_field(&stats, "total_connections_received").as_deref(),
        Some("0")
    );
}

#[test]
fn config_rewrite_writes_the_toml_file_and_a_restart_reads_it() {
    let original = "# Operator's notes: keep this comment.\n[server]\nmaxclients = 100\n";
    let mut server = Server::builder().config(original).start();
    let mut conn = server.raw();
    assert_eq!(
        conn.cmd(&["CONFIG", "SET", "maxclients", "123", "timeout", "77"]),
        Reply::ok()
    );
    assert_eq!(conn.cmd(&["CONFIG", "REWRITE"]), Reply::ok());

    let text = std::fs::read_to_string(server.config_path()).unwrap();
    let doc: toml::Table = text
        .parse()
        .unwrap_or_else(|e| panic!("CONFIG REWRITE wrote invalid TOML ({e}):\n{text}"));
    let section = doc
        .get("server")
        .and_then(|s| s.as_table())
        .unwrap_or_else(|| panic!("no [server] table:\n{text}"));
    assert_eq!(
        section.get("maxclients").and_then(|v| v.as_integer()),
        Some(123),
        "{text}"
    );
    assert_eq!(
        section.get("timeout").and_then(|v| v.as_integer()),
        Some(77),
        "{text}"
    );
    assert!(
        text.contains("# Operator's notes: keep this comment."),
        "CONFIG REWRITE keeps comments, as Redis does:\n{text}"
    );

    drop(conn);
    server.restart();
    let mut conn = server.raw();
    assert_eq!(config_get(&mut conn, "maxclients"), Reply::bulk("123"));
    assert_eq!(config_get(&mut conn, "timeout"), Reply::bulk("77"));

    // The rewritten file is valid for --check-config too.
    let out = common::run_respite(
        server.dir(),
        &[
            "--check-config",
            "--config",
            server.config_path().to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", common::output_text(&out));
}

#[test]
fn config_rewrite_without_a_config_file() {
    let server = Server::builder().without_config_file().start();
    let mut conn = server.raw();
    assert_eq!(
        conn.cmd(&["CONFIG", "REWRITE"]),
        Reply::error("ERR The server is running without a config file")
    );
}

#[test]
fn config_set_loglevel_changes_logging_at_run_time() {
    let server = Server::start();
    let mut conn = server.raw();
    // Connections closing are logged at debug level only.
    server.raw().cmd(&["PING"]);
    assert_eq!(
        conn.cmd(&["CONFIG", "SET", "loglevel", "debug"]),
        Reply::ok()
    );
    {
        let mut other = server.raw();
        assert_eq!(other.cmd(&["QUIT"]), Reply::ok());
    }
    common::wait_until("a debug line in the log", common::IO_TIMEOUT, || {
        server.stderr().contains("connection closed")
    });
    // Redis's level names are accepted and mapped.
    assert_eq!(
        conn.cmd(&["CONFIG", "SET", "loglevel", "warning"]),
        Reply::ok()
    );
    assert_eq!(
        conn.cmd(&["CONFIG", "GET", "loglevel"]),
        Reply::Array(vec![Reply::bulk("loglevel"), Reply::bulk("warn")])
    );
    let reply = conn.cmd(&["CONFIG", "SET", "loglevel", "loud"]);
    assert!(
        matches!(&reply, Reply::Error(e) if e.contains("loglevel")),
        "{reply:?}"
    );
}
