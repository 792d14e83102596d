//! The board's host side (HostSide: UART, frames, protocol v2 command unit, image loader)
//! under rust-hdl simulation, wired to a SpramMain and to a *testbench engine* (Rust code
//! between clock ticks that answers `start` with `done` after n cycles and a cycle value; it
//! stands in for NetEngine and computes nothing). Every reply is compared byte for byte with
//! the protocol's software device (`unibit_board::device::Device` over `soft::ModelBoard`) fed
//! the same bytes, except RUN, whose reply and input buffer are compared with
//! `unibit_core::engine::Machine` (`load_image`, `logits`) for compiled programs.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_hdl::prelude::*;
use std::collections::VecDeque;
use unibit_board::device::Device;
use unibit_board::frame::{self, Decoder, Event};
use unibit_board::protocol::{self, RunResult, Status};
use unibit_board::soft::ModelBoard;
use unibit_board::target::{Registers, Target, MEM_MAIN, MEM_REGS};
use unibit_core::engine::plan::Layout;
use unibit_core::engine::{compile, Machine, Program};
use unibit_core::graph::{Graph, Node, Op, Shape, INPUT};
use unibit_core::synthetic::{synthetic_from_graph, synthetic_images};
use unibit_core::Bits as CodeBits;
use unibit_hw::rtl::net::host_cmd::{HostConfig, HostSide};
use unibit_hw::rtl::net::spram_main::SpramMain;
use unibit_hw::rtl::sim::tick;

/// UART clocks per bit in these tests (the board's 3 Mbaud at 24 MHz is 8; 4 halves the
/// simulated time and is the UART's smallest).
const CPB: usize = 4;
/// Idle gap of the frame receiver, in clocks (the board's is 20 ms).
const IDLE: u32 = 2_000;
const BAUD: u32 = 3_000_000;

/// HostSide + SpramMain; the engine port is the testbench's.
#[derive(LogicBlock)]
struct Bench {
    clock: Signal<In, Clock>,
    rx: Signal<In, Bit>,
    tx: Signal<Out, Bit>,
    idle: Signal<Out, Bit>,
    eng_start: Signal<Out, Bit>,
    eng_busy: Signal<In, Bit>,
    eng_done: Signal<In, Bit>,
    eng_cycles: Signal<In, Bits<48>>,
    eng_fault: Signal<In, Bit>,
    host: HostSide,
    main: SpramMain,
}

impl Logic for Bench {
    #[hdl_gen]
    fn update(&mut self) {
        self.host.clock.next = self.clock.val();
        self.main.clock.next = self.clock.val();
        self.host.rx.next = self.rx.val();
        self.tx.next = self.host.tx.val();
        self.idle.next = self.host.idle.val();
        self.eng_start.next = self.host.eng_start.val();
        self.host.eng_busy.next = self.eng_busy.val();
        self.host.eng_done.next = self.eng_done.val();
        self.host.eng_cycles.next = self.eng_cycles.val();
        self.host.eng_fault.next = self.eng_fault.val();
        self.main.addr.next = self.host.host_addr.val().get_bits::<14>(0);
        self.main.we.next = self.host.host_we.val();
        self.main.be.next = self.host.host_be.val();
        self.main.wdata.next = self.host.host_wdata.val();
        self.host.host_rdata.next = self.main.rdata.val();
    }
}

/// Testbench engine: after `start`, busy for `run_cycles` clocks, then done with `value`
/// (or `fault`).
#[derive(Default)]
struct TbEngine {
    run_cycles: u64,
    value: u64,
    fault: bool,
    left: Option<u64>,
    starts: usize,
}

struct Sim {
    uut: Bench,
    line: VecDeque<bool>,
    eng: TbEngine,
    /// UART decoder of `tx`: clocks since the start bit's edge, bits so far.
    rx_t: Option<usize>,
    rx_byte: u16,
    got: Vec<u8>,
    clocks: u64,
}

fn target() -> Target {
    Target::named("icebreaker", 2, None, None).unwrap()
}

fn config(t: &Target) -> HostConfig {
    HostConfig {
        bits: t.shape.bits.get(),
        rows: t.shape.rows as u16,
        cols: t.shape.cols as u16,
        clock_hz: t.clock_hz,
        baud: BAUD,
        main_bytes: t.main_bytes().unwrap(),
        config_hash: t.config_hash().unwrap(),
        clocks_per_bit: CPB as u16,
        idle_clocks: IDLE,
    }
}

