//! A flipped bit in the resident image is caught and named; models the engine cannot run are
//! refused before anything runs, naming the layer or the memory.

mod engine_support;
use engine_support::*;
use ndarray::Axis;
use unibit_core::engine::{compile, EngineShape, Error, Machine, Memories};
use unibit_core::graph::{Graph, Node, Op, Shape, INPUT};

fn node(name: &str, op: Op, input: &str) -> Node {
    Node {
        name: name.into(),
        op,
        inputs: vec![input.into()],
        relu: false,
    }
}

fn conv(cin: usize, cout: usize, k: usize) -> Op {
    Op::Conv2d {
        in_channels: cin,
        out_channels: cout,
        kernel: k,
        stride: 1,
        padding: k / 2,
        groups: 1,
        batch_norm: false,
    }
}

#[test]
fn flipped_weight_bit_is_named() {
    let (model, golden) = family_model("resnet8", 0.5, 8, 2, 3, 1);
    let shape = EngineShape::icebreaker(bits(2));
    let program = compile(&model, &shape, &Memories::up5k()).unwrap();
    let layer = program
        .plan
        .layers
        .iter()
        .find(|l| l.name == "s2b1.conv1")
        .unwrap();
    // The first plane word of tile 0 (after the header and the 8 parameter words): row 0, lane 0.
    let word = program.plan.weights_base + layer.weight_offset + 1 + shape.param_words();
    let want = expected(&golden, 0);
    let views: Vec<_> = want.iter().map(|a| a.view()).collect();
    let img = golden.input.index_axis(Axis(0), 0);

    let mut clean = Machine::new(&program);
    assert!(clean
        .run_checked(&program, img, &views)
        .unwrap()
        .mismatch
        .is_none());

    let mut m = Machine::new(&program);
    m.main[word * shape.dwords()] ^= 1;
    let run = m.run_checked(&program, img, &views).unwrap();
    let mis = run
        .mismatch
        .expect("the flipped bit changes the layer's output");
    assert_eq!(
        (mis.layer.as_str(), mis.channel),
        ("s2b1.conv1", 0),
        "{mis}"
    );
    assert!(mis.to_string().contains("pixel"), "{mis}");

    // A flipped bias bit of row 3 of the stem is named too.
    let stem = &program.plan.layers[0];
    let mut m = Machine::new(&program);
    m.main[(program.plan.weights_base + stem.weight_offset + 1) * shape.dwords() + 3] ^= 1 << 9;
    let mis = m
        .run_checked(&program, img, &views)
        .unwrap()
        .mismatch
        .unwrap();
    assert_eq!((mis.layer.as_str(), mis.channel), ("stem", 3), "{mis}");
}

#[test]
fn too_big_for_the_board() {
    let (model, _) = family_model("resnet20", 2.0, 8, 2, 1, 1);
    let e = compile(&model, &EngineShape::icebreaker(bits(2)), &Memories::up5k()).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::DoesNotFit { .. }), "{msg}");
    assert!(
        msg.contains("main memory")
            && msg.contains("SPRAM")
            && msg.contains("131072 bytes are available"),
        "{msg}"
    );
}

#[test]
fn tiles_larger_than_the_tile_buffer_stream_from_main_memory() {
    // 3×3 over 64 channels at B = 8: 72 chunks × 8 planes = 576 plane words > 512.
    let g = Graph {
        input: Shape::new(64, 6, 6),
        nodes: vec![node("big", conv(64, 8, 3), INPUT)],
    };
    let (model, golden) = graph_model(g, 8, 1, 1);
    let shape = EngineShape::icebreaker(bits(8));
    let (program, runs) = run_all(&model, &golden, &shape, &Memories::up5k());
    assert!(program.descriptors[0].stream);
    assert_exact(&program, &runs, "streamed tile");
    // Per vector: 72 activation + 576 weight reads + 1 write instead of 576 compute cycles.
    let rep = unibit_core::engine::report(&program.plan);
    assert!(
        rep.layers[0].cycles > 36 * (72 + 576 + 1),
        "{}",
        rep.table()
    );
}

#[test]
fn bitwidth_mismatch() {
    let (model, _) = family_model("resnet8", 0.25, 8, 2, 1, 1);
    let e = compile(&model, &EngineShape::icebreaker(bits(4)), &Memories::up5k()).unwrap_err();
    assert!(
        matches!(
            e,
            Error::BitsMismatch {
                engine: 4,
                model: 2
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("B = 4") && e.to_string().contains("B = 2"));
}

#[test]
fn unsupported_layers_are_named() {
    // A 1×1 conv reading a flatten: valid IR, not an engine layout.
    let g = Graph {
        input: Shape::new(2, 6, 6),
        nodes: vec![
            node("c0", conv(2, 4, 3), INPUT),
            node("flat", Op::Flatten, "c0"),
            node("odd", conv(144, 10, 1), "flat"),
        ],
    };
    let (model, _) = graph_model(g, 2, 1, 1);
    let e = compile(&model, &EngineShape::icebreaker(bits(2)), &Memories::up5k()).unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    assert!(e.to_string().contains("\"odd\""), "{e}");

    // A kernel wider than the descriptor's 4-bit field.
    let g = Graph {
        input: Shape::new(8, 20, 20),
        nodes: vec![node("wide", conv(8, 8, 17), INPUT)],
    };
    let (model, _) = graph_model(g, 2, 1, 1);
    let e = compile(&model, &EngineShape::icebreaker(bits(2)), &Memories::up5k()).unwrap_err();
    assert!(
        e.to_string().contains("\"wide\"") && e.to_string().contains("kernel"),
        "{e}"
    );
}

#[test]
fn shapes_the_engine_is_not_built_for() {
    assert!(EngineShape::new(8, 16, bits(2)).is_err());
    assert!(EngineShape::new(12, 12, bits(2)).is_err());
    let e = unibit_core::engine::configure(
        &EngineShape::new(16, 16, bits(2)).unwrap(),
        &Memories::up5k(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("EBR"), "{e}");
}
