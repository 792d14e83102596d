//! The engine's memory layout, tile descriptor and a pure-Rust functional model.
//!
//! Everything here is what the hardware computes, written with `unibit_core::arith`; the
//! rust-hdl engine and the generated Verilog are tested against it.
//!
//! # Memory layout (all addresses are word addresses)
//! * **Weight memory**, word = `R·C` bits. For a row tile at `w_base` with `chunks = ⌈K/C⌉` lane
//!   chunks, word `w_base + (B−1−j)·chunks + ch` holds bit-plane `j` (most significant plane
//!   first) of lane chunk `ch`; bit `r·C + c` of the word is `bit_j(code[r][ch·C + c])`.
//!   Rows `≥ rows` and lanes `≥ K` are 0.
//! * **Activation memory**, word = `9·C` bits. Vector `v`, chunk `ch` is word
//!   `a_base + v·chunks + ch`; lane `c` occupies bits `[9c, 9c+9)` as a 9-bit two's-complement
//!   value (u8 or i8 activations). Lanes `≥ K` must be 0.
//! * **Parameter memory**, word = 64 bits, one per tile row at `p_base + r`:
//!   bits `[31:0]` bias (i32), `[46:32]` multiplier (15 bits), `[52:47]` shift (0..=47),
//!   `[54:53]` output kind (0 = U8, 1 = I8, 2 = I32 raw `acc + bias`).
//! * **Output memory**, word = 32 bits: output `(v, r)` is at `o_base + v·rows + r`,
//!   two's complement.
//!
//! Address arithmetic wraps at each memory's depth.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use unibit_core::arith::{self, ActKind, Bits, Requant};

/// A GEMM tile: `rows ≤ R` outputs, `chunks = ⌈K/C⌉` lane chunks, `vectors = N` inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TileDesc {
    pub rows: usize,
    pub chunks: usize,
    pub vectors: usize,
    pub w_base: usize,
    pub a_base: usize,
    pub o_base: usize,
    pub p_base: usize,
}

/// Per-row requantization parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowParams {
    pub bias: i32,
    pub requant: Requant,
    pub kind: ActKind,
}

impl RowParams {
    /// The 64-bit parameter-memory word.
    pub fn word(&self) -> u64 {
        let kind = match self.kind {
            ActKind::U8 => 0u64,
            ActKind::I8 => 1,
            ActKind::I32 => 2,
        };
        (self.bias as u32 as u64)
            | ((self.requant.multiplier as u64 & 0x7fff) << 32)
            | ((self.requant.shift as u64 & 0x3f) << 47)
            | (kind << 53)
    }

    /// Decode a parameter word exactly as the hardware does (kind 3 behaves as I32).
    pub fn from_word(w: u64) -> RowParams {
        let kind = match (w >> 53) & 3 {
            0 => ActKind::U8,
            1 => ActKind::I8,
            _ => ActKind::I32,
        };
        RowParams {
            bias: w as u32 as i32,
            requant: Requant {
                multiplier: ((w >> 32) & 0x7fff) as u32,
                shift: ((w >> 47) & 0x3f) as u32,
            },
            kind,
        }
    }
}

/// Static shape of an engine: weight bitwidth, rows, lanes and memory address widths.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineParams {
    pub bits: u8,
    pub rows: usize,
    pub cols: usize,
    /// Address widths (log2 depth) of the weight, activation, output and parameter memories.
    pub w_addr_bits: u32,
    pub a_addr_bits: u32,
    pub o_addr_bits: u32,
    pub p_addr_bits: u32,
}

impl EngineParams {
    pub fn bits(&self) -> Bits {
        Bits::new(self.bits).expect("EngineParams.bits is validated at construction")
    }
    pub fn w_depth(&self) -> usize {
        1 << self.w_addr_bits
    }
    pub fn a_depth(&self) -> usize {
        1 << self.a_addr_bits
    }
    pub fn o_depth(&self) -> usize {
        1 << self.o_addr_bits
    }
    pub fn p_depth(&self) -> usize {
        1 << self.p_addr_bits
    }
    /// Registered levels of one row's adder tree (leaf registers included).
    pub fn tree_latency(&self) -> u64 {
        tree_latency(self.cols)
    }

