//! `hw compile`: a bundle compiled for a named board's whole-network engine, written to disk —
//! what `load` would send, as files a hardware engineer can inspect, simulate or flash.
//!
//! ```text
//! OUT/program.json      this report: board, engine, model id, configuration hash, cycles, memory map
//! OUT/main.bin          the resident main-memory image (program + weights), little-endian dwords
//! OUT/main.hex          the same, one main word per line (`$readmemh` order: word 0 first)
//! OUT/registers.bin     the 64 loader-register bytes (protocol memory 1)
//! OUT/memory-map.txt    every buffer and how full each memory is, as a table
//! ```
//!
//! A model that does not fit is refused by [`unibit_core::engine::compile`] before anything is
//! written, with the memory, the bytes needed and available, and the budget that would fit.

use crate::error::{Error, Result};
use crate::target::{self, hash8, hex8, Registers, Target};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use unibit_core::atomic::{self, OutputKind, Staging};
use unibit_core::bundle;
use unibit_core::engine::{self, CycleReport, MemoryMap, Program};

/// The marker of a compile output directory.
pub const PROGRAM_JSON: &str = "program.json";
pub const FORMAT: &str = "unibit-engine-program";
pub const KIND: OutputKind = OutputKind {
    name: "compiled engine program",
    marker: PROGRAM_JSON,
    format: FORMAT,
};

/// What `compile` wrote (also `OUT/program.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CompileReport {
    pub format: String,
    pub bundle: PathBuf,
    pub board: String,
    pub bits: u8,
    pub rows: usize,
    pub cols: usize,
    pub clock_hz: u32,
    /// Identity of the engine configuration (what the bitstream's INFO reports).
    pub config_hash: String,
    /// Identity of this model on that engine (what `load` commits).
    pub model_id: String,
    /// Bytes of the main-memory image and of the main memory.
    pub image_bytes: usize,
    pub main_bytes: u32,
    pub records: usize,
    /// Cycles per image (the engine's counter reads exactly this) and per layer.
    pub cycles: CycleReport,
    /// Images per second of engine time at `clock_hz` (the link not included).
    pub images_per_s: f64,
    pub map: MemoryMap,
    pub files: Vec<String>,
}

/// Which engine to compile for: a board by `--board` name, at its default R×C unless given.
#[derive(Clone, Debug, Default)]
pub struct Choice {
    pub board: String,
    pub rows: Option<usize>,
    pub cols: Option<usize>,
}

/// Compile the bundle at `bundle_dir` for the board's engine built for the bundle's B.
pub fn compile_bundle(bundle_dir: &Path, choice: &Choice) -> Result<(Program, CompileReport)> {
    let b = bundle::read_with(bundle_dir, false)?;
    let target = &Target::named(&choice.board, b.model.bits.get(), choice.rows, choice.cols)?;
    let program = engine::compile(&b.model, &target.shape, &target.memories)?;
    let image = target::image_bytes(&program);
    let regs = Registers::of(&program)?.encode()?;
    let cycles = engine::report(&program.plan);
    debug_assert_eq!(cycles.cycles, engine::cycles(&program));
    let report = CompileReport {
        format: FORMAT.into(),
        bundle: bundle_dir.to_path_buf(),
        board: target.board.clone(),
        bits: target.shape.bits.get(),
        rows: target.shape.rows,
        cols: target.shape.cols,
        clock_hz: target.clock_hz,
        config_hash: hex8(&target.config_hash()?),
        model_id: hex8(&hash8(&[&image, &regs])),
        image_bytes: image.len(),
        main_bytes: target.main_bytes()?,
        records: program.descriptors.len(),
        images_per_s: target.clock_hz as f64 / cycles.cycles as f64,
        cycles,
        map: program.map.clone(),
        files: vec![],
    };
    Ok((program, report))
}

/// Compile and write the outputs into `out` (staged, then renamed; `out` may be empty, absent
/// or an earlier compile output; never the bundle).
pub fn compile_to(bundle_dir: &Path, choice: &Choice, out: &Path) -> Result<CompileReport> {
    atomic::check_output_dir(out, &KIND, &[bundle_dir])?;
    let (program, mut report) = compile_bundle(bundle_dir, choice)?;
    let stage = Staging::new(out)?;
    let write = |name: &str, bytes: &[u8]| -> Result<()> {
        let p = stage.path(name);
        std::fs::write(&p, bytes).map_err(|source| Error::File { file: p, source })
    };
    write("main.bin", &target::image_bytes(&program))?;
    write("main.hex", hex_words(&program).as_bytes())?;
    write("registers.bin", &Registers::of(&program)?.encode()?)?;
    write("memory-map.txt", map_table(&program.map).as_bytes())?;
    report.files = [
        "main.bin",
        "main.hex",
        "registers.bin",
        "memory-map.txt",
        PROGRAM_JSON,
    ]
    .map(String::from)
    .to_vec();
    let json = serde_json::to_vec_pretty(&report).expect("plain data serialises");
    write(PROGRAM_JSON, &json)?;
    stage.publish()?;
    Ok(report)
}

/// One main word per line, most significant hex digit first (dword `w·C/8 + C/8 − 1` leads).
pub fn hex_words(program: &Program) -> String {
    let d = program.shape().dwords();
    let mut s = String::with_capacity(program.image.len() * 17);
    for word in program.image.chunks(d) {
        for dw in word.iter().rev() {
            let _ = write!(s, "{dw:016x}");
        }
        s.push('\n');
    }
    s
}

/// The memory map as two tables: buffers, then use per memory.
pub fn map_table(map: &MemoryMap) -> String {
    let bw = map
        .buffers
        .iter()
        .map(|b| b.name.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let mw = map
        .buffers
        .iter()
        .map(|b| b.memory.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let mut s = format!(
        "{:<bw$} {:<mw$} {:>7} {:>7} {:>9}  contents\n",
        "buffer", "memory", "base", "words", "bytes"
    );
    for b in &map.buffers {
        let _ = writeln!(
            s,
            "{:<bw$} {:<mw$} {:>7} {:>7} {:>9}  {}",
            b.name, b.memory, b.base, b.words, b.bytes, b.contents
        );
    }
    let uw = map
        .memories
        .iter()
        .map(|m| m.memory.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let _ = writeln!(
        s,
        "\n{:<uw$} {:>9} {:>9} {:>7}",
        "memory", "used", "available", "used"
    );
    for m in &map.memories {
        let _ = writeln!(
            s,
            "{:<uw$} {:>9} {:>9} {:>6.1}%  ({})",
            m.memory, m.used, m.available, m.percent, m.unit
        );
    }
    s
}
