//! The conv body's patch address generator (docs/engine.md §3 "Chunk ch of output (oy, ox)",
//! §5 "Conv / linear body"): for one row tile, the main-word address of every chunk of every
//! output vector, in the spec's order — vectors (oy, ox) row-major, then taps (ky, kx), then
//! the tap's words wi < nw — or `zero` for a chunk in the padding.
//!
//! Chunk (oy, ox, ky, kx, wi) reads `in_a + (iy·in_w + ix)·in_cw + w0 + wi` with
//! `iy = oy·s + ky − p`, `ix = ox·s + kx − p`. The expanded stem (k = 1 over the patches) and
//! linear layers (k = 1 over a 1×1 image of `in_cw` words) are the same formula.
//!
//! No multiplier runs per chunk: the address is kept as a vector base plus a tap offset, both
//! stepped by strides that `setup` computes once per layer on one shared 16×16 multiplier.
//! Arithmetic is modulo 2^16 (addresses are 16 bits): `iy`, `ix` below zero wrap to values of
//! at least 2^16 − 15, which the unsigned bound checks `iy < in_h`, `ix < in_w` reject.
//!
//! Protocol: the descriptor fields and `w0` are held by the caller (descriptor unit, tile
//! header register). Pulse `setup` once per layer; `ready` rises [`SETUP_CYCLES`] edges later.
//! Pulse `tile_go` per tile; from the next cycle on, `valid` presents one chunk, and every edge
//! with `enable` moves to the next. `vec_last` marks a vector's last chunk, `last` the tile's.

use rust_hdl::prelude::*;

/// Rising edges from the one that samples `setup` (included) until `ready` is high.
pub const SETUP_CYCLES: usize = 6;

#[derive(LogicBlock, Default)]
pub struct PatchAddr {
    pub clock: Signal<In, Clock>,
    pub setup: Signal<In, Bit>,
    pub tile_go: Signal<In, Bit>,
    pub enable: Signal<In, Bit>,
    pub kernel: Signal<In, Bits<4>>,
    pub stride: Signal<In, Bits<4>>,
    pub pad: Signal<In, Bits<4>>,
    pub in_h: Signal<In, Bits<16>>,
    pub in_w: Signal<In, Bits<16>>,
    pub in_cw: Signal<In, Bits<16>>,
    pub out_h: Signal<In, Bits<16>>,
    pub out_w: Signal<In, Bits<16>>,
    /// Words per tap (f10).
    pub nw: Signal<In, Bits<16>>,
    pub in_a: Signal<In, Bits<16>>,
    /// The tile's first input word per tap (its block header).
    pub w0: Signal<In, Bits<16>>,
    pub ready: Signal<Out, Bit>,
    pub valid: Signal<Out, Bit>,
    pub addr: Signal<Out, Bits<16>>,
    pub zero: Signal<Out, Bit>,
    pub vec_last: Signal<Out, Bit>,
    pub last: Signal<Out, Bit>,
    // setup: strides and the first vector's base
    phase: DFF<Bits<3>>,
    rdy: DFF<Bit>,
    rowstride: DFF<Bits<16>>,
    colstep: DFF<Bits<16>>,
    padcol: DFF<Bits<16>>,
    rowstep: DFF<Bits<16>>,
    padrow: DFF<Bits<16>>,
    mul_a: Signal<Local, Bits<16>>,
    mul_b: Signal<Local, Bits<16>>,
    prod: Signal<Local, Bits<32>>,
    s16: Signal<Local, Bits<16>>,
    p16: Signal<Local, Bits<16>>,
    // run: counters and bases
    run: DFF<Bit>,
    oy: DFF<Bits<16>>,
    ox: DFF<Bits<16>>,
    /// Kernel taps: `kernel` is 4 bits, so 4-bit counters suffice.
    ky: DFF<Bits<4>>,
    kx: DFF<Bits<4>>,
    wi: DFF<Bits<16>>,
    iy0: DFF<Bits<16>>,
    ix0: DFF<Bits<16>>,
    a_row: DFF<Bits<16>>,
    a_pix: DFF<Bits<16>>,
    tap_row: DFF<Bits<16>>,
    tap_off: DFF<Bits<16>>,
    iy: Signal<Local, Bits<16>>,
    ix: Signal<Local, Bits<16>>,
    end_wi: Signal<Local, Bit>,
    end_kx: Signal<Local, Bit>,
    end_ky: Signal<Local, Bit>,
    end_ox: Signal<Local, Bit>,
    end_oy: Signal<Local, Bit>,
}

