//! Helpers shared by the sweep and mixed-precision tests: a synthetic Fashion-MNIST directory
//! (gzipped IDX files in the real layout), so the same code paths as real runs load it.
#![allow(dead_code)]

use std::path::Path;
use unibit_sw::data;

/// CRC-32 (IEEE), as gzip needs.
fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// A gzip file of stored (uncompressed) deflate blocks.
fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    let chunks: Vec<&[u8]> = if bytes.is_empty() {
        vec![&[]]
    } else {
        bytes.chunks(65535).collect()
    };
    for (i, c) in chunks.iter().enumerate() {
        out.push((i + 1 == chunks.len()) as u8);
        let n = c.len() as u16;
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&(!n).to_le_bytes());
        out.extend_from_slice(c);
    }
    out.extend_from_slice(&crc32(bytes).to_le_bytes());
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out
}

fn idx(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        v.extend_from_slice(&(*d as u32).to_be_bytes());
    }
    v.extend_from_slice(data);
    v
}

/// Write `train` and `test` synthetic sets (data::synthetic) as Fashion-MNIST files in `dir`.
pub fn synthetic_fashion_mnist(dir: &Path, train: usize, test: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for (prefix, n, seed) in [("train", train, 3u64), ("t10k", test, 4)] {
        let d = data::synthetic(n, seed);
        let images: Vec<u8> = d.images.iter().copied().collect();
        std::fs::write(
            dir.join(format!("{prefix}-images-idx3-ubyte.gz")),
            gzip(&idx(&[n, 28, 28], &images)),
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("{prefix}-labels-idx1-ubyte.gz")),
            gzip(&idx(&[n], &d.labels)),
        )
        .unwrap();
    }
}
