//! Cycle cost of a model on an R×C bit-serial array with weight bitwidth B.
//!
//! Every conv/linear layer runs as GEMMs: per group, `M = out/groups` output channels on the
//! rows, `K = in/groups·k·k` reduction elements on the lanes, `N = out_h·out_w` output vectors.
//! A GEMM is cut into `⌈M/R⌉` row tiles; each tile streams its N vectors through a two-stage
//! pipeline: compute, `p = ⌈K/C⌉·B` cycles per vector (one bit-plane of one lane chunk per
//! cycle), then requantization, `q` cycles per vector. A tile takes
//! `tile_overhead + N·(max(p, q) + vector_overhead) + min(p, q)` cycles.
//! Depthwise layers (groups = channels, M = 1 and K = k² per group) use one row and k² lanes of
//! the array: their utilization `k²/(R·C)` is reported, not hidden. Adds and pools run on the host.

use crate::arith::Bits;
use crate::error::{Error, Result};
use crate::graph::{Graph, Op};
use serde::{Deserialize, Serialize};

/// Controller timing constants of an engine (the hardware crate states the values it meets).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timing {
    /// Cycles from a tile's start to its first vector's first bit-plane, plus its drain at the end.
    pub tile_overhead: u64,
    /// Extra cycles per output vector (e.g. Σx correction and hand-off to the requantizer).
    pub vector_overhead: u64,
    /// Minimum cycles between vectors imposed by the requantizer for a tile of `rows` outputs:
    /// `⌈rows / requant_lanes⌉ · requant_cycles`.
    pub requant_lanes: u64,
    pub requant_cycles: u64,
}

impl Default for Timing {
    /// An engine whose requantizers keep up with the array (one per row, one cycle each).
    fn default() -> Self {
        Timing {
            tile_overhead: 0,
            vector_overhead: 0,
            requant_lanes: u64::MAX,
            requant_cycles: 1,
        }
    }
}

/// An engine configuration: R rows, C lanes, bitwidth B, and its timing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineConfig {
    pub rows: usize,
    pub cols: usize,
    pub bits: Bits,
    #[serde(default)]
    pub timing: Timing,
    /// Activation and output memory depths in words (0 = unbounded). When a tile's vectors do
    /// not fit, the host splits them into several tiles, each paying the tile overhead.
    #[serde(default)]
    pub act_words: usize,
    #[serde(default)]
    pub out_words: usize,
}

impl EngineConfig {
    pub fn new(rows: usize, cols: usize, bits: Bits) -> Result<Self> {
        if rows == 0 || rows > 1024 {
            return Err(Error::invalid("rows", "1..=1024", rows));
        }
        if cols == 0 || cols > 1024 {
            return Err(Error::invalid("cols", "1..=1024", cols));
        }
        Ok(EngineConfig {
            rows,
            cols,
            bits,
            timing: Timing::default(),
            act_words: 0,
            out_words: 0,
        })
    }

    /// Most vectors one tile of `rows` outputs and reduction `k` can take (memory capacity).
    pub fn max_vectors(&self, rows: usize, k: usize) -> usize {
        let chunks = k.div_ceil(self.cols).max(1);
        let mut v = usize::MAX;
        if self.act_words > 0 {
            v = v.min(self.act_words / chunks);
        }
        if self.out_words > 0 {
            v = v.min(self.out_words / rows.max(1));
        }
        v.clamp(1, 0xffff)
    }

    /// Cycles for a row tile of `rows` outputs over `n` vectors, split by memory capacity.
    pub fn split_tile_cycles(&self, rows: usize, k: usize, n: usize) -> (u64, usize) {
        let max_v = self.max_vectors(rows, k);
        let (full, rest) = (n / max_v, n % max_v);
        let mut c = full as u64 * self.tile_cycles(rows, k, max_v);
        if rest > 0 {
            c += self.tile_cycles(rows, k, rest);
        }
        (c, full + (rest > 0) as usize)
    }
    pub fn lanes(&self) -> usize {
        self.rows * self.cols
    }

    /// Cycles for one row tile of `rows ≤ R` outputs, reduction `k`, and `n` vectors.
    pub fn tile_cycles(&self, rows: usize, k: usize, n: usize) -> u64 {
        let t = &self.timing;
        let compute = k.div_ceil(self.cols) as u64 * self.bits.get() as u64;
        let requant = (rows as u64).div_ceil(t.requant_lanes.max(1)) * t.requant_cycles;
        // Compute and requantization form a two-stage pipeline over the N vectors:
        // p + q + (N−1)·max(p, q) = N·max(p, q) + min(p, q).
        t.tile_overhead
            + n as u64 * (compute.max(requant) + t.vector_overhead)
            + compute.min(requant)
    }
}

