//! The contract's requantizer, pipelined (6 stages, one value per cycle):
//! `y = clamp(((dot + bias)·M + 2^(S−1)) >> S)` for U8/I8, `y = dot + bias` for I32.
//!
//! The 32×15 multiply is two 16×16 products (one SB_MAC16 / MULT18X18 each):
//! `v·M = (v_hi·M << 16) + v_lo·M − (v < 0 ? M << 32 : 0)` in 48-bit two's complement, which
//! holds `|v·M| < 2^46` exactly. The shift is arithmetic (floor), so `+2^(S−1)` rounds half up.
//!
//! Parameter word (see `model.rs`): `[31:0]` bias, `[46:32]` M, `[52:47]` S, `[54:53]` kind.

use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct Requantizer {
    pub clock: Signal<In, Clock>,
    pub in_valid: Signal<In, Bit>,
    pub in_final: Signal<In, Bit>,
    pub in_addr: Signal<In, Bits<16>>,
    pub in_dot: Signal<In, Bits<32>>,
    pub in_param: Signal<In, Bits<64>>,
    pub out_valid: Signal<Out, Bit>,
    pub out_final: Signal<Out, Bit>,
    pub out_addr: Signal<Out, Bits<16>>,
    pub out_value: Signal<Out, Bits<32>>,
    // stage 0: input registers (the parameter memory's output is not registered in the BRAM)
    s0_dot: DFF<Bits<32>>,
    s0_param: DFF<Bits<64>>,
    s0_ctl: DFF<Bits<18>>,
    // stage 1: v = dot + bias
    s1_v: DFF<Bits<32>>,
    s1_m: DFF<Bits<16>>,
    s1_s: DFF<Bits<6>>,
    s1_kind: DFF<Bits<2>>,
    s1_ctl: DFF<Bits<18>>,
    // stage 2: partial products
    s2_lo: DFF<Bits<32>>,
    s2_hi: DFF<Bits<32>>,
    s2_neg: DFF<Bit>,
    s2_m: DFF<Bits<16>>,
    s2_s: DFF<Bits<6>>,
    s2_kind: DFF<Bits<2>>,
    s2_ctl: DFF<Bits<18>>,
    // stage 3: t = v·M + round
    s3_t: DFF<Bits<48>>,
    s3_s: DFF<Bits<6>>,
    s3_kind: DFF<Bits<2>>,
    s3_ctl: DFF<Bits<18>>,
    // stage 4: y = t >> S (arithmetic)
    s4_y: DFF<Bits<48>>,
    s4_kind: DFF<Bits<2>>,
    s4_ctl: DFF<Bits<18>>,
    // stage 5: clamp
    s5_out: DFF<Bits<32>>,
    s5_ctl: DFF<Bits<18>>,
    one48: Constant<Bits<48>>,
    u8_hi: Constant<Bits<48>>,
    i8_hi: Constant<Bits<48>>,
    i8_lo: Constant<Bits<48>>,
    k_u8: Constant<Bits<2>>,
    k_i8: Constant<Bits<2>>,
    c255: Constant<Bits<32>>,
    c127: Constant<Bits<32>>,
    cm128: Constant<Bits<32>>,
    zero32: Constant<Bits<32>>,
}

impl Default for Requantizer {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            in_valid: Default::default(),
            in_final: Default::default(),
            in_addr: Default::default(),
            in_dot: Default::default(),
            in_param: Default::default(),
            out_valid: Default::default(),
            out_final: Default::default(),
            out_addr: Default::default(),
            out_value: Default::default(),
            s0_dot: Default::default(),
            s0_param: Default::default(),
            s0_ctl: Default::default(),
            s1_v: Default::default(),
            s1_m: Default::default(),
            s1_s: Default::default(),
            s1_kind: Default::default(),
            s1_ctl: Default::default(),
            s2_lo: Default::default(),
            s2_hi: Default::default(),
            s2_neg: Default::default(),
            s2_m: Default::default(),
            s2_s: Default::default(),
            s2_kind: Default::default(),
            s2_ctl: Default::default(),
            s3_t: Default::default(),
            s3_s: Default::default(),
            s3_kind: Default::default(),
            s3_ctl: Default::default(),
            s4_y: Default::default(),
            s4_kind: Default::default(),
            s4_ctl: Default::default(),
            s5_out: Default::default(),
            s5_ctl: Default::default(),
            one48: Constant::new(bits(1)),
            u8_hi: Constant::new(bits(255)),
            i8_hi: Constant::new(bits(127)),
            i8_lo: Constant::new(bits((1u64 << 48) - 128)),
            k_u8: Constant::new(bits(0)),
            k_i8: Constant::new(bits(1)),
            c255: Constant::new(bits(255)),
            c127: Constant::new(bits(127)),
            cm128: Constant::new(bits(0xffff_ff80)),
            zero32: Constant::new(bits(0)),
        }
    }
}

