"""The per-example oracle exit: what an exit that adapts to each input could reach at all.

Static truncation runs every example at one image/text/decoder depth combination; an exit
that adapts to the input picks a combination per example. The *oracle* picks it knowing each
example's score at every combination of the sweep, so no input-adaptive choice among those
combinations does better: if the oracle is barely above static truncation's envelope, no exit
policy (MuE's or another) can beat a fixed depth by much on this model and split; if it is far
above, the room is there and the question is whether the policy finds it. (MuE stops at
points of its own, per stream and per decoder token, so it is not confined to the grid: the
oracle is a yardstick for it, not a proof.)

Scores are capped at the full model's, per example: the oracle gets no credit for a shallow
depth that is right by luck where the full model is wrong (with dozens of combinations and
three labels nearly every example has one). With a penalty ``lam`` per unit of time share it
picks, per example, the combination with the largest ``min(score, full score) - lam * time
share`` (ties: the cheaper). At ``lam = 0`` that keeps exactly the full model's quality at the
cheapest combinations that do (the *lossless* bound); larger penalties trade quality for time,
and the points over :data:`PENALTIES` trace the oracle's curve. Like the test-split envelope,
the oracle is chosen on the split it is scored on.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .envelope import TOLERANCE, Point, envelope_at, envelope_vertices, upper_hull  # noqa: E402
from .paper_tables import curve_rows, number_cell, static_rows, static_settings  # noqa: E402
from .result_files import save_figure  # noqa: E402

Row = Dict[str, Any]
PENALTIES = (0.0, *np.geomspace(1e-3, 1e3, 61).tolist())
"""The penalties per unit of time share that trace the oracle's curve (in units of the metric)."""


def example_matrix(rows: Sequence[Row], example_scores: Mapping[Tuple[str, str], np.ndarray]
                   ) -> Tuple[List[str], np.ndarray, np.ndarray]:
    """The full model (first) and every static setting of a sweep: their names, per-example scores
    and per-example time shares (each ``settings x examples``; the shares of the rows' records,
    :func:`ofa_mue.core.time_reduction.time_share`)."""
    settings = static_rows(rows)
    names = ["full model", *[name for name in settings if name != "full model"]]
    scores = np.stack([example_scores[(settings[name]["curve"], settings[name]["setting"])] for name in names])
    shares = np.array([[record["layers"]["time_share"] for record in settings[name]["records"]] for name in names])
    return names, scores, shares


def oracle_point(scores: np.ndarray, shares: np.ndarray, penalty: float) -> Point:
    """(expected time reduction, quality) of the oracle at ``penalty`` (module docstring); row 0
    of ``scores`` and ``shares`` is the full model."""
    capped = np.minimum(scores, scores[0])
    value = capped - penalty * shares
    best = value.max(axis=0)
    # among the combinations within rounding of the best value, the cheapest
    cost = np.where(value >= best - TOLERANCE, shares, np.inf)
    choice = cost.argmin(axis=0)
    columns = np.arange(scores.shape[1])
    return 1.0 - float(shares[choice, columns].mean()), float(capped[choice, columns].mean())


def largest_reduction_keeping(hull: Sequence[Point], quality: float) -> Optional[float]:
    """The largest expected reduction at which the upper hull ``hull`` (by increasing
    reduction) is at or above ``quality``; None if it never is."""
    best = None
    for left, right in zip(hull, hull[1:]):
        if left[1] >= quality - TOLERANCE:
            best = left[0]
            if right[1] < quality - TOLERANCE:  # crosses within this segment
                return left[0] + (right[0] - left[0]) * (left[1] - quality) / (left[1] - right[1])
    if hull and hull[-1][1] >= quality - TOLERANCE:
        best = hull[-1][0]
    return best


