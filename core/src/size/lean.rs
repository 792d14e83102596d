//! The leanest parameter format the arithmetic contract allows without changing any integer
//! result, measured on a trained model (issue 17, "per-channel cost as a design knob").
//!
//! Today every requantized output channel stores a 32-bit bias, a 16-bit multiplier and an
//! 8-bit shift (56 bits; [`super::BIAS_BITS`] …). Exact re-encodings, each proven here:
//!
//! * **Multiplier 15 bits, shift 6 bits.** The contract bounds `M < 2^15` and `S ≤ 47`: the
//!   other bits are always zero. Lossless.
//! * **A bias width per layer**: the fewest signed bits that hold every bias of the layer, plus
//!   a 5-bit width field per layer. Lossless.
//! * **A per-layer shift** where one exists: `round_shift(v·M·2^d, S+d) = round_shift(v·M, S)`
//!   for every `v` and `d ≥ 0` (both are `⌊(v·M + 2^(S−1)) / 2^S⌋`), so a channel `(M, S)` can
//!   take any shift `S'` with `M·2^(S'−S) < 2^15` (up) or `2^(S−S')` dividing `M` (down) and
//!   compute the same function. A layer shares one shift when those ranges intersect.
//!
//! [`lean_model`] is the model as the lean format decodes it (shared shifts applied);
//! [`compare_outputs`] runs both on images and checks every node's output is identical.

use crate::arith::{ActKind, Requant, MAX_SHIFT, MULTIPLIER_BITS};
use crate::error::Result;
use crate::model::{NodeParams, QuantModel};
use crate::reference::{self, Keep};
use ndarray::ArrayView4;
use serde::Serialize;

/// Bits of the lean format's per-layer bias-width field (widths 1..=32).
pub const BIAS_WIDTH_FIELD_BITS: u64 = 5;
/// Bits of a shift in the lean format (0..=47).
pub const LEAN_SHIFT_BITS: u64 = 6;
/// Bits of a multiplier in the lean format (0..2^15).
pub const LEAN_MULTIPLIER_BITS: u64 = MULTIPLIER_BITS as u64;

/// One conv/linear layer's parameters, today and in the lean format.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerLean {
    pub name: String,
    pub channels: usize,
    /// False for the raw 32-bit output layer (bias only).
    pub requantized: bool,
    pub bias_min: i32,
    pub bias_max: i32,
    /// Fewest signed bits holding every bias of the layer.
    pub bias_bits: u32,
    pub shift_min: u32,
    pub shift_max: u32,
    /// One shift every channel can take exactly, if there is one.
    pub shared_shift: Option<u32>,
    /// As [`super::model_size`] counts them.
    pub today_bits: u64,
    pub lean_bits: u64,
}

/// Every layer's, and the totals (per-tensor parameters of adds and pools included).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LeanStudy {
    pub layers: Vec<LayerLean>,
    /// Adds and average pools: today (16-bit multipliers, 8-bit shifts) and lean (15, 6).
    pub per_tensor_today_bits: u64,
    pub per_tensor_lean_bits: u64,
    pub today_bits: u64,
    pub lean_bits: u64,
    /// Requantized layers whose channels share one shift exactly.
    pub shared_shift_layers: usize,
    pub requantized_layers: usize,
}

/// The fewest bits of a two's-complement field holding every value in `lo..=hi`.
pub fn signed_bits(lo: i64, hi: i64) -> u32 {
    (1..=64)
        .find(|&k| {
            let half = 1i128 << (k - 1);
            (lo as i128) >= -half && (hi as i128) < half
        })
        .unwrap_or(64)
}

/// The shifts `S'` at which `(M·2^(S'−S), S')` is the same function as `(M, S)` within the
/// contract (`M' < 2^15`, `S' ≤ 47`); every shift for `M = 0`.
pub fn exact_shifts(rq: Requant) -> (u32, u32) {
    if rq.multiplier == 0 {
        return (0, MAX_SHIFT);
    }
    let down = rq.multiplier.trailing_zeros().min(rq.shift);
    let up = (MULTIPLIER_BITS - 1 - rq.multiplier.ilog2()).min(MAX_SHIFT - rq.shift);
    (rq.shift - down, rq.shift + up)
}

/// `rq` re-expressed at shift `s` (one of [`exact_shifts`]).
pub fn at_shift(rq: Requant, s: u32) -> Requant {
    let m = if s >= rq.shift {
        rq.multiplier << (s - rq.shift)
    } else {
        rq.multiplier >> (rq.shift - s)
    };
    Requant::new(m, if rq.multiplier == 0 { 0 } else { s }).expect("within exact_shifts")
}

