//! Whole images on the whole-network engine: the bundle is compiled by `unibit_core::engine`,
//! the host writes the resident image and each golden image's input (laid out as the image
//! loader would: `Machine::load_image` is the reference) over the engine's host port, starts
//! it and reads the logits back; per layer, runs stopped with `stop_after` leave each layer's
//! buffer to be read back and compared with the golden vectors and with the memory-level
//! machine (`unibit_core::engine::Machine`). Every stop's cycle counter must equal
//! `engine::cycles` exactly.
//!
//! A layer's buffer is read at the first stop at or after the layer before a later record
//! overwrites it (found from the machine's memory after every record), so an image costs a
//! few partial runs, not one per layer.

use crate::error::{Error, Result};
use crate::net_sim::{NetRustHdl, NetSim, NetVerilator, MAIN_WORDS, RUN_TO_END};
use ndarray::{s, Array3, ArrayView3, Axis};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;
use unibit_core::bundle::{self, Golden};
use unibit_core::engine::cost::descriptor_cycles;
use unibit_core::engine::machine::diff;
use unibit_core::engine::{self, EngineShape, Machine, Memories, Program, TensorPlace};
use unibit_core::{Progress, QuantModel};

/// The simulator of the whole-network engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetSimKind {
    /// Verilator build of the engine's Verilog (cached per B).
    Verilator,
    /// The rust-hdl circuit (slow: tiny networks).
    Rusthdl,
}

impl NetSimKind {
    pub fn name(self) -> &'static str {
        match self {
            NetSimKind::Verilator => "verilator",
            NetSimKind::Rusthdl => "rusthdl",
        }
    }
}

/// One bit of main memory to flip in the resident image written to the engine (the machine
/// keeps the clean image): a fault to prove that cosimulation finds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BitFlip {
    /// Main-memory word (must lie in the resident image: program or weights).
    pub word: usize,
    /// Bit 0..=63 of that word.
    pub bit: u32,
}

#[derive(Clone, Debug)]
pub struct NetOptions {
    pub sim: NetSimKind,
    /// Golden images to run (default: all in the bundle).
    pub images: Option<usize>,
    /// B the engine is built for (default: the bundle's).
    pub bits: Option<u8>,
    /// Read back and compare every layer (default); `false` checks the final buffers only.
    pub per_layer: bool,
    pub flip: Option<BitFlip>,
}

impl Default for NetOptions {
    fn default() -> Self {
        NetOptions {
            sim: NetSimKind::Verilator,
            images: None,
            bits: None,
            per_layer: true,
            flip: None,
        }
    }
}

/// What differed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NetMismatchKind {
    /// A value of the layer's output read from the engine differs from the golden vectors.
    Value {
        channel: usize,
        pixel: (usize, usize),
        expected: i32,
        actual: i32,
    },
    /// The values equal the golden vectors but a word of the buffer (e.g. a lane past the
    /// channels) differs from the machine's.
    Word {
        address: usize,
        expected: u64,
        actual: u64,
    },
    /// The compiled program on the machine differs from the golden vectors (the compiler or
    /// the machine, not the RTL).
    Reference {
        channel: usize,
        pixel: (usize, usize),
        expected: i32,
        actual: i32,
    },
    /// The engine's cycle counter at the stop differs from `engine::cycles`.
    Cycles { expected: u64, actual: u64 },
    /// The machine's count differs from `engine::cycles` (a core inconsistency).
    MachineCycles { expected: u64, actual: u64 },
    /// The engine raised `fault` (an op code without a unit) by the end of the record.
    Fault,
}

/// The first difference of an image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetMismatch {
    pub image: usize,
    pub layer: String,
    /// The layer's record (descriptor) index.
    pub record: usize,
    #[serde(flatten)]
    pub what: NetMismatchKind,
    /// The record after which the engine stopped when this was read (the layer's own record
    /// unless a later record overwrote its buffer), and the engine's counter there.
    pub read_after: usize,
    pub cycle: Option<u64>,
    /// The layer's first cycle by `engine::cycles`.
    pub first_cycle: u64,
}