impl Sim {
    fn new() -> Self {
        let mut uut = Bench {
            clock: Default::default(),
            rx: Default::default(),
            tx: Default::default(),
            idle: Default::default(),
            eng_start: Default::default(),
            eng_busy: Default::default(),
            eng_done: Default::default(),
            eng_cycles: Default::default(),
            eng_fault: Default::default(),
            host: HostSide::new(&config(&target())),
            main: SpramMain::default(),
        };
        uut.connect_all();
        let mut s = Sim {
            uut,
            line: VecDeque::new(),
            eng: TbEngine {
                run_cycles: 37,
                value: 0x0000_1234_5678_9ABC,
                ..Default::default()
            },
            rx_t: None,
            rx_byte: 0,
            got: vec![],
            clocks: 0,
        };
        s.idle(40);
        s
    }

    fn cycle(&mut self) {
        self.uut.rx.next = self.line.pop_front().unwrap_or(true);
        self.uut.eng_busy.next = self.eng.left.is_some();
        tick(&mut self.uut, |u| &mut u.clock);
        self.clocks += 1;
        // the testbench engine
        if self.uut.eng_start.val() {
            self.eng.starts += 1;
            self.eng.left = Some(self.eng.run_cycles);
            self.uut.eng_done.next = false;
            self.uut.eng_fault.next = false;
        } else if let Some(n) = self.eng.left {
            if n == 0 {
                self.eng.left = None;
                self.uut.eng_done.next = !self.eng.fault;
                self.uut.eng_fault.next = self.eng.fault;
                self.uut.eng_cycles.next = bits(self.eng.value);
            } else {
                self.eng.left = Some(n - 1);
            }
        }
        // the host's UART receiver
        let level = self.uut.tx.val();
        match self.rx_t {
            None if !level => {
                self.rx_t = Some(0);
                self.rx_byte = 0;
            }
            None => {}
            Some(t) => {
                let t = t + 1;
                self.rx_t = Some(t);
                if t >= CPB + CPB / 2 && (t - CPB / 2).is_multiple_of(CPB) {
                    let bit = (t - CPB / 2) / CPB; // 1..=8 data, 9 stop
                    if bit <= 8 {
                        self.rx_byte |= (level as u16) << (bit - 1);
                    } else {
                        assert!(level, "stop bit low");
                        self.got.push(self.rx_byte as u8);
                        self.rx_t = None;
                    }
                }
            }
        }
    }

    fn idle(&mut self, n: usize) {
        for _ in 0..n {
            self.cycle();
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.line.extend(std::iter::repeat_n(false, CPB));
            for i in 0..8 {
                self.line
                    .extend(std::iter::repeat_n((b >> i) & 1 == 1, CPB));
            }
            self.line.extend(std::iter::repeat_n(true, CPB));
        }
    }

    /// The raw bytes of the next reply frame (None: none within `limit` clocks).
    fn reply(&mut self, limit: u64) -> Option<Vec<u8>> {
        let mut d = Decoder::new(frame::SYNC_DEVICE);
        let mut seen = 0;
        let mut raw = vec![];
        let end = self.clocks + limit;
        while self.clocks < end {
            self.cycle();
            while seen < self.got.len() {
                let b = self.got[seen];
                seen += 1;
                raw.push(b);
                if d.push(b).is_some() {
                    self.got.drain(..seen);
                    return Some(raw);
                }
            }
        }
        self.got.drain(..seen);
        None
    }

    /// Send one frame and return the raw reply.
    fn command(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.send(bytes);
        let limit = (bytes.len() as u64 + 1100) * 10 * CPB as u64 + 20_000;
        self.reply(limit).expect("a reply")
    }
}

/// The software device, fed the same bytes.
struct Soft {
    dev: Device<ModelBoard>,
    dec: Decoder,
}

impl Soft {
    fn new() -> Self {
        Soft {
            dev: Device::new(ModelBoard::new(target(), BAUD).unwrap()),
            dec: Decoder::new(frame::SYNC_HOST),
        }
    }
    fn feed(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut out = vec![];
        for &b in bytes {
            if let Some(ev) = self.dec.push(b) {
                out.push(self.dev.answer(ev));
            }
        }
        out
    }
}

