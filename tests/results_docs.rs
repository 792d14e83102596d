//! The committed experiment report (docs/results) is what `unibit report` makes from the
//! committed raw records: its numbers cannot drift from the runs they claim to come from.

use std::path::{Path, PathBuf};

fn comparison(results_json: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(results_json).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["comparison"].clone()
}

fn check(report: &str, raw: &[&str]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/results");
    let inputs: Vec<PathBuf> = raw.iter().map(|f| root.join("raw").join(f)).collect();
    let tmp = tempfile::tempdir().unwrap();
    unibit_report::run(&inputs, tmp.path()).unwrap();
    assert_eq!(
        comparison(&tmp.path().join("results.json")),
        comparison(&root.join(report).join("results.json")),
        "docs/results/{report} differs from a report of raw/{raw:?}: regenerate it (docs/results/README.md)"
    );
}

#[test]
fn committed_reports_match_their_raw_records() {
    check(
        ".",
        &[
            "resnet20-uniform.jsonl",
            "resnet20-mixed-e2.jsonl",
            "mobilenetv2-uniform.jsonl",
            "mobilenetv2-mixed-e2.jsonl",
        ],
    );
    check(
        "pretrained-mixed",
        &[
            "resnet20-uniform.jsonl",
            "resnet20-mixed.jsonl",
            "mobilenetv2-uniform.jsonl",
            "mobilenetv2-mixed.jsonl",
        ],
    );
}
