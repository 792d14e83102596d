//! The model IR: a list of nodes in topological order, each naming its inputs. The same graph
//! describes the network the trainer builds (with batch norm and ReLU flags) and the integer model
//! in a bundle (batch norm folded, ReLU as the clamp at 0 of the output range).

use crate::arith::{ActKind, MAX_REDUCTION};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Largest tensor (elements per image) a graph may have, input and every node output.
pub const MAX_TENSOR_ELEMENTS: usize = 1 << 24;
/// Largest kernel side of a conv or pool.
pub const MAX_KERNEL: usize = 1 << 10;

/// Name by which nodes refer to the network input.
pub const INPUT: &str = "input";

/// A tensor shape per image: channels × height × width (a flat vector is `c × 1 × 1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shape {
    pub c: usize,
    pub h: usize,
    pub w: usize,
}

impl Shape {
    pub fn new(c: usize, h: usize, w: usize) -> Self {
        Shape { c, h, w }
    }
    pub fn numel(&self) -> usize {
        self.c * self.h * self.w
    }
    pub fn dims(&self) -> [usize; 3] {
        [self.c, self.h, self.w]
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}×{}×{}", self.c, self.h, self.w)
    }
}

/// One operation. Convolutions are square, with symmetric zero padding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Conv2d {
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        groups: usize,
        /// Trained with batch norm after it (folded away in bundles).
        #[serde(default)]
        batch_norm: bool,
    },
    Linear {
        in_features: usize,
        out_features: usize,
    },
    Add,
    MaxPool {
        kernel: usize,
        stride: usize,
    },
    AvgPool {
        kernel: usize,
        stride: usize,
    },
    GlobalAvgPool,
    Flatten,
}

impl Op {
    pub fn kind_name(&self) -> &'static str {
        match self {
            Op::Conv2d { groups, .. } if *groups > 1 => "conv2d (grouped)",
            Op::Conv2d { .. } => "conv2d",
            Op::Linear { .. } => "linear",
            Op::Add => "add",
            Op::MaxPool { .. } => "max_pool",
            Op::AvgPool { .. } => "avg_pool",
            Op::GlobalAvgPool => "global_avg_pool",
            Op::Flatten => "flatten",
        }
    }
    /// Conv and linear layers: the ones with B-bit weights.
    pub fn has_weights(&self) -> bool {
        matches!(self, Op::Conv2d { .. } | Op::Linear { .. })
    }
    /// Weight tensor shape `[out, in/groups, k, k]` (linear: `[out, in, 1, 1]`).
    pub fn weight_shape(&self) -> Option<[usize; 4]> {
        match *self {
            Op::Conv2d {
                in_channels,
                out_channels,
                kernel,
                groups,
                ..
            } => Some([out_channels, in_channels / groups.max(1), kernel, kernel]),
            Op::Linear {
                in_features,
                out_features,
            } => Some([out_features, in_features, 1, 1]),
            _ => None,
        }
    }
    pub fn weight_count(&self) -> usize {
        self.weight_shape().map_or(0, |s| s.iter().product())
    }
    /// Output channels of a layer with weights.
    pub fn out_channels(&self) -> Option<usize> {
        self.weight_shape().map(|s| s[0])
    }
    /// Reduction length K of one output (in/groups · k · k).
    pub fn reduction(&self) -> Option<usize> {
        self.weight_shape().map(|s| s[1] * s[2] * s[3])
    }
}

/// A node: an operation applied to named inputs (earlier nodes or [`INPUT`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub name: String,
    #[serde(flatten)]
    pub op: Op,
    pub inputs: Vec<String>,
    /// ReLU after the op (the clamp at 0 of an unsigned output).
    #[serde(default)]
    pub relu: bool,
}

/// A network: input shape and nodes in topological order; the last node is the output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    pub input: Shape,
    pub nodes: Vec<Node>,
}

/// Shape and value range of a node's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorInfo {
    pub shape: Shape,
    pub kind: ActKind,
}

fn conv_out(size: usize, kernel: usize, stride: usize, padding: usize) -> Option<usize> {
    let padded = size + 2 * padding;
    if padded < kernel || stride == 0 {
        return None;
    }
    Some((padded - kernel) / stride + 1)
}

