//! The host end of protocol v2: one command at a time, its reply awaited with a time-out,
//! the command sent again after a corrupt reply, a `Corrupt` status or silence.
//!
//! Before sending again the host stays silent for [`IDLE_GAP`] ×2 and drops what it received,
//! so the device has dropped any partial frame (its idle rule) and the next bytes it sees start
//! the new attempt. A reply whose sequence number is not the current command's (a late reply
//! to an earlier attempt) is ignored.

use crate::error::{Error, Result};
use crate::frame::{self, Decoder, Event};
use crate::port::Port;
use crate::protocol::{self, Info, RunResult, Status};
use std::time::{Duration, Instant};

/// A receiver drops a partial frame after this long without a byte (the RTL counts the same
/// time in clocks).
pub const IDLE_GAP: Duration = Duration::from_millis(20);

/// How hard the link tries.
#[derive(Clone, Copy, Debug)]
pub struct LinkOptions {
    /// Attempts per command (≥ 1).
    pub tries: u32,
    /// Time allowed for the device's work on one command, beyond moving its bytes.
    pub compute: Duration,
    /// Wall seconds per second of the device's time: 1 for a board; for a simulated board,
    /// how much slower than its clock it runs (`verilator::VerilatorBoard::time_scale`).
    /// Every time-out and the quiet period before a retry are stretched by it.
    pub time_scale: f64,
}

impl Default for LinkOptions {
    fn default() -> Self {
        LinkOptions {
            tries: 4,
            compute: Duration::from_millis(500),
            time_scale: 1.0,
        }
    }
}

/// An open connection to one board.
pub struct Link<P: Port> {
    port: P,
    name: String,
    baud: u32,
    opts: LinkOptions,
    seq: u8,
    decoder: Decoder,
    /// Bytes sent and received on the wire (frames and retries included).
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Commands sent again.
    pub retries: u64,
}

/// Why one attempt got no good reply.
enum Miss {
    Silent,
    Corrupt(String),
}

