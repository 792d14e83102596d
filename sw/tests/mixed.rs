//! Mixed-precision baseline tests: the Pareto front against brute force, the bisection, and a
//! tiny end-to-end study (budget and zero-degradation modes) on synthetic data.

mod common;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::Device;
use unibit_core::family::FamilyConfig;
use unibit_core::progress::Silent;
use unibit_core::results::{self, Method};
use unibit_core::size::{model_size, SizeAccounting};
use unibit_core::{Bits, Family};
use unibit_sw::mixed::{self, best_within, pareto_front, smallest_passing, thin_by_size};
use unibit_sw::sweep::TrainSettings;
use unibit_sw::train::{self, RunOptions};

fn bits(v: &[u8]) -> Vec<Bits> {
    v.iter().map(|&b| Bits::new(b).unwrap()).collect()
}

/// Every allocation of `layers`, as (weight bits, Ω, bits).
fn brute_force(layers: &[(u64, Vec<(Bits, f64)>)]) -> Vec<(u64, f64, Vec<Bits>)> {
    let mut all = vec![(0u64, 0.0, vec![])];
    for (n, opts) in layers {
        let mut next = vec![];
        for (s, o, b) in &all {
            for &(bit, om) in opts {
                let mut bb: Vec<Bits> = b.clone();
                bb.push(bit);
                next.push((s + n * bit.get() as u64, o + om, bb));
            }
        }
        all = next;
    }
    all
}

#[test]
fn pareto_front_matches_brute_force() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    for case in 0..40 {
        let nl = rng.random_range(1..=5usize);
        let choices = bits(&[1, 2, 3, 4, 8]);
        let layers: Vec<(u64, Vec<(Bits, f64)>)> = (0..nl)
            .map(|_| {
                let n = rng.random_range(1..50u64);
                let t: f64 = rng.random_range(0.0..3.0);
                // Error falling with bits, like ‖W − Q_b(W)‖² (≈ 4^−b), times a trace.
                let opts = choices
                    .iter()
                    .map(|&b| {
                        (
                            b,
                            t * n as f64
                                * 4f64.powi(-(b.get() as i32))
                                * rng.random_range(0.5..1.5),
                        )
                    })
                    .collect();
                (n, opts)
            })
            .collect();
        let front = pareto_front(&layers, usize::MAX);
        let all = brute_force(&layers);
        // Points are real allocations, sorted by size, Ω strictly falling.
        for a in &front {
            assert_eq!(a.layer_bits.len(), nl);
            let s: u64 = a
                .layer_bits
                .iter()
                .zip(&layers)
                .map(|(b, l)| l.0 * b.get() as u64)
                .sum();
            let o: f64 = a
                .layer_bits
                .iter()
                .zip(&layers)
                .map(|(b, l)| l.1.iter().find(|x| x.0 == *b).unwrap().1)
                .sum();
            assert_eq!(s, a.weight_bits, "case {case}");
            assert!((o - a.omega).abs() < 1e-9, "case {case}");
        }
        for w in front.windows(2) {
            assert!(w[0].weight_bits < w[1].weight_bits && w[0].omega > w[1].omega);
        }
        // For every cap, the front's best equals the brute-force minimum.
        let mut caps: Vec<u64> = all.iter().map(|x| x.0).collect();
        caps.sort();
        caps.dedup();
        for cap in caps {
            let best = all
                .iter()
                .filter(|x| x.0 <= cap)
                .map(|x| x.1)
                .fold(f64::INFINITY, f64::min);
            let got = best_within(&front, cap).unwrap();
            assert!(got.weight_bits <= cap);
            assert!((got.omega - best).abs() < 1e-9, "case {case} cap {cap}");
        }
        assert!(best_within(&front, front[0].weight_bits - 1).is_none());
        // Thinning keeps a subset with sizes growing ≥ 10% and the smallest point.
        let thin = thin_by_size(&front, 0.1);
        assert_eq!(thin[0], front[0]);
        for w in thin.windows(2) {
            assert!(w[1].weight_bits as f64 >= 1.1 * w[0].weight_bits as f64);
        }
    }
    // A capped front stays sorted, keeps its ends, and is no longer than the cap (+1).
    let layers: Vec<(u64, Vec<(Bits, f64)>)> = (0..12)
        .map(|l| {
            (
                10 + l as u64 * 7,
                bits(&[1, 2, 3, 4, 8])
                    .into_iter()
                    .map(|b| (b, (l + 1) as f64 / (b.get() as f64).powi(2)))
                    .collect(),
            )
        })
        .collect();
    let full = pareto_front(&layers, usize::MAX);
    let capped = pareto_front(&layers, 50);
    assert!(
        full.len() > 50 && capped.len() <= 51,
        "{} {}",
        full.len(),
        capped.len()
    );
    assert_eq!(capped[0], full[0]);
    assert_eq!(capped.last(), full.last());
}

