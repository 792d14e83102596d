//! The integer reference executor: runs a [`QuantModel`] on uint8 images and returns node outputs.
//!
//! Convolutions run as im2col + GEMM in `f32`, which is exact here: every product and partial
//! sum is an integer of magnitude < 2^24 because the reduction is cut into chunks of at most
//! `2^24 / (max|w|·max|x|)` elements, and chunks are summed in `i64`. A direct `i64`
//! implementation ([`conv_direct`]) checks this in the tests.

use crate::arith::{self, ActKind};
use crate::error::{Error, Result};
use crate::graph::{Op, TensorInfo};
use crate::model::{NodeParams, QuantModel};
use ndarray::{s, Array2, Array4, ArrayView4, Axis};
use rayon::prelude::*;

mod bench;
mod eval;
mod golden;

pub use bench::{bench, BenchConfig, BenchReport, TEST_IMAGES};
pub use eval::{accuracy, bundle_accuracy, BundleAccuracy, IntegerAccuracy};
pub use golden::{verify_golden, GoldenMismatch, GoldenReport};

/// Outputs of a run: for each node (graph order) its `[N, C, H, W]` integer tensor, or `None`
/// where it was dropped once no later node needed it (see [`Keep`]).
pub type Outputs = Vec<Option<Array4<i32>>>;

/// Which node outputs a run keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep {
    All,
    Output,
}

/// Run `model` on `images` (`[N, C, H, W]` u8) on this thread.
pub fn run(model: &QuantModel, images: ArrayView4<u8>, keep: Keep) -> Result<Outputs> {
    let info = model.validate()?;
    check_images(model, &images)?;
    Ok(run_unchecked(model, &info, images, keep))
}

/// The final node's output for every image, computed in parallel chunks (rayon); at least one
/// image.
pub fn run_output(model: &QuantModel, images: ArrayView4<u8>, chunk: usize) -> Result<Array4<i32>> {
    let info = model.validate()?;
    check_images(model, &images)?;
    let n = images.shape()[0];
    if n == 0 {
        return Err(Error::invalid("images", "at least 1 image", 0));
    }
    let chunk = chunk.max(1);
    let parts: Vec<Array4<i32>> = (0..n.div_ceil(chunk))
        .into_par_iter()
        .map(|c| {
            let view = images.slice(s![c * chunk..((c + 1) * chunk).min(n), .., .., ..]);
            run_unchecked(model, &info, view, Keep::Output)
                .pop()
                .unwrap()
                .unwrap()
        })
        .collect();
    let views: Vec<_> = parts.iter().map(|a| a.view()).collect();
    Ok(ndarray::concatenate(Axis(0), &views).expect("chunks share C, H, W"))
}

/// Predicted class per image: argmax over the output's values (first maximum wins).
pub fn argmax(output: &Array4<i32>) -> Vec<usize> {
    output
        .outer_iter()
        .map(|o| {
            let mut best = (0usize, i32::MIN);
            for (i, &v) in o.iter().enumerate() {
                if v > best.1 {
                    best = (i, v);
                }
            }
            best.0
        })
        .collect()
}

fn check_images(model: &QuantModel, images: &ArrayView4<u8>) -> Result<()> {
    let s = model.graph.input;
    let sh = images.shape();
    if sh[1..] != s.dims() {
        return Err(Error::invalid(
            "images",
            format!("[N, {}, {}, {}] (the model's input)", s.c, s.h, s.w),
            format!("{sh:?}"),
        ));
    }
    Ok(())
}

fn run_unchecked(
    model: &QuantModel,
    info: &[TensorInfo],
    images: ArrayView4<u8>,
    keep: Keep,
) -> Outputs {
    let g = &model.graph;
    let input = images.mapv(|v| v as i32);
    // Last node that reads each output, so intermediate tensors can be dropped early.
    let input_of = g.input_indices();
    let mut last_use = vec![0usize; g.nodes.len()];
    for (i, ins) in input_of.iter().enumerate() {
        for j in ins.iter().flatten() {
            last_use[*j] = i;
        }
    }
    let mut outs: Outputs = vec![None; g.nodes.len()];
    for i in 0..g.nodes.len() {
        let inputs: Vec<(&Array4<i32>, ActKind)> = input_of[i]
            .iter()
            .map(|j| match *j {
                None => (&input, ActKind::U8),
                Some(j) => (
                    outs[j]
                        .as_ref()
                        .expect("inputs are kept until their last use"),
                    info[j].kind,
                ),
            })
            .collect();
        let y = eval_node(model, info, i, &inputs);
        outs[i] = Some(y);
        if keep == Keep::Output {
            for &j in input_of[i].iter().flatten() {
                if last_use[j] == i {
                    outs[j] = None;
                }
            }
        }
    }
    if keep == Keep::Output {
        let last = outs.len() - 1;
        for o in outs.iter_mut().take(last) {
            *o = None;
        }
    }
    outs
}

