//! The directories the hardware commands write, as output kinds: each is recognised by a JSON
//! marker naming its format, so a new output may replace an earlier one of the same kind (or
//! an empty directory) and refuses anything else (`unibit_core::atomic::check_output_dir`).

use unibit_core::atomic::OutputKind;

/// `hw verilog`: `top.v`, `engine.json` (the marker), `host.v`.
pub const VERILOG: OutputKind = OutputKind {
    name: "hw verilog output",
    marker: "engine.json",
    format: "unibit-hw-verilog",
};

/// `hw pack`: `weights.hex`, `params.hex`, `layout.json` (the marker).
pub const PACK: OutputKind = OutputKind {
    name: "hw pack output",
    marker: "layout.json",
    format: "unibit-hw-pack",
};

/// `hw synth`: a flow directory, marked by `synth.json` (written before the first step, so an
/// interrupted synthesis can be resumed).
pub const SYNTH: OutputKind = OutputKind {
    name: "hw synth directory",
    marker: "synth.json",
    format: "unibit-hw-synth",
};

/// `hw bench`: one synthesis directory per bitwidth and `bench.json` (the marker, written
/// first with no reports).
pub const BENCH: OutputKind = OutputKind {
    name: "hw bench directory",
    marker: "bench.json",
    format: "unibit-hw-bench",
};
