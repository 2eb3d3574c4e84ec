"""The calibration table: each exit configuration of a grid evaluated once on the calibration rows.

For every configuration (image, text and decoder thresholds; the decoder's decay and every
other option fixed) the table holds, per example of the split: the prediction, the layers
used, the time share (:func:`ofa_mue.core.time_reduction.time_share`) and the per-example
scores that every calibration loss follows from (:mod:`ofa_mue.calibration_losses`). The
first configuration is the full model (every exit off). Calibration methods, certified or
not, and the repeated-split check (``benchmarks/guarantee_check.py``) only select from the
table: no model runs again. Per-example rows also make tables of disjoint row sets easy to
merge.

Saved as gzip-compressed JSON. A calibration given an existing table reuses it when it was
made with the same checkpoint file, split, task and generation options (else it stops with
a one-line error) and evaluates only the configurations it lacks.
"""
from __future__ import annotations

import gzip
import itertools
import json
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from omegaconf import OmegaConf
from tqdm import tqdm

from .atomic_files import atomic_destination
from .calibration_losses import EXAMPLE_METRIC, ExampleScorer, example_losses
from .core.exit_policy import NEVER
from .core.exit_profile import weights_record
from .errors import ConfigError, DataError

logger = logging.getLogger("ofa_mue.calibration_table")

KNOBS = ("image_exit_threshold", "text_exit_threshold", "decoder_exit_threshold")
TARGET_FIELD = {"snli_ve": "answer", "caption": "references"}
"""The field of an evaluation record that holds what the prediction is scored against."""

Thresholds = Tuple[float, float, float]
FULL_MODEL: Thresholds = (NEVER, NEVER, NEVER)
SAVE_EVERY_S = 300.0


def threshold_grid(image: Sequence[float], text: Sequence[float], decoder: Sequence[float]) -> List[Thresholds]:
    """The full model, then every combination of the candidates with each knob also off
    (duplicates dropped, order kept)."""
    grid = [FULL_MODEL]
    for combination in itertools.product(*([NEVER, *values] for values in (image, text, decoder))):
        combination = tuple(float(v) for v in combination)
        if combination not in grid:
            grid.append(combination)
    return grid


def evaluation_key(setup) -> Dict[str, Any]:
    """What an :class:`~ofa_mue.evaluate.EvaluationSetup`'s results depend on, beside the thresholds:
    the task options hold the exit granularity in effect (not ``None`` for the default); under
    ``step`` a token's depth depends on the other rows of its batch, so the key then also holds
    the batch size (per token and ``auto``, results do not depend on it); with ``--ema-eval`` it
    says that the weights are the checkpoint's EMA weights."""
    task_options = OmegaConf.to_container(setup.task.cfg, resolve=True)
    for name in (*KNOBS, "exit_policy", "exit_profile"):
        task_options.pop(name, None)
    granularity = setup.task.exit_granularity()
    task_options.update(exit_granularity=granularity.mode, exit_step_quantile=granularity.quantile)
    checkpoints = [{"path": path, "bytes": os.stat(path).st_size, "mtime_ns": os.stat(path).st_mtime_ns}
                   for path in setup.cfg.common_eval.path.split(os.pathsep)]
    key = {"checkpoints": checkpoints, "model_overrides": setup.cfg.common_eval.model_overrides,
           "split": setup.split, "task_options": task_options,
           "generation": OmegaConf.to_container(setup.cfg.generation, resolve=True)}
    if granularity.mode == "step":
        key["batch_size"] = setup.batch_size
    key.update(weights_record(getattr(setup, "ema", False)))  # the checkpoint's EMA weights (--ema-eval)
    return json.loads(json.dumps(key))  # as it reads back from a file


