//! A balanced, pipelined adder tree over C gated 9-bit activations (one row of the array).
//!
//! Lane `c` contributes `x_c + 256` (its sign bit flipped, so every operand is unsigned) when
//! its weight bit is set, and the constant 256 otherwise. The tree therefore outputs
//! `Σ_c bit_c·x_c + 256·C`, an unsigned value of `ST = 9 + log2 C` bits; the constant is removed
//! by the Σx correction (see `engine.rs`). Unsigned operands mean every node has one width and
//! needs no sign extension (yosys trims the constant-zero high bits of the lower levels).
//!
//! Nodes are stored as a heap: node 1 is the root, node k adds nodes 2k and 2k+1, and nodes
//! `C..2C` are the gated leaves. Leaves, the root and every other level are registered
//! ([`crate::model::tree_latency`] levels in all).

use crate::model::tree_level_registered;
use rust_hdl::prelude::*;

/// One node: `s = a + b` (inner nodes) or the gated lane (leaves: `gate ? (lane ^ 0x100) : 256`),
/// optionally registered.
#[derive(LogicBlock)]
pub struct TreeNode<const ST: usize> {
    pub clock: Signal<In, Clock>,
    pub a: Signal<In, Bits<ST>>,
    pub b: Signal<In, Bits<ST>>,
    pub lane: Signal<In, Bits<9>>,
    pub gate: Signal<In, Bit>,
    pub s: Signal<Out, Bits<ST>>,
    v: Signal<Local, Bits<ST>>,
    pipe: DFF<Bits<ST>>,
    registered: Constant<bool>,
    leaf: Constant<bool>,
    sign9: Constant<Bits<9>>,
    /// Leaves: the idle value 0x100 (a gated-off lane). Inner nodes: the mask 2^(ST−1) − 1 —
    /// a child sums at most C/2 lanes of at most 511, below 2^(ST−1), so its top bit is always
    /// 0. Masking it says so to yosys, which otherwise keeps a constant-0 register, merges the
    /// two children's copies into one net and builds a carry LUT with that net on two inputs —
    /// the case nextpnr's router can loop on for ever (YosysHQ/nextpnr#1341). One constant
    /// serves both because every field of these large rust-hdl structs costs stack.
    k: Constant<Bits<ST>>,
}

impl<const ST: usize> TreeNode<ST> {
    pub fn new(registered: bool, leaf: bool) -> Self {
        Self {
            clock: Default::default(),
            a: Default::default(),
            b: Default::default(),
            lane: Default::default(),
            gate: Default::default(),
            s: Default::default(),
            v: Default::default(),
            pipe: Default::default(),
            registered: Constant::new(registered),
            leaf: Constant::new(leaf),
            sign9: Constant::new(bits(0x100)),
            k: Constant::new(bits(if leaf { 0x100 } else { (1u64 << (ST - 1)) - 1 })),
        }
    }
}

impl<const ST: usize> Logic for TreeNode<ST> {
    #[hdl_gen]
    fn update(&mut self) {
        if self.leaf.val() {
            if self.gate.val() {
                self.v.next = bit_cast::<ST, 9>(self.lane.val() ^ self.sign9.val());
            } else {
                self.v.next = self.k.val();
            }
        } else {
            self.v.next = (self.a.val() & self.k.val()) + (self.b.val() & self.k.val());
        }
        self.pipe.clock.next = self.clock.val();
        self.pipe.d.next = self.v.val();
        if self.registered.val() {
            self.s.next = self.pipe.q.val();
        } else {
            self.s.next = self.v.val();
        }
    }
}

/// The adder tree of one row. `C` lanes (a power of two ≥ 2), `C2 = 2·C` heap slots,
/// `X9 = 9·C` activation bits, `ST = 9 + log2 C` sum bits.
#[derive(LogicBlock)]
pub struct AdderTree<const C: usize, const C2: usize, const X9: usize, const ST: usize> {
    pub clock: Signal<In, Clock>,
    /// C activations, lane c at bits [9c, 9c+9), two's complement.
    pub x: Signal<In, Bits<X9>>,
    /// The weight bit of each lane for the current bit-plane.
    pub w: Signal<In, Bits<C>>,
    /// `Σ_c w_c·x_c + 256·C`, `latency()` cycles after its inputs.
    pub sum: Signal<Out, Bits<ST>>,
    nodes: [TreeNode<ST>; C2],
    lane_base: Constant<Bits<16>>,
    lane9_base: Constant<Bits<16>>,
    zero: Constant<Bits<ST>>,
}

