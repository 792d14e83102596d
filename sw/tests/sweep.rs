//! Sweep tests: tiny ResNet-8s on a synthetic Fashion-MNIST directory, one thread.

mod common;

use std::path::Path;
use tch::Device;
use unibit_core::cost::{model_cost, tile_engine};
use unibit_core::family::FamilyConfig;
use unibit_core::progress::Silent;
use unibit_core::results::{self, Method};
use unibit_core::size::{model_size, parse_bits, solve_width, width_for_budget, SizeAccounting};
use unibit_core::{Bits, Family};
use unibit_sw::sweep::{
    self, ExportSettings, JobOutcome, LocalOptions, Plan, SweepSpec, TrainSettings,
};
use unibit_sw::train::{self, RunOptions};

fn spec(data_dir: &Path, epochs: usize) -> SweepSpec {
    SweepSpec {
        family: "resnet8".parse().unwrap(),
        budgets: vec!["2KiB".into(), "3KiB".into()],
        bits: vec![Bits::new(1).unwrap(), Bits::new(2).unwrap()],
        seeds: 1,
        channel_multiple: 4,
        size_accounting: SizeAccounting::Engine,
        train: TrainSettings {
            epochs,
            batch: 32,
            lr: 0.05,
            momentum: 0.9,
            weight_decay: 5e-4,
            warmup_epochs: 0.5,
            no_augment: false,
            train_limit: None,
            data_dir: Some(data_dir.to_path_buf()),
        },
        export: ExportSettings {
            calibration_images: 64,
            golden: 2,
            test_limit: None,
        },
    }
}

fn local(jobs: usize) -> LocalOptions {
    LocalOptions {
        jobs,
        threads: 1,
        exe: None,
        device: Device::Cpu,
        progress: false,
    }
}

#[test]
fn sweep_end_to_end_then_plan_run_collect_gives_the_same_table() {
    tch::set_num_threads(1);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::synthetic_fashion_mnist(&data, 128, 48);
    let s = spec(&data, 1);

    // Local sweep: plan + run + collect.
    let a = tmp.path().join("a");
    let plan = sweep::plan(&s, &a).unwrap();
    assert_eq!(plan.jobs.len(), 4);
    sweep::run_all(&plan, &a, &local(1), &Silent).unwrap();
    let ca = sweep::collect(&plan, &a).unwrap();
    assert!(ca.missing.is_empty(), "{:?}", ca.missing);
    let recs = results::read(&a.join("results.jsonl")).unwrap();
    assert_eq!(recs.len(), 4);
    for (r, job) in recs.iter().zip(&plan.jobs) {
        let budget = parse_bits(&job.budget).unwrap();
        let b = job.bits;
        let base = FamilyConfig::fashion_mnist(Family::ResNet { depth: 8 }, 1.0);
        let sol = width_for_budget(&base, b, budget).unwrap();
        assert_eq!(r.method, Method::Uniform);
        assert_eq!(r.bits, Some(b.get()));
        assert_eq!(r.width, sol.width);
        assert_eq!(r.size_bits, sol.size.total_bits);
        assert!(r.size_bits <= budget);
        assert_eq!(r.budget_bits, Some(budget));
        let g = FamilyConfig::fashion_mnist(Family::ResNet { depth: 8 }, r.width)
            .build()
            .unwrap();
        let size = model_size(&g, |_| b).unwrap();
        assert_eq!(
            (r.weights, r.weight_bits, r.param_bits),
            (size.weights, size.weight_bits, size.param_bits)
        );
        assert_eq!(r.layer_bits, vec![b.get(); g.weight_layers().count()]);
        let cycles = model_cost(&g, &tile_engine(b, 8, 8).unwrap())
            .unwrap()
            .cycles;
        assert_eq!(r.cycles, Some(cycles));
        assert_eq!(r.engine.as_deref(), Some("8x8"));
        for acc in [r.float_acc, r.fake_quant_acc, r.int_acc] {
            let acc = acc.unwrap();
            assert!((0.0..=1.0).contains(&acc));
        }
        assert_eq!(r.run_dir, job.run_dir);
        assert!(a.join(&r.run_dir).join("bundle/manifest.json").is_file());
        assert!(a.join(&r.run_dir).join("log").is_file());
    }
    // Different B at one budget: different widths (the solver ran per B).
    assert!(
        recs[0].width > recs[1].width,
        "{} vs {}",
        recs[0].width,
        recs[1].width
    );

    // Running again skips every job and collects the same bytes.
    let before = std::fs::read(a.join("results.jsonl")).unwrap();
    for i in 0..plan.jobs.len() {
        assert_eq!(
            sweep::run_job(&plan, &a, i, Device::Cpu, &Silent).unwrap(),
            JobOutcome::Skipped
        );
    }
    sweep::collect(&plan, &a).unwrap();
    assert_eq!(std::fs::read(a.join("results.jsonl")).unwrap(), before);

    // Beyond one machine: plan, run each job by index (in reverse, as an array might), collect.
    let b = tmp.path().join("b");
    let pb = sweep::plan(&s, &b).unwrap();
    assert_eq!(Plan::read(&b.join("plan.json")).unwrap(), pb);
    // Collect before anything ran: empty table, every job missing.
    let early = sweep::collect(&pb, &b).unwrap();
    assert_eq!(early.missing.len(), 4);
    assert!(early.records.is_empty());
    for i in (0..pb.jobs.len()).rev() {
        let p = Plan::read(&b.join("plan.json")).unwrap();
        assert!(matches!(
            sweep::run_job(&p, &b, i, Device::Cpu, &Silent).unwrap(),
            JobOutcome::Finished(_)
        ));
    }
    sweep::collect(&pb, &b).unwrap();
    assert_eq!(
        std::fs::read(b.join("results.jsonl")).unwrap(),
        before,
        "plan/run/collect must equal the local sweep"
    );

    // A different sweep in the same directory is refused, naming the field.
    let mut other = s.clone();
    other.bits = vec![Bits::new(3).unwrap()];
    let e = format!("{:#}", sweep::plan(&other, &a).unwrap_err());
    assert!(e.contains("plan.json") && e.contains("bits"), "{e}");
}

