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
envelope (:func:`ofa_mue.paper_tables.mue_vs_static`). Each difference gets its 95% paired
bootstrap interval over the test rows (:mod:`ofa_mue.significance`): the full model, every MuE
setting compared and every static setting the comparisons mix are evaluated again on the
test split (``python -m ofa_mue.evaluate``), their per-row predictions scored per example,
and the benchmark refuses to go on unless each one's metric and expected reduction equal the
committed sweep row's exactly (same checkpoint, same evaluation code).
``python -m ofa_mue.reproduce --static-chosen-on valid`` does the same within one run.

Writes ``benchmarks/results/fixed_depth_chosen_on_valid.{json,md}``; sweeps and logs go to
``--work-dir``. The jobs run two at a time, one thread each.
"""
from __future__ import annotations

import argparse
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Sequence

import torch

from demo_run_arguments import parse_demo_run_arguments
from measurement import Provenance, run_module as run, write_results
from ofa_mue.calibrate import MAIN_METRIC as METRIC
from ofa_mue.demo.generate import recorded_arguments
from ofa_mue.core.exit_policy import NEVER
from ofa_mue.paper_tables import interval_cell, mue_vs_static, number_cell as number, static_name
from ofa_mue.sweep import ExampleScores, percent as share

DEPTHS = "1,2,4"  # demo.sh's --depths
# demo.sh's evaluation options per task (snli() and caption() there; captions' --max-len-b
# follows the data, caption_length)
WORDS_BEFORE_ARGUMENTS_FILE = 15  # the longest caption reference of data written before meta/arguments.json
TASK_OPTIONS = {"snli_ve": ["--batch-size", "100"],
                "caption": ["--batch-size", "100", "--beam", "5", "--no-repeat-ngram-size", "3",
                            "--decoder-exit-beta", "0.95", "--decoder-exit-tau", "1"]}


def caption_length(data: str) -> int:
    """demo.sh's caption generation length (``--max-len-b``) for the demo data in ``data``: its
    longest reference in words (``meta/arguments.json``; data written before that file had 15)
    plus one token for ``</s>``."""
    arguments = recorded_arguments(data)
    return (WORDS_BEFORE_ARGUMENTS_FILE if arguments is None else arguments["caption_words"]) + 1


def evaluation_args(args: argparse.Namespace, seed: int, task: str) -> List[str]:
    """The evaluation command line of demo.sh for ``task`` of ``seed``."""
    length = ["--max-len-b", str(caption_length(args.data))] if task == "caption" else []
    return [os.path.join(args.data, task), "--path", os.path.join(args.checkpoints, f"seed{seed}", task,
                                                                  "checkpoint_last.pt"),
            "--task", task, "--bpe-dir", os.path.join(args.data, "bpe"), "--code-dict-size", "0", "--num-bins", "0",
            "--cpu", *TASK_OPTIONS[task], *length]


def committed_file(path: str, demo_results: str) -> str:
    """A file of a run as the run named it (``results/demo/seed1/...``, or under any other
    DEMO_RESULTS) looked up under ``demo_results``: from its seed folder on."""
    parts = path.split("/")
    seeds = [i for i, part in enumerate(parts) if re.fullmatch(r"seed\d+", part)]
    if not seeds:
        raise ValueError(f"{path}: no seed folder (seed1, seed2, ...) in the path the run recorded")
    return os.path.join(demo_results, *parts[seeds[-1]:])


def option_flags(options: Dict[str, Any], demo_results: str) -> List[str]:
    """The evaluation flags of a sweep row's exit options (a profile path as the run wrote it is
    looked up under ``demo_results``, :func:`committed_file`)."""
    flags: List[str] = []
    if options.get("exit_profile"):
        flags += ["--exit-profile", committed_file(options["exit_profile"], demo_results)]
    for part in ("image", "text", "decoder"):
        if options[f"{part}_exit_threshold"] < NEVER:
            flags += [f"--{part}-exit-threshold", str(options[f"{part}_exit_threshold"])]
    if options["exit_policy"] == "static":
        flags += ["--exit-policy", "static"]
        for part in ("image", "text", "decoder"):
            if options[f"static_{part}_layers"]:
                flags += [f"--static-{part}-layers", str(options[f"static_{part}_layers"])]
    elif options["exit_policy"] != "mue":
        raise ValueError(f"no flags for exit policy {options['exit_policy']}")
    return flags


def test_records(args: argparse.Namespace, seed: int, task: str, work: str, row: Dict[str, Any],
                 committed_path: str) -> List[Dict[str, Any]]:
    """The per-row records of one committed sweep row evaluated again on the test split; stops
    unless its metric and expected reduction equal the committed row's."""
    folder = os.path.join(work, "test", f"{row['curve']}_{row['setting']}".replace(" ", "_").replace("/", "_"))
    os.makedirs(folder, exist_ok=True)
    if not os.path.isfile(os.path.join(folder, "test_predictions.jsonl")):
        run(os.path.join(folder, "evaluate.log"), "ofa_mue.evaluate", *evaluation_args(args, seed, task),
            "--gen-subset", "test", "--results-path", folder, *option_flags(row["options"], args.demo_results))
    with open(os.path.join(folder, "test_metrics.json")) as handle:
        again = json.load(handle)
    found = (again["metrics"][METRIC[task]], again["layers"]["expected_time_reduction"])
    if found != (row["metric"], row["expected_time_reduction"]):
        raise SystemExit(f"{committed_path}: {row['curve']} {row['setting']} gives {found!r} on the test split now, "
                         f"the committed sweep says {(row['metric'], row['expected_time_reduction'])!r}: another "
                         "checkpoint or another evaluation; rerun demo.sh")
    with open(os.path.join(folder, "test_predictions.jsonl")) as handle:
        return [json.loads(line) for line in handle]


