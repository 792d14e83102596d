//! The engine: R rows × C lanes, weight/activation/parameter/output memories, the Σx
//! correction, the requantizer and the controller. Host ports write the memories, load a
//! descriptor, pulse `start`, wait for `done` and read outputs; the same ports exist in the
//! generated Verilog (module `top`), so a Verilator or iverilog harness drives it identically.
//!
//! Σx correction: a shared adder tree with all weight bits set gives `Σ_c x_c + 256·C` per
//! chunk; `qacc` accumulates `that + 256·C` over a vector's chunks (during the first plane
//! pass), so `qm = (2^B − 1)·qacc = (2^B − 1)·(Σx + 512·C·chunks)`, and each row's
//! `2·acc − qm` is exactly `Σ_k level(u_k)·x_k` (see `pe.rs`). The correction tree reads the
//! activation memory one stage earlier than the rows, so `qm` is ready at hand-off.
//!
//! Generic parameters (each derived width is its own const generic, checked in `new`):
//! `R` rows, `C` lanes, `C2 = 2C`, `X9 = 9C`, `ST = 9 + log2 C`, `RC = R·C`, and the address
//! widths `WA`, `AA`, `OA`, `PA` of the weight, activation, output and parameter memories.

use crate::model::{accumulator_bits, tree_latency};
use crate::rtl::adder_tree::AdderTree;
use crate::rtl::controller::{Controller, F_FIRST, F_LAST, F_PLANE_START, F_VALID};
use crate::rtl::pe::Row;
use crate::rtl::requant::Requantizer;
use rust_hdl::prelude::*;

/// Length of the slot-flag delay line (enough for trees up to 64 lanes).
const LINE: usize = 8;

#[derive(LogicBlock)]
pub struct Engine<
    const R: usize,
    const C: usize,
    const C2: usize,
    const X9: usize,
    const ST: usize,
    const RC: usize,
    const WA: usize,
    const AA: usize,
    const OA: usize,
    const PA: usize,
> {
    pub clock: Signal<In, Clock>,
    pub wmem_we: Signal<In, Bit>,
    pub wmem_waddr: Signal<In, Bits<WA>>,
    pub wmem_wdata: Signal<In, Bits<RC>>,
    pub amem_we: Signal<In, Bit>,
    pub amem_waddr: Signal<In, Bits<AA>>,
    pub amem_wdata: Signal<In, Bits<X9>>,
    pub pmem_we: Signal<In, Bit>,
    pub pmem_waddr: Signal<In, Bits<PA>>,
    pub pmem_wdata: Signal<In, Bits<64>>,
    pub omem_raddr: Signal<In, Bits<OA>>,
    pub omem_rdata: Signal<Out, Bits<32>>,
    pub start: Signal<In, Bit>,
    pub desc_rows: Signal<In, Bits<16>>,
    pub desc_chunks: Signal<In, Bits<16>>,
    pub desc_vectors: Signal<In, Bits<16>>,
    pub desc_wbase: Signal<In, Bits<16>>,
    pub desc_abase: Signal<In, Bits<16>>,
    pub desc_obase: Signal<In, Bits<16>>,
    pub desc_pbase: Signal<In, Bits<16>>,
    pub busy: Signal<Out, Bit>,
    pub done: Signal<Out, Bit>,
    pub cycles: Signal<Out, Bits<32>>,
    wmem: RAM<Bits<RC>, WA>,
    amem: RAM<Bits<X9>, AA>,
    pmem: RAM<Bits<64>, PA>,
    omem: RAM<Bits<32>, OA>,
    ctl: Controller,
    wreg: DFF<Bits<RC>>,
    areg: DFF<Bits<X9>>,
    rows: [Row<C, C2, X9, ST>; R],
    ctree: AdderTree<C, C2, X9, ST>,
    qacc: DFF<Bits<32>>,
    qm: DFF<Bits<32>>,
    line: [DFF<Bits<8>>; LINE],
    fl_corr: Signal<Local, Bits<8>>,
    fl_acc: Signal<Local, Bits<8>>,
    fl_hand: Signal<Local, Bits<8>>,
    s0_dot: DFF<Bits<32>>,
    s0_valid: DFF<Bit>,
    s0_final: DFF<Bit>,
    s0_addr: DFF<Bits<16>>,
    rq: Requantizer,
    cc: Constant<Bits<16>>,
    ones: Constant<Bits<C>>,
    bshift: Constant<Bits<8>>,
    corr_ofs: Constant<Bits<32>>,
    tap_corr: Constant<Bits<8>>,
    tap_acc: Constant<Bits<8>>,
    tap_hand: Constant<Bits<8>>,
    acc_mask: Constant<Bits<32>>,
    acc_sign: Constant<Bits<32>>,
}

