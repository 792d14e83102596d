//! Trainer tests: small models, synthetic data, one thread.

use std::path::Path;
use tch::{Device, Kind};
use unibit_core::family::FamilyConfig;
use unibit_core::progress::Silent;
use unibit_core::{Bits, Family};
use unibit_sw::data::{self, Augment};
use unibit_sw::export::{calibrate, compare_with_reference, snap_to_integer_grid, to_quant_model};
use unibit_sw::net::{Mode, QuantSpec};
use unibit_sw::train::{self, train_step, Model, RunOptions, Sgd, TrainConfig};

fn config(family: &str, width: f64, bits: Option<u8>, epochs: usize) -> TrainConfig {
    TrainConfig {
        model: FamilyConfig::fashion_mnist(family.parse::<Family>().unwrap(), width),
        quant: bits.map(|b| QuantSpec {
            bits: Bits::new(b).unwrap(),
            first_last_8bit: false,
        }),
        layer_bits: None,
        budget: None,
        budget_bits: None,
        channel_plan: vec![],
        size_bits: None,
        weight_bits: None,
        param_bits: None,
        epochs,
        batch: 32,
        lr: 0.05,
        momentum: 0.9,
        weight_decay: 5e-4,
        warmup_epochs: 0.5,
        seed: 7,
        augment: true,
        train_limit: None,
        data_dir: "/nonexistent".into(),
    }
}

fn setup() {
    tch::set_num_threads(1);
}

#[test]
fn tiny_model_loss_falls() {
    setup();
    let cfg = config("resnet8", 0.5, Some(2), 1);
    let m = Model::seeded(&cfg, Device::Cpu, 1).unwrap();
    let mut opt = Sgd::new(&m, 0.9, 5e-4);
    let d = data::synthetic(256, 3);
    let probe = data::eval_batches(&d, 256, Device::Cpu).next().unwrap();
    let loss_of = |m: &Model| {
        tch::no_grad(|| {
            m.net
                .forward(&probe.images, Mode::Train)
                .cross_entropy_for_logits(&probe.labels)
                .double_value(&[])
        })
    };
    let before = loss_of(&m);
    for epoch in 0..6 {
        for b in data::train_batches(&d, 32, 0, epoch, Augment::NONE, Device::Cpu) {
            train_step(&m.net, &mut opt, &b.images, &b.labels, 0.05);
        }
    }
    let after = loss_of(&m);
    assert!(after < 0.5 * before, "loss {before} → {after}");
}

/// Train briefly, give some batch-norm channels negative γ (the code-negation path), calibrate.
fn trained(family: &str, width: f64, bits: u8) -> (Model, unibit_core::dataset::Dataset) {
    let cfg = config(family, width, Some(bits), 1);
    let m = Model::seeded(&cfg, Device::Cpu, 11).unwrap();
    let mut opt = Sgd::new(&m, 0.9, 5e-4);
    let d = data::synthetic(192, 5);
    for b in data::train_batches(&d, 32, 0, 0, Augment::FASHION, Device::Cpu) {
        train_step(&m.net, &mut opt, &b.images, &b.labels, 0.05);
    }
    tch::no_grad(|| {
        for (name, v) in m.variables() {
            if name.ends_with(".bn.weight") {
                let n = v.size()[0];
                let sign = tch::Tensor::from_slice(
                    &(0..n)
                        .map(|k| if k % 3 == 1 { -1f32 } else { 1.0 })
                        .collect::<Vec<_>>(),
                );
                v.shallow_clone().copy_(&(&v * sign));
            }
        }
    });
    calibrate(&m.net, &d.take(128), 64, Device::Cpu);
    snap_to_integer_grid(&m.net).unwrap();
    (m, d)
}

#[test]
fn export_matches_fake_quant_forward_node_by_node() {
    setup();
    for (family, width, bits) in [
        ("resnet8", 0.25, 2u8),
        ("mobilenetv2", 0.25, 3),
        ("vgg-small", 0.25, 1),
        ("resnet8", 0.25, 8),
    ] {
        let (m, d) = trained(family, width, bits);
        let qm = to_quant_model(&m.net).unwrap();
        let images = d.take(16).images;
        let rows = compare_with_reference(&m.net, &qm, &images).unwrap();
        let (mut total, mut bad) = (0usize, 0usize);
        for r in &rows {
            eprintln!(
                "{family} B={bits} {:>14}: {} of {} differ, max |diff| {}",
                r.node, r.mismatches, r.elements, r.max_abs_diff
            );
            assert!(
                r.max_abs_diff <= 1,
                "{family} B={bits} node {}: {r:?}",
                r.node
            );
            total += r.elements;
            bad += r.mismatches;
        }
        // After snap_to_integer_grid the float model's requantizer scales, biases and add/pool
        // multipliers equal the integer model's, so the only differences left are f32 rounding
        // in the tch convolution (inputs x·s_x and weights level·s_w are not exact in f32; the
        // sum carries ~1e-6 relative error) landing a value on the other side of a rounding
        // boundary, plus exact ties (torch rounds half to even, the contract half up). Both give
        // ±1 LSB on isolated elements (measured: ~1e-5 of elements).
        assert!(
            (bad as f64) <= 1e-4 * total as f64,
            "{family} B={bits}: {bad} of {total} differ"
        );
        // End to end (no teacher forcing): the predicted classes agree.
        let out = unibit_core::reference::run_output(&qm, images.view(), 16).unwrap();
        let ref_pred = unibit_core::reference::argmax(&out);
        let x = data::array_input(&images, Device::Cpu);
        let logits = tch::no_grad(|| m.net.forward(&x, Mode::Eval));
        let tch_pred = Vec::<i64>::try_from(logits.argmax(-1, false)).unwrap();
        let agree = ref_pred
            .iter()
            .zip(&tch_pred)
            .filter(|(a, b)| **a as i64 == **b)
            .count();
        assert!(
            agree >= 15,
            "{family} B={bits}: predictions agree on {agree}/16"
        );
    }
}

