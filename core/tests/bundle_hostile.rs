//! Hostile and careless bundles (issue 14): every one is refused with an error that names the
//! file and field, never a panic, an abort, a hang or a huge allocation.

use proptest::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use unibit_core::bundle::{self, Accuracy, Bundle, Golden, ModelInfo};
use unibit_core::graph::{Graph, Node, Op, Shape, INPUT};
use unibit_core::synthetic::{synthetic_from_graph, synthetic_images};
use unibit_core::Bits;

// ------------------------------------------------------------ allocation bound

/// Records the largest single allocation of the current thread.
struct Peak;
thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}
unsafe impl GlobalAlloc for Peak {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let _ = LARGEST.try_with(|m| m.set(m.get().max(l.size())));
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        let _ = LARGEST.try_with(|m| m.set(m.get().max(n)));
        unsafe { System.realloc(p, l, n) }
    }
}
#[global_allocator]
static ALLOC: Peak = Peak;

/// Largest single allocation reading a bundle of a few KiB may make.
const ALLOCATION_BOUND: usize = 4 << 20;

/// Read `dir`, checking time and the largest allocation; the error message if refused.
fn bounded_read(dir: &Path) -> Result<Bundle, String> {
    LARGEST.with(|m| m.set(0));
    let t = std::time::Instant::now();
    let r = bundle::read(dir);
    let peak = LARGEST.with(|m| m.get());
    assert!(
        peak <= ALLOCATION_BOUND,
        "reading allocated {peak} bytes at once"
    );
    assert!(
        t.elapsed().as_secs_f64() < 5.0,
        "reading took {:?}",
        t.elapsed()
    );
    r.map_err(|e| e.to_string())
}

// ------------------------------------------------------------ a small bundle

fn node(name: &str, op: Op, inputs: &[&str], relu: bool) -> Node {
    Node {
        name: name.into(),
        op,
        inputs: inputs.iter().map(|s| s.to_string()).collect(),
        relu,
    }
}

fn conv(cin: usize, cout: usize, groups: usize) -> Op {
    Op::Conv2d {
        in_channels: cin,
        out_channels: cout,
        kernel: 3,
        stride: 1,
        padding: 1,
        groups,
        batch_norm: false,
    }
}

/// Every kind of layer on a 1×8×8 input: conv, grouped conv, add, avg and max pool, flatten,
/// linear.
fn tiny_graph() -> Graph {
    Graph {
        input: Shape::new(1, 8, 8),
        nodes: vec![
            node("c1", conv(1, 4, 1), &[INPUT], true),
            node("c2", conv(4, 4, 2), &["c1"], false),
            node("sum", Op::Add, &["c1", "c2"], true),
            node(
                "ap",
                Op::AvgPool {
                    kernel: 2,
                    stride: 2,
                },
                &["sum"],
                false,
            ),
            node(
                "mp",
                Op::MaxPool {
                    kernel: 2,
                    stride: 2,
                },
                &["ap"],
                false,
            ),
            node("fl", Op::Flatten, &["mp"], false),
            node(
                "fc",
                Op::Linear {
                    in_features: 16,
                    out_features: 10,
                },
                &["fl"],
                false,
            ),
        ],
    }
}

fn tiny_bundle() -> Bundle {
    let g = tiny_graph();
    let calib = synthetic_images(4, g.input, 1);
    let model = synthetic_from_graph(g, Bits::new(2).unwrap(), 1, calib.view()).unwrap();
    let imgs = synthetic_images(2, model.graph.input, 2);
    let golden = Golden::compute(&model, imgs.view(), Some(vec![1, 2])).unwrap();
    Bundle {
        model,
        info: ModelInfo {
            source: "synthetic".into(),
            width: Some(1.0),
            ..Default::default()
        },
        accuracy: Accuracy::default(),
        golden: Some(golden),
    }
}

fn written(tmp: &Path, name: &str) -> PathBuf {
    let d = tmp.join(name);
    bundle::write(&d, &tiny_bundle()).unwrap();
    d
}

