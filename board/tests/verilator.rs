//! The Verilator virtual board of the **link-only build** (HostSide + SpramMain, no engine)
//! end to end: the driver's Link over the harness's PTY does INFO, loads a compiled model the
//! way `driver::load` does (write, read back, commit) and gets EngineFault for RUN, as a top
//! without an engine must answer. The `--ignored` figure test measures the load time of a
//! 64 KiB model at the default 3 Mbaud in simulated board time.

use std::time::Instant;
use unibit_board::link::{Link, LinkOptions};
use unibit_board::protocol::Status;
use unibit_board::target::{hash8, image_bytes, Registers, Target, MEM_MAIN, MEM_REGS};
use unibit_board::verilator::VerilatorBoard;
use unibit_board::Error;
use unibit_core::engine::compile;
use unibit_core::graph::{Graph, Node, Op, Shape, INPUT};
use unibit_core::progress::Silent;
use unibit_core::synthetic::{synthetic_from_graph, synthetic_images};
use unibit_hw::rtl::net::board_top::{
    link_only_config, link_only_verilog, with_spram_model, ICE40_CELLS_SIM,
};

const BAUD: u32 = 3_000_000;
const CLOCK: u32 = 24_000_000;
/// Bytes per WRITE/READ step, as the driver's load.
const STEP: usize = 8 * 1024;

fn start() -> Option<VerilatorBoard> {
    if !unibit_hw::verilog::have_tool("verilator") {
        eprintln!("verilator not installed: virtual board test skipped");
        return None;
    }
    if !std::path::Path::new(ICE40_CELLS_SIM).exists() {
        eprintln!("{ICE40_CELLS_SIM} (yosys) missing: virtual board test skipped");
        return None;
    }
    let cfg = link_only_config(2, CLOCK, BAUD);
    let v = with_spram_model(
        &link_only_verilog(&cfg),
        std::path::Path::new(ICE40_CELLS_SIM),
    )
    .unwrap();
    Some(VerilatorBoard::start(&v, CLOCK, cfg.clocks_per_bit, &Silent).unwrap())
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

#[test]
fn link_only_board_answers_info_loads_a_model_and_refuses_run() {
    let Some(b) = start() else { return };
    let mut l = link(&b);
    let info = l.info().unwrap();
    assert_eq!((info.bits, info.clock_hz, info.baud), (2, CLOCK, BAUD));
    assert_eq!(
        (info.rows, info.cols, info.config_hash),
        (0, 0, [0; 8]),
        "claims no engine"
    );
    let t = Target::named("icebreaker", 2, None, None).unwrap();
    let mems: Vec<(u8, u32)> = info.memories.iter().map(|m| (m.id, m.bytes)).collect();
    assert_eq!(
        mems,
        vec![(MEM_MAIN, t.main_bytes().unwrap()), (MEM_REGS, 64)]
    );
    assert!(!info.model_loaded());
    // A compiled model: expanded 3×3 stem, global pool, linear.
    let input = Shape { c: 1, h: 12, w: 12 };
    let node = |name: &str, op: Op, inp: &str| Node {
        name: name.into(),
        op,
        inputs: vec![inp.into()],
        relu: false,
    };
    let graph = Graph {
        input,
        nodes: vec![
            node(
                "stem",
                Op::Conv2d {
                    in_channels: 1,
                    out_channels: 8,
                    kernel: 3,
                    stride: 1,
                    padding: 1,
                    groups: 1,
                    batch_norm: false,
                },
                INPUT,
            ),
            node("gap", Op::GlobalAvgPool, "stem"),
            node("flat", Op::Flatten, "gap"),
            node(
                "fc",
                Op::Linear {
                    in_features: 8,
                    out_features: 10,
                },
                "flat",
            ),
        ],
    };
    let calib = synthetic_images(2, input, 1);
    let model = synthetic_from_graph(graph, t.shape.bits, 2, calib.view()).unwrap();
    let p = compile(&model, &t.shape, &t.memories).unwrap();
    let (image, regs) = (
        image_bytes(&p),
        Registers::of(&p).unwrap().encode().unwrap(),
    );
    let id = hash8(&[&image, &regs]);
    load(&mut l, &[(MEM_MAIN, &image), (MEM_REGS, &regs)], id);
    assert_eq!(l.info().unwrap().model_id, id, "committed");
    let pixels: Vec<u8> = synthetic_images(1, input, 3).iter().copied().collect();
    match l.run(&pixels, 10, std::time::Duration::from_millis(100)) {
        Err(Error::Refused { status, .. }) => assert_eq!(status, Status::EngineFault),
        r => panic!("RUN on the link-only build: {r:?}"),
    }
    // The loader ran before the fault: the input buffer is no longer what was written.
    let inp = *p.input();
    let back = l
        .read(MEM_MAIN, 8 * inp.base as u32, 8 * inp.words())
        .unwrap();
    let mut m = unibit_core::engine::Machine::new(&p);
    m.load_image(&pixels).unwrap();
    let want: Vec<u8> = m.main[inp.base..inp.base + inp.words()]
        .iter()
        .flat_map(|d| d.to_le_bytes())
        .collect();
    assert_eq!(back, want, "input buffer as Machine::load_image leaves it");
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
        "64 KiB model load (write + read back + commit, 8 KiB steps) on the link-only virtual \
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
