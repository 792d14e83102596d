//! Figures of a sweep comparison, each drawn once per backend (SVG for the HTML page, PNG for
//! slides): accuracy vs size, predicted cycles vs size, and per-layer bit allocations of the
//! mixed-precision runs. One panel per family, stacked.

use crate::analysis::{BudgetRow, Cell, Comparison, FamilyReport, Series, Stats};
use crate::error::{Error, Result};
use crate::fonts::{self, FAMILY};
use plotters::coord::{CoordTranslate, Shift};
use plotters::prelude::*;
use std::path::Path;

pub(crate) type Drawn = std::result::Result<(), String>;

/// A figure that can draw itself on any plotters backend.
pub trait Figure {
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn;
}

/// Draw `fig` to `stem.svg` and `stem.png` inside `dir`.
pub fn render(fig: &impl Figure, dir: &Path, stem: &str) -> Result<()> {
    fonts::ensure()?;
    let svg = dir.join(format!("{stem}.svg"));
    let png = dir.join(format!("{stem}.png"));
    let fail = |file: &Path| {
        let file = file.to_path_buf();
        move |msg: String| Error::Plot { file, msg }
    };
    {
        let root = SVGBackend::new(&svg, fig.size()).into_drawing_area();
        fig.draw(&root)
            .and_then(|_| root.present().map_err(|e| e.to_string()))
            .map_err(fail(&svg))?;
    }
    {
        let root = BitMapBackend::new(&png, fig.size()).into_drawing_area();
        fig.draw(&root)
            .and_then(|_| root.present().map_err(|e| e.to_string()))
            .map_err(fail(&png))?;
    }
    Ok(())
}

pub(crate) fn e<E: std::fmt::Display>(err: E) -> String {
    err.to_string()
}

/// One colour per bitwidth, the same in every figure (Tableau 10).
pub fn bits_color(bits: u8) -> RGBColor {
    const C: [RGBColor; 8] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(23, 190, 207),
    ];
    C[(bits.max(1) as usize - 1) % C.len()]
}

const MIXED: RGBColor = RGBColor(40, 40, 40);
const ZERO_DEG: RGBColor = RGBColor(120, 120, 120);
pub(crate) const GRID: RGBColor = RGBColor(225, 225, 225);

fn series_color(s: Series) -> RGBColor {
    match s {
        Series::Uniform { bits } => bits_color(bits),
        Series::MixedBudget => MIXED,
        Series::MixedZeroDegradation => ZERO_DEG,
    }
}

fn kib(bits: f64) -> f64 {
    bits / 8.0 / 1024.0
}

pub(crate) fn title_font() -> TextStyle<'static> {
    (FAMILY, 22).into_font().style(FontStyle::Bold).into()
}

/// Padded log range over positive values.
fn log_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, 0.0f64), |(l, h), v| (l.min(v), h.max(v)));
    if !lo.is_finite() || hi <= 0.0 {
        return (1.0, 10.0);
    }
    (lo / 1.3, hi * 1.3)
}

/// Padded linear range, never empty.
fn lin_range(values: impl Iterator<Item = f64>, floor: f64, ceil: f64) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
        (l.min(v), h.max(v))
    });
    if !lo.is_finite() {
        return (floor, ceil);
    }
    let pad = ((hi - lo) * 0.12).max(hi.abs() * 0.01).max(0.5);
    ((lo - pad).max(floor), (hi + pad).min(ceil))
}

/// Size ticks on a log axis: powers of two (budgets usually are), with 1.5× steps added when the
/// range holds fewer than three of them.
fn size_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let k0 = lo.log2().floor() as i32 - 1;
    let k1 = hi.log2().ceil() as i32 + 1;
    let pow: Vec<f64> = (k0..=k1).map(|k| 2f64.powi(k)).collect();
    let mut ticks: Vec<f64> = pow
        .iter()
        .copied()
        .filter(|v| (lo..=hi).contains(v))
        .collect();
    if ticks.len() < 3 {
        ticks.extend(
            pow.iter()
                .map(|v| v * 1.5)
                .filter(|v| (lo..=hi).contains(v)),
        );
        ticks.sort_by(f64::total_cmp);
    }
    ticks
}

