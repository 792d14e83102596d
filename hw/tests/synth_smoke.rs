//! Synthesis smoke test: a small engine with host link through yosys (no place-and-route).
use unibit_core::Silent;
use unibit_hw::synth::{run, sources, EngineKind, SynthOptions};
use unibit_hw::verilog::have_tool;

/// `hw synth --engine tile` options for an R×C = `side`×`side` array, yosys only.
fn tile_options(board: &str, bits: u8, side: usize, out: &std::path::Path) -> SynthOptions {
    SynthOptions {
        engine: EngineKind::Tile,
        config_hash: [0; 8],
        board: board.into(),
        bits,
        rows: Some(side),
        cols: Some(side),
        freq_mhz: None,
        out: out.to_path_buf(),
        yosys_only: true,
        seed: 1,
    }
}

/// True (with a loud line) when yosys is missing, so the synthesis tests say they did not run.
fn no_yosys() -> bool {
    let missing = !have_tool("yosys");
    if missing {
        eprintln!("\n!!!!!!!! SKIPPING: yosys is not installed; synthesis is NOT being checked !!!!!!!!\n");
    }
    missing
}

#[test]
fn yosys_synthesizes_a_small_icebreaker_engine() {
    if no_yosys() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        &SynthOptions {
            freq_mhz: Some(24.0),
            ..tile_options("icebreaker", 2, 4, dir.path())
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

/// xc7 has no open place and route; yosys's counts are its report. `synth_xilinx` keeps the
/// hierarchy unless told to flatten, and yosys 0.23's `stat -json` then appends a text tree
/// that is not JSON: the flow flattens, like the iCE40 and ECP5 flows.
#[test]
fn yosys_gives_xc7_resource_counts_for_a_small_engine() {
    if no_yosys() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        &SynthOptions {
            yosys_only: false,
            ..tile_options("xc7", 2, 4, dir.path())
        },
        &Silent,
    )
    .unwrap();
    let res = &r.resources;
    assert!(
        res.luts > 300 && res.ffs > 300 && res.carries > 0,
        "{res:?}"
    );
    assert!(res.brams >= 1, "memories must map to block RAM: {res:?}");
    assert_eq!(
        res.dsps, 2,
        "the requantizer's two products map to DSP48E1: {res:?}"
    );
    assert!(r.fmax_mhz.is_none(), "no place and route on xc7");
    assert!(dir.path().join("report.json").is_file());
}

/// A second run over a finished build skips every step and reports the same.
#[test]
fn a_finished_build_is_reused_step_by_step() {
    if no_yosys() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let opts = SynthOptions {
        freq_mhz: Some(24.0),
        ..tile_options("icebreaker", 1, 4, dir.path())
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

/// `hw synth --engine net` options for `board` at B = 2, claiming the driver's 8×8 target.
fn net_options(board: &str, out: &std::path::Path) -> (SynthOptions, unibit_board::target::Target) {
    let t = unibit_board::target::Target::named(board, 2, Some(8), Some(8)).unwrap();
    let o = SynthOptions {
        engine: EngineKind::Net,
        config_hash: t.config_hash().unwrap(),
        board: board.into(),
        bits: 2,
        rows: None,
        cols: None,
        freq_mhz: None,
        out: out.to_path_buf(),
        yosys_only: true,
        seed: 1,
    };
    (o, t)
}

/// The net engine's bitstream sources: INFO agrees with the driver's target for the board
/// (main bytes, clock, baud, hash: what `board load` checks), the ECP5 top carries the
/// block-RAM main memory of the core's allocation and the UP5K top the SPRAM gang, and the
/// wrapper elaborates around the board top under yosys (`hierarchy -check`: every module and
/// port exists). Other shapes and xc7 are refused in one line.
#[test]
fn net_sources_match_the_driver_and_elaborate_under_yosys() {
    let dir = tempfile::tempdir().unwrap();
    for (board, cpb, lib) in [
        ("icebreaker", 8, "+/ice40/cells_sim.v"),
        ("ulx3s-25f", 33, "+/ecp5/cells_bb.v"),
    ] {
        let (o, t) = net_options(board, &dir.path().join(board));
        let s = sources(&o).unwrap();
        let info = s.info.unwrap();
        assert_eq!(info.main_bytes, t.main_bytes().unwrap(), "{board}");
        assert_eq!(info.clock_hz, t.clock_hz, "{board}");
        assert_eq!(info.baud, 3_000_000);
        assert_eq!((info.rows, info.cols, info.bits), (8, 8, 2));
        assert_eq!(info.config_hash, t.config_hash().unwrap());
        assert_eq!(s.clocks_per_bit, cpb);
        assert_eq!(info.clocks_per_bit, cpb);
        assert!(s.wrapper.contains(".idle(idle)"), "{}", s.wrapper);
        let words = s.main.unwrap().words();
        assert_eq!(words * 8, info.main_bytes as usize);
        if board == "icebreaker" {
            assert_eq!(words, 16_384);
            assert_eq!(s.top.matches("SB_SPRAM256KA spram").count(), 4);
        } else {
            assert_eq!(
                words, 12_288,
                "48 DP16KD of 2048 × 8 bits, one per byte lane"
            );
            assert!(!s.top.contains("SB_SPRAM256KA"));
            assert!(s.top.contains(&format!("reg [63:0] mem [0:{}]", words - 1)));
        }
        if !have_tool("yosys") {
            eprintln!(
                "\n!!!!!!!! SKIPPING: yosys missing; {board} wrapper NOT elaborated !!!!!!!!\n"
            );
            continue;
        }
        let d = dir.path().join(format!("{board}-hier"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("top.v"), &s.top).unwrap();
        std::fs::write(d.join("board.v"), &s.wrapper).unwrap();
        let elaborate = |board_v: &str| {
            std::fs::write(d.join("board.v"), board_v).unwrap();
            let script = format!(
                "read_verilog top.v board.v; read_verilog -lib {lib}; hierarchy -check -top unibit_board"
            );
            std::process::Command::new("yosys")
                .args(["-q", "-p", &script])
                .current_dir(&d)
                .output()
                .unwrap()
        };
        let ok = elaborate(&s.wrapper);
        assert!(
            ok.status.success(),
            "{board}: {}",
            String::from_utf8_lossy(&ok.stderr)
        );
        // The check can fail: the tile wrapper's ports are not the board top's.
        let mut tile = o.clone();
        tile.engine = EngineKind::Tile;
        tile.rows = Some(8);
        tile.cols = Some(8);
        let bad = elaborate(&sources(&tile).unwrap().wrapper);
        assert!(
            !bad.status.success(),
            "{board}: tile wrapper around the board top"
        );
    }
    let (mut o, _) = net_options("ulx3s-25f", &dir.path().join("x"));
    o.rows = Some(16);
    let e = run(&o, &Silent).unwrap_err().to_string();
    assert!(
        e.contains("8x8 for --engine net") && e.contains("16x8"),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1);
    o.rows = None;
    o.board = "xc7".into();
    let e = run(&o, &Silent).unwrap_err().to_string();
    assert!(e.contains("--engine tile for xc7"), "{e}");
    assert!(
        !dir.path().join("x").exists(),
        "refused before any file is written"
    );
}