fn shared_shift(rqs: &[Requant]) -> Option<u32> {
    let (lo, hi) = rqs
        .iter()
        .filter(|r| r.multiplier != 0)
        .map(|&r| exact_shifts(r))
        .fold((0, MAX_SHIFT), |(a, b), (c, d)| (a.max(c), b.min(d)));
    (lo <= hi).then_some(lo)
}

/// Measure `model`'s parameters in today's and the lean format.
pub fn study(model: &QuantModel) -> Result<LeanStudy> {
    let info = model.validate()?;
    let mut layers = vec![];
    let (mut pt_today, mut pt_lean) = (0, 0);
    let (m16, s8) = (super::MULTIPLIER_STORAGE_BITS, super::SHIFT_STORAGE_BITS);
    for (i, (node, params)) in model.graph.nodes.iter().zip(&model.params).enumerate() {
        match params {
            NodeParams::Weighted { bias, requant, .. } => {
                let requantized = info[i].kind != ActKind::I32;
                let lo = bias.iter().copied().min().unwrap_or(0);
                let hi = bias.iter().copied().max().unwrap_or(0);
                let bias_bits = signed_bits(lo as i64, hi as i64);
                let shared = if requantized {
                    shared_shift(requant)
                } else {
                    None
                };
                let n = bias.len() as u64;
                let (today, lean) = if requantized {
                    let per_shift = if shared.is_some() { 0 } else { LEAN_SHIFT_BITS };
                    (
                        n * (super::BIAS_BITS + m16 + s8),
                        BIAS_WIDTH_FIELD_BITS
                            + shared.map_or(0, |_| LEAN_SHIFT_BITS)
                            + n * (bias_bits as u64 + LEAN_MULTIPLIER_BITS + per_shift),
                    )
                } else {
                    (
                        n * super::BIAS_BITS,
                        BIAS_WIDTH_FIELD_BITS + n * bias_bits as u64,
                    )
                };
                layers.push(LayerLean {
                    name: node.name.clone(),
                    channels: bias.len(),
                    requantized,
                    bias_min: lo,
                    bias_max: hi,
                    bias_bits,
                    shift_min: requant.iter().map(|r| r.shift).min().unwrap_or(0),
                    shift_max: requant.iter().map(|r| r.shift).max().unwrap_or(0),
                    shared_shift: shared,
                    today_bits: today,
                    lean_bits: lean,
                });
            }
            NodeParams::Add { .. } => {
                pt_today += 2 * m16 + s8;
                pt_lean += 2 * LEAN_MULTIPLIER_BITS + LEAN_SHIFT_BITS;
            }
            NodeParams::Pool { .. } => {
                pt_today += m16 + s8;
                pt_lean += LEAN_MULTIPLIER_BITS + LEAN_SHIFT_BITS;
            }
            _ => {}
        }
    }
    let today_bits = layers.iter().map(|l| l.today_bits).sum::<u64>() + pt_today;
    let lean_bits = layers.iter().map(|l| l.lean_bits).sum::<u64>() + pt_lean;
    Ok(LeanStudy {
        shared_shift_layers: layers.iter().filter(|l| l.shared_shift.is_some()).count(),
        requantized_layers: layers.iter().filter(|l| l.requantized).count(),
        layers,
        per_tensor_today_bits: pt_today,
        per_tensor_lean_bits: pt_lean,
        today_bits,
        lean_bits,
    })
}

/// `model` as the lean format decodes it: every layer with a shared shift at that shift
/// (biases and multipliers are stored losslessly, so they decode unchanged).
pub fn lean_model(model: &QuantModel, s: &LeanStudy) -> QuantModel {
    let mut out = model.clone();
    let mut layers = s.layers.iter();
    for p in out.params.iter_mut() {
        if let NodeParams::Weighted { requant, .. } = p {
            if let Some(shift) = layers.next().and_then(|l| l.shared_shift) {
                for r in requant.iter_mut() {
                    *r = at_shift(*r, shift);
                }
            }
        }
    }
    out
}

/// Every node's output of `a` and `b` on `images`, compared.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OutputComparison {
    pub images: usize,
    /// Integer values compared (every node's output, every image).
    pub values: u64,
    /// The first node whose outputs differ, if any.
    pub first_difference: Option<String>,
}

impl OutputComparison {
    pub fn identical(&self) -> bool {
        self.first_difference.is_none()
    }
}