#[test]
fn export_refuses_mixed_precision_runs() {
    setup();
    let mut cfg = config("resnet8", 0.25, Some(2), 1);
    cfg.quant.as_mut().unwrap().first_last_8bit = true;
    let m = Model::new(&cfg, Device::Cpu).unwrap();
    assert!(!m.net.is_exportable());
    let e = to_quant_model(&m.net).unwrap_err().to_string();
    assert!(
        e.contains("first and last layers at 8 bits") && e.contains("cannot be exported"),
        "{e}"
    );
    let f = Model::new(&config("resnet8", 0.25, None, 1), Device::Cpu).unwrap();
    assert!(to_quant_model(&f.net)
        .unwrap_err()
        .to_string()
        .contains("float"));
}

fn variables_equal(a: &Model, b: &Model) -> bool {
    let (va, vb) = (a.variables(), b.variables());
    va.len() == vb.len() && va.iter().all(|(k, t)| vb[k].equal(t))
}

#[test]
fn resume_continues_from_the_saved_epoch() {
    setup();
    let tmp = tempfile::tempdir().unwrap();
    let d = data::synthetic(96, 9);
    let test = data::synthetic(40, 10);
    let cfg = config("resnet8", 0.25, Some(2), 2);
    let opts = |stop| RunOptions {
        device: Device::Cpu,
        stop_after: stop,
    };
    // Interrupted after one epoch, then resumed.
    let a = tmp.path().join("a");
    let first =
        train::run_training(&a, cfg.clone(), false, &d, &test, &opts(Some(1)), &Silent).unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(unibit_sw::checkpoint::read_info(&a).unwrap().epoch, 1);
    let second = train::run_training(
        &a,
        train::read_config(&a).unwrap(),
        true,
        &d,
        &test,
        &opts(None),
        &Silent,
    )
    .unwrap();
    assert_eq!(second.iter().map(|m| m.epoch).collect::<Vec<_>>(), vec![2]);
    assert_eq!(second[0].step, 2 * first[0].step);
    // Uninterrupted.
    let b = tmp.path().join("b");
    train::run_training(&b, cfg, false, &d, &test, &opts(None), &Silent).unwrap();
    let (_, ma, _) = train::load_run(&a, Device::Cpu).unwrap();
    let (_, mb, _) = train::load_run(&b, Device::Cpu).unwrap();
    assert!(
        variables_equal(&ma, &mb),
        "resumed run differs from the uninterrupted one"
    );
    let metrics = std::fs::read_to_string(a.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 2);
    // Resuming a finished run does nothing.
    let again = train::run_training(
        &a,
        train::read_config(&a).unwrap(),
        true,
        &d,
        &test,
        &opts(None),
        &Silent,
    )
    .unwrap();
    assert!(again.is_empty());
}

fn corrupt(dir: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let info = unibit_sw::checkpoint::read_info(dir).unwrap();
    let p = dir.join(info.tensors);
    let mut bytes = std::fs::read(&p).unwrap();
    f(&mut bytes);
    std::fs::write(&p, bytes).unwrap();
}