impl<P: Port> Link<P> {
    /// A link over `port` (named `name` in errors) running at `baud`.
    pub fn new(port: P, name: &str, baud: u32, opts: LinkOptions) -> Self {
        Link {
            port,
            name: name.to_string(),
            baud,
            opts,
            seq: 0,
            decoder: Decoder::new(frame::SYNC_DEVICE),
            bytes_sent: 0,
            bytes_received: 0,
            retries: 0,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Time the wire needs for `bytes` bytes at this baud rate (10 bits per byte).
    pub fn wire_time(&self, bytes: usize) -> Duration {
        Duration::from_secs_f64(bytes as f64 * 10.0 / self.baud.max(1) as f64)
    }

    fn io(&self, source: std::io::Error) -> Error {
        Error::Io {
            port: self.name.clone(),
            source,
        }
    }

    /// Send `op args` and return the data of its `Ok` reply; `reply_max` bounds the reply's data length
    /// (for the time-out), `compute` the device's work.
    fn transact(
        &mut self,
        command: &'static str,
        op: u8,
        args: &[u8],
        reply_max: usize,
        compute: Duration,
    ) -> Result<Vec<u8>> {
        self.seq = self.seq.wrapping_add(1);
        let mut body = vec![self.seq, op];
        body.extend_from_slice(args);
        let bytes = frame::encode(frame::SYNC_HOST, &body);
        let timeout = (self.wire_time(bytes.len() + reply_max + 7) * 2 + compute)
            .mul_f64(self.opts.time_scale.max(1.0))
            + Duration::from_millis(50);
        let mut last = Miss::Silent;
        for attempt in 1..=self.opts.tries.max(1) {
            if attempt > 1 {
                self.retries += 1;
                self.quiet_period()?;
            }
            self.port.write_all(&bytes).map_err(|e| self.io(e))?;
            self.port.flush().map_err(|e| self.io(e))?;
            self.bytes_sent += bytes.len() as u64;
            match self.await_reply(timeout)? {
                Ok((Status::Ok, data)) => return Ok(data),
                Ok((Status::Corrupt, _)) => {
                    last = Miss::Corrupt("the device received the command corrupt".into())
                }
                Ok((status, _)) => {
                    return Err(Error::Refused {
                        port: self.name.clone(),
                        command,
                        status,
                    })
                }
                Err(miss) => last = miss,
            }
        }
        let tries = self.opts.tries.max(1);
        Err(match last {
            Miss::Silent => Error::Timeout {
                port: self.name.clone(),
                command,
                timeout_ms: timeout.as_millis() as u64,
                tries,
                baud: self.baud,
            },
            Miss::Corrupt(why) => Error::Corrupt {
                port: self.name.clone(),
                command,
                tries,
                why,
            },
        })
    }

    /// Stay silent long enough for the device to drop a partial frame, then drop our input.
    fn quiet_period(&mut self) -> Result<()> {
        std::thread::sleep((IDLE_GAP * 2).mul_f64(self.opts.time_scale.max(1.0)));
        self.port.discard_input().map_err(|e| self.io(e))?;
        self.decoder.reset();
        Ok(())
    }

    /// Read until the reply to the current sequence number, a corrupt frame, or the deadline.
    fn await_reply(
        &mut self,
        timeout: Duration,
    ) -> Result<std::result::Result<(Status, Vec<u8>), Miss>> {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 256];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Err(Miss::Silent));
            }
            self.port
                .set_read_timeout(left.min(Duration::from_millis(100)))
                .map_err(|e| self.io(e))?;
            let n = match self.port.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io(e)),
            };
            self.bytes_received += n as u64;
            for &b in &buf[..n] {
                match self.decoder.push(b) {
                    Some(Event::Frame(body)) if body[0] == self.seq => {
                        return Ok(Ok((Status::from_byte(body[1]), body[2..].to_vec())));
                    }
                    Some(Event::Frame(_)) => {} // a late reply to an earlier attempt
                    Some(Event::Corrupt { .. }) => {
                        return Ok(Err(Miss::Corrupt(
                            "a reply arrived with a wrong CRC".into(),
                        )))
                    }
                    None => {}
                }
            }
        }
    }

    /// The board's description; refuses a device that speaks another protocol version.
    pub fn info(&mut self) -> Result<Info> {
        let r = self.transact("info", protocol::OP_INFO, &[], 255, self.opts.compute)?;
        let info = Info::decode(&r).map_err(|why| Error::BadReply {
            port: self.name.clone(),
            command: "info",
            why,
        })?;
        if info.version != protocol::VERSION {
            return Err(Error::Version {
                port: self.name.clone(),
                expected: protocol::VERSION,
                found: info.version,
            });
        }
        Ok(info)
    }

    /// Write `data` to memory `mem` from byte `addr` (in blocks of at most MAX_DATA bytes).
    pub fn write(&mut self, mem: u8, addr: u32, data: &[u8]) -> Result<()> {
        for (i, block) in data.chunks(protocol::MAX_DATA).enumerate() {
            let mut args = protocol::mem_args(mem, addr + (i * protocol::MAX_DATA) as u32);
            args.extend_from_slice(block);
            self.transact("write", protocol::OP_WRITE, &args, 0, self.opts.compute)?;
        }
        Ok(())
    }

    /// Read `len` bytes of memory `mem` from byte `addr`.
    pub fn read(&mut self, mem: u8, addr: u32, len: usize) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let n = (len - out.len()).min(protocol::MAX_DATA);
            let mut args = protocol::mem_args(mem, addr + out.len() as u32);
            args.extend((n as u16).to_le_bytes());
            let r = self.transact("read", protocol::OP_READ, &args, n, self.opts.compute)?;
            if r.len() != n {
                return Err(Error::BadReply {
                    port: self.name.clone(),
                    command: "read",
                    why: format!("{} bytes, expected {n}", r.len()),
                });
            }
            out.extend(r);
        }
        Ok(out)
    }

    /// Mark the memories' contents as model `id` (`[0; 8]`: none).
    pub fn commit(&mut self, id: [u8; 8]) -> Result<()> {
        self.transact("commit", protocol::OP_COMMIT, &id, 0, self.opts.compute)?;
        Ok(())
    }

    /// Run one image; `logits` is the number of logits expected, `compute` the time the engine
    /// may take.
    pub fn run(&mut self, image: &[u8], logits: usize, compute: Duration) -> Result<RunResult> {
        if image.is_empty() || image.len() > protocol::MAX_DATA {
            return Err(Error::Invalid {
                what: "image".into(),
                expected: format!("1..={} bytes", protocol::MAX_DATA),
                found: format!("{} bytes", image.len()),
            });
        }
        let r = self.transact("run", protocol::OP_RUN, image, 8 + 4 * logits, compute)?;
        let run = RunResult::decode(&r).map_err(|why| Error::BadReply {
            port: self.name.clone(),
            command: "run",
            why,
        })?;
        if run.logits.len() != logits {
            return Err(Error::BadReply {
                port: self.name.clone(),
                command: "run",
                why: format!("{} logits, expected {logits}", run.logits.len()),
            });
        }
        Ok(run)
    }
}
