//! Protocol v2 frames.
//!
//! ```text
//! frame  = SYNC  LEN_LO LEN_HI  BODY[LEN]  CRC_LO CRC_HI
//! SYNC   = 0xA5 host → device, 0x5A device → host
//! LEN    = bytes of BODY, 2 ..= MAX_BODY (little-endian)
//! CRC    = CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor)
//!          over LEN_LO LEN_HI BODY (little-endian)
//! ```
//!
//! Receiving (both ends, the RTL included): bytes are ignored until SYNC; a LEN outside
//! `2..=MAX_BODY` drops back to hunting for SYNC at the next byte; a frame whose bytes stop for
//! longer than the idle gap is dropped; a complete frame whose CRC differs is reported as
//! corrupt and dropped. After any drop the receiver hunts for SYNC again. Different sync bytes
//! per direction keep a loopback or echo from passing for a reply.

use crc::{Crc, CRC_16_IBM_3740};

/// First byte of a frame from the host.
pub const SYNC_HOST: u8 = 0xA5;
/// First byte of a frame from the device.
pub const SYNC_DEVICE: u8 = 0x5A;
/// Largest body (the RTL's body buffer is 1,024 bytes: two iCE40 EBRs).
pub const MAX_BODY: usize = 1024;
/// Smallest body: sequence number and opcode (or status).
pub const MIN_BODY: usize = 2;

/// CRC-16/CCITT-FALSE (also catalogued as CRC-16/IBM-3740).
const CRC16: Crc<u16> = Crc::<u16>::new(&CRC_16_IBM_3740);

/// The CRC of a frame's length field and body.
pub fn crc16(len_and_body: &[u8]) -> u16 {
    CRC16.checksum(len_and_body)
}

/// The bytes of one frame around `body`.
pub fn encode(sync: u8, body: &[u8]) -> Vec<u8> {
    assert!(
        (MIN_BODY..=MAX_BODY).contains(&body.len()),
        "frame body of {} bytes (protocol: {MIN_BODY}..={MAX_BODY})",
        body.len()
    );
    let mut v = Vec::with_capacity(body.len() + 5);
    v.push(sync);
    v.extend((body.len() as u16).to_le_bytes());
    v.extend_from_slice(body);
    let crc = crc16(&v[1..]);
    v.extend(crc.to_le_bytes());
    v
}

/// What the decoder made of the bytes fed so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A complete frame with a correct CRC: its body.
    Frame(Vec<u8>),
    /// A complete frame whose CRC is wrong (dropped); `seq` is its first body byte, which may
    /// itself be corrupt.
    Corrupt { seq: u8 },
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    Hunt,
    Len { lo: Option<u8> },
    Body { len: usize },
    Crc { lo: Option<u8> },
}

/// Byte-at-a-time frame receiver (no buffering beyond one frame: the RTL does the same).
#[derive(Clone, Debug)]
pub struct Decoder {
    sync: u8,
    state: State,
    buf: Vec<u8>,
}

impl Decoder {
    /// A receiver for frames that start with `sync`.
    pub fn new(sync: u8) -> Self {
        Decoder {
            sync,
            state: State::Hunt,
            buf: Vec::new(),
        }
    }

    /// Whether a frame is partly received (an idle gap now drops it).
    pub fn in_frame(&self) -> bool {
        self.state != State::Hunt
    }

    /// Drop a partial frame (the idle gap expired) and hunt for SYNC.
    pub fn reset(&mut self) {
        self.state = State::Hunt;
        self.buf.clear();
    }

    /// Feed one byte.
    pub fn push(&mut self, b: u8) -> Option<Event> {
        match self.state {
            State::Hunt => {
                if b == self.sync {
                    self.state = State::Len { lo: None };
                }
                None
            }
            State::Len { lo: None } => {
                self.state = State::Len { lo: Some(b) };
                None
            }
            State::Len { lo: Some(lo) } => {
                let len = u16::from_le_bytes([lo, b]) as usize;
                if (MIN_BODY..=MAX_BODY).contains(&len) {
                    self.buf.clear();
                    self.buf.extend([lo, b]);
                    self.state = State::Body { len };
                } else {
                    self.reset();
                }
                None
            }
            State::Body { len } => {
                self.buf.push(b);
                if self.buf.len() == len + 2 {
                    self.state = State::Crc { lo: None };
                }
                None
            }
            State::Crc { lo: None } => {
                self.state = State::Crc { lo: Some(b) };
                None
            }
            State::Crc { lo: Some(lo) } => {
                let ok = u16::from_le_bytes([lo, b]) == crc16(&self.buf);
                let body = self.buf.split_off(2);
                self.reset();
                Some(if ok {
                    Event::Frame(body)
                } else {
                    Event::Corrupt { seq: body[0] }
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(sync: u8, bytes: &[u8]) -> Vec<Event> {
        let mut d = Decoder::new(sync);
        bytes.iter().filter_map(|&b| d.push(b)).collect()
    }

    #[test]
    fn crc_is_ccitt_false() {
        // The catalogue's check value for "123456789".
        assert_eq!(crc16(b"123456789"), 0x29B1);
    }

    #[test]
    fn frames_round_trip_after_garbage_and_a_corrupt_frame() {
        let a = encode(SYNC_HOST, &[1, 2, 3]);
        let mut bad = encode(SYNC_HOST, &[7, 8, 9, 10]);
        bad[4] ^= 0x40;
        let mut bytes = vec![0x00, 0xFF, 0x13];
        bytes.extend(&bad);
        bytes.extend(&a);
        assert_eq!(
            decode_all(SYNC_HOST, &bytes),
            vec![Event::Corrupt { seq: 7 }, Event::Frame(vec![1, 2, 3])]
        );
    }

    #[test]
    fn a_length_out_of_range_resumes_the_hunt() {
        let a = encode(SYNC_HOST, &[4, 5]);
        let mut bytes = vec![SYNC_HOST, 0xFF, 0xFF];
        bytes.extend(&a);
        assert_eq!(
            decode_all(SYNC_HOST, &bytes),
            vec![Event::Frame(vec![4, 5])]
        );
    }

    #[test]
    fn the_other_directions_frames_are_ignored() {
        let echo = encode(SYNC_HOST, &[1, 2]);
        assert!(decode_all(SYNC_DEVICE, &echo).is_empty());
    }
}