/// Evaluate node `i` of a validated model on its inputs (`[N, C, H, W]` tensors and their kinds,
/// in the node's input order). `info` is the model's inferred tensor list.
pub fn eval_node(
    model: &QuantModel,
    info: &[TensorInfo],
    i: usize,
    inputs: &[(&Array4<i32>, ActKind)],
) -> Array4<i32> {
    let node = &model.graph.nodes[i];
    let out_kind = info[i].kind;
    match (&node.op, &model.params[i]) {
        (Op::Conv2d { .. } | Op::Linear { .. }, NodeParams::Weighted { bias, requant, .. }) => {
            let acc = accumulate(model, i, inputs[0].0, inputs[0].1);
            requantize_channels(acc, bias, requant, out_kind)
        }
        (Op::Add, NodeParams::Add { ma, mb, shift }) => {
            let mut y = inputs[0].0.clone();
            ndarray::Zip::from(&mut y)
                .and(inputs[1].0)
                .for_each(|y, &b| *y = arith::requantize_add(*y, b, *ma, *mb, *shift, out_kind));
            y
        }
        (Op::MaxPool { kernel, stride }, NodeParams::None) => {
            pool(inputs[0].0, *kernel, *stride, |w| {
                w.iter().copied().max().unwrap() as i64
            })
            .mapv(|v| v as i32)
        }
        (Op::AvgPool { kernel, stride }, NodeParams::Pool { requant }) => {
            pool(inputs[0].0, *kernel, *stride, |w| {
                w.iter().map(|&v| v as i64).sum()
            })
            .mapv(|s| arith::requantize_pool(s, *requant, out_kind))
        }
        (Op::GlobalAvgPool, NodeParams::Pool { requant }) => {
            let x = inputs[0].0;
            let (h, w) = (x.shape()[2], x.shape()[3]);
            pool(x, h.max(w), 1, |w| w.iter().map(|&v| v as i64).sum())
                .mapv(|s| arith::requantize_pool(s, *requant, out_kind))
        }
        (Op::Flatten, NodeParams::None) => {
            let x = inputs[0].0;
            let n = x.shape()[0];
            let f = x.len() / n.max(1);
            x.as_standard_layout()
                .into_owned()
                .into_shape_with_order((n, f, 1, 1))
                .unwrap()
        }
        _ => unreachable!("validated: params match ops"),
    }
}

/// The raw accumulators `Σ level·x` (before bias) of conv/linear node `i` on input `x`.
pub fn accumulate(model: &QuantModel, i: usize, x: &Array4<i32>, x_kind: ActKind) -> Array4<i64> {
    let NodeParams::Weighted { codes, .. } = &model.params[i] else {
        panic!("accumulate: node {i} has no weights");
    };
    match model.graph.nodes[i].op {
        Op::Conv2d {
            stride,
            padding,
            groups,
            ..
        } => conv_gemm(x, x_kind, codes, model.bits, stride, padding, groups),
        _ => conv_gemm(x, x_kind, codes, model.bits, 1, 0, 1),
    }
}

/// Window reduction over `[N, C, H, W]` with no padding (global pooling passes the full size).
fn pool(
    x: &Array4<i32>,
    kernel: usize,
    stride: usize,
    f: impl Fn(ndarray::ArrayView2<i32>) -> i64,
) -> Array4<i64> {
    let (n, c, h, w) = x.dim();
    let (kh, kw) = (kernel.min(h), kernel.min(w));
    let oh = (h - kh) / stride + 1;
    let ow = (w - kw) / stride + 1;
    Array4::from_shape_fn((n, c, oh, ow), |(b, ch, i, j)| {
        f(x.slice(s![
            b,
            ch,
            i * stride..i * stride + kh,
            j * stride..j * stride + kw
        ]))
    })
}

