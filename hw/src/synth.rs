//! `hw synth`: the board bitstream of the whole-network board top (`--engine net`, the
//! default: `rtl::net::board_top`, the Verilog the virtual board simulates) or of the tile
//! coprocessor (`--engine tile`). A flow of named steps in one build folder, each skipped when its stamp
//! (`.NAME.step.json`: the hashes of its inputs and its arguments) is current —
//! `verilog` (top.v, board.v, board constraints), `yosys` (board.json, stat.json, yosys.log),
//! `pnr` (nextpnr.log with Fmax), `pack` (bitstream), `report` (report.json). The device, tools
//! and resource names come from the board's data (`board.rs`). A missing tool is an error; a
//! timing failure is reported (`timing_met`, no bitstream), and `--timing-allow-fail` is never
//! passed.

use crate::board::{board, wrapper_for, Board, Family, Pnr, Top};
use crate::configs::{engine_params, host_verilog};
use crate::error::{thousands, Error, Result, RouterStalled};
use crate::model::EngineParams;
use crate::rtl::net::board_top::{board_config_for, board_verilog_for};
use crate::rtl::net::host_cmd::HostConfig;
use crate::rtl::net::main_memory::MainKind;
use crate::tools::ToolRun;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use unibit_core::atomic::write_atomic;
use unibit_core::flow::{Flow, Layout};
use unibit_core::hash::sha256_parts;
use unibit_core::Progress;

/// Which engine the bitstream holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// The whole-network board top (protocol v2 host side + NetEngine), R = C = 8.
    #[default]
    Net,
    /// The tile coprocessor behind its UART host link (the earlier flow, unchanged).
    Tile,
}

impl EngineKind {
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Net => "net",
            EngineKind::Tile => "tile",
        }
    }
}

