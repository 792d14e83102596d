//! One error type for the hardware crate. Messages name the field, file or tool and what was
//! expected; the CLI adds flag context where a value came from a flag.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value outside what the engine or the flow accepts.
    #[error("{field}: expected {expected}, found {found}")]
    Invalid {
        field: String,
        expected: String,
        found: String,
    },
    #[error("unsupported array {rows}x{cols}: expected one of {expected}")]
    UnsupportedArray {
        rows: usize,
        cols: usize,
        expected: String,
    },
    /// An array too large for the board, refused before any tool runs.
    #[error("{rows}x{cols} does not fit {board}: about {estimate} logic cells estimated, the {device} has {capacity} (use a smaller --rows/--cols)")]
    BoardTooSmall {
        board: &'static str,
        device: &'static str,
        rows: usize,
        cols: usize,
        estimate: u64,
        capacity: u64,
    },
    /// A synthesised design with more logic than the device, refused before place and route.
    #[error("the {engine} engine needs {} {unit}, the {device} has {} (yosys: {detail}; nextpnr not started)", thousands(*needed), thousands(*capacity))]
    DesignTooLarge {
        engine: &'static str,
        unit: &'static str,
        needed: u64,
        device: &'static str,
        capacity: u64,
        detail: String,
    },
    #[error("unknown board {name:?}: expected one of {expected}")]
    UnknownBoard { name: String, expected: String },
    #[error("no {family} PLL setting reaches {mhz} MHz")]
    NoPll { family: &'static str, mhz: f64 },
    /// A tile that does not fit the engine's memories.
    #[error("{memory} memory: tile needs words {start}..{end} but depth is {depth}")]
    MemoryBounds {
        memory: &'static str,
        start: usize,
        end: usize,
        depth: usize,
    },
    #[error("tile did not finish within {max_cycles} cycles")]
    TileTimeout { max_cycles: u64 },
    /// A layer whose codes, biases or requantizers do not agree.
    #[error("layer {layer}: {problem}")]
    Layer { layer: String, problem: String },
    #[error("reading bundle {}", path.display())]
    Bundle {
        path: PathBuf,
        /// Boxed: the core error is large, and every hw `Result` would carry its size.
        #[source]
        source: Box<unibit_core::Error>,
    },
    /// A simulator or linter that is not installed.
    #[error(
        "{tool} not found on PATH: run `make setup` (installs yosys, nextpnr, iverilog, verilator)"
    )]
    ToolNotOnPath { tool: String },
    /// An FPGA tool of the synthesis flow that is not installed.
    #[error("{tool} not found (PATH and $UNIBIT_EDA_VENV/bin): run `make setup` to install the FPGA tools")]
    EdaToolMissing { tool: String },
    /// A tool that ran and failed; `output` is the end of its log or its stderr.
    #[error("{tool} failed{how}:\n{output}")]
    ToolFailed {
        tool: String,
        /// " (exit N); see LOG" or empty.
        how: String,
        output: String,
    },
    /// Output of a tool that does not have the expected form.
    #[error("{}: {what}", file.display())]
    ToolOutput { file: PathBuf, what: String },
    #[error(transparent)]
    RouterStalled(#[from] RouterStalled),
    #[error("{tool}: the router stalled with {seeds} seeds ({first}..{last}); logs nextpnr-seed*-stalled.log in {}. Try another seed or a smaller array", dir.display())]
    RouterGaveUp {
        tool: String,
        seeds: u32,
        first: u32,
        last: u32,
        dir: PathBuf,
    },
    #[error("{action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not valid JSON", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("serializing JSON")]
    Serialize(#[from] serde_json::Error),
    #[error(transparent)]
    Core(#[from] unibit_core::Error),
    #[error(transparent)]
    Flow(#[from] unibit_core::flow::FlowError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// nextpnr's router1 can loop forever ripping up two arcs of one net that drives two inputs of
/// the same LUT, for some placements (YosysHQ/nextpnr#179, #1341; seen here on iCE40 with
/// nextpnr 0.4). Its progress table then shows the same number of remaining arcs, every arc
/// re-routed with rip-up, for ever. A new seed gives a new placement.
#[derive(Debug, thiserror::Error)]
#[error("{tool}'s router stalled: {remaining} arcs remaining for {lines} progress lines ({})", log.display())]
pub struct RouterStalled {
    pub tool: String,
    pub remaining: u64,
    pub lines: usize,
    pub log: PathBuf,
}

impl Error {
    pub fn invalid(
        field: impl Into<String>,
        expected: impl Into<String>,
        found: impl std::fmt::Display,
    ) -> Self {
        Error::Invalid {
            field: field.into(),
            expected: expected.into(),
            found: found.to_string(),
        }
    }

    /// A closure for `map_err` on I/O: `fs::write(p, x).map_err(Error::io("writing", p))`.
    pub fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }
}

/// `n` with thousands separators (20904 → "20,904").
pub fn thousands(n: u64) -> String {
    let d = n.to_string();
    let mut out = String::new();
    for (i, c) in d.chars().enumerate() {
        if i > 0 && (d.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
