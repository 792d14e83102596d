//! `unibit board program|info|load|classify|sim`: arguments and printing; the work is
//! `unibit_board`'s (driver, software board, PTY server).

use crate::cli::progress::Bars;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use unibit_board::driver::{self, ClassifyReport, Expect, Images, LoadReport};
use unibit_board::link::{Link, LinkOptions};
use unibit_board::protocol::Info;
use unibit_board::sim::PtyBoard;
use unibit_board::soft::ModelBoard;
use unibit_board::target::{hex8, Target};
use unibit_core::dataset::{self, Split};
use unibit_hw::rtl::net::main_memory::MainKind;

const DEFAULT_BAUD: u32 = 3_000_000;

#[derive(Subcommand)]
pub enum BoardCmd {
    /// Write a synthesised bitstream to the board (iceprog / openFPGALoader).
    Program(ProgramArgs),
    /// What the board says about itself: engine B, R×C, clock, memories, loaded model.
    Info(PortArgs),
    /// Compile a bundle for the board's engine and load it (skipped when already loaded).
    Load(LoadArgs),
    /// Classify images on the board; logits are checked against the integer reference.
    Classify(ClassifyArgs),
    /// Serve a software board on a pseudo-terminal (prints its path) until interrupted.
    Sim(SimArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BoardName {
    Icebreaker,
    #[value(name = "ulx3s-25f")]
    Ulx3s25f,
}

impl BoardName {
    fn name(self) -> &'static str {
        match self {
            BoardName::Icebreaker => "icebreaker",
            BoardName::Ulx3s25f => "ulx3s-25f",
        }
    }
}

#[derive(Args)]
pub struct ProgramArgs {
    #[arg(long, value_enum)]
    pub board: BoardName,
    /// The synthesis directory (`unibit hw synth` output) holding the bitstream.
    pub dir: PathBuf,
}

#[derive(Args, Clone)]
pub struct PortArgs {
    /// Serial port (`/dev/ttyUSB1`, a `board sim` PTY) or `auto` (the one connected board).
    #[arg(long)]
    pub port: String,
    #[arg(long, default_value_t = DEFAULT_BAUD)]
    pub baud: u32,
    /// Stretch every host time-out by this factor: 1 for a real board; for a virtual board
    /// served by `board sim` in another process, the time scale it prints.
    #[arg(long, default_value_t = 1.0, value_parser = time_scale)]
    pub time_scale: f64,
}

fn time_scale(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (1.0..=1e6).contains(&v) => Ok(v),
        _ => Err(format!("expected a factor from 1 to 1000000, found {s:?}")),
    }
}

#[derive(Args)]
pub struct LoadArgs {
    pub bundle: PathBuf,
    #[command(flatten)]
    pub port: PortArgs,
    /// Refuse a board that is not this board's engine (default: whatever INFO reports).
    #[arg(long, value_enum)]
    pub board: Option<BoardName>,
    #[arg(long, requires = "board")]
    pub rows: Option<usize>,
    #[arg(long, requires = "board")]
    pub cols: Option<usize>,
    /// Write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DatasetName {
    #[value(name = "fashion-mnist")]
    FashionMnist,
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["dataset", "images"])))]
pub struct ClassifyArgs {
    pub bundle: PathBuf,
    /// PNG images of the model's input size (grey; colour is converted to luma).
    pub images: Vec<PathBuf>,
    #[command(flatten)]
    pub port: PortArgs,
    /// Classify the test split of this data set.
    #[arg(long, value_enum)]
    pub dataset: Option<DatasetName>,
    /// Data set directory (default: $UNIBIT_DATA_DIR or /usr/share/datasets/fashion-mnist).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Only the first N test images.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Write the report as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// unibit-core's memory-level engine model (bit-exact, cycle-counting; not the RTL).
    Model,
    /// The board top's Verilog (host side + whole-network engine) under Verilator.
    Verilator,
}

