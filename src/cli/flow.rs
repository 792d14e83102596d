//! A flow is an ordered list of named steps, each leaving its outputs in its own folder with a
//! stamp (`.step.json`) of the parameters that made them. A step whose stamp matches and whose
//! outputs exist is skipped, so re-running a flow reuses finished work.

use anyhow::{Context, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub struct Flow {
    pub root: PathBuf,
    pub total: usize,
    done: usize,
}

/// What a step reports when it finishes (shown in the flow's log and kept in its stamp).
pub type StepSummary = Value;

impl Flow {
    pub fn new(root: &Path, total: usize) -> Result<Self> {
        std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
        Ok(Flow {
            root: root.to_path_buf(),
            total,
            done: 0,
        })
    }

    /// The folder of step `name`.
    pub fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Run step `name` unless its stamp equals `params` and `outputs` (relative to its folder)
    /// exist. `f` gets the step's folder and returns a summary.
    pub fn step(
        &mut self,
        name: &str,
        what: &str,
        params: Value,
        outputs: &[&str],
        f: impl FnOnce(&Path) -> Result<StepSummary>,
    ) -> Result<StepSummary> {
        self.done += 1;
        let dir = self.dir(name);
        let stamp = dir.join(".step.json");
        let tag = format!("[{}/{}] {name}", self.done, self.total);
        if let Ok(text) = std::fs::read_to_string(&stamp) {
            if let Ok(old) = serde_json::from_str::<Value>(&text) {
                if old.get("params") == Some(&params)
                    && outputs.iter().all(|o| dir.join(o).exists())
                {
                    eprintln!("{tag}: up to date ({what}) — skipped");
                    return Ok(old.get("summary").cloned().unwrap_or(Value::Null));
                }
            }
        }
        eprintln!("{tag}: {what} …");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let _ = std::fs::remove_file(&stamp);
        let start = Instant::now();
        let summary = f(&dir).with_context(|| format!("step {name} ({what}) failed"))?;
        let secs = start.elapsed().as_secs_f64();
        let record = serde_json::json!({ "params": params, "summary": summary, "seconds": secs });
        super::write_atomic(&stamp, serde_json::to_string_pretty(&record)?.as_bytes())?;
        eprintln!("{tag}: done in {secs:.1} s");
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_skipped_when_current_and_rerun_when_not() {
        let tmp = tempfile::tempdir().unwrap();
        let mut runs = 0;
        for (p, expect_runs) in [(1, 1), (1, 1), (2, 2)] {
            let mut flow = Flow::new(tmp.path(), 1).unwrap();
            flow.step(
                "a",
                "test",
                serde_json::json!({ "p": p }),
                &["out.txt"],
                |d| {
                    runs += 1;
                    std::fs::write(d.join("out.txt"), "x")?;
                    Ok(Value::Null)
                },
            )
            .unwrap();
            assert_eq!(runs, expect_runs);
        }
        // A missing output forces a re-run even with the same parameters.
        std::fs::remove_file(tmp.path().join("a/out.txt")).unwrap();
        let mut flow = Flow::new(tmp.path(), 1).unwrap();
        flow.step(
            "a",
            "test",
            serde_json::json!({ "p": 2 }),
            &["out.txt"],
            |d| {
                runs += 1;
                std::fs::write(d.join("out.txt"), "x")?;
                Ok(Value::Null)
            },
        )
        .unwrap();
        assert_eq!(runs, 3);
        // A failing step names itself.
        let mut flow = Flow::new(tmp.path(), 1).unwrap();
        let e = flow
            .step("b", "broken", Value::Null, &[], |_| anyhow::bail!("boom"))
            .unwrap_err();
        assert!(format!("{e:#}").contains("step b (broken) failed: boom"));
    }
}
