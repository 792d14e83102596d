//! Throughput of the integer reference: a synthetic model on the Fashion-MNIST test set, and
//! one inner 3×3 convolution as the GEMM path against the direct `i64` loops.

use super::{conv_direct, conv_gemm, run, Keep};
use crate::arith::Bits;
use crate::dataset::{self, Dataset, Split};
use crate::error::{Error, Result};
use crate::family::{Family, FamilyConfig};
use crate::graph::Op;
use crate::model::{NodeParams, QuantModel};
use crate::progress::Progress;
use crate::synthetic::{synthetic_images, synthetic_model};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

/// Images of the whole test set: the benchmark's default, and its goal's unit.
pub const TEST_IMAGES: usize = 10_000;
/// Images the convolution baseline runs on.
const BASELINE_IMAGES: usize = 8;

/// What to benchmark.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    pub family: Family,
    pub width: f64,
    pub bits: Bits,
    /// Images to run (`None`: the whole test set).
    pub images: Option<usize>,
    /// Fashion-MNIST directory (`None`: [`dataset::data_dir`]'s default); synthetic images
    /// stand in when it cannot be read.
    pub data_dir: Option<PathBuf>,
}

/// Measured throughput.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BenchReport {
    pub family: Family,
    pub bits: Bits,
    pub width: f64,
    /// Worker threads of the whole-network run.
    pub threads: usize,
    pub images: usize,
    pub seconds: f64,
    /// The convolution timed on [`BASELINE_IMAGES`] images, on one thread.
    pub layer: String,
    pub baseline_images: usize,
    pub macs: u64,
    pub gemm_seconds: f64,
    pub direct_seconds: f64,
}

impl BenchReport {
    pub fn images_per_second(&self) -> f64 {
        self.images as f64 / self.seconds
    }
    pub fn gemm_gmacs(&self) -> f64 {
        self.macs as f64 / self.gemm_seconds / 1e9
    }
    pub fn direct_gmacs(&self) -> f64 {
        self.macs as f64 / self.direct_seconds / 1e9
    }
    /// Seconds for the whole test set at the measured rate.
    pub fn projected_test_set_seconds(&self) -> f64 {
        self.seconds * TEST_IMAGES as f64 / self.images as f64
    }
}

/// Run the benchmark. A missing dataset is a `line` on `progress`, not an error.
pub fn bench(cfg: &BenchConfig, progress: &dyn Progress) -> Result<BenchReport> {
    let family = FamilyConfig::fashion_mnist(cfg.family, cfg.width);
    let data = bench_data(cfg, &family, progress);
    let data = data.take(cfg.images.unwrap_or(data.len()));
    let model = synthetic_model(&family, cfg.bits, 1, data.take(32).images.view())?;
    let run = super::accuracy(&model, &data, None, progress)?;
    let base = conv_baseline(&model, &data.take(BASELINE_IMAGES))?;
    Ok(BenchReport {
        family: cfg.family,
        bits: cfg.bits,
        width: cfg.width,
        threads: rayon::current_num_threads(),
        images: run.images,
        seconds: run.seconds,
        layer: base.layer,
        baseline_images: BASELINE_IMAGES,
        macs: base.macs,
        gemm_seconds: base.gemm_seconds,
        direct_seconds: base.direct_seconds,
    })
}

/// The test set, or synthetic images (labels 0) when it cannot be read.
fn bench_data(cfg: &BenchConfig, family: &FamilyConfig, progress: &dyn Progress) -> Dataset {
    match dataset::load(&dataset::data_dir(cfg.data_dir.as_deref()), Split::Test) {
        Ok(d) => d,
        Err(e) => {
            progress.line(&format!("note: {e}; using synthetic images"));
            let n = cfg.images.unwrap_or(TEST_IMAGES);
            Dataset {
                images: synthetic_images(n, family.input, 3),
                labels: vec![0; n],
            }
        }
    }
}

struct Baseline {
    layer: String,
    macs: u64,
    gemm_seconds: f64,
    direct_seconds: f64,
}

/// Time the first 3×3 convolution that does not read the input, as the GEMM path and as the
/// direct loops, both on this thread; their outputs must agree.
fn conv_baseline(model: &QuantModel, sub: &Dataset) -> Result<Baseline> {
    let outs = run(model, sub.images.view(), Keep::All)?;
    let info = model.validate()?;
    let i = model
        .graph
        .nodes
        .iter()
        .position(|n| matches!(n.op, Op::Conv2d { kernel: 3, .. }) && n.inputs[0] != "input")
        .ok_or_else(|| Error::invalid("graph", "an inner 3×3 convolution to time", "none"))?;
    let node = &model.graph.nodes[i];
    let j = model
        .graph
        .index_of(&node.inputs[0])
        .expect("validated graph");
    let x = outs[j].as_ref().expect("Keep::All keeps every output");
    let (
        Op::Conv2d {
            stride,
            padding,
            groups,
            ..
        },
        NodeParams::Weighted { codes, .. },
    ) = (&node.op, &model.params[i])
    else {
        unreachable!("a validated conv2d has weights")
    };
    let t0 = Instant::now();
    let fast = conv_gemm(
        x,
        info[j].kind,
        codes,
        model.bits,
        *stride,
        *padding,
        *groups,
    );
    let gemm_seconds = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let slow = conv_direct(x, codes, model.bits, *stride, *padding, *groups);
    let direct_seconds = t0.elapsed().as_secs_f64();
    if fast != slow {
        return Err(Error::Message(format!(
            "GEMM and direct convolutions disagree on layer {:?}",
            node.name
        )));
    }
    Ok(Baseline {
        layer: node.name.clone(),
        macs: (fast.len() * node.op.reduction().expect("conv2d reduces")) as u64,
        gemm_seconds,
        direct_seconds,
    })
}
