//! The sequencer (docs/engine.md §5): from `start`, fetch and decode record n at main word
//! `n · desc_words` (through the [`super::desc_unit::DescUnit`], `desc_words + 1` edges), run
//! its body (Conv → the conv unit, Add / MaxPool / AvgPool → the element-wise unit, View →
//! nothing) and go on with record n + 1; `End` stops. It counts the cycles.
//!
//! Timing (UP5K, `desc_words` = 4): record n's `desc_start` is sampled at edge e; the record is
//! decoded after edge e + 4; the body's `go` is sampled at edge e + 5 (a View's next
//! `desc_start` instead); the unit's `done` is sampled at the edge that starts record n + 1.
//! The cycle counter counts every edge from the one sampling `start` up to the last edge of the
//! final record (End's decode, or the body of record `stop_after`), so it is Σ (setup + body)
//! of the records run — `engine::cycles` / `Machine::cycles`.
//!
//! `start` is honoured while idle (it clears the counter). `done` is a level, high after End,
//! after record `stop_after` (0xFFFF: never), or after a fault, until the next `start`;
//! `fault` is an op code the engine has no unit for (6..15, or Conv without a conv unit).
//! `elem_prep` pulses at edge e + 2 of every fetch, when the record's stride, in_w and in_cw
//! are decoded, so that the element-wise unit's stride products are ready by its `go`.

use rust_hdl::prelude::*;

/// Main words per descriptor record (64-bit words).
pub const DESC_WORDS: u64 = 4;

#[derive(LogicBlock)]
pub struct Sequencer {
    pub clock: Signal<In, Clock>,
    pub start: Signal<In, Bit>,
    pub stop_after: Signal<In, Bits<16>>,
    pub desc_valid: Signal<In, Bit>,
    pub op: Signal<In, Bits<4>>,
    pub elem_done: Signal<In, Bit>,
    pub conv_done: Signal<In, Bit>,
    pub desc_start: Signal<Out, Bit>,
    pub desc_base: Signal<Out, Bits<16>>,
    pub elem_prep: Signal<Out, Bit>,
    pub elem_go: Signal<Out, Bit>,
    pub conv_go: Signal<Out, Bit>,
    pub busy: Signal<Out, Bit>,
    pub done: Signal<Out, Bit>,
    pub fault: Signal<Out, Bit>,
    pub cycles: Signal<Out, Bits<48>>,
    /// 0 idle, 1 fetch + decode, 2 body.
    state: DFF<Bits<2>>,
    fcnt: DFF<Bits<3>>,
    rec: DFF<Bits<16>>,
    base: DFF<Bits<16>>,
    cnt: DFF<Bits<48>>,
    dn: DFF<Bit>,
    flt: DFF<Bit>,
    /// The record ends at this edge (the next one starts unless it was record `stop_after`).
    finish: Signal<Local, Bit>,
    halt: Signal<Local, Bit>,
    bad: Signal<Local, Bit>,
    has_conv: Constant<Bit>,
}

impl Sequencer {
    /// `has_conv`: a conv unit is built in (else Conv records fault).
    pub fn new(has_conv: bool) -> Self {
        Self {
            clock: Default::default(),
            start: Default::default(),
            stop_after: Default::default(),
            desc_valid: Default::default(),
            op: Default::default(),
            elem_done: Default::default(),
            conv_done: Default::default(),
            desc_start: Default::default(),
            desc_base: Default::default(),
            elem_prep: Default::default(),
            elem_go: Default::default(),
            conv_go: Default::default(),
            busy: Default::default(),
            done: Default::default(),
            fault: Default::default(),
            cycles: Default::default(),
            state: Default::default(),
            fcnt: Default::default(),
            rec: Default::default(),
            base: Default::default(),
            cnt: Default::default(),
            dn: Default::default(),
            flt: Default::default(),
            finish: Default::default(),
            halt: Default::default(),
            bad: Default::default(),
            has_conv: Constant::new(has_conv),
        }
    }
}

impl Logic for Sequencer {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, state, fcnt, rec, base, cnt, dn, flt);
        self.desc_start.next = false;
        self.desc_base.next = self.base.q.val() + bits::<16>(4);
        self.elem_prep.next = false;
        self.elem_go.next = false;
        self.conv_go.next = false;
        self.finish.next = false;
        self.halt.next = false;
        self.bad.next = false;
        // ---- fetch + decode ----
        if self.state.q.val() == bits::<2>(1) {
            if self.fcnt.q.val() != bits::<3>(7) {
                self.fcnt.d.next = self.fcnt.q.val() + bits::<3>(1);
            }
            self.elem_prep.next = self.fcnt.q.val() == bits::<3>(2);
            if self.desc_valid.val() {
                self.state.d.next = bits::<2>(2);
                if self.op.val() == bits::<4>(0) {
                    self.halt.next = true;
                } else if self.op.val() == bits::<4>(1) {
                    if self.has_conv.val() {
                        self.conv_go.next = true;
                    } else {
                        self.bad.next = true;
                    }
                } else if (self.op.val() == bits::<4>(2))
                    | (self.op.val() == bits::<4>(3))
                    | (self.op.val() == bits::<4>(4))
                {
                    self.elem_go.next = true;
                } else if self.op.val() == bits::<4>(5) {
                    self.finish.next = true;
                } else {
                    self.bad.next = true;
                }
            }
        }
        // ---- body ----
        if (self.state.q.val() == bits::<2>(2)) & (self.elem_done.val() | self.conv_done.val()) {
            self.finish.next = true;
        }
        if self.finish.val() & (self.rec.q.val() == self.stop_after.val()) {
            self.halt.next = true;
        }
        if self.bad.val() {
            self.halt.next = true;
            self.flt.d.next = true;
        }
        if self.finish.val() & !self.halt.val() {
            self.desc_start.next = true;
            self.base.d.next = self.base.q.val() + bits::<16>(4);
            self.rec.d.next = self.rec.q.val() + bits::<16>(1);
            self.fcnt.d.next = bits::<3>(1);
            self.state.d.next = bits::<2>(1);
        }
        if self.halt.val() {
            self.state.d.next = bits::<2>(0);
            self.dn.d.next = true;
        }
        // ---- cycle counter ----
        if (self.state.q.val() != bits::<2>(0)) & !self.halt.val() {
            self.cnt.d.next = self.cnt.q.val() + bits::<48>(1);
        }
        // ---- start ----
        if self.start.val() & (self.state.q.val() == bits::<2>(0)) {
            self.desc_start.next = true;
            self.desc_base.next = bits::<16>(0);
            self.base.d.next = bits::<16>(0);
            self.rec.d.next = bits::<16>(0);
            self.fcnt.d.next = bits::<3>(1);
            self.state.d.next = bits::<2>(1);
            self.cnt.d.next = bits::<48>(1);
            self.dn.d.next = false;
            self.flt.d.next = false;
        }
        self.busy.next = self.state.q.val() != bits::<2>(0);
        self.done.next = self.dn.q.val();
        self.fault.next = self.flt.q.val();
        self.cycles.next = self.cnt.q.val();
    }
}
