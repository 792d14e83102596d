//! `unibit cosim`: a bundle on the simulated engine, every layer compared with its golden vectors.

use super::table::Table;
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{s, ArrayView4};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;
use unibit_core::bundle;
use unibit_hw::model::{EngineModel, EngineParams};
use unibit_sim::backend::{Backend, RustHdl};
use unibit_sim::cosim::{check_model, run_image, ImageRun, LayerRun};
use unibit_sim::verilator::VerilatorEngine;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SimKind {
    /// Verilator build of the generated Verilog (whole networks; built once per configuration).
    Verilator,
    /// The rust-hdl simulation (slow; small networks).
    Rusthdl,
    /// The memory-level engine model (same memories and descriptors as the RTL; not RTL).
    Model,
}

#[derive(Args)]
pub struct CosimArgs {
    /// Bundle directory (with golden vectors).
    pub bundle: PathBuf,
    /// Array rows R.
    #[arg(long, default_value_t = 8)]
    pub rows: usize,
    /// Array lanes C.
    #[arg(long, default_value_t = 8)]
    pub cols: usize,
    /// Simulator back end.
    #[arg(long, value_enum, default_value_t = SimKind::Verilator)]
    pub sim: SimKind,
    /// Golden images to run (default: all in the bundle).
    #[arg(long)]
    pub images: Option<usize>,
    /// Write the summary JSON here (default: BUNDLE/cosim-<sim>-<R>x<C>.json).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// On a mismatch, re-run the failing image with a VCD trace into FILE (Verilator only).
    #[arg(long)]
    pub vcd: Option<PathBuf>,
}

#[derive(Serialize)]
struct Summary<'a> {
    bundle: String,
    sim: SimKind,
    engine: EngineParams,
    images: usize,
    bit_exact: bool,
    cycles_per_image: u64,
    predicted_per_image: u64,
    seconds: f64,
    /// Simulated engine cycles per second of wall time while tiles ran (Verilator only).
    sim_cycles_per_second: Option<f64>,
    layers: &'a [LayerRun],
    mismatch: Option<String>,
}

pub fn cosim(a: CosimArgs) -> Result<()> {
    let b = bundle::read(&a.bundle)?;
    let g = b.golden.as_ref().with_context(|| {
        format!(
            "{}: the bundle has no golden vectors to compare with",
            a.bundle.display()
        )
    })?;
    let n = a.images.unwrap_or(g.count());
    if n == 0 || n > g.count() {
        bail!(
            "--images: expected 1..={} (golden images in the bundle), got {n}",
            g.count()
        );
    }
    let bits = b.model.bits.get();
    let params =
        unibit_hw::configs::engine_params(bits, a.rows, a.cols).map_err(anyhow::Error::msg)?;
    if a.vcd.is_some() && a.sim != SimKind::Verilator {
        bail!("--vcd needs --sim verilator");
    }
    // Refuse bundles the engine cannot take before building or simulating anything.
    check_model(&b.model, &EngineModel::new(params))?;
    let mut be: Box<dyn Backend> = match a.sim {
        SimKind::Model => Box::new(EngineModel::new(params)),
        SimKind::Rusthdl => Box::new(RustHdl::new(bits, a.rows, a.cols)?),
        SimKind::Verilator => Box::new(verilator(params, false)?),
    };
    let info = b.model.validate()?;
    let pb = ProgressBar::new(n as u64).with_style(
        ProgressStyle::with_template("cosim {bar:30} {pos}/{len} images  {elapsed}").unwrap(),
    );
    let start = Instant::now();
    let mut first: Option<ImageRun> = None;
    let mut mismatch = None;
    for i in 0..n {
        let golden: Vec<ArrayView4<i32>> = g
            .outputs
            .iter()
            .map(|o| o.slice(s![i..i + 1, .., .., ..]))
            .collect();
        let r = run_image(
            &b.model,
            &info,
            be.as_mut(),
            i,
            g.input.slice(s![i..i + 1, .., .., ..]),
            &golden,
        )?;
        pb.inc(1);
        if let Some(m) = &r.mismatch {
            mismatch = Some(m.to_string());
        }
        let stop = r.mismatch.is_some();
        if first.is_none() || stop {
            first = Some(r);
        }
        if stop {
            break;
        }
    }
    pb.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    let speed = be.speed().filter(|(_, s)| *s > 0.0);
    let r = first.unwrap();
    let mut t = Table::new(&[
        "layer",
        "where",
        "tiles",
        "cycles",
        "predicted",
        "Δ",
        "match",
    ]);
    for l in &r.layers {
        let delta = if l.on_engine && l.predicted > 0 {
            format!(
                "{:+.1}%",
                100.0 * (l.cycles as f64 - l.predicted as f64) / l.predicted as f64
            )
        } else {
            String::new()
        };
        t.row(vec![
            l.name.clone(),
            if l.on_engine { "engine" } else { "host" }.into(),
            l.tiles.to_string(),
            l.cycles.to_string(),
            l.predicted.to_string(),
            delta,
            if l.matches { "✓" } else { "✗ MISMATCH" }.into(),
        ]);
    }
    t.print();
    let predicted: u64 = r.layers.iter().map(|l| l.predicted).sum();
    let summary = Summary {
        bundle: a.bundle.display().to_string(),
        sim: a.sim,
        engine: params,
        images: n,
        bit_exact: mismatch.is_none(),
        cycles_per_image: r.cycles,
        predicted_per_image: predicted,
        seconds: secs,
        sim_cycles_per_second: speed.map(|(c, s)| c as f64 / s),
        layers: &r.layers,
        mismatch: mismatch.clone(),
    };
    let json_path = a.json.clone().unwrap_or_else(|| {
        a.bundle.join(format!(
            "cosim-{}-{}x{}.json",
            serde_json::to_value(a.sim).unwrap().as_str().unwrap(),
            a.rows,
            a.cols
        ))
    });
    super::write_atomic(
        &json_path,
        serde_json::to_string_pretty(&summary)?.as_bytes(),
    )?;
    match mismatch {
        None => {
            println!(
                "bit-exact: {n} image(s), every layer equals the golden vectors — {} cycles/image (cost model {}), {:.2} s on {:?} ({}×{}, B = {}); summary {}",
                r.cycles,
                predicted,
                secs,
                a.sim,
                a.rows,
                a.cols,
                b.model.bits,
                json_path.display()
            );
            if let Some((c, s)) = speed {
                println!(
                    "simulator speed: {:.2} M engine cycles/s while tiles ran ({c} cycles in {s:.2} s; the rest is lowering and host I/O)",
                    c as f64 / s / 1e6
                );
            }
            Ok(())
        }
        Some(m) => {
            if let (Some(vcd), Some(run)) = (&a.vcd, &r.mismatch) {
                trace_mismatch(&b.model, params, run, g, vcd)?;
                eprintln!("waveform of the failing tile: {}", vcd.display());
            }
            bail!(
                "cosimulation MISMATCH: {m} (summary {})",
                json_path.display()
            )
        }
    }
}

