//! Reading the untrusted files of a bundle: only regular files that stay inside the bundle
//! directory, never more bytes than the file holds, and `.npy` arrays only after their header's
//! shape has been checked against the shape expected and against the file's length (so a header
//! claiming 10^12 images cannot make us allocate).

use crate::error::{Error, Result};
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// Largest `manifest.json` read (a 100,000-layer manifest is ~30 MB).
pub const MAX_MANIFEST_BYTES: u64 = 64 << 20;
/// Largest `weights.safetensors` read.
pub const MAX_WEIGHTS_BYTES: u64 = 1 << 32;
/// Largest `.npy` file read.
pub const MAX_NPY_BYTES: u64 = 1 << 32;
/// Longest `.npy` header read.
const MAX_NPY_HEADER: usize = 1 << 16;

/// `dir/rel` for a path `field` of the manifest names: relative, without `..`, and (symlinks
/// resolved) inside `dir`.
pub fn inside(dir: &Path, rel: &str, field: &str, manifest: &Path) -> Result<PathBuf> {
    let p = Path::new(rel);
    let plain = !rel.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)));
    if !plain {
        return Err(Error::invalid(
            field,
            "a relative path inside the bundle (no absolute path, no `..`)",
            format!("{rel:?}"),
        )
        .in_file(manifest));
    }
    let full = dir.join(p);
    check_contained(dir, &full).map_err(|e| e.in_field(field).in_file(manifest))?;
    Ok(full)
}

/// Refuse a file that resolves (through symlinks) outside `dir`.
fn check_contained(dir: &Path, full: &Path) -> Result<()> {
    if let (Ok(root), Ok(real)) = (dir.canonicalize(), full.canonicalize()) {
        if !real.starts_with(&root) {
            return Err(Error::invalid(
                "",
                "a file inside the bundle (symlinks out of it are refused)",
                real.display(),
            ));
        }
    }
    Ok(())
}

/// A regular file's length, refusing devices, FIFOs, directories and files over `max` bytes.
fn regular_len(p: &Path, max: u64) -> Result<u64> {
    let meta = std::fs::metadata(p).map_err(|e| Error::io(p, e))?;
    if !meta.is_file() {
        return Err(Error::path(p, "not a regular file"));
    }
    if meta.len() > max {
        return Err(Error::path(
            p,
            format!(
                "{} bytes, more than the {max} a bundle file may hold",
                meta.len()
            ),
        ));
    }
    Ok(meta.len())
}

/// The bytes of the regular file `p` (at most `max`; the file `dir/name` must stay in `dir`).
pub fn read_bytes(dir: &Path, name: &str, max: u64) -> Result<Vec<u8>> {
    let p = dir.join(name);
    check_contained(dir, &p).map_err(|e| e.in_field(name).in_file(&p))?;
    let len = regular_len(&p, max)?;
    let f = std::fs::File::open(&p).map_err(|e| Error::io(&p, e))?;
    let mut buf = Vec::with_capacity(len as usize);
    f.take(len)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(&p, e))?;
    Ok(buf)
}

/// The bytes of `dir/name`, a safetensors file whose tensor data must be exactly `data_bytes`
/// long (what the manifest's layers need): checked from the 8-byte header length and the file
/// length before the file is read.
pub fn read_safetensors(dir: &Path, name: &str, data_bytes: u64) -> Result<Vec<u8>> {
    let p = dir.join(name);
    check_contained(dir, &p).map_err(|e| e.in_field(name).in_file(&p))?;
    let len = regular_len(&p, MAX_WEIGHTS_BYTES)?;
    let mut head = [0u8; 8];
    let f = std::fs::File::open(&p).map_err(|e| Error::io(&p, e))?;
    let got = f.take(8).read(&mut head).map_err(|e| Error::io(&p, e))?;
    let header = u64::from_le_bytes(head);
    let data = len.checked_sub(8).and_then(|l| l.checked_sub(header));
    if got < 8 || data != Some(data_bytes) {
        return Err(Error::path(
            &p,
            format!(
                "{len} bytes with a {header}-byte header, but the manifest's layers need \
                 {data_bytes} bytes of tensor data"
            ),
        ));
    }
    read_bytes(dir, name, MAX_WEIGHTS_BYTES)
}

/// What an `.npy` header promises.
#[derive(Debug, PartialEq)]
struct NpyHeader {
    shape: Vec<usize>,
    /// Bytes of the header, magic included (where the data starts).
    data_offset: usize,
    element_bytes: usize,
}

