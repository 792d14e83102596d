//! Report generation from fixture sweeps: every file is written, the numbers in the tables and
//! in results.json are the inputs' means and spreads, verdicts name the right winner, ties are
//! called ties, and bad input lines are reported with file and line.

use std::path::{Path, PathBuf};
use unibit_core::results::{append, Method, RunRecord};
use unibit_core::size::SizeAccounting;
use unibit_core::Family;

const KIB: u64 = 8 * 1024;

/// Accuracies per (budget KiB, B) for seeds 0 and 1. B = 8 has no 32 KiB run; at 128 KiB B = 2
/// and B = 4 are within the seed spread.
const UNIFORM: &[(u64, u8, [f64; 2])] = &[
    (32, 1, [0.850, 0.854]),
    (32, 2, [0.870, 0.872]),
    (32, 4, [0.860, 0.861]),
    (64, 1, [0.880, 0.884]),
    (64, 2, [0.913, 0.915]),
    (64, 4, [0.905, 0.907]),
    (64, 8, [0.895, 0.897]),
    (128, 1, [0.900, 0.902]),
    (128, 2, [0.925, 0.929]),
    (128, 4, [0.926, 0.930]),
    (128, 8, [0.915, 0.917]),
];
const MIXED: &[(u64, [f64; 2])] = &[
    (32, [0.862, 0.866]),
    (64, [0.900, 0.904]),
    (128, [0.920, 0.924]),
];

fn record(budget_kib: u64, method: Method, bits: Option<u8>, seed: u64, acc: f64) -> RunRecord {
    let layers = 8;
    let layer_bits = match bits {
        Some(b) => vec![b; layers],
        None => (0..layers)
            .map(|i| [2, 4, 3, 2, 4, 8, 2, 1][(i + seed as usize) % 8])
            .collect(),
    };
    let b = bits.unwrap_or(3) as u64;
    let size_bits = budget_kib * KIB - 300 * b - 17 * seed;
    RunRecord {
        family: Family::ResNet { depth: 20 },
        method,
        bits,
        layer_bits,
        width: (budget_kib as f64 / b as f64).sqrt() / 2.0,
        seed,
        epochs: 3,
        budget_bits: Some(budget_kib * KIB),
        weights: size_bits / b,
        weight_bits: size_bits - 4000,
        param_bits: 4000,
        size_bits,
        size_accounting: SizeAccounting::Engine,
        float_acc: Some(acc + 0.01),
        fake_quant_acc: Some(acc + 0.001),
        int_acc: Some(acc),
        cycles: Some(1000 * budget_kib + 10 * b),
        engine: Some("8x8 @ 100 MHz".into()),
        run_dir: format!("runs/{budget_kib}k-{:?}-{bits:?}-s{seed}", method),
        board: None,
    }
}

/// A sweep directory with the uniform runs and a results file with the mixed ones.
fn fixture(dir: &Path) -> Vec<PathBuf> {
    let sweep = dir.join("sweep-a");
    std::fs::create_dir_all(&sweep).unwrap();
    let uni = sweep.join("results.jsonl");
    for &(k, b, accs) in UNIFORM {
        for (seed, acc) in accs.into_iter().enumerate() {
            append(&uni, &record(k, Method::Uniform, Some(b), seed as u64, acc)).unwrap();
        }
    }
    let mixed = dir.join("mixed.jsonl");
    for &(k, accs) in MIXED {
        for (seed, acc) in accs.into_iter().enumerate() {
            append(
                &mixed,
                &record(k, Method::MixedBudget, None, seed as u64, acc),
            )
            .unwrap();
        }
    }
    // A zero-degradation run has no budget: plotted at its size, listed apart.
    let mut z = record(96, Method::MixedZeroDegradation, None, 0, 0.931);
    z.budget_bits = None;
    append(&mixed, &z).unwrap();
    vec![sweep, mixed]
}

