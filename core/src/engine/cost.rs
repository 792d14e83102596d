//! Cycles per image, analytically from the descriptors (equal to the machine's counter), and
//! per layer against the MAC bound `MACs·B/(R·C)`.

use super::board::{EngineShape, Memories, ELEMENT_DRAIN, MAXPOOL_DRAIN};
use super::compile::Program;
use super::desc::{Descriptor, OpCode};
use super::error::Result;
use super::plan::{plan, Plan};
use crate::graph::Graph;
use serde::{Deserialize, Serialize};

/// Cycles of one descriptor: fetch and decode, then its body.
pub fn descriptor_cycles(s: &EngineShape, d: &Descriptor) -> u64 {
    let setup = s.desc_words() as u64 + 1;
    let body = match d.opcode() {
        Some(OpCode::Conv) => conv_cycles(s, d),
        Some(OpCode::Add) => {
            let n = d.out_h as u64 * d.out_w as u64 * d.out_cw as u64;
            1 + n * 3u64.max(s.element_interval()) + ELEMENT_DRAIN
        }
        Some(OpCode::MaxPool) => {
            let (kh, kw) = d.window();
            out_words(d) * ((kh * kw) as u64 + 1) + MAXPOOL_DRAIN
        }
        Some(OpCode::AvgPool) => {
            let (kh, kw) = d.window();
            1 + out_words(d) * ((kh * kw) as u64 + 1).max(s.element_interval()) + ELEMENT_DRAIN
        }
        Some(OpCode::View) | Some(OpCode::End) | None => 0,
    };
    setup + body
}

fn out_words(d: &Descriptor) -> u64 {
    d.out_h as u64 * d.out_w as u64 * d.out_cw as u64
}

/// A conv tile: load its block (one word per cycle), then one vector every
/// `v = max(chunks·planes, chunks + out words, ⌈R/L⌉)` cycles, then the pipeline drain.
/// Streaming tiles load only header and parameters and read `planes·R/8` weight words per
/// chunk from main memory: `v = max(chunks·planes, chunks·(1 + planes·R/8) + out words, ⌈R/L⌉)`.
fn conv_cycles(s: &EngineShape, d: &Descriptor) -> u64 {
    let planes = s.bits.get() as u64 + d.masked as u64;
    let chunks = (d.kernel * d.kernel) as u64 * d.f10 as u64;
    let writes = (if d.out_kind == 2 { 4 } else { 1 }) * (s.rows / s.cols) as u64;
    let (load, reads) = if d.stream {
        let pw = s.plane_words() as u64;
        (1 + s.param_words() as u64, chunks * (1 + planes * pw))
    } else {
        (d.tile_words as u64, chunks)
    };
    let v = (chunks * planes)
        .max(reads + writes)
        .max(s.requant_interval());
    let n = d.out_h as u64 * d.out_w as u64;
    d.tiles as u64 * (load + n * v + s.conv_drain())
}

/// Cycles per image of a compiled program.
pub fn cycles(program: &Program) -> u64 {
    program
        .descriptors
        .iter()
        .map(|d| descriptor_cycles(program.shape(), d))
        .sum()
}

/// One layer's cycles against its MAC bound.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerCycles {
    pub name: String,
    pub op: String,
    pub cycles: u64,
    pub macs: u64,
    /// `macs·B/(R·C)`.
    pub bound: f64,
}

/// Cycles per image, per layer and in all.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CycleReport {
    pub shape: EngineShape,
    pub layers: Vec<LayerCycles>,
    /// Including the final `End` record.
    pub cycles: u64,
    pub macs: u64,
    pub bound: f64,
    /// `cycles / bound`.
    pub ratio: f64,
}

impl CycleReport {
    /// A fixed-width table of the layers (for tests and the CLI to print).
    pub fn table(&self) -> String {
        let mut s = format!(
            "{:<16} {:<18} {:>10} {:>10} {:>7}\n",
            "layer", "op", "cycles", "MAC bound", "ratio"
        );
        for l in &self.layers {
            let r = if l.bound > 0.0 {
                format!("{:.3}", l.cycles as f64 / l.bound)
            } else {
                "-".into()
            };
            s += &format!(
                "{:<16} {:<18} {:>10} {:>10.0} {:>7}\n",
                l.name, l.op, l.cycles, l.bound, r
            );
        }
        s += &format!(
            "{:<16} {:<18} {:>10} {:>10.0} {:>7.3}\n",
            "total", "", self.cycles, self.bound, self.ratio
        );
        s
    }
}

/// The report of a plan (no weights needed).
pub fn report(p: &Plan) -> CycleReport {
    let s = &p.shape;
    let per_mac = s.bits.get() as f64 / (s.rows * s.cols) as f64;
    let layers: Vec<LayerCycles> = p
        .layers
        .iter()
        .map(|l| LayerCycles {
            name: l.name.clone(),
            op: l.op.clone(),
            cycles: descriptor_cycles(s, &l.desc),
            macs: l.macs,
            bound: l.macs as f64 * per_mac,
        })
        .collect();
    let end = descriptor_cycles(s, &Descriptor::default());
    let cycles = layers.iter().map(|l| l.cycles).sum::<u64>() + end;
    let macs = layers.iter().map(|l| l.macs).sum::<u64>();
    let bound = macs as f64 * per_mac;
    CycleReport {
        shape: *s,
        layers,
        cycles,
        macs,
        bound,
        ratio: cycles as f64 / bound,
    }
}

/// The cycle report of a graph on an engine and board.
pub fn model_report(graph: &Graph, shape: &EngineShape, mem: &Memories) -> Result<CycleReport> {
    Ok(report(&plan(graph, shape, mem)?))
}
