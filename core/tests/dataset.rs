//! The installed Fashion-MNIST test set, when the Debian package is there (skipped otherwise).

use std::path::Path;
use unibit_core::dataset::{load, Split, DEFAULT_DIR};

#[test]
fn real_set_when_installed() {
    let dir = Path::new(DEFAULT_DIR);
    if !dir.exists() {
        eprintln!("skipping: {DEFAULT_DIR} not installed (run scripts/setup.sh)");
        return;
    }
    let d = load(dir, Split::Test).unwrap();
    assert_eq!(d.images.shape(), &[10000, 1, 28, 28]);
    let mut counts = [0; 10];
    d.labels.iter().for_each(|&l| counts[l as usize] += 1);
    assert_eq!(counts, [1000; 10]);
}