fn mean_sd(v: [f64; 2]) -> (f64, f64) {
    let m = (v[0] + v[1]) / 2.0;
    (m, ((v[0] - m).powi(2) + (v[1] - m).powi(2)).sqrt())
}

fn report(dir: &Path) -> (PathBuf, unibit_report::ReportOutput) {
    let inputs = fixture(dir);
    let out = dir.join("report");
    let s = unibit_report::run(&inputs, &out).unwrap();
    if let Some(keep) = std::env::var_os("UNIBIT_REPORT_KEEP") {
        unibit_report::run(&inputs, Path::new(&keep)).unwrap();
    }
    (out, s)
}

#[test]
fn writes_every_file_with_valid_headers() {
    let d = tempfile::tempdir().unwrap();
    let (out, s) = report(d.path());
    assert_eq!(s.records, 2 * UNIFORM.len() + 2 * MIXED.len() + 1);
    for stem in ["accuracy_vs_size", "cycles_vs_size", "bit_allocation"] {
        let png = std::fs::read(out.join(format!("{stem}.png"))).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{stem}.png header");
        assert!(png.len() > 10_000, "{stem}.png is {} bytes", png.len());
        let svg = std::fs::read_to_string(out.join(format!("{stem}.svg"))).unwrap();
        assert!(
            svg.contains("<svg") && svg.trim_end().ends_with("</svg>"),
            "{stem}.svg"
        );
        assert!(
            svg.len() > 5_000 && svg.contains("<text"),
            "{stem}.svg has text"
        );
    }
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert_eq!(html.matches("<svg").count(), 3, "three figures inlined");
    assert!(out.join("summary.md").is_file() && out.join("results.json").is_file());
    // Nothing left behind from staging.
    let hidden: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");
}

