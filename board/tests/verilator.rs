//! The Verilator virtual boards running the board top (HostSide + NetEngine, the Verilog the
//! iCEBreaker gets with yosys's SPRAM model, and the ULX3S's with its block-RAM main memory at
//! 100 MHz, 33 clocks per bit) end to end over the harness's PTY: INFO names
//! the real engine, the driver loads a compiled model and classifies images, every logit
//! equal to the integer reference and every cycle count equal to `engine::cycles`. The
//! `--ignored` figure test measures the load time of a 64 KiB model at the default 3 Mbaud
//! in simulated board time.

use std::path::{Path, PathBuf};
use std::time::Instant;
use unibit_board::driver::{self, Expect, Images};
use unibit_board::link::{Link, LinkOptions};
use unibit_board::target::{hex8, Target, MEM_MAIN, MEM_REGS};
use unibit_board::verilator::VerilatorBoard;
use unibit_core::bundle::{self, Accuracy, Bundle, ModelInfo};
use unibit_core::engine::compile;
use unibit_core::graph::{Graph, Node, Op, Shape, INPUT};
use unibit_core::progress::Silent;
use unibit_core::synthetic::{synthetic_from_graph, synthetic_images};
use unibit_hw::rtl::net::board_top::{board_simulation_for, ICE40_CELLS_SIM};
use unibit_hw::rtl::net::main_memory::MainKind;

const BAUD: u32 = 3_000_000;
const CLOCK: u32 = 24_000_000;
/// Bytes per WRITE/READ step, as the driver's load.
const STEP: usize = 8 * 1024;

fn start() -> Option<VerilatorBoard> {
    start_board("icebreaker")
}

/// The virtual board `board` (its driver target's clock and main memory) at B = 2.
fn start_board(board: &str) -> Option<VerilatorBoard> {
    if !unibit_hw::verilog::have_tool("verilator") {
        eprintln!("verilator not installed: virtual board test skipped");
        return None;
    }
    if !std::path::Path::new(ICE40_CELLS_SIM).exists() {
        eprintln!("{ICE40_CELLS_SIM} (yosys) missing: virtual board test skipped");
        return None;
    }
    let t = Target::named(board, 2, None, None).unwrap();
    let main = MainKind::for_board(board, 2).unwrap();
    let (cfg, v) =
        board_simulation_for(main, 2, t.clock_hz, BAUD, t.config_hash().unwrap()).unwrap();
    Some(VerilatorBoard::start(&v, t.clock_hz, cfg.clocks_per_bit, &Silent).unwrap())
}

fn link(b: &VerilatorBoard) -> Link<Box<dyn serialport::SerialPort>> {
    let (path, port) = unibit_board::port::open(&b.path, BAUD).unwrap();
    let opts = LinkOptions {
        time_scale: b.time_scale(),
        ..Default::default()
    };
    Link::new(port, &path, BAUD, opts)
}

/// Write `parts` in driver-sized steps, read them back, compare, commit `id`.
fn load(l: &mut Link<Box<dyn serialport::SerialPort>>, parts: &[(u8, &[u8])], id: [u8; 8]) {
    for (mem, data) in parts {
        for (i, block) in data.chunks(STEP).enumerate() {
            l.write(*mem, (i * STEP) as u32, block).unwrap();
        }
    }
    for (mem, data) in parts {
        for (i, block) in data.chunks(STEP).enumerate() {
            let back = l.read(*mem, (i * STEP) as u32, block.len()).unwrap();
            assert!(back == block, "memory {mem} block {i} read back differs");
        }
    }
    l.commit(id).unwrap();
}

