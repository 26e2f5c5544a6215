//! Lua script files for the tests of `[scripting] commands` and `hooks`.

use std::path::Path;

/// A shipped example from `scripts/`, by absolute path.
pub fn shipped(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// A TOML string list.
pub fn toml_list(paths: &[&str]) -> String {
    let items: Vec<String> = paths
        .iter()
        .map(|p| toml::Value::String(p.to_string()).to_string())
        .collect();
    format!("[{}]", items.join(", "))
}

/// Writes a script file into `dir` and returns its path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write script file");
    path.to_string_lossy().into_owned()
}
