//! Helpers shared by the sweep and mixed-precision tests: a synthetic Fashion-MNIST directory
//! (gzipped IDX files in the real layout), so the same code paths as real runs load it.
#![allow(dead_code)]

use std::path::Path;
use unibit_sw::data;

/// Gzip `bytes` as Debian's dataset files are.
fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
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
