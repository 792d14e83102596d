//! The training loop: SGD with momentum and weight decay, linear warm-up then cosine decay,
//! progress bar, metrics as JSON lines, a checkpoint every epoch, resume.

use crate::checkpoint;
use crate::data::{self, Augment};
use crate::net::{Mode, Net, QuantSpec};
use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{nn, Device, Kind, Tensor};
use unibit_core::dataset::Dataset;
use unibit_core::family::FamilyConfig;
use unibit_core::graph::Graph;
use unibit_core::size::model_size;
use unibit_core::Bits;

pub const CONFIG_JSON: &str = "config.json";
pub const METRICS_JSONL: &str = "metrics.jsonl";

/// Everything that defines a run (written to `RUN/config.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    pub model: FamilyConfig,
    /// `None`: the float baseline (no quantizers).
    pub quant: Option<QuantSpec>,
    /// Mixed precision: every conv/linear layer's weight bitwidth in graph order (overrides
    /// `quant.bits`; such runs are not exportable to a one-bitwidth array). `None`: one bitwidth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_bits: Option<Vec<Bits>>,
    /// The budget the width was solved for, if any (as given, and in bits).
    #[serde(default)]
    pub budget: Option<String>,
    #[serde(default)]
    pub budget_bits: Option<u64>,
    /// Output channels of every conv/linear layer, by node name.
    pub channel_plan: Vec<(String, usize)>,
    /// Model size at the run's bitwidth(s), in bits (weights + per-channel parameters).
    pub size_bits: Option<u64>,
    pub weight_bits: Option<u64>,
    pub param_bits: Option<u64>,
    pub epochs: usize,
    pub batch: usize,
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    pub warmup_epochs: f64,
    pub seed: u64,
    pub augment: bool,
    /// Use only the first N training images (quick runs); `None` = all.
    #[serde(default)]
    pub train_limit: Option<usize>,
    pub data_dir: PathBuf,
}

impl TrainConfig {
    /// Record the graph's plan and size.
    pub fn describe(&mut self, graph: &Graph, net: &Net) -> Result<()> {
        self.channel_plan = graph
            .weight_layers()
            .map(|n| (n.name.clone(), n.op.out_channels().unwrap()))
            .collect();
        if net.quant.is_some() {
            let size = model_size(graph, |i| net.bits_of(i).unwrap_or(Bits::new(8).unwrap()))?;
            self.size_bits = Some(size.total_bits);
            self.weight_bits = Some(size.weight_bits);
            self.param_bits = Some(size.param_bits);
        }
        Ok(())
    }

    /// Learning rate at `step` of `total` (`per_epoch` steps an epoch): linear warm-up, cosine.
    pub fn lr_at(&self, step: usize, per_epoch: usize) -> f64 {
        let total = (self.epochs * per_epoch).max(1) as f64;
        let warm = self.warmup_epochs * per_epoch as f64;
        let s = step as f64;
        if s < warm {
            self.lr * (s + 1.0) / warm
        } else {
            let t = ((s - warm) / (total - warm).max(1.0)).min(1.0);
            0.5 * self.lr * (1.0 + (std::f64::consts::PI * t).cos())
        }
    }
}

/// Held while drawing from libtorch's process-wide generator (model initialization).
fn torch_rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static TORCH_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner())
}

/// A model with its variables and optimizer state.
pub struct Model {
    pub vs: nn::VarStore,
    pub net: Net,
    pub graph: Graph,
}

impl Model {
    /// A model initialized from libtorch's generator as it stands (for weights that are
    /// overwritten next: a checkpoint, a reference run). Use [`Model::seeded`] for training.
    pub fn new(cfg: &TrainConfig, device: Device) -> Result<Model> {
        let _guard = torch_rng_lock();
        Model::build(cfg, device)
    }

    /// A freshly initialized model whose weights depend on `seed` only. libtorch's generator is
    /// process-wide, so seeding and drawing happen under one lock that every model construction
    /// takes: another model built in the same process (parallel tests, a library user's
    /// threads) cannot interleave its draws and change these weights.
    pub fn seeded(cfg: &TrainConfig, device: Device, seed: u64) -> Result<Model> {
        let _guard = torch_rng_lock();
        tch::manual_seed(seed as i64);
        Model::build(cfg, device)
    }

    fn build(cfg: &TrainConfig, device: Device) -> Result<Model> {
        let graph = cfg.model.build()?;
        let vs = nn::VarStore::new(device);
        let net = Net::with_layer_bits(&vs.root(), &graph, cfg.quant, cfg.layer_bits.as_deref())?;
        Ok(Model { vs, net, graph })
    }

    /// Variables by name (sorted).
    pub fn variables(&self) -> BTreeMap<String, Tensor> {
        self.vs.variables().into_iter().collect()
    }
}

