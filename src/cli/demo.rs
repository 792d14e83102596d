//! `unibit demo`: the whole flow, small and end to end, as named steps under one folder —
//! train at one bitwidth within a budget, export, cost, Verilator cosimulation, synthesis and
//! place-and-route for the iCEBreaker, and an HTML report. Finished steps are reused.

use super::flow::Flow;
use super::progress::Bars;
use anyhow::{bail, Context, Result};
use clap::Args;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use unibit_core::bundle;
use unibit_core::cost::model_cost;
use unibit_core::dataset::{self, Split};
use unibit_core::size::{format_bits, parse_bits, width_for_budget};
use unibit_core::synthetic::{write_example, ExampleConfig};
use unibit_core::{Bits, Family, FamilyConfig};
use unibit_hw::synth::{EngineKind, SynthOptions, SynthReport};
use unibit_report::html::{Page, Table};
use unibit_report::model_plots::LayerCycles;
use unibit_sim::net::{run_net_bundle, NetCosimReport, NetOptions, NetSimKind};

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
    /// Training epochs.
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    /// Train on synthetic weights instead (no training; for hardware-only builds).
    #[arg(long)]
    pub synthetic: bool,
    /// Board to synthesize for (icebreaker, ulx3s-25f, xc7).
    #[arg(long, default_value = "icebreaker")]
    pub board: String,
    /// Engine rows × lanes (sized for the iCEBreaker's UP5K).
    #[arg(long, default_value_t = 8)]
    pub rows: usize,
    #[arg(long, default_value_t = 8)]
    pub cols: usize,
    /// Golden images to cosimulate.
    #[arg(long, default_value_t = 2, value_parser = super::args::count_at_least_1)]
    pub images: usize,
    /// Test images to classify through the board driver (whole network on the engine).
    #[arg(long, default_value_t = 200, value_parser = super::args::count_at_least_1)]
    pub board_images: usize,
    /// Skip synthesis and place-and-route.
    #[arg(long)]
    pub no_synth: bool,
    /// Threads for training and inference.
    #[arg(long, default_value_t = 2, value_parser = super::args::threads)]
    pub threads: usize,
    /// Fashion-MNIST directory (default: $UNIBIT_DATA_DIR or /usr/share/datasets/fashion-mnist).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// A step's typed result, read back from the JSON file it wrote (also when the step was skipped).
fn read_json<T: DeserializeOwned>(p: &Path) -> Result<T> {
    serde_json::from_str(
        &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
    )
    .with_context(|| format!("{}: not the expected JSON", p.display()))
}

