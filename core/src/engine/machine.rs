//! The memory-level machine: runs a [`Program`] on the engine's RAMs word by word, with the
//! addresses, word layouts and order the RTL uses, and counts cycles by the schedule in
//! docs/engine.md. It is the oracle the RTL and its cosimulation are compared with.

use super::board::{EngineShape, ELEMENT_DRAIN, MAXPOOL_DRAIN};
use super::compile::Program;
use super::desc::{decode_row_param, decode_scalar_param, kind_from_code, Descriptor, OpCode};
use super::error::{Error, Result};
use super::plan::{Layout, TensorPlace};
use crate::arith::{self, ActKind, Requant};
use ndarray::{Array3, ArrayView3};
use serde::{Deserialize, Serialize};

/// The engine's memories and counters.
#[derive(Clone, Debug)]
pub struct Machine {
    shape: EngineShape,
    input: TensorPlace,
    output: TensorPlace,
    /// Main memory as 64-bit dwords (word w = dwords `[w·C/8, (w+1)·C/8)`).
    pub main: Vec<u64>,
    /// Weight tile buffer: plane words of R·C/64 dwords.
    wtb: Vec<u64>,
    /// Tile parameter buffer: R row words; `w0`: the tile header.
    pbuf: Vec<u64>,
    w0: usize,
    /// Streaming tiles: dword address of the running tile's first plane word in main memory.
    stream_at: Option<usize>,
    /// Cycles since `start` (frozen at `End`).
    pub cycles: u64,
}

/// The first value where the machine and the golden vectors differ.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mismatch {
    pub layer: String,
    pub channel: usize,
    pub y: usize,
    pub x: usize,
    pub expected: i32,
    pub found: i32,
    /// Cycle counter when the layer finished.
    pub cycle: u64,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "layer \"{}\" channel {} pixel ({}, {}): expected {}, engine {} (cycle {})",
            self.layer, self.channel, self.y, self.x, self.expected, self.found, self.cycle
        )
    }
}

/// One image through the program.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub cycles: u64,
    /// Cycles of each descriptor (the last is `End`).
    pub layer_cycles: Vec<u64>,
    pub logits: Vec<i32>,
    pub mismatch: Option<Mismatch>,
}

fn sext8(v: u8, signed: bool) -> i32 {
    if signed {
        v as i8 as i32
    } else {
        v as i32
    }
}

impl Machine {
    /// The engine after the host loaded `program` (resident image; activations zero).
    pub fn new(program: &Program) -> Self {
        let s = program.plan.shape;
        let cfg = &program.plan.config;
        let mut main = vec![0u64; cfg.main.depth * s.dwords()];
        main[..program.image.len()].copy_from_slice(&program.image);
        Machine {
            shape: s,
            input: *program.input(),
            output: *program.output(),
            main,
            wtb: vec![0; s.wtb_words * s.plane_dwords()],
            pbuf: vec![0; s.rows],
            w0: 0,
            stream_at: None,
            cycles: 0,
        }
    }

    /// Dword `j` of main word `word`; addresses wrap at the memory's depth, as in the RTL.
    fn dw(&self, word: usize, j: usize) -> usize {
        (word * self.shape.dwords()) % self.main.len() + j
    }
    fn byte(&self, word: usize, lane: usize) -> u8 {
        (self.main[self.dw(word, lane / 8)] >> (8 * (lane % 8))) as u8
    }
    fn set_byte(&mut self, word: usize, lane: usize, v: u8) {
        let i = self.dw(word, lane / 8);
        let d = &mut self.main[i];
        let sh = 8 * (lane % 8);
        *d = (*d & !(0xff << sh)) | ((v as u64) << sh);
    }
    fn lanes(&self, word: usize, signed: bool) -> Vec<i32> {
        (0..self.shape.cols)
            .map(|l| sext8(self.byte(word, l), signed))
            .collect()
    }
    fn write_lanes(&mut self, word: usize, vals: &[i32]) {
        for (l, &v) in vals.iter().enumerate() {
            self.set_byte(word, l, v as u8);
        }
    }
    fn dword(&self, word: usize) -> u64 {
        self.main[self.dw(word, 0)]
    }

