//! The arithmetic contract shared by the trainer, the integer reference and the hardware.
//!
//! Every integer path in unibit (this crate's reference executor, the rust-hdl engine, the
//! generated Verilog) implements exactly the functions in this module; tests compare them.
//!
//! # Weights
//! One bitwidth `B ∈ 1..=8` for every conv and linear layer. A weight is stored as an unsigned
//! B-bit *code* `u ∈ [0, 2^B − 1]` and means the odd integer *level*
//!
//! ```text
//! w = 2u − (2^B − 1)          B = 1: {−1, 1}   B = 2: {−3, −1, 1, 3}   B = 8: {−255, …, 255}
//! ```
//!
//! times a per-output-channel real scale (folded into the requantizer, below).
//!
//! # Dot products on bit-serial hardware
//! ```text
//! Σ_k w_k·x_k = 2·Σ_j 2^j·(Σ_k bit_j(u_k)·x_k) − (2^B − 1)·Σ_k x_k
//! ```
//! The engine processes one bit-plane `j` per cycle; `Σ x` is computed once per input vector.
//! [`dot_bit_serial`] is that form, [`dot_levels`] the direct one; they are equal for all inputs.
//!
//! # Activations
//! 8-bit, zero point 0, one real scale per tensor: unsigned `[0, 255]` after a ReLU, signed
//! `[−128, 127]` otherwise ([`ActKind`]). The network input is the raw `u8` pixel. A conv/linear
//! layer that is the network's output keeps its raw 32-bit accumulator plus bias ([`ActKind::I32`]).
//!
//! # Requantization
//! For an accumulator `acc` (i32) and the channel's `bias` (i32, accumulator units), multiplier
//! `M ∈ [0, 2^15)` and shift `S ∈ [0, 47]`:
//!
//! ```text
//! v = acc + bias
//! y = clamp( (v·M + 2^(S−1)) >> S , lo, hi )      (S = 0: y = clamp(v·M, lo, hi))
//! ```
//! `>>` is an arithmetic shift (floor), so the rounding is *round half up* (towards +∞), done once.
//! `[lo, hi]` is the output kind's range; ReLU is the clamp at 0. The multiplier is 15 bits so it
//! is a non-negative operand of a 16×16 (iCE40 SB_MAC16) or 18×18 (ECP5) DSP multiplier.
//! Negative real scales (batch norm with γ < 0) are folded into the weight codes (`u → 2^B−1−u`
//! negates the level), so `M ≥ 0` always.
//!
//! Residual add: `y = clamp((a·Ma + b·Mb + 2^(S−1)) >> S, lo, hi)`.
//! Average pooling over `n` values: `y = clamp((Σ x · M + 2^(S−1)) >> S, lo, hi)`.

use serde::{Deserialize, Serialize};

/// Width of the requantizer's integer multiplier, in bits (unsigned).
pub const MULTIPLIER_BITS: u32 = 15;
/// Largest requantizer right shift.
pub const MAX_SHIFT: u32 = 47;
/// Largest reduction length (K) of one dot product: keeps `|acc| < 2^30`, so `acc + bias` fits i32.
pub const MAX_REDUCTION: usize = 1 << 14;
/// Largest magnitude of a bias, so that `acc + bias` fits 32 bits.
pub const MAX_BIAS_MAGNITUDE: i64 = 1 << 30;
/// Accumulator width of the software reference (and the upper bound for the hardware's).
pub const ACCUMULATOR_BITS: u32 = 32;

/// A weight bitwidth `B ∈ 1..=8`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Bits(u8);

impl Bits {
    pub const MIN: u8 = 1;
    pub const MAX: u8 = 8;

    pub fn new(b: u8) -> Result<Self, String> {
        if (Self::MIN..=Self::MAX).contains(&b) {
            Ok(Bits(b))
        } else {
            Err(format!("weight bitwidth must be 1..=8, got {b}"))
        }
    }
    pub fn get(self) -> u8 {
        self.0
    }
    /// Largest code, `2^B − 1`; also the offset between codes and levels.
    pub fn max_code(self) -> u8 {
        ((1u16 << self.0) - 1) as u8
    }
    /// Largest level, `2^B − 1` (the smallest is its negation).
    pub fn max_level(self) -> i32 {
        self.max_code() as i32
    }
    /// All levels in ascending order (`2^B` odd integers).
    pub fn levels(self) -> Vec<i32> {
        (0..=self.max_code()).map(|u| level(u, self)).collect()
    }
}

