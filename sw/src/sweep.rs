//! Iso-size sweeps: one training per (budget, bitwidth B, seed), the width solved for the budget
//! at B, each run exported and measured, one [`RunRecord`] per run in `SWEEP/results.jsonl`.
//!
//! A sweep is a directory:
//!
//! ```text
//! SWEEP/plan.json            the job list (one entry per (family, budget, B, seed), width solved)
//! SWEEP/runs/<job id>/       the training run (config.json, checkpoints, metrics.jsonl),
//!                            bundle/ (the export), log, record.json, done
//! SWEEP/results.jsonl        written by collect: every finished job's record, in plan order
//! ```
//!
//! A job is finished when its `done` marker exists (written after `record.json`); running a
//! finished job does nothing, and an unfinished one resumes from its last checkpoint. Jobs are
//! independent, so they run one after the other, as parallel local processes (`--jobs N`), or
//! as Slurm array tasks (`sweep run` reads `SLURM_ARRAY_TASK_ID`); `collect` merges.

use crate::checkpoint::{self, CHECKPOINT_JSON};
use crate::error::{chain, read_json, write_json, Difference, Error, Result, ResultExt};
use crate::export::{self, ExportOptions};
use crate::net::QuantSpec;
use crate::train::{self, RunOptions, TrainConfig, CONFIG_JSON};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tch::Device;
use unibit_core::cost::{model_cost, tile_engine};
use unibit_core::engine::{self, Memories};
use unibit_core::family::FamilyConfig;
use unibit_core::progress::{Progress, Silent};
use unibit_core::results::{self, Method, RunRecord};
use unibit_core::size::{
    board_report, board_shape, format_bits, model_size, parse_bits, solve_width, SizeAccounting,
};
use unibit_core::{Bits, Family};

pub const PLAN_JSON: &str = "plan.json";
/// Most jobs in one sweep: bounds the plan (and its memory) before it is built.
pub const MAX_JOBS: u64 = 100_000;
pub const PLAN_FORMAT: &str = "unibit-sweep-plan";
pub const PLAN_VERSION: u32 = 1;
pub const RESULTS_JSONL: &str = "results.jsonl";
pub const RECORD_JSON: &str = "record.json";
pub const DONE: &str = "done";
pub const LOG: &str = "log";
pub const BUNDLE_DIR: &str = "bundle";
/// The reference array predicted cycles are given for: 8 rows × 8 lanes, default timing.
pub const REFERENCE_ROWS: usize = 8;
pub const REFERENCE_COLS: usize = 8;
/// `engine` of uniform records: the reference array at the run's own B.
pub const REFERENCE_ENGINE: &str = "8x8";

pub use crate::train::TrainSettings;

/// How each run is exported and measured (written in plan.json).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExportSettings {
    /// Training images used to calibrate activation scales at export.
    pub calibration_images: usize,
    /// Golden vectors stored in each bundle (first N test images).
    pub golden: usize,
    /// Evaluate on the first N test images only (quick checks; `None`: all 10,000).
    pub test_limit: Option<usize>,
}

/// What a sweep trains.
#[derive(Clone, Debug)]
pub struct SweepSpec {
    pub family: Family,
    /// Model-size budgets, e.g. 32KiB, 64KiB, 128KiB, or a board name (`icebreaker`,
    /// `ulx3s-25f`): the board's on-chip memory as the budget (the largest width whose
    /// weights, parameters and activation buffers the whole-network engine there can hold).
    pub budgets: Vec<String>,
    /// Weight bitwidths.
    pub bits: Vec<Bits>,
    /// Seeds per (budget, B): seeds 0..N.
    pub seeds: u64,
    /// Channel counts are rounded to a multiple of this.
    pub channel_multiple: usize,
    /// What a budget counts (the width solver solves for it).
    pub size_accounting: SizeAccounting,
    pub train: TrainSettings,
    pub export: ExportSettings,
}

/// One training of the sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    pub index: usize,
    /// `<family>-<budget>-b<B>-s<seed>` (`<family>-<budget>-weights-b<B>-s<seed>` under the
    /// weights accounting): also the run directory's name.
    pub id: String,
    pub family: Family,
    pub budget: String,
    pub budget_bits: u64,
    pub bits: Bits,
    pub seed: u64,
    /// Width solved for the budget at `bits`, and the resulting size (under the plan's
    /// accounting).
    pub width: f64,
    pub size_bits: u64,
    /// Run directory relative to the sweep directory.
    pub run_dir: String,
    /// The board whose memory is the budget (`budget_bits` = its main memory), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub board: Option<String>,
}