#[test]
fn corrupted_checkpoints_give_errors() {
    setup();
    let tmp = tempfile::tempdir().unwrap();
    let d = data::synthetic(64, 1);
    let cfg = config("resnet8", 0.25, Some(1), 1);
    let opts = RunOptions {
        device: Device::Cpu,
        stop_after: None,
    };
    let fresh = |name: &str| {
        let dir = tmp.path().join(name);
        train::run_training(&dir, cfg.clone(), false, &d, &d, &opts, &Silent).unwrap();
        dir
    };
    let err = |dir: &Path| {
        train::load_run(dir, Device::Cpu)
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default()
    };

    let a = fresh("flip");
    corrupt(&a, |b| {
        let n = b.len();
        b[n - 5] ^= 0x40;
    });
    let e = err(&a);
    assert!(
        e.contains("sha256") && e.contains("corrupted") && e.contains(".safetensors"),
        "{e}"
    );

    let t = fresh("truncate");
    corrupt(&t, |b| b.truncate(b.len() / 2));
    let e = err(&t);
    assert!(
        e.contains("size: expected") && e.contains("truncated"),
        "{e}"
    );

    let j = fresh("json");
    std::fs::write(
        j.join("checkpoint.json"),
        "{\"format\": \"unibit-checkpoint\", \"version\": 1",
    )
    .unwrap();
    let e = err(&j);
    assert!(
        e.contains("checkpoint.json") && e.contains("not a valid checkpoint"),
        "{e}"
    );

    let m = fresh("missing");
    let info = unibit_sw::checkpoint::read_info(&m).unwrap();
    std::fs::remove_file(m.join(&info.tensors)).unwrap();
    let e = err(&m);
    assert!(
        e.contains(&info.tensors) && e.contains("cannot read"),
        "{e}"
    );

    // A checkpoint of another model (different width): names match, shapes do not.
    let w = fresh("width");
    let mut other = train::read_config(&w).unwrap();
    other.model.width = 0.5;
    std::fs::write(
        w.join("config.json"),
        serde_json::to_string(&other).unwrap(),
    )
    .unwrap();
    let e = err(&w);
    assert!(e.contains("expected shape"), "{e}");

    // Valid safetensors whose checksum matches but with a missing tensor.
    let s = fresh("subset");
    let (_, mut tensors) = unibit_sw::checkpoint::load(&s).unwrap();
    let victim = tensors
        .keys()
        .find(|k| k.ends_with("act_scale"))
        .unwrap()
        .clone();
    tensors.remove(&victim);
    unibit_sw::checkpoint::save(&s, 1, 2, &tensors).unwrap();
    let e = err(&s);
    assert!(e.contains(&victim) && e.contains("found none"), "{e}");
}

#[test]
fn user_errors_are_one_line_messages() {
    setup();
    // The CLI names the flag (src/cli/train.rs tests); the library names the setting.
    let e = train::parse_device("tpu").unwrap_err().to_string();
    assert!(e.contains("device"), "{e}");
    if !tch::Cuda::is_available() {
        let e = train::parse_device("cuda").unwrap_err().to_string();
        assert!(e.contains("no CUDA support"), "{e}");
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = config("resnet8", 0.25, Some(2), 1);
    cfg.data_dir = tmp.path().join("nowhere");
    let opts = RunOptions {
        device: Device::Cpu,
        stop_after: None,
    };
    let e = format!(
        "{:#}",
        train::train(&tmp.path().join("run"), Some(cfg), false, &opts, &Silent).unwrap_err()
    );
    assert!(
        e.contains("train-images-idx3-ubyte.gz") && e.contains("dataset-fashion-mnist"),
        "{e}"
    );
    let e = format!(
        "{:#}",
        train::train(&tmp.path().join("none"), None, true, &opts, &Silent).unwrap_err()
    );
    assert!(e.contains("config.json"), "{e}");
    let _ = Kind::Float;
}

#[test]
fn initialization_depends_on_the_seed_only_even_with_models_built_concurrently() {
    // libtorch's generator is process-wide; other threads building models at the same time (as
    // parallel tests and in-process sweeps do) must not change a seeded model's weights.
    setup();
    let cfg = config("resnet8", 0.25, Some(2), 1);
    let reference = Model::seeded(&cfg, Device::Cpu, 5).unwrap();
    let other_seed = Model::seeded(&cfg, Device::Cpu, 6).unwrap();
    assert!(!variables_equal(&reference, &other_seed));
    let same: Vec<bool> = std::thread::scope(|s| {
        let noise: Vec<_> = (0..2)
            .map(|k| {
                let cfg = cfg.clone();
                s.spawn(move || {
                    for i in 0..20 {
                        if (i + k) % 2 == 0 {
                            Model::new(&cfg, Device::Cpu).unwrap();
                        } else {
                            Model::seeded(&cfg, Device::Cpu, 100 + i).unwrap();
                        }
                    }
                })
            })
            .collect();
        let checks: Vec<_> = (0..2)
            .map(|_| {
                let cfg = cfg.clone();
                s.spawn(move || {
                    (0..20)
                        .map(|_| Model::seeded(&cfg, Device::Cpu, 5).unwrap().variables())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        noise.into_iter().for_each(|h| h.join().unwrap());
        let want = reference.variables();
        checks
            .into_iter()
            .map(|h| {
                h.join().unwrap().iter().all(|vars| {
                    vars.len() == want.len() && vars.iter().all(|(k, t)| want[k].equal(t))
                })
            })
            .collect()
    });
    assert_eq!(
        same,
        vec![true, true],
        "seeded weights changed under concurrency"
    );
}