impl<
        const R: usize,
        const C: usize,
        const C2: usize,
        const X9: usize,
        const ST: usize,
        const RC: usize,
        const WA: usize,
        const AA: usize,
        const OA: usize,
        const PA: usize,
    > Engine<R, C, C2, X9, ST, RC, WA, AA, OA, PA>
{
    /// An engine for weight bitwidth `bits` (1..=8). Panics on inconsistent generics (a
    /// programming error: the supported configurations are listed in `configs.rs`).
    pub fn new(b: u8) -> Self {
        assert!((1..=8).contains(&b), "bits must be 1..=8, got {b}");
        assert!((1..=255).contains(&R), "rows must be 1..=255");
        assert_eq!(RC, R * C, "RC must be R*C");
        assert!(
            WA <= 16 && AA <= 16 && OA <= 16 && PA <= 16,
            "address widths must be <= 16"
        );
        let lt = tree_latency(C);
        assert!(
            lt as usize + 2 < LINE,
            "adder tree too deep for the delay line"
        );
        let aw = accumulator_bits(b, C, WA);
        let mask = if aw == 32 {
            u32::MAX as u64
        } else {
            (1u64 << aw) - 1
        };
        let ones = if C >= 64 { u64::MAX } else { (1u64 << C) - 1 };
        Self {
            clock: Default::default(),
            wmem_we: Default::default(),
            wmem_waddr: Default::default(),
            wmem_wdata: Default::default(),
            amem_we: Default::default(),
            amem_waddr: Default::default(),
            amem_wdata: Default::default(),
            pmem_we: Default::default(),
            pmem_waddr: Default::default(),
            pmem_wdata: Default::default(),
            omem_raddr: Default::default(),
            omem_rdata: Default::default(),
            start: Default::default(),
            desc_rows: Default::default(),
            desc_chunks: Default::default(),
            desc_vectors: Default::default(),
            desc_wbase: Default::default(),
            desc_abase: Default::default(),
            desc_obase: Default::default(),
            desc_pbase: Default::default(),
            busy: Default::default(),
            done: Default::default(),
            cycles: Default::default(),
            wmem: Default::default(),
            amem: Default::default(),
            pmem: Default::default(),
            omem: Default::default(),
            ctl: Controller::new(b),
            wreg: Default::default(),
            areg: Default::default(),
            rows: std::array::from_fn(|_| Row::new(aw)),
            ctree: AdderTree::new(),
            qacc: Default::default(),
            qm: Default::default(),
            line: std::array::from_fn(|_| Default::default()),
            fl_corr: Default::default(),
            fl_acc: Default::default(),
            fl_hand: Default::default(),
            s0_dot: Default::default(),
            s0_valid: Default::default(),
            s0_final: Default::default(),
            s0_addr: Default::default(),
            rq: Default::default(),
            cc: Constant::new(bits_u(C as u64)),
            ones: Constant::new(bits_u(ones)),
            bshift: Constant::new(bits_u(b as u64)),
            corr_ofs: Constant::new(bits_u(256 * C as u64)),
            tap_corr: Constant::new(bits_u(lt)),
            tap_acc: Constant::new(bits_u(lt + 1)),
            tap_hand: Constant::new(bits_u(lt + 2)),
            acc_mask: Constant::new(bits_u(mask)),
            acc_sign: Constant::new(bits_u(1u64 << (aw - 1))),
        }
    }
}

fn bits_u<const N: usize>(v: u64) -> Bits<N> {
    bits(v)
}