fn edit_manifest(dir: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let p = dir.join("manifest.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(&p, serde_json::to_string(&v).unwrap()).unwrap();
}

fn refused(dir: &Path, needles: &[&str]) -> String {
    let msg = match bounded_read(dir) {
        Ok(_) => panic!("accepted; wanted an error mentioning {needles:?}"),
        Err(m) => m,
    };
    for n in needles {
        assert!(msg.contains(n), "error {msg:?} does not mention {n:?}");
    }
    msg
}

fn layer_index(v: &serde_json::Value, name: &str) -> usize {
    v["layers"]
        .as_array()
        .unwrap()
        .iter()
        .position(|l| l["name"] == name)
        .unwrap()
}

/// Rewrite weights.safetensors with `f` applied to (name, dtype, shape, bytes) of every tensor.
fn edit_weights(
    dir: &Path,
    f: impl Fn(&str, &mut Vec<u8>),
    extra: Option<(&str, Vec<u8>)>,
    meta_bits: &str,
) {
    use safetensors::tensor::{Dtype, TensorView};
    let p = dir.join("weights.safetensors");
    let bytes = std::fs::read(&p).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(n, t)| {
            let mut d = t.data().to_vec();
            f(&n, &mut d);
            (n, t.dtype(), t.shape().to_vec(), d)
        })
        .collect();
    if let Some((n, d)) = extra {
        tensors.push((n.into(), Dtype::U8, vec![d.len()], d));
    }
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(n, dt, s, d)| (n.clone(), TensorView::new(*dt, s.clone(), d).unwrap()))
        .collect();
    let meta = [
        ("format".to_string(), "unibit-bundle".to_string()),
        ("weight_bits".to_string(), meta_bits.to_string()),
    ]
    .into_iter()
    .collect();
    std::fs::write(&p, safetensors::serialize(views, Some(meta)).unwrap()).unwrap();
}

#[test]
fn the_tiny_bundle_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let d = written(tmp.path(), "b");
    assert_eq!(bounded_read(&d).unwrap(), tiny_bundle());
}

// ------------------------------------------------------------ class 3: the manifest means what the tools compute

#[test]
fn arithmetic_the_tools_do_not_implement_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: [(&str, serde_json::Value, &str); 5] = [
        ("rounding", "half_even".into(), "\"half_up\""),
        ("max_shift", 99.into(), "47"),
        ("multiplier_bits", 16.into(), "15"),
        ("accumulator_bits", 64.into(), "32"),
        ("activation_bits", 4.into(), "8"),
    ];
    for (field, value, want) in cases {
        let d = written(tmp.path(), field);
        edit_manifest(&d, |v| v["arithmetic"][field] = value);
        let f = format!("arithmetic.{field}: expected {want}");
        refused(&d, &["manifest.json", &f]);
    }
}

#[test]
fn weight_bits_must_match_the_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let d = written(tmp.path(), "bits");
    edit_manifest(&d, |v| v["arithmetic"]["weight_bits"] = 3.into());
    refused(
        &d,
        &["weights.safetensors", "metadata.weight_bits", "\"3\""],
    );
}

/// A manifest edit.
type Edit = Box<dyn FnOnce(&mut serde_json::Value)>;

#[test]
fn recomputable_fields_and_reals_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let edits: Vec<(&str, Edit, &str)> = vec![
        (
            "total",
            Box::new(|v| v["size"]["total_bits"] = 12345.into()),
            "size.total_bits",
        ),
        (
            "wbits",
            Box::new(|v| v["size"]["weight_bits"] = 1.into()),
            "size.weight_bits",
        ),
        (
            "layer",
            Box::new(|v| v["size"]["layers"][0]["weights"] = 1.into()),
            "size.layers[0]",
        ),
        (
            "acc",
            Box::new(|v| v["accuracy"]["integer"] = 1.5.into()),
            "accuracy.integer",
        ),
        (
            "scale",
            Box::new(|v| v["input"]["scale"] = (-1.0).into()),
            "input.scale",
        ),
        (
            "oscale",
            Box::new(|v| v["layers"][0]["output"]["scale"] = 0.0.into()),
            "output.scale",
        ),
        (
            "width",
            Box::new(|v| v["model"]["width"] = 0.0.into()),
            "model.width",
        ),
    ];
    for (name, edit, needle) in edits {
        let d = written(tmp.path(), name);
        edit_manifest(&d, edit);
        refused(&d, &["manifest.json", needle]);
    }
}

