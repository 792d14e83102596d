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
use unibit_hw::rtl::net::conv_unit::{self, ConvUnit};
use unibit_hw::verilog::{have_tool, LINT_WAIVERS};

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
///
/// The lanes' element-wise request port holds a left-over request (every field but
/// `ext_valid`), as the element-wise unit leaves it after an add: the body must ignore it.
fn run_body(u: &mut ConvUnit, mem: &mut [u64], d: &Descriptor, limit: u64) -> u64 {
    set_fields(u, d);
    u.ext_valid.next = false;
    u.ext_pair.next = true;
    u.ext_m2.next = bits(0x7fff);
    u.ext_addr.next = bits(3);
    u.ext_dot0.next = bits(0xdead_beef);
    u.ext_dot1.next = bits(0x1234_5678);
    u.ext_param.next = bits(0x0123_4567_89ab_cdef);
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
        assert!(ds.iter().any(|d| d.a_signed), "an i8 input");
    });
}

/// A grouped conv (2 groups of 4 → 3: mask plane), a strided depthwise 3×3 (diagonal
/// correction), a 1×1 whose tile is a single plane word (read in the cycle it is written) and
/// a linear, at B = 1.
#[test]
fn grouped_and_depthwise_b1() {
    big_stack(|| {
        let nodes = vec![
            conv("stem", INPUT, 1, (8, 3, 1, 1, 1), true),
            conv("grp", "stem", 8, (6, 3, 1, 1, 2), true),
            conv("dw", "grp", 6, (6, 3, 2, 1, 6), false),
            conv("pw", "dw", 6, (4, 1, 1, 0, 1), true),
            node("flat", Op::Flatten, "pw"),
            linear("fc", "flat", 4 * 3 * 3, 5),
        ];
        let (p, px) = build(Shape::new(1, 5, 5), nodes, 1, 11);
        let ds = check_program("grouped B=1", &p, &px, 1);
        assert!(ds.iter().any(|d| d.masked), "a masked conv");
        assert!(ds.iter().any(|d| d.diagonal), "a depthwise conv");
        assert!(ds.iter().any(|d| d.tile_words == 10), "a one-plane tile");
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

/// The emitted Verilog under iverilog, on a testbench memory preloaded like the Machine's:
/// the dense 3×3 stride-2 conv with padding and the i32 linear of the B = 2 program give the
/// Machine's words and the model's cycles.
#[test]
fn verilog_body_equals_machine() {
    if !have_tool("iverilog") {
        eprintln!("\n!!!!!!!! SKIPPING: iverilog is not installed !!!!!!!!\n");
        return;
    }
    big_stack(|| {
        let nodes = vec![
            conv("stem", INPUT, 1, (10, 3, 1, 1, 1), true),
            conv("c2", "stem", 10, (6, 3, 2, 1, 1), true),
            node("flat", Op::Flatten, "c2"),
            linear("fc", "flat", 6 * 3 * 3, 10),
        ];
        let (p, px) = build(Shape::new(1, 6, 6), nodes, 2, 3);
        let mut m = Machine::new(&p);
        m.load_image(&px).unwrap();
        let mut states = vec![m.main.clone()];
        let per_record = m.run_with(|_, mm| states.push(mm.main.clone())).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("top.v"), conv_unit::verilog(2)).unwrap();
        let mut kinds = vec![];
        for n in [1usize, 3] {
            let d = p.descriptors[n];
            assert_eq!(d.opcode(), Some(OpCode::Conv));
            kinds.push((d.stride, d.out_kind));
            let body = per_record[n] - 5;
            let (t, words) = iverilog_body(dir.path(), &states[n], &d, 4 * body + 1000);
            assert_eq!(t, body, "record {n}: Verilog cycles");
            for (w, (got, want)) in words.iter().zip(&states[n + 1]).enumerate() {
                assert_eq!(got, want, "record {n}: Verilog word {w}");
            }
        }
        assert_eq!(
            kinds,
            [(2, 0), (1, 2)],
            "a strided u8 conv and the i32 linear"
        );
    });
}

/// Runs `top.v` in `dir` for one body with main memory `mem`; returns (cycles, memory after).
fn iverilog_body(
    dir: &std::path::Path,
    mem: &[u64],
    d: &Descriptor,
    limit: u64,
) -> (u64, Vec<u64>) {
    let hex: String = mem.iter().map(|w| format!("{w:016x}\n")).collect();
    std::fs::write(dir.join("mem.hex"), hex).unwrap();
    let f = |n: &str, w: usize, v: u64| format!("reg [{}:0] {n} = {w}'d{v};\n", w - 1);
    let fields: [(&str, usize, u64); 24] = [
        ("op", 4, d.op as u64),
        ("out_kind", 2, d.out_kind as u64),
        ("a_signed", 1, d.a_signed as u64),
        ("b_signed", 1, d.b_signed as u64),
        ("masked", 1, d.masked as u64),
        ("stream", 1, d.stream as u64),
        ("diagonal", 1, d.diagonal as u64),
        ("kernel", 4, d.kernel as u64),
        ("stride", 4, d.stride as u64),
        ("pad", 4, d.pad as u64),
        ("in_h", 16, d.in_h as u64),
        ("in_w", 16, d.in_w as u64),
        ("in_cw", 16, d.in_cw as u64),
        ("out_h", 16, d.out_h as u64),
        ("out_w", 16, d.out_w as u64),
        ("out_cw", 16, d.out_cw as u64),
        ("out_channels", 16, d.out_channels as u64),
        ("tiles", 16, d.tiles as u64),
        ("f10", 16, d.f10 as u64),
        ("tile_words", 16, d.tile_words as u64),
        ("in_a", 16, d.in_a as u64),
        ("in_b", 16, d.in_b as u64),
        ("out_base", 16, d.out as u64),
        ("param", 16, d.param as u64),
    ];
    let mut tb = String::from("`timescale 1ns/1ps\nmodule tb;\nreg clock = 0;\nreg go = 0;\n");
    let mut conns = vec!["clock".to_string(), "go".into()];
    for (n, w, v) in fields {
        tb += &f(n, w, v);
        conns.push(n.into());
    }
    tb += "wire [15:0] mem_addr;\nwire mem_we;\nwire [7:0] mem_be;\nwire [63:0] mem_wdata;\n\
           wire mem_en;\nreg [63:0] mem_rdata = 0;\nwire done;\nwire overflow;\n\
           reg [63:0] mem [0:16383];\ninteger t, i, j;\n";
    conns.extend(
        [
            "done",
            "mem_addr",
            "mem_we",
            "mem_be",
            "mem_wdata",
            "mem_en",
            "mem_rdata",
            "overflow",
        ]
        .map(String::from),
    );
    let conns: Vec<String> = conns.iter().map(|n| format!(".{n}({n})")).collect();
    tb += &format!("top dut({});\n", conns.join(", "));
    tb += "always @(posedge clock) if (mem_en) begin\n\
             if (mem_we) begin\n\
               for (j = 0; j < 8; j = j + 1) if (mem_be[j]) mem[mem_addr[13:0]][8*j +: 8] <= mem_wdata[8*j +: 8];\n\
               mem_rdata <= 0;\n\
             end else mem_rdata <= mem[mem_addr[13:0]];\n\
           end\n";
    tb += &format!(
        "initial begin\n$readmemh(\"mem.hex\", mem);\ngo = 1; t = 0;\n\
         #5 clock = 1; #1 go = 0; t = 1;\n\
         while (!done && t < {limit}) begin #4 clock = 0; #5 clock = 1; #1 t = t + 1; end\n\
         #1 $display(\"C %0d %0d %0d\", t, overflow, mem_en);\n\
         for (i = 0; i < 16384; i = i + 1) $display(\"W %h\", mem[i]);\n$finish;\nend\nendmodule\n"
    );
    std::fs::write(dir.join("tb.v"), tb).unwrap();
    let run = |cmd: &str, args: &[&str]| {
        let out = std::process::Command::new(cmd)
            .current_dir(dir)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run("iverilog", &["-g2012", "-o", "tb.vvp", "tb.v", "top.v"]);
    let out = run("vvp", &["-n", "tb.vvp"]);
    let c: Vec<u64> = out
        .lines()
        .find_map(|l| l.strip_prefix("C "))
        .expect("cycle line")
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(c[1..], [0, 0], "overflow / memory access in the done cycle");
    let words: Vec<u64> = out
        .lines()
        .filter_map(|l| l.strip_prefix("W "))
        .map(|v| u64::from_str_radix(v, 16).expect("a defined word"))
        .collect();
    assert_eq!(words.len(), mem.len());
    (c[0], words)
}

/// Verilator `-Wall` with the project's waivers ([`LINT_WAIVERS`]) plus UNOPTFLAT: rust-hdl
/// writes each block as one `always @(*)`, so a parent that reads a child's outputs (the
/// patch generator's chunk, the queue's write) and drives its inputs in the same block forms
/// a block-level loop that Verilator cannot order (a simulation-speed warning, not a
/// combinational loop: those outputs depend on registers only, and rust-hdl's own loop check
/// passes). Everything else must be clean.
#[test]
fn conv_unit_verilog_is_lint_clean() {
    if !have_tool("verilator") {
        eprintln!("\n!!!!!!!! SKIPPING: verilator is not installed !!!!!!!!\n");
        return;
    }
    big_stack(|| {
        let dir = tempfile::tempdir().unwrap();
        let v = conv_unit::verilog(2);
        std::fs::write(dir.path().join("top.v"), &v).unwrap();
        let mut args = vec![
            "--lint-only".to_string(),
            "-Wall".into(),
            "-Wno-UNOPTFLAT".into(),
        ];
        args.extend(LINT_WAIVERS.iter().map(|(w, _)| format!("-Wno-{w}")));
        args.extend(["--top-module".into(), "top".into(), "top.v".into()]);
        let out = std::process::Command::new("verilator")
            .current_dir(dir.path())
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "verilator lint: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

/// Seeded random single convs (kernel 1 or 3, stride 1–2, padding, groups incl. depthwise,
/// channel counts 1–12, ReLU or not) between a stem and a linear, at random B: every conv
/// record bit-exact with exact cycles.
#[test]
fn random_convs_match_machine() {
    use rand::{Rng, SeedableRng};
    big_stack(|| {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2026);
        let (mut ran, mut kinds) = (0, [false; 3]);
        while ran < 12 {
            let b = rng.random_range(1..=8u8);
            let hw = rng.random_range(5..=7usize);
            let dw = rng.random_bool(0.3);
            let (groups, cg, mg) = if dw {
                let c = rng.random_range(2..=12usize);
                (c, 1, 1)
            } else {
                (
                    rng.random_range(1..=3usize),
                    rng.random_range(1..=5usize),
                    rng.random_range(1..=5usize),
                )
            };
            let k = if rng.random_bool(0.5) { 1 } else { 3 };
            let stride = rng.random_range(1..=2usize);
            let pad = rng.random_range(0..k);
            let cin = groups * cg;
            let out = rng.random_range(3..=12usize);
            let nodes = vec![
                conv("stem", INPUT, 1, (cin, 3, 1, 1, 1), true),
                conv(
                    "dut",
                    "stem",
                    cin,
                    (groups * mg, k, stride, pad, groups),
                    rng.random_bool(0.5),
                ),
                node("flat", Op::Flatten, "dut"),
            ];
            let graph = Graph {
                input: Shape::new(1, hw, hw),
                nodes: nodes.clone(),
            };
            let Ok(infos) = graph.infer() else { continue };
            let o = infos.last().unwrap();
            let feats = o.shape.c * o.shape.h * o.shape.w;
            let mut nodes = nodes;
            nodes.push(linear("fc", "flat", feats, out));
            let (p, px) = build(Shape::new(1, hw, hw), nodes, b, rng.random_range(0..1000));
            let ds = check_program(&format!("random case {ran} (B = {b})"), &p, &px, b);
            kinds[0] |= ds.iter().any(|d| d.masked);
            kinds[1] |= ds.iter().any(|d| d.diagonal);
            kinds[2] |= ds.iter().any(|d| d.kernel == 3 && d.stride == 2);
            ran += 1;
        }
        assert_eq!(
            kinds, [true; 3],
            "masked, depthwise and strided 3×3 covered"
        );
    });
}

/// Area of the ConvUnit alone: yosys `synth_ice40 -dsp` (flattened) of `conv_unit::verilog(2)`;
/// prints LUT4 / FF / carry / EBR / MAC16 and keeps `top.v` in `CONV_AREA_DIR` if set.
/// `#[ignore]`d (~2 min):
/// `cargo test --release -p unibit-hw --test net_conv conv_unit_area -- --ignored --nocapture`
#[test]
#[ignore = "yosys synthesis of the conv unit, ~2 min: run with --ignored"]
fn conv_unit_area() {
    if !have_tool("yosys") {
        eprintln!("\n!!!!!!!! SKIPPING: yosys missing; area NOT measured !!!!!!!!\n");
        return;
    }
    big_stack(|| {
        let tmp = tempfile::tempdir().unwrap();
        let dir = std::env::var_os("CONV_AREA_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| tmp.path().to_path_buf());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("top.v"), conv_unit::verilog(2)).unwrap();
        let script = "read_verilog top.v; synth_ice40 -dsp -top top; tee -q -o stat.txt stat";
        let st = std::process::Command::new("yosys")
            .args(["-q", "-p", script])
            .current_dir(&dir)
            .status()
            .unwrap();
        assert!(st.success(), "yosys failed");
        let text = std::fs::read_to_string(dir.join("stat.txt")).unwrap();
        let count = |pre: &str| -> u64 {
            text.lines()
                .filter_map(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    match f.as_slice() {
                        [c, n] if c.starts_with(pre) => n.parse::<u64>().ok(),
                        _ => None,
                    }
                })
                .sum()
        };
        let (lut, ff) = (count("SB_LUT4"), count("SB_DFF"));
        let (carry, ebr, mac) = (count("SB_CARRY"), count("SB_RAM40_4K"), count("SB_MAC16"));
        eprintln!("ConvUnit (B = 2): LUT4 {lut}, FF {ff}, carry {carry}, EBR {ebr}, MAC16 {mac}");
        assert!(lut > 0, "no LUT4 in the stat");
    });
}

/// The body's narrowed requantizer lane against the contract's `requantize`: extremes of
/// dot, bias, M and S for all three kinds, and seeded random cases. U8 / I8 give the result
/// byte (bits 31:8 zero), I32 the full word; every value leaves 6 cycles after it enters with
/// its address.
#[test]
fn conv_requant_matches_contract() {
    use rand::{Rng, SeedableRng};
    use unibit_core::arith::{requantize, ActKind, Requant};
    use unibit_hw::model::RowParams;
    use unibit_hw::rtl::net::conv_requant::ConvRequant;
    let mut cases = vec![];
    for dot in [
        (1 << 30) - 1,
        -(1 << 30) + 1,
        0,
        -1,
        1,
        255,
        256,
        127,
        128,
        -128,
        -129,
    ] {
        for bias in [(1 << 30) - 1, -(1 << 30) + 1, 0, -3] {
            for (m, s) in [
                (32767, 47),
                (32767, 0),
                (0, 0),
                (1, 1),
                (12345, 20),
                (1, 0),
                (3, 2),
            ] {
                cases.push((dot, bias, m, s));
            }
        }
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    for _ in 0..3000 {
        let mag = 1i32 << rng.random_range(1..=30);
        cases.push((
            rng.random_range(-mag..mag),
            rng.random_range(-(1 << 20)..(1 << 20)),
            rng.random_range(0..(1u32 << 15)),
            rng.random_range(0..=47u32),
        ));
    }
    let mut all = vec![];
    for &(dot, bias, m, s) in &cases {
        for kind in [ActKind::U8, ActKind::I8, ActKind::I32] {
            let rp = RowParams {
                bias,
                requant: Requant::new(m, s).unwrap(),
                kind,
            };
            all.push((dot, rp));
        }
    }
    let mut u = ConvRequant::default();
    u.connect_all();
    let mut got = vec![];
    for t in 0..all.len() + 6 {
        if let Some((dot, p)) = all.get(t) {
            u.in_valid.next = true;
            u.in_addr.next = bits(t as u64 % 4);
            u.in_dot.next = bits(*dot as u32 as u64);
            u.in_param.next = bits(p.word());
        } else {
            u.in_valid.next = false;
        }
        unibit_hw::rtl::sim::tick(&mut u, |u| &mut u.clock);
        if u.out_valid.val() {
            assert_eq!(u.out_addr.val().index(), got.len() % 4, "address");
            assert_eq!(t, got.len() + 5, "latency");
            got.push(u.out_value.val().to_u64() as u32);
        }
    }
    assert_eq!(got.len(), all.len());
    for ((dot, p), g) in all.iter().zip(&got) {
        let want = requantize(*dot as i64, p.bias, p.requant, p.kind);
        let want = match p.kind {
            ActKind::I32 => want as u32,
            _ => want as u32 & 0xff,
        };
        assert_eq!(*g, want, "dot {dot}, {p:?}");
    }
}

/// The same lane as the element-wise unit uses it (docs/engine.md decision 8): pair mode
/// against the contract's `requantize_add` and conv mode with bias 0 against
/// `requantize_pool`, for every output kind (i32: the low byte of the i32 clamp, kind 3),
/// over the whole 6-bit shift field (S ≥ 48 gives 0) and both operand signs. `out_ext`
/// follows its request through the 6 stages.
#[test]
fn shared_lane_pair_and_pool_modes_match_contract() {
    use rand::{Rng, SeedableRng};
    use unibit_core::arith::{requantize_add, requantize_pool, ActKind, Requant};
    use unibit_hw::rtl::net::conv_requant::ConvRequant;
    // (pair, a or Σ, b, ma, mb, S)
    let mut cases: Vec<(bool, i32, i32, u32, u32, u32)> = vec![];
    let ops = [-256, -255, -129, -128, -1, 0, 1, 127, 128, 255];
    for &a in &ops {
        for &b in &ops {
            for (ma, mb, s) in [(32767, 32767, 0), (32767, 1, 7), (1, 32767, 15), (0, 9, 47)] {
                cases.push((true, a, b, ma, mb, s));
            }
        }
    }
    let sums = [
        -(1 << 24),
        (1 << 24) - 1,
        -1,
        0,
        1,
        65535,
        65536,
        -65536,
        -65537,
    ];
    for &x in &sums {
        for (m, s) in [(32767, 0), (32767, 23), (1, 1), (12345, 40), (32767, 47)] {
            cases.push((false, x, 0, m, 0, s));
        }
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    for _ in 0..1500 {
        let s = rng.random_range(0..64u32);
        let (ma, mb) = (
            rng.random_range(0..1u32 << 15),
            rng.random_range(0..1u32 << 15),
        );
        cases.push((
            true,
            rng.random_range(-256..256),
            rng.random_range(-256..256),
            ma,
            mb,
            s,
        ));
        cases.push((false, rng.random_range(-(1 << 24)..1 << 24), 0, ma, 0, s));
    }
    let kinds = [(ActKind::U8, 0u64), (ActKind::I8, 1), (ActKind::I32, 3)];
    let mut all = vec![];
    for &c in &cases {
        for k in kinds {
            all.push((c, k));
        }
    }
    let mut u = ConvRequant::default();
    u.connect_all();
    let mut got = vec![];
    for t in 0..all.len() + 6 {
        if let Some(&((pair, a, b, ma, mb, s), (_, code))) = all.get(t) {
            let dot = if pair {
                (a as u32 & 0xffff) | ((b as u32 & 0xffff) << 16)
            } else {
                a as u32
            };
            u.in_valid.next = true;
            u.in_ext.next = t % 3 != 0;
            u.in_addr.next = bits(t as u64 % 4);
            u.in_dot.next = bits(dot as u64);
            u.in_pair.next = pair;
            u.in_m2.next = bits(mb as u64);
            u.in_param.next = bits(((ma as u64) << 32) | ((s as u64) << 47) | (code << 53));
        } else {
            u.in_valid.next = false;
        }
        unibit_hw::rtl::sim::tick(&mut u, |u| &mut u.clock);
        if u.out_valid.val() {
            let n = got.len();
            assert_eq!(u.out_addr.val().index(), n % 4, "address");
            assert_eq!(u.out_ext.val(), n % 3 != 0, "ext tag of result {n}");
            assert_eq!(t, n + 5, "latency");
            got.push(u.out_value.val().to_u64() as u32);
        }
    }
    assert_eq!(got.len(), all.len());
    for (((pair, a, b, ma, mb, s), (kind, _)), g) in all.iter().zip(&got) {
        let want = if *pair {
            requantize_add(*a, *b, *ma, *mb, *s, *kind)
        } else {
            let rq = Requant {
                multiplier: *ma,
                shift: *s,
            };
            requantize_pool(*a as i64, rq, *kind)
        };
        assert_eq!(
            *g,
            want as u32 & 0xff,
            "pair {pair}, a {a}, b {b}, ma {ma}, mb {mb}, S {s}, {kind:?}"
        );
    }
}