impl<const C: usize, const C2: usize, const X9: usize, const ST: usize> AdderTree<C, C2, X9, ST> {
    pub fn new() -> Self {
        assert!(
            C >= 2 && C.is_power_of_two(),
            "lanes must be a power of two >= 2, got {C}"
        );
        assert_eq!(C2, 2 * C, "C2 must be 2*C");
        assert_eq!(X9, 9 * C, "X9 must be 9*C");
        let lg = C.trailing_zeros() as usize;
        assert_eq!(ST, 9 + lg, "ST must be 9 + log2(C)");
        let nodes = std::array::from_fn(|k| {
            if k == 0 {
                TreeNode::new(false, false)
            } else {
                let depth = (usize::BITS - 1 - k.leading_zeros()) as usize;
                TreeNode::new(tree_level_registered(lg, depth), k >= C)
            }
        });
        Self {
            clock: Default::default(),
            x: Default::default(),
            w: Default::default(),
            sum: Default::default(),
            nodes,
            lane_base: Constant::new(bits(C as u64)),
            lane9_base: Constant::new(bits(9 * C as u64)),
            zero: Constant::new(bits(0)),
        }
    }
}

impl<const C: usize, const C2: usize, const X9: usize, const ST: usize> Default
    for AdderTree<C, C2, X9, ST>
{
    fn default() -> Self {
        Self::new()
    }
}

impl<const C: usize, const C2: usize, const X9: usize, const ST: usize> Logic
    for AdderTree<C, C2, X9, ST>
{
    #[hdl_gen]
    fn update(&mut self) {
        for k in 0..C2 {
            self.nodes[k].clock.next = self.clock.val();
        }
        self.nodes[0].a.next = self.zero.val();
        self.nodes[0].b.next = self.zero.val();
        self.nodes[0].lane.next = bits::<9>(0);
        self.nodes[0].gate.next = false;
        for k in 1..C {
            self.nodes[k].a.next = self.nodes[2 * k].s.val();
            self.nodes[k].b.next = self.nodes[2 * k + 1].s.val();
            self.nodes[k].lane.next = bits::<9>(0);
            self.nodes[k].gate.next = false;
        }
        for k in C..C2 {
            self.nodes[k].a.next = self.zero.val();
            self.nodes[k].b.next = self.zero.val();
            self.nodes[k].lane.next = self
                .x
                .val()
                .get_bits::<9>(9 * k - self.lane9_base.val().index());
            self.nodes[k].gate.next = self.w.val().get_bit(k - self.lane_base.val().index());
        }
        self.sum.next = self.nodes[1].s.val();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{pack_lanes, tree_latency};
    use crate::rtl::sim::{limbs_to_bits, tick};

    #[test]
    fn tree_sums_gated_lanes_after_its_latency() {
        let mut uut: AdderTree<8, 16, 72, 12> = AdderTree::new();
        uut.connect_all();
        let lat = tree_latency(8) as usize;
        let cases: Vec<(Vec<i32>, u8)> = vec![
            (vec![-256, 255, -1, 0, 1, 127, -128, 200], 0xff),
            (vec![-256; 8], 0xff),
            (vec![255; 8], 0xff),
            (vec![5, -7, 9, -11, 13, -15, 17, -19], 0b1010_0110),
            (vec![100; 8], 0),
        ];
        let mut got = vec![];
        for i in 0..cases.len() + lat {
            let (x, w) = &cases[i.min(cases.len() - 1)];
            uut.x.next = limbs_to_bits(&pack_lanes(x));
            uut.w.next = bits(*w as u64);
            tick(&mut uut, |u| &mut u.clock);
            got.push(uut.sum.val().to_u64());
        }
        for (i, (x, w)) in cases.iter().enumerate() {
            let want: i64 = x
                .iter()
                .enumerate()
                .filter(|(c, _)| (w >> c) & 1 == 1)
                .map(|(_, &v)| v as i64)
                .sum::<i64>()
                + 256 * 8;
            assert_eq!(got[i + lat - 1] as i64, want, "case {i}");
        }
    }

    #[test]
    fn tree_verilog_is_accepted_by_yosys() {
        let mut uut: AdderTree<4, 8, 36, 11> = AdderTree::new();
        uut.connect_all();
        let v = generate_verilog(&uut);
        assert!(
            !v.contains("C2") && !v.contains("ST"),
            "generic names leaked into Verilog"
        );
    }
}
