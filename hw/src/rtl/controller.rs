//! The tile controller: latches a descriptor on `start`, issues one (bit-plane, lane chunk)
//! slot per cycle, paces vectors, sequences the requantizer drain and signals completion.
//!
//! A vector occupies exactly `max(B·chunks, rows)` cycles: `B·chunks` issue slots (planes most
//! significant first, chunks inner), then idle cycles until the requantizer, which drains one
//! row per cycle, can accept the next hand-off. The slot flags travel down the engine's delay
//! line next to the data; the hand-off comes back as `handoff`, which starts a drain of `rows`
//! cycles. `done` rises (and `busy` falls) on the cycle the last output is written; `cycles`
//! counts the clock edges from the one that latched `start` to that one.

use rust_hdl::prelude::*;

/// Flag bits of an issue slot (one byte travelling down the delay line).
pub const F_VALID: u64 = 1;
pub const F_FIRST: u64 = 2;
pub const F_PLANE_START: u64 = 4;
pub const F_LAST: u64 = 8;
pub const F_CORR: u64 = 16;

#[derive(LogicBlock)]
pub struct Controller {
    pub clock: Signal<In, Clock>,
    pub start: Signal<In, Bit>,
    pub desc_rows: Signal<In, Bits<16>>,
    pub desc_chunks: Signal<In, Bits<16>>,
    pub desc_vectors: Signal<In, Bits<16>>,
    pub desc_wbase: Signal<In, Bits<16>>,
    pub desc_abase: Signal<In, Bits<16>>,
    pub desc_obase: Signal<In, Bits<16>>,
    pub desc_pbase: Signal<In, Bits<16>>,
    /// A vector's last slot has reached the rows' hand-off registers.
    pub handoff: Signal<In, Bit>,
    /// The requantizer wrote the tile's last output.
    pub finished: Signal<In, Bit>,
    pub busy: Signal<Out, Bit>,
    pub done: Signal<Out, Bit>,
    pub cycles: Signal<Out, Bits<32>>,
    /// Registered issue outputs: memory addresses and slot flags.
    pub w_addr: Signal<Out, Bits<16>>,
    pub a_addr: Signal<Out, Bits<16>>,
    pub flags: Signal<Out, Bits<8>>,
    /// Drain outputs (combinational from the drain registers).
    pub drain_valid: Signal<Out, Bit>,
    pub drain_final: Signal<Out, Bit>,
    pub drain_row: Signal<Out, Bits<8>>,
    pub drain_oaddr: Signal<Out, Bits<16>>,
    pub drain_paddr: Signal<Out, Bits<16>>,
    busy_r: DFF<Bit>,
    done_r: DFF<Bit>,
    cycles_r: DFF<Bits<32>>,
    rows: DFF<Bits<16>>,
    chunks: DFF<Bits<16>>,
    vectors: DFF<Bits<16>>,
    wbase: DFF<Bits<16>>,
    obase: DFF<Bits<16>>,
    pbase: DFF<Bits<16>>,
    issuing: DFF<Bit>,
    vec: DFF<Bits<16>>,
    ch: DFF<Bits<16>>,
    plane: DFF<Bits<8>>,
    slot: DFF<Bits<16>>,
    issued: DFF<Bit>,
    wptr: DFF<Bits<16>>,
    avec: DFF<Bits<16>>,
    w_addr_r: DFF<Bits<16>>,
    a_addr_r: DFF<Bits<16>>,
    flags_r: DFF<Bits<8>>,
    dactive: DFF<Bit>,
    dcnt: DFF<Bits<8>>,
    dobase: DFF<Bits<16>>,
    dfinal: DFF<Bit>,
    hvec: DFF<Bits<16>>,
    onext: DFF<Bits<16>>,
    is_last: Signal<Local, Bit>,
    t_first: Signal<Local, Bits<8>>,
    t_plane_start: Signal<Local, Bits<8>>,
    t_corr: Signal<Local, Bits<8>>,
    t_last: Signal<Local, Bits<8>>,
    last_plane: Constant<Bits<8>>,
    one16: Constant<Bits<16>>,
    f_valid: Constant<Bits<8>>,
    f_first: Constant<Bits<8>>,
    f_plane_start: Constant<Bits<8>>,
    f_last: Constant<Bits<8>>,
    f_corr: Constant<Bits<8>>,
}

