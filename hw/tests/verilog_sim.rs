//! The generated Verilog, simulated with iverilog, against the functional model; and lint.
use unibit_hw::configs::{engine_params, engine_verilog};
use unibit_hw::job::TileJob;
use unibit_hw::verilog::{have_tool, lint, run_iverilog};
use unibit_hw::EngineModel;

fn require(tool: &str) -> bool {
    if have_tool(tool) {
        return true;
    }
    eprintln!(
        "\n!!!!!!!! SKIPPING: {tool} is not installed; the Verilog is NOT being checked !!!!!!!!\n"
    );
    false
}

fn check_verilog(bits: u8, rows: usize, cols: usize, seeds: &[u64]) {
    if !require("iverilog") {
        return;
    }
    let p = engine_params(bits, rows, cols).unwrap();
    let v = engine_verilog(bits, rows, cols).unwrap();
    let jobs: Vec<TileJob> = seeds.iter().map(|&s| TileJob::random(&p, s)).collect();
    let dir = tempfile::tempdir().unwrap();
    let got = run_iverilog(dir.path(), &v, &p, &jobs).unwrap();
    assert_eq!(
        got.len(),
        jobs.len(),
        "testbench printed {} results",
        got.len()
    );
    let mut model = EngineModel::new(p);
    for (job, r) in jobs.iter().zip(&got) {
        let (want, cycles) = job.run_model(&mut model);
        assert_eq!(want, job.expected);
        assert_eq!(
            r.outputs, want,
            "B={bits} {rows}x{cols} desc={:?}",
            job.desc
        );
        assert_eq!(r.cycles, cycles, "cycles, desc={:?}", job.desc);
    }
}

#[test]
fn verilog_4x4_all_tested_bitwidths() {
    for b in [1u8, 2, 3, 4, 8] {
        check_verilog(
            b,
            4,
            4,
            &[b as u64 * 7 + 1, b as u64 * 7 + 2, b as u64 * 7 + 3],
        );
    }
}

#[test]
fn verilog_8x8_and_4x8() {
    check_verilog(4, 8, 8, &[11, 12]);
    check_verilog(2, 4, 8, &[13, 14]);
}

#[test]
fn verilog_16x16_ecp5_configuration() {
    check_verilog(4, 16, 16, &[21]);
}

#[test]
fn verilog_lints_clean() {
    if !require("verilator") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (b, r, c) in [(1u8, 4usize, 4usize), (8, 8, 8)] {
        lint(dir.path(), &engine_verilog(b, r, c).unwrap()).unwrap();
    }
}
