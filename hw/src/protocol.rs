//! Host side of the UART protocol (see `rtl/host.rs` for the table): byte encodings a host
//! program sends to a board, built from the same [`TileJob`] the simulations use.

use crate::job::TileJob;
use crate::rtl::host::{OP_READ, OP_RUN, OP_WRITE_ACT, OP_WRITE_PARAM, OP_WRITE_WEIGHT};

/// The low `nbytes` bytes of little-endian limbs, most significant byte first.
fn be_bytes(limbs: &[u64], nbytes: usize) -> Vec<u8> {
    (0..nbytes)
        .rev()
        .map(|i| (limbs.get(i / 8).copied().unwrap_or(0) >> (8 * (i % 8))) as u8)
        .collect()
}

fn cmd(op: u8, addr: usize, payload: Vec<u8>) -> Vec<u8> {
    let mut v = vec![op, (addr >> 8) as u8, addr as u8];
    v.extend(payload);
    v
}

/// Bytes that load a job's memories.
pub fn load_commands(job: &TileJob, rows: usize, cols: usize) -> Vec<u8> {
    let mut out = vec![];
    for (a, w) in &job.weights {
        out.extend(cmd(
            OP_WRITE_WEIGHT,
            *a,
            be_bytes(w, (rows * cols).div_ceil(8)),
        ));
    }
    for (a, x) in &job.activations {
        let limbs = crate::model::pack_lanes(x);
        out.extend(cmd(
            OP_WRITE_ACT,
            *a,
            be_bytes(&limbs, (9 * cols).div_ceil(8)),
        ));
    }
    for (a, w) in &job.params {
        out.extend(cmd(OP_WRITE_PARAM, *a, w.to_be_bytes().to_vec()));
    }
    out
}

/// Bytes that run a job's tile (the board replies with 4 bytes: the cycle count).
pub fn run_command(job: &TileJob) -> Vec<u8> {
    let d = &job.desc;
    let mut v = vec![OP_RUN];
    for f in [
        d.rows, d.chunks, d.vectors, d.w_base, d.a_base, d.o_base, d.p_base,
    ] {
        v.extend((f as u16).to_be_bytes());
    }
    v
}

/// Bytes that read one output word (the board replies with 4 bytes, big-endian).
pub fn read_command(addr: usize) -> Vec<u8> {
    vec![OP_READ, (addr >> 8) as u8, addr as u8]
}
