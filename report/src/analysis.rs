//! The comparison the experiment asks for: per family and budget, every uniform bitwidth and
//! every mixed-precision method as one cell (mean and spread over seeds), and a computed verdict
//! saying which wins and by how much. Differences within the seed spread are called ties.
//!
//! Spread is the sample standard deviation over seeds (0 with one seed). Two cells tie when
//! their means differ by no more than the sum of their standard deviations, i.e. their
//! mean ± sd intervals overlap.

use crate::load::Sourced;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use unibit_core::engine::Memories;
use unibit_core::results::{Method, RunRecord};
use unibit_core::size::{format_bits, SizeAccounting};

/// How a cell's bitwidths were chosen; orders uniform bitwidths first, then mixed methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Series {
    Uniform { bits: u8 },
    MixedBudget,
    MixedZeroDegradation,
}

impl Series {
    pub fn of(r: &RunRecord) -> Series {
        match r.method {
            Method::Uniform => Series::Uniform {
                bits: r.bits.unwrap_or(0),
            },
            Method::MixedBudget => Series::MixedBudget,
            Method::MixedZeroDegradation => Series::MixedZeroDegradation,
        }
    }
    pub fn is_mixed(self) -> bool {
        !matches!(self, Series::Uniform { .. })
    }
    pub fn label(self) -> String {
        match self {
            Series::Uniform { bits } => format!("B = {bits}"),
            Series::MixedBudget => "mixed precision".into(),
            Series::MixedZeroDegradation => "mixed precision (zero-degradation)".into(),
        }
    }
}

/// Which accuracy a record contributes: integer inference when recorded, else fake-quant, else
/// float. Plots and tables say when anything but integer accuracy was used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Metric {
    Integer,
    FakeQuant,
    Float,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::Integer => "integer",
            Metric::FakeQuant => "fake-quant",
            Metric::Float => "float",
        }
    }
}

/// The accuracy a record is judged by, and which kind it is.
pub fn accuracy(r: &RunRecord) -> Option<(f64, Metric)> {
    r.int_acc
        .map(|a| (a, Metric::Integer))
        .or(r.fake_quant_acc.map(|a| (a, Metric::FakeQuant)))
        .or(r.float_acc.map(|a| (a, Metric::Float)))
}

/// Mean, sample standard deviation and range of some values.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Stats {
    pub n: usize,
    pub mean: f64,
    pub sd: f64,
    pub min: f64,
    pub max: f64,
}

impl Stats {
    pub fn of(values: &[f64]) -> Option<Stats> {
        if values.is_empty() {
            return None;
        }
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n as f64;
        let sd = if n > 1 {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some(Stats {
            n,
            mean,
            sd,
            min,
            max,
        })
    }
}

/// One series at one budget (or one unbudgeted run): its runs summarized over seeds.
#[derive(Clone, Debug, Serialize)]
pub struct Cell {
    pub series: Series,
    pub label: String,
    pub runs: usize,
    pub seeds: Vec<u64>,
    pub epochs: Vec<usize>,
    /// Accuracy as a fraction in [0, 1]; `None` when no run recorded any accuracy.
    pub accuracy: Option<Stats>,
    /// The accuracy kinds used (see [`Metric`]).
    pub metrics: Vec<Metric>,
    pub width_mean: f64,
    pub weights_mean: f64,
    pub size_bits: Stats,
    pub cycles: Option<Stats>,
    /// Per-run layer bitwidths with their seeds (mixed precision only).
    pub layer_bits: Vec<(u64, Vec<u8>)>,
    pub run_dirs: Vec<String>,
}

impl Cell {
    fn from_runs(series: Series, runs: &[&RunRecord]) -> Cell {
        let accs: Vec<(f64, Metric)> = runs.iter().filter_map(|r| accuracy(r)).collect();
        let metrics: BTreeSet<Metric> = accs.iter().map(|a| a.1).collect();
        let cycles: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.cycles.map(|c| c as f64))
            .collect();
        let mean = |f: &dyn Fn(&RunRecord) -> f64| {
            runs.iter().map(|r| f(r)).sum::<f64>() / runs.len() as f64
        };
        let sizes: Vec<f64> = runs.iter().map(|r| r.size_bits as f64).collect();
        Cell {
            series,
            label: series.label(),
            runs: runs.len(),
            seeds: runs.iter().map(|r| r.seed).collect(),
            epochs: runs
                .iter()
                .map(|r| r.epochs)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
            accuracy: Stats::of(&accs.iter().map(|a| a.0).collect::<Vec<_>>()),
            metrics: metrics.into_iter().collect(),
            width_mean: mean(&|r| r.width),
            weights_mean: mean(&|r| r.weights as f64),
            size_bits: Stats::of(&sizes).expect("a cell has at least one run"),
            cycles: Stats::of(&cycles),
            layer_bits: if series.is_mixed() {
                runs.iter()
                    .map(|r| (r.seed, r.layer_bits.clone()))
                    .collect()
            } else {
                Vec::new()
            },
            run_dirs: runs.iter().map(|r| r.run_dir.clone()).collect(),
        }
    }

