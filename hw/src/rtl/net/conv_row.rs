//! One row of the conv body's array (docs/engine.md §5 "Conv / linear body"): the gated adder
//! tree over the C = 8 lanes, the chunk's plane shift register `t`, the vector accumulator
//! `acc` and the hand-off register the requantizer lanes read while the next vector
//! accumulates.
//!
//! Planes arrive chunk-major, plane-minor, MSB first; the flags describe the tree output of
//! this cycle (they travel down the unit's delay line next to the data). The tree adds
//! 2048 = 256·C to every sum (`adder_tree.rs`), so `2·t` carries `4096·(2^B − 1)` per chunk
//! and every correction sum carries 4096 per chunk; `2·Σt − (2^B − 1)·K` cancels both.
//!
//! `acc` accumulates `2·t` at each chunk's last value plane, minus the row's own correction
//! `(2^B − 1)·K` where the row has one: the mask plane's sum (masked, at the mask plane) or
//! its own lane (depthwise, at the last value plane). Dense rows share one Σx, which the lane
//! subtracts once per output (`conv_unit.rs`).
//!
//! Widths: the contract bounds a dot product to `K ≤ MAX_REDUCTION` terms, so it fits
//! `W = accumulator_bits(B, MAX_REDUCTION)` signed bits; `acc` is kept modulo 2^W (masked, so
//! yosys drops the bits above) and sign-extended by the lane. `t` holds one chunk's planes,
//! `Σ_j 2^j·S_j < 2^(12 + B)`, exactly.

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
    /// Flags of the tree output of this cycle: a plane is valid, is the chunk's last value
    /// plane (B − 1), the mask plane (B), and the vector's last cycle (hand-off).
    pub f_val: Signal<In, Bit>,
    pub f_lp: Signal<In, Bit>,
    pub f_mk: Signal<In, Bit>,
    pub f_h: Signal<In, Bit>,
    pub masked: Signal<In, Bit>,
    pub diagonal: Signal<In, Bit>,
    /// Depthwise: the row's own lane of the chunk, aligned with the tree output.
    pub xr: Signal<In, Bits<9>>,
    /// The vector's `acc`, modulo 2^W.
    pub acc_h: Signal<Out, Bits<32>>,
    tree: AdderTree<8, 16, 72, 12>,
    t: DFF<Bits<32>>,
    acc: DFF<Bits<32>>,
    acch: DFF<Bits<32>>,
    s32: Signal<Local, Bits<32>>,
    tnew: Signal<Local, Bits<32>>,
    y: Signal<Local, Bits<32>>,
    corr: Signal<Local, Bits<32>>,
    u0: Signal<Local, Bits<32>>,
    u: Signal<Local, Bits<32>>,
    cg: Signal<Local, Bits<32>>,
    accn: Signal<Local, Bits<32>>,
    own: Signal<Local, Bit>,
    upd: Signal<Local, Bit>,
    c2048: Constant<Bits<32>>,
    c4096: Constant<Bits<32>>,
    sx9: Constant<Bits<32>>,
    bshift: Constant<Bits<32>>,
    /// 2^(12 + B) − 1, 2^(13 + B) − 1 (a correction `(2^B − 1)·y`, `0 ≤ y < 2^13`) and 2^W − 1.
    mt: Constant<Bits<32>>,
    mc: Constant<Bits<32>>,
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
            f_lp: Default::default(),
            f_mk: Default::default(),
            f_h: Default::default(),
            masked: Default::default(),
            diagonal: Default::default(),
            xr: Default::default(),
            acc_h: Default::default(),
            tree: AdderTree::new(),
            t: Default::default(),
            acc: Default::default(),
            acch: Default::default(),
            s32: Default::default(),
            tnew: Default::default(),
            y: Default::default(),
            corr: Default::default(),
            u0: Default::default(),
            u: Default::default(),
            cg: Default::default(),
            accn: Default::default(),
            own: Default::default(),
            upd: Default::default(),
            c2048: Constant::new(bits(2048)),
            c4096: Constant::new(bits(4096)),
            sx9: Constant::new(bits(0xffff_fe00)),
            bshift: Constant::new(bits(b as u64)),
            mt: Constant::new(bits((1u64 << (12 + b as u64)) - 1)),
            mc: Constant::new(bits((1u64 << (13 + b as u64)) - 1)),
            mw: Constant::new(bits((1u64 << w) - 1)),
        }
    }
}

impl Logic for ConvRow {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, t, acc, acch);
        self.tree.clock.next = self.clock.val();
        self.tree.x.next = self.x.val();
        self.tree.w.next = self.w.val();
        self.s32.next = bit_cast::<32, 12>(self.tree.sum.val());
        // t ← 2·t + S within a chunk. `t` is zero at a chunk's first plane: it is cleared at
        // the previous chunk's last value plane (a synchronous reset, not an operand mux).
        self.tnew.next = ((self.t.q.val() << 1) + self.s32.val()) & self.mt.val();
        // The row's own correction sum of this chunk: the mask plane's, or its own lane.
        if self.masked.val() {
            self.y.next = self.s32.val() + self.c2048.val();
        } else if self.xr.val().get_bit(8) {
            self.y.next = (bit_cast::<32, 9>(self.xr.val()) | self.sx9.val()) + self.c4096.val();
        } else {
            self.y.next = bit_cast::<32, 9>(self.xr.val()) + self.c4096.val();
        }
        self.corr.next = ((self.y.val() << self.bshift.val()) - self.y.val()) & self.mc.val();
        self.own.next =
            (self.masked.val() & self.f_mk.val()) | (self.diagonal.val() & self.f_lp.val());
        // acc ← acc + 2·t − own correction. `acc` is zero when a vector starts: the hand-off
        // cycle clears it (a synchronous reset, not an operand mux).
        self.u0.next = self.tnew.val() << 1;
        if self.f_mk.val() {
            self.u0.next = bits::<32>(0);
        }
        self.cg.next = bits::<32>(0);
        if self.own.val() {
            self.cg.next = self.corr.val();
        }
        self.u.next = (self.u0.val() - self.cg.val()) & self.mw.val();
        self.accn.next = (self.acc.q.val() + self.u.val()) & self.mw.val();
        self.upd.next = self.f_lp.val() | self.f_mk.val();
        if self.f_val.val() {
            if self.upd.val() {
                self.acc.d.next = self.accn.val();
                if self.f_h.val() {
                    self.acc.d.next = bits::<32>(0);
                }
            } else {
                self.t.d.next = self.tnew.val();
            }
            if self.f_lp.val() {
                self.t.d.next = bits::<32>(0);
            }
        }
        // ---- hand-off: the vector's final sum ----
        if self.f_val.val() & self.f_h.val() {
            if self.upd.val() {
                self.acch.d.next = self.accn.val();
            } else {
                self.acch.d.next = self.acc.q.val();
            }
        }
        self.acc_h.next = self.acch.q.val();
    }
}
