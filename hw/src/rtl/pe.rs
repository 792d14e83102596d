//! One row of the array (a processing element over C lanes): the gated adder tree and the
//! shift-accumulator, plus the hand-off register that applies the Σx correction.
//!
//! Bit-planes arrive most significant first, lane chunks inner: `acc ← S` on a vector's first
//! slot, `acc ← 2·acc + S` on the first chunk of each later plane, `acc ← acc + S` otherwise.
//! After the last slot `acc = Σ_j 2^j Σ_chunks S_j`; at hand-off `dot ← 2·acc − qm`, where `qm`
//! is the shared correction `(2^B − 1)·(Σx + 512·C·chunks)` (see `engine.rs`). All arithmetic is
//! modulo 2^32 (the contract bounds the true result to i32).

use crate::rtl::adder_tree::AdderTree;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct Row<const C: usize, const C2: usize, const X9: usize, const ST: usize> {
    pub clock: Signal<In, Clock>,
    pub x: Signal<In, Bits<X9>>,
    pub w: Signal<In, Bits<C>>,
    /// Accumulate the tree output this cycle.
    pub acc_en: Signal<In, Bit>,
    /// This tree output is the vector's first (clear the accumulator).
    pub first: Signal<In, Bit>,
    /// This tree output starts a new bit-plane (shift the accumulator).
    pub plane_start: Signal<In, Bit>,
    /// Capture `2·acc − qm` into `dot`.
    pub handoff: Signal<In, Bit>,
    pub qm: Signal<In, Bits<32>>,
    pub dot: Signal<Out, Bits<32>>,
    tree: AdderTree<C, C2, X9, ST>,
    acc: DFF<Bits<32>>,
    dotr: DFF<Bits<32>>,
    /// Accumulator bits in use (`2^AW − 1`): the arithmetic is modulo `2^AW`, and yosys
    /// removes the constant-zero upper bits.
    mask: Constant<Bits<32>>,
}

impl<const C: usize, const C2: usize, const X9: usize, const ST: usize> Default
    for Row<C, C2, X9, ST>
{
    fn default() -> Self {
        Self::new(32)
    }
}

impl<const C: usize, const C2: usize, const X9: usize, const ST: usize> Row<C, C2, X9, ST> {
    /// A row whose accumulator keeps `acc_bits` (≤ 32) bits: enough when every dot product it
    /// computes fits `acc_bits`-bit two's complement.
    pub fn new(acc_bits: u32) -> Self {
        assert!((ST as u32) < acc_bits && acc_bits <= 32);
        let mask = if acc_bits == 32 {
            u32::MAX as u64
        } else {
            (1u64 << acc_bits) - 1
        };
        Self {
            clock: Default::default(),
            x: Default::default(),
            w: Default::default(),
            acc_en: Default::default(),
            first: Default::default(),
            plane_start: Default::default(),
            handoff: Default::default(),
            qm: Default::default(),
            dot: Default::default(),
            tree: AdderTree::new(),
            acc: Default::default(),
            dotr: Default::default(),
            mask: Constant::new(bits(mask)),
        }
    }
}

impl<const C: usize, const C2: usize, const X9: usize, const ST: usize> Logic
    for Row<C, C2, X9, ST>
{
    #[hdl_gen]
    fn update(&mut self) {
        self.tree.clock.next = self.clock.val();
        self.acc.clock.next = self.clock.val();
        self.dotr.clock.next = self.clock.val();
        self.tree.x.next = self.x.val();
        self.tree.w.next = self.w.val();
        self.acc.d.next = self.acc.q.val();
        if self.acc_en.val() {
            if self.first.val() {
                self.acc.d.next = bit_cast::<32, ST>(self.tree.sum.val()) & self.mask.val();
            } else if self.plane_start.val() {
                self.acc.d.next = ((self.acc.q.val() << 1)
                    + bit_cast::<32, ST>(self.tree.sum.val()))
                    & self.mask.val();
            } else {
                self.acc.d.next =
                    (self.acc.q.val() + bit_cast::<32, ST>(self.tree.sum.val())) & self.mask.val();
            }
        }
        self.dotr.d.next = self.dotr.q.val();
        if self.handoff.val() {
            self.dotr.d.next = ((self.acc.q.val() << 1) - self.qm.val()) & self.mask.val();
        }
        self.dot.next = self.dotr.q.val();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{pack_lanes, tree_latency};
    use crate::rtl::sim::{limbs_to_bits, tick};

    /// Drives 2 planes × 2 chunks of one vector through a 4-lane row and checks
    /// `2·acc − qm` against the bit-serial formula (qm supplied by the test).
    #[test]
    fn row_accumulates_planes_msb_first() {
        let mut uut: Row<4, 8, 36, 11> = Row::default();
        uut.connect_all();
        let x = [[-256, 255, 3, -4], [7, -8, 100, -100]];
        let codes = [[3u8, 1, 2, 0], [1, 3, 3, 2]]; // chunk × lane, B = 2
        let lat = tree_latency(4) as usize;
        // Slots: plane 1 chunk 0, plane 1 chunk 1, plane 0 chunk 0, plane 0 chunk 1.
        let slots = [(1u8, 0usize), (1, 1), (0, 0), (0, 1)];
        let total = slots.len() + lat + 2;
        let sum_x: i64 = x.iter().flatten().map(|&v| v as i64).sum();
        let qm = 3 * (sum_x + 512 * 4 * 2);
        for t in 0..total {
            if t < slots.len() {
                let (j, ch) = slots[t];
                let w: u64 = (0..4)
                    .map(|l| (((codes[ch][l] >> j) & 1) as u64) << l)
                    .sum();
                uut.x.next = limbs_to_bits(&pack_lanes(&x[ch]));
                uut.w.next = bits(w);
            }
            // Tree output for slot s is visible after tick s + lat − 1.
            let s = t as i64 - lat as i64;
            let valid = (0..slots.len() as i64).contains(&s);
            uut.acc_en.next = valid;
            uut.first.next = valid && s == 0;
            uut.plane_start.next = valid && slots[s.max(0) as usize].1 == 0;
            uut.handoff.next = s == slots.len() as i64;
            uut.qm.next = bits(qm as u32 as u64);
            tick(&mut uut, |u| &mut u.clock);
        }
        let flat_codes: Vec<u8> = codes.iter().flatten().copied().collect();
        let flat_x: Vec<i32> = x.iter().flatten().copied().collect();
        let want = unibit_core::arith::dot_bit_serial(
            &flat_codes,
            &flat_x,
            unibit_core::Bits::new(2).unwrap(),
        );
        assert_eq!(uut.dot.val().to_u64() as u32 as i32 as i64, want);
    }
}
