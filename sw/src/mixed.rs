//! The mixed-precision baseline (HAWQ-V2 style): per-layer bitwidths chosen by Hessian-trace
//! sensitivity, at a size budget or at the smallest size with no accuracy loss against the
//! 8-bit model ("zero degradation").
//!
//! 1. **Reference.** The network at a fixed width, trained with every layer at 8 bits
//!    (`OUT/ref-8bit`). Its test accuracy is the zero-degradation target.
//! 2. **Sensitivity.** For every conv/linear layer `l` with `n_l` weights, the Hessian trace
//!    `tr(H_l)` of the reference's cross-entropy loss (evaluation mode, on training images) by
//!    Hutchinson's estimator ([`crate::hessian`]), and the quantization perturbation
//!    `‖W_l − Q_b(W_l)‖²` of its weights for each candidate bitwidth `b` (the trainer's own
//!    quantizer). HAWQ-V2's cost of putting layer `l` at `b` bits is
//!    `Ω_l(b) = tr(H_l)/n_l · ‖W_l − Q_b(W_l)‖²` (negative trace estimates count as 0).
//! 3. **Pareto front.** Over all allocations, the front of (weight bits `Σ n_l·b_l`, total
//!    `Σ Ω_l(b_l)`): a dynamic program that adds one layer at a time and keeps only the points
//!    no smaller-or-equal allocation beats ([`pareto_front`]). The per-channel parameter bits
//!    do not depend on the weight bitwidth, so size = weight bits + a constant.
//! 4. **Budget mode.** The front point of least Ω whose total size fits the budget, fine-tuned
//!    from the 8-bit reference for `--finetune-epochs` at its per-layer bitwidths.
//! 5. **Zero-degradation mode.** The front's points, thinned to sizes growing by at least
//!    `--size-resolution` (default 5%), are searched by bisection for the smallest whose
//!    fine-tuned accuracy is ≥ the 8-bit reference's minus `--tolerance-pp` (default 0: no
//!    loss at all). Bisection assumes accuracy grows with size along the front, which holds up
//!    to training noise; every probe is kept (`OUT/zero-degradation/probes.json`). If no probe
//!    passes, the answer is the 8-bit model itself.
//!
//! Mixed-precision models do not run on the one-bitwidth engine, so they are not exported:
//! their records carry the fake-quantized test accuracy of the tch model (`int_acc` = null),
//! and cycles predicted for the reference array at the largest layer bitwidth.

use crate::checkpoint::{self, write_atomic, CHECKPOINT_JSON};
use crate::data;
use crate::hessian::{self, TraceEstimate};
use crate::net::{var_name, Mode, QuantSpec};
use crate::quant;
use crate::sweep::{self, TrainSettings, RECORD_JSON, REFERENCE_COLS, REFERENCE_ROWS};
use crate::train::{self, load_run, Model, RunOptions, Sgd, TrainConfig, CONFIG_JSON};
use anyhow::{bail, Context, Result};
use clap::Args;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};
use unibit_core::dataset::{Dataset, Split};
use unibit_core::family::{FamilyConfig, DEFAULT_CHANNEL_MULTIPLE};
use unibit_core::results::{self, Method, RunRecord};
use unibit_core::size::{format_bits, model_size, parse_bits};
use unibit_core::{Bits, Family};

/// How the Hessian traces are estimated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HessianOptions {
    /// Rademacher samples per batch.
    pub samples: usize,
    /// Training images used (the first N).
    pub images: usize,
    /// Images per batch (each batch's loss gets `samples` draws).
    pub batch: usize,
    pub seed: u64,
}

/// One layer's sensitivity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerSensitivity {
    pub node: String,
    pub weights: u64,
    pub trace: TraceEstimate,
    /// `‖W − Q_b(W)‖²` for each candidate bitwidth.
    pub quant_error: Vec<(Bits, f64)>,
}