fn requantize_channels(
    acc: Array4<i64>,
    bias: &[i32],
    requant: &[arith::Requant],
    kind: ActKind,
) -> Array4<i32> {
    let mut y = Array4::<i32>::zeros(acc.dim());
    for (ch, (mut yc, ac)) in y
        .axis_iter_mut(Axis(1))
        .zip(acc.axis_iter(Axis(1)))
        .enumerate()
    {
        let rq = requant.get(ch).copied().unwrap_or(arith::Requant {
            multiplier: 0,
            shift: 0,
        });
        let b = bias[ch];
        ndarray::Zip::from(&mut yc)
            .and(&ac)
            .for_each(|y, &a| *y = arith::requantize(a, b, rq, kind));
    }
    y
}

/// Largest reduction chunk for which f32 sums of `|w| ≤ max_w`, `|x| ≤ max_x` products are exact.
fn exact_chunk(max_w: i64, max_x: i64) -> usize {
    ((1i64 << 24) / (max_w * max_x).max(1)).max(1) as usize
}

/// Accumulators `Σ level·x` of a convolution: `x` `[N, Cin, H, W]`, codes `[Cout, Cin/g, k, k]`.
pub fn conv_gemm(
    x: &Array4<i32>,
    x_kind: ActKind,
    codes: &Array4<u8>,
    bits: arith::Bits,
    stride: usize,
    padding: usize,
    groups: usize,
) -> Array4<i64> {
    let (n, cin, h, w) = x.dim();
    let (cout, cg, k, _) = codes.dim();
    let oh = (h + 2 * padding - k) / stride + 1;
    let ow = (w + 2 * padding - k) / stride + 1;
    let mg = cout / groups;
    let kk = cg * k * k;
    let p = oh * ow;
    let chunk = exact_chunk(bits.max_level() as i64, x_kind.max_abs());
    let mut out = Array4::<i64>::zeros((n, cout, oh, ow));
    debug_assert_eq!(cin, cg * groups);
    for g in 0..groups {
        // Weights as levels, [mg, kk].
        let wmat = Array2::from_shape_fn((mg, kk), |(m, r)| {
            let (c, rest) = (r / (k * k), r % (k * k));
            arith::level(codes[[g * mg + m, c, rest / k, rest % k]], bits) as f32
        });
        let col = im2col(x, g * cg..(g + 1) * cg, k, stride, padding, (oh, ow));
        let acc = chunked_dot(&wmat, &col, chunk);
        for b in 0..n {
            for m in 0..mg {
                let src = acc.slice(s![m, b * p..(b + 1) * p]);
                let mut dst = out.slice_mut(s![b, g * mg + m, .., ..]);
                for (d, &v) in dst.iter_mut().zip(src.iter()) {
                    *d = v;
                }
            }
        }
    }
    out
}

/// The patches of channels `chans` of `x` as columns: `[chans·k·k, N·oh·ow]`, zero where a
/// window reaches into the padding.
fn im2col(
    x: &Array4<i32>,
    chans: std::ops::Range<usize>,
    k: usize,
    stride: usize,
    padding: usize,
    (oh, ow): (usize, usize),
) -> Array2<f32> {
    let n = x.dim().0;
    let p = oh * ow;
    let mut col = Array2::<f32>::zeros((chans.len() * k * k, n * p));
    for b in 0..n {
        for (c, ch) in chans.clone().enumerate() {
            let xc = x.slice(s![b, ch, .., ..]);
            for ki in 0..k {
                for kj in 0..k {
                    let row = col.slice_mut(s![c * k * k + ki * k + kj, b * p..(b + 1) * p]);
                    patch_row(xc, row, (ki, kj), stride, padding, ow);
                }
            }
        }
    }
    col
}

/// One im2col row: the pixel under kernel offset `(ki, kj)` for every output position.
#[inline]
fn patch_row(
    xc: ndarray::ArrayView2<i32>,
    mut row: ndarray::ArrayViewMut1<f32>,
    (ki, kj): (usize, usize),
    stride: usize,
    padding: usize,
    ow: usize,
) {
    let (h, w) = xc.dim();
    let oh = row.len() / ow;
    for oi in 0..oh {
        let ii = (oi * stride + ki) as isize - padding as isize;
        if ii < 0 || ii >= h as isize {
            continue;
        }
        for oj in 0..ow {
            let jj = (oj * stride + kj) as isize - padding as isize;
            if jj >= 0 && jj < w as isize {
                row[oi * ow + oj] = xc[[ii as usize, jj as usize]] as f32;
            }
        }
    }
}

