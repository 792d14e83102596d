//! The rust-hdl engine against the functional model and the contract.
use proptest::prelude::*;
use unibit_hw::configs::engine_params;
use unibit_hw::job::TileJob;
use unibit_hw::{rust_hdl_engine, EngineModel};

fn check(bits: u8, rows: usize, cols: usize, seed: u64) {
    let p = engine_params(bits, rows, cols).unwrap();
    let job = TileJob::random(&p, seed);
    let mut m = EngineModel::new(p);
    let (want, want_cycles) = job.run_model(&mut m);
    assert_eq!(want, job.expected, "memory model disagrees with run_tile");
    let mut e = rust_hdl_engine(bits, rows, cols).unwrap();
    let (got, cycles) = job.run(e.as_mut()).unwrap();
    assert_eq!(
        got, want,
        "B={bits} {rows}x{cols} seed={seed} desc={:?}",
        job.desc
    );
    assert_eq!(cycles, want_cycles, "cycle count, desc={:?}", job.desc);
    // The lead's cost model with this engine's exported timing predicts the count exactly.
    let mut cfg = unibit_core::cost::EngineConfig::new(rows, cols, p.bits()).unwrap();
    cfg.timing = unibit_hw::timing(bits, rows, cols).unwrap();
    let d = job.desc;
    assert_eq!(cfg.tile_cycles(d.rows, d.chunks * cols, d.vectors), cycles);
}

#[test]
fn one_tile_each_bitwidth_4x4() {
    for b in [1, 2, 3, 4, 8] {
        check(b, 4, 4, 100 + b as u64);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn random_tiles(b in prop::sample::select(vec![1u8, 2, 3, 4, 8]),
                    rc in prop::sample::select(vec![(4usize, 4usize), (4, 8), (8, 4), (8, 8), (8, 16), (16, 8), (16, 16)]),
                    seed in any::<u64>()) {
        check(b, rc.0, rc.1, seed);
    }
}

/// The largest reduction a tile can hold, with the largest-magnitude weights and activations:
/// the accumulator width (`model::accumulator_bits`) must not wrap.
#[test]
fn max_reduction_extremes() {
    use unibit_core::arith::{ActKind, Requant};
    use unibit_hw::RowParams;
    for (bits, x_val, code) in [(8u8, -128, 255u8), (8, 255, 0), (1, 255, 1), (3, -128, 0)] {
        let p = engine_params(bits, 4, 4).unwrap();
        let chunks = p.w_depth() / bits as usize;
        let k = chunks * 4;
        let rows = 2;
        let codes = vec![code; rows * k];
        let x = vec![x_val; k];
        let rp = vec![
            RowParams {
                bias: 0,
                requant: Requant::new(0, 0).unwrap(),
                kind: ActKind::I32
            };
            rows
        ];
        let job = TileJob::new(&p, &codes, &x, k, &rp, (0, 0, 0, 0)).unwrap();
        let mut e = rust_hdl_engine(bits, 4, 4).unwrap();
        let (got, _) = job.run(e.as_mut()).unwrap();
        assert_eq!(got, job.expected, "B={bits} K={k}");
        let max_level = (1i64 << bits) - 1;
        assert_eq!(
            job.expected[0].unsigned_abs() as i64,
            max_level * (x_val as i64).abs() * k as i64
        );
    }
}
