//! The element-wise unit (docs/engine.md §5 "Element-wise unit", §7) for 64-bit main words
//! (UP5K: C = 8 byte lanes, L = 2 requantizer lanes): the body of an add, a max pool or an
//! average / global average pool record.
//!
//! [`ElemAddr`] gives the memory operations in order; every output word takes a slot of P
//! cycles, its reads, one write slot, then idle cycles: add P = max(3, ⌈C/L⌉) = 4 (read a,
//! read b, write, idle), average pool P = max(kh·kw + 1, ⌈C/L⌉), max pool P = kh·kw + 1.
//! A finished word waits in one register for the next write slot (max: the next word's; add
//! and average: 11 cycles after its last read, so one to three slots later by P); the last
//! ones are written in the drain. The n-th word written goes to `out + n`, ElemAddr's own order.
//!
//! Cycle schedule, edge 0 samples `go` (the add / average parameter word is read at that very
//! edge, so the unit drives `mem_addr = param` combinationally while `go` is high); slots
//! start at edge 1; after the last slot the drain is [`DRAIN`] edges (max: [`MAX_DRAIN`]);
//! `done` is high after the last drain edge. Body = 1 + W·P + drain, the §7 terms
//! (`add = 1 + W·4 + 13`, `avg = 1 + W·max(kh·kw+1, 4) + 13`, `max = W·(kh·kw+1) + 4`).
//! The read word is registered (`rdr`) before any lane uses it, so the block RAM's
//! clock-to-out is not in series with the lanes' carry chains; the word's results (its
//! `hold` load, the max) are taken one cycle after its write slot.
//!
//! Datapath: lanes are sign-extended per `a_signed` / `b_signed` to 25 bits (average pools
//! sum there; max pools compare there). Add and average results go through the conv unit's
//! two requantizer lanes (`conv_requant`, docs/engine.md decision 8), two byte lanes per cycle
//! for 4 cycles: add in pair mode (`a·ma + b·mb`), average in conv mode (the sum as the dot
//! product, bias 0), both with `out_kind`'s clamp (i32: the low byte of the i32 clamp). The
//! lanes are 6 stages deep; the finished word comes back on `lane_word` with `lane_done`.
//! The max pool compares the low 9 bits of its lanes (sign-extended bytes); add's b operand is
//! held as 9 bits.
//!
//! `prep` (one pulse, at least three edges before `go`, once `stride`, `in_w` and `in_cw`
//! are stable) starts ElemAddr's stride products; the sequencer pulses it during the
//! descriptor fetch, so they are ready when the first slot needs them.

use super::elem_addr::ElemAddr;
use rust_hdl::prelude::*;

/// Drain edges of add and average pool after the last slot (the §7 constant 13).
pub const DRAIN: u64 = 13;
/// Drain edges of max pool after the last slot; with the `go` edge, the §7 constant 4.
pub const MAX_DRAIN: u64 = 3;