impl Controller {
    /// A controller for weight bitwidth `bits` (1..=8).
    pub fn new(b: u8) -> Self {
        assert!((1..=8).contains(&b), "bits must be 1..=8, got {b}");
        Self {
            clock: Default::default(),
            start: Default::default(),
            desc_rows: Default::default(),
            desc_chunks: Default::default(),
            desc_vectors: Default::default(),
            desc_wbase: Default::default(),
            desc_abase: Default::default(),
            desc_obase: Default::default(),
            desc_pbase: Default::default(),
            handoff: Default::default(),
            finished: Default::default(),
            busy: Default::default(),
            done: Default::default(),
            cycles: Default::default(),
            w_addr: Default::default(),
            a_addr: Default::default(),
            flags: Default::default(),
            drain_valid: Default::default(),
            drain_final: Default::default(),
            drain_row: Default::default(),
            drain_oaddr: Default::default(),
            drain_paddr: Default::default(),
            busy_r: Default::default(),
            done_r: Default::default(),
            cycles_r: Default::default(),
            rows: Default::default(),
            chunks: Default::default(),
            vectors: Default::default(),
            wbase: Default::default(),
            obase: Default::default(),
            pbase: Default::default(),
            issuing: Default::default(),
            vec: Default::default(),
            ch: Default::default(),
            plane: Default::default(),
            slot: Default::default(),
            issued: Default::default(),
            wptr: Default::default(),
            avec: Default::default(),
            w_addr_r: Default::default(),
            a_addr_r: Default::default(),
            flags_r: Default::default(),
            dactive: Default::default(),
            dcnt: Default::default(),
            dobase: Default::default(),
            dfinal: Default::default(),
            hvec: Default::default(),
            onext: Default::default(),
            is_last: Default::default(),
            t_first: Default::default(),
            t_plane_start: Default::default(),
            t_corr: Default::default(),
            t_last: Default::default(),
            last_plane: Constant::new(bits(b as u64 - 1)),
            one16: Constant::new(bits(1)),
            f_valid: Constant::new(bits(F_VALID)),
            f_first: Constant::new(bits(F_FIRST)),
            f_plane_start: Constant::new(bits(F_PLANE_START)),
            f_last: Constant::new(bits(F_LAST)),
            f_corr: Constant::new(bits(F_CORR)),
        }
    }
}

