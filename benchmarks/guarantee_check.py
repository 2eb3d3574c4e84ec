"""Does the certified calibration keep its promise? Repeated calibrations on one pool of rows.

    python benchmarks/guarantee_check.py --table results/guarantee/snli_ve.table.json.gz \\
        --table results/guarantee/caption.table.json.gz [--epsilon 0.05 --delta 0.1 --splits 200]

Each ``--table`` is a calibration table (:mod:`ofa_mue.calibration_table`, written by
``python -m ofa_mue.calibrate``): every configuration of the threshold grid evaluated once on
a pool of rows. Only the selection runs again, so hundreds of calibrations take seconds. Per
table, ``--splits`` times:

- **split**: the pool is cut at random into a calibration part (``--calibration-fraction``)
  and a test part. Each method calibrates on the first; the test part gives the chosen
  configuration's loss, metric and expected time reduction. A *violation* is a test loss above
  ``epsilon``. The test part is finite, so its loss is noisy: a configuration whose true risk
  is just under ``epsilon`` shows a test loss above it in up to half of the splits.
- **resample**: the calibration rows are drawn with replacement from the pool, so the pool
  *is* the data distribution, and the chosen configuration's true risk is its mean loss on the
  whole pool: a violation is a true risk above ``epsilon``, exactly the event the guarantee
  bounds by ``delta``.

Methods: the certified ``ltt`` with fixed-sequence and with Bonferroni testing; today's
uncertified ``retention`` (most reduction whose metric keeps ``--retention`` of the full
model's on the calibration rows); and ``best-within-epsilon`` (most reduction whose mean loss
on the calibration rows is at most ``epsilon``, no correction), which shows what the
correction is for. Results: ``benchmarks/results/guarantee_check{tag}.json`` and ``.md`` with the
commit, machine and date.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
from scipy import stats
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from anywhere: the checkout's ofa_mue
from ofa_mue.atomic_files import write_atomically  # noqa: E402
from ofa_mue.calibration_losses import BINARY_LOSSES, DEFAULT_ROUGE_CUTOFF, default_loss  # noqa: E402
from ofa_mue.calibration_table import FULL_MODEL, CalibrationTable  # noqa: E402
from ofa_mue.core.risk_control import certify, most_reduction  # noqa: E402
from ofa_mue.provenance import provenance  # noqa: E402

RETENTION = {"snli_ve": 0.99, "caption": 0.96}  # run_scripts/demo.sh's uncertified targets
METHODS = ("ltt fixed-sequence", "ltt bonferroni", "retention", "best-within-epsilon")
MODES = ("split", "resample")

Selector = Callable[[np.ndarray], Optional[int]]


def selectors(losses: np.ndarray, binary: bool, reductions: np.ndarray, metric: np.ndarray,
              full_metric: np.ndarray, epsilon: float, delta: float, retention: float, learn_fraction: float,
              rng: np.random.Generator) -> Dict[str, Selector]:
    """Each method as a function of the calibration rows' indices -> chosen configuration (None: off)."""
    def ltt(procedure: str) -> Selector:
        return lambda rows: certify(losses[:, rows], reductions[:, rows], epsilon, delta, binary, procedure,
                                    learn_fraction, rng).chosen

    def by_retention(rows: np.ndarray) -> Optional[int]:
        keeps = metric[:, rows].mean(axis=1) >= retention * full_metric[rows].mean()
        return most_reduction(keeps, reductions[:, rows].mean(axis=1))

    def within_epsilon(rows: np.ndarray) -> Optional[int]:
        return most_reduction(losses[:, rows].mean(axis=1) <= epsilon, reductions[:, rows].mean(axis=1))

    return {"ltt fixed-sequence": ltt("fixed-sequence"), "ltt bonferroni": ltt("bonferroni"),
            "retention": by_retention, "best-within-epsilon": within_epsilon}


def upper_95(count: int, total: int) -> float:
    """One-sided 95% Clopper-Pearson upper bound of a rate seen ``count`` times in ``total``."""
    return 1.0 if count == total else float(stats.beta.ppf(0.95, count + 1, total - count))


def check_table(table: CalibrationTable, loss: str, epsilon: float, delta: float, splits: int,
                calibration_fraction: float, retention: float, learn_fraction: float, seed: int,
                **loss_options: Any) -> Dict[str, Any]:
    """Violation rates, test losses and reductions of every method over ``splits`` calibrations."""
    configurations = [c for c in table.configurations if c != FULL_MODEL]
    losses = table.losses(loss, configurations, **loss_options)
    reductions = table.reductions(configurations)
    metric = table.example_metric(configurations)
    full_metric = table.example_metric([FULL_MODEL])[0]
    pool = losses.shape[1]
    calibration_rows = int(round(calibration_fraction * pool))
    rng = np.random.default_rng(seed)
    choose = selectors(losses, loss in BINARY_LOSSES, reductions, metric, full_metric, epsilon, delta, retention,
                       learn_fraction, rng)
    outcomes = {mode: {method: [] for method in METHODS} for mode in MODES}
    for _ in tqdm(range(splits), desc=f"{table.task} splits", unit="split"):
        order = rng.permutation(pool)
        resampled = rng.integers(0, pool, calibration_rows)
        for mode, calibration, test in (("split", order[:calibration_rows], order[calibration_rows:]),
                                        ("resample", resampled, np.arange(pool))):
            for method, select in choose.items():
                chosen = select(calibration)
                outcomes[mode][method].append(
                    {"off": chosen is None} if chosen is None else
                    {"off": False, "loss": float(losses[chosen, test].mean()),
                     "reduction": float(reductions[chosen, test].mean()),
                     "retained": float(metric[chosen, test].mean() / full_metric[test].mean())
                     if full_metric[test].mean() else 1.0})
    return {"task": table.task, "loss": loss, **loss_options, "pool_rows": pool,
            "calibration_rows": calibration_rows, "configurations": len(configurations), "retention": retention,
            "results": {mode: {method: summarize(runs, epsilon, retention) for method, runs in by_method.items()}
                        for mode, by_method in outcomes.items()}}