impl LayerSensitivity {
    /// `Ω(b) = max(tr H, 0)/n · ‖W − Q_b(W)‖²` for each candidate.
    pub fn omegas(&self) -> Vec<(Bits, f64)> {
        let t = self.trace.trace.max(0.0) / self.weights.max(1) as f64;
        self.quant_error.iter().map(|&(b, e)| (b, t * e)).collect()
    }
}

/// `‖w − Q_b(w)‖²` with the trainer's weight quantizer.
pub fn quant_error(w: &Tensor, bits: Bits, per_channel: bool) -> f64 {
    tch::no_grad(|| {
        let w = w.detach();
        let q = quant::fake_quant_weight(&w, bits, per_channel);
        (&w - q).square().sum(Kind::Double).double_value(&[])
    })
}

/// Every conv/linear layer's Hessian trace and quantization errors for `choices`, on the first
/// `o.images` images of `data` (evaluation mode: running batch norm, frozen activation scales).
pub fn layer_sensitivities(
    model: &Model,
    data: &Dataset,
    choices: &[Bits],
    o: &HessianOptions,
    device: Device,
) -> Result<Vec<LayerSensitivity>> {
    let vars = model.variables();
    let net = &model.net;
    let mut nodes = vec![];
    let mut params = vec![];
    for (i, node) in net.graph.nodes.iter().enumerate() {
        if !node.op.has_weights() {
            continue;
        }
        let name = format!("{}.weight", var_name(&node.name));
        let p = vars
            .get(&name)
            .with_context(|| format!("variable {name}: expected in the model, found none"))?;
        nodes.push(i);
        params.push(p.shallow_clone());
    }
    let images = data.take(o.images.max(1));
    let batches: Vec<data::Batch> = data::eval_batches(&images, o.batch.max(1), device).collect();
    let traces = hessian::hutchinson_traces(
        &params,
        batches.len(),
        |b| {
            net.forward(&batches[b].images, Mode::Eval)
                .cross_entropy_for_logits(&batches[b].labels)
        },
        o.samples,
        o.seed,
    )?;
    Ok(nodes
        .iter()
        .zip(traces)
        .map(|(&i, trace)| {
            let w = net.latent_weight(i).unwrap();
            LayerSensitivity {
                node: net.graph.nodes[i].name.clone(),
                weights: net.graph.nodes[i].op.weight_count() as u64,
                trace,
                quant_error: choices
                    .iter()
                    .map(|&b| (b, quant_error(&w, b, net.per_channel(i))))
                    .collect(),
            }
        })
        .collect())
}

/// One point of the size/sensitivity Pareto front.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Allocation {
    /// Per conv/linear layer, graph order.
    pub layer_bits: Vec<Bits>,
    /// `Σ n_l·b_l`.
    pub weight_bits: u64,
    /// `Σ Ω_l(b_l)`.
    pub omega: f64,
}

/// The Pareto front of (weight bits, Ω) over per-layer choices `layers[l] = (n_l, [(b, Ω_l(b))])`,
/// sorted by size with Ω strictly decreasing. Exact when the front has at most `max_points`
/// points after each layer; beyond that, every k-th point (and the last) is kept.
pub fn pareto_front(layers: &[(u64, Vec<(Bits, f64)>)], max_points: usize) -> Vec<Allocation> {
    // front: (size, omega); history[l][k] = (index in the previous front, choice index).
    let mut front: Vec<(u64, f64)> = vec![(0, 0.0)];
    let mut history: Vec<Vec<(usize, usize)>> = vec![];
    for (n, opts) in layers {
        let mut cand: Vec<(u64, f64, usize, usize)> = Vec::with_capacity(front.len() * opts.len());
        for (p, &(size, om)) in front.iter().enumerate() {
            for (c, &(b, o)) in opts.iter().enumerate() {
                cand.push((size + n * b.get() as u64, om + o, p, c));
            }
        }
        cand.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        let mut kept: Vec<(u64, f64, usize, usize)> = vec![];
        for c in cand {
            if kept.last().is_none_or(|k| c.1 < k.1) {
                if kept.last().is_some_and(|k| k.0 == c.0) {
                    kept.pop();
                }
                kept.push(c);
            }
        }
        if kept.len() > max_points.max(2) {
            let step = kept.len().div_ceil(max_points.max(2));
            let last = kept.len() - 1;
            kept = kept
                .into_iter()
                .enumerate()
                .filter(|(i, _)| i % step == 0 || *i == last)
                .map(|(_, c)| c)
                .collect();
        }
        front = kept.iter().map(|c| (c.0, c.1)).collect();
        history.push(kept.iter().map(|c| (c.2, c.3)).collect());
    }
    (0..front.len())
        .map(|k| {
            let mut bits = vec![];
            let mut at = k;
            for (l, h) in history.iter().enumerate().rev() {
                let (prev, choice) = h[at];
                bits.push(layers[l].1[choice].0);
                at = prev;
            }
            bits.reverse();
            Allocation {
                layer_bits: bits,
                weight_bits: front[k].0,
                omega: front[k].1,
            }
        })
        .collect()
}

