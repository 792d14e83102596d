//! Export a trained run to an integer [`QuantModel`] and a bundle.
//!
//! Per conv/linear output channel `c` with input scale `s_x`, weight scale `s_w[c]`, batch norm
//! (γ, β, μ, σ = √(var + ε)) and output scale `s_y`:
//!
//! ```text
//! m_c      = γ_c · s_x · s_w[c] / (σ_c · s_y)              real requantizer scale
//! bias_c   = round((β_c − γ_c μ_c / σ_c) / (γ_c s_x s_w[c] / σ_c))   accumulator units
//! m_c < 0  → codes u → 2^B−1−u (negated levels), bias → −bias, M/2^S ≈ |m_c|
//! ```
//! Residual add: `Ma = s_a/s_y·2^S`, `Mb = s_b/s_y·2^S` with the largest shared `S` that keeps
//! both below 2^15. Average pooling: `s_x/(n·s_y)`. The final linear layer is the raw I32
//! output `acc + round(b/(s_x·s_w))` (one weight scale for all its channels, so argmax is kept).

use crate::data;
use crate::net::{Mode, Net, INPUT_SCALE};
use crate::quant;
use crate::train::{self, load_run, TrainConfig};
use anyhow::{bail, Context, Result};
use ndarray::{Array4, Axis};
use std::path::Path;
use tch::{Device, Kind, Tensor};
use unibit_core::arith::{negate_code, MAX_BIAS_MAGNITUDE, MAX_SHIFT, MULTIPLIER_BITS};
use unibit_core::bundle::{self, Accuracy, Bundle, Golden, ModelInfo};
use unibit_core::dataset::{Dataset, Split};
use unibit_core::graph::Op;
use unibit_core::model::{NodeParams, NodeScales, QuantModel};
use unibit_core::reference;
use unibit_core::{ActKind, Requant};

fn to_vec(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(
        t.to_kind(Kind::Double)
            .to_device(Device::Cpu)
            .flatten(0, -1),
    )
    .expect("float tensor")
}

/// Calibrate the activation scales of `net` on `images` (evaluation-mode batch norm; each
/// scale becomes the mean over batches of the observed range, in graph order).
pub fn calibrate(net: &Net, images: &Dataset, batch: usize, device: Device) {
    net.start_calibration();
    tch::no_grad(|| {
        for b in data::eval_batches(images, batch, device) {
            let _ = net.forward(&b.images, Mode::Calibrate);
        }
    });
    net.finish_calibration();
}

