//! The board as the budget (`unibit size --board`): the width the solver picks compiles for the
//! engine on that board and one width step more does not.

use unibit_core::engine::{compile, Error, Memories};
use unibit_core::size::{board_report, WIDTH_STEP};
use unibit_core::synthetic::{synthetic_images, synthetic_model};
use unibit_core::{Bits, FamilyConfig};

fn check(family: &str, b: u8, board: &str) {
    let base = FamilyConfig::fashion_mnist(family.parse().unwrap(), 1.0);
    let bits = Bits::new(b).unwrap();
    let r = board_report(&base, bits, board).unwrap();
    let mem = Memories::for_board(board).unwrap();
    assert_eq!((r.board.as_str(), r.shape.bits), (mem.board.as_str(), bits));
    let q = &r.requirements;
    assert!(q.fits() && q.main.needed <= q.main.available, "{q:?}");
    assert_eq!(
        q.main.needed,
        q.program_bytes + q.weight_bytes + q.activation_bytes,
        "the breakdown adds up to the need"
    );
    let model_at = |width: f64| {
        let cfg = FamilyConfig { width, ..base };
        let calib = synthetic_images(2, cfg.input, 1);
        synthetic_model(&cfg, bits, 1, calib.view()).unwrap()
    };
    let program = compile(&model_at(r.width), &r.shape, &mem)
        .unwrap_or_else(|e| panic!("{family} B = {b} on {board} at {}: {e}", r.width));
    assert!(!program.descriptors.is_empty());
    match compile(&model_at(r.width + WIDTH_STEP), &r.shape, &mem) {
        Err(Error::DoesNotFit { .. }) => {}
        other => panic!(
            "{family} B = {b} on {board}, one step wider than {}: {:?}",
            r.width,
            other.map(|_| "compiled")
        ),
    }
}

#[test]
fn resnet8_on_the_icebreaker() {
    check("resnet8", 2, "icebreaker");
}

#[test]
fn mobilenetv2_on_the_ulx3s() {
    check("mobilenetv2", 4, "ulx3s-25f");
}

#[test]
fn unknown_boards_are_named() {
    let base = FamilyConfig::fashion_mnist("resnet8".parse().unwrap(), 1.0);
    let e = board_report(&base, Bits::new(2).unwrap(), "arty")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("icebreaker or ulx3s-25f") && e.contains("arty"),
        "{e}"
    );
}