#[test]
fn unknown_fields_tensors_and_golden_entries_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let d = written(tmp.path(), "top");
    edit_manifest(&d, |v| v["colour"] = "red".into());
    refused(&d, &["manifest.json", "colour"]);

    let d = written(tmp.path(), "layer");
    edit_manifest(&d, |v| v["layers"][0]["dilation"] = 2.into());
    refused(&d, &["layers[0].dilation"]);

    let d = written(tmp.path(), "misplaced");
    edit_manifest(&d, |v| {
        let i = layer_index(v, "mp");
        v["layers"][i]["pool"] = serde_json::json!({"multiplier": 1, "shift": 0});
    });
    refused(&d, &["\"mp\".pool"]);

    let d = written(tmp.path(), "tensor");
    // An empty extra tensor (a longer one fails the length check first).
    edit_weights(&d, |_, _| {}, Some(("ghost.codes", vec![])), "2");
    refused(&d, &["weights.safetensors", "ghost.codes"]);
    let d = written(tmp.path(), "longer");
    edit_weights(&d, |_, _| {}, Some(("ghost.codes", vec![1, 2])), "2");
    refused(&d, &["weights.safetensors", "layers need"]);

    let d = written(tmp.path(), "golden");
    edit_manifest(&d, |v| {
        v["golden"]["layers"]["ghost"] = "golden/fc.npy".into()
    });
    refused(&d, &["golden.layers.\"ghost\""]);
}

#[test]
fn relu_on_a_signed_max_pool_or_flatten_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let d = written(tmp.path(), "relu");
    edit_manifest(&d, |v| {
        // c2 is i8; point the flatten at it and ask for relu.
        let i = layer_index(v, "fl");
        v["layers"][i]["relu"] = true.into();
        v["layers"][i]["inputs"] = serde_json::json!(["c2"]);
    });
    refused(&d, &["\"fl\".relu", "not supported"]);
}

// ------------------------------------------------------------ class 4: untrusted sizes

/// An `.npy` header claiming `shape` (u8) in front of `data` bytes.
fn npy_with_shape(shape: &str, data: usize) -> Vec<u8> {
    let mut dict = format!("{{'descr': '|u1', 'fortran_order': False, 'shape': {shape}, }}");
    while (dict.len() + 11) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend((dict.len() as u16).to_le_bytes());
    b.extend(dict.as_bytes());
    b.extend(vec![0u8; data]);
    b
}

#[test]
fn npy_headers_promising_more_than_the_file_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, shape) in [
        "(1000000000000, 1, 8, 8)",
        "(0, 18446744073709551615, 8, 8)",
        "(0, 4611686018427387904, 4611686018427387904, 8)",
        "(2, 1, 8, 8)",
    ]
    .into_iter()
    .enumerate()
    {
        let d = written(tmp.path(), &format!("npy{i}"));
        edit_manifest(&d, |v| v["golden"]["count"] = 1000000000000u64.into());
        std::fs::write(d.join("golden/input.npy"), npy_with_shape(shape, 100)).unwrap();
        refused(&d, &["input.npy"]);
    }
    // The right shape but a short file.
    let d = written(tmp.path(), "short");
    std::fs::write(
        d.join("golden/input.npy"),
        npy_with_shape("(2, 1, 8, 8)", 100),
    )
    .unwrap();
    refused(&d, &["input.npy", "header promises"]);
}

#[test]
fn huge_manifest_shapes_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let d = written(tmp.path(), "input");
    edit_manifest(&d, |v| {
        v["input"]["shape"] = serde_json::json!([1, 1u64 << 40, 1u64 << 40])
    });
    refused(&d, &["input"]);
    let d = written(tmp.path(), "channels");
    edit_manifest(&d, |v| v["layers"][0]["out_channels"] = (1u64 << 40).into());
    refused(&d, &["layers[0]"]);
    let d = written(tmp.path(), "kernel");
    edit_manifest(&d, |v| {
        v["layers"][0]["kernel"] = (1u64 << 62).into();
        v["layers"][0]["padding"] = ((1u64 << 62) - 1).into();
    });
    refused(&d, &["layers[0]"]);
}

