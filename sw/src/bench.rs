//! Training throughput: the same network trained unquantized and with QAT in one process,
//! alternating rounds so that changes in machine load affect both alike.

use crate::data;
use crate::error::{Error, Result};
use crate::net::{Net, QuantSpec};
use crate::train::{train_step, Model, Sgd};
use std::time::Instant;
use tch::{nn, Device};
use unibit_core::family::FamilyConfig;
use unibit_core::{Bits, Family};

/// Training throughput of the same network unquantized and quantized, images per second.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Throughput {
    pub float_images_per_s: f64,
    pub quant_images_per_s: f64,
}

fn model(cfg: &FamilyConfig, quant: Option<QuantSpec>) -> Result<Model> {
    let graph = cfg.build()?;
    let vs = nn::VarStore::new(Device::Cpu);
    let net = Net::new(&vs.root(), &graph, quant)?;
    Ok(Model { vs, net, graph })
}

/// Images per second of training steps (forward, backward, SGD update) on synthetic batches.
pub fn train_throughput(
    family: Family,
    width: f64,
    bits: Bits,
    batch: usize,
    steps: usize,
    rounds: usize,
) -> Result<Throughput> {
    if batch == 0 || steps == 0 || rounds == 0 {
        return Err(Error::invalid(
            "batch, steps and rounds",
            "at least 1 each",
            format!("{batch}, {steps} and {rounds}"),
        ));
    }
    let cfg = FamilyConfig::fashion_mnist(family, width);
    let data = data::synthetic(batch * 4, 1);
    let batches: Vec<data::Batch> =
        data::train_batches(&data, batch, 0, 0, data::Augment::FASHION, Device::Cpu).collect();
    let mut times = [0.0f64; 2];
    let models = [
        model(&cfg, None)?,
        model(
            &cfg,
            Some(QuantSpec {
                bits,
                first_last_8bit: false,
            }),
        )?,
    ];
    let mut opts: Vec<Sgd> = models.iter().map(|m| Sgd::new(m, 0.9, 5e-4)).collect();
    for (k, m) in models.iter().enumerate() {
        for b in batches.iter().take(2) {
            train_step(&m.net, &mut opts[k], &b.images, &b.labels, 0.01); // warm-up
        }
    }
    for _ in 0..rounds.max(1) {
        for (k, m) in models.iter().enumerate() {
            let t0 = Instant::now();
            for s in 0..steps.max(1) {
                let b = &batches[s % batches.len()];
                train_step(&m.net, &mut opts[k], &b.images, &b.labels, 0.01);
            }
            times[k] += t0.elapsed().as_secs_f64();
        }
    }
    let images = (rounds.max(1) * steps.max(1) * batch) as f64;
    Ok(Throughput {
        float_images_per_s: images / times[0],
        quant_images_per_s: images / times[1],
    })
}
