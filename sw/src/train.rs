//! The training loop: SGD with momentum and weight decay, linear warm-up then cosine decay,
//! progress through [`Progress`], metrics as JSON lines, a checkpoint every epoch, resume.

use crate::checkpoint::{self, CheckpointInfo, MODEL_PREFIX, OPT_PREFIX};
use crate::data::{self, Augment};
use crate::error::{read_json, write_json, Error, Result};
use crate::net::{Mode, Net, QuantSpec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{nn, Device, Kind, Tensor};
use unibit_core::dataset::Dataset;
use unibit_core::family::FamilyConfig;
use unibit_core::graph::Graph;
use unibit_core::progress::Progress;
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
            None => {
                return Err(Error::invalid(
                    "device",
                    "cpu, cuda or cuda:N",
                    format!("{s:?}"),
                ))
            }
        },
    };
    if d != Device::Cpu && !tch::Cuda::is_available() {
        return Err(Error::invalid(
            "device",
            "cpu (this libtorch has no CUDA support; for GPUs, point LIBTORCH at a CUDA build instead of the CPU folder from scripts/setup.sh)",
            s,
        ));
    }
    Ok(d)
}

/// Options of one training invocation that are not part of the run's identity.
pub struct RunOptions {
    pub device: Device,
    /// Stop after this many epochs (this invocation), e.g. to test resume.
    pub stop_after: Option<usize>,
}

/// What one training invocation did.
#[derive(Clone, Debug, Serialize)]
pub struct TrainReport {
    pub run: PathBuf,
    /// The run's configuration as written in its config.json.
    pub config: TrainConfig,
    /// Metrics of the epochs trained by this invocation.
    pub epochs: Vec<EpochMetrics>,
    /// Epochs the run has completed now (including earlier invocations).
    pub completed: usize,
}

impl TrainReport {
    /// Nothing was left to train: the run had finished before this invocation.
    pub fn already_trained(&self) -> bool {
        self.epochs.is_empty() && self.completed >= self.config.epochs
    }
}

/// Train a run in `dir` (new: writes config.json; existing with `resume`: continues from the
/// checkpoint). Epochs report through `progress`: a step per batch, a line per epoch, and,
/// when no live bar is drawn, a line every tenth of an epoch.
pub fn train(
    dir: &Path,
    cfg: Option<TrainConfig>,
    resume: bool,
    opts: &RunOptions,
    progress: &dyn Progress,
) -> Result<TrainReport> {
    let cfg = if resume {
        read_config(dir)?
    } else {
        let cfg = cfg
            .ok_or_else(|| Error::invalid("training configuration", "one for a new run", "none"))?;
        if dir.join(CONFIG_JSON).exists() {
            return Err(Error::RunExists(dir.to_path_buf()));
        }
        cfg
    };
    let train_set = load_split(&cfg, unibit_core::dataset::Split::Train)?;
    let test_set = load_split(&cfg, unibit_core::dataset::Split::Test)?;
    train_on(dir, cfg, resume, &train_set, &test_set, opts, progress)
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
    let cfg: TrainConfig = read_json(
        &path,
        "cannot read (not a training run?)",
        "not a valid training configuration",
    )?;
    cfg.model
        .validate()
        .map_err(|e| Error::Core(e.in_field("model").in_file(&path)))?;
    Ok(cfg)
}

/// The training loop on in-memory datasets (used by `train` and by tests). Returns the metrics
/// of the epochs run now.
pub fn run_training(
    dir: &Path,
    cfg: TrainConfig,
    resume: bool,
    train_set: &Dataset,
    test_set: &Dataset,
    opts: &RunOptions,
    progress: &dyn Progress,
) -> Result<Vec<EpochMetrics>> {
    Ok(train_on(dir, cfg, resume, train_set, test_set, opts, progress)?.epochs)
}

fn train_on(
    dir: &Path,
    cfg: TrainConfig,
    resume: bool,
    train_set: &Dataset,
    test_set: &Dataset,
    opts: &RunOptions,
    progress: &dyn Progress,
) -> Result<TrainReport> {
    check_settings(&cfg, train_set)?;
    let mut s = Session::open(dir, cfg, resume, opts.device)?;
    let last = match opts.stop_after {
        Some(n) => (s.epoch + n).min(s.cfg.epochs),
        None => s.cfg.epochs,
    };
    let mut epochs = vec![];
    while s.epoch < last {
        let m = s.run_epoch(train_set, test_set, opts.device, progress)?;
        s.save(&m)?;
        progress.line(&epoch_line(&m, s.cfg.epochs));
        epochs.push(m);
    }
    Ok(TrainReport {
        run: dir.to_path_buf(),
        completed: s.epoch,
        config: s.cfg,
        epochs,
    })
}

