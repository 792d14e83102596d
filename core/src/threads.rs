//! Worker threads of the integer reference (rayon's global pool), sized once per process.

use crate::error::{Error, Result};

/// The largest thread count accepted (far above any machine this runs on; catches typos).
pub const MAX_THREADS: usize = 1024;

/// Size rayon's global pool to `threads` (`None`: rayon's default, one per core) and return the
/// number of threads in use. Safe to call more than once: the pool is built by the first call
/// (or the first parallel work), and later calls keep it and report its size.
pub fn init_rayon(threads: Option<usize>) -> Result<usize> {
    if let Some(n) = threads {
        if !(1..=MAX_THREADS).contains(&n) {
            return Err(Error::invalid(
                "thread count",
                format!("1..={MAX_THREADS}"),
                n,
            ));
        }
        // Fails only when the pool exists already; then it stays as it is.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global();
    }
    Ok(rayon::current_num_threads())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_second_calls() {
        assert!(init_rayon(Some(0))
            .unwrap_err()
            .to_string()
            .contains("1..=1024"));
        assert!(init_rayon(Some(MAX_THREADS + 1)).is_err());
        let first = init_rayon(Some(1)).unwrap();
        // A second call (with another count) keeps the pool that exists.
        assert_eq!(init_rayon(Some(2)).unwrap(), first);
        assert_eq!(init_rayon(None).unwrap(), first);
    }
}
