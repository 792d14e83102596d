//! Bundle write → read round trips, and damaged bundles give errors (never panics).

use proptest::prelude::*;
use std::path::Path;
use unibit_core::bundle::{self, Accuracy, Bundle, Golden, ModelInfo};
use unibit_core::synthetic::{synthetic_images, synthetic_model};
use unibit_core::{Bits, FamilyConfig};

fn example(family: &str, bits: u8, width: f64, seed: u64, golden: usize) -> Bundle {
    let cfg = FamilyConfig::fashion_mnist(family.parse().unwrap(), width);
    let calib = synthetic_images(4, cfg.input, seed);
    let model = synthetic_model(&cfg, Bits::new(bits).unwrap(), seed, calib.view()).unwrap();
    let imgs = synthetic_images(golden, cfg.input, seed + 1);
    let golden = Golden::compute(&model, imgs.view(), Some((0..golden as u8).collect())).unwrap();
    Bundle {
        model,
        info: ModelInfo {
            family: Some(cfg.family),
            width: Some(width),
            channel_multiple: Some(cfg.channel_multiple),
            source: "synthetic".into(),
            details: None,
        },
        accuracy: Accuracy::default(),
        golden: Some(golden),
    }
}

#[test]
fn round_trip_every_family() {
    for (f, b) in [("resnet8", 1), ("vgg-small", 4), ("mobilenetv2", 8)] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("b");
        let bun = example(f, b, 0.25, 7, 3);
        bundle::write(&out, &bun).unwrap();
        let back = bundle::read(&out).unwrap();
        assert_eq!(back, bun, "{f}");
        // Rewriting over an existing bundle replaces it.
        bundle::write(&out, &back).unwrap();
        assert_eq!(bundle::read(&out).unwrap(), bun);
    }
}

fn expect_err(dir: &Path, needle: &str) {
    match bundle::read(dir) {
        Ok(_) => panic!("damaged bundle was accepted (wanted an error mentioning {needle:?})"),
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains(needle),
                "error {msg:?} does not mention {needle:?}"
            );
        }
    }
}

fn edit_manifest(dir: &Path, f: impl Fn(&mut serde_json::Value)) {
    let p = dir.join("manifest.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(&p, serde_json::to_string(&v).unwrap()).unwrap();
}

#[test]
fn damaged_bundles_name_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good");
    bundle::write(&good, &example("resnet8", 2, 0.25, 3, 2)).unwrap();
    let copy = |name: &str| {
        let d = tmp.path().join(name);
        std::fs::create_dir_all(d.join("golden")).unwrap();
        for e in std::fs::read_dir(&good)
            .unwrap()
            .chain(std::fs::read_dir(good.join("golden")).unwrap())
        {
            let e = e.unwrap();
            if e.path().is_file() {
                let rel = e.path().strip_prefix(&good).unwrap().to_path_buf();
                std::fs::copy(e.path(), d.join(rel)).unwrap();
            }
        }
        d
    };

    let d = copy("version");
    edit_manifest(&d, |v| v["version"] = 2.into());
    expect_err(&d, "version: expected 1");

    let d = copy("bits");
    edit_manifest(&d, |v| v["arithmetic"]["weight_bits"] = 9.into());
    expect_err(&d, "1..=8");

    let d = copy("stride");
    edit_manifest(&d, |v| v["layers"][1]["in_channels"] = 3.into());
    expect_err(&d, "layers[1]");

    let d = copy("dtype");
    // Rewrite the weights with a wrong dtype for one tensor by swapping in another bundle's file.
    let other = tmp.path().join("other");
    bundle::write(&other, &example("resnet8", 2, 0.5, 3, 2)).unwrap();
    std::fs::copy(
        other.join("weights.safetensors"),
        d.join("weights.safetensors"),
    )
    .unwrap();
    expect_err(&d, "weights.safetensors");

    let d = copy("missing");
    std::fs::remove_file(d.join("golden/stem.npy")).unwrap();
    expect_err(&d, "stem.npy");

    let d = copy("json");
    std::fs::write(d.join("manifest.json"), "{ not json").unwrap();
    expect_err(&d, "not valid JSON");

    expect_err(&tmp.path().join("nowhere"), "no such directory");
}

#[test]
fn codes_above_the_bitwidth_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("b");
    bundle::write(&d, &example("resnet8", 2, 0.25, 3, 1)).unwrap();
    // Claim B = 1 for B = 2 codes.
    edit_manifest(&d, |v| v["arithmetic"]["weight_bits"] = 1.into());
    expect_err(&d, "codes");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Truncating or flipping bytes of any file gives an error or a bundle that still validates,
    /// never a panic.
    #[test]
    fn corrupted_files_never_panic(which in 0usize..3, pos in any::<prop::sample::Index>(), byte in any::<u8>(), truncate in any::<bool>()) {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("b");
        bundle::write(&d, &example("resnet8", 3, 0.25, 5, 1)).unwrap();
        let f = d.join(["manifest.json", "weights.safetensors", "golden/fc.npy"][which]);
        let mut bytes = std::fs::read(&f).unwrap();
        let i = pos.index(bytes.len());
        if truncate { bytes.truncate(i) } else { bytes[i] ^= byte | 1 }
        std::fs::write(&f, bytes).unwrap();
        if let Ok(b) = bundle::read(&d) {
            prop_assert!(b.model.validate().is_ok());
        }
    }
}
