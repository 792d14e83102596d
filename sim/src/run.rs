//! A bundle's golden images on a simulated engine, image after image, with a summary that the
//! CLI prints and writes as JSON; on a mismatch, optionally a VCD trace of the failing tile.

use crate::backend::{Backend, RustHdl};
use crate::cosim::{check_model, run_image, ImageRun, LayerRun, Mismatch};
use crate::error::{Error, Result};
use crate::verilator::VerilatorEngine;
use ndarray::{s, ArrayView4};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;
use unibit_core::bundle::{self, Bundle, Golden};
use unibit_core::{Progress, QuantModel, TensorInfo};
use unibit_hw::model::{EngineModel, EngineParams};

/// The simulated engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SimKind {
    /// Verilator build of the generated Verilog (whole networks; built once per configuration).
    Verilator,
    /// The rust-hdl simulation (slow; small networks).
    Rusthdl,
    /// The memory-level engine model (same memories and descriptors as the RTL; not RTL).
    Model,
}

impl SimKind {
    /// The name used in JSON and file names (`verilator`, `rusthdl`, `model`).
    pub fn name(self) -> &'static str {
        match self {
            SimKind::Verilator => "verilator",
            SimKind::Rusthdl => "rusthdl",
            SimKind::Model => "model",
        }
    }
}

#[derive(Clone, Debug)]
pub struct CosimOptions {
    /// Array rows R and lanes C.
    pub rows: usize,
    pub cols: usize,
    pub sim: SimKind,
    /// Golden images to run (default: all in the bundle).
    pub images: Option<usize>,
    /// On a mismatch, re-run the failing image with a VCD trace of the failing tile into this
    /// file (Verilator only).
    pub vcd: Option<PathBuf>,
}

/// What a cosimulation found. The serialized fields are the summary JSON of `unibit cosim`
/// (which reads back as a report without the skipped fields).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CosimReport {
    pub bundle: String,
    pub sim: SimKind,
    pub engine: EngineParams,
    pub images: usize,
    pub bit_exact: bool,
    pub cycles_per_image: u64,
    pub predicted_per_image: u64,
    pub seconds: f64,
    /// Simulated engine cycles per second of wall time while tiles ran (Verilator only).
    pub sim_cycles_per_second: Option<f64>,
    /// The layers of the first image, or of the failing one.
    pub layers: Vec<LayerRun>,
    pub mismatch: Option<String>,
    /// The first mismatch in full.
    #[serde(skip)]
    pub first_mismatch: Option<Mismatch>,
    /// Engine cycles and wall seconds while tiles ran, when the back end measures them.
    #[serde(skip)]
    pub speed: Option<(u64, f64)>,
    /// The VCD trace of the failing tile, when one was asked for and written.
    #[serde(skip)]
    pub vcd: Option<PathBuf>,
}

/// The bundle's golden vectors and how many images to run.
fn golden_images<'b>(
    dir: &Path,
    b: &'b Bundle,
    images: Option<usize>,
) -> Result<(&'b Golden, usize)> {
    let g = b.golden.as_ref().ok_or_else(|| Error::NoGolden {
        bundle: dir.to_path_buf(),
    })?;
    let n = images.unwrap_or(g.count());
    if n == 0 || n > g.count() {
        return Err(Error::Invalid {
            field: "images".into(),
            expected: format!("1..={} (golden images in the bundle)", g.count()),
            found: n.to_string(),
        });
    }
    Ok((g, n))
}

/// The golden outputs of image `i`, one `[1, C, H, W]` view per layer.
fn golden_of(g: &Golden, i: usize) -> Vec<ArrayView4<'_, i32>> {
    g.outputs
        .iter()
        .map(|o| o.slice(s![i..i + 1, .., .., ..]))
        .collect()
}

/// The Verilator build of the engine's Verilog, started.
fn verilator(
    params: EngineParams,
    trace: bool,
    progress: &dyn Progress,
) -> Result<VerilatorEngine> {
    let v = unibit_hw::configs::engine_verilog(params.bits, params.rows, params.cols)?;
    let e = VerilatorEngine::start(params, &v, trace, progress)?;
    if e.build_seconds > 0.0 {
        progress.line(&format!(
            "Verilator model built in {:.1} s (cached in {})",
            e.build_seconds,
            e.build_dir.display()
        ));
    }
    Ok(e)
}

fn backend(
    sim: SimKind,
    params: EngineParams,
    progress: &dyn Progress,
) -> Result<Box<dyn Backend>> {
    Ok(match sim {
        SimKind::Model => Box::new(EngineModel::new(params)),
        SimKind::Rusthdl => Box::new(RustHdl::new(params.bits, params.rows, params.cols)?),
        SimKind::Verilator => Box::new(verilator(params, false, progress)?),
    })
}

