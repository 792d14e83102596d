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
use crate::error::{Error, NotExportable, Result};
use crate::net::{Mode, Net, INPUT_SCALE};
use crate::quant;
use crate::train::{self, load_run, TrainConfig};
use ndarray::{Array4, Axis};
use std::path::Path;
use tch::{Device, Kind, Tensor};
use unibit_core::arith::{negate_code, MAX_BIAS_MAGNITUDE, MAX_SHIFT, MULTIPLIER_BITS};
use unibit_core::bundle::{self, Accuracy, Bundle, Golden, ModelInfo};
use unibit_core::dataset::{Dataset, Split};
use unibit_core::graph::{Node, Op};
use unibit_core::model::{NodeParams, NodeScales, QuantModel};
use unibit_core::reference;
use unibit_core::{ActKind, Bits, Requant};

fn to_vec(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(
        t.to_kind(Kind::Double)
            .to_device(Device::Cpu)
            .flatten(0, -1),
    )
    .expect("float tensor")
}

/// Overwrite a parameter tensor with `values` (same length, its own kind).
fn copy_into(t: &Tensor, values: &[f64]) {
    tch::no_grad(|| {
        t.shallow_clone()
            .copy_(&Tensor::from_slice(values).to_kind(t.kind()))
    });
}

/// How errors name a node.
fn node_at(node: &Node) -> String {
    format!("node \"{}\"", node.name)
}

/// The real scale of a node's input `k`.
fn input_scale(net: &Net, node: &Node, k: usize) -> Result<f64> {
    net.input_scale_of(&node.inputs[k]).ok_or_else(|| {
        Error::invalid(
            format!("{}: input {k} scale", node_at(node)),
            "a calibrated scale",
            "none",
        )
    })
}

fn requant_from_real(m: f64, at: &str, channel: Option<usize>) -> Result<Requant> {
    Requant::from_real(m).map_err(|e| Error::Unrepresentable {
        node: at.to_string(),
        what: match channel {
            Some(k) => format!("channel {k}: {e}"),
            None => e,
        },
    })
}

/// Per-channel weight scales of a conv/linear node (one scale broadcast to every channel).
fn channel_scales(s_w: &Tensor, out: usize) -> Vec<f64> {
    let s = to_vec(s_w);
    if s.len() == 1 {
        vec![s[0]; out]
    } else {
        s
    }
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
        match (&node.op, net.output_scale(i)) {
            (Op::Add, Some(s_y)) => snap_add(net, i, s_y)?,
            (Op::AvgPool { .. } | Op::GlobalAvgPool, Some(s_y)) => snap_pool(net, i, s_y)?,
            _ if node.op.has_weights() => {
                snap_weighted(net, i, net.bits_of(i).unwrap_or(spec.bits))?
            }
            _ => {}
        }
    }
    Ok(())
}

/// An add's coefficients become its integer multipliers' real values.
fn snap_add(net: &Net, i: usize, s_y: f64) -> Result<()> {
    let node = &net.graph.nodes[i];
    let (s_a, s_b) = (input_scale(net, node, 0)?, input_scale(net, node, 1)?);
    let (ma, mb, shift) =
        add_multipliers(s_a / s_y, s_b / s_y).map_err(|e| e.context(node_at(node)))?;
    let p = 2f64.powi(shift as i32);
    net.set_coefficients(i, [ma as f64 / p * s_y / s_a, mb as f64 / p * s_y / s_b]);
    Ok(())
}

/// An average pool's coefficient becomes its requantizer's real value.
fn snap_pool(net: &Net, i: usize, s_y: f64) -> Result<()> {
    let node = &net.graph.nodes[i];
    let s_x = input_scale(net, node, 0)?;
    let n = pool_count(net, i);
    let rq = requant_from_real(s_x / (n * s_y), &node_at(node), None)?;
    net.set_coefficients(i, [rq.real() * n * s_y / s_x, 1.0]);
    Ok(())
}

