//! Argument structs and glue for each group of subcommands.

pub mod args;
pub mod bench;
pub mod board;
pub mod bundle;
pub mod compile;
pub mod cosim;
pub mod cost;
pub mod curve;
pub mod family;
pub mod infer;
pub mod inspect;
pub mod report;
pub mod size;
pub mod table;

/// Write a file atomically (unibit-core's helper: a temporary sibling, then rename).
pub fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    Ok(unibit_core::atomic::write_atomic(path, bytes)?)
}
pub mod demo;
pub mod flow;
pub mod hw;
#[cfg(feature = "train")]
pub mod mixed;
pub mod progress;
#[cfg(feature = "train")]
pub mod sweep;
#[cfg(feature = "train")]
pub mod train;
