//! The device end of protocol v2 in RTL (`HostSide`): UART, frame receiver and sender, and
//! the command unit in front of the whole-network engine. Its behaviour on the wire is
//! `unibit_board::device::Device` over `unibit_board::soft::ModelBoard`, byte for byte
//! (tested against them in hw/tests/net_board.rs):
//!
//! * INFO: the constant part baked in at construction ([`HostConfig::info_prefix`]) and the
//!   committed model id.
//! * WRITE / READ: memory 0 is main memory through the engine's host port, one byte per
//!   cycle with byte enables; memory 1 is the 64-byte loader register file. Any WRITE with
//!   data clears the model id (also when its range is then refused, as the software does).
//! * COMMIT: the 8-byte model id (more bytes: the first 8 are taken, BadArgs answered).
//! * RUN: no model → NoModel; empty image → BadArgs; registers that do not decode → NoModel;
//!   image length ≠ c·h·w → BadArgs; else the [`ImageLoader`] fills the input buffer,
//!   `start` is pulsed, `done` (or `fault` → EngineFault) awaited, and the reply carries the
//!   cycle counter (u64) and the output buffer's elements (c, y, x order) as i32, read where
//!   the output registers say (i32 buffers whole, u8/i8 extended).
//!   Differences from the software board, on registers no compiled program produces: an
//!   expanded *output* buffer or one of more than 253 elements is answered BadArgs (the
//!   software reads the former through the patch layout and cannot send the latter).
//! * A frame with a bad CRC is answered Corrupt with its (possibly corrupt) first byte, with
//!   no effect; garbage and partial frames are dropped by FrameRx's resync rule.
//!
//! The engine side is NetEngine's interface (NET-INTERFACES.md): `start`, `stop_after`,
//! `busy`, `done`, `cycles`, `fault`, and the host memory port, used only between commands.

use crate::rtl::frame::{FrameRx, FrameTx};
use crate::rtl::net::image_loader::ImageLoader;
use crate::rtl::uart::{UartRx, UartTx};
use rust_hdl::prelude::*;

/// Bytes of the loader register file (memory 1).
pub const REGS_BYTES: u32 = 64;
/// Bytes of INFO's reply data before the model id.
pub const INFO_PREFIX_BYTES: usize = 33;
/// Most output elements a RUN reply carries: (1024 − 2 − 8) / 4 (the RTL spells the literal:
/// a Rust constant name would leak into the Verilog).
pub const MAX_LOGITS: u64 = 253;

/// What a bitstream says about itself in INFO, and its link timing; fixed at construction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostConfig {
    pub bits: u8,
    /// R and C of the engine behind the host side.
    pub rows: u16,
    pub cols: u16,
    pub clock_hz: u32,
    pub baud: u32,
    /// Bytes of main memory (memory 0).
    pub main_bytes: u32,
    /// `unibit_board::target::Target::config_hash` of the engine (zeros: no engine).
    pub config_hash: [u8; 8],
    /// UART clocks per bit (clock_hz / baud).
    pub clocks_per_bit: u16,
    /// Clocks without a byte after which a partial frame is dropped (protocol v2: 20 ms).
    pub idle_clocks: u32,
}

impl HostConfig {
    /// INFO's reply data up to the model id (protocol v2 `Info::encode` without its last 8
    /// bytes): version 2, B, R, C, clock, baud, the two memories, the configuration hash.
    pub fn info_prefix(&self) -> Vec<u8> {
        let mut v = vec![2, self.bits];
        v.extend(self.rows.to_le_bytes());
        v.extend(self.cols.to_le_bytes());
        v.extend(self.clock_hz.to_le_bytes());
        v.extend(self.baud.to_le_bytes());
        v.push(2);
        v.push(0);
        v.extend(self.main_bytes.to_le_bytes());
        v.push(1);
        v.extend(REGS_BYTES.to_le_bytes());
        v.extend(self.config_hash);
        assert_eq!(v.len(), INFO_PREFIX_BYTES);
        v
    }

    /// The idle gap of protocol v2 (20 ms) in clocks of `clock_hz`.
    pub fn idle_gap_clocks(clock_hz: u32) -> u32 {
        clock_hz / 50
    }
}

