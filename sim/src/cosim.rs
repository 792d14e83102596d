//! Whole networks on a simulated engine: conv/linear layers on the engine (through
//! [`crate::backend::run_gemm`]), adds, pools and flatten on the host with the contract's
//! arithmetic, every layer compared with the bundle's golden vectors.

use crate::backend::{check_gemm, run_gemm, Backend, TileRecord};
use crate::error::{Error, Result};
use crate::lower::lower;
use ndarray::{Array4, ArrayView4, Axis};
use serde::{Deserialize, Serialize};
use unibit_core::arith::ActKind;
use unibit_core::cost::{model_cost, EngineConfig};
use unibit_core::graph::TensorInfo;
use unibit_core::model::QuantModel;
use unibit_core::reference::eval_node;

pub use crate::run::{run_bundle, CosimOptions, CosimReport, SimKind};

/// The first output that differs from the golden vectors.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Mismatch {
    pub image: usize,
    pub layer: String,
    /// Index of the tile within the layer (engine layers), or `None` for host steps.
    pub tile: Option<usize>,
    pub channel: usize,
    /// Output pixel (row, column).
    pub pixel: (usize, usize),
    pub expected: i32,
    pub actual: i32,
    /// Cycle (from the image's first tile) at which the tile computing this output started.
    pub first_cycle: Option<u64>,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "image {}, layer {:?}, {}output channel {}, pixel ({}, {}): expected {}, got {}{}",
            self.image,
            self.layer,
            self.tile
                .map_or("host step, ".into(), |t| format!("tile {t}, ")),
            self.channel,
            self.pixel.0,
            self.pixel.1,
            self.expected,
            self.actual,
            self.first_cycle
                .map_or(String::new(), |c| format!(" (tile started at cycle {c})"))
        )
    }
}

/// One layer of one image.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LayerRun {
    pub name: String,
    pub on_engine: bool,
    pub tiles: usize,
    pub cycles: u64,
    pub predicted: u64,
    pub matches: bool,
}

/// One image through the network.
#[derive(Clone, Debug, Serialize)]
pub struct ImageRun {
    pub layers: Vec<LayerRun>,
    pub cycles: u64,
    pub mismatch: Option<Mismatch>,
}

/// Check before simulating that every conv/linear layer fits the engine and B matches.
pub fn check_model(model: &QuantModel, be: &dyn Backend) -> Result<()> {
    let p = be.params();
    if p.bits != model.bits.get() {
        return Err(Error::BitsMismatch {
            bundle: model.bits.get(),
            engine: p.bits,
        });
    }
    for n in model.graph.weight_layers() {
        let k = n.op.reduction().expect("a weight layer has a reduction");
        check_gemm(&p, k).map_err(|problem| Error::DoesNotFit {
            layer: n.name.clone(),
            problem,
        })?;
    }
    Ok(())
}

/// The engine configuration the cost model predicts with (see `EngineParams::engine_config`).
pub fn engine_config(be: &dyn Backend) -> Result<EngineConfig> {
    Ok(be.params().engine_config()?)
}

/// Runs conv/linear node `i` on the engine, one GEMM per group; returns its output, its tiles
/// (channels absolute, for mismatch reports) and the cycle after its last tile.
fn engine_layer(
    model: &QuantModel,
    info: &[TensorInfo],
    be: &mut dyn Backend,
    i: usize,
    x: &Array4<i32>,
    mut cycle: u64,
) -> Result<(Array4<i32>, Vec<TileRecord>, u64)> {
    let shape = info[i].shape;
    let mut y = Array4::<i32>::zeros((1, shape.c, shape.h, shape.w));
    let mut all = vec![];
    for g in lower(model, i, x.index_axis(Axis(0), 0), info[i].kind) {
        let (o, tiles) = run_gemm(be, &g, cycle)?;
        cycle = tiles.last().map_or(cycle, |t| t.start_cycle + t.cycles);
        let ow = g.out_hw.1;
        for ((v, m), &val) in o.indexed_iter() {
            y[[0, g.channel0 + m, v / ow, v % ow]] = val;
        }
        all.extend(tiles.into_iter().map(|t| TileRecord {
            row0: t.row0 + g.channel0,
            ..t
        }));
    }
    Ok((y, all, cycle))
}

/// The first output of layer `layer` that differs from `want`, located in its tile.
fn first_mismatch(
    image: usize,
    layer: &str,
    y: &Array4<i32>,
    want: &ArrayView4<i32>,
    tiles: &[TileRecord],
) -> Option<Mismatch> {
    let ((idx, &actual), &expected) = y
        .indexed_iter()
        .zip(want.iter())
        .find(|((_, a), b)| *a != *b)?;
    let (_, ch, pi, pj) = idx;
    let v = pi * y.dim().3 + pj;
    let tile = tiles
        .iter()
        .position(|t| ch >= t.row0 && ch < t.row0 + t.rows && v >= t.v0 && v < t.v0 + t.vectors);
    Some(Mismatch {
        image,
        layer: layer.to_string(),
        tile,
        channel: ch,
        pixel: (pi, pj),
        expected,
        actual,
        first_cycle: tile.map(|t| tiles[t].start_cycle),
    })
}

/// Run image `index` (`[1, C, H, W]`) through the network on `be`, comparing each layer with
/// `golden[layer]` (`[1, C, H, W]` views); stops at the first mismatch.
pub fn run_image(
    model: &QuantModel,
    info: &[TensorInfo],
    be: &mut dyn Backend,
    index: usize,
    image: ArrayView4<u8>,
    golden: &[ArrayView4<i32>],
) -> Result<ImageRun> {
    let predicted = model_cost(&model.graph, &engine_config(be)?)?;
    let input = image.mapv(|v| v as i32);
    let mut outs: Vec<Array4<i32>> = Vec::with_capacity(model.graph.nodes.len());
    let mut layers = vec![];
    let mut cycle = 0u64;
    for (i, node) in model.graph.nodes.iter().enumerate() {
        let ins: Vec<(&Array4<i32>, ActKind)> = node
            .inputs
            .iter()
            .map(|name| match model.graph.index_of(name) {
                None => (&input, ActKind::U8),
                Some(j) => (&outs[j], info[j].kind),
            })
            .collect();
        let (y, tiles) = if node.op.has_weights() {
            let (y, tiles, end) = engine_layer(model, info, be, i, ins[0].0, cycle)?;
            cycle = end;
            (y, tiles)
        } else {
            (eval_node(model, info, i, &ins), vec![])
        };
        let mismatch = first_mismatch(index, &node.name, &y, &golden[i], &tiles);
        layers.push(LayerRun {
            name: node.name.clone(),
            on_engine: node.op.has_weights(),
            tiles: tiles.len(),
            cycles: tiles.iter().map(|t| t.cycles).sum(),
            predicted: predicted
                .layers
                .iter()
                .find(|l| l.name == node.name)
                .map_or(0, |l| l.cycles),
            matches: mismatch.is_none(),
        });
        if mismatch.is_some() {
            return Ok(ImageRun {
                layers,
                cycles: cycle,
                mismatch,
            });
        }
        outs.push(y);
    }
    Ok(ImageRun {
        layers,
        cycles: cycle,
        mismatch: None,
    })
}