impl std::fmt::Display for NetMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "image {}, layer {:?} (record {}): ",
            self.image, self.layer, self.record
        )?;
        match &self.what {
            NetMismatchKind::Value {
                channel,
                pixel,
                expected,
                actual,
            } => write!(
                f,
                "channel {channel}, pixel ({}, {}): expected {expected}, engine {actual}",
                pixel.0, pixel.1
            )?,
            NetMismatchKind::Word {
                address,
                expected,
                actual,
            } => write!(
                f,
                "values match but main word {address} is {actual:016x}, machine {expected:016x}"
            )?,
            NetMismatchKind::Reference {
                channel,
                pixel,
                expected,
                actual,
            } => write!(
                f,
                "the machine (not the RTL) differs from the golden vectors at channel {channel}, \
                 pixel ({}, {}): expected {expected}, machine {actual}",
                pixel.0, pixel.1
            )?,
            NetMismatchKind::Cycles { expected, actual } => write!(
                f,
                "cycle counter {actual} at the record's end, engine::cycles says {expected}"
            )?,
            NetMismatchKind::MachineCycles { expected, actual } => write!(
                f,
                "the machine counts {actual} cycles, engine::cycles says {expected}"
            )?,
            NetMismatchKind::Fault => write!(f, "the engine raised fault")?,
        }
        match self.cycle {
            Some(c) if self.read_after == self.record => {
                write!(f, " (engine counter {c} at the layer's end")?
            }
            Some(c) => write!(
                f,
                " (read after record {} at engine counter {c}: a later record overwrote the buffer",
                self.read_after
            )?,
            None => return write!(f, " (the layer starts at cycle {})", self.first_cycle),
        }
        write!(f, "; the layer starts at cycle {})", self.first_cycle)
    }
}

/// One layer (record) of one image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetLayer {
    pub name: String,
    pub op: String,
    pub record: usize,
    /// First cycle and cycles of the record by `engine::cycles`.
    pub first_cycle: u64,
    pub cycles: u64,
    /// The engine's counter when it stopped right after this record (not every record is a
    /// stop: see `read_after`).
    pub engine_end: Option<u64>,
    /// The stop at which the buffer was read back.
    pub read_after: Option<usize>,
    /// `None`: not checked (the image stopped at an earlier mismatch).
    pub matches: Option<bool>,
}

/// What a whole-network cosimulation found (also the JSON `unibit cosim` writes).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NetCosimReport {
    pub bundle: String,
    /// `net`.
    pub engine: String,
    pub sim: NetSimKind,
    pub bits: u8,
    pub rows: usize,
    pub cols: usize,
    pub images: usize,
    pub bit_exact: bool,
    /// The engine's counter at `End` (every image's equals `predicted_per_image` when
    /// bit-exact), `None` if the failing image never reached the full run.
    pub cycles_per_image: Option<u64>,
    /// `engine::cycles` of the program.
    pub predicted_per_image: u64,
    /// Engine runs per image: stops for the per-layer read-back, the last one to `End`.
    pub runs_per_image: usize,
    pub seconds: f64,
    /// Simulated engine cycles per wall second while the engine ran.
    pub sim_cycles_per_second: Option<f64>,
    /// The engine's logits of image 0.
    pub logits: Vec<i32>,
    /// The layers of the first image, or of the failing one.
    pub layers: Vec<NetLayer>,
    pub mismatch: Option<String>,
    pub first_mismatch: Option<NetMismatch>,
    /// Wall seconds of the Verilator build (0 when cached).
    pub build_seconds: f64,
}

/// The engine's shape and memories: the UP5K build, R = C = 8, 4 SPRAMs.
pub fn net_shape(bits: u8) -> Result<EngineShape> {
    let b = unibit_core::Bits::new(bits).map_err(|_| Error::Invalid {
        field: "bits".into(),
        expected: "1..=8".into(),
        found: bits.to_string(),
    })?;
    Ok(EngineShape::icebreaker(b))
}

/// `model` compiled for the engine built for B = `engine_bits`; refuses (before anything
/// runs) a B mismatch, a model too big for the main memory and unsupported layers.
pub fn compile_for(model: &QuantModel, engine_bits: u8) -> Result<Program> {
    if model.bits.get() != engine_bits {
        return Err(Error::BitsMismatch {
            bundle: model.bits.get(),
            engine: engine_bits,
        });
    }
    let shape = net_shape(engine_bits)?;
    let program = engine::compile(model, &shape, &Memories::up5k())?;
    if shape.dwords() != 1 || program.plan.config.main.depth != MAIN_WORDS {
        return Err(Error::Invalid {
            field: "engine".into(),
            expected: format!("one 64-bit dword per word and {MAIN_WORDS} main words"),
            found: format!(
                "{} dwords per word, {} words",
                shape.dwords(),
                program.plan.config.main.depth
            ),
        });
    }
    Ok(program)
}

