"""MuE against a fixed depth chosen on the validation split, for the demo's committed runs.

    python benchmarks/fixed_depth_chosen_on_valid.py [--seeds 1,2,3] [--tasks snli_ve,caption]
        [--demo-results docs/results/demo] [--checkpoints checkpoints/demo] [--data demo_data]

``run_scripts/demo.sh`` compares MuE with static truncation's envelope built on the test
split itself: the best of 64 image/text/decoder depth combinations on 300 rows, partly
lucky, so the comparison favours static truncation. A user picks the depth on held-out data.
This benchmark does that for each seed and task of a demo run: it evaluates the full model
and the same static grid (``--depths 1,2,4``) on the validation split (``python -m
ofa_mue.sweep --gen-subset valid``), chooses static truncation there at each of MuE's levels,
and scores that choice with the test rows of the run's committed sweep
(``{demo-results}/seed{N}/{task}/reproduce/sweep/sweep.json``), beside the test-split
envelope (:func:`ofa_mue.paper_tables.mue_vs_static`). Before using a committed sweep it
re-evaluates the full model and MuE at threshold 0.9 on the test split and refuses to go on
unless both equal the committed rows exactly (same checkpoint, same evaluation code).
``python -m ofa_mue.reproduce --static-chosen-on valid`` does the same within one run.

Writes ``benchmarks/results/fixed_depth_chosen_on_valid.{json,md}``; sweeps and logs go to
``--work-dir``. The jobs run two at a time, one thread each.
"""
from __future__ import annotations

import argparse
import json
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Sequence

import torch

from measurement import Provenance, run_module as run, write_results
from ofa_mue.calibrate import MAIN_METRIC as METRIC
from ofa_mue.paper_tables import mue_vs_static, number_cell as number
from ofa_mue.sweep import percent as share

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEPTHS = "1,2,4"  # demo.sh's --depths
CHECKED_LEVEL = "threshold 0.9"
# demo.sh's evaluation options per task (snli() and caption() there)
TASK_OPTIONS = {"snli_ve": ["--batch-size", "100"],
                "caption": ["--batch-size", "100", "--beam", "5", "--max-len-b", "16", "--no-repeat-ngram-size", "3",
                            "--decoder-exit-beta", "0.95", "--decoder-exit-tau", "1"]}


def evaluation_args(args: argparse.Namespace, seed: int, task: str) -> List[str]:
    """The evaluation command line of demo.sh for ``task`` of ``seed``."""
    return [os.path.join(args.data, task), "--path", os.path.join(args.checkpoints, f"seed{seed}", task,
                                                                  "checkpoint_last.pt"),
            "--task", task, "--bpe-dir", os.path.join(args.data, "bpe"), "--code-dict-size", "0", "--num-bins", "0",
            "--cpu", *TASK_OPTIONS[task]]


def test_metric(args: argparse.Namespace, seed: int, task: str, work: str, name: str, *flags: str) -> float:
    """The main metric of one evaluation of the test split."""
    folder = os.path.join(work, f"test_{name}")
    os.makedirs(folder, exist_ok=True)
    run(os.path.join(folder, "evaluate.log"), "ofa_mue.evaluate", *evaluation_args(args, seed, task),
        "--gen-subset", "test", "--results-path", folder, *flags)
    with open(os.path.join(folder, "test_metrics.json")) as handle:
        return json.load(handle)["metrics"][METRIC[task]]


def job(args: argparse.Namespace, seed: int, task: str) -> Dict[str, Any]:
    """The comparison for one seed and task."""
    committed_path = os.path.join(args.demo_results, f"seed{seed}", task, "reproduce", "sweep", "sweep.json")
    with open(committed_path) as handle:
        committed = json.load(handle)
    test_rows = committed["rows"]
    work = os.path.join(args.work_dir, f"seed{seed}", task)
    os.makedirs(work, exist_ok=True)
    checks = {"full model": (next(r for r in test_rows if r["curve"] == "full"), ()),
              CHECKED_LEVEL: (next(r for r in test_rows if r["curve"] == "mue" and r["setting"] == CHECKED_LEVEL),
                              ("--image-exit-threshold", "0.9", "--text-exit-threshold", "0.9",
                               "--decoder-exit-threshold", "0.9"))}
    for name, (row, flags) in checks.items():
        again = test_metric(args, seed, task, work, name.replace(" ", "_"), *flags)
        if again != row["metric"]:
            raise SystemExit(f"{committed_path}: {name} gives {again!r} on the test split now, the committed sweep "
                             f"says {row['metric']!r}: another checkpoint or another evaluation; rerun demo.sh")
    sweep_dir = os.path.join(work, "valid_static")
    if not os.path.isfile(os.path.join(sweep_dir, "sweep.json")):
        run(os.path.join(work, "sweep_valid.log"), "ofa_mue.sweep", *evaluation_args(args, seed, task),
            "--gen-subset", "valid", "--thresholds", "", "--entropies", "", "--patiences", "", "--depths", DEPTHS,
            "--timing-repetitions", "0", "--sweep-dir", sweep_dir)
    with open(os.path.join(sweep_dir, "sweep.json")) as handle:
        valid_rows = json.load(handle)["rows"]
    table, summary = mue_vs_static(test_rows, valid_rows, "valid")
    return {"seed": seed, "task": task, "committed_sweep": committed_path,
            "committed_sweep_commit": committed["provenance"]["commit"], "reproduced_on_test": list(checks),
            "valid_examples": valid_rows[0]["examples"], "test_examples": test_rows[0]["examples"],
            "valid_static_settings": len(valid_rows), "levels": table, "summary": summary}


