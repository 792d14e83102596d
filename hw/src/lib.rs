//! unibit-hw: the bit-serial engine for one weight bitwidth B (see ARCHITECTURE.md and
//! hw/README.md).
pub mod board;
pub mod configs;
pub mod error;
pub mod job;
pub mod model;
pub mod outputs;
pub mod pack;
pub mod protocol;
pub mod rtl;
pub mod synth;
mod tools;
pub mod verilog;

pub use configs::{engine_verilog, rust_hdl_engine, supported_configs, EngineSim};
pub use error::{Error, Result};
pub use model::{EngineModel, EngineParams, RowParams, TileDesc};

/// The controller timing of an engine, for `unibit_core::cost` (see `EngineParams::timing`).
pub fn timing(bits: u8, rows: usize, cols: usize) -> Result<unibit_core::cost::Timing> {
    Ok(configs::engine_params(bits, rows, cols)?.timing())
}
