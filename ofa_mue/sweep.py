"""Quality-vs-speed trade-off sweeps of the exit policies on one split, on equal footing.

    python -m ofa_mue.sweep DATA --path CHECKPOINT --task snli_ve --gen-subset test \\
        --batch-size 16 --exit-profile profile.json --sweep-dir results/sweep_snli_ve

One loaded model evaluates, on every row of the split:

- the full model;
- MuE with every threshold set to each value of ``--thresholds`` (image, text and decoder
  exits; the decoder keeps ``--decoder-exit-beta``/``--decoder-exit-tau``), and MuE's
  decoder-only form (decoder threshold only);
- the DeeBERT-style entropy policy at each of ``--entropies`` and the PABEE-style patience
  policy at each of ``--patiences``, in their decoder-only form and, when MuE's encoder
  thresholds are given (``--exit-profile``, or ``--image-exit-threshold``/``--text-exit-threshold``),
  also with those encoder exits, so that they can cut the encoder as MuE does;
- MuE at the given operating point (the calibrated one, with ``--exit-profile``), if any;
- static truncation at every combination of image, text and decoder depths of ``--depths``
  and each part's full depth (default: every depth of each part), drawn as points and as
  their upper envelope (:mod:`ofa_mue.envelope`).

An empty list leaves a policy out. Every curve's label says which parts can exit. The
measured wall-clock reduction of each setting but the static grid comes from
:mod:`ofa_mue.timing`'s protocol (warm-up, interleaved, median of ``--timing-repetitions``
paired ratios against the full model, quartiles reported; ``0`` turns timing off).
Writes ``sweep.csv``, ``sweep.md``, ``sweep.json`` and ``tradeoff.png`` (the task metric against
the expected time reduction rate), each with the commit, machine and date.

Over several processes or machines (untimed: ``--timing-repetitions 0``): ``--num-shards K
--shard-id I`` scores shard I of the split at every setting and writes
``SWEEP_DIR/sweep.shard{I}-of-{K}.json``; ``python -m ofa_mue.merge`` then writes the four
files above from the K shard files, every metric recomputed from the merged per-row records,
equal to an unsharded sweep's (run every shard with the same ``--batch-size``).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
from dataclasses import dataclass, field
from itertools import product
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from fairseq.tasks import TASK_REGISTRY  # noqa: E402
from tqdm import tqdm  # noqa: E402

from .atomic_files import write_atomically  # noqa: E402
from .calibrate import MAIN_METRIC  # noqa: E402
from .calibration_losses import EXAMPLE_METRIC, ExampleScorer  # noqa: E402
from .calibration_table import TARGET_FIELD  # noqa: E402
from .core.exit_policy import DEFAULT_ENTROPY_EXIT_THRESHOLD, DEFAULT_PATIENCE_EXIT_LAYERS, NEVER, MuEThresholds  # noqa: E402
from .envelope import envelope_vertices, upper_hull  # noqa: E402
from .errors import ConfigError  # noqa: E402
from .core.flops import ModelShape  # noqa: E402
from .evaluate import (  # noqa: E402
    EvaluationSetup,
    build_parser,
    help_with_task_options,
    load_evaluation,
    records_from_shard,
    run_cli,
    shard_records,
    split_result,
)
from .provenance import provenance  # noqa: E402
from .sharding import merge_records, write_shard_file  # noqa: E402
from .result_files import markdown_table, save_figure, write_csv, write_markdown  # noqa: E402
from .timing import MIN_REPETITIONS, WARMUP_ROUNDS, check_repetitions, time_evaluation_arms  # noqa: E402

logger = logging.getLogger("ofa_mue.sweep")

DEFAULT_THRESHOLDS = "0.999,0.99,0.98,0.97,0.95,0.93,0.9,0.85,0.8"
DEFAULT_ENTROPIES = "0.05,0.1,0.2,0.4,0.8,1.6"
CURVES = {  # key -> (name, plot style)
    "full": ("full model", "k*"),
    "mue": ("MuE", "o-"),
    "mue_decoder": ("MuE", "o:"),
    "mue_given": ("MuE, operating point", "D"),
    "entropy": ("DeeBERT (entropy)", "^:"),
    "entropy_encoder": ("DeeBERT (entropy) + MuE encoder exits", "^-"),
    "patience": ("PABEE (patience)", "v:"),
    "patience_encoder": ("PABEE (patience) + MuE encoder exits", "v-"),
    "static": ("static truncation", "s"),
}
COLUMNS = ("curve", "policy", "exits", "setting", "metric", "expected_time_reduction", "measured_reduction",
           "measured_reduction_q1", "measured_reduction_q3", "seconds_median", "seconds_spread", "image_layers",
           "text_layers", "decoder_layers", "examples")
STATIC_ENVELOPE_LABEL = "static truncation: upper envelope of the depth grid"


@dataclass
class SweepPoint:
    """One setting to evaluate: its curve (a key of :data:`CURVES`), a readable setting and the
    complete exit options (every exit option, so no setting inherits from the previous one)."""

    curve: str
    setting: str
    options: Dict[str, Any] = field(default_factory=dict)

    @property
    def timed(self) -> bool:
        """The static grid is evaluated for quality only (too many points to time)."""
        return self.curve != "static"


def exit_options(policy: str = "mue", **changes: Any) -> Dict[str, Any]:
    """Every exit option at its 'off' value for ``policy``, with ``changes`` applied (the decoder's
    decay, ``--decoder-exit-beta``/``--decoder-exit-tau``, is left as the command line set it)."""
    options = {"exit_policy": policy, "exit_profile": None, "image_exit_threshold": NEVER,
               "text_exit_threshold": NEVER, "decoder_exit_threshold": NEVER, "static_image_layers": 0,
               "static_text_layers": 0, "static_decoder_layers": 0,
               "entropy_exit_threshold": DEFAULT_ENTROPY_EXIT_THRESHOLD,
               "patience_exit_layers": DEFAULT_PATIENCE_EXIT_LAYERS}
    options.update(changes)
    return options


def policy_points(thresholds: Sequence[float], entropies: Sequence[float] = (), patiences: Sequence[int] = (),
                  encoder: Optional[Tuple[float, float]] = None) -> List[SweepPoint]:
    """The full model, then MuE (all parts, then decoder only) at each threshold, the entropy and
    patience baselines at each value (decoder only, then with MuE's ``encoder`` (image, text)
    thresholds when given)."""
    points = [SweepPoint("full", "-", exit_options())]
    points += [SweepPoint("mue", f"threshold {t:g}", exit_options(image_exit_threshold=t, text_exit_threshold=t,
                                                                   decoder_exit_threshold=t)) for t in thresholds]
    points += [SweepPoint("mue_decoder", f"decoder threshold {t:g}", exit_options(decoder_exit_threshold=t))
               for t in thresholds]
    encoder_forms = [("", {})]
    if encoder is not None:
        image, text = encoder
        encoder_forms.append(("_encoder", {"image_exit_threshold": image, "text_exit_threshold": text}))
    for suffix, encoder_options in encoder_forms:
        points += [SweepPoint(f"entropy{suffix}", f"entropy {h:g}",
                              exit_options("entropy", entropy_exit_threshold=h, **encoder_options)) for h in entropies]
        points += [SweepPoint(f"patience{suffix}", f"patience {k}",
                              exit_options("patience", patience_exit_layers=k, **encoder_options)) for k in patiences]
    return points


def static_grid(depths: Tuple[Sequence[int], Sequence[int], Sequence[int]], encoder_layers: int,
                decoder_layers: int) -> List[SweepPoint]:
    """Static truncation at every (image, text, decoder) depth combination but the full model's."""
    points = []
    for image, text, decoder in product(*depths):
        if (image, text, decoder) == (encoder_layers, encoder_layers, decoder_layers):
            continue  # the full model: already evaluated
        options = exit_options("static", static_image_layers=image if image < encoder_layers else 0,
                               static_text_layers=text if text < encoder_layers else 0,
                               static_decoder_layers=decoder if decoder < decoder_layers else 0)
        points.append(SweepPoint("static", f"image {image} / text {text} / decoder {decoder}", options))
    return points