#[test]
fn numbers_match_the_inputs() {
    let d = tempfile::tempdir().unwrap();
    let (out, _) = report(d.path());
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    let fams = json["comparison"]["families"].as_array().unwrap();
    assert_eq!(fams.len(), 1);
    assert_eq!(fams[0]["family"], "resnet20");
    let budgets = fams[0]["budgets"].as_array().unwrap();
    assert_eq!(budgets.len(), 3);
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    for &(k, b, accs) in UNIFORM {
        let row = budgets
            .iter()
            .find(|r| r["budget_bits"] == k * KIB)
            .unwrap();
        let cell = row["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["series"]["kind"] == "uniform" && c["series"]["bits"] == b)
            .unwrap();
        let (m, sd) = mean_sd(accs);
        let a = &cell["accuracy"];
        assert!(
            (a["mean"].as_f64().unwrap() - m).abs() < 1e-12,
            "{k} KiB B={b}"
        );
        assert!(
            (a["sd"].as_f64().unwrap() - sd).abs() < 1e-12,
            "{k} KiB B={b}"
        );
        assert_eq!(a["min"].as_f64().unwrap(), accs[0]);
        assert_eq!(a["max"].as_f64().unwrap(), accs[1]);
        assert_eq!(a["n"], 2);
        let fixture = record(k, Method::Uniform, Some(b), 0, 0.0);
        assert_eq!(cell["width_mean"].as_f64().unwrap(), fixture.width);
        let sizes = [0, 1].map(|seed| record(k, Method::Uniform, Some(b), seed, 0.0).size_bits);
        let size_mean = (sizes[0] + sizes[1]) as f64 / 2.0;
        assert_eq!(cell["size_bits"]["mean"].as_f64().unwrap(), size_mean);
        let matrix = format!(
            "{:.2} ± {:.2}% · w {:.3} · {:.1} KiB",
            m * 100.0,
            sd * 100.0,
            fixture.width,
            size_mean / 8192.0
        );
        assert!(md.contains(&matrix), "summary.md lacks {matrix}");
        // The same numbers, as printed in the tables.
        let printed = format!("{:.2} ± {:.2}%", m * 100.0, sd * 100.0);
        assert!(md.contains(&printed), "summary.md lacks {printed}");
    }
    let winners: Vec<&str> = budgets
        .iter()
        .map(|r| r["verdict"]["leaders"][0].as_str().unwrap())
        .collect();
    assert_eq!(winners, ["B = 2", "B = 2", "B = 4"]);
    // 64 KiB: a clear win, margins computed from the means.
    let v64 = &budgets[1]["verdict"]["sentence"];
    assert_eq!(
        v64,
        "At 64.0 KiB, B = 2 wins with 91.4% (±0.1), +0.8 pp over B = 4 and +1.2 pp over mixed precision."
    );
    assert!(md.contains("At 64.0 KiB, B = 2 wins with 91.4% (±0.1), +0.8 pp over B = 4"));
    // 128 KiB: B = 4 and B = 2 are within the seed spread.
    let v128 = budgets[2]["verdict"]["sentence"].as_str().unwrap();
    assert!(
        v128.starts_with("At 128.0 KiB, B = 4 and B = 2 tie within the seed spread"),
        "{v128}"
    );
    assert_eq!(
        budgets[2]["verdict"]["leaders"].as_array().unwrap().len(),
        2
    );
    // 32 KiB: B = 8 has no run there, and the report says so.
    let v32 = budgets[0]["verdict"]["sentence"].as_str().unwrap();
    assert!(v32.contains("No results for B = 8 at this size."), "{v32}");
    assert_eq!(budgets[0]["verdict"]["missing"][0], "B = 8");
    // The unbudgeted zero-degradation run is listed apart.
    assert_eq!(fams[0]["unbudgeted"].as_array().unwrap().len(), 1);
    assert_eq!(
        json["records"].as_array().unwrap().len(),
        2 * UNIFORM.len() + 7
    );
}

#[test]
fn fallback_accuracy_is_labelled() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("r.jsonl");
    let mut r = record(64, Method::Uniform, Some(2), 0, 0.9);
    r.int_acc = None;
    append(&f, &r).unwrap();
    append(&f, &record(64, Method::Uniform, Some(4), 0, 0.8)).unwrap();
    let out = d.path().join("out");
    unibit_report::run(&[f], &out).unwrap();
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(md.contains("90.10% (1 seed) (fake-quant acc.)"), "{md}");
    let svg = std::fs::read_to_string(out.join("accuracy_vs_size.svg")).unwrap();
    assert!(svg.contains("B = 2 (fake-quant acc.)"));
    // No mixed runs: no allocation figure, and the summary says there is no mixed precision.
    assert!(!out.join("bit_allocation.png").exists());
    assert!(md.contains("No results for mixed precision at this size."));
}

#[test]
fn bad_lines_name_file_and_line() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("results.jsonl");
    append(&f, &record(64, Method::Uniform, Some(2), 0, 0.9)).unwrap();
    let mut text = std::fs::read_to_string(&f).unwrap();
    text.push_str("{\"family\": \"resnet20\", oops\n");
    std::fs::write(&f, &text).unwrap();
    let out = d.path().join("out");
    let err = unibit_report::run(&[d.path().to_path_buf()], &out)
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("{}: line 2:", f.display())), "{err}");
    assert!(!out.join("summary.md").exists());

    let mut r = record(64, Method::Uniform, Some(2), 0, 0.9);
    r.int_acc = Some(91.0); // a percentage where a fraction belongs
    std::fs::write(&f, serde_json::to_string(&r).unwrap()).unwrap();
    let err = unibit_report::run(std::slice::from_ref(&f), &out)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 1: int_acc: expected a fraction in [0, 1], found 91"),
        "{err}"
    );

    let err = unibit_report::run(&[d.path().join("nope")], &out)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("nope") && err.contains("expected a sweep directory"),
        "{err}"
    );
}

