//! Same as `unibit bench-train` without the CLI: `cargo run --release -p unibit-sw --example bench_train -- [threads] [steps] [rounds] [bits]`.
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let arg = |i: usize, d: usize| a.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    if std::env::var_os("NO_TUNE").is_none() {
        unibit_sw::tune_allocator();
    }
    unibit_sw::set_threads(arg(1, 2)).unwrap();
    let bits = unibit_core::Bits::new(arg(4, 2) as u8).unwrap();
    let r = unibit_sw::bench::train_throughput(
        "resnet20".parse().unwrap(),
        1.0,
        bits,
        128,
        arg(2, 10),
        arg(3, 4),
    )
    .unwrap();
    println!(
        "resnet20 w=1 batch 128: float {:.0} img/s, B={bits} QAT {:.0} img/s, ratio {:.3}",
        r.float_images_per_s,
        r.quant_images_per_s,
        r.quant_images_per_s / r.float_images_per_s
    );
}
