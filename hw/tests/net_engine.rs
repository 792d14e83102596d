//! The NetEngine (sequencer + descriptor unit + element-wise unit + conv unit + SPRAM main
//! memory) against `unibit_core::engine::Machine`: programs of adds, max / average / global
//! pools and flattens, and small whole networks with convs and a linear layer, compiled from
//! graphs, are loaded through the host port with their input, run from `start` to `done`; the
//! memory (every buffer) and the cycle counter must equal the machine's and `engine::cycles`. Also: `stop_after` halts after record n with the counter at
//! Σ records ≤ n and the layer's buffer as the machine left it; the host port writes with
//! byte enables and reads back while idle and drops writes while busy; Conv records (no conv
//! and unknown op codes raise `fault`; the emitted Verilog under iverilog (with
//! yosys's SPRAM models) gives the same words and cycles, lints clean and keeps 4 SPRAMs.
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_hdl::prelude::*;
use unibit_core::engine::{compile, cycles, EngineShape, Machine, Memories, Program};
use unibit_core::graph::{Graph, Node, Op, Shape, INPUT};
use unibit_core::synthetic::{synthetic_from_graph, synthetic_images};
use unibit_core::Bits as WBits;
use unibit_hw::rtl::net::harness::{count, port, run_iverilog, yosys_cells, Port};
use unibit_hw::rtl::net::net_engine::{self, NetEngine};
use unibit_hw::rtl::net::without_blackboxes;
use unibit_hw::rtl::sim::tick;
use unibit_hw::verilog::{have_tool, lint};

const ICE40_SIM: &str = "/usr/share/yosys/ice40/cells_sim.v";
const RUN_TO_END: u64 = 0xffff;

fn node(name: &str, op: Op, inputs: &[&str], relu: bool) -> Node {
    Node {
        name: name.into(),
        op,
        inputs: inputs.iter().map(|s| s.to_string()).collect(),
        relu,
    }
}

/// A compiled program for the UP5K 8×8 and the machine after the image was loaded.
fn build(input: Shape, nodes: Vec<Node>, seed: u64) -> (Program, Machine) {
    let graph = Graph { input, nodes };
    graph.infer().expect("a valid graph");
    let bits = WBits::new(2).unwrap();
    let calib = synthetic_images(4, input, seed);
    let model = synthetic_from_graph(graph, bits, seed, calib.view()).unwrap();
    let program = compile(&model, &EngineShape::icebreaker(bits), &Memories::up5k()).unwrap();
    let img = synthetic_images(1, input, seed + 1);
    let pixels: Vec<u8> = img.iter().copied().collect();
    let mut m = Machine::new(&program);
    m.load_image(&pixels).unwrap();
    (program, m)
}

/// Words `[0, end)` hold the program, the weights and every buffer.
fn extent(p: &Program) -> usize {
    let t = p.plan.tensors.iter().map(|t| t.base + t.words()).max();
    t.unwrap_or(0).max(p.image.len())
}

/// Drives the rust-hdl engine one cycle at a time.
struct Tb {
    e: Box<NetEngine>,
}

impl Tb {
    fn new() -> Self {
        let mut e = Box::new(NetEngine::new(2));
        e.connect_all();
        Tb { e }
    }
    fn idle_inputs(&mut self, stop_after: u64) {
        self.e.start.next = false;
        self.e.stop_after.next = bits(stop_after);
        self.e.host_en.next = false;
        self.e.host_we.next = false;
    }
    fn tick(&mut self) {
        tick(self.e.as_mut(), |u| &mut u.clock);
    }
    fn write(&mut self, addr: usize, word: u64, be: u64) {
        self.e.host_addr.next = bits(addr as u64);
        self.e.host_wdata.next = bits(word);
        self.e.host_be.next = bits(be);
        self.e.host_en.next = true;
        self.e.host_we.next = true;
        self.tick();
        self.e.host_en.next = false;
        self.e.host_we.next = false;
    }
    fn read(&mut self, addr: usize) -> u64 {
        self.e.host_addr.next = bits(addr as u64);
        self.e.host_en.next = true;
        self.e.host_we.next = false;
        self.tick();
        self.e.host_en.next = false;
        self.e.host_rdata.val().to_u64()
    }
    /// `start`, then cycles until `done` (bounded); returns the cycles taken.
    fn run(&mut self, stop_after: u64, limit: u64) -> u64 {
        self.idle_inputs(stop_after);
        self.e.start.next = true;
        self.tick();
        self.e.start.next = false;
        let mut n = 1;
        while !self.e.done.val() {
            assert!(n < limit, "no done after {limit} cycles");
            assert!(self.e.busy.val(), "busy fell before done");
            self.tick();
            n += 1;
        }
        assert!(!self.e.busy.val());
        n
    }
}

