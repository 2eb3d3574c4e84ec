"""The demo's summary over its training seeds, with the checks that the demo data do their job.

    python -m ofa_mue.demo.summary --results-dir results/demo --seeds 1,2,3

reads, for each seed, what ``run_scripts/demo.sh`` writes under ``{results-dir}/seed{S}/{task}/``:
``reproduce/reproduce.json`` and ``reproduce/sweep/sweep.json`` (``python -m ofa_mue.reproduce``
on the test split: the full model, the MuE profile calibrated on valid, static truncation at
every depth combination, MuE against static truncation's envelope) and, for SNLI-VE,
``images_other/`` and ``images_blank/`` (``python -m ofa_mue.evaluate --replace-images``),
``text_other/`` (``--replace-text other``: a figure, no check) and
``certified/`` (the certified calibration's ``profile.json`` and its ``test_metrics.json``), and
``questions.json`` when the grounding-question stage ran (its held-out accuracies: figures, no
check), and ``run_time.json`` (the seed's minutes after set-up, data generation included, and
the cores), and writes ``{results-dir}/summary.json`` and ``{results-dir}/summary.md``: each figure per seed
with its mean and spread, and each check with its verdict per seed. The checks (issue 15's
targets for the demo):

- SNLI-VE: full-model accuracy >= 0.80; with every test image replaced by another test
  image, and by a blank one, accuracy <= 0.50; static truncation at one encoder and one
  decoder layer at least 10 points below the full model;
- captions: static truncation at one layer keeps at most 85% of the full model's CIDEr;
- calibrated MuE on the test split: SNLI-VE >= 45% expected time reduction at >= 99% of
  the full model's accuracy; captions >= 40% at >= 96% of its CIDEr;
- MuE beats a fixed depth (each task): at 3 or more levels of MuE's sweep its quality is at
  least static truncation's envelope at the same expected reduction, strictly above at one;
- demo.sh takes at most 30 minutes a seed on at most 2 cores after set-up (a run with more
  cores does not show that it fits on 2).

A conclusion stands only when it holds for every seed. The run's commit, machine and date
are recorded in the summary.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
from typing import Any, Callable, Dict, List, Optional, Sequence

from ofa_mue.atomic_files import write_atomically
from ofa_mue.calibrate import MAIN_METRIC
from ofa_mue.provenance import describe, provenance

TASKS = ("snli_ve", "caption")
REPLACED = ("images_other", "images_blank", "text_other")
CERTIFIED = "certified"


def _load(path: str) -> Dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _curve(rows: Sequence[Dict[str, Any]], curve: str) -> Dict[str, Any]:
    found = [row for row in rows if row["curve"] == curve]
    if not found:
        raise ValueError(f"no {curve!r} row")
    return found[0]


def one_layer(rows: Sequence[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The sweep's static row with one image, one text and one decoder layer (None if not swept)."""
    for row in rows:
        if row["curve"] == "static" and (row["image_layers"], row["text_layers"], row["decoder_layers"]) == (1, 1, 1):
            return row
    return None


def retention(quality: float, full: float) -> float:
    """``quality`` as a share of the full model's ``full``; 0.0 when the full model scores 0
    (a barely trained model: reproduce's tables leave that share empty)."""
    return quality / full if full else 0.0


def task_figures(task_dir: str, task: str) -> Dict[str, float]:
    """The figures the checks read for one seed and task (``task.figure`` -> value); empty when
    the task's reproduce run is missing."""
    path = os.path.join(task_dir, "reproduce", "reproduce.json")
    if not os.path.isfile(path):
        return {}
    metric = MAIN_METRIC[task]
    reproduced = _load(path)
    sweep = _load(os.path.join(task_dir, "reproduce", "sweep", "sweep.json"))["rows"]
    full_row, mue_row = _curve(reproduced["table1"], "full"), _curve(reproduced["table1"], "mue_given")
    full, examples = full_row[metric], reproduced["examples"]
    figures = {"examples": examples, f"full_{metric}": full, f"mue_{metric}": mue_row[metric],
               "mue_retention": retention(mue_row[metric], full)}
    for field in ("expected_time_reduction", "image_layers", "text_layers", "decoder_layers"):
        figures[f"mue_{field}"] = mue_row[field]
    static_1 = one_layer(sweep)
    if static_1 is not None:
        figures.update({f"static_1_{metric}": static_1["metric"], "static_1_gap": full - static_1["metric"],
                        "static_1_expected_time_reduction": static_1["expected_time_reduction"],
                        "static_1_share": retention(static_1["metric"], full)})
    versus = reproduced["mue_vs_static"]["summary"]
    figures.update({f"mue_vs_static_{key}": float(versus[key])
                    for key in ("levels", "strictly_above", "at_or_above", "below", "mue_beats_fixed_depth",
                                "significantly_above", "significantly_below") if key in versus})
    for run in REPLACED:
        replaced = test_evaluation(os.path.join(task_dir, run), examples)
        if replaced is not None:
            figures[f"{run}_{metric}"] = replaced["metrics"][metric]
    figures.update(certified_figures(os.path.join(task_dir, CERTIFIED), metric, full, examples,
                                     figures["mue_expected_time_reduction"]))
    figures.update(ablation_figures(reproduced.get("table4", []), metric))
    return {f"{task}.{name}": value for name, value in figures.items()}