/// One supported configuration of the tile engine (the RTL in unibit-hw): its array and the
/// address widths (log2 depth in words) of its weight, activation, output and parameter
/// memories. The hardware crate builds one concrete circuit per entry and checks at compile
/// time that its circuits are exactly these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TileEngine {
    pub rows: usize,
    pub cols: usize,
    pub w_addr_bits: u32,
    pub a_addr_bits: u32,
    pub o_addr_bits: u32,
    pub p_addr_bits: u32,
}

/// The supported tile-engine configurations, smallest first.
pub const TILE_ENGINES: [TileEngine; 7] = {
    const fn e(rows: usize, cols: usize, w: u32, a: u32, o: u32, p: u32) -> TileEngine {
        TileEngine {
            rows,
            cols,
            w_addr_bits: w,
            a_addr_bits: a,
            o_addr_bits: o,
            p_addr_bits: p,
        }
    }
    [
        e(4, 4, 8, 8, 8, 6),
        e(4, 8, 8, 8, 8, 6),
        e(8, 4, 8, 8, 8, 6),
        e(8, 8, 9, 9, 9, 6),
        e(8, 16, 9, 9, 9, 6),
        e(16, 8, 9, 9, 9, 6),
        e(16, 16, 9, 9, 10, 6),
    ]
};

/// Cycles of the tile engine's pipeline that do not depend on the adder tree's depth:
/// controller register 1, memory read 1, operand register 1, accumulate 1, hand-off 1,
/// drain-select 1, requantizer 6 (the RTL's cycle counter is tested against this in unibit-hw).
pub const FIXED_OVERHEAD: u64 = 11;

/// Registered levels in the tile engine's C-lane adder tree: the leaves, every other level
/// above them, and the root.
pub const fn tree_latency(cols: usize) -> u64 {
    let lg = cols.trailing_zeros() as usize;
    let mut d = 0;
    let mut n = 0;
    while d <= lg {
        if d == lg || d == 0 || (lg - d).is_multiple_of(2) {
            n += 1;
        }
        d += 1;
    }
    n
}

impl TileEngine {
    /// The entry for an R×C array, if the tile engine supports it.
    pub fn find(rows: usize, cols: usize) -> Option<&'static TileEngine> {
        TILE_ENGINES
            .iter()
            .find(|e| e.rows == rows && e.cols == cols)
    }

    /// The supported arrays as `4x4, 4x8, …` (for error messages).
    pub fn supported() -> String {
        TILE_ENGINES
            .iter()
            .map(|e| format!("{}x{}", e.rows, e.cols))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The controller's timing: a fixed overhead per tile, no per-vector overhead, and a
    /// requantizer that drains one row per cycle (so a tile's vectors are
    /// `max(⌈K/C⌉·B, rows)` cycles apart).
    pub fn timing(&self) -> Timing {
        Timing {
            tile_overhead: FIXED_OVERHEAD + tree_latency(self.cols),
            vector_overhead: 0,
            requant_lanes: 1,
            requant_cycles: 1,
        }
    }

    /// This engine at bitwidth `bits`, with its timing and memory depths.
    pub fn config(&self, bits: Bits) -> EngineConfig {
        EngineConfig {
            rows: self.rows,
            cols: self.cols,
            bits,
            timing: self.timing(),
            act_words: 1 << self.a_addr_bits,
            out_words: 1 << self.o_addr_bits,
        }
    }
}

/// The tile engine's real timing for an R×C array at bitwidth `bits`: what cosimulation of
/// the RTL counts, cycle for cycle. Unsupported arrays are an error naming the supported ones.
pub fn tile_engine(bits: Bits, rows: usize, cols: usize) -> Result<EngineConfig> {
    TileEngine::find(rows, cols)
        .map(|e| e.config(bits))
        .ok_or_else(|| {
            Error::invalid(
                "array (--rows x --cols)",
                format!("one of the tile engine's {}", TileEngine::supported()),
                format!("{rows}x{cols}"),
            )
        })
}