    /// The image loader: clears the input buffer and writes every pixel (C, H, W order, as
    /// the host sends them) into its place(s) — once (HWC) or into each patch that uses it
    /// (expanded input). Runs while bytes arrive; not counted in `cycles`.
    pub fn load_image(&mut self, pixels: &[u8]) -> Result<()> {
        let p = self.input;
        let s = p.shape;
        if pixels.len() != s.numel() {
            return Err(Error::Image {
                expected: s.numel(),
                found: pixels.len(),
            });
        }
        let d = self.shape.dwords();
        self.main[p.base * d..(p.base + p.words()) * d].fill(0);
        for (i, &v) in pixels.iter().enumerate() {
            let (c, y, x) = (i / (s.h * s.w), (i / s.w) % s.h, i % s.w);
            for (word, lane) in self.places(&p, c, y, x) {
                self.set_byte(word, lane, v);
            }
        }
        Ok(())
    }

    fn descriptor(&self, n: usize) -> Descriptor {
        let s = self.shape;
        let at = n * s.desc_words() * s.dwords();
        let d: [u64; 4] = std::array::from_fn(|j| self.main[(at + j) % self.main.len()]);
        Descriptor::from_dwords(d)
    }

    /// Run the program from descriptor 0 to `End`; `after(n, machine)` is called after each
    /// layer (the debug single-step: buffers are read back before a later layer reuses them).
    pub fn run_with(&mut self, mut after: impl FnMut(usize, &Machine)) -> Result<Vec<u64>> {
        self.cycles = 0;
        let mut per_layer = vec![];
        let records = self.main.len() / (self.shape.desc_words() * self.shape.dwords());
        for n in 0..records {
            let d = self.descriptor(n);
            let setup = self.shape.desc_words() as u64 + 1;
            let op = d
                .opcode()
                .ok_or_else(|| Error::Machine(format!("descriptor {n}: op code {}", d.op)))?;
            let body = match op {
                OpCode::End => {
                    per_layer.push(setup);
                    self.cycles += setup;
                    return Ok(per_layer);
                }
                OpCode::Conv => self.conv(&d)?,
                OpCode::Add => self.add(&d),
                OpCode::MaxPool | OpCode::AvgPool => self.pool(&d, op == OpCode::AvgPool),
                OpCode::View => 0,
            };
            per_layer.push(setup + body);
            self.cycles += setup + body;
            after(n, self);
        }
        Err(Error::Machine("the program has no End record".into()))
    }

    /// Run one loaded image; returns the cycle count and the logits.
    pub fn run(&mut self) -> Result<Run> {
        let layer_cycles = self.run_with(|_, _| {})?;
        Ok(Run {
            cycles: self.cycles,
            layer_cycles,
            logits: self.logits(),
            mismatch: None,
        })
    }

    /// Load `image` ([C, H, W]), run, and compare every layer's buffer with `expected[n]`
    /// (node n's golden output, [C, H, W]) right after the layer; keeps the first mismatch.
    pub fn run_checked(
        &mut self,
        program: &Program,
        image: ArrayView3<u8>,
        expected: &[ArrayView3<i32>],
    ) -> Result<Run> {
        let pixels: Vec<u8> = image.iter().copied().collect();
        self.load_image(&pixels)?;
        let mut first: Option<Mismatch> = None;
        let layer_cycles = self.run_with(|n, m| {
            if first.is_some() || n >= expected.len() {
                return;
            }
            let got = m.read_tensor(&program.plan.tensors[n + 1]);
            first = diff(&got.view(), &expected[n]).map(|(c, y, x, e, f)| Mismatch {
                layer: program.plan.layers[n].name.clone(),
                channel: c,
                y,
                x,
                expected: e,
                found: f,
                cycle: m.cycles,
            });
        })?;
        Ok(Run {
            cycles: self.cycles,
            layer_cycles,
            logits: self.logits(),
            mismatch: first,
        })
    }

    /// The final layer's values (i32 logits for the families).
    pub fn logits(&self) -> Vec<i32> {
        self.read_tensor(&self.output).iter().copied().collect()
    }

