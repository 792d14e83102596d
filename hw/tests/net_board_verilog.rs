//! The board top's Verilog (HostSide + NetEngine): lint-clean under the project's Verilator waivers, and
//! ready for simulation with the vendor's SPRAM model (what the virtual board compiles).
use unibit_hw::rtl::net::board_top::{
    board_config, board_verilog, with_spram_model, ICE40_CELLS_SIM,
};
use unibit_hw::verilog::{have_tool, lint};

#[test]
fn board_top_lints_clean() {
    let v = board_verilog(&board_config(2, 24_000_000, 3_000_000, [7; 8]));
    assert!(v.contains("module top"));
    if !have_tool("verilator") {
        eprintln!("verilator not installed: lint skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    lint(dir.path(), &v).unwrap();
    let sim = with_spram_model(&v, std::path::Path::new(ICE40_CELLS_SIM)).unwrap();
    assert!(!sim.contains("(* blackbox *)"));
    assert_eq!(sim.matches("module SB_SPRAM256KA").count(), 1);
}