#[derive(LogicBlock)]
pub struct HostSide {
    pub clock: Signal<In, Clock>,
    pub rx: Signal<In, Bit>,
    pub tx: Signal<Out, Bit>,
    /// Nothing under way (no partial frame, no command, no reply on the wire): a simulation
    /// may let time stand still until the next byte.
    pub idle: Signal<Out, Bit>,
    // ---- the engine (NetEngine's interface) ----
    pub eng_start: Signal<Out, Bit>,
    pub eng_stop_after: Signal<Out, Bits<16>>,
    pub eng_busy: Signal<In, Bit>,
    pub eng_done: Signal<In, Bit>,
    pub eng_cycles: Signal<In, Bits<48>>,
    pub eng_fault: Signal<In, Bit>,
    pub host_addr: Signal<Out, Bits<16>>,
    pub host_we: Signal<Out, Bit>,
    pub host_be: Signal<Out, Bits<8>>,
    pub host_wdata: Signal<Out, Bits<64>>,
    pub host_en: Signal<Out, Bit>,
    pub host_rdata: Signal<In, Bits<64>>,
    urx: UartRx,
    utx: UartTx,
    frx: FrameRx,
    ftx: FrameTx,
    loader: ImageLoader,
    txbuf: RAM<Bits<8>, 10>,
    regs: RAM<Bits<8>, 6>,
    info: ROM<Bits<8>, 6>,
    state: DFF<Bits<5>>,
    i: DFF<Bits<16>>,
    hdr: DFF<Bits<64>>,
    /// The byte address of WRITE / READ: its low 19 bits are all that is used (word `[18:3]`,
    /// lane `[2:0]`; the range check is on the header's 32 bits).
    cur: DFF<Bits<19>>,
    lane_prev: DFF<Bits<3>>,
    status: DFF<Bits<8>>,
    dlen: DFF<Bits<16>>,
    model: DFF<Bits<64>>,
    tmp: DFF<Bits<64>>,
    // output read-back: element (oc, oy, ox), pix = (oy·w + ox)·cw, row = oy·w·cw, cb = oc·e
    oc: DFF<Bits<16>>,
    oy: DFF<Bits<16>>,
    ox: DFF<Bits<16>>,
    pix: DFF<Bits<16>>,
    row: DFF<Bits<16>>,
    cb: DFF<Bits<16>>,
    /// Elements sent (≤ 253) and the reply byte index (≤ 10 + 4·253).
    cnt: DFF<Bits<8>>,
    oacc: DFF<Bits<16>>,
    vreg: DFF<Bits<32>>,
    tw: DFF<Bits<11>>,
    tw16: Signal<Local, Bits<16>>,
    // the loader registers, decoded as they are written
    in_base: DFF<Bits<16>>,
    in_h: DFF<Bits<16>>,
    in_w: DFF<Bits<16>>,
    in_cw: DFF<Bits<16>>,
    in_c: DFF<Bits<16>>,
    in_ih: DFF<Bits<16>>,
    in_iw: DFF<Bits<16>>,
    in_kind: DFF<Bits<8>>,
    in_layout: DFF<Bits<8>>,
    in_k: DFF<Bits<8>>,
    in_stride: DFF<Bits<8>>,
    in_pad: DFF<Bits<8>>,
    out_base: DFF<Bits<16>>,
    out_h: DFF<Bits<16>>,
    out_w: DFF<Bits<16>>,
    out_cw: DFF<Bits<16>>,
    out_c: DFF<Bits<16>>,
    out_ih: DFF<Bits<16>>,
    out_iw: DFF<Bits<16>>,
    out_kind: DFF<Bits<8>>,
    out_layout: DFF<Bits<8>>,
    out_stride: DFF<Bits<8>>,
    op: Signal<Local, Bits<8>>,
    mem: Signal<Local, Bits<8>>,
    flen: Signal<Local, Bits<16>>,
    rlen: Signal<Local, Bits<16>>,
    wlen: Signal<Local, Bits<16>>,
    range_end: Signal<Local, Bits<34>>,
    range_ok: Signal<Local, Bit>,
    in_ok: Signal<Local, Bit>,
    out_ok: Signal<Local, Bit>,
    rd: Signal<Local, Bits<10>>,
    sel_shift: Signal<Local, Bits<6>>,
    sel_word: Signal<Local, Bits<64>>,
    sel_byte: Signal<Local, Bits<8>>,
    out_word: Signal<Local, Bits<64>>,
    i_plus7: Signal<Local, Bits<16>>,
    i_plus2: Signal<Local, Bits<16>>,
    out_shift: Signal<Local, Bits<6>>,
    out_byte: Signal<Local, Bits<8>>,
    out_val: Signal<Local, Bits<32>>,
    wbyte: Signal<Local, Bits<64>>,
    tx_we: Signal<Local, Bit>,
    tx_addr: Signal<Local, Bits<16>>,
    tx_data: Signal<Local, Bits<8>>,
    mem_addr: Signal<Local, Bits<16>>,
    mem_we: Signal<Local, Bit>,
    mem_en: Signal<Local, Bit>,
    mem_be: Signal<Local, Bits<8>>,
    mem_wdata: Signal<Local, Bits<64>>,
    main_bytes: Constant<Bits<34>>,
    /// Sign extension of a byte to 32 bits (a literal this wide does not pass `hdl_gen`).
    sext8: Constant<Bits<32>>,
}