impl TryFrom<u8> for Bits {
    type Error = String;
    fn try_from(b: u8) -> Result<Self, String> {
        Bits::new(b)
    }
}
impl From<Bits> for u8 {
    fn from(b: Bits) -> u8 {
        b.0
    }
}
impl std::fmt::Display for Bits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}
impl std::str::FromStr for Bits {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let b: u8 = s
            .trim()
            .parse()
            .map_err(|_| format!("weight bitwidth must be an integer 1..=8, got {s:?}"))?;
        Bits::new(b)
    }
}

/// The odd level a code means: `2u − (2^B − 1)`. Codes above `2^B − 1` are masked to B bits.
#[inline]
pub fn level(code: u8, bits: Bits) -> i32 {
    2 * (code & bits.max_code()) as i32 - bits.max_level()
}

/// The code of an odd level, or `None` when `level` is not one of the `2^B` levels.
#[inline]
pub fn code(level: i32, bits: Bits) -> Option<u8> {
    let m = bits.max_level();
    if level < -m || level > m || (level + m) % 2 != 0 {
        return None;
    }
    Some(((level + m) / 2) as u8)
}

/// The code whose level is the negation of `code`'s (used to fold negative scales into weights).
#[inline]
pub fn negate_code(code: u8, bits: Bits) -> u8 {
    bits.max_code() - (code & bits.max_code())
}

/// Bit `j` of a code (bit-plane `j`).
#[inline]
pub fn bit_plane(code: u8, j: u8) -> bool {
    (code >> j) & 1 == 1
}

/// Direct dot product with levels: `Σ level(u_k)·x_k`.
pub fn dot_levels(codes: &[u8], x: &[i32], bits: Bits) -> i64 {
    assert_eq!(codes.len(), x.len(), "dot_levels: length mismatch");
    codes
        .iter()
        .zip(x)
        .map(|(&u, &x)| level(u, bits) as i64 * x as i64)
        .sum()
}

/// The bit-serial form the engine computes: one bit-plane per cycle, then the `Σ x` correction.
pub fn dot_bit_serial(codes: &[u8], x: &[i32], bits: Bits) -> i64 {
    assert_eq!(codes.len(), x.len(), "dot_bit_serial: length mismatch");
    let mut planes = 0i64;
    for j in 0..bits.get() {
        let partial: i64 = codes
            .iter()
            .zip(x)
            .filter(|(&u, _)| bit_plane(u, j))
            .map(|(_, &x)| x as i64)
            .sum();
        planes += partial << j;
    }
    let sum_x: i64 = x.iter().map(|&v| v as i64).sum();
    2 * planes - bits.max_level() as i64 * sum_x
}

/// Kind (range) of an activation tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActKind {
    /// Unsigned 8-bit `[0, 255]`: after a ReLU, and the network input.
    U8,
    /// Signed 8-bit `[−128, 127]`: no ReLU before it.
    I8,
    /// Raw 32-bit accumulator plus bias: only the network's final conv/linear output.
    I32,
}

impl ActKind {
    /// Inclusive range of values.
    pub fn range(self) -> (i32, i32) {
        match self {
            ActKind::U8 => (0, 255),
            ActKind::I8 => (-128, 127),
            ActKind::I32 => (i32::MIN, i32::MAX),
        }
    }
    pub fn clamp(self, v: i64) -> i32 {
        let (lo, hi) = self.range();
        v.clamp(lo as i64, hi as i64) as i32
    }
    pub fn contains(self, v: i64) -> bool {
        let (lo, hi) = self.range();
        v >= lo as i64 && v <= hi as i64
    }
    /// Largest magnitude a value of this kind can have.
    pub fn max_abs(self) -> i64 {
        match self {
            ActKind::U8 => 255,
            ActKind::I8 => 128,
            ActKind::I32 => 1 << 31,
        }
    }
    /// The `.npy` dtype used for golden vectors of this kind.
    pub fn dtype_name(self) -> &'static str {
        match self {
            ActKind::U8 => "uint8",
            ActKind::I8 => "int8",
            ActKind::I32 => "int32",
        }
    }
}

/// An integer multiplier and right shift approximating a real scale `M / 2^S`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Requant {
    pub multiplier: u32,
    pub shift: u32,
}

