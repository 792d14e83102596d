//! unibit-report — plots and a written summary of iso-size sweeps: does one weight bitwidth,
//! with the width chosen to fill a fixed model size, beat mixed precision at that size, and
//! which bitwidth wins? Reads the sweep driver's `results.jsonl` tables ([`RunRecord`]s), compares
//! at every budget ([`analysis`]), draws figures ([`plots`]) and writes Markdown, HTML and JSON.
//! No torch and no HDL: it builds in the hardware-only configuration.
//!
//! [`RunRecord`]: unibit_core::results::RunRecord

pub mod analysis;
pub mod error;
pub mod fonts;
pub mod html;
pub mod load;
pub mod model_plots;
pub mod plan;
pub mod plots;

pub use analysis::{Comparison, Verdict};
pub use error::{Error, Result};

use analysis::{Cell, FamilyReport, Stats};
use html::{Page, Table};
use serde::Serialize;
use std::path::{Path, PathBuf};
use unibit_core::atomic::{write_atomic, Staging};
use unibit_core::size::SizeAccounting;

/// File names inside the output directory.
pub const ACCURACY: &str = "accuracy_vs_size";
pub const CYCLES: &str = "cycles_vs_size";
pub const ALLOCATION: &str = "bit_allocation";
pub const SUMMARY_MD: &str = "summary.md";
pub const INDEX_HTML: &str = "index.html";
pub const RESULTS_JSON: &str = "results.json";

/// A report directory: marked by `results.json` with this format, so a new report may replace
/// an earlier one (or fill an empty directory) and refuses any other non-empty directory.
pub const OUTPUT: unibit_core::atomic::OutputKind = unibit_core::atomic::OutputKind {
    name: "report",
    marker: RESULTS_JSON,
    format: "unibit-report",
};

/// What a report run did, for the CLI to print.
#[derive(Clone, Debug, Serialize)]
pub struct ReportOutput {
    pub out: PathBuf,
    pub files: Vec<PathBuf>,
    pub records: usize,
    pub inputs: Vec<PathBuf>,
    /// One computed sentence per family and budget.
    pub verdicts: Vec<String>,
    /// Per plan given (or found in a sweep directory): which of its runs are finished.
    pub completeness: Vec<plan::Completeness>,
    pub warnings: Vec<String>,
}

/// `results.json`: the merged records and the computed comparison.
#[derive(Serialize)]
struct ResultsJson<'a> {
    format: &'static str,
    inputs: &'a [PathBuf],
    records: &'a [load::Sourced],
    comparison: &'a Comparison,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    completeness: &'a [plan::Completeness],
    warnings: &'a [String],
}

/// What a report includes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReportOptions {
    /// Only records planned under this accounting; `None`: every record, each family judged
    /// under each accounting it has records for.
    pub size_accounting: Option<SizeAccounting>,
    /// Sweep plans (files, or sweep directories) whose runs the inputs should hold; a sweep
    /// directory given as an input counts its own `plan.json` too.
    pub plans: Vec<PathBuf>,
}

/// [`run_with`] with the default options.
pub fn run(inputs: &[PathBuf], out: &Path) -> Result<ReportOutput> {
    run_with(inputs, out, &ReportOptions::default())
}

