//! The UART host link (rust-hdl): load a tile over the serial line, run it, read it back.
use rust_hdl::prelude::*;
use unibit_hw::configs::engine_params;
use unibit_hw::job::TileJob;
use unibit_hw::protocol::{load_commands, read_command, run_command};
use unibit_hw::rtl::host::HostLink;
use unibit_hw::rtl::sim::tick;
use unibit_hw::EngineModel;

const CPB: usize = 4;
type Link = HostLink<4, 4, 8, 36, 11, 16, 8, 8, 8, 6, 112>;

struct Board {
    uut: Box<Link>,
    rx_bits: std::collections::VecDeque<bool>,
    // receiver state for tx
    rx_bytes: Vec<u8>,
    tx_count: usize,
    tx_shift: u16,
    tx_phase: Option<usize>,
}

impl Board {
    fn send(&mut self, bytes: &[u8]) {
        for &b in bytes {
            let frame = [false]
                .into_iter()
                .chain((0..8).map(|i| (b >> i) & 1 == 1))
                .chain([true, true]); // stop bit plus one idle bit
            for bit in frame {
                for _ in 0..CPB {
                    self.rx_bits.push_back(bit);
                }
            }
        }
    }
    fn step(&mut self) {
        let bit = self.rx_bits.pop_front().unwrap_or(true);
        self.uut.rx.next = bit;
        tick(self.uut.as_mut(), |u| &mut u.clock);
        // Sample tx in the middle of each bit.
        let tx = self.uut.tx.val();
        match self.tx_phase {
            None => {
                if !tx {
                    self.tx_phase = Some(0);
                    self.tx_count = 0;
                    self.tx_shift = 0;
                }
            }
            Some(p) => {
                let p = p + 1;
                self.tx_phase = Some(p);
                if p % CPB == CPB / 2 {
                    let n = p / CPB; // 1..=8 data, 9 stop
                    if (1..=8).contains(&n) {
                        self.tx_shift |= (tx as u16) << (n - 1);
                    } else if n == 9 {
                        assert!(tx, "missing stop bit");
                        self.rx_bytes.push(self.tx_shift as u8);
                        self.tx_phase = None;
                    }
                }
            }
        }
    }
    fn run_until_idle(&mut self, extra: usize) {
        while !self.rx_bits.is_empty() {
            self.step();
        }
        for _ in 0..extra {
            self.step();
        }
    }
    fn take_words(&mut self) -> Vec<u32> {
        let w = self
            .rx_bytes
            .chunks(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        self.rx_bytes.clear();
        w
    }
}

#[test]
fn uart_host_link_runs_a_tile() {
    let mut uut = Link::new(3, CPB as u16);
    uut.connect_all();
    let mut b = Board {
        uut: Box::new(uut),
        rx_bits: Default::default(),
        rx_bytes: vec![],
        tx_count: 0,
        tx_shift: 0,
        tx_phase: None,
    };
    let p = engine_params(3, 4, 4).unwrap();
    let job = TileJob::random(&p, 5);
    let (want, want_cycles) = job.run_model(&mut EngineModel::new(p));
    b.send(&load_commands(&job, 4, 4));
    b.send(&run_command(&job));
    b.run_until_idle(2000);
    let cycles = b.take_words();
    assert_eq!(cycles, vec![want_cycles as u32]);
    let n = job.desc.rows * job.desc.vectors;
    for i in 0..n {
        b.send(&read_command(job.desc.o_base + i));
        b.run_until_idle(60 * CPB);
    }
    let got: Vec<i32> = b.take_words().into_iter().map(|w| w as i32).collect();
    assert_eq!(got, want);
}