impl Graph {
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }
    /// For every node, the index of each input (`None`: the network input), found in one pass
    /// so that running a long graph stays linear. Unknown names (an unvalidated graph) are
    /// `None` as well.
    pub fn input_indices(&self) -> Vec<Vec<Option<usize>>> {
        let index: HashMap<&str, usize> = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.as_str(), i))
            .collect();
        self.nodes
            .iter()
            .map(|n| {
                n.inputs
                    .iter()
                    .map(|x| index.get(x.as_str()).copied())
                    .collect()
            })
            .collect()
    }
    pub fn output(&self) -> Option<&Node> {
        self.nodes.last()
    }
    /// Layers with B-bit weights, in order.
    pub fn weight_layers(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.op.has_weights())
    }
    pub fn weight_count(&self) -> usize {
        self.nodes.iter().map(|n| n.op.weight_count()).sum()
    }

    /// Validate the graph and infer every node's output shape and kind (same order as `nodes`).
    /// Errors name the node (`nodes[i] "name"`) and the field at fault.
    pub fn infer(&self) -> Result<Vec<TensorInfo>> {
        check_elements(self.input).map_err(|e| e.in_field("input"))?;
        if self.input.numel() == 0 {
            return Err(Error::invalid("input", "a non-empty shape", self.input));
        }
        if self.nodes.is_empty() {
            return Err(Error::invalid("nodes", "at least one node", "none"));
        }
        let input = TensorInfo {
            shape: self.input,
            kind: ActKind::U8,
        };
        let mut out: Vec<TensorInfo> = Vec::with_capacity(self.nodes.len());
        // Names of the nodes done so far, so that inference stays linear in the node count.
        let mut earlier: HashMap<&str, usize> = HashMap::with_capacity(self.nodes.len());
        let last = self.nodes.len() - 1;
        for (i, node) in self.nodes.iter().enumerate() {
            let at = format!("nodes[{i}] \"{}\"", node.name);
            let info = self
                .infer_node(node, i == last, &input, &out, &earlier)
                .and_then(|t| check_elements(t.shape).map(|_| t))
                .map_err(|e| e.in_field(&at))?;
            out.push(info);
            earlier.insert(&node.name, i);
        }
        Ok(out)
    }

    fn infer_node(
        &self,
        node: &Node,
        is_output: bool,
        input: &TensorInfo,
        done: &[TensorInfo],
        earlier: &HashMap<&str, usize>,
    ) -> Result<TensorInfo> {
        if node.name.is_empty() || node.name == INPUT || node.name.contains('/') {
            return Err(Error::invalid(
                "name",
                "a unique non-empty name other than \"input\", without '/'",
                format!("{:?}", node.name),
            ));
        }
        if earlier.contains_key(node.name.as_str()) {
            return Err(Error::invalid(
                "name",
                "a unique name",
                format!("a second {:?}", node.name),
            ));
        }
        let want_inputs = if node.op == Op::Add { 2 } else { 1 };
        if node.inputs.len() != want_inputs {
            return Err(Error::invalid(
                "inputs",
                format!("{want_inputs} input(s) for {}", node.op.kind_name()),
                node.inputs.len(),
            ));
        }
        let mut ins = Vec::new();
        for name in &node.inputs {
            let t = if name == INPUT {
                *input
            } else {
                let j = earlier.get(name.as_str()).ok_or_else(|| {
                    Error::invalid(
                        "inputs",
                        "names of earlier nodes or \"input\"",
                        format!("{name:?}"),
                    )
                })?;
                done[*j]
            };
            if t.kind == ActKind::I32 {
                return Err(Error::invalid(
                    "inputs",
                    "8-bit activations",
                    format!("{name:?}, a raw 32-bit output"),
                ));
            }
            ins.push(t);
        }
        let x = ins[0];
        check_fields(&node.op)?;
        unsupported_relu(node, x.kind)?;
        let relu_kind = |signed: bool| {
            if node.relu {
                ActKind::U8
            } else if signed {
                ActKind::I8
            } else {
                ActKind::U8
            }
        };
        let info = match node.op {
            Op::Conv2d {
                in_channels,
                out_channels,
                kernel,
                stride,
                padding,
                groups,
                ..
            } => {
                if in_channels != x.shape.c {
                    return Err(Error::invalid(
                        "in_channels",
                        format!("{} (channels of the input)", x.shape.c),
                        in_channels,
                    ));
                }
                if groups == 0 || in_channels % groups != 0 || out_channels % groups != 0 {
                    return Err(Error::invalid(
                        "groups",
                        format!("a divisor of in_channels {in_channels} and out_channels {out_channels}"),
                        groups,
                    ));
                }
                if out_channels == 0 || kernel == 0 || stride == 0 {
                    return Err(Error::invalid(
                        "out_channels/kernel/stride",
                        "positive values",
                        format!("{out_channels}/{kernel}/{stride}"),
                    ));
                }
                if padding >= kernel {
                    return Err(Error::invalid(
                        "padding",
                        format!("< kernel {kernel}"),
                        padding,
                    ));
                }
                let (Some(h), Some(w)) = (
                    conv_out(x.shape.h, kernel, stride, padding),
                    conv_out(x.shape.w, kernel, stride, padding),
                ) else {
                    return Err(Error::invalid(
                        "kernel",
                        format!("a kernel that fits the padded input {}", x.shape),
                        kernel,
                    ));
                };
                check_reduction(&node.op)?;
                TensorInfo {
                    shape: Shape::new(out_channels, h, w),
                    kind: weighted_kind(node.relu, is_output),
                }
            }
            Op::Linear {
                in_features,
                out_features,
            } => {
                if x.shape.h != 1 || x.shape.w != 1 {
                    return Err(Error::invalid(
                        "inputs",
                        "a flat vector (after flatten or global_avg_pool)",
                        x.shape,
                    ));
                }
                if in_features != x.shape.c {
                    return Err(Error::invalid(
                        "in_features",
                        format!("{} (size of the input)", x.shape.c),
                        in_features,
                    ));
                }
                if out_features == 0 {
                    return Err(Error::invalid("out_features", "a positive value", 0));
                }
                check_reduction(&node.op)?;
                TensorInfo {
                    shape: Shape::new(out_features, 1, 1),
                    kind: weighted_kind(node.relu, is_output),
                }
            }
            Op::Add => {
                let y = ins[1];
                if x.shape != y.shape {
                    return Err(Error::invalid(
                        "inputs",
                        format!("two tensors of one shape ({})", x.shape),
                        y.shape,
                    ));
                }
                TensorInfo {
                    shape: x.shape,
                    kind: relu_kind(true),
                }
            }
            Op::MaxPool { kernel, stride } | Op::AvgPool { kernel, stride } => {
                if kernel == 0 || stride == 0 || kernel > x.shape.h || kernel > x.shape.w {
                    return Err(Error::invalid(
                        "kernel/stride",
                        format!("positive, kernel ≤ input size {}", x.shape),
                        format!("{kernel}/{stride}"),
                    ));
                }
                let h = (x.shape.h - kernel) / stride + 1;
                let w = (x.shape.w - kernel) / stride + 1;
                let signed = x.kind == ActKind::I8;
                TensorInfo {
                    shape: Shape::new(x.shape.c, h, w),
                    kind: relu_kind(signed),
                }
            }
            Op::GlobalAvgPool => TensorInfo {
                shape: Shape::new(x.shape.c, 1, 1),
                kind: relu_kind(x.kind == ActKind::I8),
            },
            Op::Flatten => TensorInfo {
                shape: Shape::new(x.shape.numel(), 1, 1),
                kind: relu_kind(x.kind == ActKind::I8),
            },
        };
        Ok(info)
    }
}

