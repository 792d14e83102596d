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
//! 4. **Budget mode.** The front point of least Ω whose size fits the budget, fine-tuned
//!    from the 8-bit reference for `--finetune-epochs` at its per-layer bitwidths. The size is
//!    counted under the study's [`SizeAccounting`]: weight bits only, or weight bits + the
//!    parameters (`OUT/budget-<SIZE>-weights/` and `OUT/budget-<SIZE>/`, so one study directory
//!    holds both and shares the reference, sensitivities and zero-degradation probes).
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

use crate::data;
use crate::error::{write_json, Error, Result, ResultExt};
use crate::hessian::{self, TraceEstimate};
use crate::net::{var_name, Mode, QuantSpec};
use crate::quant;
use crate::sweep::{self, TrainSettings, RECORD_JSON, REFERENCE_COLS, REFERENCE_ROWS};
use crate::train::{self, load_run, Model, RunOptions, Sgd, TrainConfig, CONFIG_JSON};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};
use unibit_core::dataset::{Dataset, Split};
use unibit_core::family::FamilyConfig;
use unibit_core::progress::Progress;
use unibit_core::results::{self, Method, RunRecord};
use unibit_core::size::{format_bits, model_size, parse_bits, SizeAccounting};
use unibit_core::Bits;

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
            .ok_or_else(|| Error::invalid(format!("variable {name}"), "in the model", "none"))?;
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
    let last = train::read_metrics(run)?.pop().ok_or_else(|| {
        Error::invalid_in(
            &run.join(train::METRICS_JSONL),
            "epochs",
            "at least one recorded epoch",
            "none",
        )
    })?;
    Ok(last.test_acc)
}

/// Fine-tune `cfg` (per-layer bits) in `run`, starting from the weights of `from` (a trained
/// run of the same network); resumable like any run. Returns the final test accuracy.
pub fn finetune(
    run: &Path,
    from: &Path,
    cfg: &TrainConfig,
    opts: &RunOptions,
    progress: &dyn Progress,
) -> Result<f64> {
    std::fs::create_dir_all(run).map_err(|e| Error::io(run, "cannot create", e))?;
    if run.join(CONFIG_JSON).exists() && run.join(crate::checkpoint::CHECKPOINT_JSON).exists() {
        sweep::check_existing(run, cfg)?;
    } else {
        start_finetune(run, from, cfg, opts.device)?;
    }
    let r = train::train(run, None, true, opts, progress)?;
    if r.already_trained() {
        progress.line(&sweep::already_trained_line(&r));
    }
    final_accuracy(run)
}

/// The start of a fine-tuning run: the weights of `from` as an epoch-0 checkpoint (optimizer
/// buffers zero), then config.json (last, so a run killed here starts again).
fn start_finetune(run: &Path, from: &Path, cfg: &TrainConfig, device: Device) -> Result<()> {
    let _ = std::fs::remove_file(run.join(CONFIG_JSON));
    let _ = std::fs::remove_file(run.join(train::METRICS_JSONL));
    let mut cfg = cfg.clone();
    let model = Model::new(&cfg, device)?;
    cfg.describe(&model.graph, &model.net)?;
    train::restore_checkpoint(from, &model, None)?;
    let opt = Sgd::new(&model, cfg.momentum, cfg.weight_decay);
    train::save_checkpoint(run, 0, 0, &model, &opt)?;
    write_json(&run.join(CONFIG_JSON), "a training configuration", &cfg)
}

