//! Blocks of the whole-network engine (docs/engine.md), one per file, each with its own test:
//! the main memories (UP5K SPRAM gang, ECP5 block RAM), the descriptor unit, the conv patch address generator and the element-wise
//! unit's address sequencing, the conv / linear body (`conv_unit`, with its array rows
//! `conv_row` and output write queue `out_queue`), the element-wise unit, the sequencer and the
//! engine around them (`NetEngine`); the board's host side (protocol v2 command unit, image
//! loader) and the board tops.
pub mod board_top;
pub mod bram_main;
pub mod conv_requant;
pub mod conv_row;
pub mod conv_unit;
pub mod desc_unit;
pub mod elem_addr;
pub mod elem_unit;
pub mod harness;
pub mod host_cmd;
pub mod image_loader;
pub mod main_memory;
pub mod net_engine;
pub mod out_queue;
pub mod patch_addr;
pub mod sequencer;
pub mod spram_main;

/// `verilog` without its `(* blackbox *)` module declarations, so that a simulation can link
/// the vendor's models (yosys's `cells_sim.v`) in their place.
pub fn without_blackboxes(verilog: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in verilog.lines() {
        if line.trim_start().starts_with("(* blackbox *)") {
            skipping = true;
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
        if skipping && line.trim_start().starts_with("endmodule") {
            skipping = false;
        }
    }
    out
}