#[derive(Args)]
pub struct SimArgs {
    #[arg(long, value_enum)]
    pub board: BoardName,
    /// Weight bitwidth B the engine is built for.
    #[arg(long)]
    pub bits: u8,
    /// Array rows R (default: the board's, 8; the model backend also runs 16 on ulx3s-25f).
    #[arg(long)]
    pub rows: Option<usize>,
    #[arg(long)]
    pub cols: Option<usize>,
    #[arg(long, value_enum)]
    pub backend: Backend,
    /// The baud rate INFO reports.
    #[arg(long, default_value_t = DEFAULT_BAUD)]
    pub baud: u32,
}

pub fn run(c: BoardCmd) -> Result<()> {
    match c {
        BoardCmd::Program(a) => program(a),
        BoardCmd::Info(a) => info(a),
        BoardCmd::Load(a) => load(a),
        BoardCmd::Classify(a) => classify(a),
        BoardCmd::Sim(a) => sim(a),
    }
}

fn open(p: &PortArgs) -> Result<Link<Box<dyn serialport::SerialPort>>> {
    let (name, port) = unibit_board::port::open(&p.port, p.baud)?;
    let opts = LinkOptions {
        time_scale: p.time_scale,
        ..LinkOptions::default()
    };
    Ok(Link::new(port, &name, p.baud, opts))
}

fn write_json<T: serde::Serialize>(path: Option<&Path>, v: &T) -> Result<()> {
    if let Some(p) = path {
        crate::cli::write_atomic(p, serde_json::to_string_pretty(v)?.as_bytes())
            .with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}

fn program(a: ProgramArgs) -> Result<()> {
    let (tool, file, args): (&str, &str, &[&str]) = match a.board {
        BoardName::Icebreaker => ("iceprog", "board.bin", &[]),
        BoardName::Ulx3s25f => ("openFPGALoader", "board.bit", &["-b", "ulx3s"]),
    };
    let bit = a.dir.join(file);
    if !bit.is_file() {
        bail!(
            "{}: no bitstream (run `unibit hw synth --board {}` with that output directory first)",
            bit.display(),
            a.board.name()
        );
    }
    // What the bitstream holds, from the build's report (absent: a build without one).
    let report: Option<unibit_hw::synth::SynthReport> =
        std::fs::read_to_string(a.dir.join("report.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
    if let Some(r) = &report {
        if r.board != a.board.name() {
            bail!(
                "{}: built for {}, not {} (run `unibit hw synth --board {}`)",
                bit.display(),
                r.board,
                a.board.name(),
                a.board.name()
            );
        }
        if r.engine == unibit_hw::synth::EngineKind::Tile {
            eprintln!(
                "note: {} is the tile coprocessor (`hw synth --engine tile`): it does not speak protocol v2, so `unibit board info|load|classify` will not find it",
                bit.display()
            );
        }
    }
    let status = std::process::Command::new(tool)
        .args(args)
        .arg(&bit)
        .status()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                anyhow::anyhow!(
                    "{tool} not found on PATH: run `make setup` (scripts/setup.sh installs it)"
                )
            }
            _ => anyhow::Error::new(e).context(format!("running {tool}")),
        })?;
    if !status.success() {
        bail!("{tool} {} failed ({status})", bit.display());
    }
    println!("programmed {} with {}", a.board.name(), bit.display());
    if let Some(r) = report.filter(|r| r.engine == unibit_hw::synth::EngineKind::Net) {
        println!(
            "whole-network engine B = {}, {}×{}, {:.3} MHz, {} baud ({} clocks per bit): `unibit board info --port auto --baud {}`",
            r.bits, r.rows, r.cols, r.clock_mhz, r.baud, r.clocks_per_bit, r.baud
        );
    }
    Ok(())
}