fn check_settings(cfg: &TrainConfig, train_set: &Dataset) -> Result<()> {
    if cfg.epochs == 0 || cfg.batch == 0 {
        return Err(Error::invalid(
            "epochs and batch",
            "positive values",
            format!("{} and {}", cfg.epochs, cfg.batch),
        ));
    }
    // Checked before the first epoch, not found later in the run's own config.json.
    let rates = [
        ("lr", cfg.lr, false),
        ("momentum", cfg.momentum, true),
        ("weight_decay", cfg.weight_decay, true),
        ("warmup_epochs", cfg.warmup_epochs, true),
    ];
    for (field, x, zero_ok) in rates {
        if !(x.is_finite() && (x > 0.0 || (zero_ok && x == 0.0))) {
            let want = if zero_ok {
                "a finite number ≥ 0"
            } else {
                "a finite number > 0"
            };
            return Err(Error::invalid(field, want, x));
        }
    }
    if train_set.is_empty() {
        return Err(Error::invalid("training set", "at least one image", "none"));
    }
    Ok(())
}

/// A run being trained: its model, optimizer and position.
struct Session<'a> {
    dir: &'a Path,
    cfg: TrainConfig,
    model: Model,
    opt: Sgd,
    epoch: usize,
    step: usize,
}

impl<'a> Session<'a> {
    /// A new run (config.json written) or, with `resume`, the run restored from its checkpoint.
    fn open(dir: &'a Path, mut cfg: TrainConfig, resume: bool, device: Device) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(dir, "cannot create the run directory", e))?;
        let model = Model::seeded(&cfg, device, cfg.seed)?;
        let opt = Sgd::new(&model, cfg.momentum, cfg.weight_decay);
        let (epoch, step) = if resume {
            let info = restore_checkpoint(dir, &model, Some(&opt))?;
            checkpoint::check_epoch(dir, &info, cfg.epochs)?;
            trim_metrics(dir, info.epoch)?;
            (info.epoch, info.step)
        } else {
            cfg.describe(&model.graph, &model.net)?;
            write_json(&dir.join(CONFIG_JSON), "a training configuration", &cfg)?;
            (0, 0)
        };
        Ok(Session {
            dir,
            cfg,
            model,
            opt,
            epoch,
            step,
        })
    }

    /// One epoch of training, then the test set's loss and accuracy.
    fn run_epoch(
        &mut self,
        train_set: &Dataset,
        test_set: &Dataset,
        device: Device,
        progress: &dyn Progress,
    ) -> Result<EpochMetrics> {
        let cfg = &self.cfg;
        let per_epoch = data::train_batch_count(train_set.len(), cfg.batch);
        let augment = if cfg.augment {
            Augment::FASHION
        } else {
            Augment::NONE
        };
        let label = format!("epoch {}/{}", self.epoch + 1, cfg.epochs);
        // Without a live bar (nohup, CI, a log file): a line every tenth of an epoch.
        let every = per_epoch.div_ceil(10).max(1);
        progress.begin(&label, Some(per_epoch as u64));
        let t0 = Instant::now();
        let mut tally = Tally::default();
        let batches =
            data::train_batches(train_set, cfg.batch, cfg.seed, self.epoch, augment, device);
        for (k, b) in batches.enumerate() {
            tally.lr = cfg.lr_at(self.step, per_epoch);
            let (loss, c) = train_step(
                &self.model.net,
                &mut self.opt,
                &b.images,
                &b.labels,
                tally.lr,
            );
            if !loss.is_finite() {
                progress.end();
                return Err(Error::Diverged {
                    epoch: self.epoch + 1,
                    step: self.step,
                    loss,
                });
            }
            tally.add(loss, c, b.labels.size()[0] as usize);
            self.step += 1;
            progress.advance(1);
            let msg = tally.message(t0.elapsed().as_secs_f64());
            if !progress.is_live() && (k + 1).is_multiple_of(every) {
                progress.line(&format!("{label} step {}/{per_epoch}: {msg}", k + 1));
            }
            progress.status(&msg);
        }
        let train_secs = t0.elapsed().as_secs_f64();
        progress.end();
        let (test_loss, test_acc) = evaluate(&self.model.net, test_set, device);
        self.epoch += 1;
        Ok(tally.metrics(self.epoch, self.step, test_loss, test_acc, train_secs, t0))
    }

