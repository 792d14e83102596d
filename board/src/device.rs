//! The device end of protocol v2 in software: what a board does on the wire, over any
//! [`Backend`] (memories plus an engine). It is the reference the board's RTL is held to, and
//! with a software engine behind it, a board to test the driver against without hardware.

use crate::frame::{self, Decoder, Event};
use crate::link::IDLE_GAP;
use crate::port::Port;
use crate::protocol::{self, Info, Reader, RunResult, Status};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Memories and an engine behind the protocol.
pub trait Backend: Send {
    /// The static part of INFO (the model id is filled in by [`Device`]).
    fn info(&self) -> Info;
    fn write(&mut self, mem: u8, addr: u32, data: &[u8]) -> Result<(), Status>;
    fn read(&mut self, mem: u8, addr: u32, len: usize) -> Result<Vec<u8>, Status>;
    fn run(&mut self, image: &[u8]) -> Result<RunResult, Status>;
}

/// A protocol v2 device over `backend`.
pub struct Device<B: Backend> {
    pub backend: B,
    model_id: [u8; 8],
    decoder: Decoder,
}

impl<B: Backend> Device<B> {
    pub fn new(backend: B) -> Self {
        Device {
            backend,
            model_id: [0; 8],
            decoder: Decoder::new(frame::SYNC_HOST),
        }
    }

    /// The reply frame to one received event, if any (a corrupt frame gets a `Corrupt` status).
    pub fn answer(&mut self, ev: Event) -> Vec<u8> {
        let (seq, status, data) = match ev {
            Event::Corrupt { seq } => (seq, Status::Corrupt, vec![]),
            Event::Frame(body) => {
                let (status, data) = match self.execute(body[1], &body[2..]) {
                    Ok(d) => (Status::Ok, d),
                    Err(s) => (s, vec![]),
                };
                (body[0], status, data)
            }
        };
        let mut body = vec![seq, status.byte()];
        body.extend(data);
        frame::encode(frame::SYNC_DEVICE, &body)
    }

    fn execute(&mut self, op: u8, args: &[u8]) -> Result<Vec<u8>, Status> {
        let mut r = Reader(args);
        let bad = |_| Status::BadArgs;
        match op {
            protocol::OP_INFO => {
                r.end().map_err(bad)?;
                let mut info = self.backend.info();
                info.model_id = self.model_id;
                Ok(info.encode())
            }
            protocol::OP_WRITE => {
                let (mem, addr) = (r.u8().map_err(bad)?, r.u32().map_err(bad)?);
                let data = r.rest();
                if data.is_empty() {
                    return Err(Status::BadArgs);
                }
                self.model_id = [0; 8];
                self.backend.write(mem, addr, data)?;
                Ok(vec![])
            }
            protocol::OP_READ => {
                let (mem, addr, len) = (
                    r.u8().map_err(bad)?,
                    r.u32().map_err(bad)?,
                    r.u16().map_err(bad)? as usize,
                );
                r.end().map_err(bad)?;
                if len == 0 || len > protocol::MAX_DATA {
                    return Err(Status::BadArgs);
                }
                self.backend.read(mem, addr, len)
            }
            protocol::OP_COMMIT => {
                self.model_id = r.array().map_err(bad)?;
                r.end().map_err(bad)?;
                Ok(vec![])
            }
            protocol::OP_RUN => {
                if self.model_id == [0; 8] {
                    return Err(Status::NoModel);
                }
                let image = r.rest();
                if image.is_empty() {
                    return Err(Status::BadArgs);
                }
                Ok(self.backend.run(image)?.encode())
            }
            _ => Err(Status::UnknownOp),
        }
    }

    /// Serve `port` until `stop` is set: decode frames with the idle rule, answer each.
    pub fn serve(&mut self, port: &mut dyn Port, stop: &AtomicBool) -> std::io::Result<()> {
        let mut buf = [0u8; 512];
        let mut last_byte = Instant::now();
        port.set_read_timeout(Duration::from_millis(5))?;
        while !stop.load(Ordering::Relaxed) {
            let n = match port.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => 0,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => 0,
                Err(e) => return Err(e),
            };
            if n == 0 {
                if self.decoder.in_frame() && last_byte.elapsed() > IDLE_GAP {
                    self.decoder.reset();
                }
                continue;
            }
            last_byte = Instant::now();
            for &b in &buf[..n] {
                if let Some(ev) = self.decoder.push(b) {
                    let reply = self.answer(ev);
                    port.write_all(&reply)?;
                    port.flush()?;
                }
            }
        }
        Ok(())
    }
}
