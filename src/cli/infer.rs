//! `unibit infer`: integer accuracy of a bundle on Fashion-MNIST (unibit-core's reference).

use super::progress::Bars;
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;
use unibit_core::{dataset, reference, threads};

#[derive(Args)]
pub struct InferArgs {
    /// Bundle directory.
    pub bundle: PathBuf,
    /// Dataset to evaluate on.
    #[arg(long, default_value = "fashion-mnist")]
    pub dataset: String,
    /// Only the first N test images.
    #[arg(long, value_parser = super::args::test_images)]
    pub limit: Option<usize>,
    /// Fashion-MNIST directory (default: $UNIBIT_DATA_DIR or /usr/share/datasets/fashion-mnist).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long, value_parser = super::args::threads)]
    pub threads: Option<usize>,
}

pub fn infer(a: InferArgs) -> Result<()> {
    if a.dataset != "fashion-mnist" {
        bail!(
            "--dataset: expected fashion-mnist (the only dataset available offline), got {:?}",
            a.dataset
        );
    }
    threads::init_rayon(a.threads).context("--threads")?;
    let data_dir = dataset::data_dir(a.data_dir.as_deref());
    let r = reference::bundle_accuracy(&a.bundle, &data_dir, a.limit, &Bars::new(false))?;
    let m = &r.measured;
    println!(
        "{}: integer accuracy {:.2}% ({}/{}) on fashion-mnist test — {:.1} s, {:.0} images/s",
        a.bundle.display(),
        100.0 * m.accuracy,
        m.correct,
        m.images,
        m.seconds,
        m.images_per_second()
    );
    if let Some(f) = r.recorded {
        println!("  manifest records {:.2}%", 100.0 * f);
    }
    Ok(())
}
