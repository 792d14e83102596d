//! The supported (R, C) configurations and the runtime entry points that map `(B, R, C)` to a
//! concrete engine type: the rust-hdl simulation driver ([`EngineSim`]) and the Verilog.
//!
//! B is a synthesis-time constant baked into the circuit (it only sets the plane count and the
//! correction shift, no widths), so every B in 1..=8 works with every configuration. R and C
//! fix widths, so each supported pair is a concrete type listed in [`for_each_config`].

use crate::error::{Error, Result};
use crate::model::{EngineParams, TileDesc};
use crate::rtl::engine::Engine;
use crate::rtl::host::HostLink;
use crate::rtl::sim::{limbs_to_bits, tick};
use rust_hdl::prelude::*;

/// Calls `$m!(R, C, C2, X9, ST, RC, WA, AA, OA, PA, SH)` for every supported configuration.
macro_rules! for_each_config {
    ($m:ident) => {
        $m!(4, 4, 8, 36, 11, 16, 8, 8, 8, 6, 112);
        $m!(4, 8, 16, 72, 12, 32, 8, 8, 8, 6, 112);
        $m!(8, 4, 8, 36, 11, 32, 8, 8, 8, 6, 112);
        $m!(8, 8, 16, 72, 12, 64, 9, 9, 9, 6, 112);
        $m!(8, 16, 32, 144, 13, 128, 9, 9, 9, 6, 160);
        $m!(16, 8, 16, 72, 12, 128, 9, 9, 9, 6, 144);
        $m!(16, 16, 32, 144, 13, 256, 9, 9, 10, 6, 272);
    };
}

/// The supported `(rows, cols)` pairs.
pub fn supported_configs() -> Vec<(usize, usize)> {
    unibit_core::cost::TILE_ENGINES
        .iter()
        .map(|e| (e.rows, e.cols))
        .collect()
}

/// Whether `unibit_core::cost::TILE_ENGINES` lists `(r, c)` with exactly these address widths.
const fn in_core_table(r: usize, c: usize, wa: u32, aa: u32, oa: u32, pa: u32) -> bool {
    let t = &unibit_core::cost::TILE_ENGINES;
    let mut i = 0;
    while i < t.len() {
        let e = &t[i];
        if e.rows == r
            && e.cols == c
            && e.w_addr_bits == wa
            && e.a_addr_bits == aa
            && e.o_addr_bits == oa
            && e.p_addr_bits == pa
        {
            return true;
        }
        i += 1;
    }
    false
}

// The circuits built here are exactly the core table's configurations (which the cost model
// predicts with): a difference fails to compile.
macro_rules! assert_in_core_table {
    ($r:expr, $c:expr, $c2:expr, $x9:expr, $st:expr, $rc:expr, $wa:expr, $aa:expr, $oa:expr, $pa:expr, $sh:expr) => {
        const _: () = assert!(
            in_core_table($r, $c, $wa, $aa, $oa, $pa),
            "configs.rs lists an engine that unibit_core::cost::TILE_ENGINES does not"
        );
    };
}
for_each_config!(assert_in_core_table);
const _: () = {
    let mut n = 0;
    macro_rules! count {
        ($($x:expr),*) => {
            n += 1;
        };
    }
    for_each_config!(count);
    assert!(
        n == unibit_core::cost::TILE_ENGINES.len(),
        "unibit_core::cost::TILE_ENGINES lists an engine that configs.rs does not build"
    );
};

/// Engine parameters for `(bits, rows, cols)` (the memory depths of
/// `unibit_core::cost::TILE_ENGINES`), or an error naming the supported values.
pub fn engine_params(bits: u8, rows: usize, cols: usize) -> Result<EngineParams> {
    if !(1..=8).contains(&bits) {
        return Err(Error::invalid("bits", "1..=8", bits));
    }
    match unibit_core::cost::TileEngine::find(rows, cols) {
        Some(e) => Ok(EngineParams {
            bits,
            rows,
            cols,
            w_addr_bits: e.w_addr_bits,
            a_addr_bits: e.a_addr_bits,
            o_addr_bits: e.o_addr_bits,
            p_addr_bits: e.p_addr_bits,
        }),
        None => Err(Error::UnsupportedArray {
            rows,
            cols,
            expected: unibit_core::cost::TileEngine::supported(),
        }),
    }
}

