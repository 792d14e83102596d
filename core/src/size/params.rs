//! Per-channel cost as a design knob: how much of a budget the per-channel and per-tensor
//! parameters (bias, requantizer multiplier and shift) take, per family, bitwidth and budget,
//! under both accountings. From the graphs alone: no training.

use super::{solve_width, SizeAccounting};
use crate::arith::Bits;
use crate::error::{Error, Result};
use crate::family::{Family, FamilyConfig};
use serde::Serialize;

/// A family's largest model within a budget under one accounting.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Fit {
    pub width: f64,
    pub weights: u64,
    pub weight_bits: u64,
    /// The per-channel and per-tensor parameter bits that model has (counted in the budget
    /// under the engine accounting, on top of it under the weights accounting).
    pub param_bits: u64,
}

/// One (family, B, budget) of the table; `None` where not even the narrowest model fits.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ParamsRow {
    pub family: Family,
    pub bits: Bits,
    pub budget_bits: u64,
    pub engine: Option<Fit>,
    pub weights: Option<Fit>,
}

impl ParamsRow {
    /// Share of the budget the parameters take under the engine accounting.
    pub fn engine_param_share(&self) -> Option<f64> {
        self.engine
            .map(|f| f.param_bits as f64 / self.budget_bits as f64)
    }
    /// What the weights-accounted model's parameters add, as a share of the budget.
    pub fn weights_param_overhead(&self) -> Option<f64> {
        self.weights
            .map(|f| f.param_bits as f64 / self.budget_bits as f64)
    }
}

fn fit(base: &FamilyConfig, bits: Bits, budget: u64, acc: SizeAccounting) -> Result<Option<Fit>> {
    match solve_width(base, bits, budget, acc) {
        Ok(s) => Ok(Some(Fit {
            width: s.width,
            weights: s.size.weights,
            weight_bits: s.size.weight_bits,
            param_bits: s.size.param_bits,
        })),
        Err(Error::Invalid { field, .. }) if field == "budget" => Ok(None),
        Err(e) => Err(e),
    }
}

/// The table: families outer, then budgets, then bitwidths.
pub fn params_table(
    bases: &[FamilyConfig],
    bits: &[Bits],
    budgets: &[u64],
) -> Result<Vec<ParamsRow>> {
    let mut rows = vec![];
    for base in bases {
        for &budget_bits in budgets {
            for &b in bits {
                rows.push(ParamsRow {
                    family: base.family,
                    bits: b,
                    budget_bits,
                    engine: fit(base, b, budget_bits, SizeAccounting::Engine)?,
                    weights: fit(base, b, budget_bits, SizeAccounting::Weights)?,
                });
            }
        }
    }
    Ok(rows)
}
