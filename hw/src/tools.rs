//! Running the FPGA tools of the synthesis flow: found on PATH or in the EDA venv, run in the
//! build folder with their output in a log, followed through [`Progress`] while they run.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use unibit_core::Progress;

pub fn find_tool(name: &str) -> Result<PathBuf> {
    let mut dirs: Vec<PathBuf> = vec![];
    if let Ok(v) = std::env::var("UNIBIT_EDA_VENV") {
        dirs.push(Path::new(&v).join("bin"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(Path::new(&home).join(".cache/unibit/venv-eda/bin"));
    }
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| Error::EdaToolMissing { tool: name.into() })
}

/// The last `bytes` of a growing log (empty if it cannot be read yet): enough for the latest
/// line and for the router's recent progress rows, without re-reading the whole log.
fn log_tail(path: &Path, bytes: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(bytes)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// The last non-empty line of `text`, shortened for a progress message.
fn last_line(text: &str) -> String {
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .chars()
        .take(100)
        .collect()
}

/// The command as a user would type it in a shell (recorded in the report).
fn shell_line(dir: &Path, tool: &str, args: &[String]) -> String {
    let quoted: Vec<String> = args
        .iter()
        .map(|a| {
            if a.contains(' ') {
                format!("'{a}'")
            } else {
                a.clone()
            }
        })
        .collect();
    format!("(cd {} && {} {})", dir.display(), tool, quoted.join(" "))
}

/// A tool run in a build folder with its stdout and stderr in `log` there.
pub struct ToolRun<'a> {
    pub dir: &'a Path,
    pub tool: &'a str,
    pub args: &'a [String],
    pub log: &'a str,
}

/// Checks a running tool's log tail; `Some(error)` stops the tool with that error.
pub type Watch<'a> = &'a dyn Fn(&str) -> Option<Error>;

/// Polls between checks of the watch (250 ms each).
const WATCH_EVERY: u64 = 20;

impl ToolRun<'_> {
    fn log_path(&self) -> PathBuf {
        self.dir.join(self.log)
    }

    fn spawn(&self) -> Result<Child> {
        let exe = find_tool(self.tool)?;
        let log = self.log_path();
        let file = std::fs::File::create(&log).map_err(Error::io("creating", &log))?;
        let err = file.try_clone().map_err(Error::io("opening", &log))?;
        Command::new(&exe)
            .current_dir(self.dir)
            .args(self.args)
            .stdout(err)
            .stderr(file)
            .spawn()
            .map_err(Error::io("running", exe))
    }

    /// Runs the tool to the end; its log on success. The command goes into `cmds` first. The
    /// tool writes straight into its log, so a long place-and-route can be followed with
    /// `tail -f`; meanwhile `progress` shows a spinner with its latest line.
    pub fn run(
        &self,
        cmds: &mut Vec<String>,
        progress: &dyn Progress,
        watch: Option<Watch>,
    ) -> Result<String> {
        cmds.push(shell_line(self.dir, self.tool, self.args));
        let mut child = self.spawn()?;
        progress.begin(self.tool, None);
        let status = self.follow(&mut child, progress, watch);
        progress.end();
        let status = status?;
        let log = self.log_path();
        let text = std::fs::read_to_string(&log).map_err(Error::io("reading", &log))?;
        if !status.success() {
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            return Err(Error::ToolFailed {
                tool: self.tool.into(),
                how: format!(
                    " (exit {}); see {}",
                    status.code().unwrap_or(-1),
                    log.display()
                ),
                output: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
            });
        }
        Ok(text)
    }

    /// Waits for the tool, showing its latest log line; stops it when `watch` objects.
    fn follow(
        &self,
        child: &mut Child,
        progress: &dyn Progress,
        watch: Option<Watch>,
    ) -> Result<ExitStatus> {
        let log = self.log_path();
        let mut polls = 0u64;
        loop {
            if let Some(status) = child.try_wait().map_err(Error::io("waiting for", &log))? {
                return Ok(status);
            }
            let tail = log_tail(&log, 16 * 1024);
            progress.status(&last_line(&tail));
            std::thread::sleep(std::time::Duration::from_millis(250));
            polls += 1;
            let objection = watch
                .filter(|_| polls.is_multiple_of(WATCH_EVERY))
                .and_then(|w| w(&tail));
            if let Some(e) = objection {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        }
    }
}
