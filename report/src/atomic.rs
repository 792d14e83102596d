//! Atomic output: every file is written to a temporary sibling and renamed into place, and a whole
//! report is staged in a hidden directory first, so a failed run leaves the previous report whole.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A suffix unique within the machine for the life of this process (pid + counter), so threads
/// and processes writing into the same directory never share a temporary name.
fn unique() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Write `bytes` to `path` atomically (unibit-core's helper), with this crate's error type.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    unibit_core::atomic::write_atomic(path, bytes).map_err(|e| match e {
        unibit_core::Error::Io { path, source } => Error::io(path, source),
        other => Error::Path {
            path: path.to_path_buf(),
            msg: other.to_string(),
        },
    })
}

/// A hidden directory inside `out` where a report is written before it is published.
pub struct Staging {
    out: PathBuf,
    dir: PathBuf,
    published: bool,
}

impl Staging {
    pub fn new(out: &Path) -> Result<Staging> {
        std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        let dir = out.join(format!(".staging-{}", unique()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        }
        std::fs::create_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(Staging {
            out: out.to_path_buf(),
            dir,
            published: false,
        })
    }
    /// Where to write `name` while staging.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
    /// Move every staged file into `out` (each move a rename, so each file is replaced whole).
    pub fn publish(mut self) -> Result<Vec<PathBuf>> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map_err(|e| Error::io(&self.dir, e))?
            .map(|e| e.map(|e| e.path()).map_err(|err| Error::io(&self.dir, err)))
            .collect::<Result<_>>()?;
        names.sort();
        // index.html last: it refers to the others.
        names.sort_by_key(|p| p.file_name().is_some_and(|n| n == "index.html"));
        let mut out = Vec::new();
        for p in names {
            let dest = self
                .out
                .join(p.file_name().expect("read_dir entries have names"));
            std::fs::rename(&p, &dest).map_err(|e| Error::io(&dest, e))?;
            out.push(dest);
        }
        self.published = true;
        let _ = std::fs::remove_dir(&self.dir);
        Ok(out)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.published {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