    /// The accuracy kind to mention next to this cell, if not purely integer.
    pub fn metric_note(&self) -> Option<String> {
        match self.metrics.as_slice() {
            [] | [Metric::Integer] => None,
            [m] => Some(format!("{} acc.", m.name())),
            ms => Some(format!(
                "{} acc.",
                ms.iter().map(|m| m.name()).collect::<Vec<_>>().join("/")
            )),
        }
    }
}

/// One comparison against the leader.
#[derive(Clone, Debug, Serialize)]
pub struct Margin {
    pub over: String,
    /// Leader's mean minus this cell's mean, in percentage points.
    pub pp: f64,
    pub tie: bool,
}

/// The computed outcome at one budget.
#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    /// The best cell, and every cell tied with it (best first).
    pub leaders: Vec<String>,
    pub best_accuracy: Option<f64>,
    /// Against the best non-tied uniform bitwidth and the best non-tied mixed precision.
    pub margins: Vec<Margin>,
    /// Series seen elsewhere in the family but without results at this budget.
    pub missing: Vec<String>,
    /// Planned runs at this budget without a record (`--plan`): the verdict is provisional.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unfinished: Vec<String>,
    pub sentence: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct BudgetRow {
    pub budget_bits: u64,
    pub budget: String,
    /// The board whose on-chip memory is this budget (`unibit sweep --budgets icebreaker`):
    /// its cells' cycles are that board's whole-network engine's. Absent for size budgets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub board: Option<String>,
    /// The clock the board's bitstream is built for (Hz), for predicted images/s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock_hz: Option<u32>,
    pub cells: Vec<Cell>,
    pub verdict: Verdict,
}

/// One family under one size accounting (a family with records under both gets two).
#[derive(Clone, Debug, Serialize)]
pub struct FamilyReport {
    pub family: String,
    /// What the budgets and sizes of this report count (not written for the engine's, so
    /// reports of engine-accounted records read as before).
    #[serde(skip_serializing_if = "SizeAccounting::is_engine")]
    pub size_accounting: SizeAccounting,
    /// Every series with results anywhere in this family, in table column order.
    pub series: Vec<Series>,
    pub budgets: Vec<BudgetRow>,
    /// Runs with no budget (e.g. zero-degradation mixed precision, or a fixed width), one cell each.
    pub unbudgeted: Vec<Cell>,
    pub engines: Vec<String>,
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub families: Vec<FamilyReport>,
}

fn pct(a: f64) -> String {
    format!("{:.1}%", a * 100.0)
}

