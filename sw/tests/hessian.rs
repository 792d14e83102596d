//! Hutchinson trace estimates on quadratics with known Hessians, and on a real network.
#![allow(clippy::needless_range_loop)] // matrices read best with indices

use tch::{Device, Kind, Tensor};
use unibit_sw::hessian::hutchinson_traces;

/// `L = ½ xᵀ A x` with `x = [p0; p1]` (3 + 4 entries): the Hessian is `A`.
fn quadratic(a: &[[f64; 7]; 7]) -> (Vec<Tensor>, Tensor) {
    let p0 = Tensor::from_slice(&[0.3f64, -1.0, 2.0]).set_requires_grad(true);
    let p1 = Tensor::from_slice(&[0.5f64, 0.1, -0.7, 1.5]).set_requires_grad(true);
    let flat: Vec<f64> = a.iter().flatten().copied().collect();
    let a = Tensor::from_slice(&flat).reshape([7, 7]);
    (vec![p0, p1], a)
}

fn loss(params: &[Tensor], a: &Tensor) -> Tensor {
    let x = Tensor::cat(params, 0);
    (x.dot(&a.mv(&x))) * 0.5
}

fn symmetric(seed: u64) -> [[f64; 7]; 7] {
    // A fixed, well-spread symmetric matrix.
    let mut a = [[0.0; 7]; 7];
    let mut s = seed;
    for i in 0..7 {
        for j in i..7 {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let v = ((s >> 33) as f64 / (1u64 << 31) as f64) * 4.0 - 2.0;
            a[i][j] = v;
            a[j][i] = v;
        }
    }
    a
}

#[test]
fn diagonal_hessians_are_estimated_exactly() {
    tch::set_num_threads(1);
    let mut a = [[0.0; 7]; 7];
    let d = [1.0, -2.0, 3.5, 0.25, 4.0, -1.0, 2.0];
    for i in 0..7 {
        a[i][i] = d[i];
    }
    let (params, at) = quadratic(&a);
    let t = hutchinson_traces(&params, 1, |_| loss(&params, &at), 3, 1).unwrap();
    assert_eq!(t.len(), 2);
    assert!((t[0].trace - 2.5).abs() < 1e-12, "{:?}", t[0]);
    assert!((t[1].trace - 5.25).abs() < 1e-12, "{:?}", t[1]);
    assert!(t[0].std_err < 1e-12 && t[1].std_err < 1e-12);
    assert_eq!(t[0].samples, 3);
}

#[test]
fn dense_hessian_traces_converge_within_their_standard_error() {
    tch::set_num_threads(1);
    let a = symmetric(5);
    let (params, at) = quadratic(&a);
    let n = 4000;
    // Two "batches" with the same loss: samples from both are pooled.
    let t = hutchinson_traces(&params, 2, |_| loss(&params, &at), n / 2, 42).unwrap();
    let groups = [0..3usize, 3..7];
    for (k, g) in groups.iter().enumerate() {
        let truth: f64 = g.clone().map(|i| a[i][i]).sum();
        // Var of one sample: 4·A_ij² per unordered pair inside the group, A_ij² per pair
        // (i in the group, j outside).
        let mut var = 0.0;
        for i in g.clone() {
            for j in 0..7 {
                if j == i {
                    continue;
                }
                if g.contains(&j) {
                    if j > i {
                        var += 4.0 * a[i][j] * a[i][j];
                    }
                } else {
                    var += a[i][j] * a[i][j];
                }
            }
        }
        let se = (var / n as f64).sqrt();
        assert_eq!(t[k].samples, n);
        assert!(
            (t[k].trace - truth).abs() < 4.0 * se,
            "group {k}: {} vs {truth} (se {se})",
            t[k].trace
        );
        assert!(
            (t[k].std_err / se - 1.0).abs() < 0.1,
            "group {k}: reported se {} vs {se}",
            t[k].std_err
        );
        assert!(se > 0.01, "the test needs a non-trivial variance");
    }
    // Same seed, same estimate; another seed, another.
    let again = hutchinson_traces(&params, 2, |_| loss(&params, &at), n / 2, 42).unwrap();
    assert_eq!(again, t);
    let other = hutchinson_traces(&params, 2, |_| loss(&params, &at), n / 2, 43).unwrap();
    assert_ne!(other[0].trace, t[0].trace);
}

