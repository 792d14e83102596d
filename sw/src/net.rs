//! tch networks built by interpreting unibit-core [`Graph`]s node by node, so layer names,
//! shapes and activation kinds match the integer model 1:1.
//!
//! Every node the integer model requantizes (conv/linear + batch norm (+ ReLU), add, average
//! pooling) ends in an activation fake-quantizer with the node's contract range; max pooling and
//! flatten pass quantized values through unchanged (the integer model has no requantizer there).
//! The network's raw I32 output (the final linear) stays float.

use crate::quant::{self, ACT_MOMENTUM};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use tch::nn;
use tch::{Kind, Tensor};
use unibit_core::graph::{Graph, Op, TensorInfo, INPUT};
use unibit_core::{ActKind, Bits};

/// Real value of one input LSB: the float model sees `pixel / 255`, no mean/std normalisation.
pub const INPUT_SCALE: f64 = 1.0 / 255.0;

/// How weights and activations are quantized.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuantSpec {
    /// The weight bitwidth of every conv and linear layer.
    pub bits: Bits,
    /// Keep the first and last weight layers at 8 bits (studies only: not exportable to a
    /// one-bitwidth array).
    pub first_last_8bit: bool,
}

/// Forward mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Batch statistics; activation ranges update their EMA.
    Train,
    /// Running statistics; frozen activation scales.
    Eval,
    /// Running statistics; each batch quantizes with its own observed range, and the ranges are
    /// accumulated for [`Net::finish_calibration`].
    Calibrate,
}

enum Layer {
    Conv {
        weight: Tensor,
        bn: Option<nn::BatchNorm>,
        stride: i64,
        padding: i64,
        groups: i64,
    },
    Linear {
        weight: Tensor,
        bias: Tensor,
    },
    Add,
    MaxPool {
        kernel: i64,
        stride: i64,
    },
    AvgPool {
        kernel: i64,
        stride: i64,
    },
    GlobalAvgPool,
    Flatten,
}

/// A network built from a graph. `quant = None` is the float baseline (same layers, ReLU, no
/// quantizers).
pub struct Net {
    pub graph: Graph,
    pub info: Vec<TensorInfo>,
    pub quant: Option<QuantSpec>,
    layers: Vec<Layer>,
    /// Per node: the activation scale variable (scalar, not trained) when the node's output is
    /// fake-quantized.
    act_scales: Vec<Option<Tensor>>,
    calibration: RefCell<Vec<(f64, usize)>>,
    /// Per node: real coefficients applied to an add's two inputs or to a pool's mean; 1 except
    /// after export's snapping to the integer multipliers ([`crate::export::snap_to_integer_grid`]).
    coefficients: RefCell<Vec<[f64; 2]>>,
    first_weighted: usize,
    last_weighted: usize,
    /// Per node: the weight bitwidth of a mixed-precision net ([`Net::with_layer_bits`]).
    layer_bits: Option<Vec<Option<Bits>>>,
}

/// VarStore path component of a node (tch paths use '.' as the separator).
pub fn var_name(node: &str) -> String {
    node.replace('.', "_")
}

