//! The whole-network engine: the layer program, its compiler, the memory map, the bit-exact
//! cycle-counting machine and the cost model. The architecture (datapath, memories, word
//! layouts, descriptor fields, schedule) is written down in docs/engine.md; the RTL follows it.
//!
//! * [`board`]: the engine shape (R×C, B, requantizer lanes, tile buffer) and the board's
//!   memories as data, allocated to the engine's three RAMs.
//! * [`plan`]: where every buffer lives, from the graph alone ([`requirements`] for the
//!   board-aware width solver, [`largest_width`]).
//! * [`compile()`]: a model → [`Program`] (descriptors, resident image, [`MemoryMap`]).
//! * [`Machine`]: runs a program on the memories word by word and counts cycles.
//! * [`cycles`] / [`report`]: the same cycle count from the descriptors alone.

pub mod board;
pub mod compile;
pub mod cost;
pub mod desc;
pub mod error;
pub mod machine;
pub mod plan;
pub mod solve;

pub use board::{configure, EngineShape, Memories, MemoryConfig};
pub use compile::{compile, MemoryMap, Program};
pub use cost::{cycles, model_report, report, CycleReport, LayerCycles};
pub use desc::{Descriptor, OpCode};
pub use error::{Error, Result};
pub use machine::{Machine, Mismatch, Run};
pub use plan::{plan, requirements, Plan, Requirements, TensorPlace};
pub use solve::{largest_width, BoardWidth};
