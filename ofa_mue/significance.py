"""How sure a quality difference measured on one split is: a paired bootstrap over its examples.

MuE and static truncation are scored on the same examples, so what varies from one draw of
the split to another is the per-example *difference* of their scores (accuracy: right or
wrong; captions: CIDEr-D per image, whose mean over the split is the corpus CIDEr-D). The
interval here is scipy's bootstrap (BCa) of the mean of those differences, resampling
examples: a difference whose interval contains 0 is one the split cannot tell from noise.
Static truncation at a reduction between two fixed depths is their random per-example mix,
so its per-example score is the mix of theirs (:func:`mixed_scores`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
RESAMPLES = 2000
SEED = 0
"""The bootstrap's settings: a fixed seed gives the same interval for the same scores."""


@dataclass(frozen=True)
class Interval:
    """A confidence interval of a mean difference (MuE minus static truncation)."""

    low: float
    high: float

    @property
    def verdict(self) -> str:
        """``above`` / ``below`` when the whole interval is above / below 0, else ``indistinguishable``."""
        return "above" if self.low > 0 else ("below" if self.high < 0 else "indistinguishable")

    def cell(self, spec: str = "+.4f") -> str:
        """``[low, high]`` for a table."""
        return f"[{self.low:{spec}}, {self.high:{spec}}]"


CONSTANT = 1e-9
"""Differences spread less than this (relative to their size) count as one constant."""


def mean_difference_interval(differences: Sequence[float], confidence: float = CONFIDENCE,
                             resamples: int = RESAMPLES, seed: int = SEED) -> Interval:
    """The ``confidence`` bootstrap interval of the mean of paired per-example ``differences``."""
    values = np.asarray(differences, dtype=float)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"need a non-empty list of per-example differences, got shape {values.shape}")
    if np.ptp(values) <= CONSTANT * max(1.0, float(np.abs(values).max())):
        # every resample has the same mean, up to rounding (where BCa's acceleration is 0 / 0)
        mean = float(values.mean())
        return Interval(mean, mean)
    result = stats.bootstrap((values,), np.mean, confidence_level=confidence, n_resamples=resamples,
                             method="BCa", rng=np.random.default_rng(seed))
    return Interval(float(result.confidence_interval.low), float(result.confidence_interval.high))


def mixed_scores(left: Sequence[float], right: Sequence[float], share: float) -> np.ndarray:
    """Per-example scores of the random mix that runs ``right`` on a ``share`` of the examples
    and ``left`` on the rest, in expectation (the mean is the mix's quality)."""
    left, right = np.asarray(left, dtype=float), np.asarray(right, dtype=float)
    if left.shape != right.shape:
        raise ValueError(f"per-example scores of different lengths: {left.shape} and {right.shape}")
    return left + share * (right - left)