impl Logic for PatchAddr {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, phase, rdy, rowstride, colstep, padcol, rowstep, padrow, run, oy, ox, ky,
            kx, wi, iy0, ix0, a_row, a_pix, tap_row, tap_off
        );
        self.s16.next = bit_cast::<16, 4>(self.stride.val());
        self.p16.next = bit_cast::<16, 4>(self.pad.val());
        // ---- setup: five products on one multiplier, one per phase ----
        self.mul_a.next = self.in_w.val();
        self.mul_b.next = self.in_cw.val();
        if self.phase.q.val() == bits::<3>(2) {
            self.mul_a.next = self.s16.val();
        }
        if self.phase.q.val() == bits::<3>(3) {
            self.mul_a.next = self.p16.val();
        }
        if self.phase.q.val() == bits::<3>(4) {
            self.mul_a.next = self.s16.val();
            self.mul_b.next = self.rowstride.q.val();
        }
        if self.phase.q.val() == bits::<3>(5) {
            self.mul_a.next = self.p16.val();
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
            self.padcol.d.next = self.prod.val().get_bits::<16>(0);
        }
        if self.phase.q.val() == bits::<3>(4) {
            self.rowstep.d.next = self.prod.val().get_bits::<16>(0);
        }
        if self.phase.q.val() == bits::<3>(5) {
            self.padrow.d.next = self.prod.val().get_bits::<16>(0);
            self.phase.d.next = bits::<3>(0);
            self.rdy.d.next = true;
        }
        if self.setup.val() {
            self.phase.d.next = bits::<3>(1);
            self.rdy.d.next = false;
            self.run.d.next = false;
        }
        self.ready.next = self.rdy.q.val();
        // ---- the current chunk ----
        self.iy.next = self.iy0.q.val() + bit_cast::<16, 4>(self.ky.q.val());
        self.ix.next = self.ix0.q.val() + bit_cast::<16, 4>(self.kx.q.val());
        self.addr.next =
            self.a_pix.q.val() + self.tap_off.q.val() + self.w0.val() + self.wi.q.val();
        self.zero.next = !((self.iy.val() < self.in_h.val()) & (self.ix.val() < self.in_w.val()));
        self.valid.next = self.run.q.val();
        self.end_wi.next = self.wi.q.val() + bits::<16>(1) == self.nw.val();
        self.end_kx.next = self.kx.q.val() + bits::<4>(1) == self.kernel.val();
        self.end_ky.next = self.ky.q.val() + bits::<4>(1) == self.kernel.val();
        self.end_ox.next = self.ox.q.val() + bits::<16>(1) == self.out_w.val();
        self.end_oy.next = self.oy.q.val() + bits::<16>(1) == self.out_h.val();
        self.vec_last.next =
            self.run.q.val() & self.end_wi.val() & self.end_kx.val() & self.end_ky.val();
        self.last.next = self.run.q.val()
            & self.end_wi.val()
            & self.end_kx.val()
            & self.end_ky.val()
            & self.end_ox.val()
            & self.end_oy.val();
        // ---- advance: wi, then kx, then ky, then ox, then oy ----
        if self.run.q.val() & self.enable.val() {
            self.wi.d.next = self.wi.q.val() + bits::<16>(1);
            if self.end_wi.val() {
                self.wi.d.next = bits::<16>(0);
                self.kx.d.next = self.kx.q.val() + bits::<4>(1);
                self.tap_off.d.next = self.tap_off.q.val() + self.in_cw.val();
                if self.end_kx.val() {
                    self.kx.d.next = bits::<4>(0);
                    self.ky.d.next = self.ky.q.val() + bits::<4>(1);
                    self.tap_row.d.next = self.tap_row.q.val() + self.rowstride.q.val();
                    self.tap_off.d.next = self.tap_row.q.val() + self.rowstride.q.val();
                    if self.end_ky.val() {
                        self.ky.d.next = bits::<4>(0);
                        self.tap_row.d.next = bits::<16>(0);
                        self.tap_off.d.next = bits::<16>(0);
                        self.ox.d.next = self.ox.q.val() + bits::<16>(1);
                        self.ix0.d.next = self.ix0.q.val() + self.s16.val();
                        self.a_pix.d.next = self.a_pix.q.val() + self.colstep.q.val();
                        if self.end_ox.val() {
                            self.ox.d.next = bits::<16>(0);
                            self.ix0.d.next = bits::<16>(0) - self.p16.val();
                            self.oy.d.next = self.oy.q.val() + bits::<16>(1);
                            self.iy0.d.next = self.iy0.q.val() + self.s16.val();
                            self.a_row.d.next = self.a_row.q.val() + self.rowstep.q.val();
                            self.a_pix.d.next =
                                self.a_row.q.val() + self.rowstep.q.val() - self.padcol.q.val();
                            if self.end_oy.val() {
                                self.run.d.next = false;
                            }
                        }
                    }
                }
            }
        }
        // ---- tile_go: the tile's first chunk ----
        if self.tile_go.val() {
            self.run.d.next = true;
            self.oy.d.next = bits::<16>(0);
            self.ox.d.next = bits::<16>(0);
            self.ky.d.next = bits::<4>(0);
            self.kx.d.next = bits::<4>(0);
            self.wi.d.next = bits::<16>(0);
            self.iy0.d.next = bits::<16>(0) - self.p16.val();
            self.ix0.d.next = bits::<16>(0) - self.p16.val();
            self.a_row.d.next = self.in_a.val() - self.padrow.q.val();
            self.a_pix.d.next = self.in_a.val() - self.padrow.q.val() - self.padcol.q.val();
            self.tap_row.d.next = bits::<16>(0);
            self.tap_off.d.next = bits::<16>(0);
        }
    }
}

/// The generator's Verilog (module `top`).
pub fn verilog() -> String {
    let mut u = PatchAddr::default();
    u.connect_all();
    generate_verilog(&u)
}
