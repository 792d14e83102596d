//! The driver against the software device over real pseudo-terminals, with a proxy between them
//! that corrupts, drops or injects bytes: every command ends with the right answer (after
//! retries) or a clear error within its time-out — never a hang, never a wrong answer.

use proptest::prelude::*;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use unibit_board::device::{Backend, Device};
use unibit_board::link::{Link, LinkOptions};
use unibit_board::port::Port;
use unibit_board::protocol::{Info, Memory, RunResult, Status};
use unibit_board::Error;

/// Two memories of plain bytes; RUN answers logits that depend on the image and memory 0, so a
/// wrong byte anywhere shows.
struct Bytes {
    mems: Vec<Vec<u8>>,
}

impl Backend for Bytes {
    fn info(&self) -> Info {
        Info {
            version: 2,
            bits: 2,
            rows: 8,
            cols: 8,
            clock_hz: 24_000_000,
            baud: 3_000_000,
            memories: self
                .mems
                .iter()
                .enumerate()
                .map(|(i, m)| Memory {
                    id: i as u8,
                    bytes: m.len() as u32,
                })
                .collect(),
            config_hash: *b"testcfg!",
            model_id: [0; 8],
        }
    }
    fn write(&mut self, mem: u8, addr: u32, data: &[u8]) -> Result<(), Status> {
        let m = self.mems.get_mut(mem as usize).ok_or(Status::BadArgs)?;
        let a = addr as usize;
        m.get_mut(a..a + data.len())
            .ok_or(Status::BadArgs)?
            .copy_from_slice(data);
        Ok(())
    }
    fn read(&mut self, mem: u8, addr: u32, len: usize) -> Result<Vec<u8>, Status> {
        let m = self.mems.get(mem as usize).ok_or(Status::BadArgs)?;
        let a = addr as usize;
        Ok(m.get(a..a + len).ok_or(Status::BadArgs)?.to_vec())
    }
    fn run(&mut self, image: &[u8]) -> Result<RunResult, Status> {
        let logits = (0..10)
            .map(|k| {
                image
                    .iter()
                    .zip(&self.mems[0])
                    .map(|(&x, &w)| x as i32 * (w as i32 - k))
                    .sum()
            })
            .collect();
        Ok(RunResult {
            cycles: image.len() as u64 * 3,
            logits,
        })
    }
}

fn expected_logits(image: &[u8], mem0: &[u8]) -> Vec<i32> {
    (0..10)
        .map(|k| {
            image
                .iter()
                .zip(mem0)
                .map(|(&x, &w)| x as i32 * (w as i32 - k))
                .sum()
        })
        .collect()
}

/// What the proxy does to the byte with a given index on the host → device stream.
#[derive(Clone, Debug)]
enum Fault {
    None,
    Flip {
        at: usize,
        mask: u8,
    },
    Drop {
        at: usize,
    },
    Garbage {
        at: usize,
        bytes: Vec<u8>,
    },
    /// Flip a byte of the device → host stream.
    FlipReply {
        at: usize,
        mask: u8,
    },
    /// The device never answers.
    Mute,
}

struct Rig {
    host: Link<serialport::TTYPort>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Copy `from` → `to`, applying `fault` to the byte indices of this direction.
fn pump(
    mut from: serialport::TTYPort,
    mut to: serialport::TTYPort,
    fault: Arc<Mutex<Fault>>,
    reply_side: bool,
    stop: Arc<AtomicBool>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut i = 0usize;
        let mut buf = [0u8; 256];
        from.set_read_timeout(Duration::from_millis(5)).unwrap();
        while !stop.load(Ordering::Relaxed) {
            let n = match from.read(&mut buf) {
                Ok(n) => n,
                Err(_) => continue,
            };
            let mut out = vec![];
            for &b in &buf[..n] {
                let f = fault.lock().unwrap().clone();
                match (f, reply_side) {
                    (Fault::Mute, _) => {}
                    (Fault::Flip { at, mask }, false) if at == i => out.push(b ^ mask),
                    (Fault::Drop { at }, false) if at == i => {}
                    (Fault::Garbage { at, bytes }, false) if at == i => {
                        out.extend(bytes);
                        out.push(b)
                    }
                    (Fault::FlipReply { at, mask }, true) if at == i => out.push(b ^ mask),
                    _ => out.push(b),
                }
                i += 1;
            }
            if !out.is_empty() {
                let _ = to.write_all(&out);
                let _ = to.flush();
            }
        }
    })
}

fn rig(fault: Fault, mem_bytes: usize) -> Rig {
    let stop = Arc::new(AtomicBool::new(false));
    let fault = Arc::new(Mutex::new(fault));
    let (host_end, proxy_a) = serialport::TTYPort::pair().expect("pty pair");
    let (proxy_b, mut device_end) = serialport::TTYPort::pair().expect("pty pair");
    let mut threads = vec![];
    threads.push(pump(
        proxy_a.try_clone_native().unwrap(),
        proxy_b.try_clone_native().unwrap(),
        fault.clone(),
        false,
        stop.clone(),
    ));
    threads.push(pump(proxy_b, proxy_a, fault, true, stop.clone()));
    let s = stop.clone();
    threads.push(std::thread::spawn(move || {
        let mut d = Device::new(Bytes {
            mems: vec![vec![0; mem_bytes], vec![0; 64]],
        });
        let _ = d.serve(&mut device_end, &s);
    }));
    let opts = LinkOptions {
        tries: 4,
        compute: Duration::from_millis(100),
        time_scale: 1.0,
    };
    Rig {
        host: Link::new(host_end, "pty-test", 3_000_000, opts),
        stop,
        threads,
    }
}

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect()
}

