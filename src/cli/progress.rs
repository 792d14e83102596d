//! The CLI's [`Progress`]: indicatif bars on a terminal, plain lines on stderr otherwise.

use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Mutex;
use unibit_core::Progress;

/// Bars for one command. `quiet` hides bars and status; kept lines still go to stderr.
pub struct Bars {
    bar: Mutex<Option<ProgressBar>>,
    quiet: bool,
}

impl Bars {
    pub fn new(quiet: bool) -> Self {
        Bars {
            bar: Mutex::new(None),
            quiet,
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Option<ProgressBar>) -> R) -> R {
        f(&mut self.bar.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Progress for Bars {
    fn begin(&self, label: &str, total: Option<u64>) {
        let bar = if self.quiet {
            ProgressBar::hidden()
        } else {
            match total {
                Some(n) => ProgressBar::new(n).with_style(
                    ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({eta})")
                        .expect("valid template")
                        .progress_chars("=> "),
                ),
                None => {
                    let s = ProgressBar::new_spinner().with_style(
                        ProgressStyle::with_template("  {spinner} {prefix} {elapsed} {wide_msg}")
                            .expect("valid template"),
                    );
                    s.enable_steady_tick(std::time::Duration::from_millis(250));
                    s
                }
            }
        };
        bar.set_prefix(label.to_string());
        self.with(|b| {
            if let Some(old) = b.replace(bar) {
                old.finish_and_clear();
            }
        });
    }
    fn set_position(&self, pos: u64) {
        self.with(|b| b.as_ref().map(|b| b.set_position(pos)));
    }
    fn advance(&self, n: u64) {
        self.with(|b| b.as_ref().map(|b| b.inc(n)));
    }
    fn status(&self, msg: &str) {
        self.with(|b| b.as_ref().map(|b| b.set_message(msg.to_string())));
    }
    fn line(&self, msg: &str) {
        self.with(|b| match b {
            Some(b) if !b.is_hidden() => b.println(msg),
            _ => eprintln!("{msg}"),
        });
    }
    fn end(&self) {
        self.with(|b| {
            if let Some(b) = b.take() {
                b.finish_and_clear();
            }
        });
    }
    fn is_live(&self) -> bool {
        !self.quiet && !ProgressBar::new(1).is_hidden()
    }
}
