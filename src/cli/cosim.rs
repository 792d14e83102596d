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
use unibit_sim::backend::Backend;
use unibit_sim::cosim::{check_model, run_image, ImageRun, LayerRun};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SimKind {
    /// The memory-level engine model (fast; same memories and descriptors as the RTL).
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
    #[arg(long, value_enum, default_value_t = SimKind::Model)]
    pub sim: SimKind,
    /// Golden images to run (default: all in the bundle).
    #[arg(long)]
    pub images: Option<usize>,
    /// Write the summary JSON here (default: BUNDLE/cosim-<sim>-<R>x<C>.json).
    #[arg(long)]
    pub json: Option<PathBuf>,
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
    layers: &'a [LayerRun],
    mismatch: Option<String>,
}

/// Engine memories deep enough for every layer of `model` (what `hw verilog` would be asked for).
pub fn engine_params_for(
    model: &unibit_core::QuantModel,
    rows: usize,
    cols: usize,
) -> Result<EngineParams> {
    if !rows.is_power_of_two() || !cols.is_power_of_two() || cols < 2 {
        bail!("--rows and --cols: expected powers of two (cols ≥ 2), got {rows}×{cols}");
    }
    let b = model.bits.get() as usize;
    let max_k = model
        .graph
        .weight_layers()
        .map(|n| n.op.reduction().unwrap())
        .max()
        .unwrap_or(1);
    let w_words = max_k.div_ceil(cols) * b;
    let log2 = |n: usize| (n.max(2) as u64).next_power_of_two().trailing_zeros();
    Ok(EngineParams {
        bits: model.bits.get(),
        rows,
        cols,
        w_addr_bits: log2(w_words),
        a_addr_bits: 12,
        o_addr_bits: 12,
        p_addr_bits: log2(rows),
    })
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
    let params = engine_params_for(&b.model, a.rows, a.cols)?;
    let mut be: Box<dyn Backend> = match a.sim {
        SimKind::Model => Box::new(EngineModel::new(params)),
    };
    check_model(&b.model, be.as_ref())?;
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
            Ok(())
        }
        Some(m) => bail!(
            "cosimulation MISMATCH: {m} (summary {})",
            json_path.display()
        ),
    }
}
