"""Collect full-model and MuE evaluations into one summary and a table like the paper's Table 1.

    python -m ofa_mue.report --results-dir results/demo

reads ``{results-dir}/{task}/{full,mue}/test_metrics.json`` (written by
``python -m ofa_mue.evaluate``) for the tasks present, writes ``{results-dir}/summary.json``
and ``{results-dir}/table.md``, and prints the table.
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


def _read(path: str) -> Dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def task_summary(task: str, full: Dict[str, Any], mue: Dict[str, Any]) -> Dict[str, Dict[str, float]]:
    """The ``{"full": ..., "mue": ...}`` entry of one task from two metrics files."""
    if full["examples"] != mue["examples"]:
        raise ValueError(f"{task}: the full model scored {full['examples']} examples but MuE {mue['examples']}")
    names = TASK_METRICS[task]
    entry = {
        "full": {**{n: full["metrics"][n] for n in names}, "seconds": full["seconds"]},
        "mue": {**{n: mue["metrics"][n] for n in names}, "seconds": mue["seconds"],
                **{f: mue["layers"][f] for f in LAYER_FIELDS}},
    }
    entry["mue"]["examples"] = entry["full"]["examples"] = full["examples"]
    policy = mue.get("exit_policy", {})
    entry["mue"]["thresholds"] = {k: policy[k] for k in ("image", "text", "decoder") if k in policy}
    entry["mue"]["guarantee"] = mue.get("exit_profile", {}).get("guarantee")
    return entry


def guarantee_line(mue: Dict[str, Any]) -> str:
    """The MuE thresholds and what their calibration guarantees, in one line."""
    thresholds = " / ".join(f"{name} {value:g}" if value <= 1.0 else f"{name} off"
                            for name, value in mue.get("thresholds", {}).items())
    return f"MuE thresholds {thresholds}: {guarantee_statement(mue.get('guarantee'))}."


def table(summary: Dict[str, Dict[str, Dict[str, float]]]) -> str:
    """Markdown table: one row per model, the task metrics, expected and measured time reduction."""
    lines = []
    for task, entry in summary.items():
        names = TASK_METRICS[task]
        header = ["model", *names, "expected time reduction", "measured time reduction", "image / text / decoder layers"]
        lines += [f"**{task}** (test, {entry['full']['examples']} examples)", "",
                  "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        full, mue = entry["full"], entry["mue"]
        lines.append("| full | " + " | ".join(f"{full[n]:.4f}" for n in names) + " | 0.0% | 0.0% | all |")
        measured = 1.0 - mue["seconds"] / full["seconds"]
        lines.append(
            "| MuE | " + " | ".join(f"{mue[n]:.4f}" for n in names)
            + f" | {100 * mue['expected_time_reduction']:.1f}% | {100 * measured:.1f}% "
            + f"| {mue['image_layers']:.2f} / {mue['text_layers']:.2f} / {mue['decoder_layers']:.2f} |"
        )
        main = names[-1] if task == "caption" else names[0]
        lines += ["", f"MuE keeps {100 * mue[main] / full[main]:.1f}% of the full model's {main}."] \
            if full[main] else [""]
        lines += ["", guarantee_line(mue), ""]
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Command-line entry point: returns the summary it writes."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results-dir", required=True, help="folder with {task}/{full,mue}/test_metrics.json")
    parser.add_argument("--split", default="test", help="the evaluated split (default test)")
    args = parser.parse_args(argv)
    summary = {}
    for task in TASK_METRICS:
        paths = [os.path.join(args.results_dir, task, run, f"{args.split}_metrics.json") for run in ("full", "mue")]
        if all(os.path.isfile(p) for p in paths):
            summary[task] = task_summary(task, *(_read(p) for p in paths))
    if not summary:
        parser.error(f"no {{task}}/{{full,mue}}/{args.split}_metrics.json under {args.results_dir}")
    write_atomically(os.path.join(args.results_dir, "summary.json"), json.dumps(summary, indent=2) + "\n")
    text = table(summary)
    write_atomically(os.path.join(args.results_dir, "table.md"), text + "\n")
    print(text)
    return summary


if __name__ == "__main__":
    main()
