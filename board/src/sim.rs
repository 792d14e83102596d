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