/// `unibit cosim --engine net`: the bundle in `dir` on the simulated whole-network engine.
/// A mismatch is reported, not an error.
pub fn run_net_bundle(
    dir: &Path,
    o: &NetOptions,
    progress: &dyn Progress,
) -> Result<NetCosimReport> {
    let b = bundle::read(dir)?;
    let g = b.golden.as_ref().ok_or_else(|| Error::NoGolden {
        bundle: dir.to_path_buf(),
    })?;
    let n = o.images.unwrap_or(g.count());
    if n == 0 || n > g.count() {
        return Err(Error::Invalid {
            field: "images".into(),
            expected: format!("1..={} (golden images in the bundle)", g.count()),
            found: n.to_string(),
        });
    }
    let bits = o.bits.unwrap_or(b.model.bits.get());
    // Refuse what the engine cannot run before building anything.
    compile_for(&b.model, bits)?;
    let (mut sim, build_seconds): (Box<dyn NetSim>, f64) = match o.sim {
        NetSimKind::Verilator => {
            let v = NetVerilator::start(bits, false, progress)?;
            if v.build_seconds > 0.0 {
                progress.line(&format!(
                    "Verilator model built in {:.1} s (cached in {})",
                    v.build_seconds,
                    v.build_dir.display()
                ));
            }
            let s = v.build_seconds;
            (Box::new(v), s)
        }
        NetSimKind::Rusthdl => (Box::new(NetRustHdl::new(bits)?), 0.0),
    };
    let mut r = cosim_net(&b.model, g, n, sim.as_mut(), o, progress)?;
    r.bundle = dir.display().to_string();
    r.build_seconds = build_seconds;
    Ok(r)
}

/// Main-memory word range of a buffer.
fn range(p: &TensorPlace) -> std::ops::Range<usize> {
    p.base..p.base + p.words()
}

/// The prepared program: the machine's memory after every record for one image, and where
/// each layer is read back.
struct Plan {
    /// `snaps[n]`: the machine's main memory after record n.
    snaps: Vec<Vec<u64>>,
    /// Ascending records to stop after (the last one is the last layer: a run to `End`).
    stops: Vec<usize>,
    /// Per layer, the stop it is read at (`None`: not read back).
    read_at: Vec<Option<usize>>,
}

/// Stops that read every layer's buffer before it is overwritten: layer n's buffer holds its
/// output from record n through `alive[n]`; the fewest stops that hit every such interval
/// (greedy by interval end), each layer read at the first stop at or after it.
fn stops(
    snaps: &[Vec<u64>],
    places: &[TensorPlace],
    per_layer: bool,
) -> (Vec<usize>, Vec<Option<usize>>) {
    let last = snaps.len() - 1;
    let alive: Vec<usize> = (0..snaps.len())
        .map(|n| {
            let r = range(&places[n]);
            let mine = &snaps[n][r.clone()];
            (n..snaps.len())
                .take_while(|&k| &snaps[k][r.clone()] == mine)
                .last()
                .unwrap_or(n)
        })
        .collect();
    if !per_layer {
        let read_at = alive.iter().map(|&a| (a == last).then_some(last)).collect();
        return (vec![last], read_at);
    }
    let mut by_end: Vec<usize> = (0..snaps.len()).collect();
    by_end.sort_by_key(|&n| (alive[n], n));
    let mut stops: Vec<usize> = vec![];
    for n in by_end {
        if !stops.iter().any(|&s| s >= n && s <= alive[n]) {
            stops.push(alive[n]);
        }
    }
    if !stops.contains(&last) {
        stops.push(last);
    }
    stops.sort_unstable();
    let read_at = (0..snaps.len())
        .map(|n| stops.iter().find(|&&s| s >= n).copied())
        .collect();
    (stops, read_at)
}

/// A layer's output as its logical [C, H, W] tensor, decoded from a main-memory image.
fn decode(view: &mut Machine, memory: &[u64], p: &TensorPlace) -> Array3<i32> {
    view.main.copy_from_slice(memory);
    view.read_tensor(p)
}

