//! The descriptor unit fetches and decodes every record of compiled resnet8, MobileNetV2 and
//! VGG programs exactly as `engine::desc` encodes them, in `desc_words + 1` cycles; its
//! Verilog under iverilog gives the same outputs cycle by cycle; lint-clean.
mod net_support;
use net_support::{programs, wide, word};
use rust_hdl::prelude::*;
use unibit_core::engine::{Descriptor, Program};
use unibit_hw::rtl::net::desc_unit::{self, DescUnit};
use unibit_hw::rtl::net::harness::{port, run_iverilog, Port};
use unibit_hw::verilog::{have_tool, lint};

const DESC_WORDS: usize = 4;
const INPUTS: [Port; 3] = [port("start", 1), port("base", 16), port("mem_rdata", 64)];
const OUTPUTS: [Port; 27] = [
    port("mem_addr", 16),
    port("mem_rd", 1),
    port("valid", 1),
    port("op", 4),
    port("out_kind", 2),
    port("a_signed", 1),
    port("b_signed", 1),
    port("masked", 1),
    port("stream", 1),
    port("diagonal", 1),
    port("kernel", 4),
    port("stride", 4),
    port("pad", 4),
    port("in_h", 16),
    port("in_w", 16),
    port("in_cw", 16),
    port("out_h", 16),
    port("out_w", 16),
    port("out_cw", 16),
    port("out_channels", 16),
    port("tiles", 16),
    port("f10", 16),
    port("tile_words", 16),
    port("in_a", 16),
    port("in_b", 16),
    port("out_base", 16),
    port("param", 16),
];

fn outputs(u: &DescUnit) -> Vec<u64> {
    let b = |v: bool| v as u64;
    vec![
        u.mem_addr.val().to_u64(),
        b(u.mem_rd.val()),
        b(u.valid.val()),
        u.op.val().to_u64(),
        u.out_kind.val().to_u64(),
        b(u.a_signed.val()),
        b(u.b_signed.val()),
        b(u.masked.val()),
        b(u.stream.val()),
        b(u.diagonal.val()),
        u.kernel.val().to_u64(),
        u.stride.val().to_u64(),
        u.pad.val().to_u64(),
        u.in_h.val().to_u64(),
        u.in_w.val().to_u64(),
        u.in_cw.val().to_u64(),
        u.out_h.val().to_u64(),
        u.out_w.val().to_u64(),
        u.out_cw.val().to_u64(),
        u.out_channels.val().to_u64(),
        u.tiles.val().to_u64(),
        u.f10.val().to_u64(),
        u.tile_words.val().to_u64(),
        u.in_a.val().to_u64(),
        u.in_b.val().to_u64(),
        u.out_base.val().to_u64(),
        u.param.val().to_u64(),
    ]
}

fn decoded(u: &DescUnit) -> Descriptor {
    let o = outputs(u);
    let mut f = [0u16; 16];
    f[0] = (o[3] | o[4] << 4 | o[5] << 6 | o[6] << 7 | o[7] << 8 | o[8] << 9 | o[9] << 10) as u16;
    f[1] = (o[10] | o[11] << 4 | o[12] << 8) as u16;
    for (i, v) in o[13..].iter().enumerate() {
        f[2 + i] = *v as u16;
    }
    Descriptor::from_fields(f)
}

/// One cycle with the memory in the loop: the unit's address is sampled on the edge and the
/// word appears after it. Returns the step's inputs and the outputs after the edge.
fn cycle(u: &mut DescUnit, p: &Program, start: bool, base: u64) -> (Vec<u64>, Vec<u64>) {
    u.start.next = start;
    u.base.next = bits(base);
    let rdata = u.mem_rdata.val().to_u64();
    u.clock.next = Clock { clk: false };
    assert!(simulate(u, 1000));
    let (addr, rd) = (u.mem_addr.val().index(), u.mem_rd.val());
    u.clock.next = Clock { clk: true };
    assert!(simulate(u, 1000));
    if rd {
        u.mem_rdata.next = bits(word(p, addr));
        assert!(simulate(u, 1000));
    }
    (vec![start as u64, base, rdata], outputs(u))
}

/// Every record through the rust-hdl unit; the stimulus and output trace for the Verilog run.
fn run_program(p: &Program, name: &str) -> (Vec<Vec<u64>>, Vec<Vec<u64>>) {
    let mut u = DescUnit::default();
    u.connect_all();
    let (mut steps, mut trace) = (vec![], vec![]);
    for (n, want) in p.descriptors.iter().enumerate() {
        let base = (n * DESC_WORDS) as u64;
        for t in 0..=DESC_WORDS + 1 {
            let (i, o) = cycle(&mut u, p, t == 0, base);
            steps.push(i);
            trace.push(o);
            let valid = u.valid.val();
            assert_eq!(valid, t >= DESC_WORDS, "{name} record {n} cycle {t}: valid");
            if valid {
                assert_eq!(decoded(&u), *want, "{name} record {n}");
            }
        }
    }
    (steps, trace)
}

#[test]
fn every_record_of_the_test_models_decodes_as_engine_desc_encodes_it() {
    let iverilog = have_tool("iverilog");
    if !iverilog {
        eprintln!("\n!!!!!!!! SKIPPING the Verilog half: iverilog is not installed !!!!!!!!\n");
    }
    let dir = tempfile::tempdir().unwrap();
    for (name, p) in programs() {
        let (steps, trace) = run_program(&p, name);
        if !iverilog {
            continue;
        }
        let d = dir.path().join(name);
        let rows = run_iverilog(
            &d,
            &desc_unit::verilog(),
            &[],
            &INPUTS,
            &OUTPUTS,
            &wide(&steps),
        )
        .unwrap();
        for (i, (row, want)) in rows.iter().zip(&trace).enumerate() {
            let want: Vec<Option<u128>> = want.iter().map(|&v| Some(v as u128)).collect();
            assert_eq!(
                *row, want,
                "{name}: Verilog differs from rust-hdl at cycle {i}"
            );
        }
    }
}

#[test]
fn descriptor_unit_is_lint_clean() {
    if have_tool("verilator") {
        let dir = tempfile::tempdir().unwrap();
        lint(dir.path(), &desc_unit::verilog()).unwrap();
    }
}
