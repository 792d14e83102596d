//! The engine as cosimulation sees it: its memories and its start/done handshake, the same
//! interface the board top exposes over the host link. Every back end (the memory-level model,
//! the rust-hdl simulation, the Verilator build) implements [`Backend`]; [`run_gemm`] drives any
//! of them through tiles.

use crate::error::{Error, Fit, Result};
use crate::lower::Gemm;
use ndarray::Array2;
use unibit_hw::model::{
    activation_words, weight_words, EngineModel, EngineParams, RowParams, TileDesc,
};

/// Memory-level access to an engine.
pub trait Backend {
    fn name(&self) -> &str;
    fn params(&self) -> EngineParams;
    /// Write weight words (R·C bits as u64 limbs) from `base`.
    fn write_weights(&mut self, base: usize, words: &[Vec<u64>]) -> Result<()>;
    /// Write activation words (C lane values) from `base`.
    fn write_acts(&mut self, base: usize, words: &[Vec<i32>]) -> Result<()>;
    /// Write per-row parameter words from `base`.
    fn write_params(&mut self, base: usize, words: &[u64]) -> Result<()>;
    /// Run one tile to completion; returns the cycles from start to done.
    fn run(&mut self, d: &TileDesc) -> Result<u64>;
    /// Read `n` output words from `base`.
    fn read_outputs(&mut self, base: usize, n: usize) -> Result<Vec<i32>>;
    /// Engine cycles simulated by tile runs so far and the wall time they took, if measured.
    fn speed(&self) -> Option<(u64, f64)> {
        None
    }
}

impl Backend for EngineModel {
    fn name(&self) -> &str {
        "model"
    }
    fn params(&self) -> EngineParams {
        self.params
    }
    fn write_weights(&mut self, base: usize, words: &[Vec<u64>]) -> Result<()> {
        for (i, w) in words.iter().enumerate() {
            self.wmem[base + i] = w.clone();
        }
        Ok(())
    }
    fn write_acts(&mut self, base: usize, words: &[Vec<i32>]) -> Result<()> {
        for (i, w) in words.iter().enumerate() {
            self.amem[base + i] = w.clone();
        }
        Ok(())
    }
    fn write_params(&mut self, base: usize, words: &[u64]) -> Result<()> {
        self.pmem[base..base + words.len()].copy_from_slice(words);
        Ok(())
    }
    fn run(&mut self, d: &TileDesc) -> Result<u64> {
        self.params.check(d).map_err(Error::TileRejected)?;
        Ok(EngineModel::run(self, d))
    }
    fn read_outputs(&mut self, base: usize, n: usize) -> Result<Vec<i32>> {
        Ok(self.omem[base..base + n].to_vec())
    }
}

/// One tile as run: which rows and vectors, its cycles, and when it started (cycles since the
/// layer's first tile).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TileRecord {
    pub row0: usize,
    pub rows: usize,
    pub v0: usize,
    pub vectors: usize,
    pub start_cycle: u64,
    pub cycles: u64,
}

/// Why a GEMM cannot run on an engine, checked before any simulation.
pub fn check_gemm(p: &EngineParams, k: usize) -> std::result::Result<(), Fit> {
    let chunks = k.div_ceil(p.cols);
    let words = chunks * p.bits as usize;
    if words > p.w_depth() {
        return Err(Fit::WeightMemory {
            k,
            chunks,
            bits: p.bits,
            words,
            depth: p.w_depth(),
        });
    }
    if chunks > p.a_depth() {
        return Err(Fit::ActivationMemory {
            k,
            chunks,
            depth: p.a_depth(),
        });
    }
    if p.rows > p.p_depth() {
        return Err(Fit::ParamMemory {
            depth: p.p_depth(),
            rows: p.rows,
        });
    }
    Ok(())
}

