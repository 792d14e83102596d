//! Protocol v2 frames in hardware (the byte-level rules are in `unibit_board::frame`; these
//! circuits follow them exactly and are tested against that crate's encoder and decoder).
//!
//! [`FrameRx`] receives host frames (`0xA5 LEN_LO LEN_HI BODY CRC_LO CRC_HI`) into a 1,024-byte
//! body buffer and reports each complete frame once, with its CRC verdict: a frame takes effect
//! only after its CRC checks, so a corrupt command never touches the engine. [`FrameTx`] sends a
//! reply frame (`0x5A …`) whose body it reads from a byte port. CRC-16/CCITT-FALSE, one byte per
//! cycle: `x = (crc >> 8) ^ b; x ^= x >> 4; crc = (crc << 8) ^ (x << 12) ^ (x << 5) ^ x`.

use rust_hdl::prelude::*;

/// Body buffer address bits: bodies of 2..=1024 bytes.
pub const BODY_ADDR_BITS: usize = 10;
/// Largest body (protocol v2's MAX_BODY).
pub const MAX_BODY: u64 = 1 << BODY_ADDR_BITS;

/// Receiver of host frames.
#[derive(LogicBlock)]
pub struct FrameRx {
    pub clock: Signal<In, Clock>,
    /// A received byte, valid for the one cycle `valid` is high (the UART's outputs; `byte` is a SystemVerilog keyword).
    pub rx_byte: Signal<In, Bits<8>>,
    pub valid: Signal<In, Bit>,
    /// While high, new frames are not started (the previous one is being executed).
    pub hold: Signal<In, Bit>,
    /// One-cycle pulse: a frame ended; `ok` tells whether its CRC checked.
    pub done: Signal<Out, Bit>,
    pub ok: Signal<Out, Bit>,
    /// Body length and first body byte (the sequence number) of the last frame.
    pub len: Signal<Out, Bits<16>>,
    pub seq: Signal<Out, Bits<8>>,
    /// Body buffer read port (one cycle of latency).
    pub rd_addr: Signal<In, Bits<BODY_ADDR_BITS>>,
    pub rd_data: Signal<Out, Bits<8>>,
    /// A frame is partly received (the idle gap would drop it): the board is not idle.
    pub in_frame: Signal<Out, Bit>,
    body: RAM<Bits<8>, BODY_ADDR_BITS>,
    state: DFF<Bits<3>>,
    len_r: DFF<Bits<16>>,
    cnt: DFF<Bits<16>>,
    crc: DFF<Bits<16>>,
    crc_lo: DFF<Bits<8>>,
    seq_r: DFF<Bits<8>>,
    idle: DFF<Bits<24>>,
    done_r: DFF<Bit>,
    ok_r: DFF<Bit>,
    x1: Signal<Local, Bits<16>>,
    x2: Signal<Local, Bits<16>>,
    crc_next: Signal<Local, Bits<16>>,
    crc_rx: Signal<Local, Bits<16>>,
    idle_limit: Constant<Bits<24>>,
}

impl FrameRx {
    /// A receiver that drops a partial frame after `idle_clocks` clocks without a byte
    /// (20 ms of the board clock: protocol v2's idle gap).
    pub fn new(idle_clocks: u32) -> Self {
        assert!(
            (1..1 << 24).contains(&idle_clocks),
            "idle_clocks must fit 24 bits"
        );
        Self {
            clock: Default::default(),
            rx_byte: Default::default(),
            valid: Default::default(),
            hold: Default::default(),
            done: Default::default(),
            ok: Default::default(),
            len: Default::default(),
            seq: Default::default(),
            rd_addr: Default::default(),
            rd_data: Default::default(),
            in_frame: Default::default(),
            body: Default::default(),
            state: Default::default(),
            len_r: Default::default(),
            cnt: Default::default(),
            crc: Default::default(),
            crc_lo: Default::default(),
            seq_r: Default::default(),
            idle: Default::default(),
            done_r: Default::default(),
            ok_r: Default::default(),
            x1: Default::default(),
            x2: Default::default(),
            crc_next: Default::default(),
            crc_rx: Default::default(),
            idle_limit: Constant::new(bits(idle_clocks as u64)),
        }
    }
}

