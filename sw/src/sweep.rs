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

use crate::checkpoint::{self, write_atomic, CHECKPOINT_JSON};
use crate::export::{self, ExportOptions};
use crate::net::QuantSpec;
use crate::train::{self, RunOptions, TrainConfig, CONFIG_JSON};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tch::Device;
use unibit_core::cost::{model_cost, EngineConfig};
use unibit_core::family::{FamilyConfig, DEFAULT_CHANNEL_MULTIPLE};
use unibit_core::results::{self, Method, RunRecord};
use unibit_core::size::{format_bits, model_size, parse_bits, width_for_budget};
use unibit_core::{Bits, Family};

pub const PLAN_JSON: &str = "plan.json";
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

/// How each run is exported and measured.
#[derive(Args, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExportSettings {
    /// Training images used to calibrate activation scales at export.
    #[arg(long, default_value_t = 5000)]
    pub calibration_images: usize,
    /// Golden vectors stored in each bundle (first N test images).
    #[arg(long, default_value_t = 16)]
    pub golden: usize,
    /// Evaluate on the first N test images only (quick checks; default all 10,000).
    #[arg(long)]
    pub test_limit: Option<usize>,
}

/// What a sweep trains.
#[derive(Args, Clone, Debug)]
pub struct SweepSpec {
    /// Model family: resnet20 (any resnet<6n+2>), vgg-small, mobilenetv2.
    #[arg(long, required = true)]
    pub family: Option<Family>,
    /// Model-size budgets, e.g. 32KiB,64KiB,128KiB.
    #[arg(long, value_delimiter = ',', required = true)]
    pub budgets: Vec<String>,
    /// Weight bitwidths.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3,4,8")]
    pub bits: Vec<Bits>,
    /// Seeds per (budget, B): seeds 0..N.
    #[arg(long, default_value_t = 1)]
    pub seeds: u64,
    /// Channel counts are rounded to a multiple of this.
    #[arg(long, default_value_t = DEFAULT_CHANNEL_MULTIPLE)]
    pub channel_multiple: usize,
    #[command(flatten)]
    pub train: TrainSettings,
    #[command(flatten)]
    pub export: ExportSettings,
}

/// One training of the sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    pub index: usize,
    /// `<family>-<budget>-b<B>-s<seed>`: also the run directory's name.
    pub id: String,
    pub family: Family,
    pub budget: String,
    pub budget_bits: u64,
    pub bits: Bits,
    pub seed: u64,
    /// Width solved for the budget at `bits`, and the resulting size.
    pub width: f64,
    pub size_bits: u64,
    /// Run directory relative to the sweep directory.
    pub run_dir: String,
}

/// The job list (`SWEEP/plan.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub format: String,
    pub version: u32,
    pub family: Family,
    pub channel_multiple: usize,
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
        let family = spec.family.context("--family is required")?;
        if spec.budgets.is_empty() || spec.bits.is_empty() || spec.seeds == 0 {
            bail!("a sweep needs at least one budget, one bitwidth and one seed (--budgets, --bits, --seeds)");
        }
        let base = FamilyConfig {
            channel_multiple: spec.channel_multiple,
            ..FamilyConfig::fashion_mnist(family, 1.0)
        };
        base.validate()?;
        let mut jobs = vec![];
        for budget in &spec.budgets {
            let budget_bits =
                parse_bits(budget).with_context(|| format!("--budgets: {budget:?}"))?;
            for &bits in &spec.bits {
                let sol = width_for_budget(&base, bits, budget_bits)
                    .with_context(|| format!("--budgets {budget} at B = {bits}"))?;
                for seed in 0..spec.seeds {
                    let id = format!("{family}-{}-b{bits}-s{seed}", budget.trim());
                    if id.contains(['/', '\\']) || id.contains("..") {
                        bail!("--budgets: {budget:?} cannot name a run directory");
                    }
                    jobs.push(Job {
                        index: jobs.len(),
                        run_dir: format!("runs/{id}"),
                        id,
                        family,
                        budget: budget.trim().to_string(),
                        budget_bits,
                        bits,
                        seed,
                        width: sol.width,
                        size_bits: sol.size.total_bits,
                    });
                }
            }
        }
        let mut ids: Vec<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
        ids.sort();
        if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
            bail!("--budgets/--bits: job {} appears twice", w[0]);
        }
        Ok(Plan {
            format: PLAN_FORMAT.into(),
            version: PLAN_VERSION,
            family,
            channel_multiple: spec.channel_multiple,
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
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read the sweep plan", path.display()))?;
        let plan: Plan = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a valid sweep plan", path.display()))?;
        if plan.format != PLAN_FORMAT || plan.version != PLAN_VERSION {
            bail!(
                "{}: format/version: expected {PLAN_FORMAT} {PLAN_VERSION}, found {} {}",
                path.display(),
                plan.format,
                plan.version
            );
        }
        for (i, j) in plan.jobs.iter().enumerate() {
            if j.index != i {
                bail!(
                    "{}: jobs[{i}].index: expected {i}, found {}",
                    path.display(),
                    j.index
                );
            }
            if j.run_dir.contains("..") || Path::new(&j.run_dir).is_absolute() {
                bail!(
                    "{}: jobs[{i}].run_dir: expected a path inside the sweep directory, found {:?}",
                    path.display(),
                    j.run_dir
                );
            }
        }
        Ok(plan)
    }

    /// Write the plan atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("{}: cannot create", dir.display()))?;
        }
        write_atomic(path, serde_json::to_string_pretty(self)?.as_bytes())
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

