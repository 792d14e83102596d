//! The board top: the protocol v2 host side ([`HostSide`]: UART, frames, command unit, image
//! loader) in front of the whole-network engine ([`NetEngine`], which holds the main memory).
//! Ports: `clock`, `rx`, `tx`, `idle` (see `HostSide::idle`); no reset: every register
//! starts at its `initial` value (0) from configuration (hw/README.md, "Bitstream"). Its
//! Verilog with yosys's SPRAM model is what the Verilator virtual board runs
//! ([`board_simulation`]); `hw synth --engine net` builds the same Verilog into the bitstream.

use crate::rtl::net::host_cmd::{HostConfig, HostSide};
use crate::rtl::net::main_memory::MainKind;
use crate::rtl::net::net_engine::NetEngine;
use rust_hdl::prelude::*;

/// INFO of the board top: B, the UP5K engine's 8 × 8 array, clock and baud, its main
/// memory and `config_hash` — `unibit_board::target::Target::config_hash` of the target it
/// is built for (this crate does not depend on the driver's, so the caller passes it).
pub fn board_config(bits: u8, clock_hz: u32, baud: u32, config_hash: [u8; 8]) -> HostConfig {
    board_config_for(MainKind::Spram, bits, clock_hz, baud, config_hash)
}

/// INFO of the board top with the main memory `main` (its bytes are INFO's main memory);
/// the UART runs at the whole number of clocks per bit nearest `clock_hz / baud` (ECP5 at
/// 100 MHz and 3 Mbaud: 33, +1.0 %), INFO reports the nominal `baud`.
pub fn board_config_for(
    main: MainKind,
    bits: u8,
    clock_hz: u32,
    baud: u32,
    config_hash: [u8; 8],
) -> HostConfig {
    HostConfig {
        bits,
        rows: 8,
        cols: 8,
        clock_hz,
        baud,
        main_bytes: main.bytes(),
        config_hash,
        clocks_per_bit: nearest_clocks_per_bit(clock_hz, baud).min(u16::MAX as u64) as u16,
        idle_clocks: HostConfig::idle_gap_clocks(clock_hz),
    }
}

/// The board top: protocol v2 host side ([`HostSide`]) in front of the whole-network engine
/// ([`NetEngine`], which holds the main memory).
#[derive(LogicBlock)]
pub struct BoardTop {
    pub clock: Signal<In, Clock>,
    pub rx: Signal<In, Bit>,
    pub tx: Signal<Out, Bit>,
    pub idle: Signal<Out, Bit>,
    host: HostSide,
    engine: NetEngine,
}

impl BoardTop {
    /// The UP5K board top (SPRAM main memory).
    pub fn new(cfg: &HostConfig) -> Self {
        Self::with_main(cfg, MainKind::Spram)
    }

    /// The board top with the main memory `main` (`cfg` from [`board_config_for`] of it).
    pub fn with_main(cfg: &HostConfig, main: MainKind) -> Self {
        assert_eq!(
            cfg.main_bytes,
            main.bytes(),
            "INFO's main memory is the engine's"
        );
        Self {
            clock: Default::default(),
            rx: Default::default(),
            tx: Default::default(),
            idle: Default::default(),
            host: HostSide::new(cfg),
            engine: NetEngine::with_main(cfg.bits, main),
        }
    }
}

impl Logic for BoardTop {
    #[hdl_gen]
    fn update(&mut self) {
        self.host.clock.next = self.clock.val();
        self.engine.clock.next = self.clock.val();
        self.host.rx.next = self.rx.val();
        self.tx.next = self.host.tx.val();
        self.idle.next = self.host.idle.val();
        self.engine.start.next = self.host.eng_start.val();
        self.engine.stop_after.next = self.host.eng_stop_after.val();
        self.host.eng_busy.next = self.engine.busy.val();
        self.host.eng_done.next = self.engine.done.val();
        self.host.eng_fault.next = self.engine.fault.val();
        self.host.eng_cycles.next = self.engine.cycles.val();
        self.engine.host_addr.next = self.host.host_addr.val();
        self.engine.host_we.next = self.host.host_we.val();
        self.engine.host_be.next = self.host.host_be.val();
        self.engine.host_wdata.next = self.host.host_wdata.val();
        self.engine.host_en.next = self.host.host_en.val();
        self.host.host_rdata.next = self.engine.host_rdata.val();
    }
}

