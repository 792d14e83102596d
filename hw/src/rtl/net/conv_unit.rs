//! The conv / linear body of the whole-network engine (docs/engine.md §5 "Conv / linear body",
//! §7 schedule) for the UP5K shape: R = C = 8 rows × lanes, 64-bit main words, L = 2
//! requantizer lanes, a 512 × 64 tile buffer and two parameter banks; B is a constructor
//! argument.
//!
//! Per row tile t (block at `param + t·tile_words`):
//! 1. **Load** (`tile_words` cycles, streaming tiles 9): one main-word read per cycle; word 0 is
//!    the header (`w0`), words 1–8 the row parameters (row r to bank r mod 2), the rest the
//!    plane words, into the tile buffer in order. The first read goes out in the `go` cycle.
//! 2. **Vectors**, one every `v` cycles (the slot): the activation word of chunk ch is read at
//!    slot offset `ch·cs` (cs = planes, streaming 1 + planes: the chunk's plane words follow
//!    it from main memory), a padding chunk takes its slot without a memory access, and plane i
//!    of the chunk enters the array at offset `ch·cs + 1 + i` (streaming `+ 2 + i`) — the
//!    activation straight from the memory for the first plane, from the operand register after.
//!    The slot ends when the vector's planes are issued, its reads plus its `wpv` output writes
//!    fit (`reads + wpv`) and the requantizer lanes have had their ⌈R/L⌉ = 4 cycles: that is
//!    exactly `v = max(chunks·planes, reads + wpv, 4)`, counted rather than multiplied.
//!    Output words go through a small queue onto the port cycles without a read.
//! 3. **Drain** (14 cycles = 11 + tree latency 3): tree 3, hand-off 1, lane select 1,
//!    requantizer 6, pack and write — the last vector's last word is written in the 14th.
//!
//! Pipeline from a plane's issue cycle: tree input +1 (tap 0), tree output +4 (tap 3, the rows'
//! accumulate / hand-off), lane select +5 … +8 (rows 2j, 2j + 1 in step j), requantizer outputs
//! +11 … +14, where i32 word j (rows 2j, 2j + 1) or the packed u8/i8 word is written.
//!
//! Timing contract (NET-INTERFACES.md): with `go` high in cycle 1 (its first read goes out
//! then), `done` is high in cycle T + 1, T = tiles·(load + N·v + 14); the unit leaves the
//! memory port idle in the `done` cycle.

use crate::rtl::adder_tree::AdderTree;
use crate::rtl::net::conv_requant::ConvRequant;
use crate::rtl::net::conv_row::{acc_width, ConvRow};
use crate::rtl::net::out_queue::OutQueue;
use crate::rtl::net::patch_addr::PatchAddr;
use rust_hdl::prelude::*;

/// Fixed drain cycles per tile (docs/engine.md §7: D = 11 + tree_latency(8)).
pub const DRAIN: u64 = 14;

// States (`st`): 0 idle, 1 load, 2 vectors, 3 drain.

