//! The host driver's two jobs on a board running the whole-network engine.
//!
//! * [`load`]: compile a bundle for the board's engine, refuse a board whose engine differs
//!   (one line, before anything is written), write the program and weight region and the
//!   loader registers, read them back, commit the model id; skipped when the board already
//!   holds that model.
//! * [`classify`]: run images, compare every logit with the integer reference, time the engine
//!   (its cycle counter) and the link (the rest of the wall time).
//!
//! The model id is the first 8 bytes of the SHA-256 of what `load` writes: the main-memory
//! image and the loader registers (`unibit_core::hash::sha256_parts`). The registers follow
//! from the program, but hashing both means the id names every byte the engine runs from.

use crate::error::{Error, Result};
use crate::link::Link;
use crate::port::Port;
use crate::protocol::Info;
use crate::target::{self, hash8, hex8, Registers, Target, BOARDS, MEM_MAIN, MEM_REGS};
use ndarray::Array4;
use serde::Serialize;
use std::path::Path;
use std::time::{Duration, Instant};
use unibit_core::bundle::{self, Bundle};
use unibit_core::engine::{self, Program};
use unibit_core::progress::Progress;
use unibit_core::reference;

/// Bytes per WRITE/READ progress step.
const STEP: usize = 8 * 1024;
/// Time RUN may take beyond twice the engine's time: a software board computes on the host.
const RUN_ALLOWANCE: Duration = Duration::from_secs(5);

/// What the host expects of the board; `None` fields are taken from its INFO.
#[derive(Clone, Debug, Default)]
pub struct Expect {
    /// A board name (`icebreaker`, `ulx3s-25f`); its default R×C unless `rows`/`cols`.
    pub board: Option<String>,
    pub rows: Option<usize>,
    pub cols: Option<usize>,
}

/// A bundle compiled for a board's engine, with the bytes `load` writes.
pub struct Compiled {
    pub bundle: Bundle,
    pub target: Target,
    pub program: Program,
    pub image: Vec<u8>,
    pub regs: Vec<u8>,
    pub model_id: [u8; 8],
}

/// The engine configuration to compile for: the named board, or the known board whose
/// configuration hash is the one INFO reports (else the nearest, for the error).
fn choose_target(info: &Info, bits: u8, expect: &Expect) -> Result<Target> {
    if let Some(b) = &expect.board {
        return Target::named(b, bits, expect.rows, expect.cols);
    }
    let rows = expect.rows.or(Some(info.rows as usize));
    let cols = expect.cols.or(Some(info.cols as usize));
    let cands: Vec<Target> = BOARDS
        .iter()
        .filter_map(|b| Target::named(b, bits, rows, cols).ok())
        .collect();
    let main = main_bytes(info);
    let pick = cands
        .iter()
        .find(|t| t.config_hash().ok() == Some(info.config_hash))
        .or_else(|| cands.iter().find(|t| t.main_bytes().ok() == main))
        .or(cands.first());
    match pick {
        Some(t) => Ok(t.clone()),
        None => Target::named(BOARDS[0], bits, None, None),
    }
}

fn main_bytes(info: &Info) -> Option<u32> {
    info.memories
        .iter()
        .find(|m| m.id == MEM_MAIN)
        .map(|m| m.bytes)
}

/// Everything in which the board's INFO differs from `t`, one phrase each.
fn differences(info: &Info, t: &Target) -> Result<Vec<String>> {
    let mut d = vec![];
    let bits = t.shape.bits.get();
    if info.bits != bits {
        d.push(format!(
            "B = {} (the bundle's model is B = {bits})",
            info.bits
        ));
    }
    if (info.rows as usize, info.cols as usize) != (t.shape.rows, t.shape.cols) {
        d.push(format!(
            "R×C = {}×{} (expected {}×{})",
            info.rows, info.cols, t.shape.rows, t.shape.cols
        ));
    }
    let want = t.main_bytes()?;
    match main_bytes(info) {
        Some(b) if b == want => {}
        Some(b) => d.push(format!("main memory {b} bytes (expected {want})")),
        None => d.push("no main memory (memory 0)".into()),
    }
    let regs = info.memories.iter().find(|m| m.id == MEM_REGS);
    if regs.is_none_or(|m| (m.bytes as usize) < target::REGS_BYTES) {
        d.push(format!(
            "no loader registers (memory 1, {} bytes)",
            target::REGS_BYTES
        ));
    }
    let hash = t.config_hash()?;
    if info.config_hash != hash {
        d.push(format!(
            "configuration hash {} (expected {})",
            hex8(&info.config_hash),
            hex8(&hash)
        ));
    }
    Ok(d)
}

