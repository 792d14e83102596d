//! `unibit inspect`: a bundle's arithmetic, layers, size, accuracy and golden vectors.

use super::progress::Bars;
use super::table::Table;
use anyhow::{bail, Result};
use clap::Args;
use std::path::{Path, PathBuf};
use unibit_core::bundle::{self, GoldenCheck, Inspection, LayerEntry};
use unibit_core::size::format_bits;
use unibit_core::{NodeParams, Op};

#[derive(Args)]
pub struct InspectArgs {
    /// Bundle directory.
    pub bundle: PathBuf,
    /// Re-run the integer reference on the golden inputs and compare every layer.
    #[arg(long)]
    pub verify: bool,
    /// Print the manifest as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn inspect(a: InspectArgs) -> Result<()> {
    let i = bundle::inspect(&a.bundle, a.verify, &Bars::new(false))?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&i.manifest)?);
    } else {
        print_bundle(&a.bundle, &i);
    }
    match &i.golden_check {
        None => {}
        Some(GoldenCheck::NoGolden) => bail!("--verify: the bundle has no golden vectors"),
        Some(GoldenCheck::Checked(g)) => match &g.mismatch {
            Some(m) => bail!("{m}"),
            None => println!(
                "  verified  the reference reproduces all {} layers' golden outputs bit for bit",
                g.layers
            ),
        },
    }
    Ok(())
}

fn print_bundle(dir: &Path, i: &Inspection) {
    let (b, man) = (&i.bundle, &i.manifest);
    println!("bundle {} (format v{})", dir.display(), man.version);
    println!(
        "  model     {} width {} ({}), B = {} for every conv/linear layer",
        b.info.family.map_or("custom".into(), |f| f.to_string()),
        b.info.width.map_or("?".into(), |w| format!("{w:.4}")),
        b.info.source,
        b.model.bits
    );
    println!(
        "  size      {} weights → {} weight bits + {} parameter bits = {} ({})",
        man.size.weights,
        man.size.weight_bits,
        man.size.param_bits,
        man.size.total_bits,
        format_bits(man.size.total_bits)
    );
    println!(
        "  input     {:?} u8, scale {:.6}",
        man.input.shape, man.input.scale
    );
    let mut t = Table::new(&["#", "layer", "op", "inputs", "output", "kind", "params"]);
    for (k, l) in man.layers.iter().enumerate() {
        t.row(vec![
            k.to_string(),
            l.node.name.clone(),
            op_cell(&l.node.op),
            l.node.inputs.join(","),
            format!("{:?}", l.output.shape),
            format!("{:?}", l.output.kind).to_lowercase(),
            params_cell(l, &b.model.params[k]),
        ]);
    }
    t.print();
    let acc = &b.accuracy;
    let pct = |v: Option<f64>| v.map_or("—".into(), |v| format!("{:.2}%", 100.0 * v));
    println!(
        "  accuracy  float {} · fake-quant {} · integer {}{}",
        pct(acc.float),
        pct(acc.fake_quant),
        pct(acc.integer),
        acc.images
            .map_or(String::new(), |n| format!(" ({n} images)"))
    );
    match &b.golden {
        Some(g) => println!(
            "  golden    {} images, every layer's output in golden/",
            g.count()
        ),
        None => println!("  golden    none"),
    }
}

/// "conv 3×3/2", "dwconv 3×3/1", or the op's kind.
fn op_cell(op: &Op) -> String {
    match *op {
        Op::Conv2d {
            kernel,
            stride,
            groups,
            ..
        } => format!(
            "{} {kernel}×{kernel}/{stride}",
            if groups > 1 { "dwconv" } else { "conv" }
        ),
        ref o => o.kind_name().to_string(),
    }
}

/// Weight shape and shift range, add multipliers, or pool requantizer.
fn params_cell(l: &LayerEntry, params: &NodeParams) -> String {
    match params {
        NodeParams::Weighted { requant, .. } => {
            let ws = l.node.op.weight_shape().expect("weighted layer");
            let shifts = requant.iter().map(|r| r.shift);
            let s = match (shifts.clone().min(), shifts.max()) {
                (Some(lo), Some(hi)) => format!(", shift {lo}..{hi}"),
                _ => ", raw i32".into(),
            };
            format!("{ws:?}{s}")
        }
        NodeParams::Add { ma, mb, shift } => format!("ma {ma} mb {mb} >> {shift}"),
        NodeParams::Pool { requant } => format!("× {} >> {}", requant.multiplier, requant.shift),
        _ => String::new(),
    }
}
