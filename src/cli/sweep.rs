//! `unibit sweep` (plan, run, collect in one go) and its steps `sweep plan|run|collect` for
//! clusters: `sweep run --plan P --job-index I` is also how a local sweep starts its child
//! processes, and Slurm arrays give the index through SLURM_ARRAY_TASK_ID.

use super::progress::Bars;
use super::train::{device, threads, TrainSettingsArgs};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use unibit_core::family::DEFAULT_CHANNEL_MULTIPLE;
use unibit_core::size::{format_bits, SizeAccounting};
use unibit_core::{Bits, Family};
use unibit_sw::sweep::{
    self, busy_line, sweep_dir, Collected, ExportSettings, JobOutcome, LocalOptions, Plan,
    SweepSpec, PLAN_JSON,
};

/// How each run is exported and measured.
#[derive(Args, Clone, Debug, PartialEq)]
pub struct ExportSettingsArgs {
    /// Training images used to calibrate activation scales at export.
    #[arg(long, default_value_t = 5000, value_parser = super::args::count_at_least_1)]
    pub calibration_images: usize,
    /// Golden vectors stored in each bundle (first N test images).
    #[arg(long, default_value_t = 16, value_parser = super::args::golden_images)]
    pub golden: usize,
    /// Evaluate on the first N test images only (quick checks; default all 10,000).
    #[arg(long, value_parser = super::args::test_images)]
    pub test_limit: Option<usize>,
}

/// What a sweep trains.
#[derive(Args, Clone, Debug)]
pub struct SweepSpecArgs {
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
    #[arg(long, default_value_t = 1, value_parser = super::args::seeds)]
    pub seeds: u64,
    /// Channel counts are rounded to a multiple of this.
    #[arg(long, default_value_t = DEFAULT_CHANNEL_MULTIPLE, value_parser = super::args::count_at_least_1)]
    pub channel_multiple: usize,
    /// What a budget counts: weights (the research's Σ B × weights) or engine (weights +
    /// the per-channel parameters the engine stores).
    #[arg(long, default_value = "engine")]
    pub size_accounting: SizeAccounting,
    #[command(flatten)]
    pub train: TrainSettingsArgs,
    #[command(flatten)]
    pub export: ExportSettingsArgs,
}

impl SweepSpecArgs {
    pub fn spec(&self) -> Result<SweepSpec> {
        Ok(SweepSpec {
            family: self.family.context("--family is required")?,
            budgets: self.budgets.clone(),
            bits: self.bits.clone(),
            seeds: self.seeds,
            channel_multiple: self.channel_multiple,
            size_accounting: self.size_accounting,
            train: self.train.settings(),
            export: ExportSettings {
                calibration_images: self.export.calibration_images,
                golden: self.export.golden,
                test_limit: self.export.test_limit,
            },
        })
    }
}

/// `unibit sweep --family F --budgets … --out DIR` (plan, run, collect), or one of its steps.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SweepCmd {
    #[command(subcommand)]
    pub step: Option<SweepStep>,
    #[command(flatten)]
    pub spec: SweepSpecArgs,
    /// Sweep directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Jobs at once (separate processes, each with max(1, cores/N) threads).
    #[arg(long, default_value_t = 1, value_parser = super::args::threads)]
    pub jobs: usize,
    /// Intra-op threads per job (default: max(1, cores / --jobs)).
    #[arg(long, value_parser = super::args::threads)]
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
    /// Finish the jobs whose training is identical to a finished job of another sweep (same
    /// width, B, seed, recipe: e.g. where both size accountings solve the same width) with
    /// that job's result, its size re-counted under this plan's accounting.
    Reuse(ReuseArgs),
}

#[derive(Args, Debug)]
pub struct ReuseArgs {
    /// The sweep's plan.json (the jobs to finish).
    #[arg(long)]
    pub plan: PathBuf,
    /// The other sweep's plan.json (the finished jobs to take from).
    #[arg(long)]
    pub from: PathBuf,
}

#[derive(Args, Debug)]
pub struct PlanArgs {
    #[command(flatten)]
    pub spec: SweepSpecArgs,
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
    #[arg(long, default_value_t = 2, value_parser = super::args::threads)]
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
    unibit_sw::tune_allocator();
    match cmd.step {
        Some(SweepStep::Plan(a)) => plan(a),
        Some(SweepStep::Run(a)) => run_one(a),
        Some(SweepStep::Collect(a)) => {
            let p = Plan::read(&a.plan)?;
            let c = sweep::collect(&p, &sweep_dir(&a.plan))?;
            print_collected(&c, p.jobs.len());
            Ok(())
        }
        Some(SweepStep::Reuse(a)) => {
            let (p, o) = (Plan::read(&a.plan)?, Plan::read(&a.from)?);
            let taken = sweep::reuse_finished(&p, &sweep_dir(&a.plan), &o, &sweep_dir(&a.from))?;
            for t in &taken {
                println!(
                    "job {} {}: the result of {} (identical training)",
                    t.index, t.id, t.from
                );
            }
            println!(
                "{}: {} job(s) taken from {}",
                a.plan.display(),
                taken.len(),
                a.from.display()
            );
            Ok(())
        }
        None => run_local(cmd),
    }
}