pub fn demo(a: DemoArgs) -> Result<()> {
    let synthetic = a.synthetic || !cfg!(feature = "train");
    // The whole-network step needs a board the driver knows, at its engine's shape.
    let target =
        unibit_board::target::Target::named(&a.board, a.bits.get(), Some(a.rows), Some(a.cols))
            .ok();
    let steps = 5 + usize::from(!a.no_synth) + usize::from(target.is_some());
    let mut flow = Flow::new(&a.out, steps)?;
    let budget = parse_bits(&a.budget)?;
    // Channel counts in multiples of the array's rows: no idle rows in any tile.
    let base = FamilyConfig {
        channel_multiple: a.rows,
        ..FamilyConfig::fashion_mnist(a.family, 1.0)
    };
    let sol = width_for_budget(&base, a.bits, budget)?;
    let data_dir = dataset::data_dir(a.data_dir.as_deref());
    // Fail early, before any long step, if the dataset, the board or the engine configuration
    // is missing.
    dataset::load(&data_dir, Split::Test)?;
    if !a.no_synth {
        unibit_hw::board::board(&a.board).context("--board")?;
    }
    unibit_hw::configs::engine_params(a.bits.get(), a.rows, a.cols).map_err(anyhow::Error::msg)?;
    let what = format!(
        "{} at B = {} within {} → width {:.4}, {}",
        a.family,
        a.bits,
        format_bits(budget),
        sol.width,
        format_bits(sol.size.total_bits)
    );

    // ---- 1. train
    let run_dir = flow.dir("train").join("run");
    let train_params = json!({ "family": a.family, "bits": a.bits, "budget": budget,
        "channel_multiple": base.channel_multiple, "epochs": a.epochs, "synthetic": synthetic });
    flow.step(
        "train",
        &if synthetic {
            format!("{what}: synthetic weights (no training)")
        } else {
            format!("training {what} for {} epoch(s) on Fashion-MNIST", a.epochs)
        },
        train_params,
        &[if synthetic {
            "synthetic"
        } else {
            "run/config.json"
        }],
        |dir| {
            if synthetic {
                std::fs::write(dir.join("synthetic"), "no training: synthetic weights\n")?;
                return Ok(Value::Null);
            }
            train(
                &a,
                &run_dir,
                budget,
                FamilyConfig {
                    width: sol.width,
                    ..base
                },
            )
        },
    )?;

    // ---- 2. export
    let bundle_dir = flow.dir("export").join("bundle");
    flow.step(
        "export",
        "export to an integer bundle (batch norm folded, requantizers, golden vectors, integer accuracy)",
        json!({ "synthetic": synthetic, "epochs": a.epochs, "bits": a.bits, "budget": budget, "images": a.images }),
        &["bundle/manifest.json"],
        |_| {
            if synthetic {
                let r = write_example(
                    &ExampleConfig {
                        family: FamilyConfig {
                            width: sol.width,
                            ..base
                        },
                        bits: a.bits,
                        seed: 1,
                        golden: a.images.max(1),
                        data_dir: a.data_dir.clone(),
                    },
                    &bundle_dir,
                )?;
                println!(
                    "{}: synthetic {} at B = {}, {} layers, {}",
                    r.out.display(),
                    a.family,
                    a.bits,
                    r.layers,
                    format_bits(r.size.total_bits)
                );
            } else {
                export(&a, &run_dir, &bundle_dir)?;
            }
            let b = bundle::read_with(&bundle_dir, false)?;
            Ok(json!({ "accuracy": b.accuracy }))
        },
    )?;
    let b = bundle::read(&bundle_dir)?;

    // ---- 3. cost: the compiled program on the board's whole-network engine (what cosim and
    // the board count); the tile coprocessor's for a shape without one.
    let params = unibit_hw::configs::engine_params(a.bits.get(), a.rows, a.cols)
        .map_err(anyhow::Error::msg)?;
    let engine = params.engine_config()?;
    let what = match &target {
        Some(t) => format!(
            "predicted cycles of the whole-network engine of {}",
            t.board
        ),
        None => format!(
            "predicted cycles on the {}×{} tile coprocessor",
            a.rows, a.cols
        ),
    };
    flow.step(
        "cost",
        &what,
        json!({ "rows": a.rows, "cols": a.cols, "bits": a.bits, "width": sol.width,
                "engine": if target.is_some() { "net" } else { "tile" }, "timing": engine }),
        &["cost.json"],
        |dir| {
            let (json, cycles) = match &target {
                Some(t) => {
                    let c =
                        unibit_core::engine::model_report(&b.model.graph, &t.shape, &t.memories)?;
                    println!(
                        "{} cycles per image on the whole-network engine ({:.3} × the MAC bound)",
                        c.cycles, c.ratio
                    );
                    (serde_json::to_string_pretty(&c)?, c.cycles)
                }
                None => {
                    let c = model_cost(&b.model.graph, &engine)?;
                    (serde_json::to_string_pretty(&c)?, c.cycles)
                }
            };
            super::write_atomic(&dir.join("cost.json"), json.as_bytes())?;
            Ok(json!({ "cycles": cycles }))
        },
    )?;

    // ---- 4. cosim: whole images on the whole-network engine's Verilog, every layer read back
    let cosim_json = flow.dir("cosim").join("cosim.json");
    flow.step(
        "cosim",
        &format!(
            "Verilator cosimulation of {} golden image(s) on the whole-network engine, every layer bit-exact",
            a.images
        ),
        json!({ "engine": "net", "images": a.images, "bits": a.bits,
                "bundle": std::fs::metadata(bundle_dir.join("weights.safetensors"))?.len() }),
        &["cosim.json"],
        |_| {
            let opts = NetOptions {
                sim: NetSimKind::Verilator,
                images: Some(a.images.min(b.golden.as_ref().map_or(0, |g| g.count()))),
                bits: None,
                per_layer: true,
                flip: None,
            };
            let r = run_net_bundle(&bundle_dir, &opts, &Bars::new(false))?;
            super::write_atomic(&cosim_json, serde_json::to_string_pretty(&r)?.as_bytes())?;
            if let Some(m) = &r.mismatch {
                bail!("cosimulation MISMATCH: {m} (summary {})", cosim_json.display());
            }
            println!(
                "bit-exact: {} image(s) on the whole-network engine, every layer equals the golden vectors — engine counter {} cycles/image (compiled program: {})",
                r.images,
                r.cycles_per_image.unwrap_or(0),
                r.predicted_per_image
            );
            Ok(json!({ "bit_exact": r.bit_exact, "cycles_per_image": r.cycles_per_image }))
        },
    )?;

    // ---- 5. board: the whole network on the engine, driven through the host driver over a PTY
    let board_json = flow.dir("board").join("board.json");
    if let Some(t) = &target {
        flow.step(
            "board",
            &format!(
                "classify {} test images on the {} board over a PTY with the host driver (whole network on the engine)",
                a.board_images, a.board
            ),
            json!({ "board": a.board, "bits": a.bits, "rows": a.rows, "cols": a.cols,
                    "images": a.board_images, "baud": BOARD_BAUD,
                    "bundle": std::fs::metadata(bundle_dir.join("weights.safetensors"))?.len() }),
            &["board.json"],
            |_| board_step(&a, t, &bundle_dir, &data_dir, &board_json),
        )?;
    }

    // ---- 6. synth
    let synth_dir = flow.dir("synth").join("build");
    if !a.no_synth {
        flow.step(
            "synth",
            &format!(
                "synthesis, place and route and bitstream for {} (B = {}, {}×{})",
                a.board, a.bits, a.rows, a.cols
            ),
            json!({ "board": a.board, "bits": a.bits, "rows": a.rows, "cols": a.cols }),
            &["build/report.json"],
            |_| {
                let r = unibit_hw::synth::run(
                    &SynthOptions {
                        engine: EngineKind::Tile,
                        config_hash: [0; 8],
                        board: a.board.clone(),
                        bits: a.bits.get(),
                        rows: Some(a.rows),
                        cols: Some(a.cols),
                        freq_mhz: None,
                        out: synth_dir.clone(),
                        yosys_only: false,
                        seed: 1,
                    },
                    &Bars::new(false),
                )?;
                super::hw::print_table(&r);
                super::hw::check_timing(&r)?;
                Ok(json!({ "fmax_mhz": r.fmax_mhz, "clock_mhz": r.clock_mhz, "luts": r.resources.luts,
                           "bitstream": r.bitstream }))
            },
        )?;
    }

    // ---- 7. report
    let report_dir = flow.dir("report");
    flow.step(
        "report",
        "HTML report (model, accuracy, size, width, cycles, resources, Fmax)",
        json!({ "at": std::fs::metadata(&cosim_json)?.modified()?.duration_since(std::time::UNIX_EPOCH)?.as_secs() }),
        &["index.html"],
        |dir| {
            let synth: Option<SynthReport> = if a.no_synth {
                None
            } else {
                Some(read_json(&synth_dir.join("report.json"))?)
            };
            let cosim: NetCosimReport = read_json(&cosim_json)?;
            let board: Option<Value> = if target.is_some() {
                Some(read_json(&board_json)?)
            } else {
                None
            };
            let mut page = report(&a, &b, budget, &cosim, synth.as_ref(), board.as_ref())?;
            figures(&mut page, dir, &a, &run_dir, &cosim)?;
            page.write_html(&dir.join("index.html"))?;
            page.write_markdown(&dir.join("report.md"))?;
            Ok(Value::Null)
        },
    )?;
    println!(
        "demo finished: report {} (bundle {}, cosim {}{})",
        report_dir.join("index.html").display(),
        bundle_dir.display(),
        cosim_json.display(),
        if a.no_synth {
            String::new()
        } else {
            format!(", bitstream in {}", synth_dir.display())
        }
    );
    Ok(())
}

