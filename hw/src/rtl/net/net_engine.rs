//! The whole-network engine (docs/engine.md; interface in the RTL brief): the main memory
//! ([`MainMemory`], the UP5K's SPRAM gang or the ECP5's block RAM, chosen at construction), the host memory port, the [`DescUnit`], the [`Sequencer`], the
//! [`ElemUnit`] and the [`ConvUnit`] (B bits per weight, a constructor argument), with the
//! cycle counter. The element-wise unit borrows the conv unit's requantizer lanes (the two
//! never run at once).
//!
//! Main-memory port, in priority order: the descriptor unit's reads (including the one in the
//! `start` cycle), the host port while the engine is idle, the element-wise unit, the conv unit.
//! Host writes while `busy` are dropped; `host_rdata` is the memory's read word (SpramMain
//! timing: the word of the address sampled at the previous edge).
//!
//! Op codes without a unit (6..15) raise `fault` (see [`Sequencer`]).

use super::conv_unit::ConvUnit;
use super::desc_unit::DescUnit;
use super::elem_unit::ElemUnit;
use super::main_memory::{MainKind, MainMemory};
use super::sequencer::Sequencer;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct NetEngine {
    pub clock: Signal<In, Clock>,
    pub start: Signal<In, Bit>,
    pub stop_after: Signal<In, Bits<16>>,
    pub busy: Signal<Out, Bit>,
    pub done: Signal<Out, Bit>,
    pub cycles: Signal<Out, Bits<48>>,
    pub fault: Signal<Out, Bit>,
    pub host_addr: Signal<In, Bits<16>>,
    pub host_we: Signal<In, Bit>,
    pub host_be: Signal<In, Bits<8>>,
    pub host_wdata: Signal<In, Bits<64>>,
    pub host_en: Signal<In, Bit>,
    pub host_rdata: Signal<Out, Bits<64>>,
    mem: MainMemory,
    desc: DescUnit,
    seq: Sequencer,
    elem: ElemUnit,
    conv: ConvUnit,
}

impl NetEngine {
    /// The UP5K engine (SPRAM main memory) for weights of `b` bits (1..=8).
    pub fn new(b: u8) -> Self {
        Self::with_main(b, MainKind::Spram)
    }

    /// The engine for weights of `b` bits with the main memory `main`.
    pub fn with_main(b: u8, main: MainKind) -> Self {
        Self {
            clock: Default::default(),
            start: Default::default(),
            stop_after: Default::default(),
            busy: Default::default(),
            done: Default::default(),
            cycles: Default::default(),
            fault: Default::default(),
            host_addr: Default::default(),
            host_we: Default::default(),
            host_be: Default::default(),
            host_wdata: Default::default(),
            host_en: Default::default(),
            host_rdata: Default::default(),
            mem: MainMemory::new(main),
            desc: Default::default(),
            seq: Sequencer::new(true),
            elem: Default::default(),
            conv: ConvUnit::new(b),
        }
    }
}