/// Decay conv/linear weights only (not batch norm, biases or scales).
fn decays(name: &str) -> bool {
    name.ends_with(".weight") && !name.contains(".bn.")
}

/// Plain SGD with momentum and L2 weight decay, with its buffers exposed for checkpoints.
pub struct Sgd {
    params: Vec<(String, Tensor)>,
    pub buffers: BTreeMap<String, Tensor>,
    pub momentum: f64,
    pub weight_decay: f64,
}

impl Sgd {
    pub fn new(model: &Model, momentum: f64, weight_decay: f64) -> Sgd {
        let params: Vec<(String, Tensor)> = model
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        let buffers = params
            .iter()
            .map(|(n, t)| (n.clone(), t.zeros_like()))
            .collect();
        Sgd {
            params,
            buffers,
            momentum,
            weight_decay,
        }
    }

    pub fn zero_grad(&mut self) {
        for (_, p) in &mut self.params {
            p.zero_grad();
        }
    }

    /// `buf = μ·buf + (g + λ·w)`, `w -= lr·buf`.
    pub fn step(&mut self, lr: f64) {
        tch::no_grad(|| {
            for (name, p) in &mut self.params {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                let d = if decays(name) && self.weight_decay > 0.0 {
                    g + &*p * self.weight_decay
                } else {
                    g
                };
                let buf = self.buffers.get_mut(name).unwrap();
                let _ = buf.g_mul_scalar_(self.momentum).g_add_(&d);
                let _ = p.g_add_(&(&*buf * (-lr)));
            }
        });
    }
}

/// Loss and accuracy of a model on a dataset (evaluation mode, batches ≤ 500).
pub fn evaluate(net: &Net, data: &Dataset, device: Device) -> (f64, f64) {
    tch::no_grad(|| {
        let (mut loss, mut correct, mut n) = (0.0, 0i64, 0usize);
        for b in data::eval_batches(data, 500, device) {
            let logits = net.forward(&b.images, Mode::Eval);
            let k = b.labels.size()[0] as usize;
            loss += logits.cross_entropy_for_logits(&b.labels).double_value(&[]) * k as f64;
            correct += logits
                .argmax(-1, false)
                .eq_tensor(&b.labels)
                .sum(Kind::Int64)
                .int64_value(&[]);
            n += k;
        }
        (loss / n.max(1) as f64, correct as f64 / n.max(1) as f64)
    })
}

/// Metrics of one epoch (a line of `metrics.jsonl`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    pub step: usize,
    pub lr: f64,
    pub train_loss: f64,
    pub train_acc: f64,
    pub test_loss: f64,
    pub test_acc: f64,
    pub images_per_s: f64,
    pub seconds: f64,
}

/// One optimizer step on a batch; returns (loss, correct).
pub fn train_step(
    net: &Net,
    opt: &mut Sgd,
    images: &Tensor,
    labels: &Tensor,
    lr: f64,
) -> (f64, i64) {
    let logits = net.forward(images, Mode::Train);
    let loss = logits.cross_entropy_for_logits(labels);
    opt.zero_grad();
    loss.backward();
    opt.step(lr);
    let correct = tch::no_grad(|| {
        logits
            .argmax(-1, false)
            .eq_tensor(labels)
            .sum(Kind::Int64)
            .int64_value(&[])
    });
    (loss.double_value(&[]), correct)
}

/// Parse `cpu`, `cuda` or `cuda:N`; CUDA requires a libtorch built with it.
pub fn parse_device(s: &str) -> Result<Device> {
    let d = match s.trim() {
        "cpu" => Device::Cpu,
        "cuda" => Device::Cuda(0),
        other => match other.strip_prefix("cuda:").and_then(|n| n.parse().ok()) {
            Some(n) => Device::Cuda(n),
            None => bail!("--device: expected cpu, cuda or cuda:N, found {s:?}"),
        },
    };
    if d != Device::Cpu && !tch::Cuda::is_available() {
        bail!(
            "--device {s}: this libtorch has no CUDA support (the CPU libtorch folder from scripts/setup.sh); use --device cpu, or point LIBTORCH at a CUDA build"
        );
    }
    Ok(d)
}

/// Options of one training invocation that are not part of the run's identity.
pub struct RunOptions {
    pub device: Device,
    pub progress: bool,
    /// Stop after this many epochs (this invocation), e.g. to test resume.
    pub stop_after: Option<usize>,
}

