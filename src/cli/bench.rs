//! `unibit bench reference`: throughput of the integer reference.

use super::progress::Bars;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use unibit_core::reference::{bench as reference_bench, BenchConfig, BenchReport, TEST_IMAGES};
use unibit_core::{threads, Bits, Family};

#[derive(Subcommand)]
pub enum BenchCmd {
    /// Integer reference throughput: ResNet-20 (w = 1, B = 2, synthetic weights) on the
    /// Fashion-MNIST test set, against the direct i64 convolution on a subset.
    Reference(RefBenchArgs),
}

#[derive(Args)]
pub struct RefBenchArgs {
    /// Images to run (default: the whole 10,000-image test set).
    #[arg(long, value_parser = super::args::test_images)]
    pub images: Option<usize>,
    #[arg(long, default_value = "resnet20")]
    pub family: Family,
    #[arg(long, default_value_t = 1.0, value_parser = super::args::positive_f64)]
    pub width: f64,
    #[arg(long, default_value = "2")]
    pub bits: Bits,
    /// Worker threads (default: all cores).
    #[arg(long, value_parser = super::args::threads)]
    pub threads: Option<usize>,
}

pub fn bench(c: BenchCmd) -> Result<()> {
    let BenchCmd::Reference(a) = c;
    threads::init_rayon(a.threads).context("--threads")?;
    let cfg = BenchConfig {
        family: a.family,
        width: a.width,
        bits: a.bits,
        images: a.images,
        data_dir: None,
    };
    let r = reference_bench(&cfg, &Bars::new(false))?;
    print_bench(&r);
    Ok(())
}

fn print_bench(r: &BenchReport) {
    println!(
        "reference (im2col + exact f32 GEMM, {} threads): {} at B = {}, width {}: {} images in {:.2} s = {:.0} images/s",
        r.threads,
        r.family,
        r.bits,
        r.width,
        r.images,
        r.seconds,
        r.images_per_second()
    );
    println!(
        "layer {:?} on {} images, one thread: GEMM path {:.2} GMAC/s, direct i64 loops {:.2} GMAC/s — {:.1}× (outputs equal)",
        r.layer,
        r.baseline_images,
        r.gemm_gmacs(),
        r.direct_gmacs(),
        r.direct_seconds / r.gemm_seconds
    );
    let secs = r.seconds;
    println!(
        "goal: 10,000 images ≤ 30 s → {}",
        if r.images >= TEST_IMAGES {
            if secs <= 30.0 {
                format!("met ({secs:.1} s)")
            } else {
                format!("NOT met ({secs:.1} s)")
            }
        } else {
            format!(
                "projected {:.1} s for 10,000",
                r.projected_test_set_seconds()
            )
        }
    );
}