/// Write `SWEEP/plan.json` for `spec`, or check that an existing plan is the same sweep.
pub fn plan(spec: &SweepSpec, sweep: &Path) -> Result<Plan> {
    let plan = Plan::new(spec)?;
    let path = sweep.join(PLAN_JSON);
    if path.exists() {
        let old = Plan::read(&path)?;
        if old != plan {
            let (a, b) = (serde_json::to_value(&old)?, serde_json::to_value(&plan)?);
            let field = a
                .as_object()
                .and_then(|a| {
                    a.iter()
                        .find(|(k, v)| b.get(k.as_str()) != Some(v))
                        .map(|(k, v)| format!("{k}: expected {v} (as planned), found {}", b[k]))
                })
                .unwrap_or_default();
            bail!(
                "{}: a different sweep is planned here ({field}); use another --out, or delete the directory",
                path.display()
            );
        }
        return Ok(old);
    }
    plan.write(&path)?;
    Ok(plan)
}

/// Whether a job's run directory holds a finished run (its `done` marker and record).
pub fn is_finished(run: &Path) -> bool {
    run.join(DONE).is_file() && read_record(run).is_ok()
}

/// A finished run's record.
pub fn read_record(run: &Path) -> Result<RunRecord> {
    let p = run.join(RECORD_JSON);
    let text =
        std::fs::read_to_string(&p).with_context(|| format!("{}: cannot read", p.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not a valid run record", p.display()))
}

/// Write a run's record, then its `done` marker (both atomically).
pub fn write_record(run: &Path, rec: &RunRecord) -> Result<()> {
    write_atomic(
        &run.join(RECORD_JSON),
        serde_json::to_string_pretty(rec)?.as_bytes(),
    )?;
    write_atomic(&run.join(DONE), b"")
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
    let e = EngineConfig::new(REFERENCE_ROWS, REFERENCE_COLS, bits)?;
    Ok(model_cost(&model.build()?, &e)?.cycles)
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
    if old != new {
        let (a, b) = (serde_json::to_value(&old)?, serde_json::to_value(&new)?);
        let field = a
            .as_object()
            .and_then(|a| {
                a.iter()
                    .find(|(k, v)| b.get(k.as_str()) != Some(v))
                    .map(|(k, v)| {
                        format!("{k}: expected {} (the plan's), found {v}", b[k.as_str()])
                    })
            })
            .unwrap_or_default();
        bail!(
            "{}: the run here is not this job's ({field}); remove the directory to retrain it",
            run.join(CONFIG_JSON).display()
        );
    }
    Ok(())
}

/// Train `cfg` in `run`: new, resumed from its checkpoint, or nothing if already trained. A run
/// killed before its first checkpoint (config.json but no checkpoint) starts again.
pub fn train_or_resume(run: &Path, cfg: &TrainConfig, opts: &RunOptions) -> Result<()> {
    std::fs::create_dir_all(run).with_context(|| format!("{}: cannot create", run.display()))?;
    if run.join(CONFIG_JSON).exists() {
        check_existing(run, cfg)?;
        if run.join(CHECKPOINT_JSON).exists() {
            let info = checkpoint::read_info(run)?;
            log_line(
                run,
                &format!("resuming from the checkpoint after epoch {}", info.epoch),
            );
            train::train(run, None, true, opts)?;
            return Ok(());
        }
        log_line(run, "no checkpoint yet: starting again");
        std::fs::remove_file(run.join(CONFIG_JSON))
            .with_context(|| format!("{}: cannot remove", run.display()))?;
        let _ = std::fs::remove_file(run.join(train::METRICS_JSONL));
    }
    train::train(run, Some(cfg.clone()), false, opts)?;
    Ok(())
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
        .with_context(|| format!("{}: cannot open", p.display()))?;
    match f.try_lock() {
        Ok(()) => Ok(Some(RunLock(f))),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("{}: cannot lock", p.display()))
        }
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

/// Run job `index` of the plan in `sweep`: train (resuming), export, write its record.
pub fn run_job(
    plan: &Plan,
    sweep: &Path,
    index: usize,
    device: Device,
    progress: bool,
) -> Result<JobOutcome> {
    let job = plan.jobs.get(index).with_context(|| {
        format!(
            "--job-index: expected 0..{} (the plan's jobs), found {index}",
            plan.jobs.len()
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
    let cfg = plan.train_config(job);
    log_line(
        &run,
        &format!(
            "job {index} {}: {} at width {} (B = {}, budget {}, seed {})",
            job.id, job.family, job.width, job.bits, job.budget, job.seed
        ),
    );
    let opts = RunOptions {
        device,
        progress,
        stop_after: None,
    };
    train_or_resume(&run, &cfg, &opts).with_context(|| format!("job {index} ({})", job.id))?;
    let x = &plan.export;
    let bundle = run.join(BUNDLE_DIR);
    let r = export::export(
        &run,
        &bundle,
        &ExportOptions {
            golden: x.golden,
            calibration_images: x.calibration_images,
            device,
            test_limit: x.test_limit,
        },
    )
    .with_context(|| format!("job {index} ({}): export", job.id))?;
    if r.gap_pp.abs() > 0.3 {
        log_line(
            &run,
            &format!(
                "warning: integer accuracy differs from fake-quant by {:+.2} pp (limit 0.3 pp)",
                r.gap_pp
            ),
        );
    }
    let trained = train::read_config(&run)?;
    let graph = trained.model.build()?;
    let size = model_size(&graph, |_| job.bits)?;
    let rec = RunRecord {
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
        size_bits: size.total_bits,
        float_acc: Some(r.trained_accuracy),
        fake_quant_acc: Some(r.fake_quant_accuracy),
        int_acc: Some(r.integer_accuracy),
        cycles: Some(reference_cycles(&trained.model, job.bits)?),
        engine: Some(REFERENCE_ENGINE.into()),
        run_dir: job.run_dir.clone(),
    };
    write_record(&run, &rec)?;
    log_line(
        &run,
        &format!(
            "done: integer {:.2}% · fake-quant {:.2}% · trained {:.2}% · size {} · {} cycles",
            100.0 * r.integer_accuracy,
            100.0 * r.fake_quant_accuracy,
            100.0 * r.trained_accuracy,
            format_bits(size.total_bits),
            rec.cycles.unwrap_or(0)
        ),
    );
    Ok(JobOutcome::Finished(Box::new(rec)))
}

fn run_dir_created(run: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(run).with_context(|| format!("{}: cannot create", run.display()))?;
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

/// A line above the progress bar, or on stderr when the bar is hidden (no terminal, --quiet).
fn say(bar: &ProgressBar, msg: String) {
    if bar.is_hidden() {
        eprintln!("{msg}");
    } else {
        bar.println(msg);
    }
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
fn busy_line(id: &str) -> String {
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
    pub progress: bool,
}

/// Run every unfinished job of the plan in `sweep`; errors list the failed jobs and their logs.
pub fn run_all(plan: &Plan, sweep: &Path, o: &LocalOptions) -> Result<()> {
    let pending: Vec<usize> = plan
        .jobs
        .iter()
        .filter(|j| !is_finished(&sweep.join(&j.run_dir)))
        .map(|j| j.index)
        .collect();
    let bar = if o.progress {
        let b = ProgressBar::new(plan.jobs.len() as u64);
        b.set_style(
            ProgressStyle::with_template("sweep [{bar:30}] {pos}/{len} jobs {msg} ({elapsed})")
                .unwrap()
                .progress_chars("=> "),
        );
        b.set_position((plan.jobs.len() - pending.len()) as u64);
        b
    } else {
        ProgressBar::hidden()
    };
    let mut failed: Vec<String> = vec![];
    if o.jobs <= 1 {
        tch::set_num_threads(o.threads.max(1) as i32);
        for &i in &pending {
            let job = &plan.jobs[i];
            bar.set_message(job.id.clone());
            // Without a terminal the bar is hidden: say what runs, and let training log epochs.
            let lines = o.progress && bar.is_hidden();
            if lines {
                say(&bar, starting_line(plan, i));
            }
            match run_job(plan, sweep, i, o.device, lines) {
                Ok(JobOutcome::Finished(r)) => say(&bar, finished_line(&job.id, &r)),
                Ok(JobOutcome::Skipped) => {}
                Ok(JobOutcome::Busy) => say(&bar, busy_line(&job.id)),
                Err(e) => {
                    let run = sweep.join(&job.run_dir);
                    log_line(&run, &format!("error: {e:#}"));
                    say(&bar, format!("{}: failed: {e:#}", job.id));
                    failed.push(format!("{} ({e:#})", job.id));
                }
            }
            bar.inc(1);
        }
    } else {
        let exe = match &o.exe {
            Some(e) => e.clone(),
            None => std::env::current_exe().context("cannot find the unibit executable")?,
        };
        let plan_path = sweep.join(PLAN_JSON);
        let mut queue = pending.into_iter();
        let mut running: Vec<(usize, Child)> = vec![];
        loop {
            while running.len() < o.jobs {
                let Some(i) = queue.next() else { break };
                if is_busy(&sweep.join(&plan.jobs[i].run_dir)) {
                    say(&bar, busy_line(&plan.jobs[i].id));
                    bar.inc(1);
                    continue;
                }
                let run = run_dir_created(&sweep.join(&plan.jobs[i].run_dir))?;
                let log = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(run.join(LOG))
                    .with_context(|| format!("{}: cannot open", run.join(LOG).display()))?;
                let child = Command::new(&exe)
                    .arg("sweep")
                    .arg("run")
                    .arg("--plan")
                    .arg(&plan_path)
                    .arg("--job-index")
                    .arg(i.to_string())
                    .arg("--threads")
                    .arg(o.threads.to_string())
                    .env("OMP_WAIT_POLICY", "PASSIVE")
                    .stdin(Stdio::null())
                    .stdout(log.try_clone()?)
                    .stderr(log)
                    .spawn()
                    .with_context(|| format!("cannot start {}", exe.display()))?;
                if bar.is_hidden() && o.progress {
                    let log = run.join(LOG);
                    say(
                        &bar,
                        format!("{}, log {}", starting_line(plan, i), log.display()),
                    );
                }
                running.push((i, child));
            }
            if running.is_empty() {
                break;
            }
            bar.set_message(
                running
                    .iter()
                    .map(|(i, _)| plan.jobs[*i].id.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            std::thread::sleep(Duration::from_millis(200));
            let mut k = 0;
            while k < running.len() {
                if let Some(status) = running[k].1.try_wait()? {
                    let (i, _) = running.remove(k);
                    let job = &plan.jobs[i];
                    if status.success() {
                        // A child that found the job locked by a third process exits 0 too.
                        let line = match read_record(&sweep.join(&job.run_dir)) {
                            Ok(r) => finished_line(&job.id, &r),
                            Err(_) => busy_line(&job.id),
                        };
                        say(&bar, line);
                    } else {
                        let log = sweep.join(&job.run_dir).join(LOG);
                        say(
                            &bar,
                            format!("{}: failed ({status}); see {}", job.id, log.display()),
                        );
                        failed.push(format!("{} (see {})", job.id, log.display()));
                    }
                    bar.inc(1);
                } else {
                    k += 1;
                }
            }
        }
    }
    bar.finish_and_clear();
    if !failed.is_empty() {
        bail!(
            "{} of {} jobs failed: {}",
            failed.len(),
            plan.jobs.len(),
            failed.join("; ")
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// CLI

/// `unibit sweep --family F --budgets … --out DIR` (plan, run, collect), or one of its steps.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SweepCmd {
    #[command(subcommand)]
    pub step: Option<SweepStep>,
    #[command(flatten)]
    pub spec: SweepSpec,
    /// Sweep directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Jobs at once (separate processes, each with max(1, cores/N) threads).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Intra-op threads per job (default: max(1, cores / --jobs)).
    #[arg(long)]
    pub threads: Option<usize>,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Subcommand, Debug)]
pub enum SweepStep {
    /// Write the job list (SWEEP/plan.json) without running anything.
    Plan(PlanArgs),
    /// Run one job of a plan (resumes; does nothing if finished). The index comes from
    /// --job-index or, when absent, from SLURM_ARRAY_TASK_ID.
    Run(RunArgs),
    /// Merge the finished jobs' records into SWEEP/results.jsonl.
    Collect(CollectArgs),
}

#[derive(Args, Debug)]
pub struct PlanArgs {
    #[command(flatten)]
    pub spec: SweepSpec,
    /// Sweep directory.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The sweep's plan.json (its directory is the sweep directory).
    #[arg(long)]
    pub plan: PathBuf,
    /// Job to run (default: $SLURM_ARRAY_TASK_ID).
    #[arg(long)]
    pub job_index: Option<usize>,
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

#[derive(Args, Debug)]
pub struct CollectArgs {
    /// The sweep's plan.json.
    #[arg(long)]
    pub plan: PathBuf,
}

fn sweep_dir(plan: &Path) -> PathBuf {
    plan.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

/// The job index of `sweep run`: the flag, else `SLURM_ARRAY_TASK_ID`.
pub fn job_index(flag: Option<usize>, slurm: Option<&str>) -> Result<usize> {
    match (flag, slurm) {
        (Some(i), _) => Ok(i),
        (None, Some(s)) => s.trim().parse().map_err(|_| {
            anyhow::anyhow!("SLURM_ARRAY_TASK_ID: expected a job index (0, 1, …), found {s:?}")
        }),
        (None, None) => {
            bail!("--job-index: required outside a Slurm array task (no SLURM_ARRAY_TASK_ID)")
        }
    }
}

fn print_collected(c: &Collected, total: usize) {
    println!(
        "{}: {} of {total} runs{}",
        c.path.display(),
        c.records.len(),
        if c.missing.is_empty() {
            String::new()
        } else {
            format!(
                " ({} unfinished: {})",
                c.missing.len(),
                c.missing.join(", ")
            )
        }
    );
}

/// `unibit sweep …`.
pub fn sweep(cmd: SweepCmd) -> Result<()> {
    crate::tune_allocator();
    match cmd.step {
        Some(SweepStep::Plan(a)) => {
            let p = plan(&a.spec, &a.out)?;
            println!("{}: {} jobs", a.out.join(PLAN_JSON).display(), p.jobs.len());
            for j in &p.jobs {
                println!(
                    "  {:>3} {} width {} size {}",
                    j.index,
                    j.id,
                    j.width,
                    format_bits(j.size_bits)
                );
            }
            Ok(())
        }
        Some(SweepStep::Run(a)) => {
            if a.threads == 0 {
                bail!("--threads: expected ≥ 1, found 0");
            }
            tch::set_num_threads(a.threads as i32);
            let p = Plan::read(&a.plan)?;
            let slurm = std::env::var("SLURM_ARRAY_TASK_ID").ok();
            let i = job_index(a.job_index, slurm.as_deref())?;
            let device = train::parse_device(&a.device)?;
            match run_job(&p, &sweep_dir(&a.plan), i, device, true)? {
                JobOutcome::Skipped => println!("job {i} ({}): already finished", p.jobs[i].id),
                JobOutcome::Busy => println!("job {i}: {}", busy_line(&p.jobs[i].id)),
                JobOutcome::Finished(r) => println!(
                    "job {i} ({}): integer {:.2}% · fake-quant {:.2}% · size {}",
                    p.jobs[i].id,
                    100.0 * r.int_acc.unwrap_or(0.0),
                    100.0 * r.fake_quant_acc.unwrap_or(0.0),
                    format_bits(r.size_bits)
                ),
            }
            Ok(())
        }
        Some(SweepStep::Collect(a)) => {
            let p = Plan::read(&a.plan)?;
            let c = collect(&p, &sweep_dir(&a.plan))?;
            print_collected(&c, p.jobs.len());
            Ok(())
        }
        None => {
            let out = cmd.out.context("--out DIR is required")?;
            if cmd.jobs == 0 {
                bail!("--jobs: expected ≥ 1, found 0");
            }
            let p = plan(&cmd.spec, &out)?;
            let o = LocalOptions {
                jobs: cmd.jobs,
                threads: cmd.threads.unwrap_or_else(|| threads_per_job(cmd.jobs)),
                exe: None,
                device: train::parse_device(&cmd.device)?,
                progress: !cmd.quiet,
            };
            let ran = run_all(&p, &out, &o);
            let c = collect(&p, &out)?;
            print_collected(&c, p.jobs.len());
            ran
        }
    }
}