#[test]
fn layer_count_is_bounded_and_inference_is_linear() {
    // 50,000 flatten nodes: inference must be fast (it was quadratic).
    let mut nodes = vec![node("f0", Op::Flatten, &[INPUT], false)];
    for i in 1..50_000 {
        let prev = format!("f{}", i - 1);
        nodes.push(node(&format!("f{i}"), Op::Flatten, &[&prev], false));
    }
    let g = Graph {
        input: Shape::new(1, 8, 8),
        nodes,
    };
    let t = std::time::Instant::now();
    assert_eq!(g.infer().unwrap().len(), 50_000);
    assert!(t.elapsed().as_secs_f64() < 2.0, "{:?}", t.elapsed());
    // So must running it (the reference looked every input up by name).
    let m = unibit_core::QuantModel {
        params: vec![unibit_core::NodeParams::None; 50_000],
        scales: vec![Default::default(); 50_000],
        graph: g,
        bits: Bits::new(2).unwrap(),
        input_scale: 1.0,
    };
    let t = std::time::Instant::now();
    let imgs = synthetic_images(1, m.graph.input, 3);
    let out =
        unibit_core::reference::run(&m, imgs.view(), unibit_core::reference::Keep::Output).unwrap();
    assert_eq!(out.last().unwrap().as_ref().unwrap().len(), 64);
    assert!(t.elapsed().as_secs_f64() < 4.0, "{:?}", t.elapsed());

    let tmp = tempfile::tempdir().unwrap();
    let d = written(tmp.path(), "many");
    edit_manifest(&d, |v| {
        let l = v["layers"][5].clone();
        v["layers"] = serde_json::Value::Array(vec![l; bundle::MAX_LAYERS + 1]);
    });
    // A manifest of 100,001 layers is tens of MB: read without the small-bundle allocation bound.
    let msg = bundle::read(&d).unwrap_err().to_string();
    assert!(msg.contains("layers: expected at most"), "{msg}");
}

#[test]
fn family_depth_is_bounded() {
    let e = "resnet6000002"
        .parse::<unibit_core::Family>()
        .unwrap_err()
        .to_string();
    assert!(e.contains("8..=1202"), "{e}");
    assert!("resnet1202".parse::<unibit_core::Family>().is_ok());
}

#[test]
fn paths_stay_inside_the_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = written(tmp.path(), "outside");
    for (i, p) in [
        "/etc/passwd",
        "../outside/golden/input.npy",
        "golden/../../x.npy",
        "",
    ]
    .into_iter()
    .enumerate()
    {
        let d = written(tmp.path(), &format!("p{i}"));
        edit_manifest(&d, |v| v["golden"]["input"] = p.into());
        refused(&d, &["golden.input", "inside the bundle"]);
    }
    let d = written(tmp.path(), "link");
    std::fs::remove_file(d.join("golden/input.npy")).unwrap();
    std::os::unix::fs::symlink(outside.join("golden/input.npy"), d.join("golden/input.npy"))
        .unwrap();
    refused(&d, &["golden.input", "symlinks"]);

    let d = written(tmp.path(), "weights-link");
    std::fs::remove_file(d.join("weights.safetensors")).unwrap();
    std::os::unix::fs::symlink(
        outside.join("weights.safetensors"),
        d.join("weights.safetensors"),
    )
    .unwrap();
    refused(&d, &["weights.safetensors", "symlinks"]);
}

#[test]
fn only_regular_files_are_read() {
    let tmp = tempfile::tempdir().unwrap();
    let d = written(tmp.path(), "dir");
    std::fs::remove_file(d.join("golden/fc.npy")).unwrap();
    std::fs::create_dir(d.join("golden/fc.npy")).unwrap();
    refused(&d, &["fc.npy", "not a regular file"]);

    let d = written(tmp.path(), "fifo");
    std::fs::remove_file(d.join("golden/fc.npy")).unwrap();
    let ok = std::process::Command::new("mkfifo")
        .arg(d.join("golden/fc.npy"))
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        refused(&d, &["fc.npy", "not a regular file"]);
    }
}

