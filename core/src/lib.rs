//! unibit-core — the contract between the trainer and the hardware: weight codes and levels,
//! requantization, the model IR, model families and sizes, the bundle format, the integer
//! reference executor and the engine cost model. No torch, no HDL.

pub mod arith;
pub mod atomic;
pub mod bundle;
pub mod cost;
pub mod dataset;
pub mod engine;
pub mod error;
pub mod family;
pub mod flow;
pub mod graph;
pub mod hash;
pub mod model;
pub mod progress;
pub mod reference;
pub mod results;
pub mod size;
pub mod synthetic;
pub mod threads;

pub use arith::{ActKind, Bits, Requant};
pub use error::{Error, Result};
pub use family::{Family, FamilyConfig};
pub use graph::{Graph, Node, Op, Shape, TensorInfo};
pub use model::{NodeParams, QuantModel};
pub use progress::{Progress, Silent};
