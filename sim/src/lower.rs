//! Host-side lowering of conv/linear layers to GEMMs for the engine: im2col per group.
//!
//! A GEMM has `M` output channels (rows of the array), a reduction of `K = in/groups·k·k`
//! elements (lanes), and `N = out_h·out_w` vectors. Reduction order is `(c, ki, kj)`, the
//! row-major order of the weight tensor `[out, in/groups, k, k]`; vectors are output pixels in
//! row-major order. Padding contributes zeros.

use ndarray::{Array2, ArrayView3};
use unibit_core::arith::{ActKind, Requant};
use unibit_core::graph::Op;
use unibit_core::model::{NodeParams, QuantModel};

/// One group's GEMM of a layer.
#[derive(Clone, Debug)]
pub struct Gemm {
    pub group: usize,
    /// First output channel of this group.
    pub channel0: usize,
    /// Weight codes `[M, K]`.
    pub codes: Array2<u8>,
    /// Activation vectors `[N, K]` (u8 or i8 values).
    pub acts: Array2<i32>,
    pub bias: Vec<i32>,
    /// Per-row requantizers (empty for a raw I32 output).
    pub requant: Vec<Requant>,
    pub kind: ActKind,
    /// Output spatial size (N = h·w).
    pub out_hw: (usize, usize),
}

/// The GEMMs of conv/linear node `i` on one image's input `x` (`[C, H, W]`).
pub fn lower(model: &QuantModel, i: usize, x: ArrayView3<i32>, out_kind: ActKind) -> Vec<Gemm> {
    let node = &model.graph.nodes[i];
    let NodeParams::Weighted {
        codes,
        bias,
        requant,
    } = &model.params[i]
    else {
        panic!("lower: node {} has no weights", node.name);
    };
    let (stride, padding, groups) = match node.op {
        Op::Conv2d {
            stride,
            padding,
            groups,
            ..
        } => (stride, padding, groups),
        _ => (1, 0, 1),
    };
    let (cout, cg, k, _) = codes.dim();
    let (_, h, w) = x.dim();
    let oh = (h + 2 * padding - k) / stride + 1;
    let ow = (w + 2 * padding - k) / stride + 1;
    let mg = cout / groups;
    let kk = cg * k * k;
    (0..groups)
        .map(|g| {
            let wmat = Array2::from_shape_fn((mg, kk), |(m, r)| {
                let (c, rest) = (r / (k * k), r % (k * k));
                codes[[g * mg + m, c, rest / k, rest % k]]
            });
            let acts = Array2::from_shape_fn((oh * ow, kk), |(v, r)| {
                let (oi, oj) = (v / ow, v % ow);
                let (c, rest) = (r / (k * k), r % (k * k));
                let ii = (oi * stride + rest / k) as isize - padding as isize;
                let jj = (oj * stride + rest % k) as isize - padding as isize;
                if ii < 0 || jj < 0 || ii >= h as isize || jj >= w as isize {
                    0
                } else {
                    x[[g * cg + c, ii as usize, jj as usize]]
                }
            });
            Gemm {
                group: g,
                channel0: g * mg,
                codes: wmat,
                acts,
                bias: bias[g * mg..(g + 1) * mg].to_vec(),
                requant: if requant.is_empty() {
                    vec![]
                } else {
                    requant[g * mg..(g + 1) * mg].to_vec()
                },
                kind: out_kind,
                out_hw: (oh, ow),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array4;
    use unibit_core::arith::{self, Bits};
    use unibit_core::graph::{Graph, Node, Shape, INPUT};
    use unibit_core::model::NodeScales;
    use unibit_core::reference;

    /// Lowered GEMMs computed naively equal the reference's accumulators.
    #[test]
    fn gemms_reproduce_the_convolution() {
        let bits = Bits::new(3).unwrap();
        for (groups, stride, k) in [(1, 1, 3), (1, 2, 3), (4, 1, 3), (2, 1, 1)] {
            let (cin, cout) = (4, 8);
            let graph = Graph {
                input: Shape::new(cin, 7, 6),
                nodes: vec![Node {
                    name: "c".into(),
                    op: Op::Conv2d {
                        in_channels: cin,
                        out_channels: cout,
                        kernel: k,
                        stride,
                        padding: k / 2,
                        groups,
                        batch_norm: false,
                    },
                    inputs: vec![INPUT.into()],
                    relu: true,
                }],
            };
            let codes = Array4::from_shape_fn((cout, cin / groups, k, k), |(a, b, c, d)| {
                ((a * 7 + b * 3 + c + d * 5) % 8) as u8
            });
            let model = QuantModel {
                graph,
                bits,
                input_scale: 1.0,
                params: vec![NodeParams::Weighted {
                    codes,
                    bias: vec![0; cout],
                    requant: vec![Requant::new(1, 0).unwrap(); cout],
                }],
                scales: vec![NodeScales::default()],
            };
            let x = Array4::from_shape_fn((1, cin, 7, 6), |(_, c, i, j)| {
                ((c * 31 + i * 7 + j * 13) % 256) as i32
            });
            let want = reference::accumulate(&model, 0, &x, ActKind::U8);
            for gm in lower(&model, 0, x.index_axis(ndarray::Axis(0), 0), ActKind::U8) {
                let (oh, ow) = gm.out_hw;
                for m in 0..gm.codes.nrows() {
                    for v in 0..gm.acts.nrows() {
                        let codes: Vec<u8> = gm.codes.row(m).to_vec();
                        let xs: Vec<i32> = gm.acts.row(v).to_vec();
                        let acc = arith::dot_bit_serial(&codes, &xs, bits);
                        assert_eq!(
                            acc,
                            want[[0, gm.channel0 + m, v / ow, v % ow]],
                            "groups {groups} stride {stride}"
                        );
                    }
                }
                assert_eq!(gm.acts.nrows(), oh * ow);
            }
        }
    }
}
