//! A software board on a pseudo-terminal: the driver opens the PTY's path like a USB serial
//! port (`--port /dev/pts/N`) and cannot tell the difference on the wire.

use crate::device::Device;
use crate::error::{Error, Result};
use crate::soft::ModelBoard;
use serialport::TTYPort;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// A software board behind a PTY pair; `path` is the end the host opens.
pub struct PtyBoard {
    pub path: String,
    device: Device<ModelBoard>,
    board_end: TTYPort,
    /// Held open so the board end never sees a hang-up between two host sessions.
    _host_end: TTYPort,
}

impl PtyBoard {
    pub fn open(board: ModelBoard) -> Result<Self> {
        let io = |source| Error::Open {
            port: "pty".into(),
            source,
        };
        let (board_end, host_end) = TTYPort::pair().map_err(io)?;
        let path = serialport::SerialPort::name(&host_end).unwrap_or_default();
        Ok(PtyBoard {
            path,
            device: Device::new(board),
            board_end,
            _host_end: host_end,
        })
    }

    pub fn device(&self) -> &Device<ModelBoard> {
        &self.device
    }

    /// Answer commands until `stop` is set. A hang-up (EIO, no host end open) is waited out.
    pub fn serve(&mut self, stop: &AtomicBool) -> Result<()> {
        loop {
            match self.device.serve(&mut self.board_end, stop) {
                Ok(()) => return Ok(()),
                Err(e) if e.raw_os_error() == Some(5) => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(source) => {
                    return Err(Error::Io {
                        port: self.path.clone(),
                        source,
                    })
                }
            }
        }
    }
}

/// What [`session`] did: the load and the classification, over the board's PTY.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Session {
    /// The PTY the driver used (as it would use /dev/ttyUSB1).
    pub port: String,
    /// What served it, in words (`software board …`).
    pub backend: String,
    pub load: crate::driver::LoadReport,
    pub classify: crate::driver::ClassifyReport,
}

/// Serve `board` on a fresh PTY in a thread, and drive it through that PTY as a host would:
/// `load` the bundle, `classify` the images, stop the board.
pub fn session(
    board: ModelBoard,
    bundle: &std::path::Path,
    images: &crate::driver::Images,
    progress: &dyn unibit_core::progress::Progress,
) -> Result<Session> {
    use crate::driver::{self, Expect};
    use crate::link::{Link, LinkOptions};
    use std::sync::Arc;
    let baud = board.baud();
    let backend = format!(
        "software board ({} {}×{} B = {}, the engine's memory-level model, not the RTL)",
        board.target().board,
        board.target().shape.rows,
        board.target().shape.cols,
        board.target().shape.bits.get()
    );
    let mut pty = PtyBoard::open(board)?;
    let port = pty.path.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let server = {
        let stop = stop.clone();
        std::thread::spawn(move || pty.serve(&stop))
    };
    let drive = || -> Result<Session> {
        let (name, p) = crate::port::open(&port, baud)?;
        let mut link = Link::new(p, &name, baud, LinkOptions::default());
        let load = driver::load(bundle, &mut link, &Expect::default(), progress)?;
        let classify = driver::classify(bundle, &mut link, images, progress)?;
        Ok(Session {
            port: port.clone(),
            backend,
            load,
            classify,
        })
    };
    let out = drive();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let served = server.join().map_err(|_| Error::Invalid {
        what: "board server thread".into(),
        expected: "to stop cleanly".into(),
        found: "a panic".into(),
    })?;
    let s = out?;
    served?;
    Ok(s)
}
