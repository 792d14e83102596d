//! Simulations of the whole-network engine (`unibit_hw::rtl::net::net_engine::NetEngine`, the
//! UP5K shape R = C = 8, main memory 16,384 × 64-bit words) behind one interface: the host
//! memory port (usable while idle), `start` with `stop_after`, `done`, `fault` and the cycle
//! counter. [`NetVerilator`] runs the engine's Verilog (with yosys's SPRAM model) compiled with
//! `net_harness.cpp`; [`NetRustHdl`] steps the rust-hdl circuit (slow: tiny networks).
//!
//! Harness pipe protocol (whitespace-separated tokens on stdin, answers on stdout):
//! `W base n w0 … w(n−1)` writes n hex words (no answer); `R base n` answers one line of n hex
//! words; `S stop_after max` pulses `start` and clocks until `done` (at most `max` clocks),
//! answering `D cycles fault clocks` or `T cycles` (no `done`); `V path` / `V -` start / stop
//! a VCD trace (trace builds only); `Q` quits.

use crate::error::{Error, Result};
use crate::net::NetSimKind;
use crate::verilator::{spawn_piped, CACHE};
use rust_hdl::prelude::*;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout};
use std::time::Instant;
use unibit_core::Progress;
use unibit_hw::rtl::net::board_top::{with_spram_model, ICE40_CELLS_SIM};
use unibit_hw::rtl::net::net_engine::{self, NetEngine};

/// The harness source.
pub const NET_HARNESS: &str = include_str!("net_harness.cpp");

/// Main-memory words of the UP5K engine (4 SPRAMs of 16K × 16 bits, ganged to 64 bits).
pub const MAIN_WORDS: usize = unibit_hw::rtl::net::spram_main::DEPTH;

/// `stop_after` that runs the program to its `End` record.
pub const RUN_TO_END: u16 = 0xffff;

/// How one `start` ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetRun {
    /// The engine's cycle counter after `done`.
    pub cycles: u64,
    pub fault: bool,
}

/// A simulated whole-network engine.
pub trait NetSim {
    fn kind(&self) -> NetSimKind;
    /// The weight bitwidth the engine was built for.
    fn bits(&self) -> u8;
    /// Writes `words` at main-memory words `base..` through the host port (engine idle).
    fn write(&mut self, base: usize, words: &[u64]) -> Result<()>;
    /// Reads `n` main-memory words from `base` through the host port (engine idle).
    fn read(&mut self, base: usize, n: usize) -> Result<Vec<u64>>;
    /// `start` with `stop_after`, then clocks until `done`; [`Error::EngineHung`] after
    /// `max_cycles` clocks without it.
    fn run(&mut self, stop_after: u16, max_cycles: u64) -> Result<NetRun>;
    /// Engine cycles simulated by runs and the wall seconds they took.
    fn speed(&self) -> (u64, f64);
}

/// The Verilog that the Verilator build compiles: the engine for B = `bits` with the SPRAM
/// model from yosys's `cells_sim.v` in place of its black boxes.
pub fn net_verilog(bits: u8) -> Result<String> {
    Ok(with_spram_model(
        &net_engine::verilog(bits),
        Path::new(ICE40_CELLS_SIM),
    )?)
}

/// A running Verilator build of the engine.
pub struct NetVerilator {
    bits: u8,
    child: Child,
    input: BufWriter<ChildStdin>,
    output: BufReader<ChildStdout>,
    traced: bool,
    run_cycles: u64,
    run_seconds: f64,
    pub build_dir: PathBuf,
    /// Seconds spent building (0 when the cached build was reused).
    pub build_seconds: f64,
}

impl NetVerilator {
    /// Build (or reuse from the cache) and start the engine for B = `bits`; `trace` builds
    /// with VCD support (a separate cached build).
    pub fn start(bits: u8, trace: bool, progress: &dyn Progress) -> Result<Self> {
        let verilog = net_verilog(bits)?;
        let defines: Vec<String> = if trace {
            vec!["-DUNIBIT_TRACE".into()]
        } else {
            vec![]
        };
        let built = unibit_verilator::cached_build(
            CACHE,
            &unibit_verilator::Harness {
                verilog: &verilog,
                cpp: ("net_harness.cpp", NET_HARNESS),
                defines,
                trace,
                exe: "Vnet",
            },
            progress,
        )?;
        let (child, input, output) = spawn_piped(&built.exe)?;
        let (build_dir, build_seconds) = (built.dir, built.seconds);
        Ok(NetVerilator {
            bits,
            child,
            input,
            output,
            traced: trace,
            run_cycles: 0,
            run_seconds: 0.0,
            build_dir,
            build_seconds,
        })
    }

    fn send(&mut self, text: &str) -> Result<()> {
        self.input
            .write_all(text.as_bytes())
            .map_err(|e| Error::Pipe("writing to", e))
    }

    fn line(&mut self) -> Result<String> {
        self.input
            .flush()
            .map_err(|e| Error::Pipe("writing to", e))?;
        let mut s = String::new();
        let n = self
            .output
            .read_line(&mut s)
            .map_err(|e| Error::Pipe("reading from", e))?;
        if n == 0 {
            return Err(Error::Harness("exited unexpectedly".into()));
        }
        Ok(s.trim().to_string())
    }

    /// Start (Some) or stop (None) a VCD trace; needs a trace build.
    pub fn trace(&mut self, path: Option<&Path>) -> Result<()> {
        if !self.traced {
            return Err(Error::Harness(
                "this Verilator model was built without tracing".into(),
            ));
        }
        let arg = path.map_or("-".to_string(), |p| p.display().to_string());
        if arg.contains(char::is_whitespace) {
            return Err(Error::Invalid {
                field: "vcd".into(),
                expected: "a path without white space".into(),
                found: arg,
            });
        }
        self.send(&format!("V {arg}\n"))?;
        match self.line()?.as_str() {
            "ok" => Ok(()),
            r => Err(Error::Harness(format!("VCD trace: {r}"))),
        }
    }
}