    /// The controller's timing constants for `unibit_core::cost` (its
    /// [`unibit_core::cost::TileEngine::timing`], the one statement of them).
    ///
    /// The exact cycle count of a tile ([`EngineParams::tile_cycles`]) is
    /// `tile_overhead + N·max(⌈K/C⌉·B, rows) + min(⌈K/C⌉·B, rows)` — compute and the
    /// one-row-per-cycle requantizer drain form a two-stage pipeline — which is exactly
    /// `unibit_core::cost::EngineConfig::tile_cycles` with these constants.
    pub fn timing(&self) -> unibit_core::cost::Timing {
        self.tile_engine().timing()
    }

    /// Fixed cycles of a tile: controller start, memory read, operand registers, the adder
    /// tree, accumulate, hand-off, and the requantizer's pipeline.
    pub fn fixed_tile_overhead(&self) -> u64 {
        self.timing().tile_overhead
    }

    /// Exact cycles from `start` to `done` for a tile (what the hardware's cycle counter reads).
    pub fn tile_cycles(&self, rows: usize, chunks: usize, vectors: usize) -> u64 {
        let p = (chunks * self.bits as usize) as u64;
        let q = rows as u64;
        self.fixed_tile_overhead() + vectors as u64 * p.max(q) + p.min(q)
    }

    /// These parameters as a `unibit_core::cost::TileEngine` (its own memory depths, which
    /// for [`crate::configs::engine_params`] are the core table's).
    pub fn tile_engine(&self) -> unibit_core::cost::TileEngine {
        unibit_core::cost::TileEngine {
            rows: self.rows,
            cols: self.cols,
            w_addr_bits: self.w_addr_bits,
            a_addr_bits: self.a_addr_bits,
            o_addr_bits: self.o_addr_bits,
            p_addr_bits: self.p_addr_bits,
        }
    }

    /// The cost model's view of this engine (timing and memory depths): what `unibit cost`
    /// predicts with and what cosimulation splits vectors by. For a supported configuration it
    /// equals `unibit_core::cost::tile_engine(bits, rows, cols)`.
    pub fn engine_config(&self) -> Result<unibit_core::cost::EngineConfig> {
        // Same range checks as any cost-model engine.
        unibit_core::cost::EngineConfig::new(self.rows, self.cols, self.bits())?;
        Ok(self.tile_engine().config(self.bits()))
    }

    /// Checks a descriptor against this engine (sizes and memory bounds, no wrap-around).
    pub fn check(&self, d: &TileDesc) -> Result<()> {
        if d.rows == 0 || d.rows > self.rows {
            return Err(Error::invalid(
                "tile rows",
                format!("1..={}", self.rows),
                d.rows,
            ));
        }
        if d.chunks == 0 || d.chunks > 0xffff / 8 {
            return Err(Error::invalid(
                "tile chunks",
                format!("1..={}", 0xffff / 8),
                d.chunks,
            ));
        }
        if d.vectors == 0 || d.vectors > 0xffff {
            return Err(Error::invalid("tile vectors", "1..=65535", d.vectors));
        }
        let words = |n: usize, start: usize, depth: usize, memory: &'static str| {
            if start + n > depth {
                Err(Error::MemoryBounds {
                    memory,
                    start,
                    end: start + n,
                    depth,
                })
            } else {
                Ok(())
            }
        };
        words(
            d.chunks * self.bits as usize,
            d.w_base,
            self.w_depth(),
            "weight",
        )?;
        words(d.chunks * d.vectors, d.a_base, self.a_depth(), "activation")?;
        words(d.rows * d.vectors, d.o_base, self.o_depth(), "output")?;
        words(d.rows, d.p_base, self.p_depth(), "parameter")?;
        Ok(())
    }
}

/// Cycles of the tile pipeline that do not depend on the tree depth (the design constant the
/// controller meets, stated once in unibit-core; see `controller.rs` for the stages).
pub use unibit_core::cost::FIXED_OVERHEAD;

/// Accumulator bits of an engine: every dot product it can compute fits them in two's
/// complement. A tile's reduction is at most `K_max = (2^WA / B)·C` (its bit-planes must fit
/// the weight memory) and activations are 9-bit signed, so `|dot| ≤ (2^B − 1)·256·K_max`;
/// `8 + B + ⌈log2 K_max⌉ + 2` bits (the contract's rule) are enough, capped at 32.
pub fn accumulator_bits(bits: u8, cols: usize, w_addr_bits: usize) -> u32 {
    let k_max = ((1usize << w_addr_bits) / bits as usize).max(1) * cols;
    let log2k = usize::BITS - (k_max - 1).leading_zeros();
    (8 + bits as u32 + log2k + 2).min(32)
}

