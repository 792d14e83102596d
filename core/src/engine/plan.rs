//! Planning: where every tensor, tile block and descriptor lives, computed from the graph and
//! the engine shape alone (no weights), so the width solver can ask what a model needs.
//!
//! Main memory, from word 0: the program (one record per node, then `End`), the weight region
//! (per conv/linear layer its tile blocks; per add / average pool one parameter word), then the
//! activation slots (ping, pong, residual, … — as many as the graph keeps alive at once).

use super::board::{configure, EngineShape, Memories, MemoryConfig};
use super::desc::{field, kind_code, Descriptor, OpCode};
use super::error::{Error, Result};
use crate::arith::ActKind;
use crate::graph::{Graph, Op, Shape, TensorInfo, INPUT};
use serde::{Deserialize, Serialize};

/// How a tensor's values are arranged in its buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "layout", rename_all = "snake_case")]
pub enum Layout {
    /// Pixel (y, x) at words `[(y·w + x)·cw, +cw)`; channel c at byte `c·e` of those words
    /// (e = 1 byte for u8/i8, 4 bytes little-endian for i32). Lanes past the channels are 0.
    Hwc,
    /// The network input as the first conv's patches, written by the image loader: vector
    /// (oy, ox) at words `[(oy·w + ox)·cw, +cw)`, lane `c·k² + ky·k + kx` holds input pixel
    /// `(c, oy·stride + ky − pad, ox·stride + kx − pad)` or 0 outside the image.
    Expanded { k: usize, stride: usize, pad: usize },
    /// A flatten: the buffer of an HWC tensor of shape `source`, read as the vector
    /// `f = c·H·W + y·W + x` (the next linear layer's weight columns are permuted to match).
    View { source: Shape },
}

/// A tensor's buffer: geometry in words and what the values mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorPlace {
    /// Main-memory word address of word 0.
    pub base: usize,
    pub h: usize,
    pub w: usize,
    /// Words per pixel.
    pub cw: usize,
    /// The logical tensor (C×H×W as in the graph).
    pub shape: Shape,
    pub kind: ActKind,
    pub layout: Layout,
    /// Activation slot index (views share their source's).
    pub slot: usize,
}

impl TensorPlace {
    pub fn words(&self) -> usize {
        self.h * self.w * self.cw
    }
    /// Bytes per element in the buffer.
    pub fn elem_bytes(&self) -> usize {
        if self.kind == ActKind::I32 {
            4
        } else {
            1
        }
    }
}

/// How a conv/linear layer's reduction lanes map to weight indices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LaneMap {
    /// Spatial conv on an HWC input: chunk = tap·nw + wi, input channel `(w0 + wi)·C + lane`.
    Spatial {
        cin: usize,
        cg: usize,
        mg: usize,
        k: usize,
    },
    /// First conv on the expanded input: lane index `ch·C + lane` = `c·k² + ky·k + kx`.
    Expanded { cin: usize, k: usize },
    /// Linear: chunk = source word; channel `g·C + lane` of pixel p is feature `channel·HW + p`.
    Dense {
        src_c: usize,
        src_hw: usize,
        src_cw: usize,
    },
}

/// Conv/linear specifics of a layer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConvPlan {
    pub map: LaneMap,
    /// First input word (per tap) of each row tile.
    pub w0: Vec<usize>,
    /// Chunks per vector (k²·nw) and planes per chunk (B, +1 mask plane when grouped).
    pub chunks: usize,
    pub planes: usize,
}

/// One node's place in the program.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerPlan {
    pub node: usize,
    pub name: String,
    pub op: String,
    pub desc: Descriptor,
    /// MACs of the layer (conv/linear), for the MAC bound.
    pub macs: u64,
    /// Offset and size of the layer's part of the weight region (main words).
    pub weight_offset: usize,
    pub weight_words: usize,
    pub conv: Option<ConvPlan>,
}

