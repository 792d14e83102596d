//! `unibit cost`: predicted cycles of a bundle on an R×C bit-serial array (the tile engine's
//! real timing: what cosimulation counts), or a results table's `cycles` recomputed.

use super::table::Table;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use unibit_core::cost::{bundle_cost, recompute_record_cycles, ModelCost};
use unibit_core::family::DEFAULT_CHANNEL_MULTIPLE;

#[derive(Args)]
pub struct CostArgs {
    /// Bundle directory.
    #[arg(required_unless_present = "records")]
    pub bundle: Option<PathBuf>,
    /// Instead of a bundle: a results table (results.jsonl) whose records' `cycles` are
    /// recomputed with the current cost model and written to --out.
    #[arg(long, conflicts_with = "bundle", requires = "out")]
    pub records: Option<PathBuf>,
    /// The recomputed table (with --records; not the input itself).
    #[arg(long, requires = "records")]
    pub out: Option<PathBuf>,
    /// The channel multiple the records' models were built with (their sweep plan's).
    #[arg(long, default_value_t = DEFAULT_CHANNEL_MULTIPLE, requires = "records")]
    pub channel_multiple: usize,
    /// Array rows R (output channels in parallel).
    #[arg(long, default_value_t = 8, value_parser = super::args::array_side)]
    pub rows: usize,
    /// Array lanes C (reduction elements in parallel).
    #[arg(long, default_value_t = 8, value_parser = super::args::array_side)]
    pub cols: usize,
    /// Clock frequency in MHz for the time column.
    #[arg(long, default_value_t = 24.0, value_parser = super::args::positive_f64)]
    pub freq: f64,
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
    let c = bundle_cost(bundle, a.rows, a.cols)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&c)?);
    } else {
        print_cost(bundle, &a, &c);
    }
    Ok(())
}

fn print_cost(bundle: &std::path::Path, a: &CostArgs, c: &ModelCost) {
    println!(
        "{} on a {}×{} array at B = {} ({} MHz)",
        bundle.display(),
        a.rows,
        a.cols,
        c.engine.bits,
        a.freq
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
        c.cycles as f64 / (a.freq * 1e3),
        a.freq,
        c.macs,
        100.0 * c.utilization
    );
}
