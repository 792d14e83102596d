//! unibit-sw — the trainer: Fashion-MNIST batches, tch networks interpreted from unibit-core
//! graphs, one-bitwidth QAT quantizers, the training loop with checkpoints, and export to
//! integer models and bundles that unibit-core's reference (and the hardware) run bit-exactly.

pub mod bench;
pub mod checkpoint;
pub mod cli;
pub mod data;
pub mod export;
pub mod hessian;
pub mod mixed;
pub mod net;
pub mod quant;
pub mod sweep;
pub mod train;
