//! Redis 7.0.15's own test suite against Respite: `../shared/redis-tests/run.sh` runs each
//! file of `tests/redis-suite-floors.txt` against a fresh `respite` (the binary under test)
//! and this test fails when a file passes fewer tests than its floor there.
//!
//! It builds nothing itself and needs `tclsh` (apt-get install tcl), `redis-cli`
//! (apt-get install redis-tools) and the suite beside the repository
//! (`../shared/redis-tests`, or the directory in `RESPITE_REDIS_TESTS`). It takes about
//! four and a half minutes with the debug binary on two cores (2026-12: 275 s, of which the
//! `@layout70` entries take about 40).

mod common;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One line of the floors file: a suite file, the configuration it runs under (`None`: the
/// default one) and the least number of its tests that must pass.
#[derive(Debug, PartialEq)]
struct Entry {
    file: String,
    config: Option<String>,
    floor: usize,
}

impl Entry {
    /// How the floors file and the reports name the entry: `unit/sort` or `unit/sort@name`.
    fn label(&self) -> String {
        match &self.config {
            None => self.file.clone(),
            Some(c) => format!("{}@{c}", self.file),
        }
    }
}

/// The floors file: its named configurations (`@name section.key=value ...`, each setting as
/// the `RESPITE_SECTION__KEY` environment variable the server reads) and its entries
/// (`file floor` or `file@name floor`), in file order.
#[derive(Debug, PartialEq)]
struct Floors {
    configs: BTreeMap<String, Vec<(String, String)>>,
    entries: Vec<Entry>,
}

/// Parses the floors file's text; `origin` names it in the panics.
fn parse_floors(text: &str, origin: &str) -> Floors {
    let mut configs = BTreeMap::new();
    let mut entries = Vec::new();
    for l in text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
    {
        let mut words = l.split_whitespace();
        let first = words.next().unwrap_or_default();
        if let Some(name) = first.strip_prefix('@') {
            let settings: Vec<(String, String)> = words
                .map(|w| {
                    let (key, value) = w
                        .split_once('=')
                        .filter(|(k, _)| k.contains('.'))
                        .unwrap_or_else(|| {
                            panic!("{origin}: expected `section.key=value`, found {w:?} in {l:?}")
                        });
                    let var = format!("RESPITE_{}", key.replace('.', "__").to_ascii_uppercase());
                    (var, value.to_string())
                })
                .collect();
            assert!(
                !name.is_empty() && !settings.is_empty(),
                "{origin}: expected `@name section.key=value ...`, found {l:?}"
            );
            assert!(
                configs.insert(name.to_string(), settings).is_none(),
                "{origin}: configuration @{name} defined twice"
            );
            continue;
        }
        let (Some(floor), None) = (words.next(), words.next()) else {
            panic!("{origin}: expected `file floor` or `file@config floor`, found {l:?}");
        };
        let floor = floor
            .parse()
            .unwrap_or_else(|_| panic!("{origin}: bad floor in {l:?}"));
        let (file, config) = match first.split_once('@') {
            Some((file, config)) => (file, Some(config.to_string())),
            None => (first, None),
        };
        entries.push(Entry {
            file: file.to_string(),
            config,
            floor,
        });
    }
    for e in &entries {
        if let Some(c) = &e.config {
            assert!(
                configs.contains_key(c),
                "{origin}: {} names configuration @{c}, which no `@{c} ...` line defines",
                e.label()
            );
        }
    }
    Floors { configs, entries }
}

/// One entry as a worker runs it: its label, its suite file and its server's environment.
struct Job {
    label: String,
    file: String,
    env: Vec<(String, String)>,
}

/// `file -> ok count` from one run.sh's output lines (`unit/type/list  ok= 131 err= ...`).
fn counts(output: &str) -> BTreeMap<String, usize> {
    output
        .lines()
        .filter_map(|line| {
            let (file, rest) = line.split_once(" ok=")?;
            let ok = rest.split_whitespace().next()?.parse().ok()?;
            Some((file.trim().to_string(), ok))
        })
        .collect()
}

#[test]
fn floors_file_syntax() {
    let floors = parse_floors(
        "# comment\n@layout70 storage.collection_layout=redis-7.0 server.hz=10  # why\n\
         unit/sort 0   # stops\nunit/sort@layout70  52\n",
        "test",
    );
    assert_eq!(
        floors.configs["layout70"],
        vec![
            (
                "RESPITE_STORAGE__COLLECTION_LAYOUT".to_string(),
                "redis-7.0".to_string()
            ),
            ("RESPITE_SERVER__HZ".to_string(), "10".to_string()),
        ]
    );
    let labels: Vec<(String, usize)> = floors
        .entries
        .iter()
        .map(|e| (e.label(), e.floor))
        .collect();
    assert_eq!(
        labels,
        vec![
            ("unit/sort".to_string(), 0),
            ("unit/sort@layout70".to_string(), 52)
        ]
    );
    let counted =
        counts("unit/sort                    ok=  52 err=   0 exception=0\nTOTAL ok=52\n");
    assert_eq!(counted.get("unit/sort"), Some(&52));
}

#[test]
#[should_panic(expected = "no `@nope ...` line defines")]
fn floors_file_entry_needs_its_configuration() {
    parse_floors("unit/sort@nope 1\n", "test");
}

/// Whether `tool` is on the PATH.
fn which(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `n` ports `p`, 100 apart, each with `p` and `p + 1000` (run.sh's base port for the
/// suite's own helpers) free.
fn free_ports(n: usize) -> Vec<u16> {
    let start = 20_000 + (std::process::id() % 80) as u16 * 100;
    let ports: Vec<u16> = (start..29_000)
        .chain(20_000..start)
        .step_by(100)
        .filter(|p| {
            TcpListener::bind(("127.0.0.1", *p)).is_ok()
                && TcpListener::bind(("127.0.0.1", *p + 1000)).is_ok()
        })
        .take(n)
        .collect();
    assert_eq!(ports.len(), n, "free ports between 20000 and 30000");
    ports
}

/// How many run.sh instances run side by side: most of the suite's time is spent waiting
/// (sleeps, timeouts), so workers cut the run time; two, not more, because the suite has
/// timing-sensitive tests and CI has two cores.
const WORKERS: usize = 2;

#[test]
fn redis_suite_files_pass_at_least_their_floors() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let suite = std::env::var_os("RESPITE_REDIS_TESTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/redis-tests"));
    assert!(
        suite.join("run.sh").is_file(),
        "Redis's test suite is missing: expected {}/run.sh (Redis 7.0.15's tests/ and run.sh, \
         kept beside the repository in ../shared/redis-tests; RESPITE_REDIS_TESTS may name \
         another directory)",
        suite.display()
    );
    assert!(
        which("tclsh"),
        "tclsh is missing: Redis's test suite is Tcl; install it (apt-get install tcl, or run \
         .ci/run)"
    );
    assert!(
        which("redis-cli"),
        "redis-cli is missing: run.sh waits for each server with it; install it (apt-get \
         install redis-tools, or run .ci/run)"
    );

    let floors_path = root.join("tests/redis-suite-floors.txt");
    let text = std::fs::read_to_string(&floors_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", floors_path.display()));
    let Floors { configs, entries } = parse_floors(&text, &floors_path.display().to_string());
    let out = tempfile::tempdir().expect("temp dir");
    let server = format!(
        "{} --bind 127.0.0.1 --port {{port}} --db {{dir}}/data.db",
        common::respite_bin().display()
    );
    // RESPITE_REDIS_SUITE_FILES="unit/sort unit/expire" checks only those files, under every
    // configuration they are listed with (`unit/sort@layout70`: only that entry), while
    // working on them; CI runs every entry of the floors list.
    let chosen: Option<Vec<String>> = std::env::var("RESPITE_REDIS_SUITE_FILES")
        .ok()
        .map(|v| v.split_whitespace().map(str::to_string).collect());
    let entries: Vec<Entry> = entries
        .into_iter()
        .filter(|e| {
            chosen
                .as_ref()
                .is_none_or(|c| c.contains(&e.file) || c.contains(&e.label()))
        })
        .collect();
    let started = std::time::Instant::now();
    let ports = free_ports(WORKERS);
    // Each worker takes the next entry off one queue and runs it with a run.sh of its own
    // (run.sh starts all its files' servers with one command line and environment, and the
    // entries' configurations differ), on the worker's own ports: the workers stay busy
    // until the queue is empty however long each file takes.
    let queue: std::collections::VecDeque<Job> = entries
        .iter()
        .map(|e| Job {
            label: e.label(),
            file: e.file.clone(),
            env: e
                .config
                .as_ref()
                .map(|c| configs[c].clone())
                .unwrap_or_default(),
        })
        .collect();
    let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
    let workers: Vec<_> = ports
        .into_iter()
        .map(|port| {
            let (queue, suite, server) = (queue.clone(), suite.clone(), server.clone());
            let logs = out.path().to_path_buf();
            std::thread::spawn(move || {
                let mut results = Vec::new();
                loop {
                    let next = queue.lock().expect("queue").pop_front();
                    let Some(Job { label, file, env }) = next else {
                        break;
                    };
                    let run_started = std::time::Instant::now();
                    let mut cmd = Command::new("bash");
                    cmd.arg(suite.join("run.sh"))
                        .arg(&server)
                        .arg(&file)
                        .env("OUT_PORT", port.to_string())
                        .env("SUITE_OUT", logs.join(label.replace(['/', '@'], "_")))
                        .stdin(Stdio::null());
                    // The developer's shell must not change the servers' configuration: only
                    // the entry's own settings reach them.
                    for (key, _) in std::env::vars_os() {
                        let key = key.to_string_lossy().into_owned();
                        if key.starts_with("RESPITE_") && key.contains("__") {
                            cmd.env_remove(key);
                        }
                    }
                    cmd.envs(env);
                    let run = cmd.output().expect("run.sh runs");
                    let stdout = String::from_utf8_lossy(&run.stdout);
                    eprint!("{}", String::from_utf8_lossy(&run.stderr));
                    let ok = counts(&stdout).get(&file).copied();
                    let line = stdout
                        .lines()
                        .find_map(|l| l.strip_prefix(file.as_str()))
                        .map_or("no result", str::trim);
                    println!("{label:<28} {line} ({:.0?})", run_started.elapsed());
                    results.push((label, ok));
                }
                results
            })
        })
        .collect();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for worker in workers {
        for (label, ok) in worker.join().expect("worker thread") {
            if let Some(ok) = ok {
                counts.insert(label, ok);
            }
        }
    }
    println!("Redis's suite took {:?}", started.elapsed());

    let mut below = Vec::new();
    let mut above = Vec::new();
    for e in &entries {
        let (file, floor) = (e.label(), e.floor);
        match counts.get(&file) {
            None => below.push(format!("{file}: no result (floor {floor})")),
            Some(&ok) if ok < floor => below.push(format!("{file}: {ok} passed, floor {floor}")),
            Some(&ok) if ok > floor => above.push(format!("{file} {ok}")),
            Some(_) => {}
        }
    }
    if !above.is_empty() {
        println!(
            "more tests pass than the floors say; raise them in {}:\n{}",
            floors_path.display(),
            above.join("\n")
        );
    }
    if !below.is_empty() {
        // Keep the logs: they are the only way to see which tests stopped passing.
        let logs = out.keep();
        panic!(
            "Redis's suite: files below their floor (logs in {}):\n{}",
            logs.display(),
            below.join("\n")
        );
    }
}
