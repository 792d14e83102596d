//! The Verilator virtual board: a board top's Verilog (ports `clock`, `rx`, `tx`, `idle`)
//! compiled with the C++ harness `verilator_board.cpp`, which bridges a pseudo-terminal to the
//! top's UART at the simulated baud rate. The host opens the PTY's path like `/dev/ttyUSB1`.
//!
//! It lives in this crate, not in unibit-sim, because it is a board to the driver (a PTY
//! and time-outs), not a cosimulation back end; it takes the Verilog as text, so the driver
//! crate does not depend on the RTL crate (the CLI and the tests generate it with unibit-hw).
//!
//! Builds are cached by the SHA-256 of the Verilog, the harness, the Verilator command line
//! and version, under `$UNIBIT_CACHE/verilator-board` (default `~/.cache/unibit/...`).
//!
//! **Time.** Simulated time runs slower than a board's: the harness measures its speed
//! (cycles/s) before serving, and [`VerilatorBoard::time_scale`] is the board clock over that
//! speed, times [`SPEED_MARGIN`] for a loaded machine. A host stretches its time-outs by it
//! (`LinkOptions::time_scale`). While the top is idle the harness does not simulate, so the
//! simulated clock ([`VerilatorBoard::cycles`]) counts the board's busy time and the wire time
//! only, never the host's think time.

use crate::error::{Error, Result};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use unibit_core::progress::Progress;

/// The harness source.
pub const HARNESS: &str = include_str!("verilator_board.cpp");

/// Factor on the measured simulation slowdown for host time-outs: the machine may be shared
/// (other builds, tests) while the board serves, so the simulation can run slower than the
/// calibration measured.
pub const SPEED_MARGIN: f64 = 4.0;

/// A running virtual board.
pub struct VerilatorBoard {
    /// The PTY the host opens.
    pub path: String,
    /// Simulated clocks per wall second, measured before serving.
    pub cycles_per_s: f64,
    pub clock_hz: u32,
    pub build_dir: PathBuf,
    /// Wall seconds of the Verilator build (0 when the cached build was reused).
    pub build_seconds: f64,
    child: Child,
    input: Option<ChildStdin>,
    output: BufReader<ChildStdout>,
}

fn io(what: &str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let port = format!("{what} {}", path.display());
    move |source| Error::Io { port, source }
}

impl VerilatorBoard {
    /// Build (or reuse) the virtual board for `verilog` — a complete top with simulation
    /// models for its primitives — clocked at `clock_hz`, UART at `clocks_per_bit`; start it
    /// and wait for its PTY.
    pub fn start(
        verilog: &str,
        clock_hz: u32,
        clocks_per_bit: u16,
        progress: &dyn Progress,
    ) -> Result<Self> {
        let built = unibit_verilator::cached_build(
            "verilator-board",
            &unibit_verilator::Harness {
                verilog,
                cpp: ("board.cpp", HARNESS),
                defines: vec![format!("-DUNIBIT_CPB={clocks_per_bit}")],
                trace: false,
                exe: "Vboard",
            },
            progress,
        )?;
        let exe = built.exe;
        let mut child = Command::new(&exe)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(io("starting", &exe))?;
        let input = child.stdin.take();
        let output = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut b = VerilatorBoard {
            path: String::new(),
            cycles_per_s: 0.0,
            clock_hz,
            build_dir: built.dir,
            build_seconds: built.seconds,
            child,
            input,
            output,
        };
        b.cycles_per_s = b.field("speed")?;
        b.path = b.line_of("pty")?;
        Ok(b)
    }

    fn line_of(&mut self, key: &str) -> Result<String> {
        let mut s = String::new();
        let n = self.output.read_line(&mut s).map_err(|source| Error::Io {
            port: "virtual board harness".into(),
            source,
        })?;
        match s.trim().strip_prefix(key) {
            Some(v) if n > 0 => Ok(v.trim().to_string()),
            _ => Err(Error::Harness {
                what: format!("expected a {key:?} line, got {:?}", s.trim()),
            }),
        }
    }

    fn field(&mut self, key: &str) -> Result<f64> {
        let v = self.line_of(key)?;
        v.parse().map_err(|_| Error::Harness {
            what: format!("{key} {v:?} is not a number"),
        })
    }