#[test]
fn killed_jobs_resume_from_their_checkpoint() {
    tch::set_num_threads(1);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::synthetic_fashion_mnist(&data, 96, 32);
    let mut s = spec(&data, 2);
    s.budgets = vec!["2KiB".into()];
    s.bits = vec![Bits::new(2).unwrap()];

    // Uninterrupted.
    let a = tmp.path().join("a");
    let pa = sweep::plan(&s, &a).unwrap();
    sweep::run_all(&pa, &a, &local(1), &Silent).unwrap();
    let ra = sweep::collect(&pa, &a).unwrap().records;

    // Killed after its first epoch's checkpoint: the job's run dir holds a 1-of-2-epoch run.
    let b = tmp.path().join("b");
    let pb = sweep::plan(&s, &b).unwrap();
    let run = b.join(&pb.jobs[0].run_dir);
    let stop = |n| RunOptions {
        device: Device::Cpu,
        stop_after: Some(n),
    };
    train::train(
        &run,
        Some(pb.train_config(&pb.jobs[0])),
        false,
        &stop(1),
        &Silent,
    )
    .unwrap();
    assert_eq!(unibit_sw::checkpoint::read_info(&run).unwrap().epoch, 1);
    assert!(!sweep::is_finished(&run));
    let out = sweep::run_job(&pb, &b, 0, Device::Cpu, &Silent).unwrap();
    let JobOutcome::Finished(rec) = out else {
        panic!("expected a finished job, found {out:?}")
    };
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    assert_eq!(
        metrics.lines().count(),
        2,
        "epoch 1 must not be trained twice"
    );
    assert!(std::fs::read_to_string(run.join("log"))
        .unwrap()
        .contains("resuming from the checkpoint after epoch 1"));
    // Training is deterministic on one thread: the resumed job's results equal the uninterrupted.
    let mut rb = *rec.clone();
    rb.run_dir = ra[0].run_dir.clone();
    assert_eq!(rb, ra[0]);

    // Killed before its first checkpoint (config.json only): starts again and finishes.
    let c = tmp.path().join("c");
    let pc = sweep::plan(&s, &c).unwrap();
    let run_c = c.join(&pc.jobs[0].run_dir);
    std::fs::create_dir_all(&run_c).unwrap();
    let mut cfg = pc.train_config(&pc.jobs[0]);
    cfg.channel_plan = vec![("stale".into(), 1)];
    std::fs::write(
        run_c.join("config.json"),
        serde_json::to_string(&cfg).unwrap(),
    )
    .unwrap();
    sweep::run_job(&pc, &c, 0, Device::Cpu, &Silent).unwrap();
    assert_eq!(
        sweep::collect(&pc, &c).unwrap().records[0].int_acc,
        ra[0].int_acc
    );

    // A run directory holding another run is refused, naming the field.
    let d = tmp.path().join("d");
    let pd = sweep::plan(&s, &d).unwrap();
    let run_d = d.join(&pd.jobs[0].run_dir);
    let mut wrong = pd.train_config(&pd.jobs[0]);
    wrong.seed = 99;
    train::train(&run_d, Some(wrong), false, &stop(1), &Silent).unwrap();
    let e = format!(
        "{:#}",
        sweep::run_job(&pd, &d, 0, Device::Cpu, &Silent).unwrap_err()
    );
    assert!(e.contains("config.json") && e.contains("seed"), "{e}");
}

