//! The conv patch address generator: for every conv/linear layer and row tile of compiled
//! resnet8 (expanded stem, strided convs, 1×1 shortcuts, linear), MobileNetV2 (depthwise and
//! grouped, w0/nw) and VGG (linear over a flatten), the chunk sequence (address or zero word)
//! equals the spec's formula, under a random `enable`; the Verilog equals rust-hdl cycle by
//! cycle on a prefix of every layer; lint-clean.
mod net_support;
use net_support::{programs, wide, word};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_hdl::prelude::*;
use unibit_core::engine::{Descriptor, OpCode, Program};
use unibit_hw::rtl::net::harness::{port, run_iverilog, Port};
use unibit_hw::rtl::net::patch_addr::{self, PatchAddr, SETUP_CYCLES};
use unibit_hw::rtl::sim::tick;
use unibit_hw::verilog::{have_tool, lint};

/// Cycles of each layer's trace that also run under iverilog.
const VERILOG_PREFIX: usize = 1500;
const INPUTS: [Port; 14] = [
    port("setup", 1),
    port("tile_go", 1),
    port("enable", 1),
    port("kernel", 4),
    port("stride", 4),
    port("pad", 4),
    port("in_h", 16),
    port("in_w", 16),
    port("in_cw", 16),
    port("out_h", 16),
    port("out_w", 16),
    port("nw", 16),
    port("in_a", 16),
    port("w0", 16),
];
const OUTPUTS: [Port; 6] = [
    port("ready", 1),
    port("valid", 1),
    port("addr", 16),
    port("zero", 1),
    port("vec_last", 1),
    port("last", 1),
];

/// The spec's chunk order and addresses for tile header `w0` (docs/engine.md §3).
fn expected(d: &Descriptor, w0: usize) -> Vec<Option<usize>> {
    let (k, s, p) = (d.kernel as isize, d.stride as isize, d.pad as isize);
    let mut v = vec![];
    for oy in 0..d.out_h as isize {
        for ox in 0..d.out_w as isize {
            for tap in 0..k * k {
                let (iy, ix) = (oy * s + tap / k - p, ox * s + tap % k - p);
                let inside = iy >= 0 && ix >= 0 && iy < d.in_h as isize && ix < d.in_w as isize;
                for wi in 0..d.f10 as usize {
                    let pix = (iy * d.in_w as isize + ix) as usize;
                    v.push(inside.then(|| d.in_a as usize + pix * d.in_cw as usize + w0 + wi));
                }
            }
        }
    }
    v
}

/// Per-tile `w0` from the tile block headers in the program image.
fn tile_w0(p: &Program, d: &Descriptor, t: usize) -> usize {
    (word(p, d.param as usize + t * d.tile_words as usize) & 0xffff) as usize
}

struct Run {
    steps: Vec<Vec<u64>>,
    trace: Vec<Vec<u64>>,
}

fn field_inputs(d: &Descriptor, w0: usize) -> [u64; 11] {
    [
        d.kernel as u64,
        d.stride as u64,
        d.pad as u64,
        d.in_h as u64,
        d.in_w as u64,
        d.in_cw as u64,
        d.out_h as u64,
        d.out_w as u64,
        d.f10 as u64,
        d.in_a as u64,
        w0 as u64,
    ]
}

/// One cycle of the rust-hdl generator; records the step and its outputs.
fn cycle(u: &mut PatchAddr, run: &mut Run, ctl: [bool; 3], f: &[u64; 11]) {
    let [setup, go, enable] = ctl;
    u.setup.next = setup;
    u.tile_go.next = go;
    u.enable.next = enable;
    u.kernel.next = bits(f[0]);
    u.stride.next = bits(f[1]);
    u.pad.next = bits(f[2]);
    u.in_h.next = bits(f[3]);
    u.in_w.next = bits(f[4]);
    u.in_cw.next = bits(f[5]);
    u.out_h.next = bits(f[6]);
    u.out_w.next = bits(f[7]);
    u.nw.next = bits(f[8]);
    u.in_a.next = bits(f[9]);
    u.w0.next = bits(f[10]);
    let mut step = vec![setup as u64, go as u64, enable as u64];
    step.extend(f);
    run.steps.push(step);
    tick(u, |u| &mut u.clock);
    run.trace.push(outputs(u));
}

fn outputs(u: &PatchAddr) -> Vec<u64> {
    vec![
        u.ready.val() as u64,
        u.valid.val() as u64,
        u.addr.val().to_u64(),
        u.zero.val() as u64,
        u.vec_last.val() as u64,
        u.last.val() as u64,
    ]
}

