//! Model size in bits and the iso-size width solver.
//!
//! Size = Σ over conv/linear layers of B × weight count (the *weight* part) + per-channel and
//! per-tensor integer parameters (the *parameter* part): per output channel a 32-bit bias, and for
//! requantized outputs a 16-bit multiplier and an 8-bit shift; residual adds store two multipliers
//! and a shift, average pools one multiplier and a shift. Budgets apply to the size under a
//! [`SizeAccounting`]: the research's (weights only) or the engine's (weights + parameters).

use crate::arith::{ActKind, Bits};
use crate::error::{Error, Result};
use crate::family::FamilyConfig;
use crate::graph::{Graph, Op};
use serde::{Deserialize, Serialize};

pub mod board;
pub mod lean;
pub mod params;

pub use board::{board_report, board_shape, BoardReport};
pub use params::{params_table, ParamsRow};

pub const BIAS_BITS: u64 = 32;
pub const MULTIPLIER_STORAGE_BITS: u64 = 16;
pub const SHIFT_STORAGE_BITS: u64 = 8;

/// Size of one layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerSize {
    pub name: String,
    pub weights: u64,
    pub bits: u8,
    pub weight_bits: u64,
    pub param_bits: u64,
}

/// Size of a model, with the weight and parameter parts apart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelSize {
    pub weights: u64,
    pub weight_bits: u64,
    pub param_bits: u64,
    pub total_bits: u64,
    pub layers: Vec<LayerSize>,
}

impl ModelSize {
    pub fn total_bytes(&self) -> f64 {
        self.total_bits as f64 / 8.0
    }
    /// The size under `accounting`.
    pub fn bits(&self, accounting: SizeAccounting) -> u64 {
        match accounting {
            SizeAccounting::Weights => self.weight_bits,
            SizeAccounting::Engine => self.total_bits,
        }
    }
}

/// Which parts of a model its size counts — what a budget is a budget of.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum SizeAccounting {
    /// The research's size: Σ bitwidth × weight count.
    Weights,
    /// What the engine stores: the weights plus the per-channel and per-tensor parameters.
    /// The default, and what every record and plan without an accounting was sized under.
    #[default]
    Engine,
}

impl SizeAccounting {
    pub const ALL: [SizeAccounting; 2] = [SizeAccounting::Weights, SizeAccounting::Engine];
    pub fn name(self) -> &'static str {
        match self {
            SizeAccounting::Weights => "weights",
            SizeAccounting::Engine => "engine",
        }
    }
    /// For `skip_serializing_if`: records under the engine accounting keep their old bytes.
    pub fn is_engine(&self) -> bool {
        *self == SizeAccounting::Engine
    }
    /// What the size counts, for sentences.
    pub fn describe(self) -> &'static str {
        match self {
            SizeAccounting::Weights => "bits × weights",
            SizeAccounting::Engine => "bits × weights + per-channel parameters",
        }
    }
}

impl std::fmt::Display for SizeAccounting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for SizeAccounting {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "weights" => Ok(SizeAccounting::Weights),
            "engine" => Ok(SizeAccounting::Engine),
            _ => Err(Error::invalid(
                "size accounting",
                "weights or engine",
                format!("{s:?}"),
            )),
        }
    }
}

/// Size of `graph` with per-layer bitwidths (`bits_of(node index)`; uniform models pass `|_| B`).
pub fn model_size(graph: &Graph, bits_of: impl Fn(usize) -> Bits) -> Result<ModelSize> {
    let info = graph.infer()?;
    let mut layers = Vec::new();
    for (i, n) in graph.nodes.iter().enumerate() {
        let per_tensor = MULTIPLIER_STORAGE_BITS + SHIFT_STORAGE_BITS;
        let (weights, b, param_bits) = match n.op {
            Op::Conv2d { .. } | Op::Linear { .. } => {
                let out = n.op.out_channels().unwrap() as u64;
                let per_channel = if info[i].kind == ActKind::I32 {
                    BIAS_BITS
                } else {
                    BIAS_BITS + MULTIPLIER_STORAGE_BITS + SHIFT_STORAGE_BITS
                };
                (
                    n.op.weight_count() as u64,
                    bits_of(i).get(),
                    out * per_channel,
                )
            }
            Op::Add => (0, 0, MULTIPLIER_STORAGE_BITS + per_tensor),
            Op::AvgPool { .. } | Op::GlobalAvgPool => (0, 0, per_tensor),
            _ => continue,
        };
        layers.push(LayerSize {
            name: n.name.clone(),
            weights,
            bits: b,
            weight_bits: weights * b as u64,
            param_bits,
        });
    }
    let weights = layers.iter().map(|l| l.weights).sum();
    let weight_bits = layers.iter().map(|l| l.weight_bits).sum();
    let param_bits = layers.iter().map(|l| l.param_bits).sum();
    Ok(ModelSize {
        weights,
        weight_bits,
        param_bits,
        total_bits: weight_bits + param_bits,
        layers,
    })
}