/// Cost of one layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerCost {
    pub name: String,
    pub kind: String,
    /// GEMM shape per group: M × K × N, and the number of groups.
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub groups: usize,
    /// Tiles run (row tiles × vector splits × groups).
    pub tiles: usize,
    pub macs: u64,
    pub cycles: u64,
    /// Useful MACs per cycle over the array's R·C/B peak.
    pub utilization: f64,
}

/// Cost of a model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelCost {
    pub engine: EngineConfig,
    pub layers: Vec<LayerCost>,
    pub cycles: u64,
    pub macs: u64,
    pub utilization: f64,
}

/// Cycles for every conv/linear layer of `graph` on `engine`.
pub fn model_cost(graph: &Graph, engine: &EngineConfig) -> Result<ModelCost> {
    let info = graph.infer()?;
    let peak = engine.lanes() as f64 / engine.bits.get() as f64;
    let mut layers = vec![];
    for (i, node) in graph.nodes.iter().enumerate() {
        let (groups, m, k) = match node.op {
            Op::Conv2d {
                out_channels,
                groups,
                ..
            } => (groups, out_channels / groups, node.op.reduction().unwrap()),
            Op::Linear { out_features, .. } => (1, out_features, node.op.reduction().unwrap()),
            _ => continue,
        };
        let n = info[i].shape.h * info[i].shape.w;
        let full_tiles = m / engine.rows;
        let rest = m % engine.rows;
        let (full_cycles, full_splits) = engine.split_tile_cycles(engine.rows, k, n);
        let mut cycles = full_tiles as u64 * full_cycles;
        let mut tiles = full_tiles * full_splits;
        if rest > 0 {
            let (c, t) = engine.split_tile_cycles(rest, k, n);
            cycles += c;
            tiles += t;
        }
        cycles *= groups as u64;
        let tiles = groups * tiles;
        let macs = (groups * m * k * n) as u64;
        layers.push(LayerCost {
            name: node.name.clone(),
            kind: node.op.kind_name().to_string(),
            m,
            k,
            n,
            groups,
            tiles,
            macs,
            cycles,
            utilization: macs as f64 / (cycles as f64 * peak),
        });
    }
    let cycles = layers.iter().map(|l| l.cycles).sum();
    let macs = layers.iter().map(|l| l.macs).sum();
    Ok(ModelCost {
        engine: *engine,
        layers,
        cycles,
        macs,
        utilization: macs as f64 / (cycles as f64 * peak),
    })
}

/// Cycles of the bundle in `dir` on the R×C tile engine at the bundle's bitwidth (the engine's
/// real timing, see [`tile_engine`]).
pub fn bundle_cost(dir: &std::path::Path, rows: usize, cols: usize) -> Result<ModelCost> {
    let b = crate::bundle::read_with(dir, false)?;
    let engine = tile_engine(b.model.bits, rows, cols)?;
    model_cost(&b.model.graph, &engine)
}

/// Predicted cycles per image of a run record's model (Fashion-MNIST input, the record's family
/// and width) on the tile engine its `engine` field names (`RxC…`), at its bitwidth — the
/// largest layer bitwidth for mixed precision. Records do not store the channel multiple the
/// model was built with: `channel_multiple` is taken from the sweep's plan, and the rebuilt
/// model must have the record's weight count.
pub fn record_cycles(rec: &crate::results::RunRecord, channel_multiple: usize) -> Result<u64> {
    let engine = rec
        .engine
        .as_deref()
        .ok_or_else(|| Error::invalid("engine", "an array such as \"8x8\"", "none"))?;
    let array = engine.split_whitespace().next().unwrap_or("");
    let (rows, cols) = array
        .split_once('x')
        .and_then(|(r, c)| Some((r.parse().ok()?, c.parse().ok()?)))
        .ok_or_else(|| {
            Error::invalid("engine", "an array such as \"8x8\"", format!("{engine:?}"))
        })?;
    let bits = rec
        .bits
        .or_else(|| rec.layer_bits.iter().copied().max())
        .ok_or_else(|| Error::invalid("bits", "a bitwidth or layer_bits", "neither"))?;
    let model = crate::family::FamilyConfig {
        channel_multiple,
        ..crate::family::FamilyConfig::fashion_mnist(rec.family, rec.width)
    };
    let graph = model.build()?;
    if graph.weight_count() as u64 != rec.weights {
        return Err(Error::invalid(
            "weights",
            format!(
                "{} (the weights of {} at width {} with channel multiple {channel_multiple})",
                graph.weight_count(),
                rec.family,
                rec.width
            ),
            rec.weights,
        ));
    }
    let bits = Bits::new(bits).map_err(|e| Error::invalid("bits", "1..=8", e))?;
    Ok(model_cost(&graph, &tile_engine(bits, rows, cols)?)?.cycles)
}

