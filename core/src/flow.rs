//! A flow is an ordered list of named steps, each leaving its outputs on disk with a stamp
//! (`.step.json`) of the parameters that made them. A step whose stamp matches and whose
//! outputs exist is skipped, so re-running a flow reuses finished work.
//!
//! Steps live in their own folders (`ROOT/NAME/`, stamp `ROOT/NAME/.step.json`; the demo) or
//! share one folder (`ROOT/`, stamp `ROOT/.NAME.step.json`; `hw synth`, whose tools expect every
//! file side by side). The flow reports `[i/n] step: …` lines through [`Progress`].

use crate::atomic::write_atomic;
use crate::progress::Progress;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What a step reports when it finishes (shown in the flow's log and kept in its stamp).
pub type StepSummary = Value;

/// Any error a step may fail with (an `anyhow::Error` converts into it).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// A step failed; the step's own error is the source.
    #[error("step {name} ({what}) failed")]
    Step {
        name: String,
        what: String,
        #[source]
        source: BoxError,
    },
    #[error(transparent)]
    Core(#[from] crate::Error),
}

/// Where the steps keep their outputs and stamps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `ROOT/NAME/` for each step, stamp `ROOT/NAME/.step.json`.
    PerStep,
    /// Every step in `ROOT/`, stamp `ROOT/.NAME.step.json`.
    Shared,
}

pub struct Flow<'p> {
    pub root: PathBuf,
    pub total: usize,
    layout: Layout,
    done: usize,
    progress: &'p dyn Progress,
}

impl<'p> Flow<'p> {
    /// A flow of `total` steps in their own folders under `root`.
    pub fn new(root: &Path, total: usize, progress: &'p dyn Progress) -> Result<Self, FlowError> {
        Self::with_layout(root, total, Layout::PerStep, progress)
    }

    pub fn with_layout(
        root: &Path,
        total: usize,
        layout: Layout,
        progress: &'p dyn Progress,
    ) -> Result<Self, FlowError> {
        std::fs::create_dir_all(root).map_err(|e| crate::Error::io(root, e))?;
        Ok(Flow {
            root: root.to_path_buf(),
            total,
            layout,
            done: 0,
            progress,
        })
    }

    /// The folder of step `name`.
    pub fn dir(&self, name: &str) -> PathBuf {
        match self.layout {
            Layout::PerStep => self.root.join(name),
            Layout::Shared => self.root.clone(),
        }
    }

    fn stamp(&self, name: &str) -> PathBuf {
        match self.layout {
            Layout::PerStep => self.dir(name).join(".step.json"),
            Layout::Shared => self.root.join(format!(".{name}.step.json")),
        }
    }

    /// The summary of step `name` when its stamp equals `params` and `outputs` exist.
    fn current(&self, name: &str, params: &Value, outputs: &[&str]) -> Option<StepSummary> {
        let dir = self.dir(name);
        let old: Value =
            serde_json::from_str(&std::fs::read_to_string(self.stamp(name)).ok()?).ok()?;
        (old.get("params") == Some(params) && outputs.iter().all(|o| dir.join(o).exists()))
            .then(|| old.get("summary").cloned().unwrap_or(Value::Null))
    }

    /// Run step `name` unless its stamp equals `params` and `outputs` (relative to its folder)
    /// exist. `f` gets the step's folder and returns a summary.
    pub fn step<E: Into<BoxError>>(
        &mut self,
        name: &str,
        what: &str,
        params: Value,
        outputs: &[&str],
        f: impl FnOnce(&Path) -> Result<StepSummary, E>,
    ) -> Result<StepSummary, FlowError> {
        self.done += 1;
        let tag = format!("[{}/{}] {name}", self.done, self.total);
        if let Some(summary) = self.current(name, &params, outputs) {
            self.progress
                .line(&format!("{tag}: up to date ({what}) — skipped"));
            return Ok(summary);
        }
        self.progress.line(&format!("{tag}: {what} …"));
        let dir = self.dir(name);
        let stamp = self.stamp(name);
        std::fs::create_dir_all(&dir).map_err(|e| crate::Error::io(&dir, e))?;
        let _ = std::fs::remove_file(&stamp);
        let start = Instant::now();
        let summary = f(&dir).map_err(|e| FlowError::Step {
            name: name.to_string(),
            what: what.to_string(),
            source: e.into(),
        })?;
        let secs = start.elapsed().as_secs_f64();
        let record = serde_json::json!({ "params": params, "summary": summary, "seconds": secs });
        let text = serde_json::to_string_pretty(&record).expect("a JSON value serializes");
        write_atomic(&stamp, text.as_bytes())?;
        self.progress.line(&format!("{tag}: done in {secs:.1} s"));
        Ok(summary)
    }

    /// Forgets step `name`'s stamp, so it runs next time (its outputs changed behind its back).
    pub fn invalidate(&self, name: &str) {
        let _ = std::fs::remove_file(self.stamp(name));
    }

    /// Counts step `name` as not run, for `why` (e.g. an earlier step's result rules it out).
    pub fn pass(&mut self, name: &str, why: &str) {
        self.done += 1;
        self.progress.line(&format!(
            "[{}/{}] {name}: not run ({why})",
            self.done, self.total
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Lines;

    fn write_out(d: &Path) -> Result<Value, std::io::Error> {
        std::fs::write(d.join("out.txt"), "x")?;
        Ok(Value::Null)
    }

    #[test]
    fn steps_are_skipped_when_current_and_rerun_when_not() {
        let tmp = tempfile::tempdir().unwrap();
        let lines = Lines::default();
        let mut runs = 0;
        for (p, expect_runs) in [(1, 1), (1, 1), (2, 2)] {
            let mut flow = Flow::new(tmp.path(), 1, &lines).unwrap();
            let params = serde_json::json!({ "p": p });
            flow.step("a", "test", params, &["out.txt"], |d| {
                runs += 1;
                write_out(d)
            })
            .unwrap();
            assert_eq!(runs, expect_runs);
        }
        let said: Vec<String> = lines
            .take()
            .into_iter()
            .filter(|l| !l.contains("done in"))
            .collect();
        assert_eq!(
            said,
            [
                "[1/1] a: test …",
                "[1/1] a: up to date (test) — skipped",
                "[1/1] a: test …"
            ]
        );
        // A missing output forces a re-run even with the same parameters.
        std::fs::remove_file(tmp.path().join("a/out.txt")).unwrap();
        let mut flow = Flow::new(tmp.path(), 1, &lines).unwrap();
        let params = serde_json::json!({ "p": 2 });
        flow.step("a", "test", params, &["out.txt"], |d| {
            runs += 1;
            write_out(d)
        })
        .unwrap();
        assert_eq!(runs, 3);
        // A failing step names itself, with its error as the source.
        let mut flow = Flow::new(tmp.path(), 1, &lines).unwrap();
        let e = flow
            .step("b", "broken", Value::Null, &[], |_| Err("boom"))
            .unwrap_err();
        assert_eq!(e.to_string(), "step b (broken) failed");
        assert_eq!(std::error::Error::source(&e).unwrap().to_string(), "boom");
    }

    #[test]
    fn shared_steps_keep_stamps_side_by_side() {
        let tmp = tempfile::tempdir().unwrap();
        let mut flow = Flow::with_layout(tmp.path(), 2, Layout::Shared, &crate::Silent).unwrap();
        assert_eq!(flow.dir("a"), tmp.path());
        flow.step("a", "x", Value::Null, &["out.txt"], write_out)
            .unwrap();
        assert!(tmp.path().join(".a.step.json").is_file());
        assert!(tmp.path().join("out.txt").is_file());
    }
}
