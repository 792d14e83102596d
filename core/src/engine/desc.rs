//! The layer descriptor: one fixed 256-bit record per layer, sixteen 16-bit fields; and the
//! 64-bit parameter words the requantizers read.
//!
//! Field `i` occupies bits `[16·(i mod 4), 16·(i mod 4) + 16)` of descriptor dword `i / 4`;
//! the four dwords of record `n` are stored from main word `n · desc_words` on, low dword
//! first (see [`super::EngineShape::desc_words`]).

use super::error::{Error, Result};
use crate::arith::ActKind;
use serde::{Deserialize, Serialize};

/// What a descriptor makes the sequencer do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpCode {
    /// Stop: the cycle counter freezes, `done` rises.
    End = 0,
    /// Convolution or linear layer on the array (linear: k = 1 over a 1×1 image).
    Conv = 1,
    /// Residual add, requantized with (ma, mb, shift).
    Add = 2,
    MaxPool = 3,
    /// Average pooling, windowed or global (window = the whole input).
    AvgPool = 4,
    /// Flatten: a view of its input buffer (the next linear layer's weights are permuted).
    View = 5,
}

impl OpCode {
    pub fn from_bits(v: u16) -> Option<Self> {
        Some(match v {
            0 => OpCode::End,
            1 => OpCode::Conv,
            2 => OpCode::Add,
            3 => OpCode::MaxPool,
            4 => OpCode::AvgPool,
            5 => OpCode::View,
            _ => return None,
        })
    }
}

/// Output kind codes: 0 U8, 1 I8, 2 I32 (the raw `acc + bias` of the last layer).
pub fn kind_code(k: ActKind) -> u16 {
    match k {
        ActKind::U8 => 0,
        ActKind::I8 => 1,
        ActKind::I32 => 2,
    }
}

pub fn kind_from_code(c: u16) -> ActKind {
    match c & 3 {
        0 => ActKind::U8,
        1 => ActKind::I8,
        _ => ActKind::I32,
    }
}

/// One layer of the program. All addresses are main-memory word addresses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    /// f0 `[3:0]`: [`OpCode`] as its number.
    pub op: u16,
    /// f0 `[5:4]`: output kind code ([`kind_code`]).
    pub out_kind: u16,
    /// f0 `[6]`: input A holds signed (i8) lanes; `[7]`: input B does.
    pub a_signed: bool,
    pub b_signed: bool,
    /// f0 `[8]`: grouped conv: every chunk carries a mask plane after its B bit-planes.
    pub masked: bool,
    /// f0 `[9]`: the tile's planes exceed the tile buffer: they are read from main memory per
    /// vector (streaming) instead of loaded once per tile.
    pub stream: bool,
    /// f0 `[10]`: depthwise conv: row r's only input is lane r, so its Σx correction is
    /// `Σ x[r]` (no mask plane).
    pub diagonal: bool,
    /// f1 `[3:0]` kernel k, `[7:4]` stride, `[11:8]` padding (conv); stride also for pools.
    pub kernel: u16,
    pub stride: u16,
    pub pad: u16,
    /// f2–f4: input height, width, words per pixel.
    pub in_h: u16,
    pub in_w: u16,
    pub in_cw: u16,
    /// f5–f7: output height, width, words per pixel.
    pub out_h: u16,
    pub out_w: u16,
    pub out_cw: u16,
    /// f8: output channels (rows ≥ this in the last tile are written as 0).
    pub out_channels: u16,
    /// f9: row tiles (conv).
    pub tiles: u16,
    /// f10: conv: words read per tap (`nw`); pools: window height `[7:0]`, width `[15:8]`.
    pub f10: u16,
    /// f11: conv: main words of one tile block (header + parameters + planes).
    pub tile_words: u16,
    /// f12: input A base; f13: input B base (add); f14: output base.
    pub in_a: u16,
    pub in_b: u16,
    pub out: u16,
    /// f15: conv: first tile block; add / avg pool: the 64-bit parameter word.
    pub param: u16,
}

