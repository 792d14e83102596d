//! `hw pack`: a bundle's weights as the engine's memory images.
//!
//! Every conv/linear layer runs as one GEMM per group (`M = out/groups` rows, `K =
//! in/groups·k·k` reduction in the code array's row-major order `(c_in, ky, kx)`), cut into row
//! tiles of at most R rows. Each tile's `B·⌈K/C⌉` weight words (layout in `model.rs`) and its
//! `rows` parameter words are appended to two images:
//! * `weights.hex` — one `R·C`-bit word per line, most significant hex digit first;
//! * `params.hex` — one 64-bit parameter word per line;
//! * `layout.json` — for every layer and tile: group, first row, rows, chunks, `w_base`,
//!   `p_base` (word offsets into the images), and the output kind.
//!
//! The images cover the whole model; a host streams each tile's words into the engine's
//! memories (or `$readmemh`s an image when it fits) and runs the tile with `w_base`/`p_base`
//! relative to where it put them. Activations are per input and are not packed here.

use crate::configs::engine_params;
use crate::error::{Error, Result};
use crate::model::{weight_words, RowParams};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use unibit_core::arith::{ActKind, Requant};
use unibit_core::atomic::write_atomic;
use unibit_core::model::NodeParams;
use unibit_core::Op;

#[derive(Debug, Serialize)]
pub struct TileLayout {
    pub group: usize,
    pub row0: usize,
    pub rows: usize,
    pub chunks: usize,
    pub w_base: usize,
    pub p_base: usize,
}

#[derive(Debug, Serialize)]
pub struct LayerLayout {
    pub name: String,
    pub kind: String,
    pub groups: usize,
    pub m: usize,
    pub k: usize,
    pub output: ActKind,
    pub tiles: Vec<TileLayout>,
}

#[derive(Debug, Serialize)]
pub struct PackLayout {
    /// `unibit-hw-pack` (the output kind of `hw pack`).
    pub format: &'static str,
    pub bits: u8,
    pub rows: usize,
    pub cols: usize,
    pub weight_word_bits: usize,
    pub weight_words: usize,
    pub param_words: usize,
    pub k_order: &'static str,
    pub layers: Vec<LayerLayout>,
}

/// Packs `(codes [out, in/groups, k, k] flattened row-major, bias, requant, output kind)` of one
/// layer into the images; returns its layout.
#[allow(clippy::too_many_arguments)]
pub fn pack_layer(
    name: &str,
    kind: &str,
    codes: &[u8],
    out_channels: usize,
    groups: usize,
    bias: &[i32],
    requant: &[Requant],
    output: ActKind,
    bits: u8,
    rows: usize,
    cols: usize,
    wimg: &mut Vec<Vec<u64>>,
    pimg: &mut Vec<u64>,
) -> Result<LayerLayout> {
    if !(1..=8).contains(&bits) {
        return Err(Error::invalid("bits", "1..=8", bits));
    }
    let b = unibit_core::Bits::new(bits).expect("1..=8 is a weight bitwidth");
    let problem = |p: String| Error::Layer {
        layer: name.to_string(),
        problem: p,
    };
    if groups == 0
        || !out_channels.is_multiple_of(groups)
        || !codes.len().is_multiple_of(out_channels)
    {
        return Err(problem("codes/out_channels/groups are inconsistent".into()));
    }
    let m = out_channels / groups;
    let k = codes.len() / out_channels;
    let chunks = k.div_ceil(cols);
    let mut tiles = vec![];
    for g in 0..groups {
        for row0 in (0..m).step_by(rows) {
            let n = rows.min(m - row0);
            let first = g * m + row0;
            let tile_codes = &codes[first * k..(first + n) * k];
            let w_base = wimg.len();
            wimg.extend(weight_words(tile_codes, n, k, b, rows, cols));
            let p_base = pimg.len();
            for r in 0..n {
                let ch = first + r;
                let rq = if output == ActKind::I32 {
                    Requant {
                        multiplier: 0,
                        shift: 0,
                    }
                } else {
                    *requant
                        .get(ch)
                        .ok_or_else(|| problem(format!("no requantizer for channel {ch}")))?
                };
                let bias = *bias
                    .get(ch)
                    .ok_or_else(|| problem(format!("no bias for channel {ch}")))?;
                pimg.push(
                    RowParams {
                        bias,
                        requant: rq,
                        kind: output,
                    }
                    .word(),
                );
            }
            tiles.push(TileLayout {
                group: g,
                row0,
                rows: n,
                chunks,
                w_base,
                p_base,
            });
        }
    }
    Ok(LayerLayout {
        name: name.to_string(),
        kind: kind.to_string(),
        groups,
        m,
        k,
        output,
        tiles,
    })
}