    /// How many times slower than the board's clock the simulation may run: host time-outs
    /// are multiplied by this (measured speed, times [`SPEED_MARGIN`]).
    pub fn time_scale(&self) -> f64 {
        (self.clock_hz as f64 / self.cycles_per_s.max(1.0) * SPEED_MARGIN).max(1.0)
    }

    /// Board clocks simulated so far (busy and wire time only: idle time is skipped).
    pub fn cycles(&mut self) -> Result<u64> {
        let pipe = |source| Error::Io {
            port: "virtual board harness".into(),
            source,
        };
        let input = self.input.as_mut().ok_or_else(|| Error::Harness {
            what: "already stopped".into(),
        })?;
        writeln!(input, "c").map_err(pipe)?;
        input.flush().map_err(pipe)?;
        Ok(self.field("cycles")? as u64)
    }

    /// Serve until `stop` is set or the harness exits.
    pub fn serve(&mut self, stop: &AtomicBool) -> Result<()> {
        while !stop.load(Ordering::Relaxed) {
            if let Some(status) = self.child.try_wait().map_err(|source| Error::Io {
                port: "virtual board harness".into(),
                source,
            })? {
                return Err(Error::Harness {
                    what: format!("exited ({status})"),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }
}

impl Drop for VerilatorBoard {
    fn drop(&mut self) {
        drop(self.input.take()); // end of stdin stops the harness
        let _ = self.child.wait();
    }
}

/// What [`session`] measured, in simulated board time.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Session {
    pub port: String,
    pub backend: String,
    pub load: crate::driver::LoadReport,
    pub classify: crate::driver::ClassifyReport,
    /// Board clocks of the load (wire and device work; host turnaround excluded).
    pub load_cycles: u64,
    /// Board clocks per classified image: RUN command, image loader, engine, reply.
    pub cycles_per_image: f64,
    /// Images per second at the board's clock with the link included, the engine-only bound,
    /// and their ratio.
    pub images_per_s: f64,
    pub engine_images_per_s: f64,
    pub link_ratio: f64,
    /// Simulated clocks per wall second, and the Verilator build's wall seconds (0: cached).
    pub sim_cycles_per_s: f64,
    pub build_seconds: f64,
}

/// Start the virtual board for `verilog` and drive it through its PTY as a host would: load the
/// bundle, classify `images`, and time both in simulated board clocks.
pub fn session(
    verilog: &str,
    clock_hz: u32,
    clocks_per_bit: u16,
    bundle: &Path,
    images: &crate::driver::Images,
    progress: &dyn Progress,
) -> Result<Session> {
    use crate::driver::{self, Expect};
    use crate::link::{Link, LinkOptions};
    let mut b = VerilatorBoard::start(verilog, clock_hz, clocks_per_bit, progress)?;
    let baud = (clock_hz as f64 / clocks_per_bit as f64).round() as u32;
    let (name, port) = crate::port::open(&b.path, baud)?;
    let opts = LinkOptions {
        time_scale: b.time_scale(),
        ..LinkOptions::default()
    };
    let mut link = Link::new(port, &name, baud, opts);
    let c0 = b.cycles()?;
    let load = driver::load(bundle, &mut link, &Expect::default(), progress)?;
    let c1 = b.cycles()?;
    let classify = driver::classify(bundle, &mut link, images, progress)?;
    let c2 = b.cycles()?;
    let cycles_per_image = (c2 - c1) as f64 / classify.images.max(1) as f64;
    let images_per_s = clock_hz as f64 / cycles_per_image.max(1.0);
    let engine_images_per_s = clock_hz as f64 / classify.cycles_expected.max(1) as f64;
    Ok(Session {
        port: b.path.clone(),
        backend: format!(
            "virtual board (Verilator: the board top's Verilog, host side + NetEngine; {} baud)",
            baud
        ),
        load,
        classify,
        load_cycles: c1 - c0,
        cycles_per_image,
        images_per_s,
        engine_images_per_s,
        link_ratio: images_per_s / engine_images_per_s,
        sim_cycles_per_s: b.cycles_per_s,
        build_seconds: b.build_seconds,
    })
}
