//! What a board's engine is, as data both ends agree on: the engine shape and memories of a
//! named board, the identity of that configuration (the hash INFO reports), and the memory
//! ids of the protocol.
//!
//! Memory ids (the same on every unibit engine):
//!
//! * [`MEM_MAIN`] = 0: the engine's main memory, byte `8·w + b` = byte b of 64-bit dword w
//!   (docs/engine.md §3). The host writes `Program::image` from byte 0.
//! * [`MEM_REGS`] = 1: the loader registers, [`Registers`] (64 bytes): where the image loader
//!   puts the 784 input bytes and how (HWC or the first conv's patches), and where the logits
//!   are read back. The descriptors alone do not say this (an expanded stem runs as a 1×1
//!   conv), so the host writes it with the program.

use crate::error::{Error, Result};
use serde::Serialize;
use unibit_core::arith::{ActKind, Bits};
use unibit_core::engine::plan::{Layout, TensorPlace};
use unibit_core::engine::{configure, EngineShape, Memories, Program};
use unibit_core::graph::Shape;

pub const MEM_MAIN: u8 = 0;
pub const MEM_REGS: u8 = 1;
/// Bytes of the loader registers.
pub const REGS_BYTES: usize = 64;

/// The boards the driver knows, by `--board` name.
pub const BOARDS: &[&str] = &["icebreaker", "ulx3s-25f"];

/// One engine configuration: a shape on a board's memories, at a clock.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Target {
    pub board: String,
    pub shape: EngineShape,
    pub memories: Memories,
    pub clock_hz: u32,
}

impl Target {
    /// Board `name` built for B = `bits`, with its default R×C unless `rows`/`cols` are given.
    pub fn named(name: &str, bits: u8, rows: Option<usize>, cols: Option<usize>) -> Result<Self> {
        let memories = Memories::for_board(name)?;
        let bits = Bits::new(bits).map_err(|e| Error::Invalid {
            what: "engine bits".into(),
            expected: "1..=8".into(),
            found: e,
        })?;
        let (def, clock_hz) = match memories.board.as_str() {
            "icebreaker" => (EngineShape::icebreaker(bits), 24_000_000),
            _ => (EngineShape::ulx3s(bits), 100_000_000),
        };
        let shape = EngineShape::new(rows.unwrap_or(def.rows), cols.unwrap_or(def.cols), bits)?;
        let t = Target {
            board: memories.board.clone(),
            shape,
            memories,
            clock_hz,
        };
        t.main_bytes()?;
        Ok(t)
    }

    /// Bytes of the main memory this configuration allocates.
    pub fn main_bytes(&self) -> Result<u32> {
        Ok(configure(&self.shape, &self.memories)?.main.bytes() as u32)
    }

    /// Identity of the engine configuration: the first 8 bytes of the SHA-256 of the shape
    /// and the memory allocation (JSON). A bitstream reports it in INFO; the host compares it
    /// with the configuration it compiles for.
    pub fn config_hash(&self) -> Result<[u8; 8]> {
        let cfg = configure(&self.shape, &self.memories)?;
        let json = serde_json::to_vec(&(&self.shape, &cfg)).expect("plain data serialises");
        Ok(hash8(&[&json]))
    }
}

/// First 8 bytes of the SHA-256 of `parts` (length-prefixed, `unibit_core::hash::sha256_parts`).
pub fn hash8(parts: &[&[u8]]) -> [u8; 8] {
    let hex = unibit_core::hash::sha256_parts(parts);
    std::array::from_fn(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex"))
}

/// `id` as 16 hex digits.
pub fn hex8(id: &[u8; 8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// A compiled program's main-memory image as bytes (little-endian dwords).
pub fn image_bytes(program: &Program) -> Vec<u8> {
    program.image.iter().flat_map(|d| d.to_le_bytes()).collect()
}

/// The loader registers: the input buffer (as the image loader fills it) and the output
/// buffer (read back after `End`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Registers {
    pub input: TensorPlace,
    pub output: TensorPlace,
}

/// Bytes of one place in the registers.
const PLACE_BYTES: usize = 20;

impl Registers {
    pub fn of(program: &Program) -> Result<Self> {
        let r = Registers {
            input: *program.input(),
            output: *program.output(),
        };
        r.encode()?;
        Ok(r)
    }

    /// 64 bytes: input place at 0, output place at 20, zeros after.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut v = encode_place("input", &self.input)?;
        v.extend(encode_place("output", &self.output)?);
        v.resize(REGS_BYTES, 0);
        Ok(v)
    }

    pub fn decode(b: &[u8]) -> Option<Self> {
        Some(Registers {
            input: decode_place(b.get(..PLACE_BYTES)?)?,
            output: decode_place(b.get(PLACE_BYTES..2 * PLACE_BYTES)?)?,
        })
    }
}

/// base, h, w, cw, c, image h, image w (u16 each), kind, layout (0 HWC, 1 expanded), k,
/// stride, pad (u8 each), one spare byte.
fn encode_place(what: &str, p: &TensorPlace) -> Result<Vec<u8>> {
    let (layout, k, s, pad) = match p.layout {
        Layout::Hwc => (0u8, 0, 0, 0),
        Layout::Expanded { k, stride, pad } => (1, k, stride, pad),
        Layout::View { .. } => {
            return Err(Error::Invalid {
                what: format!("the program's {what} buffer"),
                expected: "an HWC or expanded-input buffer".into(),
                found: "a flatten view".into(),
            })
        }
    };
    let fields = [p.base, p.h, p.w, p.cw, p.shape.c, p.shape.h, p.shape.w];
    let mut v = vec![];
    for (i, f) in fields.into_iter().enumerate() {
        let f = u16::try_from(f).map_err(|_| Error::Invalid {
            what: format!("the program's {what} buffer field {i}"),
            expected: "≤ 65535".into(),
            found: f.to_string(),
        })?;
        v.extend(f.to_le_bytes());
    }
    let kind = match p.kind {
        ActKind::U8 => 0,
        ActKind::I8 => 1,
        ActKind::I32 => 2,
    };
    v.extend([kind, layout, k as u8, s as u8, pad as u8, 0]);
    Ok(v)
}

fn decode_place(b: &[u8]) -> Option<TensorPlace> {
    let f = |i: usize| u16::from_le_bytes([b[2 * i], b[2 * i + 1]]) as usize;
    let kind = match b[14] {
        0 => ActKind::U8,
        1 => ActKind::I8,
        2 => ActKind::I32,
        _ => return None,
    };
    let layout = match b[15] {
        0 => Layout::Hwc,
        1 if b[17] > 0 => Layout::Expanded {
            k: b[16] as usize,
            stride: b[17] as usize,
            pad: b[18] as usize,
        },
        _ => return None,
    };
    let p = TensorPlace {
        base: f(0),
        h: f(1),
        w: f(2),
        cw: f(3),
        shape: Shape {
            c: f(4),
            h: f(5),
            w: f(6),
        },
        kind,
        layout,
        slot: 0,
    };
    (p.words() > 0 && p.shape.c > 0).then_some(p)
}
