//! Synthetic integer models: random weight codes with biases and requantizers calibrated on
//! sample images so every layer uses its 8-bit range. Hardware work and tests need no training.

use crate::arith::{ActKind, Bits, Requant, MAX_BIAS_MAGNITUDE};
use crate::bundle::{self, Accuracy, Bundle, Golden, ModelInfo};
use crate::dataset::{self, Split};
use crate::error::{Error, Result};
use crate::family::FamilyConfig;
use crate::graph::{Graph, Op, Shape};
use crate::model::{NodeParams, NodeScales, QuantModel};
use crate::reference::{accumulate, eval_node};
use crate::size::ModelSize;
use ndarray::{Array4, ArrayView4, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Fraction of the output range that the calibration's 99th percentile maps to.
const TARGET_FILL: f64 = 0.7;

/// Images with some spatial structure (smooth blobs plus noise), deterministic in `seed`.
pub fn synthetic_images(n: usize, shape: Shape, seed: u64) -> Array4<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x1111_2222);
    let mut out = Array4::<u8>::zeros((n, shape.c, shape.h, shape.w));
    if out.is_empty() {
        return out;
    }
    // Blob radii in 2..max(2.5, h/2): also tiny images (h ≤ 4) get a non-empty range.
    let r_max = (shape.h as f64 / 2.0).max(2.5);
    for mut img in out.outer_iter_mut() {
        let blobs: Vec<(f64, f64, f64, f64)> = (0..3)
            .map(|_| {
                (
                    rng.random_range(0.0..shape.h as f64),
                    rng.random_range(0.0..shape.w as f64),
                    rng.random_range(2.0..r_max),
                    rng.random_range(80.0..255.0),
                )
            })
            .collect();
        for ((_, i, j), v) in img.indexed_iter_mut() {
            let mut x: f64 = rng.random_range(0.0..24.0);
            for &(ci, cj, r, a) in &blobs {
                let d2 = ((i as f64 - ci).powi(2) + (j as f64 - cj).powi(2)) / (r * r);
                x += a * (-d2).exp();
            }
            *v = x.clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// A synthetic example bundle to write.
#[derive(Clone, Debug)]
pub struct ExampleConfig {
    /// Family, width and channel multiple.
    pub family: FamilyConfig,
    pub bits: Bits,
    /// Seed of codes and calibration.
    pub seed: u64,
    /// Golden images to record.
    pub golden: usize,
    /// Fashion-MNIST directory (`None`: [`dataset::data_dir`]'s default). Its test images
    /// calibrate the model and become the golden inputs; synthetic images stand in without it.
    pub data_dir: Option<PathBuf>,
}

/// What [`write_example`] wrote.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExampleReport {
    pub out: PathBuf,
    pub family: FamilyConfig,
    pub bits: Bits,
    pub layers: usize,
    pub size: ModelSize,
    pub golden: usize,
    /// Where the calibration and golden images came from.
    pub images: &'static str,
}

/// Images (calibration, golden) and golden labels for an example bundle.
struct ExampleImages {
    calib: Array4<u8>,
    golden: Array4<u8>,
    labels: Option<Vec<u8>>,
    source: &'static str,
}

fn example_images(cfg: &ExampleConfig) -> ExampleImages {
    let dir = dataset::data_dir(cfg.data_dir.as_deref());
    match dataset::load(&dir, Split::Test) {
        Ok(d) => ExampleImages {
            calib: d.take(32).images,
            golden: d.take(cfg.golden).images,
            labels: Some(d.take(cfg.golden).labels),
            source: "fashion-mnist test images",
        },
        Err(_) => ExampleImages {
            calib: synthetic_images(32, cfg.family.input, cfg.seed),
            golden: synthetic_images(cfg.golden, cfg.family.input, cfg.seed + 1),
            labels: None,
            source: "synthetic images (Fashion-MNIST not found)",
        },
    }
}

/// Write a synthetic bundle to `out`: random codes (seeded), requantizers calibrated on test
/// images, golden vectors.
pub fn write_example(cfg: &ExampleConfig, out: &Path) -> Result<ExampleReport> {
    let f = &cfg.family;
    let imgs = example_images(cfg);
    let model = synthetic_model(f, cfg.bits, cfg.seed, imgs.calib.view())?;
    let golden = Golden::compute(&model, imgs.golden.view(), imgs.labels)?;
    let b = Bundle {
        model,
        info: ModelInfo {
            family: Some(f.family),
            width: Some(f.width),
            channel_multiple: Some(f.channel_multiple),
            source: "synthetic".into(),
            details: Some(serde_json::json!({ "seed": cfg.seed, "calibration": imgs.source })),
        },
        accuracy: Accuracy::default(),
        golden: Some(golden),
    };
    let man = bundle::write(out, &b)?;
    Ok(ExampleReport {
        out: out.to_path_buf(),
        family: *f,
        bits: cfg.bits,
        layers: man.layers.len(),
        size: man.size,
        golden: cfg.golden,
        images: imgs.source,
    })
}

/// A model of `cfg`'s family at bitwidth `bits` with random codes (seeded), its biases and
/// requantizers calibrated on `calib` images.
pub fn synthetic_model(
    cfg: &FamilyConfig,
    bits: Bits,
    seed: u64,
    calib: ArrayView4<u8>,
) -> Result<QuantModel> {
    synthetic_from_graph(cfg.build()?, bits, seed, calib)
}

/// As [`synthetic_model`] for any graph.
pub fn synthetic_from_graph(
    graph: Graph,
    bits: Bits,
    seed: u64,
    calib: ArrayView4<u8>,
) -> Result<QuantModel> {
    let info = graph.infer()?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // Placeholder parameters of the right kinds; calibrated node by node below.
    let params: Vec<NodeParams> = graph
        .nodes
        .iter()
        .map(|n| match &n.op {
            Op::Conv2d { .. } | Op::Linear { .. } => {
                let ws = n.op.weight_shape().unwrap();
                NodeParams::Weighted {
                    codes: Array4::from_shape_simple_fn(ws, || {
                        rng.random_range(0..=bits.max_code())
                    }),
                    bias: vec![0; ws[0]],
                    requant: vec![],
                }
            }
            Op::Add => NodeParams::Add {
                ma: 0,
                mb: 0,
                shift: 0,
            },
            Op::AvgPool { .. } | Op::GlobalAvgPool => NodeParams::Pool {
                requant: Requant {
                    multiplier: 0,
                    shift: 0,
                },
            },
            _ => NodeParams::None,
        })
        .collect();
    let n = graph.nodes.len();
    let mut model = QuantModel {
        graph,
        bits,
        input_scale: 1.0 / 255.0,
        params,
        scales: vec![
            NodeScales {
                output: 1.0,
                weight: vec![]
            };
            n
        ],
    };
    let input = calib.mapv(|v| v as i32);
    let mut outs: Vec<Array4<i32>> = Vec::with_capacity(n);
    let input_of = model.graph.input_indices();
    for i in 0..n {
        let ins: Vec<(&Array4<i32>, ActKind)> = input_of[i]
            .iter()
            .map(|j| match *j {
                None => (&input, ActKind::U8),
                Some(j) => (&outs[j], info[j].kind),
            })
            .collect();
        calibrate_node(&mut model, i, &ins, info[i].kind, &mut rng)?;
        outs.push(eval_node(&model, &info, i, &ins));
    }
    model.validate()?;
    Ok(model)
}

/// Set node `i`'s bias and requantizer (or add/pool parameters) from its inputs on the
/// calibration images, so its 99th percentile fills [`TARGET_FILL`] of its output range.
fn calibrate_node(
    model: &mut QuantModel,
    i: usize,
    ins: &[(&Array4<i32>, ActKind)],
    kind: ActKind,
    rng: &mut ChaCha8Rng,
) -> Result<()> {
    let target = TARGET_FILL * kind.range().1 as f64;
    let name = &model.graph.nodes[i].name;
    let scale =
        |m: f64| Requant::from_real(m).map_err(|e| Error::Message(format!("node {name:?}: {e}")));
    let params = match model.graph.nodes[i].op {
        Op::Conv2d { .. } | Op::Linear { .. } => {
            let acc = accumulate(model, i, ins[0].0, ins[0].1);
            let (b, r) = calibrate_channels(&acc, kind, target, rng, scale)?;
            if let NodeParams::Weighted { bias, requant, .. } = &mut model.params[i] {
                (*bias, *requant) = (b, r);
            }
            return Ok(());
        }
        Op::Add => {
            let sums = ins[0]
                .0
                .iter()
                .zip(ins[1].0.iter())
                .map(|(&a, &b)| (a + b) as f64);
            let rq = scale(target / percentile_abs(sums, 0.99).max(1.0))?;
            // Unequal multipliers exercise both paths of the adder.
            let mb = ((rq.multiplier as f64) * rng.random_range(0.6..1.0)).round() as u32;
            NodeParams::Add {
                ma: rq.multiplier,
                mb,
                shift: rq.shift,
            }
        }
        Op::AvgPool { kernel, .. } => NodeParams::Pool {
            requant: scale(1.0 / (kernel * kernel) as f64)?,
        },
        Op::GlobalAvgPool => {
            let s = ins[0].0.shape();
            NodeParams::Pool {
                requant: scale(1.0 / (s[2] * s[3]) as f64)?,
            }
        }
        _ => return Ok(()),
    };
    model.params[i] = params;
    Ok(())
}

/// Per output channel: a bias near minus the mean accumulator (jittered by the seed), and,
/// unless the output is the raw i32 accumulator, a requantizer from the 99th percentile.
fn calibrate_channels(
    acc: &ndarray::Array4<i64>,
    kind: ActKind,
    target: f64,
    rng: &mut ChaCha8Rng,
    scale: impl Fn(f64) -> Result<Requant>,
) -> Result<(Vec<i32>, Vec<Requant>)> {
    let mut bias = vec![];
    let mut requant = vec![];
    for ch in acc.axis_iter(Axis(1)) {
        let vals: Vec<f64> = ch.iter().map(|&v| v as f64).collect();
        let mean = vals.iter().sum::<f64>() / vals.len() as f64;
        let sd = (vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / vals.len() as f64).sqrt();
        let b = (-mean + rng.random_range(-0.5..0.5) * sd).round();
        let b = b.clamp(
            -(MAX_BIAS_MAGNITUDE - 1) as f64,
            (MAX_BIAS_MAGNITUDE - 1) as f64,
        );
        bias.push(b as i32);
        if kind != ActKind::I32 {
            let p99 = percentile_abs(vals.iter().map(|v| v + b), 0.99).max(1.0);
            requant.push(scale(target / p99)?);
        }
    }
    Ok((bias, requant))
}

fn percentile_abs(vals: impl Iterator<Item = f64>, q: f64) -> f64 {
    let mut v: Vec<f64> = vals.map(f64::abs).collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// Fraction of outputs of each node that sit at a saturation limit (a calibration check).
pub fn saturation(outputs: &[Array4<i32>], kinds: &[ActKind]) -> Vec<f64> {
    outputs
        .iter()
        .zip(kinds)
        .map(|(o, k)| {
            let (lo, hi) = k.range();
            let sat = o
                .iter()
                .filter(|&&v| (v == hi) || (v == lo && lo != 0))
                .count();
            sat as f64 / o.len().max(1) as f64
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_of_any_size_including_tiny_and_empty() {
        for (h, w) in [(0, 5), (5, 0), (1, 1), (2, 9), (4, 4), (5, 5), (28, 28)] {
            let a = synthetic_images(2, Shape::new(1, h, w), 3);
            assert_eq!(a.shape(), &[2, 1, h, w]);
            if h * w > 1 {
                assert!(a.iter().any(|&v| v > 24), "{h}×{w}: no blob");
            }
        }
        // Deterministic in the seed.
        let s = Shape::new(1, 3, 3);
        assert_eq!(synthetic_images(2, s, 7), synthetic_images(2, s, 7));
    }
}