    /// Debug read-back: a buffer as its logical [C, H, W] tensor.
    pub fn read_tensor(&self, p: &TensorPlace) -> Array3<i32> {
        let s = p.shape;
        match p.layout {
            Layout::Hwc => Array3::from_shape_fn((s.c, s.h, s.w), |(c, y, x)| self.hwc(p, c, y, x)),
            Layout::View { source } => Array3::from_shape_fn((s.c, 1, 1), |(f, _, _)| {
                let hw = source.h * source.w;
                self.hwc(p, f / hw, (f % hw) / source.w, f % source.w)
            }),
            Layout::Expanded { .. } => Array3::from_shape_fn((s.c, s.h, s.w), |(c, y, x)| {
                // The first patch that holds the pixel (0 if none does).
                self.places(p, c, y, x)
                    .first()
                    .map_or(0, |&(w, l)| self.byte(w, l) as i32)
            }),
        }
    }

    fn hwc(&self, p: &TensorPlace, c: usize, y: usize, x: usize) -> i32 {
        let eb = p.elem_bytes();
        let word = p.base + (y * p.w + x) * p.cw + c * eb / self.shape.cols;
        let lane = c * eb % self.shape.cols;
        if eb == 4 {
            let b: Vec<u8> = (0..4).map(|i| self.byte(word, lane + i)).collect();
            i32::from_le_bytes([b[0], b[1], b[2], b[3]])
        } else {
            sext8(self.byte(word, lane), p.kind == ActKind::I8)
        }
    }

    /// Every (word, lane) of the input buffer that holds pixel (c, y, x): one in HWC, each
    /// patch position that uses it in the expanded layout.
    fn places(&self, p: &TensorPlace, c: usize, y: usize, x: usize) -> Vec<(usize, usize)> {
        let lanes = self.shape.cols;
        let Layout::Expanded { k, stride, pad } = p.layout else {
            return vec![(p.base + (y * p.w + x) * p.cw + c / lanes, c % lanes)];
        };
        let taps = |v: usize, n: usize| {
            (0..k).filter_map(move |kv| {
                let t = (v + pad).checked_sub(kv)?;
                (t % stride == 0 && t / stride < n).then_some((kv, t / stride))
            })
        };
        let mut out = vec![];
        for (ky, oy) in taps(y, p.h) {
            for (kx, ox) in taps(x, p.w) {
                let kidx = c * k * k + ky * k + kx;
                out.push((p.base + (oy * p.w + ox) * p.cw + kidx / lanes, kidx % lanes));
            }
        }
        out
    }

    /// Copy a tile block into the tile buffers; one main word per cycle. A streaming tile
    /// loads its header and parameters only.
    fn load_tile(&mut self, base: usize, words: usize, planes: usize, stream: bool) -> Result<u64> {
        let s = self.shape;
        let d = s.dwords();
        let w0 = (base + 1 + s.param_words()) * d;
        self.stream_at = stream.then_some(w0);
        self.w0 = (self.dword(base) & 0xffff) as usize;
        let p0 = (base + 1) * d;
        for r in 0..s.rows {
            self.pbuf[r] = self.main[(p0 + r) % self.main.len()];
        }
        if stream {
            return Ok(1 + s.param_words() as u64);
        }
        if planes > s.wtb_words {
            return Err(Error::Machine(format!(
                "tile of {planes} plane words exceeds the {}-word tile buffer",
                s.wtb_words
            )));
        }
        for i in 0..planes * s.plane_dwords() {
            self.wtb[i] = self.main[(w0 + i) % self.main.len()];
        }
        Ok(words as u64)
    }

    fn conv(&mut self, d: &Descriptor) -> Result<u64> {
        let s = self.shape;
        let planes = s.bits.get() as usize + d.masked as usize;
        let chunks = (d.kernel * d.kernel * d.f10) as usize;
        let mut cycles = 0;
        for t in 0..d.tiles as usize {
            let base = d.param as usize + t * d.tile_words as usize;
            cycles += self.load_tile(base, d.tile_words as usize, chunks * planes, d.stream)?;
            for oy in 0..d.out_h as usize {
                for ox in 0..d.out_w as usize {
                    cycles += self.conv_vector(d, t, oy, ox, planes);
                }
            }
            cycles += s.conv_drain();
        }
        Ok(cycles)
    }