/// Read the `.npy` array in `p` after checking that its header promises `want` (the shape the
/// manifest implies) and that the file holds exactly that many bytes.
pub fn read_npy<T: ndarray_npy::ReadableElement, D: ndarray::Dimension>(
    p: &Path,
    want: &[usize],
) -> Result<ndarray::Array<T, D>> {
    use ndarray_npy::ReadNpyExt;
    let bytes = read_prefix(p)?;
    let header = parse_header(&bytes).map_err(|what| Error::path(p, what))?;
    if header.shape != want {
        return Err(
            Error::invalid("shape", format!("{want:?}"), format!("{:?}", header.shape)).in_file(p),
        );
    }
    let len = regular_len(p, MAX_NPY_BYTES)?;
    let data = header
        .shape
        .iter()
        .try_fold(header.element_bytes as u64, |a, &d| a.checked_mul(d as u64));
    if data.map(|d| d + header.data_offset as u64) != Some(len) {
        return Err(Error::path(
            p,
            format!(
                "{len} bytes, but its header promises shape {:?} of {}-byte values",
                header.shape, header.element_bytes
            ),
        ));
    }
    let f = std::fs::File::open(p).map_err(|e| Error::io(p, e))?;
    ndarray::Array::<T, D>::read_npy(f.take(len)).map_err(|source| Error::ReadNpy {
        path: p.to_path_buf(),
        expected: format!(
            "a {} array of {}",
            D::NDIM.map_or("n-d".to_string(), |n| format!("{n}-d")),
            std::any::type_name::<T>()
        ),
        source,
    })
}

/// The first bytes of a regular file, enough for any header we accept.
fn read_prefix(p: &Path) -> Result<Vec<u8>> {
    regular_len(p, MAX_NPY_BYTES)?;
    let f = std::fs::File::open(p).map_err(|e| Error::io(p, e))?;
    let mut buf = vec![];
    f.take(MAX_NPY_HEADER as u64 + 12)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(p, e))?;
    Ok(buf)
}

/// Parse the magic, version, length and the `descr`/`shape` entries of an `.npy` header.
fn parse_header(b: &[u8]) -> std::result::Result<NpyHeader, String> {
    let bad = |what: &str| format!("not a valid .npy file ({what})");
    if b.len() < 10 || &b[..6] != b"\x93NUMPY" {
        return Err(bad("no NUMPY magic"));
    }
    let (len, start) = match b[6] {
        1 => (u16::from_le_bytes([b[8], b[9]]) as usize, 10),
        2 | 3 if b.len() >= 12 => (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12),
        _ => return Err(bad("unknown version")),
    };
    if len > MAX_NPY_HEADER || b.len() < start + len {
        return Err(bad("header longer than the file or than 64 KiB"));
    }
    let text = std::str::from_utf8(&b[start..start + len]).map_err(|_| bad("header not text"))?;
    let descr = quoted_after(text, "'descr'").ok_or_else(|| bad("no descr"))?;
    let element_bytes = descr
        .trim_start_matches(['<', '>', '|', '='])
        .get(1..)
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|&n| (1..=16).contains(&n))
        .ok_or_else(|| bad("unknown descr"))?;
    let shape = shape_after(text).ok_or_else(|| bad("no shape tuple"))?;
    let mut nonzero = shape.iter().filter(|&&d| d != 0);
    let fits = nonzero
        .try_fold(element_bytes, |a: usize, &d| a.checked_mul(d))
        .is_some_and(|n| n <= isize::MAX as usize);
    if !fits {
        return Err(bad("shape too large"));
    }
    Ok(NpyHeader {
        shape,
        data_offset: start + len,
        element_bytes,
    })
}

fn quoted_after<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let rest = &text[text.find(key)? + key.len()..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let q = rest.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let rest = &rest[1..];
    Some(&rest[..rest.find(q)?])
}

fn shape_after(text: &str) -> Option<Vec<usize>> {
    let rest = &text[text.find("'shape'")? + 7..];
    let rest = rest
        .trim_start()
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('(')?;
    let inner = &rest[..rest.find(')')?];
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(dict: &str) -> Vec<u8> {
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend((dict.len() as u16).to_le_bytes());
        b.extend(dict.as_bytes());
        b
    }

    #[test]
    fn parses_headers_and_refuses_huge_shapes() {
        let h = parse_header(&header(
            "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 1, 28, 28), }",
        ))
        .unwrap();
        assert_eq!(h.shape, vec![2, 1, 28, 28]);
        assert_eq!(h.element_bytes, 4);
        let h = parse_header(&header(
            "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }",
        ));
        assert_eq!(h.unwrap().shape, vec![3]);
        let huge = "{'descr': '|u1', 'fortran_order': False, 'shape': (0, 9223372036854775807, 9223372036854775807), }";
        assert!(parse_header(&header(huge)).is_err());
        assert!(parse_header(b"\x93NUMPY\x01").is_err());
    }
}