def markdown(results: Sequence[Dict[str, Any]]) -> str:
    lines = ["MuE's levels (one threshold for image, text and decoder) against static truncation, on the demo's "
             "test split: the envelope built on the test split itself (oracle) and the depths chosen on the "
             "validation split at MuE's expected time reduction, scored on test. \"Beats\": at least 3 levels at "
             "or above, one strictly above.", "",
             "| task | seed | levels | at/above test envelope (oracle) | beats it | at/above the valid choice | "
             "strictly above | beats it |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        oracle, chosen = r["summary"], r["summary"]["chosen_on"]
        lines.append(f"| {r['task']} | {r['seed']} | {chosen['levels']} | {oracle['at_or_above']} | "
                     f"{'yes' if oracle['mue_beats_fixed_depth'] else 'no'} | {chosen['at_or_above']} | "
                     f"{chosen['strictly_above']} | {'yes' if chosen['mue_beats_fixed_depth'] else 'no'} |")
    for r in results:
        metric = METRIC[r["task"]]
        lines += ["", f"**{r['task']}, seed {r['seed']}** ({r['test_examples']} test rows, "
                      f"{r['valid_examples']} validation rows; committed sweep of commit "
                      f"{r['committed_sweep_commit'][:12]})", "",
                  f"| MuE setting | expected time reduction | MuE {metric} | test envelope (oracle) | valid choice "
                  "on test | its reduction | MuE vs valid choice | depths chosen on valid |",
                  "|---|---|---|---|---|---|---|---|"]
        for e in r["levels"]:
            versus = e["verdict_chosen"] + ("" if e["difference_chosen"] is None
                                            else f" ({number(e['difference_chosen'], '+.4f')})")
            lines.append(f"| {e['setting']}{'' if e['level'] else ' (calibrated, not a level)'} | "
                         f"{share(e['expected_time_reduction'])} | {number(e['mue_metric'])} | "
                         f"{number(e['static_envelope'])} | {number(e['static_chosen'])} | "
                         f"{share(e['static_chosen_reduction'])} | {versus} | {e['chosen_between']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="1,2,3", help="demo seeds [1,2,3]")
    parser.add_argument("--tasks", default="snli_ve,caption", help="tasks [snli_ve,caption]")
    parser.add_argument("--demo-results", default="docs/results/demo", help="the demo run's committed results")
    parser.add_argument("--checkpoints", default="checkpoints/demo", help="that run's checkpoints (DEMO_CHECKPOINTS)")
    parser.add_argument("--data", default="demo_data", help="that run's data (DEMO_DATA)")
    parser.add_argument("--work-dir", default="checkpoints/fixed_depth_chosen_on_valid", help="sweeps and logs")
    parser.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results"), help="results folder")
    args = parser.parse_args()
    seeds = [int(seed) for seed in args.seeds.split(",")]
    tasks = args.tasks.split(",")
    unknown = [task for task in tasks if task not in METRIC]
    if unknown:
        parser.error(f"--tasks: unknown {unknown} (snli_ve, caption)")
    for seed in seeds:
        for task in tasks:
            for path in (os.path.join(args.checkpoints, f"seed{seed}", task, "checkpoint_last.pt"),
                         os.path.join(args.demo_results, f"seed{seed}", task, "reproduce", "sweep", "sweep.json"),
                         os.path.join(args.data, task, "valid.tsv")):
                if not os.path.isfile(path):
                    parser.error(f"{path} not found (a demo.sh run with these seeds, or pass the paths)")
    provenance = Provenance(torch.device("cpu"))
    with ThreadPoolExecutor(max_workers=2) as pool:
        # the longest jobs first (captions: beam search)
        futures = [pool.submit(job, args, seed, task) for task in sorted(tasks) for seed in seeds]
        results = [future.result() for future in futures]
    report = {**provenance.finish(), "arguments": vars(args), "results": results}
    write_results(args.out, "fixed_depth_chosen_on_valid", report, provenance.header() + markdown(results))


if __name__ == "__main__":
    main()
