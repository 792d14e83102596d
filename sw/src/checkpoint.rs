//! Checkpoints: one safetensors file of tensors (model variables under `model/`, optimizer
//! momentum under `opt/`) per epoch, and `checkpoint.json` naming the current one with its size
//! and FNV-1a checksum. Both are written atomically (temporary file + rename); the JSON is
//! renamed last, so a crash leaves the previous checkpoint intact. Loading verifies the
//! checksum, every name and every shape, and names the file and field at fault.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tch::Tensor;

pub const CHECKPOINT_JSON: &str = "checkpoint.json";
pub const FORMAT: &str = "unibit-checkpoint";
pub const VERSION: u32 = 1;

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
    /// FNV-1a 64 of the tensor file, hex.
    pub fnv1a64: String,
}

/// FNV-1a 64-bit hash.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Write `bytes` to `path` atomically (unibit-core's helper).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(unibit_core::atomic::write_atomic(path, bytes)?)
}

fn tmp_path(path: &Path) -> PathBuf {
    unibit_core::atomic::temp_sibling(path)
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
    let tmp = tmp_path(&path);
    let list: Vec<(&str, &Tensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    Tensor::write_safetensors(&list, &tmp)
        .with_context(|| format!("{}: cannot write", tmp.display()))?;
    let bytes =
        std::fs::read(&tmp).with_context(|| format!("{}: cannot read back", tmp.display()))?;
    std::fs::rename(&tmp, &path)
        .with_context(|| format!("{}: cannot rename into place", path.display()))?;
    let info = CheckpointInfo {
        format: FORMAT.into(),
        version: VERSION,
        epoch,
        step,
        tensors: name.clone(),
        bytes: bytes.len() as u64,
        fnv1a64: format!("{:016x}", fnv1a64(&bytes)),
    };
    let previous = read_info(dir).ok();
    write_atomic(
        &dir.join(CHECKPOINT_JSON),
        serde_json::to_string_pretty(&info)?.as_bytes(),
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
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "{}: cannot read (no checkpoint in this run?)",
            path.display()
        )
    })?;
    let info: CheckpointInfo = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a valid checkpoint description", path.display()))?;
    if info.format != FORMAT {
        bail!(
            "{}: format: expected {FORMAT:?}, found {:?}",
            path.display(),
            info.format
        );
    }
    if info.version != VERSION {
        bail!(
            "{}: version: expected {VERSION}, found {}",
            path.display(),
            info.version
        );
    }
    if info.tensors.contains('/') || info.tensors.contains("..") {
        bail!(
            "{}: tensors: expected a file name in the run directory, found {:?}",
            path.display(),
            info.tensors
        );
    }
    Ok(info)
}

/// Load the current checkpoint's tensors, verifying size and checksum.
pub fn load(dir: &Path) -> Result<(CheckpointInfo, BTreeMap<String, Tensor>)> {
    let info = read_info(dir)?;
    let path = dir.join(&info.tensors);
    let bytes = std::fs::read(&path)
        .with_context(|| format!("{}: cannot read checkpoint tensors", path.display()))?;
    if bytes.len() as u64 != info.bytes {
        bail!(
            "{}: size: expected {} bytes (from {CHECKPOINT_JSON}), found {} — the checkpoint is truncated or corrupted",
            path.display(),
            info.bytes,
            bytes.len()
        );
    }
    let sum = format!("{:016x}", fnv1a64(&bytes));
    if sum != info.fnv1a64 {
        bail!(
            "{}: fnv1a64: expected {} (from {CHECKPOINT_JSON}), found {sum} — the checkpoint is corrupted",
            path.display(),
            info.fnv1a64
        );
    }
    let tensors = Tensor::read_safetensors(&path)
        .with_context(|| format!("{}: not a valid safetensors file", path.display()))?;
    Ok((info, tensors.into_iter().collect()))
}

/// Copy `src` tensors into `dst` variables (same names, same shapes), in place.
pub fn restore(
    file: &Path,
    prefix: &str,
    src: &BTreeMap<String, Tensor>,
    dst: &BTreeMap<String, Tensor>,
) -> Result<()> {
    for (name, var) in dst {
        let key = format!("{prefix}{name}");
        let Some(t) = src.get(&key) else {
            bail!(
                "{}: {key}: expected a tensor of shape {:?}, found none",
                file.display(),
                var.size()
            );
        };
        if t.size() != var.size() {
            bail!(
                "{}: {key}: expected shape {:?}, found {:?}",
                file.display(),
                var.size(),
                t.size()
            );
        }
        tch::no_grad(|| var.shallow_clone().copy_(t));
    }
    let extra: Vec<&String> = src
        .keys()
        .filter(|k| k.starts_with(prefix) && !dst.contains_key(&k[prefix.len()..]))
        .collect();
    if let Some(k) = extra.first() {
        bail!(
            "{}: {k}: expected no such tensor (it is not in this model)",
            file.display()
        );
    }
    Ok(())
}