/// The job list (`SWEEP/plan.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub format: String,
    pub version: u32,
    pub family: Family,
    pub channel_multiple: usize,
    /// What the budgets count. Absent in plans written before it existed: the engine
    /// accounting they were solved under, so those sweeps resume unchanged.
    #[serde(default)]
    pub size_accounting: SizeAccounting,
    pub budgets: Vec<String>,
    pub bits: Vec<Bits>,
    pub seeds: u64,
    pub train: TrainSettings,
    pub export: ExportSettings,
    pub jobs: Vec<Job>,
}

impl Plan {
    /// Solve every (budget, B) for its width and list the jobs (budgets outer, then B, then seed).
    pub fn new(spec: &SweepSpec) -> Result<Plan> {
        let family = spec.family;
        if spec.budgets.is_empty() || spec.bits.is_empty() || spec.seeds == 0 {
            return Err(Error::invalid(
                "budgets, bits and seeds",
                "at least one budget, one bitwidth and one seed",
                format!(
                    "{} budgets, {} bitwidths and {} seeds",
                    spec.budgets.len(),
                    spec.bits.len(),
                    spec.seeds
                ),
            ));
        }
        let count = (spec.budgets.len() as u64)
            .saturating_mul(spec.bits.len() as u64)
            .saturating_mul(spec.seeds);
        if count > MAX_JOBS {
            return Err(Error::invalid(
                "budgets × bits × seeds",
                format!("at most {MAX_JOBS} jobs"),
                count,
            ));
        }
        let base = FamilyConfig {
            channel_multiple: spec.channel_multiple,
            ..FamilyConfig::fashion_mnist(family, 1.0)
        };
        base.validate()?;
        let accounting = spec.size_accounting;
        let tag = match accounting {
            SizeAccounting::Engine => String::new(),
            a => format!("-{a}"),
        };
        let mut jobs = vec![];
        for budget in &spec.budgets {
            let board = Memories::for_board(budget.trim()).ok().map(|m| m.board);
            for &bits in &spec.bits {
                let (budget_bits, width, size_bits) = match &board {
                    Some(name) => {
                        let r = board_report(&base, bits, name)
                            .with_context(|| format!("budget {budget} at B = {bits}"))?;
                        let size = model_size(
                            &FamilyConfig {
                                width: r.width,
                                ..base
                            }
                            .build()?,
                            |_| bits,
                        )?;
                        (
                            r.requirements.main.available * 8,
                            r.width,
                            size.bits(accounting),
                        )
                    }
                    None => {
                        let budget_bits =
                            parse_bits(budget).with_context(|| format!("budget {budget:?}"))?;
                        let sol = solve_width(&base, bits, budget_bits, accounting)
                            .with_context(|| format!("budget {budget} at B = {bits}"))?;
                        (budget_bits, sol.width, sol.size_bits())
                    }
                };
                let budget = board.as_deref().unwrap_or(budget.trim());
                for seed in 0..spec.seeds {
                    let id = format!("{family}-{budget}{tag}-b{bits}-s{seed}");
                    if id.contains(['/', '\\']) || id.contains("..") {
                        return Err(Error::invalid(
                            "budget",
                            "a size that can name a run directory",
                            format!("{budget:?}"),
                        ));
                    }
                    jobs.push(Job {
                        index: jobs.len(),
                        run_dir: format!("runs/{id}"),
                        id,
                        family,
                        budget: budget.to_string(),
                        budget_bits,
                        bits,
                        seed,
                        width,
                        size_bits,
                        board: board.clone(),
                    });
                }
            }
        }
        let mut ids: Vec<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
        ids.sort();
        if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::invalid(
                "budgets and bits",
                "every (budget, bitwidth, seed) once",
                format!("job {} twice", w[0]),
            ));
        }
        Ok(Plan {
            format: PLAN_FORMAT.into(),
            version: PLAN_VERSION,
            family,
            channel_multiple: spec.channel_multiple,
            size_accounting: accounting,
            budgets: spec.budgets.iter().map(|b| b.trim().to_string()).collect(),
            bits: spec.bits.clone(),
            seeds: spec.seeds,
            train: spec.train.clone(),
            export: spec.export.clone(),
            jobs,
        })
    }

    /// Read and check a plan file.
    pub fn read(path: &Path) -> Result<Plan> {
        let plan: Plan = read_json(path, "cannot read the sweep plan", "not a valid sweep plan")?;
        if plan.format != PLAN_FORMAT || plan.version != PLAN_VERSION {
            return Err(Error::invalid_in(
                path,
                "format/version",
                format!("{PLAN_FORMAT} {PLAN_VERSION}"),
                format!("{} {}", plan.format, plan.version),
            ));
        }
        for (i, j) in plan.jobs.iter().enumerate() {
            if j.index != i {
                return Err(Error::invalid_in(
                    path,
                    format!("jobs[{i}].index"),
                    i.to_string(),
                    j.index,
                ));
            }
            if j.run_dir.contains("..") || Path::new(&j.run_dir).is_absolute() {
                return Err(Error::invalid_in(
                    path,
                    format!("jobs[{i}].run_dir"),
                    "a path inside the sweep directory",
                    format!("{:?}", j.run_dir),
                ));
            }
        }
        Ok(plan)
    }

    /// Write the plan atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        write_json(path, "a sweep plan", self)
    }

    /// A job's training configuration.
    pub fn train_config(&self, job: &Job) -> TrainConfig {
        let model = FamilyConfig {
            width: job.width,
            channel_multiple: self.channel_multiple,
            ..FamilyConfig::fashion_mnist(job.family, job.width)
        };
        self.train.config(
            model,
            Some(QuantSpec {
                bits: job.bits,
                first_last_8bit: false,
            }),
            job.seed,
            Some((job.budget.clone(), job.budget_bits)),
        )
    }
}

