#!/usr/bin/env python3
"""Resume the converged iso-size experiment (issue 17) on a machine, in the background.

Machines here are fresh each session: this re-plans every sweep of docs/results/converged with
the same arguments, restores the committed finished records as finished runs
(`runs/<id>/record.json` + `done`, which `unibit sweep run` skips), takes the results of
identical trainings from the engine-accounting grid (`unibit sweep reuse`), restores the in-flight
checkpoints kept under docs/results/converged/partial/<id>/, and runs the queued jobs one at a
time per lane under `nice -n 19` with one thread each. The mixed-precision studies (`unibit
mixed`, equal total epochs: 10 of the 8-bit reference + 5 of fine-tuning = the uniform runs'
15, plus the zero-degradation search) queue after the ResNet-20 grid; each resumes by running
the same command again, from ROOT/<study> (restored from partial/<study>/ when kept there).

    python3 scripts/converged.py plan   [--root /work/sweeps]   # plans + restores, prints the queue
    python3 scripts/converged.py run    [--root /work/sweeps] [--lanes 2]
    python3 scripts/converged.py status [--root /work/sweeps]
    python3 scripts/converged.py report   # docs/results/converged/report/ from the committed records

`run` detaches (setsid) and logs to ROOT/queue-<lane>.log. Stop with `pkill -f converged.py`
and `pkill -f 'unibit sweep run'`; every job resumes from its last epoch checkpoint.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs/results/converged"

# (sweep name, `unibit sweep plan` arguments, committed records, job order). Order: the cells
# the write-up needs first (seed 0 of each cell before seed 1); the ResNet-20 weights cells
# before the MobileNetV2 grid, so one family is complete under both accountings first.
SWEEPS = [
    (
        "resnet20-e15",
        "--family resnet20 --budgets 16KiB,32KiB,64KiB --bits 1,2,4,8 --seeds 2 --epochs 15",
        "resnet20-e15-uniform.jsonl",
        [10, 12, 14, 9, 11, 13, 15, 16, 18, 20, 22, 17, 19, 21, 23],
    ),
    (
        "resnet20-board-e15",
        "--family resnet20 --budgets icebreaker --bits 1,2,4,8 --seeds 1 --epochs 15 --channel-multiple 8",
        "resnet20-board-e15.jsonl",
        [1, 0, 2, 3],
    ),
    (
        "resnet20-weights-e15",
        "--family resnet20 --budgets 16KiB,32KiB,64KiB --bits 1,2,4,8 --seeds 1 --epochs 15 --size-accounting weights",
        "resnet20-weights-e15.jsonl",
        list(range(12)),
    ),
    (
        "mobilenetv2-e15",
        "--family mobilenetv2 --budgets 16KiB,32KiB --bits 1,2,4,8 --seeds 2 --epochs 15",
        "mobilenetv2-e15-uniform.jsonl",
        [0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15],
    ),
]

# (sweep, sweep whose finished identical trainings it takes: `unibit sweep reuse`). Where the
# weights accounting solves the same width as the engine accounting, the job is the same
# training (same width, B, seed, recipe, budget), so its result is taken, not retrained.
REUSE = {"resnet20-weights-e15": "resnet20-e15"}

# (study name, `unibit mixed` arguments, committed records, queue position: after this sweep).
MIXED = [
    (
        "resnet20-mixed-e10f5",
        "--family resnet20 --width 0.5 --budgets 16KiB,32KiB,64KiB --zero-degradation --epochs 10 --finetune-epochs 5",
        "resnet20-mixed-e10f5.jsonl",
        "resnet20-e15",
    ),
    (
        "mobilenetv2-mixed-e10f5",
        "--family mobilenetv2 --width 0.45 --budgets 16KiB,32KiB --zero-degradation --epochs 10 --finetune-epochs 5",
        "mobilenetv2-mixed-e10f5.jsonl",
        "mobilenetv2-e15",
    ),
]


def unibit():
    exe = REPO / "target/release/unibit"
    if not exe.exists():
        sys.exit(f"{exe}: not built (run `make build` first)")
    return str(exe)


def plan(root: Path):
    """Plan every sweep, restore finished and in-flight runs; return the queue of commands."""
    queue = []
    for name, args, records, order in SWEEPS:
        d = root / name
        if not (d / "plan.json").exists():
            subprocess.run([unibit(), "sweep", "plan", *args.split(), "--out", str(d)],
                           check=True, stdout=subprocess.DEVNULL)
        jobs = json.loads((d / "plan.json").read_text())["jobs"]
        ids = [j["id"] for j in jobs]
        done = set()
        rec = DOCS / "raw" / records
        if rec.exists():
            for line in rec.read_text().splitlines():
                r = json.loads(line)
                run = d / r["run_dir"]
                if run.name not in ids:
                    sys.exit(f"{rec}: run {run.name} is not in the plan of {d}")
                run.mkdir(parents=True, exist_ok=True)
                (run / "record.json").write_text(json.dumps(r))
                (run / "done").touch()
                done.add(run.name)
        reuse = ""
        if name in REUSE:
            reuse = (f"{unibit()} sweep reuse --plan {d}/plan.json "
                     f"--from {root / REUSE[name]}/plan.json; ")
            subprocess.run(reuse.rstrip("; ").split(), check=True)
            done |= {j for j in ids if (d / "runs" / j / "done").exists()}
        for i in order:
            jid = ids[i]
            if jid in done:
                continue
            part = DOCS / "partial" / jid
            run = d / "runs" / jid
            if part.is_dir() and not (run / "checkpoint.json").exists():
                shutil.copytree(part, run, dirs_exist_ok=True)
            # A reuse first: the identical training may have finished since.
            queue.append(f"{reuse}{unibit()} sweep run --plan {d}/plan.json --job-index {i} --threads 1")
        for study, margs, records, after in MIXED:
            if after != name or (DOCS / "raw" / records).exists():
                continue
            out = root / study
            part = DOCS / "partial" / study
            if part.is_dir() and not out.exists():
                shutil.copytree(part, out)
            queue.append(f"{unibit()} mixed {margs} --threads 1 --out {out}")
    return queue


def run(root: Path, lanes: int):
    queue = plan(root)
    for lane in range(lanes):
        mine = queue[lane::lanes]
        script = "; ".join(f"nice -n 19 {cmd}".replace("; /", "; nice -n 19 /") for cmd in mine) or "true"
        log = root / f"queue-{lane}.log"
        subprocess.Popen(["setsid", "bash", "-c", f"({script}) >> {log} 2>&1"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
        print(f"lane {lane}: {len(mine)} job(s), log {log}")


def status(root: Path):
    for name, *_ in SWEEPS:
        d = root / name
        if not (d / "plan.json").exists():
            print(f"{name}: not planned")
            continue
        jobs = json.loads((d / "plan.json").read_text())["jobs"]
        fin = [j["id"] for j in jobs if (d / "runs" / j["id"] / "done").exists()]
        print(f"{name}: {len(fin)} of {len(jobs)} done")
        for j in jobs:
            ck = d / "runs" / j["id"] / "checkpoint.json"
            if ck.exists() and j["id"] not in fin:
                epoch = json.loads(ck.read_text()).get("epoch")
                print(f"  in flight: {j['id']} (checkpoint after epoch {epoch})")
    for study, *_ in MIXED:
        d = root / study
        res = d / "results.jsonl"
        n = len(res.read_text().splitlines()) if res.exists() else 0
        print(f"{study}: {'not started' if not d.exists() else f'{n} record(s)'}")


def report():
    """The committed records and their plans → docs/results/converged/report/ (`unibit report
    --plan`: unfinished jobs listed, their budgets' verdicts provisional)."""
    inputs, plans = [], []
    for name, _, records, _ in SWEEPS:
        rec = DOCS / "raw" / records
        if rec.exists():
            inputs.append(str(rec.relative_to(DOCS)))
        # A sweep's plan counts even before its first record: "0 of N finished".
        plan_file = rec.with_name(rec.name.removesuffix(".jsonl") + "-plan.json")
        if plan_file.exists():
            plans += ["--plan", str(plan_file.relative_to(DOCS))]
    for study, _, records, _ in MIXED:
        rec = DOCS / "raw" / records
        if rec.exists():
            inputs.append(str(rec.relative_to(DOCS)))
    subprocess.run([unibit(), "report", *inputs, *plans, "--out", "report"], cwd=DOCS, check=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cmd", choices=["plan", "run", "status", "report"])
    p.add_argument("--root", type=Path, default=Path("/work/sweeps"))
    p.add_argument("--lanes", type=int, default=2)
    a = p.parse_args()
    a.root.mkdir(parents=True, exist_ok=True)
    if a.cmd == "plan":
        for cmd in plan(a.root):
            print(cmd)
    elif a.cmd == "run":
        run(a.root, a.lanes)
    elif a.cmd == "report":
        report()
    else:
        status(a.root)


if __name__ == "__main__":
    main()
