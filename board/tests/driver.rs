//! The driver against the software board (the engine's memory-level model) over a real
//! pseudo-terminal: load, classify with every logit checked against the integer reference,
//! a second load skipped by model id, and boards of another engine refused before anything
//! is written.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use unibit_board::driver::{self, Expect, Images};
use unibit_board::link::{Link, LinkOptions};
use unibit_board::sim::PtyBoard;
use unibit_board::soft::ModelBoard;
use unibit_board::target::Target;
use unibit_board::Error;
use unibit_core::arith::Bits;
use unibit_core::bundle::{self, Accuracy, Bundle, ModelInfo};
use unibit_core::engine::Memories;
use unibit_core::family::FamilyConfig;
use unibit_core::progress::Silent;
use unibit_core::synthetic::{synthetic_images, synthetic_model};

/// `unibit bundle example --family resnet8 --bits 2 --width 0.25 --channel-multiple 8`, on
/// synthetic calibration images.
fn small_bundle(dir: &Path) -> PathBuf {
    family_bundle(dir, "resnet8", 0.25)
}

fn family_bundle(dir: &Path, family: &str, width: f64) -> PathBuf {
    let mut cfg = FamilyConfig::fashion_mnist(family.parse().unwrap(), width);
    cfg.channel_multiple = 8;
    let calib = synthetic_images(8, cfg.input, 1);
    let model = synthetic_model(&cfg, Bits::new(2).unwrap(), 1, calib.view()).unwrap();
    let path = dir.join(family);
    let b = Bundle {
        model,
        info: ModelInfo {
            source: "synthetic".into(),
            ..ModelInfo::default()
        },
        accuracy: Accuracy::default(),
        golden: None,
    };
    bundle::write(&path, &b).unwrap();
    path
}

