//! Whole images on the whole-network engine (`unibit cosim --engine net`): a residual network
//! (ResNet-8) and a depthwise one (MobileNetV2) at B ∈ {1, 2, 4, 8} under Verilator, every
//! layer read back after a `stop_after` and bit-exact with the golden vectors and the machine,
//! every stop's cycle counter equal to `engine::cycles`; a tiny network on the rust-hdl
//! circuit; a flipped weight bit found in its layer; the refusals.

use ndarray::s;
use unibit_core::bundle::Golden;
use unibit_core::engine::Error as EngineError;
use unibit_core::graph::{Graph, Node, Op, Shape, INPUT};
use unibit_core::synthetic::{synthetic_from_graph, synthetic_images, synthetic_model};
use unibit_core::{Bits, FamilyConfig, QuantModel, Silent};
use unibit_sim::net::{compile_for, cosim_net, BitFlip, NetCosimReport, NetOptions};
use unibit_sim::net_sim::{NetRustHdl, NetSim, NetVerilator};
use unibit_sim::Error;

/// A small network of `family` (width 0.25, channel multiple 4) on 1×`side`×`side` inputs.
fn family(name: &str, bits: u8, side: usize, seed: u64) -> (QuantModel, Golden) {
    let cfg = FamilyConfig {
        input: Shape::new(1, side, side),
        channel_multiple: 4,
        ..FamilyConfig::fashion_mnist(name.parse().unwrap(), 0.25)
    };
    let calib = synthetic_images(8, cfg.input, seed);
    let m = synthetic_model(&cfg, Bits::new(bits).unwrap(), seed, calib.view()).unwrap();
    let imgs = synthetic_images(2, cfg.input, seed + 1);
    let g = Golden::compute(&m, imgs.view(), None).unwrap();
    (m, g)
}

fn have_verilator() -> bool {
    let ok = unibit_hw::verilog::have_tool("verilator")
        && std::path::Path::new(unibit_hw::rtl::net::board_top::ICE40_CELLS_SIM).exists();
    if !ok {
        eprintln!(
            "\n!!!!!!!! SKIPPING: verilator or yosys's cells_sim.v missing; NOT checked !!!!!!!!\n"
        );
    }
    ok
}

/// Bit-exact at every layer, every stop's counter and the total equal to `engine::cycles`.
fn assert_exact(r: &NetCosimReport, what: &str) {
    assert!(
        r.bit_exact,
        "{what}: {}",
        r.mismatch.as_deref().unwrap_or("")
    );
    assert_eq!(
        r.cycles_per_image,
        Some(r.predicted_per_image),
        "{what}: engine counter vs engine::cycles"
    );
    assert!(r.layers.len() > 3, "{what}");
    for l in &r.layers {
        assert_eq!(l.matches, Some(true), "{what}: layer {} read back", l.name);
        if let Some(c) = l.engine_end {
            assert_eq!(c, l.first_cycle + l.cycles, "{what}: {} counter", l.name);
        }
    }
    let stops = r.layers.iter().filter(|l| l.engine_end.is_some()).count();
    assert_eq!(
        stops + 1,
        r.runs_per_image,
        "{what}: stops + the run to End"
    );
    assert!(r.logits.iter().any(|&v| v != 0), "{what}: {:?}", r.logits);
}

fn run(sim: &mut dyn NetSim, m: &QuantModel, g: &Golden, o: &NetOptions) -> NetCosimReport {
    cosim_net(m, g, g.count(), sim, o, &Silent).unwrap()
}

#[test]
fn verilator_runs_resnet8_and_mobilenetv2_bit_exact_at_every_bitwidth() {
    if !have_verilator() {
        return;
    }
    for bits in [1u8, 2, 4, 8] {
        let mut sim = NetVerilator::start(bits, false, &Silent).unwrap();
        for (name, side) in [("resnet8", 12), ("mobilenetv2", 12)] {
            let (m, g) = family(name, bits, side, 3 + bits as u64);
            let r = run(&mut sim, &m, &g, &NetOptions::default());
            let what = format!("{name} B={bits}");
            assert_exact(&r, &what);
            assert_eq!(r.images, 2);
            // Logits equal the golden last layer of image 0.
            let want: Vec<i32> = g
                .outputs
                .last()
                .unwrap()
                .slice(s![0, .., .., ..])
                .iter()
                .copied()
                .collect();
            assert_eq!(r.logits, want, "{what}");
            eprintln!(
                "{what}: {} cycles/image, {} runs/image, {:.2} s, {:.2} M cycles/s",
                r.predicted_per_image,
                r.runs_per_image,
                r.seconds,
                r.sim_cycles_per_second.unwrap_or(0.0) / 1e6
            );
        }
    }
}

fn node(name: &str, op: Op, inputs: &[&str], relu: bool) -> Node {
    Node {
        name: name.into(),
        op,
        inputs: inputs.iter().map(|s| s.to_string()).collect(),
        relu,
    }
}

fn conv(cin: usize, cout: usize, k: usize, stride: usize, groups: usize) -> Op {
    Op::Conv2d {
        in_channels: cin,
        out_channels: cout,
        kernel: k,
        stride,
        padding: k / 2,
        groups,
        batch_norm: false,
    }
}

