//! Running the `unibit` binary from integration tests: output on success, the error text on an
//! expected failure (never a panic).
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Run `unibit args…` with `envs` set (and the Slurm task index removed, so a test never picks
/// one up from the machine it runs on).
pub fn run(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_unibit"));
    c.args(args).env_remove("SLURM_ARRAY_TASK_ID");
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().expect("run unibit")
}

/// Stdout of a run that must succeed.
pub fn ok_with(args: &[&str], envs: &[(&str, &str)]) -> String {
    let o = run(args, envs);
    assert!(
        o.status.success(),
        "unibit {args:?} failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A run that must fail with `needle` in its error and without a panic.
pub fn fails_with(args: &[&str], envs: &[(&str, &str)], needle: &str) {
    let o = run(args, envs);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "unibit {args:?} should fail");
    assert!(
        err.contains(needle),
        "unibit {args:?}: error {err:?} lacks {needle:?}"
    );
    assert!(!err.contains("panicked"), "unibit {args:?} panicked: {err}");
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}
