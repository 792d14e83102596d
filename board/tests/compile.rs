//! `hw compile` (unibit_board::compile): the files equal what `load` sends, the report's cycles
//! are the engine's, and a model too big for the board or an output over the bundle is refused
//! before anything is written.

use std::path::Path;
use unibit_board::compile::{compile_to, Choice, CompileReport, PROGRAM_JSON};
use unibit_board::target::{image_bytes, Registers, Target};
use unibit_core::engine;
use unibit_core::family::{Family, FamilyConfig};
use unibit_core::synthetic::{write_example, ExampleConfig};

fn example(dir: &Path, family: Family, width: f64) -> std::path::PathBuf {
    let mut f = FamilyConfig::fashion_mnist(family, width);
    f.channel_multiple = 8;
    let cfg = ExampleConfig {
        family: f,
        bits: unibit_core::Bits::new(2).unwrap(),
        seed: 1,
        golden: 2,
        data_dir: None,
    };
    write_example(&cfg, dir).unwrap();
    dir.to_path_buf()
}

fn icebreaker() -> Choice {
    Choice {
        board: "icebreaker".into(),
        ..Choice::default()
    }
}

#[test]
fn files_are_what_load_writes_and_cycles_are_the_engines() {
    let tmp = tempfile::tempdir().unwrap();
    let b = example(&tmp.path().join("b"), Family::ResNet { depth: 8 }, 0.5);
    let out = tmp.path().join("out");
    let r = compile_to(&b, &icebreaker(), &out).unwrap();

    let bundle = unibit_core::bundle::read_with(&b, false).unwrap();
    let t = Target::named("icebreaker", 2, None, None).unwrap();
    let p = engine::compile(&bundle.model, &t.shape, &t.memories).unwrap();
    assert_eq!(
        std::fs::read(out.join("main.bin")).unwrap(),
        image_bytes(&p)
    );
    assert_eq!(
        std::fs::read(out.join("registers.bin")).unwrap(),
        Registers::of(&p).unwrap().encode().unwrap()
    );
    let hex = std::fs::read_to_string(out.join("main.hex")).unwrap();
    let words: Vec<u64> = hex
        .lines()
        .map(|l| u64::from_str_radix(l, 16).unwrap())
        .collect();
    assert_eq!(words, p.image, "8×8: one 64-bit dword per main word");
    assert_eq!(r.cycles.cycles, engine::cycles(&p));
    assert_eq!(r.records, p.descriptors.len());
    let back: CompileReport =
        serde_json::from_slice(&std::fs::read(out.join(PROGRAM_JSON)).unwrap()).unwrap();
    assert_eq!(back.model_id, r.model_id);
    assert!(std::fs::read_to_string(out.join("memory-map.txt"))
        .unwrap()
        .contains("activations 0"));
    // An earlier output of the same kind is replaced; nothing staged is left behind.
    compile_to(&b, &icebreaker(), &out).unwrap();
    assert!(std::fs::read_dir(&out).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with(".staging")));
}

#[test]
fn sixteen_wide_hex_words_hold_two_dwords_most_significant_first() {
    let tmp = tempfile::tempdir().unwrap();
    let b = example(&tmp.path().join("b"), Family::ResNet { depth: 8 }, 0.25);
    let out = tmp.path().join("out");
    let c = Choice {
        board: "ulx3s-25f".into(),
        rows: Some(16),
        cols: Some(16),
    };
    compile_to(&b, &c, &out).unwrap();
    let bin = std::fs::read(out.join("main.bin")).unwrap();
    let hex = std::fs::read_to_string(out.join("main.hex")).unwrap();
    let first = hex.lines().next().unwrap();
    assert_eq!(first.len(), 32);
    let lo = u64::from_le_bytes(bin[0..8].try_into().unwrap());
    let hi = u64::from_le_bytes(bin[8..16].try_into().unwrap());
    assert_eq!(first, format!("{hi:016x}{lo:016x}"));
    assert_eq!(hex.lines().count() * 16, bin.len());
}

#[test]
fn too_big_for_the_board_is_refused_naming_memory_and_bytes_before_writing() {
    let tmp = tempfile::tempdir().unwrap();
    let b = example(&tmp.path().join("b"), Family::ResNet { depth: 20 }, 2.0);
    let out = tmp.path().join("out");
    let e = compile_to(&b, &icebreaker(), &out).unwrap_err().to_string();
    assert!(e.contains("main memory"), "{e}");
    assert!(e.contains("131072 bytes are available"), "{e}");
    assert!(e.contains("would fit"), "{e}");
    assert!(!out.exists(), "nothing written for a refused model");
}

#[test]
fn output_over_the_bundle_or_a_foreign_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let b = example(&tmp.path().join("b"), Family::ResNet { depth: 8 }, 0.25);
    let e = compile_to(&b, &icebreaker(), &b).unwrap_err().to_string();
    assert!(e.contains("refusing to write over it"), "{e}");
    let foreign = tmp.path().join("notes");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
    let e = compile_to(&b, &icebreaker(), &foreign)
        .unwrap_err()
        .to_string();
    assert!(e.contains("is not a compiled engine program"), "{e}");
    assert_eq!(
        std::fs::read_to_string(foreign.join("notes.txt")).unwrap(),
        "mine"
    );
}