/// Runs images `0..n` of `golden` through `model` on `sim` (the engine built for the model's
/// B): whole image, per layer (when `o.per_layer`), cycles against `engine::cycles`. Stops at
/// the first mismatching image. `bundle`, `sim` and `build_seconds` of the report are left
/// for the caller.
pub fn cosim_net(
    model: &QuantModel,
    golden: &Golden,
    n: usize,
    sim: &mut dyn NetSim,
    o: &NetOptions,
    progress: &dyn Progress,
) -> Result<NetCosimReport> {
    let program = compile_for(model, sim.bits())?;
    let shape = *program.shape();
    let layers = &program.plan.layers;
    let records = layers.len();
    if golden.outputs.len() != records {
        return Err(Error::Invalid {
            field: "golden".into(),
            expected: format!("outputs of the {records} layers"),
            found: format!("{} outputs", golden.outputs.len()),
        });
    }
    let places: Vec<TensorPlace> = program.plan.tensors[1..].to_vec();
    let per_record: Vec<u64> = program
        .descriptors
        .iter()
        .map(|d| descriptor_cycles(&shape, d))
        .collect();
    let first: Vec<u64> = per_record
        .iter()
        .scan(0u64, |acc, &c| {
            let s = *acc;
            *acc += c;
            Some(s)
        })
        .collect();
    let end = |k: usize| first[k] + per_record[k];
    let predicted = engine::cycles(&program);

    // The resident image as the engine gets it (with the fault, if asked), zeros after it.
    let mut memory = program.image.clone();
    if let Some(f) = o.flip {
        if f.word >= memory.len() || f.bit > 63 {
            return Err(Error::Invalid {
                field: "flip".into(),
                expected: format!(
                    "a word below {} (the resident image) and a bit 0..=63",
                    memory.len()
                ),
                found: format!("word {}, bit {}", f.word, f.bit),
            });
        }
        memory[f.word] ^= 1 << f.bit;
    }
    memory.resize(MAIN_WORDS, 0);
    sim.write(0, &memory)?;

    let mut view = Machine::new(&program);
    let start = Instant::now();
    let mut report_layers: Option<Vec<NetLayer>> = None;
    let mut mismatch: Option<NetMismatch> = None;
    let mut cycles_per_image = None;
    let mut logits = vec![];
    let mut runs_per_image = 0;
    progress.begin("cosim", Some(n as u64));
    let result = (|| -> Result<()> {
        for i in 0..n {
            let img: ArrayView3<u8> = golden.input.index_axis(Axis(0), i);
            let pixels: Vec<u8> = img.iter().copied().collect();
            let want: Vec<ArrayView3<i32>> = golden
                .outputs
                .iter()
                .map(|o| o.slice(s![i, .., .., ..]))
                .collect();
            // The reference: the machine after every record.
            let mut m = Machine::new(&program);
            m.load_image(&pixels)?;
            let input = program.input();
            let input_words = m.main[range(input)].to_vec();
            let mut snaps = vec![];
            let counted = m.run_with(|_, mm| snaps.push(mm.main.clone()))?;
            let plan = {
                let (stops, read_at) = stops(&snaps, &places, o.per_layer);
                Plan {
                    snaps,
                    stops,
                    read_at,
                }
            };
            runs_per_image = plan.stops.len();
            let mut table: Vec<NetLayer> = layers
                .iter()
                .enumerate()
                .map(|(k, l)| NetLayer {
                    name: l.name.clone(),
                    op: l.op.clone(),
                    record: k,
                    first_cycle: first[k],
                    cycles: per_record[k],
                    engine_end: None,
                    read_after: plan.read_at[k],
                    matches: None,
                })
                .collect();
            let found = |layer: usize, what, read_after, cycle| NetMismatch {
                image: i,
                layer: layers[layer].name.clone(),
                record: layer,
                what,
                read_after,
                cycle,
                first_cycle: first[layer],
            };
            let machine_total: u64 = counted.iter().sum();
            if machine_total != predicted {
                mismatch = Some(found(
                    records - 1,
                    NetMismatchKind::MachineCycles {
                        expected: predicted,
                        actual: machine_total,
                    },
                    records - 1,
                    None,
                ));
            }
            // The reference against the golden vectors, layer by layer.
            for k in 0..records {
                if mismatch.is_some() {
                    break;
                }
                let t = decode(&mut view, &plan.snaps[k], &places[k]);
                if let Some((c, y, x, e, a)) = diff(&t.view(), &want[k]) {
                    mismatch = Some(found(
                        k,
                        NetMismatchKind::Reference {
                            channel: c,
                            pixel: (y, x),
                            expected: e,
                            actual: a,
                        },
                        k,
                        None,
                    ));
                }
            }
            // The engine, stop by stop.
            let run = |sim: &mut dyn NetSim, k: usize| -> Result<(u64, bool)> {
                sim.write(input.base, &input_words)?;
                let to_end = k + 1 == records;
                let stop = if to_end { RUN_TO_END } else { k as u16 };
                let want = if to_end { predicted } else { end(k) };
                let r = sim.run(stop, 2 * want + 10_000)?;
                Ok((r.cycles, r.fault))
            };
            // Compares layer k's buffer as read after stop `at`; the first difference.
            let check = |sim: &mut dyn NetSim,
                         view: &mut Machine,
                         k: usize,
                         at: usize|
             -> Result<Option<NetMismatchKind>> {
                let r = range(&places[k]);
                let got = sim.read(r.start, r.len())?;
                let mut mem = plan.snaps[at].clone();
                mem[r.clone()].copy_from_slice(&got);
                let t = decode(view, &mem, &places[k]);
                if let Some((c, y, x, e, a)) = diff(&t.view(), &want[k]) {
                    return Ok(Some(NetMismatchKind::Value {
                        channel: c,
                        pixel: (y, x),
                        expected: e,
                        actual: a,
                    }));
                }
                let off = got
                    .iter()
                    .zip(&plan.snaps[at][r.clone()])
                    .position(|(g, w)| g != w);
                Ok(off.map(|j| NetMismatchKind::Word {
                    address: r.start + j,
                    expected: plan.snaps[at][r.start + j],
                    actual: got[j],
                }))
            };
            for (j, &k) in plan.stops.iter().enumerate() {
                if mismatch.is_some() {
                    break;
                }
                progress.status(&format!(
                    "image {i}: run {}/{} (stop after record {k})",
                    j + 1,
                    plan.stops.len()
                ));
                let (counter, fault) = run(sim, k)?;
                let to_end = k + 1 == records;
                let want_counter = if to_end { predicted } else { end(k) };
                table[k].engine_end = (!to_end).then_some(counter);
                if fault {
                    mismatch = Some(found(k, NetMismatchKind::Fault, k, Some(counter)));
                    break;
                }
                if counter != want_counter {
                    mismatch = Some(found(
                        k,
                        NetMismatchKind::Cycles {
                            expected: want_counter,
                            actual: counter,
                        },
                        k,
                        Some(counter),
                    ));
                    break;
                }
                if to_end {
                    cycles_per_image = Some(counter);
                }
                for l in (0..records).filter(|&l| plan.read_at[l] == Some(k)) {
                    let Some(what) = check(sim, &mut view, l, k)? else {
                        table[l].matches = Some(true);
                        continue;
                    };
                    table[l].matches = Some(false);
                    // Read it again right after its own record, with the counter there.
                    let (mut what, mut at, mut cycle) = (what, k, counter);
                    if k != l {
                        let (c, _) = run(sim, l)?;
                        if let Some(w) = check(sim, &mut view, l, l)? {
                            (what, at, cycle) = (w, l, c);
                        }
                        table[l].engine_end = Some(c);
                    }
                    mismatch = Some(found(l, what, at, Some(cycle)));
                    break;
                }
                if to_end && mismatch.is_none() && i == 0 {
                    let out = range(program.output());
                    let mut mem = plan.snaps[k].clone();
                    mem[out.clone()].copy_from_slice(&sim.read(out.start, out.len())?);
                    logits = decode(&mut view, &mem, program.output())
                        .iter()
                        .copied()
                        .collect();
                }
            }
            progress.advance(1);
            if report_layers.is_none() || mismatch.is_some() {
                report_layers = Some(table);
            }
            if mismatch.is_some() {
                break;
            }
        }
        Ok(())
    })();
    progress.end();
    result?;
    let (c, s) = sim.speed();
    Ok(NetCosimReport {
        bundle: String::new(),
        engine: "net".into(),
        sim: sim.kind(),
        bits: sim.bits(),
        rows: shape.rows,
        cols: shape.cols,
        images: n,
        bit_exact: mismatch.is_none(),
        cycles_per_image: if mismatch.is_some() {
            None
        } else {
            cycles_per_image
        },
        predicted_per_image: predicted,
        runs_per_image,
        seconds: start.elapsed().as_secs_f64(),
        sim_cycles_per_second: (s > 0.0).then(|| c as f64 / s),
        logits,
        layers: report_layers.unwrap_or_default(),
        mismatch: mismatch.as_ref().map(|m| m.to_string()),
        first_mismatch: mismatch,
        build_seconds: 0.0,
    })
}
