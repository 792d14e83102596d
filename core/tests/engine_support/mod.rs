//! Shared helpers of the engine tests: synthetic models and the golden comparison.
#![allow(dead_code)]

use ndarray::{Array4, Axis};
use unibit_core::bundle::Golden;
use unibit_core::engine::{compile, cycles, EngineShape, Machine, Memories, Program, Run};
use unibit_core::graph::Graph;
use unibit_core::synthetic::{synthetic_from_graph, synthetic_images, synthetic_model};
use unibit_core::{Bits, Family, FamilyConfig, QuantModel};

pub fn bits(b: u8) -> Bits {
    Bits::new(b).unwrap()
}

/// A synthetic model of a family (as `unibit bundle example` makes) and its golden vectors.
pub fn family_model(
    family: &str,
    width: f64,
    multiple: usize,
    b: u8,
    seed: u64,
    images: usize,
) -> (QuantModel, Golden) {
    let cfg = FamilyConfig {
        channel_multiple: multiple,
        ..FamilyConfig::fashion_mnist(family.parse::<Family>().unwrap(), width)
    };
    let calib = synthetic_images(8, cfg.input, seed);
    let model = synthetic_model(&cfg, bits(b), seed, calib.view()).unwrap();
    let imgs = synthetic_images(images, cfg.input, seed + 1);
    let golden = Golden::compute(&model, imgs.view(), None).unwrap();
    (model, golden)
}

/// A synthetic model of any graph and its golden vectors.
pub fn graph_model(graph: Graph, b: u8, seed: u64, images: usize) -> (QuantModel, Golden) {
    let calib = synthetic_images(4, graph.input, seed);
    let model = synthetic_from_graph(graph, bits(b), seed, calib.view()).unwrap();
    let imgs = synthetic_images(images, model.graph.input, seed + 1);
    let golden = Golden::compute(&model, imgs.view(), None).unwrap();
    (model, golden)
}

/// Golden outputs of image `i` for every node, as [C, H, W].
pub fn expected(golden: &Golden, i: usize) -> Vec<ndarray::Array3<i32>> {
    golden
        .outputs
        .iter()
        .map(|o: &Array4<i32>| o.index_axis(Axis(0), i).to_owned())
        .collect()
}

/// Compile, run every golden image, check every layer and cost == counted cycles.
pub fn run_all(
    model: &QuantModel,
    golden: &Golden,
    shape: &EngineShape,
    mem: &Memories,
) -> (Program, Vec<Run>) {
    let program = compile(model, shape, mem).unwrap();
    let mut machine = Machine::new(&program);
    let mut runs = vec![];
    for i in 0..golden.count() {
        let want = expected(golden, i);
        let views: Vec<_> = want.iter().map(|a| a.view()).collect();
        let img = golden.input.index_axis(Axis(0), i);
        let run = machine.run_checked(&program, img, &views).unwrap();
        runs.push(run);
    }
    (program, runs)
}

/// Assert a run is bit-exact and its cycles equal the analytic count.
pub fn assert_exact(program: &Program, runs: &[Run], what: &str) {
    let c = cycles(program);
    for (i, r) in runs.iter().enumerate() {
        assert!(
            r.mismatch.is_none(),
            "{what}, image {i}: {}",
            r.mismatch.as_ref().unwrap()
        );
        assert_eq!(r.cycles, c, "{what}: counted cycles vs cost");
        assert_eq!(r.layer_cycles.iter().sum::<u64>(), r.cycles, "{what}");
    }
}
