//! unibit-sw — the trainer: Fashion-MNIST batches, tch networks interpreted from unibit-core
//! graphs, one-bitwidth QAT quantizers, the training loop with checkpoints, and export to
//! integer models and bundles that unibit-core's reference (and the hardware) run bit-exactly.

pub mod bench;
pub mod checkpoint;
pub mod data;
pub mod error;
pub mod export;
pub mod hessian;
pub mod mixed;
pub mod net;
pub mod quant;
pub mod sweep;
pub mod train;

pub use error::{Error, Result};
pub use tch::Device;

/// Set libtorch's intra-op thread count (process-wide). The one place the trainer, sweeps,
/// mixed-precision studies and benchmarks set it.
pub fn set_threads(n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::invalid("intra-op threads", "≥ 1", 0));
    }
    tch::set_num_threads(n as i32);
    Ok(())
}

/// Keep freed tensor memory in the heap instead of returning it to the OS after every op.
/// glibc's defaults mmap large blocks and trim the heap top eagerly, so each activation tensor
/// (6.4 MB for ResNet-20 at batch 128) is page-faulted afresh every op; measured on this machine
/// that made the activation quantizers ~5× slower and QAT ~40% slower than float training.
/// Call once at start-up, before any thread is spawned (the CLI commands do).
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before other threads start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TOP_PAD, 256 << 20);
    }
}
