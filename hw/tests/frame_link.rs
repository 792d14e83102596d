//! The frame circuits against the protocol's software end (`unibit_board::frame`): what the
//! host's encoder sends, FrameRx accepts (and nothing else); what FrameTx sends, the host's
//! decoder accepts with the same body. Plus a clean Verilator lint of both.

use proptest::prelude::*;
use rust_hdl::prelude::*;
use unibit_board::frame::{self, Decoder, Event};
use unibit_hw::rtl::frame::{FrameRx, FrameTx};
use unibit_hw::rtl::sim::tick;

const IDLE: u32 = 200;

/// A frame FrameRx reported: CRC verdict, length, sequence byte, body read back.
#[derive(Debug, PartialEq)]
struct Got {
    ok: bool,
    len: usize,
    seq: u8,
    body: Vec<u8>,
}

/// Feed `stream` to a FrameRx, one byte every `gap` cycles (`None` = a pause of IDLE + 10
/// cycles); collect every reported frame with its body read back through the read port.
fn receive(stream: &[Option<u8>], gap: usize) -> Vec<Got> {
    let mut rx = FrameRx::new(IDLE);
    rx.connect_all();
    let mut got = vec![];
    let step = |rx: &mut FrameRx, byte: Option<u8>, got: &mut Vec<Got>| {
        rx.valid.next = byte.is_some();
        rx.rx_byte.next = bits(byte.unwrap_or(0) as u64);
        tick(rx, |u| &mut u.clock);
        rx.valid.next = false;
        if rx.done.val() {
            let len = rx.len.val().index();
            let ok = rx.ok.val();
            let seq = rx.seq.val().index() as u8;
            let body = if ok {
                (0..len)
                    .map(|a| {
                        rx.rd_addr.next = bits(a as u64);
                        tick(rx, |u| &mut u.clock);
                        rx.rd_data.val().index() as u8
                    })
                    .collect()
            } else {
                vec![]
            };
            got.push(Got { ok, len, seq, body });
        }
    };
    for &b in stream {
        match b {
            Some(b) => {
                step(&mut rx, Some(b), &mut got);
                for _ in 1..gap {
                    step(&mut rx, None, &mut got);
                }
            }
            None => {
                for _ in 0..IDLE as usize + 10 {
                    step(&mut rx, None, &mut got);
                }
            }
        }
    }
    for _ in 0..4 {
        step(&mut rx, None, &mut got);
    }
    got
}

fn bytes(v: &[u8]) -> Vec<Option<u8>> {
    v.iter().map(|&b| Some(b)).collect()
}

fn good(body: &[u8]) -> Got {
    Got {
        ok: true,
        len: body.len(),
        seq: body[0],
        body: body.to_vec(),
    }
}

#[test]
fn frames_from_the_host_encoder_are_received_with_their_bodies() {
    let a: Vec<u8> = (0..300u32).map(|i| (i * 7) as u8).collect();
    let b = vec![9u8, 1];
    let mut s = frame::encode(frame::SYNC_HOST, &a);
    s.extend(frame::encode(frame::SYNC_HOST, &b));
    assert_eq!(receive(&bytes(&s), 3), vec![good(&a), good(&b)]);
}

#[test]
fn the_largest_body_fits_and_one_more_byte_is_refused() {
    let max: Vec<u8> = (0..1024u32).map(|i| (i * 13 + 5) as u8).collect();
    assert_eq!(
        receive(&bytes(&frame::encode(frame::SYNC_HOST, &max)), 1),
        vec![good(&max)]
    );
    // A length field of 1025 or 1 is not a frame: the receiver hunts again, and the frame that
    // follows is received.
    let small = vec![3u8, 4, 5];
    for len in [1025u16, 1, 0xFFFF] {
        let mut s = vec![frame::SYNC_HOST];
        s.extend(len.to_le_bytes());
        s.extend(frame::encode(frame::SYNC_HOST, &small));
        assert_eq!(receive(&bytes(&s), 1), vec![good(&small)], "length {len}");
    }
}