/// Loads the machine's memory (program, weights, input) through the host port.
fn load(tb: &mut Tb, m: &Machine, end: usize) {
    tb.idle_inputs(RUN_TO_END);
    for (a, &w) in m.main[..end].iter().enumerate() {
        if w != 0 {
            tb.write(a, w, 0xff);
        }
    }
}

/// Runs `program` on the engine and on the machine; memory and cycles must agree.
fn check(what: &str, program: &Program, m: Machine) {
    let m = check_extent(what, program, m, extent(program));
    let out = program.output();
    assert!(
        m.main[out.base..out.base + out.words()]
            .iter()
            .any(|&w| w != 0),
        "{what}: an all-zero output proves little"
    );
}

/// [`check`] over words `[0, end)`.
fn check_extent(what: &str, program: &Program, mut m: Machine, end: usize) -> Machine {
    let mut tb = Tb::new();
    load(&mut tb, &m, end);
    let want = m.run().unwrap();
    assert_eq!(want.cycles, cycles(program), "{what}: machine vs model");
    let taken = tb.run(RUN_TO_END, want.cycles + 50);
    assert!(!tb.e.fault.val(), "{what}: fault");
    let got = tb.e.cycles.val().to_u64();
    assert_eq!(got, want.cycles, "{what}: engine cycles vs machine");
    assert_eq!(
        taken,
        got + 1,
        "{what}: done rises one cycle after the last counted edge"
    );
    for a in 0..end {
        let w = tb.read(a);
        assert_eq!(
            w, m.main[a],
            "{what}: word {a}: engine {w:016x}, machine {:016x}",
            m.main[a]
        );
    }
    m
}

fn pool(name: &str, k: usize, s: usize, x: &str) -> Node {
    node(
        name,
        Op::MaxPool {
            kernel: k,
            stride: s,
        },
        &[x],
        false,
    )
}
fn avg(name: &str, k: usize, s: usize, x: &str) -> Node {
    node(
        name,
        Op::AvgPool {
            kernel: k,
            stride: s,
        },
        &[x],
        false,
    )
}
fn gap(name: &str, x: &str) -> Node {
    node(name, Op::GlobalAvgPool, &[x], false)
}
fn add(name: &str, a: &str, b: &str, relu: bool) -> Node {
    node(name, Op::Add, &[a, b], relu)
}

/// A chain: max pool, average pool, a signed add of two branches, global pool, flatten.
fn chain(c: usize, hw: usize) -> (Shape, Vec<Node>) {
    (
        Shape::new(c, hw, hw),
        vec![
            pool("mp", 2, 1, INPUT),
            avg("ap", 3, 1, "mp"),
            pool("mp2", 3, 1, "mp"),
            add("sum", "ap", "mp2", false),
            avg("ap2", 2, 2, "sum"),
            add("sum2", "ap2", "ap2", true),
            gap("gap", "sum2"),
            node("flat", Op::Flatten, &["gap"], false),
        ],
    )
}

