//! Checkpoints: one safetensors file of tensors (model variables under `model/`, optimizer
//! momentum under `opt/`) per epoch, and `checkpoint.json` naming the current one with its size
//! and SHA-256. Both are written atomically (temporary file + rename); the JSON is renamed last,
//! so a crash leaves the previous checkpoint intact. Loading verifies the checksum, every name
//! and every shape, and names the file and field at fault.

use crate::error::{read_json, write_json, Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use tch::Tensor;
use unibit_core::hash::sha256_hex;

pub const CHECKPOINT_JSON: &str = "checkpoint.json";
pub const FORMAT: &str = "unibit-checkpoint";
/// Version 2: SHA-256 checksum (`sha256`). Version 1 (FNV-1a, `fnv1a64`) is still read; its
/// files are checked by size only.
pub const VERSION: u32 = 2;
/// Name prefixes of the model's variables and of the optimizer's buffers in a checkpoint.
pub const MODEL_PREFIX: &str = "model/";
pub const OPT_PREFIX: &str = "opt/";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointInfo {
    pub format: String,
    pub version: u32,
    /// Completed epochs.
    pub epoch: usize,
    /// Optimizer steps taken.
    pub step: usize,
    /// Tensor file, relative to the run directory.
    pub tensors: String,
    pub bytes: u64,
    /// SHA-256 of the tensor file, hex (version 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// FNV-1a 64 of the tensor file, hex (version 1 files; not verified any more).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fnv1a64: Option<String>,
}

/// Save `tensors` as the checkpoint after `epoch` epochs in `dir`.
pub fn save(
    dir: &Path,
    epoch: usize,
    step: usize,
    tensors: &BTreeMap<String, Tensor>,
) -> Result<()> {
    let name = format!("ckpt-epoch-{epoch:04}.safetensors");
    let path = dir.join(&name);
    let tmp = unibit_core::atomic::temp_sibling(&path);
    let list: Vec<(&str, &Tensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    Tensor::write_safetensors(&list, &tmp)
        .map_err(|e| Error::torch(format!("{}: cannot write", tmp.display()), e))?;
    let bytes = std::fs::read(&tmp).map_err(|e| Error::io(&tmp, "cannot read back", e))?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, "cannot rename into place", e))?;
    let info = CheckpointInfo {
        format: FORMAT.into(),
        version: VERSION,
        epoch,
        step,
        tensors: name.clone(),
        bytes: bytes.len() as u64,
        sha256: Some(sha256_hex(&bytes)),
        fnv1a64: None,
    };
    let previous = read_info(dir).ok();
    write_json(
        &dir.join(CHECKPOINT_JSON),
        "a checkpoint description",
        &info,
    )?;
    if let Some(p) = previous {
        if p.tensors != name {
            let _ = std::fs::remove_file(dir.join(p.tensors));
        }
    }
    Ok(())
}

/// Read and check `checkpoint.json`.
pub fn read_info(dir: &Path) -> Result<CheckpointInfo> {
    let path = dir.join(CHECKPOINT_JSON);
    let info: CheckpointInfo = read_json(
        &path,
        "cannot read (no checkpoint in this run?)",
        "not a valid checkpoint description",
    )?;
    if info.format != FORMAT {
        return Err(Error::invalid_in(
            &path,
            "format",
            format!("{FORMAT:?}"),
            format!("{:?}", info.format),
        ));
    }
    let checksum_ok = match info.version {
        VERSION => info.sha256.is_some(),
        1 => info.fnv1a64.is_some(),
        _ => false,
    };
    if !checksum_ok {
        return Err(Error::invalid_in(
            &path,
            "version",
            format!("{VERSION} with sha256 (or 1 with fnv1a64)"),
            info.version,
        ));
    }
    if info.tensors.contains('/') || info.tensors.contains("..") {
        return Err(Error::invalid_in(
            &path,
            "tensors",
            "a file name in the run directory",
            format!("{:?}", info.tensors),
        ));
    }
    Ok(info)
}

/// Load the current checkpoint's tensors, verifying size and checksum.
pub fn load(dir: &Path) -> Result<(CheckpointInfo, BTreeMap<String, Tensor>)> {
    let info = read_info(dir)?;
    let path = dir.join(&info.tensors);
    let bytes =
        std::fs::read(&path).map_err(|e| Error::io(&path, "cannot read checkpoint tensors", e))?;
    if bytes.len() as u64 != info.bytes {
        return Err(Error::invalid_in(
            &path,
            "size",
            format!("{} bytes (from {CHECKPOINT_JSON})", info.bytes),
            format!("{} — the checkpoint is truncated or corrupted", bytes.len()),
        ));
    }
    if let Some(want) = &info.sha256 {
        let sum = sha256_hex(&bytes);
        if &sum != want {
            return Err(Error::invalid_in(
                &path,
                "sha256",
                format!("{want} (from {CHECKPOINT_JSON})"),
                format!("{sum} — the checkpoint is corrupted"),
            ));
        }
    }
    let tensors = Tensor::read_safetensors(&path).map_err(|e| {
        Error::torch(
            format!("{}: not a valid safetensors file", path.display()),
            e,
        )
    })?;
    Ok((info, tensors.into_iter().collect()))
}

