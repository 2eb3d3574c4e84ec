"""The demo's summary over its training seeds, with the checks that the demo data do their job.

    python -m ofa_mue.demo.summary --results-dir results/demo --seeds 1,2,3

reads, for each seed, the metrics files that ``run_scripts/demo.sh`` writes under
``{results-dir}/seed{S}/{task}/{run}/test_metrics.json`` (``run``: ``full``, ``mue``,
``static_1`` (every stream cut to one layer), ``images_other`` and ``images_blank``
(``--replace-images``)), and writes ``{results-dir}/summary.json`` and
``{results-dir}/summary.md``: each figure per seed with its mean and spread, and each check
with its verdict per seed. The checks (issue 15's targets for the demo):

- SNLI-VE: full-model accuracy >= 0.80; with every test image replaced by another test
  image, and by a blank one, accuracy <= 0.50; static truncation at one encoder and one
  decoder layer at least 10 points below the full model;
- captions: static truncation at one layer keeps at most 85% of the full model's CIDEr;
- calibrated MuE on the test split: SNLI-VE >= 45% expected time reduction at >= 99% of
  the full model's accuracy; captions >= 40% at >= 96% of its CIDEr.

A conclusion stands only when it holds for every seed. The run's commit, machine and date
are recorded in the summary.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
from typing import Any, Callable, Dict, List, Optional, Sequence

from ofa_mue.atomic_files import write_atomically

RUNS = ("full", "mue", "static_1", "images_other", "images_blank")


def read_runs(seed_dir: str, task: str) -> Dict[str, Dict[str, Any]]:
    """The metrics files of one seed and task, by run name (runs not present are left out)."""
    runs = {}
    for run in RUNS:
        path = os.path.join(seed_dir, task, run, "test_metrics.json")
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                runs[run] = json.load(handle)
    return runs


def seed_figures(seed_dir: str) -> Dict[str, float]:
    """The figures the checks read, for one seed (``task.figure`` -> value)."""
    figures: Dict[str, float] = {}
    for task, metric in (("snli_ve", "accuracy"), ("caption", "cider")):
        runs = read_runs(seed_dir, task)
        if "full" not in runs:
            continue
        examples = {name: run["examples"] for name, run in runs.items()}
        if len(set(examples.values())) != 1:
            raise ValueError(f"{seed_dir}/{task}: the runs scored different numbers of examples: {examples}")
        full = runs["full"]["metrics"][metric]
        figures[f"{task}.examples"] = examples["full"]
        figures[f"{task}.full_{metric}"] = full
        for name in RUNS[1:]:
            if name in runs:
                figures[f"{task}.{name}_{metric}"] = runs[name]["metrics"][metric]
        if "mue" in runs:
            figures[f"{task}.mue_retention"] = runs["mue"]["metrics"][metric] / full if full else 0.0
            for field in ("expected_time_reduction", "image_layers", "text_layers", "decoder_layers"):
                figures[f"{task}.mue_{field}"] = runs["mue"]["layers"][field]
        if "static_1" in runs:
            figures[f"{task}.static_1_gap"] = full - runs["static_1"]["metrics"][metric]
            figures[f"{task}.static_1_share"] = runs["static_1"]["metrics"][metric] / full if full else 0.0
    return figures


Check = Dict[str, Any]
CHECKS: List[Dict[str, Any]] = [
    {"name": "SNLI-VE full-model accuracy >= 0.80", "figures": ["snli_ve.full_accuracy"],
     "passes": lambda f: f["snli_ve.full_accuracy"] >= 0.80},
    {"name": "SNLI-VE accuracy with other test images <= 0.50", "figures": ["snli_ve.images_other_accuracy"],
     "passes": lambda f: f["snli_ve.images_other_accuracy"] <= 0.50},
    {"name": "SNLI-VE accuracy with blank images <= 0.50", "figures": ["snli_ve.images_blank_accuracy"],
     "passes": lambda f: f["snli_ve.images_blank_accuracy"] <= 0.50},
    {"name": "SNLI-VE static truncation at 1 layer at least 10 points below the full model",
     "figures": ["snli_ve.static_1_gap"], "passes": lambda f: f["snli_ve.static_1_gap"] >= 0.10},
    {"name": "captions: static truncation at 1 layer keeps at most 85% of the full model's CIDEr",
     "figures": ["caption.static_1_share"], "passes": lambda f: f["caption.static_1_share"] <= 0.85},
    {"name": "SNLI-VE calibrated MuE: >= 45% expected time reduction at >= 99% accuracy retention",
     "figures": ["snli_ve.mue_expected_time_reduction", "snli_ve.mue_retention"],
     "passes": lambda f: f["snli_ve.mue_expected_time_reduction"] >= 0.45 and f["snli_ve.mue_retention"] >= 0.99},
    {"name": "captions calibrated MuE: >= 40% expected time reduction at >= 96% CIDEr retention",
     "figures": ["caption.mue_expected_time_reduction", "caption.mue_retention"],
     "passes": lambda f: f["caption.mue_expected_time_reduction"] >= 0.40 and f["caption.mue_retention"] >= 0.96},
]


def evaluate_checks(per_seed: Dict[str, Dict[str, float]]) -> List[Check]:
    """Each check with its figures and verdict per seed; ``passed`` when it holds for every seed
    (``None`` when a figure it needs was not measured)."""
    results = []
    for check in CHECKS:
        verdicts: Dict[str, Optional[bool]] = {}
        for seed, figures in per_seed.items():
            verdicts[seed] = check["passes"](figures) if all(f in figures for f in check["figures"]) else None
        known = [v for v in verdicts.values() if v is not None]
        results.append({"check": check["name"], "figures": check["figures"], "per_seed": verdicts,
                        "passed": (all(known) if len(known) == len(verdicts) else None)})
    return results


def aggregate(per_seed: Dict[str, Dict[str, float]]) -> Dict[str, Dict[str, Any]]:
    """Every figure per seed, with its mean, standard deviation (over seeds) and range."""
    names = sorted({name for figures in per_seed.values() for name in figures})
    out = {}
    for name in names:
        values = {seed: figures[name] for seed, figures in per_seed.items() if name in figures}
        series = list(values.values())
        out[name] = {"per_seed": values, "mean": statistics.fmean(series),
                     "std": statistics.stdev(series) if len(series) > 1 else 0.0,
                     "min": min(series), "max": max(series)}
    return out


def run_record(repo: str) -> Dict[str, Any]:
    """Commit (and whether the tree had changes), machine and date of this summary."""
    def git(*args: str) -> Optional[str]:
        try:
            return subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True, check=True,
                                  timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)
    except OSError:
        pass
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": git("rev-parse", "HEAD"), "uncommitted_changes": bool(status) if status is not None else None,
            "machine": {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
                        "python": platform.python_version()},
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def _percent(name: str) -> bool:
    return any(part in name for part in ("accuracy", "retention", "reduction", "share", "gap"))


def markdown(summary: Dict[str, Any]) -> str:
    """The summary as markdown: checks with per-seed verdicts, then every figure per seed."""
    seeds = summary["seeds"]
    run = summary["run"]
    lines = [f"Demo summary over training seeds {', '.join(seeds)} (commit {run['commit']}"
             + (", with uncommitted changes" if run["uncommitted_changes"] else "")
             + f"; {run['machine']['cpu']}, {run['machine']['cores']} cores; {run['date']}).", "",
             "| check | " + " | ".join(f"seed {s}" for s in seeds) + " | holds for every seed |",
             "|---|" + "---|" * (len(seeds) + 1)]
    verdict = {True: "yes", False: "**no**", None: "not measured"}
    for check in summary["checks"]:
        lines.append(f"| {check['check']} | " + " | ".join(verdict[check["per_seed"].get(s)] for s in seeds)
                     + f" | {verdict[check['passed']]} |")
    lines += ["", "| figure | " + " | ".join(f"seed {s}" for s in seeds) + " | mean | std | min-max |",
              "|---|" + "---|" * (len(seeds) + 3)]
    for name, entry in summary["figures"].items():
        fmt: Callable[[float], str] = (lambda v: f"{100 * v:.1f}%") if _percent(name) else (lambda v: f"{v:.4g}")
        cells = [fmt(entry["per_seed"][s]) if s in entry["per_seed"] else "-" for s in seeds]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {fmt(entry['mean'])} | {fmt(entry['std'])} "
                     f"| {fmt(entry['min'])}-{fmt(entry['max'])} |")
    return "\n".join(lines) + "\n"


def summarize(results_dir: str, seeds: Sequence[str], repo: str) -> Dict[str, Any]:
    """Read every seed's results and build the summary (see the module docstring)."""
    per_seed = {}
    for seed in seeds:
        seed_dir = os.path.join(results_dir, f"seed{seed}")
        figures = seed_figures(seed_dir)
        if not figures:
            raise ValueError(f"no {{task}}/full/test_metrics.json under {seed_dir}")
        per_seed[str(seed)] = figures
    return {"run": run_record(repo), "seeds": [str(s) for s in seeds], "checks": evaluate_checks(per_seed),
            "figures": aggregate(per_seed)}


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """Command-line entry point: returns the summary it writes."""
    parser = argparse.ArgumentParser(prog="python -m ofa_mue.demo.summary", description=__doc__.split("\n\n")[0])
    parser.add_argument("--results-dir", required=True, help="folder with seed{S}/{task}/{run}/test_metrics.json")
    parser.add_argument("--seeds", required=True, help="comma-separated training seeds, e.g. 1,2,3")
    args = parser.parse_args(argv)
    seeds = [s.strip() for s in args.seeds.split(",") if s.strip()]
    if not seeds or not all(s.isdigit() for s in seeds):
        parser.error(f"--seeds must be comma-separated integers, got {args.seeds!r}")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        summary = summarize(args.results_dir, seeds, repo)
    except ValueError as error:
        parser.error(str(error))
    write_atomically(os.path.join(args.results_dir, "summary.json"), json.dumps(summary, indent=2) + "\n")
    text = markdown(summary)
    write_atomically(os.path.join(args.results_dir, "summary.md"), text)
    print(text)
    return summary


if __name__ == "__main__":
    main()
