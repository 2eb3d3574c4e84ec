"""The per-example oracle exit: what an exit that adapts to each input could reach at all.

Static truncation runs every example at one image/text/decoder depth combination; an exit
that adapts to the input picks a combination per example. The *oracle* picks it knowing each
example's score at every combination of the sweep, so no input-adaptive choice among those
combinations does better: if the oracle is barely above static truncation's envelope, no exit
policy (MuE's or another) can beat a fixed depth by much on this model and split. Far above
is weaker evidence: among dozens of combinations a shallow one often agrees with the full
model by luck (on three labels, a third of the time), which no policy can know. The *stable*
oracle (:func:`stable_oracle_reduction`) gives the full model's answers (not only its
quality) and takes only depths from which every deeper combination gives the same answer:
what an exit that stops once its answer has settled could reach. (MuE stops at points of its own, per stream and per decoder token, so it
is not confined to the grid: the oracles are yardsticks for it, not proofs.)

Every quality here is **capped at the full model's, per example** (SNLI-VE: the share of
examples that the setting *and* the full model get right; captions: the mean over images of
the smaller of the two CIDEr-D scores). Uncapped, the oracle would be credited for a shallow
depth that is right by luck where the full model is wrong (with dozens of combinations and
three labels nearly every example has one), and static truncation's best combinations on the
split it is scored on gain from the same luck (``mue_vs_static`` shows them uncapped). Capped,
the full model's quality is the ceiling, a setting's shortfall is what it loses of the full
model's answers, and the oracle is above the capped envelope at every reduction by
construction: the gap is the room for adaptivity.

With a penalty ``lam`` per unit of time share the oracle picks, per example, the combination
with the largest capped score minus ``lam`` times its time share (ties: the cheaper). At
``lam = 0`` that keeps exactly the full model's quality at the cheapest combinations that do
(the *lossless* bound); larger penalties trade quality for time, and the points over
:data:`PENALTIES` trace the oracle's curve. Like the test-split envelope, the oracle is chosen
on the split it is scored on.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .envelope import TOLERANCE, Point, envelope_at, envelope_vertices, upper_hull  # noqa: E402
from .paper_tables import curve_rows, number_cell, static_depths, static_rows  # noqa: E402
from .result_files import save_figure  # noqa: E402
from .sweep import percent  # noqa: E402

Row = Dict[str, Any]
PENALTIES = (0.0, *np.geomspace(1e-3, 1e3, 61).tolist())
"""The penalties per unit of time share that trace the oracle's curve (in units of the metric)."""
UNTRUNCATED = 10**6
"""Stands for a part run in full when depths are compared (deeper than any truncation)."""
KEPT = (1.0, 0.99)
"""The shares of the full model's quality at which the largest expected reductions are reported."""


def _key(row: Row) -> Tuple[str, str]:
    return row["curve"], row["setting"]


def time_shares(row: Row) -> np.ndarray:
    """The per-example time shares of a row's records (:func:`ofa_mue.core.time_reduction.time_share`)."""
    return np.array([record["layers"]["time_share"] for record in row["records"]])


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


def stable_oracle_reduction(agrees: np.ndarray, shares: np.ndarray, depths: np.ndarray) -> float:
    """The expected time reduction of the *stable* oracle: per example, the cheapest depth
    combination from which every deeper one (each of image, text and decoder at least as deep;
    ``depths`` is ``combinations x 3``) gives the full model's answer (``agrees``, combinations x
    examples, row 0 the full model). Its answers are the full model's, right or wrong; a shallow
    depth that agrees by luck, with a deeper one that does not, does not count: the bound an exit
    that stops once its answer has settled could reach."""
    deeper = (depths[None, :, :] >= depths[:, None, :]).all(axis=2)  # deeper[c, d]: d is at least as deep as c
    stable = np.array([agrees[deeper[c]].all(axis=0) for c in range(len(depths))])
    return 1.0 - float(np.where(stable, shares, np.inf).min(axis=0).mean())


def largest_reduction_keeping(hull: Sequence[Point], quality: float) -> Optional[float]:
    """The largest expected reduction at which the upper hull ``hull`` (by increasing
    reduction) is at or above ``quality``; None if it never is."""
    for left, right in zip(hull, hull[1:]):
        if left[1] >= quality - TOLERANCE > right[1]:  # crosses within this segment
            return left[0] + (right[0] - left[0]) * (left[1] - quality) / (left[1] - right[1])
    return hull[-1][0] if hull and hull[-1][1] >= quality - TOLERANCE else None


