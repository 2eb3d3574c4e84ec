"""The per-example oracle exit for a demo run's committed results: how much room input-adaptive
exits have on each seed's checkpoints, beside MuE and static truncation.

    python benchmarks/adaptivity_bound.py [--seeds 1,2,3] [--tasks snli_ve,caption]
        [--demo-results docs/results/demo] [--checkpoints checkpoints/demo] [--data demo_data]

``python -m ofa_mue.reproduce`` writes ``adaptivity_bound`` itself; a run made before it did
has only the sweep's figures, not the per-example scores the oracle needs. For each seed and
task this evaluates the full model and the static grid (``--depths 1,2,4``, demo.sh's) once more
on the test split (``python -m ofa_mue.sweep`` in two shards, untimed, merged as ``python -m
ofa_mue.merge`` does), keeping each row's score and time share, refuses to go on unless every setting's metric and expected
reduction equal the committed sweep row's exactly (same checkpoint, same evaluation code), and
computes :func:`ofa_mue.adaptivity_bound.adaptivity_bound` against the committed sweep's MuE
levels.

Writes ``benchmarks/results/adaptivity_bound.{json,md}`` and one PNG per seed and task
(``adaptivity_bound_{task}_seed{S}.png``); sweeps and logs go to ``--work-dir``. The jobs run
two at a time, one thread each.
"""
from __future__ import annotations

import argparse
import json
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Sequence, Tuple

import torch

from fixed_depth_chosen_on_valid import DEPTHS, evaluation_args, option_flags
from demo_run_arguments import parse_demo_run_arguments
from measurement import Provenance, run_module as run, write_results
from ofa_mue.adaptivity_bound import adaptivity_bound, adaptivity_markdown, plot_adaptivity
from ofa_mue.calibrate import MAIN_METRIC as METRIC
from ofa_mue.provenance import provenance
from ofa_mue.sharding import read_shards
from ofa_mue.sweep import ExampleScores, merge_sweep, percent as share



SHARDS = 2
"""The test split is evaluated in this many shards (a sweep keeps per-row records only in shard files)."""


def committed_sweep(args: argparse.Namespace, seed: int, task: str) -> Tuple[str, Dict[str, Any]]:
    """The path and content of a seed's committed sweep of ``task``."""
    path = os.path.join(args.demo_results, f"seed{seed}", task, "reproduce", "sweep", "sweep.json")
    with open(path) as handle:
        return path, json.load(handle)


def evaluate_shard(args: argparse.Namespace, seed: int, task: str, shard: int) -> str:
    """One shard of the test split at the full model, every static depth combination, MuE's
    thresholds and its calibrated profile, as the committed sweep has them (an untimed sweep,
    every row's record kept); returns the shard file."""
    work = os.path.join(args.work_dir, f"seed{seed}", task)
    path = os.path.join(work, f"sweep.shard{shard}-of-{SHARDS}.json")
    if not os.path.isfile(path):
        rows = committed_sweep(args, seed, task)[1]["rows"]
        thresholds = ",".join(str(row["options"]["image_exit_threshold"]) for row in rows if row["curve"] == "mue")
        (calibrated,) = [row for row in rows if row["curve"] == "mue_given"]
        os.makedirs(work, exist_ok=True)
        run(os.path.join(work, f"sweep_test_shard{shard}.log"), "ofa_mue.sweep", *evaluation_args(args, seed, task),
            *option_flags(calibrated["options"], args.demo_results), "--gen-subset", "test",
            "--thresholds", thresholds, "--entropies", "", "--patiences", "", "--depths", DEPTHS,
            "--timing-repetitions", "0", "--num-shards", str(SHARDS), "--shard-id", str(shard), "--sweep-dir", work)
    return path


