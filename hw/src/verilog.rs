//! Verilog output: the engine's module, a parameters JSON, a self-checking testbench for
//! iverilog, and Verilator lint. The testbench drives exactly the host ports the rust-hdl
//! driver uses (`configs::EngineSim`), so both are checked against the same oracle.

use crate::configs::{engine_params, engine_verilog, host_verilog};
use crate::error::{Error, Result};
use crate::job::TileJob;
use crate::model::EngineParams;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use unibit_core::atomic::write_atomic;

/// Verilator warnings waived for the generated Verilog, with the reason for each.
pub const LINT_WAIVERS: &[(&str, &str)] = &[
    (
        "WIDTH",
        "rust-hdl emits 32-bit literals and `& N'hmask` casts; widths are set by the assignment \
         targets, and the iverilog co-simulation test checks the resulting arithmetic",
    ),
    (
        "DECLFILENAME",
        "rust-hdl writes every submodule (`top$rows$0`, ...) into the one file top.v",
    ),
    (
        "UNUSEDSIGNAL",
        "each delay-line tap uses only some flag bits, heap slot 0 of every adder tree is unused, \
         and parameter-word bits [63:55] are reserved",
    ),
];

/// Everything `hw verilog` describes about a generated engine.
#[derive(Debug, Serialize)]
pub struct VerilogInfo {
    /// `unibit-hw-verilog` (the output kind of `hw verilog`).
    pub format: &'static str,
    pub top: &'static str,
    pub params: EngineParams,
    pub timing: unibit_core::cost::Timing,
    pub tree_latency: u64,
    pub weight_word_bits: usize,
    pub activation_word_bits: usize,
    pub lint_waivers: Vec<String>,
    pub ports: Vec<(String, usize)>,
}

pub fn info(p: &EngineParams) -> VerilogInfo {
    let ports = vec![
        ("clock", 1),
        ("wmem_we", 1),
        ("wmem_waddr", p.w_addr_bits as usize),
        ("wmem_wdata", p.rows * p.cols),
        ("amem_we", 1),
        ("amem_waddr", p.a_addr_bits as usize),
        ("amem_wdata", 9 * p.cols),
        ("pmem_we", 1),
        ("pmem_waddr", p.p_addr_bits as usize),
        ("pmem_wdata", 64),
        ("omem_raddr", p.o_addr_bits as usize),
        ("omem_rdata", 32),
        ("start", 1),
        ("desc_rows", 16),
        ("desc_chunks", 16),
        ("desc_vectors", 16),
        ("desc_wbase", 16),
        ("desc_abase", 16),
        ("desc_obase", 16),
        ("desc_pbase", 16),
        ("busy", 1),
        ("done", 1),
        ("cycles", 32),
    ];
    VerilogInfo {
        format: crate::outputs::VERILOG.format,
        top: "top",
        params: *p,
        timing: p.timing(),
        tree_latency: p.tree_latency(),
        weight_word_bits: p.rows * p.cols,
        activation_word_bits: 9 * p.cols,
        lint_waivers: LINT_WAIVERS.iter().map(|(w, _)| w.to_string()).collect(),
        ports: ports.into_iter().map(|(n, w)| (n.to_string(), w)).collect(),
    }
}

fn hex_limbs(limbs: &[u64], width: usize) -> String {
    let digits = width.div_ceil(4);
    let mut s = String::new();
    for i in (0..digits).rev() {
        let bit = 4 * i;
        let nib = (limbs.get(bit / 64).copied().unwrap_or(0) >> (bit % 64)) & 0xf;
        let _ = write!(s, "{nib:x}");
    }
    format!("{width}'h{s}")
}

