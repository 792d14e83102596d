//! Fashion-MNIST from Debian's `dataset-fashion-mnist` package: gzipped IDX files.

use crate::error::{Error, Result};
use ndarray::Array4;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Where Debian's package installs the files.
pub const DEFAULT_DIR: &str = "/usr/share/datasets/fashion-mnist";
/// Class names, index = label.
pub const CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

impl Split {
    fn prefix(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "t10k",
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

/// Images `[N, 1, 28, 28]` (raw u8 pixels) and their labels.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub images: Array4<u8>,
    pub labels: Vec<u8>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    /// The first `n` examples.
    pub fn take(&self, n: usize) -> Dataset {
        let n = n.min(self.len());
        Dataset {
            images: self.images.slice(ndarray::s![..n, .., .., ..]).to_owned(),
            labels: self.labels[..n].to_vec(),
        }
    }
}

/// The directory to read: an explicit override, else `$UNIBIT_DATA_DIR`, else [`DEFAULT_DIR`].
pub fn data_dir(explicit: Option<&Path>) -> PathBuf {
    explicit
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("UNIBIT_DATA_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DIR))
}

/// Load one split of Fashion-MNIST from `dir` (`{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz`).
pub fn load(dir: &Path, split: Split) -> Result<Dataset> {
    let img_path = dir.join(format!("{}-images-idx3-ubyte.gz", split.prefix()));
    let lbl_path = dir.join(format!("{}-labels-idx1-ubyte.gz", split.prefix()));
    let (dims, pixels) = read_idx(&img_path, 3)?;
    let (ldims, labels) = read_idx(&lbl_path, 1)?;
    if dims[0] != ldims[0] {
        return Err(Error::invalid(
            "count",
            format!(
                "{} labels (one per image in {})",
                dims[0],
                img_path.display()
            ),
            ldims[0],
        )
        .in_file(&lbl_path));
    }
    if let Some(bad) = labels.iter().find(|&&l| l > 9) {
        return Err(Error::invalid("labels", "classes 0..=9", bad).in_file(&lbl_path));
    }
    let images =
        Array4::from_shape_vec((dims[0], 1, dims[1], dims[2]), pixels).expect("size checked");
    Ok(Dataset { images, labels })
}

/// Read a gzipped IDX file of unsigned bytes with `ndim` dimensions.
pub fn read_idx(path: &Path, ndim: usize) -> Result<(Vec<usize>, Vec<u8>)> {
    let file = std::fs::File::open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::DatasetMissing {
                path: path.to_path_buf(),
                source: e,
            }
        } else {
            Error::io(path, e)
        }
    })?;
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(file)
        .read_to_end(&mut bytes)
        .map_err(|source| Error::Gzip {
            path: path.to_path_buf(),
            source,
        })?;
    parse_idx(&bytes, ndim).map_err(|e| e.in_file(path))
}

/// Parse IDX bytes: magic `0x0000_08_ndim` (unsigned byte data), big-endian dimensions, data.
pub fn parse_idx(bytes: &[u8], ndim: usize) -> Result<(Vec<usize>, Vec<u8>)> {
    if bytes.len() < 4 + 4 * ndim {
        return Err(Error::invalid(
            "header",
            format!("{} bytes", 4 + 4 * ndim),
            bytes.len(),
        ));
    }
    let magic = u32::from_be_bytes(bytes[0..4].try_into().unwrap());
    let want = 0x0800 | ndim as u32;
    if magic != want {
        return Err(Error::invalid(
            "magic",
            format!("{want:#010x} (IDX, unsigned bytes, {ndim} dims)"),
            format!("{magic:#010x}"),
        ));
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().unwrap()) as usize)
        .collect();
    let n: usize = dims.iter().product();
    let data = &bytes[4 + 4 * ndim..];
    if data.len() != n {
        return Err(Error::invalid(
            "data",
            format!("{n} bytes for dims {dims:?}"),
            format!("{} bytes", data.len()),
        ));
    }
    Ok((dims, data.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write_gz(path: &Path, bytes: &[u8]) {
        let f = std::fs::File::create(path).unwrap();
        let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap();
    }

    fn idx(ndim: usize, dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 0, 8, ndim as u8];
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn reads_a_small_generated_set() {
        let dir = tempfile::tempdir().unwrap();
        let px: Vec<u8> = (0..3 * 28 * 28).map(|i| (i % 251) as u8).collect();
        write_gz(
            &dir.path().join("t10k-images-idx3-ubyte.gz"),
            &idx(3, &[3, 28, 28], &px),
        );
        write_gz(
            &dir.path().join("t10k-labels-idx1-ubyte.gz"),
            &idx(1, &[3], &[0, 9, 4]),
        );
        let d = load(dir.path(), Split::Test).unwrap();
        assert_eq!(d.images.shape(), &[3, 1, 28, 28]);
        assert_eq!(d.labels, vec![0, 9, 4]);
        assert_eq!(d.images[[1, 0, 0, 0]], px[784]);
    }

    #[test]
    fn bad_files_give_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let e = load(dir.path(), Split::Train).unwrap_err().to_string();
        assert!(
            e.contains("train-images-idx3-ubyte.gz") && e.contains("dataset-fashion-mnist"),
            "{e}"
        );

        write_gz(
            &dir.path().join("train-images-idx3-ubyte.gz"),
            &idx(3, &[2, 28, 28], &[0; 100]),
        );
        let e = load(dir.path(), Split::Train).unwrap_err().to_string();
        assert!(e.contains("data") && e.contains("1568 bytes"), "{e}");

        assert!(parse_idx(&idx(1, &[2], &[1, 2]), 3)
            .unwrap_err()
            .to_string()
            .contains("header"));
        let e = parse_idx(&[0, 0, 9, 1, 0, 0, 0, 0], 1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("magic"), "{e}");
    }
}
