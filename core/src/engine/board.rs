//! The engine's static shape (what a bitstream is built for) and the board's memories as data,
//! with the fixed allocation of those memories to the engine's RAMs: the main memory
//! (program, weights, parameters, activations), the weight tile buffer, the tile parameter
//! buffer and the host link's buffers. The allocation depends only on the shape and the board, never on a model: a
//! bitstream runs every model that fits it.

use super::error::{Error, Result};
use crate::arith::Bits;
use serde::{Deserialize, Serialize};

/// What a bitstream is built for: an R×C bit-serial array at one bitwidth B.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineShape {
    /// Array rows R (output channels computed in parallel). R = C.
    pub rows: usize,
    /// Lanes C (reduction elements per cycle); a power of two, ≥ 8.
    pub cols: usize,
    /// The one weight bitwidth the array is built for.
    pub bits: Bits,
    /// Requantizer lanes L: each does one requantization (two DSP products) per cycle.
    pub requant_lanes: usize,
    /// Depth of the weight tile buffer in plane words (R·C bits each).
    pub wtb_words: usize,
}

/// 64-bit items (descriptor words, parameter words) per descriptor record.
pub const DESC_DWORDS: usize = 4;

impl EngineShape {
    /// An R×C engine with the default requantizer lanes (C/4) and a 512-word tile buffer.
    pub fn new(rows: usize, cols: usize, bits: Bits) -> Result<Self> {
        let s = EngineShape {
            rows,
            cols,
            bits,
            requant_lanes: (cols / 4).max(1),
            wtb_words: 512,
        };
        s.validate()?;
        Ok(s)
    }
    /// The iCEBreaker (UP5K) build: 8×8, two requantizer lanes (4 of the 8 SB_MAC16).
    pub fn icebreaker(bits: Bits) -> Self {
        EngineShape::new(8, 8, bits).expect("8×8 is a valid shape")
    }
    /// The ULX3S (ECP5-25F) build: 8×8, two requantizer lanes, the array `hw synth --board
    /// ulx3s-25f` builds the whole-network engine with (a 16×16 is `new(16, 16, b)`, a shape
    /// the compiler and the model run but no RTL builds yet).
    pub fn ulx3s(bits: Bits) -> Self {
        EngineShape::new(8, 8, bits).expect("8×8 is a valid shape")
    }

    pub fn validate(&self) -> Result<()> {
        if !(self.cols.is_power_of_two() && (8..=64).contains(&self.cols)) {
            return Err(Error::shape("cols", "a power of two in 8..=64", self.cols));
        }
        if self.rows != self.cols {
            return Err(Error::shape(
                "rows",
                format!("R = C = {} (one output word per row tile)", self.cols),
                self.rows,
            ));
        }
        if self.requant_lanes == 0 || self.requant_lanes > self.rows {
            return Err(Error::shape(
                "requant_lanes",
                format!("1..={}", self.rows),
                self.requant_lanes,
            ));
        }
        if self.wtb_words == 0 || self.wtb_words > 1 << 16 {
            return Err(Error::shape("wtb_words", "1..=65536", self.wtb_words));
        }
        Ok(())
    }

    /// Bits of a main-memory word: one activation chunk, C lanes of 8 bits.
    pub fn word_bits(&self) -> usize {
        self.cols * 8
    }
    /// 64-bit dwords per main word.
    pub fn dwords(&self) -> usize {
        self.cols / 8
    }
    /// 64-bit dwords per weight plane word (R·C bits).
    pub fn plane_dwords(&self) -> usize {
        self.rows * self.cols / 64
    }
    /// Main words per weight plane word.
    pub fn plane_words(&self) -> usize {
        self.rows / 8
    }
    /// Main words holding a row tile's R parameter words (64 bits each).
    pub fn param_words(&self) -> usize {
        self.rows.div_ceil(self.dwords())
    }
    /// Main words of one descriptor record (256 bits).
    pub fn desc_words(&self) -> usize {
        DESC_DWORDS.div_ceil(self.dwords())
    }
    /// Cycles between vectors that the requantizer needs for R rows.
    pub fn requant_interval(&self) -> u64 {
        self.rows.div_ceil(self.requant_lanes) as u64
    }
    /// Cycles the add / average-pool unit needs for one word of C elements.
    pub fn element_interval(&self) -> u64 {
        self.cols.div_ceil(self.requant_lanes) as u64
    }
    /// Cycles of a conv tile's pipeline fill and drain: controller 1, memory read 1, operand
    /// register 1, adder tree, accumulate 1, hand-off 1, drain select 1, requantizer 6.
    pub fn conv_drain(&self) -> u64 {
        11 + tree_latency(self.cols)
    }
    /// Peak MACs per cycle, R·C/B.
    pub fn peak(&self) -> f64 {
        (self.rows * self.cols) as f64 / self.bits.get() as f64
    }
}

