//! Issue 14 through the binary: numeric options refused up front with one line naming the flag,
//! no panics, and no output written over a command's inputs or over a user's directory.

mod cli;

use cli::s;

/// No dataset: synthetic images where a command falls back to them.
const ENV: &[(&str, &str)] = &[
    ("UNIBIT_DATA_DIR", "/nonexistent-unibit-test-data"),
    ("OMP_NUM_THREADS", "1"),
];

fn ok(args: &[&str]) -> String {
    cli::ok_with(args, ENV)
}

fn fails(args: &[&str], needle: &str) {
    cli::fails_with(args, ENV, needle)
}

/// A tiny synthetic bundle with `golden` images.
fn example(out: &std::path::Path, golden: &str) -> String {
    ok(&[
        "bundle",
        "example",
        "--family",
        "resnet8",
        "--bits",
        "2",
        "--width",
        "0.25",
        "--golden",
        golden,
        "--out",
        s(out),
    ])
}

#[test]
fn numeric_options_are_checked_up_front() {
    let b = "/nonexistent-bundle";
    fails(&["infer", b, "--threads", "5000"], "--threads");
    fails(&["infer", b, "--threads", "0"], "1..=256");
    fails(&["infer", b, "--limit", "0"], "--limit");
    fails(&["cost", b, "--freq", "nan"], "--freq");
    fails(&["cost", b, "--freq=-1"], "finite number > 0");
    fails(&["cost", b, "--rows", "0"], "--rows");
    fails(&["cosim", b, "--images", "0"], "--images");
    fails(&["bench", "reference", "--images", "0"], "--images");
    fails(&["size", "--bits", "2", "--width", "inf"], "--width");
    let ex = ["bundle", "example", "--bits", "2", "--out", "/tmp/x"];
    fails(&[&ex[..], &["--golden", "20000"]].concat(), "0..=10000");
    fails(&[&ex[..], &["--width", "nan"]].concat(), "--width");
    fails(
        &[
            "hw",
            "synth",
            "--board",
            "icebreaker",
            "--bits",
            "2",
            "--freq",
            "0",
            "--out",
            "/tmp/x",
        ],
        "--freq",
    );
}

#[cfg(feature = "train")]
#[test]
fn training_options_are_checked_up_front() {
    let t = [
        "train",
        "--bits",
        "2",
        "--width",
        "0.25",
        "--out",
        "/tmp/unibit-never",
    ];
    fails(&[&t[..], &["--lr", "nan"]].concat(), "--lr");
    fails(
        &[&t[..], &["--weight-decay", "NaN"]].concat(),
        "--weight-decay",
    );
    fails(&[&t[..], &["--momentum=-0.1"]].concat(), "--momentum");
    fails(
        &[&t[..], &["--warmup-epochs", "inf"]].concat(),
        "--warmup-epochs",
    );
    fails(&[&t[..], &["--epochs", "0"]].concat(), "--epochs");
    fails(&[&t[..], &["--threads", "0"]].concat(), "--threads");
    fails(&["bench-train", "--batch", "0"], "--batch");
    fails(&["bench-train", "--steps", "0"], "--steps");
    fails(&["bench-train", "--rounds", "0"], "--rounds");
    fails(
        &["export", "r", "--out", "b", "--test-limit", "0"],
        "--test-limit",
    );
    fails(
        &["export", "r", "--out", "b", "--calibration-images", "0"],
        "--calibration-images",
    );
    let sw = [
        "sweep",
        "--family",
        "resnet8",
        "--budgets",
        "2KiB",
        "--out",
        "/tmp/unibit-never",
    ];
    fails(&[&sw[..], &["--seeds", "100000000"]].concat(), "--seeds");
    fails(&[&sw[..], &["--threads", "0"]].concat(), "--threads");
    fails(
        &[
            "sweep",
            "plan",
            "--family",
            "resnet8",
            "--budgets",
            "2KiB",
            "--epochs",
            "0",
            "--out",
            "/tmp/unibit-never",
        ],
        "--epochs",
    );
    let m = [
        "mixed",
        "--family",
        "resnet8",
        "--budgets",
        "4KiB",
        "--out",
        "/tmp/unibit-never",
    ];
    fails(&[&m[..], &["--tolerance-pp=-1"]].concat(), "--tolerance-pp");
    fails(
        &[&m[..], &["--finetune-lr", "nan"]].concat(),
        "--finetune-lr",
    );
    fails(
        &[&m[..], &["--hessian-images", "0"]].concat(),
        "--hessian-images",
    );
    fails(
        &[&m[..], &["--hessian-batch", "0"]].concat(),
        "--hessian-batch",
    );
}

