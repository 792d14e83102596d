//! The UP5K main memory (4 × SB_SPRAM256KA ganged to 64 bits): random writes with byte
//! enables and reads; the rust-hdl model, the generated Verilog under iverilog with yosys's
//! vendor models, and a Vec agree. Lint-clean under Verilator; synth_ice40 keeps 4 SPRAMs.
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_hdl::prelude::*;
use unibit_hw::rtl::net::harness::{count, port, run_iverilog, yosys_cells, Port};
use unibit_hw::rtl::net::spram_main::{self, SpramMain, DEPTH};
use unibit_hw::rtl::net::without_blackboxes;
use unibit_hw::rtl::sim::tick;
use unibit_hw::verilog::{have_tool, lint};

const ICE40_SIM: &str = "/usr/share/yosys/ice40/cells_sim.v";
const INPUTS: [Port; 4] = [
    port("addr", 14),
    port("wdata", 64),
    port("we", 1),
    port("be", 8),
];
const OUTPUTS: [Port; 1] = [port("rdata", 64)];

/// (addr, wdata, we, be) per cycle: writes and reads over a few addresses, both ends included.
/// Each address is first written whole (SPRAM contents are undefined at power-up).
fn ops(n: usize) -> Vec<[u64; 4]> {
    let mut rng = ChaCha8Rng::seed_from_u64(15);
    let addrs: Vec<u64> = (0..30)
        .map(|_| rng.gen_range(0..DEPTH as u64))
        .chain([0, DEPTH as u64 - 1])
        .collect();
    let init: Vec<[u64; 4]> = addrs.iter().map(|&a| [a, rng.gen(), 1, 0xff]).collect();
    let random: Vec<[u64; 4]> = (0..n)
        .map(|_| {
            let a = addrs[rng.gen_range(0..addrs.len())];
            let we = rng.gen_bool(0.5) as u64;
            [a, rng.gen(), we, rng.gen_range(0..256)]
        })
        .collect();
    [init, random].concat()
}

/// The word each read returns, from a plain Vec (None for write cycles).
fn vec_model(ops: &[[u64; 4]]) -> Vec<Option<u64>> {
    let mut mem = vec![0u64; DEPTH];
    ops.iter()
        .map(|&[a, w, we, be]| {
            let a = a as usize;
            if we == 0 {
                return Some(mem[a]);
            }
            let mask = (0..8)
                .filter(|l| be >> l & 1 == 1)
                .fold(0u64, |m, l| m | 0xff << (8 * l));
            mem[a] = (mem[a] & !mask) | (w & mask);
            None
        })
        .collect()
}

fn rust_hdl_model(ops: &[[u64; 4]]) -> Vec<Option<u64>> {
    let mut m = SpramMain::default();
    m.connect_all();
    ops.iter()
        .map(|&[a, w, we, be]| {
            m.addr.next = bits(a);
            m.wdata.next = bits(w);
            m.we.next = we == 1;
            m.be.next = bits(be);
            tick(&mut m, |m| &mut m.clock);
            (we == 0).then(|| m.rdata.val().to_u64())
        })
        .collect()
}

#[test]
fn spram_gang_matches_a_vec_in_rust_hdl_and_in_verilog() {
    let ops = ops(3000);
    let want = vec_model(&ops);
    assert_eq!(rust_hdl_model(&ops), want);
    if !have_tool("iverilog") || !std::path::Path::new(ICE40_SIM).is_file() {
        eprintln!("\n!!!!!!!! SKIPPING: iverilog or {ICE40_SIM} missing; Verilog NOT checked !!!!!!!!\n");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let v = without_blackboxes(&spram_main::verilog());
    let steps: Vec<Vec<u64>> = ops.iter().map(|o| o.to_vec()).collect();
    let rows = run_iverilog(dir.path(), &v, &["-DNO_ICE40_DEFAULT_ASSIGNMENTS", ICE40_SIM], &INPUTS, &OUTPUTS, &steps).unwrap();
    for (i, (row, w)) in rows.iter().zip(&want).enumerate() {
        if w.is_some() {
            assert_eq!(row[0], *w, "cycle {i}: {:?}", ops[i]);
        }
    }
}

#[test]
fn spram_gang_is_lint_clean_and_synthesizes_to_four_sprams() {
    let dir = tempfile::tempdir().unwrap();
    if have_tool("verilator") {
        lint(&dir.path().join("lint"), &spram_main::verilog()).unwrap();
    }
    if !have_tool("yosys") {
        eprintln!("\n!!!!!!!! SKIPPING: yosys is not installed; synthesis NOT checked !!!!!!!!\n");
        return;
    }
    let cells = yosys_cells(
        &dir.path().join("ice40"),
        "yosys",
        &spram_main::verilog(),
        "synth_ice40 -top top",
    )
    .unwrap();
    assert_eq!(count(&cells, "SB_SPRAM256KA"), 4, "{cells:?}");
}
