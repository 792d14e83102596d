//! Shared helpers of the net block tests: compiled synthetic models on the iCEBreaker engine.
#![allow(dead_code)]
use unibit_core::engine::{compile, EngineShape, Memories, Program};
use unibit_core::synthetic::{synthetic_images, synthetic_model};
use unibit_core::{Bits, Family, FamilyConfig};

/// A synthetic family model (as `unibit bundle example` makes) compiled for the UP5K 8×8.
pub fn program(family: &str, width: f64, multiple: usize, b: u8) -> Program {
    let cfg = FamilyConfig {
        channel_multiple: multiple,
        ..FamilyConfig::fashion_mnist(family.parse::<Family>().unwrap(), width)
    };
    let calib = synthetic_images(8, cfg.input, 3);
    let bits = Bits::new(b).unwrap();
    let model = synthetic_model(&cfg, bits, 3, calib.view()).unwrap();
    compile(&model, &EngineShape::icebreaker(bits), &Memories::up5k()).unwrap()
}

/// The test models: the demo resnet8, a small MobileNetV2 (depthwise, grouped) and a small
/// VGG (max pool, flatten, linear).
pub fn programs() -> Vec<(&'static str, Program)> {
    vec![
        ("resnet8", program("resnet8", 0.8594, 8, 2)),
        ("mobilenetv2", program("mobilenetv2", 0.25, 4, 2)),
        ("vgg-small", program("vgg-small", 0.125, 4, 2)),
    ]
}

/// Main word `w` of the program image (64-bit words on the UP5K).
pub fn word(p: &Program, w: usize) -> u64 {
    p.image.get(w).copied().unwrap_or(0)
}

/// A u64 stimulus as the harness's u128 values.
pub fn wide(steps: &[Vec<u64>]) -> Vec<Vec<u128>> {
    steps
        .iter()
        .map(|s| s.iter().map(|&v| v as u128).collect())
        .collect()
}
