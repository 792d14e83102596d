//! The demo's flow: [`unibit_core::flow::Flow`] (named steps, `.step.json` stamps, skipped when
//! current) with its `[i/n] step: …` lines on stderr and anyhow errors.

use anyhow::Result;
use std::path::{Path, PathBuf};
pub use unibit_core::flow::StepSummary;
use unibit_core::Progress;

/// Progress lines on stderr (what the demo printed before the flow moved into core).
struct Stderr;

impl Progress for Stderr {
    fn line(&self, msg: &str) {
        eprintln!("{msg}");
    }
}

pub struct Flow(unibit_core::flow::Flow<'static>);

impl Flow {
    pub fn new(root: &Path, total: usize) -> Result<Self> {
        Ok(Flow(unibit_core::flow::Flow::new(root, total, &Stderr)?))
    }

    /// The folder of step `name`.
    pub fn dir(&self, name: &str) -> PathBuf {
        self.0.dir(name)
    }

    /// Run step `name` unless its stamp equals `params` and `outputs` exist (see core's flow).
    pub fn step(
        &mut self,
        name: &str,
        what: &str,
        params: serde_json::Value,
        outputs: &[&str],
        f: impl FnOnce(&Path) -> Result<StepSummary>,
    ) -> Result<StepSummary> {
        Ok(self.0.step(name, what, params, outputs, f)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn a_failing_step_names_itself_with_its_cause() {
        let tmp = tempfile::tempdir().unwrap();
        let mut flow = Flow::new(tmp.path(), 1).unwrap();
        let e = flow
            .step("b", "broken", Value::Null, &[], |_| anyhow::bail!("boom"))
            .unwrap_err();
        assert!(format!("{e:#}").contains("step b (broken) failed: boom"));
    }
}
