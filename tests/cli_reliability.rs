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
    let c = ["cosim", s(&b), "--engine", "tile", "--sim", "model"];
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
    fails(
        &["cosim", s(&none), "--engine", "tile", "--sim", "model"],
        "no golden vectors",
    );
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

/// `unibit cost --engine tile` is the tile engine's real timing: the cycles cosimulation counts.
#[test]
fn cost_is_what_cosim_counts_and_names_the_supported_arrays() {
    let tmp = tempfile::tempdir().unwrap();
    let b = tmp.path().join("b");
    example(&b, "1");
    let cost: serde_json::Value = serde_json::from_str(&ok(&[
        "cost",
        s(&b),
        "--engine",
        "tile",
        "--rows",
        "4",
        "--cols",
        "8",
        "--json",
    ]))
    .unwrap();
    let json = tmp.path().join("cosim.json");
    ok(&[
        "cosim",
        s(&b),
        "--engine",
        "tile",
        "--sim",
        "model",
        "--rows",
        "4",
        "--cols",
        "8",
        "--json",
        s(&json),
    ]);
    let cosim: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(cost["cycles"].as_u64().unwrap() > 0);
    assert_eq!(cost["cycles"], cosim["cycles_per_image"]);
    assert_eq!(cost["engine"]["timing"]["tile_overhead"], 11 + 3);
    fails(
        &[
            "cost",
            s(&b),
            "--engine",
            "tile",
            "--rows",
            "8",
            "--cols",
            "32",
        ],
        "4x4, 4x8, 8x4, 8x8, 8x16, 16x8, 16x16",
    );
}

/// `cost --records` recomputes a results table's cycles (what regenerated docs/results).
#[test]
fn cost_recomputes_recorded_cycles_without_writing_over_its_input() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/results/raw/resnet20-uniform.jsonl");
    let first = std::fs::read_to_string(raw).unwrap();
    let mut rec: serde_json::Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    let committed = rec["cycles"].clone();
    rec["cycles"] = 1.into();
    let input = tmp.path().join("results.jsonl");
    std::fs::write(&input, format!("{rec}\n")).unwrap();
    let out = tmp.path().join("new.jsonl");
    let printed = ok(&["cost", "--records", s(&input), "--out", s(&out)]);
    assert!(printed.contains("1 cycle figures changed"), "{printed}");
    let new: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(new["cycles"], committed);
    assert_eq!(new["int_acc"], rec["int_acc"]);
    fails(
        &["cost", "--records", s(&input), "--out", s(&input)],
        "refusing",
    );
    // A model that does not rebuild to the record's weights (wrong channel multiple).
    fails(
        &[
            "cost",
            "--records",
            s(&input),
            "--out",
            s(&out),
            "--channel-multiple",
            "8",
        ],
        "record 1: weights",
    );
}

#[test]
fn hw_synth_refuses_an_array_the_board_cannot_hold_before_any_tool() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("syn");
    let synth = [
        "hw",
        "synth",
        "--board",
        "icebreaker",
        "--bits",
        "2",
        "--out",
        s(&out),
        "--engine",
        "tile",
    ];
    fails(
        &[&synth[..], &["--rows", "16", "--cols", "16"]].concat(),
        "16x16 does not fit icebreaker: about 19736 logic cells estimated, the iCE40UP5K-SG48 has 5280",
    );
    fails(
        &[&synth[..], &["--rows", "8", "--cols", "16"]].concat(),
        "does not fit icebreaker",
    );
    // The whole-network engine has one shape: anything else is refused before any tool.
    fails(
        &[
            &synth[..6],
            &["--out", s(&out), "--rows", "16", "--cols", "16"],
        ]
        .concat(),
        "rows x cols: expected 8x8 for --engine net",
    );
    assert!(!out.exists(), "nothing may be written for a refused build");
}

/// Every `--out` of `hw` and `report`: a user's directory is refused (and kept), an earlier
/// output of the same command is replaced.
#[test]
fn hw_and_report_outputs_replace_only_their_own_kind() {
    let tmp = tempfile::tempdir().unwrap();
    let user = tmp.path().join("mine");
    std::fs::create_dir(&user).unwrap();
    std::fs::write(user.join("notes.txt"), "keep me").unwrap();
    let b = tmp.path().join("b");
    example(&b, "1");
    let raw = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/results/raw/resnet20-uniform.jsonl");
    let table = tmp.path().join("results.jsonl");
    std::fs::copy(raw, &table).unwrap();

    let verilog = [
        "hw", "verilog", "--bits", "2", "--rows", "4", "--cols", "4", "--out",
    ];
    let pack = ["hw", "pack", s(&b), "--rows", "4", "--cols", "4", "--out"];
    let report = ["report", s(&table), "--out"];
    let synth = [
        "hw",
        "synth",
        "--board",
        "icebreaker",
        "--bits",
        "2",
        "--out",
    ];
    let bench = [
        "hw",
        "bench",
        "--board",
        "icebreaker",
        "--bits",
        "2",
        "--out",
    ];
    for cmd in [&verilog[..], &pack, &report, &synth, &bench] {
        fails(&[cmd, &[s(&user)]].concat(), "refusing to replace it");
    }
    assert_eq!(
        std::fs::read_to_string(user.join("notes.txt")).unwrap(),
        "keep me"
    );
    assert_eq!(std::fs::read_dir(&user).unwrap().count(), 1);
    // Never into (or around) an input.
    fails(&[&pack[..], &[s(&b)]].concat(), "refusing");
    fails(&[&report[..], &[s(tmp.path())]].concat(), "refusing");
    // An output of the same kind (or a new directory) twice.
    for (cmd, dir) in [(&verilog[..], "v"), (&pack, "p"), (&report, "r")] {
        let d = tmp.path().join(dir);
        ok(&[cmd, &[s(&d)]].concat());
        ok(&[cmd, &[s(&d)]].concat());
    }
    // Outputs of one kind are not another's.
    fails(
        &[&pack[..], &[s(&tmp.path().join("v"))]].concat(),
        "not a hw pack output",
    );
}
