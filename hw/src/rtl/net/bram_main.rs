//! The ECP5-25F main memory (docs/engine.md §2): 6,144 words of 128 bits with byte-lane write
//! enables, written as a behavioural memory that `synth_ecp5` maps onto 48 DP16KD (the test
//! asserts the count). Addresses ≥ 6,144 are outside the memory (the compiler never emits them).
//!
//! Timing as the UP5K's SPRAM gang: inputs sampled on the rising edge, a read's word on `rdata`
//! after it; a write cycle leaves `rdata` unchanged here, undefined in general.

use rust_hdl::prelude::*;

/// Words of the memory.
pub const DEPTH: usize = 6_144;

#[derive(LogicBlock, Default)]
pub struct BramMain {
    pub clock: Signal<In, Clock>,
    pub addr: Signal<In, Bits<13>>,
    pub wdata: Signal<In, Bits<128>>,
    pub we: Signal<In, Bit>,
    pub be: Signal<In, Bits<16>>,
    pub rdata: Signal<Out, Bits<128>>,
    _mem: Vec<u128>,
}

fn to_u128(b: Bits<128>) -> u128 {
    (b.get_bits::<64>(0).to_u64() as u128) | (b.get_bits::<64>(64).to_u64() as u128) << 64
}

fn from_u128(v: u128) -> Bits<128> {
    let lo: Bits<128> = bit_cast::<128, 64>(bits::<64>(v as u64));
    let hi: Bits<128> = bit_cast::<128, 64>(bits::<64>((v >> 64) as u64));
    lo | (hi << 64)
}

impl Logic for BramMain {
    fn update(&mut self) {
        if !self.clock.pos_edge() {
            return;
        }
        if self._mem.is_empty() {
            self._mem = vec![0; DEPTH];
        }
        let a = self.addr.val().index() % DEPTH;
        if self.we.val() {
            let be = self.be.val().to_u64();
            let mask = (0..16)
                .filter(|l| be >> l & 1 == 1)
                .fold(0u128, |m, l| m | 0xff << (8 * l));
            let w = to_u128(self.wdata.val());
            self._mem[a] = (self._mem[a] & !mask) | (w & mask);
        } else {
            self.rdata.next = from_u128(self._mem[a]);
        }
    }
    fn connect(&mut self) {
        self.rdata.connect();
    }
    fn hdl(&self) -> Verilog {
        Verilog::Custom(format!(
            "reg [127:0] mem [0:{last}];
integer l;
always @(posedge clock) begin
  if (we) begin
    for (l = 0; l < 16; l = l + 1) if (be[l]) mem[addr][8*l +: 8] <= wdata[8*l +: 8];
  end else rdata <= mem[addr];
end
",
            last = DEPTH - 1
        ))
    }
}

/// The memory's Verilog (module `top`).
pub fn verilog() -> String {
    let mut m = BramMain::default();
    m.connect_all();
    generate_verilog(&m)
}
