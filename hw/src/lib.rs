//! unibit-hw: the bit-serial engine for one weight bitwidth B (see ARCHITECTURE.md and
//! hw/README.md).
pub mod configs;
pub mod job;
pub mod model;
pub mod rtl;

pub use configs::{engine_verilog, rust_hdl_engine, supported_configs, EngineSim};
pub use model::{EngineModel, EngineParams, RowParams, TileDesc};