#[derive(Clone, Debug)]
pub struct SynthOptions {
    pub board: String,
    pub engine: EngineKind,
    /// The configuration hash INFO reports (`unibit_board::target::Target::config_hash` of
    /// the board's 8 × 8 target at `bits`; the net engine only — this crate does not depend
    /// on the driver, so the caller passes it).
    pub config_hash: [u8; 8],
    pub bits: u8,
    pub rows: Option<usize>,
    pub cols: Option<usize>,
    pub freq_mhz: Option<f64>,
    pub out: PathBuf,
    /// Stop after yosys (resource counts only; used by the smoke test).
    pub yosys_only: bool,
    pub seed: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Resources {
    pub luts: u64,
    pub ffs: u64,
    pub carries: u64,
    pub brams: u64,
    pub dsps: u64,
    /// Every cell type yosys reported.
    pub cells: BTreeMap<String, u64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SynthReport {
    pub board: String,
    /// `net` or `tile` (reports written before the net engine was built are `tile`).
    #[serde(default = "tile_engine")]
    pub engine: EngineKind,
    pub device: String,
    pub bits: u8,
    pub rows: usize,
    pub cols: usize,
    pub lanes: usize,
    pub requested_mhz: f64,
    /// The clock the PLL actually produces (what timing is checked against).
    pub clock_mhz: f64,
    /// The host link's baud (net: what INFO reports and `unibit board` must open the port
    /// at) and the UART's clocks per bit.
    #[serde(default)]
    pub baud: u32,
    #[serde(default)]
    pub clocks_per_bit: u16,
    pub fmax_mhz: Option<f64>,
    pub timing_met: Option<bool>,
    pub resources: Resources,
    /// Placed logic cells (iCE40 LCs / ECP5 slices) from nextpnr, when it ran.
    pub placed: BTreeMap<String, String>,
    /// Peak throughput R·C·f/B in MAC/s at the built clock.
    pub peak_macs_per_s: f64,
    pub mac_lanes_per_1000_luts: f64,
    pub bitstream: Option<String>,
    pub commands: Vec<String>,
    pub timing: unibit_core::cost::Timing,
}

fn tile_engine() -> EngineKind {
    EngineKind::Tile
}

/// The array shapes the whole-network RTL has.
const NET_SIDE: usize = 8;

/// A synthesis run resolved against its board: what every step reads.
struct Plan {
    board: &'static Board,
    engine: EngineKind,
    /// The net engine's main memory (from the board's memories).
    main: MainKind,
    config_hash: [u8; 8],
    baud: u32,
    params: EngineParams,
    requested_mhz: f64,
    clock_mhz: f64,
    /// The board wrapper (`board.v`) and the UART clocks per bit of the host link.
    wrapper: String,
    clocks_per_bit: u16,
    /// Place and route (and packing) runs: the family has it and it was not left out.
    pnr: Option<&'static Pnr>,
    seed: u32,
    dir: PathBuf,
}

impl Plan {
    /// Checks the options (board, array, clock), then claims the output folder.
    fn new(o: &SynthOptions) -> Result<Plan> {
        let mut plan = Plan::resolve(o)?;
        unibit_core::atomic::check_output_dir(&o.out, &crate::outputs::SYNTH, &[])?;
        let p = &plan.params;
        let mut marker = serde_json::json!({
            "format": crate::outputs::SYNTH.format,
            "board": plan.board.name,
            "bits": p.bits,
            "rows": p.rows,
            "cols": p.cols,
        });
        if plan.engine == EngineKind::Net {
            marker["engine"] = json!("net");
        }
        write_atomic(
            &o.out.join(crate::outputs::SYNTH.marker),
            serde_json::to_string_pretty(&marker)?.as_bytes(),
        )?;
        plan.dir = std::fs::canonicalize(&o.out).map_err(Error::io("resolving", &o.out))?;
        Ok(plan)
    }

    /// The options resolved against the board, without touching the file system.
    fn resolve(o: &SynthOptions) -> Result<Plan> {
        let b: &'static Board = board(&o.board)?;
        let net = o.engine == EngineKind::Net;
        let (rows, cols) = if net {
            net_shape(b, o)?
        } else {
            (
                o.rows.unwrap_or(b.default_rows),
                o.cols.unwrap_or(b.default_cols),
            )
        };
        let params = engine_params(o.bits, rows, cols)?;
        let main = if net {
            MainKind::for_board(b.name, o.bits)?
        } else {
            MainKind::Spram
        };
        if !net {
            b.check_fit(rows, cols)?;
        }
        let freq = o.freq_mhz.unwrap_or(b.default_freq_mhz);
        if !(1.0..=500.0).contains(&freq) {
            return Err(Error::invalid("freq_mhz", "1..=500 MHz", freq));
        }
        let top = if net { Top::Net } else { Top::Tile };
        let (wrapper, clock_mhz) = wrapper_for(b, freq, top)?;
        let baud = if net { b.net_baud } else { b.baud };
        let clocks_per_bit = (clock_mhz * 1e6 / baud as f64).round() as u16;
        if net && clocks_per_bit < 4 {
            return Err(Error::invalid(
                "freq_mhz",
                format!("a clock of at least 4 clocks per bit at {baud} baud"),
                clock_mhz,
            ));
        }
        Ok(Plan {
            board: b,
            engine: o.engine,
            main,
            config_hash: o.config_hash,
            baud,
            params,
            requested_mhz: freq,
            clock_mhz,
            wrapper,
            clocks_per_bit,
            pnr: b.toolchain.pnr.as_ref().filter(|_| !o.yosys_only),
            seed: o.seed,
            dir: o.out.clone(),
        })
    }

    fn steps(&self) -> usize {
        if self.pnr.is_some() {
            5
        } else {
            3
        }
    }

    /// The board's pins plus the clock constraint at the built frequency, and its file name.
    fn constraints(&self) -> Option<(&'static str, String)> {
        let pnr = self.board.toolchain.pnr.as_ref()?;
        let clock = pnr
            .clock_constraint
            .replace("{mhz}", &format!("{:.3}", self.clock_mhz));
        let pins = self.board.constraints.unwrap_or_default();
        Some((pnr.constraints_file, format!("{pins}{clock}")))
    }

    fn label(&self) -> String {
        let p = &self.params;
        format!(
            "{} {} engine B = {} {}x{}",
            self.board.name,
            self.engine.name(),
            p.bits,
            p.rows,
            p.cols
        )
    }

    /// INFO of the net engine's board top: the built clock, the board's baud, the main
    /// memory of the board's allocation.
    fn net_config(&self) -> HostConfig {
        let clock_hz = (self.clock_mhz * 1e6).round() as u32;
        board_config_for(
            self.main,
            self.params.bits,
            clock_hz,
            self.baud,
            self.config_hash,
        )
    }

    /// The Verilog of module `top`: the board top of the net engine or the tile engine
    /// behind its host link.
    fn top_verilog(&self) -> Result<String> {
        let p = &self.params;
        match self.engine {
            EngineKind::Tile => host_verilog(p.bits, p.rows, p.cols, self.clocks_per_bit),
            EngineKind::Net => Ok(board_verilog_for(&self.net_config(), self.main)),
        }
    }

    fn check_logic(&self, r: &Resources) -> Result<()> {
        check_logic(self.board, self.engine, r)
    }
}

/// After yosys, before nextpnr: refuse a net design whose logic cannot fit the device.
/// Each logic cell (iCE40 LC, ECP5 slice half) holds one LUT4, one FF and one carry bit, so
/// max(LUT4, FF, carry) is a lower bound on the cells nextpnr would need; memory and DSP
/// blocks are counted per type against `Board::blocks`. The one-line refusal names the logic
/// first (the largest gap) and every other resource that is short after it, so a user sees
/// the whole list from one build. (The tile flow keeps its estimate before yosys,
/// `Board::check_fit`.)
pub fn check_logic(b: &Board, engine: EngineKind, r: &Resources) -> Result<()> {
    let Some(fit) = b.fit.filter(|_| engine == EngineKind::Net) else {
        return Ok(());
    };
    let logic_unit = match b.family {
        Family::Ice40Up5k => "LCs",
        _ => "LUT4s",
    };
    let logic = r.luts.max(r.ffs).max(r.carries);
    // (unit, needed, capacity) of every resource that is short, logic first.
    let mut short: Vec<(&'static str, u64, u64)> = vec![];
    if logic > fit.capacity {
        short.push((logic_unit, logic, fit.capacity));
    }
    for &(cell, have) in b.blocks {
        let needed = r.cells.get(cell).copied().unwrap_or(0);
        if needed > have {
            short.push((cell, needed, have));
        }
    }
    let Some(&(unit, needed, capacity)) = short.first() else {
        return Ok(());
    };
    let mut detail = format!(
        "{} LUT4, {} FF, {} carry",
        thousands(r.luts),
        thousands(r.ffs),
        thousands(r.carries)
    );
    for &(u, n, c) in &short[1..] {
        detail += &format!("; also {} {u} of {}", thousands(n), thousands(c));
    }
    Err(Error::DesignTooLarge {
        engine: "net",
        unit,
        needed,
        device: b.device,
        capacity,
        detail,
    })
}

/// The net engine's R×C: 8×8 only (the one shape the RTL has), on a board with place and
/// route.
fn net_shape(b: &Board, o: &SynthOptions) -> Result<(usize, usize)> {
    if b.family == Family::Xc7 {
        return Err(Error::invalid(
            "board",
            "icebreaker or ulx3s-25f for --engine net (use --engine tile for xc7)",
            b.name,
        ));
    }
    let (r, c) = (o.rows.unwrap_or(NET_SIDE), o.cols.unwrap_or(NET_SIDE));
    if (r, c) != (NET_SIDE, NET_SIDE) {
        return Err(Error::invalid(
            "rows x cols",
            "8x8 for --engine net (the only shape the whole-network RTL has; --engine tile builds others)",
            format!("{r}x{c}"),
        ));
    }
    Ok((r, c))
}

/// What `hw synth` builds for `o`, without running anything: the sources of step `verilog`.
#[derive(Clone, Debug)]
pub struct Sources {
    /// `top.v`: the board top (net) or the engine behind its host link (tile).
    pub top: String,
    /// `board.v`: the board wrapper, module `unibit_board`.
    pub wrapper: String,
    /// The constraints file's name and text (boards with place and route).
    pub constraints: Option<(&'static str, String)>,
    pub clock_mhz: f64,
    pub clocks_per_bit: u16,
    /// The net engine's INFO (what `unibit board info` reads back from the bitstream).
    pub info: Option<HostConfig>,
    pub main: Option<MainKind>,
}

/// The sources `run` would write for `o` (nothing is written).
pub fn sources(o: &SynthOptions) -> Result<Sources> {
    let plan = Plan::resolve(o)?;
    let net = plan.engine == EngineKind::Net;
    Ok(Sources {
        top: plan.top_verilog()?,
        wrapper: plan.wrapper.clone(),
        constraints: plan.constraints(),
        clock_mhz: plan.clock_mhz,
        clocks_per_bit: plan.clocks_per_bit,
        info: net.then(|| plan.net_config()),
        main: net.then_some(plan.main),
    })
}

/// SHA-256 over the contents of files in `dir` (a missing file hashes as empty; its step's
/// outputs are then missing too, so it runs).
fn hash_files(dir: &Path, names: &[&str]) -> String {
    let contents: Vec<Vec<u8>> = names
        .iter()
        .map(|n| std::fs::read(dir.join(n)).unwrap_or_default())
        .collect();
    let parts: Vec<&[u8]> = contents.iter().map(Vec::as_slice).collect();
    sha256_parts(&parts)
}

/// A step's summary read back (from the step itself or from its stamp when it was skipped).
fn summary<T: for<'de> Deserialize<'de>>(step: &str, v: Value) -> Result<T> {
    serde_json::from_value(v).map_err(|e| {
        Error::invalid(
            format!("summary of step {step}"),
            "the fields the step records",
            e,
        )
    })
}

/// Step `verilog`: the engine behind the host link (`top.v`), the board wrapper (`board.v`)
/// and the constraints, generated in memory and written when they changed.
fn verilog_step(flow: &mut Flow, plan: &Plan) -> Result<()> {
    let top = plan.top_verilog()?;
    let constraints = plan.constraints();
    let mut files: Vec<(&str, &[u8])> = vec![
        ("top.v", top.as_bytes()),
        ("board.v", plan.wrapper.as_bytes()),
    ];
    if let Some((name, text)) = &constraints {
        files.push((name, text.as_bytes()));
    }
    let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
    let parts: Vec<&[u8]> = files.iter().map(|(_, t)| *t).collect();
    let sha = sha256_parts(&parts);
    if hash_files(&plan.dir, &names) != sha {
        // Edited or missing files: write them again even if the stamp matches.
        flow.invalidate("verilog");
    }
    let what = match plan.engine {
        EngineKind::Tile => format!(
            "engine with host link, {} wrapper at {:.3} MHz and constraints",
            plan.board.name, plan.clock_mhz
        ),
        EngineKind::Net => format!(
            "whole-network board top, {} wrapper at {:.3} MHz, {} baud, and constraints",
            plan.board.name, plan.clock_mhz, plan.baud
        ),
    };
    flow.step(
        "verilog",
        &what,
        json!({ "files": names, "sha256": sha }),
        &names,
        |dir| -> Result<Value> {
            for (name, text) in &files {
                write_atomic(&dir.join(name), text)?;
            }
            Ok(Value::Null)
        },
    )?;
    Ok(())
}

/// What a tool step ran and found.
#[derive(Debug, Serialize, Deserialize)]
struct YosysRun {
    resources: Resources,
    commands: Vec<String>,
}

/// Step `yosys`: synthesis to the family's cells, resource counts from `stat -json`.
fn yosys_step(flow: &mut Flow, plan: &Plan, progress: &dyn Progress) -> Result<YosysRun> {
    let tc = plan.board.toolchain;
    let script = format!(
        "read_verilog top.v board.v; {}; tee -q -o stat.json stat -json",
        tc.synth
    );
    let args: Vec<String> = vec!["-q".into(), "-p".into(), script];
    let mut outputs = vec!["stat.json", "yosys.log"];
    if tc.pnr.is_some() {
        outputs.push("board.json");
    }
    let params = json!({ "tool": tc.yosys, "args": args,
        "inputs": hash_files(&plan.dir, &["top.v", "board.v"]) });
    let what = format!("synthesis of {} with {}", plan.label(), tc.yosys);
    let v = flow.step("yosys", &what, params, &outputs, |dir| -> Result<Value> {
        let mut commands = vec![];
        let run = ToolRun {
            dir,
            tool: tc.yosys,
            args: &args,
            log: "yosys.log",
        };
        run.run(&mut commands, progress, None)?;
        let resources = parse_stat(&dir.join("stat.json"), plan.board)?;
        Ok(serde_json::to_value(YosysRun {
            resources,
            commands,
        })?)
    })?;
    summary("yosys", v)
}

/// What place and route found.
#[derive(Debug, Default, Serialize, Deserialize)]
struct PnrRun {
    fmax_mhz: Option<f64>,
    placed: BTreeMap<String, String>,
    /// Whether nextpnr met the clock (it exits non-zero when not).
    met: bool,
    commands: Vec<String>,
}

/// nextpnr's arguments for the board's part, in the order the flow has always used.
fn pnr_args(plan: &Plan, pnr: &Pnr) -> Vec<String> {
    let part = &plan.board.part;
    let mut a: Vec<String> = vec![
        part.device_flag.into(),
        "--package".into(),
        part.package.into(),
    ];
    if let Some(speed) = part.speed {
        a.extend(["--speed".into(), speed.into()]);
    }
    a.extend(
        [
            pnr.constraints_flag,
            pnr.constraints_file,
            "--json",
            "board.json",
        ]
        .map(String::from),
    );
    a.extend(pnr.output.map(String::from));
    if pnr.freq_flag {
        a.extend(["--freq".into(), format!("{:.3}", plan.clock_mhz)]);
    }
    a.extend(["--seed".into(), plan.seed.to_string()]);
    a
}

/// Step `pnr`: place and route at the built clock.
fn pnr_step(flow: &mut Flow, plan: &Plan, pnr: &Pnr, progress: &dyn Progress) -> Result<PnrRun> {
    let args = pnr_args(plan, pnr);
    let params = json!({ "tool": pnr.tool, "args": args,
        "inputs": hash_files(&plan.dir, &["board.json", pnr.constraints_file]) });
    let what = format!(
        "place and route at {:.3} MHz with {}",
        plan.clock_mhz, pnr.tool
    );
    let v = flow.step(
        "pnr",
        &what,
        params,
        &["nextpnr.log"],
        |dir| -> Result<Value> {
            let mut commands = vec![];
            let (log, met) = run_pnr(dir, pnr.tool, &args, &mut commands, progress)?;
            Ok(serde_json::to_value(PnrRun {
                fmax_mhz: parse_fmax(&log),
                placed: parse_utilisation(&log),
                met,
                commands,
            })?)
        },
    )?;
    summary("pnr", v)
}

/// Step `pack`: the bitstream, only when timing was met.
fn pack_step(
    flow: &mut Flow,
    plan: &Plan,
    pnr: &Pnr,
    progress: &dyn Progress,
) -> Result<Vec<String>> {
    let mut args: Vec<String> = pnr.packer_flags.iter().map(|s| s.to_string()).collect();
    args.extend([pnr.output[1].to_string(), pnr.bitstream.to_string()]);
    let params = json!({ "tool": pnr.packer, "args": args,
        "inputs": hash_files(&plan.dir, &[pnr.output[1]]) });
    let log = format!("{}.log", pnr.packer.trim_start_matches("yowasp-"));
    let what = format!("bitstream {} with {}", pnr.bitstream, pnr.packer);
    let v = flow.step(
        "pack",
        &what,
        params,
        &[pnr.bitstream],
        |dir| -> Result<Value> {
            let mut commands = vec![];
            let run = ToolRun {
                dir,
                tool: pnr.packer,
                args: &args,
                log: &log,
            };
            run.run(&mut commands, progress, None)?;
            Ok(json!(commands))
        },
    )?;
    summary("pack", v)
}

/// Place and route, then the bitstream when timing is met (`None` without place and route).
fn pnr_and_pack(
    flow: &mut Flow,
    plan: &Plan,
    progress: &dyn Progress,
) -> Result<Option<(PnrRun, Option<String>)>> {
    let Some(pnr) = plan.pnr else {
        return Ok(None);
    };
    let mut run = pnr_step(flow, plan, pnr, progress)?;
    if !run.met {
        flow.pass("pack", "timing not met: no bitstream");
        return Ok(Some((run, None)));
    }
    run.commands.extend(pack_step(flow, plan, pnr, progress)?);
    Ok(Some((run, Some(pnr.bitstream.to_string()))))
}

impl Plan {
    fn report(&self, yosys: YosysRun, pnr: Option<(PnrRun, Option<String>)>) -> SynthReport {
        let p = &self.params;
        let lanes = p.rows * p.cols;
        let timing_met = pnr.as_ref().map(|(r, bitstream)| {
            bitstream.is_some() && r.fmax_mhz.is_some_and(|f| f >= self.clock_mhz)
        });
        let (pnr, bitstream) = pnr.unwrap_or_default();
        let mut commands = yosys.commands;
        commands.extend(pnr.commands);
        SynthReport {
            board: self.board.name.to_string(),
            engine: self.engine,
            device: self.board.device.to_string(),
            bits: p.bits,
            rows: p.rows,
            cols: p.cols,
            lanes,
            requested_mhz: self.requested_mhz,
            clock_mhz: self.clock_mhz,
            baud: self.baud,
            clocks_per_bit: self.clocks_per_bit,
            fmax_mhz: pnr.fmax_mhz,
            timing_met,
            peak_macs_per_s: lanes as f64 * self.clock_mhz * 1e6 / p.bits as f64,
            mac_lanes_per_1000_luts: lanes as f64 * 1000.0 / yosys.resources.luts.max(1) as f64,
            resources: yosys.resources,
            placed: pnr.placed,
            bitstream,
            commands,
            timing: p.timing(),
        }
    }
}

/// Step `report`: `report.json`.
fn report_step(flow: &mut Flow, report: &SynthReport) -> Result<()> {
    let text = serde_json::to_string_pretty(report)?;
    let params = json!({ "sha256": unibit_core::hash::sha256_hex(text.as_bytes()) });
    flow.step(
        "report",
        "report.json",
        params,
        &["report.json"],
        |dir| -> Result<Value> {
            write_atomic(&dir.join("report.json"), text.as_bytes())?;
            Ok(Value::Null)
        },
    )?;
    Ok(())
}

/// `hw synth`: the board bitstream (or resource counts) and its report, through the flow's
/// steps; finished steps whose inputs did not change are reused.
pub fn run(o: &SynthOptions, progress: &dyn Progress) -> Result<SynthReport> {
    let plan = Plan::new(o)?;
    let mut flow = Flow::with_layout(&plan.dir, plan.steps(), Layout::Shared, progress)?;
    verilog_step(&mut flow, &plan)?;
    let yosys = yosys_step(&mut flow, &plan, progress)?;
    plan.check_logic(&yosys.resources)?;
    let pnr = pnr_and_pack(&mut flow, &plan, progress)?;
    let report = plan.report(yosys, pnr);
    report_step(&mut flow, &report)?;
    Ok(report)
}

/// `hw bench` options: one synthesis per bitwidth into `out/BOARD-bB`.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    pub board: String,
    pub bits: Vec<u8>,
    pub rows: Option<usize>,
    pub cols: Option<usize>,
    pub freq_mhz: Option<f64>,
    pub yosys_only: bool,
    pub out: PathBuf,
}

/// The synthesis reports of a bench, in the order of its bitwidths, and where they were kept.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    pub reports: Vec<SynthReport>,
    /// `bench.json`: `{"format": "unibit-hw-bench", "reports": [...]}`.
    pub json: PathBuf,
}

/// `hw bench`: one synthesis per bitwidth (seed 1); timing failures are reported in the
/// reports (and in `bench.json`) rather than stopping the sweep.
pub fn bench(o: &BenchOptions, progress: &dyn Progress) -> Result<BenchReport> {
    unibit_core::atomic::check_output_dir(&o.out, &crate::outputs::BENCH, &[])?;
    let json = o.out.join(crate::outputs::BENCH.marker);
    let write = |reports: &[SynthReport]| -> Result<()> {
        let v = serde_json::json!({ "format": crate::outputs::BENCH.format, "reports": reports });
        write_atomic(&json, serde_json::to_string_pretty(&v)?.as_bytes())?;
        Ok(())
    };
    write(&[])?;
    let mut reports = vec![];
    for &b in &o.bits {
        let opts = SynthOptions {
            board: o.board.clone(),
            engine: EngineKind::Tile,
            config_hash: [0; 8],
            bits: b,
            rows: o.rows,
            cols: o.cols,
            freq_mhz: o.freq_mhz,
            out: o.out.join(format!("{}-b{b}", o.board)),
            yosys_only: o.yosys_only,
            seed: 1,
        };
        reports.push(run(&opts, progress)?);
    }
    write(&reports)?;
    Ok(BenchReport { reports, json })
}

fn parse_stat(path: &Path, b: &Board) -> Result<Resources> {
    let text = std::fs::read_to_string(path).map_err(Error::io("reading", path))?;
    let v: Value = serde_json::from_str(&text).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })?;
    let cells_v = v["design"]["num_cells_by_type"]
        .as_object()
        .or_else(|| v["modules"]["\\unibit_board"]["num_cells_by_type"].as_object())
        .ok_or_else(|| Error::ToolOutput {
            file: path.to_path_buf(),
            what: "yosys stat JSON has no design.num_cells_by_type".into(),
        })?;
    let cells: BTreeMap<String, u64> = cells_v
        .iter()
        .map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0)))
        .collect();
    let names = &b.toolchain.cells;
    let count = |patterns| crate::board::Cells::count(patterns, &cells);
    Ok(Resources {
        luts: count(names.luts),
        ffs: count(names.ffs),
        carries: count(names.carries),
        brams: count(names.brams),
        dsps: count(names.dsps),
        cells: cells.clone(),
    })
}

