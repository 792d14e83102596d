//! The typed results behind the core CLI commands: example bundles, inspection with the
//! golden check, accuracy, size and cost reports.

use std::path::PathBuf;
use unibit_core::bundle::{self, GoldenCheck};
use unibit_core::dataset::Dataset;
use unibit_core::progress::{Lines, Silent};
use unibit_core::reference::{self, GoldenMismatch};
use unibit_core::size::{size_report, SizeAccounting, SizeTarget};
use unibit_core::synthetic::{synthetic_images, write_example, ExampleConfig};
use unibit_core::{Bits, FamilyConfig};

fn example(dir: &std::path::Path) -> PathBuf {
    let out = dir.join("b");
    let cfg = ExampleConfig {
        family: FamilyConfig::fashion_mnist("resnet8".parse().unwrap(), 0.25),
        bits: Bits::new(2).unwrap(),
        seed: 1,
        golden: 2,
        data_dir: Some(dir.join("no-dataset")),
    };
    let r = write_example(&cfg, &out).unwrap();
    assert_eq!((r.layers, r.golden), (14, 2));
    assert!(r.images.starts_with("synthetic images"), "{}", r.images);
    out
}

#[test]
fn inspect_verifies_golden_vectors_and_names_a_mismatch() {
    let tmp = tempfile::tempdir().unwrap();
    let b = example(tmp.path());
    let i = bundle::inspect(&b, true, &Silent).unwrap();
    let Some(GoldenCheck::Checked(g)) = &i.golden_check else {
        panic!("{:?}", i.golden_check)
    };
    assert!(g.is_exact() && g.layers == 14 && g.images == 2, "{g:?}");
    assert!(bundle::inspect(&b, false, &Silent)
        .unwrap()
        .golden_check
        .is_none());

    let mut bun = i.bundle.clone();
    let golden = bun.golden.as_mut().unwrap();
    golden.outputs[3][[1, 0, 0, 0]] += 1;
    let r = reference::verify_golden(&bun, &Silent).unwrap();
    let m: &GoldenMismatch = r.mismatch.as_ref().unwrap();
    assert_eq!((m.layer, m.index), (3, (1, 0, 0, 0)));
    assert!(
        m.to_string()
            .starts_with("golden mismatch at layer 3 \"s1b1.add\""),
        "{m}"
    );

    bun.golden = None;
    assert!(reference::verify_golden(&bun, &Silent).is_err());
}

#[test]
fn accuracy_counts_correct_predictions() {
    let tmp = tempfile::tempdir().unwrap();
    let b = bundle::read(&example(tmp.path())).unwrap();
    let images = synthetic_images(20, b.model.graph.input, 5);
    let out = reference::run_output(&b.model, images.view(), 4).unwrap();
    let pred = reference::argmax(&out);
    // Labels: the predictions, except the first three.
    let labels: Vec<u8> = pred
        .iter()
        .enumerate()
        .map(|(i, &p)| if i < 3 { (p as u8 + 1) % 10 } else { p as u8 })
        .collect();
    let data = Dataset { images, labels };
    let a = reference::accuracy(&b.model, &data, None, &Lines::default()).unwrap();
    assert_eq!((a.images, a.correct), (20, 17));
    assert!((a.accuracy - 0.85).abs() < 1e-12);
    let a = reference::accuracy(&b.model, &data, Some(5), &Silent).unwrap();
    assert_eq!((a.images, a.correct), (5, 2));
}

#[test]
fn size_report_solves_or_takes_the_width() {
    let base = FamilyConfig::fashion_mnist("resnet20".parse().unwrap(), 1.0);
    let bits = Bits::new(2).unwrap();
    let r = size_report(
        &base,
        bits,
        SizeTarget::Budget(64 * 1024 * 8),
        SizeAccounting::Engine,
    )
    .unwrap();
    assert!(r.size.total_bits <= 64 * 1024 * 8 && r.width > 0.5);
    assert_eq!(r.budget_bits, Some(64 * 1024 * 8));
    assert_eq!(r.weight_layers.len(), r.channel_plan.len());
    let w = size_report(
        &base,
        bits,
        SizeTarget::Width(r.width),
        SizeAccounting::Engine,
    )
    .unwrap();
    assert_eq!((w.size, w.budget_bits), (r.size, None));
}

#[test]
fn bundle_cost_uses_the_bundles_bitwidth() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = example(tmp.path());
    let c = unibit_core::cost::bundle_cost(&dir, 4, 8).unwrap();
    assert_eq!(c.engine.bits.get(), 2);
    assert_eq!(
        c.engine,
        unibit_core::cost::tile_engine(c.engine.bits, 4, 8).unwrap()
    );
    assert!(c.cycles > 0);
    // Only the tile engine's arrays have a timing to predict with.
    assert!(unibit_core::cost::bundle_cost(&dir, 4, 16).is_err());
}

/// The lean parameter format on a bundle: smaller, decoded model identical on every node; a
/// changed requantizer is caught by the same comparison.
#[test]
fn lean_parameters_are_exact_on_a_bundle() {
    use unibit_core::size::lean::{bundle_lean, compare_outputs, lean_model, study};
    use unibit_core::{NodeParams, Requant};
    let tmp = tempfile::tempdir().unwrap();
    let dir = example(tmp.path());
    let r = bundle_lean(&dir, Some(&tmp.path().join("no-dataset")), 0).unwrap();
    assert!(r.outputs.identical() && r.outputs.images == 2 && r.outputs.values > 0);
    let s = &r.study;
    assert!(
        s.lean_bits < s.today_bits,
        "{} vs {}",
        s.lean_bits,
        s.today_bits
    );
    let b = bundle::read(&dir).unwrap();
    let size = unibit_core::size::model_size(&b.model.graph, |_| b.model.bits).unwrap();
    assert_eq!(s.today_bits, size.param_bits);
    for l in &s.layers {
        assert!(l.bias_bits <= 32 && l.lean_bits < l.today_bits, "{l:?}");
    }
    // The model as decoded, with every shared shift applied, is checked again here on images
    // of its own, and a requantizer moved by one shift is a difference the check names.
    let lean = lean_model(&b.model, &study(&b.model).unwrap());
    let images = synthetic_images(8, b.model.graph.input, 3);
    assert!(compare_outputs(&b.model, &lean, images.view())
        .unwrap()
        .identical());
    let mut off = lean.clone();
    let (k, name) = off
        .params
        .iter_mut()
        .zip(&b.model.graph.nodes)
        .enumerate()
        .find_map(|(k, (p, n))| match p {
            NodeParams::Weighted { requant, .. } if !requant.is_empty() => {
                let r = requant[0];
                requant[0] = Requant::new(r.multiplier, r.shift + 1).unwrap();
                Some((k, n.name.clone()))
            }
            _ => None,
        })
        .unwrap();
    let c = compare_outputs(&b.model, &off, images.view()).unwrap();
    assert_eq!(
        c.first_difference.as_deref(),
        Some(name.as_str()),
        "node {k}"
    );
}
