//! The shared requantizer lane (docs/engine.md decision 8): the contract's `requantize`
//! (`unibit_core::arith`) with the same 6-stage timing as `rtl::requant::Requantizer`, narrowed
//! to what the conv body and the element-wise unit read.
//!
//! - Conv mode: `y = clamp(((dot + bias)·M + 2^(S−1)) >> S)` for U8/I8 as the output byte
//!   (bits 31:8 zero), `y = dot + bias` (32 bits) for I32. Average pools use it with bias 0 and
//!   the window sum as `dot`.
//! - Pair mode (`in_pair`, the residual add): `dot = {b, a}` as two 16-bit two's complement
//!   halves, `y = clamp((a·M + b·M2 + 2^(S−1)) >> S)`.
//! - Kind 3 (element-wise i32 outputs): the low byte of the i32 clamp of the rounded shift.
//!
//! Instead of a 48-bit arithmetic barrel shift and 48-bit clamp compares, stage 4 extracts
//! only the 8 result bits `t[S + 7 : S]` (a log shifter, largest step first, so each stage
//! keeps just the bits the next one needs) and decides saturation from the bits of `t` at
//! positions ≥ S + 8 (U8), ≥ S + 7 (I8) or ≥ S + 31 (kind 3) under a thermometer mask: all
//! zero (in range above), all one (in range below), else clamp. Both modes take the same two
//! 16×16 products (one DSP each): conv `v_lo·M + (v_hi·M << 16)`, pair `a·M + b·M2`, each with
//! the two's complement correction of its negative halves, formed in stage 2. Parameter word:
//! `[31:0]` bias, `[46:32]` M, `[52:47]` S, `[54:53]` kind (0 U8, 1 I8, 2 I32, 3 i32 byte).
//! Every value reaching the lane has |v·M| < 2^47, so for S ≥ 48 the result is 0.
//! `in_ext` travels with the lane's valid bit, so each unit knows which results are its own.

use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct ConvRequant {
    pub clock: Signal<In, Clock>,
    pub in_valid: Signal<In, Bit>,
    pub in_addr: Signal<In, Bits<2>>,
    pub in_dot: Signal<In, Bits<32>>,
    pub in_param: Signal<In, Bits<64>>,
    /// Pair mode: the residual add's `a·M + b·M2`.
    pub in_pair: Signal<In, Bit>,
    /// The second multiplier (pair mode only).
    pub in_m2: Signal<In, Bits<16>>,
    /// The element-wise unit's request: carried to `out_ext`.
    pub in_ext: Signal<In, Bit>,
    pub out_valid: Signal<Out, Bit>,
    pub out_addr: Signal<Out, Bits<2>>,
    pub out_value: Signal<Out, Bits<32>>,
    pub out_ext: Signal<Out, Bit>,
    // stage 0: input registers
    s0_dot: DFF<Bits<32>>,
    s0_param: DFF<Bits<64>>,
    s0_pair: DFF<Bit>,
    s0_m2: DFF<Bits<16>>,
    s0_ctl: DFF<Bits<4>>,
    // stage 1: v = dot + bias
    s1_v: DFF<Bits<32>>,
    s1_m: DFF<Bits<16>>,
    s1_m2: DFF<Bits<16>>,
    s1_pair: DFF<Bit>,
    s1_s: DFF<Bits<6>>,
    s1_kind: DFF<Bits<2>>,
    s1_ctl: DFF<Bits<4>>,
    // stage 2: partial products
    s2_lo: DFF<Bits<32>>,
    s2_hi: DFF<Bits<32>>,
    /// The correction of the negative halves, before its shift (conv 32, pair 16).
    s2_c: DFF<Bits<17>>,
    s2_pair: DFF<Bit>,
    s2_s: DFF<Bits<6>>,
    s2_kind: DFF<Bits<2>>,
    s2_ctl: DFF<Bits<4>>,
    // stage 3: t = v·M + 2^(S−1)
    s3_t: DFF<Bits<48>>,
    s3_s: DFF<Bits<6>>,
    s3_kind: DFF<Bits<2>>,
    s3_ctl: DFF<Bits<4>>,
    // stage 4: the result byte, t's sign and the bits above the byte
    s4_z: DFF<Bits<8>>,
    s4_raw: DFF<Bits<32>>,
    s4_neg: DFF<Bit>,
    s4_any: DFF<Bit>,
    s4_all: DFF<Bit>,
    s4_kind: DFF<Bits<2>>,
    s4_ctl: DFF<Bits<4>>,
    // stage 5: clamp
    s5_out: DFF<Bits<32>>,
    s5_ctl: DFF<Bits<4>>,
    ca: Signal<Local, Bits<17>>,
    cb: Signal<Local, Bits<17>>,
    u0: Signal<Local, Bits<64>>,
    u1: Signal<Local, Bits<64>>,
    u2: Signal<Local, Bits<64>>,
    u3: Signal<Local, Bits<64>>,
    u4: Signal<Local, Bits<64>>,
    u5: Signal<Local, Bits<64>>,
    u6: Signal<Local, Bits<64>>,
    thr: Signal<Local, Bits<7>>,
    sat_hi: Signal<Local, Bits<32>>,
    sat_lo: Signal<Local, Bits<32>>,
    mask: Signal<Local, Bits<48>>,
    one48: Constant<Bits<48>>,
    ones48: Constant<Bits<48>>,
    sx48: Constant<Bits<64>>,
}

