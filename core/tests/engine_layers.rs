//! Property test of the compiler and machine: random supported layer shapes (conv k ∈ {1, 3},
//! stride 1/2, padding, groups incl. depthwise; linear; add; max/avg/global pooling; flatten;
//! channel counts that are not multiples of C) run bit-exactly against the integer reference
//! at every layer, and the analytic cycle count equals the machine's counter.

mod engine_support;
use engine_support::*;
use proptest::prelude::*;
use unibit_core::engine::{EngineShape, Memories};
use unibit_core::graph::{Graph, Node, Op, Shape, INPUT};

#[derive(Clone, Debug)]
enum Layer {
    Conv {
        groups: usize,
        cg: usize,
        mg: usize,
        k: usize,
        stride: usize,
        pad: usize,
    },
    Add,
    MaxPool {
        k: usize,
        stride: usize,
    },
    AvgPool {
        k: usize,
        stride: usize,
    },
    Gap,
    FlattenLinear {
        out: usize,
    },
}

fn layer() -> impl Strategy<Value = Layer> {
    let conv = (
        1usize..4,
        1usize..7,
        1usize..7,
        prop_oneof![Just(1usize), Just(3)],
        1usize..3,
        0usize..3,
        any::<bool>(),
    )
        .prop_map(|(groups, cg, mg, k, stride, pad, dw)| {
            let (groups, cg, mg) = if dw {
                (3 * cg + 1, 1, 1)
            } else {
                (groups, cg, mg)
            };
            Layer::Conv {
                groups,
                cg,
                mg,
                k,
                stride,
                pad: pad.min(k - 1),
            }
        });
    prop_oneof![
        3 => conv,
        1 => Just(Layer::Add),
        1 => (2usize..4, 1usize..3).prop_map(|(k, stride)| Layer::MaxPool { k, stride }),
        1 => (2usize..4, 1usize..3).prop_map(|(k, stride)| Layer::AvgPool { k, stride }),
        1 => Just(Layer::Gap),
        1 => (1usize..20).prop_map(|out| Layer::FlattenLinear { out }),
    ]
}

struct G {
    nodes: Vec<Node>,
    channels: usize,
}

impl G {
    fn push(&mut self, name: &str, op: Op, inputs: &[&str], relu: bool) -> String {
        self.nodes.push(Node {
            name: name.into(),
            op,
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            relu,
        });
        name.into()
    }
    /// A conv of `(out channels, kernel, stride, padding, groups)`.
    fn conv(
        &mut self,
        name: &str,
        x: &str,
        spec: (usize, usize, usize, usize, usize),
        relu: bool,
    ) -> String {
        let (cout, k, stride, pad, groups) = spec;
        let op = Op::Conv2d {
            in_channels: self.channels,
            out_channels: cout,
            kernel: k,
            stride,
            padding: pad,
            groups,
            batch_norm: false,
        };
        self.channels = cout;
        self.push(name, op, &[x], relu)
    }
}

/// input → [pre 1×1 conv] → the layer under test → [global pool → linear tail].
fn graph(cin: usize, hw: usize, pre: bool, relu: bool, l: &Layer, tail: bool) -> Graph {
    let cin = match l {
        Layer::Conv { groups, cg, .. } => groups * cg,
        _ => cin,
    };
    let mut g = G {
        nodes: vec![],
        channels: cin,
    };
    let mut x = INPUT.to_string();
    if pre || !matches!(l, Layer::Conv { .. }) {
        x = g.conv("pre", &x, (cin, 1, 1, 0, 1), relu);
    }
    x = match *l {
        Layer::Conv {
            groups,
            mg,
            k,
            stride,
            pad,
            ..
        } => g.conv("dut", &x, (groups * mg, k, stride, pad, groups), !relu),
        Layer::Add => {
            let c = g.channels;
            let b = g.conv("other", INPUT, (c, 3, 1, 1, 1), false);
            g.channels = c;
            let _ = b;
            g.push("dut", Op::Add, &[&x, "other"], !relu)
        }
        Layer::MaxPool { k, stride } => {
            g.push("dut", Op::MaxPool { kernel: k, stride }, &[&x], false)
        }
        Layer::AvgPool { k, stride } => {
            g.push("dut", Op::AvgPool { kernel: k, stride }, &[&x], false)
        }
        Layer::Gap => g.push("dut", Op::GlobalAvgPool, &[&x], false),
        Layer::FlattenLinear { out } => {
            let f = g.push("flat", Op::Flatten, &[&x], false);
            let n = g.channels * hw * hw;
            g.channels = out;
            g.push(
                "dut",
                Op::Linear {
                    in_features: n,
                    out_features: out,
                },
                &[&f],
                false,
            )
        }
    };
    let flat = matches!(l, Layer::Gap | Layer::FlattenLinear { .. });
    if tail && !flat {
        x = g.push("gap", Op::GlobalAvgPool, &[&x], false);
    }
    if tail || flat {
        let c = g.channels;
        g.push(
            "fc",
            Op::Linear {
                in_features: c,
                out_features: 7,
            },
            &[&x],
            false,
        );
    }
    Graph {
        input: Shape::new(cin, hw, hw),
        nodes: g.nodes,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn random_layers_are_bit_exact(
        l in layer(),
        cin in 1usize..13,
        hw in 5usize..10,
        pre in any::<bool>(),
        relu in any::<bool>(),
        tail in any::<bool>(),
        b in 1u8..=8,
        wide in any::<bool>(),
        seed in 0u64..1000,
    ) {
        let g = graph(cin, hw, pre, relu, &l, tail);
        prop_assume!(g.infer().is_ok());
        let (model, golden) = graph_model(g, b, seed, 2);
        let (shape, mem) = if wide {
            (EngineShape::new(16, 16, bits(b)).unwrap(), Memories::ecp5_25f())
        } else {
            (EngineShape::new(8, 8, bits(b)).unwrap(), Memories::up5k())
        };
        let (program, runs) = run_all(&model, &golden, &shape, &mem);
        assert_exact(&program, &runs, &format!("{l:?}"));
        if std::env::var("ENGINE_TRACE").is_ok() { eprintln!("case {l:?} cin={cin} hw={hw} b={b} wide={wide} cycles={} layers={}", runs[0].cycles, program.plan.layers.len()); }
    }
}
