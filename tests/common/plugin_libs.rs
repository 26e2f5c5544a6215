//! The example and test plugins built as shared libraries, once per test binary, for the
//! tests that load them (plugins, Lua commands called from a plugin).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::output_text;

/// The plugin libraries, built once per test run.
pub struct Libs {
    pub ratelimit: PathBuf,
    pub delayq: PathBuf,
    pub testkit: PathBuf,
    pub old_abi: PathBuf,
    pub no_entry: PathBuf,
}

/// Builds the example and test plugins with the same cargo, into a target directory of their
/// own (the outer `cargo test` keeps the workspace's locked while tests run).
pub fn libs() -> &'static Libs {
    static LIBS: OnceLock<Libs> = OnceLock::new();
    LIBS.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"))
            .join("plugin-tests");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let crates = [
            "respite-example-ratelimit",
            "respite-example-delayq",
            "respite-test-plugin-testkit",
            "respite-test-plugin-old-abi",
            "respite-test-plugin-no-entry",
        ];
        let mut build = Command::new(cargo);
        build.current_dir(root).args(["build", "--quiet"]);
        for c in crates {
            build.args(["-p", c]);
        }
        let out = build
            .arg("--target-dir")
            .arg(&target)
            .output()
            .expect("run cargo build for the plugin libraries");
        assert!(
            out.status.success(),
            "building the plugin libraries failed:\n{}",
            output_text(&out)
        );
        let lib = |name: &str| {
            let path = target.join("debug").join(format!(
                "{}{name}{}",
                std::env::consts::DLL_PREFIX,
                std::env::consts::DLL_SUFFIX
            ));
            assert!(path.is_file(), "{} was not built", path.display());
            path
        };
        Libs {
            ratelimit: lib("respite_example_ratelimit"),
            delayq: lib("respite_example_delayq"),
            testkit: lib("respite_test_plugin_testkit"),
            old_abi: lib("respite_test_plugin_old_abi"),
            no_entry: lib("respite_test_plugin_no_entry"),
        }
    })
}
