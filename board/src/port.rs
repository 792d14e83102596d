//! Serial ports: by path (`/dev/ttyUSB1`, a virtual board's PTY) or `auto`, which finds the one
//! board among the USB serial ports by VID:PID.

use crate::error::{Error, Result};
use std::io::{Read, Write};
use std::time::Duration;

/// A byte stream to a device with a read time-out (a serial port, a PTY, a test pipe).
pub trait Port: Read + Write + Send {
    /// Longest a `read` waits for the first byte before returning `TimedOut`.
    fn set_read_timeout(&mut self, t: Duration) -> std::io::Result<()>;
    /// Drop bytes received but not yet read.
    fn discard_input(&mut self) -> std::io::Result<()>;
}

impl Port for Box<dyn serialport::SerialPort> {
    fn set_read_timeout(&mut self, t: Duration) -> std::io::Result<()> {
        self.set_timeout(t).map_err(std::io::Error::from)
    }
    fn discard_input(&mut self) -> std::io::Result<()> {
        self.clear(serialport::ClearBuffer::Input)
            .map_err(std::io::Error::from)
    }
}

impl Port for serialport::TTYPort {
    fn set_read_timeout(&mut self, t: Duration) -> std::io::Result<()> {
        serialport::SerialPort::set_timeout(self, t).map_err(std::io::Error::from)
    }
    fn discard_input(&mut self) -> std::io::Result<()> {
        serialport::SerialPort::clear(self, serialport::ClearBuffer::Input)
            .map_err(std::io::Error::from)
    }
}

/// USB bridges of the supported boards: iCEBreaker (FT2232H; its UART is interface 1) and
/// ULX3S (FT231X).
pub const BOARD_USB_IDS: &[(u16, u16, &str)] = &[
    (0x0403, 0x6010, "FT2232H (iCEBreaker)"),
    (0x0403, 0x6015, "FT231X (ULX3S)"),
];

/// Open `name` at `baud` (8N1, no flow control). `auto` picks the single connected board.
pub fn open(name: &str, baud: u32) -> Result<(String, Box<dyn serialport::SerialPort>)> {
    let path = if name == "auto" {
        find_board()?
    } else {
        name.to_string()
    };
    let port = serialport::new(&path, baud)
        .data_bits(serialport::DataBits::Eight)
        .parity(serialport::Parity::None)
        .stop_bits(serialport::StopBits::One)
        .flow_control(serialport::FlowControl::None)
        .timeout(Duration::from_millis(100))
        .open()
        .map_err(|source| Error::Open {
            port: path.clone(),
            source,
        })?;
    Ok((path, port))
}

/// The one serial port whose USB VID:PID is a supported board's bridge. An FT2232H shows two
/// ports (JTAG/SPI on interface 0, the UART on interface 1): the higher-numbered one is taken.
fn find_board() -> Result<String> {
    let ports = serialport::available_ports().unwrap_or_default();
    let mut hits: Vec<(String, u16, u16)> = ports
        .iter()
        .filter_map(|p| match &p.port_type {
            serialport::SerialPortType::UsbPort(u)
                if BOARD_USB_IDS
                    .iter()
                    .any(|(v, d, _)| *v == u.vid && *d == u.pid) =>
            {
                Some((p.port_name.clone(), u.vid, u.pid))
            }
            _ => None,
        })
        .collect();
    hits.sort();
    // Two interfaces of one FT2232H: keep the UART (the later name).
    if hits.len() == 2 && hits[0].1 == 0x0403 && hits[0].2 == 0x6010 && hits[1].2 == 0x6010 {
        hits.remove(0);
    }
    match hits.len() {
        1 => Ok(hits.remove(0).0),
        0 => Err(Error::NoBoard {
            wanted: BOARD_USB_IDS
                .iter()
                .map(|(v, d, n)| format!("{v:04x}:{d:04x} {n}"))
                .collect::<Vec<_>>()
                .join(", "),
            seen: if ports.is_empty() {
                "none".into()
            } else {
                ports
                    .iter()
                    .map(|p| p.port_name.clone())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        }),
        _ => Err(Error::Ambiguous {
            found: hits
                .iter()
                .map(|h| h.0.clone())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}
