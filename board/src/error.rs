//! Errors of the board driver. Every one names the port it happened on, so a silent or wrong
//! device is told apart from a wrong model.

use crate::protocol::Status;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{port}: {source}")]
    Io {
        port: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{port}: cannot open the serial port: {source}")]
    Open {
        port: String,
        #[source]
        source: serialport::Error,
    },
    #[error("{port}: no reply to {command} within {timeout_ms} ms (tried {tries} times): is a unibit bitstream loaded and the baud rate {baud}?")]
    Timeout {
        port: String,
        command: &'static str,
        timeout_ms: u64,
        tries: u32,
        baud: u32,
    },
    #[error("{port}: {command} failed after {tries} tries: the last reply was corrupt ({why})")]
    Corrupt {
        port: String,
        command: &'static str,
        tries: u32,
        why: String,
    },
    #[error("{port}: the device refused {command}: {status}")]
    Refused {
        port: String,
        command: &'static str,
        status: Status,
    },
    #[error("{port}: malformed {command} reply: {why}")]
    BadReply {
        port: String,
        command: &'static str,
        why: String,
    },
    #[error("{port}: the device speaks protocol version {found}, this driver version {expected}")]
    Version {
        port: String,
        expected: u8,
        found: u8,
    },
    #[error("{what}: expected {expected}, found {found}")]
    Invalid {
        what: String,
        expected: String,
        found: String,
    },
    #[error("{port}: the board's engine is not the one this bundle compiles for ({target}): {differs}; nothing was written")]
    WrongEngine {
        port: String,
        target: String,
        differs: String,
    },
    #[error(
        "{port}: the board holds model {found}, this bundle is model {expected}: load it first"
    )]
    WrongModel {
        port: String,
        expected: String,
        found: String,
    },
    #[error("{port}: read-back of memory {mem} differs from what was written at byte {addr}")]
    Verify { port: String, mem: u8, addr: usize },
    #[error("image {index}: {source}")]
    Image {
        index: usize,
        #[source]
        source: Box<Error>,
    },
    #[error("{}: {source}", file.display())]
    File {
        file: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a readable PNG: {source}", file.display())]
    Png {
        file: std::path::PathBuf,
        #[source]
        source: png::DecodingError,
    },
    #[error(transparent)]
    Engine(#[from] unibit_core::engine::Error),
    #[error(transparent)]
    Core(#[from] unibit_core::Error),
    #[error("no board found for --port auto (looked for USB {wanted}; serial ports seen: {seen})")]
    NoBoard { wanted: String, seen: String },
    #[error(transparent)]
    Verilator(#[from] unibit_verilator::Error),
    #[error("virtual board: {what}")]
    Harness { what: String },
    #[error("several boards found for --port auto ({found}): name one with --port")]
    Ambiguous { found: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