@dataclass
class CalibrationTable:
    """Per-example results of exit configurations on one split (see the module docstring).

    ``entries`` maps thresholds ``(image, text, decoder)`` to ``{"predictions", "time_share",
    "image_layers", "text_layers", "decoder_layers", "scores": {name: values}, "seconds"}``,
    each list aligned with ``rows`` (1-based rows of the split) and ``targets``.
    """

    task: str
    evaluation: Dict[str, Any]
    rows: List[int]
    targets: List[Any]
    entries: Dict[Thresholds, Dict[str, Any]] = field(default_factory=dict)
    scorer: Optional[ExampleScorer] = field(default=None, repr=False, compare=False)  # made with the full model's entry

    @property
    def configurations(self) -> List[Thresholds]:
        """Every evaluated configuration, the full model first."""
        return [FULL_MODEL] + [k for k in self.entries if k != FULL_MODEL]

    def losses(self, loss: str, configurations: Sequence[Thresholds], **loss_options: Any) -> np.ndarray:
        """``[K, n]`` per-example ``loss`` of each configuration against the full model."""
        full = self.entries[FULL_MODEL]
        return np.stack([example_losses(self.task, loss, self.entries[c]["predictions"], self.entries[c]["scores"],
                                        full["predictions"], full["scores"], **loss_options)
                         for c in configurations])

    def reductions(self, configurations: Sequence[Thresholds]) -> np.ndarray:
        """``[K, n]`` per-example time reduction (1 - time share) of each configuration."""
        return 1.0 - np.array([self.entries[c]["time_share"] for c in configurations], dtype=float)

    def example_metric(self, configurations: Sequence[Thresholds]) -> np.ndarray:
        """``[K, n]`` per-example main metric (correct answer; CIDEr-D): its row means are the metric."""
        name = EXAMPLE_METRIC[self.task]
        return np.array([self.entries[c]["scores"][name] for c in configurations], dtype=float)

    def save(self, path: str) -> None:
        """Write the table as gzip-compressed JSON, atomically."""
        data = {"task": self.task, "evaluation": self.evaluation, "rows": self.rows, "targets": self.targets,
                "configurations": [{"thresholds": dict(zip(KNOBS, key)), **entry}
                                   for key, entry in self.entries.items()]}
        with atomic_destination(path) as temporary:
            with gzip.open(temporary, "wt", encoding="utf-8") as handle:
                json.dump(data, handle)

    @classmethod
    def load(cls, path: str) -> "CalibrationTable":
        """Read a table written by :meth:`save` (a :class:`DataError` names a bad file)."""
        try:
            with gzip.open(path, "rt", encoding="utf-8") as handle:
                data = json.load(handle)
            entries = {}
            for number, entry in enumerate(data["configurations"], start=1):
                thresholds = entry.pop("thresholds")
                entries[tuple(float(thresholds[k]) for k in KNOBS)] = entry
                if any(len(entry[name]) != len(data["rows"]) for name in ("predictions", "time_share")):
                    raise DataError(path, f"configuration {number} does not have one value per row",
                                    field="configurations")
            return cls(data["task"], data["evaluation"], data["rows"], data["targets"], entries)
        except (OSError, EOFError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
            raise DataError(path, f"not a calibration table ({type(error).__name__}: {error})") from None


def _entry(records: List[Dict[str, Any]], seconds: float, scorer: ExampleScorer) -> Dict[str, Any]:
    predictions = [r["prediction"] for r in records]
    entry: Dict[str, Any] = {"predictions": predictions, "seconds": round(seconds, 3)}
    for name in ("time_share", "image_layers", "text_layers", "decoder_layers"):
        entry[name] = [round(float(r["layers"][name]), 6) for r in records]
    entry["scores"] = {name: [round(v, 6) for v in values] for name, values in scorer(predictions).items()}
    return entry


def add_configuration(table: Optional[CalibrationTable], task: str, key: Dict[str, Any], thresholds: Thresholds,
                      records: List[Dict[str, Any]], seconds: float, where: str) -> CalibrationTable:
    """``table`` (a new one when ``None``: the full model's ``records`` come first) with the entry of
    ``thresholds`` made from a whole split's evaluation records (:func:`~ofa_mue.evaluate.split_result`);
    a :class:`DataError` naming ``where`` when their rows are not the table's."""
    records = sorted(records, key=lambda r: r["row"])
    if table is None:
        table = CalibrationTable(task, key, [r["row"] for r in records], [r[TARGET_FIELD[task]] for r in records])
    if [r["row"] for r in records] != table.rows or [r[TARGET_FIELD[task]] for r in records] != table.targets:
        raise DataError(where, "the rows of the split differ from the table's: delete it or give another --table-path")
    if table.scorer is None:
        full_predictions = ([r["prediction"] for r in records] if thresholds == FULL_MODEL
                            else table.entries[FULL_MODEL]["predictions"])
        table.scorer = ExampleScorer(task, table.targets, full_predictions)
    table.entries[thresholds] = _entry(records, seconds, table.scorer)
    return table


def check_table_task(task: str) -> None:
    """A :class:`ConfigError` for a task calibration does not support."""
    if task not in TARGET_FIELD:
        raise ConfigError(f"calibration supports the tasks {', '.join(TARGET_FIELD)}, not {task}")


def evaluate_grid(setup, grid: Sequence[Thresholds], path: Optional[str] = None) -> CalibrationTable:
    """The table of ``grid`` (and the full model) on ``setup``'s split: read from ``path`` when it
    exists, with the configurations it lacks evaluated (each once), and saved back to ``path``."""
    task = setup.task.cfg._name
    check_table_task(task)
    key = evaluation_key(setup)
    table = CalibrationTable.load(path) if path and os.path.exists(path) else None
    if table is not None and (table.task, table.evaluation) != (task, key):
        different = sorted(name for name in {**table.evaluation, **key}
                           if table.evaluation.get(name) != key.get(name))
        raise ConfigError(f"{path}: this calibration table was made with another {', '.join(different) or 'task'}; "
                          f"delete it or give another --table-path")
    missing = [c for c in dict.fromkeys([FULL_MODEL, *grid]) if table is None or c not in table.entries]
    progress = tqdm(missing, desc="calibration table", unit="configuration")
    last_save = time.monotonic()
    for thresholds in progress:
        setup.set_exit_options(exit_policy="mue", exit_profile=None, **dict(zip(KNOBS, thresholds)))
        result = setup.evaluate(quick_metrics=True)
        table = add_configuration(table, task, key, thresholds, result["records"], result["seconds"],
                                  path or setup.split)
        progress.set_postfix(time_reduction=f"{1 - np.mean(table.entries[thresholds]['time_share']):.3f}")
        if path and time.monotonic() - last_save > SAVE_EVERY_S:
            table.save(path)
            last_save = time.monotonic()
    progress.close()
    if path and missing:
        table.save(path)
    return table