/// Widths the solver considers: multiples of 1/64 up to 16.
pub const WIDTH_STEP: f64 = 1.0 / 64.0;
pub const MAX_WIDTH_STEPS: usize = 16 * 64;

/// The solver's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WidthSolution {
    pub width: f64,
    pub size: ModelSize,
    pub budget_bits: u64,
    #[serde(default)]
    pub accounting: SizeAccounting,
}

impl WidthSolution {
    /// The solution's size under the accounting it was solved for.
    pub fn size_bits(&self) -> u64 {
        self.size.bits(self.accounting)
    }
}

/// [`solve_width`] under the engine accounting.
pub fn width_for_budget(
    base: &FamilyConfig,
    bits: Bits,
    budget_bits: u64,
) -> Result<WidthSolution> {
    solve_width(base, bits, budget_bits, SizeAccounting::Engine)
}

/// The largest width on the 1/64 grid whose rounded model's size under `accounting` fits
/// `budget_bits` at bitwidth `bits`. `base` supplies everything but the width.
pub fn solve_width(
    base: &FamilyConfig,
    bits: Bits,
    budget_bits: u64,
    accounting: SizeAccounting,
) -> Result<WidthSolution> {
    let size_at = |k: usize| -> Result<ModelSize> {
        let cfg = FamilyConfig {
            width: k as f64 * WIDTH_STEP,
            ..*base
        };
        model_size(&cfg.build()?, |_| bits)
    };
    // Size is non-decreasing in width (channel rounding is monotone): binary search the grid.
    let smallest = size_at(1)?.bits(accounting);
    if smallest > budget_bits {
        return Err(Error::invalid(
            "budget",
            format!(
                "at least {} ({smallest} bits, {accounting} accounting), the smallest {} at {bits} bits",
                format_bits(smallest),
                base.family
            ),
            format!("{} ({budget_bits} bits)", format_bits(budget_bits)),
        ));
    }
    let (mut lo, mut hi) = (1usize, MAX_WIDTH_STEPS + 1); // lo fits, hi does not (or is past the grid)
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if size_at(mid)?.bits(accounting) <= budget_bits {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(WidthSolution {
        width: lo as f64 * WIDTH_STEP,
        size: size_at(lo)?,
        budget_bits,
        accounting,
    })
}

/// What `size_report` sizes: a family at a width, or the largest width within a budget.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SizeTarget {
    Width(f64),
    /// A budget in bits.
    Budget(u64),
}

/// A model's size layer by layer, at a width given or solved for. JSON fields in alphabetical
/// order (the order of the earlier untyped output).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SizeReport {
    pub bits: Bits,
    pub budget_bits: Option<u64>,
    /// What the budget (and `size_bits`) counts.
    pub size_accounting: SizeAccounting,
    /// The size under `size_accounting`.
    pub size_bits: u64,
    pub channel_multiple: usize,
    /// Every conv/linear layer's weight shape `[out, in/groups, k, k]`.
    pub channel_plan: Vec<(String, Option<[usize; 4]>)>,
    pub family: crate::family::Family,
    pub size: ModelSize,
    pub width: f64,
    /// The conv/linear layers (op name, weight shape, size), for tables.
    #[serde(skip)]
    pub weight_layers: Vec<WeightLayer>,
}

/// One conv/linear layer of a [`SizeReport`].
#[derive(Clone, Debug, PartialEq)]
pub struct WeightLayer {
    pub op: &'static str,
    pub weight_shape: [usize; 4],
    pub size: LayerSize,
}