fn cmd(seq: u8, op: u8, args: &[u8]) -> Vec<u8> {
    let mut body = vec![seq, op];
    body.extend_from_slice(args);
    frame::encode(frame::SYNC_HOST, &body)
}

fn write_args(mem: u8, addr: u32, data: &[u8]) -> Vec<u8> {
    let mut a = protocol::mem_args(mem, addr);
    a.extend_from_slice(data);
    a
}

fn read_args(mem: u8, addr: u32, len: u16) -> Vec<u8> {
    let mut a = protocol::mem_args(mem, addr);
    a.extend(len.to_le_bytes());
    a
}

/// Body of a raw reply frame.
fn body(raw: &[u8]) -> Vec<u8> {
    let mut d = Decoder::new(frame::SYNC_DEVICE);
    for &b in raw {
        if let Some(Event::Frame(body)) = d.push(b) {
            return body;
        }
    }
    panic!("no valid reply frame in {raw:02x?}");
}

/// Both ends answer `bytes` with the same reply bytes.
fn same(sim: &mut Sim, soft: &mut Soft, what: &str, bytes: &[u8]) -> Vec<u8> {
    let want = soft.feed(bytes);
    assert_eq!(want.len(), 1, "{what}: the software device answers once");
    let got = sim.command(bytes);
    assert_eq!(got, want[0], "{what}: RTL reply vs software device");
    body(&got)
}

#[test]
fn info_equals_the_software_boards() {
    let (mut sim, mut soft) = (Sim::new(), Soft::new());
    let b = same(&mut sim, &mut soft, "info", &cmd(7, protocol::OP_INFO, &[]));
    let info = protocol::Info::decode(&b[2..]).unwrap();
    assert_eq!((info.rows, info.cols, info.bits), (8, 8, 2));
    assert_eq!(info.config_hash, target().config_hash().unwrap());
    same(
        &mut sim,
        &mut soft,
        "info + arg",
        &cmd(8, protocol::OP_INFO, &[0]),
    );
    same(&mut sim, &mut soft, "unknown op", &cmd(9, 0x17, &[1, 2, 3]));
}

#[test]
fn write_read_commit_and_refusals_match_the_software_device() {
    let (mut sim, mut soft) = (Sim::new(), Soft::new());
    let mut rng = ChaCha8Rng::seed_from_u64(16);
    let data: Vec<u8> = (0..37).map(|_| rng.random()).collect();
    let regs: Vec<u8> = (0..64).map(|_| rng.random()).collect();
    let id = *b"model-01";
    let main_end = target().main_bytes().unwrap();
    let steps: Vec<(&str, Vec<u8>)> = vec![
        (
            "write main at byte 13",
            cmd(1, protocol::OP_WRITE, &write_args(MEM_MAIN, 13, &data)),
        ),
        (
            "read main 10..55",
            cmd(2, protocol::OP_READ, &read_args(MEM_MAIN, 10, 45)),
        ),
        (
            "write regs",
            cmd(3, protocol::OP_WRITE, &write_args(MEM_REGS, 0, &regs)),
        ),
        (
            "read regs 5..64",
            cmd(4, protocol::OP_READ, &read_args(MEM_REGS, 5, 59)),
        ),
        ("commit", cmd(5, protocol::OP_COMMIT, &id)),
        ("info with the id", cmd(6, protocol::OP_INFO, &[])),
        (
            "read does not clear",
            cmd(7, protocol::OP_READ, &read_args(MEM_MAIN, 0, 3)),
        ),
        ("info still with the id", cmd(8, protocol::OP_INFO, &[])),
        (
            "write of nothing (refused, keeps the id)",
            cmd(9, protocol::OP_WRITE, &write_args(MEM_MAIN, 0, &[])),
        ),
        ("info", cmd(10, protocol::OP_INFO, &[])),
        (
            "write past the end (refused, clears the id)",
            cmd(
                11,
                protocol::OP_WRITE,
                &write_args(MEM_MAIN, main_end - 2, &[1, 2, 3]),
            ),
        ),
        ("info without the id", cmd(12, protocol::OP_INFO, &[])),
        (
            "write to the last bytes",
            cmd(
                13,
                protocol::OP_WRITE,
                &write_args(MEM_MAIN, main_end - 3, &[1, 2, 3]),
            ),
        ),
        (
            "read the last bytes",
            cmd(14, protocol::OP_READ, &read_args(MEM_MAIN, main_end - 4, 4)),
        ),
        (
            "write to memory 2",
            cmd(15, protocol::OP_WRITE, &write_args(2, 0, &[1])),
        ),
        (
            "read regs past 64",
            cmd(16, protocol::OP_READ, &read_args(MEM_REGS, 60, 5)),
        ),
        (
            "read of 0 bytes",
            cmd(17, protocol::OP_READ, &read_args(MEM_MAIN, 0, 0)),
        ),
        (
            "read of 1017 bytes",
            cmd(18, protocol::OP_READ, &read_args(MEM_MAIN, 0, 1017)),
        ),
        (
            "read with a byte too many",
            cmd(
                19,
                protocol::OP_READ,
                &[read_args(MEM_MAIN, 0, 4), vec![0]].concat(),
            ),
        ),
        ("commit of 7 bytes", cmd(20, protocol::OP_COMMIT, &id[..7])),
        (
            "commit of 9 bytes (refused, id taken)",
            cmd(21, protocol::OP_COMMIT, b"model-029"),
        ),
        ("info", cmd(22, protocol::OP_INFO, &[])),
        ("run without an image", cmd(23, protocol::OP_RUN, &[])),
        ("commit 0", cmd(24, protocol::OP_COMMIT, &[0; 8])),
        ("run without a model", cmd(25, protocol::OP_RUN, &[1, 2, 3])),
        (
            "read main 0..20",
            cmd(26, protocol::OP_READ, &read_args(MEM_MAIN, 0, 20)),
        ),
    ];
    for (what, bytes) in &steps {
        same(&mut sim, &mut soft, what, bytes);
    }
    // The byte-level offsets landed where the protocol says.
    let b = same(
        &mut sim,
        &mut soft,
        "read back",
        &cmd(27, protocol::OP_READ, &read_args(MEM_MAIN, 13, 37)),
    );
    assert_eq!(&b[2..], &data[..]);
}

