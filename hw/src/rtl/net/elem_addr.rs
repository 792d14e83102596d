//! The element-wise unit's address sequencing (docs/engine.md §5 "Element-wise unit"): the
//! main-memory operations of an add or a max / average / global pool, one per enabled cycle.
//!
//! * Add: for each output word i (`out_h·out_w·out_cw` of them, in order): read A at
//!   `in_a + i`, read B at `in_b + i`, write at `out + i`.
//! * Pools: for each output word (oy, ox, g < in_cw): the window reads
//!   `in_a + ((oy·s + i)·in_w + ox·s + j)·in_cw + g` (i < kh, j < kw, row-major), then the write
//!   at `out + (oy·out_w + ox)·out_cw + g` — word number n of the output, since the pools keep
//!   the channel count (`in_cw = out_cw`). Global pooling is the window in_h × in_w, stride 1.
//!
//! The add / pool parameter word is read by the controller before `go` (1 cycle). Strides come
//! from one shared multiplier at `setup` (`ready` after [`SETUP_CYCLES`] edges, the setup edge
//! included); per operation only adders run. `kind` is 0 read A, 1 read B, 2 write; `first`
//! marks a word's first read (clear the lane accumulators), `last` the layer's last operation.

use rust_hdl::prelude::*;

/// Rising edges from the one that samples `setup` (included) until `ready` is high.
pub const SETUP_CYCLES: usize = 4;

#[derive(LogicBlock, Default)]
pub struct ElemAddr {
    pub clock: Signal<In, Clock>,
    pub setup: Signal<In, Bit>,
    pub go: Signal<In, Bit>,
    pub enable: Signal<In, Bit>,
    /// Add (else a pool).
    pub is_add: Signal<In, Bit>,
    pub stride: Signal<In, Bits<4>>,
    pub in_w: Signal<In, Bits<16>>,
    pub in_cw: Signal<In, Bits<16>>,
    pub out_h: Signal<In, Bits<16>>,
    pub out_w: Signal<In, Bits<16>>,
    pub out_cw: Signal<In, Bits<16>>,
    /// Pools: window height `[7:0]`, width `[15:8]`.
    pub f10: Signal<In, Bits<16>>,
    pub in_a: Signal<In, Bits<16>>,
    pub in_b: Signal<In, Bits<16>>,
    pub out_base: Signal<In, Bits<16>>,
    pub ready: Signal<Out, Bit>,
    pub valid: Signal<Out, Bit>,
    pub addr: Signal<Out, Bits<16>>,
    pub kind: Signal<Out, Bits<2>>,
    pub first: Signal<Out, Bit>,
    pub last: Signal<Out, Bit>,
    phase: DFF<Bits<3>>,
    rdy: DFF<Bit>,
    rowstride: DFF<Bits<16>>,
    colstep: DFF<Bits<16>>,
    rowstep: DFF<Bits<16>>,
    mul_a: Signal<Local, Bits<16>>,
    mul_b: Signal<Local, Bits<16>>,
    prod: Signal<Local, Bits<32>>,
    s16: Signal<Local, Bits<16>>,
    kh: Signal<Local, Bits<8>>,
    kw: Signal<Local, Bits<8>>,
    cw: Signal<Local, Bits<16>>,
    run: DFF<Bit>,
    ph: DFF<Bits<2>>,
    wr: DFF<Bit>,
    wi: DFF<Bits<8>>,
    wj: DFF<Bits<8>>,
    g: DFF<Bits<16>>,
    ox: DFF<Bits<16>>,
    oy: DFF<Bits<16>>,
    lin: DFF<Bits<16>>,
    pix: DFF<Bits<16>>,
    row: DFF<Bits<16>>,
    off_row: DFF<Bits<16>>,
    off: DFF<Bits<16>>,
    end_j: Signal<Local, Bit>,
    end_i: Signal<Local, Bit>,
    end_g: Signal<Local, Bit>,
    end_ox: Signal<Local, Bit>,
    end_oy: Signal<Local, Bit>,
    word_end: Signal<Local, Bit>,
}