/// What [`recompute_record_cycles`] did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecomputedCycles {
    pub input: std::path::PathBuf,
    pub out: std::path::PathBuf,
    /// Records read, and those whose cycles changed (old, new).
    pub records: usize,
    pub changed: Vec<(u64, u64)>,
}

/// Copy the results table `input` to `out` with every recorded `cycles` recomputed by
/// [`record_cycles`] (records without cycles are kept as they are). Errors name the file and
/// line. `out` must not be `input`.
pub fn recompute_record_cycles(
    input: &std::path::Path,
    out: &std::path::Path,
    channel_multiple: usize,
) -> Result<RecomputedCycles> {
    crate::atomic::check_output_file(out, &[input])?;
    let mut records = crate::results::read(input)?;
    let mut changed = vec![];
    for (i, rec) in records.iter_mut().enumerate() {
        let Some(old) = rec.cycles else { continue };
        let new = record_cycles(rec, channel_multiple).map_err(|e| match e {
            Error::Invalid {
                field,
                expected,
                found,
                ..
            } => Error::Invalid {
                file: Some(input.to_path_buf()),
                field: format!("record {}: {field}", i + 1),
                expected,
                found,
            },
            e => e,
        })?;
        if new != old {
            changed.push((old, new));
        }
        rec.cycles = Some(new);
    }
    crate::results::write(out, &records)?;
    Ok(RecomputedCycles {
        input: input.to_path_buf(),
        out: out.to_path_buf(),
        records: records.len(),
        changed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::family::{Family, FamilyConfig};

    #[test]
    fn dense_layers_fill_the_array_and_depthwise_do_not() {
        let g = FamilyConfig::fashion_mnist(Family::MobileNetV2, 1.0)
            .build()
            .unwrap();
        let e = EngineConfig::new(8, 8, Bits::new(2).unwrap()).unwrap();
        let c = model_cost(&g, &e).unwrap();
        let dw = c.layers.iter().find(|l| l.name.ends_with(".dw")).unwrap();
        let pw = c
            .layers
            .iter()
            .find(|l| l.name.ends_with(".project"))
            .unwrap();
        assert!(dw.utilization < 0.2, "{dw:?}");
        assert!(pw.utilization > 0.9, "{pw:?}");
    }

    #[test]
    fn tile_engines_carry_their_timing_and_memories() {
        let b = Bits::new(2).unwrap();
        let e = tile_engine(b, 8, 8).unwrap();
        // 11 fixed cycles + a 3-level tree; 512-word activation and output memories.
        assert_eq!(e.timing.tile_overhead, 14);
        assert_eq!((e.act_words, e.out_words), (512, 512));
        // K = 20 → 3 chunks → 6 compute cycles per vector < 8 rows drained per vector.
        assert_eq!(e.tile_cycles(8, 20, 5), 14 + 5 * 8 + 6);
        assert_eq!(tile_engine(b, 16, 16).unwrap().out_words, 1024);
        let err = tile_engine(b, 8, 32).unwrap_err().to_string();
        assert!(err.contains("8x32") && err.contains("4x4, 4x8"), "{err}");
        assert_eq!(err.lines().count(), 1);
        for t in TILE_ENGINES {
            assert_eq!(TileEngine::find(t.rows, t.cols), Some(&t));
            assert!(t.cols.is_power_of_two());
        }
    }

    #[test]
    fn cycles_follow_the_formula() {
        let e = EngineConfig::new(4, 8, Bits::new(3).unwrap()).unwrap();
        // 10 rows → tiles of 4, 4, 2; K = 20 → 3 chunks; 5 vectors; q = 1.
        assert_eq!(e.tile_cycles(4, 20, 5), 5 * 3 * 3 + 1);
        let mut slow = e;
        slow.timing = Timing {
            tile_overhead: 7,
            vector_overhead: 2,
            requant_lanes: 1,
            requant_cycles: 4,
        };
        // requant interval ⌈4/1⌉·4 = 16 > 9 compute cycles
        assert_eq!(slow.tile_cycles(4, 20, 5), 7 + 5 * (16 + 2) + 9);
    }
}
