//! The compiler: a validated [`QuantModel`] and an engine → the program, the resident memory
//! image (descriptors, tile blocks in the array's bit-plane order, parameter words) and the
//! memory map. Models that do not fit, unsupported layers and a B mismatch are refused before
//! anything runs.

use super::board::{EngineShape, Memories};
use super::desc::{row_param_word, scalar_param_word, Descriptor, OpCode};
use super::error::{Error, Result};
use super::plan::{plan, ConvPlan, LaneMap, LayerPlan, Plan, Requirements, TensorPlace};
use crate::arith::{bit_plane, ActKind};
use crate::model::{NodeParams, QuantModel};
use ndarray::Array4;
use serde::{Deserialize, Serialize};

/// A compiled model: what the host loads once and what the engine runs per image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Program {
    pub plan: Plan,
    /// The descriptors in execution order, ending with `End`.
    pub descriptors: Vec<Descriptor>,
    /// The resident main-memory image, 64-bit dwords from word 0: program, then the weight
    /// region. (Main word w is dwords `[w·C/8, (w+1)·C/8)`.)
    pub image: Vec<u64>,
    pub map: MemoryMap,
}

impl Program {
    pub fn shape(&self) -> &EngineShape {
        &self.plan.shape
    }
    /// The buffer of node `name`'s output.
    pub fn tensor(&self, name: &str) -> Option<&TensorPlace> {
        let i = self.plan.layers.iter().position(|l| l.name == name)?;
        Some(&self.plan.tensors[i + 1])
    }
    /// The final layer's buffer (the logits).
    pub fn output(&self) -> &TensorPlace {
        self.plan.tensors.last().expect("a program has a layer")
    }
    pub fn input(&self) -> &TensorPlace {
        &self.plan.tensors[0]
    }
}

/// One buffer of the memory map.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BufferEntry {
    pub name: String,
    /// Engine RAM: `main`, `weight tile buffer`, `tile parameter buffer`.
    pub memory: String,
    pub base: usize,
    pub words: usize,
    pub bytes: u64,
    /// What it holds (tensor names for activation slots).
    pub contents: String,
}

/// Use of one engine RAM or one physical block type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemoryUse {
    pub memory: String,
    pub used: u64,
    pub available: u64,
    /// `used / available` in percent.
    pub percent: f64,
    /// Unit of `used` / `available`: `bytes` or `blocks`.
    pub unit: String,
}

/// Every buffer and how full each memory is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemoryMap {
    pub buffers: Vec<BufferEntry>,
    pub memories: Vec<MemoryUse>,
}

/// Compile `model` for `shape` on a board with memories `mem`.
pub fn compile(model: &QuantModel, shape: &EngineShape, mem: &Memories) -> Result<Program> {
    model.validate()?;
    if model.bits != shape.bits {
        return Err(Error::BitsMismatch {
            engine: shape.bits.get(),
            model: model.bits.get(),
        });
    }
    let plan = plan(&model.graph, shape, mem)?;
    let req = plan.requirements();
    req.check()?;
    let mut descriptors: Vec<Descriptor> = plan.layers.iter().map(|l| l.desc).collect();
    descriptors.push(Descriptor {
        op: OpCode::End as u16,
        ..Descriptor::default()
    });
    let d = shape.dwords();
    let mut image = vec![0u64; (plan.weights_base + plan.weights_words) * d];
    for (n, desc) in descriptors.iter().enumerate() {
        let at = n * shape.desc_words() * d;
        image[at..at + 4].copy_from_slice(&desc.dwords());
    }
    for (l, p) in plan.layers.iter().zip(&model.params) {
        let at = (plan.weights_base + l.weight_offset) * d;
        write_layer(&mut image[at..at + l.weight_words * d], shape, l, p);
    }
    let map = memory_map(&plan, &req);
    Ok(Program {
        plan,
        descriptors,
        image,
        map,
    })
}

/// A layer's part of the weight region: tile blocks, or one add / pool parameter word.
fn write_layer(out: &mut [u64], shape: &EngineShape, l: &LayerPlan, p: &NodeParams) {
    match (p, &l.conv) {
        (
            NodeParams::Weighted {
                codes,
                bias,
                requant,
            },
            Some(conv),
        ) => {
            let kind = crate::engine::desc::kind_from_code(l.desc.out_kind);
            let block = l.desc.tile_words as usize * shape.dwords();
            for t in 0..l.desc.tiles as usize {
                let rows = RowSource {
                    codes,
                    bias,
                    requant,
                    kind,
                };
                write_tile(&mut out[t * block..(t + 1) * block], shape, conv, &rows, t);
            }
        }
        (NodeParams::Add { ma, mb, shift }, _) => out[0] = scalar_param_word(*ma, *mb, *shift),
        (NodeParams::Pool { requant }, _) => {
            out[0] = scalar_param_word(requant.multiplier, 0, requant.shift)
        }
        _ => {}
    }
}

struct RowSource<'a> {
    codes: &'a Array4<u8>,
    bias: &'a [i32],
    requant: &'a [crate::arith::Requant],
    kind: ActKind,
}