/// What a mixed-precision study does.
#[derive(Clone, Debug)]
pub struct MixedSpec {
    pub model: FamilyConfig,
    /// Candidate bitwidths per layer.
    pub choices: Vec<Bits>,
    /// Budget mode: the budgets (as given).
    pub budgets: Vec<String>,
    /// What the budgets (and the records' sizes) count.
    pub size_accounting: SizeAccounting,
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
    /// Check the settings a study needs before anything is trained.
    pub fn validate(&self) -> Result<()> {
        if self.choices.is_empty() {
            return Err(Error::invalid("choices", "at least one bitwidth", "none"));
        }
        if self.budgets.is_empty() && !self.zero_degradation {
            return Err(Error::invalid(
                "budgets",
                "at least one budget, or the zero-degradation search",
                "neither",
            ));
        }
        if self.finetune_epochs == 0 {
            return Err(Error::invalid("finetune_epochs", "≥ 1", 0));
        }
        if !(self.size_resolution.is_finite() && self.size_resolution >= 0.0) {
            return Err(Error::invalid(
                "size_resolution",
                "a fraction ≥ 0",
                self.size_resolution,
            ));
        }
        Ok(())
    }

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
        let accounting = self.size_accounting;
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
            size_bits: size.bits(accounting),
            size_accounting: accounting,
            float_acc: None,
            fake_quant_acc: Some(accuracy),
            int_acc: None,
            cycles: Some(sweep::reference_cycles(&self.model, max)?),
            engine: Some(mixed_engine(max)),
            run_dir: run_dir.into(),
            board: None,
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

/// Run the study in `out`: reference, sensitivities, front, then the budget runs and the
/// zero-degradation search; writes `OUT/results.jsonl` (records of this study, in order).
/// Every step is resumable: finished runs are reused, killed ones resume from checkpoints.
/// Training reports through `progress`.
pub fn run(
    spec: &MixedSpec,
    out: &Path,
    opts: &RunOptions,
    progress: &dyn Progress,
) -> Result<MixedOutcome> {
    spec.validate()?;
    // A uniform sweep's directory has its own results.jsonl: never write over it.
    if out.join(sweep::PLAN_JSON).exists() {
        return Err(Error::invalid_in(
            out,
            "directory",
            "a new or mixed-precision study directory",
            format!("a uniform sweep ({} is there)", sweep::PLAN_JSON),
        ));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, "cannot create", e))?;
    let graph = spec.model.build()?;
    let params_size = model_size(&graph, |_| Bits::new(1).unwrap())?.param_bits;
    let study = Study {
        spec,
        out,
        ref_dir: out.join(REF_DIR),
        params_size,
        counted_params: match spec.size_accounting {
            SizeAccounting::Weights => 0,
            SizeAccounting::Engine => params_size,
        },
        opts,
        progress,
    };
    // 1. The 8-bit reference.
    sweep::train_or_resume(&study.ref_dir, &spec.config(None, None), opts, progress)
        .context("the 8-bit reference")?;
    let reference_accuracy = final_accuracy(&study.ref_dir)?;
    // 2. Sensitivities (cached), 3. the front.
    let sensitivities = study.sensitivities()?;
    let costs: Vec<(u64, Vec<(Bits, f64)>)> = sensitivities
        .iter()
        .map(|l| (l.weights, l.omegas()))
        .collect();
    let front = pareto_front(&costs, spec.max_front);
    write_json(&out.join(FRONT_JSON), "a Pareto front", &front)?;
    // 4. Budgets.
    let mut records = spec
        .budgets
        .iter()
        .map(|b| study.budget_run(&front, b))
        .collect::<Result<Vec<_>>>()?;
    // 5. Zero degradation.
    let mut probes = vec![];
    if spec.zero_degradation {
        let all8 = costs.iter().map(|c| c.0 * 8).sum::<u64>();
        let (rec, p) =
            study.zero_degradation(&front, all8, reference_accuracy, sensitivities.len())?;
        records.push(rec);
        probes = p;
    }
    // The study's table.
    results::write(&out.join(sweep::RESULTS_JSONL), &records)?;
    Ok(MixedOutcome {
        reference_accuracy,
        sensitivities,
        front,
        records,
        probes,
    })
}

/// One study's settings and places, shared by its steps.
struct Study<'a> {
    spec: &'a MixedSpec,
    out: &'a Path,
    ref_dir: PathBuf,
    /// Per-channel parameter bits (independent of the weight bitwidths).
    params_size: u64,
    /// The part of `params_size` a budget counts (all or nothing, by the accounting).
    counted_params: u64,
    opts: &'a RunOptions,
    progress: &'a dyn Progress,
}