    /// The epoch's metrics line, then the checkpoint after it. In this order a run killed
    /// between the two keeps the line; resuming from the earlier checkpoint drops it again
    /// ([`trim_metrics`]), so every epoch has exactly one line.
    fn save(&self, m: &EpochMetrics) -> Result<()> {
        append_metrics(self.dir, m)?;
        save_checkpoint(self.dir, self.epoch, self.step, &self.model, &self.opt)
    }
}

/// Running sums of one epoch's training batches.
#[derive(Default)]
struct Tally {
    loss_sum: f64,
    correct: i64,
    seen: usize,
    lr: f64,
}

impl Tally {
    fn add(&mut self, loss: f64, correct: i64, k: usize) {
        self.loss_sum += loss * k as f64;
        self.correct += correct;
        self.seen += k;
    }

    /// The bar's message: running loss, accuracy and speed.
    fn message(&self, secs: f64) -> String {
        format!(
            "loss {:.4} acc {:.2}% {:.0} img/s",
            self.loss_sum / self.seen as f64,
            100.0 * self.correct as f64 / self.seen as f64,
            self.seen as f64 / secs
        )
    }

    fn metrics(
        &self,
        epoch: usize,
        step: usize,
        test_loss: f64,
        test_acc: f64,
        train_secs: f64,
        t0: Instant,
    ) -> EpochMetrics {
        EpochMetrics {
            epoch,
            step,
            lr: self.lr,
            train_loss: self.loss_sum / self.seen.max(1) as f64,
            train_acc: self.correct as f64 / self.seen.max(1) as f64,
            test_loss,
            test_acc,
            images_per_s: self.seen as f64 / train_secs,
            seconds: t0.elapsed().as_secs_f64(),
        }
    }
}

/// The line kept for every finished epoch.
fn epoch_line(m: &EpochMetrics, epochs: usize) -> String {
    format!(
        "epoch {}/{}: train loss {:.4} acc {:.2}% · test loss {:.4} acc {:.2}% · {:.0} img/s · {:.0} s",
        m.epoch,
        epochs,
        m.train_loss,
        100.0 * m.train_acc,
        m.test_loss,
        100.0 * m.test_acc,
        m.images_per_s,
        m.seconds
    )
}

/// A checkpoint's tensors: the model's variables under `model/`, the optimizer's momentum
/// buffers under `opt/`.
pub fn checkpoint_tensors(model: &Model, opt: &Sgd) -> BTreeMap<String, Tensor> {
    let mut tensors: BTreeMap<String, Tensor> = model
        .variables()
        .into_iter()
        .map(|(k, v)| (format!("{MODEL_PREFIX}{k}"), v))
        .collect();
    for (k, v) in &opt.buffers {
        tensors.insert(format!("{OPT_PREFIX}{k}"), v.shallow_clone());
    }
    tensors
}

/// Save `model` and `opt` as the checkpoint of `dir` after `epoch` epochs and `step` steps.
pub fn save_checkpoint(
    dir: &Path,
    epoch: usize,
    step: usize,
    model: &Model,
    opt: &Sgd,
) -> Result<()> {
    checkpoint::save(dir, epoch, step, &checkpoint_tensors(model, opt))
}

/// Copy the checkpoint of `dir` into `model` (and into `opt`'s buffers when given).
pub fn restore_checkpoint(dir: &Path, model: &Model, opt: Option<&Sgd>) -> Result<CheckpointInfo> {
    let (info, tensors) = checkpoint::load(dir)?;
    let file = dir.join(&info.tensors);
    checkpoint::restore(&file, MODEL_PREFIX, &tensors, &model.variables())?;
    if let Some(opt) = opt {
        checkpoint::restore(&file, OPT_PREFIX, &tensors, &opt.buffers)?;
    }
    Ok(info)
}