/// Cycles of the add / average pipeline after the last slot: the read word's register 1, then
/// the conv unit's shared 6-stage requantizer lanes (docs/engine.md decision 8): operand step 4
/// (two byte lanes per cycle), lanes 6, write 1, done 1.
pub const ELEMENT_DRAIN: u64 = 13;
/// Cycles of the max-pool pipeline (read 1, read register 1, compare 1, write 1).
pub const MAXPOOL_DRAIN: u64 = 4;

/// Registered levels of a balanced C-lane adder tree (leaves, every other level, the root);
/// the same rule as the tile engine's tree.
pub fn tree_latency(cols: usize) -> u64 {
    let lg = cols.trailing_zeros() as usize;
    (0..=lg)
        .filter(|&d| d == lg || d == 0 || (lg - d).is_multiple_of(2))
        .count() as u64
}

/// A kind of RAM block on a chip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockKind {
    /// Single-port large RAM (iCE40 SB_SPRAM256KA), not initialisable from the bitstream.
    Spram,
    /// Dual-port block RAM (iCE40 SB_RAM40_4K, ECP5 DP16KD).
    BlockRam,
}

/// One type of memory block on a chip and how many there are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockType {
    pub name: String,
    pub kind: BlockKind,
    pub count: usize,
    /// Configurations as (depth, data width in bits).
    pub modes: Vec<(usize, usize)>,
    pub initialisable: bool,
}

impl BlockType {
    /// Data bits of one block (its largest configuration).
    pub fn bits(&self) -> usize {
        self.modes.iter().map(|(d, w)| d * w).max().unwrap_or(0)
    }
}

/// A board's memories as data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Memories {
    pub board: String,
    pub blocks: Vec<BlockType>,
}

impl Memories {
    /// iCE40 UP5K (iCEBreaker): 4 × SPRAM 16 bits × 16K, 30 × EBR 4 kbit.
    pub fn up5k() -> Self {
        Memories {
            board: "icebreaker".into(),
            blocks: vec![
                BlockType {
                    name: "SPRAM".into(),
                    kind: BlockKind::Spram,
                    count: 4,
                    modes: vec![(16384, 16)],
                    initialisable: false,
                },
                BlockType {
                    name: "EBR".into(),
                    kind: BlockKind::BlockRam,
                    count: 30,
                    modes: vec![(256, 16), (512, 8), (1024, 4), (2048, 2)],
                    initialisable: true,
                },
            ],
        }
    }
    /// ECP5 LFE5U-25F (ULX3S): 56 × DP16KD 18 kbit (data used as 16 kbit: 512 × 32 of 36).
    pub fn ecp5_25f() -> Self {
        Memories {
            board: "ulx3s-25f".into(),
            blocks: vec![BlockType {
                name: "DP16KD".into(),
                kind: BlockKind::BlockRam,
                count: 56,
                modes: vec![(512, 32), (1024, 16), (2048, 8), (4096, 4)],
                initialisable: true,
            }],
        }
    }
    /// The memories of a board by its `--board` name.
    pub fn for_board(name: &str) -> Result<Self> {
        match name {
            "icebreaker" | "up5k" => Ok(Memories::up5k()),
            "ulx3s-25f" | "ulx3s" | "ecp5-25f" => Ok(Memories::ecp5_25f()),
            _ => Err(Error::shape("board", "icebreaker or ulx3s-25f", name)),
        }
    }
    /// The clock the board's bitstream is built for, in Hz (iCEBreaker: 24 MHz from the
    /// 12 MHz oscillator by the PLL; ULX3S: 100 MHz from 25 MHz): what images/s predictions use.
    pub fn clock_hz(&self) -> u32 {
        match self.board.as_str() {
            "icebreaker" => 24_000_000,
            _ => 100_000_000,
        }
    }
    fn of_kind(&self, kind: BlockKind) -> Option<&BlockType> {
        self.blocks.iter().find(|b| b.kind == kind)
    }
}