struct Served {
    path: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

fn serve(target: Target) -> Served {
    let mut pty = PtyBoard::open(ModelBoard::new(target, 3_000_000).unwrap()).unwrap();
    let path = pty.path.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let thread = std::thread::spawn(move || pty.serve(&s).unwrap());
    Served {
        path,
        stop,
        thread: Some(thread),
    }
}

fn link(path: &str) -> Link<Box<dyn serialport::SerialPort>> {
    let (name, port) = unibit_board::port::open(path, 3_000_000).unwrap();
    Link::new(port, &name, 3_000_000, LinkOptions::default())
}

#[test]
fn load_classify_and_skip_on_the_model_board() {
    let dir = tempfile::tempdir().unwrap();
    let b = small_bundle(dir.path());
    let board = serve(Target::named("icebreaker", 2, None, None).unwrap());
    let mut l = link(&board.path);
    let first = driver::load(&b, &mut l, &Expect::default(), &Silent).unwrap();
    assert!(!first.skipped);
    assert_eq!(first.bytes_written, first.image_bytes + 64);
    assert_eq!(
        (first.board.as_str(), first.rows, first.cols),
        ("icebreaker", 8, 8)
    );
    let images = Images {
        pixels: synthetic_images(8, unibit_core::graph::Shape::new(1, 28, 28), 7),
        labels: None,
        source: "synthetic".into(),
    };
    let r = driver::classify(&b, &mut l, &images, &Silent).unwrap();
    assert_eq!(r.images, 8);
    assert_eq!(r.reference_equal, 8, "{:?}", r.mismatches);
    assert!(r.cycles_equal, "{:?} vs {}", r.cycles, r.cycles_expected);
    assert!(r.exact());
    let again = driver::load(&b, &mut l, &Expect::default(), &Silent).unwrap();
    assert!(again.skipped);
    assert_eq!(again.model_id, first.model_id);
    assert_eq!(again.bytes_written, 0);
}

/// A bitstream built below the board's default clock (`hw synth --freq`): the driver times
/// the engine at the clock INFO reports, not the board's default.
#[test]
fn engine_time_is_at_the_clock_the_board_reports() {
    let dir = tempfile::tempdir().unwrap();
    let b = small_bundle(dir.path());
    let mut t = Target::named("ulx3s-25f", 2, None, None).unwrap();
    assert_eq!(t.clock_hz, 100_000_000);
    t.clock_hz = 45_000_000;
    let board = serve(t);
    let mut l = link(&board.path);
    let ld = driver::load(&b, &mut l, &Expect::default(), &Silent).unwrap();
    assert_eq!(ld.board, "ulx3s-25f");
    let images = Images {
        pixels: synthetic_images(2, unibit_core::graph::Shape::new(1, 28, 28), 5),
        labels: None,
        source: "synthetic".into(),
    };
    let r = driver::classify(&b, &mut l, &images, &Silent).unwrap();
    assert!(r.exact(), "{:?}", r.mismatches);
    assert_eq!(r.clock_hz, 45_000_000);
    let want_ms = r.cycles_expected as f64 / 45e3;
    assert!(
        (r.engine_ms - want_ms).abs() < 1e-9,
        "{} vs {want_ms}",
        r.engine_ms
    );
}

fn refused(target: Target, expect: Expect) -> String {
    let dir = tempfile::tempdir().unwrap();
    let b = small_bundle(dir.path());
    let board = serve(target);
    let mut l = link(&board.path);
    let e = driver::load(&b, &mut l, &expect, &Silent).unwrap_err();
    assert!(matches!(e, Error::WrongEngine { .. }), "{e}");
    // Nothing was written: no model, and RUN is refused.
    assert!(!l.info().unwrap().model_loaded());
    let msg = e.to_string();
    assert_eq!(msg.lines().count(), 1, "{msg}");
    msg
}

#[test]
fn a_board_of_another_bitwidth_is_refused() {
    let msg = refused(
        Target::named("icebreaker", 4, None, None).unwrap(),
        Expect::default(),
    );
    assert!(msg.contains("B = 4 (the bundle's model is B = 2)"), "{msg}");
}

#[test]
fn a_board_of_another_array_is_refused() {
    let msg = refused(
        Target::named("ulx3s-25f", 2, Some(16), Some(16)).unwrap(),
        Expect {
            board: Some("ulx3s-25f".into()),
            ..Expect::default()
        },
    );
    assert!(msg.contains("R×C = 16×16 (expected 8×8)"), "{msg}");
}

#[test]
fn a_board_with_too_little_memory_is_refused() {
    let mut t = Target::named("ulx3s-25f", 2, None, None).unwrap();
    let mut mem = Memories::ecp5_25f();
    mem.blocks[0].count = 16;
    t.memories = mem;
    let msg = refused(
        t,
        Expect {
            board: Some("ulx3s-25f".into()),
            ..Expect::default()
        },
    );
    assert!(
        msg.contains("main memory 16384 bytes (expected 98304)"),
        "{msg}"
    );
}

#[test]
fn png_images_are_read_as_grey_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let b = small_bundle(dir.path());
    let write = |name: &str, color: png::ColorType, data: &[u8]| {
        let path = dir.path().join(name);
        let f = std::fs::File::create(&path).unwrap();
        let mut e = png::Encoder::new(f, 28, 28);
        e.set_color(color);
        e.set_depth(png::BitDepth::Eight);
        e.write_header().unwrap().write_image_data(data).unwrap();
        path
    };
    let grey: Vec<u8> = (0..784).map(|i| (i % 251) as u8).collect();
    let rgb: Vec<u8> = grey.iter().flat_map(|&g| [g, g, g]).collect();
    let files = [
        write("grey.png", png::ColorType::Grayscale, &grey),
        write("rgb.png", png::ColorType::Rgb, &rgb),
    ];
    let imgs = unibit_board::images::read_pngs(&b, &files).unwrap();
    assert_eq!(imgs.pixels.shape(), &[2, 1, 28, 28]);
    for k in 0..2 {
        let got: Vec<u8> = imgs
            .pixels
            .slice(ndarray::s![k, .., .., ..])
            .iter()
            .copied()
            .collect();
        assert_eq!(got, grey);
    }
    let small = dir.path().join("small.png");
    let f = std::fs::File::create(&small).unwrap();
    let mut e = png::Encoder::new(f, 4, 4);
    e.set_color(png::ColorType::Grayscale);
    e.write_header()
        .unwrap()
        .write_image_data(&[0; 16])
        .unwrap();
    let err = unibit_board::images::read_pngs(&b, &[small])
        .unwrap_err()
        .to_string();
    assert!(err.contains("expected 28×28 grey"), "{err}");
}

#[test]
fn a_model_too_big_for_the_board_is_refused_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let b = family_bundle(dir.path(), "resnet20", 2.0);
    let board = serve(Target::named("icebreaker", 2, None, None).unwrap());
    let mut l = link(&board.path);
    let before = l.bytes_sent;
    let e = driver::load(&b, &mut l, &Expect::default(), &Silent).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("the model needs") && msg.contains("131072 bytes are available"),
        "{msg}"
    );
    assert_eq!(msg.lines().count(), 1, "{msg}");
    // Only the INFO command went out.
    assert!(
        l.bytes_sent - before < 16,
        "{} bytes sent",
        l.bytes_sent - before
    );
}