/// SI-style tick label: 1.2M, 350k.
fn si(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e3 {
        format!("{:.0}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// What a quantity plotted against size looks like for one cell.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Quantity {
    Accuracy,
    Cycles,
}

impl Quantity {
    fn stats(self, c: &Cell) -> Option<Stats> {
        match self {
            Quantity::Accuracy => c.accuracy.map(|s| Stats {
                mean: s.mean * 100.0,
                sd: s.sd * 100.0,
                min: s.min * 100.0,
                max: s.max * 100.0,
                n: s.n,
            }),
            Quantity::Cycles => c.cycles,
        }
    }
}

/// Accuracy (or cycles) against model size, per family: a line per uniform bitwidth through the
/// per-budget means with min–max bars over seeds, mixed precision as separate markers.
pub struct VersusSize<'a> {
    pub comparison: &'a Comparison,
    quantity: Quantity,
}

impl<'a> VersusSize<'a> {
    pub fn accuracy(comparison: &'a Comparison) -> Self {
        VersusSize {
            comparison,
            quantity: Quantity::Accuracy,
        }
    }
    pub fn cycles(comparison: &'a Comparison) -> Self {
        VersusSize {
            comparison,
            quantity: Quantity::Cycles,
        }
    }
}

const PANEL_W: u32 = 1000;
const PANEL_H: u32 = 600;

impl Figure for VersusSize<'_> {
    fn size(&self) -> (u32, u32) {
        (
            PANEL_W,
            PANEL_H * self.comparison.families.len().max(1) as u32,
        )
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn {
        root.fill(&WHITE).map_err(e)?;
        let panels = root.split_evenly((self.comparison.families.len().max(1), 1));
        for (fam, area) in self.comparison.families.iter().zip(panels.iter()) {
            self.panel(fam, area)?;
        }
        Ok(())
    }
}

/// A plotted point: its cell, size in KiB, and the plotted quantity over seeds.
type Point<'c> = (&'c Cell, f64, Stats);

/// The points of one series, ordered by size. Board-budget rows are left out: their cycles
/// are another engine's and their widths another channel rounding (the tables show them).
fn series_points(fam: &FamilyReport, s: Series, q: Quantity) -> Vec<Point<'_>> {
    let mut pts: Vec<Point> = fam
        .budgets
        .iter()
        .filter(|b| b.board.is_none())
        .flat_map(|b| b.cells.iter())
        .chain(fam.unbudgeted.iter())
        .filter(|c| c.series == s)
        .filter_map(|c| q.stats(c).map(|st| (c, kib(c.size_bits.mean), st)))
        .collect();
    pts.sort_by(|a, b| a.1.total_cmp(&b.1));
    pts
}

impl VersusSize<'_> {
    fn panel<DB: DrawingBackend>(
        &self,
        fam: &FamilyReport,
        area: &DrawingArea<DB, Shift>,
    ) -> Drawn {
        let q = self.quantity;
        let all: Vec<(Series, Vec<Point>)> = fam
            .series
            .iter()
            .map(|&s| (s, series_points(fam, s, q)))
            .filter(|(_, p)| !p.is_empty())
            .collect();
        let (title, y_desc) = match q {
            Quantity::Accuracy => {
                let fallback = all
                    .iter()
                    .flat_map(|(_, p)| p)
                    .any(|(c, _, _)| c.metric_note().is_some());
                (
                    format!("{}: test accuracy vs model size", fam.name()),
                    if fallback {
                        "Test accuracy (%, integer where recorded)".to_string()
                    } else {
                        "Integer test accuracy (%)".to_string()
                    },
                )
            }
            Quantity::Cycles => (
                format!(
                    "{}: predicted cycles per image vs model size{}",
                    fam.name(),
                    if fam.engines.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", fam.engines.join(", "))
                    }
                ),
                "Predicted cycles per image".to_string(),
            ),
        };
        let pts = || all.iter().flat_map(|(_, p)| p.iter());
        if pts().next().is_none() {
            area.titled(&title, title_font())
                .map_err(e)?
                .draw(&Text::new(
                    match q {
                        Quantity::Accuracy => "no run recorded an accuracy",
                        Quantity::Cycles => "no run recorded predicted cycles",
                    },
                    (PANEL_W as i32 / 2 - 140, PANEL_H as i32 / 2),
                    (FAMILY, 18),
                ))
                .map_err(e)?;
            return Ok(());
        }
        let (x0, x1) = log_range(pts().map(|p| p.1));
        let (y0, y1) = match q {
            Quantity::Accuracy => lin_range(pts().flat_map(|p| [p.2.min, p.2.max]), 0.0, 100.0),
            Quantity::Cycles => lin_range(pts().flat_map(|p| [p.2.min, p.2.max]), 0.0, f64::MAX),
        };
        let mut chart = ChartBuilder::on(area)
            .caption(&title, title_font())
            .margin(18)
            .x_label_area_size(55)
            .y_label_area_size(80)
            .build_cartesian_2d(
                (x0..x1).log_scale().with_key_points(size_ticks(x0, x1)),
                y0..y1,
            )
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("Model size (KiB, log scale)")
            .y_desc(y_desc)
            .axis_desc_style((FAMILY, 17))
            .label_style((FAMILY, 14))
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .x_label_formatter(&|v| {
                if *v >= 10.0 || v.fract() == 0.0 {
                    format!("{v:.0}")
                } else {
                    format!("{v}")
                }
            })
            .y_label_formatter(&|v| match q {
                Quantity::Accuracy => format!("{v:.1}"),
                Quantity::Cycles => si(*v),
            })
            .draw()
            .map_err(e)?;

        for (s, p) in &all {
            draw_series(&mut chart, *s, p, q)?;
        }
        let pos = match q {
            Quantity::Accuracy => SeriesLabelPosition::LowerRight,
            Quantity::Cycles => SeriesLabelPosition::UpperLeft,
        };
        chart
            .configure_series_labels()
            .position(pos)
            .margin(12)
            .legend_area_size(28)
            .label_font((FAMILY, 15))
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(180, 180, 180))
            .draw()
            .map_err(e)?;
        Ok(())
    }
}