/// A conv/linear node: its batch norm (or the raw output's bias) onto the integer grid.
fn snap_weighted(net: &Net, i: usize, bits: Bits) -> Result<()> {
    let node = &net.graph.nodes[i];
    let s_x = input_scale(net, node, 0)?;
    let w = net.latent_weight(i).unwrap();
    let out = w.size()[0] as usize;
    let s_w = channel_scales(&quant::weight_scale(&w, bits, net.per_channel(i)), out);
    match (net.batch_norm(i), net.output_scale(i)) {
        (Some(bn), Some(s_y)) => snap_batch_norm(bn, s_x, &s_w, s_y, &node_at(node)),
        (None, _) if net.info[i].kind == ActKind::I32 => {
            if let Some(b_t) = net.linear_bias(i) {
                snap_output_bias(&b_t, s_x, &s_w);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// γ scaled so each channel's requantizer scale is exactly `M/2^S`; β shifted so the folded
/// bias is a whole number of accumulator units.
fn snap_batch_norm(
    (mean, var, gamma_t, beta_t, eps): (Tensor, Tensor, Tensor, Tensor, f64),
    s_x: f64,
    s_w: &[f64],
    s_y: f64,
    at: &str,
) -> Result<()> {
    let (mean, var) = (to_vec(&mean), to_vec(&var));
    let (mut gamma, mut beta) = (to_vec(&gamma_t), to_vec(&beta_t));
    for k in 0..s_w.len() {
        let sigma = (var[k] + eps).sqrt();
        let m = gamma[k] * s_x * s_w[k] / (sigma * s_y);
        if m == 0.0 || !m.is_finite() {
            continue; // to_quant_model reports it
        }
        let rq = requant_from_real(m.abs(), at, Some(k))?;
        gamma[k] *= rq.real() / m.abs();
        let unit = gamma[k] * s_x * s_w[k] / sigma;
        let shift = gamma[k] * mean[k] / sigma;
        beta[k] = ((beta[k] - shift) / unit).round() * unit + shift;
    }
    copy_into(&gamma_t, &gamma);
    copy_into(&beta_t, &beta);
    Ok(())
}

/// The raw output's bias rounded to whole accumulator units `s_x·s_w`.
fn snap_output_bias(b_t: &Tensor, s_x: f64, s_w: &[f64]) {
    let b: Vec<f64> = to_vec(b_t)
        .iter()
        .zip(s_w)
        .map(|(b, s)| (b / (s_x * s)).round() * s_x * s)
        .collect();
    copy_into(b_t, &b);
}

/// Shared-shift multipliers for a residual add: the largest `S ≤ 47` with both
/// `round(r·2^S) < 2^15`.
pub fn add_multipliers(ra: f64, rb: f64) -> Result<(u32, u32, u32)> {
    let top = (1u64 << MULTIPLIER_BITS) as f64;
    let big = ra.max(rb);
    if !(big.is_finite() && ra >= 0.0 && rb >= 0.0) || big.round() >= top {
        return Err(Error::Unrepresentable {
            node: "residual add".into(),
            what: format!("scales {ra}, {rb} do not fit a {MULTIPLIER_BITS}-bit multiplier"),
        });
    }
    let mut s = 0u32;
    while s < MAX_SHIFT && (big * 2f64.powi(s as i32 + 1)).round() < top {
        s += 1;
    }
    let p = 2f64.powi(s as i32);
    Ok(((ra * p).round() as u32, (rb * p).round() as u32, s))
}

/// The one weight bitwidth of an exportable network, or why it is not exportable.
pub fn exportable_bits(net: &Net) -> Result<Bits> {
    let Some(spec) = net.quant else {
        return Err(Error::NotExportable(NotExportable::Float));
    };
    if net.is_mixed() {
        return Err(Error::NotExportable(NotExportable::Mixed));
    }
    if !net.is_exportable() {
        return Err(Error::NotExportable(NotExportable::FirstLast8Bit {
            bits: spec.bits,
        }));
    }
    Ok(spec.bits)
}

/// The integer model of a (calibrated) quantized network, per the contract.
pub fn to_quant_model(net: &Net) -> Result<QuantModel> {
    let bits = exportable_bits(net)?;
    let n = net.graph.nodes.len();
    let mut params = Vec::with_capacity(n);
    let mut scales = Vec::with_capacity(n);
    for i in 0..n {
        let (p, sc) = node_params(net, i, bits)?;
        params.push(p);
        scales.push(sc);
    }
    let model = QuantModel {
        graph: net.graph.clone(),
        bits,
        input_scale: INPUT_SCALE,
        params,
        scales,
    };
    model.validate()?;
    Ok(model)
}

/// Integer parameters and real scales of node `i`.
fn node_params(net: &Net, i: usize, bits: Bits) -> Result<(NodeParams, NodeScales)> {
    let node = &net.graph.nodes[i];
    let at = node_at(node);
    let s_x = input_scale(net, node, 0)?;
    let s_y = net.output_scale(i);
    let calibrated = matches!(s_y, Some(s) if s > 0.0 && s.is_finite());
    if net.info[i].kind != ActKind::I32 && !calibrated {
        return Err(Error::invalid(
            format!("{at}: activation scale"),
            "a calibrated scale > 0",
            format!("{s_y:?}"),
        ));
    }
    let no_weights = |output| NodeScales {
        output,
        weight: vec![],
    };
    match node.op {
        Op::Conv2d { .. } | Op::Linear { .. } => weighted_params(net, i, bits, s_x, s_y, &at),
        Op::Add => {
            let s_b = input_scale(net, node, 1)?;
            let s_y = s_y.unwrap();
            let (ma, mb, shift) =
                add_multipliers(s_x / s_y, s_b / s_y).map_err(|e| e.context(at))?;
            Ok((NodeParams::Add { ma, mb, shift }, no_weights(s_y)))
        }
        Op::AvgPool { .. } | Op::GlobalAvgPool => {
            let s_y = s_y.unwrap();
            let requant = requant_from_real(s_x / (pool_count(net, i) * s_y), &at, None)?;
            Ok((NodeParams::Pool { requant }, no_weights(s_y)))
        }
        Op::MaxPool { .. } | Op::Flatten => Ok((NodeParams::None, no_weights(s_x))),
    }
}

/// Codes, bias and requantizers of a conv/linear node: batch norm folded in, channels with a
/// negative scale negated.
fn weighted_params(
    net: &Net,
    i: usize,
    bits: Bits,
    s_x: f64,
    s_y: Option<f64>,
    at: &str,
) -> Result<(NodeParams, NodeScales)> {
    let w = net.latent_weight(i).unwrap();
    let s_w_t = quant::weight_scale(&w, bits, net.per_channel(i));
    let dims: Vec<usize> = w.size().iter().map(|&d| d as usize).collect();
    let s_w = channel_scales(&s_w_t, dims[0]);
    let codes_f = to_vec(&quant::codes_for(&w.detach(), &s_w_t, bits));
    let mut codes = Array4::from_shape_vec(
        (dims[0], dims[1], dims[2], dims[3]),
        codes_f.iter().map(|&c| c as u8).collect(),
    )
    .expect("weight shape");
    let (a, c) = channel_affine(net, i, dims[0], at)?;
    let (bias, requant, weight, output) = match s_y {
        Some(s_y) if net.info[i].kind != ActKind::I32 => {
            let ch = requantized_channels(&mut codes, &a, &c, &s_w, s_x, s_y, bits, at)?;
            (ch.0, ch.1, ch.2, s_y)
        }
        _ => {
            let bias = raw_output_bias(&a, &c, &s_w, s_x, at)?;
            (bias, vec![], s_w.clone(), s_x * s_w[0])
        }
    };
    Ok((
        NodeParams::Weighted {
            codes,
            bias,
            requant,
        },
        NodeScales { output, weight },
    ))
}

/// Per channel `y = a_c · (conv) + c_c` in real units: the batch norm, or the linear bias.
fn channel_affine(net: &Net, i: usize, out: usize, at: &str) -> Result<(Vec<f64>, Vec<f64>)> {
    match net.batch_norm(i) {
        Some((mean, var, gamma, beta, eps)) => {
            let (mean, var, gamma, beta) =
                (to_vec(&mean), to_vec(&var), to_vec(&gamma), to_vec(&beta));
            Ok((0..out)
                .map(|k| {
                    let sigma = (var[k] + eps).sqrt();
                    (gamma[k] / sigma, beta[k] - gamma[k] * mean[k] / sigma)
                })
                .unzip())
        }
        None => {
            let b = net.linear_bias(i).ok_or_else(|| {
                Error::invalid(format!("{at}: linear bias"), "a bias tensor", "none")
            })?;
            Ok((vec![1.0; out], to_vec(&b)))
        }
    }
}

/// The raw I32 output layer: bias in accumulator units, one weight scale per channel.
fn raw_output_bias(a: &[f64], c: &[f64], s_w: &[f64], s_x: f64, at: &str) -> Result<Vec<i32>> {
    if a.iter().any(|&v| v != 1.0) {
        return Err(Error::Unrepresentable {
            node: at.to_string(),
            what: "a raw I32 output layer with batch norm is not supported".into(),
        });
    }
    (0..s_w.len())
        .map(|k| checked_bias(c[k] / (s_x * s_w[k]), at, k))
        .collect()
}

/// Requantized channels: bias, requantizer and signed weight scale per channel; a channel whose
/// real scale is negative gets negated codes and bias.
#[allow(clippy::too_many_arguments)]
fn requantized_channels(
    codes: &mut Array4<u8>,
    a: &[f64],
    c: &[f64],
    s_w: &[f64],
    s_x: f64,
    s_y: f64,
    bits: Bits,
    at: &str,
) -> Result<(Vec<i32>, Vec<Requant>, Vec<f64>)> {
    let (mut bias, mut requant, mut weight) = (vec![], vec![], vec![]);
    for k in 0..s_w.len() {
        let unit = a[k] * s_x * s_w[k]; // real value of one accumulator unit
        if unit == 0.0 || !unit.is_finite() {
            return Err(Error::Unrepresentable {
                node: at.to_string(),
                what: format!("channel {k} has a zero batch-norm scale (γ = 0); cannot requantize"),
            });
        }
        let m = unit / s_y;
        let b = checked_bias(c[k] / unit, at, k)?;
        requant.push(requant_from_real(m.abs(), at, Some(k))?);
        if m < 0.0 {
            codes
                .index_axis_mut(Axis(0), k)
                .mapv_inplace(|u| negate_code(u, bits));
            bias.push(-b);
            weight.push(-s_w[k]);
        } else {
            bias.push(b);
            weight.push(s_w[k]);
        }
    }
    Ok((bias, requant, weight))
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
        return Err(Error::Unrepresentable {
            node: at.to_string(),
            what: format!("channel {k}: bias {v:.3e} accumulator units does not fit |bias| < 2^30"),
        });
    }
    Ok(r as i32)
}

/// Accuracy of the integer model on a dataset (unibit-core's reference executor).
pub fn integer_accuracy(model: &QuantModel, data: &Dataset) -> Result<f64> {
    Ok(reference::accuracy(model, data, None, &unibit_core::Silent)?.accuracy)
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
                return Err(Error::invalid(
                    format!("{}: tch output", node_at(node)),
                    format!("{} elements (the reference's)", want.len()),
                    got.len(),
                ));
            }
            let (mismatches, max_abs_diff) = differences(&got, want);
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

/// Elements that differ, and the largest |difference|.
fn differences(got: &[i64], want: &[i32]) -> (usize, i64) {
    got.iter()
        .zip(want)
        .map(|(a, b)| (a - *b as i64).abs())
        .filter(|&d| d != 0)
        .fold((0, 0), |(n, m), d| (n + 1, m.max(d)))
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

/// Export the run in `run` to a bundle in `out`: calibrate, snap to the integer grid, fold
/// batch norm, measure the three accuracies on the test set, write golden vectors.
pub fn export(run: &Path, out: &Path, opts: &ExportOptions) -> Result<ExportReport> {
    // Before any work: never over the run itself, a user's directory or a file.
    unibit_core::atomic::check_output_dir(out, &unibit_core::atomic::BUNDLE, &[run])?;
    if opts.test_limit == Some(0) || opts.calibration_images == 0 {
        return Err(Error::invalid(
            "test_limit and calibration_images",
            "at least 1 image each",
            format!("{:?} and {}", opts.test_limit, opts.calibration_images),
        ));
    }
    let (cfg, model, ckpt) = load_run(run, opts.device)?;
    exportable_bits(&model.net).map_err(|e| e.context(run.display().to_string()))?;
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
    let golden = golden(&qm, &test_set, opts.golden)?;
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

/// Golden vectors of the first `n` test images (none for `n = 0`).
fn golden(qm: &QuantModel, test_set: &Dataset, n: usize) -> Result<Option<Golden>> {
    if n == 0 {
        return Ok(None);
    }
    let g = test_set.take(n);
    Ok(Some(Golden::compute(
        qm,
        g.images.view(),
        Some(g.labels.clone()),
    )?))
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