/// Images `0..n` until the first mismatch: the run to report (the first image's, or the
/// failing one's).
fn run_images(
    model: &QuantModel,
    info: &[TensorInfo],
    be: &mut dyn Backend,
    g: &Golden,
    n: usize,
    progress: &dyn Progress,
) -> Result<ImageRun> {
    progress.begin("cosim", Some(n as u64));
    let mut first: Option<ImageRun> = None;
    for i in 0..n {
        let image = g.input.slice(s![i..i + 1, .., .., ..]);
        let r = run_image(model, info, be, i, image, &golden_of(g, i));
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                progress.end();
                return Err(e);
            }
        };
        progress.advance(1);
        let stop = r.mismatch.is_some();
        if first.is_none() || stop {
            first = Some(r);
        }
        if stop {
            break;
        }
    }
    progress.end();
    Ok(first.expect("at least one image ran"))
}

/// `unibit cosim`: runs the golden images of the bundle in `dir` on an `rows`×`cols` engine
/// and compares every layer with the golden vectors. A mismatch is reported, not an error.
pub fn run_bundle(dir: &Path, o: &CosimOptions, progress: &dyn Progress) -> Result<CosimReport> {
    let b = bundle::read(dir)?;
    let (g, n) = golden_images(dir, &b, o.images)?;
    let params = unibit_hw::configs::engine_params(b.model.bits.get(), o.rows, o.cols)?;
    if o.vcd.is_some() && o.sim != SimKind::Verilator {
        return Err(Error::Invalid {
            field: "vcd".into(),
            expected: "the verilator back end (traces come from Verilator builds)".into(),
            found: o.sim.name().into(),
        });
    }
    // Refuse bundles the engine cannot take before building or simulating anything.
    check_model(&b.model, &EngineModel::new(params))?;
    let mut be = backend(o.sim, params, progress)?;
    let info = b.model.validate()?;
    let start = Instant::now();
    let r = run_images(&b.model, &info, be.as_mut(), g, n, progress)?;
    let seconds = start.elapsed().as_secs_f64();
    let speed = be.speed().filter(|(_, s)| *s > 0.0);
    let vcd = match (&o.vcd, &r.mismatch) {
        (Some(vcd), Some(m)) => {
            trace_mismatch(&b.model, params, m, g, vcd, progress)?;
            Some(vcd.clone())
        }
        _ => None,
    };
    Ok(CosimReport {
        bundle: dir.display().to_string(),
        sim: o.sim,
        engine: params,
        images: n,
        bit_exact: r.mismatch.is_none(),
        cycles_per_image: r.cycles,
        predicted_per_image: r.layers.iter().map(|l| l.predicted).sum(),
        seconds,
        sim_cycles_per_second: speed.map(|(c, s)| c as f64 / s),
        mismatch: r.mismatch.as_ref().map(|m| m.to_string()),
        first_mismatch: r.mismatch,
        layers: r.layers,
        speed,
        vcd,
    })
}

/// The model cut after its first `n` layers.
fn first_layers(model: &QuantModel, n: usize) -> QuantModel {
    let mut sub = model.clone();
    sub.graph.nodes.truncate(n);
    sub.params.truncate(n);
    sub.scales.truncate(n);
    sub
}

/// Re-runs the failing image on a tracing build and dumps only the failing tile into `vcd`.
fn trace_mismatch(
    model: &QuantModel,
    params: EngineParams,
    m: &Mismatch,
    g: &Golden,
    vcd: &Path,
    progress: &dyn Progress,
) -> Result<()> {
    let tile = m.tile.ok_or(Error::NoTileToTrace)?;
    let info = model.validate()?;
    let layer = model
        .graph
        .index_of(&m.layer)
        .expect("a mismatch names a layer of the model");
    let i = m.image;
    let golden = golden_of(g, i);
    let image = g.input.slice(s![i..i + 1, .., .., ..]);
    // Count the tiles before the failing layer, then trace the failing one.
    let mut be = verilator(params, true, progress)?;
    if layer > 0 {
        let upto = first_layers(model, layer);
        run_image(&upto, &info[..layer], &mut be, i, image, &golden)?;
    }
    let before = be.runs();
    let mut be = verilator(params, true, progress)?;
    if let Some(dir) = vcd.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(Error::io("creating", dir))?;
    }
    let path = std::path::absolute(vcd).map_err(Error::io("resolving", vcd))?;
    be.trace_tile(before + tile as u64, path);
    let upto = first_layers(model, layer + 1);
    run_image(&upto, &info[..=layer], &mut be, i, image, &golden)?;
    Ok(())
}
