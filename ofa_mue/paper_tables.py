"""The MuE paper's tables, built from evaluated settings and written as markdown + CSV + PNG.

Every function here is a pure function of rows as :func:`ofa_mue.sweep.evaluate_points`
makes them (one per setting, all on one split: ``curve``, ``exits``, ``setting``, ``options``,
``metric``, ``metrics``, ``expected_time_reduction``, mean ``image_layers``/``text_layers``/
``decoder_layers``, ``examples``), so each table can be checked against the rows it came
from. ``python -m ofa_mue.reproduce`` evaluates the rows and writes the files:

- Table 1 (:func:`table1_points`, :func:`table1`): the full model, calibrated MuE and each
  other method at one operating point: its best setting among those that save at least MuE's expected time
  (chosen on this split, which favours the baseline), or its largest saving when none does;
- Table 2 (:func:`table2`): static truncation of the image and text streams, decoder in full;
- Table 3 (:func:`table3`): MuE at each threshold, all parts and decoder only;
- Table 4 (:func:`table4_markdown`): the ablation (variants' full and calibrated-MuE results);
- MuE against a fixed depth (:func:`mue_vs_static`): at each expected-reduction level of
  MuE's sweep, MuE's quality against static truncation's upper envelope
  (:mod:`ofa_mue.envelope`) over every image/text/decoder depth combination swept (thresholds
  with the same exits counted as one level), and, given the static settings evaluated on
  another split, against the depths chosen there.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .envelope import TOLERANCE, envelope_at, envelope_vertices, held_out_choice, upper_hull  # noqa: E402
from .significance import CONFIDENCE, Interval, mean_difference_interval, mixed_scores  # noqa: E402
from .result_files import markdown_table, save_figure, write_csv, write_markdown  # noqa: E402
from .sweep import CURVES, measured_fields, measured_text, percent, timing_note  # noqa: E402

Row = Dict[str, Any]
BASELINE_CURVES = ("mue_decoder", "entropy", "entropy_encoder", "patience", "patience_encoder", "static")
LAYER_COLUMNS = ("image_layers", "text_layers", "decoder_layers")


def _layers(row: Row) -> str:
    return " / ".join(f"{row[name]:.2f}" for name in LAYER_COLUMNS)


def curve_rows(rows: Sequence[Row], curve: str) -> List[Row]:
    """The rows of one curve, in sweep order."""
    return [row for row in rows if row["curve"] == curve]


def write_result(out: str, stem: str, title: str, body: str, columns: Sequence[str], csv_rows: Sequence[Row],
                 record: Dict[str, Any], plot: Callable[[str], None]) -> str:
    """``{stem}.md``, ``{stem}.csv`` and ``{stem}.png`` in ``out``; returns the markdown."""
    write_csv(os.path.join(out, f"{stem}.csv"), columns, csv_rows, record)
    plot(os.path.join(out, f"{stem}.png"))
    return write_markdown(os.path.join(out, f"{stem}.md"), title, body, record)


# ---- Table 1 --------------------------------------------------------------------------
def operating_point(rows: Sequence[Row], curve: str, target: float) -> Optional[Tuple[Row, str]]:
    """A method's row for Table 1: its best quality among settings with an expected reduction
    of at least ``target`` (MuE's), else the setting with its largest reduction."""
    candidates = curve_rows(rows, curve)
    if not candidates:
        return None
    reaching = [row for row in candidates if row["expected_time_reduction"] >= target - TOLERANCE]
    if reaching:
        best = max(reaching, key=lambda row: (row["metric"], row["expected_time_reduction"]))
        return best, "best of its settings saving at least MuE's expected time"
    return max(candidates, key=lambda row: row["expected_time_reduction"]), "its largest saving (below MuE's)"


def table1_points(rows: Sequence[Row]) -> List[Tuple[Row, str]]:
    """Table 1's settings and how each was chosen: the full model, calibrated MuE (curve
    ``mue_given``), then each other method at its :func:`operating_point`."""
    mue = curve_rows(rows, "mue_given")[0]
    points = [(curve_rows(rows, "full")[0], "-"), (mue, "calibrated on the validation split (exit profile)")]
    for curve in BASELINE_CURVES:
        point = operating_point(rows, curve, mue["expected_time_reduction"])
        if point is not None:
            points.append(point)
    return points


def table1(points: Sequence[Tuple[Row, str]], metric_names: Sequence[str],
           full_metrics: Callable[[Row], Dict[str, float]], timing: Optional[Dict[str, Any]] = None) -> List[Row]:
    """Table 1's rows for :func:`table1_points`: ``full_metrics(row)`` gives a row's complete
    metrics, ``timing`` (from :func:`ofa_mue.timing.time_evaluation_arms`, arms named by
    :func:`ofa_mue.sweep.arm_name`) the measured times. The first point is the full model."""
    full_value = points[0][0]["metric"]
    table = []
    for row, how in points:
        metrics = full_metrics(row)
        entry = {"method": CURVES[row["curve"]][0], "curve": row["curve"], "exits": row["exits"],
                 "setting": row["setting"], "chosen": how, **{name: metrics.get(name) for name in metric_names},
                 "retention": row["metric"] / full_value if full_value else None,
                 "expected_time_reduction": row["expected_time_reduction"], "examples": row["examples"],
                 "options": row["options"], **{name: row[name] for name in LAYER_COLUMNS}}
        table.append({**entry, **measured_fields(row, timing)})
    return table


def table1_markdown(table: Sequence[Row], metric_names: Sequence[str], main_metric: str,
                    timing: Optional[Dict[str, Any]]) -> str:
    body = []
    for entry in table:
        body.append([entry["method"], entry["exits"], entry["setting"],
                     *(f"{entry[name]:.4f}" if entry[name] is not None else "-" for name in metric_names),
                     percent(entry["retention"]), percent(entry["expected_time_reduction"]), measured_text(entry),
                     _layers(entry), entry["chosen"]])
    header = ["method", "exits in", "setting", *metric_names, f"{main_metric} kept", "expected time reduction",
              "measured reduction [q1, q3]", "layers image / text / decoder", "operating point"]
    note = timing_note(timing).replace(" Static grid points are not timed ('-').", "")
    return (markdown_table(header, body) + "\n" + note + " Baselines' operating points are chosen on the evaluated "
            "split itself, which can only favour them; MuE's comes from the validation split.\n")


def plot_table1(table: Sequence[Row], main_metric: str, path: str, record: Dict[str, Any]) -> None:
    """Left: quality against expected reduction per method; right: expected and measured reduction."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6), dpi=120)
    markers = "*Dos^v<>ph"
    for index, entry in enumerate(table):
        left.scatter(100 * entry["expected_time_reduction"], entry[main_metric], s=40, marker=markers[index % 10],
                     label=f"{entry['method']} ({entry['exits']})")
    left.set_xlabel("expected time reduction (%)")
    left.set_ylabel(main_metric)
    left.grid(alpha=0.3)
    left.legend(fontsize=6)
    names = [f"{entry['method']}\n({entry['exits']})" for entry in table]
    positions = range(len(table))
    right.bar([p - 0.2 for p in positions], [100 * e["expected_time_reduction"] for e in table], width=0.4,
              label="expected")
    measured = [100 * e["measured_reduction"] if e.get("measured_reduction") is not None else 0.0 for e in table]
    errors = [[100 * (e["measured_reduction"] - e["measured_reduction_q1"]) if "measured_reduction_q1" in e else 0.0
               for e in table],
              [100 * (e["measured_reduction_q3"] - e["measured_reduction"]) if "measured_reduction_q3" in e else 0.0
               for e in table]]
    right.bar([p + 0.2 for p in positions], measured, width=0.4, yerr=errors, capsize=2,
              label="measured (median, quartiles)")
    right.set_xticks(list(positions))
    right.set_xticklabels(names, fontsize=5.5, rotation=45, ha="right")
    right.set_ylabel("time reduction (%)")
    right.legend(fontsize=7)
    right.grid(alpha=0.3, axis="y")
    figure.tight_layout(rect=(0, 0.03, 1, 1))
    save_figure(figure, path, record)


# ---- Table 2 --------------------------------------------------------------------------
def static_depths(row: Row, encoder_layers: int, decoder_layers: int) -> Tuple[int, int, int]:
    """A static (or the full model's) row's image, text and decoder depths."""
    options = row["options"]
    if row["curve"] == "full":
        return encoder_layers, encoder_layers, decoder_layers
    return (options["static_image_layers"] or encoder_layers, options["static_text_layers"] or encoder_layers,
            options["static_decoder_layers"] or decoder_layers)


def table2(rows: Sequence[Row], encoder_layers: int, decoder_layers: int) -> List[Row]:
    """Image depth x text depth, decoder in full: quality and expected reduction of each combination."""
    table = []
    for row in rows:
        if row["curve"] not in ("full", "static"):
            continue
        image, text, decoder = static_depths(row, encoder_layers, decoder_layers)
        if decoder == decoder_layers:
            table.append({"image_layers": image, "text_layers": text, "metric": row["metric"],
                          "expected_time_reduction": row["expected_time_reduction"]})
    return sorted(table, key=lambda entry: (entry["image_layers"], entry["text_layers"]))


def table2_markdown(table: Sequence[Row], metric_name: str) -> str:
    images = sorted({entry["image_layers"] for entry in table})
    texts = sorted({entry["text_layers"] for entry in table})
    cells = {(entry["image_layers"], entry["text_layers"]): entry for entry in table}
    body = []
    for image in images:
        line = [f"image {image}"]
        for text in texts:
            entry = cells.get((image, text))
            line.append("-" if entry is None else
                        f"{entry['metric']:.4f} ({percent(entry['expected_time_reduction'])})")
        body.append(line)
    return (f"Cells: {metric_name} (expected time reduction); rows: image-stream depth, columns: text-stream "
            "depth; every decoder layer runs.\n\n" + markdown_table(["", *(f"text {t}" for t in texts)], body))


def plot_table2(table: Sequence[Row], metric_name: str, path: str, record: Dict[str, Any]) -> None:
    images = sorted({entry["image_layers"] for entry in table})
    texts = sorted({entry["text_layers"] for entry in table})
    cells = {(entry["image_layers"], entry["text_layers"]): entry for entry in table}
    grid = [[cells[(i, t)]["metric"] if (i, t) in cells else float("nan") for t in texts] for i in images]
    figure, axes = plt.subplots(figsize=(1.1 * len(texts) + 2.5, 0.8 * len(images) + 1.8), dpi=120)
    image = axes.imshow(grid, cmap="viridis", aspect="auto")
    for y, i in enumerate(images):
        for x, t in enumerate(texts):
            if (i, t) in cells:
                entry = cells[(i, t)]
                axes.text(x, y, f"{entry['metric']:.3f}\n{percent(entry['expected_time_reduction'])}",
                          ha="center", va="center", fontsize=6, color="w")
    axes.set_xticks(range(len(texts)), [str(t) for t in texts])
    axes.set_yticks(range(len(images)), [str(i) for i in images])
    axes.set_xlabel("text-stream depth")
    axes.set_ylabel("image-stream depth")
    axes.set_title(f"{metric_name} (expected time reduction), full decoder", fontsize=9)
    figure.colorbar(image, ax=axes)
    figure.tight_layout(rect=(0, 0.04, 1, 1))
    save_figure(figure, path, record)


# ---- Table 3 --------------------------------------------------------------------------
def table3(rows: Sequence[Row]) -> List[Row]:
    """MuE at each threshold (all parts, then decoder only) and at the calibrated profile."""
    full_value = curve_rows(rows, "full")[0]["metric"]
    table = []
    for row in [*curve_rows(rows, "mue"), *curve_rows(rows, "mue_decoder"), *curve_rows(rows, "mue_given")]:
        options = row["options"]
        table.append({"form": row["exits"], "curve": row["curve"], "setting": row["setting"],
                      "threshold": None if row["curve"] == "mue_given" else options["decoder_exit_threshold"],
                      "metric": row["metric"], "retention": row["metric"] / full_value if full_value else None,
                      "expected_time_reduction": row["expected_time_reduction"],
                      **{name: row[name] for name in LAYER_COLUMNS}})
    return table


def table3_markdown(table: Sequence[Row], metric_name: str) -> str:
    body = [[entry["form"], entry["setting"], f"{entry['metric']:.4f}", percent(entry["retention"]),
             percent(entry["expected_time_reduction"]), _layers(entry)] for entry in table]
    return markdown_table(["exits in", "setting", metric_name, f"{metric_name} kept", "expected time reduction",
                           "layers image / text / decoder"], body)


def plot_table3(table: Sequence[Row], metric_name: str, path: str, record: Dict[str, Any]) -> None:
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), dpi=120)
    for curve, style in (("mue", "o-"), ("mue_decoder", "o:")):
        mine = sorted((e for e in table if e["curve"] == curve), key=lambda e: e["threshold"])
        if not mine:
            continue
        label = f"exits in {mine[0]['form']}"
        left.plot([e["threshold"] for e in mine], [e["metric"] for e in mine], style, label=label)
        right.plot([e["threshold"] for e in mine], [100 * e["expected_time_reduction"] for e in mine], style,
                   label=label)
    for axis, name in ((left, metric_name), (right, "expected time reduction (%)")):
        axis.set_xlabel("MuE threshold")
        axis.set_ylabel(name)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.suptitle("MuE at each threshold", fontsize=10)
    figure.tight_layout(rect=(0, 0.04, 1, 1))
    save_figure(figure, path, record)


# ---- Table 4 --------------------------------------------------------------------------
TABLE4_COLUMNS = ("variant", "checkpoint", "profile", "inference", "full_metric", "metric", "retention",
                  "expected_time_reduction", "image_layers", "text_layers", "decoder_layers", "examples")


def table4_markdown(table: Sequence[Row], metric_name: str) -> str:
    body = []
    for entry in table:
        if entry.get("metric") is None:
            body.append([entry["variant"], "-", "-", "-", "-", "-", entry["inference"]])
            continue
        body.append([entry["variant"], f"{entry['full_metric']:.4f}", f"{entry['metric']:.4f}",
                     percent(entry["retention"]), percent(entry["expected_time_reduction"]), _layers(entry),
                     entry["inference"]])
    return markdown_table(["variant", f"full model {metric_name}", f"MuE {metric_name}", "kept",
                           "expected time reduction", "layers image / text / decoder", "how it runs"], body)


def plot_table4(table: Sequence[Row], metric_name: str, path: str, record: Dict[str, Any]) -> None:
    done = [entry for entry in table if entry.get("metric") is not None]
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.8), dpi=120)
    positions = range(len(done))
    left.bar([p - 0.2 for p in positions], [e["full_metric"] for e in done], width=0.4, label="full model")
    left.bar([p + 0.2 for p in positions], [e["metric"] for e in done], width=0.4, label="MuE (calibrated)")
    right.bar(list(positions), [100 * e["expected_time_reduction"] for e in done], width=0.5)
    for axis, name in ((left, metric_name), (right, "MuE's expected time reduction (%)")):
        axis.set_xticks(list(positions))
        axis.set_xticklabels([e["variant"] for e in done], fontsize=6, rotation=20, ha="right")
        axis.set_ylabel(name)
        axis.grid(alpha=0.3, axis="y")
    left.legend(fontsize=7)
    figure.suptitle("Ablation", fontsize=10)
    figure.tight_layout(rect=(0, 0.04, 1, 1))
    save_figure(figure, path, record)


# ---- MuE against a fixed depth ------------------------------------------------------------
def static_name(row: Row) -> str:
    """How the comparison with static truncation names a full-model or static row."""
    return "full model" if row["curve"] == "full" else row["setting"]


def static_rows(rows: Sequence[Row]) -> Dict[str, Row]:
    """{setting: row} of the full model and every static setting (:func:`static_name`)."""
    return {static_name(row): row for row in rows if row["curve"] in ("full", "static")}


def static_settings(rows: Sequence[Row]) -> Dict[str, Tuple[float, float]]:
    """{setting: (expected reduction, quality)} of the full model and every static setting."""
    return {name: (row["expected_time_reduction"], row["metric"]) for name, row in static_rows(rows).items()}


def static_points(settings: Dict[str, Tuple[float, float]]) -> Dict[Tuple[float, float], str]:
    """(expected reduction, quality) -> its (first) setting, of :func:`static_settings`."""
    points: Dict[Tuple[float, float], str] = {}
    for setting, point in settings.items():
        points.setdefault(point, setting)
    return points


def _verdict(difference: float) -> str:
    return "above" if difference > TOLERANCE else ("equal" if difference >= -TOLERANCE else "below")


def _counts(levels: Sequence[Row], verdict: str, significance: Optional[str] = None) -> Dict[str, Any]:
    above = sum(entry[verdict] == "above" for entry in levels)
    equal = sum(entry[verdict] == "equal" for entry in levels)
    counts = {"levels": len(levels), "strictly_above": above, "equal": equal, "below": len(levels) - above - equal,
              "at_or_above": above + equal, "mue_beats_fixed_depth": above + equal >= 3 and above >= 1}
    if significance is not None:
        counts.update(significantly_above=sum(entry[significance] == "above" for entry in levels),
                      significantly_below=sum(entry[significance] == "below" for entry in levels))
    return counts


def _interval(mue: np.ndarray, left: np.ndarray, right: np.ndarray, share: float) -> Interval:
    return mean_difference_interval(mue - mixed_scores(left, right, share))


def static_grid_summary(rows: Sequence[Row], encoder_layers: int, decoder_layers: int) -> Dict[str, Any]:
    """The depths of each part that the full model and static settings of ``rows`` combine, and
    whether they are every depth of the model (``every_depth``: every combination evaluated)."""
    combinations = {static_depths(row, encoder_layers, decoder_layers) for row in static_rows(rows).values()}
    depths = {part: sorted({combination[index] for combination in combinations})
              for index, part in enumerate(("image", "text", "decoder"))}
    every = (depths["image"] == depths["text"] == list(range(1, encoder_layers + 1))
             and depths["decoder"] == list(range(1, decoder_layers + 1))
             and len(combinations) == encoder_layers ** 2 * decoder_layers)
    return {"static_depths": depths, "every_depth": every}


def mue_vs_static(rows: Sequence[Row], chosen_rows: Optional[Sequence[Row]] = None,
                  chosen_on: Optional[str] = None,
                  example_scores: Optional[Mapping[Tuple[str, str], np.ndarray]] = None,
                  model_depths: Optional[Tuple[int, int]] = None) -> Tuple[List[Row], Dict[str, Any]]:
    """MuE's quality against static truncation's envelope at each level of MuE's sweep (curve ``mue``,
    expected reduction above 0) and at the calibrated point (``mue_given``, not counted as a level).
    A threshold whose expected reduction and quality equal an earlier threshold's (the same exits)
    is the same level: it is shown (``same_as``) but not counted again.

    With ``chosen_rows`` (the full model and static settings evaluated on another split, named
    ``chosen_on``), each level is also compared with static truncation *chosen* on that split at
    MuE's reduction and scored on this one (:func:`ofa_mue.envelope.held_out_choice`).

    With ``example_scores`` (``{(curve, setting): per-example scores}`` of ``rows``, from
    :class:`ofa_mue.sweep.ExampleScores`), each difference also gets its paired bootstrap
    interval (:mod:`ofa_mue.significance`) and whether the interval lies above or below 0.

    With ``model_depths`` (the model's encoder and decoder layers), the summary also names the
    depths the static grid combines (:func:`static_grid_summary`).

    Returns the table and a summary: levels, how many are above, equal to and below the
    envelope (equal: within :data:`~ofa_mue.envelope.TOLERANCE`, floating-point rounding), and
    the verdict (at least 3 levels at or above it, at least one strictly above); with
    ``chosen_rows``, the same counts against the held-out choice under ``chosen_on``; with
    ``example_scores``, how many differences are significantly above and below 0.
    """
    scored, chosen = static_settings(rows), static_settings(chosen_rows or [])
    points = static_points(scored)
    hull = upper_hull(list(points))
    static = static_rows(rows)
    scores_of = lambda name: example_scores[(static[name]["curve"], static[name]["setting"])]  # noqa: E731
    table = []
    for row in [*curve_rows(rows, "mue"), *curve_rows(rows, "mue_given")]:
        x = row["expected_time_reduction"]
        level = row["curve"] == "mue"
        if level and x <= TOLERANCE:
            continue  # saves nothing: no level to compare at
        same_as = next((entry["setting"] for entry in table if entry["level"]
                        and abs(entry["expected_time_reduction"] - x) <= TOLERANCE
                        and abs(entry["mue_metric"] - row["metric"]) <= TOLERANCE), None) if level else None
        mue = None if example_scores is None else example_scores[(row["curve"], row["setting"])]
        envelope = envelope_at(hull, x)
        entry = {"setting": row["setting"], "level": level and same_as is None, "same_as": same_as,
                 "expected_time_reduction": x, "mue_metric": row["metric"],
                 "static_envelope": None, "difference": None, "verdict": "outside the static grid's range",
                 "between": ""}
        if envelope is not None:
            difference = row["metric"] - envelope.quality
            left, right = points[envelope.left], points[envelope.right]
            entry.update(static_envelope=envelope.quality, difference=difference, verdict=_verdict(difference),
                         between=" and ".join(dict.fromkeys((left, right))))
            if mue is not None:
                interval = _interval(mue, scores_of(left), scores_of(right), envelope.share)
                entry.update(difference_low=interval.low, difference_high=interval.high,
                             significance=interval.verdict)
        if chosen_rows is not None:
            choice = held_out_choice(chosen, scored, x)
            entry.update(static_chosen=None, static_chosen_reduction=None, difference_chosen=None,
                         verdict_chosen="outside the static grid's range", chosen_between="")
            if choice is not None:
                entry.update(static_chosen=choice.quality, static_chosen_reduction=choice.reduction,
                             difference_chosen=row["metric"] - choice.quality,
                             verdict_chosen=_verdict(row["metric"] - choice.quality),
                             chosen_between=" and ".join(dict.fromkeys((choice.left, choice.right))))
                if mue is not None:
                    interval = _interval(mue, scores_of(choice.left), scores_of(choice.right), choice.share)
                    entry.update(difference_chosen_low=interval.low, difference_chosen_high=interval.high,
                                 significance_chosen=interval.verdict)
        table.append(entry)
    significance = "significance" if example_scores is not None else None
    levels = [entry for entry in table if entry["level"] and entry["static_envelope"] is not None]
    summary = {**_counts(levels, "verdict", significance), "static_settings": len(static)}
    if model_depths is not None:
        summary.update(static_grid_summary(rows, *model_depths))
    if significance:
        summary["confidence"] = CONFIDENCE
    if chosen_rows is not None:
        held_out = [entry for entry in table if entry["level"] and entry["static_chosen"] is not None]
        summary["chosen_on"] = {"split": chosen_on,
                                **_counts(held_out, "verdict_chosen", significance and "significance_chosen")}
    return table, summary


def number_cell(value: Optional[float], spec: str = ".4f") -> str:
    """A table cell: ``value`` formatted by ``spec``, or ``-``."""
    return "-" if value is None else format(value, spec)


def _level_name(entry: Row) -> str:
    if entry.get("same_as"):
        return f"{entry['setting']} (the level of {entry['same_as']})"
    return entry["setting"] + ("" if entry["level"] else " (not a level)")


def _grid_text(summary: Dict[str, Any]) -> str:
    """Which static settings the envelope is built from (all depth combinations only when they are)."""
    count, depths = summary["static_settings"], summary.get("static_depths")
    if depths is None:
        return f"the {count} image/text/decoder depth combinations evaluated"
    if summary["every_depth"]:
        return f"all {count} image/text/decoder depth combinations (every depth of each part)"
    listed = "; ".join(f"{part} {', '.join(map(str, values))}" for part, values in depths.items())
    return (f"the {count} image/text/decoder depth combinations evaluated ({listed}: not every depth of the "
            "model, and a denser grid can only raise the envelope)")


def interval_cell(entry: Row, low: str, high: str) -> str:
    """A table cell: the interval of ``entry[low]`` and ``entry[high]``, or ``-`` without one."""
    return "-" if entry.get(low) is None else Interval(entry[low], entry[high]).cell()


def _significance_text(counts: Dict[str, Any], confidence: Optional[float]) -> str:
    if "significantly_above" not in counts:
        return ""
    return (f" With {confidence:.0%} paired bootstrap intervals over the examples: {counts['significantly_above']} "
            f"significantly above, {counts['significantly_below']} significantly below, the rest indistinguishable "
            "from it on this split.")


def mue_vs_static_markdown(table: Sequence[Row], summary: Dict[str, Any], metric_name: str) -> str:
    verdict = "yes" if summary["mue_beats_fixed_depth"] else "no"
    intervals = "significantly_above" in summary
    head = (f"**MuE beats a fixed depth: {verdict}** ({summary['levels']} levels of MuE's sweep with a non-zero "
            f"expected reduction: {summary['strictly_above']} above static truncation's envelope, {summary['equal']} "
            f"equal, {summary['below']} below; the claim needs at least 3 at or above and one strictly above; "
            "thresholds with the same reduction and quality are one level; equal means within floating-point "
            f"rounding, {TOLERANCE:g})."
            f"{_significance_text(summary, summary.get('confidence'))} "
            f"The envelope is the upper concave hull of {_grid_text(summary)} (a fixed depth, or a random mix of "
            "two), taken at MuE's expected time reduction or any larger one.\n\n")
    body = [[_level_name(entry), percent(entry["expected_time_reduction"]), number_cell(entry["mue_metric"]),
             number_cell(entry["static_envelope"]), number_cell(entry["difference"], "+.4f"),
             *([interval_cell(entry, "difference_low", "difference_high")] if intervals else []), entry["verdict"],
             entry["between"]] for entry in table]
    text = head + markdown_table(["MuE setting", "expected time reduction", f"MuE {metric_name}",
                                  f"static envelope {metric_name}", "difference",
                                  *([f"{summary['confidence']:.0%} interval"] if intervals else []), "MuE is",
                                  "envelope between"], body)
    if "chosen_on" in summary:
        text += "\n\n" + held_out_markdown(table, summary["chosen_on"], metric_name, summary.get("confidence"))
    return text


def held_out_markdown(table: Sequence[Row], chosen: Dict[str, Any], metric_name: str,
                      confidence: Optional[float] = None) -> str:
    """The comparison with static truncation chosen on another split (:func:`mue_vs_static`)."""
    split = chosen["split"]
    verdict = "yes" if chosen["mue_beats_fixed_depth"] else "no"
    intervals = "significantly_above" in chosen
    head = (f"**Against static truncation chosen on {split}: MuE beats a fixed depth: {verdict}** ({chosen['levels']} "
            f"levels: {chosen['strictly_above']} above, {chosen['equal']} equal, {chosen['below']} below)."
            f"{_significance_text(chosen, confidence)} At each "
            f"level the depths (a fixed depth or a mix of two) are those of the envelope built on the {split} "
            "split at MuE's expected time reduction, scored here: what a user who picks the depth on held-out "
            "data gets, while the envelope above picks the luckiest combination on this split itself.\n\n")
    body = [[_level_name(entry), percent(entry["expected_time_reduction"]), number_cell(entry["mue_metric"]),
             number_cell(entry["static_chosen"]), percent(entry["static_chosen_reduction"]),
             number_cell(entry["difference_chosen"], "+.4f"),
             *([interval_cell(entry, "difference_chosen_low", "difference_chosen_high")] if intervals else []),
             entry["verdict_chosen"], entry["chosen_between"]]
            for entry in table]
    return head + markdown_table(["MuE setting", "expected time reduction", f"MuE {metric_name}",
                                  f"static chosen on {split}: {metric_name}", "its expected time reduction",
                                  "difference", *([f"{confidence:.0%} interval"] if intervals else []), "MuE is",
                                  "depths chosen"], body)


def plot_mue_vs_static(rows: Sequence[Row], table: Sequence[Row], metric_name: str, path: str,
                       record: Dict[str, Any], chosen_on: Optional[str] = None) -> None:
    figure, axes = plt.subplots(figsize=(7.5, 4.6), dpi=120)
    settings = static_settings(rows)
    points = list(static_points(settings))
    axes.scatter([100 * x for x, _ in points], [y for _, y in points], s=9, color="0.75",
                 label=f"static truncation ({len(settings)} depth combinations)")
    line = envelope_vertices(upper_hull(points))
    axes.plot([100 * x for x, _ in line], [y for _, y in line], "--", color="0.4", label="static envelope")
    mue = sorted((100 * e["expected_time_reduction"], e["mue_metric"]) for e in table if e["level"])
    axes.plot([x for x, _ in mue], [y for _, y in mue], "o-", label="MuE (exits: image+text+decoder)")
    for entry in table:
        if entry["static_envelope"] is not None:
            x = 100 * entry["expected_time_reduction"]
            color = {"above": "tab:green", "equal": "tab:olive", "below": "tab:red"}[entry["verdict"]]
            axes.plot([x, x], [entry["static_envelope"], entry["mue_metric"]], color=color, linewidth=2)
    held_out = sorted((100 * e["static_chosen_reduction"], e["static_chosen"]) for e in table
                      if e["level"] and e.get("static_chosen") is not None)
    if held_out:
        axes.plot([x for x, _ in held_out], [y for _, y in held_out], "x", color="0.2",
                  label=f"static truncation chosen on {chosen_on} at MuE's levels")
    calibrated = [e for e in table if not e["level"] and not e.get("same_as")]
    if calibrated:
        axes.plot([100 * e["expected_time_reduction"] for e in calibrated], [e["mue_metric"] for e in calibrated],
                  "D", color="tab:purple", label="MuE, calibrated")
    axes.set_xlabel("expected time reduction (%)")
    axes.set_ylabel(metric_name)
    axes.set_title("MuE against the best fixed depth at the same expected time reduction", fontsize=9)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7)
    figure.tight_layout(rect=(0, 0.03, 1, 1))
    save_figure(figure, path, record)