def parse_depths(text: Optional[str], encoder_layers: int, decoder_layers: int) -> Tuple[List[int], List[int], List[int]]:
    """``--depths``: the image, text and decoder depths to combine (default: every depth of each part;
    each part's full depth is always among them, so that one part can be cut while the others run
    in full). Each part takes the depths it has (``ofa_huge``'s 24-layer encoder takes 13-24, its
    12-layer decoder does not); a depth no part has is a :class:`ConfigError`."""
    if text is None:
        encoder = list(range(1, encoder_layers + 1))
        return encoder, encoder, list(range(1, decoder_layers + 1))
    try:
        values = sorted({int(value) for value in text.split(",") if value.strip()})
    except ValueError:
        raise ConfigError(f"--depths must be comma-separated whole numbers, got {text!r}") from None
    for value in values:
        if value < 1:
            raise ConfigError(f"--depths must be at least 1, got {value}")
        if value > max(encoder_layers, decoder_layers):
            raise ConfigError(f"--depths {value} is deeper than the model's encoder ({encoder_layers} layers) and "
                              f"decoder ({decoder_layers} layers)")
    encoder = sorted({*(v for v in values if v <= encoder_layers), encoder_layers})
    return encoder, encoder, sorted({*(v for v in values if v <= decoder_layers), decoder_layers})


