//! `unibit cosim`: a bundle on the simulated engine, every layer compared with its golden vectors.

use super::table::Table;
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use unibit_sim::cosim::{run_bundle, CosimOptions, CosimReport};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
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
    #[arg(long, default_value_t = 8, value_parser = super::args::array_side)]
    pub rows: usize,
    /// Array lanes C.
    #[arg(long, default_value_t = 8, value_parser = super::args::array_side)]
    pub cols: usize,
    /// Simulator back end.
    #[arg(long, value_enum, default_value_t = SimKind::Verilator)]
    pub sim: SimKind,
    /// Golden images to run (default: all in the bundle).
    #[arg(long, value_parser = super::args::count_at_least_1)]
    pub images: Option<usize>,
    /// Write the summary JSON here (default: BUNDLE/cosim-<sim>-<R>x<C>.json).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// On a mismatch, re-run the failing image with a VCD trace into FILE (Verilator only).
    #[arg(long)]
    pub vcd: Option<PathBuf>,
}

impl From<SimKind> for unibit_sim::cosim::SimKind {
    fn from(k: SimKind) -> Self {
        match k {
            SimKind::Verilator => Self::Verilator,
            SimKind::Rusthdl => Self::Rusthdl,
            SimKind::Model => Self::Model,
        }
    }
}

pub fn cosim(a: CosimArgs) -> Result<()> {
    if a.vcd.is_some() && a.sim != SimKind::Verilator {
        bail!("--vcd needs --sim verilator");
    }
    check_outputs(&a)?;
    let opts = CosimOptions {
        rows: a.rows,
        cols: a.cols,
        sim: a.sim.into(),
        images: a.images,
        vcd: a.vcd.clone(),
    };
    let r = run_bundle(&a.bundle, &opts, &super::progress::Bars::new(false))?;
    print_layers(&r);
    let json_path = a.json.clone().unwrap_or_else(|| {
        a.bundle.join(format!(
            "cosim-{}-{}x{}.json",
            opts.sim.name(),
            a.rows,
            a.cols
        ))
    });
    super::write_atomic(&json_path, serde_json::to_string_pretty(&r)?.as_bytes())?;
    match &r.mismatch {
        Some(_) if a.vcd.is_some() && !r.vcd.as_deref().is_some_and(|v| v.is_file()) => {
            bail!(
                "--vcd: no waveform was written (summary {})",
                json_path.display()
            )
        }
        None => {
            println!(
                "bit-exact: {} image(s), every layer equals the golden vectors — {} cycles/image (cost model {}), {:.2} s on {:?} ({}×{}, B = {}); summary {}",
                r.images,
                r.cycles_per_image,
                r.predicted_per_image,
                r.seconds,
                a.sim,
                a.rows,
                a.cols,
                r.engine.bits,
                json_path.display()
            );
            if let Some((c, s)) = r.speed {
                println!(
                    "simulator speed: {:.2} M engine cycles/s while tiles ran ({c} cycles in {s:.2} s; the rest is lowering and host I/O)",
                    c as f64 / s / 1e6
                );
            }
            Ok(())
        }
        Some(m) => {
            if let Some(vcd) = &r.vcd {
                eprintln!("waveform of the failing tile: {}", vcd.display());
            }
            bail!(
                "cosimulation MISMATCH: {m} (summary {})",
                json_path.display()
            )
        }
    }
}

/// Every output checked before the simulation starts: not over the bundle or one of its
/// files, not a directory, writable; and golden vectors there to run.
fn check_outputs(a: &CosimArgs) -> Result<()> {
    let manifest = a.bundle.join(unibit_core::bundle::MANIFEST);
    let weights = a.bundle.join("weights.safetensors");
    let golden = a.bundle.join("golden");
    let files = [manifest.as_path(), weights.as_path(), golden.as_path()];
    for (flag, path) in [("--json", &a.json), ("--vcd", &a.vcd)] {
        if let Some(p) = path {
            unibit_core::atomic::check_output_file(p, &files).with_context(|| flag.to_string())?;
        }
    }
    if let Ok(m) = unibit_core::bundle::read_manifest(&a.bundle) {
        if m.golden.as_ref().is_none_or(|g| g.count == 0) {
            bail!(
                "{}: no golden vectors to cosimulate (export it with --golden N, N ≥ 1)",
                a.bundle.display()
            );
        }
    }
    Ok(())
}

/// The per-layer table: cycles on the engine against the cost model, and the comparison.
fn print_layers(r: &CosimReport) {
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
}