/// Read the sweeps (directories or `results.jsonl` files), compare, and write the report into
/// `out` (staged, then moved into place file by file; a failure leaves `out` as it was).
/// `out` must be new, empty or an earlier report ([`OUTPUT`]), and must not hold an input.
pub fn run_with(inputs: &[PathBuf], out: &Path, opts: &ReportOptions) -> Result<ReportOutput> {
    let input_paths: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    unibit_core::atomic::check_output_dir(out, &OUTPUT, &input_paths)?;
    let mut loaded = load::load(inputs)?;
    if let Some(a) = opts.size_accounting {
        load::keep_accounting(&mut loaded, a)?;
    }
    let mut comparison = analysis::compare(&loaded.records);
    let mut plans = opts.plans.clone();
    for i in inputs {
        let p = i.join(plan::PLAN_FILE);
        if i.is_dir() && p.is_file() && !plans.contains(&p) && !plans.contains(i) {
            plans.push(p);
        }
    }
    let completeness = plan::completeness(&plans, &loaded.records)?;
    mark_unfinished(&mut comparison, &completeness);
    let mut warnings = loaded.warnings.clone();
    // Font problems surface before anything is staged.
    fonts::ensure()?;

    let stage = Staging::new(out)?;
    let dir = stage.path("");
    plots::render(&plots::VersusSize::accuracy(&comparison), &dir, ACCURACY)?;
    plots::render(&plots::VersusSize::cycles(&comparison), &dir, CYCLES)?;
    let allocations = plots::allocations(&comparison);
    if allocations.len() > plots::MAX_ALLOCATIONS {
        warnings.push(format!(
            "{} mixed-precision runs: the bit-allocation figure shows the first {}",
            allocations.len(),
            plots::MAX_ALLOCATIONS
        ));
    }
    if !allocations.is_empty() {
        plots::render(
            &plots::BitAllocation { runs: &allocations },
            &dir,
            ALLOCATION,
        )?;
    }

    let page = summary_page(
        &loaded,
        &comparison,
        &completeness,
        &warnings,
        &dir,
        !allocations.is_empty(),
    )?;
    page.write_markdown(&stage.path(SUMMARY_MD))?;
    page.write_html(&stage.path(INDEX_HTML))?;
    let json = serde_json::to_string_pretty(&ResultsJson {
        format: OUTPUT.format,
        inputs: &loaded.files,
        records: &loaded.records,
        comparison: &comparison,
        completeness: &completeness,
        warnings: &warnings,
    })
    .map_err(|source| Error::WriteJson {
        file: stage.path(RESULTS_JSON),
        source,
    })?;
    write_atomic(&stage.path(RESULTS_JSON), json.as_bytes())?;

    let files = stage.publish()?;
    if allocations.is_empty() {
        // A figure from an earlier report with mixed runs would now be stale.
        for ext in ["svg", "png"] {
            let _ = std::fs::remove_file(out.join(format!("{ALLOCATION}.{ext}")));
        }
    }
    Ok(ReportOutput {
        out: out.to_path_buf(),
        files,
        records: loaded.records.len(),
        inputs: loaded.files,
        verdicts: comparison
            .families
            .iter()
            .flat_map(|f| {
                f.budgets
                    .iter()
                    .map(move |b| format!("{}: {}", f.family, b.verdict.sentence))
            })
            .collect(),
        completeness,
        warnings,
    })
}

/// Mark every verdict whose budget still has planned runs without a record, in its data and
/// at the end of its sentence.
fn mark_unfinished(c: &mut Comparison, plans: &[plan::Completeness]) {
    for fam in &mut c.families {
        for b in &mut fam.budgets {
            let missing: Vec<String> = plans
                .iter()
                .flat_map(|p| p.missing_at(&fam.family, fam.size_accounting, b.budget_bits))
                .map(|m| format!("B = {} seed {}", m.bits, m.seed))
                .collect();
            if missing.is_empty() {
                continue;
            }
            b.verdict.sentence += &format!(
                " Provisional: {} planned run(s) at this size not finished yet ({}).",
                missing.len(),
                missing.join(", ")
            );
            b.verdict.unfinished = missing;
        }
    }
}

fn pct(s: &Stats) -> String {
    if s.n > 1 {
        format!("{:.2} ± {:.2}%", s.mean * 100.0, s.sd * 100.0)
    } else {
        format!("{:.2}% (1 seed)", s.mean * 100.0)
    }
}

fn kib(bits: f64) -> String {
    format!("{:.1} KiB", bits / 8192.0)
}

/// The compact cell of the budget × series matrix (with predicted images/s on a board row).
fn matrix_cell(c: &Cell, clock_hz: Option<u32>) -> String {
    let acc = c
        .accuracy
        .as_ref()
        .map(pct)
        .unwrap_or_else(|| "no accuracy".into());
    let note = c
        .metric_note()
        .map(|n| format!(" ({n})"))
        .unwrap_or_default();
    let speed = match (clock_hz, c.cycles) {
        (Some(hz), Some(cy)) => format!(" · {:.0} img/s", analysis::images_per_s(cy.mean, hz)),
        _ => String::new(),
    };
    format!(
        "{acc}{note} · w {:.3} · {}{speed}",
        c.width_mean,
        kib(c.size_bits.mean)
    )
}

