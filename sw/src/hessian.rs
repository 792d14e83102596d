//! Hessian traces by Hutchinson's estimator (HAWQ-V2): `tr(H) = E_v[vᵀ H v]` for Rademacher
//! vectors `v` (entries ±1 with probability ½), with `H v` from a double backward pass.
//!
//! For parameter groups `θ_1 … θ_L` (one per layer) one sample costs one extra backward pass
//! for all groups at once: with `g = ∇L` built with `create_graph`, `∇(Σ_l g_l·v_l) = H v`, and
//! `v_l·(H v)_l` is an unbiased sample of `tr(H_ll)` (the cross terms `v_l·H_lk v_k`, `k ≠ l`,
//! have mean zero because the groups' vectors are independent). The variance of one sample is
//! `2 Σ_{i≠j} H_ij²` over the group's rows (so a diagonal block is estimated exactly); the
//! estimate reports its standard error over the samples drawn.

use crate::error::{Error, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// One parameter group's trace estimate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceEstimate {
    /// Mean of the samples `v·(H v)`.
    pub trace: f64,
    /// Standard error of the mean (sample standard deviation / √n; 0 for one sample).
    pub std_err: f64,
    pub samples: usize,
}

/// A Rademacher tensor with the shape, kind and device of `like`.
pub fn rademacher_like(like: &Tensor, rng: &mut ChaCha8Rng) -> Tensor {
    let n = like.numel();
    let v: Vec<f32> = (0..n)
        .map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 })
        .collect();
    Tensor::from_slice(&v)
        .reshape(like.size())
        .to_kind(like.kind())
        .to_device(like.device())
}

/// Running sums of per-group samples.
struct Samples {
    sum: Vec<f64>,
    sum_sq: Vec<f64>,
    n: usize,
}

impl Samples {
    fn new(groups: usize) -> Self {
        Samples {
            sum: vec![0.0; groups],
            sum_sq: vec![0.0; groups],
            n: 0,
        }
    }
    fn push(&mut self, xs: &[f64]) {
        for (k, x) in xs.iter().enumerate() {
            self.sum[k] += x;
            self.sum_sq[k] += x * x;
        }
        self.n += 1;
    }
    fn finish(&self) -> Vec<TraceEstimate> {
        let n = self.n.max(1) as f64;
        (0..self.sum.len())
            .map(|k| {
                let mean = self.sum[k] / n;
                let var = if self.n > 1 {
                    ((self.sum_sq[k] - n * mean * mean) / (n - 1.0)).max(0.0)
                } else {
                    0.0
                };
                TraceEstimate {
                    trace: mean,
                    std_err: (var / n).sqrt(),
                    samples: self.n,
                }
            })
            .collect()
    }
}

/// `samples` Hutchinson samples of every group's Hessian trace for one scalar `loss` built from
/// `params` (leaf tensors that require gradients), pushed into `acc`.
fn sample_loss(
    loss: &Tensor,
    params: &[Tensor],
    samples: usize,
    rng: &mut ChaCha8Rng,
    acc: &mut Samples,
) -> Result<()> {
    if loss.numel() != 1 {
        return Err(Error::invalid(
            "Hutchinson loss",
            "a scalar",
            format!("shape {:?}", loss.size()),
        ));
    }
    let grads = Tensor::f_run_backward(&[loss], params, true, true).map_err(|e| {
        Error::torch(
            "Hutchinson: gradient of the loss (every parameter must be used by the loss)",
            e,
        )
    })?;
    for _ in 0..samples {
        let vs: Vec<Tensor> = params.iter().map(|p| rademacher_like(p, rng)).collect();
        let mut gv = Tensor::zeros([], (loss.kind(), loss.device()));
        for (g, v) in grads.iter().zip(&vs) {
            gv += (g * v).sum(loss.kind());
        }
        if !gv.requires_grad() {
            // The gradient does not depend on the parameters: the Hessian is zero.
            acc.push(&vec![0.0; params.len()]);
            continue;
        }
        let hv = Tensor::f_run_backward(&[&gv], params, true, false)
            .map_err(|e| Error::torch("Hutchinson: Hessian-vector product (double backward)", e))?;
        let xs: Vec<f64> = hv
            .iter()
            .zip(&vs)
            .map(|(h, v)| (h * v).sum(Kind::Double).double_value(&[]))
            .collect();
        if xs.iter().any(|x| !x.is_finite()) {
            return Err(Error::invalid(
                "Hutchinson: Hessian-vector product",
                "finite values",
                format!("{xs:?}"),
            ));
        }
        acc.push(&xs);
    }
    Ok(())
}

/// Per-group Hessian traces of the mean of `losses` (one scalar per batch of equal weight):
/// `samples` Rademacher draws per batch, seeded by `seed`. `losses(b)` builds batch `b`'s loss
/// from `params`.
pub fn hutchinson_traces(
    params: &[Tensor],
    batches: usize,
    mut losses: impl FnMut(usize) -> Tensor,
    samples: usize,
    seed: u64,
) -> Result<Vec<TraceEstimate>> {
    if params.is_empty() || batches == 0 || samples == 0 {
        return Err(Error::invalid(
            "Hutchinson: parameters, batches and samples",
            "≥ 1",
            format!("{}, {batches} and {samples}", params.len()),
        ));
    }
    for (k, p) in params.iter().enumerate() {
        if !p.requires_grad() {
            return Err(Error::invalid(
                format!("Hutchinson: parameter group {k}"),
                "a tensor that requires gradients",
                "one that does not require gradients",
            ));
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut acc = Samples::new(params.len());
    for b in 0..batches {
        let loss = losses(b);
        sample_loss(&loss, params, samples, &mut rng, &mut acc)?;
    }
    Ok(acc.finish())
}
