//! Protocol v2 commands and replies (the bodies inside [`crate::frame`] frames).
//!
//! ```text
//! command body = SEQ OP ARGS…          reply body = SEQ STATUS DATA…
//! ```
//! `SEQ` is chosen by the host and echoed in the reply, so a late reply to an earlier attempt
//! is never taken for the current one. Every command is idempotent (writes name their address,
//! a run of the same image gives the same logits), so the host may simply send it again after
//! a corrupt reply or a time-out. Multi-byte fields are little-endian.
//!
//! | op | command | args | reply data |
//! |---|---|---|---|
//! | 0x01 | INFO | — | [`Info`] |
//! | 0x02 | WRITE | mem u8, addr u32, bytes 1..=1016 | — |
//! | 0x03 | READ | mem u8, addr u32, len u16 (1..=1016) | `len` bytes |
//! | 0x04 | RUN | the input image, 1..=1016 bytes | cycles u64, then i32 logits (≤ 253) |
//! | 0x05 | COMMIT | model id, 8 bytes (0 = none) | — |
//!
//! Addresses are byte addresses within memory `mem` (the memories and their sizes are listed by
//! INFO). Any WRITE clears the committed model id: a board reports a model as loaded only after
//! the host wrote all of it and committed its id, so a load cut short is never taken for a
//! model. RUN without a committed model answers `NO_MODEL`.

use serde::Serialize;

/// Protocol version this crate speaks.
pub const VERSION: u8 = 2;
/// Most data bytes in one WRITE, READ or RUN: MAX_BODY less room for the command header.
pub const MAX_DATA: usize = crate::frame::MAX_BODY - 8;

pub const OP_INFO: u8 = 0x01;
pub const OP_WRITE: u8 = 0x02;
pub const OP_READ: u8 = 0x03;
pub const OP_RUN: u8 = 0x04;
pub const OP_COMMIT: u8 = 0x05;

/// A reply's status byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Status {
    Ok,
    /// The command arrived with a wrong CRC (the host sends it again).
    Corrupt,
    UnknownOp,
    /// A field out of range (memory id, address, length); the data is not written.
    BadArgs,
    /// RUN before a model was committed.
    NoModel,
    /// The engine stopped with an error (e.g. a program the hardware cannot execute).
    EngineFault,
    /// A status byte this driver does not know.
    Unknown(u8),
}

impl Status {
    pub fn byte(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Corrupt => 1,
            Status::UnknownOp => 2,
            Status::BadArgs => 3,
            Status::NoModel => 4,
            Status::EngineFault => 5,
            Status::Unknown(b) => b,
        }
    }
    pub fn from_byte(b: u8) -> Status {
        match b {
            0 => Status::Ok,
            1 => Status::Corrupt,
            2 => Status::UnknownOp,
            3 => Status::BadArgs,
            4 => Status::NoModel,
            5 => Status::EngineFault,
            b => Status::Unknown(b),
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::Ok => write!(f, "ok"),
            Status::Corrupt => write!(f, "the command arrived corrupt"),
            Status::UnknownOp => write!(f, "unknown command (older bitstream?)"),
            Status::BadArgs => write!(f, "memory, address or length out of range"),
            Status::NoModel => write!(f, "no model loaded (run `unibit board load` first)"),
            Status::EngineFault => write!(f, "the engine stopped with a fault"),
            Status::Unknown(b) => write!(f, "unknown status {b:#04x}"),
        }
    }
}

/// One on-board memory a host can write and read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Memory {
    pub id: u8,
    /// Bytes the memory holds (addresses `0..bytes`).
    pub bytes: u32,
}

/// What a board says about itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Info {
    pub version: u8,
    /// Weight bitwidth B, rows R and lanes C the engine was built for.
    pub bits: u8,
    pub rows: u16,
    pub cols: u16,
    /// Engine clock (Hz) and link rate (baud) it was built with.
    pub clock_hz: u32,
    pub baud: u32,
    pub memories: Vec<Memory>,
    /// Identity of the engine configuration (first 8 bytes of its SHA-256): a bundle compiled
    /// for another configuration is refused before anything is written.
    pub config_hash: [u8; 8],
    /// Id of the committed model, `[0; 8]` when none.
    pub model_id: [u8; 8],
}

impl Info {
    pub fn model_loaded(&self) -> bool {
        self.model_id != [0; 8]
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut v = vec![self.version, self.bits];
        v.extend(self.rows.to_le_bytes());
        v.extend(self.cols.to_le_bytes());
        v.extend(self.clock_hz.to_le_bytes());
        v.extend(self.baud.to_le_bytes());
        v.push(self.memories.len() as u8);
        for m in &self.memories {
            v.push(m.id);
            v.extend(m.bytes.to_le_bytes());
        }
        v.extend(self.config_hash);
        v.extend(self.model_id);
        v
    }

    pub fn decode(d: &[u8]) -> Result<Info, String> {
        let mut r = Reader(d);
        let version = r.u8()?;
        let bits = r.u8()?;
        let rows = r.u16()?;
        let cols = r.u16()?;
        let clock_hz = r.u32()?;
        let baud = r.u32()?;
        let n = r.u8()?;
        let memories = (0..n)
            .map(|_| {
                Ok(Memory {
                    id: r.u8()?,
                    bytes: r.u32()?,
                })
            })
            .collect::<Result<_, String>>()?;
        let config_hash = r.array()?;
        let model_id = r.array()?;
        r.end()?;
        Ok(Info {
            version,
            bits,
            rows,
            cols,
            clock_hz,
            baud,
            memories,
            config_hash,
            model_id,
        })
    }
}

/// What one RUN returned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RunResult {
    /// Engine cycles from the image's first byte in the input buffer to the last logit.
    pub cycles: u64,
    pub logits: Vec<i32>,
}

impl RunResult {
    pub fn encode(&self) -> Vec<u8> {
        let mut v = self.cycles.to_le_bytes().to_vec();
        for l in &self.logits {
            v.extend(l.to_le_bytes());
        }
        v
    }

    pub fn decode(d: &[u8]) -> Result<RunResult, String> {
        if d.len() < 8 || !(d.len() - 8).is_multiple_of(4) {
            return Err(format!("{} data bytes, expected 8 + 4·logits", d.len()));
        }
        let cycles = u64::from_le_bytes(d[..8].try_into().expect("8 bytes"));
        let logits = d[8..]
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        Ok(RunResult { cycles, logits })
    }
}

/// Arguments of WRITE and READ: memory id and byte address.
pub fn mem_args(mem: u8, addr: u32) -> Vec<u8> {
    let mut v = vec![mem];
    v.extend(addr.to_le_bytes());
    v
}

/// A little-endian field reader that says what is missing.
pub struct Reader<'a>(pub &'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        if self.0.len() < n {
            return Err(format!("ends {} bytes early", n - self.0.len()));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    pub fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    pub fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2")))
    }
    pub fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        Ok(self.take(N)?.try_into().expect("N"))
    }
    pub fn rest(&mut self) -> &[u8] {
        std::mem::take(&mut self.0)
    }
    pub fn end(&self) -> Result<(), String> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(format!("{} bytes too many", self.0.len()))
        }
    }
}
