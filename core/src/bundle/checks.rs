//! Checks of a parsed manifest beyond its schema: the arithmetic it declares is the one the
//! tools implement, recomputable fields agree with what the tools compute, real numbers are in
//! range, and no field is present that the schema does not know (serde would drop it silently).

use super::{Arithmetic, Manifest, MAX_LAYERS};
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::size::model_size;
use serde_json::Value;

/// The manifest checks that need no other file, except [`size`]; errors name the field (the
/// caller adds the file).
pub fn check(man: &Manifest, raw: &Value) -> Result<()> {
    let known = serde_json::to_value(man).expect("manifest serializes");
    unknown_fields(raw, &known, "")?;
    arithmetic(&man.arithmetic)?;
    reals(man)
}

/// Layer count bound, checked before the graph is built.
pub fn layer_count(man: &Manifest) -> Result<()> {
    if man.layers.len() > MAX_LAYERS {
        return Err(Error::invalid(
            "layers",
            format!("at most {MAX_LAYERS} layers"),
            man.layers.len(),
        ));
    }
    Ok(())
}

/// Every arithmetic field must be what this unibit implements.
fn arithmetic(a: &Arithmetic) -> Result<()> {
    let want = Arithmetic::for_bits(a.weight_bits);
    let fields: [(&str, String, String); 7] = [
        (
            "activation_bits",
            want.activation_bits.to_string(),
            a.activation_bits.to_string(),
        ),
        (
            "accumulator_bits",
            want.accumulator_bits.to_string(),
            a.accumulator_bits.to_string(),
        ),
        (
            "multiplier_bits",
            want.multiplier_bits.to_string(),
            a.multiplier_bits.to_string(),
        ),
        (
            "max_shift",
            want.max_shift.to_string(),
            a.max_shift.to_string(),
        ),
        (
            "rounding",
            format!("{:?}", want.rounding),
            format!("{:?}", a.rounding),
        ),
        (
            "weight_encoding",
            format!("{:?}", want.weight_encoding),
            format!("{:?}", a.weight_encoding),
        ),
        (
            "requantization",
            format!("{:?}", want.requantization),
            format!("{:?}", a.requantization),
        ),
    ];
    for (field, want, found) in fields {
        if want != found {
            return Err(Error::invalid(
                format!("arithmetic.{field}"),
                format!("{want} (the only arithmetic this unibit implements)"),
                found,
            ));
        }
    }
    Ok(())
}

fn positive(field: String, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(Error::invalid(field, "a positive finite number", v))
    }
}

/// Activation scales and the width positive and finite, weight scales finite; accuracies in
/// [0, 1].
pub fn reals(man: &Manifest) -> Result<()> {
    positive("input.scale".into(), man.input.scale)?;
    for (i, l) in man.layers.iter().enumerate() {
        let at = format!("layers[{i}] \"{}\"", l.node.name);
        positive(format!("{at}.output.scale"), l.output.scale)?;
        // Signed: the exporter records a negative batch-norm scale here (its sign is also
        // folded into the codes), so only finiteness is a rule.
        for (j, &s) in l.weight_scale.iter().enumerate() {
            if !s.is_finite() {
                return Err(Error::invalid(
                    format!("{at}.weight_scale[{j}]"),
                    "a finite number",
                    s,
                ));
            }
        }
    }
    if let Some(w) = man.model.width {
        positive("model.width".into(), w)?;
    }
    if man.model.channel_multiple == Some(0) {
        return Err(Error::invalid(
            "model.channel_multiple",
            "a positive integer",
            0,
        ));
    }
    let a = &man.accuracy;
    for (field, v) in [
        ("float", a.float),
        ("fake_quant", a.fake_quant),
        ("integer", a.integer),
    ] {
        if let Some(v) = v.filter(|v| !(0.0..=1.0).contains(v)) {
            return Err(Error::invalid(
                format!("accuracy.{field}"),
                "a fraction in [0, 1]",
                v,
            ));
        }
    }
    Ok(())
}

/// `size` must be what [`model_size`] computes for the graph at the manifest's bitwidth
/// (checked after the weights, so that codes above the bitwidth are named as such).
pub fn size(man: &Manifest, graph: &Graph) -> Result<()> {
    let want = model_size(graph, |_| man.arithmetic.weight_bits)?;
    let got = &man.size;
    let totals = [
        ("weights", want.weights, got.weights),
        ("weight_bits", want.weight_bits, got.weight_bits),
        ("param_bits", want.param_bits, got.param_bits),
        ("total_bits", want.total_bits, got.total_bits),
        (
            "layers (count)",
            want.layers.len() as u64,
            got.layers.len() as u64,
        ),
    ];
    for (field, w, g) in totals {
        if w != g {
            return Err(recomputed(format!("size.{field}"), w, g));
        }
    }
    for (i, (w, g)) in want.layers.iter().zip(&got.layers).enumerate() {
        if w != g {
            return Err(recomputed(
                format!("size.layers[{i}]"),
                format!("{w:?}"),
                format!("{g:?}"),
            ));
        }
    }
    Ok(())
}

fn recomputed(field: String, want: impl std::fmt::Display, got: impl std::fmt::Display) -> Error {
    Error::invalid(field, format!("{want} (computed from the layers)"), got)
}

/// Fields of `raw` that the parsed manifest (re-serialized as `known`) does not have. A key
/// serde skips when empty (`null`, `[]`) counts as known.
fn unknown_fields(raw: &Value, known: &Value, at: &str) -> Result<()> {
    match (raw, known) {
        (Value::Object(r), Value::Object(k)) => {
            for (key, v) in r {
                let path = if at.is_empty() {
                    key.clone()
                } else {
                    format!("{at}.{key}")
                };
                match k.get(key) {
                    Some(kv) => unknown_fields(v, kv, &path)?,
                    None if is_empty(v) => {}
                    None => {
                        return Err(Error::invalid(
                            path,
                            "no such field (unknown to format v1)",
                            "a value",
                        ))
                    }
                }
            }
            Ok(())
        }
        (Value::Array(r), Value::Array(k)) => {
            for (i, (rv, kv)) in r.iter().zip(k).enumerate() {
                unknown_fields(rv, kv, &format!("{at}[{i}]"))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}
