//! `unibit report`: plots and a Markdown/HTML summary of sweeps (unibit-report).

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use unibit_core::size::SizeAccounting;

/// Plots and a Markdown/HTML summary of one or more sweeps.
#[derive(Args, Debug, Clone)]
pub struct ReportArgs {
    /// Sweep directories (holding results.jsonl) or results.jsonl files; records are merged.
    #[arg(required = true)]
    pub sweeps: Vec<PathBuf>,
    /// Output directory: new, empty or an earlier report (whose files are replaced); any other
    /// directory, or one holding an input, is refused.
    #[arg(long)]
    pub out: PathBuf,
    /// Only records planned under this size accounting (weights or engine; default: every
    /// record, with verdicts under each accounting the inputs have).
    #[arg(long)]
    pub size_accounting: Option<SizeAccounting>,
    /// A sweep plan (file or sweep directory) whose runs the inputs should hold: the report
    /// lists what is unfinished and marks those budgets' verdicts provisional (repeatable; a
    /// sweep directory given as input counts its own plan.json).
    #[arg(long = "plan")]
    pub plans: Vec<PathBuf>,
}

/// Write the report and print the verdicts and where the files went.
pub fn report(a: ReportArgs) -> Result<()> {
    let opts = unibit_report::ReportOptions {
        size_accounting: a.size_accounting,
        plans: a.plans,
    };
    let s = unibit_report::run_with(&a.sweeps, &a.out, &opts)?;
    println!(
        "{} runs from {} file(s) → {}",
        s.records,
        s.inputs.len(),
        s.out.display()
    );
    for p in &s.completeness {
        println!(
            "  plan {}: {} of {} runs finished",
            p.plan.display(),
            p.finished,
            p.planned
        );
    }
    for v in &s.verdicts {
        println!("  {v}");
    }
    for w in &s.warnings {
        eprintln!("warning: {w}");
    }
    println!(
        "wrote {}",
        s.files
            .iter()
            .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}