/// Snap the float model onto the integer grid the export will use, so that its evaluation-mode
/// forward computes what the integer model computes (up to f32 rounding): per channel, scale γ so
/// that the real requantizer scale is exactly the 15-bit `M/2^S`, and shift β so that the folded
/// bias is a whole number of accumulator units (the final linear: its bias likewise); adds and
/// average pools get coefficients equal to their integer multipliers' real values. Each change
/// moves an output by less than half an accumulator unit (< 0.5·|m| output LSB) or by a relative
/// 2^−15 (adds: the smaller branch's multiplier, relative ≤ 2^−15 of the larger) at most; run
/// after [`calibrate`], before measuring the fake-quant accuracy.
pub fn snap_to_integer_grid(net: &Net) -> Result<()> {
    let Some(spec) = net.quant else { return Ok(()) };
    for (i, node) in net.graph.nodes.iter().enumerate() {
        let s_y = net.output_scale(i);
        match (&node.op, s_y) {
            (Op::Add, Some(s_y)) => {
                let s_a = net.input_scale_of(&node.inputs[0]).context("input scale")?;
                let s_b = net.input_scale_of(&node.inputs[1]).context("input scale")?;
                let (ma, mb, shift) = add_multipliers(s_a / s_y, s_b / s_y)?;
                let p = 2f64.powi(shift as i32);
                net.set_coefficients(i, [ma as f64 / p * s_y / s_a, mb as f64 / p * s_y / s_b]);
                continue;
            }
            (Op::AvgPool { .. } | Op::GlobalAvgPool, Some(s_y)) => {
                let s_x = net.input_scale_of(&node.inputs[0]).context("input scale")?;
                let n = pool_count(net, i);
                let rq = Requant::from_real(s_x / (n * s_y)).map_err(anyhow::Error::msg)?;
                net.set_coefficients(i, [rq.real() * n * s_y / s_x, 1.0]);
                continue;
            }
            _ => {}
        }
        if !node.op.has_weights() {
            continue;
        }
        let at = format!("node \"{}\"", node.name);
        let bits = net.bits_of(i).unwrap_or(spec.bits);
        let s_x = net.input_scale_of(&node.inputs[0]).context("input scale")?;
        let w = net.latent_weight(i).unwrap();
        let mut s_w = to_vec(&quant::weight_scale(&w, bits, net.per_channel(i)));
        let out = w.size()[0] as usize;
        if s_w.len() == 1 {
            s_w = vec![s_w[0]; out];
        }
        match (net.batch_norm(i), net.output_scale(i)) {
            (Some((mean, var, gamma_t, beta_t, eps)), Some(s_y)) => {
                let (mean, var) = (to_vec(&mean), to_vec(&var));
                let (mut gamma, mut beta) = (to_vec(&gamma_t), to_vec(&beta_t));
                for k in 0..out {
                    let sigma = (var[k] + eps).sqrt();
                    let m = gamma[k] * s_x * s_w[k] / (sigma * s_y);
                    if m == 0.0 || !m.is_finite() {
                        continue; // to_quant_model reports it
                    }
                    let rq = Requant::from_real(m.abs())
                        .map_err(|e| anyhow::anyhow!("{at}: channel {k}: {e}"))?;
                    gamma[k] *= rq.real() / m.abs();
                    let unit = gamma[k] * s_x * s_w[k] / sigma;
                    let shift = gamma[k] * mean[k] / sigma;
                    beta[k] = ((beta[k] - shift) / unit).round() * unit + shift;
                }
                tch::no_grad(|| {
                    gamma_t
                        .shallow_clone()
                        .copy_(&Tensor::from_slice(&gamma).to_kind(gamma_t.kind()))
                });
                tch::no_grad(|| {
                    beta_t
                        .shallow_clone()
                        .copy_(&Tensor::from_slice(&beta).to_kind(beta_t.kind()))
                });
            }
            (None, _) => {
                if let Some(b_t) = net.linear_bias(i) {
                    if net.info[i].kind == ActKind::I32 {
                        let b: Vec<f64> = to_vec(&b_t)
                            .iter()
                            .zip(&s_w)
                            .map(|(b, s)| (b / (s_x * s)).round() * s_x * s)
                            .collect();
                        tch::no_grad(|| {
                            b_t.shallow_clone()
                                .copy_(&Tensor::from_slice(&b).to_kind(b_t.kind()))
                        });
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Shared-shift multipliers for a residual add: the largest `S ≤ 47` with both
/// `round(r·2^S) < 2^15`.
pub fn add_multipliers(ra: f64, rb: f64) -> Result<(u32, u32, u32)> {
    let top = (1u64 << MULTIPLIER_BITS) as f64;
    let big = ra.max(rb);
    if !(big.is_finite() && ra >= 0.0 && rb >= 0.0) || big.round() >= top {
        bail!("add scales {ra}, {rb} do not fit a {MULTIPLIER_BITS}-bit multiplier");
    }
    let mut s = 0u32;
    while s < MAX_SHIFT && (big * 2f64.powi(s as i32 + 1)).round() < top {
        s += 1;
    }
    let p = 2f64.powi(s as i32);
    Ok(((ra * p).round() as u32, (rb * p).round() as u32, s))
}

/// The integer model of a (calibrated) quantized network, per the contract.
pub fn to_quant_model(net: &Net) -> Result<QuantModel> {
    let Some(spec) = net.quant else {
        bail!("a float (unquantized) run cannot be exported: train with --bits");
    };
    if net.is_mixed() {
        bail!(
            "this run has per-layer weight bitwidths (mixed precision, layer_bits in config.json): it is not a one-bitwidth model and cannot be exported to a one-bitwidth array"
        );
    }
    if !net.is_exportable() {
        bail!(
            "this run keeps the first and last layers at 8 bits (--first-last-8bit): it is not a one-bitwidth model and cannot be exported to a B = {} array",
            spec.bits
        );
    }
    let bits = spec.bits;
    let g = &net.graph;
    let mut params = Vec::with_capacity(g.nodes.len());
    let mut scales = Vec::with_capacity(g.nodes.len());
    for (i, node) in g.nodes.iter().enumerate() {
        let at = format!("node \"{}\"", node.name);
        let kind = net.info[i].kind;
        let s_x = net.input_scale_of(&node.inputs[0]).context("input scale")?;
        let s_y = net.output_scale(i);
        if kind != ActKind::I32 && !matches!(s_y, Some(s) if s > 0.0 && s.is_finite()) {
            bail!("{at}: activation scale is not calibrated ({s_y:?})");
        }
        let (p, sc) = match node.op {
            Op::Conv2d { .. } | Op::Linear { .. } => {
                let w = net.latent_weight(i).unwrap();
                let per_channel = net.per_channel(i);
                let s_w_t = quant::weight_scale(&w, bits, per_channel);
                let codes_t = quant::codes_for(&w.detach(), &s_w_t, bits);
                let shape = w.size();
                let out = shape[0] as usize;
                let mut s_w = to_vec(&s_w_t);
                if s_w.len() == 1 {
                    s_w = vec![s_w[0]; out];
                }
                let dims: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
                let codes_f = to_vec(&codes_t);
                let mut codes = Array4::from_shape_vec(
                    (dims[0], dims[1], dims[2], dims[3]),
                    codes_f.iter().map(|&c| c as u8).collect(),
                )
                .expect("weight shape");
                // Per channel: y = a_c · (conv) + c_c in real units.
                let (a, c): (Vec<f64>, Vec<f64>) = match net.batch_norm(i) {
                    Some((mean, var, gamma, beta, eps)) => {
                        let (mean, var, gamma, beta) =
                            (to_vec(&mean), to_vec(&var), to_vec(&gamma), to_vec(&beta));
                        (0..out)
                            .map(|k| {
                                let sigma = (var[k] + eps).sqrt();
                                (gamma[k] / sigma, beta[k] - gamma[k] * mean[k] / sigma)
                            })
                            .unzip()
                    }
                    None => {
                        let b = to_vec(&net.linear_bias(i).context("linear bias")?);
                        (vec![1.0; out], b)
                    }
                };
                let mut bias = Vec::with_capacity(out);
                let mut requant = Vec::new();
                let mut weight_scale = Vec::with_capacity(out);
                if kind == ActKind::I32 {
                    if a.iter().any(|&v| v != 1.0) {
                        bail!("{at}: a raw I32 output layer with batch norm is not supported");
                    }
                    for k in 0..out {
                        bias.push(checked_bias(c[k] / (s_x * s_w[k]), &at, k)?);
                        weight_scale.push(s_w[k]);
                    }
                } else {
                    let s_y = s_y.unwrap();
                    for k in 0..out {
                        let unit = a[k] * s_x * s_w[k]; // real value of one accumulator unit
                        if unit == 0.0 || !unit.is_finite() {
                            bail!("{at}: channel {k} has a zero batch-norm scale (γ = 0); cannot requantize");
                        }
                        let m = unit / s_y;
                        let b = checked_bias(c[k] / unit, &at, k)?;
                        let rq = Requant::from_real(m.abs())
                            .map_err(|e| anyhow::anyhow!("{at}: channel {k}: {e}"))?;
                        if m < 0.0 {
                            codes
                                .index_axis_mut(Axis(0), k)
                                .mapv_inplace(|u| negate_code(u, bits));
                            bias.push(-b);
                            weight_scale.push(-s_w[k]);
                        } else {
                            bias.push(b);
                            weight_scale.push(s_w[k]);
                        }
                        requant.push(rq);
                    }
                }
                let output = match kind {
                    ActKind::I32 => s_x * s_w[0],
                    _ => s_y.unwrap(),
                };
                (
                    NodeParams::Weighted {
                        codes,
                        bias,
                        requant,
                    },
                    NodeScales {
                        output,
                        weight: weight_scale,
                    },
                )
            }
            Op::Add => {
                let s_b = net.input_scale_of(&node.inputs[1]).context("input scale")?;
                let s_y = s_y.unwrap();
                let (ma, mb, shift) =
                    add_multipliers(s_x / s_y, s_b / s_y).with_context(|| at.clone())?;
                (
                    NodeParams::Add { ma, mb, shift },
                    NodeScales {
                        output: s_y,
                        weight: vec![],
                    },
                )
            }
            Op::AvgPool { .. } | Op::GlobalAvgPool => {
                let n = pool_count(net, i);
                let s_y = s_y.unwrap();
                let requant = Requant::from_real(s_x / (n * s_y))
                    .map_err(|e| anyhow::anyhow!("{at}: {e}"))?;
                (
                    NodeParams::Pool { requant },
                    NodeScales {
                        output: s_y,
                        weight: vec![],
                    },
                )
            }
            Op::MaxPool { .. } | Op::Flatten => (
                NodeParams::None,
                NodeScales {
                    output: s_x,
                    weight: vec![],
                },
            ),
        };
        params.push(p);
        scales.push(sc);
    }
    let model = QuantModel {
        graph: g.clone(),
        bits,
        input_scale: INPUT_SCALE,
        params,
        scales,
    };
    model.validate()?;
    Ok(model)
}

/// Number of values an average-pool node sums.
fn pool_count(net: &Net, i: usize) -> f64 {
    let node = &net.graph.nodes[i];
    match node.op {
        Op::AvgPool { kernel, .. } => (kernel * kernel) as f64,
        _ => {
            let shape = match net.graph.index_of(&node.inputs[0]) {
                Some(j) => net.info[j].shape,
                None => net.graph.input,
            };
            (shape.h * shape.w) as f64
        }
    }
}

fn checked_bias(v: f64, at: &str, k: usize) -> Result<i32> {
    let r = v.round();
    if !r.is_finite() || r.abs() >= MAX_BIAS_MAGNITUDE as f64 {
        bail!("{at}: channel {k}: bias {v:.3e} accumulator units does not fit |bias| < 2^30");
    }
    Ok(r as i32)
}

/// Accuracy of the integer model on a dataset (unibit-core's reference executor).
pub fn integer_accuracy(model: &QuantModel, data: &Dataset) -> Result<f64> {
    let out = reference::run_output(model, data.images.view(), 250)?;
    let pred = reference::argmax(&out);
    let correct = pred
        .iter()
        .zip(&data.labels)
        .filter(|(p, l)| **p == **l as usize)
        .count();
    Ok(correct as f64 / data.len().max(1) as f64)
}

/// Per-node comparison of the tch fake-quant forward with the integer reference.
#[derive(Clone, Debug, serde::Serialize)]
pub struct NodeAgreement {
    pub node: String,
    pub elements: usize,
    /// Elements whose integer values differ.
    pub mismatches: usize,
    /// Largest |difference| in output LSBs.
    pub max_abs_diff: i64,
}

/// Run the integer reference on `images` keeping every node, and for every node evaluate the
/// tch layer (evaluation mode) on the *reference's* integer inputs times their scales; compare
/// the results in integer units (output / scale, rounded). Returns one entry per node.
pub fn compare_with_reference(
    net: &Net,
    model: &QuantModel,
    images: &Array4<u8>,
) -> Result<Vec<NodeAgreement>> {
    let outs = reference::run(model, images.view(), reference::Keep::All)?;
    let outs: Vec<Array4<i32>> = outs.into_iter().map(|o| o.unwrap()).collect();
    let device = Device::Cpu;
    let as_tensor = |a: &Array4<i32>, scale: f64| -> Tensor {
        let s: Vec<i64> = a.shape().iter().map(|&d| d as i64).collect();
        let std = a.as_standard_layout();
        (Tensor::from_slice(std.as_slice().unwrap())
            .reshape(&s)
            .to_kind(Kind::Float)
            * scale)
            .to_device(device)
    };
    let input = images.mapv(|v| v as i32);
    let mut res = Vec::new();
    tch::no_grad(|| -> Result<()> {
        for (i, node) in net.graph.nodes.iter().enumerate() {
            let ins: Vec<Tensor> = node
                .inputs
                .iter()
                .map(|name| match net.graph.index_of(name) {
                    None => as_tensor(&input, INPUT_SCALE),
                    Some(j) => as_tensor(&outs[j], model.scales[j].output),
                })
                .collect();
            let refs: Vec<&Tensor> = ins.iter().collect();
            let y = net.forward_node(i, &refs, Mode::Eval);
            // Output LSB: the activation scale, or for the raw I32 output the accumulator unit
            // s_x·s_w (one weight scale for all its channels).
            let yi = (y.to_kind(Kind::Double) / model.scales[i].output)
                .round()
                .to_kind(Kind::Int64);
            let got = Vec::<i64>::try_from(yi.flatten(0, -1)).unwrap();
            let want = outs[i].as_standard_layout();
            let want = want.as_slice().unwrap();
            if got.len() != want.len() {
                bail!(
                    "node \"{}\": tch output has {} elements, reference {}",
                    node.name,
                    got.len(),
                    want.len()
                );
            }
            let mut mismatches = 0;
            let mut max_abs_diff = 0;
            for (a, b) in got.iter().zip(want) {
                let d = (a - *b as i64).abs();
                if d != 0 {
                    mismatches += 1;
                    max_abs_diff = max_abs_diff.max(d);
                }
            }
            res.push(NodeAgreement {
                node: node.name.clone(),
                elements: got.len(),
                mismatches,
                max_abs_diff,
            });
        }
        Ok(())
    })?;
    Ok(res)
}

/// Options of `unibit export`.
pub struct ExportOptions {
    pub golden: usize,
    pub calibration_images: usize,
    pub device: Device,
    /// Evaluate on only the first N test images (quick checks); `None` = all.
    pub test_limit: Option<usize>,
}

/// What export measured.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ExportReport {
    pub trained_accuracy: f64,
    pub fake_quant_accuracy: f64,
    pub integer_accuracy: f64,
    /// integer − fake-quant, percentage points.
    pub gap_pp: f64,
    pub test_images: usize,
    pub size_bits: u64,
}

/// `unibit export RUN --out BUNDLE`.
pub fn export(run: &Path, out: &Path, opts: &ExportOptions) -> Result<ExportReport> {
    let (cfg, model, ckpt) = load_run(run, opts.device)?;
    if model.net.quant.is_none() {
        bail!(
            "{}: a float (unquantized) run cannot be exported: train with --bits B",
            run.display()
        );
    }
    if !model.net.is_exportable() {
        let _ =
            to_quant_model(&model.net).map_err(|e| anyhow::anyhow!("{}: {e}", run.display()))?;
    }
    let train_set = train::load_split(&cfg, Split::Train)?;
    let mut test_set = unibit_core::dataset::load(&cfg.data_dir, Split::Test)?;
    if let Some(n) = opts.test_limit {
        test_set = test_set.take(n);
    }
    let (_, trained_acc) = train::evaluate(&model.net, &test_set, opts.device);
    calibrate(
        &model.net,
        &train_set.take(opts.calibration_images.max(1)),
        250,
        opts.device,
    );
    snap_to_integer_grid(&model.net)?;
    let (_, fq_acc) = train::evaluate(&model.net, &test_set, opts.device);
    let qm = to_quant_model(&model.net)?;
    let int_acc = integer_accuracy(&qm, &test_set)?;
    let golden = if opts.golden > 0 {
        let g = test_set.take(opts.golden);
        Some(Golden::compute(
            &qm,
            g.images.view(),
            Some(g.labels.clone()),
        )?)
    } else {
        None
    };
    let size = unibit_core::size::model_size(&qm.graph, |_| qm.bits)?;
    let b = Bundle {
        model: qm,
        info: ModelInfo {
            family: Some(cfg.model.family),
            width: Some(cfg.model.width),
            channel_multiple: Some(cfg.model.channel_multiple),
            source: "trained".into(),
            details: Some(details(&cfg, &ckpt, run, trained_acc)),
        },
        accuracy: Accuracy {
            dataset: Some("fashion-mnist test".into()),
            images: Some(test_set.len()),
            float: Some(trained_acc),
            fake_quant: Some(fq_acc),
            integer: Some(int_acc),
        },
        golden,
    };
    bundle::write(out, &b)?;
    Ok(ExportReport {
        trained_accuracy: trained_acc,
        fake_quant_accuracy: fq_acc,
        integer_accuracy: int_acc,
        gap_pp: 100.0 * (int_acc - fq_acc),
        test_images: test_set.len(),
        size_bits: size.total_bits,
    })
}

fn details(
    cfg: &TrainConfig,
    ckpt: &crate::checkpoint::CheckpointInfo,
    run: &Path,
    trained: f64,
) -> serde_json::Value {
    serde_json::json!({
        "run": run.display().to_string(),
        "epochs_trained": ckpt.epoch,
        "steps": ckpt.step,
        "training": {
            "epochs": cfg.epochs, "batch": cfg.batch, "lr": cfg.lr, "momentum": cfg.momentum,
            "weight_decay": cfg.weight_decay, "warmup_epochs": cfg.warmup_epochs, "seed": cfg.seed,
            "augment": cfg.augment, "train_limit": cfg.train_limit,
        },
        "budget": cfg.budget,
        "budget_bits": cfg.budget_bits,
        "channel_plan": cfg.channel_plan,
        "accuracy_note": "float = the tch QAT model with its training-time activation scales; fake_quant = after export calibration; integer = unibit-core reference",
        "trained_accuracy": trained,
        "weight_quantizer": "per-output-channel least-squares scale on the odd-level grid (per-tensor for the raw output layer), straight-through gradient",
        "activation_quantizer": "per-tensor, EMA of batch max during training; export calibration = mean of per-batch max on training images",
    })
}