/// The front point of least Ω with at most `max_weight_bits` weight bits.
pub fn best_within(front: &[Allocation], max_weight_bits: u64) -> Option<&Allocation> {
    // Sorted by size with Ω decreasing: the largest point that fits.
    front
        .iter()
        .take_while(|a| a.weight_bits <= max_weight_bits)
        .last()
}

/// Points of a front thinned to sizes growing by a factor of at least `1 + resolution`.
pub fn thin_by_size(front: &[Allocation], resolution: f64) -> Vec<Allocation> {
    let mut out: Vec<Allocation> = vec![];
    for a in front {
        if out
            .last()
            .is_none_or(|l| a.weight_bits as f64 >= l.weight_bits as f64 * (1.0 + resolution))
        {
            out.push(a.clone());
        }
    }
    out
}

/// Bisection for the smallest index in `0..n` where `pass` holds, assuming `pass` is monotone
/// (false … false true … true). `None` when even `n − 1` fails. Probes O(log n) indices.
pub fn smallest_passing(
    n: usize,
    mut pass: impl FnMut(usize) -> Result<bool>,
) -> Result<Option<usize>> {
    // Invariant: every index < lo fails, index hi passes (hi = n: unknown / none).
    let (mut lo, mut hi) = (0usize, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pass(mid)? {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Ok((hi < n).then_some(hi))
}

/// Last epoch's test accuracy of a run (from its metrics.jsonl).
pub fn final_accuracy(run: &Path) -> Result<f64> {
    let p = run.join(train::METRICS_JSONL);
    let text =
        std::fs::read_to_string(&p).with_context(|| format!("{}: cannot read", p.display()))?;
    let last = text
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .with_context(|| format!("{}: no epochs recorded", p.display()))?;
    let m: train::EpochMetrics = serde_json::from_str(last)
        .with_context(|| format!("{}: last line is not an epoch's metrics", p.display()))?;
    Ok(m.test_acc)
}

/// Fine-tune `cfg` (per-layer bits) in `run`, starting from the weights of `from` (a trained
/// run of the same network); resumable like any run. Returns the final test accuracy.
pub fn finetune(run: &Path, from: &Path, cfg: &TrainConfig, opts: &RunOptions) -> Result<f64> {
    std::fs::create_dir_all(run).with_context(|| format!("{}: cannot create", run.display()))?;
    if run.join(CONFIG_JSON).exists() && run.join(CHECKPOINT_JSON).exists() {
        sweep::check_existing(run, cfg)?;
    } else {
        // Start: the reference's weights as an epoch-0 checkpoint (optimizer buffers zero),
        // then config.json (last, so a run killed here starts again).
        let _ = std::fs::remove_file(run.join(CONFIG_JSON));
        let _ = std::fs::remove_file(run.join(train::METRICS_JSONL));
        let mut cfg = cfg.clone();
        let model = Model::new(&cfg, opts.device)?;
        cfg.describe(&model.graph, &model.net)?;
        let (info, tensors) = checkpoint::load(from)?;
        checkpoint::restore(
            &from.join(&info.tensors),
            "model/",
            &tensors,
            &model.variables(),
        )?;
        let opt = Sgd::new(&model, cfg.momentum, cfg.weight_decay);
        let mut t: BTreeMap<String, Tensor> = model
            .variables()
            .into_iter()
            .map(|(k, v)| (format!("model/{k}"), v))
            .collect();
        for (k, v) in &opt.buffers {
            t.insert(format!("opt/{k}"), v.shallow_clone());
        }
        checkpoint::save(run, 0, 0, &t)?;
        write_atomic(
            &run.join(CONFIG_JSON),
            serde_json::to_string_pretty(&cfg)?.as_bytes(),
        )?;
    }
    train::train(run, None, true, opts)?;
    final_accuracy(run)
}

/// What a mixed-precision study does.
#[derive(Clone, Debug)]
pub struct MixedSpec {
    pub model: FamilyConfig,
    /// Candidate bitwidths per layer.
    pub choices: Vec<Bits>,
    /// Budget mode: the budgets (as given).
    pub budgets: Vec<String>,
    pub zero_degradation: bool,
    /// Zero degradation: accuracy may fall this many percentage points below the 8-bit model's.
    pub tolerance_pp: f64,
    /// Zero degradation: candidate sizes grow by at least this factor minus one.
    pub size_resolution: f64,
    pub seed: u64,
    pub train: TrainSettings,
    /// Fine-tuning: epochs and peak learning rate.
    pub finetune_epochs: usize,
    pub finetune_lr: f64,
    pub hessian: HessianOptions,
    /// Largest front kept per DP layer.
    pub max_front: usize,
}

pub const REF_DIR: &str = "ref-8bit";
pub const SENSITIVITY_JSON: &str = "sensitivity.json";
pub const FRONT_JSON: &str = "front.json";
pub const ZERO_DIR: &str = "zero-degradation";
pub const PROBES_JSON: &str = "probes.json";

/// `sensitivity.json`: the options it was computed with, and the layers.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct SensitivityFile {
    choices: Vec<Bits>,
    hessian: HessianOptions,
    layers: Vec<LayerSensitivity>,
}

/// One zero-degradation probe.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Probe {
    pub size_bits: u64,
    pub layer_bits: Vec<Bits>,
    pub accuracy: f64,
    pub passes: bool,
    pub run_dir: String,
}

