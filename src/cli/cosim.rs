//! `unibit cosim`: a bundle on the simulated engine, every layer compared with its golden vectors.
//! `--engine net` (default): whole images on the whole-network engine; `--engine tile`: the
//! tile coprocessor (debug mode: the host lowers convs to GEMM tiles, runs adds and pools).

use super::args::Engine;
use super::table::Table;
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use unibit_sim::cosim::{run_bundle, CosimOptions, CosimReport};
use unibit_sim::net::{run_net_bundle, BitFlip, NetCosimReport, NetOptions, NetSimKind};

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
    /// Which engine: the whole-network engine or the tile coprocessor.
    #[arg(long, value_enum, default_value_t = Engine::Net)]
    pub engine: Engine,
    /// Array rows R (tile engine; the whole-network engine is 8×8) [default: 8].
    #[arg(long, value_parser = super::args::array_side)]
    pub rows: Option<usize>,
    /// Array lanes C (tile engine; the whole-network engine is 8×8) [default: 8].
    #[arg(long, value_parser = super::args::array_side)]
    pub cols: Option<usize>,
    /// Simulator back end (`model`: tile engine only).
    #[arg(long, value_enum, default_value_t = SimKind::Verilator)]
    pub sim: SimKind,
    /// Build the whole-network engine for B bits (default: the bundle's B; another B is refused).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=8))]
    pub bits: Option<u8>,
    /// Whole-network engine: check the final buffers (logits) only, no per-layer read-back.
    #[arg(long)]
    pub logits_only: bool,
    /// Whole-network engine, debug: flip bit BIT of main word WORD of the resident image
    /// written to the engine (not the reference's), as WORD:BIT, to see how a fault is reported.
    #[arg(long, value_name = "WORD:BIT", value_parser = parse_flip)]
    pub flip_bit: Option<BitFlip>,
    /// Golden images to run (default: all in the bundle).
    #[arg(long, value_parser = super::args::count_at_least_1)]
    pub images: Option<usize>,
    /// Write the summary JSON here (default: BUNDLE/cosim-net-<sim>.json, tile engine:
    /// BUNDLE/cosim-<sim>-<R>x<C>.json).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Tile engine: on a mismatch, re-run the failing image with a VCD trace into FILE
    /// (Verilator only).
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

fn parse_flip(s: &str) -> Result<BitFlip, String> {
    let bad = || format!("expected WORD:BIT (bit 0..=63), found {s:?}");
    let (w, b) = s.split_once(':').ok_or_else(bad)?;
    let word = w.trim().parse().map_err(|_| bad())?;
    let bit = b.trim().parse().map_err(|_| bad())?;
    if bit > 63 {
        return Err(bad());
    }
    Ok(BitFlip { word, bit })
}

pub fn cosim(a: CosimArgs) -> Result<()> {
    check_outputs(&a)?;
    match a.engine {
        Engine::Net => cosim_net(a),
        Engine::Tile => cosim_tile(a),
    }
}

/// `--engine net`.
fn cosim_net(a: CosimArgs) -> Result<()> {
    for (flag, v) in [("--rows", a.rows), ("--cols", a.cols)] {
        if v.is_some_and(|v| v != 8) {
            bail!("{flag}: the whole-network engine is the UP5K build, 8×8 (use --engine tile for other arrays)");
        }
    }
    let sim = match a.sim {
        SimKind::Verilator => NetSimKind::Verilator,
        SimKind::Rusthdl => NetSimKind::Rusthdl,
        SimKind::Model => bail!(
            "--sim model: the whole-network engine's model is the reference it is checked against; use --sim verilator or rusthdl (or --engine tile)"
        ),
    };
    if a.vcd.is_some() {
        bail!("--vcd: waveforms are for the tile engine (--engine tile)");
    }
    let opts = NetOptions {
        sim,
        images: a.images,
        bits: a.bits,
        per_layer: !a.logits_only,
        flip: a.flip_bit,
    };
    let r = run_net_bundle(&a.bundle, &opts, &super::progress::Bars::new(false))?;
    print_net_layers(&r);
    let json_path = a
        .json
        .clone()
        .unwrap_or_else(|| a.bundle.join(format!("cosim-net-{}.json", sim.name())));
    super::write_atomic(&json_path, serde_json::to_string_pretty(&r)?.as_bytes())?;
    match &r.mismatch {
        None => {
            println!(
                "bit-exact: {} image(s) on the whole-network engine ({}, B = {}, {}×{}), {} — engine counter {} cycles/image = engine::cycles {}; {} run(s) per image, {:.2} s; summary {}",
                r.images,
                sim.name(),
                r.bits,
                r.rows,
                r.cols,
                if a.logits_only { "logits equal the golden vectors" } else { "logits and every layer's buffer equal the golden vectors and the machine" },
                r.cycles_per_image.unwrap_or(0),
                r.predicted_per_image,
                r.runs_per_image,
                r.seconds,
                json_path.display()
            );
            if let Some(s) = r.sim_cycles_per_second {
                println!(
                    "simulator speed: {:.2} M engine cycles/s while the engine ran",
                    s / 1e6
                );
            }
            Ok(())
        }
        Some(m) => bail!(
            "cosimulation MISMATCH: {m} (summary {})",
            json_path.display()
        ),
    }
}

/// The per-layer table of the whole-network engine.
fn print_net_layers(r: &NetCosimReport) {
    let mut t = Table::new(&[
        "record",
        "layer",
        "op",
        "first cycle",
        "cycles",
        "engine at end",
        "read after",
        "match",
    ]);
    for l in &r.layers {
        t.row(vec![
            l.record.to_string(),
            l.name.clone(),
            l.op.clone(),
            l.first_cycle.to_string(),
            l.cycles.to_string(),
            l.engine_end.map_or(String::new(), |c| c.to_string()),
            l.read_after.map_or("—".into(), |k| k.to_string()),
            match l.matches {
                Some(true) => "✓",
                Some(false) => "✗ MISMATCH",
                None => "",
            }
            .into(),
        ]);
    }
    t.print();
}

/// `--engine tile`.
fn cosim_tile(a: CosimArgs) -> Result<()> {
    if a.vcd.is_some() && a.sim != SimKind::Verilator {
        bail!("--vcd needs --sim verilator");
    }
    for (flag, set) in [
        ("--bits", a.bits.is_some()),
        ("--logits-only", a.logits_only),
        ("--flip-bit", a.flip_bit.is_some()),
    ] {
        if set {
            bail!("{flag} is for the whole-network engine (--engine net)");
        }
    }
    let (rows, cols) = (a.rows.unwrap_or(8), a.cols.unwrap_or(8));
    let opts = CosimOptions {
        rows,
        cols,
        sim: a.sim.into(),
        images: a.images,
        vcd: a.vcd.clone(),
    };
    let r = run_bundle(&a.bundle, &opts, &super::progress::Bars::new(false))?;
    print_layers(&r);
    let json_path = a.json.clone().unwrap_or_else(|| {
        a.bundle
            .join(format!("cosim-{}-{}x{}.json", opts.sim.name(), rows, cols))
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
                rows,
                cols,
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