// ------------------------------------------------------------ class 7: errors name the right place

#[test]
fn out_of_range_weights_are_reported_against_the_weights_file() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: [(&str, &str); 4] = [
        ("c1.codes", "c1.codes"),
        ("c1.bias", "c1.bias"),
        ("c1.multiplier", "c1.multiplier"),
        ("c1.shift", "c1.shift"),
    ];
    for (tensor, needle) in cases {
        let d = written(tmp.path(), tensor);
        edit_weights(
            &d,
            |n, data| {
                if n == tensor {
                    // 0xff…: code 255, bias −1 is in range so set the top bits, multiplier 65535, shift 255.
                    let k = data.len().min(4);
                    data[..k].fill(0xff);
                    if n.ends_with(".bias") {
                        data[..4].copy_from_slice(&(1i32 << 30).to_le_bytes());
                    }
                }
            },
            None,
            "2",
        );
        let msg = refused(&d, &["weights.safetensors", needle]);
        assert!(!msg.contains("manifest.json"), "{msg}");
    }
}

#[test]
fn schema_errors_give_the_field_path() {
    let tmp = tempfile::tempdir().unwrap();
    let d = written(tmp.path(), "ma");
    let mut at = 0;
    edit_manifest(&d, |v| {
        at = layer_index(v, "sum");
        v["layers"][at]["add"]["ma"] = (-5).into();
    });
    refused(&d, &[&format!("layers[{at}].add.ma"), "-5"]);

    // A field of the flattened graph node.
    let d = written(tmp.path(), "stride");
    edit_manifest(&d, |v| v["layers"][0]["stride"] = (-5).into());
    refused(&d, &["manifest.json", "layers[0].stride", "-5"]);

    let d = written(tmp.path(), "shift");
    edit_manifest(&d, |v| v["layers"][at]["add"]["shift"] = 200.into());
    let msg = refused(&d, &["add.shift", "found 200"]);
    assert!(!msg.contains(".ma"), "{msg}");

    let d = written(tmp.path(), "null");
    std::fs::write(d.join("manifest.json"), "null").unwrap();
    let msg = refused(&d, &["manifest.json", "JSON object", "found null"]);
    assert!(!msg.contains("found \"\""), "{msg}");
}

// ------------------------------------------------------------ mutations