/// One of the engine's RAMs built from ganged blocks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    pub name: String,
    /// Block type name (SPRAM, EBR, DP16KD).
    pub block: String,
    pub blocks: usize,
    /// Block configuration used (depth, width).
    pub mode: (usize, usize),
    pub width_bits: usize,
    pub depth: usize,
}

impl Allocation {
    pub fn bytes(&self) -> u64 {
        (self.width_bits * self.depth / 8) as u64
    }
}

/// The fixed allocation of a board's memories for an engine shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryConfig {
    /// Program, weights and parameters, image and activation buffers; C·8-bit words.
    pub main: Allocation,
    /// The current row tile's weight plane words (R·C bits), rewritten per tile.
    pub wtb: Allocation,
    /// The current row tile's R parameter words (64 bits), one block-RAM bank per requantizer
    /// lane (lane l reads rows l, l + L, …), as the RTL's conv unit builds them.
    pub pbuf: Allocation,
    /// The host link's two byte buffers, the received frame body and the reply
    /// ([`LINK_BUFFER_BYTES`] each): block RAM in the RTL, so they count against the chip.
    pub link: Allocation,
    /// Blocks of each type on the chip and how many the engine uses.
    pub totals: Vec<(String, usize, usize)>,
}

/// Smallest gang of `t` blocks giving `width` × `depth` (fewest blocks over the modes).
fn gang(t: &BlockType, name: &str, width: usize, depth: usize) -> Allocation {
    let (blocks, mode) = t
        .modes
        .iter()
        .map(|&(d, w)| (width.div_ceil(w) * depth.div_ceil(d), (d, w)))
        .min()
        .expect("a block type has modes");
    Allocation {
        name: name.into(),
        block: t.name.clone(),
        blocks,
        mode,
        width_bits: width,
        depth,
    }
}

/// Largest memory of `width`-bit words from at most `avail` blocks of `t`.
fn largest(t: &BlockType, name: &str, width: usize, avail: usize) -> Option<Allocation> {
    t.modes
        .iter()
        .filter_map(|&(d, w)| {
            let g = width.div_ceil(w);
            let n = avail / g;
            (n > 0).then(|| Allocation {
                name: name.into(),
                block: t.name.clone(),
                blocks: n * g,
                mode: (d, w),
                width_bits: width,
                depth: (n * d).min(1 << 16),
            })
        })
        .max_by_key(|a| (a.depth, std::cmp::Reverse(a.blocks)))
}

/// Bytes of each of the host link's two buffers (the RTL's frame body and reply buffer).
pub const LINK_BUFFER_BYTES: usize = 1024;

/// `t` restricted to its byte-wide modes, when it has one. A block-RAM main memory is written
/// per byte lane, and yosys maps a byte-enabled memory one block per byte lane (ECP5: 2048 × 9
/// DP16KD); a depth counted in those blocks takes exactly that many in any geometry.
fn byte_lanes(t: &BlockType) -> BlockType {
    let modes: Vec<_> = t.modes.iter().copied().filter(|&(_, w)| w == 8).collect();
    BlockType {
        modes: if modes.is_empty() {
            t.modes.clone()
        } else {
            modes
        },
        ..t.clone()
    }
}