def summarize(runs: List[Dict[str, Any]], epsilon: float, retention: float) -> Dict[str, float]:
    """Rates and means over the splits; a split whose method turned every exit off loses nothing, saves nothing."""
    losses = [r.get("loss", 0.0) for r in runs]
    violations = sum(loss > epsilon for loss in losses)
    return {"splits": len(runs), "violation_rate": violations / len(runs),
            "violation_rate_upper_95": upper_95(violations, len(runs)),
            "mean_loss": float(np.mean(losses)),
            "mean_reduction": float(np.mean([r.get("reduction", 0.0) for r in runs])),
            "below_retention_rate": float(np.mean([r.get("retained", 1.0) < retention for r in runs])),
            "exits_off_rate": float(np.mean([r["off"] for r in runs]))}


def markdown(report: Dict[str, Any]) -> str:
    """The report as markdown tables, one per table and mode."""
    settings = report["settings"]
    lines = [f"Measured {report['date']} at commit {report['commit']} on {report['machine']['cpu_model']} "
             f"({report['machine']['cpu_cores']} cores).", "",
             f"epsilon {settings['epsilon']:g}, delta {settings['delta']:g}, {settings['splits']} calibrations per "
             f"table and mode, calibration fraction {settings['calibration_fraction']:g}, fixed-sequence learning "
             f"fraction {settings['learn_fraction']:g}.", ""]
    for check in report["checks"]:
        checkpoints = ", ".join(c["path"] for c in check["checkpoints"])
        lines += [f"**{check['task']}** ({check['table']}, checkpoint {checkpoints}): loss `{check['loss']}`, pool "
                  f"of {check['pool_rows']} rows, {check['calibration_rows']} calibration rows per calibration, "
                  f"{check['configurations']} configurations; retention target {check['retention']:g}.", ""]
        for mode in MODES:
            reference = check["results"][mode]["retention"]["mean_reduction"]
            lines += [f"{mode}: violation = {'test-part' if mode == 'split' else 'true (pool)'} loss above epsilon",
                      "",
                      "| method | violation rate (95% upper) | mean loss | mean expected time reduction | share of "
                      "retention's reduction | below retention target | exits off |",
                      "|---|---|---|---|---|---|---|"]
            for method, r in check["results"][mode].items():
                share = f"{100 * r['mean_reduction'] / reference:.0f}%" if reference else "-"
                lines.append(f"| {method} | {100 * r['violation_rate']:.1f}% ({100 * r['violation_rate_upper_95']:.1f}%)"
                             f" | {r['mean_loss']:.4f} | {100 * r['mean_reduction']:.1f}% | {share} | "
                             f"{100 * r['below_retention_rate']:.0f}% | {100 * r['exits_off_rate']:.0f}% |")
            lines.append("")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", action="append", required=True, help="calibration table (repeat for more)")
    parser.add_argument("--loss", action="append", default=None,
                        help="loss per table, in the order of --table (default: the task's default loss)")
    parser.add_argument("--rouge-cutoff", type=float, default=DEFAULT_ROUGE_CUTOFF, help="for --loss rouge")
    parser.add_argument("--epsilon", type=float, default=0.05)
    parser.add_argument("--delta", type=float, default=0.1)
    parser.add_argument("--splits", type=int, default=200, help="calibrations per table and mode")
    parser.add_argument("--calibration-fraction", type=float, default=0.5, help="share of the pool calibrating")
    parser.add_argument("--learn-fraction", type=float, default=0.3, help="fixed-sequence's ordering share")
    parser.add_argument("--retention", action="append", default=[],
                        help="TASK=VALUE: uncertified target (default snli_ve=0.99, caption=0.96)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tag", default="", help="suffix of the results files")
    parser.add_argument("--results-dir", default=str(REPO / "benchmarks" / "results"))
    args = parser.parse_args(argv)
    if args.loss and len(args.loss) != len(args.table):
        parser.error("give one --loss per --table, or none")
    retention = dict(RETENTION, **{k: float(v) for k, v in (item.split("=", 1) for item in args.retention)})
    checks = []
    for index, path in enumerate(args.table):
        table = CalibrationTable.load(path)
        loss = args.loss[index] if args.loss else default_loss(table.task)
        loss_options = {"rouge_cutoff": args.rouge_cutoff} if loss == "rouge" else {}
        check = check_table(table, loss, args.epsilon, args.delta, args.splits, args.calibration_fraction,
                            retention[table.task], args.learn_fraction, args.seed + index, **loss_options)
        checks.append({"table": path, "checkpoints": table.evaluation["checkpoints"], **check})
    report = {**provenance(),
              "settings": {k: getattr(args, k) for k in ("epsilon", "delta", "splits", "calibration_fraction",
                                                         "learn_fraction", "seed")},
              "checks": checks}
    base = os.path.join(args.results_dir, f"guarantee_check{args.tag}")
    write_atomically(base + ".json", json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    write_atomically(base + ".md", text + "\n")
    print(text)
    return report


if __name__ == "__main__":
    main()