/// Everything the study produced.
#[derive(Clone, Debug)]
pub struct MixedOutcome {
    pub reference_accuracy: f64,
    pub sensitivities: Vec<LayerSensitivity>,
    pub front: Vec<Allocation>,
    pub records: Vec<RunRecord>,
    pub probes: Vec<Probe>,
}

fn max_bits(bits: &[Bits]) -> Bits {
    bits.iter().copied().max().unwrap_or(Bits::new(8).unwrap())
}

/// The engine string of mixed records.
pub fn mixed_engine(max: Bits) -> String {
    format!("{REFERENCE_ROWS}x{REFERENCE_COLS} at the largest layer bitwidth (B = {max}; mixed precision)")
}

impl MixedSpec {
    fn config(&self, layer_bits: Option<Vec<Bits>>, budget: Option<(String, u64)>) -> TrainConfig {
        let bits = layer_bits
            .as_deref()
            .map_or(Bits::new(8).unwrap(), max_bits);
        let mut cfg = self.train.config(
            self.model,
            Some(QuantSpec {
                bits,
                first_last_8bit: false,
            }),
            self.seed,
            budget,
        );
        if layer_bits.is_some() {
            cfg.layer_bits = layer_bits;
            cfg.epochs = self.finetune_epochs;
            cfg.lr = self.finetune_lr;
            cfg.warmup_epochs = cfg.warmup_epochs.min(self.finetune_epochs as f64 / 10.0);
        }
        cfg
    }