impl Default for ConvRequant {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            in_valid: Default::default(),
            in_addr: Default::default(),
            in_dot: Default::default(),
            in_param: Default::default(),
            in_pair: Default::default(),
            in_m2: Default::default(),
            in_ext: Default::default(),
            out_valid: Default::default(),
            out_addr: Default::default(),
            out_value: Default::default(),
            out_ext: Default::default(),
            s0_dot: Default::default(),
            s0_param: Default::default(),
            s0_pair: Default::default(),
            s0_m2: Default::default(),
            s0_ctl: Default::default(),
            s1_v: Default::default(),
            s1_m: Default::default(),
            s1_m2: Default::default(),
            s1_pair: Default::default(),
            s1_s: Default::default(),
            s1_kind: Default::default(),
            s1_ctl: Default::default(),
            s2_lo: Default::default(),
            s2_hi: Default::default(),
            s2_c: Default::default(),
            s2_pair: Default::default(),
            s2_s: Default::default(),
            s2_kind: Default::default(),
            s2_ctl: Default::default(),
            s3_t: Default::default(),
            s3_s: Default::default(),
            s3_kind: Default::default(),
            s3_ctl: Default::default(),
            s4_z: Default::default(),
            s4_raw: Default::default(),
            s4_neg: Default::default(),
            s4_any: Default::default(),
            s4_all: Default::default(),
            s4_kind: Default::default(),
            s4_ctl: Default::default(),
            s5_out: Default::default(),
            s5_ctl: Default::default(),
            ca: Default::default(),
            cb: Default::default(),
            u0: Default::default(),
            u1: Default::default(),
            u2: Default::default(),
            u3: Default::default(),
            u4: Default::default(),
            u5: Default::default(),
            u6: Default::default(),
            thr: Default::default(),
            sat_hi: Default::default(),
            sat_lo: Default::default(),
            mask: Default::default(),
            one48: Constant::new(bits(1)),
            ones48: Constant::new(bits((1u64 << 48) - 1)),
            sx48: Constant::new(bits(0xffff_0000_0000_0000)),
        }
    }
}

