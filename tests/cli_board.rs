//! `unibit board …` through the binary: a software board (`board sim`, the engine's
//! memory-level model) started as a child process on a PTY, then `board info`, `load` (twice:
//! the second is skipped by model id), `classify` against it, a refused load, and the child
//! stopped with SIGTERM.

mod cli;

use cli::s;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A tiny Fashion-MNIST test split (8 images, IDX gzipped) so the test needs no data set.
fn tiny_dataset(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let gz = |name: &str, bytes: &[u8]| {
        let f = std::fs::File::create(dir.join(name)).unwrap();
        let mut e = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap();
    };
    let mut img = vec![0, 0, 8, 3, 0, 0, 0, 8, 0, 0, 0, 28, 0, 0, 0, 28];
    img.extend((0..8 * 784).map(|i: usize| ((i * 37 + i / 784 * 101) % 256) as u8));
    gz("t10k-images-idx3-ubyte.gz", &img);
    gz(
        "t10k-labels-idx1-ubyte.gz",
        &[0, 0, 8, 1, 0, 0, 0, 8, 0, 1, 2, 3, 4, 5, 6, 7],
    );
}

struct Sim(Child);

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `board sim …` as a child; returns it and the PTY path it printed.
fn sim(args: &[&str]) -> (Sim, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_unibit"))
        .args(["board", "sim"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start board sim");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let path = line.trim().to_string();
    assert!(path.starts_with("/dev/"), "board sim printed {line:?}");
    (Sim(child), path)
}

#[test]
fn board_commands_against_a_software_board() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    tiny_dataset(&data);
    let env = [("UNIBIT_DATA_DIR", s(&data))];
    let b = tmp.path().join("b");
    cli::ok_with(
        &[
            "bundle",
            "example",
            "--family",
            "resnet8",
            "--bits",
            "2",
            "--width",
            "0.25",
            "--channel-multiple",
            "8",
            "--golden",
            "8",
            "--out",
            s(&b),
        ],
        &env,
    );
    let (mut child, port) = sim(&["--board", "icebreaker", "--bits", "2", "--backend", "model"]);

    // --time-scale stretches the host's time-outs (as for a Verilator board in another process).
    let info = cli::ok_with(
        &["board", "info", "--port", &port, "--time-scale", "40"],
        &env,
    );
    assert!(
        info.contains("engine: B = 2, 8×8 array, 24.000 MHz"),
        "{info}"
    );
    assert!(info.contains("model: none"), "{info}");

    let j = tmp.path().join("load.json");
    let out = cli::ok_with(
        &["board", "load", s(&b), "--port", &port, "--json", s(&j)],
        &env,
    );
    assert!(out.contains("loaded model"), "{out}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&j).unwrap()).unwrap();
    assert_eq!(v["skipped"], false);
    let again = cli::ok_with(&["board", "load", s(&b), "--port", &port], &env);
    assert!(again.contains("already loaded, nothing written"), "{again}");

    let j = tmp.path().join("classify.json");
    let out = cli::ok_with(
        &[
            "board",
            "classify",
            s(&b),
            "--port",
            &port,
            "--dataset",
            "fashion-mnist",
            "--data-dir",
            s(&data),
            "--limit",
            "8",
            "--json",
            s(&j),
        ],
        &env,
    );
    assert!(
        out.contains("logits equal the integer reference: yes (8 of 8)"),
        "{out}"
    );
    assert!(out.contains("(equal)"), "{out}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&j).unwrap()).unwrap();
    assert_eq!(v["images"], 8);
    assert_eq!(v["cycles_equal"], true);
    assert_eq!(v["cycles"][0], v["cycles_expected"]);

    cli::fails_with(
        &[
            "board",
            "load",
            s(&b),
            "--port",
            &port,
            "--board",
            "ulx3s-25f",
        ],
        &env,
        "main memory 131072 bytes (expected 98304)",
    );
    cli::fails_with(
        &["board", "info", "--port", &port, "--time-scale", "0.5"],
        &env,
        "expected a factor from 1 to 1000000, found \"0.5\"",
    );
    cli::fails_with(
        &["board", "program", "--board", "icebreaker", s(tmp.path())],
        &env,
        "board.bin: no bitstream",
    );

    // SAFETY: signalling our own child process by its id.
    unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) };
    let status = child.0.wait().unwrap();
    assert!(status.success(), "board sim exited with {status}");
}