impl Net {
    /// Build the network's layers under `vs` from `graph`.
    pub fn new(vs: &nn::Path, graph: &Graph, quant: Option<QuantSpec>) -> unibit_core::Result<Net> {
        let info = graph.infer()?;
        let mut layers = Vec::with_capacity(graph.nodes.len());
        let mut act_scales = Vec::with_capacity(graph.nodes.len());
        for (i, node) in graph.nodes.iter().enumerate() {
            let p = vs / var_name(&node.name);
            let layer = match node.op {
                Op::Conv2d {
                    in_channels,
                    out_channels,
                    kernel,
                    stride,
                    padding,
                    groups,
                    batch_norm,
                } => {
                    let k = kernel as i64;
                    let shape = [out_channels as i64, (in_channels / groups) as i64, k, k];
                    let weight = p.var("weight", &shape, nn::init::DEFAULT_KAIMING_UNIFORM);
                    let bn = batch_norm.then(|| {
                        nn::batch_norm2d(&p / "bn", out_channels as i64, Default::default())
                    });
                    Layer::Conv {
                        weight,
                        bn,
                        stride: stride as i64,
                        padding: padding as i64,
                        groups: groups as i64,
                    }
                }
                Op::Linear {
                    in_features,
                    out_features,
                } => {
                    let bound = 1.0 / (in_features as f64).sqrt();
                    let weight = p.var(
                        "weight",
                        &[out_features as i64, in_features as i64],
                        nn::init::DEFAULT_KAIMING_UNIFORM,
                    );
                    let bias = p.var(
                        "bias",
                        &[out_features as i64],
                        nn::Init::Uniform {
                            lo: -bound,
                            up: bound,
                        },
                    );
                    Layer::Linear { weight, bias }
                }
                Op::Add => Layer::Add,
                Op::MaxPool { kernel, stride } => Layer::MaxPool {
                    kernel: kernel as i64,
                    stride: stride as i64,
                },
                Op::AvgPool { kernel, stride } => Layer::AvgPool {
                    kernel: kernel as i64,
                    stride: stride as i64,
                },
                Op::GlobalAvgPool => Layer::GlobalAvgPool,
                Op::Flatten => Layer::Flatten,
            };
            let requantized = !matches!(node.op, Op::MaxPool { .. } | Op::Flatten)
                && info[i].kind != ActKind::I32;
            act_scales
                .push((quant.is_some() && requantized).then(|| p.zeros_no_train("act_scale", &[])));
            layers.push(layer);
        }
        let weighted: Vec<usize> = (0..graph.nodes.len())
            .filter(|&i| graph.nodes[i].op.has_weights())
            .collect();
        Ok(Net {
            graph: graph.clone(),
            info,
            quant,
            layers,
            calibration: RefCell::new(vec![(0.0, 0); graph.nodes.len()]),
            coefficients: RefCell::new(vec![[1.0, 1.0]; graph.nodes.len()]),
            act_scales,
            first_weighted: *weighted.first().unwrap_or(&0),
            last_weighted: *weighted.last().unwrap_or(&0),
            layer_bits: None,
        })
    }

    /// A mixed-precision network: `layer_bits` gives every conv/linear layer's weight bitwidth
    /// in graph order (`None`: [`Net::new`], the spec's bits everywhere).
    pub fn with_layer_bits(
        vs: &nn::Path,
        graph: &Graph,
        quant: Option<QuantSpec>,
        layer_bits: Option<&[Bits]>,
    ) -> unibit_core::Result<Net> {
        let mut net = Net::new(vs, graph, quant)?;
        let Some(bits) = layer_bits else {
            return Ok(net);
        };
        match quant {
            None => {
                return Err(unibit_core::Error::invalid(
                    "layer_bits",
                    "no per-layer bitwidths for a float run (quant = null)",
                    format!("{} bitwidths", bits.len()),
                ))
            }
            Some(q) if q.first_last_8bit => {
                return Err(unibit_core::Error::invalid(
                    "layer_bits",
                    "either per-layer bitwidths or first_last_8bit, not both",
                    "both",
                ))
            }
            Some(_) => {}
        }
        let weighted: Vec<usize> = (0..graph.nodes.len())
            .filter(|&i| graph.nodes[i].op.has_weights())
            .collect();
        if bits.len() != weighted.len() {
            return Err(unibit_core::Error::invalid(
                "layer_bits",
                format!("{} bitwidths (one per conv/linear layer)", weighted.len()),
                bits.len(),
            ));
        }
        let mut per_node = vec![None; graph.nodes.len()];
        for (&i, &b) in weighted.iter().zip(bits) {
            per_node[i] = Some(b);
        }
        net.layer_bits = Some(per_node);
        Ok(net)
    }

    /// Weight bitwidth of node `i` (None for float or weightless nodes).
    pub fn bits_of(&self, i: usize) -> Option<Bits> {
        let q = self.quant?;
        if !self.graph.nodes[i].op.has_weights() {
            return None;
        }
        if let Some(per_node) = &self.layer_bits {
            return per_node[i];
        }
        if q.first_last_8bit && (i == self.first_weighted || i == self.last_weighted) {
            return Some(Bits::new(8).unwrap());
        }
        Some(q.bits)
    }

    /// Whether every weight layer has the same bitwidth (what a one-bitwidth array runs).
    pub fn is_exportable(&self) -> bool {
        matches!(self.quant, Some(q) if !q.first_last_8bit) && !self.is_mixed()
    }

    /// Whether per-layer bitwidths differ from the spec's one bitwidth (mixed precision).
    pub fn is_mixed(&self) -> bool {
        match (&self.layer_bits, self.quant) {
            (Some(per_node), Some(q)) => per_node.iter().flatten().any(|&b| b != q.bits),
            _ => false,
        }
    }