/// A testbench that runs `jobs` one after the other and prints `CYCLES n` and `OUT addr value`.
pub fn testbench(p: &EngineParams, jobs: &[TileJob]) -> String {
    let rc = p.rows * p.cols;
    let x9 = 9 * p.cols;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "`timescale 1ns/1ps
module tb;
reg clock = 0;
always #5 clock = ~clock;
reg wmem_we = 0; reg [{wa}:0] wmem_waddr = 0; reg [{rc1}:0] wmem_wdata = 0;
reg amem_we = 0; reg [{aa}:0] amem_waddr = 0; reg [{x91}:0] amem_wdata = 0;
reg pmem_we = 0; reg [{pa}:0] pmem_waddr = 0; reg [63:0] pmem_wdata = 0;
reg [{oa}:0] omem_raddr = 0; wire [31:0] omem_rdata;
reg start = 0;
reg [15:0] desc_rows = 0, desc_chunks = 0, desc_vectors = 0, desc_wbase = 0, desc_abase = 0, desc_obase = 0, desc_pbase = 0;
wire busy, done; wire [31:0] cycles;
integer n;
top dut(.clock(clock), .wmem_we(wmem_we), .wmem_waddr(wmem_waddr), .wmem_wdata(wmem_wdata),
  .amem_we(amem_we), .amem_waddr(amem_waddr), .amem_wdata(amem_wdata),
  .pmem_we(pmem_we), .pmem_waddr(pmem_waddr), .pmem_wdata(pmem_wdata),
  .omem_raddr(omem_raddr), .omem_rdata(omem_rdata), .start(start),
  .desc_rows(desc_rows), .desc_chunks(desc_chunks), .desc_vectors(desc_vectors),
  .desc_wbase(desc_wbase), .desc_abase(desc_abase), .desc_obase(desc_obase), .desc_pbase(desc_pbase),
  .busy(busy), .done(done), .cycles(cycles));
task step; begin @(posedge clock); #1; end endtask
initial begin
  #1;",
        wa = p.w_addr_bits - 1,
        rc1 = rc - 1,
        aa = p.a_addr_bits - 1,
        x91 = x9 - 1,
        pa = p.p_addr_bits - 1,
        oa = p.o_addr_bits - 1,
    );
    for job in jobs {
        for (a, w) in &job.weights {
            let _ = writeln!(
                s,
                "  wmem_we = 1; wmem_waddr = {a}; wmem_wdata = {}; step; wmem_we = 0;",
                hex_limbs(w, rc)
            );
        }
        for (a, x) in &job.activations {
            let limbs = crate::model::pack_lanes(x);
            let _ = writeln!(
                s,
                "  amem_we = 1; amem_waddr = {a}; amem_wdata = {}; step; amem_we = 0;",
                hex_limbs(&limbs, x9)
            );
        }
        for (a, w) in &job.params {
            let _ = writeln!(
                s,
                "  pmem_we = 1; pmem_waddr = {a}; pmem_wdata = 64'h{w:016x}; step; pmem_we = 0;"
            );
        }
        let d = &job.desc;
        let _ = writeln!(
            s,
            "  desc_rows = {}; desc_chunks = {}; desc_vectors = {}; desc_wbase = {}; desc_abase = {}; desc_obase = {}; desc_pbase = {};
  start = 1; step; start = 0;
  n = 0;
  while (!(done && !busy) && n < 1000000) begin step; n = n + 1; end
  $display(\"CYCLES %0d\", cycles);",
            d.rows, d.chunks, d.vectors, d.w_base, d.a_base, d.o_base, d.p_base
        );
        for i in 0..d.rows * d.vectors {
            let a = d.o_base + i;
            let _ = writeln!(
                s,
                "  omem_raddr = {a}; step; $display(\"OUT {a} %0d\", $signed(omem_rdata));"
            );
        }
    }
    s.push_str("  $finish;\nend\nendmodule\n");
    s
}

/// Results of one job in a testbench run.
#[derive(Debug, PartialEq, Eq)]
pub struct TbResult {
    pub cycles: u64,
    pub outputs: Vec<i32>,
}

pub fn have_tool(tool: &str) -> bool {
    Command::new(tool)
        .arg("-V")
        .output()
        .map(|_| true)
        .unwrap_or(false)
        || Command::new(tool).arg("--version").output().is_ok()
}

/// Runs `tool args` in `dir`; an error with its exit code, stderr and stdout when it fails.
pub(crate) fn run_tool(dir: &Path, tool: &str, args: &[&str]) -> Result<Output> {
    let out = Command::new(tool)
        .current_dir(dir)
        .args(args)
        .output()
        .map_err(|_| Error::ToolNotOnPath { tool: tool.into() })?;
    if !out.status.success() {
        return Err(Error::ToolFailed {
            tool: tool.into(),
            how: format!(" (exit {:?})", out.status.code()),
            output: String::from_utf8_lossy(&out.stderr).into_owned()
                + &String::from_utf8_lossy(&out.stdout),
        });
    }
    Ok(out)
}