/// `wmat · col` with the reduction cut into chunks of `chunk` elements (each exact in `f32`),
/// summed in `i64`.
fn chunked_dot(wmat: &Array2<f32>, col: &Array2<f32>, chunk: usize) -> Array2<i64> {
    let kk = wmat.dim().1;
    let mut acc = Array2::<i64>::zeros((wmat.dim().0, col.dim().1));
    let mut k0 = 0;
    while k0 < kk {
        let k1 = (k0 + chunk).min(kk);
        let part = wmat.slice(s![.., k0..k1]).dot(&col.slice(s![k0..k1, ..]));
        ndarray::Zip::from(&mut acc)
            .and(&part)
            .for_each(|a, &v| *a += v as i64);
        k0 = k1;
    }
    acc
}

/// The direct `i64` convolution the GEMM path is checked against.
pub fn conv_direct(
    x: &Array4<i32>,
    codes: &Array4<u8>,
    bits: arith::Bits,
    stride: usize,
    padding: usize,
    groups: usize,
) -> Array4<i64> {
    let (n, _cin, h, w) = x.dim();
    let (cout, cg, k, _) = codes.dim();
    let oh = (h + 2 * padding - k) / stride + 1;
    let ow = (w + 2 * padding - k) / stride + 1;
    let mg = cout / groups;
    Array4::from_shape_fn((n, cout, oh, ow), |(b, o, i, j)| {
        let g = o / mg;
        let mut acc = 0i64;
        for c in 0..cg {
            for ki in 0..k {
                for kj in 0..k {
                    let ii = (i * stride + ki) as isize - padding as isize;
                    let jj = (j * stride + kj) as isize - padding as isize;
                    if ii >= 0 && jj >= 0 && (ii as usize) < h && (jj as usize) < w {
                        let xv = x[[b, g * cg + c, ii as usize, jj as usize]] as i64;
                        acc += arith::level(codes[[o, c, ki, kj]], bits) as i64 * xv;
                    }
                }
            }
        }
        acc
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arith::Bits;
    use proptest::prelude::*;

    #[test]
    fn run_output_refuses_zero_images_and_runs_one() {
        let cfg = crate::FamilyConfig {
            input: crate::Shape::new(1, 8, 8),
            ..crate::FamilyConfig::fashion_mnist(crate::Family::ResNet { depth: 8 }, 0.25)
        };
        let imgs = crate::synthetic::synthetic_images(3, cfg.input, 1);
        let m =
            crate::synthetic::synthetic_model(&cfg, Bits::new(2).unwrap(), 1, imgs.view()).unwrap();
        let e = run_output(&m, imgs.slice(s![..0, .., .., ..]), 4).unwrap_err();
        assert!(e.to_string().contains("images: expected at least 1"), "{e}");
        let one = run_output(&m, imgs.slice(s![..1, .., .., ..]), 4).unwrap();
        assert_eq!(one.shape(), &[1, 10, 1, 1]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn gemm_conv_equals_direct(
            b in 1u8..=8,
            signed in any::<bool>(),
            cg in 1usize..5, groups in 1usize..4, mg in 1usize..5,
            k in prop_oneof![Just(1usize), Just(3)], stride in 1usize..3,
            hw in 3usize..8, seed in any::<u64>(), extreme in any::<bool>(),
        ) {
            use rand::{Rng, SeedableRng};
            let bits = Bits::new(b).unwrap();
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let cin = cg * groups;
            let kind = if signed { ActKind::I8 } else { ActKind::U8 };
            let (lo, hi) = kind.range();
            let x = Array4::from_shape_fn((2, cin, hw, hw), |_| {
                if extreme { if rng.random::<bool>() { lo } else { hi } } else { rng.random_range(lo..=hi) }
            });
            let codes = Array4::from_shape_fn((mg * groups, cg, k, k), |_| {
                if extreme { if rng.random::<bool>() { 0 } else { bits.max_code() } } else { rng.random_range(0..=bits.max_code()) }
            });
            let pad = k / 2;
            prop_assert_eq!(
                conv_gemm(&x, kind, &codes, bits, stride, pad, groups),
                conv_direct(&x, &codes, bits, stride, pad, groups)
            );
        }
    }

    #[test]
    fn long_reductions_are_chunked_exactly() {
        // K = 64·9 = 576 > 258: three f32 chunks at B = 8 with extreme values.
        let bits = Bits::new(8).unwrap();
        let x = Array4::from_elem((1, 64, 3, 3), 255);
        let codes = Array4::from_elem((2, 64, 3, 3), 255u8);
        let a = conv_gemm(&x, ActKind::U8, &codes, bits, 1, 1, 1);
        assert_eq!(a, conv_direct(&x, &codes, bits, 1, 1, 1));
        assert_eq!(a[[0, 0, 1, 1]], 576 * 255 * 255);
    }
}