#[test]
fn single_layers_match_the_machine_words_and_cycles() {
    let cases: Vec<(&str, Shape, Vec<Node>)> = vec![
        (
            "add u8",
            Shape::new(5, 6, 6),
            vec![add("a", INPUT, INPUT, true)],
        ),
        (
            "add i8",
            Shape::new(12, 5, 5),
            vec![add("a", INPUT, INPUT, false)],
        ),
        (
            "max 2/2",
            Shape::new(12, 7, 7),
            vec![pool("p", 2, 2, INPUT)],
        ),
        ("max 3/1", Shape::new(3, 6, 5), vec![pool("p", 3, 1, INPUT)]),
        ("max 1/1", Shape::new(9, 5, 5), vec![pool("p", 1, 1, INPUT)]),
        ("avg 2/2", Shape::new(12, 6, 6), vec![avg("p", 2, 2, INPUT)]),
        ("avg 3/2", Shape::new(7, 7, 7), vec![avg("p", 3, 2, INPUT)]),
        ("avg 1/1", Shape::new(4, 5, 5), vec![avg("p", 1, 1, INPUT)]),
        ("gap 7x7", Shape::new(16, 7, 7), vec![gap("g", INPUT)]),
        (
            "gap 1x1",
            Shape::new(9, 5, 5),
            vec![pool("p", 5, 1, INPUT), gap("g", "p")],
        ),
        (
            "gap 1x2",
            Shape::new(3, 5, 6),
            vec![pool("p", 5, 1, INPUT), gap("g", "p")],
        ),
        (
            "flatten",
            Shape::new(3, 5, 5),
            vec![node("f", Op::Flatten, &[INPUT], false)],
        ),
    ];
    for (i, (what, input, nodes)) in cases.into_iter().enumerate() {
        let (program, m) = build(input, nodes, 40 + i as u64);
        check(what, &program, m);
    }
}

#[test]
fn a_chain_of_element_wise_layers_matches_the_machine() {
    let (input, nodes) = chain(11, 8);
    let (program, m) = build(input, nodes, 7);
    assert!(program.descriptors.len() >= 9);
    check("chain", &program, m);
}

#[test]
fn stop_after_halts_after_record_n_with_its_buffer_and_partial_count() {
    let (input, nodes) = chain(6, 6);
    let (program, m0) = build(input, nodes, 11);
    let end = extent(&program);
    let mut m = m0.clone();
    let mut snapshots = vec![];
    let per = m.run_with(|_, mm| snapshots.push(mm.main.clone())).unwrap();
    let records = per.len() - 1;
    for n in 0..records {
        let mut tb = Tb::new();
        load(&mut tb, &m0, end);
        let want: u64 = per[..=n].iter().sum();
        tb.run(n as u64, want + 50);
        assert_eq!(tb.e.cycles.val().to_u64(), want, "stop after {n}");
        assert!(!tb.e.fault.val());
        let t = &program.plan.tensors[n + 1];
        let snap = &snapshots[n];
        for (a, &w) in snap.iter().enumerate().skip(t.base).take(t.words()) {
            assert_eq!(tb.read(a), w, "stop after {n}: word {a}");
        }
        // The counter stays frozen while idle.
        tb.idle_inputs(RUN_TO_END);
        for _ in 0..3 {
            tb.tick();
        }
        assert_eq!(tb.e.cycles.val().to_u64(), want);
        assert!(tb.e.done.val() && !tb.e.busy.val());
    }
}

#[test]
fn host_port_writes_with_byte_enables_and_reads_back_while_idle() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut tb = Tb::new();
    tb.idle_inputs(RUN_TO_END);
    let addrs: Vec<usize> = (0..40)
        .map(|_| rng.random_range(4..16_384))
        .chain([16_383])
        .collect();
    let mut model = std::collections::HashMap::new();
    for _ in 0..3 {
        for &a in &addrs {
            let (w, be) = (rng.random::<u64>(), rng.random_range(0..256u64));
            let mask = (0..8)
                .filter(|l| be >> l & 1 == 1)
                .fold(0u64, |m, l| m | 0xff << (8 * l));
            let old: &mut u64 = model.entry(a).or_insert(0);
            *old = (*old & !mask) | (w & mask);
            tb.write(a, w, be);
        }
    }
    for &a in &addrs {
        assert_eq!(tb.read(a), model[&a], "word {a}");
    }
    // Address bits above the 14-bit depth wrap.
    assert_eq!(tb.read(addrs[0] + 16_384), model[&addrs[0]]);
    // While busy (an End-only program runs 5 cycles), host writes are dropped.
    tb.write(0, 0, 0xff);
    tb.idle_inputs(RUN_TO_END);
    tb.e.start.next = true;
    tb.e.host_addr.next = bits(addrs[1] as u64);
    tb.e.host_wdata.next = bits(!model[&addrs[1]]);
    tb.e.host_be.next = bits(0xff);
    tb.tick();
    tb.e.start.next = false;
    tb.e.host_en.next = true;
    tb.e.host_we.next = true;
    while !tb.e.done.val() {
        tb.tick();
    }
    tb.e.host_we.next = false;
    assert_eq!(tb.e.cycles.val().to_u64(), 5, "End: fetch 4 + decode 1");
    assert_eq!(tb.read(addrs[1]), model[&addrs[1]]);
}

