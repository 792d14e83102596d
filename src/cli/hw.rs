//! `unibit hw …`: argument structs (clap), the library call behind each command, and its table.

use super::args::Engine;
use anyhow::{bail, Result};
use std::path::PathBuf;
use unibit_hw::synth::{BenchOptions, EngineKind, SynthOptions, SynthReport};

#[derive(clap::Args, Debug)]
pub struct HwArgs {
    #[command(subcommand)]
    pub command: HwCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum HwCommand {
    /// Generate the engine's Verilog (module `top`) and a parameters JSON.
    Verilog(VerilogArgs),
    /// Synthesize a board bitstream (the whole-network board top, or the tile coprocessor with
    /// `--engine tile`; xc7: resource counts) and report resources and timing.
    Synth(SynthArgs),
    /// Benchmark: synthesize (with place-and-route) for several bitwidths and print the table
    /// (LUTs, Fmax, peak MAC/s, MAC lanes per 1000 LUTs).
    Bench(BenchArgs),
    /// Pack a bundle's weights into the engine's memory images ($readmemh .hex) plus a layout JSON.
    Pack(PackArgs),
    /// Compile a bundle for a board's whole-network engine: program, memory images, memory map.
    Compile(super::compile::CompileArgs),
}

#[derive(clap::Args, Debug)]
pub struct VerilogArgs {
    /// Weight bitwidth B (1..=8).
    #[arg(long)]
    pub bits: u8,
    #[arg(long, default_value_t = 8, value_parser = super::args::array_side)]
    pub rows: usize,
    #[arg(long, default_value_t = 8, value_parser = super::args::array_side)]
    pub cols: usize,
    /// Also write the UART host-link top (`host.v`) for this UART clocks-per-bit.
    #[arg(long)]
    pub host_clocks_per_bit: Option<u16>,
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct SynthArgs {
    /// icebreaker | ulx3s-25f | xc7 (xc7: --engine tile only)
    #[arg(long)]
    pub board: String,
    #[arg(long)]
    pub bits: u8,
    /// net: the whole-network board top `unibit board sim --backend verilator` simulates
    /// (R = C = 8); tile: the tile coprocessor behind its UART host link.
    #[arg(long, value_enum, default_value_t = Engine::Net)]
    pub engine: Engine,
    /// Array rows (default: the board's; the net engine is 8×8).
    #[arg(long, value_parser = super::args::array_side)]
    pub rows: Option<usize>,
    /// Array lanes (default: the board's).
    #[arg(long, value_parser = super::args::array_side)]
    pub cols: Option<usize>,
    /// Engine clock in MHz (default: the board's target).
    #[arg(long, value_parser = super::args::positive_f64)]
    pub freq: Option<f64>,
    /// Stop after yosys (resource counts only).
    #[arg(long)]
    pub yosys_only: bool,
    #[arg(long, default_value_t = 1)]
    pub seed: u32,
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    #[arg(long)]
    pub board: String,
    /// Comma-separated bitwidths.
    #[arg(long, value_delimiter = ',', default_values_t = vec![1u8, 2, 4, 8])]
    pub bits: Vec<u8>,
    #[arg(long, value_parser = super::args::array_side)]
    pub rows: Option<usize>,
    #[arg(long, value_parser = super::args::array_side)]
    pub cols: Option<usize>,
    #[arg(long, value_parser = super::args::positive_f64)]
    pub freq: Option<f64>,
    /// Resource counts only (no place-and-route, no Fmax).
    #[arg(long)]
    pub yosys_only: bool,
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct PackArgs {
    /// Bundle directory.
    pub bundle: PathBuf,
    #[arg(long, default_value_t = 8, value_parser = super::args::array_side)]
    pub rows: usize,
    #[arg(long, default_value_t = 8, value_parser = super::args::array_side)]
    pub cols: usize,
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(a: HwArgs) -> Result<()> {
    match a.command {
        HwCommand::Verilog(v) => verilog(v),
        HwCommand::Synth(s) => synth(s),
        HwCommand::Bench(b) => bench(b),
        HwCommand::Pack(p) => pack(p),
        HwCommand::Compile(c) => super::compile::compile(c),
    }
}

pub fn verilog(a: VerilogArgs) -> Result<()> {
    let o =
        unibit_hw::verilog::write_engine(a.bits, a.rows, a.cols, a.host_clocks_per_bit, &a.out)?;
    println!(
        "wrote {}/top.v and engine.json: B={} {}x{} (weight word {} bits, activation word {} bits, tile overhead {} cycles)",
        a.out.display(),
        a.bits,
        a.rows,
        a.cols,
        o.info.weight_word_bits,
        o.info.activation_word_bits,
        o.info.timing.tile_overhead
    );
    Ok(())
}

pub fn synth(a: SynthArgs) -> Result<()> {
    let (engine, config_hash) = match a.engine {
        Engine::Tile => (EngineKind::Tile, [0; 8]),
        // INFO's configuration hash: the driver's 8×8 target of that board (what `board
        // load` compiles for when it reads this INFO).
        Engine::Net => {
            let hash = match unibit_board::target::Target::named(&a.board, a.bits, Some(8), Some(8))
            {
                Ok(t) => t.config_hash()?,
                // Not a driver board (xc7): the library refuses it with its own message.
                Err(_) => [0; 8],
            };
            (EngineKind::Net, hash)
        }
    };
    let opts = SynthOptions {
        board: a.board,
        engine,
        config_hash,
        bits: a.bits,
        rows: a.rows,
        cols: a.cols,
        freq_mhz: a.freq,
        out: a.out.clone(),
        yosys_only: a.yosys_only,
        seed: a.seed,
    };
    let r = unibit_hw::synth::run(&opts, &super::progress::Bars::new(false))?;
    print_table(&r);
    println!("report: {}", a.out.join("report.json").display());
    check_timing(&r)
}

/// `hw bench`: one synthesis per bitwidth; timing failures are reported in the table (and in
/// `bench.json`) rather than stopping the sweep.
pub fn bench(a: BenchArgs) -> Result<()> {
    let opts = BenchOptions {
        board: a.board,
        bits: a.bits,
        rows: a.rows,
        cols: a.cols,
        freq_mhz: a.freq,
        yosys_only: a.yosys_only,
        out: a.out,
    };
    let b = unibit_hw::synth::bench(&opts, &super::progress::Bars::new(false))?;
    print_header();
    for r in &b.reports {
        print_row(r);
    }
    Ok(())
}

pub fn pack(a: PackArgs) -> Result<()> {
    let r = unibit_hw::pack::pack_bundle(&a.bundle, a.rows, a.cols, &a.out)?;
    println!(
        "packed {} layers into {} weight words ({} bits) and {} parameter words in {}",
        r.layout.layers.len(),
        r.layout.weight_words,
        r.layout.weight_word_bits,
        r.layout.param_words,
        r.out.display()
    );
    Ok(())
}

pub fn print_header() {
    println!(
        "{:<10} {:>2} {:>5} {:>6} {:>6} {:>7} {:>5} {:>4} {:>8} {:>8} {:>6} {:>10} {:>9}",
        "board",
        "B",
        "RxC",
        "LUTs",
        "FFs",
        "carries",
        "BRAMs",
        "DSPs",
        "Fmax",
        "clock",
        "met",
        "GMAC/s",
        "lanes/kLUT"
    );
}

pub fn print_row(r: &SynthReport) {
    let f = |x: Option<f64>| x.map(|v| format!("{v:.2}")).unwrap_or_else(|| "-".into());
    println!(
        "{:<10} {:>2} {:>5} {:>6} {:>6} {:>7} {:>5} {:>4} {:>8} {:>8} {:>6} {:>10.3} {:>9.2}",
        r.board,
        r.bits,
        format!("{}x{}", r.rows, r.cols),
        r.resources.luts,
        r.resources.ffs,
        r.resources.carries,
        r.resources.brams,
        r.resources.dsps,
        f(r.fmax_mhz),
        format!("{:.2}", r.clock_mhz),
        r.timing_met
            .map(|t| if t { "yes" } else { "NO" })
            .unwrap_or("-"),
        r.peak_macs_per_s / 1e9,
        r.mac_lanes_per_1000_luts
    );
}

pub fn print_table(r: &SynthReport) {
    print_header();
    print_row(r);
}

/// Fails with a clear message when timing was not met.
pub fn check_timing(r: &SynthReport) -> Result<()> {
    if r.timing_met == Some(false) {
        bail!(
            "timing not met: Fmax {:.2} MHz < {:.2} MHz clock for {} {}x{} B={}; no bitstream \
             written (lower --freq or use a smaller array)",
            r.fmax_mhz.unwrap_or(0.0),
            r.clock_mhz,
            r.board,
            r.rows,
            r.cols,
            r.bits
        );
    }
    Ok(())
}
