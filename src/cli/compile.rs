//! `unibit hw compile`: a bundle compiled for a board's whole-network engine (program, memory
//! images, memory map) — `unibit_board::compile::compile_to`.

use anyhow::Result;
use std::path::PathBuf;
use unibit_board::compile::{compile_to, map_table, Choice, CompileReport};

#[derive(clap::Args, Debug)]
pub struct CompileArgs {
    /// Bundle directory.
    pub bundle: PathBuf,
    /// icebreaker | ulx3s-25f
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(unibit_board::target::BOARDS))]
    pub board: String,
    /// Array rows (default: the board's).
    #[arg(long, value_parser = super::args::array_side)]
    pub rows: Option<usize>,
    /// Array lanes (default: the board's).
    #[arg(long, value_parser = super::args::array_side)]
    pub cols: Option<usize>,
    /// Output directory (empty, absent, or an earlier `hw compile` output).
    #[arg(long)]
    pub out: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn compile(a: CompileArgs) -> Result<()> {
    let choice = Choice {
        board: a.board.clone(),
        rows: a.rows,
        cols: a.cols,
    };
    let r = compile_to(&a.bundle, &choice, &a.out)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print_report(&a, &r);
    }
    Ok(())
}

fn print_report(a: &CompileArgs, r: &CompileReport) {
    println!(
        "{} for {} ({}×{} array, B = {}): {} records, image {} of {} bytes, model id {}, engine configuration {}",
        a.bundle.display(),
        r.board,
        r.rows,
        r.cols,
        r.bits,
        r.records,
        r.image_bytes,
        r.main_bytes,
        r.model_id,
        r.config_hash
    );
    print!("{}", map_table(&r.map));
    println!();
    print!("{}", r.cycles.table());
    println!(
        "{} cycles per image ({:.3} × the MAC bound): {:.1} images/s of engine time at {} MHz",
        r.cycles.cycles,
        r.cycles.ratio,
        r.images_per_s,
        r.clock_hz as f64 / 1e6
    );
    println!("wrote {}: {}", a.out.display(), r.files.join(", "));
}
