//! The host link: a UART command decoder in front of the engine (the board tops' logic).
//!
//! Protocol (8N1; every multi-byte field is big-endian, most significant byte first):
//!
//! | command | bytes after the opcode | effect | reply |
//! |---|---|---|---|
//! | `0x01` write weight word | addr (2), word (⌈R·C/8⌉) | `wmem[addr] ← word` | — |
//! | `0x02` write activation word | addr (2), word (⌈9C/8⌉) | `amem[addr] ← word` | — |
//! | `0x03` write parameter word | addr (2), word (8) | `pmem[addr] ← word` | — |
//! | `0x04` run tile | rows, chunks, vectors, w_base, a_base, o_base, p_base (2 each) | start, wait for done | cycle count (4) |
//! | `0x05` read output | addr (2) | — | `omem[addr]` (4) |
//!
//! Words are the memory words of `model.rs` (bit 0 = least significant bit of the last byte).
//! Unknown opcodes are ignored. Commands must not be sent while a reply is pending.

use crate::rtl::engine::Engine;
use crate::rtl::uart::{UartRx, UartTx};
use rust_hdl::prelude::*;

pub const OP_WRITE_WEIGHT: u8 = 1;
pub const OP_WRITE_ACT: u8 = 2;
pub const OP_WRITE_PARAM: u8 = 3;
pub const OP_RUN: u8 = 4;
pub const OP_READ: u8 = 5;

/// Payload bytes of each command for an engine with `rows × cols`.
pub fn payload_len(op: u8, rows: usize, cols: usize) -> usize {
    match op {
        OP_WRITE_WEIGHT => 2 + (rows * cols).div_ceil(8),
        OP_WRITE_ACT => 2 + (9 * cols).div_ceil(8),
        OP_WRITE_PARAM => 10,
        OP_RUN => 14,
        OP_READ => 2,
        _ => 0,
    }
}

/// Width of the payload shift register for `rows × cols`.
pub fn shift_bits(rows: usize, cols: usize) -> usize {
    8 * (1..=5).map(|op| payload_len(op, rows, cols)).max().unwrap()
}

#[derive(LogicBlock)]
pub struct HostLink<
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
    const SH: usize,