/// The link rate of the demo's board (the bitstream's default).
const BOARD_BAUD: u32 = 3_000_000;

/// Load the bundle and classify the first test images on a software board behind a PTY,
/// through the same driver and wire protocol as a real board.
fn board_step(
    a: &DemoArgs,
    t: &unibit_board::target::Target,
    bundle_dir: &Path,
    data_dir: &Path,
    out: &Path,
) -> Result<Value> {
    let d = dataset::load(data_dir, Split::Test)?.take(a.board_images);
    let images = unibit_board::driver::Images {
        pixels: d.images,
        labels: Some(d.labels),
        source: format!("fashion-mnist test ({})", data_dir.display()),
    };
    // The icebreaker's 8×8 engine exists as RTL: serve its board top under Verilator; other
    // shapes on the software board (the engine's memory-level model).
    let rtl = t.board == "icebreaker" && (a.rows, a.cols) == (8, 8);
    let (value, s_backend, c) = if rtl {
        let (cfg, verilog) = unibit_hw::rtl::net::board_top::board_simulation(
            a.bits.get(),
            t.clock_hz,
            BOARD_BAUD,
            t.config_hash()?,
        )?;
        let s = unibit_board::verilator::session(
            &verilog,
            cfg.clock_hz,
            cfg.clocks_per_bit,
            bundle_dir,
            &images,
            &Bars::new(false),
        )?;
        println!(
            "virtual board: {:.2} images/s at {} MHz with the link (simulated board time), engine-only bound {:.2}: ratio {:.3}; load {:.3} s",
            s.images_per_s,
            t.clock_hz as f64 / 1e6,
            s.engine_images_per_s,
            s.link_ratio,
            s.load_cycles as f64 / t.clock_hz as f64
        );
        (serde_json::to_value(&s)?, s.backend.clone(), s.classify)
    } else {
        let board = unibit_board::soft::ModelBoard::new(t.clone(), BOARD_BAUD)?;
        let s = unibit_board::sim::session(board, bundle_dir, &images, &Bars::new(false))?;
        (serde_json::to_value(&s)?, s.backend.clone(), s.classify)
    };
    super::write_atomic(out, serde_json::to_string_pretty(&value)?.as_bytes())?;
    let wire_ms = c.traffic.wire_s * 1e3 / c.images.max(1) as f64;
    println!(
        "{}: {} images, accuracy {:.2}%, logits equal to the integer reference: {} of {}; {} cycles per image (compiled: {}); engine {:.2} ms + wire {:.2} ms per image at {} baud",
        s_backend,
        c.images,
        100.0 * c.accuracy.unwrap_or(0.0),
        c.reference_equal,
        c.images,
        c.cycles.first().copied().unwrap_or(0),
        c.cycles_expected,
        c.engine_ms,
        wire_ms,
        BOARD_BAUD
    );
    if !c.exact() {
        bail!(
            "the board differs from the integer reference ({} of {} images equal; cycles {}) — see {}",
            c.reference_equal,
            c.images,
            if c.cycles_equal { "equal" } else { "differ" },
            out.display()
        );
    }
    Ok(
        json!({ "images": c.images, "accuracy": c.accuracy, "exact": c.exact(),
               "cycles": c.cycles_expected, "engine_ms": c.engine_ms, "wire_ms": wire_ms }),
    )
}