/// At most [`MAX_TENSOR_ELEMENTS`] elements per image (checked without overflow).
fn check_elements(s: Shape) -> Result<()> {
    let n = s.c.checked_mul(s.h).and_then(|n| n.checked_mul(s.w));
    match n {
        Some(n) if n <= MAX_TENSOR_ELEMENTS => Ok(()),
        _ => Err(Error::invalid(
            "shape",
            format!("at most {MAX_TENSOR_ELEMENTS} elements per image"),
            format!("{}×{}×{}", s.c, s.h, s.w),
        )),
    }
}

/// Kernel, stride, padding and channel counts small enough that shape arithmetic cannot overflow.
fn check_fields(op: &Op) -> Result<()> {
    let (kernel, stride, padding) = match *op {
        Op::Conv2d {
            kernel,
            stride,
            padding,
            ..
        } => (kernel, stride, padding),
        Op::MaxPool { kernel, stride } | Op::AvgPool { kernel, stride } => (kernel, stride, 0),
        _ => return Ok(()),
    };
    for (field, v) in [("kernel", kernel), ("stride", stride), ("padding", padding)] {
        if v > MAX_KERNEL {
            return Err(Error::invalid(field, format!("at most {MAX_KERNEL}"), v));
        }
    }
    Ok(())
}