impl Descriptor {
    pub fn opcode(&self) -> Option<OpCode> {
        OpCode::from_bits(self.op)
    }
    /// The sixteen fields in order.
    pub fn fields(&self) -> [u16; 16] {
        let f0 = (self.op & 0xf)
            | (self.out_kind & 3) << 4
            | (self.a_signed as u16) << 6
            | (self.b_signed as u16) << 7
            | (self.masked as u16) << 8
            | (self.stream as u16) << 9
            | (self.diagonal as u16) << 10;
        let f1 = (self.kernel & 0xf) | (self.stride & 0xf) << 4 | (self.pad & 0xf) << 8;
        [
            f0,
            f1,
            self.in_h,
            self.in_w,
            self.in_cw,
            self.out_h,
            self.out_w,
            self.out_cw,
            self.out_channels,
            self.tiles,
            self.f10,
            self.tile_words,
            self.in_a,
            self.in_b,
            self.out,
            self.param,
        ]
    }
    pub fn from_fields(f: [u16; 16]) -> Self {
        Descriptor {
            op: f[0] & 0xf,
            out_kind: (f[0] >> 4) & 3,
            a_signed: (f[0] >> 6) & 1 == 1,
            b_signed: (f[0] >> 7) & 1 == 1,
            masked: (f[0] >> 8) & 1 == 1,
            stream: (f[0] >> 9) & 1 == 1,
            diagonal: (f[0] >> 10) & 1 == 1,
            kernel: f[1] & 0xf,
            stride: (f[1] >> 4) & 0xf,
            pad: (f[1] >> 8) & 0xf,
            in_h: f[2],
            in_w: f[3],
            in_cw: f[4],
            out_h: f[5],
            out_w: f[6],
            out_cw: f[7],
            out_channels: f[8],
            tiles: f[9],
            f10: f[10],
            tile_words: f[11],
            in_a: f[12],
            in_b: f[13],
            out: f[14],
            param: f[15],
        }
    }
    /// The record as four little-endian dwords.
    pub fn dwords(&self) -> [u64; 4] {
        let f = self.fields();
        let mut d = [0u64; 4];
        for (i, v) in f.iter().enumerate() {
            d[i / 4] |= (*v as u64) << (16 * (i % 4));
        }
        d
    }
    pub fn from_dwords(d: [u64; 4]) -> Self {
        let mut f = [0u16; 16];
        for (i, v) in f.iter_mut().enumerate() {
            *v = (d[i / 4] >> (16 * (i % 4))) as u16;
        }
        Descriptor::from_fields(f)
    }
    /// Pool window (height, width) from f10.
    pub fn window(&self) -> (usize, usize) {
        ((self.f10 & 0xff) as usize, (self.f10 >> 8) as usize)
    }
}

/// Checked narrowing of a descriptor field.
pub(crate) fn field(layer: &str, name: &'static str, v: usize, bits: u32) -> Result<u16> {
    if (v as u64) >> bits != 0 {
        return Err(Error::FieldOverflow {
            layer: layer.into(),
            field: name,
            value: v as u64,
            bits,
        });
    }
    Ok(v as u16)
}

/// A row's requantizer word (the tile engine's layout): `[31:0]` bias, `[46:32]` M,
/// `[52:47]` S, `[54:53]` kind code.
pub fn row_param_word(bias: i32, multiplier: u32, shift: u32, kind: ActKind) -> u64 {
    (bias as u32 as u64)
        | ((multiplier as u64 & 0x7fff) << 32)
        | ((shift as u64 & 0x3f) << 47)
        | ((kind_code(kind) as u64) << 53)
}

/// Decoded row parameter word: (bias, M, S, kind).
pub fn decode_row_param(w: u64) -> (i32, u32, u32, ActKind) {
    (
        w as u32 as i32,
        ((w >> 32) & 0x7fff) as u32,
        ((w >> 47) & 0x3f) as u32,
        kind_from_code(((w >> 53) & 3) as u16),
    )
}

/// The add / pool parameter word: `[14:0]` ma (pools: M), `[29:15]` mb (pools: 0),
/// `[35:30]` shift.
pub fn scalar_param_word(ma: u32, mb: u32, shift: u32) -> u64 {
    (ma as u64 & 0x7fff) | ((mb as u64 & 0x7fff) << 15) | ((shift as u64 & 0x3f) << 30)
}

pub fn decode_scalar_param(w: u64) -> (u32, u32, u32) {
    (
        (w & 0x7fff) as u32,
        ((w >> 15) & 0x7fff) as u32,
        ((w >> 30) & 0x3f) as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_round_trip() {
        let d = Descriptor {
            op: 1,
            out_kind: 1,
            a_signed: true,
            b_signed: false,
            masked: true,
            stream: true,
            diagonal: true,
            kernel: 3,
            stride: 2,
            pad: 1,
            in_h: 28,
            in_w: 27,
            in_cw: 3,
            out_h: 14,
            out_w: 14,
            out_cw: 7,
            out_channels: 56,
            tiles: 7,
            f10: 3,
            tile_words: 200,
            in_a: 100,
            in_b: 0,
            out: 5000,
            param: 65535,
        };
        assert_eq!(Descriptor::from_dwords(d.dwords()), d);
        let w = row_param_word(-5, 32767, 47, ActKind::I8);
        assert_eq!(decode_row_param(w), (-5, 32767, 47, ActKind::I8));
        assert_eq!(
            decode_scalar_param(scalar_param_word(3, 32767, 40)),
            (3, 32767, 40)
        );
    }
}