impl Drop for NetVerilator {
    fn drop(&mut self) {
        let _ = self.input.write_all(b"Q\n");
        let _ = self.input.flush();
        let _ = self.child.wait();
    }
}

impl NetSim for NetVerilator {
    fn kind(&self) -> NetSimKind {
        NetSimKind::Verilator
    }
    fn bits(&self) -> u8 {
        self.bits
    }
    fn write(&mut self, base: usize, words: &[u64]) -> Result<()> {
        for (k, chunk) in words.chunks(512).enumerate() {
            let mut s = format!("W {} {}", base + 512 * k, chunk.len());
            for w in chunk {
                let _ = write!(s, " {w:x}");
            }
            s.push('\n');
            self.send(&s)?;
        }
        Ok(())
    }
    fn read(&mut self, base: usize, n: usize) -> Result<Vec<u64>> {
        self.send(&format!("R {base} {n}\n"))?;
        let l = self.line()?;
        let words: Vec<u64> = l
            .split_whitespace()
            .map(|h| u64::from_str_radix(h, 16))
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| Error::Harness(format!("read of {n} words: {l:?}")))?;
        if words.len() != n {
            return Err(Error::Harness(format!(
                "read of {n} words answered {} words",
                words.len()
            )));
        }
        Ok(words)
    }
    fn run(&mut self, stop_after: u16, max_cycles: u64) -> Result<NetRun> {
        self.send(&format!("S {stop_after} {max_cycles}\n"))?;
        let t0 = Instant::now();
        let l = self.line()?;
        self.run_seconds += t0.elapsed().as_secs_f64();
        let f: Vec<&str> = l.split_whitespace().collect();
        let num = |s: &str| {
            s.parse::<u64>()
                .map_err(|_| Error::Harness(format!("run answer {l:?}")))
        };
        match f[..] {
            ["D", c, fault, _] => {
                let cycles = num(c)?;
                self.run_cycles += cycles;
                Ok(NetRun {
                    cycles,
                    fault: fault == "1",
                })
            }
            ["T", _] => Err(Error::EngineHung { max_cycles }),
            _ => Err(Error::Harness(format!("run answer {l:?}"))),
        }
    }
    fn speed(&self) -> (u64, f64) {
        (self.run_cycles, self.run_seconds)
    }
}

/// The rust-hdl simulation of the engine, one clock at a time (about 10⁴–10⁵ cycles/s).
pub struct NetRustHdl {
    bits: u8,
    e: Box<NetEngine>,
    run_cycles: u64,
    run_seconds: f64,
}

impl NetRustHdl {
    pub fn new(bits: u8) -> Result<Self> {
        if !(1..=8).contains(&bits) {
            return Err(Error::Invalid {
                field: "bits".into(),
                expected: "1..=8".into(),
                found: bits.to_string(),
            });
        }
        let mut e = Box::new(NetEngine::new(bits));
        e.connect_all();
        let mut s = NetRustHdl {
            bits,
            e,
            run_cycles: 0,
            run_seconds: 0.0,
        };
        s.idle(RUN_TO_END);
        Ok(s)
    }
    fn idle(&mut self, stop_after: u16) {
        self.e.start.next = false;
        self.e.stop_after.next = bits(stop_after as u64);
        self.e.host_en.next = false;
        self.e.host_we.next = false;
    }
    fn tick(&mut self) {
        unibit_hw::rtl::sim::tick(self.e.as_mut(), |u| &mut u.clock);
    }
}

impl NetSim for NetRustHdl {
    fn kind(&self) -> NetSimKind {
        NetSimKind::Rusthdl
    }
    fn bits(&self) -> u8 {
        self.bits
    }
    fn write(&mut self, base: usize, words: &[u64]) -> Result<()> {
        for (i, &w) in words.iter().enumerate() {
            self.e.host_addr.next = bits((base + i) as u64);
            self.e.host_wdata.next = bits(w);
            self.e.host_be.next = bits(0xff);
            self.e.host_en.next = true;
            self.e.host_we.next = true;
            self.tick();
        }
        self.e.host_en.next = false;
        self.e.host_we.next = false;
        Ok(())
    }
    fn read(&mut self, base: usize, n: usize) -> Result<Vec<u64>> {
        self.e.host_we.next = false;
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            self.e.host_addr.next = bits((base + i) as u64);
            self.e.host_en.next = true;
            self.tick();
            out.push(self.e.host_rdata.val().to_u64());
        }
        self.e.host_en.next = false;
        Ok(out)
    }
    fn run(&mut self, stop_after: u16, max_cycles: u64) -> Result<NetRun> {
        let t0 = Instant::now();
        self.idle(stop_after);
        self.e.start.next = true;
        self.tick();
        self.e.start.next = false;
        let mut n = 1;
        while !self.e.done.val() {
            if n >= max_cycles {
                return Err(Error::EngineHung { max_cycles });
            }
            self.tick();
            n += 1;
        }
        self.run_seconds += t0.elapsed().as_secs_f64();
        let cycles = self.e.cycles.val().to_u64();
        self.run_cycles += cycles;
        Ok(NetRun {
            cycles,
            fault: self.e.fault.val(),
        })
    }
    fn speed(&self) -> (u64, f64) {
        (self.run_cycles, self.run_seconds)
    }
}