impl Study<'_> {
    /// The reference's layer sensitivities: from `sensitivity.json` when it was computed with
    /// the same choices and options, else estimated and written there.
    fn sensitivities(&self) -> Result<Vec<LayerSensitivity>> {
        let spec = self.spec;
        let path = self.out.join(SENSITIVITY_JSON);
        let cached: Option<SensitivityFile> = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .filter(|s: &SensitivityFile| s.choices == spec.choices && s.hessian == spec.hessian);
        if let Some(s) = cached {
            return Ok(s.layers);
        }
        let (cfg, model, _) = load_run(&self.ref_dir, self.opts.device)?;
        let data = train::load_split(&cfg, Split::Train)?;
        let layers = layer_sensitivities(
            &model,
            &data,
            &spec.choices,
            &spec.hessian,
            self.opts.device,
        )?;
        let file = SensitivityFile {
            choices: spec.choices.clone(),
            hessian: spec.hessian.clone(),
            layers,
        };
        write_json(&path, "layer sensitivities", &file)?;
        Ok(file.layers)
    }

    /// Budget mode: the front's best allocation within `budget`, fine-tuned (or its record,
    /// when that run has finished).
    fn budget_run(&self, front: &[Allocation], budget: &str) -> Result<RunRecord> {
        let spec = self.spec;
        let budget_bits = parse_bits(budget).with_context(|| format!("budget {budget:?}"))?;
        let cap = budget_bits.saturating_sub(self.counted_params);
        let a = best_within(front, cap).ok_or_else(|| {
            let smallest = front[0].weight_bits + self.counted_params;
            Error::invalid(
                format!("budget {budget}"),
                format!(
                    "at least {} ({smallest} bits: every layer at {} bits, {} accounting) for {} at width {}",
                    format_bits(smallest),
                    spec.choices.iter().min().unwrap(),
                    spec.size_accounting,
                    spec.model.family,
                    spec.model.width
                ),
                format!("{budget_bits} bits"),
            )
        })?;
        let rel = match spec.size_accounting {
            SizeAccounting::Engine => format!("budget-{}", budget.trim()),
            a => format!("budget-{}-{a}", budget.trim()),
        };
        let run = self.out.join(&rel);
        if sweep::is_finished(&run) {
            return sweep::read_record(&run);
        }
        let cfg = spec.config(
            Some(a.layer_bits.clone()),
            Some((budget.trim().to_string(), budget_bits)),
        );
        let acc = finetune(&run, &self.ref_dir, &cfg, self.opts, self.progress)
            .with_context(|| format!("mixed precision at {budget}"))?;
        let rec = spec.record(
            Method::MixedBudget,
            &a.layer_bits,
            Some(budget_bits),
            acc,
            &rel,
        )?;
        sweep::write_record(&run, &rec)?;
        Ok(rec)
    }

    /// Zero-degradation mode: bisection over the thinned front (below the all-8-bit size) for
    /// the smallest allocation whose fine-tuned accuracy passes; the 8-bit model if none does.
    fn zero_degradation(
        &self,
        front: &[Allocation],
        all8: u64,
        reference_accuracy: f64,
        layers: usize,
    ) -> Result<(RunRecord, Vec<Probe>)> {
        let zdir = self.out.join(ZERO_DIR);
        let candidates: Vec<Allocation> = thin_by_size(front, self.spec.size_resolution)
            .into_iter()
            .filter(|a| a.weight_bits < all8)
            .collect();
        let target = reference_accuracy - self.spec.tolerance_pp / 100.0;
        let mut probes: Vec<Probe> = vec![];
        let found = smallest_passing(candidates.len(), |k| {
            let p = self.probe(&candidates[k], target)?;
            let passes = p.passes;
            probes.push(p);
            write_json(&zdir.join(PROBES_JSON), "zero-degradation probes", &probes)?;
            Ok(passes)
        })?;
        let rec = match found {
            Some(k) => {
                let p = probes
                    .iter()
                    .find(|p| p.layer_bits == candidates[k].layer_bits)
                    .expect("probed");
                self.spec.record(
                    Method::MixedZeroDegradation,
                    &p.layer_bits,
                    None,
                    p.accuracy,
                    &p.run_dir,
                )?
            }
            None => self.reference_record(layers, reference_accuracy)?,
        };
        write_json(&zdir.join(RECORD_JSON), "a run record", &rec)?;
        Ok((rec, probes))
    }

    /// Fine-tune one candidate allocation and compare it with the target accuracy.
    fn probe(&self, a: &Allocation, target: f64) -> Result<Probe> {
        // Named by the engine size under either accounting: the same allocation, the same run.
        let rel = format!("{ZERO_DIR}/size-{}", a.weight_bits + self.params_size);
        let size_bits = a.weight_bits + self.counted_params;
        let cfg = self.spec.config(Some(a.layer_bits.clone()), None);
        let acc = finetune(
            &self.out.join(&rel),
            &self.ref_dir,
            &cfg,
            self.opts,
            self.progress,
        )
        .with_context(|| format!("zero-degradation probe {rel}"))?;
        Ok(Probe {
            size_bits,
            layer_bits: a.layer_bits.clone(),
            accuracy: acc,
            passes: acc >= target,
            run_dir: rel,
        })
    }

    /// No allocation passed: the answer is the 8-bit reference itself.
    fn reference_record(&self, layers: usize, reference_accuracy: f64) -> Result<RunRecord> {
        let bits = vec![Bits::new(8).unwrap(); layers];
        let mut r = self.spec.record(
            Method::MixedZeroDegradation,
            &bits,
            None,
            reference_accuracy,
            REF_DIR,
        )?;
        r.epochs = self.spec.train.epochs;
        Ok(r)
    }
}
