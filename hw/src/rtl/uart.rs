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
            last: Constant::new(bits(clocks_per_bit as u64 - 1)),
            half: Constant::new(bits(clocks_per_bit as u64 / 2)),
        }
    }
}

impl Logic for UartRx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, sync1, sync2, state, ctr, bitn, shreg, out, vld);
        self.sync1.d.next = self.rx.val();
        self.sync2.d.next = self.sync1.q.val();
        self.vld.d.next = false;
        self.ctr.d.next = self.ctr.q.val() + bits::<16>(1);
        match self.state.q.val().index() {
            0 => {
                self.ctr.d.next = bits::<16>(0);
                if !self.sync2.q.val() {
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
