//! The element-wise unit's address sequencing: for every add, max pool and (global) average
//! pool of compiled resnet8, MobileNetV2 and VGG programs, the operations (read A / read B /
//! write and their addresses) equal the spec's order under a random `enable`; the Verilog
//! equals rust-hdl cycle by cycle on a prefix of every layer; lint-clean.
mod net_support;
use net_support::{programs, wide};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_hdl::prelude::*;
use unibit_core::engine::{Descriptor, OpCode};
use unibit_hw::rtl::net::elem_addr::{self, ElemAddr, SETUP_CYCLES};
use unibit_hw::rtl::net::harness::{port, run_iverilog, Port};
use unibit_hw::rtl::sim::tick;
use unibit_hw::verilog::{have_tool, lint};

const VERILOG_PREFIX: usize = 1500;
const INPUTS: [Port; 14] = [
    port("setup", 1),
    port("go", 1),
    port("enable", 1),
    port("is_add", 1),
    port("stride", 4),
    port("in_w", 16),
    port("in_cw", 16),
    port("out_h", 16),
    port("out_w", 16),
    port("out_cw", 16),
    port("f10", 16),
    port("in_a", 16),
    port("in_b", 16),
    port("out_base", 16),
];
const OUTPUTS: [Port; 6] = [
    port("ready", 1),
    port("valid", 1),
    port("addr", 16),
    port("kind", 2),
    port("first", 1),
    port("last", 1),
];

/// (kind, address) of every operation in the spec's order; kind 0 read A, 1 read B, 2 write.
fn expected(d: &Descriptor) -> Vec<(u64, usize)> {
    let (a, b, out) = (d.in_a as usize, d.in_b as usize, d.out as usize);
    let mut v = vec![];
    if d.opcode() == Some(OpCode::Add) {
        for i in 0..d.out_h as usize * d.out_w as usize * d.out_cw as usize {
            v.extend([(0, a + i), (1, b + i), (2, out + i)]);
        }
        return v;
    }
    let (kh, kw) = d.window();
    let (s, cw, w) = (d.stride as usize, d.in_cw as usize, d.in_w as usize);
    for oy in 0..d.out_h as usize {
        for ox in 0..d.out_w as usize {
            for g in 0..cw {
                for i in 0..kh {
                    for j in 0..kw {
                        v.push((0, a + ((oy * s + i) * w + ox * s + j) * cw + g));
                    }
                }
                v.push((
                    2,
                    out + (oy * d.out_w as usize + ox) * d.out_cw as usize + g,
                ));
            }
        }
    }
    v
}

fn inputs(d: &Descriptor, ctl: [bool; 3]) -> Vec<u64> {
    let is_add = d.opcode() == Some(OpCode::Add);
    let mut v: Vec<u64> = ctl.iter().map(|&c| c as u64).collect();
    v.extend([is_add as u64, d.stride as u64]);
    v.extend(
        [
            d.in_w, d.in_cw, d.out_h, d.out_w, d.out_cw, d.f10, d.in_a, d.in_b, d.out,
        ]
        .map(u64::from),
    );
    v
}

fn cycle(u: &mut ElemAddr, steps: &mut Vec<Vec<u64>>, trace: &mut Vec<Vec<u64>>, i: Vec<u64>) {
    u.setup.next = i[0] == 1;
    u.go.next = i[1] == 1;
    u.enable.next = i[2] == 1;
    u.is_add.next = i[3] == 1;
    u.stride.next = bits(i[4]);
    u.in_w.next = bits(i[5]);
    u.in_cw.next = bits(i[6]);
    u.out_h.next = bits(i[7]);
    u.out_w.next = bits(i[8]);
    u.out_cw.next = bits(i[9]);
    u.f10.next = bits(i[10]);
    u.in_a.next = bits(i[11]);
    u.in_b.next = bits(i[12]);
    u.out_base.next = bits(i[13]);
    steps.push(i);
    tick(u, |u| &mut u.clock);
    trace.push(vec![
        u.ready.val() as u64,
        u.valid.val() as u64,
        u.addr.val().to_u64(),
        u.kind.val().to_u64(),
        u.first.val() as u64,
        u.last.val() as u64,
    ]);
}

