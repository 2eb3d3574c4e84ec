"""Accuracy-vs-speed trade-off sweeps of the exit policies on one split.

    python -m ofa_mue.sweep DATA --path CHECKPOINT --task snli_ve --gen-subset valid \\
        --batch-size 16 --sweep-dir results/sweep_snli_ve

Evaluates the full model (after one warm-up pass), then MuE with every threshold set to each
value of ``--thresholds`` (the decoder keeps ``--decoder-exit-beta``/``--decoder-exit-tau``), the
DeeBERT-style entropy policy at each of ``--entropies``, the PABEE-style patience policy at
each of ``--patiences``, and static truncation with every stream cut to each depth of
``--depths``, all in one run (an empty list leaves a policy out). Writes
``sweep.csv`` and ``sweep.md`` (task metric(s), expected time reduction rate, measured
wall-clock reduction against the full model of the same run, mean layers per stream) and
``tradeoff.png``: the task metric against the expected time reduction rate, one curve per
policy, the full model as the reference point.
"""
from __future__ import annotations

import argparse
import csv
import io
import logging
import os
from typing import Any, Dict, List, Optional, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from tqdm import tqdm  # noqa: E402

from .calibrate import MAIN_METRIC  # noqa: E402
from .atomic_files import atomic_destination, write_atomically  # noqa: E402
from .evaluate import build_parser, load_evaluation, run_cli  # noqa: E402
from .core.exit_policy import NEVER  # noqa: E402

logger = logging.getLogger("ofa_mue.sweep")

DEFAULT_THRESHOLDS = "0.999,0.99,0.98,0.97,0.95,0.93,0.9,0.85,0.8"
DEFAULT_ENTROPIES = "0.05,0.1,0.2,0.4,0.8,1.6"
POLICY_LABELS = {"mue": "MuE", "entropy": "DeeBERT (entropy)", "patience": "PABEE (patience)",
                 "static": "static truncation"}
COLUMNS = ("policy", "setting", "metric", "expected_time_reduction", "wall_clock_reduction", "seconds",
           "image_layers", "text_layers", "decoder_layers")


def _floats(text: str) -> List[float]:
    return [float(value) for value in text.split(",") if value.strip()]


def sweep_points(thresholds: Sequence[float], depths: Sequence[int], entropies: Sequence[float] = (),
                 patiences: Sequence[int] = ()) -> List[Dict[str, Any]]:
    """The settings to evaluate: the full model, then each policy at each of its values."""
    off = {"image_exit_threshold": NEVER, "text_exit_threshold": NEVER, "decoder_exit_threshold": NEVER}
    points = [{"policy": "full", "setting": "-", "options": {"exit_policy": "mue", **off}}]
    for value in thresholds:
        points.append({"policy": "mue", "setting": f"threshold {value:g}",
                       "options": {"exit_policy": "mue", "image_exit_threshold": value,
                                   "text_exit_threshold": value, "decoder_exit_threshold": value}})
    for value in entropies:
        points.append({"policy": "entropy", "setting": f"entropy {value:g}",
                       "options": {"exit_policy": "entropy", "entropy_exit_threshold": value}})
    for value in patiences:
        points.append({"policy": "patience", "setting": f"patience {value}",
                       "options": {"exit_policy": "patience", "patience_exit_layers": value}})
    for depth in depths:
        points.append({"policy": "static", "setting": f"depth {depth}",
                       "options": {"exit_policy": "static", "static_image_layers": depth,
                                   "static_text_layers": depth, "static_decoder_layers": depth}})
    return points


def plot_tradeoff(rows: List[Dict[str, Any]], metric_name: str, title: str, path: str) -> None:
    """Metric against expected time reduction, one curve per policy, the full model as a star."""
    figure, axes = plt.subplots(figsize=(6, 4.2), dpi=120)
    for policy, style in (("mue", "o-"), ("entropy", "^-."), ("patience", "v:"), ("static", "s--")):
        points = sorted((r["expected_time_reduction"], r["metric"]) for r in rows if r["policy"] == policy)
        if points:
            axes.plot([100 * x for x, _ in points], [y for _, y in points], style, label=POLICY_LABELS[policy])
    full = next(r for r in rows if r["policy"] == "full")
    axes.plot([0], [full["metric"]], "k*", markersize=14, label="full model")
    axes.set_xlabel("expected time reduction (%)")
    axes.set_ylabel(metric_name)
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    with atomic_destination(path) as temporary:
        figure.savefig(temporary)
    plt.close(figure)