#[cfg(feature = "train")]
fn train(a: &DemoArgs, run: &Path, budget: u64, model: FamilyConfig) -> Result<Value> {
    use unibit_sw::net::QuantSpec;
    use unibit_sw::train::{RunOptions, TrainSettings};
    super::train::threads(a.threads)?;
    // A run killed part-way is resumed from its checkpoint.
    let resume = run.join("config.json").exists();
    let settings = TrainSettings {
        epochs: a.epochs,
        batch: 128,
        lr: 0.1,
        momentum: 0.9,
        weight_decay: 5e-4,
        warmup_epochs: 1.0_f64.min(a.epochs as f64 / 2.0),
        no_augment: false,
        train_limit: None,
        data_dir: a.data_dir.clone(),
    };
    let quant = QuantSpec {
        bits: a.bits,
        first_last_8bit: false,
    };
    let cfg = (!resume).then(|| {
        settings.config(
            model,
            Some(quant),
            0,
            Some((format!("{budget}bit"), budget)),
        )
    });
    let opts = RunOptions {
        device: unibit_sw::Device::Cpu,
        stop_after: None,
    };
    let r = unibit_sw::train::train(run, cfg, resume, &opts, &Bars::new(false))?;
    if let Some(m) = r.epochs.last() {
        println!(
            "{}: epoch {}/{} test accuracy {:.2}%",
            r.run.display(),
            m.epoch,
            r.config.epochs,
            100.0 * m.test_acc
        );
    }
    Ok(Value::Null)
}