/// `unibit sweep plan`: the job list.
fn plan(a: PlanArgs) -> Result<()> {
    let p = sweep::plan(&a.spec.spec()?, &a.out)?;
    println!(
        "{}: {} jobs (sizes: {} accounting, {})",
        a.out.join(PLAN_JSON).display(),
        p.jobs.len(),
        p.size_accounting,
        p.size_accounting.describe()
    );
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

/// `unibit sweep run`: one job (a Slurm array task, or a local sweep's child process).
fn run_one(a: RunArgs) -> Result<()> {
    threads(a.threads)?;
    let p = Plan::read(&a.plan)?;
    let slurm = std::env::var("SLURM_ARRAY_TASK_ID").ok();
    let i = job_index(a.job_index, slurm.as_deref())?;
    if i >= p.jobs.len() {
        bail!(
            "--job-index: expected 0..{} (the plan's jobs), found {i}",
            p.jobs.len()
        );
    }
    let device = device(&a.device)?;
    let bars = Bars::new(false);
    match sweep::run_job(&p, &sweep_dir(&a.plan), i, device, &bars)? {
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

/// `unibit sweep --out DIR …`: plan, run every job here, collect.
fn run_local(cmd: SweepCmd) -> Result<()> {
    let out = cmd.out.context("--out DIR is required")?;
    if cmd.jobs == 0 {
        bail!("--jobs: expected ≥ 1, found 0");
    }
    let spec = cmd.spec.spec()?;
    let o = LocalOptions {
        jobs: cmd.jobs,
        threads: cmd
            .threads
            .unwrap_or_else(|| sweep::threads_per_job(cmd.jobs)),
        exe: None,
        device: device(&cmd.device)?,
        progress: !cmd.quiet,
    };
    let bars = Bars::new(cmd.quiet);
    let r = sweep::run(&spec, &out, &o, &bars)?;
    print_collected(&r.collected, r.plan.jobs.len());
    Ok(r.jobs.check()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_index_comes_from_the_flag_or_slurm() {
        assert_eq!(job_index(Some(3), Some("7")).unwrap(), 3);
        assert_eq!(job_index(None, Some("7")).unwrap(), 7);
        let e = job_index(None, Some("x")).unwrap_err().to_string();
        assert!(
            e.contains("SLURM_ARRAY_TASK_ID") && e.contains("\"x\""),
            "{e}"
        );
        let e = job_index(None, None).unwrap_err().to_string();
        assert!(e.contains("--job-index"), "{e}");
    }

    #[derive(clap::Parser, Debug)]
    struct Cli {
        #[command(subcommand)]
        command: Cmd,
    }

    #[derive(clap::Subcommand, Debug)]
    #[allow(clippy::large_enum_variant)]
    enum Cmd {
        Sweep(SweepCmd),
        Mixed(crate::cli::mixed::MixedArgs),
    }

    #[test]
    fn command_lines_parse_in_both_shapes() {
        use clap::{CommandFactory, Parser};
        Cli::command().debug_assert();
        let p = |s: &str| Cli::try_parse_from(s.split_whitespace());
        let Cmd::Sweep(c) = p("unibit sweep --family resnet8 --budgets 2KiB,3KiB --bits 1,2 --seeds 2 --epochs 3 --jobs 2 --out x")
            .unwrap()
            .command
        else {
            panic!()
        };
        assert!(c.step.is_none() && c.jobs == 2 && c.spec.seeds == 2 && c.spec.train.epochs == 3);
        assert_eq!(c.spec.budgets, vec!["2KiB", "3KiB"]);
        let Cmd::Sweep(c) = p("unibit sweep plan --family resnet8 --budgets 2KiB --out x")
            .unwrap()
            .command
        else {
            panic!()
        };
        assert!(matches!(c.step, Some(SweepStep::Plan(ref a)) if a.spec.bits.len() == 5));
        let Cmd::Sweep(c) = p("unibit sweep run --plan x/plan.json --job-index 3")
            .unwrap()
            .command
        else {
            panic!()
        };
        assert!(matches!(c.step, Some(SweepStep::Run(ref a)) if a.job_index == Some(3)));
        let Cmd::Sweep(c) = p("unibit sweep run --plan x/plan.json").unwrap().command else {
            panic!()
        };
        assert!(matches!(c.step, Some(SweepStep::Run(ref a)) if a.job_index.is_none()));
        assert!(matches!(
            p("unibit sweep collect --plan x/plan.json")
                .unwrap()
                .command,
            Cmd::Sweep(SweepCmd {
                step: Some(SweepStep::Collect(_)),
                ..
            })
        ));
        assert!(
            p("unibit sweep --budgets 2KiB --out x").is_err(),
            "--family is required"
        );
        assert!(p("unibit sweep --family resnet8 --budgets 2KiB --bits 9 --out x").is_err());
        let Cmd::Mixed(m) = p("unibit mixed --family resnet8 --budgets 4KiB --zero-degradation --tolerance-pp 0.2 --out y")
            .unwrap()
            .command
        else {
            panic!()
        };
        assert!(m.zero_degradation && m.tolerance_pp == 0.2 && m.choices.len() == 5);
    }
}
