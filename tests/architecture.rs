//! The layout's two rules, checked over the sources: the core's top-level modules import each
//! other without a cycle, and plugin crates use the core through its plugin API alone.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// The text that counts: a file's code before its first `#[cfg(test)]` (unit tests may reach
/// anywhere).
fn code_of(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    match text.find("#[cfg(test)]") {
        Some(cut) => text[..cut].to_string(),
        None => text,
    }
}

/// The top-level modules of a crate's `src` and the other top-level modules each names with
/// `crate::NAME` (doc links included: a doc link is a dependency a reader follows).
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for entry in fs::read_dir(src).expect("src").flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if path.is_dir() {
            files.insert(name, rust_files(&path));
        } else if let Some(stem) = name.strip_suffix(".rs") {
            if stem != "lib" && stem != "main" {
                files.insert(stem.to_string(), vec![path]);
            }
        }
    }
    let mut graph = BTreeMap::new();
    for (module, paths) in &files {
        let mut deps = BTreeSet::new();
        for path in paths {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if name == "tests.rs" || path.components().any(|c| c.as_os_str() == "tests") {
                continue;
            }
            let code = code_of(path);
            let mut rest = code.as_str();
            while let Some(at) = rest.find("crate::") {
                rest = &rest[at + "crate::".len()..];
                let ident: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if ident != *module && files.contains_key(&ident) {
                    deps.insert(ident);
                }
            }
        }
        graph.insert(module.clone(), deps);
    }
    graph
}

/// The groups of modules that import each other in a loop (strongly connected components of
/// more than one module), each sorted.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Two modules are in one loop when each reaches the other.
    let reach = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_string()];
        while let Some(m) = todo.pop() {
            for dep in graph.get(&m).into_iter().flatten() {
                if seen.insert(dep.clone()) {
                    todo.push(dep.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&String, BTreeSet<String>> =
        graph.keys().map(|m| (m, reach(m))).collect();
    let mut groups: Vec<Vec<String>> = Vec::new();
    let mut placed = BTreeSet::new();
    for m in graph.keys() {
        if placed.contains(m) || !reaches[m].contains(m) {
            continue;
        }
        let group: Vec<String> = graph
            .keys()
            .filter(|o| reaches[m].contains(*o) && reaches[*o].contains(m))
            .cloned()
            .collect();
        placed.extend(group.iter().cloned());
        groups.push(group);
    }
    groups
}

#[test]
fn the_cores_modules_import_each_other_without_a_cycle() {
    let graph = module_graph(&root().join("core/src"));
    assert!(graph.len() > 5, "core/src has its modules: {graph:?}");
    let found = cycles(&graph);
    assert!(
        found.is_empty(),
        "modules of core/src import each other in a loop: {found:?}\nedges: {graph:#?}"
    );
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path();
    fs::write(src.join("lib.rs"), "mod a; mod b; mod c;").expect("write");
    fs::write(src.join("a.rs"), "use crate::b::B;").expect("write");
    fs::create_dir(src.join("b")).expect("mkdir");
    fs::write(src.join("b/mod.rs"), "mod inner;").expect("write");
    fs::write(src.join("b/inner.rs"), "/// See [`crate::a`].").expect("write");
    fs::write(
        src.join("c.rs"),
        "use crate::a::A;\n#[cfg(test)]\nmod tests { use crate::c; }",
    )
    .expect("write");
    assert_eq!(
        cycles(&module_graph(src)),
        vec![vec!["a".to_string(), "b".to_string()]]
    );
    // A test module may reach anywhere.
    fs::write(src.join("b/inner.rs"), "#[cfg(test)]\nuse crate::a;").expect("write");
    assert!(cycles(&module_graph(src)).is_empty());
}

/// The paths under `respite_core::` that a plugin's source names other than the plugin API.
fn outside_the_api(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("respite_core::") {
        rest = &rest[at + "respite_core::".len()..];
        let path: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        if !(path.starts_with("plugin::api::") || path == "plugin::api") {
            out.push(format!("respite_core::{path}"));
        }
    }
    out
}

#[test]
fn plugin_crates_use_the_plugin_api_alone() {
    let plugins = root().join("plugins");
    let mut checked = 0;
    let mut bad = Vec::new();
    for path in rust_files(&plugins) {
        let code = fs::read_to_string(&path).unwrap_or_default();
        checked += 1;
        for name in outside_the_api(&code) {
            bad.push(format!("{}: {name}", path.display()));
        }
    }
    assert!(checked > 3, "found the plugins' sources");
    assert!(
        bad.is_empty(),
        "plugins must name only respite_core::plugin::api:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_plugin_api_check_finds_internals() {
    assert!(outside_the_api("use respite_core::plugin::api::{Ctx, Reply};").is_empty());
    assert_eq!(
        outside_the_api("use respite_core::engine::Engine;\nrespite_core::plugin::Registrar"),
        vec![
            "respite_core::engine::Engine",
            "respite_core::plugin::Registrar"
        ]
    );
}