fn detail_row(budget: &str, c: &Cell) -> Vec<String> {
    let a = c.accuracy;
    let f = |v: Option<f64>| v.map_or("—".into(), |v| format!("{:.2}", v * 100.0));
    vec![
        budget.to_string(),
        c.label.clone(),
        c.seeds
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        f(a.map(|a| a.mean)),
        f(a.map(|a| a.sd)),
        f(a.map(|a| a.min)),
        f(a.map(|a| a.max)),
        c.metrics
            .iter()
            .map(|m| m.name())
            .collect::<Vec<_>>()
            .join("/"),
        format!("{:.3}", c.width_mean),
        format!("{:.0}", c.weights_mean),
        kib(c.size_bits.mean),
        c.cycles.map_or("—".into(), |s| format!("{:.0}", s.mean)),
    ]
}

const DETAIL_HEADER: [&str; 12] = [
    "Budget",
    "Series",
    "Seeds",
    "Acc. mean (%)",
    "Acc. sd (pp)",
    "Acc. min (%)",
    "Acc. max (%)",
    "Accuracy kind",
    "Width",
    "Weights",
    "Size",
    "Cycles (mean)",
];

fn family_section(page: &mut Page, fam: &FamilyReport) {
    page.heading(2, format!("Family {}", fam.name()));
    if !fam.size_accounting.is_engine() {
        page.paragraph(format!(
            "Sizes and budgets here count {} only ({} accounting), not the per-channel \
             parameters the engine also stores.",
            fam.size_accounting.describe(),
            fam.size_accounting
        ));
    }
    if !fam.budgets.is_empty() {
        page.heading(3, "Verdict per model size");
        page.list(fam.budgets.iter().map(|b| b.verdict.sentence.clone()));
        page.heading(
            3,
            "Accuracy (mean ± sd over seeds) · width · size, per budget",
        );
        // Columns: series with a result at some budget (unbudgeted runs are listed below).
        let columns: Vec<_> = fam
            .series
            .iter()
            .filter(|s| {
                fam.budgets
                    .iter()
                    .any(|b| b.cells.iter().any(|c| c.series == **s))
            })
            .collect();
        let mut t = Table::new(
            std::iter::once("Budget".to_string()).chain(columns.iter().map(|s| s.label())),
        );
        for b in &fam.budgets {
            let mut row = vec![b.budget.clone()];
            for s in &columns {
                row.push(
                    b.cells
                        .iter()
                        .find(|c| c.series == **s)
                        .map_or("—".into(), |c| matrix_cell(c, b.clock_hz)),
                );
            }
            t.row(row);
        }
        page.table(t);
    }
    let mut t = Table::new(DETAIL_HEADER);
    for b in &fam.budgets {
        for c in &b.cells {
            t.row(detail_row(&b.budget, c));
        }
    }
    for c in &fam.unbudgeted {
        t.row(detail_row("none", c));
    }
    page.heading(3, "All cells");
    page.table(t);
    let mixed: Vec<String> = fam
        .budgets
        .iter()
        .flat_map(|b| b.cells.iter().map(move |c| (b.budget.clone(), c)))
        .chain(fam.unbudgeted.iter().map(|c| ("no budget".to_string(), c)))
        .filter(|(_, c)| c.series.is_mixed())
        .flat_map(|(budget, c)| {
            c.layer_bits.iter().map(move |(seed, bits)| {
                format!(
                    "{} at {budget}, seed {seed}: [{}]",
                    c.label,
                    bits.iter()
                        .map(|b| b.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
        })
        .collect();
    if !mixed.is_empty() {
        page.heading(
            3,
            "Mixed-precision bit allocations (per layer, graph order)",
        );
        page.list(mixed);
    }
    if !fam.notes.is_empty() {
        page.heading(3, "Notes");
        page.list(fam.notes.clone());
    }
}

/// Both accountings side by side: per family and budget, who leads under each.
fn accounting_section(page: &mut Page, c: &Comparison) {
    page.heading(2, "Verdicts under each size accounting");
    let accountings = c.accountings();
    let mut t = Table::new(
        ["Family".to_string(), "Budget".to_string()]
            .into_iter()
            .chain(
                accountings
                    .iter()
                    .map(|a| format!("{a} accounting: leader(s)")),
            ),
    );
    let mut rows: std::collections::BTreeMap<(String, Option<String>, u64), Vec<String>> =
        Default::default();
    for fam in &c.families {
        let col = accountings
            .iter()
            .position(|a| *a == fam.size_accounting)
            .expect("listed");
        for b in &fam.budgets {
            let row = rows
                .entry((fam.family.clone(), b.board.clone(), b.budget_bits))
                .or_insert_with(|| vec!["—".to_string(); accountings.len()]);
            row[col] = match (b.verdict.leaders.as_slice(), b.verdict.best_accuracy) {
                ([], _) | (_, None) => "no accuracy".into(),
                (l, Some(a)) => format!("{} ({:.2}%)", l.join(", "), a * 100.0),
            };
            if !b.verdict.unfinished.is_empty() {
                row[col] += &format!(
                    " — provisional, {} run(s) unfinished",
                    b.verdict.unfinished.len()
                );
            }
        }
    }
    for ((family, board, bits), cols) in rows {
        let size = unibit_core::size::format_bits(bits);
        let budget = match board {
            Some(b) => format!("the {b}'s memory ({size})"),
            None => size,
        };
        t.row([family, budget].into_iter().chain(cols));
    }
    page.table(t);
}

/// Per plan: how many of its runs are finished, and which are not.
fn completeness_section(page: &mut Page, plans: &[plan::Completeness]) {
    page.heading(2, "Completeness against the sweep plans");
    let mut t = Table::new([
        "Plan",
        "Family",
        "Accounting",
        "Epochs",
        "Finished",
        "Not finished",
    ]);
    for p in plans {
        let missing = if p.missing.is_empty() {
            "—".to_string()
        } else {
            p.missing
                .iter()
                .map(|m| m.id.clone())
                .collect::<Vec<_>>()
                .join(", ")
        };
        t.row([
            p.plan.display().to_string(),
            p.family.to_string(),
            p.size_accounting.to_string(),
            p.epochs.to_string(),
            format!("{} of {}", p.finished, p.planned),
            missing,
        ]);
    }
    page.table(t);
}

fn summary_page(
    loaded: &load::Loaded,
    c: &Comparison,
    completeness: &[plan::Completeness],
    warnings: &[String],
    dir: &Path,
    allocation: bool,
) -> Result<Page> {
    let mut page = Page::new("unibit iso-size sweep report");
    let budgets: usize = c.families.iter().map(|f| f.budgets.len()).sum();
    let accountings = c.accountings();
    let families = c
        .families
        .iter()
        .map(|f| &f.family)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let size = if accountings == [SizeAccounting::Engine] {
        "model size = Σ bits × weights + per-channel parameters".to_string()
    } else {
        accountings
            .iter()
            .map(|a| format!("{a} accounting: model size = Σ {}", a.describe()))
            .collect::<Vec<_>>()
            .join("; ")
    };
    page.paragraph(format!(
        "{} runs from {} file(s), {} famil{}, {} budget(s). Every model at a budget was sized to \
         it by the width solver ({size}), so columns compare bitwidths at equal size.",
        loaded.records.len(),
        loaded.files.len(),
        families,
        if families == 1 { "y" } else { "ies" },
        budgets
    ));
    if !completeness.is_empty() {
        completeness_section(&mut page, completeness);
    }
    if accountings.len() > 1 {
        accounting_section(&mut page, c);
    }
    page.paragraph(
        "Accuracy is integer test accuracy (bit-exact reference inference); runs without it use \
         fake-quant, then float accuracy, and say so. Spread is the sample standard deviation \
         over seeds. Two results tie when their means differ by no more than the sum of their \
         standard deviations; with one seed there is no spread, so only equal means tie.",
    );
    page.list(
        loaded
            .files
            .iter()
            .map(|f| format!("input: {}", f.display())),
    );
    for fam in &c.families {
        family_section(&mut page, fam);
    }
    page.heading(2, "Figures");
    page.figure_file(
        &dir.join(format!("{ACCURACY}.svg")),
        format!("{ACCURACY}.svg"),
        "Accuracy vs model size: a line per uniform bitwidth through the per-budget means, bars \
         from the worst to the best seed; mixed precision as triangles (at a budget) and crosses \
         (zero-degradation).",
    )?;
    page.figure_file(
        &dir.join(format!("{CYCLES}.svg")),
        format!("{CYCLES}.svg"),
        "Predicted cycles per image on the reference bit-serial array vs model size.",
    )?;
    if allocation {
        page.figure_file(
            &dir.join(format!("{ALLOCATION}.svg")),
            format!("{ALLOCATION}.svg"),
            "Per-layer weight bitwidths of the mixed-precision runs; the solid line is the best \
             uniform bitwidth at the same budget, the dashed line the mean over layers.",
        )?;
    } else {
        page.paragraph("No mixed-precision runs in the inputs: no bit-allocation figure.");
    }
    if !warnings.is_empty() {
        page.heading(2, "Warnings");
        page.list(warnings.iter().cloned());
    }
    Ok(page)
}
