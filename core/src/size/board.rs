//! The board as the budget: the largest width whose weights, parameters and activation buffers
//! fit a board's memories on the engine built for that board (iCEBreaker: UP5K, 8×8;
//! ULX3S: ECP5-25F, 8×8), with the memory breakdown of that model.

use super::{model_size, ModelSize};
use crate::arith::Bits;
use crate::engine::{self, largest_width, EngineShape, Memories, Requirements};
use crate::family::{Family, FamilyConfig};
use serde::Serialize;

/// The largest model of a family that fits a board, and where its bytes go.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BoardReport {
    /// The board's canonical name (`icebreaker`, `ulx3s-25f`).
    pub board: String,
    pub shape: EngineShape,
    pub family: Family,
    pub bits: Bits,
    pub channel_multiple: usize,
    pub width: f64,
    /// Bytes per memory: main memory (program, weights and parameters, activations) and the
    /// weight tile buffer, needed and available.
    pub requirements: Requirements,
    /// The model's size in bits (weights and parameters apart), as the size solver counts it.
    pub size: ModelSize,
}

/// The engine shape a board's bitstream is built for, at bitwidth `bits`.
pub fn board_shape(mem: &Memories, bits: Bits) -> EngineShape {
    match mem.board.as_str() {
        "icebreaker" => EngineShape::icebreaker(bits),
        _ => EngineShape::ulx3s(bits),
    }
}

/// The largest width of `base`'s family (everything but the width from `base`) at bitwidth
/// `bits` that the engine on `board` (`icebreaker` or `ulx3s-25f`) can hold entirely on chip.
pub fn board_report(base: &FamilyConfig, bits: Bits, board: &str) -> engine::Result<BoardReport> {
    let mem = Memories::for_board(board)?;
    let shape = board_shape(&mem, bits);
    let sol = largest_width(base, &shape, &mem)?;
    let cfg = FamilyConfig {
        width: sol.width,
        ..*base
    };
    let size = model_size(&cfg.build()?, |_| bits)?;
    Ok(BoardReport {
        board: mem.board.clone(),
        shape,
        family: cfg.family,
        bits,
        channel_multiple: cfg.channel_multiple,
        width: sol.width,
        requirements: sol.requirements,
        size,
    })
}
