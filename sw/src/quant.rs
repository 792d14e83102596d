//! QAT quantizers whose levels are exactly the contract's (unibit_core::arith).
//!
//! **Weights.** A B-bit weight is `s_c · (2u − (2^B − 1))` with code `u ∈ [0, 2^B − 1]` and a
//! real scale `s_c` per output channel. The scale is the per-channel *least-squares* fit of the
//! latent float weights to the odd-level grid, found by a few alternating (Lloyd) steps:
//! `levels ← nearest(w / s)`, `s ← ⟨w, levels⟩ / ⟨levels, levels⟩`, started from the
//! Gaussian-optimal step for that B (Max's table). It is computed from the weights (no gradient),
//! so it needs no learning rate or initialisation; at B = 1 one step is exactly XNOR-Net's
//! `mean|w|`, at B = 2 it is the TWN/LQ-Nets-style fit, and it follows the actual weight
//! distribution (usually heavier-tailed than Gaussian) at every B. Batch norm after every conv
//! absorbs the scale's magnitude, so what the scale decides is only where the rounding
//! boundaries fall — exactly what a least-squares fit optimises. Gradients pass straight
//! through (`w + (w_q − w).detach()`).
//!
//! **Activations.** One real scale per tensor, zero point 0, unsigned `[0, 255]` after a ReLU and
//! signed `[−128, 127]` otherwise, like the contract. During training the scale tracks an EMA of
//! the batch maximum (`max/255` or `max|x|/127`); in evaluation it is frozen. See
//! [`fake_quant_act`] for the rounding and the gradient.

use tch::{Kind, Tensor};
use unibit_core::{ActKind, Bits};

/// Alternating least-squares steps for the weight scale.
pub const SCALE_ITERATIONS: usize = 3;
/// Smallest weight scale (guards all-zero channels).
pub const MIN_SCALE: f64 = 1e-8;
/// EMA momentum of the activation range during training.
pub const ACT_MOMENTUM: f64 = 0.9;

/// Largest code and level, `2^B − 1`.
pub fn max_level(bits: Bits) -> f64 {
    bits.max_level() as f64
}

/// Gaussian-optimal half-step `s / σ` of a `2^B`-level symmetric uniform quantizer (Max 1960):
/// the optimal step Δ for unit variance divided by two (levels are `s · odd`).
pub fn gaussian_scale(bits: Bits) -> f64 {
    const STEP: [f64; 8] = [
        1.596, 0.9957, 0.5860, 0.3352, 0.1881, 0.1041, 0.0569, 0.0308,
    ];
    STEP[bits.get() as usize - 1] / 2.0
}

/// Codes `u = clamp(round((w/s + (2^B−1)) / 2), 0, 2^B−1)` for weights `w` and scales `s`
/// (broadcast over the first dimension). Returned as a float tensor of integer values.
pub fn codes_for(w: &Tensor, scale: &Tensor, bits: Bits) -> Tensor {
    let m = max_level(bits);
    ((w / scale + m) * 0.5).round().clamp(0.0, m)
}

/// Levels `2u − (2^B − 1)` of codes.
pub fn levels_of(codes: &Tensor, bits: Bits) -> Tensor {
    codes * 2.0 - max_level(bits)
}

/// `[out, 1, 1, …]` view shape for per-output-channel scales of a weight of rank `rank`.
fn channel_shape(out: i64, rank: usize) -> Vec<i64> {
    let mut s = vec![1i64; rank];
    s[0] = out;
    s
}

/// Least-squares scale of `w` on the odd-level grid, per output channel (`per_channel`) or one
/// for the whole tensor. Returns a tensor broadcastable against `w` (`[out, 1, 1, 1]` or
/// `[1, 1, 1, 1]`). No gradient flows through it.
pub fn weight_scale(w: &Tensor, bits: Bits, per_channel: bool) -> Tensor {
    tch::no_grad(|| {
        let w = w.detach();
        let size = w.size();
        let rank = size.len();
        let flat = if per_channel {
            w.reshape([size[0], -1])
        } else {
            w.reshape([1, -1])
        };
        let rms = flat
            .square()
            .mean_dim(Some([1i64].as_slice()), true, Kind::Float)
            .sqrt();
        let mut s = (rms * gaussian_scale(bits)).clamp_min(MIN_SCALE);
        for _ in 0..SCALE_ITERATIONS {
            let l = levels_of(&codes_for(&flat, &s, bits), bits);
            let num = (&flat * &l).sum_dim_intlist(Some([1i64].as_slice()), true, Kind::Float);
            let den = l
                .square()
                .sum_dim_intlist(Some([1i64].as_slice()), true, Kind::Float);
            s = (num / den).clamp_min(MIN_SCALE);
        }
        let out = if per_channel { size[0] } else { 1 };
        s.reshape(channel_shape(out, rank))
    })
}

/// Quantized weights with a straight-through gradient: forward `s · level`, backward identity.
pub fn fake_quant_weight(w: &Tensor, bits: Bits, per_channel: bool) -> Tensor {
    let s = weight_scale(w, bits, per_channel);
    let q = tch::no_grad(|| levels_of(&codes_for(&w.detach(), &s, bits), bits) * &s);
    w + (q - w).detach()
}

/// Integer range of an activation kind (`I32` is never fake-quantized).
pub fn act_range(kind: ActKind) -> (i64, i64) {
    let (lo, hi) = kind.range();
    (lo as i64, hi as i64)
}