    fn record(
        &self,
        method: Method,
        layer_bits: &[Bits],
        budget_bits: Option<u64>,
        accuracy: f64,
        run_dir: &str,
    ) -> Result<RunRecord> {
        let graph = self.model.build()?;
        let per_node = per_node_bits(&graph, layer_bits);
        let size = model_size(&graph, |i| per_node[i])?;
        let max = max_bits(layer_bits);
        Ok(RunRecord {
            family: self.model.family,
            method,
            bits: None,
            layer_bits: layer_bits.iter().map(|b| b.get()).collect(),
            width: self.model.width,
            seed: self.seed,
            epochs: self.train.epochs + self.finetune_epochs,
            budget_bits,
            weights: size.weights,
            weight_bits: size.weight_bits,
            param_bits: size.param_bits,
            size_bits: size.total_bits,
            float_acc: None,
            fake_quant_acc: Some(accuracy),
            int_acc: None,
            cycles: Some(sweep::reference_cycles(&self.model, max)?),
            engine: Some(mixed_engine(max)),
            run_dir: run_dir.into(),
        })
    }
}

/// Graph-node-indexed bits from per-weight-layer bits (8 for nodes without weights).
fn per_node_bits(graph: &unibit_core::graph::Graph, layer_bits: &[Bits]) -> Vec<Bits> {
    let mut out = vec![Bits::new(8).unwrap(); graph.nodes.len()];
    let weighted = (0..graph.nodes.len()).filter(|&i| graph.nodes[i].op.has_weights());
    for (i, &b) in weighted.zip(layer_bits) {
        out[i] = b;
    }
    out
}

fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<()> {
    write_atomic(path, serde_json::to_string_pretty(v)?.as_bytes())
}