/// Allocate the board's memories to the engine's RAMs.
pub fn configure(shape: &EngineShape, mem: &Memories) -> Result<MemoryConfig> {
    shape.validate()?;
    let bram = mem
        .of_kind(BlockKind::BlockRam)
        .ok_or_else(|| Error::shape("memories", "a block RAM type (EBR, DP16KD)", &mem.board))?;
    let wtb = gang(
        bram,
        "weight tile buffer",
        shape.rows * shape.cols,
        shape.wtb_words,
    );
    let spram = mem.of_kind(BlockKind::Spram);
    let bank = gang(
        bram,
        "tile parameter buffer",
        64,
        shape.rows.div_ceil(shape.requant_lanes),
    );
    let pbuf = Allocation {
        blocks: bank.blocks * shape.requant_lanes,
        depth: shape.rows,
        ..bank
    };
    let buffer = gang(bram, "host link buffers", 8, LINK_BUFFER_BYTES);
    let link = Allocation {
        blocks: 2 * buffer.blocks,
        depth: 2 * LINK_BUFFER_BYTES,
        ..buffer
    };
    let used = wtb.blocks + pbuf.blocks + link.blocks;
    if used > bram.count {
        return Err(Error::DoesNotFit {
            memory: format!("{} (tile and link buffers)", bram.name),
            needed: used as u64 * bram.bits() as u64 / 8,
            available: bram.count as u64 * bram.bits() as u64 / 8,
            hint: String::new(),
        });
    }
    let word = shape.word_bits();
    let main = match spram {
        Some(sp) => largest(sp, "main", word, sp.count).ok_or_else(|| {
            Error::shape(
                "cols",
                format!(
                    "C·8 ≤ {} bits (the {} {} ganged)",
                    sp.count * sp.modes[0].1,
                    sp.count,
                    sp.name
                ),
                shape.cols,
            )
        })?,
        None => largest(&byte_lanes(bram), "main", word, bram.count - used)
            .ok_or_else(|| Error::shape("memories", "block RAMs left for the main memory", 0))?,
    };
    let mut totals = vec![];
    for t in &mem.blocks {
        let n: usize = [&main, &wtb, &pbuf, &link]
            .iter()
            .filter(|a| a.block == t.name)
            .map(|a| a.blocks)
            .sum();
        totals.push((t.name.clone(), n, t.count));
    }
    Ok(MemoryConfig {
        main,
        wtb,
        pbuf,
        link,
        totals,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn board_allocations() {
        let b2 = Bits::new(2).unwrap();
        let up = configure(&EngineShape::icebreaker(b2), &Memories::up5k()).unwrap();
        assert_eq!(
            (up.main.depth, up.main.width_bits, up.main.blocks),
            (16384, 64, 4)
        );
        assert_eq!((up.wtb.blocks, up.pbuf.blocks, up.link.blocks), (8, 8, 4));
        // The 8 × 8 net engine's RTL on the ECP5: 2 + 4 + 2 DP16KD besides the main memory,
        // which takes the other 48 one per byte lane (6 × 2048 words).
        let ecp8 = configure(&EngineShape::ulx3s(b2), &Memories::ecp5_25f()).unwrap();
        assert_eq!(
            (ecp8.wtb.blocks, ecp8.pbuf.blocks, ecp8.link.blocks),
            (2, 4, 2)
        );
        assert_eq!(
            (ecp8.main.blocks, ecp8.main.depth, ecp8.main.mode),
            (48, 12_288, (2048, 8))
        );
        assert_eq!(ecp8.totals, vec![("DP16KD".to_string(), 56, 56)]);
        // 16 × 16: 128-bit words, 16 blocks per 2048 words; 38 blocks left hold two groups.
        let s16 = EngineShape::new(16, 16, b2).unwrap();
        let ecp = configure(&s16, &Memories::ecp5_25f()).unwrap();
        assert_eq!(
            (ecp.wtb.blocks, ecp.pbuf.blocks, ecp.link.blocks),
            (8, 8, 2)
        );
        assert_eq!(ecp.main.blocks, 32);
        assert_eq!(ecp.main.bytes(), 64 * 1024);
        assert!(configure(&s16, &Memories::up5k()).is_err());
        assert_eq!(tree_latency(8), 3);
        assert_eq!(tree_latency(16), 3);
    }
}
