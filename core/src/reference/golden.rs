//! Golden-vector verification: does the reference reproduce every layer a bundle recorded?

use super::{run, Keep, Outputs};
use crate::bundle::Bundle;
use crate::error::{Error, Result};
use crate::progress::Progress;
use ndarray::Array4;
use serde::Serialize;

/// The outcome of re-running the reference on a bundle's golden inputs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GoldenReport {
    /// Golden images run.
    pub images: usize,
    /// Layers compared (every node of the graph).
    pub layers: usize,
    /// The first layer (graph order) whose output differs, if any.
    pub mismatch: Option<GoldenMismatch>,
}

impl GoldenReport {
    /// Every layer matched bit for bit.
    pub fn is_exact(&self) -> bool {
        self.mismatch.is_none()
    }
}

/// The first differing element of one layer's output.
#[derive(Clone, Debug, PartialEq, Serialize, thiserror::Error)]
#[error(
    "golden mismatch at layer {layer} {name:?}, index {index:?}: reference {reference}, golden {golden}"
)]
pub struct GoldenMismatch {
    /// Node index in graph order.
    pub layer: usize,
    pub name: String,
    /// (image, channel, row, column).
    pub index: (usize, usize, usize, usize),
    pub reference: i32,
    pub golden: i32,
}

/// Run the integer reference on `bundle`'s golden inputs and compare every layer's output with
/// the recorded one. A bundle without golden vectors is an error.
pub fn verify_golden(bundle: &Bundle, progress: &dyn Progress) -> Result<GoldenReport> {
    let g = bundle.golden.as_ref().ok_or_else(|| {
        Error::invalid("golden", "golden vectors (golden/ in the bundle)", "none")
    })?;
    let nodes = &bundle.model.graph.nodes;
    progress.begin("golden vectors", Some(nodes.len() as u64));
    let checked = run(&bundle.model, g.input.view(), Keep::All).and_then(|outs| {
        Ok((
            outs.len(),
            first_mismatch(&outs, &g.outputs, nodes, progress)?,
        ))
    });
    progress.end();
    let (layers, mismatch) = checked?;
    Ok(GoldenReport {
        images: g.count(),
        layers,
        mismatch,
    })
}

/// The first element (graph order, then row-major) where `outs` and `golden` differ.
fn first_mismatch(
    outs: &Outputs,
    golden: &[Array4<i32>],
    nodes: &[crate::graph::Node],
    progress: &dyn Progress,
) -> Result<Option<GoldenMismatch>> {
    for (i, (o, want)) in outs.iter().zip(golden).enumerate() {
        let o = o.as_ref().expect("Keep::All keeps every output");
        if o.shape() != want.shape() {
            return Err(Error::invalid(
                format!("golden output of {:?}", nodes[i].name),
                format!("shape {:?} (the reference's)", o.shape()),
                format!("{:?}", want.shape()),
            ));
        }
        let diff = o.indexed_iter().zip(want.iter()).find(|((_, r), w)| r != w);
        if let Some(((index, &reference), &golden)) = diff {
            return Ok(Some(GoldenMismatch {
                layer: i,
                name: nodes[i].name.clone(),
                index,
                reference,
                golden,
            }));
        }
        progress.advance(1);
    }
    Ok(None)
}
