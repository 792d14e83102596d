//! The training curve of a run (`RUN/training.svg` and `.png`): drawn after `unibit train` so an
//! ML engineer can look at a run instead of reading its metrics.jsonl; the demo page shows it too.

use anyhow::Result;
use std::path::Path;
use unibit_report::model_plots::Epoch;

/// A run's epochs from its metrics.jsonl (none when it has not finished an epoch).
#[cfg(feature = "train")]
pub fn training_epochs(run: &Path) -> Result<Vec<Epoch>> {
    if !run.join(unibit_sw::train::METRICS_JSONL).exists() {
        return Ok(vec![]);
    }
    Ok(unibit_sw::train::read_metrics(run)?
        .into_iter()
        .map(|m| Epoch {
            epoch: m.epoch,
            train_loss: m.train_loss,
            test_acc: m.test_acc,
        })
        .collect())
}

#[cfg(not(feature = "train"))]
pub fn training_epochs(_: &Path) -> Result<Vec<Epoch>> {
    Ok(vec![])
}

/// After `unibit train`: the run's curve (`RUN/training.svg` and `.png`, each replaced whole:
/// staged, then renamed), titled with family, width, B and the epochs done.
#[cfg(feature = "train")]
pub fn draw_run(run: &Path) -> Result<Option<std::path::PathBuf>> {
    use unibit_report::model_plots::TrainingCurve;
    let epochs = training_epochs(run)?;
    if epochs.is_empty() {
        return Ok(None);
    }
    let cfg = unibit_sw::train::read_config(run)?;
    let precision = match (&cfg.layer_bits, cfg.quant) {
        (Some(_), _) => "mixed precision".to_string(),
        (None, Some(q)) => format!("B = {}", q.bits),
        (None, None) => "float".to_string(),
    };
    let title = format!(
        "{} w = {} at {precision}: {} of {} epochs",
        cfg.model.family,
        cfg.model.width,
        epochs.len(),
        cfg.epochs
    );
    let staging = unibit_core::atomic::Staging::new(run)?;
    let curve = TrainingCurve {
        title,
        epochs: &epochs,
    };
    unibit_report::plots::render(&curve, &staging.path(""), "training")?;
    staging.publish()?;
    Ok(Some(run.join("training.svg")))
}