/// A difference in percentage points, with enough digits that a non-zero one never reads 0.0.
/// `label` with its first letter upper-case, to start a sentence ("Mixed precision is …").
fn capitalized(label: &str) -> String {
    let mut c = label.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

pub fn pp(d: f64) -> String {
    if d.abs() < 0.1 && d != 0.0 {
        format!("{d:+.2} pp")
    } else {
        format!("{d:+.1} pp")
    }
}

fn ties(a: &Stats, b: &Stats) -> bool {
    (a.mean - b.mean).abs() <= a.sd + b.sd
}

/// "91.3% (±0.1)", with "1 seed" for no spread and the accuracy kind when not integer.
fn with_spread(c: &Cell, s: &Stats) -> String {
    let spread = if s.n > 1 {
        format!("±{:.1}", s.sd * 100.0)
    } else {
        "1 seed".to_string()
    };
    match c.metric_note() {
        Some(n) => format!("{} ({spread}, {n})", pct(s.mean)),
        None => format!("{} ({spread})", pct(s.mean)),
    }
}

fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [a] => a.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// Decide one budget: the leader, its ties, margins over the best of the rest, what's missing.
pub fn verdict(budget: &str, cells: &[Cell], family_series: &[Series]) -> Verdict {
    let mut ranked: Vec<(&Cell, Stats)> = cells
        .iter()
        .filter_map(|c| c.accuracy.map(|a| (c, a)))
        .collect();
    ranked.sort_by(|a, b| {
        b.1.mean
            .total_cmp(&a.1.mean)
            .then(a.0.series.cmp(&b.0.series))
    });
    let present: BTreeSet<Series> = ranked.iter().map(|(c, _)| c.series).collect();
    let mut missing: Vec<String> = family_series
        .iter()
        .filter(|s| !present.contains(s) && !matches!(s, Series::MixedZeroDegradation))
        .map(|s| s.label())
        .collect();
    if !family_series.contains(&Series::MixedBudget) {
        missing.push("mixed precision".into());
    }
    let Some(&(best, best_acc)) = ranked.first() else {
        return Verdict {
            leaders: vec![],
            best_accuracy: None,
            margins: vec![],
            missing,
            unfinished: vec![],
            sentence: format!("At {budget}, no run has an accuracy: nothing to compare."),
        };
    };
    let tied: Vec<&(&Cell, Stats)> = ranked
        .iter()
        .skip(1)
        .filter(|(_, a)| ties(&best_acc, a))
        .collect();
    let leaders: Vec<String> = std::iter::once(best.label.clone())
        .chain(tied.iter().map(|(c, _)| c.label.clone()))
        .collect();
    let rest: Vec<&(&Cell, Stats)> = ranked
        .iter()
        .skip(1)
        .filter(|(c, _)| !leaders.contains(&c.label))
        .collect();
    let mut margins = Vec::new();
    for mixed in [false, true] {
        if let Some((c, a)) = rest.iter().find(|(c, _)| c.series.is_mixed() == mixed) {
            margins.push(Margin {
                over: c.label.clone(),
                pp: (best_acc.mean - a.mean) * 100.0,
                tie: false,
            });
        }
    }
    let mut tie_margins: Vec<Margin> = tied
        .iter()
        .map(|(c, a)| Margin {
            over: c.label.clone(),
            pp: (best_acc.mean - a.mean) * 100.0,
            tie: true,
        })
        .collect();

    // A label as written in sentences: with the accuracy kind when it is not integer.
    let named = |label: &str| {
        let note = cells
            .iter()
            .find(|c| c.label == label)
            .and_then(|c| c.metric_note());
        match note {
            Some(n) => format!("{label} ({n})"),
            None => label.to_string(),
        }
    };
    let over = |ms: &[Margin]| {
        join_and(
            &ms.iter()
                .map(|m| format!("{} over {}", pp(m.pp), named(&m.over)))
                .collect::<Vec<_>>(),
        )
    };
    let mut s = if ranked.len() == 1 {
        format!(
            "At {budget}, only {} has results: {}; no comparison.",
            best.label,
            with_spread(best, &best_acc)
        )
    } else if tied.is_empty() {
        format!(
            "At {budget}, {} wins with {}, {}.",
            best.label,
            with_spread(best, &best_acc),
            over(&margins)
        )
    } else {
        let trailing: Vec<String> = tied
            .iter()
            .zip(&tie_margins)
            .map(|((c, a), m)| {
                format!(
                    "{} at {} trails by {}",
                    c.label,
                    with_spread(c, a),
                    pp(m.pp).trim_start_matches('+')
                )
            })
            .collect();
        let mut t = format!(
            "At {budget}, {} tie within the seed spread: {} has the best mean, {}; {}.",
            join_and(&leaders),
            best.label,
            with_spread(best, &best_acc),
            join_and(&trailing)
        );
        if !margins.is_empty() {
            t.push_str(&format!(
                " {} is {}.",
                capitalized(&best.label),
                over(&margins)
            ));
        }
        t
    };
    let one_seed: Vec<String> = ranked
        .iter()
        .filter(|(_, a)| a.n < 2)
        .map(|(c, _)| c.label.clone())
        .collect();
    if !one_seed.is_empty() && ranked.len() > 1 {
        s.push_str(&format!(
            " Only one seed for {}: no spread to judge ties by.",
            join_and(&one_seed)
        ));
    }
    if !missing.is_empty() {
        s.push_str(&format!(
            " No results for {} at this size.",
            join_and(&missing)
        ));
    }
    let no_acc: Vec<String> = cells
        .iter()
        .filter(|c| c.accuracy.is_none())
        .map(|c| c.label.clone())
        .collect();
    if !no_acc.is_empty() {
        s.push_str(&format!(
            " {} ran but recorded no accuracy.",
            join_and(&no_acc)
        ));
    }
    margins.append(&mut tie_margins);
    Verdict {
        leaders,
        best_accuracy: Some(best_acc.mean),
        margins,
        missing,
        unfinished: vec![],
        sentence: s,
    }
}

impl FamilyReport {
    /// The family's name, with the accounting when it is not the engine's.
    pub fn name(&self) -> String {
        match self.size_accounting {
            SizeAccounting::Engine => self.family.clone(),
            a => format!("{} ({a} accounting)", self.family),
        }
    }
}

impl Comparison {
    /// The accountings the records were planned under, in order.
    pub fn accountings(&self) -> Vec<SizeAccounting> {
        self.families
            .iter()
            .map(|f| f.size_accounting)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }
}

/// Group records by family, accounting and budget and decide every budget: sizes under one
/// accounting are never compared with sizes under the other.
pub fn compare(records: &[Sourced]) -> Comparison {
    let mut by_family: BTreeMap<(String, SizeAccounting), Vec<&RunRecord>> = BTreeMap::new();
    for s in records {
        by_family
            .entry((s.record.family.to_string(), s.record.size_accounting))
            .or_default()
            .push(&s.record);
    }
    let families = by_family
        .into_iter()
        .map(|((family, acc), runs)| family_report(family, acc, &runs))
        .collect();
    Comparison { families }
}

/// Images per second at `clock_hz` for `cycles` per image.
pub fn images_per_s(cycles: f64, clock_hz: u32) -> f64 {
    clock_hz as f64 / cycles
}

/// Add the leader's predicted speed on the board to a board row's sentence.
fn board_speed(v: &mut Verdict, cells: &[Cell], clock_hz: u32) {
    let best = cells
        .iter()
        .filter_map(|c| Some((c, c.accuracy?.mean, c.cycles?.mean)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    if let Some((c, _, cycles)) = best {
        v.sentence.push_str(&format!(
            " On the board the leader ({}) is predicted at {:.0} images/s ({:.0} cycles per image at {} MHz).",
            c.label,
            images_per_s(cycles, clock_hz),
            cycles,
            clock_hz / 1_000_000
        ));
    }
}

/// A budget as sentences and tables name it: `16.0 KiB`, or `16.0 KiB of weights` under the
/// weights accounting.
pub fn budget_name(bits: u64, accounting: SizeAccounting) -> String {
    match accounting {
        SizeAccounting::Engine => format_bits(bits),
        SizeAccounting::Weights => format!("{} of weights", format_bits(bits)),
    }
}

fn family_report(
    family: String,
    size_accounting: SizeAccounting,
    runs: &[&RunRecord],
) -> FamilyReport {
    let series: Vec<Series> = runs
        .iter()
        .map(|r| Series::of(r))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // Size budgets first, then board budgets (a board's memory is a different kind of row:
    // its width comes from the board's allocation and its cycles from its engine).
    type Key = (Option<String>, u64);
    let mut by_budget: BTreeMap<Key, BTreeMap<Series, Vec<&RunRecord>>> = BTreeMap::new();
    let mut unbudgeted = Vec::new();
    for r in runs {
        match r.budget_bits {
            Some(b) => by_budget
                .entry((r.board.clone(), b))
                .or_default()
                .entry(Series::of(r))
                .or_default()
                .push(r),
            None => unbudgeted.push(Cell::from_runs(Series::of(r), &[r])),
        }
    }
    unbudgeted.sort_by(|a, b| a.size_bits.mean.total_cmp(&b.size_bits.mean));
    let budgets = by_budget
        .into_iter()
        .map(|((board, budget_bits), cells)| {
            let cells: Vec<Cell> = cells
                .into_iter()
                .map(|(s, rs)| Cell::from_runs(s, &rs))
                .collect();
            let clock_hz = board
                .as_deref()
                .and_then(|b| Memories::for_board(b).ok())
                .map(|m| m.clock_hz());
            let budget = match &board {
                Some(b) => format!(
                    "the {b}'s memory ({})",
                    budget_name(budget_bits, size_accounting)
                ),
                None => budget_name(budget_bits, size_accounting),
            };
            let mut verdict = verdict(&budget, &cells, &series);
            if let Some(hz) = clock_hz {
                board_speed(&mut verdict, &cells, hz);
            }
            BudgetRow {
                budget_bits,
                budget,
                board,
                clock_hz,
                cells,
                verdict,
            }
        })
        .collect();
    let engines: Vec<String> = runs
        .iter()
        .filter_map(|r| r.engine.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut notes = Vec::new();
    let epochs: BTreeSet<usize> = runs.iter().map(|r| r.epochs).collect();
    if epochs.len() > 1 {
        notes.push(format!(
            "Runs were trained for different numbers of epochs ({}); cells average over them.",
            epochs
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if engines.len() > 1 {
        notes.push(format!(
            "Predicted cycles come from more than one engine ({}); compare cycles within one engine only.",
            engines.join(", ")
        ));
    }
    let metrics: BTreeSet<Metric> = runs
        .iter()
        .filter_map(|r| accuracy(r).map(|a| a.1))
        .collect();
    if metrics.iter().any(|m| *m != Metric::Integer) {
        notes.push(format!(
            "Some runs have no integer accuracy; they are judged by {} accuracy (marked in the tables and legends).",
            metrics
                .iter()
                .filter(|m| **m != Metric::Integer)
                .map(|m| m.name())
                .collect::<Vec<_>>()
                .join(" or ")
        ));
    }
    FamilyReport {
        family,
        size_accounting,
        series,
        budgets,
        unbudgeted,
        engines,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(bits: Option<u8>, accs: &[f64]) -> Cell {
        let series = bits.map_or(Series::MixedBudget, |b| Series::Uniform { bits: b });
        let st = Stats::of(accs);
        Cell {
            series,
            label: series.label(),
            runs: accs.len().max(1),
            seeds: (0..accs.len() as u64).collect(),
            epochs: vec![1],
            accuracy: st,
            metrics: if st.is_some() {
                vec![Metric::Integer]
            } else {
                vec![]
            },
            width_mean: 1.0,
            weights_mean: 1.0,
            size_bits: Stats::of(&[8192.0]).unwrap(),
            cycles: None,
            layer_bits: vec![],
            run_dirs: vec![],
        }
    }

    #[test]
    fn stats_use_the_sample_sd() {
        let s = Stats::of(&[1.0, 2.0, 3.0]).unwrap();
        assert_eq!((s.n, s.mean, s.sd, s.min, s.max), (3, 2.0, 1.0, 1.0, 3.0));
        assert_eq!(Stats::of(&[5.0]).unwrap().sd, 0.0);
        assert!(Stats::of(&[]).is_none());
    }

    #[test]
    fn three_way_tie_and_margins_over_the_rest() {
        let all: Vec<Series> = [1, 2, 4, 8]
            .map(|bits| Series::Uniform { bits })
            .into_iter()
            .chain([Series::MixedBudget])
            .collect();
        let cells = vec![
            cell(Some(1), &[0.80, 0.82]),
            cell(Some(2), &[0.90, 0.92]),
            cell(Some(4), &[0.905, 0.915]),
            cell(Some(8), &[0.89, 0.91]),
            cell(None, &[0.85, 0.85]),
        ];
        let v = verdict("1.0 KiB", &cells, &all);
        assert_eq!(v.leaders, ["B = 2", "B = 4", "B = 8"]);
        assert!(
            v.sentence
                .starts_with("At 1.0 KiB, B = 2, B = 4 and B = 8 tie within the seed spread"),
            "{}",
            v.sentence
        );
        assert!(
            v.sentence
                .contains("B = 2 is +10.0 pp over B = 1 and +6.0 pp over mixed precision."),
            "{}",
            v.sentence
        );
    }

    #[test]
    fn lone_and_empty_cells_are_said_so() {
        let all = [Series::Uniform { bits: 2 }, Series::Uniform { bits: 4 }];
        let v = verdict(
            "2.0 KiB",
            &[cell(Some(2), &[0.9]), cell(Some(4), &[])],
            &all,
        );
        assert_eq!(
            v.sentence,
            "At 2.0 KiB, only B = 2 has results: 90.0% (1 seed); no comparison. \
             No results for B = 4 and mixed precision at this size. \
             B = 4 ran but recorded no accuracy."
        );
        let v = verdict("2.0 KiB", &[cell(Some(4), &[])], &all);
        assert!(v.sentence.contains("no run has an accuracy"));
        assert!(v.leaders.is_empty());
    }
}