/// The sweep directory of a plan file (the directory it is in).
pub fn sweep_dir(plan: &Path) -> PathBuf {
    plan.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

/// The first top-level field whose JSON differs between `a` and `b`: its name and both values.
fn first_difference<T: Serialize>(
    what: &'static str,
    a: &T,
    b: &T,
) -> Result<Option<(String, serde_json::Value, serde_json::Value)>> {
    let encode = |v: &T| serde_json::to_value(v).map_err(|source| Error::Encode { what, source });
    let (a, b) = (encode(a)?, encode(b)?);
    Ok(a.as_object().and_then(|a| {
        a.iter()
            .find(|(k, v)| b.get(k.as_str()) != Some(v))
            .map(|(k, v)| (k.clone(), v.clone(), b[k.as_str()].clone()))
    }))
}

/// Write `SWEEP/plan.json` for `spec`, or check that an existing plan is the same sweep.
pub fn plan(spec: &SweepSpec, sweep: &Path) -> Result<Plan> {
    let plan = Plan::new(spec)?;
    let path = sweep.join(PLAN_JSON);
    // A mixed-precision study's directory has its own results.jsonl: never write over it.
    if sweep.join(crate::mixed::FRONT_JSON).exists() || sweep.join(crate::mixed::REF_DIR).exists() {
        return Err(Error::invalid_in(
            sweep,
            "directory",
            "a new or uniform sweep directory",
            format!(
                "a mixed-precision study ({} is there)",
                crate::mixed::REF_DIR
            ),
        ));
    }
    if !path.exists() {
        plan.write(&path)?;
        return Ok(plan);
    }
    let old = Plan::read(&path)?;
    if old == plan {
        return Ok(old);
    }
    // The accounting changes every job; name it rather than the job list.
    let (field, planned, found) = if old.size_accounting != plan.size_accounting {
        (
            "size_accounting".to_string(),
            old.size_accounting.to_string(),
            plan.size_accounting.to_string(),
        )
    } else {
        first_difference("a sweep plan", &old, &plan)?
            .map(|(k, a, b)| (k, a.to_string(), b.to_string()))
            .unwrap_or_default()
    };
    Err(Error::Differs(Box::new(Difference {
        file: path,
        what: "a different sweep is planned here",
        field,
        expected: format!("{planned} (as planned)"),
        found,
        hint: "plan it into another directory, or delete this one",
    })))
}

/// Whether a job's run directory holds a finished run (its `done` marker and record).
pub fn is_finished(run: &Path) -> bool {
    run.join(DONE).is_file() && read_record(run).is_ok()
}

/// A finished run's record.
pub fn read_record(run: &Path) -> Result<RunRecord> {
    read_json(
        &run.join(RECORD_JSON),
        "cannot read",
        "not a valid run record",
    )
}

/// Write a run's record, then its `done` marker (both atomically).
pub fn write_record(run: &Path, rec: &RunRecord) -> Result<()> {
    write_json(&run.join(RECORD_JSON), "a run record", rec)?;
    Ok(unibit_core::atomic::write_atomic(&run.join(DONE), b"")?)
}

/// Append a line to a run's log.
pub fn log_line(run: &Path, msg: &str) {
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(run.join(LOG))
    {
        let _ = writeln!(f, "{msg}");
    }
}

/// Predicted cycles per image on the reference array at bitwidth `bits`.
pub fn reference_cycles(model: &FamilyConfig, bits: Bits) -> Result<u64> {
    let e = tile_engine(bits, REFERENCE_ROWS, REFERENCE_COLS)?;
    Ok(model_cost(&model.build()?, &e)?.cycles)
}

/// Cycles per image of `model` on the whole-network engine of `board` (its bitstream's R×C),
/// from the layer program alone: equal to that engine's cycle counter.
pub fn board_cycles(model: &FamilyConfig, bits: Bits, board: &str) -> Result<u64> {
    let mem = Memories::for_board(board)?;
    let report = engine::model_report(&model.build()?, &board_shape(&mem, bits), &mem)?;
    Ok(report.cycles)
}

/// `engine` of board-budget records: `<board> net RxC` (the whole-network engine there).
pub fn board_engine(board: &str, bits: Bits) -> Result<String> {
    let mem = Memories::for_board(board)?;
    let s = board_shape(&mem, bits);
    Ok(format!("{} net {}x{}", mem.board, s.rows, s.cols))
}

/// The fields of a run's config that identify it (everything but what training fills in).
fn identity(cfg: &TrainConfig) -> TrainConfig {
    TrainConfig {
        channel_plan: vec![],
        size_bits: None,
        weight_bits: None,
        param_bits: None,
        ..cfg.clone()
    }
}

/// Check that an existing run directory holds the run `cfg` describes.
pub fn check_existing(run: &Path, cfg: &TrainConfig) -> Result<()> {
    let old = identity(&train::read_config(run)?);
    let new = identity(cfg);
    if old == new {
        return Ok(());
    }
    let (field, wanted, found) = first_difference("a training configuration", &old, &new)?
        .map(|(k, a, b)| (k, b.to_string(), a.to_string()))
        .unwrap_or_default();
    Err(Error::Differs(Box::new(Difference {
        file: run.join(CONFIG_JSON),
        what: "the run here is not this job's",
        field,
        expected: format!("{wanted} (the plan's)"),
        found,
        hint: "remove the directory to retrain it",
    })))
}

/// Train `cfg` in `run`: new, resumed from its checkpoint, or nothing if already trained. A run
/// killed before its first checkpoint (config.json but no checkpoint) starts again.
pub fn train_or_resume(
    run: &Path,
    cfg: &TrainConfig,
    opts: &RunOptions,
    progress: &dyn Progress,
) -> Result<()> {
    std::fs::create_dir_all(run).map_err(|e| Error::io(run, "cannot create", e))?;
    if run.join(CONFIG_JSON).exists() {
        check_existing(run, cfg)?;
        if run.join(CHECKPOINT_JSON).exists() {
            let info = checkpoint::read_info(run)?;
            log_line(
                run,
                &format!("resuming from the checkpoint after epoch {}", info.epoch),
            );
            let r = train::train(run, None, true, opts, progress)?;
            if r.already_trained() {
                progress.line(&already_trained_line(&r));
            }
            return Ok(());
        }
        log_line(run, "no checkpoint yet: starting again");
        let config = run.join(CONFIG_JSON);
        std::fs::remove_file(&config).map_err(|e| Error::io(&config, "cannot remove", e))?;
        let _ = std::fs::remove_file(run.join(train::METRICS_JSONL));
    }
    train::train(run, Some(cfg.clone()), false, opts, progress)?;
    Ok(())
}

/// What is said when a resumed run had nothing left to train.
pub fn already_trained_line(r: &train::TrainReport) -> String {
    format!(
        "{}: already trained for {} of {} epochs",
        r.run.display(),
        r.completed,
        r.config.epochs
    )
}

/// The lock file in a run directory: held (an OS file lock, released when its process exits
/// however it exits) by the process training the job, so two sweeps or `sweep run`s started on
/// the same directory never train one job twice into the same checkpoint.
pub const LOCK: &str = ".lock";

/// An exclusive hold on one run directory; dropping it releases the lock.
#[derive(Debug)]
pub struct RunLock(#[allow(dead_code)] std::fs::File);

/// Lock `run` for this process, or `None` when another process holds it.
pub fn try_lock_run(run: &Path) -> Result<Option<RunLock>> {
    let p = run.join(LOCK);
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)
        .map_err(|e| Error::io(&p, "cannot open", e))?;
    match f.try_lock() {
        Ok(()) => Ok(Some(RunLock(f))),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io(&p, "cannot lock", e)),
    }
}

