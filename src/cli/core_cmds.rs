//! Subcommands backed by unibit-core: size, bundle example, inspect, infer, cost, bench.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::time::Instant;
use unibit_core::bundle::{self, Accuracy, Bundle, Golden, ModelInfo};
use unibit_core::cost::{model_cost, EngineConfig};
use unibit_core::dataset::{self, Split};
use unibit_core::reference;
use unibit_core::size::{format_bits, model_size, parse_bits, width_for_budget};
use unibit_core::synthetic::{synthetic_images, synthetic_model};
use unibit_core::{Bits, Family, FamilyConfig, Op};

use super::table::Table;

#[derive(Args)]
pub struct FamilyArgs {
    /// Model family: resnet20 (any resnet<6n+2>), vgg-small, mobilenetv2.
    #[arg(long, default_value = "resnet20")]
    pub family: Family,
    /// Channel counts are rounded to a multiple of this.
    #[arg(long, default_value_t = unibit_core::family::DEFAULT_CHANNEL_MULTIPLE)]
    pub channel_multiple: usize,
}

impl FamilyArgs {
    pub fn config(&self, width: f64) -> FamilyConfig {
        FamilyConfig {
            channel_multiple: self.channel_multiple,
            ..FamilyConfig::fashion_mnist(self.family, width)
        }
    }
}

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
    #[arg(long)]
    pub width: Option<f64>,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

