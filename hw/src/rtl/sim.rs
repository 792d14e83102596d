//! Helpers to drive rust-hdl blocks cycle by cycle (faster than `Simulation` + testbench).

use rust_hdl::prelude::*;

/// One clock cycle: inputs set before the call are sampled on the rising edge; afterwards the
/// registered outputs show the new state.
pub fn tick<B: Block>(uut: &mut B, clock: impl Fn(&mut B) -> &mut Signal<In, Clock>) {
    clock(uut).next = Clock { clk: false };
    assert!(simulate(uut, 1000), "circuit did not settle");
    clock(uut).next = Clock { clk: true };
    assert!(simulate(uut, 1000), "circuit did not settle");
}

/// Little-endian u64 limbs to a bit vector (bits beyond N are dropped).
pub fn limbs_to_bits<const N: usize>(limbs: &[u64]) -> Bits<N> {
    if N <= 64 {
        let mask = if N == 64 { u64::MAX } else { (1u64 << N) - 1 };
        return bits(limbs.first().copied().unwrap_or(0) & mask);
    }
    let mut b = Bits::<N>::default();
    for i in 0..N {
        if (limbs.get(i / 64).copied().unwrap_or(0) >> (i % 64)) & 1 == 1 {
            b = b.replace_bit(i, true);
        }
    }
    b
}