    /// Per-output-channel weight scales everywhere except the raw I32 output layer, whose
    /// channels must share one scale so that argmax over integer logits is argmax over reals.
    pub fn per_channel(&self, i: usize) -> bool {
        self.info[i].kind != ActKind::I32
    }

    /// The float weight the forward pass uses (fake-quantized with STE when quantizing), in
    /// the conv layout `[out, in/groups, k, k]` (linear: `[out, in, 1, 1]`).
    pub fn effective_weight(&self, i: usize) -> Option<Tensor> {
        let w = match &self.layers[i] {
            Layer::Conv { weight, .. } => weight.shallow_clone(),
            Layer::Linear { weight, .. } => weight.unsqueeze(-1).unsqueeze(-1),
            _ => return None,
        };
        Some(match self.bits_of(i) {
            Some(b) => quant::fake_quant_weight(&w, b, self.per_channel(i)),
            None => w,
        })
    }

    /// Latent (float) weight of node `i` in the conv layout.
    pub fn latent_weight(&self, i: usize) -> Option<Tensor> {
        match &self.layers[i] {
            Layer::Conv { weight, .. } => Some(weight.shallow_clone()),
            Layer::Linear { weight, .. } => Some(weight.unsqueeze(-1).unsqueeze(-1)),
            _ => None,
        }
    }

    /// Batch norm of node `i` (running mean, running var, γ, β, eps), if it has one.
    pub fn batch_norm(&self, i: usize) -> Option<(Tensor, Tensor, Tensor, Tensor, f64)> {
        match &self.layers[i] {
            Layer::Conv { bn: Some(bn), .. } => Some((
                bn.running_mean.shallow_clone(),
                bn.running_var.shallow_clone(),
                bn.ws.as_ref().expect("affine batch norm").shallow_clone(),
                bn.bs.as_ref().expect("affine batch norm").shallow_clone(),
                1e-5,
            )),
            _ => None,
        }
    }

    /// Bias of a linear node.
    pub fn linear_bias(&self, i: usize) -> Option<Tensor> {
        match &self.layers[i] {
            Layer::Linear { bias, .. } => Some(bias.shallow_clone()),
            _ => None,
        }
    }

    /// Real value of one LSB of node `i`'s output (`None` for the raw output or float nets).
    /// Max pooling and flatten inherit their input's scale.
    pub fn output_scale(&self, i: usize) -> Option<f64> {
        if let Some(s) = &self.act_scales[i] {
            return Some(s.double_value(&[]));
        }
        match self.graph.nodes[i].op {
            Op::MaxPool { .. } | Op::Flatten if self.quant.is_some() => {
                self.input_scale_of(&self.graph.nodes[i].inputs[0])
            }
            _ => None,
        }
    }

    /// Scale of a named tensor (`input` or a node).
    pub fn input_scale_of(&self, name: &str) -> Option<f64> {
        if name == INPUT {
            return Some(INPUT_SCALE);
        }
        self.output_scale(self.graph.index_of(name)?)
    }

    /// Set node `i`'s activation scale (tests and calibration).
    pub fn set_output_scale(&self, i: usize, scale: f64) {
        if let Some(s) = &self.act_scales[i] {
            let _ = tch::no_grad(|| s.shallow_clone().fill_(scale));
        }
    }

    /// Set the coefficients of an add (`[a, b]`) or pool (`[c, _]`) node.
    pub fn set_coefficients(&self, i: usize, c: [f64; 2]) {
        self.coefficients.borrow_mut()[i] = c;
    }

    /// Nodes whose outputs are fake-quantized.
    pub fn quantized_nodes(&self) -> Vec<usize> {
        (0..self.layers.len())
            .filter(|&i| self.act_scales[i].is_some())
            .collect()
    }

    /// Clear accumulated calibration ranges.
    pub fn start_calibration(&self) {
        for c in self.calibration.borrow_mut().iter_mut() {
            *c = (0.0, 0);
        }
    }

    /// Freeze every activation scale to the mean observed range of the calibration batches.
    pub fn finish_calibration(&self) {
        for (i, &(sum, n)) in self.calibration.borrow().iter().enumerate() {
            if n > 0 {
                self.set_output_scale(i, sum / n as f64);
            }
        }
    }

