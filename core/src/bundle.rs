//! Bundle format v1: a directory with `manifest.json`, `weights.safetensors` and `golden/*.npy`.
//!
//! ```text
//! manifest.json        format, version, arithmetic parameters, model info, size, input,
//!                      layers (graph nodes + output shape/kind/scale + add/pool parameters),
//!                      accuracy, golden file list
//! weights.safetensors  per conv/linear layer NAME: NAME.codes (U8 [out, in/groups, k, k]),
//!                      NAME.bias (I32 [out]), and unless the layer is the raw I32 output,
//!                      NAME.multiplier (U16 [out]) and NAME.shift (U8 [out])
//! golden/input.npy     uint8 [N, C, H, W] input images;  golden/labels.npy  uint8 [N]
//! golden/NAME.npy      every node's output [N, C, H, W] as uint8 / int8 / int32 (its kind)
//! ```
//! Writes are atomic (a temporary sibling directory renamed into place). Readers check
//! everything and name the file and field at fault.

use crate::arith::{ActKind, Bits, Requant};
use crate::error::{Error, Result};
use crate::family::Family;
use crate::graph::{Graph, Node, Op, Shape, TensorInfo};
use crate::model::{NodeParams, NodeScales, QuantModel};
use crate::reference::{self, Keep};
use crate::size::{model_size, ModelSize};
use ndarray::{Array1, Array4, ArrayView4};
use safetensors::tensor::{Dtype, TensorView};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod checks;
mod files;
mod inspect;
pub use files::{MAX_MANIFEST_BYTES, MAX_NPY_BYTES, MAX_WEIGHTS_BYTES};
pub use inspect::{inspect, GoldenCheck, Inspection};

pub const FORMAT: &str = "unibit-bundle";
pub const VERSION: u32 = 1;
pub const MANIFEST: &str = "manifest.json";
pub const WEIGHTS: &str = "weights.safetensors";
pub const GOLDEN_DIR: &str = "golden";
/// Most layers a manifest may list.
pub const MAX_LAYERS: usize = 100_000;

/// Where the model came from and what it is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<Family>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_multiple: Option<usize>,
    /// `trained` or `synthetic`.
    pub source: String,
    /// Free-form provenance (training configuration, seed, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

/// Measured accuracies (fractions in [0, 1]) on `images` images of `dataset`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Accuracy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub float: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fake_quant: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integer: Option<f64>,
}

/// Golden vectors: inputs, optional labels, and every node's integer output.
#[derive(Clone, Debug, PartialEq)]
pub struct Golden {
    pub input: Array4<u8>,
    pub labels: Option<Vec<u8>>,
    pub outputs: Vec<Array4<i32>>,
}

impl Golden {
    /// Run the reference on `input` and keep every node's output.
    pub fn compute(
        model: &QuantModel,
        input: ArrayView4<u8>,
        labels: Option<Vec<u8>>,
    ) -> Result<Golden> {
        let outs = reference::run(model, input, Keep::All)?;
        Ok(Golden {
            input: input.to_owned(),
            labels,
            outputs: outs
                .into_iter()
                .map(|o| o.expect("Keep::All keeps every output"))
                .collect(),
        })
    }
    pub fn count(&self) -> usize {
        self.input.shape()[0]
    }
}

/// A bundle in memory.
#[derive(Clone, Debug, PartialEq)]
pub struct Bundle {
    pub model: QuantModel,
    pub info: ModelInfo,
    pub accuracy: Accuracy,
    pub golden: Option<Golden>,
}

// ---------------------------------------------------------------- manifest schema

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Arithmetic {
    pub weight_bits: Bits,
    pub weight_encoding: String,
    pub activation_bits: u32,
    pub accumulator_bits: u32,
    pub multiplier_bits: u32,
    pub max_shift: u32,
    pub rounding: String,
    pub requantization: String,
}