#[test]
fn a_corrupt_command_has_no_effect_and_garbage_resyncs() {
    let (mut sim, mut soft) = (Sim::new(), Soft::new());
    same(
        &mut sim,
        &mut soft,
        "write",
        &cmd(1, protocol::OP_WRITE, &write_args(MEM_MAIN, 0, &[9; 16])),
    );
    let mut bad = cmd(2, protocol::OP_WRITE, &write_args(MEM_MAIN, 0, &[7; 16]));
    bad[9] ^= 0x10;
    let b = same(&mut sim, &mut soft, "corrupt write", &bad);
    assert_eq!(Status::from_byte(b[1]), Status::Corrupt);
    let b = same(
        &mut sim,
        &mut soft,
        "read",
        &cmd(3, protocol::OP_READ, &read_args(MEM_MAIN, 0, 16)),
    );
    assert_eq!(&b[2..], &[9; 16], "the corrupt write changed nothing");
    // Garbage (no sync byte), then a command.
    let mut g = vec![0x00, 0xFF, 0x13, 0x5A, 0x42, 0x99];
    g.extend(cmd(4, protocol::OP_INFO, &[]));
    same(&mut sim, &mut soft, "garbage + info", &g);
    // A partial frame, the idle gap, then a command.
    let partial = &cmd(5, protocol::OP_WRITE, &write_args(MEM_MAIN, 0, &[1; 16]))[..10];
    sim.send(partial);
    assert!(sim
        .reply(partial.len() as u64 * 10 * CPB as u64 + IDLE as u64 + 100)
        .is_none());
    soft.feed(partial);
    soft.dec.reset();
    let b = same(
        &mut sim,
        &mut soft,
        "read after the gap",
        &cmd(6, protocol::OP_READ, &read_args(MEM_MAIN, 0, 16)),
    );
    assert_eq!(&b[2..], &[9; 16]);
}

/// A graph of `input` → first → global pool → linear 10, and a synthetic model of it.
fn program(input: Shape, first: Op) -> (Program, Vec<u8>) {
    let c1 = match first {
        Op::Conv2d { out_channels, .. } => out_channels,
        _ => input.c,
    };
    let node = |name: &str, op: Op, inp: &str| Node {
        name: name.into(),
        op,
        inputs: vec![inp.into()],
        relu: false,
    };
    let graph = Graph {
        input,
        nodes: vec![
            node("first", first, INPUT),
            node("gap", Op::GlobalAvgPool, "first"),
            node("flat", Op::Flatten, "gap"),
            node(
                "fc",
                Op::Linear {
                    in_features: c1,
                    out_features: 10,
                },
                "flat",
            ),
        ],
    };
    let calib = synthetic_images(2, input, 3);
    let model = synthetic_from_graph(graph, CodeBits::new(2).unwrap(), 5, calib.view()).unwrap();
    let t = target();
    let p = compile(&model, &t.shape, &t.memories).unwrap();
    let img: Vec<u8> = synthetic_images(1, input, 9).iter().copied().collect();
    (p, img)
}

