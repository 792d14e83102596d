//! `unibit` — one binary for the whole flow. Each subcommand parses its arguments and calls a
//! library function; errors travel up to one clear message and a non-zero exit code.

mod cli;
#[cfg(test)]
mod doc_check;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "unibit",
    version,
    about = "One weight bitwidth for the whole network: QAT trainer, bit-serial FPGA engine, cosimulation",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per run; boxing the big argument structs would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Model size of a family at a bitwidth, and the width that fits a budget.
    Size(cli::size::SizeArgs),
    /// Bundle tools (synthetic example bundles).
    #[command(subcommand)]
    Bundle(cli::bundle::BundleCmd),
    /// Show a bundle: arithmetic, layers, size, accuracy, golden vectors.
    Inspect(cli::inspect::InspectArgs),
    /// Integer accuracy of a bundle on a dataset (unibit-core's reference executor).
    Infer(cli::infer::InferArgs),
    /// Predicted cycles of a bundle on an R×C bit-serial array.
    Cost(cli::cost::CostArgs),
    /// Run a bundle on the simulated engine and compare every layer with its golden vectors.
    Cosim(cli::cosim::CosimArgs),
    /// The whole flow, small and end to end: model within a budget, accuracy, cycles, cosimulation.
    Demo(cli::demo::DemoArgs),
    /// Plots and a Markdown/HTML summary of sweeps: which bitwidth wins at each model size.
    Report(cli::report::ReportArgs),
    /// Benchmarks that print figures.
    #[command(subcommand)]
    Bench(cli::bench::BenchCmd),
    /// Boards: program a bitstream, query, load a bundle, classify, serve a software board.
    #[command(subcommand)]
    Board(cli::board::BoardCmd),
    /// Hardware: engine Verilog, board synthesis (bitstream + report), memory images for a bundle.
    Hw(cli::hw::HwArgs),
    /// Train a ConvNet with one weight bitwidth B for every layer (QAT), at a width or a size budget.
    #[cfg(feature = "train")]
    Train(cli::train::TrainArgs),
    /// Export a trained run to an integer bundle (calibrate, fold batch norm, check accuracy).
    #[cfg(feature = "train")]
    Export(cli::train::ExportArgs),
    /// Training throughput of one network unquantized vs quantized (same process).
    #[cfg(feature = "train")]
    BenchTrain(cli::train::BenchTrainArgs),
    /// Iso-size sweep: one training per (budget, bitwidth, seed), widths from the solver,
    /// results in SWEEP/results.jsonl; `sweep plan|run|collect` for clusters (Slurm arrays).
    #[cfg(feature = "train")]
    Sweep(cli::sweep::SweepCmd),
    /// Mixed-precision baseline: Hessian-trace bit allocation at budgets, or the smallest size
    /// with no accuracy loss against the 8-bit model.
    #[cfg(feature = "train")]
    Mixed(cli::mixed::MixedArgs),
}

fn main() -> ExitCode {
    // Die quietly when stdout is closed early (`unibit inspect B | head`), like other CLI tools.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Size(a) => cli::size::size(a),
        Command::Bundle(c) => cli::bundle::bundle(c),
        Command::Inspect(a) => cli::inspect::inspect(a),
        Command::Infer(a) => cli::infer::infer(a),
        Command::Cost(a) => cli::cost::cost(a),
        Command::Cosim(a) => cli::cosim::cosim(a),
        Command::Demo(a) => cli::demo::demo(a),
        Command::Report(a) => cli::report::report(a),
        Command::Bench(c) => cli::bench::bench(c),
        Command::Hw(a) => cli::hw::run(a),
        Command::Board(c) => cli::board::run(c),
        #[cfg(feature = "train")]
        Command::Train(a) => {
            let run = a.out.clone();
            cli::train::train(a).map(|()| {
                // The run is saved; a curve that cannot be drawn is only a warning.
                match cli::curve::draw_run(&run) {
                    Ok(Some(svg)) => eprintln!("training curve: {}", svg.display()),
                    Ok(None) => {}
                    Err(e) => eprintln!("warning: no training curve for {}: {e:#}", run.display()),
                }
            })
        }
        #[cfg(feature = "train")]
        Command::Export(a) => cli::train::export(a),
        #[cfg(feature = "train")]
        Command::BenchTrain(a) => cli::train::bench_train(a),
        #[cfg(feature = "train")]
        Command::Sweep(c) => cli::sweep::sweep(c),
        #[cfg(feature = "train")]
        Command::Mixed(a) => cli::mixed::mixed(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// `e` and its causes joined by ": " (as anyhow's `{:#}`), leaving out a cause whose text is
/// already there: library errors quote their sources in their own messages.
fn error_chain(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !out.contains(&c) {
            out.push_str(": ");
            out.push_str(&c);
        }
    }
    out
}
