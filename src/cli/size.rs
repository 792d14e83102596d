//! `unibit size`: model size of a family at a bitwidth, and the width that fits a budget.

use super::family::FamilyArgs;
use super::table::Table;
use anyhow::{bail, Result};
use clap::Args;
use unibit_core::size::{format_bits, parse_bits, size_report, SizeReport, SizeTarget};
use unibit_core::Bits;

#[derive(Args)]
pub struct SizeArgs {
    #[command(flatten)]
    pub family: FamilyArgs,
    /// Weight bitwidth B (1..8) of every conv and linear layer.
    #[arg(long)]
    pub bits: Bits,
    /// Model-size budget (e.g. 64KiB, 500kbit): solve for the largest width that fits.
    #[arg(long, conflicts_with = "width", required_unless_present = "width")]
    pub budget: Option<String>,
    /// Width multiplier (instead of a budget).
    #[arg(long, value_parser = super::args::positive_f64)]
    pub width: Option<f64>,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

pub fn size(a: SizeArgs) -> Result<()> {
    let target = match (&a.budget, a.width) {
        (Some(b), _) => SizeTarget::Budget(parse_bits(b)?),
        (None, Some(w)) => SizeTarget::Width(w),
        (None, None) => bail!("give --budget SIZE or --width W"),
    };
    let r = size_report(&a.family.config(1.0), a.bits, target)?;
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
            "budget {} bits ({}): {:.1}% used",
            b,
            format_bits(b),
            100.0 * size.total_bits as f64 / b as f64
        );
    }
}