/// Registered levels in a C-lane adder tree: the leaves, every other level above them, and the
/// root — `unibit_core::cost::tree_latency`, which the tree built by [`tree_level_registered`]
/// meets (tested below).
pub use unibit_core::cost::tree_latency;

/// Whether heap depth `d` (root 0, leaves `lg`) of a tree over `2^lg` lanes is registered.
pub fn tree_level_registered(lg: usize, d: usize) -> bool {
    d == lg || d == 0 || (lg - d).is_multiple_of(2)
}

/// Weight words (bit-planes) of one row tile: `codes` is `rows × k` row-major.
/// Returns `B·chunks` words, each `R·C` bits as little-endian u64 limbs.
pub fn weight_words(
    codes: &[u8],
    rows: usize,
    k: usize,
    bits: Bits,
    r_max: usize,
    c: usize,
) -> Vec<Vec<u64>> {
    assert!(rows <= r_max && codes.len() == rows * k);
    let chunks = k.div_ceil(c).max(1);
    let limbs = (r_max * c).div_ceil(64);
    let b = bits.get();
    let mut out = Vec::with_capacity(b as usize * chunks);
    for j in (0..b).rev() {
        for ch in 0..chunks {
            let mut w = vec![0u64; limbs];
            for r in 0..rows {
                for lane in 0..c {
                    let kk = ch * c + lane;
                    if kk < k && arith::bit_plane(codes[r * k + kk], j) {
                        let bit = r * c + lane;
                        w[bit / 64] |= 1 << (bit % 64);
                    }
                }
            }
            out.push(w);
        }
    }
    out
}

/// Activation words of `vectors × k` activations (row-major): `vectors·chunks` words of C lanes.
pub fn activation_words(x: &[i32], k: usize, c: usize) -> Vec<Vec<i32>> {
    assert!(k > 0 && x.len().is_multiple_of(k));
    let chunks = k.div_ceil(c);
    let mut out = vec![];
    for v in x.chunks(k) {
        for ch in 0..chunks {
            out.push(
                (0..c)
                    .map(|lane| v.get(ch * c + lane).copied().unwrap_or(0))
                    .collect(),
            );
        }
    }
    out
}

/// Packs C 9-bit lanes into little-endian u64 limbs (lane c at bits [9c, 9c+9)).
pub fn pack_lanes(lanes: &[i32]) -> Vec<u64> {
    let mut w = vec![0u64; (9 * lanes.len()).div_ceil(64)];
    for (c, &x) in lanes.iter().enumerate() {
        let v = (x as u32 & 0x1ff) as u64;
        for b in 0..9 {
            if (v >> b) & 1 == 1 {
                let bit = 9 * c + b;
                w[bit / 64] |= 1 << (bit % 64);
            }
        }
    }
    w
}

/// The functional model of one tile: `out[v·rows + r] = requantize(Σ_k level(u[r][k])·x[v][k])`.
pub fn run_tile(codes: &[u8], x: &[i32], k: usize, bits: Bits, params: &[RowParams]) -> Vec<i32> {
    let rows = params.len();
    assert_eq!(codes.len(), rows * k);
    let mut out = vec![];
    for v in x.chunks(k) {
        for (r, p) in params.iter().enumerate() {
            let acc = arith::dot_bit_serial(&codes[r * k..(r + 1) * k], v, bits);
            out.push(arith::requantize(acc, p.bias, p.requant, p.kind));
        }
    }
    out
}

/// A memory-level model of the engine: the same memories as the hardware and a `run` that reads
/// them exactly as the controller does. Used as the oracle for the rust-hdl and Verilog engines.
#[derive(Clone, Debug)]
pub struct EngineModel {
    pub params: EngineParams,
    /// Weight words as bit vectors of length R·C.
    pub wmem: Vec<Vec<u64>>,
    /// Activation words as C lane values (9-bit two's complement, sign-extended).
    pub amem: Vec<Vec<i32>>,
    pub pmem: Vec<u64>,
    pub omem: Vec<i32>,
}

impl EngineModel {
    pub fn new(params: EngineParams) -> Self {
        let limbs = (params.rows * params.cols).div_ceil(64);
        EngineModel {
            params,
            wmem: vec![vec![0; limbs]; params.w_depth()],
            amem: vec![vec![0; params.cols]; params.a_depth()],
            pmem: vec![0; params.p_depth()],
            omem: vec![0; params.o_depth()],
        }
    }