def adaptivity_bound(rows: Sequence[Row], example_scores: Mapping[Tuple[str, str], np.ndarray]
                     ) -> Tuple[List[Row], Dict[str, Any]]:
    """At each level of MuE's sweep (curve ``mue``, reduction above 0, and the calibrated
    ``mue_given``): MuE's capped quality, static truncation's capped envelope and the oracle's
    (the upper envelope of its points) at the same expected reduction (module docstring). The
    summary has the oracle's points, and the largest expected reduction that keeps all and 99%
    of the full model's quality for the oracle, static truncation and MuE (each the upper hull
    of its points: a setting, or a per-example mix of two). ``rows`` need their ``records``."""
    settings = static_rows(rows)
    full_scores = example_scores[_key(settings["full model"])]
    ordered = [settings["full model"], *(row for name, row in settings.items() if name != "full model")]
    depths = np.array([static_depths(row, UNTRUNCATED, UNTRUNCATED) for row in ordered], dtype=float)
    answers = [[record["prediction"] for record in row["records"]] for row in ordered]
    agrees = np.array([[mine == full for mine, full in zip(row, answers[0])] for row in answers])
    capped = {_key(row): np.minimum(example_scores[_key(row)], full_scores)
              for row in [*ordered, *curve_rows(rows, "mue"), *curve_rows(rows, "mue_given")]}
    scores = np.stack([capped[_key(row)] for row in ordered])
    shares = np.stack([time_shares(row) for row in ordered])
    full = float(full_scores.mean())
    hulls = {
        # the full model on every example is one of the oracle's choices
        "oracle": upper_hull([(0.0, full), *(oracle_point(scores, shares, lam) for lam in PENALTIES)]),
        "static_envelope": upper_hull([(row["expected_time_reduction"], float(capped[_key(row)].mean()))
                                       for row in ordered]),
        "mue": upper_hull([(0.0, full), *((row["expected_time_reduction"], float(capped[_key(row)].mean()))
                                          for row in curve_rows(rows, "mue"))]),
    }
    table = []
    for row in [*curve_rows(rows, "mue"), *curve_rows(rows, "mue_given")]:
        x = row["expected_time_reduction"]
        if row["curve"] == "mue" and x <= TOLERANCE:
            continue
        mue = float(capped[_key(row)].mean())
        static, oracle = envelope_at(hulls["static_envelope"], x), envelope_at(hulls["oracle"], x)
        table.append({"setting": row["setting"], "level": row["curve"] == "mue", "expected_time_reduction": x,
                      "mue_capped": mue, "static_envelope_capped": static and static.quality,
                      "oracle": oracle and oracle.quality,
                      "mue_minus_static": None if static is None else mue - static.quality,
                      "oracle_minus_static": None if static is None or oracle is None
                      else oracle.quality - static.quality})
    summary = {"full_metric": full, "examples": int(scores.shape[1]), "combinations": int(scores.shape[0]),
               "oracle_points": [{"expected_time_reduction": x, "metric": y} for x, y in hulls["oracle"]],
               "static_points_capped": [{"expected_time_reduction": x, "metric": y} for x, y in hulls["static_envelope"]],
               "mue_points_capped": [{"expected_time_reduction": x, "metric": y} for x, y in hulls["mue"]],
               "largest_reduction_keeping": {
                   share: {name: largest_reduction_keeping(hull, share * full) for name, hull in hulls.items()}
                   for share in KEPT},
               "stable_oracle_reduction": stable_oracle_reduction(agrees, shares, depths)}
    return table, summary


def adaptivity_markdown(table: Sequence[Row], summary: Dict[str, Any], metric_name: str) -> str:
    """The bound as markdown: the largest reductions that keep the full model's quality, then
    MuE, static truncation and the oracle at each level of MuE's sweep (all capped)."""
    kept = summary["largest_reduction_keeping"]
    lines = [f"{metric_name} capped at the full model's per example ({summary['examples']} examples; full model "
             f"{number_cell(summary['full_metric'])}); the oracle picks one of {summary['combinations']} depth "
             "combinations (the full model and every static one) per example, knowing every score.", "",
             "| largest expected time reduction keeping | oracle per-example exit | static truncation's envelope "
             "| MuE |", "|---|---|---|---|"]
    for share, by in kept.items():
        lines.append(f"| {100 * float(share):.0f}% of the full model's {metric_name} | {percent(by['oracle'])} | "
                     f"{percent(by['static_envelope'])} | {percent(by['mue'])} |")
    lines.append(f"| the full model's answers, from a depth where every deeper combination gives them (stable oracle) | "
                 f"{percent(summary['stable_oracle_reduction'])} | - | - |")
    lines += ["", "| MuE setting | expected time reduction | MuE | static envelope | oracle | MuE - static | "
                  "oracle - static |", "|---|---|---|---|---|---|---|"]
    for entry in table:
        name = entry["setting"] + ("" if entry["level"] else " (calibrated)")
        lines.append(f"| {name} | {percent(entry['expected_time_reduction'])} | {number_cell(entry['mue_capped'])} | "
                     f"{number_cell(entry['static_envelope_capped'])} | {number_cell(entry['oracle'])} | "
                     f"{number_cell(entry['mue_minus_static'], '+.4f')} | "
                     f"{number_cell(entry['oracle_minus_static'], '+.4f')} |")
    return "\n".join(lines) + "\n"


def plot_adaptivity(table: Sequence[Row], summary: Dict[str, Any], metric_name: str, path: str,
                    record: Dict[str, Any]) -> None:
    """Static truncation's envelope, MuE's levels and the oracle's curve, all capped (PNG)."""
    figure, axes = plt.subplots(figsize=(7.5, 4.6), dpi=120)
    curves = (("static_points_capped", "--", "0.4", "static truncation's envelope"),
              ("oracle_points", "-", "tab:green", "oracle per-example exit among the static depths"))
    for key, style, color, label in curves:
        line = envelope_vertices([(p["expected_time_reduction"], p["metric"]) for p in summary[key]])
        axes.plot([100 * x for x, _ in line], [y for _, y in line], style, color=color, label=label)
    mue = sorted((100 * e["expected_time_reduction"], e["mue_capped"]) for e in table if e["level"])
    axes.plot([x for x, _ in mue], [y for _, y in mue], "o-", color="tab:blue", label="MuE (image+text+decoder)")
    axes.axhline(summary["full_metric"], color="0.7", linewidth=0.8, label="full model")
    axes.set_xlabel("expected time reduction (%)")
    axes.set_ylabel(f"{metric_name}, capped at the full model's per example")
    axes.set_title("What an input-adaptive exit could reach: the per-example oracle", fontsize=9)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7)
    figure.tight_layout(rect=(0, 0.03, 1, 1))
    save_figure(figure, path, record)
