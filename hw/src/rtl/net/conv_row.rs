//! One row of the conv body's array (docs/engine.md §5 "Conv / linear body"): the gated adder
//! tree over the C = 8 lanes, the chunk's plane shift register `t`, the vector accumulator
//! `acc`, the row's own correction sum `k` (masked: the mask plane; depthwise: its own lane),
//! and the hand-off registers the requantizer lanes read while the next vector accumulates.
//!
//! Planes arrive chunk-major, plane-minor, MSB first; the flags describe the tree output of
//! this cycle (they travel down the unit's delay line next to the data). The tree adds
//! 2048 = 256·C to every sum (`adder_tree.rs`), so `acc` carries `2048·(2^B − 1)` per chunk
//! and every correction sum carries 4096 per chunk; `2·acc − (2^B − 1)·K` cancels both.
//!
//! Widths: the contract bounds a dot product to `K ≤ MAX_REDUCTION` terms, so it fits
//! `W = accumulator_bits(B, MAX_REDUCTION)` signed bits; `acc` and `k` are kept modulo 2^W
//! (masked, so yosys drops the bits above) and the lane computes
//! `dot = sext_W(2·acc_h + k_h − (k_h << B))` — once per output, not once per row. `t` holds
//! one chunk's planes, `Σ_j 2^j·S_j < 2^(12 + B)`, exactly.

use crate::rtl::adder_tree::AdderTree;
use rust_hdl::prelude::*;
use unibit_core::arith::{accumulator_bits, MAX_REDUCTION};
use unibit_core::Bits as WBits;

/// Accumulator width of the conv body for weight bitwidth `b`: the contract's bound for a
/// `MAX_REDUCTION`-long dot product (26 bits at B = 2, 32 at B = 8).
pub fn acc_width(b: u8) -> u32 {
    accumulator_bits(WBits::new(b).expect("bits 1..=8"), MAX_REDUCTION)
}

#[derive(LogicBlock)]
pub struct ConvRow {
    pub clock: Signal<In, Clock>,
    /// The chunk's activations (9-bit lanes) and this row's weight bits, entering the tree.
    pub x: Signal<In, Bits<72>>,
    pub w: Signal<In, Bits<8>>,
    /// Flags of the tree output of this cycle: a plane is valid, is the chunk's first plane,
    /// its last value plane (B − 1), the mask plane (B), the vector's first chunk, and the
    /// vector's last cycle (hand-off).
    pub f_val: Signal<In, Bit>,
    pub f_fp: Signal<In, Bit>,
    pub f_lp: Signal<In, Bit>,
    pub f_mk: Signal<In, Bit>,
    pub f_fc: Signal<In, Bit>,
    pub f_h: Signal<In, Bit>,
    pub masked: Signal<In, Bit>,
    pub diagonal: Signal<In, Bit>,
    /// Depthwise: the row's own lane of the chunk, aligned with the tree output.
    pub xr: Signal<In, Bits<9>>,
    /// The vector's `acc` and (masked / depthwise) own correction sum `k`, modulo 2^W.
    pub acc_h: Signal<Out, Bits<32>>,
    pub k_h: Signal<Out, Bits<32>>,
    tree: AdderTree<8, 16, 72, 12>,
    t: DFF<Bits<32>>,
    acc: DFF<Bits<32>>,
    k: DFF<Bits<32>>,
    acch: DFF<Bits<32>>,
    kh: DFF<Bits<32>>,
    s32: Signal<Local, Bits<32>>,
    tnew: Signal<Local, Bits<32>>,
    accn: Signal<Local, Bits<32>>,
    kinc: Signal<Local, Bits<32>>,
    kn: Signal<Local, Bits<32>>,
    kfin: Signal<Local, Bits<32>>,
    afin: Signal<Local, Bits<32>>,
    kupd: Signal<Local, Bit>,
    c2048: Constant<Bits<32>>,
    c4096: Constant<Bits<32>>,
    sx9: Constant<Bits<32>>,
    /// 2^(12 + B) − 1 and 2^W − 1.
    mt: Constant<Bits<32>>,
    mw: Constant<Bits<32>>,
}