fn print_info(port: &str, i: &Info) {
    println!("board on {port}: protocol v{}", i.version);
    println!(
        "engine: B = {}, {}×{} array, {:.3} MHz, link {} baud",
        i.bits,
        i.rows,
        i.cols,
        i.clock_hz as f64 / 1e6,
        i.baud
    );
    for m in &i.memories {
        println!("memory {}: {} bytes", m.id, m.bytes);
    }
    println!("configuration hash: {}", hex8(&i.config_hash));
    let model = if i.model_loaded() {
        hex8(&i.model_id)
    } else {
        "none".into()
    };
    println!("model: {model}");
}

fn info(a: PortArgs) -> Result<()> {
    let mut l = open(&a)?;
    let i = l.info()?;
    print_info(l.name(), &i);
    Ok(())
}

fn load(a: LoadArgs) -> Result<()> {
    let mut l = open(&a.port)?;
    let expect = Expect {
        board: a.board.map(|b| b.name().to_string()),
        rows: a.rows,
        cols: a.cols,
    };
    let r = driver::load(&a.bundle, &mut l, &expect, &Bars::new(a.quiet))
        .with_context(|| format!("loading {}", a.bundle.display()))?;
    print_load(&a.bundle, &r);
    write_json(a.json.as_deref(), &r)
}

fn print_load(bundle: &Path, r: &LoadReport) {
    let what = format!(
        "{} on {} ({}×{}, B = {})",
        bundle.display(),
        r.board,
        r.rows,
        r.cols,
        r.bits
    );
    if r.skipped {
        println!(
            "{what}: model {} already loaded, nothing written",
            r.model_id
        );
    } else {
        println!(
            "{what}: loaded model {}: {} bytes written and read back ({} bytes image of {} bytes main memory)",
            r.model_id, r.bytes_written, r.image_bytes, r.main_bytes
        );
    }
    let t = &r.traffic;
    println!(
        "link: {} bytes, wire time {:.1} ms at the baud rate, {} retries, wall {:.1} ms",
        t.wire_bytes,
        t.wire_s * 1e3,
        t.retries,
        t.wall_s * 1e3
    );
}

fn test_images(a: &ClassifyArgs) -> Result<Images> {
    if a.dataset.is_none() {
        return Ok(unibit_board::images::read_pngs(&a.bundle, &a.images)?);
    }
    let dir = dataset::data_dir(a.data_dir.as_deref());
    let mut d = dataset::load(&dir, Split::Test)
        .with_context(|| format!("reading Fashion-MNIST from {}", dir.display()))?;
    if let Some(n) = a.limit {
        d = d.take(n);
    }
    Ok(Images {
        pixels: d.images,
        labels: Some(d.labels),
        source: format!("fashion-mnist test ({})", dir.display()),
    })
}

fn classify(a: ClassifyArgs) -> Result<()> {
    let images = test_images(&a)?;
    let mut l = open(&a.port)?;
    let r = driver::classify(&a.bundle, &mut l, &images, &Bars::new(a.quiet))
        .with_context(|| format!("classifying with {}", a.bundle.display()))?;
    print_classify(&r);
    write_json(a.json.as_deref(), &r)?;
    if !r.exact() {
        bail!(
            "the board differs from the integer reference ({} of {} images equal; cycles {})",
            r.reference_equal,
            r.images,
            if r.cycles_equal { "equal" } else { "differ" }
        );
    }
    Ok(())
}