#[test]
fn bundle_example_replaces_only_bundles_and_needs_a_named_dataset() {
    let tmp = tempfile::tempdir().unwrap();
    let user = tmp.path().join("mine");
    std::fs::create_dir(&user).unwrap();
    std::fs::write(user.join("notes.txt"), "keep me").unwrap();
    let args = [
        "bundle", "example", "--family", "resnet8", "--bits", "2", "--width", "0.25", "--out",
    ];
    fails(&[&args[..], &[s(&user)]].concat(), "not a bundle");
    assert_eq!(
        std::fs::read_to_string(user.join("notes.txt")).unwrap(),
        "keep me"
    );
    let file = tmp.path().join("file");
    std::fs::write(&file, "x").unwrap();
    fails(&[&args[..], &[s(&file)]].concat(), "not a directory");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
    let b = tmp.path().join("b");
    fails(
        &[&args[..], &[s(&b), "--data-dir", "/nonexistent-dataset"]].concat(),
        "--data-dir",
    );
    assert!(!b.exists());
    example(&b, "1");
    // A bundle over a bundle is fine.
    example(&b, "2");
}

#[test]
fn cosim_refuses_bad_outputs_before_simulating() {
    let tmp = tempfile::tempdir().unwrap();
    let b = tmp.path().join("b");
    example(&b, "1");
    let manifest = b.join("manifest.json");
    let before = std::fs::read(&manifest).unwrap();
    let c = ["cosim", s(&b), "--sim", "model"];
    fails(&[&c[..], &["--json", s(&manifest)]].concat(), "--json");
    fails(&[&c[..], &["--json", s(&b)]].concat(), "refusing");
    fails(
        &[&c[..], &["--json", "/proc/unibit/x.json"]].concat(),
        "--json",
    );
    let v = ["cosim", s(&b), "--vcd"];
    let d = tmp.path().join("d");
    std::fs::create_dir(&d).unwrap();
    fails(&[&v[..], &[s(&d)]].concat(), "is a directory");
    assert_eq!(std::fs::read(&manifest).unwrap(), before);
    let none = tmp.path().join("none");
    example(&none, "0");
    fails(&["cosim", s(&none), "--sim", "model"], "no golden vectors");
}

#[cfg(feature = "train")]
#[test]
fn export_never_writes_over_its_run_or_a_foreign_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    std::fs::create_dir(&run).unwrap();
    std::fs::write(run.join("config.json"), "{}").unwrap();
    let e = ["export", s(&run), "--threads", "1", "--out"];
    fails(&[&e[..], &[s(&run)]].concat(), "refusing");
    fails(&[&e[..], &[s(tmp.path())]].concat(), "refusing");
    let user = tmp.path().join("mine");
    std::fs::create_dir(&user).unwrap();
    std::fs::write(user.join("notes.txt"), "keep me").unwrap();
    fails(&[&e[..], &[s(&user)]].concat(), "not a bundle");
    assert_eq!(
        std::fs::read_to_string(user.join("notes.txt")).unwrap(),
        "keep me"
    );
    assert_eq!(
        std::fs::read_to_string(run.join("config.json")).unwrap(),
        "{}"
    );
}

#[cfg(feature = "train")]
#[test]
fn sweep_grids_are_bounded_before_planning() {
    let budgets: Vec<String> = (2..23).map(|k| format!("{k}KiB")).collect();
    let budgets = budgets.join(",");
    fails(
        &[
            "sweep",
            "plan",
            "--family",
            "resnet8",
            "--budgets",
            &budgets,
            "--seeds",
            "1000",
            "--out",
            "/tmp/unibit-never",
        ],
        "at most 100000 jobs",
    );
    assert!(!std::path::Path::new("/tmp/unibit-never").exists());
}

#[cfg(feature = "train")]
#[test]
fn sweeps_and_mixed_studies_never_share_a_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let uniform = tmp.path().join("uniform");
    std::fs::create_dir(&uniform).unwrap();
    std::fs::write(uniform.join("plan.json"), "{}").unwrap();
    fails(
        &[
            "mixed",
            "--family",
            "resnet8",
            "--budgets",
            "4KiB",
            "--threads",
            "1",
            "--out",
            s(&uniform),
        ],
        "uniform sweep",
    );
    let mixed = tmp.path().join("mixed");
    std::fs::create_dir_all(mixed.join("ref-8bit")).unwrap();
    fails(
        &[
            "sweep",
            "plan",
            "--family",
            "resnet8",
            "--budgets",
            "2KiB",
            "--out",
            s(&mixed),
        ],
        "mixed-precision study",
    );
    assert!(!mixed.join("plan.json").exists());
}
