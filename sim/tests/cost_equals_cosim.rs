//! `unibit cost` (unibit-core's cost model, no hardware crate) predicts exactly the cycles the
//! RTL counts in cosimulation, for every supported R×C: whole-model totals and every layer.
//! Small bundles on the rust-hdl simulation of the real engine; the bundles are sized so that
//! vectors are split by the activation and output memories on the small arrays.

use ndarray::s;
use unibit_core::bundle::{self, Accuracy, Bundle, Golden, ModelInfo};
use unibit_core::cost::{bundle_cost, TILE_ENGINES};
use unibit_core::graph::{Graph, Node, Op, Shape, INPUT};
use unibit_core::synthetic::{synthetic_from_graph, synthetic_images};
use unibit_core::{Bits, Family, FamilyConfig, Silent};
use unibit_sim::cosim::{run_bundle, CosimOptions, SimKind};

/// A small network with every kind of engine layer: a dense 3×3 conv, a depthwise 3×3 conv
/// (stride 2), a grouped 1×1 conv (2 groups), a residual add, a max pool and a linear layer.
fn mixed_graph(side: usize) -> Graph {
    let conv = |name: &str, input: &str, cin, cout, kernel, stride, groups| Node {
        name: name.into(),
        op: Op::Conv2d {
            in_channels: cin,
            out_channels: cout,
            kernel,
            stride,
            padding: kernel / 2,
            groups,
            batch_norm: true,
        },
        inputs: vec![input.into()],
        relu: true,
    };
    let node = |name: &str, op, inputs: &[&str], relu| Node {
        name: name.into(),
        op,
        inputs: inputs.iter().map(|s| s.to_string()).collect(),
        relu,
    };
    Graph {
        input: Shape::new(1, side, side),
        nodes: vec![
            conv("stem", INPUT, 1, 12, 3, 1, 1),
            conv("dw", "stem", 12, 12, 3, 2, 12),
            conv("group", "dw", 12, 12, 1, 1, 2),
            node("add", Op::Add, &["dw", "group"], true),
            node(
                "pool",
                Op::MaxPool {
                    kernel: 2,
                    stride: 2,
                },
                &["add"],
                false,
            ),
            node("flat", Op::Flatten, &["pool"], false),
            node(
                "fc",
                Op::Linear {
                    in_features: 12 * (side / 4) * (side / 4),
                    out_features: 10,
                },
                &["flat"],
                false,
            ),
        ],
    }
}

/// A bundle of `graph` at bitwidth `bits` with random codes and one golden image.
fn write_bundle(dir: &std::path::Path, graph: Graph, bits: u8) {
    let imgs = synthetic_images(4, graph.input, 5);
    let model = synthetic_from_graph(graph, Bits::new(bits).unwrap(), 9, imgs.view()).unwrap();
    let golden = Golden::compute(&model, imgs.slice(s![..1, .., .., ..]), None).unwrap();
    let b = Bundle {
        model,
        info: ModelInfo {
            family: None,
            width: None,
            channel_multiple: None,
            source: "synthetic".into(),
            details: None,
        },
        accuracy: Accuracy::default(),
        golden: Some(golden),
    };
    bundle::write(dir, &b).unwrap();
}

/// `unibit cost`'s figures against a cosimulation of the RTL on every supported array.
fn check(name: &str, graph: Graph, bits: u8) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(name);
    write_bundle(&dir, graph, bits);
    let mut splits = 0;
    for e in TILE_ENGINES {
        let what = format!("{name} B={bits} on {}x{}", e.rows, e.cols);
        let cost = bundle_cost(&dir, e.rows, e.cols).unwrap();
        let o = CosimOptions {
            rows: e.rows,
            cols: e.cols,
            sim: SimKind::Rusthdl,
            images: Some(1),
            vcd: None,
        };
        let r = run_bundle(&dir, &o, &Silent).unwrap();
        assert!(r.bit_exact, "{what}: {:?}", r.mismatch);
        assert_eq!(cost.cycles, r.cycles_per_image, "{what}: total cycles");
        let engine: Vec<_> = r.layers.iter().filter(|l| l.on_engine).collect();
        assert_eq!(engine.len(), cost.layers.len(), "{what}: layers");
        for (c, l) in cost.layers.iter().zip(&engine) {
            assert_eq!(c.name, l.name, "{what}");
            assert_eq!(c.cycles, l.cycles, "{what}: layer {}", c.name);
            assert_eq!(c.tiles, l.tiles, "{what}: tiles of layer {}", c.name);
        }
        splits += cost
            .layers
            .iter()
            .filter(|l| l.tiles > l.groups * l.m.div_ceil(e.rows))
            .count();
    }
    // The memories' vector splits (each tile paying the overhead again) were exercised.
    assert!(splits > 0, "{name}: no layer was split by memory capacity");
}

/// Residual adds; 3×3 convs over 8×8 maps (N = 64).
#[test]
fn cost_equals_cosim_for_a_resnet_on_every_supported_array() {
    let cfg = FamilyConfig {
        input: Shape::new(1, 8, 8),
        ..FamilyConfig::fashion_mnist(Family::ResNet { depth: 8 }, 0.25)
    };
    check("resnet8", cfg.build().unwrap(), 2);
}

/// Depthwise, grouped, stride 2, max pool, on 12×12 inputs.
#[test]
fn cost_equals_cosim_for_depthwise_and_grouped_layers_on_every_supported_array() {
    check("mixed", mixed_graph(12), 3);
}