/// The Verilog of the engine (top module `top`) for `(bits, rows, cols)`.
pub fn engine_verilog(bits: u8, rows: usize, cols: usize) -> Result<String> {
    engine_params(bits, rows, cols)?;
    macro_rules! gen {
        ($r:expr, $c:expr, $c2:expr, $x9:expr, $st:expr, $rc:expr, $wa:expr, $aa:expr, $oa:expr, $pa:expr, $sh:expr) => {
            if rows == $r && cols == $c {
                let mut uut = Engine::<$r, $c, $c2, $x9, $st, $rc, $wa, $aa, $oa, $pa>::new(bits);
                uut.connect_all();
                return Ok(generate_verilog(&uut));
            }
        };
    }
    for_each_config!(gen);
    unreachable!("engine_params accepted an unlisted configuration")
}

/// The Verilog of the engine behind the UART host link (top module `top`, ports `clock`,
/// `rx`, `tx`, `led_busy`, `led_done`), for a UART of `clocks_per_bit` clocks per bit.
pub fn host_verilog(bits: u8, rows: usize, cols: usize, clocks_per_bit: u16) -> Result<String> {
    engine_params(bits, rows, cols)?;
    if clocks_per_bit < 4 {
        return Err(Error::invalid("clocks_per_bit", ">= 4", clocks_per_bit));
    }
    macro_rules! gen {
        ($r:expr, $c:expr, $c2:expr, $x9:expr, $st:expr, $rc:expr, $wa:expr, $aa:expr, $oa:expr, $pa:expr, $sh:expr) => {
            if rows == $r && cols == $c {
                let mut uut = HostLink::<$r, $c, $c2, $x9, $st, $rc, $wa, $aa, $oa, $pa, $sh>::new(
                    bits,
                    clocks_per_bit,
                );
                uut.connect_all();
                return Ok(generate_verilog(&uut));
            }
        };
    }
    for_each_config!(gen);
    unreachable!("engine_params accepted an unlisted configuration")
}

/// A running engine simulation driven through its host ports (rust-hdl here; the cosimulation
/// crate implements the same operations on a Verilator build of [`engine_verilog`]).
pub trait EngineSim {
    fn params(&self) -> EngineParams;
    /// Writes one weight word (`R·C` bits as little-endian u64 limbs).
    fn write_weight(&mut self, addr: usize, word: &[u64]);
    /// Writes one activation word (`C` values, each in −256..=255).
    fn write_activation(&mut self, addr: usize, lanes: &[i32]);
    /// Writes one parameter word (see [`crate::model::RowParams::word`]).
    fn write_param(&mut self, addr: usize, word: u64);
    /// Starts a tile, runs to `done` and returns the engine's cycle counter.
    fn run(&mut self, desc: &TileDesc, max_cycles: u64) -> Result<u64>;
    /// Reads one output word.
    fn read_output(&mut self, addr: usize) -> i32;
    /// Clock cycles simulated so far (host writes included).
    fn sim_cycles(&self) -> u64;
}

/// Builds the rust-hdl simulation of the engine for `(bits, rows, cols)`.
pub fn rust_hdl_engine(bits: u8, rows: usize, cols: usize) -> Result<Box<dyn EngineSim>> {
    let params = engine_params(bits, rows, cols)?;
    macro_rules! build {
        ($r:expr, $c:expr, $c2:expr, $x9:expr, $st:expr, $rc:expr, $wa:expr, $aa:expr, $oa:expr, $pa:expr, $sh:expr) => {
            if rows == $r && cols == $c {
                let mut uut = Engine::<$r, $c, $c2, $x9, $st, $rc, $wa, $aa, $oa, $pa>::new(bits);
                uut.connect_all();
                return Ok(Box::new(HdlEngine {
                    uut: Box::new(uut),
                    params,
                    cycles: 0,
                }));
            }
        };
    }
    for_each_config!(build);
    unreachable!("engine_params accepted an unlisted configuration")
}

struct HdlEngine<E> {
    uut: Box<E>,
    params: EngineParams,
    cycles: u64,
}