def adaptivity_bound(rows: Sequence[Row], example_scores: Mapping[Tuple[str, str], np.ndarray]
                     ) -> Tuple[List[Row], Dict[str, Any]]:
    """At each level of MuE's sweep (curve ``mue``, reduction above 0, and the calibrated
    ``mue_given``): MuE's quality, static truncation's envelope and the oracle's (the upper
    envelope of its points) at the same expected reduction. The summary has the oracle's
    points, and the largest expected reduction that keeps the full model's quality for the
    oracle (the lossless bound), static truncation (its envelope) and MuE (its levels)."""
    _, scores, shares = example_matrix(rows, example_scores)
    full = float(scores[0].mean())
    # the full model on every example is one of the oracle's choices
    points = sorted({(0.0, full), *(oracle_point(scores, shares, penalty) for penalty in PENALTIES)})
    oracle_hull = upper_hull(points)
    static_hull = upper_hull(list(static_settings(rows).values()))
    table = []
    for row in [*curve_rows(rows, "mue"), *curve_rows(rows, "mue_given")]:
        x = row["expected_time_reduction"]
        if row["curve"] == "mue" and x <= TOLERANCE:
            continue
        static, oracle = envelope_at(static_hull, x), envelope_at(oracle_hull, x)
        table.append({"setting": row["setting"], "level": row["curve"] == "mue", "expected_time_reduction": x,
                      "mue_metric": row["metric"], "static_envelope": static and static.quality,
                      "oracle": oracle and oracle.quality,
                      "headroom": None if static is None or oracle is None else oracle.quality - static.quality})
    mue_lossless = [row["expected_time_reduction"] for row in curve_rows(rows, "mue")
                    if row["metric"] >= full - TOLERANCE]
    summary = {"full_metric": full, "examples": int(scores.shape[1]), "combinations": int(scores.shape[0]),
               "oracle_points": [{"expected_time_reduction": x, "metric": y} for x, y in points],
               "lossless_reduction": {"oracle": largest_reduction_keeping(oracle_hull, full),
                                      "static_envelope": largest_reduction_keeping(static_hull, full),
                                      "mue": max(mue_lossless, default=None)}}
    return table, summary


def _share(value: Optional[float]) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def adaptivity_markdown(table: Sequence[Row], summary: Dict[str, Any], metric_name: str) -> str:
    """The bound as markdown: the lossless reductions, then MuE, static and the oracle per level."""
    lossless = summary["lossless_reduction"]
    lines = [f"The oracle picks one of {summary['combinations']} depth combinations (the full model and every "
             f"static one) per example, knowing every score, {metric_name} capped at the full model's per example "
             f"({summary['examples']} examples).", "",
             f"| largest expected time reduction keeping the full model's {metric_name} "
             f"({number_cell(summary['full_metric'])}) | |", "|---|---|",
             f"| oracle per-example exit (the bound) | {_share(lossless['oracle'])} |",
             f"| static truncation's envelope | {_share(lossless['static_envelope'])} |",
             f"| MuE (its sweep's levels) | {_share(lossless['mue'])} |", "",
             f"| MuE setting | expected time reduction | MuE {metric_name} | static envelope | oracle | "
             "oracle - static |", "|---|---|---|---|---|---|"]
    for entry in table:
        name = entry["setting"] + ("" if entry["level"] else " (calibrated)")
        lines.append(f"| {name} | {_share(entry['expected_time_reduction'])} | {number_cell(entry['mue_metric'])} | "
                     f"{number_cell(entry['static_envelope'])} | {number_cell(entry['oracle'])} | "
                     f"{number_cell(entry['headroom'])} |")
    return "\n".join(lines) + "\n"


def plot_adaptivity(rows: Sequence[Row], table: Sequence[Row], summary: Dict[str, Any], metric_name: str,
                    path: str, record: Dict[str, Any]) -> None:
    """Static truncation's envelope, MuE's levels and the oracle's curve (PNG)."""
    figure, axes = plt.subplots(figsize=(7.5, 4.6), dpi=120)
    static = envelope_vertices(upper_hull(list(static_settings(rows).values())))
    axes.plot([100 * x for x, _ in static], [y for _, y in static], "--", color="0.4", label="static envelope")
    oracle = envelope_vertices(upper_hull([(p["expected_time_reduction"], p["metric"])
                                           for p in summary["oracle_points"]]))
    axes.plot([100 * x for x, _ in oracle], [y for _, y in oracle], "-", color="tab:green",
              label="oracle per-example exit among the static depths")
    mue = sorted((100 * e["expected_time_reduction"], e["mue_metric"]) for e in table if e["level"])
    axes.plot([x for x, _ in mue], [y for _, y in mue], "o-", color="tab:blue", label="MuE (image+text+decoder)")
    axes.axhline(summary["full_metric"], color="0.7", linewidth=0.8, label="full model")
    axes.set_xlabel("expected time reduction (%)")
    axes.set_ylabel(metric_name)
    axes.set_title("What an input-adaptive exit could reach: the per-example oracle", fontsize=9)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7)
    figure.tight_layout(rect=(0, 0.03, 1, 1))
    save_figure(figure, path, record)