/// Size `base`'s family (everything but its width from `base`) at bitwidth `bits`, at the
/// width `target` gives or the largest whose size under `accounting` fits its budget.
pub fn size_report(
    base: &FamilyConfig,
    bits: Bits,
    target: SizeTarget,
    accounting: SizeAccounting,
) -> Result<SizeReport> {
    let (width, budget_bits) = match target {
        SizeTarget::Width(w) => (w, None),
        SizeTarget::Budget(b) => (solve_width(base, bits, b, accounting)?.width, Some(b)),
    };
    let cfg = FamilyConfig { width, ..*base };
    let graph = cfg.build()?;
    let size = model_size(&graph, |_| bits)?;
    let weight_layers = graph
        .weight_layers()
        .zip(size.layers.iter().filter(|l| l.weights > 0))
        .map(|(n, l)| WeightLayer {
            op: n.op.kind_name(),
            weight_shape: n.op.weight_shape().expect("a weight layer"),
            size: l.clone(),
        })
        .collect();
    Ok(SizeReport {
        bits,
        budget_bits,
        size_accounting: accounting,
        size_bits: size.bits(accounting),
        channel_multiple: cfg.channel_multiple,
        channel_plan: graph
            .weight_layers()
            .map(|n| (n.name.clone(), n.op.weight_shape()))
            .collect(),
        family: cfg.family,
        size,
        width: cfg.width,
        weight_layers,
    })
}

/// Parse a size such as `64KiB`, `0.5MiB`, `100kbit`, `4096B`, `12000` (bits) into bits.
pub fn parse_bits(s: &str) -> Result<u64> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let bad = || {
        Error::invalid(
            "size",
            "a number with a unit: bit, kbit, Mbit, B, KB, KiB, MB, MiB (e.g. 64KiB)",
            format!("{s:?}"),
        )
    };
    let v: f64 = num.parse().map_err(|_| bad())?;
    let mult: f64 = match unit.trim() {
        "" | "b" | "bit" | "bits" => 1.0,
        "kbit" | "kb" => 1e3,
        "Mbit" | "Mb" => 1e6,
        "B" => 8.0,
        "KB" | "kB" => 8e3,
        "KiB" => 8.0 * 1024.0,
        "MB" => 8e6,
        "MiB" => 8.0 * 1024.0 * 1024.0,
        _ => return Err(bad()),
    };
    let bits = v * mult;
    if !bits.is_finite() || !(1.0..=1e15).contains(&bits) {
        return Err(bad());
    }
    Ok(bits.round() as u64)
}