macro_rules! impl_sim {
    ($r:expr, $c:expr, $c2:expr, $x9:expr, $st:expr, $rc:expr, $wa:expr, $aa:expr, $oa:expr, $pa:expr, $sh:expr) => {
        impl EngineSim for HdlEngine<Engine<$r, $c, $c2, $x9, $st, $rc, $wa, $aa, $oa, $pa>> {
            fn params(&self) -> EngineParams {
                self.params
            }
            fn write_weight(&mut self, addr: usize, word: &[u64]) {
                let u = &mut self.uut;
                u.wmem_we.next = true;
                u.wmem_waddr.next = bits(addr as u64);
                u.wmem_wdata.next = limbs_to_bits(word);
                self.step();
                self.uut.wmem_we.next = false;
            }
            fn write_activation(&mut self, addr: usize, lanes: &[i32]) {
                let u = &mut self.uut;
                u.amem_we.next = true;
                u.amem_waddr.next = bits(addr as u64);
                u.amem_wdata.next = limbs_to_bits(&crate::model::pack_lanes(lanes));
                self.step();
                self.uut.amem_we.next = false;
            }
            fn write_param(&mut self, addr: usize, word: u64) {
                let u = &mut self.uut;
                u.pmem_we.next = true;
                u.pmem_waddr.next = bits(addr as u64);
                u.pmem_wdata.next = bits(word);
                self.step();
                self.uut.pmem_we.next = false;
            }
            fn run(&mut self, d: &TileDesc, max_cycles: u64) -> Result<u64> {
                let u = &mut self.uut;
                u.desc_rows.next = bits(d.rows as u64);
                u.desc_chunks.next = bits(d.chunks as u64);
                u.desc_vectors.next = bits(d.vectors as u64);
                u.desc_wbase.next = bits(d.w_base as u64);
                u.desc_abase.next = bits(d.a_base as u64);
                u.desc_obase.next = bits(d.o_base as u64);
                u.desc_pbase.next = bits(d.p_base as u64);
                u.start.next = true;
                self.step();
                self.uut.start.next = false;
                for _ in 0..max_cycles {
                    if self.uut.done.val() && !self.uut.busy.val() {
                        return Ok(self.uut.cycles.val().to_u64());
                    }
                    self.step();
                }
                Err(Error::TileTimeout { max_cycles })
            }
            fn read_output(&mut self, addr: usize) -> i32 {
                self.uut.omem_raddr.next = bits(addr as u64);
                self.step();
                self.uut.omem_rdata.val().to_u64() as u32 as i32
            }
            fn sim_cycles(&self) -> u64 {
                self.cycles
            }
        }
        impl HdlEngine<Engine<$r, $c, $c2, $x9, $st, $rc, $wa, $aa, $oa, $pa>> {
            fn step(&mut self) {
                tick(self.uut.as_mut(), |u| &mut u.clock);
                self.cycles += 1;
            }
        }
    };
}
for_each_config!(impl_sim);

#[cfg(test)]
mod tests {
    use super::*;
    use unibit_core::cost::{tile_engine, TILE_ENGINES};

    /// The engines built here time and size exactly as the cost model says (`unibit cost`
    /// predicts with `tile_engine`, cosimulation splits tiles by `engine_config`).
    #[test]
    fn every_configuration_is_the_cost_models_tile_engine() {
        assert_eq!(supported_configs().len(), TILE_ENGINES.len());
        for (rows, cols) in supported_configs() {
            for bits in 1..=8u8 {
                let p = engine_params(bits, rows, cols).unwrap();
                let b = p.bits();
                let want = tile_engine(b, rows, cols).unwrap();
                assert_eq!(p.engine_config().unwrap(), want, "B={bits} {rows}x{cols}");
                assert_eq!(want.act_words, p.a_depth());
                assert_eq!(want.out_words, p.o_depth());
                for (r, chunks, n) in [(1, 1, 1), (rows, 3, 7), (rows / 2, 9, 40)] {
                    assert_eq!(
                        want.tile_cycles(r, chunks * cols, n),
                        p.tile_cycles(r, chunks, n),
                        "B={bits} {rows}x{cols} tile {r}×{chunks}×{n}"
                    );
                }
            }
        }
    }

    #[test]
    fn unsupported_arrays_name_the_supported_ones() {
        let e = engine_params(2, 16, 32).unwrap_err().to_string();
        assert!(
            e.contains("16x32") && e.contains("4x4") && e.contains("16x16"),
            "{e}"
        );
    }
}
