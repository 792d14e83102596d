//! The image loader (docs/engine.md §3 "Expanded input"): puts a RUN command's image bytes
//! (C, H, W order, already in the frame receiver's body buffer) into the input buffer that
//! the loader registers describe, exactly as `unibit_core::engine::Machine::load_image` does:
//!
//! 1. check that the image has `channels · image h · image w` bytes (else `bad`, nothing
//!    written);
//! 2. clear the buffer (`h · w · cw` word writes from `base`);
//! 3. write each byte into every place that uses it, one byte-enabled write per place: once
//!    for HWC, into every (oy, ox, ky, kx) patch position for the expanded first-conv layout.
//!
//! HWC is the expanded case with k = 1, stride 1, no padding (and no bound on the buffer's
//! h and w, as in the machine). No divider: for each byte, `y + pad = qy·s + ry` is carried
//! incrementally along y (and likewise x); stepping ky down `y + pad − ky` decrements that
//! quotient/remainder pair, and a place is used when the remainder is 0, the value is not
//! negative and the quotient is inside the buffer. Word addresses are carried as sums
//! (`oy·w·cw`, `ox·cw`, and `kidx = c·k² + ky·k + kx` whose `kidx / 8` is the word, `kidx mod 8`
//! the byte lane, C = 8 lanes) and wrap at 2^16 words, as the memory's addresses do.
//! Not counted in the engine's cycles (it runs before `start`).

use rust_hdl::prelude::*;

#[derive(LogicBlock, Default)]
pub struct ImageLoader {
    pub clock: Signal<In, Clock>,
    /// One-cycle pulse: load the `len` image bytes of the received body.
    pub go: Signal<In, Bit>,
    pub len: Signal<In, Bits<16>>,
    /// The input buffer's loader registers: base, h, w, cw; image channels, h, w; layout
    /// (expanded when set) with k, stride (≥ 1) and padding.
    pub base: Signal<In, Bits<16>>,
    pub h: Signal<In, Bits<16>>,
    pub w: Signal<In, Bits<16>>,
    pub cw: Signal<In, Bits<16>>,
    pub chans: Signal<In, Bits<16>>,
    pub img_h: Signal<In, Bits<16>>,
    pub img_w: Signal<In, Bits<16>>,
    pub expanded: Signal<In, Bit>,
    pub k: Signal<In, Bits<8>>,
    pub stride: Signal<In, Bits<8>>,
    pub pad: Signal<In, Bits<8>>,
    /// Body buffer read port (data one cycle after the address).
    pub rd_addr: Signal<Out, Bits<10>>,
    pub rd_data: Signal<In, Bits<8>>,
    /// Main-memory writes (SpramMain timing; the loader only writes).
    pub mem_addr: Signal<Out, Bits<16>>,
    pub mem_we: Signal<Out, Bit>,
    pub mem_be: Signal<Out, Bits<8>>,
    pub mem_wdata: Signal<Out, Bits<64>>,
    pub busy: Signal<Out, Bit>,
    /// One-cycle pulse at the end; `bad` (valid with it): the image length does not match.
    pub done: Signal<Out, Bit>,
    pub bad: Signal<Out, Bit>,
    state: DFF<Bits<4>>,
    n: DFF<Bits<16>>,
    // image position of the current byte
    c: DFF<Bits<16>>,
    y: DFF<Bits<16>>,
    x: DFF<Bits<16>>,
    // products and the quotient/remainder of the padding by the stride
    acc: DFF<Bits<16>>,
    wcw: DFF<Bits<16>>,
    /// k², c·k² and kidx in 19 bits: kidx / 8 is a 16-bit word offset (addresses wrap at 2^16),
    /// so only their low 19 bits are ever seen.
    k2: DFF<Bits<19>>,
    q0: DFF<Bits<16>>,
    r0: DFF<Bits<8>>,
    q0w: DFF<Bits<16>>,
    q0c: DFF<Bits<16>>,
    // y + pad = qy·s + ry (qyw = qy·w·cw), x + pad = qx·s + rx (qxc = qx·cw), ck2 = c·k²
    ry: DFF<Bits<8>>,
    qy: DFF<Bits<16>>,
    qyw: DFF<Bits<16>>,
    rx: DFF<Bits<8>>,
    qx: DFF<Bits<16>>,
    qxc: DFF<Bits<16>>,
    ck2: DFF<Bits<19>>,
    // the place being tried: y + pad − ky and x + pad − kx as quotient/remainder
    ky: DFF<Bits<8>>,
    kx: DFF<Bits<8>>,
    ty_r: DFF<Bits<8>>,
    ty_q: DFF<Bits<16>>,
    ty_w: DFF<Bits<16>>,
    ty_neg: DFF<Bit>,
    tx_r: DFF<Bits<8>>,
    tx_q: DFF<Bits<16>>,
    tx_c: DFF<Bits<16>>,
    tx_neg: DFF<Bit>,
    kidx: DFF<Bits<19>>,
    cur_byte: DFF<Bits<8>>,
    addr: DFF<Bits<16>>,
    done_r: DFF<Bit>,
    bad_r: DFF<Bit>,
    ek: Signal<Local, Bits<8>>,
    es: Signal<Local, Bits<8>>,
    ep: Signal<Local, Bits<8>>,
    place_ok: Signal<Local, Bit>,
    rd_pos: Signal<Local, Bits<16>>,
}

