//! `unibit hw …`: argument structs (clap) and the library functions behind them.

use crate::synth::{check_timing, print_header, print_row, print_table, synth, SynthOptions};
use anyhow::Result;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct HwArgs {
    #[command(subcommand)]
    pub command: HwCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum HwCommand {
    /// Generate the engine's Verilog (module `top`) and a parameters JSON.
    Verilog(VerilogArgs),
    /// Synthesize a board bitstream (or xc7 resource counts) and report resources and timing.
    Synth(SynthArgs),
    /// Benchmark: synthesize (with place-and-route) for several bitwidths and print the table
    /// (LUTs, Fmax, peak MAC/s, MAC lanes per 1000 LUTs).
    Bench(BenchArgs),
    /// Pack a bundle's weights into the engine's memory images ($readmemh .hex) plus a layout JSON.
    Pack(PackArgs),
}

#[derive(clap::Args, Debug)]
pub struct VerilogArgs {
    /// Weight bitwidth B (1..=8).
    #[arg(long)]
    pub bits: u8,
    #[arg(long, default_value_t = 8)]
    pub rows: usize,
    #[arg(long, default_value_t = 8)]
    pub cols: usize,
    /// Also write the UART host-link top (`host.v`) for this UART clocks-per-bit.
    #[arg(long)]
    pub host_clocks_per_bit: Option<u16>,
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct SynthArgs {
    /// icebreaker | ulx3s-25f | xc7
    #[arg(long)]
    pub board: String,
    #[arg(long)]
    pub bits: u8,
    /// Array rows (default: the board's).
    #[arg(long)]
    pub rows: Option<usize>,
    /// Array lanes (default: the board's).
    #[arg(long)]
    pub cols: Option<usize>,
    /// Engine clock in MHz (default: the board's target).
    #[arg(long)]
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
    #[arg(long)]
    pub rows: Option<usize>,
    #[arg(long)]
    pub cols: Option<usize>,
    #[arg(long)]
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
    #[arg(long, default_value_t = 8)]
    pub rows: usize,
    #[arg(long, default_value_t = 8)]
    pub cols: usize,
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(a: HwArgs) -> Result<()> {
    match a.command {
        HwCommand::Verilog(v) => verilog(v),
        HwCommand::Synth(s) => synth_cmd(s),
        HwCommand::Bench(b) => bench(b),
        HwCommand::Pack(p) => crate::pack::pack_cmd(&p.bundle, p.rows, p.cols, &p.out),
    }
}

pub fn verilog(a: VerilogArgs) -> Result<()> {
    let info = crate::verilog::write_engine(a.bits, a.rows, a.cols, &a.out)?;
    if let Some(cpb) = a.host_clocks_per_bit {
        let v = crate::configs::host_verilog(a.bits, a.rows, a.cols, cpb)
            .map_err(anyhow::Error::msg)?;
        crate::util::write_atomic(&a.out.join("host.v"), v.as_bytes())?;
    }
    println!(
        "wrote {}/top.v and engine.json: B={} {}x{} (weight word {} bits, activation word {} bits, tile overhead {} cycles)",
        a.out.display(),
        a.bits,
        a.rows,
        a.cols,
        info.weight_word_bits,
        info.activation_word_bits,
        info.timing.tile_overhead
    );
    Ok(())
}

pub fn synth_cmd(a: SynthArgs) -> Result<()> {
    let r = synth(&SynthOptions {
        board: a.board,
        bits: a.bits,
        rows: a.rows,
        cols: a.cols,
        freq_mhz: a.freq,
        out: a.out.clone(),
        yosys_only: a.yosys_only,
        seed: a.seed,
    })?;
    print_table(&r);
    println!("report: {}", a.out.join("report.json").display());
    check_timing(&r)
}

/// `hw bench`: one synthesis per bitwidth; timing failures are reported in the table (and in
/// `bench.json`) rather than stopping the sweep.
pub fn bench(a: BenchArgs) -> Result<()> {
    let mut reports = vec![];
    for &b in &a.bits {
        let out = a.out.join(format!("{}-b{b}", a.board));
        let r = synth(&SynthOptions {
            board: a.board.clone(),
            bits: b,
            rows: a.rows,
            cols: a.cols,
            freq_mhz: a.freq,
            out,
            yosys_only: a.yosys_only,
            seed: 1,
        })?;
        reports.push(r);
    }
    print_header();
    for r in &reports {
        print_row(r);
    }
    crate::util::write_atomic(
        &a.out.join("bench.json"),
        serde_json::to_string_pretty(&reports)?.as_bytes(),
    )?;
    Ok(())
}
