//! Small helpers.
use anyhow::Result;
use std::path::Path;

/// Writes a file atomically (unibit-core's helper: a temporary sibling, then rename).
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    Ok(unibit_core::atomic::write_atomic(path, data)?)
}