/// An activation slot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    pub base: usize,
    pub words: usize,
    /// Tensors held over the run, in order ("input" and node names).
    pub tensors: Vec<String>,
}

/// The layout of a model on an engine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub shape: EngineShape,
    pub config: MemoryConfig,
    /// Index 0: the input; index i + 1: node i.
    pub tensors: Vec<TensorPlace>,
    pub layers: Vec<LayerPlan>,
    pub program_words: usize,
    pub weights_base: usize,
    pub weights_words: usize,
    pub slots: Vec<Slot>,
    /// Main words the model needs in all.
    pub main_words: usize,
    /// Largest tile of plane words any layer loads into the tile buffer.
    pub max_tile_planes: usize,
}

/// What a model needs of one memory and what the engine has.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryNeed {
    pub memory: String,
    pub needed: u64,
    pub available: u64,
}

/// Bytes a model needs per memory (for the board-aware width solver).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requirements {
    pub main: MemoryNeed,
    pub tile_buffer: MemoryNeed,
    pub program_bytes: u64,
    pub weight_bytes: u64,
    pub activation_bytes: u64,
}

impl Requirements {
    pub fn fits(&self) -> bool {
        self.main.needed <= self.main.available
            && self.tile_buffer.needed <= self.tile_buffer.available
    }
    /// The refusal for the first memory that does not fit.
    pub fn check(&self) -> Result<()> {
        let m = &self.main;
        if m.needed > m.available {
            let fixed = self.program_bytes + self.activation_bytes;
            let room = if fixed >= m.available {
                "; the activation buffers alone do not fit: a narrower model is needed".to_string()
            } else {
                format!(
                    "; with these activation buffers, weights and parameters of at most {} bytes would fit",
                    m.available - fixed
                )
            };
            return Err(Error::DoesNotFit {
                memory: m.memory.clone(),
                needed: m.needed,
                available: m.available,
                hint: format!(
                    " (program {} + weights and parameters {} + activations {} bytes{room})",
                    self.program_bytes, self.weight_bytes, self.activation_bytes
                ),
            });
        }
        let t = &self.tile_buffer;
        if t.needed > t.available {
            return Err(Error::DoesNotFit {
                memory: t.memory.clone(),
                needed: t.needed,
                available: t.available,
                hint: " (one row tile's bit-planes; fewer input channels per layer or a smaller B would fit)"
                    .into(),
            });
        }
        Ok(())
    }
}

impl Plan {
    pub fn requirements(&self) -> Requirements {
        let wb = (self.shape.word_bits() / 8) as u64;
        let plane_bytes = (self.shape.rows * self.shape.cols / 8) as u64;
        let main = &self.config.main;
        let act: usize = self.slots.iter().map(|s| s.words).sum();
        let worst = self
            .layers
            .iter()
            .filter(|l| !l.desc.stream)
            .filter_map(|l| {
                l.conv
                    .as_ref()
                    .map(|c| (c.chunks * c.planes, l.name.as_str()))
            })
            .max()
            .unwrap_or((0, ""));
        Requirements {
            main: MemoryNeed {
                memory: format!(
                    "main memory ({} × {}, {}-bit words)",
                    main.blocks, main.block, main.width_bits
                ),
                needed: self.main_words as u64 * wb,
                available: main.bytes(),
            },
            tile_buffer: MemoryNeed {
                memory: format!(
                    "weight tile buffer ({} × {}, {} plane words) for layer \"{}\"",
                    self.config.wtb.blocks, self.config.wtb.block, self.shape.wtb_words, worst.1
                ),
                needed: worst.0 as u64 * plane_bytes,
                available: self.shape.wtb_words as u64 * plane_bytes,
            },
            program_bytes: self.program_words as u64 * wb,
            weight_bytes: self.weights_words as u64 * wb,
            activation_bytes: act as u64 * wb,
        }
    }
    /// The tensor a node reads as its `k`-th input.
    pub fn input_of(&self, graph: &Graph, node: usize, k: usize) -> &TensorPlace {
        &self.tensors[tensor_index(graph, &graph.nodes[node].inputs[k])]
    }
}