impl HostSide {
    pub fn new(cfg: &HostConfig) -> Self {
        let prefix = cfg.info_prefix();
        Self {
            clock: Default::default(),
            rx: Default::default(),
            tx: Default::default(),
            idle: Default::default(),
            eng_start: Default::default(),
            eng_stop_after: Default::default(),
            eng_busy: Default::default(),
            eng_done: Default::default(),
            eng_cycles: Default::default(),
            eng_fault: Default::default(),
            host_addr: Default::default(),
            host_we: Default::default(),
            host_be: Default::default(),
            host_wdata: Default::default(),
            host_en: Default::default(),
            host_rdata: Default::default(),
            urx: UartRx::new(cfg.clocks_per_bit),
            utx: UartTx::new(cfg.clocks_per_bit),
            frx: FrameRx::new(cfg.idle_clocks),
            ftx: FrameTx::new(),
            loader: ImageLoader::new(),
            txbuf: RAM::from((0..1024).map(|_| bits::<8>(0))),
            regs: RAM::from((0..64).map(|_| bits::<8>(0))),
            info: ROM::from(prefix.iter().map(|&b| bits::<8>(b as u64))),
            state: Default::default(),
            i: Default::default(),
            hdr: Default::default(),
            cur: Default::default(),
            lane_prev: Default::default(),
            status: Default::default(),
            dlen: Default::default(),
            model: Default::default(),
            tmp: Default::default(),
            oc: Default::default(),
            oy: Default::default(),
            ox: Default::default(),
            pix: Default::default(),
            row: Default::default(),
            cb: Default::default(),
            cnt: Default::default(),
            oacc: Default::default(),
            vreg: Default::default(),
            tw: Default::default(),
            tw16: Default::default(),
            in_base: Default::default(),
            in_h: Default::default(),
            in_w: Default::default(),
            in_cw: Default::default(),
            in_c: Default::default(),
            in_ih: Default::default(),
            in_iw: Default::default(),
            in_kind: Default::default(),
            in_layout: Default::default(),
            in_k: Default::default(),
            in_stride: Default::default(),
            in_pad: Default::default(),
            out_base: Default::default(),
            out_h: Default::default(),
            out_w: Default::default(),
            out_cw: Default::default(),
            out_c: Default::default(),
            out_ih: Default::default(),
            out_iw: Default::default(),
            out_kind: Default::default(),
            out_layout: Default::default(),
            out_stride: Default::default(),
            op: Default::default(),
            mem: Default::default(),
            flen: Default::default(),
            rlen: Default::default(),
            wlen: Default::default(),
            range_end: Default::default(),
            range_ok: Default::default(),
            in_ok: Default::default(),
            out_ok: Default::default(),
            rd: Default::default(),
            sel_shift: Default::default(),
            sel_word: Default::default(),
            sel_byte: Default::default(),
            out_word: Default::default(),
            i_plus7: Default::default(),
            i_plus2: Default::default(),
            out_shift: Default::default(),
            out_byte: Default::default(),
            out_val: Default::default(),
            wbyte: Default::default(),
            tx_we: Default::default(),
            tx_addr: Default::default(),
            tx_data: Default::default(),
            mem_addr: Default::default(),
            mem_we: Default::default(),
            mem_en: Default::default(),
            mem_be: Default::default(),
            mem_wdata: Default::default(),
            main_bytes: Constant::new(bits(cfg.main_bytes as u64)),
            sext8: Constant::new(bits(0xFFFF_FF00)),
        }
    }
}

