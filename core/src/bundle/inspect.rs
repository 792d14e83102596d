//! A bundle as `unibit inspect` shows it: the validated bundle, its manifest, and optionally the
//! check of its golden vectors against the reference.

use super::{read_parts, Bundle, Manifest};
use crate::error::Result;
use crate::progress::Progress;
use crate::reference::{verify_golden, GoldenReport};
use std::path::Path;

/// A read and validated bundle.
#[derive(Clone, Debug)]
pub struct Inspection {
    pub bundle: Bundle,
    pub manifest: Manifest,
    /// The golden-vector check, when asked for.
    pub golden_check: Option<GoldenCheck>,
}

/// Outcome of re-running the reference on the golden inputs.
#[derive(Clone, Debug, PartialEq)]
pub enum GoldenCheck {
    /// The bundle has no golden vectors to compare with.
    NoGolden,
    Checked(GoldenReport),
}

/// Read the bundle in `dir` with its manifest; with `verify`, also compare every layer's
/// golden output with the reference (a mismatch is reported, not an error).
pub fn inspect(dir: &Path, verify: bool, progress: &dyn Progress) -> Result<Inspection> {
    let (bundle, manifest) = read_parts(dir, true)?;
    let golden_check = match (verify, &bundle.golden) {
        (false, _) => None,
        (true, None) => Some(GoldenCheck::NoGolden),
        (true, Some(_)) => Some(GoldenCheck::Checked(verify_golden(&bundle, progress)?)),
    };
    Ok(Inspection {
        bundle,
        manifest,
        golden_check,
    })
}
