//! An integer model: a [`Graph`] with every node's integer parameters per the contract.
//! This is what a bundle holds, what the reference executor runs and what the hardware packs.

use crate::arith::{ActKind, Bits, Requant, MAX_BIAS_MAGNITUDE};
use crate::error::{Error, Result};
use crate::graph::{Graph, Op, TensorInfo};
use ndarray::Array4;
use serde::{Deserialize, Serialize};

/// Integer parameters of one node (same order as the graph's nodes).
#[derive(Clone, Debug, PartialEq)]
pub enum NodeParams {
    /// Conv or linear: B-bit weight codes `[out, in/groups, k, k]` (linear: `[out, in, 1, 1]`),
    /// per-output-channel bias (accumulator units) and requantizer (empty for a raw I32 output).
    Weighted {
        codes: Array4<u8>,
        bias: Vec<i32>,
        requant: Vec<Requant>,
    },
    /// Residual add: `(a·ma + b·mb) >> shift`.
    Add { ma: u32, mb: u32, shift: u32 },
    /// Average pooling (window or global): `Σx · M >> S`.
    Pool { requant: Requant },
    /// Max pooling and flatten: exact, no parameters.
    None,
}

/// Real scales, for information and for tools that dequantize (the integer paths never use them).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeScales {
    /// Real value of one LSB of the node's output.
    pub output: f64,
    /// Per-output-channel real weight scale (conv/linear): real weight = level × scale.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weight: Vec<f64>,
}

/// An integer model with one weight bitwidth.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantModel {
    pub graph: Graph,
    pub bits: Bits,
    /// Real value of one input LSB (1/255 when pixels are scaled to [0, 1]).
    pub input_scale: f64,
    pub params: Vec<NodeParams>,
    pub scales: Vec<NodeScales>,
}

impl QuantModel {
    /// Check every parameter against the graph and the contract; returns the inferred tensors.
    /// Errors name the node and field.
    pub fn validate(&self) -> Result<Vec<TensorInfo>> {
        let info = self.graph.infer()?;
        let n = self.graph.nodes.len();
        if self.params.len() != n {
            return Err(Error::invalid(
                "params",
                format!("{n} entries (one per node)"),
                self.params.len(),
            ));
        }
        if self.scales.len() != n {
            return Err(Error::invalid(
                "scales",
                format!("{n} entries (one per node)"),
                self.scales.len(),
            ));
        }
        for (i, (node, p)) in self.graph.nodes.iter().zip(&self.params).enumerate() {
            let at = format!("nodes[{i}] \"{}\"", node.name);
            self.validate_node(&node.op, p, info[i].kind, i)
                .map_err(|e| e.in_field(&at))?;
        }
        Ok(info)
    }

    fn validate_node(&self, op: &Op, p: &NodeParams, kind: ActKind, i: usize) -> Result<()> {
        match (op, p) {
            (
                Op::Conv2d { .. } | Op::Linear { .. },
                NodeParams::Weighted {
                    codes,
                    bias,
                    requant,
                },
            ) => {
                let want = op.weight_shape().unwrap();
                if codes.shape() != want {
                    return Err(Error::invalid(
                        "codes",
                        format!("shape {want:?}"),
                        format!("{:?}", codes.shape()),
                    ));
                }
                let max = self.bits.max_code();
                if let Some(c) = codes.iter().find(|&&c| c > max) {
                    return Err(Error::invalid(
                        "codes",
                        format!("codes ≤ {max} (B = {})", self.bits),
                        c,
                    ));
                }
                let out = want[0];
                if bias.len() != out {
                    return Err(Error::invalid("bias", format!("{out} values"), bias.len()));
                }
                if let Some(b) = bias
                    .iter()
                    .find(|b| (**b as i64).abs() >= MAX_BIAS_MAGNITUDE)
                {
                    return Err(Error::invalid("bias", "|bias| < 2^30", b));
                }
                let want_rq = if kind == ActKind::I32 { 0 } else { out };
                if requant.len() != want_rq {
                    return Err(Error::invalid(
                        "requant",
                        format!("{want_rq} entries"),
                        requant.len(),
                    ));
                }
                for r in requant {
                    Requant::new(r.multiplier, r.shift)
                        .map_err(|e| Error::invalid("requant", e, format!("{r:?}")))?;
                }
                let ws = &self.scales[i].weight;
                if !ws.is_empty() && ws.len() != out {
                    return Err(Error::invalid(
                        "scales.weight",
                        format!("{out} values or none"),
                        ws.len(),
                    ));
                }
                Ok(())
            }
            (Op::Add, NodeParams::Add { ma, mb, shift }) => {
                if *shift > crate::arith::MAX_SHIFT {
                    let want = format!("0..={}", crate::arith::MAX_SHIFT);
                    return Err(Error::invalid("shift", want, shift));
                }
                Requant::new(*ma, *shift).map_err(|e| Error::invalid("ma", e, ma))?;
                Requant::new(*mb, *shift).map_err(|e| Error::invalid("mb", e, mb))?;
                Ok(())
            }
            (Op::AvgPool { .. } | Op::GlobalAvgPool, NodeParams::Pool { requant }) => {
                Requant::new(requant.multiplier, requant.shift)
                    .map_err(|e| Error::invalid("requant", e, format!("{requant:?}")))?;
                Ok(())
            }
            (Op::MaxPool { .. } | Op::Flatten, NodeParams::None) => Ok(()),
            (op, p) => Err(Error::invalid(
                "params",
                format!("parameters of a {}", op.kind_name()),
                params_kind(p),
            )),
        }
    }
}

pub fn params_kind(p: &NodeParams) -> &'static str {
    match p {
        NodeParams::Weighted { .. } => "weighted (codes/bias/requant)",
        NodeParams::Add { .. } => "add (ma/mb/shift)",
        NodeParams::Pool { .. } => "pool (requant)",
        NodeParams::None => "none",
    }
}