/// One series of a versus-size panel: seed-spread bars, then the means as a line with circles
/// (uniform), a dashed line with triangles (mixed at a budget) or crosses (zero-degradation).
fn draw_series<'a, DB: DrawingBackend + 'a, CT: CoordTranslate<From = (f64, f64)>>(
    chart: &mut ChartContext<'a, DB, CT>,
    s: Series,
    p: &[Point],
    q: Quantity,
) -> Drawn {
    let color = series_color(s);
    let note = p
        .iter()
        .find_map(|(c, _, _)| c.metric_note())
        .filter(|_| q == Quantity::Accuracy)
        .map(|n| format!(" ({n})"))
        .unwrap_or_default();
    let label = format!("{}{note}", s.label());
    let line: Vec<(f64, f64)> = p.iter().map(|(_, x, st)| (*x, st.mean)).collect();
    // Seed spread only where there is one (a bar of one seed would hide the marker).
    let bars = p.iter().filter(|(_, _, st)| st.n > 1).map(|(_, x, st)| {
        ErrorBar::new_vertical(*x, st.min, st.mean, st.max, color.stroke_width(2), 10)
    });
    chart.draw_series(bars).map_err(e)?;
    let key = vec![(-2, 0), (20, 0)];
    match s {
        Series::Uniform { .. } => {
            chart
                .draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))
                .map_err(e)?;
            chart
                .draw_series(line.iter().map(|&xy| Circle::new(xy, 5, color.filled())))
                .map_err(e)?
                .label(label)
                .legend(move |(x, y)| {
                    EmptyElement::at((x, y))
                        + PathElement::new(key.clone(), color.stroke_width(2))
                        + Circle::new((9, 0), 4, color.filled())
                });
        }
        Series::MixedBudget => {
            if line.len() > 1 {
                let dashed = DashedLineSeries::new(line.clone(), 8, 5, color.stroke_width(2));
                chart.draw_series(dashed).map_err(e)?;
            }
            chart
                .draw_series(
                    line.iter()
                        .map(|&xy| TriangleMarker::new(xy, 8, color.filled())),
                )
                .map_err(e)?
                .label(label)
                .legend(move |(x, y)| {
                    EmptyElement::at((x, y))
                        + PathElement::new(key.clone(), color.stroke_width(2))
                        + TriangleMarker::new((9, 0), 7, color.filled())
                });
        }
        Series::MixedZeroDegradation => {
            chart
                .draw_series(
                    line.iter()
                        .map(|&xy| Cross::new(xy, 7, color.stroke_width(3))),
                )
                .map_err(e)?
                .label(label)
                .legend(move |(x, y)| Cross::new((x + 9, y), 6, color.stroke_width(3)));
        }
    }
    Ok(())
}

/// One mixed-precision run's allocation, for the bit-allocation figure.
pub struct Allocation {
    pub title: String,
    pub layer_bits: Vec<u8>,
    /// The best uniform bitwidth at the same budget, drawn as a reference line.
    pub reference: Option<u8>,
}

/// Collect every mixed-precision run of a comparison, with its budget's best uniform bitwidth.
pub fn allocations(c: &Comparison) -> Vec<Allocation> {
    let mut out = Vec::new();
    for fam in &c.families {
        for b in &fam.budgets {
            let best = best_uniform(b);
            for cell in b.cells.iter().filter(|c| c.series.is_mixed()) {
                out.extend(cell_allocations(fam, cell, &b.budget, best));
            }
        }
        for cell in fam.unbudgeted.iter().filter(|c| c.series.is_mixed()) {
            let size = unibit_core::size::format_bits(cell.size_bits.mean as u64);
            out.extend(cell_allocations(fam, cell, &size, None));
        }
    }
    out
}

