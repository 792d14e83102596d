//! Whole synthetic networks through the lowering and tile driver on the memory-level engine
//! model: every layer bit-exact with the golden vectors, cycles equal to the cost model.

use ndarray::{s, ArrayView4};
use unibit_core::bundle::Golden;
use unibit_core::synthetic::{synthetic_images, synthetic_model};
use unibit_core::{Bits, FamilyConfig, QuantModel};
use unibit_hw::model::{EngineModel, EngineParams, TileDesc};
use unibit_sim::backend::Backend;
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

/// Flips one bit of one packed weight word on its way into the engine.
struct FlipOneWeightBit {
    inner: EngineModel,
    /// Which `write_weights` call (one per row tile), which word, which bit.
    call: usize,
    word: usize,
    bit: usize,
    calls: usize,
}

impl Backend for FlipOneWeightBit {
    fn name(&self) -> &str {
        "faulty"
    }
    fn params(&self) -> EngineParams {
        self.inner.params
    }
    fn write_weights(&mut self, base: usize, words: &[Vec<u64>]) -> unibit_sim::Result<()> {
        let mut words = words.to_vec();
        if self.calls == self.call {
            words[self.word][self.bit / 64] ^= 1 << (self.bit % 64);
        }
        self.calls += 1;
        self.inner.write_weights(base, &words)
    }
    fn write_acts(&mut self, base: usize, words: &[Vec<i32>]) -> unibit_sim::Result<()> {
        self.inner.write_acts(base, words)
    }
    fn write_params(&mut self, base: usize, words: &[u64]) -> unibit_sim::Result<()> {
        self.inner.write_params(base, words)
    }
    fn run(&mut self, d: &TileDesc) -> unibit_sim::Result<u64> {
        Backend::run(&mut self.inner, d)
    }
    fn read_outputs(&mut self, base: usize, n: usize) -> unibit_sim::Result<Vec<i32>> {
        self.inner.read_outputs(base, n)
    }
}

#[test]
fn a_flipped_weight_bit_is_reported_at_its_layer_and_channel() {
    let (m, g) = model("resnet8", 2, 0.5);
    // The stem (8 channels, 1 input channel, 3×3) runs as two row tiles of 4 on a 4×8 engine:
    // the second `write_weights` call is its second row tile. Flip, in its first word (the most
    // significant bit-plane, lane chunk 0), row 1's lane 4 — the centre tap of channel 4 + 1 = 5.
    // The image is non-zero nearly everywhere, so the fault shows in the first image.
    let mut be = FlipOneWeightBit {
        inner: engine(2, 4, 8),
        call: 1,
        word: 0,
        bit: 8 + 4,
        calls: 0,
    };
    let info = m.validate().unwrap();
    let golden: Vec<ArrayView4<i32>> = g
        .outputs
        .iter()
        .map(|o| o.slice(s![0..1, .., .., ..]))
        .collect();
    let r = run_image(
        &m,
        &info,
        &mut be,
        0,
        g.input.slice(s![0..1, .., .., ..]),
        &golden,
    )
    .unwrap();
    let mm = r.mismatch.expect("the fault must be detected");
    assert_eq!(mm.layer, "stem");
    assert_eq!(mm.channel, 5);
    assert_eq!(mm.tile, Some(1), "channel 5 is in the second row tile of 4");
    assert!(mm.first_cycle.is_some());
    // Without the fault the same run is bit-exact.
    let mut clean = engine(2, 4, 8);
    let r = run_image(
        &m,
        &info,
        &mut clean,
        0,
        g.input.slice(s![0..1, .., .., ..]),
        &golden,
    )
    .unwrap();
    assert!(r.mismatch.is_none());
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