def bound(args: argparse.Namespace, seed: int, task: str, shards: Sequence[str]) -> Dict[str, Any]:
    """The bound for one seed and task, from its shards and the committed sweep (whose full and
    static rows the merged shards must reproduce exactly)."""
    committed_path, committed = committed_sweep(args, seed, task)
    scored = merge_sweep(read_shards(shards), os.path.join(os.path.dirname(shards[0]), "merged"))
    expected = {(row["curve"], row["setting"]): row for row in committed["rows"]}
    for row in scored:
        want = expected.get((row["curve"], row["setting"]))
        found = (row["metric"], row["expected_time_reduction"])
        if want is None or found != (want["metric"], want["expected_time_reduction"]):
            raise SystemExit(f"{committed_path}: {row['curve']} {row['setting']} gives {found!r} on the test split "
                             f"now, the committed sweep says {want and (want['metric'], want['expected_time_reduction'])!r}"
                             ": another checkpoint or another evaluation; rerun demo.sh")
    needed = {(row["curve"], row["setting"]) for row in committed["rows"]
              if row["curve"] in ("full", "static", "mue", "mue_given")}
    missing = needed - {(row["curve"], row["setting"]) for row in scored}
    if missing:
        raise SystemExit(f"{committed_path}: settings not evaluated again: {sorted(missing)}")
    table, summary = adaptivity_bound(scored, ExampleScores(task, scored))
    plot_adaptivity(table, summary, METRIC[task], os.path.join(args.out, f"adaptivity_bound_{task}_seed{seed}.png"),
                    provenance())  # this run's commit, machine and date; the sweep's are in the results
    return {"seed": seed, "task": task, "committed_sweep": committed_path,
            "committed_sweep_commit": committed["provenance"]["commit"], "levels": table, "summary": summary}


def markdown(results: Sequence[Dict[str, Any]]) -> str:
    lines = ["The per-example oracle exit (`ofa_mue/adaptivity_bound.py`) against MuE and static truncation on the "
             "demo's test split, every quality capped at the full model's per example (SNLI-VE: examples right at "
             "the setting and at the full model; captions: the smaller of the two CIDEr-D scores per image). The "
             "oracle picks per example the cheapest of the full model and the static depth combinations that keeps "
             "the full model's score, and with a penalty on time its trade-off curve; it is chosen on the split it "
             "is scored on. Largest expected time reduction keeping 100% (99%) of the full model's quality, and the "
             "mean differences over MuE's levels:", "",
             "| task | seed | full model | oracle | static envelope | MuE | MuE - static | oracle - static |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        kept, levels = r["summary"]["largest_reduction_keeping"], [e for e in r["levels"] if e["level"]]

        def mean(key: str) -> str:
            values = [e[key] for e in levels if e[key] is not None]
            return format(sum(values) / len(values), "+.4f") if values else "-"

        cells = [f"{share(kept[1.0][name])} ({share(kept[0.99][name])})" for name in ("oracle", "static_envelope", "mue")]
        lines.append(f"| {r['task']} | {r['seed']} | {r['summary']['full_metric']:.4f} | " + " | ".join(cells)
                     + f" | {mean('mue_minus_static')} | {mean('oracle_minus_static')} |")
    for r in results:
        lines += ["", f"**{r['task']}, seed {r['seed']}** (committed sweep of commit "
                      f"{r['committed_sweep_commit'][:12]})", "",
                  adaptivity_markdown(r["levels"], r["summary"], METRIC[r["task"]])]
    return "\n".join(lines) + "\n"


def main() -> None:
    args, seeds, tasks = parse_demo_run_arguments(__doc__.split("\n\n")[0], "checkpoints/adaptivity_bound")
    os.makedirs(args.out, exist_ok=True)
    measured = Provenance(torch.device("cpu"))
    jobs = [(seed, task) for task in sorted(tasks) for seed in seeds]  # the longest first (captions: beam search)
    with ThreadPoolExecutor(max_workers=2) as pool:  # the evaluations, each shard in a process of its own
        shards = list(pool.map(lambda job: evaluate_shard(args, *job), [(*j, i) for j in jobs for i in range(SHARDS)]))
    results = [bound(args, seed, task, shards[SHARDS * index:SHARDS * (index + 1)])
               for index, (seed, task) in enumerate(jobs)]
    report = {**measured.finish(), "arguments": vars(args), "results": results}
    write_results(args.out, "adaptivity_bound", report, measured.header() + markdown(results))


if __name__ == "__main__":
    main()