impl Logic for FrameRx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, state, len_r, cnt, crc, crc_lo, seq_r, idle, done_r, ok_r);
        // CRC of the current byte on top of the running value.
        self.x1.next =
            ((self.crc.q.val() >> 8) ^ bit_cast::<16, 8>(self.rx_byte.val())) & bits::<16>(0xFF);
        self.x2.next = self.x1.val() ^ (self.x1.val() >> 4);
        self.crc_next.next =
            (self.crc.q.val() << 8) ^ (self.x2.val() << 12) ^ (self.x2.val() << 5) ^ self.x2.val();
        self.crc_rx.next =
            (bit_cast::<16, 8>(self.rx_byte.val()) << 8) | bit_cast::<16, 8>(self.crc_lo.q.val());
        self.body.write_clock.next = self.clock.val();
        self.body.read_clock.next = self.clock.val();
        self.body.read_address.next = self.rd_addr.val();
        self.body.write_address.next = self.cnt.q.val().get_bits::<BODY_ADDR_BITS>(0);
        self.body.write_data.next = self.rx_byte.val();
        self.body.write_enable.next = false;
        self.done_r.d.next = false;
        if self.valid.val() {
            self.idle.d.next = bits::<24>(0);
            self.crc.d.next = self.crc_next.val();
        } else {
            self.idle.d.next = self.idle.q.val() + bits::<24>(1);
        }
        match self.state.q.val().index() {
            0 => {
                // Hunt for the sync byte.
                self.crc.d.next = bits::<16>(0xFFFF);
                if self.valid.val() & (self.rx_byte.val() == bits::<8>(0xA5)) & !self.hold.val() {
                    self.state.d.next = bits::<3>(1);
                }
            }
            1 => {
                if self.valid.val() {
                    self.len_r.d.next = bit_cast::<16, 8>(self.rx_byte.val());
                    self.state.d.next = bits::<3>(2);
                }
            }
            2 => {
                if self.valid.val() {
                    self.len_r.d.next =
                        self.len_r.q.val() | (bit_cast::<16, 8>(self.rx_byte.val()) << 8);
                    self.cnt.d.next = bits::<16>(0);
                    self.state.d.next = bits::<3>(3);
                    // Lengths outside 2..=MAX_BODY: back to the hunt.
                    if (self.rx_byte.val() > bits::<8>(4))
                        | ((self.rx_byte.val() == bits::<8>(4))
                            & (self.len_r.q.val() != bits::<16>(0)))
                        | ((self.rx_byte.val() == bits::<8>(0))
                            & (self.len_r.q.val() < bits::<16>(2)))
                    {
                        self.state.d.next = bits::<3>(0);
                    }
                }
            }
            3 => {
                if self.valid.val() {
                    self.body.write_enable.next = true;
                    self.cnt.d.next = self.cnt.q.val() + bits::<16>(1);
                    if self.cnt.q.val() == bits::<16>(0) {
                        self.seq_r.d.next = self.rx_byte.val();
                    }
                    if self.cnt.q.val() + bits::<16>(1) == self.len_r.q.val() {
                        self.state.d.next = bits::<3>(4);
                    }
                }
            }
            4 => {
                if self.valid.val() {
                    self.crc.d.next = self.crc.q.val();
                    self.crc_lo.d.next = self.rx_byte.val();
                    self.state.d.next = bits::<3>(5);
                }
            }
            _ => {
                if self.valid.val() {
                    self.crc.d.next = self.crc.q.val();
                    self.done_r.d.next = true;
                    // Through a local: rust-hdl drops Rust's implicit grouping of `a | b == c`,
                    // and Verilog's `==` binds tighter than `|`.
                    self.ok_r.d.next = self.crc_rx.val() == self.crc.q.val();
                    self.state.d.next = bits::<3>(0);
                }
            }
        }
        // A frame whose bytes stop for the idle gap is dropped.
        if (self.state.q.val() != bits::<3>(0))
            & (self.idle.q.val() == self.idle_limit.val())
            & !self.valid.val()
        {
            self.state.d.next = bits::<3>(0);
        }
        self.done.next = self.done_r.q.val();
        self.ok.next = self.ok_r.q.val();
        self.len.next = self.len_r.q.val();
        self.seq.next = self.seq_r.q.val();
        self.rd_data.next = self.body.read_data.val();
        self.in_frame.next = self.state.q.val() != bits::<3>(0);
    }
}