/// `relu` on a max pool or flatten of a signed tensor is not part of the contract.
fn unsupported_relu(node: &Node, input: ActKind) -> Result<()> {
    let exact = matches!(node.op, Op::MaxPool { .. } | Op::Flatten);
    if node.relu && exact && input == ActKind::I8 {
        return Err(Error::invalid(
            "relu",
            format!(
                "false (relu on a {} of an i8 tensor is not supported)",
                node.op.kind_name()
            ),
            true,
        ));
    }
    Ok(())
}

fn weighted_kind(relu: bool, is_output: bool) -> ActKind {
    if relu {
        ActKind::U8
    } else if is_output {
        ActKind::I32
    } else {
        ActKind::I8
    }
}

fn check_reduction(op: &Op) -> Result<()> {
    let k = op.reduction().unwrap_or(0);
    if k == 0 || k > MAX_REDUCTION {
        return Err(Error::invalid(
            "reduction length (in/groups·k·k)",
            format!("1..={MAX_REDUCTION}"),
            k,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(name: &str, input: &str, cin: usize, cout: usize, stride: usize, relu: bool) -> Node {
        Node {
            name: name.into(),
            op: Op::Conv2d {
                in_channels: cin,
                out_channels: cout,
                kernel: 3,
                stride,
                padding: 1,
                groups: 1,
                batch_norm: true,
            },
            inputs: vec![input.into()],
            relu,
        }
    }

    #[test]
    fn infers_shapes_and_kinds() {
        let g = Graph {
            input: Shape::new(1, 28, 28),
            nodes: vec![
                conv("a", INPUT, 1, 8, 1, true),
                conv("b", "a", 8, 8, 2, false),
                Node {
                    name: "gap".into(),
                    op: Op::GlobalAvgPool,
                    inputs: vec!["b".into()],
                    relu: false,
                },
                Node {
                    name: "fc".into(),
                    op: Op::Linear {
                        in_features: 8,
                        out_features: 10,
                    },
                    inputs: vec!["gap".into()],
                    relu: false,
                },
            ],
        };
        let t = g.infer().unwrap();
        assert_eq!(t[0].shape, Shape::new(8, 28, 28));
        assert_eq!(t[0].kind, ActKind::U8);
        assert_eq!(t[1].shape, Shape::new(8, 14, 14));
        assert_eq!(t[1].kind, ActKind::I8);
        assert_eq!(t[2].kind, ActKind::I8);
        assert_eq!(t[3].kind, ActKind::I32);
    }

    #[test]
    fn errors_name_node_and_field() {
        let g = Graph {
            input: Shape::new(1, 28, 28),
            nodes: vec![
                conv("a", INPUT, 1, 8, 1, true),
                conv("b", "a", 4, 8, 1, true),
            ],
        };
        let msg = g.infer().unwrap_err().to_string();
        assert!(msg.contains("nodes[1] \"b\".in_channels"), "{msg}");
        assert!(msg.contains("expected 8"), "{msg}");

        let g = Graph {
            input: Shape::new(1, 28, 28),
            nodes: vec![conv("a", "nope", 1, 8, 1, true)],
        };
        assert!(g.infer().unwrap_err().to_string().contains("\"nope\""));
    }

    #[test]
    fn serde_round_trip() {
        let n = conv("a", INPUT, 1, 8, 1, true);
        let s = serde_json::to_string(&n).unwrap();
        assert!(s.contains("\"op\":\"conv2d\""), "{s}");
        let back: Node = serde_json::from_str(&s).unwrap();
        assert_eq!(back, n);
    }
}
