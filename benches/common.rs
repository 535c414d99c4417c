//! What the benchmarks share.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds `cao-fake-agent` in release next to `cao` (a no-op when it is up to date).
pub fn build_fake_agent(cao: &Path) -> PathBuf {
    let release = cao.parent().expect("cao has a directory");
    let target = release.parent().expect("release dir has a parent");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "cao-fake-agent",
            "--target-dir",
        ])
        .arg(target)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building cao-fake-agent failed");
    let fake = release.join("cao-fake-agent");
    assert!(fake.exists(), "no fake agent at {}", fake.display());
    fake
}
