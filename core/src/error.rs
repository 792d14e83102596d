//! One error type for the contract crate. Every message names what was expected, and where
//! (file, field) when the problem came from a file the user gave us. Errors of the libraries we
//! read files with (serde_json, safetensors, ndarray-npy, std::io) are kept as sources; the
//! messages also say what they said, so `to_string()` alone is complete (a printer of the
//! whole chain skips causes the message already contains).

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
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file that should be JSON and is not.
    #[error("{}: not valid JSON ({source})", .path.display())]
    NotJson {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// JSON that does not match its schema (on `line` of a JSON-lines file), or a value that
    /// cannot be written as JSON.
    #[error("{}{}: {source}", .path.display(), line_of(.line))]
    Json {
        path: PathBuf,
        line: Option<usize>,
        #[source]
        source: serde_json::Error,
    },
    /// JSON of the wrong type or shape at `field` (a path such as `layers[3].add.ma`).
    #[error("{}: {field}: {source}", .path.display())]
    Schema {
        path: PathBuf,
        field: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{}: not a valid safetensors file ({source})", .path.display())]
    ReadSafetensors {
        path: PathBuf,
        #[source]
        source: safetensors::SafeTensorError,
    },
    #[error("{}: {source}", .path.display())]
    WriteSafetensors {
        path: PathBuf,
        #[source]
        source: safetensors::SafeTensorError,
    },
    /// An `.npy` file that does not hold the array expected (`expected`: "a 4-d array of u8").
    #[error("{}: {source} (expected {expected})", .path.display())]
    ReadNpy {
        path: PathBuf,
        expected: String,
        #[source]
        source: ndarray_npy::ReadNpyError,
    },
    #[error("{}: {source}", .path.display())]
    WriteNpy {
        path: PathBuf,
        #[source]
        source: ndarray_npy::WriteNpyError,
    },
    #[error("{}: not a valid gzip file ({source})", .path.display())]
    Gzip {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A Fashion-MNIST file that is not there.
    #[error(
        "{}: not found (Fashion-MNIST comes from the Debian package dataset-fashion-mnist: \
         `apt-get install dataset-fashion-mnist`, or pass --data-dir)",
        .path.display()
    )]
    DatasetMissing {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A path that is not what it should be (`what`: "not a bundle directory (no such
    /// directory)"), found without an underlying error.
    #[error("{}: {what}", .path.display())]
    Path { path: PathBuf, what: String },
    /// A complete message where no underlying error exists (e.g. a requantization scale out of
    /// range, with the node it belongs to).
    #[error("{0}")]
    Message(String),
}

fn location(file: &Option<PathBuf>) -> String {
    match file {
        Some(p) => format!("{}: ", p.display()),
        None => String::new(),
    }
}

fn line_of(line: &Option<usize>) -> String {
    line.map_or(String::new(), |n| format!(": line {n}"))
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
    pub fn json(path: impl AsRef<Path>, source: serde_json::Error) -> Self {
        Error::Json {
            path: path.as_ref().to_path_buf(),
            line: None,
            source,
        }
    }
    /// A schema error of `path` with the field path `serde_path_to_error` tracked.
    pub fn schema(
        path: impl AsRef<Path>,
        e: serde_path_to_error::Error<serde_json::Error>,
    ) -> Self {
        let field = match e.path().to_string() {
            p if p == "." => "(top level)".to_string(),
            p => p,
        };
        Error::Schema {
            path: path.as_ref().to_path_buf(),
            field,
            source: e.into_inner(),
        }
    }
    pub fn path(path: impl AsRef<Path>, what: impl Into<String>) -> Self {
        Error::Path {
            path: path.as_ref().to_path_buf(),
            what: what.into(),
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
            Error::Message(msg) => Error::Path {
                path: path.as_ref().to_path_buf(),
                what: msg,
            },
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