fn verilator(params: EngineParams, trace: bool) -> Result<VerilatorEngine> {
    let v = unibit_hw::configs::engine_verilog(params.bits, params.rows, params.cols)
        .map_err(anyhow::Error::msg)?;
    let e = VerilatorEngine::start(params, &v, trace, |m| eprintln!("{m}"))?;
    if e.build_seconds > 0.0 {
        eprintln!(
            "Verilator model built in {:.1} s (cached in {})",
            e.build_seconds,
            e.build_dir.display()
        );
    }
    Ok(e)
}

/// Re-run the failing image on a tracing build and dump only the failing tile into `vcd`.
fn trace_mismatch(
    model: &unibit_core::QuantModel,
    params: EngineParams,
    m: &unibit_sim::cosim::Mismatch,
    g: &unibit_core::bundle::Golden,
    vcd: &std::path::Path,
) -> Result<()> {
    let tile = m
        .tile
        .context("the mismatch is in a host step: no engine tile to trace")?;
    let info = model.validate()?;
    let layer = model.graph.index_of(&m.layer).context("mismatch layer")?;
    let i = m.image;
    let golden: Vec<ArrayView4<i32>> = g
        .outputs
        .iter()
        .map(|o| o.slice(s![i..i + 1, .., .., ..]))
        .collect();
    let upto = |n: usize| {
        let mut sub = model.clone();
        sub.graph.nodes.truncate(n);
        sub.params.truncate(n);
        sub.scales.truncate(n);
        sub
    };
    let image = g.input.slice(s![i..i + 1, .., .., ..]);
    // Count the tiles before the failing layer, then trace the failing one.
    let mut be = verilator(params, true)?;
    if layer > 0 {
        run_image(&upto(layer), &info[..layer], &mut be, i, image, &golden)?;
    }
    let before = be.runs();
    let mut be = verilator(params, true)?;
    if let Some(dir) = vcd.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    be.trace_tile(before + tile as u64, std::path::absolute(vcd)?);
    run_image(
        &upto(layer + 1),
        &info[..=layer],
        &mut be,
        i,
        image,
        &golden,
    )?;
    Ok(())
}