fn tensor_index(graph: &Graph, name: &str) -> usize {
    if name == INPUT {
        0
    } else {
        graph.index_of(name).expect("validated graph") + 1
    }
}

/// Lay a graph out on an engine and a board (refusing unsupported layers, not checking fit).
pub fn plan(graph: &Graph, shape: &EngineShape, mem: &Memories) -> Result<Plan> {
    let config = configure(shape, mem)?;
    let info = graph.infer()?;
    let mut p = Plan {
        shape: *shape,
        config,
        tensors: vec![input_place(graph, shape)],
        layers: vec![],
        program_words: (graph.nodes.len() + 1) * shape.desc_words(),
        weights_base: 0,
        weights_words: 0,
        slots: vec![],
        main_words: 0,
        max_tile_planes: 0,
    };
    p.weights_base = p.program_words;
    for (i, node) in graph.nodes.iter().enumerate() {
        let layer = plan_node(&mut p, graph, &info, i)
            .map_err(|e| in_layer(e, &node.name, node.op.kind_name()))?;
        p.weights_words += layer.weight_words;
        p.layers.push(layer);
    }
    allocate_slots(&mut p, graph);
    fill_bases(&mut p, graph)?;
    Ok(p)
}

/// Shape errors while planning a node become `Unsupported` with the node's name.
fn in_layer(e: Error, layer: &str, op: &str) -> Error {
    match e {
        Error::Shape {
            field,
            expected,
            found,
        } => Error::unsupported(
            layer,
            op,
            format!("{field}: expected {expected}, found {found}"),
        ),
        e => e,
    }
}

/// The input is expanded into the first conv's patches when that conv is its only reader,
/// is dense and has fewer input channels than lanes (otherwise HWC loses nothing).
fn input_place(graph: &Graph, shape: &EngineShape) -> TensorPlace {
    let s = graph.input;
    let readers: Vec<&crate::graph::Node> = graph
        .nodes
        .iter()
        .filter(|n| n.inputs.iter().any(|i| i == INPUT))
        .collect();
    let hwc = TensorPlace {
        base: 0,
        h: s.h,
        w: s.w,
        cw: s.c.div_ceil(shape.cols),
        shape: s,
        kind: ActKind::U8,
        layout: Layout::Hwc,
        slot: 0,
    };
    if let [n] = readers[..] {
        if let Op::Conv2d {
            in_channels,
            kernel,
            stride,
            padding,
            groups: 1,
            ..
        } = n.op
        {
            if in_channels < shape.cols && n.inputs.len() == 1 {
                let oh = (s.h + 2 * padding - kernel) / stride + 1;
                let ow = (s.w + 2 * padding - kernel) / stride + 1;
                return TensorPlace {
                    h: oh,
                    w: ow,
                    cw: (in_channels * kernel * kernel).div_ceil(shape.cols),
                    layout: Layout::Expanded {
                        k: kernel,
                        stride,
                        pad: padding,
                    },
                    ..hwc
                };
            }
        }
    }
    hwc
}

fn hwc_place(t: &TensorInfo, shape: &EngineShape) -> TensorPlace {
    let s = t.shape;
    let per_word = if t.kind == ActKind::I32 {
        shape.cols / 4
    } else {
        shape.cols
    };
    // Conv outputs are written a whole row tile at a time: round channels up to R.
    let c = if t.kind == ActKind::I32 {
        s.c.div_ceil(shape.rows) * shape.rows
    } else {
        s.c
    };
    TensorPlace {
        base: 0,
        h: s.h,
        w: s.w,
        cw: c.div_ceil(per_word),
        shape: s,
        kind: t.kind,
        layout: Layout::Hwc,
        slot: 0,
    }
}