/// A restored tensor must have its variable's dtype and finite values; a batch-norm running
/// variance must be ≥ 0. (A corrupt or hand-edited checkpoint fails here, naming the tensor,
/// not later as a misleading batch-norm or accuracy error.)
fn check_values(file: &Path, key: &str, t: &Tensor, var: &Tensor, model: bool) -> Result<()> {
    if t.kind() != var.kind() {
        return Err(Error::invalid_in(
            file,
            key,
            format!("dtype {:?}", var.kind()),
            format!("{:?}", t.kind()),
        ));
    }
    if !t.is_floating_point() || t.numel() == 0 {
        return Ok(());
    }
    let bad = t
        .isfinite()
        .logical_not()
        .sum(tch::Kind::Int64)
        .int64_value(&[]);
    if bad > 0 {
        return Err(Error::invalid_in(
            file,
            key,
            "finite values",
            format!("{bad} NaN or infinite value(s)"),
        ));
    }
    if model && key.ends_with("running_var") {
        let min = t.min().double_value(&[]);
        if min < 0.0 {
            return Err(Error::invalid_in(
                file,
                key,
                "a running variance ≥ 0",
                format!("a minimum of {min}"),
            ));
        }
    }
    Ok(())
}

/// A checkpoint's epoch must lie within the run's configured epochs.
pub fn check_epoch(dir: &Path, info: &CheckpointInfo, epochs: usize) -> Result<()> {
    if info.epoch > epochs {
        return Err(Error::invalid_in(
            &dir.join(CHECKPOINT_JSON),
            "epoch",
            format!("0..={epochs} (the run's epochs in config.json)"),
            info.epoch,
        ));
    }
    Ok(())
}

/// Copy `src` tensors named `prefix` + name into the `dst` variables of the same names and
/// shapes, in place; `file` names the checkpoint in errors.
pub fn restore(
    file: &Path,
    prefix: &str,
    src: &BTreeMap<String, Tensor>,
    dst: &BTreeMap<String, Tensor>,
) -> Result<()> {
    for (name, var) in dst {
        let key = format!("{prefix}{name}");
        let Some(t) = src.get(&key) else {
            return Err(Error::invalid_in(
                file,
                key,
                format!("a tensor of shape {:?}", var.size()),
                "none",
            ));
        };
        if t.size() != var.size() {
            return Err(Error::invalid_in(
                file,
                key,
                format!("shape {:?}", var.size()),
                format!("{:?}", t.size()),
            ));
        }
        check_values(file, &key, t, var, prefix == MODEL_PREFIX)?;
        tch::no_grad(|| var.shallow_clone().copy_(t));
    }
    let extra = src
        .keys()
        .find(|k| k.starts_with(prefix) && !dst.contains_key(&k[prefix.len()..]));
    if let Some(k) = extra {
        return Err(Error::invalid_in(
            file,
            k.clone(),
            "no such tensor (it is not in this model)",
            "one",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn restore_one(name: &str, t: Tensor) -> String {
        let var = Tensor::ones([3], (tch::Kind::Float, tch::Device::Cpu));
        let dst = BTreeMap::from([(name.to_string(), var)]);
        let src = BTreeMap::from([(format!("{MODEL_PREFIX}{name}"), t)]);
        match restore(Path::new("ck.safetensors"), MODEL_PREFIX, &src, &dst) {
            Ok(()) => "ok".into(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn restore_checks_dtype_values_and_variances() {
        let f = |v: &[f32]| Tensor::from_slice(v);
        assert_eq!(restore_one("bn.running_var", f(&[1.0, 2.0, 0.0])), "ok");
        let e = restore_one("w", Tensor::from_slice(&[1.0f64, 2.0, 3.0]));
        assert!(e.contains("dtype") && e.contains("Double"), "{e}");
        let e = restore_one("w", f(&[1.0, f32::NAN, 3.0]));
        assert!(e.contains("NaN"), "{e}");
        let e = restore_one("bn.running_var", f(&[1.0, -0.5, 3.0]));
        assert!(e.contains("running variance"), "{e}");
        let info = CheckpointInfo {
            format: FORMAT.into(),
            version: VERSION,
            epoch: 99,
            step: 0,
            tensors: "x".into(),
            bytes: 0,
            sha256: None,
            fnv1a64: None,
        };
        let e = check_epoch(Path::new("run"), &info, 2)
            .unwrap_err()
            .to_string();
        assert!(e.contains("epoch") && e.contains("0..=2"), "{e}");
        assert!(check_epoch(Path::new("run"), &info, 99).is_ok());
    }
}
