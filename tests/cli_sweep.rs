//! `unibit sweep` and `unibit mixed` through the binary: a local sweep with one job at a time,
//! the same with `--jobs 2` (child processes), and plan + Slurm-array-style runs + collect
//! all give the same table; the mixed baseline's records go into a report next to them.
#![cfg(feature = "train")]

#[path = "../sw/tests/common/mod.rs"]
mod common;

mod cli;

use cli::s;
use std::path::Path;
use std::process::{Command, Output};

/// Run with the Slurm array task index set (or not).
fn unibit(args: &[&str], slurm_task: Option<usize>) -> Output {
    match slurm_task {
        Some(i) => cli::run(args, &[("SLURM_ARRAY_TASK_ID", &i.to_string())]),
        None => cli::run(args, &[]),
    }
}

fn ok(args: &[&str], slurm_task: Option<usize>) -> String {
    match slurm_task {
        Some(i) => cli::ok_with(args, &[("SLURM_ARRAY_TASK_ID", &i.to_string())]),
        None => cli::ok_with(args, &[]),
    }
}

#[test]
fn local_parallel_and_array_sweeps_give_one_table() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::synthetic_fashion_mnist(&data, 96, 32);
    let spec = |out: &Path| -> Vec<String> {
        [
            "--family",
            "resnet8",
            "--budgets",
            "2KiB,3KiB",
            "--bits",
            "1,2",
            "--epochs",
            "1",
            "--batch",
            "32",
            "--calibration-images",
            "64",
            "--golden",
            "2",
            "--data-dir",
            s(&data),
            "--out",
            s(out),
        ]
        .iter()
        .map(|x| x.to_string())
        .collect()
    };
    let run = |pre: &[&str], out: &Path, post: &[&str], slurm: Option<usize>| {
        let mut a: Vec<String> = pre.iter().map(|x| x.to_string()).collect();
        a.extend(spec(out));
        a.extend(post.iter().map(|x| x.to_string()));
        let refs: Vec<&str> = a.iter().map(|x| x.as_str()).collect();
        ok(&refs, slurm)
    };
    let a = tmp.path().join("a");
    let out = run(&["sweep"], &a, &["--threads", "1", "--quiet"], None);
    assert!(out.contains("4 of 4 runs"), "{out}");
    let table = std::fs::read(a.join("results.jsonl")).unwrap();
    assert_eq!(String::from_utf8_lossy(&table).lines().count(), 4);

    let b = tmp.path().join("b");
    run(&["sweep"], &b, &["--jobs", "2", "--quiet"], None);
    assert_eq!(std::fs::read(b.join("results.jsonl")).unwrap(), table);
    assert!(b.join("runs/resnet8-2KiB-b1-s0/log").is_file());

    let c = tmp.path().join("c");
    let planned = run(&["sweep", "plan"], &c, &[], None);
    assert!(planned.contains("4 jobs"), "{planned}");
    let plan = c.join("plan.json");
    let o = unibit(&["sweep", "run", "--plan", s(&plan)], None);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--job-index"));
    for i in 0..4 {
        ok(
            &["sweep", "run", "--plan", s(&plan), "--threads", "1"],
            Some(i),
        );
    }
    let again = ok(
        &["sweep", "run", "--plan", s(&plan), "--job-index", "2"],
        None,
    );
    assert!(again.contains("already finished"), "{again}");
    let collected = ok(&["sweep", "collect", "--plan", s(&plan)], None);
    assert!(collected.contains("4 of 4 runs"), "{collected}");
    assert_eq!(std::fs::read(c.join("results.jsonl")).unwrap(), table);

    let m = tmp.path().join("m");
    ok(
        &[
            "mixed",
            "--family",
            "resnet8",
            "--width",
            "0.25",
            "--budgets",
            "3KiB",
            "--epochs",
            "1",
            "--batch",
            "32",
            "--hessian-samples",
            "2",
            "--hessian-images",
            "64",
            "--data-dir",
            s(&data),
            "--threads",
            "1",
            "--quiet",
            "--out",
            s(&m),
        ],
        None,
    );
    let mixed = std::fs::read_to_string(m.join("results.jsonl")).unwrap();
    assert!(mixed.contains("\"method\":\"mixed-budget\""), "{mixed}");
    let r = tmp.path().join("report");
    let rep = ok(&["report", s(&a), s(&m), "--out", s(&r)], None);
    assert!(rep.contains("5 runs"), "{rep}");
}

#[test]
fn a_killed_job_resumes_from_its_checkpoint_and_ends_as_if_never_killed() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::synthetic_fashion_mnist(&data, 2048, 32);
    let plan_in = |dir: &Path| {
        ok(
            &[
                "sweep",
                "plan",
                "--family",
                "resnet8",
                "--budgets",
                "3KiB",
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
                s(dir),
            ],
            None,
        );
        dir.join("plan.json")
    };
    let run_args = |plan: &Path| {
        vec![
            "sweep".to_string(),
            "run".into(),
            "--plan".into(),
            s(plan).into(),
            "--job-index".into(),
            "0".into(),
            "--threads".into(),
            "1".into(),
        ]
    };
    // Uninterrupted.
    let a = tmp.path().join("a");
    let pa = plan_in(&a);
    ok(
        &run_args(&pa).iter().map(|x| x.as_str()).collect::<Vec<_>>(),
        None,
    );
    // Killed (SIGKILL) as soon as the first epoch's checkpoint exists, then run again.
    let b = tmp.path().join("b");
    let pb = plan_in(&b);
    let run_dir = b.join("runs/resnet8-3KiB-b2-s0");
    let mut child = Command::new(env!("CARGO_BIN_EXE_unibit"))
        .args(run_args(&pb))
        .env_remove("SLURM_ARRAY_TASK_ID")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while !run_dir.join("checkpoint.json").exists() {
        assert!(t0.elapsed().as_secs() < 300, "no checkpoint after 300 s");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !run_dir.join("done").exists(),
        "the job finished before it could be killed"
    );
    let resumed = ok(
        &run_args(&pb).iter().map(|x| x.as_str()).collect::<Vec<_>>(),
        None,
    );
    assert!(resumed.contains("integer"), "{resumed}");
    let log = std::fs::read_to_string(run_dir.join("log")).unwrap();
    assert!(
        log.contains("resuming from the checkpoint after epoch 1"),
        "{log}"
    );
    let metrics = std::fs::read_to_string(run_dir.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 2, "{metrics}");
    assert_eq!(
        std::fs::read_to_string(run_dir.join("record.json")).unwrap(),
        std::fs::read_to_string(a.join("runs/resnet8-3KiB-b2-s0/record.json")).unwrap()
    );
}