#[test]
fn a_job_another_process_is_training_is_left_to_it() {
    tch::set_num_threads(1);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::synthetic_fashion_mnist(&data, 64, 32);
    let mut s = spec(&data, 1);
    s.budgets = vec!["2KiB".into()];
    s.bits = vec![Bits::new(2).unwrap()];
    let dir = tmp.path().join("s");
    let p = sweep::plan(&s, &dir).unwrap();
    let run = dir.join(&p.jobs[0].run_dir);
    std::fs::create_dir_all(&run).unwrap();

    // The lock is an OS lock on an open file: a second holder is refused while the first lives.
    let held = sweep::try_lock_run(&run)
        .unwrap()
        .expect("a free run locks");
    assert!(sweep::try_lock_run(&run).unwrap().is_none());
    assert!(sweep::is_busy(&run));
    assert_eq!(
        sweep::run_job(&p, &dir, 0, Device::Cpu, &Silent).unwrap(),
        JobOutcome::Busy
    );
    sweep::run_all(&p, &dir, &local(1), &Silent).unwrap();
    let c = sweep::collect(&p, &dir).unwrap();
    assert_eq!(c.missing, vec![p.jobs[0].id.clone()]);
    assert!(!run.join("checkpoint.json").exists(), "nothing trained");

    // Released (its process ended): the next sweep trains it.
    drop(held);
    assert!(!sweep::is_busy(&run));
    sweep::run_all(&p, &dir, &local(1), &Silent).unwrap();
    assert!(sweep::collect(&p, &dir).unwrap().missing.is_empty());
}

#[test]
fn plans_list_every_budget_bitwidth_and_seed_with_solved_widths() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = spec(tmp.path(), 1);
    s.seeds = 2;
    s.bits = vec![1, 2, 4, 8]
        .into_iter()
        .map(|b| Bits::new(b).unwrap())
        .collect();
    s.budgets = vec!["3KiB".into(), "4KiB".into()];
    let p = Plan::new(&s).unwrap();
    assert_eq!(p.jobs.len(), 2 * 4 * 2);
    let base = FamilyConfig::fashion_mnist(Family::ResNet { depth: 8 }, 1.0);
    for (i, j) in p.jobs.iter().enumerate() {
        assert_eq!(j.index, i);
        let sol = width_for_budget(&base, j.bits, j.budget_bits).unwrap();
        assert_eq!((j.width, j.size_bits), (sol.width, sol.size.total_bits));
        assert_eq!(j.run_dir, format!("runs/{}", j.id));
    }
    assert_eq!(p.jobs[0].id, "resnet8-3KiB-b1-s0");
    assert_eq!(p.jobs[1].id, "resnet8-3KiB-b1-s1");
    // Budgets too small for a bitwidth name the budget and the bitwidth.
    s.budgets = vec!["100B".into()];
    let e = format!("{:#}", Plan::new(&s).unwrap_err());
    assert!(e.contains("100B") && e.contains("budget"), "{e}");
    // A tampered plan is rejected with the field.
    let p = Plan::new(&spec(tmp.path(), 1)).unwrap();
    let mut v = serde_json::to_value(&p).unwrap();
    v["jobs"][1]["index"] = 5.into();
    let path = tmp.path().join("plan.json");
    std::fs::write(&path, v.to_string()).unwrap();
    let e = format!("{:#}", Plan::read(&path).unwrap_err());
    assert!(e.contains("jobs[1].index"), "{e}");
}

