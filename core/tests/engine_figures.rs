//! The figures of docs/engine.md (not a pass/fail test):
//! `cargo test --release -p unibit-core --test engine_figures -- --ignored --nocapture`

use unibit_core::cost::{model_cost, EngineConfig, Timing};
use unibit_core::engine::{largest_width, model_report, plan, EngineShape, Memories};
use unibit_core::{Bits, Family, FamilyConfig};

fn config(family: &str, width: f64, multiple: usize) -> FamilyConfig {
    FamilyConfig {
        channel_multiple: multiple,
        ..FamilyConfig::fashion_mnist(family.parse::<Family>().unwrap(), width)
    }
}

/// Today's tile coprocessor on 8×8 (hw timing: tile overhead 11 + tree 3, one requantizer,
/// 512-word activation and output memories).
fn tile_cycles(cfg: &FamilyConfig, b: Bits) -> u64 {
    let mut e = EngineConfig::new(8, 8, b).unwrap();
    e.timing = Timing {
        tile_overhead: 14,
        vector_overhead: 0,
        requant_lanes: 1,
        requant_cycles: 1,
    };
    e.act_words = 512;
    e.out_words = 512;
    model_cost(&cfg.build().unwrap(), &e).unwrap().cycles
}

#[test]
#[ignore]
fn figures() {
    let b2 = Bits::new(2).unwrap();
    let boards = [
        (
            "icebreaker 8×8",
            EngineShape::icebreaker(b2),
            Memories::up5k(),
        ),
        (
            "ulx3s-25f 8×8",
            EngineShape::ulx3s(b2),
            Memories::ecp5_25f(),
        ),
        (
            "ulx3s-25f 16×16",
            EngineShape::new(16, 16, b2).unwrap(),
            Memories::ecp5_25f(),
        ),
    ];
    println!(
        "| model | engine | cycles | MAC bound | ratio | images/s | main memory | tile buffer | blocks |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for ((name, shape, mem), mhz) in boards.iter().zip([24.0, 100.0, 100.0]) {
        let demo = config("resnet8", 0.8594, 8);
        let best = largest_width(&config("resnet20", 1.0, shape.rows), shape, mem).unwrap();
        let r20 = config("resnet20", best.width, shape.rows);
        for (label, cfg) in [
            ("demo resnet8 w=0.8594 (16 KiB)", demo),
            ("resnet20 w=max", r20),
        ] {
            let g = cfg.build().unwrap();
            let rep = model_report(&g, shape, mem).unwrap();
            let p = plan(&g, shape, mem).unwrap();
            let req = p.requirements();
            let size = unibit_core::size::model_size(&g, |_| b2).unwrap();
            let blocks: Vec<String> = p
                .config
                .totals
                .iter()
                .map(|(n, u, t)| format!("{n} {u}/{t}"))
                .collect();
            println!(
                "| {label} (w = {:.4}, {}) | {name} | {} | {:.0} | {:.3} | {:.1} at {mhz} MHz | {} / {} B ({:.1}%) | {} / {} B | {} |",
                cfg.width,
                unibit_core::size::format_bits(size.total_bits),
                rep.cycles,
                rep.bound,
                rep.ratio,
                mhz * 1e6 / rep.cycles as f64,
                req.main.needed,
                req.main.available,
                100.0 * req.main.needed as f64 / req.main.available as f64,
                req.tile_buffer.needed,
                req.tile_buffer.available,
                blocks.join(", ")
            );
            println!(
                "|  | parts | program {} B, weights + parameters {} B, activations {} B ({} slots) | | | | | | |",
                req.program_bytes, req.weight_bytes, req.activation_bytes, p.slots.len()
            );
        }
    }
    let demo = config("resnet8", 0.8594, 8);
    println!("\n| B | demo-shaped resnet8 cycles on 8×8 | MAC bound | ratio | fits UP5K |");
    println!("|---|---|---|---|---|");
    for b in [1u8, 2, 4, 8] {
        let bits = Bits::new(b).unwrap();
        let (shape, mem) = (EngineShape::icebreaker(bits), Memories::up5k());
        let g = demo.build().unwrap();
        let rep = model_report(&g, &shape, &mem).unwrap();
        let fits = plan(&g, &shape, &mem).unwrap().requirements().fits();
        println!(
            "| {b} | {} | {:.0} | {:.3} | {fits} |",
            rep.cycles, rep.bound, rep.ratio
        );
    }
    for m in [4usize, 8] {
        let g = config("resnet8", 0.8594, m).build().unwrap();
        let rep = model_report(&g, &boards[0].1, &boards[0].2).unwrap();
        let ch: Vec<usize> = g
            .weight_layers()
            .map(|n| n.op.out_channels().unwrap())
            .collect();
        println!(
            "\nresnet8 w=0.8594 channel multiple {m} (channels {ch:?}) on 8×8 B=2: {} cycles, bound {:.0}, ratio {:.3}",
            rep.cycles, rep.bound, rep.ratio
        );
    }
    let mb = config("mobilenetv2", 0.5, 8);
    let rep = model_report(&mb.build().unwrap(), &boards[0].1, &boards[0].2).unwrap();
    let dw: Vec<_> = rep
        .layers
        .iter()
        .filter(|l| l.name.ends_with(".dw"))
        .collect();
    let (dwc, dwb) = (
        dw.iter().map(|l| l.cycles).sum::<u64>(),
        dw.iter().map(|l| l.bound).sum::<f64>(),
    );
    println!(
        "\nmobilenetv2 w=0.5 (multiple 8) on 8×8 B=2: {} cycles, bound {:.0}, ratio {:.3}; depthwise layers {} cycles ({:.0}% of all) vs bound {:.0} (ratio {:.2})",
        rep.cycles, rep.bound, rep.ratio, dwc, 100.0 * dwc as f64 / rep.cycles as f64, dwb, dwc as f64 / dwb
    );
    println!(
        "\ntile coprocessor today, demo on 8×8: {} cycles",
        tile_cycles(&demo, b2)
    );
    for (name, shape, mem) in &boards {
        let rep = model_report(&demo.build().unwrap(), shape, mem).unwrap();
        println!("\ndemo resnet8 on {name}:\n{}", rep.table());
    }
}
