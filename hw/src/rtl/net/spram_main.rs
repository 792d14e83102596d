//! The UP5K main memory (docs/engine.md §2): four SB_SPRAM256KA ganged to one address, so one
//! 64-bit word of 16,384 per cycle. SPRAM i holds bits `[16i, 16i + 16)`; byte lane l is
//! written when `be[l]`, through SPRAM `l / 2`'s nibble masks `2·(l mod 2)` and `+1`.
//!
//! Timing is the SPRAM's: address, data and enables are sampled on the rising edge; a read's
//! word is on `rdata` after that edge. A write cycle leaves `rdata` undefined (the vendor model
//! drives x; the rust-hdl model drives 0), so a reader uses `rdata` only after a read cycle.
//!
//! rust-hdl simulates the behaviour below; its Verilog instantiates the primitives (black
//! boxes for synthesis, yosys's `ice40/cells_sim.v` in simulation).

use rust_hdl::prelude::*;

/// Words of the ganged memory.
pub const DEPTH: usize = 16_384;

#[derive(LogicBlock, Default)]
pub struct SpramMain {
    pub clock: Signal<In, Clock>,
    pub addr: Signal<In, Bits<14>>,
    pub wdata: Signal<In, Bits<64>>,
    /// Write (else read) this cycle.
    pub we: Signal<In, Bit>,
    /// Byte-lane write enables.
    pub be: Signal<In, Bits<8>>,
    pub rdata: Signal<Out, Bits<64>>,
    _mem: Vec<u64>,
}

impl SpramMain {
    fn write(&mut self, a: usize) {
        let (w, be) = (self.wdata.val().to_u64(), self.be.val().to_u64());
        let mask = (0..8)
            .filter(|l| be >> l & 1 == 1)
            .fold(0u64, |m, l| m | 0xff << (8 * l));
        self.rdata.next = bits(0);
        self._mem[a] = (self._mem[a] & !mask) | (w & mask);
    }
}

impl Logic for SpramMain {
    fn update(&mut self) {
        if !self.clock.pos_edge() {
            return;
        }
        if self._mem.is_empty() {
            self._mem = vec![0; DEPTH];
        }
        let a = self.addr.val().index();
        if self.we.val() {
            self.write(a);
        } else {
            self.rdata.next = bits(self._mem[a]);
        }
    }
    fn connect(&mut self) {
        self.rdata.connect();
    }
    fn hdl(&self) -> Verilog {
        spram_hdl()
    }
}

/// The gang's Verilog body: four SPRAM instances and the primitive's black-box declaration.
pub(crate) fn spram_hdl() -> Verilog {
    Verilog::Wrapper(Wrapper {
        code: (0..4).map(instance).collect(),
        cores: BLACKBOX.into(),
    })
}

/// SPRAM `i` of the gang: data bits `[16i, 16i + 16)`, byte enables `2i` and `2i + 1`.
fn instance(i: usize) -> String {
    let (lo, hi, b0, b1) = (16 * i, 16 * i + 15, 2 * i, 2 * i + 1);
    format!(
        "SB_SPRAM256KA spram{i}(.ADDRESS(addr), .DATAIN(wdata[{hi}:{lo}]), \
         .MASKWREN({{be[{b1}], be[{b1}], be[{b0}], be[{b0}]}}), .WREN(we), .CHIPSELECT(1'b1), \
         .CLOCK(clock), .STANDBY(1'b0), .SLEEP(1'b0), .POWEROFF(1'b1), \
         .DATAOUT(rdata[{hi}:{lo}]));\n"
    )
}

const BLACKBOX: &str = "(* blackbox *)
module SB_SPRAM256KA(ADDRESS, DATAIN, MASKWREN, WREN, CHIPSELECT, CLOCK, STANDBY, SLEEP, POWEROFF, DATAOUT);
  input [13:0] ADDRESS;
  input [15:0] DATAIN;
  input [3:0] MASKWREN;
  input WREN;
  input CHIPSELECT;
  input CLOCK;
  input STANDBY;
  input SLEEP;
  input POWEROFF;
  /* verilator lint_off UNDRIVEN */
  output [15:0] DATAOUT;
  /* verilator lint_on UNDRIVEN */
endmodule
";

/// The memory's Verilog (module `top`), with the SPRAM black-box declaration.
pub fn verilog() -> String {
    let mut m = SpramMain::default();
    m.connect_all();
    generate_verilog(&m)
}