def given_encoder_thresholds(setup: EvaluationSetup) -> Optional[Tuple[float, float]]:
    """MuE's encoder thresholds from the command line (``--exit-profile`` or the threshold flags),
    for the baselines' encoder exits; ``None`` when no encoder exit was given."""
    policy = setup.task.exit_policy()
    if isinstance(policy, MuEThresholds) and policy.encoder_exits:
        return policy.image, policy.text
    return None


def apply_point(setup: EvaluationSetup, point: SweepPoint) -> Dict[str, Any]:
    """Set ``point``'s exit options on ``setup``; what its row says about the setting (curve,
    policy, the parts that can exit, setting, options, whether it is timed)."""
    setup.set_exit_options(**point.options)
    policy = setup.task.exit_policy(setup.models[0])
    return {"curve": point.curve, "policy": "full" if point.curve == "full" else setup.task.cfg.exit_policy,
            "exits": "+".join(policy.exiting_parts) or "none", "setting": point.setting, "options": point.options,
            "timed": point.timed}


def point_row(setting: Dict[str, Any], result: Dict[str, Any], metric_name: str) -> Dict[str, Any]:
    """A sweep row: a setting (:func:`apply_point`) and its whole split's result
    (:func:`~ofa_mue.evaluate.split_result`)."""
    layers = result["layers"]
    return {**setting, "metric": result["metrics"][metric_name], "metrics": result["metrics"],
            "expected_time_reduction": layers["expected_time_reduction"], "image_layers": layers["image_layers"],
            "text_layers": layers["text_layers"], "decoder_layers": layers["decoder_layers"],
            "examples": result["examples"], "records": result["records"]}


def evaluate_points(setup: EvaluationSetup, points: Sequence[SweepPoint], desc: str = "sweep") -> List[Dict[str, Any]]:
    """Evaluate every point on the whole split (main metrics only); one row per point, holding its
    metrics, layers, expected time reduction, the parts that could exit and the per-row records."""
    metric_name = MAIN_METRIC[setup.task.cfg._name]
    rows = []
    for point in tqdm(points, desc=desc, unit="setting"):
        setting = apply_point(setup, point)
        rows.append(point_row(setting, setup.evaluate(quick_metrics=True), metric_name))
    return rows


