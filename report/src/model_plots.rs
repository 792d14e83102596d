//! Figures of one model's trip through the flow (the demo report): the training curve, and the
//! engine's cycles per layer measured in cosimulation beside the cost model's prediction.

use crate::fonts::FAMILY;
use crate::plots::{bits_color, e, title_font, Drawn, Figure, GRID};
use plotters::coord::Shift;
use plotters::prelude::*;

/// One epoch of training: the mean training loss and the test accuracy (0..1) after it.
#[derive(Clone, Debug, PartialEq)]
pub struct Epoch {
    pub epoch: usize,
    pub train_loss: f64,
    pub test_acc: f64,
}

/// Test accuracy (left axis) and training loss (right axis) per epoch.
pub struct TrainingCurve<'a> {
    pub title: String,
    pub epochs: &'a [Epoch],
}

/// One layer's cycles on the engine: measured (cosimulation) and predicted (cost model).
#[derive(Clone, Debug, PartialEq)]
pub struct LayerCycles {
    pub name: String,
    pub measured: u64,
    pub predicted: u64,
}

/// A horizontal bar per engine layer (measured) with the prediction as a tick on each bar.
pub struct CyclesPerLayer<'a> {
    pub title: String,
    pub bits: u8,
    pub layers: &'a [LayerCycles],
}

const ACC: RGBColor = RGBColor(31, 119, 180);
const LOSS: RGBColor = RGBColor(214, 39, 40);

impl Figure for TrainingCurve<'_> {
    fn size(&self) -> (u32, u32) {
        (900, 480)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn {
        root.fill(&WHITE).map_err(e)?;
        let n = self
            .epochs
            .iter()
            .map(|p| p.epoch)
            .max()
            .unwrap_or(1)
            .max(1);
        let (a0, a1) = pad(self.epochs.iter().map(|p| 100.0 * p.test_acc), 0.0, 100.0);
        let (l0, l1) = pad(self.epochs.iter().map(|p| p.train_loss), 0.0, f64::MAX);
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, title_font())
            .margin(18)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .right_y_label_area_size(70)
            .build_cartesian_2d(0.5f64..n as f64 + 0.5, a0..a1)
            .map_err(e)?
            .set_secondary_coord(0.5f64..n as f64 + 0.5, l0..l1);
        chart
            .configure_mesh()
            .x_desc("Epoch")
            .y_desc("Test accuracy (%), blue circles")
            .x_labels(n.min(30))
            .x_label_formatter(&|v| format!("{v:.0}"))
            .axis_desc_style((FAMILY, 17))
            .label_style((FAMILY, 14))
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .draw()
            .map_err(e)?;
        chart
            .configure_secondary_axes()
            .y_desc("Training loss, red triangles")
            .axis_desc_style((FAMILY, 17))
            .label_style((FAMILY, 14))
            .draw()
            .map_err(e)?;
        let acc: Vec<(f64, f64)> = self
            .epochs
            .iter()
            .map(|p| (p.epoch as f64, 100.0 * p.test_acc))
            .collect();
        let loss: Vec<(f64, f64)> = self
            .epochs
            .iter()
            .map(|p| (p.epoch as f64, p.train_loss))
            .collect();
        chart
            .draw_series(LineSeries::new(acc.clone(), ACC.stroke_width(3)))
            .map_err(e)?;
        chart
            .draw_series(acc.iter().map(|&p| Circle::new(p, 5, ACC.filled())))
            .map_err(e)?;
        chart
            .draw_secondary_series(LineSeries::new(loss.clone(), LOSS.stroke_width(3)))
            .map_err(e)?;
        chart
            .draw_secondary_series(
                loss.iter()
                    .map(|&p| TriangleMarker::new(p, 6, LOSS.filled())),
            )
            .map_err(e)?;
        Ok(())
    }
}

