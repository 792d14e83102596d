//! `unibit train`, `export` and `bench-train`: clap arguments that build the trainer's settings,
//! one library call each, and the lines they print.

use super::progress::Bars;
use anyhow::{bail, Result};
use clap::Args;
use std::path::PathBuf;
use unibit_core::family::{FamilyConfig, DEFAULT_CHANNEL_MULTIPLE};
use unibit_core::progress::{Progress, Silent};
use unibit_core::size::{board_report, format_bits, parse_bits, width_for_budget};
use unibit_core::{Bits, Family};
use unibit_sw::export::{self, ExportOptions};
use unibit_sw::net::QuantSpec;
use unibit_sw::train::{self, RunOptions, TrainConfig, TrainReport, TrainSettings};
use unibit_sw::Device;

/// Training hyper-parameters: the options `unibit train`, `unibit sweep` and `unibit mixed` share.
#[derive(Args, Clone, Debug, PartialEq)]
pub struct TrainSettingsArgs {
    #[arg(long, default_value_t = 30, value_parser = super::args::count_at_least_1)]
    pub epochs: usize,
    #[arg(long, default_value_t = 128, value_parser = super::args::count_at_least_1)]
    pub batch: usize,
    /// Peak learning rate (after warm-up; cosine decay to 0).
    #[arg(long, default_value_t = 0.1, value_parser = super::args::positive_f64)]
    pub lr: f64,
    #[arg(long, default_value_t = 0.9, value_parser = super::args::momentum)]
    pub momentum: f64,
    #[arg(long, default_value_t = 5e-4, value_parser = super::args::non_negative_f64)]
    pub weight_decay: f64,
    #[arg(long, default_value_t = 1.0, value_parser = super::args::non_negative_f64)]
    pub warmup_epochs: f64,
    /// Disable augmentation (padding + random crop, horizontal flips).
    #[arg(long)]
    pub no_augment: bool,
    /// Use only the first N training images.
    #[arg(long, value_parser = super::args::count_at_least_1)]
    pub train_limit: Option<usize>,
    /// Fashion-MNIST directory (default: $UNIBIT_DATA_DIR or /usr/share/datasets/fashion-mnist).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

impl TrainSettingsArgs {
    pub fn settings(&self) -> TrainSettings {
        TrainSettings {
            epochs: self.epochs,
            batch: self.batch,
            lr: self.lr,
            momentum: self.momentum,
            weight_decay: self.weight_decay,
            warmup_epochs: self.warmup_epochs,
            no_augment: self.no_augment,
            train_limit: self.train_limit,
            data_dir: self.data_dir.clone(),
        }
    }
}

/// `--threads N`: checked here (the message names the flag), then set for libtorch.
pub fn threads(n: usize) -> Result<()> {
    if n == 0 {
        bail!("--threads: expected ≥ 1, found 0");
    }
    unibit_sw::tune_allocator();
    Ok(unibit_sw::set_threads(n)?)
}

/// A library error about one setting, told as the flag that gave it.
pub fn flag_error(flag: &str, e: unibit_sw::Error) -> anyhow::Error {
    match e {
        unibit_sw::Error::Invalid {
            file: None,
            expected,
            found,
            ..
        } => anyhow::anyhow!("{flag}: expected {expected}, found {found}"),
        e => anyhow::Error::new(e).context(flag.to_string()),
    }
}

/// `--device cpu|cuda|cuda:N`.
pub fn device(s: &str) -> Result<Device> {
    train::parse_device(s).map_err(|e| flag_error("--device", e))
}

/// Bars for a training, or nothing at all with `--quiet` (no epoch lines either).
fn training_progress(quiet: bool) -> Box<dyn Progress> {
    if quiet {
        Box::new(Silent)
    } else {
        Box::new(Bars::new(false))
    }
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Model family: resnet20 (any resnet<6n+2>), vgg-small, mobilenetv2.
    #[arg(long, default_value = "resnet20")]
    pub family: Family,
    /// Weight bitwidth B (1..8) of every conv and linear layer.
    #[arg(long, required_unless_present_any = ["resume", "float"])]
    pub bits: Option<Bits>,
    /// Train the unquantized float baseline (same network, no quantizers; not exportable).
    #[arg(long, conflicts_with = "first_last_8bit")]
    pub float: bool,
    /// Width multiplier.
    #[arg(long, conflicts_with = "budget", value_parser = super::args::positive_f64)]
    pub width: Option<f64>,
    /// Model-size budget (e.g. 64KiB): the largest width that fits at --bits (unibit-core's solver).
    #[arg(long)]
    pub budget: Option<String>,
    /// The board as the budget (icebreaker or ulx3s-25f): the largest width whose weights,
    /// parameters and activation buffers fit the engine's memories on that chip at --bits.
    #[arg(long, conflicts_with_all = ["width", "budget"])]
    pub board: Option<String>,
    /// Channel counts are rounded to a multiple of this.
    #[arg(long, default_value_t = DEFAULT_CHANNEL_MULTIPLE, value_parser = super::args::count_at_least_1)]
    pub channel_multiple: usize,
    /// Keep the first and last layers at 8 bits (studies; such runs cannot be exported).
    #[arg(long)]
    pub first_last_8bit: bool,
    #[command(flatten)]
    pub train: TrainSettingsArgs,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Run directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Continue the run in --out from its last checkpoint (its config.json wins).
    #[arg(long)]
    pub resume: bool,
    /// Intra-op threads.
    #[arg(long, default_value_t = 2, value_parser = super::args::threads)]
    pub threads: usize,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Stop after this many epochs in this invocation (resume later).
    #[arg(long, value_parser = super::args::count_at_least_1)]
    pub stop_after: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Resolve width (given, solved for the budget or for the board) and build the run's
/// configuration.
pub fn train_config(a: &TrainArgs) -> Result<TrainConfig> {
    let bits = a.bits;
    let quant = match (a.float, bits) {
        (true, _) => None,
        (false, Some(bits)) => Some(QuantSpec {
            bits,
            first_last_8bit: a.first_last_8bit,
        }),
        (false, None) => bail!("--bits B is required (or --float for the unquantized baseline)"),
    };
    let base = FamilyConfig {
        channel_multiple: a.channel_multiple,
        ..FamilyConfig::fashion_mnist(a.family, 1.0)
    };
    if let Some(board) = &a.board {
        let Some(bits) = bits else {
            bail!("--board needs --bits (the engine is built for one bitwidth)");
        };
        if a.float || a.first_last_8bit {
            bail!("--board trains a model for the engine: not with --float or --first-last-8bit");
        }
        let r = board_report(&base, bits, board)?;
        let m = &r.requirements.main;
        eprintln!(
            "{}: largest width {} at B = {bits} (main memory {} of {} bytes: program {}, weights and parameters {}, activations {})",
            r.board, r.width, m.needed, m.available, r.requirements.program_bytes,
            r.requirements.weight_bytes, r.requirements.activation_bytes
        );
        let model = FamilyConfig {
            width: r.width,
            ..base
        };
        return Ok(a.train.settings().config(model, quant, a.seed, None));
    }
    let (width, budget_bits) = match (a.width, &a.budget) {
        (Some(w), None) => (w, None),
        (None, Some(b)) => {
            let Some(bits) = bits else {
                bail!("--budget needs --bits (the size depends on the bitwidth)");
            };
            let budget = parse_bits(b)?;
            let sol = width_for_budget(&base, bits, budget)?;
            (sol.width, Some(budget))
        }
        (None, None) => bail!("give --width W, --budget SIZE or --board NAME"),
        (Some(_), Some(_)) => bail!("give either --width or --budget, not both"),
    };
    let model = FamilyConfig { width, ..base };
    model.validate()?;
    let budget = a.budget.clone().zip(budget_bits);
    Ok(a.train.settings().config(model, quant, a.seed, budget))
}

/// The line that says what a new run trains.
fn run_line(c: &TrainConfig) -> Result<String> {
    let plan = c.model.build()?;
    let precision = match c.quant {
        Some(q) if q.first_last_8bit => format!("B = {}, first/last at 8 bits", q.bits),
        Some(q) => format!("B = {}", q.bits),
        None => "float".into(),
    };
    let budget = match c.budget_bits {
        Some(b) => format!(", budget {}", format_bits(b)),
        None => String::new(),
    };
    Ok(format!(
        "{} at width {} ({} weights), {precision}{budget}",
        c.model.family,
        c.model.width,
        plan.weight_count()
    ))
}

/// The line printed after training: the last epoch's test accuracy and the run's size.
fn result_line(r: &TrainReport) -> Option<String> {
    let m = r.epochs.last()?;
    let cfg = &r.config;
    let size = match cfg.size_bits {
        Some(b) => format!(
            ", size {} ({b} bits), width {}",
            format_bits(b),
            cfg.model.width
        ),
        None => String::new(),
    };
    Some(format!(
        "{}: epoch {}/{} test accuracy {:.2}%{size}",
        r.run.display(),
        m.epoch,
        cfg.epochs,
        100.0 * m.test_acc
    ))
}

/// `unibit train`.
pub fn train(a: TrainArgs) -> Result<()> {
    threads(a.threads)?;
    let device = device(&a.device)?;
    let cfg = if a.resume {
        None
    } else {
        Some(train_config(&a)?)
    };
    if let Some(c) = &cfg {
        eprintln!("{}", run_line(c)?);
    }
    let opts = RunOptions {
        device,
        stop_after: a.stop_after,
    };
    let progress = training_progress(a.quiet);
    let r = match train::train(&a.out, cfg, a.resume, &opts, progress.as_ref()) {
        Err(unibit_sw::Error::RunExists(dir)) => bail!(
            "{}: a run already exists here; pass --resume to continue it, or choose another --out",
            dir.display()
        ),
        r => r?,
    };
    if r.already_trained() {
        eprintln!(
            "{}: already trained for {} of {} epochs",
            r.run.display(),
            r.completed,
            r.config.epochs
        );
    }
    if let Some(line) = result_line(&r) {
        println!("{line}");
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Training run directory.
    pub run: PathBuf,
    /// Bundle directory to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Golden vectors for the first N test images.
    #[arg(long, default_value_t = 16, value_parser = super::args::golden_images)]
    pub golden: usize,
    /// Training images used to calibrate activation scales.
    #[arg(long, default_value_t = 5000, value_parser = super::args::count_at_least_1)]
    pub calibration_images: usize,
    /// Evaluate on the first N test images only.
    #[arg(long, value_parser = super::args::test_images)]
    pub test_limit: Option<usize>,
    #[arg(long, default_value_t = 2, value_parser = super::args::threads)]
    pub threads: usize,
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// `unibit export`.
pub fn export(a: ExportArgs) -> Result<()> {
    threads(a.threads)?;
    let opts = ExportOptions {
        golden: a.golden,
        calibration_images: a.calibration_images,
        device: device(&a.device)?,
        test_limit: a.test_limit,
    };
    let r = export::export(&a.run, &a.out, &opts)?;
    println!(
        "{}: {} test images · trained {:.2}% · fake-quant {:.2}% · integer {:.2}% (gap {:+.2} pp) · size {}",
        a.out.display(),
        r.test_images,
        100.0 * r.trained_accuracy,
        100.0 * r.fake_quant_accuracy,
        100.0 * r.integer_accuracy,
        r.gap_pp,
        format_bits(r.size_bits)
    );
    if r.gap_pp.abs() > 0.3 {
        bail!(
            "integer accuracy differs from the fake-quantized model's by {:+.2} pp (limit 0.3 pp)",
            r.gap_pp
        );
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct BenchTrainArgs {
    #[arg(long, default_value = "resnet20")]
    pub family: Family,
    #[arg(long, default_value_t = 1.0, value_parser = super::args::positive_f64)]
    pub width: f64,
    #[arg(long, default_value = "2")]
    pub bits: Bits,
    #[arg(long, default_value_t = 128, value_parser = super::args::count_at_least_1)]
    pub batch: usize,
    #[arg(long, default_value_t = 2, value_parser = super::args::threads)]
    pub threads: usize,
    /// Timed steps per round and precision.
    #[arg(long, default_value_t = 20, value_parser = super::args::count_at_least_1)]
    pub steps: usize,
    /// Rounds (float and quantized alternate, so load changes hit both alike).
    #[arg(long, default_value_t = 3, value_parser = super::args::count_at_least_1)]
    pub rounds: usize,
}

/// `unibit bench-train`: training throughput of the same network unquantized and quantized.
pub fn bench_train(a: BenchTrainArgs) -> Result<()> {
    threads(a.threads)?;
    let bits = a.bits;
    let r =
        unibit_sw::bench::train_throughput(a.family, a.width, bits, a.batch, a.steps, a.rounds)?;
    println!(
        "{} w={} batch {} threads {}: float {:.0} img/s · B={} QAT {:.0} img/s · QAT/float {:.3} ({:+.1}%)",
        a.family,
        a.width,
        a.batch,
        a.threads,
        r.float_images_per_s,
        bits,
        r.quant_images_per_s,
        r.quant_images_per_s / r.float_images_per_s,
        100.0 * (r.quant_images_per_s / r.float_images_per_s - 1.0)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_errors_name_the_flag() {
        let e = format!("{:#}", device("tpu").unwrap_err());
        assert!(e.contains("--device"), "{e}");
        assert!(format!("{:#}", threads(0).unwrap_err()).contains("--threads"));
    }
}
