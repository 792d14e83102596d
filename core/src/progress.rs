//! Progress from library code. Libraries never print: long work (training epochs, sweeps, tool
//! runs, cosimulated images) reports through this trait, and the CLI implements it with
//! indicatif bars. Tests and library users who want nothing shown pass [`Silent`].

/// Receiver of progress events. Every method has a no-op default, so an implementation only
/// overrides what it shows. One step is current at a time; `begin` replaces the previous one.
pub trait Progress: Send + Sync {
    /// A step begins: `label` names it ("epoch 3/30", "sweep", "yosys"), `total` is its length in
    /// units (images, batches, jobs), or `None` for work of unknown length (a spinner).
    fn begin(&self, _label: &str, _total: Option<u64>) {}
    /// Units of the current step done so far.
    fn set_position(&self, _pos: u64) {}
    /// `n` more units of the current step are done.
    fn advance(&self, _n: u64) {}
    /// Transient status of the current step (the bar's message, a tool's latest log line).
    fn status(&self, _msg: &str) {}
    /// A line to keep: shown above the bar, or as a plain line when no bar is drawn.
    fn line(&self, _msg: &str) {}
    /// The current step is over (its bar is cleared).
    fn end(&self) {}
    /// Whether a live bar is drawn. Without one (no terminal, a log file), a library may send
    /// extra `line`s so that long steps still leave a trace (e.g. ten per training epoch).
    fn is_live(&self) -> bool {
        false
    }
}

/// Shows nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Progress for Silent {}

/// Collects every `line` (tests assert on what a library said).
#[derive(Debug, Default)]
pub struct Lines(pub std::sync::Mutex<Vec<String>>);

impl Progress for Lines {
    fn line(&self, msg: &str) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(msg.to_string());
    }
}

impl Lines {
    /// The lines received so far.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}