#[derive(LogicBlock)]
pub struct ConvUnit {
    pub clock: Signal<In, Clock>,
    pub go: Signal<In, Bit>,
    // ---- the decoded record (held by the sequencer for the whole body) ----
    pub op: Signal<In, Bits<4>>,
    pub out_kind: Signal<In, Bits<2>>,
    pub a_signed: Signal<In, Bit>,
    pub b_signed: Signal<In, Bit>,
    pub masked: Signal<In, Bit>,
    pub stream: Signal<In, Bit>,
    pub diagonal: Signal<In, Bit>,
    pub kernel: Signal<In, Bits<4>>,
    pub stride: Signal<In, Bits<4>>,
    pub pad: Signal<In, Bits<4>>,
    pub in_h: Signal<In, Bits<16>>,
    pub in_w: Signal<In, Bits<16>>,
    pub in_cw: Signal<In, Bits<16>>,
    pub out_h: Signal<In, Bits<16>>,
    pub out_w: Signal<In, Bits<16>>,
    pub out_cw: Signal<In, Bits<16>>,
    pub out_channels: Signal<In, Bits<16>>,
    pub tiles: Signal<In, Bits<16>>,
    pub f10: Signal<In, Bits<16>>,
    pub tile_words: Signal<In, Bits<16>>,
    pub in_a: Signal<In, Bits<16>>,
    pub in_b: Signal<In, Bits<16>>,
    pub out_base: Signal<In, Bits<16>>,
    pub param: Signal<In, Bits<16>>,
    pub done: Signal<Out, Bit>,
    // ---- main-memory master port (SpramMain timing) ----
    pub mem_addr: Signal<Out, Bits<16>>,
    pub mem_we: Signal<Out, Bit>,
    pub mem_be: Signal<Out, Bits<8>>,
    pub mem_wdata: Signal<Out, Bits<64>>,
    pub mem_en: Signal<Out, Bit>,
    pub mem_rdata: Signal<In, Bits<64>>,
    /// Debug: an output word was lost in the write queue (never, by the schedule).
    pub overflow: Signal<Out, Bit>,
    // ---- the requantizer lanes lent to the element-wise unit (decision 8) ----
    /// The element-wise unit's lane inputs (the conv body is idle while it runs).
    pub ext_valid: Signal<In, Bit>,
    pub ext_addr: Signal<In, Bits<2>>,
    pub ext_dot0: Signal<In, Bits<32>>,
    pub ext_dot1: Signal<In, Bits<32>>,
    pub ext_param: Signal<In, Bits<64>>,
    pub ext_pair: Signal<In, Bit>,
    pub ext_m2: Signal<In, Bits<16>>,
    /// The word of byte pairs 0–3 (pair 3 straight from the lanes), complete while
    /// `lane_done` is high.
    pub lane_word: Signal<Out, Bits<64>>,
    /// An element-wise request's pair 3 is on the lanes' outputs.
    pub lane_done: Signal<Out, Bit>,
    // ---- blocks ----
    patch: PatchAddr,
    wtb: RAM<Bits<64>, 9>,
    pb0: RAM<Bits<64>, 8>,
    pb1: RAM<Bits<64>, 8>,
    rows: [ConvRow; 8],
    ctree: AdderTree<8, 16, 72, 12>,
    rq0: ConvRequant,
    rq1: ConvRequant,
    oq: OutQueue,
    // ---- control ----
    st: DFF<Bits<2>>,
    li: DFF<Bits<16>>,
    lbase: DFF<Bits<16>>,
    ldv: DFF<Bit>,
    ldi: DFF<Bits<16>>,
    w0: DFF<Bits<16>>,
    tile: DFF<Bits<16>>,
    tofs: DFF<Bits<16>>,
    trow: DFF<Bits<16>>,
    o: DFF<Bits<16>>,
    nrd: DFF<Bits<16>>,
    active: DFF<Bit>,
    cph: DFF<Bits<4>>,
    pidx: DFF<Bits<16>>,
    fcf: DFF<Bit>,
    lcl: DFF<Bit>,
    lvec: DFF<Bit>,
    dcnt: DFF<Bits<4>>,
    done_r: DFF<Bit>,
    // ---- operands ----
    ard: DFF<Bit>,
    zreg: DFF<Bit>,
    xreg: DFF<Bits<72>>,
    byp: DFF<Bit>,
    wreg: DFF<Bits<64>>,
    f0: DFF<Bits<8>>,
    f1: DFF<Bits<8>>,
    f2: DFF<Bits<8>>,
    f3: DFF<Bits<8>>,
    xd1: DFF<Bits<72>>,
    xd2: DFF<Bits<72>>,
    xd3: DFF<Bits<72>>,
    ks: DFF<Bits<32>>,
    qkh: DFF<Bits<32>>,
    // ---- drain and packing ----
    dact: DFF<Bit>,
    dj: DFF<Bits<2>>,
    p0: DFF<Bits<16>>,
    p1: DFF<Bits<16>>,
    p2: DFF<Bits<16>>,
    // ---- combinational ----
    vec_state: Signal<Local, Bit>,
    is_param: Signal<Local, Bit>,
    lw: Signal<Local, Bits<16>>,
    is_i32: Signal<Local, Bit>,
    wpv: Signal<Local, Bits<16>>,
    pm1: Signal<Local, Bits<4>>,
    pi: Signal<Local, Bits<4>>,
    is_pl: Signal<Local, Bit>,
    lastpl: Signal<Local, Bit>,
    rd_act: Signal<Local, Bit>,
    rd_pl: Signal<Local, Bit>,
    rd_now: Signal<Local, Bit>,
    iss: Signal<Local, Bit>,
    lc_this: Signal<Local, Bit>,
    hnd: Signal<Local, Bit>,
    o1: Signal<Local, Bits<16>>,
    nrd_now: Signal<Local, Bits<16>>,
    slot_end: Signal<Local, Bit>,
    lvec_now: Signal<Local, Bit>,
    free: Signal<Local, Bit>,
    tile_go: Signal<Local, Bit>,
    next_tile: Signal<Local, Bit>,
    issf: Signal<Local, Bits<8>>,
    sp: Signal<Local, Bits<72>>,
    xnew: Signal<Local, Bits<72>>,
    x_in: Signal<Local, Bits<72>>,
    w_in: Signal<Local, Bits<64>>,
    ksn: Signal<Local, Bits<32>>,
    ksfin: Signal<Local, Bits<32>>,
    dot0: Signal<Local, Bits<32>>,
    dot1: Signal<Local, Bits<32>>,
    a0: Signal<Local, Bits<32>>,
    a1: Signal<Local, Bits<32>>,
    qk: Signal<Local, Bits<32>>,
    own_k: Signal<Local, Bit>,
    raw0: Signal<Local, Bits<32>>,
    raw1: Signal<Local, Bits<32>>,
    live0: Signal<Local, Bit>,
    live1: Signal<Local, Bit>,
    r0: Signal<Local, Bits<16>>,
    pair: Signal<Local, Bits<16>>,
    ldr: Signal<Local, Bits<16>>,
    wta: Signal<Local, Bits<16>>,
    cb: Constant<Bits<4>>,
    cbm1: Constant<Bits<4>>,
    cb32: Constant<Bits<32>>,
    ff8: Constant<Bits<72>>,
    sg72: Constant<Bits<72>>,
    c2048: Constant<Bits<32>>,
    /// 2^W − 1, its sign bit 2^(W − 1) and the sign extension above it (W: `acc_width`).
    mw: Constant<Bits<32>>,
    sw: Constant<Bits<32>>,
    xw: Constant<Bits<32>>,
}

