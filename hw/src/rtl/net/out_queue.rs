//! The conv body's output write queue (docs/engine.md §7: "writing the previous vector's
//! output while the array computes"): packed output words enter in vector order and leave on
//! the cycles the main-memory port has no read, at `base + p·out_cw + j` for vector p and word
//! j < wpv (the tile's column of the output buffer).
//!
//! A word may leave in the cycle it enters (fall-through). Depth 4 is enough: every window of
//! v cycles holds at least wpv ≤ 4 free port cycles (v ≥ reads + wpv), and a vector's wpv words
//! arrive within wpv consecutive cycles once per v, so the queue is empty when the next
//! vector's words arrive. `overflow` (sticky until `clear`) says a word was lost.

use rust_hdl::prelude::*;

#[derive(LogicBlock, Default)]
pub struct OutQueue {
    pub clock: Signal<In, Clock>,
    /// Start a tile: the next word goes to `base`.
    pub clear: Signal<In, Bit>,
    pub base: Signal<In, Bits<16>>,
    pub out_cw: Signal<In, Bits<16>>,
    /// Words per vector minus one (0, or 3 for i32).
    pub wpv_m1: Signal<In, Bits<2>>,
    pub push: Signal<In, Bit>,
    pub data: Signal<In, Bits<64>>,
    /// The port is free this cycle.
    pub free: Signal<In, Bit>,
    pub we: Signal<Out, Bit>,
    pub addr: Signal<Out, Bits<16>>,
    pub wdata: Signal<Out, Bits<64>>,
    pub overflow: Signal<Out, Bit>,
    q0: DFF<Bits<64>>,
    q1: DFF<Bits<64>>,
    q2: DFF<Bits<64>>,
    q3: DFF<Bits<64>>,
    cnt: DFF<Bits<3>>,
    vbase: DFF<Bits<16>>,
    wj: DFF<Bits<2>>,
    lost: DFF<Bit>,
    pop: Signal<Local, Bit>,
    slot: Signal<Local, Bits<3>>,
}

impl Logic for OutQueue {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, q0, q1, q2, q3, cnt, vbase, wj, lost);
        self.pop.next = self.free.val() & ((self.cnt.q.val() != bits::<3>(0)) | self.push.val());
        if self.cnt.q.val() == bits::<3>(0) {
            self.wdata.next = self.data.val();
        } else {
            self.wdata.next = self.q0.q.val();
        }
        self.we.next = self.pop.val();
        self.addr.next = self.vbase.q.val() + bit_cast::<16, 2>(self.wj.q.val());
        // ---- dequeue: shift down, step the address ----
        if self.pop.val() {
            self.q0.d.next = self.q1.q.val();
            self.q1.d.next = self.q2.q.val();
            self.q2.d.next = self.q3.q.val();
            if self.wj.q.val() == self.wpv_m1.val() {
                self.wj.d.next = bits::<2>(0);
                self.vbase.d.next = self.vbase.q.val() + self.out_cw.val();
            } else {
                self.wj.d.next = self.wj.q.val() + bits::<2>(1);
            }
        }
        // ---- enqueue at the first free slot after the dequeue ----
        self.slot.next = self.cnt.q.val();
        if self.pop.val() & (self.cnt.q.val() != bits::<3>(0)) {
            self.slot.next = self.cnt.q.val() - bits::<3>(1);
        }
        if self.push.val() & !(self.pop.val() & (self.cnt.q.val() == bits::<3>(0))) {
            if self.slot.val() == bits::<3>(0) {
                self.q0.d.next = self.data.val();
            }
            if self.slot.val() == bits::<3>(1) {
                self.q1.d.next = self.data.val();
            }
            if self.slot.val() == bits::<3>(2) {
                self.q2.d.next = self.data.val();
            }
            if self.slot.val() == bits::<3>(3) {
                self.q3.d.next = self.data.val();
            }
            if self.slot.val() == bits::<3>(4) {
                self.lost.d.next = true;
            }
        }
        if self.push.val() & !self.pop.val() & (self.cnt.q.val() != bits::<3>(4)) {
            self.cnt.d.next = self.cnt.q.val() + bits::<3>(1);
        }
        if !self.push.val() & self.pop.val() {
            self.cnt.d.next = self.cnt.q.val() - bits::<3>(1);
        }
        if self.clear.val() {
            self.vbase.d.next = self.base.val();
            self.wj.d.next = bits::<2>(0);
            self.lost.d.next = false;
        }
        self.overflow.next = self.lost.q.val();
    }
}