    /// The activation word of chunk (tap, wi) for output (oy, ox), or `None` in the padding.
    fn patch_word(
        &self,
        d: &Descriptor,
        oy: usize,
        ox: usize,
        tap: usize,
        wi: usize,
    ) -> Option<usize> {
        let k = d.kernel as usize;
        let iy = (oy * d.stride as usize + tap / k) as isize - d.pad as isize;
        let ix = (ox * d.stride as usize + tap % k) as isize - d.pad as isize;
        let inside = iy >= 0
            && ix >= 0
            && (iy as usize) < d.in_h as usize
            && (ix as usize) < d.in_w as usize;
        inside.then(|| {
            d.in_a as usize
                + (iy as usize * d.in_w as usize + ix as usize) * d.in_cw as usize
                + self.w0
                + wi
        })
    }

    /// Row r's bits of plane word `i` of the tile buffer.
    fn row_bits(&self, i: usize, r: usize) -> u64 {
        let c = self.shape.cols;
        let at = i * self.shape.plane_dwords() + r * c / 64;
        let word = match self.stream_at {
            Some(base) => self.main[(base + at) % self.main.len()],
            None => self.wtb[at],
        };
        let w = word >> (r * c % 64);
        if c == 64 {
            w
        } else {
            w & ((1 << c) - 1)
        }
    }

    /// One output vector of a row tile: returns its cycles, max(compute, memory, requantizer).
    fn conv_vector(
        &mut self,
        d: &Descriptor,
        t: usize,
        oy: usize,
        ox: usize,
        planes: usize,
    ) -> u64 {
        let s = self.shape;
        let (rr, b) = (s.rows, s.bits.get() as usize);
        let (mut acc, mut q) = (vec![0i64; rr], vec![0i64; rr]);
        let (mut sum_x, mut comp, mut mem) = (0i64, 0u64, 0u64);
        let nw = d.f10 as usize;
        for tap in 0..(d.kernel * d.kernel) as usize {
            for wi in 0..nw {
                let ch = tap * nw + wi;
                mem += 1;
                let x = match self.patch_word(d, oy, ox, tap, wi) {
                    Some(a) => self.lanes(a, d.a_signed),
                    None => vec![0; s.cols],
                };
                sum_x += x.iter().map(|&v| v as i64).sum::<i64>();
                for r in 0..rr {
                    let mut part = 0i64;
                    for pi in 0..b {
                        part = 2 * part + masked_sum(self.row_bits(ch * planes + pi, r), &x);
                    }
                    acc[r] += part;
                    if d.masked {
                        q[r] += masked_sum(self.row_bits(ch * planes + b, r), &x);
                    } else if d.diagonal {
                        q[r] += x[r] as i64;
                    }
                }
                comp += planes as u64;
                if d.stream {
                    mem += (planes * s.plane_words()) as u64;
                }
            }
        }
        let out = self.requantize_rows(d, t, &acc, &q, sum_x);
        let word0 =
            d.out as usize + (oy * d.out_w as usize + ox) * d.out_cw as usize + t * out.len();
        for (j, w) in out.iter().enumerate() {
            self.write_lanes(word0 + j, w);
            mem += 1;
        }
        comp.max(mem).max(s.requant_interval())
    }

    /// The rows' dot products through their parameter words, packed into output words.
    fn requantize_rows(
        &self,
        d: &Descriptor,
        t: usize,
        acc: &[i64],
        q: &[i64],
        sum_x: i64,
    ) -> Vec<Vec<i32>> {
        let s = self.shape;
        let max_level = s.bits.max_level() as i64;
        let raw = kind_from_code(d.out_kind) == ActKind::I32;
        let mut bytes = vec![];
        for r in 0..s.rows {
            let corr = if d.masked || d.diagonal { q[r] } else { sum_x };
            let dot = 2 * acc[r] - max_level * corr;
            let (bias, m, sh, kind) = decode_row_param(self.pbuf[r]);
            let live = t * s.rows + r < d.out_channels as usize;
            let y = match (live, kind) {
                (false, _) => 0,
                (true, ActKind::I32) => (dot as i32).wrapping_add(bias),
                (true, k) => arith::requantize(
                    dot,
                    bias,
                    Requant {
                        multiplier: m,
                        shift: sh,
                    },
                    k,
                ),
            };
            if raw {
                bytes.extend(y.to_le_bytes().map(|v| v as i32));
            } else {
                bytes.push(y);
            }
        }
        bytes.chunks(s.cols).map(|c| c.to_vec()).collect()
    }

