//! `unibit demo`: the whole flow, small and end to end, as named steps under one folder.

use super::flow::Flow;
use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;
use std::path::PathBuf;
use unibit_core::bundle;
use unibit_core::cost::{model_cost, EngineConfig};
use unibit_core::dataset::{self, Split};
use unibit_core::reference;
use unibit_core::size::{format_bits, parse_bits, width_for_budget};
use unibit_core::{Bits, Family, FamilyConfig};

#[derive(Args)]
pub struct DemoArgs {
    /// Output folder (one sub-folder per step; finished steps are reused).
    #[arg(long, default_value = "demo-out")]
    pub out: PathBuf,
    #[arg(long, default_value = "resnet8")]
    pub family: Family,
    /// The one weight bitwidth.
    #[arg(long, default_value = "2")]
    pub bits: Bits,
    /// Model-size budget.
    #[arg(long, default_value = "16KiB")]
    pub budget: String,
    /// Engine rows × lanes (sized for the iCEBreaker's UP5K).
    #[arg(long, default_value_t = 8)]
    pub rows: usize,
    #[arg(long, default_value_t = 8)]
    pub cols: usize,
    /// Golden images to cosimulate.
    #[arg(long, default_value_t = 2)]
    pub images: usize,
    /// Fashion-MNIST directory (default: $UNIBIT_DATA_DIR or /usr/share/datasets/fashion-mnist).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

pub fn demo(a: DemoArgs) -> Result<()> {
    let mut flow = Flow::new(&a.out, 4)?;
    let budget = parse_bits(&a.budget)?;
    // Channel counts in multiples of the array's rows: no idle rows in any tile.
    let base = FamilyConfig {
        channel_multiple: a.rows,
        ..FamilyConfig::fashion_mnist(a.family, 1.0)
    };
    let sol = width_for_budget(&base, a.bits, budget)?;
    let data_dir = dataset::data_dir(a.data_dir.as_deref());
    // Fail early, before any long step, if the dataset is missing.
    dataset::load(&data_dir, Split::Test)?;

    let bundle_dir = flow.dir("model").join("bundle");
    let params = json!({ "family": a.family, "bits": a.bits, "budget": budget, "width": sol.width,
                          "channel_multiple": base.channel_multiple, "source": "synthetic" });
    flow.step(
        "model",
        &format!(
            "{} at B = {} within {} → width {:.4} ({}); synthetic weights (trainer not yet wired into the demo)",
            a.family,
            a.bits,
            format_bits(budget),
            sol.width,
            format_bits(sol.size.total_bits)
        ),
        params,
        &["bundle/manifest.json"],
        |_| {
            super::core_cmds::bundle(super::core_cmds::BundleCmd::Example(super::core_cmds::ExampleArgs {
                family: super::core_cmds::FamilyArgs {
                    family: a.family,
                    channel_multiple: base.channel_multiple,
                },
                bits: a.bits,
                width: sol.width,
                out: bundle_dir.clone(),
                seed: 1,
                golden: a.images.max(1),
                data_dir: a.data_dir.clone(),
            }))?;
            Ok(json!({ "width": sol.width, "size_bits": sol.size.total_bits }))
        },
    )?;

    let b = bundle::read(&bundle_dir)?;
    flow.step(
        "infer",
        "integer accuracy of the bundle on the Fashion-MNIST test set (reference executor)",
        json!({ "bundle": sol.width, "bits": a.bits }),
        &["accuracy.json"],
        |dir| {
            let test = dataset::load(&data_dir, Split::Test)?;
            let out = reference::run_output(&b.model, test.images.view(), 16)?;
            let correct = reference::argmax(&out)
                .iter()
                .zip(&test.labels)
                .filter(|(p, l)| **p == **l as usize)
                .count();
            let acc = correct as f64 / test.len() as f64;
            let v = json!({ "integer_accuracy": acc, "images": test.len() });
            super::write_atomic(
                &dir.join("accuracy.json"),
                serde_json::to_string_pretty(&v)?.as_bytes(),
            )?;
            eprintln!(
                "      integer accuracy {:.2}% on {} test images",
                100.0 * acc,
                test.len()
            );
            Ok(v)
        },
    )?;

    flow.step(
        "cost",
        &format!("predicted cycles on a {}×{} array", a.rows, a.cols),
        json!({ "rows": a.rows, "cols": a.cols, "bits": a.bits, "width": sol.width }),
        &["cost.json"],
        |dir| {
            let c = model_cost(&b.model.graph, &EngineConfig::new(a.rows, a.cols, a.bits)?)?;
            super::write_atomic(
                &dir.join("cost.json"),
                serde_json::to_string_pretty(&c)?.as_bytes(),
            )?;
            Ok(json!({ "cycles": c.cycles, "utilization": c.utilization }))
        },
    )?;

    flow.step(
        "cosim",
        &format!("cosimulation of {} image(s) on the {}×{} engine, bit-exact check", a.images, a.rows, a.cols),
        json!({ "rows": a.rows, "cols": a.cols, "images": a.images, "width": sol.width, "bits": a.bits }),
        &["cosim.json"],
        |dir| {
            let json_path = dir.join("cosim.json");
            super::cosim::cosim(super::cosim::CosimArgs {
                bundle: bundle_dir.clone(),
                rows: a.rows,
                cols: a.cols,
                sim: super::cosim::SimKind::Verilator,
                images: Some(a.images),
                json: Some(json_path.clone()),
                vcd: None,
            })?;
            let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json_path)?)
                .with_context(|| format!("reading {}", json_path.display()))?;
            Ok(json!({ "bit_exact": v["bit_exact"], "cycles_per_image": v["cycles_per_image"] }))
        },
    )?;
    eprintln!("demo finished: outputs in {}", a.out.display());
    Ok(())
}