/// Whether another process is training the job in `run` right now.
pub fn is_busy(run: &Path) -> bool {
    run.is_dir() && matches!(try_lock_run(run), Ok(None))
}

/// What running one job did.
#[derive(Clone, Debug, PartialEq)]
pub enum JobOutcome {
    /// Already finished: nothing done.
    Skipped,
    /// Another process holds the job's lock (it is training it): nothing done.
    Busy,
    Finished(Box<RunRecord>),
}

/// Run job `index` of the plan in `sweep`: train (resuming), export, write its record. Its
/// training reports through `progress`; the job's own steps go to its log file.
pub fn run_job(
    plan: &Plan,
    sweep: &Path,
    index: usize,
    device: Device,
    progress: &dyn Progress,
) -> Result<JobOutcome> {
    let job = plan.jobs.get(index).ok_or_else(|| {
        Error::invalid(
            "job index",
            format!("0..{} (the plan's jobs)", plan.jobs.len()),
            index,
        )
    })?;
    let run = sweep.join(&job.run_dir);
    if is_finished(&run) {
        return Ok(JobOutcome::Skipped);
    }
    let Some(_lock) = try_lock_run(&run_dir_created(&run)?)? else {
        return Ok(JobOutcome::Busy);
    };
    // Another process may have finished it between the check above and taking the lock.
    if is_finished(&run) {
        return Ok(JobOutcome::Skipped);
    }
    log_line(
        &run,
        &format!(
            "job {index} {}: {} at width {} (B = {}, budget {}, seed {})",
            job.id, job.family, job.width, job.bits, job.budget, job.seed
        ),
    );
    let opts = RunOptions {
        device,
        stop_after: None,
    };
    train_or_resume(&run, &plan.train_config(job), &opts, progress)
        .with_context(|| format!("job {index} ({})", job.id))?;
    let r = export_job(plan, &run, device)
        .with_context(|| format!("job {index} ({}): export", job.id))?;
    let rec = job_record(job, plan.size_accounting, &run, &r)?;
    write_record(&run, &rec)?;
    log_line(&run, &done_line(&r, &rec));
    Ok(JobOutcome::Finished(Box::new(rec)))
}

