//! The Verilator back end: the generated Verilog of the engine, compiled with the C++ harness
//! (`harness.cpp`, its port widths given as `-D` defines) into a program that the cosimulation
//! drives over a pipe. Builds are cached per configuration (a SHA-256 of the Verilog, the
//! harness, its defines and the Verilator version) under
//! `$UNIBIT_CACHE/verilator` (default `~/.cache/unibit/verilator`), so only the first run of a
//! configuration pays for the C++ compile.
//!
//! Pipe protocol (one command per line on stdin, answers on stdout):
//! `W addr hex` / `A addr hex` / `P addr hex` write a weight / activation / parameter word;
//! `R rows chunks vectors wbase abase obase pbase maxcycles` starts a tile and answers
//! `C cycles` or `T` (timeout); `O addr n` answers n lines of signed outputs;
//! `V path` / `V -` start / stop a VCD trace (trace builds only); `Q` quits.

use crate::backend::Backend;
use crate::error::{Error, Result};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use unibit_core::Progress;
use unibit_hw::model::{pack_lanes, EngineParams, TileDesc};

/// The cache folder of the cosimulation builds (`~/.cache/unibit/verilator`).
pub(crate) const CACHE: &str = "verilator";

/// The harness source; its widths come from [`harness_defines`].
pub const HARNESS: &str = include_str!("harness.cpp");

/// A running Verilator build of the engine.
pub struct VerilatorEngine {
    params: EngineParams,
    child: Child,
    input: BufWriter<ChildStdin>,
    output: BufReader<ChildStdout>,
    traced: bool,
    /// Tiles run so far, and the tile (by that count) to trace into a VCD file, if any.
    runs: u64,
    trace_run: Option<(u64, PathBuf)>,
    /// Engine cycles simulated by tile runs, and the wall time those runs took.
    pub tile_cycles: u64,
    pub tile_seconds: f64,
    pub build_dir: PathBuf,
    /// Seconds spent building (0 when the cached build was reused).
    pub build_seconds: f64,
}

/// The harness's compile-time parameters for an engine with parameters `p`: the widths of the
/// weight and activation write ports, and tracing.
pub fn harness_defines(p: &EngineParams, trace: bool) -> Vec<String> {
    let mut d = vec![
        format!("-DUNIBIT_WMEM_BITS={}", p.rows * p.cols),
        format!("-DUNIBIT_AMEM_BITS={}", 9 * p.cols),
    ];
    if trace {
        d.push("-DUNIBIT_TRACE".into());
    }
    d
}

fn hex(limbs: &[u64], width: usize) -> String {
    let digits = width.div_ceil(4);
    let mut s = String::with_capacity(digits);
    for i in (0..digits).rev() {
        let bit = 4 * i;
        let nib = (limbs.get(bit / 64).copied().unwrap_or(0) >> (bit % 64)) & 0xf;
        let _ = write!(s, "{nib:x}");
    }
    s
}

/// A harness process with its stdin and stdout piped (both harnesses speak one command per
/// line on stdin and answer on stdout).
pub(crate) fn spawn_piped(
    exe: &Path,
) -> Result<(Child, BufWriter<ChildStdin>, BufReader<ChildStdout>)> {
    let mut child = Command::new(exe)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(Error::io("starting", exe))?;
    let input = BufWriter::new(child.stdin.take().expect("stdin is piped"));
    let output = BufReader::new(child.stdout.take().expect("stdout is piped"));
    Ok((child, input, output))
}

impl VerilatorEngine {
    /// Build (or reuse) the Verilator program for `verilog` (top module `top`) and start it.
    /// `trace` builds with VCD support (a separate cached build).
    pub fn start(
        params: EngineParams,
        verilog: &str,
        trace: bool,
        progress: &dyn Progress,
    ) -> Result<Self> {
        let built = unibit_verilator::cached_build(
            CACHE,
            &unibit_verilator::Harness {
                verilog,
                cpp: ("harness.cpp", HARNESS),
                defines: harness_defines(&params, trace),
                trace,
                exe: "Vharness",
            },
            progress,
        )?;
        let (child, input, output) = spawn_piped(&built.exe)?;
        Ok(VerilatorEngine {
            params,
            child,
            input,
            output,
            traced: trace,
            runs: 0,
            trace_run: None,
            tile_cycles: 0,
            tile_seconds: 0.0,
            build_dir: built.dir,
            build_seconds: built.seconds,
        })
    }