class ExampleScores(Mapping):
    """``{(curve, setting): per-example scores}`` of rows evaluated on one split (with their
    records): the scores whose mean is the task's main metric (SNLI-VE: right or wrong;
    captions: CIDEr-D per image, :data:`~ofa_mue.calibration_losses.EXAMPLE_METRIC`), in row
    order. A row is scored when first asked for (a caption row costs a tokenizer run), so a
    comparison pays only for the rows it reads."""

    def __init__(self, task: str, rows: Sequence[Dict[str, Any]]):
        for row in rows:
            if [r["row"] for r in row["records"]] != [r["row"] for r in rows[0]["records"]]:
                raise ValueError(f"{row['setting']} was evaluated on other rows than {rows[0]['setting']}")
        first = rows[0]["records"]
        self._metric = EXAMPLE_METRIC[task]
        self._scorer = ExampleScorer(task, [r[TARGET_FIELD[task]] for r in first], [r["prediction"] for r in first])
        self._rows = {(row["curve"], row["setting"]): row for row in rows}
        self._scores: Dict[Tuple[str, str], np.ndarray] = {}

    def __getitem__(self, key: Tuple[str, str]) -> np.ndarray:
        if key not in self._scores:
            predictions = [r["prediction"] for r in self._rows[key]["records"]]
            self._scores[key] = np.asarray(self._scorer(predictions)[self._metric], dtype=float)
        return self._scores[key]

    def __iter__(self) -> Iterator[Tuple[str, str]]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)


def write_sweep_shard(setup: EvaluationSetup, points: Sequence[SweepPoint], out: str) -> Dict[str, Any]:
    """Score the setup's shard at every point and write its shard file into ``out``: per point,
    its setting, seconds and per-row records (see :mod:`ofa_mue.sharding`)."""
    description = {**setup.shard_description(), "points": [[point.curve, point.setting] for point in points]}
    scored = []
    for point in tqdm(points, desc=f"sweep shard {setup.shard.index}", unit="setting"):
        setting = apply_point(setup, point)
        records, seconds = setup.score()
        scored.append({**setting, "seconds": seconds, "records": shard_records(records)})
    path = os.path.join(out, setup.shard.file_name("sweep"))
    device = torch.device("cuda" if setup.use_cuda else "cpu")
    write_shard_file(path, "sweep", setup.shard, description, len(setup.task.dataset(setup.split)),
                     provenance=provenance(device), points=scored)
    logger.info("shard %d of %d: %d settings on %d rows of %s, written to %s", setup.shard.index, setup.shard.count,
                len(points), len(scored[0]["records"]), setup.split, path)
    return {"shard": path, "settings": len(points)}


def merge_sweep(shards: Sequence[Dict[str, Any]], output_dir: str) -> List[Dict[str, Any]]:
    """Write the unsharded sweep's files into ``output_dir`` from its shards (:func:`write_sweep_shard`):
    each setting's metrics and layers recomputed from its merged per-row records (not timed).
    Returns the rows."""
    description = shards[0]["description"]
    task, shape = TASK_REGISTRY[description["task"]], ModelShape(**description["model_shape"])
    metric_name = MAIN_METRIC[description["task"]]
    rows = []
    for index, setting in enumerate(shards[0]["points"]):
        records = records_from_shard(merge_records(shards, lambda shard: shard["points"][index]["records"]))
        result = split_result(task, records, sum(shard["points"][index]["seconds"] for shard in shards), shape,
                              quick_metrics=True)
        rows.append(point_row({k: v for k, v in setting.items() if k not in ("seconds", "records")}, result,
                              metric_name))
    print(write_sweep(rows, output_dir, metric_name, sweep_title(description["task"], description["split"], rows),
                      shards[0]["provenance"], None))
    return rows


def arm_name(row: Dict[str, Any]) -> str:
    """The name of a row's timing arm."""
    return f"{row['curve']}: {row['setting']}"


def measured_fields(row: Dict[str, Any], timing: Optional[Dict[str, Any]]) -> Dict[str, float]:
    """A row's timing (from :func:`ofa_mue.timing.time_evaluation_arms`): median seconds, their spread, and
    the measured reduction against the reference with its quartiles; empty when the row was not timed."""
    arm = (timing or {}).get("arms", {}).get(arm_name(row))
    if arm is None:
        return {}
    ratio = arm["ratio"]
    return {"seconds_median": arm["seconds"]["median_s"], "seconds_spread": arm["seconds"]["spread"],
            "measured_reduction": 1.0 - ratio["median"], "measured_reduction_q1": 1.0 - ratio["q3"],
            "measured_reduction_q3": 1.0 - ratio["q1"]}


