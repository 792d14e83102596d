//! `hw pack`: weight memory images for a bundle (filled in below).
use anyhow::{bail, Result};
use std::path::Path;

pub fn pack_cmd(_bundle: &Path, _rows: usize, _cols: usize, _out: &Path) -> Result<()> {
    bail!("hw pack is not implemented yet")
}
