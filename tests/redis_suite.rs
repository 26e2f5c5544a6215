//! Redis 7.0.15's own test suite against Respite: `../shared/redis-tests/run.sh` runs each
//! file of `tests/redis-suite-floors.txt` against a fresh `respite` (the binary under test)
//! and this test fails when a file passes fewer tests than its floor there.
//!
//! It builds nothing itself and needs `tclsh` (apt-get install tcl), `redis-cli`
//! (apt-get install redis-tools) and the suite beside the repository
//! (`../shared/redis-tests`, or the directory in `RESPITE_REDIS_TESTS`). It takes about a
//! minute and a half with the debug binary.

mod common;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// `file -> floor` from the floors file, in file order.
fn floors(path: &Path) -> Vec<(String, usize)> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut words = l.split_whitespace();
            let (Some(file), Some(floor), None) = (words.next(), words.next(), words.next()) else {
                panic!("{}: expected `file floor`, found {l:?}", path.display());
            };
            let floor = floor
                .parse()
                .unwrap_or_else(|_| panic!("{}: bad floor in {l:?}", path.display()));
            (file.to_string(), floor)
        })
        .collect()
}

/// `file -> ok count` from run.sh's output lines (`unit/type/list  ok= 131 err= ...`).
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
    let floors = floors(&floors_path);
    let out = tempfile::tempdir().expect("temp dir");
    let server = format!(
        "{} --bind 127.0.0.1 --port {{port}} --db {{dir}}/data.db",
        common::respite_bin().display()
    );
    // RESPITE_REDIS_SUITE_FILES="unit/sort unit/expire" checks only those files (while
    // working on them); CI runs every file of the floors list.
    let chosen: Option<Vec<String>> = std::env::var("RESPITE_REDIS_SUITE_FILES")
        .ok()
        .map(|v| v.split_whitespace().map(str::to_string).collect());
    let floors: Vec<(String, usize)> = floors
        .into_iter()
        .filter(|(f, _)| chosen.as_ref().is_none_or(|c| c.contains(f)))
        .collect();
    let started = std::time::Instant::now();
    let ports = free_ports(WORKERS);
    let workers: Vec<_> = ports
        .iter()
        .enumerate()
        .map(|(w, port)| {
            let files: Vec<&str> = floors
                .iter()
                .skip(w)
                .step_by(WORKERS)
                .map(|(f, _)| f.as_str())
                .collect();
            (w, port, files)
        })
        // run.sh runs every file when given none: a worker without files must not start.
        .filter(|(_, _, files)| !files.is_empty())
        .map(|(w, port, files)| {
            let logs = out.path().join(format!("worker{w}"));
            Command::new("bash")
                .arg(suite.join("run.sh"))
                .arg(&server)
                .args(&files)
                .env("OUT_PORT", port.to_string())
                .env("SUITE_OUT", &logs)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("run.sh starts")
        })
        .collect();
    let mut stdout = String::new();
    for worker in workers {
        let run = worker.wait_with_output().expect("run.sh runs");
        stdout.push_str(&String::from_utf8_lossy(&run.stdout));
        eprint!("{}", String::from_utf8_lossy(&run.stderr));
    }
    println!("{stdout}");
    println!("Redis's suite took {:?}", started.elapsed());
    let counts = counts(&stdout);

    let mut below = Vec::new();
    let mut above = Vec::new();
    for (file, floor) in &floors {
        match counts.get(file) {
            None => below.push(format!("{file}: no result (floor {floor})")),
            Some(ok) if ok < floor => below.push(format!("{file}: {ok} passed, floor {floor}")),
            Some(ok) if ok > floor => above.push(format!("{file} {ok}")),
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