    fn add(&mut self, d: &Descriptor) -> u64 {
        let (ma, mb, sh) = decode_scalar_param(self.dword(d.param as usize));
        let kind = kind_from_code(d.out_kind);
        let n = d.out_h as usize * d.out_w as usize * d.out_cw as usize;
        let mut cycles = 1; // the parameter word
        for i in 0..n {
            let a = self.lanes(d.in_a as usize + i, d.a_signed);
            let b = self.lanes(d.in_b as usize + i, d.b_signed);
            let mem = 3; // two reads, one write
            let y: Vec<i32> = a
                .iter()
                .zip(&b)
                .map(|(&a, &b)| arith::requantize_add(a, b, ma, mb, sh, kind))
                .collect();
            self.write_lanes(d.out as usize + i, &y);
            cycles += self.shape.element_interval().max(mem);
        }
        cycles + ELEMENT_DRAIN
    }

    fn pool(&mut self, d: &Descriptor, avg: bool) -> u64 {
        let (m, _, sh) = decode_scalar_param(if avg { self.dword(d.param as usize) } else { 0 });
        let rq = Requant {
            multiplier: m,
            shift: sh,
        };
        let kind = kind_from_code(d.out_kind);
        let mut cycles = avg as u64; // the parameter word
        for oy in 0..d.out_h as usize {
            for ox in 0..d.out_w as usize {
                for g in 0..d.in_cw as usize {
                    let (acc, reads) = self.window(d, oy, ox, g, avg);
                    let y: Vec<i32> = acc
                        .iter()
                        .map(|&a| {
                            if avg {
                                arith::requantize_pool(a, rq, kind)
                            } else {
                                a as i32
                            }
                        })
                        .collect();
                    let at = d.out as usize + (oy * d.out_w as usize + ox) * d.out_cw as usize + g;
                    self.write_lanes(at, &y);
                    let mem = reads + 1;
                    cycles += if avg {
                        mem.max(self.shape.element_interval())
                    } else {
                        mem
                    };
                }
            }
        }
        cycles + if avg { ELEMENT_DRAIN } else { MAXPOOL_DRAIN }
    }

    /// Lane-wise sum (average) or max of the window of output word (oy, ox, g), and its reads.
    fn window(&self, d: &Descriptor, oy: usize, ox: usize, g: usize, avg: bool) -> (Vec<i64>, u64) {
        let (kh, kw) = d.window();
        let (st, cw, w) = (d.stride as usize, d.in_cw as usize, d.in_w as usize);
        let mut acc = vec![if avg { 0 } else { i64::MIN }; self.shape.cols];
        for i in 0..kh {
            for j in 0..kw {
                let at = d.in_a as usize + ((oy * st + i) * w + ox * st + j) * cw + g;
                for (a, v) in acc.iter_mut().zip(self.lanes(at, d.a_signed)) {
                    *a = if avg {
                        *a + v as i64
                    } else {
                        (*a).max(v as i64)
                    };
                }
            }
        }
        (acc, (kh * kw) as u64)
    }
}

/// Σ of the lanes whose bit is set.
fn masked_sum(mut bits: u64, x: &[i32]) -> i64 {
    let mut s = 0i64;
    while bits != 0 {
        s += x[bits.trailing_zeros() as usize] as i64;
        bits &= bits - 1;
    }
    s
}

/// First (channel, y, x, expected, found) where two [C, H, W] tensors differ.
pub fn diff(
    got: &ArrayView3<i32>,
    want: &ArrayView3<i32>,
) -> Option<(usize, usize, usize, i32, i32)> {
    if got.dim() != want.dim() {
        return Some((0, 0, 0, want.len() as i32, got.len() as i32));
    }
    got.indexed_iter()
        .zip(want.iter())
        .find(|((_, g), w)| *g != *w)
        .map(|(((c, y, x), &g), &w)| (c, y, x, w, g))
}