fn require_hwc(x: &TensorPlace, what: &str) -> Result<()> {
    match x.layout {
        Layout::Hwc => Ok(()),
        Layout::View { .. } => Err(Error::shape(
            "input",
            format!("an image tensor for {what} (a flatten may only feed linear layers)"),
            "a flatten",
        )),
        Layout::Expanded { .. } => Err(Error::shape(
            "input",
            "an image tensor",
            "the expanded input",
        )),
    }
}

fn plan_node(p: &mut Plan, graph: &Graph, info: &[TensorInfo], i: usize) -> Result<LayerPlan> {
    let node = &graph.nodes[i];
    let shape = p.shape;
    let x = *p.input_of(graph, i, 0);
    let out_info = info[i];
    let mut out = hwc_place(&out_info, &shape);
    let mut d = Descriptor {
        out_kind: kind_code(out_info.kind),
        a_signed: x.kind == ActKind::I8,
        in_h: field(&node.name, "in_h", x.h, 16)?,
        in_w: field(&node.name, "in_w", x.w, 16)?,
        in_cw: field(&node.name, "in_cw", x.cw, 16)?,
        out_channels: field(&node.name, "out_channels", out_info.shape.c, 16)?,
        ..Descriptor::default()
    };
    let mut layer = LayerPlan {
        node: i,
        name: node.name.clone(),
        op: node.op.kind_name().to_string(),
        desc: d,
        macs: 0,
        weight_offset: p.weights_words,
        weight_words: 0,
        conv: None,
    };
    match node.op {
        Op::Conv2d { .. } | Op::Linear { .. } => {
            plan_conv(p, node, &x, &out_info, &mut d, &mut layer)?;
        }
        Op::Add => {
            let y = *p.input_of(graph, i, 1);
            require_hwc(&x, "add")?;
            require_hwc(&y, "add")?;
            d.op = OpCode::Add as u16;
            d.b_signed = y.kind == ActKind::I8;
            layer.weight_words = 1;
        }
        Op::MaxPool { kernel, stride } | Op::AvgPool { kernel, stride } => {
            require_hwc(&x, "pooling")?;
            let avg = matches!(node.op, Op::AvgPool { .. });
            set_pool(&mut d, &node.name, kernel, kernel, stride, avg)?;
            layer.weight_words = avg as usize;
        }
        Op::GlobalAvgPool => {
            require_hwc(&x, "pooling")?;
            set_pool(&mut d, &node.name, x.h, x.w, 1, true)?;
            layer.weight_words = 1;
        }
        Op::Flatten => {
            let Layout::Hwc = x.layout else {
                return Err(Error::shape(
                    "input",
                    "an image tensor",
                    "a flatten or the expanded input",
                ));
            };
            d.op = OpCode::View as u16;
            out = TensorPlace {
                shape: out_info.shape,
                kind: out_info.kind,
                layout: Layout::View { source: x.shape },
                ..x
            };
        }
    }
    if !matches!(node.op, Op::Flatten) {
        d.out_h = field(&node.name, "out_h", out.h, 16)?;
        d.out_w = field(&node.name, "out_w", out.w, 16)?;
        d.out_cw = field(&node.name, "out_cw", out.cw, 16)?;
    }
    layer.desc = d;
    p.tensors.push(out);
    Ok(layer)
}

fn set_pool(
    d: &mut Descriptor,
    name: &str,
    kh: usize,
    kw: usize,
    stride: usize,
    avg: bool,
) -> Result<()> {
    d.op = if avg {
        OpCode::AvgPool
    } else {
        OpCode::MaxPool
    } as u16;
    let kh = field(name, "window height", kh, 8)?;
    let kw = field(name, "window width", kw, 8)?;
    d.f10 = kh | kw << 8;
    d.stride = field(name, "stride", stride, 4)?;
    Ok(())
}