fn print_classify(r: &ClassifyReport) {
    let shown: Vec<String> = r.classes.iter().take(20).map(|c| c.to_string()).collect();
    let more = if r.classes.len() > 20 { " …" } else { "" };
    println!(
        "{} images from {} on {} (model {})",
        r.images, r.source, r.board, r.model_id
    );
    println!("classes: {}{more}", shown.join(" "));
    if let (Some(k), Some(acc)) = (r.correct, r.accuracy) {
        println!("accuracy: {:.2}% ({k} of {})", acc * 100.0, r.images);
    }
    println!(
        "logits equal the integer reference: {} ({} of {})",
        if r.mismatches.is_empty() { "yes" } else { "no" },
        r.reference_equal,
        r.images
    );
    for m in r.mismatches.iter().take(5) {
        println!(
            "  image {}: board {:?}, reference {:?}",
            m.index, m.board, m.reference
        );
    }
    let board_cycles = r.cycles.first().copied().unwrap_or(0);
    println!(
        "cycles per image: board {board_cycles}, compiled program {} ({})",
        r.cycles_expected,
        if r.cycles_equal { "equal" } else { "DIFFER" }
    );
    println!(
        "{:.1} images/s; latency {:.2} ms per image = engine {:.2} ms ({} cycles at {:.3} MHz) + link {:.2} ms",
        r.images_per_s,
        r.latency_ms,
        r.engine_ms,
        board_cycles,
        r.clock_hz as f64 / 1e6,
        r.link_ms
    );
    let wire_ms = r.traffic.wire_s * 1e3 / r.images.max(1) as f64;
    println!(
        "on the wire: {wire_ms:.2} ms per image at the link's baud rate (engine + wire: {:.2} ms, {:.1} images/s)",
        r.engine_ms + wire_ms,
        1e3 / (r.engine_ms + wire_ms)
    );
}

/// Set by SIGINT / SIGTERM; the server polls it.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

fn sim(a: SimArgs) -> Result<()> {
    if a.backend == Backend::Verilator {
        return sim_verilator(a);
    }
    let what = || {
        format!(
            "software board {} B = {} {}×{}",
            a.board.name(),
            a.bits,
            a.rows.map_or("default".into(), |r| r.to_string()),
            a.cols.map_or("default".into(), |c| c.to_string())
        )
    };
    let target = Target::named(a.board.name(), a.bits, a.rows, a.cols).with_context(what)?;
    let (shape, clock) = (target.shape, target.clock_hz);
    let board = ModelBoard::new(target, a.baud).with_context(what)?;
    let mut pty = PtyBoard::open(board)?;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    println!("{}", pty.path);
    eprintln!(
        "software board (backend: the engine's memory-level model, not the RTL): {} {}×{} B = {} at {:.3} MHz; serving until interrupted",
        a.board.name(),
        shape.rows,
        shape.cols,
        shape.bits.get(),
        clock as f64 / 1e6
    );
    use std::io::Write;
    std::io::stdout().flush()?;
    pty.serve(&STOP)?;
    eprintln!("software board stopped");
    Ok(())
}

/// `--backend verilator`: the board top (host side + NetEngine) behind a PTY.
fn sim_verilator(a: SimArgs) -> Result<()> {
    if a.rows.is_some_and(|r| r != 8) || a.cols.is_some_and(|c| c != 8) {
        bail!("--backend verilator: the board top's engine is 8×8 (--rows 8 --cols 8 or neither)");
    }
    let target = Target::named(a.board.name(), a.bits, None, None)?;
    let main = MainKind::for_board(a.board.name(), a.bits)?;
    let (cfg, verilog) = unibit_hw::rtl::net::board_top::board_simulation_for(
        main,
        a.bits,
        target.clock_hz,
        a.baud,
        target.config_hash()?,
    )?;
    let mut board = unibit_board::verilator::VerilatorBoard::start(
        &verilog,
        cfg.clock_hz,
        cfg.clocks_per_bit,
        &Bars::new(false),
    )?;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    println!("{}", board.path);
    eprintln!(
        "virtual board (Verilator: the board top's Verilog, host side + NetEngine {}×{}): {} B = {} at {:.3} MHz, {} baud ({} clocks per bit); simulation {:.2} M cycles/s: host time-outs need ×{:.0} (pass --time-scale to board info/load/classify); serving until interrupted",
        cfg.rows,
        cfg.cols,
        a.board.name(),
        cfg.bits,
        cfg.clock_hz as f64 / 1e6,
        cfg.baud,
        cfg.clocks_per_bit,
        board.cycles_per_s / 1e6,
        board.time_scale()
    );
    use std::io::Write;
    std::io::stdout().flush()?;
    board.serve(&STOP)?;
    eprintln!("virtual board stopped");
    Ok(())
}