#[test]
fn bad_inputs_are_errors() {
    let (params, at) = quadratic(&symmetric(1));
    let e = hutchinson_traces(&params, 1, |_| loss(&params, &at), 0, 0).unwrap_err();
    assert!(e.to_string().contains("samples"), "{e}");
    let frozen = vec![Tensor::from_slice(&[1.0f64, 2.0])];
    let e = hutchinson_traces(&frozen, 1, |_| frozen[0].sum(Kind::Double), 1, 0).unwrap_err();
    assert!(e.to_string().contains("require gradients"), "{e}");
    let e = hutchinson_traces(&params, 1, |_| Tensor::cat(&params, 0), 1, 0).unwrap_err();
    assert!(e.to_string().contains("scalar"), "{e}");
}

#[test]
fn network_traces_through_the_quantized_forward_are_finite_and_mostly_positive() {
    // The real use: double backward through fake-quantized convs, batch norm (evaluation mode),
    // ReLU, pooling and cross-entropy of a small trained network.
    tch::set_num_threads(1);
    use unibit_core::family::FamilyConfig;
    use unibit_core::{Bits, Family};
    use unibit_sw::data::{self, Augment};
    use unibit_sw::mixed::{layer_sensitivities, HessianOptions};
    use unibit_sw::net::QuantSpec;
    use unibit_sw::train::{train_step, Model, Sgd, TrainConfig};
    let cfg = TrainConfig {
        model: FamilyConfig::fashion_mnist(Family::ResNet { depth: 8 }, 0.25),
        quant: Some(QuantSpec {
            bits: Bits::new(8).unwrap(),
            first_last_8bit: false,
        }),
        layer_bits: None,
        budget: None,
        budget_bits: None,
        channel_plan: vec![],
        size_bits: None,
        weight_bits: None,
        param_bits: None,
        epochs: 1,
        batch: 32,
        lr: 0.05,
        momentum: 0.9,
        weight_decay: 5e-4,
        warmup_epochs: 0.0,
        seed: 0,
        augment: false,
        train_limit: None,
        data_dir: "/nonexistent".into(),
    };
    let m = Model::seeded(&cfg, Device::Cpu, 3).unwrap();
    let mut opt = Sgd::new(&m, 0.9, 5e-4);
    let d = data::synthetic(128, 2);
    for b in data::train_batches(&d, 32, 0, 0, Augment::NONE, Device::Cpu) {
        train_step(&m.net, &mut opt, &b.images, &b.labels, 0.05);
    }
    let choices: Vec<Bits> = [1, 2, 4, 8].map(|b| Bits::new(b).unwrap()).to_vec();
    let o = HessianOptions {
        samples: 4,
        images: 64,
        batch: 32,
        seed: 0,
    };
    let s = layer_sensitivities(&m, &d, &choices, &o, Device::Cpu).unwrap();
    assert_eq!(s.len(), m.graph.weight_layers().count());
    for l in &s {
        assert!(l.trace.trace.is_finite() && l.trace.samples == 8, "{l:?}");
        // The quantization error shrinks as bits grow.
        let e: Vec<f64> = l.quant_error.iter().map(|x| x.1).collect();
        assert!(e.windows(2).all(|w| w[1] < w[0]), "{}: {e:?}", l.node);
    }
    let positive = s.iter().filter(|l| l.trace.trace > 0.0).count();
    assert!(positive * 2 > s.len(), "{s:?}");
}