fn node(name: &str, op: Op, inputs: &[&str], relu: bool) -> Node {
    Node {
        name: name.into(),
        op,
        inputs: inputs.iter().map(|s| s.to_string()).collect(),
        relu,
    }
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

/// The tiny residual network of hw/tests/net_engine.rs (expanded 3×3 stem, max pool, a 3×3
/// conv block with an add, a strided 1×1 conv, global pool, linear) as a bundle.
fn tiny_bundle(dir: &Path) -> (PathBuf, Shape) {
    let input = Shape::new(1, 8, 8);
    let nodes = vec![
        conv("stem", INPUT, 1, 8, 3, 1, true),
        node(
            "mp",
            Op::MaxPool {
                kernel: 2,
                stride: 2,
            },
            &["stem"],
            false,
        ),
        conv("c1", "mp", 8, 8, 3, 1, true),
        conv("c2", "c1", 8, 8, 3, 1, false),
        node("res", Op::Add, &["c2", "mp"], true),
        conv("down", "res", 8, 12, 1, 2, true),
        node("gap", Op::GlobalAvgPool, &["down"], false),
        node(
            "fc",
            Op::Linear {
                in_features: 12,
                out_features: 10,
            },
            &["gap"],
            false,
        ),
    ];
    let t = Target::named("icebreaker", 2, None, None).unwrap();
    let calib = synthetic_images(4, input, 9);
    let model =
        synthetic_from_graph(Graph { input, nodes }, t.shape.bits, 9, calib.view()).unwrap();
    let path = dir.join("tiny");
    let b = Bundle {
        model,
        info: ModelInfo {
            source: "synthetic".into(),
            ..ModelInfo::default()
        },
        accuracy: Accuracy::default(),
        golden: None,
    };
    bundle::write(&path, &b).unwrap();
    (path, input)
}

#[test]
fn board_top_answers_info_and_classifies_bit_exact_with_exact_cycles() {
    info_and_classify("icebreaker");
}

#[test]
fn ulx3s_board_top_answers_info_and_classifies_bit_exact_with_exact_cycles() {
    info_and_classify("ulx3s-25f");
}

fn info_and_classify(board: &str) {
    let Some(b) = start_board(board) else { return };
    let mut l = link(&b);
    let t = Target::named(board, 2, None, None).unwrap();
    let info = l.info().unwrap();
    assert_eq!(
        (info.bits, info.rows, info.cols, info.clock_hz, info.baud),
        (2, 8, 8, t.clock_hz, BAUD)
    );
    assert_eq!(info.config_hash, t.config_hash().unwrap());
    let mems: Vec<(u8, u32)> = info.memories.iter().map(|m| (m.id, m.bytes)).collect();
    assert_eq!(
        mems,
        vec![(MEM_MAIN, t.main_bytes().unwrap()), (MEM_REGS, 64)]
    );
    assert!(!info.model_loaded());
    let dir = tempfile::tempdir().unwrap();
    let (bundle_dir, input) = tiny_bundle(dir.path());
    let first = driver::load(&bundle_dir, &mut l, &Expect::default(), &Silent).unwrap();
    assert!(!first.skipped);
    assert_eq!(first.bytes_written, first.image_bytes + 64);
    assert_eq!(
        hex8(&l.info().unwrap().model_id),
        first.model_id,
        "committed"
    );
    let images = Images {
        pixels: synthetic_images(3, input, 10),
        labels: None,
        source: "synthetic".into(),
    };
    let r = driver::classify(&bundle_dir, &mut l, &images, &Silent).unwrap();
    assert_eq!(r.images, 3);
    assert_eq!(r.reference_equal, 3, "{:?}", r.mismatches);
    let model = bundle::read_with(&bundle_dir, false).unwrap().model;
    let p = compile(&model, &t.shape, &t.memories).unwrap();
    assert_eq!(r.cycles_expected, unibit_core::engine::cycles(&p));
    assert_eq!(r.cycles, vec![r.cycles_expected; 3], "board cycle counter");
    assert!(r.exact());
    let again = driver::load(&bundle_dir, &mut l, &Expect::default(), &Silent).unwrap();
    assert!(again.skipped, "the board keeps the committed model id");
}

#[test]
#[ignore = "figure: 64 KiB model load at 3 Mbaud in simulated time (a few seconds)"]
fn figure_model_load_time_64k() {
    let Some(mut b) = start() else { return };
    let mut l = link(&b);
    let image: Vec<u8> = (0..64 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let regs = vec![0u8; 64];
    l.info().unwrap();
    let (c0, t0, w0) = (
        b.cycles().unwrap(),
        Instant::now(),
        l.bytes_sent + l.bytes_received,
    );
    load(
        &mut l,
        &[(MEM_MAIN, &image), (MEM_REGS, &regs)],
        *b"64k-load",
    );
    let (c1, wall) = (b.cycles().unwrap(), t0.elapsed().as_secs_f64());
    let wire = l.bytes_sent + l.bytes_received - w0;
    let sim_s = (c1 - c0) as f64 / CLOCK as f64;
    println!(
        "64 KiB model load (write + read back + commit, 8 KiB steps) on the virtual \
         iCEBreaker at {BAUD} baud, {CLOCK} Hz: {} board cycles = {:.3} s simulated board time \
         (host turnaround excluded); {wire} bytes on the wire = {:.3} s at the baud rate; \
         wall {wall:.2} s, {} retries (simulation {:.2} M cycles/s, time scale {:.1})",
        c1 - c0,
        sim_s,
        wire as f64 * 10.0 / BAUD as f64,
        l.retries,
        b.cycles_per_s / 1e6,
        b.time_scale()
    );
    assert!(
        sim_s >= wire as f64 * 10.0 / BAUD as f64,
        "board time covers the wire time"
    );
}

/// The demo-shaped resnet8 (`unibit_core::synthetic`, B = 2, width 0.8594, channel multiple
/// 8) on the virtual board: load, classify a few images bit-exact with exact cycles, and the
/// throughput in simulated board time (engine + RUN's bytes on the wire at 3 Mbaud; host
/// turnaround excluded) against the engine-only bound clock / engine::cycles.
#[test]
#[ignore = "figure: demo resnet8 on the virtual board (a minute or more)"]
fn figure_demo_resnet8_images_per_second() {
    use unibit_core::family::FamilyConfig;
    let Some(mut b) = start() else { return };
    let mut l = link(&b);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = FamilyConfig::fashion_mnist("resnet8".parse().unwrap(), 0.8594);
    cfg.channel_multiple = 8;
    let t = Target::named("icebreaker", 2, None, None).unwrap();
    let calib = synthetic_images(8, cfg.input, 3);
    let model =
        unibit_core::synthetic::synthetic_model(&cfg, t.shape.bits, 3, calib.view()).unwrap();
    let path = dir.path().join("resnet8");
    let bun = Bundle {
        model,
        info: ModelInfo {
            source: "synthetic".into(),
            ..ModelInfo::default()
        },
        accuracy: Accuracy::default(),
        golden: None,
    };
    bundle::write(&path, &bun).unwrap();
    let (c0, t0) = (b.cycles().unwrap(), Instant::now());
    let ld = driver::load(&path, &mut l, &Expect::default(), &Silent).unwrap();
    let (c1, t1) = (b.cycles().unwrap(), Instant::now());
    const N: usize = 4;
    let images = Images {
        pixels: synthetic_images(N, cfg.input, 4),
        labels: None,
        source: "synthetic".into(),
    };
    let r = driver::classify(&path, &mut l, &images, &Silent).unwrap();
    let c2 = b.cycles().unwrap();
    assert_eq!(r.reference_equal, N, "{:?}", r.mismatches);
    assert!(r.cycles_equal, "{:?} vs {}", r.cycles, r.cycles_expected);
    let per_image = (c2 - c1) as f64 / N as f64;
    let ips = CLOCK as f64 / per_image;
    let bound = CLOCK as f64 / r.cycles_expected as f64;
    println!(
        "demo resnet8 (B 2, width 0.8594, ch. multiple 8) on the virtual iCEBreaker, {CLOCK} Hz, \
         {BAUD} baud: load {} image bytes = {} board cycles ({:.3} s simulated, wall {:.1} s); \
         {N} images bit-exact, {} engine cycles each (= engine::cycles); {:.0} board cycles per \
         image with the link (RUN command + engine + reply; host turnaround excluded) = \
         {ips:.2} images/s; engine-only bound {bound:.2} images/s; ratio {:.3} \
         (classify wall {:.1} s, simulation {:.2} M cycles/s)",
        ld.image_bytes,
        c1 - c0,
        (c1 - c0) as f64 / CLOCK as f64,
        (t1 - t0).as_secs_f64(),
        r.cycles_expected,
        per_image,
        ips / bound,
        t1.elapsed().as_secs_f64(),
        b.cycles_per_s / 1e6
    );
    assert!(ips <= bound, "the link cannot beat the engine");
}