/// Every path (object keys and array indices) in `v`.
fn paths(v: &serde_json::Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                at.push(k.clone());
                out.push(at.clone());
                paths(x, at, out);
                at.pop();
            }
        }
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                at.push(i.to_string());
                out.push(at.clone());
                paths(x, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn hostile_value(i: usize) -> serde_json::Value {
    use serde_json::json;
    let vals = [
        json!(null),
        json!(-1),
        json!(0),
        json!(1),
        json!(99),
        json!(200),
        json!(65536),
        json!(1u64 << 40),
        json!(u64::MAX),
        json!(1e300),
        json!(-0.5),
        json!(""),
        json!("x"),
        json!("../../etc/passwd"),
        json!([]),
        json!([1u64 << 40, 1u64 << 40, 1u64 << 40]),
        json!({}),
        json!(true),
    ];
    vals[i % vals.len()].clone()
}

/// Replace (or with `delete`, remove) the value at `path`.
fn mutate_at(v: &mut serde_json::Value, path: &[String], new: serde_json::Value, delete: bool) {
    let (last, parent) = path.split_last().unwrap();
    let mut p = v;
    for k in parent {
        p = match p {
            serde_json::Value::Array(a) => &mut a[k.parse::<usize>().unwrap()],
            o => &mut o[k.as_str()],
        };
    }
    match p {
        serde_json::Value::Object(m) if delete => {
            m.remove(last);
        }
        serde_json::Value::Array(a) if delete => {
            a.remove(last.parse::<usize>().unwrap());
        }
        serde_json::Value::Array(a) => a[last.parse::<usize>().unwrap()] = new,
        o => o[last.as_str()] = new,
    }
}

/// A mutation of one of the bundle's files.
#[derive(Clone, Debug)]
enum Mutation {
    Json {
        path: prop::sample::Index,
        value: usize,
        delete: bool,
    },
    Bytes {
        file: usize,
        pos: prop::sample::Index,
        byte: u8,
        truncate: bool,
    },
    SafetensorsHeader {
        len: u64,
    },
    NpyShape {
        file: usize,
        shape: String,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let shape = prop_oneof![
        Just("()".to_string()),
        Just("(0, 18446744073709551615)".to_string()),
        (0u64..u64::MAX, 0u64..1000).prop_map(|(a, b)| format!("({a}, 1, {b}, 8)")),
        (0u64..100, 0u64..100, 0u64..100, 0u64..100)
            .prop_map(|(a, b, c, d)| format!("({a}, {b}, {c}, {d})")),
    ];
    prop_oneof![
        4 => (any::<prop::sample::Index>(), 0usize..100, any::<bool>())
            .prop_map(|(path, value, delete)| Mutation::Json { path, value, delete }),
        3 => (0usize..4, any::<prop::sample::Index>(), any::<u8>(), any::<bool>())
            .prop_map(|(file, pos, byte, truncate)| Mutation::Bytes { file, pos, byte, truncate }),
        1 => prop_oneof![Just(0u64), Just(u64::MAX), 0u64..100_000, Just(100_000_000u64)]
            .prop_map(|len| Mutation::SafetensorsHeader { len }),
        2 => (0usize..3, shape).prop_map(|(file, shape)| Mutation::NpyShape { file, shape }),
    ]
}

const FILES: [&str; 4] = [
    "manifest.json",
    "weights.safetensors",
    "golden/input.npy",
    "golden/fc.npy",
];

fn apply(d: &Path, m: &Mutation) {
    match m {
        Mutation::Json {
            path,
            value,
            delete,
        } => {
            let f = d.join("manifest.json");
            let Ok(mut v) =
                serde_json::from_slice::<serde_json::Value>(&std::fs::read(&f).unwrap())
            else {
                return;
            };
            let mut all = vec![];
            paths(&v, &mut vec![], &mut all);
            if all.is_empty() {
                return;
            }
            let p = all[path.index(all.len())].clone();
            mutate_at(&mut v, &p, hostile_value(*value), *delete);
            std::fs::write(&f, serde_json::to_string(&v).unwrap()).unwrap();
        }
        Mutation::Bytes {
            file,
            pos,
            byte,
            truncate,
        } => {
            let f = d.join(FILES[*file]);
            let mut bytes = std::fs::read(&f).unwrap();
            if bytes.is_empty() {
                return;
            }
            let i = pos.index(bytes.len());
            if *truncate {
                bytes.truncate(i)
            } else {
                bytes[i] ^= byte | 1
            }
            std::fs::write(&f, bytes).unwrap();
        }
        Mutation::SafetensorsHeader { len } => {
            let f = d.join("weights.safetensors");
            let mut bytes = std::fs::read(&f).unwrap();
            if bytes.len() < 8 {
                return;
            }
            bytes[..8].copy_from_slice(&len.to_le_bytes());
            std::fs::write(&f, bytes).unwrap();
        }
        Mutation::NpyShape { file, shape } => {
            let name = ["golden/input.npy", "golden/labels.npy", "golden/c1.npy"][*file];
            std::fs::write(d.join(name), npy_with_shape(shape, 64)).unwrap();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, failure_persistence: None, ..ProptestConfig::default() })]
    /// Random mutations of manifest JSON (values, types, deletions), safetensors headers and
    /// bytes, npy headers and bytes: reading gives an error or a bundle that validates, within
    /// the time and allocation bounds of `bounded_read`.
    #[test]
    fn hostile_mutations_never_panic_abort_or_blow_up(ms in prop::collection::vec(mutation(), 1..4)) {
        let tmp = tempfile::tempdir().unwrap();
        let d = written(tmp.path(), "b");
        for m in &ms {
            apply(&d, m);
        }
        if let Ok(b) = bounded_read(&d) {
            prop_assert!(b.model.validate().is_ok());
        }
    }
}
