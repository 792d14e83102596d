//! Sweep plans as the report's list of expected runs: with a plan, the report says which of
//! its cells are finished, and marks a verdict whose budget still has planned runs missing as
//! incomplete, instead of judging from whatever happened to finish.
//!
//! Only the fields that identify a run are read (`unibit sweep plan` writes more). A record is
//! a planned job's result when family, bitwidth, budget, seed, epochs and size accounting all
//! agree (uniform runs; the mixed studies have no plan).

use crate::error::{Error, Result};
use crate::load::Sourced;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use unibit_core::results::Method;
use unibit_core::size::SizeAccounting;
use unibit_core::Family;

/// The plan file a sweep directory keeps.
pub const PLAN_FILE: &str = "plan.json";
const FORMAT: &str = "unibit-sweep-plan";
/// A plan bigger than this is not a sweep plan (bounds what a bad input can allocate).
const MAX_BYTES: u64 = 64 << 20;

#[derive(Deserialize)]
struct PlanFile {
    format: String,
    family: Family,
    #[serde(default)]
    size_accounting: SizeAccounting,
    train: Train,
    jobs: Vec<Job>,
}

#[derive(Deserialize)]
struct Train {
    epochs: usize,
}

#[derive(Deserialize)]
struct Job {
    id: String,
    budget_bits: u64,
    bits: u8,
    seed: u64,
}

/// One plan and which of its jobs have a record among the inputs.
#[derive(Clone, Debug, Serialize)]
pub struct Completeness {
    pub plan: PathBuf,
    pub family: Family,
    pub size_accounting: SizeAccounting,
    pub epochs: usize,
    pub planned: usize,
    pub finished: usize,
    /// The unfinished jobs: (budget bits, id, "B = b seed s").
    pub missing: Vec<Missing>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Missing {
    pub id: String,
    pub budget_bits: u64,
    pub bits: u8,
    pub seed: u64,
}

impl Completeness {
    /// The planned runs of (family, accounting, budget) that have no record.
    pub fn missing_at(
        &self,
        family: &str,
        accounting: SizeAccounting,
        budget_bits: u64,
    ) -> impl Iterator<Item = &Missing> {
        let ours = self.family.to_string() == family && self.size_accounting == accounting;
        self.missing
            .iter()
            .filter(move |m| ours && m.budget_bits == budget_bits)
    }
}

/// Read a plan (a file, or `plan.json` in a sweep directory).
fn read(path: &Path) -> Result<(PathBuf, PlanFile)> {
    let file = if path.is_dir() {
        path.join(PLAN_FILE)
    } else {
        path.to_path_buf()
    };
    let meta = std::fs::metadata(&file).map_err(|e| Error::io(&file, e))?;
    if meta.len() > MAX_BYTES {
        return Err(Error::Path {
            path: file,
            msg: format!(
                "{} bytes: expected a sweep plan (at most {MAX_BYTES} bytes)",
                meta.len()
            ),
        });
    }
    let text = std::fs::read_to_string(&file).map_err(|e| Error::io(&file, e))?;
    let plan: PlanFile = serde_json::from_str(&text).map_err(|e| Error::Path {
        path: file.clone(),
        msg: format!("not a sweep plan (`unibit sweep plan` output): {e}"),
    })?;
    if plan.format != FORMAT {
        return Err(Error::Path {
            path: file,
            msg: format!("format: expected {FORMAT:?}, found {:?}", plan.format),
        });
    }
    Ok((file, plan))
}

/// Which jobs of each plan the records finish.
pub fn completeness(plans: &[PathBuf], records: &[Sourced]) -> Result<Vec<Completeness>> {
    let mut out = vec![];
    for p in plans {
        let (file, plan) = read(p)?;
        let done = |j: &Job| {
            records.iter().any(|s| {
                let r = &s.record;
                r.method == Method::Uniform
                    && r.family == plan.family
                    && r.size_accounting == plan.size_accounting
                    && r.bits == Some(j.bits)
                    && r.budget_bits == Some(j.budget_bits)
                    && r.seed == j.seed
                    && r.epochs == plan.train.epochs
            })
        };
        let missing: Vec<Missing> = plan
            .jobs
            .iter()
            .filter(|j| !done(j))
            .map(|j| Missing {
                id: j.id.clone(),
                budget_bits: j.budget_bits,
                bits: j.bits,
                seed: j.seed,
            })
            .collect();
        out.push(Completeness {
            plan: file,
            family: plan.family,
            size_accounting: plan.size_accounting,
            epochs: plan.train.epochs,
            planned: plan.jobs.len(),
            finished: plan.jobs.len() - missing.len(),
            missing,
        });
    }
    Ok(out)
}