impl ConvUnit {
    /// The body for weight bitwidth `b` (1..=8).
    pub fn new(b: u8) -> Self {
        assert!((1..=8).contains(&b), "bits must be 1..=8, got {b}");
        let w = acc_width(b);
        let sg: u128 = (0..8).map(|c| 1u128 << (9 * c + 7)).sum();
        let mut sg72 = Bits::<72>::default();
        for i in 0..72 {
            if (sg >> i) & 1 == 1 {
                sg72 = sg72.replace_bit(i, true);
            }
        }
        Self {
            clock: Default::default(),
            go: Default::default(),
            op: Default::default(),
            out_kind: Default::default(),
            a_signed: Default::default(),
            b_signed: Default::default(),
            masked: Default::default(),
            stream: Default::default(),
            diagonal: Default::default(),
            kernel: Default::default(),
            stride: Default::default(),
            pad: Default::default(),
            in_h: Default::default(),
            in_w: Default::default(),
            in_cw: Default::default(),
            out_h: Default::default(),
            out_w: Default::default(),
            out_cw: Default::default(),
            out_channels: Default::default(),
            tiles: Default::default(),
            f10: Default::default(),
            tile_words: Default::default(),
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
            overflow: Default::default(),
            ext_valid: Default::default(),
            ext_addr: Default::default(),
            ext_dot0: Default::default(),
            ext_dot1: Default::default(),
            ext_param: Default::default(),
            ext_pair: Default::default(),
            ext_m2: Default::default(),
            lane_word: Default::default(),
            lane_done: Default::default(),
            patch: Default::default(),
            wtb: Default::default(),
            pb0: Default::default(),
            pb1: Default::default(),
            rows: std::array::from_fn(|_| ConvRow::new(b)),
            ctree: AdderTree::new(),
            rq0: Default::default(),
            rq1: Default::default(),
            oq: Default::default(),
            st: Default::default(),
            li: Default::default(),
            lbase: Default::default(),
            ldv: Default::default(),
            ldi: Default::default(),
            w0: Default::default(),
            tile: Default::default(),
            tofs: Default::default(),
            trow: Default::default(),
            o: Default::default(),
            nrd: Default::default(),
            active: Default::default(),
            cph: Default::default(),
            pidx: Default::default(),
            fcf: Default::default(),
            lcl: Default::default(),
            lvec: Default::default(),
            dcnt: Default::default(),
            done_r: Default::default(),
            ard: Default::default(),
            zreg: Default::default(),
            xreg: Default::default(),
            byp: Default::default(),
            wreg: Default::default(),
            f0: Default::default(),
            f1: Default::default(),
            f2: Default::default(),
            f3: Default::default(),
            xd1: Default::default(),
            xd2: Default::default(),
            xd3: Default::default(),
            ks: Default::default(),
            qkh: Default::default(),
            dact: Default::default(),
            dj: Default::default(),
            p0: Default::default(),
            p1: Default::default(),
            p2: Default::default(),
            vec_state: Default::default(),
            is_param: Default::default(),
            lw: Default::default(),
            is_i32: Default::default(),
            wpv: Default::default(),
            pm1: Default::default(),
            pi: Default::default(),
            is_pl: Default::default(),
            lastpl: Default::default(),
            rd_act: Default::default(),
            rd_pl: Default::default(),
            rd_now: Default::default(),
            iss: Default::default(),
            lc_this: Default::default(),
            hnd: Default::default(),
            o1: Default::default(),
            nrd_now: Default::default(),
            slot_end: Default::default(),
            lvec_now: Default::default(),
            free: Default::default(),
            tile_go: Default::default(),
            next_tile: Default::default(),
            issf: Default::default(),
            sp: Default::default(),
            xnew: Default::default(),
            x_in: Default::default(),
            w_in: Default::default(),
            ksn: Default::default(),
            ksfin: Default::default(),
            dot0: Default::default(),
            dot1: Default::default(),
            a0: Default::default(),
            a1: Default::default(),
            qk: Default::default(),
            own_k: Default::default(),
            raw0: Default::default(),
            raw1: Default::default(),
            live0: Default::default(),
            live1: Default::default(),
            r0: Default::default(),
            pair: Default::default(),
            ldr: Default::default(),
            wta: Default::default(),
            cb: Constant::new(bits(b as u64)),
            cbm1: Constant::new(bits(b as u64 - 1)),
            cb32: Constant::new(bits(b as u64)),
            ff8: Constant::new(bits(0xff)),
            sg72: Constant::new(sg72),
            c2048: Constant::new(bits(2048)),
            mw: Constant::new(bits((1u64 << w) - 1)),
            sw: Constant::new(bits(1u64 << (w - 1))),
            xw: Constant::new(bits(0xffff_ffff ^ ((1u64 << w) - 1))),
        }
    }
}