impl Logic for HostSide {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, state, i, hdr, cur, lane_prev, status, dlen, model, tmp, oc, oy, ox, pix,
            row, cb, cnt, oacc, vreg, tw, in_base, in_h, in_w, in_cw, in_c, in_ih, in_iw, in_kind,
            in_layout, in_k, in_stride, in_pad, out_base, out_h, out_w, out_cw, out_c, out_ih,
            out_iw, out_kind, out_layout, out_stride
        );
        self.urx.clock.next = self.clock.val();
        self.utx.clock.next = self.clock.val();
        self.frx.clock.next = self.clock.val();
        self.ftx.clock.next = self.clock.val();
        self.loader.clock.next = self.clock.val();
        self.txbuf.read_clock.next = self.clock.val();
        self.txbuf.write_clock.next = self.clock.val();
        self.regs.read_clock.next = self.clock.val();
        self.regs.write_clock.next = self.clock.val();
        // ---- link: UART ↔ frames ----
        self.urx.rx.next = self.rx.val();
        self.tx.next = self.utx.tx.val();
        self.frx.rx_byte.next = self.urx.data.val();
        self.frx.valid.next = self.urx.valid.val();
        self.frx.hold.next = self.state.q.val() != bits::<5>(0);
        self.utx.data.next = self.ftx.uart_data.val();
        self.utx.start.next = self.ftx.uart_start.val();
        self.ftx.uart_busy.next = self.utx.busy.val();
        self.txbuf.read_address.next = self.ftx.addr.val();
        self.ftx.data.next = self.txbuf.read_data.val();
        self.ftx.start.next = false;
        self.ftx.len.next = self.dlen.q.val() + bits::<16>(2);
        self.info.address.next = self.i.q.val().get_bits::<6>(0);
        self.idle.next = (self.state.q.val() == bits::<5>(0))
            & !self.frx.in_frame.val()
            & !self.frx.done.val()
            & !self.ftx.busy.val()
            & !self.utx.busy.val();
        // ---- command fields ----
        self.op.next = self.hdr.q.val().get_bits::<8>(0);
        self.mem.next = self.hdr.q.val().get_bits::<8>(8);
        self.rlen.next = self.hdr.q.val().get_bits::<16>(48);
        self.flen.next = self.frx.len.val();
        self.wlen.next = self.frx.len.val() - bits::<16>(7);
        self.range_end.next = bit_cast::<34, 32>(self.hdr.q.val().get_bits::<32>(16))
            + bit_cast::<34, 16>(self.wlen.val());
        if self.op.val() == bits::<8>(3) {
            self.range_end.next = bit_cast::<34, 32>(self.hdr.q.val().get_bits::<32>(16))
                + bit_cast::<34, 16>(self.rlen.val());
        }
        self.range_ok.next = ((self.mem.val() == bits::<8>(0))
            & (self.range_end.val() <= self.main_bytes.val()))
            | ((self.mem.val() == bits::<8>(1)) & (self.range_end.val() <= bits::<34>(64)));
        // `Registers::decode`: kinds 0..=2, layout HWC or expanded with stride ≥ 1,
        // h·w·cw > 0, channels > 0.
        self.in_ok.next = (self.in_kind.q.val() <= bits::<8>(2))
            & ((self.in_layout.q.val() == bits::<8>(0))
                | ((self.in_layout.q.val() == bits::<8>(1))
                    & (self.in_stride.q.val() != bits::<8>(0))))
            & (self.in_h.q.val() != bits::<16>(0))
            & (self.in_w.q.val() != bits::<16>(0))
            & (self.in_cw.q.val() != bits::<16>(0))
            & (self.in_c.q.val() != bits::<16>(0));
        self.out_ok.next = (self.out_kind.q.val() <= bits::<8>(2))
            & ((self.out_layout.q.val() == bits::<8>(0))
                | ((self.out_layout.q.val() == bits::<8>(1))
                    & (self.out_stride.q.val() != bits::<8>(0))))
            & (self.out_h.q.val() != bits::<16>(0))
            & (self.out_w.q.val() != bits::<16>(0))
            & (self.out_cw.q.val() != bits::<16>(0))
            & (self.out_c.q.val() != bits::<16>(0));
        // byte `lane_prev` of the word read last cycle; the output element's byte
        self.sel_shift.next = bit_cast::<6, 3>(self.lane_prev.q.val()) << 3;
        self.sel_word.next = self.host_rdata.val() >> self.sel_shift.val();
        self.sel_byte.next = self.sel_word.val().get_bits::<8>(0);
        self.out_shift.next = bit_cast::<6, 3>(self.cb.q.val().get_bits::<3>(0)) << 3;
        self.out_word.next = self.host_rdata.val() >> self.out_shift.val();
        self.out_byte.next = self.out_word.val().get_bits::<8>(0);
        self.out_val.next = bit_cast::<32, 8>(self.out_byte.val());
        if (self.out_kind.q.val() == bits::<8>(1)) & self.out_byte.val().get_bit(7) {
            self.out_val.next = bit_cast::<32, 8>(self.out_byte.val()) | self.sext8.val();
        }
        if self.out_kind.q.val() == bits::<8>(2) {
            self.out_val.next = self.host_rdata.val().get_bits::<32>(0);
            if self.cb.q.val().get_bit(2) {
                self.out_val.next = self.host_rdata.val().get_bits::<32>(32);
            }
        }
        self.wbyte.next = bit_cast::<64, 8>(self.frx.rd_data.val())
            | (bit_cast::<64, 8>(self.frx.rd_data.val()) << 8)
            | (bit_cast::<64, 8>(self.frx.rd_data.val()) << 16)
            | (bit_cast::<64, 8>(self.frx.rd_data.val()) << 24)
            | (bit_cast::<64, 8>(self.frx.rd_data.val()) << 32)
            | (bit_cast::<64, 8>(self.frx.rd_data.val()) << 40)
            | (bit_cast::<64, 8>(self.frx.rd_data.val()) << 48)
            | (bit_cast::<64, 8>(self.frx.rd_data.val()) << 56);
        // (part selects of expressions are not Verilog: through locals)
        self.i_plus7.next = self.i.q.val() + bits::<16>(7);
        self.tw16.next = bit_cast::<16, 11>(self.tw.q.val());
        self.i_plus2.next = self.i.q.val() + bits::<16>(2);
        // ---- defaults of the ports the FSM drives ----
        self.rd.next = self.i.q.val().get_bits::<10>(0);
        self.tx_we.next = false;
        self.tx_addr.next = self.i.q.val() + bits::<16>(2);
        self.tx_data.next = self.tmp.q.val().get_bits::<8>(0);
        self.mem_addr.next = self.cur.q.val().get_bits::<16>(3);
        self.mem_we.next = false;
        self.mem_en.next = false;
        self.mem_be.next = bits::<8>(1) << self.cur.q.val().get_bits::<3>(0);
        self.mem_wdata.next = self.wbyte.val();
        self.regs.read_address.next = self.cur.q.val().get_bits::<6>(0);
        self.regs.write_address.next = self.cur.q.val().get_bits::<6>(0);
        self.regs.write_data.next = self.frx.rd_data.val();
        self.regs.write_enable.next = false;
        self.eng_start.next = false;
        self.eng_stop_after.next = bits::<16>(0xFFFF);
        self.loader.go.next = false;
        self.loader.len.next = self.frx.len.val() - bits::<16>(2);
        self.loader.base.next = self.in_base.q.val();
        self.loader.h.next = self.in_h.q.val();
        self.loader.w.next = self.in_w.q.val();
        self.loader.cw.next = self.in_cw.q.val();
        self.loader.chans.next = self.in_c.q.val();
        self.loader.img_h.next = self.in_ih.q.val();
        self.loader.img_w.next = self.in_iw.q.val();
        self.loader.expanded.next = self.in_layout.q.val() == bits::<8>(1);
        self.loader.k.next = self.in_k.q.val();
        self.loader.stride.next = self.in_stride.q.val();
        self.loader.pad.next = self.in_pad.q.val();
        self.loader.rd_data.next = self.frx.rd_data.val();
        match self.state.q.val().index() {
            0 => {
                // Idle: a frame arrived?
                if self.frx.done.val() {
                    self.i.d.next = bits::<16>(1);
                    self.state.d.next = bits::<5>(1);
                    if !self.frx.ok.val() {
                        self.status.d.next = bits::<8>(1);
                        self.dlen.d.next = bits::<16>(0);
                        self.state.d.next = bits::<5>(16);
                    }
                }
            }
            1 => {
                // Body bytes 1..=8 (op, mem, addr, len) into hdr, low byte first.
                if self.i.q.val() >= bits::<16>(2) {
                    self.hdr.d.next =
                        (self.hdr.q.val() >> 8) | (bit_cast::<64, 8>(self.frx.rd_data.val()) << 56);
                }
                self.i.d.next = self.i.q.val() + bits::<16>(1);
                if self.i.q.val() == bits::<16>(9) {
                    self.state.d.next = bits::<5>(2);
                }
            }
            2 => {
                // Dispatch.
                self.i.d.next = bits::<16>(0);
                self.dlen.d.next = bits::<16>(0);
                self.status.d.next = bits::<8>(3);
                self.state.d.next = bits::<5>(16);
                self.cur.d.next = self.hdr.q.val().get_bits::<19>(16);
                self.tmp.d.next = self.model.q.val();
                if self.op.val() == bits::<8>(1) {
                    if self.flen.val() == bits::<16>(2) {
                        self.state.d.next = bits::<5>(6);
                    }
                } else if self.op.val() == bits::<8>(2) {
                    if self.flen.val() >= bits::<16>(8) {
                        self.model.d.next = bits::<64>(0);
                        if self.range_ok.val() {
                            self.state.d.next = bits::<5>(3);
                        }
                    }
                } else if self.op.val() == bits::<8>(3) {
                    if (self.flen.val() == bits::<16>(9))
                        & (self.rlen.val() != bits::<16>(0))
                        & (self.rlen.val() <= bits::<16>(1016))
                        & self.range_ok.val()
                    {
                        self.state.d.next = bits::<5>(4);
                    }
                } else if self.op.val() == bits::<8>(5) {
                    if self.flen.val() >= bits::<16>(10) {
                        self.state.d.next = bits::<5>(5);
                    }
                } else if self.op.val() == bits::<8>(4) {
                    if self.model.q.val() == bits::<64>(0) {
                        self.status.d.next = bits::<8>(4);
                    } else if self.flen.val() == bits::<16>(2) {
                        self.status.d.next = bits::<8>(3);
                    } else if !(self.in_ok.val() & self.out_ok.val()) {
                        self.status.d.next = bits::<8>(4);
                    } else {
                        self.loader.go.next = true;
                        self.state.d.next = bits::<5>(7);
                    }
                } else {
                    self.status.d.next = bits::<8>(2);
                }
            }
            3 => {
                // WRITE: body byte 7 + i is read, written one cycle later at cur.
                self.rd.next = self.i_plus7.val().get_bits::<10>(0);
                if self.i.q.val() != bits::<16>(0) {
                    self.cur.d.next = self.cur.q.val() + bits::<19>(1);
                    if self.mem.val() == bits::<8>(0) {
                        self.mem_we.next = true;
                        self.mem_en.next = true;
                    } else {
                        self.regs.write_enable.next = true;
                        match self.cur.q.val().get_bits::<6>(0).index() {
                            0 => {
                                self.in_base.d.next = (self.in_base.q.val() & bits::<16>(0xFF00))
                                    | bit_cast::<16, 8>(self.frx.rd_data.val());
                            }
                            1 => {
                                self.in_base.d.next = (self.in_base.q.val() & bits::<16>(0x00FF))
                                    | (bit_cast::<16, 8>(self.frx.rd_data.val()) << 8);
                            }
                            2 => {
                                self.in_h.d.next = (self.in_h.q.val() & bits::<16>(0xFF00))
                                    | bit_cast::<16, 8>(self.frx.rd_data.val());
                            }
                            3 => {
                                self.in_h.d.next = (self.in_h.q.val() & bits::<16>(0x00FF))
                                    | (bit_cast::<16, 8>(self.frx.rd_data.val()) << 8);
                            }
                            4 => {
                                self.in_w.d.next = (self.in_w.q.val() & bits::<16>(0xFF00))
                                    | bit_cast::<16, 8>(self.frx.rd_data.val());
                            }
                            5 => {
                                self.in_w.d.next = (self.in_w.q.val() & bits::<16>(0x00FF))
                                    | (bit_cast::<16, 8>(self.frx.rd_data.val()) << 8);
                            }
                            6 => {
                                self.in_cw.d.next = (self.in_cw.q.val() & bits::<16>(0xFF00))
                                    | bit_cast::<16, 8>(self.frx.rd_data.val());
                            }
                            7 => {
                                self.in_cw.d.next = (self.in_cw.q.val() & bits::<16>(0x00FF))
                                    | (bit_cast::<16, 8>(self.frx.rd_data.val()) << 8);
                            }
                            8 => {
                                self.in_c.d.next = (self.in_c.q.val() & bits::<16>(0xFF00))
                                    | bit_cast::<16, 8>(self.frx.rd_data.val());
                            }
                            9 => {
                                self.in_c.d.next = (self.in_c.q.val() & bits::<16>(0x00FF))
                                    | (bit_cast::<16, 8>(self.frx.rd_data.val()) << 8);
                            }
                            10 => {
                                self.in_ih.d.next = (self.in_ih.q.val() & bits::<16>(0xFF00))
                                    | bit_cast::<16, 8>(self.frx.rd_data.val());
                            }
                            11 => {
                                self.in_ih.d.next = (self.in_ih.q.val() & bits::<16>(0x00FF))
                                    | (bit_cast::<16, 8>(self.frx.rd_data.val()) << 8);
                            }
                            12 => {
                                self.in_iw.d.next = (self.in_iw.q.val() & bits::<16>(0xFF00))
                                    | bit_cast::<16, 8>(self.frx.rd_data.val());
                            }
                            13 => {
                                self.in_iw.d.next = (self.in_iw.q.val() & bits::<16>(0x00FF))
                                    | (bit_cast::<16, 8>(self.frx.rd_data.val()) << 8);
                            }
                            14 => {
                                self.in_kind.d.next = self.frx.rd_data.val();
                            }
                            15 => {
                                self.in_layout.d.next = self.frx.rd_data.val();
                            }
                            16 => {
                                self.in_k.d.next = self.frx.rd_data.val();
                            }
                            17 => {
                                self.in_stride.d.next = self.frx.rd_data.val();
                            }
                            18 => {
                                self.in_pad.d.next = self.frx.rd_data.val();
                            }
                            20 => {
                                self.out_base.d.next = (self.out_base.q.val() & bits::<16>(0xFF00))
                                    | bit_cast::<16, 8>(self.frx.rd_data.val());
                            }
                            21 => {
                                self.out_base.d.next = (self.out_base.q.val() & bits::<16>(0x00FF))
                                    | (bit_cast::<16, 8>(self.frx.rd_data.val()) << 8);
                            }
                            22 => {
                                self.out_h.d.next = (self.out_h.q.val() & bits::<16>(0xFF00))
                                    | bit_cast::<16, 8>(self.frx.rd_data.val());
                            }
                            23 => {
                                self.out_h.d.next = (self.out_h.q.val() & bits::<16>(0x00FF))
                                    | (bit_cast::<16, 8>(self.frx.rd_data.val()) << 8);
                            }
                            24 => {
                                self.out_w.d.next = (self.out_w.q.val() & bits::<16>(0xFF00))
                                    | bit_cast::<16, 8>(self.frx.rd_data.val());
                            }
                            25 => {
                                self.out_w.d.next = (self.out_w.q.val() & bits::<16>(0x00FF))
                                    | (bit_cast::<16, 8>(self.frx.rd_data.val()) << 8);
                            }
                            26 => {
                                self.out_cw.d.next = (self.out_cw.q.val() & bits::<16>(0xFF00))
                                    | bit_cast::<16, 8>(self.frx.rd_data.val());
                            }
                            27 => {
                                self.out_cw.d.next = (self.out_cw.q.val() & bits::<16>(0x00FF))
                                    | (bit_cast::<16, 8>(self.frx.rd_data.val()) << 8);
                            }
                            28 => {
                                self.out_c.d.next = (self.out_c.q.val() & bits::<16>(0xFF00))
                                    | bit_cast::<16, 8>(self.frx.rd_data.val());
                            }
                            29 => {
                                self.out_c.d.next = (self.out_c.q.val() & bits::<16>(0x00FF))
                                    | (bit_cast::<16, 8>(self.frx.rd_data.val()) << 8);
                            }
                            30 => {
                                self.out_ih.d.next = (self.out_ih.q.val() & bits::<16>(0xFF00))
                                    | bit_cast::<16, 8>(self.frx.rd_data.val());
                            }
                            31 => {
                                self.out_ih.d.next = (self.out_ih.q.val() & bits::<16>(0x00FF))
                                    | (bit_cast::<16, 8>(self.frx.rd_data.val()) << 8);
                            }
                            32 => {
                                self.out_iw.d.next = (self.out_iw.q.val() & bits::<16>(0xFF00))
                                    | bit_cast::<16, 8>(self.frx.rd_data.val());
                            }
                            33 => {
                                self.out_iw.d.next = (self.out_iw.q.val() & bits::<16>(0x00FF))
                                    | (bit_cast::<16, 8>(self.frx.rd_data.val()) << 8);
                            }
                            34 => {
                                self.out_kind.d.next = self.frx.rd_data.val();
                            }
                            35 => {
                                self.out_layout.d.next = self.frx.rd_data.val();
                            }
                            37 => {
                                self.out_stride.d.next = self.frx.rd_data.val();
                            }
                            _ => {}
                        }
                    }
                }
                self.i.d.next = self.i.q.val() + bits::<16>(1);
                if self.i.q.val() == self.wlen.val() {
                    self.status.d.next = bits::<8>(0);
                    self.state.d.next = bits::<5>(16);
                }
            }
            4 => {
                // READ: the byte at cur is read; the one read last cycle goes to tx[1 + i].
                self.mem_en.next = true;
                self.cur.d.next = self.cur.q.val() + bits::<19>(1);
                self.lane_prev.d.next = self.cur.q.val().get_bits::<3>(0);
                if self.i.q.val() != bits::<16>(0) {
                    self.tx_we.next = true;
                    self.tx_addr.next = self.i.q.val() + bits::<16>(1);
                    self.tx_data.next = self.regs.read_data.val();
                    if self.mem.val() == bits::<8>(0) {
                        self.tx_data.next = self.sel_byte.val();
                    }
                }
                self.i.d.next = self.i.q.val() + bits::<16>(1);
                if self.i.q.val() == self.rlen.val() {
                    self.status.d.next = bits::<8>(0);
                    self.dlen.d.next = self.rlen.val();
                    self.state.d.next = bits::<5>(16);
                }
            }
            5 => {
                // COMMIT: body bytes 2..10 into the model id, low byte first.
                self.rd.next = self.i_plus2.val().get_bits::<10>(0);
                if self.i.q.val() != bits::<16>(0) {
                    self.model.d.next = (self.model.q.val() >> 8)
                        | (bit_cast::<64, 8>(self.frx.rd_data.val()) << 56);
                }
                self.i.d.next = self.i.q.val() + bits::<16>(1);
                if self.i.q.val() == bits::<16>(8) {
                    self.status.d.next = bits::<8>(3);
                    if self.flen.val() == bits::<16>(10) {
                        self.status.d.next = bits::<8>(0);
                    }
                    self.state.d.next = bits::<5>(16);
                }
            }
            6 => {
                // INFO: the constant prefix, then the model id.
                self.tx_we.next = true;
                self.tx_data.next = self.info.data.val();
                if self.i.q.val() >= bits::<16>(33) {
                    self.tx_data.next = self.tmp.q.val().get_bits::<8>(0);
                    self.tmp.d.next = self.tmp.q.val() >> 8;
                }
                self.i.d.next = self.i.q.val() + bits::<16>(1);
                if self.i.q.val() == bits::<16>(40) {
                    self.status.d.next = bits::<8>(0);
                    self.dlen.d.next = bits::<16>(41);
                    self.state.d.next = bits::<5>(16);
                }
            }
            7 => {
                // The image loader runs (it drives the memory and body ports).
                if self.loader.done.val() {
                    if self.loader.bad.val() {
                        self.status.d.next = bits::<8>(3);
                        self.dlen.d.next = bits::<16>(0);
                        self.state.d.next = bits::<5>(16);
                    } else {
                        self.state.d.next = bits::<5>(8);
                    }
                }
            }
            8 => {
                self.eng_start.next = true;
                self.state.d.next = bits::<5>(9);
            }
            9 => {
                // One cycle for the engine to lower `done`.
                self.state.d.next = bits::<5>(10);
            }
            10 => {
                if self.eng_fault.val() {
                    self.status.d.next = bits::<8>(5);
                    self.dlen.d.next = bits::<16>(0);
                    self.state.d.next = bits::<5>(16);
                } else if self.eng_done.val() & !self.eng_busy.val() {
                    self.tmp.d.next = bit_cast::<64, 48>(self.eng_cycles.val());
                    self.i.d.next = bits::<16>(0);
                    self.state.d.next = bits::<5>(11);
                }
            }
            11 => {
                // The cycle counter, u64 little-endian.
                self.tx_we.next = true;
                self.tmp.d.next = self.tmp.q.val() >> 8;
                self.i.d.next = self.i.q.val() + bits::<16>(1);
                if self.i.q.val() == bits::<16>(7) {
                    self.oc.d.next = bits::<16>(0);
                    self.oy.d.next = bits::<16>(0);
                    self.ox.d.next = bits::<16>(0);
                    self.pix.d.next = bits::<16>(0);
                    self.row.d.next = bits::<16>(0);
                    self.cb.d.next = bits::<16>(0);
                    self.cnt.d.next = bits::<8>(0);
                    self.oacc.d.next = bits::<16>(0);
                    self.tw.d.next = bits::<11>(10);
                    self.i.d.next = self.out_w.q.val();
                    self.status.d.next = bits::<8>(0);
                    self.dlen.d.next = bits::<16>(8);
                    self.state.d.next = bits::<5>(12);
                    if (self.out_ih.q.val() == bits::<16>(0))
                        | (self.out_iw.q.val() == bits::<16>(0))
                    {
                        self.state.d.next = bits::<5>(16);
                    }
                    if self.out_layout.q.val() != bits::<8>(0) {
                        self.status.d.next = bits::<8>(3);
                        self.dlen.d.next = bits::<16>(0);
                        self.state.d.next = bits::<5>(16);
                    }
                }
            }
            12 => {
                // w·cw of the output buffer, by repeated addition.
                if self.i.q.val() == bits::<16>(0) {
                    self.state.d.next = bits::<5>(13);
                } else {
                    self.oacc.d.next = self.oacc.q.val() + self.out_cw.q.val();
                    self.i.d.next = self.i.q.val() - bits::<16>(1);
                }
            }
            13 => {
                // Next output element: read its word.
                self.mem_addr.next =
                    self.out_base.q.val() + self.pix.q.val() + (self.cb.q.val() >> 3);
                self.mem_en.next = true;
                self.state.d.next = bits::<5>(14);
                if self.oc.q.val() == self.out_c.q.val() {
                    self.mem_en.next = false;
                    self.status.d.next = bits::<8>(0);
                    self.dlen.d.next = self.tw16.val() - bits::<16>(2);
                    self.state.d.next = bits::<5>(16);
                } else if self.cnt.q.val() == bits::<8>(253) {
                    self.mem_en.next = false;
                    self.status.d.next = bits::<8>(3);
                    self.dlen.d.next = bits::<16>(0);
                    self.state.d.next = bits::<5>(16);
                }
            }
            14 => {
                self.vreg.d.next = self.out_val.val();
                self.i.d.next = bits::<16>(0);
                self.state.d.next = bits::<5>(15);
            }
            15 => {
                // Its four bytes, then step (c, y, x).
                self.tx_we.next = true;
                self.tx_addr.next = self.tw16.val();
                self.tx_data.next = self.vreg.q.val().get_bits::<8>(0);
                self.vreg.d.next = self.vreg.q.val() >> 8;
                self.tw.d.next = self.tw.q.val() + bits::<11>(1);
                self.i.d.next = self.i.q.val() + bits::<16>(1);
                if self.i.q.val() == bits::<16>(3) {
                    self.state.d.next = bits::<5>(13);
                    self.cnt.d.next = self.cnt.q.val() + bits::<8>(1);
                    self.ox.d.next = self.ox.q.val() + bits::<16>(1);
                    self.pix.d.next = self.pix.q.val() + self.out_cw.q.val();
                    if self.ox.q.val() + bits::<16>(1) == self.out_iw.q.val() {
                        self.ox.d.next = bits::<16>(0);
                        self.oy.d.next = self.oy.q.val() + bits::<16>(1);
                        self.row.d.next = self.row.q.val() + self.oacc.q.val();
                        self.pix.d.next = self.row.q.val() + self.oacc.q.val();
                        if self.oy.q.val() + bits::<16>(1) == self.out_ih.q.val() {
                            self.oy.d.next = bits::<16>(0);
                            self.row.d.next = bits::<16>(0);
                            self.pix.d.next = bits::<16>(0);
                            self.oc.d.next = self.oc.q.val() + bits::<16>(1);
                            self.cb.d.next = self.cb.q.val() + bits::<16>(1);
                            if self.out_kind.q.val() == bits::<8>(2) {
                                self.cb.d.next = self.cb.q.val() + bits::<16>(4);
                            }
                        }
                    }
                }
            }
            16 => {
                // Reply header: sequence number …
                self.tx_we.next = true;
                self.tx_addr.next = bits::<16>(0);
                self.tx_data.next = self.frx.seq.val();
                self.state.d.next = bits::<5>(17);
            }
            17 => {
                // … and status; send the frame.
                self.tx_we.next = true;
                self.tx_addr.next = bits::<16>(1);
                self.tx_data.next = self.status.q.val();
                self.ftx.start.next = true;
                self.state.d.next = bits::<5>(18);
            }
            18 => {
                if !self.ftx.busy.val() {
                    self.state.d.next = bits::<5>(0);
                }
            }
            _ => {
                self.state.d.next = bits::<5>(0);
            }
        }
        self.txbuf.write_enable.next = self.tx_we.val();
        self.txbuf.write_address.next = self.tx_addr.val().get_bits::<10>(0);
        self.txbuf.write_data.next = self.tx_data.val();
        // The loader owns the memory and body ports while it runs.
        self.frx.rd_addr.next = self.rd.val();
        self.host_addr.next = self.mem_addr.val();
        self.host_we.next = self.mem_we.val();
        self.host_en.next = self.mem_en.val();
        self.host_be.next = self.mem_be.val();
        self.host_wdata.next = self.mem_wdata.val();
        if self.loader.busy.val() {
            self.frx.rd_addr.next = self.loader.rd_addr.val();
            self.host_addr.next = self.loader.mem_addr.val();
            self.host_we.next = self.loader.mem_we.val();
            self.host_en.next = self.loader.mem_we.val();
            self.host_be.next = self.loader.mem_be.val();
            self.host_wdata.next = self.loader.mem_wdata.val();
        }
    }
}
