//! End-to-end tests of the core subcommands through the `unibit` binary (small configurations).

mod cli;

use std::path::Path;
use std::process::Output;

/// No dataset: tests that need one say so.
const ENV: &[(&str, &str)] = &[("UNIBIT_DATA_DIR", "/nonexistent-unibit-test-data")];

fn unibit(args: &[&str]) -> Output {
    cli::run(args, ENV)
}

fn ok(args: &[&str]) -> String {
    cli::ok_with(args, ENV)
}

fn fails(args: &[&str], needle: &str) {
    cli::fails_with(args, ENV, needle)
}

#[test]
fn size_solves_a_budget() {
    let out = ok(&[
        "size", "--family", "resnet20", "--bits", "2", "--budget", "64KiB", "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let total = v["size"]["total_bits"].as_u64().unwrap();
    assert!(total <= 64 * 1024 * 8, "{total}");
    assert!(v["width"].as_f64().unwrap() > 0.5);
    let text = ok(&[
        "size",
        "--family",
        "mobilenetv2",
        "--bits",
        "4",
        "--width",
        "0.5",
    ]);
    assert!(text.contains(".dw") && text.contains("total"), "{text}");
}

#[test]
fn bad_inputs_get_one_line_errors() {
    fails(
        &[
            "size", "--family", "lenet", "--bits", "2", "--budget", "64KiB",
        ],
        "expected resnet20",
    );
    fails(&["size", "--bits", "9", "--budget", "64KiB"], "1..=8");
    fails(&["size", "--bits", "0", "--budget", "64KiB"], "1..=8");
    fails(
        &["size", "--bits", "8", "--budget", "100B"],
        "budget: expected at least",
    );
    fails(
        &["size", "--bits", "8", "--budget", "12 parsecs"],
        "a number with a unit",
    );
    fails(&["inspect", "/nonexistent/bundle"], "no such directory");
    fails(&["infer", "/nonexistent/bundle"], "no such directory");
}

#[test]
fn example_bundle_inspect_verify_cost_and_missing_dataset() {
    let tmp = tempfile::tempdir().unwrap();
    let b = tmp.path().join("bundle");
    let bs = b.to_str().unwrap();
    let out = ok(&[
        "bundle", "example", "--family", "resnet8", "--bits", "3", "--width", "0.5", "--golden",
        "2", "--out", bs,
    ]);
    assert!(out.contains("synthetic images"), "{out}");
    assert!(Path::new(bs).join("golden/fc.npy").exists());
    let out = ok(&["inspect", bs, "--verify"]);
    assert!(out.contains("bit for bit"), "{out}");
    let out = ok(&[
        "cost", bs, "--engine", "tile", "--rows", "8", "--cols", "16", "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["cycles"].as_u64().unwrap() > 0);
    // The dataset is pointed at a missing directory: a clear error naming file and package.
    fails(&["infer", bs], "dataset-fashion-mnist");
    // A golden file edited by hand is caught by --verify.
    let p = Path::new(bs).join("golden/fc.npy");
    let mut bytes = std::fs::read(&p).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 0x40;
    std::fs::write(&p, bytes).unwrap();
    fails(&["inspect", bs, "--verify"], "golden mismatch at layer");
}

#[test]
fn cosim_is_bit_exact_and_names_a_mismatch() {
    let tmp = tempfile::tempdir().unwrap();
    let b = tmp.path().join("bundle");
    let bs = b.to_str().unwrap();
    ok(&[
        "bundle", "example", "--family", "resnet8", "--bits", "2", "--width", "0.25", "--golden",
        "1", "--out", bs,
    ]);
    let out = ok(&[
        "cosim",
        bs,
        "--engine",
        "tile",
        "--rows",
        "4",
        "--cols",
        "8",
        "--sim",
        "verilator",
    ]);
    assert!(out.contains("bit-exact"), "{out}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(b.join("cosim-verilator-4x8.json")).unwrap())
            .unwrap();
    assert_eq!(summary["bit_exact"], true);
    assert_eq!(summary["cycles_per_image"], summary["predicted_per_image"]);
    fails(
        &[
            "cosim", bs, "--engine", "tile", "--rows", "3", "--cols", "8",
        ],
        "unsupported array 3x8",
    );
    fails(
        &[
            "cosim", bs, "--engine", "tile", "--sim", "model", "--vcd", "x.vcd",
        ],
        "--vcd needs --sim verilator",
    );
    // Corrupt one golden value of an engine layer: exit non-zero naming layer, tile and channel.
    let p = b.join("golden/s2b1.conv1.npy");
    let mut bytes = std::fs::read(&p).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 1;
    std::fs::write(&p, bytes).unwrap();
    let vcd = tmp.path().join("fail.vcd");
    let o = unibit(&[
        "cosim",
        bs,
        "--engine",
        "tile",
        "--rows",
        "4",
        "--cols",
        "8",
        "--vcd",
        vcd.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("layer \"s2b1.conv1\", tile") && err.contains("output channel"),
        "{err}"
    );
    assert!(std::fs::metadata(&vcd).unwrap().len() > 1000, "VCD written");
}

/// `unibit cosim` defaults to the whole-network engine: whole images, every layer read back,
/// the counter equal to the compiled program; refusals and a corrupted golden layer named.
#[test]
fn cosim_runs_whole_images_on_the_network_engine() {
    let tmp = tempfile::tempdir().unwrap();
    let b = tmp.path().join("bundle");
    let bs = b.to_str().unwrap();
    ok(&[
        "bundle", "example", "--family", "resnet8", "--bits", "2", "--width", "0.25", "--golden",
        "1", "--out", bs,
    ]);
    let out = ok(&["cosim", bs]);
    assert!(
        out.contains("bit-exact: 1 image(s) on the whole-network engine"),
        "{out}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(b.join("cosim-net-verilator.json")).unwrap())
            .unwrap();
    assert_eq!(summary["engine"], "net");
    assert_eq!(summary["bit_exact"], true);
    assert_eq!(summary["cycles_per_image"], summary["predicted_per_image"]);
    assert!(summary["layers"].as_array().unwrap().len() > 5);
    // `unibit cost` defaults to the same engine: its total is the counter cosim measured.
    let cost: serde_json::Value = serde_json::from_str(&ok(&["cost", bs, "--json"])).unwrap();
    assert_eq!(cost["cycles"], summary["cycles_per_image"]);
    let out = ok(&["cost", bs]);
    assert!(
        out.contains("whole-network engine of icebreaker") && out.contains("× the MAC bound"),
        "{out}"
    );
    fails(
        &["cosim", bs, "--rows", "16"],
        "--rows: the whole-network engine is the UP5K build, 8×8",
    );
    fails(&["cosim", bs, "--sim", "model"], "--sim model");
    fails(&["cosim", bs, "--bits", "4"], "B");
    let p = b.join("golden/s2b1.conv1.npy");
    let mut bytes = std::fs::read(&p).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 1;
    std::fs::write(&p, bytes).unwrap();
    // The RTL still equals the machine; the golden layer the machine is checked against is
    // what differs, and it is named, with or without the per-layer read-back.
    for extra in [None, Some("--logits-only")] {
        let o = unibit(&[&["cosim", bs][..], extra.as_slice()].concat());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success());
        assert!(
            err.contains("layer \"s2b1.conv1\" (record 4): the machine (not the RTL) differs")
                && err.contains("(the layer starts at cycle"),
            "{err}"
        );
    }
}

/// The accountings, the board as the budget, the parameter table and the lean-format check.
#[test]
fn size_accountings_boards_and_parameters() {
    let solve = |acc: &str| -> serde_json::Value {
        let out = ok(&[
            "size",
            "--family",
            "mobilenetv2",
            "--bits",
            "1",
            "--budget",
            "16KiB",
            "--json",
            "--size-accounting",
            acc,
        ]);
        serde_json::from_str(&out).unwrap()
    };
    let (e, w) = (solve("engine"), solve("weights"));
    assert_eq!(e["size_accounting"], "engine");
    assert_eq!(e["size_bits"], e["size"]["total_bits"]);
    assert_eq!(w["size_bits"], w["size"]["weight_bits"]);
    assert!(w["size_bits"].as_u64().unwrap() <= 16 * 8192);
    assert!(w["width"].as_f64().unwrap() > e["width"].as_f64().unwrap());
    fails(
        &[
            "size",
            "--bits",
            "1",
            "--budget",
            "16KiB",
            "--size-accounting",
            "bytes",
        ],
        "weights or engine",
    );

    let b = ok(&[
        "size",
        "--family",
        "resnet8",
        "--bits",
        "2",
        "--board",
        "icebreaker",
    ]);
    for part in [
        "program (descriptors)",
        "weights and parameters",
        "activation buffers",
        "tile buffer",
    ] {
        assert!(b.contains(part), "{b}");
    }
    fails(
        &["size", "--bits", "2", "--board", "arty"],
        "icebreaker or ulx3s-25f",
    );

    let t = ok(&["size", "--params-table", "--json"]);
    let rows: serde_json::Value = serde_json::from_str(&t).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 4 * 3 * 4);

    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("b");
    ok(&[
        "bundle",
        "example",
        "--family",
        "mobilenetv2",
        "--width",
        "0.25",
        "--bits",
        "2",
        "--golden",
        "2",
        "--out",
        bundle.to_str().unwrap(),
    ]);
    let l = ok(&[
        "size",
        "--lean-params",
        bundle.to_str().unwrap(),
        "--test-images",
        "0",
    ]);
    assert!(l.contains("integer outputs (every node) identical"), "{l}");
}