/// The Verilog of the board top (module `top`, SPRAM black boxes declared), Verilator's
/// UNOPTFLAT waived as for the engine.
pub fn board_verilog(cfg: &HostConfig) -> String {
    board_verilog_for(cfg, MainKind::Spram)
}

/// The Verilog of the board top with the main memory `main` (module `top`).
pub fn board_verilog_for(cfg: &HostConfig, main: MainKind) -> String {
    let mut top = BoardTop::with_main(cfg, main);
    top.connect_all();
    format!(
        "{}{}",
        crate::rtl::net::elem_unit::UNOPTFLAT_WAIVER,
        generate_verilog(&top)
    )
}

/// The UP5K board top for a simulator at `clock_hz` and `baud` claiming `config_hash`: its
/// configuration and its Verilog with the vendor's SPRAM model ([`board_simulation_for`]).
pub fn board_simulation(
    bits: u8,
    clock_hz: u32,
    baud: u32,
    config_hash: [u8; 8],
) -> crate::Result<(HostConfig, String)> {
    board_simulation_for(MainKind::Spram, bits, clock_hz, baud, config_hash)
}

/// The board top with the main memory `main` for a simulator at `clock_hz` and `baud`
/// (the nearest whole number of clocks per bit, ≥ 4, within 2 % of `baud`, as the bitstream
/// builds it) claiming `config_hash`: its configuration and a Verilog a simulator takes
/// whole (the UP5K's SPRAM black boxes replaced by the vendor's model; the ECP5's block RAM
/// is behavioural already).
pub fn board_simulation_for(
    main: MainKind,
    bits: u8,
    clock_hz: u32,
    baud: u32,
    config_hash: [u8; 8],
) -> crate::Result<(HostConfig, String)> {
    check_baud(clock_hz, baud)?;
    let cfg = board_config_for(main, bits, clock_hz, baud, config_hash);
    let v = board_verilog_for(&cfg, main);
    let v = match main {
        MainKind::Spram => with_spram_model(&v, std::path::Path::new(ICE40_CELLS_SIM))?,
        MainKind::Bram { .. } => v,
    };
    Ok((cfg, v))
}

/// Yosys's simulation models of the iCE40 primitives.
pub const ICE40_CELLS_SIM: &str = "/usr/share/yosys/ice40/cells_sim.v";

/// `verilog` ready for a simulator: its `(* blackbox *)` declarations replaced by the
/// vendor's simulation model of SB_SPRAM256KA (from `cells_sim`, yosys's `ICE40_CELLS_SIM`).
pub fn with_spram_model(verilog: &str, cells_sim: &std::path::Path) -> crate::Result<String> {
    let text = std::fs::read_to_string(cells_sim)
        .map_err(crate::error::Error::io("reading", cells_sim))?;
    let start = text
        .find("module SB_SPRAM256KA")
        .ok_or_else(|| crate::error::Error::Invalid {
            field: cells_sim.display().to_string(),
            expected: "a model of SB_SPRAM256KA".into(),
            found: "none".into(),
        })?;
    let end = text[start..]
        .find("endmodule")
        .map(|e| start + e + "endmodule".len())
        .unwrap_or(text.len());
    Ok(format!(
        "{}\n{}\n",
        crate::rtl::net::without_blackboxes(verilog),
        &text[start..end]
    ))
}

/// The whole number of clocks per bit nearest `clock_hz / baud` (0 for a baud of 0).
fn nearest_clocks_per_bit(clock_hz: u32, baud: u32) -> u64 {
    if baud == 0 {
        0
    } else {
        (clock_hz as u64 + baud as u64 / 2) / baud as u64
    }
}

/// The UART's clocks per bit must be a whole number ≥ 4 whose rate is within 2 % of `baud`
/// (the usual budget between two ends sampling mid-bit; ECP5 at 100 MHz and 3 Mbaud: 33,
/// +1.0 %).
fn check_baud(clock_hz: u32, baud: u32) -> crate::Result<()> {
    let cpb = nearest_clocks_per_bit(clock_hz, baud);
    let off = |c: u64| (clock_hz as f64 / c as f64 / baud as f64 - 1.0).abs();
    if !(4..=u16::MAX as u64).contains(&cpb) || off(cpb) > 0.02 {
        return Err(crate::error::Error::Invalid {
            field: "baud".into(),
            expected: format!(
                "a rate {clock_hz} Hz reaches with a whole number ≥ 4 of clocks per bit, within 2 %"
            ),
            found: baud.to_string(),
        });
    }
    Ok(())
}