/// Patches record `n`'s op code in a copy of the machine's memory.
fn with_op(m: &Machine, n: usize, op: u64) -> Machine {
    let mut m = m.clone();
    let w = &mut m.main[4 * n];
    *w = (*w & !0xf) | op;
    m
}

#[test]
fn conv_records_and_unknown_op_codes_fault() {
    let (input, nodes) = chain(6, 6);
    let (program, m) = build(input, nodes, 3);
    let end = extent(&program);
    // Unknown op codes at records 0, 2 and 1.
    for (n, op) in [(0usize, 6u64), (2, 7), (1, 15)] {
        let mut tb = Tb::new();
        load(&mut tb, &with_op(&m, n, op), end);
        let mut mm = m.clone();
        let per = mm.run_with(|_, _| {}).unwrap();
        let want: u64 = per[..n].iter().sum::<u64>() + 5;
        tb.run(RUN_TO_END, want + 50);
        assert!(tb.e.fault.val(), "op {op} at record {n}");
        assert_eq!(tb.e.cycles.val().to_u64(), want, "op {op}: halts at decode");
    }
    // A fault is cleared by the next start.
    let mut tb = Tb::new();
    load(&mut tb, &with_op(&m, 0, 9), end);
    tb.run(RUN_TO_END, 50);
    assert!(tb.e.fault.val());
    tb.write(0, m.main[0], 0xff);
    let mut mm = m.clone();
    let c = mm.run().unwrap().cycles;
    tb.run(RUN_TO_END, c + 50);
    assert!(!tb.e.fault.val());
    assert_eq!(tb.e.cycles.val().to_u64(), c);
}

fn conv(name: &str, x: &str, cin: usize, cout: usize, k: usize, s: usize, relu: bool) -> Node {
    let op = Op::Conv2d {
        in_channels: cin,
        out_channels: cout,
        kernel: k,
        stride: s,
        padding: k / 2,
        groups: 1,
        batch_norm: false,
    };
    node(name, op, &[x], relu)
}

/// A tiny residual network: expanded 3×3 stem, max pool, a 3×3 conv block with an add, a
/// strided 1×1 conv, global pool and a linear layer to i32 logits.
fn tiny_net() -> (Shape, Vec<Node>) {
    (
        Shape::new(1, 8, 8),
        vec![
            conv("stem", INPUT, 1, 8, 3, 1, true),
            pool("mp", 2, 2, "stem"),
            conv("c1", "mp", 8, 8, 3, 1, true),
            conv("c2", "c1", 8, 8, 3, 1, false),
            add("res", "c2", "mp", true),
            // Signed outputs after an add: a lane mode left over from the add would show here.
            conv("down", "res", 8, 12, 1, 2, false),
            gap("gap", "down"),
            node(
                "fc",
                Op::Linear {
                    in_features: 12,
                    out_features: 10,
                },
                &["gap"],
                false,
            ),
        ],
    )
}

#[test]
fn a_tiny_network_with_convs_runs_end_to_end_bit_exact_with_exact_cycles() {
    let (input, nodes) = tiny_net();
    let (program, m) = build(input, nodes, 9);
    check("tiny net", &program, m.clone());
    let mut mm = m;
    let run = mm.run().unwrap();
    assert!(run.logits.iter().any(|&v| v != 0), "{:?}", run.logits);
}