impl ConvRow {
    /// A row for weight bitwidth `b` (1..=8).
    pub fn new(b: u8) -> Self {
        assert!((1..=8).contains(&b), "bits must be 1..=8, got {b}");
        let w = acc_width(b);
        Self {
            clock: Default::default(),
            x: Default::default(),
            w: Default::default(),
            f_val: Default::default(),
            f_fp: Default::default(),
            f_lp: Default::default(),
            f_mk: Default::default(),
            f_fc: Default::default(),
            f_h: Default::default(),
            masked: Default::default(),
            diagonal: Default::default(),
            xr: Default::default(),
            acc_h: Default::default(),
            k_h: Default::default(),
            tree: AdderTree::new(),
            t: Default::default(),
            acc: Default::default(),
            k: Default::default(),
            acch: Default::default(),
            kh: Default::default(),
            s32: Default::default(),
            tnew: Default::default(),
            accn: Default::default(),
            kinc: Default::default(),
            kn: Default::default(),
            kfin: Default::default(),
            afin: Default::default(),
            kupd: Default::default(),
            c2048: Constant::new(bits(2048)),
            c4096: Constant::new(bits(4096)),
            sx9: Constant::new(bits(0xffff_fe00)),
            mt: Constant::new(bits((1u64 << (12 + b as u64)) - 1)),
            mw: Constant::new(bits((1u64 << w) - 1)),
        }
    }
}

impl Logic for ConvRow {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, t, acc, k, acch, kh);
        self.tree.clock.next = self.clock.val();
        self.tree.x.next = self.x.val();
        self.tree.w.next = self.w.val();
        self.s32.next = bit_cast::<32, 12>(self.tree.sum.val());
        // t ← 2·t + S within a chunk (cleared at its first plane).
        if self.f_fp.val() {
            self.tnew.next = self.s32.val();
        } else {
            self.tnew.next = ((self.t.q.val() << 1) + self.s32.val()) & self.mt.val();
        }
        // acc ← acc + t at the chunk's last value plane (cleared at the vector's first chunk).
        if self.f_fc.val() {
            self.accn.next = self.tnew.val();
        } else {
            self.accn.next = (self.acc.q.val() + self.tnew.val()) & self.mw.val();
        }
        // The row's own correction: the mask plane's sum, or its own lane (depthwise).
        if self.masked.val() {
            self.kinc.next = self.s32.val() + self.c2048.val();
        } else if self.xr.val().get_bit(8) {
            self.kinc.next = (bit_cast::<32, 9>(self.xr.val()) | self.sx9.val()) + self.c4096.val();
        } else {
            self.kinc.next = bit_cast::<32, 9>(self.xr.val()) + self.c4096.val();
        }
        if self.f_fc.val() {
            self.kn.next = self.kinc.val() & self.mw.val();
        } else {
            self.kn.next = (self.k.q.val() + self.kinc.val()) & self.mw.val();
        }
        self.kupd.next =
            (self.masked.val() & self.f_mk.val()) | (self.diagonal.val() & self.f_fp.val());
        if self.f_val.val() {
            if !self.f_mk.val() {
                if self.f_lp.val() {
                    self.acc.d.next = self.accn.val();
                } else {
                    self.t.d.next = self.tnew.val();
                }
            }
            if self.kupd.val() {
                self.k.d.next = self.kn.val();
            }
        }
        // ---- hand-off: the vector's final sums ----
        if self.kupd.val() {
            self.kfin.next = self.kn.val();
        } else {
            self.kfin.next = self.k.q.val();
        }
        if self.f_lp.val() {
            self.afin.next = self.accn.val();
        } else {
            self.afin.next = self.acc.q.val();
        }
        if self.f_val.val() & self.f_h.val() {
            self.acch.d.next = self.afin.val();
            self.kh.d.next = self.kfin.val();
        }
        self.acc_h.next = self.acch.q.val();
        self.k_h.next = self.kh.q.val();
    }
}
