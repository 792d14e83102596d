//! `unibit bundle example`: a synthetic bundle (random codes, calibrated requantizers, golden
//! vectors).

use super::family::FamilyArgs;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use unibit_core::size::format_bits;
use unibit_core::synthetic::{write_example, ExampleConfig};
use unibit_core::Bits;

#[derive(Subcommand)]
pub enum BundleCmd {
    /// Write a synthetic bundle: random codes, calibrated requantizers, golden vectors.
    Example(ExampleArgs),
}

#[derive(Args)]
pub struct ExampleArgs {
    #[command(flatten)]
    pub family: FamilyArgs,
    /// Weight bitwidth B (1..8).
    #[arg(long)]
    pub bits: Bits,
    /// Width multiplier.
    #[arg(long, default_value_t = 1.0, value_parser = super::args::positive_f64)]
    pub width: f64,
    /// Output bundle directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Random seed for codes and calibration.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of golden images (Fashion-MNIST test images when installed, else synthetic).
    #[arg(long, default_value_t = 4, value_parser = super::args::golden_images)]
    pub golden: usize,
    /// Fashion-MNIST directory (default: $UNIBIT_DATA_DIR or /usr/share/datasets/fashion-mnist).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

pub fn bundle(c: BundleCmd) -> Result<()> {
    let BundleCmd::Example(a) = c;
    example(a)
}

/// `unibit bundle example`.
pub fn example(a: ExampleArgs) -> Result<()> {
    unibit_core::atomic::check_output_dir(&a.out, &unibit_core::atomic::BUNDLE, &[])
        .context("--out")?;
    // A dataset the user named must be there: no silent fallback to synthetic images.
    if let Some(d) = &a.data_dir {
        unibit_core::dataset::load(d, unibit_core::dataset::Split::Test)
            .with_context(|| format!("--data-dir {}", d.display()))?;
    }
    let cfg = ExampleConfig {
        family: a.family.config(a.width),
        bits: a.bits,
        seed: a.seed,
        golden: a.golden,
        data_dir: a.data_dir,
    };
    let r = write_example(&cfg, &a.out)
        .with_context(|| format!("writing bundle {}", a.out.display()))?;
    println!(
        "wrote {}: {} at B = {}, width {}, {} layers, {} ({} golden images from {})",
        r.out.display(),
        r.family.family,
        r.bits,
        r.family.width,
        r.layers,
        format_bits(r.size.total_bits),
        r.golden,
        r.images
    );
    Ok(())
}
