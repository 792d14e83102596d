//! One error type for the cosimulation crate. Messages name the bundle, layer, field or tool and
//! what was expected.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value outside what the cosimulation accepts.
    #[error("{field}: expected {expected}, found {found}")]
    Invalid {
        field: String,
        expected: String,
        found: String,
    },
    #[error(
        "the bundle's weights are B = {bundle} bits but the engine is built for B = {engine}: one engine, one bitwidth"
    )]
    BitsMismatch { bundle: u8, engine: u8 },
    /// A layer the engine cannot run (checked before any simulation).
    #[error("layer {layer:?}: {problem}")]
    DoesNotFit { layer: String, problem: Fit },
    #[error(transparent)]
    Fit(#[from] Fit),
    #[error("{}: the bundle has no golden vectors to compare with", bundle.display())]
    NoGolden { bundle: PathBuf },
    #[error("tile descriptor rejected")]
    TileRejected(#[source] unibit_hw::Error),
    #[error("tile did not finish within {max_cycles} cycles (engine hung)")]
    EngineHung { max_cycles: u64 },
    #[error("the mismatch is in a host step: no engine tile to trace")]
    NoTileToTrace,
    #[error(transparent)]
    Verilator(#[from] unibit_verilator::Error),
    /// The Verilator harness answered something else than its protocol says.
    #[error("Verilator harness: {0}")]
    Harness(String),
    #[error("{action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Talking to the harness over its pipes.
    #[error("{0} the Verilator harness")]
    Pipe(&'static str, #[source] std::io::Error),
    #[error(transparent)]
    Hw(#[from] unibit_hw::Error),
    #[error(transparent)]
    Core(#[from] unibit_core::Error),
    /// The whole-network compiler refused the model (unsupported layer, too big for the
    /// board's memory) or the machine failed.
    #[error(transparent)]
    Engine(#[from] unibit_core::engine::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a GEMM does not fit the engine's memories.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Fit {
    #[error(
        "reduction K = {k} needs {chunks} lane chunks × B = {bits} → {words} weight words, but the engine's \
         weight memory holds {depth} (build it with a deeper weight memory or more lanes)"
    )]
    WeightMemory {
        k: usize,
        chunks: usize,
        bits: u8,
        words: usize,
        depth: usize,
    },
    #[error(
        "reduction K = {k} needs {chunks} activation words per vector; the activation memory holds {depth}"
    )]
    ActivationMemory {
        k: usize,
        chunks: usize,
        depth: usize,
    },
    #[error("the parameter memory ({depth}) is smaller than the rows ({rows})")]
    ParamMemory { depth: usize, rows: usize },
}

impl Error {
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