/// Extreme parameter words (multipliers 0 / 1 / 2^15 − 1, shifts 0 … 63 including ≥ 48),
/// output kinds U8 / I8 / I32, signed and unsigned inputs and random bytes in every lane:
/// the engine's requantizer lanes, accumulators and comparators equal the machine's.
#[test]
fn element_wise_lanes_match_the_machine_at_extreme_parameters() {
    let mut rng = ChaCha8Rng::seed_from_u64(77);
    let programs = [
        (
            "add",
            build(Shape::new(16, 5, 5), vec![add("a", INPUT, INPUT, false)], 1),
        ),
        (
            "avg",
            build(Shape::new(16, 6, 6), vec![avg("p", 2, 2, INPUT)], 2),
        ),
        ("gap", build(Shape::new(16, 5, 5), vec![gap("g", INPUT)], 3)),
        (
            "gap1",
            build(
                Shape::new(16, 5, 5),
                vec![pool("p", 5, 1, INPUT), gap("g", "p")],
                4,
            ),
        ),
        (
            "max",
            build(Shape::new(16, 6, 6), vec![pool("p", 3, 1, INPUT)], 5),
        ),
    ];
    let pick = |rng: &mut ChaCha8Rng, v: &[u64], bits: u32| {
        if rng.random_bool(0.6) {
            v[rng.random_range(0..v.len())]
        } else {
            rng.random_range(0..1u64 << bits)
        }
    };
    for round in 0..8 {
        for (what, (program, m0)) in &programs {
            let n = program.descriptors.len() - 2; // the layer under test
            let mut m = m0.clone();
            let end = extent(program);
            let (ma, mb) = (
                pick(&mut rng, &[0, 1, 32767], 15),
                pick(&mut rng, &[0, 1, 32767], 15),
            );
            let shift = pick(&mut rng, &[0, 1, 20, 40, 47, 48, 63], 6);
            let d3 = m.main[4 * n + 3];
            let param = (d3 >> 48) as usize;
            if *what != "max" {
                m.main[param] = ma | mb << 15 | shift << 30;
            }
            let kind = rng.random_range(0..3u64);
            let (sa, sb) = (rng.random_bool(0.5) as u64, rng.random_bool(0.5) as u64);
            let w0 = &mut m.main[4 * n];
            *w0 = (*w0 & !0xf0) | kind << 4 | sa << 6 | sb << 7;
            // Input B of the add: a region of its own past the buffers.
            let b_base = end as u64;
            m.main[4 * n + 3] = (d3 & !(0xffff << 16)) | b_base << 16;
            let t = &program.plan.tensors[n];
            for a in (t.base..t.base + t.words()).chain(end..end + t.words()) {
                m.main[a] = rng.random();
            }
            let what = format!("{what} round {round}: ma {ma} mb {mb} S {shift} kind {kind}");
            check_extent(&what, program, m, end + t.words());
        }
    }
}

const INPUTS: [Port; 7] = [
    port("start", 1),
    port("stop_after", 16),
    port("host_addr", 16),
    port("host_we", 1),
    port("host_be", 8),
    port("host_wdata", 64),
    port("host_en", 1),
];
const OUTPUTS: [Port; 5] = [
    port("busy", 1),
    port("done", 1),
    port("cycles", 48),
    port("fault", 1),
    port("host_rdata", 64),
];

#[test]
fn verilog_runs_element_wise_layers_with_the_same_words_and_cycles() {
    let (input, nodes) = chain(9, 6);
    let (program, m0) = build(input, nodes, 21);
    verilog_matches("chain", &program, &m0);
}

#[test]
fn verilog_runs_the_tiny_network_with_the_same_words_and_cycles() {
    let (input, nodes) = tiny_net();
    let (program, m0) = build(input, nodes, 9);
    verilog_matches("tiny net", &program, &m0);
}