/// Stem, a depthwise conv, a residual add, global pool and a linear layer on 1×6×6.
fn tiny(bits: u8) -> (QuantModel, Golden) {
    let graph = Graph {
        input: Shape::new(1, 6, 6),
        nodes: vec![
            node("stem", conv(1, 8, 3, 1, 1), &[INPUT], true),
            node("dw", conv(8, 8, 3, 1, 8), &["stem"], false),
            node("res", Op::Add, &["dw", "stem"], true),
            node("gap", Op::GlobalAvgPool, &["res"], false),
            node(
                "fc",
                Op::Linear {
                    in_features: 8,
                    out_features: 10,
                },
                &["gap"],
                false,
            ),
        ],
    };
    let calib = synthetic_images(4, graph.input, 5);
    let m = synthetic_from_graph(graph, Bits::new(bits).unwrap(), 5, calib.view()).unwrap();
    let imgs = synthetic_images(1, m.graph.input, 6);
    let g = Golden::compute(&m, imgs.view(), None).unwrap();
    (m, g)
}

#[test]
fn rust_hdl_runs_a_tiny_network_bit_exact() {
    let (m, g) = tiny(2);
    let mut sim = NetRustHdl::new(2).unwrap();
    let r = run(&mut sim, &m, &g, &NetOptions::default());
    assert_exact(&r, "tiny on rust-hdl");
    assert_eq!(r.sim, unibit_sim::net::NetSimKind::Rusthdl);
}

#[test]
fn a_flipped_weight_bit_is_reported_in_its_layer() {
    if !have_verilator() {
        return;
    }
    let (m, g) = family("resnet8", 2, 12, 9);
    let program = compile_for(&m, 2).unwrap();
    let shape = *program.shape();
    let (k, layer) = program
        .plan
        .layers
        .iter()
        .enumerate()
        .find(|(_, l)| l.name == "s2b1.conv1")
        .unwrap();
    let mut sim = NetVerilator::start(2, false, &Silent).unwrap();
    // Every bit of tile 0's first plane word (row 0's lanes) until one changes the output:
    // each must be caught, in this layer, before any later one.
    let word = program.plan.weights_base + layer.weight_offset + 1 + shape.param_words();
    let mut caught = 0;
    for bit in [0u32, 1, 9, 17] {
        let o = NetOptions {
            flip: Some(BitFlip { word, bit }),
            ..NetOptions::default()
        };
        let r = run(&mut sim, &m, &g, &o);
        let Some(mis) = r.first_mismatch.as_ref() else {
            continue;
        };
        caught += 1;
        assert!(!r.bit_exact && r.cycles_per_image.is_none());
        assert_eq!((mis.layer.as_str(), mis.record), ("s2b1.conv1", k), "{mis}");
        assert_eq!(mis.read_after, k, "{mis}");
        assert_eq!(
            mis.cycle,
            Some(r.layers[k].first_cycle + r.layers[k].cycles)
        );
        let text = mis.to_string();
        assert!(
            text.contains("channel") && text.contains("pixel") && text.contains("engine counter"),
            "{text}"
        );
        assert!(r.layers[..k].iter().all(|l| l.matches == Some(true)));
        assert_eq!(r.layers[k].matches, Some(false));
    }
    assert!(
        caught >= 2,
        "only {caught} of 4 flipped bits changed the layer"
    );
    // The clean image afterwards is bit-exact again (nothing sticks in the engine).
    let r = run(&mut sim, &m, &g, &NetOptions::default());
    assert_exact(&r, "clean after faults");
}

#[test]
fn refusals_name_the_problem() {
    let (m, _) = family("resnet8", 2, 12, 1);
    let e = compile_for(&m, 4).unwrap_err();
    assert!(
        matches!(
            e,
            Error::BitsMismatch {
                bundle: 2,
                engine: 4
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("B = 2") && e.to_string().contains("B = 4"));

    let cfg = FamilyConfig {
        channel_multiple: 8,
        ..FamilyConfig::fashion_mnist("resnet20".parse().unwrap(), 2.0)
    };
    let calib = synthetic_images(2, cfg.input, 1);
    let big = synthetic_model(&cfg, Bits::new(2).unwrap(), 1, calib.view()).unwrap();
    let e = compile_for(&big, 2).unwrap_err();
    assert!(
        matches!(e, Error::Engine(EngineError::DoesNotFit { .. })),
        "{e}"
    );
    assert!(e.to_string().contains("main memory"), "{e}");

    // A 1×1 conv reading a flatten: valid IR, not an engine layout.
    let graph = Graph {
        input: Shape::new(2, 6, 6),
        nodes: vec![
            node("c0", conv(2, 4, 3, 1, 1), &[INPUT], false),
            node("flat", Op::Flatten, &["c0"], false),
            node("odd", conv(144, 10, 1, 1, 1), &["flat"], false),
        ],
    };
    let calib = synthetic_images(2, graph.input, 1);
    let odd = synthetic_from_graph(graph, Bits::new(2).unwrap(), 1, calib.view()).unwrap();
    let e = compile_for(&odd, 2).unwrap_err();
    assert!(
        matches!(e, Error::Engine(EngineError::Unsupported { .. })),
        "{e}"
    );
    assert!(e.to_string().contains("\"odd\""), "{e}");

    // A flip outside the resident image is refused, not silently ignored.
    let (m, g) = tiny(2);
    let mut sim = NetRustHdl::new(2).unwrap();
    let o = NetOptions {
        flip: Some(BitFlip {
            word: 1 << 20,
            bit: 0,
        }),
        ..NetOptions::default()
    };
    let e = cosim_net(&m, &g, 1, &mut sim, &o, &Silent).unwrap_err();
    assert!(e.to_string().contains("flip"), "{e}");
    // An engine of another B refuses the model.
    let mut sim4 = NetRustHdl::new(4).unwrap();
    let e = cosim_net(&m, &g, 1, &mut sim4, &NetOptions::default(), &Silent).unwrap_err();
    assert!(matches!(e, Error::BitsMismatch { .. }), "{e}");
}
