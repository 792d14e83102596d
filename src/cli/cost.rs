//! `unibit cost`: predicted cycles of a bundle on an R×C bit-serial array.

use super::table::Table;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use unibit_core::cost::{bundle_cost, ModelCost};

#[derive(Args)]
pub struct CostArgs {
    /// Bundle directory.
    pub bundle: PathBuf,
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
    let c = bundle_cost(&a.bundle, a.rows, a.cols)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&c)?);
    } else {
        print_cost(&a, &c);
    }
    Ok(())
}

fn print_cost(a: &CostArgs, c: &ModelCost) {
    println!(
        "{} on a {}×{} array at B = {} ({} MHz)",
        a.bundle.display(),
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
