//! Whole synthetic networks through the lowering and tile driver on the memory-level engine
//! model: every layer bit-exact with the golden vectors, cycles equal to the cost model.

use ndarray::{s, ArrayView4};
use unibit_core::bundle::Golden;
use unibit_core::model::NodeParams;
use unibit_core::synthetic::{synthetic_images, synthetic_model};
use unibit_core::{Bits, FamilyConfig, QuantModel};
use unibit_hw::model::{EngineModel, EngineParams};
use unibit_sim::cosim::{check_model, run_image, ImageRun};

fn engine(bits: u8, rows: usize, cols: usize) -> EngineModel {
    EngineModel::new(EngineParams {
        bits,
        rows,
        cols,
        w_addr_bits: 9,
        a_addr_bits: 12,
        o_addr_bits: 12,
        p_addr_bits: 6,
    })
}

fn model(family: &str, bits: u8, width: f64) -> (QuantModel, Golden) {
    let cfg = FamilyConfig::fashion_mnist(family.parse().unwrap(), width);
    let imgs = synthetic_images(3, cfg.input, 5);
    let m = synthetic_model(&cfg, Bits::new(bits).unwrap(), 9, imgs.view()).unwrap();
    let g = Golden::compute(&m, imgs.slice(s![..2, .., .., ..]), None).unwrap();
    (m, g)
}

fn run(m: &QuantModel, g: &Golden, be: &mut EngineModel, image: usize) -> ImageRun {
    let info = m.validate().unwrap();
    check_model(m, be).unwrap();
    let golden: Vec<ArrayView4<i32>> = g
        .outputs
        .iter()
        .map(|o| o.slice(s![image..image + 1, .., .., ..]))
        .collect();
    run_image(
        m,
        &info,
        be,
        image,
        g.input.slice(s![image..image + 1, .., .., ..]),
        &golden,
    )
    .unwrap()
}

#[test]
fn residual_and_depthwise_networks_are_bit_exact() {
    for (family, width) in [("resnet8", 0.25), ("mobilenetv2", 0.25)] {
        for bits in [1u8, 2, 4, 8] {
            let (m, g) = model(family, bits, width);
            let mut be = engine(bits, 4, 8);
            for image in 0..2 {
                let r = run(&m, &g, &mut be, image);
                assert!(
                    r.mismatch.is_none(),
                    "{family} B={bits}: {}",
                    r.mismatch.unwrap()
                );
                for l in r.layers.iter().filter(|l| l.on_engine) {
                    // Vectors are never split at these sizes, so the cost model is exact.
                    assert_eq!(l.cycles, l.predicted, "{family} B={bits} layer {}", l.name);
                }
            }
        }
    }
}

#[test]
fn a_flipped_weight_bit_is_reported_at_its_layer_and_channel() {
    let (mut m, g) = model("resnet8", 2, 0.5);
    // Flip bit 1 of the centre tap of output channel 5 of the stem (its input, the image, is
    // non-zero nearly everywhere, so the fault shows in the first image).
    let layer = m.graph.index_of("stem").unwrap();
    let NodeParams::Weighted { codes, .. } = &mut m.params[layer] else {
        unreachable!()
    };
    codes[[5, 0, 1, 1]] ^= 0b10;
    let mut be = engine(2, 4, 8);
    let r = run(&m, &g, &mut be, 0);
    let mm = r.mismatch.expect("the fault must be detected");
    assert_eq!(mm.layer, "stem");
    assert_eq!(mm.channel, 5);
    assert_eq!(mm.tile, Some(1), "channel 5 is in the second row tile of 4");
    assert!(mm.first_cycle.is_some());
}

#[test]
fn wrong_bitwidth_and_oversized_layers_are_refused_before_simulation() {
    let (m, _) = model("resnet8", 2, 0.25);
    let be = engine(4, 4, 8);
    let e = check_model(&m, &be).unwrap_err().to_string();
    assert!(e.contains("B = 2") && e.contains("B = 4"), "{e}");
    let mut small = EngineParams {
        w_addr_bits: 2,
        ..be.params
    };
    small.bits = 2;
    let e = check_model(&m, &EngineModel::new(small))
        .unwrap_err()
        .to_string();
    assert!(e.contains("weight memory"), "{e}");
}
