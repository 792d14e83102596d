//! The descriptor unit (docs/engine.md §4, §5 step 3) for 64-bit main words (UP5K, C = 8,
//! `desc_words` = 4): on `start` it reads record words `base … base + 3`, one per cycle, and
//! holds the decoded record until the next `start`.
//!
//! Field i is bits `[16·(i mod 4), +16)` of dword `i / 4`; f0 and f1 split into their bit
//! fields. Timing: `start` is sampled on a rising edge together with the first read's address
//! (`mem_addr` is `base` while `start` is high); the memory returns each word one edge after
//! its address; `valid` is high after the fifth edge, i.e. fetch `desc_words` + decode 1 cycles
//! as the cycle model counts.

use rust_hdl::prelude::*;

#[derive(LogicBlock, Default)]
pub struct DescUnit {
    pub clock: Signal<In, Clock>,
    pub start: Signal<In, Bit>,
    /// Main-word address of the record (`n · desc_words`).
    pub base: Signal<In, Bits<16>>,
    pub mem_addr: Signal<Out, Bits<16>>,
    pub mem_rd: Signal<Out, Bit>,
    pub mem_rdata: Signal<In, Bits<64>>,
    /// The record below is decoded (until the next `start`).
    pub valid: Signal<Out, Bit>,
    pub op: Signal<Out, Bits<4>>,
    pub out_kind: Signal<Out, Bits<2>>,
    pub a_signed: Signal<Out, Bit>,
    pub b_signed: Signal<Out, Bit>,
    pub masked: Signal<Out, Bit>,
    pub stream: Signal<Out, Bit>,
    pub diagonal: Signal<Out, Bit>,
    pub kernel: Signal<Out, Bits<4>>,
    pub stride: Signal<Out, Bits<4>>,
    pub pad: Signal<Out, Bits<4>>,
    pub in_h: Signal<Out, Bits<16>>,
    pub in_w: Signal<Out, Bits<16>>,
    pub in_cw: Signal<Out, Bits<16>>,
    pub out_h: Signal<Out, Bits<16>>,
    pub out_w: Signal<Out, Bits<16>>,
    pub out_cw: Signal<Out, Bits<16>>,
    pub out_channels: Signal<Out, Bits<16>>,
    pub tiles: Signal<Out, Bits<16>>,
    pub f10: Signal<Out, Bits<16>>,
    pub tile_words: Signal<Out, Bits<16>>,
    pub in_a: Signal<Out, Bits<16>>,
    pub in_b: Signal<Out, Bits<16>>,
    pub out_base: Signal<Out, Bits<16>>,
    pub param: Signal<Out, Bits<16>>,
    busy: DFF<Bit>,
    cnt: DFF<Bits<3>>,
    rbase: DFF<Bits<16>>,
    pend: DFF<Bit>,
    pidx: DFF<Bits<3>>,
    done: DFF<Bit>,
    dw0: DFF<Bits<64>>,
    dw1: DFF<Bits<64>>,
    dw2: DFF<Bits<64>>,
    dw3: DFF<Bits<64>>,
}

impl Logic for DescUnit {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, busy, cnt, rbase, pend, pidx, done, dw0, dw1, dw2, dw3);
        // ---- fetch: one read per cycle, the first in the start cycle ----
        self.mem_rd.next = false;
        self.mem_addr.next = self.rbase.q.val() + bit_cast::<16, 3>(self.cnt.q.val());
        self.pend.d.next = false;
        if self.busy.q.val() & (self.cnt.q.val() != bits::<3>(4)) {
            self.mem_rd.next = true;
            self.cnt.d.next = self.cnt.q.val() + bits::<3>(1);
            self.pend.d.next = true;
            self.pidx.d.next = self.cnt.q.val();
        }
        if self.start.val() {
            self.mem_rd.next = true;
            self.mem_addr.next = self.base.val();
            self.busy.d.next = true;
            self.done.d.next = false;
            self.rbase.d.next = self.base.val();
            self.cnt.d.next = bits::<3>(1);
            self.pend.d.next = true;
            self.pidx.d.next = bits::<3>(0);
        }
        // ---- capture: the word read in the previous cycle ----
        if self.pend.q.val() {
            if self.pidx.q.val() == bits::<3>(0) {
                self.dw0.d.next = self.mem_rdata.val();
            }
            if self.pidx.q.val() == bits::<3>(1) {
                self.dw1.d.next = self.mem_rdata.val();
            }
            if self.pidx.q.val() == bits::<3>(2) {
                self.dw2.d.next = self.mem_rdata.val();
            }
            if self.pidx.q.val() == bits::<3>(3) {
                self.dw3.d.next = self.mem_rdata.val();
                self.done.d.next = true;
                self.busy.d.next = false;
            }
        }
        // ---- decode ----
        self.valid.next = self.done.q.val();
        self.op.next = self.dw0.q.val().get_bits::<4>(0);
        self.out_kind.next = self.dw0.q.val().get_bits::<2>(4);
        self.a_signed.next = self.dw0.q.val().get_bit(6);
        self.b_signed.next = self.dw0.q.val().get_bit(7);
        self.masked.next = self.dw0.q.val().get_bit(8);
        self.stream.next = self.dw0.q.val().get_bit(9);
        self.diagonal.next = self.dw0.q.val().get_bit(10);
        self.kernel.next = self.dw0.q.val().get_bits::<4>(16);
        self.stride.next = self.dw0.q.val().get_bits::<4>(20);
        self.pad.next = self.dw0.q.val().get_bits::<4>(24);
        self.in_h.next = self.dw0.q.val().get_bits::<16>(32);
        self.in_w.next = self.dw0.q.val().get_bits::<16>(48);
        self.in_cw.next = self.dw1.q.val().get_bits::<16>(0);
        self.out_h.next = self.dw1.q.val().get_bits::<16>(16);
        self.out_w.next = self.dw1.q.val().get_bits::<16>(32);
        self.out_cw.next = self.dw1.q.val().get_bits::<16>(48);
        self.out_channels.next = self.dw2.q.val().get_bits::<16>(0);
        self.tiles.next = self.dw2.q.val().get_bits::<16>(16);
        self.f10.next = self.dw2.q.val().get_bits::<16>(32);
        self.tile_words.next = self.dw2.q.val().get_bits::<16>(48);
        self.in_a.next = self.dw3.q.val().get_bits::<16>(0);
        self.in_b.next = self.dw3.q.val().get_bits::<16>(16);
        self.out_base.next = self.dw3.q.val().get_bits::<16>(32);
        self.param.next = self.dw3.q.val().get_bits::<16>(48);
    }
}

/// The unit's Verilog (module `top`).
pub fn verilog() -> String {
    let mut u = DescUnit::default();
    u.connect_all();
    generate_verilog(&u)
}
