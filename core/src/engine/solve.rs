//! The board-aware width solver: the largest width whose weights, parameters and activation
//! buffers fit the engine's memories on a board.

use super::board::{EngineShape, Memories};
use super::error::{Error, Result};
use super::plan::{requirements, Requirements};
use crate::family::FamilyConfig;
use crate::size::{MAX_WIDTH_STEPS, WIDTH_STEP};
use serde::{Deserialize, Serialize};

/// The solver's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BoardWidth {
    pub width: f64,
    pub requirements: Requirements,
}

/// The largest width on the 1/64 grid at which `base`'s family fits `shape` on `mem`
/// (memory need grows with width: binary search, as the size solver does).
pub fn largest_width(
    base: &FamilyConfig,
    shape: &EngineShape,
    mem: &Memories,
) -> Result<BoardWidth> {
    let at = |k: usize| -> Result<Requirements> {
        let cfg = FamilyConfig {
            width: k as f64 * WIDTH_STEP,
            ..*base
        };
        requirements(&cfg.build()?, shape, mem)
    };
    let smallest = at(1)?;
    smallest.check().map_err(|e| match e {
        Error::DoesNotFit {
            memory,
            needed,
            available,
            ..
        } => Error::DoesNotFit {
            memory,
            needed,
            available,
            hint: format!(" even for the smallest {}", base.family),
        },
        e => e,
    })?;
    let (mut lo, mut hi) = (1usize, MAX_WIDTH_STEPS + 1);
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        // A layout the engine cannot express at a larger width does not fit either.
        if at(mid).is_ok_and(|r| r.fits()) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(BoardWidth {
        width: lo as f64 * WIDTH_STEP,
        requirements: at(lo)?,
    })
}
