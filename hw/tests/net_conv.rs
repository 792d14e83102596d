//! The conv / linear body (`ConvUnit`) under rust-hdl simulation against
//! `unibit_core::engine::Machine`: small compiled programs (expanded stem, dense 3×3 stride 1
//! and 2 with padding, 1×1, linear, grouped with a mask plane, depthwise, streaming tiles;
//! u8 / i8 / i32 outputs, channel counts that are not multiples of 8, B ∈ {1, 2, 8}). For every
//! conv record, main memory starts as the Machine's before that record; after the body every
//! word equals the Machine's after it, and the cycles from `go` to `done` equal the record's
//! body term of the cycle model (Machine's count and `descriptor_cycles`).
use rust_hdl::prelude::*;
use unibit_core::engine::cost::descriptor_cycles;
use unibit_core::engine::{compile, Descriptor, EngineShape, Machine, Memories, OpCode, Program};
use unibit_core::graph::{Graph, Node, Op, Shape, INPUT};
use unibit_core::synthetic::{synthetic_from_graph, synthetic_images};
use unibit_core::Bits as WBits;
use unibit_hw::rtl::net::conv_unit::ConvUnit;

fn conv(
    name: &str,
    x: &str,
    cin: usize,
    spec: (usize, usize, usize, usize, usize),
    relu: bool,
) -> Node {
    let (cout, k, stride, pad, groups) = spec;
    Node {
        name: name.into(),
        op: Op::Conv2d {
            in_channels: cin,
            out_channels: cout,
            kernel: k,
            stride,
            padding: pad,
            groups,
            batch_norm: false,
        },
        inputs: vec![x.into()],
        relu,
    }
}

fn node(name: &str, op: Op, x: &str) -> Node {
    Node {
        name: name.into(),
        op,
        inputs: vec![x.into()],
        relu: false,
    }
}

fn linear(name: &str, x: &str, i: usize, o: usize) -> Node {
    node(
        name,
        Op::Linear {
            in_features: i,
            out_features: o,
        },
        x,
    )
}

/// A compiled program for the UP5K 8×8 and the input image's pixels.
fn build(input: Shape, nodes: Vec<Node>, b: u8, seed: u64) -> (Program, Vec<u8>) {
    let graph = Graph { input, nodes };
    graph.infer().unwrap();
    let bits = WBits::new(b).unwrap();
    let calib = synthetic_images(4, input, seed);
    let model = synthetic_from_graph(graph, bits, seed, calib.view()).unwrap();
    let program = compile(&model, &EngineShape::icebreaker(bits), &Memories::up5k()).unwrap();
    let img = synthetic_images(1, input, seed + 1);
    (program, img.iter().copied().collect())
}

fn set_fields(u: &mut ConvUnit, d: &Descriptor) {
    u.op.next = bits(d.op as u64);
    u.out_kind.next = bits(d.out_kind as u64);
    u.a_signed.next = d.a_signed;
    u.b_signed.next = d.b_signed;
    u.masked.next = d.masked;
    u.stream.next = d.stream;
    u.diagonal.next = d.diagonal;
    u.kernel.next = bits(d.kernel as u64);
    u.stride.next = bits(d.stride as u64);
    u.pad.next = bits(d.pad as u64);
    u.in_h.next = bits(d.in_h as u64);
    u.in_w.next = bits(d.in_w as u64);
    u.in_cw.next = bits(d.in_cw as u64);
    u.out_h.next = bits(d.out_h as u64);
    u.out_w.next = bits(d.out_w as u64);
    u.out_cw.next = bits(d.out_cw as u64);
    u.out_channels.next = bits(d.out_channels as u64);
    u.tiles.next = bits(d.tiles as u64);
    u.f10.next = bits(d.f10 as u64);
    u.tile_words.next = bits(d.tile_words as u64);
    u.in_a.next = bits(d.in_a as u64);
    u.in_b.next = bits(d.in_b as u64);
    u.out_base.next = bits(d.out as u64);
    u.param.next = bits(d.param as u64);
}

/// Runs one body on `mem` (SpramMain timing: a read's word is on `mem_rdata` after the edge);
/// returns the cycles from `go` (before the first edge) until `done` is seen.
fn run_body(u: &mut ConvUnit, mem: &mut [u64], d: &Descriptor, limit: u64) -> u64 {
    set_fields(u, d);
    u.go.next = true;
    let mut rdata = 0u64;
    let mut t = 0u64;
    loop {
        u.mem_rdata.next = bits(rdata);
        u.clock.next = Clock { clk: false };
        assert!(simulate(u, 1000), "circuit did not settle");
        if u.mem_en.val() {
            let a = u.mem_addr.val().index() % mem.len();
            if u.mem_we.val() {
                let be = u.mem_be.val().to_u64();
                let mask = (0..8)
                    .filter(|l| be >> l & 1 == 1)
                    .fold(0u64, |m, l| m | 0xff << (8 * l));
                mem[a] = (mem[a] & !mask) | (u.mem_wdata.val().to_u64() & mask);
                rdata = 0;
            } else {
                rdata = mem[a];
            }
        }
        u.clock.next = Clock { clk: true };
        assert!(simulate(u, 1000), "circuit did not settle");
        u.go.next = false;
        t += 1;
        if u.done.val() {
            break;
        }
        assert!(t < limit, "no done after {t} cycles");
    }
    assert!(!u.mem_en.val(), "memory access in the done cycle");
    assert!(!u.overflow.val(), "output queue overflow");
    t
}

