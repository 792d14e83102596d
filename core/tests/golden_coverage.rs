//! Golden vectors for what no exported bundle exercises: average pooling, grouped
//! (non-depthwise) convolution, shift S = 0 and values near the i32 limits. Each is checked
//! against a direct computation written here from the contract, not by the reference.

use ndarray::Array4;
use unibit_core::bundle::{self, Accuracy, Bundle, Golden, ModelInfo};
use unibit_core::graph::{Graph, Node, Op, Shape, INPUT};
use unibit_core::model::NodeScales;
use unibit_core::reference::{conv_direct, verify_golden};
use unibit_core::{ActKind, Bits, NodeParams, QuantModel, Requant, Silent};

fn node(name: &str, op: Op, input: &str, relu: bool) -> Node {
    Node {
        name: name.into(),
        op,
        inputs: vec![input.into()],
        relu,
    }
}

fn model(graph: Graph, bits: u8, params: Vec<NodeParams>) -> QuantModel {
    let n = graph.nodes.len();
    QuantModel {
        graph,
        bits: Bits::new(bits).unwrap(),
        input_scale: 1.0 / 255.0,
        params,
        scales: vec![
            NodeScales {
                output: 1.0,
                weight: vec![]
            };
            n
        ],
    }
}

/// `clamp(((v · M) + 2^(S−1)) >> S)` with nothing added for S = 0, as the contract states.
fn requant(v: i64, m: u32, s: u32, kind: ActKind) -> i32 {
    let half = if s == 0 { 0 } else { 1i64 << (s - 1) };
    let (lo, hi) = kind.range();
    ((v * m as i64 + half) >> s).clamp(lo as i64, hi as i64) as i32
}

/// Write the bundle with golden vectors for `images`, read it back, check the golden vectors
/// against the reference and return them.
fn golden_round_trip(m: QuantModel, images: Array4<u8>) -> Vec<Array4<i32>> {
    let golden = Golden::compute(&m, images.view(), None).unwrap();
    let b = Bundle {
        model: m,
        info: ModelInfo {
            source: "synthetic".into(),
            ..Default::default()
        },
        accuracy: Accuracy::default(),
        golden: Some(golden),
    };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("b");
    bundle::write(&d, &b).unwrap();
    let back = bundle::read(&d).unwrap();
    assert_eq!(back, b);
    assert!(verify_golden(&back, &Silent).unwrap().is_exact());
    back.golden.unwrap().outputs
}

