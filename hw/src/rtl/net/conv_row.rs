//! One row of the conv body's array (docs/engine.md §5 "Conv / linear body"): the gated adder
//! tree over the C = 8 lanes, the chunk's plane shift register `t`, the vector accumulator
//! `acc`, the row's own correction sum `k` (masked: the mask plane; depthwise: its own lane),
//! and the hand-off registers the requantizer lanes read while the next vector accumulates.
//!
//! Planes arrive chunk-major, plane-minor, MSB first; the flags describe the tree output of
//! this cycle (they travel down the unit's delay line next to the data). The tree adds
//! 2048 = 256·C to every sum (`adder_tree.rs`), so `acc` carries `2048·(2^B − 1)` per chunk
//! and every correction sum carries 4096 per chunk; `2·acc − (2^B − 1)·K` cancels both
//! exactly (mod 2^32, the contract bounds the true value to i32):
//! `acc_h = acc`, `qm_h = (2^B − 1)·K`, and the lane computes `dot = 2·acc_h − qm_h`.

use crate::rtl::adder_tree::AdderTree;
use rust_hdl::prelude::*;

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
    /// Dense layers: the shared Σx correction sum, final in the hand-off cycle.
    pub ks: Signal<In, Bits<32>>,
    pub acc_h: Signal<Out, Bits<32>>,
    pub qm_h: Signal<Out, Bits<32>>,
    tree: AdderTree<8, 16, 72, 12>,
    t: DFF<Bits<32>>,
    acc: DFF<Bits<32>>,
    k: DFF<Bits<32>>,
    acch: DFF<Bits<32>>,
    qmh: DFF<Bits<32>>,
    s32: Signal<Local, Bits<32>>,
    tnew: Signal<Local, Bits<32>>,
    accn: Signal<Local, Bits<32>>,
    kinc: Signal<Local, Bits<32>>,
    kn: Signal<Local, Bits<32>>,
    kfin: Signal<Local, Bits<32>>,
    afin: Signal<Local, Bits<32>>,
    kupd: Signal<Local, Bit>,
    bshift: Constant<Bits<32>>,
    c2048: Constant<Bits<32>>,
    c4096: Constant<Bits<32>>,
    sx9: Constant<Bits<32>>,
}

impl ConvRow {
    /// A row for weight bitwidth `b` (1..=8).
    pub fn new(b: u8) -> Self {
        assert!((1..=8).contains(&b), "bits must be 1..=8, got {b}");
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
            ks: Default::default(),
            acc_h: Default::default(),
            qm_h: Default::default(),
            tree: AdderTree::new(),
            t: Default::default(),
            acc: Default::default(),
            k: Default::default(),
            acch: Default::default(),
            qmh: Default::default(),
            s32: Default::default(),
            tnew: Default::default(),
            accn: Default::default(),
            kinc: Default::default(),
            kn: Default::default(),
            kfin: Default::default(),
            afin: Default::default(),
            kupd: Default::default(),
            bshift: Constant::new(bits(b as u64)),
            c2048: Constant::new(bits(2048)),
            c4096: Constant::new(bits(4096)),
            sx9: Constant::new(bits(0xffff_fe00)),
        }
    }
}

impl Logic for ConvRow {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, t, acc, k, acch, qmh);
        self.tree.clock.next = self.clock.val();
        self.tree.x.next = self.x.val();
        self.tree.w.next = self.w.val();
        self.s32.next = bit_cast::<32, 12>(self.tree.sum.val());
        // t ← 2·t + S within a chunk (cleared at its first plane).
        if self.f_fp.val() {
            self.tnew.next = self.s32.val();
        } else {
            self.tnew.next = (self.t.q.val() << 1) + self.s32.val();
        }
        // acc ← acc + t at the chunk's last value plane (cleared at the vector's first chunk).
        if self.f_fc.val() {
            self.accn.next = self.tnew.val();
        } else {
            self.accn.next = self.acc.q.val() + self.tnew.val();
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
            self.kn.next = self.kinc.val();
        } else {
            self.kn.next = self.k.q.val() + self.kinc.val();
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
        self.kfin.next = self.ks.val();
        if self.masked.val() | self.diagonal.val() {
            if self.kupd.val() {
                self.kfin.next = self.kn.val();
            } else {
                self.kfin.next = self.k.q.val();
            }
        }
        if self.f_lp.val() {
            self.afin.next = self.accn.val();
        } else {
            self.afin.next = self.acc.q.val();
        }
        if self.f_val.val() & self.f_h.val() {
            self.acch.d.next = self.afin.val();
            self.qmh.d.next = (self.kfin.val() << self.bshift.val()) - self.kfin.val();
        }
        self.acc_h.next = self.acch.q.val();
        self.qm_h.next = self.qmh.q.val();
    }
}