    /// Forward pass on float images `[N, C, H, W]` (already scaled by [`INPUT_SCALE`]).
    pub fn forward(&self, x: &Tensor, mode: Mode) -> Tensor {
        let n = self.graph.nodes.len();
        let mut last_use = vec![0usize; n];
        for (i, node) in self.graph.nodes.iter().enumerate() {
            for name in &node.inputs {
                if let Some(j) = self.graph.index_of(name) {
                    last_use[j] = i;
                }
            }
        }
        let mut outs: Vec<Option<Tensor>> = (0..n).map(|_| None).collect();
        for (i, node) in self.graph.nodes.iter().enumerate() {
            let y = {
                let ins: Vec<&Tensor> = node
                    .inputs
                    .iter()
                    .map(|name| match self.graph.index_of(name) {
                        None => x,
                        Some(j) => outs[j].as_ref().expect("kept until last use"),
                    })
                    .collect();
                self.forward_node(i, &ins, mode)
            };
            outs[i] = Some(y);
            for j in 0..i {
                if last_use[j] == i {
                    outs[j] = None;
                }
            }
        }
        outs.pop()
            .flatten()
            .expect("graph has an output")
            .flatten(1, -1)
    }

    /// Node `i` on its inputs (graph input order), including its activation quantizer.
    pub fn forward_node(&self, i: usize, xs: &[&Tensor], mode: Mode) -> Tensor {
        let train = mode == Mode::Train;
        let y = match &self.layers[i] {
            Layer::Conv {
                bn,
                stride,
                padding,
                groups,
                ..
            } => {
                let w = self.effective_weight(i).unwrap();
                let y = xs[0].conv2d(
                    &w,
                    None::<Tensor>,
                    [*stride; 2],
                    [*padding; 2],
                    [1, 1],
                    *groups,
                );
                match bn {
                    Some(bn) => y.apply_t(bn, train),
                    None => y,
                }
            }
            Layer::Linear { bias, .. } => {
                let w = self.effective_weight(i).unwrap().flatten(1, -1);
                xs[0]
                    .flatten(1, -1)
                    .linear(&w, Some(bias))
                    .unsqueeze(-1)
                    .unsqueeze(-1)
            }
            Layer::Add => match self.coefficients.borrow()[i] {
                [1.0, 1.0] => xs[0] + xs[1],
                [ca, cb] => xs[0] * ca + xs[1] * cb,
            },
            Layer::MaxPool { kernel, stride } => {
                xs[0].max_pool2d([*kernel; 2], [*stride; 2], [0, 0], [1, 1], false)
            }
            Layer::AvgPool { kernel, stride } => {
                let y = xs[0].avg_pool2d([*kernel; 2], [*stride; 2], [0, 0], false, true, None);
                self.scaled(i, y)
            }
            Layer::GlobalAvgPool => self.scaled(
                i,
                xs[0].mean_dim(Some([2i64, 3].as_slice()), true, Kind::Float),
            ),
            Layer::Flatten => {
                let s = xs[0].size();
                xs[0].reshape([s[0], -1, 1, 1])
            }
        };
        self.activate(i, y, mode)
    }

    fn scaled(&self, i: usize, y: Tensor) -> Tensor {
        match self.coefficients.borrow()[i][0] {
            1.0 => y,
            c => y * c,
        }
    }

    fn activate(&self, i: usize, y: Tensor, mode: Mode) -> Tensor {
        let kind = self.info[i].kind;
        let Some(var) = &self.act_scales[i] else {
            return if self.graph.nodes[i].relu {
                y.relu()
            } else {
                y
            };
        };
        let stored = var.double_value(&[]);
        let scale = match mode {
            Mode::Train => {
                let seen = quant::observed_scale(&y, kind);
                let s = if stored > 0.0 {
                    ACT_MOMENTUM * stored + (1.0 - ACT_MOMENTUM) * seen
                } else {
                    seen
                };
                self.set_output_scale(i, s);
                s
            }
            Mode::Calibrate => {
                let seen = quant::observed_scale(&y, kind);
                let mut c = self.calibration.borrow_mut();
                c[i].0 += seen;
                c[i].1 += 1;
                seen
            }
            Mode::Eval if stored > 0.0 => stored,
            Mode::Eval => quant::observed_scale(&y, kind),
        };
        quant::fake_quant_act(&y, scale, kind)
    }
}
