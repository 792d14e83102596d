//! 8N1 UART receiver and transmitter (`clocks_per_bit` clocks per bit, set at construction).

use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct UartRx {
    pub clock: Signal<In, Clock>,
    pub rx: Signal<In, Bit>,
    /// The received byte; valid for the one cycle `valid` is high.
    pub data: Signal<Out, Bits<8>>,
    pub valid: Signal<Out, Bit>,
    sync1: DFF<Bit>,
    sync2: DFF<Bit>,
    state: DFF<Bits<2>>,
    ctr: DFF<Bits<16>>,
    bitn: DFF<Bits<4>>,
    shreg: DFF<Bits<8>>,
    out: DFF<Bits<8>>,
    vld: DFF<Bit>,
    /// The line has been seen idle (high) since the last start bit: registers power up low,
    /// and a line that is low at configuration or after a frame is not a start bit.
    armed: DFF<Bit>,
    last: Constant<Bits<16>>,
    half: Constant<Bits<16>>,
}

impl UartRx {
    pub fn new(clocks_per_bit: u16) -> Self {
        assert!(clocks_per_bit >= 4, "clocks_per_bit must be >= 4");
        Self {
            clock: Default::default(),
            rx: Default::default(),
            data: Default::default(),
            valid: Default::default(),
            sync1: Default::default(),
            sync2: Default::default(),
            state: Default::default(),
            ctr: Default::default(),
            bitn: Default::default(),
            shreg: Default::default(),
            out: Default::default(),
            vld: Default::default(),
            armed: Default::default(),
            last: Constant::new(bits(clocks_per_bit as u64 - 1)),
            half: Constant::new(bits(clocks_per_bit as u64 / 2 - 1)),
        }
    }
}

impl Logic for UartRx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, sync1, sync2, state, ctr, bitn, shreg, out, vld, armed);
        self.sync1.d.next = self.rx.val();
        self.sync2.d.next = self.sync1.q.val();
        self.vld.d.next = false;
        self.ctr.d.next = self.ctr.q.val() + bits::<16>(1);
        match self.state.q.val().index() {
            0 => {
                self.ctr.d.next = bits::<16>(0);
                if self.sync2.q.val() {
                    self.armed.d.next = true;
                }
                if !self.sync2.q.val() && self.armed.q.val() {
                    self.armed.d.next = false;
                    self.state.d.next = bits::<2>(1);
                }
            }
            1 => {
                if self.ctr.q.val() == self.half.val() {
                    self.ctr.d.next = bits::<16>(0);
                    self.bitn.d.next = bits::<4>(0);
                    if self.sync2.q.val() {
                        self.state.d.next = bits::<2>(0);
                    } else {
                        self.state.d.next = bits::<2>(2);
                    }
                }
            }
            2 => {
                if self.ctr.q.val() == self.last.val() {
                    self.ctr.d.next = bits::<16>(0);
                    self.shreg.d.next = self.shreg.q.val() >> 1;
                    if self.sync2.q.val() {
                        self.shreg.d.next = (self.shreg.q.val() >> 1) | bits::<8>(0x80);
                    }
                    self.bitn.d.next = self.bitn.q.val() + bits::<4>(1);
                    if self.bitn.q.val() == bits::<4>(7) {
                        self.state.d.next = bits::<2>(3);
                    }
                }
            }
            _ => {
                if self.ctr.q.val() == self.last.val() {
                    self.state.d.next = bits::<2>(0);
                    if self.sync2.q.val() {
                        self.out.d.next = self.shreg.q.val();
                        self.vld.d.next = true;
                    }
                }
            }
        }
        self.data.next = self.out.q.val();
        self.valid.next = self.vld.q.val();
    }
}

#[derive(LogicBlock)]
pub struct UartTx {
    pub clock: Signal<In, Clock>,
    pub data: Signal<In, Bits<8>>,
    /// Pulse for one cycle while `busy` is low to send `data`.
    pub start: Signal<In, Bit>,
    pub busy: Signal<Out, Bit>,
    pub tx: Signal<Out, Bit>,
    active: DFF<Bit>,
    ctr: DFF<Bits<16>>,
    bitn: DFF<Bits<4>>,
    shreg: DFF<Bits<10>>,
    txr: DFF<Bit>,
    last: Constant<Bits<16>>,
}

impl UartTx {
    pub fn new(clocks_per_bit: u16) -> Self {
        assert!(clocks_per_bit >= 4, "clocks_per_bit must be >= 4");
        Self {
            clock: Default::default(),
            data: Default::default(),
            start: Default::default(),
            busy: Default::default(),
            tx: Default::default(),
            active: Default::default(),
            ctr: Default::default(),
            bitn: Default::default(),
            shreg: Default::default(),
            txr: Default::default(),
            last: Constant::new(bits(clocks_per_bit as u64 - 1)),
        }
    }
}

