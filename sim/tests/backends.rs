//! Synthetic networks — one with residual adds, one with depthwise layers — on the rust-hdl
//! simulation and on the Verilator build of the generated Verilog, for B ∈ {1, 2, 4, 8}:
//! every layer bit-exact with the reference's golden vectors, cycles equal to the cost model.

use ndarray::{s, ArrayView4};
use unibit_core::bundle::Golden;
use unibit_core::graph::Shape;
use unibit_core::synthetic::{synthetic_images, synthetic_model};
use unibit_core::{Bits, FamilyConfig, QuantModel};
use unibit_sim::backend::{Backend, RustHdl};
use unibit_sim::cosim::{check_model, run_image};
use unibit_sim::verilator::VerilatorEngine;

const ROWS: usize = 4;
const COLS: usize = 8;

/// A small network of `family` on 1×8×8 inputs (fast enough for the rust-hdl simulator).
fn tiny(family: &str, bits: u8) -> (QuantModel, Golden) {
    let cfg = FamilyConfig {
        input: Shape::new(1, 8, 8),
        ..FamilyConfig::fashion_mnist(family.parse().unwrap(), 0.25)
    };
    let imgs = synthetic_images(4, cfg.input, 11);
    let m = synthetic_model(&cfg, Bits::new(bits).unwrap(), 21, imgs.view()).unwrap();
    let g = Golden::compute(&m, imgs.slice(s![..1, .., .., ..]), None).unwrap();
    (m, g)
}

fn check(be: &mut dyn Backend, family: &str, bits: u8) {
    let (m, g) = tiny(family, bits);
    check_model(&m, be).unwrap();
    let info = m.validate().unwrap();
    let golden: Vec<ArrayView4<i32>> = g.outputs.iter().map(|o| o.view()).collect();
    let r = run_image(&m, &info, be, 0, g.input.view(), &golden).unwrap();
    if let Some(mm) = r.mismatch {
        panic!("{} {family} B={bits}: {mm}", be.name());
    }
    for l in r.layers.iter().filter(|l| l.on_engine) {
        assert_eq!(
            l.cycles,
            l.predicted,
            "{} {family} B={bits} layer {}: cycles vs cost model",
            be.name(),
            l.name
        );
    }
}

#[test]
fn rust_hdl_engine_runs_networks_bit_exactly() {
    for bits in [1u8, 2, 4, 8] {
        for family in ["resnet8", "mobilenetv2"] {
            let mut be = RustHdl::new(bits, ROWS, COLS).unwrap();
            check(&mut be, family, bits);
        }
    }
}

#[test]
fn verilator_engine_runs_networks_bit_exactly() {
    for bits in [1u8, 2, 4, 8] {
        let p = unibit_hw::configs::engine_params(bits, ROWS, COLS).unwrap();
        let v = unibit_hw::configs::engine_verilog(bits, ROWS, COLS).unwrap();
        let mut be = VerilatorEngine::start(p, &v, false, &unibit_core::Silent).unwrap();
        for family in ["resnet8", "mobilenetv2"] {
            check(&mut be, family, bits);
        }
    }
}
