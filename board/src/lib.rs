//! unibit-board — talking to a board that runs the unibit engine, real or virtual.
//!
//! * [`frame`]: protocol v2 frames (sync byte, length, body, CRC-16) and the byte-stream decoder
//!   with its resync rule; the same rules the board's RTL follows.
//! * [`protocol`]: the commands (`info`, memory write/read, run) and replies, and their bytes.
//! * [`link`]: the host end — one command at a time, every reply awaited with a timeout, retried
//!   after corruption or silence; errors name the port.
//! * [`device`]: the device end in software (the protocol's reference: a board's behaviour on
//!   the wire, over any [`device::Backend`]).
//! * [`port`]: opening a serial port by path, or `auto` by USB VID:PID.
//! * [`target`]: a board's engine configuration as data, its hash, the protocol's memory ids.
//! * [`soft`]: a software board over the engine's memory-level model (not the RTL).
//! * [`driver`]: `load` (compile, check, write, verify, commit) and `classify` (run images,
//!   compare with the integer reference, time engine and link).
//! * [`images`]: images to classify from PNG files.
//! * [`sim`]: serving a software board on a pseudo-terminal.
//! * [`compile`]: a bundle compiled for a named board, written as files (`hw compile`).
//! * [`verilator`]: the Verilator virtual board (a board top's Verilog behind a PTY).

pub mod compile;
pub mod device;
pub mod driver;
pub mod error;
pub mod frame;
pub mod images;
pub mod link;
pub mod port;
pub mod protocol;
pub mod sim;
pub mod soft;
pub mod target;
pub mod verilator;

pub use error::{Error, Result};