def measured_text(row: Dict[str, Any]) -> str:
    """``median [q1, q3]`` of a row's measured reduction, or ``-``."""
    if row.get("measured_reduction") is None:
        return "-"
    return (f"{percent(row['measured_reduction'])} [{percent(row['measured_reduction_q1'])}, "
            f"{percent(row['measured_reduction_q3'])}]")


def time_rows(setup: EvaluationSetup, rows: Sequence[Dict[str, Any]], repetitions: int,
              timing_rows: Optional[int]) -> Optional[Dict[str, Any]]:
    """Time the rows marked ``timed`` (the full model first) with :mod:`ofa_mue.timing`'s protocol."""
    if repetitions == 0:
        return None
    arms = {arm_name(row): row["options"] for row in rows if row["timed"]}
    logger.info("timing %d settings: %d warm-up round(s), then %d interleaved repetitions", len(arms), WARMUP_ROUNDS,
                repetitions)
    return time_evaluation_arms(setup, arms, arm_name(rows[0]), repetitions=repetitions, rows=timing_rows)


def curve_label(rows: Sequence[Dict[str, Any]], curve: str) -> str:
    """A curve's legend: its name and the parts that can exit."""
    exits = sorted({row["exits"] for row in rows if row["curve"] == curve}, key=lambda parts: (len(parts), parts))
    return f"{CURVES[curve][0]} (exits: {', '.join(exits)})"