impl Logic for Controller {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, busy_r, done_r, cycles_r, rows, chunks, vectors, wbase, obase, pbase,
            issuing, vec, ch, plane, slot, issued, wptr, avec, w_addr_r, a_addr_r, flags_r,
            dactive, dcnt, dobase, dfinal, hvec, onext
        );
        // ---- issue ----
        self.is_last.next = !self.issued.q.val()
            & (self.plane.q.val() == self.last_plane.val())
            & (self.ch.q.val() + self.one16.val() == self.chunks.q.val());
        self.t_first.next = bits::<8>(0);
        if self.slot.q.val() == bits::<16>(0) {
            self.t_first.next = self.f_first.val();
        }
        self.t_plane_start.next = bits::<8>(0);
        if self.ch.q.val() == bits::<16>(0) {
            self.t_plane_start.next = self.f_plane_start.val();
        }
        self.t_corr.next = bits::<8>(0);
        if self.plane.q.val() == bits::<8>(0) {
            self.t_corr.next = self.f_corr.val();
        }
        self.t_last.next = bits::<8>(0);
        if self.is_last.val() {
            self.t_last.next = self.f_last.val();
        }
        self.flags_r.d.next = bits::<8>(0);
        self.w_addr_r.d.next = self.wbase.q.val() + self.wptr.q.val();
        self.a_addr_r.d.next = self.avec.q.val() + self.ch.q.val();
        if self.issuing.q.val() {
            if !self.issued.q.val() {
                self.flags_r.d.next = self.f_valid.val()
                    | self.t_first.val()
                    | self.t_plane_start.val()
                    | self.t_corr.val()
                    | self.t_last.val();
                if self.is_last.val() {
                    self.issued.d.next = true;
                }
                self.wptr.d.next = self.wptr.q.val() + self.one16.val();
                if self.ch.q.val() + self.one16.val() == self.chunks.q.val() {
                    self.ch.d.next = bits::<16>(0);
                    self.plane.d.next = self.plane.q.val() + bits::<8>(1);
                } else {
                    self.ch.d.next = self.ch.q.val() + self.one16.val();
                }
            }
            self.slot.d.next = self.slot.q.val() + self.one16.val();
            // The vector ends when every slot is issued and `rows` cycles have passed.
            if (self.issued.q.val() | self.is_last.val())
                & (self.slot.q.val() + self.one16.val() >= self.rows.q.val())
            {
                self.slot.d.next = bits::<16>(0);
                self.ch.d.next = bits::<16>(0);
                self.plane.d.next = bits::<8>(0);
                self.issued.d.next = false;
                self.wptr.d.next = bits::<16>(0);
                self.avec.d.next = self.avec.q.val() + self.chunks.q.val();
                self.vec.d.next = self.vec.q.val() + self.one16.val();
                if self.vec.q.val() + self.one16.val() == self.vectors.q.val() {
                    self.issuing.d.next = false;
                }
            }
        }
        // ---- drain ----
        self.drain_valid.next = self.dactive.q.val();
        self.drain_row.next = self.dcnt.q.val();
        self.drain_oaddr.next = self.dobase.q.val() + bit_cast::<16, 8>(self.dcnt.q.val());
        self.drain_paddr.next = self.pbase.q.val() + bit_cast::<16, 8>(self.dcnt.q.val());
        self.drain_final.next = self.dactive.q.val()
            & self.dfinal.q.val()
            & (bit_cast::<16, 8>(self.dcnt.q.val()) + self.one16.val() == self.rows.q.val());
        if self.dactive.q.val() {
            self.dcnt.d.next = self.dcnt.q.val() + bits::<8>(1);
            if bit_cast::<16, 8>(self.dcnt.q.val()) + self.one16.val() == self.rows.q.val() {
                self.dactive.d.next = false;
            }
        }
        if self.handoff.val() {
            self.dactive.d.next = true;
            self.dcnt.d.next = bits::<8>(0);
            self.dobase.d.next = self.onext.q.val();
            self.onext.d.next = self.onext.q.val() + self.rows.q.val();
            self.dfinal.d.next = self.hvec.q.val() + self.one16.val() == self.vectors.q.val();
            self.hvec.d.next = self.hvec.q.val() + self.one16.val();
        }
        // ---- start / completion ----
        if self.busy_r.q.val() {
            self.cycles_r.d.next = self.cycles_r.q.val() + bits::<32>(1);
            if self.finished.val() {
                self.busy_r.d.next = false;
                self.done_r.d.next = true;
            }
        } else if self.start.val() {
            self.busy_r.d.next = true;
            self.done_r.d.next = false;
            self.cycles_r.d.next = bits::<32>(0);
            self.rows.d.next = self.desc_rows.val();
            self.chunks.d.next = self.desc_chunks.val();
            self.vectors.d.next = self.desc_vectors.val();
            self.wbase.d.next = self.desc_wbase.val();
            self.obase.d.next = self.desc_obase.val();
            self.pbase.d.next = self.desc_pbase.val();
            self.avec.d.next = self.desc_abase.val();
            self.onext.d.next = self.desc_obase.val();
            self.issuing.d.next = true;
            self.vec.d.next = bits::<16>(0);
            self.hvec.d.next = bits::<16>(0);
            self.slot.d.next = bits::<16>(0);
            self.ch.d.next = bits::<16>(0);
            self.plane.d.next = bits::<8>(0);
            self.issued.d.next = false;
            self.wptr.d.next = bits::<16>(0);
        }
        self.busy.next = self.busy_r.q.val();
        self.done.next = self.done_r.q.val();
        self.cycles.next = self.cycles_r.q.val();
        self.w_addr.next = self.w_addr_r.q.val();
        self.a_addr.next = self.a_addr_r.q.val();
        self.flags.next = self.flags_r.q.val();
    }
}
