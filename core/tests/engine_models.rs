//! Whole synthetic models through the engine machine: bit-exact against the golden vectors at
//! every layer, cycles equal to the cost model.

mod engine_support;
use engine_support::*;
use unibit_core::engine::{EngineShape, Memories};

#[test]
fn demo_resnet8_on_icebreaker() {
    let (model, golden) = family_model("resnet8", 0.8594, 8, 2, 1, 2);
    let shape = EngineShape::icebreaker(bits(2));
    let (program, runs) = run_all(&model, &golden, &shape, &Memories::up5k());
    assert_exact(&program, &runs, "demo resnet8");
    let rep = unibit_core::engine::report(&program.plan);
    eprintln!("{}", rep.table());
    assert_eq!(rep.cycles, runs[0].cycles);
}
