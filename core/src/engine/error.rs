//! Errors of the engine compiler and machine. Messages name the layer, the memory or the field
//! and the expected value.

/// What went wrong while planning, compiling or running a program.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The model as given breaks the contract (from `QuantModel::validate`).
    #[error(transparent)]
    Model(#[from] crate::Error),
    /// The engine shape or the board description is not one the engine supports.
    #[error("engine shape: {field}: expected {expected}, found {found}")]
    Shape {
        field: String,
        expected: String,
        found: String,
    },
    /// The bundle's weight bitwidth differs from the bitstream's.
    #[error("weight bitwidth: the engine is built for B = {engine}, the model has B = {model}")]
    BitsMismatch { engine: u8, model: u8 },
    /// A layer the engine cannot run, named.
    #[error("layer \"{layer}\" ({op}): unsupported: {why}")]
    Unsupported {
        layer: String,
        op: String,
        why: String,
    },
    /// The model does not fit one of the board's memories.
    #[error("{memory}: the model needs {needed} bytes, {available} bytes are available{hint}")]
    DoesNotFit {
        memory: String,
        needed: u64,
        available: u64,
        hint: String,
    },
    /// A field of a descriptor or an image does not fit its bit width.
    #[error("layer \"{layer}\": descriptor field {field} = {value} does not fit {bits} bits")]
    FieldOverflow {
        layer: String,
        field: &'static str,
        value: u64,
        bits: u32,
    },
    /// The machine met something the program should never contain.
    #[error("machine: {0}")]
    Machine(String),
    /// An image of the wrong size was loaded.
    #[error("input image: expected {expected} bytes (C·H·W), found {found}")]
    Image { expected: usize, found: usize },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn shape(
        field: impl Into<String>,
        expected: impl Into<String>,
        found: impl std::fmt::Display,
    ) -> Self {
        Error::Shape {
            field: field.into(),
            expected: expected.into(),
            found: found.to_string(),
        }
    }
    pub(crate) fn unsupported(layer: &str, op: &str, why: impl Into<String>) -> Self {
        Error::Unsupported {
            layer: layer.into(),
            op: op.into(),
            why: why.into(),
        }
    }
}
