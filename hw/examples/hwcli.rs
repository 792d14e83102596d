//! `cargo run -p unibit-hw --example hwcli -- synth …`: the `unibit hw` commands without the
//! full CLI (handy for hardware-only work).
use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    hw: unibit_hw::cli::HwArgs,
}

fn main() {
    let c = Cli::parse();
    if let Err(e) = unibit_hw::cli::run(c.hw) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