impl Logic for ConvUnit {
    // Nested ifs mirror the emitted Verilog; collapsing them would change what rust-hdl generates.
    #[allow(clippy::collapsible_if)]
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, st, li, lbase, ldv, ldi, w0, tile, tofs, trow, o, nrd, active, cph, pidx,
            fcf, lcl, lvec, dcnt, done_r, ard, zreg, xreg, byp, wreg, f0, f1, f2, f3, xd1, xd2,
            xd3, ks, qkh, dact, dj, p0, p1, p2
        );
        // ---- layer constants ----
        self.is_i32.next = self.out_kind.val() == bits::<2>(2);
        self.wpv.next = bits::<16>(1);
        if self.is_i32.val() {
            self.wpv.next = bits::<16>(4);
        }
        self.lw.next = self.tile_words.val();
        if self.stream.val() {
            self.lw.next = bits::<16>(9);
        }
        self.pm1.next = self.cbm1.val();
        if self.masked.val() {
            self.pm1.next = self.cb.val();
        }
        // ---- the slot's issue position ----
        self.pi.next = self.cph.q.val();
        self.is_pl.next = true;
        if self.stream.val() {
            self.pi.next = self.cph.q.val() - bits::<4>(1);
            self.is_pl.next = self.cph.q.val() != bits::<4>(0);
        }
        self.lastpl.next = self.pi.val() == self.pm1.val();
        self.vec_state.next = self.st.q.val() == bits::<2>(2);
        self.rd_act.next =
            self.vec_state.val() & self.active.q.val() & (self.cph.q.val() == bits::<4>(0));
        self.rd_pl.next =
            self.vec_state.val() & self.active.q.val() & self.stream.val() & self.is_pl.val();
        self.rd_now.next = self.rd_act.val() | self.rd_pl.val();
        self.iss.next = self.vec_state.val() & self.active.q.val() & self.is_pl.val();
        self.lc_this.next = self.lcl.q.val();
        if self.cph.q.val() == bits::<4>(0) {
            self.lc_this.next = self.patch.vec_last.val();
        }
        self.hnd.next = self.iss.val() & self.lc_this.val() & self.lastpl.val();
        self.lvec_now.next = self.lvec.q.val() | (self.rd_act.val() & self.patch.last.val());
        self.o1.next = self.o.q.val() + bits::<16>(1);
        self.nrd_now.next = self.nrd.q.val() + bit_cast::<16, 1>(self.rd_now.val().into());
        self.slot_end.next = (!self.active.q.val() | self.hnd.val())
            & (self.o1.val() >= self.nrd_now.val() + self.wpv.val())
            & (self.o1.val() >= bits::<16>(4));
        self.free.next =
            (self.vec_state.val() & !self.rd_now.val()) | (self.st.q.val() == bits::<2>(3));
        // ---- issue flags: val, fp, lp, mk, fc, h ----
        self.issf.next = bits::<8>(0);
        if self.iss.val() {
            self.issf.next = bits::<8>(1)
                | (bit_cast::<8, 1>((self.pi.val() == bits::<4>(0)).into()) << 1)
                | (bit_cast::<8, 1>((self.pi.val() == self.cbm1.val()).into()) << 2)
                | (bit_cast::<8, 1>((self.pi.val() == self.cb.val()).into()) << 3)
                | (bit_cast::<8, 1>(self.fcf.q.val().into()) << 4)
                | (bit_cast::<8, 1>(self.hnd.val().into()) << 5);
        }
        // ---- patch addresses ----
        self.patch.clock.next = self.clock.val();
        self.patch.setup.next = self.go.val();
        self.patch.enable.next = self.rd_act.val();
        self.patch.kernel.next = self.kernel.val();
        self.patch.stride.next = self.stride.val();
        self.patch.pad.next = self.pad.val();
        self.patch.in_h.next = self.in_h.val();
        self.patch.in_w.next = self.in_w.val();
        self.patch.in_cw.next = self.in_cw.val();
        self.patch.out_h.next = self.out_h.val();
        self.patch.out_w.next = self.out_w.val();
        self.patch.nw.next = self.f10.val();
        self.patch.in_a.next = self.in_a.val();
        self.patch.w0.next = self.w0.q.val();
        // ---- the state machine ----
        self.tile_go.next = false;
        self.next_tile.next = false;
        self.done_r.d.next = false;
        self.ldv.d.next = false;
        self.mem_en.next = false;
        self.mem_we.next = false;
        self.mem_be.next = bits::<8>(0);
        self.mem_addr.next = self.lbase.q.val() + self.li.q.val();
        self.mem_wdata.next = self.oq.wdata.val();
        if (self.st.q.val() == bits::<2>(0)) & self.go.val() {
            self.mem_en.next = true;
            self.mem_addr.next = self.param.val();
            self.ldv.d.next = true;
            self.ldi.d.next = bits::<16>(0);
            self.li.d.next = bits::<16>(1);
            self.lbase.d.next = self.param.val();
            self.st.d.next = bits::<2>(1);
            self.tile.d.next = bits::<16>(0);
            self.tofs.d.next = bits::<16>(0);
            self.trow.d.next = bits::<16>(0);
            self.lvec.d.next = false;
        }
        if self.st.q.val() == bits::<2>(1) {
            self.mem_en.next = true;
            self.ldv.d.next = true;
            self.ldi.d.next = self.li.q.val();
            self.li.d.next = self.li.q.val() + bits::<16>(1);
            if self.li.q.val() + bits::<16>(1) == self.lw.val() {
                self.tile_go.next = true;
                self.st.d.next = bits::<2>(2);
                self.o.d.next = bits::<16>(0);
                self.nrd.d.next = bits::<16>(0);
                self.active.d.next = true;
                self.cph.d.next = bits::<4>(0);
                self.pidx.d.next = bits::<16>(0);
                self.fcf.d.next = true;
            }
        }
        if self.vec_state.val() {
            if self.rd_act.val() {
                self.mem_en.next = !self.patch.zero.val();
                self.mem_addr.next = self.patch.addr.val();
                self.lcl.d.next = self.patch.vec_last.val();
            }
            if self.rd_pl.val() {
                self.mem_en.next = true;
                self.mem_addr.next = self.lbase.q.val() + bits::<16>(9) + self.pidx.q.val();
            }
            if self.iss.val() {
                self.pidx.d.next = self.pidx.q.val() + bits::<16>(1);
            }
            if self.active.q.val() {
                self.cph.d.next = self.cph.q.val() + bits::<4>(1);
                if self.is_pl.val() & self.lastpl.val() {
                    self.cph.d.next = bits::<4>(0);
                    self.fcf.d.next = false;
                    if self.lc_this.val() {
                        self.active.d.next = false;
                    }
                }
            }
            self.lvec.d.next = self.lvec_now.val();
            self.o.d.next = self.o1.val();
            self.nrd.d.next = self.nrd_now.val();
            if self.slot_end.val() {
                if self.lvec_now.val() {
                    self.st.d.next = bits::<2>(3);
                    self.dcnt.d.next = bits::<4>(0);
                } else {
                    self.o.d.next = bits::<16>(0);
                    self.nrd.d.next = bits::<16>(0);
                    self.active.d.next = true;
                    self.cph.d.next = bits::<4>(0);
                    self.pidx.d.next = bits::<16>(0);
                    self.fcf.d.next = true;
                }
            }
        }
        if self.st.q.val() == bits::<2>(3) {
            self.dcnt.d.next = self.dcnt.q.val() + bits::<4>(1);
            if self.dcnt.q.val() == bits::<4>(13) {
                if self.tile.q.val() + bits::<16>(1) == self.tiles.val() {
                    self.st.d.next = bits::<2>(0);
                    self.done_r.d.next = true;
                } else {
                    self.next_tile.next = true;
                    self.st.d.next = bits::<2>(1);
                    self.li.d.next = bits::<16>(0);
                    self.lbase.d.next = self.lbase.q.val() + self.tile_words.val();
                    self.tile.d.next = self.tile.q.val() + bits::<16>(1);
                    self.tofs.d.next = self.tofs.q.val() + self.wpv.val();
                    self.trow.d.next = self.trow.q.val() + bits::<16>(8);
                    self.lvec.d.next = false;
                }
            }
        }
        if self.free.val() & self.oq.we.val() {
            self.mem_en.next = true;
            self.mem_we.next = true;
            self.mem_be.next = bits::<8>(0xff);
            self.mem_addr.next = self.oq.addr.val();
        }
        self.done.next = self.done_r.q.val();
        self.patch.tile_go.next = self.tile_go.val();
        // ---- tile block capture (the word read in the previous cycle) ----
        self.ldr.next = self.ldi.q.val() - bits::<16>(1);
        self.wtb.write_clock.next = self.clock.val();
        self.wtb.read_clock.next = self.clock.val();
        self.wtb.write_data.next = self.mem_rdata.val();
        self.wta.next = self.ldi.q.val() - bits::<16>(9);
        self.wtb.write_address.next = self.wta.val().get_bits::<9>(0);
        self.wtb.write_enable.next = self.ldv.q.val() & (self.ldi.q.val() >= bits::<16>(9));
        self.wtb.read_address.next = self.pidx.q.val().get_bits::<9>(0);
        self.pb0.write_clock.next = self.clock.val();
        self.pb0.read_clock.next = self.clock.val();
        self.pb1.write_clock.next = self.clock.val();
        self.pb1.read_clock.next = self.clock.val();
        self.pb0.write_data.next = self.mem_rdata.val();
        self.pb1.write_data.next = self.mem_rdata.val();
        self.pb0.write_address.next = self.ldr.val().get_bits::<8>(1);
        self.pb1.write_address.next = self.ldr.val().get_bits::<8>(1);
        self.is_param.next = self.ldv.q.val()
            & (self.ldi.q.val() != bits::<16>(0))
            & (self.ldi.q.val() < bits::<16>(9));
        self.pb0.write_enable.next = self.is_param.val() & !self.ldr.val().get_bit(0);
        self.pb1.write_enable.next = self.is_param.val() & self.ldr.val().get_bit(0);
        if self.ldv.q.val() & (self.ldi.q.val() == bits::<16>(0)) {
            self.w0.d.next = self.mem_rdata.val().get_bits::<16>(0);
        }
        // A plane word read in the cycle it is written comes from `wreg` (a one-plane tile).
        self.byp.d.next = self.wtb.write_enable.val()
            & (self.wtb.write_address.val() == self.wtb.read_address.val());
        self.wreg.d.next = self.mem_rdata.val();
        // ---- operands: lanes to 9 bits (sign per a_signed), zero in the padding ----
        self.ard.d.next = self.rd_act.val();
        if self.rd_act.val() {
            self.zreg.d.next = self.patch.zero.val();
        }
        self.sp.next = (bit_cast::<72, 64>(self.mem_rdata.val()) & self.ff8.val())
            | (((bit_cast::<72, 64>(self.mem_rdata.val()) >> 8) & self.ff8.val()) << 9)
            | (((bit_cast::<72, 64>(self.mem_rdata.val()) >> 16) & self.ff8.val()) << 18)
            | (((bit_cast::<72, 64>(self.mem_rdata.val()) >> 24) & self.ff8.val()) << 27)
            | (((bit_cast::<72, 64>(self.mem_rdata.val()) >> 32) & self.ff8.val()) << 36)
            | (((bit_cast::<72, 64>(self.mem_rdata.val()) >> 40) & self.ff8.val()) << 45)
            | (((bit_cast::<72, 64>(self.mem_rdata.val()) >> 48) & self.ff8.val()) << 54)
            | (((bit_cast::<72, 64>(self.mem_rdata.val()) >> 56) & self.ff8.val()) << 63);
        self.xnew.next = self.sp.val();
        if self.a_signed.val() {
            self.xnew.next = self.sp.val() | ((self.sp.val() & self.sg72.val()) << 1);
        }
        if self.zreg.q.val() {
            self.xnew.next = bits::<72>(0);
        }
        if self.ard.q.val() {
            self.xreg.d.next = self.xnew.val();
        }
        self.x_in.next = self.xreg.q.val();
        if self.ard.q.val() & !self.stream.val() {
            self.x_in.next = self.xnew.val();
        }
        self.w_in.next = self.wtb.read_data.val();
        if self.byp.q.val() {
            self.w_in.next = self.wreg.q.val();
        }
        if self.stream.val() {
            self.w_in.next = self.mem_rdata.val();
        }
        // ---- delay line: flags and activations from the tree input to its output ----
        self.f0.d.next = self.issf.val();
        self.f1.d.next = self.f0.q.val();
        self.f2.d.next = self.f1.q.val();
        self.f3.d.next = self.f2.q.val();
        self.xd1.d.next = self.x_in.val();
        self.xd2.d.next = self.xd1.q.val();
        self.xd3.d.next = self.xd2.q.val();
        // ---- the shared Σx correction (dense layers) ----
        self.ctree.clock.next = self.clock.val();
        self.ctree.x.next = self.x_in.val();
        self.ctree.w.next = bits::<8>(0xff);
        // `ks` is zero when a vector starts: the hand-off clears it.
        self.ksn.next =
            (self.ks.q.val() + bit_cast::<32, 12>(self.ctree.sum.val()) + self.c2048.val())
                & self.mw.val();
        self.ksfin.next = self.ks.q.val();
        if self.f3.q.val().get_bit(1) {
            self.ksfin.next = self.ksn.val();
            if self.f3.q.val().get_bit(0) {
                self.ks.d.next = self.ksn.val();
            }
        }
        if self.f3.q.val().get_bit(0) & self.f3.q.val().get_bit(5) {
            self.qkh.d.next =
                ((self.ksfin.val() << self.cb32.val()) - self.ksfin.val()) & self.mw.val();
            self.ks.d.next = bits::<32>(0);
        }
        // ---- the rows ----
        for r in 0..8 {
            self.rows[r].clock.next = self.clock.val();
            self.rows[r].x.next = self.x_in.val();
            self.rows[r].w.next = self.w_in.val().get_bits::<8>(8 * r);
            self.rows[r].f_val.next = self.f3.q.val().get_bit(0);
            self.rows[r].f_lp.next = self.f3.q.val().get_bit(2);
            self.rows[r].f_mk.next = self.f3.q.val().get_bit(3);
            self.rows[r].f_h.next = self.f3.q.val().get_bit(5);
            self.rows[r].masked.next = self.masked.val();
            self.rows[r].diagonal.next = self.diagonal.val();
            self.rows[r].xr.next = self.xd3.q.val().get_bits::<9>(9 * r);
        }
        // ---- lane select: rows 2j, 2j + 1 in drain step j ----
        if self.f3.q.val().get_bit(0) & self.f3.q.val().get_bit(5) {
            self.dact.d.next = true;
            self.dj.d.next = bits::<2>(0);
        } else if self.dact.q.val() {
            self.dj.d.next = self.dj.q.val() + bits::<2>(1);
            if self.dj.q.val() == bits::<2>(3) {
                self.dact.d.next = false;
            }
        }
        self.pb0.read_address.next = bit_cast::<8, 2>(self.dj.q.val() + bits::<2>(1));
        if self.f3.q.val().get_bit(0) & self.f3.q.val().get_bit(5) {
            self.pb0.read_address.next = bits::<8>(0);
        }
        self.pb1.read_address.next = self.pb0.read_address.val();
        // dot = sext_W(acc − (2^B − 1)·Σx): dense rows share the Σx hand-off; masked and
        // depthwise rows subtracted their own correction already.
        self.own_k.next = self.masked.val() | self.diagonal.val();
        self.qk.next = self.qkh.q.val();
        if self.own_k.val() {
            self.qk.next = bits::<32>(0);
        }
        self.a0.next = bits::<32>(0);
        self.a1.next = bits::<32>(0);
        for j in 0..4 {
            if self.dj.q.val().index() == j {
                self.a0.next = self.rows[2 * j].acc_h.val();
                self.a1.next = self.rows[2 * j + 1].acc_h.val();
            }
        }
        self.raw0.next = (self.a0.val() - self.qk.val()) & self.mw.val();
        self.raw1.next = (self.a1.val() - self.qk.val()) & self.mw.val();
        self.dot0.next = self.raw0.val();
        if (self.raw0.val() & self.sw.val()) != bits::<32>(0) {
            self.dot0.next = self.raw0.val() | self.xw.val();
        }
        self.dot1.next = self.raw1.val();
        if (self.raw1.val() & self.sw.val()) != bits::<32>(0) {
            self.dot1.next = self.raw1.val() | self.xw.val();
        }
        self.r0.next = self.trow.q.val() + (bit_cast::<16, 2>(self.dj.q.val()) << 1);
        self.live0.next = self.r0.val() < self.out_channels.val();
        self.live1.next = self.r0.val() + bits::<16>(1) < self.out_channels.val();
        self.rq0.clock.next = self.clock.val();
        self.rq1.clock.next = self.clock.val();
        self.rq0.in_valid.next = self.dact.q.val();
        self.rq1.in_valid.next = self.dact.q.val();
        self.rq0.in_addr.next = self.dj.q.val();
        self.rq1.in_addr.next = self.dj.q.val();
        self.rq0.in_dot.next = bits::<32>(0);
        self.rq0.in_param.next = bits::<64>(0);
        if self.live0.val() {
            self.rq0.in_dot.next = self.dot0.val();
            self.rq0.in_param.next = self.pb0.read_data.val();
        }
        self.rq1.in_dot.next = bits::<32>(0);
        self.rq1.in_param.next = bits::<64>(0);
        if self.live1.val() {
            self.rq1.in_dot.next = self.dot1.val();
            self.rq1.in_param.next = self.pb1.read_data.val();
        }
        // Pair mode only for the element-wise unit's requests: its mode bit outlives them.
        // Pair mode only for the element-wise unit's requests: its mode bit outlives them.
        self.rq0.in_pair.next = self.ext_valid.val() & self.ext_pair.val();
        self.rq1.in_pair.next = self.ext_valid.val() & self.ext_pair.val();
        self.rq0.in_m2.next = self.ext_m2.val();
        self.rq1.in_m2.next = self.ext_m2.val();
        self.rq0.in_ext.next = self.ext_valid.val();
        self.rq1.in_ext.next = self.ext_valid.val();
        if self.ext_valid.val() {
            self.rq0.in_valid.next = true;
            self.rq1.in_valid.next = true;
            self.rq0.in_addr.next = self.ext_addr.val();
            self.rq1.in_addr.next = self.ext_addr.val();
            self.rq0.in_dot.next = self.ext_dot0.val();
            self.rq1.in_dot.next = self.ext_dot1.val();
            self.rq0.in_param.next = self.ext_param.val();
            self.rq1.in_param.next = self.ext_param.val();
        }
        // ---- pack: i32 word j = rows 2j, 2j + 1; u8 / i8: byte r = row r ----
        self.oq.clock.next = self.clock.val();
        self.oq.clear.next = self.go.val() | self.next_tile.val();
        self.oq.base.next = self.out_base.val();
        if self.next_tile.val() {
            self.oq.base.next = self.out_base.val() + self.tofs.q.val() + self.wpv.val();
        }
        self.oq.out_cw.next = self.out_cw.val();
        self.oq.wpv_m1.next = bits::<2>(0);
        if self.is_i32.val() {
            self.oq.wpv_m1.next = bits::<2>(3);
        }
        self.oq.free.next = self.free.val();
        // u8 / i8: pairs 0–2 wait in p0–p2, pair 3 completes the word.
        self.pair.next = bit_cast::<16, 8>(self.rq0.out_value.val().get_bits::<8>(0))
            | (bit_cast::<16, 8>(self.rq1.out_value.val().get_bits::<8>(0)) << 8);
        if self.rq0.out_valid.val() {
            if self.rq0.out_addr.val() == bits::<2>(0) {
                self.p0.d.next = self.pair.val();
            }
            if self.rq0.out_addr.val() == bits::<2>(1) {
                self.p1.d.next = self.pair.val();
            }
            if self.rq0.out_addr.val() == bits::<2>(2) {
                self.p2.d.next = self.pair.val();
            }
        }
        self.oq.push.next = false;
        self.lane_word.next = bit_cast::<64, 16>(self.p0.q.val())
            | (bit_cast::<64, 16>(self.p1.q.val()) << 16)
            | (bit_cast::<64, 16>(self.p2.q.val()) << 32)
            | (bit_cast::<64, 16>(self.pair.val()) << 48);
        self.lane_done.next = self.rq0.out_valid.val()
            & self.rq0.out_ext.val()
            & (self.rq0.out_addr.val() == bits::<2>(3));
        self.oq.data.next = self.lane_word.val();
        if self.is_i32.val() {
            self.oq.data.next = bit_cast::<64, 32>(self.rq0.out_value.val())
                | (bit_cast::<64, 32>(self.rq1.out_value.val()) << 32);
            self.oq.push.next = self.rq0.out_valid.val() & !self.rq0.out_ext.val();
        } else if self.rq0.out_addr.val() == bits::<2>(3) {
            self.oq.push.next = self.rq0.out_valid.val() & !self.rq0.out_ext.val();
        }
        self.overflow.next = self.oq.overflow.val();
    }
}

/// The body's Verilog (module `top`) for weight bitwidth `b`.
pub fn verilog(b: u8) -> String {
    let mut u = ConvUnit::new(b);
    u.connect_all();
    generate_verilog(&u)
}