impl<
        const R: usize,
        const C: usize,
        const C2: usize,
        const X9: usize,
        const ST: usize,
        const RC: usize,
        const WA: usize,
        const AA: usize,
        const OA: usize,
        const PA: usize,
    > Logic for Engine<R, C, C2, X9, ST, RC, WA, AA, OA, PA>
{
    #[hdl_gen]
    fn update(&mut self) {
        // ---- memories ----
        self.wmem.write_clock.next = self.clock.val();
        self.wmem.write_enable.next = self.wmem_we.val();
        self.wmem.write_address.next = self.wmem_waddr.val();
        self.wmem.write_data.next = self.wmem_wdata.val();
        self.wmem.read_clock.next = self.clock.val();
        self.wmem.read_address.next = bit_cast::<WA, 16>(self.ctl.w_addr.val());
        self.amem.write_clock.next = self.clock.val();
        self.amem.write_enable.next = self.amem_we.val();
        self.amem.write_address.next = self.amem_waddr.val();
        self.amem.write_data.next = self.amem_wdata.val();
        self.amem.read_clock.next = self.clock.val();
        self.amem.read_address.next = bit_cast::<AA, 16>(self.ctl.a_addr.val());
        self.pmem.write_clock.next = self.clock.val();
        self.pmem.write_enable.next = self.pmem_we.val();
        self.pmem.write_address.next = self.pmem_waddr.val();
        self.pmem.write_data.next = self.pmem_wdata.val();
        self.pmem.read_clock.next = self.clock.val();
        self.pmem.read_address.next = bit_cast::<PA, 16>(self.ctl.drain_paddr.val());
        self.omem.write_clock.next = self.clock.val();
        self.omem.write_enable.next = self.rq.out_valid.val();
        self.omem.write_address.next = bit_cast::<OA, 16>(self.rq.out_addr.val());
        self.omem.write_data.next = self.rq.out_value.val();
        self.omem.read_clock.next = self.clock.val();
        self.omem.read_address.next = self.omem_raddr.val();
        self.omem_rdata.next = self.omem.read_data.val();
        // ---- slot flags ----
        for i in 0..LINE {
            self.line[i].clock.next = self.clock.val();
        }
        self.line[0].d.next = self.ctl.flags.val();
        for i in 1..LINE {
            self.line[i].d.next = self.line[i - 1].q.val();
        }
        self.fl_corr.next = bits::<8>(0);
        self.fl_acc.next = bits::<8>(0);
        self.fl_hand.next = bits::<8>(0);
        for i in 0..LINE {
            if self.tap_corr.val().index() == i {
                self.fl_corr.next = self.line[i].q.val();
            }
            if self.tap_acc.val().index() == i {
                self.fl_acc.next = self.line[i].q.val();
            }
            if self.tap_hand.val().index() == i {
                self.fl_hand.next = self.line[i].q.val();
            }
        }
        // ---- controller ----
        self.ctl.clock.next = self.clock.val();
        self.ctl.start.next = self.start.val();
        self.ctl.desc_rows.next = self.desc_rows.val();
        self.ctl.desc_chunks.next = self.desc_chunks.val();
        self.ctl.desc_vectors.next = self.desc_vectors.val();
        self.ctl.desc_wbase.next = self.desc_wbase.val();
        self.ctl.desc_abase.next = self.desc_abase.val();
        self.ctl.desc_obase.next = self.desc_obase.val();
        self.ctl.desc_pbase.next = self.desc_pbase.val();
        self.ctl.handoff.next = self.fl_hand.val().get_bit(0) & self.fl_hand.val().get_bit(3);
        self.ctl.finished.next = self.rq.out_valid.val() & self.rq.out_final.val();
        self.busy.next = self.ctl.busy.val();
        self.done.next = self.ctl.done.val();
        self.cycles.next = self.ctl.cycles.val();
        // ---- operand registers and rows ----
        self.wreg.clock.next = self.clock.val();
        self.areg.clock.next = self.clock.val();
        self.wreg.d.next = self.wmem.read_data.val();
        self.areg.d.next = self.amem.read_data.val();
        for r in 0..R {
            self.rows[r].clock.next = self.clock.val();
            self.rows[r].x.next = self.areg.q.val();
            self.rows[r].w.next = self.wreg.q.val().get_bits::<C>(r * self.cc.val().index());
            self.rows[r].acc_en.next = self.fl_acc.val().get_bit(0);
            self.rows[r].first.next = self.fl_acc.val().get_bit(1);
            self.rows[r].plane_start.next = self.fl_acc.val().get_bit(2);
            self.rows[r].handoff.next =
                self.fl_hand.val().get_bit(0) & self.fl_hand.val().get_bit(3);
            self.rows[r].qm.next = self.qm.q.val();
        }
        // ---- Σx correction ----
        self.ctree.clock.next = self.clock.val();
        self.ctree.x.next = self.amem.read_data.val();
        self.ctree.w.next = self.ones.val();
        self.qacc.clock.next = self.clock.val();
        self.qm.clock.next = self.clock.val();
        self.qacc.d.next = self.qacc.q.val();
        if self.fl_corr.val().get_bit(0) & self.fl_corr.val().get_bit(4) {
            if self.fl_corr.val().get_bit(1) {
                self.qacc.d.next = bit_cast::<32, ST>(self.ctree.sum.val()) + self.corr_ofs.val();
            } else {
                self.qacc.d.next = self.qacc.q.val()
                    + bit_cast::<32, ST>(self.ctree.sum.val())
                    + self.corr_ofs.val();
            }
        }
        self.qm.d.next = (self.qacc.q.val() << self.bshift.val()) - self.qacc.q.val();
        // ---- drain into the requantizer ----
        self.s0_dot.clock.next = self.clock.val();
        self.s0_valid.clock.next = self.clock.val();
        self.s0_final.clock.next = self.clock.val();
        self.s0_addr.clock.next = self.clock.val();
        self.s0_dot.d.next = bits::<32>(0);
        for r in 0..R {
            if self.ctl.drain_row.val().index() == r {
                // Sign-extend the AW-bit dot product to 32 bits.
                if (self.rows[r].dot.val() & self.acc_sign.val()) == self.acc_sign.val() {
                    self.s0_dot.d.next = self.rows[r].dot.val() | !self.acc_mask.val();
                } else {
                    self.s0_dot.d.next = self.rows[r].dot.val();
                }
            }
        }
        self.s0_valid.d.next = self.ctl.drain_valid.val();
        self.s0_final.d.next = self.ctl.drain_final.val();
        self.s0_addr.d.next = self.ctl.drain_oaddr.val();
        self.rq.clock.next = self.clock.val();
        self.rq.in_valid.next = self.s0_valid.q.val();
        self.rq.in_final.next = self.s0_final.q.val();
        self.rq.in_addr.next = self.s0_addr.q.val();
        self.rq.in_dot.next = self.s0_dot.q.val();
        self.rq.in_param.next = self.pmem.read_data.val();
    }
}

// Flag bit positions used above (kept in sync with the controller).
const _: () = assert!(F_VALID == 1 && F_FIRST == 2 && F_PLANE_START == 4 && F_LAST == 8);