/// Progress lines (1,000 router iterations each) with no progress before we call it a stall.
pub const STALL_LINES: usize = 30;

/// The router1 progress rows of a log: (remaining arcs, arcs routed without rip-up in the last
/// 1,000 iterations).
fn router_rows(log: &str) -> Vec<(u64, u64)> {
    log.lines()
        .filter_map(|l| {
            let cols: Vec<&str> = l.strip_prefix("Info:")?.split('|').collect();
            if cols.len() < 5 {
                return None;
            }
            let iter: u64 = cols[0].trim().parse().ok()?;
            let delta: Vec<u64> = cols[2]
                .split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect();
            let remaining: u64 = cols[3].trim().parse().ok()?;
            (iter > 0 && delta.len() == 2).then_some((remaining, delta[1]))
        })
        .collect()
}

/// Whether the last `n` router rows show no progress at all.
pub fn router_stalled(log: &str, n: usize) -> Option<u64> {
    let rows = router_rows(log);
    if rows.len() < n {
        return None;
    }
    let last = &rows[rows.len() - n..];
    let r = last[0].0;
    last.iter()
        .all(|&(rem, wo)| rem == r && wo == 0 && rem > 0)
        .then_some(r)
}

/// The Fmax of the engine clock from a nextpnr log: the last "Max frequency for clock" lines
/// (post-route), minimum over clocks.
pub fn parse_fmax(log: &str) -> Option<f64> {
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("Max frequency for clock"))
        .collect();
    // nextpnr prints the report after placement and after routing; keep the final block.
    let mut last_block: BTreeMap<String, f64> = BTreeMap::new();
    for l in lines {
        let name = l.split('\'').nth(1).unwrap_or("").to_string();
        let mhz = l
            .split("clock")
            .nth(1)?
            .split(':')
            .nth(1)?
            .split_whitespace()
            .next()?
            .parse::<f64>()
            .ok()?;
        last_block.insert(name, mhz);
    }
    last_block.values().cloned().reduce(f64::min)
}