fn hex_word(limbs: &[u64], width: usize) -> String {
    let mut s = String::new();
    for i in (0..width.div_ceil(4)).rev() {
        let bit = 4 * i;
        let _ = write!(
            s,
            "{:x}",
            (limbs.get(bit / 64).copied().unwrap_or(0) >> (bit % 64)) & 0xf
        );
    }
    s
}

/// Packs every conv/linear layer of `model`: the layout and the weight and parameter images.
pub fn pack_model(
    model: &unibit_core::model::QuantModel,
    rows: usize,
    cols: usize,
) -> Result<(PackLayout, Vec<Vec<u64>>, Vec<u64>)> {
    let bits = model.bits.get();
    engine_params(bits, rows, cols)?;
    let info = model.graph.infer()?;
    let mut wimg = vec![];
    let mut pimg = vec![];
    let mut layers = vec![];
    for (i, node) in model.graph.nodes.iter().enumerate() {
        let (out_channels, groups) = match node.op {
            Op::Conv2d {
                out_channels,
                groups,
                ..
            } => (out_channels, groups),
            Op::Linear { out_features, .. } => (out_features, 1),
            _ => continue,
        };
        let NodeParams::Weighted {
            codes,
            bias,
            requant,
        } = &model.params[i]
        else {
            return Err(Error::Layer {
                layer: node.name.clone(),
                problem: "a conv/linear layer without weights".into(),
            });
        };
        let flat: Vec<u8> = codes.iter().copied().collect();
        layers.push(pack_layer(
            &node.name,
            node.op.kind_name(),
            &flat,
            out_channels,
            groups,
            bias,
            requant,
            info[i].kind,
            bits,
            rows,
            cols,
            &mut wimg,
            &mut pimg,
        )?);
    }
    let layout = PackLayout {
        format: crate::outputs::PACK.format,
        bits,
        rows,
        cols,
        weight_word_bits: rows * cols,
        weight_words: wimg.len(),
        param_words: pimg.len(),
        k_order: "row-major over the code array [in/groups, k, k]: (c_in, ky, kx)",
        layers,
    };
    Ok((layout, wimg, pimg))
}

/// What `hw pack` wrote.
#[derive(Debug, Serialize)]
pub struct PackReport {
    pub layout: PackLayout,
    pub out: PathBuf,
}

/// The weight image as `$readmemh` lines: one `width`-bit word per line.
fn weight_hex(wimg: &[Vec<u64>], width: usize) -> String {
    let mut w = String::new();
    for word in wimg {
        w.push_str(&hex_word(word, width));
        w.push('\n');
    }
    w
}