/// Read `bundle_dir` and compile it for the board that sent `info`; refuses a board whose
/// engine differs from the target, naming every difference.
pub fn compile_for(
    bundle_dir: &Path,
    info: &Info,
    port: &str,
    expect: &Expect,
) -> Result<Compiled> {
    let bundle = bundle::read_with(bundle_dir, false)?;
    let bits = bundle.model.bits.get();
    let mut target = choose_target(info, bits, expect)?;
    // Engine time runs at the clock the bitstream was built for, which INFO reports and
    // `hw synth --freq` may set below the board's default.
    if info.clock_hz > 0 {
        target.clock_hz = info.clock_hz;
    }
    let differs = differences(info, &target)?;
    if !differs.is_empty() {
        return Err(Error::WrongEngine {
            port: port.into(),
            target: format!(
                "{} {}×{} B = {bits}",
                target.board, target.shape.rows, target.shape.cols
            ),
            differs: differs.join("; "),
        });
    }
    let program = engine::compile(&bundle.model, &target.shape, &target.memories)?;
    let image = target::image_bytes(&program);
    let regs = Registers::of(&program)?.encode()?;
    let model_id = hash8(&[&image, &regs]);
    Ok(Compiled {
        bundle,
        target,
        program,
        image,
        regs,
        model_id,
    })
}

/// Traffic and time of one driver command.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Traffic {
    /// Bytes on the wire, both directions (frames and retries included).
    pub wire_bytes: u64,
    /// Time those bytes take at the link's baud rate.
    pub wire_s: f64,
    pub retries: u64,
    pub wall_s: f64,
}

impl Traffic {
    fn since<P: Port>(link: &Link<P>, before: (u64, u64), start: Instant) -> Traffic {
        let wire = link.bytes_sent + link.bytes_received - before.0;
        Traffic {
            wire_bytes: wire,
            wire_s: link.wire_time(wire as usize).as_secs_f64(),
            retries: link.retries - before.1,
            wall_s: start.elapsed().as_secs_f64(),
        }
    }
}

fn mark<P: Port>(link: &Link<P>) -> (u64, u64) {
    (link.bytes_sent + link.bytes_received, link.retries)
}

/// What `load` did.
#[derive(Clone, Debug, Serialize)]
pub struct LoadReport {
    pub port: String,
    pub board: String,
    pub bits: u8,
    pub rows: usize,
    pub cols: usize,
    pub model_id: String,
    /// The board already held this model: nothing was written.
    pub skipped: bool,
    /// Bytes of the main-memory image (program, weights and parameters).
    pub image_bytes: usize,
    /// Payload bytes written (image and loader registers) and read back to verify.
    pub bytes_written: usize,
    pub bytes_verified: usize,
    /// Of the main memory.
    pub main_bytes: u32,
    pub traffic: Traffic,
}