def job(args: argparse.Namespace, seed: int, task: str) -> Dict[str, Any]:
    """The comparison for one seed and task."""
    committed_path = os.path.join(args.demo_results, f"seed{seed}", task, "reproduce", "sweep", "sweep.json")
    with open(committed_path) as handle:
        committed = json.load(handle)
    test_rows = committed["rows"]
    work = os.path.join(args.work_dir, f"seed{seed}", task)
    os.makedirs(work, exist_ok=True)
    sweep_dir = os.path.join(work, "valid_static")
    if not os.path.isfile(os.path.join(sweep_dir, "sweep.json")):
        run(os.path.join(work, "sweep_valid.log"), "ofa_mue.sweep", *evaluation_args(args, seed, task),
            "--gen-subset", "valid", "--thresholds", "", "--entropies", "", "--patiences", "", "--depths", DEPTHS,
            "--timing-repetitions", "0", "--sweep-dir", sweep_dir)
    with open(os.path.join(sweep_dir, "sweep.json")) as handle:
        valid_rows = json.load(handle)["rows"]
    table, _ = mue_vs_static(test_rows, valid_rows, "valid")
    mixed = {name for entry in table for name in (*entry["between"].split(" and "),
                                                     *entry["chosen_between"].split(" and ")) if name}
    needed = [row for row in test_rows if row["curve"] == "full"] + [
        row for row in test_rows if row["curve"] in ("mue", "mue_given")
        or (row["curve"] == "static" and static_name(row) in mixed)]
    for row in needed:
        row["records"] = test_records(args, seed, task, work, row, committed_path)
    table, summary = mue_vs_static(test_rows, valid_rows, "valid", ExampleScores(task, needed))
    return {"seed": seed, "task": task, "committed_sweep": committed_path,
            "committed_sweep_commit": committed["provenance"]["commit"],
            "reproduced_on_test": [f"{row['curve']}: {row['setting']}" for row in needed],
            "valid_examples": valid_rows[0]["examples"], "test_examples": test_rows[0]["examples"],
            "valid_static_settings": len(valid_rows), "levels": table, "summary": summary}


def markdown(results: Sequence[Dict[str, Any]]) -> str:
    lines = ["MuE's levels (one threshold for image, text and decoder) against static truncation, on the demo's "
             "test split: the envelope built on the test split itself (oracle) and the depths chosen on the "
             "validation split at MuE's expected time reduction, scored on test. \"Beats\": at least 3 levels at "
             "or above, one strictly above. \"Significantly\": the 95% paired bootstrap interval of the difference "
             "over the test rows lies wholly above (or below) 0.", "",
             "| task | seed | levels | at/above test envelope (oracle) | significantly above / below it | "
             "at/above the valid choice | strictly above | beats it | significantly above / below it |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        oracle, chosen = r["summary"], r["summary"]["chosen_on"]
        lines.append(f"| {r['task']} | {r['seed']} | {chosen['levels']} | {oracle['at_or_above']} | "
                     f"{oracle['significantly_above']} / {oracle['significantly_below']} | {chosen['at_or_above']} | "
                     f"{chosen['strictly_above']} | {'yes' if chosen['mue_beats_fixed_depth'] else 'no'} | "
                     f"{chosen['significantly_above']} / {chosen['significantly_below']} |")
    for r in results:
        metric = METRIC[r["task"]]
        lines += ["", f"**{r['task']}, seed {r['seed']}** ({r['test_examples']} test rows, "
                      f"{r['valid_examples']} validation rows; committed sweep of commit "
                      f"{r['committed_sweep_commit'][:12]})", "",
                  f"| MuE setting | expected time reduction | MuE {metric} | test envelope (oracle) | 95% interval "
                  "of MuE minus it | valid choice on test | its reduction | MuE vs valid choice | 95% interval | "
                  "depths chosen on valid |", "|---|---|---|---|---|---|---|---|---|---|"]
        for e in r["levels"]:
            versus = e["verdict_chosen"] + ("" if e["difference_chosen"] is None
                                            else f" ({number(e['difference_chosen'], '+.4f')})")
            lines.append(f"| {e['setting']}{'' if e['level'] else ' (calibrated, not a level)'} | "
                         f"{share(e['expected_time_reduction'])} | {number(e['mue_metric'])} | "
                         f"{number(e['static_envelope'])} | {interval_cell(e, 'difference_low', 'difference_high')} | "
                         f"{number(e['static_chosen'])} | {share(e['static_chosen_reduction'])} | {versus} | "
                         f"{interval_cell(e, 'difference_chosen_low', 'difference_chosen_high')} | {e['chosen_between']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    args, seeds, tasks = parse_demo_run_arguments(__doc__.split("\n\n")[0], "checkpoints/fixed_depth_chosen_on_valid")
    provenance = Provenance(torch.device("cpu"))
    with ThreadPoolExecutor(max_workers=2) as pool:
        # the longest jobs first (captions: beam search)
        futures = [pool.submit(job, args, seed, task) for task in sorted(tasks) for seed in seeds]
        results = [future.result() for future in futures]
    report = {**provenance.finish(), "arguments": vars(args), "results": results}
    write_results(args.out, "fixed_depth_chosen_on_valid", report, provenance.header() + markdown(results))


if __name__ == "__main__":
    main()
