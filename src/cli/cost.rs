//! `unibit cost`: predicted cycles of a bundle — on the whole-network engine of a board
//! (`--engine net`, the default: the compiled program's cycles, what `cosim` and the board's
//! counter measure) or on an R×C tile coprocessor (`--engine tile`, what `cosim --engine tile`
//! counts) — or a results table's tile `cycles` recomputed.

use super::args::Engine;
use super::table::Table;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use unibit_core::cost::{bundle_cost, recompute_record_cycles, ModelCost};
use unibit_core::engine::CycleReport;
use unibit_core::family::DEFAULT_CHANNEL_MULTIPLE;

#[derive(Args)]
pub struct CostArgs {
    /// Bundle directory.
    #[arg(required_unless_present = "records")]
    pub bundle: Option<PathBuf>,
    /// Which engine: the whole-network engine (the compiled program) or the tile coprocessor.
    #[arg(long, value_enum, default_value_t = Engine::Net)]
    pub engine: Engine,
    /// The board whose whole-network engine runs the program (--engine net).
    #[arg(long, default_value = "icebreaker", conflicts_with = "records",
          value_parser = clap::builder::PossibleValuesParser::new(unibit_board::target::BOARDS))]
    pub board: String,
    /// Instead of a bundle: a results table (results.jsonl) whose records' tile-engine `cycles`
    /// are recomputed with the current cost model and written to --out.
    #[arg(long, conflicts_with = "bundle", requires = "out")]
    pub records: Option<PathBuf>,
    /// The recomputed table (with --records; not the input itself).
    #[arg(long, requires = "records")]
    pub out: Option<PathBuf>,
    /// The channel multiple the records' models were built with (their sweep plan's).
    #[arg(long, default_value_t = DEFAULT_CHANNEL_MULTIPLE, requires = "records")]
    pub channel_multiple: usize,
    /// Array rows R (output channels in parallel) [default: the board's; tile: 8].
    #[arg(long, value_parser = super::args::array_side)]
    pub rows: Option<usize>,
    /// Array lanes C (reduction elements in parallel) [default: the board's; tile: 8].
    #[arg(long, value_parser = super::args::array_side)]
    pub cols: Option<usize>,
    /// Clock frequency in MHz for the time column [default: the board's clock; tile: 24].
    #[arg(long, value_parser = super::args::positive_f64)]
    pub freq: Option<f64>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn cost(a: CostArgs) -> Result<()> {
    if let (Some(input), Some(out)) = (&a.records, &a.out) {
        let r = recompute_record_cycles(input, out, a.channel_multiple)?;
        println!(
            "{} records of {} → {}: {} cycle figures changed",
            r.records,
            r.input.display(),
            r.out.display(),
            r.changed.len()
        );
        return Ok(());
    }
    let bundle = a
        .bundle
        .as_deref()
        .expect("clap requires a bundle without --records");
    if a.engine == Engine::Net {
        let choice = unibit_board::compile::Choice {
            board: a.board.clone(),
            rows: a.rows,
            cols: a.cols,
        };
        let (_, r) = unibit_board::compile::compile_bundle(bundle, &choice)?;
        let mhz = a.freq.unwrap_or(r.clock_hz as f64 / 1e6);
        if a.json {
            println!("{}", serde_json::to_string_pretty(&r.cycles)?);
        } else {
            let clock = match a.freq {
                Some(_) => "--freq",
                None => "the board's target clock; --freq for the clock a bitstream met",
            };
            print_net(bundle, &a.board, r.bits, (mhz, clock), &r.cycles);
        }
        return Ok(());
    }
    let (rows, cols, mhz) = (
        a.rows.unwrap_or(8),
        a.cols.unwrap_or(8),
        a.freq.unwrap_or(24.0),
    );
    let c = bundle_cost(bundle, rows, cols)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&c)?);
    } else {
        print_cost(bundle, (rows, cols, mhz), &c);
    }
    Ok(())
}

/// The compiled program's cycles per record on the board's whole-network engine.
fn print_net(
    bundle: &std::path::Path,
    board: &str,
    bits: u8,
    (mhz, clock): (f64, &str),
    c: &CycleReport,
) {
    println!(
        "{} on the whole-network engine of {board} ({}×{} array, B = {bits}, {mhz} MHz: {clock})",
        bundle.display(),
        c.shape.rows,
        c.shape.cols,
    );
    print!("{}", c.table());
    println!(
        "total {} cycles per image ({:.2} ms, {:.1} images/s at {mhz} MHz) for {} MACs: {:.3} × the MAC bound",
        c.cycles,
        c.cycles as f64 / (mhz * 1e3),
        mhz * 1e6 / c.cycles as f64,
        c.macs,
        c.ratio
    );
}

fn print_cost(bundle: &std::path::Path, (rows, cols, mhz): (usize, usize, f64), c: &ModelCost) {
    println!(
        "{} on a {}×{} tile coprocessor at B = {} ({} MHz)",
        bundle.display(),
        rows,
        cols,
        c.engine.bits,
        mhz
    );
    let mut t = Table::new(&[
        "layer", "op", "M×K×N", "groups", "tiles", "MACs", "cycles", "util",
    ]);
    for l in &c.layers {
        t.row(vec![
            l.name.clone(),
            l.kind.clone(),
            format!("{}×{}×{}", l.m, l.k, l.n),
            l.groups.to_string(),
            l.tiles.to_string(),
            l.macs.to_string(),
            l.cycles.to_string(),
            format!("{:.0}%", 100.0 * l.utilization),
        ]);
    }
    t.print();
    println!(
        "total {} cycles ({:.2} ms at {} MHz) for {} MACs; utilization {:.1}% of the R·C/B peak",
        c.cycles,
        c.cycles as f64 / (mhz * 1e3),
        mhz,
        c.macs,
        100.0 * c.utilization
    );
}
