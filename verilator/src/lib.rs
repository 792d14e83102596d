//! unibit-verilator — one way to turn generated Verilog plus a C++ harness into a program:
//! the Verilator command line every harness shares, and a build cache keyed by what decides
//! the program (the Verilog, the harness, the command line and the Verilator version).
//!
//! The cosimulation back ends (unibit-sim) and the virtual board (unibit-board) both use it,
//! so a flag that one of them needs (say, `--x-initial fast` for the SPRAM models) cannot
//! drift from the other. Builds happen in a temporary sibling that is renamed into place: a
//! killed build leaves nothing half-made, and concurrent builds of one key agree.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use unibit_core::Progress;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("verilator not found on PATH: run `make setup` (installs Debian's verilator)")]
    Missing,
    /// The last lines of Verilator's output; `dir` keeps the sources for a rerun by hand.
    #[error("verilator build failed in {}:\n{log}", dir.display())]
    Build { dir: PathBuf, log: String },
    #[error("{action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}

/// What a harness is built from: the Verilog (top module `top`, written as `top.v`), the C++
/// harness (file name, source), `-D` defines for the C++ compile, VCD support, and the name
/// of the program.
#[derive(Clone, Debug)]
pub struct Harness<'a> {
    pub verilog: &'a str,
    pub cpp: (&'a str, &'a str),
    pub defines: Vec<String>,
    pub trace: bool,
    pub exe: &'a str,
}

/// A built program.
#[derive(Clone, Debug)]
pub struct Built {
    pub exe: PathBuf,
    /// The cache directory (Verilator's sources and objects are under it).
    pub dir: PathBuf,
    /// Wall seconds of the build (0 when the cached build was reused).
    pub seconds: f64,
}

/// `$UNIBIT_CACHE/<kind>` (default `~/.cache/unibit/<kind>`).
pub fn cache_root(kind: &str) -> PathBuf {
    std::env::var_os("UNIBIT_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/unibit")))
        .unwrap_or_else(|| PathBuf::from(".unibit-cache"))
        .join(kind)
}

/// `verilator --version`, which is part of every cache key.
pub fn version() -> Result<String> {
    let out = Command::new("verilator")
        .arg("--version")
        .output()
        .map_err(|_| Error::Missing)?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The Verilator command line for `h`, run in the build directory. `--x-assign fast` and
/// `--x-initial fast` make uninitialised state deterministic per build; assertions are off
/// (the vendor simulation models carry some that do not hold at time 0).
pub fn args(h: &Harness) -> Vec<String> {
    let mut a: Vec<String> = [
        "--cc",
        "--exe",
        "--build",
        "-O3",
        "--x-assign",
        "fast",
        "--x-initial",
        "fast",
        "--noassert",
        "-Wno-fatal",
        "-Wno-lint",
        "-Wno-style",
        "--top-module",
        "top",
        "-Mdir",
        "obj",
        "-o",
        h.exe,
        "-j",
        "2",
        "-CFLAGS",
        "-O2",
    ]
    .map(String::from)
    .to_vec();
    if h.trace {
        a.push("--trace".into());
    }
    for d in &h.defines {
        a.extend(["-CFLAGS".to_string(), d.clone()]);
    }
    a.extend(["top.v".into(), h.cpp.0.into()]);
    a
}

/// The program for `h` in the cache folder `kind`, built first if it is not there (with one
/// progress line saying so, since a build takes tens of seconds).
pub fn cached_build(kind: &str, h: &Harness, progress: &dyn Progress) -> Result<Built> {
    let args = args(h);
    let key = unibit_core::hash::sha256_parts(&[
        h.verilog.as_bytes(),
        h.cpp.1.as_bytes(),
        args.join(" ").as_bytes(),
        version()?.as_bytes(),
    ]);
    let dir = cache_root(kind).join(&key[..16]);
    let exe = dir.join("obj").join(h.exe);
    let mut seconds = 0.0;
    if !exe.exists() {
        progress.line(&format!(
            "building {} with Verilator ({}) — once per configuration",
            h.exe,
            dir.display()
        ));
        let t0 = std::time::Instant::now();
        build(&dir, &[("top.v", h.verilog), h.cpp], &args)?;
        seconds = t0.elapsed().as_secs_f64();
    }
    Ok(Built { exe, dir, seconds })
}

/// Build in a temporary sibling of `dir`, then rename it into place.
fn build(dir: &Path, files: &[(&str, &str)], args: &[String]) -> Result<()> {
    // Unique per build, also between threads of one process (tests build concurrently).
    static BUILDS: AtomicUsize = AtomicUsize::new(0);
    let n = BUILDS.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.with_extension(format!("tmp-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(io("creating", &tmp))?;
    for &(name, text) in files {
        let p = tmp.join(name);
        std::fs::write(&p, text).map_err(io("writing", &p))?;
    }
    let out = Command::new("verilator")
        .current_dir(&tmp)
        .args(args)
        .output()
        .map_err(|_| Error::Missing)?;
    if !out.status.success() {
        let log = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        return Err(Error::Build {
            dir: tmp,
            log: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        });
    }
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(io("creating", parent))?;
    }
    if std::fs::rename(&tmp, dir).is_err() {
        // Another process finished the same build first; use theirs.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn harness(trace: bool) -> Harness<'static> {
        Harness {
            verilog: "module top; endmodule",
            cpp: ("h.cpp", ""),
            defines: vec!["-DX=1".into()],
            trace,
            exe: "Vh",
        }
    }

    #[test]
    fn the_command_line_names_the_harness_defines_and_trace() {
        let a = args(&harness(false));
        assert_eq!(a[a.len() - 2..], ["top.v", "h.cpp"]);
        let at = |s: &str| a.iter().position(|x| x == s);
        assert_eq!(a[at("-o").unwrap() + 1], "Vh");
        assert_eq!(a[at("-DX=1").unwrap() - 1], "-CFLAGS");
        assert!(at("--trace").is_none());
        assert!(args(&harness(true)).contains(&"--trace".to_string()));
    }

    #[test]
    fn a_failing_build_names_its_directory_and_leaves_nothing_in_the_cache() {
        version().expect("verilator is installed by `make setup`");
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("k");
        let bad = Harness {
            verilog: "module top(; endmodule",
            ..harness(false)
        };
        let files = [("top.v", bad.verilog), bad.cpp];
        match build(&dir, &files, &args(&bad)) {
            Err(Error::Build { dir: d, log }) => {
                assert!(d.starts_with(tmp.path()) && d != dir, "{}", d.display());
                assert!(!log.is_empty());
            }
            other => panic!("expected a build error, got {other:?}"),
        }
        assert!(!dir.exists(), "a failed build must not appear in the cache");
    }
}