#[cfg(not(feature = "train"))]
fn train(_: &DemoArgs, _: &Path, _: u64, _: FamilyConfig) -> Result<Value> {
    anyhow::bail!("this unibit was built without training (--no-default-features); run the demo with --synthetic")
}

#[cfg(feature = "train")]
fn export(a: &DemoArgs, run: &Path, bundle: &Path) -> Result<()> {
    let opts = unibit_sw::export::ExportOptions {
        golden: a.images.max(1),
        calibration_images: 5000,
        device: unibit_sw::Device::Cpu,
        test_limit: None,
    };
    let r = unibit_sw::export::export(run, bundle, &opts)?;
    println!(
        "{}: trained {:.2}% · fake-quant {:.2}% · integer {:.2}% (gap {:+.2} pp) on {} test images",
        bundle.display(),
        100.0 * r.trained_accuracy,
        100.0 * r.fake_quant_accuracy,
        100.0 * r.integer_accuracy,
        r.gap_pp,
        r.test_images
    );
    if r.gap_pp.abs() > 0.3 {
        bail!(
            "integer accuracy differs from the fake-quantized model's by {:+.2} pp (limit 0.3 pp)",
            r.gap_pp
        );
    }
    Ok(())
}

#[cfg(not(feature = "train"))]
fn export(_: &DemoArgs, _: &Path, _: &Path) -> Result<()> {
    anyhow::bail!("this unibit was built without training (--no-default-features); run the demo with --synthetic")
}

/// The demo report's figures: the training curve (when there was training) and the engine's
/// cycles per layer, measured against predicted. Drawn as SVG (embedded) and PNG next to the page.
fn figures(
    page: &mut Page,
    dir: &Path,
    a: &DemoArgs,
    run: &Path,
    cosim: &NetCosimReport,
) -> Result<()> {
    use unibit_report::model_plots::{CyclesPerLayer, TrainingCurve};
    use unibit_report::plots::render;
    page.heading(2, "Figures");
    let epochs = super::curve::training_epochs(run)?;
    if !epochs.is_empty() {
        let title = format!("{} at B = {}: training on Fashion-MNIST", a.family, a.bits);
        render(
            &TrainingCurve {
                title,
                epochs: &epochs,
            },
            dir,
            "training",
        )?;
        page.figure_file(
            &dir.join("training.svg"),
            "training.png",
            "Test accuracy of the quantization-aware model after each epoch, and the mean training loss.",
        )?;
    }
    let layers = stop_groups(cosim);
    if !layers.is_empty() {
        let title = format!(
            "Cycles per stop on the whole-network engine ({}×{}, B = {})",
            cosim.rows, cosim.cols, a.bits
        );
        render(
            &CyclesPerLayer {
                title,
                bits: a.bits.get(),
                layers: &layers,
            },
            dir,
            "cycles",
        )?;
        page.figure_file(
            &dir.join("cycles.svg"),
            "cycles.png",
            "Engine cycles between the cosimulation's read-back stops (each bar names the layers it ran), \
             measured by the engine's counter under Verilator; the black tick is the compiled program's prediction.",
        )?;
    }
    Ok(())
}

