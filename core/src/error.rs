//! One error type for the contract crate. Every message names what was expected, and where
//! (file, field) when the problem came from a file the user gave us.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value that breaks the contract or a file's schema.
    #[error("{}{field}: expected {expected}, found {found}", location(.file))]
    Invalid {
        file: Option<PathBuf>,
        field: String,
        expected: String,
        found: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Anything else with a complete message.
    #[error("{0}")]
    Other(String),
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
        found: impl std::fmt::Display,
    ) -> Self {
        Error::Invalid {
            file: None,
            field: field.into(),
            expected: expected.into(),
            found: found.to_string(),
        }
    }
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }
    /// Attach the file an `Invalid` error came from (no-op for other variants or if set).
    pub fn in_file(self, path: impl AsRef<Path>) -> Self {
        match self {
            Error::Invalid {
                file: None,
                field,
                expected,
                found,
            } => Error::Invalid {
                file: Some(path.as_ref().to_path_buf()),
                field,
                expected,
                found,
            },
            Error::Other(msg) => Error::Other(format!("{}: {msg}", path.as_ref().display())),
            e => e,
        }
    }
    /// Prefix the field path of an `Invalid` error (e.g. `layers[3].` + `stride`).
    pub fn in_field(self, prefix: &str) -> Self {
        match self {
            Error::Invalid {
                file,
                field,
                expected,
                found,
            } => Error::Invalid {
                file,
                field: if field.is_empty() {
                    prefix.to_string()
                } else {
                    format!("{prefix}.{field}")
                },
                expected,
                found,
            },
            e => e,
        }
    }
}