/// Export a job's trained run to `RUN/bundle`; a large integer/fake-quant gap is logged.
fn export_job(plan: &Plan, run: &Path, device: Device) -> Result<export::ExportReport> {
    let x = &plan.export;
    let r = export::export(
        run,
        &run.join(BUNDLE_DIR),
        &ExportOptions {
            golden: x.golden,
            calibration_images: x.calibration_images,
            device,
            test_limit: x.test_limit,
        },
    )?;
    if r.gap_pp.abs() > 0.3 {
        log_line(
            run,
            &format!(
                "warning: integer accuracy differs from fake-quant by {:+.2} pp (limit 0.3 pp)",
                r.gap_pp
            ),
        );
    }
    Ok(r)
}

/// A finished job's record: its size from the trained config, accuracies from the export.
fn job_record(
    job: &Job,
    accounting: SizeAccounting,
    run: &Path,
    r: &export::ExportReport,
) -> Result<RunRecord> {
    let trained = train::read_config(run)?;
    let graph = trained.model.build()?;
    let size = model_size(&graph, |_| job.bits)?;
    Ok(RunRecord {
        family: job.family,
        method: Method::Uniform,
        bits: Some(job.bits.get()),
        layer_bits: vec![job.bits.get(); graph.weight_layers().count()],
        width: job.width,
        seed: job.seed,
        epochs: trained.epochs,
        budget_bits: Some(job.budget_bits),
        weights: size.weights,
        weight_bits: size.weight_bits,
        param_bits: size.param_bits,
        size_bits: size.bits(accounting),
        size_accounting: accounting,
        float_acc: Some(r.trained_accuracy),
        fake_quant_acc: Some(r.fake_quant_accuracy),
        int_acc: Some(r.integer_accuracy),
        cycles: Some(match &job.board {
            Some(b) => board_cycles(&trained.model, job.bits, b)?,
            None => reference_cycles(&trained.model, job.bits)?,
        }),
        engine: Some(match &job.board {
            Some(b) => board_engine(b, job.bits)?,
            None => REFERENCE_ENGINE.into(),
        }),
        run_dir: job.run_dir.clone(),
        board: job.board.clone(),
    })
}

/// The last line of a finished job's log.
fn done_line(r: &export::ExportReport, rec: &RunRecord) -> String {
    format!(
        "done: integer {:.2}% · fake-quant {:.2}% · trained {:.2}% · size {} · {} cycles",
        100.0 * r.integer_accuracy,
        100.0 * r.fake_quant_accuracy,
        100.0 * r.trained_accuracy,
        format_bits(rec.size_bits),
        rec.cycles.unwrap_or(0)
    )
}

fn run_dir_created(run: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(run).map_err(|e| Error::io(run, "cannot create", e))?;
    Ok(run.to_path_buf())
}

/// What `collect` found.
#[derive(Clone, Debug)]
pub struct Collected {
    pub path: PathBuf,
    pub records: Vec<RunRecord>,
    /// Ids of jobs without a finished record.
    pub missing: Vec<String>,
}