pub fn size(a: SizeArgs) -> Result<()> {
    let (cfg, budget) = match (&a.budget, a.width) {
        (Some(b), _) => {
            let budget = parse_bits(b)?;
            let sol = width_for_budget(&a.family.config(1.0), a.bits, budget)?;
            (a.family.config(sol.width), Some(budget))
        }
        (None, Some(w)) => (a.family.config(w), None),
        (None, None) => bail!("give --budget SIZE or --width W"),
    };
    let graph = cfg.build()?;
    let size = model_size(&graph, |_| a.bits)?;
    if a.json {
        let v = serde_json::json!({
            "family": cfg.family, "bits": a.bits, "width": cfg.width,
            "channel_multiple": cfg.channel_multiple, "budget_bits": budget, "size": size,
            "channel_plan": graph.weight_layers().map(|n| (n.name.clone(), n.op.weight_shape())).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "{} at B = {} — width {:.4} (channels rounded to multiples of {})",
        cfg.family, a.bits, cfg.width, cfg.channel_multiple
    );
    let mut t = Table::new(&[
        "layer",
        "op",
        "weight shape",
        "weights",
        "weight bits",
        "param bits",
    ]);
    for (n, l) in graph
        .weight_layers()
        .zip(size.layers.iter().filter(|l| l.weights > 0))
    {
        t.row(vec![
            n.name.clone(),
            n.op.kind_name().into(),
            format!("{:?}", n.op.weight_shape().unwrap()),
            l.weights.to_string(),
            l.weight_bits.to_string(),
            l.param_bits.to_string(),
        ]);
    }
    t.print();
    println!(
        "weights {} × {} bits = {} bits; per-channel/tensor parameters {} bits; total {} bits ({})",
        size.weights,
        a.bits,
        size.weight_bits,
        size.param_bits,
        size.total_bits,
        format_bits(size.total_bits)
    );
    if let Some(b) = budget {
        println!(
            "budget {} bits ({}): {:.1}% used",
            b,
            format_bits(b),
            100.0 * size.total_bits as f64 / b as f64
        );
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum BundleCmd {
    /// Write a synthetic bundle: random codes, calibrated requantizers, golden vectors.
    Example(ExampleArgs),
}

#[derive(Args)]
pub struct ExampleArgs {
    #[command(flatten)]
    pub family: FamilyArgs,
    /// Weight bitwidth B (1..8).
    #[arg(long)]
    pub bits: Bits,
    /// Width multiplier.
    #[arg(long, default_value_t = 1.0)]
    pub width: f64,
    /// Output bundle directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Random seed for codes and calibration.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of golden images (Fashion-MNIST test images when installed, else synthetic).
    #[arg(long, default_value_t = 4)]
    pub golden: usize,
    /// Fashion-MNIST directory (default: $UNIBIT_DATA_DIR or /usr/share/datasets/fashion-mnist).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

pub fn bundle(c: BundleCmd) -> Result<()> {
    let BundleCmd::Example(a) = c;
    let cfg = a.family.config(a.width);
    let dir = dataset::data_dir(a.data_dir.as_deref());
    let test = dataset::load(&dir, Split::Test).ok();
    let (calib, golden_imgs, labels, source) = match &test {
        Some(d) => (
            d.take(32).images,
            d.take(a.golden).images,
            Some(d.take(a.golden).labels),
            "fashion-mnist test images",
        ),
        None => (
            synthetic_images(32, cfg.input, a.seed),
            synthetic_images(a.golden, cfg.input, a.seed + 1),
            None,
            "synthetic images (Fashion-MNIST not found)",
        ),
    };
    let model = synthetic_model(&cfg, a.bits, a.seed, calib.view())?;
    let golden = Golden::compute(&model, golden_imgs.view(), labels)?;
    let b = Bundle {
        model,
        info: ModelInfo {
            family: Some(cfg.family),
            width: Some(cfg.width),
            channel_multiple: Some(cfg.channel_multiple),
            source: "synthetic".into(),
            details: Some(serde_json::json!({ "seed": a.seed, "calibration": source })),
        },
        accuracy: Accuracy::default(),
        golden: Some(golden),
    };
    let man =
        bundle::write(&a.out, &b).with_context(|| format!("writing bundle {}", a.out.display()))?;
    println!(
        "wrote {}: {} at B = {}, width {}, {} layers, {} ({} golden images from {source})",
        a.out.display(),
        cfg.family,
        a.bits,
        cfg.width,
        man.layers.len(),
        format_bits(man.size.total_bits),
        a.golden
    );
    Ok(())
}

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
    let b = bundle::read(&a.bundle)?;
    let man = bundle::read_manifest(&a.bundle)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&man)?);
    } else {
        let m = &b.model;
        println!("bundle {} (format v{})", a.bundle.display(), man.version);
        println!(
            "  model     {} width {} ({}), B = {} for every conv/linear layer",
            b.info.family.map_or("custom".into(), |f| f.to_string()),
            b.info.width.map_or("?".into(), |w| format!("{w:.4}")),
            b.info.source,
            m.bits
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
        for (i, l) in man.layers.iter().enumerate() {
            let params = match (&l.node.op, &m.params[i]) {
                (op, unibit_core::model::NodeParams::Weighted { requant, .. }) => {
                    let ws = op.weight_shape().unwrap();
                    let shifts = requant.iter().map(|r| r.shift);
                    let s = match (shifts.clone().min(), shifts.max()) {
                        (Some(lo), Some(hi)) => format!(", shift {lo}..{hi}"),
                        _ => ", raw i32".into(),
                    };
                    format!("{:?}{s}", ws)
                }
                (_, unibit_core::model::NodeParams::Add { ma, mb, shift }) => {
                    format!("ma {ma} mb {mb} >> {shift}")
                }
                (_, unibit_core::model::NodeParams::Pool { requant }) => {
                    format!("× {} >> {}", requant.multiplier, requant.shift)
                }
                _ => String::new(),
            };
            let op = match l.node.op {
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
            };
            t.row(vec![
                i.to_string(),
                l.node.name.clone(),
                op,
                l.node.inputs.join(","),
                format!("{:?}", l.output.shape),
                format!("{:?}", l.output.kind).to_lowercase(),
                params,
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
    if a.verify {
        let g = b
            .golden
            .as_ref()
            .context("--verify: the bundle has no golden vectors")?;
        let outs = reference::run(&b.model, g.input.view(), reference::Keep::All)?;
        for (i, (o, want)) in outs.iter().zip(&g.outputs).enumerate() {
            let o = o.as_ref().unwrap();
            if o != want {
                let (idx, (a, w)) = o
                    .indexed_iter()
                    .zip(want.iter())
                    .find(|((_, a), w)| a != w)
                    .map(|((i, a), w)| (i, (*a, *w)))
                    .unwrap();
                bail!(
                    "golden mismatch at layer {} {:?}, index {:?}: reference {a}, golden {w}",
                    i,
                    b.model.graph.nodes[i].name,
                    idx
                );
            }
        }
        println!(
            "  verified  the reference reproduces all {} layers' golden outputs bit for bit",
            outs.len()
        );
    }
    Ok(())
}

#[derive(Args)]
pub struct InferArgs {
    /// Bundle directory.
    pub bundle: PathBuf,
    /// Dataset to evaluate on.
    #[arg(long, default_value = "fashion-mnist")]
    pub dataset: String,
    /// Only the first N test images.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Fashion-MNIST directory (default: $UNIBIT_DATA_DIR or /usr/share/datasets/fashion-mnist).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

pub fn infer(a: InferArgs) -> Result<()> {
    if a.dataset != "fashion-mnist" {
        bail!(
            "--dataset: expected fashion-mnist (the only dataset available offline), got {:?}",
            a.dataset
        );
    }
    set_threads(a.threads)?;
    let b = bundle::read_with(&a.bundle, false)?;
    let mut test = dataset::load(&dataset::data_dir(a.data_dir.as_deref()), Split::Test)?;
    if let Some(n) = a.limit {
        test = test.take(n);
    }
    let (correct, secs) = evaluate(&b.model, &test, true)?;
    let n = test.len();
    println!(
        "{}: integer accuracy {:.2}% ({correct}/{n}) on fashion-mnist test — {:.1} s, {:.0} images/s",
        a.bundle.display(),
        100.0 * correct as f64 / n as f64,
        secs,
        n as f64 / secs
    );
    if let Some(f) = b.accuracy.integer {
        println!("  manifest records {:.2}%", 100.0 * f);
    }
    Ok(())
}

/// Correct predictions of the integer reference on `data`, and the seconds it took.
fn evaluate(
    model: &unibit_core::model::QuantModel,
    data: &dataset::Dataset,
    progress: bool,
) -> Result<(usize, f64)> {
    let n = data.len();
    let pb = if progress {
        ProgressBar::new(n as u64).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} images  {per_sec}  eta {eta}")
                .unwrap(),
        )
    } else {
        ProgressBar::hidden()
    };
    let start = Instant::now();
    let mut correct = 0;
    let step = 500;
    for s in (0..n).step_by(step) {
        let e = (s + step).min(n);
        let out =
            reference::run_output(model, data.images.slice(ndarray::s![s..e, .., .., ..]), 16)?;
        correct += reference::argmax(&out)
            .iter()
            .zip(&data.labels[s..e])
            .filter(|(p, l)| **p == **l as usize)
            .count();
        pb.inc((e - s) as u64);
    }
    pb.finish_and_clear();
    Ok((correct, start.elapsed().as_secs_f64()))
}

fn set_threads(threads: Option<usize>) -> Result<()> {
    if let Some(t) = threads {
        if t == 0 {
            bail!("--threads: expected ≥ 1, got 0");
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build_global()
            .ok();
    }
    Ok(())
}

#[derive(Args)]
pub struct CostArgs {
    /// Bundle directory.
    pub bundle: PathBuf,
    /// Array rows R (output channels in parallel).
    #[arg(long, default_value_t = 8)]
    pub rows: usize,
    /// Array lanes C (reduction elements in parallel).
    #[arg(long, default_value_t = 8)]
    pub cols: usize,
    /// Clock frequency in MHz for the time column.
    #[arg(long, default_value_t = 24.0)]
    pub freq: f64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn cost(a: CostArgs) -> Result<()> {
    let b = bundle::read_with(&a.bundle, false)?;
    let engine = EngineConfig::new(a.rows, a.cols, b.model.bits)?;
    let c = model_cost(&b.model.graph, &engine)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&c)?);
        return Ok(());
    }
    println!(
        "{} on a {}×{} array at B = {} ({} MHz)",
        a.bundle.display(),
        a.rows,
        a.cols,
        b.model.bits,
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
    Ok(())
}

#[derive(Subcommand)]
pub enum BenchCmd {
    /// Integer reference throughput: ResNet-20 (w = 1, B = 2, synthetic weights) on the
    /// Fashion-MNIST test set, against the direct i64 convolution on a subset.
    Reference(RefBenchArgs),
}

#[derive(Args)]
pub struct RefBenchArgs {
    /// Images to run (default: the whole 10,000-image test set).
    #[arg(long)]
    pub images: Option<usize>,
    #[arg(long, default_value = "resnet20")]
    pub family: Family,
    #[arg(long, default_value_t = 1.0)]
    pub width: f64,
    #[arg(long, default_value = "2")]
    pub bits: Bits,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

pub fn bench(c: BenchCmd) -> Result<()> {
    let BenchCmd::Reference(a) = c;
    set_threads(a.threads)?;
    let cfg = FamilyConfig::fashion_mnist(a.family, a.width);
    let data = match dataset::load(&dataset::data_dir(None), Split::Test) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("note: {e}; using synthetic images");
            let n = a.images.unwrap_or(10_000);
            dataset::Dataset {
                images: synthetic_images(n, cfg.input, 3),
                labels: vec![0; n],
            }
        }
    };
    let data = data.take(a.images.unwrap_or(data.len()));
    let model = synthetic_model(&cfg, a.bits, 1, data.take(32).images.view())?;
    let (_, secs) = evaluate(&model, &data, true)?;
    let n = data.len();
    println!(
        "reference (im2col + exact f32 GEMM, {} threads): {} at B = {}, width {}: {n} images in {:.2} s = {:.0} images/s",
        rayon::current_num_threads(),
        cfg.family,
        a.bits,
        a.width,
        secs,
        n as f64 / secs
    );
    // Baseline in the same run: one 3×3 layer (the first with a non-input source) on 8 images,
    // as the GEMM path and as direct i64 loops, both on this thread.
    let sub = data.take(8);
    let outs = reference::run(&model, sub.images.view(), reference::Keep::All)?;
    let info = model.validate()?;
    let i = model
        .graph
        .nodes
        .iter()
        .position(|n| matches!(n.op, Op::Conv2d { kernel: 3, .. }) && n.inputs[0] != "input")
        .context("no inner 3×3 convolution to time")?;
    let node = &model.graph.nodes[i];
    let j = model.graph.index_of(&node.inputs[0]).unwrap();
    let x = outs[j].as_ref().unwrap();
    let (
        Op::Conv2d {
            stride,
            padding,
            groups,
            ..
        },
        unibit_core::model::NodeParams::Weighted { codes, .. },
    ) = (&node.op, &model.params[i])
    else {
        unreachable!()
    };
    let t0 = Instant::now();
    let fast = reference::conv_gemm(
        x,
        info[j].kind,
        codes,
        model.bits,
        *stride,
        *padding,
        *groups,
    );
    let gemm_secs = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let slow = reference::conv_direct(x, codes, model.bits, *stride, *padding, *groups);
    let direct_secs = t0.elapsed().as_secs_f64();
    if fast != slow {
        bail!(
            "GEMM and direct convolutions disagree on layer {:?}",
            node.name
        );
    }
    let macs = (fast.len() * node.op.reduction().unwrap()) as f64;
    println!(
        "layer {:?} on 8 images, one thread: GEMM path {:.2} GMAC/s, direct i64 loops {:.2} GMAC/s — {:.1}× (outputs equal)",
        node.name,
        macs / gemm_secs / 1e9,
        macs / direct_secs / 1e9,
        direct_secs / gemm_secs
    );
    println!(
        "goal: 10,000 images ≤ 30 s → {}",
        if n >= 10_000 {
            if secs <= 30.0 {
                format!("met ({secs:.1} s)")
            } else {
                format!("NOT met ({secs:.1} s)")
            }
        } else {
            format!("projected {:.1} s for 10,000", secs * 10_000.0 / n as f64)
        }
    );
    Ok(())
}