    /// Runs a tile; returns its cycle count.
    pub fn run(&mut self, d: &TileDesc) -> u64 {
        let p = &self.params;
        let (rr, cc) = (p.rows, p.cols);
        let b = p.bits();
        let sext9 = |v: i32| ((v & 0x1ff) ^ 0x100) - 0x100;
        for v in 0..d.vectors {
            for r in 0..d.rows {
                let mut codes = vec![];
                let mut xs = vec![];
                for ch in 0..d.chunks {
                    let aw = &self.amem[(d.a_base + v * d.chunks + ch) % p.a_depth()];
                    for (lane, &xv) in aw.iter().enumerate().take(cc) {
                        let mut u = 0u8;
                        for j in 0..b.get() {
                            let addr = (d.w_base + (b.get() - 1 - j) as usize * d.chunks + ch)
                                % p.w_depth();
                            let bit = r * cc + lane;
                            if (self.wmem[addr][bit / 64] >> (bit % 64)) & 1 == 1 {
                                u |= 1 << j;
                            }
                        }
                        codes.push(u);
                        xs.push(sext9(xv));
                    }
                }
                let acc = arith::dot_bit_serial(&codes, &xs, b);
                let rp = RowParams::from_word(self.pmem[(d.p_base + r) % p.p_depth()]);
                // The hardware wraps acc + bias at 32 bits (exact within the contract).
                let y = match rp.kind {
                    ActKind::I32 => (acc as i32).wrapping_add(rp.bias),
                    _ => arith::requantize(acc, rp.bias, rp.requant, rp.kind),
                };
                self.omem[(d.o_base + v * d.rows + r) % p.o_depth()] = y;
            }
        }
        let _ = rr;
        p.tile_cycles(d.rows, d.chunks, d.vectors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn param_word_round_trip() {
        for kind in [ActKind::U8, ActKind::I8, ActKind::I32] {
            let p = RowParams {
                bias: -123456,
                requant: Requant::new(32767, 47).unwrap(),
                kind,
            };
            assert_eq!(RowParams::from_word(p.word()), p);
        }
    }

    #[test]
    fn registered_tree_levels_are_the_cost_models_latency() {
        for lg in 0..=10usize {
            let registered = (0..=lg).filter(|&d| tree_level_registered(lg, d)).count() as u64;
            assert_eq!(registered, tree_latency(1 << lg), "C = {}", 1 << lg);
        }
    }

    #[test]
    fn tree_latencies() {
        assert_eq!(tree_latency(2), 2);
        assert_eq!(tree_latency(4), 2);
        assert_eq!(tree_latency(8), 3);
        assert_eq!(tree_latency(16), 3);
        assert_eq!(tree_latency(32), 4);
    }

    #[test]
    fn memory_model_equals_run_tile() {
        let b = Bits::new(3).unwrap();
        let params = EngineParams {
            bits: 3,
            rows: 4,
            cols: 4,
            w_addr_bits: 6,
            a_addr_bits: 6,
            o_addr_bits: 6,
            p_addr_bits: 4,
        };
        let (rows, k, n) = (3, 10, 2);
        let codes: Vec<u8> = (0..rows * k).map(|i| (i * 5 % 8) as u8).collect();
        let x: Vec<i32> = (0..n * k).map(|i| (i as i32 * 37 % 384) - 128).collect();
        let rp: Vec<RowParams> = (0..rows)
            .map(|r| RowParams {
                bias: r as i32 * 100 - 50,
                requant: Requant::new(1000 + r as u32, 12).unwrap(),
                kind: [ActKind::U8, ActKind::I8, ActKind::I32][r],
            })
            .collect();
        let want = run_tile(&codes, &x, k, b, &rp);
        let mut m = EngineModel::new(params);
        let d = TileDesc {
            rows,
            chunks: 3,
            vectors: n,
            w_base: 5,
            a_base: 7,
            o_base: 3,
            p_base: 2,
        };
        for (i, w) in weight_words(&codes, rows, k, b, 4, 4)
            .into_iter()
            .enumerate()
        {
            m.wmem[d.w_base + i] = w;
        }
        for (i, a) in activation_words(&x, k, 4).into_iter().enumerate() {
            m.amem[d.a_base + i] = a;
        }
        for (r, p) in rp.iter().enumerate() {
            m.pmem[d.p_base + r] = p.word();
        }
        params.check(&d).unwrap();
        m.run(&d);
        assert_eq!(&m.omem[3..3 + rows * n], &want[..]);
    }
}