/// Every epoch's metrics of the run in `dir`, in order; errors name the file and line.
pub fn read_metrics(dir: &Path) -> Result<Vec<EpochMetrics>> {
    let path = dir.join(METRICS_JSONL);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, "cannot read", e))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| {
                Error::json(&path, format!("line {}: not an epoch's metrics", i + 1), e)
            })
        })
        .collect()
}

/// Keep only the metrics lines of epochs up to `epoch` (the checkpoint a run resumes from);
/// the file is rewritten atomically, and only when it has lines past it.
fn trim_metrics(dir: &Path, epoch: usize) -> Result<()> {
    let path = dir.join(METRICS_JSONL);
    if !path.exists() {
        return Ok(());
    }
    let all = read_metrics(dir)?;
    if all.iter().all(|m| m.epoch <= epoch) {
        return Ok(());
    }
    let mut text = String::new();
    for m in all.iter().filter(|m| m.epoch <= epoch) {
        text.push_str(&metrics_line(m)?);
        text.push('\n');
    }
    Ok(unibit_core::atomic::write_atomic(&path, text.as_bytes())?)
}

/// One epoch's line of `metrics.jsonl`.
fn metrics_line(m: &EpochMetrics) -> Result<String> {
    serde_json::to_string(m).map_err(|source| Error::Encode {
        what: "an epoch's metrics",
        source,
    })
}

fn append_metrics(dir: &Path, m: &EpochMetrics) -> Result<()> {
    let path = dir.join(METRICS_JSONL);
    let line = metrics_line(m)?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| Error::io(&path, "cannot open", e))?;
    writeln!(f, "{line}").map_err(|e| Error::io(&path, "cannot write", e))
}

/// Load a trained run (config + current checkpoint's model variables).
pub fn load_run(dir: &Path, device: Device) -> Result<(TrainConfig, Model, CheckpointInfo)> {
    let cfg = read_config(dir)?;
    let model = Model::new(&cfg, device)?;
    let info = restore_checkpoint(dir, &model, None)?;
    checkpoint::check_epoch(dir, &info, cfg.epochs)?;
    Ok((cfg, model, info))
}

/// Training hyper-parameters that train, sweep and mixed-precision runs share (written in a
/// sweep's plan.json).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainSettings {
    pub epochs: usize,
    pub batch: usize,
    /// Peak learning rate (after warm-up; cosine decay to 0).
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    pub warmup_epochs: f64,
    /// Disable augmentation (padding + random crop, horizontal flips).
    pub no_augment: bool,
    /// Use only the first N training images.
    pub train_limit: Option<usize>,
    /// Fashion-MNIST directory (`None`: $UNIBIT_DATA_DIR or /usr/share/datasets/fashion-mnist).
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

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(n: usize) -> EpochMetrics {
        EpochMetrics {
            epoch: n,
            step: 10 * n,
            lr: 0.1 / n as f64,
            train_loss: 1.0 / 3.0,
            train_acc: 0.5,
            test_loss: 0.7,
            test_acc: 0.123_456_789,
            images_per_s: 1e3,
            seconds: 2.5,
        }
    }

    /// A run killed between an epoch's metrics line and its checkpoint resumes from the
    /// checkpoint before: the line of the epoch it redoes is dropped, the others kept as written.
    #[test]
    fn resuming_drops_metrics_past_the_checkpoint_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        for n in 1..=3 {
            append_metrics(dir.path(), &epoch(n)).unwrap();
        }
        let before = std::fs::read_to_string(dir.path().join(METRICS_JSONL)).unwrap();
        trim_metrics(dir.path(), 3).unwrap();
        let same = std::fs::read_to_string(dir.path().join(METRICS_JSONL)).unwrap();
        assert_eq!(same, before, "nothing past the checkpoint: file untouched");
        trim_metrics(dir.path(), 2).unwrap();
        let kept = std::fs::read_to_string(dir.path().join(METRICS_JSONL)).unwrap();
        let want: String = before.lines().take(2).map(|l| format!("{l}\n")).collect();
        assert_eq!(kept, want);
        let epochs: Vec<usize> = read_metrics(dir.path())
            .unwrap()
            .iter()
            .map(|m| m.epoch)
            .collect();
        assert_eq!(epochs, [1, 2]);
        // A run without metrics yet (killed in its first epoch) is fine.
        let empty = tempfile::tempdir().unwrap();
        trim_metrics(empty.path(), 0).unwrap();
    }
}