/// Per-cycle values (a stimulus or a trace).
type Rows = Vec<Vec<u64>>;

/// One layer through the rust-hdl unit: (operations taken, stimulus, trace).
fn run_layer(d: &Descriptor, seed: u64) -> (Vec<(u64, usize)>, Rows, Rows) {
    let mut u = ElemAddr::default();
    u.connect_all();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut steps, mut trace) = (vec![], vec![]);
    cycle(
        &mut u,
        &mut steps,
        &mut trace,
        inputs(d, [true, false, false]),
    );
    for _ in 1..SETUP_CYCLES {
        assert!(!u.ready.val());
        cycle(
            &mut u,
            &mut steps,
            &mut trace,
            inputs(d, [false, false, false]),
        );
    }
    assert!(u.ready.val());
    cycle(
        &mut u,
        &mut steps,
        &mut trace,
        inputs(d, [false, true, false]),
    );
    let total = expected(d).len();
    let mut got = vec![];
    while got.len() < total {
        assert!(u.valid.val(), "valid fell after {} of {total}", got.len());
        assert_eq!(u.last.val(), got.len() + 1 == total);
        let enable = rng.random_bool(0.8);
        if enable {
            got.push((u.kind.val().to_u64(), u.addr.val().index()));
            let first = u.first.val();
            let starts_word = got.len() == 1 || got[got.len() - 2].0 == 2;
            assert_eq!(first, starts_word, "first at op {}", got.len() - 1);
        }
        cycle(
            &mut u,
            &mut steps,
            &mut trace,
            inputs(d, [false, false, enable]),
        );
    }
    assert!(!u.valid.val());
    (got, steps, trace)
}

#[test]
fn every_elementwise_layer_sequences_the_spec_addresses_and_verilog_agrees() {
    let iverilog = have_tool("iverilog");
    if !iverilog {
        eprintln!("\n!!!!!!!! SKIPPING the Verilog half: iverilog is not installed !!!!!!!!\n");
    }
    let dir = tempfile::tempdir().unwrap();
    let v = elem_addr::verilog();
    let mut seen = [false; 3];
    for (name, p) in programs() {
        for (n, d) in p.descriptors.iter().enumerate() {
            let op = d.opcode();
            let k = match op {
                Some(OpCode::Add) => 0,
                Some(OpCode::MaxPool) => 1,
                Some(OpCode::AvgPool) => 2,
                _ => continue,
            };
            seen[k] = true;
            let (got, steps, trace) = run_layer(d, n as u64);
            assert!(
                got == expected(d),
                "{name} layer {n} ({d:?}): sequence differs"
            );
            if !iverilog {
                continue;
            }
            let len = steps.len().min(VERILOG_PREFIX);
            let d_dir = dir.path().join(format!("{name}-{n}"));
            let rows =
                run_iverilog(&d_dir, &v, &[], &INPUTS, &OUTPUTS, &wide(&steps[..len])).unwrap();
            for (i, (row, want)) in rows.iter().zip(&trace).enumerate() {
                let want: Vec<Option<u128>> = want.iter().map(|&x| Some(x as u128)).collect();
                assert_eq!(*row, want, "{name} layer {n}: Verilog differs at cycle {i}");
            }
        }
    }
    assert_eq!(
        seen, [true; 3],
        "add, max pool and average pool all covered"
    );
}

#[test]
fn elementwise_sequencer_is_lint_clean() {
    if have_tool("verilator") {
        let dir = tempfile::tempdir().unwrap();
        lint(dir.path(), &elem_addr::verilog()).unwrap();
    }
}