/// Sender of reply frames: on `start`, sends `0x5A`, `len` (2 bytes), `len` body bytes read
/// from the byte port, and the CRC, through a UART transmitter's `start`/`busy` handshake.
#[derive(LogicBlock)]
pub struct FrameTx {
    pub clock: Signal<In, Clock>,
    /// Pulse (while `busy` is low) to send a frame whose body has `len` bytes (2..=1024).
    pub start: Signal<In, Bit>,
    pub len: Signal<In, Bits<16>>,
    pub busy: Signal<Out, Bit>,
    /// Body byte port: byte `addr` of the body is expected on `data` one cycle later.
    pub addr: Signal<Out, Bits<BODY_ADDR_BITS>>,
    pub data: Signal<In, Bits<8>>,
    /// To the UART transmitter.
    pub uart_data: Signal<Out, Bits<8>>,
    pub uart_start: Signal<Out, Bit>,
    pub uart_busy: Signal<In, Bit>,
    /// 0 idle, 1 fetch, 2 send, 3 settle (one cycle for the UART's busy to rise).
    phase: DFF<Bits<2>>,
    pos: DFF<Bits<16>>,
    len_r: DFF<Bits<16>>,
    crc: DFF<Bits<16>>,
    cur: Signal<Local, Bits<8>>,
    body_pos: Signal<Local, Bits<16>>,
    x1: Signal<Local, Bits<16>>,
    x2: Signal<Local, Bits<16>>,
    crc_next: Signal<Local, Bits<16>>,
}

impl FrameTx {
    pub fn new() -> Self {
        Self {
            clock: Default::default(),
            start: Default::default(),
            len: Default::default(),
            busy: Default::default(),
            addr: Default::default(),
            data: Default::default(),
            uart_data: Default::default(),
            uart_start: Default::default(),
            uart_busy: Default::default(),
            phase: Default::default(),
            pos: Default::default(),
            len_r: Default::default(),
            crc: Default::default(),
            cur: Default::default(),
            body_pos: Default::default(),
            x1: Default::default(),
            x2: Default::default(),
            crc_next: Default::default(),
        }
    }
}

impl Default for FrameTx {
    fn default() -> Self {
        Self::new()
    }
}

impl Logic for FrameTx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, phase, pos, len_r, crc);
        // Position in the frame: 0 sync, 1-2 length, 3.. body, then the CRC's two bytes.
        self.body_pos.next = self.pos.q.val() - bits::<16>(3);
        self.cur.next = self.data.val();
        if self.pos.q.val() == bits::<16>(0) {
            self.cur.next = bits::<8>(0x5A);
        }
        if self.pos.q.val() == bits::<16>(1) {
            self.cur.next = self.len_r.q.val().get_bits::<8>(0);
        }
        if self.pos.q.val() == bits::<16>(2) {
            self.cur.next = self.len_r.q.val().get_bits::<8>(8);
        }
        if self.pos.q.val() == self.len_r.q.val() + bits::<16>(3) {
            self.cur.next = self.crc.q.val().get_bits::<8>(0);
        }
        if self.pos.q.val() == self.len_r.q.val() + bits::<16>(4) {
            self.cur.next = self.crc.q.val().get_bits::<8>(8);
        }
        self.x1.next =
            ((self.crc.q.val() >> 8) ^ bit_cast::<16, 8>(self.cur.val())) & bits::<16>(0xFF);
        self.x2.next = self.x1.val() ^ (self.x1.val() >> 4);
        self.crc_next.next =
            (self.crc.q.val() << 8) ^ (self.x2.val() << 12) ^ (self.x2.val() << 5) ^ self.x2.val();
        self.addr.next = self.body_pos.val().get_bits::<BODY_ADDR_BITS>(0);
        self.uart_data.next = self.cur.val();
        self.uart_start.next = false;
        match self.phase.q.val().index() {
            0 => {
                if self.start.val() {
                    self.len_r.d.next = self.len.val();
                    self.pos.d.next = bits::<16>(0);
                    self.crc.d.next = bits::<16>(0xFFFF);
                    self.phase.d.next = bits::<2>(1);
                }
            }
            1 => {
                // The body byte for `pos` arrives on `data` next cycle.
                self.phase.d.next = bits::<2>(2);
            }
            2 => {
                if !self.uart_busy.val() {
                    self.uart_start.next = true;
                    // The CRC covers the length and the body.
                    if (self.pos.q.val() != bits::<16>(0))
                        & (self.pos.q.val() < self.len_r.q.val() + bits::<16>(3))
                    {
                        self.crc.d.next = self.crc_next.val();
                    }
                    self.pos.d.next = self.pos.q.val() + bits::<16>(1);
                    self.phase.d.next = bits::<2>(3);
                }
            }
            _ => {
                self.phase.d.next = bits::<2>(1);
                if self.pos.q.val() == self.len_r.q.val() + bits::<16>(5) {
                    self.phase.d.next = bits::<2>(0);
                }
            }
        }
        self.busy.next = self.phase.q.val() != bits::<2>(0);
    }
}