#[test]
fn repeated_runs_are_counted_once() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("r.jsonl");
    append(&f, &record(64, Method::Uniform, Some(2), 0, 0.90)).unwrap();
    append(&f, &record(64, Method::Uniform, Some(2), 0, 0.91)).unwrap();
    let s = unibit_report::run(&[f], &d.path().join("out")).unwrap();
    assert_eq!(s.records, 1);
    assert!(
        s.warnings[0].contains("kept the later line"),
        "{:?}",
        s.warnings
    );
    assert!(s.verdicts[0].contains("91.0%"), "{:?}", s.verdicts);
}

#[test]
fn runs_of_different_studies_are_kept_and_copies_counted_once() {
    let d = tempfile::tempdir().unwrap();
    // Two mixed-precision studies both name their run `budget-64KiB`, with other recipes.
    let (a, b) = (d.path().join("a"), d.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let mut ra = record(64, Method::MixedBudget, None, 0, 0.88);
    ra.run_dir = "budget-64KiB".into();
    let mut rb = ra.clone();
    rb.epochs = 4;
    rb.int_acc = Some(0.90);
    append(&a.join("results.jsonl"), &ra).unwrap();
    append(&b.join("results.jsonl"), &rb).unwrap();
    // A copy of study a's results elsewhere holds the same record again.
    let copy = d.path().join("copy.jsonl");
    std::fs::copy(a.join("results.jsonl"), &copy).unwrap();
    let s = unibit_report::run(&[a, b, copy], &d.path().join("out")).unwrap();
    assert_eq!(s.records, 2, "{:?}", s.warnings);
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    assert!(
        s.warnings[0].contains("copy.jsonl:1 repeats"),
        "{:?}",
        s.warnings
    );
}

/// Records of one family under both accountings: two verdict sets, never one comparison of
/// sizes counted differently; the engine-accounted part reads exactly as a report of it alone;
/// `--size-accounting` keeps one of them.
#[test]
fn verdicts_under_each_accounting() {
    let d = tempfile::tempdir().unwrap();
    let (e, w) = (d.path().join("e.jsonl"), d.path().join("w.jsonl"));
    for (bits, accs) in [(1u8, [0.90, 0.91]), (8, [0.93, 0.94])] {
        for (seed, acc) in accs.into_iter().enumerate() {
            append(
                &e,
                &record(16, Method::Uniform, Some(bits), seed as u64, acc),
            )
            .unwrap();
            // Under the weights accounting B = 1 wins (its width grows most).
            let mut r = record(16, Method::Uniform, Some(bits), seed as u64, 1.85 - acc);
            r.size_accounting = SizeAccounting::Weights;
            r.size_bits = r.weight_bits;
            r.width *= 1.5;
            append(&w, &r).unwrap();
        }
    }
    let both = unibit_report::run(&[e.clone(), w.clone()], &d.path().join("both")).unwrap();
    assert_eq!(both.records, 8, "{:?}", both.warnings);
    assert_eq!(both.verdicts.len(), 2, "{:?}", both.verdicts);
    // Families in order, each under the weights accounting first.
    let (vw, ve) = (&both.verdicts[0], &both.verdicts[1]);
    assert!(ve.starts_with("resnet20: At 16.0 KiB, B = 8 wins"), "{ve}");
    assert!(
        vw.starts_with("resnet20: At 16.0 KiB of weights, B = 1 wins"),
        "{vw}"
    );
    let md = std::fs::read_to_string(d.path().join("both/summary.md")).unwrap();
    assert!(md.contains("Family resnet20 (weights accounting)"), "{md}");
    assert!(md.contains("Verdicts under each size accounting"), "{md}");
    assert!(
        md.contains("| resnet20 | 16.0 KiB | B = 1 (94.50%) | B = 8 (93.50%) |"),
        "{md}"
    );

    // The engine part of the comparison is what a report of the engine records alone says.
    let json = |dir: &str| -> serde_json::Value {
        let t = std::fs::read_to_string(d.path().join(dir).join("results.json")).unwrap();
        serde_json::from_str::<serde_json::Value>(&t).unwrap()["comparison"].clone()
    };
    let alone = unibit_report::run(std::slice::from_ref(&e), &d.path().join("alone")).unwrap();
    assert_eq!(json("both")["families"][1], json("alone")["families"][0]);
    assert!(json("alone")["families"][0]
        .get("size_accounting")
        .is_none());
    assert_eq!(json("both")["families"][0]["size_accounting"], "weights");
    assert!(!std::fs::read_to_string(d.path().join("alone/summary.md"))
        .unwrap()
        .contains("accounting"));
    assert_eq!(alone.verdicts[0], *ve);

    let opts = unibit_report::ReportOptions {
        size_accounting: Some(SizeAccounting::Weights),
        ..Default::default()
    };
    let only = unibit_report::run_with(&[e.clone(), w], &d.path().join("only"), &opts).unwrap();
    assert_eq!((only.records, only.verdicts.len()), (4, 1));
    assert!(
        only.warnings.iter().any(|w| w.contains("4 record(s)")),
        "{:?}",
        only.warnings
    );
    let err = unibit_report::run_with(&[e], &d.path().join("none"), &opts)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no run records under the weights size accounting"),
        "{err}"
    );
}