#[test]
fn grouped_conv_with_shift_zero_and_avg_pool() {
    // 4 input channels, 2 groups of 2 → 4 outputs; each output group reads its own 2 inputs.
    let graph = Graph {
        input: Shape::new(4, 6, 6),
        nodes: vec![
            node(
                "g",
                Op::Conv2d {
                    in_channels: 4,
                    out_channels: 4,
                    kernel: 3,
                    stride: 1,
                    padding: 1,
                    groups: 2,
                    batch_norm: false,
                },
                INPUT,
                true,
            ),
            node(
                "ap",
                Op::AvgPool {
                    kernel: 2,
                    stride: 2,
                },
                "g",
                false,
            ),
            node("gap", Op::GlobalAvgPool, "ap", false),
            node(
                "fc",
                Op::Linear {
                    in_features: 4,
                    out_features: 3,
                },
                "gap",
                false,
            ),
        ],
    };
    let bits = Bits::new(2).unwrap();
    let codes = Array4::from_shape_fn((4, 2, 3, 3), |(o, c, i, j)| {
        ((o * 7 + c * 5 + i * 3 + j) % 4) as u8
    });
    let bias = vec![-40, 10, 0, 25];
    // S = 0: the multiplier alone scales (no rounding term).
    let rq = vec![
        Requant::new(1, 0).unwrap(),
        Requant::new(2, 0).unwrap(),
        Requant::new(1, 0).unwrap(),
        Requant::new(3, 1).unwrap(),
    ];
    let ap = Requant::new(8192, 15).unwrap();
    let gap = Requant::new(1, 0).unwrap();
    let fc_codes = Array4::from_shape_fn((3, 4, 1, 1), |(o, c, _, _)| ((o + 2 * c) % 4) as u8);
    let params = vec![
        NodeParams::Weighted {
            codes: codes.clone(),
            bias: bias.clone(),
            requant: rq.clone(),
        },
        NodeParams::Pool { requant: ap },
        NodeParams::Pool { requant: gap },
        NodeParams::Weighted {
            codes: fc_codes.clone(),
            bias: vec![5, -5, 0],
            requant: vec![],
        },
    ];
    let images = Array4::from_shape_fn((3, 4, 6, 6), |(n, c, i, j)| {
        ((n * 91 + c * 53 + i * 17 + j * 29) % 256) as u8
    });
    let outs = golden_round_trip(model(graph, 2, params), images.clone());

    // Direct computation.
    let x = images.mapv(|v| v as i32);
    let acc = conv_direct(&x, &codes, bits, 1, 1, 2);
    let g = Array4::from_shape_fn(acc.dim(), |(n, o, i, j)| {
        requant(
            acc[[n, o, i, j]] + bias[o] as i64,
            rq[o].multiplier,
            rq[o].shift,
            ActKind::U8,
        )
    });
    assert_eq!(outs[0], g, "grouped conv, S = 0");
    let a = Array4::from_shape_fn((3, 4, 3, 3), |(n, c, i, j)| {
        let s: i64 = (0..2)
            .flat_map(|di| (0..2).map(move |dj| (di, dj)))
            .map(|(di, dj)| g[[n, c, 2 * i + di, 2 * j + dj]] as i64)
            .sum();
        requant(s, ap.multiplier, ap.shift, ActKind::U8)
    });
    assert_eq!(outs[1], a, "avg pool");
    let p = Array4::from_shape_fn((3, 4, 1, 1), |(n, c, _, _)| {
        let s: i64 = a
            .slice(ndarray::s![n, c, .., ..])
            .iter()
            .map(|&v| v as i64)
            .sum();
        requant(s, gap.multiplier, gap.shift, ActKind::U8)
    });
    assert_eq!(outs[2], p, "global avg pool, S = 0");
    let fc = Array4::from_shape_fn((3, 3, 1, 1), |(n, o, _, _)| {
        let dot: i64 = (0..4)
            .map(|c| (2 * fc_codes[[o, c, 0, 0]] as i64 - 3) * p[[n, c, 0, 0]] as i64)
            .sum();
        (dot + [5, -5, 0][o]) as i32
    });
    assert_eq!(outs[3], fc, "raw linear output");
}

#[test]
fn accumulators_near_the_i32_limits() {
    // K = 2^14 inputs of 255 against codes 255 (level +255) or 0 (level −255) at B = 8, with
    // |bias| just under 2^30: |acc + bias| = 255·255·2^14 + 2^30 − 1, 8.4 M under 2^31.
    let k = 1usize << 14;
    let graph = Graph {
        input: Shape::new(64, 16, 16),
        nodes: vec![
            node("fl", Op::Flatten, INPUT, false),
            node(
                "fc",
                Op::Linear {
                    in_features: k,
                    out_features: 2,
                },
                "fl",
                false,
            ),
        ],
    };
    let codes = Array4::from_shape_fn((2, k, 1, 1), |(o, _, _, _)| if o == 0 { 255 } else { 0 });
    let b = (1 << 30) - 1;
    let params = vec![
        NodeParams::None,
        NodeParams::Weighted {
            codes,
            bias: vec![b, -b],
            requant: vec![],
        },
    ];
    let images = Array4::from_elem((2, 64, 16, 16), 255u8);
    let outs = golden_round_trip(model(graph, 8, params), images);
    let want = 255i64 * 255 * k as i64 + b as i64;
    assert!(want < i32::MAX as i64 && want > i32::MAX as i64 - (1 << 24));
    for n in 0..2 {
        assert_eq!(outs[1][[n, 0, 0, 0]] as i64, want);
        assert_eq!(outs[1][[n, 1, 0, 0]] as i64, -want);
    }
}