    /// Sends one command line to the harness.
    fn send(&mut self, line: std::fmt::Arguments) -> Result<()> {
        writeln!(self.input, "{line}").map_err(|e| Error::Pipe("writing to", e))
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

    /// Tiles run since the engine started.
    pub fn runs(&self) -> u64 {
        self.runs
    }

    /// Trace only the tile that will be the `run_index`-th run (0-based) into `path`.
    pub fn trace_tile(&mut self, run_index: u64, path: PathBuf) {
        self.trace_run = Some((run_index, path));
    }

    /// Start (Some) or stop (None) a VCD trace; needs a trace build.
    pub fn trace(&mut self, path: Option<&Path>) -> Result<()> {
        if !self.traced {
            return Err(Error::Harness(
                "this Verilator model was built without tracing".into(),
            ));
        }
        let arg = path.map_or("-".to_string(), |p| p.display().to_string());
        self.send(format_args!("V {arg}"))?;
        let r = self.line()?;
        if r != "ok" {
            return Err(Error::Harness(format!("VCD trace: {r}")));
        }
        Ok(())
    }
}

impl Drop for VerilatorEngine {
    fn drop(&mut self) {
        let _ = writeln!(self.input, "Q");
        let _ = self.input.flush();
        let _ = self.child.wait();
    }
}

impl Backend for VerilatorEngine {
    fn name(&self) -> &str {
        "verilator"
    }
    fn params(&self) -> EngineParams {
        self.params
    }
    fn write_weights(&mut self, base: usize, words: &[Vec<u64>]) -> Result<()> {
        let w = self.params.rows * self.params.cols;
        for (i, word) in words.iter().enumerate() {
            self.send(format_args!("W {} {}", base + i, hex(word, w)))?;
        }
        Ok(())
    }
    fn write_acts(&mut self, base: usize, words: &[Vec<i32>]) -> Result<()> {
        let w = 9 * self.params.cols;
        for (i, lanes) in words.iter().enumerate() {
            self.send(format_args!(
                "A {} {}",
                base + i,
                hex(&pack_lanes(lanes), w)
            ))?;
        }
        Ok(())
    }
    fn write_params(&mut self, base: usize, words: &[u64]) -> Result<()> {
        for (i, word) in words.iter().enumerate() {
            self.send(format_args!("P {} {:016x}", base + i, word))?;
        }
        Ok(())
    }
    fn run(&mut self, d: &TileDesc) -> Result<u64> {
        self.params.check(d).map_err(Error::TileRejected)?;
        let max = 4 * self.params.tile_cycles(d.rows, d.chunks, d.vectors) + 1000;
        let traced = match &self.trace_run {
            Some((i, path)) if *i == self.runs => {
                let path = path.clone();
                self.trace(Some(&path))?;
                true
            }
            _ => false,
        };
        self.runs += 1;
        self.send(format_args!(
            "R {} {} {} {} {} {} {} {}",
            d.rows, d.chunks, d.vectors, d.w_base, d.a_base, d.o_base, d.p_base, max
        ))?;
        let t0 = std::time::Instant::now();
        let r = self.line()?;
        self.tile_seconds += t0.elapsed().as_secs_f64();
        if traced {
            self.trace(None)?;
        }
        match r.strip_prefix("C ") {
            Some(c) => {
                let c: u64 = c
                    .parse()
                    .map_err(|_| Error::Harness(format!("cycle count {c:?}")))?;
                self.tile_cycles += c;
                Ok(c)
            }
            None => Err(Error::EngineHung { max_cycles: max }),
        }
    }
    fn speed(&self) -> Option<(u64, f64)> {
        Some((self.tile_cycles, self.tile_seconds))
    }
    fn read_outputs(&mut self, base: usize, n: usize) -> Result<Vec<i32>> {
        self.send(format_args!("O {base} {n}"))?;
        (0..n)
            .map(|_| {
                let l = self.line()?;
                l.parse::<i32>()
                    .map_err(|_| Error::Harness(format!("output value {l:?}")))
            })
            .collect()
    }
}
