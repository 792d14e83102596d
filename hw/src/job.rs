//! A tile job: everything a host writes for one tile (memory words and a descriptor), built
//! from codes, activations and row parameters. The same job drives the rust-hdl engine, the
//! Verilog testbench and the functional model.

use crate::configs::EngineSim;
use crate::error::Result;
use crate::model::{
    activation_words, run_tile, weight_words, EngineModel, EngineParams, RowParams, TileDesc,
};
use unibit_core::arith::{ActKind, Requant};

#[derive(Clone, Debug)]
pub struct TileJob {
    pub desc: TileDesc,
    /// `(address, word)` writes.
    pub weights: Vec<(usize, Vec<u64>)>,
    pub activations: Vec<(usize, Vec<i32>)>,
    pub params: Vec<(usize, u64)>,
    /// What the contract says the outputs are (`vectors × rows`, vector-major).
    pub expected: Vec<i32>,
}

impl TileJob {
    /// Builds a job: `codes` is `rows × k`, `x` is `vectors × k`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        p: &EngineParams,
        codes: &[u8],
        x: &[i32],
        k: usize,
        rows_params: &[RowParams],
        bases: (usize, usize, usize, usize),
    ) -> Result<TileJob> {
        let rows = rows_params.len();
        let vectors = x.len() / k;
        let chunks = k.div_ceil(p.cols);
        let desc = TileDesc {
            rows,
            chunks,
            vectors,
            w_base: bases.0,
            a_base: bases.1,
            o_base: bases.2,
            p_base: bases.3,
        };
        p.check(&desc)?;
        let weights = weight_words(codes, rows, k, p.bits(), p.rows, p.cols)
            .into_iter()
            .enumerate()
            .map(|(i, w)| (desc.w_base + i, w))
            .collect();
        let activations = activation_words(x, k, p.cols)
            .into_iter()
            .enumerate()
            .map(|(i, a)| (desc.a_base + i, a))
            .collect();
        let params = rows_params
            .iter()
            .enumerate()
            .map(|(r, rp)| (desc.p_base + r, rp.word()))
            .collect();
        let expected = run_tile(codes, x, k, p.bits(), rows_params);
        Ok(TileJob {
            desc,
            weights,
            activations,
            params,
            expected,
        })
    }

    /// A pseudo-random job from `seed` with extreme values mixed in.
    pub fn random(p: &EngineParams, seed: u64) -> TileJob {
        let mut rng = SplitMix(seed);
        let rows = 1 + rng.below(p.rows as u64) as usize;
        let max_chunks = (p.w_depth() / p.bits as usize).clamp(1, 6);
        let chunks = 1 + rng.below(max_chunks as u64) as usize;
        let k = (chunks - 1) * p.cols + 1 + rng.below(p.cols as u64) as usize;
        let vectors = 1 + rng.below(4) as usize;
        let max_code = (1u64 << p.bits) - 1;
        let extreme = rng.below(4) == 0;
        let codes: Vec<u8> = (0..rows * k)
            .map(|_| {
                if extreme {
                    [0, max_code][rng.below(2) as usize] as u8
                } else {
                    rng.below(max_code + 1) as u8
                }
            })
            .collect();
        let signed = rng.below(2) == 0;
        let x: Vec<i32> = (0..vectors * k)
            .map(|_| match (extreme, signed) {
                (true, true) => [-128, 127][rng.below(2) as usize],
                (true, false) => [0, 255][rng.below(2) as usize],
                (false, true) => rng.below(256) as i32 - 128,
                (false, false) => rng.below(256) as i32,
            })
            .collect();
        let rp: Vec<RowParams> = (0..rows)
            .map(|_| {
                let kind = [ActKind::U8, ActKind::I8, ActKind::I32][rng.below(3) as usize];
                let bias = if extreme {
                    [-(1 << 29), (1 << 29), 0][rng.below(3) as usize]
                } else {
                    rng.below(1 << 16) as i32 - (1 << 15)
                };
                let shift = if extreme {
                    [0, 47, 1][rng.below(3) as usize]
                } else {
                    8 + rng.below(12) as u32
                };
                let multiplier = if extreme {
                    [0, 32767, 1][rng.below(3) as usize]
                } else {
                    rng.below(1 << 15) as u32
                };
                RowParams {
                    bias,
                    requant: Requant::new(multiplier, shift).expect("in range"),
                    kind,
                }
            })
            .collect();
        let used_w = chunks * p.bits as usize;
        let used_a = chunks * vectors;
        let bases = (
            rng.below((p.w_depth() - used_w + 1) as u64) as usize,
            rng.below((p.a_depth() - used_a + 1) as u64) as usize,
            rng.below((p.o_depth() - rows * vectors + 1) as u64) as usize,
            rng.below((p.p_depth() - rows + 1) as u64) as usize,
        );
        TileJob::new(p, &codes, &x, k, &rp, bases).expect("random job fits the engine")
    }

    pub fn load(&self, e: &mut dyn EngineSim) {
        for (a, w) in &self.weights {
            e.write_weight(*a, w);
        }
        for (a, x) in &self.activations {
            e.write_activation(*a, x);
        }
        for (a, w) in &self.params {
            e.write_param(*a, *w);
        }
    }

    /// Runs on an engine simulation; returns (outputs, cycles).
    pub fn run(&self, e: &mut dyn EngineSim) -> Result<(Vec<i32>, u64)> {
        self.load(e);
        let cycles = e.run(&self.desc, 1_000_000)?;
        let n = self.desc.rows * self.desc.vectors;
        let out = (0..n)
            .map(|i| e.read_output(self.desc.o_base + i))
            .collect();
        Ok((out, cycles))
    }

    /// Runs on the memory-level model; returns (outputs, cycles).
    pub fn run_model(&self, m: &mut EngineModel) -> (Vec<i32>, u64) {
        for (a, w) in &self.weights {
            m.wmem[*a] = w.clone();
        }
        for (a, x) in &self.activations {
            m.amem[*a] = x.clone();
        }
        for (a, w) in &self.params {
            m.pmem[*a] = *w;
        }
        let cycles = m.run(&self.desc);
        let n = self.desc.rows * self.desc.vectors;
        (
            m.omem[self.desc.o_base..self.desc.o_base + n].to_vec(),
            cycles,
        )
    }
}

/// A tiny deterministic generator (no dependency, reproducible across crates).
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}
