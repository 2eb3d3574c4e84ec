"""Certified exit thresholds: Learn-then-Test risk control (Angelopoulos et al., 2021).

The question answered: which exit configurations (threshold settings) can be trusted to
lose at most ``epsilon`` of quality *in expectation* on new data, with probability at least
``1 - delta`` over the draw of the calibration rows? Each configuration ``k`` has a
per-example loss in [0, 1] (:mod:`ofa_mue.calibration_losses`) and a risk ``R_k``, the
loss's expectation on the data distribution. Learn-then-Test tests the null hypothesis
``H_k: R_k > epsilon`` for each configuration with a valid p-value and keeps the
configurations whose nulls are rejected by a procedure that controls the family-wise error
rate at ``delta``. Then, with probability at least ``1 - delta``, *every* kept configuration
has ``R_k <= epsilon``, so any choice among them (here the one with the most expected time
reduction) inherits the guarantee.

p-values (valid: ``P(p <= a) <= a`` whenever ``R_k >= epsilon``, for rows drawn i.i.d.), chosen
by what the loss can take, never by the values seen:

- 0/1 losses: the exact binomial tail ``P(Binomial(n, epsilon) <= k)`` for ``k`` losses in
  ``n`` rows (:func:`binomial_p_value`);
- losses in [0, 1]: Hoeffding-Bentkus (Bates et al., 2021),
  ``min(exp(-n h(min(mean, epsilon), epsilon)), e * P(Binomial(n, epsilon) <= ceil(n mean)))``
  with ``h`` the Bernoulli Kullback-Leibler divergence (:func:`hoeffding_bentkus_p_value`).

Multiple testing, for the search actually run (every configuration of a fixed grid):

- ``fixed-sequence`` (default of :func:`certify`): *Pareto testing*. A random share of the
  calibration rows (``learn_fraction``) only orders the configurations: the ones on the
  Pareto front of (mean loss, mean time reduction) on those rows, from the lowest loss (most
  conservative) to the highest (most aggressive). The other rows test them in that order
  at level ``delta`` each, stopping at the first that fails. Valid because the order does not
  depend on the rows that test it; each test spends the whole ``delta``, so it is more
  powerful than Bonferroni when the grid is large, at the price of the learning rows.
- ``bonferroni``: every configuration is tested on all the rows at level ``delta / K``
  (``K``: configurations tested; the calibration's grid less the full model, which is never
  tested). Valid for any search over the grid; it loses power as ``log K``.

The uncertified rules that pick the best configuration on the calibration rows with no
correction (:func:`most_reduction` with an empirical constraint) are kept for comparison:
their chance of breaking the target is not controlled.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np
from scipy import special, stats

PROCEDURES = ("fixed-sequence", "bonferroni")


def _check_level(name: str, value: float) -> None:
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {value}")


def binomial_p_value(losses: np.ndarray, epsilon: float) -> float:
    """Exact p-value of ``H: risk > epsilon`` for 0/1 losses: ``P(Binomial(n, epsilon) <= sum)``."""
    losses = np.asarray(losses, dtype=float)
    return float(stats.binom.cdf(int(round(losses.sum())), losses.size, epsilon))


def hoeffding_bentkus_bound(n: np.ndarray, mean: np.ndarray, epsilon: float) -> np.ndarray:
    """Hoeffding-Bentkus p-value of ``H: risk > epsilon`` for ``n`` losses in [0, 1] of mean ``mean``
    (both broadcast as arrays)."""
    n, mean = np.asarray(n, dtype=float), np.asarray(mean, dtype=float)
    clipped = np.minimum(mean, epsilon)
    divergence = special.rel_entr(clipped, epsilon) + special.rel_entr(1.0 - clipped, 1.0 - epsilon)
    # ceil of n * mean, guarded against float error just above an integer (rounding up is conservative)
    bentkus = math.e * stats.binom.cdf(np.ceil(np.round(n * mean, 9)), n, epsilon)
    return np.minimum(1.0, np.minimum(np.exp(-n * divergence), bentkus))


def hoeffding_bentkus_p_value(losses: np.ndarray, epsilon: float) -> float:
    """Hoeffding-Bentkus p-value of ``H: risk > epsilon`` for losses in [0, 1]."""
    losses = np.asarray(losses, dtype=float)
    return float(hoeffding_bentkus_bound(losses.size, losses.mean(), epsilon))


def p_value(losses: np.ndarray, epsilon: float, binary: bool) -> float:
    """The p-value of ``H: risk > epsilon``: exact binomial for a loss that is 0 or 1 by definition
    (``binary``), else Hoeffding-Bentkus."""
    losses = np.asarray(losses, dtype=float)
    if losses.size == 0:
        raise ValueError("a p-value needs at least one calibration row")
    if np.any((losses < 0.0) | (losses > 1.0)) or not np.all(np.isfinite(losses)):
        raise ValueError("losses must lie in [0, 1]")
    if binary:
        if not np.all((losses == 0.0) | (losses == 1.0)):
            raise ValueError("a binary loss must be 0 or 1")
        return binomial_p_value(losses, epsilon)
    return hoeffding_bentkus_p_value(losses, epsilon)


def pareto_path(mean_losses: Sequence[float], mean_reductions: Sequence[float]) -> List[int]:
    """Configurations on the Pareto front of (low loss, high reduction), from the lowest loss up.

    A configuration is kept when it reduces time more than every configuration of lower (or
    equal) loss; ties in loss go to the larger reduction.
    """
    losses, reductions = np.asarray(mean_losses, dtype=float), np.asarray(mean_reductions, dtype=float)
    path: List[int] = []
    best = -math.inf
    for index in np.lexsort((-reductions, losses)):
        if reductions[index] > best:
            path.append(int(index))
            best = reductions[index]
    return path


def most_reduction(allowed: Sequence[bool], mean_reductions: Sequence[float]) -> Optional[int]:
    """Index of the allowed configuration with the largest mean time reduction (None if none is allowed)."""
    allowed_indices = np.flatnonzero(np.asarray(allowed, dtype=bool))
    if allowed_indices.size == 0:
        return None
    reductions = np.asarray(mean_reductions, dtype=float)[allowed_indices]
    return int(allowed_indices[int(np.argmax(reductions))])


@dataclass
class Certification:
    """What :func:`certify` decided.

    ``chosen``: index of the certified configuration with the most mean time reduction on
    the calibration rows, or None when no configuration passed (exits stay off).
    ``p_values``: configuration index -> p-value, for every configuration tested, in order.
    """

    procedure: str
    epsilon: float
    delta: float
    level: float
    learn_rows: int
    test_rows: int
    chosen: Optional[int]
    certified: List[int]
    p_values: Dict[int, float] = field(default_factory=dict)

    @property
    def chosen_p_value(self) -> Optional[float]:
        """The p-value of the chosen configuration (None if nothing passed)."""
        return None if self.chosen is None else self.p_values[self.chosen]


def certify(losses: np.ndarray, reductions: np.ndarray, epsilon: float, delta: float, binary: bool,
            procedure: str = "fixed-sequence", learn_fraction: float = 0.3,
            rng: Optional[np.random.Generator] = None) -> Certification:
    """Learn-then-Test over ``K`` configurations evaluated on ``n`` calibration rows.

    ``losses``, ``reductions``: ``[K, n]`` per-example losses in [0, 1] and time reductions
    (1 - time share) of each configuration; ``binary``: the loss is 0 or 1 by definition (see
    :func:`p_value`). ``rng`` draws the learning rows of the fixed-sequence procedure
    (default: a generator seeded with 0).
    """
    losses, reductions = np.asarray(losses, dtype=float), np.asarray(reductions, dtype=float)
    if losses.ndim != 2 or losses.shape != reductions.shape or losses.size == 0:
        raise ValueError(f"losses and reductions must both be [configurations, rows], got {losses.shape} "
                         f"and {reductions.shape}")
    _check_level("epsilon", epsilon)
    _check_level("delta", delta)
    configurations, rows = losses.shape
    mean_reductions = reductions.mean(axis=1)
    if procedure == "bonferroni":
        level = delta / configurations
        p_values = {k: p_value(losses[k], epsilon, binary) for k in range(configurations)}
        certified = [k for k, p in p_values.items() if p <= level]
        learn_rows, test_rows = 0, rows
    elif procedure == "fixed-sequence":
        _check_level("learn_fraction", learn_fraction)
        learn_rows = int(round(learn_fraction * rows))
        if not 0 < learn_rows < rows:
            raise ValueError(f"{rows} calibration rows cannot be split {learn_fraction:g} / {1 - learn_fraction:g}")
        order = (rng if rng is not None else np.random.default_rng(0)).permutation(rows)
        learn, test = order[:learn_rows], order[learn_rows:]
        level, test_rows = delta, rows - learn_rows
        path = pareto_path(losses[:, learn].mean(axis=1), reductions[:, learn].mean(axis=1))
        p_values, certified = {}, []
        for k in path:
            p_values[k] = p_value(losses[k, test], epsilon, binary)
            if p_values[k] > level:
                break
            certified.append(k)
    else:
        raise ValueError(f"unknown multiple-testing procedure {procedure!r} (choose from {', '.join(PROCEDURES)})")
    allowed = np.zeros(configurations, dtype=bool)
    allowed[certified] = True
    return Certification(procedure, epsilon, delta, level, learn_rows, test_rows,
                         most_reduction(allowed, mean_reductions), certified, p_values)


def rows_needed(epsilon: float, delta: float, observed_risk: float = 0.0, binary: bool = True,
                tests: int = 1, limit: int = 1_000_000) -> Optional[int]:
    """Test rows from which on a configuration whose mean loss is ``observed_risk`` passes.

    ``binary``: 0/1 losses (``floor(n * observed_risk)`` losses, exact binomial p-value), else
    losses in [0, 1] of that mean (Hoeffding-Bentkus). ``tests``: Bonferroni's number of
    configurations (1 for one test of a fixed sequence). The smallest ``n`` such that ``n``
    and every larger number of rows pass (with 0/1 losses the p-value is not monotone in
    ``n``), checked up to ``limit`` rows or to a whole block of 100,000 passing sizes; None if
    the ``limit``-th still fails.
    """
    _check_level("epsilon", epsilon)
    _check_level("delta", delta)
    if not 0.0 <= observed_risk < epsilon:
        raise ValueError(f"observed_risk must be in [0, epsilon), got {observed_risk}")
    last_failing = 0
    for start in range(1, limit + 1, 100_000):
        n = np.arange(start, min(start + 100_000, limit + 1))
        if binary:
            p_values = stats.binom.cdf(np.floor(n * observed_risk), n, epsilon)
        else:
            p_values = hoeffding_bentkus_bound(n, observed_risk, epsilon)
        failing = np.flatnonzero(p_values > delta / tests)
        if failing.size == 0:  # a whole block (100,000 sizes, or up to limit) passes: the p-values only fall further
            return last_failing + 1
        last_failing = int(n[failing[-1]])
    return last_failing + 1 if last_failing < limit else None
