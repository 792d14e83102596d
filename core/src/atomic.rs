//! Atomic file output, shared by every crate: write a temporary sibling, then rename it into
//! place, so a reader (or a killed run) never sees half a file and earlier results survive a
//! failed write. Sets of files (a report, a training curve) are staged in a hidden directory
//! and published file by file ([`Staging`]).

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A suffix unique on the machine for the life of this process (pid + counter), so threads
/// and processes writing into one directory never share a temporary name.
fn unique() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{}-{n}", std::process::id())
}

/// A hidden temporary name next to `path`, unique per process and call.
pub fn temp_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", unique()))
}

/// Write `bytes` to `path` atomically, creating the parent directory if needed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let tmp = temp_sibling(path);
    std::fs::write(&tmp, bytes).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(&tmp, e)
    })?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// A hidden directory inside `out` where a set of files is written before it is published;
/// dropped unpublished, it is removed and `out` is left as it was.
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
    /// Move every staged file into `out` (each move a rename, so each file is replaced whole);
    /// `index.html` last, as it refers to the others. Returns the published paths.
    pub fn publish(mut self) -> Result<Vec<PathBuf>> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map_err(|e| Error::io(&self.dir, e))?
            .map(|e| e.map(|e| e.path()).map_err(|err| Error::io(&self.dir, err)))
            .collect::<Result<_>>()?;
        names.sort();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_files_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/out.json");
        write_atomic(&p, b"first").unwrap();
        write_atomic(&p, b"second").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("sub")).unwrap().collect();
        assert_eq!(names.len(), 1);
        assert_ne!(temp_sibling(&p), temp_sibling(&p));
        // A path whose parent is a file: an error naming the path, and the old file intact.
        let bad = p.join("x");
        let err = write_atomic(&bad, b"y").unwrap_err().to_string();
        assert!(err.contains("out.json"), "{err}");
        assert_eq!(std::fs::read(&p).unwrap(), b"second");
    }

    #[test]
    fn staging_publishes_whole_sets_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("report");
        let s = Staging::new(&out).unwrap();
        write_atomic(&s.path("index.html"), b"i").unwrap();
        write_atomic(&s.path("a.svg"), b"a").unwrap();
        let files = s.publish().unwrap();
        assert_eq!(files, vec![out.join("a.svg"), out.join("index.html")]);
        let s = Staging::new(&out).unwrap();
        write_atomic(&s.path("a.svg"), b"changed").unwrap();
        drop(s);
        assert_eq!(std::fs::read(out.join("a.svg")).unwrap(), b"a");
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 2);
    }
}