#[test]
fn bisection_finds_the_smallest_passing_index_in_log_probes() {
    for n in 0..40usize {
        for t in 0..=n {
            let mut probes = 0;
            let got = smallest_passing(n, |k| {
                probes += 1;
                Ok(k >= t)
            })
            .unwrap();
            assert_eq!(got, (t < n).then_some(t), "n {n} t {t}");
            let bound = (usize::BITS - n.leading_zeros()) as usize;
            assert!(probes <= bound, "n {n}: {probes} probes");
        }
    }
    let e = smallest_passing(4, |_| {
        Err(unibit_sw::Error::invalid("probe", "a pass", "probe failed"))
    })
    .unwrap_err();
    assert!(e.to_string().contains("probe failed"));
}

#[test]
fn mixed_study_end_to_end_on_a_tiny_network() {
    tch::set_num_threads(1);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::synthetic_fashion_mnist(&data, 96, 32);
    let model = FamilyConfig::fashion_mnist(Family::ResNet { depth: 8 }, 0.25);
    let g = model.build().unwrap();
    let size1 = model_size(&g, |_| Bits::new(1).unwrap())
        .unwrap()
        .total_bits;
    let size8 = model_size(&g, |_| Bits::new(8).unwrap())
        .unwrap()
        .total_bits;
    let budget = (size1 + size8) / 3;
    let spec = mixed::MixedSpec {
        model,
        choices: bits(&[1, 2, 4, 8]),
        budgets: vec![format!("{budget}bit")],
        size_accounting: SizeAccounting::Engine,
        zero_degradation: true,
        tolerance_pp: 100.0, // every probe passes: the search must end at the smallest
        size_resolution: 0.25,
        seed: 0,
        train: TrainSettings {
            epochs: 1,
            batch: 32,
            lr: 0.05,
            momentum: 0.9,
            weight_decay: 5e-4,
            warmup_epochs: 0.0,
            no_augment: true,
            train_limit: None,
            data_dir: Some(data.clone()),
        },
        finetune_epochs: 1,
        finetune_lr: 0.01,
        hessian: mixed::HessianOptions {
            samples: 2,
            images: 64,
            batch: 32,
            seed: 0,
        },
        max_front: 20_000,
    };
    let opts = RunOptions {
        device: Device::Cpu,
        stop_after: None,
    };
    let out = tmp.path().join("mixed");
    let o = mixed::run(&spec, &out, &opts, &Silent).unwrap();
    let n_layers = g.weight_layers().count();
    assert_eq!(o.sensitivities.len(), n_layers);
    assert_eq!(o.records.len(), 2);

    // Budget mode: fits, per-layer bits from the choices, not exportable, fake-quant accuracy.
    let r = &o.records[0];
    assert_eq!(r.method, Method::MixedBudget);
    assert_eq!(r.budget_bits, Some(budget));
    assert!(r.size_bits <= budget, "{} > {budget}", r.size_bits);
    assert_eq!(r.layer_bits.len(), n_layers);
    assert!(r.layer_bits.iter().all(|b| [1, 2, 4, 8].contains(b)));
    assert!(r.int_acc.is_none() && r.fake_quant_acc.is_some() && r.bits.is_none());
    assert!(r
        .engine
        .as_deref()
        .unwrap()
        .contains("largest layer bitwidth"));
    assert_eq!(r.epochs, 2);
    let cfg = train::read_config(&out.join(&r.run_dir)).unwrap();
    assert_eq!(
        cfg.layer_bits
            .as_ref()
            .unwrap()
            .iter()
            .map(|b| b.get())
            .collect::<Vec<_>>(),
        r.layer_bits
    );
    assert_eq!(cfg.size_bits, Some(r.size_bits));
    let e = format!(
        "{:#}",
        unibit_sw::export::export(
            &out.join(&r.run_dir),
            &tmp.path().join("bundle"),
            &unibit_sw::export::ExportOptions {
                golden: 0,
                calibration_images: 16,
                device: Device::Cpu,
                test_limit: None,
            }
        )
        .unwrap_err()
    );
    assert!(
        e.contains("per-layer weight bitwidths") && e.contains("cannot be exported"),
        "{e}"
    );
    // Its allocation is the front's best within the budget.
    let params = model_size(&g, |_| Bits::new(1).unwrap())
        .unwrap()
        .param_bits;
    let best = best_within(&o.front, budget - params).unwrap();
    assert_eq!(
        best.layer_bits.iter().map(|b| b.get()).collect::<Vec<_>>(),
        r.layer_bits
    );

    // Zero degradation with every probe passing: the smallest candidate, found by bisection.
    let z = &o.records[1];
    assert_eq!(z.method, Method::MixedZeroDegradation);
    assert_eq!(z.budget_bits, None);
    assert_eq!(z.size_bits, o.front[0].weight_bits + params);
    assert!(!o.probes.is_empty() && o.probes.iter().all(|p| p.passes));
    let candidates = thin_by_size(&o.front, 0.25).len();
    assert!(o.probes.len() <= (usize::BITS - candidates.leading_zeros()) as usize);

    // The table; running again reuses every run and writes the same table.
    let table = std::fs::read(out.join("results.jsonl")).unwrap();
    assert_eq!(
        results::read(&out.join("results.jsonl")).unwrap(),
        o.records
    );
    let again = mixed::run(&spec, &out, &opts, &Silent).unwrap();
    assert_eq!(again.records, o.records);
    assert_eq!(std::fs::read(out.join("results.jsonl")).unwrap(), table);

    // The weights accounting in the same directory: the budget counts weight bits only, so the
    // allocation may use the parameters' share; the zero-degradation answer is the same run,
    // sized without its parameters. Nothing of the engine-accounted study is overwritten.
    let mut wspec = spec.clone();
    wspec.size_accounting = SizeAccounting::Weights;
    let w = mixed::run(&wspec, &out, &opts, &Silent).unwrap();
    let (wb, wz) = (&w.records[0], &w.records[1]);
    assert_eq!(wb.size_accounting, SizeAccounting::Weights);
    assert_eq!(wb.run_dir, format!("{}-weights", r.run_dir));
    assert_eq!(
        (wb.size_bits, wb.budget_bits),
        (wb.weight_bits, Some(budget))
    );
    let best = best_within(&o.front, budget).unwrap();
    assert_eq!(
        best.layer_bits.iter().map(|b| b.get()).collect::<Vec<_>>(),
        wb.layer_bits
    );
    assert!(wb.weight_bits >= r.weight_bits);
    assert_eq!((&wz.run_dir, &wz.layer_bits), (&z.run_dir, &z.layer_bits));
    assert_eq!(wz.size_bits, z.size_bits - params);
    assert_eq!(wz.fake_quant_acc, z.fake_quant_acc);
    assert_eq!(
        mixed::run(&spec, &out, &opts, &Silent).unwrap().records,
        o.records
    );

    // A budget below the all-1-bit model names the smallest size.
    let mut small = spec.clone();
    small.budgets = vec!["100bit".into()];
    small.zero_degradation = false;
    let e = format!(
        "{:#}",
        mixed::run(&small, &out, &opts, &Silent).unwrap_err()
    );
    assert!(e.contains("100bit") && e.contains("at least"), "{e}");
}