impl Logic for UartTx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, active, ctr, bitn, shreg, txr);
        // The line idles high; `txr` starts at 0 after configuration, so send the inverse.
        self.txr.d.next = !self.shreg.q.val().get_bit(0);
        if !self.active.q.val() {
            self.txr.d.next = false;
            self.ctr.d.next = bits::<16>(0);
            self.bitn.d.next = bits::<4>(0);
            if self.start.val() {
                // stop bit, data (LSB first), start bit
                self.shreg.d.next = (bit_cast::<10, 8>(self.data.val()) << 1) | bits::<10>(0x200);
                self.active.d.next = true;
            }
        } else {
            self.ctr.d.next = self.ctr.q.val() + bits::<16>(1);
            if self.ctr.q.val() == self.last.val() {
                self.ctr.d.next = bits::<16>(0);
                self.shreg.d.next = (self.shreg.q.val() >> 1) | bits::<10>(0x200);
                self.bitn.d.next = self.bitn.q.val() + bits::<4>(1);
                if self.bitn.q.val() == bits::<4>(9) {
                    self.active.d.next = false;
                }
            }
        }
        self.busy.next = self.active.q.val();
        self.tx.next = !self.txr.q.val();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtl::sim::tick;

    #[derive(LogicBlock)]
    struct Loop {
        clock: Signal<In, Clock>,
        data: Signal<In, Bits<8>>,
        start: Signal<In, Bit>,
        tx: UartTx,
        rx: UartRx,
    }

    impl Logic for Loop {
        #[hdl_gen]
        fn update(&mut self) {
            self.tx.clock.next = self.clock.val();
            self.rx.clock.next = self.clock.val();
            self.tx.data.next = self.data.val();
            self.tx.start.next = self.start.val();
            self.rx.rx.next = self.tx.tx.val();
        }
    }

    /// The line level at clock `t` for `bytes` sent from clock `t0` by a transmitter whose bit
    /// lasts `period` receiver clocks (8N1, one idle bit between bytes).
    fn line_at(bytes: &[u8], t0: f64, period: f64, t: f64) -> bool {
        let bit = ((t - t0) / period).floor();
        if bit < 0.0 {
            return true;
        }
        let (byte, k) = ((bit as usize) / 11, (bit as usize) % 11);
        match (bytes.get(byte), k) {
            (None, _) => true,
            (Some(_), 0) => false,
            (Some(b), 1..=8) => (b >> (k - 1)) & 1 == 1,
            _ => true,
        }
    }

    /// Bytes a receiver at `clocks_per_bit` decodes from a sender whose bit lasts `period`
    /// receiver clocks, starting at a fractional phase.
    fn receive(clocks_per_bit: u16, period: f64, phase: f64, sent: &[u8]) -> Vec<u8> {
        let mut rx = UartRx::new(clocks_per_bit);
        rx.connect_all();
        let mut got = vec![];
        let cycles = ((sent.len() + 2) as f64 * 11.0 * period) as usize;
        for t in 0..cycles {
            rx.rx.next = line_at(sent, 3.0 + phase, period, t as f64);
            tick(&mut rx, |u| &mut u.clock);
            if rx.valid.val() {
                got.push(rx.data.val().to_u64() as u8);
            }
        }
        got
    }

    #[test]
    fn eight_clocks_per_bit_tolerates_two_percent_clock_mismatch() {
        // 3 Mbaud at 24 MHz is 8 clocks per bit. A sender 2% fast or slow, at any phase.
        let sent: Vec<u8> = vec![0x00, 0xFF, 0x55, 0xAA, 0x01, 0x80, 0xA5, 0x5A, 0x7E, 0x81];
        for period in [8.0 * 0.98, 8.0, 8.0 * 1.02] {
            for phase in [0.0, 0.25, 0.5, 0.75] {
                assert_eq!(
                    receive(8, period, phase, &sent),
                    sent,
                    "sender bit = {period} clocks, phase {phase}"
                );
            }
        }
    }

    #[test]
    fn loopback_bytes() {
        let mut uut = Loop {
            clock: Default::default(),
            data: Default::default(),
            start: Default::default(),
            tx: UartTx::new(6),
            rx: UartRx::new(6),
        };
        uut.connect_all();
        let mut got = vec![];
        let sent = [0x00u8, 0xff, 0xa5, 0x5a, 0x01, 0x80];
        let mut i = 0;
        for _ in 0..2000 {
            uut.start.next = false;
            if i < sent.len() && !uut.tx.busy.val() {
                uut.data.next = bits(sent[i] as u64);
                uut.start.next = true;
                i += 1;
            }
            tick(&mut uut, |u| &mut u.clock);
            if uut.rx.valid.val() {
                got.push(uut.rx.data.val().to_u64() as u8);
            }
        }
        assert_eq!(got, sent);
    }
}