def markdown_table(rows: List[Dict[str, Any]], metric_name: str) -> str:
    """The sweep as a markdown table."""
    header = ["policy", "setting", metric_name, "expected time reduction", "wall-clock reduction",
              "image layers", "text layers", "decoder layers"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        lines.append(f"| {r['policy']} | {r['setting']} | {r['metric']:.4f} | {100 * r['expected_time_reduction']:.1f}% "
                     f"| {100 * r['wall_clock_reduction']:.1f}% | {r['image_layers']:.2f} | {r['text_layers']:.2f} "
                     f"| {r['decoder_layers']:.2f} |")
    return "\n".join(lines) + "\n"


def build_sweep_parser() -> argparse.ArgumentParser:
    """The evaluation options plus the sweep's grid and output folder."""
    parser = build_parser()
    group = parser.add_argument_group("sweep")
    group.add_argument("--sweep-dir", required=True, help="folder for sweep.csv, sweep.md and tradeoff.png")
    group.add_argument("--thresholds", default=DEFAULT_THRESHOLDS,
                       help=f"MuE thresholds to try, all streams alike (default {DEFAULT_THRESHOLDS})")
    group.add_argument("--depths", default=None,
                       help="static depths to try, all streams alike (default: every depth below the model's)")
    group.add_argument("--entropies", default=DEFAULT_ENTROPIES,
                       help=f"entropy-policy thresholds in nats (default {DEFAULT_ENTROPIES})")
    group.add_argument("--patiences", default=None,
                       help="patience-policy layer counts (default: 1 to the decoder depth - 1)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> List[Dict[str, Any]]:
    """Command-line entry point: returns the table's rows."""
    parser = build_sweep_parser()
    setup, args = load_evaluation(parser, argv, trades_off_exits="sweep")
    depth = min(setup.models[0].encoder.num_layers, setup.models[0].decoder.num_layers)
    depths = [int(d) for d in _floats(args.depths)] if args.depths else list(range(1, depth))
    decoder_depth = setup.models[0].decoder.num_layers
    patiences = [int(p) for p in _floats(args.patiences)] if args.patiences is not None \
        else list(range(1, decoder_depth))
    points = sweep_points(_floats(args.thresholds), depths, _floats(args.entropies), patiences)
    metric_name = MAIN_METRIC[setup.task.cfg._name]
    rows: List[Dict[str, Any]] = []
    setup.set_exit_options(exit_profile=None, **points[0]["options"])
    setup.evaluate(quick_metrics=True)  # warm-up, so that the full model's time is not inflated
    for point in tqdm(points, desc="sweep", unit="setting"):
        setup.set_exit_options(exit_profile=None, **point["options"])
        result = setup.evaluate(quick_metrics=True)
        layers = result["layers"]
        rows.append({"policy": point["policy"], "setting": point["setting"],
                     "metric": result["metrics"][metric_name], "metrics": result["metrics"],
                     "expected_time_reduction": layers["expected_time_reduction"], "seconds": result["seconds"],
                     "image_layers": layers["image_layers"], "text_layers": layers["text_layers"],
                     "decoder_layers": layers["decoder_layers"]})
    full_seconds = rows[0]["seconds"]
    for row in rows:
        row["wall_clock_reduction"] = 1.0 - row["seconds"] / full_seconds
    out = args.sweep_dir
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_atomically(os.path.join(out, "sweep.csv"), buffer.getvalue())
    table = markdown_table(rows, metric_name)
    write_atomically(os.path.join(out, "sweep.md"), table)
    task_name = setup.task.cfg._name
    plot_tradeoff(rows, metric_name, f"{task_name} ({setup.split}): quality vs expected time reduction",
                  os.path.join(out, "tradeoff.png"))
    print(table)
    return rows


def cli_main() -> None:
    """Console entry point with one-line errors for bad input."""
    run_cli(main)


if __name__ == "__main__":
    cli_main()
