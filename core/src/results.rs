//! Experiment records: one row per finished training (uniform or mixed precision), shared by
//! the sweep driver that writes them and the report that plots them. Stored as JSON lines.

use crate::error::{Error, Result};
use crate::family::Family;
use crate::size::SizeAccounting;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

/// How a run's bitwidths were chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// One bitwidth for every layer, width from the iso-size solver (or given).
    Uniform,
    /// Mixed precision at a given budget (Hessian-trace sensitivity allocation).
    MixedBudget,
    /// Mixed precision: the smallest size with no accuracy loss against the 8-bit model.
    MixedZeroDegradation,
}

/// One finished run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub family: Family,
    pub method: Method,
    /// The uniform bitwidth; `None` for mixed precision.
    pub bits: Option<u8>,
    /// Per conv/linear layer bitwidths (graph order); all equal for uniform runs.
    pub layer_bits: Vec<u8>,
    pub width: f64,
    pub seed: u64,
    pub epochs: usize,
    /// The budget the width was solved for, if any.
    pub budget_bits: Option<u64>,
    /// Weight count, and model size in bits: weights part, parameter part, and the size under
    /// `size_accounting` (weight bits, or weight + parameter bits).
    pub weights: u64,
    pub weight_bits: u64,
    pub param_bits: u64,
    pub size_bits: u64,
    /// What `size_bits` and `budget_bits` count: the accounting the run was planned under.
    /// Absent (records before it existed, and every engine-accounted record): the engine's.
    #[serde(default, skip_serializing_if = "SizeAccounting::is_engine")]
    pub size_accounting: SizeAccounting,
    /// Test accuracies in [0, 1].
    pub float_acc: Option<f64>,
    pub fake_quant_acc: Option<f64>,
    pub int_acc: Option<f64>,
    /// Predicted cycles per image on the reference array (`engine` says which).
    pub cycles: Option<u64>,
    pub engine: Option<String>,
    /// Where the run lives (relative to the sweep directory).
    pub run_dir: String,
    /// The board whose on-chip memory was the budget (`budget_bits` is then that memory:
    /// weights, parameters and activation buffers of the whole-network engine), and `cycles`
    /// are that board's whole-network engine's. Absent for size budgets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub board: Option<String>,
}

/// Append one record to a JSON-lines file (one write call, so concurrent appenders don't tear).
pub fn append(path: &Path, rec: &RunRecord) -> Result<()> {
    let line = to_line(rec, path)?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    f.write_all(line.as_bytes()).map_err(|e| Error::io(path, e))
}

/// Replace a JSON-lines file with `records` atomically (a table that is rebuilt, not appended).
pub fn write(path: &Path, records: &[RunRecord]) -> Result<()> {
    let text = records
        .iter()
        .map(|r| to_line(r, path))
        .collect::<Result<String>>()?;
    crate::atomic::write_atomic(path, text.as_bytes())
}

/// One record as a JSON line (with its newline), for the table at `path`.
fn to_line(rec: &RunRecord, path: &Path) -> Result<String> {
    let mut line = serde_json::to_string(rec).map_err(|e| Error::json(path, e))?;
    line.push('\n');
    Ok(line)
}

/// Read a JSON-lines file of records; errors name the file and line.
pub fn read(path: &Path) -> Result<Vec<RunRecord>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|source| Error::Json {
                path: path.to_path_buf(),
                line: Some(i + 1),
                source,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_write_and_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.jsonl");
        let r = RunRecord {
            family: Family::ResNet { depth: 20 },
            method: Method::Uniform,
            bits: Some(2),
            layer_bits: vec![2; 3],
            width: 1.5,
            seed: 0,
            epochs: 3,
            budget_bits: Some(524288),
            weights: 10,
            weight_bits: 20,
            param_bits: 5,
            size_bits: 25,
            size_accounting: SizeAccounting::Engine,
            float_acc: Some(0.9),
            fake_quant_acc: Some(0.89),
            int_acc: Some(0.889),
            cycles: Some(1000),
            engine: Some("8x8".into()),
            run_dir: "runs/x".into(),
            board: None,
        };
        append(&p, &r).unwrap();
        append(&p, &r).unwrap();
        assert_eq!(read(&p).unwrap(), vec![r.clone(), r.clone()]);
        // `write` replaces the table.
        let mut other = r.clone();
        other.seed = 1;
        write(&p, std::slice::from_ref(&other)).unwrap();
        assert_eq!(read(&p).unwrap(), vec![other]);
        // The engine accounting is the default: written as nothing, read from nothing.
        assert!(!to_line(&r, &p).unwrap().contains("size_accounting"));
        let mut w = r.clone();
        w.size_accounting = SizeAccounting::Weights;
        w.size_bits = w.weight_bits;
        let line = to_line(&w, &p).unwrap();
        assert!(line.contains(r#""size_accounting":"weights""#), "{line}");
        write(&p, &[w.clone(), r.clone()]).unwrap();
        assert_eq!(read(&p).unwrap(), vec![w, r.clone()]);
        std::fs::write(&p, "{}\n").unwrap();
        assert!(read(&p).unwrap_err().to_string().contains("line 1"));
    }
}
