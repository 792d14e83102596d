//! The conv body's output write queue (docs/engine.md §7: "writing the previous vector's
//! output while the array computes"): packed output words enter in vector order and leave on
//! the cycles the main-memory port has no read, at `base + p·out_cw + j` for vector p and word
//! j < wpv (the tile's column of the output buffer).
//!
//! A word may leave in the cycle it enters (fall-through). The entries form a ring (read and
//! write pointers), so a word is written once and never shifted. Depth 4 is enough: every window of
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
    rp: DFF<Bits<2>>,
    wp: DFF<Bits<2>>,
    vbase: DFF<Bits<16>>,
    wj: DFF<Bits<2>>,
    lost: DFF<Bit>,
    pop: Signal<Local, Bit>,
    enq: Signal<Local, Bit>,
    head: Signal<Local, Bits<64>>,
}

impl Logic for OutQueue {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, q0, q1, q2, q3, cnt, rp, wp, vbase, wj, lost);
        self.pop.next = self.free.val() & ((self.cnt.q.val() != bits::<3>(0)) | self.push.val());
        // A ring of four entries: `rp` is the oldest, `wp` the next free one.
        self.head.next = self.q0.q.val();
        if self.rp.q.val() == bits::<2>(1) {
            self.head.next = self.q1.q.val();
        }
        if self.rp.q.val() == bits::<2>(2) {
            self.head.next = self.q2.q.val();
        }
        if self.rp.q.val() == bits::<2>(3) {
            self.head.next = self.q3.q.val();
        }
        if self.cnt.q.val() == bits::<3>(0) {
            self.wdata.next = self.data.val();
        } else {
            self.wdata.next = self.head.val();
        }
        self.we.next = self.pop.val();
        self.addr.next = self.vbase.q.val() + bit_cast::<16, 2>(self.wj.q.val());
        // ---- dequeue: step the read pointer and the address ----
        if self.pop.val() {
            if self.cnt.q.val() != bits::<3>(0) {
                self.rp.d.next = self.rp.q.val() + bits::<2>(1);
            }
            if self.wj.q.val() == self.wpv_m1.val() {
                self.wj.d.next = bits::<2>(0);
                self.vbase.d.next = self.vbase.q.val() + self.out_cw.val();
            } else {
                self.wj.d.next = self.wj.q.val() + bits::<2>(1);
            }
        }
        // ---- enqueue unless the word falls through; lost when full without a dequeue ----
        self.enq.next = self.push.val() & !(self.pop.val() & (self.cnt.q.val() == bits::<3>(0)));
        if self.enq.val() {
            if (self.cnt.q.val() == bits::<3>(4)) & !self.pop.val() {
                self.lost.d.next = true;
            } else {
                self.wp.d.next = self.wp.q.val() + bits::<2>(1);
                if self.wp.q.val() == bits::<2>(0) {
                    self.q0.d.next = self.data.val();
                }
                if self.wp.q.val() == bits::<2>(1) {
                    self.q1.d.next = self.data.val();
                }
                if self.wp.q.val() == bits::<2>(2) {
                    self.q2.d.next = self.data.val();
                }
                if self.wp.q.val() == bits::<2>(3) {
                    self.q3.d.next = self.data.val();
                }
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
