//! `unibit demo --synthetic --no-synth` end to end on a tiny data set: every step runs, the
//! board step drives the whole network on the Verilator virtual board through the host driver over a PTY and its logits equal
//! the integer reference, the report has the board's section, and a second run reuses every step.

mod cli;

use std::io::Write;
use std::path::Path;

/// A tiny Fashion-MNIST test split (12 images, IDX gzipped).
fn tiny_dataset(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let gz = |name: &str, bytes: &[u8]| {
        let f = std::fs::File::create(dir.join(name)).unwrap();
        let mut e = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap();
    };
    let n = 12u8;
    let mut img = vec![0, 0, 8, 3, 0, 0, 0, n, 0, 0, 0, 28, 0, 0, 0, 28];
    img.extend((0..n as usize * 784).map(|i| ((i * 37 + i / 784 * 101) % 256) as u8));
    gz("t10k-images-idx3-ubyte.gz", &img);
    let mut lab = vec![0, 0, 8, 1, 0, 0, 0, n];
    lab.extend((0..n).map(|i| i % 10));
    gz("t10k-labels-idx1-ubyte.gz", &lab);
}

#[test]
fn synthetic_demo_runs_the_whole_network_through_the_driver_and_reuses_its_steps() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    tiny_dataset(&data);
    let out = tmp.path().join("demo");
    let args = [
        "demo",
        "--synthetic",
        "--no-synth",
        "--images",
        "1",
        "--board-images",
        "6",
        "--threads",
        "1",
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    let first = cli::ok_with(&args, &[]);
    assert!(
        first.contains("logits equal to the integer reference: 6 of 6"),
        "{first}"
    );
    let board: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("board/board.json")).unwrap())
            .unwrap();
    let c = &board["classify"];
    assert_eq!(c["images"], 6);
    assert_eq!(c["reference_equal"], 6);
    assert_eq!(c["cycles_equal"], true);
    // The icebreaker 8×8 board step runs the board top's Verilog (host side + NetEngine).
    assert!(board["backend"].as_str().unwrap().contains("Verilator"));
    let ratio = board["link_ratio"].as_f64().unwrap();
    assert!(ratio > 0.0 && ratio < 1.0, "link ratio {ratio}");
    // The cosim step ran whole images on the whole-network engine's Verilog.
    let cosim: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("cosim/cosim.json")).unwrap())
            .unwrap();
    assert_eq!(
        (&cosim["engine"], &cosim["bit_exact"]),
        (&"net".into(), &true.into())
    );
    assert_eq!(cosim["cycles_per_image"], cosim["predicted_per_image"]);
    // The cost step predicts that same engine's cycles.
    let cost: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("cost/cost.json")).unwrap())
            .unwrap();
    assert_eq!(cost["cycles"], cosim["cycles_per_image"]);
    let html = std::fs::read_to_string(out.join("report/index.html")).unwrap();
    assert!(html.contains("whole-network engine under Verilator"));
    assert!(html.contains("The whole network on the engine"));
    let again = cli::run(&args, &[]);
    assert!(again.status.success());
    let log = String::from_utf8_lossy(&again.stderr).into_owned()
        + &String::from_utf8_lossy(&again.stdout);
    assert!(!log.contains("logits equal"), "board step re-ran: {log}");
}
