//! The engine's main memory, chosen at construction by the board's memories ([`MainKind`]):
//! the UP5K's four SB_SPRAM256KA ([`super::spram_main`], 16,384 words) or, on the ECP5-25F,
//! a behavioural block RAM of the depth the core's allocation gives the main memory
//! (`unibit_core::engine::configure`: 12,288 words from 48 DP16KD at 8 × 8, the other 8
//! taken by the conv unit's tile buffers and the host link's), which `synth_ecp5` maps onto
//! exactly those 48 DP16KD.
//!
//! Port and timing are [`super::spram_main::SpramMain`]'s for both kinds: 64-bit words, a
//! 14-bit word address, byte-lane write enables, inputs sampled on the rising edge and a
//! read's word on `rdata` after it; a write cycle leaves `rdata` undefined (0 in the rust-hdl
//! model). Addresses at or past the depth are outside the memory: the host side refuses them
//! (INFO's main bytes) and the compiler never emits them; the model drops such writes and
//! reads 0.

use super::spram_main;
use rust_hdl::prelude::*;
use unibit_core::engine::{configure, EngineShape, Memories};

/// Which main memory the engine is built with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MainKind {
    /// iCE40 UP5K: the 4 × SB_SPRAM256KA gang (16,384 words).
    Spram,
    /// ECP5: a behavioural block RAM of `words` 64-bit words (inferred DP16KD).
    Bram { words: usize },
}

impl MainKind {
    /// The main memory of the whole-network engine on the board named `board` (the names of
    /// [`crate::board::BOARDS`]) at B = `bits`: SPRAM on the UP5K, block RAM on the ECP5.
    pub fn for_board(board: &str, bits: u8) -> crate::Result<Self> {
        match crate::board::board(board)?.family {
            crate::board::Family::Ecp5_25f => Self::ecp5_25f(bits),
            _ => Ok(MainKind::Spram),
        }
    }

    /// The ECP5-25F main memory of the 8 × 8 engine at B = `bits`: the depth the core
    /// allocates (the DP16KD left after the tile and link buffers).
    pub fn ecp5_25f(bits: u8) -> crate::Result<Self> {
        Ok(MainKind::Bram {
            words: core_main_words(bits, Memories::ecp5_25f())?,
        })
    }

    /// 64-bit words of the memory.
    pub fn words(self) -> usize {
        match self {
            MainKind::Spram => spram_main::DEPTH,
            MainKind::Bram { words } => words,
        }
    }

    pub fn bytes(self) -> u32 {
        (self.words() * 8) as u32
    }
}

/// Words of the main memory `configure` allocates for the 8 × 8 engine on `mem`.
pub fn core_main_words(bits: u8, mem: Memories) -> crate::Result<usize> {
    let invalid = |e: unibit_core::engine::Error| crate::error::Error::Invalid {
        field: "engine shape".into(),
        expected: "the 8×8 engine on the board's memories".into(),
        found: e.to_string(),
    };
    let b = unibit_core::arith::Bits::new(bits).map_err(|e| crate::error::Error::Invalid {
        field: "bits".into(),
        expected: "1..=8".into(),
        found: e.to_string(),
    })?;
    let shape = EngineShape::new(8, 8, b).map_err(invalid)?;
    let cfg = configure(&shape, &mem).map_err(invalid)?;
    if cfg.main.width_bits != 64 || cfg.main.depth > 1 << 14 {
        return Err(crate::error::Error::Invalid {
            field: "main memory allocation".into(),
            expected: "64-bit words, at most 16,384 (the engine's 14-bit word address)".into(),
            found: format!("{} × {} bits", cfg.main.depth, cfg.main.width_bits),
        });
    }
    Ok(cfg.main.depth)
}

#[derive(LogicBlock)]
pub struct MainMemory {
    pub clock: Signal<In, Clock>,
    pub addr: Signal<In, Bits<14>>,
    pub wdata: Signal<In, Bits<64>>,
    /// Write (else read) this cycle.
    pub we: Signal<In, Bit>,
    /// Byte-lane write enables.
    pub be: Signal<In, Bits<8>>,
    pub rdata: Signal<Out, Bits<64>>,
    _kind: MainKind,
    _mem: Vec<u64>,
}

impl MainMemory {
    pub fn new(kind: MainKind) -> Self {
        Self {
            clock: Default::default(),
            addr: Default::default(),
            wdata: Default::default(),
            we: Default::default(),
            be: Default::default(),
            rdata: Default::default(),
            _kind: kind,
            _mem: vec![],
        }
    }

    pub fn kind(&self) -> MainKind {
        self._kind
    }
}

impl Default for MainMemory {
    fn default() -> Self {
        Self::new(MainKind::Spram)
    }
}

impl Logic for MainMemory {
    fn update(&mut self) {
        if !self.clock.pos_edge() {
            return;
        }
        if self._mem.is_empty() {
            self._mem = vec![0; self._kind.words()];
        }
        let a = self.addr.val().index();
        if self.we.val() {
            let (w, be) = (self.wdata.val().to_u64(), self.be.val().to_u64());
            let mask = (0..8)
                .filter(|l| be >> l & 1 == 1)
                .fold(0u64, |m, l| m | 0xff << (8 * l));
            self.rdata.next = bits(0);
            if let Some(m) = self._mem.get_mut(a) {
                *m = (*m & !mask) | (w & mask);
            }
        } else {
            self.rdata.next = bits(self._mem.get(a).copied().unwrap_or(0));
        }
    }
    fn connect(&mut self) {
        self.rdata.connect();
    }
    fn hdl(&self) -> Verilog {
        match self._kind {
            MainKind::Spram => spram_main::spram_hdl(),
            MainKind::Bram { words } => Verilog::Custom(format!(
                "reg [63:0] mem [0:{last}];
integer l;
always @(posedge clock) begin
  if (we) begin
    for (l = 0; l < 8; l = l + 1) if (be[l]) mem[addr][8*l +: 8] <= wdata[8*l +: 8];
  end else rdata <= mem[addr];
end
",
                last = words - 1
            )),
        }
    }
}

/// The memory's Verilog (module `top`).
pub fn verilog(kind: MainKind) -> String {
    let mut m = MainMemory::new(kind);
    m.connect_all();
    generate_verilog(&m)
}
