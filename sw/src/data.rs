//! Batches of Fashion-MNIST (read by `unibit_core::dataset`) as tensors, with deterministic
//! augmentation: zero padding + random crop and horizontal flips (garments, shoes and bags are
//! left–right symmetric classes; vertical flips would not be).

use crate::net::INPUT_SCALE;
use ndarray::Array4;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};
use unibit_core::dataset::Dataset;

/// Augmentation settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Augment {
    /// Zero padding on each side before the random crop back to the original size.
    pub pad: usize,
    pub flip: bool,
}

impl Augment {
    pub const NONE: Augment = Augment {
        pad: 0,
        flip: false,
    };
    pub const FASHION: Augment = Augment { pad: 2, flip: true };
}

/// A batch: float images `[N, C, H, W]` scaled to [0, 1] and int64 labels.
pub struct Batch {
    pub images: Tensor,
    pub labels: Tensor,
}

/// Float model input for raw u8 images: `pixel · (1/255)`.
pub fn to_input(images: &[u8], shape: [usize; 4], device: Device) -> Tensor {
    let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
    (Tensor::from_slice(images)
        .reshape(&dims)
        .to_kind(Kind::Float)
        * INPUT_SCALE)
        .to_device(device)
}

/// Float model input for an `[N, C, H, W]` u8 array.
pub fn array_input(images: &Array4<u8>, device: Device) -> Tensor {
    let s = images.shape();
    let std = images.as_standard_layout();
    to_input(std.as_slice().unwrap(), [s[0], s[1], s[2], s[3]], device)
}

/// One epoch of shuffled, augmented training batches. Deterministic in `(seed, epoch)`.
pub fn train_batches(
    data: &Dataset,
    batch: usize,
    seed: u64,
    epoch: usize,
    augment: Augment,
    device: Device,
) -> impl Iterator<Item = Batch> + '_ {
    let mut rng =
        ChaCha8Rng::seed_from_u64(seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut order: Vec<usize> = (0..data.len()).collect();
    order.shuffle(&mut rng);
    let batch = batch.max(1);
    // Drop the last partial batch so batch norm never sees a tiny batch.
    let full = (order.len() / batch).max(usize::from(!order.is_empty()));
    (0..full).map(move |b| {
        let idx = &order[b * batch..((b + 1) * batch).min(order.len())];
        augmented_batch(data, idx, augment, &mut rng, device)
    })
}

/// Number of batches [`train_batches`] yields.
pub fn train_batch_count(n: usize, batch: usize) -> usize {
    (n / batch.max(1)).max(usize::from(n > 0))
}

fn augmented_batch(
    data: &Dataset,
    idx: &[usize],
    augment: Augment,
    rng: &mut ChaCha8Rng,
    device: Device,
) -> Batch {
    let s = data.images.shape();
    let (c, h, w) = (s[1], s[2], s[3]);
    let mut out = vec![0u8; idx.len() * c * h * w];
    for (k, &i) in idx.iter().enumerate() {
        let src = data.images.slice(ndarray::s![i, .., .., ..]);
        let p = augment.pad as isize;
        let (dy, dx) = if p > 0 {
            (
                rng.random_range(-p as i64..=p as i64) as isize,
                rng.random_range(-p as i64..=p as i64) as isize,
            )
        } else {
            (0, 0)
        };
        let flip = augment.flip && rng.random_bool(0.5);
        let dst = &mut out[k * c * h * w..(k + 1) * c * h * w];
        for ch in 0..c {
            for y in 0..h {
                let sy = y as isize + dy;
                if sy < 0 || sy >= h as isize {
                    continue;
                }
                for x in 0..w {
                    let xx = if flip { w - 1 - x } else { x };
                    let sx = xx as isize + dx;
                    if sx < 0 || sx >= w as isize {
                        continue;
                    }
                    dst[(ch * h + y) * w + x] = src[[ch, sy as usize, sx as usize]];
                }
            }
        }
    }
    let labels: Vec<i64> = idx.iter().map(|&i| data.labels[i] as i64).collect();
    Batch {
        images: to_input(&out, [idx.len(), c, h, w], device),
        labels: Tensor::from_slice(&labels).to_device(device),
    }
}

/// In-order batches without augmentation (evaluation, calibration).
pub fn eval_batches(
    data: &Dataset,
    batch: usize,
    device: Device,
) -> impl Iterator<Item = Batch> + '_ {
    let n = data.len();
    let batch = batch.max(1);
    (0..n.div_ceil(batch)).map(move |b| {
        let idx: Vec<usize> = (b * batch..((b + 1) * batch).min(n)).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        augmented_batch(data, &idx, Augment::NONE, &mut rng, device)
    })
}

/// A small learnable synthetic set (tests, benchmarks without the dataset): class `k` is a
/// bright 6×6 square at one of ten positions plus noise.
pub fn synthetic(n: usize, seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut images = Array4::<u8>::zeros((n, 1, 28, 28));
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let k = rng.random_range(0..10usize);
        labels.push(k as u8);
        let (oy, ox) = (3 + (k / 5) * 12, 1 + (k % 5) * 5);
        for y in 0..28 {
            for x in 0..28 {
                let noise: u8 = rng.random_range(0..60);
                let on = (oy..oy + 6).contains(&y) && (ox..ox + 6).contains(&x);
                images[[i, 0, y, x]] = if on { 180 + noise } else { noise };
            }
        }
    }
    Dataset { images, labels }
}
