//! The built-in plugin path, end to end on an in-process engine: a plugin submitted with
//! `inventory::submit!` (as a plugin crate does), its typed config section, commands from a
//! static table and from closures, `call`, key events, state, background tasks and unload.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use serde::Deserialize;

use super::*;
use crate::commands::table::{flags, CommandSpec};
use crate::config::{Config, Overrides, Synchronous};
use crate::engine::client::{ClientShared, ClientState};
use crate::engine::{Ctx, SharedState};
use crate::events::class;
use crate::keyspace::Keyspace;
use crate::protocol::Reply;
use crate::storage::SqliteStore;

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
struct UnitConfig {
    greeting: String,
    fail_start: bool,
}

/// What the plugin keeps between commands.
#[derive(Default)]
struct UnitState {
    greeting: String,
    sets_seen: u64,
    commands_after: u64,
    ticks: u64,
}

static TASK_STOPPED: AtomicBool = AtomicBool::new(false);

static UNIT_COMMANDS: &[CommandSpec] = &[CommandSpec::new("unit.greet", 1, greet)
    .flags(flags::READONLY | flags::FAST)
    .categories(&["read", "fast"])
    .doc(
        "generic",
        "Returns the configured greeting.",
        "1.0.0",
        "O(1)",
    )];

fn greet(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> Reply {
    match ctx.engine.state::<UnitState>() {
        Some(s) => Reply::bulk(s.greeting.clone()),
        None => Reply::error("ERR no state"),
    }
}

struct Unit;

impl Plugin for Unit {
    fn start(&mut self, reg: &mut Registrar<'_>) -> Result<(), PluginError> {
        let config: UnitConfig = reg.config()?;
        reg.set_state(UnitState {
            greeting: config.greeting,
            ..UnitState::default()
        });
        reg.commands(UNIT_COMMANDS)?;
        let mut copy = Command::new(
            "Unit.Copy",
            3,
            Arc::new(|ctx: &mut Ctx<'_>, argv: &[Bytes]| {
                let value = ctx.call(&[Bytes::from_static(b"GET"), argv[1].clone()]);
                let Reply::Bulk(value) = value else {
                    return value;
                };
                ctx.call(&[Bytes::from_static(b"SET"), argv[2].clone(), value])
            }),
        );
        copy.flags = flags::WRITE;
        copy.first_key = 1;
        copy.last_key = 2;
        copy.step = 1;
        copy.categories = vec!["write".into(), "string".into()];
        reg.command(copy)?;
        reg.command(Command::new(
            "unit.call",
            -2,
            Arc::new(|ctx: &mut Ctx<'_>, argv: &[Bytes]| ctx.call(&argv[1..])),
        ))?;
        reg.subscribe(
            class::STRING,
            Some(b"seen:*"),
            Box::new(|engine, events| {
                if let Some(s) = engine.state_mut::<UnitState>() {
                    s.sets_seen += events.len() as u64;
                }
            }),
        );
        reg.after_command(Box::new(|engine| {
            if let Some(s) = engine.state_mut::<UnitState>() {
                s.commands_after += 1;
            }
        }));
        reg.info_section(
            "Unittest",
            Box::new(|engine, out| {
                let seen = engine.state::<UnitState>().map_or(0, |s| s.sets_seen);
                out.push_str(&format!("sets_seen:{seen}\r\n"));
            }),
        )?;
        if reg.executor().is_some() {
            reg.every("tick", std::time::Duration::from_millis(1), |engine| {
                if let Some(s) = engine.state_mut::<UnitState>() {
                    s.ticks += 1;
                }
            })?;
            reg.spawn("waiter", |mut shutdown| async move {
                shutdown.wait().await;
                TASK_STOPPED.store(true, Ordering::SeqCst);
            })?;
        }
        if config.fail_start {
            return Err(PluginError::Failed {
                plugin: reg.name().into(),
                message: "asked to fail".into(),
            });
        }
        Ok(())
    }
}

crate::builtin_plugin! {
    name: "unittest",
    version: "1.2.3",
    config: UnitConfig,
    create: || Box::new(Unit),
}

fn engine_with(config: Config) -> Engine {
    let store = SqliteStore::open(":memory:", Synchronous::Normal).expect("store");
    let keyspace = Keyspace::new(Box::new(store), 16, 1 << 20).expect("keyspace");
    let shared = Arc::new(SharedState::new(&config));
    crate::server::new_engine(keyspace, config, None, shared)
}

fn client() -> ClientState {
    let addr: SocketAddr = "127.0.0.1:1".parse().expect("addr");
    ClientState::new(1, addr, addr, true, Arc::new(ClientShared::new(true)))
}

fn run(engine: &mut Engine, client: &mut ClientState, words: &[&str]) -> Reply {
    let argv: Vec<Bytes> = words
        .iter()
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect();
    engine.execute(client, &argv, None).0
}

fn text(r: &Reply) -> String {
    format!("{r:?}")
}

fn configured(greeting: &str) -> Config {
    let mut config = Config::default();
    config.plugins.enabled = vec!["unittest".into()];
    let mut section = toml::Table::new();
    section.insert("greeting".into(), toml::Value::String(greeting.into()));
    config
        .plugins
        .sections
        .insert("unittest".into(), toml::Value::Table(section));
    config
}

#[test]
fn inventory_plugins_are_the_known_plugins() {
    assert!(builtin_plugins().iter().any(|f| f.name == "unittest"));
    assert!(crate::config::known_plugins().contains(&"unittest"));
    assert!(find_builtin("nope").is_none());
}

#[test]
fn a_builtin_plugin_serves_its_commands_and_shows_in_module_list_and_info() {
    let mut engine = engine_with(configured("hi there"));
    start_configured(&mut engine).expect("start");
    let mut c = client();
    assert_eq!(
        text(&run(&mut engine, &mut c, &["UNIT.GREET"])),
        text(&Reply::bulk("hi there"))
    );
    let list = text(&run(&mut engine, &mut c, &["MODULE", "LIST"]));
    assert!(
        list.contains("unittest") && list.contains("10203"),
        "{list}"
    );
    let info = crate::commands::server::info_text(&mut engine, &["modules"]);
    assert!(
        info.contains("module:name=unittest,ver=10203,") && info.contains("version=1.2.3"),
        "{info}"
    );
    // COMMAND INFO reads the same table: flags, key positions, categories.
    let info = text(&run(&mut engine, &mut c, &["COMMAND", "INFO", "unit.copy"]));
    for part in [
        "unit.copy",
        "write",
        "@string",
        "Integer(1), Integer(2), Integer(1)",
    ] {
        assert!(info.contains(part), "{part} missing from {info}");
    }
    let keys = text(&run(
        &mut engine,
        &mut c,
        &["COMMAND", "GETKEYS", "unit.copy", "a", "b"],
    ));
    assert!(keys.contains("b\"a\"") && keys.contains("b\"b\""), "{keys}");
    let listed = text(&run(
        &mut engine,
        &mut c,
        &["COMMAND", "LIST", "FILTERBY", "MODULE", "unittest"],
    ));
    assert!(
        listed.contains("unit.greet") && listed.contains("unit.call"),
        "{listed}"
    );
}

#[test]
fn call_runs_core_commands_and_refuses_noscript_ones() {
    let mut engine = engine_with(configured("x"));
    start_builtin(&mut engine, "unittest").expect("start");
    let mut c = client();
    run(&mut engine, &mut c, &["SET", "src", "v"]);
    assert_eq!(
        text(&run(&mut engine, &mut c, &["UNIT.COPY", "src", "dst"])),
        text(&Reply::ok())
    );
    assert_eq!(
        text(&run(&mut engine, &mut c, &["GET", "dst"])),
        text(&Reply::bulk("v"))
    );
    for refused in [&["SHUTDOWN"][..], &["MODULE", "LIST"], &["CLIENT", "ID"]] {
        let mut words = vec!["unit.call"];
        words.extend_from_slice(refused);
        let r = text(&run(&mut engine, &mut c, &words));
        assert!(r.contains("not allowed from plugins"), "{refused:?}: {r}");
    }
    let r = text(&run(&mut engine, &mut c, &["unit.call", "nosuch"]));
    assert!(r.contains("unknown command"), "{r}");
    let r = text(&run(&mut engine, &mut c, &["unit.call", "get"]));
    assert!(r.contains("wrong number of arguments"), "{r}");
    assert!(!engine.shutdown_requested);
}

#[test]
fn subscriptions_see_matching_events_only() {
    let mut engine = engine_with(configured("x"));
    start_builtin(&mut engine, "unittest").expect("start");
    let mut c = client();
    run(&mut engine, &mut c, &["SET", "seen:1", "a"]);
    run(&mut engine, &mut c, &["SET", "other", "a"]);
    run(&mut engine, &mut c, &["UNIT.COPY", "seen:1", "seen:2"]);
    let seen = engine.state::<UnitState>().map(|s| s.sets_seen);
    assert_eq!(seen, Some(2));
}

/// What a plugin can leave behind in an engine.
fn footprint(engine: &mut Engine) -> (usize, usize, usize, Vec<String>, String) {
    let info = crate::commands::server::info_everything(engine);
    (
        engine.commands.len(),
        engine.after_command_count(),
        engine.subscription_count(),
        engine.info.own_sections(),
        info.lines()
            .filter(|l| l.starts_with('#') || l.starts_with("module:"))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

#[test]
fn unload_leaves_the_engine_as_before_the_load() {
    let mut engine = engine_with(configured("x"));
    let before = footprint(&mut engine);
    start_builtin(&mut engine, "unittest").expect("start");
    let loaded_print = footprint(&mut engine);
    assert_eq!(loaded_print.0, before.0 + 3);
    assert_eq!(loaded_print.1, before.1 + 1);
    assert_eq!(loaded_print.2, before.2 + 1);
    assert_eq!(loaded_print.3, vec!["unittest".to_string()]);
    assert!(loaded_print.4.contains("# Unittest"), "{}", loaded_print.4);
    assert!(
        loaded_print.4.contains("module:name=unittest,"),
        "{}",
        loaded_print.4
    );
    let mut c = client();
    run(&mut engine, &mut c, &["SET", "seen:1", "a"]);
    assert_eq!(
        engine.state::<UnitState>().map(|s| s.commands_after),
        Some(1)
    );
    unload(&mut engine, "unittest").expect("unload");
    assert_eq!(footprint(&mut engine), before);
}

#[test]
fn a_panicking_timer_or_hook_costs_that_run_only() {
    let mut engine = engine_with(Config::default());
    let mut c = client();
    let id = engine.add_after_command(Box::new(|_| panic!("hook bug")));
    // The command ran; the hook's panic is logged and costs nothing else.
    assert_eq!(
        run(&mut engine, &mut c, &["PING"]),
        Reply::Simple("PONG".into())
    );
    assert_eq!(
        run(&mut engine, &mut c, &["PING"]),
        Reply::Simple("PONG".into())
    );
    assert!(engine.remove_hook(id));
    let mut ran = false;
    run_guarded("unittest", "timer", || {
        ran = true;
        panic!("timer bug")
    });
    assert!(ran);
}

#[test]
fn unload_removes_commands_subscriptions_and_state() {
    let mut engine = engine_with(configured("x"));
    start_builtin(&mut engine, "unittest").expect("start");
    let before = engine.commands.len();
    unload(&mut engine, "unittest").expect("unload");
    assert_eq!(engine.commands.len(), before - 3);
    assert!(engine.commands.get(b"unit.greet").is_none());
    assert!(engine.state::<UnitState>().is_none());
    assert!(!engine.events.wants(class::STRING));
    assert!(matches!(
        unload(&mut engine, "unittest"),
        Err(PluginError::NotLoaded(_))
    ));
    // And it can start again.
    start_builtin(&mut engine, "unittest").expect("restart");
    assert!(matches!(
        start_builtin(&mut engine, "unittest"),
        Err(PluginError::AlreadyLoaded(_))
    ));
}

#[test]
fn a_failed_start_leaves_nothing_behind() {
    let mut config = configured("x");
    if let Some(toml::Value::Table(t)) = config.plugins.sections.get_mut("unittest") {
        t.insert("fail_start".into(), toml::Value::Boolean(true));
    }
    let mut engine = engine_with(config);
    let before = engine.commands.len();
    let e = start_configured(&mut engine).expect_err("must fail");
    assert!(e.to_string().contains("asked to fail"), "{e}");
    assert_eq!(engine.commands.len(), before);
    assert!(loaded(&engine).is_empty());
    assert!(!engine.events.wants(class::STRING));
}

#[test]
fn bad_plugin_sections_are_refused_at_load_with_the_key_path_and_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("respite.toml");
    let load = |text: &str| {
        std::fs::write(&path, text).expect("write");
        let overrides = Overrides {
            config: Some(path.clone()),
            ..Overrides::default()
        };
        Config::load_from(&overrides, Vec::new())
    };
    let e = load("[plugins.unittest]\ngreting = \"typo\"\n")
        .expect_err("unknown key")
        .to_string();
    assert!(
        e.contains("plugins.unittest.greting") && e.contains("respite.toml"),
        "{e}"
    );
    let e = load("[plugins.unittest]\nfail_start = \"yes\"\n")
        .expect_err("bad type")
        .to_string();
    assert!(e.contains("plugins.unittest.fail_start"), "{e}");
    let ok = load("[plugins]\nenabled = [\"unittest\"]\n[plugins.unittest]\ngreeting = \"hi\"\n")
        .expect("valid");
    assert_eq!(ok.config.plugins.enabled, vec!["unittest".to_string()]);
    let e = load("[[plugins.load]]\npath = \"\"\n")
        .expect_err("empty path")
        .to_string();
    assert!(e.contains("plugins.load[0].path"), "{e}");
    let e = load("[[plugins.load]]\npath = \"x.so\"\nargz = []\n")
        .expect_err("unknown key")
        .to_string();
    assert!(e.contains("argz"), "{e}");
    let ok = load("[[plugins.load]]\npath = \"x.so\"\nargs = [\"a\", \"b\"]\n").expect("valid");
    assert_eq!(ok.config.plugins.load[0].args, vec!["a", "b"]);
}

#[test]
fn background_tasks_get_the_shutdown_signal_and_are_awaited() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut engine = engine_with(configured("x"));
    let (tx, rx) = std::sync::mpsc::channel::<crate::engine::Job>();
    let tx = std::sync::Mutex::new(tx);
    let poster: crate::engine::Poster = Arc::new(move |job| {
        tx.lock()
            .map_err(|_| crate::engine::ExecutorGone)?
            .send(job)
            .map_err(|_| crate::engine::ExecutorGone)
    });
    let stopped = attach(&mut engine, runtime.handle().clone(), poster);
    start_builtin(&mut engine, "unittest").expect("start");
    assert!(!TASK_STOPPED.load(Ordering::SeqCst));
    // The timer's ticks reach the executor as jobs; playing the executor runs them.
    let job = runtime.block_on(async {
        loop {
            if let Ok(job) = rx.try_recv() {
                return job;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    });
    job(&mut engine);
    assert!(engine.state::<UnitState>().is_some_and(|s| s.ticks >= 1));
    stop_all(&mut engine);
    let tasks = std::mem::take(&mut *stopped.lock().expect("lock"));
    let mut names: Vec<&str> = tasks.iter().map(|(n, _)| n.as_str()).collect();
    names.sort();
    assert_eq!(names, ["unittest/tick", "unittest/waiter"]);
    runtime.block_on(async {
        for (_, handle) in tasks {
            handle.await.expect("task");
        }
    });
    assert!(TASK_STOPPED.load(Ordering::SeqCst));
}

#[test]
fn engine_handles_run_closures_on_the_executor() {
    let (tx, rx) = std::sync::mpsc::channel::<crate::engine::Job>();
    let tx = std::sync::Mutex::new(tx);
    let handle = EngineHandle(Arc::new(move |job| {
        tx.lock()
            .map_err(|_| crate::engine::ExecutorGone)?
            .send(job)
            .map_err(|_| crate::engine::ExecutorGone)
    }));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut engine = engine_with(Config::default());
    let result = runtime.block_on(async {
        let pending = handle.run(|engine| engine.commands.len());
        tokio::pin!(pending);
        // Play the executor: take the request and run it.
        assert!(futures_poll_once(&mut pending).await.is_none());
        let job = rx.recv().expect("request");
        job(&mut engine);
        pending.await
    });
    assert_eq!(result.expect("ran"), engine.commands.len());
}

/// Polls a future once, returning its output if it was ready.
async fn futures_poll_once<F: Future + Unpin>(f: &mut F) -> Option<F::Output> {
    use std::task::Poll;
    std::future::poll_fn(|cx| match std::pin::Pin::new(&mut *f).poll(cx) {
        Poll::Ready(v) => Poll::Ready(Some(v)),
        Poll::Pending => Poll::Ready(None),
    })
    .await
}

#[test]
fn plugins_without_settings_refuse_any_key() {
    use figment::providers::{Format, Toml};
    let figment = figment::Figment::from(Toml::string("[plugins.bare]\nx = 1\n"));
    let e = no_section(&figment, "plugins.bare").expect_err("a key");
    assert_eq!(e.path, ["plugins", "bare", "x"]);
    let figment = figment::Figment::from(Toml::string("[plugins.bare]\n"));
    assert!(no_section(&figment, "plugins.bare").is_ok());
    assert!(no_section(&figment, "plugins.absent").is_ok());
}

/// What the hooks plugin saw.
#[derive(Default)]
struct HookLog {
    commits: Vec<bool>,
    gone: Vec<crate::engine::client::ClientId>,
    relayed: Arc<std::sync::Mutex<Vec<(Bytes, Bytes)>>>,
}

struct Hooks;

impl Plugin for Hooks {
    fn start(&mut self, reg: &mut Registrar<'_>) -> Result<(), PluginError> {
        let relayed = Arc::new(std::sync::Mutex::new(Vec::new()));
        reg.set_state(HookLog {
            relayed: Arc::clone(&relayed),
            ..HookLog::default()
        });
        reg.after_commit(Box::new(|engine, ok| {
            if let Some(s) = engine.state_mut::<HookLog>() {
                s.commits.push(ok);
            }
        }));
        reg.on_client_gone(Box::new(|engine, id| {
            if let Some(s) = engine.state_mut::<HookLog>() {
                s.gone.push(id);
            }
        }));
        reg.relay_publish(
            Box::new(move |channel: &Bytes, message: &Bytes| {
                relayed
                    .lock()
                    .unwrap()
                    .push((channel.clone(), message.clone()));
            }),
            false,
        )?;
        Ok(())
    }
}

crate::builtin_plugin! {
    name: "unithooks",
    version: "1.0.0",
    config: (),
    create: || Box::new(Hooks),
}

#[test]
fn commit_client_gone_and_publish_hooks_run_and_go_with_the_plugin() {
    let mut engine = engine_with(Config::default());
    start_builtin(&mut engine, "unithooks").expect("start");
    let mut c = client();
    let relayed = Arc::clone(&engine.state::<HookLog>().unwrap().relayed);
    run(&mut engine, &mut c, &["SET", "k", "v"]);
    engine.commit().expect("commit");
    assert_eq!(engine.state::<HookLog>().unwrap().commits, vec![true]);
    // PUBLISH is relayed; a message from elsewhere is delivered here only.
    run(&mut engine, &mut c, &["PUBLISH", "ch", "m"]);
    engine.publish_local(&Bytes::from_static(b"ch"), &Bytes::from_static(b"remote"));
    assert_eq!(
        *relayed.lock().unwrap(),
        vec![(Bytes::from_static(b"ch"), Bytes::from_static(b"m"))]
    );
    // Keyspace notifications are not relayed unless asked.
    run(
        &mut engine,
        &mut c,
        &["CONFIG", "SET", "notify-keyspace-events", "KEA"],
    );
    run(&mut engine, &mut c, &["SET", "k", "w"]);
    assert_eq!(relayed.lock().unwrap().len(), 1);
    engine.client_gone(42);
    assert_eq!(engine.state::<HookLog>().unwrap().gone, vec![42]);

    unload(&mut engine, "unithooks").expect("unload");
    run(&mut engine, &mut c, &["PUBLISH", "ch", "after"]);
    run(&mut engine, &mut c, &["SET", "k", "x"]);
    engine.commit().expect("commit");
    engine.client_gone(43);
    assert_eq!(
        relayed.lock().unwrap().len(),
        1,
        "the relay went with the plugin"
    );
    assert_eq!(engine.commit_and_gone_hook_count(), 0);
}

#[test]
fn acl_checks_plugin_commands_and_their_calls_as_the_calling_user() {
    let mut engine = engine_with(configured("x"));
    start_builtin(&mut engine, "unittest").expect("start");
    let mut admin = client();
    // Declared categories count, and a command declaring none falls in @slow by its flags.
    let string = text(&run(&mut engine, &mut admin, &["ACL", "CAT", "string"]));
    assert!(string.contains("\"unit.copy\""), "{string}");
    let slow = text(&run(&mut engine, &mut admin, &["ACL", "CAT", "slow"]));
    assert!(
        slow.contains("\"unit.call\"") && !slow.contains("\"unit.greet\""),
        "{slow}"
    );
    let r = run(
        &mut engine,
        &mut admin,
        &[
            "ACL",
            "SETUSER",
            "u",
            "on",
            "nopass",
            "~*",
            "+unit.call",
            "+get",
        ],
    );
    assert_eq!(text(&r), text(&Reply::ok()));
    let addr: SocketAddr = "127.0.0.1:2".parse().expect("addr");
    let mut c = ClientState::new(2, addr, addr, true, Arc::new(ClientShared::new(true)));
    assert_eq!(
        text(&run(&mut engine, &mut c, &["AUTH", "u", "x"])),
        text(&Reply::ok())
    );
    assert_eq!(
        text(&run(&mut engine, &mut c, &["unit.call", "get", "k"])),
        text(&Reply::Null)
    );
    let r = text(&run(&mut engine, &mut c, &["unit.call", "set", "k", "v"]));
    assert!(
        r.contains("NOPERM this user has no permissions to run the 'set' command"),
        "{r}"
    );
    let r = text(&run(&mut engine, &mut c, &["unit.copy", "a", "b"]));
    assert!(r.contains("'unit.copy' command"), "{r}");
    let log = text(&run(&mut engine, &mut admin, &["ACL", "LOG", "2"]));
    assert!(
        log.contains("\"module\"") && log.contains("\"set\""),
        "{log}"
    );
}