/// Pipeline depth: a value entering at `in_*` appears at `out_*` this many cycles later.
pub const REQUANT_LATENCY: u64 = 6;

impl Logic for Requantizer {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, s0_dot, s0_param, s0_ctl, s1_v, s1_m, s1_s, s1_kind, s1_ctl, s2_lo, s2_hi,
            s2_neg, s2_m, s2_s, s2_kind, s2_ctl, s3_t, s3_s, s3_kind, s3_ctl, s4_y, s4_kind,
            s4_ctl, s5_out, s5_ctl
        );
        // Control word: [15:0] address, [16] valid, [17] final.
        self.s0_ctl.d.next = bit_cast::<18, 16>(self.in_addr.val());
        if self.in_valid.val() {
            self.s0_ctl.d.next = bit_cast::<18, 16>(self.in_addr.val()) | bits::<18>(0x10000);
            if self.in_final.val() {
                self.s0_ctl.d.next = bit_cast::<18, 16>(self.in_addr.val()) | bits::<18>(0x30000);
            }
        }
        self.s0_dot.d.next = self.in_dot.val();
        self.s0_param.d.next = self.in_param.val();
        self.s1_ctl.d.next = self.s0_ctl.q.val();
        // Stage 1.
        self.s1_v.d.next = self.s0_dot.q.val() + self.s0_param.q.val().get_bits::<32>(0);
        self.s1_m.d.next = bit_cast::<16, 15>(self.s0_param.q.val().get_bits::<15>(32));
        self.s1_s.d.next = self.s0_param.q.val().get_bits::<6>(47);
        self.s1_kind.d.next = self.s0_param.q.val().get_bits::<2>(53);
        // I32 (raw) outputs go through the same datapath as v·1 >> 0, unclamped.
        if self.s0_param.q.val().get_bit(54) {
            self.s1_m.d.next = bits::<16>(1);
            self.s1_s.d.next = bits::<6>(0);
        }
        // Stage 2.
        self.s2_lo.d.next = self.s1_v.q.val().get_bits::<16>(0) * self.s1_m.q.val();
        self.s2_hi.d.next = self.s1_v.q.val().get_bits::<16>(16) * self.s1_m.q.val();
        self.s2_neg.d.next = self.s1_v.q.val().get_bit(31);
        self.s2_m.d.next = self.s1_m.q.val();
        self.s2_s.d.next = self.s1_s.q.val();
        self.s2_kind.d.next = self.s1_kind.q.val();
        self.s2_ctl.d.next = self.s1_ctl.q.val();
        // Stage 3.
        if self.s2_neg.q.val() {
            self.s3_t.d.next = (bit_cast::<48, 32>(self.s2_hi.q.val()) << 16)
                + bit_cast::<48, 32>(self.s2_lo.q.val())
                - (bit_cast::<48, 16>(self.s2_m.q.val()) << 32)
                + ((self.one48.val() << self.s2_s.q.val()) >> 1);
        } else {
            self.s3_t.d.next = (bit_cast::<48, 32>(self.s2_hi.q.val()) << 16)
                + bit_cast::<48, 32>(self.s2_lo.q.val())
                + ((self.one48.val() << self.s2_s.q.val()) >> 1);
        }
        self.s3_s.d.next = self.s2_s.q.val();
        self.s3_kind.d.next = self.s2_kind.q.val();
        self.s3_ctl.d.next = self.s2_ctl.q.val();
        // Stage 4.
        // Arithmetic shift: flip negative values, shift logically, flip back.
        if self.s3_t.q.val().get_bit(47) {
            self.s4_y.d.next = !(!self.s3_t.q.val() >> self.s3_s.q.val());
        } else {
            self.s4_y.d.next = self.s3_t.q.val() >> self.s3_s.q.val();
        }
        self.s4_kind.d.next = self.s3_kind.q.val();
        self.s4_ctl.d.next = self.s3_ctl.q.val();
        // Stage 5.
        self.s5_ctl.d.next = self.s4_ctl.q.val();
        self.s5_out.d.next = bit_cast::<32, 48>(self.s4_y.q.val());
        if self.s4_kind.q.val() == self.k_u8.val() {
            if self.s4_y.q.val().get_bit(47) {
                self.s5_out.d.next = self.zero32.val();
            } else if self.s4_y.q.val() > self.u8_hi.val() {
                self.s5_out.d.next = self.c255.val();
            } else {
                self.s5_out.d.next = bit_cast::<32, 48>(self.s4_y.q.val());
            }
        }
        if self.s4_kind.q.val() == self.k_i8.val() {
            if self.s4_y.q.val().get_bit(47) {
                if self.s4_y.q.val() < self.i8_lo.val() {
                    self.s5_out.d.next = self.cm128.val();
                } else {
                    self.s5_out.d.next = bit_cast::<32, 48>(self.s4_y.q.val());
                }
            } else if self.s4_y.q.val() > self.i8_hi.val() {
                self.s5_out.d.next = self.c127.val();
            } else {
                self.s5_out.d.next = bit_cast::<32, 48>(self.s4_y.q.val());
            }
        }
        self.out_value.next = self.s5_out.q.val();
        self.out_addr.next = self.s5_ctl.q.val().get_bits::<16>(0);
        self.out_valid.next = self.s5_ctl.q.val().get_bit(16);
        self.out_final.next = self.s5_ctl.q.val().get_bit(17);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RowParams;
    use crate::rtl::sim::tick;
    use proptest::prelude::*;
    use unibit_core::arith::{requantize, ActKind, Requant};

    fn run(cases: &[(i32, RowParams)]) -> Vec<i32> {
        let mut uut = Requantizer::default();
        uut.connect_all();
        let mut out = vec![];
        for t in 0..cases.len() + REQUANT_LATENCY as usize {
            if t < cases.len() {
                let (dot, p) = cases[t];
                uut.in_valid.next = true;
                uut.in_final.next = t + 1 == cases.len();
                uut.in_addr.next = bits(t as u64);
                uut.in_dot.next = bits(dot as u32 as u64);
                uut.in_param.next = bits(p.word());
            } else {
                uut.in_valid.next = false;
            }
            tick(&mut uut, |u| &mut u.clock);
            if uut.out_valid.val() {
                assert_eq!(uut.out_addr.val().to_u64() as usize, out.len());
                out.push(uut.out_value.val().to_u64() as u32 as i32);
            }
        }
        out
    }

    fn kinds() -> impl Strategy<Value = ActKind> {
        prop_oneof![Just(ActKind::U8), Just(ActKind::I8), Just(ActKind::I32)]
    }

    #[test]
    fn extremes() {
        let mut cases = vec![];
        for &dot in &[(1 << 30) - 1, -(1 << 30) + 1, 0, -1, 1, 255, -128, -129] {
            for &bias in &[(1 << 30) - 1, -(1 << 30) + 1, 0, -3] {
                for &(m, s) in &[(32767, 47), (32767, 0), (0, 0), (1, 1), (12345, 20), (1, 0)] {
                    for kind in [ActKind::U8, ActKind::I8, ActKind::I32] {
                        let rp = RowParams {
                            bias,
                            requant: Requant::new(m, s).unwrap(),
                            kind,
                        };
                        cases.push((dot, rp));
                    }
                }
            }
        }
        let got = run(&cases);
        for (i, (dot, p)) in cases.iter().enumerate() {
            assert_eq!(
                got[i],
                requantize(*dot as i64, p.bias, p.requant, p.kind),
                "{dot} {p:?}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(8))]
        #[test]
        fn matches_contract(cases in prop::collection::vec(
            (-(1i32 << 30)..(1 << 30), -(1i32 << 30)..(1 << 30), 0u32..(1 << 15), 0u32..=47, kinds()),
            1..40)) {
            let cases: Vec<(i32, RowParams)> = cases.into_iter().map(|(d, b, m, s, k)| (d, RowParams {
                bias: b, requant: Requant::new(m, s).unwrap(), kind: k })).collect();
            let got = run(&cases);
            for (i, (dot, p)) in cases.iter().enumerate() {
                prop_assert_eq!(got[i], requantize(*dot as i64, p.bias, p.requant, p.kind));
            }
        }
    }
}