def test_evaluation(run_dir: str, examples: int) -> Optional[Dict[str, Any]]:
    """``{run_dir}/test_metrics.json`` (None when that run was not made); a ValueError naming
    the file when it scored another number of rows than the reproduce run."""
    metrics_path = os.path.join(run_dir, "test_metrics.json")
    if not os.path.isfile(metrics_path):
        return None
    result = _load(metrics_path)
    if result["examples"] != examples:
        raise ValueError(f"{metrics_path}: {result['examples']} examples scored, the reproduce run scored {examples}")
    return result


def certified_figures(run_dir: str, metric: str, full: float, examples: int, mue_reduction: float) -> Dict[str, float]:
    """The certified calibration's profile (``profile.json``) evaluated on the test split
    (``test_metrics.json``) beside the uncertified MuE: quality, retention, expected time
    reduction and the share of the uncertified reduction it keeps; empty when not run."""
    result = test_evaluation(run_dir, examples)
    if result is None:
        return {}
    guarantee = _load(os.path.join(run_dir, "profile.json")).get("guarantee") or {}
    reduction = result["layers"]["expected_time_reduction"]
    figures = {f"certified_{metric}": result["metrics"][metric],
               "certified_retention": retention(result["metrics"][metric], full),
               "certified_expected_time_reduction": reduction,
               "certified_share_of_mue_reduction": reduction / mue_reduction if mue_reduction else 0.0,
               "certified_passed": float(bool(guarantee.get("certified")))}
    figures.update({f"certified_{key}": guarantee[key] for key in ("epsilon", "delta", "calibration_rows")
                    if key in guarantee})
    return figures


def ablation_figures(table4: Sequence[Dict[str, Any]], metric: str) -> Dict[str, float]:
    """Table 4's variants that ran (``run_scripts/demo.sh --ablations``): each one's full-model
    quality, its calibrated MuE's quality, retention and expected time reduction
    (``ablation_no_layerwise_loss_mue_accuracy`` -> value); empty when none ran."""
    figures = {}
    for entry in table4:
        if entry.get("key", "mue") == "mue" or "metric" not in entry:
            continue
        prefix = f"ablation_{entry['key']}"
        figures.update({f"{prefix}_full_{metric}": entry["full_metric"], f"{prefix}_mue_{metric}": entry["metric"],
                        f"{prefix}_mue_retention": retention(entry["metric"], entry["full_metric"]),
                        f"{prefix}_mue_expected_time_reduction": entry["expected_time_reduction"]})
    return figures


def question_figures(seed_dir: str) -> Dict[str, float]:
    """The grounding-question stage's held-out accuracy per decoder layer and kind
    (``questions.layer1_where_accuracy`` -> value); empty when ``questions.json`` is absent."""
    path = os.path.join(seed_dir, "questions.json")
    if not os.path.exists(path):
        return {}
    accuracy = _load(path)["held_out_accuracy"]
    return {f"questions.{key.replace('/', '_')}_accuracy": value for key, value in sorted(accuracy.items())}


def run_time_figures(seed_dir: str) -> Dict[str, float]:
    """``demo.minutes``: what demo.sh took for this seed after set-up, the data generation
    included (as a one-seed run takes it), and ``demo.cores``, the cores it ran on, from the
    ``run_time.json`` demo.sh writes; empty when absent (a run before demo.sh wrote it)."""
    path = os.path.join(seed_dir, "run_time.json")
    if not os.path.exists(path):
        return {}
    record = _load(path)
    return {"demo.minutes": (record["data_seconds"] + record["seed_seconds"]) / 60, "demo.cores": record["cores"]}


def seed_figures(seed_dir: str) -> Dict[str, float]:
    """The figures of one seed (``task.figure`` -> value): what the checks read, the question
    stage's held-out accuracies and the run time."""
    figures: Dict[str, float] = {}
    for task in TASKS:
        figures.update(task_figures(os.path.join(seed_dir, task), task))
    if figures:
        figures.update(question_figures(seed_dir))
        figures.update(run_time_figures(seed_dir))
    return figures