fn plan_conv(
    p: &mut Plan,
    node: &crate::graph::Node,
    x: &TensorPlace,
    out: &TensorInfo,
    d: &mut Descriptor,
    layer: &mut LayerPlan,
) -> Result<()> {
    let s = p.shape;
    let c = s.cols;
    let cout = node.op.out_channels().unwrap();
    let tiles = cout.div_ceil(s.rows);
    let (map, k, stride, pad, nw, w0, groups) = match (node.op.clone(), x.layout) {
        (
            Op::Conv2d {
                in_channels,
                kernel,
                stride,
                padding,
                groups,
                ..
            },
            Layout::Hwc,
        ) => {
            let (cg, mg) = (in_channels / groups, cout / groups);
            let (nw, w0) = tile_windows(tiles, s.rows, cout, cg, mg, c, x.cw);
            let map = LaneMap::Spatial {
                cin: in_channels,
                cg,
                mg,
                k: kernel,
            };
            (map, kernel, stride, padding, nw, w0, groups)
        }
        (
            Op::Conv2d {
                in_channels,
                kernel,
                ..
            },
            Layout::Expanded { .. },
        ) => {
            let map = LaneMap::Expanded {
                cin: in_channels,
                k: kernel,
            };
            (map, 1, 1, 0, x.cw, vec![0; tiles], 1)
        }
        (Op::Linear { .. }, Layout::Hwc | Layout::View { .. }) => {
            let src = match x.layout {
                Layout::View { source } => source,
                _ => x.shape,
            };
            let words = x.h * x.w * x.cw;
            let map = LaneMap::Dense {
                src_c: src.c,
                src_hw: x.h * x.w,
                src_cw: x.cw,
            };
            d.in_h = 1;
            d.in_w = 1;
            d.in_cw = field(&node.name, "in_cw", words, 16)?;
            (map, 1, 1, 0, words, vec![0; tiles], 1)
        }
        (_, layout) => {
            return Err(Error::shape(
                "input",
                "an image tensor",
                format!("{layout:?}"),
            ));
        }
    };
    // Depthwise (one input channel per output channel, R = C): row r's input is lane r of
    // word t, so the per-row correction needs no mask plane.
    let diagonal = matches!(map, LaneMap::Spatial { cg: 1, mg: 1, .. }) && groups > 1;
    let masked = groups > 1 && !diagonal;
    let planes = s.bits.get() as usize + masked as usize;
    let chunks = k * k * nw;
    let tile_words = 1 + s.param_words() + chunks * planes * s.plane_words();
    d.op = OpCode::Conv as u16;
    d.masked = masked;
    d.diagonal = diagonal;
    d.stream = chunks * planes > s.wtb_words;
    d.kernel = field(&node.name, "kernel", k, 4)?;
    d.stride = field(&node.name, "stride", stride, 4)?;
    d.pad = field(&node.name, "padding", pad, 4)?;
    d.tiles = field(&node.name, "tiles", tiles, 16)?;
    d.f10 = field(&node.name, "tap words", nw, 16)?;
    d.tile_words = field(&node.name, "tile words", tile_words, 16)?;
    if !d.stream {
        p.max_tile_planes = p.max_tile_planes.max(chunks * planes);
    }
    layer.macs = (out.shape.numel() * node.op.reduction().unwrap()) as u64;
    layer.weight_words = tiles * tile_words;
    layer.conv = Some(ConvPlan {
        map,
        w0,
        chunks,
        planes,
    });
    Ok(())
}