/// Load the bundle at `bundle_dir` onto the board behind `link`.
pub fn load<P: Port>(
    bundle_dir: &Path,
    link: &mut Link<P>,
    expect: &Expect,
    progress: &dyn Progress,
) -> Result<LoadReport> {
    let (start, before) = (Instant::now(), mark(link));
    let info = link.info()?;
    let c = compile_for(bundle_dir, &info, link.name(), expect)?;
    let skipped = info.model_id == c.model_id;
    let mut written = 0;
    if !skipped {
        written = write_verified(link, &c, progress)?;
        link.commit(c.model_id)?;
    }
    Ok(LoadReport {
        port: link.name().into(),
        board: c.target.board.clone(),
        bits: c.target.shape.bits.get(),
        rows: c.target.shape.rows,
        cols: c.target.shape.cols,
        model_id: hex8(&c.model_id),
        skipped,
        image_bytes: c.image.len(),
        bytes_written: written,
        bytes_verified: written,
        main_bytes: c.target.main_bytes()?,
        traffic: Traffic::since(link, before, start),
    })
}

/// Write the image and the registers, then read both back and compare. Reading back is the
/// exact check the protocol offers (the board computes no checksum); it doubles the bytes.
fn write_verified<P: Port>(
    link: &mut Link<P>,
    c: &Compiled,
    progress: &dyn Progress,
) -> Result<usize> {
    let parts = [(MEM_MAIN, &c.image), (MEM_REGS, &c.regs)];
    let total: usize = parts.iter().map(|(_, d)| d.len()).sum();
    progress.begin("write", Some(total as u64));
    for (mem, data) in parts {
        for (i, block) in data.chunks(STEP).enumerate() {
            link.write(mem, (i * STEP) as u32, block)?;
            progress.advance(block.len() as u64);
        }
    }
    progress.end();
    progress.begin("verify", Some(total as u64));
    for (mem, data) in parts {
        for (i, block) in data.chunks(STEP).enumerate() {
            let back = link.read(mem, (i * STEP) as u32, block.len())?;
            if let Some(j) = back.iter().zip(block).position(|(a, b)| a != b) {
                return Err(Error::Verify {
                    port: link.name().into(),
                    mem,
                    addr: i * STEP + j,
                });
            }
            progress.advance(block.len() as u64);
        }
    }
    progress.end();
    Ok(total)
}

/// Images to classify: `[N, C, H, W]` pixels and, for a data set, their labels.
#[derive(Clone, Debug)]
pub struct Images {
    pub pixels: Array4<u8>,
    pub labels: Option<Vec<u8>>,
    /// Where they came from (`fashion-mnist test`, file names), for the report.
    pub source: String,
}

/// An image whose board logits differ from the integer reference.
#[derive(Clone, Debug, Serialize)]
pub struct LogitMismatch {
    pub index: usize,
    pub board: Vec<i32>,
    pub reference: Vec<i32>,
}

/// What `classify` measured.
#[derive(Clone, Debug, Serialize)]
pub struct ClassifyReport {
    pub port: String,
    pub board: String,
    pub model_id: String,
    pub source: String,
    pub images: usize,
    /// Predicted class per image (argmax of the board's logits, lowest index on ties).
    pub classes: Vec<usize>,
    pub labels: Option<Vec<u8>>,
    pub correct: Option<usize>,
    pub accuracy: Option<f64>,
    /// Images whose every logit equals `reference::run_output`'s.
    pub reference_equal: usize,
    pub mismatches: Vec<LogitMismatch>,
    /// The board's cycle counter per image, and `engine::cycles` of the compiled program.
    pub cycles: Vec<u64>,
    pub cycles_expected: u64,
    pub cycles_equal: bool,
    pub clock_hz: u32,
    /// Per image: mean wall time of one RUN, the engine's share (cycles / clock) and the
    /// rest (link, host; on a software board also the model's own computing).
    pub latency_ms: f64,
    pub engine_ms: f64,
    pub link_ms: f64,
    pub images_per_s: f64,
    pub traffic: Traffic,
}

impl ClassifyReport {
    /// Every logit equal to the reference and every cycle count as compiled.
    pub fn exact(&self) -> bool {
        self.mismatches.is_empty() && self.cycles_equal
    }
}

/// Argmax with the lowest index winning ties.
pub fn argmax(logits: &[i32]) -> usize {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best
}