#[test]
fn a_corrupt_frame_is_reported_as_corrupt_and_the_next_one_received() {
    let a = vec![7u8, 2, 3, 4, 5, 6];
    let mut bad = frame::encode(frame::SYNC_HOST, &a);
    bad[5] ^= 0x08;
    let mut s = bad;
    s.extend(frame::encode(frame::SYNC_HOST, &a));
    let got = receive(&bytes(&s), 2);
    assert_eq!(got.len(), 2);
    assert!(!got[0].ok);
    assert_eq!(got[1], good(&a));
}

#[test]
fn a_dropped_byte_then_the_idle_gap_drops_the_partial_frame() {
    let a = vec![5u8, 6, 7, 8];
    let f = frame::encode(frame::SYNC_HOST, &a);
    let mut s = bytes(&f[..4]);
    s.extend(bytes(&f[5..])); // one byte lost
    s.push(None); // the host stays silent for the idle gap, then sends again
    s.extend(bytes(&f));
    assert_eq!(receive(&s, 2), vec![good(&a)]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]
    /// The hardware receiver agrees with the software decoder on any byte stream: frames,
    /// garbage, flipped bits.
    #[test]
    fn the_receiver_agrees_with_the_software_decoder(
        bodies in prop::collection::vec(prop::collection::vec(any::<u8>(), 2..40), 1..4),
        garbage in prop::collection::vec(any::<u8>(), 0..12),
        flip in any::<(usize, u8)>(),
    ) {
        let mut s = garbage.clone();
        for b in &bodies {
            s.extend(frame::encode(frame::SYNC_HOST, b));
        }
        let (at, mask) = flip;
        let i = at % s.len();
        s[i] ^= mask;
        let mut d = Decoder::new(frame::SYNC_HOST);
        let want: Vec<(bool, Vec<u8>)> = s
            .iter()
            .filter_map(|&b| d.push(b))
            .map(|e| match e {
                Event::Frame(body) => (true, body),
                Event::Corrupt { .. } => (false, vec![]),
            })
            .collect();
        let got: Vec<(bool, Vec<u8>)> =
            receive(&bytes(&s), 1).into_iter().map(|g| (g.ok, g.body)).collect();
        prop_assert_eq!(got, want);
    }
}

/// Send `body` through FrameTx and a UART model that takes 3 cycles per byte; the bytes sent.
fn transmit(body: &[u8]) -> Vec<u8> {
    let mut tx = FrameTx::new();
    tx.connect_all();
    let mut out = vec![];
    let mut uart_left = 0usize;
    tx.len.next = bits(body.len() as u64);
    tx.start.next = true;
    tick(&mut tx, |u| &mut u.clock);
    tx.start.next = false;
    for _ in 0..(body.len() + 8) * 8 {
        // The body port answers one cycle after the address.
        let addr = tx.addr.val().index();
        tx.uart_busy.next = uart_left > 0;
        tick(&mut tx, |u| &mut u.clock);
        tx.data.next = bits(body.get(addr).copied().unwrap_or(0xEE) as u64);
        uart_left = uart_left.saturating_sub(1);
        if tx.uart_start.val() {
            assert_eq!(uart_left, 0, "started the UART while busy");
            out.push(tx.uart_data.val().index() as u8);
            uart_left = 3;
        }
        if !tx.busy.val() && out.len() >= body.len() + 5 {
            break;
        }
    }
    out
}

#[test]
fn replies_from_the_transmitter_equal_the_software_encoder() {
    for body in [
        vec![1u8, 0],
        vec![0x42, 0, 1, 2, 3, 0xA5, 0x5A, 0xFF],
        (0..1024u32).map(|i| (i * 3) as u8).collect(),
    ] {
        let sent = transmit(&body);
        assert_eq!(
            sent,
            frame::encode(frame::SYNC_DEVICE, &body),
            "body {} bytes",
            body.len()
        );
    }
}

#[test]
fn both_circuits_lint_clean_under_verilator() {
    if !unibit_hw::verilog::have_tool("verilator") {
        panic!("verilator is not installed (scripts/setup.sh installs it)");
    }
    let dir = tempfile::tempdir().unwrap();
    let mut rx = FrameRx::new(480_000);
    rx.connect_all();
    unibit_hw::verilog::lint(&dir.path().join("rx"), &generate_verilog(&rx)).unwrap();
    let mut tx = FrameTx::new();
    tx.connect_all();
    unibit_hw::verilog::lint(&dir.path().join("tx"), &generate_verilog(&tx)).unwrap();
}