/// Run the study in `out`: reference, sensitivities, front, then the budget runs and the
/// zero-degradation search; writes `OUT/results.jsonl` (records of this study, in order).
/// Every step is resumable: finished runs are reused, killed ones resume from checkpoints.
pub fn run(spec: &MixedSpec, out: &Path, opts: &RunOptions) -> Result<MixedOutcome> {
    if spec.choices.is_empty() {
        bail!("--choices: expected at least one bitwidth");
    }
    if spec.budgets.is_empty() && !spec.zero_degradation {
        bail!("give --budgets SIZES and/or --zero-degradation");
    }
    if spec.finetune_epochs == 0 {
        bail!("--finetune-epochs: expected ≥ 1, found 0");
    }
    std::fs::create_dir_all(out).with_context(|| format!("{}: cannot create", out.display()))?;
    let graph = spec.model.build()?;
    let params_size = model_size(&graph, |_| Bits::new(1).unwrap())?.param_bits;

    // 1. The 8-bit reference.
    let ref_dir = out.join(REF_DIR);
    let ref_cfg = spec.config(None, None);
    sweep::train_or_resume(&ref_dir, &ref_cfg, opts).context("the 8-bit reference")?;
    let reference_accuracy = final_accuracy(&ref_dir)?;

    // 2. Sensitivities (cached).
    let sens_path = out.join(SENSITIVITY_JSON);
    let cached: Option<SensitivityFile> = std::fs::read_to_string(&sens_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .filter(|s: &SensitivityFile| s.choices == spec.choices && s.hessian == spec.hessian);
    let sensitivities = match cached {
        Some(s) => s.layers,
        None => {
            let (cfg, model, _) = load_run(&ref_dir, opts.device)?;
            let data = train::load_split(&cfg, Split::Train)?;
            let layers =
                layer_sensitivities(&model, &data, &spec.choices, &spec.hessian, opts.device)?;
            write_json(
                &sens_path,
                &SensitivityFile {
                    choices: spec.choices.clone(),
                    hessian: spec.hessian.clone(),
                    layers: layers.clone(),
                },
            )?;
            layers
        }
    };

    // 3. The front.
    let costs: Vec<(u64, Vec<(Bits, f64)>)> = sensitivities
        .iter()
        .map(|l| (l.weights, l.omegas()))
        .collect();
    let front = pareto_front(&costs, spec.max_front);
    write_json(&out.join(FRONT_JSON), &front)?;

    let mut records = vec![];
    // 4. Budgets.
    for budget in &spec.budgets {
        let budget_bits = parse_bits(budget).with_context(|| format!("--budgets: {budget:?}"))?;
        let cap = budget_bits.saturating_sub(params_size);
        let a = best_within(&front, cap).with_context(|| {
            format!(
                "--budgets {budget}: expected at least {} ({} bits: every layer at {} bits) for {} at width {}, found {budget_bits} bits",
                format_bits(front[0].weight_bits + params_size),
                front[0].weight_bits + params_size,
                spec.choices.iter().min().unwrap(),
                spec.model.family,
                spec.model.width
            )
        })?;
        let rel = format!("budget-{}", budget.trim());
        let run = out.join(&rel);
        let rec = if sweep::is_finished(&run) {
            sweep::read_record(&run)?
        } else {
            let cfg = spec.config(
                Some(a.layer_bits.clone()),
                Some((budget.trim().to_string(), budget_bits)),
            );
            let acc = finetune(&run, &ref_dir, &cfg, opts)
                .with_context(|| format!("mixed precision at {budget}"))?;
            let rec = spec.record(
                Method::MixedBudget,
                &a.layer_bits,
                Some(budget_bits),
                acc,
                &rel,
            )?;
            sweep::write_record(&run, &rec)?;
            rec
        };
        records.push(rec);
    }

    // 5. Zero degradation.
    let mut probes = vec![];
    if spec.zero_degradation {
        let zdir = out.join(ZERO_DIR);
        let all8 = costs.iter().map(|c| c.0 * 8).sum::<u64>();
        let candidates: Vec<Allocation> = thin_by_size(&front, spec.size_resolution)
            .into_iter()
            .filter(|a| a.weight_bits < all8)
            .collect();
        let target = reference_accuracy - spec.tolerance_pp / 100.0;
        let found = smallest_passing(candidates.len(), |k| {
            let a = &candidates[k];
            let rel = format!("{ZERO_DIR}/size-{}", a.weight_bits + params_size);
            let cfg = spec.config(Some(a.layer_bits.clone()), None);
            let acc = finetune(&out.join(&rel), &ref_dir, &cfg, opts)
                .with_context(|| format!("zero-degradation probe {rel}"))?;
            probes.push(Probe {
                size_bits: a.weight_bits + params_size,
                layer_bits: a.layer_bits.clone(),
                accuracy: acc,
                passes: acc >= target,
                run_dir: rel,
            });
            std::fs::create_dir_all(&zdir)?;
            write_json(&zdir.join(PROBES_JSON), &probes)?;
            Ok(acc >= target)
        })?;
        let rec = match found {
            Some(k) => {
                let p = probes
                    .iter()
                    .find(|p| p.layer_bits == candidates[k].layer_bits)
                    .expect("probed");
                spec.record(
                    Method::MixedZeroDegradation,
                    &p.layer_bits,
                    None,
                    p.accuracy,
                    &p.run_dir,
                )?
            }
            None => {
                let bits = vec![Bits::new(8).unwrap(); sensitivities.len()];
                let mut r = spec.record(
                    Method::MixedZeroDegradation,
                    &bits,
                    None,
                    reference_accuracy,
                    REF_DIR,
                )?;
                r.epochs = spec.train.epochs;
                r
            }
        };
        std::fs::create_dir_all(&zdir)?;
        write_atomic(
            &zdir.join(RECORD_JSON),
            serde_json::to_string_pretty(&rec)?.as_bytes(),
        )?;
        records.push(rec);
    }

    // The study's table.
    let path = out.join(sweep::RESULTS_JSONL);
    results::write(&path, &records)?;
    Ok(MixedOutcome {
        reference_accuracy,
        sensitivities,
        front,
        records,
        probes,
    })
}

// ---------------------------------------------------------------------------------------------
// CLI

/// `unibit mixed`.
#[derive(Args, Debug)]
pub struct MixedArgs {
    /// Model family: resnet20 (any resnet<6n+2>), vgg-small, mobilenetv2.
    #[arg(long, default_value = "resnet20")]
    pub family: Family,
    /// Width multiplier of the (fixed) network whose layers get bitwidths.
    #[arg(long, default_value_t = 1.0)]
    pub width: f64,
    #[arg(long, default_value_t = DEFAULT_CHANNEL_MULTIPLE)]
    pub channel_multiple: usize,
    /// Candidate bitwidths per layer.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3,4,8")]
    pub choices: Vec<Bits>,
    /// Budget mode: model-size budgets, e.g. 32KiB,64KiB.
    #[arg(long, value_delimiter = ',')]
    pub budgets: Vec<String>,
    /// Also find the smallest size with no accuracy loss against the 8-bit model.
    #[arg(long)]
    pub zero_degradation: bool,
    /// Zero degradation: allowed accuracy loss in percentage points.
    #[arg(long, default_value_t = 0.0)]
    pub tolerance_pp: f64,
    /// Zero degradation: candidate sizes differ by at least this fraction.
    #[arg(long, default_value_t = 0.05)]
    pub size_resolution: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub train: TrainSettings,
    /// Fine-tuning epochs of each allocation (default: --epochs).
    #[arg(long)]
    pub finetune_epochs: Option<usize>,
    /// Peak learning rate of fine-tuning.
    #[arg(long, default_value_t = 0.01)]
    pub finetune_lr: f64,
    /// Hutchinson samples per batch.
    #[arg(long, default_value_t = 16)]
    pub hessian_samples: usize,
    /// Training images for the Hessian traces.
    #[arg(long, default_value_t = 512)]
    pub hessian_images: usize,
    #[arg(long, default_value_t = 128)]
    pub hessian_batch: usize,
    /// Output directory (its results.jsonl goes next to the sweeps' in `unibit report`).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    #[arg(long, default_value = "cpu")]
    pub device: String,
    #[arg(long)]
    pub quiet: bool,
}

/// `unibit mixed`.
pub fn mixed(a: MixedArgs) -> Result<()> {
    crate::tune_allocator();
    if a.threads == 0 {
        bail!("--threads: expected ≥ 1, found 0");
    }
    if !(a.size_resolution.is_finite() && a.size_resolution >= 0.0) {
        bail!(
            "--size-resolution: expected a fraction ≥ 0, found {}",
            a.size_resolution
        );
    }
    tch::set_num_threads(a.threads as i32);
    let model = FamilyConfig {
        channel_multiple: a.channel_multiple,
        ..FamilyConfig::fashion_mnist(a.family, a.width)
    };
    model.validate()?;
    let spec = MixedSpec {
        model,
        choices: a.choices,
        budgets: a.budgets,
        zero_degradation: a.zero_degradation,
        tolerance_pp: a.tolerance_pp,
        size_resolution: a.size_resolution,
        seed: a.seed,
        finetune_epochs: a.finetune_epochs.unwrap_or(a.train.epochs),
        finetune_lr: a.finetune_lr,
        train: a.train,
        hessian: HessianOptions {
            samples: a.hessian_samples,
            images: a.hessian_images,
            batch: a.hessian_batch,
            seed: a.seed,
        },
        max_front: 20_000,
    };
    let opts = RunOptions {
        device: train::parse_device(&a.device)?,
        progress: !a.quiet,
        stop_after: None,
    };
    let o = run(&spec, &a.out, &opts)?;
    println!(
        "8-bit reference: {:.2}% · front of {} allocations",
        100.0 * o.reference_accuracy,
        o.front.len()
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
    println!("wrote {}", a.out.join(sweep::RESULTS_JSONL).display());
    Ok(())
}