#[derive(LogicBlock)]
pub struct ElemUnit {
    pub clock: Signal<In, Clock>,
    pub prep: Signal<In, Bit>,
    pub go: Signal<In, Bit>,
    pub op: Signal<In, Bits<4>>,
    pub out_kind: Signal<In, Bits<2>>,
    pub a_signed: Signal<In, Bit>,
    pub b_signed: Signal<In, Bit>,
    pub stride: Signal<In, Bits<4>>,
    pub in_w: Signal<In, Bits<16>>,
    pub in_cw: Signal<In, Bits<16>>,
    pub out_h: Signal<In, Bits<16>>,
    pub out_w: Signal<In, Bits<16>>,
    pub out_cw: Signal<In, Bits<16>>,
    pub f10: Signal<In, Bits<16>>,
    pub in_a: Signal<In, Bits<16>>,
    pub in_b: Signal<In, Bits<16>>,
    pub out_base: Signal<In, Bits<16>>,
    pub param: Signal<In, Bits<16>>,
    pub done: Signal<Out, Bit>,
    pub mem_addr: Signal<Out, Bits<16>>,
    pub mem_we: Signal<Out, Bit>,
    pub mem_be: Signal<Out, Bits<8>>,
    pub mem_wdata: Signal<Out, Bits<64>>,
    pub mem_en: Signal<Out, Bit>,
    pub mem_rdata: Signal<In, Bits<64>>,
    /// Requests to the conv unit's requantizer lanes (`conv_requant`, decision 8).
    pub lane_valid: Signal<Out, Bit>,
    pub lane_addr: Signal<Out, Bits<2>>,
    pub lane_dot0: Signal<Out, Bits<32>>,
    pub lane_dot1: Signal<Out, Bits<32>>,
    pub lane_param: Signal<Out, Bits<64>>,
    pub lane_pair: Signal<Out, Bit>,
    pub lane_m2: Signal<Out, Bits<16>>,
    /// The finished word, 6 cycles after its pair 3 went in.
    pub lane_word: Signal<In, Bits<64>>,
    pub lane_done: Signal<In, Bit>,
    ea: ElemAddr,
    // ---- control ----
    /// The record's op, registered at `go` (a combinational path from `op` through ElemAddr
    /// back into this block would be a false loop for Verilator).
    is_add: DFF<Bit>,
    is_max: DFF<Bit>,
    is_avg: DFF<Bit>,
    go_prm: Signal<Local, Bit>,
    kh: Signal<Local, Bits<8>>,
    kw: Signal<Local, Bits<8>>,
    idle_n: Signal<Local, Bits<2>>,
    take: Signal<Local, Bit>,
    wop: Signal<Local, Bit>,
    wr: Signal<Local, Bit>,
    act: DFF<Bit>,
    dn: DFF<Bit>,
    idle: DFF<Bits<2>>,
    tailc: DFF<Bits<4>>,
    pprm: DFF<Bit>,
    prm: DFF<Bits<64>>,
    // ---- the word read at the previous edge, and registered once more ----
    rd: DFF<Bit>,
    rfirst: DFF<Bit>,
    rb: DFF<Bit>,
    /// Main memory's read word, registered: the block RAM's clock-to-out is then not in
    /// series with the lanes' carry chains (the ECP5's critical path).
    rdr: DFF<Bits<64>>,
    rd2: DFF<Bit>,
    rfirst2: DFF<Bit>,
    rb2: DFF<Bit>,
    /// The write slot, one cycle later: its word's last read is in `rdr`.
    ws: DFF<Bit>,
    rsigned: Signal<Local, Bit>,
    /// The read word, widened so that every lane's 25-bit slice exists.
    rdx: Signal<Local, Bits<89>>,
    x: [Signal<Local, Bits<25>>; 8],
    sum: [Signal<Local, Bits<25>>; 8],
    /// Max pool compares the low 9 bits only: its lanes are sign-extended bytes.
    x9: [Signal<Local, Bits<9>>; 8],
    a9: [Signal<Local, Bits<9>>; 8],
    gt: [Signal<Local, Bit>; 8],
    gx: [Signal<Local, Bits<25>>; 8],
    mxw: Signal<Local, Bits<64>>,
    acc: [DFF<Bits<25>>; 8],
    // ---- the shared lanes' operands: they shift down two byte lanes per cycle ----
    hold: [DFF<Bits<25>>; 8],
    /// Add's b operand: a sign-extended byte, kept as 9 bits.
    holdb: [DFF<Bits<9>>; 8],
    rq0: DFF<Bit>,
    pair: DFF<Bits<2>>,
    m1: Signal<Local, Bits<16>>,
    m2: Signal<Local, Bits<16>>,
    kind: Signal<Local, Bits<2>>,
    b16: [Signal<Local, Bits<16>>; 2],
    // ---- the finished word waiting for a write slot ----
    pend: DFF<Bits<64>>,
    pv: DFF<Bit>,
    wn: DFF<Bits<16>>,
    sx25: Constant<Bits<25>>,
    m8: Constant<Bits<25>>,
    sb9: Constant<Bits<9>>,
    sx16: Constant<Bits<16>>,
    sx32: Constant<Bits<32>>,
}

