//! Sweeps on a real Slurm cluster: a single-node cluster on this machine
//! (`scripts/slurm-cluster.sh up`, Debian's slurm-wlm and munge) runs the Slurm lines of
//! docs/experiment.md as written — `N=…`, `sbatch --array … --wrap "unibit sweep run …"`,
//! `unibit sweep collect` — on a tiny plan. One array task is cancelled after its first
//! checkpoint; re-submitting the same array resumes it. The collected table must equal a local
//! sweep of the same plan byte for byte. If the cluster cannot start, the test fails saying why.
#![cfg(feature = "train")]

#[path = "../sw/tests/common/mod.rs"]
mod common;

mod cli;

use cli::s;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// Longest a submitted array may take before the test gives up (and cancels it).
const ARRAY_LIMIT: Duration = Duration::from_secs(600);

/// Start the cluster (idempotent), or fail with the script's own reason.
fn cluster_up() {
    let o = Command::new("bash")
        .arg(Path::new(ROOT).join("scripts/slurm-cluster.sh"))
        .arg("up")
        .output()
        .expect("run scripts/slurm-cluster.sh");
    assert!(
        o.status.success(),
        "the Slurm cluster could not start: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The docs' Slurm block: its `N=`, `sbatch` and `collect` lines (continuations joined).
fn docs_slurm_lines() -> (String, String, String) {
    let text = std::fs::read_to_string(Path::new(ROOT).join("docs/experiment.md")).unwrap();
    let start = text
        .find("### Beyond one machine (Slurm)")
        .expect("docs' Slurm section");
    let block = &text[start..];
    let block = &block[block.find("```sh").unwrap() + 5..];
    let block = &block[..block.find("```").unwrap()];
    let joined = block.replace("\\\n", " ");
    let find = |prefix: &str| {
        joined
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("docs' Slurm block has no line starting {prefix:?}"))
            .to_string()
    };
    (find("N="), find("sbatch "), find("unibit sweep collect"))
}

/// Run `script` in bash with `SWEEP` set and the test's `unibit` first on PATH; its stdout.
fn sh(script: &str, sweep: &Path) -> String {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_unibit"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .env("SWEEP", sweep)
        .env("PATH", path)
        .env_remove("SLURM_ARRAY_TASK_ID")
        .current_dir(sweep.parent().unwrap())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "`{script}` failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The job id in sbatch's "Submitted batch job N".
fn job_id(sbatch_out: &str) -> String {
    sbatch_out
        .split_whitespace()
        .last()
        .filter(|id| id.chars().all(|c| c.is_ascii_digit()))
        .unwrap_or_else(|| panic!("no job id in sbatch's output {sbatch_out:?}"))
        .to_string()
}

/// Wait until no task of array `job` is queued or running (cancel it and fail after the limit).
fn wait_for(job: &str) {
    let t0 = Instant::now();
    loop {
        let o = Command::new("squeue")
            .args(["-h", "-j", job, "-o", "%i %T"])
            .output()
            .unwrap();
        let queued = String::from_utf8_lossy(&o.stdout).trim().to_string();
        if o.status.success() && queued.is_empty() {
            return;
        }
        if t0.elapsed() > ARRAY_LIMIT {
            let _ = Command::new("scancel").arg(job).status();
            panic!("array {job} not finished after {ARRAY_LIMIT:?}: {queued}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn an_sbatch_array_sweep_equals_the_local_sweep_and_a_cancelled_task_resumes() {
    cluster_up();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // 2048 training images: an epoch is long enough to cancel a task between its checkpoints.
    common::synthetic_fashion_mnist(&data, 2048, 32);
    let spec = |out: &Path| -> Vec<String> {
        let mut v: Vec<String> = [
            "--family",
            "resnet8",
            "--budgets",
            "2KiB,3KiB",
            "--bits",
            "2",
            "--epochs",
            "2",
            "--batch",
            "32",
            "--calibration-images",
            "64",
            "--golden",
            "0",
            "--data-dir",
            s(&data),
            "--out",
        ]
        .iter()
        .map(|x| x.to_string())
        .collect();
        v.push(s(out).to_string());
        v
    };
    let run = |pre: &[&str], out: &Path, post: &[&str]| {
        let mut a: Vec<String> = pre.iter().map(|x| x.to_string()).collect();
        a.extend(spec(out));
        a.extend(post.iter().map(|x| x.to_string()));
        cli::ok_with(&a.iter().map(String::as_str).collect::<Vec<_>>(), &[])
    };

    let local = tmp.path().join("local");
    run(&["sweep"], &local, &["--threads", "1", "--quiet"]);
    let table = std::fs::read(local.join("results.jsonl")).unwrap();
    assert_eq!(String::from_utf8_lossy(&table).lines().count(), 2);

    let sweep = tmp.path().join("slurm");
    run(&["sweep", "plan"], &sweep, &[]);
    let (count, sbatch, collect) = docs_slurm_lines();
    // The docs give each task two threads; tests train with one.
    let sbatch = sbatch
        .replace("--cpus-per-task=2", "--cpus-per-task=1")
        .replace("--threads 2", "--threads 1");
    assert!(sbatch.contains("--threads 1") && sbatch.contains("--cpus-per-task=1"));
    let submit = format!("{count}\n{sbatch}");

    // First submission: cancel task 1 once its first epoch is checkpointed.
    let job = job_id(&sh(&submit, &sweep));
    let task1 = sweep.join("runs/resnet8-3KiB-b2-s0");
    let t0 = Instant::now();
    while !task1.join("checkpoint.json").exists() {
        assert!(t0.elapsed() < ARRAY_LIMIT, "task 1 wrote no checkpoint");
        std::thread::sleep(Duration::from_millis(20));
    }
    let cancel = Command::new("scancel")
        .arg(format!("{job}_1"))
        .status()
        .unwrap();
    assert!(cancel.success(), "scancel {job}_1 failed");
    wait_for(&job);
    assert!(
        sweep.join("runs/resnet8-2KiB-b2-s0/done").exists(),
        "task 0 did not finish"
    );
    assert!(
        !task1.join("done").exists(),
        "task 1 finished before it could be cancelled"
    );

    // The same array again: task 0 is skipped, task 1 resumes from its checkpoint.
    let again = job_id(&sh(&submit, &sweep));
    wait_for(&again);
    let out0 = std::fs::read_to_string(sweep.join("slurm-0.out")).unwrap();
    assert!(out0.contains("already finished"), "{out0}");
    let log = std::fs::read_to_string(task1.join("log")).unwrap();
    assert!(
        log.contains("resuming from the checkpoint after epoch 1"),
        "{log}"
    );
    let collected = sh(&collect, &sweep);
    assert!(collected.contains("2 of 2 runs"), "{collected}");
    assert_eq!(
        std::fs::read(sweep.join("results.jsonl")).unwrap(),
        table,
        "the Slurm array's table differs from the local sweep's"
    );
}