/// Every conv record of `program` through the body, against the Machine. Returns the
/// descriptors checked.
fn check_program(what: &str, program: &Program, pixels: &[u8], b: u8) -> Vec<Descriptor> {
    let mut m = Machine::new(program);
    m.load_image(pixels).unwrap();
    let mut states = vec![m.main.clone()];
    let per_record = m.run_with(|_, mm| states.push(mm.main.clone())).unwrap();
    let shape = program.shape();
    let mut u = Box::new(ConvUnit::new(b));
    u.connect_all();
    let mut checked = vec![];
    for (n, d) in program.descriptors.iter().enumerate() {
        if d.opcode() != Some(OpCode::Conv) {
            continue;
        }
        let body = per_record[n] - (shape.desc_words() as u64 + 1);
        assert_eq!(
            descriptor_cycles(shape, d),
            per_record[n],
            "{what} record {n}: model"
        );
        let mut mem = states[n].clone();
        let t = run_body(&mut u, &mut mem, d, 4 * body + 1000);
        for (w, (got, want)) in mem.iter().zip(&states[n + 1]).enumerate() {
            assert_eq!(
                got, want,
                "{what} record {n} ({d:?}): word {w} = {got:#018x}, Machine {want:#018x}"
            );
        }
        assert_eq!(t, body, "{what} record {n} ({d:?}): cycles");
        checked.push(*d);
    }
    checked
}

/// Runs `f` on a thread with a large stack (the unit is a big rust-hdl struct).
fn big_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(512 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

/// Expanded stem (10 channels: 2 tiles), dense 3×3 stride 1 (2 input words per pixel) and
/// stride 2 with padding, an i8 1×1, and a linear (i32) over a flatten, at B = 2.
#[test]
fn dense_convs_and_linear_b2() {
    big_stack(|| {
        let nodes = vec![
            conv("stem", INPUT, 1, (10, 3, 1, 1, 1), true),
            conv("c1", "stem", 10, (9, 3, 1, 1, 1), true),
            conv("c2", "c1", 9, (6, 3, 2, 1, 1), true),
            conv("c3", "c2", 6, (12, 1, 1, 0, 1), false),
            node("flat", Op::Flatten, "c3"),
            linear("fc", "flat", 12 * 3 * 3, 10),
        ];
        let (p, px) = build(Shape::new(1, 6, 6), nodes, 2, 7);
        let ds = check_program("dense B=2", &p, &px, 2);
        assert_eq!(ds.len(), 5);
        assert!(ds
            .iter()
            .any(|d| d.kernel == 3 && d.stride == 2 && d.pad == 1));
        assert!(ds.iter().any(|d| d.out_kind == 1), "an i8 output");
        assert!(ds.iter().any(|d| d.out_kind == 2), "an i32 output");
        assert!(ds.iter().any(|d| d.tiles == 2 && d.in_cw == 2));
    });
}

/// A grouped conv (2 groups of 4 → 3: mask plane), a depthwise 3×3 (diagonal correction) and
/// a linear, at B = 1.
#[test]
fn grouped_and_depthwise_b1() {
    big_stack(|| {
        let nodes = vec![
            conv("stem", INPUT, 1, (8, 3, 1, 1, 1), true),
            conv("grp", "stem", 8, (6, 3, 1, 1, 2), true),
            conv("dw", "grp", 6, (6, 3, 2, 1, 6), false),
            node("flat", Op::Flatten, "dw"),
            linear("fc", "flat", 6 * 3 * 3, 5),
        ];
        let (p, px) = build(Shape::new(1, 5, 5), nodes, 1, 11);
        let ds = check_program("grouped B=1", &p, &px, 1);
        assert!(ds.iter().any(|d| d.masked), "a masked conv");
        assert!(ds.iter().any(|d| d.diagonal), "a depthwise conv");
    });
}

/// B = 8: a strided stem with 24 channels (3 tiles), a 1×1, and a linear whose 80-chunk tile
/// (640 plane words) exceeds the 512-word tile buffer, so it streams its planes from main
/// memory.
#[test]
fn streaming_linear_b8() {
    big_stack(|| {
        let nodes = vec![
            conv("stem", INPUT, 1, (24, 3, 2, 1, 1), true),
            conv("c1", "stem", 24, (40, 1, 1, 0, 1), true),
            node("flat", Op::Flatten, "c1"),
            linear("fc", "flat", 40 * 4 * 4, 3),
        ];
        let (p, px) = build(Shape::new(1, 8, 8), nodes, 8, 5);
        let ds = check_program("stream B=8", &p, &px, 8);
        assert!(ds.iter().any(|d| d.stream), "a streaming tile");
        assert!(ds.iter().any(|d| !d.stream && d.tiles == 3));
    });
}