impl Arithmetic {
    pub fn for_bits(bits: Bits) -> Self {
        Arithmetic {
            weight_bits: bits,
            weight_encoding: "code u in [0, 2^B-1] means level w = 2u - (2^B-1)".into(),
            activation_bits: 8,
            accumulator_bits: crate::arith::ACCUMULATOR_BITS,
            multiplier_bits: crate::arith::MULTIPLIER_BITS,
            max_shift: crate::arith::MAX_SHIFT,
            rounding: "half_up".into(),
            requantization: "y = clamp(((acc + bias) * M + 2^(S-1)) >> S, lo, hi); add: (a*Ma + b*Mb + 2^(S-1)) >> S; \
                             avg pool: (sum * M + 2^(S-1)) >> S; >> is arithmetic; S = 0 adds nothing"
                .into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TensorEntry {
    pub shape: [usize; 3],
    pub kind: ActKind,
    pub scale: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AddParams {
    pub ma: u32,
    pub mb: u32,
    pub shift: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerEntry {
    #[serde(flatten)]
    pub node: Node,
    pub output: TensorEntry,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weight_scale: Vec<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add: Option<AddParams>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<Requant>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GoldenEntry {
    pub count: usize,
    pub input: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<String>,
    /// Node name → file, for every node.
    pub layers: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub arithmetic: Arithmetic,
    pub model: ModelInfo,
    pub size: ModelSize,
    pub input: TensorEntry,
    pub layers: Vec<LayerEntry>,
    #[serde(default)]
    pub accuracy: Accuracy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub golden: Option<GoldenEntry>,
}

// ---------------------------------------------------------------- writing

/// Write `bundle` to `dir` atomically (replacing an existing bundle there).
pub fn write(dir: &Path, bundle: &Bundle) -> Result<Manifest> {
    let info = bundle.model.validate()?;
    let manifest = manifest_of(bundle, &info)?;
    // Never write what a reader would refuse.
    checks::reals(&manifest)?;
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let name = dir
        .file_name()
        .ok_or_else(|| Error::path(dir, "not a directory name"))?;
    let tmp = crate::atomic::temp_sibling(&parent.join(name));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(tmp.join(GOLDEN_DIR)).map_err(|e| Error::io(&tmp, e))?;

    let mpath = tmp.join(MANIFEST);
    let json = serde_json::to_string_pretty(&manifest).map_err(|e| Error::json(&mpath, e))?;
    std::fs::write(&mpath, json).map_err(|e| Error::io(&mpath, e))?;
    write_weights(&tmp.join(WEIGHTS), &bundle.model, &info)?;
    if let Some(g) = &bundle.golden {
        write_golden(
            &tmp,
            g,
            &bundle.model,
            &info,
            manifest.golden.as_ref().unwrap(),
        )?;
    }
    replace_dir(&tmp, dir)?;
    Ok(manifest)
}

/// Rename `tmp` onto `dir`, replacing it (old contents removed only after the rename).
pub fn replace_dir(tmp: &Path, dir: &Path) -> Result<()> {
    if dir.exists() {
        let old = dir.with_file_name(format!(
            ".{}.old-{}",
            dir.file_name().unwrap().to_string_lossy(),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&old);
        std::fs::rename(dir, &old).map_err(|e| Error::io(dir, e))?;
        std::fs::rename(tmp, dir).map_err(|e| Error::io(dir, e))?;
        let _ = std::fs::remove_dir_all(&old);
    } else {
        std::fs::rename(tmp, dir).map_err(|e| Error::io(dir, e))?;
    }
    Ok(())
}

fn manifest_of(bundle: &Bundle, info: &[TensorInfo]) -> Result<Manifest> {
    let m = &bundle.model;
    let size = model_size(&m.graph, |_| m.bits)?;
    let layers = m
        .graph
        .nodes
        .iter()
        .enumerate()
        .map(|(i, node)| LayerEntry {
            node: node.clone(),
            output: TensorEntry {
                shape: info[i].shape.dims(),
                kind: info[i].kind,
                scale: m.scales[i].output,
            },
            weight_scale: m.scales[i].weight.clone(),
            add: match m.params[i] {
                NodeParams::Add { ma, mb, shift } => Some(AddParams { ma, mb, shift }),
                _ => None,
            },
            pool: match m.params[i] {
                NodeParams::Pool { requant } => Some(requant),
                _ => None,
            },
        })
        .collect();
    let golden = bundle.golden.as_ref().map(|g| GoldenEntry {
        count: g.count(),
        input: format!("{GOLDEN_DIR}/input.npy"),
        labels: g
            .labels
            .as_ref()
            .map(|_| format!("{GOLDEN_DIR}/labels.npy")),
        layers: m
            .graph
            .nodes
            .iter()
            .map(|n| (n.name.clone(), format!("{GOLDEN_DIR}/{}.npy", n.name)))
            .collect(),
    });
    Ok(Manifest {
        format: FORMAT.into(),
        version: VERSION,
        arithmetic: Arithmetic::for_bits(m.bits),
        model: bundle.info.clone(),
        size,
        input: TensorEntry {
            shape: m.graph.input.dims(),
            kind: ActKind::U8,
            scale: m.input_scale,
        },
        layers,
        accuracy: bundle.accuracy.clone(),
        golden,
    })
}

fn write_weights(path: &Path, m: &QuantModel, info: &[TensorInfo]) -> Result<()> {
    let mut buffers: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = vec![];
    for (i, node) in m.graph.nodes.iter().enumerate() {
        if let NodeParams::Weighted {
            codes,
            bias,
            requant,
        } = &m.params[i]
        {
            let n = &node.name;
            buffers.push((
                format!("{n}.codes"),
                Dtype::U8,
                codes.shape().to_vec(),
                codes.as_standard_layout().iter().copied().collect(),
            ));
            buffers.push((
                format!("{n}.bias"),
                Dtype::I32,
                vec![bias.len()],
                bias.iter().flat_map(|b| b.to_le_bytes()).collect(),
            ));
            if info[i].kind != ActKind::I32 {
                buffers.push((
                    format!("{n}.multiplier"),
                    Dtype::U16,
                    vec![requant.len()],
                    requant
                        .iter()
                        .flat_map(|r| (r.multiplier as u16).to_le_bytes())
                        .collect(),
                ));
                buffers.push((
                    format!("{n}.shift"),
                    Dtype::U8,
                    vec![requant.len()],
                    requant.iter().map(|r| r.shift as u8).collect(),
                ));
            }
        }
    }
    let views: Vec<(String, TensorView)> = buffers
        .iter()
        .map(|(name, dt, shape, data)| {
            (
                name.clone(),
                TensorView::new(*dt, shape.clone(), data).expect("sizes match"),
            )
        })
        .collect();
    let mut meta = std::collections::HashMap::new();
    meta.insert("format".to_string(), FORMAT.to_string());
    meta.insert("weight_bits".to_string(), m.bits.to_string());
    let bytes =
        safetensors::serialize(views, Some(meta)).map_err(|source| Error::WriteSafetensors {
            path: path.to_path_buf(),
            source,
        })?;
    std::fs::write(path, bytes).map_err(|e| Error::io(path, e))
}

fn write_golden(
    dir: &Path,
    g: &Golden,
    m: &QuantModel,
    info: &[TensorInfo],
    entry: &GoldenEntry,
) -> Result<()> {
    let npy_err = |p: &Path, source| Error::WriteNpy {
        path: p.to_path_buf(),
        source,
    };
    let p = dir.join(&entry.input);
    ndarray_npy::write_npy(&p, &g.input).map_err(|e| npy_err(&p, e))?;
    if let (Some(l), Some(f)) = (&g.labels, &entry.labels) {
        let p = dir.join(f);
        ndarray_npy::write_npy(&p, &Array1::from(l.clone())).map_err(|e| npy_err(&p, e))?;
    }
    if g.outputs.len() != m.graph.nodes.len() {
        return Err(Error::invalid(
            "golden.outputs",
            format!("{} tensors", m.graph.nodes.len()),
            g.outputs.len(),
        ));
    }
    for (i, node) in m.graph.nodes.iter().enumerate() {
        let p = dir.join(&entry.layers[&node.name]);
        let out = &g.outputs[i];
        let kind = info[i].kind;
        if let Some(v) = out.iter().find(|&&v| !kind.contains(v as i64)) {
            return Err(Error::invalid(
                format!("golden output of {:?}", node.name),
                format!("values in the {} range", kind.dtype_name()),
                v,
            ));
        }
        let r = match kind {
            ActKind::U8 => ndarray_npy::write_npy(&p, &out.mapv(|v| v as u8)),
            ActKind::I8 => ndarray_npy::write_npy(&p, &out.mapv(|v| v as i8)),
            ActKind::I32 => ndarray_npy::write_npy(&p, out),
        };
        r.map_err(|e| npy_err(&p, e))?;
    }
    Ok(())
}

// ---------------------------------------------------------------- reading

/// Read and fully validate the manifest of the bundle in `dir`.
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let (man, graph, _) = checked_manifest(dir)?;
    checks::size(&man, &graph).map_err(|e| e.in_file(dir.join(MANIFEST)))?;
    Ok(man)
}

/// The manifest, its graph and inferred tensors, every manifest-only check done.
fn checked_manifest(dir: &Path) -> Result<(Manifest, Graph, Vec<TensorInfo>)> {
    let path = dir.join(MANIFEST);
    let (man, raw) = parse_manifest(dir)?;
    checks::layer_count(&man).map_err(|e| e.in_file(&path))?;
    let (graph, info) = manifest_graph(&man, &path)?;
    checks::check(&man, &raw).map_err(|e| e.in_file(&path))?;
    Ok((man, graph, info))
}

/// The manifest parsed (format and version first, then the schema, with the path of a field
/// of the wrong type) and its raw JSON.
fn parse_manifest(dir: &Path) -> Result<(Manifest, serde_json::Value)> {
    let path = dir.join(MANIFEST);
    let bytes = files::read_bytes(dir, MANIFEST, MAX_MANIFEST_BYTES)?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|source| Error::NotJson {
        path: path.clone(),
        source,
    })?;
    if !v.is_object() {
        return Err(Error::invalid(
            "manifest",
            format!("a JSON object (format {FORMAT:?}, version, arithmetic, layers, …)"),
            json_kind(&v),
        )
        .in_file(&path));
    }
    let format = v.get("format").and_then(|f| f.as_str());
    if format != Some(FORMAT) {
        let found = v
            .get("format")
            .map_or("nothing".to_string(), |x| x.to_string());
        return Err(Error::invalid("format", format!("{FORMAT:?}"), found).in_file(&path));
    }
    let version = v.get("version").and_then(|f| f.as_u64());
    if version != Some(VERSION as u64) {
        return Err(Error::invalid(
            "version",
            format!("{VERSION} (this unibit reads bundle format v{VERSION})"),
            v.get("version")
                .map_or("nothing".to_string(), |x| x.to_string()),
        )
        .in_file(&path));
    }
    let man = serde_path_to_error::deserialize(&v)
        .map_err(|e| refine_layer_field(Error::schema(&path, e), &v))?;
    Ok((man, v))
}

/// serde loses the path inside a layer's flattened graph node (`layers[3]`); find the op
/// field of the wrong type (op fields are integers but `batch_norm`) to name it.
fn refine_layer_field(e: Error, v: &serde_json::Value) -> Error {
    let Error::Schema {
        path,
        field,
        source,
    } = e
    else {
        return e;
    };
    let layer = field
        .strip_prefix("layers[")
        .and_then(|r| r.strip_suffix(']'))
        .and_then(|i| i.parse::<usize>().ok())
        .and_then(|i| v["layers"][i].as_object());
    let op_integers = [
        "in_channels",
        "out_channels",
        "kernel",
        "stride",
        "padding",
        "groups",
        "in_features",
        "out_features",
    ];
    let wrong = layer.and_then(|l| {
        l.iter().find(|(k, x)| match k.as_str() {
            "batch_norm" => !x.is_boolean(),
            k if op_integers.contains(&k) => x.as_u64().is_none_or(|n| usize::try_from(n).is_err()),
            _ => false,
        })
    });
    let field = match wrong {
        Some((k, _)) => format!("{field}.{k}"),
        None => field,
    };
    Error::Schema {
        path,
        field,
        source,
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Read a bundle (manifest, weights and, if present, golden vectors) and validate it.
pub fn read(dir: &Path) -> Result<Bundle> {
    read_with(dir, true)
}

/// Read a bundle, optionally skipping the golden vectors.
pub fn read_with(dir: &Path, golden: bool) -> Result<Bundle> {
    Ok(read_parts(dir, golden)?.0)
}

/// The bundle and the manifest it was read from.
fn read_parts(dir: &Path, golden: bool) -> Result<(Bundle, Manifest)> {
    if !dir.is_dir() {
        return Err(Error::path(
            dir,
            "not a bundle directory (no such directory)",
        ));
    }
    let mpath = dir.join(MANIFEST);
    let (man, graph, info) = checked_manifest(dir)?;
    let params = read_weights(dir, &man, &info)?;
    checks::size(&man, &graph).map_err(|e| e.in_file(&mpath))?;
    let scales = man
        .layers
        .iter()
        .map(|l| NodeScales {
            output: l.output.scale,
            weight: l.weight_scale.clone(),
        })
        .collect();
    let model = QuantModel {
        graph,
        bits: man.arithmetic.weight_bits,
        input_scale: man.input.scale,
        params,
        scales,
    };
    model
        .validate()
        .map_err(|e| rename_nodes(e).in_file(&mpath))?;
    let golden = match (&man.golden, golden) {
        (Some(g), true) => Some(read_golden(dir, g, &model, &info)?),
        _ => None,
    };
    let bundle = Bundle {
        model,
        info: man.model.clone(),
        accuracy: man.accuracy.clone(),
        golden,
    };
    Ok((bundle, man))
}

/// Every layer's parameters, with the weights file checked: values in range (reported
/// against the tensor), no tensor the layers do not use, `weight_bits` metadata equal to the
/// manifest's.
fn read_weights(dir: &Path, man: &Manifest, info: &[TensorInfo]) -> Result<Vec<NodeParams>> {
    let mpath = dir.join(MANIFEST);
    let wpath = dir.join(WEIGHTS);
    let bytes = files::read_safetensors(dir, WEIGHTS, tensor_bytes(man, info))?;
    let st_err = |source| Error::ReadSafetensors {
        path: wpath.clone(),
        source,
    };
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(st_err)?;
    let bits = man.arithmetic.weight_bits;
    let params = man
        .layers
        .iter()
        .zip(info)
        .enumerate()
        .map(|(i, (l, t))| layer_params(&st, i, l, t.kind, bits, &wpath, &mpath))
        .collect::<Result<Vec<_>>>()?;
    unknown_tensors(&st, man, info).map_err(|e| e.in_file(&wpath))?;
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).map_err(st_err)?;
    weights_metadata(meta.metadata(), bits).map_err(|e| e.in_file(&wpath))?;
    Ok(params)
}

/// Bytes of tensor data the layers store: codes (1 byte), bias (4) and, unless the output is
/// the raw i32 accumulator, multiplier (2) and shift (1) per output channel.
fn tensor_bytes(man: &Manifest, info: &[TensorInfo]) -> u64 {
    man.layers
        .iter()
        .zip(info)
        .filter_map(|(l, t)| {
            let out = l.node.op.out_channels()? as u64;
            let per_channel = if t.kind == ActKind::I32 { 4 } else { 7 };
            Some(l.node.op.weight_count() as u64 + per_channel * out)
        })
        .sum()
}

/// Names of the tensors layer `l` stores (none for layers without weights).
fn tensor_names(l: &LayerEntry, kind: ActKind) -> Vec<String> {
    if !l.node.op.has_weights() {
        return vec![];
    }
    let n = &l.node.name;
    let mut names = vec![format!("{n}.codes"), format!("{n}.bias")];
    if kind != ActKind::I32 {
        names.extend([format!("{n}.multiplier"), format!("{n}.shift")]);
    }
    names
}

fn unknown_tensors(
    st: &safetensors::SafeTensors,
    man: &Manifest,
    info: &[TensorInfo],
) -> Result<()> {
    let known: std::collections::HashSet<String> = man
        .layers
        .iter()
        .zip(info)
        .flat_map(|(l, t)| tensor_names(l, t.kind))
        .collect();
    let mut names = st.names();
    names.sort();
    match names.into_iter().find(|n| !known.contains(*n)) {
        Some(n) => Err(Error::invalid(
            format!("tensor {n:?}"),
            "only the tensors of the manifest's conv/linear layers",
            "a tensor no layer uses",
        )),
        None => Ok(()),
    }
}

/// The writer records `format` and `weight_bits`; both must match.
fn weights_metadata(
    meta: &Option<std::collections::HashMap<String, String>>,
    bits: Bits,
) -> Result<()> {
    let get = |k: &str| meta.as_ref().and_then(|m| m.get(k));
    let found = get("weight_bits").map_or("nothing".to_string(), |s| format!("{s:?}"));
    if get("weight_bits") != Some(&bits.to_string()) {
        return Err(Error::invalid(
            "metadata.weight_bits",
            format!("\"{bits}\" (arithmetic.weight_bits of {MANIFEST})"),
            found,
        ));
    }
    if let Some(k) = meta
        .iter()
        .flatten()
        .map(|(k, _)| k)
        .find(|k| *k != "format" && *k != "weight_bits")
    {
        return Err(Error::invalid(
            format!("metadata.{k}"),
            "only format and weight_bits",
            "an unknown entry",
        ));
    }
    Ok(())
}

/// The manifest's graph and its inferred tensors, checked against the shapes and kinds the
/// manifest records.
fn manifest_graph(man: &Manifest, mpath: &Path) -> Result<(Graph, Vec<TensorInfo>)> {
    let graph = Graph {
        input: Shape::new(man.input.shape[0], man.input.shape[1], man.input.shape[2]),
        nodes: man.layers.iter().map(|l| l.node.clone()).collect(),
    };
    let info = graph.infer().map_err(|e| rename_nodes(e).in_file(mpath))?;
    if man.input.kind != ActKind::U8 {
        return Err(
            Error::invalid("input.kind", "u8", format!("{:?}", man.input.kind)).in_file(mpath),
        );
    }
    for (i, (l, t)) in man.layers.iter().zip(&info).enumerate() {
        if l.output.shape != t.shape.dims() || l.output.kind != t.kind {
            return Err(Error::invalid(
                format!("layers[{i}] \"{}\".output", l.node.name),
                format!(
                    "shape {:?}, kind {:?} (inferred from the graph)",
                    t.shape.dims(),
                    t.kind
                ),
                format!("shape {:?}, kind {:?}", l.output.shape, l.output.kind),
            )
            .in_file(mpath));
        }
    }
    Ok((graph, info))
}

/// Layer `i`'s parameters: weights from the safetensors file, add/pool parameters from the
/// manifest (each only on the layers that have them).
fn layer_params(
    st: &safetensors::SafeTensors,
    i: usize,
    l: &LayerEntry,
    kind: ActKind,
    bits: Bits,
    wpath: &Path,
    mpath: &Path,
) -> Result<NodeParams> {
    let at = format!("layers[{i}] \"{}\"", l.node.name);
    misplaced_params(l).map_err(|e| e.in_field(&at).in_file(mpath))?;
    match (&l.node.op, &l.add, &l.pool) {
        (op, _, _) if op.has_weights() => weighted_params(st, &l.node, kind, bits, wpath),
        (Op::Add, Some(a), _) => add_params(a).map_err(|e| e.in_field(&at).in_file(mpath)),
        (Op::AvgPool { .. } | Op::GlobalAvgPool, _, Some(r)) => {
            Requant::new(r.multiplier, r.shift)
                .map_err(|e| requant_error("pool", r, e).in_field(&at).in_file(mpath))?;
            Ok(NodeParams::Pool { requant: *r })
        }
        (Op::Add, None, _) => {
            Err(Error::invalid(format!("{at}.add"), "{ma, mb, shift}", "nothing").in_file(mpath))
        }
        (Op::AvgPool { .. } | Op::GlobalAvgPool, _, None) => {
            Err(
                Error::invalid(format!("{at}.pool"), "{multiplier, shift}", "nothing")
                    .in_file(mpath),
            )
        }
        _ => Ok(NodeParams::None),
    }
}

/// `add`, `pool` and `weight_scale` only on the layers they belong to.
fn misplaced_params(l: &LayerEntry) -> Result<()> {
    let op = &l.node.op;
    let kind = op.kind_name();
    if l.add.is_some() && *op != Op::Add {
        return Err(Error::invalid(
            "add",
            format!("nothing on a {kind} layer"),
            "add parameters",
        ));
    }
    if l.pool.is_some() && !matches!(op, Op::AvgPool { .. } | Op::GlobalAvgPool) {
        return Err(Error::invalid(
            "pool",
            format!("nothing on a {kind} layer"),
            "pool parameters",
        ));
    }
    if !l.weight_scale.is_empty() && !op.has_weights() {
        return Err(Error::invalid(
            "weight_scale",
            format!("nothing on a {kind} layer"),
            "scales",
        ));
    }
    Ok(())
}

/// Add parameters, each out-of-range field reported with its own value.
fn add_params(a: &AddParams) -> Result<NodeParams> {
    let max_m = (1u32 << crate::arith::MULTIPLIER_BITS) - 1;
    for (field, v, max) in [
        ("add.ma", a.ma, max_m),
        ("add.mb", a.mb, max_m),
        ("add.shift", a.shift, crate::arith::MAX_SHIFT),
    ] {
        if v > max {
            return Err(Error::invalid(field, format!("0..={max}"), v));
        }
    }
    Ok(NodeParams::Add {
        ma: a.ma,
        mb: a.mb,
        shift: a.shift,
    })
}

/// A requantizer error naming the multiplier or the shift with its own value.
fn requant_error(prefix: &str, r: &Requant, e: String) -> Error {
    if r.shift > crate::arith::MAX_SHIFT {
        Error::invalid(
            format!("{prefix}.shift"),
            format!("0..={}", crate::arith::MAX_SHIFT),
            r.shift,
        )
    } else {
        Error::invalid(format!("{prefix}.multiplier"), e, r.multiplier)
    }
}

/// Codes, bias and (unless the output is the raw i32 accumulator) requantizers of a conv or
/// linear node; values out of range are reported against the tensor that holds them.
fn weighted_params(
    st: &safetensors::SafeTensors,
    node: &Node,
    kind: ActKind,
    bits: Bits,
    wpath: &Path,
) -> Result<NodeParams> {
    let n = &node.name;
    let ws = node.op.weight_shape().expect("weighted op");
    let out = ws[0];
    let in_tensor = |name: &str, e: Error| e.in_field(&format!("tensor {name:?}")).in_file(wpath);
    let cname = format!("{n}.codes");
    let codes = tensor(st, &cname, Dtype::U8, &ws, wpath)?;
    check_values(
        &codes,
        |&c| c <= bits.max_code(),
        || format!("codes ≤ {} (B = {bits})", bits.max_code()),
    )
    .map_err(|e| in_tensor(&cname, e))?;
    let codes = Array4::from_shape_vec(ws, codes).expect("shape checked");
    let bname = format!("{n}.bias");
    let bias: Vec<i32> = tensor(st, &bname, Dtype::I32, &[out], wpath)?
        .chunks_exact(4)
        .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    check_values(
        &bias,
        |b| (*b as i64).abs() < crate::arith::MAX_BIAS_MAGNITUDE,
        || "|bias| < 2^30".into(),
    )
    .map_err(|e| in_tensor(&bname, e))?;
    let requant = if kind == ActKind::I32 {
        vec![]
    } else {
        requantizers(st, n, out, wpath)?
    };
    Ok(NodeParams::Weighted {
        codes,
        bias,
        requant,
    })
}

/// The per-channel multipliers and shifts of node `n`.
fn requantizers(
    st: &safetensors::SafeTensors,
    n: &str,
    out: usize,
    wpath: &Path,
) -> Result<Vec<Requant>> {
    let (mname, sname) = (format!("{n}.multiplier"), format!("{n}.shift"));
    let mult: Vec<u32> = tensor(st, &mname, Dtype::U16, &[out], wpath)?
        .chunks_exact(2)
        .map(|m| u16::from_le_bytes(m.try_into().unwrap()) as u32)
        .collect();
    let shift = tensor(st, &sname, Dtype::U8, &[out], wpath)?;
    let max_m = (1u32 << crate::arith::MULTIPLIER_BITS) - 1;
    check_values(
        &mult,
        |&m| m <= max_m,
        || format!("multipliers 0..={max_m}"),
    )
    .map_err(|e| e.in_field(&format!("tensor {mname:?}")).in_file(wpath))?;
    check_values(
        &shift,
        |&s| s as u32 <= crate::arith::MAX_SHIFT,
        || format!("shifts 0..={}", crate::arith::MAX_SHIFT),
    )
    .map_err(|e| e.in_field(&format!("tensor {sname:?}")).in_file(wpath))?;
    Ok(mult
        .into_iter()
        .zip(shift)
        .map(|(m, s)| Requant {
            multiplier: m,
            shift: s as u32,
        })
        .collect())
}

/// The first value outside `ok`, with its index.
fn check_values<T: std::fmt::Display>(
    v: &[T],
    ok: impl Fn(&T) -> bool,
    expected: impl Fn() -> String,
) -> Result<()> {
    match v.iter().position(|x| !ok(x)) {
        Some(i) => Err(Error::invalid(format!("[{i}]"), expected(), &v[i])),
        None => Ok(()),
    }
}

/// Graph errors say `nodes[i]`; in a manifest the same list is `layers`.
fn rename_nodes(e: Error) -> Error {
    match e {
        Error::Invalid {
            file,
            field,
            expected,
            found,
        } => Error::Invalid {
            file,
            field: field.replacen("nodes[", "layers[", 1),
            expected,
            found,
        },
        e => e,
    }
}

fn tensor(
    st: &safetensors::SafeTensors,
    name: &str,
    dtype: Dtype,
    shape: &[usize],
    file: &Path,
) -> Result<Vec<u8>> {
    let t = st.tensor(name).map_err(|_| {
        Error::invalid(format!("tensor {name:?}"), "present", "missing").in_file(file)
    })?;
    if t.dtype() != dtype || t.shape() != shape {
        return Err(Error::invalid(
            format!("tensor {name:?}"),
            format!("{dtype:?} {shape:?}"),
            format!("{:?} {:?}", t.dtype(), t.shape()),
        )
        .in_file(file));
    }
    Ok(t.data().to_vec())
}

fn read_golden(dir: &Path, g: &GoldenEntry, m: &QuantModel, info: &[TensorInfo]) -> Result<Golden> {
    let mpath = dir.join(MANIFEST);
    let s = m.graph.input;
    let p = files::inside(dir, &g.input, "golden.input", &mpath)?;
    let input: Array4<u8> = files::read_npy(&p, &[g.count, s.c, s.h, s.w])?;
    let labels = match &g.labels {
        Some(f) => {
            let p = files::inside(dir, f, "golden.labels", &mpath)?;
            let l: Array1<u8> = files::read_npy(&p, &[g.count])?;
            Some(l.to_vec())
        }
        None => None,
    };
    let names: std::collections::HashSet<&str> =
        m.graph.nodes.iter().map(|n| n.name.as_str()).collect();
    if let Some(extra) = g.layers.keys().find(|k| !names.contains(k.as_str())) {
        return Err(Error::invalid(
            format!("golden.layers.{extra:?}"),
            "only the names of layers",
            "an entry for no layer",
        )
        .in_file(&mpath));
    }
    let mut outputs = vec![];
    for (i, node) in m.graph.nodes.iter().enumerate() {
        let field = format!("golden.layers.{:?}", node.name);
        let f = g
            .layers
            .get(&node.name)
            .ok_or_else(|| Error::invalid(&field, "a file name", "nothing").in_file(&mpath))?;
        let p = files::inside(dir, f, &field, &mpath)?;
        let t = info[i].shape;
        let want = [g.count, t.c, t.h, t.w];
        let out: Array4<i32> = match info[i].kind {
            ActKind::U8 => files::read_npy::<u8, ndarray::Ix4>(&p, &want)?.mapv(|v| v as i32),
            ActKind::I8 => files::read_npy::<i8, ndarray::Ix4>(&p, &want)?.mapv(|v| v as i32),
            ActKind::I32 => files::read_npy::<i32, ndarray::Ix4>(&p, &want)?,
        };
        outputs.push(out);
    }
    Ok(Golden {
        input,
        labels,
        outputs,
    })
}

/// The bundle's directory paths, for tools that print them.
pub fn golden_path(dir: &Path, node: &str) -> PathBuf {
    dir.join(GOLDEN_DIR).join(format!("{node}.npy"))
}