/// A job of one sweep that took a finished job's result from another sweep.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reused {
    pub index: usize,
    pub id: String,
    /// The other sweep's job id.
    pub from: String,
}

/// Take, for every unfinished job of `plan`, the result of a finished job of `other` (in the
/// sweep directory `other_dir`) that trains the identical run: the same training
/// configuration (family config with width and channel multiple, B, seed, recipe, budget) and
/// the same export settings, so the same trained model and accuracies. Sweeps under the two
/// size accountings share such jobs wherever the width grid lands on the same width. The
/// record is the other job's with this plan's accounting applied to its size (weights:
/// Σ B × weights; engine: plus the parameters); a line in the run's log names where it came
/// from. Finished jobs of `plan`, and jobs another process holds, are left alone.
pub fn reuse_finished(
    plan: &Plan,
    sweep: &Path,
    other: &Plan,
    other_dir: &Path,
) -> Result<Vec<Reused>> {
    if plan.export != other.export {
        return Ok(Vec::new());
    }
    let key = |p: &Plan, j: &Job| serde_json::to_value(p.train_config(j)).ok();
    let mut taken = Vec::new();
    for job in &plan.jobs {
        let run = sweep.join(&job.run_dir);
        if is_finished(&run) || job.board.is_some() {
            continue;
        }
        let want = key(plan, job);
        let Some(src) = other.jobs.iter().find(|o| {
            o.board.is_none() && key(other, o) == want && is_finished(&other_dir.join(&o.run_dir))
        }) else {
            continue;
        };
        // A job another process is training is left to it.
        let Some(_lock) = try_lock_run(&run_dir_created(&run)?)? else {
            continue;
        };
        if is_finished(&run) {
            continue;
        }
        let mut rec = read_record(&other_dir.join(&src.run_dir))?;
        rec.size_accounting = plan.size_accounting;
        rec.size_bits = match plan.size_accounting {
            SizeAccounting::Weights => rec.weight_bits,
            SizeAccounting::Engine => rec.weight_bits + rec.param_bits,
        };
        rec.run_dir = job.run_dir.clone();
        log_line(
            &run,
            &format!(
                "job {} {}: the identical training of {} ({}), result taken, not retrained",
                job.index,
                job.id,
                src.id,
                other_dir.display()
            ),
        );
        write_record(&run, &rec)?;
        taken.push(Reused {
            index: job.index,
            id: job.id.clone(),
            from: src.id.clone(),
        });
    }
    Ok(taken)
}

/// Merge every finished job's record into `SWEEP/results.jsonl` (plan order; replaces the file
/// atomically, so collecting twice gives the same file).
pub fn collect(plan: &Plan, sweep: &Path) -> Result<Collected> {
    let mut records = vec![];
    let mut missing = vec![];
    for job in &plan.jobs {
        let run = sweep.join(&job.run_dir);
        if !run.join(DONE).is_file() {
            missing.push(job.id.clone());
            continue;
        }
        records.push(read_record(&run)?);
    }
    let path = sweep.join(RESULTS_JSONL);
    results::write(&path, &records)?;
    Ok(Collected {
        path,
        records,
        missing,
    })
}

/// Threads per job when `jobs` run at once on this machine: `max(1, cores / jobs)`.
pub fn threads_per_job(jobs: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    (cores / jobs.max(1)).max(1)
}

/// The line a sweep says when job `i` starts.
fn starting_line(plan: &Plan, i: usize) -> String {
    format!(
        "{}: starting (job {i} of {})",
        plan.jobs[i].id,
        plan.jobs.len()
    )
}

/// The one line a finished job gets in the sweep's output.
fn finished_line(id: &str, r: &RunRecord) -> String {
    format!(
        "{id}: integer {:.2}% at {} (width {})",
        100.0 * r.int_acc.unwrap_or(0.0),
        format_bits(r.size_bits),
        r.width
    )
}

/// What a sweep says about a job another process is training.
pub fn busy_line(id: &str) -> String {
    format!("{id}: being trained by another process — skipped (collect it when that finishes)")
}

/// How a local sweep runs its jobs.
pub struct LocalOptions {
    /// Jobs at once. 1: in this process; more: child processes of `exe`.
    pub jobs: usize,
    /// Intra-op threads per job.
    pub threads: usize,
    /// The `unibit` executable for child processes (`sweep run --plan … --job-index I`).
    pub exe: Option<PathBuf>,
    pub device: Device,
    /// When no live bar is drawn: also a line when a job starts, and the in-process jobs'
    /// training lines (finished, busy and failed jobs always get theirs).
    pub progress: bool,
}