impl ImageLoader {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Logic for ImageLoader {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, state, n, c, y, x, acc, wcw, k2, q0, r0, q0w, q0c, ry, qy, qyw, rx, qx,
            qxc, ck2, ky, kx, ty_r, ty_q, ty_w, ty_neg, tx_r, tx_q, tx_c, tx_neg, kidx, cur_byte,
            addr, done_r, bad_r
        );
        // HWC is k = 1, stride 1, padding 0.
        self.ek.next = bits::<8>(1);
        self.es.next = bits::<8>(1);
        self.ep.next = bits::<8>(0);
        if self.expanded.val() {
            self.ek.next = self.k.val();
            self.es.next = self.stride.val();
            self.ep.next = self.pad.val();
        }
        self.place_ok.next = (self.ty_r.q.val() == bits::<8>(0))
            & !self.ty_neg.q.val()
            & ((self.ty_q.q.val() < self.h.val()) | !self.expanded.val())
            & (self.tx_r.q.val() == bits::<8>(0))
            & !self.tx_neg.q.val()
            & ((self.tx_q.q.val() < self.w.val()) | !self.expanded.val());
        // Image byte n is body byte 2 + n (RUN's body is `SEQ OP image…`).
        self.rd_pos.next = self.n.q.val() + bits::<16>(2);
        self.rd_addr.next = self.rd_pos.val().get_bits::<10>(0);
        self.mem_addr.next = self.addr.q.val();
        self.mem_we.next = false;
        self.mem_be.next = bits::<8>(0xFF);
        self.mem_wdata.next = bits::<64>(0);
        self.done_r.d.next = false;
        match self.state.q.val().index() {
            0 => {
                if self.go.val() {
                    self.n.d.next = bits::<16>(0);
                    self.c.d.next = bits::<16>(0);
                    self.y.d.next = bits::<16>(0);
                    self.x.d.next = bits::<16>(0);
                    self.state.d.next = bits::<4>(1);
                }
            }
            1 => {
                // Count the bytes through (c, y, x): the length must be c·h·w exactly.
                if self.n.q.val() == self.len.val() {
                    self.state.d.next = bits::<4>(2);
                } else {
                    self.n.d.next = self.n.q.val() + bits::<16>(1);
                    self.x.d.next = self.x.q.val() + bits::<16>(1);
                    if self.x.q.val() + bits::<16>(1) == self.img_w.val() {
                        self.x.d.next = bits::<16>(0);
                        self.y.d.next = self.y.q.val() + bits::<16>(1);
                        if self.y.q.val() + bits::<16>(1) == self.img_h.val() {
                            self.y.d.next = bits::<16>(0);
                            self.c.d.next = self.c.q.val() + bits::<16>(1);
                        }
                    }
                }
            }
            2 => {
                if (self.c.q.val() == self.chans.val())
                    & (self.y.q.val() == bits::<16>(0))
                    & (self.x.q.val() == bits::<16>(0))
                {
                    // w·cw by repeated addition (w ≥ 1).
                    self.acc.d.next = bits::<16>(0);
                    self.n.d.next = self.w.val();
                    self.state.d.next = bits::<4>(3);
                } else {
                    self.bad_r.d.next = true;
                    self.done_r.d.next = true;
                    self.state.d.next = bits::<4>(0);
                }
            }
            3 => {
                if self.n.q.val() == bits::<16>(0) {
                    self.wcw.d.next = self.acc.q.val();
                    self.k2.d.next = bits::<19>(0);
                    self.n.d.next = bit_cast::<16, 8>(self.ek.val());
                    self.state.d.next = bits::<4>(4);
                } else {
                    self.acc.d.next = self.acc.q.val() + self.cw.val();
                    self.n.d.next = self.n.q.val() - bits::<16>(1);
                }
            }
            4 => {
                // k² by repeated addition; then pad = q0·s + r0.
                if self.n.q.val() == bits::<16>(0) {
                    self.q0.d.next = bits::<16>(0);
                    self.r0.d.next = bits::<8>(0);
                    self.q0w.d.next = bits::<16>(0);
                    self.q0c.d.next = bits::<16>(0);
                    self.n.d.next = bit_cast::<16, 8>(self.ep.val());
                    self.state.d.next = bits::<4>(5);
                } else {
                    self.k2.d.next = self.k2.q.val() + bit_cast::<19, 8>(self.ek.val());
                    self.n.d.next = self.n.q.val() - bits::<16>(1);
                }
            }
            5 => {
                if self.n.q.val() == bits::<16>(0) {
                    // Clear h·w·cw words from base.
                    self.addr.d.next = self.base.val();
                    self.c.d.next = bits::<16>(0);
                    self.y.d.next = bits::<16>(0);
                    self.x.d.next = bits::<16>(0);
                    self.state.d.next = bits::<4>(6);
                } else {
                    self.n.d.next = self.n.q.val() - bits::<16>(1);
                    self.r0.d.next = self.r0.q.val() + bits::<8>(1);
                    if self.r0.q.val() + bits::<8>(1) == self.es.val() {
                        self.r0.d.next = bits::<8>(0);
                        self.q0.d.next = self.q0.q.val() + bits::<16>(1);
                        self.q0w.d.next = self.q0w.q.val() + self.wcw.q.val();
                        self.q0c.d.next = self.q0c.q.val() + self.cw.val();
                    }
                }
            }
            6 => {
                self.mem_we.next = true;
                self.addr.d.next = self.addr.q.val() + bits::<16>(1);
                // (c, y, x) count (word in pixel, x, y) here.
                self.c.d.next = self.c.q.val() + bits::<16>(1);
                if self.c.q.val() + bits::<16>(1) == self.cw.val() {
                    self.c.d.next = bits::<16>(0);
                    self.x.d.next = self.x.q.val() + bits::<16>(1);
                    if self.x.q.val() + bits::<16>(1) == self.w.val() {
                        self.x.d.next = bits::<16>(0);
                        self.y.d.next = self.y.q.val() + bits::<16>(1);
                        if self.y.q.val() + bits::<16>(1) == self.h.val() {
                            // Scatter the bytes, from byte 0 at (0, 0, 0).
                            self.n.d.next = bits::<16>(0);
                            self.c.d.next = bits::<16>(0);
                            self.y.d.next = bits::<16>(0);
                            self.x.d.next = bits::<16>(0);
                            self.ry.d.next = self.r0.q.val();
                            self.qy.d.next = self.q0.q.val();
                            self.qyw.d.next = self.q0w.q.val();
                            self.rx.d.next = self.r0.q.val();
                            self.qx.d.next = self.q0.q.val();
                            self.qxc.d.next = self.q0c.q.val();
                            self.ck2.d.next = bits::<19>(0);
                            self.state.d.next = bits::<4>(7);
                        }
                    }
                }
            }
            7 => {
                // Fetch byte n (rd_addr follows n); first place: ky = kx = 0.
                self.ky.d.next = bits::<8>(0);
                self.kx.d.next = bits::<8>(0);
                self.ty_r.d.next = self.ry.q.val();
                self.ty_q.d.next = self.qy.q.val();
                self.ty_w.d.next = self.qyw.q.val();
                self.ty_neg.d.next = false;
                self.tx_r.d.next = self.rx.q.val();
                self.tx_q.d.next = self.qx.q.val();
                self.tx_c.d.next = self.qxc.q.val();
                self.tx_neg.d.next = false;
                self.kidx.d.next = self.ck2.q.val();
                self.state.d.next = bits::<4>(8);
            }
            8 => {
                self.cur_byte.d.next = self.rd_data.val();
                self.state.d.next = bits::<4>(9);
                if self.ek.val() == bits::<8>(0) {
                    self.state.d.next = bits::<4>(10);
                }
            }
            9 => {
                // One place (ky, kx) per cycle.
                self.mem_addr.next = self.base.val()
                    + self.ty_w.q.val()
                    + self.tx_c.q.val()
                    + self.kidx.q.val().get_bits::<16>(3);
                self.mem_be.next = bits::<8>(1) << self.kidx.q.val().get_bits::<3>(0);
                self.mem_wdata.next = bit_cast::<64, 8>(self.cur_byte.q.val())
                    | (bit_cast::<64, 8>(self.cur_byte.q.val()) << 8)
                    | (bit_cast::<64, 8>(self.cur_byte.q.val()) << 16)
                    | (bit_cast::<64, 8>(self.cur_byte.q.val()) << 24)
                    | (bit_cast::<64, 8>(self.cur_byte.q.val()) << 32)
                    | (bit_cast::<64, 8>(self.cur_byte.q.val()) << 40)
                    | (bit_cast::<64, 8>(self.cur_byte.q.val()) << 48)
                    | (bit_cast::<64, 8>(self.cur_byte.q.val()) << 56);
                self.mem_we.next = self.place_ok.val();
                self.kidx.d.next = self.kidx.q.val() + bits::<19>(1);
                // x + pad − kx, one down.
                self.kx.d.next = self.kx.q.val() + bits::<8>(1);
                if self.tx_r.q.val() == bits::<8>(0) {
                    self.tx_r.d.next = self.es.val() - bits::<8>(1);
                    if self.tx_q.q.val() == bits::<16>(0) {
                        self.tx_neg.d.next = true;
                    } else {
                        self.tx_q.d.next = self.tx_q.q.val() - bits::<16>(1);
                        self.tx_c.d.next = self.tx_c.q.val() - self.cw.val();
                    }
                } else {
                    self.tx_r.d.next = self.tx_r.q.val() - bits::<8>(1);
                }
                if self.kx.q.val() + bits::<8>(1) == self.ek.val() {
                    self.kx.d.next = bits::<8>(0);
                    self.tx_r.d.next = self.rx.q.val();
                    self.tx_q.d.next = self.qx.q.val();
                    self.tx_c.d.next = self.qxc.q.val();
                    self.tx_neg.d.next = false;
                    // y + pad − ky, one down.
                    self.ky.d.next = self.ky.q.val() + bits::<8>(1);
                    if self.ty_r.q.val() == bits::<8>(0) {
                        self.ty_r.d.next = self.es.val() - bits::<8>(1);
                        if self.ty_q.q.val() == bits::<16>(0) {
                            self.ty_neg.d.next = true;
                        } else {
                            self.ty_q.d.next = self.ty_q.q.val() - bits::<16>(1);
                            self.ty_w.d.next = self.ty_w.q.val() - self.wcw.q.val();
                        }
                    } else {
                        self.ty_r.d.next = self.ty_r.q.val() - bits::<8>(1);
                    }
                    if self.ky.q.val() + bits::<8>(1) == self.ek.val() {
                        self.state.d.next = bits::<4>(10);
                    }
                }
            }
            10 => {
                // Next byte: x + 1 (then y + 1, then c + 1).
                self.n.d.next = self.n.q.val() + bits::<16>(1);
                self.state.d.next = bits::<4>(7);
                if self.n.q.val() + bits::<16>(1) == self.len.val() {
                    self.bad_r.d.next = false;
                    self.done_r.d.next = true;
                    self.state.d.next = bits::<4>(0);
                }
                self.x.d.next = self.x.q.val() + bits::<16>(1);
                self.rx.d.next = self.rx.q.val() + bits::<8>(1);
                if self.rx.q.val() + bits::<8>(1) == self.es.val() {
                    self.rx.d.next = bits::<8>(0);
                    self.qx.d.next = self.qx.q.val() + bits::<16>(1);
                    self.qxc.d.next = self.qxc.q.val() + self.cw.val();
                }
                if self.x.q.val() + bits::<16>(1) == self.img_w.val() {
                    self.x.d.next = bits::<16>(0);
                    self.rx.d.next = self.r0.q.val();
                    self.qx.d.next = self.q0.q.val();
                    self.qxc.d.next = self.q0c.q.val();
                    self.y.d.next = self.y.q.val() + bits::<16>(1);
                    self.ry.d.next = self.ry.q.val() + bits::<8>(1);
                    if self.ry.q.val() + bits::<8>(1) == self.es.val() {
                        self.ry.d.next = bits::<8>(0);
                        self.qy.d.next = self.qy.q.val() + bits::<16>(1);
                        self.qyw.d.next = self.qyw.q.val() + self.wcw.q.val();
                    }
                    if self.y.q.val() + bits::<16>(1) == self.img_h.val() {
                        self.y.d.next = bits::<16>(0);
                        self.ry.d.next = self.r0.q.val();
                        self.qy.d.next = self.q0.q.val();
                        self.qyw.d.next = self.q0w.q.val();
                        self.c.d.next = self.c.q.val() + bits::<16>(1);
                        self.ck2.d.next = self.ck2.q.val() + self.k2.q.val();
                    }
                }
            }
            _ => {
                self.state.d.next = bits::<4>(0);
            }
        }
        self.busy.next = self.state.q.val() != bits::<4>(0);
        self.done.next = self.done_r.q.val();
        self.bad.next = self.bad_r.q.val();
    }
}