/// Run `a` and `b` on `images` (in chunks of 64) and compare every node's integer output.
pub fn compare_outputs(
    a: &QuantModel,
    b: &QuantModel,
    images: ArrayView4<u8>,
) -> Result<OutputComparison> {
    let n = images.shape()[0];
    let mut values = 0u64;
    for start in (0..n).step_by(64) {
        let view = images.slice(ndarray::s![start..(start + 64).min(n), .., .., ..]);
        let (oa, ob) = (
            reference::run(a, view, Keep::All)?,
            reference::run(b, view, Keep::All)?,
        );
        for (k, (x, y)) in oa.iter().zip(&ob).enumerate() {
            if x != y {
                return Ok(OutputComparison {
                    images: n,
                    values,
                    first_difference: Some(a.graph.nodes[k].name.clone()),
                });
            }
            values += x.as_ref().map_or(0, |x| x.len() as u64);
        }
    }
    Ok(OutputComparison {
        images: n,
        values,
        first_difference: None,
    })
}

/// A bundle's lean-format study and the proof on images: the golden inputs it carries and the
/// first `test_images` Fashion-MNIST test images (from `data_dir`, see [`crate::dataset`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BundleLean {
    pub bits: crate::arith::Bits,
    pub study: LeanStudy,
    pub outputs: OutputComparison,
}

/// Study a bundle's parameters and run it in both formats on its golden inputs and test images.
pub fn bundle_lean(
    dir: &std::path::Path,
    data_dir: Option<&std::path::Path>,
    test_images: usize,
) -> Result<BundleLean> {
    let b = crate::bundle::read(dir)?;
    let s = study(&b.model)?;
    let lean = lean_model(&b.model, &s);
    let mut images: Vec<ArrayView4<u8>> = vec![];
    let test = if test_images > 0 {
        let d = crate::dataset::load(
            &crate::dataset::data_dir(data_dir),
            crate::dataset::Split::Test,
        )?;
        Some(d.take(test_images))
    } else {
        None
    };
    if let Some(g) = &b.golden {
        images.push(g.input.view());
    }
    if let Some(t) = &test {
        images.push(t.images.view());
    }
    let all = ndarray::concatenate(ndarray::Axis(0), &images).map_err(|_| {
        crate::Error::invalid(
            "images",
            "golden inputs or test images of the model's input shape",
            "none",
        )
    })?;
    Ok(BundleLean {
        bits: b.model.bits,
        outputs: compare_outputs(&b.model, &lean, all.view())?,
        study: s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arith::round_shift;
    use proptest::prelude::*;

    #[test]
    fn signed_widths() {
        assert_eq!(signed_bits(0, 0), 1);
        assert_eq!(signed_bits(-1, 0), 1);
        assert_eq!(signed_bits(-2, 1), 2);
        assert_eq!(signed_bits(-3, 1), 3);
        assert_eq!(signed_bits(0, 128), 9);
        assert_eq!(signed_bits(i32::MIN as i64, i32::MAX as i64), 32);
    }

    #[test]
    fn channels_with_different_exponents_share_no_shift() {
        let a = Requant::new(0x5001, 20).unwrap(); // odd, 15 bits: only S = 20
        let b = Requant::new(0x5001, 21).unwrap();
        assert_eq!(exact_shifts(a), (20, 20));
        assert_eq!(shared_shift(&[a, b]), None);
        let c = Requant::new(0x2800, 21).unwrap(); // 14 bits, 11 trailing zeros: 10..=22
        assert_eq!(exact_shifts(c), (10, 22));
        assert_eq!(shared_shift(&[a, c]), Some(20));
        assert_eq!(at_shift(c, 20), Requant::new(0x1400, 20).unwrap());
    }

    proptest! {
        /// A requantizer at any of its exact shifts computes the same value for every input.
        #[test]
        fn exact_shifts_are_the_same_function(
            m in 0u32..(1 << 15), s in 0u32..=47, v in -(1i64 << 31)..(1i64 << 31), pick in 0.0f64..1.0,
        ) {
            let rq = Requant::new(m, s).unwrap();
            let (lo, hi) = exact_shifts(rq);
            prop_assert!(m == 0 || (lo <= s && s <= hi));
            let t = lo + ((hi - lo) as f64 * pick).round() as u32;
            let r2 = at_shift(rq, t);
            prop_assert_eq!(round_shift(v * r2.multiplier as i64, r2.shift), round_shift(v * m as i64, s));
        }
    }
}