/// RUN on the RTL: loader registers and the output buffer (random bytes, as an engine would
/// leave them) written, model committed; the reply and the input buffer against Machine.
fn check_run(p: &Program, image: &[u8]) {
    let mut sim = Sim::new();
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let regs = Registers::of(p).unwrap().encode().unwrap();
    let (inp, out) = (*p.input(), *p.output());
    let mut m = Machine::new(p);
    let out_bytes: Vec<u8> = (0..out.words() * 8).map(|_| rng.random()).collect();
    for (i, c) in out_bytes.chunks(8).enumerate() {
        m.main[out.base + i] = u64::from_le_bytes(c.try_into().unwrap());
    }
    m.load_image(image).unwrap();
    let ok = |raw: Vec<u8>| assert_eq!(Status::from_byte(body(&raw)[1]), Status::Ok);
    ok(sim.command(&cmd(1, protocol::OP_WRITE, &write_args(MEM_REGS, 0, &regs))));
    ok(sim.command(&cmd(
        2,
        protocol::OP_WRITE,
        &write_args(MEM_MAIN, 8 * out.base as u32, &out_bytes),
    )));
    ok(sim.command(&cmd(3, protocol::OP_COMMIT, b"run-test")));
    let b = body(&sim.command(&cmd(4, protocol::OP_RUN, image)));
    assert_eq!(Status::from_byte(b[1]), Status::Ok, "run");
    assert_eq!(sim.eng.starts, 1, "one start pulse");
    let run = RunResult::decode(&b[2..]).unwrap();
    assert_eq!(run.cycles, sim.eng.value, "cycles as the engine counted");
    assert_eq!(
        run.logits,
        m.logits(),
        "output buffer read where the registers say"
    );
    // The input buffer as Machine::load_image leaves it.
    let want: Vec<u8> = m.main[inp.base..inp.base + inp.words()]
        .iter()
        .flat_map(|d| d.to_le_bytes())
        .collect();
    let mut got = vec![];
    for (i, chunk) in want.chunks(protocol::MAX_DATA).enumerate() {
        let addr = (8 * inp.base + i * protocol::MAX_DATA) as u32;
        let r = body(&sim.command(&cmd(
            5,
            protocol::OP_READ,
            &read_args(MEM_MAIN, addr, chunk.len() as u16),
        )));
        got.extend_from_slice(&r[2..]);
    }
    assert_eq!(got, want, "input buffer vs Machine::load_image");
    // A wrong length is refused before anything runs; a faulting engine is reported.
    let b = body(&sim.command(&cmd(6, protocol::OP_RUN, &image[1..])));
    assert_eq!(Status::from_byte(b[1]), Status::BadArgs);
    sim.eng.fault = true;
    let b = body(&sim.command(&cmd(7, protocol::OP_RUN, image)));
    assert_eq!(Status::from_byte(b[1]), Status::EngineFault);
    assert_eq!(sim.eng.starts, 2);
}

#[test]
fn run_loads_an_expanded_stem_as_the_machine_does() {
    let conv = |stride| Op::Conv2d {
        in_channels: 2,
        out_channels: 8,
        kernel: 3,
        stride,
        padding: 1,
        groups: 1,
        batch_norm: false,
    };
    for stride in [1, 2] {
        let (p, img) = program(Shape { c: 2, h: 6, w: 7 }, conv(stride));
        assert!(
            matches!(p.input().layout, Layout::Expanded { .. }),
            "the stem reads the expanded input"
        );
        check_run(&p, &img);
    }
}

#[test]
fn run_loads_an_hwc_input_as_the_machine_does() {
    let (p, img) = program(
        Shape { c: 9, h: 5, w: 5 },
        Op::MaxPool {
            kernel: 2,
            stride: 1,
        },
    );
    assert_eq!(p.input().layout, Layout::Hwc);
    assert_eq!(p.input().cw, 2);
    check_run(&p, &img);
}
