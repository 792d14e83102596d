//! Errors of the report crate. Input problems name the file and line (and the field when one
//! field is at fault), so a broken sweep table points straight at the bad row.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A results line that does not parse or breaks a record invariant.
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
    /// Drawing a figure failed (backend or font).
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