impl Logic for ElemAddr {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, phase, rdy, rowstride, colstep, rowstep, run, ph, wr, wi, wj, g, ox, oy,
            lin, pix, row, off_row, off
        );
        self.s16.next = bit_cast::<16, 4>(self.stride.val());
        self.kh.next = self.f10.val().get_bits::<8>(0);
        self.kw.next = self.f10.val().get_bits::<8>(8);
        self.cw.next = self.in_cw.val();
        if self.is_add.val() {
            self.cw.next = self.out_cw.val();
        }
        // ---- setup: three products on one multiplier ----
        self.mul_a.next = self.in_w.val();
        self.mul_b.next = self.in_cw.val();
        if self.phase.q.val() == bits::<3>(2) {
            self.mul_a.next = self.s16.val();
        }
        if self.phase.q.val() == bits::<3>(3) {
            self.mul_a.next = self.s16.val();
            self.mul_b.next = self.rowstride.q.val();
        }
        self.prod.next = self.mul_a.val() * self.mul_b.val();
        if self.phase.q.val() != bits::<3>(0) {
            self.phase.d.next = self.phase.q.val() + bits::<3>(1);
        }
        if self.phase.q.val() == bits::<3>(1) {
            self.rowstride.d.next = self.prod.val().get_bits::<16>(0);
        }
        if self.phase.q.val() == bits::<3>(2) {
            self.colstep.d.next = self.prod.val().get_bits::<16>(0);
        }
        if self.phase.q.val() == bits::<3>(3) {
            self.rowstep.d.next = self.prod.val().get_bits::<16>(0);
            self.phase.d.next = bits::<3>(0);
            self.rdy.d.next = true;
        }
        if self.setup.val() {
            self.phase.d.next = bits::<3>(1);
            self.rdy.d.next = false;
            self.run.d.next = false;
        }
        self.ready.next = self.rdy.q.val();
        // ---- the current operation ----
        self.end_j.next = self.wj.q.val() + bits::<8>(1) == self.kw.val();
        self.end_i.next = self.wi.q.val() + bits::<8>(1) == self.kh.val();
        self.end_g.next = self.g.q.val() + bits::<16>(1) == self.cw.val();
        self.end_ox.next = self.ox.q.val() + bits::<16>(1) == self.out_w.val();
        self.end_oy.next = self.oy.q.val() + bits::<16>(1) == self.out_h.val();
        self.word_end.next = self.wr.q.val();
        self.addr.next = self.pix.q.val() + self.off.q.val() + self.g.q.val();
        self.kind.next = bits::<2>(0);
        self.first.next = self.run.q.val()
            & !self.wr.q.val()
            & (self.wi.q.val() == bits::<8>(0))
            & (self.wj.q.val() == bits::<8>(0));
        if self.wr.q.val() {
            self.addr.next = self.out_base.val() + self.lin.q.val();
            self.kind.next = bits::<2>(2);
        }
        if self.is_add.val() {
            self.word_end.next = self.ph.q.val() == bits::<2>(2);
            self.kind.next = self.ph.q.val();
            self.first.next = self.run.q.val() & (self.ph.q.val() == bits::<2>(0));
            self.addr.next = self.in_a.val() + self.lin.q.val();
            if self.ph.q.val() == bits::<2>(1) {
                self.addr.next = self.in_b.val() + self.lin.q.val();
            }
            if self.ph.q.val() == bits::<2>(2) {
                self.addr.next = self.out_base.val() + self.lin.q.val();
            }
        }
        self.valid.next = self.run.q.val();
        self.last.next = self.run.q.val()
            & self.word_end.val()
            & self.end_g.val()
            & self.end_ox.val()
            & self.end_oy.val();
        // ---- advance ----
        if self.run.q.val() & self.enable.val() {
            // within a word: add phases, or window reads then the write
            self.ph.d.next = self.ph.q.val() + bits::<2>(1);
            if !self.wr.q.val() & !self.is_add.val() {
                self.wj.d.next = self.wj.q.val() + bits::<8>(1);
                self.off.d.next = self.off.q.val() + self.in_cw.val();
                if self.end_j.val() {
                    self.wj.d.next = bits::<8>(0);
                    self.wi.d.next = self.wi.q.val() + bits::<8>(1);
                    self.off_row.d.next = self.off_row.q.val() + self.rowstride.q.val();
                    self.off.d.next = self.off_row.q.val() + self.rowstride.q.val();
                    if self.end_i.val() {
                        self.wr.d.next = true;
                    }
                }
            }
            if self.word_end.val() {
                self.ph.d.next = bits::<2>(0);
                self.wr.d.next = false;
                self.wi.d.next = bits::<8>(0);
                self.wj.d.next = bits::<8>(0);
                self.off_row.d.next = bits::<16>(0);
                self.off.d.next = bits::<16>(0);
                self.lin.d.next = self.lin.q.val() + bits::<16>(1);
                self.g.d.next = self.g.q.val() + bits::<16>(1);
                if self.end_g.val() {
                    self.g.d.next = bits::<16>(0);
                    self.ox.d.next = self.ox.q.val() + bits::<16>(1);
                    self.pix.d.next = self.pix.q.val() + self.colstep.q.val();
                    if self.end_ox.val() {
                        self.ox.d.next = bits::<16>(0);
                        self.oy.d.next = self.oy.q.val() + bits::<16>(1);
                        self.row.d.next = self.row.q.val() + self.rowstep.q.val();
                        self.pix.d.next = self.row.q.val() + self.rowstep.q.val();
                        if self.end_oy.val() {
                            self.run.d.next = false;
                        }
                    }
                }
            }
        }
        // ---- go: the layer's first operation ----
        if self.go.val() {
            self.run.d.next = true;
            self.ph.d.next = bits::<2>(0);
            self.wr.d.next = false;
            self.wi.d.next = bits::<8>(0);
            self.wj.d.next = bits::<8>(0);
            self.g.d.next = bits::<16>(0);
            self.ox.d.next = bits::<16>(0);
            self.oy.d.next = bits::<16>(0);
            self.lin.d.next = bits::<16>(0);
            self.pix.d.next = self.in_a.val();
            self.row.d.next = self.in_a.val();
            self.off_row.d.next = bits::<16>(0);
            self.off.d.next = bits::<16>(0);
        }
    }
}

/// The unit's Verilog (module `top`).
pub fn verilog() -> String {
    let mut u = ElemAddr::default();
    u.connect_all();
    generate_verilog(&u)
}