impl Default for ElemUnit {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            prep: Default::default(),
            go: Default::default(),
            op: Default::default(),
            out_kind: Default::default(),
            a_signed: Default::default(),
            b_signed: Default::default(),
            stride: Default::default(),
            in_w: Default::default(),
            in_cw: Default::default(),
            out_h: Default::default(),
            out_w: Default::default(),
            out_cw: Default::default(),
            f10: Default::default(),
            in_a: Default::default(),
            in_b: Default::default(),
            out_base: Default::default(),
            param: Default::default(),
            done: Default::default(),
            mem_addr: Default::default(),
            mem_we: Default::default(),
            mem_be: Default::default(),
            mem_wdata: Default::default(),
            mem_en: Default::default(),
            mem_rdata: Default::default(),
            lane_valid: Default::default(),
            lane_addr: Default::default(),
            lane_dot0: Default::default(),
            lane_dot1: Default::default(),
            lane_param: Default::default(),
            lane_pair: Default::default(),
            lane_m2: Default::default(),
            lane_word: Default::default(),
            lane_done: Default::default(),
            ea: Default::default(),
            is_add: Default::default(),
            is_max: Default::default(),
            is_avg: Default::default(),
            go_prm: Default::default(),
            kh: Default::default(),
            kw: Default::default(),
            idle_n: Default::default(),
            take: Default::default(),
            wop: Default::default(),
            wr: Default::default(),
            act: Default::default(),
            dn: Default::default(),
            idle: Default::default(),
            tailc: Default::default(),
            pprm: Default::default(),
            prm: Default::default(),
            rd: Default::default(),
            rfirst: Default::default(),
            rb: Default::default(),
            rdr: Default::default(),
            rd2: Default::default(),
            rfirst2: Default::default(),
            rb2: Default::default(),
            ws: Default::default(),
            rsigned: Default::default(),
            rdx: Default::default(),
            x: Default::default(),
            sum: Default::default(),
            x9: Default::default(),
            a9: Default::default(),
            gt: Default::default(),
            gx: Default::default(),
            mxw: Default::default(),
            acc: Default::default(),
            hold: Default::default(),
            holdb: Default::default(),
            rq0: Default::default(),
            pair: Default::default(),
            m1: Default::default(),
            m2: Default::default(),
            kind: Default::default(),
            b16: Default::default(),
            pend: Default::default(),
            pv: Default::default(),
            wn: Default::default(),
            sx25: Constant::new(bits(0x1ff_ff00)),
            m8: Constant::new(bits(0xff)),
            sb9: Constant::new(bits(0x100)),
            sx16: Constant::new(bits(0xfe00)),
            sx32: Constant::new(bits(0xfe00_0000)),
        }
    }
}