/// Run `images` on the board (which must hold the bundle's model) and compare.
pub fn classify<P: Port>(
    bundle_dir: &Path,
    link: &mut Link<P>,
    images: &Images,
    progress: &dyn Progress,
) -> Result<ClassifyReport> {
    let info = link.info()?;
    let c = compile_for(bundle_dir, &info, link.name(), &Expect::default())?;
    if info.model_id != c.model_id {
        return Err(Error::WrongModel {
            port: link.name().into(),
            expected: hex8(&c.model_id),
            found: if info.model_loaded() {
                hex8(&info.model_id)
            } else {
                "none".into()
            },
        });
    }
    let want = reference::run_output(&c.bundle.model, images.pixels.view(), 64)?;
    let runs = run_all(link, &c, images, progress)?;
    Ok(summarise(link, &c, images, &want, runs))
}

struct Runs {
    logits: Vec<Vec<i32>>,
    cycles: Vec<u64>,
    wall_s: f64,
    traffic: Traffic,
}

fn run_all<P: Port>(
    link: &mut Link<P>,
    c: &Compiled,
    images: &Images,
    progress: &dyn Progress,
) -> Result<Runs> {
    let n_logits = c.program.output().shape.c;
    let engine_t =
        Duration::from_secs_f64(engine::cycles(&c.program) as f64 / c.target.clock_hz as f64);
    let (before, start) = (mark(link), Instant::now());
    let (mut logits, mut cycles) = (vec![], vec![]);
    progress.begin("classify", Some(images.pixels.shape()[0] as u64));
    for (index, img) in images.pixels.outer_iter().enumerate() {
        let bytes: Vec<u8> = img.iter().copied().collect();
        let r = link
            .run(&bytes, n_logits, engine_t * 2 + RUN_ALLOWANCE)
            .map_err(|e| Error::Image {
                index,
                source: Box::new(e),
            })?;
        logits.push(r.logits);
        cycles.push(r.cycles);
        progress.advance(1);
    }
    progress.end();
    Ok(Runs {
        logits,
        cycles,
        wall_s: start.elapsed().as_secs_f64(),
        traffic: Traffic::since(link, before, start),
    })
}

fn summarise<P: Port>(
    link: &Link<P>,
    c: &Compiled,
    images: &Images,
    want: &Array4<i32>,
    runs: Runs,
) -> ClassifyReport {
    let n = runs.logits.len();
    let classes: Vec<usize> = runs.logits.iter().map(|l| argmax(l)).collect();
    let mismatches: Vec<LogitMismatch> = runs
        .logits
        .iter()
        .zip(want.outer_iter())
        .enumerate()
        .filter_map(|(index, (got, r))| {
            let reference: Vec<i32> = r.iter().copied().collect();
            (got != &reference).then(|| LogitMismatch {
                index,
                board: got.clone(),
                reference,
            })
        })
        .collect();
    let correct = images.labels.as_ref().map(|l| {
        classes
            .iter()
            .zip(l)
            .filter(|(c, l)| **c == **l as usize)
            .count()
    });
    let expected = engine::cycles(&c.program);
    let clock = c.target.clock_hz;
    let mean_cycles = runs.cycles.iter().sum::<u64>() as f64 / n.max(1) as f64;
    let latency_ms = runs.wall_s * 1e3 / n.max(1) as f64;
    let engine_ms = mean_cycles / clock as f64 * 1e3;
    ClassifyReport {
        port: link.name().into(),
        board: c.target.board.clone(),
        model_id: hex8(&c.model_id),
        source: images.source.clone(),
        images: n,
        accuracy: correct.map(|k| k as f64 / n.max(1) as f64),
        correct,
        labels: images.labels.clone(),
        classes,
        reference_equal: n - mismatches.len(),
        mismatches,
        cycles_equal: runs.cycles.iter().all(|&k| k == expected),
        cycles: runs.cycles,
        cycles_expected: expected,
        clock_hz: clock,
        latency_ms,
        engine_ms,
        link_ms: latency_ms - engine_ms,
        images_per_s: n as f64 / runs.wall_s.max(1e-9),
        traffic: runs.traffic,
    }
}