/// The scale that maps the observed range `x` onto `kind`'s integers (`max/255`, `max|x|/127`).
pub fn observed_scale(x: &Tensor, kind: ActKind) -> f64 {
    let m = tch::no_grad(|| match kind {
        ActKind::U8 => x.max().double_value(&[]).max(0.0) / 255.0,
        _ => {
            // One pass for both ends (no |x| temporary).
            let (lo, hi) = x.aminmax(None, false);
            (-lo.double_value(&[])).max(hi.double_value(&[])) / 127.0
        }
    });
    m.max(MIN_SCALE)
}

/// Fake-quantize an activation to `kind` with `scale`: `s · clamp(round(x/s), lo, hi)`
/// (rounding half to even; ReLU is the clamp at 0 of `U8`). Gradient: straight through, masked
/// by the ReLU for `U8` but not at the top of the range (saturation above the calibrated maximum
/// is rare, and passing its gradient keeps the backward pass one cheap kernel).
///
/// Built from vectorized elementwise ops: libtorch's fused `fake_quantize_per_tensor_affine` CPU
/// kernel is scalar and measured ~70× slower than one vectorized op on this machine, which made
/// QAT training ~40% slower than float training.
pub fn fake_quant_act(x: &Tensor, scale: f64, kind: ActKind) -> Tensor {
    let (lo, hi) = act_range(kind);
    let c = if kind == ActKind::U8 {
        x.relu()
    } else {
        x.shallow_clone()
    };
    let delta = tch::no_grad(|| {
        let mut t = &c * (1.0 / scale);
        let _ = t.round_();
        let _ = t.clamp_(lo as f64, hi as f64);
        let _ = t.g_mul_scalar_(scale);
        let _ = t.g_sub_(&c);
        t
    });
    c + delta
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_bits() -> impl Iterator<Item = Bits> {
        (1..=8).map(|b| Bits::new(b).unwrap())
    }

    #[test]
    fn quantizer_levels_are_the_contracts_for_every_b() {
        tch::set_num_threads(1);
        tch::manual_seed(0);
        for bits in all_bits() {
            let w = Tensor::randn([6, 5, 3, 3], (Kind::Float, tch::Device::Cpu)) * 0.2;
            for per_channel in [true, false] {
                let s = weight_scale(&w, bits, per_channel);
                let q = fake_quant_weight(&w, bits, per_channel);
                let lv = (q / &s).round();
                let got: Vec<f32> = Vec::<f32>::try_from(lv.flatten(0, -1)).unwrap();
                let levels = bits.levels();
                for v in &got {
                    assert!(
                        levels.contains(&(*v as i32)),
                        "B={bits}: {v} is not a level"
                    );
                }
                // Both extremes are reachable: pushing a weight far out gives ±(2^B − 1).
                let far = Tensor::from_slice(&[1e3f32, -1e3]).reshape([2, 1, 1, 1]);
                let sf = Tensor::from_slice(&[1f32, 1.0]).reshape([2, 1, 1, 1]);
                let c = codes_for(&far, &sf, bits);
                let l = Vec::<f32>::try_from(levels_of(&c, bits).flatten(0, -1)).unwrap();
                assert_eq!(l, vec![bits.max_level() as f32, -bits.max_level() as f32]);
                // Code ↔ level agrees with unibit_core::arith::level.
                let c = Vec::<f32>::try_from(codes_for(&w, &s, bits).flatten(0, -1)).unwrap();
                for (code, level) in c.iter().zip(&got) {
                    assert_eq!(unibit_core::arith::level(*code as u8, bits), *level as i32);
                }
            }
        }
    }

    #[test]
    fn one_bit_scale_is_mean_abs() {
        let w = Tensor::from_slice(&[0.5f32, -1.5, 2.0, -0.2, 0.1, 0.1]).reshape([2, 3, 1, 1]);
        let s = weight_scale(&w, Bits::new(1).unwrap(), true);
        let s = Vec::<f32>::try_from(s.flatten(0, -1)).unwrap();
        assert!((s[0] - 4.0 / 3.0).abs() < 1e-6 && (s[1] - 0.4 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn ste_gradient_has_the_weights_shape_and_passes_through() {
        for bits in all_bits() {
            let w = Tensor::randn([4, 3, 3, 3], (Kind::Float, tch::Device::Cpu))
                .set_requires_grad(true);
            let q = fake_quant_weight(&w, bits, true);
            let g = Tensor::randn([4, 3, 3, 3], (Kind::Float, tch::Device::Cpu));
            (&q * &g).sum(Kind::Float).backward();
            let grad = w.grad();
            assert_eq!(grad.size(), w.size());
            assert!(grad.allclose(&g, 0.0, 0.0, false), "B={bits}: identity STE");
        }
        // Activations: straight through, zero below the ReLU; values on the contract's grid.
        let x = Tensor::from_slice(&[-1.0f32, 0.3, 1.0, 9.0]).set_requires_grad(true);
        let y = fake_quant_act(&x, 1.0 / 64.0, ActKind::U8);
        y.sum(Kind::Float).backward();
        let g = Vec::<f32>::try_from(x.grad()).unwrap();
        assert_eq!(g, vec![0.0, 1.0, 1.0, 1.0]);
        let yv = Vec::<f32>::try_from(y.detach()).unwrap();
        assert_eq!(yv, vec![0.0, 19.0 / 64.0, 1.0, 255.0 / 64.0]);
        let x = Tensor::from_slice(&[-9.0f32, -0.3, 0.3, 9.0]);
        let y = Vec::<f32>::try_from(fake_quant_act(&x, 1.0 / 64.0, ActKind::I8)).unwrap();
        assert_eq!(y, vec![-2.0, -19.0 / 64.0, 19.0 / 64.0, 127.0 / 64.0]);
    }
}
