//! Integer accuracy of a model on a labelled dataset (the reference executor, in parallel).

use super::{argmax, run_output};
use crate::dataset::{self, Dataset, Split};
use crate::error::Result;
use crate::model::QuantModel;
use crate::progress::Progress;
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

/// Images per progress step; each step runs in parallel chunks of [`CHUNK`] images.
const STEP: usize = 500;
const CHUNK: usize = 16;

/// Correct predictions of the integer reference on `images` labelled images.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IntegerAccuracy {
    pub images: usize,
    pub correct: usize,
    /// `correct / images` (0 for no images).
    pub accuracy: f64,
    /// Wall-clock time of the evaluation.
    pub seconds: f64,
}

impl IntegerAccuracy {
    pub fn images_per_second(&self) -> f64 {
        self.images as f64 / self.seconds
    }
}

/// Integer accuracy of `model` on the first `limit` examples of `data` (all when `None`).
/// Progress counts images.
pub fn accuracy(
    model: &QuantModel,
    data: &Dataset,
    limit: Option<usize>,
    progress: &dyn Progress,
) -> Result<IntegerAccuracy> {
    let n = limit.map_or(data.len(), |l| l.min(data.len()));
    progress.begin("images", Some(n as u64));
    let start = Instant::now();
    let counted = count_correct(model, data, n, progress);
    progress.end();
    let correct = counted?;
    Ok(IntegerAccuracy {
        images: n,
        correct,
        accuracy: correct as f64 / n.max(1) as f64,
        seconds: start.elapsed().as_secs_f64(),
    })
}

fn count_correct(
    model: &QuantModel,
    data: &Dataset,
    n: usize,
    progress: &dyn Progress,
) -> Result<usize> {
    let mut correct = 0;
    for s in (0..n).step_by(STEP) {
        let e = (s + STEP).min(n);
        let out = run_output(
            model,
            data.images.slice(ndarray::s![s..e, .., .., ..]),
            CHUNK,
        )?;
        correct += argmax(&out)
            .iter()
            .zip(&data.labels[s..e])
            .filter(|(p, l)| **p == **l as usize)
            .count();
        progress.advance((e - s) as u64);
    }
    Ok(correct)
}

/// A bundle's integer accuracy on the Fashion-MNIST test set, next to what its manifest records.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BundleAccuracy {
    pub measured: IntegerAccuracy,
    /// The integer accuracy in the bundle's manifest, if it records one.
    pub recorded: Option<f64>,
}

/// Read the bundle in `dir` (without golden vectors) and measure its integer accuracy on the
/// first `limit` Fashion-MNIST test images in `data_dir`.
pub fn bundle_accuracy(
    dir: &Path,
    data_dir: &Path,
    limit: Option<usize>,
    progress: &dyn Progress,
) -> Result<BundleAccuracy> {
    let b = crate::bundle::read_with(dir, false)?;
    let test = dataset::load(data_dir, Split::Test)?;
    Ok(BundleAccuracy {
        measured: accuracy(&b.model, &test, limit, progress)?,
        recorded: b.accuracy.integer,
    })
}