/// Forwards only kept lines: a job's training inside a sweep shows its epochs, never its own
/// bar (the sweep's bar is the one drawn).
struct LinesOf<'a>(&'a dyn Progress);

impl Progress for LinesOf<'_> {
    fn line(&self, msg: &str) {
        self.0.line(msg)
    }
}

/// What a local run of a plan's jobs did (ids of jobs; `failed` with reason or log).
#[derive(Clone, Debug, Default)]
pub struct JobsRun {
    pub total: usize,
    pub finished: Vec<String>,
    pub busy: Vec<String>,
    pub failed: Vec<String>,
}

impl JobsRun {
    /// An error listing the failed jobs, if any failed.
    pub fn check(&self) -> Result<()> {
        if self.failed.is_empty() {
            return Ok(());
        }
        Err(Error::JobsFailed {
            failed: self.failed.clone(),
            total: self.total,
        })
    }
}

/// A whole local sweep: the plan, what its jobs did, and the collected table.
#[derive(Clone, Debug)]
pub struct SweepReport {
    pub plan: Plan,
    pub jobs: JobsRun,
    pub collected: Collected,
}

/// Plan (or check the plan in) `out`, run every unfinished job, collect the table. Failed jobs
/// are in the report (`jobs.check()` turns them into an error); the table is collected anyway.
pub fn run(
    spec: &SweepSpec,
    out: &Path,
    o: &LocalOptions,
    progress: &dyn Progress,
) -> Result<SweepReport> {
    if o.jobs == 0 {
        return Err(Error::invalid("jobs at once", "≥ 1", 0));
    }
    let plan = plan(spec, out)?;
    let jobs = run_jobs(&plan, out, o, progress);
    let collected = collect(&plan, out)?;
    Ok(SweepReport {
        jobs: jobs?,
        plan,
        collected,
    })
}

/// Run every unfinished job of the plan in `sweep`; errors list the failed jobs and their logs.
pub fn run_all(
    plan: &Plan,
    sweep: &Path,
    o: &LocalOptions,
    progress: &dyn Progress,
) -> Result<JobsRun> {
    let r = run_jobs(plan, sweep, o, progress)?;
    r.check()?;
    Ok(r)
}

/// Run every unfinished job of the plan in `sweep`, in this process or as child processes; a
/// bar of jobs and a line per job through `progress`. Failed jobs are listed, not errors.
pub fn run_jobs(
    plan: &Plan,
    sweep: &Path,
    o: &LocalOptions,
    progress: &dyn Progress,
) -> Result<JobsRun> {
    let pending: Vec<usize> = plan
        .jobs
        .iter()
        .filter(|j| !is_finished(&sweep.join(&j.run_dir)))
        .map(|j| j.index)
        .collect();
    progress.begin("sweep", Some(plan.jobs.len() as u64));
    progress.set_position((plan.jobs.len() - pending.len()) as u64);
    let mut ran = JobsRun {
        total: plan.jobs.len(),
        ..JobsRun::default()
    };
    let r = if o.jobs <= 1 {
        run_in_process(plan, sweep, &pending, o, progress, &mut ran)
    } else {
        Children::new(plan, sweep, o, progress)
            .and_then(|mut c| c.run(pending.into_iter(), &mut ran))
    };
    progress.end();
    r.map(|()| ran)
}

/// Jobs one after the other in this process.
fn run_in_process(
    plan: &Plan,
    sweep: &Path,
    pending: &[usize],
    o: &LocalOptions,
    progress: &dyn Progress,
    ran: &mut JobsRun,
) -> Result<()> {
    crate::set_threads(o.threads.max(1))?;
    // Without a live bar: say what runs, and let training log its epochs.
    let lines = o.progress && !progress.is_live();
    let forward = LinesOf(progress);
    let training: &dyn Progress = if lines { &forward } else { &Silent };
    for &i in pending {
        let job = &plan.jobs[i];
        progress.status(&format!("jobs {}", job.id));
        if lines {
            progress.line(&starting_line(plan, i));
        }
        match run_job(plan, sweep, i, o.device, training) {
            Ok(JobOutcome::Finished(r)) => {
                progress.line(&finished_line(&job.id, &r));
                ran.finished.push(job.id.clone());
            }
            Ok(JobOutcome::Skipped) => {}
            Ok(JobOutcome::Busy) => {
                progress.line(&busy_line(&job.id));
                ran.busy.push(job.id.clone());
            }
            Err(e) => {
                let why = chain(&e);
                log_line(&sweep.join(&job.run_dir), &format!("error: {why}"));
                progress.line(&format!("{}: failed: {why}", job.id));
                ran.failed.push(format!("{} ({why})", job.id));
            }
        }
        progress.advance(1);
    }
    Ok(())
}