/// Train a run in `dir` (new: writes config.json; existing with `resume`: continues from the
/// checkpoint). Returns the metrics of the epochs run now.
pub fn train(
    dir: &Path,
    cfg: Option<TrainConfig>,
    resume: bool,
    opts: &RunOptions,
) -> Result<Vec<EpochMetrics>> {
    let cfg_path = dir.join(CONFIG_JSON);
    let cfg = if resume {
        read_config(dir)?
    } else {
        let cfg = cfg.context("a training configuration is required for a new run")?;
        if cfg_path.exists() {
            bail!("{}: a run already exists here; pass --resume to continue it, or choose another --out", dir.display());
        }
        cfg
    };
    let train_set = load_split(&cfg, unibit_core::dataset::Split::Train)?;
    let test_set = load_split(&cfg, unibit_core::dataset::Split::Test)?;
    run_training(dir, cfg, resume, &train_set, &test_set, opts)
}

/// Load a split, honouring `train_limit` for the training split.
pub fn load_split(cfg: &TrainConfig, split: unibit_core::dataset::Split) -> Result<Dataset> {
    let d = unibit_core::dataset::load(&cfg.data_dir, split)?;
    Ok(match (split, cfg.train_limit) {
        (unibit_core::dataset::Split::Train, Some(n)) => d.take(n),
        _ => d,
    })
}

/// Read and check `RUN/config.json`.
pub fn read_config(dir: &Path) -> Result<TrainConfig> {
    let path = dir.join(CONFIG_JSON);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{}: cannot read (not a training run?)", path.display()))?;
    let cfg: TrainConfig = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a valid training configuration", path.display()))?;
    cfg.model
        .validate()
        .map_err(|e| anyhow::anyhow!("{}: model.{e}", path.display()))?;
    Ok(cfg)
}

/// The training loop on in-memory datasets (used by `train` and by tests).
pub fn run_training(
    dir: &Path,
    mut cfg: TrainConfig,
    resume: bool,
    train_set: &Dataset,
    test_set: &Dataset,
    opts: &RunOptions,
) -> Result<Vec<EpochMetrics>> {
    if cfg.epochs == 0 || cfg.batch == 0 {
        bail!(
            "epochs and batch must be positive (found {} and {})",
            cfg.epochs,
            cfg.batch
        );
    }
    if train_set.is_empty() {
        bail!("the training set is empty");
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("{}: cannot create the run directory", dir.display()))?;
    let model = Model::seeded(&cfg, opts.device, cfg.seed)?;
    let mut opt = Sgd::new(&model, cfg.momentum, cfg.weight_decay);
    let (mut epoch, mut step) = (0usize, 0usize);
    if resume {
        let (info, tensors) = checkpoint::load(dir)?;
        let file = dir.join(&info.tensors);
        checkpoint::restore(&file, "model/", &tensors, &model.variables())?;
        checkpoint::restore(&file, "opt/", &tensors, &opt.buffers)?;
        epoch = info.epoch;
        step = info.step;
        if epoch >= cfg.epochs {
            eprintln!(
                "{}: already trained for {epoch} of {} epochs",
                dir.display(),
                cfg.epochs
            );
            return Ok(vec![]);
        }
    } else {
        cfg.describe(&model.graph, &model.net)?;
        checkpoint::write_atomic(
            &dir.join(CONFIG_JSON),
            serde_json::to_string_pretty(&cfg)?.as_bytes(),
        )?;
    }
    let per_epoch = data::train_batch_count(train_set.len(), cfg.batch);
    let augment = if cfg.augment {
        Augment::FASHION
    } else {
        Augment::NONE
    };
    let mut done = vec![];
    let last = match opts.stop_after {
        Some(n) => (epoch + n).min(cfg.epochs),
        None => cfg.epochs,
    };
    while epoch < last {
        let bar = if opts.progress {
            let b = ProgressBar::new(per_epoch as u64);
            b.set_style(
                ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg} ({eta})")
                    .unwrap()
                    .progress_chars("=> "),
            );
            b.set_prefix(format!("{}/{}", epoch + 1, cfg.epochs));
            b
        } else {
            ProgressBar::hidden()
        };
        let t0 = Instant::now();
        let (mut loss_sum, mut correct, mut seen) = (0.0, 0i64, 0usize);
        let mut lr = 0.0;
        for b in data::train_batches(train_set, cfg.batch, cfg.seed, epoch, augment, opts.device) {
            lr = cfg.lr_at(step, per_epoch);
            let (loss, c) = train_step(&model.net, &mut opt, &b.images, &b.labels, lr);
            if !loss.is_finite() {
                bail!(
                    "training diverged at epoch {} step {step}: loss {loss}",
                    epoch + 1
                );
            }
            let k = b.labels.size()[0] as usize;
            loss_sum += loss * k as f64;
            correct += c;
            seen += k;
            step += 1;
            bar.inc(1);
            let msg = format!(
                "loss {:.4} acc {:.2}% {:.0} img/s",
                loss_sum / seen as f64,
                100.0 * correct as f64 / seen as f64,
                seen as f64 / t0.elapsed().as_secs_f64()
            );
            // Without a terminal (nohup, CI) the bar is hidden: log a line every tenth of an epoch.
            let done_in_epoch = bar.position() as usize;
            if opts.progress
                && bar.is_hidden()
                && done_in_epoch.is_multiple_of(per_epoch.div_ceil(10).max(1))
            {
                eprintln!(
                    "epoch {}/{} step {done_in_epoch}/{per_epoch}: {msg}",
                    epoch + 1,
                    cfg.epochs
                );
            }
            bar.set_message(msg);
        }
        let train_secs = t0.elapsed().as_secs_f64();
        bar.finish_and_clear();
        let (test_loss, test_acc) = evaluate(&model.net, test_set, opts.device);
        epoch += 1;
        let m = EpochMetrics {
            epoch,
            step,
            lr,
            train_loss: loss_sum / seen.max(1) as f64,
            train_acc: correct as f64 / seen.max(1) as f64,
            test_loss,
            test_acc,
            images_per_s: seen as f64 / train_secs,
            seconds: t0.elapsed().as_secs_f64(),
        };
        let mut tensors: BTreeMap<String, Tensor> = model
            .variables()
            .into_iter()
            .map(|(k, v)| (format!("model/{k}"), v))
            .collect();
        for (k, v) in &opt.buffers {
            tensors.insert(format!("opt/{k}"), v.shallow_clone());
        }
        checkpoint::save(dir, epoch, step, &tensors)?;
        append_metrics(dir, &m)?;
        if opts.progress {
            eprintln!(
                "epoch {}/{}: train loss {:.4} acc {:.2}% · test loss {:.4} acc {:.2}% · {:.0} img/s · {:.0} s",
                epoch,
                cfg.epochs,
                m.train_loss,
                100.0 * m.train_acc,
                m.test_loss,
                100.0 * m.test_acc,
                m.images_per_s,
                m.seconds
            );
        }
        done.push(m);
    }
    Ok(done)
}