#[test]
fn a_board_budget_is_its_own_row_with_predicted_speed() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("r.jsonl");
    // Size-budget runs at 128 KiB and board runs whose budget is also 128 KiB (the
    // iCEBreaker's main memory): the two must not be pooled.
    for seed in 0..2 {
        append(&f, &record(128, Method::Uniform, Some(2), seed, 0.92)).unwrap();
    }
    for (bits, acc, cycles) in [(1u8, 0.915, 480_000u64), (2, 0.931, 600_000)] {
        let mut r = record(128, Method::Uniform, Some(bits), 0, acc);
        r.board = Some("icebreaker".into());
        r.cycles = Some(cycles);
        r.engine = Some("icebreaker net 8x8".into());
        r.run_dir = format!("runs/board-b{bits}");
        append(&f, &r).unwrap();
    }
    let out = unibit_report::run(std::slice::from_ref(&f), &d.path().join("rep")).unwrap();
    assert_eq!(out.verdicts.len(), 2, "{:?}", out.verdicts);
    assert!(
        out.verdicts[0].starts_with("resnet20: At 128.0 KiB, only B = 2 has results: 92.0%"),
        "{:?}",
        out.verdicts
    );
    let board = &out.verdicts[1];
    assert!(
        board.starts_with("resnet20: At the icebreaker's memory (128.0 KiB), B = 2 wins"),
        "{board}"
    );
    // 24 MHz / 600,000 cycles = 40 images/s.
    assert!(
        board.contains(
            "the leader (B = 2) is predicted at 40 images/s (600000 cycles per image at 24 MHz)"
        ),
        "{board}"
    );
    let md = std::fs::read_to_string(d.path().join("rep/summary.md")).unwrap();
    assert!(
        md.contains("| the icebreaker's memory (128.0 KiB) |"),
        "{md}"
    );
    assert!(md.contains("· 50 img/s"), "{md}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("rep/results.json")).unwrap())
            .unwrap();
    let rows = &json["comparison"]["families"][0]["budgets"];
    assert!(rows[0].get("board").is_none());
    assert_eq!(rows[1]["board"], "icebreaker");
    assert_eq!(rows[1]["clock_hz"], 24_000_000);
}