/// The chunks one tile presents (taken on cycles with `valid` and `enable`), with the
/// `vec_last` / `last` flags checked on the way.
fn run_tile(
    u: &mut PatchAddr,
    run: &mut Run,
    rng: &mut ChaCha8Rng,
    d: &Descriptor,
    w0: usize,
) -> Vec<Option<usize>> {
    let f = field_inputs(d, w0);
    let per_vec = (d.kernel * d.kernel * d.f10) as usize;
    let total = per_vec * d.out_h as usize * d.out_w as usize;
    cycle(u, run, [false, true, false], &f);
    let mut got = vec![];
    while got.len() < total {
        assert!(
            u.valid.val(),
            "valid fell after {} of {total} chunks",
            got.len()
        );
        let (addr, zero) = (u.addr.val().index(), u.zero.val());
        assert_eq!(u.vec_last.val(), (got.len() + 1) % per_vec == 0);
        assert_eq!(u.last.val(), got.len() + 1 == total);
        let enable = rng.random_bool(0.8);
        if enable {
            got.push((!zero).then_some(addr));
        }
        cycle(u, run, [false, false, enable], &f);
    }
    assert!(!u.valid.val(), "valid after the tile's last chunk");
    got
}

/// One layer: setup, then every tile; returns its trace for the Verilog comparison.
fn run_layer(name: &str, n: usize, p: &Program, d: &Descriptor, seed: u64) -> Run {
    let mut u = PatchAddr::default();
    u.connect_all();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut run = Run {
        steps: vec![],
        trace: vec![],
    };
    let f = field_inputs(d, tile_w0(p, d, 0));
    cycle(&mut u, &mut run, [true, false, false], &f);
    for _ in 1..SETUP_CYCLES {
        assert!(!u.ready.val());
        cycle(&mut u, &mut run, [false, false, false], &f);
    }
    assert!(
        u.ready.val(),
        "{name} layer {n}: ready after {SETUP_CYCLES} cycles"
    );
    for t in 0..d.tiles as usize {
        let w0 = tile_w0(p, d, t);
        let got = run_tile(&mut u, &mut run, &mut rng, d, w0);
        assert!(
            got == expected(d, w0),
            "{name} layer {n} ({d:?}) tile {t}: chunk sequence differs from the spec's"
        );
    }
    run
}

fn conv_layers(p: &Program) -> impl Iterator<Item = (usize, &Descriptor)> {
    p.descriptors
        .iter()
        .enumerate()
        .filter(|(_, d)| d.opcode() == Some(OpCode::Conv))
}

#[test]
fn every_conv_layer_reads_the_spec_sequence_and_verilog_agrees() {
    let iverilog = have_tool("iverilog");
    if !iverilog {
        eprintln!("\n!!!!!!!! SKIPPING the Verilog half: iverilog is not installed !!!!!!!!\n");
    }
    let dir = tempfile::tempdir().unwrap();
    let v = patch_addr::verilog();
    let (mut cases, mut kinds) = (0, [false; 5]);
    for (name, p) in programs() {
        for (n, d) in conv_layers(&p) {
            let run = run_layer(name, n, &p, d, n as u64);
            cases += 1;
            kinds[0] |= d.pad > 0;
            kinds[1] |= d.stride > 1;
            kinds[2] |= d.masked || d.diagonal;
            kinds[3] |= d.kernel == 1 && d.in_h == 1 && d.f10 > 1;
            kinds[4] |= tile_w0(&p, d, d.tiles as usize - 1) > 0;
            if !iverilog {
                continue;
            }
            let len = run.steps.len().min(VERILOG_PREFIX);
            let d_dir = dir.path().join(format!("{name}-{n}"));
            let rows =
                run_iverilog(&d_dir, &v, &[], &INPUTS, &OUTPUTS, &wide(&run.steps[..len])).unwrap();
            for (i, (row, want)) in rows.iter().zip(&run.trace).enumerate() {
                let want: Vec<Option<u128>> = want.iter().map(|&x| Some(x as u128)).collect();
                assert_eq!(*row, want, "{name} layer {n}: Verilog differs at cycle {i}");
            }
        }
    }
    assert!(cases > 20, "{cases} conv layers");
    assert_eq!(
        kinds, [true; 5],
        "padding, stride, grouped, linear, w0 > 0 all covered"
    );
}

#[test]
fn patch_address_generator_is_lint_clean() {
    if have_tool("verilator") {
        let dir = tempfile::tempdir().unwrap();
        lint(dir.path(), &patch_addr::verilog()).unwrap();
    }
}
