//! The value parsers every command uses for numeric options, so a flag is checked up front and
//! the same way everywhere; clap prefixes the message with the flag's name.

/// Most threads a command accepts (far above this machine; catches typos such as 5000).
pub const MAX_THREADS: usize = 256;
/// Images in the Fashion-MNIST test set: the most golden vectors or test images there are.
pub const TEST_IMAGES: usize = 10_000;
/// Largest array side accepted (rows or lanes).
pub const MAX_ARRAY: usize = 256;
/// Most seeds per (budget, B) in one sweep (bounds the job list).
#[cfg_attr(not(feature = "train"), allow(dead_code))]
pub const MAX_SEEDS: u64 = 1000;

/// Which engine a command targets (`cosim`, `cost`, `hw synth`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// The whole-network engine (8×8): program, weights and activations on chip.
    Net,
    /// The tile coprocessor (debug mode): GEMM tiles on the engine, adds and pools on the host.
    Tile,
}

fn float(s: &str) -> Result<f64, String> {
    s.trim()
        .parse::<f64>()
        .map_err(|_| format!("expected a number, found {s:?}"))
}

fn integer(s: &str) -> Result<u64, String> {
    s.trim()
        .parse::<u64>()
        .map_err(|_| format!("expected a whole number, found {s:?}"))
}

/// A finite number > 0 (learning rates, widths, clock frequencies).
pub fn positive_f64(s: &str) -> Result<f64, String> {
    let x = float(s)?;
    if x.is_finite() && x > 0.0 {
        Ok(x)
    } else {
        Err(format!("expected a finite number > 0, found {s}"))
    }
}

/// A finite number ≥ 0 (momentum, weight decay, warm-up epochs, tolerances).
#[cfg_attr(not(feature = "train"), allow(dead_code))]
pub fn non_negative_f64(s: &str) -> Result<f64, String> {
    let x = float(s)?;
    if x.is_finite() && x >= 0.0 {
        Ok(x)
    } else {
        Err(format!("expected a finite number ≥ 0, found {s}"))
    }
}

/// A finite fraction in [0, 1) (SGD momentum).
#[cfg_attr(not(feature = "train"), allow(dead_code))]
pub fn momentum(s: &str) -> Result<f64, String> {
    let x = float(s)?;
    if x.is_finite() && (0.0..1.0).contains(&x) {
        Ok(x)
    } else {
        Err(format!("expected a finite number in [0, 1), found {s}"))
    }
}

fn in_range(s: &str, lo: u64, hi: u64) -> Result<u64, String> {
    let n = integer(s)?;
    match (lo..=hi).contains(&n) {
        true => Ok(n),
        // An open-ended range reads as a bound, not as 1..=18446744073709551615.
        false if hi >= usize::MAX as u64 => Err(format!("expected at least {lo}, found {n}")),
        false => Err(format!("expected {lo}..={hi}, found {n}")),
    }
}

/// A count ≥ 1 (epochs, batch, steps, rounds, images, limits).
pub fn count_at_least_1(s: &str) -> Result<usize, String> {
    Ok(in_range(s, 1, usize::MAX as u64)? as usize)
}

/// A thread count in 1..=[`MAX_THREADS`].
pub fn threads(s: &str) -> Result<usize, String> {
    Ok(in_range(s, 1, MAX_THREADS as u64)? as usize)
}

/// A number of test images in 1..=[`TEST_IMAGES`].
pub fn test_images(s: &str) -> Result<usize, String> {
    Ok(in_range(s, 1, TEST_IMAGES as u64)? as usize)
}

/// A number of golden images in 0..=[`TEST_IMAGES`] (0: none).
pub fn golden_images(s: &str) -> Result<usize, String> {
    Ok(in_range(s, 0, TEST_IMAGES as u64)? as usize)
}

/// Array rows or lanes in 1..=[`MAX_ARRAY`].
pub fn array_side(s: &str) -> Result<usize, String> {
    Ok(in_range(s, 1, MAX_ARRAY as u64)? as usize)
}

/// Seeds per sweep point in 1..=[`MAX_SEEDS`].
#[cfg_attr(not(feature = "train"), allow(dead_code))]
pub fn seeds(s: &str) -> Result<u64, String> {
    in_range(s, 1, MAX_SEEDS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuse_nan_infinite_negative_and_zero_where_meaningless() {
        for bad in ["nan", "NaN", "inf", "-inf", "-0.1", "x", ""] {
            assert!(positive_f64(bad).is_err(), "{bad}");
            assert!(non_negative_f64(bad).is_err(), "{bad}");
            assert!(momentum(bad).is_err(), "{bad}");
        }
        assert!(positive_f64("0").is_err());
        assert_eq!(positive_f64("0.1"), Ok(0.1));
        assert_eq!(non_negative_f64("0"), Ok(0.0));
        assert!(momentum("1").is_err());
        assert_eq!(momentum("0.9"), Ok(0.9));
        assert!(count_at_least_1("0").is_err());
        assert!(count_at_least_1("-1").is_err());
        assert_eq!(count_at_least_1("3"), Ok(3));
        assert!(threads("0").is_err() && threads("5000").is_err());
        assert_eq!(threads("256"), Ok(256));
        assert!(test_images("0").is_err() && test_images("10001").is_err());
        assert!(golden_images("20000").unwrap_err().contains("0..=10000"));
        assert_eq!(golden_images("0"), Ok(0));
        assert!(seeds("100000000").is_err() && seeds("0").is_err());
        assert!(array_side("0").is_err());
    }
}
