//! unibit-sim — cosimulation: run bundles on the simulated engine (memory-level model, rust-hdl,
//! Verilator) and prove bit-exact agreement with the golden vectors, layer by layer.

pub mod backend;
pub mod cosim;
pub mod error;
pub mod lower;
pub mod net;
pub mod net_sim;
mod run;
pub mod verilator;

pub use error::{Error, Result};