#[test]
fn info_write_read_commit_run_round_trip_every_byte_value() {
    let mut r = rig(Fault::None, 4096);
    let info = r.host.info().unwrap();
    assert_eq!((info.bits, info.rows, info.cols), (2, 8, 8));
    assert!(!info.model_loaded());
    let all: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    r.host.write(0, 7, &all).unwrap();
    assert_eq!(r.host.read(0, 7, all.len()).unwrap(), all);
    match r.host.run(&[1; 784], 10, Duration::from_millis(100)) {
        Err(Error::Refused { status, .. }) => assert_eq!(status, Status::NoModel),
        other => panic!("run without a model: {other:?}"),
    }
    r.host.commit(*b"model-01").unwrap();
    assert!(r.host.info().unwrap().model_loaded());
    let image = pattern(784, 9);
    let mut mem0 = vec![0u8; 4096];
    mem0[7..7 + all.len()].copy_from_slice(&all);
    let out = r.host.run(&image, 10, Duration::from_millis(100)).unwrap();
    assert_eq!(out.logits, expected_logits(&image, &mem0));
    assert_eq!(out.cycles, 784 * 3);
    // A write clears the committed model.
    r.host.write(1, 0, &[1]).unwrap();
    assert!(!r.host.info().unwrap().model_loaded());
    assert_eq!(r.host.retries, 0);
}

#[test]
fn out_of_range_addresses_are_refused_by_the_device() {
    let mut r = rig(Fault::None, 64);
    match r.host.write(1, 60, &[0; 8]) {
        Err(Error::Refused { status, port, .. }) => {
            assert_eq!(status, Status::BadArgs);
            assert_eq!(port, "pty-test");
        }
        other => panic!("{other:?}"),
    }
}

/// Write and read back 1,500 bytes with `fault` on the wire; the commands sent again.
fn retries_of_write_read_under(fault: Fault) -> u64 {
    let mut r = rig(fault, 2048);
    let data = pattern(1500, 0x5A);
    r.host.write(0, 100, &data).unwrap();
    assert_eq!(r.host.read(0, 100, data.len()).unwrap(), data);
    r.host.retries
}

#[test]
fn a_corrupted_command_byte_is_retried() {
    assert_eq!(
        retries_of_write_read_under(Fault::Flip { at: 20, mask: 0x10 }),
        1
    );
}

#[test]
fn a_dropped_command_byte_is_retried_after_the_idle_gap() {
    assert_eq!(retries_of_write_read_under(Fault::Drop { at: 500 }), 1);
}

#[test]
fn garbage_before_a_command_is_skipped() {
    // Garbage that even contains a sync byte and a plausible length.
    let retries = retries_of_write_read_under(Fault::Garbage {
        at: 0,
        bytes: vec![0x00, 0xA5, 0x03, 0x00, 0x11, 0xFF],
    });
    assert!(retries <= 1, "{retries} retries");
}

#[test]
fn a_corrupted_reply_byte_is_retried() {
    assert_eq!(
        retries_of_write_read_under(Fault::FlipReply { at: 9, mask: 0x01 }),
        1
    );
}

#[test]
fn a_device_that_never_answers_is_a_clear_error_within_the_timeout() {
    let mut r = rig(Fault::Mute, 64);
    let t0 = Instant::now();
    let e = r.host.info().unwrap_err();
    let took = t0.elapsed();
    let msg = e.to_string();
    assert!(matches!(e, Error::Timeout { tries: 4, .. }), "{msg}");
    assert!(
        msg.contains("pty-test") && msg.contains("no reply to info"),
        "{msg}"
    );
    assert!(took < Duration::from_secs(5), "gave up after {took:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, .. ProptestConfig::default() })]
    /// Any single fault on either stream: the data read back is the data written, or the call
    /// fails with an error — never different data.
    #[test]
    fn one_fault_anywhere_never_gives_a_wrong_answer(
        kind in 0u8..4, at in 0usize..1600, mask in 1u8..=255, seed: u8,
    ) {
        let fault = match kind {
            0 => Fault::Flip { at, mask },
            1 => Fault::Drop { at },
            2 => Fault::Garbage { at, bytes: vec![mask, 0xA5, mask, 0x00] },
            _ => Fault::FlipReply { at: at % 700, mask },
        };
        let mut r = rig(fault, 2048);
        let data = pattern(1200, seed);
        if r.host.write(0, 0, &data).is_ok() {
            if let Ok(back) = r.host.read(0, 0, data.len()) {
                prop_assert_eq!(back, data);
            }
        }
    }
}