impl Requant {
    /// Checked constructor: `multiplier < 2^15`, `shift ≤ 47`.
    pub fn new(multiplier: u32, shift: u32) -> Result<Self, String> {
        if multiplier >= 1 << MULTIPLIER_BITS {
            return Err(format!(
                "multiplier must be < 2^{MULTIPLIER_BITS} = {}, got {multiplier}",
                1u32 << MULTIPLIER_BITS
            ));
        }
        if shift > MAX_SHIFT {
            return Err(format!("shift must be 0..={MAX_SHIFT}, got {shift}"));
        }
        Ok(Requant { multiplier, shift })
    }

    /// The closest `M / 2^S` to a real scale `m ≥ 0`, with the most precise M that fits 15 bits.
    /// Scales too large for `S = 0` are an error; scales too small saturate at `S = 47`.
    pub fn from_real(m: f64) -> Result<Self, String> {
        if !m.is_finite() || m < 0.0 {
            return Err(format!(
                "requantization scale must be finite and ≥ 0, got {m}"
            ));
        }
        if m == 0.0 {
            return Ok(Requant {
                multiplier: 0,
                shift: 0,
            });
        }
        let top = (1u64 << MULTIPLIER_BITS) as f64;
        // Largest S with round(m·2^S) < 2^15.
        let mut shift = 0u32;
        if (m).round() >= top {
            return Err(format!(
                "requantization scale {m} is too large for a {MULTIPLIER_BITS}-bit multiplier with shift 0"
            ));
        }
        while shift < MAX_SHIFT && (m * 2f64.powi(shift as i32 + 1)).round() < top {
            shift += 1;
        }
        let multiplier = (m * 2f64.powi(shift as i32)).round() as u32;
        Requant::new(multiplier, shift)
    }

    /// The real scale this pair stands for.
    pub fn real(self) -> f64 {
        self.multiplier as f64 / 2f64.powi(self.shift as i32)
    }

    /// `(v·M + 2^(S−1)) >> S` without the clamp (round half up).
    #[inline]
    pub fn scale_round(self, v: i64) -> i64 {
        round_shift(v * self.multiplier as i64, self.shift)
    }
}

/// `(p + 2^(S−1)) >> S` with an arithmetic shift: division by `2^S`, rounding half up.
#[inline]
pub fn round_shift(p: i64, shift: u32) -> i64 {
    if shift == 0 {
        p
    } else {
        (p + (1i64 << (shift - 1))) >> shift
    }
}

/// Requantize one accumulator: `clamp(((acc + bias)·M + 2^(S−1)) >> S)` into `out`'s range.
/// For [`ActKind::I32`] (raw output) the result is `acc + bias` and the requantizer is unused.
#[inline]
pub fn requantize(acc: i64, bias: i32, rq: Requant, out: ActKind) -> i32 {
    let v = acc + bias as i64;
    match out {
        ActKind::I32 => out.clamp(v),
        _ => out.clamp(rq.scale_round(v)),
    }
}

/// Residual add: `clamp((a·Ma + b·Mb + 2^(S−1)) >> S)`; `ma` and `mb` share the shift.
#[inline]
pub fn requantize_add(a: i32, b: i32, ma: u32, mb: u32, shift: u32, out: ActKind) -> i32 {
    let p = a as i64 * ma as i64 + b as i64 * mb as i64;
    out.clamp(round_shift(p, shift))
}

/// Average pooling: `clamp((Σx · M + 2^(S−1)) >> S)` for a window sum `sum`.
#[inline]
pub fn requantize_pool(sum: i64, rq: Requant, out: ActKind) -> i32 {
    out.clamp(rq.scale_round(sum))
}