/// A sweep plan of `epochs` epochs over the fixture's budgets, B ∈ {1, 2, 4, 8}, 2 seeds.
fn plan_json(epochs: usize) -> String {
    let mut jobs = vec![];
    for k in [32u64, 64, 128] {
        for b in [1u8, 2, 4, 8] {
            for seed in 0..2u64 {
                jobs.push(serde_json::json!({
                    "index": jobs.len(), "id": format!("r20-{k}KiB-b{b}-s{seed}"),
                    "family": "resnet20", "budget": format!("{k}KiB"), "budget_bits": k * KIB,
                    "bits": b, "seed": seed, "width": 0.5, "size_bits": k * KIB - 100,
                    "run_dir": format!("runs/r20-{k}KiB-b{b}-s{seed}"),
                }));
            }
        }
    }
    serde_json::json!({
        "format": "unibit-sweep-plan", "version": 1, "family": "resnet20",
        "channel_multiple": 4, "budgets": ["32KiB", "64KiB", "128KiB"], "bits": [1, 2, 4, 8],
        "seeds": 2, "train": {"epochs": epochs, "batch": 128}, "export": {}, "jobs": jobs,
    })
    .to_string()
}

/// With the sweep's plan, the report says which planned runs are missing and marks only the
/// verdicts of budgets that still miss some as provisional; a plan of another epoch count
/// finds none of the runs; a file that is not a plan is refused naming it.
#[test]
fn a_plan_makes_unfinished_cells_visible_and_their_verdicts_provisional() {
    let d = tempfile::tempdir().unwrap();
    let inputs = fixture(d.path());
    // The fixture has no B = 8 at 32 KiB: 22 of the plan's 24 runs.
    std::fs::write(inputs[0].join("plan.json"), plan_json(3)).unwrap();
    let s = unibit_report::run(&inputs, &d.path().join("r")).unwrap();
    assert_eq!(s.completeness.len(), 1);
    let c = &s.completeness[0];
    assert_eq!((c.finished, c.planned), (22, 24));
    let ids: Vec<&str> = c.missing.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["r20-32KiB-b8-s0", "r20-32KiB-b8-s1"]);
    let provisional: Vec<&String> = s
        .verdicts
        .iter()
        .filter(|v| v.contains("Provisional"))
        .collect();
    assert_eq!(provisional.len(), 1, "{:?}", s.verdicts);
    assert!(
        provisional[0].contains("At 32.0 KiB")
            && provisional[0].ends_with(
                "Provisional: 2 planned run(s) at this size not finished yet (B = 8 seed 0, B = 8 seed 1)."
            ),
        "{}",
        provisional[0]
    );
    let md = std::fs::read_to_string(d.path().join("r/summary.md")).unwrap();
    assert!(
        md.contains("## Completeness against the sweep plans"),
        "{md}"
    );
    assert!(
        md.contains("| 22 of 24 | r20-32KiB-b8-s0, r20-32KiB-b8-s1 |"),
        "{md}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("r/results.json")).unwrap())
            .unwrap();
    assert_eq!(json["completeness"][0]["finished"], 22);
    let v32 = &json["comparison"]["families"][0]["budgets"][0]["verdict"];
    assert_eq!(v32["unfinished"][1], "B = 8 seed 1");

    // Records of 3 epochs do not finish a 15-epoch plan.
    let other = d.path().join("plan15.json");
    std::fs::write(&other, plan_json(15)).unwrap();
    let opts = unibit_report::ReportOptions {
        plans: vec![other.clone()],
        ..Default::default()
    };
    let s = unibit_report::run_with(&inputs[1..], &d.path().join("r15"), &opts).unwrap();
    assert_eq!(
        (s.completeness[0].finished, s.completeness[0].planned),
        (0, 24)
    );

    // Not a plan: one line naming the file and the field.
    let mut bad: serde_json::Value = serde_json::from_str(&plan_json(3)).unwrap();
    bad["format"] = "unibit-report".into();
    std::fs::write(&other, bad.to_string()).unwrap();
    let e = unibit_report::run_with(&inputs[1..], &d.path().join("rb"), &opts)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("plan15.json") && e.contains("format: expected \"unibit-sweep-plan\""),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1);
    assert!(
        !d.path().join("rb").exists(),
        "refused before anything is written"
    );
}