/// Writes `text` to `dir/name` (plain write: scratch files of a test run).
fn write_scratch(dir: &Path, name: &str, text: &str) -> Result<()> {
    let p = dir.join(name);
    std::fs::write(&p, text).map_err(Error::io("writing", p))
}

/// The testbench's `CYCLES n` / `OUT addr value` lines, one result per job.
fn parse_tb_output(text: &str, file: &Path) -> Result<Vec<TbResult>> {
    let bad = |what: &str| Error::ToolOutput {
        file: file.to_path_buf(),
        what: what.to_string(),
    };
    let mut results: Vec<TbResult> = vec![];
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            ["CYCLES", n] => results.push(TbResult {
                cycles: n.parse().map_err(|_| bad("CYCLES line"))?,
                outputs: vec![],
            }),
            ["OUT", _, v] => results
                .last_mut()
                .ok_or_else(|| bad("OUT before CYCLES"))?
                .outputs
                .push(v.parse().map_err(|_| bad("OUT line"))?),
            _ => {}
        }
    }
    Ok(results)
}

/// Compiles the engine and a testbench with iverilog, runs it, and parses the results.
pub fn run_iverilog(
    dir: &Path,
    engine_v: &str,
    p: &EngineParams,
    jobs: &[TileJob],
) -> Result<Vec<TbResult>> {
    std::fs::create_dir_all(dir).map_err(Error::io("creating", dir))?;
    write_scratch(dir, "top.v", engine_v)?;
    write_scratch(dir, "tb.v", &testbench(p, jobs))?;
    run_tool(
        dir,
        "iverilog",
        &["-g2012", "-o", "tb.vvp", "tb.v", "top.v"],
    )?;
    let out = run_tool(dir, "vvp", &["-n", "tb.vvp"])?;
    parse_tb_output(&String::from_utf8_lossy(&out.stdout), &dir.join("tb.vvp"))
}

/// Verilator `--lint-only -Wall` with the documented waivers; the error text on failure.
pub fn lint(dir: &Path, engine_v: &str) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(Error::io("creating", dir))?;
    write_scratch(dir, "top.v", engine_v)?;
    let mut args = vec!["--lint-only".to_string(), "-Wall".into()];
    for (w, _) in LINT_WAIVERS {
        args.push(format!("-Wno-{w}"));
    }
    args.extend(["--top-module".into(), "top".into(), "top.v".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match run_tool(dir, "verilator", &args) {
        Err(Error::ToolFailed { how, output, .. }) => Err(Error::ToolFailed {
            tool: "verilator lint".into(),
            how,
            output,
        }),
        r => r.map(|_| ()),
    }
}

/// What `hw verilog` wrote: the engine's description and the files.
#[derive(Debug, Serialize)]
pub struct VerilogOutput {
    pub info: VerilogInfo,
    pub files: Vec<PathBuf>,
}

/// `hw verilog`: writes `top.v` and `engine.json` into `out`, and `host.v` (the engine behind
/// the UART host link) when `host_clocks_per_bit` is given.
pub fn write_engine(
    bits: u8,
    rows: usize,
    cols: usize,
    host_clocks_per_bit: Option<u16>,
    out: &Path,
) -> Result<VerilogOutput> {
    let p = engine_params(bits, rows, cols)?;
    let v = engine_verilog(bits, rows, cols)?;
    let host = host_clocks_per_bit
        .map(|cpb| host_verilog(bits, rows, cols, cpb))
        .transpose()?;
    unibit_core::atomic::check_output_dir(out, &crate::outputs::VERILOG, &[])?;
    std::fs::create_dir_all(out).map_err(Error::io("creating", out))?;
    let info = info(&p);
    let mut files = vec![out.join("top.v"), out.join("engine.json")];
    write_atomic(&files[0], v.as_bytes())?;
    write_atomic(&files[1], serde_json::to_string_pretty(&info)?.as_bytes())?;
    if let Some(h) = host {
        files.push(out.join("host.v"));
        write_atomic(&files[2], h.as_bytes())?;
    }
    Ok(VerilogOutput { info, files })
}
