//! Errors of the report crate. Input problems name the file and line (and the field when one
//! field is at fault), so a broken sweep table points straight at the bad row. Underlying
//! errors are kept as sources (and quoted in the message, so `to_string()` is complete).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A results line that is not a run record.
    #[error("{}: line {line}: {source}", .file.display())]
    Json {
        file: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    /// A results line that breaks a record invariant ("field: expected …, found …").
    #[error("{}: line {line}: {msg}", .file.display())]
    Input {
        file: PathBuf,
        line: usize,
        msg: String,
    },
    /// An input path that is neither a sweep directory nor a results file, or holds nothing.
    #[error("{}: {msg}", .path.display())]
    Path { path: PathBuf, msg: String },
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `results.json` could not be written as JSON.
    #[error("{}: {source}", .file.display())]
    WriteJson {
        file: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// Staging and atomic writes (unibit-core's helpers).
    #[error(transparent)]
    Core(#[from] unibit_core::Error),
    /// Drawing a figure failed (plotters' backend or font errors, as text).
    #[error("{}: drawing failed: {msg}", .file.display())]
    Plot { file: PathBuf, msg: String },
    /// No TrueType font could be loaded for plot text.
    #[error("{0}")]
    Font(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
