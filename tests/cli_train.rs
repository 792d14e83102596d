//! The ML engineer's path through the binary, as `docs/ml-guide.md` shows it, on a small
//! generated dataset: size → train (interrupted, resumed) → export → inspect --verify → infer →
//! cost → cosim, plus the errors a user meets on the way.
#![cfg(feature = "train")]

#[path = "../sw/tests/common/mod.rs"]
mod common;

mod cli;

use cli::s;
use std::path::Path;

const ENV: &[(&str, &str)] = &[("OMP_NUM_THREADS", "1")];

fn ok(args: &[&str]) -> String {
    cli::ok_with(args, ENV)
}

fn fails(args: &[&str], needle: &str) {
    cli::fails_with(args, ENV, needle)
}

#[test]
fn size_train_resume_export_verify_infer_cost_cosim() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::synthetic_fashion_mnist(&data, 128, 48);
    let run = tmp.path().join("run");
    let bundle = tmp.path().join("bundle");

    let out = ok(&[
        "size", "--family", "resnet8", "--bits", "2", "--budget", "4KiB",
    ]);
    assert!(out.contains("resnet8 at B = 2 — width"), "{out}");
    let width: f64 = out.split("width ").nth(1).unwrap()[..6].parse().unwrap();

    let train = |extra: &[&str]| {
        let mut a = vec![
            "train",
            "--family",
            "resnet8",
            "--bits",
            "2",
            "--budget",
            "4KiB",
            "--epochs",
            "2",
            "--batch",
            "32",
            "--threads",
            "1",
            "--quiet",
            "--data-dir",
            s(&data),
            "--out",
            s(&run),
        ];
        a.extend_from_slice(extra);
        ok(&a)
    };
    // Interrupted after one epoch, then resumed to the end.
    train(&["--stop-after", "1"]);
    let lines = |p: &Path| std::fs::read_to_string(p).unwrap().lines().count();
    assert_eq!(lines(&run.join("metrics.jsonl")), 1);
    let curve = || std::fs::read_to_string(run.join("training.svg")).unwrap();
    assert!(curve().contains("1 of 2 epochs"), "{}", curve());
    train(&["--resume"]);
    assert_eq!(lines(&run.join("metrics.jsonl")), 2);
    // The curve is redrawn with every epoch so far, as SVG and PNG, with no staging left over.
    assert!(
        curve().contains("resnet8") && curve().contains("B = 2: 2 of 2 epochs"),
        "{}",
        curve()
    );
    assert!(std::fs::metadata(run.join("training.png")).unwrap().len() > 1000);
    assert!(!std::fs::read_dir(&run).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with(".staging")));
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    assert!(
        (config["model"]["width"].as_f64().unwrap() - width).abs() < 1e-4,
        "{config}"
    );

    ok(&[
        "export",
        s(&run),
        "--out",
        s(&bundle),
        "--golden",
        "2",
        "--calibration-images",
        "64",
        "--threads",
        "1",
    ]);
    let out = ok(&["inspect", s(&bundle), "--verify"]);
    assert!(out.contains("resnet8"), "{out}");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("manifest.json")).unwrap())
            .unwrap();
    let int_acc = manifest["accuracy"]["integer"].as_f64().unwrap();
    // `infer` recomputes the integer accuracy from the bundle alone: the same number.
    let out = ok(&[
        "infer",
        s(&bundle),
        "--dataset",
        "fashion-mnist",
        "--data-dir",
        s(&data),
        "--threads",
        "1",
    ]);
    assert!(
        out.contains(&format!("{:.2}%", 100.0 * int_acc)),
        "{out} vs {int_acc}"
    );
    let out = ok(&[
        "cost",
        s(&bundle),
        "--engine",
        "tile",
        "--rows",
        "4",
        "--cols",
        "8",
    ]);
    assert!(out.contains("s1b1.conv1"), "{out}");
    let out = ok(&[
        "cosim",
        s(&bundle),
        "--engine",
        "tile",
        "--rows",
        "4",
        "--cols",
        "8",
        "--sim",
        "model",
    ]);
    assert!(out.contains("bit-exact"), "{out}");

    // What a user gets wrong.
    fails(
        &[
            "train",
            "--family",
            "resnet8",
            "--bits",
            "2",
            "--width",
            "1",
            "--budget",
            "4KiB",
            "--out",
            s(&run),
        ],
        "--budget",
    );
    fails(
        &["export", s(&data), "--out", s(&tmp.path().join("b2"))],
        "config.json",
    );
    fails(
        &[
            "train",
            "--family",
            "resnet8",
            "--bits",
            "9",
            "--width",
            "1",
            "--out",
            s(&tmp.path().join("r9")),
        ],
        "must be 1..=8",
    );
}

/// `train --board`: the run trains at the width `size --board` gives for that chip.
#[test]
fn train_at_the_largest_width_a_board_holds() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::synthetic_fashion_mnist(&data, 64, 16);
    let size = ok(&[
        "size",
        "--family",
        "resnet8",
        "--bits",
        "4",
        "--board",
        "icebreaker",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&size).unwrap();
    let width = v["width"].as_f64().unwrap();
    let run = tmp.path().join("run");
    ok(&[
        "train",
        "--family",
        "resnet8",
        "--bits",
        "4",
        "--board",
        "icebreaker",
        "--epochs",
        "1",
        "--batch",
        "32",
        "--threads",
        "1",
        "--quiet",
        "--data-dir",
        s(&data),
        "--out",
        s(&run),
    ]);
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["model"]["width"].as_f64(), Some(width), "{cfg}");
    fails(
        &[
            "train",
            "--family",
            "resnet8",
            "--board",
            "icebreaker",
            "--float",
            "--out",
            s(&run),
        ],
        "--board",
    );
}
