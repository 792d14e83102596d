//! The trainer's one error type. Messages name the file, field and expected value (never CLI
//! flags: the CLI adds those). Wrapped errors (io, JSON, libtorch, unibit-core) stay reachable
//! as sources, so `{:#}` through anyhow prints the whole chain once.

use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The contract crate: graphs, sizes, datasets, bundles, results tables.
    #[error(transparent)]
    Core(#[from] unibit_core::Error),
    /// The whole-network engine's planner or compiler (board budgets, cycles).
    #[error(transparent)]
    Engine(#[from] unibit_core::engine::Error),
    /// A value that breaks a file's schema or a setting's range.
    #[error("{}{field}: expected {expected}, found {found}", location(.file))]
    Invalid {
        file: Option<PathBuf>,
        field: String,
        expected: String,
        found: String,
    },
    /// A directory holding something other than what was asked for (another sweep's plan,
    /// another job's run): the first field that differs.
    #[error("{0}")]
    Differs(Box<Difference>),
    /// A file or directory that could not be read, written, created, removed or locked.
    #[error("{}: {action}", .path.display())]
    Io {
        path: PathBuf,
        action: String,
        #[source]
        source: std::io::Error,
    },
    /// A JSON file that is not what it should be.
    #[error("{}: {what}", .path.display())]
    Json {
        path: PathBuf,
        what: String,
        #[source]
        source: serde_json::Error,
    },
    /// A value that could not be encoded as JSON.
    #[error("cannot encode {what} as JSON")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// libtorch refused an operation.
    #[error("{context}")]
    Torch {
        context: String,
        #[source]
        source: tch::TchError,
    },
    /// A model the one-bitwidth integer engine cannot run.
    #[error("{0}")]
    NotExportable(NotExportable),
    /// Quantization parameters that do not fit the integer contract.
    #[error("{node}: {what}")]
    Unrepresentable { node: String, what: String },
    /// Training produced a non-finite loss.
    #[error("training diverged at epoch {epoch} step {step}: loss {loss}")]
    Diverged {
        epoch: usize,
        step: usize,
        loss: f64,
    },
    /// A new run was asked for where one exists.
    #[error("{}: a run already exists here; resume it, or train into another directory", .0.display())]
    RunExists(PathBuf),
    /// Some jobs of a local sweep failed (each with its reason or log).
    #[error("{} of {total} jobs failed: {}", .failed.len(), .failed.join("; "))]
    JobsFailed { failed: Vec<String>, total: usize },
    /// What was being done when an error happened.
    #[error(transparent)]
    Context(Box<Context>),
}

/// The first field in which a file differs from what was asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    pub file: PathBuf,
    /// What the difference means ("a different sweep is planned here").
    pub what: &'static str,
    pub field: String,
    pub expected: String,
    pub found: String,
    /// What to do about it.
    pub hint: &'static str,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} ({}: expected {}, found {}); {}",
            self.file.display(),
            self.what,
            self.field,
            self.expected,
            self.found,
            self.hint
        )
    }
}

/// Why a run cannot be exported to a one-bitwidth bundle.
#[derive(Debug, Clone, PartialEq)]
pub enum NotExportable {
    Float,
    Mixed,
    FirstLast8Bit { bits: unibit_core::Bits },
}

impl fmt::Display for NotExportable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotExportable::Float => write!(
                f,
                "a float (unquantized) run cannot be exported: train it with a weight bitwidth (quant in config.json)"
            ),
            NotExportable::Mixed => write!(
                f,
                "this run has per-layer weight bitwidths (mixed precision, layer_bits in config.json): it is not a one-bitwidth model and cannot be exported to a one-bitwidth array"
            ),
            NotExportable::FirstLast8Bit { bits } => write!(
                f,
                "this run keeps the first and last layers at 8 bits (quant.first_last_8bit in config.json): it is not a one-bitwidth model and cannot be exported to a B = {bits} array"
            ),
        }
    }
}

/// An error with what was being done: shown as `context: error`; its source is the wrapped
/// error's own source, so a chain printer does not repeat the wrapped message.
#[derive(Debug)]
pub struct Context {
    pub context: String,
    pub error: Error,
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.context, self.error)
    }
}

impl std::error::Error for Context {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.error)
    }
}

fn location(file: &Option<PathBuf>) -> String {
    match file {
        Some(p) => format!("{}: ", p.display()),
        None => String::new(),
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(
        field: impl Into<String>,
        expected: impl Into<String>,
        found: impl fmt::Display,
    ) -> Self {
        Error::Invalid {
            file: None,
            field: field.into(),
            expected: expected.into(),
            found: found.to_string(),
        }
    }
    /// [`Error::invalid`] in a file.
    pub fn invalid_in(
        file: &Path,
        field: impl Into<String>,
        expected: impl Into<String>,
        found: impl fmt::Display,
    ) -> Self {
        Error::Invalid {
            file: Some(file.to_path_buf()),
            field: field.into(),
            expected: expected.into(),
            found: found.to_string(),
        }
    }
    pub fn io(path: &Path, action: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            action: action.into(),
            source,
        }
    }
    pub fn json(path: &Path, what: impl Into<String>, source: serde_json::Error) -> Self {
        Error::Json {
            path: path.to_path_buf(),
            what: what.into(),
            source,
        }
    }
    pub fn torch(context: impl Into<String>, source: tch::TchError) -> Self {
        Error::Torch {
            context: context.into(),
            source,
        }
    }
    /// This error, with what was being done.
    pub fn context(self, context: impl Into<String>) -> Self {
        Error::Context(Box::new(Context {
            context: context.into(),
            error: self,
        }))
    }
}

/// `.context(…)` on results whose error converts into [`Error`].
pub trait ResultExt<T> {
    fn context(self, context: impl Into<String>) -> Result<T>;
    fn with_context<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T>;
}

impl<T, E: Into<Error>> ResultExt<T> for std::result::Result<T, E> {
    fn context(self, context: impl Into<String>) -> Result<T> {
        self.map_err(|e| e.into().context(context))
    }
    fn with_context<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| e.into().context(f()))
    }
}

/// Pretty JSON of `v` (files the trainer writes: config.json, plan.json, records).
pub fn to_json<T: serde::Serialize>(what: &'static str, v: &T) -> Result<String> {
    serde_json::to_string_pretty(v).map_err(|source| Error::Encode { what, source })
}

/// Parse the JSON file `path` as a `T`; `what` names what it should be ("a sweep plan").
pub fn read_json<T: serde::de::DeserializeOwned>(
    path: &Path,
    unreadable: &str,
    invalid: &str,
) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, unreadable, e))?;
    serde_json::from_str(&text).map_err(|e| Error::json(path, invalid, e))
}

/// Write `v` as pretty JSON to `path`, atomically (unibit-core's writer).
pub fn write_json<T: serde::Serialize>(path: &Path, what: &'static str, v: &T) -> Result<()> {
    Ok(unibit_core::atomic::write_atomic(
        path,
        to_json(what, v)?.as_bytes(),
    )?)
}

/// An error and each source below it, joined by ": " (how logs show an error, as the CLI does).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut next = e.source();
    while let Some(c) = next {
        s.push_str(": ");
        s.push_str(&c.to_string());
        next = c.source();
    }
    s
}
