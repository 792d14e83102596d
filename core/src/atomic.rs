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

/// A kind of directory output, recognised by a JSON marker file whose `format` field names it:
/// such a directory may be replaced by a new output of the same kind, nothing else may.
#[derive(Clone, Copy, Debug)]
pub struct OutputKind {
    /// What the output is called in messages ("bundle").
    pub name: &'static str,
    /// The file that marks it (`manifest.json`).
    pub marker: &'static str,
    /// The marker's `format` value (`unibit-bundle`).
    pub format: &'static str,
}

/// A unibit bundle (see `bundle::FORMAT`).
pub const BUNDLE: OutputKind = OutputKind {
    name: "bundle",
    marker: "manifest.json",
    format: "unibit-bundle",
};

/// `path` made absolute with symlinks resolved, also when its last components do not exist yet.
fn resolved(path: &Path) -> PathBuf {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut existing = abs.as_path();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.parent(), existing.file_name()) {
            (Some(p), Some(n)) => {
                rest.push(n.to_os_string());
                existing = p;
            }
            _ => break,
        }
    }
    let mut out = existing
        .canonicalize()
        .unwrap_or_else(|_| existing.to_path_buf());
    out.extend(rest.iter().rev());
    out
}

/// Refuse an output `dst` that is one of `inputs` or contains one of them (writing it would
/// destroy what the command reads).
pub fn check_not_input(dst: &Path, inputs: &[&Path]) -> Result<()> {
    let d = resolved(dst);
    for input in inputs {
        if resolved(input).starts_with(&d) {
            return Err(Error::path(
                dst,
                format!(
                    "is (or contains) the input {}; refusing to write over it",
                    input.display()
                ),
            ));
        }
    }
    Ok(())
}

/// Whether `dir` holds an output of `kind` (its marker parses and names the format).
fn is_kind(dir: &Path, kind: &OutputKind) -> bool {
    std::fs::read_to_string(dir.join(kind.marker))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|v| v.get("format").and_then(|f| f.as_str()) == Some(kind.format))
}

/// Check a directory output before anything is written: `dst` must not be (or contain) an
/// input, and may exist only as an empty directory or an earlier output of the same `kind`.
pub fn check_output_dir(dst: &Path, kind: &OutputKind, inputs: &[&Path]) -> Result<()> {
    check_not_input(dst, inputs)?;
    let meta = match std::fs::symlink_metadata(dst) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(dst, e)),
        Ok(m) => m,
    };
    if !meta.is_dir() {
        return Err(Error::path(
            dst,
            format!(
                "exists and is not a directory; refusing to replace it with a {}",
                kind.name
            ),
        ));
    }
    let empty = std::fs::read_dir(dst)
        .map_err(|e| Error::io(dst, e))?
        .next()
        .is_none();
    if empty || is_kind(dst, kind) {
        return Ok(());
    }
    Err(Error::path(
        dst,
        format!(
            "exists and is not a {} (no {} with format {:?}); refusing to replace it — choose another directory or remove it",
            kind.name, kind.marker, kind.format
        ),
    ))
}

/// Check a file output before the work starts: not an input, not a directory, and its
/// directory writable (a probe file is created and removed).
pub fn check_output_file(dst: &Path, inputs: &[&Path]) -> Result<()> {
    check_not_input(dst, inputs)?;
    if dst.is_dir() {
        return Err(Error::path(dst, "is a directory; expected a file path"));
    }
    let dir = dst
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let probe = temp_sibling(dst);
    std::fs::write(&probe, b"").map_err(|e| Error::io(dst, e))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
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

    #[test]
    fn outputs_never_replace_inputs_or_foreign_directories() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(run.join("config.json"), "{}").unwrap();
        // Over the input itself, or over a directory holding it: refused.
        assert!(check_output_dir(&run, &BUNDLE, &[&run]).is_err());
        assert!(check_output_dir(dir.path(), &BUNDLE, &[&run]).is_err());
        // A user's directory: refused, naming it.
        let err = check_output_dir(&run, &BUNDLE, &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("run") && err.contains("not a bundle"), "{err}");
        // New, empty, or an earlier bundle: fine; inside an input: fine.
        assert!(check_output_dir(&dir.path().join("new/b"), &BUNDLE, &[&run]).is_ok());
        let b = dir.path().join("b");
        std::fs::create_dir(&b).unwrap();
        assert!(check_output_dir(&b, &BUNDLE, &[&run]).is_ok());
        std::fs::write(b.join("manifest.json"), r#"{"format":"unibit-bundle"}"#).unwrap();
        assert!(check_output_dir(&b, &BUNDLE, &[&run]).is_ok());
        assert!(check_output_dir(&run.join("bundle"), &BUNDLE, &[&run]).is_ok());
        // A file where a directory goes.
        assert!(check_output_dir(&run.join("config.json"), &BUNDLE, &[]).is_err());
        // File outputs: not an input, not a directory, writable.
        let f = run.join("config.json");
        assert!(check_output_file(&f, &[&f]).is_err());
        assert!(check_output_file(&run, &[]).is_err());
        assert!(check_output_file(&f.join("x"), &[]).is_err());
        assert!(check_output_file(&dir.path().join("out/s.json"), &[&run]).is_ok());
        assert_eq!(
            std::fs::read_dir(dir.path().join("out")).unwrap().count(),
            0
        );
    }
}