fn pct(v: Option<f64>) -> String {
    v.map_or("—".into(), |v| format!("{:.2}%", 100.0 * v))
}

/// The demo's HTML/Markdown page.
fn report(
    a: &DemoArgs,
    b: &bundle::Bundle,
    budget: u64,
    cosim: &NetCosimReport,
    synth: Option<&SynthReport>,
    board: Option<&Value>,
) -> Result<Page> {
    let man_size = unibit_core::size::model_size(&b.model.graph, |_| b.model.bits)?;
    let mut p = Page::new(format!("unibit demo — {} at B = {}", a.family, a.bits));
    p.paragraph(format!(
        "One weight bitwidth B = {} for every conv and linear layer; width {:.4} chosen by the iso-size solver to fit {}. \
         The engine is a {}×{} bit-serial array built for B = {}.",
        a.bits,
        b.info.width.unwrap_or(0.0),
        format_bits(budget),
        a.rows,
        a.cols,
        a.bits
    ));
    p.heading(2, "Model");
    let mut t = Table::new([
        "family", "source", "B", "width", "weights", "size", "budget",
    ]);
    t.row([
        a.family.to_string(),
        b.info.source.clone(),
        a.bits.to_string(),
        format!("{:.4}", b.info.width.unwrap_or(0.0)),
        man_size.weights.to_string(),
        format!(
            "{} ({} weight + {} parameter bits)",
            format_bits(man_size.total_bits),
            man_size.weight_bits,
            man_size.param_bits
        ),
        format_bits(budget),
    ]);
    p.table(t);
    p.heading(2, "Accuracy (Fashion-MNIST test set)");
    let acc = &b.accuracy;
    let mut t = Table::new([
        "float (trained)",
        "fake-quantized",
        "integer (reference)",
        "images",
    ]);
    t.row([
        pct(acc.float),
        pct(acc.fake_quant),
        pct(acc.integer),
        acc.images.map_or("—".into(), |n| n.to_string()),
    ]);
    p.table(t);
    if b.info.source == "synthetic" {
        p.paragraph(
            "Synthetic weights (--synthetic or a build without training): accuracies are not meaningful.",
        );
    }
    p.heading(
        2,
        "Cosimulation (whole-network engine under Verilator, every layer against the golden vectors)",
    );
    p.paragraph(format!(
        "bit-exact: {} — {} image(s), engine counter {} cycles per image (compiled program: {}); \
         {} run(s) per image, each layer's buffer read back at the first stop before it is overwritten.",
        cosim.bit_exact,
        cosim.images,
        cosim.cycles_per_image.map_or("—".into(), |c| c.to_string()),
        cosim.predicted_per_image,
        cosim.runs_per_image
    ));
    let mut t = Table::new([
        "record",
        "layer",
        "op",
        "first cycle",
        "cycles",
        "counter at stop",
        "match",
    ]);
    for l in &cosim.layers {
        t.row([
            l.record.to_string(),
            l.name.clone(),
            l.op.clone(),
            l.first_cycle.to_string(),
            l.cycles.to_string(),
            l.engine_end.map_or(String::new(), |c| c.to_string()),
            match l.matches {
                Some(true) => "✓",
                Some(false) => "✗",
                None => "",
            }
            .to_string(),
        ]);
    }
    p.table(t);
    if let Some(v) = board {
        board_section(&mut p, v);
    }
    if let Some(s) = synth {
        p.heading(2, format!("Synthesis: {}", s.board));
        let r = &s.resources;
        let mut t = Table::new([
            "device",
            "LUTs",
            "FFs",
            "carries",
            "BRAMs",
            "DSPs",
            "clock",
            "Fmax",
            "timing",
            "peak MAC/s",
        ]);
        t.row([
            s.device.clone(),
            r.luts.to_string(),
            r.ffs.to_string(),
            r.carries.to_string(),
            r.brams.to_string(),
            r.dsps.to_string(),
            format!("{:.2} MHz", s.clock_mhz),
            s.fmax_mhz.map_or("—".into(), |f| format!("{f:.2} MHz")),
            match s.timing_met {
                Some(true) => "met".into(),
                Some(false) => "NOT met".into(),
                None => "—".into(),
            },
            format!("{:.3e}", s.peak_macs_per_s),
        ]);
        p.table(t);
        if let Some(bs) = &s.bitstream {
            p.paragraph(format!("Bitstream: {bs}"));
        }
        let cycles = cosim.predicted_per_image as f64;
        let clock = s.clock_mhz;
        if cycles > 0.0 && clock > 0.0 {
            p.paragraph(format!(
                "At {clock:.2} MHz one image takes {:.2} ms of engine time ({:.0} images/s, compute only).",
                cycles / (clock * 1e3),
                clock * 1e6 / cycles
            ));
        }
    }
    Ok(p)
}

