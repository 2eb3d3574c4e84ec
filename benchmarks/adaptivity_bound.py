"""The per-example oracle exit for a demo run's committed results: how much room input-adaptive
exits have on each seed's checkpoints, beside MuE and static truncation.

    python benchmarks/adaptivity_bound.py [--seeds 1,2,3] [--tasks snli_ve,caption]
        [--demo-results docs/results/demo] [--checkpoints checkpoints/demo] [--data demo_data]

``python -m ofa_mue.reproduce`` writes ``adaptivity_bound`` itself; a run made before it did
has only the sweep's figures, not the per-example scores the oracle needs. For each seed and
task this evaluates the full model and the static grid (``--depths 1,2,4``, demo.sh's) once more
on the test split in one process (``python -m ofa_mue.sweep`` as one shard, untimed), keeping
each row's score and time share, refuses to go on unless every setting's metric and expected
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
from typing import Any, Dict, Sequence

import torch

from fixed_depth_chosen_on_valid import DEPTHS, evaluation_args
from demo_run_arguments import parse_demo_run_arguments
from measurement import Provenance, run_module as run, write_results
from ofa_mue.adaptivity_bound import adaptivity_bound, adaptivity_markdown, plot_adaptivity
from ofa_mue.calibrate import MAIN_METRIC as METRIC
from ofa_mue.paper_tables import static_name
from ofa_mue.sharding import read_shards
from ofa_mue.sweep import ExampleScores, merge_sweep, percent as share



def evaluate_grid(args: argparse.Namespace, seed: int, task: str) -> str:
    """The full model and the static grid on the test split, as one untimed sweep shard (with
    every row's record); returns the shard file."""
    work = os.path.join(args.work_dir, f"seed{seed}", task)
    shard = os.path.join(work, "sweep.shard0-of-1.json")
    if not os.path.isfile(shard):
        run(os.path.join(work, "sweep_test.log"), "ofa_mue.sweep", *evaluation_args(args, seed, task),
            "--gen-subset", "test", "--thresholds", "", "--entropies", "", "--patiences", "", "--depths", DEPTHS,
            "--timing-repetitions", "0", "--num-shards", "1", "--shard-id", "0", "--sweep-dir", work)
    return shard


def bound(args: argparse.Namespace, seed: int, task: str, shard: str) -> Dict[str, Any]:
    """The bound for one seed and task, from its shard and the committed sweep (whose full and
    static rows the shard must reproduce exactly)."""
    committed_path = os.path.join(args.demo_results, f"seed{seed}", task, "reproduce", "sweep", "sweep.json")
    with open(committed_path) as handle:
        committed = json.load(handle)
    scored = merge_sweep(read_shards([shard]), os.path.join(os.path.dirname(shard), "merged"))
    expected = {static_name(row): row for row in committed["rows"] if row["curve"] in ("full", "static")}
    for row in scored:
        want = expected.pop(static_name(row), None)
        found = (row["metric"], row["expected_time_reduction"])
        if want is None or found != (want["metric"], want["expected_time_reduction"]):
            raise SystemExit(f"{committed_path}: {static_name(row)} gives {found!r} on the test split now, the "
                             f"committed sweep says {want and (want['metric'], want['expected_time_reduction'])!r}: "
                             "another checkpoint or another evaluation; rerun demo.sh")
    if expected:
        raise SystemExit(f"{committed_path}: settings not evaluated again: {sorted(expected)}")
    rows = [*scored, *(row for row in committed["rows"] if row["curve"] in ("mue", "mue_given"))]
    table, summary = adaptivity_bound(rows, ExampleScores(task, scored))
    plot_adaptivity(rows, table, summary, METRIC[task], os.path.join(args.out, f"adaptivity_bound_{task}_seed{seed}.png"),
                    committed["provenance"])
    return {"seed": seed, "task": task, "committed_sweep": committed_path,
            "committed_sweep_commit": committed["provenance"]["commit"], "levels": table, "summary": summary}


def markdown(results: Sequence[Dict[str, Any]]) -> str:
    lines = ["The per-example oracle exit (`ofa_mue/adaptivity_bound.py`): per example, the cheapest of the full "
             "model and the static depth combinations that scores as the full model does (score capped at the "
             "full model's), and with a penalty on time its trade-off curve; chosen on the test split it is "
             "scored on. The largest expected time reduction that keeps the full model's quality:", "",
             "| task | seed | full model | oracle (the bound) | static envelope | MuE's levels | "
             "mean oracle - static over MuE's levels |", "|---|---|---|---|---|---|---|"]
    for r in results:
        s, levels = r["summary"], [e for e in r["levels"] if e["level"] and e["headroom"] is not None]
        lossless = s["lossless_reduction"]
        headroom = sum(e["headroom"] for e in levels) / len(levels) if levels else None
        lines.append(f"| {r['task']} | {r['seed']} | {s['full_metric']:.4f} | {share(lossless['oracle'])} | "
                     f"{share(lossless['static_envelope'])} | {share(lossless['mue'])} | "
                     f"{'-' if headroom is None else format(headroom, '+.4f')} |")
    for r in results:
        lines += ["", f"**{r['task']}, seed {r['seed']}** (committed sweep of commit "
                      f"{r['committed_sweep_commit'][:12]})", "",
                  adaptivity_markdown(r["levels"], r["summary"], METRIC[r["task"]])]
    return "\n".join(lines) + "\n"


def main() -> None:
    args, seeds, tasks = parse_demo_run_arguments(__doc__.split("\n\n")[0], "checkpoints/adaptivity_bound")
    os.makedirs(args.out, exist_ok=True)
    provenance = Provenance(torch.device("cpu"))
    jobs = [(seed, task) for task in sorted(tasks) for seed in seeds]  # the longest first (captions: beam search)
    with ThreadPoolExecutor(max_workers=2) as pool:  # the evaluations, each in a process of its own
        shards = list(pool.map(lambda job: evaluate_grid(args, *job), jobs))
    results = [bound(args, seed, task, shard) for (seed, task), shard in zip(jobs, shards)]
    report = {**provenance.finish(), "arguments": vars(args), "results": results}
    write_results(args.out, "adaptivity_bound", report, provenance.header() + markdown(results))


if __name__ == "__main__":
    main()
