//! Synthesis smoke test: a small engine with host link through yosys (no place-and-route).
use unibit_core::Silent;
use unibit_hw::synth::{run, EngineKind, SynthOptions};
use unibit_hw::verilog::have_tool;

#[test]
fn yosys_synthesizes_a_small_icebreaker_engine() {
    if !have_tool("yosys") {
        eprintln!("\n!!!!!!!! SKIPPING: yosys is not installed; synthesis is NOT being checked !!!!!!!!\n");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        &SynthOptions {
            engine: EngineKind::Tile,
            config_hash: [0; 8],
            board: "icebreaker".into(),
            bits: 2,
            rows: Some(4),
            cols: Some(4),
            freq_mhz: Some(24.0),
            out: dir.path().to_path_buf(),
            yosys_only: true,
            seed: 1,
        },
        &Silent,
    )
    .unwrap();
    assert!(
        r.resources.luts > 300 && r.resources.luts < 5280,
        "{:?}",
        r.resources
    );
    assert!(
        r.resources.brams >= 4,
        "memories must map to block RAM: {:?}",
        r.resources
    );
    assert_eq!(
        r.resources.dsps, 2,
        "the requantizer's two 16x16 products map to SB_MAC16"
    );
    assert!(r.resources.carries > 0 && r.resources.ffs > 0);
    assert!(dir.path().join("report.json").is_file());
    assert!(dir.path().join("board.pcf").is_file());
    // Bad input is an error with a message, not a panic.
    let mut bad = SynthOptions {
        board: "nope".into(),
        ..SynthOptions {
            engine: EngineKind::Tile,
            config_hash: [0; 8],
            board: String::new(),
            bits: 4,
            rows: None,
            cols: None,
            freq_mhz: None,
            out: dir.path().join("x"),
            yosys_only: true,
            seed: 1,
        }
    };
    assert!(run(&bad, &Silent)
        .unwrap_err()
        .to_string()
        .contains("expected one of"));
    bad.board = "icebreaker".into();
    bad.rows = Some(3);
    assert!(run(&bad, &Silent)
        .unwrap_err()
        .to_string()
        .contains("unsupported array"));
}

/// A second run over a finished build skips every step and reports the same.
#[test]
fn a_finished_build_is_reused_step_by_step() {
    if !have_tool("yosys") {
        eprintln!("\n!!!!!!!! SKIPPING: yosys is not installed; synthesis is NOT being checked !!!!!!!!\n");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let opts = SynthOptions {
        engine: EngineKind::Tile,
        config_hash: [0; 8],
        board: "icebreaker".into(),
        bits: 1,
        rows: Some(4),
        cols: Some(4),
        freq_mhz: Some(24.0),
        out: dir.path().to_path_buf(),
        yosys_only: true,
        seed: 1,
    };
    let first = run(&opts, &Silent).unwrap();
    let report = std::fs::read_to_string(dir.path().join("report.json")).unwrap();
    let lines = unibit_core::progress::Lines::default();
    let again = run(&opts, &lines).unwrap();
    let said = lines.take();
    assert_eq!(said.len(), 3, "{said:?}");
    for (line, step) in said.iter().zip(["verilog", "yosys", "report"]) {
        assert!(line.contains(&format!("] {step}: up to date")), "{line}");
    }
    assert_eq!(first.resources.luts, again.resources.luts);
    assert_eq!(first.commands, again.commands);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("report.json")).unwrap(),
        report
    );
}