impl Logic for ElemUnit {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, is_add, is_max, is_avg, act, dn, idle, tailc, pprm, prm, rd, rfirst, rb,
            rdr, rd2, rfirst2, rb2, ws, rq0, pair, pend, pv, wn
        );
        for l in 0..8 {
            self.acc[l].clock.next = self.clock.val();
            self.hold[l].clock.next = self.clock.val();
            self.holdb[l].clock.next = self.clock.val();
            self.acc[l].d.next = self.acc[l].q.val();
            self.hold[l].d.next = self.hold[l].q.val();
            self.holdb[l].d.next = self.holdb[l].q.val();
        }
        // ---- mode ----
        self.go_prm.next =
            self.go.val() & ((self.op.val() == bits::<4>(2)) | (self.op.val() == bits::<4>(4)));
        self.kh.next = self.f10.val().get_bits::<8>(0);
        self.kw.next = self.f10.val().get_bits::<8>(8);
        // Idle cycles after a word's write: P − (reads + 1).
        self.idle_n.next = bits::<2>(0);
        if self.is_add.q.val() {
            self.idle_n.next = bits::<2>(1);
        }
        if self.is_avg.q.val() & (self.kh.val() == bits::<8>(1)) & (self.kw.val() == bits::<8>(1)) {
            self.idle_n.next = bits::<2>(2);
        }
        if self.is_avg.q.val()
            & (((self.kh.val() == bits::<8>(1)) & (self.kw.val() == bits::<8>(2)))
                | ((self.kh.val() == bits::<8>(2)) & (self.kw.val() == bits::<8>(1))))
        {
            self.idle_n.next = bits::<2>(1);
        }
        // ---- address sequencing ----
        self.ea.clock.next = self.clock.val();
        self.ea.setup.next = self.prep.val();
        self.ea.go.next = self.go.val();
        self.ea.is_add.next = self.is_add.q.val();
        self.ea.stride.next = self.stride.val();
        self.ea.in_w.next = self.in_w.val();
        self.ea.in_cw.next = self.in_cw.val();
        self.ea.out_h.next = self.out_h.val();
        self.ea.out_w.next = self.out_w.val();
        self.ea.out_cw.next = self.out_cw.val();
        self.ea.f10.next = self.f10.val();
        self.ea.in_a.next = self.in_a.val();
        self.ea.in_b.next = self.in_b.val();
        self.ea.out_base.next = self.out_base.val();
        self.take.next =
            self.act.q.val() & self.ea.valid.val() & (self.idle.q.val() == bits::<2>(0));
        self.ea.enable.next = self.take.val();
        self.wop.next = self.ea.kind.val() == bits::<2>(2);
        // A write slot (or any drain cycle) writes the pending word.
        self.wr.next = self.act.q.val()
            & self.pv.q.val()
            & ((self.take.val() & self.wop.val()) | !self.ea.valid.val());
        // ---- memory port ----
        self.mem_en.next = false;
        self.mem_we.next = false;
        self.mem_be.next = bits::<8>(0);
        self.mem_addr.next = self.ea.addr.val();
        self.mem_wdata.next = self.pend.q.val();
        if self.wr.val() {
            self.mem_en.next = true;
            self.mem_we.next = true;
            self.mem_be.next = bits::<8>(0xff);
            self.mem_addr.next = self.out_base.val() + self.wn.q.val();
        }
        if self.take.val() & !self.wop.val() {
            self.mem_en.next = true;
        }
        if self.go_prm.val() {
            self.mem_en.next = true;
            self.mem_addr.next = self.param.val();
        }
        // ---- the parameter word (read at the go edge) ----
        self.pprm.d.next = false;
        if self.pprm.q.val() {
            self.prm.d.next = self.mem_rdata.val();
        }
        // ---- lanes of the word read at the previous edge ----
        self.rd.d.next = self.take.val() & !self.wop.val();
        self.rfirst.d.next = self.take.val() & self.ea.first.val();
        self.rb.d.next = self.take.val() & (self.ea.kind.val() == bits::<2>(1));
        self.rdr.d.next = self.mem_rdata.val();
        self.rd2.d.next = self.rd.q.val();
        self.rfirst2.d.next = self.rfirst.q.val();
        self.rb2.d.next = self.rb.q.val();
        self.ws.d.next = self.take.val() & self.wop.val();
        self.rsigned.next = self.a_signed.val();
        if self.rb2.q.val() {
            self.rsigned.next = self.b_signed.val();
        }
        self.rdx.next = bit_cast::<89, 64>(self.rdr.q.val());
        for l in 0..8 {
            self.x[l].next = self.rdx.val().get_bits::<25>(8 * l) & self.m8.val();
            if self.rsigned.val() & self.rdr.q.val().get_bit(8 * l + 7) {
                self.x[l].next = self.rdx.val().get_bits::<25>(8 * l) | self.sx25.val();
            }
            self.x9[l].next = self.x[l].val().get_bits::<9>(0);
            self.a9[l].next = self.acc[l].q.val().get_bits::<9>(0);
            self.gt[l].next =
                (self.x9[l].val() ^ self.sb9.val()) > (self.a9[l].val() ^ self.sb9.val());
            // One adder and one mux per lane: the lane's next value for every op (average:
            // the running sum; max: the larger; add: the word read).
            self.gx[l].next = bits::<25>(0);
            if self.is_avg.q.val() {
                self.gx[l].next = self.x[l].val();
            }
            self.sum[l].next = self.acc[l].q.val() + self.gx[l].val();
            if self.rfirst2.q.val() | self.is_add.q.val() | (self.is_max.q.val() & self.gt[l].val())
            {
                self.sum[l].next = self.x[l].val();
            }
            if self.rd2.q.val() {
                self.acc[l].d.next = self.sum[l].val();
            }
        }
        self.mxw.next = bit_cast::<64, 8>(self.sum[0].val().get_bits::<8>(0))
            | (bit_cast::<64, 8>(self.sum[1].val().get_bits::<8>(0)) << 8)
            | (bit_cast::<64, 8>(self.sum[2].val().get_bits::<8>(0)) << 16)
            | (bit_cast::<64, 8>(self.sum[3].val().get_bits::<8>(0)) << 24)
            | (bit_cast::<64, 8>(self.sum[4].val().get_bits::<8>(0)) << 32)
            | (bit_cast::<64, 8>(self.sum[5].val().get_bits::<8>(0)) << 40)
            | (bit_cast::<64, 8>(self.sum[6].val().get_bits::<8>(0)) << 48)
            | (bit_cast::<64, 8>(self.sum[7].val().get_bits::<8>(0)) << 56);
        // ---- the shared requantizer lanes: byte lanes 2j, 2j + 1 in step j ----
        // (bit_cast of a loop-indexed value does not translate, so lanes 0 and 1 are spelt out.)
        self.m1.next = bit_cast::<16, 15>(self.prm.q.val().get_bits::<15>(0));
        self.m2.next = bit_cast::<16, 15>(self.prm.q.val().get_bits::<15>(15));
        self.kind.next = self.out_kind.val();
        if self.out_kind.val() == bits::<2>(2) {
            self.kind.next = bits::<2>(3);
        }
        // bias 0, M, S, kind (conv_requant's parameter word).
        self.lane_param.next = (bit_cast::<64, 16>(self.m1.val()) << 32)
            | (bit_cast::<64, 6>(self.prm.q.val().get_bits::<6>(30)) << 47)
            | (bit_cast::<64, 2>(self.kind.val()) << 53);
        self.lane_m2.next = self.m2.val();
        self.lane_pair.next = self.is_add.q.val();
        self.lane_valid.next = self.rq0.q.val();
        self.lane_addr.next = self.pair.q.val();
        // Add: {b, a} as 16-bit halves; average: the 25-bit sum sign-extended to 32.
        self.b16[0].next = bit_cast::<16, 9>(self.holdb[0].q.val());
        if self.holdb[0].q.val().get_bit(8) {
            self.b16[0].next = bit_cast::<16, 9>(self.holdb[0].q.val()) | self.sx16.val();
        }
        self.b16[1].next = bit_cast::<16, 9>(self.holdb[1].q.val());
        if self.holdb[1].q.val().get_bit(8) {
            self.b16[1].next = bit_cast::<16, 9>(self.holdb[1].q.val()) | self.sx16.val();
        }
        if self.is_add.q.val() {
            self.lane_dot0.next = bit_cast::<32, 16>(self.hold[0].q.val().get_bits::<16>(0))
                | (bit_cast::<32, 16>(self.b16[0].val()) << 16);
            self.lane_dot1.next = bit_cast::<32, 16>(self.hold[1].q.val().get_bits::<16>(0))
                | (bit_cast::<32, 16>(self.b16[1].val()) << 16);
        } else {
            self.lane_dot0.next = bit_cast::<32, 25>(self.hold[0].q.val());
            if self.hold[0].q.val().get_bit(24) {
                self.lane_dot0.next = bit_cast::<32, 25>(self.hold[0].q.val()) | self.sx32.val();
            }
            self.lane_dot1.next = bit_cast::<32, 25>(self.hold[1].q.val());
            if self.hold[1].q.val().get_bit(24) {
                self.lane_dot1.next = bit_cast::<32, 25>(self.hold[1].q.val()) | self.sx32.val();
            }
        }
        if self.rq0.q.val() {
            for l in 0..6 {
                self.hold[l].d.next = self.hold[l + 2].q.val();
                self.holdb[l].d.next = self.holdb[l + 2].q.val();
            }
            self.pair.d.next = self.pair.q.val() + bits::<2>(1);
            if self.pair.q.val() == bits::<2>(3) {
                self.rq0.d.next = false;
            }
        }
        // ---- pending word and writes ----
        if self.wr.val() {
            self.pv.d.next = false;
            self.wn.d.next = self.wn.q.val() + bits::<16>(1);
        }
        if self.lane_done.val() {
            self.pend.d.next = self.lane_word.val();
            self.pv.d.next = true;
        }
        // ---- a word's write slot (its last read is on mem_rdata), and the cycle after ----
        if self.idle.q.val() != bits::<2>(0) {
            self.idle.d.next = self.idle.q.val() - bits::<2>(1);
        }
        if self.take.val() & self.wop.val() {
            self.idle.d.next = self.idle_n.val();
            if self.ea.last.val() {
                self.tailc.d.next = bit_cast::<4, 2>(self.idle_n.val()) + bits::<4>(13);
                if self.is_max.q.val() {
                    self.tailc.d.next = bits::<4>(3);
                }
            }
        }
        if self.ws.q.val() {
            if self.is_max.q.val() {
                self.pend.d.next = self.mxw.val();
                self.pv.d.next = true;
            } else {
                self.rq0.d.next = true;
                self.pair.d.next = bits::<2>(0);
                for l in 0..8 {
                    if self.is_add.q.val() {
                        self.hold[l].d.next = self.acc[l].q.val();
                        self.holdb[l].d.next = self.x9[l].val();
                    } else {
                        self.hold[l].d.next = self.sum[l].val();
                    }
                }
            }
        }
        // ---- drain and done ----
        self.dn.d.next = self.tailc.q.val() == bits::<4>(1);
        if self.tailc.q.val() != bits::<4>(0) {
            self.tailc.d.next = self.tailc.q.val() - bits::<4>(1);
        }
        if self.tailc.q.val() == bits::<4>(1) {
            self.act.d.next = false;
        }
        self.done.next = self.dn.q.val();
        // ---- go ----
        if self.go.val() {
            self.act.d.next = true;
            self.pprm.d.next = self.go_prm.val();
            self.is_add.d.next = self.op.val() == bits::<4>(2);
            self.is_max.d.next = self.op.val() == bits::<4>(3);
            self.is_avg.d.next = self.op.val() == bits::<4>(4);
            self.idle.d.next = bits::<2>(0);
            self.tailc.d.next = bits::<4>(0);
            self.rq0.d.next = false;
            self.pv.d.next = false;
            self.wn.d.next = bits::<16>(0);
        }
    }
}

/// rust-hdl emits one `always @(*)` per module, so Verilator sees this block's write of
/// `ea.enable` and its read of `ea.last` (and ElemAddr's read of `enable` and write of `last`)
/// as one combinational loop, although `last` depends on registers only and `enable` does not
/// depend on `last`. The waiver is for that false loop; the iverilog co-simulation in
/// `hw/tests/net_engine.rs` checks the emitted Verilog's behaviour.
pub const UNOPTFLAT_WAIVER: &str = "/* verilator lint_off UNOPTFLAT */\n";

/// The unit's Verilog (module `top`), Verilator's UNOPTFLAT waived ([`UNOPTFLAT_WAIVER`]).
pub fn verilog() -> String {
    let mut u = ElemUnit::default();
    u.connect_all();
    format!("{UNOPTFLAT_WAIVER}{}", generate_verilog(&u))
}