/// Jobs as child processes (`unibit sweep run --plan … --job-index I`), each logging to its
/// run directory's log file, at most `o.jobs` at once.
struct Children<'a> {
    plan: &'a Plan,
    sweep: &'a Path,
    o: &'a LocalOptions,
    progress: &'a dyn Progress,
    exe: PathBuf,
    running: Vec<(usize, Child)>,
}

impl<'a> Children<'a> {
    fn new(
        plan: &'a Plan,
        sweep: &'a Path,
        o: &'a LocalOptions,
        progress: &'a dyn Progress,
    ) -> Result<Self> {
        let exe = match &o.exe {
            Some(e) => e.clone(),
            None => std::env::current_exe()
                .map_err(|e| Error::io(Path::new("unibit"), "cannot find the executable", e))?,
        };
        Ok(Children {
            plan,
            sweep,
            o,
            progress,
            exe,
            running: vec![],
        })
    }

    fn run(&mut self, mut queue: impl Iterator<Item = usize>, ran: &mut JobsRun) -> Result<()> {
        loop {
            self.fill(&mut queue, ran)?;
            if self.running.is_empty() {
                return Ok(());
            }
            let ids: Vec<&str> = self
                .running
                .iter()
                .map(|(i, _)| self.plan.jobs[*i].id.as_str())
                .collect();
            self.progress.status(&format!("jobs {}", ids.join(", ")));
            std::thread::sleep(Duration::from_millis(200));
            self.reap(ran)?;
        }
    }

    /// Start queued jobs until `o.jobs` run (jobs another process holds are skipped).
    fn fill(&mut self, queue: &mut impl Iterator<Item = usize>, ran: &mut JobsRun) -> Result<()> {
        while self.running.len() < self.o.jobs {
            let Some(i) = queue.next() else { break };
            let job = &self.plan.jobs[i];
            if is_busy(&self.sweep.join(&job.run_dir)) {
                self.progress.line(&busy_line(&job.id));
                ran.busy.push(job.id.clone());
                self.progress.advance(1);
                continue;
            }
            let child = self.spawn(i)?;
            if self.o.progress && !self.progress.is_live() {
                let log = self.sweep.join(&job.run_dir).join(LOG);
                self.progress.line(&format!(
                    "{}, log {}",
                    starting_line(self.plan, i),
                    log.display()
                ));
            }
            self.running.push((i, child));
        }
        Ok(())
    }

    /// `unibit sweep run --plan PLAN --job-index I --threads T`, output into the job's log.
    fn spawn(&self, i: usize) -> Result<Child> {
        let run = run_dir_created(&self.sweep.join(&self.plan.jobs[i].run_dir))?;
        let log_path = run.join(LOG);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| Error::io(&log_path, "cannot open", e))?;
        let log2 = log
            .try_clone()
            .map_err(|e| Error::io(&log_path, "cannot open", e))?;
        Command::new(&self.exe)
            .arg("sweep")
            .arg("run")
            .arg("--plan")
            .arg(self.sweep.join(PLAN_JSON))
            .arg("--job-index")
            .arg(i.to_string())
            .arg("--threads")
            .arg(self.o.threads.to_string())
            .env("OMP_WAIT_POLICY", "PASSIVE")
            .stdin(Stdio::null())
            .stdout(log2)
            .stderr(log)
            .spawn()
            .map_err(|e| Error::io(&self.exe, "cannot start", e))
    }

    /// Collect the children that have exited: a line each, failures with their log.
    fn reap(&mut self, ran: &mut JobsRun) -> Result<()> {
        let mut k = 0;
        while k < self.running.len() {
            let (i, child) = &mut self.running[k];
            let job = &self.plan.jobs[*i];
            let log = self.sweep.join(&job.run_dir).join(LOG);
            let Some(status) = child
                .try_wait()
                .map_err(|e| Error::io(&log, "cannot wait for the job's process", e))?
            else {
                k += 1;
                continue;
            };
            if status.success() {
                // A child that found the job locked by a third process exits 0 too.
                match read_record(&self.sweep.join(&job.run_dir)) {
                    Ok(r) => {
                        self.progress.line(&finished_line(&job.id, &r));
                        ran.finished.push(job.id.clone());
                    }
                    Err(_) => {
                        self.progress.line(&busy_line(&job.id));
                        ran.busy.push(job.id.clone());
                    }
                }
            } else {
                self.progress.line(&format!(
                    "{}: failed ({status}); see {}",
                    job.id,
                    log.display()
                ));
                ran.failed
                    .push(format!("{} (see {})", job.id, log.display()));
            }
            self.progress.advance(1);
            self.running.remove(k);
        }
        Ok(())
    }
}