def plot_tradeoff(rows: Sequence[Dict[str, Any]], metric_name: str, title: str, path: str,
                  record: Dict[str, Any]) -> None:
    """Metric against expected time reduction: one curve per policy form, the static grid as
    points with its upper envelope, the full model as a star."""
    figure, axes = plt.subplots(figsize=(10, 5), dpi=120)
    static = [(100 * r["expected_time_reduction"], r["metric"]) for r in rows if r["curve"] in ("static", "full")]
    if len(static) > 1:
        axes.scatter([x for x, _ in static], [y for _, y in static], s=9, color="0.75", zorder=1,
                     label=f"static truncation: image/text/decoder depth grid ({len(static) - 1} settings)")
        line = envelope_vertices(upper_hull(static))
        axes.plot([x for x, _ in line], [y for _, y in line], "--", color="0.45", zorder=2,
                  label=STATIC_ENVELOPE_LABEL)
    for curve, (_, style) in CURVES.items():
        if curve in ("full", "static"):
            continue
        points = sorted((100 * r["expected_time_reduction"], r["metric"]) for r in rows if r["curve"] == curve)
        if points:
            axes.plot([x for x, _ in points], [y for _, y in points], style, markersize=5, zorder=3,
                      label=curve_label(rows, curve))
    full = next(r for r in rows if r["curve"] == "full")
    axes.plot([0], [full["metric"]], "k*", markersize=13, zorder=4, label="full model")
    axes.set_xlabel("expected time reduction (%)")
    axes.set_ylabel(metric_name)
    axes.set_title(title, fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.tight_layout(rect=(0, 0.02, 1, 1))
    save_figure(figure, path, record)


def percent(value: Optional[float]) -> str:
    """A share as a percentage with one decimal, or ``-``."""
    return "-" if value is None else f"{100 * value:.1f}%"


def sweep_markdown(rows: Sequence[Dict[str, Any]], metric_name: str, timing: Optional[Dict[str, Any]]) -> str:
    """The sweep as a markdown table, with how the times were measured."""
    body = []
    for row in rows:
        body.append([CURVES[row["curve"]][0], row["exits"], row["setting"], f"{row['metric']:.4f}",
                     percent(row["expected_time_reduction"]), measured_text(row), f"{row['image_layers']:.2f}",
                     f"{row['text_layers']:.2f}", f"{row['decoder_layers']:.2f}"])
    header = ["policy", "exits in", "setting", metric_name, "expected time reduction",
              "measured reduction [q1, q3]", "image layers", "text layers", "decoder layers"]
    return markdown_table(header, body) + "\n" + timing_note(timing) + "\n"


def timing_note(timing: Optional[Dict[str, Any]]) -> str:
    """How the measured reductions were obtained (or that they were not)."""
    if timing is None:
        return "Measured reduction: not timed."
    load = timing["load_average_before"]
    busy = ""
    if load is not None and load[0] > timing["usable_cores"]:
        busy = " The machine was busy while timing (load above its cores): read these with care."
    return (f"Measured reduction: 1 - t / t_full, median of {timing['repetitions']} paired ratios [quartiles], "
            f"each setting warmed up ({timing['warmup']} untimed round), the settings interleaved in rotating "
            f"order, on the first {timing['rows']} rows of the split; load average "
            f"{_load(timing['load_average_before'])} before, {_load(timing['load_average_after'])} after, "
            f"{timing['usable_cores']} usable cores.{busy} Static grid points are not timed ('-').")


def _load(load: Optional[List[float]]) -> str:
    return "unknown" if load is None else f"{load[0]:.1f}"


def write_sweep(rows: Sequence[Dict[str, Any]], out: str, metric_name: str, title: str, record: Dict[str, Any],
                timing: Optional[Dict[str, Any]]) -> str:
    """``sweep.csv``, ``sweep.md``, ``sweep.json`` and ``tradeoff.png`` in ``out``; returns the table."""
    write_csv(os.path.join(out, "sweep.csv"), COLUMNS, rows, record)
    table = sweep_markdown(rows, metric_name, timing)
    write_markdown(os.path.join(out, "sweep.md"), title, table, record)
    plain = [{key: value for key, value in row.items() if key != "records"} for row in rows]
    write_atomically(os.path.join(out, "sweep.json"),
                     json.dumps({"provenance": record, "rows": plain, "timing": timing}, indent=2) + "\n")
    plot_tradeoff(rows, metric_name, title, os.path.join(out, "tradeoff.png"), record)
    return table


def add_grid_options(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """The settings grid, shared with ``python -m ofa_mue.reproduce``."""
    group = parser.add_argument_group("settings swept")
    group.add_argument("--thresholds", default=DEFAULT_THRESHOLDS,
                       help=f"MuE thresholds to try, all parts alike, and for MuE's decoder-only form "
                            f"(default {DEFAULT_THRESHOLDS})")
    group.add_argument("--depths", default=None,
                       help="static depths to combine for image, text and decoder, each part's full depth added "
                            "(default: every depth of each part)")
    group.add_argument("--entropies", default=DEFAULT_ENTROPIES,
                       help=f"entropy-policy thresholds in nats (default {DEFAULT_ENTROPIES})")
    group.add_argument("--patiences", default=None,
                       help="patience-policy layer counts (default: 1 to the decoder depth - 1)")
    return group


def grid_points(setup: EvaluationSetup, args: argparse.Namespace) -> List[SweepPoint]:
    """Every point of the sweep the command line asks for (see the module docstring); an
    ``--exit-policy`` other than MuE's is refused: the sweep runs every policy itself."""
    if setup.task.cfg.exit_policy != "mue":
        raise ConfigError(f"--exit-policy {setup.task.cfg.exit_policy}: the sweep runs the entropy, patience and "
                          "static policies itself (--entropies, --patiences, --depths); give MuE's thresholds or "
                          "--exit-profile for MuE's operating point and the baselines' encoder exits")
    model = setup.models[0]
    encoder_layers, decoder_layers = model.encoder.num_layers, model.decoder.num_layers
    patiences = (_numbers(args.patiences, int, "--patiences") if args.patiences is not None
                 else list(range(1, decoder_layers)))
    encoder = given_encoder_thresholds(setup)
    if encoder is None:
        logger.info("no MuE encoder thresholds given (--exit-profile or --image/--text-exit-threshold): the entropy "
                    "and patience baselines run in their decoder-only form only")
    points = policy_points(_numbers(args.thresholds, float, "--thresholds"),
                           _numbers(args.entropies, float, "--entropies"), patiences, encoder)
    given, cfg = setup.task.exit_policy(), setup.task.cfg
    if isinstance(given, MuEThresholds) and (given.exiting_parts or cfg.exit_profile):  # a profile may turn all off
        source = f"profile {os.path.basename(cfg.exit_profile)}" if cfg.exit_profile else "given"
        setting = f"{source}: " + " / ".join(f"{part} {value:g}" if value <= 1.0 else f"{part} off" for part, value in
                                              (("image", given.image), ("text", given.text), ("decoder", given.decoder)))
        points.append(SweepPoint("mue_given", setting, exit_options(
            exit_profile=cfg.exit_profile, image_exit_threshold=cfg.image_exit_threshold,
            text_exit_threshold=cfg.text_exit_threshold, decoder_exit_threshold=cfg.decoder_exit_threshold)))
    points += static_grid(parse_depths(args.depths, encoder_layers, decoder_layers), encoder_layers, decoder_layers)
    return points


def _numbers(text: str, kind, flag: str) -> list:
    try:
        return [kind(value) for value in text.split(",") if value.strip()]
    except ValueError:
        raise ConfigError(f"{flag} must be comma-separated {'whole ' if kind is int else ''}numbers, got {text!r}") \
            from None


def build_sweep_parser() -> argparse.ArgumentParser:
    """The evaluation options plus the sweep's grid, timing and output folder."""
    parser = build_parser()
    parser.add_argument_group("sweep output").add_argument(
        "--sweep-dir", required=True, help="folder for sweep.csv, sweep.md, sweep.json and tradeoff.png")
    add_grid_options(parser)
    add_timing_options(parser)
    return parser


def add_timing_options(parser: argparse.ArgumentParser) -> None:
    """``--timing-repetitions`` and ``--timing-rows`` (shared with the reproduce command)."""
    group = parser.add_argument_group("timing")
    group.add_argument("--timing-repetitions", type=int, default=MIN_REPETITIONS,
                       help=f"interleaved timed repetitions of each timed setting after a warm-up round (0: no "
                            f"timing; otherwise at least {MIN_REPETITIONS}; default {MIN_REPETITIONS})")
    group.add_argument("--timing-rows", type=int, default=None,
                       help="time on the first N rows of the split (default: all)")


def main(argv: Optional[Sequence[str]] = None) -> List[Dict[str, Any]]:
    """Command-line entry point: returns the table's rows."""
    parser = build_sweep_parser()
    help_with_task_options(parser, argv)

    def refuse_timed_shards(args: argparse.Namespace, shard) -> None:
        if shard.is_part and args.timing_repetitions:
            parser.error("--num-shards: a sharded sweep is not timed (the settings' times must come from one "
                         "machine): add --timing-repetitions 0, and time them with an unsharded sweep "
                         "(--timing-rows N keeps it short)")

    setup, args = load_evaluation(parser, argv, refuse_timed_shards, trades_off_exits="sweep")
    check_repetitions(args.timing_repetitions, "--timing-repetitions")
    points = grid_points(setup, args)
    if setup.shard.is_part:
        return write_sweep_shard(setup, points, args.sweep_dir)
    rows = evaluate_points(setup, points)
    timing = time_rows(setup, rows, args.timing_repetitions, args.timing_rows)
    for row in rows:
        row.update(measured_fields(row, timing))
    metric_name = MAIN_METRIC[setup.task.cfg._name]
    device = torch.device("cuda" if setup.use_cuda else "cpu")
    print(write_sweep(rows, args.sweep_dir, metric_name, sweep_title(setup.task.cfg._name, setup.split, rows),
                      provenance(device), timing))
    return rows


def sweep_title(task: str, split: str, rows: Sequence[Dict[str, Any]]) -> str:
    """The sweep's table and figure title."""
    return f"{task} ({split}, {rows[0]['examples']} examples): quality vs expected time reduction"


def cli_main() -> None:
    """Console entry point with one-line errors for bad input."""
    run_cli(main)


if __name__ == "__main__":
    cli_main()
