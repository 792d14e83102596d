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
    #![proptest_config(ProptestConfig::with_cases(12))]
    #[test]
    fn random_tiles(b in prop::sample::select(vec![1u8, 2, 3, 4, 8]),
                    rc in prop::sample::select(vec![(4usize, 4usize), (4, 8), (8, 4), (8, 8)]),
                    seed in any::<u64>()) {
        check(b, rc.0, rc.1, seed);
    }
}