/// One tile block: header (w0), R parameter words, then chunk-major, plane-minor plane words
/// (MSB plane first, the mask plane last when grouped); bit `r·C + c` is row r, lane c.
fn write_tile(out: &mut [u64], shape: &EngineShape, conv: &ConvPlan, src: &RowSource, t: usize) {
    let (r_max, c) = (shape.rows, shape.cols);
    let cout = src.codes.shape()[0];
    out[0] = conv.w0[t] as u64;
    let params = shape.dwords();
    for r in 0..r_max {
        let o = t * r_max + r;
        if o < cout {
            let (m, s) = src
                .requant
                .get(o)
                .map_or((0, 0), |q| (q.multiplier, q.shift));
            out[params + r] = row_param_word(src.bias[o], m, s, src.kind);
        }
    }
    let planes0 = (1 + shape.param_words()) * shape.dwords();
    let b = shape.bits.get() as usize;
    for ch in 0..conv.chunks {
        for r in 0..r_max.min(cout.saturating_sub(t * r_max)) {
            let o = t * r_max + r;
            for lane in 0..c {
                let Some(code) = lane_code(conv, src.codes, conv.w0[t], o, ch, lane, c) else {
                    continue;
                };
                let bit = r * c + lane;
                for pi in 0..conv.planes {
                    let set = if pi < b {
                        bit_plane(code, (b - 1 - pi) as u8)
                    } else {
                        true // mask plane: the lane belongs to the row's group
                    };
                    if set {
                        let word = planes0 + (ch * conv.planes + pi) * shape.plane_dwords();
                        out[word + bit / 64] |= 1 << (bit % 64);
                    }
                }
            }
        }
    }
}

/// The weight code of row (output channel) `o` on lane `lane` of chunk `ch`, or `None` where
/// the lane holds no input of that row (other group, padding lane).
pub fn lane_code(
    conv: &ConvPlan,
    codes: &Array4<u8>,
    w0: usize,
    o: usize,
    ch: usize,
    lane: usize,
    c: usize,
) -> Option<u8> {
    match conv.map {
        LaneMap::Spatial { cin, cg, mg, k } => {
            let nw = conv.chunks / (k * k);
            let (tap, wi) = (ch / nw, ch % nw);
            let ci = (w0 + wi) * c + lane;
            let g = o / mg;
            (ci < cin && ci / cg == g).then(|| codes[[o, ci - g * cg, tap / k, tap % k]])
        }
        LaneMap::Expanded { cin, k } => {
            let kidx = ch * c + lane;
            (kidx < cin * k * k).then(|| {
                let r = kidx % (k * k);
                codes[[o, kidx / (k * k), r / k, r % k]]
            })
        }
        LaneMap::Dense {
            src_c,
            src_hw,
            src_cw,
        } => {
            let (p, g) = (ch / src_cw, ch % src_cw);
            let channel = g * c + lane;
            (channel < src_c).then(|| codes[[o, channel * src_hw + p, 0, 0]])
        }
    }
}

fn memory_map(plan: &Plan, req: &Requirements) -> MemoryMap {
    let s = &plan.shape;
    let wb = (s.word_bits() / 8) as u64;
    let main = |name: &str, base: usize, words: usize, contents: String| BufferEntry {
        name: name.into(),
        memory: "main".into(),
        base,
        words,
        bytes: words as u64 * wb,
        contents,
    };
    let mut buffers = vec![
        main(
            "program",
            0,
            plan.program_words,
            format!("{} descriptors", plan.layers.len() + 1),
        ),
        main(
            "weights and parameters",
            plan.weights_base,
            plan.weights_words,
            "tile blocks (header, row parameters, bit-planes); add / pool parameter words".into(),
        ),
    ];
    for (i, slot) in plan.slots.iter().enumerate() {
        let name = format!("activations {i}");
        buffers.push(main(&name, slot.base, slot.words, slot.tensors.join(", ")));
    }
    let plane_bytes = (s.rows * s.cols / 8) as u64;
    buffers.push(BufferEntry {
        name: "weight tile buffer".into(),
        memory: "weight tile buffer".into(),
        base: 0,
        words: plan.max_tile_planes,
        bytes: plan.max_tile_planes as u64 * plane_bytes,
        contents: "the running row tile's plane words".into(),
    });
    buffers.push(BufferEntry {
        name: "tile parameter buffer".into(),
        memory: "tile parameter buffer".into(),
        base: 0,
        words: s.rows,
        bytes: s.rows as u64 * 8,
        contents: "the running row tile's requantizer words".into(),
    });
    let pct = |u: u64, a: u64| {
        if a == 0 {
            0.0
        } else {
            100.0 * u as f64 / a as f64
        }
    };
    let bytes = |m: &str, u: u64, a: u64| MemoryUse {
        memory: m.into(),
        used: u,
        available: a,
        percent: pct(u, a),
        unit: "bytes".into(),
    };
    let mut memories = vec![
        bytes(&req.main.memory, req.main.needed, req.main.available),
        bytes(
            &req.tile_buffer.memory,
            req.tile_buffer.needed,
            req.tile_buffer.available,
        ),
    ];
    for (name, used, total) in &plan.config.totals {
        memories.push(MemoryUse {
            memory: name.clone(),
            used: *used as u64,
            available: *total as u64,
            percent: pct(*used as u64, *total as u64),
            unit: "blocks".into(),
        });
    }
    MemoryMap { buffers, memories }
}