/// `hw pack`: packs a bundle's weights for an `rows`×`cols` engine into `out` (`weights.hex`,
/// `params.hex`, `layout.json`).
pub fn pack_bundle(bundle: &Path, rows: usize, cols: usize, out: &Path) -> Result<PackReport> {
    unibit_core::atomic::check_output_dir(out, &crate::outputs::PACK, &[bundle])?;
    let bd = unibit_core::bundle::read_with(bundle, false).map_err(|source| Error::Bundle {
        path: bundle.to_path_buf(),
        source: Box::new(source),
    })?;
    let (layout, wimg, pimg) = pack_model(&bd.model, rows, cols)?;
    std::fs::create_dir_all(out).map_err(Error::io("creating", out))?;
    let mut p = String::new();
    for word in &pimg {
        let _ = writeln!(p, "{word:016x}");
    }
    write_atomic(
        &out.join("weights.hex"),
        weight_hex(&wimg, rows * cols).as_bytes(),
    )?;
    write_atomic(&out.join("params.hex"), p.as_bytes())?;
    write_atomic(
        &out.join("layout.json"),
        serde_json::to_string_pretty(&layout)?.as_bytes(),
    )?;
    Ok(PackReport {
        layout,
        out: out.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every layer of a synthetic MobileNetV2 (depthwise and pointwise) is packed completely.
    #[test]
    fn synthetic_model_packs_every_channel() {
        use unibit_core::{Family, FamilyConfig};
        let cfg = FamilyConfig::fashion_mnist(Family::MobileNetV2, 0.25);
        let bits = unibit_core::Bits::new(3).unwrap();
        let g = cfg.build().unwrap();
        let shape = g.input;
        let calib = unibit_core::synthetic::synthetic_images(2, shape, 1);
        let model = unibit_core::synthetic::synthetic_model(&cfg, bits, 7, calib.view()).unwrap();
        let (layout, wimg, pimg) = pack_model(&model, 8, 8).unwrap();
        assert!(
            layout.layers.iter().any(|l| l.groups > 1),
            "expected depthwise layers"
        );
        let mut words = 0;
        for l in &layout.layers {
            let rows: usize = l.tiles.iter().map(|t| t.rows).sum();
            assert_eq!(rows, l.m * l.groups, "{}", l.name);
            for t in &l.tiles {
                assert_eq!(t.w_base, words);
                words += 3 * t.chunks;
            }
        }
        assert_eq!(words, wimg.len());
        assert_eq!(
            pimg.len(),
            layout.layers.iter().map(|l| l.m * l.groups).sum::<usize>()
        );
        let dir = tempfile::tempdir().unwrap();
        assert!(
            pack_bundle(dir.path(), 8, 8, dir.path()).is_err(),
            "not a bundle"
        );
        let bundle = unibit_core::bundle::Bundle {
            model,
            info: unibit_core::bundle::ModelInfo {
                family: None,
                width: None,
                channel_multiple: None,
                source: "synthetic".into(),
                details: None,
            },
            accuracy: Default::default(),
            golden: None,
        };
        let bdir = dir.path().join("bundle");
        unibit_core::bundle::write(&bdir, &bundle).unwrap();
        let out = dir.path().join("hw");
        pack_bundle(&bdir, 8, 8, &out).unwrap();
        let hex = std::fs::read_to_string(out.join("weights.hex")).unwrap();
        assert_eq!(hex.lines().count(), wimg.len());
        assert!(hex.lines().all(|l| l.len() == 16));
        assert!(pack_bundle(&bdir, 8, 3, &out).is_err(), "unsupported array");
    }
    use crate::model::{activation_words, run_tile, EngineModel, TileDesc};

    /// A packed grouped layer, loaded tile by tile into the memory model, computes the contract.
    #[test]
    fn packed_grouped_layer_runs_on_the_model() {
        let (bits, rows, cols) = (2u8, 4usize, 4usize);
        let b = unibit_core::Bits::new(bits).unwrap();
        let (out_ch, groups, k) = (10usize, 2usize, 7usize);
        let codes: Vec<u8> = (0..out_ch * k).map(|i| (i * 7 % 4) as u8).collect();
        let bias: Vec<i32> = (0..out_ch as i32).map(|c| c * 10 - 40).collect();
        let rq: Vec<Requant> = (0..out_ch as u32)
            .map(|c| Requant::new(300 + c, 9).unwrap())
            .collect();
        let (mut wimg, mut pimg) = (vec![], vec![]);
        let l = pack_layer(
            "c",
            "conv2d",
            &codes,
            out_ch,
            groups,
            &bias,
            &rq,
            ActKind::I8,
            bits,
            rows,
            cols,
            &mut wimg,
            &mut pimg,
        )
        .unwrap();
        assert_eq!(l.tiles.len(), 4); // 5 rows per group → tiles of 4 and 1
        let x: Vec<i32> = (0..k as i32).map(|i| i * 31 % 200 - 100).collect();
        let p = engine_params(bits, rows, cols).unwrap();
        for t in &l.tiles {
            let mut m = EngineModel::new(p);
            for i in 0..bits as usize * t.chunks {
                m.wmem[i] = wimg[t.w_base + i].clone();
            }
            for r in 0..t.rows {
                m.pmem[r] = pimg[t.p_base + r];
            }
            for (i, a) in activation_words(&x, k, cols).into_iter().enumerate() {
                m.amem[i] = a;
            }
            let d = TileDesc {
                rows: t.rows,
                chunks: t.chunks,
                vectors: 1,
                w_base: 0,
                a_base: 0,
                o_base: 0,
                p_base: 0,
            };
            m.run(&d);
            let first = t.group * l.m + t.row0;
            let rp: Vec<RowParams> = (first..first + t.rows)
                .map(|c| RowParams {
                    bias: bias[c],
                    requant: rq[c],
                    kind: ActKind::I8,
                })
                .collect();
            let want = run_tile(&codes[first * k..(first + t.rows) * k], &x, k, b, &rp);
            assert_eq!(&m.omem[..t.rows], &want[..]);
        }
    }
}
