//! The rust-hdl circuits, one per file (see STYLE.md).
pub mod adder_tree;
pub mod controller;
pub mod engine;
pub mod frame;
pub mod host;
pub mod net;
pub mod pe;
pub mod requant;
pub mod sim;
pub mod uart;