/// The uniform bitwidth with the best mean accuracy at a budget.
fn best_uniform(b: &BudgetRow) -> Option<u8> {
    b.cells
        .iter()
        .filter_map(|c| match (c.series, c.accuracy) {
            (Series::Uniform { bits }, Some(a)) => Some((bits, a.mean)),
            _ => None,
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|x| x.0)
}

/// One allocation per seed of a mixed-precision cell; `at` names its budget or size.
fn cell_allocations<'c>(
    fam: &'c FamilyReport,
    cell: &'c Cell,
    at: &'c str,
    reference: Option<u8>,
) -> impl Iterator<Item = Allocation> + 'c {
    cell.layer_bits.iter().map(move |(seed, bits)| Allocation {
        title: format!("{} · {} · {at} · seed {seed}", fam.name(), cell.label),
        layer_bits: bits.clone(),
        reference,
    })
}

/// At most this many allocation panels in one figure; the rest are listed in the summary only.
pub const MAX_ALLOCATIONS: usize = 24;

/// Bar charts of per-layer bitwidths, a panel per mixed-precision run, two columns.
pub struct BitAllocation<'a> {
    pub runs: &'a [Allocation],
}

const ALLOC_W: u32 = 600;
const ALLOC_H: u32 = 320;

impl BitAllocation<'_> {
    fn grid(&self) -> (usize, usize) {
        let n = self.runs.len().clamp(1, MAX_ALLOCATIONS);
        let cols = if n == 1 { 1 } else { 2 };
        (n.div_ceil(cols), cols)
    }
}

impl Figure for BitAllocation<'_> {
    fn size(&self) -> (u32, u32) {
        let (rows, cols) = self.grid();
        (ALLOC_W * cols as u32, ALLOC_H * rows as u32)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn {
        root.fill(&WHITE).map_err(e)?;
        let panels = root.split_evenly(self.grid());
        for (run, area) in self.runs.iter().take(MAX_ALLOCATIONS).zip(panels.iter()) {
            let n = run.layer_bits.len();
            let top = run
                .layer_bits
                .iter()
                .copied()
                .chain(run.reference)
                .max()
                .unwrap_or(8) as f64
                + 1.0;
            let mut chart = ChartBuilder::on(area)
                .caption(&run.title, (FAMILY, 16).into_font().style(FontStyle::Bold))
                .margin(12)
                .x_label_area_size(42)
                .y_label_area_size(50)
                .build_cartesian_2d(-0.6f64..(n as f64 - 0.4), 0f64..top)
                .map_err(e)?;
            chart
                .configure_mesh()
                .x_desc("Layer (graph order)")
                .y_desc("Weight bits")
                .axis_desc_style((FAMILY, 14))
                .label_style((FAMILY, 12))
                .disable_x_mesh()
                .bold_line_style(GRID)
                .light_line_style(TRANSPARENT)
                .x_labels(n.min(16))
                .y_labels(top as usize + 1)
                .x_label_formatter(&|v| format!("{:.0}", v.round()))
                .y_label_formatter(&|v| format!("{:.0}", v))
                .draw()
                .map_err(e)?;
            chart
                .draw_series(run.layer_bits.iter().enumerate().map(|(i, &b)| {
                    let x = i as f64;
                    Rectangle::new(
                        [(x - 0.38, 0.0), (x + 0.38, b as f64)],
                        bits_color(b).filled(),
                    )
                }))
                .map_err(e)?;
            let mean = run.layer_bits.iter().map(|&b| b as f64).sum::<f64>() / n.max(1) as f64;
            chart
                .draw_series(DashedLineSeries::new(
                    [(-0.6, mean), (n as f64 - 0.4, mean)],
                    6,
                    4,
                    RGBColor(90, 90, 90).stroke_width(2),
                ))
                .map_err(e)?
                .label(format!("mean over layers: {mean:.2}"))
                .legend(|(x, y)| {
                    PathElement::new(
                        vec![(x, y), (x + 20, y)],
                        RGBColor(90, 90, 90).stroke_width(2),
                    )
                });
            if let Some(r) = run.reference {
                let c = bits_color(r);
                chart
                    .draw_series(LineSeries::new(
                        [(-0.6, r as f64), (n as f64 - 0.4, r as f64)],
                        BLACK.stroke_width(2),
                    ))
                    .map_err(e)?
                    .label(format!("best uniform here: B = {r}"))
                    .legend(move |(x, y)| {
                        EmptyElement::at((x, y))
                            + PathElement::new(vec![(0, 0), (20, 0)], BLACK.stroke_width(2))
                            + Rectangle::new([(7, -4), (13, 4)], c.filled())
                    });
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .margin(6)
                .legend_area_size(24)
                .label_font((FAMILY, 12))
                .background_style(WHITE.mix(0.9))
                .border_style(RGBColor(180, 180, 180))
                .draw()
                .map_err(e)?;
        }
        Ok(())
    }
}