/// A weights-accounted sweep: widths solved for Σ B × weights, job ids that say so, a record
/// that carries the accounting; plans written before the accounting existed read as the
/// engine's and are accepted unchanged, and a sweep of the other accounting is refused.
#[test]
fn weights_accounting_plans_and_records_and_old_plans_resume() {
    tch::set_num_threads(1);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::synthetic_fashion_mnist(&data, 64, 32);
    let mut s = spec(&data, 1);
    s.budgets = vec!["2KiB".into()];
    s.bits = vec![Bits::new(2).unwrap()];
    s.size_accounting = SizeAccounting::Weights;
    let dir = tmp.path().join("w");
    let p = sweep::plan(&s, &dir).unwrap();
    let base = FamilyConfig::fashion_mnist(Family::ResNet { depth: 8 }, 1.0);
    let j = &p.jobs[0];
    let sol = solve_width(&base, j.bits, j.budget_bits, SizeAccounting::Weights).unwrap();
    let engine = width_for_budget(&base, j.bits, j.budget_bits).unwrap();
    assert!(sol.width > engine.width);
    assert_eq!((j.width, j.size_bits), (sol.width, sol.size.weight_bits));
    assert_eq!(j.id, "resnet8-2KiB-weights-b2-s0");
    let text = std::fs::read_to_string(dir.join("plan.json")).unwrap();
    assert!(text.contains(r#""size_accounting": "weights""#), "{text}");

    match sweep::run_job(&p, &dir, 0, Device::Cpu, &Silent).unwrap() {
        JobOutcome::Finished(r) => {
            assert_eq!(r.size_accounting, SizeAccounting::Weights);
            assert_eq!(r.size_bits, r.weight_bits);
            assert_eq!(r.weight_bits, sol.size.weight_bits);
            assert!(r.size_bits <= j.budget_bits && r.size_bits + r.param_bits > j.budget_bits);
        }
        o => panic!("{o:?}"),
    }

    // The same directory with the engine accounting is another sweep: refused, naming the field.
    let mut e = s.clone();
    e.size_accounting = SizeAccounting::Engine;
    let err = format!("{:#}", sweep::plan(&e, &dir).unwrap_err());
    assert!(err.contains("size_accounting"), "{err}");

    // An engine plan as written before the field existed: read as the engine accounting, and
    // re-planning the same sweep on it keeps it byte for byte.
    let old = tmp.path().join("old");
    let p = Plan::new(&e).unwrap();
    let mut v = serde_json::to_value(&p).unwrap();
    v.as_object_mut()
        .unwrap()
        .remove("size_accounting")
        .unwrap();
    std::fs::create_dir_all(&old).unwrap();
    let bytes = serde_json::to_string_pretty(&v).unwrap();
    std::fs::write(old.join("plan.json"), &bytes).unwrap();
    let read = Plan::read(&old.join("plan.json")).unwrap();
    assert_eq!(read.size_accounting, SizeAccounting::Engine);
    assert_eq!(sweep::plan(&e, &old).unwrap(), p);
    assert_eq!(
        std::fs::read_to_string(old.join("plan.json")).unwrap(),
        bytes
    );
    assert_eq!(p.jobs[0].id, "resnet8-2KiB-b2-s0");
}

#[test]
fn a_board_as_the_budget_plans_the_board_aware_width_and_its_engine_cycles() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = spec(tmp.path(), 1);
    s.budgets = vec!["icebreaker".into(), "3KiB".into()];
    let p = Plan::new(&s).unwrap();
    assert_eq!(p.jobs.len(), 4);
    let base = FamilyConfig {
        channel_multiple: 4,
        ..FamilyConfig::fashion_mnist(Family::ResNet { depth: 8 }, 1.0)
    };
    for j in &p.jobs[..2] {
        let r = unibit_core::size::board_report(&base, j.bits, "icebreaker").unwrap();
        assert_eq!(j.board.as_deref(), Some("icebreaker"));
        assert_eq!(j.width, r.width);
        // The budget is the UP5K's main memory (4 SPRAM, 128 KiB), not a model size.
        assert_eq!(j.budget_bits, r.requirements.main.available * 8);
        assert_eq!(j.id, format!("resnet8-icebreaker-b{}-s0", j.bits));
    }
    assert!(p.jobs[2..].iter().all(|j| j.board.is_none()));
    // Plans without boards read as before (the field is not written).
    let text = serde_json::to_string(&p.jobs[2]).unwrap();
    assert!(!text.contains("board"), "{text}");
    // Cycles of a board record: the whole-network engine's cost model for that board.
    let cfg = FamilyConfig {
        width: p.jobs[0].width,
        ..base
    };
    let c = unibit_sw::sweep::board_cycles(&cfg, p.jobs[0].bits, "icebreaker").unwrap();
    let mem = unibit_core::engine::Memories::for_board("icebreaker").unwrap();
    let shape = unibit_core::size::board_shape(&mem, p.jobs[0].bits);
    let want = unibit_core::engine::model_report(&cfg.build().unwrap(), &shape, &mem)
        .unwrap()
        .cycles;
    assert_eq!(c, want);
    assert!(c > 0);
}

/// A job of the weights-accounting sweep whose width equals a finished engine-accounting job's
/// is the identical training: `reuse_finished` takes that result (size re-counted under the
/// weights accounting) and leaves the others to train; a second call takes nothing.
#[test]
fn identical_trainings_of_another_sweep_are_reused_not_retrained() {
    tch::set_num_threads(1);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::synthetic_fashion_mnist(&data, 64, 32);
    let mut s = spec(&data, 1);
    s.budgets = vec!["2KiB".into()];
    s.bits = vec![Bits::new(2).unwrap(), Bits::new(8).unwrap()];
    let (edir, wdir) = (tmp.path().join("e"), tmp.path().join("w"));
    let e = sweep::plan(&s, &edir).unwrap();
    s.size_accounting = SizeAccounting::Weights;
    let w = sweep::plan(&s, &wdir).unwrap();
    // At 2 KiB the width grid gives B = 8 the same width under both accountings, B = 2 not.
    assert_ne!(e.jobs[0].width, w.jobs[0].width);
    assert_eq!(e.jobs[1].width, w.jobs[1].width);

    // Nothing finished yet: nothing to take.
    assert!(sweep::reuse_finished(&w, &wdir, &e, &edir)
        .unwrap()
        .is_empty());
    for i in 0..2 {
        assert!(matches!(
            sweep::run_job(&e, &edir, i, Device::Cpu, &Silent).unwrap(),
            JobOutcome::Finished(_)
        ));
    }
    let taken = sweep::reuse_finished(&w, &wdir, &e, &edir).unwrap();
    assert_eq!(taken.len(), 1, "{taken:?}");
    assert_eq!(
        (taken[0].index, taken[0].from.as_str()),
        (1, e.jobs[1].id.as_str())
    );
    let src = sweep::read_record(&edir.join(&e.jobs[1].run_dir)).unwrap();
    let run = wdir.join(&w.jobs[1].run_dir);
    let got = sweep::read_record(&run).unwrap();
    assert_eq!(got.size_accounting, SizeAccounting::Weights);
    assert_eq!(got.size_bits, src.weight_bits);
    assert!(got.size_bits < src.size_bits);
    assert_eq!(got.run_dir, w.jobs[1].run_dir);
    let mut same = got.clone();
    (same.size_accounting, same.size_bits, same.run_dir) =
        (src.size_accounting, src.size_bits, src.run_dir.clone());
    assert_eq!(
        same, src,
        "everything but the size accounting is the other job's"
    );
    let log = std::fs::read_to_string(run.join("log")).unwrap();
    assert!(
        log.contains(&e.jobs[1].id) && log.contains("not retrained"),
        "{log}"
    );
    // The taken job counts as finished; the other is still to train; taking again is a no-op.
    assert!(matches!(
        sweep::run_job(&w, &wdir, 1, Device::Cpu, &Silent).unwrap(),
        JobOutcome::Skipped
    ));
    assert!(!wdir.join(&w.jobs[0].run_dir).join("done").exists());
    assert!(sweep::reuse_finished(&w, &wdir, &e, &edir)
        .unwrap()
        .is_empty());
    let c = sweep::collect(&w, &wdir).unwrap();
    assert_eq!((c.records.len(), c.missing.len()), (1, 1));
}