impl Figure for CyclesPerLayer<'_> {
    fn size(&self) -> (u32, u32) {
        (900, 140 + 22 * self.layers.len().max(1) as u32)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn {
        root.fill(&WHITE).map_err(e)?;
        let n = self.layers.len().max(1);
        let max = self
            .layers
            .iter()
            .map(|l| l.measured.max(l.predicted))
            .max()
            .unwrap_or(1)
            .max(1) as f64;
        let names: Vec<String> = self.layers.iter().map(|l| l.name.clone()).collect();
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, title_font())
            .margin(18)
            .x_label_area_size(50)
            .y_label_area_size(150)
            .build_cartesian_2d(0.0..max * 1.08, (0..n - 1).into_segmented())
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("Engine cycles per image (bars: cosimulation, black ticks: cost model)")
            .y_labels(n)
            .y_label_formatter(&|v| match v {
                // First layer at the top.
                SegmentValue::CenterOf(i) => names.get(n - 1 - *i).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .axis_desc_style((FAMILY, 16))
            .label_style((FAMILY, 13))
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .x_label_formatter(&|v| format!("{v:.0}"))
            .disable_y_mesh()
            .draw()
            .map_err(e)?;
        let color = bits_color(self.bits);
        chart
            .draw_series(self.layers.iter().enumerate().map(|(i, l)| {
                let i = n - 1 - i;
                let mut bar = Rectangle::new(
                    [
                        (0.0, SegmentValue::Exact(i)),
                        (l.measured as f64, SegmentValue::Exact(i + 1)),
                    ],
                    color.mix(0.8).filled(),
                );
                bar.set_margin(3, 3, 0, 0);
                bar
            }))
            .map_err(e)?;
        chart
            .draw_series(self.layers.iter().enumerate().map(|(i, l)| {
                let i = n - 1 - i;
                PathElement::new(
                    [
                        (l.predicted as f64, SegmentValue::Exact(i)),
                        (l.predicted as f64, SegmentValue::Exact(i + 1)),
                    ],
                    BLACK.stroke_width(3),
                )
            }))
            .map_err(e)?;
        Ok(())
    }
}

/// A padded range over `values`, kept inside [floor, ceil].
fn pad(values: impl Iterator<Item = f64>, floor: f64, ceil: f64) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
        (l.min(v), h.max(v))
    });
    if !lo.is_finite() {
        return (floor, ceil.min(1.0));
    }
    let m = ((hi - lo) * 0.15).max(1e-3 * hi.abs().max(1.0));
    ((lo - m).max(floor), (hi + m).min(ceil))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plots::render;

    #[test]
    fn both_figures_render_to_svg_and_png_with_their_labels() {
        let dir = tempfile::tempdir().unwrap();
        let epochs = [
            Epoch {
                epoch: 1,
                train_loss: 0.9,
                test_acc: 0.73,
            },
            Epoch {
                epoch: 2,
                train_loss: 0.45,
                test_acc: 0.81,
            },
            Epoch {
                epoch: 3,
                train_loss: 0.31,
                test_acc: 0.867,
            },
        ];
        render(
            &TrainingCurve {
                title: "training".into(),
                epochs: &epochs,
            },
            dir.path(),
            "training",
        )
        .unwrap();
        let layers = [
            LayerCycles {
                name: "stem".into(),
                measured: 1200,
                predicted: 1200,
            },
            LayerCycles {
                name: "stage1.block0.conv1".into(),
                measured: 5000,
                predicted: 4800,
            },
        ];
        render(
            &CyclesPerLayer {
                title: "cycles".into(),
                bits: 2,
                layers: &layers,
            },
            dir.path(),
            "cycles",
        )
        .unwrap();
        for f in ["training.svg", "training.png", "cycles.svg", "cycles.png"] {
            assert!(
                std::fs::metadata(dir.path().join(f)).unwrap().len() > 1000,
                "{f}"
            );
        }
        let svg = std::fs::read_to_string(dir.path().join("cycles.svg")).unwrap();
        assert!(svg.contains("stage1.block0.conv1") && svg.contains("stem"));
        let svg = std::fs::read_to_string(dir.path().join("training.svg")).unwrap();
        assert!(svg.contains("Test accuracy") && svg.contains("Training loss"));
    }
}
