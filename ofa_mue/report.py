"""Collect full-model and MuE evaluations into one summary and a table like the paper's Table 1.

    python -m ofa_mue.report --results-dir results/demo

reads ``{results-dir}/{task}/{full,mue}/{split}_metrics.json`` (``--split``, default ``test``; written by
``python -m ofa_mue.evaluate``; also ``{task}/mue_retention/`` when present, an uncertified
calibration's run for comparison) for the tasks present, prints each MuE run's thresholds with
what their calibration guarantees, writes ``{results-dir}/summary.json``
and ``{results-dir}/table.md``, and prints the table.

Its wall-clock column is ``1 - seconds(MuE) / seconds(full model)`` of the two evaluation runs,
one run each (data loading included, no warm-up, not interleaved or repeated): a rough figure,
not a measured reduction. ``python -m ofa_mue.sweep`` measures that with
:mod:`ofa_mue.timing`'s protocol.
"""
from __future__ import annotations

import argparse
import json
import os
from typing import Any, Dict, Optional, Sequence

from .atomic_files import write_atomically
from .core.exit_profile import guarantee_statement

TASK_METRICS = {"snli_ve": ("accuracy",), "caption": ("bleu4", "meteor", "rouge_l", "cider")}
LAYER_FIELDS = ("expected_time_reduction", "image_layers", "text_layers", "decoder_layers")
MUE_RUNS = {"mue": "MuE", "mue_retention": "MuE (uncertified)"}
"""MuE runs under {results-dir}/{task}/ and their labels: the certified profile's, and optionally the
uncertified calibration's for comparison."""


def _read(path: str) -> Dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def task_summary(task: str, full: Dict[str, Any], **mue_runs: Dict[str, Any]) -> Dict[str, Dict[str, float]]:
    """The ``{"full": ..., "mue": ..., ...}`` entry of one task from its metrics files (one per MuE run)."""
    names = TASK_METRICS[task]
    entry = {"full": {**{n: full["metrics"][n] for n in names}, "seconds": full["seconds"],
                      "examples": full["examples"]}}
    for run, mue in mue_runs.items():
        if full["examples"] != mue["examples"]:
            raise ValueError(f"{task}: the full model scored {full['examples']} examples but {run} {mue['examples']}")
        policy = mue.get("exit_policy", {})
        entry[run] = {**{n: mue["metrics"][n] for n in names}, "seconds": mue["seconds"],
                      **{f: mue["layers"][f] for f in LAYER_FIELDS}, "examples": mue["examples"],
                      "thresholds": {k: policy[k] for k in ("image", "text", "decoder") if k in policy},
                      "guarantee": mue.get("exit_profile", {}).get("guarantee")}
    return entry


def guarantee_line(label: str, mue: Dict[str, Any]) -> str:
    """A MuE run's thresholds and what their calibration guarantees, in one line."""
    thresholds = " / ".join(f"{name} {value:g}" if value <= 1.0 else f"{name} off"
                            for name, value in mue.get("thresholds", {}).items())
    return f"{label} thresholds {thresholds}: {guarantee_statement(mue.get('guarantee'))}."


def table(summary: Dict[str, Dict[str, Dict[str, float]]], split: str = "test") -> str:
    """Markdown table of the evaluated ``split``: one row per model, the task metrics, expected time
    reduction and the wall-clock reduction of the two evaluation runs (one run each, see the module
    docstring)."""
    lines = []
    for task, entry in summary.items():
        names = TASK_METRICS[task]
        header = ["model", *names, "expected time reduction", "wall-clock reduction (one run each)",
                  "image / text / decoder layers"]
        lines += [f"**{task}** ({split}, {entry['full']['examples']} examples)", "",
                  "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        full = entry["full"]
        lines.append("| full | " + " | ".join(f"{full[n]:.4f}" for n in names) + " | 0.0% | 0.0% | all |")
        runs = [(MUE_RUNS[run], entry[run]) for run in MUE_RUNS if run in entry]
        for label, mue in runs:
            measured = 1.0 - mue["seconds"] / full["seconds"]
            lines.append(
                f"| {label} | " + " | ".join(f"{mue[n]:.4f}" for n in names)
                + f" | {100 * mue['expected_time_reduction']:.1f}% | {100 * measured:.1f}% "
                + f"| {mue['image_layers']:.2f} / {mue['text_layers']:.2f} / {mue['decoder_layers']:.2f} |"
            )
        main = names[-1] if task == "caption" else names[0]
        lines += ["", "Wall-clock reduction: 1 - MuE's evaluation seconds / the full model's, one run each (data "
                  "loading included, no warm-up, not interleaved or repeated): not a measured reduction; "
                  "python -m ofa_mue.sweep measures it (warm-up, interleaved, median of at least 5 runs).", ""]
        for label, mue in runs:
            if full[main]:
                lines.append(f"{label} keeps {100 * mue[main] / full[main]:.1f}% of the full model's {main}.")
            lines.append(guarantee_line(label, mue))
        lines.append("")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Command-line entry point: returns the summary it writes."""
    parser = argparse.ArgumentParser(prog="python -m ofa_mue.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--results-dir", required=True, help="folder with {task}/{full,mue}/{split}_metrics.json")
    parser.add_argument("--split", default="test", help="the evaluated split, whose {split}_metrics.json files are read (default test)")
    args = parser.parse_args(argv)
    summary = {}
    for task in TASK_METRICS:
        paths = {run: os.path.join(args.results_dir, task, run, f"{args.split}_metrics.json")
                 for run in ("full", *MUE_RUNS)}
        if os.path.isfile(paths["full"]) and os.path.isfile(paths["mue"]):
            summary[task] = task_summary(task, _read(paths.pop("full")),
                                         **{run: _read(path) for run, path in paths.items() if os.path.isfile(path)})
    if not summary:
        parser.error(f"no {{task}}/{{full,mue}}/{args.split}_metrics.json under {args.results_dir}")
    write_atomically(os.path.join(args.results_dir, "summary.json"), json.dumps(summary, indent=2) + "\n")
    text = table(summary, args.split)
    write_atomically(os.path.join(args.results_dir, "table.md"), text + "\n")
    print(text)
    return summary


if __name__ == "__main__":
    main()