/// Run one GEMM on `be`, tiling rows by R and vectors by what the memories hold.
/// Returns the outputs `[N, M]` and the tiles in the order run.
pub fn run_gemm(
    be: &mut dyn Backend,
    g: &Gemm,
    start_cycle: u64,
) -> Result<(Array2<i32>, Vec<TileRecord>)> {
    let p = be.params();
    let (m, k) = g.codes.dim();
    let n = g.acts.nrows();
    check_gemm(&p, k)?;
    let chunks = k.div_ceil(p.cols);
    let bits = p.bits();
    let mut out = Array2::<i32>::zeros((n, m));
    let mut tiles = vec![];
    let mut cycle = start_cycle;
    for row0 in (0..m).step_by(p.rows) {
        let rows = (m - row0).min(p.rows);
        let codes: Vec<u8> = g
            .codes
            .slice(ndarray::s![row0..row0 + rows, ..])
            .iter()
            .copied()
            .collect();
        be.write_weights(0, &weight_words(&codes, rows, k, bits, p.rows, p.cols))?;
        let params: Vec<u64> = (row0..row0 + rows)
            .map(|r| {
                RowParams {
                    bias: g.bias[r],
                    requant: g.requant.get(r).copied().unwrap_or(unibit_core::Requant {
                        multiplier: 0,
                        shift: 0,
                    }),
                    kind: g.kind,
                }
                .word()
            })
            .collect();
        be.write_params(0, &params)?;
        // The same split the cost model predicts with.
        let max_v = p.engine_config()?.max_vectors(rows, k);
        for v0 in (0..n).step_by(max_v) {
            let vectors = (n - v0).min(max_v);
            let x: Vec<i32> = g
                .acts
                .slice(ndarray::s![v0..v0 + vectors, ..])
                .iter()
                .copied()
                .collect();
            be.write_acts(0, &activation_words(&x, k, p.cols))?;
            let d = TileDesc {
                rows,
                chunks,
                vectors,
                w_base: 0,
                a_base: 0,
                o_base: 0,
                p_base: 0,
            };
            let cycles = be.run(&d)?;
            let y = be.read_outputs(0, rows * vectors)?;
            for v in 0..vectors {
                for r in 0..rows {
                    out[[v0 + v, row0 + r]] = y[v * rows + r];
                }
            }
            tiles.push(TileRecord {
                row0,
                rows,
                v0,
                vectors,
                start_cycle: cycle,
                cycles,
            });
            cycle += cycles;
        }
    }
    Ok((out, tiles))
}

/// The rust-hdl simulation of the engine (slow: unit scale and small networks).
pub struct RustHdl(pub Box<dyn unibit_hw::configs::EngineSim>);

impl RustHdl {
    pub fn new(bits: u8, rows: usize, cols: usize) -> Result<Self> {
        Ok(RustHdl(unibit_hw::configs::rust_hdl_engine(
            bits, rows, cols,
        )?))
    }
}

impl Backend for RustHdl {
    fn name(&self) -> &str {
        "rusthdl"
    }
    fn params(&self) -> EngineParams {
        self.0.params()
    }
    fn write_weights(&mut self, base: usize, words: &[Vec<u64>]) -> Result<()> {
        for (i, w) in words.iter().enumerate() {
            self.0.write_weight(base + i, w);
        }
        Ok(())
    }
    fn write_acts(&mut self, base: usize, words: &[Vec<i32>]) -> Result<()> {
        for (i, w) in words.iter().enumerate() {
            self.0.write_activation(base + i, w);
        }
        Ok(())
    }
    fn write_params(&mut self, base: usize, words: &[u64]) -> Result<()> {
        for (i, w) in words.iter().enumerate() {
            self.0.write_param(base + i, *w);
        }
        Ok(())
    }
    fn run(&mut self, d: &TileDesc) -> Result<u64> {
        let p = self.0.params();
        p.check(d).map_err(Error::TileRejected)?;
        let max = 4 * p.tile_cycles(d.rows, d.chunks, d.vectors) + 1000;
        Ok(self.0.run(d, max)?)
    }
    fn read_outputs(&mut self, base: usize, n: usize) -> Result<Vec<i32>> {
        Ok((0..n).map(|i| self.0.read_output(base + i)).collect())
    }
}