fn parse_utilisation(log: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let mut inside = false;
    for l in log.lines() {
        if l.contains("Device utilisation") {
            inside = true;
            m.clear();
            continue;
        }
        if inside {
            let t = l.trim_start_matches("Info:").trim();
            if t.is_empty() {
                inside = false;
                continue;
            }
            if let Some((k, v)) = t.split_once(':') {
                m.insert(
                    k.trim().to_string(),
                    v.split_whitespace().collect::<Vec<_>>().join(" "),
                );
            }
        }
    }
    m
}

/// Runs nextpnr. Returns the log and whether timing was met: nextpnr exits non-zero when the
/// clock constraint fails (we never pass `--timing-allow-fail`); that case is reported, not
/// hidden, and no bitstream is packed. A stalled router is retried with the next seeds; any
/// other failure is an error.
fn run_pnr(
    dir: &Path,
    tool: &str,
    args: &[String],
    cmds: &mut Vec<String>,
    progress: &dyn Progress,
) -> Result<(String, bool)> {
    let seed_at = args.iter().position(|a| a == "--seed").map(|i| i + 1);
    let first: u32 = seed_at.and_then(|i| args[i].parse().ok()).unwrap_or(1);
    let mut args = args.to_vec();
    for attempt in 0..PNR_SEEDS {
        let seed = first + attempt;
        if let Some(i) = seed_at {
            args[i] = seed.to_string();
        }
        match pnr_attempt(dir, tool, &args, cmds, progress) {
            Ok(log) => return Ok((log, true)),
            Err(Error::RouterStalled(stall)) => {
                let kept = dir.join(format!("nextpnr-seed{seed}-stalled.log"));
                let _ = std::fs::rename(&stall.log, &kept);
                progress.line(&format!(
                    "  {tool}: router stalled with seed {seed} ({} arcs left, a known nextpnr bug; log {}); retrying with seed {}",
                    stall.remaining,
                    kept.display(),
                    seed + 1
                ));
            }
            Err(e) => {
                let log = std::fs::read_to_string(dir.join("nextpnr.log")).unwrap_or_default();
                if log.contains("Max frequency for clock") && log.contains("FAIL at") {
                    return Ok((log, false));
                }
                return Err(e);
            }
        }
    }
    Err(Error::RouterGaveUp {
        tool: tool.into(),
        seeds: PNR_SEEDS,
        first,
        last: first + PNR_SEEDS - 1,
        dir: dir.to_path_buf(),
    })
}