/// Every epoch's metrics of the run in `dir`, in order; errors name the file and line.
pub fn read_metrics(dir: &Path) -> Result<Vec<EpochMetrics>> {
    let path = dir.join(METRICS_JSONL);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).with_context(|| {
                format!("{} line {}: not an epoch's metrics", path.display(), i + 1)
            })
        })
        .collect()
}

fn append_metrics(dir: &Path, m: &EpochMetrics) -> Result<()> {
    let path = dir.join(METRICS_JSONL);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("{}: cannot open", path.display()))?;
    writeln!(f, "{}", serde_json::to_string(m)?)
        .with_context(|| format!("{}: cannot write", path.display()))?;
    Ok(())
}

/// Load a trained run (config + current checkpoint's model variables).
pub fn load_run(
    dir: &Path,
    device: Device,
) -> Result<(TrainConfig, Model, checkpoint::CheckpointInfo)> {
    let cfg = read_config(dir)?;
    let model = Model::new(&cfg, device)?;
    let (info, tensors) = checkpoint::load(dir)?;
    checkpoint::restore(
        &dir.join(&info.tensors),
        "model/",
        &tensors,
        &model.variables(),
    )?;
    Ok((cfg, model, info))
}

/// Training hyper-parameters: the options `unibit train`, `unibit sweep` and `unibit mixed` share.
#[derive(Args, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainSettings {
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Peak learning rate (after warm-up; cosine decay to 0).
    #[arg(long, default_value_t = 0.1)]
    pub lr: f64,
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    #[arg(long, default_value_t = 5e-4)]
    pub weight_decay: f64,
    #[arg(long, default_value_t = 1.0)]
    pub warmup_epochs: f64,
    /// Disable augmentation (padding + random crop, horizontal flips).
    #[arg(long)]
    pub no_augment: bool,
    /// Use only the first N training images.
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Fashion-MNIST directory (default: $UNIBIT_DATA_DIR or /usr/share/datasets/fashion-mnist).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

impl TrainSettings {
    /// A run's configuration: `model` at one bitwidth (`quant`) or float.
    pub fn config(
        &self,
        model: FamilyConfig,
        quant: Option<QuantSpec>,
        seed: u64,
        budget: Option<(String, u64)>,
    ) -> TrainConfig {
        TrainConfig {
            model,
            quant,
            layer_bits: None,
            budget: budget.as_ref().map(|b| b.0.clone()),
            budget_bits: budget.map(|b| b.1),
            channel_plan: vec![],
            size_bits: None,
            weight_bits: None,
            param_bits: None,
            epochs: self.epochs,
            batch: self.batch,
            lr: self.lr,
            momentum: self.momentum,
            weight_decay: self.weight_decay,
            warmup_epochs: self.warmup_epochs,
            seed,
            augment: !self.no_augment,
            train_limit: self.train_limit,
            data_dir: unibit_core::dataset::data_dir(self.data_dir.as_deref()),
        }
    }
}