/// Human form of a size in bits: `64.0 KiB`.
pub fn format_bits(bits: u64) -> String {
    let bytes = bits as f64 / 8.0;
    if bytes >= 1024.0 * 1024.0 {
        format!("{:.2} MiB", bytes / (1024.0 * 1024.0))
    } else if bytes >= 1024.0 {
        format!("{:.1} KiB", bytes / 1024.0)
    } else {
        format!("{bytes:.0} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::family::Family;
    use proptest::prelude::*;

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_bits("64KiB").unwrap(), 64 * 1024 * 8);
        assert_eq!(parse_bits("1000").unwrap(), 1000);
        assert_eq!(parse_bits("2 kbit").unwrap(), 2000);
        assert_eq!(parse_bits("0.5MiB").unwrap(), 4 * 1024 * 1024);
        for bad in ["", "KiB", "12 parsecs", "-4KiB", "0"] {
            assert!(parse_bits(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn too_small_budget_is_a_clear_error() {
        let cfg = FamilyConfig::fashion_mnist(Family::ResNet { depth: 20 }, 1.0);
        let e = width_for_budget(&cfg, Bits::new(8).unwrap(), 100)
            .unwrap_err()
            .to_string();
        assert!(e.contains("budget") && e.contains("at least"), "{e}");
    }

    #[test]
    fn accountings_parse_and_count_their_parts() {
        assert_eq!(
            "weights".parse::<SizeAccounting>().unwrap(),
            SizeAccounting::Weights
        );
        assert_eq!(
            "engine".parse::<SizeAccounting>().unwrap(),
            SizeAccounting::Engine
        );
        let e = "research"
            .parse::<SizeAccounting>()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("weights or engine") && e.contains("research"),
            "{e}"
        );
        assert_eq!(SizeAccounting::default(), SizeAccounting::Engine);
        let g = FamilyConfig::fashion_mnist(Family::ResNet { depth: 8 }, 0.5)
            .build()
            .unwrap();
        let s = model_size(&g, |_| Bits::new(2).unwrap()).unwrap();
        assert_eq!(s.bits(SizeAccounting::Weights), 2 * s.weights);
        assert_eq!(s.bits(SizeAccounting::Engine), s.weight_bits + s.param_bits);
        assert!(s.param_bits > 0);
    }

    /// Under the weights accounting the same budget buys a wider model, whose engine size
    /// exceeds the budget by at most its parameters.
    #[test]
    fn weights_accounting_solves_wider() {
        let cfg = FamilyConfig::fashion_mnist(Family::MobileNetV2, 1.0);
        let b = Bits::new(1).unwrap();
        let budget = 16 * 8192;
        let e = solve_width(&cfg, b, budget, SizeAccounting::Engine).unwrap();
        let w = solve_width(&cfg, b, budget, SizeAccounting::Weights).unwrap();
        assert!(w.width > e.width, "{} vs {}", w.width, e.width);
        assert!(w.size_bits() <= budget && w.size.total_bits > budget);
        assert_eq!(w.size_bits(), w.size.weight_bits);
        assert_eq!(e.size_bits(), e.size.total_bits);
        let r = size_report(&cfg, b, SizeTarget::Budget(budget), SizeAccounting::Weights).unwrap();
        assert_eq!((r.width, r.size_bits), (w.width, w.size.weight_bits));
    }

    #[test]
    fn params_table_shares_are_the_parameter_bits() {
        let bases: Vec<FamilyConfig> = ["resnet8", "mobilenetv2"]
            .iter()
            .map(|f| FamilyConfig::fashion_mnist(f.parse().unwrap(), 1.0))
            .collect();
        let bits = [Bits::new(1).unwrap(), Bits::new(8).unwrap()];
        let rows = params_table(&bases, &bits, &[16 * 8192]).unwrap();
        assert_eq!(rows.len(), 4);
        for r in &rows {
            let e = r.engine.unwrap();
            let want = solve_width(
                &FamilyConfig::fashion_mnist(r.family, 1.0),
                r.bits,
                r.budget_bits,
                SizeAccounting::Engine,
            )
            .unwrap();
            assert_eq!((e.width, e.param_bits), (want.width, want.size.param_bits));
            assert!(e.weight_bits + e.param_bits <= r.budget_bits);
            let w = r.weights.unwrap();
            assert!(w.weight_bits <= r.budget_bits && w.width >= e.width);
        }
        // Depthwise MobileNetV2 at B = 1 spends more of the budget on parameters than ResNet-8.
        assert!(rows[2].engine_param_share().unwrap() > rows[0].engine_param_share().unwrap());
        // Too small a budget is a row without a fit, not an error.
        let tiny = params_table(&bases[..1], &bits[1..], &[2000]).unwrap();
        assert_eq!((tiny[0].engine, tiny[0].weights.is_some()), (None, false));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn solution_fits_and_next_step_does_not(
            fam in prop_oneof![Just("resnet8"), Just("resnet20"), Just("vgg-small"), Just("mobilenetv2")],
            b in 1u8..=8,
            kib in 4u64..256,
        ) {
            let cfg = FamilyConfig::fashion_mnist(fam.parse().unwrap(), 1.0);
            let bits = Bits::new(b).unwrap();
            let budget = kib * 8192;
            match width_for_budget(&cfg, bits, budget) {
                Ok(sol) => {
                    prop_assert!(sol.size.total_bits <= budget);
                    let k = (sol.width / WIDTH_STEP).round() as usize;
                    if k < MAX_WIDTH_STEPS {
                        let next = FamilyConfig { width: (k + 1) as f64 * WIDTH_STEP, ..cfg };
                        let s = model_size(&next.build().unwrap(), |_| bits).unwrap();
                        prop_assert!(s.total_bits > budget);
                    }
                }
                Err(e) => prop_assert!(e.to_string().contains("budget")),
            }
        }

        #[test]
        fn weights_solution_fits_and_next_step_does_not(
            fam in prop_oneof![Just("resnet8"), Just("resnet20"), Just("vgg-small"), Just("mobilenetv2")],
            b in 1u8..=8,
            kib in 4u64..256,
        ) {
            let cfg = FamilyConfig::fashion_mnist(fam.parse().unwrap(), 1.0);
            let bits = Bits::new(b).unwrap();
            let budget = kib * 8192;
            if let Ok(sol) = solve_width(&cfg, bits, budget, SizeAccounting::Weights) {
                prop_assert!(sol.size.weight_bits <= budget);
                let k = (sol.width / WIDTH_STEP).round() as usize;
                if k < MAX_WIDTH_STEPS {
                    let next = FamilyConfig { width: (k + 1) as f64 * WIDTH_STEP, ..cfg };
                    let s = model_size(&next.build().unwrap(), |_| bits).unwrap();
                    prop_assert!(s.weight_bits > budget);
                }
            }
        }
    }
}