/// One nextpnr run, stopped when its router stalls.
fn pnr_attempt(
    dir: &Path,
    tool: &str,
    args: &[String],
    cmds: &mut Vec<String>,
    progress: &dyn Progress,
) -> Result<String> {
    let log = dir.join("nextpnr.log");
    let stalled = |tail: &str| {
        router_stalled(tail, STALL_LINES).map(|remaining| {
            Error::RouterStalled(RouterStalled {
                tool: tool.to_string(),
                remaining,
                lines: STALL_LINES,
                log: log.clone(),
            })
        })
    };
    let run = ToolRun {
        dir,
        tool,
        args,
        log: "nextpnr.log",
    };
    run.run(cmds, progress, Some(&stalled))
}

/// Seeds tried when nextpnr's router stalls.
pub const PNR_SEEDS: u32 = 6;

#[cfg(test)]
mod tests {
    use super::*;

    fn resources(luts: u64, ffs: u64, carries: u64) -> Resources {
        Resources {
            luts,
            ffs,
            carries,
            brams: 0,
            dsps: 0,
            cells: BTreeMap::new(),
        }
    }

    #[test]
    fn a_net_design_larger_than_the_device_is_refused_in_one_line_before_nextpnr() {
        let ice = board("icebreaker").unwrap();
        let e = check_logic(ice, EngineKind::Net, &resources(20_904, 9_000, 4_000))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("the net engine needs 20,904 LCs, the iCE40UP5K-SG48 has 5,280"),
            "{e}"
        );
        assert!(e.contains("nextpnr not started"), "{e}");
        assert_eq!(e.lines().count(), 1);
        // FFs or carries alone can exceed the device too (one of each per logic cell).
        assert!(check_logic(ice, EngineKind::Net, &resources(5_000, 5_281, 0)).is_err());
        check_logic(ice, EngineKind::Net, &resources(5_280, 5_280, 5_280)).unwrap();
        // The tile flow keeps its estimate before yosys; this check does not apply to it.
        check_logic(ice, EngineKind::Tile, &resources(20_904, 0, 0)).unwrap();
        let ecp5 = board("ulx3s-25f").unwrap();
        check_logic(ecp5, EngineKind::Net, &resources(21_000, 15_000, 3_000)).unwrap();
        let e = check_logic(ecp5, EngineKind::Net, &resources(24_289, 0, 0))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("needs 24,289 LUT4s") && e.contains("has 24,288"),
            "{e}"
        );
        // Memory blocks too: the first ECP5 build's 64 DP16KD of 56 (hw/README.md).
        let mut r = resources(17_377, 7_068, 2_483);
        r.cells.insert("DP16KD".into(), 64);
        let e = check_logic(ecp5, EngineKind::Net, &r)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("the net engine needs 64 DP16KD, the LFE5U-25F-6BG381 has 56"),
            "{e}"
        );
        r.cells.insert("DP16KD".into(), 56);
        check_logic(ecp5, EngineKind::Net, &r).unwrap();
        // DSPs count too, and every short resource is named after the logic: the UP5K build
        // of 2026-12-03 (14,298 LUT4, 10 SB_MAC16 of 8).
        let mut r = resources(14_298, 6_744, 5_046);
        r.cells.insert("SB_MAC16".into(), 10);
        r.cells.insert("SB_RAM40_4K".into(), 21);
        let e = check_logic(ice, EngineKind::Net, &r)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("the net engine needs 14,298 LCs, the iCE40UP5K-SG48 has 5,280")
                && e.contains("also 10 SB_MAC16 of 8")
                && !e.contains("SB_RAM40_4K"),
            "{e}"
        );
        assert_eq!(e.lines().count(), 1);
        let mut r = resources(5_000, 3_000, 2_000);
        r.cells.insert("SB_MAC16".into(), 9);
        let e = check_logic(ice, EngineKind::Net, &r)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("the net engine needs 9 SB_MAC16, the iCE40UP5K-SG48 has 8"),
            "{e}"
        );
        r.cells.insert("SB_MAC16".into(), 8);
        check_logic(ice, EngineKind::Net, &r).unwrap();
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }

    fn row(iter: u64, wr: u64, wor: u64, dwr: u64, dwor: u64, rem: u64) -> String {
        format!(
            "Info: {iter:>10} | {wr:>8} {wor:>10} | {dwr:>4} {dwor:>5} | {rem:>9}|       0.60      11.36|\n"
        )
    }

    #[test]
    fn a_router_that_stopped_making_progress_is_a_stall_and_a_converging_one_is_not() {
        let header = "Info: Routing 11203 arcs.\nInfo:            |   (re-)routed arcs  |   delta    | remaining|       time spent     |\nInfo:    IterCnt |  w/ripup   wo/ripup |  w/r  wo/r |      arcs| batch(sec) total(sec)|\n";
        // Converging: remaining falls every 1,000 iterations.
        let mut good = header.to_string();
        for i in 1..=40u64 {
            good += &row(i * 1000, 100 * i, 800 * i, 100, 800, 11000 - 250 * i);
        }
        assert_eq!(router_stalled(&good, STALL_LINES), None);
        // The loop of YosysHQ/nextpnr#1341: every arc re-routed with rip-up, nothing remaining changes.
        let mut bad = header.to_string();
        for i in 1..=12u64 {
            bad += &row(i * 1000, 100 * i, 800 * i, 100, 800, 11000 - 700 * i);
        }
        for i in 13..=12 + STALL_LINES as u64 {
            bad += &row(i * 1000, 1000 * i, 9060, 1000, 0, 2761);
        }
        assert_eq!(router_stalled(&bad, STALL_LINES), Some(2761));
        // One line short of the window: not yet.
        let short: String = bad
            .lines()
            .take(bad.lines().count() - 1)
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(router_stalled(&short, STALL_LINES), None);
        // Other logs (router2, timing reports) are never a stall.
        assert_eq!(
            router_stalled(
                "Info: Max frequency for clock 'clk': 30.1 MHz (PASS at 24.00 MHz)\n",
                1
            ),
            None
        );
    }
}