> {
    pub clock: Signal<In, Clock>,
    pub rx: Signal<In, Bit>,
    pub tx: Signal<Out, Bit>,
    pub led_busy: Signal<Out, Bit>,
    pub led_done: Signal<Out, Bit>,
    urx: UartRx,
    utx: UartTx,
    engine: Engine<R, C, C2, X9, ST, RC, WA, AA, OA, PA>,
    op: DFF<Bits<8>>,
    cnt: DFF<Bits<8>>,
    sh: DFF<Bits<SH>>,
    exec: DFF<Bit>,
    read_wait: DFF<Bits<2>>,
    run_wait: DFF<Bits<2>>,
    txbuf: DFF<Bits<32>>,
    txleft: DFF<Bits<3>>,
    len_w: Constant<Bits<8>>,
    len_a: Constant<Bits<8>>,
    len_p: Constant<Bits<8>>,
    len_run: Constant<Bits<8>>,
    len_read: Constant<Bits<8>>,
    w_addr_off: Constant<Bits<16>>,
    a_addr_off: Constant<Bits<16>>,
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
        const SH: usize,
    > HostLink<R, C, C2, X9, ST, RC, WA, AA, OA, PA, SH>
{
    pub fn new(bits_b: u8, clocks_per_bit: u16) -> Self {
        assert_eq!(SH, shift_bits(R, C), "SH must be shift_bits(R, C)");
        let l = |op| bits::<8>(payload_len(op, R, C) as u64 - 1);
        Self {
            clock: Default::default(),
            rx: Default::default(),
            tx: Default::default(),
            led_busy: Default::default(),
            led_done: Default::default(),
            urx: UartRx::new(clocks_per_bit),
            utx: UartTx::new(clocks_per_bit),
            engine: Engine::new(bits_b),
            op: Default::default(),
            cnt: Default::default(),
            sh: Default::default(),
            exec: Default::default(),
            read_wait: Default::default(),
            run_wait: Default::default(),
            txbuf: Default::default(),
            txleft: Default::default(),
            len_w: Constant::new(l(OP_WRITE_WEIGHT)),
            len_a: Constant::new(l(OP_WRITE_ACT)),
            len_p: Constant::new(l(OP_WRITE_PARAM)),
            len_run: Constant::new(l(OP_RUN)),
            len_read: Constant::new(l(OP_READ)),
            w_addr_off: Constant::new(bits(8 * (RC as u64).div_ceil(8))),
            a_addr_off: Constant::new(bits(8 * (X9 as u64).div_ceil(8))),
        }
    }
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
        const SH: usize,
    > Logic for HostLink<R, C, C2, X9, ST, RC, WA, AA, OA, PA, SH>
{
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, op, cnt, sh, exec, read_wait, run_wait, txbuf, txleft);
        self.urx.clock.next = self.clock.val();
        self.utx.clock.next = self.clock.val();
        self.engine.clock.next = self.clock.val();
        self.urx.rx.next = self.rx.val();
        self.tx.next = self.utx.tx.val();
        // ---- engine ports, driven from the payload register ----
        self.engine.wmem_waddr.next = self
            .sh
            .q
            .val()
            .get_bits::<WA>(self.w_addr_off.val().index());
        self.engine.wmem_wdata.next = self.sh.q.val().get_bits::<RC>(0);
        self.engine.amem_waddr.next = self
            .sh
            .q
            .val()
            .get_bits::<AA>(self.a_addr_off.val().index());
        self.engine.amem_wdata.next = self.sh.q.val().get_bits::<X9>(0);
        self.engine.pmem_waddr.next = self.sh.q.val().get_bits::<PA>(64);
        self.engine.pmem_wdata.next = self.sh.q.val().get_bits::<64>(0);
        self.engine.omem_raddr.next = self.sh.q.val().get_bits::<OA>(0);
        self.engine.desc_rows.next = self.sh.q.val().get_bits::<16>(96);
        self.engine.desc_chunks.next = self.sh.q.val().get_bits::<16>(80);
        self.engine.desc_vectors.next = self.sh.q.val().get_bits::<16>(64);
        self.engine.desc_wbase.next = self.sh.q.val().get_bits::<16>(48);
        self.engine.desc_abase.next = self.sh.q.val().get_bits::<16>(32);
        self.engine.desc_obase.next = self.sh.q.val().get_bits::<16>(16);
        self.engine.desc_pbase.next = self.sh.q.val().get_bits::<16>(0);
        self.engine.wmem_we.next = self.exec.q.val() & (self.op.q.val() == bits::<8>(1));
        self.engine.amem_we.next = self.exec.q.val() & (self.op.q.val() == bits::<8>(2));
        self.engine.pmem_we.next = self.exec.q.val() & (self.op.q.val() == bits::<8>(3));
        self.engine.start.next = self.exec.q.val() & (self.op.q.val() == bits::<8>(4));
        self.led_busy.next = self.engine.busy.val();
        self.led_done.next = self.engine.done.val();
        // ---- command decoder ----
        self.exec.d.next = false;
        if self.exec.q.val() {
            if self.op.q.val() == bits::<8>(4) {
                self.run_wait.d.next = bits::<2>(1);
            }
            if self.op.q.val() == bits::<8>(5) {
                self.read_wait.d.next = bits::<2>(1);
            }
            self.op.d.next = bits::<8>(0);
        }
        if self.urx.valid.val() {
            if self.op.q.val() == bits::<8>(0) {
                self.cnt.d.next = bits::<8>(0);
                if (self.urx.data.val() >= bits::<8>(1)) & (self.urx.data.val() <= bits::<8>(5)) {
                    self.op.d.next = self.urx.data.val();
                }
            } else {
                self.sh.d.next = (self.sh.q.val() << 8) | bit_cast::<SH, 8>(self.urx.data.val());
                self.cnt.d.next = self.cnt.q.val() + bits::<8>(1);
                if ((self.op.q.val() == bits::<8>(1)) & (self.cnt.q.val() == self.len_w.val()))
                    | ((self.op.q.val() == bits::<8>(2)) & (self.cnt.q.val() == self.len_a.val()))
                    | ((self.op.q.val() == bits::<8>(3)) & (self.cnt.q.val() == self.len_p.val()))
                    | ((self.op.q.val() == bits::<8>(4)) & (self.cnt.q.val() == self.len_run.val()))
                    | ((self.op.q.val() == bits::<8>(5))
                        & (self.cnt.q.val() == self.len_read.val()))
                {
                    self.exec.d.next = true;
                }
            }
        }
        // ---- replies ----
        if self.read_wait.q.val() == bits::<2>(1) {
            self.read_wait.d.next = bits::<2>(2);
        }
        if self.read_wait.q.val() == bits::<2>(2) {
            self.read_wait.d.next = bits::<2>(0);
            self.txbuf.d.next = self.engine.omem_rdata.val();
            self.txleft.d.next = bits::<3>(4);
        }
        if (self.run_wait.q.val() == bits::<2>(1))
            & self.engine.done.val()
            & !self.engine.busy.val()
        {
            self.run_wait.d.next = bits::<2>(0);
            self.txbuf.d.next = self.engine.cycles.val();
            self.txleft.d.next = bits::<3>(4);
        }
        self.utx.data.next = self.txbuf.q.val().get_bits::<8>(24);
        self.utx.start.next = false;
        if (self.txleft.q.val() != bits::<3>(0)) & !self.utx.busy.val() {
            self.utx.start.next = true;
            self.txbuf.d.next = self.txbuf.q.val() << 8;
            self.txleft.d.next = self.txleft.q.val() - bits::<3>(1);
        }
    }
}
