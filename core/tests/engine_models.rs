//! Whole synthetic models through the engine machine: bit-exact against the golden vectors at
//! every layer, cycles equal to the cost model.

mod engine_support;
use engine_support::*;
use unibit_core::engine::{compile, EngineShape, Error, Memories};

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

/// resnet8, mobilenetv2 and vgg-small at small widths (channel counts that are not multiples
/// of C), every B, on both boards' 8 × 8 engines and the ECP5 at 16 × 16.
#[test]
fn families_bit_exact_at_every_bitwidth() {
    let boards = [
        (Memories::up5k(), 8usize),
        (Memories::ecp5_25f(), 8),
        (Memories::ecp5_25f(), 16),
    ];
    for b in [1u8, 2, 4, 8] {
        for (fam, width) in [
            ("resnet8", 0.25),
            ("mobilenetv2", 0.25),
            ("vgg-small", 0.125),
        ] {
            let (model, golden) = family_model(fam, width, 4, b, 7 + b as u64, 1);
            for (mem, c) in &boards {
                let shape = EngineShape::new(*c, *c, bits(b)).unwrap();
                let what = format!("{fam} w={width} B={b} {c}×{c}");
                // MobileNetV2's 28×28 expansions in 128-bit words exceed the 16 × 16 ECP5's
                // 64 KiB: refused.
                if let Err(e) = compile(&model, &shape, mem) {
                    assert!(
                        matches!(e, Error::DoesNotFit { .. }) && *c == 16 && fam == "mobilenetv2",
                        "{what}: {e}"
                    );
                    continue;
                }
                let (program, runs) = run_all(&model, &golden, &shape, mem);
                assert_exact(&program, &runs, &what);
            }
        }
    }
}

/// The board-aware solver: the largest ResNet-20 width that fits the iCEBreaker at B = 2, and
/// that model runs bit-exactly; one width step more does not fit.
#[test]
fn largest_resnet20_on_the_icebreaker() {
    use unibit_core::engine::{largest_width, requirements};
    use unibit_core::size::WIDTH_STEP;
    use unibit_core::{Family, FamilyConfig};
    let shape = EngineShape::icebreaker(bits(2));
    let mem = Memories::up5k();
    let base = FamilyConfig {
        channel_multiple: 8,
        ..FamilyConfig::fashion_mnist(Family::ResNet { depth: 20 }, 1.0)
    };
    let sol = largest_width(&base, &shape, &mem).unwrap();
    assert!(sol.requirements.fits());
    assert_eq!(sol.width, 71.0 * WIDTH_STEP);
    let next = FamilyConfig {
        width: sol.width + WIDTH_STEP,
        ..base
    };
    let need = requirements(&next.build().unwrap(), &shape, &mem).unwrap();
    assert!(!need.fits() && need.check().is_err(), "{need:?}");

    let (model, golden) = family_model("resnet20", sol.width, 8, 2, 5, 1);
    let (program, runs) = run_all(&model, &golden, &shape, &mem);
    assert_exact(&program, &runs, "resnet20 at the largest width");
    let main = &program.map.memories[0];
    assert!(main.percent > 90.0 && main.percent <= 100.0, "{main:?}");
}

/// A bundle written to disk and read back (as `unibit bundle example` and a later
/// `hw compile` do) runs bit-exactly against the golden files it carries.
#[test]
fn bundle_on_disk_runs_against_its_golden_files() {
    use unibit_core::bundle::{self, Accuracy, Bundle, ModelInfo};
    let (model, golden) = family_model("mobilenetv2", 0.25, 4, 2, 11, 2);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mbv2");
    let b = Bundle {
        model,
        info: ModelInfo {
            source: "synthetic".into(),
            ..ModelInfo::default()
        },
        accuracy: Accuracy::default(),
        golden: Some(golden),
    };
    bundle::write(&path, &b).unwrap();
    let read = bundle::read(&path).unwrap();
    let golden = read.golden.expect("golden vectors");
    let shape = EngineShape::icebreaker(bits(2));
    let (program, runs) = run_all(&read.model, &golden, &shape, &Memories::up5k());
    assert_exact(&program, &runs, "mobilenetv2 bundle");
    assert_eq!(runs.len(), 2);
}