impl Logic for ConvRequant {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, s0_dot, s0_param, s0_pair, s0_m2, s0_ctl, s1_v, s1_m, s1_m2, s1_pair,
            s1_s, s1_kind, s1_ctl, s2_lo, s2_hi, s2_c, s2_pair, s2_s, s2_kind, s2_ctl, s3_t, s3_s,
            s3_kind, s3_ctl, s4_z, s4_raw, s4_neg, s4_any, s4_all, s4_kind, s4_ctl, s5_out, s5_ctl
        );
        // Control word: [1:0] address, [2] valid, [3] element-wise request.
        self.s0_ctl.d.next = bit_cast::<4, 2>(self.in_addr.val());
        if self.in_valid.val() {
            self.s0_ctl.d.next = bit_cast::<4, 2>(self.in_addr.val()) | bits::<4>(4);
        }
        if self.in_valid.val() & self.in_ext.val() {
            self.s0_ctl.d.next = bit_cast::<4, 2>(self.in_addr.val()) | bits::<4>(12);
        }
        self.s0_dot.d.next = self.in_dot.val();
        self.s0_param.d.next = self.in_param.val();
        self.s0_pair.d.next = self.in_pair.val();
        self.s0_m2.d.next = self.in_m2.val();
        self.s1_ctl.d.next = self.s0_ctl.q.val();
        // Stage 1.
        self.s1_v.d.next = self.s0_dot.q.val() + self.s0_param.q.val().get_bits::<32>(0);
        self.s1_m.d.next = bit_cast::<16, 15>(self.s0_param.q.val().get_bits::<15>(32));
        self.s1_s.d.next = self.s0_param.q.val().get_bits::<6>(47);
        self.s1_kind.d.next = self.s0_param.q.val().get_bits::<2>(53);
        self.s1_m2.d.next = bit_cast::<16, 15>(self.s0_param.q.val().get_bits::<15>(32));
        if self.s0_pair.q.val() {
            self.s1_m2.d.next = self.s0_m2.q.val();
        }
        self.s1_pair.d.next = self.s0_pair.q.val();
        // I32 (raw) outputs go through the same datapath as v·1 >> 0.
        if self.s0_param.q.val().get_bits::<2>(53) == bits::<2>(2) {
            self.s1_m.d.next = bits::<16>(1);
            self.s1_m2.d.next = bits::<16>(1);
            self.s1_s.d.next = bits::<6>(0);
        }
        // Stage 2.
        self.s2_lo.d.next = self.s1_v.q.val().get_bits::<16>(0) * self.s1_m.q.val();
        self.s2_hi.d.next = self.s1_v.q.val().get_bits::<16>(16) * self.s1_m2.q.val();
        // Negative halves were multiplied as v + 2^16: take their multiplier back out (conv:
        // the high half only, whose product is shifted by 16; pair: both, unshifted).
        self.ca.next = bits::<17>(0);
        if self.s1_pair.q.val() & self.s1_v.q.val().get_bit(15) {
            self.ca.next = bit_cast::<17, 16>(self.s1_m.q.val());
        }
        self.cb.next = bits::<17>(0);
        if self.s1_v.q.val().get_bit(31) {
            self.cb.next = bit_cast::<17, 16>(self.s1_m2.q.val());
        }
        self.s2_c.d.next = self.ca.val() + self.cb.val();
        self.s2_pair.d.next = self.s1_pair.q.val();
        self.s2_s.d.next = self.s1_s.q.val();
        self.s2_kind.d.next = self.s1_kind.q.val();
        self.s2_ctl.d.next = self.s1_ctl.q.val();
        // Stage 3.
        if self.s2_pair.q.val() {
            self.s3_t.d.next = bit_cast::<48, 32>(self.s2_hi.q.val())
                + bit_cast::<48, 32>(self.s2_lo.q.val())
                - (bit_cast::<48, 17>(self.s2_c.q.val()) << 16)
                + ((self.one48.val() << self.s2_s.q.val()) >> 1);
        } else {
            self.s3_t.d.next = (bit_cast::<48, 32>(self.s2_hi.q.val()) << 16)
                + bit_cast::<48, 32>(self.s2_lo.q.val())
                - (bit_cast::<48, 17>(self.s2_c.q.val()) << 32)
                + ((self.one48.val() << self.s2_s.q.val()) >> 1);
        }
        self.s3_s.d.next = self.s2_s.q.val();
        self.s3_kind.d.next = self.s2_kind.q.val();
        self.s3_ctl.d.next = self.s2_ctl.q.val();
        // Stage 4: z = t[S + 7 : S] of t sign-extended to 64 bits, largest step first.
        self.u0.next = bit_cast::<64, 48>(self.s3_t.q.val());
        if self.s3_t.q.val().get_bit(47) {
            self.u0.next = bit_cast::<64, 48>(self.s3_t.q.val()) | self.sx48.val();
        }
        self.u1.next = self.u0.val();
        if self.s3_s.q.val().get_bit(5) {
            self.u1.next = self.u0.val() >> 32;
        }
        self.u2.next = self.u1.val();
        if self.s3_s.q.val().get_bit(4) {
            self.u2.next = self.u1.val() >> 16;
        }
        self.u3.next = self.u2.val();
        if self.s3_s.q.val().get_bit(3) {
            self.u3.next = self.u2.val() >> 8;
        }
        self.u4.next = self.u3.val();
        if self.s3_s.q.val().get_bit(2) {
            self.u4.next = self.u3.val() >> 4;
        }
        self.u5.next = self.u4.val();
        if self.s3_s.q.val().get_bit(1) {
            self.u5.next = self.u4.val() >> 2;
        }
        self.u6.next = self.u5.val();
        if self.s3_s.q.val().get_bit(0) {
            self.u6.next = self.u5.val() >> 1;
        }
        self.s4_z.d.next = self.u6.val().get_bits::<8>(0);
        // The bits of t above the result: from S + 8 (U8), S + 7 (I8) or S + 31 (kind 3) up.
        self.thr.next = bit_cast::<7, 6>(self.s3_s.q.val()) + bits::<7>(7);
        if self.s3_kind.q.val() == bits::<2>(0) {
            self.thr.next = bit_cast::<7, 6>(self.s3_s.q.val()) + bits::<7>(8);
        }
        if self.s3_kind.q.val() == bits::<2>(3) {
            self.thr.next = bit_cast::<7, 6>(self.s3_s.q.val()) + bits::<7>(31);
        }
        self.mask.next = self.ones48.val() << self.thr.val();
        self.s4_any.d.next = (self.s3_t.q.val() & self.mask.val()) != bits::<48>(0);
        self.s4_all.d.next = (self.s3_t.q.val() & self.mask.val()) == self.mask.val();
        self.s4_neg.d.next = self.s3_t.q.val().get_bit(47);
        // S ≥ 48: |t| < 2^47 ≤ 2^(S−1), so the rounded shift is 0 (and 2^(S−1) is not in t).
        if self.s3_s.q.val().get_bit(5) & self.s3_s.q.val().get_bit(4) {
            self.s4_z.d.next = bits::<8>(0);
            self.s4_neg.d.next = false;
            self.s4_any.d.next = false;
            self.s4_all.d.next = false;
        }
        self.s4_raw.d.next = self.s3_t.q.val().get_bits::<32>(0);
        self.s4_kind.d.next = self.s3_kind.q.val();
        self.s4_ctl.d.next = self.s3_ctl.q.val();
        // Stage 5.
        self.s5_ctl.d.next = self.s4_ctl.q.val();
        self.s5_out.d.next = self.s4_raw.q.val();
        if self.s4_kind.q.val() == bits::<2>(0) {
            if self.s4_neg.q.val() {
                self.s5_out.d.next = bits::<32>(0);
            } else if self.s4_any.q.val() {
                self.s5_out.d.next = bits::<32>(255);
            } else {
                self.s5_out.d.next = bit_cast::<32, 8>(self.s4_z.q.val());
            }
        }
        // I8 and kind 3 are one signed-range clamp; only their saturation bytes differ.
        self.sat_hi.next = bits::<32>(0x7f);
        self.sat_lo.next = bits::<32>(0x80);
        if self.s4_kind.q.val() == bits::<2>(3) {
            self.sat_hi.next = bits::<32>(0xff);
            self.sat_lo.next = bits::<32>(0);
        }
        if self.s4_kind.q.val().get_bit(0) {
            if !self.s4_neg.q.val() & self.s4_any.q.val() {
                self.s5_out.d.next = self.sat_hi.val();
            } else if self.s4_neg.q.val() & !self.s4_all.q.val() {
                self.s5_out.d.next = self.sat_lo.val();
            } else {
                self.s5_out.d.next = bit_cast::<32, 8>(self.s4_z.q.val());
            }
        }
        self.out_value.next = self.s5_out.q.val();
        self.out_addr.next = self.s5_ctl.q.val().get_bits::<2>(0);
        self.out_valid.next = self.s5_ctl.q.val().get_bit(2);
        self.out_ext.next = self.s5_ctl.q.val().get_bit(3);
    }
}