/// The whole-network section: what the board did over its link, engine and wire time apart.
fn board_section(p: &mut Page, v: &Value) {
    let c = &v["classify"];
    let f = |x: &Value| x.as_f64().unwrap_or(f64::NAN);
    let images = f(&c["images"]);
    let engine_ms = f(&c["engine_ms"]);
    let wire_ms = f(&c["traffic"]["wire_s"]) * 1e3 / images.max(1.0);
    p.heading(
        2,
        "The whole network on the engine, through the host driver",
    );
    p.paragraph(format!(
        "{} served on a pseudo-terminal; the driver loaded the model ({} bytes written and read back) and classified {} test images: \
         image in (784 bytes), logits out. The logits are checked against the integer reference, the cycle counter against the compiled program.",
        v["backend"].as_str().unwrap_or("?"),
        c_u64(&v["load"]["bytes_written"]),
        images
    ));
    let mut t = Table::new([
        "images",
        "accuracy",
        "logits = reference",
        "cycles / image",
        "engine time",
        "wire time (link)",
        "images/s, engine only",
        "images/s, with the link",
    ]);
    t.row([
        format!("{images}"),
        c["accuracy"]
            .as_f64()
            .map_or("—".into(), |a| format!("{:.2}%", 100.0 * a)),
        format!("{} of {}", c_u64(&c["reference_equal"]), images),
        c_u64(&c["cycles_expected"]).to_string(),
        format!("{engine_ms:.2} ms at {:.0} MHz", f(&c["clock_hz"]) / 1e6),
        format!("{wire_ms:.2} ms"),
        format!("{:.1}", 1e3 / engine_ms),
        match v["images_per_s"].as_f64() {
            Some(ips) => {
                format!("{ips:.1} (simulated board time: RUN, image loader, engine, reply)")
            }
            None => format!("{:.1} (engine + wire time)", 1e3 / (engine_ms + wire_ms)),
        },
    ]);
    p.table(t);
}

fn c_u64(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// The layers between consecutive read-back stops of the first image: cycles measured by the
/// engine's counter (difference of the counters at the two stops) against the program's.
fn stop_groups(cosim: &NetCosimReport) -> Vec<LayerCycles> {
    let mut out = Vec::new();
    let (mut names, mut predicted, mut last_end) = (Vec::new(), 0u64, 0u64);
    for l in &cosim.layers {
        names.push(l.name.clone());
        predicted += l.cycles;
        if let Some(end) = l.engine_end {
            let name = match names.as_slice() {
                [one] => one.clone(),
                [first, .., last] => format!("{first} … {last}"),
                [] => unreachable!("a layer was pushed"),
            };
            out.push(LayerCycles {
                name,
                measured: end.saturating_sub(last_end),
                predicted,
            });
            (names, predicted, last_end) = (Vec::new(), 0, end);
        }
    }
    out
}