Check = Dict[str, Any]
TOLERANCE = 1e-9
"""Figures within this of a bound meet it: they are ratios of counts (e.g. 182/300 - 152/300 is
0.09999999999999998 in floating point, exactly 10 points on the split)."""


def at_least(value: float, bound: float) -> bool:
    """Whether ``value`` meets the lower bound ``bound`` (within :data:`TOLERANCE`)."""
    return value >= bound - TOLERANCE


def at_most(value: float, bound: float) -> bool:
    """Whether ``value`` meets the upper bound ``bound`` (within :data:`TOLERANCE`)."""
    return value <= bound + TOLERANCE


CHECKS: List[Dict[str, Any]] = [
    {"name": "SNLI-VE full-model accuracy >= 0.80", "figures": ["snli_ve.full_accuracy"],
     "passes": lambda f: at_least(f["snli_ve.full_accuracy"], 0.80)},
    {"name": "SNLI-VE accuracy with other test images <= 0.50", "figures": ["snli_ve.images_other_accuracy"],
     "passes": lambda f: at_most(f["snli_ve.images_other_accuracy"], 0.50)},
    {"name": "SNLI-VE accuracy with blank images <= 0.50", "figures": ["snli_ve.images_blank_accuracy"],
     "passes": lambda f: at_most(f["snli_ve.images_blank_accuracy"], 0.50)},
    {"name": "SNLI-VE static truncation at 1 layer at least 10 points below the full model",
     "figures": ["snli_ve.static_1_gap"], "passes": lambda f: at_least(f["snli_ve.static_1_gap"], 0.10)},
    {"name": "captions: static truncation at 1 layer keeps at most 85% of the full model's CIDEr",
     "figures": ["caption.static_1_share"], "passes": lambda f: at_most(f["caption.static_1_share"], 0.85)},
    {"name": "SNLI-VE calibrated MuE: >= 45% expected time reduction at >= 99% accuracy retention",
     "figures": ["snli_ve.mue_expected_time_reduction", "snli_ve.mue_retention"],
     "passes": lambda f: at_least(f["snli_ve.mue_expected_time_reduction"], 0.45)
     and at_least(f["snli_ve.mue_retention"], 0.99)},
    {"name": "captions calibrated MuE: >= 40% expected time reduction at >= 96% CIDEr retention",
     "figures": ["caption.mue_expected_time_reduction", "caption.mue_retention"],
     "passes": lambda f: at_least(f["caption.mue_expected_time_reduction"], 0.40)
     and at_least(f["caption.mue_retention"], 0.96)},
    {"name": "demo.sh under 30 minutes a seed on 2 cores after set-up (data generation included)",
     "figures": ["demo.minutes", "demo.cores"],
     "passes": lambda f: at_most(f["demo.minutes"], 30.0) and f["demo.cores"] <= 2},
    *({"name": f"{task}: MuE beats a fixed depth (>= 3 sweep levels at or above static truncation's envelope, "
               "one strictly above)", "figures": [f"{task}.mue_vs_static_mue_beats_fixed_depth"],
       "passes": (lambda f, key=f"{task}.mue_vs_static_mue_beats_fixed_depth": bool(f[key]))} for task in TASKS),
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


def _percent(name: str) -> bool:
    """Whether a figure is a share (printed as a percentage); captions' gap is in CIDEr units."""
    if name.startswith("caption.") and name.endswith("_gap"):
        return False
    return any(part in name for part in ("accuracy", "retention", "reduction", "share", "gap"))


def markdown(summary: Dict[str, Any]) -> str:
    """The summary as markdown: checks with per-seed verdicts, then every figure per seed."""
    seeds = summary["seeds"]
    lines = [f"Demo summary over training seeds {', '.join(seeds)} ({describe(summary['provenance'])}).", "",
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


def summarize(results_dir: str, seeds: Sequence[str]) -> Dict[str, Any]:
    """Read every seed's results and build the summary (see the module docstring)."""
    per_seed = {}
    for seed in seeds:
        seed_dir = os.path.join(results_dir, f"seed{seed}")
        figures = seed_figures(seed_dir)
        if not figures:
            raise ValueError(f"no {{task}}/reproduce/reproduce.json under {seed_dir}")
        per_seed[str(seed)] = figures
    return {"provenance": provenance(), "seeds": [str(s) for s in seeds], "checks": evaluate_checks(per_seed),
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
    try:
        summary = summarize(args.results_dir, seeds)
    except ValueError as error:
        parser.error(str(error))
    write_atomically(os.path.join(args.results_dir, "summary.json"), json.dumps(summary, indent=2) + "\n")
    text = markdown(summary)
    write_atomically(os.path.join(args.results_dir, "summary.md"), text)
    print(text)
    return summary


if __name__ == "__main__":
    main()