/// The engine's Verilog under iverilog runs `program` from the memory of `m0`: the cycle
/// counter and every word of `[0, extent)` equal the machine's.
fn verilog_matches(what: &str, program: &Program, m0: &Machine) {
    if !have_tool("iverilog") || !std::path::Path::new(ICE40_SIM).exists() {
        eprintln!(
            "\n!!!!!!!! SKIPPING: iverilog or {ICE40_SIM} missing; Verilog NOT checked !!!!!!!!\n"
        );
        return;
    }
    let end = extent(program);
    let mut m = m0.clone();
    let want = m.run().unwrap();
    // Steps: load every word of [0, end) (SPRAM contents are undefined at power-up), start,
    // run, read back [0, end).
    let idle = |addr: usize| vec![0, RUN_TO_END as u128, addr as u128, 0, 0, 0, 0];
    let mut steps: Vec<Vec<u128>> = (0..end)
        .map(|a| {
            vec![
                0,
                RUN_TO_END as u128,
                a as u128,
                1,
                0xff,
                m0.main[a] as u128,
                1,
            ]
        })
        .collect();
    let run_at = steps.len();
    let mut s = idle(0);
    s[0] = 1;
    steps.push(s);
    steps.extend((0..want.cycles + 2).map(|_| idle(0)));
    let read_at = steps.len();
    steps.extend((0..end).map(|a| {
        let mut s = idle(a);
        s[6] = 1;
        s
    }));
    let dir = tempfile::tempdir().unwrap();
    let v = without_blackboxes(&net_engine::verilog(2));
    let rows = run_iverilog(
        dir.path(),
        &v,
        &["-DNO_ICE40_DEFAULT_ASSIGNMENTS", ICE40_SIM],
        &INPUTS,
        &OUTPUTS,
        &steps,
    )
    .unwrap();
    let done_at = (run_at..read_at)
        .find(|&i| rows[i][1] == Some(1))
        .expect("done in the Verilog run");
    assert_eq!(
        done_at - run_at,
        want.cycles as usize,
        "done one cycle after the count"
    );
    assert_eq!(
        rows[done_at][2],
        Some(want.cycles as u128),
        "Verilog cycle counter"
    );
    assert_eq!(rows[done_at][3], Some(0), "no fault");
    for a in 0..end {
        assert_eq!(
            rows[read_at + a][4],
            Some(m.main[a] as u128),
            "{what}: Verilog word {a}"
        );
    }
}

#[test]
fn verilog_is_lint_clean() {
    let dir = tempfile::tempdir().unwrap();
    if have_tool("verilator") {
        lint(dir.path(), &net_engine::verilog(2)).unwrap();
    } else {
        eprintln!("\n!!!!!!!! SKIPPING: verilator missing; lint NOT checked !!!!!!!!\n");
    }
}

/// About two minutes of yosys on 2 cores, so not in the default run.
#[test]
#[ignore]
fn synth_ice40_keeps_four_sprams() {
    let v = net_engine::verilog(2);
    let dir = tempfile::tempdir().unwrap();
    if have_tool("yosys") {
        let cells = yosys_cells(dir.path(), "yosys", &v, "synth_ice40 -top top").unwrap();
        assert_eq!(count(&cells, "SB_SPRAM256KA"), 4, "{cells:?}");
    } else {
        eprintln!("\n!!!!!!!! SKIPPING: yosys missing; synth_ice40 NOT checked !!!!!!!!\n");
    }
}

/// The demo resnet8 (width 0.8594, channel multiple 8, B = 2; 251,381 cycles) through the
/// rust-hdl engine, bit-exact with exact cycles. Minutes of simulation, so `--ignored`:
/// `cargo test --release -p unibit-hw --test net_engine -- --ignored --nocapture resnet8`.
#[test]
#[ignore]
fn demo_resnet8_end_to_end() {
    use unibit_core::synthetic::synthetic_model;
    use unibit_core::{Family, FamilyConfig};
    let cfg = FamilyConfig {
        channel_multiple: 8,
        ..FamilyConfig::fashion_mnist("resnet8".parse::<Family>().unwrap(), 0.8594)
    };
    let bits = WBits::new(2).unwrap();
    let calib = synthetic_images(8, cfg.input, 3);
    let model = synthetic_model(&cfg, bits, 3, calib.view()).unwrap();
    let program = compile(&model, &EngineShape::icebreaker(bits), &Memories::up5k()).unwrap();
    let img = synthetic_images(1, cfg.input, 4);
    let pixels: Vec<u8> = img.iter().copied().collect();
    let mut m = Machine::new(&program);
    m.load_image(&pixels).unwrap();
    let t = std::time::Instant::now();
    let m = check_extent("resnet8", &program, m, extent(&program));
    let logits: Vec<i32> = m.logits();
    println!(
        "resnet8 demo: {} cycles (engine = machine = model), logits {logits:?}, {:.0} s simulated",
        cycles(&program),
        t.elapsed().as_secs_f64()
    );
}