/// Words per tap every row tile reads (the most any tile needs) and each tile's first word.
fn tile_windows(
    tiles: usize,
    rows: usize,
    cout: usize,
    cg: usize,
    mg: usize,
    c: usize,
    cw: usize,
) -> (usize, Vec<usize>) {
    let span = |t: usize| {
        let (o0, o1) = (t * rows, ((t + 1) * rows).min(cout) - 1);
        let (lo, hi) = ((o0 / mg) * cg, (o1 / mg + 1) * cg);
        (lo / c, hi.div_ceil(c))
    };
    let nw = (0..tiles)
        .map(|t| span(t).1 - span(t).0)
        .max()
        .unwrap_or(1)
        .min(cw);
    let w0 = (0..tiles).map(|t| span(t).0.min(cw - nw)).collect();
    (nw, w0)
}

/// Greedy slot assignment over tensor lifetimes: a tensor reuses a slot whose tensors are all
/// dead when it is written (the best-fitting one; a slot grows to its largest tensor).
fn allocate_slots(p: &mut Plan, graph: &Graph) {
    let n = graph.nodes.len();
    // Time: input written at 0, node i at i + 1; uses follow views to their source.
    let mut last_use = vec![0usize; n + 1];
    let mut source: Vec<usize> = (0..=n).collect();
    for (i, node) in graph.nodes.iter().enumerate() {
        for name in &node.inputs {
            let t = source[tensor_index(graph, name)];
            last_use[t] = last_use[t].max(i + 1);
        }
        if matches!(node.op, Op::Flatten) {
            source[i + 1] = source[tensor_index(graph, &node.inputs[0])];
        }
    }
    last_use[source[n]] = usize::MAX;
    let mut slot_end: Vec<usize> = vec![];
    let names: Vec<String> = std::iter::once(INPUT.to_string())
        .chain(graph.nodes.iter().map(|n| n.name.clone()))
        .collect();
    for t in 0..=n {
        if source[t] != t {
            p.tensors[t].slot = p.tensors[source[t]].slot;
            continue;
        }
        let need = p.tensors[t].words();
        let free: Vec<usize> = (0..p.slots.len()).filter(|&s| slot_end[s] < t).collect();
        let fit = free
            .iter()
            .copied()
            .filter(|&s| p.slots[s].words >= need)
            .min_by_key(|&s| p.slots[s].words);
        let grow = free.iter().copied().max_by_key(|&s| p.slots[s].words);
        let s = match fit.or(grow) {
            Some(s) => s,
            None => {
                p.slots.push(Slot {
                    base: 0,
                    words: 0,
                    tensors: vec![],
                });
                slot_end.push(0);
                p.slots.len() - 1
            }
        };
        p.slots[s].words = p.slots[s].words.max(need);
        p.slots[s].tensors.push(names[t].clone());
        slot_end[s] = last_use[t].max(t);
        p.tensors[t].slot = s;
    }
}

/// Addresses: slots after the weights; then every descriptor's bases. Addresses are 16-bit
/// fields; a model past 64 Ki words is refused by the fit check (every main memory is smaller).
fn fill_bases(p: &mut Plan, graph: &Graph) -> Result<()> {
    let mut next = p.weights_base + p.weights_words;
    for s in &mut p.slots {
        s.base = next;
        next += s.words;
    }
    p.main_words = next;
    for t in &mut p.tensors {
        t.base = p.slots[t.slot].base;
    }
    for i in 0..p.layers.len() {
        let a = p.input_of(graph, i, 0).base;
        let b = if graph.nodes[i].inputs.len() > 1 {
            p.input_of(graph, i, 1).base
        } else {
            0
        };
        let o = p.tensors[i + 1].base;
        let w = p.weights_base + p.layers[i].weight_offset;
        let l = &mut p.layers[i];
        l.desc.in_a = a as u16;
        l.desc.in_b = b as u16;
        l.desc.out = o as u16;
        l.desc.param = if l.weight_words > 0 { w as u16 } else { 0 };
    }
    Ok(())
}

/// What a graph needs of a board's memories on an engine.
pub fn requirements(graph: &Graph, shape: &EngineShape, mem: &Memories) -> Result<Requirements> {
    Ok(plan(graph, shape, mem)?.requirements())
}