impl Logic for NetEngine {
    #[hdl_gen]
    fn update(&mut self) {
        // ---- sequencer ----
        self.seq.clock.next = self.clock.val();
        self.seq.start.next = self.start.val();
        self.seq.stop_after.next = self.stop_after.val();
        self.seq.desc_valid.next = self.desc.valid.val();
        self.seq.op.next = self.desc.op.val();
        self.seq.elem_done.next = self.elem.done.val();
        self.seq.conv_done.next = self.conv.done.val();
        self.busy.next = self.seq.busy.val();
        self.done.next = self.seq.done.val();
        self.cycles.next = self.seq.cycles.val();
        self.fault.next = self.seq.fault.val();
        // ---- descriptor unit ----
        self.desc.clock.next = self.clock.val();
        self.desc.start.next = self.seq.desc_start.val();
        self.desc.base.next = self.seq.desc_base.val();
        self.desc.mem_rdata.next = self.mem.rdata.val();
        // ---- element-wise unit: the decoded record, held by the descriptor unit ----
        self.elem.clock.next = self.clock.val();
        self.elem.prep.next = self.seq.elem_prep.val();
        self.elem.go.next = self.seq.elem_go.val();
        self.elem.op.next = self.desc.op.val();
        self.elem.out_kind.next = self.desc.out_kind.val();
        self.elem.a_signed.next = self.desc.a_signed.val();
        self.elem.b_signed.next = self.desc.b_signed.val();
        self.elem.stride.next = self.desc.stride.val();
        self.elem.in_w.next = self.desc.in_w.val();
        self.elem.in_cw.next = self.desc.in_cw.val();
        self.elem.out_h.next = self.desc.out_h.val();
        self.elem.out_w.next = self.desc.out_w.val();
        self.elem.out_cw.next = self.desc.out_cw.val();
        self.elem.f10.next = self.desc.f10.val();
        self.elem.in_a.next = self.desc.in_a.val();
        self.elem.in_b.next = self.desc.in_b.val();
        self.elem.out_base.next = self.desc.out_base.val();
        self.elem.param.next = self.desc.param.val();
        self.elem.mem_rdata.next = self.mem.rdata.val();
        self.elem.lane_word.next = self.conv.lane_word.val();
        self.elem.lane_done.next = self.conv.lane_done.val();
        self.conv.ext_valid.next = self.elem.lane_valid.val();
        self.conv.ext_addr.next = self.elem.lane_addr.val();
        self.conv.ext_dot0.next = self.elem.lane_dot0.val();
        self.conv.ext_dot1.next = self.elem.lane_dot1.val();
        self.conv.ext_param.next = self.elem.lane_param.val();
        self.conv.ext_pair.next = self.elem.lane_pair.val();
        self.conv.ext_m2.next = self.elem.lane_m2.val();
        // ---- conv unit ----
        self.conv.clock.next = self.clock.val();
        self.conv.go.next = self.seq.conv_go.val();
        self.conv.op.next = self.desc.op.val();
        self.conv.out_kind.next = self.desc.out_kind.val();
        self.conv.a_signed.next = self.desc.a_signed.val();
        self.conv.b_signed.next = self.desc.b_signed.val();
        self.conv.masked.next = self.desc.masked.val();
        self.conv.stream.next = self.desc.stream.val();
        self.conv.diagonal.next = self.desc.diagonal.val();
        self.conv.kernel.next = self.desc.kernel.val();
        self.conv.stride.next = self.desc.stride.val();
        self.conv.pad.next = self.desc.pad.val();
        self.conv.in_h.next = self.desc.in_h.val();
        self.conv.in_w.next = self.desc.in_w.val();
        self.conv.in_cw.next = self.desc.in_cw.val();
        self.conv.out_h.next = self.desc.out_h.val();
        self.conv.out_w.next = self.desc.out_w.val();
        self.conv.out_cw.next = self.desc.out_cw.val();
        self.conv.out_channels.next = self.desc.out_channels.val();
        self.conv.tiles.next = self.desc.tiles.val();
        self.conv.f10.next = self.desc.f10.val();
        self.conv.tile_words.next = self.desc.tile_words.val();
        self.conv.in_a.next = self.desc.in_a.val();
        self.conv.in_b.next = self.desc.in_b.val();
        self.conv.out_base.next = self.desc.out_base.val();
        self.conv.param.next = self.desc.param.val();
        self.conv.mem_rdata.next = self.mem.rdata.val();
        // ---- main-memory port ----
        self.mem.clock.next = self.clock.val();
        self.mem.addr.next = self.host_addr.val().get_bits::<14>(0);
        self.mem.we.next = false;
        self.mem.be.next = self.host_be.val();
        self.mem.wdata.next = self.host_wdata.val();
        if !self.seq.busy.val() {
            self.mem.we.next = self.host_en.val() & self.host_we.val();
        } else if self.elem.mem_en.val() {
            self.mem.addr.next = self.elem.mem_addr.val().get_bits::<14>(0);
            self.mem.we.next = self.elem.mem_we.val();
            self.mem.be.next = self.elem.mem_be.val();
            self.mem.wdata.next = self.elem.mem_wdata.val();
        } else if self.conv.mem_en.val() {
            self.mem.addr.next = self.conv.mem_addr.val().get_bits::<14>(0);
            self.mem.we.next = self.conv.mem_we.val();
            self.mem.be.next = self.conv.mem_be.val();
            self.mem.wdata.next = self.conv.mem_wdata.val();
        }
        if self.desc.mem_rd.val() {
            self.mem.addr.next = self.desc.mem_addr.val().get_bits::<14>(0);
            self.mem.we.next = false;
        }
        self.host_rdata.next = self.mem.rdata.val();
    }
}

/// The UP5K engine's Verilog (module `top`, with the SPRAM black-box declarations),
/// Verilator's UNOPTFLAT waived (see [`super::elem_unit::UNOPTFLAT_WAIVER`]).
pub fn verilog(b: u8) -> String {
    verilog_with_main(b, MainKind::Spram)
}

/// The engine's Verilog with the main memory `main`.
pub fn verilog_with_main(b: u8, main: MainKind) -> String {
    let mut u = NetEngine::with_main(b, main);
    u.connect_all();
    format!(
        "{}{}",
        super::elem_unit::UNOPTFLAT_WAIVER,
        generate_verilog(&u)
    )
}
