//! Where QAT training time goes: the weight quantizers of all layers, and the activation
//! quantizers at ResNet-20's activation sizes, each forward + backward, vs the float step.
use std::time::Instant;
use tch::{nn, Device, Kind, Tensor};
use unibit_core::{family::FamilyConfig, ActKind, Bits};
use unibit_sw::{
    net::{Net, QuantSpec},
    quant,
};
fn best(n: usize, f: &dyn Fn()) -> f64 {
    f();
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .fold(f64::MAX, f64::min)
}
fn main() {
    unibit_sw::set_threads(2).unwrap();
    let g = FamilyConfig::fashion_mnist("resnet20".parse().unwrap(), 1.0)
        .build()
        .unwrap();
    let vs = nn::VarStore::new(Device::Cpu);
    let b2 = Bits::new(2).unwrap();
    let net = Net::new(
        &vs.root(),
        &g,
        Some(QuantSpec {
            bits: b2,
            first_last_8bit: false,
        }),
    )
    .unwrap();
    let w: Vec<usize> = (0..g.nodes.len())
        .filter(|&i| g.nodes[i].op.has_weights())
        .collect();
    let tw = best(5, &|| {
        let mut s = Tensor::zeros([], (Kind::Float, Device::Cpu));
        for &i in &w {
            s += net.effective_weight(i).unwrap().sum(Kind::Float);
        }
        s.backward();
    });
    let shapes: Vec<(i64, i64, ActKind)> = vec![(16, 28, ActKind::U8); 13]
        .into_iter()
        .chain(vec![(16, 28, ActKind::I8); 3])
        .chain(vec![(32, 14, ActKind::U8); 6])
        .chain(vec![(32, 14, ActKind::I8); 4])
        .chain(vec![(64, 7, ActKind::U8); 6])
        .chain(vec![(64, 7, ActKind::I8); 4])
        .collect();
    let xs: Vec<(Tensor, ActKind)> = shapes
        .iter()
        .map(|&(c, h, k)| {
            (
                Tensor::randn([128, c, h, h], (Kind::Float, Device::Cpu)).set_requires_grad(true),
                k,
            )
        })
        .collect();
    let ta = best(5, &|| {
        let mut s = Tensor::zeros([], (Kind::Float, Device::Cpu));
        for (x, k) in &xs {
            let sc = quant::observed_scale(x, *k);
            s += quant::fake_quant_act(x, sc, *k).sum(Kind::Float);
        }
        s.backward();
    });
    let tr = best(5, &|| {
        let mut s = Tensor::zeros([], (Kind::Float, Device::Cpu));
        for (x, k) in &xs {
            if *k == ActKind::U8 {
                s += x.relu().sum(Kind::Float);
            }
        }
        s.backward();
    });
    let ts = best(5, &|| {
        let mut s = Tensor::zeros([], (Kind::Float, Device::Cpu));
        for (x, _) in &xs {
            s += x.sum(Kind::Float);
        }
        s.backward();
    });
    println!("per step (best of 5, ms): weight quantizers {tw:.1}; activation quantizers {ta:.1}; the ReLUs they replace {tr:.1}; sum-only baseline {ts:.1}");
}
