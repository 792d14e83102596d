//! Reading sweep results: sweep directories (their `results.jsonl`) or JSON-lines files of
//! [`RunRecord`]s, validated line by line, with exact duplicates of a run (a resumed sweep that
//! appended twice, or the same file given twice) kept once.

use crate::error::{Error, Result};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use unibit_core::results::{Method, RunRecord};
use unibit_core::size::SizeAccounting;

/// The file a sweep directory keeps its records in.
pub const RESULTS_FILE: &str = "results.jsonl";

/// One record and where it came from.
#[derive(Clone, Debug, Serialize)]
pub struct Sourced {
    #[serde(flatten)]
    pub record: RunRecord,
    pub source: PathBuf,
    pub line: usize,
}

/// All records of the inputs, plus what was noticed on the way (dropped duplicates).
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    pub files: Vec<PathBuf>,
    pub records: Vec<Sourced>,
    pub warnings: Vec<String>,
}

/// The results file behind an input: the path itself, or `results.jsonl` inside a directory.
pub fn results_file(input: &Path) -> Result<PathBuf> {
    if input.is_dir() {
        let f = input.join(RESULTS_FILE);
        if f.is_file() {
            Ok(f)
        } else {
            Err(Error::Path {
                path: input.to_path_buf(),
                msg: format!("expected a sweep directory holding {RESULTS_FILE}, found none"),
            })
        }
    } else if input.is_file() {
        Ok(input.to_path_buf())
    } else {
        Err(Error::Path {
            path: input.to_path_buf(),
            msg: format!(
                "no such file or directory (expected a sweep directory or a {RESULTS_FILE} file)"
            ),
        })
    }
}

/// Parse one JSON-lines file of run records; errors name the file and line.
pub fn read_file(path: &Path) -> Result<Vec<Sourced>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        if l.trim().is_empty() {
            continue;
        }
        let bad = |msg: String| Error::Input {
            file: path.to_path_buf(),
            line: i + 1,
            msg,
        };
        let record: RunRecord = serde_json::from_str(l).map_err(|source| Error::Json {
            file: path.to_path_buf(),
            line: i + 1,
            source,
        })?;
        validate(&record).map_err(bad)?;
        out.push(Sourced {
            record,
            source: path.to_path_buf(),
            line: i + 1,
        });
    }
    Ok(out)
}

/// Record invariants the report relies on, as "field: expected …, found …".
fn validate(r: &RunRecord) -> std::result::Result<(), String> {
    let field = |name: &str, expected: &str, found: String| {
        Err(format!("{name}: expected {expected}, found {found}"))
    };
    for (name, v) in [
        ("float_acc", r.float_acc),
        ("fake_quant_acc", r.fake_quant_acc),
        ("int_acc", r.int_acc),
    ] {
        if let Some(a) = v {
            if !(0.0..=1.0).contains(&a) {
                return field(name, "a fraction in [0, 1]", a.to_string());
            }
        }
    }
    if !(r.width.is_finite() && r.width > 0.0) {
        return field("width", "a positive number", r.width.to_string());
    }
    if r.size_bits == 0 {
        return field("size_bits", "a positive bit count", "0".into());
    }
    match r.method {
        Method::Uniform => match r.bits {
            Some(b @ 1..=16) => {
                if let Some(&other) = r.layer_bits.iter().find(|&&x| x != b) {
                    return field(
                        "layer_bits",
                        &format!("every layer at bits = {b} for a uniform run"),
                        format!("a layer at {other}"),
                    );
                }
            }
            Some(b) => return field("bits", "a bitwidth in 1..=16", b.to_string()),
            None => return field("bits", "a bitwidth for a uniform run", "null".into()),
        },
        Method::MixedBudget | Method::MixedZeroDegradation => {
            if r.layer_bits.is_empty() {
                return field(
                    "layer_bits",
                    "per-layer bitwidths for a mixed-precision run",
                    "[]".into(),
                );
            }
        }
    }
    Ok(())
}

/// Keep only the last record of each `key`, with a warning per dropped one.
fn drop_repeats<K: std::hash::Hash + Eq>(loaded: &mut Loaded, key: impl Fn(&Sourced) -> K) {
    let mut last: HashMap<K, usize> = HashMap::new();
    for (i, s) in loaded.records.iter().enumerate() {
        if let Some(prev) = last.insert(key(s), i) {
            let p = &loaded.records[prev];
            loaded.warnings.push(format!(
                "{}:{} repeats the run of {}:{} ({}); kept the later line",
                s.source.display(),
                s.line,
                p.source.display(),
                p.line,
                s.record.run_dir
            ));
        }
    }
    let keep: std::collections::HashSet<usize> = last.into_values().collect();
    let mut i = 0;
    loaded.records.retain(|_| {
        i += 1;
        keep.contains(&(i - 1))
    });
}

/// Keep only the records planned under `accounting`, with a warning saying how many others
/// were left out; none left is an error naming the first input.
pub fn keep_accounting(loaded: &mut Loaded, accounting: SizeAccounting) -> Result<()> {
    let before = loaded.records.len();
    loaded
        .records
        .retain(|s| s.record.size_accounting == accounting);
    let dropped = before - loaded.records.len();
    if loaded.records.is_empty() {
        return Err(Error::Path {
            path: loaded.files[0].clone(),
            msg: format!(
                "no run records under the {accounting} size accounting in the inputs ({before} under the other)"
            ),
        });
    }
    if dropped > 0 {
        loaded.warnings.push(format!(
            "{dropped} record(s) under another size accounting left out (only {accounting} was asked for)"
        ));
    }
    Ok(())
}

/// Read every input (sweep directories or results files), in order, dropping repeated runs.
pub fn load(inputs: &[PathBuf]) -> Result<Loaded> {
    let mut loaded = Loaded::default();
    if inputs.is_empty() {
        return Err(Error::Path {
            path: PathBuf::from("(inputs)"),
            msg: "expected at least one sweep directory or results file".into(),
        });
    }
    for input in inputs {
        let file = results_file(input)?;
        if loaded.files.contains(&file) {
            loaded
                .warnings
                .push(format!("{} given twice; read once", file.display()));
            continue;
        }
        loaded.records.extend(read_file(&file)?);
        loaded.files.push(file);
    }
    // A run is identified by what it trained (recipe included) and where it lives — its run
    // directory, resolved against its results file's directory, since two studies may both have
    // a `budget-64KiB` — and a later line replaces an earlier (a job re-run into the same file).
    // A byte-identical record from another file (a copy of the results) is the same run too.
    let key = |s: &Sourced| {
        let r = &s.record;
        let dir = s.source.parent().unwrap_or(Path::new("")).join(&r.run_dir);
        (
            r.family.to_string(),
            format!("{:?}", r.method),
            r.bits,
            r.budget_bits,
            r.seed,
            r.epochs,
            r.width.to_bits(),
            dir,
            r.layer_bits.clone(),
            r.size_accounting,
        )
    };
    let content = |s: &Sourced| serde_json::to_string(&s.record).unwrap_or_default();
    drop_repeats(&mut loaded, content);
    drop_repeats(&mut loaded, key);
    if loaded.records.is_empty() {
        return Err(Error::Path {
            path: loaded.files[0].clone(),
            msg: "no run records in the inputs (empty results files)".into(),
        });
    }
    Ok(loaded)
}
