"""Per-example losses of an exit configuration, bounded in [0, 1], for certified calibration.

An example's loss compares what MuE answered with one configuration of exit thresholds to
what the full model (every exit off) answered on the same example. The certified
calibration (:mod:`ofa_mue.calibrate`, :mod:`ofa_mue.core.risk_control`) bounds its
*expectation* on new data; it says nothing about any single example.

SNLI-VE (0/1 losses: exact binomial p-values):

- ``consistency`` (default): 1 if MuE's answer differs from the full model's. Needs no
  labels. Its expectation bounds the share of answers that exits change, and so also the
  accuracy they can cost.
- ``label``: 1 if MuE's answer is wrong where the full model's is right. The accuracy lost,
  ``P(full right, MuE wrong) - P(full wrong, MuE right)``, is at most its expectation, and it
  is never above ``consistency``: it certifies more speed for the same ``epsilon``.

Captioning:

- ``cider`` (default; losses in [0, 1]: Hoeffding-Bentkus p-values): the relative CIDEr-D
  drop ``max(0, 1 - CIDEr-D(MuE) / CIDEr-D(full))`` of the example's caption against its
  references; 0 where the full model's caption scores 0 (nothing to lose). CIDEr-D's
  document frequencies come from all the references of the calibration split, as in a
  corpus evaluation: a loss is a function of its example and that fixed table.
- ``rouge`` (0/1): 1 if the ROUGE-L F-measure between MuE's caption and the full model's
  caption is below ``rouge_cutoff`` (default 0.8): textual consistency, no references needed.
"""
from __future__ import annotations

from typing import Any, Dict, List, Sequence

import numpy as np

LOSSES: Dict[str, Dict[str, str]] = {
    "snli_ve": {
        "consistency": "1 if MuE's answer differs from the full model's",
        "label": "1 if MuE's answer is wrong where the full model's is right",
    },
    "caption": {
        "cider": "max(0, 1 - CIDEr-D of MuE's caption / CIDEr-D of the full model's), per example",
        "rouge": "1 if the ROUGE-L F-measure of MuE's caption against the full model's is below the cut-off",
    },
}
"""Loss names per task, with what they measure (the first is the default)."""

BINARY_LOSSES = frozenset({"consistency", "label", "rouge"})
"""Losses that are 0 or 1 by definition (exact binomial p-values); the others take values in [0, 1]."""

DEFAULT_ROUGE_CUTOFF = 0.8

EXAMPLE_METRIC = {"snli_ve": "correct", "caption": "cider"}
"""The per-example score whose mean is the task's main metric (accuracy, corpus CIDEr-D)."""


def default_loss(task: str) -> str:
    """The documented default loss of ``task``."""
    return next(iter(LOSSES[task]))


def describe_loss(task: str, loss: str, rouge_cutoff: float = DEFAULT_ROUGE_CUTOFF) -> str:
    """One line saying what ``loss`` measures."""
    text = LOSSES[task][loss]
    return text.replace("the cut-off", f"{rouge_cutoff:g}") if loss == "rouge" else text


class ExampleScorer:
    """Per-example scores of one configuration's predictions, from which every loss of the task
    follows: SNLI-VE ``correct``; captions ``cider`` (against the references) and ``rouge_l_full``
    (against the full model's caption). References are tokenised once for all configurations."""

    def __init__(self, task: str, targets: Sequence[Any], full_predictions: Sequence[str]):
        if task not in LOSSES:
            raise ValueError(f"no calibration losses for task {task!r}")
        self.task, self.targets, self.full_predictions = task, list(targets), list(full_predictions)
        if task == "caption":
            from .caption_metrics import CaptionScorer

            self._captions = CaptionScorer(self.targets, self.full_predictions)

    def __call__(self, predictions: Sequence[str]) -> Dict[str, List[float]]:
        """``{score name: one value per example}`` of ``predictions`` (aligned with the targets)."""
        if len(predictions) != len(self.targets):
            raise ValueError(f"{len(predictions)} predictions for {len(self.targets)} examples")
        if self.task == "snli_ve":
            return {"correct": [float(p == a) for p, a in zip(predictions, self.targets)]}
        return self._captions(predictions)


def example_losses(task: str, loss: str, predictions: Sequence[str], scores: Dict[str, Sequence[float]],
                   full_predictions: Sequence[str], full_scores: Dict[str, Sequence[float]],
                   rouge_cutoff: float = DEFAULT_ROUGE_CUTOFF) -> np.ndarray:
    """The per-example ``loss`` of one configuration (its predictions and :class:`ExampleScorer`
    scores) against the full model's, as a float array in [0, 1]."""
    if loss not in LOSSES.get(task, {}):
        raise ValueError(f"unknown loss {loss!r} for {task} (choose from {', '.join(LOSSES.get(task, {}))})")
    if loss == "consistency":
        return np.array([float(p != f) for p, f in zip(predictions, full_predictions, strict=True)])
    if loss == "label":
        return (1.0 - np.asarray(scores["correct"])) * np.asarray(full_scores["correct"])
    if loss == "rouge":
        return (np.asarray(scores["rouge_l_full"]) < rouge_cutoff).astype(float)
    mue, full = np.asarray(scores["cider"], dtype=float), np.asarray(full_scores["cider"], dtype=float)
    ratio = np.divide(mue, full, out=np.ones_like(mue), where=full > 0)
    return np.clip(1.0 - ratio, 0.0, 1.0)