/// Accumulator bits that can never overflow for a K-long dot product of B-bit weights with
/// 9-bit signed activations: `8 + B + ⌈log2 K⌉ + 2`.
pub fn accumulator_bits(bits: Bits, k: usize) -> u32 {
    let log2k = usize::BITS - (k.max(1) - 1).leading_zeros();
    8 + bits.get() as u32 + log2k + 2
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_bits() -> impl Strategy<Value = Bits> {
        (1u8..=8).prop_map(|b| Bits::new(b).unwrap())
    }

    #[test]
    fn level_sets() {
        assert_eq!(Bits::new(1).unwrap().levels(), vec![-1, 1]);
        assert_eq!(Bits::new(2).unwrap().levels(), vec![-3, -1, 1, 3]);
        let l8 = Bits::new(8).unwrap().levels();
        assert_eq!((l8[0], l8[255], l8.len()), (-255, 255, 256));
        assert!(Bits::new(0).is_err() && Bits::new(9).is_err());
        assert!("9".parse::<Bits>().is_err() && "x".parse::<Bits>().is_err());
    }

    #[test]
    fn requant_rounds_half_up() {
        let rq = Requant::new(1, 1).unwrap(); // ×1/2
        assert_eq!(rq.scale_round(3), 2); // 1.5 → 2
        assert_eq!(rq.scale_round(-3), -1); // −1.5 → −1 (half up, not away from zero)
        assert_eq!(rq.scale_round(-4), -2);
        assert_eq!(
            requantize(1000, 0, Requant::new(1, 0).unwrap(), ActKind::U8),
            255
        );
        assert_eq!(
            requantize(-5, 0, Requant::new(1, 0).unwrap(), ActKind::U8),
            0
        );
        assert_eq!(
            requantize(-500, 0, Requant::new(1, 0).unwrap(), ActKind::I8),
            -128
        );
        assert_eq!(
            requantize(7, -3, Requant::new(0, 0).unwrap(), ActKind::I32),
            4
        );
        assert!(Requant::new(1 << 15, 0).is_err() && Requant::new(1, 48).is_err());
    }

    #[test]
    fn accumulator_width() {
        let b8 = Bits::new(8).unwrap();
        assert_eq!(accumulator_bits(b8, 1), 18);
        assert_eq!(accumulator_bits(b8, 576), 28);
        assert!(accumulator_bits(b8, MAX_REDUCTION) <= ACCUMULATOR_BITS);
    }

    proptest! {
        #[test]
        fn code_level_round_trip(bits in any_bits(), u in 0u8..=255) {
            let u = u & bits.max_code();
            let l = level(u, bits);
            prop_assert!(l % 2 != 0);
            prop_assert!(l.abs() <= bits.max_level());
            prop_assert_eq!(code(l, bits), Some(u));
            prop_assert_eq!(level(negate_code(u, bits), bits), -l);
        }

        #[test]
        fn non_levels_have_no_code(bits in any_bits(), l in -600i32..600) {
            let is_level = bits.levels().contains(&l);
            prop_assert_eq!(code(l, bits).is_some(), is_level);
        }

        #[test]
        fn bit_serial_equals_direct(
            bits in any_bits(),
            pairs in prop::collection::vec((0u8..=255, -128i32..=255), 0..300),
        ) {
            let codes: Vec<u8> = pairs.iter().map(|p| p.0 & bits.max_code()).collect();
            let x: Vec<i32> = pairs.iter().map(|p| p.1).collect();
            prop_assert_eq!(dot_bit_serial(&codes, &x, bits), dot_levels(&codes, &x, bits));
        }

        #[test]
        fn requantize_matches_wide_formula(
            acc in -(1i64 << 30)..(1i64 << 30),
            bias in -(1i32 << 30)..(1i32 << 30),
            m in 0u32..(1 << 15),
            s in 0u32..=47,
            kind in prop_oneof![Just(ActKind::U8), Just(ActKind::I8)],
        ) {
            let rq = Requant::new(m, s).unwrap();
            let got = requantize(acc, bias, rq, kind);
            // Wide evaluation of the documented formula with exact rational rounding.
            let v = (acc as i128 + bias as i128) * m as i128;
            let den = 1i128 << s;
            // floor((v + den/2) / den) == round half up of v/den
            let want = if s == 0 { v } else { (v + den / 2).div_euclid(den) };
            let (lo, hi) = kind.range();
            prop_assert_eq!(got as i128, want.clamp(lo as i128, hi as i128));
        }

        #[test]
        fn from_real_is_close(m in 1e-9f64..30000.0) {
            let rq = Requant::from_real(m).unwrap();
            prop_assert!(rq.multiplier < 1 << 15);
            let rel = (rq.real() - m).abs() / m;
            // 15-bit mantissa, except where the shift saturates at 47.
            if rq.shift < MAX_SHIFT {
                prop_assert!(rel <= 1.0 / (1u64 << 14) as f64, "m={} rq={:?} rel={}", m, rq, rel);
            }
        }
    }
}
