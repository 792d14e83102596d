//! `unibit size`: model size of a family at a bitwidth, the width that fits a budget (under
//! either size accounting) or a board's memories, and the per-channel parameter table.

use super::family::FamilyArgs;
use super::table::Table;
use anyhow::{bail, Result};
use clap::Args;
use std::path::{Path, PathBuf};
use unibit_core::family::FamilyConfig;
use unibit_core::size::lean::{bundle_lean, BundleLean};
use unibit_core::size::{
    board_report, format_bits, params_table, parse_bits, size_report, BoardReport, ParamsRow,
    SizeAccounting, SizeReport, SizeTarget,
};
use unibit_core::{Bits, Family};

#[derive(Args)]
pub struct SizeArgs {
    #[command(flatten)]
    pub family: FamilyArgs,
    /// Weight bitwidth B (1..8) of every conv and linear layer.
    #[arg(long, required_unless_present_any = ["params_table", "lean_params"])]
    pub bits: Option<Bits>,
    /// Model-size budget (e.g. 64KiB, 500kbit): solve for the largest width that fits.
    #[arg(long, conflicts_with_all = ["width", "board", "params_table"])]
    pub budget: Option<String>,
    /// Width multiplier (instead of a budget).
    #[arg(long, value_parser = super::args::positive_f64, conflicts_with_all = ["board", "params_table"])]
    pub width: Option<f64>,
    /// The board as the budget (icebreaker or ulx3s-25f): the largest width whose weights,
    /// parameters and activation buffers fit the engine's memories on that chip.
    #[arg(long, conflicts_with = "params_table")]
    pub board: Option<String>,
    /// What --budget counts: weights (Σ B × weights, the research's size) or engine (weights
    /// + the per-channel parameters the engine stores).
    #[arg(long, default_value = "engine", conflicts_with = "board")]
    pub size_accounting: SizeAccounting,
    /// The share of 16/32/64 KiB budgets that per-channel parameters take, for resnet20,
    /// mobilenetv2, resnet8 and vgg-small at B = 1, 2, 4, 8, under both accountings.
    #[arg(long, conflicts_with = "lean_params")]
    pub params_table: bool,
    /// A bundle: its parameters in today's format and the leanest exact one (15-bit
    /// multipliers, 6-bit shifts, a bias width and, where exact, a shift per layer), and both
    /// run on its golden inputs and --test-images test images, every node's output compared.
    #[arg(long, conflicts_with_all = ["budget", "width", "board", "bits"])]
    pub lean_params: Option<PathBuf>,
    /// --lean-params: Fashion-MNIST test images to compare on (0: the golden inputs only).
    #[arg(long, default_value_t = 1000)]
    pub test_images: usize,
    /// --lean-params: Fashion-MNIST directory (default: $UNIBIT_DATA_DIR or /usr/share/datasets/fashion-mnist).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// The families, bitwidths and budgets of `--params-table`.
pub const TABLE_FAMILIES: [&str; 4] = ["resnet20", "mobilenetv2", "resnet8", "vgg-small"];
pub const TABLE_BITS: [u8; 4] = [1, 2, 4, 8];
pub const TABLE_KIB: [u64; 3] = [16, 32, 64];

pub fn size(a: SizeArgs) -> Result<()> {
    if let Some(bundle) = &a.lean_params {
        let r = bundle_lean(bundle, a.data_dir.as_deref(), a.test_images)?;
        if a.json {
            println!("{}", serde_json::to_string_pretty(&r)?);
        } else {
            print_lean(bundle, &r);
        }
        if !r.outputs.identical() {
            bail!(
                "the lean format changes the output of {}",
                r.outputs.first_difference.as_deref().unwrap_or("?")
            );
        }
        return Ok(());
    }
    if a.params_table {
        let bases = TABLE_FAMILIES
            .iter()
            .map(|f| {
                Ok(FamilyConfig {
                    channel_multiple: a.family.channel_multiple,
                    ..FamilyConfig::fashion_mnist(f.parse::<Family>()?, 1.0)
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let bits = TABLE_BITS
            .iter()
            .map(|&b| Bits::new(b).map_err(anyhow::Error::msg))
            .collect::<Result<Vec<_>>>()?;
        let budgets: Vec<u64> = TABLE_KIB.iter().map(|k| k * 8192).collect();
        let rows = params_table(&bases, &bits, &budgets)?;
        if a.json {
            println!("{}", serde_json::to_string_pretty(&rows)?);
        } else {
            print_params(&rows);
        }
        return Ok(());
    }
    let Some(bits) = a.bits else {
        bail!("--bits B is required");
    };
    if let Some(board) = &a.board {
        let r = board_report(&a.family.config(1.0), bits, board)?;
        if a.json {
            println!("{}", serde_json::to_string_pretty(&r)?);
        } else {
            print_board(&r);
        }
        return Ok(());
    }
    let target = match (&a.budget, a.width) {
        (Some(b), _) => SizeTarget::Budget(parse_bits(b)?),
        (None, Some(w)) => SizeTarget::Width(w),
        (None, None) => bail!("give --budget SIZE, --width W or --board NAME"),
    };
    let r = size_report(&a.family.config(1.0), bits, target, a.size_accounting)?;
    if a.json {
        // Through a JSON value: keys sorted, as this command has always printed them.
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::to_value(&r)?)?
        );
    } else {
        print_size(&r);
    }
    Ok(())
}

fn print_size(r: &SizeReport) {
    println!(
        "{} at B = {} — width {:.4} (channels rounded to multiples of {})",
        r.family, r.bits, r.width, r.channel_multiple
    );
    let mut t = Table::new(&[
        "layer",
        "op",
        "weight shape",
        "weights",
        "weight bits",
        "param bits",
    ]);
    for l in &r.weight_layers {
        t.row(vec![
            l.size.name.clone(),
            l.op.into(),
            format!("{:?}", l.weight_shape),
            l.size.weights.to_string(),
            l.size.weight_bits.to_string(),
            l.size.param_bits.to_string(),
        ]);
    }
    t.print();
    let size = &r.size;
    println!(
        "weights {} × {} bits = {} bits; per-channel/tensor parameters {} bits; total {} bits ({})",
        size.weights,
        r.bits,
        size.weight_bits,
        size.param_bits,
        size.total_bits,
        format_bits(size.total_bits)
    );
    if let Some(b) = r.budget_bits {
        println!(
            "budget {} bits ({}, {} accounting: {}): {} bits, {:.1}% used",
            b,
            format_bits(b),
            r.size_accounting,
            r.size_accounting.describe(),
            r.size_bits,
            100.0 * r.size_bits as f64 / b as f64
        );
    }
}

fn print_board(r: &BoardReport) {
    let q = &r.requirements;
    let pct = |n: u64, of: u64| 100.0 * n as f64 / of.max(1) as f64;
    println!(
        "{} at B = {} on {} ({}×{} engine): largest width {:.4} (channels rounded to multiples of {})",
        r.family, r.bits, r.board, r.shape.rows, r.shape.cols, r.width, r.channel_multiple
    );
    let mut t = Table::new(&["memory", "part", "bytes", "% of memory"]);
    let main = q.main.available;
    for (part, bytes) in [
        ("program (descriptors)", q.program_bytes),
        ("weights and parameters", q.weight_bytes),
        ("activation buffers", q.activation_bytes),
    ] {
        t.row(vec![
            "main".into(),
            part.into(),
            bytes.to_string(),
            format!("{:.1}", pct(bytes, main)),
        ]);
    }
    t.row(vec![
        "main".into(),
        "total needed / available".into(),
        format!("{} / {main}", q.main.needed),
        format!("{:.1}", pct(q.main.needed, main)),
    ]);
    t.row(vec![
        "tile buffer".into(),
        "largest row tile / available".into(),
        format!("{} / {}", q.tile_buffer.needed, q.tile_buffer.available),
        format!("{:.1}", pct(q.tile_buffer.needed, q.tile_buffer.available)),
    ]);
    t.print();
    println!("main memory: {}", q.main.memory);
    println!("tile buffer: {}", q.tile_buffer.memory);
    let s = &r.size;
    println!(
        "model: {} weights × {} bits = {} bits + parameters {} bits = {} bits ({})",
        s.weights,
        r.bits,
        s.weight_bits,
        s.param_bits,
        s.total_bits,
        format_bits(s.total_bits)
    );
}

fn print_params(rows: &[ParamsRow]) {
    println!(
        "Per-channel and per-tensor parameters (bias 32 + multiplier 16 + shift 8 bits per \
         requantized output channel) against the budget:"
    );
    let mut t = Table::new(&[
        "family",
        "budget",
        "B",
        "engine: width",
        "engine: weights",
        "engine: params",
        "params % of budget",
        "weights: width",
        "weights: params",
        "params on top, % of budget",
    ]);
    let kib = |b: u64| format!("{:.1} KiB", b as f64 / 8192.0);
    for r in rows {
        let mut row = vec![r.family.to_string(), kib(r.budget_bits), r.bits.to_string()];
        match r.engine {
            Some(f) => row.extend([
                format!("{:.3}", f.width),
                kib(f.weight_bits),
                kib(f.param_bits),
                format!("{:.1}", 100.0 * r.engine_param_share().unwrap_or(0.0)),
            ]),
            None => row.extend(["does not fit".into(), "—".into(), "—".into(), "—".into()]),
        }
        match r.weights {
            Some(f) => row.extend([
                format!("{:.3}", f.width),
                kib(f.param_bits),
                format!("{:.1}", 100.0 * r.weights_param_overhead().unwrap_or(0.0)),
            ]),
            None => row.extend(["does not fit".into(), "—".into(), "—".into()]),
        }
        t.row(row);
    }
    t.print();
}

fn print_lean(bundle: &Path, r: &BundleLean) {
    let s = &r.study;
    println!(
        "{} (B = {}): per-channel parameters",
        bundle.display(),
        r.bits
    );
    let mut t = Table::new(&[
        "layer",
        "channels",
        "bias range",
        "bias bits",
        "shifts",
        "shared shift",
        "today bits",
        "lean bits",
    ]);
    for l in &s.layers {
        t.row(vec![
            l.name.clone(),
            l.channels.to_string(),
            format!("{}..={}", l.bias_min, l.bias_max),
            l.bias_bits.to_string(),
            if l.requantized {
                format!("{}..={}", l.shift_min, l.shift_max)
            } else {
                "raw output".into()
            },
            l.shared_shift.map_or("—".into(), |s| s.to_string()),
            l.today_bits.to_string(),
            l.lean_bits.to_string(),
        ]);
    }
    t.print();
    println!(
        "adds and pools: {} → {} bits; total {} → {} bits ({} → {}, −{:.1}%); {} of {} requantized layers share one shift exactly",
        s.per_tensor_today_bits,
        s.per_tensor_lean_bits,
        s.today_bits,
        s.lean_bits,
        format_bits(s.today_bits),
        format_bits(s.lean_bits),
        100.0 * (1.0 - s.lean_bits as f64 / s.today_bits.max(1) as f64),
        s.shared_shift_layers,
        s.requantized_layers
    );
    let o = &r.outputs;
    match &o.first_difference {
        None => println!(
            "lean format decoded and run on {} images: all {} integer outputs (every node) identical",
            o.images, o.values
        ),
        Some(n) => println!("lean format run on {} images: node {n} differs", o.images),
    }
}
