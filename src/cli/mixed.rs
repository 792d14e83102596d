//! `unibit mixed`: the mixed-precision baseline (Hessian-trace bit allocation at budgets, or the
//! smallest size with no accuracy loss against the 8-bit model).

use super::progress::Bars;
use super::train::{device, threads, TrainSettingsArgs};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use unibit_core::family::{FamilyConfig, DEFAULT_CHANNEL_MULTIPLE};
use unibit_core::progress::{Progress, Silent};
use unibit_core::size::{format_bits, SizeAccounting};
use unibit_core::{Bits, Family};
use unibit_sw::mixed::{self, HessianOptions, MixedOutcome, MixedSpec};
use unibit_sw::sweep;
use unibit_sw::train::RunOptions;

/// `unibit mixed`.
#[derive(Args, Debug)]
pub struct MixedArgs {
    /// Model family: resnet20 (any resnet<6n+2>), vgg-small, mobilenetv2.
    #[arg(long, default_value = "resnet20")]
    pub family: Family,
    /// Width multiplier of the (fixed) network whose layers get bitwidths.
    #[arg(long, default_value_t = 1.0, value_parser = super::args::positive_f64)]
    pub width: f64,
    #[arg(long, default_value_t = DEFAULT_CHANNEL_MULTIPLE, value_parser = super::args::count_at_least_1)]
    pub channel_multiple: usize,
    /// Candidate bitwidths per layer.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3,4,8")]
    pub choices: Vec<Bits>,
    /// Budget mode: model-size budgets, e.g. 32KiB,64KiB.
    #[arg(long, value_delimiter = ',')]
    pub budgets: Vec<String>,
    /// What a budget counts: weights (the research's Σ B × weights) or engine (weights +
    /// the per-channel parameters the engine stores).
    #[arg(long, default_value = "engine")]
    pub size_accounting: SizeAccounting,
    /// Also find the smallest size with no accuracy loss against the 8-bit model.
    #[arg(long)]
    pub zero_degradation: bool,
    /// Zero degradation: allowed accuracy loss in percentage points.
    #[arg(long, default_value_t = 0.0, value_parser = super::args::non_negative_f64)]
    pub tolerance_pp: f64,
    /// Zero degradation: candidate sizes differ by at least this fraction.
    #[arg(long, default_value_t = 0.05, value_parser = super::args::non_negative_f64)]
    pub size_resolution: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub train: TrainSettingsArgs,
    /// Fine-tuning epochs of each allocation (default: --epochs).
    #[arg(long, value_parser = super::args::count_at_least_1)]
    pub finetune_epochs: Option<usize>,
    /// Peak learning rate of fine-tuning.
    #[arg(long, default_value_t = 0.01, value_parser = super::args::positive_f64)]
    pub finetune_lr: f64,
    /// Hutchinson samples per batch.
    #[arg(long, default_value_t = 16, value_parser = super::args::count_at_least_1)]
    pub hessian_samples: usize,
    /// Training images for the Hessian traces.
    #[arg(long, default_value_t = 512, value_parser = super::args::count_at_least_1)]
    pub hessian_images: usize,
    #[arg(long, default_value_t = 128, value_parser = super::args::count_at_least_1)]
    pub hessian_batch: usize,
    /// Output directory (its results.jsonl goes next to the sweeps' in `unibit report`).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 2, value_parser = super::args::threads)]
    pub threads: usize,
    #[arg(long, default_value = "cpu")]
    pub device: String,
    #[arg(long)]
    pub quiet: bool,
}

impl MixedArgs {
    fn spec(&self) -> Result<MixedSpec> {
        let model = FamilyConfig {
            channel_multiple: self.channel_multiple,
            ..FamilyConfig::fashion_mnist(self.family, self.width)
        };
        model.validate()?;
        Ok(MixedSpec {
            model,
            choices: self.choices.clone(),
            budgets: self.budgets.clone(),
            size_accounting: self.size_accounting,
            zero_degradation: self.zero_degradation,
            tolerance_pp: self.tolerance_pp,
            size_resolution: self.size_resolution,
            seed: self.seed,
            finetune_epochs: self.finetune_epochs.unwrap_or(self.train.epochs),
            finetune_lr: self.finetune_lr,
            train: self.train.settings(),
            hessian: HessianOptions {
                samples: self.hessian_samples,
                images: self.hessian_images,
                batch: self.hessian_batch,
                seed: self.seed,
            },
            max_front: 20_000,
        })
    }
}

/// `unibit mixed`.
pub fn mixed(a: MixedArgs) -> Result<()> {
    threads(a.threads)?;
    if !(a.size_resolution.is_finite() && a.size_resolution >= 0.0) {
        anyhow::bail!(
            "--size-resolution: expected a fraction ≥ 0, found {}",
            a.size_resolution
        );
    }
    let spec = a.spec()?;
    let opts = RunOptions {
        device: device(&a.device)?,
        stop_after: None,
    };
    let progress: Box<dyn Progress> = if a.quiet {
        Box::new(Silent)
    } else {
        Box::new(Bars::new(false))
    };
    let o = mixed::run(&spec, &a.out, &opts, progress.as_ref())?;
    print_outcome(&o);
    println!("wrote {}", a.out.join(sweep::RESULTS_JSONL).display());
    Ok(())
}

fn print_outcome(o: &MixedOutcome) {
    println!(
        "8-bit reference: {:.2}% · front of {} allocations · sizes: {} accounting",
        100.0 * o.reference_accuracy,
        o.front.len(),
        o.records
            .first()
            .map_or(SizeAccounting::Engine, |r| r.size_accounting)
    );
    for p in &o.probes {
        println!(
            "  probe {} → {:.2}% ({})",
            format_bits(p.size_bits),
            100.0 * p.accuracy,
            if p.passes { "no loss" } else { "loss" }
        );
    }
    for r in &o.records {
        println!(
            "{:?}: {} · {:.2}% (fake-quant) · bits {:?}",
            r.method,
            format_bits(r.size_bits),
            100.0 * r.fake_quant_acc.unwrap_or(0.0),
            r.layer_bits
        );
    }
}
